//! The control socket: connections, request framing, permissions, and the
//! answers. Every client is non-blocking with bounded buffers, so a slow or
//! stuck client never blocks the manager and a bad one affects only itself.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use vigil_engine::{Canceled, Engine, EngineError, Event, Reason, ReloadFailure, State, UnitInfo};
use vigil_platform::{Epoll, Interest, Readiness, UnixListener};
use vigil_proto::{
    BlameEntry, Body, DecodeError, ErrorCode, FileChange, JobResult, KillWhom, MAX_REQUEST, Reply,
    Request, UnitFile, UnitStatus, UnitSummary,
};

use serde::{Deserialize, Serialize};
use vigil_units::install::{InstallChange, InstallError};

use crate::daemon::{Daemon, token};
use crate::logs::{Logs, Select};

/// Unsent bytes past which a client is not read from (its next requests
/// wait until it has read its replies) and a follower gets no new log lines
/// queued (it resumes from the rings once it has read them). A reply is
/// always queued whole: a client is never cut off in the middle of one.
const MAX_PENDING_OUT: usize = 8 * 1024 * 1024;
/// The same for a connection counted against [`MAX_PER_USER`].
const MAX_PENDING_OUT_COUNTED: usize = 1024 * 1024;
/// Unsent bytes of all the connections of one user other than root and the
/// manager's together past which none of them is read from or answered (nor
/// sent new log lines) until that user has read some: back-pressure, nothing
/// is dropped. A reply is queued whole, so one past it is still queued: 64
/// connections that never read each had one `show` of 6,000 names no unit
/// has (4 MB) queued, 256 MB of the manager's memory.
const MAX_PENDING_OUT_PER_USER: usize = 8 * 1024 * 1024;
/// A user held back by [`MAX_PENDING_OUT_PER_USER`] is said at most once in
/// this time (who and how much), not at each reply it does not read.
const HELD_LOG_EVERY: Duration = Duration::from_secs(10);

/// The highest signal number a `kill` request may name (Linux: SIGRTMAX).
const MAX_SIGNAL: i32 = 64;
/// Reads of a client's socket (16 KiB each) in one turn of the loop.
const READS_A_TURN: usize = 4;
/// Requests of a client answered in one turn of the loop, and bytes of
/// replies past which it answers no more of them in that turn.
const REQUESTS_A_TURN: usize = 64;
const REPLIES_A_TURN: usize = 16 * 1024;
/// Requests not answered yet past which a client's socket is not read: room
/// for the longest request twice.
const INPUT_HELD: usize = 2 * MAX_REQUEST;

/// Connections one user other than root and the manager's own may hold at
/// once. The socket is anyone's to connect to (to read the state), so without
/// a cap one user holding idle connections would take every descriptor the
/// manager has, and root could no longer reach it nor a service get its log
/// pipe. A user's terminals, scripts and a monitor need a handful; dbus-daemon
/// allows 256 per user on the system bus, for far more chatty clients.
const MAX_PER_USER: usize = 64;

/// Connections all those users may hold together: at most this, and at most a
/// quarter of the manager's descriptor limit (see [`admit`]).
const MAX_UNPRIVILEGED: usize = 1024;

/// A refusal is logged at once, then at most once in this time (with how many
/// were refused meanwhile): a user who keeps connecting must not flood the log.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum JobKind {
    Start,
    Stop,
    Restart,
    /// Answered by the engine's word on the reload's end
    /// ([`Clients::on_reload_ended`]), never by a state alone.
    Reload,
}

/// The requests whose job on each unit depends on the unit's state:
/// systemctl's `try-restart`, `reload-or-restart` and `try-reload-or-restart`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // systemctl's verbs, named as it names them
enum Conditional {
    TryRestart,
    ReloadOrRestart,
    TryReloadOrRestart,
}

/// The job a [`Conditional`] request makes for a unit in `state` that can
/// reload or not (None: the unit is left as it is), as systemd collapses
/// its job types when it queues them: try-restart restarts what is active or
/// on its way up; a unit that can reload is reloaded when active (or
/// reloading: one more runs after it), else started (`reload-or-restart`) or
/// left alone (`try-`); one that cannot is restarted, as `try-restart` or
/// `restart` would.
fn collapse(op: Conditional, state: State, can_reload: bool) -> Option<JobKind> {
    let active = matches!(state, State::Running | State::Exited | State::Reloading);
    let activating = matches!(state, State::Waiting | State::Starting | State::Restarting);
    match (op, can_reload) {
        (Conditional::TryRestart, _) | (Conditional::TryReloadOrRestart, false) => {
            (active || activating).then_some(JobKind::Restart)
        }
        (Conditional::ReloadOrRestart, false) => Some(JobKind::Restart),
        (Conditional::ReloadOrRestart, true) if active => Some(JobKind::Reload),
        (Conditional::ReloadOrRestart, true) => Some(JobKind::Start),
        (Conditional::TryReloadOrRestart, true) => active.then_some(JobKind::Reload),
    }
}

/// A client waiting for units to settle after start/stop/restart, or for
/// their reloads to end.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Waiter {
    client: u64,
    id: u64,
    kind: JobKind,
    units: Vec<WaitUnit>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct WaitUnit {
    name: String,
    /// This unit's job when it is not the waiter's: `reload-or-restart`
    /// reloads some units and restarts others in one request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<JobKind>,
    /// For restart: the unit has been seen going down (or starting), so the
    /// next settled state is the result.
    armed: bool,
    /// For reload: asked for while a reload ran, so it is the next reload's
    /// end that answers it, not this one's (the engine queues it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    behind: bool,
    result: Option<JobResult>,
}

impl WaitUnit {
    /// A unit answered already (not found, refused, left alone).
    fn answered(result: JobResult) -> WaitUnit {
        WaitUnit {
            name: result.unit.clone(),
            kind: None,
            armed: true,
            behind: false,
            result: Some(result),
        }
    }

    /// The kind of this unit's job, in a waiter of `waiter`'s kind.
    fn kind(&self, waiter: JobKind) -> JobKind {
        self.kind.unwrap_or(waiter)
    }
}

struct Follow {
    id: u64,
    which: Select,
    seq: u64,
    /// `vigil log -f --since` a time still to come: no line before it.
    since_us: u64,
}

struct Client {
    stream: UnixStream,
    /// What it sent and was not read as requests yet: taken from the front
    /// line by line (a Vec's drain from the front moved the rest each time:
    /// quadratic in a read full of short lines).
    input: VecDeque<u8>,
    output: Vec<u8>,
    /// Bytes of replies queued for it, ever: its turn's share is measured
    /// by them.
    replied: usize,
    /// Root or the manager's own user: may change state.
    privileged: bool,
    /// The peer's user when it is counted against [`MAX_PER_USER`] (neither
    /// root nor the manager's user).
    counted_uid: Option<u32>,
    /// Root, the manager's user, or a member of `adm` or `systemd-journal`:
    /// may read the services' output (which may hold secrets).
    reads_logs: bool,
    /// Inside an oversized request: discard up to the next newline.
    discarding: bool,
    follow: Option<Follow>,
    /// How much of `output` is written already.
    out_at: usize,
    /// Its backlog as last added to its user's in [`Clients::pending`]
    /// (counted connections only).
    accounted: usize,
    /// What epoll watches the socket for now.
    interest: Interest,
    closed: bool,
    /// The peer has shut its sending side down (`socat`, `nc -N` after their
    /// request): nothing more is read, and the connection closes once what
    /// it asked for is answered.
    eof: bool,
}

impl Client {
    /// Bytes queued and not written yet.
    fn backlog(&self) -> usize {
        self.output.len() - self.out_at
    }

    /// Too far behind: neither read from nor sent more log lines.
    fn behind(&self) -> bool {
        let most = match self.counted_uid {
            Some(_) => MAX_PENDING_OUT_COUNTED,
            None => MAX_PENDING_OUT,
        };
        self.backlog() > most
    }

    /// Half-closed and owed nothing more: every request it sent is answered
    /// and written out (`waited`: a job of its is still waited for). A
    /// follower is never done: its log goes on until it hangs up.
    fn done(&self, waited: bool) -> bool {
        self.eof
            && !waited
            && self.backlog() == 0
            && self.follow.is_none()
            && !self.input.contains(&b'\n')
    }
}

pub(crate) struct Clients {
    listener: UnixListener,
    clients: HashMap<u64, Client>,
    next_id: u64,
    waiters: Vec<Waiter>,
    manager_uid: u32,
    /// A descriptor held in reserve for when the process runs out of them.
    spare: Option<std::fs::File>,
    /// Connections held by each user other than root and the manager's.
    per_user: HashMap<u32, usize>,
    /// Bytes of replies queued and not written for each such user, all its
    /// connections together ([`MAX_PENDING_OUT_PER_USER`]).
    pending: HashMap<u32, usize>,
    /// When a user held back by its unread replies was last logged.
    last_held_log: Option<Duration>,
    /// Connections refused since the last warning about them, by user.
    refused: HashMap<u32, u64>,
    /// When a refusal was last logged.
    last_refusal_log: Option<Duration>,
    /// Warnings for the manager's log, taken by [`Clients::take_warnings`].
    warnings: Vec<String>,
    /// Clients whose turn ended with requests still in their input: they go
    /// on at the next turn ([`Daemon::resume_clients`]).
    resume: Vec<u64>,
    /// The users (counted ones: neither root nor the manager's) who had a
    /// request answered in this turn: one a turn each, whichever of their
    /// connections it came on ([`Daemon::process_input`]).
    answered: HashSet<u32>,
    /// `is-system-running --wait`: (client, request id) answered once the
    /// boot is done ([`Clients::answer_boot_waiters`]).
    boot_waiters: Vec<(u64, u64)>,
}

/// The connections a `vigil reexec` carries into the new image: their
/// descriptors are left open across the exec, with what each had read and not
/// answered, what it had not been sent yet, and the jobs it waits for. Not a
/// follower's (the log rings are filed anew, so its place in them is lost: it
/// reconnects and finds it by the last line it printed), nor the connection
/// that asked for the reexec (it waits for this one to close).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct SavedClients {
    clients: Vec<SavedClient>,
    waiters: Vec<Waiter>,
    next_id: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    boot_waiters: Vec<(u64, u64)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedClient {
    id: u64,
    fd: i32,
    input: Vec<u8>,
    output: Vec<u8>,
    privileged: bool,
    counted_uid: Option<u32>,
    reads_logs: bool,
    discarding: bool,
    eof: bool,
}

/// The socket units that start each service: by the service they name, and,
/// with `Accept=yes`, by the template their instances come from.
#[derive(Default)]
pub(crate) struct SocketTriggers {
    by_service: HashMap<String, Vec<String>>,
    by_template: HashMap<String, Vec<String>>,
}

impl SocketTriggers {
    /// The socket units whose service is `name` (or its template, with
    /// `Accept=yes`), sorted.
    pub(crate) fn of(&self, name: &str) -> Vec<String> {
        if !name.ends_with(".service") {
            return Vec::new();
        }
        let template = vigil_units::name::template_of(name);
        let mut found: Vec<String> = (self.by_service.get(name).into_iter().flatten())
            .chain(
                template
                    .and_then(|t| self.by_template.get(&t))
                    .into_iter()
                    .flatten(),
            )
            .cloned()
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }
}

/// Why a connection of a user other than root and the manager's is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// The user holds [`MAX_PER_USER`] connections already.
    PerUser,
    /// Those users together hold their share of the descriptors already.
    AllUsers { cap: usize },
    /// The manager's descriptors run low: the rest are for its services and root.
    Reserve { limit: u64 },
}

impl Refusal {
    fn describe(self, uid: u32) -> String {
        match self {
            Refusal::PerUser => format!(
                "uid {uid} holds {MAX_PER_USER} connections already, the most a user other than root may hold at once"
            ),
            Refusal::AllUsers { cap } => format!(
                "users other than root hold {cap} connections already, the most they may hold together"
            ),
            Refusal::Reserve { limit } => format!(
                "the manager's descriptors run low (three quarters of {limit} in use): the rest are kept for its services and root"
            ),
        }
    }
}

/// Different patterns one request of a user other than root and the
/// manager's may name. Each is matched against every unit loaded (or every
/// unit file, for `list-unit-files`): the 8,000 a 64 KiB request holds took a
/// quarter of a second of a release manager with 110 units, 256 take 8 ms. A
/// person names a few; plain names are not limited (systemctl takes any
/// number), nor is a pattern named again counted.
const MAX_PATTERNS: usize = 256;

