//! Carrying out the engine's process actions: spawning, signalling, reaping,
//! reading PID files and checking conditions, and turning the outcome into
//! events.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Read as _;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use vigil_engine::{Action, Event, ExitStatus, Level, Reason, Role, State};
use vigil_platform::{ExecStatus, Interest};
use vigil_units::{Output, ServiceType};

use crate::daemon::{Daemon, libc_sig, token, unwatch};
use crate::handover;

#[derive(Default)]
pub(crate) struct Procs {
    /// Processes vigild started and has not reaped yet.
    pub(crate) children: HashSet<u32>,
    /// Children whose end was handled but is in no saved state yet (the save
    /// failed): left unreaped until a save succeeds, so that should vigild die
    /// first, vigil-init reaps them and the next manager gets their statuses.
    pub(crate) held: Vec<u32>,
    /// The process groups each unit's processes were started in (every process
    /// vigild starts leads a new session), for what they leave behind.
    /// Each with the time its leader was started (CLOCK_BOOTTIME, clock ticks),
    /// so a group whose number was reused by an unrelated process is recognised
    /// and left alone.
    pub(crate) groups: Groups,
    /// When each process the engine tracks started (clock ticks since boot,
    /// as /proc/PID/stat gives it, or read just after the spawn): with the
    /// PID, its identity for the next manager.
    pub(crate) starts: HashMap<u32, u64>,
    /// Main PIDs vigild did not start (MAINPID=, PID files), watched through a
    /// pidfd: their parent may be alive and reap them, so no SIGCHLD comes.
    pub(crate) watched: HashMap<u32, OwnedFd>,
    /// Type=forking services running without a main PID (none could be
    /// guessed): checked after every reap for whether any process is left.
    pub(crate) pidless: HashSet<String>,
    /// Counts starts, for INVOCATION_ID.
    pub(crate) invocations: u64,
    /// The INVOCATION_ID of each unit's last main process, kept after it is
    /// down (until a load no longer has the unit): what a unit it triggers by
    /// `OnFailure=` or `OnSuccess=` gets as `$MONITOR_INVOCATION_ID`; and,
    /// while the unit is up, how a daemon that inherited it is told to be
    /// that unit's, not another's to guess.
    pub(crate) last_main_invocations: HashMap<String, String>,
    /// What every spawn needs from the manager, read once: its PID (for
    /// INVOCATION_ID), its LANG, and its whole environment (where
    /// `PassEnvironment=` takes values from; vigild never changes it).
    pub(crate) manager_pid: u32,
    lang: Option<String>,
    manager_env: Arc<[(String, String)]>,
    /// The `DynamicUser=` account of each unit that has one, from its first
    /// spawn until it is inactive or failed. Running units share an id exactly
    /// when they share the user name; an id is free again once no running
    /// unit holds it.
    pub(crate) dynamic_users: HashMap<String, vigil_spawn::DynamicAccount>,
    /// Process groups that still held a process after the `KillSignal=` of
    /// [`Daemon::kill_leftovers`].
    pub(crate) lingering: Vec<Lingering>,
    /// The process groups each unit's stop has signalled, and with what (the
    /// last signal only): a later step does not signal them twice.
    pub(crate) signalled: HashMap<String, (i32, HashSet<u32>)>,
    /// PID files not written yet when their unit's start process exited.
    pub(crate) pid_files: Vec<PendingPidFile>,
    /// The process groups and sessions of the processes reaped since
    /// [`Daemon::forget_empty_groups`] last looked at them.
    pub(crate) reaped_in: Vec<u32>,
    /// When each unit's latest process was started (clock ticks since boot),
    /// kept when its group is forgotten: a daemon that left the unit's groups
    /// started after it.
    pub(crate) spawned: HashMap<String, u64>,
    /// Where leftovers can be (vigild's children, and vigil-init's), read
    /// once for a round of reaping rather than at each unit's end: with a
    /// thousand units stopping at once, a read each made the stop quadratic
    /// (the kernel lists every child at each read). None: to be read again.
    /// Kept only during a round (`round`), from its first need to its end.
    pub(crate) candidates: Option<Vec<u32>>,
    pub(crate) round: bool,
    /// A SIGCHLD came, or the last reap stopped at its budget
    /// ([`REAPS_A_TURN`]): the loop reaps after the turn's events (and does
    /// not wait for more first).
    pub(crate) reap_pending: bool,
}

/// [`Procs::groups`]: each unit's groups, and how many entries name each
/// number, so that whether a number just reaped is any unit's is one lookup:
/// [`Daemon::forget_empty_groups`] went through every unit's list at each
/// reaping (a chain of 20,000 units stops one unit a reaping).
#[derive(Debug, Default)]
pub(crate) struct Groups {
    units: HashMap<String, Vec<(u32, u64)>>,
    held: HashMap<u32, u32>,
    /// The entries whose leader vigild saw end ([`Groups::leader_ended`]):
    /// a process with the number now is another, however soon it started.
    /// (Start times alone allow a tick of slack: a PID taken again within
    /// it passed for the leader.)
    ended: HashSet<(u32, u64)>,
}

impl Groups {
    pub(crate) fn get(&self, unit: &str) -> Option<&Vec<(u32, u64)>> {
        self.units.get(unit)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &Vec<(u32, u64)>)> {
        self.units.iter()
    }

    /// Every number some unit has as a group (or session), once.
    pub(crate) fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.held.keys().copied()
    }

    /// Whether any unit has a group (or session) of this number.
    pub(crate) fn holds(&self, id: u32) -> bool {
        self.held.contains_key(&id)
    }

    /// The unit's list, made (empty) when it has none.
    fn list(&mut self, unit: &str) -> &mut Vec<(u32, u64)> {
        // Most units have one group: room for that one (a default Vec grows to 4).
        self.units
            .entry(unit.to_string())
            .or_insert_with(|| Vec::with_capacity(1))
    }

    pub(crate) fn push(&mut self, unit: &str, group: (u32, u64)) {
        self.list(unit).push(group);
        *self.held.entry(group.0).or_default() += 1;
    }

    /// Adds `group` unless the unit has one of that number already.
    pub(crate) fn push_new(&mut self, unit: &str, group: (u32, u64)) {
        let list = self.list(unit);
        if !list.iter().any(|g| g.0 == group.0) {
            list.push(group);
            *self.held.entry(group.0).or_default() += 1;
        }
    }

    pub(crate) fn remove(&mut self, unit: &str) -> Option<Vec<(u32, u64)>> {
        let list = self.units.remove(unit)?;
        for &(id, _) in &list {
            if let Some(n) = self.held.get_mut(&id) {
                *n -= 1;
                if *n == 0 {
                    self.held.remove(&id);
                }
            }
        }
        if !self.ended.is_empty() {
            let units = &self.units;
            self.ended
                .retain(|g| !list.contains(g) || units.values().any(|l| l.contains(g)));
        }
        Some(list)
    }

    /// Drops the groups of these numbers from every unit's list.
    fn forget(&mut self, ids: &HashSet<u32>) {
        for list in self.units.values_mut() {
            list.retain(|(id, _)| !ids.contains(id));
        }
        for id in ids {
            self.held.remove(id);
        }
        self.ended.retain(|(id, _)| !ids.contains(id));
    }

    /// Process `pid` ended: the groups it led have no leader from now on.
    pub(crate) fn leader_ended(&mut self, pid: u32) {
        if !self.holds(pid) {
            return;
        }
        for list in self.units.values() {
            self.ended.extend(list.iter().filter(|g| g.0 == pid));
        }
    }

    /// Whether the group's leader runs, as started: not seen to end, and the
    /// process with its number started no later than the group was recorded.
    pub(crate) fn led(&self, group: (u32, u64)) -> bool {
        !self.ended.contains(&group) && holder(group.0).is_some_and(|(t, _)| t <= group.1 + 1)
    }

    /// The groups of `list` whose number was not reused: a process that has
    /// it now and is not the leader (started after the group was recorded,
    /// or not the zombie of a leader seen to end) is an unrelated one, and so
    /// is its group.
    pub(crate) fn valid(&self, list: &[(u32, u64)]) -> Vec<(u32, u64)> {
        list.iter()
            .copied()
            .filter(|&group| {
                holder(group.0).is_none_or(|(t, zombie)| {
                    t <= group.1 + 1 && (zombie || !self.ended.contains(&group))
                })
            })
            .collect()
    }

    /// [`Groups::valid`] of the unit's list.
    pub(crate) fn valid_of(&self, unit: &str) -> Vec<(u32, u64)> {
        self.get(unit)
            .map_or_else(Vec::new, |list| self.valid(list))
    }

    /// The entries whose leader ended, for the next manager.
    pub(crate) fn ended(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.ended.iter().copied()
    }

    /// After a hand-over: the entries the last manager saw lose their leader.
    pub(crate) fn set_ended(&mut self, ended: impl IntoIterator<Item = (u32, u64)>) {
        self.ended = ended
            .into_iter()
            .filter(|g| self.units.values().any(|list| list.contains(g)))
            .collect();
    }
}

impl FromIterator<(String, Vec<(u32, u64)>)> for Groups {
    fn from_iter<I: IntoIterator<Item = (String, Vec<(u32, u64)>)>>(lists: I) -> Groups {
        let mut groups = Groups::default();
        for (unit, list) in lists {
            for &(id, _) in &list {
                *groups.held.entry(id).or_default() += 1;
            }
            groups.units.insert(unit, list);
        }
        groups
    }
}

/// What a terminal is given back as when its service ends: systemd's
/// `TTY_GID` (5, its build's default: the `tty` group of Debian and the
/// other distributions) and `TTY_MODE`.
const TTY_GID: u32 = 5;
const TTY_MODE: u32 = 0o620;

/// Process ends handled by one call of [`Daemon::reap`], and the time it may
/// take (a crash loop with `RestartSec=0` spawns again at each end); the rest
/// waits for the next turn of the loop, after the clients, pipes and timers
/// had theirs.
const REAPS_A_TURN: usize = 128;
const REAP_TIME_A_TURN: Duration = Duration::from_millis(20);

/// What one call of [`Daemon::reap`] may still do.
struct ReapBudget {
    ends: usize,
    until: Duration,
}

impl ReapBudget {
    fn new() -> ReapBudget {
        ReapBudget {
            ends: REAPS_A_TURN,
            until: vigil_platform::monotonic_now() + REAP_TIME_A_TURN,
        }
    }

    /// The call's ends or time are used up: the rest is for the next turn.
    fn spent(&self) -> bool {
        self.ends == 0 || vigil_platform::monotonic_now() >= self.until
    }
}

