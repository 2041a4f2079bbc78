//! `vigil show`: what the manager knows of each unit, and of itself, as
//! data (`vigil_proto::UnitProperties`, `ManagerProperties`). The names
//! and formats of systemctl show are the client's (crates/vigil/src/show.rs);
//! here a fact vigil does not have is left out, never made up.
//!
//! It also keeps each unit's [`History`]: when it last became active and
//! inactive, its last main PID and how the last check of its conditions
//! and asserts went, which the engine does not keep (its
//! per-unit slot is kept small on purpose: it has one `since` only).

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use vigil_engine::{Reason, State};
use vigil_proto::{
    Body, DependencyProperties, ExecLine, ListenProperty, ManagerProperties, Reply,
    ServiceProperties, SocketProperties, UnitProperties,
};
use vigil_units::model::{
    Format, KillMode, ListenKind, NotifyAccess, RestartPolicy, ServiceType, Socket, Unit, UnitKind,
    WorkingDirectory,
};

use crate::daemon::Daemon;

/// When a unit last crossed between systemd's inactive, activating and
/// active (wall-clock µs), and the PID of its last main process: what
/// `show` reports as ActiveEnterTimestamp, ExecMainPID... Carried across a
/// `vigil reexec` and a restart of the manager with the rest of its state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inactive_exit_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    active_enter_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    active_exit_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inactive_enter_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exec_main_pid: Option<u32>,
    /// A socket unit's connections accepted (Accept=yes): NAccepted.
    #[serde(default, skip_serializing_if = "is_zero")]
    n_accepted: u32,
    /// When the conditions were last checked, and whether they held:
    /// ConditionTimestamp, ConditionResult.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    condition_us: Option<u64>,
    #[serde(default, skip_serializing_if = "is_false")]
    condition_ok: bool,
    /// The same for the asserts: AssertTimestamp, AssertResult.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    assert_us: Option<u64>,
    #[serde(default, skip_serializing_if = "is_false")]
    assert_ok: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Down as systemd counts it for its timestamps: inactive or failed, or
/// only waiting for the start job to run (systemd's unit is still `dead`
/// while its job waits).
fn down(state: State) -> bool {
    matches!(state, State::Inactive | State::Failed | State::Waiting)
}

impl History {
    /// Notes a change of state at `now_us`, as systemd stamps its unit
    /// when it leaves or enters the inactive and the active states.
    pub(crate) fn state_changed(&mut self, from: State, to: State, now_us: u64) {
        if down(from) && !down(to) {
            self.inactive_exit_us = Some(now_us);
        }
        if !from.is_active() && to.is_active() {
            self.active_enter_us = Some(now_us);
        }
        if from.is_active() && !to.is_active() {
            self.active_exit_us = Some(now_us);
        }
        if !down(from) && down(to) {
            self.inactive_enter_us = Some(now_us);
        }
    }

    pub(crate) fn main_pid(&mut self, pid: u32) {
        self.exec_main_pid = Some(pid);
    }

    fn accepted(&mut self) {
        self.n_accepted = self.n_accepted.saturating_add(1);
    }

    /// Notes the answer to a check of the conditions and asserts at
    /// `now_us`. As systemd's unit_start(), the asserts are checked only
    /// when the conditions hold: a failed condition leaves them as they were.
    pub(crate) fn checked(&mut self, result: &Result<(), Reason>, now_us: u64) {
        self.condition_us = Some(now_us);
        self.condition_ok = !matches!(result, Err(Reason::ConditionFailed(_)));
        if self.condition_ok {
            self.assert_us = Some(now_us);
            self.assert_ok = result.is_ok();
        }
    }
}

impl Daemon {
    /// Notes how the check of `unit`'s conditions and asserts went (at
    /// [`vigil_engine::Action::CheckConditions`]).
    pub(crate) fn note_checked(&mut self, unit: &str, result: &Result<(), Reason>) {
        let now_us = self.wall_us(self.now());
        (self.history.entry(unit.to_string()).or_default()).checked(result, now_us);
    }