/// The different patterns among the names of `request`.
fn distinct_patterns(request: &Request) -> usize {
    let names = request.names().iter();
    let patterns: HashSet<&String> = names.filter(|n| vigil_units::glob::is_glob(n)).collect();
    patterns.len()
}

/// Whether a connection of a user other than root and the manager's may be
/// kept: its user holds `user_held` connections, such users hold `all_held`
/// together, the connection got descriptor `fd` and the manager may have
/// `limit` open. Those users may together hold a quarter of the descriptors
/// (at most [`MAX_UNPRIVILEGED`]), and none once three quarters are in use,
/// whoever uses them: the kernel gives the lowest free descriptor, so `fd`
/// in the top quarter means at least three quarters are taken. What is left
/// is for the services' pipes and pidfds and for root's connections.
fn admit(user_held: usize, all_held: usize, fd: i32, limit: u64) -> Result<(), Refusal> {
    let cap = usize::try_from(limit / 4)
        .unwrap_or(usize::MAX)
        .min(MAX_UNPRIVILEGED);
    if u64::try_from(fd).unwrap_or(0) >= limit - limit / 4 {
        Err(Refusal::Reserve { limit })
    } else if user_held >= MAX_PER_USER {
        Err(Refusal::PerUser)
    } else if all_held >= cap {
        Err(Refusal::AllUsers { cap })
    } else {
        Ok(())
    }
}

fn open_spare() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

impl Clients {
    /// Has `client`'s requests left read at the next turn of the loop.
    fn resume_later(&mut self, client: u64) {
        if !self.resume.contains(&client) {
            self.resume.push(client);
        }
    }

