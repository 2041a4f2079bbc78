//! A harness that drives the engine with injected events and no processes:
//! units built with a few setters, pids handed out by the harness, time moved
//! by hand.

#![allow(dead_code)]

use std::time::Duration;

use vigil_engine::{Action, Engine, EngineError, Event, ExitStatus, Reason, Role, State, UnitInfo};
use vigil_units::{
    ExecCommand, Format, KillMode, NotifyAccess, RestartPolicy, Service, ServiceType, Unit,
    UnitKind,
};

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub fn cmd(program: &str) -> ExecCommand {
    ExecCommand {
        program: program.to_string(),
        argv: vec![program.to_string()],
        line: 1,
        ..ExecCommand::default()
    }
}

/// `-/bin/x`: failure ignored.
pub fn cmd_ignore(program: &str) -> ExecCommand {
    ExecCommand {
        ignore_failure: true,
        ..cmd(program)
    }
}

/// A simple service running `/bin/NAME-without-suffix`.
pub fn service(name: &str) -> Unit {
    let mut u = Unit::new(name, UnitKind::Service, Format::UnitFile);
    let program = format!("/bin/{}", name.trim_end_matches(".service"));
    if let Some(s) = u.service.as_mut() {
        s.exec_start = vec![cmd(&program)];
    }
    u
}

pub fn target(name: &str) -> Unit {
    Unit::new(name, UnitKind::Target, Format::UnitFile)
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Setters for building units quickly.
pub trait Build: Sized {
    fn unit(self, f: impl FnOnce(&mut Unit)) -> Self;
    fn svc(self, f: impl FnOnce(&mut Service)) -> Self;

    fn requires(self, l: &[&str]) -> Self {
        self.unit(|u| u.deps.requires.extend(names(l)))
    }
    fn wants(self, l: &[&str]) -> Self {
        self.unit(|u| u.deps.wants.extend(names(l)))
    }
    fn binds_to(self, l: &[&str]) -> Self {
        self.unit(|u| u.deps.binds_to.extend(names(l)))
    }
    fn part_of(self, l: &[&str]) -> Self {
        self.unit(|u| u.deps.part_of.extend(names(l)))
    }
    fn requisite(self, l: &[&str]) -> Self {
        self.unit(|u| u.deps.requisite.extend(names(l)))
    }
    fn conflicts(self, l: &[&str]) -> Self {
        self.unit(|u| u.deps.conflicts.extend(names(l)))
    }
    fn after(self, l: &[&str]) -> Self {
        self.unit(|u| u.deps.after.extend(names(l)))
    }
    fn before(self, l: &[&str]) -> Self {
        self.unit(|u| u.deps.before.extend(names(l)))
    }
    /// Requires= and After= together, the usual pair.
    fn needs(self, l: &[&str]) -> Self {
        self.requires(l).after(l)
    }
    /// The type; Type=notify with NotifyAccess=main, as the parser sets an
    /// unset NotifyAccess= for it.
    fn ty(self, t: ServiceType) -> Self {
        self.svc(|s| {
            s.service_type = t;
            if t == ServiceType::Notify {
                s.notify_access = NotifyAccess::Main;
            }
        })
    }
    fn exec(self, l: &[&str]) -> Self {
        self.svc(|s| s.exec_start = l.iter().map(|p| cmd(p)).collect())
    }
    fn cond_exec(self, c: ExecCommand) -> Self {
        self.svc(|s| s.exec_condition.push(c))
    }
    fn pre(self, c: ExecCommand) -> Self {
        self.svc(|s| s.exec_start_pre.push(c))
    }
    fn post(self, c: ExecCommand) -> Self {
        self.svc(|s| s.exec_start_post.push(c))
    }
    fn stop_cmd(self, c: ExecCommand) -> Self {
        self.svc(|s| s.exec_stop.push(c))
    }
    fn stop_post(self, c: ExecCommand) -> Self {
        self.svc(|s| s.exec_stop_post.push(c))
    }
    fn reload_cmd(self, c: ExecCommand) -> Self {
        self.svc(|s| s.exec_reload.push(c))
    }
    fn remain(self) -> Self {
        self.svc(|s| s.remain_after_exit = true)
    }
    fn restart(self, p: RestartPolicy) -> Self {
        self.svc(|s| s.restart = p)
    }
    fn restart_sec(self, d: Duration) -> Self {
        self.svc(|s| s.restart_sec = d)
    }
    fn timeout_start(self, d: Option<Duration>) -> Self {
        self.svc(|s| s.timeout_start = d)
    }
    fn timeout_stop(self, d: Option<Duration>) -> Self {
        self.svc(|s| s.timeout_stop = d)
    }
    fn kill_mode(self, m: KillMode) -> Self {
        self.svc(|s| s.kill_mode = m)
    }
    fn notify_access(self, a: NotifyAccess) -> Self {
        self.svc(|s| s.notify_access = a)
    }
    fn test_cmd(self, c: ExecCommand) -> Self {
        self.svc(|s| *s.ready_test = Some(c))
    }
    fn limit(self, burst: u32, interval: Duration) -> Self {
        self.unit(|u| {
            u.start_limit.burst = burst;
            u.start_limit.interval = interval;
        })
    }
    fn condition(self) -> Self {
        self.unit(|u| {
            u.conditions.push(vigil_units::Condition {
                kind: vigil_units::ConditionKind::PathExists,
                trigger: false,
                negate: false,
                arg: "/x".into(),
                line: 3,
            })
        })
    }
}

impl Build for Unit {
    fn unit(mut self, f: impl FnOnce(&mut Unit)) -> Self {
        f(&mut self);
        self
    }
    fn svc(mut self, f: impl FnOnce(&mut Service)) -> Self {
        if let Some(s) = self.service.as_mut() {
            f(s);
        }
        self
    }
}

#[derive(Debug)]
pub struct H {
    pub e: Engine,
    pub now: Duration,
    /// Actions not looked at yet.
    pub out: Vec<Action>,
    next_pid: u32,
}

impl H {
    pub fn new(units: Vec<Unit>) -> H {
        H::with_broken(units, Vec::new())
    }

    pub fn with_broken(units: Vec<Unit>, broken: Vec<(&str, &str)>) -> H {
        let mut h = H {
            e: Engine::new(),
            now: Duration::ZERO,
            out: Vec::new(),
            next_pid: 100,
        };
        let broken = broken
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        h.e.load(h.now, units, broken);
        h.pull();
        h
    }

    pub fn reload_units(&mut self, units: Vec<Unit>) {
        self.e.load(self.now, units, Vec::new());
        self.pull();
    }

    fn pull(&mut self) {
        self.out.extend(self.e.take_actions());
    }

    pub fn send(&mut self, ev: Event) -> Result<(), EngineError> {
        let r = self.e.handle(self.now, ev);
        self.pull();
        r
    }

    /// Several events as one request; each must be accepted.
    pub fn ok_together(&mut self, events: Vec<Event>) {
        let results = self.e.handle_together(self.now, events);
        self.pull();
        assert!(results.iter().all(Result::is_ok), "{results:?}");
    }

    pub fn ok(&mut self, ev: Event) {
        let r = self.send(ev.clone());
        assert_eq!(r, Ok(()), "{ev:?}");
    }

    pub fn take(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.out)
    }

    pub fn start(&mut self, name: &str) {
        self.ok(Event::Start(name.into()));
    }

    pub fn stop(&mut self, name: &str) {
        self.ok(Event::Stop(name.into()));
    }

    /// The `Spawn` actions pending, taken (other actions are dropped).
    pub fn spawns(&mut self) -> Vec<(String, Role)> {
        spawns(&self.take())
    }

    /// Answers one `Spawned` for unit/role with a fresh pid.
    pub fn spawned(&mut self, unit: &str, role: Role) -> u32 {
        self.next_pid += 1;
        let pid = self.next_pid;
        self.ok(Event::Spawned {
            unit: unit.into(),
            role,
            pid,
        });
        pid
    }

    /// Takes the pending actions and answers `Spawned` to every `Spawn` among them;
    /// returns (unit, role, pid) in order.
    pub fn spawn_all(&mut self) -> Vec<(String, Role, u32)> {
        let list = self.spawns();
        list.into_iter()
            .map(|(u, r)| {
                let pid = self.spawned(&u, r);
                (u, r, pid)
            })
            .collect()
    }

    /// Expects exactly one Spawn among the pending actions, for unit/role, and answers it.
    pub fn expect_spawn(&mut self, unit: &str, role: Role) -> u32 {
        let s = self.spawns();
        assert_eq!(s, vec![(unit.to_string(), role)], "expected one spawn");
        self.spawned(unit, role)
    }

    pub fn exit(&mut self, pid: u32, code: i32) {
        self.ok(Event::Exited {
            pid,
            status: ExitStatus::Exited(code),
        });
    }

    pub fn killed(&mut self, pid: u32, sig: i32) {
        self.ok(Event::Exited {
            pid,
            status: ExitStatus::Signaled(sig),
        });
    }

    pub fn notify(&mut self, pid: u32, fields: &[(&str, &str)]) {
        let fields = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.ok(Event::Notify { pid, fields });
    }

    pub fn at(&mut self, t: Duration) {
        self.now = t;
        self.ok(Event::Tick);
    }

    pub fn info(&self, name: &str) -> UnitInfo {
        self.e
            .unit(name)
            .unwrap_or_else(|| panic!("no unit {name}"))
    }

    pub fn state(&self, name: &str) -> State {
        self.info(name).state
    }

    pub fn reason(&self, name: &str) -> Option<Reason> {
        self.info(name).reason
    }

    /// Starts a simple service and answers its spawn; returns the main pid.
    pub fn run(&mut self, name: &str) -> u32 {
        self.start(name);
        let pid = self.expect_spawn(name, Role::Main(0));
        assert_eq!(self.state(name), State::Running);
        pid
    }
}

