//! The dependency graph: the requirement and ordering edges between loaded units,
//! resolved to slot indices, and the ordering cycles found (and broken) at load.
//!
//! It owns no run-time state and never decides what starts or stops; the machine
//! reads it. Requirement edges (Requires, Wants, BindsTo, Requisite, PartOf,
//! Conflicts) and ordering edges (After, Before) are kept in separate lists, as in
//! systemd: a requirement never implies an order, and an order never pulls a unit in.
//!
//! Cycles: ordering edges are read as "x waits for y" (`x After=y`, or `y Before=x`).
//! A cycle is named in that direction, starting at its alphabetically first unit
//! (`a.service -> b.service -> a.service`: a waits for b, b waits for a). To let the
//! rest boot, vigil drops the edge that closes the cycle — from the last unit of the
//! named cycle back to the first — and looks again until no cycle is left, so every
//! unit of the cycle still starts. (systemd instead deletes the start job of one
//! unit of the cycle, which then does not start; see docs/UNITS.md.)

use std::collections::{BTreeSet, HashMap};

use vigil_units::Unit;

/// Edges by slot index; every list has one entry per slot (empty for a slot left out).
/// Each is a [`Lists`], not a `Vec<Vec<usize>>`: the graph lives as long as the
/// daemon, and at a thousand units vectors of vectors took some 470 kB of it.
#[derive(Debug, Default, Clone)]
pub(crate) struct Graph {
    pub requires: Lists<usize>,
    pub wants: Lists<usize>,
    pub binds_to: Lists<usize>,
    pub requisite: Lists<usize>,
    /// Both directions: a unit conflicts with what it names and with what names it.
    pub conflicts: Lists<usize>,
    /// Requires=/BindsTo=/Requisite= names that match no loaded unit.
    pub missing: Lists<String>,
    /// Units that Require/BindsTo/Requisite this one: a failed start fails their
    /// pending starts.
    pub hard_rev: Lists<usize>,
    /// Units with BindsTo= this one: stopped when it goes down on its own.
    pub bound_rev: Lists<usize>,
    /// Units that pull this one in (Requires, Wants, BindsTo, Requisite, reversed):
    /// a StopWhenUnneeded= unit is needed while one of them is active or starting.
    pub pulled_by: Lists<usize>,
    /// Units stopped (or restarted) along with this one when it is stopped (or
    /// restarted) on request: Requires, BindsTo, Requisite and PartOf, reversed.
    pub stop_rev: Lists<usize>,
    /// Units whose `OnFailure=` or `OnSuccess=` name this one (a unit naming
    /// it in both is one): where its `$MONITOR_*` variables come from.
    pub triggered_by: Lists<usize>,
    /// What each unit waits for before starting (After= plus the reverse of Before=),
    /// without the edges dropped to break cycles.
    pub after: Lists<usize>,
    /// The reverse of `after`: the units that wait for this one.
    pub after_rev: Lists<usize>,
    /// The cycles found, as slot indices (the first is not repeated at the end).
    pub cycles: Vec<Vec<usize>>,
}

/// One list per slot, all of them end to end in one vector: `lists[u]` is slot
/// `u`'s. A `Vec<Vec<T>>` spends 24 bytes a slot on each list's own vector and
/// a heap block (32 bytes or more) on each list that is not empty; this spends
/// 4 bytes a slot. The lists are fixed once built: a load builds a new graph.
#[derive(Debug, Clone)]
pub(crate) struct Lists<T> {
    /// Where each slot's list begins in `items`, and one more entry where the last
    /// ends: slot `u`'s list is `items[start[u]..start[u + 1]]`. `u32`, not
    /// `usize`: half the size, and no unit set comes near four billion edges.
    start: Vec<u32>,
    items: Vec<T>,
}

impl<T> Default for Lists<T> {
    /// No slots (a derived `Default` would ask `T: Default`, which is not needed).
    fn default() -> Self {
        Self {
            start: Vec::new(),
            items: Vec::new(),
        }
    }
}

impl<T> Lists<T> {
    /// Slot `u`'s list, or `None` for a slot past the end.
    pub fn get(&self, u: usize) -> Option<&[T]> {
        let from = *self.start.get(u)?;
        let to = *self.start.get(u.checked_add(1)?)?;
        self.items.get(from as usize..to as usize)
    }
}

impl<T> From<Vec<Vec<T>>> for Lists<T> {
    fn from(lists: Vec<Vec<T>>) -> Self {
        let mut start = Vec::with_capacity(lists.len() + 1);
        let mut items = Vec::with_capacity(lists.iter().map(Vec::len).sum());
        start.push(0);
        for list in lists {
            items.extend(list);
            // Does not wrap: four billion slot indices in `items` would be 32 GB.
            start.push(items.len() as u32);
        }
        Self { start, items }
    }
}

