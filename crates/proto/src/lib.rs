//! The control protocol between `vigild` and its clients (`vigil`, later `vigil-web`):
//! line-delimited JSON over a unix stream socket, versioned.
//!
//! This crate only defines the messages and their encoding; it performs no I/O
//! beyond what a caller hands it. The protocol is documented in docs/PROTOCOL.md;
//! a change to a message here is a change to that document.

pub mod fuzzing;

use serde::{Deserialize, Serialize};

/// The protocol version this crate speaks. A request with another version gets
/// [`ErrorCode::UnsupportedVersion`].
pub const VERSION: u32 = 1;

/// The longest request line the manager reads; longer ones get
/// [`ErrorCode::TooLarge`] and are discarded up to the next newline.
pub const MAX_REQUEST: usize = 64 * 1024;

/// The `reason` of a unit whose file is gone while it runs (systemd's
/// `not-found`): it runs until stopped, and cannot be started.
pub const FILE_REMOVED: &str = "file removed";

/// The processes of a unit `kill` signals, as systemctl's `--kill-whom=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KillWhom {
    /// The main process only.
    Main,
    /// The control process (an `ExecStartPre=`, `ExecReload=`, `ExecStop=`...) only.
    Control,
    /// Every process of the unit: main, control, and their process groups.
    All,
}

/// One request line: `{"version":1,"id":7,"request":{"verb":"status","units":["web"]}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub version: u32,
    /// Chosen by the client, echoed in every reply to this request.
    #[serde(default)]
    pub id: u64,
    pub request: Request,
}

/// Everything a client may ask. `units` take names with or without `.service`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verb", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// The manager's version and identity.
    Ping {},
    List {},
    Status {
        units: Vec<String>,
        /// Log lines to include per unit.
        #[serde(default = "default_status_lines")]
        lines: usize,
    },
    /// Start units; unless `no_block`, the reply comes when each has settled
    /// (running, exited, failed or inactive).
    Start {
        units: Vec<String>,
        #[serde(default, skip_serializing_if = "is_false")]
        no_block: bool,
    },
    Stop {
        units: Vec<String>,
        #[serde(default, skip_serializing_if = "is_false")]
        no_block: bool,
    },
    Restart {
        units: Vec<String>,
        #[serde(default, skip_serializing_if = "is_false")]
        no_block: bool,
    },
    /// Reload units; unless `no_block`, the reply comes when each reload
    /// has ended, with `ok: false` and the reason when it failed.
    Reload {
        units: Vec<String>,
        #[serde(default, skip_serializing_if = "is_false")]
        no_block: bool,
    },
    /// systemctl's try-restart: restart the units that are active or
    /// activating; the others are left as they are (`ok`). Decided by the
    /// manager on its own state when the request is handled.
    TryRestart {
        units: Vec<String>,
        #[serde(default, skip_serializing_if = "is_false")]
        no_block: bool,
    },
    /// Reload each unit that can reload and is active; start one that can
    /// and is not; restart (start, when down) one that cannot.
    ReloadOrRestart {
        units: Vec<String>,
        #[serde(default, skip_serializing_if = "is_false")]
        no_block: bool,
    },
    /// [`Request::ReloadOrRestart`] of the active units only (a unit that
    /// cannot reload: active or activating, as try-restart); the others are
    /// left as they are (`ok`).
    TryReloadOrRestart {
        units: Vec<String>,
        #[serde(default, skip_serializing_if = "is_false")]
        no_block: bool,
    },
    /// systemctl isolate: start `unit` (a target with `AllowIsolate=yes`)
    /// and what it pulls in, and stop every other unit that is up but those
    /// with `IgnoreOnIsolate=yes` and what the units kept need. Unless
    /// `no_block`, the reply (`jobs`: the target's first, then each unit
    /// stopped) comes when the target has settled and each of those is down.
    Isolate {
        unit: String,
        #[serde(default, skip_serializing_if = "is_false")]
        no_block: bool,
    },
    Kill {
        unit: String,
        signal: i32,
        /// Which processes (`main`, `control`, `all`). Left out: `all` when
        /// `group` is set, else `main` (what a client before `whom` meant).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        whom: Option<KillWhom>,
        #[serde(default, skip_serializing_if = "is_false")]
        group: bool,
    },
    /// Log lines: of one unit, or of all interleaved by time. With `follow`, the
    /// reply is followed by one [`Reply`] per new line until the client hangs up.
    Log {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lines: Option<usize>,
        #[serde(default, skip_serializing_if = "is_false")]
        follow: bool,
        /// Every kept line filed at or after this wall-clock time (µs since
        /// the epoch), at most `lines` (the newest) when given: `vigil log
        /// --since`, and where a follower was when the manager re-executed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since_us: Option<u64>,
        /// Only the lines filed at or before this wall-clock time (µs since
        /// the epoch); not with `follow`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until_us: Option<u64>,
    },
    /// Rescan the configuration directories.
    Sync {},
    /// An empty list resets every failed unit.
    ResetFailed {
        #[serde(default)]
        units: Vec<String>,
    },
    Enable {
        units: Vec<String>,
    },
    /// Every unit file of the configuration directories whose name one of
    /// `patterns` matches (every one when none is given), with what
    /// `is-enabled` says of it.
    ListUnitFiles {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        patterns: Vec<String>,
    },
    /// Whether each unit is enabled: `jobs`, `state` in systemctl's words
    /// (`enabled`, `disabled`, `static`, `masked`, `bad`, `not-found`), `ok`
    /// when systemctl's is-enabled would succeed for it.
    IsEnabled {
        units: Vec<String>,
    },
    Disable {
        units: Vec<String>,
    },
    /// Link each name to /dev/null in the directory `enable` writes to; the
    /// configuration is then read again, so a masked unit cannot start.
    Mask {
        units: Vec<String>,
    },
    /// Remove those links (only links to /dev/null, only in that directory).
    Unmask {
        units: Vec<String>,
    },
    Graph {},
    Blame {},
    /// systemctl show: each unit's properties as data (the client names and
    /// formats them as systemd does); no unit named: the manager's own.
    /// A name that finds no unit is answered (`load_state` `not-found`),
    /// not refused, as systemctl show answers it.
    Show {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        units: Vec<String>,
    },
    /// Stop everything in order, then the manager exits; with `action`, it
    /// first asks vigil-init to power off, reboot or halt the machine once the
    /// manager is gone (root only: every mutating request is).
    Shutdown {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        action: Option<PowerAction>,
    },
    /// Replace the manager with the binary on disk (an upgrade), keeping every
    /// service, socket and log pipe; the reply comes before the exec, and the
    /// connection closes with it.
    Reexec {},
    /// The manager's state in systemctl's words (`is-system-running`); with
    /// `wait`, the reply comes once the boot is done (no longer
    /// `initializing` or `starting`).
    SystemState {
        #[serde(default, skip_serializing_if = "is_false")]
        wait: bool,
    },
    /// The units reachable from `unit` through `relation` (absent: what it
    /// pulls in, as `systemctl list-dependencies`), each with its own edges
    /// and state, for the client to draw as a tree.
    ListDependencies {
        unit: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        relation: Option<DependencyRelation>,
    },
    /// Every pending job (`list-jobs`).
    ListJobs {},
    /// What `default.target` is in the configuration directories.
    GetDefault {},
    /// Link `default.target` to `unit`'s file where `enable` links; the
    /// configuration is then read again.
    SetDefault {
        unit: String,
    },
    /// `vigil edit`: without `text`, where the edit of `unit` goes (an
    /// [`Body::EditPlan`]), nothing changed; with `text`, that text written
    /// there (an empty one removes a drop-in), then the configuration read
    /// again. The same options plan both, so the text goes where the plan
    /// said. Both are changes (root and the manager's user only), so that a
    /// peer who may not write is told so before an editor opens.
    Edit {
        unit: String,
        /// A whole copy of the unit file, not a drop-in.
        #[serde(default, skip_serializing_if = "is_false")]
        full: bool,
        /// The drop-in's name (`.conf` added when it lacks it); absent:
        /// `override.conf`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        drop_in: Option<String>,
        /// In the runtime directory (`/run/vigil`), not the first one.
        #[serde(default, skip_serializing_if = "is_false")]
        runtime: bool,
        /// A name with no unit file is edited all the same.
        #[serde(default, skip_serializing_if = "is_false")]
        force: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// `vigil revert`: remove each unit's drop-ins, a copy overriding its
    /// vendor file, and its mask from the directories vigil writes to; the
    /// configuration is then read again.
    Revert {
        units: Vec<String>,
    },
}

