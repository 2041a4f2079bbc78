//! The run-time state one manager hands to the next: after a crash (vigil-init
//! keeps the state for the next `vigild`) or at `vigil reexec`. It owns the
//! conversion between [`Machine`]'s slots and [`Saved`]; it never decides
//! whether a saved process is still alive (vigild checks each one's identity
//! and reports the dead with [`Event::Exited`](crate::Event::Exited)).
//!
//! Only the run-time fields travel: definitions are read from disk again by
//! the next manager. A unit that was never started (inactive, no history) is
//! not saved. Times are CLOCK_MONOTONIC, which is the same for every process
//! on the machine, so deadlines and timers carry over as they are.
//!
//! Apart from [`Saved`], and written far less often, [`Known`]: what the last
//! load knew of the unit set, so that a successor whose first read of the
//! directories finds more (a `vigil sync` cut short by a crash, files edited
//! before a `vigil reexec`) starts what a sync would have started.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Machine, Phase, Rare, StopCause, requirement_names};
use crate::{Action, ExitStatus, Reason, Role, Time};

/// Every unit's run-time state, ready to be serialized.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    units: Vec<SavedUnit>,
    #[serde(default)]
    shutting_down: bool,
    /// The shutdown's last step began (its own units are being stopped).
    #[serde(default)]
    shutdown_final: bool,
}

impl Saved {
    /// The names of the saved units (for tests and diagnostics).
    pub fn unit_names(&self) -> impl Iterator<Item = &str> {
        self.units.iter().map(|u| u.name.as_str())
    }
}

/// What a re-load compares the files it reads with, recorded for the next
/// manager: every unit the engine knows, each with the units it requires,
/// wants or is bound to (by name, sorted), and which of them are removed
/// (their files gone; running still, or forgotten since). Not a unit's other
/// settings: a successor reads them from disk, changed or not. It changes
/// only at a load and at a take-over
/// ([`Engine::known_version`](crate::Engine::known_version)), so it need not
/// travel with every [`Saved`]: a removed unit forgotten later (once down),
/// which a re-load would take for a new one if its file came back, is told
/// by the successor from its state (down), not by a record written again at
/// each such end (a stop of many removed units would write it at each).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Known {
    units: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    removed: BTreeSet<String>,
}

impl Known {
    /// How many units it names.
    pub fn unit_count(&self) -> usize {
        self.units.len()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SavedUnit {
    name: String,
    phase: Phase,
    #[serde(
        default,
        deserialize_with = "or_none",
        skip_serializing_if = "Option::is_none"
    )]
    reason: Option<Reason>,
    since: Time,
    #[serde(
        default,
        deserialize_with = "or_none",
        skip_serializing_if = "Option::is_none"
    )]
    result: Option<Reason>,
    #[serde(
        default,
        deserialize_with = "or_none",
        skip_serializing_if = "Option::is_none"
    )]
    stop_cause: Option<StopCause>,
    #[serde(
        default,
        deserialize_with = "or_none",
        skip_serializing_if = "Option::is_none"
    )]
    pending_stop: Option<StopCause>,
    #[serde(default)]
    start_after_stop: bool,
    /// A start job waiting while the unit is active.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    start_job_on_active: bool,
    #[serde(default)]
    reload_from_exited: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    reload_signalled: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pid_file_late: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    main_gone: bool,
    #[serde(default)]
    started_ok: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    failed_before_start: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    reload_again: bool,
    /// Started by the shutdown, not stopped by it (yet).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    at_shutdown: bool,
    /// What its process groups held besides its tracked processes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    leftovers: bool,
    /// Every process the engine tracks for this unit, with its role.
    #[serde(default)]
    pids: Vec<(u32, Role)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    main_pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    control: Option<(u32, Role)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    test_pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spawning: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timeout: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wake: Option<Time>,
    test_delay: Duration,
    #[serde(default)]
    start_times: Vec<Time>,
    #[serde(default)]
    restarts: u32,
    #[serde(
        default,
        deserialize_with = "or_none",
        skip_serializing_if = "Option::is_none"
    )]
    restart_cause: Option<Reason>,
    #[serde(
        default,
        deserialize_with = "or_none",
        skip_serializing_if = "Option::is_none"
    )]
    last_exit: Option<ExitStatus>,
    #[serde(
        default,
        deserialize_with = "or_none",
        skip_serializing_if = "Option::is_none"
    )]
    run_exit: Option<ExitStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status_errno: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    watchdog_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    watchdog_override: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_requested: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time_to_ready: Option<Duration>,
}

