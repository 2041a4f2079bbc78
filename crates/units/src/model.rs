//! The one service model that every file format is a front end onto.
//!
//! These types are the validated, high layer: everything here has already been
//! checked by a loader (`unitfile` for systemd syntax, `yaml` for zinit syntax).
//! Nothing in this module does I/O, and nothing here knows which format a value
//! came from except [`Unit::source`], which is kept for messages.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// What kind of unit this is, from the suffix of its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnitKind {
    Service,
    Target,
    /// A `.socket` unit: listening sockets that start a service (`socket` module).
    Socket,
}

impl UnitKind {
    /// The suffix of a unit name of this kind, with its dot.
    pub fn suffix(self) -> &'static str {
        match self {
            UnitKind::Service => ".service",
            UnitKind::Target => ".target",
            UnitKind::Socket => ".socket",
        }
    }
}

/// Which front end a unit was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    UnitFile,
    Yaml,
    /// Made by vigil itself (for example a target that is referred to but has no file).
    Builtin,
}

/// A loaded unit: a service or a target.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// Full name with suffix: `web.service`, `multi-user.target`, `getty@tty1.service`.
    pub name: String,
    pub kind: UnitKind,
    /// The file the unit was read from (the main file).
    pub source: Option<PathBuf>,
    /// The drop-ins applied over it, in the order applied (`vigil status`
    /// lists them, as systemctl's `Drop-In:`).
    pub dropins: Sparse<Vec<PathBuf>>,
    pub format: Format,
    pub description: String,
    pub documentation: Sparse<Vec<String>>,
    pub deps: Dependencies,
    /// `DefaultDependencies=`: the loader adds systemd's implicit dependencies
    /// (docs/UNITS.md) to unit files when it is true.
    pub default_dependencies: bool,
    /// `RefuseManualStart=`: `vigil start` refuses it; dependencies still start it.
    pub refuse_manual_start: bool,
    /// `RefuseManualStop=`: `vigil stop` refuses it; dependencies still stop it.
    pub refuse_manual_stop: bool,
    /// `StopWhenUnneeded=`: stopped once no active unit wants or requires it.
    pub stop_when_unneeded: bool,
    /// `IgnoreOnIsolate=`: `vigil isolate` leaves it as it is (running or not).
    pub ignore_on_isolate: bool,
    /// `AllowIsolate=`: `vigil isolate` may take it as its target.
    pub allow_isolate: bool,
    pub start_limit: StartLimit,
    /// `Condition*=`: when they fail, the unit is skipped (stays inactive), not failed.
    pub conditions: Sparse<Vec<Condition>>,
    /// `Assert*=`: when they fail, the start fails.
    pub asserts: Sparse<Vec<Condition>>,
    pub install: Sparse<Install>,
    /// Present for services, absent for targets.
    pub service: Option<Service>,
    /// Present for sockets only.
    pub socket: Sparse<Option<Socket>>,
    /// `SuccessAction=`: what the manager does when the unit went from active
    /// to inactive (docs/UNITS.md).
    pub success_action: Option<UnitAction>,
    /// `FailureAction=`: ... when the unit entered the failed state.
    pub failure_action: Option<UnitAction>,
    /// `SuccessActionExitStatus=`: the manager's exit code for `exit`; unset:
    /// the unit's main exit code.
    pub success_action_exit_status: Option<u8>,
    /// `FailureActionExitStatus=`.
    pub failure_action_exit_status: Option<u8>,
    /// Directives that were recognised but are not enforced (for `vigil status`).
    pub not_enforced: Vec<String>,
}

/// What `SuccessAction=` / `FailureAction=` ask the manager to do (`none` is
/// no action at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitAction {
    pub kind: UnitActionKind,
    /// `-force` or `-immediate` was written: vigil runs the same orderly stop
    /// (docs/UNITS.md says why), so this is kept for messages only.
    pub forced: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitActionKind {
    /// Stop every unit, then the manager exits (`vigil shutdown`).
    Exit,
    Poweroff,
    /// Also `soft-reboot`: vigil has no userspace-only reboot.
    Reboot,
    Halt,
    Kexec,
}

impl UnitActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitActionKind::Exit => "exit",
            UnitActionKind::Poweroff => "poweroff",
            UnitActionKind::Reboot => "reboot",
            UnitActionKind::Halt => "halt",
            UnitActionKind::Kexec => "kexec",
        }
    }
}

/// Dependencies, all as full unit names (`x.service`). Requirement and ordering are
/// kept apart, as in systemd.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dependencies {
    pub requires: Vec<String>,
    pub wants: Vec<String>,
    pub binds_to: Sparse<Vec<String>>,
    pub part_of: Sparse<Vec<String>>,
    pub requisite: Sparse<Vec<String>>,
    pub conflicts: Vec<String>,
    pub after: Vec<String>,
    pub before: Vec<String>,
    pub on_failure: Sparse<Vec<String>>,
    /// `OnSuccess=`: started when this unit goes from active to inactive cleanly.
    pub on_success: Sparse<Vec<String>>,
    /// `PropagatesReloadTo=`: reloading this unit reloads these too (when active).
    pub propagates_reload_to: Sparse<Vec<String>>,
    /// `ReloadPropagatedFrom=`: reloading one of these reloads this unit (when active).
    pub reload_propagated_from: Sparse<Vec<String>>,
}