    /// The listening socket (for vigil-init's fd store and re-exec).
    pub fn listener_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.listener.as_fd()
    }

    pub fn new(listener: UnixListener) -> Clients {
        Clients {
            listener,
            clients: HashMap::new(),
            next_id: 1,
            waiters: Vec::new(),
            manager_uid: vigil_platform::getuid(),
            spare: open_spare(),
            per_user: HashMap::new(),
            pending: HashMap::new(),
            last_held_log: None,
            refused: HashMap::new(),
            last_refusal_log: None,
            warnings: Vec::new(),
            resume: Vec::new(),
            answered: HashSet::new(),
            boot_waiters: Vec::new(),
        }
    }

    /// When the refusals counted since the last warning are to be said, if
    /// any were (review finding: a flood's count waited for the next refusal,
    /// however late, to be said at all).
    pub fn refusals_due(&self) -> Option<Duration> {
        let last = self.last_refusal_log?;
        (!self.refused.is_empty()).then_some(last + REFUSAL_LOG_EVERY)
    }

    /// Says the refusals counted since the last warning, once it is due.
    pub fn report_refusals(&mut self, now: Duration) {
        if self.refusals_due().is_none_or(|due| due > now) {
            return;
        }
        self.last_refusal_log = Some(now);
        let mut refused: Vec<(u32, u64)> = self.refused.drain().collect();
        refused.sort_unstable();
        let each: Vec<String> = refused
            .iter()
            .map(|(u, n)| format!("{n} from uid {u}"))
            .collect();
        self.warnings.push(format!(
            "refused connection(s) since the last warning: {}",
            each.join(", ")
        ));
    }

    /// What the manager should log about the connections (refusals).
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Whether a connection of `uid` (neither root nor the manager's user) may
    /// be kept; when not, it is told why and closed.
    fn admit_unprivileged(&mut self, uid: u32, stream: &UnixStream) -> bool {
        let nofile = vigil_platform::RlimitResource::Nofile;
        let limit = vigil_platform::process::get_rlimit(nofile)
            .0
            .unwrap_or(u64::MAX);
        let user_held = self.per_user.get(&uid).copied().unwrap_or(0);
        let all_held = self.per_user.values().sum();
        let Err(refusal) = admit(user_held, all_held, stream.as_raw_fd(), limit) else {
            return true;
        };
        let why = refusal.describe(uid);
        // One line, written whole or not at all into an empty socket buffer: the
        // client hears why rather than seeing the manager hang up.
        let reply = Reply::err(
            0,
            ErrorCode::NotAllowed,
            format!("connection refused: {why}"),
        );
        let _ = (&*stream).write(&vigil_proto::encode(&reply));
        let _ = stream.shutdown(std::net::Shutdown::Both);
        *self.refused.entry(uid).or_insert(0) += 1;
        let now = vigil_platform::monotonic_now();
        let due = self
            .last_refusal_log
            .is_none_or(|last| now.saturating_sub(last) >= REFUSAL_LOG_EVERY);
        if due {
            self.last_refusal_log = Some(now);
            let mut refused: Vec<(u32, u64)> = self.refused.drain().collect();
            refused.sort_unstable();
            let others: Vec<String> = refused
                .iter()
                .filter(|(u, _)| *u != uid)
                .map(|(u, n)| format!("uid {u}: {n}"))
                .collect();
            let count = refused
                .iter()
                .find(|(u, _)| *u == uid)
                .map_or(1, |(_, n)| *n);
            let mut line = format!("refused {count} connection(s) from uid {uid}: {why}");
            if !others.is_empty() {
                line.push_str(&format!(
                    " (also refused since the last warning: {})",
                    others.join(", ")
                ));
            }
            self.warnings.push(line);
        }
        false
    }

    /// The connections a reexec carries over (all but followers and
    /// `except`), to be left open across the exec.
    fn carried<'a>(&'a self, except: &'a [u64]) -> impl Iterator<Item = (&'a u64, &'a Client)> {
        self.clients
            .iter()
            .filter(|(id, c)| !c.closed && c.follow.is_none() && !except.contains(id))
    }

    /// The descriptors of the connections a reexec carries over.
    pub fn carried_fds<'a>(&'a self, except: &'a [u64]) -> Vec<std::os::fd::BorrowedFd<'a>> {
        self.carried(except)
            .map(|(_, c)| c.stream.as_fd())
            .collect()
    }

    /// What the next image needs of the connections a reexec carries over.
    pub fn save_for_exec(&self, except: &[u64]) -> SavedClients {
        let clients: Vec<SavedClient> = self
            .carried(except)
            .map(|(&id, c)| SavedClient {
                id,
                fd: c.stream.as_raw_fd(),
                input: Vec::from(c.input.clone()),
                output: c.output.get(c.out_at..).unwrap_or_default().to_vec(),
                privileged: c.privileged,
                counted_uid: c.counted_uid,
                reads_logs: c.reads_logs,
                discarding: c.discarding,
                eof: c.eof,
            })
            .collect();
        let waiters = self
            .waiters
            .iter()
            .filter(|w| clients.iter().any(|c| c.id == w.client))
            .cloned()
            .collect();
        let boot_waiters = (self.boot_waiters.iter())
            .filter(|(client, _)| clients.iter().any(|c| c.id == *client))
            .copied()
            .collect();
        SavedClients {
            clients,
            waiters,
            next_id: self.next_id,
            boot_waiters,
        }
    }

    /// Takes the connections a re-executing predecessor carried over; returns
    /// those with a whole request already read, to be answered now.
    pub fn adopt(&mut self, saved: SavedClients, epoll: &Epoll) -> Vec<u64> {
        self.next_id = self.next_id.max(saved.next_id);
        let mut pending = Vec::new();
        let mut kept = Vec::new();
        for sc in saved.clients {
            let Ok(fd) = vigil_platform::adopt_fd(sc.fd) else {
                continue;
            };
            let stream = UnixStream::from(fd);
            if epoll
                .add(stream.as_fd(), token::CLIENT | sc.id, Interest::READABLE)
                .is_err()
            {
                continue;
            }
            if let Some(uid) = sc.counted_uid {
                *self.per_user.entry(uid).or_insert(0) += 1;
            }
            if sc.input.contains(&b'\n') {
                pending.push(sc.id);
            }
            kept.push(sc.id);
            self.clients.insert(
                sc.id,
                Client {
                    stream,
                    input: sc.input.into(),
                    replied: 0,
                    output: sc.output,
                    privileged: sc.privileged,
                    counted_uid: sc.counted_uid,
                    reads_logs: sc.reads_logs,
                    discarding: sc.discarding,
                    follow: None,
                    out_at: 0,
                    accounted: 0,
                    interest: Interest::READABLE,
                    closed: false,
                    eof: sc.eof,
                },
            );
        }
        self.waiters.extend(
            saved
                .waiters
                .into_iter()
                .filter(|w| kept.contains(&w.client)),
        );
        (self.boot_waiters)
            .extend((saved.boot_waiters.into_iter()).filter(|(client, _)| kept.contains(client)));
        // Whatever was not written before the exec goes now (and sets each
        // connection's interest from its buffers).
        for id in kept {
            self.flush(id, epoll);
        }
        pending
    }

    /// Accepts every pending connection; returns their ids.
    pub fn accept_all(&mut self, epoll: &Epoll) -> Vec<u64> {
        let mut accepted = Vec::new();
        loop {
            // Accepted non-blocking and close-on-exec.
            let stream = match self.listener.accept() {
                Ok(Some(s)) => s,
                Ok(None) => return accepted,
                // Out of descriptors (EMFILE, ENFILE): the connection would stay
                // in the backlog and the level-triggered listener would wake the
                // loop forever. Give up the spare descriptor, take the connection
                // and close it (the client sees the manager hang up), take the
                // spare back.
                Err(_) => {
                    self.spare = None;
                    let _ = self.listener.accept();
                    self.spare = open_spare();
                    return accepted;
                }
            };
            // Who it is decides, before anything else is spent on it, whether
            // it may stay: root and the manager's user always may.
            let (privileged, reads_logs, uid) =
                match vigil_platform::peer_credentials(stream.as_fd()) {
                    Ok(c) => {
                        let privileged = c.uid == 0 || c.uid == self.manager_uid;
                        let logs = privileged || in_log_groups(&stream, c.pid, c.gid);
                        (privileged, logs, c.uid)
                    }
                    // Unknown: counted as nobody, the least trusted.
                    Err(_) => (false, false, u32::MAX),
                };
            if !privileged && !self.admit_unprivileged(uid, &stream) {
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            if epoll
                .add(stream.as_fd(), token::CLIENT | id, Interest::READABLE)
                .is_err()
            {
                continue;
            }
            self.clients.insert(
                id,
                Client {
                    stream,
                    input: VecDeque::new(),
                    replied: 0,
                    output: Vec::new(),
                    privileged,
                    counted_uid: (!privileged).then_some(uid),
                    reads_logs,
                    discarding: false,
                    follow: None,
                    out_at: 0,
                    accounted: 0,
                    interest: Interest::READABLE,
                    closed: false,
                    eof: false,
                },
            );
            if !privileged {
                *self.per_user.entry(uid).or_insert(0) += 1;
            }
            accepted.push(id);
        }
    }

    fn send(&mut self, client: u64, reply: &Reply, epoll: &Epoll) {
        if let Some(c) = self.clients.get_mut(&client) {
            let bytes = vigil_proto::encode(reply);
            c.replied = c.replied.saturating_add(bytes.len());
            c.output.extend_from_slice(&bytes);
        }
        self.flush(client, epoll);
    }

    /// Writes what the socket takes now; watches for writability otherwise.
    fn flush(&mut self, client: u64, epoll: &Epoll) {
        // Only a client that half-closed can be done; the waiters are looked
        // through for it alone, not at every write of a reply or a log line.
        let half_closed = self.clients.get(&client).is_some_and(|c| c.eof);
        let waited = half_closed
            && (self.waiters.iter().any(|w| w.client == client)
                || self.boot_waiters.iter().any(|(c, _)| *c == client));
        let Some(c) = self.clients.get_mut(&client) else {
            return;
        };
        while let Some(rest) = c.output.get(c.out_at..).filter(|r| !r.is_empty()) {
            match c.stream.write(rest) {
                Ok(0) => {
                    c.closed = true;
                    break;
                }
                Ok(n) => c.out_at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    c.closed = true;
                    break;
                }
            }
        }
        // What is written goes once it is most of the buffer: a reply of
        // megabytes is not moved down after each write the socket takes.
        if c.out_at == c.output.len() {
            (c.output, c.out_at) = (Vec::new(), 0);
        } else if c.out_at > c.output.len() / 2 {
            c.output.drain(..c.out_at);
            c.out_at = 0;
        }
        let end = c.closed || c.done(waited);
        let (backlog, uid) = (c.backlog(), c.counted_uid);
        if let Some(uid) = uid {
            let before = std::mem::replace(&mut c.accounted, backlog);
            self.account(uid, before, backlog, epoll);
        }
        self.watch(client, epoll);
        if end {
            self.drop_client(client, epoll);
        }
    }

    /// Whether counted user `uid` has more replies queued than
    /// [`MAX_PENDING_OUT_PER_USER`].
    fn user_behind(&self, uid: Option<u32>) -> bool {
        uid.and_then(|u| self.pending.get(&u))
            .is_some_and(|&n| n > MAX_PENDING_OUT_PER_USER)
    }

    /// Whether `client` is held back: neither read from, nor answered, nor
    /// sent new log lines, until it (or, for a user other than root and the
    /// manager's, that user) has read enough of its replies.
    fn held(&self, client: u64) -> bool {
        (self.clients.get(&client)).is_some_and(|c| c.behind() || self.user_behind(c.counted_uid))
    }

    /// Watches `client` for what it is owed now. Not for input while held
    /// back: its requests wait, and so does the kernel's buffer of them (a
    /// peer that hangs up fails the writes, or is seen gone, [`Daemon::on_client`]).
    /// Nor once at its end: a socket at EOF is always readable.
    fn watch(&mut self, client: u64, epoll: &Epoll) {
        let held = self.held(client);
        let Some(c) = self.clients.get_mut(&client) else {
            return;
        };
        let mut interest = Interest::NONE;
        if !held && !c.eof {
            interest = interest | Interest::READABLE;
        }
        if c.backlog() > 0 {
            interest = interest | Interest::WRITABLE;
        }
        if interest != c.interest && !c.closed {
            c.interest = interest;
            let _ = epoll.modify(c.stream.as_fd(), token::CLIENT | client, interest);
        }
    }

    /// A connection of `uid` has `after` bytes of replies queued where it
    /// had `before`. When that takes the user past
    /// [`MAX_PENDING_OUT_PER_USER`], none of its connections is read from
    /// any longer (and it is said once); when back under it, each is watched
    /// for input again and goes on at the next turn with the requests it
    /// holds.
    fn account(&mut self, uid: u32, before: usize, after: usize, epoll: &Epoll) {
        if before == after {
            return;
        }
        let was = self.user_behind(Some(uid));
        let pending = self.pending.entry(uid).or_insert(0);
        *pending = pending.saturating_sub(before).saturating_add(after);
        let pending = *pending;
        if pending == 0 {
            self.pending.remove(&uid);
        }
        let behind = self.user_behind(Some(uid));
        if was == behind {
            return;
        }
        if behind {
            self.say_held(uid, pending);
        }
        let theirs: Vec<u64> = (self.clients.iter())
            .filter(|(_, c)| c.counted_uid == Some(uid))
            .map(|(&id, _)| id)
            .collect();
        for id in theirs {
            self.watch(id, epoll);
            if !behind {
                self.resume_later(id);
            }
        }
    }

    /// That `uid` is held back by its unread replies, at most once in
    /// [`HELD_LOG_EVERY`]: a script that stopped reading is worth a line.
    fn say_held(&mut self, uid: u32, pending: usize) {
        let now = vigil_platform::monotonic_now();
        if (self.last_held_log).is_some_and(|last| now.saturating_sub(last) < HELD_LOG_EVERY) {
            return;
        }
        self.last_held_log = Some(now);
        self.warnings.push(format!(
            "uid {uid} has {pending} bytes of replies it has not read, more than the {} MiB a \
             user other than root may have queued: its requests wait until it reads them",
            MAX_PENDING_OUT_PER_USER >> 20
        ));
    }

    /// Bytes of replies queued on every connection and not written yet.
    pub fn pending_total(&self) -> usize {
        self.clients.values().map(Client::backlog).sum()
    }

    fn drop_client(&mut self, client: u64, epoll: &Epoll) {
        if let Some(c) = self.clients.remove(&client) {
            let _ = epoll.delete(c.stream.as_fd());
            if let Some(uid) = c.counted_uid {
                if let Some(held) = self.per_user.get_mut(&uid) {
                    *held = held.saturating_sub(1);
                    if *held == 0 {
                        self.per_user.remove(&uid);
                    }
                }
                self.account(uid, c.accounted, 0, epoll);
            }
        }
        self.waiters.retain(|w| w.client != client);
        self.boot_waiters.retain(|(c, _)| *c != client);
    }

    /// Sends a last reply to `client` and closes the connection.
    pub fn send_and_close(&mut self, client: u64, reply: &Reply, epoll: &Epoll) {
        self.send(client, reply, epoll);
        self.drop_client(client, epoll);
    }

    /// `is-system-running --wait` of a boot not done yet: answered by
    /// [`Clients::answer_boot_waiters`].
    pub fn wait_for_boot(&mut self, client: u64, id: u64) {
        self.boot_waiters.push((client, id));
    }

    pub fn boot_waited_for(&self) -> bool {
        !self.boot_waiters.is_empty()
    }

    /// The boot is done (or the manager is stopping): every
    /// `is-system-running --wait` hears the state.
    pub fn answer_boot_waiters(&mut self, state: &str, epoll: &Epoll) {
        for (client, id) in std::mem::take(&mut self.boot_waiters) {
            let body = Body::SystemState {
                state: state.to_string(),
            };
            self.send(client, &Reply::ok(id, body), epoll);
        }
    }

    /// Before exit: push out whatever replies the clients' sockets take now.
    /// Never blocks: a client that stopped reading must not keep the manager
    /// from exiting.
    pub fn flush_all(&mut self, epoll: &Epoll) {
        let ids: Vec<u64> = self.clients.keys().copied().collect();
        for id in ids {
            self.flush(id, epoll);
        }
    }

    /// A restart's waiter arms once the unit leaves its active state, so the
    /// active state it had before the restart is not taken for the result. A
    /// stop's waiter is answered when the unit gets down, even if a start
    /// queued meanwhile takes it up again before the waiters are checked.
    pub fn on_state_changed(&mut self, unit: &str, state: State, reason: Option<&Reason>) {
        let leaving = matches!(
            state,
            State::Stopping | State::Inactive | State::Waiting | State::Starting
        );
        let down = matches!(state, State::Inactive | State::Failed);
        // A reload ends with the engine's word, just before the unit is
        // active again; any other state first means it was cut short.
        let reload_cut = !matches!(state, State::Reloading | State::Running | State::Exited);
        for w in &mut self.waiters {
            let waiter = w.kind;
            for u in w.units.iter_mut().filter(|u| u.name == unit) {
                let kind = u.kind(waiter);
                if kind == JobKind::Reload && reload_cut && u.result.is_none() {
                    u.result = Some(JobResult {
                        unit: u.name.clone(),
                        state: state.to_string(),
                        reason: Some(format!("reload did not finish: the unit is {state}")),
                        ok: false,
                    });
                }
                u.armed |= leaving;
                if kind == JobKind::Stop && down && u.result.is_none() {
                    u.result = Some(JobResult {
                        unit: u.name.clone(),
                        state: state.to_string(),
                        reason: reason.map(ToString::to_string),
                        ok: true,
                    });
                }
            }
        }
    }

    /// A stop took the place of `unit`'s start (asked for, carried on from a
    /// unit it needs, a conflict, the shutdown): the starts and restarts
    /// still waited for end, and their clients hear that the job was
    /// canceled and why, as systemd says it, not that the unit started (or,
    /// a oneshot, went inactive as it should).
    pub fn cancel_starts(&mut self, unit: &str, state: State, why: &Canceled) {
        self.cancel(unit, state, false, &why.to_string());
    }

    /// The start job of `unit`, active already, failed (`why`: a unit it
    /// requires and waited for did not start): the starts and restarts
    /// waited for end, not ok, with the unit's state, which has not
    /// changed.
    pub fn fail_starts(&mut self, engine: &Engine, unit: &str, state: State, why: &Reason) {
        let kinds = |kind| matches!(kind, JobKind::Start | JobKind::Restart);
        self.answer(unit, kinds, state, Some(reason_text(engine, why)));
    }

    /// A start took the place of `unit`'s stop before it began: the stops
    /// waited for end, canceled (they would wait for ever otherwise).
    pub fn cancel_stops(&mut self, unit: &str, state: State) {
        self.cancel(unit, state, true, "job canceled: a start was asked for");
    }

    /// Ends the waits for `unit`'s stops (`stops`) or its other jobs, not ok.
    fn cancel(&mut self, unit: &str, state: State, stops: bool, why: &str) {
        let kinds = |kind| (kind == JobKind::Stop) == stops;
        self.answer(unit, kinds, state, Some(why.to_string()));
    }

    /// A reload of `unit` ended: the reloads waited for are answered, `ok`
    /// unless it failed (then with why). The unit is active again.
    /// One asked for while this reload ran waits for the next one's end.
    pub fn on_reload_ended(&mut self, unit: &str, state: State, failure: Option<&ReloadFailure>) {
        let reason = failure.map(ToString::to_string);
        for w in &mut self.waiters {
            let waiter = w.kind;
            for u in (w.units.iter_mut()).filter(|u| {
                u.name == unit && u.result.is_none() && u.kind(waiter) == JobKind::Reload
            }) {
                if !std::mem::take(&mut u.behind) {
                    u.result = Some(JobResult {
                        unit: u.name.clone(),
                        state: state.to_string(),
                        ok: reason.is_none(),
                        reason: reason.clone(),
                    });
                }
            }
        }
    }

    /// Answers the jobs of `kinds` still waited for on `unit`: `ok` when
    /// there is no `reason`.
    fn answer(
        &mut self,
        unit: &str,
        kinds: impl Fn(JobKind) -> bool,
        state: State,
        reason: Option<String>,
    ) {
        for w in &mut self.waiters {
            let waiter = w.kind;
            for u in (w.units.iter_mut())
                .filter(|u| u.name == unit && u.result.is_none() && kinds(u.kind(waiter)))
            {
                u.result = Some(JobResult {
                    unit: u.name.clone(),
                    state: state.to_string(),
                    ok: reason.is_none(),
                    reason: reason.clone(),
                });
            }
        }
    }

    /// The last state of `unit`, which the engine has just forgotten (its
    /// file was removed, and it went down): the jobs waited for on it settle
    /// by it. Left to [`Clients::flush_waiters`], which no longer finds the
    /// unit, they said `inactive (unit was removed)` of a start that had
    /// failed with a start timeout.
    pub fn settle_forgotten(
        &mut self,
        engine: &Engine,
        unit: &str,
        state: State,
        reason: Option<&Reason>,
    ) {
        for w in &mut self.waiters {
            let waiter = w.kind;
            for u in
                (w.units.iter_mut()).filter(|u| u.name == unit && u.result.is_none() && u.armed)
            {
                u.result = settled(engine, u.kind(waiter), unit, state, reason);
            }
        }
    }

    /// Answers every waiter whose units have all settled.
    pub fn flush_waiters(&mut self, engine: &Engine, epoll: &Epoll) {
        let mut done = Vec::new();
        for (i, w) in self.waiters.iter_mut().enumerate() {
            let waiter = w.kind;
            for u in w.units.iter_mut().filter(|u| u.result.is_none() && u.armed) {
                let kind = u.kind(waiter);
                let Some(info) = engine.unit(&u.name) else {
                    u.result = Some(JobResult {
                        unit: u.name.clone(),
                        state: "inactive".into(),
                        reason: Some("unit was removed".into()),
                        ok: kind == JobKind::Stop,
                    });
                    continue;
                };
                // An active unit whose start job still waits for the units
                // it is ordered after has not settled for a start.
                let starting = info.job == Some(vigil_engine::JobType::Start)
                    && matches!(kind, JobKind::Start | JobKind::Restart);
                if !starting {
                    let reason = info.reason.as_ref();
                    u.result = settled(engine, kind, &info.name, info.state, reason);
                }
            }
            if w.units.iter().all(|u| u.result.is_some()) {
                done.push(i);
            }
        }
        for i in done.into_iter().rev() {
            let w = self.waiters.remove(i);
            let jobs = w.units.into_iter().filter_map(|u| u.result).collect();
            self.send(w.client, &Reply::ok(w.id, Body::jobs(jobs)), epoll);
        }
    }

    /// Whether a client follows a log (`vigil log -f`).
    pub fn any_follower(&self) -> bool {
        self.clients.values().any(|c| c.follow.is_some())
    }

    /// Sends new log lines to every client following a log.
    pub fn deliver_log(&mut self, logs: &Logs, epoll: &Epoll) {
        let ids: Vec<u64> = self
            .clients
            .iter()
            .filter(|(_, c)| c.follow.is_some())
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.deliver_to(id, logs, epoll);
        }
    }

    /// Sends a follower the lines it has not had yet. One that is behind
    /// (not reading) gets none now: it resumes where it was once it has read
    /// its backlog, from the rings, so it misses only what they evicted
    /// meanwhile (and is told so).
    fn deliver_to(&mut self, id: u64, logs: &Logs, epoll: &Epoll) {
        if self.held(id) {
            return;
        }
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        let Some(f) = c.follow.as_mut() else {
            return;
        };
        let (lines, seq) = logs.since(&f.which, f.seq);
        f.seq = seq;
        let req = f.id;
        for line in lines.into_iter().filter(|l| l.time_us >= f.since_us) {
            c.output.extend_from_slice(&vigil_proto::encode(&Reply::ok(
                req,
                Body::LogLine { line },
            )));
        }
        self.flush(id, epoll);
    }
}

