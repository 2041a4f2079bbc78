//! The listening sockets and FIFOs of socket units: created and bound here,
//! in the manager, close-on-exec and non-blocking, to be watched by the
//! manager and passed to services as fds 3, 4, ...
//!
//! This module knows nothing of units: it makes one socket as told and
//! returns it, or the error of the step that failed.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType, sockopt};
use rustix::process::{Gid, Uid};

/// The socket type of a `Listen*=` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenType {
    Stream,
    Datagram,
    SeqPacket,
}

/// Where to bind.
#[derive(Debug, Clone, Copy)]
pub enum BindTo<'a> {
    Path(&'a Path),
    /// The abstract namespace, without the leading NUL.
    Abstract(&'a [u8]),
    Inet(SocketAddr),
    /// Every address: `[::]` accepting IPv4 too, or `0.0.0.0` when the
    /// kernel has no IPv6.
    AnyPort(u16),
    /// A raw netlink socket of this protocol (`NETLINK_*`), bound to these
    /// multicast groups: always `SOCK_RAW`, whatever the type asked.
    Netlink {
        protocol: u32,
        groups: u32,
    },
}

/// The socket options of a socket unit that apply here.
#[derive(Debug, Clone, Copy)]
pub struct ListenOptions {
    pub backlog: u32,
    /// File mode of a unix socket's node.
    pub mode: u32,
    pub owner: Option<u32>,
    pub group: Option<u32>,
    pub pass_credentials: bool,
    pub reuse_port: bool,
    pub free_bind: bool,
    /// IPV6_V6ONLY for IPv6 sockets (`BindIPv6Only=`): `None` leaves the
    /// kernel's default, but for [`BindTo::AnyPort`], which takes IPv4 too.
    pub v6only: Option<bool>,
    /// SO_RCVBUF and SO_SNDBUF in bytes (`ReceiveBuffer=`, `SendBuffer=`).
    pub receive_buffer: Option<usize>,
    pub send_buffer: Option<usize>,
}

/// A step of creating a socket, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Socket,
    Option,
    Bind,
    Chmod,
    Chown,
    Listen,
    Mkfifo,
    Open,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Socket => "socket",
            Step::Option => "setsockopt",
            Step::Bind => "bind",
            Step::Chmod => "chmod",
            Step::Chown => "chown",
            Step::Listen => "listen",
            Step::Mkfifo => "mkfifo",
            Step::Open => "open",
        }
    }
}

/// A failed step and its error.
#[derive(Debug)]
pub struct ListenError {
    pub step: Step,
    pub source: io::Error,
}

impl std::fmt::Display for ListenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.step.as_str(), self.source)
    }
}

impl std::error::Error for ListenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn at<T>(step: Step, r: impl Into<Result<T, io::Error>>) -> Result<T, ListenError> {
    r.into().map_err(|source| ListenError { step, source })
}

fn io<T>(r: rustix::io::Result<T>) -> Result<T, io::Error> {
    r.map_err(io::Error::from)
}