/// The edges `list-dependencies` follows, as systemctl's options choose them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DependencyRelation {
    /// Requires=, Requisite=, Wants=, BindsTo= and ConsistsOf= (PartOf=
    /// reversed): what the unit pulls in. The default.
    Forward,
    /// The same reversed, with the unit's own PartOf=: what pulls it in.
    Reverse,
    /// After= (and Before= of the others): what it is ordered after.
    After,
    /// Before= (and After= of the others): what it is ordered before.
    Before,
}

/// What vigil-init does once the manager has stopped everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PowerAction {
    Poweroff,
    Reboot,
    Halt,
}

impl PowerAction {
    pub fn as_str(self) -> &'static str {
        match self {
            PowerAction::Poweroff => "poweroff",
            PowerAction::Reboot => "reboot",
            PowerAction::Halt => "halt",
        }
    }
}

fn default_status_lines() -> usize {
    10
}

/// A field at its default is left out of a request: a manager from before
/// the field then understands the request (it refuses fields it does not
/// know), and the field reaches only managers that have it.
fn is_false(b: &bool) -> bool {
    !*b
}

impl Request {
    /// Whether the request changes state (and so needs a privileged peer).
    pub fn is_mutating(&self) -> bool {
        match self {
            Request::Ping {}
            | Request::List {}
            | Request::Status { .. }
            | Request::Log { .. }
            | Request::IsEnabled { .. }
            | Request::ListUnitFiles { .. }
            | Request::Graph {}
            | Request::Blame {}
            | Request::Show { .. }
            | Request::SystemState { .. }
            | Request::ListDependencies { .. }
            | Request::ListJobs {}
            | Request::GetDefault {} => false,
            Request::Start { .. }
            | Request::Stop { .. }
            | Request::Restart { .. }
            | Request::Reload { .. }
            | Request::TryRestart { .. }
            | Request::ReloadOrRestart { .. }
            | Request::TryReloadOrRestart { .. }
            | Request::Isolate { .. }
            | Request::Kill { .. }
            | Request::Sync {}
            | Request::ResetFailed { .. }
            | Request::Enable { .. }
            | Request::Disable { .. }
            | Request::Mask { .. }
            | Request::Unmask { .. }
            | Request::Shutdown { .. }
            | Request::Reexec {}
            | Request::SetDefault { .. }
            | Request::Edit { .. }
            | Request::Revert { .. } => true,
        }
    }

