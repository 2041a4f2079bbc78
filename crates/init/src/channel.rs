//! The init side of the channel to the manager (docs/INIT.md has the protocol): a
//! SOCK_SEQPACKET socketpair whose other end is the manager's fd 3. It owns the fd store
//! (descriptors the manager asks init to keep across its own death) and the ring of exit
//! statuses init reaped, and sends both to each new manager.
//!
//! It never blocks on the manager: the socket is non-blocking, and what cannot be sent
//! now stays queued (the fd store is re-read, the ring keeps its entries) until the socket
//! is writable again. Every array is allocated once, at start.

use std::fmt::Write as _;
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;

use rustix::io::Errno;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags,
    SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};

use crate::log::{self, Line, Oops, say, shout};
use crate::shutdown::Action;
use crate::sys::{FdStore, NAME_MAX};

/// Descriptors the fd store holds at most.
pub const MAX_FDS: usize = 16384;
/// Exit statuses kept for the manager at most; beyond it the oldest is dropped and counted.
pub const RING: usize = 4096;
/// Descriptors one `fdstore` message may carry; the kernel closes any beyond.
pub const FDS_PER_MESSAGE: usize = 16;
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
    sock: Option<OwnedFd>,
    phase: Phase,
    /// The last send would have blocked; wait for POLLOUT before trying again.
    blocked: bool,
    /// Sending failed for good (the manager closed its end); the socket is kept for what
    /// the manager sent before, which is still to be read.
    broken: bool,
    store: FdStore,
    /// The emergency shell the manager asked for has exited: tell it.
    pub emergency_over: bool,
    ring: Box<[(i32, i32)]>,
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
            ring: vec![(0, 0); RING].into_boxed_slice(),
            head: 0,
            queued: 0,
            lost: 0,
        }
    }

    /// Opens a fresh channel for a manager about to start and returns the end it gets.
    pub fn connect(&mut self) -> rustix::io::Result<OwnedFd> {
        let (ours, theirs) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )?;
        self.sock = Some(ours);
        self.phase = Phase::Count;
        self.blocked = false;
        self.broken = false;
        Ok(theirs)
    }

    pub fn disconnect(&mut self) {
        self.sock = None;
    }

    pub fn socket(&self) -> Option<&OwnedFd> {
        self.sock.as_ref()
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
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(FDS_PER_MESSAGE))];
        loop {
            let Some(sock) = &self.sock else { return };
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let mut iov = [IoSliceMut::new(&mut buf)];
            let flags = RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT;
            let got = match rustix::net::recvmsg(sock, &mut iov, &mut control, flags) {
                Ok(got) => got,
                Err(Errno::AGAIN) => return,
                // The manager left without reading all we sent: the kernel reports that
                // once, before the messages it sent, which are still to be read.
                Err(Errno::INTR | Errno::CONNRESET) => continue,
                Err(e) => {
                    say!(log::WARNING, "manager channel: {}", Oops(e));
                    self.sock = None;
                    return;
                }
            };
            let mut fds = [const { None }; FDS_PER_MESSAGE];
            let mut nfds = 0;
            for message in control.drain() {
                if let RecvAncillaryMessage::ScmRights(rights) = message {
                    for fd in rights {
                        if let Some(slot) = fds.get_mut(nfds) {
                            *slot = Some(fd);
                            nfds += 1;
                        }
                    }
                }
            }
            if got.bytes == 0 && nfds == 0 {
                // The manager closed its end: nothing more will come.
                self.sock = None;
                return;
            }
            if got.flags.contains(ReturnFlags::TRUNC) {
                say!(log::WARNING, "manager channel: message too long, ignored");
                continue;
            }
            let text = buf.get(..got.bytes).map_or(&[][..], |t| t);
            self.handle(text, &mut fds, requests);
        }
    }

    fn handle(&mut self, text: &[u8], fds: &mut [Option<OwnedFd>], requests: &mut Requests) {
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
                    shout!("the manager asks for {action} once it exits");
                    requests.action = Some(action);
                }
                None => say!(log::WARNING, "manager channel: unknown shutdown action"),
            },
            b"exit" => match std::str::from_utf8(arg)
                .ok()
                .and_then(|a| a.parse::<u8>().ok())
            {
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

    fn store_fd(&mut self, name: &[u8], fd: OwnedFd) {
        if self.store.push(name, fd).is_err() {
            say!(log::WARNING, "fd store full ({MAX_FDS}): descriptor closed");
        }
    }

    /// Sends what is due, as far as the socket takes it.
    pub fn flush(&mut self) {
        while self.sock.is_some() && !self.blocked && !self.broken {
            let mut line = Line::new();
            let mut fd = None;
            let what = match self.phase {
                Phase::Count => {
                    let _ = write!(line, "fds {}", self.store.len());
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
                    let _ = write!(line, "lost {}", self.lost);
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
                Ok(()) => self.sent(what),
                Err(Errno::AGAIN) => self.blocked = true,
                Err(e) => {
                    say!(log::WARNING, "manager channel: {}", Oops(e));
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
    fn exited(&self, line: &mut Line, due: usize) -> Sent {
        line.push(b"exited");
        let mut n = 0;
        while n < due.min(self.queued) {
            let at = self.head.wrapping_add(n) % RING;
            let Some(&(pid, status)) = self.ring.get(at) else {
                break;
            };
            let mut pair = Line::new();
            let _ = write!(pair, " {pid} {status}");
            if line.bytes().len().saturating_add(pair.bytes().len()) > MESSAGE_MAX {
                break;
            }
            line.push(pair.bytes());
            n = n.saturating_add(1);
        }
        Sent::Exited(n)
    }

    fn send(
        &self,
        bytes: &[u8],
        fd: Option<std::os::fd::BorrowedFd<'_>>,
    ) -> rustix::io::Result<()> {
        let Some(sock) = &self.sock else {
            return Ok(());
        };
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        let fds;
        if let Some(fd) = fd {
            fds = [fd];
            control.push(SendAncillaryMessage::ScmRights(&fds));
        }
        let flags = SendFlags::NOSIGNAL | SendFlags::DONTWAIT;
        rustix::net::sendmsg(sock, &[IoSlice::new(bytes)], &mut control, flags).map(|_| ())
    }
}

/// A name is 1 to NAME_MAX bytes of printable ASCII without spaces.
fn valid_name(name: &[u8]) -> bool {
    (1..=NAME_MAX).contains(&name.len()) && name.iter().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(channel: &mut Channel) -> Vec<(i32, i32)> {
        let mut out = Vec::new();
        while channel.queued > 0 {
            if let Some(&entry) = channel.ring.get(channel.head) {
                out.push(entry);
            }
            channel.head = (channel.head + 1) % RING;
            channel.queued -= 1;
        }
        out
    }

    #[test]
    fn ring_drops_the_oldest_and_counts_them() {
        let mut channel = Channel::new();
        for pid in 0..(RING as i32 + 3) {
            channel.reaped(pid, 0);
        }
        assert_eq!(channel.lost, 3);
        let entries = drain(&mut channel);
        assert_eq!(entries.len(), RING);
        assert_eq!(entries.first(), Some(&(3, 0)));
        assert_eq!(entries.last(), Some(&(RING as i32 + 2, 0)));
    }

    #[test]
    fn messages_set_requests() {
        let mut channel = Channel::new();
        let mut requests = Requests::default();
        channel.handle(b"shutdown reboot\n", &mut [], &mut requests);
        assert_eq!(requests.action, Some(Action::Reboot));
        channel.handle(b"exit 300", &mut [], &mut requests);
        assert_eq!(requests.exit_code, None, "an exit code is 0 to 255");
        channel.handle(b"exit 7", &mut [], &mut requests);
        assert_eq!(
            requests,
            Requests {
                action: Some(Action::Exit),
                exit_code: Some(7),
                emergency: false,
            }
        );
    }

    #[test]
    fn fd_store_adds_and_removes_by_name() -> std::io::Result<()> {
        let mut channel = Channel::new();
        let mut requests = Requests::default();
        let (a, b) = rustix::pipe::pipe()?;
        let mut fds = [Some(a), Some(b)];
        channel.handle(b"fdstore log", &mut fds, &mut requests);
        assert_eq!(channel.store.len(), 2);
        let (c, _d) = rustix::pipe::pipe()?;
        channel.handle(b"fdstore bad name", &mut [Some(c)], &mut requests);
        assert_eq!(channel.store.len(), 2, "a name has no spaces");
        channel.handle(b"fdstore-remove log", &mut [], &mut requests);
        assert_eq!(channel.store.len(), 0);
        Ok(())
    }
}