/// A PID file read again until it is written, the unit's start ends, or none
/// of the unit's processes is left to write it.
#[derive(Debug)]
pub(crate) struct PendingPidFile {
    unit: String,
    path: std::path::PathBuf,
    at: vigil_engine::Time,
    /// The pause before `at`, doubled for the next.
    pause: Duration,
}

/// What a unit left behind that gets SIGKILL when `TimeoutStopSec=` has
/// passed (`SendSIGKILL=yes`), as systemd's final SIGKILL empties a cgroup.
#[derive(Debug)]
pub(crate) struct Lingering {
    unit: String,
    /// Process groups, with their leaders' start times (see [`Groups::valid`]).
    groups: Vec<(u32, u64)>,
    at: vigil_engine::Time,
}

impl Procs {
    /// A process started for `unit` at `started` (boot clock ticks): its group,
    /// for what it leaves behind, and its start time, to tell it from a later
    /// process with its PID.
    pub(crate) fn track(&mut self, unit: &str, pid: u32, started: u64) {
        self.groups.push(unit, (pid, started));
        self.starts.insert(pid, started);
        let latest = self.spawned.entry(unit.to_string()).or_default();
        *latest = (*latest).max(started);
    }

    /// Has [`Daemon::forget_empty_groups`] look at every recorded group: one
    /// that emptied where vigild did not see which (vigil-init reaped its last
    /// process).
    pub(crate) fn recheck_all_groups(&mut self) {
        self.reaped_in.extend(self.groups.ids());
    }

    /// Notes the process group and session of `pid`, exited and about to be
    /// reaped (or the PID alone, when /proc no longer has it), for
    /// [`Daemon::forget_empty_groups`].
    pub(crate) fn note_reaped(&mut self, pid: u32) {
        self.groups.leader_ended(pid);
        self.reaped_in.push(pid);
        if let Some(p) = stat_fields(pid).and_then(|f| proc_info(pid, &f)) {
            self.reaped_in.extend([p.pgrp, p.session]);
        }
    }

    pub fn new() -> Procs {
        // A variable that is not UTF-8 is left out: a unit can only name
        // UTF-8 variables, and the environment is built from strings.
        let manager_env: Arc<[(String, String)]> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let lang = manager_env
            .iter()
            .find(|(k, _)| k == "LANG")
            .map(|(_, v)| v.clone());
        Procs {
            manager_pid: vigil_platform::getpid(),
            lang,
            manager_env,
            ..Procs::default()
        }
    }
}

impl Daemon {
    pub(crate) fn perform_process_action(&mut self, action: Action) {
        match action {
            Action::Spawn {
                unit,
                role,
                command,
                main_pid,
            } => self.spawn(&unit, role, &command, main_pid),
            Action::Signal {
                unit,
                pid,
                signal,
                group,
                cont,
            } => self.signal(&unit, pid, signal, group, cont),
            Action::CheckConditions { unit } => {
                let result = match self.engine.definition(&unit) {
                    Some(u) => check_conditions(&u, &self.default_env),
                    None => Ok(()),
                };
                self.note_checked(&unit, &result);
                let now = self.now();
                let _ = self
                    .engine
                    .handle(now, Event::ConditionsChecked { unit, result });
            }
            Action::ReadPidFile { unit, path, wait } => {
                let now = self.now();
                if wait {
                    self.read_pid_file_or_wait(now, unit, path, None);
                } else {
                    let result = self.pid_file_result(&unit, &path, read_pid_file(&path));
                    let _ = self.engine.handle(now, Event::PidFileRead { unit, result });
                }
            }
            Action::GuessMainPid { unit } => {
                let pid = self.guess_main_pid(&unit);
                let now = self.now();
                let _ = self.engine.handle(
                    now,
                    Event::MainPidGuessed {
                        unit: unit.clone(),
                        pid,
                    },
                );
                if pid.is_none() {
                    self.procs.pidless.insert(unit);
                    self.check_pidless();
                }
            }
            Action::KillLeftovers { unit, signal, once } => {
                self.kill_unit_groups(&unit, signal, once)
            }
            Action::WatchPid { unit, pid } => self.watch_pid(&unit, pid),
            Action::Listen { unit } => self.listen(&unit),
            Action::CloseSockets { unit } => self.close_sockets(&unit),
            // Handled by the caller.
            Action::StateChanged { .. }
            | Action::StartCanceled { .. }
            | Action::StartFailed { .. }
            | Action::StopCanceled { .. }
            | Action::ReloadEnded { .. }
            | Action::Log { .. }
            | Action::AllStopped
            | Action::UnitAction { .. } => {}
        }
    }

    fn spawn(
        &mut self,
        unit_name: &str,
        role: Role,
        command: &vigil_units::ExecCommand,
        main_pid: Option<u32>,
    ) {
        self.trim_pending = true;
        // Counted before anything can fail: the state saved before this batch
        // of spawns named the invocation IDs in order (see `handover`).
        self.procs.invocations += 1;
        let invocation_id = self.invocation_id(self.procs.invocations);
        let now = self.now();
        let def = self.engine.run_definition(unit_name);
        let Some(service) = def.as_ref().and_then(|u| u.service.as_ref()) else {
            let _ = self.engine.handle(
                now,
                Event::SpawnFailed {
                    unit: unit_name.to_string(),
                    role,
                    pid: None,
                    stage: "lookup (unit has no [Service])".into(),
                    errno: 0,
                    detail: None,
                },
            );
            return;
        };
        let dynamic_user = match self.dynamic_user(unit_name, service) {
            Ok(account) => account,
            Err(e) => {
                self.spawn_failed(now, unit_name, role, &command.program, &e);
                return;
            }
        };
        self.logs
            .set_tag(unit_name, service.syslog_identifier.as_deref());
        let (stdout, stderr) = self.stdio_pair(unit_name, service);
        // vigil-init holds the pipes' read ends before anyone writes to them.
        self.sync_store();
        let wants_notify = service.service_type == ServiceType::Notify
            || service.notify_access != vigil_units::NotifyAccess::None;
        let mut extra_env = self.default_env.clone();
        extra_env.extend(self.remote_env(unit_name));
        let mut pid_variable = None;
        if let (Role::Main(_), Some(period)) = (role, service.watchdog) {
            // sd_watchdog_enabled(3) reads both.
            extra_env.push(("WATCHDOG_USEC".into(), period.as_micros().to_string()));
            pid_variable = Some("WATCHDOG_PID".to_string());
        }
        if matches!(role, Role::Stop(_) | Role::StopPost(_)) {
            let (result, exit) = self.engine.run_result(unit_name);
            extra_env.extend(stop_environment(result.as_ref(), exit));
        }
        if matches!(role, Role::StartPre(_) | Role::Main(_)) {
            extra_env.extend(self.monitor_environment(unit_name));
        }
        // Every process of the unit, as systemd: what the daemon is to write.
        if let Some(path) = service.pid_file.as_deref() {
            extra_env.push(("PIDFILE".into(), path.to_string_lossy().into_owned()));
        }
        let ctx = vigil_spawn::Context {
            main_pid,
            invocation_id: invocation_id.clone(),
            notify_socket: wants_notify.then(|| self.notify_path.clone()),
            lang: self.procs.lang.clone(),
            stdin: match &service.stdin {
                vigil_units::Input::Socket => self
                    .connection_copy(unit_name)
                    .map_or(vigil_spawn::Stdio::Null, vigil_spawn::Stdio::Fd),
                _ => vigil_spawn::stdin_for(service),
            },
            stdout,
            stderr,
            extra_env,
            manager_env: Arc::clone(&self.procs.manager_env),
            // A container's environment is its configuration (docker -e):
            // its services get it, as under tini or s6-overlay.
            inherit_manager_env: self.opts.container,
            pid_variable,
            // PermissionsStartOnly=: only ExecStart= drops privileges; `+` keeps
            // the manager's for that one command.
            privileged: command.full_privileges
                || (service.permissions_start_only && !matches!(role, Role::Main(_))),
            keep_credentials: command.keep_credentials,
            dynamic_user,
            directory_roots: None,
            // Socket activation: only the main process gets the sockets.
            listen_fds: match role {
                Role::Main(_) => self.listen_fds_for(unit_name, &service.sockets),
                _ => Vec::new(),
            },
        };
        let before = vigil_platform::boot_ticks();
        let pid_cell = self.spawn_pid_cell(self.procs.invocations);
        let result = vigil_spawn::prepare(unit_name, service, command, ctx).and_then(|mut p| {
            if let Some(cell) = pid_cell {
                p.command_mut().record_pid(cell);
            }
            vigil_spawn::spawn(&p)
        });
        let child = match result {
            Ok(child) => child,
            Err(e) => {
                self.spawn_failed(now, unit_name, role, &command.program, &e);
                return;
            }
        };
        let pid = child.pid;
        let started = spawned_start_time(pid, before);
        self.note_spawn_started(self.procs.invocations, started);
        self.procs.track(unit_name, pid, started);
        self.handover.not_missing(pid);
        self.procs.children.insert(pid);
        let _ = self.engine.handle(
            now,
            Event::Spawned {
                unit: unit_name.to_string(),
                role,
                pid,
            },
        );
        if matches!(role, Role::Main(_)) {
            self.note_main_pid(unit_name, pid);
            (self.procs.last_main_invocations).insert(unit_name.to_string(), invocation_id);
        }
        // The clone returned after the child exec'd or failed: the outcome is
        // known now, before the child's exit can be reaped.
        let event = match child.exec {
            ExecStatus::Succeeded => Event::ExecSucceeded { pid },
            ExecStatus::Failed { stage, errno } => {
                let msg = format!(
                    "cannot run {}: exec failed at {stage}: {} ({})",
                    command.program,
                    std::io::Error::from_raw_os_error(errno),
                    vigil_platform::errno_name(errno)
                );
                self.say(Level::Error, Some(unit_name), &msg);
                // The program the exec could not run is named in the state too.
                let words = vigil_engine::errno_words(errno);
                let detail = (stage == "exec").then(|| format!("{}: {words}", command.program));
                Event::SpawnFailed {
                    unit: unit_name.to_string(),
                    role,
                    pid: Some(pid),
                    stage: stage.to_string(),
                    errno,
                    detail,
                }
            }
        };
        let _ = self.engine.handle(now, event);
    }

