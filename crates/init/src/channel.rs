//! The init side of the channel to the manager (docs/INIT.md has the protocol): a
//! SOCK_SEQPACKET socketpair whose other end is the manager's fd 3. It owns the fd store
//! (descriptors the manager asks init to keep across its own death) and the ring of exit
//! statuses init reaped, and sends both to each new manager.
//!
//! It never blocks on the manager: the socket is non-blocking, and what cannot be sent
//! now stays queued (the fd store is re-read, the ring keeps its entries) until the socket
//! is writable again. Every array is mapped once, at start, zeroed: a page costs memory
//! only once used.

use crate::log::{self, Line, say, shout};
use crate::shutdown::Action;
use crate::sys::{self, EAGAIN, ECONNRESET, EINTR, Fd};

/// Descriptors the fd store leaves free for vigil-init's own use.
const FD_RESERVE: u64 = 64;

/// Descriptors the fd store holds at most.
pub const MAX_FDS: usize = 16384;
/// Exit statuses kept for the manager at most; beyond it the oldest is dropped and counted.
pub const RING: usize = 4096;
/// Longest fd store name, in bytes.
pub const NAME_MAX: usize = 64;
/// Longest message, in bytes; a longer one is ignored.
pub const MESSAGE_MAX: usize = 256;

/// What the manager asked init to do once it exits.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Requests {
    pub action: Option<Action>,
    pub exit_code: Option<u8>,
    /// The manager asked for the emergency shell.
    pub emergency: bool,
}

/// Where the greeting of a new manager stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// `fds N` is next.
    Count,
    /// `fd NAME` for the stored descriptor at this slot, if any.
    Fd(usize),
    /// This many `exited` lines of the backlog are still due before `ready`.
    Backlog(usize),
    Ready,
    /// Greeting done; `exited` lines are sent as processes are reaped.
    Live,
}

/// The message just sent, to advance the state once the socket took it.
#[derive(Debug, Clone, Copy)]
enum Sent {
    Count,
    Fd(usize),
    Ready,
    Lost,
    /// This many statuses, from the head of the ring.
    Exited(usize),
    EmergencyOver,
}

#[derive(Debug)]
pub struct Channel {
    sock: Option<Fd>,
    phase: Phase,
    /// The last send would have blocked; wait for POLLOUT before trying again.
    blocked: bool,
    /// Sending failed for good (the manager closed its end); the socket is kept for what
    /// the manager sent before, which is still to be read.
    broken: bool,
    store: FdStore,
    /// The emergency shell the manager asked for has exited: tell it.
    pub emergency_over: bool,
    ring: &'static mut [(i32, i32)],
    head: usize,
    queued: usize,
    lost: u64,
}

impl Channel {
    pub fn new() -> Channel {
        Channel {
            sock: None,
            phase: Phase::Live,
            blocked: false,
            broken: false,
            store: FdStore::new(MAX_FDS),
            emergency_over: false,
            ring: sys::zeroed(RING),
            head: 0,
            queued: 0,
            lost: 0,
        }
    }

    /// Opens a fresh channel for a manager about to start and returns the end it gets.
    pub fn connect(&mut self) -> sys::Result<Fd> {
        let (ours, theirs) = sys::socketpair()?;
        self.sock = Some(ours);
        self.phase = Phase::Count;
        self.blocked = false;
        self.broken = false;
        Ok(theirs)
    }

    pub fn disconnect(&mut self) {
        self.sock = None;
    }

    pub fn socket(&self) -> Option<i32> {
        self.sock.as_ref().map(Fd::raw)
    }

    /// True when there is something to send that waits for the socket to become writable.
    pub fn wants_writable(&self) -> bool {
        self.sock.is_some() && self.blocked
    }

    pub fn writable(&mut self) {
        self.blocked = false;
    }

    /// Remembers the exit status of a reaped process for the manager.
    pub fn reaped(&mut self, pid: i32, status: i32) {
        if self.queued >= RING {
            self.head = (self.head.wrapping_add(1)) % RING;
            self.queued = RING.saturating_sub(1);
            self.lost = self.lost.saturating_add(1);
        }
        let at = (self.head.wrapping_add(self.queued)) % RING;
        if let Some(slot) = self.ring.get_mut(at) {
            *slot = (pid, status);
            self.queued = self.queued.saturating_add(1);
        }
    }

    /// Closes every stored descriptor: they would keep filesystems busy at shutdown.
    pub fn close_store(&mut self) {
        self.store.clear();
    }

