//! A manager that survives itself: the state one `vigild` leaves for the next.
//!
//! Two ways to hand over, one state format:
//! - **after a crash**: with vigil-init, vigild keeps its state in a memfd in
//!   init's fd store (`state:GEN`, rewritten before every batch of spawns and
//!   at the end of every loop turn that changed something), and the read end
//!   of every log pipe, the control socket and the notify socket too, and
//!   what its last load knew of the unit set (`loaded:N`, written only after
//!   a load: the next vigild does what a sync of the files it reads would
//!   have done since). The next vigild gets them all in init's greeting,
//!   with the exit statuses of the processes init reaped meanwhile;
//! - **`vigil reexec`**: the same state, with the descriptors left open
//!   across execve(2) of the binary on disk (`VIGIL_STATE_FD`).
//!
//! The next manager checks every saved process by PID *and* start time (a PID
//! can be reused) and takes over the living; the dead go through the restart
//! policy with the status init reported. Spawns that were asked for when the
//! state was written are looked for by their `$INVOCATION_ID` before they are
//! made again, so no service is started twice.
//!
//! This module never starts or stops a unit itself: the engine decides what
//! is still to do once it has its state back.

use std::collections::{HashMap, HashSet};
use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::AtomicI32;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use vigil_engine::{Action, Event, ExitStatus, Known, Level, Role, Saved, Time};
use vigil_platform::{InitChannel, SpawnPids};
use vigil_proto::LogLine;

use crate::daemon::{Daemon, Phase};
use crate::logs::{SavedPipe, SavedSink, StoreChange, parse_store_name};
use crate::procs::{start_time, stat_fields};

const STATE_VERSION: u32 = 1;
/// How long a saved process that is gone may wait for its exit status from
/// vigil-init before it is taken as ended with an unknown status.
const MISSING_GRACE: Duration = Duration::from_secs(2);
/// How long vigild waits for vigil-init's greeting at start.
const GREETING_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the binary `vigil reexec` runs may take to say whether it can
/// read the state.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a message to vigil-init may wait for room in the socket.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);
const STATE_PREFIX: &str = "state:";
const STORE_CONTROL: &str = "control";
const STORE_NOTIFY: &str = "notify";
const STORE_SPAWNS: &str = "spawns";
const LOADED_PREFIX: &str = "loaded:";

/// A spawn the engine asked for when the state was written: the next manager
/// looks for a process with this `$INVOCATION_ID` before spawning again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Intent {
    unit: String,
    role: Role,
    invocation_id: String,
}

/// Everything the next manager needs, serialized as JSON into a memfd.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct State {
    version: u32,
    generation: u64,
    /// The PID of the manager that wrote it.
    pid: u32,
    engine: Saved,
    invocations: u64,
    #[serde(default)]
    intents: Vec<Intent>,
    #[serde(default)]
    groups: Vec<(String, Vec<(u32, u64)>)>,
    /// The groups whose leader ended (`Groups::leader_ended`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    leaderless: Vec<(u32, u64)>,
    #[serde(default)]
    starts: Vec<(u32, u64)>,
    #[serde(default)]
    pipes: Vec<SavedPipe>,
    #[serde(default)]
    next_pipe_id: u64,
    #[serde(default)]
    instances: Vec<String>,
    #[serde(default)]
    shutting_down: bool,
    /// When the shutdown began: the deadline of the whole shutdown counts from
    /// it, whichever manager finishes it.
    #[serde(default)]
    shutdown_started: Option<Time>,
    #[serde(default)]
    exit_code: u8,
    #[serde(default)]
    target_reached: bool,
    /// What `vigil show` tells of each unit's past (its timestamps, its
    /// last main PID); absent from a manager before it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    history: Vec<(String, crate::properties::History)>,
    /// A container had its one emergency shell. (What began a shutdown is not
    /// kept: a manager killed during one is started again by vigil-init,
    /// which tells it to stop again.)
    #[serde(default)]
    emergency_spent: bool,
    /// The boot was done; and the emergency shell runs (`is-system-running`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    boot_finished: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    emergency_shell: bool,
    /// Set by `vigil reexec`: the processes are still this process's
    /// children, and the descriptors below were left open across exec.
    #[serde(default)]
    reexec: bool,
    #[serde(default)]
    children: Vec<u32>,
    /// Statuses from vigil-init applied but not yet acknowledged to it.
    #[serde(default)]
    to_ack: u64,
    #[serde(default)]
    listener: Option<i32>,
    #[serde(default)]
    notify: Option<i32>,
    #[serde(default)]
    log: Vec<LogLine>,
    /// After `vigil reexec`: the listening sockets of socket units, left open.
    #[serde(default)]
    sockets: crate::sockets::SavedSockets,
    /// After `vigil reexec`: the control connections carried over, left open.
    #[serde(default)]
    clients: Option<crate::control::SavedClients>,
    /// After `vigil reexec`: what the log sinks had not written, and the
    /// memfd, left open, with the bytes they queued.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    sinks: Vec<SavedSink>,
    #[serde(default)]
    sink_bytes: Option<i32>,
    /// The `loaded:N` entry of vigil-init's store with what this manager's
    /// unit set was at its last load ([`Known`]: names and requirement
    /// edges), so that the next manager, whose first load may find more,
    /// does what a `vigil sync` would have. Stored apart, and again only
    /// when it changes: in every state it would cost every save the whole
    /// edge set. 0: none (a vigild from before it, or not stored): the next
    /// load is a first one.
    #[serde(default, skip_serializing_if = "is_zero")]
    loaded: u64,
    /// After `vigil reexec`: that record itself (the new image gets no
    /// greeting), and the other `loaded:N` entries still in the store, for
    /// the new image to remove once its own state names its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    known: Option<Known>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    loaded_others: Vec<u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl State {
    /// What a re-executing predecessor's log sinks had not written, with the
    /// bytes they queued (or why these cannot be read).
    pub fn exec_sinks(&mut self) -> (Vec<SavedSink>, std::io::Result<Vec<u8>>) {
        let sinks = std::mem::take(&mut self.sinks);
        let raw = self.sink_bytes.take().filter(|_| self.reexec);
        let bytes = match raw {
            None => Ok(Vec::new()),
            Some(raw) => vigil_platform::adopt_fd(raw).and_then(read_memfd),
        };
        (sinks, bytes)
    }

    /// The control and notify sockets a re-executing predecessor left open.
    pub fn exec_sockets(&mut self) -> (Option<OwnedFd>, Option<OwnedFd>) {
        if !self.reexec {
            return (None, None);
        }
        let adopt = |raw: Option<i32>| raw.and_then(|r| vigil_platform::adopt_fd(r).ok());
        (adopt(self.listener.take()), adopt(self.notify.take()))
    }
}

/// What the manager found at start: its predecessor's state and descriptors.
#[derive(Default)]
pub(crate) struct Inherited {
    pub state: Option<State>,
    /// vigil-init's fd store, by name.
    pub store: HashMap<String, Vec<OwnedFd>>,
    /// Exit statuses init reaped while no manager read them.
    pub exited: Vec<(u32, i32)>,
    pub lost: u64,
    /// A state was there but could not be read: start nothing on our own.
    pub unreadable: bool,
    /// The generation of that state in vigil-init's store (0: not from the store):
    /// the next state written replaces it, or every later manager would find it
    /// again, the newest, and start nothing either.
    pub unreadable_generation: u64,
    /// The number of descriptors vigil-init said it kept (`fds N`).
    pub announced: usize,
    /// From an unreadable state, what could still be made out: the units
    /// whose processes are alive, each with their PIDs.
    pub stranded: Stranded,
}

impl Inherited {
    /// A descriptor vigil-init kept under `name` (the first, if several).
    pub fn take(&mut self, name: &str) -> Option<OwnedFd> {
        let fds = self.store.get_mut(name)?;
        if fds.is_empty() {
            return None;
        }
        Some(fds.remove(0))
    }
}