/// A value of a newer manager's state this one does not know (a reason, a
/// stop's cause, an exit status added since) is read as none: what it said
/// is lost, not the whole state, so that an older vigild can still take over
/// from a newer one. What a unit's state rests on (its phase, its processes'
/// roles) stays exact: a state with an unknown one there cannot be read.
fn or_none<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum KnownOrNot<T> {
        Known(T),
        Unknown(serde::de::IgnoredAny),
    }
    Ok(match Option::<KnownOrNot<T>>::deserialize(d)? {
        Some(KnownOrNot::Known(value)) => Some(value),
        _ => None,
    })
}

impl Machine {
    pub(crate) fn save(&self) -> Saved {
        let mut units = Vec::new();
        // Each unit's processes, sorted, from one pass over them all: a pass
        // for each unit made every save quadratic (a save is made at almost
        // every turn under vigil-init: a chain of 2,000 units stopped at 24 a
        // second).
        let mut pids_of: HashMap<usize, Vec<(u32, Role)>> = HashMap::new();
        for (&pid, &(owner, role)) in &self.pids {
            pids_of.entry(owner).or_default().push((pid, role));
        }
        for (u, s) in self.slots.iter().enumerate() {
            let untouched = s.phase == Phase::Dead { failed: false }
                && s.pending_stop.is_none()
                && s.reason.is_none()
                && s.restarts == 0
                && s.last_exit.is_none()
                && s.start_times.is_empty()
                && !s.at_shutdown
                && !s.alive();
            if s.gone || untouched {
                continue;
            }
            let mut pids = pids_of.remove(&u).unwrap_or_default();
            pids.sort_unstable_by_key(|p| p.0);
            units.push(SavedUnit {
                name: s.name.clone(),
                phase: s.phase,
                reason: s.reason.clone(),
                since: s.since,
                result: s.rare().result.clone(),
                stop_cause: s.stop_cause.clone(),
                pending_stop: s.pending_stop.clone(),
                start_after_stop: s.start_after_stop,
                start_job_on_active: s.start_job_on_active,
                reload_from_exited: s.reload_from_exited,
                reload_signalled: s.reload_signalled,
                pid_file_late: s.pid_file_late,
                main_gone: s.main_gone,
                started_ok: s.started_ok,
                failed_before_start: s.failed_before_start,
                reload_again: s.reload_again,
                at_shutdown: s.at_shutdown,
                leftovers: s.leftovers,
                pids,
                main_pid: s.main_pid,
                control: s.control,
                test_pid: s.rare().test_pid,
                spawning: s.spawning,
                timeout: s.timeout,
                wake: s.wake,
                test_delay: s.test_delay,
                start_times: s.start_times.iter().copied().collect(),
                restarts: s.restarts,
                restart_cause: s.rare().restart_cause.clone(),
                last_exit: s.last_exit,
                run_exit: s.run_exit,
                status_text: s.rare().status_text.clone(),
                status_errno: s.rare().status_errno,
                watchdog_at: s.rare().watchdog_at,
                watchdog_override: s.rare().watchdog_override,
                start_requested: s.start_requested,
                time_to_ready: s.time_to_ready,
            });
        }
        Saved {
            units,
            shutting_down: self.shutting_down,
            shutdown_final: self.shutdown_final,
        }
    }