    /// systemd's `$MONITOR_*`, for `ExecStartPre=` and `ExecStart=` of a unit
    /// that exactly one loaded service names in `OnFailure=` or `OnSuccess=`:
    /// that service's result and main exit in the words of `$SERVICE_RESULT`,
    /// `$EXIT_CODE` and `$EXIT_STATUS`, the INVOCATION_ID of its last main
    /// process, and its name. As in systemd the source is found from the
    /// files, not from what started this run: a unit named by several gets
    /// none (which one failed is not known), one started by hand gets them.
    fn monitor_environment(&mut self, unit: &str) -> Vec<(String, String)> {
        let sources: Vec<String> = (self.engine.triggered_by(unit).into_iter())
            .map(String::from)
            .collect();
        let source = match sources.as_slice() {
            [] => return Vec::new(),
            [one] => one.clone(),
            several => {
                let msg = format!(
                    "named by the OnFailure= or OnSuccess= of several units ({}): \
                     no MONITOR_* variables, which one triggered is not known",
                    several.join(", ")
                );
                self.say(Level::Warning, Some(unit), &msg);
                return Vec::new();
            }
        };
        // A target or a socket has no such result (systemd: none either).
        let is_service = |d: std::sync::Arc<vigil_units::Unit>| d.service.is_some();
        if !self.engine.run_definition(&source).is_some_and(is_service) {
            return Vec::new();
        }
        let (result, exit) = self.engine.run_result(&source);
        let mut env: Vec<(String, String)> = stop_environment(result.as_ref(), exit)
            .into_iter()
            .map(|(name, value)| (format!("MONITOR_{name}"), value))
            .collect();
        // OnFailure= naming the unit itself: only its own (new) result.
        if source != unit {
            if let Some(id) = self.procs.last_main_invocations.get(&source) {
                env.push(("MONITOR_INVOCATION_ID".into(), id.clone()));
            }
            env.push(("MONITOR_UNIT".into(), source));
        }
        env
    }

    /// A command that could not be started: said, and told to the engine.
    fn spawn_failed(
        &mut self,
        now: vigil_engine::Time,
        unit_name: &str,
        role: Role,
        program: &str,
        e: &vigil_spawn::SpawnError,
    ) {
        self.say(
            Level::Error,
            Some(unit_name),
            &format!("cannot start {program}: {e}"),
        );
        let _ = self.engine.handle(
            now,
            Event::SpawnFailed {
                unit: unit_name.to_string(),
                role,
                pid: None,
                stage: e.stage().to_string(),
                errno: e.errno(),
                detail: e.detail(),
            },
        );
    }

    /// The unit's `DynamicUser=` account: the one it holds while it runs, else
    /// the one a running unit of the same user name holds (systemd shares a
    /// dynamic user by name: every `web@.service` instance is `web`), else a
    /// new id no running unit holds. Only a manager running as root has
    /// ids to hand out; otherwise the setting changes nothing.
    fn dynamic_user(
        &mut self,
        unit: &str,
        service: &vigil_units::Service,
    ) -> Result<Option<vigil_spawn::DynamicAccount>, vigil_spawn::SpawnError> {
        if !service.dynamic_user || vigil_platform::geteuid() != 0 {
            return Ok(None);
        }
        if let Some(account) = self.procs.dynamic_users.get(unit) {
            return Ok(Some(account.clone()));
        }
        let held: Vec<_> = self.procs.dynamic_users.values().collect();
        let account = vigil_spawn::dynamic_account(unit, service, &held)?;
        self.procs
            .dynamic_users
            .insert(unit.to_string(), account.clone());
        Ok(Some(account))
    }

    /// What a unit holds only while it runs: its `RuntimeDirectory=` (unless
    /// `RuntimeDirectoryPreserve=` keeps it: `yes` always, `restart` across an
    /// automatic restart), its `DynamicUser=` id (kept across a restart), and
    /// its `PIDFile=`, removed as systemd removes it: a file left would name
    /// a PID gone, or since reused by another process, to the next start.
    pub(crate) fn release_run_resources(&mut self, unit: &str, restarting: bool) {
        let Some(def) = self.engine.run_definition(unit) else {
            return;
        };
        let Some(service) = def.service.as_ref() else {
            return;
        };
        if let Some(path) = service.pid_file.as_deref()
            && std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
            && let Err(e) = std::fs::remove_file(path)
        {
            let why = format!("PIDFile=: cannot remove {}: {e}", path.display());
            self.say(Level::Warning, Some(unit), &why);
        }
        let remove = match service.runtime_directory_preserve {
            vigil_units::Preserve::No => true,
            vigil_units::Preserve::Yes => false,
            vigil_units::Preserve::Restart => !restarting,
        };
        if remove {
            let roots = vigil_spawn::DirectoryRoots::for_manager(vigil_platform::geteuid() == 0);
            for (path, e) in vigil_spawn::directories::remove_runtime(service, &roots) {
                self.say(
                    Level::Warning,
                    Some(unit),
                    &format!("RuntimeDirectory=: cannot remove {}: {e}", path.display()),
                );
            }
        }
        if !restarting {
            self.procs.dynamic_users.remove(unit);
        }
    }

    /// Gives the terminal of a service that ran back to root, as systemd's
    /// exec_context_revert_tty() does whenever a service ends (before an
    /// automatic restart too): owner root, group tty, mode 0620, undoing the
    /// hand-over to `User=` at its start and whatever the service changed.
    /// Only a manager running as root does it: no other hands a terminal over,
    /// nor may give one to root. A terminal gone meanwhile (a pseudo-terminal
    /// closed) is left alone.
    pub(crate) fn give_back_terminal(&mut self, unit: &str) {
        if vigil_platform::geteuid() != 0 {
            return;
        }
        let Some(def) = self.engine.run_definition(unit) else {
            return;
        };
        let Some(path) = def.service.as_ref().and_then(vigil_spawn::terminal_used) else {
            return;
        };
        let given = vigil_platform::terminal::set_char_device_owner(&path, 0, TTY_GID, TTY_MODE);
        let path = path.display();
        match given {
            Ok(true) => {}
            Ok(false) => {
                let why = format!("{path} is not a character device: not given back to root");
                self.say(Level::Warning, Some(unit), &why);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                let why = format!("cannot give {path} back to root:tty, mode 0620: {e}");
                self.say(Level::Warning, Some(unit), &why);
            }
        }
    }

