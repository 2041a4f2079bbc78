//! The `[Socket]` section of `.socket` units and `Sockets=` of services:
//! parsing the `Listen*=` addresses and the implicit dependencies systemd gives
//! a socket unit. Never binds anything: the manager does that.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{Builder, Reference, bool_value};
use crate::model::{Listen, ListenAddress, ListenKind, Socket, TriggerLimit, Unit, UnitKind};
use crate::{Diagnostic, name, value};

/// The longest `sun_path` the kernel takes, without its terminating NUL.
const SUN_PATH_MAX: usize = 107;

impl Builder<'_> {
    /// The `[Socket]` settings being built (only socket units have a `[Socket]` section).
    pub(super) fn socket(&mut self) -> &mut Socket {
        let name = self.unit.name.clone();
        self.unit.socket.get_or_insert_with(|| Socket::new(&name))
    }
}

/// The netlink families `ListenNetlink=` names, with their protocol numbers
/// (linux/netlink.h), as systemd's table has them.
const NETLINK_FAMILIES: [(&str, u32); 19] = [
    ("route", 0),
    ("firewall", 3),
    ("inet-diag", 4),
    ("nflog", 5),
    ("xfrm", 6),
    ("selinux", 7),
    ("iscsi", 8),
    ("audit", 9),
    ("fib-lookup", 10),
    ("connector", 11),
    ("netfilter", 12),
    ("ip6-fw", 13),
    ("dnrtmsg", 14),
    ("kobject-uevent", 15),
    ("generic", 16),
    ("scsitransport", 18),
    ("ecryptfs", 19),
    ("rdma", 20),
    ("crypto", 21),
];

/// `ListenNetlink=FAMILY [GROUP]`: a family by name (or number), the group
/// a number (0 when left out).
fn parse_netlink(v: &str) -> Result<ListenAddress, String> {
    let mut words = v.split_whitespace();
    let name = words.next().unwrap_or_default();
    let group = match words.next() {
        Some(g) => g
            .parse::<u32>()
            .map_err(|_| format!("group {g:?} is not a number"))?,
        None => 0,
    };
    if words.next().is_some() {
        return Err(format!("{v:?}: expected FAMILY [GROUP]"));
    }
    let known = NETLINK_FAMILIES.iter().find(|(n, _)| *n == name);
    let protocol = match known {
        Some((_, p)) => *p,
        None => name
            .parse::<u32>()
            .ok()
            .filter(|p| *p < 32)
            .ok_or_else(|| {
                format!("{name:?} is not a netlink family (route, audit, kobject-uevent, ...)")
            })?,
    };
    Ok(ListenAddress::Netlink {
        family: name.to_string(),
        protocol,
        group,
    })
}

/// Parses one `Listen*=` address (specifiers already expanded).
pub fn parse_listen(kind: ListenKind, v: &str) -> Result<ListenAddress, String> {
    if kind == ListenKind::Netlink {
        return parse_netlink(v);
    }
    if v.starts_with('/') {
        if v.len() > SUN_PATH_MAX && kind != ListenKind::Fifo {
            return Err(format!(
                "unix socket path is longer than {SUN_PATH_MAX} bytes"
            ));
        }
        if v.split('/').any(|c| c == "..") {
            return Err(format!("path {v:?} contains \"..\""));
        }
        return Ok(ListenAddress::Path(PathBuf::from(v)));
    }
    if kind == ListenKind::Fifo {
        return Err(format!("path {v:?} is not absolute"));
    }
    if let Some(n) = v.strip_prefix('@') {
        if n.is_empty() || n.len() > SUN_PATH_MAX - 1 {
            return Err(format!(
                "abstract socket name must be 1 to {} bytes long",
                SUN_PATH_MAX - 1
            ));
        }
        return Ok(ListenAddress::Abstract(n.to_string()));
    }
    if kind == ListenKind::SequentialPacket {
        return Err("expected an absolute path or @abstract name (AF_UNIX only)".into());
    }
    if !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()) {
        return match v.parse::<u16>() {
            Ok(p) if p > 0 => Ok(ListenAddress::Port(p)),
            _ => Err(format!("port {v} is out of range (1-65535)")),
        };
    }
    if let Ok(a) = v.parse::<SocketAddr>() {
        if a.port() == 0 {
            return Err(format!("port 0 in {v:?} is not allowed"));
        }
        return Ok(ListenAddress::Inet(a));
    }
    if let Some(port) = inet_port_out_of_range(v) {
        return Err(format!("port {port} in {v:?} is out of range (1-65535)"));
    }
    if v.starts_with("vsock:") || v.starts_with("netlink") {
        return Err(format!(
            "{v:?}: vsock and netlink sockets are not supported"
        ));
    }
    Err(format!(
        "{v:?} is not an absolute path, @abstract name, port, IPv4ADDRESS:PORT or [IPv6ADDRESS]:PORT"
    ))
}

