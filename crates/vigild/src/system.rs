//! The manager as a whole, for systemctl's verbs about it: its state
//! (`is-system-running`), the dependency tree of its loaded configuration
//! (`list-dependencies`), its pending jobs (`list-jobs`) and the default
//! target (`get-default`, `set-default`). Answers are read from the engine
//! and the unit directories; nothing here changes a unit, and the only file
//! it touches is `default.target`'s link, as `enable` touches its links.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use vigil_engine::{Reason, State};
use vigil_proto::{
    Body, DependencyNode, DependencyRelation, ErrorCode, JobResult, QueuedJob, Reply,
};

use crate::control::file_changes;
use crate::daemon::{Daemon, Phase};

/// The targets whose start makes the boot `initializing` rather than
/// `starting`, as systemd's is until basic.target is reached.
const EARLY_TARGETS: [&str; 2] = ["sysinit.target", "basic.target"];

/// The targets whose being up (or on their way) is `maintenance`, as systemd's.
const MAINTENANCE_TARGETS: [&str; 2] = ["rescue.target", "emergency.target"];

impl Daemon {
    /// systemd's SystemState: `stopping` during a shutdown; until the boot
    /// is done (the first time no job is pending), `initializing` while
    /// sysinit.target or basic.target is still on its way up, else
    /// `starting`; then `maintenance` while the emergency shell runs or
    /// rescue.target or emergency.target is up (or on its way),
    /// `degraded` while a unit is failed, else `running`.
    pub(crate) fn system_state(&self) -> &'static str {
        if self.phase != Phase::Running {
            return "stopping";
        }
        if !self.boot_finished && self.engine.has_jobs() {
            let early = EARLY_TARGETS
                .iter()
                .any(|t| matches!(self.engine.state(t), Some(State::Waiting | State::Starting)));
            return match early {
                true => "initializing",
                false => "starting",
            };
        }
        // systemd's: rescue or emergency mode, active or on its way.
        let mode = MAINTENANCE_TARGETS.iter().any(|t| {
            matches!(
                self.engine.state(t),
                Some(State::Running | State::Waiting | State::Starting | State::Stopping)
            )
        });
        if self.emergency_shell || mode {
            return "maintenance";
        }
        match self.failed_units() > 0 {
            true => "degraded",
            false => "running",
        }
    }

    /// How many units are failed as systemd counts them (NFailedUnits,
    /// `degraded`): not one whose file did not load, which systemd has
    /// inactive, `bad-setting` (a typo in a file nothing starts does not
    /// make the system degraded).
    pub(crate) fn failed_units(&self) -> usize {
        let load_error = |name: &str| {
            let info = self.engine.unit(name);
            matches!(info.and_then(|i| i.reason), Some(Reason::LoadError(_)))
        };
        (self.engine.states())
            .filter(|&(name, state)| state == State::Failed && !load_error(name))
            .count()
    }

    /// At the end of each turn of the loop: the first turn that ends with no
    /// job pending ends the boot, and whoever waits for it
    /// (`is-system-running --wait`) hears the state then, as systemctl
    /// hears the manager's StartupFinished; a shutdown answers them too.
    /// Until the boot is done this looks at every unit once a turn (it
    /// stops at the first job); after it, at nothing.
    pub(crate) fn check_boot_finished(&mut self) {
        if !self.boot_finished && self.phase == Phase::Running && !self.engine.has_jobs() {
            self.boot_finished = true;
            self.handover.dirty = true;
        }
        if self.clients.boot_waited_for() && (self.boot_finished || self.phase != Phase::Running) {
            let state = self.system_state();
            self.clients.answer_boot_waiters(state, &self.epoll);
        }
    }

    /// `system-state`: the state now; with `wait`, once the boot is done
    /// (None: the reply is held until then).
    pub(crate) fn system_state_request(
        &mut self,
        client: u64,
        id: u64,
        wait: bool,
    ) -> Option<Reply> {
        let state = self.system_state();
        if wait && matches!(state, "initializing" | "starting") {
            self.clients.wait_for_boot(client, id);
            return None;
        }
        let state = state.to_string();
        Some(Reply::ok(id, Body::SystemState { state }))
    }

    /// `list-dependencies NAME`: NAME and every unit it reaches through
    /// `relation` in the loaded configuration (the edges the engine uses:
    /// `.wants/` entries and default dependencies included), each with its
    /// own edges and state. The client draws the tree, and decides what to
    /// expand (systemctl: targets only, unless `--all`).
    pub(crate) fn list_dependencies(
        &self,
        id: u64,
        unit: &str,
        relation: DependencyRelation,
    ) -> Reply {
        let asked = vigil_units::name::normalize(unit);
        let root = self.unit_name(&asked);
        if !self.engine.contains(&root) {
            return Reply::err(id, ErrorCode::NoSuchUnit, self.unknown_unit(&root));
        }
        let edges = self.dependency_edges(relation);
        let mut units = Vec::new();
        let mut seen = BTreeSet::from([root.clone()]);
        let mut queue = VecDeque::from([root.clone()]);
        while let Some(name) = queue.pop_front() {
            let deps: Vec<String> = edges.get(&name).cloned().unwrap_or_default();
            for dep in &deps {
                if seen.insert(dep.clone()) {
                    queue.push_back(dep.clone());
                }
            }
            // A name no unit has (`Wants=` of one not installed): shown as
            // systemctl shows a unit not found, inactive.
            let state = self.engine.state(&name).unwrap_or(State::Inactive);
            units.push(DependencyNode {
                name,
                state: state.to_string(),
                deps,
            });
        }
        // As systemctl draws it: the root by the name asked for (an alias,
        // `default.target`), and by that name where the tree comes back to it.
        if asked != root {
            for node in &mut units {
                for name in node.deps.iter_mut().chain([&mut node.name]) {
                    if *name == root {
                        name.clone_from(&asked);
                    }
                }
            }
        }
        Reply::ok(id, Body::Dependencies { root: asked, units })
    }

    /// Every loaded unit's edges of `relation`, each list sorted and without
    /// repeats, names as the engine knows them (an alias resolved).
    fn dependency_edges(&self, relation: DependencyRelation) -> BTreeMap<String, Vec<String>> {
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let names: Vec<String> = self.engine.states().map(|(n, _)| n.to_string()).collect();
        for name in &names {
            let Some(def) = self.engine.definition(name) else {
                continue;
            };
            let d = &def.deps;
            let pulls = || {
                (d.requires.iter())
                    .chain(d.requisite.iter())
                    .chain(d.wants.iter())
                    .chain(d.binds_to.iter())
            };
            // (from, to) pairs: `name` is one end of each.
            let mut add = |from: &str, to: &str| {
                let (from, to) = (self.unit_name(from), self.unit_name(to));
                if from != to {
                    edges.entry(from).or_default().insert(to);
                }
            };
            match relation {
                DependencyRelation::Forward => {
                    pulls().for_each(|to| add(name, to));
                    // ConsistsOf=: PartOf= seen from the other end.
                    d.part_of.iter().for_each(|whole| add(whole, name));
                }
                DependencyRelation::Reverse => {
                    pulls().for_each(|to| add(to, name));
                    d.part_of.iter().for_each(|whole| add(name, whole));
                }
                DependencyRelation::After => {
                    d.after.iter().for_each(|to| add(name, to));
                    d.before.iter().for_each(|other| add(other, name));
                }
                DependencyRelation::Before => {
                    d.before.iter().for_each(|to| add(name, to));
                    d.after.iter().for_each(|other| add(other, name));
                }
            }
        }
        (edges.into_iter())
            .map(|(name, to)| (name, to.into_iter().collect()))
            .collect()
    }

    /// `list-jobs`: every pending job, by unit name.
    pub(crate) fn list_jobs(&self, id: u64) -> Reply {
        let mut jobs: Vec<QueuedJob> = (self.engine.jobs().into_iter())
            .map(|j| QueuedJob {
                unit: j.unit,
                job_type: j.job_type.as_str().into(),
                state: match j.running {
                    true => "running",
                    false => "waiting",
                }
                .into(),
            })
            .collect();
        jobs.sort_by(|a, b| a.unit.cmp(&b.unit));
        Reply::ok(id, Body::JobQueue { jobs })
    }

    /// `get-default`: what `default.target` is in the configuration
    /// directories, read now (as `is-enabled` reads them).
    pub(crate) fn get_default(&self, id: u64) -> Reply {
        let set = vigil_units::load::load_dirs(&self.opts.config_dirs, &self.spec_ctx);
        match vigil_units::install::default_target(&set) {
            Ok(unit) => Reply::ok(id, Body::DefaultTarget { unit }),
            Err(e) => Reply::err(
                id,
                ErrorCode::Failed,
                format!("no default target in the configuration directories: {e}"),
            ),
        }
    }

    /// `set-default NAME`: `default.target` in the directory `enable` writes
    /// to made a link to NAME's file (the link there replaced), then the
    /// configuration read again, as systemctl reloads the manager after it.
    /// Refused, nothing changed, for a name that is no target or has no file.
    pub(crate) fn set_default(&mut self, id: u64, unit: &str) -> Reply {
        let Some(dir) = self.opts.config_dirs.first().cloned() else {
            return Reply::err(id, ErrorCode::Failed, "no configuration directory");
        };
        let set = vigil_units::load::load_dirs(&self.opts.config_dirs, &self.spec_ctx);
        let plan = match vigil_units::install::set_default_plan(&set, &dir, unit) {
            Ok(plan) => plan,
            Err(e) => {
                let why = format!("cannot set the default target: {e}; nothing was changed");
                return Reply::err(id, ErrorCode::Failed, why);
            }
        };
        if let Err(e) = vigil_units::install::apply(&plan) {
            return Reply::err(id, ErrorCode::Failed, e.to_string());
        }
        let changes = file_changes(plan.iter());
        if !changes.is_empty() {
            // What it found is said in the manager's log, as at any read.
            let _ = self.load();
        }
        let name = set.canonical(&vigil_units::install::default_target_name(unit));
        let job = JobResult {
            unit: name,
            state: "default".into(),
            reason: None,
            ok: true,
        };
        Reply::ok(
            id,
            Body::Jobs {
                jobs: vec![job],
                changes,
            },
        )
    }
}