/// Hand-over bookkeeping of the running manager.
#[derive(Default)]
pub(crate) struct Handover {
    /// The last state generation sent to vigil-init.
    generation: u64,
    /// Something changed since the state was last written.
    pub dirty: bool,
    /// Saved processes that were gone at take-over, with the time after which
    /// their exit status is taken as lost.
    missing: Vec<(u32, Time)>,
    /// The binary this image was started from, as it was at start.
    pub exe: Option<std::path::PathBuf>,
    /// `vigil reexec` was asked for (by these clients, with these request
    /// ids): exec at the end of this loop turn.
    pub reexec_requested: Vec<(u64, u64)>,
    /// Exit statuses from vigil-init applied since the last `ack`: it keeps
    /// them for the next manager until a saved state has them.
    to_ack: u64,
    /// vigil-init's fd store refused descriptors: it is full, and a new state
    /// goes in only where the old one came out first.
    pub store_full: bool,
    /// Under vigil-init: where the kernel writes each spawn's PID, for a
    /// successor should this manager die before a state has it.
    spawn_pids: Option<SpawnPids>,
    /// The `loaded:N` entry the next state names (0: none), and the engine's
    /// [`known_version`](vigil_engine::Engine::known_version) it was written
    /// at (None: to write at the next save).
    loaded: u64,
    loaded_version: Option<u64>,
    /// Every `loaded:N` entry in vigil-init's store, the current one among
    /// them: all but it go once a state that names it is stored.
    loaded_entries: Vec<u64>,
}

impl Handover {
    /// `n` statuses from vigil-init taken into account: acknowledged after
    /// the next state saved.
    pub fn note_applied(&mut self, n: usize) {
        (self.to_ack, self.dirty) = (self.to_ack + n as u64, n > 0 || self.dirty);
    }

    pub fn new() -> Handover {
        Handover {
            exe: started_as(),
            ..Handover::default()
        }
    }

    /// `pid` is no longer waited for: its status came, or a spawn got the number again
    /// (its old owner's late "exit 0" would go to the new process).
    pub fn not_missing(&mut self, pid: u32) {
        self.missing.retain(|m| m.0 != pid);
    }
}

/// The path this image was started by: argv[0] when it names a path (made
/// absolute), so that a symlink to the installed version (an upgrade moves
/// it) is followed again at a reexec, as vigil-init's restart does; else
/// /proc/self/exe.
fn started_as() -> Option<std::path::PathBuf> {
    let arg0 = std::env::args_os().next().map(std::path::PathBuf::from);
    match arg0.filter(|p| p.components().count() > 1) {
        Some(p) if p.is_absolute() => Some(p),
        Some(p) => std::env::current_dir().ok().map(|cwd| cwd.join(p)),
        None => std::env::current_exe().ok(),
    }
}

/// Reads the state a re-executing predecessor left (`VIGIL_STATE_FD`), or
/// vigil-init's greeting (`fds N`, `fd NAME` with a descriptor each, `exited
/// PID WSTATUS...`, `lost N`, `ready`), whichever applies.
pub(crate) fn inherit(init: Option<&InitChannel>) -> Inherited {
    let mut got = Inherited::default();
    if let Ok(value) = std::env::var("VIGIL_STATE_FD") {
        let read = value
            .parse::<i32>()
            .map_err(|e| anyhow::anyhow!("{e}"))
            .and_then(|raw| Ok(vigil_platform::adopt_fd(raw)?));
        match read_state_or_strays(read) {
            Ok(state) => got.state = Some(state),
            Err((e, stranded)) => {
                note!("vigild: VIGIL_STATE_FD={value}: cannot read the previous state: {e:#}");
                (got.unreadable, got.stranded) = (true, stranded);
            }
        }
    }
    // After an exec, vigil-init has nothing new to say: the greeting was
    // for the first image, and fd 3 kept whatever came since.
    let Some(chan) = init.filter(|_| got.state.is_none() && !got.unreadable) else {
        return got;
    };
    let cut_short = read_greeting(chan, &mut got)
        .inspect_err(|e| note!("vigild: reading vigil-init's greeting: {e:#}"))
        .is_err();
    if got.state.is_none() && !got.unreadable {
        // The newest state wins: an earlier vigild added a generation before
        // it removed the one before, and a crash between left two.
        let newest = got
            .store
            .keys()
            .filter_map(|k| k.strip_prefix(STATE_PREFIX)?.parse::<u64>().ok())
            .max();
        if let Some(generation) = newest {
            // Named without its descriptor: one this process could not take in.
            let fd = got.take(&format!("{STATE_PREFIX}{generation}"));
            match read_state_or_strays(
                fd.ok_or_else(|| anyhow::anyhow!("it came without its descriptor")),
            ) {
                Ok(state) => got.state = Some(state),
                Err((e, stranded)) => {
                    note!("vigild: the previous manager's state is unreadable: {e:#}");
                    (got.unreadable, got.stranded) = (true, stranded);
                    got.unreadable_generation = generation;
                }
            }
        }
    }
    if got.state.is_none() && !got.unreadable && cut_short && got.announced > 0 {
        // The state may be among what did not come: booting afresh could start the
        // previous manager's services a second time.
        note!("vigild: the greeting was cut short: the previous manager's state may be lost");
        got.unreadable = true;
    }
    got
}

fn read_greeting(chan: &InitChannel, got: &mut Inherited) -> anyhow::Result<()> {
    let mut buf = [0u8; 512];
    let deadline = vigil_platform::monotonic_now() + GREETING_TIMEOUT;
    loop {
        let Some((len, fds)) = chan.recv_with_fds(&mut buf)? else {
            let now = vigil_platform::monotonic_now();
            if now >= deadline {
                anyhow::bail!("no `ready` within {}s", GREETING_TIMEOUT.as_secs());
            }
            chan.wait(false, deadline - now)?;
            continue;
        };
        if len == 0 && fds.is_empty() {
            anyhow::bail!("vigil-init closed the channel");
        }
        let text = String::from_utf8_lossy(buf.get(..len).unwrap_or_default()).into_owned();
        let text = text.trim_end_matches('\n');
        let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
        match verb {
            "ready" => return Ok(()),
            "fds" => got.announced = arg.parse().unwrap_or(0),
            "fd" => got.store.entry(arg.to_string()).or_default().extend(fds),
            "exited" => got.exited.extend(parse_exited(arg)),
            "lost" => got.lost += arg.parse::<u64>().unwrap_or(1),
            _ => {}
        }
    }
}

/// `PID WSTATUS [PID WSTATUS ...]` into (pid, raw wait status) pairs.
pub(crate) fn parse_exited(arg: &str) -> Vec<(u32, i32)> {
    let words: Vec<&str> = arg.split_ascii_whitespace().collect();
    words
        .chunks(2)
        .filter_map(|pair| match pair {
            [pid, status] => Some((pid.parse().ok()?, status.parse().ok()?)),
            _ => None,
        })
        .collect()
}

/// What `vigild --check-state` prints on stdout when it can take the state
/// over: a program that exits 0 without it (a shell script left where the
/// manager was) is no vigild.
pub const CHECK_PASSED: &str = "vigild: this state can be taken over";

/// What a vigild from before `--check-state` says of the option (and exits
/// 2): such a binary is exec'd unchecked, as it was before.
const OLDER_THAN_THE_CHECK: &str = "vigild: unknown option \"--check-state\"";

/// What a run of the binary about to replace this one said.
struct Probe {
    exec: vigil_platform::ExecStatus,
    /// `None`: not ended within [`CHECK_TIMEOUT`] (then killed).
    status: Option<vigil_platform::ExitStatus>,
    out: String,
    err: String,
}

/// How much of a probe's stdout and of its stderr is kept; writes past it fail.
const PROBE_OUTPUT_MAX: u64 = 64 * 1024;