/// Creates, binds and (for stream and seqpacket sockets) listens a socket:
/// close-on-exec and non-blocking. A unix socket file at the path is replaced
/// ([`take_path`]).
pub fn listen_socket(
    ty: ListenType,
    to: BindTo<'_>,
    opts: &ListenOptions,
) -> Result<OwnedFd, ListenError> {
    let socket_type = socket_type(ty);
    let flags = SocketFlags::CLOEXEC | SocketFlags::NONBLOCK;
    // A unix or netlink socket: SO_PASSCRED applies to both.
    let local_socket = |family, ty, protocol| -> Result<OwnedFd, ListenError> {
        let fd = at(
            Step::Socket,
            io(rustix::net::socket_with(family, ty, flags, protocol)),
        )?;
        unix_options(&fd, opts)?;
        Ok(fd)
    };
    let unix_socket = || local_socket(AddressFamily::UNIX, socket_type, None);
    let fd = match to {
        BindTo::Path(path) => {
            let fd = unix_socket()?;
            at(Step::Bind, take_path(path))?;
            let addr = at(Step::Bind, io(SocketAddrUnix::new(path)))?;
            // bind(2) gives the file the socket's own mode less the umask: set to
            // SocketMode= first, the file is never wider than that, not even before
            // the chmod below puts back what the umask took.
            let mode = Mode::from_raw_mode(opts.mode);
            at(Step::Chmod, io(rustix::fs::fchmod(&fd, mode)))?;
            at(Step::Bind, io(rustix::net::bind(&fd, &addr)))?;
            let (_node, inode) = at(Step::Chmod, bound_node(path))?;
            at(Step::Chmod, io(rustix::fs::chmod(&inode, mode)))?;
            if opts.owner.is_some() || opts.group.is_some() {
                at(
                    Step::Chown,
                    io(rustix::fs::chown(
                        &inode,
                        opts.owner.map(Uid::from_raw),
                        opts.group.map(Gid::from_raw),
                    )),
                )?;
            }
            fd
        }
        BindTo::Abstract(name) => {
            let fd = unix_socket()?;
            let addr = at(Step::Bind, io(SocketAddrUnix::new_abstract_name(name)))?;
            at(Step::Bind, io(rustix::net::bind(&fd, &addr)))?;
            fd
        }
        BindTo::Inet(addr) => inet(socket_type, flags, addr, opts.v6only, opts)?,
        BindTo::Netlink { protocol, groups } => {
            let protocol = std::num::NonZeroU32::new(protocol).map(rustix::net::Protocol::from_raw);
            let fd = local_socket(AddressFamily::NETLINK, SocketType::RAW, protocol)?;
            let addr = rustix::net::netlink::SocketAddrNetlink::new(0, groups);
            at(Step::Bind, io(rustix::net::bind(&fd, &addr)))?;
            fd
        }
        BindTo::AnyPort(port) => {
            let any6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
            match inet(socket_type, flags, any6, opts.v6only.or(Some(false)), opts) {
                Err(ListenError {
                    step: Step::Socket,
                    source,
                }) if source.raw_os_error() == Some(libc::EAFNOSUPPORT) => {
                    let any4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
                    inet(socket_type, flags, any4, None, opts)?
                }
                other => other?,
            }
        }
    };
    buffers(&fd, opts);
    // A datagram or netlink socket has nothing to accept.
    if ty != ListenType::Datagram && !matches!(to, BindTo::Netlink { .. }) {
        let backlog = i32::try_from(opts.backlog).unwrap_or(i32::MAX);
        at(Step::Listen, io(rustix::net::listen(&fd, backlog)))?;
    }
    Ok(fd)
}

/// `ReceiveBuffer=` and `SendBuffer=`: past the `net.core.rmem_max` and
/// `wmem_max` limits when allowed (SO_RCVBUFFORCE, CAP_NET_ADMIN), else as far
/// as they let; as in systemd a refusal is no reason to fail the socket.
fn buffers(fd: &OwnedFd, opts: &ListenOptions) {
    if let Some(n) = opts.receive_buffer
        && sockopt::set_socket_recv_buffer_size_force(fd, n).is_err()
    {
        let _ = sockopt::set_socket_recv_buffer_size(fd, n);
    }
    if let Some(n) = opts.send_buffer
        && sockopt::set_socket_send_buffer_size_force(fd, n).is_err()
    {
        let _ = sockopt::set_socket_send_buffer_size(fd, n);
    }
}

fn unix_options(fd: &OwnedFd, opts: &ListenOptions) -> Result<(), ListenError> {
    if opts.pass_credentials {
        at(Step::Option, io(sockopt::set_socket_passcred(fd, true)))?;
    }
    Ok(())
}

