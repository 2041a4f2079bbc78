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
#[derive(Debug, Default, Clone)]
pub(crate) struct Graph {
    pub requires: Vec<Vec<usize>>,
    pub wants: Vec<Vec<usize>>,
    pub binds_to: Vec<Vec<usize>>,
    pub requisite: Vec<Vec<usize>>,
    /// Both directions: a unit conflicts with what it names and with what names it.
    pub conflicts: Vec<Vec<usize>>,
    /// Requires=/BindsTo=/Requisite= names that match no loaded unit.
    pub missing: Vec<Vec<String>>,
    /// Units that Require/BindsTo/Requisite this one: a failed start fails their
    /// pending starts.
    pub hard_rev: Vec<Vec<usize>>,
    /// Units with BindsTo= this one: stopped when it goes down on its own.
    pub bound_rev: Vec<Vec<usize>>,
    /// Units that pull this one in (Requires, Wants, BindsTo, Requisite, reversed):
    /// a StopWhenUnneeded= unit is needed while one of them is active or starting.
    pub pulled_by: Vec<Vec<usize>>,
    /// Units stopped (or restarted) along with this one when it is stopped (or
    /// restarted) on request: Requires, BindsTo, Requisite and PartOf, reversed.
    pub stop_rev: Vec<Vec<usize>>,
    /// What each unit waits for before starting (After= plus the reverse of Before=),
    /// without the edges dropped to break cycles.
    pub after: Vec<Vec<usize>>,
    /// The reverse of `after`: the units that wait for this one.
    pub after_rev: Vec<Vec<usize>>,
    /// The cycles found, as slot indices (the first is not repeated at the end).
    pub cycles: Vec<Vec<usize>>,
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
    let mut g = Graph {
        requires: vec![Vec::new(); n],
        wants: vec![Vec::new(); n],
        binds_to: vec![Vec::new(); n],
        requisite: vec![Vec::new(); n],
        conflicts: vec![Vec::new(); n],
        missing: vec![Vec::new(); n],
        hard_rev: vec![Vec::new(); n],
        bound_rev: vec![Vec::new(); n],
        pulled_by: vec![Vec::new(); n],
        stop_rev: vec![Vec::new(); n],
        after: vec![Vec::new(); n],
        after_rev: vec![Vec::new(); n],
        cycles: Vec::new(),
    };
    let mut order: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    let mut conflicts: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    for (i, unit) in units.iter().enumerate() {
        let Some(unit) = unit else { continue };
        let d = &unit.deps;
        g.requires[i] = resolve(&d.requires);
        g.wants[i] = resolve(&d.wants);
        g.binds_to[i] = resolve(&d.binds_to);
        g.requisite[i] = resolve(&d.requisite);
        for name in d.requires.iter().chain(&d.binds_to).chain(&d.requisite) {
            if !index.contains_key(name.as_str()) && !g.missing[i].contains(name) {
                g.missing[i].push(name.clone());
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
        for &r in g.requires[i]
            .iter()
            .chain(&g.binds_to[i])
            .chain(&g.requisite[i])
        {
            g.hard_rev[r].push(i);
        }
        for &b in &g.binds_to[i] {
            g.bound_rev[b].push(i);
        }
        for &p in g.requires[i]
            .iter()
            .chain(&g.wants[i])
            .chain(&g.binds_to[i])
            .chain(&g.requisite[i])
        {
            g.pulled_by[p].push(i);
        }
        let part_of = resolve(&d.part_of);
        for &r in g.requires[i]
            .iter()
            .chain(&g.binds_to[i])
            .chain(&g.requisite[i])
            .chain(&part_of)
        {
            g.stop_rev[r].push(i);
        }
    }
    for list in g
        .hard_rev
        .iter_mut()
        .chain(g.bound_rev.iter_mut())
        .chain(g.pulled_by.iter_mut())
        .chain(g.stop_rev.iter_mut())
    {
        list.sort_unstable();
        list.dedup();
    }
    let names: Vec<&str> = units
        .iter()
        .map(|u| u.map_or("", |u| u.name.as_str()))
        .collect();
    g.cycles = break_cycles(&mut order, &names);
    for (i, set) in order.iter().enumerate() {
        g.after[i] = set.iter().copied().collect();
        for &a in set {
            g.after_rev[a].push(i);
        }
    }
    g.conflicts = conflicts
        .into_iter()
        .map(|s| s.into_iter().collect())
        .collect();
    g
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