impl Dependencies {
    /// Runs `f` on every list, for what applies to all of them alike; the
    /// rarely used ones only when set, so that they stay out of the unit.
    pub fn for_each_list(&mut self, mut f: impl FnMut(&mut Vec<String>)) {
        for list in [
            &mut self.requires,
            &mut self.wants,
            &mut self.conflicts,
            &mut self.after,
            &mut self.before,
        ] {
            f(list);
        }
        for list in [
            &mut self.binds_to,
            &mut self.part_of,
            &mut self.requisite,
            &mut self.on_failure,
            &mut self.on_success,
            &mut self.propagates_reload_to,
            &mut self.reload_propagated_from,
        ] {
            list.shrink_with(&mut f);
        }
    }

    /// Removes repeated names from every list, keeping the first of each, in
    /// linear time.
    pub fn dedup(&mut self) {
        self.for_each_list(|list| {
            // A short list (a unit file's own, with its default dependencies)
            // is searched: no set to allocate for each of a thousand units.
            if list.len() <= 16 {
                let mut at = 1;
                while at < list.len() {
                    if list.get(..at).unwrap_or_default().contains(&list[at]) {
                        list.remove(at);
                    } else {
                        at += 1;
                    }
                }
                return;
            }
            // Which to keep, first, with the names borrowed: a copy of each
            // name into the set was one allocation per dependency.
            let mut seen = std::collections::HashSet::with_capacity(list.len());
            let keep: Vec<bool> = list.iter().map(|n| seen.insert(n.as_str())).collect();
            let mut keep = keep.into_iter();
            list.retain(|_| keep.next().unwrap_or(true));
        });
    }
}

/// `StartLimitIntervalSec=` and `StartLimitBurst=`: more than `burst` starts within
/// `interval` put the unit in `failed (start limit hit)`. An interval of zero disables it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartLimit {
    pub interval: Duration,
    pub burst: u32,
}

impl Default for StartLimit {
    fn default() -> Self {
        // systemd's DefaultStartLimitIntervalSec=10s, DefaultStartLimitBurst=5.
        StartLimit {
            interval: Duration::from_secs(10),
            burst: 5,
        }
    }
}

/// One `Condition*=` or `Assert*=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub kind: ConditionKind,
    /// `|` prefix: a triggering condition; the set passes if any triggering one passes.
    pub trigger: bool,
    /// `!` prefix: the test is inverted.
    pub negate: bool,
    pub arg: String,
    /// Where it was written, for `vigil status` ("ConditionPathExists=/x at a.service:7").
    pub line: u32,
}

/// Every `Condition*=`/`Assert*=` kind vigil evaluates ([`crate::condition`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionKind {
    PathExists,
    PathIsDirectory,
    FileIsExecutable,
    DirectoryNotEmpty,
    FileNotEmpty,
    PathExistsGlob,
    PathIsSymbolicLink,
    PathIsMountPoint,
    PathIsReadWrite,
    NeedsUpdate,
    KernelCommandLine,
    Virtualization,
    Capability,
    ACPower,
    Host,
    Architecture,
    Security,
    User,
    Group,
    Environment,
    FirstBoot,
    KernelVersion,
    OSRelease,
    Memory,
    CPUs,
    Firmware,
    PathIsEncrypted,
    ControlGroupController,
    Credential,
}

impl ConditionKind {
    /// Every kind, in the order the directives are registered.
    pub const ALL: [ConditionKind; 29] = [
        ConditionKind::PathExists,
        ConditionKind::PathIsDirectory,
        ConditionKind::FileIsExecutable,
        ConditionKind::DirectoryNotEmpty,
        ConditionKind::FileNotEmpty,
        ConditionKind::PathExistsGlob,
        ConditionKind::PathIsSymbolicLink,
        ConditionKind::PathIsMountPoint,
        ConditionKind::PathIsReadWrite,
        ConditionKind::NeedsUpdate,
        ConditionKind::KernelCommandLine,
        ConditionKind::Virtualization,
        ConditionKind::Capability,
        ConditionKind::ACPower,
        ConditionKind::Host,
        ConditionKind::Architecture,
        ConditionKind::Security,
        ConditionKind::User,
        ConditionKind::Group,
        ConditionKind::Environment,
        ConditionKind::FirstBoot,
        ConditionKind::KernelVersion,
        ConditionKind::OSRelease,
        ConditionKind::Memory,
        ConditionKind::CPUs,
        ConditionKind::Firmware,
        ConditionKind::PathIsEncrypted,
        ConditionKind::ControlGroupController,
        ConditionKind::Credential,
    ];