/// The port of `IPv4:PORT` or `[IPv6]:PORT` with a valid address and a
/// port of digits past 65535, which `SocketAddr` refuses as a whole.
fn inet_port_out_of_range(v: &str) -> Option<&str> {
    let (host, port) = match v.strip_prefix('[') {
        Some(rest) => {
            let (host, port) = rest.split_once("]:")?;
            host.parse::<std::net::Ipv6Addr>().ok()?;
            (host, port)
        }
        None => {
            let (host, port) = v.rsplit_once(':')?;
            host.parse::<std::net::Ipv4Addr>().ok()?;
            (host, port)
        }
    };
    let digits = !port.is_empty() && port.bytes().all(|c| c.is_ascii_digit());
    (!host.is_empty() && digits && port.parse::<u16>().is_err()).then_some(port)
}

pub(super) fn h_listen(b: &mut Builder<'_>, v: &str, kind: ListenKind) -> Result<(), String> {
    if v.is_empty() {
        b.socket().listen.clear();
        return Ok(());
    }
    let expanded = b.spec(v);
    let address = parse_listen(kind, expanded.trim())?;
    let line = b.line;
    b.socket().listen.push(Listen {
        kind,
        address,
        line,
    });
    Ok(())
}

pub(super) fn h_service(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    let n = b.spec(v);
    name::validate(&n).map_err(|e| e.to_string())?;
    if !n.ends_with(".service") {
        return Err(format!("{n} is not a .service unit"));
    }
    if name::is_template(&n) {
        return Err(format!("{n} is a template; name an instance"));
    }
    b.socket().service = n;
    Ok(())
}

/// `Symlinks=`: absolute paths, each made a link to the socket's path when it
/// listens (an empty value resets the list).
pub(super) fn h_symlinks(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    if v.is_empty() {
        b.socket().symlinks.clear();
        return Ok(());
    }
    let expanded = b.spec(v);
    let mut bad = Vec::new();
    for word in expanded.split_whitespace() {
        if !word.starts_with('/') || word.split('/').any(|c| c == "..") {
            bad.push(format!("{word:?} is not an absolute path without \"..\""));
            continue;
        }
        let path = PathBuf::from(word);
        if !b.socket().symlinks.contains(&path) {
            b.socket().symlinks.push(path);
        }
    }
    match bad.is_empty() {
        true => Ok(()),
        false => Err(bad.join("; ")),
    }
}

/// `FileDescriptorName=`; an empty value resets it to the default, the
/// unit's name, as in systemd (a drop-in may undo the unit file's).
pub(super) fn h_fd_name(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    if v.is_empty() {
        b.socket().fd_name = b.unit.name.clone();
        return Ok(());
    }
    let n = b.spec(v);
    let ok = !n.is_empty() && n.len() <= 255 && n.chars().all(|c| c.is_ascii_graphic() && c != ':');
    if !ok {
        return Err(format!(
            "{n:?} is not a valid name (1-255 printable ASCII characters without ':')"
        ));
    }
    b.socket().fd_name = n;
    Ok(())
}