/// A slot past the end has an empty list, as a slot left out has: reading the
/// graph never panics (vigild may be PID 1, where a panic stops the machine).
impl<T> std::ops::Index<usize> for Lists<T> {
    type Output = [T];

    fn index(&self, u: usize) -> &[T] {
        self.get(u).unwrap_or_default()
    }
}

/// Builds the graph over `units`, one entry per slot; `None` leaves a slot out
/// (a unit removed by a re-load that is still stopping). Names must be unique.
pub(crate) fn build(units: &[Option<&Unit>]) -> Graph {
    let n = units.len();
    let index: HashMap<&str, usize> = units
        .iter()
        .enumerate()
        .filter_map(|(i, u)| u.map(|u| (u.name.as_str(), i)))
        .collect();
    let resolve = |names: &[String]| -> Vec<usize> {
        let mut out: Vec<usize> = names
            .iter()
            .filter_map(|n| index.get(n.as_str()).copied())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    };
    // Built as vectors of vectors, which take pushes in any order, then packed.
    let mut requires = vec![Vec::new(); n];
    let mut wants = vec![Vec::new(); n];
    let mut binds_to = vec![Vec::new(); n];
    let mut requisite = vec![Vec::new(); n];
    let mut missing: Vec<Vec<String>> = vec![Vec::new(); n];
    let mut hard_rev = vec![Vec::new(); n];
    let mut bound_rev = vec![Vec::new(); n];
    let mut pulled_by = vec![Vec::new(); n];
    let mut stop_rev = vec![Vec::new(); n];
    let mut triggered_by = vec![Vec::new(); n];
    let mut after = vec![Vec::new(); n];
    let mut after_rev = vec![Vec::new(); n];
    let mut order: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    let mut conflicts: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    for (i, unit) in units.iter().enumerate() {
        let Some(unit) = unit else { continue };
        let d = &unit.deps;
        requires[i] = resolve(&d.requires);
        wants[i] = resolve(&d.wants);
        binds_to[i] = resolve(&d.binds_to);
        requisite[i] = resolve(&d.requisite);
        for name in d.requires.iter().chain(&d.binds_to).chain(&d.requisite) {
            if !index.contains_key(name.as_str()) && !missing[i].contains(name) {
                missing[i].push(name.clone());
            }
        }
        for &c in &resolve(&d.conflicts) {
            if c != i {
                conflicts[i].insert(c);
                conflicts[c].insert(i);
            }
        }
        for &a in &resolve(&d.after) {
            order[i].insert(a);
        }
        for &b in &resolve(&d.before) {
            order[b].insert(i);
        }
        for &r in requires[i].iter().chain(&binds_to[i]).chain(&requisite[i]) {
            hard_rev[r].push(i);
        }
        for &b in &binds_to[i] {
            bound_rev[b].push(i);
        }
        for &p in requires[i]
            .iter()
            .chain(&wants[i])
            .chain(&binds_to[i])
            .chain(&requisite[i])
        {
            pulled_by[p].push(i);
        }
        let part_of = resolve(&d.part_of);
        for &r in requires[i]
            .iter()
            .chain(&binds_to[i])
            .chain(&requisite[i])
            .chain(&part_of)
        {
            stop_rev[r].push(i);
        }
        for &t in resolve(&d.on_failure).iter().chain(&resolve(&d.on_success)) {
            triggered_by[t].push(i);
        }
    }
    for list in hard_rev
        .iter_mut()
        .chain(bound_rev.iter_mut())
        .chain(pulled_by.iter_mut())
        .chain(stop_rev.iter_mut())
        .chain(triggered_by.iter_mut())
    {
        list.sort_unstable();
        list.dedup();
    }
    let names: Vec<&str> = units
        .iter()
        .map(|u| u.map_or("", |u| u.name.as_str()))
        .collect();
    let cycles = break_cycles(&mut order, &names);
    for (i, set) in order.iter().enumerate() {
        after[i] = set.iter().copied().collect();
        for &a in set {
            after_rev[a].push(i);
        }
    }
    let conflicts: Vec<Vec<usize>> = conflicts
        .into_iter()
        .map(|s| s.into_iter().collect())
        .collect();
    Graph {
        requires: requires.into(),
        wants: wants.into(),
        binds_to: binds_to.into(),
        requisite: requisite.into(),
        conflicts: conflicts.into(),
        missing: missing.into(),
        hard_rev: hard_rev.into(),
        bound_rev: bound_rev.into(),
        pulled_by: pulled_by.into(),
        stop_rev: stop_rev.into(),
        triggered_by: triggered_by.into(),
        after: after.into(),
        after_rev: after_rev.into(),
        cycles,
    }
}