/// The result for a name that names no unit: `state` is `not-found`.
fn not_found(unit: &str, why: String) -> JobResult {
    JobResult {
        unit: unit.to_string(),
        state: "not-found".into(),
        reason: Some(why),
        ok: false,
    }
}

/// The reply to a request none of whose names names a unit: why for each,
/// a line each (`status u1 u2 u3` named only u1, where systemctl names all).
fn not_found_reply(id: u64, results: &[JobResult]) -> Reply {
    let why: Vec<&str> = results.iter().filter_map(|r| r.reason.as_deref()).collect();
    Reply::err(id, ErrorCode::NoSuchUnit, why.join("\n"))
}

/// Whether unit `name`, in `state` for `reason`, has settled for a job of
/// `kind`, and with what result.
fn settled(
    engine: &Engine,
    kind: JobKind,
    name: &str,
    state: State,
    reason: Option<&Reason>,
) -> Option<JobResult> {
    let ok = match kind {
        JobKind::Start | JobKind::Restart => match state {
            State::Running | State::Exited => true,
            // A skipped unit (failed condition) is not an error, as in systemd.
            State::Inactive => matches!(reason, None | Some(Reason::ConditionFailed(_))),
            State::Failed | State::Restarting => false,
            State::Waiting | State::Starting | State::Reloading | State::Stopping => return None,
        },
        JobKind::Stop => match state {
            State::Inactive => true,
            State::Failed => true,
            _ => return None,
        },
        // The state after a reload does not say whether it worked.
        JobKind::Reload => return None,
    };
    Some(JobResult {
        unit: name.to_string(),
        state: state.to_string(),
        reason: reason.map(|r| reason_text(engine, r)),
        ok,
    })
}

/// What the install steps changed, each once (`enable a b` of units that
/// name each other in `Also=` plans the same link twice), as `vigil` says it.
pub(crate) fn file_changes<'a>(steps: impl Iterator<Item = &'a InstallChange>) -> Vec<FileChange> {
    let mut changes: Vec<FileChange> = Vec::new();
    for step in steps {
        let change = match step {
            InstallChange::Symlink { link, target } => FileChange::Symlink {
                path: link.display().to_string(),
                target: (vigil_units::install::link_destination(link, target))
                    .display()
                    .to_string(),
            },
            InstallChange::Remove { link } => FileChange::Unlink {
                path: link.display().to_string(),
            },
            InstallChange::Unsupported { .. } => continue,
        };
        if !changes.contains(&change) {
            changes.push(change);
        }
    }
    changes
}

/// A start that failed already (what it requires is missing or failed, an
/// assertion) is no success, even unwaited (`--no-block`).
fn failed_at_once(info: Option<&vigil_engine::UnitInfo>) -> bool {
    info.is_some_and(|i| {
        i.state == State::Failed || i.reason.as_ref().is_some_and(Reason::failed_the_job_only)
    })
}

/// What each pattern of a request matches among the loaded units
/// ([`Daemon::match_patterns`]).
#[derive(Default)]
pub(crate) struct PatternMatches {
    /// The loaded units' names, in the engine's order (listed only when the
    /// request has a pattern).
    loaded: Vec<String>,
    /// Each distinct pattern: where the names it matches are in `loaded`;
    /// None once taken.
    by_pattern: HashMap<String, Option<Vec<usize>>>,
}

impl PatternMatches {
    /// The loaded units `pattern` matches, in the engine's order, the first
    /// time it is asked for; None after (a pattern named again in a request
    /// finds nothing new), and for a pattern not matched.
    pub(crate) fn take(&mut self, pattern: &str) -> Option<Vec<String>> {
        let found = self.by_pattern.get_mut(pattern)?.take()?;
        Some(
            found
                .into_iter()
                .filter_map(|i| self.loaded.get(i).cloned())
                .collect(),
        )
    }
}

fn too_large(id: u64) -> Reply {
    Reply::err(
        id,
        ErrorCode::TooLarge,
        format!("request longer than {MAX_REQUEST} bytes"),
    )
}

fn engine_error(id: u64, e: &EngineError) -> Reply {
    match e {
        EngineError::NoSuchUnit(_) => Reply::err(id, ErrorCode::NoSuchUnit, e.to_string()),
        EngineError::NotAllowed { .. } => Reply::err(id, ErrorCode::NotAllowed, e.to_string()),
    }
}

impl Daemon {
    pub(crate) fn on_client(&mut self, client: u64, ready: Readiness) {
        if ready.writable {
            self.clients.flush(client, &self.epoll);
            // Caught up: the lines it was not sent while behind, and the
            // requests that waited in its input.
            if self.clients.clients.contains_key(&client) && !self.clients.held(client) {
                self.clients.deliver_to(client, &self.logs, &self.epoll);
                self.process_input(client);
            }
        }
        let eof = self.clients.clients.get(&client).is_some_and(|c| c.eof);
        if (eof || self.clients.held(client)) && (ready.hangup || ready.error) {
            // Read to its end already, or held back, so not watched for
            // input (nor for a half close): this is the peer gone entirely
            // (reported whatever is watched, it would wake the loop again
            // and again). Nobody is left to answer.
            self.clients.drop_client(client, &self.epoll);
        } else if ready.readable || ready.hangup || ready.error {
            self.read_client(client);
        }
    }

    /// Reads and answers what `client` sent, until its socket would block or
    /// ends. Also right after the accept: a client sends its request as soon
    /// as it is connected, and need not wait for a turn of the loop.
    pub(crate) fn read_client(&mut self, client: u64) {
        let mut buf = [0u8; 16 * 1024];
        // A turn's share: what a client sends without pause (empty lines
        // answer nothing, so it never falls behind) must not keep the
        // manager from everything else. The rest is read on the next turn
        // (its socket stays readable).
        for _ in 0..READS_A_TURN {
            let held = self.clients.held(client);
            let Some(c) = self.clients.clients.get_mut(&client) else {
                return;
            };
            // Behind with its replies (or its user with theirs): what it
            // sends next waits (in the kernel's buffer, then in its own). So
            // it does while it has requests enough not answered yet (they go
            // on next turn).
            if held || c.eof || c.input.len() >= INPUT_HELD {
                return;
            }
            match c.stream.read(&mut buf) {
                Ok(0) => {
                    // The end of its requests: a half close (`socat`, `nc
                    // -N`), or the client has gone. Either way what it asked
                    // for is answered: its replies, the jobs it waits for. A
                    // client that has gone fails the writes or hangs up (see
                    // on_client), and its waits and follows end with it.
                    c.eof = true;
                    self.clients.flush(client, &self.epoll);
                    return;
                }
                Ok(n) => {
                    c.input.extend(buf.get(..n).unwrap_or_default());
                    self.process_input(client);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.clients.drop_client(client, &self.epoll);
                    return;
                }
            }
        }
    }

