//! The init side of the channel to the manager (docs/INIT.md has the protocol): a
//! SOCK_SEQPACKET socketpair whose other end is the manager's fd 3. It owns the fd store
//! (descriptors the manager asks init to keep across its own death) and the ring of exit
//! statuses init reaped, and sends both to each new manager.
//!
//! It never blocks on the manager: the socket is non-blocking, and what cannot be sent
//! now stays queued (the fd store is re-read, the ring keeps its entries) until the socket
//! is writable again. Both arrays are mapped once, at start, zeroed: a page costs memory
//! only once used.

use core::fmt::Write as _;
use core::mem::MaybeUninit;

use rustix::fd::{AsFd as _, AsRawFd as _, BorrowedFd, IntoRawFd as _, OwnedFd};
use rustix::io::{self, Errno, IoSlice, IoSliceMut};
use rustix::net::{self as net, RecvAncillaryBuffer, RecvAncillaryMessage as Recv, RecvFlags};
use rustix::net::{ReturnFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};

use crate::log::{self, Line, Why, say, shout};
use crate::shutdown::Action;
use crate::sys;

/// Descriptors the fd store leaves free for vigil-init's own use (the next manager's
/// channel, a console).
pub const FD_RESERVE: u64 = 64;
/// Descriptors the fd store holds at most.
pub const MAX_FDS: usize = 16384;
/// Exit statuses kept for the manager at most; beyond it the oldest is dropped and counted.
const RING: usize = 4096;
/// Longest fd store name, in bytes.
const NAME_MAX: usize = 64;
/// Longest message, in bytes; a longer one is ignored.
const MESSAGE_MAX: usize = 256;

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
    sock: Option<OwnedFd>,
    phase: Phase,
    /// The last send would have blocked; wait for POLLOUT before trying again.
    pub blocked: bool,
    /// Sending failed for good (the manager closed its end); the socket is kept for what
    /// the manager sent before, which is still to be read.
    broken: bool,
    /// The fd store, dense (slots `0..stored` are used): descriptor, name length, name.
    store: &'static mut [(i32, u8, [u8; NAME_MAX])],
    stored: usize,
    /// The emergency shell the manager asked for has exited: tell it.
    pub emergency_over: bool,
    ring: &'static mut [(i32, i32)],
    head: usize,
    queued: usize,
    lost: u64,
}

impl Drop for Channel {
    /// Closes every stored descriptor (at shutdown: they would keep filesystems busy).
    fn drop(&mut self) {
        while self.stored > 0 {
            self.close(self.stored - 1);
        }
    }
}

impl Channel {
    pub fn new() -> Channel {
        Channel {
            sock: None,
            phase: Phase::Live,
            blocked: false,
            broken: false,
            store: sys::zeroed(MAX_FDS),
            stored: 0,
            emergency_over: false,
            ring: sys::zeroed(RING),
            head: 0,
            queued: 0,
            lost: 0,
        }
    }