/// Runs `exe ARG` with `stdin`, its stdout and stderr into memfds, for up to
/// [`CHECK_TIMEOUT`]; one that does not end by then is killed with its
/// process group (the spawn's own session): what it started goes with it.
fn probe(
    exe: &std::path::Path,
    arg: &CStr,
    stdin: vigil_platform::ChildFd,
) -> anyhow::Result<Probe> {
    use std::os::unix::ffi::OsStrExt as _;
    use vigil_platform::{ChildFd, PreparedCommand};
    let path = CString::new(exe.as_os_str().as_bytes())?;
    let argv = vec![path.clone(), arg.into()];
    // Bounded: a program that writes without end cannot grow the manager.
    let stderr = vigil_platform::memfd_bounded("vigild-check", PROBE_OUTPUT_MAX)?;
    let stdout = vigil_platform::memfd_bounded("vigild-check-out", PROBE_OUTPUT_MAX)?;
    let mut cmd = PreparedCommand::new(path, argv, Vec::new());
    cmd.stdin(stdin)
        .stdout(ChildFd::dup(stdout.as_fd())?)
        .stderr(ChildFd::dup(stderr.as_fd())?);
    let child = vigil_platform::spawn(&cmd)?;
    let status = vigil_platform::process::wait_within(child.pid, CHECK_TIMEOUT)?;
    if status.is_none() {
        let _ = vigil_platform::process::kill_group(child.pid, 9);
        let _ = vigil_platform::process::wait_blocking(child.pid);
    }
    Ok(Probe {
        exec: child.exec,
        status,
        out: written_text(stdout),
        err: written_text(stderr),
    })
}

/// What a program wrote into a memfd of [`vigil_platform::memfd_bounded`], as
/// text, without the zeros of the rest of the file (empty when it cannot be
/// read).
pub(crate) fn written_text(fd: OwnedFd) -> String {
    let bytes = read_memfd(fd).unwrap_or_default();
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |at| at + 1);
    String::from_utf8_lossy(bytes.get(..end).unwrap_or_default()).into_owned()
}

/// Whether `exe --help` exits 0 naming `--check-state`, as every vigild
/// with the check does.
fn knows_the_check(exe: &std::path::Path) -> bool {
    let help = vigil_platform::ChildFd::dev_null()
        .map_err(anyhow::Error::from)
        .and_then(|null| probe(exe, c"--help", null));
    help.is_ok_and(|p| {
        p.status == Some(vigil_platform::ExitStatus::Exited(0)) && p.out.contains("--check-state")
    })
}

/// `vigild --check-state`: whether this binary can take over the state on
/// stdin (a memfd, read from its start), as `vigil reexec` asks the binary
/// on disk before it runs it. Nothing else is done.
pub fn check_state_on_stdin() -> anyhow::Result<()> {
    // Opened anew: the descriptor shares its offset with the manager's copy.
    let text = std::fs::read("/proc/self/fd/0").context("reading the state on stdin")?;
    parse_state(&text).map(drop)
}

/// A raw wait status (as waitpid gives it) as the engine's exit status.
pub(crate) fn decode_wait_status(status: i32) -> ExitStatus {
    if status & 0x7f == 0 {
        ExitStatus::Exited((status >> 8) & 0xff)
    } else {
        ExitStatus::Signaled(status & 0x7f)
    }
}

/// Units and the PIDs of their processes that are alive.
type Stranded = Vec<(String, Vec<u32>)>;

/// The state in `fd` (when there is one); when it cannot be read, why, with
/// the units whose processes it names and that are alive ([`stranded`]).
fn read_state_or_strays(fd: anyhow::Result<OwnedFd>) -> Result<State, (anyhow::Error, Stranded)> {
    let text = fd
        .and_then(|fd| Ok(read_memfd(fd)?))
        .map_err(|e| (e, Vec::new()))?;
    parse_state(&text).map_err(|e| (e, stranded(&text)))
}

/// Units and the PIDs of their live processes, as a state that cannot be read
/// as a whole still names them (`engine.units[].pids`, JSON being JSON): what
/// runs with no manager in control of it.
fn stranded(text: &[u8]) -> Stranded {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(text) else {
        return Vec::new();
    };
    let units = value.pointer("/engine/units").and_then(|u| u.as_array());
    let mut out = Vec::new();
    for unit in units.into_iter().flatten() {
        let name = unit.get("name").and_then(|n| n.as_str()).unwrap_or("?");
        let pids: Vec<u32> = (unit.get("pids").and_then(|p| p.as_array()).into_iter())
            .flatten()
            .filter_map(|p| u32::try_from(p.get(0)?.as_u64()?).ok())
            .filter(|&pid| crate::procs::live_process(pid).is_some())
            .collect();
        if !pids.is_empty() {
            out.push((name.to_string(), pids));
        }
    }
    out
}

fn parse_state(text: &[u8]) -> anyhow::Result<State> {
    let state: State = serde_json::from_slice(text).context("parsing the state")?;
    if state.version != STATE_VERSION {
        anyhow::bail!(
            "state version {} (this vigild reads {STATE_VERSION})",
            state.version
        );
    }
    Ok(state)
}

/// What a memfd holds, from its start (the descriptor shares its offset
/// with the copy it was made from: vigil-init's, the previous image's).
fn read_memfd(fd: OwnedFd) -> std::io::Result<Vec<u8>> {
    let mut file = File::from(fd);
    file.seek(SeekFrom::Start(0))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// A fresh memfd (close-on-exec) holding `bytes`.
fn write_memfd(name: &str, bytes: &[u8]) -> std::io::Result<OwnedFd> {
    let mut file = File::from(vigil_platform::memfd(name)?);
    file.write_all(bytes)?;
    Ok(OwnedFd::from(file))
}

/// Replaces what vigil-init's store holds under `name` with `fd` (or with
/// nothing).
fn store_replacing(chan: &InitChannel, name: &str, fd: Option<BorrowedFd<'_>>) {
    send_to_init(chan, &format!("fdstore-remove {name}"), &[]);
    if let Some(fd) = fd {
        send_to_init(chan, &format!("fdstore {name}"), &[fd]);
    }
}

/// Sends one message to vigil-init, waiting (bounded) for room: a state or a
/// pipe that init does not get is what a crash would lose.
pub(crate) fn send_to_init(chan: &InitChannel, message: &str, fds: &[BorrowedFd<'_>]) -> bool {
    let waits = !chan.stalled();
    match chan.send_waiting(message.as_bytes(), fds, SEND_TIMEOUT) {
        Ok(true) => true,
        Ok(false) if waits => {
            let secs = SEND_TIMEOUT.as_secs();
            note!(
                "vigild: vigil-init does not take `{message}` within {secs} s: its socket is full; not waiting again until it reads"
            );
            false
        }
        Ok(false) => {
            note!("vigild: vigil-init is not reading: `{message}` not sent");
            false
        }
        Err(e) => {
            note!("vigild: sending `{message}` to vigil-init: {e}");
            false
        }
    }
}

/// Where a saved process stands now.
enum Found {
    /// Alive (or a zombie nobody reaped yet), with its parent.
    Alive {
        parent: u32,
    },
    Gone,
}

/// The process `pid` if it is the one that started at `started` (clock ticks
/// since boot): a process with that PID that started later is another one.
fn identify(pid: u32, started: Option<u64>) -> Found {
    let Some(fields) = stat_fields(pid) else {
        return Found::Gone;
    };
    // Fields from the third (`state`): ppid is the 4th, starttime the 22nd.
    let parent = fields.get(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    let start: Option<u64> = fields.get(22 - 3).and_then(|t| t.parse().ok());
    match (start, started) {
        (Some(now), Some(then)) if now > then + 1 => Found::Gone,
        _ => Found::Alive { parent },
    }
}

/// The manager's PID and the spawn's number in an invocation ID (see
/// `Daemon::invocation_id`).
fn invocation_parts(id: &str) -> Option<(u32, u64)> {
    let (manager, number) = (id.get(..16)?, id.get(16..)?);
    let manager = u64::from_str_radix(manager, 16).ok()?;
    Some((
        u32::try_from(manager).ok()?,
        u64::from_str_radix(number, 16).ok()?,
    ))
}

/// The `INVOCATION_ID` in the environment of process `pid`, if any.
pub(crate) fn invocation_of(pid: u32) -> Option<Vec<u8>> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let mut vars = environ.split(|&b| b == 0);
    Some(
        vars.find_map(|v| v.strip_prefix(b"INVOCATION_ID="))?
            .to_vec(),
    )
}

/// The process whose environment holds each of `ids` as `INVOCATION_ID`. A
/// service's children inherit the variable: of the processes holding one, the
/// one whose parent does not hold it is the spawn's own.
fn find_invocations<'a>(ids: &HashSet<&'a str>) -> HashMap<&'a str, u32> {
    let mut holders: HashMap<&'a str, Vec<u32>> = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(id) = invocation_of(pid)
            && let Ok(id) = std::str::from_utf8(&id)
            && let Some(&id) = ids.get(id)
        {
            holders.entry(id).or_default().push(pid);
        }
    }
    let parent = |pid: u32| crate::procs::parent_of(pid).unwrap_or(0);
    holders
        .into_iter()
        .filter_map(|(id, pids)| {
            let root = pids.iter().copied().find(|&p| !pids.contains(&parent(p)));
            Some((id, root.or(pids.first().copied())?))
        })
        .collect()
}