    /// stdout and stderr for a new process. systemd's `StandardError=inherit`
    /// means "where stdout goes": for a file or the manager's own stdout that is
    /// the same open file, not a second one (two opens at offset 0 would write
    /// over each other); for the log it is the same pipe, as systemd gives both
    /// the same journal stream: the lines keep the order they were written in,
    /// and a service costs one pipe. `StandardError=journal` (or YAML) gives
    /// stderr a pipe of its own, whose lines are tagged `stderr`. The same
    /// file named for both (`file:P` twice) is one open file too, as systemd
    /// makes it.
    fn stdio_pair(
        &mut self,
        unit: &str,
        service: &vigil_units::Service,
    ) -> (vigil_spawn::Stdio, vigil_spawn::Stdio) {
        use vigil_log::Stream;
        use vigil_spawn::Stdio;
        let tty = vigil_spawn::tty_path(service);
        let same_file =
            matches!(&service.stderr, Output::File { .. }) && service.stderr == service.stdout;
        if service.stderr != Output::Inherit && !same_file {
            return (
                self.stdio_for(unit, &service.stdout, Stream::Stdout, &tty),
                self.stdio_for(unit, &service.stderr, Stream::Stderr, &tty),
            );
        }
        let shared = match &service.stdout {
            Output::File { path, mode } => vigil_spawn::open_output(path, *mode, service.umask)
                .map(OwnedFd::from)
                .map_err(|e| format!("{}: {e}", path.display())),
            Output::Inherit => std::io::stdout()
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| format!("stdout: {e}")),
            Output::Log | Output::Console | Output::Kmsg => {
                match self.stdio_for(unit, &service.stdout, Stream::Stdout, &tty) {
                    Stdio::Fd(pipe) => Ok(pipe),
                    // No pipe (said): stderr goes nowhere, as stdout.
                    other => return (other, Stdio::Null),
                }
            }
            _ => {
                return (
                    self.stdio_for(unit, &service.stdout, Stream::Stdout, &tty),
                    self.stdio_for(unit, &service.stdout, Stream::Stderr, &tty),
                );
            }
        };
        match shared.and_then(|fd| {
            let copy = fd.try_clone().map_err(|e| format!("dup: {e}"))?;
            Ok((fd, copy))
        }) {
            Ok((out, err)) => (Stdio::Fd(out), Stdio::Fd(err)),
            Err(e) => {
                // The spawn reports the failure when it opens the file itself;
                // a log pipe that cannot be copied gets one of its own.
                self.say(
                    Level::Warning,
                    Some(unit),
                    &format!("opening the output: {e}"),
                );
                (
                    self.stdio_for(unit, &service.stdout, Stream::Stdout, &tty),
                    self.stdio_for(unit, &service.stdout, Stream::Stderr, &tty),
                )
            }
        }
    }

    fn stdio_for(
        &mut self,
        unit: &str,
        output: &Output,
        stream: vigil_log::Stream,
        tty: &std::path::Path,
    ) -> vigil_spawn::Stdio {
        match output {
            Output::Null => vigil_spawn::Stdio::Null,
            Output::Inherit => vigil_spawn::Stdio::Inherit,
            Output::File { path, mode } => vigil_spawn::Stdio::File {
                path: path.clone(),
                mode: *mode,
            },
            Output::Tty => vigil_spawn::Stdio::Tty(tty.to_path_buf()),
            Output::Socket => match self.connection_copy(unit) {
                Some(fd) => vigil_spawn::Stdio::Fd(fd),
                // Not started for a connection: the log, as the default.
                None => self.stdio_for(unit, &Output::Log, stream, tty),
            },
            Output::Log | Output::Console | Output::Kmsg => {
                match self.logs.pipe_for(unit, stream, output, &self.epoll) {
                    Ok(fd) => vigil_spawn::Stdio::Fd(fd),
                    Err(e) => {
                        self.say(
                            Level::Error,
                            Some(unit),
                            &format!("creating the log pipe: {e}"),
                        );
                        vigil_spawn::Stdio::Null
                    }
                }
            }
        }
    }

    /// systemd's `$INVOCATION_ID` for the n-th spawn of this manager.
    pub(crate) fn invocation_id(&self, n: u64) -> String {
        format!("{:016x}{:016x}", self.procs.manager_pid, n)
    }

    pub(crate) fn watch_pid(&mut self, unit: &str, pid: u32) {
        if let Some(t) = start_time(pid) {
            self.procs.starts.entry(pid).or_insert(t);
        }
        if self.procs.children.contains(&pid) || self.procs.watched.contains_key(&pid) {
            return;
        }
        let watched = vigil_platform::pidfd_open(pid).and_then(|fd| {
            self.epoll.add(
                fd.as_fd(),
                token::PIDFD | u64::from(pid),
                Interest::READABLE,
            )?;
            Ok(fd)
        });
        match watched {
            Ok(fd) => {
                self.procs.watched.insert(pid, fd);
            }
            Err(e) => {
                // Already gone (ESRCH): report its end now, status unknown.
                self.say(
                    Level::Warning,
                    Some(unit),
                    &format!("cannot watch main PID {pid}: {e}"),
                );
                let now = self.now();
                let status = exit_status_from_proc(pid).unwrap_or(ExitStatus::Exited(0));
                self.process_ended(now, pid, status);
            }
        }
    }

    /// A watched main PID has exited. Reaped here if it became vigild's child
    /// (re-parented to the subreaper); otherwise its status is read from
    /// /proc while it is a zombie, or is unknown (reported as exit 0, as the
    /// process ended without vigild being able to tell how).
    pub(crate) fn on_pidfd(&mut self, pid: u32) {
        let Some(fd) = self.procs.watched.remove(&pid) else {
            return;
        };
        unwatch(&self.epoll, &fd);
        self.notifications_first();
        // A child of ours (a daemon re-parented to the subreaper) is reaped
        // once the state has its end, as in `reap`.
        let keep = self.init.is_some();
        let peeked = if keep {
            vigil_platform::process::peek(pid)
        } else {
            vigil_platform::process::reap(pid)
        };
        let peeked = peeked.ok().flatten();
        let status = match peeked {
            Some(status) => Some(engine_status(status)),
            None => exit_status_from_proc(pid),
        };
        let status = status.unwrap_or_else(|| {
            let unit = self.engine.unit_of_pid(pid).unwrap_or("").to_string();
            self.say(
                Level::Warning,
                Some(&unit),
                &format!(
                    "main PID {pid} ended; its exit status is unknown (not a child of vigild)"
                ),
            );
            ExitStatus::Exited(0)
        });
        let now = self.now();
        self.process_ended(now, pid, status);
        if keep && peeked.is_some() {
            self.process_actions();
            self.reap_once_saved(vec![pid]);
        }
    }

    /// Saves the state that has the ends of `pids`, then reaps them; when the
    /// save fails they are held, unreaped, until one goes through (which reaps
    /// them): should vigild die first, vigil-init hands their statuses on.
    fn reap_once_saved(&mut self, pids: Vec<u32>) {
        self.procs.held.extend(pids);
        self.save_state(Vec::new());
    }

    /// Reaps the children held back for a save, which went through.
    pub(crate) fn reap_held(&mut self) {
        for pid in std::mem::take(&mut self.procs.held) {
            self.procs.note_reaped(pid);
            let _ = vigil_platform::process::reap(pid);
        }
        self.forget_empty_groups();
    }

    /// When a unit is down (inactive, failed, or about to restart), whatever its
    /// processes left behind in their process groups gets KillSignal and
    /// SIGCONT, as systemd empties a unit's cgroup (until vigil has cgroups, the
    /// process group is the unit's boundary; a process that moved to a session
    /// of its own escapes it). KillMode=process and none leave them alone.
    pub(crate) fn kill_leftovers(&mut self, unit: &str) {
        self.procs.signalled.remove(unit);
        self.procs.spawned.remove(unit);
        let Some(groups) = self.procs.groups.remove(unit) else {
            return;
        };
        let Some(def) = self.engine.run_definition(unit) else {
            return;
        };
        let Some(service) = def.service.as_ref() else {
            return;
        };
        if matches!(
            service.kill_mode,
            vigil_units::KillMode::Process | vigil_units::KillMode::None
        ) {
            return;
        }
        let mut held = Vec::new();
        for (pgid, started) in self.procs.groups.valid(&groups) {
            if signal_group(pgid, service.kill_signal) {
                held.push((pgid, started));
            }
        }
        if let Some(timeout) = service.timeout_stop.filter(|_| service.send_sigkill)
            && !held.is_empty()
        {
            self.procs.lingering.push(Lingering {
                unit: unit.to_string(),
                groups: held,
                at: self.now() + timeout,
            });
        }
    }

    /// [`Action::KillLeftovers`]: `signal` (and SIGCONT) to the process groups
    /// the unit's leftovers are in (a job-control shell gives its jobs groups
    /// of their own in its session) and to the groups the unit's processes were
    /// started in (leftovers vigild cannot see, after it was killed, are
    /// reached there); not to the groups of the processes the engine tracks,
    /// which it signals itself, and with `once` not to a group that got
    /// `signal` already in this stop: each process gets each signal once.
    /// Should nothing be left to wait for after all, the engine hears so.
    fn kill_unit_groups(&mut self, unit: &str, signal: i32, once: bool) {
        let found = self.leftover_groups(unit);
        let started = self.procs.groups.valid_of(unit);
        let tracked: HashSet<u32> = (self.engine.tracked().into_iter())
            .filter(|(_, owner)| owner == unit)
            .filter_map(|(pid, _)| vigil_platform::getpgid(pid).ok())
            .collect();
        let done = match self.procs.signalled.get(unit) {
            Some((sent, groups)) if once && *sent == signal => groups.clone(),
            _ => HashSet::new(),
        };
        let started: Vec<u32> = started.iter().map(|&(id, _)| id).collect();
        let targets = leftover_targets(&started, &found, &tracked, &done);
        self.signal_groups(unit, &targets, signal);
        if found.is_empty() {
            self.tell_leftovers(unit.to_string(), false);
        }
    }

    /// `signal` (and SIGCONT, unless it is SIGKILL) to each group, noted as
    /// signalled for the unit.
    fn signal_groups(&mut self, unit: &str, groups: &[u32], signal: i32) {
        for &id in groups {
            signal_group(id, signal);
            self.note_signalled(unit, id, signal);
        }
    }

    /// Remembers that the unit's group `id` got `signal` (a new signal starts
    /// a new list): a stop's later steps skip it.
    fn note_signalled(&mut self, unit: &str, id: u32, signal: i32) {
        let entry = (self.procs.signalled)
            .entry(unit.to_string())
            .or_insert_with(|| (signal, HashSet::new()));
        if entry.0 != signal {
            *entry = (signal, HashSet::new());
        }
        entry.1.insert(id);
    }

    fn tell_leftovers(&mut self, unit: String, present: bool) {
        let now = self.now();
        let _ = self.engine.handle(now, Event::Leftovers { unit, present });
    }

    /// The process groups of the unit's leftovers: live processes in its
    /// sessions and process groups that the engine does not track. Such a
    /// process has lost its parent (the unit's process that started it
    /// ended), so it is vigild's child (the subreaper's): only vigild's
    /// children are looked at, not all of /proc. After vigild itself was
    /// killed, the processes of the one before are vigil-init's children:
    /// their leftovers are not seen.
    fn leftover_groups(&mut self, unit: &str) -> Vec<u32> {
        let groups = self.procs.groups.valid_of(unit);
        // A leftover has one of these numbers as its group or session: where
        // no process holds any of them, there is none, and vigild's children
        // need not be listed. That list costs the kernel a walk of all of
        // them per page read (the square of their number), and is wanted at
        // each unit's end: a chain of 20,000 units, each stopping after the
        // one above, stopped some 15 a second.
        if groups
            .iter()
            .all(|&(id, _)| vigil_platform::process::id_unused(id))
        {
            return Vec::new();
        }
        let fresh = self.procs.candidates.is_none();
        let found = self.leftovers_among(&groups);
        // A list read earlier in this round misses what was re-parented since
        // (a process of the unit whose parent ended after the read). The
        // unit's own groups tell, one kill(2) each, whether anything is left
        // there: then the list is read again. (A leftover that moved to a group
        // of its own in the unit's session after the read is not seen.)
        if found.is_empty()
            && !fresh
            && groups
                .iter()
                .any(|&(id, _)| vigil_platform::process::group_exists(id))
        {
            self.procs.candidates = None;
            return self.leftovers_among(&groups);
        }
        found
    }

    /// The process groups of the live processes among the candidates that
    /// no unit tracks and that are in `groups`. A candidate found ended is
    /// dropped from the round's list: it is not read again.
    fn leftovers_among(&mut self, groups: &[(u32, u64)]) -> Vec<u32> {
        let mut candidates = self.leftover_candidates();
        let mut found = Vec::new();
        candidates.retain(|&pid| {
            if self.engine.unit_of_pid(pid).is_some() {
                return true;
            }
            let Some(p) = live_process(pid) else {
                return false;
            };
            if in_unit_groups(groups, &p) {
                found.push(p.pgrp);
            }
            true
        });
        if self.procs.round {
            self.procs.candidates = Some(candidates);
        }
        found.sort_unstable();
        found.dedup();
        found
    }

    /// Where a leftover can be: among vigild's children (its parent ended: it
    /// was re-parented to vigild, the child subreaper) and, under vigil-init,
    /// among vigil-init's (re-parented while no manager ran: what a killed
    /// manager's processes left; its end comes as `exited`). Read once a round
    /// of reaping ([`Procs::candidates`]).
    fn leftover_candidates(&mut self) -> Vec<u32> {
        if let Some(pids) = self.procs.candidates.take() {
            return pids;
        }
        let mut pids = own_children();
        if self.init.is_some() {
            pids.extend(children_of(std::os::unix::process::parent_id()));
        }
        pids
    }

    /// The end of `pid` for the engine, however it was learnt (reaped, a
    /// pidfd, a status from vigil-init). First, when it is the last process
    /// its unit tracks, whether it left anything behind.
    pub(crate) fn process_ended(&mut self, now: vigil_engine::Time, pid: u32, status: ExitStatus) {
        // What it wrote before it ended goes into the log before its end
        // (read in a later turn, a busy pipe's last 64 KiB came after the
        // `main process exited` and state lines): what the pipes hold now,
        // no more, or a writer that keeps one full (`yes`) would hold the
        // manager here.
        if let Some(unit) = self.engine.unit_of_pid(pid).map(str::to_string) {
            for (idx, mut left) in self.logs.waiting_pipes_of(&unit) {
                while left > 0 {
                    match self.read_log_pipe(idx, left) {
                        0 => break,
                        n => left = left.saturating_sub(n),
                    }
                }
            }
        }
        if let Some(unit) = self.engine.last_process_of(pid).map(str::to_string)
            && !self.leftover_groups(&unit).is_empty()
        {
            self.tell_leftovers(unit, true);
        }
        self.procs.groups.leader_ended(pid);
        let _ = self.engine.handle(now, Event::Exited { pid, status });
        // Its identity is of no use once no unit tracks it (only vigil-init's
        // saves dropped it: without vigil-init, an entry for every process
        // ever started stayed).
        if self.engine.unit_of_pid(pid).is_none() {
            self.procs.starts.remove(&pid);
        }
    }

    /// After reaping, for each unit whose stop waits for its leftovers: the
    /// engine hears when the last of them is gone (it was vigild's child: its
    /// end raised SIGCHLD here), and a leftover found only now (its parent,
    /// another leftover, just ended) gets the signal the others got. Then the
    /// forking services without a main PID.
    pub(crate) fn after_reaping(&mut self) {
        self.forget_empty_groups();
        for unit in self.engine.units_waiting_for_leftovers() {
            let found = self.leftover_groups(&unit);
            if found.is_empty() {
                self.tell_leftovers(unit, false);
                self.process_actions();
            } else if let Some((signal, done)) = self.procs.signalled.get(&unit) {
                let signal = *signal;
                let new: Vec<u32> = found.into_iter().filter(|g| !done.contains(g)).collect();
                self.signal_groups(&unit, &new, signal);
            }
        }
        self.check_pidless();
        (self.procs.round, self.procs.candidates) = (false, None);
    }

    /// Forgets the recorded sessions and process groups of the processes just
    /// reaped that no process is left in. Their numbers can be any new
    /// process's now: one that took such a number (setsid() in a process
    /// given the PID of a unit's `ExecStartPre=` that ended) passed for the
    /// unit's, its notifications taken as the unit's (a `READY=1`, a
    /// `MAINPID=`, from anyone) and its group signalled at the unit's stop.
    /// While a process is in a group or session, the kernel gives its number
    /// to no other process; when vigild reaps the last one itself (it is the
    /// subreaper of all it starts) it sees the group empty before its number
    /// is free. Not when the last one leaves by setsid(), nor when vigil-init
    /// reaps it: so the number alone attributes no one once the leader is
    /// gone ([`Daemon::unit_of_session`]). A group is asked with one kill(2)
    /// of signal 0; /proc is read only when the group is empty, for what is
    /// left in the session.
    pub(crate) fn forget_empty_groups(&mut self) {
        let reaped: HashSet<u32> = self.procs.reaped_in.drain(..).collect();
        if reaped.is_empty() {
            return;
        }
        let mut empty = HashSet::new();
        let mut listed = None;
        for id in reaped.into_iter().filter(|&id| self.procs.groups.holds(id)) {
            // No process has the number at all: nothing to look for in /proc.
            if vigil_platform::process::id_unused(id) {
                empty.insert(id);
                continue;
            }
            if vigil_platform::process::group_exists(id) {
                continue;
            }
            let procs = listed.get_or_insert_with(all_processes);
            if !procs.iter().any(|p| p.session == id || p.pid == id) {
                empty.insert(id);
            }
        }
        if !empty.is_empty() {
            self.procs.groups.forget(&empty);
        }
    }

    /// Whether a process the unit started (or one left in its process groups)
    /// is still there.
    fn has_processes(&self, unit: &str) -> bool {
        (self.procs.groups.valid_of(unit).into_iter())
            .any(|(pgid, _)| vigil_platform::process::group_exists(pgid))
    }

    /// When the first of [`Procs::pid_files`] is to be read again.
    pub(crate) fn pid_file_deadline(&self) -> Option<vigil_engine::Time> {
        self.procs.pid_files.iter().map(|p| p.at).min()
    }

    /// Reads the PID files that are due again; one whose unit is no longer
    /// starting (its start timed out, a stop) is dropped.
    pub(crate) fn retry_pid_files(&mut self, now: vigil_engine::Time) {
        for PendingPidFile {
            unit, path, pause, ..
        } in take_due(&mut self.procs.pid_files, now, |p| p.at)
        {
            let starting = self
                .engine
                .unit(&unit)
                .is_some_and(|i| i.state == State::Starting);
            if starting {
                self.read_pid_file_or_wait(now, unit, path, Some(pause));
                self.process_actions();
            }
        }
    }

    /// Tells the engine the unit's PID from its PID file, or that the file is
    /// broken, or waits for it: systemd's "PID file ... not readable (yet?)
    /// after start" waits for a file still missing or empty while the unit has
    /// processes, within TimeoutStartSec=. `waited`: the pause before this
    /// read, None for the first.
    fn read_pid_file_or_wait(
        &mut self,
        now: vigil_engine::Time,
        unit: String,
        path: std::path::PathBuf,
        waited: Option<Duration>,
    ) {
        // A PID no process has (a file left from an earlier run, a daemon
        // already gone) is a file not written yet, as systemd's "PID N read
        // from file ... does not exist or is a zombie": waited for while the
        // unit's processes may write it, else the start's failure.
        let file = match read_pid_file(&path) {
            PidFile::Pid(pid, _) if live_process(pid).is_none() => PidFile::NotYet(format!(
                "{}: PID {pid} read from it does not exist or is a zombie",
                path.display()
            )),
            file => file,
        };
        // Who may still write it: a process in the unit's groups, or a daemon
        // that left them by setsid() (a candidate for its main PID); when
        // none is left, what was not taken for one is said.
        let writers = matches!(file, PidFile::NotYet(_))
            && (self.has_processes(&unit) || {
                let (candidates, others) = self.main_pid_candidates(&unit);
                if candidates.is_empty() {
                    self.say_why_not_taken(&unit, &others);
                }
                !candidates.is_empty()
            });
        let result = match file {
            PidFile::NotYet(why) if writers => {
                if waited.is_none() {
                    let why = format!("PID file {why}; waiting for it");
                    self.say(Level::Info, Some(&unit), &why);
                }
                let pause =
                    waited.map_or(PID_FILE_RETRY_FIRST, |p| (p * 2).min(PID_FILE_RETRY_MAX));
                let at = now + pause;
                let pending = PendingPidFile {
                    unit,
                    path,
                    at,
                    pause,
                };
                self.procs.pid_files.push(pending);
                return;
            }
            file => self.pid_file_result(&unit, &path, file),
        };
        let _ = self.engine.handle(now, Event::PidFileRead { unit, result });
    }

    /// What the engine is told of a PID file read: its PID, vetted, or why not.
    fn pid_file_result(
        &self,
        unit: &str,
        path: &std::path::Path,
        file: PidFile,
    ) -> Result<u32, String> {
        match file {
            PidFile::Pid(pid, owner) => self.vet_pid_file(unit, path, pid, owner),
            PidFile::NotYet(why) | PidFile::Bad(why) => Err(why),
        }
    }

    /// A PID file names what vigild will signal at the unit's stop. As
    /// systemd: a process outside the unit is taken only from a file the
    /// manager's own user (root) owns, never vigild itself: a service running
    /// as another user could otherwise name any process for root to kill.
    /// Without cgroups a daemon that forked away is not always seen to be
    /// the unit's, so one the file's owner could signal anyway is taken too.
    fn vet_pid_file(
        &self,
        unit: &str,
        path: &std::path::Path,
        pid: u32,
        owner: u32,
    ) -> Result<u32, String> {
        let file = path.display();
        if pid == self.procs.manager_pid {
            return Err(format!("{file}: PID {pid} is the manager itself"));
        }
        // Another unit's process: its process group is that unit's, which
        // this one's stop would signal.
        let owner_unit = self.owner_of(pid);
        if let Some(other) = owner_unit.as_deref().filter(|&o| o != unit) {
            return Err(format!("{file}: PID {pid} is a process of {other}"));
        }
        if owner == 0 || owner == vigil_platform::geteuid() || owner_unit.is_some() {
            return Ok(pid);
        }
        // A process the file's owner could signal anyway: not when a process
        // it could not shares its session, since the stop signals the
        // process's group, which it may join or lead.
        let Some(session) = live_process(pid).map(|p| p.session) else {
            return Err(format!("{file}: PID {pid}: no such process"));
        };
        let others = all_processes()
            .into_iter()
            .filter(|p| p.session == session)
            .filter_map(|p| uids(p.pid))
            .find(|&ids| !signalled_by(ids, owner));
        match (uids(pid), others) {
            (Some(ids), None) if signalled_by(ids, owner) => Ok(pid),
            (Some(ids), Some((other, _))) if signalled_by(ids, owner) => Err(format!(
                "{file}: PID {pid} shares its session with a process of uid {other} \
                 (the file is owned by uid {owner}, and the stop signals the process's group): refused"
            )),
            // answerable_owner()'s "no one": a directory anyone may write.
            _ if owner == u32::MAX => Err(format!(
                "{file}: PID {pid} is not a process of the unit, and a directory on \
                 the file's path is writable by anyone (without the sticky bit): refused"
            )),
            _ => Err(format!(
                "{file}: PID {pid} is not a process of the unit, and the file is not \
                 owned by root (uid {owner}): refused"
            )),
        }
    }

    /// When the first group of [`Procs::lingering`] is due.
    pub(crate) fn lingering_deadline(&self) -> Option<vigil_engine::Time> {
        self.procs.lingering.iter().map(|l| l.at).min()
    }

    /// SIGKILL to the groups whose `TimeoutStopSec=` has passed and that still
    /// hold a process (a group is only ever a unit's own: a group number is not
    /// reused while a process is in it, and a new leader with the number is
    /// told apart by its start time).
    pub(crate) fn kill_lingering(&mut self, now: vigil_engine::Time) {
        for Lingering { unit, groups, .. } in take_due(&mut self.procs.lingering, now, |l| l.at) {
            let killed = self
                .procs
                .groups
                .valid(&groups)
                .into_iter()
                .filter(|&(pgid, _)| vigil_platform::kill_group(pgid, libc_sig::SIGKILL).is_ok())
                .count();
            if killed > 0 {
                let msg = format!(
                    "SIGKILL to {killed} process group(s) still running after TimeoutStopSec="
                );
                self.say(Level::Warning, Some(&unit), &msg);
            }
        }
    }

    /// Signals a process, or its process group. A child of the manager cannot
    /// have its PID reused before the manager reaps it, so a plain kill() is
    /// race-free for every process vigild started or inherited as subreaper; no
    /// pidfd is held per service (each one more descriptor every new child would
    /// have to close at exec).
    /// `signal` to `pid` or its process group, then SIGCONT to the same when
    /// `cont` (not noted: the stop's signal is what its later steps and the
    /// leftovers found later go by).
    pub(crate) fn signal(&mut self, unit: &str, pid: u32, signal: i32, group: bool, cont: bool) {
        // Never init or this manager, whatever a unit claimed as its main PID.
        if pid <= 1 || pid == self.procs.manager_pid {
            self.say(
                Level::Warning,
                Some(unit),
                &format!("refusing to send signal {signal} to process {pid}"),
            );
            return;
        }
        // The group the process is in now: a forking daemon that did not call
        // setsid() is still in the group of the process vigild started, which
        // has exited; one that did leads its own. A process that is gone
        // leaves its group, which may still have members: its PID is the
        // group's ID then. vigild's own group is never a unit's (a MAINPID=
        // could name a process in it): then only the process is signalled.
        let pgid = group.then(|| vigil_platform::getpgid(pid).unwrap_or(pid));
        let own = vigil_platform::getpgid(vigil_platform::getpid()).ok();
        let pgid = pgid.filter(|&g| Some(g) != own && g > 1);
        let send = |signal| match pgid {
            Some(g) => vigil_platform::kill_group(g, signal),
            None => vigil_platform::kill(pid, signal),
        };
        if let Some(g) = pgid {
            self.note_signalled(unit, g, signal);
        }
        let result = send(signal);
        if cont && result.is_ok() {
            let _ = send(libc_sig::SIGCONT);
        }
        if let Err(e) = result {
            // ESRCH: it is already gone, and its exit will be reported by SIGCHLD.
            if e.raw_os_error() != Some(3) {
                self.say(
                    Level::Warning,
                    Some(unit),
                    &format!(
                        "cannot send signal {signal} to {}{pid}: {e}",
                        if group { "group " } else { "" }
                    ),
                );
            }
        }
    }

    /// GuessMainPID=: the one process the unit's start process left behind, as
    /// systemd picks it from a cgroup: among the unit's processes, the one whose
    /// parent is the manager (a daemon re-parented to the subreaper); none when
    /// there is none or more than one. Without cgroups a process is the unit's
    /// when it is in a session or process group one of the unit's processes was
    /// started in, or when it is an orphan re-parented to vigild that started
    /// after the start process did (a daemon that forked twice and called
    /// setsid()) and runs as the unit's user (real user ID: an orphan of
    /// another user's, made by `setsid -f` in a service running as nobody,
    /// made a root unit's guess ambiguous and joined its groups, so that its
    /// notifications were the root unit's) and is in no other unit's session
    /// or group: another unit's daemon that left its session too, forking at
    /// the same moment, makes the guess ambiguous, and then there is no main
    /// PID, never a wrong one. The sessions and groups of the candidates join
    /// the unit's (an orphan's only when it is the one guess), for
    /// [`Daemon::kill_leftovers`] and the check that anything is left.
    fn guess_main_pid(&mut self, unit: &str) -> Option<u32> {
        let (candidates, others) = self.main_pid_candidates(unit);
        if candidates.is_empty() {
            self.say_why_not_taken(unit, &others);
        }
        let me = self.procs.manager_pid;
        self.procs.groups.list(unit);
        // An orphan from outside the unit's groups joins them only when it is
        // the one guess: two that fork at the same moment are two units'
        // daemons as likely as one's, and joined, the stop of one unit would
        // kill the other's.
        let sure = candidates.len() == 1;
        for (c, _) in candidates.iter().filter(|(_, own)| *own || sure) {
            for id in [c.session, c.pgrp] {
                if id > 1 && id != me {
                    self.procs.groups.push_new(unit, (id, c.start));
                }
            }
        }
        match candidates.as_slice() {
            [(one, _)] => Some(one.pid),
            [] => None,
            many => {
                let pids: Vec<String> = many.iter().map(|(p, _)| p.pid.to_string()).collect();
                self.say(
                    Level::Info,
                    Some(unit),
                    &format!(
                        "cannot guess the main PID: {} candidates ({})",
                        many.len(),
                        pids.join(", ")
                    ),
                );
                None
            }
        }
    }

    /// Says why an orphan that started since the unit's start process was
    /// not taken for the unit's: it runs as another user.
    fn say_why_not_taken(&mut self, unit: &str, others: &[(u32, u32)]) {
        if let Some((pid, uid)) = others.first() {
            let why = format!(
                "process {pid} started since, but runs as uid {uid}, not as the unit's user: \
                 not taken for its main PID (a daemon that changes its user after leaving the \
                 start process's session needs PIDFile=, written before it leaves, or MAINPID=)"
            );
            self.say(Level::Info, Some(unit), &why);
        }
    }

    /// The candidates for the unit's main PID, as [`Daemon::guess_main_pid`]
    /// describes them, each with whether it is in the unit's own groups, and
    /// the orphans left out only for running as another user (PID, real user
    /// ID). An orphan in a session or group of another unit's is that unit's,
    /// never a candidate: two forking units started together each left a
    /// daemon in its own group, and each took the other's for a candidate too.
    /// When the unit's latest process is not known (a take-over after its
    /// group was forgotten), none is taken by its start time: any orphan would
    /// pass.
    fn main_pid_candidates(&self, unit: &str) -> (Vec<Candidate>, Vec<(u32, u32)>) {
        let recorded = self.procs.groups.get(unit).cloned().unwrap_or_default();
        let spawned = self.procs.spawned.get(unit).copied();
        let since = recorded.iter().map(|g| g.1).chain(spawned).max();
        let groups = self.procs.groups.valid(&recorded);
        let me = self.procs.manager_pid;
        let user = self.unit_uid(unit);
        // Without cgroups, an orphan of the same user started since may be
        // any unit's: one whose environment has another unit's INVOCATION_ID
        // (two daemons forking at once, as at boot) is that unit's.
        // The other units up (their IDs are kept once they are down too).
        let others_ids: Vec<&[u8]> = (self.procs.last_main_invocations.iter())
            .filter(|(u, _)| *u != unit)
            .filter(|(u, _)| {
                (self.engine.state(u))
                    .is_some_and(|s| !matches!(s, State::Inactive | State::Failed))
            })
            .map(|(_, id)| id.as_bytes())
            .collect();
        let another_units = |pid: u32| {
            !others_ids.is_empty()
                && handover::invocation_of(pid)
                    .is_some_and(|id| others_ids.contains(&id.as_slice()))
        };
        let (mut candidates, mut others) = (Vec::new(), Vec::new());
        for p in all_processes() {
            if p.pid == me
                || p.ppid != me
                || self.procs.children.contains(&p.pid)
                || self.engine.unit_of_pid(p.pid).is_some()
            {
                continue;
            }
            let real = || uids(p.pid).map(|(real, _)| real);
            let theirs = |id: u32| id > 1 && id != me && self.procs.groups.holds(id);
            if in_unit_groups(&groups, &p) {
                candidates.push((p, true));
            } else if since.is_some_and(|t| p.start >= t)
                && !theirs(p.pgrp)
                && !theirs(p.session)
                && !another_units(p.pid)
            {
                match real() {
                    Some(uid) if Some(uid) == user => candidates.push((p, false)),
                    Some(uid) => others.push((p.pid, uid)),
                    None => {}
                }
            }
        }
        (candidates, others)
    }

    /// The user the unit's processes run as: its `DynamicUser=` account, its
    /// `User=` (a name in /etc/passwd, or a number), else the manager's.
    /// None when it cannot be told.
    fn unit_uid(&self, unit: &str) -> Option<u32> {
        if let Some(account) = self.procs.dynamic_users.get(unit) {
            return Some(account.uid);
        }
        let def = self.engine.run_definition(unit)?;
        match def.service.as_ref()?.user.as_ref() {
            None => Some(vigil_platform::geteuid()),
            Some(name) => vigil_spawn::users::system_user(name).map(|u| u.uid),
        }
    }

    /// Forking services without a main PID whose processes are all gone get
    /// [`Event::ProcessesGone`]. Runs after reaping: the last process of such a
    /// service is an orphan re-parented to vigild (the subreaper), so its end
    /// raises SIGCHLD here.
    pub(crate) fn check_pidless(&mut self) {
        if self.procs.pidless.is_empty() {
            return;
        }
        let units: Vec<String> = self.procs.pidless.iter().cloned().collect();
        let procs = all_processes();
        for unit in units {
            let running = self.engine.unit(&unit).is_some_and(|i| {
                i.main_pid.is_none() && matches!(i.state, State::Running | State::Reloading)
            });
            if !running {
                self.procs.pidless.remove(&unit);
                continue;
            }
            let groups = self.procs.groups.valid_of(&unit);
            if procs.iter().any(|p| in_unit_groups(&groups, p)) {
                continue;
            }
            self.procs.pidless.remove(&unit);
            let now = self.now();
            let _ = self.engine.handle(now, Event::ProcessesGone { unit });
            self.process_actions();
        }
    }

    /// The unit whose recorded sessions or process groups hold `pid`. The
    /// number alone is no proof once the group's leader is gone: the group may
    /// have emptied (its last process exited, or called setsid()) and anyone
    /// may have taken the number since (a process given that PID calls
    /// setsid(), forks and exits). Then `pid` must also descend from a
    /// process of the unit ([`Daemon::descends_from_unit`]). While the leader
    /// runs, as started (a later process with its PID is another), no one
    /// else can have the number.
    pub(crate) fn unit_of_session(&self, pid: u32) -> Option<String> {
        let p = proc_info(pid, &stat_fields(pid)?)?;
        let me = self.procs.manager_pid;
        self.procs.groups.iter().find_map(|(unit, list)| {
            let mut holds = list
                .iter()
                .filter(|g| g.0 != me && (g.0 == p.pgrp || g.0 == p.session))
                .peekable();
            holds.peek()?;
            let led = holds.any(|&group| self.procs.groups.led(group));
            (led || self.descends_from_unit(pid, unit)).then(|| unit.clone())
        })
    }

    /// Whether an ancestor of `pid` is a process `unit` tracks, or is in the
    /// process group of one, before any other unit's, vigild or PID 1 is
    /// met. An orphan vigild adopted proves nothing: anyone's process may
    /// become one (`setsid -f` under a service's tree).
    fn descends_from_unit(&self, pid: u32, unit: &str) -> bool {
        let mut parent = parent_of(pid);
        for _ in 0..16 {
            // One read of /proc a step: its group, and the next parent.
            let Some(p) = parent
                .filter(|&p| p > 1 && p != self.procs.manager_pid)
                .and_then(live_process)
            else {
                return false;
            };
            let owner = self.engine.unit_of_pid(p.pid);
            match owner.or_else(|| self.engine.unit_of_pid(p.pgrp)) {
                Some(owner) => return owner == unit,
                None => parent = Some(p.ppid),
            }
        }
        false
    }

    /// Reaps every child that has exited (SIGCHLD coalesces, so loop until none).
    /// A process of a unit is reaped only once a saved state has its end: should
    /// the manager die before, its zombie goes to vigil-init, which hands the
    /// status to the next manager. (Reaped first, the status died with the
    /// manager, and the next one took it for 0: a crashed service was not
    /// restarted, a failed ExecStartPre= passed.) Other orphans are reaped at once,
    /// and so is everything without vigil-init, which no next manager follows.
    ///
    /// At most [`REAPS_A_TURN`] ends a call: processes that keep ending (an
    /// orphan storm, services in a crash loop) would otherwise hold the
    /// manager in here for good, deaf to its clients, its pipes and its
    /// timers. What is left is reaped at the next turn of the loop
    /// ([`Procs::reap_pending`]).
    pub(crate) fn reap(&mut self) {
        self.procs.reap_pending = false;
        if self.init.is_none() {
            return self.reap_now();
        }
        self.procs.round = true;
        let mut budget = ReapBudget::new();
        loop {
            if budget.spent() {
                self.procs.reap_pending = true;
                break;
            }
            // What the children reaped in the last pass left is vigild's now.
            self.procs.candidates = None;
            let mut ended = Vec::new();
            loop {
                if budget.ends == 0 {
                    break;
                }
                match vigil_platform::peek_any() {
                    Ok(Some(first))
                        if self.procs.held.contains(&first.0) || self.tracks(first.0) =>
                    {
                        ended.push(first);
                        break;
                    }
                    Ok(Some((pid, _))) => {
                        budget.ends -= 1;
                        self.procs.note_reaped(pid);
                        let _ = vigil_platform::process::reap(pid);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        self.say(Level::Error, None, &format!("waitid: {e}"));
                        break;
                    }
                }
            }
            let Some(&(first, _)) = ended.first() else {
                break;
            };
            // The first stays first in the kernel's list until it is reaped: the
            // others that ended too are asked one by one.
            // A held one was handled already: not asked again.
            let held: HashSet<u32> = self.procs.held.iter().copied().collect();
            for &pid in self.procs.children.iter().filter(|&&p| p != first) {
                // No more than the turn's budget: the others wait, unreaped.
                if ended.len() >= budget.ends {
                    break;
                }
                if held.contains(&pid) {
                    continue;
                }
                if let Ok(Some(status)) = vigil_platform::process::peek(pid) {
                    ended.push((pid, status));
                }
            }
            // When the held first is all there is, this turn has nothing new.
            ended.retain(|(pid, _)| !held.contains(pid));
            if ended.is_empty() {
                break;
            }
            budget.ends = budget.ends.saturating_sub(ended.len());
            self.notifications_first();
            // What the ends ask for (a restart's spawn) is carried out once for
            // them all: a batch of spawns saves the state first, and a save for
            // each end (1 MB of JSON at 500 units) held a crash loop of many
            // units at some 15 ends a second.
            for &(pid, status) in &ended {
                self.end_of_child(pid, status);
            }
            self.process_actions();
            self.reap_once_saved(ended.iter().map(|&(pid, _)| pid).collect());
            // Should the first not be reaped after all, it would be found first
            // for ever: the next SIGCHLD tries again.
            if vigil_platform::process::peek(first).is_ok_and(|st| st.is_some()) {
                break;
            }
        }
        self.after_reaping();
    }

    /// Reads the notify socket before an exit just seen is handled: what a
    /// process sent before it ended (a READY=1 right before `exit`) is queued
    /// by then, and must not come after its end (systemd, too, reads
    /// notifications before SIGCHLD). Once per exit seen, not once per
    /// SIGCHLD: a child that sent and ended while others were being reaped
    /// is found by the same loop.
    pub(crate) fn notifications_first(&mut self) {
        self.on_notify();
    }

    /// Reaps and handles every exited child at once.
    fn reap_now(&mut self) {
        self.procs.round = true;
        let mut budget = ReapBudget::new();
        loop {
            if budget.spent() {
                self.procs.reap_pending = true;
                break;
            }
            budget.ends -= 1;
            // Looked at before it is reaped: its zombie still tells its
            // process group and session.
            let (pid, status) = match vigil_platform::peek_any() {
                Ok(Some(got)) => got,
                Ok(None) => break,
                Err(e) => {
                    self.say(Level::Error, None, &format!("waitid: {e}"));
                    break;
                }
            };
            self.procs.note_reaped(pid);
            if let Err(e) = vigil_platform::process::reap(pid) {
                self.say(Level::Error, None, &format!("waitid: {e}"));
                break;
            }
            self.notifications_first();
            self.child_exited(pid, status);
        }
        self.after_reaping();
    }

    fn child_exited(&mut self, pid: u32, status: vigil_platform::ExitStatus) {
        self.end_of_child(pid, status);
        self.process_actions();
    }

    /// A child's end for the engine, without carrying out what it asks for.
    fn end_of_child(&mut self, pid: u32, status: vigil_platform::ExitStatus) {
        if let Some(fd) = self.procs.watched.remove(&pid) {
            unwatch(&self.epoll, &fd);
        }
        self.procs.children.remove(&pid);
        // A process no unit tracks has just left its children to vigild.
        if self.engine.unit_of_pid(pid).is_none() {
            self.procs.candidates = None;
        }
        let now = self.now();
        let status = engine_status(status);
        self.process_ended(now, pid, status);
    }

    /// Whether `pid` is a process of a unit: its end must reach the next
    /// manager should this one die before it is saved.
    fn tracks(&self, pid: u32) -> bool {
        self.procs.children.contains(&pid)
            || self.procs.watched.contains_key(&pid)
            || self.engine.unit_of_pid(pid).is_some()
    }

    pub(crate) fn on_log_pipe(&mut self, idx: u64) {
        self.read_log_pipe(idx, usize::MAX);
    }

    /// Reads a log pipe (at most `max` bytes) as at its readable event, and
    /// hands the lines to the followers before any more is read (a read
    /// files no more than a ring keeps). Returns the bytes read.
    fn read_log_pipe(&mut self, idx: u64, max: usize) -> usize {
        let followed = self.clients.any_follower();
        let read = self.logs.on_readable(idx, &self.epoll, followed, max);
        self.clients.deliver_log(&self.logs, &self.epoll);
        read
    }
}

