//! The engine: vigil's service state machine, without I/O.
//!
//! The engine is driven by [`Event`]s and answers with [`Action`]s:
//! `(state, event) -> actions`. It never forks, reads a file, looks at a clock or
//! sleeps; `vigild` performs the actions and turns what happens into events, and the
//! tests inject events directly. Time comes in with every call as a [`Time`].
//!
//! (The state table and the transition rules are documented in `machine.rs`.)

use std::cell::Cell;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use vigil_units::{ExecCommand, Unit};

mod graph;
mod machine;

pub use graph::{cycle_text, find_cycles};
pub use machine::{Known, Saved};

/// Monotonic time since an arbitrary origin (CLOCK_MONOTONIC in `vigild`).
pub type Time = Duration;

/// The states shown to users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Inactive,
    /// Start requested, waiting for ordering dependencies to settle.
    Waiting,
    Starting,
    Running,
    /// A oneshot that finished (zinit's "ok"), or RemainAfterExit with no process left.
    Exited,
    Reloading,
    Stopping,
    Failed,
    /// Waiting for RestartSec before the next start.
    Restarting,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Inactive => "inactive",
            State::Waiting => "waiting",
            State::Starting => "starting",
            State::Running => "running",
            State::Exited => "exited",
            State::Reloading => "reloading",
            State::Stopping => "stopping",
            State::Failed => "failed",
            State::Restarting => "restarting",
        }
    }

    /// Running, exited or reloading: what `vigil status` exit code 0 means.
    pub fn is_active(self) -> bool {
        matches!(self, State::Running | State::Exited | State::Reloading)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ExitStatus {
    Exited(i32),
    Signaled(i32),
}

/// Why a unit is failed, or why an inactive unit did not start.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Reason {
    /// The main process (or a control process) exited with this code.
    ExitCode(i32),
    /// ... or was killed by this signal.
    Signal(i32),
    /// fork or exec failed in the child, at `stage` ("exec", "chdir", "setuid", ...).
    ExecFailed {
        stage: String,
        errno: i32,
        /// What went wrong in words, when no errno says it ("no such user
        /// foo"): shown instead of the errno's words.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    StartTimeout,
    StopTimeout,
    StartLimitHit,
    DependencyFailed(String),
    /// The unit's file could not be loaded; the text says why (file:line).
    LoadError(String),
    /// A condition failed: the unit stays inactive. The text names the condition.
    ConditionFailed(String),
    /// An assertion failed: the unit fails.
    AssertFailed(String),
    /// The unit is part of an ordering cycle, named `a -> b -> a`.
    Cycle(String),
    /// Type=forking: the PID file could not be read.
    PidFile(String),
    /// Stopped because a unit it conflicts with was started.
    Conflict(String),
    /// A socket unit could not listen, or could not start its service.
    Socket(String),
    /// WatchdogSec= passed without a `WATCHDOG=1` (or the service sent
    /// `WATCHDOG=trigger`).
    Watchdog,
}

/// A signal as people read it: `SIGKILL`, `SIGRTMIN+6`; `signal 99` for a
/// number no signal has.
pub fn signal_words(signal: i32) -> String {
    vigil_units::value::signal_name(signal).unwrap_or_else(|| format!("signal {signal}"))
}

/// The system's words for an errno ("No such file or directory"), without
/// std's " (os error N)": the number is told apart where it is wanted.
pub fn errno_words(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    let suffix = format!(" (os error {errno})");
    text.strip_suffix(&suffix).unwrap_or(&text).to_string()
}

impl Reason {
    /// Whether only the start job failed, the unit left inactive with this
    /// reason (systemd's JOB_DEPENDENCY and JOB_ASSERT): a dependency it
    /// requires, or an assertion. No failure of the unit: no OnFailure=, no
    /// FailureAction=; but the starts that need it fail too.
    pub fn failed_the_job_only(&self) -> bool {
        matches!(self, Reason::DependencyFailed(_) | Reason::AssertFailed(_))
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::ExitCode(c) => write!(f, "exit code {c}"),
            Reason::Signal(s) => write!(f, "killed by {}", signal_words(*s)),
            Reason::ExecFailed {
                stage,
                detail: Some(detail),
                ..
            } => write!(f, "exec failed at {stage}: {detail}"),
            Reason::ExecFailed { stage, errno, .. } => {
                let words = errno_words(*errno);
                write!(f, "exec failed at {stage}: {words} (errno {errno})")
            }
            Reason::StartTimeout => f.write_str("start timeout"),
            Reason::StopTimeout => f.write_str("stop timeout"),
            Reason::StartLimitHit => f.write_str("start limit hit"),
            Reason::DependencyFailed(n) => write!(f, "dependency failed: {n}"),
            Reason::LoadError(e) => write!(f, "load error: {e}"),
            Reason::ConditionFailed(c) => write!(f, "condition failed: {c}"),
            Reason::AssertFailed(c) => write!(f, "assertion failed: {c}"),
            Reason::Cycle(c) => write!(f, "ordering cycle: {c}"),
            Reason::PidFile(e) => write!(f, "pid file: {e}"),
            Reason::Conflict(n) => write!(f, "conflicts with {n}"),
            Reason::Socket(e) => write!(f, "socket: {e}"),
            Reason::Watchdog => f.write_str("watchdog timeout"),
        }
    }
}

