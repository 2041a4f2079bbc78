//! The per-unit state machine and the job queue that drives it.
//!
//! This module owns every unit's run-time state (phase, pids, timers, counters)
//! and turns events into actions. It must never do I/O, read a clock or sleep:
//! time arrives as `now` with every call, timers are fields read by
//! [`Machine::next_deadline`] and fired by [`Event::Tick`].
//!
//! # Two steps: propagate, then execute
//!
//! A request first *propagates* over the graph with a work list (never recursion):
//! `Start(x)` gives x and everything it Requires/Wants/BindsTo (transitively) a
//! start job (state `waiting`), checks Requisite= (must already be active) and
//! gives every unit x conflicts with a stop job; `Stop(x)` gives x and everything
//! that Requires/BindsTo/Requisite/PartOf it a stop job. Then the queue
//! *executes*: a unit whose job became runnable starts (or stops) at once, so
//! everything whose ordering is settled starts together, with no global
//! serialisation. Each state change queues the unit's ordering neighbours again.
//!
//! * A start job runs when every unit it is ordered after (`After=`, or `Before=`
//!   the other way) is **settled**: no pending job, and inactive, failed, running,
//!   exited or reloading. `waiting`, `starting`, `stopping` and `restarting`
//!   (an automatic restart is still an activation, as in systemd) are not settled.
//! * A stop job runs when no unit ordered after this one has a pending stop job or
//!   is stopping: units stop in the reverse of the start order.
//! * A start job of a unit that is active already waits the same way, and
//!   does nothing when it runs: as in systemd, `vigil start` (or `isolate`) of
//!   an active target is done only once the starts of what it is ordered
//!   after are, and what is ordered after it waits for it.
//!
//! # Phases and the states users see
//!
//! | phase            | state       | what is running / awaited                              |
//! |------------------|-------------|--------------------------------------------------------|
//! | Dead             | inactive / failed | nothing                                          |
//! | Waiting          | waiting     | start job: ordering dependencies not settled yet       |
//! | Condition        | starting    | `CheckConditions` sent (only for units that have some) |
//! | Listen           | starting    | a socket unit: `Listen` sent, until `Listened`         |
//! | ExecCondition(i) | starting    | `ExecCondition=` number i                              |
//! | StartPre(i)      | starting    | `ExecStartPre=` number i                               |
//! | Start(i)         | starting    | `ExecStart=` number i (only oneshot has i > 0), not ready yet |
//! | PidFile          | starting    | Type=forking: `ReadPidFile` or `GuessMainPid` sent     |
//! | Test             | starting    | zinit `test` probe, or its retry timer                 |
//! | StartPost(i)     | starting    | `ExecStartPost=` number i                              |
//! | Running          | running     | the main process (a target: nothing; it is active)     |
//! | Exited           | exited      | nothing (RemainAfterExit)                              |
//! | Reload(i)        | reloading   | `ExecReload=` number i                                 |
//! | NotifyReload     | reloading   | the service said RELOADING=1, until READY=1            |
//! | StopByNotify     | stopping    | the service said STOPPING=1, until its main exits      |
//! | Stop(i)          | stopping    | `ExecStop=` number i (with $MAINPID)                   |
//! | Kill(Term/Kill)  | stopping    | KillSignal (then SIGKILL) sent, until the processes exit |
//! | Kill(Abort)      | stopping    | the watchdog fired: WatchdogSignal (then SIGKILL after TimeoutAbortSec) |
//! | StopPost(i)      | stopping    | `ExecStopPost=` number i                               |
//! | AutoRestart      | restarting  | RestartSec timer                                       |
//!
//! A phase that has nothing to wait for is skipped within the same call (a service
//! without ExecStop= goes from `running` straight to the kill step), so only states
//! in which the unit really waits are reported by `StateChanged`.
//!
//! # State table
//!
//! | phase                 | event                                         | next phase / actions |
//! |-----------------------|-----------------------------------------------|----------------------|
//! | Dead, AutoRestart     | start job                                     | Waiting (reason cleared); a unit in AutoRestart pulled in by another's start stays there until its timer |
//! | Running, Exited       | start job                                     | stays; the job waits (not settled, `list-jobs`: start waiting) until what the unit is ordered after has settled, then is done; a Requires/BindsTo/Requisite dependency failing first fails the job alone (`StartFailed`, `DependencyFailed(dep)`), cascading; a stop job takes its place (`StartCanceled`); going down on its own keeps it as a start after the stop |
//! | Waiting               | ordering settled                              | Condition + `CheckConditions` if the unit has conditions, else as "conditions ok" |
//! | Waiting, Condition    | a Requires/BindsTo/Requisite dependency failed | Dead inactive `DependencyFailed(dep)` (systemd fails the job, not the unit), cascading |
//! | Waiting, Condition    | stop job                                      | Dead inactive |
//! | Condition             | `ConditionsChecked` Ok                        | start limit exceeded: Dead failed `StartLimitHit`; target: Running; socket: as "conditions ok" below; else ExecCondition(0) (timeout armed) |
//! | Waiting, Condition (socket) | conditions ok                           | an Accept=no socket whose `Service=`, or a service naming it in `Sockets=`, is not down (nor only waiting to start): Dead **inactive** `Socket("service X already active, refusing")`, and the starts that require it fail (systemd's -EBUSY: the job fails, not the unit); else Listen + `Listen` |
//! | Listen                | `Listened` Ok / Err(why)                      | Running / Dead failed `Socket(why)`; dependents fail. Dependents ordered after it wait: Listen is not settled |
//! | Running (socket)      | `SocketFailed`                                | stop sequence, Dead failed `Socket(why)` |
//! | Condition             | `ConditionFailed`                             | Dead inactive, reason kept; counts as settled, dependents still start |
//! | Condition             | `AssertFailed`                                | Dead **inactive**, reason kept (systemd fails the job, not the unit: no FailureAction=); dependents fail, `DependencyFailed` |
//! | ExecCondition(i)      | exit 0, SuccessExitStatus= (or `-`: anything)  | ExecCondition(i+1), then StartPre(0) |
//! | ExecCondition(i)      | exit 1..254                                   | kill step with result `ConditionFailed`: ExecStopPost= runs, then Dead **inactive** (like a failed condition: no restart, dependents still start) |
//! | ExecCondition(i)      | exit 255, signal / `SpawnFailed`              | kill step with result ExitCode/Signal/ExecFailed (failed) |
//! | StartPre(i)           | exit 0 (or `-`)                               | StartPre(i+1), then Start(0) + `Spawn Main(0)` |
//! | StartPre(i)           | failure / `SpawnFailed`                       | kill step with result ExitCode/Signal/ExecFailed |
//! | Start(0) simple       | `Spawned`                                     | ready |
//! | Start(0) exec         | `ExecSucceeded`                               | ready |
//! | Start(0) notify       | `Notify READY=1` (allowed sender)             | ready |
//! | Start(0) forking      | main exits clean                              | ready if MAINPID= named the daemon; else PidFile + `ReadPidFile`; without PIDFile=: PidFile + `GuessMainPid` (GuessMainPID=no: ready with no main pid) |
//! | PidFile               | `PidFileRead` Ok(pid) / Err                   | ready with main pid / kill step, result `PidFile` |
//! | PidFile               | `MainPidGuessed` Some(pid) / None             | ready with that main pid / ready with none |
//! | Running, no main pid  | `ProcessesGone` (forking)                     | stop sequence, a clean end (Restart= decides) |
//! | Start(i) oneshot      | exit clean                                    | Start(i+1) + `Spawn Main(i+1)`, after the last: ready |
//! | Start(i) any          | exit unclean / `SpawnFailed`                  | kill step with result |
//! | Start(0) notify       | exit clean before READY=1                     | kill step, result `ExitCode(code)` |
//! | ready                 | —                                             | Test + `Spawn Test` if a `test` exists, else StartPost(0) |
//! | Test                  | test exits 0                                  | StartPost(0) |
//! | Test                  | test fails                                    | Test; retry after 250 ms, doubling up to 5 s |
//! | StartPost(i)          | exit 0 / failure                              | StartPost(i+1) then active / kill step |
//! | starting phases       | start timeout (TimeoutStartSec)               | kill step, result `StartTimeout` |
//! | active                | —                                             | target, simple..: Running; oneshot: Exited (RemainAfterExit) or the stop sequence (ExecStop, ...) to Dead inactive |
//! | Running               | main exits clean, RemainAfterExit             | Exited |
//! | Running               | main exits                                    | ExecStop..., then Dead (failed when unclean), then the Restart= decision |
//! | Running               | `Reload`                                      | Reload(0) + `Spawn Reload(0)`; without ExecReload= `Signal SIGHUP` to the main pid; then the same for every active unit it propagates to (PropagatesReloadTo=, ReloadPropagatedFrom=, transitively) |
//! | Waiting, starting phases; a restart's stop | `Reload`                 | joins the start (or restart) job, as systemd merges the two jobs: nothing runs (no `ExecReload=`), the client waits for that job; refused, as for an active unit, when the unit cannot reload |
//! | Running               | `Notify RELOADING=1`                          | NotifyReload; `READY=1` -> `ReloadEnded` ok, Running |
//! | Running               | `Notify STOPPING=1`                           | StopByNotify (timeout TimeoutStopSec); main exit -> StopPost |
//! | ready .. Reload       | `Notify WATCHDOG=1` / `WATCHDOG_USEC=n`        | watchdog re-armed (now + period; n replaces WatchdogSec= for this run, 0 disables) |
//! | Test, StartPost, Running, Reload, NotifyReload | watchdog due, or `WATCHDOG=trigger` | Kill(Abort) + `Signal WatchdogSignal` (no ExecStop=), result `Watchdog` |
//! | Kill(Abort)           | TimeoutAbortSec passes                        | Kill(Kill) + `Signal SIGKILL`, as Kill(Term) |
//! | Reload(i)             | exit 0 / failure                              | Reload(i+1) then `ReloadEnded` ok and Running (or Exited) / `ReloadEnded` with the failure, Running (or Exited) + warning |
//! | Reload(i), NotifyReload | reload timeout (TimeoutStartSec)            | Reload(i): `Signal SIGKILL` to it; `ReloadEnded` Timeout / NoReady, Running (or Exited) |
//! | active                | stop job                                      | Stop(0) + `Spawn Stop(0)` if ExecStop=, else kill step |
//! | starting phases       | stop job                                      | kill step (ExecStop= runs only for a unit that became active) |
//! | Stop(i)               | exit                                          | Stop(i+1), then kill step; a failure is kept as the result |
//! | Stop(i), StopByNotify | stop timeout                                  | kill step, result `StopTimeout` |
//! | kill step             | processes alive                               | Kill(Term) + `Signal KillSignal` (control-group: group; process, mixed: main only; none: no signal, the processes are left) |
//! | kill step             | nothing alive                                 | StopPost(0) |
//! | Kill(Term)            | last tracked process exits                    | StopPost(0) (mixed: `Signal SIGKILL` to the group first) |
//! | Kill(Term)            | stop timeout                                  | Kill(Kill) + `Signal SIGKILL` (group unless KillMode=process); SendSIGKILL=no: processes left, StopPost(0); result `StopTimeout` |
//! | Kill(Kill)            | exit / stop timeout                           | StopPost(0) |
//! | StopPost(i)           | exit / stop timeout                           | StopPost(i+1), then Dead |
//! | Dead (end of a stop)  | —                                             | failed if a result was kept, else inactive (`Conflict(x)` kept when stopped by a conflict); if the unit went down by itself and Restart= says so: AutoRestart with the RestartSec timer (RestartSec=0: at once) |
//! | AutoRestart           | timer (`Tick`)                                | restarts += 1, start job (start limit checked when it runs) |
//! | AutoRestart           | stop job / shutdown                           | Dead inactive, the failure kept as the reason (systemd's Result=); a conflict the reason only after a clean run |
//! | Dead failed, or inactive with a kept failure | `ResetFailed`          | Dead inactive, reason, restarts and start-limit counter cleared |
//! | Dead                  | `Accepted` (a connection's instance)          | start-limit and restart counts cleared, then a start job as `Activate` (failed goes straight to waiting) |
//! | any                   | `Shutdown`                                    | every unit gets a stop job, but what its targets pull in (not units conflicting with shutdown.target): a start job, run once the units ordered against it (either way) have stopped; other starts refused; once only those are left and settled, they get stop jobs; `AllStopped` once everything is Dead |
//! | any                   | `Isolate(t)` (t has AllowIsolate=yes; not shutting down) | one transaction: t gets a start job as `Start`, and every unit not down gets a stop job, except what t pulls in (Requires/Wants/BindsTo/Requisite, transitively), units with IgnoreOnIsolate=yes and what a kept unit that is up pulls in the same way, and the services of kept sockets; no stop carries on to a kept unit; cancelled starts are told `isolating t` |
//! | stop job waiting (shutting down) | `ShutdownLastCall`                 | the stop begins now, whatever the order (and so does every later one) |
//! | not Dead (shutting down) | `ShutdownDeadline`                         | `Signal SIGKILL` (group) to main, control and test process, all forgotten; Dead failed (`StopTimeout`), no ExecStopPost= |
//! | a phase that ran      | -> Dead inactive (not during a shutdown)      | `UnitAction` with SuccessAction=, if set |
//! | not Dead failed       | -> Dead failed, not `DependencyFailed` (not during a shutdown) | `UnitAction` with FailureAction=, if set |
//!
//! A start job (or the start of a restart) that a stop job takes the place of
//! before the unit became active sends `StartCanceled` with the stop's cause:
//! at once for a pending start or a start queued behind a stop, when the stop
//! begins for a unit still starting. A restart of a starting unit is not a
//! cancel (it starts again); a unit that ends inactive by itself (a oneshot)
//! is not either.
//!
//! Failure propagation: when a unit ends Dead on its own (not by a stop job), units
//! whose start is still pending and that Require/BindsTo/Requisite it end inactive
//! with `DependencyFailed` (only when it failed, or its start job failed without
//! failing it: a failed dependency or assertion, a socket unit's refused start), and units with
//! BindsTo= it are stopped. Requires= alone does not stop an active dependent when the dependency
//! dies on its own, and an automatic restart never bounces dependents: both are
//! systemd's behaviour. An explicit stop or restart of a unit stops or restarts
//! everything that Requires/BindsTo/Requisite/PartOf it.
//!
//! Restart= (systemd's table): a clean exit (exit 0, SuccessExitStatus=, or for the
//! main process SIGHUP/SIGINT/SIGTERM/SIGPIPE) restarts with always and
//! on-success; an unclean exit code (also exec failures and PID file errors) with
//! always and on-failure; an unclean signal with always, on-failure, on-abnormal
//! and on-abort; a timeout with always, on-failure and on-abnormal. A main exit
//! status listed in RestartPreventExitStatus= never restarts; neither do start
//! limit, dependency, assertion or load failures. A watchdog timeout restarts
//! with always, on-failure, on-abnormal and on-watchdog. A main exit status listed
//! in RestartForceExitStatus= (and not in RestartPreventExitStatus=) always
//! restarts, whatever Restart= says.
//!
//! The watchdog (WatchdogSec=, or WATCHDOG_USEC= from the service) is armed when
//! the service becomes ready and re-armed by each `WATCHDOG=1`; it counts only
//! from readiness until a stop begins.
//!
//! Notifications: NotifyAccess=none ignores everything (with a warning); main
//! accepts only the main pid; exec the main pid or any control process of the
//! unit; all any process the engine can attribute to the unit — a pid it knows, or
//! one that `vigild` attributed with [`Event::NotifyFromUnit`] (for instance through
//! its process group). An unknown pid that nobody attributed is ignored.
//! Type=notify with NotifyAccess unset is read as NotifyAccess=main at load.
//!
//! Without cgroups the engine knows only the processes it spawned (and a main pid
//! given by MAINPID=, a PID file or `vigild`'s guess); a stop waits for those, not
//! for other members of the process group. Type=forking without PIDFile= asks
//! `vigild` to guess the main pid; without one it is Running until `vigild`
//! reports `ProcessesGone`.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use vigil_units::{
    ExecCommand, ExitStatusSet, Format, KillMode, NotifyAccess, RestartPolicy, Service,
    ServiceType, Unit, UnitKind,
};

use crate::graph::{self, Graph};

mod handover;
use crate::{
    Action, Canceled, EngineError, Event, ExitStatus, Job, JobType, KillWhom, Level, Reason,
    ReloadFailure, Role, State, Time, UnitInfo, signal_words,
};
pub use handover::{Known, Saved};

/// First delay before a failed zinit `test` probe runs again; it doubles up to
/// [`TEST_RETRY_MAX`].
const TEST_RETRY_FIRST: Duration = Duration::from_millis(250);
const TEST_RETRY_MAX: Duration = Duration::from_secs(5);

/// Why a service that can neither run `ExecReload=` nor signal a
/// `Type=notify-reload` main process is not reloaded.
const CANNOT_RELOAD: &str = "it cannot reload: no ExecReload= (restart it instead)";
/// Why a unit that is no service, and passes no reload on, is not reloaded.
const NOT_APPLICABLE: &str = "reload is not applicable to it (a service's is)";

const SIGHUP: i32 = 1;
const SIGINT: i32 = 2;
const SIGKILL: i32 = 9;
const SIGPIPE: i32 = 13;
const SIGTERM: i32 = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum KillStage {
    Term,
    /// The watchdog fired: WatchdogSignal=, then SIGKILL after TimeoutAbortSec=.
    Abort,
    Kill,
}

impl KillStage {
    /// The signal this stage sends: KillSignal=, WatchdogSignal= or SIGKILL.
    fn signal(self, svc: &Service) -> i32 {
        match self {
            KillStage::Term => svc.kill_signal,
            KillStage::Abort => svc.watchdog_signal,
            KillStage::Kill => SIGKILL,
        }
    }