    /// The directive name without `Condition`/`Assert`, e.g. `PathExists`.
    pub fn name(self) -> &'static str {
        match self {
            ConditionKind::PathExists => "PathExists",
            ConditionKind::PathIsDirectory => "PathIsDirectory",
            ConditionKind::FileIsExecutable => "FileIsExecutable",
            ConditionKind::DirectoryNotEmpty => "DirectoryNotEmpty",
            ConditionKind::FileNotEmpty => "FileNotEmpty",
            ConditionKind::PathExistsGlob => "PathExistsGlob",
            ConditionKind::PathIsSymbolicLink => "PathIsSymbolicLink",
            ConditionKind::PathIsMountPoint => "PathIsMountPoint",
            ConditionKind::PathIsReadWrite => "PathIsReadWrite",
            ConditionKind::NeedsUpdate => "NeedsUpdate",
            ConditionKind::KernelCommandLine => "KernelCommandLine",
            ConditionKind::Virtualization => "Virtualization",
            ConditionKind::Capability => "Capability",
            ConditionKind::ACPower => "ACPower",
            ConditionKind::Host => "Host",
            ConditionKind::Architecture => "Architecture",
            ConditionKind::Security => "Security",
            ConditionKind::User => "User",
            ConditionKind::Group => "Group",
            ConditionKind::Environment => "Environment",
            ConditionKind::FirstBoot => "FirstBoot",
            ConditionKind::KernelVersion => "KernelVersion",
            ConditionKind::OSRelease => "OSRelease",
            ConditionKind::Memory => "Memory",
            ConditionKind::CPUs => "CPUs",
            ConditionKind::Firmware => "Firmware",
            ConditionKind::PathIsEncrypted => "PathIsEncrypted",
            ConditionKind::ControlGroupController => "ControlGroupController",
            ConditionKind::Credential => "Credential",
        }
    }

    /// Whether the argument is an absolute path (or glob) in the file system.
    pub fn takes_path(self) -> bool {
        matches!(
            self,
            ConditionKind::PathExists
                | ConditionKind::PathIsDirectory
                | ConditionKind::FileIsExecutable
                | ConditionKind::DirectoryNotEmpty
                | ConditionKind::FileNotEmpty
                | ConditionKind::PathExistsGlob
                | ConditionKind::PathIsSymbolicLink
                | ConditionKind::PathIsMountPoint
                | ConditionKind::PathIsReadWrite
                | ConditionKind::NeedsUpdate
                | ConditionKind::PathIsEncrypted
        )
    }
}

/// The `[Install]` section: used by `vigil enable/disable`, not at run time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Install {
    pub wanted_by: Vec<String>,
    pub required_by: Vec<String>,
    pub alias: Vec<String>,
    pub also: Vec<String>,
    /// `DefaultInstance=` of a template: `vigil enable foo@.service` enables this instance.
    pub default_instance: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceType {
    Simple,
    Exec,
    Oneshot,
    Notify,
    Forking,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    No,
    Always,
    OnSuccess,
    OnFailure,
    OnAbnormal,
    OnAbort,
    OnWatchdog,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillMode {
    /// The whole process group (until cgroups arrive).
    ControlGroup,
    /// Only the main process.
    Process,
    /// SIGTERM to the main process, SIGKILL to the group.
    Mixed,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyAccess {
    None,
    Main,
    Exec,
    All,
}

/// Where a service's stdout or stderr goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// stdout: the manager's stdin/stdout (for stdout); stderr: the same as stdout.
    Inherit,
    Null,
    /// vigil's own log: the per-service ring and the configured sinks
    /// (`journal`, `syslog`, and zinit's `ring`).
    Log,
    /// vigil's own log and also the manager's stdout, each line prefixed by the
    /// unit name (`journal+console` and the other `+console` forms; zinit's
    /// `log: stdout`).
    Console,
    Kmsg,
    /// `tty`: `TTYPath=` (the same descriptor as stdin when that is the terminal).
    Tty,
    File {
        path: PathBuf,
        mode: FileMode,
    },
    /// `socket`: the `Accept=yes` connection the service instance was started
    /// for (vigil's log when there is none).
    Socket,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileMode {
    /// `file:` — opened for writing at offset 0 without truncating.
    Write,
    Append,
    Truncate,
}

/// A set of exit statuses (`SuccessExitStatus=`, `RestartPreventExitStatus=`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExitStatusSet {
    pub codes: Vec<i32>,
    pub signals: Vec<i32>,
}

/// `EnvironmentFile=`; a leading `-` makes a missing file silently ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentFile {
    pub path: PathBuf,
    pub optional: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkingDirectory {
    /// `~`: the home directory of `User=` (or of the manager's user).
    Home,
    Path(PathBuf),
}

/// `WorkingDirectory=`; a leading `-` makes a missing directory not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingDir {
    pub dir: WorkingDirectory,
    pub optional: bool,
}

/// A resource limit (`Limit*=`), one per `RLIMIT_*` of setrlimit(2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Cpu,
    Fsize,
    Data,
    Stack,
    Core,
    Rss,
    Nofile,
    As,
    Nproc,
    Memlock,
    Locks,
    Sigpending,
    Msgqueue,
    Nice,
    Rtprio,
    Rttime,
}

impl Resource {
    /// Every resource with its directive name.
    pub const ALL: [(Resource, &'static str); 16] = [
        (Resource::Cpu, "LimitCPU"),
        (Resource::Fsize, "LimitFSIZE"),
        (Resource::Data, "LimitDATA"),
        (Resource::Stack, "LimitSTACK"),
        (Resource::Core, "LimitCORE"),
        (Resource::Rss, "LimitRSS"),
        (Resource::Nofile, "LimitNOFILE"),
        (Resource::As, "LimitAS"),
        (Resource::Nproc, "LimitNPROC"),
        (Resource::Memlock, "LimitMEMLOCK"),
        (Resource::Locks, "LimitLOCKS"),
        (Resource::Sigpending, "LimitSIGPENDING"),
        (Resource::Msgqueue, "LimitMSGQUEUE"),
        (Resource::Nice, "LimitNICE"),
        (Resource::Rtprio, "LimitRTPRIO"),
        (Resource::Rttime, "LimitRTTIME"),
    ];

    /// The directive that sets this limit (`LimitNOFILE`).
    pub fn directive(self) -> &'static str {
        Resource::ALL
            .iter()
            .find(|(r, _)| *r == self)
            .map_or("Limit", |(_, n)| n)
    }
}