    /// Notes the main process a unit was given (at its spawn).
    pub(crate) fn note_main_pid(&mut self, unit: &str, pid: u32) {
        self.history
            .entry(unit.to_string())
            .or_default()
            .main_pid(pid);
    }
}

/// systemd's `Result=` for vigil's reason; None for a reason systemd has
/// no result for (it failed to load, an ordering cycle). Only the start
/// job failed for a dependency or an assertion: the unit's is a success.
fn result_word(reason: Option<&Reason>) -> Option<&'static str> {
    Some(match reason {
        None
        | Some(
            Reason::DependencyFailed(_)
            | Reason::AssertFailed(_)
            | Reason::ConditionFailed(_)
            | Reason::Conflict(_),
        ) => "success",
        // A program that could not be run exits 203 (EXEC) and the like in
        // systemd: an exit code.
        Some(Reason::ExitCode(_) | Reason::ExecFailed { .. }) => "exit-code",
        // vigil does not tell a core dump from the signal that made it.
        Some(Reason::Signal(_)) => "signal",
        Some(Reason::StartTimeout | Reason::StopTimeout) => "timeout",
        Some(Reason::StartLimitHit) => "start-limit-hit",
        Some(Reason::Watchdog) => "watchdog",
        // The PID file of a Type=forking service was not there to read.
        Some(Reason::PidFile(_)) => "protocol",
        Some(Reason::Socket(why)) if why.starts_with(crate::sockets::TRIGGER_LIMIT_HIT) => {
            "trigger-limit-hit"
        }
        Some(Reason::Socket(_)) => "resources",
        Some(Reason::LoadError(_) | Reason::Cycle(_)) => return None,
    })
}

fn service_type(service: &vigil_units::model::Service) -> &'static str {
    match service.service_type {
        ServiceType::Simple => "simple",
        ServiceType::Exec => "exec",
        ServiceType::Oneshot => "oneshot",
        ServiceType::Notify if service.notify_reload => "notify-reload",
        ServiceType::Notify => "notify",
        ServiceType::Forking => "forking",
    }
}

fn restart_word(policy: RestartPolicy) -> &'static str {
    match policy {
        RestartPolicy::No => "no",
        RestartPolicy::Always => "always",
        RestartPolicy::OnSuccess => "on-success",
        RestartPolicy::OnFailure => "on-failure",
        RestartPolicy::OnAbnormal => "on-abnormal",
        RestartPolicy::OnAbort => "on-abort",
        RestartPolicy::OnWatchdog => "on-watchdog",
    }
}

fn kill_mode_word(mode: KillMode) -> &'static str {
    match mode {
        KillMode::ControlGroup => "control-group",
        KillMode::Process => "process",
        KillMode::Mixed => "mixed",
        KillMode::None => "none",
    }
}

fn notify_access_word(access: NotifyAccess) -> &'static str {
    match access {
        NotifyAccess::None => "none",
        NotifyAccess::Main => "main",
        NotifyAccess::Exec => "exec",
        NotifyAccess::All => "all",
    }
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// `StartLimitIntervalSec=` in µs: the loader keeps `infinity` as about
/// 136 years (u32::MAX seconds, so the engine's arithmetic cannot
/// overflow); systemd says `infinity`.
fn start_limit_interval_us(unit: &Unit) -> u64 {
    let interval = unit.start_limit.interval;
    match interval >= std::time::Duration::from_secs(u64::from(u32::MAX)) {
        true => u64::MAX,
        false => micros(interval),
    }
}

/// systemd's word for a `Listen*=` line's type (`socket_port_type`).
fn listen_word(kind: ListenKind) -> &'static str {
    match kind {
        ListenKind::Stream => "Stream",
        ListenKind::Datagram => "Datagram",
        ListenKind::SequentialPacket => "SequentialPacket",
        ListenKind::Fifo => "FIFO",
        ListenKind::Netlink => "Netlink",
    }
}