    /// The list of unit names (and patterns) the request names, empty for
    /// a request that takes one name or none: what the manager resolves
    /// name by name, and matches pattern by pattern against every unit.
    pub fn names(&self) -> &[String] {
        match self {
            Request::Status { units, .. }
            | Request::Start { units, .. }
            | Request::Stop { units, .. }
            | Request::Restart { units, .. }
            | Request::Reload { units, .. }
            | Request::TryRestart { units, .. }
            | Request::ReloadOrRestart { units, .. }
            | Request::TryReloadOrRestart { units, .. }
            | Request::ResetFailed { units }
            | Request::Enable { units }
            | Request::IsEnabled { units }
            | Request::Disable { units }
            | Request::Mask { units }
            | Request::Unmask { units }
            | Request::Show { units }
            | Request::Revert { units } => units,
            Request::ListUnitFiles { patterns } => patterns,
            Request::Ping {}
            | Request::List {}
            | Request::Isolate { .. }
            | Request::Kill { .. }
            | Request::Log { .. }
            | Request::Sync {}
            | Request::Graph {}
            | Request::Blame {}
            | Request::Shutdown { .. }
            | Request::Reexec {}
            | Request::SystemState { .. }
            | Request::ListDependencies { .. }
            | Request::ListJobs {}
            | Request::GetDefault {}
            | Request::SetDefault { .. }
            | Request::Edit { .. } => &[],
        }
    }
}

/// One reply line. Exactly one of `result` and `error` is present. Reply types
/// accept unknown fields, so a newer manager can add some without breaking clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub version: u32,
    pub id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Body>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Error>,
}

impl Reply {
    pub fn ok(id: u64, body: Body) -> Reply {
        Reply {
            version: VERSION,
            id,
            result: Some(body),
            error: None,
        }
    }

    pub fn err(id: u64, code: ErrorCode, message: impl Into<String>) -> Reply {
        Reply {
            version: VERSION,
            id,
            result: None,
            error: Some(Error {
                code,
                message: message.into(),
            }),
        }
    }
}

/// Why a request failed. Each code maps to one exit code of `vigil`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// Not JSON, not an object of the expected shape, unknown verb or field.
    BadRequest,
    TooLarge,
    UnsupportedVersion,
    /// The peer may only read (list, status, log, graph, blame).
    PermissionDenied,
    NoSuchUnit,
    /// The request does not fit the unit's or the manager's current state.
    NotAllowed,
    /// The operation was carried out and failed (a unit failed to start, ...).
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

/// The result of a successful request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Body {
    Pong {
        version: String,
        pid: u32,
        /// Whether the manager runs under vigil-init, and so can power the
        /// machine off (`shutdown ACTION`); absent from a manager before it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        under_init: Option<bool>,
    },
    Units {
        units: Vec<UnitSummary>,
    },
    Status {
        units: Vec<UnitStatus>,
        /// Names (and patterns) that found no unit: `no such unit: NAME`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        not_found: Vec<String>,
    },
    /// For start, stop, restart, reload, kill, reset-failed, enable,
    /// disable, mask, unmask.
    Jobs {
        jobs: Vec<JobResult>,
        /// What `enable`, `disable`, `mask` and `unmask` changed in the
        /// unit directory, in order.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        changes: Vec<FileChange>,
    },
    Log {
        lines: Vec<LogLine>,
    },
    /// `list-unit-files`, sorted as systemctl sorts them (by type, then name).
    UnitFiles {
        files: Vec<UnitFile>,
    },
    /// One more line of a followed log.
    LogLine {
        line: LogLine,
    },
    Synced {
        added: Vec<String>,
        removed: Vec<String>,
        changed: Vec<String>,
        /// The load errors of the configuration as read (`FILE:LINE: error: ...`),
        /// the generators that failed, and `warning: ...` lines (a unit
        /// directory that is not there).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        errors: Vec<String>,
    },
    Graph {
        dot: String,
    },
    Blame {
        entries: Vec<BlameEntry>,
    },
    /// `show`: the units' properties, one entry per unit found or name not
    /// found, in the order named; or, when no unit was named, the manager's.
    Show {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        units: Vec<UnitProperties>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        manager: Option<ManagerProperties>,
    },
    /// The manager is stopping everything and will exit.
    ShuttingDown,
    /// The manager is about to re-execute itself.
    Reexecuting,
    /// `system-state`: `initializing`, `starting`, `running`, `degraded`,
    /// `maintenance` or `stopping`.
    SystemState {
        state: String,
    },
    /// `list-dependencies`: `root` and every unit reachable from it, each
    /// with its edges of the relation asked for.
    Dependencies {
        root: String,
        units: Vec<DependencyNode>,
    },
    /// `list-jobs`, in the order of the units' names.
    JobQueue {
        jobs: Vec<QueuedJob>,
    },
    /// `get-default`: the unit `default.target` is (its own name when it is
    /// no alias).
    DefaultTarget {
        unit: String,
    },
    /// `edit` without a text: where it goes and what its editor shows.
    EditPlan {
        /// The unit edited (an alias's own, `.service` added).
        unit: String,
        /// The file the edit writes.
        path: String,
        /// The file whose text the editor starts with: `path` when it
        /// exists, the unit's file for a first full copy; absent for a new
        /// file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        original: Option<String>,
        /// A drop-in's: the unit's file and the drop-ins applied to it, in
        /// order, shown below the text as comments.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        files: Vec<String>,
    },
}