/// systemd's `$SERVICE_RESULT`, and `$EXIT_CODE` and `$EXIT_STATUS` once the
/// main process of this run has ended, for `ExecStop=` and `ExecStopPost=`
/// (systemd.exec(5)). Without core dump information a signal is `killed`.
fn stop_environment(result: Option<&Reason>, exit: Option<ExitStatus>) -> Vec<(String, String)> {
    let result = match result {
        None => "success",
        Some(Reason::ExitCode(_) | Reason::ExecFailed { .. }) => "exit-code",
        Some(Reason::Signal(_)) => "signal",
        Some(Reason::StartTimeout | Reason::StopTimeout) => "timeout",
        Some(Reason::Watchdog) => "watchdog",
        Some(Reason::StartLimitHit) => "start-limit-hit",
        Some(Reason::PidFile(_)) => "protocol",
        // Only ExecCondition= skips a unit that ran something.
        Some(Reason::ConditionFailed(_)) => "exec-condition",
        Some(_) => "resources",
    };
    let mut env = vec![("SERVICE_RESULT".to_string(), result.to_string())];
    let exit = exit.map(|e| match e {
        ExitStatus::Exited(code) => ("exited", code.to_string()),
        // systemd's signal_to_string() without SIG: TERM, RTMIN+6.
        ExitStatus::Signaled(sig) => match vigil_units::value::signal_name(sig) {
            Some(name) => ("killed", name.trim_start_matches("SIG").to_string()),
            None => ("killed", sig.to_string()),
        },
    });
    if let Some((code, status)) = exit {
        env.push(("EXIT_CODE".to_string(), code.to_string()));
        env.push(("EXIT_STATUS".to_string(), status));
    }
    env
}