/// Why a start job ended before its unit became active, without failing: a
/// stop took its place, as systemd says "Job for NAME canceled.". The unit
/// ends inactive; what is waiting for the start must not take that for the
/// clean end of a oneshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Canceled {
    /// A stop of the unit itself was asked for (`vigil stop`, a `BindsTo=`
    /// unit that went down, `StopWhenUnneeded=`).
    Stop,
    /// The stop of this unit (one it requires, is bound to or part of)
    /// carried on to it.
    StoppedWith(String),
    /// This unit, which conflicts with it, was started.
    Conflict(String),
    /// The manager is shutting down.
    Shutdown,
    /// Its unit file was removed.
    Removed,
    /// `vigil isolate` of this target, which does not need the unit.
    Isolate(String),
}

impl fmt::Display for Canceled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("job canceled: ")?;
        match self {
            Canceled::Stop => f.write_str("a stop was asked for"),
            Canceled::StoppedWith(n) => write!(f, "stopped with {n}"),
            Canceled::Conflict(n) => write!(f, "conflicts with {n}"),
            Canceled::Shutdown => f.write_str("the manager is shutting down"),
            Canceled::Removed => f.write_str("its unit file was removed"),
            Canceled::Isolate(n) => write!(f, "isolating {n}"),
        }
    }
}

/// Why a reload did not succeed. The unit is active again, with the
/// configuration it had (as far as the service kept it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadFailure {
    /// An `ExecReload=` command failed: its exit code, signal or exec failure.
    Command(Reason),
    /// `TimeoutStartSec=` passed while an `ExecReload=` command ran (it is killed).
    Timeout,
    /// `TimeoutStartSec=` passed before the reloading service said `READY=1`.
    NoReady,
    /// A reload asked for while another ran could not run after it: a stop
    /// came meanwhile.
    NotRun,
}

impl fmt::Display for ReloadFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloadFailure::Command(r) => write!(f, "reload failed: {r}"),
            ReloadFailure::Timeout => f.write_str("reload timed out"),
            ReloadFailure::NoReady => f.write_str("reload timed out: no READY=1"),
            ReloadFailure::NotRun => f.write_str("reload not run: the unit is being stopped"),
        }
    }
}

/// Which process of a unit an event or action is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Role {
    /// `ExecStart=` number `n` (only oneshot services have more than one).
    Main(usize),
    /// `ExecCondition=` number `n`.
    Condition(usize),
    StartPre(usize),
    StartPost(usize),
    Reload(usize),
    Stop(usize),
    StopPost(usize),
    /// zinit's readiness `test` command.
    Test,
}

