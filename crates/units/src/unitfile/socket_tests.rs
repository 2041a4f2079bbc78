//! `.socket` units: every `Listen*=` form, the `[Socket]` settings, the implicit
//! dependencies, and the errors with their file:line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::super::{Parsed, parse_str};
use crate::model::{ListenAddress, ListenKind, Unit};
use crate::specifier::SpecifierContext;

const PATH: &str = "/etc/vigil/web.socket";

fn ctx() -> SpecifierContext {
    SpecifierContext {
        user_name: "root".into(),
        uid: 0,
        home: "/root".into(),
        host_name: "box".into(),
        runtime_dir: "/run".into(),
        facts: Vec::new(),
    }
}

fn parse(name: &str, text: &str) -> Parsed {
    parse_str(name, Path::new(PATH), text, &ctx())
}

fn ok(text: &str) -> Unit {
    let p = parse("web.socket", text);
    let errors: Vec<_> = p.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "unexpected errors: {errors:#?}");
    p.unit.expect("unit")
}

/// The errors of a socket unit that must not load, as `file:line: message`.
fn errs(text: &str) -> Vec<String> {
    let p = parse("web.socket", text);
    assert!(
        p.unit.is_none(),
        "unit should not load: {:#?}",
        p.diagnostics
    );
    p.diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect()
}

fn listen_one(directive: &str, value: &str) -> (ListenKind, ListenAddress) {
    let u = ok(&format!("[Socket]\n{directive}={value}\n"));
    let l = &u.socket.as_ref().expect("socket").listen[0];
    (l.kind, l.address.clone())
}

#[test]
fn every_listen_form() {
    use ListenAddress::*;
    use ListenKind::*;
    assert_eq!(
        listen_one("ListenStream", "/run/web.sock"),
        (Stream, Path(PathBuf::from("/run/web.sock")))
    );
    assert_eq!(
        listen_one("ListenStream", "@web-abstract"),
        (Stream, Abstract("web-abstract".into()))
    );
    assert_eq!(listen_one("ListenStream", "8080"), (Stream, Port(8080)));
    assert_eq!(
        listen_one("ListenStream", "127.0.0.1:8080"),
        (
            Stream,
            Inet("127.0.0.1:8080".parse::<SocketAddr>().unwrap())
        )
    );
    assert_eq!(
        listen_one("ListenStream", "[::1]:8080"),
        (Stream, Inet("[::1]:8080".parse::<SocketAddr>().unwrap()))
    );
    assert_eq!(listen_one("ListenDatagram", "514"), (Datagram, Port(514)));
    assert_eq!(
        listen_one("ListenDatagram", "/run/systemd/journal/dev-log"),
        (
            Datagram,
            Path(PathBuf::from("/run/systemd/journal/dev-log"))
        )
    );
    assert_eq!(
        listen_one("ListenSequentialPacket", "/run/seq"),
        (SequentialPacket, Path(PathBuf::from("/run/seq")))
    );
    assert_eq!(
        listen_one("ListenFIFO", "/run/initctl"),
        (Fifo, Path(PathBuf::from("/run/initctl")))
    );
}

#[test]
fn several_listen_lines_keep_their_order_and_an_empty_one_resets() {
    let u = ok("[Socket]\nListenStream=/run/a\nListenDatagram=/run/b\nListenStream=99\n");
    let s = u.socket.as_ref().unwrap();
    let kinds: Vec<_> = s.listen.iter().map(|l| (l.kind, l.line)).collect();
    assert_eq!(
        kinds,
        [
            (ListenKind::Stream, 2),
            (ListenKind::Datagram, 3),
            (ListenKind::Stream, 4)
        ]
    );
    let u = ok("[Socket]\nListenStream=/run/a\nListenStream=\nListenStream=/run/c\n");
    let s = u.socket.as_ref().unwrap();
    assert_eq!(s.listen.len(), 1);
    assert_eq!(s.listen[0].address, ListenAddress::Path("/run/c".into()));
}

#[test]
fn specifiers_in_listen_paths() {
    let u = ok("[Socket]\nListenStream=%t/%p.sock\n");
    assert_eq!(
        u.socket.as_ref().unwrap().listen[0].address,
        ListenAddress::Path("/run/web.sock".into())
    );
}