fn check_conditions(
    unit: &vigil_units::Unit,
    default_env: &[(String, String)],
) -> Result<(), Reason> {
    use vigil_units::condition::evaluate_for_manager;
    evaluate_for_manager(&unit.conditions, false, default_env).map_err(Reason::ConditionFailed)?;
    evaluate_for_manager(&unit.asserts, true, default_env).map_err(Reason::AssertFailed)?;
    Ok(())
}

/// Takes out of `queue` what is due at `now`, in order; the rest stays.
fn take_due<T>(
    queue: &mut Vec<T>,
    now: vigil_engine::Time,
    at: impl Fn(&T) -> vigil_engine::Time,
) -> Vec<T> {
    let (due, wait) = std::mem::take(queue)
        .into_iter()
        .partition(|item| at(item) <= now);
    *queue = wait;
    due
}

/// The first pause before a PID file not written yet is read again, and the
/// longest (doubling in between).
const PID_FILE_RETRY_FIRST: Duration = Duration::from_millis(20);
const PID_FILE_RETRY_MAX: Duration = Duration::from_secs(1);

/// What a PID file holds; each error says why, naming the file.
enum PidFile {
    /// The PID, and the uid that owns the file.
    Pid(u32, u32),
    /// Missing or empty: not written yet.
    NotYet(String),
    Bad(String),
}