/// A socket unit's settings, as `show` reports them; the counts are the
/// caller's.
fn socket_properties(socket: &Socket) -> SocketProperties {
    SocketProperties {
        listen: (socket.listen.iter())
            .map(|l| ListenProperty {
                kind: listen_word(l.kind).into(),
                address: l.address.to_string(),
            })
            .collect(),
        accept: socket.accept,
        backlog: socket.backlog,
        bind_ipv6_only: match socket.bind_ipv6_only {
            None => "default",
            Some(true) => "ipv6-only",
            Some(false) => "both",
        }
        .into(),
        socket_user: socket.user.clone(),
        socket_group: socket.group.clone(),
        socket_mode: socket.socket_mode,
        directory_mode: socket.directory_mode,
        free_bind: socket.free_bind,
        pass_credentials: socket.pass_credentials,
        reuse_port: socket.reuse_port,
        remove_on_stop: socket.remove_on_stop,
        symlinks: (socket.symlinks.iter())
            .map(|p| p.display().to_string())
            .collect(),
        max_connections: socket.max_connections,
        fd_name: socket.fd_name.clone(),
        n_connections: 0,
        n_accepted: 0,
    }
}

/// A unit's service settings, as `show` reports them.
fn service_properties(unit: &Unit) -> Option<ServiceProperties> {
    let s = unit.service.as_ref()?;
    let infinite = |t: Option<std::time::Duration>| t.map_or(u64::MAX, micros);
    let working_directory = s.working_directory.as_ref().map(|w| {
        let dir = match &w.dir {
            WorkingDirectory::Home => "~".to_string(),
            WorkingDirectory::Path(p) => p.display().to_string(),
        };
        match w.optional {
            true => format!("!{dir}"),
            false => dir,
        }
    });
    Some(ServiceProperties {
        service_type: service_type(s).into(),
        restart: restart_word(s.restart).into(),
        restart_us: micros(s.restart_sec),
        timeout_start_us: infinite(s.timeout_start),
        timeout_stop_us: infinite(s.timeout_stop),
        exec_start: (s.exec_start.iter())
            .map(|c| ExecLine {
                path: c.program.clone(),
                argv: c.argv.clone(),
                ignore_errors: c.ignore_failure,
            })
            .collect(),
        user: (*s.user).clone(),
        group: (*s.group).clone(),
        working_directory,
        environment: (s.environment.iter())
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        kill_mode: kill_mode_word(s.kill_mode).into(),
        kill_signal: s.kill_signal,
        send_sigkill: s.send_sigkill,
        remain_after_exit: s.remain_after_exit,
        notify_access: notify_access_word(s.notify_access).into(),
        timeout_abort_us: infinite(s.timeout_abort),
        watchdog_us: s.watchdog.map_or(0, micros),
    })
}

/// The reverse dependencies of every loaded unit, worked out once for a
/// whole `show` request: who wants, requires and is ordered before each.
#[derive(Default)]
struct Reverse {
    wanted_by: HashMap<String, BTreeSet<String>>,
    required_by: HashMap<String, BTreeSet<String>>,
    before: HashMap<String, BTreeSet<String>>,
}

impl Daemon {
    /// Notes a unit's change of state for `show` (called for each
    /// `StateChanged`).
    pub(crate) fn note_state_change(&mut self, unit: &str, from: State, to: State) {
        let now_us = self.wall_us(self.now());
        // A forking service's main process is known once it runs (the
        // others' at their spawn): the unit's whole report only then.
        let main_pid = (to == State::Running)
            .then(|| self.engine.unit(unit).and_then(|u| u.main_pid))
            .flatten();
        // A start begins: the engine checks the conditions of a unit that
        // has some (its answer is noted then); one with none passes them
        // now, as systemd's check of an empty list.
        let unchecked = down(from)
            && !down(to)
            && (self.engine.run_definition(unit))
                .is_some_and(|u| u.conditions.is_empty() && u.asserts.is_empty());
        let history = self.history.entry(unit.to_string()).or_default();
        history.state_changed(from, to, now_us);
        if let Some(pid) = main_pid {
            history.main_pid(pid);
        }
        if unchecked {
            history.checked(&Ok(()), now_us);
        }
        // An instance started for a connection: its socket accepted one
        // (the connection is held from the accept until the instance is
        // done with it).
        if down(from)
            && !down(to)
            && let Some(socket) = self.connection_socket(unit).map(String::from)
        {
            self.history.entry(socket).or_default().accepted();
        }
    }