    /// Splits the client's input into lines and answers each complete one.
    pub(crate) fn process_input(&mut self, client: u64) {
        let mut lines = 0;
        let before = self.clients.clients.get(&client).map_or(0, |c| c.replied);
        loop {
            // Its requests wait until it (or its user) has read its replies.
            if self.clients.held(client) {
                return;
            }
            let Some(c) = self.clients.clients.get_mut(&client) else {
                return;
            };
            let newline = c.input.iter().position(|&b| b == b'\n');
            // A turn's share of requests: answering them is the work (a
            // `status *` of a thousand units), and a client that reads none of
            // its replies is 8 MiB (or 1 MiB) from being behind.
            let spent = lines == REQUESTS_A_TURN || c.replied - before > REPLIES_A_TURN;
            // A user other than root and the manager's has one request
            // answered a turn, on whichever connection: 16 connections of one
            // user each sending requests without pause made a turn as long
            // as all their requests together, and root's `vigil list` waited
            // for each turn (25 s for requests of 15,000 patterns).
            let users_turn_spent =
                (c.counted_uid).is_some_and(|u| self.clients.answered.contains(&u));
            if newline.is_some() && (spent || users_turn_spent) {
                return self.clients.resume_later(client);
            }
            lines += 1;
            let line = match newline {
                Some(pos) => {
                    let mut line: Vec<u8> = c.input.drain(..=pos).collect();
                    line.pop();
                    if std::mem::take(&mut c.discarding) {
                        // The tail of an oversized request, already answered.
                        continue;
                    }
                    line
                }
                None => {
                    if c.input.len() > MAX_REQUEST {
                        c.input.clear();
                        if !c.discarding {
                            c.discarding = true;
                            self.clients.send(client, &too_large(0), &self.epoll);
                        }
                    }
                    return;
                }
            };
            if line.len() > MAX_REQUEST {
                let reply = too_large(vigil_proto::salvage_id(&line));
                self.clients.send(client, &reply, &self.epoll);
                continue;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let (privileged, reads_logs, user) = (c.privileged, c.reads_logs, c.counted_uid);
            if let Some(uid) = user {
                self.clients.answered.insert(uid);
            }
            match vigil_proto::decode_request(&line) {
                Ok(env) => {
                    let denied = match &env.request {
                        r if r.is_mutating() && !privileged => Some((
                            ErrorCode::PermissionDenied,
                            "permission denied: only root and the manager's user may change state"
                                .to_string(),
                        )),
                        Request::Log { .. } if !reads_logs => Some((
                            ErrorCode::PermissionDenied,
                            "permission denied: the services' output is for root, the manager's user and the adm and systemd-journal groups"
                                .to_string(),
                        )),
                        r if user.is_some() => {
                            let n = distinct_patterns(r);
                            (n > MAX_PATTERNS).then(|| {
                                (
                                    ErrorCode::BadRequest,
                                    format!(
                                        "too many patterns: {n} different ones in one request, \
                                         where a user other than root and the manager's may \
                                         name {MAX_PATTERNS} (plain names are not limited)"
                                    ),
                                )
                            })
                        }
                        _ => None,
                    };
                    match (denied, env.request) {
                        (Some((code, why)), _) => {
                            let reply = Reply::err(env.id, code, why);
                            self.clients.send(client, &reply, &self.epoll);
                        }
                        // The state is anyone's to see; the log tail is not.
                        (None, Request::Status { units, .. }) if !reads_logs => {
                            let request = Request::Status { units, lines: 0 };
                            self.handle_request(client, env.id, request);
                        }
                        (None, request) => self.handle_request(client, env.id, request),
                    }
                }
                Err(e) => {
                    let code = match e {
                        DecodeError::Json { .. } => ErrorCode::BadRequest,
                        DecodeError::Version { .. } => ErrorCode::UnsupportedVersion,
                    };
                    let reply = Reply::err(vigil_proto::salvage_id(&line), code, e.to_string());
                    self.clients.send(client, &reply, &self.epoll);
                }
            }
        }
    }

    /// Whether a client has requests left for the next turn.
    pub(crate) fn clients_to_resume(&self) -> bool {
        !self.clients.resume.is_empty()
    }

    /// Goes on with the clients whose last turn ended with requests left.
    pub(crate) fn resume_clients(&mut self) {
        self.clients.answered.clear();
        for client in std::mem::take(&mut self.clients.resume) {
            // A follower whose user was held back: the lines it was not sent.
            self.clients.deliver_to(client, &self.logs, &self.epoll);
            self.process_input(client);
        }
    }

    fn handle_request(&mut self, client: u64, id: u64, request: Request) {
        let reply = match request {
            Request::Ping {} => Some(Reply::ok(
                id,
                Body::Pong {
                    version: env!("CARGO_PKG_VERSION").into(),
                    pid: vigil_platform::getpid(),
                    under_init: Some(self.init.is_some()),
                },
            )),
            Request::List {} => Some(Reply::ok(
                id,
                Body::Units {
                    units: (self.engine.units().iter())
                        .map(|u| summary(&self.engine, u))
                        .collect(),
                },
            )),
            Request::Status { units, lines } => Some(self.status(id, &units, lines)),
            Request::Start { units, no_block } => {
                self.job(client, id, JobKind::Start, &units, no_block)
            }
            Request::Stop { units, no_block } => {
                self.job(client, id, JobKind::Stop, &units, no_block)
            }
            Request::Restart { units, no_block } => {
                self.job(client, id, JobKind::Restart, &units, no_block)
            }
            Request::Reload { units, no_block } => self.reload(client, id, &units, no_block),
            Request::TryRestart { units, no_block } => {
                self.conditional(client, id, Conditional::TryRestart, &units, no_block)
            }
            Request::ReloadOrRestart { units, no_block } => {
                self.conditional(client, id, Conditional::ReloadOrRestart, &units, no_block)
            }
            Request::TryReloadOrRestart { units, no_block } => self.conditional(
                client,
                id,
                Conditional::TryReloadOrRestart,
                &units,
                no_block,
            ),
            Request::Isolate { unit, no_block } => self.isolate(client, id, &unit, no_block),
            Request::Kill { signal, .. } if !(1..=MAX_SIGNAL).contains(&signal) => {
                // Taken, it would fail only when sent (logged by the manager,
                // never told the client, whose reply said ok).
                let why =
                    format!("invalid signal {signal}: a signal is a number from 1 to {MAX_SIGNAL}");
                Some(Reply::err(id, ErrorCode::BadRequest, why))
            }
            Request::Kill {
                unit,
                signal,
                whom,
                group,
            } => {
                let unit = self.unit_name(&unit);
                let now = self.now();
                let whom = match whom {
                    Some(KillWhom::Main) => vigil_engine::KillWhom::Main,
                    Some(KillWhom::Control) => vigil_engine::KillWhom::Control,
                    Some(KillWhom::All) => vigil_engine::KillWhom::All,
                    // A client from before `whom`: `group` or the main process.
                    None if group => vigil_engine::KillWhom::All,
                    None => vigil_engine::KillWhom::Main,
                };
                Some(
                    match self.engine.handle(
                        now,
                        Event::Kill {
                            unit: unit.clone(),
                            signal,
                            whom,
                        },
                    ) {
                        Ok(()) => Reply::ok(id, Body::jobs(vec![self.job_result(&unit, true)])),
                        Err(e) => self.engine_refusal(id, &e),
                    },
                )
            }
            Request::Log {
                unit,
                lines,
                follow,
                since_us,
                until_us,
            } => {
                // As journalctl -u: a pattern, a unit no longer loaded whose
                // lines are still kept, and a name never known, which has
                // none yet (`-- No entries --`; a follower gets its first).
                let which = match unit {
                    None => Select::All,
                    Some(u) if vigil_units::glob::is_glob(&u) => Select::Pattern(u),
                    Some(u) => Select::Unit(self.unit_name(&u)),
                };
                // A follower waits for lines after now: none is before an end.
                if follow && until_us.is_some() {
                    let why = "until_us cannot be given with follow";
                    let reply = Reply::err(id, ErrorCode::BadRequest, why);
                    self.clients.send(client, &reply, &self.epoll);
                    return;
                }
                let tail = match (since_us, until_us) {
                    (None, None) => {
                        let n = lines.unwrap_or(if follow { 10 } else { 200 });
                        self.logs.tail(&which, n)
                    }
                    (since, until) => self.logs.tail_between(
                        &which,
                        since.unwrap_or(0)..=until.unwrap_or(u64::MAX),
                        lines.unwrap_or(usize::MAX),
                    ),
                };
                let seq = self.logs.last_seq();
                if let Some(c) = self.clients.clients.get_mut(&client).filter(|_| follow) {
                    let since_us = since_us.unwrap_or(0);
                    c.follow = Some(Follow {
                        id,
                        which,
                        seq,
                        since_us,
                    });
                }
                Some(Reply::ok(id, Body::Log { lines: tail }))
            }
            Request::Sync {} => {
                // As SIGHUP: the log files too (with --main, SIGHUP is the
                // main process's, and logrotate's postrotate has this).
                for problem in self.logs.reopen_files(&self.epoll) {
                    self.say(vigil_engine::Level::Warning, None, &problem);
                }
                let r = self.load();
                Some(Reply::ok(
                    id,
                    Body::Synced {
                        added: r.added,
                        removed: r.removed,
                        changed: r.changed,
                        errors: r.errors,
                    },
                ))
            }
            Request::ResetFailed { units } => {
                if units.is_empty() {
                    let now = self.now();
                    let _ = self.engine.handle(now, Event::ResetFailed(None));
                    Some(Reply::ok(id, Body::jobs(Vec::new())))
                } else {
                    Some(self.simple_jobs(id, &units, |u| Event::ResetFailed(Some(u))))
                }
            }
            Request::Enable { units } => Some(self.install(id, &units, true)),
            Request::IsEnabled { units } => Some(self.is_enabled(id, &units)),
            Request::ListUnitFiles { patterns } => Some(self.list_unit_files(id, &patterns)),
            Request::Disable { units } => Some(self.install(id, &units, false)),
            Request::Mask { units } => Some(self.mask(id, &units, true)),
            Request::Unmask { units } => Some(self.mask(id, &units, false)),
            Request::Graph {} => Some(Reply::ok(id, Body::Graph { dot: self.graph() })),
            Request::Show { units } => Some(self.show(id, &units)),
            Request::Blame {} => {
                let mut entries: Vec<BlameEntry> = self
                    .engine
                    .units()
                    .into_iter()
                    .filter_map(|u| {
                        u.time_to_ready.map(|t| BlameEntry {
                            unit: u.name,
                            time_us: t.as_micros() as u64,
                        })
                    })
                    .collect();
                entries.sort_by_key(|e| std::cmp::Reverse(e.time_us));
                Some(Reply::ok(id, Body::Blame { entries }))
            }
            Request::Shutdown { action } => match action {
                Some(action) if !self.request_power_action(action) => Some(Reply::err(
                    id,
                    ErrorCode::NotAllowed,
                    format!(
                        "cannot {}: this manager was not started by vigil-init \
                         (`vigil shutdown` stops every unit and ends it)",
                        action.as_str()
                    ),
                )),
                Some(action) => {
                    self.begin_shutdown(action.as_str());
                    Some(Reply::ok(id, Body::ShuttingDown))
                }
                None => {
                    // Under vigil-init a manager that exits unasked is restarted:
                    // this exit is asked for (a container exits 0; a machine
                    // powers off, as the channel's `exit` means there). Not
                    // during a shutdown: vigil-init knows its end already (a
                    // reboot, the main unit's exit code), and the last word wins.
                    if self.phase == crate::daemon::Phase::Running {
                        self.told_exit = self.tell_init("exit 0");
                    }
                    self.begin_shutdown(self.default_action());
                    Some(Reply::ok(id, Body::ShuttingDown))
                }
            },
            Request::Reexec {} if self.phase != crate::daemon::Phase::Running => Some(Reply::err(
                id,
                ErrorCode::NotAllowed,
                "cannot re-execute: the manager is shutting down",
            )),
            Request::Reexec {} => {
                // At the end of this turn of the loop, after the reply is out.
                self.handover.reexec_requested.push((client, id));
                Some(Reply::ok(id, Body::Reexecuting))
            }
            Request::SystemState { wait } => self.system_state_request(client, id, wait),
            Request::ListDependencies { unit, relation } => {
                let relation = relation.unwrap_or(vigil_proto::DependencyRelation::Forward);
                Some(self.list_dependencies(id, &unit, relation))
            }
            Request::ListJobs {} => Some(self.list_jobs(id)),
            Request::GetDefault {} => Some(self.get_default(id)),
            Request::SetDefault { unit } => Some(self.set_default(id, &unit)),
            Request::Edit {
                unit,
                full,
                drop_in,
                runtime,
                force,
                text,
            } => {
                let how = vigil_units::edit::EditOptions {
                    full,
                    drop_in,
                    force,
                };
                let request = crate::edit::EditRequest {
                    unit,
                    how,
                    runtime,
                    text,
                };
                Some(self.edit(id, request))
            }
            Request::Revert { units } => Some(self.revert(id, &units)),
        };
        if let Some(reply) = reply {
            self.clients.send(client, &reply, &self.epoll);
        }
    }

    /// The reply to a request the engine refused. A unit it does not know,
    /// or knows only as running with its file gone, is said as vigild says
    /// a name it has no unit for: masked, when it is (the engine knows no
    /// masks: `vigil start` of a masked unit still running said "no such
    /// unit").
    fn engine_refusal(&self, id: u64, e: &EngineError) -> Reply {
        match e {
            EngineError::NoSuchUnit(name) => {
                Reply::err(id, ErrorCode::NoSuchUnit, self.unknown_unit(name))
            }
            EngineError::NotAllowed { .. } => engine_error(id, e),
        }
    }

    /// The result of a unit the engine refused a job for: its state, and why.
    fn refused_result(&self, unit: &str, e: Option<&EngineError>) -> JobResult {
        let mut result = self.job_result(unit, false);
        result.reason = e.map(|e| match e {
            EngineError::NotAllowed { why, .. } => why.clone(),
            EngineError::NoSuchUnit(name) => self.unknown_unit(name),
        });
        result
    }

    fn job_result(&self, unit: &str, ok: bool) -> JobResult {
        let info = self.engine.unit(unit);
        JobResult {
            unit: unit.to_string(),
            state: info
                .as_ref()
                .map(|i| i.state.to_string())
                .unwrap_or_else(|| "unknown".into()),
            reason: info.and_then(|i| i.reason.map(|r| reason_text(&self.engine, &r))),
            ok,
        }
    }

    /// The units `units` name one by one (not by a pattern), by their own names.
    pub(crate) fn plain_names(&self, units: &[String]) -> Vec<String> {
        (units.iter())
            .filter(|u| !vigil_units::glob::is_glob(u))
            .map(|u| self.unit_name(u))
            .collect()
    }

    /// What the patterns among `units` match of the loaded units: the names
    /// listed once for the request, each pattern compiled and matched once
    /// however often it is named. A request of 15,000 `*` listed every unit
    /// and matched it 15,000 times over (any user may send `status`).
    pub(crate) fn match_patterns(&self, units: &[String]) -> PatternMatches {
        let mut matches = PatternMatches::default();
        for u in units.iter().filter(|u| vigil_units::glob::is_glob(u)) {
            if matches.by_pattern.contains_key(u) {
                continue;
            }
            if matches.loaded.is_empty() {
                let names = self.engine.states().map(|(name, _)| name.to_string());
                matches.loaded = names.collect();
            }
            let pattern = vigil_units::glob::Pattern::new(u);
            let found = (matches.loaded.iter().enumerate())
                .filter_map(|(i, name)| pattern.matches(name, false).then_some(i))
                .collect();
            matches.by_pattern.insert(u.clone(), Some(found));
        }
        matches
    }

    /// The units `units` name (a pattern: every loaded unit whose whole name
    /// it matches), and for each name that names none a `not-found` result,
    /// as systemctl acts on the units it finds and reports the others. When
    /// none is found, the reply that says so for the first.
    fn resolve_names(
        &mut self,
        id: u64,
        units: &[String],
        instantiate: bool,
    ) -> Result<(Vec<String>, Vec<JobResult>), Box<Reply>> {
        if units.is_empty() {
            return Err(Box::new(Reply::err(
                id,
                ErrorCode::BadRequest,
                "no unit named",
            )));
        }
        let mut names = Vec::new();
        let mut unknown = Vec::new();
        // A name is acted on once, however many names and patterns find it.
        let mut taken = HashSet::new();
        // The names to make on demand, all at once (one read of the directories).
        let mut loaded: HashMap<String, Result<(), String>> = HashMap::new();
        if instantiate {
            let plain = self.plain_names(units);
            let results = self.load_units(&plain);
            loaded.extend(plain.into_iter().zip(results));
        }
        let mut matches = self.match_patterns(units);
        for u in units {
            if vigil_units::glob::is_glob(u) {
                // A pattern named twice finds nothing new.
                let Some(matched) = matches.take(u) else {
                    continue;
                };
                if matched.is_empty() {
                    unknown.push(not_found(u, format!("no unit matches {u}")));
                }
                names.extend(
                    matched
                        .into_iter()
                        .filter(|name| taken.insert(name.clone())),
                );
                continue;
            }
            let name = self.unit_name(u);
            let known = if instantiate {
                loaded.get(&name).cloned().unwrap_or(Ok(()))
            } else if self.engine.contains(&name) {
                Ok(())
            } else {
                Err(self.unknown_unit(&name))
            };
            match known {
                Ok(()) => {
                    taken.insert(name.clone());
                    names.push(name);
                }
                Err(why) => unknown.push(not_found(&name, why)),
            }
        }
        match names.is_empty() && !unknown.is_empty() {
            true => Err(Box::new(not_found_reply(id, &unknown))),
            false => Ok((names, unknown)),
        }
    }

    fn job(
        &mut self,
        client: u64,
        id: u64,
        kind: JobKind,
        units: &[String],
        no_block: bool,
    ) -> Option<Reply> {
        // A stop of an instance not loaded, of a template that is: stopped
        // already, as systemctl says (a clean-up script's `stop worker@3`).
        let unloaded = match kind {
            JobKind::Stop => self.unloaded_instances(&self.plain_names(units)),
            _ => HashMap::new(),
        };
        // RefuseManualStop= is checked before the state, as systemd does.
        if let Some(name) =
            (unloaded.values()).find_map(|u| u.refuse_manual_stop.then_some(&u.name))
        {
            return Some(Reply::err(
                id,
                ErrorCode::NotAllowed,
                format!(
                    "{name}: operation refused, the unit may not be stopped manually (RefuseManualStop=yes)"
                ),
            ));
        }
        let (idle, units): (Vec<String>, Vec<String>) = (units.iter().cloned()).partition(|u| {
            !vigil_units::glob::is_glob(u) && unloaded.contains_key(&self.unit_name(u))
        });
        let idle: Vec<JobResult> = (idle.iter())
            .map(|u| JobResult {
                unit: self.unit_name(u),
                state: State::Inactive.to_string(),
                reason: None,
                ok: true,
            })
            .collect();
        if units.is_empty() {
            return Some(Reply::ok(id, Body::jobs(idle)));
        }
        let (names, mut unknown) = match self.resolve_names(id, &units, kind != JobKind::Stop) {
            Ok(found) => found,
            Err(reply) => return Some(*reply),
        };
        unknown.extend(idle);
        // RefuseManualStart=/RefuseManualStop= turn away requests from a client,
        // never what dependencies, OnFailure= or the boot do. Checked for every
        // name first, so a refused request changes nothing.
        for name in &names {
            if let Some(why) = self.manual_refusal(name, kind) {
                return Some(Reply::err(
                    id,
                    ErrorCode::NotAllowed,
                    format!("{name}: {why}"),
                ));
            }
        }
        let now = self.now();
        let events = names.iter().map(|name| match kind {
            JobKind::Start => Event::Start(name.clone()),
            JobKind::Stop => Event::Stop(name.clone()),
            JobKind::Restart => Event::Restart(name.clone()),
            JobKind::Reload => Event::Reload(name.clone()),
        });
        // As one transaction: a's start waits for b's when a is After=b,
        // whichever is named first.
        let results = self.engine.handle_together(now, events.collect());
        if let Some(e) = results.into_iter().find_map(Result::err) {
            return Some(self.engine_refusal(id, &e));
        }
        if no_block {
            let jobs = names.iter().map(|n| {
                let failed = kind != JobKind::Stop && failed_at_once(self.engine.unit(n).as_ref());
                self.job_result(n, !failed)
            });
            let mut jobs: Vec<JobResult> = jobs.collect();
            jobs.extend(unknown);
            return Some(Reply::ok(id, Body::jobs(jobs)));
        }
        // The engine has taken the request; the state it left the unit in tells
        // whether the job is still under way. Actions of this request run before
        // the waiters are checked (process_actions), so a restart's stop is seen.
        // A restart's waiter arms once the unit is under way (or at once when
        // the restart went straight to a new start).
        let units = names
            .into_iter()
            .map(|name| {
                let busy = self.engine.unit(&name).is_some_and(|info| {
                    matches!(
                        info.state,
                        State::Waiting | State::Starting | State::Stopping
                    )
                });
                WaitUnit {
                    behind: false,
                    armed: kind != JobKind::Restart || busy,
                    name,
                    kind: None,
                    result: None,
                }
            })
            // Those not found are answered with the rest, in the same reply.
            .chain(unknown.into_iter().map(WaitUnit::answered))
            .collect();
        self.clients.waiters.push(Waiter {
            client,
            id,
            kind,
            units,
        });
        None
    }

    /// `reload`: each unit's reload begins (a refusal of one is the reply,
    /// as before); unless `no_block`, the reply waits until each has ended.
    /// A unit with nothing to run for it (a target) is answered at once.
    /// One still starting (or restarting) is not reloaded: the reload joins
    /// that job ([`Engine::reload_joins`]), and the reply waits for it as
    /// `start` (or `restart`) would, as `systemctl reload` waits for the
    /// start job its reload was merged into.
    fn reload(&mut self, client: u64, id: u64, units: &[String], no_block: bool) -> Option<Reply> {
        if no_block {
            return Some(self.simple_jobs(id, units, Event::Reload));
        }
        let (names, unknown) = match self.resolve_names(id, units, false) {
            Ok(found) => found,
            Err(reply) => return Some(*reply),
        };
        let now = self.now();
        let mut waited = Vec::new();
        let single = names.len() == 1 && unknown.is_empty();
        for name in names {
            let behind = self.is_reloading(&name);
            let joins = self.engine.reload_joins(&name).map(|job| match job {
                vigil_engine::JobType::Restart => JobKind::Restart,
                _ => JobKind::Start,
            });
            let result = match self.engine.handle(now, Event::Reload(name.clone())) {
                // Refused alone (one name), the error it always was; among
                // others, said with them (systemctl's job per unit).
                Err(e) if single => return Some(self.engine_refusal(id, &e)),
                Err(e) => Some(self.refused_result(&name, Some(&e))),
                Ok(()) if joins.is_some() => None,
                Ok(()) => (!self.is_reloading(&name)).then(|| self.job_result(&name, true)),
            };
            // A restart's waiter arms once the unit is under way, as in `job`.
            let armed = joins != Some(JobKind::Restart)
                || (self.engine.state(&name)).is_some_and(|s| {
                    matches!(s, State::Waiting | State::Starting | State::Stopping)
                });
            waited.push(WaitUnit {
                behind: behind && result.is_none(),
                result,
                name,
                kind: joins,
                armed,
            });
        }
        waited.extend(unknown.into_iter().map(WaitUnit::answered));
        // Answered when the reloads' ends come (process_actions, after this
        // request), at once when none is under way.
        self.clients.waiters.push(Waiter {
            client,
            id,
            kind: JobKind::Reload,
            units: waited,
        });
        None
    }

    /// `try-restart`, `reload-or-restart` and `try-reload-or-restart`: the
    /// job each unit gets ([`collapse`]) is decided on the engine's state as
    /// this request is handled, and queued in the same turn of the loop, so
    /// no state changes in between (a client that read the states first and
    /// asked for restarts after could restart a unit stopped meanwhile).
    /// Unless `no_block`, the reply waits for each unit's job as `restart`,
    /// `start` or `reload` waits; a unit left alone is `ok` as it is.
    fn conditional(
        &mut self,
        client: u64,
        id: u64,
        op: Conditional,
        units: &[String],
        no_block: bool,
    ) -> Option<Reply> {
        let only_active = op != Conditional::ReloadOrRestart;
        // Left alone by the try- verbs, as systemctl leaves them: an
        // instance not loaded (inactive), and a masked unit.
        let mut alone = Vec::new();
        let mut named = Vec::new();
        let unloaded = match only_active {
            true => self.unloaded_instances(&self.plain_names(units)),
            false => HashMap::new(),
        };
        for u in units {
            let name = self.unit_name(u);
            let plain = !vigil_units::glob::is_glob(u);
            if only_active
                && plain
                && (unloaded.contains_key(&name) || self.masked.contains_key(&name))
            {
                alone.push(match self.engine.contains(&name) {
                    true => self.job_result(&name, true),
                    false => JobResult {
                        unit: name,
                        state: State::Inactive.to_string(),
                        reason: None,
                        ok: true,
                    },
                });
            } else {
                named.push(u.clone());
            }
        }
        if named.is_empty() {
            return Some(Reply::ok(id, Body::jobs(alone)));
        }
        // reload-or-restart starts what is down, an instance made on demand
        // as `restart` makes it.
        let (names, mut unknown) = match self.resolve_names(id, &named, !only_active) {
            Ok(found) => found,
            Err(reply) => return Some(*reply),
        };
        unknown.extend(alone);
        let decided: Vec<(String, Option<JobKind>)> = (names.into_iter())
            .map(|name| {
                let state = self.engine.unit(&name).map(|i| i.state);
                let kind = state.and_then(|s| collapse(op, s, self.can_reload(&name)));
                (name, kind)
            })
            .collect();
        // A reload asked for while one runs waits for the one queued after it.
        let behind: HashSet<String> = (decided.iter())
            .filter(|(name, kind)| *kind == Some(JobKind::Reload) && self.is_reloading(name))
            .map(|(name, _)| name.clone())
            .collect();
        // Checked for every unit first, so a refused request changes nothing.
        // A try-restart is refused by `RefuseManualStart=`/`Stop=` whatever
        // the unit's state, as systemd checks the job asked for before it
        // collapses: a restart, unless the unit can reload.
        for (name, kind) in &decided {
            let asked = match op {
                Conditional::ReloadOrRestart => *kind,
                Conditional::TryReloadOrRestart if self.can_reload(name) => *kind,
                _ => Some(JobKind::Restart),
            };
            if let Some(why) = asked.and_then(|k| self.manual_refusal(name, k)) {
                return Some(Reply::err(
                    id,
                    ErrorCode::NotAllowed,
                    format!("{name}: {why}"),
                ));
            }
        }
        let events: Vec<Event> = (decided.iter())
            .filter_map(|(name, kind)| match (*kind)? {
                JobKind::Start => Some(Event::Start(name.clone())),
                JobKind::Stop => Some(Event::Stop(name.clone())),
                JobKind::Restart => Some(Event::Restart(name.clone())),
                JobKind::Reload => Some(Event::Reload(name.clone())),
            })
            .collect();
        let now = self.now();
        // As one transaction, as `restart a b` is.
        let mut results = self.engine.handle_together(now, events).into_iter();
        let single = decided.len() == 1 && unknown.is_empty();
        let mut waited = Vec::new();
        for (name, kind) in decided {
            let Some(kind) = kind else {
                waited.push(WaitUnit::answered(self.job_result(&name, true)));
                continue;
            };
            let info = self.engine.unit(&name);
            let result = match results.next() {
                // Refused alone, the error it always is; among others, said
                // with them.
                Some(Err(e)) if single => return Some(self.engine_refusal(id, &e)),
                Some(Err(e)) => Some(self.refused_result(&name, Some(&e))),
                _ if no_block => {
                    let failed = kind != JobKind::Reload && failed_at_once(info.as_ref());
                    Some(self.job_result(&name, !failed))
                }
                // A reload with nothing to run (ended already) is answered now.
                _ if kind == JobKind::Reload => {
                    (!self.is_reloading(&name)).then(|| self.job_result(&name, true))
                }
                _ => None,
            };
            // A restart's waiter arms once the unit is under way, as in `job`.
            let busy = info.as_ref().is_some_and(|i| {
                matches!(i.state, State::Waiting | State::Starting | State::Stopping)
            });
            waited.push(WaitUnit {
                behind: result.is_none() && behind.contains(&name),
                armed: kind != JobKind::Restart || busy,
                name,
                kind: Some(kind),
                result,
            });
        }
        waited.extend(unknown.into_iter().map(WaitUnit::answered));
        if no_block {
            let jobs = waited.into_iter().filter_map(|u| u.result).collect();
            return Some(Reply::ok(id, Body::jobs(jobs)));
        }
        // Answered as the jobs end (process_actions, after this request);
        // at once when every unit was left alone.
        self.clients.waiters.push(Waiter {
            client,
            id,
            kind: JobKind::Restart,
            units: waited,
        });
        None
    }

    fn is_reloading(&self, name: &str) -> bool {
        (self.engine.unit(name)).is_some_and(|info| info.state == State::Reloading)
    }

    /// Whether the unit can reload, for `reload-or-restart`: a service with
    /// `ExecReload=`, or of `Type=notify-reload` (what `reload` does not
    /// refuse; a target is restarted, as systemd's unit_can_reload says no
    /// for it, though `reload` takes one that passes it on).
    fn can_reload(&self, name: &str) -> bool {
        let def = self.engine.run_definition(name);
        let service = def.as_ref().and_then(|d| d.service.as_ref());
        service.is_some_and(vigil_units::Service::can_reload)
    }

    /// Why a client may not start, stop or restart the unit, if it may not.
    fn manual_refusal(&self, name: &str, kind: JobKind) -> Option<&'static str> {
        let def = self.engine.definition(name)?;
        let start = matches!(kind, JobKind::Start | JobKind::Restart) && def.refuse_manual_start;
        let stop = matches!(kind, JobKind::Stop | JobKind::Restart) && def.refuse_manual_stop;
        if start {
            Some("operation refused, the unit may not be started manually (RefuseManualStart=yes)")
        } else if stop {
            Some("operation refused, the unit may not be stopped manually (RefuseManualStop=yes)")
        } else {
            None
        }
    }