/// Whether `fd` is what a `Listen*=` line makes: a socket of type `ty` bound
/// to `to`, or with `ty` None the FIFO at the path `to`. For a socket taken
/// over from a previous manager, whose unit's lines may have changed since.
pub fn is_listening_as(fd: BorrowedFd<'_>, ty: Option<ListenType>, to: BindTo<'_>) -> bool {
    let Some(ty) = ty else {
        let BindTo::Path(path) = to else {
            return false;
        };
        return match (rustix::fs::fstat(fd), rustix::fs::stat(path)) {
            (Ok(a), Ok(b)) => {
                FileType::from_raw_mode(a.st_mode) == FileType::Fifo
                    && (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
            }
            _ => false,
        };
    };
    if let BindTo::Netlink { protocol, groups } = to {
        let domain = sockopt::socket_domain(fd).ok() == Some(AddressFamily::NETLINK);
        let proto = sockopt::socket_protocol(fd)
            .ok()
            .map(|p| p.map_or(0, |p| p.as_raw().get()));
        // The groups it is bound to too: an edited `ListenNetlink=` is a new socket.
        let bound = rustix::net::getsockname(fd)
            .ok()
            .and_then(|a| rustix::net::netlink::SocketAddrNetlink::try_from(a).ok());
        return domain && proto == Some(protocol) && bound.is_some_and(|a| a.groups() == groups);
    }
    if sockopt::socket_type(fd).ok() != Some(socket_type(ty)) {
        return false;
    }
    let Ok(addr) = rustix::net::getsockname(fd) else {
        return false;
    };
    let unix = || SocketAddrUnix::try_from(addr.clone()).ok();
    let inet = || SocketAddr::try_from(addr.clone()).ok();
    match to {
        BindTo::Path(path) => unix().is_some_and(|u| {
            u.path_bytes() == Some(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
        }),
        BindTo::Abstract(name) => unix().is_some_and(|u| u.abstract_name() == Some(name)),
        BindTo::Inet(want) => inet() == Some(want),
        BindTo::AnyPort(port) => {
            inet().is_some_and(|a| a.port() == port && a.ip().is_unspecified())
        }
        BindTo::Netlink { .. } => false,
    }
}

fn socket_type(ty: ListenType) -> SocketType {
    match ty {
        ListenType::Stream => SocketType::STREAM,
        ListenType::Datagram => SocketType::DGRAM,
        ListenType::SeqPacket => SocketType::SEQPACKET,
    }
}

/// Makes room for a unit's socket at `path` as systemd does: a socket file
/// there goes, whoever still listens on it (after `vigil restart x.socket`,
/// the service started before keeps serving the old socket, which no new
/// client reaches); anything else there is an error. Without a test
/// connection, which would land in that service's queue.
fn take_path(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) => {
            std::fs::remove_file(path)
        }
        Ok(_) => Err(io::Error::from_raw_os_error(libc::EEXIST)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn inet(
    socket_type: SocketType,
    flags: SocketFlags,
    addr: SocketAddr,
    v6only: Option<bool>,
    opts: &ListenOptions,
) -> Result<OwnedFd, ListenError> {
    let family = if addr.is_ipv6() {
        AddressFamily::INET6
    } else {
        AddressFamily::INET
    };
    let fd = at(
        Step::Socket,
        io(rustix::net::socket_with(family, socket_type, flags, None)),
    )?;
    // As systemd: a restarted listener may bind while old connections linger.
    at(Step::Option, io(sockopt::set_socket_reuseaddr(&fd, true)))?;
    if let Some(only) = v6only.filter(|_| addr.is_ipv6()) {
        at(Step::Option, io(sockopt::set_ipv6_v6only(&fd, only)))?;
    }
    if opts.reuse_port {
        at(Step::Option, io(sockopt::set_socket_reuseport(&fd, true)))?;
    }
    if opts.free_bind {
        let r = if addr.is_ipv6() {
            sockopt::set_ipv6_freebind(&fd, true)
        } else {
            sockopt::set_ip_freebind(&fd, true)
        };
        at(Step::Option, io(r))?;
    }
    at(Step::Bind, io(rustix::net::bind(&fd, &addr)))?;
    Ok(fd)
}

/// Creates the FIFO at `path` (an existing FIFO is kept) with `mode`, and opens
/// it read-write (so it never reads end-of-file), non-blocking, close-on-exec.
/// The file a bind(2) just made at `path`, to give its mode and owner: the
/// path again could name a symlink put there since by whoever may write the
/// directory (a race: root would chmod and chown what it names). So the node
/// is opened without following a link (O_PATH) and must be a socket this
/// process owns; it is then reached as /proc/self/fd/N, the inode itself
/// (Linux before 6.6 has no fchmodat of a descriptor that is only a path).
fn bound_node(path: &Path) -> io::Result<(OwnedFd, std::path::PathBuf)> {
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let node = io(rustix::fs::open(path, flags, Mode::empty()))?;
    let stat = io(rustix::fs::fstat(&node))?;
    let ours = stat.st_uid == rustix::process::geteuid().as_raw();
    if FileType::from_raw_mode(stat.st_mode) != FileType::Socket || !ours {
        return Err(io::Error::from_raw_os_error(libc::EEXIST));
    }
    let inode = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&node)).into();
    Ok((node, inode))
}

pub fn listen_fifo(path: &Path, opts: &ListenOptions) -> Result<OwnedFd, ListenError> {
    let mode = Mode::from_raw_mode(opts.mode);
    match rustix::fs::mknodat(rustix::fs::CWD, path, FileType::Fifo, mode, 0) {
        Ok(()) => {}
        Err(rustix::io::Errno::EXIST) => {}
        Err(e) => {
            return Err(ListenError {
                step: Step::Mkfifo,
                source: e.into(),
            });
        }
    }
    // Never through a symlink, nor a terminal made ours: whoever may write
    // the directory could have put one where the FIFO goes, and the mode and
    // owner set below would go to what it names (a root FIFO, a device). An
    // existing FIFO is kept only when it is no other file's second name (a
    // hard link to someone else's).
    let fd = at(
        Step::Open,
        io(rustix::fs::open(
            path,
            OFlags::RDWR | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NOCTTY,
            Mode::empty(),
        )),
    )?;
    let stat = at(Step::Open, io(rustix::fs::fstat(&fd)))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::Fifo || stat.st_nlink != 1 {
        return Err(ListenError {
            step: Step::Mkfifo,
            source: io::Error::from_raw_os_error(libc::EEXIST),
        });
    }
    at(Step::Chmod, io(rustix::fs::fchmod(&fd, mode)))?;
    if opts.owner.is_some() || opts.group.is_some() {
        at(
            Step::Chown,
            io(rustix::fs::fchown(
                &fd,
                opts.owner.map(Uid::from_raw),
                opts.group.map(Gid::from_raw),
            )),
        )?;
    }
    Ok(fd)
}

/// Creates the missing parent directories of `path`, each with exactly
/// `mode` (`DirectoryMode=`): mkdir(2) takes the manager's umask off, so each
/// directory made here gets its mode again with fchmod, through a descriptor
/// opened with O_NOFOLLOW (never a symlink put in its place). The manager's
/// own umask is not touched; existing directories, and one that someone else
/// makes meanwhile, are left as they are.
pub fn create_parent_dirs(path: &Path, mode: u32) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut dir = path.parent();
    while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
        match std::fs::symlink_metadata(d) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => missing.push(d),
            Err(e) => return Err(e),
        }
        dir = d.parent();
    }
    let mode = Mode::from_raw_mode(mode);
    for d in missing.into_iter().rev() {
        match rustix::fs::mkdir(d, mode) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
        let fd = io(rustix::fs::open(
            d,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ))?;
        io(rustix::fs::fchmod(&fd, mode))?;
    }
    Ok(())
}