/// Reads a PID file as systemd does: the first line, a positive decimal number.
/// A regular file of at most 4 KiB, opened without waiting: the service may
/// have written anything there (a FIFO would hold the manager in its open, a
/// link to /dev/zero fill its memory).
fn read_pid_file(path: &std::path::Path) -> PidFile {
    use std::os::unix::fs::MetadataExt as _;
    let read = vigil_units::files::read_regular(path, 4096).map(|(bytes, meta)| {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        (text, answerable_owner(path, meta.uid()))
    });
    let (text, owner) = match read {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return PidFile::NotYet(format!("{}: {e}", path.display()));
        }
        Err(e) => return PidFile::Bad(format!("{}: {e}", path.display())),
    };
    let first = text.lines().next().unwrap_or("").trim();
    // What the file holds is not quoted: it is read as root, through links
    // the service's user may have made (to /etc/shadow), and the reason is
    // shown to anyone (`vigil status`), as systemd's "Failed to parse PID".
    let why = format!(
        "{}: no valid PID (a number above 1) on its first line",
        path.display()
    );
    match first.parse::<u32>() {
        Ok(pid) if pid > 1 => PidFile::Pid(pid, owner),
        _ if text.trim().is_empty() => PidFile::NotYet(why),
        _ => PidFile::Bad(why),
    }
}