    /// How long the stage waits for what it signalled: TimeoutAbortSec= after
    /// the watchdog's signal, else TimeoutStopSec=; after SIGKILL at least
    /// [`Machine::KILL_WAIT_MIN`]: the kernel needs a moment to end what it
    /// hit (a process in uninterruptible sleep longer), and a short stop
    /// timeout must not turn that moment into "still around after SIGKILL".
    fn wait(self, svc: &Service) -> Option<Duration> {
        match self {
            KillStage::Abort => svc.timeout_abort,
            KillStage::Term => svc.timeout_stop,
            KillStage::Kill => svc.timeout_stop.map(|t| t.max(Machine::KILL_WAIT_MIN)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Phase {
    Dead {
        failed: bool,
    },
    Waiting,
    Condition,
    /// A socket unit: `Listen` sent, its sockets being made.
    Listen,
    ExecCondition(usize),
    StartPre(usize),
    Start(usize),
    PidFile,
    Test,
    StartPost(usize),
    Running,
    Exited,
    Reload(usize),
    NotifyReload,
    StopByNotify,
    Stop(usize),
    Kill(KillStage),
    StopPost(usize),
    /// An `ExecStopPost=` timed out: KillSignal=, then SIGKILL, to its
    /// process (systemd's final-sigterm and final-sigkill); then dead.
    FinalKill(KillStage),
    AutoRestart,
}

impl Phase {
    fn state(self) -> State {
        match self {
            Phase::Dead { failed: false } => State::Inactive,
            Phase::Dead { failed: true } => State::Failed,
            Phase::Waiting => State::Waiting,
            Phase::Condition
            | Phase::Listen
            | Phase::ExecCondition(_)
            | Phase::StartPre(_)
            | Phase::Start(_)
            | Phase::PidFile
            | Phase::Test
            | Phase::StartPost(_) => State::Starting,
            Phase::Running => State::Running,
            Phase::Exited => State::Exited,
            Phase::Reload(_) | Phase::NotifyReload => State::Reloading,
            Phase::StopByNotify
            | Phase::Stop(_)
            | Phase::Kill(_)
            | Phase::StopPost(_)
            | Phase::FinalKill(_) => State::Stopping,
            Phase::AutoRestart => State::Restarting,
        }
    }

    fn is_dead(self) -> bool {
        matches!(self, Phase::Dead { .. })
    }

    fn is_stopping(self) -> bool {
        matches!(
            self,
            Phase::StopByNotify
                | Phase::Stop(_)
                | Phase::Kill(_)
                | Phase::StopPost(_)
                | Phase::FinalKill(_)
        )
    }

    /// Processes of the start sequence may be running, or (a socket unit)
    /// its sockets are being made.
    fn is_starting(self) -> bool {
        matches!(
            self,
            Phase::Listen
                | Phase::ExecCondition(_)
                | Phase::StartPre(_)
                | Phase::Start(_)
                | Phase::PidFile
                | Phase::Test
                | Phase::StartPost(_)
        )
    }

    fn is_active(self) -> bool {
        matches!(
            self,
            Phase::Running | Phase::Exited | Phase::Reload(_) | Phase::NotifyReload
        )
    }

    /// A start job that has not begun to run processes.
    fn is_pending_start(self) -> bool {
        matches!(self, Phase::Waiting | Phase::Condition)
    }

    /// Down, about to start, or waiting for its automatic restart: nothing
    /// runs (a restart is a start; a removed unit is forgotten at once).
    fn is_down_or_pending(self) -> bool {
        self.is_dead() || self.is_pending_start() || self == Phase::AutoRestart
    }
}

/// Whether `reason` is the failure of a run that an inactive unit keeps:
/// one an automatic restart was to repair when a stop called it off (what
/// Restart= can restart on). Not why a start never ran (a condition, a
/// dependency, a conflict...).
fn kept_failure(reason: &Reason) -> bool {
    matches!(
        reason,
        Reason::ExitCode(_)
            | Reason::Signal(_)
            | Reason::ExecFailed { .. }
            | Reason::StartTimeout
            | Reason::StopTimeout
            | Reason::Watchdog
            | Reason::PidFile(_)
    )
}

/// Whether the dropped start of a restart of a unit in `phase` is told by
/// the stop itself: a pending start is dropped at once, one under way when
/// its stop begins (`begin_stop`); a dead unit has no restart to drop.
fn restart_told_later(phase: Phase) -> bool {
    phase.is_dead() || phase.is_pending_start() || phase.is_starting()
}

/// Why a stop job was made; `None` in a slot means the unit is going down on its own.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum StopCause {
    Request,
    Conflict(String),
    Shutdown,
    Removed,
    /// The stop of this unit carried on to this one (it requires it, is
    /// bound to it or part of it).
    With(String),
    /// `vigil isolate` of this target, which does not need the unit.
    Isolate(String),
}

impl StopCause {
    fn reason(&self) -> Option<Reason> {
        match self {
            StopCause::Conflict(by) => Some(Reason::Conflict(by.clone())),
            StopCause::Request
            | StopCause::Shutdown
            | StopCause::Removed
            | StopCause::With(_)
            | StopCause::Isolate(_) => None,
        }
    }

    /// What a start this stop takes the place of is told.
    fn canceled(&self) -> Canceled {
        match self {
            StopCause::Request => Canceled::Stop,
            StopCause::Conflict(by) => Canceled::Conflict(by.clone()),
            StopCause::Shutdown => Canceled::Shutdown,
            StopCause::Removed => Canceled::Removed,
            StopCause::With(root) => Canceled::StoppedWith(root.clone()),
            StopCause::Isolate(target) => Canceled::Isolate(target.clone()),
        }
    }
}

/// How a process ended, from `Exited` or `SpawnFailed`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Exit(ExitStatus),
    ExecFailed {
        stage: String,
        errno: i32,
        detail: Option<String>,
    },
}

impl Outcome {
    fn reason(&self) -> Reason {
        match self {
            Outcome::Exit(ExitStatus::Exited(c)) => Reason::ExitCode(*c),
            Outcome::Exit(ExitStatus::Signaled(s)) => Reason::Signal(*s),
            Outcome::ExecFailed {
                stage,
                errno,
                detail,
            } => Reason::ExecFailed {
                stage: stage.clone(),
                errno: *errno,
                detail: detail.clone(),
            },
        }
    }

    fn describe(&self) -> String {
        match self {
            Outcome::Exit(ExitStatus::Exited(c)) => format!("exited with status {c}"),
            Outcome::Exit(ExitStatus::Signaled(s)) => format!("killed by {}", signal_words(*s)),
            Outcome::ExecFailed {
                stage,
                detail: Some(detail),
                ..
            } => format!("failed to execute at {stage}: {detail}"),
            Outcome::ExecFailed { stage, errno, .. } => {
                format!("failed to execute at {stage}: errno {errno}")
            }
        }
    }
}

/// The least time between two lines said for a unit's notifications (a
/// refusal, a field not understood, an `ERRNO=`).
const NOTIFY_LINES_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Slot {
    name: String,
    /// The newest definition: the graph, conditions and the start limit come from it.
    def: Arc<Unit>,
    /// The definition of the current (or last) run: a re-load changes `def` only,
    /// and `run` catches up at the next start.
    run: Arc<Unit>,
    /// What only some units ever hold, out of the slot until then.
    rare: Option<Box<Rare>>,
    /// Gone from the unit set at a re-load; forgotten once dead.
    removed: bool,
    /// Forgotten: the slot stays until the next load but is invisible.
    gone: bool,
    phase: Phase,
    /// The state last reported, to report changes only.
    state: State,
    reason: Option<Reason>,
    since: Time,
    /// Why the current stop sequence runs; `None`: the unit is going down on its own.
    stop_cause: Option<StopCause>,
    /// A stop job waiting for the units ordered after this one to stop first.
    pending_stop: Option<StopCause>,
    /// Start again once stopped (a restart job, or a start during a stop).
    start_after_stop: bool,
    /// A start job of a unit that is active already, waiting for the units
    /// it is ordered after to settle, as systemd's start job of an active
    /// unit waits for the jobs it is ordered after (a target's
    /// `vigil start`, or `isolate`, while what it wants starts again). It
    /// changes nothing when it runs, but until then the unit is not
    /// settled, and its job can fail (a unit it requires failed: the job,
    /// not the unit, [`Action::StartFailed`]). Gone with the active state:
    /// the unit going down on its own keeps it as a start after the stop.
    start_job_on_active: bool,
    reload_from_exited: bool,
    /// Type=notify-reload: the reload signal was sent and no `RELOADING=1`
    /// came since; a `READY=1` then is from before the reload (a service's
    /// periodic one), not its end.
    reload_signalled: bool,
    /// Type=forking with ExecStartPost=: the PID file was not readable when
    /// the start process exited, and is read again after ExecStartPost=.
    pid_file_late: bool,
    /// The main process ended while ExecStartPost= or ExecReload= ran: as in
    /// systemd, the command runs to its end, then the unit goes down.
    main_gone: bool,
    main_pid: Option<u32>,
    control: Option<(u32, Role)>,
    /// A `Spawn` was sent and its `Spawned`/`SpawnFailed` has not come yet.
    spawning: Option<Role>,
    /// The start, stop or reload timeout.
    timeout: Option<Time>,
    /// The restart timer, or the next run of the test probe.
    wake: Option<Time>,
    test_delay: Duration,
    start_times: VecDeque<Time>,
    restarts: u32,
    last_exit: Option<ExitStatus>,
    /// The main exit of the current run, for RestartPreventExitStatus=.
    run_exit: Option<ExitStatus>,
    /// When this run's start job began to run (after its ordering), and the
    /// time from then to ready: the unit's own start time, as
    /// systemd-analyze blame counts it (`vigil blame`).
    start_requested: Option<Time>,
    time_to_ready: Option<Duration>,
    /// The unit became active in this run (ExecStop= runs only then).
    started_ok: bool,
    /// A reload was asked for while one ran: it runs once that one has
    /// ended (systemd queues it rather than merge it: what changed since the
    /// running reload began would not be read).
    reload_again: bool,
    /// It was failed when its start job came, and nothing of the start has
    /// run yet: a start refused now (its start limit) is no new
    /// failure, as systemd's unit stays failed then (OnFailure= and
    /// FailureAction= fire on a change into failed only).
    failed_before_start: bool,
    /// Pulled in by a target started at the shutdown: it starts (once every
    /// unit ordered against it has stopped) instead of being stopped, and is
    /// stopped only when everything else is.
    at_shutdown: bool,
    /// Its process groups hold processes it does not track
    /// ([`Event::Leftovers`]).
    leftovers: bool,
    /// Where in its `after` (start) and `after_rev` (stop) lists the queue's
    /// last check found a unit not done: the next check starts there.
    start_blocker: usize,
    stop_blocker: usize,
}

/// What a unit holds only once something happened to it (a load error, a
/// failure, a `STATUS=`, a watchdog, a readiness probe), kept out of its slot
/// until then: a manager holds a slot per unit for its whole life, and these
/// took 264 of a slot's 656 bytes.
#[derive(Debug, PartialEq)]
struct Rare {
    load_error: Option<String>,
    cycle: Option<String>,
    /// The first failure of the current deactivation.
    result: Option<Reason>,
    test_pid: Option<u32>,
    /// The lines notifications make (refusals, fields not understood,
    /// `ERRNO=`): when one was last said, and how many were not said since
    /// (one a second at most: anyone may write to the socket, a datagram may
    /// carry hundreds of fields, and each line said would push older ones,
    /// other units' among them, out of the manager's ring).
    notify_lines: (Option<Time>, u64),
    /// The failure the last automatic restart followed. The restart that hits
    /// the start limit ends the unit with `start limit hit`, which has no code
    /// of its own: with `--main`, vigild exits with this run's code instead.
    restart_cause: Option<Reason>,
    status_text: Option<String>,
    status_errno: Option<i32>,
    /// When the watchdog fires unless a `WATCHDOG=1` comes first.
    watchdog_at: Option<Time>,
    /// `WATCHDOG_USEC=` for this run (zero: disabled); `None`: WatchdogSec=.
    watchdog_override: Option<Duration>,
}

impl Default for Rare {
    fn default() -> Rare {
        Rare::NONE
    }
}

impl Rare {
    /// What an unset [`Slot::rare`] reads as, and what a new one starts from.
    const NONE: Rare = Rare {
        load_error: None,
        cycle: None,
        result: None,
        test_pid: None,
        notify_lines: (None, 0),
        restart_cause: None,
        status_text: None,
        status_errno: None,
        watchdog_at: None,
        watchdog_override: None,
    };
}

impl Slot {
    fn new(mut unit: Unit, now: Time) -> Slot {
        unit.shrink_to_fit();
        let def = Arc::new(unit);
        Slot {
            name: def.name.clone(),
            run: def.clone(),
            def,
            rare: None,
            removed: false,
            gone: false,
            phase: Phase::Dead { failed: false },
            state: State::Inactive,
            reason: None,
            since: now,
            stop_cause: None,
            pending_stop: None,
            start_after_stop: false,
            start_job_on_active: false,
            reload_from_exited: false,
            reload_signalled: false,
            pid_file_late: false,
            main_gone: false,
            main_pid: None,
            control: None,
            spawning: None,
            timeout: None,
            wake: None,
            test_delay: TEST_RETRY_FIRST,
            start_times: VecDeque::new(),
            restarts: 0,
            last_exit: None,
            run_exit: None,
            start_blocker: 0,
            stop_blocker: 0,
            start_requested: None,
            time_to_ready: None,
            started_ok: false,
            failed_before_start: false,
            reload_again: false,
            at_shutdown: false,
            leftovers: false,
        }
    }

    /// The unit's [`Rare`] fields, unset ones as `None`.
    fn rare(&self) -> &Rare {
        self.rare.as_deref().unwrap_or(&Rare::NONE)
    }

    /// The same, to set one: made on the first write.
    fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_default()
    }

    /// Sets one of the [`Rare`] fields: to none, only when the unit has any.
    fn set_rare<T>(&mut self, field: impl FnOnce(&mut Rare) -> &mut Option<T>, value: Option<T>) {
        if value.is_some() || self.rare.is_some() {
            *field(self.rare_mut()) = value;
        }
    }

    /// Runs `f` on the [`Rare`] fields when the unit has any (a clear, a
    /// take): a unit that holds none stays without.
    fn if_rare<T: Default>(&mut self, f: impl FnOnce(&mut Rare) -> T) -> T {
        self.rare.as_deref_mut().map(f).unwrap_or_default()
    }

    /// The processes the unit tracks: main, control and condition.
    fn pids(&self) -> Vec<u32> {
        [
            self.main_pid,
            self.control.map(|c| c.0),
            self.rare().test_pid,
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    fn alive(&self) -> bool {
        self.main_pid.is_some()
            || self.control.is_some()
            || self.rare().test_pid.is_some()
            || self.spawning.is_some()
    }

    fn broken(&self) -> bool {
        self.rare().load_error.is_some()
    }

    /// For the start ordering of the units ordered after this one.
    fn settled(&self) -> bool {
        self.pending_stop.is_none()
            && !self.start_after_stop
            && !self.start_job_on_active
            && matches!(
                self.phase,
                Phase::Dead { .. }
                    | Phase::Running
                    | Phase::Exited
                    | Phase::Reload(_)
                    | Phase::NotifyReload
            )
    }

    /// The unit's job, if it has one, and whether it runs: a stop (or a
    /// restart, when a start is queued after it) waiting for the units
    /// ordered after it or under way; a start waiting for its order or
    /// under way (its conditions checked, its commands run); a reload under
    /// way. Read from the phase and the queued stop and start, which are
    /// the jobs (the machine keeps no job records of its own).
    fn job(&self) -> Option<(JobType, bool)> {
        let stop = match self.start_after_stop {
            true => JobType::Restart,
            false => JobType::Stop,
        };
        if self.pending_stop.is_some() {
            return Some((stop, false));
        }
        match self.phase {
            p if p.is_stopping() => Some((stop, true)),
            Phase::Waiting => Some((JobType::Start, false)),
            p if p == Phase::Condition || p.is_starting() => Some((JobType::Start, true)),
            Phase::Reload(_) | Phase::NotifyReload => Some((JobType::Reload, true)),
            Phase::Dead { .. } if self.start_after_stop => Some((JobType::Start, false)),
            Phase::Running | Phase::Exited if self.start_job_on_active => {
                Some((JobType::Start, false))
            }
            _ => None,
        }
    }

    /// The job a reload of the unit joins instead of running: its start,
    /// pending or under way (not the start job of a unit active already,
    /// which a reload does not wait for), or its restart.
    fn reload_joins(&self) -> Option<JobType> {
        match self.job()? {
            (JobType::Start, _) if !self.phase.is_active() => Some(JobType::Start),
            (JobType::Restart, _) => Some(JobType::Restart),
            _ => None,
        }
    }

    /// Blocks the stop of the units this one is ordered after.
    fn stopping_or_pending(&self) -> bool {
        self.pending_stop.is_some() || self.phase.is_stopping()
    }
}

/// Whether `ok` holds for every unit of `list`, looked at from `*from` on and
/// round, and where it did not. A target ordered after a thousand services is
/// queued again as each of them moves: the one that held it back last time
/// is likely to still, and the ones before it to be done, so that looking
/// from the start each time made a thousand starts cost a million looks.
fn all_from(list: &[usize], from: &mut usize, ok: impl Fn(usize) -> bool) -> bool {
    let start = if *from < list.len() { *from } else { 0 };
    let (before, rest) = list.split_at(start);
    match rest.iter().chain(before).position(|&v| !ok(v)) {
        Some(k) => {
            *from = (start + k) % list.len();
            false
        }
        None => true,
    }
}

/// The command of a role, if the service has it.
fn command(svc: &Service, role: Role) -> Option<&ExecCommand> {
    match role {
        Role::Main(i) => svc.exec_start.get(i),
        Role::Condition(i) => svc.exec_condition.get(i),
        Role::StartPre(i) => svc.exec_start_pre.get(i),
        Role::StartPost(i) => svc.exec_start_post.get(i),
        Role::Reload(i) => svc.exec_reload.get(i),
        Role::Stop(i) => svc.exec_stop.get(i),
        Role::StopPost(i) => svc.exec_stop_post.get(i),
        Role::Test => svc.ready_test.as_ref(),
    }
}

/// A command as written, for messages: `/bin/sh -c 'exit 1'`.
fn command_text(cmd: &ExecCommand) -> String {
    let mut words = vec![cmd.program.clone()];
    words.extend(cmd.argv.iter().skip(1).map(|a| {
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'') {
            format!("'{}'", a.replace('\'', r"'\''"))
        } else {
            a.clone()
        }
    }));
    words.join(" ")
}

/// systemd's exit code for a failure while setting the process up
/// (systemd.exec(5), "Process Exit Codes"), by the stage vigil names; 1 for a
/// stage it has no code of its own for.
fn setup_exit_code(stage: &str) -> i32 {
    let step = stage.split(' ').next().unwrap_or(stage);
    match step {
        "chdir" => 200,
        "nice" => 201,
        "files" => 202,
        "exec" => 203,
        "rlimit" => 205,
        "oom-score-adjust" => 206,
        "sigmask" => 207,
        "tty" | "chown-tty" => 208,
        "stdio" | "dup2" => 209,
        "ioprio" => 211,
        "sched" => 214,
        "setgroups" | "setgid" => 216,
        "user" | "setuid" => 217,
        "capabilities" | "bounding-set" => 218,
        "setsid" => 220,
        _ => 1,
    }
}

/// Success of the main process: exit 0, SuccessExitStatus=, and the signals
/// systemd counts as clean for a main process ("except for Type=oneshot":
/// a oneshot's work ended by SIGTERM was not done).
fn main_clean(svc: &Service, outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Exit(ExitStatus::Exited(0)) => true,
        Outcome::Exit(ExitStatus::Exited(c)) => svc.success_exit_status.codes.contains(c),
        Outcome::Exit(ExitStatus::Signaled(s)) => {
            let clean_signal = matches!(*s, SIGHUP | SIGINT | SIGTERM | SIGPIPE)
                && svc.service_type != ServiceType::Oneshot;
            clean_signal || svc.success_exit_status.signals.contains(s)
        }
        Outcome::ExecFailed { .. } => false,
    }
}

/// systemd's Restart= table, see the module documentation.
fn restart_wanted(svc: &Service, result: Option<&Reason>, run_exit: Option<ExitStatus>) -> bool {
    use RestartPolicy::{Always, OnAbnormal, OnAbort, OnFailure, OnSuccess, OnWatchdog};
    let listed = |set: &ExitStatusSet| match run_exit {
        Some(ExitStatus::Exited(c)) => set.codes.contains(&c),
        Some(ExitStatus::Signaled(s)) => set.signals.contains(&s),
        None => false,
    };
    if listed(&svc.restart_prevent_exit_status) {
        return false;
    }
    if listed(&svc.restart_force_exit_status) {
        return true;
    }
    let p = svc.restart;
    match result {
        None => matches!(p, Always | OnSuccess),
        Some(Reason::ExitCode(_) | Reason::ExecFailed { .. }) => matches!(p, Always | OnFailure),
        // systemd's `protocol` result: every policy but on-success, on-watchdog
        // and on-abort restarts on it (on-abnormal too).
        Some(Reason::PidFile(_)) => matches!(p, Always | OnFailure | OnAbnormal),
        Some(Reason::Signal(_)) => matches!(p, Always | OnFailure | OnAbnormal | OnAbort),
        Some(Reason::StartTimeout | Reason::StopTimeout) => {
            matches!(p, Always | OnFailure | OnAbnormal)
        }
        Some(Reason::Watchdog) => matches!(p, Always | OnFailure | OnAbnormal | OnWatchdog),
        Some(_) => false,
    }
}

fn kind_of(name: &str) -> UnitKind {
    if name.ends_with(UnitKind::Target.suffix()) {
        UnitKind::Target
    } else if name.ends_with(UnitKind::Socket.suffix()) {
        UnitKind::Socket
    } else {
        UnitKind::Service
    }
}

/// The units `def` requires, wants or is bound to, by name, as its file
/// says (units that are not loaded included): a re-load starts what is new
/// among them.
fn requirement_names(def: &Unit) -> impl Iterator<Item = &String> {
    let d = &def.deps;
    d.requires.iter().chain(&d.wants).chain(&d.binds_to)
}

/// The machine behind [`crate::Engine`].
#[derive(Debug, Default)]
pub(crate) struct Machine {
    slots: Vec<Slot>,
    index: HashMap<String, usize>,
    graph: Graph,
    pids: HashMap<u32, (usize, Role)>,
    queue: VecDeque<usize>,
    queued: Vec<bool>,
    actions: Vec<Action>,
    cycles: Vec<Vec<String>>,
    loaded: bool,
    shutting_down: bool,
    /// The deadline is near (`ShutdownLastCall`): stops no longer wait for
    /// the units ordered after them.
    stop_order_dropped: bool,
    /// The shutdown's last step began: the units started at the shutdown are
    /// stopped too.
    shutdown_final: bool,
    /// While a shutdown call starts its units: those it added (a unit that
    /// ran at this shutdown already does not run again).
    shutdown_fresh: HashSet<usize>,
    all_stopped_sent: bool,
    now: Time,
    /// The units with StopWhenUnneeded=yes, checked after every call.
    unneeded_watch: Vec<usize>,
    /// The units the starts of one request give a job (`vigil start a b` is
    /// one transaction: a conflict between them stops neither), and whether
    /// a request is being dispatched.
    in_request: HashSet<usize>,
    together: bool,
    /// While an isolate gives the other units their stop jobs: the units it
    /// keeps, which no stop carries on to (`stop_unit`).
    isolate_keep: HashSet<usize>,
    /// The (unit, Requisite= unit) pairs of the request being dispatched,
    /// checked once every unit it names has its job.
    requisites_due: Vec<(usize, usize)>,
    /// The deadlines set, for [`Machine::next_deadline`] without a look at
    /// every slot at each turn of the manager's loop.
    deadlines: Deadlines,
    /// How many slots may have `leftovers` set (never fewer than do), so that
    /// [`Machine::units_waiting_for_leftovers`], asked after every reaping,
    /// looks at the slots only when one may wait.
    with_leftovers: usize,
    /// Changes at each call that may change [`Machine::known`] (a load,
    /// removed units added at a take-over): vigild writes that record for a
    /// successor again only when this moved.
    known_version: u64,
    /// The names the configuration masks (links to /dev/null, empty files),
    /// as the manager read them with the units: a requirement on one is
    /// said masked, as systemd says it, not "not found".
    masked: HashSet<String>,
}

/// Every deadline set on a slot (a timeout, a wake, a watchdog), soonest
/// first; an entry whose slot no longer has that deadline is dropped when it
/// comes first. Every place that sets one notes it here ([`Deadlines::note`]);
/// going through all the slots for the soonest, at every turn of the loop,
/// made a stop of a chain of 20,000 units quadratic. Entries that never come
/// first (a watchdog's, each ping later than the last, behind another unit's
/// sooner deadline) are swept out once the heap has grown to twice what it
/// held after the last sweep: its size stays bounded by what is live.
#[derive(Debug, Default)]
struct Deadlines {
    heap: RefCell<BinaryHeap<Reverse<(Time, usize)>>>,
    /// The size at which the next sweep is due.
    sweep_at: std::cell::Cell<usize>,
}

/// The least size of the heap at which a sweep is due.
const DEADLINES_SWEEP_MIN: usize = 64;

impl Deadlines {
    fn note(&self, u: usize, at: Option<Time>) {
        if let Some(at) = at {
            self.heap.borrow_mut().push(Reverse((at, u)));
        }
    }