/// The ordering cycles among `units` (After=/Before= edges between the units given),
/// each as the list of unit names in "waits for" order, starting at its
/// alphabetically first unit; the first name is not repeated at the end. Every
/// unit of every cycle is named. Used by `vigil verify` offline and by the engine
/// at load.
pub fn find_cycles(units: &[Unit]) -> Vec<Vec<String>> {
    let mut sorted: Vec<&Unit> = units.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    sorted.dedup_by(|a, b| a.name == b.name);
    let slots: Vec<Option<&Unit>> = sorted.into_iter().map(Some).collect();
    let g = build(&slots);
    g.cycles
        .iter()
        .map(|c| {
            c.iter()
                .filter_map(|&i| slots.get(i).copied().flatten())
                .map(|u| u.name.clone())
                .collect()
        })
        .collect()
}

/// Formats a cycle as `a -> b -> a`.
/// A cycle as users read it: `a.service -> b.service -> a.service`.
pub fn cycle_text(names: &[String]) -> String {
    let mut text = names.join(" -> ");
    if let Some(first) = names.first() {
        text.push_str(" -> ");
        text.push_str(first);
    }
    text
}

/// Finds cycles one at a time and drops the closing edge of each until none is left.
fn break_cycles(adj: &mut [BTreeSet<usize>], names: &[&str]) -> Vec<Vec<usize>> {
    let mut found = Vec::new();
    while let Some(mut cycle) = find_one(adj) {
        let first = (0..cycle.len())
            .min_by_key(|&i| {
                cycle
                    .get(i)
                    .and_then(|&u| names.get(u))
                    .copied()
                    .unwrap_or("")
            })
            .unwrap_or(0);
        cycle.rotate_left(first);
        if let (Some(&head), Some(&last)) = (cycle.first(), cycle.last())
            && let Some(edges) = adj.get_mut(last)
        {
            edges.remove(&head);
        }
        found.push(cycle);
    }
    found
}

/// An iterative depth-first search (no recursion: graphs of thousands of units must
/// not overflow the stack) that returns the first cycle met, in edge order.
fn find_one(adj: &[BTreeSet<usize>]) -> Option<Vec<usize>> {
    const NEW: u8 = 0;
    const ON_PATH: u8 = 1;
    const DONE: u8 = 2;
    let mut color = vec![NEW; adj.len()];
    for (root, root_edges) in adj.iter().enumerate() {
        if color.get(root) != Some(&NEW) {
            continue;
        }
        if let Some(c) = color.get_mut(root) {
            *c = ON_PATH;
        }
        let mut path = vec![(root, root_edges.iter())];
        while let Some((node, edges)) = path.last_mut() {
            let node = *node;
            match edges.next().copied() {
                Some(next) => match color.get(next).copied() {
                    Some(NEW) => {
                        if let Some(c) = color.get_mut(next) {
                            *c = ON_PATH;
                        }
                        if let Some(e) = adj.get(next) {
                            path.push((next, e.iter()));
                        }
                    }
                    Some(ON_PATH) => {
                        let start = path.iter().position(|(x, _)| *x == next)?;
                        return Some(path.get(start..)?.iter().map(|(x, _)| *x).collect());
                    }
                    _ => {}
                },
                None => {
                    if let Some(c) = color.get_mut(node) {
                        *c = DONE;
                    }
                    path.pop();
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::Lists;

    #[test]
    fn lists_give_back_each_slots_list_including_empty_ones_and_the_last() {
        let given: Vec<Vec<usize>> =
            vec![vec![], vec![4, 2], vec![], vec![], vec![7], vec![1, 0, 3]];
        let lists = Lists::from(given.clone());
        for (u, want) in given.iter().enumerate() {
            assert_eq!(&lists[u], want.as_slice(), "slot {u}");
            assert_eq!(lists.get(u), Some(want.as_slice()), "slot {u}");
        }
        // Past the last slot: none by `get`, empty by indexing, never a panic.
        assert_eq!(lists.get(given.len()), None);
        assert!(lists[given.len()].is_empty());
        assert!(lists[usize::MAX].is_empty());
        assert_eq!(lists.get(usize::MAX), None);
    }

    #[test]
    fn lists_of_no_slots_and_of_only_empty_lists() {
        for lists in [Lists::<usize>::default(), Lists::from(Vec::new())] {
            assert_eq!(lists.get(0), None);
            assert!(lists[0].is_empty());
        }
        let lists = Lists::<String>::from(vec![Vec::new(); 3]);
        for u in 0..3 {
            assert_eq!(lists.get(u), Some(&[][..]), "slot {u}");
        }
        assert_eq!(lists.get(3), None);
        let names = Lists::from(vec![vec![], vec!["a.service".to_string()]]);
        assert_eq!(names[1], ["a.service"]);
        assert!(names[0].is_empty());
    }
}