    /// Reads every pending message; requests are recorded in `requests`.
    pub fn receive(&mut self, requests: &mut Requests) {
        let mut buf = [0u8; MESSAGE_MAX];
        while let Some(sock) = self.socket() {
            let mut fds = [const { None }; 16];
            let got = match sys::recv(sock, &mut buf, &mut fds) {
                Ok(got) => got,
                Err(EAGAIN) => return,
                // The manager left without reading all we sent: the kernel reports that
                // once, before the messages it sent, which are still to be read.
                Err(EINTR | ECONNRESET) => continue,
                Err(e) => {
                    say!(log::WARNING, "manager channel: ", e);
                    self.sock = None;
                    return;
                }
            };
            if got.len == 0 && fds.iter().all(Option::is_none) {
                // The manager closed its end: nothing more will come.
                self.sock = None;
                return;
            }
            if got.truncated {
                say!(log::WARNING, "manager channel: message too long, ignored");
                continue;
            }
            let text = buf.get(..got.len).map_or(&[][..], |t| t);
            self.handle(text, &mut fds, requests);
        }
    }

    fn handle(&mut self, text: &[u8], fds: &mut [Option<Fd>], requests: &mut Requests) {
        let text = text.strip_suffix(b"\n").map_or(text, |t| t);
        let (verb, arg) = match text.iter().position(|&b| b == b' ') {
            Some(at) => (text.get(..at), text.get(at.saturating_add(1)..)),
            None => (Some(text), Some(&b""[..])),
        };
        let (Some(verb), Some(arg)) = (verb, arg) else {
            return;
        };
        match verb {
            b"shutdown" => match Action::parse(arg) {
                Some(action) => {
                    shout!("the manager asks for ", action.name(), " once it exits");
                    requests.action = Some(action);
                }
                None => say!(log::WARNING, "manager channel: unknown shutdown action"),
            },
            b"exit" => match number(arg).and_then(|n| u8::try_from(n).ok()) {
                Some(code) => {
                    requests.action = Some(Action::Exit);
                    requests.exit_code = Some(code);
                }
                None => say!(log::WARNING, "manager channel: bad exit code"),
            },
            b"fdstore" if valid_name(arg) => {
                for fd in fds.iter_mut().filter_map(Option::take) {
                    self.store_fd(arg, fd);
                }
            }
            b"fdstore-remove" => self.store.remove(arg),
            b"hello" => self.phase = Phase::Count,
            b"emergency" => requests.emergency = true,
            _ => say!(
                log::WARNING,
                "manager channel: unknown or malformed message ignored"
            ),
        }
    }

    fn store_fd(&mut self, name: &[u8], fd: Fd) {
        // Descriptors kept for the manager must never leave vigil-init without
        // the few it needs itself (the next manager's channel, a pidfd, a console).
        if !sys::fd_headroom(fd.raw(), FD_RESERVE) {
            say!(
                log::WARNING,
                "fd store: at the descriptor limit, descriptor closed"
            );
        } else if self.store.push(name, fd).is_err() {
            say!(log::WARNING, "fd store full: descriptor closed");
        }
    }

    /// Sends what is due, as far as the socket takes it.
    pub fn flush(&mut self) {
        while self.sock.is_some() && !self.blocked && !self.broken {
            let mut line = Line::<MESSAGE_MAX>::new();
            let mut fd = None;
            let what = match self.phase {
                Phase::Count => {
                    line.push(b"fds ").num(self.store.len() as i64);
                    Sent::Count
                }
                Phase::Fd(at) => match self.store.get(at) {
                    Some((name, stored)) => {
                        line.push(b"fd ");
                        line.push(name);
                        fd = Some(stored);
                        Sent::Fd(at)
                    }
                    None => {
                        self.phase = Phase::Backlog(self.queued);
                        continue;
                    }
                },
                Phase::Backlog(0) => {
                    self.phase = Phase::Ready;
                    continue;
                }
                Phase::Ready => {
                    line.push(b"ready");
                    Sent::Ready
                }
                Phase::Backlog(_) | Phase::Live if self.lost > 0 => {
                    line.push(b"lost ")
                        .num(i64::try_from(self.lost).map_or(i64::MAX, |n| n));
                    Sent::Lost
                }
                Phase::Live if self.emergency_over => {
                    line.push(b"emergency-over");
                    Sent::EmergencyOver
                }
                Phase::Backlog(due) => self.exited(&mut line, due),
                Phase::Live => self.exited(&mut line, self.queued),
            };
            if let Sent::Exited(0) = what {
                if let Phase::Backlog(_) = self.phase {
                    self.phase = Phase::Ready;
                    continue;
                }
                return;
            }
            match self.send(line.bytes(), fd) {
                Ok(_) => self.sent(what),
                Err(EAGAIN) => self.blocked = true,
                Err(e) => {
                    say!(log::WARNING, "manager channel: ", e);
                    self.broken = true;
                }
            }
        }
    }