impl Role {
    /// The process in a unit file's words: `ExecStop=`, `ExecStartPre= #2`
    /// (the second command of that directive), `the readiness test`.
    pub fn describe(self) -> String {
        let (directive, n) = match self {
            Role::Main(n) => ("ExecStart=", n),
            Role::Condition(n) => ("ExecCondition=", n),
            Role::StartPre(n) => ("ExecStartPre=", n),
            Role::StartPost(n) => ("ExecStartPost=", n),
            Role::Reload(n) => ("ExecReload=", n),
            Role::Stop(n) => ("ExecStop=", n),
            Role::StopPost(n) => ("ExecStopPost=", n),
            Role::Test => return "the readiness test".into(),
        };
        match n {
            0 => directive.into(),
            n => format!("{directive} #{}", n + 1),
        }
    }
}

/// A log level for the engine's own messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
    Info,
    Debug,
}

/// What happened, told to the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Requests (from the control socket, or the default target at boot).
    Start(String),
    /// A start that traffic on a socket unit asked for: as [`Event::Start`],
    /// but it counts against the unit's start-rate limit like a dependency's
    /// start (a manual start clears the count), as in systemd.
    Activate(String),
    /// A start for one connection an `Accept=yes` socket accepted: the
    /// instance starts as the new unit systemd makes per connection would,
    /// with no history. Its start-limit count and its count of automatic
    /// restarts are cleared before the start (a failed instance goes straight
    /// to `waiting`), so an earlier connection's instance never decides
    /// whether this one is served; this connection's own restarts count as
    /// for any unit.
    Accepted(String),
    Stop(String),
    /// systemctl isolate: start the target (it must have `AllowIsolate=yes`)
    /// and what it pulls in, and stop every other unit that is not down, but
    /// those with `IgnoreOnIsolate=yes` and what the units kept need, in one
    /// transaction ([`Engine::isolate_plan`] names the units it stops).
    Isolate(String),
    Restart(String),
    Reload(String),
    /// `None`: every failed unit.
    ResetFailed(Option<String>),
    /// Send a signal to the unit's processes: `whom` says which.
    Kill {
        unit: String,
        signal: i32,
        whom: KillWhom,
    },
    /// Stop everything in reverse dependency order; [`Action::AllStopped`] follows.
    /// What `targets` pull in starts instead (`poweroff.target`: units that
    /// run at shutdown), each once the units ordered against it have stopped,
    /// and is stopped last. Again during a shutdown: more targets.
    Shutdown {
        targets: Vec<String>,
    },
    /// The shutdown's global deadline is near: every unit still waiting for
    /// its turn begins its stop now (`ExecStop=`, its kill signal), whatever
    /// the order, so that none meets the deadline's SIGKILL unwarned.
    ShutdownLastCall,
    /// The shutdown's global deadline passed: every unit not yet stopped is
    /// killed now, whatever its own timeouts say.
    ShutdownDeadline,

    /// A process was forked for `unit`/`role` (exec may still fail).
    Spawned {
        unit: String,
        role: Role,
        pid: u32,
    },
    /// exec succeeded in that process (the close-on-exec pipe saw EOF).
    ExecSucceeded {
        pid: u32,
    },
    /// fork failed (`pid` is `None`), or the child failed before exec completed.
    SpawnFailed {
        unit: String,
        role: Role,
        pid: Option<u32>,
        stage: String,
        errno: i32,
        /// What went wrong in words when the errno does not say it (see
        /// [`Reason::ExecFailed`]).
        detail: Option<String>,
    },
    /// A process was reaped. Unknown pids are ignored.
    Exited {
        pid: u32,
        status: ExitStatus,
    },
    /// A datagram on NOTIFY_SOCKET from `pid` (credentials from SCM_CREDENTIALS),
    /// already split into `KEY=VALUE` fields.
    Notify {
        pid: u32,
        fields: Vec<(String, String)>,
    },
    /// A notification from a process the engine does not know (for instance
    /// `vigil notify` run by a service's shell script), that `vigild` attributed to
    /// `unit` itself (through the sender's process group or parent chain).
    /// Honoured only with NotifyAccess=all, as systemd attributes such senders
    /// through the cgroup; a pid the engine knows is treated as in [`Event::Notify`].
    NotifyFromUnit {
        unit: String,
        pid: u32,
        fields: Vec<(String, String)>,
    },
    /// Answer to [`Action::CheckConditions`]: `Ok` when all conditions and
    /// assertions hold, else [`Reason::ConditionFailed`] or [`Reason::AssertFailed`].
    ConditionsChecked {
        unit: String,
        result: Result<(), Reason>,
    },
    /// Answer to [`Action::ReadPidFile`].
    PidFileRead {
        unit: String,
        result: Result<u32, String>,
    },
    /// Answer to [`Action::GuessMainPid`]: the one process the start process
    /// left behind, or `None` when there was none or more than one.
    MainPidGuessed {
        unit: String,
        pid: Option<u32>,
    },
    /// A Type=forking service running without a main PID has no process left
    /// (`vigild` looked after a process of its own exited).
    ProcessesGone {
        unit: String,
    },
    /// Whether the unit's process groups still hold a process the engine does
    /// not track (a leftover: the helper of `sh -c 'helper & exit 0'`). Sent
    /// when that changes: `true` before the [`Event::Exited`] of the unit's
    /// last tracked process when something is left, `false` once what was
    /// left is gone. A unit being stopped waits for its leftovers, as systemd
    /// waits for a unit's cgroup to empty.
    Leftovers {
        unit: String,
        present: bool,
    },
    /// Time has passed: fire every timer due at or before `now`.
    Tick,
    /// Answer to [`Action::Listen`]: the unit's sockets exist and are
    /// watched, or why they could not be made (the unit fails with
    /// [`Reason::Socket`]). Ignored unless the unit is waiting for it.
    Listened {
        unit: String,
        result: Result<(), String>,
    },
    /// A running socket unit cannot go on: its service cannot be started,
    /// or (taken over from a predecessor) its sockets cannot be made again.
    /// It stops and is failed with [`Reason::Socket`]; ignored unless the
    /// unit is running.
    SocketFailed {
        unit: String,
        why: String,
    },
}