    /// Takes over a predecessor's state, after [`Machine::load`]. Work that was
    /// asked for but not answered when the state was saved is asked again:
    /// condition checks, PID file reads, and spawns (vigild first looks for a
    /// process the predecessor may have started). Returns one line for each
    /// saved unit that no longer exists.
    pub(crate) fn restore(&mut self, now: Time, saved: Saved) -> Vec<String> {
        self.now = now;
        let mut notes = Vec::new();
        if saved.shutting_down {
            self.shutting_down = true;
        }
        self.shutdown_final |= saved.shutdown_final;
        // A unit whose file went while no manager ran, with processes: kept as
        // a reload keeps a removed one. Running (or exited), it keeps running
        // until stopped, as systemd keeps a `not-found` unit; its stop has
        // systemd's defaults for what its file no longer says (SIGTERM, 90 s,
        // then SIGKILL). In any other phase its file would be needed to go on:
        // it is stopped, so that nothing it ran is left untracked. One with a
        // spawn in flight too: it waits for vigild's answer, the process it
        // finds (`Spawned`, stopped then) or none (`SpawnFailed`).
        let gone: Vec<String> = saved
            .units
            .iter()
            .filter(|su| {
                !self.index.contains_key(&su.name) && (!su.pids.is_empty() || su.spawning.is_some())
            })
            .map(|su| su.name.clone())
            .collect();
        self.add_removed(&gone);
        for su in saved.units {
            let Some(&u) = self.index.get(&su.name) else {
                notes.push(format!(
                    "{}: gone from the configuration; its state is dropped",
                    su.name
                ));
                continue;
            };
            for &(pid, role) in &su.pids {
                self.pids.insert(pid, (u, role));
            }
            let s = &mut self.slots[u];
            s.phase = su.phase;
            s.state = su.phase.state();
            s.reason = su.reason;
            s.since = su.since;
            s.stop_cause = su.stop_cause;
            s.pending_stop = su.pending_stop;
            s.start_after_stop = su.start_after_stop;
            s.start_job_on_active = su.start_job_on_active;
            s.reload_from_exited = su.reload_from_exited;
            s.reload_signalled = su.reload_signalled;
            s.pid_file_late = su.pid_file_late;
            s.main_gone = su.main_gone;
            s.started_ok = su.started_ok;
            s.failed_before_start = su.failed_before_start;
            s.reload_again = su.reload_again;
            s.at_shutdown = su.at_shutdown;
            s.leftovers = su.leftovers;
            s.main_pid = su.main_pid;
            s.control = su.control;
            s.spawning = None;
            s.timeout = su.timeout;
            s.wake = su.wake;
            s.test_delay = su.test_delay;
            s.start_times = VecDeque::from(su.start_times);
            s.restarts = su.restarts;
            s.last_exit = su.last_exit;
            s.run_exit = su.run_exit;
            // Failed for a file repaired while no manager ran: no longer
            // failed, as a re-load has it.
            if matches!(s.reason, Some(Reason::LoadError(_))) && s.phase.is_dead() && !s.broken() {
                s.reason = None;
                s.phase = Phase::Dead { failed: false };
                s.state = s.phase.state();
            }
            let r = s.rare_mut();
            r.result = su.result;
            r.test_pid = su.test_pid;
            r.restart_cause = su.restart_cause;
            r.status_text = su.status_text;
            r.status_errno = su.status_errno;
            r.watchdog_at = su.watchdog_at;
            r.watchdog_override = su.watchdog_override;
            if *r == Rare::NONE {
                s.rare = None;
            }
            s.start_requested = su.start_requested;
            s.time_to_ready = su.time_to_ready;
            let name = s.name.clone();
            match su.phase {
                Phase::Condition => self.actions.push(Action::CheckConditions { unit: name }),
                // Its sockets may have been made and stored already: vigild
                // takes those back, and answers at once.
                Phase::Listen => self.actions.push(Action::Listen { unit: name }),
                Phase::PidFile => {
                    match s
                        .run
                        .service
                        .as_ref()
                        .and_then(|svc| (*svc.pid_file).clone())
                    {
                        Some(path) => {
                            // The read after ExecStartPost= waits, as does
                            // one for a unit without it.
                            let wait = su.pid_file_late || !self.has_cmd(u, Role::StartPost(0));
                            let unit = name;
                            self.actions.push(Action::ReadPidFile { unit, path, wait });
                        }
                        None => self.actions.push(Action::GuessMainPid { unit: name }),
                    }
                }
                _ => {}
            }
            match su.spawning {
                // vigild answers for the spawn of a unit gone from the
                // configuration with the process it finds, or a failure.
                Some(role) if self.slots[u].removed => self.slots[u].spawning = Some(role),
                Some(role) => self.spawn(u, role),
                None => {}
            }
        }
        for name in gone {
            let Some(&u) = self.index.get(&name) else {
                continue;
            };
            let s = &self.slots[u];
            if matches!(s.phase, Phase::Running | Phase::Exited) && s.spawning.is_none() {
                notes.push(format!(
                    "{name}: gone from the configuration; it keeps running until stopped"
                ));
            } else {
                notes.push(format!("{name}: gone from the configuration; stopping it"));
                self.stop_unit(u, StopCause::Removed, false);
            }
        }
        self.index_slots();
        for u in 0..self.slots.len() {
            self.push(u);
        }
        self.finish_call();
        notes
    }