/// Where a service's stdin comes from (`StandardInput=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Null,
    /// `tty`, `tty-force`, `tty-fail`: `TTYPath=` as stdin and controlling terminal.
    Tty(TtyMode),
    /// `data`: the bytes of `StandardInputText=`/`StandardInputData=`.
    Data,
    /// `file:PATH`, opened read-only.
    File(PathBuf),
    /// `socket`: the `Accept=yes` connection the service instance was started
    /// for (`/dev/null` when there is none, as systemd does).
    Socket,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtyMode {
    /// `tty`: take the terminal if no other session has it (vigil does not wait).
    Try,
    /// `tty-force`: take it even from another session.
    Force,
    /// `tty-fail`: fail the start if another session has it.
    Fail,
}

/// The five kinds of `*Directory=` a service may ask the manager to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectoryKind {
    Runtime,
    State,
    Cache,
    Logs,
    Configuration,
}

impl DirectoryKind {
    pub const ALL: [DirectoryKind; 5] = [
        DirectoryKind::Runtime,
        DirectoryKind::State,
        DirectoryKind::Cache,
        DirectoryKind::Logs,
        DirectoryKind::Configuration,
    ];

    /// The directive (`RuntimeDirectory`); its mode directive adds `Mode`.
    pub fn directive(self) -> &'static str {
        match self {
            DirectoryKind::Runtime => "RuntimeDirectory",
            DirectoryKind::State => "StateDirectory",
            DirectoryKind::Cache => "CacheDirectory",
            DirectoryKind::Logs => "LogsDirectory",
            DirectoryKind::Configuration => "ConfigurationDirectory",
        }
    }

    /// The variable the full paths are exported in (`RUNTIME_DIRECTORY`).
    pub fn variable(self) -> &'static str {
        match self {
            DirectoryKind::Runtime => "RUNTIME_DIRECTORY",
            DirectoryKind::State => "STATE_DIRECTORY",
            DirectoryKind::Cache => "CACHE_DIRECTORY",
            DirectoryKind::Logs => "LOGS_DIRECTORY",
            DirectoryKind::Configuration => "CONFIGURATION_DIRECTORY",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One kind of `*Directory=`: relative paths (validated: no `..`, not absolute)
/// and the mode of the innermost directory of each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directories {
    pub paths: Vec<PathBuf>,
    pub mode: u32,
}

impl Default for Directories {
    fn default() -> Self {
        Directories {
            paths: Vec::new(),
            mode: 0o755,
        }
    }
}

/// `RuntimeDirectoryPreserve=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preserve {
    /// Removed whenever the service stops (also before an automatic restart).
    #[default]
    No,
    /// Never removed by vigil.
    Yes,
    /// Kept across automatic restarts, removed when the service stops.
    Restart,
}

/// `IOSchedulingClass=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoClass {
    /// `none` (kernel class 0): the priority follows the nice value.
    None = 0,
    Realtime = 1,
    BestEffort = 2,
    Idle = 3,
}

/// `CPUSchedulingPolicy=`, with the kernel's SCHED_* numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuPolicy {
    Other = 0,
    Fifo = 1,
    Rr = 2,
    Batch = 3,
    Idle = 5,
}

impl CpuPolicy {
    pub fn is_realtime(self) -> bool {
        matches!(self, CpuPolicy::Fifo | CpuPolicy::Rr)
    }
}

/// `None` is `infinity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

/// One command line from an `Exec*=` directive, split into words but not yet
/// expanded: `$VAR`, `${VAR}` and `$MAINPID` are expanded at spawn time with
/// systemd's rules (a word that is exactly `$VAR` splits at whitespace,
/// `${VAR}` never splits).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecCommand {
    /// The program to execute (absolute, or a bare name looked up in PATH).
    pub program: String,
    /// The argument vector; `argv[0]` is the program unless `@` gave another.
    pub argv: Vec<String>,
    /// `-`: a failing exit status is treated as success.
    pub ignore_failure: bool,
    /// `@`: the second word is passed as `argv[0]`.
    pub arg0_override: bool,
    /// `:`: no environment variable substitution.
    pub no_expand: bool,
    /// `+`: runs with the manager's full privileges: no `User=`, `Group=`,
    /// `SupplementaryGroups=`, `CapabilityBoundingSet=`, `AmbientCapabilities=`.
    pub full_privileges: bool,
    /// `!`: runs without `User=`, `Group=` and `SupplementaryGroups=` (the
    /// manager's user), under the service's other restrictions.
    pub keep_credentials: bool,
    /// `!` / `!!`: ambient-capability privilege elevation (`!!` changes nothing on
    /// a kernel with ambient capabilities).
    pub ambient: bool,
    /// Where the line came from, for messages (`a.service:12`).
    pub line: u32,
    /// The file of that line when it is a drop-in; `None`: the unit's own file.
    pub dropin: Option<Arc<Path>>,
}

