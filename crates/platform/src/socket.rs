//! Unix sockets: the control socket, the NOTIFY_SOCKET datagram socket, and the
//! client side of `vigil notify`.
//!
//! Who is talking is decided by the kernel's credentials (SO_PEERCRED on a stream,
//! SCM_CREDENTIALS on each datagram), never by what a peer claims in its bytes. File
//! descriptors a peer passes (SCM_RIGHTS) are closed at once: the manager takes no
//! descriptors from services. This module never decides who may do what.

use std::ffi::OsStr;
use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags,
    SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketAddrUnix, SocketFlags, SocketType,
    UCred,
};

/// The kernel's view of a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials {
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
}

impl From<UCred> for Credentials {
    fn from(c: UCred) -> Credentials {
        Credentials {
            pid: c.pid.as_raw_nonzero().get().unsigned_abs(),
            uid: c.uid.as_raw(),
            gid: c.gid.as_raw(),
        }
    }
}

/// SO_PEERCRED of a connected unix stream: who connected, as of `connect()`.
/// The PID is 0 when the peer is in a PID namespace this process cannot see
/// (a client on the host talking to a manager in a container): read with
/// libc, since rustix's UCred cannot hold a PID of 0.
pub fn peer_credentials(fd: impl AsFd) -> io::Result<Credentials> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes passed; the
    // kernel writes at most `len` bytes and updates `len`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &raw mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Credentials {
        pid: cred.pid.unsigned_abs(),
        uid: cred.uid,
        gid: cred.gid,
    })
}

/// The supplementary groups of a unix socket's peer as they were when it
/// connected (SO_PEERGROUPS, Linux 4.13): what the peer is, not what a
/// process that took its PID since is.
pub fn peer_groups(fd: impl AsFd) -> io::Result<Vec<u32>> {
    use std::os::fd::AsRawFd;
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut len = (groups.len() * std::mem::size_of::<libc::gid_t>()) as libc::socklen_t;
        // SAFETY: `groups` and `len` are valid for writes of the sizes passed; the
        // kernel writes at most `len` bytes and updates `len` (to the size needed,
        // with ERANGE, when the buffer is short).
        let rc = unsafe {
            libc::getsockopt(
                fd.as_fd().as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERGROUPS,
                groups.as_mut_ptr().cast(),
                &raw mut len,
            )
        };
        let count = len as usize / std::mem::size_of::<libc::gid_t>();
        if rc == 0 {
            groups.truncate(count);
            return Ok(groups);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ERANGE) || count <= groups.len() {
            return Err(e);
        }
        groups.resize(count, 0);
    }
}

fn unix_addr(path: &Path) -> io::Result<SocketAddrUnix> {
    Ok(SocketAddrUnix::new(path)?)
}

/// Makes room for a socket of type `ty` at `path`: a leftover socket no one has bound
/// is removed; a live one (of either type: another manager's control or notify socket),
/// or anything that is not a socket, is an error.
fn clear_stale_socket(path: &Path, ty: SocketType) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::from_raw_os_error(libc::EEXIST));
    }
    // Without blocking: a listener whose backlog is full (a manager that hangs) would
    // keep a blocking connect(2) waiting for ever; EAGAIN says it listens.
    let probe = rustix::net::socket_with(
        AddressFamily::UNIX,
        ty,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    match rustix::net::connect(&probe, &unix_addr(path)?) {
        // EPROTOTYPE: a live socket of the other type.
        Ok(()) | Err(Errno::AGAIN | Errno::PROTOTYPE) => {
            Err(io::Error::from_raw_os_error(libc::EADDRINUSE))
        }
        // ECONNREFUSED: no one has it bound.
        Err(_) => std::fs::remove_file(path),
    }
}