/// Ends a listening socket for every process that shares it (shutdown(2)):
/// a TCP one leaves LISTEN, so its address can be bound again at once even
/// while another copy of it is still open (vigil-init's fd store, until it
/// reads the removal). Nothing for a socket that does not listen.
pub fn stop_listening(fd: BorrowedFd<'_>) {
    let _ = rustix::net::shutdown(fd, rustix::net::Shutdown::Both);
}

/// `Accept=yes`: one connection waiting on a non-blocking listening socket,
/// close-on-exec and blocking (as a service gets it), with the peer's
/// address when it is an IPv4 or IPv6 one (an IPv4-mapped IPv6 address is
/// given as IPv4). `None` when no connection waits.
pub fn accept_connection(
    listener: std::os::fd::BorrowedFd<'_>,
) -> io::Result<Option<(OwnedFd, Option<SocketAddr>)>> {
    loop {
        return match rustix::net::acceptfrom_with(listener, SocketFlags::CLOEXEC) {
            Ok((fd, peer)) => {
                let peer = peer
                    .and_then(|p| SocketAddr::try_from(p).ok())
                    .map(|p| match p {
                        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
                            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
                            None => p,
                        },
                        v4 => v4,
                    });
                Ok(Some((fd, peer)))
            }
            Err(rustix::io::Errno::AGAIN) => Ok(None),
            // The peer gave up before it was accepted, or a signal came.
            Err(rustix::io::Errno::CONNABORTED | rustix::io::Errno::INTR) => continue,
            Err(e) => Err(e.into()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::bound_node;

    /// Review finding (a race: after bind(2) a user who may write the
    /// directory renames a symlink onto the socket's path, and root's chmod
    /// and chown by path went to what it named: 3 of 3 runs of the review's
    /// racer against a debug build). The node is taken as it is: a symlink
    /// there, or a file that is not a socket, is refused; the socket is
    /// reached through its descriptor.
    #[test]
    fn the_bound_node_is_never_what_a_symlink_names() {
        let dir = std::env::temp_dir().join(format!("vigil-bound-node-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let real = dir.join("real.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&real).unwrap();
        let (_node, inode) = bound_node(&real).unwrap();
        assert!(inode.starts_with("/proc/self/fd/"));
        let link = dir.join("link.sock");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(bound_node(&link).is_err(), "a symlink to a socket");
        let plain = dir.join("plain");
        std::fs::write(&plain, "x").unwrap();
        assert!(bound_node(&plain).is_err(), "a file that is no socket");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
