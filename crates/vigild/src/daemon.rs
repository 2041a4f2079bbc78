//! The daemon: its descriptors, the epoll loop, loading units, and feeding the
//! engine. Carrying out engine actions is in `procs`, the control socket in
//! `control`, log handling in `logs`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use vigil_engine::{Action, Engine, EngineError, Event, ExitStatus, Level, Reason, State, Time};
use vigil_platform::{
    Epoll, Events, InitChannel, Interest, NotifySocket, SignalFd, TimerFd, UnixListener,
};
use vigil_units::SpecifierContext;
use vigil_units::load::LoadedSet;

use crate::control::Clients;
use crate::handover::{Handover, Inherited};
use crate::logs::{Logs, Select};
use crate::options::{Options, absolute};
use crate::procs::Procs;

/// Epoll tokens: the top byte says what kind of source, the rest which one.
pub(crate) mod token {
    pub const SIGNAL: u64 = 1;
    pub const TIMER: u64 = 2;
    pub const LISTENER: u64 = 3;
    pub const NOTIFY: u64 = 4;
    pub const INIT: u64 = 7;
    pub const CLIENT: u64 = 5 << 56;
    pub const LOG_PIPE: u64 = 6 << 56;
    pub const SINK: u64 = 8 << 56;
    pub const PIDFD: u64 = 9 << 56;
    /// A socket unit's listening sockets (one id per unit).
    pub const SOCKET: u64 = 10 << 56;
    pub const KIND: u64 = 0xff << 56;
}

/// Which list of units a state change starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Failure,
    Success,
}

/// What the loop is doing as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Running,
    /// `vigil shutdown` or SIGTERM: stopping everything, then exit.
    ShuttingDown,
    Done,
}

/// What a read of the configuration changed, for `vigil sync` and SIGHUP.
#[derive(Debug)]
pub struct Rescan {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    /// Every load error of the configuration as it is now (`FILE:LINE: error: ...`),
    /// each generator that failed, and `warning: ...` for a unit directory
    /// that is not there.
    pub errors: Vec<String>,
}

pub(crate) struct Daemon {
    pub opts: Options,
    pub engine: Engine,
    pub epoll: Epoll,
    pub sigfd: SignalFd,
    pub timer: TimerFd,
    pub notify: NotifySocket,
    pub notify_path: PathBuf,
    pub socket_path: PathBuf,
    /// The files of the two sockets as they were once bound (device, inode):
    /// at exit only these are removed, not a successor's at the same paths.
    socket_files: [Option<(u64, u64)>; 2],
    pub spec_ctx: SpecifierContext,
    /// Template instances created on demand (`vigil start foo@x`): made again at
    /// every re-read, so a `sync` does not take them for deleted units.
    pub instances: BTreeSet<String>,
    /// Alias -> unit, from the last read (symlinks and Alias=), for control requests.
    pub aliases: BTreeMap<String, String>,
    /// Masked names -> what masks them, from the last read: such a unit is
    /// not loaded, and a request to start it says so.
    pub masked: BTreeMap<String, PathBuf>,
    /// The file of each unit that failed to load, for `vigil status`.
    pub broken_paths: BTreeMap<String, PathBuf>,
    /// What each unit was read from at the last read
    /// ([`vigil_units::load::LoadedSet::files_read`]): a sync lists a unit
    /// as changed when its own files changed, and `show` and `status` say
    /// it needs one when they changed since ([`Daemon::need_daemon_reload`]).
    files_read: HashMap<String, vigil_units::load::FilesRead>,
    /// When each unit last became active and inactive, and its last main
    /// PID, for `vigil show`.
    pub history: HashMap<String, crate::properties::History>,
    pub procs: Procs,
    /// Warnings others can cause at will (about notifications, connections
    /// refused) said for each kind and unit (or for none): when the last was,
    /// and how many were not said since.
    limited_warnings: HashMap<(&'static str, Option<String>), (Time, u64)>,
    /// The listening sockets of socket units.
    pub sockets: crate::sockets::Sockets,
    pub clients: Clients,
    pub logs: Logs,
    pub phase: Phase,
    /// The wall clock minus the monotonic clock at start-up, to show
    /// monotonic times as dates.
    pub wall_offset: Duration,
    /// Variables every service gets (systemd's DefaultEnvironment=): a user manager
    /// passes its PATH, as `systemd --user` does, then `--default-environment`.
    pub default_env: Vec<(String, String)>,
    /// The deadline the timerfd is armed for.
    pub armed: Option<Time>,
    /// Loading units or spawning left freed heap behind: give it back to the
    /// kernel the next time the loop finds nothing to do.
    pub trim_pending: bool,
    /// The channel to vigil-init when it started this manager (docs/INIT.md).
    pub init: Option<InitChannel>,
    /// What vigild exits with: 0, or with `--main` the main unit's code.
    pub exit_code: u8,
    /// The exit code was decided (the main unit ended, `SuccessAction=exit`):
    /// failures while stopping do not change it.
    pub exit_fixed: bool,
    /// `vigil shutdown` told vigil-init `exit 0`: a worse end must be told too.
    pub told_exit: bool,
    /// In a container, the emergency shell was had once.
    pub emergency_spent: bool,
    /// Units that failed during the shutdown (a stop timeout, a main process
    /// that exited badly on SIGTERM, the global deadline).
    pub failed_in_stop: Vec<String>,
    /// When the shutdown began, and when to report progress (or enforce the
    /// global deadline) next.
    pub shutdown_started: Option<Time>,
    pub shutdown_check: Option<Time>,
    /// The unit directories given by `--unit-path`: one that is not there is
    /// said at each read (the default ones need not all exist).
    named_unit_dirs: Vec<PathBuf>,
    /// The systemd generators run before each read of the configuration
    /// (`load`); None when they do not run for this manager.
    generators: Option<crate::generators::Setup>,
    /// The unit search path as read: `opts.config_dirs`, with the
    /// generators' outputs once they ran. (`vigil enable` writes into the
    /// first of `opts.config_dirs`, never into an output.)
    load_path: Vec<PathBuf>,
    /// The deadline's last call went out (`ShutdownLastCall`).
    pub shutdown_last_call: bool,
    /// When this manager started (monotonic), and whether the target it was
    /// asked for has been reached since (said once, for boot timing).
    pub started_at: Time,
    pub target_reached: bool,
    /// The boot is done: no job was pending at the end of a turn of the
    /// loop since it began (systemd's "startup finished": `is-system-running`
    /// is no longer `initializing` or `starting`).
    pub boot_finished: bool,
    /// vigil-init runs the emergency shell (`is-system-running`:
    /// `maintenance`).
    pub emergency_shell: bool,
    /// The hand-over to the next manager (after a crash, or `vigil reexec`).
    pub handover: Handover,
    /// What the previous manager left, until `boot` takes it over.
    pub inherited: Option<Inherited>,
}

/// Runs the manager until it has stopped everything; returns its exit code
/// (0, or with `--main` the main unit's).
pub fn run(opts: Options) -> anyhow::Result<u8> {
    // ConditionFirstBoot= answers as at the manager's start, before any unit
    // can create /etc/machine-id (systemd's rule).
    vigil_units::condition::note_boot_facts();
    let mut daemon = Daemon::new(opts)?;
    daemon.boot();
    daemon.run_loop();
    daemon.cleanup();
    Ok(daemon.exit_code)
}

/// Signals the loop handles through the signalfd (blocked for normal delivery).
/// How often a shutdown says which units it still waits for.
const SHUTDOWN_PROGRESS: Duration = Duration::from_secs(5);
/// The first 8 of `names`, and how many more: what a console line of a
/// shutdown's progress can hold.
fn some_of(names: &[String]) -> String {
    let first = names.iter().take(8).map(String::as_str).collect::<Vec<_>>();
    match names.len().saturating_sub(first.len()) {
        0 => first.join(", "),
        more => format!("{} and {more} more", first.join(", ")),
    }
}

/// How long before the shutdown's deadline the units still waiting for
/// their turn are stopped whatever the order.
const LAST_CALL: Duration = Duration::from_secs(5);

/// The units gone (removed, or instances made on demand that ended) whose
/// lines are kept for `vigil log`: those that wrote last. 8 MiB at the
/// default ring size; kept all, a `job@UUID` a minute grew the manager for
/// ever.
const GONE_RINGS_KEPT: usize = 128;
/// Signals read from the signalfd in one turn of the loop.
const SIGNALS_A_TURN: usize = 64;
/// How long a SIGTERM from vigil-init waits for its `stop ACTION`, when it
/// came first (the channel was full).
const STOP_WORDS_WAIT: Duration = Duration::from_millis(200);
/// The file beside the control socket that says vigil-init's emergency
/// shell is on the console (`mark_emergency_shell`).
const EMERGENCY_MARK: &str = "emergency-shell";
/// How long, at exit, the log sinks get to take what they queued (at
/// `vigil reexec` the queues cross the exec instead).
const EXIT_FLUSH_LIMIT: Duration = Duration::from_secs(5);

const HANDLED_SIGNALS: &[i32] = &[
    libc_sig::SIGCHLD,
    libc_sig::SIGTERM,
    libc_sig::SIGINT,
    libc_sig::SIGQUIT,
    libc_sig::SIGHUP,
    libc_sig::SIGUSR1,
    libc_sig::SIGUSR2,
    libc_sig::SIGWINCH,
];

/// Blocks the signals the loop handles, first thing at start: vigil-init
/// forwards SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH and SIGQUIT to the manager it
/// started, and until the signalfd exists their default action would end it
/// (a crash counted, the signal lost). Held pending, the loop reads them.
pub fn hold_signals() {
    if let Err(e) = vigil_platform::block_signals(HANDLED_SIGNALS) {
        note!("vigild: cannot block its signals: {e}");
    }
}

/// Signal numbers (Linux, every architecture vigil builds for).
pub(crate) mod libc_sig {
    pub const SIGHUP: i32 = 1;
    pub const SIGINT: i32 = 2;
    pub const SIGQUIT: i32 = 3;
    pub const SIGKILL: i32 = 9;
    pub const SIGUSR1: i32 = 10;
    pub const SIGUSR2: i32 = 12;
    pub const SIGPIPE: i32 = 13;
    pub const SIGTERM: i32 = 15;
    pub const SIGCHLD: i32 = 17;
    pub const SIGCONT: i32 = 18;
    pub const SIGWINCH: i32 = 28;
}

impl Daemon {
    fn new(opts: Options) -> anyhow::Result<Daemon> {
        // Before any other descriptor: the spawn staging slots get the lowest
        // numbers, so each child keeps the fewest of the manager's descriptors.
        vigil_platform::reserve_spawn_slots().context("reserving the spawn descriptors")?;
        let uid = vigil_platform::getuid();
        let mut opts = opts;
        let dirs_named = !opts.config_dirs.is_empty();
        let env_path = std::env::var("VIGIL_UNIT_PATH")
            .ok()
            .filter(|v| !v.is_empty());
        let default_unit_path = !dirs_named && env_path.is_none();
        if opts.config_dirs.is_empty() {
            opts.config_dirs = unit_path(uid, env_path.as_deref());
        }
        // Paths of the command line and of the environment (VIGIL_UNIT_PATH,
        // VIGIL_SOCKET, XDG_RUNTIME_DIR) alike: services do not run here.
        // Without a working directory (removed under vigild) a relative path
        // names nothing anyway: left as it is, it fails where it is used.
        let cwd = std::env::current_dir().unwrap_or_default();
        opts.make_paths_absolute(&cwd);
        // A path the user named (--socket, VIGIL_SOCKET) is theirs to choose.
        let named = vigil_proto::named_socket_path(opts.socket.clone());
        let chosen_here = named.is_none();
        let socket_path = absolute(vigil_proto::resolve_socket_path(named, uid), &cwd);
        let runtime = socket_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        create_runtime_dir(&runtime, chosen_here, uid)?;
        // Their outputs beside the sockets: /run/vigil for root, as systemd's
        // are in /run/systemd.
        let generators = crate::generators::Setup::decide(
            &opts.generator_dirs,
            opts.generator_timeout,
            uid,
            default_unit_path,
            &runtime,
        );

        // A write to a client that hung up must be an EPIPE error, not a death.
        vigil_platform::ignore_signal(libc_sig::SIGPIPE).context("ignoring SIGPIPE")?;
        // Services that daemonize (Type=forking) are re-parented to us, so we can
        // reap them and learn their exit status.
        if let Err(e) = vigil_platform::set_child_subreaper() {
            note!(
                "vigild: cannot become a child subreaper ({e}); forking services will not be reaped by vigild"
            );
        }
        if let Err(e) = vigil_platform::raise_nofile_limit() {
            note!("vigild: cannot raise the open-file limit: {e}");
        }

        let epoll = Epoll::new().context("creating the epoll instance")?;
        let sigfd = SignalFd::new(HANDLED_SIGNALS).context("creating the signalfd")?;
        let timer = TimerFd::new().context("creating the timerfd")?;
        let init = init_channel();
        let mut inherited = crate::handover::inherit(init.as_ref());
        let notify_path = runtime.join(notify_name(&socket_path));
        if notify_path == socket_path {
            anyhow::bail!(
                "the control socket {} would be its own notify socket (`NAME.notify` is the \
                 notify socket of `NAME.sock`): choose a --socket name not ending in .notify",
                socket_path.display()
            );
        }
        // The sockets of a predecessor: left open across exec, or kept by init.
        let (old_listener, old_notify) = match inherited.state.as_mut() {
            Some(s) => s.exec_sockets(),
            None => (None, None),
        };
        let old_listener = old_listener.or_else(|| inherited.take("control"));
        let old_notify = old_notify.or_else(|| inherited.take("notify"));
        let old_listener = old_listener.and_then(|fd| {
            UnixListener::from_fd(fd, &socket_path)
                .inspect_err(|e| note!("vigild: the previous control socket is unusable: {e}"))
                .ok()
        });
        let old_notify = old_notify.and_then(|fd| {
            NotifySocket::from_fd(fd, &notify_path)
                .inspect_err(|e| note!("vigild: the previous notify socket is unusable: {e}"))
                .ok()
        });
        let listener_new = old_listener.is_none();
        let listener = match old_listener {
            Some(listener) => listener,
            None => bind_control_socket(&socket_path)?,
        };
        let notify_new = old_notify.is_none();
        let notify = match old_notify {
            Some(notify) => notify,
            None => bind_notify_socket(&notify_path)?,
        };

        epoll.add(sigfd.as_fd(), token::SIGNAL, Interest::READABLE)?;
        epoll.add(timer.as_fd(), token::TIMER, Interest::READABLE)?;
        epoll.add(listener.as_fd(), token::LISTENER, Interest::READABLE)?;
        epoll.add(notify.as_fd(), token::NOTIFY, Interest::READABLE)?;
        if let Some(chan) = &init {
            epoll.add(chan.as_fd(), token::INIT, Interest::READABLE)?;
        }

        let now_wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let wall_offset = now_wall.saturating_sub(vigil_platform::monotonic_now());
        let mut logs = Logs::new(&opts)?;
        // Before anything is logged or read: the sinks write on what the
        // previous image had queued, in order.
        if let Some(state) = inherited.state.as_mut() {
            let (sinks, bytes) = state.exec_sinks();
            logs.restore_sinks(sinks, bytes);
        }
        if init.is_some() {
            logs.keep_pipes_in_store();
        }
        let mut daemon = Daemon {
            engine: Engine::new(),
            epoll,
            sigfd,
            timer,
            notify,
            socket_files: [file_id(&socket_path), file_id(&notify_path)],
            notify_path,
            socket_path,
            spec_ctx: SpecifierContext::from_environment(),
            instances: BTreeSet::new(),
            aliases: BTreeMap::new(),
            masked: BTreeMap::new(),
            broken_paths: BTreeMap::new(),
            files_read: HashMap::new(),
            history: HashMap::new(),
            procs: Procs::new(),
            limited_warnings: HashMap::new(),
            sockets: crate::sockets::Sockets::default(),
            clients: Clients::new(listener),
            logs,
            phase: Phase::Running,
            wall_offset,
            default_env: (uid != 0)
                .then(|| std::env::var("PATH").ok())
                .flatten()
                .map(|p| ("PATH".to_string(), p))
                .into_iter()
                .chain(opts.default_env.iter().cloned())
                .collect(),
            armed: None,
            trim_pending: false,
            init,
            exit_code: 0,
            exit_fixed: false,
            told_exit: false,
            failed_in_stop: Vec::new(),
            emergency_spent: false,
            shutdown_started: None,
            shutdown_check: None,
            named_unit_dirs: if dirs_named {
                opts.config_dirs.clone()
            } else {
                Vec::new()
            },
            generators,
            load_path: opts.config_dirs.clone(),
            shutdown_last_call: false,
            started_at: vigil_platform::monotonic_now(),
            target_reached: false,
            boot_finished: false,
            emergency_shell: false,
            handover: Handover::new(),
            inherited: None,
            opts,
        };
        daemon.open_spawn_pids(&mut inherited);
        daemon.store_sockets(listener_new, notify_new);
        inherited.store.remove("control");
        inherited.store.remove("notify");
        daemon.inherited = Some(inherited);
        Ok(daemon)
    }

