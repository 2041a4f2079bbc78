//! The manager's end of its channel to vigil-init: a SOCK_SEQPACKET socket that
//! vigil-init leaves open at the number in `VIGIL_INIT_FD` (docs/INIT.md has the
//! messages). This module owns taking that descriptor over and moving whole
//! datagrams; it never blocks and never interprets a message.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

use rustix::io::{Errno, FdFlags};
use rustix::net::{RecvFlags, SendFlags};

/// One end of the init channel.
#[derive(Debug)]
pub struct InitChannel {
    fd: OwnedFd,
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
        Ok(InitChannel { fd })
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