/// What the engine wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Evaluate the unit's conditions and assertions; answer with
    /// [`Event::ConditionsChecked`].
    CheckConditions { unit: String },
    /// fork/exec `command`; answer with [`Event::Spawned`] (and later
    /// [`Event::ExecSucceeded`] or [`Event::SpawnFailed`]) or [`Event::SpawnFailed`].
    Spawn {
        unit: String,
        role: Role,
        command: ExecCommand,
        /// For `$MAINPID`.
        main_pid: Option<u32>,
    },
    /// Send `signal` to `pid`, or to the process group `pid` leads when `group`;
    /// then SIGCONT when `cont` (a stop's signal: a suspended process could
    /// not act on it, systemd.kill(5)).
    Signal {
        unit: String,
        pid: u32,
        signal: i32,
        group: bool,
        cont: bool,
    },
    /// Send `signal` (then SIGCONT, unless it is SIGKILL) to the unit's
    /// leftovers ([`Event::Leftovers`]): the process groups they are in and
    /// the ones the unit's processes were started in, not the groups of the
    /// processes the engine tracks (each gets its own [`Action::Signal`]).
    /// `once`: a stop's step, which skips a group that got `signal` already
    /// in this stop; a `vigil kill` signals again. vigild answers with
    /// `Leftovers { present: false }` once they are gone.
    KillLeftovers {
        unit: String,
        signal: i32,
        once: bool,
    },
    /// Type=forking: read the PID file; answer with [`Event::PidFileRead`].
    /// `wait`: a file not there yet is waited for (within the start
    /// timeout); else it is answered at once with an error (the read before
    /// `ExecStartPost=`, which may be what writes it).
    ReadPidFile {
        unit: String,
        path: PathBuf,
        wait: bool,
    },
    /// Type=forking without PIDFile= (GuessMainPID=yes): find the processes the
    /// start process left behind; answer with [`Event::MainPidGuessed`].
    GuessMainPid { unit: String },
    /// A main PID the engine did not spawn (MAINPID=, a PID file): vigild has to
    /// watch it (a pidfd) and report its end with [`Event::Exited`], since it may
    /// not be vigild's child.
    WatchPid { unit: String, pid: u32 },
    /// A unit changed state (for the log, and for clients waiting on a job).
    StateChanged {
        unit: String,
        /// The state it left.
        from: State,
        state: State,
        reason: Option<Reason>,
        /// Failed again without having run: it was failed when its start
        /// job came, and the start was refused before anything ran (its
        /// start limit, an assert). No new failure: OnFailure= does not
        /// fire for it (systemd's unit stays failed then).
        again: bool,
    },
    /// A start job of the unit (or the start half of a restart) was dropped
    /// for a stop before the unit became active: who waits for it hears
    /// that it did not happen. Sent when the stop takes its place.
    StartCanceled { unit: String, why: Canceled },
    /// The start job of a unit that was active already failed, and the unit
    /// stays as it is, as systemd fails only the job: a unit it requires
    /// (and waited for) failed to start, cannot be had, or (`Requisite=`)
    /// is not active. `why` is `DependencyFailed`. Who waits for the start
    /// hears it (the start of a unit that was down says it in its state).
    StartFailed { unit: String, why: Reason },
    /// A start took the place of a stop job of `unit` that had not begun:
    /// the stop will not happen (its client is told, as systemctl's "Job
    /// canceled").
    StopCanceled { unit: String },
    /// A reload of the unit ended (`ExecReload=` done, `READY=1` after
    /// reloading, or a failure or timeout), just before the unit is active
    /// again: `failure` says whether it did what was asked.
    ReloadEnded {
        unit: String,
        failure: Option<ReloadFailure>,
    },
    /// A message for vigild's own log.
    Log {
        level: Level,
        unit: Option<String>,
        message: String,
    },
    /// After [`Event::Shutdown`]: every unit is stopped.
    AllStopped,
    /// A socket unit is starting: create its sockets and watch them; answer
    /// with [`Event::Listened`]. The unit is `running` only then.
    Listen { unit: String },
    /// A socket unit stops being active: close its sockets.
    CloseSockets { unit: String },
    /// `SuccessAction=` (the unit went from active to inactive) or
    /// `FailureAction=` (it entered the failed state, other than by a failed
    /// dependency): the manager is to stop everything and exit, power off,
    /// reboot, halt or kexec. Never sent during a shutdown.
    UnitAction {
        unit: String,
        action: vigil_units::UnitAction,
        failed: bool,
        /// For `exit`: the manager's exit code (`*ActionExitStatus=`, else the
        /// main process's exit code or 128+N for signal N, else 0, or 1 when
        /// the unit failed).
        exit_status: u8,
    },
}