/// Binds `fd`, a socket of type `ty` (listening once bound, for a stream), at `path`
/// with permissions `mode`, without a moment where the socket is reachable with wider
/// permissions: it is bound under a temporary name, chmod'ed, then renamed into place.
fn bind_with_mode(fd: &OwnedFd, path: &Path, mode: u32, ty: SocketType) -> io::Result<()> {
    clear_stale_socket(path, ty)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    rustix::net::bind(fd, &unix_addr(&tmp)?)?;
    let placed = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
        .and_then(|()| {
            if ty == SocketType::STREAM {
                rustix::net::listen(fd, 128)?;
            }
            Ok(())
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if placed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    placed
}

/// Checks that a socket a previous manager left is a unix socket of type `ty` (and
/// listening, for a stream): any other descriptor under its name (a corrupted store)
/// would fail every accept or receive. Not its address: it was bound at a temporary
/// name, then renamed into place.
fn check_inherited(fd: &OwnedFd, ty: SocketType) -> io::Result<()> {
    let unix = rustix::net::getsockname(fd)?.address_family() == AddressFamily::UNIX;
    let listening = ty != SocketType::STREAM || rustix::net::sockopt::socket_acceptconn(fd)?;
    if unix && listening && rustix::net::sockopt::socket_type(fd)? == ty {
        return Ok(());
    }
    let what = if ty == SocketType::STREAM {
        "a listening unix stream socket"
    } else {
        "a unix datagram socket"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("not {what}"),
    ))
}

/// A listening unix stream socket (the control socket): non-blocking, close-on-exec.
#[derive(Debug)]
pub struct UnixListener {
    fd: OwnedFd,
    path: PathBuf,
}

impl UnixListener {
    /// Binds and listens at `path` with file mode `mode` (0o600 or 0o666).
    pub fn bind(path: &Path, mode: u32) -> io::Result<UnixListener> {
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )?;
        bind_with_mode(&fd, path, mode, SocketType::STREAM)?;
        Ok(UnixListener {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Takes over a listening socket bound at `path` by a previous manager
    /// (kept by vigil-init, or left open across exec), so connections made
    /// meanwhile wait in its backlog instead of being refused.
    pub fn from_fd(fd: OwnedFd, path: &Path) -> io::Result<UnixListener> {
        check_inherited(&fd, SocketType::STREAM)?;
        crate::set_nonblocking(&fd, true)?;
        Ok(UnixListener {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Accepts one pending connection (non-blocking, close-on-exec), `None` when none.
    pub fn accept(&self) -> io::Result<Option<UnixStream>> {
        loop {
            match rustix::net::accept_with(&self.fd, SocketFlags::CLOEXEC | SocketFlags::NONBLOCK) {
                Ok(fd) => return Ok(Some(UnixStream::from(fd))),
                Err(Errno::INTR) | Err(Errno::CONNABORTED) => continue,
                Err(Errno::AGAIN) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the socket file (on clean shutdown). Not done on drop: a second
    /// manager may have been bound at the same path since.
    pub fn remove_path(&self) -> io::Result<()> {
        std::fs::remove_file(&self.path)
    }
}

impl AsFd for UnixListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// One datagram received on a [`NotifySocket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Bytes stored in the buffer.
    pub len: usize,
    /// The datagram was longer than the buffer; the rest is lost.
    pub truncated: bool,
    /// The sender, from SCM_CREDENTIALS. Always present with SO_PASSCRED on, which
    /// [`NotifySocket::bind`] sets; `None` would be a kernel without it.
    pub credentials: Option<Credentials>,
}

/// The NOTIFY_SOCKET: a non-blocking, close-on-exec datagram socket with
/// SO_PASSCRED, so every message carries its sender's pid, uid and gid.
#[derive(Debug)]
pub struct NotifySocket {
    fd: OwnedFd,
    path: PathBuf,
}

/// Descriptors accepted (and closed) per datagram; the kernel closes any beyond.
const MAX_PASSED_FDS: usize = 16;

impl NotifySocket {
    /// Binds at `path` with mode `mode` (0o666 lets services running as other
    /// users notify; 0o600 when the manager is unprivileged).
    pub fn bind(path: &Path, mode: u32) -> io::Result<NotifySocket> {
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )?;
        rustix::net::sockopt::set_socket_passcred(&fd, true)?;
        bind_with_mode(&fd, path, mode, SocketType::DGRAM)?;
        Ok(NotifySocket {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Takes over a notify socket bound at `path` by a previous manager, so
    /// the datagrams sent meanwhile are still read.
    pub fn from_fd(fd: OwnedFd, path: &Path) -> io::Result<NotifySocket> {
        check_inherited(&fd, SocketType::DGRAM)?;
        crate::set_nonblocking(&fd, true)?;
        rustix::net::sockopt::set_socket_passcred(&fd, true)?;
        Ok(NotifySocket {
            fd,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn remove_path(&self) -> io::Result<()> {
        std::fs::remove_file(&self.path)
    }

    /// Receives one datagram into `buf`; `None` when none is queued. Passed file
    /// descriptors are closed before returning.
    pub fn recv_with_credentials(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        self.receive(buf, RecvFlags::empty())
    }

    /// As [`recv_with_credentials`](Self::recv_with_credentials), but the
    /// datagram stays queued, the next one to be read, until
    /// [`discard`](Self::discard): a manager that dies while it acts on it
    /// leaves it to the next.
    pub fn peek_with_credentials(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        self.receive(buf, RecvFlags::PEEK)
    }

    /// Removes the first queued datagram (the one just peeked at).
    pub fn discard(&self) -> io::Result<()> {
        self.receive(&mut [0u8; 1], RecvFlags::empty()).map(drop)
    }

    fn receive(&self, buf: &mut [u8], flags: RecvFlags) -> io::Result<Option<Received>> {
        let mut space = [MaybeUninit::<u8>::uninit();
            rustix::cmsg_space!(ScmCredentials(1), ScmRights(MAX_PASSED_FDS))];
        loop {
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let mut iov = [IoSliceMut::new(&mut *buf)];
            let result = rustix::net::recvmsg(
                &self.fd,
                &mut iov,
                &mut control,
                flags | RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC,
            );
            let msg = match result {
                Ok(msg) => msg,
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let mut credentials = None;
            for cmsg in control.drain() {
                match cmsg {
                    // Dropping each OwnedFd closes it: nothing a service passes is
                    // kept (a peek receives copies; the queued ones stay until read).
                    RecvAncillaryMessage::ScmRights(fds) => fds.for_each(drop),
                    RecvAncillaryMessage::ScmCredentials(c) => credentials = Some(c.into()),
                    _ => {}
                }
            }
            return Ok(Some(Received {
                len: msg.bytes.min(buf.len()),
                truncated: msg.flags.contains(ReturnFlags::TRUNC),
                credentials,
            }));
        }
    }
}

impl AsFd for NotifySocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The address of a NOTIFY_SOCKET value: a path, or `@name` for the abstract namespace.
fn notify_addr(socket: &OsStr) -> io::Result<SocketAddrUnix> {
    let bytes = socket.as_bytes();
    match bytes.split_first() {
        Some((b'@', name)) => Ok(SocketAddrUnix::new_abstract_name(name)?),
        Some(_) => unix_addr(Path::new(socket)),
        None => Err(io::Error::from_raw_os_error(libc::EINVAL)),
    }
}

/// Sends one notification datagram (`READY=1\nSTATUS=...`) to `socket` (the value of
/// NOTIFY_SOCKET). The kernel attaches this process's credentials.
pub fn notify_send(socket: impl AsRef<OsStr>, message: &[u8]) -> io::Result<()> {
    let addr = notify_addr(socket.as_ref())?;
    let fd = datagram_socket()?;
    rustix::net::sendto(&fd, message, SendFlags::empty(), &addr)?;
    Ok(())
}

/// Like [`notify_send`], but claims to speak for `pid` (the service's main process,
/// when `vigil notify` runs as its child). The kernel allows that only to privileged
/// senders; otherwise the message goes out with this process's own credentials.
pub fn notify_send_as(socket: impl AsRef<OsStr>, message: &[u8], pid: u32) -> io::Result<()> {
    let addr = notify_addr(socket.as_ref())?;
    let fd = datagram_socket()?;
    let claimed = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    if let Some(claimed) = claimed {
        let creds = UCred {
            pid: claimed,
            uid: rustix::process::getuid(),
            gid: rustix::process::getgid(),
        };
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmCredentials(1))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if control.push(SendAncillaryMessage::ScmCredentials(creds)) {
            let iov = [IoSlice::new(message)];
            match rustix::net::sendmsg_addr(&fd, &addr, &iov, &mut control, SendFlags::empty()) {
                Ok(_) => return Ok(()),
                Err(Errno::PERM) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    rustix::net::sendto(&fd, message, SendFlags::empty(), &addr)?;
    Ok(())
}

/// systemd's notification barrier: sends `BARRIER=1` with the write end of a
/// fresh pipe and waits (at most `timeout`) until the manager has closed it,
/// which it does only after handling every datagram sent before. A short-lived
/// sender (`vigil notify` in a shell script) stays alive until then, so the
/// manager can still find out which unit it belongs to.
pub fn notify_barrier(socket: impl AsRef<OsStr>, timeout: std::time::Duration) -> io::Result<bool> {
    let addr = notify_addr(socket.as_ref())?;
    let fd = datagram_socket()?;
    let (read, write) = crate::pipe::pipe_cloexec()?;
    {
        let fds = [write.as_fd()];
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
            return Err(io::Error::from_raw_os_error(libc::ENOBUFS));
        }
        let iov = [IoSlice::new(b"BARRIER=1\n")];
        rustix::net::sendmsg_addr(&fd, &addr, &iov, &mut control, SendFlags::empty())?;
    }
    drop(write);
    let mut fds = [rustix::event::PollFd::new(
        &read,
        rustix::event::PollFlags::IN,
    )];
    let ts = rustix::event::Timespec {
        tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    loop {
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

fn datagram_socket() -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

#[cfg(test)]
mod tests {

    /// The peer's supplementary groups come from the kernel's record of the
    /// connection (review finding: read from /proc/PID/status at accept, a
    /// PID reused meanwhile lent its groups, `adm` giving the logs). Here the
    /// peer is this process: its groups as /proc has them.
    #[test]
    fn peer_groups_are_the_connecting_process_s() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut got = super::peer_groups(&a).unwrap();
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let mut want: Vec<u32> = (status.lines().find_map(|l| l.strip_prefix("Groups:")))
            .unwrap_or_default()
            .split_whitespace()
            .map(|g| g.parse().unwrap())
            .collect();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
    }

    use super::*;
    use crate::pipe::is_cloexec;
    use std::io::{Read, Write};

    fn temp_path(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("vigil-platform-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("sock")
    }

    #[test]
    fn peer_credentials_of_a_socketpair_are_ours() {
        let (a, _b) = UnixStream::pair().unwrap();
        let creds = peer_credentials(&a).unwrap();
        assert_eq!(
            creds,
            Credentials {
                pid: std::process::id(),
                uid: crate::process::geteuid(),
                gid: crate::process::getegid()
            }
        );
    }

    #[test]
    fn listener_has_the_mode_asked_and_accepts_without_blocking() {
        let path = temp_path("listen");
        let listener = UnixListener::bind(&path, 0o600).unwrap();
        assert!(is_cloexec(&listener).unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(listener.accept().unwrap().is_none());

        let mut client = UnixStream::connect(&path).unwrap();
        let mut server = listener.accept().unwrap().expect("a pending connection");
        assert!(is_cloexec(&server).unwrap());
        assert_eq!(peer_credentials(&server).unwrap().pid, std::process::id());
        client.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        server.set_nonblocking(false).unwrap();
        server.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");

        // A live socket is never taken over; a dead one is replaced.
        assert_eq!(
            UnixListener::bind(&path, 0o600).unwrap_err().raw_os_error(),
            Some(libc::EADDRINUSE)
        );
        drop(listener);
        let again = UnixListener::bind(&path, 0o666).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666);
        again.remove_path().unwrap();
    }

    #[test]
    fn refuses_to_replace_a_regular_file() {
        let path = temp_path("regular");
        std::fs::write(&path, "keep me").unwrap();
        assert!(UnixListener::bind(&path, 0o600).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
    }

    #[test]
    fn a_peeked_notification_stays_queued_until_discarded() {
        let path = temp_path("notify-peek");
        let sock = NotifySocket::bind(&path, 0o666).unwrap();
        let mut buf = [0u8; 64];
        assert!(sock.peek_with_credentials(&mut buf).unwrap().is_none());
        notify_send(&path, b"READY=1").unwrap();
        notify_send(&path, b"STATUS=two").unwrap();
        for _ in 0..2 {
            let got = sock.peek_with_credentials(&mut buf).unwrap().unwrap();
            assert_eq!(&buf[..got.len], b"READY=1");
            assert_eq!(got.credentials.unwrap().pid, std::process::id());
        }
        sock.discard().unwrap();
        let got = sock.peek_with_credentials(&mut buf).unwrap().unwrap();
        assert_eq!(&buf[..got.len], b"STATUS=two");
        sock.discard().unwrap();
        assert!(sock.peek_with_credentials(&mut buf).unwrap().is_none());
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn notify_datagram_carries_the_senders_credentials_and_passed_fds_are_closed() {
        let path = temp_path("notify");
        let sock = NotifySocket::bind(&path, 0o666).unwrap();
        let mut buf = [0u8; 64];
        assert!(sock.recv_with_credentials(&mut buf).unwrap().is_none());

        notify_send(&path, b"READY=1").unwrap();
        let got = sock.recv_with_credentials(&mut buf).unwrap().unwrap();
        assert_eq!(&buf[..got.len], b"READY=1");
        assert!(!got.truncated);
        assert_eq!(got.credentials.unwrap().pid, std::process::id());

        // An over-long datagram is reported as truncated.
        notify_send(&path, &[b'x'; 100]).unwrap();
        let got = sock.recv_with_credentials(&mut buf).unwrap().unwrap();
        assert!(got.truncated);
        assert_eq!(got.len, 64);

        // A datagram passing the only other write end of a pipe: once the message
        // is received, the read end sees EOF only if that descriptor was closed.
        let (r, w) = crate::pipe::pipe_cloexec().unwrap();
        crate::pipe::set_nonblocking(&r, true).unwrap();
        let fd = datagram_socket().unwrap();
        let fds = [w.as_fd()];
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        assert!(control.push(SendAncillaryMessage::ScmRights(&fds)));
        let iov = [IoSlice::new(b"STATUS=fd")];
        rustix::net::sendmsg_addr(
            &fd,
            &unix_addr(&path).unwrap(),
            &iov,
            &mut control,
            SendFlags::empty(),
        )
        .unwrap();
        drop(w);
        let got = sock.recv_with_credentials(&mut buf).unwrap().unwrap();
        assert_eq!(&buf[..got.len], b"STATUS=fd");
        let mut byte = [0u8; 1];
        assert_eq!(
            crate::pipe::read_nonblocking(&r, &mut byte).unwrap(),
            Some(0),
            "the passed descriptor leaked into the manager"
        );
    }

    #[test]
    fn notify_send_as_falls_back_or_claims_the_pid() {
        let path = temp_path("notify-as");
        let sock = NotifySocket::bind(&path, 0o600).unwrap();
        let parent = std::os::unix::process::parent_id();
        notify_send_as(&path, b"READY=1", parent).unwrap();
        let mut buf = [0u8; 16];
        let got = sock.recv_with_credentials(&mut buf).unwrap().unwrap();
        let pid = got.credentials.unwrap().pid;
        if crate::process::geteuid() == 0 {
            assert_eq!(pid, parent, "root may speak for another pid");
        } else {
            assert_eq!(pid, std::process::id());
        }
    }

    #[test]
    fn abstract_notify_address() {
        let name = format!("@vigil-test-{}", std::process::id());
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        rustix::net::bind(&fd, &notify_addr(OsStr::new(&name)).unwrap()).unwrap();
        notify_send(&name, b"X=1").unwrap();
        let mut buf = [0u8; 8];
        let n = rustix::io::read(&fd, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"X=1");
    }
}