    pub fn now(&self) -> Time {
        vigil_platform::monotonic_now()
    }

    /// Microseconds since the epoch for a monotonic time.
    pub fn wall_us(&self, t: Time) -> u64 {
        (self.wall_offset + t).as_micros() as u64
    }

    /// vigild's own messages: to stderr, and into the unit's log when about a unit.
    pub fn say(&mut self, level: Level, unit: Option<&str>, message: &str) {
        if level == Level::Debug && !self.opts.debug {
            return;
        }
        let tag = match level {
            Level::Error => "error: ",
            Level::Warning => "warning: ",
            Level::Info | Level::Debug => "",
        };
        let text = match unit {
            Some(u) => format!("{tag}{u}: {message}"),
            None => format!("{tag}{message}"),
        };
        self.logs.manager_stderr(text);
        if let Some(u) = unit {
            self.logs.manager_line(u, message);
            self.clients.deliver_log(&self.logs, &self.epoll);
        }
    }

    fn boot(&mut self) {
        self.say(
            Level::Info,
            None,
            &format!(
                "starting (pid {}), units from {}, control socket {}",
                vigil_platform::getpid(),
                self.opts
                    .config_dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                self.socket_path.display()
            ),
        );
        let mut inherited = self.inherited.take().unwrap_or_default();
        if let Some(state) = inherited.state.take() {
            self.resume(state, inherited);
            return;
        }
        // A mark left by a manager that took no emergency shell over (one
        // stopped by hand while it ran) would keep the shell units skipped.
        self.mark_emergency_shell(false);
        self.load();
        // A predecessor's records of its unit set, of no use without its state.
        self.note_loaded_entries(&inherited);
        // Statuses of a predecessor's processes, of no use without its state:
        // acknowledged all the same, so that vigil-init forgets them.
        self.handover.note_applied(inherited.exited.len());
        if inherited.unreadable {
            // Services of the previous manager may be running: starting the
            // target could start them a second time.
            self.say(
                Level::Error,
                None,
                "the previous manager's state is lost: no unit is started",
            );
            // Said for each: `vigil start` of such a unit starts it a second
            // time, and `vigil stop` reaches nothing.
            for (unit, pids) in &inherited.stranded {
                let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
                self.say(
                    Level::Error,
                    Some(unit),
                    &format!(
                        "still running with no manager in control: PID {}; stop it by its \
                         PID (kill) before `vigil start`, which would start it a second time",
                        pids.join(" ")
                    ),
                );
            }
            self.replace_unreadable_state(inherited.unreadable_generation);
            return;
        }
        if self.opts.emergency {
            self.enter_emergency("emergency mode asked for (--emergency, vigil.emergency)");
            self.process_actions();
            return;
        }
        self.start_boot_target();
        let now = self.now();
        if let Some(main) = self.opts.main.clone() {
            self.ensure_loaded(&main);
            let main = self.unit_name(&main);
            if let Err(e) = self.engine.handle(now, Event::Start(main.clone())) {
                self.say(
                    Level::Error,
                    None,
                    &format!("cannot start the main unit {main}: {e}"),
                );
                self.end_with(1);
            }
        }
        self.process_actions();
    }

    /// With `--main`: the main unit reached a state it does not leave on its
    /// own. Its exit code becomes the manager's (and, through vigil-init, the
    /// container's): the main process's code, 128+N when signal N killed it,
    /// else 0 when it ended well and 1 when it failed.
    fn on_main_state(&mut self, unit: &str, state: State) {
        if self.main_unit().as_deref() != Some(unit) || self.phase != Phase::Running {
            return;
        }
        let ended = |s: State| matches!(s, State::Inactive | State::Failed | State::Exited);
        // A restart (`vigil restart`, or one of what it Requires=) passes
        // through inactive on its way back up: the engine's state now, after
        // the whole batch, tells the end from that.
        if !ended(state) || !self.engine.unit(unit).is_some_and(|i| ended(i.state)) {
            return;
        }
        let code = self.main_code(unit, state);
        self.say(
            Level::Info,
            Some(unit),
            &format!("main unit ended ({state}): stopping every unit, exit code {code}"),
        );
        self.end_with(code);
    }