    /// The soonest entry that `valid` still holds.
    fn first(&self, valid: impl Fn(Time, usize) -> bool) -> Option<Time> {
        let mut heap = self.heap.borrow_mut();
        if heap.len() >= self.sweep_at.get().max(DEADLINES_SWEEP_MIN) {
            let mut live = std::mem::take(&mut *heap).into_vec();
            live.retain(|&Reverse((at, u))| valid(at, u));
            live.sort_unstable();
            live.dedup();
            *heap = BinaryHeap::from(live);
            heap.shrink_to_fit();
            self.sweep_at.set(heap.len() * 2);
        }
        while let Some(&Reverse((at, u))) = heap.peek() {
            if valid(at, u) {
                return Some(at);
            }
            heap.pop();
        }
        heap.shrink_to_fit();
        None
    }

    fn clear(&self) {
        self.heap.borrow_mut().clear();
        self.sweep_at.set(0);
    }
}

impl Machine {
    // ----- public surface (called by Engine) -----

    pub(crate) fn load(&mut self, now: Time, units: Vec<Unit>, broken: Vec<(String, String)>) {
        self.now = now;
        let reload = self.loaded;
        self.loaded = true;
        self.known_version += 1;

        // Requirement edges of each unit before the re-load, to find new ones
        // (what [`Machine::known`] records for a successor).
        let mut old_reqs: HashMap<String, HashSet<String>> = HashMap::new();
        let mut old: HashMap<String, Slot> = HashMap::new();
        for slot in self.slots.drain(..) {
            if slot.gone {
                continue;
            }
            let reqs = requirement_names(&slot.def).cloned().collect();
            old_reqs.insert(slot.name.clone(), reqs);
            old.insert(slot.name.clone(), slot);
        }

        // Room for the units as they are: a slot of each is held for good.
        let mut slots: Vec<Slot> = Vec::with_capacity(units.len() + broken.len());
        let mut seen: HashSet<String> = HashSet::new();
        let mut added: HashSet<String> = HashSet::new();
        let mut newly_broken: Vec<String> = Vec::new();
        let mut fixed: Vec<String> = Vec::new();
        for unit in units {
            if !seen.insert(unit.name.clone()) {
                continue;
            }
            match old.remove(&unit.name) {
                Some(mut slot) => {
                    let mut unit = unit;
                    unit.shrink_to_fit();
                    slot.def = Arc::new(unit);
                    slot.if_rare(|r| r.load_error = None);
                    slot.removed = false;
                    if slot.phase.is_dead() {
                        slot.run = slot.def.clone();
                        if matches!(slot.reason, Some(Reason::LoadError(_))) {
                            fixed.push(slot.name.clone());
                        }
                    }
                    slots.push(slot);
                }
                None => {
                    added.insert(unit.name.clone());
                    slots.push(Slot::new(unit, now));
                }
            }
        }
        for (name, message) in broken {
            if !seen.insert(name.clone()) {
                continue;
            }
            let mut slot = match old.remove(&name) {
                Some(slot) => slot,
                None => {
                    added.insert(name.clone());
                    Slot::new(
                        Unit::new(name.clone(), kind_of(&name), Format::Builtin),
                        now,
                    )
                }
            };
            slot.rare_mut().load_error = Some(message);
            slot.removed = false;
            newly_broken.push(name);
            slots.push(slot);
        }
        let mut removed: Vec<String> = Vec::new();
        for (name, mut slot) in old {
            // Down, or only about to start (a start job not begun, a restart
            // due): forgotten now, the start called off.
            if slot.phase.is_down_or_pending() && !slot.alive() {
                self.actions.push(Action::Log {
                    level: Level::Info,
                    unit: Some(name),
                    message: "removed".into(),
                });
                continue;
            }
            // Said (and acted on) once, not again at every later re-load.
            if !std::mem::replace(&mut slot.removed, true) {
                removed.push(name);
            }
            slots.push(slot);
        }
        slots.sort_by(|a, b| a.name.cmp(&b.name));
        slots.shrink_to_fit();
        for slot in &mut slots {
            slot.if_rare(|r| r.cycle = None);
        }
        self.slots = slots;
        self.index_slots();
        self.index = self
            .slots
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        self.queued = vec![false; self.slots.len()];
        self.queue.clear();
        self.pids.clear();
        let waiting: Vec<usize> = (self.slots.iter().enumerate())
            .filter(|(_, s)| {
                s.phase == Phase::Waiting || s.pending_stop.is_some() || s.start_job_on_active
            })
            .map(|(i, _)| i)
            .collect();
        for (i, s) in self.slots.iter().enumerate() {
            if let Some(p) = s.main_pid {
                self.pids.insert(p, (i, Role::Main(0)));
            }
            if let Some((p, role)) = s.control {
                self.pids.insert(p, (i, role));
            }
            if let Some(p) = s.rare().test_pid {
                self.pids.insert(p, (i, Role::Test));
            }
        }
        self.build_graph();
        // The graph changed: what waited may wait for nothing now (an
        // ordering edge gone with a unit removed), and nothing else would
        // look at it again.
        for u in waiting {
            self.push(u);
        }
        self.unneeded_watch = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.def.stop_when_unneeded || s.run.stop_when_unneeded)
            .map(|(i, _)| i)
            .collect();

        // Cycles: every unit named, in vigild's log and in each unit's status.
        self.cycles.clear();
        let cycles = self.graph.cycles.clone();
        for cycle in &cycles {
            let names: Vec<String> = cycle.iter().map(|&u| self.slots[u].name.clone()).collect();
            let text = graph::cycle_text(&names);
            let dropped = format!(
                "{} no longer waits for {}",
                names.last().map_or("", String::as_str),
                names.first().map_or("", String::as_str)
            );
            self.actions.push(Action::Log {
                level: Level::Error,
                unit: None,
                message: format!("ordering cycle: {text}; dropped one ordering edge ({dropped})"),
            });
            for &u in cycle {
                let cycle = &mut self.slots[u].rare_mut().cycle;
                *cycle = Some(match cycle.take() {
                    Some(prev) => format!("{prev}; {text}"),
                    None => text.clone(),
                });
            }
            self.cycles.push(names);
        }

        for name in fixed {
            // The file was repaired: the unit is no longer failed.
            let Some(&u) = self.index.get(&name) else {
                continue;
            };
            self.slots[u].reason = None;
            self.set_phase(u, Phase::Dead { failed: false });
        }
        for name in newly_broken {
            let Some(&u) = self.index.get(&name) else {
                continue;
            };
            let message = self.slots[u].rare().load_error.clone().unwrap_or_default();
            if self.slots[u].phase.is_dead() {
                // The state change (`-> failed (load error: ...)`) says it.
                self.slots[u].reason = Some(Reason::LoadError(message));
                self.set_phase(u, Phase::Dead { failed: true });
            } else {
                self.log(Level::Error, u, format!("load error: {message}"));
            }
        }
        // As systemd keeps a `not-found` unit: it runs as it was started until
        // it stops (by request, or its process ends: no automatic restart),
        // and is forgotten then. One about to start with processes left (of
        // KillMode=none, say) is stopped; so is a target, which runs nothing
        // (a built-in one goes when nothing refers to it any more).
        for name in removed {
            let Some(&u) = self.index.get(&name) else {
                continue;
            };
            let phase = self.slots[u].phase;
            if self.slots[u].def.kind == UnitKind::Target {
                self.log(Level::Info, u, "removed from the unit set; stopping".into());
                self.stop_unit(u, StopCause::Removed, false);
            } else if phase.is_pending_start() || phase == Phase::AutoRestart {
                self.log(Level::Info, u, "its file is gone: start called off".into());
                self.stop_unit(u, StopCause::Removed, false);
            } else {
                let message = "its file is gone: it keeps running until stopped, then is forgotten";
                self.log(Level::Warning, u, message.into());
            }
        }
        if reload && !self.shutting_down {
            self.start_newly_wanted(&added, &old_reqs);
        }
        self.finish_call();
    }

    /// What a re-load starts: each unit that an active (or starting, or
    /// waiting) unit requires, wants or is bound to, and that is `added` or
    /// whose edge from it is new (not in `old_reqs`, each unit's requirement
    /// names at the last load; a unit not there has only new edges).
    fn start_newly_wanted(
        &mut self,
        added: &HashSet<String>,
        old_reqs: &HashMap<String, HashSet<String>>,
    ) {
        let mut to_start: Vec<usize> = Vec::new();
        for (u, slot) in self.slots.iter().enumerate() {
            if slot.removed
                || slot.gone
                || !(slot.phase.is_active()
                    || slot.phase.is_starting()
                    || slot.phase == Phase::Waiting)
            {
                continue;
            }
            let before = old_reqs.get(&slot.name);
            for d in self.graph.requires[u]
                .iter()
                .chain(&self.graph.wants[u])
                .chain(&self.graph.binds_to[u])
            {
                let dep = &self.slots[*d];
                let new_edge = before.is_none_or(|b| !b.contains(&dep.name));
                if (added.contains(&dep.name) || new_edge) && !dep.broken() {
                    to_start.push(*d);
                }
            }
        }
        for u in to_start {
            if self.slots[u].phase.is_dead() {
                self.log(
                    Level::Info,
                    u,
                    "wanted by an active unit after a re-load; starting".into(),
                );
                let _ = self.start_unit(u, false);
            }
        }
    }

    pub(crate) fn handle(&mut self, now: Time, event: Event) -> Result<(), EngineError> {
        self.handle_together(now, vec![event]).remove(0)
    }

    /// Several events as one request (`vigil start a b`): every job is
    /// queued before any runs, so their ordering holds between them too.
    pub(crate) fn handle_together(
        &mut self,
        now: Time,
        events: Vec<Event>,
    ) -> Vec<Result<(), EngineError>> {
        self.now = now;
        if let Some(e) = self.conflicting_restarts(&events) {
            return events.iter().map(|_| Err(e.clone())).collect();
        }
        self.together = true;
        self.in_request.clear();
        let results = events.into_iter().map(|e| self.dispatch(e)).collect();
        let requisites = std::mem::take(&mut self.requisites_due);
        self.check_requisites(requisites);
        self.together = false;
        self.in_request.clear();
        self.finish_call();
        results
    }

    /// `vigil restart a b` of two units in conflict is refused, as systemd
    /// refuses its conflicting jobs: each start comes after its own stop,
    /// and the later one would stop the other. (A start of both is one
    /// transaction, in which neither stops the other; so is a restart of
    /// units that are down, which is their start.)
    fn conflicting_restarts(&self, events: &[Event]) -> Option<EngineError> {
        let restarted: Vec<usize> = (events.iter())
            .filter_map(|e| match e {
                Event::Restart(name) => self.index.get(name).copied(),
                _ => None,
            })
            .collect();
        let stops_first = |u: usize| !self.slots[u].phase.is_down_or_pending();
        let (&a, &b) = restarted.iter().find_map(|a| {
            let b = restarted.iter().find(|&&b| {
                self.graph.conflicts[*a].contains(&b) && (stops_first(*a) || stops_first(b))
            })?;
            Some((a, b))
        })?;
        let why = format!(
            "conflicts with {}: both cannot be restarted by one request",
            self.slots[b].name
        );
        Some(self.refuse(a, &why))
    }

    pub(crate) fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    pub(crate) fn next_deadline(&self) -> Option<Time> {
        let next = self.deadlines.first(|at, u| {
            self.slots.get(u).is_some_and(|s| {
                !s.gone
                    && (s.timeout == Some(at)
                        || s.wake == Some(at)
                        || s.rare().watchdog_at == Some(at))
            })
        });
        debug_assert_eq!(
            next,
            self.soonest_deadline(),
            "a deadline set but not noted"
        );
        next
    }

    /// The soonest deadline of every slot, looked for in each.
    fn soonest_deadline(&self) -> Option<Time> {
        self.slots
            .iter()
            .filter(|s| !s.gone)
            .flat_map(|s| [s.timeout, s.wake, s.rare().watchdog_at])
            .flatten()
            .min()
    }

    /// Notes the deadlines and the `leftovers` of every slot anew, after
    /// the slots were made or restored.
    pub(crate) fn index_slots(&mut self) {
        self.deadlines.clear();
        for (u, s) in self.slots.iter().enumerate() {
            for at in [s.timeout, s.wake, s.rare().watchdog_at] {
                self.deadlines.note(u, at);
            }
        }
        self.with_leftovers = self.slots.iter().filter(|s| s.leftovers).count();
    }

    fn set_leftovers(&mut self, u: usize, present: bool) {
        let s = &mut self.slots[u];
        if s.leftovers != present {
            s.leftovers = present;
            self.with_leftovers = match present {
                true => self.with_leftovers + 1,
                false => self.with_leftovers.saturating_sub(1),
            };
        }
    }

    pub(crate) fn unit(&self, name: &str) -> Option<UnitInfo> {
        let &u = self.index.get(name)?;
        Some(self.info(u))
    }

    pub(crate) fn state(&self, name: &str) -> Option<State> {
        let &u = self.index.get(name)?;
        Some(self.slots[u].phase.state())
    }

    pub(crate) fn states(&self) -> impl Iterator<Item = (&str, State)> {
        let live = self.slots.iter().filter(|s| !s.gone);
        live.map(|s| (s.name.as_str(), s.phase.state()))
    }

    pub(crate) fn units(&self) -> Vec<UnitInfo> {
        (0..self.slots.len())
            .filter(|&u| !self.slots[u].gone)
            .map(|u| self.info(u))
            .collect()
    }

    pub(crate) fn jobs(&self) -> Vec<Job> {
        let live = self.slots.iter().filter(|s| !s.gone);
        live.filter_map(|s| {
            let (job_type, running) = s.job()?;
            Some(Job {
                unit: s.name.clone(),
                job_type,
                running,
            })
        })
        .collect()
    }

    /// The job a reload of `name` joins ([`Slot::reload_joins`]).
    pub(crate) fn reload_joins(&self, name: &str) -> Option<JobType> {
        let &u = self.index.get(name)?;
        self.slots.get(u)?.reload_joins()
    }