/// The `[Service]` section (or a zinit YAML service).
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub service_type: ServiceType,
    pub exec_start: Vec<ExecCommand>,
    /// `ExecCondition=`: run before `ExecStartPre=`; exit 1..254 skips the unit.
    pub exec_condition: Sparse<Vec<ExecCommand>>,
    pub exec_start_pre: Sparse<Vec<ExecCommand>>,
    pub exec_start_post: Sparse<Vec<ExecCommand>>,
    pub exec_stop: Sparse<Vec<ExecCommand>>,
    pub exec_stop_post: Sparse<Vec<ExecCommand>>,
    pub exec_reload: Sparse<Vec<ExecCommand>>,
    pub remain_after_exit: bool,
    pub restart: RestartPolicy,
    pub restart_sec: Duration,
    /// `None` is infinity.
    pub timeout_start: Option<Duration>,
    /// `None` is infinity.
    pub timeout_stop: Option<Duration>,
    /// `Environment=` in order; later assignments of the same name win.
    pub environment: Vec<(String, String)>,
    pub environment_files: Sparse<Vec<EnvironmentFile>>,
    /// `PassEnvironment=`: names whose values come from the manager's own
    /// environment, each once, in order.
    pub pass_environment: Sparse<Vec<String>>,
    /// `UnsetEnvironment=`: names, or exact `NAME=VALUE` assignments, removed
    /// from the finished environment; each once, in order.
    pub unset_environment: Sparse<Vec<String>>,
    /// `ExecSearchPath=` (a YAML service's `env` PATH): the directories, as a
    /// colon-separated list, where a program named without a `/` is looked
    /// for; None: the fixed default path.
    pub exec_search_path: Sparse<Option<String>>,
    pub working_directory: Sparse<Option<WorkingDir>>,
    pub user: Sparse<Option<String>>,
    pub group: Sparse<Option<String>>,
    pub kill_mode: KillMode,
    pub kill_signal: i32,
    pub send_sigkill: bool,
    pub success_exit_status: Sparse<ExitStatusSet>,
    pub restart_prevent_exit_status: Sparse<ExitStatusSet>,
    /// `RestartForceExitStatus=`: a main exit listed here restarts the service
    /// whatever Restart= says (RestartPreventExitStatus= still wins).
    pub restart_force_exit_status: Sparse<ExitStatusSet>,
    pub pid_file: Sparse<Option<PathBuf>>,
    /// `GuessMainPID=`: Type=forking without PIDFile= looks for the main PID
    /// among the processes the start process left behind.
    pub guess_main_pid: bool,
    /// `WatchdogSec=`; `None`: no watchdog.
    pub watchdog: Option<Duration>,
    /// `WatchdogSignal=`: sent when the watchdog fires (SIGABRT by default).
    pub watchdog_signal: i32,
    /// `Type=notify-reload` (kept as `Notify` in `service_type`): a reload sends
    /// `reload_signal` to the main process and lasts until it says READY=1.
    pub notify_reload: bool,
    /// `ReloadSignal=` (SIGHUP by default).
    pub reload_signal: i32,
    /// `TimeoutAbortSec=`: how long after the watchdog signal before SIGKILL
    /// (TimeoutStopSec= when unset; `None` is infinity).
    pub timeout_abort: Option<Duration>,
    pub notify_access: NotifyAccess,
    pub stdout: Output,
    pub stderr: Output,
    pub syslog_identifier: Sparse<Option<String>>,
    pub umask: u32,
    pub limits: Sparse<Vec<(Resource, Limit)>>,
    /// `StandardInput=`.
    pub stdin: Input,
    /// `StandardInputText=` and `StandardInputData=`, concatenated in order.
    pub stdin_data: Sparse<Vec<u8>>,
    /// `TTYPath=` (`/dev/console` when unset).
    pub tty_path: Sparse<Option<PathBuf>>,
    /// `SupplementaryGroups=` names or numbers, in order.
    pub supplementary_groups: Sparse<Vec<String>>,
    /// `DynamicUser=`.
    pub dynamic_user: bool,
    /// `PermissionsStartOnly=`: only the main command drops privileges.
    pub permissions_start_only: bool,
    /// `RuntimeDirectory=`, `StateDirectory=`, ... indexed by [`DirectoryKind`].
    pub directories: Sparse<[Directories; 5]>,
    pub runtime_directory_preserve: Preserve,
    /// `Nice=`, -20..19.
    pub nice: Option<i32>,
    /// `OOMScoreAdjust=`, -1000..1000.
    pub oom_score_adjust: Option<i32>,
    /// `IOSchedulingClass=`.
    pub io_class: Option<IoClass>,
    /// `IOSchedulingPriority=`, 0..7.
    pub io_priority: Option<u8>,
    pub cpu_policy: Option<CpuPolicy>,
    /// `CPUSchedulingPriority=`, 0..99.
    pub cpu_priority: Option<u32>,
    /// `IgnoreSIGPIPE=` (systemd's default: yes).
    pub ignore_sigpipe: bool,
    /// `NonBlocking=`: applies to passed sockets only, of which vigil has none yet.
    pub non_blocking: bool,
    /// `AmbientCapabilities=`: bit `n` is capability `n` (`CAP_NET_BIND_SERVICE`
    /// is bit 10). `~` alone sets every bit; the spawn keeps only those the
    /// manager's bounding set has.
    pub ambient_capabilities: u64,
    /// `CapabilityBoundingSet=`, in the same bits; `None` (unset) keeps the
    /// manager's bounding set.
    pub capability_bounding_set: Option<u64>,
    /// zinit's `test`: a readiness probe run until it succeeds.
    pub ready_test: Sparse<Option<ExecCommand>>,
    /// `Sockets=`: socket units whose descriptors this service gets (besides
    /// those whose `Service=` names it).
    pub sockets: Sparse<Vec<String>>,
    /// `BusName=`: recorded and shown by `vigil status`; vigil has no D-Bus, so
    /// a `Type=dbus` service is ready once started (docs/COMPATIBILITY.md).
    pub bus_name: Sparse<Option<String>>,
}