    /// The main unit's code once it ended in `state`, as a shell or tini would
    /// give it: the failing process's code, 128+N when signal N killed it, 127
    /// when its program was not found and 126 when it could not be executed;
    /// 0 for a clean end, 1 for a failure with no code of its own.
    fn main_code(&self, unit: &str, state: State) -> u8 {
        let info = self.engine.unit(unit);
        let failure = info.as_ref().and_then(|i| i.reason.clone());
        // The last exit, as a shell gives it: the code, or 128+signal.
        let last = info.as_ref().and_then(|i| i.last_exit).map(|e| match e {
            ExitStatus::Exited(code) => code & 0xff,
            ExitStatus::Signaled(sig) => 128 + (sig & 0x7f),
        });
        // The restarts ran out: the code is the last run's failure, as if
        // that run had been the last (docker's restart policy shows it too);
        // `start limit hit` itself has no process and no code.
        let failure = match failure {
            Some(Reason::StartLimitHit) => info
                .as_ref()
                .and_then(|i| i.restart_cause.clone())
                .or(failure),
            other => other,
        };
        let code = match (state, failure) {
            (State::Failed, Some(Reason::ExitCode(code))) => code & 0xff,
            (State::Failed, Some(Reason::Signal(sig))) => 128 + (sig & 0x7f),
            (State::Failed, Some(Reason::ExecFailed { stage, errno, .. })) if stage == "exec" => {
                match errno {
                    2 => 127,      // ENOENT
                    8 | 13 => 126, // ENOEXEC, EACCES
                    _ => 1,
                }
            }
            // A start limit hit with no automatic restart before it (manual
            // starts): the last exit, if the unit ever ran.
            (State::Failed, Some(Reason::StartLimitHit)) => last.unwrap_or(1),
            // A failure with no process of this run (a dependency, a
            // condition): no code, not one of an earlier run.
            (
                State::Failed,
                None
                | Some(
                    Reason::DependencyFailed(_)
                    | Reason::ConditionFailed(_)
                    | Reason::LoadError(_)
                    | Reason::ExecFailed { .. },
                ),
            ) => 1,
            // Its start failed for a dependency or an assertion: the unit
            // never ran, but the container did not do its job.
            (State::Inactive, Some(r)) if r.failed_the_job_only() => 1,
            // A clean end, or a main process killed at a timeout or by the
            // watchdog: the last exit is this run's (137 after SIGKILL).
            _ => last.unwrap_or(0),
        };
        match (code, state) {
            (0, State::Failed) => 1,
            (code, _) => code as u8,
        }
    }

    /// At the end of a shutdown the main unit did not decide (SIGTERM, `vigil
    /// shutdown`): 0 only when every unit stopped well, else the main unit's
    /// code when it failed, or 1, as a container runtime should record it.
    fn settle_exit_code(&mut self) {
        if self.exit_fixed || self.failed_in_stop.is_empty() {
            return;
        }
        let main = self.main_unit().filter(|m| self.failed_in_stop.contains(m));
        let code = main.map_or(1, |m| self.main_code(&m, State::Failed));
        self.exit_code = code;
        let failed = self.failed_in_stop.join(", ");
        self.say(
            Level::Warning,
            None,
            &format!("failed while stopping: {failed}; the manager exits with {code}"),
        );
        if self.told_exit {
            self.tell_init(&format!("exit {code}"));
        }
    }

    /// The first time the boot target becomes active: how long it took, as
    /// the kernel's uptime (what a boot benchmark compares) and from this
    /// manager's start.
    /// In a container the kernel's uptime is the host's: left out.
    fn startup_finished(&mut self) {
        self.target_reached = true;
        // Saved (under vigil-init): a manager killed after the spawns' save,
        // before any other, left it unsaid, and the next one said "startup
        // finished" again, and would have taken a later failure of the boot
        // target for a boot that failed (the emergency shell).
        self.handover.dirty = true;
        let uptime = if self.opts.container {
            String::new()
        } else {
            format!(
                "uptime {:.3} s, ",
                vigil_platform::boottime_now().as_secs_f64()
            )
        };
        let own = self.now().saturating_sub(self.started_at).as_secs_f64();
        let target = self.opts.target.clone();
        self.say(
            Level::Info,
            None,
            &format!(
                "startup finished: {target} reached ({uptime}{own:.3} s after the manager started)"
            ),
        );
    }

    /// The boot target failed, or emergency mode was asked for: vigil-init
    /// runs the emergency shell on the console while this manager keeps
    /// running (so `vigil` works in it); see `on_emergency_over`.
    fn enter_emergency(&mut self, why: &str) {
        if self.phase != Phase::Running {
            return;
        }
        if self.opts.container && self.emergency_spent {
            // A container's shell has no console: one that ends at once (stdin
            // at /dev/null, no /bin/sh) would have the target retried every
            // second for ever. One shell, one retry.
            let what = "a container gets one emergency shell; what runs keeps running";
            self.say(Level::Error, None, &format!("{why}: {what}"));
            return;
        }
        if self.opts.container
            && !self.opts.emergency
            && !vigil_platform::stdin_is_terminal_or_null()
        {
            // `docker run -i` with data on stdin: the shell would run it, as root.
            let what = "no emergency shell: the container's stdin is neither a terminal nor \
                        /dev/null, and its data is not commands for a root shell; what runs \
                        keeps running";
            self.say(Level::Error, None, &format!("{why}: {what}"));
            return;
        }
        // Marked before vigil-init is asked: the shell units of rescue and
        // emergency mode are skipped while it is there, so that the console
        // has one shell, not two.
        self.mark_emergency_shell(true);
        let shell = self.tell_init("emergency");
        self.emergency_shell = shell;
        if !shell {
            self.mark_emergency_shell(false);
        }
        let what = if shell {
            "emergency shell on the console; the boot target is tried again when it exits"
        } else {
            "no vigil-init to run an emergency shell"
        };
        self.say(Level::Error, None, &format!("{why}: {what}"));
    }

    /// `emergency-shell` beside the control socket (`/run/vigil/` for root)
    /// while vigil-init's emergency shell runs: the shipped `rescue.service`
    /// and `emergency.service` have `ConditionPathExists=!` on it. A file
    /// that cannot be made or removed is said; the shell runs all the same.
    fn mark_emergency_shell(&mut self, on: bool) {
        let Some(path) = self.socket_path.parent().map(|d| d.join(EMERGENCY_MARK)) else {
            return;
        };
        let done = match on {
            true => fs::write(&path, b""),
            false => match fs::remove_file(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            },
        };
        if let Err(e) = done {
            let what = match on {
                true => "cannot make",
                false => "cannot remove",
            };
            let why = format!(
                "{what} {} ({e}): the shell units of rescue and emergency mode see it wrong",
                path.display()
            );
            self.say(Level::Warning, None, &why);
        }
    }

    /// Why `unit` failed, followed down its `dependency failed: X` reasons
    /// to the unit that failed itself, with the last line that unit wrote
    /// (a mount's error, say): `; vigil-fstab.service failed (exit code 1):
    /// /etc/fstab:4: cannot mount ...`. Empty when there is nothing to add.
    fn root_failure(&self, unit: &str) -> String {
        let mut name = unit.to_string();
        for _ in 0..64 {
            let Some(info) = self.engine.unit(&name) else {
                break;
            };
            match info.reason {
                Some(Reason::DependencyFailed(dep)) => name = dep,
                Some(reason) if name != unit => {
                    let last = (self.logs.tail(&Select::Unit(name.clone()), 50).into_iter())
                        .rev()
                        .find(|l| l.stream != "vigil")
                        .map(|l| format!(": {}", l.line))
                        .unwrap_or_default();
                    return format!("; {name} {} ({reason}){last}", info.state);
                }
                _ => break,
            }
        }
        String::new()
    }

    /// The emergency shell exited: boot on, as systemd's emergency.service
    /// does with `systemctl default`.
    pub(crate) fn on_emergency_over(&mut self) {
        if self.phase != Phase::Running {
            return;
        }
        self.emergency_spent = true;
        self.emergency_shell = false;
        self.mark_emergency_shell(false);
        let target = self.opts.target.clone();
        self.say(
            Level::Info,
            None,
            &format!("emergency shell ended: starting {target}"),
        );
        // What was asked for on its own and failed only for what the shell
        // was to fix (the gettys vigil-getty starts, each its own job: a
        // serial console got no login prompt back) is asked for again, as
        // the boot target is: systemd's generator puts them in the boot's.
        let retry: Vec<String> = (self.engine.units().into_iter())
            .filter(|u| u.state == State::Inactive)
            .filter(|u| matches!(u.reason, Some(Reason::DependencyFailed(_))))
            .map(|u| u.name)
            .collect();
        self.start_boot_target();
        let now = self.now();
        for name in retry {
            let _ = self.engine.handle(now, Event::Start(name));
        }
    }

    /// The boot target's own name: `default.target` is usually an alias (a
    /// symlink to multi-user.target or graphical.target), and the engine
    /// knows a unit by its own name only.
    fn boot_target(&self) -> String {
        self.unit_name(&self.opts.target)
    }

    /// The main unit's own name (`--main` may name an alias).
    fn main_unit(&self) -> Option<String> {
        self.opts.main.as_deref().map(|m| self.unit_name(m))
    }

    /// The main unit's main process, when there is one now.
    fn main_process(&self) -> Option<u32> {
        self.engine.unit(&self.main_unit()?)?.main_pid
    }

    /// Starts the boot target; one that cannot even be started (no such unit)
    /// cannot be reached either: the emergency shell then, as for a failure.
    fn start_boot_target(&mut self) {
        let target = self.boot_target();
        let now = self.now();
        match self.engine.handle(now, Event::Start(target.clone())) {
            Ok(()) => {}
            // A container's `--main` is what it runs: a boot target it does
            // not have is nothing to rescue.
            Err(EngineError::NoSuchUnit(_)) if self.opts.main.is_some() => {
                let why = format!("no {target}: only the main unit is started");
                self.say(Level::Info, None, &why);
            }
            Err(e) => self.enter_emergency(&format!("cannot start {target}: {e}")),
        }
    }

    /// Stops everything, then exits with `code`; vigil-init is told first, so
    /// the container exits with it even if this manager dies on the way.
    fn end_with(&mut self, code: u8) {
        (self.exit_code, self.exit_fixed) = (code, true);
        self.tell_init(&format!("exit {code}"));
        self.begin_shutdown(self.default_action());
    }

    /// Sends one message to vigil-init; false when there is none, or it
    /// cannot take the message.
    pub(crate) fn tell_init(&self, message: &str) -> bool {
        // Waiting (bounded) for room as the fd store's messages do: right after a
        // burst of them init's queue may be full, and a lost `shutdown` or `exit`
        // would make init restart this manager instead of ending.
        self.init
            .as_ref()
            .is_some_and(|chan| crate::handover::send_to_init(chan, message, &[]))
    }

    /// With `--main`: the signals a container runtime sends to mean something
    /// to the application go to the main unit's main process, as tini does.
    fn forward_to_main(&mut self, signo: i32) -> bool {
        let Some(main) = self.main_unit() else {
            return false;
        };
        match self.main_process() {
            Some(pid) => {
                if let Err(e) = vigil_platform::kill(pid, signo) {
                    self.say(
                        Level::Warning,
                        Some(&main),
                        &format!("cannot forward signal {signo}: {e}"),
                    );
                }
            }
            None => self.say(
                Level::Info,
                Some(&main),
                &format!("signal {signo} not forwarded: no main process"),
            ),
        }
        true
    }

    /// A unit enabled into a target of the shutdown that is not installed
    /// (a configuration without vigil's shipped units) would silently never
    /// run. Said at every load.
    fn warn_of_units_at_shutdown(&mut self, set: &LoadedSet) {
        const AT_SHUTDOWN: [&str; 8] = [
            "shutdown.target",
            "final.target",
            "umount.target",
            "halt.target",
            "poweroff.target",
            "reboot.target",
            "kexec.target",
            "exit.target",
        ];
        for target in AT_SHUTDOWN.into_iter().filter(|t| set.get(t).is_none()) {
            let wanted = set.wants_dirs.get(target).into_iter().flatten();
            let required = set.requires_dirs.get(target).into_iter().flatten();
            for (unit, link) in wanted.chain(required) {
                let msg = format!(
                    "{}: pulled in by {target}, which is not installed (vigil ships it): it does not run at shutdown",
                    link.display()
                );
                self.say(Level::Warning, Some(unit), &msg);
            }
        }
    }