    /// What the start job of `name` waits for, by name: the units it is
    /// ordered after that have not settled (a start waiting for its turn) or
    /// still have a job (the start of a unit active already), and the units
    /// ordered after it that stop first. Empty when it waits for nothing.
    pub(crate) fn waiting_for(&self, name: &str) -> Vec<String> {
        let Some(&u) = self.index.get(name) else {
            return Vec::new();
        };
        let s = &self.slots[u];
        let waits: &dyn Fn(usize) -> bool = if s.phase == Phase::Waiting {
            &|a| !self.slots[a].settled()
        } else if s.start_job_on_active {
            &|a| self.slots[a].job().is_some()
        } else {
            return Vec::new();
        };
        let before = self.graph.after[u].iter().copied().filter(|&a| waits(a));
        let stopping = (self.graph.after_rev[u].iter().copied())
            .filter(|&z| self.slots[z].stopping_or_pending());
        let mut names: Vec<String> = before
            .chain(stopping)
            .map(|x| self.slots[x].name.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    pub(crate) fn has_jobs(&self) -> bool {
        self.slots.iter().any(|s| !s.gone && s.job().is_some())
    }

    pub(crate) fn cycles(&self) -> Vec<Vec<String>> {
        self.cycles.clone()
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    pub(crate) fn definition(&self, name: &str) -> Option<Arc<Unit>> {
        let &u = self.index.get(name)?;
        let s = self.slots.get(u).filter(|s| !s.gone)?;
        Some(s.def.clone())
    }

    /// The ordering and requirement graph of the loaded units (a removed one
    /// has no edges).
    fn build_graph(&mut self) {
        let defs: Vec<Option<&Unit>> = self
            .slots
            .iter()
            .map(|s| (!s.removed).then_some(&*s.def))
            .collect();
        self.graph = graph::build(&defs);
    }

    /// Slots for units no file defines any more, marked removed: what a
    /// predecessor ran of them is stopped (see `restore`).
    pub(crate) fn add_removed(&mut self, names: &[String]) {
        if names.is_empty() {
            return;
        }
        self.known_version += 1;
        for name in names {
            let unit = Unit::new(name.clone(), kind_of(name), Format::Builtin);
            let mut slot = Slot::new(unit, self.now);
            slot.removed = true;
            self.index.insert(name.clone(), self.slots.len());
            self.slots.push(slot);
            self.queued.push(false);
        }
        self.build_graph();
    }

    pub(crate) fn run_result(&self, name: &str) -> (Option<Reason>, Option<ExitStatus>) {
        let Some(s) = self.index.get(name).and_then(|&u| self.slots.get(u)) else {
            return (None, None);
        };
        // Once the run is over its result is why the unit is failed (or
        // waits to restart): the stop took it from `result`.
        let result = match s.phase {
            Phase::Dead { failed: true } | Phase::AutoRestart => s.reason.clone(),
            // Stopped while it waited to restart: the failure is kept.
            Phase::Dead { failed: false } => s.reason.clone().filter(kept_failure),
            _ => s.rare().result.clone(),
        };
        (result, s.run_exit)
    }

    pub(crate) fn triggered_by(&self, name: &str) -> Vec<&str> {
        let Some(&u) = self.index.get(name) else {
            return Vec::new();
        };
        (self.graph.triggered_by[u].iter())
            .filter_map(|&t| self.slots.get(t))
            .map(|s| s.name.as_str())
            .collect()
    }

    pub(crate) fn run_definition(&self, name: &str) -> Option<Arc<Unit>> {
        let &u = self.index.get(name)?;
        let s = self.slots.get(u).filter(|s| !s.gone)?;
        Some(s.run.clone())
    }

    pub(crate) fn last_process_of(&self, pid: u32) -> Option<&str> {
        let &(u, _) = self.pids.get(&pid)?;
        let s = &self.slots[u];
        (s.pids() == [pid] && s.spawning.is_none()).then_some(s.name.as_str())
    }

    pub(crate) fn units_waiting_for_leftovers(&self) -> Vec<String> {
        if self.with_leftovers == 0 {
            return Vec::new();
        }
        let waiting = (0..self.slots.len()).filter(|&u| {
            matches!(self.slots[u].phase, Phase::Kill(_)) && self.waits_for_leftovers(u)
        });
        waiting.map(|u| self.slots[u].name.clone()).collect()
    }

    pub(crate) fn unit_of_pid(&self, pid: u32) -> Option<&str> {
        let &(u, _) = self.pids.get(&pid)?;
        Some(self.slots[u].name.as_str())
    }

    fn info(&self, u: usize) -> UnitInfo {
        let s = &self.slots[u];
        let d = &s.def.deps;
        let mut requires: Vec<String> = d
            .requires
            .iter()
            .chain(&d.binds_to)
            .chain(&d.requisite)
            .cloned()
            .collect();
        requires.sort();
        requires.dedup();
        let after = if s.removed {
            d.after.clone()
        } else {
            self.graph.after[u]
                .iter()
                .map(|&a| self.slots[a].name.clone())
                .collect()
        };
        UnitInfo {
            name: s.name.clone(),
            description: s.def.description.clone(),
            state: s.phase.state(),
            reason: s.reason.clone(),
            main_pid: s.main_pid,
            control_pid: s.control.map(|c| c.0),
            since: s.since,
            timeout: s.timeout,
            restarts: s.restarts,
            restart_cause: s.rare().restart_cause.clone(),
            last_exit: s.last_exit,
            status_text: s.rare().status_text.clone(),
            status_errno: s.rare().status_errno,
            next_restart: if s.phase == Phase::AutoRestart {
                s.wake
            } else {
                None
            },
            time_to_ready: s.time_to_ready,
            requires,
            wants: d.wants.clone(),
            after,
            cycle: s.rare().cycle.clone(),
            removed: s.removed,
            job: s.job().map(|(job_type, _)| job_type),
        }
    }

    // ----- events -----

    /// A unit that may be started: one a file defines.
    fn lookup(&self, name: &str) -> Result<usize, EngineError> {
        match self.index.get(name) {
            Some(&u) if !self.slots[u].removed => Ok(u),
            _ => Err(EngineError::NoSuchUnit(name.to_string())),
        }
    }

    /// A unit that may be stopped, signalled or heard from: also one whose
    /// file is gone while it runs.
    fn lookup_running(&self, name: &str) -> Result<usize, EngineError> {
        match self.index.get(name) {
            Some(&u) if !self.slots[u].gone => Ok(u),
            _ => Err(EngineError::NoSuchUnit(name.to_string())),
        }
    }

    fn refuse(&self, u: usize, why: &str) -> EngineError {
        EngineError::NotAllowed {
            unit: self.slots[u].name.clone(),
            why: why.to_string(),
        }
    }

    fn dispatch(&mut self, event: Event) -> Result<(), EngineError> {
        match event {
            Event::Start(name) => {
                let u = self.lookup(&name)?;
                self.start_unit(u, true)
            }
            Event::Activate(name) => {
                let u = self.lookup(&name)?;
                self.start_unit(u, false)
            }
            Event::Accepted(name) => {
                let u = self.lookup(&name)?;
                // Straight from failed to waiting, never through inactive:
                // vigild would take that for the end of this connection.
                if self.slots[u].phase.is_dead() {
                    let s = &mut self.slots[u];
                    s.start_times.clear();
                    s.restarts = 0;
                }
                self.start_unit(u, false)
            }
            Event::Stop(name) => {
                let u = self.lookup_running(&name)?;
                self.stop_unit(u, StopCause::Request, false);
                Ok(())
            }
            Event::Isolate(name) => {
                let u = self.lookup(&name)?;
                self.isolate(u)
            }
            Event::Restart(name) => {
                let u = self.lookup(&name)?;
                self.restart_unit(u)
            }
            Event::Reload(name) => {
                let u = self.lookup(&name)?;
                self.reload_unit(u)?;
                self.propagate_reload(u);
                Ok(())
            }
            Event::ResetFailed(name) => self.reset_failed(name.as_deref()),
            Event::Kill { unit, signal, whom } => {
                let u = self.lookup_running(&unit)?;
                let s = &self.slots[u];
                let (pids, group) = match whom {
                    KillWhom::Main => (s.main_pid.into_iter().collect(), false),
                    KillWhom::Control => (s.control.map(|c| c.0).into_iter().collect(), false),
                    KillWhom::All => (s.pids(), true),
                };
                // All of it: the leftovers too (a unit stuck waiting for one
                // that ignores its stop), as systemctl kill signals the cgroup.
                let leftovers = whom == KillWhom::All && s.leftovers;
                if pids.is_empty() && !leftovers {
                    let what = match whom {
                        KillWhom::Main => "no main process",
                        KillWhom::Control => "no control process",
                        KillWhom::All => "no process",
                    };
                    return Err(self.refuse(u, what));
                }
                for pid in pids {
                    self.actions.push(Action::Signal {
                        unit: unit.clone(),
                        pid,
                        signal,
                        group,
                        cont: false,
                    });
                }
                if leftovers {
                    let once = false;
                    self.actions
                        .push(Action::KillLeftovers { unit, signal, once });
                }
                Ok(())
            }
            Event::Shutdown { targets } => {
                self.shutdown(&targets);
                Ok(())
            }
            Event::ShutdownLastCall => {
                if self.shutting_down {
                    self.stop_order_dropped = true;
                    for u in 0..self.slots.len() {
                        if self.slots[u].pending_stop.is_some() {
                            self.push(u);
                        }
                    }
                }
                Ok(())
            }
            Event::ShutdownDeadline => {
                self.shutdown_deadline();
                Ok(())
            }
            Event::Spawned { unit, role, pid } => {
                self.on_spawned(&unit, role, pid);
                Ok(())
            }
            Event::ExecSucceeded { pid } => {
                self.on_exec_succeeded(pid);
                Ok(())
            }
            Event::SpawnFailed {
                unit,
                role,
                pid,
                stage,
                errno,
                detail,
            } => {
                let outcome = Outcome::ExecFailed {
                    stage,
                    errno,
                    detail,
                };
                self.on_spawn_failed(&unit, role, pid, outcome);
                Ok(())
            }
            Event::Exited { pid, status } => {
                self.on_exited(pid, status);
                Ok(())
            }
            Event::Notify { pid, fields } => {
                self.on_notify(pid, &fields, None);
                Ok(())
            }
            Event::NotifyFromUnit { unit, pid, fields } => {
                let u = self.lookup_running(&unit)?;
                self.on_notify(pid, &fields, Some(u));
                Ok(())
            }
            Event::ConditionsChecked { unit, result } => {
                if let Some(&u) = self.index.get(&unit) {
                    self.on_conditions(u, result);
                }
                Ok(())
            }
            Event::PidFileRead { unit, result } => {
                if let Some(&u) = self.index.get(&unit) {
                    self.on_pid_file(u, result);
                }
                Ok(())
            }
            Event::MainPidGuessed { unit, pid } => {
                if let Some(&u) = self.index.get(&unit) {
                    self.on_main_pid_guessed(u, pid);
                }
                Ok(())
            }
            Event::ProcessesGone { unit } => {
                if let Some(&u) = self.index.get(&unit) {
                    self.on_processes_gone(u);
                }
                Ok(())
            }
            Event::Leftovers { unit, present } => {
                if let Some(&u) = self.index.get(&unit) {
                    self.on_leftovers(u, present);
                }
                Ok(())
            }
            Event::Tick => {
                self.on_tick();
                Ok(())
            }
            Event::Listened { unit, result } => {
                if let Some(&u) = self.index.get(&unit) {
                    self.on_listened(u, result);
                }
                Ok(())
            }
            Event::SocketFailed { unit, why } => {
                let u = self.lookup_running(&unit)?;
                if self.slots[u].phase == Phase::Running {
                    // Said once, by the state change that carries the reason.
                    self.deactivate(u, Some(Reason::Socket(why)), false);
                }
                Ok(())
            }
        }
    }

    fn finish_call(&mut self) {
        self.run_queue();
        if self.stop_unneeded() {
            self.run_queue();
        }
        let stopped = |s: &Slot| s.gone || (s.phase.is_dead() && !s.alive());
        // The shutdown's units have done their work once they are settled
        // (started, exited, failed) and everything else is stopped: they stop
        // last, in their own reverse order.
        if self.shutting_down
            && !self.shutdown_final
            && self
                .slots
                .iter()
                .all(|s| stopped(s) || (s.at_shutdown && s.settled() && !s.phase.is_dead()))
        {
            self.shutdown_final = true;
            for u in 0..self.slots.len() {
                if std::mem::take(&mut self.slots[u].at_shutdown) && !self.slots[u].gone {
                    self.stop_for_shutdown(u);
                }
            }
            self.run_queue();
        }
        if self.shutting_down && !self.all_stopped_sent && self.slots.iter().all(stopped) {
            // `AllStopped` says it: the manager names it as it exits.
            self.all_stopped_sent = true;
            self.actions.push(Action::AllStopped);
        }
    }

    /// StopWhenUnneeded=: an active unit with no job that no unit which is
    /// active, starting, about to start, stopping or waiting for its restart
    /// pulls in (Requires, Wants, BindsTo, Requisite) gets a stop job, as in
    /// systemd. Returns whether any did.
    fn stop_unneeded(&mut self) -> bool {
        if self.shutting_down {
            return false;
        }
        let mut any = false;
        loop {
            let unneeded: Vec<usize> = self
                .unneeded_watch
                .iter()
                .copied()
                .filter(|&u| {
                    let s = &self.slots[u];
                    s.run.stop_when_unneeded
                        && !s.removed
                        && s.phase.is_active()
                        && s.pending_stop.is_none()
                        && !s.start_after_stop
                        && !s.start_job_on_active
                        && !self.graph.pulled_by[u].iter().any(|&v| {
                            // As systemd's unit_is_unneeded(): a user active,
                            // starting, stopping or waiting for its restart.
                            let o = &self.slots[v];
                            v != u && (!o.phase.is_dead() || o.start_after_stop)
                        })
                })
                .collect();
            if unneeded.is_empty() {
                return any;
            }
            any = true;
            for u in unneeded {
                self.log(
                    Level::Info,
                    u,
                    "stopping: no active unit needs it (StopWhenUnneeded=yes)".into(),
                );
                self.stop_unit(u, StopCause::Request, false);
            }
        }
    }

    // ----- requests: propagate -----

    fn start_unit(&mut self, root: usize, manual: bool) -> Result<(), EngineError> {
        if self.shutting_down && !self.shutdown_fresh.contains(&root) {
            return Err(self.refuse(root, "the manager is shutting down"));
        }
        if let Some(e) = &self.slots[root].rare().load_error {
            return Err(self.refuse(root, &format!("load error: {e}")));
        }
        // A manual start counts toward the start limit like any other (as in
        // systemd: only reset-failed clears it); it restarts the count of
        // automatic restarts shown.
        if manual {
            self.slots[root].restarts = 0;
            self.slots[root].if_rare(|r| r.restart_cause = None);
        }
        if !self.together {
            self.in_request.clear();
        }
        let mut seen: HashSet<usize> = HashSet::new();
        // A unit and whether it starts a part of its own (the root, or one
        // pulled in by Wants=): a part whose requirements cannot be had is
        // not started at all, as systemd drops such a transaction.
        let mut work = vec![(root, true)];
        let mut fails: Vec<(usize, String)> = Vec::new();
        let mut conflicts: Vec<(usize, usize)> = Vec::new();
        let mut requisites: Vec<(usize, usize)> = Vec::new();
        while let Some((u, part)) = work.pop() {
            // During a shutdown only its own new units start; the rest is
            // stopping, or ran already.
            if seen.contains(&u) || (self.shutting_down && !self.shutdown_fresh.contains(&u)) {
                continue;
            }
            if part && let Some((v, dep)) = self.missing_requirement(u) {
                if self.graph.missing[v].contains(&dep) {
                    let why = self.unavailable(&dep);
                    self.log(Level::Warning, v, format!("required unit {why}"));
                }
                seen.insert(u);
                self.add_start_job(u, u == root);
                fails.push((u, dep));
                continue;
            }
            seen.insert(u);
            self.in_request.insert(u);
            self.add_start_job(u, u == root);
            let g = &self.graph;
            work.extend(
                g.requires[u]
                    .iter()
                    .chain(&g.binds_to[u])
                    .map(|&d| (d, false)),
            );
            for &d in &g.wants[u] {
                let dep = &self.slots[d];
                if !dep.removed && !dep.broken() {
                    work.push((d, true));
                }
            }
            requisites.extend(g.requisite[u].iter().map(|&d| (u, d)));
            for &c in &g.conflicts[u] {
                conflicts.push((c, u));
            }
        }
        for (c, by) in conflicts {
            if !self.shutting_down
                && !self.in_request.contains(&c)
                && !self.slots[c].phase.is_dead()
            {
                let by = self.slots[by].name.clone();
                self.log(Level::Info, c, format!("stopping: conflicts with {by}"));
                self.stop_unit(c, StopCause::Conflict(by), false);
            }
        }
        for (u, dep) in fails {
            self.fail_start_job(u, dep);
        }
        // A request's units are all given their jobs before any Requisite=
        // is checked: `vigil start rq base` holds as `vigil start base rq`.
        match self.together {
            true => self.requisites_due.extend(requisites),
            false => self.check_requisites(requisites),
        }
        Ok(())
    }

    /// Requisite= must be active; but with After= (what systemd.unit(5)
    /// advises) one being started, by this request or before it, is checked
    /// when the job runs, after it has settled (begin_start). Fails the
    /// start of each (unit, requisite) pair that does not hold.
    fn check_requisites(&mut self, requisites: Vec<(usize, usize)>) {
        let mut fails = Vec::new();
        for (u, d) in requisites {
            let p = self.slots[d].phase;
            let coming = p.is_pending_start() || p.is_starting();
            let waited_for = coming && self.graph.after[u].contains(&d);
            if !(p.is_active() || waited_for) {
                fails.push((u, self.slots[d].name.clone()));
            }
        }
        for (u, dep) in fails {
            self.fail_start_job(u, dep);
        }
    }

    /// The first requirement (Requires=, BindsTo=, followed through the units
    /// they name) of `root` that cannot start: not found, masked, removed, or
    /// dead with a load error. Returns the unit that names it, and its name.
    fn missing_requirement(&self, root: usize) -> Option<(usize, String)> {
        let mut seen = HashSet::from([root]);
        let mut work = vec![root];
        while let Some(u) = work.pop() {
            if let Some(name) = self.graph.missing[u].first() {
                return Some((u, name.clone()));
            }
            for &d in self.graph.requires[u].iter().chain(&self.graph.binds_to[u]) {
                let dep = &self.slots[d];
                if dep.removed || (dep.broken() && dep.phase.is_dead()) {
                    return Some((u, dep.name.clone()));
                }
                if seen.insert(d) {
                    work.push(d);
                }
            }
        }
        None
    }

    /// Why the requirement `dep` ([`Machine::missing_requirement`]) cannot
    /// be had, after its name: as systemd's `Unit NAME is masked.` and
    /// `Unit NAME not found.`, or its load error, or its file removed.
    pub(crate) fn unavailable(&self, dep: &str) -> String {
        // An instance is masked with its template (`vigil mask foo@`).
        let template = vigil_units::name::template_of(dep);
        if self.masked.contains(dep) || template.is_some_and(|t| self.masked.contains(&t)) {
            return format!("{dep} is masked");
        }
        match self.index.get(dep).map(|&d| &self.slots[d]) {
            Some(s) if s.removed => format!("{dep} is removed (its file is gone)"),
            Some(s) if s.broken() => format!("{dep} did not load"),
            _ => format!("{dep} not found"),
        }
    }

    /// Sets the names the configuration masks ([`Machine::masked`]).
    pub(crate) fn set_masked(&mut self, masked: HashSet<String>) {
        self.masked = masked;
    }

    /// A start job for `u`: the `root` of the request, or a unit it pulls in.
    /// A unit pulled in while it waits out `RestartSec=` before its automatic
    /// restart keeps waiting: its restart is the start (systemd keeps such a
    /// job queued until the restart). Taken at once, two crash-looping units
    /// joined by `Requires=` restarted each other with no pause at all. Asked
    /// for itself (`vigil start`, a socket's traffic) it starts at once.
    /// Active, it keeps its state, and the job waits for its ordering
    /// ([`Slot::start_job_on_active`]).
    fn add_start_job(&mut self, u: usize, root: bool) {
        let phase = self.slots[u].phase;
        let mut replaced = false;
        let s = &mut self.slots[u];
        if phase == Phase::AutoRestart && !root && s.wake.is_some() {
            return;
        }
        if phase.is_dead() || phase == Phase::AutoRestart {
            s.failed_before_start = phase == (Phase::Dead { failed: true });
            s.wake = None;
            s.reason = None;
            s.time_to_ready = None;
            self.set_phase(u, Phase::Waiting);
            self.push(u);
        } else if phase.is_stopping() {
            s.start_after_stop = true;
        } else if s.pending_stop.is_some() && !s.start_after_stop {
            // A start replaces a stop that has not begun.
            s.pending_stop = None;
            replaced = true;
            let unit = s.name.clone();
            self.log(
                Level::Info,
                u,
                "stop canceled: a start was asked for".into(),
            );
            self.actions.push(Action::StopCanceled { unit });
        }
        // Active: a job that is done once what the unit is ordered after has
        // settled (at once when nothing of it has a job). Only the request's
        // own unit, or one whose stop it replaced, gets it: systemd drops
        // the start jobs a transaction pulls in for active units as
        // redundant, but keeps its anchor's and those that replace a job.
        let s = &mut self.slots[u];
        if (root || replaced)
            && s.phase.is_active()
            && s.pending_stop.is_none()
            && !s.start_after_stop
        {
            s.start_job_on_active = true;
            self.push(u);
        }
    }

    /// Gives `root` and what depends on it a stop job (or a restart job).
    fn stop_unit(&mut self, root: usize, cause: StopCause, restart: bool) {
        let mut seen: HashSet<usize> = HashSet::new();
        let mut work = vec![root];
        while let Some(u) = work.pop() {
            if !seen.insert(u) {
                continue;
            }
            // What an isolate keeps is not stopped with what it stops.
            if u != root && self.isolate_keep.contains(&u) {
                continue;
            }
            let whole = matches!(cause, StopCause::Shutdown | StopCause::Isolate(_));
            let my_cause = if u == root || whole {
                cause.clone()
            } else {
                StopCause::With(self.slots[root].name.clone())
            };
            let phase = self.slots[u].phase;
            // The start job of an active unit gives way to the stop (to the
            // restart's own start, for a restart).
            if std::mem::take(&mut self.slots[u].start_job_on_active) && !restart {
                self.cancel_start(u, &my_cause);
            }
            // The start of a restart that this stop replaces will not happen
            // (one of a unit still starting is told when its stop begins).
            if self.slots[u].start_after_stop && !restart && !restart_told_later(phase) {
                self.cancel_start(u, &my_cause);
            }
            match phase {
                Phase::Dead { .. } => {}
                Phase::Waiting | Phase::Condition => {
                    if !restart {
                        self.cancel_start(u, &my_cause);
                        self.slots[u].reason = my_cause.reason();
                        self.set_phase(u, Phase::Dead { failed: false });
                        self.after_dead(u);
                    }
                }
                Phase::AutoRestart => {
                    if !restart {
                        self.cancel_restart(u, my_cause.reason());
                        self.after_dead(u);
                    }
                }
                p if p.is_stopping() => {
                    let s = &mut self.slots[u];
                    // A stop replaces a start queued meanwhile (systemd's stop
                    // job supersedes it); a restart queues one.
                    s.start_after_stop = restart;
                    s.stop_cause.get_or_insert(my_cause);
                }
                _ => {
                    let s = &mut self.slots[u];
                    s.pending_stop = Some(my_cause);
                    s.start_after_stop = restart;
                    self.push(u);
                }
            }
            work.extend(self.graph.stop_rev[u].iter().copied());
        }
    }

    /// Why `root` may not be isolated now, if it may not: as systemd refuses
    /// the whole isolate job, before anything changes.
    fn isolate_refusal(&self, root: usize) -> Option<EngineError> {
        let s = &self.slots[root];
        if self.shutting_down {
            return Some(self.refuse(root, "the manager is shutting down"));
        }
        if !s.def.allow_isolate {
            let why = "operation refused, unit may not be isolated (it has no AllowIsolate=yes)";
            return Some(self.refuse(root, why));
        }
        if let Some(e) = &s.rare().load_error {
            return Some(self.refuse(root, &format!("load error: {e}")));
        }
        if let Some((_, dep)) = self.missing_requirement(root) {
            let why = format!("dependency failed: {}", self.unavailable(&dep));
            return Some(self.refuse(root, &why));
        }
        None
    }

    /// The units an isolate of `root` keeps: what the target pulls in
    /// (Requires=, Wants=, BindsTo=, Requisite=, transitively: all of it is
    /// started, or stays up), every unit with `IgnoreOnIsolate=yes`, what a
    /// kept unit that is not down pulls in in the same way (stopping it would
    /// stop or starve the kept unit), and the service of a kept socket unit
    /// (systemd keeps what a kept unit triggers). Anything else not down is
    /// stopped.
    fn isolate_keep(&self, root: usize) -> HashSet<usize> {
        let mut keep = HashSet::new();
        // A unit, and whether it is the target's own (started by it). The
        // target last, taken first: the whole of what it pulls in is walked
        // before a unit kept for itself, which may be down, is looked at.
        let mut work: Vec<(usize, bool)> = (0..self.slots.len())
            .filter(|&u| !self.slots[u].gone && self.slots[u].def.ignore_on_isolate)
            .map(|u| (u, false))
            .collect();
        work.push((root, true));
        while let Some((u, pulled)) = work.pop() {
            if !keep.insert(u) {
                continue;
            }
            let s = &self.slots[u];
            // A kept unit that is down needs nothing, unless the target
            // starts it.
            if !pulled && s.phase.is_dead() && !s.start_after_stop {
                continue;
            }
            let g = &self.graph;
            work.extend(
                g.requires[u]
                    .iter()
                    .chain(&g.wants[u])
                    .chain(&g.binds_to[u])
                    .chain(&g.requisite[u])
                    .map(|&d| (d, pulled)),
            );
            if let Some(sock) = s.def.socket.as_ref() {
                // Accept=yes: every instance of its template is its.
                let service = &sock.service;
                work.extend(
                    (0..self.slots.len())
                        .filter(|&v| {
                            let name = &self.slots[v].name;
                            !self.slots[v].gone
                                && (name == service
                                    || (sock.accept
                                        && vigil_units::name::template_of(name).as_ref()
                                            == Some(service)))
                        })
                        .map(|v| (v, pulled)),
                );
            }
        }
        keep
    }

    /// The units an isolate of `root` stops (see [`Machine::isolate_keep`]).
    fn isolate_stops(&self, keep: &HashSet<usize>) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&u| {
                let s = &self.slots[u];
                !s.gone && !keep.contains(&u) && (!s.phase.is_dead() || s.start_after_stop)
            })
            .collect()
    }

    pub(crate) fn isolate_plan(&self, name: &str) -> Result<Vec<String>, EngineError> {
        let root = self.lookup(name)?;
        if let Some(e) = self.isolate_refusal(root) {
            return Err(e);
        }
        let keep = self.isolate_keep(root);
        let mut names: Vec<String> = (self.isolate_stops(&keep).into_iter())
            .map(|u| self.slots[u].name.clone())
            .collect();
        names.sort_unstable();
        Ok(names)
    }

    /// systemctl isolate: the target's start and every other unit's stop, as
    /// one transaction (their jobs are all queued before any runs, so the
    /// ordering between them holds: a stop goes before a start, whichever
    /// way the two are ordered).
    fn isolate(&mut self, root: usize) -> Result<(), EngineError> {
        if let Some(e) = self.isolate_refusal(root) {
            return Err(e);
        }
        let keep = self.isolate_keep(root);
        let stops = self.isolate_stops(&keep);
        let name = self.slots[root].name.clone();
        self.actions.push(Action::Log {
            level: Level::Info,
            unit: Some(name.clone()),
            message: format!(
                "isolating: stopping {} unit(s) it does not need",
                stops.len()
            ),
        });
        self.start_unit(root, true)?;
        self.isolate_keep = keep;
        for u in stops {
            self.stop_unit(u, StopCause::Isolate(name.clone()), false);
        }
        self.isolate_keep.clear();
        Ok(())
    }

    fn restart_unit(&mut self, u: usize) -> Result<(), EngineError> {
        if self.shutting_down {
            return Err(self.refuse(u, "the manager is shutting down"));
        }
        if let Some(e) = &self.slots[u].rare().load_error {
            return Err(self.refuse(u, &format!("load error: {e}")));
        }
        if self.slots[u].phase.is_down_or_pending() {
            // What requires it restarts with it whatever its own state, as
            // systemd's restart job gives them a try-restart: one still
            // running on a unit that failed under it is restarted too
            // (review finding: only its start was made). Not when the start
            // would fail: that is said, and nothing is stopped for it.
            if self.missing_requirement(u).is_none() {
                self.stop_unit(u, StopCause::Request, true);
            }
            return self.start_unit(u, true);
        }
        // The start would fail: refused before the stop, as systemd refuses
        // the whole job (the unit and what requires it keep running).
        if let Some((_, dep)) = self.missing_requirement(u) {
            let why = format!("dependency failed: {}", self.unavailable(&dep));
            return Err(self.refuse(u, &why));
        }
        self.slots[u].restarts = 0;
        self.stop_unit(u, StopCause::Request, true);
        Ok(())
    }

    fn reload_unit(&mut self, u: usize) -> Result<(), EngineError> {
        if self.shutting_down {
            return Err(self.refuse(u, "the manager is shutting down"));
        }
        if let Some(job) = self.slots[u].reload_joins() {
            return self.join_start(u, job);
        }
        let s = &self.slots[u];
        match s.phase {
            Phase::Reload(_) | Phase::NotifyReload => {
                if !std::mem::replace(&mut self.slots[u].reload_again, true) {
                    let why = "reload queued: it runs when the one under way ends";
                    self.log(Level::Info, u, why.into());
                }
                return Ok(());
            }
            Phase::Running | Phase::Exited if s.pending_stop.is_none() => {}
            _ => return Err(self.refuse(u, "not active")),
        }
        let run = s.run.clone();
        let Some(svc) = run.service.as_ref() else {
            // Nothing to run: a target passing a reload on is fine, any other
            // is refused, as systemd's "Job type reload is not applicable".
            return match self.reload_propagated_to(u).is_empty() {
                false => Ok(()),
                true => Err(self.refuse(u, NOT_APPLICABLE)),
            };
        };
        // Type=notify-reload: ReloadSignal= to the main process, then (without
        // ExecReload=) reloading until it says READY=1, within TimeoutStartSec=.
        if svc.notify_reload
            && let Some(pid) = s.main_pid
        {
            let exited = s.phase == Phase::Exited;
            let name = s.name.clone();
            self.log(
                Level::Info,
                u,
                format!(
                    "reloading: {} to the main process",
                    signal_words(svc.reload_signal)
                ),
            );
            self.actions.push(Action::Signal {
                unit: name,
                pid,
                signal: svc.reload_signal,
                group: false,
                cont: false,
            });
            if svc.exec_reload.is_empty() {
                let now = self.now;
                let s = &mut self.slots[u];
                s.reload_from_exited = exited;
                s.reload_signalled = true;
                s.timeout = svc.timeout_start.map(|t| now + t);
                self.deadlines.note(u, s.timeout);
                self.set_phase(u, Phase::NotifyReload);
                return Ok(());
            }
        }
        let s = &self.slots[u];
        if !svc.exec_reload.is_empty() {
            let exited = s.phase == Phase::Exited;
            let now = self.now;
            let s = &mut self.slots[u];
            s.reload_from_exited = exited;
            s.timeout = svc.timeout_start.map(|t| now + t);
            self.deadlines.note(u, s.timeout);
            self.log(Level::Info, u, "reloading".into());
            self.reload_step(u, 0);
            return Ok(());
        }
        // As systemd ("Job type reload is not applicable"): a guessed SIGHUP
        // would end a daemon that does not catch it, and `reload || restart`
        // in a script relies on the refusal.
        // Debian's init scripts, through vigil's hook, tell this refusal by
        // `no ExecReload=` (crates/boot/debian/init-functions.d/40-vigil).
        Err(self.refuse(u, CANNOT_RELOAD))
    }

    /// A reload of a unit whose start (or restart) is pending or under way
    /// joins that job, as systemd merges a reload job into the start job
    /// installed for the unit (job_install(): a reload and a start make
    /// "reload or start", which is a start while the unit is not active
    /// yet). Nothing more is done: `ExecReload=` does not run, the start
    /// reads the configuration anyway, and who asked waits for the start's
    /// end. A unit that cannot reload is refused first, as systemd checks
    /// the job asked for before it merges it.
    fn join_start(&mut self, u: usize, job: JobType) -> Result<(), EngineError> {
        let def = self.slots[u].def.clone();
        let can_reload = match def.service.as_ref() {
            Some(svc) => svc.can_reload(),
            None => !self.reload_propagated_to(u).is_empty(),
        };
        if !can_reload {
            return Err(match def.service {
                Some(_) => self.refuse(u, CANNOT_RELOAD),
                None => self.refuse(u, NOT_APPLICABLE),
            });
        }
        let what = job.as_str();
        let why = format!("reload joins the {what} under way: it is done when the {what} is");
        self.log(Level::Info, u, why);
        Ok(())
    }

    /// `PropagatesReloadTo=` and `ReloadPropagatedFrom=`: a reload of `root`
    /// reloads every unit it propagates to, transitively, each only when it is
    /// active (systemd's try-reload): an inactive one is left alone, and a
    /// refused reload of one of them is a warning, not the request's failure.
    fn propagate_reload(&mut self, root: usize) {
        let mut seen = vec![false; self.slots.len()];
        seen[root] = true;
        let mut work = vec![root];
        while let Some(u) = work.pop() {
            let name = self.slots[u].name.clone();
            for x in self.reload_propagated_to(u) {
                if std::mem::replace(&mut seen[x], true) {
                    continue;
                }
                work.push(x);
                let s = &self.slots[x];
                // A unit without a service only passes it on.
                if !s.phase.is_active() || s.pending_stop.is_some() || s.run.service.is_none() {
                    continue;
                }
                self.log(Level::Info, x, format!("reload propagated from {name}"));
                if let Err(e) = self.reload_unit(x) {
                    self.log(Level::Warning, x, format!("propagated reload refused: {e}"));
                }
            }
        }
    }

    /// The units a reload of `u` goes on to: its `PropagatesReloadTo=`, and
    /// those with `ReloadPropagatedFrom=` it.
    fn reload_propagated_to(&self, u: usize) -> Vec<usize> {
        let name = &self.slots[u].name;
        let deps = &self.slots[u].def.deps;
        let mut to: Vec<usize> = (deps.propagates_reload_to.iter())
            .filter_map(|n| self.index.get(n).copied())
            .collect();
        to.extend((0..self.slots.len()).filter(|&x| {
            let s = &self.slots[x];
            !s.gone && s.def.deps.reload_propagated_from.contains(name)
        }));
        to
    }

    fn reset_failed(&mut self, name: Option<&str>) -> Result<(), EngineError> {
        let targets: Vec<usize> = match name {
            Some(n) => vec![self.lookup(n)?],
            None => (0..self.slots.len())
                .filter(|&u| !self.slots[u].gone)
                .collect(),
        };
        for u in targets {
            let s = &mut self.slots[u];
            s.start_times.clear();
            // As systemd's reset-failed, which resets the result of any
            // service: that of an inactive unit too, which keeps the failure
            // its automatic restart was to repair when it was stopped.
            let kept = s.phase == (Phase::Dead { failed: false })
                && s.reason.as_ref().is_some_and(kept_failure);
            if (s.phase == (Phase::Dead { failed: true }) && !s.broken()) || kept {
                s.reason = None;
                s.restarts = 0;
                s.if_rare(|r| r.restart_cause = None);
                self.set_phase(u, Phase::Dead { failed: false });
            }
        }
        Ok(())
    }

    /// Stops every unit but what `targets` pull in (Requires=, Wants=,
    /// BindsTo=, transitively), which starts instead: `poweroff.target` and
    /// its units that save state or tell the network. A later call (a
    /// `vigil reboot` while stopping) may add targets until the last step.
    fn shutdown(&mut self, targets: &[String]) {
        let first = !std::mem::replace(&mut self.shutting_down, true);
        if first {
            self.actions.push(Action::Log {
                level: Level::Info,
                unit: None,
                message: "shutting down: stopping every unit".into(),
            });
        }
        if self.shutdown_final {
            return;
        }
        let roots: Vec<usize> = targets
            .iter()
            .filter_map(|t| self.index.get(t).copied())
            .filter(|&u| !self.slots[u].gone && !self.slots[u].broken())
            .collect();
        let ours = self.shutdown_units(&roots, first);
        let mut fresh = HashSet::new();
        for u in 0..self.slots.len() {
            if ours.contains(&u) {
                if !std::mem::replace(&mut self.slots[u].at_shutdown, true) {
                    fresh.insert(u);
                }
            } else if first && !self.slots[u].gone {
                self.stop_for_shutdown(u);
            }
        }
        self.start_at_shutdown(&roots, fresh);
    }

    /// Starts those of `roots` that are `fresh` (new to this shutdown), and of
    /// what they pull in only what is fresh too: `start_unit` starts nothing
    /// else during a shutdown.
    fn start_at_shutdown(&mut self, roots: &[usize], fresh: HashSet<usize>) {
        self.shutdown_fresh = fresh;
        for &u in roots {
            if self.shutdown_fresh.contains(&u)
                && let Err(e) = self.start_unit(u, false)
            {
                self.log(Level::Error, u, format!("cannot start at shutdown: {e}"));
            }
        }
        self.shutdown_fresh.clear();
    }

    /// What `roots` pull in and may start at the shutdown: not a unit with
    /// default dependencies (it conflicts with shutdown.target), nor, after
    /// the first call, one that was being stopped.
    fn shutdown_units(&mut self, roots: &[usize], first: bool) -> HashSet<usize> {
        let shutdown = self.index.get("shutdown.target").copied();
        let mut ours = HashSet::new();
        let mut work = roots.to_vec();
        while let Some(u) = work.pop() {
            let s = &self.slots[u];
            if ours.contains(&u) || s.gone || s.removed || s.broken() {
                continue;
            }
            if !first && !s.at_shutdown && !s.phase.is_dead() {
                continue;
            }
            if shutdown.is_some_and(|t| t != u && self.graph.conflicts[u].contains(&t)) {
                let msg = "pulled in at shutdown, but it conflicts with shutdown.target \
                           (default dependencies): not started";
                self.log(Level::Warning, u, msg.into());
                continue;
            }
            ours.insert(u);
            let g = &self.graph;
            work.extend(
                g.requires[u]
                    .iter()
                    .chain(&g.binds_to[u])
                    .chain(&g.wants[u]),
            );
        }
        ours
    }

    /// Gives `u` its part in a shutdown: a stop job, or dead at once when it
    /// was only waiting.
    fn stop_for_shutdown(&mut self, u: usize) {
        let phase = self.slots[u].phase;
        let restart = std::mem::take(&mut self.slots[u].start_after_stop);
        let on_active = std::mem::take(&mut self.slots[u].start_job_on_active);
        if (restart && !restart_told_later(phase)) || phase.is_pending_start() || on_active {
            self.cancel_start(u, &StopCause::Shutdown);
        }
        match phase {
            Phase::Dead { .. } => {}
            Phase::Waiting | Phase::Condition => self.set_phase(u, Phase::Dead { failed: false }),
            Phase::AutoRestart => self.cancel_restart(u, None),
            p if p.is_stopping() => {
                self.slots[u].stop_cause.get_or_insert(StopCause::Shutdown);
            }
            _ => {
                self.slots[u].pending_stop = Some(StopCause::Shutdown);
                self.push(u);
            }
        }
    }

    /// Past the shutdown's global deadline, nothing waits any longer: a unit
    /// with `TimeoutStopSec=infinity`, a hung `ExecStop=` or `ExecStopPost=`, a
    /// unit still waiting for its turn. Every process the unit tracks gets SIGKILL
    /// (to its process group: each spawn leads its own) and is forgotten; the unit
    /// is dead, failed with a stop timeout, without `ExecStopPost=`. What is left
    /// is the final sequence's (vigil-init signals every process).
    fn shutdown_deadline(&mut self) {
        if !self.shutting_down {
            return;
        }
        for u in 0..self.slots.len() {
            let s = &self.slots[u];
            if s.gone || (s.phase.is_dead() && !s.alive()) {
                continue;
            }
            let pids = s.pids();
            // One with no process that was only waiting for its turn (a
            // target) would have stopped without trouble: it is just stopped.
            if !pids.is_empty() || s.phase.is_stopping() {
                for &pid in &pids {
                    self.signal(u, pid, SIGKILL, true);
                }
                let leftovers = self.waits_for_leftovers(u);
                if leftovers {
                    let unit = self.slots[u].name.clone();
                    let (signal, once) = (SIGKILL, true);
                    self.actions
                        .push(Action::KillLeftovers { unit, signal, once });
                }
                let killed = match (pids.as_slice(), leftovers) {
                    ([], false) => "nothing left to kill".to_string(),
                    ([], true) => "SIGKILL to its leftovers".to_string(),
                    (pids, false) => format!("SIGKILL to {pids:?}"),
                    (pids, true) => format!("SIGKILL to {pids:?} and its leftovers"),
                };
                self.log(
                    Level::Warning,
                    u,
                    format!("shutdown deadline reached: {killed}"),
                );
                self.record(u, Some(Reason::StopTimeout));
            }
            // A start whose stop had not begun yet ends here.
            let s = &self.slots[u];
            if s.pending_stop.is_some() && s.phase.is_starting() {
                self.cancel_start(u, &StopCause::Shutdown);
            }
            self.abandon(u);
            let s = &mut self.slots[u];
            s.pending_stop = None;
            s.stop_cause.get_or_insert(StopCause::Shutdown);
            if !s.phase.is_dead() {
                self.finish_dead(u);
            }
        }
    }

    // ----- the queue: execute -----

    fn push(&mut self, u: usize) {
        if let Some(q) = self.queued.get_mut(u)
            && !*q
        {
            *q = true;
            self.queue.push_back(u);
        }
    }

    fn run_queue(&mut self) {
        while let Some(u) = self.queue.pop_front() {
            if let Some(q) = self.queued.get_mut(u) {
                *q = false;
            }
            if self.slots[u].phase == Phase::Waiting {
                if self.start_order_settled(u) {
                    self.begin_start(u);
                }
            } else if self.slots[u].start_job_on_active && self.slots[u].phase.is_active() {
                // Nothing to run: the job is done, and what waits for this
                // unit to settle may go on.
                if self.active_start_may_end(u) {
                    self.slots[u].start_job_on_active = false;
                    self.wake_ordered(u);
                }
            } else if self.slots[u].pending_stop.is_some() {
                let mut from = self.slots[u].stop_blocker;
                let ready = self.stop_order_dropped
                    || all_from(&self.graph.after_rev[u], &mut from, |z| {
                        !self.slots[z].stopping_or_pending()
                    });
                self.slots[u].stop_blocker = from;
                if ready {
                    self.begin_stop(u);
                }
            }
        }
    }

    /// Whether the start job of `u`, active already, is done: as systemd's,
    /// it waits for the jobs of the units it is ordered after (a start
    /// under way, a stop, a restart), not for their states: a unit waiting
    /// out its `RestartSec=` has no job, so a `vigil start` of a running
    /// unit ordered after a crash-looping one returns, and does not hold
    /// what is ordered after it for as long as the loop lasts (review
    /// finding). And a stop of a unit ordered after it goes first.
    fn active_start_may_end(&self, u: usize) -> bool {
        !self.stop_after_goes_first(u)
            && self.graph.after[u]
                .iter()
                .all(|&a| self.slots[a].job().is_none())
    }

    /// Whether a unit ordered after `u` is stopping or has a stop queued: a
    /// stop goes before a start whichever way the two units are ordered, as
    /// systemd.unit(5) says of Before=/After= (a Conflicts= switch-over, a
    /// shutdown).
    fn stop_after_goes_first(&self, u: usize) -> bool {
        (self.graph.after_rev[u].iter()).any(|&z| self.slots[z].stopping_or_pending())
    }

    /// Whether `u`'s start job may run: every unit it is ordered after has
    /// settled, and none ordered after it is stopping.
    fn start_order_settled(&mut self, u: usize) -> bool {
        let stops_first = self.stop_after_goes_first(u);
        let mut from = self.slots[u].start_blocker;
        let ready =
            !stops_first && all_from(&self.graph.after[u], &mut from, |a| self.slots[a].settled());
        self.slots[u].start_blocker = from;
        ready
    }

    fn set_phase(&mut self, u: usize, phase: Phase) {
        let now = self.now;
        let s = &mut self.slots[u];
        let old = s.phase;
        // A socket unit has sockets from its `Listen` to its end (and, taken
        // over from a predecessor, possibly from its condition check): they
        // close as it leaves those phases for any other.
        let holds = |p: Phase| matches!(p, Phase::Condition | Phase::Listen | Phase::Running);
        if s.run.kind == UnitKind::Socket
            && holds(s.phase)
            && !matches!(phase, Phase::Listen | Phase::Running)
        {
            self.actions.push(Action::CloseSockets {
                unit: s.name.clone(),
            });
        }
        s.phase = phase;
        // Going down on its own while its start job waits: the job starts
        // it again once it is down, as systemd's waiting job would.
        if phase.is_stopping() && std::mem::take(&mut s.start_job_on_active) {
            s.start_after_stop = true;
        }
        // A reload queued behind one that a stop (or the main process's
        // end) cut short goes with it.
        if !matches!(phase, Phase::Reload(_) | Phase::NotifyReload) {
            s.reload_again = false;
        }
        let state = phase.state();
        if state != s.state {
            let from = std::mem::replace(&mut s.state, state);
            s.since = now;
            let action = Action::StateChanged {
                unit: s.name.clone(),
                from,
                state,
                reason: s.reason.clone(),
                again: state == State::Failed && s.failed_before_start,
            };
            self.actions.push(action);
        }
        if let Phase::Dead { failed } = phase {
            self.unit_action(u, old, failed);
        }
        self.wake_ordered(u);
    }

    /// Queues the units ordered against `u`, either way: what waits for its
    /// start or its stop is looked at again.
    fn wake_ordered(&mut self, u: usize) {
        // By index: `push` needs the machine mutably (the lists are never
        // changed by it, and a slot past the end has an empty one).
        for i in 0..self.graph.after[u].len() {
            let v = self.graph.after[u][i];
            self.push(v);
        }
        for i in 0..self.graph.after_rev[u].len() {
            let v = self.graph.after_rev[u][i];
            self.push(v);
        }
    }

    /// `SuccessAction=` / `FailureAction=`, as systemd decides them: success when
    /// a unit that ran (not one whose start was only pending, nor one stopped by
    /// a restart job) becomes inactive,
    /// failure when it becomes failed, except by a failed dependency (systemd
    /// fails only the job then, not the unit). A shutdown is going on already.
    fn unit_action(&mut self, u: usize, old: Phase, failed: bool) {
        if self.shutting_down {
            return;
        }
        let s = &self.slots[u];
        let (action, status) = if failed {
            if old == (Phase::Dead { failed: true })
                || s.failed_before_start
                || matches!(s.reason, Some(Reason::DependencyFailed(_)))
            {
                return;
            }
            (s.run.failure_action, s.run.failure_action_exit_status)
        } else {
            // A restart job passes through Dead on its way back up.
            if matches!(old, Phase::Dead { .. } | Phase::Waiting | Phase::Condition)
                || s.start_after_stop
            {
                return;
            }
            (s.run.success_action, s.run.success_action_exit_status)
        };
        let Some(action) = action else {
            return;
        };
        let exit_status = status.unwrap_or(match s.run_exit {
            Some(ExitStatus::Exited(c)) => (c & 0xff) as u8,
            Some(ExitStatus::Signaled(n)) => (128 + (n & 0x7f)) as u8,
            None => u8::from(failed),
        });
        self.actions.push(Action::UnitAction {
            unit: s.name.clone(),
            action,
            failed,
            exit_status,
        });
    }

    fn log(&mut self, level: Level, u: usize, message: String) {
        self.actions.push(Action::Log {
            level,
            unit: Some(self.slots[u].name.clone()),
            message,
        });
    }

    fn record(&mut self, u: usize, failure: Option<Reason>) {
        let s = &mut self.slots[u];
        if s.rare().result.is_none() {
            s.set_rare(|r| &mut r.result, failure);
        }
    }

    fn has_cmd(&self, u: usize, role: Role) -> bool {
        self.slots[u]
            .run
            .service
            .as_ref()
            .is_some_and(|svc| command(svc, role).is_some())
    }

    fn spawn(&mut self, u: usize, role: Role) {
        let run = self.slots[u].run.clone();
        let Some(cmd) = run.service.as_ref().and_then(|svc| command(svc, role)) else {
            return;
        };
        // As systemd's service_spawn(): each command of a start, reload or
        // stop has the whole TimeoutStartSec=/TimeoutStopSec= from its own
        // start (a unit with three slow ExecStartPre= is no slower to fail).
        let limit = run.service.as_ref().and_then(|svc| match role {
            Role::Stop(_) | Role::StopPost(_) => Some(svc.timeout_stop),
            Role::Test => None,
            _ => Some(svc.timeout_start),
        });
        let now = self.now;
        let s = &mut self.slots[u];
        if let Some(limit) = limit {
            s.timeout = limit.map(|t| now + t);
            self.deadlines.note(u, s.timeout);
        }
        s.spawning = Some(role);
        let action = Action::Spawn {
            unit: s.name.clone(),
            role,
            command: cmd.clone(),
            main_pid: s.main_pid,
        };
        self.actions.push(action);
    }

    /// A signal of a stop: followed by SIGCONT, unless it is SIGKILL.
    fn signal(&mut self, u: usize, pid: u32, signal: i32, group: bool) {
        self.actions.push(Action::Signal {
            unit: self.slots[u].name.clone(),
            pid,
            signal,
            group,
            cont: signal != SIGKILL,
        });
    }

    // ----- starting -----

    fn begin_start(&mut self, u: usize) {
        // A Requisite= that was still starting when the job was queued: it
        // has settled now (the job is ordered after it), and must be up.
        let down = self.graph.requisite[u]
            .iter()
            .find(|&&d| !self.slots[d].phase.is_active());
        if let Some(&d) = down {
            let name = self.slots[d].name.clone();
            return self.fail_dependency(u, name);
        }
        let now = self.now;
        let s = &mut self.slots[u];
        s.start_requested = Some(now);
        // A changed definition takes effect at the next start.
        s.run = s.def.clone();
        if !s.def.conditions.is_empty() || !s.def.asserts.is_empty() {
            let unit = s.name.clone();
            self.set_phase(u, Phase::Condition);
            self.actions.push(Action::CheckConditions { unit });
        } else {
            self.conditions_ok(u);
        }
    }

    fn on_conditions(&mut self, u: usize, result: Result<(), Reason>) {
        if self.slots[u].phase != Phase::Condition {
            return;
        }
        match result {
            Ok(()) => self.conditions_ok(u),
            Err(reason @ Reason::ConditionFailed(_)) => {
                self.log(Level::Info, u, format!("skipped: {reason}"));
                self.slots[u].reason = Some(reason);
                self.set_phase(u, Phase::Dead { failed: false });
                self.stop_bound_after_skip(u);
            }
            // systemd fails the job, not the unit (JOB_ASSERT): it stays
            // inactive, no OnFailure=, and the starts that need it fail.
            Err(reason) => {
                self.log(Level::Warning, u, format!("start job failed: {reason}"));
                self.slots[u].reason = Some(reason);
                self.set_phase(u, Phase::Dead { failed: false });
                self.after_dead(u);
            }
        }
    }

    /// systemd.unit(5), BindsTo=: "When used in conjunction with After=", a
    /// unit bound to one skipped for a failed condition is stopped (its start
    /// job ends). Without After= they start side by side and it stays.
    fn stop_bound_after_skip(&mut self, u: usize) {
        let name = self.slots[u].name.clone();
        let bound: Vec<usize> = self.graph.bound_rev[u]
            .iter()
            .copied()
            .filter(|&x| self.graph.after[x].contains(&u))
            .collect();
        for x in bound {
            let p = self.slots[x].phase;
            if !p.is_dead() && !p.is_stopping() && self.slots[x].pending_stop.is_none() {
                let why = format!("stopping: bound to {name}, which was skipped");
                self.log(Level::Info, x, why);
                self.stop_unit(x, StopCause::With(name.clone()), false);
            }
        }
    }

    fn conditions_ok(&mut self, u: usize) {
        let now = self.now;
        let run = self.slots[u].run.clone();
        let Some(svc) = run.service.as_ref() else {
            if run.kind == UnitKind::Socket {
                self.begin_listen(u);
            } else {
                self.become_active(u);
            }
            return;
        };
        let limit = run.start_limit;
        let s = &mut self.slots[u];
        if !limit.interval.is_zero() && limit.burst > 0 {
            while s
                .start_times
                .front()
                .is_some_and(|&t| now.saturating_sub(t) >= limit.interval)
            {
                s.start_times.pop_front();
            }
            if s.start_times.len() >= limit.burst as usize {
                s.reason = Some(Reason::StartLimitHit);
                self.log(
                    Level::Error,
                    u,
                    format!(
                        "start limit hit: more than {} starts within {} ms; not starting again until reset-failed or the interval has passed",
                        limit.burst,
                        limit.interval.as_millis()
                    ),
                );
                self.set_phase(u, Phase::Dead { failed: true });
                self.after_dead(u);
                return;
            }
            s.start_times.push_back(now);
        }
        let s = &mut self.slots[u];
        s.failed_before_start = false;
        s.stop_cause = None;
        s.started_ok = false;
        s.run_exit = None;
        s.main_gone = false;
        s.if_rare(|r| {
            r.result = None;
            r.status_text = None;
            r.status_errno = None;
            r.watchdog_at = None;
            r.watchdog_override = None;
        });
        s.timeout = svc.timeout_start.map(|t| now + t);
        self.deadlines.note(u, s.timeout);
        self.log(Level::Debug, u, "starting".into());
        self.exec_condition(u, 0);
    }

    fn exec_condition(&mut self, u: usize, i: usize) {
        if self.has_cmd(u, Role::Condition(i)) {
            self.set_phase(u, Phase::ExecCondition(i));
            self.spawn(u, Role::Condition(i));
        } else {
            self.start_pre(u, 0);
        }
    }

    /// systemd's rule for `ExecCondition=`: exit 0 (or a SuccessExitStatus=
    /// code, or any end with `-`) goes on; 1..254 skips the unit like a failed
    /// condition; 255, a signal or an exec failure fails it.
    fn exec_condition_ended(&mut self, u: usize, i: usize, svc: &Service, outcome: Outcome) {
        let Some(cmd) = command(svc, Role::Condition(i)) else {
            return;
        };
        let code = match outcome {
            Outcome::Exit(ExitStatus::Exited(c)) => Some(c),
            _ => None,
        };
        if code == Some(0)
            || code.is_some_and(|c| svc.success_exit_status.codes.contains(&c))
            || cmd.ignore_failure
        {
            self.exec_condition(u, i + 1);
            return;
        }
        match code {
            Some(c @ 1..=254) => {
                let reason = Reason::ConditionFailed(format!(
                    "ExecCondition={} exited with status {c}",
                    command_text(cmd)
                ));
                self.log(Level::Info, u, format!("skipped: {reason}"));
                self.record(u, Some(reason));
                self.enter_kill(u, KillStage::Term);
            }
            _ => {
                self.log(
                    Level::Warning,
                    u,
                    format!("ExecCondition={} {}", command_text(cmd), outcome.describe()),
                );
                self.fail_start(u, Some(outcome.reason()));
            }
        }
    }

    fn start_pre(&mut self, u: usize, i: usize) {
        if self.has_cmd(u, Role::StartPre(i)) {
            self.set_phase(u, Phase::StartPre(i));
            self.spawn(u, Role::StartPre(i));
        } else {
            self.start_main(u, 0);
        }
    }

    fn start_main(&mut self, u: usize, i: usize) {
        let oneshot = self.slots[u]
            .run
            .service
            .as_ref()
            .is_some_and(|s| s.service_type == ServiceType::Oneshot);
        if (i == 0 || oneshot) && self.has_cmd(u, Role::Main(i)) {
            self.set_phase(u, Phase::Start(i));
            self.spawn(u, Role::Main(i));
        } else {
            self.ready(u);
        }
    }

    /// The service type's readiness was reached: the `test` probe, then ExecStartPost=.
    fn ready(&mut self, u: usize) {
        self.reset_watchdog(u);
        let run = self.slots[u].run.clone();
        let probe = run
            .service
            .as_ref()
            .is_some_and(|s| s.ready_test.is_some() && s.service_type != ServiceType::Oneshot);
        if probe && self.slots[u].phase != Phase::Test {
            self.slots[u].test_delay = TEST_RETRY_FIRST;
            self.set_phase(u, Phase::Test);
            self.spawn(u, Role::Test);
        } else {
            self.start_post(u, 0);
        }
    }

    fn start_post(&mut self, u: usize, i: usize) {
        if self.has_cmd(u, Role::StartPost(i)) {
            self.set_phase(u, Phase::StartPost(i));
            self.spawn(u, Role::StartPost(i));
        } else {
            self.become_active(u);
        }
    }

    fn become_active(&mut self, u: usize) {
        if std::mem::take(&mut self.slots[u].main_gone) {
            // Not active: no ExecStop=, as for a main process gone at once.
            self.deactivate(u, None, false);
            return;
        }
        // The PID file was not there before ExecStartPost=: read now, and
        // waited for (unless MAINPID= named the daemon meanwhile).
        if self.slots[u].pid_file_late {
            let pid_file = (self.slots[u].run.service.as_ref()).and_then(|s| (*s.pid_file).clone());
            match pid_file {
                Some(path) if self.slots[u].main_pid.is_none() => {
                    let unit = self.slots[u].name.clone();
                    self.set_phase(u, Phase::PidFile);
                    let wait = true;
                    self.actions.push(Action::ReadPidFile { unit, path, wait });
                    return;
                }
                _ => self.slots[u].pid_file_late = false,
            }
        }
        let now = self.now;
        let s = &mut self.slots[u];
        s.timeout = None;
        s.wake = None;
        s.started_ok = true;
        s.time_to_ready = s.start_requested.map(|t| now.saturating_sub(t));
        let run = s.run.clone();
        let main_pid = s.main_pid;
        let Some(svc) = run.service.as_ref() else {
            self.set_phase(u, Phase::Running);
            self.log(Level::Debug, u, "reached".into());
            return;
        };
        let has_process = main_pid.is_some() || svc.service_type == ServiceType::Forking;
        if svc.service_type != ServiceType::Oneshot && has_process {
            self.set_phase(u, Phase::Running);
            self.log(Level::Debug, u, "started".into());
        } else if svc.remain_after_exit {
            self.set_phase(u, Phase::Exited);
            self.log(Level::Info, u, "finished; remains active".into());
        } else {
            self.log(Level::Info, u, "finished".into());
            self.deactivate(u, None, true);
        }
    }

    /// A socket unit whose conditions hold: refused while a service that
    /// holds its sockets runs, else `Listen`, and `running` only once
    /// [`Event::Listened`] says the sockets exist, so that what is ordered
    /// after it never starts before a failure to bind is known.
    fn begin_listen(&mut self, u: usize) {
        if let Some(service) = self.socket_holder(u) {
            // systemd's socket_start(): "Socket service X already active,
            // refusing." (-EBUSY): the job fails, the unit stays inactive,
            // and nothing is bound or unlinked under the running service.
            let why = format!("service {service} already active, refusing");
            self.slots[u].reason = Some(Reason::Socket(why));
            self.set_phase(u, Phase::Dead { failed: false });
            self.after_dead(u);
            return;
        }
        let unit = self.slots[u].name.clone();
        self.set_phase(u, Phase::Listen);
        self.actions.push(Action::Listen { unit });
    }

    /// A service that may hold the sockets of socket unit `u` from an earlier
    /// run (one that is not down, nor only about to start): its `Service=`,
    /// or one that names it in `Sockets=`. `Accept=yes` sockets are never
    /// passed, so nothing holds them.
    fn socket_holder(&self, u: usize) -> Option<String> {
        let s = &self.slots[u];
        let sock = s.run.socket.as_ref()?;
        if sock.accept {
            return None;
        }
        let holds = |h: &Slot| {
            !h.gone
                && !h.phase.is_down_or_pending()
                && (h.name == sock.service
                    || (h.run.service.as_ref()).is_some_and(|svc| svc.sockets.contains(&s.name)))
        };
        self.slots.iter().find(|h| holds(h)).map(|h| h.name.clone())
    }

    fn on_listened(&mut self, u: usize, result: Result<(), String>) {
        if self.slots[u].phase != Phase::Listen {
            return;
        }
        match result {
            Ok(()) => self.become_active(u),
            // Said once, by the state change that carries the reason.
            Err(why) => {
                self.slots[u].reason = Some(Reason::Socket(why));
                self.set_phase(u, Phase::Dead { failed: true });
                self.after_dead(u);
            }
        }
    }

    fn fail_start(&mut self, u: usize, failure: Option<Reason>) {
        if let Some(r) = &failure {
            self.log(Level::Warning, u, format!("start failed: {r}"));
        }
        self.record(u, failure);
        self.enter_kill(u, KillStage::Term);
    }

    /// `u`'s start job fails for `dep`, which it requires and cannot have:
    /// a pending start ends the unit `inactive (dependency failed: DEP)`;
    /// the start job of an active unit fails alone, and the unit stays as
    /// it is. Either way the starts that require it in turn fail too. A
    /// unit with no start job pending is left alone.
    fn fail_start_job(&mut self, u: usize, dep: String) {
        if self.slots[u].phase.is_pending_start() {
            self.fail_dependency(u, dep);
        } else if self.slots[u].start_job_on_active {
            self.fail_active_start(u, dep);
            self.fail_dependents(u);
        }
    }

    /// The start job of active `u` fails for `dep` (systemd's
    /// `JOB_DEPENDENCY`): its clients hear why; the unit is untouched.
    fn fail_active_start(&mut self, u: usize, dep: String) {
        self.slots[u].start_job_on_active = false;
        self.log(
            Level::Warning,
            u,
            format!("start job failed: dependency failed: {dep}"),
        );
        let unit = self.slots[u].name.clone();
        let why = Reason::DependencyFailed(dep);
        self.actions.push(Action::StartFailed { unit, why });
        self.wake_ordered(u);
    }

    fn fail_dependency(&mut self, u: usize, dep: String) {
        self.log(Level::Warning, u, format!("dependency failed: {dep}"));
        self.slots[u].reason = Some(Reason::DependencyFailed(dep));
        // systemd fails the job, not the unit: it never ran.
        self.set_phase(u, Phase::Dead { failed: false });
        self.after_dead(u);
    }

    // ----- stopping -----

    /// A stop of a unit waiting for its automatic restart: the restart is
    /// called off and the unit is inactive, as systemd's stop of a unit in
    /// `auto-restart` makes it dead. Not failed: that would fire OnFailure=
    /// and FailureAction= for the failure the restart was to repair, which
    /// did not fire when it happened. That failure stays the unit's result,
    /// as systemd keeps the service's result then (`Result=exit-code`) until
    /// the next start or a reset-failed; `cause` (a conflict) is the reason
    /// only when the run ended cleanly (Restart=always).
    fn cancel_restart(&mut self, u: usize, cause: Option<Reason>) {
        let s = &mut self.slots[u];
        s.wake = None;
        s.reason = s.reason.take().or(cause);
        self.set_phase(u, Phase::Dead { failed: false });
    }

    /// Tells who waits for `u`'s start that `cause` took its place.
    fn cancel_start(&mut self, u: usize, cause: &StopCause) {
        let unit = self.slots[u].name.clone();
        let why = cause.canceled();
        self.log(Level::Info, u, format!("start {why}"));
        self.actions.push(Action::StartCanceled { unit, why });
    }

    fn begin_stop(&mut self, u: usize) {
        let Some(cause) = self.slots[u].pending_stop.take() else {
            return;
        };
        let phase = self.slots[u].phase;
        // A start under way ends here; not when a restart starts it again.
        if (phase.is_pending_start() || phase.is_starting()) && !self.slots[u].start_after_stop {
            self.cancel_start(u, &cause);
        }
        match phase {
            // Down already (failed while its stop waited its turn): the units
            // whose stop or start waits for this one's stop may go on, as after
            // a phase change; nothing else wakes them, since none comes (found
            // at a shutdown: a socket that failed while its stop was pending
            // held a unit before it for ever).
            Phase::Dead { .. } => self.wake_ordered(u),
            Phase::Waiting | Phase::Condition => {
                self.slots[u].reason = cause.reason();
                self.set_phase(u, Phase::Dead { failed: false });
                self.after_dead(u);
            }
            Phase::AutoRestart => {
                self.cancel_restart(u, cause.reason());
                self.after_dead(u);
            }
            p if p.is_stopping() => {
                self.slots[u].stop_cause.get_or_insert(cause);
            }
            p => {
                self.slots[u].stop_cause = Some(cause);
                self.log(Level::Debug, u, "stopping".into());
                if p.is_active() {
                    self.deactivate(u, None, true);
                } else {
                    self.enter_kill(u, KillStage::Term);
                }
            }
        }
    }

    /// The stop sequence of a unit that was starting or active.
    fn deactivate(&mut self, u: usize, failure: Option<Reason>, run_exec_stop: bool) {
        self.record(u, failure);
        let s = &mut self.slots[u];
        s.timeout = None;
        s.wake = None;
        s.if_rare(|r| r.watchdog_at = None);
        let exec_stop =
            run_exec_stop && s.started_ok && s.control.is_none() && self.has_cmd(u, Role::Stop(0));
        if exec_stop {
            self.exec_stop(u, 0);
        } else {
            self.enter_kill(u, KillStage::Term);
        }
    }

    fn exec_stop(&mut self, u: usize, i: usize) {
        if self.has_cmd(u, Role::Stop(i)) {
            self.set_phase(u, Phase::Stop(i));
            self.spawn(u, Role::Stop(i));
        } else {
            self.enter_kill(u, KillStage::Term);
        }
    }

    /// The least time the processes get to end after SIGKILL before they are
    /// given up on.
    const KILL_WAIT_MIN: Duration = Duration::from_secs(5);

    fn enter_kill(&mut self, u: usize, stage: KillStage) {
        let now = self.now;
        self.slots[u].wake = None;
        if !self.slots[u].alive() && !self.waits_for_leftovers(u) {
            self.stop_post(u, 0);
            return;
        }
        let run = self.slots[u].run.clone();
        let Some(svc) = run.service.as_ref() else {
            self.stop_post(u, 0);
            return;
        };
        if svc.kill_mode == KillMode::None {
            self.log(
                Level::Info,
                u,
                "KillMode=none: leaving the processes running".into(),
            );
            self.abandon(u);
            self.stop_post(u, 0);
            return;
        }
        self.slots[u].if_rare(|r| r.watchdog_at = None);
        let signal = stage.signal(svc);
        let group = matches!(
            (svc.kill_mode, stage),
            (KillMode::ControlGroup, _) | (KillMode::Mixed, KillStage::Kill)
        );
        for pid in self.slots[u].pids() {
            self.signal(u, pid, signal, group);
        }
        self.kill_leftovers(u, stage);
        let wait = stage.wait(svc);
        if stage == KillStage::Term && wait == Some(Duration::ZERO) && svc.send_sigkill {
            // YAML's `shutdown_timeout: 0`: SIGKILL at once is what was asked
            // for, not a stop that timed out.
            self.log(
                Level::Info,
                u,
                "stop timeout 0: sending SIGKILL at once".into(),
            );
            return self.enter_kill(u, KillStage::Kill);
        }
        self.slots[u].timeout = wait.map(|t| now + t);
        self.deadlines.note(u, self.slots[u].timeout);
        self.set_phase(u, Phase::Kill(stage));
    }

    /// Whether the stop waits for leftovers: what the unit's process groups
    /// hold besides its tracked processes, as systemd waits for its cgroup.
    /// KillMode=process and none leave them alone.
    fn waits_for_leftovers(&self, u: usize) -> bool {
        let s = &self.slots[u];
        s.leftovers
            && s.run.service.as_ref().is_some_and(|svc| {
                matches!(svc.kill_mode, KillMode::ControlGroup | KillMode::Mixed)
            })
    }

    /// The kill step's signal to the leftovers, when the stop waits for them:
    /// KillMode=control-group gives them the step's signal with the rest;
    /// KillMode=mixed spares them while the main process runs, then SIGKILL.
    fn kill_leftovers(&mut self, u: usize, stage: KillStage) {
        if !self.waits_for_leftovers(u) {
            return;
        }
        let s = &self.slots[u];
        let Some(svc) = s.run.service.as_ref() else {
            return;
        };
        let signal = match svc.kill_mode {
            KillMode::Mixed if s.main_pid.is_some() => return,
            KillMode::Mixed if svc.send_sigkill => SIGKILL,
            _ => stage.signal(svc),
        };
        let unit = s.name.clone();
        let once = true;
        self.actions
            .push(Action::KillLeftovers { unit, signal, once });
    }

    /// [`Event::Leftovers`]: in the kill step, new leftovers get its signal, and
    /// the step is over once the last of them is gone.
    fn on_leftovers(&mut self, u: usize, present: bool) {
        self.set_leftovers(u, present);
        if let Phase::Kill(stage) = self.slots[u].phase {
            if present {
                self.kill_leftovers(u, stage);
            } else {
                self.kill_step_progress(u);
            }
        }
    }

    /// Forgets the unit's processes (SendSIGKILL=no, KillMode=none, or processes that
    /// survived SIGKILL): their exits are no longer this unit's business.
    fn abandon(&mut self, u: usize) {
        self.set_leftovers(u, false);
        let s = &mut self.slots[u];
        let pids: Vec<u32> = [
            s.main_pid.take(),
            s.control.take().map(|c| c.0),
            s.if_rare(|r| r.test_pid.take()),
        ]
        .into_iter()
        .flatten()
        .collect();
        s.spawning = None;
        for pid in pids {
            self.pids.remove(&pid);
        }
    }

    /// After an `ExecStopPost=` timed out: its process, and its process
    /// group unless KillMode=process, gets the stage's signal; the next step
    /// comes after `TimeoutStopSec=` (the end of the stop when it exits).
    fn final_kill(&mut self, u: usize, stage: KillStage) {
        let run = self.slots[u].run.clone();
        let (Some(svc), Some((pid, _))) = (run.service.as_ref(), self.slots[u].control) else {
            return self.finish_dead(u);
        };
        if svc.kill_mode == KillMode::None {
            // As systemd: no signal at all; the unit is down without it.
            self.log(
                Level::Warning,
                u,
                "KillMode=none: leaving ExecStopPost= running".into(),
            );
            self.abandon(u);
            return self.finish_dead(u);
        }
        let signal = stage.signal(svc);
        self.signal(u, pid, signal, svc.kill_mode != KillMode::Process);
        // Term or Kill: the watchdog's Abort has no part here.
        self.slots[u].timeout = stage.wait(svc).map(|t| self.now + t);
        self.deadlines.note(u, self.slots[u].timeout);
        self.set_phase(u, Phase::FinalKill(stage));
    }

    fn stop_post(&mut self, u: usize, i: usize) {
        if self.has_cmd(u, Role::StopPost(i)) {
            self.set_phase(u, Phase::StopPost(i));
            self.spawn(u, Role::StopPost(i));
        } else {
            self.finish_dead(u);
        }
    }

    /// The end of every stop sequence.
    fn finish_dead(&mut self, u: usize) {
        let now = self.now;
        let shutting_down = self.shutting_down;
        // vigild forgets the unit's process groups once it is down.
        self.set_leftovers(u, false);
        let s = &mut self.slots[u];
        s.timeout = None;
        s.wake = None;
        s.if_rare(|r| r.watchdog_at = None);
        s.started_ok = false;
        let result = s.if_rare(|r| r.result.take());
        let cause = s.stop_cause.take();
        // Cleared only after the unit is Dead: a restart is no end for
        // SuccessAction= (`unit_action`).
        // A start job that waited while the unit was active (it went down
        // with no stopping phase to see) starts it again, as a restart's.
        let restart_job = s.start_after_stop || std::mem::take(&mut s.start_job_on_active);
        let on_its_own = cause.is_none();
        let run = s.run.clone();
        // A stop asked for and waiting its turn wins over an automatic
        // restart, as a stop job does in systemd.
        let auto = on_its_own
            && !shutting_down
            && !restart_job
            && !s.removed
            && s.pending_stop.is_none()
            && run
                .service
                .as_ref()
                .is_some_and(|svc| restart_wanted(svc, result.as_ref(), s.run_exit));
        if let (true, Some(svc)) = (auto, run.service.as_ref()) {
            s.set_rare(|r| &mut r.restart_cause, result.clone());
            s.reason = result;
            s.wake = Some(now + svc.restart_sec);
            self.deadlines.note(u, s.wake);
            let why = s
                .reason
                .as_ref()
                .map_or_else(|| "exited".to_string(), ToString::to_string);
            self.set_phase(u, Phase::AutoRestart);
            self.log(
                Level::Info,
                u,
                format!("{why}; restarting in {} ms", svc.restart_sec.as_millis()),
            );
            if svc.restart_sec.is_zero() {
                self.auto_restart(u);
            }
            return;
        }
        // ExecCondition= said skip: inactive, as a failed condition.
        let skipped = matches!(result, Some(Reason::ConditionFailed(_)));
        let failed = result.is_some() && !skipped;
        s.reason = result.or_else(|| cause.as_ref().and_then(StopCause::reason));
        match &s.reason {
            Some(r) if failed => {
                let msg = format!("failed: {r}");
                self.log(Level::Warning, u, msg);
            }
            _ => self.log(Level::Debug, u, "stopped".into()),
        }
        self.set_phase(u, Phase::Dead { failed });
        self.slots[u].start_after_stop = false;
        if skipped {
            // As a failed Condition*=: what is bound to it with After= stops.
            self.stop_bound_after_skip(u);
        } else if on_its_own {
            self.after_dead(u);
        }
        if restart_job && !self.shutting_down {
            if let Err(e) = self.start_unit(u, false) {
                self.log(Level::Error, u, format!("cannot start again: {e}"));
            }
        } else if restart_job && self.slots[u].at_shutdown && !self.shutdown_final {
            // A unit of the shutdown that was stopping when it came.
            self.start_at_shutdown(&[u], HashSet::from([u]));
        }
        if self.slots[u].removed && self.slots[u].phase.is_dead() {
            self.forget(u);
        }
    }

    /// A unit went down without a stop job: BindsTo= dependents stop, and if it
    /// failed, the pending starts that require it fail.
    fn after_dead(&mut self, u: usize) {
        // A start job that failed without failing its unit fails the starts
        // that need it too, as systemd's job_fail_dependencies(): one that
        // failed for a dependency or an assertion, and a socket unit's
        // refused start.
        let s = &self.slots[u];
        let failed = s.phase == (Phase::Dead { failed: true })
            || (s.reason.as_ref())
                .is_some_and(|r| r.failed_the_job_only() || matches!(r, Reason::Socket(_)));
        let bound = self.graph.bound_rev[u].to_vec();
        for x in bound {
            let p = self.slots[x].phase;
            let hard = failed && self.graph.hard_rev[u].contains(&x);
            // A start still waiting for it fails below for the dependency,
            // as systemd's `Dependency failed for x`, not canceled by a stop.
            if hard && p.is_pending_start() {
                continue;
            }
            // The start job of an active unit bound to it fails so too,
            // then the unit stops.
            if hard && self.slots[x].start_job_on_active {
                let name = self.slots[u].name.clone();
                self.fail_active_start(x, name);
            }
            if !p.is_dead() && !p.is_stopping() && self.slots[x].pending_stop.is_none() {
                let name = self.slots[u].name.clone();
                self.log(
                    Level::Info,
                    x,
                    format!("stopping: bound to {name}, which is down"),
                );
                self.stop_unit(x, StopCause::With(name), false);
            }
        }
        if failed {
            self.fail_dependents(u);
        }
    }

    /// `u`'s start failed (the unit, or only its job): the start jobs still
    /// pending of the units that require it fail, and so on down the chain,
    /// as systemd's job_fail_dependencies(). An active unit's start job
    /// fails alone (the unit stays active).
    fn fail_dependents(&mut self, u: usize) {
        let mut work = vec![u];
        while let Some(d) = work.pop() {
            let name = self.slots[d].name.clone();
            let hard = self.graph.hard_rev[d].to_vec();
            for x in hard {
                if self.slots[x].phase.is_pending_start() {
                    self.log(Level::Warning, x, format!("dependency failed: {name}"));
                    self.slots[x].reason = Some(Reason::DependencyFailed(name.clone()));
                    self.set_phase(x, Phase::Dead { failed: false });
                    work.push(x);
                } else if self.slots[x].start_job_on_active {
                    self.fail_active_start(x, name.clone());
                    work.push(x);
                }
            }
        }
    }

    fn forget(&mut self, u: usize) {
        self.log(Level::Info, u, "removed".into());
        let s = &mut self.slots[u];
        s.gone = true;
        let name = s.name.clone();
        self.index.remove(&name);
    }

    fn auto_restart(&mut self, u: usize) {
        let s = &mut self.slots[u];
        s.wake = None;
        s.restarts += 1;
        if let Some(e) = s.rare().load_error.clone() {
            s.reason = Some(Reason::LoadError(e));
            self.set_phase(u, Phase::Dead { failed: true });
            self.after_dead(u);
            return;
        }
        if let Err(e) = self.start_unit(u, false) {
            self.log(Level::Error, u, format!("cannot restart: {e}"));
        }
    }

    // ----- processes -----

    fn on_spawned(&mut self, unit: &str, role: Role, pid: u32) {
        let Some(&u) = self.index.get(unit) else {
            return;
        };
        if self.slots[u].spawning != Some(role) {
            // Nobody waits for this process any more: end it.
            self.log(
                Level::Warning,
                u,
                format!("unexpected process {pid} ({role:?}); killing it"),
            );
            self.signal(u, pid, SIGKILL, false);
            return;
        }
        let s = &mut self.slots[u];
        s.spawning = None;
        match role {
            Role::Main(_) => s.main_pid = Some(pid),
            Role::Test => s.rare_mut().test_pid = Some(pid),
            _ => s.control = Some((pid, role)),
        }
        self.pids.insert(pid, (u, role));
        let phase = s.phase;
        if let Phase::Kill(stage) = phase {
            // Spawned after the stop began: it gets the signal the others got.
            let run = s.run.clone();
            if let Some(svc) = run.service.as_ref() {
                let signal = stage.signal(svc);
                let group = svc.kill_mode == KillMode::ControlGroup;
                self.signal(u, pid, signal, group);
            }
            return;
        }
        let simple = s
            .run
            .service
            .as_ref()
            .is_some_and(|svc| svc.service_type == ServiceType::Simple);
        if matches!(role, Role::Main(0)) && phase == Phase::Start(0) && simple {
            self.ready(u);
        }
    }

    fn on_exec_succeeded(&mut self, pid: u32) {
        let Some(&(u, role)) = self.pids.get(&pid) else {
            return;
        };
        let exec = self.slots[u]
            .run
            .service
            .as_ref()
            .is_some_and(|s| s.service_type == ServiceType::Exec);
        if exec && matches!(role, Role::Main(0)) && self.slots[u].phase == Phase::Start(0) {
            self.ready(u);
        }
    }

    fn on_spawn_failed(&mut self, unit: &str, role: Role, pid: Option<u32>, outcome: Outcome) {
        let Some(&u) = self.index.get(unit) else {
            return;
        };
        let mut ours = false;
        if self.slots[u].spawning == Some(role) {
            self.slots[u].spawning = None;
            ours = true;
        }
        if let Some(pid) = pid
            && self.pids.get(&pid) == Some(&(u, role))
        {
            self.pids.remove(&pid);
            self.untrack(u, pid);
            ours = true;
        }
        if ours {
            // The main process that never ran its program "exited" with the
            // code systemd's child exits with at that step (203 for exec),
            // which ExecStopPost= sees in $EXIT_STATUS and status shows.
            if let (Role::Main(_), Outcome::ExecFailed { stage, .. }) = (role, &outcome) {
                let status = ExitStatus::Exited(setup_exit_code(stage));
                let s = &mut self.slots[u];
                (s.last_exit, s.run_exit) = (Some(status), Some(status));
            }
            self.process_ended(u, role, pid, outcome);
        }
    }

    fn on_exited(&mut self, pid: u32, status: ExitStatus) {
        let Some((u, role)) = self.pids.remove(&pid) else {
            return;
        };
        self.untrack(u, pid);
        if matches!(role, Role::Main(_)) {
            let s = &mut self.slots[u];
            s.last_exit = Some(status);
            s.run_exit = Some(status);
        }
        self.process_ended(u, role, Some(pid), Outcome::Exit(status));
    }

    fn untrack(&mut self, u: usize, pid: u32) {
        let s = &mut self.slots[u];
        if s.main_pid == Some(pid) {
            s.main_pid = None;
        }
        if s.control.is_some_and(|c| c.0 == pid) {
            s.control = None;
        }
        s.if_rare(|r| r.test_pid.take_if(|p| *p == pid));
    }

    fn process_ended(&mut self, u: usize, role: Role, pid: Option<u32>, outcome: Outcome) {
        match role {
            Role::Main(i) => self.main_ended(u, i, pid, outcome),
            Role::Test => self.test_ended(u, outcome),
            _ => self.control_ended(u, role, outcome),
        }
    }

    /// In the kill step, the last process gone (leftovers included) moves on
    /// to ExecStopPost=.
    fn kill_step_progress(&mut self, u: usize) -> bool {
        if let Phase::Kill(_) = self.slots[u].phase {
            if !self.slots[u].alive() && !self.waits_for_leftovers(u) {
                self.stop_post(u, 0);
            }
            return true;
        }
        false
    }

    fn main_ended(&mut self, u: usize, i: usize, pid: Option<u32>, outcome: Outcome) {
        let run = self.slots[u].run.clone();
        let Some(svc) = run.service.as_ref() else {
            return;
        };
        let ignore = command(svc, Role::Main(i)).is_some_and(|c| c.ignore_failure);
        let phase = self.slots[u].phase;
        // A stop timeout of 0 asks for SIGKILL at once: the death it brings is
        // the stop asked for, not a failure.
        let asked_kill = phase == Phase::Kill(KillStage::Kill)
            && svc.timeout_stop == Some(Duration::ZERO)
            && matches!(outcome, Outcome::Exit(ExitStatus::Signaled(SIGKILL)));
        // zinit has no failed stop: a YAML service's stop signal (zinit's own
        // example is SIGKILL) ends it cleanly. systemd's KillSignal= does not.
        let asked_signal = run.format == Format::Yaml
            && phase == Phase::Kill(KillStage::Term)
            && outcome == Outcome::Exit(ExitStatus::Signaled(svc.kill_signal));
        let clean = ignore || asked_kill || asked_signal || main_clean(svc, &outcome);
        let failure = (!clean).then(|| outcome.reason());
        let level = if clean { Level::Info } else { Level::Warning };
        self.log(level, u, format!("main process {}", outcome.describe()));
        match phase {
            Phase::Start(j) if j == i => match svc.service_type {
                _ if !clean => self.fail_start(u, failure),
                ServiceType::Oneshot => self.start_main(u, i + 1),
                ServiceType::Forking => match &*svc.pid_file {
                    // MAINPID= already named the daemon.
                    _ if self.slots[u].main_pid.is_some_and(|m| Some(m) != pid) => self.ready(u),
                    Some(path) => {
                        // As systemd: with ExecStartPost=, which may write
                        // it, a file not there yet is read again after it.
                        let wait = !self.has_cmd(u, Role::StartPost(0));
                        let unit = self.slots[u].name.clone();
                        self.set_phase(u, Phase::PidFile);
                        self.actions.push(Action::ReadPidFile {
                            unit,
                            path: path.clone(),
                            wait,
                        });
                    }
                    None if svc.guess_main_pid => {
                        let unit = self.slots[u].name.clone();
                        self.set_phase(u, Phase::PidFile);
                        self.actions.push(Action::GuessMainPid { unit });
                    }
                    None => self.ready(u),
                },
                ServiceType::Notify => {
                    self.log(
                        Level::Warning,
                        u,
                        "main process exited before READY=1".into(),
                    );
                    self.fail_start(u, Some(outcome.reason()));
                }
                ServiceType::Simple | ServiceType::Exec => {
                    if svc.remain_after_exit {
                        self.start_post(u, 0);
                    } else {
                        self.deactivate(u, None, false);
                    }
                }
            },
            Phase::Test | Phase::PidFile => {
                if clean {
                    self.deactivate(u, None, false);
                } else {
                    self.fail_start(u, failure);
                }
            }
            // As systemd's service_sigchld_event(): the command under way
            // runs to its end (become_active, back_from_reload go on).
            Phase::StartPost(_) | Phase::Reload(_) => {
                if !(clean && svc.remain_after_exit) {
                    self.record(u, failure);
                    // Nothing left to ping the watchdog.
                    self.slots[u].if_rare(|r| r.watchdog_at = None);
                    self.slots[u].main_gone = true;
                } else if matches!(phase, Phase::Reload(_)) {
                    // Remains active: exited, once the reload is over.
                    self.slots[u].reload_from_exited = true;
                }
            }
            Phase::Running | Phase::NotifyReload => {
                if clean && svc.remain_after_exit {
                    if phase == Phase::Running {
                        self.set_phase(u, Phase::Exited);
                    }
                } else {
                    self.deactivate(u, failure, true);
                }
            }
            Phase::StopByNotify => {
                self.record(u, failure);
                if !self.slots[u].alive() {
                    self.stop_post(u, 0);
                }
            }
            Phase::Stop(_) | Phase::StopPost(_) => self.record(u, failure),
            Phase::Kill(stage) => {
                self.record(u, failure);
                if let (KillMode::Mixed, KillStage::Term | KillStage::Abort, true, Some(pid)) =
                    (svc.kill_mode, stage, svc.send_sigkill, pid)
                {
                    // KillMode=mixed: the rest of the group gets SIGKILL once the main is gone.
                    self.signal(u, pid, SIGKILL, true);
                }
                if svc.kill_mode == KillMode::Mixed {
                    // And so does the rest of the unit's groups.
                    self.kill_leftovers(u, stage);
                }
                self.kill_step_progress(u);
            }
            _ => {}
        }
    }

    fn control_ended(&mut self, u: usize, role: Role, outcome: Outcome) {
        if self.kill_step_progress(u) {
            return;
        }
        let run = self.slots[u].run.clone();
        let Some(svc) = run.service.as_ref() else {
            return;
        };
        if let (Phase::ExecCondition(i), Role::Condition(j)) = (self.slots[u].phase, role)
            && i == j
        {
            self.exec_condition_ended(u, i, svc, outcome);
            return;
        }
        let ok = outcome == Outcome::Exit(ExitStatus::Exited(0))
            || command(svc, role).is_some_and(|c| c.ignore_failure);
        let failure = (!ok).then(|| outcome.reason());
        if !ok {
            self.log(
                Level::Warning,
                u,
                format!("{} process {}", role.describe(), outcome.describe()),
            );
        }
        match (self.slots[u].phase, role) {
            (Phase::StartPre(i), Role::StartPre(j)) if i == j => {
                if ok {
                    self.start_pre(u, i + 1);
                } else {
                    self.fail_start(u, failure);
                }
            }
            (Phase::StartPost(i), Role::StartPost(j)) if i == j => {
                if ok {
                    self.start_post(u, i + 1);
                } else {
                    self.fail_start(u, failure);
                }
            }
            (Phase::Reload(i), Role::Reload(j)) if i == j => match failure {
                None => self.reload_step(u, i + 1),
                Some(reason) => {
                    self.log(
                        Level::Warning,
                        u,
                        format!("reload failed ({reason}); still running the old configuration"),
                    );
                    self.slots[u].timeout = None;
                    self.back_from_reload(u, Some(ReloadFailure::Command(reason)));
                }
            },
            (Phase::Stop(i), Role::Stop(j)) if i == j => {
                self.record(u, failure);
                self.exec_stop(u, i + 1);
            }
            (Phase::StopPost(i), Role::StopPost(j)) if i == j => {
                self.record(u, failure);
                self.stop_post(u, i + 1);
            }
            // Ended by the signals of a timeout: the commands after it do not run.
            (Phase::FinalKill(_), Role::StopPost(_)) => self.finish_dead(u),
            _ => {}
        }
    }

    fn test_ended(&mut self, u: usize, outcome: Outcome) {
        if self.kill_step_progress(u) || self.slots[u].phase != Phase::Test {
            return;
        }
        if outcome == Outcome::Exit(ExitStatus::Exited(0)) {
            self.log(Level::Info, u, "ready: test passed".into());
            self.start_post(u, 0);
        } else {
            let now = self.now;
            let s = &mut self.slots[u];
            let delay = s.test_delay;
            s.wake = Some(now + delay);
            self.deadlines.note(u, s.wake);
            s.test_delay = (delay * 2).min(TEST_RETRY_MAX);
            self.log(
                Level::Debug,
                u,
                format!(
                    "test {}; again in {} ms",
                    outcome.describe(),
                    delay.as_millis()
                ),
            );
        }
    }

    fn reload_step(&mut self, u: usize, i: usize) {
        if self.has_cmd(u, Role::Reload(i)) {
            self.set_phase(u, Phase::Reload(i));
            self.spawn(u, Role::Reload(i));
        } else {
            self.slots[u].timeout = None;
            self.log(Level::Info, u, "reloaded".into());
            self.back_from_reload(u, None);
        }
    }

    /// The end of a reload, told (so that `vigil reload` can answer), then
    /// the unit is active again.
    fn back_from_reload(&mut self, u: usize, failure: Option<ReloadFailure>) {
        self.slots[u].reload_signalled = false;
        let again = std::mem::take(&mut self.slots[u].reload_again);
        let unit = self.slots[u].name.clone();
        self.actions.push(Action::ReloadEnded {
            unit: unit.clone(),
            failure,
        });
        if std::mem::take(&mut self.slots[u].main_gone) {
            self.deactivate(u, None, true);
            return;
        }
        let phase = if self.slots[u].reload_from_exited {
            Phase::Exited
        } else {
            Phase::Running
        };
        self.set_phase(u, phase);
        // The reload asked for meanwhile; its end is told as any reload's.
        if again && self.reload_unit(u).is_err() {
            let failure = Some(ReloadFailure::NotRun);
            self.actions.push(Action::ReloadEnded { unit, failure });
        }
    }

    fn on_pid_file(&mut self, u: usize, result: Result<u32, String>) {
        if self.slots[u].phase != Phase::PidFile {
            return;
        }
        match result {
            Ok(pid) if pid > 0 => match self.other_owner(u, pid) {
                Some(owner) => {
                    let why = format!("PID {pid} is a process of {owner}");
                    self.fail_start(u, Some(Reason::PidFile(why)));
                }
                None => {
                    self.set_main_pid(u, pid);
                    if std::mem::take(&mut self.slots[u].pid_file_late) {
                        self.become_active(u);
                    } else {
                        self.ready(u);
                    }
                }
            },
            Ok(pid) => self.fail_start(u, Some(Reason::PidFile(format!("invalid pid {pid}")))),
            Err(e) if !self.slots[u].pid_file_late && self.has_cmd(u, Role::StartPost(0)) => {
                self.log(
                    Level::Info,
                    u,
                    format!("{e}; reading it again after ExecStartPost="),
                );
                self.slots[u].pid_file_late = true;
                self.ready(u);
            }
            Err(e) => {
                self.slots[u].pid_file_late = false;
                self.fail_start(u, Some(Reason::PidFile(e)));
            }
        }
    }

    /// The other unit that tracks `pid`, if one does: a PID file or `MAINPID=`
    /// naming it must not take it over (stopping this unit would kill that
    /// one's process, whose end would then be this unit's).
    fn other_owner(&self, u: usize, pid: u32) -> Option<String> {
        let &(o, _) = self.pids.get(&pid)?;
        (o != u).then(|| self.slots[o].name.clone())
    }

    fn set_main_pid(&mut self, u: usize, pid: u32) {
        // Type=forking: MAINPID= may name the daemon before the start process
        // exits; that exit still moves the start on, so it stays tracked.
        let start_process = self.slots[u].phase == Phase::Start(0)
            && self.slots[u]
                .run
                .service
                .as_ref()
                .is_some_and(|svc| svc.service_type == ServiceType::Forking);
        let s = &mut self.slots[u];
        if let Some(old) = s.main_pid
            && old != pid
            && !start_process
            && self.pids.get(&old).is_some_and(|&(o, _)| o == u)
        {
            self.pids.remove(&old);
        }
        s.main_pid = Some(pid);
        let known = self.pids.insert(pid, (u, Role::Main(0))).is_some();
        if !known {
            // Announced (MAINPID=, PID file), not spawned: vigild must watch it,
            // since its exit may reach no one else.
            let unit = s.name.clone();
            self.actions.push(Action::WatchPid { unit, pid });
        }
    }

    // ----- notifications -----

    /// A line a notification of unit `u` makes, said at most once every
    /// [`NOTIFY_LINES_EVERY`]; the first said after a silence counts those
    /// left unsaid.
    fn say_for_notify(&mut self, u: usize, level: Level, line: String) {
        let now = self.now;
        let (said, unsaid) = &mut self.slots[u].rare_mut().notify_lines;
        if said.is_some_and(|at| now.saturating_sub(at) < NOTIFY_LINES_EVERY) {
            *unsaid += 1;
            return;
        }
        let more = match std::mem::take(unsaid) {
            0 => String::new(),
            n => format!("; {n} more not said before it"),
        };
        *said = Some(now);
        self.log(level, u, format!("{line}{more}"));
    }

    fn on_notify(&mut self, pid: u32, fields: &[(String, String)], attributed: Option<usize>) {
        let (u, known) = match (self.pids.get(&pid), attributed) {
            (Some(&(u, _)), None) => (u, true),
            (Some(&(u, _)), Some(a)) if u == a => (u, true),
            (_, Some(a)) => (a, false),
            (None, None) => {
                self.actions.push(Action::Log {
                    level: Level::Debug,
                    unit: None,
                    message: format!("notification from unknown pid {pid} ignored"),
                });
                return;
            }
        };
        let run = self.slots[u].run.clone();
        let Some(svc) = run.service.as_ref() else {
            return;
        };
        let allowed = match svc.notify_access {
            NotifyAccess::None => false,
            NotifyAccess::Main => known && self.slots[u].main_pid == Some(pid),
            NotifyAccess::Exec => known,
            NotifyAccess::All => true,
        };
        if !allowed {
            let access = match svc.notify_access {
                NotifyAccess::None => "none",
                NotifyAccess::Main => "main",
                NotifyAccess::Exec => "exec",
                NotifyAccess::All => "all",
            };
            let why = format!("notification from pid {pid} refused (NotifyAccess={access})");
            self.say_for_notify(u, Level::Warning, why);
            return;
        }
        let (mut ready, mut reloading, mut stopping) = (false, false, false);
        let mut watchdog_trigger = false;
        // Applied last: to the stop timeout that STOPPING=1 in the same
        // message sets, as systemd does.
        let mut extend = None;
        for (key, value) in fields {
            match key.as_str() {
                "READY" => ready |= value == "1",
                "RELOADING" => reloading |= value == "1",
                "STOPPING" => stopping |= value == "1",
                // An empty STATUS= clears the text, as in systemd.
                "STATUS" => {
                    let text = Some(value.clone()).filter(|v| !v.is_empty());
                    self.slots[u].set_rare(|r| &mut r.status_text, text);
                }
                "MAINPID" => match value.parse::<u32>() {
                    Ok(p) if p > 0 => match self.other_owner(u, p) {
                        Some(owner) => self.say_for_notify(
                            u,
                            Level::Warning,
                            format!("MAINPID={p} ignored: it is a process of {owner}"),
                        ),
                        None => self.set_main_pid(u, p),
                    },
                    _ => self.say_for_notify(u, Level::Warning, format!("invalid MAINPID={value}")),
                },
                "ERRNO" => match value.parse::<i32>() {
                    Ok(n) if n >= 0 => {
                        let old = self.slots[u].rare_mut().status_errno.replace(n);
                        if old != Some(n) {
                            self.say_for_notify(
                                u,
                                Level::Info,
                                format!("service reports errno {n}"),
                            );
                        }
                    }
                    _ => self.say_for_notify(u, Level::Warning, format!("invalid ERRNO={value}")),
                },
                "WATCHDOG" if value == "1" => self.reset_watchdog(u),
                "WATCHDOG" if value == "trigger" => watchdog_trigger = true,
                "WATCHDOG_USEC" => match value.parse::<u64>() {
                    Ok(us) => {
                        self.slots[u].rare_mut().watchdog_override =
                            Some(Duration::from_micros(us));
                        self.reset_watchdog(u);
                    }
                    Err(_) => {
                        let why = format!("invalid WATCHDOG_USEC={value}");
                        self.say_for_notify(u, Level::Warning, why);
                    }
                },
                "EXTEND_TIMEOUT_USEC" => {
                    extend = value.parse::<u64>().ok().map(Duration::from_micros);
                }
                _ => {}
            }
        }
        let phase = self.slots[u].phase;
        if watchdog_trigger && self.watchdog_phase(u) {
            self.watchdog_fired(u, true);
            return;
        }
        if stopping {
            if phase.is_active() || phase.is_starting() {
                let now = self.now;
                let s = &mut self.slots[u];
                s.timeout = svc.timeout_stop.map(|t| now + t);
                self.deadlines.note(u, s.timeout);
                self.log(Level::Info, u, "stopping by itself (STOPPING=1)".into());
                self.set_phase(u, Phase::StopByNotify);
            }
        } else if reloading || ready {
            // RELOADING=1 first (both may come in one message, as systemd
            // reads them): it begins a reload the service started itself,
            // under TimeoutStartSec= as one vigil asked for, or answers the
            // reload signal.
            if reloading && phase == Phase::Running {
                let now = self.now;
                let s = &mut self.slots[u];
                s.reload_from_exited = false;
                s.timeout = svc.timeout_start.map(|t| now + t);
                self.deadlines.note(u, s.timeout);
                self.set_phase(u, Phase::NotifyReload);
            } else if reloading && phase == Phase::NotifyReload {
                self.slots[u].reload_signalled = false;
            }
            let phase = self.slots[u].phase;
            let notify = svc.service_type == ServiceType::Notify;
            if ready && phase == Phase::Start(0) && notify {
                self.log(Level::Info, u, "ready (READY=1)".into());
                self.ready(u);
            } else if ready && phase == Phase::NotifyReload && !self.slots[u].reload_signalled {
                self.log(Level::Info, u, "reloaded".into());
                self.slots[u].timeout = None;
                self.back_from_reload(u, None);
            }
        }
        if let Some(extra) = extend {
            let extended = self.now + extra;
            let s = &mut self.slots[u];
            // Noted only when it moves: a service may send this at any rate.
            if s.timeout.is_some_and(|t| extended > t) {
                s.timeout = Some(extended);
                self.deadlines.note(u, Some(extended));
            }
        }
    }

    // ----- the watchdog -----

    /// The watchdog period of the current run: WATCHDOG_USEC= if the service set
    /// one, else WatchdogSec=; `None` when there is no watchdog.
    fn watchdog_period(&self, u: usize) -> Option<Duration> {
        let s = &self.slots[u];
        let configured = s.run.service.as_ref().and_then(|svc| svc.watchdog);
        s.rare()
            .watchdog_override
            .or(configured)
            .filter(|d| !d.is_zero())
    }

    /// Phases in which a missed watchdog ping counts: from readiness until a
    /// stop begins (systemd arms it when the service becomes ready).
    fn watchdog_phase(&self, u: usize) -> bool {
        matches!(
            self.slots[u].phase,
            Phase::Test
                | Phase::StartPost(_)
                | Phase::Running
                | Phase::Reload(_)
                | Phase::NotifyReload
        )
    }

    /// `WATCHDOG=1` (or readiness): the next ping is due one period from now.
    fn reset_watchdog(&mut self, u: usize) {
        let now = self.now;
        let period = self.watchdog_period(u);
        let s = &mut self.slots[u];
        if s.phase.is_dead() || s.phase.is_stopping() {
            return;
        }
        // Noted only when it moves: pings within one turn give the same time.
        let at = period.map(|p| now + p);
        if s.rare().watchdog_at != at {
            s.set_rare(|r| &mut r.watchdog_at, at);
            self.deadlines.note(u, at);
        }
    }

    /// The watchdog fired (or the service asked for it with WATCHDOG=trigger):
    /// WatchdogSignal= to the processes, SIGKILL after TimeoutAbortSec=; no
    /// ExecStop=, and the result is `Watchdog` for Restart=.
    fn watchdog_fired(&mut self, u: usize, triggered: bool) {
        let period = self.watchdog_period(u).unwrap_or_default();
        let signal = self.slots[u]
            .run
            .service
            .as_ref()
            .map_or(6, |svc| svc.watchdog_signal);
        let why = if triggered {
            "the service sent WATCHDOG=trigger".to_string()
        } else {
            format!("no WATCHDOG=1 within {} ms", period.as_millis())
        };
        self.log(
            Level::Error,
            u,
            format!("watchdog timeout: {why}; sending {}", signal_words(signal)),
        );
        self.record(u, Some(Reason::Watchdog));
        let s = &mut self.slots[u];
        s.timeout = None;
        s.if_rare(|r| r.watchdog_at = None);
        self.enter_kill(u, KillStage::Abort);
    }

    // ----- Type=forking without a PID file -----

    fn on_main_pid_guessed(&mut self, u: usize, pid: Option<u32>) {
        if self.slots[u].phase != Phase::PidFile {
            return;
        }
        match pid {
            Some(pid) if pid > 1 => {
                self.log(Level::Info, u, format!("main PID guessed: {pid}"));
                self.set_main_pid(u, pid);
            }
            _ => self.log(
                Level::Info,
                u,
                "no single process left behind: running without a main PID while any of its processes remains"
                    .into(),
            ),
        }
        self.ready(u);
    }

    /// A forking service without a main PID: its last process is gone.
    fn on_processes_gone(&mut self, u: usize) {
        let s = &self.slots[u];
        if s.main_pid.is_some() || !matches!(s.phase, Phase::Running | Phase::NotifyReload) {
            return;
        }
        self.log(Level::Info, u, "no process left".into());
        self.deactivate(u, None, true);
    }

    // ----- timers -----

    fn on_tick(&mut self) {
        let now = self.now;
        let due: Vec<usize> = (0..self.slots.len())
            .filter(|&u| {
                let s = &self.slots[u];
                !s.gone
                    && (s.timeout.is_some_and(|t| t <= now)
                        || s.wake.is_some_and(|t| t <= now)
                        || s.rare().watchdog_at.is_some_and(|t| t <= now))
            })
            .collect();
        for u in due {
            if self.slots[u].rare().watchdog_at.is_some_and(|t| t <= now) {
                self.slots[u].if_rare(|r| r.watchdog_at = None);
                if self.watchdog_phase(u) {
                    self.watchdog_fired(u, false);
                    continue;
                }
            }
            if self.slots[u].timeout.is_some_and(|t| t <= now) {
                self.slots[u].timeout = None;
                self.on_timeout(u);
            }
            if self.slots[u].wake.is_some_and(|t| t <= now) {
                self.slots[u].wake = None;
                match self.slots[u].phase {
                    Phase::AutoRestart => self.auto_restart(u),
                    Phase::Test
                        if self.slots[u].rare().test_pid.is_none()
                            && self.slots[u].spawning.is_none() =>
                    {
                        self.spawn(u, Role::Test);
                    }
                    _ => {}
                }
            }
        }
    }

    fn on_timeout(&mut self, u: usize) {
        let run = self.slots[u].run.clone();
        let Some(svc) = run.service.as_ref() else {
            return;
        };
        let phase = self.slots[u].phase;
        match phase {
            p if p.is_starting() => {
                self.log(Level::Warning, u, "start timed out; stopping".into());
                self.fail_start(u, Some(Reason::StartTimeout));
            }
            Phase::Stop(_) | Phase::StopByNotify => {
                self.log(Level::Warning, u, "stop timed out; signalling".into());
                self.record(u, Some(Reason::StopTimeout));
                self.enter_kill(u, KillStage::Term);
            }
            Phase::Kill(KillStage::Term | KillStage::Abort) => {
                self.record(u, Some(Reason::StopTimeout));
                if svc.send_sigkill {
                    self.log(Level::Warning, u, "stop timed out; sending SIGKILL".into());
                    self.enter_kill(u, KillStage::Kill);
                } else {
                    self.log(
                        Level::Warning,
                        u,
                        "stop timed out; SendSIGKILL=no: leaving the processes running".into(),
                    );
                    self.abandon(u);
                    self.stop_post(u, 0);
                }
            }
            Phase::Kill(KillStage::Kill) => {
                self.log(
                    Level::Error,
                    u,
                    "processes still around after SIGKILL; giving up on them".into(),
                );
                self.abandon(u);
                self.stop_post(u, 0);
            }
            Phase::StopPost(_) => {
                self.log(
                    Level::Warning,
                    u,
                    "ExecStopPost= timed out; signalling".into(),
                );
                self.record(u, Some(Reason::StopTimeout));
                self.final_kill(u, KillStage::Term);
            }
            Phase::FinalKill(KillStage::Term | KillStage::Abort) if svc.send_sigkill => {
                self.log(
                    Level::Warning,
                    u,
                    "ExecStopPost= still running; sending SIGKILL".into(),
                );
                self.final_kill(u, KillStage::Kill);
            }
            Phase::FinalKill(stage) => {
                let why = match stage {
                    KillStage::Kill => "ExecStopPost= still running after SIGKILL; giving up on it",
                    _ => "ExecStopPost= still running; SendSIGKILL=no: leaving it running",
                };
                self.log(Level::Warning, u, why.into());
                self.abandon(u);
                self.finish_dead(u);
            }
            Phase::NotifyReload => {
                self.log(Level::Warning, u, "reload timed out: no READY=1".into());
                self.slots[u].timeout = None;
                self.back_from_reload(u, Some(ReloadFailure::NoReady));
            }
            Phase::Reload(_) => {
                self.log(Level::Warning, u, "reload timed out".into());
                if let Some((pid, _)) = self.slots[u].control.take() {
                    self.pids.remove(&pid);
                    self.signal(u, pid, SIGKILL, false);
                }
                self.slots[u].spawning = None;
                self.back_from_reload(u, Some(ReloadFailure::Timeout));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vigil_units::{ExecCommand, Format, RestartPolicy, Service, Unit, UnitKind};

    use super::{Deadlines, Machine, Slot, all_from};
    use crate::{Event, ExitStatus, Role};

    /// Review finding: entries that never came first (a watchdog pinged every
    /// 10 ms, each ping later than the last, behind another unit's sooner
    /// deadline) and copies of a live deadline (EXTEND_TIMEOUT_USEC= that
    /// moves nothing) piled up for as long as the sooner one lived. Swept,
    /// the heap holds what is live and twice that at most.
    #[test]
    fn deadlines_that_never_come_first_are_swept() {
        let d = Deadlines::default();
        let soon = Duration::from_secs(30);
        d.note(0, Some(soon));
        let mut watchdog = Duration::from_secs(3600);
        for _ in 0..100_000 {
            watchdog += Duration::from_millis(10);
            d.note(1, Some(watchdog));
            d.note(0, Some(soon));
            let live = |at, u| (u, at) == (0, soon) || (u, at) == (1, watchdog);
            assert_eq!(d.first(live), Some(soon));
        }
        let len = d.heap.borrow().len();
        assert!(len <= 64, "{len} entries for 2 live deadlines");
    }

    /// A running service holds none of the rare fields; its failure makes
    /// them (what the restart followed), and the next start clears them
    /// without dropping what must stay. A slot stays small: a manager holds
    /// one per unit for its whole life (656 bytes before the rare fields
    /// moved out).
    #[test]
    fn a_healthy_unit_holds_no_rare_fields() {
        assert!(size_of::<Slot>() <= 416, "{} bytes", size_of::<Slot>());
        let mut unit = Unit::new("a.service", UnitKind::Service, Format::UnitFile);
        let program = "/bin/a".to_string();
        let exec = ExecCommand {
            argv: vec![program.clone()],
            program,
            ..ExecCommand::default()
        };
        unit.service = Some(Service {
            exec_start: vec![exec],
            restart: RestartPolicy::Always,
            ..Service::default()
        });
        let mut m = Machine::default();
        let now = Duration::from_secs(1);
        m.load(now, vec![unit], Vec::new());
        let event = |pid| Event::Spawned {
            unit: "a.service".into(),
            role: Role::Main(0),
            pid,
        };
        m.handle(now, Event::Start("a.service".into())).unwrap();
        m.handle(now, event(10)).unwrap();
        assert_eq!(m.slots[0].rare, None, "running");
        let exited = Event::Exited {
            pid: 10,
            status: ExitStatus::Exited(3),
        };
        m.handle(now, exited).unwrap();
        let cause = m.slots[0].rare().restart_cause.clone();
        assert_eq!(cause.map(|c| c.to_string()), Some("exit code 3".into()));
        let later = now + Duration::from_secs(5);
        m.handle(later, Event::Tick).unwrap();
        m.handle(later, event(11)).unwrap();
        assert_eq!(m.slots[0].main_pid, Some(11), "restarted");
        assert_eq!(m.slots[0].rare().result, None);
        assert!(m.slots[0].rare().restart_cause.is_some(), "kept for status");
    }

    #[test]
    fn all_from_looks_at_every_unit_from_the_last_blocker_round() {
        let done = [true, false, true, false, true];
        let ok = |v: usize| done[v];
        let list = [0, 1, 2, 3, 4];
        let mut from = 0;
        assert!(!all_from(&list, &mut from, ok));
        assert_eq!(from, 1);
        // From 2 on, the first not done is 3; and round past the end to 1.
        from = 2;
        assert!(!all_from(&list, &mut from, ok));
        assert_eq!(from, 3);
        from = 4;
        assert!(!all_from(&list, &mut from, ok));
        assert_eq!(from, 1);
        // A place past the end of a list that shrank starts at 0.
        from = 9;
        assert!(!all_from(&[2, 3], &mut from, ok));
        assert_eq!(from, 1);
        assert!(all_from(&[0, 2, 4], &mut from, ok));
        assert!(all_from(&[], &mut from, ok));
    }
}