/// `TriggerLimitIntervalSec=`: a time span; `infinity` is systemd's "unset",
/// which leaves the default (2 s), as there.
pub(super) fn h_trigger_interval(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    b.trigger_interval = value::parse_timespan(v).map_err(|e| e.to_string())?;
    Ok(())
}

/// `TriggerLimitBurst=`: a number; 4294967295 is systemd's "unset", which
/// leaves the default (200 with `Accept=yes`, else 20), as there.
pub(super) fn h_trigger_burst(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    let n: u32 = v
        .parse()
        .map_err(|_| "expected a non-negative number".to_string())?;
    b.trigger_burst = (n != u32::MAX).then_some(n);
    Ok(())
}

pub(super) fn h_accept(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    b.socket().accept = bool_value(v)?;
    Ok(())
}

/// `Sockets=` of a service: the service gets these sockets' descriptors, and
/// (as systemd does) Wants= and After= on them.
pub(super) fn h_sockets(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    if v.is_empty() {
        b.service.sockets.clear();
        return Ok(());
    }
    let expanded = b.spec(v);
    let mut bad = Vec::new();
    for word in expanded.split_whitespace() {
        if name::validate(word).is_err() || name::kind_of(word) != Some(UnitKind::Socket) {
            bad.push(format!("{word} is not a .socket unit name"));
            continue;
        }
        if name::is_template(word) {
            bad.push(format!("{word} is a template and cannot be named here"));
            continue;
        }
        let n = word.to_string();
        if !b.service.sockets.contains(&n) {
            b.service.sockets.push(n.clone());
        }
        b.unit.deps.wants.push(n.clone());
        b.unit.deps.after.push(n.clone());
        b.refs.push(Reference {
            name: n,
            directive: "Wants",
            path: b.path.clone(),
            line: b.line,
        });
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad.join("; "))
    }
}

/// Checks of the whole `[Socket]` section, and Before= its service (the loader
/// adds the implicit dependencies of DefaultDependencies=yes).
pub(super) fn finish(b: &mut Builder<'_>, main: &std::path::Path) {
    let unit: &mut Unit = &mut b.unit;
    let name = unit.name.clone();
    let sock = unit.socket.get_or_insert_with(|| Socket::new(&name));
    let default = TriggerLimit::default_for(sock.accept);
    sock.trigger_limit = TriggerLimit {
        interval: b.trigger_interval.unwrap_or(default.interval),
        burst: b.trigger_burst.unwrap_or(default.burst),
    };
    // ListenSpecial=, ListenMessageQueue=, ... are read but not enforced: such a unit
    // loads (and fails when started if nothing else is left to listen on).
    // A rejected Listen*= line was reported already.
    let other_listen = unit.not_enforced.iter().any(|d| d.starts_with("Listen")) || b.listen_failed;
    if sock.listen.is_empty() && !other_listen {
        b.diags.push(Diagnostic::error(
            main,
            0,
            "socket unit has no ListenStream=, ListenDatagram=, ListenSequentialPacket=, \
             ListenFIFO= or ListenNetlink= setting",
        ));
    }
    if sock.accept {
        // systemd: each connection starts an instance of `STEM@.service`;
        // Service= is refused with Accept=yes.
        let stem = name.strip_suffix(".socket").unwrap_or(&name);
        let template = format!("{stem}@.service");
        if sock.service != format!("{stem}.service") {
            b.diags.push(Diagnostic::warning(
                main,
                0,
                format!(
                    "Service= is not used with Accept=yes: each connection starts an instance of {template}"
                ),
            ));
        }
        sock.service = template;
        if sock.listen.iter().any(|l| {
            matches!(
                l.kind,
                ListenKind::Datagram | ListenKind::Fifo | ListenKind::Netlink
            )
        }) {
            b.diags.push(Diagnostic::error(
                main,
                0,
                "Accept=yes needs ListenStream= or ListenSequentialPacket= sockets only \
                 (there is no connection to accept on a datagram socket or a FIFO)",
            ));
        }
    } else {
        unit.deps.before.push(sock.service.clone());
    }
}

#[cfg(test)]
#[path = "socket_tests.rs"]
mod tests;