    /// Reads the configuration directories afresh, with the instances made on
    /// demand so far.
    pub fn read_config(&mut self) -> LoadedSet {
        // Review finding: a --unit-path that was not there (mistyped, or
        // moved away under a running manager) was never named: the boot
        // target was merely missing, or a reload removed every unit.
        // (One that is something else is said by the load.)
        for line in self.missing_unit_dirs() {
            self.say(Level::Warning, None, &line);
        }
        let mut set = vigil_units::load::load_dirs(&self.load_path, &self.spec_ctx);
        self.instances = self.instances_to_make();
        let instances: Vec<String> = self.instances.iter().cloned().collect();
        let results = set.instantiate_all(&instances, &self.spec_ctx);
        for (name, result) in instances.into_iter().zip(results) {
            if let Err(diags) = result {
                // Its template is gone or broken: say so once and forget it.
                for d in diags {
                    self.say(Level::Error, Some(&name), &d.to_string());
                }
                self.instances.remove(&name);
            }
        }
        self.aliases = set.aliases.clone();
        self.masked = set.masked.clone();
        set
    }

    /// A line for each `--unit-path` directory that is not there.
    fn missing_unit_dirs(&self) -> Vec<String> {
        (self.named_unit_dirs.iter())
            .filter(|dir| fs::symlink_metadata(dir).is_err())
            .map(|dir| {
                format!(
                    "unit directory {}: not there: no unit is read from it",
                    dir.display()
                )
            })
            .collect()
    }

    /// The template instances a read of the directories makes again: those
    /// made on demand and not forgotten, and every one that is not down,
    /// however it was made: started again through a pattern (`vigil start
    /// 'worker@*'`), or pulled in by another (its `Wants=helper@%i.service`).
    /// Saved for the next manager too, which reads the directories before it
    /// restores the units.
    pub fn instances_to_make(&self) -> BTreeSet<String> {
        let up = self.engine.states();
        let up = up.filter(|&(name, state)| name.contains('@') && state != State::Inactive);
        let up = up.map(|(name, _)| name.to_string());
        self.instances.iter().cloned().chain(up).collect()
    }

    /// The unit search path as last read: the configuration directories,
    /// and the generators' outputs when they ran.
    pub fn load_path(&self) -> &[PathBuf] {
        &self.load_path
    }

    /// The unit a name given by a client means: `.service` added when there is
    /// no suffix, and an alias resolved to its unit.
    pub fn unit_name(&self, given: &str) -> String {
        let name = vigil_units::name::normalize(given);
        vigil_units::load::resolve_alias(&self.aliases, &name)
    }

    /// Runs the generators, then reads the configuration directories and
    /// hands the result to the engine (at boot, after a crash or `vigil
    /// reexec`, for `vigil sync` and SIGHUP: where systemd runs its
    /// generators); returns what changed. The definitions live in the engine
    /// only: vigild keeps no copy.
    pub fn load(&mut self) -> Rescan {
        let mut errors = self.run_generators();
        // Said by `vigil sync` too: `added 0, removed 7` alone hid why.
        errors.extend(
            self.missing_unit_dirs()
                .into_iter()
                .map(|l| format!("warning: {l}")),
        );
        let set = self.read_config();
        self.warn_of_units_at_shutdown(&set);
        // A distribution's units read settings vigil does not enforce yet by
        // the hundred (Debian's: 228 lines on the console at each boot): one
        // line sums them up, each is said with --debug, and `vigil verify`
        // and `vigil status` list them.
        // So are the unit files of types not loaded yet (Debian's: 19), by type;
        // a masked unit is the admin's choice, said with --debug only.
        let mut not_enforced = (0, HashSet::new());
        let mut not_supported: BTreeMap<&str, usize> = BTreeMap::new();
        for d in &set.diagnostics {
            if !self.opts.debug {
                if d.is_not_enforced() {
                    not_enforced.0 += 1;
                    not_enforced.1.insert(&d.path);
                    continue;
                }
                if d.is_type_not_supported() {
                    let name = d.path.file_name().and_then(|f| f.to_str());
                    let suffix = vigil_units::name::suffix_of(name.unwrap_or_default());
                    *not_supported.entry(suffix.unwrap_or("?")).or_default() += 1;
                    continue;
                }
                if d.is_masked_file() {
                    continue;
                }
            }
            // The diagnostic names its own severity.
            self.logs.manager_stderr(d.to_string());
            if d.is_error() {
                errors.push(d.to_string());
            }
        }
        let plural = |k: usize, one: &str, many: &str| match k {
            1 => format!("1 {one}"),
            k => format!("{k} {many}"),
        };
        if let (n @ 1.., files) = not_enforced {
            let (what, where_) = (
                plural(n, "setting", "settings"),
                plural(files.len(), "unit file", "unit files"),
            );
            let verb = if n == 1 { "is" } else { "are" };
            self.logs.manager_stderr(format!(
                "warning: {what} in {where_} {verb} not enforced yet \
                 (`vigil status UNIT` lists a unit's; --debug says each at load)"
            ));
        }
        if !not_supported.is_empty() {
            let n: usize = not_supported.values().sum();
            let mut by_type: Vec<_> = not_supported.into_iter().collect();
            by_type.sort_by_key(|&(suffix, k)| (std::cmp::Reverse(k), suffix));
            let by_type: Vec<_> = by_type.iter().map(|(s, k)| format!("{k} {s}")).collect();
            let files = plural(n, "unit file", "unit files");
            self.logs.manager_stderr(format!(
                "warning: {files} of types not supported yet ignored: {} \
                 (--debug names each)",
                by_type.join(", ")
            ));
        }
        let (added, removed, changed) = self.apply_set(set);
        Rescan {
            added,
            removed,
            changed,
            errors,
        }
    }

    /// Runs the systemd generators, when they run for this manager, and
    /// makes the unit search path with their outputs; returns each failure
    /// (`PATH: error: ...`). Synchronous, as in systemd, and bounded by
    /// `--generator-timeout`: the loop waits, and every generator is reaped
    /// (or killed) before the directories are read.
    fn run_generators(&mut self) -> Vec<String> {
        let Some(setup) = &self.generators else {
            return Vec::new();
        };
        let report = setup.run(&crate::generators::environment(&self.default_env));
        // Not read when they could not be emptied: an earlier run's files.
        self.load_path = match report.outputs_ready {
            true => setup.outputs.unit_path(&self.opts.config_dirs),
            false => self.opts.config_dirs.clone(),
        };
        for (level, line) in &report.lines {
            self.say(*level, None, line);
        }
        report.errors
    }

    /// What `is-enabled` says of `name` (and `show`'s UnitFileState), with
    /// whether it counts as enabled: the configuration directories' word
    /// ([`vigil_units::install::enablement`], `set` read from them), or
    /// systemctl's `generated` for a name they do not have that a
    /// generator's output has (the unit, its template, or an alias link).
    pub(crate) fn unit_file_state(&self, set: &LoadedSet, name: &str) -> (&'static str, bool) {
        use vigil_units::install::{Enablement, enablement};
        let state = enablement(set, &self.opts.config_dirs, name);
        let mut outputs = (self.load_path.iter()).filter(|d| !self.opts.config_dirs.contains(d));
        let template = vigil_units::name::template_of(name);
        let generated = state == Enablement::NotFound
            && outputs.any(|d| {
                let there = |n: &str| std::fs::symlink_metadata(d.join(n)).is_ok();
                there(name) || template.as_deref().is_some_and(there)
            });
        match generated {
            true => ("generated", true),
            false => (state.word(), state.counts_as_enabled()),
        }
    }

    /// Hands a read of the configuration to the engine; returns the units
    /// added, removed and changed. Changed is what a user edited: a unit whose
    /// own file or drop-ins differ from the last read (their paths or bytes;
    /// an instance's template), or that went from loaded to broken or back.
    /// Not one whose definition changed only through other units (a target's
    /// implicit `After=` on a service it wants, gone while the service is
    /// broken) or through a `.wants/` link: restarting it would change nothing
    /// the user wrote, and what a new link wants is started by the sync.
    fn apply_set(&mut self, mut set: LoadedSet) -> (Vec<String>, Vec<String>, Vec<String>) {
        let mut added = Vec::new();
        let mut changed = Vec::new();
        let mut names: HashSet<String> = HashSet::new();
        let files_read = std::mem::take(&mut set.files_read);
        let was_broken = std::mem::take(&mut self.broken_paths);
        let digest = |read: Option<&vigil_units::load::FilesRead>| read.map(|r| r.digest);
        let edited = |name: &str| digest(files_read.get(name)) != digest(self.files_read.get(name));
        for unit in &set.units {
            match self.engine.definition(&unit.name) {
                None => added.push(unit.name.clone()),
                Some(_) if edited(&unit.name) || was_broken.contains_key(&unit.name) => {
                    changed.push(unit.name.clone())
                }
                Some(_) => {}
            }
            names.insert(unit.name.clone());
        }
        let mut broken_paths = BTreeMap::new();
        let broken: Vec<(String, String)> = set
            .broken
            .into_iter()
            .map(|b| {
                // A unit new to the manager is added, whether its file loads or not.
                if self.engine.definition(&b.name).is_none() {
                    added.push(b.name.clone());
                } else if edited(&b.name) || !was_broken.contains_key(&b.name) {
                    changed.push(b.name.clone());
                }
                names.insert(b.name.clone());
                broken_paths.insert(b.name.clone(), b.path);
                (b.name, b.reason)
            })
            .collect();
        self.broken_paths = broken_paths;
        self.files_read = files_read;
        // Newly: one removed at an earlier read (still running) is not again.
        let mut removed: Vec<String> = self
            .engine
            .units()
            .into_iter()
            .filter(|u| !u.removed && !names.contains(&u.name))
            .map(|u| u.name)
            .collect();
        removed.sort();
        added.sort();
        changed.sort();
        let now = self.now();
        self.engine.set_masked(self.masked.keys().cloned());
        self.engine.load(now, set.units, broken);
        self.history.retain(|name, _| self.engine.contains(name));
        (self.procs.last_main_invocations).retain(|name, _| self.engine.contains(name));
        // The state is saved at the end of this turn, and with it the record
        // of this unit set (`loaded:N`), whatever else changed: until then, a
        // crash has the next manager compare its files with the set before.
        self.handover.dirty = true;
        self.trim_pending = true;
        self.trim_gone_rings();
        (added, removed, changed)
    }

    /// Makes `name` known, instantiating a template on demand (`foo@bar`).
    /// Returns false when there is no such unit or template.
    pub fn ensure_loaded(&mut self, name: &str) -> bool {
        self.load_unit(name).is_ok()
    }

    /// [`Daemon::ensure_loaded`], with why the unit cannot be had for a client:
    /// no such unit, masked, or its template's error.
    pub fn load_unit(&mut self, name: &str) -> Result<(), String> {
        let mut results = self.load_units(&[name.to_string()]);
        results
            .pop()
            .unwrap_or_else(|| Err(self.unknown_unit(name)))
    }