/// One unit of a `list-dependencies` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DependencyNode {
    pub name: String,
    /// systemctl's active state: `active`, `reloading`, `inactive`,
    /// `failed`, `activating`, `deactivating` (a name no unit has:
    /// `inactive`, as systemctl shows one not found).
    pub state: String,
    /// The units this one reaches through the relation asked for.
    #[serde(default)]
    pub deps: Vec<String>,
}

/// One row of `vigil list-jobs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedJob {
    pub unit: String,
    /// `start`, `stop`, `restart` or `reload`.
    #[serde(rename = "type")]
    pub job_type: String,
    /// `waiting` (for the units it is ordered against) or `running`.
    pub state: String,
}

impl Body {
    /// A `jobs` reply that changed no file.
    pub fn jobs(jobs: Vec<JobResult>) -> Body {
        Body::Jobs {
            jobs,
            changes: Vec::new(),
        }
    }
}

/// A change a request made to a unit directory, as systemd's install
/// changes: what `vigil` says of `enable`, `disable`, `mask` and `unmask`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum FileChange {
    /// The symlink `path` was made; `target` is the file it names, made
    /// absolute (the link itself may be relative).
    Symlink { path: String, target: String },
    /// The symlink `path` was removed (`revert`, `edit`: the file or the
    /// directory).
    Unlink { path: String },
    /// The file `path` was written (`edit`).
    Write { path: String },
}

/// One row of `vigil list-unit-files`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitFile {
    /// The unit's name (`ssh.service`, `getty@.service`).
    pub unit_file: String,
    /// `enabled`, `disabled`, `static`, `masked`, `bad` or `alias`.
    pub state: String,
}

/// One row of `vigil list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitSummary {
    pub name: String,
    pub state: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub pid: Option<u32>,
    #[serde(default)]
    pub description: String,
    /// Automatic restarts since the last manual start.
    #[serde(default)]
    pub restarts: u32,
}

/// `vigil status NAME`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitStatus {
    pub name: String,
    pub description: String,
    pub state: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub pid: Option<u32>,
    /// Wall-clock time (microseconds since the epoch) the unit entered its state.
    pub since_us: u64,
    pub restarts: u32,
    /// `exited 3` or `killed by SIGKILL`.
    #[serde(default)]
    pub last_exit: Option<String>,
    /// The last `STATUS=` a notify service sent.
    #[serde(default)]
    pub status_text: Option<String>,
    /// The last `ERRNO=` a notify service sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_errno: Option<i32>,
    /// In `restarting`: wall-clock microseconds of the next try.
    #[serde(default)]
    pub next_restart_us: Option<u64>,
    /// The file the unit was read from.
    #[serde(default)]
    pub source: Option<String>,
    /// The drop-ins applied over it, in order (systemctl's `Drop-In:`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop_ins: Vec<String>,
    /// Directives that were read but are not enforced yet.
    #[serde(default)]
    pub not_enforced: Vec<String>,
    /// `BusName=`: recorded only (vigil has no D-Bus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus_name: Option<String>,
    /// The ordering cycle the unit is part of, if any.
    #[serde(default)]
    pub cycle: Option<String>,
    /// What its start job waits for: the units it is ordered after that
    /// have not settled, and those ordered after it that stop first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting_for: Vec<String>,
    /// A socket unit's `Listen*=` lines: `ADDRESS (ListenStream)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listen: Vec<String>,
    /// The service a socket unit starts (a template with `Accept=yes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggers: Option<String>,
    /// The socket units that start this service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggered_by: Vec<String>,
    /// Its unit file or drop-ins changed on disk since the manager read them
    /// (systemd's NeedDaemonReload=): `vigil status` warns, `vigil cat`
    /// says what it prints is not what is loaded.
    #[serde(default, skip_serializing_if = "is_false")]
    pub need_daemon_reload: bool,
    #[serde(default)]
    pub logs: Vec<LogLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    pub unit: String,
    /// The state the unit settled in (or is in, with `no_block`).
    pub state: String,
    #[serde(default)]
    pub reason: Option<String>,
    /// Whether the job did what was asked.
    pub ok: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// Wall-clock microseconds since the epoch.
    pub time_us: u64,
    pub unit: String,
    /// `stdout`, `stderr` or `vigil` (the manager's own line about the unit).
    pub stream: String,
    pub line: String,
    /// The unit's `SyslogIdentifier=`, when it sets one: what the line is shown
    /// as coming from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Lines lost before this one (ring eviction is not counted; overflow is).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped_before: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlameEntry {
    pub unit: String,
    /// Time from the start request to ready, in microseconds.
    pub time_us: u64,
}