    /// `vigil show`: the properties of each unit named (a pattern: of every
    /// loaded unit it matches), or the manager's when none is.
    pub(crate) fn show(&mut self, id: u64, units: &[String]) -> Reply {
        if units.is_empty() {
            let manager = self.manager_properties();
            return Reply::ok(
                id,
                Body::Show {
                    units: Vec::new(),
                    manager: Some(manager),
                },
            );
        }
        let reverse = self.reverse_dependencies();
        let triggers = self.socket_triggers();
        // Read once for every name, as is-enabled reads them.
        let set = vigil_units::load::load_dirs(&self.opts.config_dirs, &self.spec_ctx);
        let file_state = |name: &str| self.unit_file_state(&set, name).0.to_string();
        let plain = self.plain_names(units);
        let instances = self.unloaded_instances(&plain);
        let mut out: Vec<UnitProperties> = Vec::new();
        let mut shown = std::collections::HashSet::new();
        // Each pattern matched once for the request, however often named.
        let mut matches = self.match_patterns(units);
        for u in units {
            let names: Vec<String> = match vigil_units::glob::is_glob(u) {
                // A pattern named again shows nothing new.
                true => match matches.take(u) {
                    Some(names) => names,
                    None => continue,
                },
                false => vec![self.unit_name(u)],
            };
            for name in names.into_iter().filter(|n| shown.insert(n.clone())) {
                let mut props = match (self.engine.definition(&name), instances.get(&name)) {
                    (Some(def), _) => self.loaded_properties(&name, &def, &reverse),
                    (None, Some(unit)) => self.unloaded_properties(unit),
                    (None, None) => self.missing_properties(&name),
                };
                if props.load_state != "not-found" {
                    props.unit_file_state = Some(file_state(&name));
                }
                if let Some(deps) = props.deps.as_mut() {
                    deps.triggered_by = triggers.of(&name);
                }
                out.push(props);
            }
        }
        Reply::ok(
            id,
            Body::Show {
                units: out,
                manager: None,
            },
        )
    }

    fn reverse_dependencies(&self) -> Reverse {
        let mut reverse = Reverse::default();
        for (name, _) in self.engine.states() {
            let Some(def) = self.engine.definition(name) else {
                continue;
            };
            for (lists, map) in [
                (&def.deps.wants, &mut reverse.wanted_by),
                (&def.deps.requires, &mut reverse.required_by),
            ] {
                for dep in lists {
                    map.entry(dep.clone()).or_default().insert(name.to_string());
                }
            }
        }
        // The engine's `after` holds both directions (its graph); what is
        // after a unit, the unit is before.
        for info in self.engine.units() {
            for dep in &info.after {
                let before = reverse.before.entry(dep.clone()).or_default();
                before.insert(info.name.clone());
            }
        }
        reverse
    }

    /// The names of a unit: its own, then its aliases, sorted. An instance
    /// is also named by each alias of its template (`bar@x.service` for
    /// `foo@x.service`, with `bar@.service` a link to `foo@.service` or
    /// `Alias=bar@.service` enabled), as systemd names the instance it
    /// loads.
    fn names_of(&self, name: &str) -> Vec<String> {
        use vigil_units::name;
        let template = name::template_of(name);
        let instance = name::split_instance(name).map_or("", |p| p.instance);
        let aliases: BTreeSet<String> = (self.aliases.iter())
            .filter_map(|(alias, unit)| match template.as_deref() {
                _ if unit == name => Some(alias.clone()),
                Some(t) if unit == t && name::is_template(alias) => {
                    name::instance_name(alias, instance)
                }
                _ => None,
            })
            .filter(|alias| alias != name)
            .collect();
        std::iter::once(name.to_string()).chain(aliases).collect()
    }