    fn simple_jobs(&mut self, id: u64, units: &[String], event: impl Fn(String) -> Event) -> Reply {
        let (names, unknown) = match self.resolve_names(id, units, false) {
            Ok(found) => found,
            Err(reply) => return *reply,
        };
        let now = self.now();
        let mut jobs = Vec::new();
        let single = names.len() == 1 && unknown.is_empty();
        for name in names {
            match self.engine.handle(now, event(name.clone())) {
                Err(e) if single => return self.engine_refusal(id, &e),
                Err(e) => jobs.push(self.refused_result(&name, Some(&e))),
                Ok(()) => jobs.push(self.job_result(&name, true)),
            }
        }
        jobs.extend(unknown);
        Reply::ok(id, Body::jobs(jobs))
    }

    fn status(&mut self, id: u64, units: &[String], lines: usize) -> Reply {
        if units.is_empty() {
            return Reply::err(id, ErrorCode::BadRequest, "no unit named");
        }
        // Name by name, so that an instance of a template that is not loaded
        // is shown where it was named.
        let now = self.now();
        let triggers = self.socket_triggers();
        let mut out: Vec<UnitStatus> = Vec::new();
        let mut shown: HashSet<String> = HashSet::new();
        let mut missing = Vec::new();
        // Every pattern matched once for the request (it was resolved name
        // by name: 15,000 `*` listed and matched every unit 15,000 times).
        let mut matches = self.match_patterns(units);
        // As systemctl loads it from its template: inactive (dead). A pattern
        // names no instance: the unit files are not read for it. Read once for
        // all the names (a request naming thousands read them thousands of
        // times, and held the manager for a minute).
        let instances = self.unloaded_instances(&self.plain_names(units));
        for u in units {
            if vigil_units::glob::is_glob(u) {
                // A pattern named again shows nothing new.
                let Some(matched) = matches.take(u) else {
                    continue;
                };
                if matched.is_empty() {
                    missing.push(format!("no unit matches {u}"));
                }
                for name in matched {
                    if !shown.contains(&name)
                        && let Some(status) = self.unit_status(&name, lines, now, &triggers)
                    {
                        shown.insert(name);
                        out.push(status);
                    }
                }
                continue;
            }
            let name = self.unit_name(u);
            if self.engine.contains(&name) {
                if !shown.contains(&name)
                    && let Some(status) = self.unit_status(&name, lines, now, &triggers)
                {
                    shown.insert(name);
                    out.push(status);
                }
            } else if let Some(unit) = instances.get(&name).cloned() {
                if shown.insert(unit.name.clone()) {
                    out.push(self.unloaded_status(unit, lines, &triggers));
                }
            } else {
                missing.push(self.unknown_unit(&name));
            }
        }
        if out.is_empty() && !missing.is_empty() {
            return Reply::err(id, ErrorCode::NoSuchUnit, missing.join("\n"));
        }
        Reply::ok(
            id,
            Body::Status {
                units: out,
                not_found: missing,
            },
        )
    }