/// What `show` knows of one unit: facts in vigil's terms or already in
/// systemd's where the manager alone can say them (`result`, `load_state`),
/// left for the client to name and format as systemctl does. A field vigil
/// cannot know is absent, never a made-up default. Times are wall-clock
/// microseconds since the epoch; durations microseconds, `u64::MAX` for
/// infinity (systemd's USEC_INFINITY).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UnitProperties {
    /// The unit's name; for a name that found none, the name asked for.
    pub name: String,
    /// The name and its aliases, sorted after it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// systemd's word: `loaded`, `not-found`, `bad-setting`, `masked`.
    pub load_state: String,
    /// Why it did not load (the load error, `no such unit: NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_error: Option<String>,
    /// vigil's state (`running`, `waiting`...); `inactive` when not loaded.
    pub state: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// What `is-enabled` says of it (absent: not read, or no such unit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_file_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fragment_path: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop_in_paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_pid: Option<u32>,
    /// The main process of the last run, kept after it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_main_pid: Option<u32>,
    /// How the last main process ended: 1 exited, 2 killed (CLD_EXITED,
    /// CLD_KILLED), with its exit code or signal number in `exec_main_status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_main_code: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_main_status: Option<i32>,
    #[serde(default)]
    pub restarts: u32,
    /// systemd's `Result=` word (`success`, `exit-code`, `signal`,
    /// `timeout`, `start-limit-hit`, `watchdog`, `protocol`, `resources`);
    /// absent when vigil's reason has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_change_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_exit_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_enter_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_exit_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_enter_us: Option<u64>,
    /// Whether the conditions held (`ConditionResult=`) and the asserts
    /// (`AssertResult=`) at their last check; false before any, as systemd.
    #[serde(default)]
    pub condition_result: bool,
    #[serde(default)]
    pub assert_result: bool,
    /// When they were last checked (absent: never since it was loaded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assert_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_errno: Option<i32>,
    /// The control process running (ExecStartPre=, ExecReload=, ExecStop=...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_pid: Option<u32>,
    /// `StartLimitIntervalSec=` (µs, 18446744073709551615 for infinity) and
    /// `StartLimitBurst=`: absent for a unit that did not load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_limit_interval_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_limit_burst: Option<u32>,
    /// A socket unit's settings and counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<SocketProperties>,
    /// A service's settings (absent for a target, a socket, a name not found).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceProperties>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deps: Option<DependencyProperties>,
    #[serde(default)]
    pub can_start: bool,
    #[serde(default)]
    pub can_stop: bool,
    #[serde(default)]
    pub can_reload: bool,
    #[serde(default)]
    pub refuse_manual_start: bool,
    #[serde(default)]
    pub refuse_manual_stop: bool,
    /// Its unit file or drop-ins changed on disk since the manager read them
    /// (systemd's NeedDaemonReload=): `sync` would read it anew.
    #[serde(default, skip_serializing_if = "is_false")]
    pub need_daemon_reload: bool,
}

/// The `[Service]` settings `show` reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceProperties {
    /// `simple`, `exec`, `oneshot`, `notify`, `notify-reload`, `forking`.
    #[serde(rename = "type")]
    pub service_type: String,
    /// `no`, `always`, `on-failure`... as written.
    pub restart: String,
    pub restart_us: u64,
    pub timeout_start_us: u64,
    pub timeout_stop_us: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exec_start: Vec<ExecLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// As systemd says it: `~` for the home directory, `!` before a
    /// directory that may be missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    /// `NAME=VALUE`, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<String>,
    /// `control-group`, `process`, `mixed`, `none`.
    pub kill_mode: String,
    pub kill_signal: i32,
    pub send_sigkill: bool,
    pub remain_after_exit: bool,
    /// `none`, `main`, `exec`, `all`: as the manager applies it (`main` for
    /// `Type=notify` and with `WatchdogSec=` when unset).
    #[serde(default)]
    pub notify_access: String,
    /// `TimeoutAbortSec=`, the stop timeout when unset (µs, as the others).
    #[serde(default)]
    pub timeout_abort_us: u64,
    /// `WatchdogSec=` (µs; 0: no watchdog).
    #[serde(default)]
    pub watchdog_us: u64,
}

/// The `[Socket]` settings `show` reports, and the manager's counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SocketProperties {
    /// Every `Listen*=` line, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub listen: Vec<ListenProperty>,
    pub accept: bool,
    pub backlog: u32,
    /// `default`, `both`, `ipv6-only`.
    pub bind_ipv6_only: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket_group: Option<String>,
    pub socket_mode: u32,
    pub directory_mode: u32,
    pub free_bind: bool,
    pub pass_credentials: bool,
    pub reuse_port: bool,
    pub remove_on_stop: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub symlinks: Vec<String>,
    pub max_connections: u32,
    /// `FileDescriptorName=` (the unit's name when unset).
    pub fd_name: String,
    /// `Accept=yes`: the connections whose instances run now, and every
    /// connection accepted since the manager (or its saved state) began.
    pub n_connections: u32,
    pub n_accepted: u32,
}

/// One `Listen*=` line: systemd's word for its type (`Stream`,
/// `Datagram`, `SequentialPacket`, `FIFO`, `Netlink`) and its address as
/// systemd prints it (`127.0.0.1:80`, `[::]:80`, `/run/x.sock`, `@name`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListenProperty {
    #[serde(rename = "type")]
    pub kind: String,
    pub address: String,
}

/// One `ExecStart=` command.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecLine {
    pub path: String,
    pub argv: Vec<String>,
    /// `-`: a failing exit is not a failure.
    #[serde(default)]
    pub ignore_errors: bool,
}