#[test]
fn defaults_follow_systemd() {
    let u = ok("[Socket]\nListenStream=/run/web.sock\n");
    let s = u.socket.as_ref().unwrap();
    assert_eq!(s.socket_mode, 0o666);
    assert_eq!(s.directory_mode, 0o755);
    assert_eq!(s.service, "web.service");
    assert_eq!(s.fd_name, "web.socket");
    assert_eq!(s.backlog, crate::model::DEFAULT_BACKLOG);
    assert!(!s.accept && !s.remove_on_stop && !s.pass_credentials);
    assert!(!s.reuse_port && !s.free_bind);
    assert_eq!(s.bind_ipv6_only, None);
    assert_eq!(s.user, None);
}

#[test]
fn every_socket_setting() {
    let u = ok(
        "[Socket]\nListenStream=/run/x/web.sock\nSocketMode=0600\nDirectoryMode=0700\n\
         SocketUser=www\nSocketGroup=www\nService=api.service\nBacklog=16\n\
         FileDescriptorName=http\nAccept=no\nRemoveOnStop=yes\nPassCredentials=yes\n\
         ReusePort=true\nFreeBind=1\nBindIPv6Only=ipv6-only\nReceiveBuffer=128M\nSendBuffer=4096\n",
    );
    let s = u.socket.as_ref().unwrap();
    assert_eq!((s.socket_mode, s.directory_mode), (0o600, 0o700));
    assert_eq!(s.user.as_deref(), Some("www"));
    assert_eq!(s.group.as_deref(), Some("www"));
    assert_eq!(s.service, "api.service");
    assert_eq!(s.backlog, 16);
    assert_eq!(s.fd_name, "http");
    assert!(s.remove_on_stop && s.pass_credentials && s.reuse_port && s.free_bind);
    assert_eq!(s.bind_ipv6_only, Some(true));
    assert_eq!(
        (s.receive_buffer, s.send_buffer),
        (Some(128 << 20), Some(4096))
    );
    assert!(u.not_enforced.is_empty(), "{:?}", u.not_enforced);
    assert!(u.deps.before.contains(&"api.service".to_string()));
    assert!(!u.deps.before.contains(&"web.service".to_string()));
}

#[test]
fn a_socket_is_ordered_before_its_service() {
    // The implicit dependencies of DefaultDependencies=yes are the loader's
    // (load/tests.rs: sockets_get_their_implicit_dependencies_from_the_loader).
    let u = ok("[Socket]\nListenStream=/run/web.sock\n");
    assert_eq!(u.deps.before, ["web.service"]);
    assert!(u.deps.requires.is_empty() && u.deps.after.is_empty());
    assert!(u.deps.conflicts.is_empty());
}

#[test]
fn a_service_with_sockets_wants_and_orders_after_them() {
    let p = parse_str(
        "db.service",
        Path::new("/etc/vigil/db.service"),
        "[Service]\nExecStart=/bin/db\nSockets=db.socket db-admin.socket\n",
        &ctx(),
    );
    let u = p.unit.expect("loads");
    assert_eq!(
        *u.service.unwrap().sockets,
        ["db.socket", "db-admin.socket"]
    );
    assert_eq!(u.deps.wants, ["db.socket", "db-admin.socket"]);
    assert_eq!(u.deps.after, ["db.socket", "db-admin.socket"]);

    let p = parse_str(
        "db.service",
        Path::new("/etc/vigil/db.service"),
        "[Service]\nExecStart=/bin/db\nSockets=db.service\n",
        &ctx(),
    );
    assert!(p.unit.is_none());
    assert_eq!(
        p.diagnostics[0].to_string(),
        "/etc/vigil/db.service:3: error: Sockets=db.service: db.service is not a .socket unit name"
    );
}