    /// The status of a loaded unit.
    fn unit_status(
        &self,
        name: &str,
        lines: usize,
        now: vigil_engine::Time,
        sockets: &SocketTriggers,
    ) -> Option<UnitStatus> {
        let info = self.engine.unit(name)?;
        // What the unit runs with; its files as loaded now, as systemctl's
        // status and cat show them after a reload (`vigil edit` of a
        // running unit shows its new drop-in before the restart).
        let model = self.engine.run_definition(name);
        let files = self.engine.definition(name);
        Some(UnitStatus {
            name: info.name.clone(),
            description: info.description.clone(),
            state: info.state.to_string(),
            reason: reason(&self.engine, &info),
            pid: info.main_pid,
            since_us: self.wall_us(info.since.min(now)),
            restarts: info.restarts,
            last_exit: info.last_exit.map(|e| match e {
                vigil_engine::ExitStatus::Exited(c) => format!("exited {c}"),
                // SIGRTMIN+6 too (review finding: "killed by signal").
                vigil_engine::ExitStatus::Signaled(s) => {
                    format!("killed by {}", vigil_engine::signal_words(s))
                }
            }),
            status_text: info.status_text.clone(),
            status_errno: info.status_errno,
            next_restart_us: info.next_restart.map(|t| self.wall_us(t)),
            source: files
                .as_ref()
                .and_then(|m| m.source.as_ref())
                .or_else(|| self.broken_paths.get(name))
                .map(|p| p.display().to_string()),
            drop_ins: (files.iter())
                .flat_map(|m| &m.dropins)
                .map(|p| p.display().to_string())
                .collect(),
            not_enforced: model
                .as_ref()
                .map(|m| m.not_enforced.clone())
                .unwrap_or_default(),
            bus_name: model
                .as_ref()
                .and_then(|m| m.service.as_ref())
                .and_then(|s| (*s.bus_name).clone()),
            cycle: info.cycle.clone(),
            waiting_for: self.engine.waiting_for(name),
            listen: model.as_ref().map(|m| listen_lines(m)).unwrap_or_default(),
            triggers: model.as_ref().and_then(|m| triggers(m)),
            triggered_by: sockets.of(name),
            need_daemon_reload: self.need_daemon_reload(name),
            logs: self.logs.tail(&Select::Unit(name.to_string()), lines),
        })
    }

    /// Which socket units start which service, read once for a whole
    /// `vigil status` (once per unit shown, it cost the square of the units).
    pub(crate) fn socket_triggers(&self) -> SocketTriggers {
        let mut triggers = SocketTriggers::default();
        // The names alone: the whole report of every unit (`units()`, their
        // names and dependencies copied) cost a status of one unit among a
        // thousand some 0.9 ms, twice the time `vigil status` took before.
        let sockets = (self.engine.states()).filter(|(n, _)| n.ends_with(".socket"));
        for name in sockets.map(|(n, _)| n) {
            let def = self.engine.run_definition(name);
            let Some(socket) = def.as_ref().and_then(|d| d.socket.as_ref()) else {
                continue;
            };
            let by = &mut triggers.by_service;
            by.entry(socket.service.clone())
                .or_default()
                .push(name.to_string());
            if socket.accept {
                let by = &mut triggers.by_template;
                by.entry(socket.service.clone())
                    .or_default()
                    .push(name.to_string());
            }
        }
        triggers
    }

    /// The status of an instance read from its template and not loaded:
    /// inactive, never started (`since_us` 0), and the lines still kept of an
    /// earlier instance of that name.
    fn unloaded_status(
        &self,
        unit: vigil_units::model::Unit,
        lines: usize,
        sockets: &SocketTriggers,
    ) -> UnitStatus {
        let (listen, triggers) = (listen_lines(&unit), triggers(&unit));
        let triggered_by = sockets.of(&unit.name);
        UnitStatus {
            logs: self.logs.tail(&Select::Unit(unit.name.clone()), lines),
            name: unit.name,
            description: unit.description,
            state: State::Inactive.to_string(),
            reason: None,
            pid: None,
            since_us: 0,
            restarts: 0,
            last_exit: None,
            status_text: None,
            status_errno: None,
            next_restart_us: None,
            source: unit.source.map(|p| p.display().to_string()),
            drop_ins: (unit.dropins.iter())
                .map(|p| p.display().to_string())
                .collect(),
            not_enforced: unit.not_enforced,
            bus_name: None,
            cycle: None,
            waiting_for: Vec::new(),
            listen,
            triggers,
            triggered_by,
            // Read now: nothing loaded to be outdated.
            need_daemon_reload: false,
        }
    }

    /// `vigil is-enabled`: what the configuration directories say of each
    /// unit, read now (as enable and disable read them).
    fn is_enabled(&mut self, id: u64, units: &[String]) -> Reply {
        let set = vigil_units::load::load_dirs(&self.opts.config_dirs, &self.spec_ctx);
        let jobs = units
            .iter()
            .map(|u| {
                let name = vigil_units::name::normalize(u);
                let (word, ok) = self.unit_file_state(&set, &name);
                JobResult {
                    unit: name,
                    state: word.into(),
                    reason: None,
                    ok,
                }
            })
            .collect();
        Reply::ok(id, Body::jobs(jobs))
    }

    /// `vigil list-unit-files`: every unit file of the configuration
    /// directories (those whose name a pattern matches, when some are
    /// given) and what `is-enabled` says of it, read now as `is-enabled`
    /// reads them.
    fn list_unit_files(&mut self, id: u64, patterns: &[String]) -> Reply {
        let set = vigil_units::load::load_dirs(&self.opts.config_dirs, &self.spec_ctx);
        // Each once: every file is matched against them.
        let distinct: HashSet<&str> = patterns.iter().map(String::as_str).collect();
        let patterns: Vec<vigil_units::glob::Pattern> = (distinct.into_iter())
            .map(vigil_units::glob::Pattern::new)
            .collect();
        let wanted =
            |name: &str| patterns.is_empty() || patterns.iter().any(|p| p.matches(name, false));
        let files = vigil_units::install::unit_files(&set, &self.opts.config_dirs, wanted);
        let files = (files.into_iter())
            .map(|(unit_file, state)| UnitFile {
                unit_file,
                state: state.into(),
            })
            .collect();
        Reply::ok(id, Body::UnitFiles { files })
    }

    fn install(&mut self, id: u64, units: &[String], enable: bool) -> Reply {
        let Some(dir) = self.opts.config_dirs.first().cloned() else {
            return Reply::err(id, ErrorCode::Failed, "no configuration directory");
        };
        let mut jobs = Vec::new();
        // Only to plan the links: nothing is loaded, aliases stay as loaded.
        let set = vigil_units::load::load_dirs(&self.opts.config_dirs, &self.spec_ctx);
        // Every name is planned before anything is linked, as systemctl checks
        // them all first: a name that fails changes nothing.
        let mut plans = Vec::new();
        for u in units {
            let name = vigil_units::name::normalize(u);
            let plan = if enable {
                vigil_units::install::enable_plan(&set, &dir, &name)
            } else {
                vigil_units::install::disable_plan(&set, &dir, &name)
            };
            match plan {
                Ok(changes) => {
                    // As the unit's own line, one for each Also= unit that was
                    // left out, after it.
                    let left_out: Vec<JobResult> = changes
                        .iter()
                        .filter_map(|c| match c {
                            InstallChange::Unsupported { name: also } => Some(JobResult {
                                reason: Some(format!(
                                    "{also} (Also= of {name}) is a unit of a type vigil \
                                     does not run yet: left as it was"
                                )),
                                unit: also.clone(),
                                state: "skipped".into(),
                                ok: true,
                            }),
                            _ => None,
                        })
                        .collect();
                    plans.push(changes);
                    jobs.push(JobResult {
                        unit: name,
                        state: if enable { "enabled" } else { "disabled" }.into(),
                        reason: None,
                        ok: true,
                    });
                    jobs.extend(left_out);
                }
                // As systemctl: not an error, but said (the unit is started
                // by another one, or by hand).
                Err(InstallError::NoInstallSection { name: bare }) if bare == name => {
                    jobs.push(JobResult {
                        reason: Some(format!(
                            "{name} has no [Install] section (WantedBy=, RequiredBy=, \
                             Alias=, Also=): it is not meant to be enabled, and nothing \
                             was linked; it starts when another unit wants it, or by hand"
                        )),
                        unit: name,
                        state: "static".into(),
                        ok: true,
                    });
                }
                Err(e) => {
                    let why = format!("{name}: {e}; nothing was changed");
                    return Reply::err(id, ErrorCode::Failed, why);
                }
            }
        }
        for changes in &plans {
            if let Err(e) = vigil_units::install::apply(changes) {
                return Reply::err(id, ErrorCode::Failed, e.to_string());
            }
        }
        // Like `systemctl enable` without --now: the links take effect at the next
        // boot or `vigil sync`; nothing is started or stopped now.
        let changes = file_changes(plans.iter().flatten());
        Reply::ok(id, Body::Jobs { jobs, changes })
    }