/// A unit's dependencies as the manager has them loaded: each list sorted.
/// `before` and `after` hold both directions (a unit `Before=` this one is
/// in `after`); `wanted_by` and `required_by` are the loaded units that
/// want or require this one; `triggers` and `triggered_by` relate socket
/// units and their services.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DependencyProperties {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requisite: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub wants: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub binds_to: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub part_of: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub required_by: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub wanted_by: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub before: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub on_failure: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub triggered_by: Vec<String>,
}

/// What `show` without a unit tells of the manager.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ManagerProperties {
    pub version: String,
    /// As `system-state` answers it (systemctl is-system-running).
    pub system_state: String,
    /// Names loaded: the units and their aliases.
    pub n_names: u64,
    pub n_failed_units: u64,
    /// The jobs pending, as `list-jobs` lists them.
    pub n_jobs: u64,
    /// The unit directories read, in order (with the generators' outputs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unit_path: Vec<String>,
    /// Bytes of replies the manager holds for its control connections that
    /// their clients have not read yet (vigil's own; absent from a manager
    /// before 2026-12-08).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_reply_bytes: Option<u64>,
}

/// A line that could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("request is not valid JSON of the expected shape: {source}")]
    Json {
        #[source]
        source: serde_json::Error,
    },
    #[error("protocol version {got} is not supported (this manager speaks {VERSION})")]
    Version { got: u32 },
}

/// Decodes one request line (without its newline).
pub fn decode_request(line: &[u8]) -> Result<Envelope, DecodeError> {
    let env: Envelope =
        serde_json::from_slice(line).map_err(|source| DecodeError::Json { source })?;
    if env.version != VERSION {
        return Err(DecodeError::Version { got: env.version });
    }
    Ok(env)
}

/// Best effort: the `id` of a request that failed to decode, so the error reply
/// can still carry it.
pub fn salvage_id(line: &[u8]) -> u64 {
    serde_json::from_slice::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v.get("id").and_then(|id| id.as_u64()))
        .unwrap_or(0)
}

