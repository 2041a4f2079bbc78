//! The init side of the channel to the manager (docs/INIT.md has the protocol): a
//! SOCK_SEQPACKET socketpair whose other end is the manager's fd 3. It keeps the fd store
//! (descriptors the manager asks init to keep across its own death) and a ring of the exit
//! statuses init reaped, and sends both to each new manager. It never blocks on the
//! manager: what the socket does not take now stays queued until it is writable again.

use core::fmt::Write as _;
use core::mem::MaybeUninit;

use rustix::fd::{AsFd as _, BorrowedFd, IntoRawFd as _, OwnedFd};
use rustix::io::{self, Errno, IoSlice, IoSliceMut};
use rustix::net::{self, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags};
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};

use crate::end::Action;
use crate::log::{self, Line, Why, say, shout};
use crate::sys;

/// Descriptors the fd store leaves free for vigil-init's own use.
pub const FD_RESERVE: u64 = 64;
/// Descriptors the fd store holds at most.
pub const MAX_FDS: usize = 16384;
/// Statuses kept at most; beyond, the oldest is dropped and counted.
const RING: usize = 4096;
/// Longest fd store name, and longest message, in bytes.
const NAME_MAX: usize = 64;
const MESSAGE_MAX: usize = 256;

/// What the manager asked for.
#[derive(Debug, Default)]
pub struct Requests {
    /// What to do once it exits, and with which exit code (`exit CODE`).
    pub action: Option<Action>,
    pub exit_code: Option<u8>,
    pub emergency: bool,
}

/// A message sent, to update the state once the socket took it.
#[derive(Debug)]
enum Sent {
    Greeting,
    Lost,
    Refused,
    /// This many statuses.
    Exited(usize),
    Ready,
    EmergencyOver,
    Stop,
}