/// A request the engine refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineError {
    NoSuchUnit(String),
    /// e.g. Reload of a unit that is not active, or a start during shutdown.
    NotAllowed {
        unit: String,
        why: String,
    },
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::NoSuchUnit(n) => write!(f, "no such unit: {n}"),
            EngineError::NotAllowed { unit, why } => write!(f, "{unit}: {why}"),
        }
    }
}

impl std::error::Error for EngineError {}

/// Which of a unit's processes [`Event::Kill`] signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillWhom {
    /// The main process.
    Main,
    /// The control process (ExecStartPre=, ExecReload=, ExecStop=...).
    Control,
    /// Every process the unit has (main, control, `test`), each with its
    /// process group, as KillMode=control-group reaches them without cgroups.
    All,
}

/// What a unit's job does, in systemd's words (`vigil list-jobs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobType {
    Start,
    Stop,
    /// A stop with a start queued after it (a restart, or a start asked for
    /// while the unit stopped).
    Restart,
    Reload,
}

impl JobType {
    pub fn as_str(self) -> &'static str {
        match self {
            JobType::Start => "start",
            JobType::Stop => "stop",
            JobType::Restart => "restart",
            JobType::Reload => "reload",
        }
    }
}

/// A unit's pending job: what it does, and whether it runs already or still
/// waits for the units it is ordered against (systemd's `running` and
/// `waiting`). A unit waiting for its automatic restart has none, as in
/// systemd, until its timer queues the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub unit: String,
    pub job_type: JobType,
    pub running: bool,
}