pub fn spawns(actions: &[Action]) -> Vec<(String, Role)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Spawn { unit, role, .. } => Some((unit.clone(), *role)),
            _ => None,
        })
        .collect()
}

/// Units spawned with Main(0), sorted.
pub fn started(actions: &[Action]) -> Vec<String> {
    let mut v: Vec<String> = spawns(actions)
        .into_iter()
        .filter(|(_, r)| *r == Role::Main(0))
        .map(|(u, _)| u)
        .collect();
    v.sort();
    v
}

/// (pid, signal, group) of every Signal action.
pub fn signals(actions: &[Action]) -> Vec<(u32, i32, bool)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Signal {
                pid, signal, group, ..
            } => Some((*pid, *signal, *group)),
            _ => None,
        })
        .collect()
}

/// Units signalled, sorted.
pub fn signalled(actions: &[Action]) -> Vec<String> {
    let mut v: Vec<String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Signal { unit, .. } => Some(unit.clone()),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

/// (unit, state) of every StateChanged.
pub fn states(actions: &[Action]) -> Vec<(String, State)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::StateChanged { unit, state, .. } => Some((unit.clone(), *state)),
            _ => None,
        })
        .collect()
}

pub fn logs(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

pub const SIGTERM: i32 = 15;
pub const SIGKILL: i32 = 9;
pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGSEGV: i32 = 11;
pub const SIGABRT: i32 = 6;