/// Who answers for what a PID file says: its owner, unless another user
/// could have put something else at its path. Whoever owns a symlink on the
/// way, or a directory on it (a `RuntimeDirectory=` of the service's user),
/// chose what the path leads to: a service running as nobody could link its
/// PID file to a file root owns (`/run/sshd.pid`) and have root's process
/// taken for its main one, and killed at its stop. A directory anyone may
/// write without the sticky bit answers for no one (`u32::MAX`). Root and
/// the manager's own user are trusted, as for the file itself.
fn answerable_owner(path: &std::path::Path, file_owner: u32) -> u32 {
    use std::os::unix::fs::MetadataExt as _;
    let trusted = |uid: u32| uid == 0 || uid == vigil_platform::geteuid();
    let mut at = std::path::PathBuf::new();
    let mut components = path.components().peekable();
    while let Some(part) = components.next() {
        at.push(part);
        let Ok(meta) = std::fs::symlink_metadata(&at) else {
            continue;
        };
        let last = components.peek().is_none();
        if meta.file_type().is_symlink() && !trusted(meta.uid()) {
            return meta.uid();
        }
        if !last && meta.is_dir() {
            if !trusted(meta.uid()) {
                return meta.uid();
            }
            if meta.mode() & 0o002 != 0 && meta.mode() & 0o1000 == 0 {
                return u32::MAX;
            }
        }
    }
    file_owner
}

fn engine_status(status: vigil_platform::ExitStatus) -> ExitStatus {
    match status {
        vigil_platform::ExitStatus::Exited(c) => ExitStatus::Exited(c),
        vigil_platform::ExitStatus::Signaled(s) => ExitStatus::Signaled(s),
    }
}

/// The fields of /proc/PID/stat from the third (`state`) on: the command name
/// before them may contain spaces and parentheses.
pub(crate) fn stat_fields(pid: u32) -> Option<Vec<String>> {
    // Not fs::read_to_string: its size query and reads that start small cost
    // six system calls more on a file that reports no size.
    let mut file = File::open(format!("/proc/{pid}/stat")).ok()?;
    let mut stat = String::with_capacity(1024);
    file.read_to_string(&mut stat).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// The start time of the process that has PID `pid`, and whether it is a
/// zombie: one read of its stat.
fn holder(pid: u32) -> Option<(u64, bool)> {
    let fields = stat_fields(pid)?;
    let start = fields.get(22 - 3)?.parse().ok()?;
    Some((start, fields.first().map(String::as_str) == Some("Z")))
}

/// The exit status of a zombie (field 52, `exit_code`, in wait(2) format),
/// while its parent has not reaped it yet.
fn exit_status_from_proc(pid: u32) -> Option<ExitStatus> {
    let fields = stat_fields(pid)?;
    if fields.first().map(String::as_str) != Some("Z") {
        return None;
    }
    let code: i32 = fields.get(52 - 3)?.parse().ok()?;
    Some(if code & 0x7f == 0 {
        ExitStatus::Exited((code >> 8) & 0xff)
    } else {
        ExitStatus::Signaled(code & 0x7f)
    })
}

/// The start time of a child spawned after the clock read `before`: that
/// reading when the spawn took at most a tick, else the child's own from
/// /proc. Every comparison of start times allows a tick of slack (the child
/// started between the two readings), and the earlier reading is never after
/// a process the child made; the clock read after the spawn may be ticks past
/// them on a busy machine, and they would not count as the child's. Not /proc
/// each time: at a thousand spawns its reads and the dentries they leave (to
/// drop again at each exit) were the largest cost of starting after the clone.
fn spawned_start_time(pid: u32, before: u64) -> u64 {
    let after = vigil_platform::boot_ticks();
    if after <= before + 1 {
        return before;
    }
    start_time(pid).unwrap_or(before)
}

/// A process's start time (field 22, in clock ticks since boot): with the PID,
/// an identity that a reused PID does not share.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    stat_fields(pid)?.get(22 - 3)?.parse().ok()
}

/// `signal` to process group `id`, then SIGCONT (a stopped process must get
/// to act on it) unless it is SIGKILL; false when the group is empty (ESRCH,
/// expected: an empty group no longer exists).
fn signal_group(id: u32, signal: i32) -> bool {
    let there = vigil_platform::kill_group(id, signal).is_ok();
    if there && signal != libc_sig::SIGKILL {
        let _ = vigil_platform::kill_group(id, libc_sig::SIGCONT);
    }
    there
}

/// The groups a [`Action::KillLeftovers`] signals: those the unit's processes
/// were `started` in and those its leftovers were `found` in, once each, but
/// not the groups of its `tracked` processes (signalled with them) nor those
/// `done` already in this stop.
fn leftover_targets(
    started: &[u32],
    found: &[u32],
    tracked: &HashSet<u32>,
    done: &HashSet<u32>,
) -> Vec<u32> {
    let mut targets: Vec<u32> = started.iter().chain(found).copied().collect();
    targets.retain(|g| !tracked.contains(g) && !done.contains(g));
    targets.sort_unstable();
    targets.dedup();
    targets
}

/// vigild's children, from /proc/self/task/*/children (every thread's: a
/// process is the child of the thread that forked it).
fn own_children() -> Vec<u32> {
    children_in("/proc/self/task")
}

/// The children of process `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    children_in(&format!("/proc/{pid}/task"))
}

fn children_in(tasks: &str) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(tasks) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // Read in large pieces: each read makes the kernel walk the list from
    // its start again, so that small ones cost the square of its length.
    let mut buf = vec![0u8; 64 * 1024];
    for task in tasks.filter_map(Result::ok) {
        let Ok(mut file) = File::open(task.path().join("children")) else {
            continue;
        };
        let mut text = Vec::new();
        while let Ok(n @ 1..) = file.read(&mut buf) {
            text.extend_from_slice(buf.get(..n).unwrap_or_default());
        }
        let list = text.split(|b| b.is_ascii_whitespace());
        out.extend(list.filter_map(|n| std::str::from_utf8(n).ok()?.parse::<u32>().ok()));
    }
    out
}

/// A candidate for a unit's main PID, and whether it is in the unit's own
/// sessions or groups (else an orphan that left them).
type Candidate = (ProcInfo, bool);

/// What [`all_processes`] reads of one process.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProcInfo {
    pid: u32,
    ppid: u32,
    pgrp: u32,
    session: u32,
    /// Clock ticks since boot.
    start: u64,
}

/// Every live (not zombie) process, from /proc; processes that vanish while
/// it is read are skipped.
fn all_processes() -> Vec<ProcInfo> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(live_process)
        .collect()
}

/// What /proc tells of `pid` when it is a live process (not a zombie).
pub(crate) fn live_process(pid: u32) -> Option<ProcInfo> {
    let f = stat_fields(pid).filter(|f| f.first().is_some_and(|state| state != "Z"))?;
    proc_info(pid, &f)
}

/// The real and saved user IDs of a process (from the `Uid:` line of
/// /proc/PID/status: real, effective, saved, filesystem).
fn uids(pid: u32) -> Option<(u32, u32)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    let ids: Vec<u32> = line
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    Some((*ids.first()?, *ids.get(2)?))
}

/// Whether `uid` may signal a process of these real and saved user IDs, by
/// the kernel's rule for a sender without privilege (its real and effective
/// ID are `uid`). Not the effective ID: a root daemon that only made its
/// effective ID another user's is not that user's to signal.
fn signalled_by((real, saved): (u32, u32), uid: u32) -> bool {
    real == uid || saved == uid
}

/// The parent of a live process, from /proc.
pub(crate) fn parent_of(pid: u32) -> Option<u32> {
    proc_info(pid, &stat_fields(pid)?).map(|p| p.ppid)
}

/// [`ProcInfo`] from the fields [`stat_fields`] read.
fn proc_info(pid: u32, f: &[String]) -> Option<ProcInfo> {
    let num = |i: usize| f.get(i - 3)?.parse::<u64>().ok();
    Some(ProcInfo {
        pid,
        ppid: u32::try_from(num(4)?).ok()?,
        pgrp: u32::try_from(num(5)?).ok()?,
        session: u32::try_from(num(6)?).ok()?,
        start: num(22)?,
    })
}

/// Whether `p` is in one of `groups` (from [`Groups::valid`]) and started no
/// earlier than the group was recorded.
fn in_unit_groups(groups: &[(u32, u64)], p: &ProcInfo) -> bool {
    groups
        .iter()
        .any(|&(id, started)| (p.session == id || p.pgrp == id) && p.start + 1 >= started)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::{Groups, ProcInfo, in_unit_groups, leftover_targets};

    /// Review finding: a forking service whose start process the previous
    /// manager spawned and vigil-init reaped was recorded with the take-over
    /// time as its start, which disowned the daemon it left in its group
    /// (started earlier): "no process left", inactive. With a start of 0 the
    /// group's members are the unit's; a recorded start after them is not.
    #[test]
    fn a_group_recorded_without_its_start_time_takes_every_member() {
        // No process has this number (above any pid_max): the leader is gone.
        let gone = 999_999_999;
        let daemon = ProcInfo {
            pid: 4242,
            ppid: 1,
            pgrp: gone,
            session: gone,
            start: 100,
        };
        let unknown = Groups::default().valid(&[(gone, 0)]);
        assert!(in_unit_groups(&unknown, &daemon));
        let too_late = Groups::default().valid(&[(gone, 10_000)]);
        assert!(!in_unit_groups(&too_late, &daemon));
    }

    /// Review finding: a process that took an ended leader's PID within the
    /// tick of slack the start times allow passed for that leader. Once the
    /// leader is seen to end, the process with its number is another (this
    /// test's own process stands for it: alive, and started as recorded).
    #[test]
    fn a_group_whose_leader_ended_is_led_by_no_process_with_its_number() {
        let me = std::process::id();
        let group = (me, super::start_time(me).unwrap());
        let mut groups: Groups = [("u".to_string(), vec![group])].into_iter().collect();
        assert!(groups.led(group));
        assert_eq!(groups.valid(&[group]), [group]);
        groups.leader_ended(me);
        assert!(!groups.led(group));
        assert!(groups.valid(&[group]).is_empty());
        // A removed unit takes its marks with it.
        groups.remove("u");
        assert_eq!(groups.ended().count(), 0);
    }

    /// Review finding: the main process's group got KillSignal= twice at a
    /// stop when an earlier process had left a helper (once with the main
    /// process, once with the leftovers).
    #[test]
    fn leftovers_are_signalled_once_and_never_with_a_tracked_process() {
        let none = HashSet::new();
        // The ExecStartPre= helper's group 10, the main process's 20 (tracked),
        // a job-control shell's job in 30.
        let tracked = HashSet::from([20]);
        let targets = leftover_targets(&[10, 20], &[10, 30], &tracked, &none);
        assert_eq!(targets, [10, 30]);
        // The main process gone, its group got the signal with it already.
        let done = HashSet::from([20]);
        assert_eq!(leftover_targets(&[10, 20], &[20], &none, &done), [10]);
        // `vigil kill` (nothing done): every group again.
        assert_eq!(leftover_targets(&[10, 20], &[20], &none, &none), [10, 20]);
    }
}