impl Daemon {
    /// With vigil-init: the control and notify sockets go into its store
    /// (once), so connections and notifications that come while no manager
    /// runs wait for the next one. A new one replaces whatever the store held
    /// under its name (nothing, or one that was unusable).
    pub(crate) fn store_sockets(&mut self, listener_new: bool, notify_new: bool) {
        let Some(chan) = &self.init else { return };
        let new = [
            (listener_new, STORE_CONTROL, self.clients.listener_fd()),
            (notify_new, STORE_NOTIFY, self.notify.as_fd()),
        ];
        for (_, name, fd) in new.into_iter().filter(|n| n.0) {
            store_replacing(chan, name, Some(fd));
        }
    }

    /// The PID slots under init: those a predecessor left in the store, or new
    /// ones, which replace in the store whatever was there, before the first
    /// spawn. None without init, or without memory for a memfd (a successor
    /// then falls back on `$INVOCATION_ID` alone).
    pub(crate) fn open_spawn_pids(&mut self, inherited: &mut Inherited) {
        let Some(chan) = &self.init else { return };
        let old = inherited.take(STORE_SPAWNS).and_then(|fd| {
            SpawnPids::open(fd)
                .inspect_err(|e| note!("vigild: the previous spawns' PIDs are unusable: {e}"))
                .ok()
        });
        if old.is_some() {
            self.handover.spawn_pids = old;
            return;
        }
        let new = SpawnPids::create()
            .inspect_err(|e| note!("vigild: no memfd for the spawns' PIDs: {e}"))
            .ok();
        store_replacing(chan, STORE_SPAWNS, new.as_ref().map(AsFd::as_fd));
        self.handover.spawn_pids = new;
    }