#[test]
fn bad_values_name_file_line_and_directive() {
    let e = errs("[Socket]\nListenStream=web.sock\n");
    assert_eq!(
        e,
        [
            "/etc/vigil/web.socket:2: error: ListenStream=web.sock: \"web.sock\" is not an absolute path, \
             @abstract name, port, IPv4ADDRESS:PORT or [IPv6ADDRESS]:PORT"
        ]
    );
    let e = errs("[Socket]\nListenStream=70000\n");
    assert_eq!(
        e,
        [
            "/etc/vigil/web.socket:2: error: ListenStream=70000: port 70000 is out of range (1-65535)"
        ]
    );
    let e = errs("[Socket]\nListenStream=0\n");
    assert!(e[0].contains("port 0 is out of range"), "{e:?}");
    // Tester's finding: with an address, the generic "is not an absolute
    // path, ..." instead.
    let e = errs("[Socket]\nListenStream=127.0.0.1:70000\nListenDatagram=[::1]:65536\n");
    assert_eq!(
        e,
        [
            "/etc/vigil/web.socket:2: error: ListenStream=127.0.0.1:70000: \
             port 70000 in \"127.0.0.1:70000\" is out of range (1-65535)",
            "/etc/vigil/web.socket:3: error: ListenDatagram=[::1]:65536: \
             port 65536 in \"[::1]:65536\" is out of range (1-65535)"
        ]
    );
    // Not a port problem: the generic message still.
    for v in [
        "localhost:70000",
        "127.0.0.1:http",
        "[::1]70000",
        "1.2.3:70000",
        "[::1]:",
    ] {
        let e = errs(&format!("[Socket]\nListenStream={v}\n"));
        assert!(e[0].contains("is not an absolute path"), "{v}: {e:?}");
    }
    let e = errs("[Socket]\nListenStream=127.0.0.1:0\n");
    assert!(e[0].contains("port 0 in"), "{e:?}");
    let e = errs("[Socket]\n\nListenFIFO=fifo\n");
    assert_eq!(
        e,
        ["/etc/vigil/web.socket:3: error: ListenFIFO=fifo: path \"fifo\" is not absolute"]
    );
    let e = errs("[Socket]\nListenSequentialPacket=80\n");
    assert!(e[0].contains("AF_UNIX only"), "{e:?}");
    let long = format!("/run/{}", "x".repeat(120));
    let e = errs(&format!("[Socket]\nListenStream={long}\n"));
    assert!(e[0].contains("longer than 107 bytes"), "{e:?}");
    let e = errs("[Socket]\nListenStream=@\n");
    assert!(e[0].contains("abstract socket name"), "{e:?}");
    let e = errs("[Socket]\nListenStream=vsock:2:80\n");
    assert!(e[0].contains("not supported"), "{e:?}");
    let e = errs("[Socket]\nListenStream=/run/a\nSocketMode=999\n");
    assert!(
        e[0].starts_with("/etc/vigil/web.socket:3: error: SocketMode=999"),
        "{e:?}"
    );
    let e = errs("[Socket]\nListenStream=80\nBindIPv6Only=v6\n");
    assert_eq!(
        e,
        [
            "/etc/vigil/web.socket:3: error: BindIPv6Only=v6: expected default, both, ipv6-only or a boolean"
        ]
    );
    // systemd's boolean form, as gpsd.socket writes it.
    let only = |v: &str| {
        let u = ok(&format!("[Socket]\nListenStream=80\nBindIPv6Only={v}\n"));
        u.socket.as_ref().unwrap().bind_ipv6_only
    };
    assert_eq!(
        (only("yes"), only("no"), only("both")),
        (Some(true), Some(false), Some(false))
    );
    let e = errs("[Socket]\nListenStream=/run/a\nService=web.target\n");
    assert_eq!(
        e,
        ["/etc/vigil/web.socket:3: error: Service=web.target: web.target is not a .service unit"]
    );
    let e = errs("[Socket]\nListenStream=/run/a\nFileDescriptorName=a:b\n");
    assert!(e[0].contains("FileDescriptorName=a:b"), "{e:?}");
    let e = errs("[Socket]\nListenStream=/run/a\nBacklog=-1\n");
    assert!(e[0].contains(":3: error: Backlog=-1"), "{e:?}");
}