/// Encodes a message as one line, newline included.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    // Serialising these plain structs cannot fail: no maps with non-string keys,
    // no custom Serialize impls.
    let mut out = serde_json::to_vec(msg).unwrap_or_else(|_| b"{}".to_vec());
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `request` in an envelope is encoded with `line` as its request, and
    /// decodes back to itself.
    fn encodes_as(request: Request, line: &str) {
        let env = Envelope {
            version: VERSION,
            id: 1,
            request,
        };
        let text = String::from_utf8(encode(&env)).unwrap();
        assert_eq!(
            text,
            format!("{{\"version\":1,\"id\":1,\"request\":{line}}}\n")
        );
        assert_eq!(decode_request(text.trim_end().as_bytes()).unwrap(), env);
    }

    #[test]
    fn request_round_trip() {
        let env = Envelope {
            version: VERSION,
            id: 9,
            request: Request::Start {
                units: vec!["web".into()],
                no_block: false,
            },
        };
        let line = encode(&env);
        assert_eq!(
            std::str::from_utf8(&line).unwrap(),
            "{\"version\":1,\"id\":9,\"request\":{\"verb\":\"start\",\"units\":[\"web\"]}}\n"
        );
        let back = decode_request(line.strip_suffix(b"\n").unwrap()).unwrap();
        assert_eq!(back, env);
    }

    /// Review finding: a request sent every optional field, `no_block` and
    /// `follow` at false included, and a manager from before a field refuses
    /// it (`unknown field`): `vigil reload x` of a new CLI failed against the
    /// manager it was meant to upgrade. A field at its default is left out.
    #[test]
    fn fields_at_their_defaults_are_left_out() {
        let units = || vec!["a".to_string()];
        for (request, line) in [
            (
                Request::Reload {
                    units: units(),
                    no_block: false,
                },
                r#"{"verb":"reload","units":["a"]}"#,
            ),
            (
                Request::Log {
                    unit: None,
                    lines: None,
                    follow: false,
                    since_us: None,
                    until_us: None,
                },
                r#"{"verb":"log"}"#,
            ),
            (
                Request::Kill {
                    unit: "a".into(),
                    signal: 15,
                    whom: None,
                    group: false,
                },
                r#"{"verb":"kill","unit":"a","signal":15}"#,
            ),
            (Request::Shutdown { action: None }, r#"{"verb":"shutdown"}"#),
        ] {
            encodes_as(request, line);
        }
    }

    /// The verbs about the manager leave their options out at their
    /// defaults, as every request does.
    #[test]
    fn system_verbs_leave_their_defaults_out() {
        for (request, line) in [
            (
                Request::SystemState { wait: false },
                r#"{"verb":"system-state"}"#,
            ),
            (
                Request::ListDependencies {
                    unit: "a.target".into(),
                    relation: None,
                },
                r#"{"verb":"list-dependencies","unit":"a.target"}"#,
            ),
            (
                Request::ListDependencies {
                    unit: "a.target".into(),
                    relation: Some(DependencyRelation::Reverse),
                },
                r#"{"verb":"list-dependencies","unit":"a.target","relation":"reverse"}"#,
            ),
            (Request::ListJobs {}, r#"{"verb":"list-jobs"}"#),
        ] {
            encodes_as(request, line);
        }
        assert!(Request::SetDefault { unit: "a".into() }.is_mutating());
        assert!(!Request::GetDefault {}.is_mutating());
        assert!(Request::Revert { units: vec![] }.is_mutating());
        let plan = Request::Edit {
            unit: "a".into(),
            full: false,
            drop_in: None,
            runtime: false,
            force: false,
            text: None,
        };
        assert!(plan.is_mutating());
        // A plan leaves the options at their defaults out of the line.
        let line = String::from_utf8(encode(&Envelope {
            version: VERSION,
            id: 1,
            request: plan,
        }))
        .unwrap();
        assert!(line.contains(r#"{"verb":"edit","unit":"a"}"#), "{line}");
    }

    #[test]
    fn defaults_are_filled() {
        let env =
            decode_request(br#"{"version":1,"request":{"verb":"status","units":["a"]}}"#).unwrap();
        assert_eq!(env.id, 0);
        assert_eq!(
            env.request,
            Request::Status {
                units: vec!["a".into()],
                lines: 10
            }
        );
    }

    #[test]
    fn unknown_verb_and_fields_are_rejected() {
        for bad in [
            &br#"{"version":1,"request":{"verb":"explode"}}"#[..],
            br#"{"version":1,"request":{"verb":"list","extra":1}}"#,
            br#"{"version":1,"request":{"verb":"list"},"extra":1}"#,
            br#"{"version":1,"request":{"verb":"kill","unit":"a","signal":"x"}}"#,
            br#"not json"#,
            br#"[]"#,
            b"",
        ] {
            assert!(
                matches!(decode_request(bad), Err(DecodeError::Json { .. })),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn wrong_version_is_its_own_error() {
        let err = decode_request(br#"{"version":2,"request":{"verb":"list"}}"#).unwrap_err();
        assert!(matches!(err, DecodeError::Version { got: 2 }));
    }

    #[test]
    fn salvage_id_finds_the_id_of_a_bad_request() {
        assert_eq!(
            salvage_id(br#"{"version":1,"id":42,"request":{"verb":"nope"}}"#),
            42
        );
        assert_eq!(salvage_id(b"garbage"), 0);
    }

    #[test]
    fn mutating_requests_are_classified() {
        assert!(!Request::List {}.is_mutating());
        assert!(Request::Sync {}.is_mutating());
        assert!(
            Request::Kill {
                unit: "a".into(),
                signal: 15,
                whom: None,
                group: false
            }
            .is_mutating()
        );
    }

    #[test]
    fn reply_encodes_result_or_error() {
        let ok = encode(&Reply::ok(1, Body::ShuttingDown));
        assert_eq!(
            std::str::from_utf8(&ok).unwrap(),
            "{\"version\":1,\"id\":1,\"result\":{\"kind\":\"shutting-down\"}}\n"
        );
        let err = encode(&Reply::err(2, ErrorCode::NoSuchUnit, "no such unit: x"));
        let back: Reply = serde_json::from_slice(&err).unwrap();
        assert_eq!(back.error.unwrap().code, ErrorCode::NoSuchUnit);
    }
}

/// Where the control socket lives when neither `--socket` nor `VIGIL_SOCKET`
/// says: `/run/vigil/control.sock` for root, `$XDG_RUNTIME_DIR/vigil/control.sock`
/// for other users, and `/tmp/vigil-UID/control.sock` when that variable is unset.
pub fn default_socket_path(
    uid: u32,
    xdg_runtime_dir: Option<&std::ffi::OsStr>,
) -> std::path::PathBuf {
    runtime_dir(uid, xdg_runtime_dir).join("control.sock")
}

/// The manager's runtime directory (the control socket's directory; also where
/// the notify socket goes).
pub fn runtime_dir(uid: u32, xdg_runtime_dir: Option<&std::ffi::OsStr>) -> std::path::PathBuf {
    use std::path::PathBuf;
    if uid == 0 {
        return PathBuf::from("/run/vigil");
    }
    match xdg_runtime_dir {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("vigil"),
        _ => PathBuf::from(format!("/tmp/vigil-{uid}")),
    }
}

/// Resolves the socket path from an explicit option, then `VIGIL_SOCKET`, then the default.
pub fn resolve_socket_path(explicit: Option<std::path::PathBuf>, uid: u32) -> std::path::PathBuf {
    named_socket_path(explicit)
        .unwrap_or_else(|| default_socket_path(uid, std::env::var_os("XDG_RUNTIME_DIR").as_deref()))
}

/// The socket a client uses: the one named, else the default; but a user
/// other than root without a manager of their own (no socket at their
/// default path) talks to the system's manager at `/run/vigil/control.sock`
/// when there is one, as `systemctl` does without `--user`. A default
/// socket is used only when it and its directory belong to whom it should
/// (the user, the system's to root) and no one else may write the
/// directory: under `/tmp` another user can make `/tmp/vigil-UID` first and
/// answer as the manager (a forged status, a `stop` taken for done). Err
/// says why the user's own is not used.
pub fn client_socket_path(
    explicit: Option<std::path::PathBuf>,
    uid: u32,
) -> Result<std::path::PathBuf, String> {
    let named = named_socket_path(explicit);
    let own = default_socket_path(uid, std::env::var_os("XDG_RUNTIME_DIR").as_deref());
    let system = default_socket_path(0, None);
    pick_client_socket(named, own, system, look, uid)
}

/// What is at a default socket path, for the user `owner` it should belong to.
#[derive(Debug, Clone, PartialEq)]
enum There {
    Missing,
    Trusted,
    /// Someone else's (why).
    Foreign(String),
}

fn look(path: &std::path::Path, owner: u32) -> There {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(socket) = std::fs::symlink_metadata(path) else {
        return There::Missing;
    };
    let dir = path.parent().map(std::fs::symlink_metadata);
    match dir {
        _ if socket.uid() != owner => There::Foreign(format!("it belongs to uid {}", socket.uid())),
        Some(Ok(d))
            if !d.is_dir() || (d.uid() != owner && d.uid() != 0) || d.mode() & 0o022 != 0 =>
        {
            There::Foreign(format!(
                "its directory belongs to uid {} (mode {:o})",
                d.uid(),
                d.mode() & 0o7777
            ))
        }
        Some(Ok(_)) => There::Trusted,
        _ => There::Missing,
    }
}

/// [`client_socket_path`]'s choice, with `look` to look at the file system.
fn pick_client_socket(
    named: Option<std::path::PathBuf>,
    own: std::path::PathBuf,
    system: std::path::PathBuf,
    look: impl Fn(&std::path::Path, u32) -> There,
    uid: u32,
) -> Result<std::path::PathBuf, String> {
    if let Some(path) = named {
        return Ok(path);
    }
    let mine = look(&own, uid);
    if mine == There::Trusted {
        return Ok(own);
    }
    if own != system && look(&system, 0) == There::Trusted {
        return Ok(system);
    }
    match mine {
        There::Foreign(why) => Err(format!(
            "not using {}: {why}, and another user may have put it there; \
             remove it, or name the manager's socket with --socket",
            own.display()
        )),
        _ => Ok(own),
    }
}

/// The socket path the user named: `explicit` (`--socket`), else a non-empty
/// `VIGIL_SOCKET`; None when the default is to be used.
pub fn named_socket_path(explicit: Option<std::path::PathBuf>) -> Option<std::path::PathBuf> {
    explicit.or_else(|| {
        std::env::var_os("VIGIL_SOCKET")
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
    })
}

#[cfg(test)]
mod path_tests {
    use super::*;
    use std::ffi::OsStr;

    /// Review finding: a user other than root could not reach the system's
    /// manager without `--socket` (`vigil status ssh` exited 5).
    #[test]
    fn a_user_without_a_manager_of_their_own_reaches_the_systems() {
        use std::path::{Path, PathBuf};
        let own = PathBuf::from("/run/user/1000/vigil/control.sock");
        let system = PathBuf::from("/run/vigil/control.sock");
        let pick = |named: Option<&str>, there: &[(&Path, There)]| {
            let there: Vec<(PathBuf, There)> = there
                .iter()
                .map(|(p, t)| (p.to_path_buf(), t.clone()))
                .collect();
            let named = named.map(PathBuf::from);
            let look = |p: &Path, _| {
                (there.iter().find(|(t, _)| t == p)).map_or(There::Missing, |(_, t)| t.clone())
            };
            pick_client_socket(named, own.clone(), system.clone(), look, 1000)
        };
        let ok = There::Trusted;
        assert_eq!(pick(None, &[(&system, ok.clone())]), Ok(system.clone()));
        assert_eq!(
            pick(None, &[(&own, ok.clone()), (&system, ok.clone())]),
            Ok(own.clone())
        );
        assert_eq!(
            pick(None, &[]),
            Ok(own.clone()),
            "the error names the user's own"
        );
        assert_eq!(
            pick(Some("/x/s"), &[(&system, ok.clone())]),
            Ok(PathBuf::from("/x/s"))
        );
        // Review finding: another user's socket at the user's default path
        // (`/tmp/vigil-UID`, made first) answered as the manager: never used.
        let foreign = There::Foreign("it belongs to uid 65534".into());
        assert_eq!(
            pick(None, &[(&own, foreign.clone()), (&system, ok.clone())]),
            Ok(system.clone())
        );
        let refused = pick(None, &[(&own, foreign.clone())]).unwrap_err();
        assert!(refused.contains("uid 65534"), "{refused}");
        assert_eq!(pick(None, &[(&own, ok), (&system, foreign)]), Ok(own));
    }

    /// The real look at the file system: a socket of another user, or in a
    /// directory others may write, is foreign.
    #[test]
    fn a_socket_of_another_user_is_foreign() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("vigil-proto-look-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let sock = dir.join("control.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let me = owner_of(&sock);
        assert_eq!(look(&sock, me), There::Trusted);
        assert!(matches!(look(&sock, me + 1), There::Foreign(_)));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(look(&sock, me), There::Foreign(_)));
        assert_eq!(look(&dir.join("none"), me), There::Missing);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn owner_of(path: &std::path::Path) -> u32 {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::symlink_metadata(path).unwrap().uid()
    }
    use std::path::Path;

    #[test]
    fn socket_paths_follow_the_documented_order() {
        assert_eq!(
            default_socket_path(0, Some(OsStr::new("/run/user/0"))),
            Path::new("/run/vigil/control.sock")
        );
        assert_eq!(
            default_socket_path(1000, Some(OsStr::new("/run/user/1000"))),
            Path::new("/run/user/1000/vigil/control.sock")
        );
        assert_eq!(
            default_socket_path(1000, None),
            Path::new("/tmp/vigil-1000/control.sock")
        );
        assert_eq!(
            resolve_socket_path(Some("/x/s".into()), 1000),
            Path::new("/x/s")
        );
    }
}