impl Default for Service {
    /// systemd's defaults for a `[Service]` section.
    fn default() -> Self {
        Service {
            service_type: ServiceType::Simple,
            exec_start: Vec::new(),
            exec_condition: Sparse::default(),
            exec_start_pre: Sparse::default(),
            exec_start_post: Sparse::default(),
            exec_stop: Sparse::default(),
            exec_stop_post: Sparse::default(),
            exec_reload: Sparse::default(),
            remain_after_exit: false,
            restart: RestartPolicy::No,
            restart_sec: Duration::from_millis(100),
            timeout_start: Some(Duration::from_secs(90)),
            timeout_stop: Some(Duration::from_secs(90)),
            environment: Vec::new(),
            environment_files: Sparse::default(),
            pass_environment: Sparse::default(),
            unset_environment: Sparse::default(),
            exec_search_path: Sparse::default(),
            working_directory: Sparse::default(),
            user: Sparse::default(),
            group: Sparse::default(),
            kill_mode: KillMode::ControlGroup,
            kill_signal: 15, // SIGTERM
            send_sigkill: true,
            success_exit_status: Sparse::default(),
            restart_prevent_exit_status: Sparse::default(),
            restart_force_exit_status: Sparse::default(),
            pid_file: Sparse::default(),
            guess_main_pid: true,
            watchdog: None,
            watchdog_signal: 6, // SIGABRT
            notify_reload: false,
            reload_signal: 1, // SIGHUP
            timeout_abort: Some(Duration::from_secs(90)),
            notify_access: NotifyAccess::None,
            stdout: Output::Log,
            stderr: Output::Inherit,
            syslog_identifier: Sparse::default(),
            umask: 0o022,
            limits: Sparse::default(),
            stdin: Input::Null,
            stdin_data: Sparse::default(),
            tty_path: Sparse::default(),
            supplementary_groups: Sparse::default(),
            dynamic_user: false,
            permissions_start_only: false,
            directories: Sparse::default(),
            runtime_directory_preserve: Preserve::No,
            nice: None,
            oom_score_adjust: None,
            io_class: None,
            io_priority: None,
            cpu_policy: None,
            cpu_priority: None,
            ignore_sigpipe: true,
            non_blocking: false,
            ambient_capabilities: 0,
            capability_bounding_set: None,
            ready_test: Sparse::default(),
            sockets: Sparse::default(),
            bus_name: Sparse::default(),
        }
    }
}

/// The `[Socket]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    /// Every `Listen*=` line, in order.
    pub listen: Vec<Listen>,
    /// `SocketMode=`, for unix sockets and FIFOs.
    pub socket_mode: u32,
    /// `DirectoryMode=`, for parent directories created.
    pub directory_mode: u32,
    pub user: Option<String>,
    pub group: Option<String>,
    /// `Service=`, defaulting to the socket's own name with `.service`.
    pub service: String,
    /// `Symlinks=`: links made to the unit's one socket or FIFO path.
    pub symlinks: Vec<PathBuf>,
    pub backlog: u32,
    /// `FileDescriptorName=`, defaulting to the socket unit's name.
    pub fd_name: String,
    /// `Accept=yes`: the manager accepts each connection and starts an
    /// instance `STEM@K.service` of the template `service` for it.
    pub accept: bool,
    /// `MaxConnections=`: with `Accept=yes`, how many instances run at once.
    pub max_connections: u32,
    /// `TriggerLimitIntervalSec=` and `TriggerLimitBurst=`, defaults resolved.
    pub trigger_limit: TriggerLimit,
    pub remove_on_stop: bool,
    pub pass_credentials: bool,
    pub reuse_port: bool,
    pub free_bind: bool,
    /// `BindIPv6Only=`: IPV6_V6ONLY on IPv6 sockets, `Some(true)` for
    /// `ipv6-only`, `Some(false)` for `both`; `None` (`default`) leaves the
    /// kernel's default (`net.ipv6.bindv6only`), except for a port alone,
    /// which listens on IPv4 too.
    pub bind_ipv6_only: Option<bool>,
    /// `ReceiveBuffer=`, `SendBuffer=`: bytes (udevd's kernel socket asks for
    /// 128M: coldplug's burst of events must not overflow it).
    pub receive_buffer: Option<u64>,
    pub send_buffer: Option<u64>,
}

/// systemd's default for `MaxConnections=`.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 64;

/// `TriggerLimitIntervalSec=` and `TriggerLimitBurst=`: more than `burst`
/// triggers (with `Accept=yes`, connections) within `interval` of the first
/// fail the socket unit, rather than let it spin. Either one 0 disables it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TriggerLimit {
    pub interval: Duration,
    pub burst: u32,
}

impl TriggerLimit {
    /// systemd's defaults: 2 s, and a burst of 200 with `Accept=yes`, where
    /// frequent starts are the normal case, else 20.
    pub fn default_for(accept: bool) -> TriggerLimit {
        TriggerLimit {
            interval: Duration::from_secs(2),
            burst: if accept { 200 } else { 20 },
        }
    }

    /// Whether the limit is off (`TriggerLimitIntervalSec=0` or `TriggerLimitBurst=0`).
    pub fn is_disabled(&self) -> bool {
        self.interval.is_zero() || self.burst == 0
    }
}

/// systemd's `SOMAXCONN` default for `Backlog=`.
pub const DEFAULT_BACKLOG: u32 = 4096;