#[test]
fn a_socket_without_listen_lines_is_an_error() {
    let e = errs("[Unit]\nDescription=x\n[Socket]\nSocketMode=0600\n");
    assert_eq!(
        e,
        [
            "/etc/vigil/web.socket: error: socket unit has no ListenStream=, ListenDatagram=, \
          ListenSequentialPacket=, ListenFIFO= or ListenNetlink= setting"
        ]
    );
}

#[test]
fn accept_yes_starts_instances_of_the_template() {
    let p = parse(
        "web.socket",
        "[Socket]\nListenStream=22\nAccept=yes\nMaxConnections=3\n",
    );
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    let u = p.unit.expect("loads");
    let s = u.socket.as_ref().unwrap();
    assert!(s.accept);
    assert_eq!(s.service, "web@.service");
    assert_eq!(s.max_connections, 3);
    assert!(u.not_enforced.is_empty(), "{:?}", u.not_enforced);
    // Not ordered before a template.
    assert!(!u.deps.before.iter().any(|b| b.starts_with("web")));
    assert_eq!(
        ok("[Socket]\nListenStream=22\n")
            .socket
            .as_ref()
            .unwrap()
            .max_connections,
        64
    );

    let p = parse(
        "web.socket",
        "[Socket]\nListenStream=22\nAccept=yes\nService=x.service\n",
    );
    assert_eq!(
        p.unit.expect("loads").socket.as_ref().unwrap().service,
        "web@.service"
    );
    assert!(
        p.diagnostics
            .iter()
            .any(|d| !d.is_error() && d.message.contains("Service= is not used with Accept=yes")),
        "{:?}",
        p.diagnostics
    );
    let e = errs("[Socket]\nListenDatagram=22\nAccept=yes\n");
    assert!(e[0].contains("Accept=yes needs ListenStream="), "{e:?}");
    let e = errs("[Socket]\nListenStream=22\nMaxConnections=0\n");
    assert!(
        e[0].contains("MaxConnections=0: expected a positive number"),
        "{e:?}"
    );
}

#[test]
fn other_systemd_socket_directives_are_not_enforced_warnings() {
    let p = parse(
        "web.socket",
        "[Socket]\nListenStream=/run/a\nTCPCongestion=cubic\nWritable=yes\nNoSuchThing=1\n",
    );
    let u = p.unit.expect("loads");
    assert_eq!(u.not_enforced, ["TCPCongestion", "Writable"]);
    let msgs: Vec<String> = p.diagnostics.iter().map(ToString::to_string).collect();
    assert!(
        msgs.iter()
            .any(|m| m.contains(":3: warning: TCPCongestion= is not enforced yet")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains(":5: warning: unknown key NoSuchThing= in section [Socket]")),
        "{msgs:?}"
    );
}

/// The text of Debian bookworm's /lib/systemd/system/ssh.socket (openssh-server
/// 1:9.2p1-2), comments left out.
const DEBIAN_SSH_SOCKET: &str = "[Unit]
Description=OpenBSD Secure Shell server socket
Before=sockets.target
ConditionPathExists=!/etc/ssh/sshd_not_to_be_run

[Socket]
ListenStream=22
Accept=no

[Install]
WantedBy=sockets.target
";

/// Debian bookworm's systemd-journald-dev-log.socket (systemd 252), comments left out.
const DEBIAN_JOURNALD_DEV_LOG_SOCKET: &str = "[Unit]
Description=Journal Socket (/dev/log)
Documentation=man:systemd-journald.service(8) man:journald.conf(5)
DefaultDependencies=no
Before=sockets.target
IgnoreOnIsolate=yes

[Socket]
ListenDatagram=/run/systemd/journal/dev-log
PassCredentials=yes
PassSecurity=yes
Service=systemd-journald.service
SocketMode=0666
Symlinks=/dev/log
Timestamping=us
ReceiveBuffer=8M
SendBuffer=8M
";