    /// [`Daemon::load_unit`] for several names at once: the directories are
    /// read once for every instance to make, not once each (`vigil start
    /// s@1 ... s@2000` read them 2,000 times, and did not end in 5 minutes).
    pub fn load_units(&mut self, names: &[String]) -> Vec<Result<(), String>> {
        let mut results: Vec<Option<Result<(), String>>> = Vec::with_capacity(names.len());
        let mut to_make = Vec::new();
        for (i, name) in names.iter().enumerate() {
            results.push(if self.engine.contains(name) {
                // An instance forgotten once it was down, not read again
                // yet: it is wanted again.
                if name.contains('@') {
                    self.instances.insert(name.to_string());
                }
                Some(Ok(()))
            } else if !name.contains('@') {
                Some(Err(self.unknown_unit(name)))
            } else if let Err(e) = vigil_units::name::validate(name) {
                // A name given by hand: `foo@c/d e` would otherwise become an instance.
                Some(Err(vigil_units::name::invalid_name_message(name, &e)))
            } else {
                to_make.push(i);
                None
            });
        }
        if !to_make.is_empty() {
            // Rare: read the directories again rather than keep every file in memory.
            let mut set = self.read_config();
            let mut made = Vec::new();
            let (masked, to_make): (Vec<usize>, Vec<usize>) =
                (to_make.into_iter()).partition(|&i| self.masked.contains_key(&names[i]));
            for i in masked {
                results[i] = Some(Err(self.unknown_unit(&names[i])));
            }
            let wanted: Vec<&String> = to_make.iter().map(|&i| &names[i]).collect();
            let outcomes = set.instantiate_all(&wanted, &self.spec_ctx);
            for (&i, outcome) in to_make.iter().zip(outcomes) {
                let name = &names[i];
                match outcome {
                    Ok(()) => {
                        self.instances.insert(name.to_string());
                        made.push(i);
                    }
                    Err(diags) => {
                        for d in &diags {
                            self.say(Level::Error, Some(name), &d.to_string());
                        }
                        // Not kept, when another instance of the request is
                        // applied: it would stay, failed, for ever.
                        set.broken.retain(|b| b.name != *name);
                        // The template's own error, not "no such unit"; of no
                        // file (a name given by hand), its words alone, as
                        // every other such answer is.
                        let why = diags.first().map(|d| match d.path.as_os_str().is_empty() {
                            true => d.message.clone(),
                            false => d.to_string(),
                        });
                        results[i] = Some(Err(why.unwrap_or_else(|| self.unknown_unit(name))));
                    }
                }
            }
            if !made.is_empty() {
                self.apply_set(set);
            }
            for i in made {
                let name = &names[i];
                results[i] = Some(match self.engine.contains(name) {
                    true => Ok(()),
                    false => Err(self.unknown_unit(name)),
                });
            }
        }
        let names = names.iter();
        (results.into_iter().zip(names))
            .map(|(r, name)| r.unwrap_or_else(|| Err(self.unknown_unit(name))))
            .collect()
    }

    /// Keeps the lines of [`GONE_RINGS_KEPT`] units no longer loaded at
    /// most (removed, or instances made on demand that ended, which the
    /// next read of the directories drops).
    fn trim_gone_rings(&mut self) {
        let engine = &self.engine;
        self.logs
            .trim_gone(|unit| engine.definition(unit).is_none(), GONE_RINGS_KEPT);
    }

    /// The instances of templates of the configuration directories that are
    /// not loaded among `names` (`vigil status worker@7` before any start of
    /// it): the units they would be, read now and not kept, as systemd shows
    /// such an instance inactive without starting it; not a masked one, nor
    /// one whose template does not load. The directories are read once for
    /// them all, and not at all when no name is such a candidate.
    pub fn unloaded_instances(
        &self,
        names: &[String],
    ) -> HashMap<String, vigil_units::model::Unit> {
        let candidates: Vec<&String> = (names.iter())
            .filter(|n| {
                n.contains('@') && !self.engine.contains(n) && !self.masked.contains_key(n.as_str())
            })
            .collect();
        if candidates.is_empty() {
            return HashMap::new();
        }
        // Rare: read the directories again, as a start of a new instance does.
        let mut set = vigil_units::load::load_dirs(&self.load_path, &self.spec_ctx);
        let outcomes = set.instantiate_all(&candidates, &self.spec_ctx);
        let made: HashSet<&String> = (candidates.into_iter().zip(outcomes))
            .filter_map(|(n, outcome)| outcome.is_ok().then_some(n))
            .collect();
        (set.units.into_iter())
            .filter(|u| made.contains(&u.name))
            .map(|u| (u.name.clone(), u))
            .collect()
    }

    /// Whether the files of `name` changed on disk since they were read
    /// (systemd's NeedDaemonReload=, and `vigil status`'s warning): its
    /// unit file or a drop-in changed, went or came back, or the drop-ins
    /// that apply to it now are others (one added or removed); for a masked
    /// name, that the mask is gone. A stat of each file it was read from and
    /// a read of its own drop-in directories, no more: neither the unit's
    /// files nor the other units' are read. False for a unit without a file
    /// (built in, not found).
    pub(crate) fn need_daemon_reload(&self, name: &str) -> bool {
        match (self.files_read.get(name), self.masked.get(name)) {
            (Some(read), _) => {
                let now = (read.dropins.is_some())
                    .then(|| vigil_units::load::dropins_now(&self.load_path, &self.aliases, name));
                read.changed_since(now.as_deref())
            }
            // A link to /dev/null, or an empty file: still so, or not.
            (None, Some(mask)) => !fs::metadata(mask).is_ok_and(|m| m.len() == 0),
            (None, None) => false,
        }
    }

    /// What to tell a client of a name that no loaded unit has: that it is
    /// masked (systemd refuses to start a masked unit even by hand), or that
    /// there is no such unit.
    pub fn unknown_unit(&self, name: &str) -> String {
        match self.masked.get(name) {
            Some(link) => format!("unit {name} is masked ({})", link.display()),
            // A template is no unit to show or start, whether its file is there or not.
            None if vigil_units::name::is_template(name) => {
                let example = vigil_units::name::instance_name(name, "NAME").unwrap_or_default();
                format!("{name} is a template: name an instance of it ({example})")
            }
            None => format!("no such unit: {name}"),
        }
    }

    /// Says once when a log sink starts failing (a full disk) and once when
    /// it works again, with the lines it lost meanwhile. True when it said
    /// something (queued, for the next flush).
    fn report_sink_health(&mut self) -> bool {
        let changes = self.logs.take_health();
        for (failing, text) in &changes {
            let level = if *failing {
                Level::Warning
            } else {
                Level::Info
            };
            self.say(level, None, text);
        }
        !changes.is_empty()
    }

    fn run_loop(&mut self) {
        let mut events = Events::with_capacity(256);
        // A change made before the loop (the boot target reached as the first
        // spawns went) is saved before its first wait: each turn saves at its
        // end, and an idle manager held it until the next event, so a crash
        // meanwhile lost it (the next manager said "startup finished" again).
        if self.handover.dirty {
            self.save_state(Vec::new());
        }
        while self.phase != Phase::Done {
            self.arm_timer();
            self.logs.flush(&self.epoll);
            // What the flush found is said, and written, before the wait: left
            // queued, it would wait for the next event, which may never come.
            // (Each sink changes at most once a flush: a few rounds at most.)
            for _ in 0..4 {
                if !self.report_sink_health() {
                    break;
                }
                self.logs.flush(&self.epoll);
            }
            // With heap to give back, look for work without blocking first: an
            // empty answer means idle, the moment for a walk over the heap.
            // Nor with clients' requests left from the last turn.
            let busy = self.trim_pending || self.clients_to_resume() || self.procs.reap_pending;
            let timeout = busy.then_some(Duration::ZERO);
            if let Err(e) = self.epoll.wait(&mut events, timeout) {
                // EINTR is handled inside; what is left (EBADF, EINVAL) would be a
                // bug in vigild: report it, and the manager keeps running.
                self.say(Level::Error, None, &format!("epoll_wait failed: {e}"));
                continue;
            }
            self.resume_clients();
            self.process_actions();
            if self.trim_pending && events.is_empty() && !self.clients_to_resume() {
                vigil_platform::release_free_heap();
                self.trim_pending = false;
                continue;
            }
            for r in events.iter() {
                match r.token & token::KIND {
                    0 => match r.token {
                        token::SIGNAL => self.on_signals(),
                        token::TIMER => self.on_timer(),
                        token::LISTENER => {
                            for client in self.clients.accept_all(&self.epoll) {
                                self.read_client(client);
                            }
                            self.say_client_warnings();
                        }
                        token::NOTIFY => self.on_notify(),
                        token::INIT => self.on_init_message(),
                        _ => {}
                    },
                    token::CLIENT => self.on_client(r.token & !token::KIND, r),
                    token::LOG_PIPE => self.on_log_pipe(r.token & !token::KIND),
                    token::SINK => self
                        .logs
                        .on_sink_writable(r.token & !token::KIND, &self.epoll),
                    token::PIDFD => self.on_pidfd((r.token & !token::KIND) as u32),
                    token::SOCKET => self.on_socket_ready(r.token & !token::KIND),
                    _ => {}
                }
                self.process_actions();
            }
            // After the turn's events: a SIGCHLD among them, or ends a reap
            // of the last turn left for this one (its budget spent).
            if self.procs.reap_pending {
                self.reap();
            }
            // A user the turn held back by its unread replies.
            self.say_client_warnings();
            self.check_boot_finished();
            self.sync_store();
            if !self.handover.reexec_requested.is_empty() {
                self.clients.flush_all(&self.epoll);
                let e = self.reexec();
                let message = format!("re-exec failed: {e:#}");
                self.say(Level::Error, None, &message);
                // Those who asked wait for the connection to close: they hear
                // why, and that this manager goes on.
                for (client, id) in std::mem::take(&mut self.handover.reexec_requested) {
                    let text = format!("{message}; the manager goes on as before");
                    let reply = vigil_proto::Reply::err(id, vigil_proto::ErrorCode::Failed, text);
                    self.clients.send_and_close(client, &reply, &self.epoll);
                }
            }
            if self.handover.dirty {
                self.save_state(Vec::new());
            }
        }
    }

    /// Arms the timerfd for the engine's next deadline, when that changed.
    fn arm_timer(&mut self) {
        let next = [
            self.engine.next_deadline(),
            self.shutdown_check,
            self.missing_deadline(),
            self.lingering_deadline(),
            self.pid_file_deadline(),
            self.clients.refusals_due(),
        ]
        .into_iter()
        .flatten()
        .min();
        if next == self.armed {
            return;
        }
        let res = match next {
            // A deadline in the past still fires at once: timerfd treats an
            // absolute time that has passed as expired.
            Some(at) => self.timer.set_deadline(at.max(Duration::from_nanos(1))),
            None => self.timer.disarm(),
        };
        match res {
            Ok(()) => self.armed = next,
            Err(e) => self.say(Level::Error, None, &format!("cannot arm the timer: {e}")),
        }
    }

    fn on_timer(&mut self) {
        let _ = self.timer.read();
        // A one-shot timerfd that fired is disarmed.
        self.armed = None;
        let now = self.now();
        let _ = self.engine.handle(now, Event::Tick);
        if self.shutdown_check.is_some_and(|at| at <= now) {
            self.shutdown_progress(now);
        }
        if self.missing_deadline().is_some_and(|at| at <= now) {
            self.check_missing(now);
        }
        if self.lingering_deadline().is_some_and(|at| at <= now) {
            self.kill_lingering(now);
        }
        if self.pid_file_deadline().is_some_and(|at| at <= now) {
            self.retry_pid_files(now);
        }
        self.clients.report_refusals(now);
        self.say_client_warnings();
    }