    fn loaded_properties(&self, name: &str, def: &Unit, reverse: &Reverse) -> UnitProperties {
        let info = self.engine.unit(name);
        let history = self.history.get(name).copied().unwrap_or_default();
        let reason = info.as_ref().and_then(|i| i.reason.as_ref());
        let (load_state, load_error) = match reason {
            Some(Reason::LoadError(why)) => ("bad-setting", Some(why.clone())),
            // Masked while it runs: its file is gone for the loader, but the
            // mask is why, as systemd says (a tester's finding: not-found).
            _ if self.masked.contains_key(name) => ("masked", Some(self.unknown_unit(name))),
            _ if info.as_ref().is_some_and(|i| i.removed) => {
                ("not-found", Some(vigil_proto::FILE_REMOVED.to_string()))
            }
            _ => ("loaded", None),
        };
        let loaded = load_state == "loaded";
        let state = match info.as_ref().map_or(State::Inactive, |i| i.state) {
            // systemd's unit that did not load is inactive, not failed.
            State::Failed if load_state == "bad-setting" => State::Inactive,
            state => state,
        };
        let last_exit = info.as_ref().and_then(|i| i.last_exit);
        let (code, status) = match last_exit {
            Some(vigil_engine::ExitStatus::Exited(c)) => (Some(1), Some(c)),
            Some(vigil_engine::ExitStatus::Signaled(s)) => (Some(2), Some(s)),
            None => (None, None),
        };
        let main_pid = info.as_ref().and_then(|i| i.main_pid);
        let list = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v.dedup();
            v
        };
        let reversed = |map: &HashMap<String, BTreeSet<String>>| {
            (map.get(name).into_iter().flatten().cloned()).collect::<Vec<_>>()
        };
        let socket = def.socket.as_ref();
        let deps = DependencyProperties {
            requires: list(&def.deps.requires),
            requisite: list(&def.deps.requisite),
            wants: list(&def.deps.wants),
            binds_to: list(&def.deps.binds_to),
            part_of: list(&def.deps.part_of),
            required_by: reversed(&reverse.required_by),
            wanted_by: reversed(&reverse.wanted_by),
            conflicts: list(&def.deps.conflicts),
            before: reversed(&reverse.before),
            after: list(info.as_ref().map_or(&[][..], |i| &i.after)),
            on_failure: list(&def.deps.on_failure),
            // With Accept=yes, an instance per connection: no one unit.
            triggers: (socket.filter(|s| !s.accept).into_iter())
                .map(|s| s.service.clone())
                .collect(),
            triggered_by: Vec::new(),
        };
        let service = def.service.as_ref();
        UnitProperties {
            name: name.to_string(),
            names: self.names_of(name),
            load_state: load_state.into(),
            load_error,
            state: state.to_string(),
            description: def.description.clone(),
            unit_file_state: None,
            fragment_path: (def.source.as_ref())
                .or_else(|| self.broken_paths.get(name))
                .map(|p| p.display().to_string()),
            drop_in_paths: (def.dropins.iter())
                .map(|p| p.display().to_string())
                .collect(),
            main_pid,
            exec_main_pid: main_pid.or(history.exec_main_pid),
            exec_main_code: code,
            exec_main_status: status,
            restarts: info.as_ref().map_or(0, |i| i.restarts),
            result: result_word(reason).map(String::from),
            // A unit never started has no change to tell (systemd: n/a).
            state_change_us: (info.as_ref())
                .filter(|_| self.history.contains_key(name) || state != State::Inactive)
                .map(|i| self.wall_us(i.since.min(self.now()))),
            inactive_exit_us: history.inactive_exit_us,
            active_enter_us: history.active_enter_us,
            active_exit_us: history.active_exit_us,
            inactive_enter_us: history.inactive_enter_us,
            condition_result: history.condition_ok,
            assert_result: history.assert_ok,
            condition_us: history.condition_us,
            assert_us: history.assert_us,
            status_text: info.as_ref().and_then(|i| i.status_text.clone()),
            status_errno: info.as_ref().and_then(|i| i.status_errno),
            control_pid: info.as_ref().and_then(|i| i.control_pid),
            start_limit_interval_us: loaded.then(|| start_limit_interval_us(def)),
            start_limit_burst: loaded.then_some(def.start_limit.burst),
            socket: (socket.filter(|_| loaded)).map(|s| SocketProperties {
                n_connections: u32::try_from(self.open_connections(name)).unwrap_or(u32::MAX),
                n_accepted: history.n_accepted,
                ..socket_properties(s)
            }),
            service: service_properties(def).filter(|_| loaded),
            deps: Some(deps),
            can_start: loaded && !def.refuse_manual_start,
            can_stop: !def.refuse_manual_stop,
            can_reload: service.is_some_and(vigil_units::Service::can_reload),
            refuse_manual_start: def.refuse_manual_start,
            refuse_manual_stop: def.refuse_manual_stop,
            need_daemon_reload: self.need_daemon_reload(name),
        }
    }

    /// An instance of a template that is not loaded: read from its
    /// template, inactive, never run (as systemctl loads it to show it).
    fn unloaded_properties(&self, unit: &Unit) -> UnitProperties {
        let list = |v: &[String]| v.to_vec();
        let service = unit.service.as_ref();
        UnitProperties {
            name: unit.name.clone(),
            names: self.names_of(&unit.name),
            load_state: "loaded".into(),
            state: State::Inactive.to_string(),
            description: unit.description.clone(),
            fragment_path: unit.source.as_ref().map(|p| p.display().to_string()),
            drop_in_paths: (unit.dropins.iter())
                .map(|p| p.display().to_string())
                .collect(),
            result: Some("success".into()),
            start_limit_interval_us: Some(start_limit_interval_us(unit)),
            start_limit_burst: Some(unit.start_limit.burst),
            socket: unit.socket.as_ref().map(socket_properties),
            service: service_properties(unit),
            deps: Some(DependencyProperties {
                requires: list(&unit.deps.requires),
                requisite: list(&unit.deps.requisite),
                wants: list(&unit.deps.wants),
                binds_to: list(&unit.deps.binds_to),
                part_of: list(&unit.deps.part_of),
                conflicts: list(&unit.deps.conflicts),
                before: list(&unit.deps.before),
                after: list(&unit.deps.after),
                on_failure: list(&unit.deps.on_failure),
                ..DependencyProperties::default()
            }),
            can_start: !unit.refuse_manual_start,
            can_stop: !unit.refuse_manual_stop,
            can_reload: service.is_some_and(vigil_units::Service::can_reload),
            refuse_manual_start: unit.refuse_manual_start,
            refuse_manual_stop: unit.refuse_manual_stop,
            ..UnitProperties::default()
        }
    }

    /// A name with no unit: not found, or masked; inactive.
    fn missing_properties(&self, name: &str) -> UnitProperties {
        let masked = self.masked.contains_key(name);
        // systemd answers for a service it has no file of with a service's
        // defaults (MainPID=0, Type=simple, Result=success...): a script's
        // `[ "$(vigil show -p MainPID --value x)" -gt 0 ]` reads a number.
        // The unit-wide defaults too (StartLimitBurst=5...), for any type.
        let defaults =
            vigil_units::name::kind_of(name).map(|k| Unit::new(name, k, Format::Builtin));
        let service = (defaults.as_ref())
            .filter(|unit| unit.kind == UnitKind::Service)
            .and_then(service_properties);
        UnitProperties {
            name: name.to_string(),
            names: vec![name.to_string()],
            need_daemon_reload: self.need_daemon_reload(name),
            load_state: if masked { "masked" } else { "not-found" }.into(),
            load_error: Some(self.unknown_unit(name)),
            state: State::Inactive.to_string(),
            result: service.is_some().then(|| "success".into()),
            service,
            start_limit_interval_us: defaults.as_ref().map(start_limit_interval_us),
            start_limit_burst: defaults.as_ref().map(|u| u.start_limit.burst),
            ..UnitProperties::default()
        }
    }

    /// The manager's own properties (`vigil show` without a unit).
    fn manager_properties(&self) -> ManagerProperties {
        let units = self.engine.states().count() as u64;
        let failed = self.failed_units() as u64;
        let aliases = (self.aliases.values())
            .filter(|unit| self.engine.contains(unit))
            .count();
        ManagerProperties {
            version: env!("CARGO_PKG_VERSION").into(),
            // The word is-system-running says.
            system_state: self.system_state().into(),
            n_names: units + u64::try_from(aliases).unwrap_or(u64::MAX),
            n_failed_units: failed,
            n_jobs: u64::try_from(self.engine.jobs().len()).unwrap_or(u64::MAX),
            unit_path: (self.load_path().iter())
                .map(|p| p.display().to_string())
                .collect(),
            queued_reply_bytes: u64::try_from(self.clients.pending_total()).ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_stamps_the_crossings_as_systemd() {
        let mut h = History::default();
        h.state_changed(State::Inactive, State::Waiting, 1);
        assert_eq!(h, History::default(), "a job waiting is still down");
        h.state_changed(State::Waiting, State::Starting, 2);
        h.state_changed(State::Starting, State::Running, 3);
        h.state_changed(State::Running, State::Reloading, 4);
        h.state_changed(State::Reloading, State::Running, 5);
        assert_eq!(h.inactive_exit_us, Some(2));
        assert_eq!(h.active_enter_us, Some(3), "a reload is no new activation");
        assert_eq!(h.active_exit_us, None);
        h.state_changed(State::Running, State::Stopping, 6);
        h.state_changed(State::Stopping, State::Failed, 7);
        assert_eq!(h.active_exit_us, Some(6));
        assert_eq!(h.inactive_enter_us, Some(7));
        h.state_changed(State::Failed, State::Inactive, 8);
        assert_eq!(h.inactive_enter_us, Some(7), "reset-failed stays down");
    }

    #[test]
    fn a_failed_condition_leaves_the_asserts_unchecked() {
        let mut h = History::default();
        h.checked(&Ok(()), 1);
        let assert = Err(Reason::AssertFailed("AssertPathExists=/x".into()));
        h.checked(&assert, 2);
        assert_eq!((h.condition_us, h.condition_ok), (Some(2), true));
        assert_eq!((h.assert_us, h.assert_ok), (Some(2), false));
        let condition = Err(Reason::ConditionFailed("ConditionPathExists=/x".into()));
        h.checked(&condition, 3);
        assert_eq!((h.condition_us, h.condition_ok), (Some(3), false));
        assert_eq!((h.assert_us, h.assert_ok), (Some(2), false));
    }

    #[test]
    fn results_in_systemds_words() {
        assert_eq!(result_word(None), Some("success"));
        assert_eq!(result_word(Some(&Reason::ExitCode(3))), Some("exit-code"));
        assert_eq!(result_word(Some(&Reason::Signal(9))), Some("signal"));
        assert_eq!(result_word(Some(&Reason::StartTimeout)), Some("timeout"));
        assert_eq!(
            result_word(Some(&Reason::StartLimitHit)),
            Some("start-limit-hit")
        );
        assert_eq!(result_word(Some(&Reason::Cycle("a".into()))), None);
        let hit = format!("{}: more than 20", crate::sockets::TRIGGER_LIMIT_HIT);
        assert_eq!(
            result_word(Some(&Reason::Socket(hit))),
            Some("trigger-limit-hit")
        );
        let bind = "ListenStream=/x: bind: Address already in use".to_string();
        assert_eq!(result_word(Some(&Reason::Socket(bind))), Some("resources"));
    }
}