/// `ListenNetlink=FAMILY [GROUP]` (udevd's `kobject-uevent 1`, journald's
/// `audit 1`): found booting Debian 12, where those two sockets failed at
/// every boot for want of it.
#[test]
fn listen_netlink_names_a_family_and_a_group() {
    let p = parse(
        "udev-kernel.socket",
        "[Socket]\nListenNetlink=kobject-uevent 1\nListenNetlink=route\nListenNetlink=12 3\n",
    );
    let u = p.unit.expect("loads");
    assert!(u.not_enforced.is_empty(), "{:?}", u.not_enforced);
    let listen = &u.socket.as_ref().unwrap().listen;
    let got: Vec<(ListenKind, String)> = listen
        .iter()
        .map(|l| (l.kind, l.address.to_string()))
        .collect();
    assert_eq!(
        got,
        [
            (ListenKind::Netlink, "kobject-uevent 1".to_string()),
            (ListenKind::Netlink, "route 0".to_string()),
            (ListenKind::Netlink, "12 3".to_string()),
        ]
    );
    assert_eq!(
        listen[0].address,
        ListenAddress::Netlink {
            family: "kobject-uevent".into(),
            protocol: 15,
            group: 1
        }
    );
    for (bad, says) in [
        ("nosuch 1", "is not a netlink family"),
        ("audit x", "group \"x\" is not a number"),
        ("audit 1 2", "expected FAMILY [GROUP]"),
    ] {
        let p = parse("x.socket", &format!("[Socket]\nListenNetlink={bad}\n"));
        let msgs: Vec<String> = p.diagnostics.iter().map(ToString::to_string).collect();
        assert!(msgs.iter().any(|m| m.contains(says)), "{bad}: {msgs:?}");
    }
    // Nothing to accept on a netlink socket.
    let p = parse("x.socket", "[Socket]\nListenNetlink=route\nAccept=yes\n");
    let msgs: Vec<String> = p.diagnostics.iter().map(ToString::to_string).collect();
    assert!(
        msgs.iter().any(|m| m.contains("Accept=yes needs")),
        "{msgs:?}"
    );
}

/// `Symlinks=` (journald's `/dev/log`): absolute paths, one list; empty resets.
#[test]
fn symlinks_are_absolute_paths() {
    let p = parse(
        "log.socket",
        "[Socket]\nListenDatagram=/run/log.sock\nSymlinks=/dev/log /run/x/log\nSymlinks=/dev/log\n",
    );
    let u = p.unit.expect("loads");
    let s = u.socket.as_ref().unwrap();
    assert_eq!(
        s.symlinks,
        [PathBuf::from("/dev/log"), PathBuf::from("/run/x/log")]
    );
    assert!(u.not_enforced.is_empty(), "{:?}", u.not_enforced);
    let p = parse(
        "log.socket",
        "[Socket]\nListenDatagram=/run/l\nSymlinks=/a\nSymlinks=\n",
    );
    let u = p.unit.expect("loads");
    assert!(u.socket.as_ref().unwrap().symlinks.is_empty());
    let p = parse(
        "log.socket",
        "[Socket]\nListenDatagram=/run/l\nSymlinks=rel ../x\n",
    );
    let msgs: Vec<String> = p.diagnostics.iter().map(ToString::to_string).collect();
    assert!(
        msgs.iter()
            .any(|m| m.contains(":3:") && m.contains("\"rel\" is not an absolute path")),
        "{msgs:?}"
    );
}

#[test]
fn debian_socket_units_load() {
    let p = parse("ssh.socket", DEBIAN_SSH_SOCKET);
    assert!(
        !p.diagnostics.iter().any(|d| d.is_error()),
        "{:?}",
        p.diagnostics
    );
    let u = p.unit.unwrap();
    assert_eq!(
        u.socket.as_ref().unwrap().listen[0].address,
        ListenAddress::Port(22)
    );
    assert_eq!(u.socket.as_ref().unwrap().service, "ssh.service");
    assert_eq!(u.install.wanted_by, ["sockets.target"]);
    assert_eq!(u.conditions.len(), 1);

    let p = parse(
        "systemd-journald-dev-log.socket",
        DEBIAN_JOURNALD_DEV_LOG_SOCKET,
    );
    assert!(
        !p.diagnostics.iter().any(|d| d.is_error()),
        "{:?}",
        p.diagnostics
    );
    let u = p.unit.unwrap();
    let s = u.socket.as_ref().unwrap();
    assert_eq!(s.service, "systemd-journald.service");
    assert_eq!(s.listen[0].kind, ListenKind::Datagram);
    assert!(s.pass_credentials);
}