    /// Says what the control connections left to say (refusals, users held
    /// back by their unread replies).
    fn say_client_warnings(&mut self) {
        for warning in self.clients.take_warnings() {
            self.say(Level::Warning, None, &warning);
        }
    }

    /// Before the deadline's SIGKILL of a shutdown started at `started`, a
    /// last call: every unit still waiting for its turn is stopped then,
    /// whatever the order, so that it gets its ExecStop= and kill signal (5 s
    /// before the deadline; halfway for a deadline under 10 s).
    fn last_call(&self, started: Time) -> Time {
        let timeout = self.opts.shutdown_timeout;
        started
            .saturating_add(timeout)
            .saturating_sub(LAST_CALL.min(timeout / 2))
    }

    /// During a shutdown, every few seconds: which units are still stopping and
    /// for how long; past the global deadline, the engine kills every unit not
    /// yet stopped, so a unit with `TimeoutStopSec=infinity`, a stuck stop
    /// command or a chain of slow stops cannot hold the machine up for ever.
    fn shutdown_progress(&mut self, now: Time) {
        let Some(started) = self.shutdown_started else {
            self.shutdown_check = None;
            return;
        };
        let units = self.engine.units();
        let deadline = started.saturating_add(self.opts.shutdown_timeout);
        // A unit starting now is one the shutdown runs (a state saved). Each
        // with how long it has taken and may take, as systemd's `(5s / 1min
        // 30s)`: until its own timeout, or the global deadline if sooner.
        let slow: Vec<String> = units
            .iter()
            .filter(|u| matches!(u.state, State::Stopping | State::Starting))
            .map(|u| {
                let doing = if u.state == State::Starting {
                    "starting, "
                } else {
                    ""
                };
                let secs = now.saturating_sub(u.since).as_secs();
                let until = u.timeout.map_or(deadline, |t| t.min(deadline));
                let limit = until.saturating_sub(u.since).as_millis().div_ceil(1000);
                format!("{} ({doing}{secs}s / {limit}s)", u.name)
            })
            .collect();
        let last_call = self.last_call(started);
        if now >= last_call && now < deadline && !self.shutdown_last_call {
            self.shutdown_last_call = true;
            // Those with something to stop: a process, or a oneshot's ExecStop=.
            let waiting: Vec<String> = units
                .iter()
                .filter(|u| !u.name.ends_with(".target"))
                .filter(|u| {
                    (u.state == State::Running && u.main_pid.is_some()) || u.state == State::Exited
                })
                .map(|u| u.name.clone())
                .collect();
            if !waiting.is_empty() {
                self.say(
                    Level::Warning,
                    None,
                    &format!(
                        "shutdown deadline in {}s: stopping now, whatever the order: {}",
                        deadline.saturating_sub(now).as_millis().div_ceil(1000),
                        some_of(&waiting)
                    ),
                );
            }
            let _ = self.engine.handle(now, Event::ShutdownLastCall);
        }
        if now >= deadline {
            self.say(
                Level::Warning,
                None,
                &format!(
                    "shutdown deadline ({}s) reached: killing every unit not stopped yet",
                    self.opts.shutdown_timeout.as_secs()
                ),
            );
            let _ = self.engine.handle(now, Event::ShutdownDeadline);
            self.shutdown_check = None;
            return;
        }
        if !slow.is_empty() {
            self.say(
                Level::Info,
                None,
                &format!("still stopping: {}", some_of(&slow)),
            );
        }
        // Until the deadline, even with nothing slow now: a unit waiting for
        // its turn may yet hang.
        let next = match self.shutdown_last_call {
            true => deadline,
            false => last_call,
        };
        self.shutdown_check = Some((now + SHUTDOWN_PROGRESS).min(next));
    }

    fn on_signals(&mut self) {
        // A bounded number a turn, as the reaping: what is left keeps the
        // signalfd readable for the next turn.
        for _ in 0..SIGNALS_A_TURN {
            let info = match self.sigfd.read() {
                Ok(Some(info)) => info,
                Ok(None) => break,
                Err(e) => {
                    self.say(Level::Error, None, &format!("reading the signalfd: {e}"));
                    break;
                }
            };
            match info.signo {
                // Once a turn, after its events (run_loop): a reap that ends
                // at its budget must not start again at the SIGCHLD of what
                // ended meanwhile.
                libc_sig::SIGCHLD => self.procs.reap_pending = true,
                // A graceful stop for the main unit's program (nginx's, php-fpm's:
                // docker's STOPSIGNAL), as tini forwards it; else the end, as SIGTERM.
                libc_sig::SIGQUIT if self.main_process().is_some() => {
                    self.forward_to_main(info.signo);
                }
                // Under vigil-init only its own SIGTERM means the end: a manager
                // that stopped everything for anyone else would be restarted by
                // it, and start everything again.
                libc_sig::SIGTERM | libc_sig::SIGINT | libc_sig::SIGQUIT
                    if self.init.is_some() && info.pid != vigil_platform::getppid() =>
                {
                    self.say(
                        Level::Warning,
                        None,
                        &format!(
                            "signal {} from process {} ignored: under vigil-init, end with `vigil shutdown`, `vigil poweroff` or a signal to vigil-init",
                            info.signo, info.pid
                        ),
                    );
                }
                // vigil-init forwards SIGQUIT without taking it for a shutdown:
                // told, as for `vigil shutdown`, or it would start a manager again.
                libc_sig::SIGQUIT if self.phase == Phase::Running => {
                    self.say(Level::Info, None, "SIGQUIT: stopping every unit");
                    self.told_exit = self.tell_init("exit 0");
                    self.begin_shutdown(self.default_action());
                }
                libc_sig::SIGTERM | libc_sig::SIGINT => {
                    // vigil-init says which end it is (`stop reboot`) on the
                    // channel before its SIGTERM: read first. Its socket may
                    // have been full: the words then come a moment after.
                    self.on_init_message();
                    if self.phase == Phase::Running
                        && let Some(chan) = &self.init
                        && chan.wait(false, STOP_WORDS_WAIT).unwrap_or(false)
                    {
                        self.on_init_message();
                    }
                    if self.phase == Phase::Running {
                        self.say(Level::Info, None, "signal received: stopping every unit");
                        self.begin_shutdown(self.default_action());
                    }
                }
                libc_sig::SIGHUP | libc_sig::SIGUSR1 | libc_sig::SIGUSR2 | libc_sig::SIGWINCH
                    if self.forward_to_main(info.signo) => {}
                libc_sig::SIGHUP => {
                    for problem in self.logs.reopen_files(&self.epoll) {
                        self.say(Level::Warning, None, &problem);
                    }
                    let r = self.load();
                    self.say(
                        Level::Info,
                        None,
                        &format!(
                            "SIGHUP: rescanned: {} added, {} removed, {} changed, {} errors",
                            r.added.len(),
                            r.removed.len(),
                            r.changed.len(),
                            r.errors.len()
                        ),
                    );
                }
                _ => {}
            }
        }
    }

    /// Stops every unit; what `ACTION.target` pulls in (`poweroff.target`,
    /// and through it shutdown.target, umount.target, final.target) runs
    /// during the stop. Again during a shutdown, the target's units are
    /// added: a `vigil reboot` while a container stops, vigil-init's `stop
    /// reboot` read after its SIGTERM.
    pub fn begin_shutdown(&mut self, action: &str) {
        let now = self.now();
        match self.phase {
            Phase::Running => {
                self.phase = Phase::ShuttingDown;
                self.shutdown_started = Some(now);
                let last_call = self.last_call(now);
                self.shutdown_check = Some((now + SHUTDOWN_PROGRESS).min(last_call));
            }
            Phase::ShuttingDown => {}
            Phase::Done => return,
        }
        let targets = vec!["shutdown.target".to_string(), format!("{action}.target")];
        let _ = self.engine.handle(now, Event::Shutdown { targets });
    }

    /// What the end of this manager means, for the target a shutdown starts
    /// (a SIGTERM, an unqualified `stop`, `vigil shutdown`, `exit`): under
    /// vigil-init as PID 1 of a machine a poweroff (what vigil-init does then),
    /// else the manager's exit.
    pub(crate) fn default_action(&self) -> &'static str {
        let machine = self.init.is_some() && !self.opts.container;
        if machine && vigil_platform::getppid() == 1 {
            "poweroff"
        } else {
            "exit"
        }
    }

    /// Reads what vigil-init sent: the exit statuses of processes it reaped
    /// (services taken over from a previous manager are its children), and
    /// the end of an emergency shell. When init closes its end, the channel
    /// is dropped.
    fn on_init_message(&mut self) {
        let mut buf = [0u8; 512];
        loop {
            let Some(chan) = &self.init else { return };
            let text = match chan.recv_with_fds(&mut buf) {
                Ok(None) => return,
                Ok(Some((0, fds))) if fds.is_empty() => {
                    self.drop_init_channel();
                    return;
                }
                Err(_) => {
                    self.drop_init_channel();
                    return;
                }
                // Descriptors are not expected after the greeting: dropped.
                Ok(Some((n, _))) => String::from_utf8_lossy(buf.get(..n).unwrap_or_default())
                    .trim_end_matches('\n')
                    .to_string(),
            };
            let (verb, arg) = text.split_once(' ').unwrap_or((&text, ""));
            match verb {
                "exited" => {
                    for (pid, status) in crate::handover::parse_exited(arg) {
                        self.on_init_exited(pid, status);
                    }
                }
                "lost" => self.on_init_lost(arg.parse().unwrap_or(1)),
                "refused" => {
                    self.say(
                        Level::Warning,
                        None,
                        &format!(
                            "vigil-init's fd store is full: it refused {arg} more descriptors; the log pipes and sockets of units started since are not kept across a crash of the manager"
                        ),
                    );
                    // The state may have been among them: written again, the
                    // old one out first.
                    (self.handover.store_full, self.handover.dirty) = (true, true);
                }
                "emergency-over" => self.on_emergency_over(),
                // vigil-init's SIGTERM said in words: a signal may have merged
                // with another sender's, which is ignored.
                "stop" => {
                    if self.phase == Phase::Running {
                        self.say(Level::Info, None, "vigil-init asks to stop every unit");
                    }
                    let actions = ["poweroff", "reboot", "halt", "kexec", "exit"];
                    let action = actions.into_iter().find(|&a| a == arg);
                    self.begin_shutdown(action.unwrap_or(self.default_action()));
                }
                _ => {}
            }
            self.process_actions();
        }
    }

    fn drop_init_channel(&mut self) {
        if let Some(chan) = self.init.take() {
            let _ = self.epoll.delete(chan.as_fd());
        }
        self.say(Level::Warning, None, "vigil-init closed its channel");
    }

    /// Asks vigil-init to power off, reboot or halt once this manager has
    /// stopped everything and exited. False when there is no vigil-init to ask.
    pub fn request_power_action(&mut self, action: vigil_proto::PowerAction) -> bool {
        self.tell_init(&format!("shutdown {}", action.as_str()))
    }

