//! The manager's end of its channel to vigil-init: a SOCK_SEQPACKET socket that
//! vigil-init leaves open at the number in `VIGIL_INIT_FD` (docs/INIT.md has the
//! messages). This module owns taking that descriptor over and moving whole
//! datagrams; it blocks only where told how long (`wait`, `send_waiting`) and
//! never interprets a message.

use std::cell::Cell;
use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

use rustix::event::PollFlags;
use rustix::io::{Errno, FdFlags};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// Descriptors one received message may carry (vigil-init sends one per `fd`).
const FDS_PER_MESSAGE: usize = 16;

/// One end of the init channel.
#[derive(Debug)]
pub struct InitChannel {
    fd: OwnedFd,
    /// A wait for room ran out and no send went through since: vigil-init
    /// is not reading.
    stalled: Cell<bool>,
}

impl InitChannel {
    /// Takes over the descriptor `raw` that the parent left open, once checked:
    /// it must not be stdio, must be open and must be a socket. It becomes
    /// close-on-exec and non-blocking, so no service inherits it.
    pub fn inherit(raw: i32) -> io::Result<InitChannel> {
        if raw < 3 {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        // SAFETY: the descriptor is only borrowed for the two checks below, while
        // nothing else in the process has taken it over yet.
        let borrowed = unsafe { BorrowedFd::borrow_raw(raw) };
        rustix::io::fcntl_getfd(borrowed)?;
        if rustix::fs::fstat(borrowed)?.st_mode & libc::S_IFMT != libc::S_IFSOCK {
            return Err(io::Error::from_raw_os_error(libc::ENOTSOCK));
        }
        // SAFETY: `raw` is open (checked above) and this is the one place that
        // takes ownership of it; the variable naming it is read once at start-up.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        rustix::io::fcntl_setfd(&fd, FdFlags::CLOEXEC)?;
        crate::set_nonblocking(&fd, true)?;
        Ok(InitChannel {
            fd,
            stalled: Cell::new(false),
        })
    }

    /// Sends one message; `Ok(false)` when the socket is full right now.
    pub fn send(&self, message: &[u8]) -> io::Result<bool> {
        match rustix::net::send(&self.fd, message, SendFlags::NOSIGNAL | SendFlags::DONTWAIT) {
            Ok(_) => Ok(true),
            Err(Errno::AGAIN) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Receives one message into `buf`: its length, `None` when nothing is
    /// waiting, `Some(0)` when vigil-init closed its end. Descriptors that came
    /// along are not taken: the kernel closes them.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match rustix::net::recv(&self.fd, buf, RecvFlags::DONTWAIT) {
            Ok((n, _)) => Ok(Some(n)),
            Err(Errno::AGAIN) => Ok(None),
            Err(Errno::INTR) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

impl InitChannel {
    /// Sends one message with descriptors attached (SCM_RIGHTS); `Ok(false)`
    /// when the socket is full right now.
    pub fn send_with_fds(&self, message: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<bool> {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(FDS_PER_MESSAGE))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let flags = SendFlags::NOSIGNAL | SendFlags::DONTWAIT;
        match rustix::net::sendmsg(&self.fd, &[IoSlice::new(message)], &mut control, flags) {
            Ok(_) => Ok(true),
            Err(Errno::AGAIN) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Receives one message and the descriptors that came with it (each
    /// close-on-exec): `None` when nothing is waiting, a length of 0 when
    /// vigil-init closed its end.
    pub fn recv_with_fds(&self, buf: &mut [u8]) -> io::Result<Option<(usize, Vec<OwnedFd>)>> {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(FDS_PER_MESSAGE))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let mut iov = [IoSliceMut::new(buf)];
        let flags = RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT;
        let got = match rustix::net::recvmsg(&self.fd, &mut iov, &mut control, flags) {
            Ok(got) => got,
            Err(Errno::AGAIN | Errno::INTR) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut fds = Vec::new();
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(rights) = message {
                fds.extend(rights);
            }
        }
        Ok(Some((got.bytes, fds)))
    }

    /// Sends one message with `fds`, waiting up to `timeout` for room;
    /// `Ok(false)` when there was none. After a wait that ran out, sends do
    /// not wait until one goes through: a vigil-init that stopped reading
    /// costs the manager one timeout, not one for every message.
    pub fn send_waiting(
        &self,
        message: &[u8],
        fds: &[BorrowedFd<'_>],
        timeout: Duration,
    ) -> io::Result<bool> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.send_with_fds(message, fds)? {
                self.stalled.set(false);
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if self.stalled.get() || left.is_zero() {
                self.stalled.set(true);
                return Ok(false);
            }
            self.wait(true, left)?;
        }
    }

    /// Whether the last send found no room and did not wait for it.
    pub fn stalled(&self) -> bool {
        self.stalled.get()
    }

    /// Waits up to `timeout` until the socket is readable (or writable, with
    /// `write`); false when the time ran out.
    pub fn wait(&self, write: bool, timeout: Duration) -> io::Result<bool> {
        let events = if write { PollFlags::OUT } else { PollFlags::IN };
        crate::pipe::poll_ready(&[self.fd.as_fd()], events, timeout)
    }

    /// The descriptor's number, for a manager that re-executes itself and
    /// names it in the environment of its next image.
    pub fn raw(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

impl AsFd for InitChannel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::IntoRawFd;

    use rustix::net::{AddressFamily, SocketFlags, SocketType};

    #[test]
    fn takes_over_a_socket_and_moves_datagrams() {
        let (ours, theirs) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::empty(),
            None,
        )
        .unwrap();
        let chan = InitChannel::inherit(ours.into_raw_fd()).unwrap();
        let flags = rustix::io::fcntl_getfd(&chan).unwrap();
        assert!(flags.contains(FdFlags::CLOEXEC));
        assert!(chan.send(b"shutdown reboot").unwrap());
        let mut buf = [0u8; 64];
        let (n, _) = rustix::net::recv(&theirs, &mut buf, RecvFlags::empty()).unwrap();
        assert_eq!(&buf[..n], b"shutdown reboot");
        assert_eq!(chan.recv(&mut buf).unwrap(), None);
        rustix::net::send(&theirs, b"exited 42 9", SendFlags::empty()).unwrap();
        assert_eq!(chan.recv(&mut buf).unwrap(), Some(11));
        drop(theirs);
        assert_eq!(chan.recv(&mut buf).unwrap(), Some(0));
    }

    #[test]
    fn refuses_stdio_closed_and_non_socket_descriptors() {
        assert!(InitChannel::inherit(2).is_err());
        assert!(InitChannel::inherit(987_654).is_err());
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        let raw = file.into_raw_fd();
        assert!(InitChannel::inherit(raw).is_err());
        // SAFETY: the test owns `raw` and closes it once.
        drop(unsafe { OwnedFd::from_raw_fd(raw) });
    }
}