#[test]
fn installed_socket_units_of_this_machine_load() {
    // Whatever .socket files this machine has (none is fine): none may give an error.
    let Ok(dir) = std::fs::read_dir("/lib/systemd/system") else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".socket") || name.contains("@.") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        let p = parse_str(&name, &e.path(), &text, &ctx());
        let errors: Vec<_> = p.diagnostics.iter().filter(|d| d.is_error()).collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
}

/// Tester's finding: `TriggerLimitIntervalSec=`/`TriggerLimitBurst=` were
/// only warned "not enforced" while a fixed 20 in 2 s applied. They are read
/// now, with systemd's defaults (2 s; 200 with Accept=yes, else 20).
#[test]
fn trigger_limit_is_read_with_systemds_defaults() {
    use crate::model::TriggerLimit;
    use std::time::Duration;
    let limit = |text: &str| {
        let u = ok(text);
        assert!(u.not_enforced.is_empty(), "{:?}", u.not_enforced);
        u.socket.as_ref().unwrap().trigger_limit
    };
    let secs = |interval, burst| TriggerLimit {
        interval: Duration::from_secs(interval),
        burst,
    };
    assert_eq!(limit("[Socket]\nListenStream=22\n"), secs(2, 20));
    assert_eq!(
        limit("[Socket]\nListenStream=22\nAccept=yes\n"),
        secs(2, 200)
    );
    // Accept= after the limit still picks the default.
    assert_eq!(
        limit("[Socket]\nTriggerLimitIntervalSec=5\nListenStream=22\nAccept=yes\n"),
        secs(5, 200)
    );
    let set =
        limit("[Socket]\nListenStream=22\nTriggerLimitIntervalSec=500ms\nTriggerLimitBurst=3\n");
    assert_eq!(set.interval, Duration::from_millis(500));
    assert_eq!(set.burst, 3);
    let off = limit("[Socket]\nListenStream=22\nTriggerLimitIntervalSec=0\n");
    assert!(off.is_disabled());
    assert!(limit("[Socket]\nListenStream=22\nTriggerLimitBurst=0\n").is_disabled());
    assert!(!limit("[Socket]\nListenStream=22\n").is_disabled());
    // systemd's "unset" values leave the defaults.
    assert_eq!(
        limit(
            "[Socket]\nListenStream=22\nTriggerLimitIntervalSec=infinity\nTriggerLimitBurst=4294967295\n"
        ),
        secs(2, 20)
    );
    let e = errs("[Socket]\nListenStream=22\nTriggerLimitIntervalSec=soon\nTriggerLimitBurst=-1\n");
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("/etc/vigil/web.socket:3: error: TriggerLimitIntervalSec=soon: "),
        "{e:?}"
    );
    assert_eq!(
        e[1],
        "/etc/vigil/web.socket:4: error: TriggerLimitBurst=-1: expected a non-negative number"
    );
    assert!(
        errs("[Socket]\nListenStream=22\nTriggerLimitBurst=\n")[0]
            .contains(":3: error: TriggerLimitBurst=: ")
    );
}

/// Tester's finding: an empty `FileDescriptorName=` was a load error; in
/// systemd it resets the name to the default, the unit's name.
#[test]
fn an_empty_file_descriptor_name_resets_it_to_the_units_name() {
    let u = ok("[Socket]\nListenStream=22\nFileDescriptorName=http\nFileDescriptorName=\n");
    assert_eq!(u.socket.as_ref().unwrap().fd_name, "web.socket");
    let u = ok("[Socket]\nFileDescriptorName=\nListenStream=22\n");
    assert_eq!(u.socket.as_ref().unwrap().fd_name, "web.socket");
    let u = ok("[Socket]\nListenStream=22\nFileDescriptorName=\nFileDescriptorName=http\n");
    assert_eq!(u.socket.as_ref().unwrap().fd_name, "http");
}