impl Socket {
    /// systemd's defaults for a socket unit named `name` (`x.socket`).
    pub fn new(name: &str) -> Socket {
        let stem = name.strip_suffix(".socket").unwrap_or(name);
        Socket {
            listen: Vec::new(),
            socket_mode: 0o666,
            directory_mode: 0o755,
            user: None,
            group: None,
            service: format!("{stem}.service"),
            symlinks: Vec::new(),
            backlog: DEFAULT_BACKLOG,
            // systemd.socket(5): the unit's name, `.socket` included
            // (go-systemd's listeners look for that suffix).
            fd_name: name.to_string(),
            accept: false,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            trigger_limit: TriggerLimit::default_for(false),
            remove_on_stop: false,
            pass_credentials: false,
            reuse_port: false,
            free_bind: false,
            bind_ipv6_only: None,
            receive_buffer: None,
            send_buffer: None,
        }
    }
}

/// One `Listen*=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub kind: ListenKind,
    pub address: ListenAddress,
    /// Where it was written.
    pub line: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenKind {
    Stream,
    Datagram,
    SequentialPacket,
    Fifo,
    /// `ListenNetlink=`: a raw netlink socket (udevd's kernel events).
    Netlink,
}

impl ListenKind {
    pub fn directive(self) -> &'static str {
        match self {
            ListenKind::Stream => "ListenStream",
            ListenKind::Datagram => "ListenDatagram",
            ListenKind::SequentialPacket => "ListenSequentialPacket",
            ListenKind::Fifo => "ListenFIFO",
            ListenKind::Netlink => "ListenNetlink",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    /// A file-system path: a unix socket, or the FIFO of `ListenFIFO=`.
    Path(PathBuf),
    /// `@name`: a unix socket in the abstract namespace (without the `@`).
    Abstract(String),
    /// A bare port: `[::]:PORT` dual-stack, or `0.0.0.0:PORT` without IPv6.
    Port(u16),
    /// `ADDRESS:PORT` or `[IPv6]:PORT`.
    Inet(std::net::SocketAddr),
    /// `ListenNetlink=FAMILY [GROUP]`: the family's name and protocol
    /// number, and the multicast groups to bind to.
    Netlink {
        family: String,
        protocol: u32,
        group: u32,
    },
}

impl std::fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddress::Path(p) => write!(f, "{}", p.display()),
            ListenAddress::Abstract(n) => write!(f, "@{n}"),
            ListenAddress::Port(p) => write!(f, "[::]:{p}"),
            ListenAddress::Inet(a) => write!(f, "{a}"),
            ListenAddress::Netlink { family, group, .. } => write!(f, "{family} {group}"),
        }
    }
}

impl Service {
    /// Whether a reload has something to do: `ExecReload=` to run, or a
    /// `Type=notify-reload` main process to signal (systemd's
    /// unit_can_reload for a service). Else a reload is refused.
    pub fn can_reload(&self) -> bool {
        !self.exec_reload.is_empty() || self.notify_reload
    }

    /// The `*Directory=` settings of one kind.
    pub fn directories(&self, kind: DirectoryKind) -> &Directories {
        // The array has one entry per kind.
        &self.directories[kind.index()]
    }

    pub fn directories_mut(&mut self, kind: DirectoryKind) -> &mut Directories {
        &mut self.directories[kind.index()]
    }
}

impl Unit {
    /// A unit with systemd's defaults and nothing else: the starting point of every loader.
    pub fn new(name: impl Into<String>, kind: UnitKind, format: Format) -> Unit {
        let name = name.into();
        Unit {
            socket: match kind {
                UnitKind::Socket => Some(Socket::new(&name)).into(),
                _ => Sparse::default(),
            },
            name,
            kind,
            source: None,
            format,
            description: String::new(),
            documentation: Sparse::default(),
            dropins: Sparse::default(),
            deps: Dependencies::default(),
            default_dependencies: true,
            refuse_manual_start: false,
            refuse_manual_stop: false,
            stop_when_unneeded: false,
            ignore_on_isolate: false,
            allow_isolate: false,
            start_limit: StartLimit::default(),
            conditions: Sparse::default(),
            asserts: Sparse::default(),
            install: Sparse::default(),
            service: match kind {
                UnitKind::Service => Some(Service::default()),
                UnitKind::Target | UnitKind::Socket => None,
            },
            success_action: None,
            failure_action: None,
            success_action_exit_status: None,
            failure_action_exit_status: None,
            not_enforced: Vec::new(),
        }
    }
}

impl ExecCommand {
    fn shrink_to_fit(&mut self) {
        self.program.shrink_to_fit();
        self.argv.iter_mut().for_each(String::shrink_to_fit);
        self.argv.shrink_to_fit();
    }
}

fn shrink_names(list: &mut Vec<String>) {
    list.iter_mut().for_each(String::shrink_to_fit);
    list.shrink_to_fit();
}

fn shrink_commands(list: &mut Vec<ExecCommand>) {
    list.iter_mut().for_each(ExecCommand::shrink_to_fit);
    list.shrink_to_fit();
}