    /// Opens a fresh channel for a manager about to start and returns the end it gets.
    pub fn connect(&mut self) -> io::Result<OwnedFd> {
        use net::{AddressFamily, SocketFlags, SocketType};
        let flags = SocketFlags::CLOEXEC | SocketFlags::NONBLOCK;
        let (ours, theirs) =
            net::socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, flags, None)?;
        self.sock = Some(ours);
        self.phase = Phase::Count;
        self.blocked = false;
        self.broken = false;
        Ok(theirs)
    }

    pub fn disconnect(&mut self) {
        self.sock = None;
    }

    pub fn socket(&self) -> Option<BorrowedFd<'_>> {
        self.sock.as_ref().map(|s| s.as_fd())
    }

    /// Remembers the exit status of a reaped process for the manager.
    pub fn reaped(&mut self, pid: i32, status: i32) {
        if self.queued >= RING {
            self.head = (self.head + 1) % RING;
            self.queued = RING - 1;
            self.lost = self.lost.saturating_add(1);
        }
        if let Some(slot) = self.ring.get_mut((self.head + self.queued) % RING) {
            *slot = (pid, status);
            self.queued += 1;
        }
    }

    /// Reads every pending message; requests are recorded in `requests`.
    pub fn receive(&mut self, requests: &mut Requests) {
        let mut buf = [0u8; MESSAGE_MAX];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(16))];
        while let Some(sock) = self.socket() {
            let mut fds = RecvAncillaryBuffer::new(&mut space);
            let flags = RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC;
            let got = match net::recvmsg(sock, &mut [IoSliceMut::new(&mut buf)], &mut fds, flags) {
                Ok(got) => got,
                Err(Errno::AGAIN) => return,
                // The manager left without reading all we sent: the kernel reports that
                // once, before the messages it sent, which are still to be read.
                Err(Errno::INTR | Errno::CONNRESET) => continue,
                Err(e) => {
                    say!(log::WARNING, "manager channel: {}", Why(e));
                    return self.disconnect();
                }
            };
            if got.bytes == 0 && fds.drain().next().is_none() {
                // The manager closed its end: nothing more will come.
                return self.disconnect();
            }
            if got.flags.contains(ReturnFlags::TRUNC) {
                say!(log::WARNING, "manager channel: message too long, ignored");
                continue;
            }
            let text = buf.get(..got.bytes).unwrap_or_default();
            self.handle(text.strip_suffix(b"\n").unwrap_or(text), &mut fds, requests);
        }
    }

    fn handle(&mut self, text: &[u8], fds: &mut RecvAncillaryBuffer<'_>, requests: &mut Requests) {
        let (verb, arg) = match text.iter().position(|&b| b == b' ') {
            Some(at) => (text.get(..at), text.get(at + 1..)),
            None => (Some(text), Some(&b""[..])),
        };
        let (Some(verb), Some(arg)) = (verb, arg) else {
            return;
        };
        let valid_name =
            (1..=NAME_MAX).contains(&arg.len()) && arg.iter().all(u8::is_ascii_graphic);
        match verb {
            b"shutdown" => match Action::parse(arg) {
                Some(action) => {
                    shout!("the manager asks for {} once it exits", action.name());
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
            b"fdstore" if valid_name => {
                for message in fds.drain() {
                    if let Recv::ScmRights(received) = message {
                        received.for_each(|fd| self.keep(arg, fd));
                    }
                }
            }
            b"fdstore-remove" => {
                let mut at = 0;
                while let Some((name, _)) = self.stored(at) {
                    if name == arg { self.close(at) } else { at += 1 }
                }
            }
            b"hello" => self.phase = Phase::Count,
            b"emergency" => requests.emergency = true,
            _ => say!(
                log::WARNING,
                "manager channel: unknown or malformed message ignored"
            ),
        }
    }

    /// Keeps `fd` in the fd store under `name`, unless the store is full or keeping it
    /// would leave vigil-init without the few descriptors it needs itself.
    fn keep(&mut self, name: &[u8], fd: OwnedFd) {
        if !sys::fd_headroom(fd.as_raw_fd(), FD_RESERVE) {
            return say!(
                log::WARNING,
                "fd store: at the descriptor limit, descriptor closed"
            );
        }
        let Some(slot) = self.store.get_mut(self.stored) else {
            return say!(log::WARNING, "fd store full: descriptor closed");
        };
        if let Some(dst) = slot.2.get_mut(..name.len()) {
            dst.copy_from_slice(name);
            (slot.0, slot.1) = (fd.into_raw_fd(), name.len() as u8);
            self.stored += 1;
        }
    }

    /// The name and descriptor in the store's slot `at`.
    fn stored(&self, at: usize) -> Option<(&[u8], i32)> {
        let (fd, len, name) = self.store.get(at).filter(|_| at < self.stored)?;
        Some((name.get(..usize::from(*len))?, *fd))
    }

    /// Closes the descriptor at `at`; the last slot fills the hole.
    fn close(&mut self, at: usize) {
        if let Some(&(fd, ..)) = self.store.get(at).filter(|_| at < self.stored) {
            sys::close(fd);
            self.stored -= 1;
            self.store.swap(at, self.stored);
        }
    }

    /// Sends what is due, as far as the socket takes it.
    pub fn flush(&mut self) {
        while !self.blocked && !self.broken && self.sock.is_some() {
            let mut line = Line::<MESSAGE_MAX>::new();
            let mut fd = None;
            let what = match self.phase {
                Phase::Count => {
                    let _ = write!(line, "fds {}", self.stored);
                    Sent::Count
                }
                Phase::Fd(at) => match self.stored(at) {
                    Some((name, stored)) => {
                        let _ = write!(line, "fd {}", name.escape_ascii());
                        fd = Some(sys::fd(stored));
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
                    let _ = write!(line, "ready");
                    Sent::Ready
                }
                Phase::Backlog(_) | Phase::Live if self.lost > 0 => {
                    let _ = write!(line, "lost {}", self.lost);
                    Sent::Lost
                }
                Phase::Live if self.emergency_over => {
                    let _ = write!(line, "emergency-over");
                    Sent::EmergencyOver
                }
                Phase::Backlog(due) => self.exited(&mut line, due),
                Phase::Live => self.exited(&mut line, self.queued),
            };
            if let Sent::Exited(0) = what {
                if let Phase::Live = self.phase {
                    return;
                }
                self.phase = Phase::Ready;
                continue;
            }
            match self.send(line.bytes(), fd) {
                Ok(_) => self.sent(what),
                Err(Errno::AGAIN) => self.blocked = true,
                Err(e) => {
                    say!(log::WARNING, "manager channel: {}", Why(e));
                    self.broken = true;
                }
            }
        }
    }

    fn sent(&mut self, what: Sent) {
        match what {
            Sent::Count => self.phase = Phase::Fd(0),
            Sent::Fd(at) => self.phase = Phase::Fd(at + 1),
            Sent::Ready => self.phase = Phase::Live,
            Sent::Lost => self.lost = 0,
            Sent::EmergencyOver => self.emergency_over = false,
            Sent::Exited(n) => {
                self.head = (self.head + n) % RING;
                self.queued -= n;
                if let Phase::Backlog(left) = self.phase {
                    self.phase = Phase::Backlog(left.saturating_sub(n));
                }
            }
        }
    }

    /// `exited PID WSTATUS ...` with as many of the first `due` statuses of the ring as
    /// fit in one message.
    fn exited(&self, line: &mut Line<MESSAGE_MAX>, due: usize) -> Sent {
        let _ = write!(line, "exited");
        let mut n = 0;
        while n < due.min(self.queued) {
            let Some(&(pid, status)) = self.ring.get((self.head + n) % RING) else {
                break;
            };
            let mut pair = Line::<32>::new();
            let _ = write!(pair, " {pid} {status}");
            if line.bytes().len() + pair.bytes().len() > MESSAGE_MAX {
                break;
            }
            let _ = write!(line, " {pid} {status}");
            n += 1;
        }
        Sent::Exited(n)
    }

    /// Sends one datagram, with `fd` attached when given.
    fn send(&self, bytes: &[u8], fd: Option<BorrowedFd<'_>>) -> io::Result<usize> {
        let Some(sock) = self.socket() else {
            return Ok(0);
        };
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        let fds = [fd];
        if let [Some(fd)] = &fds {
            control.push(SendAncillaryMessage::ScmRights(core::slice::from_ref(fd)));
        }
        let flags = SendFlags::DONTWAIT | SendFlags::NOSIGNAL;
        net::sendmsg(sock, &[IoSlice::new(bytes)], &mut control, flags)
    }
}

/// A decimal number, if `text` is one.
pub fn number(text: &[u8]) -> Option<u64> {
    let digits = (!text.is_empty() && text.len() < 20).then_some(text)?;
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}