    /// Reads the notify socket. Each datagram is peeked at, acted on, and only
    /// then removed; under vigil-init one that changed a unit's state (with a
    /// field other than `STATUS=`, `WATCHDOG=1` and `BARRIER=`) is saved in between: a
    /// manager killed while it acts on one leaves it to the next, which reads
    /// it again (a `READY=1` twice is one). Read and dropped, it was lost.
    pub(crate) fn on_notify(&mut self) {
        let mut buf = [0u8; 4096];
        loop {
            let (len, creds) = match self.notify.peek_with_credentials(&mut buf) {
                // Cut short, its last field would be applied wrong
                // (WATCHDOG_USEC=10000000 read as WATCHDOG_USEC=10): dropped
                // whole, as systemd drops an overly long notification.
                Ok(Some(got)) if got.truncated => {
                    let from = got.credentials.map_or(0, |c| c.pid);
                    let unit = self.unit_of_process(from);
                    let why = format!(
                        "notification from PID {from} longer than {} bytes, ignored",
                        buf.len()
                    );
                    self.say_at_most_once_a_second("notify", unit.as_deref(), &why);
                    if self.discard_notification() {
                        continue;
                    }
                    break;
                }
                Ok(Some(got)) => match got.credentials {
                    Some(c) => (got.len, c),
                    None if self.discard_notification() => continue,
                    None => break,
                },
                Ok(None) => break,
                Err(e) => {
                    self.say(Level::Warning, None, &format!("notify socket: {e}"));
                    break;
                }
            };
            let text = String::from_utf8_lossy(buf.get(..len).unwrap_or_default());
            let fields: Vec<(String, String)> = text
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            // Only a barrier: its fd is closed when it is read, which releases
            // the sender.
            if !fields.iter().all(|(k, _)| k == "BARRIER") {
                self.notified(creds, fields);
            }
            if !self.discard_notification() {
                break;
            }
        }
    }

    /// Acts on one notification.
    fn notified(&mut self, creds: vigil_platform::Credentials, fields: Vec<(String, String)>) {
        let lasting = fields.iter().any(|(k, v)| match k.as_str() {
            "STATUS" | "BARRIER" => false,
            "WATCHDOG" => v != "1",
            _ => true,
        });
        // A helper process (a script's `vigil notify`) is not tracked:
        // services run in their own session, so its process group names
        // the main process; failing that, the unit one of whose sessions
        // or process groups it is in (a forking daemon's helper, say).
        let unit = self.unit_of_process(creds.pid);
        let fields = self.vet_main_pid(fields, creds, unit.as_deref());
        let now = self.now();
        // One from a process of no unit changes nothing to save.
        self.handover.dirty |= unit.is_some();
        let event = match unit {
            Some(unit) if self.engine.unit_of_pid(creds.pid).is_none() => Event::NotifyFromUnit {
                unit,
                pid: creds.pid,
                fields,
            },
            _ => Event::Notify {
                pid: creds.pid,
                fields,
            },
        };
        let _ = self.engine.handle(now, event);
        // Saved at once only when it changed something: a flood of READY=1
        // from a process of no unit (anyone may send to the socket), or again
        // from a unit already running, costs no save each.
        let actions = self.engine.take_actions();
        let changed = actions.iter().any(|a| !matches!(a, Action::Log { .. }));
        match changed {
            true => self.perform_batch(actions),
            // Lines for the log alone: nothing to save.
            false => actions.into_iter().for_each(|a| self.perform(a)),
        }
        self.process_actions();
        if lasting && changed && self.init.is_some() {
            self.save_state(Vec::new());
        }
    }

    /// A warning of a `kind` that others can cause at will (about
    /// notifications: anyone may write to the notify socket; connections
    /// refused), said at most once a second for each unit (and for those of
    /// no unit), the next one with how many were not: each line said would
    /// push older ones out of the rings (as the engine's refusals).
    pub(crate) fn say_at_most_once_a_second(
        &mut self,
        kind: &'static str,
        unit: Option<&str>,
        warning: &str,
    ) {
        let now = self.now();
        let key = (kind, unit.map(str::to_string));
        if let Some((said, unsaid)) = self.limited_warnings.get_mut(&key)
            && now.saturating_sub(*said) < Duration::from_secs(1)
        {
            *unsaid += 1;
            return;
        }
        let unsaid = self
            .limited_warnings
            .insert(key, (now, 0))
            .map_or(0, |(_, n)| n);
        let more = match unsaid {
            0 => String::new(),
            n => format!("; {n} more such warnings not said before it"),
        };
        self.say(Level::Warning, unit, &format!("{warning}{more}"));
    }

    /// Removes the notification just acted on; false when it cannot be (it
    /// would be read again and again: the rest waits for the next wake-up).
    fn discard_notification(&mut self) -> bool {
        match self.notify.discard() {
            Ok(()) => true,
            Err(e) => {
                self.say(Level::Warning, None, &format!("notify socket: {e}"));
                false
            }
        }
    }

    /// The unit a process belongs to: one it tracks, or one whose process
    /// group or session the process is in (each spawn leads its own).
    fn unit_of_process(&self, pid: u32) -> Option<String> {
        if let Some(unit) = self.engine.unit_of_pid(pid) {
            return Some(unit.to_string());
        }
        vigil_platform::getpgid(pid)
            .ok()
            .and_then(|pgid| self.engine.unit_of_pid(pgid))
            .map(str::to_string)
            .or_else(|| self.unit_of_session(pid))
    }

    /// The unit `pid` is a process of: one the unit tracks or whose group or
    /// session is the unit's, or a descendant of one (a daemon that called
    /// setsid() leads a session of its own). Not an orphan the manager
    /// adopted: that may be what any unit left behind.
    pub(crate) fn owner_of(&self, pid: u32) -> Option<String> {
        let mut at = pid;
        for _ in 0..8 {
            if let Some(owner) = self.unit_of_process(at) {
                return Some(owner);
            }
            match crate::procs::parent_of(at) {
                // Not an orphan the manager adopted: it may be any unit's.
                Some(p) if p > 1 && p != self.procs.manager_pid => at = p,
                _ => return None,
            }
        }
        None
    }

    /// `MAINPID=` names what vigild will signal, with its process group, at the
    /// unit's stop: never init or vigild itself, and from a sender that is not
    /// root only a process of the sender's own unit (systemd likewise refuses a
    /// PID outside the service's cgroup). A refused one is dropped and said.
    fn vet_main_pid(
        &mut self,
        fields: Vec<(String, String)>,
        sender: vigil_platform::Credentials,
        unit: Option<&str>,
    ) -> Vec<(String, String)> {
        let mut kept = Vec::with_capacity(fields.len());
        for (key, value) in fields {
            let Some(pid) = (key == "MAINPID")
                .then(|| value.parse::<u32>().ok())
                .flatten()
            else {
                kept.push((key, value));
                continue;
            };
            let live = crate::procs::live_process(pid).is_some();
            let why = if pid <= 1 || pid == self.procs.manager_pid {
                Some("init or the manager itself".into())
            } else if !live {
                // As systemd: the main PID it had is kept.
                Some("no such process, or a zombie".into())
            } else {
                match self.owner_of(pid) {
                    owner if sender.uid != 0 && (unit.is_none() || owner.as_deref() != unit) => {
                        Some(
                            "a process outside the sender's unit, from a sender that is not root"
                                .into(),
                        )
                    }
                    // Its process group is that unit's: this one's stop would
                    // signal it.
                    Some(other) if Some(other.as_str()) != unit => {
                        Some(format!("it is a process of {other}"))
                    }
                    _ => None,
                }
            };
            match why {
                Some(why) => self.say_at_most_once_a_second(
                    "notify",
                    unit,
                    &format!("MAINPID={pid} refused: {why}"),
                ),
                None => kept.push((key, value)),
            }
        }
        kept
    }

    /// Carries out every pending engine action, including those that carrying
    /// out actions produces, until none is left.
    pub fn process_actions(&mut self) {
        loop {
            let actions = self.engine.take_actions();
            if actions.is_empty() {
                break;
            }
            self.perform_batch(actions);
        }
        self.clients.flush_waiters(&self.engine, &self.epoll);
        if self.phase == Phase::Done {
            self.clients.flush_all(&self.epoll);
        }
    }

    /// Carries out one batch of actions; with vigil-init, the state is
    /// written first when the batch starts processes.
    pub fn perform_batch(&mut self, actions: Vec<Action>) {
        if actions.is_empty() {
            return;
        }
        self.before_batch(&actions);
        for action in actions {
            self.perform(action);
        }
        // After the actions: the state written before them (by before_batch) has
        // the spawns as intents only; the PIDs and start times they got must be
        // written too, at the end of this turn.
        self.handover.dirty = true;
    }

    /// The state of `unit`, or `default` for a name the engine does not know.
    fn state_or(&self, unit: &str, default: State) -> State {
        self.engine.state(unit).unwrap_or(default)
    }

    fn perform(&mut self, action: Action) {
        match action {
            Action::StateChanged {
                unit,
                from,
                state,
                reason,
                again,
            } => {
                let msg = match &reason {
                    Some(r) => format!("-> {state} ({r})"),
                    None => format!("-> {state}"),
                };
                // Every state change goes into the unit's log (`vigil log -f`
                // follows them) and to stderr; the engine's own lines that only
                // restate a change ("starting", "started") are debug-level. So is
                // `waiting` on stderr: one line more for each unit of a boot on
                // the console (80 of Debian's 450), which `starting` follows.
                if state == State::Waiting && !self.opts.debug {
                    self.logs.manager_line(&unit, &msg);
                    self.clients.deliver_log(&self.logs, &self.epoll);
                } else {
                    self.say(Level::Info, Some(&unit), &msg);
                }
                self.clients.on_state_changed(&unit, state, reason.as_ref());
                self.note_state_change(&unit, from, state);
                // A unit whose file went is forgotten as it goes down: its
                // jobs settle by this state, as later they could not.
                if self.engine.state(&unit).is_none() {
                    (self.clients).settle_forgotten(&self.engine, &unit, state, reason.as_ref());
                }
                self.on_state_for_sockets(&unit, state);
                // Whether the unit was up or on its way (not a start that
                // never ran: a failed dependency, a condition).
                let ran = !matches!(from, State::Inactive | State::Failed | State::Waiting);
                if matches!(state, State::Inactive | State::Failed | State::Restarting) {
                    self.kill_leftovers(&unit);
                    self.release_run_resources(&unit, state == State::Restarting);
                    // Given back already as it began to wait for its restart.
                    if ran && from != State::Restarting {
                        self.give_back_terminal(&unit);
                    }
                }
                // An instance made on demand is forgotten once it is down with
                // nothing to do (not one that failed, which stays to be seen,
                // as systemd keeps it): the next read of the directories no
                // longer makes it, and drops it. Kept, every `vigil start
                // worker@N` with a new N added one for good, and each read
                // made them all again.
                if state == State::Inactive
                    && self.state_or(&unit, State::Failed) == State::Inactive
                {
                    self.instances.remove(&unit);
                }
                if state == State::Failed {
                    if !again {
                        self.start_triggered(&unit, Trigger::Failure);
                    }
                    // Not one that was already failing (waiting to restart)
                    // when the stop came: that failure is not the stop's.
                    if self.phase == Phase::ShuttingDown && from != State::Restarting {
                        self.failed_in_stop.push(unit.clone());
                    }
                }
                // OnSuccess= starts units only when an activated unit goes
                // inactive: not one skipped, nor a socket unit whose start was
                // refused after its conditions were checked, nor one whose
                // start failed by a dependency while they were, or by an
                // assertion (it never ran: systemd fails only the job).
                if state == State::Inactive
                    && ran
                    && !matches!(
                        reason,
                        Some(
                            Reason::ConditionFailed(_)
                                | Reason::Socket(_)
                                | Reason::DependencyFailed(_)
                                | Reason::AssertFailed(_)
                        )
                    )
                    && self.phase == Phase::Running
                {
                    self.start_triggered(&unit, Trigger::Success);
                }
                self.on_main_state(&unit, state);
                if !self.target_reached && unit == self.boot_target() {
                    if state.is_active() {
                        self.startup_finished();
                    } else if state == State::Failed
                        || reason.as_ref().is_some_and(Reason::failed_the_job_only)
                    {
                        // Failed, or its start failed for what it requires:
                        // said with the failure at the root of it.
                        let cause = self.root_failure(&unit);
                        self.enter_emergency(&format!("{unit} cannot be reached{cause}"));
                    }
                }
            }
            Action::StopCanceled { unit } => {
                let state = self.state_or(&unit, State::Running);
                self.clients.cancel_stops(&unit, state);
            }
            Action::StartCanceled { unit, why } => {
                let state = self.state_or(&unit, State::Inactive);
                self.clients.cancel_starts(&unit, state, &why);
            }
            Action::StartFailed { unit, why } => {
                let state = self.state_or(&unit, State::Running);
                self.clients.fail_starts(&self.engine, &unit, state, &why);
            }
            Action::ReloadEnded { unit, failure } => {
                // The engine has put the unit back (running or exited) by now.
                let state = self.state_or(&unit, State::Running);
                self.clients.on_reload_ended(&unit, state, failure.as_ref());
            }
            Action::Log {
                level,
                unit,
                message,
            } => self.say(level, unit.as_deref(), &message),
            Action::AllStopped => {
                self.settle_exit_code();
                self.say(Level::Info, None, "every unit is stopped; exiting");
                self.phase = Phase::Done;
            }
            Action::UnitAction {
                unit,
                action,
                failed,
                exit_status,
            } => self.unit_action(&unit, action, failed, exit_status),
            other => self.perform_process_action(other),
        }
    }