/// A snapshot of one unit, for `vigil list` and `vigil status`.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitInfo {
    pub name: String,
    pub description: String,
    pub state: State,
    pub reason: Option<Reason>,
    pub main_pid: Option<u32>,
    /// The control process running (ExecStartPre=, ExecReload=, ExecStop=...).
    pub control_pid: Option<u32>,
    /// When the unit entered its current state.
    pub since: Time,
    /// When the step under way (a start, a stop command, the wait after a
    /// signal) runs out of time; `None` when it has no limit or none runs.
    pub timeout: Option<Time>,
    /// Automatic restarts since the last manual start.
    pub restarts: u32,
    /// The failure of the run the last automatic restart followed: what a
    /// `start limit hit` gave up on.
    pub restart_cause: Option<Reason>,
    pub last_exit: Option<ExitStatus>,
    /// The last `STATUS=` text.
    pub status_text: Option<String>,
    /// The last `ERRNO=` the service reported.
    pub status_errno: Option<i32>,
    /// In `Restarting`: when the next start is due.
    pub next_restart: Option<Time>,
    /// Time from the start request to ready, for the last start (`vigil blame`).
    pub time_to_ready: Option<Duration>,
    /// Units this one requires or wants, and orders after (for `vigil graph`).
    pub requires: Vec<String>,
    pub wants: Vec<String>,
    pub after: Vec<String>,
    /// The ordering cycles this unit is part of (`a -> b -> a`, several joined by
    /// `; `), found at the last load.
    pub cycle: Option<String>,
    /// No file defines the unit any more (systemd's `not-found`): it runs
    /// until it stops, and is forgotten then; it cannot be started.
    pub removed: bool,
    /// The unit's job, if it has one, as [`Engine::jobs`] lists it: a
    /// `Start` of a unit that is active waits for the units it is ordered
    /// after (its start has not settled, though its state has).
    pub job: Option<JobType>,
}

/// The state machine for every loaded unit.
#[derive(Debug, Default)]
pub struct Engine {
    machine: machine::Machine,
    /// [`Engine::next_deadline`] as worked out after the last change: the
    /// manager asks at every turn of its loop, and a scan of a thousand units
    /// each time was most of what a `vigil status` cost. Every `&mut self`
    /// method that can change a unit forgets it.
    deadline: Cell<Option<Option<Time>>>,
}

impl Engine {
    pub fn new() -> Engine {
        Engine::default()
    }

    /// Loads (at boot) or re-loads (`vigil sync`) the unit set. `broken` lists
    /// units whose files failed to load, with the reason; they are shown as failed.
    /// On a re-load: new units start if something active wants them, units that
    /// are gone are stopped and forgotten, changed units take their new definition
    /// at their next start.
    pub fn load(&mut self, now: Time, units: Vec<Unit>, broken: Vec<(String, String)>) {
        self.deadline.take();
        self.machine.load(now, units, broken);
    }

    /// The names the configuration masks, from the same read as the units
    /// given to [`Engine::load`]: a start that requires one fails saying it
    /// is masked (`required unit NAME is masked`), not that it is missing.
    pub fn set_masked(&mut self, masked: impl IntoIterator<Item = String>) {
        self.machine.set_masked(masked.into_iter().collect());
    }

    /// Why a unit that a start requires cannot be had, after its name (`NAME
    /// is masked`, `NAME not found`, `NAME did not load`): what
    /// `dependency failed: ...` says of it.
    pub fn unavailable(&self, name: &str) -> String {
        self.machine.unavailable(name)
    }