    /// Where the kernel is to write the PID of this manager's spawn `number`.
    pub(crate) fn spawn_pid_cell(&self, number: u64) -> Option<&'static AtomicI32> {
        let slots = self.handover.spawn_pids.as_ref()?;
        slots.prepare(self.procs.manager_pid, number)
    }

    /// Records the start time of this manager's spawn `number` beside its PID.
    pub(crate) fn note_spawn_started(&self, number: u64, started: u64) {
        if let Some(slots) = self.handover.spawn_pids.as_ref() {
            slots.set_started(self.procs.manager_pid, number, started);
        }
    }

    /// Sends the pending changes of the log pipes to vigil-init's fd store.
    pub(crate) fn sync_store(&mut self) {
        if self.logs.store_changes.is_empty() {
            return;
        }
        let changes = std::mem::take(&mut self.logs.store_changes);
        let Some(chan) = &self.init else { return };
        for change in changes {
            match change {
                StoreChange::Add { slot, id, name } => {
                    if let Some(fd) = self.logs.read_end(slot, id) {
                        send_to_init(chan, &format!("fdstore {name}"), &[fd]);
                    }
                }
                StoreChange::Remove { name } => {
                    send_to_init(chan, &format!("fdstore-remove {name}"), &[]);
                    // The saved state must stop listing it, or the next
                    // manager takes a pipe that simply ended for a lost one.
                    self.handover.dirty = true;
                }
            }
        }
    }

    fn build_state(&mut self, intents: Vec<Intent>, for_exec: bool) -> State {
        let tracked: HashSet<u32> = self.engine.tracked().into_iter().map(|t| t.0).collect();
        self.procs.starts.retain(|pid, _| tracked.contains(pid));
        let mut state = State {
            version: STATE_VERSION,
            // For an exec, the generation in vigil-init's store stays current: the
            // new image replaces it at its first save (one more would leave it there).
            generation: self.handover.generation + u64::from(!for_exec),
            pid: vigil_platform::getpid(),
            engine: self.engine.save(),
            invocations: self.procs.invocations,
            intents,
            groups: self
                .procs
                .groups
                .iter()
                .map(|(u, g)| (u.clone(), g.clone()))
                .collect(),
            leaderless: self.procs.groups.ended().collect(),
            starts: self.procs.starts.iter().map(|(&p, &t)| (p, t)).collect(),
            pipes: self.logs.save_pipes(for_exec),
            next_pipe_id: self.logs.next_pipe_id(),
            instances: self.instances_to_make().into_iter().collect(),
            shutting_down: self.phase != Phase::Running,
            shutdown_started: self.shutdown_started,
            exit_code: self.exit_code,
            emergency_spent: self.emergency_spent,
            target_reached: self.target_reached,
            history: (self.history.iter())
                .map(|(unit, h)| (unit.clone(), *h))
                .collect(),
            boot_finished: self.boot_finished,
            emergency_shell: self.emergency_shell,
            ..State::default()
        };
        state.loaded = self.handover.loaded;
        if for_exec {
            state.reexec = true;
            state.known = Some(self.engine.known());
            state.loaded_others = (self.handover.loaded_entries.iter().copied())
                .filter(|&n| n != self.handover.loaded)
                .collect();
            state.children = self.procs.children.iter().copied().collect();
            state.to_ack = self.handover.to_ack;
            state.log = self.logs.export();
        }
        state
    }

    /// Writes the state into a fresh memfd; returns it.
    fn write_state(state: &State) -> anyhow::Result<OwnedFd> {
        // One write: serde_json writes token by token, a system call each
        // on an unbuffered file.
        let text = serde_json::to_vec(state).context("serializing the state")?;
        write_memfd("vigild-state", &text).context("writing the state")
    }

    /// With vigil-init: replaces the state it keeps for the next manager, and
    /// says whether it went (true without vigil-init: there is nothing to
    /// keep). `intents` are the spawns about to be made (in order). A state
    /// that did not go is written again at the end of the turn.
    pub(crate) fn save_state(&mut self, intents: Vec<Intent>) -> bool {
        if self.init.is_none() {
            self.reap_held();
            return true;
        }
        self.handover.dirty = false;
        self.store_known();
        let state = self.build_state(intents, false);
        let fd = match Daemon::write_state(&state) {
            Ok(fd) => fd,
            Err(e) => {
                self.say(Level::Error, None, &format!("saving the state: {e:#}"));
                self.handover.dirty = true;
                return false;
            }
        };
        let Some(chan) = &self.init else { return true };
        // The new state goes in before the old one comes out: a crash between
        // the two leaves both, and the next manager takes the newer. Removed
        // first, a crash between left none, and the next manager started every
        // service again. Only a full store (a low descriptor limit, thousands of
        // log pipes and sockets), which refused a state, gets the old order,
        // and that window.
        let old = format!("{STATE_PREFIX}{}", self.handover.generation);
        let had_old = self.handover.generation > 0;
        if had_old && self.handover.store_full {
            send_to_init(chan, &format!("fdstore-remove {old}"), &[]);
        }
        let name = format!("{STATE_PREFIX}{}", state.generation);
        if send_to_init(chan, &format!("fdstore {name}"), &[fd.as_fd()]) {
            if had_old && !self.handover.store_full {
                send_to_init(chan, &format!("fdstore-remove {old}"), &[]);
            }
            self.handover.generation = state.generation;
            // The state has what those statuses did: vigil-init may forget them.
            let n = std::mem::take(&mut self.handover.to_ack);
            if n > 0 && !send_to_init(chan, &format!("ack {n}"), &[]) {
                self.handover.to_ack = n;
            }
            // And the ends of the children held back for it.
            self.reap_held();
            // And the records of unit sets before the one it names.
            self.forget_other_loaded(state.loaded);
            true
        } else {
            self.handover.dirty = true;
            self.say(
                Level::Warning,
                None,
                "vigil-init did not take the state: it is written again at the next change",
            );
            false
        }
    }

    /// With vigil-init, when the unit set changed since it was last written
    /// (a load: a sync, a template instance, the take-over): writes what the
    /// next load would compare the files with ([`Known`]) as a new
    /// `loaded:N` entry, for the state about to be saved to name. Written
    /// before that state, so that a state never names a record newer than
    /// itself: a crash in between leaves the previous state naming the
    /// previous record, and the next manager does what this one's load did
    /// (a sync cut short: what it was to do). Between two loads, nothing is
    /// written: a save costs what it did before.
    fn store_known(&mut self) {
        let version = self.engine.known_version();
        if self.handover.loaded_version == Some(version) {
            return;
        }
        if self.init.is_none() {
            return;
        }
        let known = self.engine.known();
        let fd = serde_json::to_vec(&known)
            .context("serializing the unit set")
            .and_then(|text| write_memfd("vigild-loaded", &text).context("writing the unit set"));
        let next = self
            .handover
            .loaded_entries
            .iter()
            .max()
            .map_or(1, |n| n + 1);
        // Not stored, the state names none rather than an older one, which
        // would have the next manager start again what a sync since started
        // (and was stopped since); that manager's load is then a first one.
        self.handover.loaded = 0;
        // A full store (see `save_state`) takes the new one only where the
        // old one came out first.
        if self.handover.store_full {
            self.forget_other_loaded(0);
        }
        let Some(chan) = &self.init else { return };
        let stored = match fd {
            Ok(fd) => send_to_init(
                chan,
                &format!("fdstore {LOADED_PREFIX}{next}"),
                &[fd.as_fd()],
            ),
            Err(e) => {
                self.say(Level::Error, None, &format!("saving the unit set: {e:#}"));
                false
            }
        };
        if stored {
            self.handover.loaded = next;
            self.handover.loaded_version = Some(version);
            self.handover.loaded_entries.push(next);
        }
    }

    /// A state naming `current` is stored: the other `loaded:N` entries are
    /// no state's any more.
    fn forget_other_loaded(&mut self, current: u64) {
        let Some(chan) = &self.init else { return };
        let entries = std::mem::take(&mut self.handover.loaded_entries);
        for n in entries {
            if n == current {
                self.handover.loaded_entries.push(n);
            } else {
                send_to_init(chan, &format!("fdstore-remove {LOADED_PREFIX}{n}"), &[]);
            }
        }
    }

    /// The `loaded:N` entries vigil-init kept: removed once this manager's
    /// first state is stored (the entry that state names excepted).
    pub(crate) fn note_loaded_entries(&mut self, inherited: &Inherited) {
        self.handover.loaded_entries = (inherited.store.keys())
            .filter_map(|k| k.strip_prefix(LOADED_PREFIX)?.parse().ok())
            .collect();
    }

    /// The previous manager's record of its last load ([`Known`]): in the
    /// state after a `vigil reexec`, else in the `loaded:N` entry of
    /// vigil-init's store the state names. Every `loaded:N` entry found is
    /// noted, to be removed once this manager's own state is stored (those
    /// no state names are left by a manager killed between the two).
    fn previous_known(&mut self, state: &mut State, inherited: &mut Inherited) -> Option<Known> {
        self.note_loaded_entries(inherited);
        let named =
            (state.loaded_others.iter().copied()).chain((state.loaded > 0).then_some(state.loaded));
        self.handover.loaded_entries.extend(named);
        self.handover.loaded_entries.sort_unstable();
        self.handover.loaded_entries.dedup();
        self.handover.loaded = state.loaded;
        if let Some(known) = state.known.take() {
            return Some(known);
        }
        if state.loaded == 0 || state.reexec {
            return None;
        }
        let name = format!("{LOADED_PREFIX}{}", state.loaded);
        let read = inherited
            .take(&name)
            .ok_or_else(|| anyhow::anyhow!("not in vigil-init's store"))
            .and_then(|fd| Ok(read_memfd(fd)?))
            .and_then(|text| Ok(serde_json::from_slice::<Known>(&text)?));
        match read {
            Ok(known) => Some(known),
            Err(e) => {
                let message = format!(
                    "the previous manager's unit set ({name}) cannot be read: {e:#}; \
                     units added since its last load are not started"
                );
                self.say(Level::Warning, None, &message);
                None
            }
        }
    }

    /// After a state that could not be read: this manager's own replaces it in
    /// vigil-init's store (left the newest, every later manager would find it again).
    pub(crate) fn replace_unreadable_state(&mut self, generation: u64) {
        self.handover.generation = generation;
        self.save_state(Vec::new());
    }

    /// At a clean exit: vigil-init drops the state and the sockets it kept.
    pub(crate) fn forget_state(&mut self) {
        self.forget_sockets();
        let Some(chan) = &self.init else { return };
        let mut names = vec![STORE_CONTROL.to_string(), STORE_NOTIFY.to_string()];
        if self.handover.generation > 0 {
            names.push(format!("{STATE_PREFIX}{}", self.handover.generation));
        }
        for n in std::mem::take(&mut self.handover.loaded_entries) {
            names.push(format!("{LOADED_PREFIX}{n}"));
        }
        for name in names {
            send_to_init(chan, &format!("fdstore-remove {name}"), &[]);
        }
    }

    /// Before a batch of actions: when it holds spawns and vigil-init keeps
    /// the state, the state is written first with the invocation IDs the
    /// spawns will get, so a crash half-way through the batch leaves a state
    /// from which the next manager finds what was already started.
    pub(crate) fn before_batch(&mut self, actions: &[Action]) {
        if self.init.is_none() {
            return;
        }
        let mut n = self.procs.invocations;
        let intents: Vec<Intent> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Spawn { unit, role, .. } => {
                    n += 1;
                    Some(Intent {
                        unit: unit.clone(),
                        role: *role,
                        invocation_id: self.invocation_id(n),
                    })
                }
                _ => None,
            })
            .collect();
        if !intents.is_empty() {
            self.save_state(intents);
        }
    }

    /// Takes over from the previous manager instead of booting: its units'
    /// states, its processes (those still alive), its log pipes.
    pub(crate) fn resume(&mut self, mut state: State, mut inherited: Inherited) {
        let now = self.now();
        self.say(
            Level::Debug,
            None,
            &format!(
                "vigil-init kept {} descriptors and {} exit statuses ({} lost)",
                inherited.store.values().map(Vec::len).sum::<usize>(),
                inherited.exited.len(),
                inherited.lost
            ),
        );
        self.instances = state.instances.iter().cloned().collect();
        let previous = self.previous_known(&mut state, &mut inherited);
        self.load();
        let units = state.engine.unit_names().count();
        for note in self.engine.restore(now, state.engine) {
            self.say(Level::Warning, None, &note);
        }
        // The files read may hold more than the previous manager's last load:
        // a sync it did not live to finish, edits made before a reexec. What
        // that sync would have started starts (the engine says each).
        if let Some(previous) = previous {
            let added = self.engine.sync_since(now, &previous);
            if !added.is_empty() {
                self.say(
                    Level::Info,
                    None,
                    &format!(
                        "units added since the previous manager's last load: {}",
                        added.join(", ")
                    ),
                );
            }
        }
        self.handover.generation = state.generation;
        // Past the numbers the predecessor gave its last spawns: their PID
        // slots stay theirs until they are claimed.
        self.procs.invocations = state.invocations + state.intents.len() as u64;
        self.procs.groups = state.groups.into_iter().collect();
        self.procs.groups.set_ended(state.leaderless);
        // Those that emptied while no manager ran (vigil-init reaped their
        // last process) are forgotten: their numbers may be reused.
        self.procs.recheck_all_groups();
        self.forget_empty_groups();
        self.procs.starts = state.starts.into_iter().collect();
        // What follows from each unit's current run, not saved: the
        // `SyslogIdentifier=` set at its spawn, and for a forking service
        // running without a main PID, the watch for its last process.
        for info in self.engine.units() {
            let Some(unit) = self.engine.run_definition(&info.name) else {
                continue;
            };
            let Some(service) = unit.service.as_ref() else {
                continue;
            };
            if let Some(tag) = service.syslog_identifier.as_deref() {
                self.logs.set_tag(&info.name, Some(tag));
            }
            let forking = service.service_type == vigil_units::ServiceType::Forking;
            if forking && info.main_pid.is_none() && info.state.is_active() {
                self.procs.pidless.insert(info.name);
            }
        }
        self.exit_code = state.exit_code;
        self.target_reached = state.target_reached;
        self.history = state.history.into_iter().collect();
        self.emergency_spent = state.emergency_spent;
        self.boot_finished = state.boot_finished;
        self.emergency_shell = state.emergency_shell;
        if state.shutting_down {
            self.phase = Phase::ShuttingDown;
            self.shutdown_started = Some(state.shutdown_started.unwrap_or(now));
            self.shutdown_check = Some(now);
        }
        self.logs.set_next_pipe_id(state.next_pipe_id);
        self.handover.to_ack += state.to_ack;
        self.logs.import(state.log);
        self.adopt_pipes(state.pipes, state.reexec, &mut inherited);
        self.adopt_sockets(state.sockets, state.reexec, &mut inherited.store);
        let pending = match state.clients.take().filter(|_| state.reexec) {
            Some(saved) => self.clients.adopt(saved, &self.epoll),
            None => Vec::new(),
        };

        // The spawns the restored engine asks for again are taken out first:
        // anything below that carries out actions (a notification does) would
        // otherwise make them a second time, before they are looked for.
        let asked = self.engine.take_actions();
        let (adopted, gone) = self.adopt_processes(&state.children, state.reexec, now);
        // Statuses init reaped while no manager ran (or that the previous one
        // did not live to save), by PID: a spawn whose PID it did not live to
        // save may have one.
        let exited: HashMap<u32, i32> = inherited.exited.iter().copied().collect();
        let (remaining, claimed, ended) =
            self.claim_spawns(asked, &state.intents, &exited, inherited.lost);
        // The spawns the predecessor made after its last save are its
        // processes too ("0 processes alive" was said of two running).
        let (adopted, gone) = (adopted + claimed, gone + ended);
        // What the services said while no manager ran comes before how they
        // ended since (a READY=1, then the exit), as for a running manager; and
        // after the spawns are claimed, or their main processes' words would
        // come from no unit.
        self.notifications_first();
        self.handover.note_applied(inherited.exited.len());
        for &(pid, status) in &inherited.exited {
            self.apply_init_status(pid, status);
        }
        self.say(
            Level::Info,
            None,
            &format!(
                "took over from the previous manager (pid {}{}): {units} units, {adopted} processes alive, {gone} gone",
                state.pid,
                if state.reexec { ", re-executed" } else { "" }
            ),
        );
        self.perform_batch(remaining);
        self.process_actions();
        self.save_state(Vec::new());
        // Older generations a crash left in init's store (the one read was
        // replaced by the save above).
        let current = format!("{STATE_PREFIX}{}", self.handover.generation);
        let stale: Vec<String> = inherited
            .store
            .iter()
            .filter(|(k, fds)| k.starts_with(STATE_PREFIX) && **k != current && !fds.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        if let Some(chan) = &self.init {
            for name in stale {
                send_to_init(chan, &format!("fdstore-remove {name}"), &[]);
            }
        }
        // A forking service's daemon without a main PID may have ended while no
        // manager ran; its status, if any, came for a PID nobody tracks. So
        // may the leftovers of a unit the state says had some.
        self.after_reaping();
        // The statuses still to come from vigil-init are read from now on: the grace
        // of the processes gone counts from here, not from before the units loaded.
        let end = self.now();
        for missing in &mut self.handover.missing {
            missing.1 = end + MISSING_GRACE;
        }
        // Requests a carried connection had sent and the old image had not
        // read to their end yet.
        for client in pending {
            self.process_input(client);
        }
    }

    fn adopt_pipes(&mut self, pipes: Vec<SavedPipe>, reexec: bool, inherited: &mut Inherited) {
        let mut known: HashSet<u64> = HashSet::new();
        for pipe in pipes {
            let fd = if reexec {
                pipe.fd.and_then(|raw| vigil_platform::adopt_fd(raw).ok())
            } else {
                pipe.stored.as_deref().and_then(|name| inherited.take(name))
            };
            known.insert(pipe.id);
            match fd {
                Some(fd) => self.logs.adopt_pipe(&pipe, fd, &self.epoll),
                None if reexec || pipe.stored.is_some() => self.say(
                    Level::Warning,
                    Some(&pipe.unit),
                    &format!("the {} pipe of the previous manager is gone", pipe.stream),
                ),
                None => {}
            }
        }
        if reexec {
            return;
        }
        // Pipes made after the state was last written: the name tells.
        let names: Vec<String> = inherited
            .store
            .keys()
            .filter(|k| k.starts_with("log:"))
            .cloned()
            .collect();
        for name in names {
            let Some((id, stream, unit)) = parse_store_name(&name) else {
                continue;
            };
            if known.contains(&id) {
                continue;
            }
            let Some(fd) = inherited.take(&name) else {
                continue;
            };
            let saved = SavedPipe {
                id,
                unit: unit.unwrap_or("unknown").to_string(),
                stream: stream.name().to_string(),
                console: false,
                kmsg: false,
                stored: Some(name),
                fd: None,
                partial: Vec::new(),
            };
            self.logs.adopt_pipe(&saved, fd, &self.epoll);
        }
    }

    /// Checks every saved process: alive ones are watched the way their
    /// parent allows, gone ones wait (briefly) for their status from init.
    /// Returns (alive, gone).
    fn adopt_processes(&mut self, children: &[u32], reexec: bool, now: Time) -> (usize, usize) {
        let me = vigil_platform::getpid();
        let parent = std::os::unix::process::parent_id();
        let children: HashSet<u32> = children.iter().copied().collect();
        let (mut alive, mut gone) = (0, 0);
        for (pid, unit) in self.engine.tracked() {
            match identify(pid, self.procs.starts.get(&pid).copied()) {
                Found::Alive { parent: p } => {
                    alive += 1;
                    if p == me && (reexec || children.contains(&pid)) {
                        self.procs.children.insert(pid);
                    } else if p == parent && self.init.is_some() {
                        // Re-parented to vigil-init: its exit comes as `exited`.
                    } else {
                        self.watch_pid(&unit, pid);
                    }
                }
                Found::Gone => {
                    gone += 1;
                    self.handover.missing.push((pid, now + MISSING_GRACE));
                }
            }
        }
        (alive, gone)
    }

    /// Answers the re-asked spawns whose process the predecessor had already
    /// started; returns the other actions, and how many of those processes
    /// are alive and gone (for the take-over's summary). The PID is the one the kernel wrote
    /// into the spawn's slot (`SpawnPids`), else that of the process whose
    /// environment has its `$INVOCATION_ID`. A process that has ended already
    /// has its status among `exited`, those vigil-init reaped for nobody known:
    /// applied by the caller, after the notifications.
    fn claim_spawns(
        &mut self,
        actions: Vec<Action>,
        intents: &[Intent],
        exited: &HashMap<u32, i32>,
        lost: u64,
    ) -> (Vec<Action>, usize, usize) {
        if intents.is_empty() {
            return (actions, 0, 0);
        }
        let slots = self.handover.spawn_pids.as_ref();
        // The PID in the slot, and the start time the predecessor recorded
        // beside it: with it, a process of that PID that started later is
        // another one (the spawn ended, and its status did not come). Killed
        // before it recorded it (right after the clone), the predecessor had
        // not reaped the spawn either: ended, it was vigil-init's to reap, and
        // its status is here; so with no status dropped (`lost`), the PID is
        // still the spawn's. Statuses lost, a process there that does not hold
        // the invocation ID is another one, unless it is a zombie (which holds
        // no environment).
        let recorded = |i: &Intent| {
            let (manager, number) = invocation_parts(&i.invocation_id)?;
            let (pid, started) = slots?.pid(manager, number)?;
            if started.is_some() || exited.contains_key(&pid) || lost == 0 {
                return Some((pid, started));
            }
            let reused = crate::procs::live_process(pid).is_some()
                && invocation_of(pid).is_none_or(|id| id != i.invocation_id.as_bytes());
            (!reused).then_some((pid, None))
        };
        let mut pids: HashMap<&str, (u32, Option<u64>)> = intents
            .iter()
            .filter_map(|i| Some((i.invocation_id.as_str(), recorded(i)?)))
            .collect();
        let ids: HashSet<&str> = intents
            .iter()
            .map(|i| i.invocation_id.as_str())
            .filter(|id| !pids.contains_key(id))
            .collect();
        if !ids.is_empty() {
            pids.extend(
                find_invocations(&ids)
                    .into_iter()
                    .map(|(id, pid)| (id, (pid, None))),
            );
        }
        let mut rest = Vec::new();
        let (mut alive, mut gone) = (0, 0);
        let mut count = |ended: bool| match ended {
            true => gone += 1,
            false => alive += 1,
        };
        let mut asked: HashSet<(&str, Role)> = HashSet::new();
        for action in actions {
            let claimed = match &action {
                Action::Spawn { unit, role, .. } => intents
                    .iter()
                    .find(|i| &i.unit == unit && i.role == *role)
                    .inspect(|i| _ = asked.insert((i.unit.as_str(), i.role)))
                    .and_then(|i| pids.get(i.invocation_id.as_str()))
                    .map(|&found| (unit.clone(), *role, found)),
                _ => None,
            };
            match claimed {
                Some((unit, role, (pid, started))) => {
                    let ended = exited.contains_key(&pid);
                    count(ended);
                    self.take_over_spawn(unit, role, pid, started, ended);
                }
                None => rest.push(action),
            }
        }
        // A spawn not asked for again: its unit went from the configuration
        // (the engine waits for its answer, to stop what it ran), or its
        // command did (the engine, waiting for none, kills the process).
        let now = self.now();
        for intent in intents {
            let (unit, role) = (intent.unit.clone(), intent.role);
            if asked.contains(&(intent.unit.as_str(), role)) {
                continue;
            }
            match pids.get(intent.invocation_id.as_str()) {
                Some(&(pid, started)) => {
                    let ended = exited.contains_key(&pid);
                    count(ended);
                    self.take_over_spawn(unit, role, pid, started, ended);
                }
                None => {
                    let stage = "the previous manager's spawn (no process found)".into();
                    let lost = Event::SpawnFailed {
                        unit,
                        role,
                        pid: None,
                        stage,
                        errno: 0,
                        detail: None,
                    };
                    let _ = self.engine.handle(now, lost);
                }
            }
        }
        (rest, alive, gone)
    }

    /// Takes `pid`, which the previous manager started for `unit` as `role`
    /// (at `started`, when it recorded it), as this manager's spawn; `ended`
    /// when its status came from vigil-init already (the caller applies it).
    fn take_over_spawn(
        &mut self,
        unit: String,
        role: Role,
        pid: u32,
        started: Option<u64>,
        ended: bool,
    ) {
        let now = self.now();
        // One that is gone already (vigil-init reaped it) and whose start time
        // was not recorded: its start time is unknown, and not "now", which
        // would disown what it left in its process group (a forking service's
        // daemon, started before this manager) as started before the group was
        // recorded. 0 takes every member of the group: its number cannot be
        // another group's while one is left in it, and a later leader with the
        // number is told apart by its start time (`Groups::valid`).
        let started = match started {
            Some(t) => t,
            None if ended => 0,
            None => start_time(pid).unwrap_or(0),
        };
        self.procs.track(&unit, pid, started);
        let how = if ended { " and ended" } else { "" };
        self.say(
            Level::Info,
            Some(&unit),
            &format!("process {pid} was started by the previous manager{how}: taken over"),
        );
        let _ = self.engine.handle(
            now,
            Event::Spawned {
                unit: unit.clone(),
                role,
                pid,
            },
        );
        let _ = self.engine.handle(now, Event::ExecSucceeded { pid });
        if ended {
            return;
        }
        match identify(pid, Some(started)) {
            Found::Gone => self.handover.missing.push((pid, now + MISSING_GRACE)),
            // Its exit comes from vigil-init when vigil-init is its parent (the
            // usual case: the previous manager is gone); otherwise it is watched.
            Found::Alive { parent } if parent != std::os::unix::process::parent_id() => {
                self.watch_pid(&unit, pid);
            }
            Found::Alive { .. } => {}
        }
    }

    /// An exit status from vigil-init: a process it reaped.
    pub(crate) fn on_init_exited(&mut self, pid: u32, status: i32) {
        self.handover.note_applied(1);
        self.notifications_first();
        // Which group or session it was in is gone with it: all are looked at.
        self.procs.recheck_all_groups();
        self.apply_init_status(pid, status);
        // The daemon of a forking service without a main PID is tracked by no PID:
        // its end shows only as its process groups emptying; a leftover's end
        // only as the groups of its unit emptying.
        self.after_reaping();
    }

    /// A status vigil-init reaped, told to the unit whose process it was (if
    /// it still applies); no longer waited for as missing either way.
    fn apply_init_status(&mut self, pid: u32, status: i32) {
        self.handover.not_missing(pid);
        if self.status_applies(pid) && !self.procs.children.contains(&pid) {
            self.procs.starts.remove(&pid);
            if let Some(fd) = self.procs.watched.remove(&pid) {
                crate::daemon::unwatch(&self.epoll, &fd);
            }
            let now = self.now();
            self.process_ended(now, pid, decode_wait_status(status));
        }
    }

    /// Whether a status vigil-init reaped is one of a process a unit tracks.
    /// vigil-init sends again what a manager did not acknowledge, so it may
    /// be old news: the process was handled already (no unit tracks it), or
    /// its PID now names a newer process (alive: init reaped the one meant).
    fn status_applies(&self, pid: u32) -> bool {
        self.engine.unit_of_pid(pid).is_some()
            && identify(pid, self.procs.starts.get(&pid).copied()).is_gone()
    }

    /// vigil-init dropped statuses: every process taken over that is gone now
    /// may have been among them.
    pub(crate) fn on_init_lost(&mut self, n: u64) {
        self.say(
            Level::Warning,
            None,
            &format!("vigil-init dropped {n} exit statuses"),
        );
        let now = self.now();
        for (pid, _) in self.engine.tracked() {
            if !self.procs.children.contains(&pid)
                && identify(pid, self.procs.starts.get(&pid).copied()).is_gone()
                && !self.handover.missing.iter().any(|m| m.0 == pid)
            {
                self.handover.missing.push((pid, now + MISSING_GRACE));
            }
        }
    }

    /// The earliest time a missing process is given up.
    pub(crate) fn missing_deadline(&self) -> Option<Time> {
        self.handover.missing.iter().map(|m| m.1).min()
    }

    /// Gives up on missing processes whose grace has passed: they ended while
    /// no manager ran and their status did not survive (reported as exit 0,
    /// as systemd does for a main process it cannot wait for).
    pub(crate) fn check_missing(&mut self, now: Time) {
        let (due, wait): (Vec<_>, Vec<_>) = self.handover.missing.iter().partition(|m| m.1 <= now);
        self.handover.missing = wait;
        for (pid, _) in due {
            let Some(unit) = self.engine.unit_of_pid(pid).map(str::to_string) else {
                continue;
            };
            self.say(
                Level::Warning,
                Some(&unit),
                &format!(
                    "process {pid} ended while no manager ran and no exit status came for it: taken as 0"
                ),
            );
            let _ = self.engine.handle(
                now,
                Event::Exited {
                    pid,
                    status: ExitStatus::Exited(0),
                },
            );
        }
    }

    /// Runs `exe`, the binary about to replace this one, with `--check-state`
    /// on `state`: a successor that cannot read it (another state version,
    /// a value it does not know: a downgrade) would leave every service
    /// running with no manager in control of it. It must say so
    /// ([`CHECK_PASSED`]): a program that is no vigild would take the
    /// manager's place. A vigild from before the check (its usage error, 2)
    /// is let through, as it was before.
    fn check_successor(&mut self, exe: &std::path::Path, state: &OwnedFd) -> anyhow::Result<()> {
        use vigil_platform::{ChildFd, ExecStatus, ExitStatus as Status};
        let check = probe(exe, c"--check-state", ChildFd::dup(state.as_fd())?)?;
        let passed = check.out.lines().any(|l| l == CHECK_PASSED);
        let said = (check.err.trim().lines().last())
            .unwrap_or("")
            .trim_start_matches("vigild: ");
        let name = exe.display();
        match (check.exec, check.status) {
            (ExecStatus::Failed { stage, errno }, _) => Err(anyhow::anyhow!(
                "cannot run {name}: {stage}: {}",
                std::io::Error::from_raw_os_error(errno)
            )),
            (_, Some(Status::Exited(0))) if passed => Ok(()),
            // A vigild from before the line (8ca15cb to 908c0a1) checks all
            // the same: its usage names the option.
            (_, Some(Status::Exited(0))) if knows_the_check(exe) => {
                self.say(
                    Level::Warning,
                    None,
                    &format!(
                        "{name} checked the state without saying so (it is older than \
                         that): re-executing on its exit status"
                    ),
                );
                Ok(())
            }
            (_, Some(Status::Exited(0))) => Err(anyhow::anyhow!(
                "{name} exited 0 without saying it can take the state over (is it a \
                 vigild?): not re-executed, every service stays with this manager"
            )),
            (_, Some(Status::Exited(2))) if check.err.contains(OLDER_THAN_THE_CHECK) => {
                self.say(
                    Level::Warning,
                    None,
                    &format!(
                        "{name} cannot check a state (it is older than the check): \
                         re-executing without it"
                    ),
                );
                Ok(())
            }
            (_, Some(Status::Exited(_))) => Err(anyhow::anyhow!(
                "{name} cannot take this manager's state over ({said}): not re-executed, \
                 every service stays with this manager"
            )),
            (_, Some(Status::Signaled(sig))) => Err(anyhow::anyhow!(
                "{name} was killed by signal {sig} while checking the state: not re-executed"
            )),
            (_, None) => Err(anyhow::anyhow!(
                "{name} did not check the state within {} s: not re-executed",
                CHECK_TIMEOUT.as_secs()
            )),
        }
    }

    /// `vigil reexec`: replaces this process with the binary on disk, keeping
    /// the PID, the children, the sockets and the log pipes. Returns only on
    /// failure, with every descriptor close-on-exec again.
    pub(crate) fn reexec(&mut self) -> anyhow::Error {
        // The path this image was started from, read at start: what is there
        // now is the upgrade (/proc/self/exe would follow a rename of the
        // running file to the old binary).
        let Some(exe) = self.handover.exe.clone() else {
            return self.undo_reexec(anyhow::anyhow!("the manager's own path is unknown"));
        };
        self.say(
            Level::Info,
            None,
            &format!("re-executing {}", exe.display()),
        );
        // First whether the binary can read a state of this manager (the one
        // vigil-init keeps; the exec's adds descriptors to it): what it says
        // goes into the log sinks' queues, which the exec's state carries.
        let probe = Daemon::write_state(&self.build_state(Vec::new(), false));
        if let Err(e) = probe.and_then(|fd| self.check_successor(&exe, &fd)) {
            return self.undo_reexec(e);
        }
        // The pipes' read ends are left open across exec from here on.
        let mut state = self.build_state(Vec::new(), true);
        state.listener = Some(self.clients.listener_fd().as_raw_fd());
        state.notify = Some(self.notify.as_fd().as_raw_fd());
        state.sockets = self.save_sockets();
        // The connections waiting for jobs (or idle) go on in the new image;
        // those that asked for the reexec wait for this one to close.
        let askers: Vec<u64> = self.handover.reexec_requested.iter().map(|r| r.0).collect();
        state.clients = Some(self.clients.save_for_exec(&askers));
        // What the log sinks have not written crosses the exec too, however
        // far behind their readers are: the new image writes it first.
        let (sinks, bytes) = self.logs.save_sinks();
        let sink_bytes = match write_memfd("vigild-sinks", &bytes) {
            Ok(fd) => fd,
            Err(e) => {
                return self.undo_reexec(anyhow::Error::new(e).context("saving the log queues"));
            }
        };
        state.sinks = sinks;
        state.sink_bytes = Some(sink_bytes.as_raw_fd());
        let fd = match Daemon::write_state(&state) {
            Ok(fd) => fd,
            Err(e) => return self.undo_reexec(e),
        };
        let mut keep = vec![
            fd.as_fd(),
            sink_bytes.as_fd(),
            self.clients.listener_fd(),
            self.notify.as_fd(),
        ];
        keep.extend(self.socket_fds());
        keep.extend(self.clients.carried_fds(&askers));
        if let Some(chan) = &self.init {
            keep.push(chan.as_fd());
        }
        if let Some(e) = keep
            .into_iter()
            .find_map(|b| vigil_platform::set_cloexec(b, false).err())
        {
            return self.undo_reexec(e.into());
        }
        // execve itself, not std's Command::exec: its execvp would run a file
        // the kernel refuses (a truncated or foreign binary left by an upgrade)
        // with /bin/sh, and the manager would be gone; here it is an error.
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt as _;
        let cstring = |b: &[u8]| CString::new(b).unwrap_or_default();
        let path = cstring(exe.as_os_str().as_bytes());
        let mut argv = vec![path.clone()];
        // The arguments as given: a relative path means the same there (the
        // exec keeps the working directory, which vigild never changes).
        argv.extend(std::env::args_os().skip(1).map(|a| cstring(a.as_bytes())));
        let mut envp: Vec<CString> = std::env::vars_os()
            .filter(|(k, _)| k != "VIGIL_STATE_FD" && k != "VIGIL_INIT_FD")
            .map(|(k, v)| cstring(&[k.as_bytes(), b"=", v.as_bytes()].concat()))
            .collect();
        envp.push(cstring(
            format!("VIGIL_STATE_FD={}", fd.as_raw_fd()).as_bytes(),
        ));
        if let Some(chan) = &self.init {
            envp.push(cstring(format!("VIGIL_INIT_FD={}", chan.raw()).as_bytes()));
        }
        let e = vigil_platform::exec_image(&path, &argv, &envp);
        self.undo_reexec(anyhow::Error::new(e).context(format!("exec {}", exe.display())))
    }

    fn undo_reexec(&mut self, e: anyhow::Error) -> anyhow::Error {
        let _ = vigil_platform::set_cloexec(self.clients.listener_fd(), true);
        let _ = vigil_platform::set_cloexec(self.notify.as_fd(), true);
        for fd in self.socket_fds() {
            let _ = vigil_platform::set_cloexec(fd, true);
        }
        for fd in self.clients.carried_fds(&[]) {
            let _ = vigil_platform::set_cloexec(fd, true);
        }
        if let Some(chan) = &self.init {
            let _ = vigil_platform::set_cloexec(chan.as_fd(), true);
        }
        self.logs.restore_cloexec();
        e
    }
}