impl Unit {
    /// Gives back the spare capacity the loaders' growing vectors and strings
    /// left: a manager keeps a thousand units for its whole life.
    pub fn shrink_to_fit(&mut self) {
        self.name.shrink_to_fit();
        self.description.shrink_to_fit();
        self.deps.for_each_list(shrink_names);
        self.conditions.shrink_with(Vec::shrink_to_fit);
        self.asserts.shrink_with(Vec::shrink_to_fit);
        self.documentation.shrink_with(shrink_names);
        shrink_names(&mut self.not_enforced);
        self.install.shrink();
        self.socket.shrink();
        if let Some(s) = &mut self.service {
            shrink_commands(&mut s.exec_start);
            for list in [
                &mut s.exec_condition,
                &mut s.exec_start_pre,
                &mut s.exec_start_post,
                &mut s.exec_stop,
                &mut s.exec_stop_post,
                &mut s.exec_reload,
            ] {
                list.shrink_with(shrink_commands);
            }
            s.environment.shrink_to_fit();
            s.directories.shrink();
            s.ready_test.shrink();
            s.success_exit_status.shrink();
            s.restart_prevent_exit_status.shrink();
            s.restart_force_exit_status.shrink();
            s.environment_files.shrink_with(Vec::shrink_to_fit);
            for list in [
                &mut s.pass_environment,
                &mut s.unset_environment,
                &mut s.supplementary_groups,
                &mut s.sockets,
            ] {
                list.shrink_with(shrink_names);
            }
            s.stdin_data.shrink_with(Vec::shrink_to_fit);
            s.limits.shrink_with(Vec::shrink_to_fit);
            s.user.shrink();
            s.group.shrink();
            s.exec_search_path.shrink();
            s.pid_file.shrink();
            s.tty_path.shrink();
            s.syslog_identifier.shrink();
            s.bus_name.shrink();
            s.working_directory.shrink();
        }
    }
}

/// A field most units leave at its default, kept out of the unit until it is
/// set: a manager holds every unit for its whole life, and room in each of a
/// thousand services for what few of them use (ExecReload=, the directories,
/// the exit status lists, a socket's settings...) cost a megabyte. It reads as
/// the default while unset; writing to it stores a value of its own.
pub struct Sparse<T: 'static>(Option<Box<T>>);

/// The default a [`Sparse`] field reads as while unset, made once.
pub trait Unset: Sized + Sync + Send + 'static {
    fn unset() -> &'static Self;
}

macro_rules! unset {
    ($($t:ty),* $(,)?) => {$(
        impl Unset for $t {
            fn unset() -> &'static Self {
                static UNSET: LazyLock<$t> = LazyLock::new(<$t>::default);
                &UNSET
            }
        }
    )*};
}

unset!(
    [Directories; 5],
    Option<String>,
    Option<PathBuf>,
    Option<WorkingDir>,
    Vec<Condition>,
    Option<ExecCommand>,
    ExitStatusSet,
    Vec<ExecCommand>,
    Vec<EnvironmentFile>,
    Vec<String>,
    Vec<u8>,
    Vec<PathBuf>,
    Vec<(Resource, Limit)>,
    Install,
    Option<Socket>,
);

impl<T> Sparse<T> {
    /// Whether a value of its own was ever stored (it may equal the default).
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }
}

impl<T: Unset + PartialEq> Sparse<T> {
    /// Gives the room back when the value is the default again.
    pub fn shrink(&mut self) {
        self.shrink_with(|_| {});
    }

    /// Runs `f` on the value when one is stored (never on the default), then
    /// gives the room back if it is the default again.
    pub fn shrink_with(&mut self, f: impl FnOnce(&mut T)) {
        if let Some(value) = &mut self.0 {
            f(value);
            if **value == *T::unset() {
                self.0 = None;
            }
        }
    }
}

impl<T> Default for Sparse<T> {
    fn default() -> Self {
        Sparse(None)
    }
}

impl<T> From<T> for Sparse<T> {
    fn from(value: T) -> Self {
        Sparse(Some(Box::new(value)))
    }
}

impl<A, T: FromIterator<A>> FromIterator<A> for Sparse<T> {
    fn from_iter<I: IntoIterator<Item = A>>(iter: I) -> Self {
        Sparse::from(T::from_iter(iter))
    }
}

impl<T: Unset> Deref for Sparse<T> {
    type Target = T;
    fn deref(&self) -> &T {
        match &self.0 {
            Some(value) => value,
            None => T::unset(),
        }
    }
}

impl<T: Unset + Clone> DerefMut for Sparse<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.get_or_insert_with(|| Box::new(T::unset().clone()))
    }
}

impl<T: Clone> Clone for Sparse<T> {
    fn clone(&self) -> Self {
        Sparse(self.0.clone())
    }
}

impl<'a, T: Unset> IntoIterator for &'a Sparse<T>
where
    &'a T: IntoIterator,
{
    type Item = <&'a T as IntoIterator>::Item;
    type IntoIter = <&'a T as IntoIterator>::IntoIter;
    fn into_iter(self) -> Self::IntoIter {
        Deref::deref(self).into_iter()
    }
}

/// Unset and set to the default are equal.
impl<T: Unset + PartialEq> PartialEq for Sparse<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Unset + Eq> Eq for Sparse<T> {}

impl<T: Unset + fmt::Debug> fmt::Debug for Sparse<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::Dependencies;

    #[test]
    fn dedup_keeps_the_first_of_each_name_in_short_and_long_lists() {
        let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let mut d = Dependencies {
            after: names(&["b", "a", "b", "c", "a"]),
            ..Dependencies::default()
        };
        // Longer than the lists that are searched instead of hashed.
        let long: Vec<String> = (0..40).map(|i| format!("u{}", i % 25)).collect();
        d.wants = long.clone();
        d.dedup();
        assert_eq!(d.after, names(&["b", "a", "c"]));
        assert_eq!(d.wants, long.get(..25).unwrap());
    }
}