    /// What the next load would compare the files with: see [`Known`].
    pub(crate) fn known(&self) -> Known {
        // The forgotten too (their slots stay until the next load): the
        // record stays the same until then.
        let units = (self.slots.iter())
            .map(|s| {
                let mut reqs: Vec<String> = requirement_names(&s.def).cloned().collect();
                reqs.sort_unstable();
                reqs.dedup();
                (s.name.clone(), reqs)
            })
            .collect();
        let removed = (self.slots.iter().filter(|s| s.removed || s.gone))
            .map(|s| s.name.clone())
            .collect();
        Known { units, removed }
    }

    pub(crate) fn known_version(&self) -> u64 {
        self.known_version
    }

    /// After [`Machine::restore`]: what a re-load would have done had the
    /// previous manager, whose last load knew `previous`, read the files this
    /// one loaded. A unit not in `previous`, or a requirement edge new since,
    /// from an active (or starting, or waiting) unit starts now, with a
    /// re-load's words. A unit `previous` has as removed is new when it is
    /// down now: the previous manager forgot it when it went down. (What went
    /// is the restore's: a unit gone with processes is kept as removed.)
    /// Returns the units added, sorted.
    pub(crate) fn sync_since(&mut self, now: Time, previous: &Known) -> Vec<String> {
        self.now = now;
        let old_reqs: HashMap<String, HashSet<String>> = (previous.units.iter())
            .map(|(name, reqs)| (name.clone(), reqs.iter().cloned().collect()))
            .collect();
        let new = |s: &super::Slot| {
            !old_reqs.contains_key(&s.name)
                || (previous.removed.contains(&s.name) && s.phase.is_dead() && !s.alive())
        };
        let added: HashSet<String> = (self.slots.iter())
            .filter(|s| !s.gone && !s.removed && new(s))
            .map(|s| s.name.clone())
            .collect();
        if !self.shutting_down {
            self.start_newly_wanted(&added, &old_reqs);
        }
        self.finish_call();
        let mut added: Vec<String> = added.into_iter().collect();
        added.sort_unstable();
        added
    }

    /// Every process the engine tracks, with its unit.
    pub(crate) fn tracked(&self) -> Vec<(u32, String)> {
        let mut out: Vec<(u32, String)> = self
            .pids
            .iter()
            .map(|(&pid, &(u, _))| (pid, self.slots[u].name.clone()))
            .collect();
        out.sort_unstable();
        out
    }
}