    /// `SuccessAction=` / `FailureAction=`: what `vigil shutdown` (exit) or
    /// `vigil poweroff|reboot|halt` do, asked for by a unit. Without vigil-init
    /// there is no machine to power off: the manager stops everything and
    /// exits, as `systemd --user` only knows exit. The `-force` and
    /// `-immediate` variants run the same orderly stop (docs/UNITS.md).
    fn unit_action(
        &mut self,
        unit: &str,
        action: vigil_units::UnitAction,
        failed: bool,
        exit_status: u8,
    ) {
        use vigil_units::UnitActionKind;
        if self.phase != Phase::Running {
            return;
        }
        let directive = if failed {
            "FailureAction"
        } else {
            "SuccessAction"
        };
        let written = format!(
            "{directive}={}{}",
            action.kind.as_str(),
            if action.forced { " (forced)" } else { "" }
        );
        if action.kind == UnitActionKind::Exit {
            self.say(
                Level::Info,
                Some(unit),
                &format!("{written}: stopping every unit, then exiting with code {exit_status}"),
            );
            self.end_with(exit_status);
            return;
        }
        let what = action.kind.as_str();
        let told = self.tell_init(&format!("shutdown {what}"));
        if told {
            self.say(
                Level::Info,
                Some(unit),
                &format!("{written}: stopping every unit, then {what}"),
            );
        } else {
            self.say(
                Level::Warning,
                Some(unit),
                &format!(
                    "{written}: no vigil-init to {what} the machine: stopping every unit and exiting"
                ),
            );
        }
        self.begin_shutdown(if told { what } else { "exit" });
    }

    /// `OnFailure=` / `OnSuccess=`: the units to start when this one failed /
    /// went from active to inactive. They start as dependencies do, so
    /// RefuseManualStart= does not stop them.
    fn start_triggered(&mut self, unit: &str, trigger: Trigger) {
        let Some(def) = self.engine.run_definition(unit) else {
            return;
        };
        let (list, directive, what) = match trigger {
            Trigger::Failure => (&def.deps.on_failure, "OnFailure", "failed"),
            Trigger::Success => (&def.deps.on_success, "OnSuccess", "finished"),
        };
        for name in list {
            let now = self.now();
            match self.engine.handle(now, Event::Start(name.clone())) {
                Ok(()) => self.say(
                    Level::Info,
                    Some(unit),
                    &format!("{what}: starting {name} ({directive}=)"),
                ),
                Err(e) => self.say(
                    Level::Warning,
                    Some(unit),
                    &format!("{directive}={name}: {e}"),
                ),
            }
        }
    }

    fn cleanup(&mut self) {
        // What is queued goes out first (`every unit is stopped; exiting`):
        // the drain may wait for a held console.
        self.logs.flush(&self.epoll);
        // One deadline for both: the exit waits 5 s for a slow reader, not 10.
        let deadline = std::time::Instant::now() + EXIT_FLUSH_LIMIT;
        self.logs.drain_at_exit(&self.epoll, deadline);
        self.logs
            .flush_at_exit(deadline.saturating_duration_since(std::time::Instant::now()));
        // A clean exit leaves nothing to take over: the next manager vigil-init
        // may start boots afresh.
        self.forget_state();
        // Only if they are still ours: a manager started meanwhile (this one
        // took long to stop) may have bound its own at the same paths.
        let paths = [&self.socket_path, &self.notify_path];
        for (path, id) in paths.into_iter().zip(self.socket_files) {
            if id.is_some() && file_id(path) == id {
                let _ = fs::remove_file(path);
            }
        }
    }
}

/// A file's (device, inode), to tell it from another later at its path.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    fs::symlink_metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// The channel vigil-init left open, named by `VIGIL_INIT_FD`; a bad value is
/// reported and ignored (the manager then runs as if started by hand).
fn init_channel() -> Option<InitChannel> {
    let value = std::env::var("VIGIL_INIT_FD").ok()?;
    let taken = value
        .parse::<i32>()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
        .and_then(InitChannel::inherit);
    match taken {
        Ok(chan) => Some(chan),
        Err(e) => {
            note!("vigild: VIGIL_INIT_FD={value}: not a usable channel to vigil-init ({e})");
            None
        }
    }
}

/// The unit search path when no `--unit-path` is given: `VIGIL_UNIT_PATH`
/// (a trailing `:` appends the default), else the default: for root vigil's
/// directories then systemd's; for another user only `~/.config/vigil` (the
/// units of `~/.config/systemd/user` expect a `systemd --user` session; add
/// them through `VIGIL_UNIT_PATH` when they do not).
fn unit_path(uid: u32, env: Option<&str>) -> Vec<PathBuf> {
    let default: Vec<PathBuf> = if uid == 0 {
        vigil_units::load::SYSTEM_UNIT_PATH
            .iter()
            .map(PathBuf::from)
            .collect()
    } else {
        vec![default_config_dir(uid)]
    };
    match env {
        Some(v) if !v.is_empty() => vigil_units::load::parse_unit_path(v, &default),
        _ => default,
    }
}

fn default_config_dir(uid: u32) -> PathBuf {
    if uid == 0 {
        return PathBuf::from("/etc/vigil");
    }
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("vigil");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".config/vigil"),
        None => PathBuf::from("/etc/vigil"),
    }
}

#[cfg(test)]
#[test]
fn unit_path_defaults_and_environment() {
    let root = unit_path(0, None);
    assert_eq!(root.len(), 7);
    assert_eq!(root[0], Path::new("/etc/vigil"));
    assert_eq!(root[6], Path::new("/usr/lib/systemd/system"));
    assert_eq!(unit_path(0, Some("")), root);
    assert_eq!(unit_path(0, Some("/a:/b")), ["/a", "/b"].map(PathBuf::from));
    let appended = unit_path(0, Some("/a:"));
    assert_eq!(appended.len(), 8);
    assert_eq!(appended[0], Path::new("/a"));
    assert_eq!(appended[1], Path::new("/etc/vigil"));
    assert_eq!(unit_path(1000, None).len(), 1);
}

/// Makes the runtime directory (the control and notify sockets, `%t`) when it
/// is missing: 0700 for a user's manager, 0755 for root's (anyone may connect
/// to read). When vigild chose it (no `--socket` nor `VIGIL_SOCKET`), it must
/// be a directory of this user's (made writable by others, it is made private
/// again): a `/tmp/vigil-UID` another user made first would let them replace
/// the control socket and hear every command.
fn create_runtime_dir(dir: &Path, chosen_here: bool, uid: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
    let mode = if uid == 0 { 0o755 } else { 0o700 };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .with_context(|| format!("creating the runtime directory {}", dir.display()))?;
    if !chosen_here {
        return Ok(());
    }
    let meta = fs::symlink_metadata(dir)
        .with_context(|| format!("checking the runtime directory {}", dir.display()))?;
    let why = if !meta.is_dir() {
        "it is not a directory"
    } else if meta.uid() != uid {
        "another user owns it"
    } else {
        // Ours, but others may write to it (an older vigild made it under
        // umask 002): ours to fix.
        if meta.mode() & 0o022 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(mode)).with_context(|| {
                format!("making the runtime directory {} {mode:o}", dir.display())
            })?;
        }
        return Ok(());
    };
    anyhow::bail!(
        "the runtime directory {} is not usable: {why} (owner uid {}, mode {:o}); \
         refusing to put the control socket where another user could replace it; \
         remove it, or set XDG_RUNTIME_DIR or --socket",
        dir.display(),
        meta.uid(),
        meta.mode() & 0o7777
    )
}

/// `control.sock` -> `control.notify`, beside it: each manager its own notify socket.
fn notify_name(socket: &Path) -> String {
    let stem = socket
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "vigil".into());
    format!("{stem}.notify")
}

fn bind_control_socket(path: &Path) -> anyhow::Result<UnixListener> {
    // Anyone may connect (mode 0666); what a peer may do is decided by its
    // credentials. A stale socket of a manager that died is replaced; a live one
    // is refused.
    UnixListener::bind(path, 0o666).map_err(|e| {
        if e.kind() == io::ErrorKind::AddrInUse {
            anyhow::anyhow!(
                "another manager is already listening on {} (use --socket to choose another path)",
                path.display()
            )
        } else {
            anyhow::Error::new(e).context(format!("binding the control socket {}", path.display()))
        }
    })
}

/// The notify socket: anyone may send to it (mode 0666: services may run as
/// other users), what they may say is decided by their credentials. A stale
/// one is replaced; one another manager has bound is refused, as a control
/// socket in use is.
fn bind_notify_socket(path: &Path) -> anyhow::Result<NotifySocket> {
    NotifySocket::bind(path, 0o666).map_err(|e| {
        if e.kind() == io::ErrorKind::AddrInUse {
            anyhow::anyhow!(
                "another manager uses the notify socket {} (its control socket has the same \
                 name before the extension: use another --socket name)",
                path.display()
            )
        } else {
            anyhow::Error::new(e).context(format!("binding the notify socket {}", path.display()))
        }
    })
}

/// Drops an fd from epoll before it is closed; errors are irrelevant then.
pub(crate) fn unwatch(epoll: &Epoll, fd: &OwnedFd) {
    let _ = epoll.delete(fd.as_fd());
}