    /// `vigil mask` / `vigil unmask`: the links to /dev/null in the
    /// directory `enable` writes to (the first configuration directory),
    /// every name planned before anything is changed, as `install` does.
    /// Then the configuration is read again, as systemctl reloads the
    /// manager after a mask: a masked unit cannot be started from now on (a
    /// running one runs on until it is stopped, as one whose file was
    /// removed), and an unmasked one is there again.
    fn mask(&mut self, id: u64, units: &[String], mask: bool) -> Reply {
        let Some(dir) = self.opts.config_dirs.first().cloned() else {
            return Reply::err(id, ErrorCode::Failed, "no configuration directory");
        };
        let mut plans = Vec::new();
        let mut jobs = Vec::new();
        for u in units {
            let name = vigil_units::name::normalize(u);
            let plan = match mask {
                true => vigil_units::install::mask_plan(&dir, &name),
                false => vigil_units::install::unmask_plan(&dir, &name),
            };
            match plan {
                Ok(changes) => plans.push(changes),
                Err(e) => {
                    let why = format!("{name}: {e}; nothing was changed");
                    return Reply::err(id, ErrorCode::Failed, why);
                }
            }
            jobs.push(JobResult {
                unit: name,
                state: if mask { "masked" } else { "unmasked" }.into(),
                reason: None,
                ok: true,
            });
        }
        for changes in &plans {
            if let Err(e) = vigil_units::install::apply(changes) {
                return Reply::err(id, ErrorCode::Failed, e.to_string());
            }
        }
        let changes = file_changes(plans.iter().flatten());
        if !changes.is_empty() {
            // What it found is said in the manager's log, as at any read.
            let _ = self.load();
        }
        // A mask in another directory (a package's) is not this one to undo.
        for job in jobs.iter_mut().filter(|_| !mask) {
            if let Some(link) = self.masked.get(&job.unit) {
                job.reason = Some(format!(
                    "{} is still masked by {}: unmask removes links in {} only",
                    job.unit,
                    link.display(),
                    dir.display()
                ));
            }
        }
        Reply::ok(id, Body::Jobs { jobs, changes })
    }

    fn graph(&self) -> String {
        let mut dot = String::from("digraph vigil {\n  rankdir=LR;\n");
        for u in self.engine.units() {
            dot.push_str(&format!("  \"{}\";\n", u.name));
            for r in &u.requires {
                dot.push_str(&format!("  \"{}\" -> \"{r}\" [color=black];\n", u.name));
            }
            for w in &u.wants {
                dot.push_str(&format!("  \"{}\" -> \"{w}\" [color=grey66];\n", u.name));
            }
            for a in &u.after {
                dot.push_str(&format!(
                    "  \"{}\" -> \"{a}\" [color=green style=dashed];\n",
                    u.name
                ));
            }
        }
        dot.push_str("}\n");
        dot
    }
}

/// `isolate`: systemctl isolate's request, in its own block so that it
/// reads alone.
impl Daemon {
    /// Starts `unit` and stops every unit it does not need, as one
    /// transaction of the engine (`Event::Isolate`). Refused, with nothing
    /// changed, as a start of it is (no such unit, `RefuseManualStart=`), for
    /// a target without `AllowIsolate=yes`, and during a shutdown. Unless
    /// `no_block`, the reply waits for the target's start as `start` waits,
    /// and for each unit the isolate stops to be down: the target's job
    /// first, then theirs, by name.
    fn isolate(&mut self, client: u64, id: u64, unit: &str, no_block: bool) -> Option<Reply> {
        if vigil_units::glob::is_glob(unit) {
            let why = format!("isolate takes one unit name, not a pattern: {unit}");
            return Some(Reply::err(id, ErrorCode::BadRequest, why));
        }
        let mut name = self.unit_name(unit);
        // `vigil default`: default.target, or, where no unit has that name,
        // the target this manager boots (`--target`), which it starts again
        // after an emergency shell, as systemd's emergency.service runs
        // `systemctl default`.
        if name == "default.target" && !self.engine.contains(&name) {
            name = self.unit_name(&self.opts.target);
        }
        if self.phase != crate::daemon::Phase::Running {
            let why = format!("cannot isolate {name}: the manager is shutting down");
            return Some(Reply::err(id, ErrorCode::NotAllowed, why));
        }
        if !self.engine.contains(&name) {
            return Some(Reply::err(
                id,
                ErrorCode::NoSuchUnit,
                self.unknown_unit(&name),
            ));
        }
        if let Some(why) = self.manual_refusal(&name, JobKind::Start) {
            let why = format!("{name}: {why}");
            return Some(Reply::err(id, ErrorCode::NotAllowed, why));
        }
        // What it stops, named before it does: the engine queues every job
        // in this call, and nothing changes in between.
        let stops = match self.engine.isolate_plan(&name) {
            Ok(stops) => stops,
            Err(e) => return Some(self.engine_refusal(id, &e)),
        };
        let now = self.now();
        if let Err(e) = self.engine.handle(now, Event::Isolate(name.clone())) {
            return Some(self.engine_refusal(id, &e));
        }
        if no_block {
            let failed = failed_at_once(self.engine.unit(&name).as_ref());
            let mut jobs = vec![self.job_result(&name, !failed)];
            jobs.extend(stops.iter().map(|n| self.job_result(n, true)));
            return Some(Reply::ok(id, Body::jobs(jobs)));
        }
        let target = WaitUnit {
            name,
            kind: None,
            armed: true,
            behind: false,
            result: None,
        };
        let stopped = stops.into_iter().map(|name| WaitUnit {
            name,
            kind: Some(JobKind::Stop),
            armed: true,
            behind: false,
            result: None,
        });
        // Answered as the jobs end (process_actions, after this request).
        self.clients.waiters.push(Waiter {
            client,
            id,
            kind: JobKind::Start,
            units: std::iter::once(target).chain(stopped).collect(),
        });
        None
    }
}

fn summary(engine: &Engine, u: &UnitInfo) -> UnitSummary {
    UnitSummary {
        name: u.name.clone(),
        state: u.state.to_string(),
        reason: reason(engine, u),
        pid: u.main_pid,
        description: u.description.clone(),
        restarts: u.restarts,
    }
}

/// Why the unit is in its state; for one whose file is gone (systemd's
/// `not-found`) and has no other reason, that.
fn reason(engine: &Engine, u: &UnitInfo) -> Option<String> {
    let file_gone = u.removed.then(|| vigil_proto::FILE_REMOVED.to_string());
    (u.reason.as_ref())
        .map(|r| reason_text(engine, r))
        .or(file_gone)
}

/// A unit's reason as a client reads it: a start that failed for a
/// requirement no unit is there for says why (`dependency failed:
/// bar.service is masked`, or `... not found`), as systemctl says `Unit
/// bar.service is masked.`; a requirement that is a unit (one that failed,
/// one whose file did not load) is named alone, as before.
pub(crate) fn reason_text(engine: &Engine, r: &Reason) -> String {
    match r {
        Reason::DependencyFailed(dep) if !engine.contains(dep) => {
            format!("dependency failed: {}", engine.unavailable(dep))
        }
        r => r.to_string(),
    }
}

/// Whether the peer of `stream` (process `pid`, primary group `gid`) is in
/// `adm` or `systemd-journal`, the groups that read logs on Debian: its
/// supplementary groups as they were when it connected (SO_PEERGROUPS; by
/// /proc/PID/status only on a kernel without it, where a PID reused since
/// could lend its groups), the names as /etc/group has them.
fn in_log_groups(stream: &UnixStream, pid: u32, gid: u32) -> bool {
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let readers: Vec<u32> = vigil_spawn::users::parse_group(&groups)
        .into_iter()
        .filter(|g| g.name == "adm" || g.name == "systemd-journal")
        .map(|g| g.gid)
        .collect();
    let supplementary = vigil_platform::peer_groups(stream).unwrap_or_else(|_| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        (status.lines().find_map(|l| l.strip_prefix("Groups:")))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|g| g.parse::<u32>().ok())
            .collect()
    });
    std::iter::once(gid)
        .chain(supplementary)
        .any(|g| readers.contains(&g))
}

/// A socket unit's `Listen*=` lines for `vigil status`: `ADDRESS (ListenStream)`.
fn listen_lines(unit: &vigil_units::model::Unit) -> Vec<String> {
    let lines = unit
        .socket
        .as_ref()
        .map(|s| s.listen.as_slice())
        .unwrap_or_default();
    let line = |l: &vigil_units::model::Listen| format!("{} ({})", l.address, l.kind.directive());
    lines.iter().map(line).collect()
}

/// The service a socket unit starts; with `Accept=yes`, its template.
fn triggers(unit: &vigil_units::model::Unit) -> Option<String> {
    let socket = unit.socket.as_ref()?;
    Some(match socket.accept {
        true => format!("{} (an instance per connection)", socket.service),
        false => socket.service.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// systemd's collapse of try-restart, reload-or-start and try-reload
    /// (job_type_collapse), by state and whether the unit can reload.
    #[test]
    fn conditional_jobs_collapse_by_state_as_systemds() {
        use Conditional::*;
        let (restart, start, reload) = (
            Some(JobKind::Restart),
            Some(JobKind::Start),
            Some(JobKind::Reload),
        );
        for (state, try_restart, reload_able, reload_not, try_able, try_not) in [
            (State::Running, restart, reload, restart, reload, restart),
            (State::Exited, restart, reload, restart, reload, restart),
            (State::Reloading, restart, reload, restart, reload, restart),
            (State::Starting, restart, start, restart, None, restart),
            (State::Waiting, restart, start, restart, None, restart),
            (State::Restarting, restart, start, restart, None, restart),
            (State::Stopping, None, start, restart, None, None),
            (State::Inactive, None, start, restart, None, None),
            (State::Failed, None, start, restart, None, None),
        ] {
            for (op, can_reload, want) in [
                (TryRestart, true, try_restart),
                (TryRestart, false, try_restart),
                (ReloadOrRestart, true, reload_able),
                (ReloadOrRestart, false, reload_not),
                (TryReloadOrRestart, true, try_able),
                (TryReloadOrRestart, false, try_not),
            ] {
                let got = collapse(op, state, can_reload);
                assert_eq!(got, want, "{op:?} {state} can_reload={can_reload}");
            }
        }
    }

    #[test]
    fn a_user_gets_64_connections_and_all_of_them_a_quarter_of_the_descriptors() {
        let limit = 1 << 20;
        assert_eq!(admit(63, 500, 100, limit), Ok(()));
        assert_eq!(admit(64, 500, 100, limit), Err(Refusal::PerUser));
        assert_eq!(
            admit(10, 1024, 100, limit),
            Err(Refusal::AllUsers { cap: 1024 })
        );
        // Few descriptors: a quarter of them.
        assert_eq!(admit(10, 255, 100, 1024), Ok(()));
        assert_eq!(
            admit(10, 256, 100, 1024),
            Err(Refusal::AllUsers { cap: 256 })
        );
    }

    #[test]
    fn refusals_counted_since_the_last_warning_are_said_when_due() {
        let path = std::env::temp_dir().join(format!("vigil-refusals-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut clients = Clients::new(UnixListener::bind(&path, 0o600).unwrap());
        assert_eq!(clients.refusals_due(), None);
        clients.last_refusal_log = Some(Duration::from_secs(1));
        clients.refused.insert(65534, 3);
        assert_eq!(clients.refusals_due(), Some(Duration::from_secs(11)));
        clients.report_refusals(Duration::from_secs(5));
        assert!(clients.take_warnings().is_empty());
        clients.report_refusals(Duration::from_secs(11));
        assert_eq!(
            clients.take_warnings(),
            ["refused connection(s) since the last warning: 3 from uid 65534"]
        );
        assert_eq!(clients.refusals_due(), None);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn no_user_but_root_gets_a_descriptor_in_the_top_quarter() {
        assert_eq!(admit(0, 0, 767, 1024), Ok(()));
        assert_eq!(
            admit(0, 0, 768, 1024),
            Err(Refusal::Reserve { limit: 1024 })
        );
        assert_eq!(admit(0, 0, 100, u64::MAX), Ok(()));
    }
}