    fn sent(&mut self, what: Sent) {
        match what {
            Sent::Count => self.phase = Phase::Fd(0),
            Sent::Fd(at) => self.phase = Phase::Fd(at.saturating_add(1)),
            Sent::Ready => self.phase = Phase::Live,
            Sent::Lost => self.lost = 0,
            Sent::EmergencyOver => self.emergency_over = false,
            Sent::Exited(n) => {
                self.head = self.head.wrapping_add(n) % RING;
                self.queued = self.queued.saturating_sub(n);
                if let Phase::Backlog(left) = self.phase {
                    self.phase = Phase::Backlog(left.saturating_sub(n));
                }
            }
        }
    }

    /// `exited PID WSTATUS ...` with as many of the first `due` statuses of the ring as
    /// fit in one message.
    fn exited(&self, line: &mut Line<MESSAGE_MAX>, due: usize) -> Sent {
        line.push(b"exited");
        let mut n = 0;
        while n < due.min(self.queued) {
            let at = self.head.wrapping_add(n) % RING;
            let Some(&(pid, status)) = self.ring.get(at) else {
                break;
            };
            let mut pair = Line::<32>::new();
            pair.push(b" ")
                .num(pid.into())
                .push(b" ")
                .num(status.into());
            if line.bytes().len().saturating_add(pair.bytes().len()) > MESSAGE_MAX {
                break;
            }
            line.push(pair.bytes());
            n = n.saturating_add(1);
        }
        Sent::Exited(n)
    }

    fn send(&self, bytes: &[u8], fd: Option<i32>) -> sys::Result<usize> {
        self.socket()
            .map_or(Ok(0), |sock| sys::send(sock, bytes, fd))
    }
}

/// A name is 1 to NAME_MAX bytes of printable ASCII without spaces.
fn valid_name(name: &[u8]) -> bool {
    (1..=NAME_MAX).contains(&name.len()) && name.iter().all(|b| b.is_ascii_graphic())
}

/// A decimal number, if `text` is one.
pub fn number(text: &[u8]) -> Option<u64> {
    let digits = (!text.is_empty() && text.len() < 20).then_some(text)?;
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

/// The fd store's descriptors and names, dense (slots `0..len` are used).
#[derive(Debug)]
struct FdStore {
    fds: &'static mut [i32],
    names: &'static mut [[u8; NAME_MAX]],
    lens: &'static mut [u8],
    len: usize,
}

impl FdStore {
    fn new(capacity: usize) -> FdStore {
        FdStore {
            fds: sys::zeroed(capacity),
            names: sys::zeroed(capacity),
            lens: sys::zeroed(capacity),
            len: 0,
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    /// Keeps `fd` under `name` (at most NAME_MAX bytes); hands it back when full.
    fn push(&mut self, name: &[u8], fd: Fd) -> Result<(), Fd> {
        let at = self.len;
        let (Some(slot), Some(dst), Some(len), Ok(n)) = (
            self.fds.get_mut(at),
            self.names.get_mut(at),
            self.lens.get_mut(at),
            u8::try_from(name.len()),
        ) else {
            return Err(fd);
        };
        let Some(dst) = dst.get_mut(..name.len()) else {
            return Err(fd);
        };
        dst.copy_from_slice(name);
        *len = n;
        *slot = fd.leak();
        self.len = at + 1;
        Ok(())
    }

    /// The name and descriptor at `at`.
    fn get(&self, at: usize) -> Option<(&[u8], i32)> {
        let fd = *self.fds.get(at).filter(|_| at < self.len)?;
        let len = usize::from(*self.lens.get(at)?);
        Some((self.names.get(at)?.get(..len)?, fd))
    }

    /// Closes every descriptor stored under `name`; the last slot fills each hole.
    fn remove(&mut self, name: &[u8]) {
        let mut at = 0;
        while at < self.len {
            if self.get(at).is_some_and(|(n, _)| n == name) {
                self.close(at);
            } else {
                at += 1;
            }
        }
    }

    fn clear(&mut self) {
        while self.len > 0 {
            self.close(self.len - 1);
        }
    }

    fn close(&mut self, at: usize) {
        if at >= self.len {
            return;
        }
        let last = self.len.saturating_sub(1);
        if let Some(&fd) = self.fds.get(at) {
            sys::close(fd);
        }
        self.fds.swap(at, last);
        self.names.swap(at, last);
        self.lens.swap(at, last);
        self.len = last;
    }
}