impl Found {
    fn is_gone(&self) -> bool {
        matches!(self, Found::Gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invocation_id_gives_back_the_manager_and_the_number_of_its_spawn() {
        let id = format!("{:016x}{:016x}", 4_194_304u32, 70_000u64);
        assert_eq!(invocation_parts(&id), Some((4_194_304, 70_000)));
        for bad in [
            "",
            "00000000000000zz0000000000000001",
            "short",
            "é0000000000000000",
        ] {
            assert_eq!(invocation_parts(bad), None, "{bad}");
        }
        // A manager PID that is no PID at all.
        assert_eq!(
            invocation_parts(&format!("{:016x}{:016x}", u64::MAX, 1)),
            None
        );
    }

    #[test]
    fn an_invocation_id_names_the_spawn_itself_not_its_children() {
        // A shell holding the id starts two children, which inherit it.
        use std::os::unix::process::CommandExt as _;
        let id = format!("vigil-test-invocation-{}", std::process::id());
        let mut sh = std::process::Command::new("/bin/sh")
            .args(["-c", "sleep 30 & sleep 30 & wait"])
            .env("INVOCATION_ID", &id)
            .process_group(0)
            .spawn()
            .unwrap();
        let ids = HashSet::from([id.as_str()]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let children = format!("/proc/{0}/task/{0}/children", sh.id());
        while std::fs::read_to_string(&children).map_or(0, |c| c.split_whitespace().count()) < 2 {
            assert!(std::time::Instant::now() < deadline, "the shell's children");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let found = find_invocations(&ids);
        let _ = vigil_platform::kill_group(sh.id(), 9);
        let _ = sh.wait();
        assert_eq!(found.get(id.as_str()), Some(&sh.id()));
    }
}