    /// Feeds one event. Requests that cannot be honoured return an error and
    /// change nothing.
    pub fn handle(&mut self, now: Time, event: Event) -> Result<(), EngineError> {
        self.deadline.take();
        self.machine.handle(now, event)
    }

    /// Several events as one request: each job is queued before any runs, so
    /// `After=`/`Before=` between the units of `vigil start a b` (or `stop`)
    /// hold whatever order they are named in. One result per event.
    pub fn handle_together(
        &mut self,
        now: Time,
        events: Vec<Event>,
    ) -> Vec<Result<(), EngineError>> {
        self.deadline.take();
        self.machine.handle_together(now, events)
    }

    /// The actions produced since the last call, in order.
    pub fn take_actions(&mut self) -> Vec<Action> {
        // Taking them changes no deadline: the cache stays.
        self.machine.take_actions()
    }

    /// The earliest time at which [`Event::Tick`] must be delivered.
    pub fn next_deadline(&self) -> Option<Time> {
        if let Some(known) = self.deadline.get() {
            return known;
        }
        let next = self.machine.next_deadline();
        self.deadline.set(Some(next));
        next
    }

    pub fn unit(&self, name: &str) -> Option<UnitInfo> {
        self.machine.unit(name)
    }

    /// Every unit, sorted by name.
    pub fn units(&self) -> Vec<UnitInfo> {
        self.machine.units()
    }

    /// Every unit's pending job, as [`Engine::units`] orders them: what
    /// `vigil list-jobs` shows, and what a boot waits for before it is done.
    pub fn jobs(&self) -> Vec<Job> {
        self.machine.jobs()
    }

    /// The job an [`Event::Reload`] of `name` joins instead of reloading it:
    /// its start ([`JobType::Start`]), pending or under way, or its restart
    /// ([`JobType::Restart`]). The reload's client waits for that job, as
    /// systemd merges the reload job into it. None: a reload of its own.
    pub fn reload_joins(&self, name: &str) -> Option<JobType> {
        self.machine.reload_joins(name)
    }

    /// The units the start job of `name` waits for: ordered after them and
    /// they have not settled, or ordered before them and they stop first.
    pub fn waiting_for(&self, name: &str) -> Vec<String> {
        self.machine.waiting_for(name)
    }

    /// Whether any unit has a pending job ([`Engine::jobs`] not empty).
    pub fn has_jobs(&self) -> bool {
        self.machine.has_jobs()
    }

    /// What [`Event::Isolate`] of `name` would stop now, sorted: every unit
    /// that is not down, except what the target pulls in (Requires=, Wants=,
    /// BindsTo=, Requisite=, transitively), the units with
    /// `IgnoreOnIsolate=yes`, what a kept unit that is up needs in the same
    /// way, and the services of kept socket units. Refused as the event
    /// would be (no such unit, no `AllowIsolate=yes`, shutting down...).
    pub fn isolate_plan(&self, name: &str) -> Result<Vec<String>, EngineError> {
        self.machine.isolate_plan(name)
    }

    /// The state of a unit, without the rest of [`Engine::unit`].
    pub fn state(&self, name: &str) -> Option<State> {
        self.machine.state(name)
    }

    /// Every unit's name and state, as [`Engine::units`] orders them,
    /// without the rest of each [`UnitInfo`].
    pub fn states(&self) -> impl Iterator<Item = (&str, State)> {
        self.machine.states()
    }

    /// The ordering cycles found at the last load, each as a list of unit names
    /// (the first is not repeated at the end).
    pub fn cycles(&self) -> Vec<Vec<String>> {
        self.machine.cycles()
    }

    /// Whether the engine knows the unit (what [`Engine::unit`] answers, without
    /// building the snapshot).
    pub fn contains(&self, name: &str) -> bool {
        self.machine.contains(name)
    }