#[derive(Debug)]
pub struct Channel {
    sock: Option<OwnedFd>,
    /// The greeting's next step: 0 for `fds N`, then one per stored descriptor, then the
    /// queued statuses and `ready`. None once `ready` was sent.
    greeting: Option<usize>,
    /// The last send would have blocked: wait for POLLOUT.
    pub blocked: bool,
    /// The kernel was short of memory for the last send: try again then (ms).
    pub retry_at: Option<u64>,
    /// Sending failed for good (the manager closed its end); what it sent is still read.
    broken: bool,
    /// The fd store, slots `0..stored`: descriptor, name length, name.
    store: &'static mut [(i32, u8, [u8; NAME_MAX])],
    stored: usize,
    /// The emergency shell the manager asked for has exited: tell it.
    pub emergency_over: bool,
    /// A shutdown signal came: say `stop ACTION` too (a SIGTERM may merge
    /// with a pending one from another sender, which the manager ignores; and
    /// the action picks the target the manager starts at the shutdown).
    pub stop: Option<Action>,
    /// Statuses not acknowledged yet: `queued` of them from `head` on, the
    /// first `sent` of which went to this manager (the next one gets them
    /// all: a manager that dies before `ack` may not have applied them).
    ring: &'static mut [(i32, i32)],
    /// Descriptors `fdstore` brought that the store could not keep: the
    /// manager hears how many (`refused N`).
    refused: u64,
    head: usize,
    queued: usize,
    sent: usize,
    /// Sent statuses the full ring dropped: the manager's next `ack` counts them.
    gone: usize,
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
            greeting: None,
            blocked: false,
            retry_at: None,
            broken: false,
            store: sys::zeroed(MAX_FDS),
            stored: 0,
            emergency_over: false,
            stop: None,
            ring: sys::zeroed(RING),
            head: 0,
            queued: 0,
            sent: 0,
            gone: 0,
            refused: 0,
            lost: 0,
        }
    }

    /// Opens a fresh channel for a manager about to start; returns the end it gets.
    pub fn connect(&mut self) -> io::Result<OwnedFd> {
        use net::{AddressFamily, SocketFlags, SocketType};
        let flags = SocketFlags::CLOEXEC | SocketFlags::NONBLOCK;
        let (ours, theirs) =
            net::socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, flags, None)?;
        // Every datagram then carries the sender's credentials, an empty one too: a read
        // of 0 bytes without them is the end of the channel, not a message.
        net::sockopt::set_socket_passcred(&ours, true)?;
        (self.sock, self.greeting, self.blocked, self.broken) = (Some(ours), Some(0), false, false);
        (self.sent, self.gone) = (0, 0);
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
        if self.queued == RING {
            self.gone += usize::from(self.sent > 0);
            self.acked(1);
            self.lost += 1;
        }
        match self.ring.get_mut((self.head + self.queued) % RING) {
            Some(slot) => (*slot, self.queued) = ((pid, status), self.queued + 1),
            // No ring (its mmap failed at start): at least the manager hears of it.
            None => self.lost += 1,
        }
    }

    /// Reads pending messages, at most `limit`; requests land in `requests`.
    pub fn receive(&mut self, requests: &mut Requests, limit: usize) {
        let mut buf = [0u8; MESSAGE_MAX];
        const SPACE: usize = rustix::cmsg_space!(ScmRights(16), ScmCredentials(1));
        let mut space = [MaybeUninit::uninit(); SPACE];
        for _ in 0..limit {
            let Some(sock) = self.socket() else {
                return;
            };
            let mut fds = RecvAncillaryBuffer::new(&mut space);
            let flags = RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC;
            let got = match net::recvmsg(sock, &mut [IoSliceMut::new(&mut buf)], &mut fds, flags) {
                Ok(got) if got.bytes > 0 || fds.drain().next().is_some() => got,
                Err(Errno::AGAIN) => return,
                // A manager that left without reading all we sent: the kernel says so
                // once, before the messages it sent, which are still to be read.
                Err(Errno::INTR | Errno::CONNRESET) => continue,
                Err(e) => {
                    say!(log::WARNING, "manager channel: {}", Why(e));
                    return self.disconnect();
                }
                // The end: the manager closed its socket or shut it for writing.
                Ok(_) => return self.disconnect(),
            };
            let text = buf.get(..got.bytes).unwrap_or_default();
            // Past 16 descriptors the kernel closes the rest: the manager hears
            // of it (`refused`), as of what a full store closes.
            if got.flags.contains(ReturnFlags::CTRUNC) {
                say!(
                    log::WARNING,
                    "manager channel: over 16 descriptors in a message: the rest closed"
                );
                self.refused += 1;
            }
            if got.flags.contains(ReturnFlags::TRUNC) {
                say!(log::WARNING, "manager channel: message too long, ignored");
            } else {
                self.handle(text.strip_suffix(b"\n").unwrap_or(text), &mut fds, requests);
            }
        }
    }

    fn handle(&mut self, text: &[u8], fds: &mut RecvAncillaryBuffer<'_>, requests: &mut Requests) {
        let at = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
        let (verb, arg) = (
            text.get(..at).unwrap_or_default(),
            text.get(at + 1..).unwrap_or_default(),
        );
        let name = (1..=NAME_MAX).contains(&arg.len()) && arg.iter().all(u8::is_ascii_graphic);
        match verb {
            b"shutdown" if let Some(action) = Action::parse(arg) => {
                shout!("the manager asks for {} once it exits", action.name());
                requests.action = Some(action);
            }
            b"exit" if let Some(code) = number(arg).and_then(|n| u8::try_from(n).ok()) => {
                (requests.action, requests.exit_code) = (Some(Action::Exit), Some(code));
            }
            b"fdstore" if name => {
                for message in fds.drain() {
                    if let RecvAncillaryMessage::ScmRights(received) = message {
                        received.for_each(|fd| self.keep(arg, fd));
                    }
                }
            }
            b"fdstore-remove" => {
                let mut at = 0;
                while let Some((stored, _)) = self.stored(at) {
                    if stored == arg {
                        self.close(at)
                    } else {
                        at += 1
                    }
                }
            }
            b"ack" if let Some(n) = number(arg) => {
                let skip = (n as usize).min(self.gone);
                self.gone -= skip;
                self.acked((n as usize - skip).min(self.sent));
            }
            b"hello" => {
                (self.greeting, self.sent, self.gone) = (Some(0), 0, 0);
            }
            b"emergency" => requests.emergency = true,
            _ => say!(
                log::WARNING,
                "manager channel: unknown or malformed message ignored"
            ),
        }
    }

    /// Keeps `fd` under `name`, unless the store is full or keeping it would leave
    /// vigil-init without the descriptors it needs itself (it is closed then). One
    /// slot and one descriptor are kept for a `state:` name: a manager stores its
    /// next state before it removes the one before, also in a full store.
    fn keep(&mut self, name: &[u8], fd: OwnedFd) {
        // Counted, not by the descriptor's number: a number a removed state freed
        // goes to whatever comes next.
        let count = (self.stored + usize::from(!name.starts_with(b"state:"))) as u64;
        let room = count.saturating_add(FD_RESERVE) < sys::fd_limit() && count < MAX_FDS as u64;
        if let Some((raw, len, slot)) = self.store.get_mut(self.stored).filter(|_| room)
            && let Some(dst) = slot.get_mut(..name.len())
        {
            dst.copy_from_slice(name);
            (*raw, *len) = (fd.into_raw_fd(), name.len() as u8);
            self.stored += 1;
        } else {
            say!(
                log::WARNING,
                "fd store: full or at the descriptor limit, descriptor closed"
            );
            self.refused += 1;
        }
    }

    /// The name and descriptor in the store's slot `at`.
    fn stored(&self, at: usize) -> Option<(&[u8], i32)> {
        let (fd, len, name) = self.store.get(at).filter(|_| at < self.stored)?;
        Some((name.get(..usize::from(*len))?, *fd))
    }

    /// Closes the descriptor at `at`; the last slot fills the hole.
    fn close(&mut self, at: usize) {
        if let Some((_, fd)) = self.stored(at) {
            sys::close(fd);
            self.stored -= 1;
            self.store.swap(at, self.stored);
        }
    }

    /// Sends what is due, as far as the socket takes it.
    pub fn flush(&mut self) {
        if self.retry_at.is_some_and(|t| t > sys::now_ms()) {
            return;
        }
        self.retry_at = None;
        while !self.blocked
            && !self.broken
            && let Some(sock) = &self.sock
        {
            let mut fd = None;
            let (what, line) = match self.greeting {
                Some(0) => (
                    Sent::Greeting,
                    Line::of(format_args!("fds {}", self.stored)),
                ),
                Some(step) if let Some((name, raw)) = self.stored(step - 1) => {
                    fd = Some(sys::fd(raw));
                    // As it came: `fdstore` took printable ASCII only.
                    let name = core::str::from_utf8(name).unwrap_or_default();
                    (Sent::Greeting, Line::of(format_args!("fd {name}")))
                }
                _ if self.lost > 0 => (Sent::Lost, Line::of(format_args!("lost {}", self.lost))),
                None if self.refused > 0 => (
                    Sent::Refused,
                    Line::of(format_args!("refused {}", self.refused)),
                ),
                _ if self.queued > self.sent => self.exited(),
                Some(_) => (Sent::Ready, Line::of(format_args!("ready"))),
                None if let Some(a) = self.stop => {
                    (Sent::Stop, Line::of(format_args!("stop {}", a.name())))
                }
                None if self.emergency_over => (
                    Sent::EmergencyOver,
                    Line::of(format_args!("emergency-over")),
                ),
                None => return,
            };
            match send(sock, line.bytes(), fd) {
                Ok(_) => self.sent(what),
                Err(Errno::AGAIN) => self.blocked = true,
                // Transient: the socket stays writable, so no POLLOUT would come.
                Err(Errno::NOBUFS | Errno::NOMEM) => {
                    self.retry_at = Some(sys::now_ms() + 100);
                    return;
                }
                // One stored descriptor the kernel refuses to pass (ETOOMANYREFS, say)
                // is skipped, not the rest of the greeting.
                Err(e) if fd.is_some() && !matches!(e, Errno::PIPE | Errno::CONNRESET) => {
                    say!(
                        log::WARNING,
                        "fd store: cannot pass a descriptor: {}",
                        Why(e)
                    );
                    self.sent(what);
                }
                Err(e) => {
                    say!(log::WARNING, "manager channel: {}", Why(e));
                    self.broken = true;
                }
            }
        }
    }

    fn sent(&mut self, what: Sent) {
        match what {
            Sent::Greeting => self.greeting = self.greeting.map(|step| step + 1),
            Sent::Lost => self.lost = 0,
            Sent::Refused => self.refused = 0,
            Sent::Exited(n) => self.sent += n,
            Sent::Ready => self.greeting = None,
            Sent::EmergencyOver => self.emergency_over = false,
            Sent::Stop => self.stop = None,
        }
    }

    /// Forgets the `n` oldest statuses.
    fn acked(&mut self, n: usize) {
        (self.head, self.queued) = ((self.head + n) % RING, self.queued - n);
        self.sent = self.sent.saturating_sub(n);
    }

    /// `exited PID WSTATUS ...` with as many statuses not sent yet as fit.
    fn exited(&self) -> (Sent, Line<MESSAGE_MAX>) {
        let (mut line, mut n) = (Line::of(format_args!("exited")), 0);
        while let Some((pid, status)) = self
            .ring
            .get((self.head + self.sent + n) % RING)
            .filter(|_| self.sent + n < self.queued)
        {
            let len = line.len;
            if write!(line, " {pid} {status}").is_err() {
                line.len = len;
                break;
            }
            n += 1;
        }
        (Sent::Exited(n), line)
    }
}

/// Sends one datagram, with `fd` attached when given.
fn send(sock: &OwnedFd, bytes: &[u8], fd: Option<BorrowedFd<'_>>) -> io::Result<usize> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if let Some(fd) = &fd {
        control.push(SendAncillaryMessage::ScmRights(core::slice::from_ref(fd)));
    }
    let flags = SendFlags::DONTWAIT | SendFlags::NOSIGNAL;
    net::sendmsg(sock, &[IoSlice::new(bytes)], &mut control, flags)
}

/// A decimal number, if `text` is one.
pub fn number(text: &[u8]) -> Option<u64> {
    let digits = (!text.is_empty() && text.len() < 20).then_some(text)?;
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}