    /// The newest loaded definition of a unit (what its next start will use).
    pub fn definition(&self, name: &str) -> Option<std::sync::Arc<Unit>> {
        self.machine.definition(name)
    }

    /// The definition the unit's current (or last) run started with: a `sync`
    /// that changed the file does not change a running unit until it restarts.
    pub fn run_definition(&self, name: &str) -> Option<std::sync::Arc<Unit>> {
        self.machine.run_definition(name)
    }

    /// The loaded units whose `OnFailure=` or `OnSuccess=` name this one, each
    /// once: when there is exactly one, the unit's `ExecStartPre=` and
    /// `ExecStart=` get its result as `$MONITOR_*` (systemd.exec(5)).
    pub fn triggered_by(&self, name: &str) -> Vec<&str> {
        self.machine.triggered_by(name)
    }

    /// The first failure of the unit's current stop (None: none so far), or
    /// once it is down why it failed, and how the main process of this run
    /// ended, if it has: what `ExecStop=` and `ExecStopPost=` get as
    /// `$SERVICE_RESULT`, `$EXIT_CODE`, `$EXIT_STATUS`, and a unit it
    /// triggers as `$MONITOR_*`.
    pub fn run_result(&self, name: &str) -> (Option<Reason>, Option<ExitStatus>) {
        self.machine.run_result(name)
    }

    /// The unit that owns a process, if any (for NOTIFY_SOCKET and logging).
    pub fn unit_of_pid(&self, pid: u32) -> Option<&str> {
        self.machine.unit_of_pid(pid)
    }

    /// The run-time state of every unit that has any, for the next manager
    /// (after a crash, or `vigil reexec`).
    pub fn save(&self) -> Saved {
        self.machine.save()
    }

    /// Takes over a predecessor's state; call after [`Engine::load`], instead
    /// of starting the default target. Every saved process is taken as alive:
    /// the caller checks each one ([`Engine::tracked`]) and reports the dead
    /// with [`Event::Exited`]. Requests that were pending when the state was
    /// saved come back as actions (a `Spawn` the predecessor may or may not
    /// have carried out included). Returns a note for each saved unit that is
    /// no longer configured.
    pub fn restore(&mut self, now: Time, saved: Saved) -> Vec<String> {
        self.deadline.take();
        self.machine.restore(now, saved)
    }

    /// What the next load would compare the files with (each unit's name and
    /// requirement edges), for the next manager ([`Engine::sync_since`]).
    pub fn known(&self) -> Known {
        self.machine.known()
    }

    /// A number that changes whenever [`Engine::known`] may have: at every
    /// load, when a unit removed from the files is forgotten, at a restore
    /// that keeps such units. The record need be written again only then.
    pub fn known_version(&self) -> u64 {
        self.machine.known_version()
    }

    /// After [`Engine::restore`], with what the previous manager's last load
    /// knew: does what a `vigil sync` of that manager would have done with the
    /// files this one loaded (a sync cut short by a crash, or edits made
    /// before a `vigil reexec`): each unit added, or newly required, wanted or
    /// bound to by an active unit, starts. Returns the units added, sorted.
    pub fn sync_since(&mut self, now: Time, previous: &Known) -> Vec<String> {
        self.deadline.take();
        self.machine.sync_since(now, previous)
    }

    /// Every process the engine tracks (main, control, test), with its unit.
    pub fn tracked(&self) -> Vec<(u32, String)> {
        self.machine.tracked()
    }

    /// The unit `pid` is the last tracked process of (nothing else of it runs,
    /// nor is being spawned): when it ends, what is left in the unit's process
    /// groups is a leftover ([`Event::Leftovers`]).
    pub fn last_process_of(&self, pid: u32) -> Option<&str> {
        self.machine.last_process_of(pid)
    }

    /// The units whose stop waits for their leftovers: vigild tells each
    /// when the last of them is gone.
    pub fn units_waiting_for_leftovers(&self) -> Vec<String> {
        self.machine.units_waiting_for_leftovers()
    }
}
