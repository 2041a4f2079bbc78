//! Socket activation with real sockets: `.socket` units that the manager binds,
//! watches and passes to a python3 service as fds 3, 4, ... with LISTEN_FDS,
//! LISTEN_PID and LISTEN_FDNAMES; the service starts only at the first
//! connection, the socket is watched again when it is down, and stopping the
//! socket unit closes it.

mod harness;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::{Manager, TempDir, python, wait_until};

/// The service: checks its socket-activation environment, counts its starts
/// in `starts`, accepts one connection on fd 3, reads the request (a close with
/// unread data would reset the connection) and answers with what it saw.
const SERVICE_PY: &str = r#"
import os, socket, stat, sys
starts = sys.argv[1]
with open(starts, "a") as f:
    f.write("start\n")
n = int(os.environ["LISTEN_FDS"])
pid_ok = os.environ["LISTEN_PID"] == str(os.getpid())
names = os.environ["LISTEN_FDNAMES"]
kinds = []
for fd in range(3, 3 + n):
    kinds.append("sock" if stat.S_ISSOCK(os.fstat(fd).st_mode) else "other")
# Nothing beyond the passed fds is open.
try:
    os.fstat(3 + n)
    extra = "extra-fd-open"
except OSError:
    extra = "no-extra-fd"
# Blocking, as systemd passes them without NonBlocking=yes.
mode = "blocking" if all(os.get_blocking(fd) for fd in range(3, 3 + n)) else "nonblocking"
s = socket.socket(fileno=3)
s.setblocking(True)
c, _ = s.accept()
c.recv(100)
c.sendall(("fds=%d pid_ok=%s names=%s kinds=%s %s %s\n" % (n, pid_ok, names, ",".join(kinds), extra, mode)).encode())
c.close()
"#;

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// SERVICE_PY written into `d`, and a `[Service]` section that runs it and
/// counts its starts in the returned file.
fn echo_service(d: &TempDir) -> (PathBuf, String) {
    let script = d.path().join("service.py");
    std::fs::write(&script, SERVICE_PY).unwrap();
    let count = d.path().join("starts");
    let unit = format!(
        "[Service]\nExecStart={} {} {}\n",
        python(),
        p(&script),
        p(&count)
    );
    (count, unit)
}

fn read_reply(mut stream: impl Read) -> String {
    let mut out = String::new();
    stream.read_to_string(&mut out).expect("read the reply");
    out
}

fn unix_request(path: &Path) -> String {
    let mut s = UnixStream::connect(path).expect("connect to the unix socket");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"hello\n").unwrap();
    read_reply(s)
}

fn starts(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
/// A TCP port free now, for a unit to listen on later: below the kernel's
/// range of ephemeral ports (32768-60999 by default), which the tests' own
/// connections take their source ports from (one took a port bind(0) had
/// handed out, before vigild bound it), and never the same twice in a run.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(
        0,
        20000 + (std::process::id() % 8000) as u16,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    loop {
        let port = NEXT.fetch_add(1, Ordering::SeqCst);
        assert!(port < 32000, "no free port below 32000");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

#[test]
fn a_unix_socket_starts_its_service_at_the_first_connection_only() {
    let d = TempDir::new("sock-unix");
    let (count, service_unit) = echo_service(&d);
    // The parent directory does not exist yet: the manager creates it.
    let sock = d.path().join("run/sub/echo.sock");
    let socket_unit = format!(
        "[Unit]\nDescription=echo socket\n[Socket]\nListenStream={}\nSocketMode=0600\n\
         DirectoryMode=0750\nRemoveOnStop=yes\n",
        p(&sock)
    );
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=sockets.target\n"),
        ("sockets.target", "[Unit]\nWants=echo.socket\n"),
        ("echo.socket", &socket_unit),
        ("echo.service", &service_unit),
    ]);
    m.wait_state("echo.socket", "running");
    assert!(sock.exists(), "the socket file is bound at start");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600, "SocketMode=");
    let dir_mode = std::fs::metadata(sock.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(dir_mode, 0o750, "DirectoryMode=");
    assert_eq!(m.state("echo.service"), "inactive");
    assert_eq!(starts(&count), 0, "not started before the first connection");

    let reply = unix_request(&sock);
    assert_eq!(
        reply,
        "fds=1 pid_ok=True names=echo.socket kinds=sock no-extra-fd blocking\n"
    );
    assert_eq!(starts(&count), 1);
    // The service ends after one connection; the socket is watched again and
    // the next connection starts it again.
    m.wait_log_count("echo.service", "-> inactive", 1);
    let reply = unix_request(&sock);
    assert!(reply.starts_with("fds=1 pid_ok=True"), "{reply}");
    assert_eq!(starts(&count), 2);
    m.wait_log_count("echo.service", "-> inactive", 2);

    // Stopping the socket unit closes the socket and (RemoveOnStop=yes) removes it.
    m.vigil_ok(&["stop", "echo.socket"]);
    m.wait_state("echo.socket", "inactive");
    wait_until("the socket file is removed", || !sock.exists());
    assert!(UnixStream::connect(&sock).is_err());
    assert_eq!(starts(&count), 2);
}

/// Found booting Debian 12: journald forwards to syslog.socket, whose rsyslog
/// never reads it; once rsyslog stopped at the poweroff, the socket was
/// readable and vigild started rsyslog again, which the shutdown refused, and
/// the socket failed outside its stop: with a unit ordered before it, the
/// shutdown never ended. Traffic during a shutdown starts nothing now.
#[test]
fn traffic_during_a_shutdown_starts_nothing() {
    let d = TempDir::new("sock-shutdown");
    let sock = d.path().join("log.sock");
    let go_on = d.path().join("go-on");
    let slow = format!(
        "[Unit]\nAfter=log.socket\n[Service]\n\
         ExecStart=/bin/sh -c 'trap \"until [ -e {} ]; do sleep 0.05; done; exit 0\" TERM; \
         while :; do sleep 0.1; done'\n",
        p(&go_on)
    );
    let mut m = Manager::start(&[
        (
            "default.target",
            "[Unit]\nWants=log.socket log.service early.service slow.service\n",
        ),
        // Keeps the socket's stop waiting, after log.service is down, until
        // the test has seen what it is for.
        ("slow.service", &slow),
        (
            "log.socket",
            &format!("[Socket]\nListenDatagram={}\n", p(&sock)),
        ),
        // Holds the socket without ever reading it, as rsyslog does.
        (
            "log.service",
            "[Unit]\nRequires=log.socket\n[Service]\nExecStart=/bin/sleep 1000\n",
        ),
        (
            "early.service",
            "[Unit]\nBefore=log.socket\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
        ),
    ]);
    m.wait_state("log.service", "running");
    m.wait_state("early.service", "exited");
    m.wait_state("slow.service", "running");
    let client = std::os::unix::net::UnixDatagram::unbound().unwrap();
    client.send_to(b"unread", &sock).unwrap();
    let mut client = m.vigil_in_background(&["shutdown"]);
    m.expect_stderr("incoming traffic during the shutdown: log.service is not started");
    std::fs::write(&go_on, "").unwrap();
    let status = m.wait_exit();
    let _ = client.wait();
    let said = m.drain_stderr().join("\n");
    assert!(status.success(), "{status:?}: {said}");
    assert!(
        !said.contains("incoming traffic: starting log.service"),
        "{said}"
    );
}

/// `ListenNetlink=` (udevd's kernel socket, journald's audit socket: both
/// failed at every boot of Debian 12 under vigil): a raw netlink socket of the
/// family, bound to the group, passed to the service like any other.
#[test]
fn a_netlink_socket_is_passed_to_its_service() {
    let d = TempDir::new("sock-netlink");
    let out = d.path().join("seen");
    let script = d.path().join("nl.py");
    std::fs::write(
        &script,
        format!(
            "import os, socket\n\
             s = socket.socket(fileno=3)\n\
             open({:?}, 'w').write('%s %d %d %s\\n' % (os.environ['LISTEN_FDS'], s.family, s.proto, s.getsockname()))\n",
            p(&out)
        ),
    )
    .unwrap();
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=nl.socket\n"),
        ("nl.socket", "[Socket]\nListenNetlink=kobject-uevent 1\n"),
        (
            "nl.service",
            &format!(
                "[Service]\nType=oneshot\nExecStart={} {}\n",
                python(),
                p(&script)
            ),
        ),
    ]);
    m.wait_state("nl.socket", "running");
    m.wait_log("nl.socket", "listening on kobject-uevent 1");
    m.vigil_ok(&["start", "nl.service"]);
    // AF_NETLINK is 16, NETLINK_KOBJECT_UEVENT 15; bound to group 1.
    let seen = std::fs::read_to_string(&out).unwrap();
    assert!(seen.starts_with("1 16 15 ("), "{seen}");
    assert!(seen.trim_end().ends_with(", 1)"), "{seen}");
}

/// `Symlinks=` (journald's `/dev/log` -> `/run/systemd/journal/dev-log`,
/// found missing booting Debian 12: syslog() then reached nobody): the links
/// are made once the socket listens, their directories too, and go at the
/// stop with RemoveOnStop=yes; a path taken by a file is said, not forced.
#[test]
fn symlinks_lead_to_the_socket_while_it_listens() {
    let d = TempDir::new("sock-links");
    let (_count, service_unit) = echo_service(&d);
    let sock = d.path().join("run/dev-log");
    let (link, deep, taken) = (
        d.path().join("log"),
        d.path().join("a/b/log"),
        d.path().join("taken"),
    );
    std::fs::write(&taken, "a file").unwrap();
    let socket_unit = format!(
        "[Socket]\nListenStream={}\nSymlinks={} {} {}\nRemoveOnStop=yes\n",
        p(&sock),
        p(&link),
        p(&deep),
        p(&taken)
    );
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=echo.socket\n"),
        ("echo.socket", &socket_unit),
        ("echo.service", &service_unit),
    ]);
    m.wait_state("echo.socket", "running");
    for l in [&link, &deep] {
        assert_eq!(std::fs::read_link(l).unwrap(), sock, "{}", l.display());
    }
    // Through the link, as syslog() reaches /dev/log.
    assert!(unix_request(&link).starts_with("fds=1 pid_ok=True"));
    m.wait_log(
        "echo.socket",
        &format!(
            "cannot make the link {} -> {}: File exists",
            p(&taken),
            p(&sock)
        ),
    );
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "a file");
    m.vigil_ok(&["stop", "echo.socket"]);
    m.wait_state("echo.socket", "inactive");
    wait_until("the links are removed", || {
        std::fs::symlink_metadata(&link).is_err() && std::fs::symlink_metadata(&deep).is_err()
    });
    // Not a file that was there: it was never a link of this socket.
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "a file");
}

/// DirectoryMode= is the mode of the directories made, whatever vigild's
/// umask (077 here, which used to make 0775 into 0700); SocketMode= too.
/// A directory that was there is left as it is.
#[test]
fn directory_mode_is_exact_under_a_narrow_umask() {
    use std::os::unix::fs::PermissionsExt;
    let d = TempDir::new("sock-dirmode");
    let top = d.path().join("run");
    std::fs::create_dir(&top).unwrap();
    std::fs::set_permissions(&top, std::fs::Permissions::from_mode(0o710)).unwrap();
    let sock = top.join("a/b/echo.sock");
    let m = Manager::start_wrapped(
        &[
            ("default.target", "[Unit]\nWants=echo.socket\n"),
            (
                "echo.socket",
                &format!(
                    "[Socket]\nListenStream={}\nDirectoryMode=2775\nSocketMode=0664\n",
                    p(&sock)
                ),
            ),
            ("echo.service", "[Service]\nExecStart=/bin/true\n"),
        ],
        &["sh", "-c", "umask 077 && exec \"$@\"", "sh"],
    );
    m.wait_state("echo.socket", "running");
    let mode = |path: &Path| {
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        format!("{:o}", mode & 0o7777)
    };
    assert_eq!(mode(&top.join("a")), "2775", "DirectoryMode= of a");
    assert_eq!(mode(&top.join("a/b")), "2775", "DirectoryMode= of a/b");
    assert_eq!(mode(&top), "710", "an existing directory is left alone");
    assert_eq!(mode(&sock), "664", "SocketMode=");
}

#[test]
fn a_tcp_port_and_a_unix_socket_in_one_unit_pass_two_fds() {
    let d = TempDir::new("sock-tcp");
    let (count, service_unit) = echo_service(&d);
    let port = free_port();
    let sock = d.path().join("web.sock");
    let socket_unit = format!(
        "[Socket]\nListenStream=127.0.0.1:{port}\nListenStream={}\nFileDescriptorName=web\n\
         Service=api.service\nBacklog=8\nReusePort=yes\n",
        p(&sock)
    );
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=web.socket\n"),
        ("web.socket", &socket_unit),
        ("api.service", &service_unit),
    ]);
    m.wait_state("web.socket", "running");
    assert_eq!(starts(&count), 0, "not started before the first connection");
    assert_eq!(m.state("api.service"), "inactive");

    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect to the TCP port");
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(b"hi\n").unwrap();
    let reply = read_reply(c);
    assert_eq!(
        reply,
        "fds=2 pid_ok=True names=web:web kinds=sock,sock no-extra-fd blocking\n"
    );
    assert_eq!(starts(&count), 1);
    m.wait_log("web.socket", "incoming traffic: starting api.service");
    // The service's own copies are gone with it.
    m.wait_log_count("api.service", "-> inactive", 1);

    m.vigil_ok(&["stop", "web.socket"]);
    m.wait_state("web.socket", "inactive");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    // Without RemoveOnStop= the file stays, but nobody listens on it.
    assert!(sock.exists());
    assert!(UnixStream::connect(&sock).is_err());
}

#[test]
fn a_service_started_directly_gets_the_listening_sockets() {
    let d = TempDir::new("sock-direct");
    let (count, service_unit) = echo_service(&d);
    let sock = d.path().join("db.sock");
    let m = Manager::start(&[
        ("default.target", "[Unit]\n"),
        (
            "db-admin.socket",
            &format!(
                "[Socket]\nListenStream={}\nService=other.service\n",
                p(&sock)
            ),
        ),
        (
            "db.service",
            &format!("{service_unit}Sockets=db-admin.socket\nNonBlocking=yes\n"),
        ),
    ]);
    // Starting the service pulls in its Sockets= (Wants= and After=).
    m.vigil_ok(&["start", "db.service"]);
    m.wait_state("db-admin.socket", "running");
    wait_until("the service started", || starts(&count) == 1);
    let reply = unix_request(&sock);
    assert_eq!(
        reply,
        "fds=1 pid_ok=True names=db-admin.socket kinds=sock no-extra-fd nonblocking\n"
    );
}

/// Tester's finding: a port out of range after an address gave the generic
/// "is not an absolute path, @abstract name, port, ..." where a bare port
/// said what is wrong. Both forms of address say it now, with file:line.
#[test]
fn a_port_out_of_range_after_an_address_is_named_as_such() {
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=v4.socket v6.socket\n"),
        ("v4.socket", "[Socket]\nListenStream=127.0.0.1:70000\n"),
        ("v4.service", "[Service]\nExecStart=/bin/true\n"),
        (
            "v6.socket",
            "[Unit]\nDescription=v6\n[Socket]\nListenStream=[::1]:99999\n",
        ),
        ("v6.service", "[Service]\nExecStart=/bin/true\n"),
    ]);
    for (unit, line, v, port) in [
        ("v4.socket", 2, "127.0.0.1:70000", "70000"),
        ("v6.socket", 4, "[::1]:99999", "99999"),
    ] {
        m.wait_state(unit, "failed");
        let st = m.status_json(unit);
        let reason = st["reason"].as_str().unwrap_or_default();
        let said = format!(
            "{unit}:{line}: ListenStream={v}: port {port} in \"{v}\" is out of range (1-65535)"
        );
        assert!(reason.contains(&said), "{said}\n{st}");
    }
}

/// Tester's finding: an empty `FileDescriptorName=` was a load error, so a
/// drop-in could not undo the unit file's name; in systemd it resets the
/// name to the default, the unit's name.
#[test]
fn a_drop_in_resets_file_descriptor_name_with_an_empty_value() {
    let d = TempDir::new("sock-fdname-reset");
    let (count, service_unit) = echo_service(&d);
    let sock = d.path().join("named.sock");
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=named.socket\n"),
        (
            "named.socket",
            &format!(
                "[Socket]\nListenStream={}\nFileDescriptorName=http\n",
                p(&sock)
            ),
        ),
        (
            "named.socket.d/reset.conf",
            "[Socket]\nFileDescriptorName=\n",
        ),
        ("named.service", &service_unit),
    ]);
    m.wait_state("named.socket", "running");
    let reply = unix_request(&sock);
    assert!(
        reply.starts_with("fds=1 pid_ok=True names=named.socket kinds=sock "),
        "{reply}"
    );
    assert_eq!(starts(&count), 1);
}

#[test]
fn a_socket_that_cannot_bind_fails_with_the_reason() {
    let d = TempDir::new("sock-fail");
    let blocker = d.path().join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let made = d.path().join("made.sock");
    let m = Manager::start(&[
        ("default.target", "[Unit]\n"),
        (
            "bad.socket",
            &format!(
                "[Socket]\nListenStream={}\nListenStream={}/x.sock\nRemoveOnStop=yes\n",
                p(&made),
                p(&blocker)
            ),
        ),
        ("bad.service", "[Service]\nExecStart=/bin/true\n"),
    ]);
    // The start fails: its outcome is the unit's state, checked below.
    let _ = m.vigil(&["start", "bad.socket"]);
    m.wait_state("bad.socket", "failed");
    let st = m.status_json("bad.socket");
    // The reason itself, not the log lines `status` carries too.
    let reason = st["reason"].to_string();
    assert!(
        reason.contains("ListenStream=") && reason.contains("x.sock"),
        "{reason}"
    );
    assert_eq!(m.state("bad.service"), "inactive");
    // The first socket was made, then closed and, RemoveOnStop=yes, removed.
    assert!(!made.exists(), "{} left behind", made.display());
}

/// The usual pair for one port on both families, each its own socket:
/// `BindIPv6Only=ipv6-only` leaves the port's IPv4 side to the second line.
#[test]
fn ipv6_only_lets_an_ipv4_socket_share_the_port() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "no IPv6 loopback, with CI=true"
        );
        println!("skipped: no IPv6 loopback here");
        return;
    }
    let d = TempDir::new("sock-v6only");
    let (count, service_unit) = echo_service(&d);
    let port = free_port();
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=web.socket\n"),
        (
            "web.socket",
            &format!(
                "[Socket]\nListenStream=[::]:{port}\nListenStream=0.0.0.0:{port}\nBindIPv6Only=ipv6-only\n"
            ),
        ),
        ("web.service", &service_unit),
    ]);
    m.wait_state("web.socket", "running");
    let mut c = TcpStream::connect(("::1", port)).expect("connect over IPv6");
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(b"hi\n").unwrap();
    assert!(read_reply(c).starts_with("fds=2 "));
    assert_eq!(starts(&count), 1);
}

/// A service that serves every socket it is passed, for as long as it runs:
/// each connection gets one line naming the process that answered.
const SERVE_PY: &str = r#"
import os, selectors, socket
sel = selectors.DefaultSelector()
for fd in range(3, 3 + int(os.environ["LISTEN_FDS"])):
    s = socket.socket(fileno=fd)
    s.setblocking(True)
    sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        c, _ = key.fileobj.accept()
        c.recv(100)
        c.sendall(b"served by %d\n" % os.getpid())
        c.close()
"#;

/// SERVE_PY written into `d`, and a `[Service]` section that runs it.
fn serving_service(d: &TempDir) -> String {
    let script = d.path().join("serve.py");
    std::fs::write(&script, SERVE_PY).unwrap();
    format!("[Service]\nExecStart={} {}\n", python(), p(&script))
}

fn tcp_client(port: u16) -> Box<dyn Client> {
    let c = TcpStream::connect(("127.0.0.1", port)).expect("connect to the TCP port");
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    Box::new(c)
}

/// What `vigil` said, out and err together.
fn said(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Tester's finding: a socket unit that could not bind was `running` from the
/// moment its sockets were asked for, and a unit with `Requires=` and `After=`
/// on it started in that same millisecond; `vigil start` said 0. The socket
/// is `running` only once its sockets exist: the dependent's start fails
/// with "dependency failed", as systemd fails the dependent job. The bind
/// failure is said once, not three times.
#[test]
fn a_unit_requiring_a_socket_that_cannot_bind_does_not_start() {
    let port = free_port();
    // Another listener has the port.
    let _holder = std::net::TcpListener::bind(("127.0.0.1", port)).expect("take the port");
    let m = Manager::start(&[
        ("default.target", "[Unit]\n"),
        (
            "bad.socket",
            &format!("[Socket]\nListenStream=127.0.0.1:{port}\nService=dep.service\n"),
        ),
        ("dep.service", "[Service]\nExecStart=/bin/sleep 1000\n"),
        (
            "dep2.service",
            "[Unit]\nRequires=bad.socket\nAfter=bad.socket\n[Service]\nExecStart=/bin/sleep 1000\n",
        ),
    ]);
    let out = m.vigil(&["start", "dep2"]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(
        said(&out).contains("dependency failed: bad.socket"),
        "{}",
        said(&out)
    );
    let dep2 = m.status_json("dep2.service");
    assert_eq!(dep2["state"], "inactive", "{dep2}");
    assert_eq!(dep2["pid"], serde_json::Value::Null, "{dep2}");
    let bad = m.status_json("bad.socket");
    assert_eq!(bad["state"], "failed", "{bad}");
    let reason = bad["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&format!(
            "ListenStream=127.0.0.1:{port}: bind: Address already in use"
        )),
        "{bad}"
    );
    let log = m.vigil_ok(&["log", "bad.socket", "-n", "100"]);
    assert!(!log.contains("-> running"), "{log}");
    let told: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Address already in use"))
        .collect();
    assert_eq!(told.len(), 1, "{log}");
    assert!(
        told[0].contains("-> failed (socket: ListenStream="),
        "{log}"
    );
    let dep2_log = m.vigil_ok(&["log", "dep2.service", "-n", "100"]);
    assert!(!dep2_log.contains("-> starting"), "{dep2_log}");
}

/// Tester's finding: `vigil restart echo.socket` while echo.service ran
/// unlinked and bound echo.sock again, then failed on the TCP port the
/// service holds and closed it: the service's unix socket was unreachable.
/// As systemd ("Socket service X already active, refusing"), the start is
/// refused before anything is made or unlinked, with the reason; the
/// service keeps serving both sockets.
#[test]
fn restarting_a_socket_while_its_service_runs_is_refused() {
    let d = TempDir::new("sock-refuse");
    let port = free_port();
    let sock = d.path().join("echo.sock");
    let m = Manager::start(&[
        ("default.target", "[Unit]\n"),
        (
            "echo.socket",
            &format!(
                "[Socket]\nListenStream={}\nListenStream=127.0.0.1:{port}\n",
                p(&sock)
            ),
        ),
        ("echo.service", &serving_service(&d)),
    ]);
    m.vigil_ok(&["start", "echo.socket"]);
    let first = ask(unix_client(&sock), "one");
    assert!(first.starts_with("served by "), "{first}");
    m.wait_state("echo.service", "running");

    let out = m.vigil(&["restart", "echo.socket"]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    let refused = "service echo.service already active, refusing";
    assert!(said(&out).contains(refused), "{}", said(&out));
    let st = m.status_json("echo.socket");
    assert_eq!(st["state"], "inactive", "{st}");
    assert!(
        st["reason"].as_str().unwrap_or_default().contains(refused),
        "{st}"
    );
    // A start is refused too, and so it stays.
    let out = m.vigil(&["start", "echo.socket"]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(said(&out).contains(refused), "{}", said(&out));

    assert_eq!(m.state("echo.service"), "running");
    assert_eq!(ask(unix_client(&sock), "two"), first);
    assert_eq!(ask(tcp_client(port), "three"), first);
}

/// The same with a unix socket alone: `vigil restart u2.socket` "succeeded",
/// and new clients' connections sat in the manager's new socket, which no
/// one served. Refused now; once the service is down the socket starts,
/// and a connection starts the service again on it.
#[test]
fn restarting_a_unix_socket_while_its_service_runs_is_refused() {
    let d = TempDir::new("sock-refuse-unix");
    let sock = d.path().join("u2.sock");
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=u2.socket\n"),
        (
            "u2.socket",
            &format!("[Socket]\nListenStream={}\n", p(&sock)),
        ),
        ("u2.service", &serving_service(&d)),
    ]);
    m.wait_state("u2.socket", "running");
    let first = ask(unix_client(&sock), "one");
    assert!(first.starts_with("served by "), "{first}");
    m.wait_state("u2.service", "running");

    let out = m.vigil(&["restart", "u2.socket"]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(
        said(&out).contains("service u2.service already active, refusing"),
        "{}",
        said(&out)
    );
    assert_eq!(ask(unix_client(&sock), "two"), first);

    m.vigil_ok(&["stop", "u2.service"]);
    m.vigil_ok(&["start", "u2.socket"]);
    let again = ask(unix_client(&sock), "three");
    assert!(again.starts_with("served by ") && again != first, "{again}");
}

/// A service that names the socket in `Sockets=` holds its sockets too: the
/// socket unit's start is refused while it runs, naming it.
#[test]
fn a_socket_is_refused_while_a_service_naming_it_in_sockets_runs() {
    let d = TempDir::new("sock-refuse-sockets");
    let sock = d.path().join("db.sock");
    let m = Manager::start(&[
        ("default.target", "[Unit]\n"),
        (
            "db.socket",
            &format!(
                "[Socket]\nListenStream={}\nService=other.service\n",
                p(&sock)
            ),
        ),
        ("other.service", "[Service]\nExecStart=/bin/sleep 1000\n"),
        (
            "db.service",
            &format!("{}Sockets=db.socket\n", serving_service(&d)),
        ),
    ]);
    m.vigil_ok(&["start", "db.service"]);
    m.wait_state("db.socket", "running");
    let first = ask(unix_client(&sock), "one");
    assert!(first.starts_with("served by "), "{first}");

    let out = m.vigil(&["restart", "db.socket"]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(
        said(&out).contains("service db.service already active, refusing"),
        "{}",
        said(&out)
    );
    assert_eq!(ask(unix_client(&sock), "two"), first);
    assert_eq!(m.state("other.service"), "inactive");
}

#[test]
fn socket_user_and_group_may_be_numbers_no_database_has() {
    // As for User=: a number is taken as it is; a uid without an entry in
    // /etc/passwd gets its own number as gid unless SocketGroup= says otherwise.
    if !harness::require_root("socket_user_and_group_may_be_numbers_no_database_has") {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let d = TempDir::new("sock-owner");
    let (one, two) = (d.path().join("one.sock"), d.path().join("two.fifo"));
    let m = Manager::start(&[
        ("default.target", "[Unit]\n"),
        (
            "one.socket",
            &format!("[Socket]\nListenStream={}\nSocketUser=4242\n", p(&one)),
        ),
        ("one.service", "[Service]\nExecStart=/bin/true\n"),
        (
            "two.socket",
            &format!(
                "[Socket]\nListenFIFO={}\nSocketUser=4242\nSocketGroup=4343\n",
                p(&two)
            ),
        ),
        ("two.service", "[Service]\nExecStart=/bin/true\n"),
        (
            "bad.socket",
            &format!(
                "[Socket]\nListenStream={}/bad.sock\nSocketUser=no-such-user-here\n",
                p(d.path())
            ),
        ),
        ("bad.service", "[Service]\nExecStart=/bin/true\n"),
    ]);
    m.vigil_ok(&["start", "one.socket", "two.socket"]);
    m.wait_state("one.socket", "running");
    m.wait_state("two.socket", "running");
    let owner = |path: &Path| {
        let meta = std::fs::metadata(path).unwrap();
        (meta.uid(), meta.gid())
    };
    assert_eq!(owner(&one), (4242, 4242));
    assert_eq!(owner(&two), (4242, 4343));
    // A name that no database has is still refused, with the directive named.
    let _ = m.vigil(&["start", "bad.socket"]);
    m.wait_state("bad.socket", "failed");
    let reason = m.status_json("bad.socket")["reason"].to_string();
    assert!(
        reason.contains("SocketUser=no-such-user-here: no such user"),
        "{reason}"
    );
}

// ------------------------------------------------- Accept=yes: one instance per connection

/// The template: reads one line from the connection (stdin) and answers on
/// stdout, which follows stdin to the socket.
const ACCEPT_TEMPLATE: &str = "[Service]\nExecStart=/bin/sh -c 'read line; \
    echo \"got $$line from $$LISTEN_FDS $$LISTEN_FDNAMES on %i at $${REMOTE_ADDR:-local}\"'\n\
    StandardInput=socket\n";

/// A connected client that has sent nothing yet.
trait Client: Read + Write {}
impl Client for UnixStream {}
impl Client for TcpStream {}

/// Sends one line and reads the answer until the instance closes.
fn ask(mut c: Box<dyn Client>, line: &str) -> String {
    c.write_all(format!("{line}\n").as_bytes()).unwrap();
    read_reply(c)
}

/// A client of the unix socket at `path`.
fn unix_client(path: &Path) -> Box<dyn Client> {
    let c = UnixStream::connect(path).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    Box::new(c)
}

/// Two clients at once get two instances, each its own answer; the instances
/// end with their connections and the next connection reuses instance 0.
fn accept_yes_serves(connect: &dyn Fn() -> Box<dyn Client>, m: &Manager, at: &str) {
    let a = connect();
    m.wait_state("echo@0.service", "running");
    let b = connect();
    m.wait_state("echo@1.service", "running");
    // B first: A's instance still waits for its line.
    assert_eq!(
        ask(b, "bee"),
        format!("got bee from 1 connection on 1 at {at}\n")
    );
    assert_eq!(
        ask(a, "ant"),
        format!("got ant from 1 connection on 0 at {at}\n")
    );
    m.wait_state("echo@0.service", "inactive");
    m.wait_state("echo@1.service", "inactive");
    assert_eq!(
        ask(connect(), "cat"),
        format!("got cat from 1 connection on 0 at {at}\n")
    );
    m.wait_log_count("echo@0.service", "-> inactive", 2);
    assert_eq!(m.state("echo@1.service"), "inactive");
    let listed = m.vigil_ok(&["list"]);
    assert!(!listed.contains("echo@2"), "{listed}");
}

#[test]
fn accept_yes_on_a_unix_socket_starts_one_instance_per_connection() {
    let d = TempDir::new("sock-accept");
    let sock = d.path().join("echo.sock");
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=echo.socket\n"),
        (
            "echo.socket",
            &format!("[Socket]\nListenStream={}\nAccept=yes\n", p(&sock)),
        ),
        ("echo@.service", ACCEPT_TEMPLATE),
    ]);
    m.wait_state("echo.socket", "running");
    accept_yes_serves(&|| unix_client(&sock), &m, "local");
}

#[test]
fn accept_yes_on_a_tcp_port_starts_one_instance_per_connection() {
    let port = free_port();
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=echo.socket\n"),
        (
            "echo.socket",
            &format!("[Socket]\nListenStream=127.0.0.1:{port}\nAccept=yes\n"),
        ),
        ("echo@.service", ACCEPT_TEMPLATE),
    ]);
    m.wait_state("echo.socket", "running");
    let connect = || -> Box<dyn Client> {
        let c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Box::new(c)
    };
    accept_yes_serves(&connect, &m, "127.0.0.1");
}

#[test]
fn accept_yes_refuses_a_connection_beyond_max_connections() {
    let d = TempDir::new("sock-accept-max");
    let sock = d.path().join("echo.sock");
    // The flood below is more than the trigger limit's 200 in 2 s, which
    // would fail the socket (as in systemd): off here, for the refusals.
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=echo.socket\n"),
        (
            "echo.socket",
            &format!(
                "[Socket]\nListenStream={}\nAccept=yes\nMaxConnections=1\nTriggerLimitBurst=0\n",
                p(&sock)
            ),
        ),
        ("echo@.service", ACCEPT_TEMPLATE),
    ]);
    m.wait_state("echo.socket", "running");
    let held = UnixStream::connect(&sock).expect("connect");
    held.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    m.wait_state("echo@0.service", "running");
    let second = UnixStream::connect(&sock).expect("connect");
    second
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // Closed by the manager: end of file, not a reply (nothing was sent, so
    // an instance would wait for a line and the read would time out).
    assert_eq!(read_reply(second), "");
    m.wait_log("echo.socket", "all 1 instances (MaxConnections=) are busy");
    // Review finding: each refusal was a line of the manager's log, and a
    // flood of connections pushed every unit's history out of its ring
    // (55,000 in 5 s left 824 lines, all this one). At most one a second.
    for _ in 0..200 {
        let c = UnixStream::connect(&sock).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        assert_eq!(read_reply(c), "");
    }
    let log = m.vigil_ok(&["log", "echo.socket", "-n", "1000"]);
    let said = log.lines().filter(|l| l.contains("are busy")).count();
    assert!(said < 20, "{said} refusals said of 201:\n{log}");
    assert_eq!(
        ask(Box::new(held), "ant"),
        "got ant from 1 connection on 0 at local\n"
    );
}

/// A service that names an `Accept=yes` socket in `Sockets=` does not get its
/// listening socket: passed, the open socket it shares with the manager would
/// have turned blocking (NonBlocking=no), and the manager's next accept waited
/// for a connection, deaf to everything else.
#[test]
fn an_accept_yes_socket_is_not_passed_to_a_service_that_names_it() {
    let d = TempDir::new("sock-accept-named");
    let sock = d.path().join("echo.sock");
    let seen = d.path().join("seen");
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=echo.socket\n"),
        (
            "echo.socket",
            &format!("[Socket]\nListenStream={}\nAccept=yes\n", p(&sock)),
        ),
        ("echo@.service", ACCEPT_TEMPLATE),
        (
            "h.service",
            &format!(
                "[Service]\nSockets=echo.socket\nExecStart=/bin/sh -c 'echo \"$${{LISTEN_FDS:-none}}\" > {}; exec sleep 100'\n",
                p(&seen)
            ),
        ),
    ]);
    m.wait_state("echo.socket", "running");
    m.vigil_ok(&["start", "h.service"]);
    m.wait_log(
        "h.service",
        "echo.socket has Accept=yes: its listening socket is not passed",
    );
    wait_until("h.service wrote what it got", || {
        std::fs::read_to_string(&seen).is_ok_and(|t| t.ends_with('\n'))
    });
    assert_eq!(std::fs::read_to_string(&seen).unwrap(), "none\n");
    accept_yes_serves(&|| unix_client(&sock), &m, "local");
}

/// The reviewer's case: serial connections all land on instance 0 (K is
/// reused), whose starts used to add up to StartLimitBurst= (5 in 10 s): the
/// 6th connection on was closed unserved, with 63 instances free. Each
/// connection's instance starts afresh, as systemd's new unit per connection.
#[test]
fn accept_yes_serves_more_connections_than_the_start_limit_burst() {
    let port = free_port();
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=hello.socket\n"),
        (
            "hello.socket",
            &format!("[Socket]\nListenStream=127.0.0.1:{port}\nAccept=yes\n"),
        ),
        (
            "hello@.service",
            "[Service]\nExecStart=/bin/echo hello %i\nStandardOutput=socket\n",
        ),
    ]);
    m.wait_state("hello.socket", "running");
    for n in 0..8 {
        let c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        // The instance before it was inactive before the reply ended (the
        // manager's copy of the connection closes then): K 0 again.
        assert_eq!(read_reply(c), "hello 0\n", "connection {n}");
    }
    assert_eq!(m.state("hello@0.service"), "inactive");
}

/// A failed instance stays failed, in sight, while another K is free; when
/// every K has failed, the one that failed first is reset and serves.
#[test]
fn accept_yes_leaves_a_failed_instance_alone_while_another_is_free() {
    let d = TempDir::new("sock-accept-failed");
    let sock = d.path().join("fail.sock");
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=fail.socket\n"),
        (
            "fail.socket",
            &format!(
                "[Socket]\nListenStream={}\nAccept=yes\nMaxConnections=2\n",
                p(&sock)
            ),
        ),
        (
            "fail@.service",
            "[Service]\nExecStart=/bin/sh -c 'echo failing on %i; exit 1'\n\
             StandardOutput=socket\n",
        ),
    ]);
    m.wait_state("fail.socket", "running");
    let reply = |_: ()| read_reply(unix_client(&sock));
    assert_eq!(reply(()), "failing on 0\n");
    m.wait_state("fail@0.service", "failed");
    assert_eq!(reply(()), "failing on 1\n");
    m.wait_state("fail@1.service", "failed");
    assert_eq!(m.state("fail@0.service"), "failed");
    // Both failed: 0 failed first, it serves the third.
    assert_eq!(reply(()), "failing on 0\n");
    m.wait_log_count("fail@0.service", "-> failed", 2);
    assert_eq!(reply(()), "failing on 1\n");
}

/// An instance with Restart= is not restarted on the connection it served:
/// the connection closes when the instance leaves its running states, as
/// systemd closes it at auto-restart (the client gets end of file after the
/// first run, not the output of every run until the start limit). Later
/// runs start as a service not started for a connection.
#[test]
fn an_accept_yes_instance_restarts_without_its_connection() {
    let d = TempDir::new("sock-accept-restart");
    let sock = d.path().join("again.sock");
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=again.socket\n"),
        (
            "again.socket",
            &format!("[Socket]\nListenStream={}\nAccept=yes\n", p(&sock)),
        ),
        (
            "again@.service",
            "[Service]\nExecStart=/bin/sh -c 'echo \"run $${LISTEN_FDS:-without}\"; exit 1'\n\
             StandardOutput=socket\nRestart=on-failure\nRestartSec=100ms\n",
        ),
    ]);
    m.wait_state("again.socket", "running");
    assert_eq!(read_reply(unix_client(&sock)), "run 1\n");
    // The next run writes to the log instead, with no descriptor.
    m.wait_log("again@0.service", "run without");
    m.wait_state("again@0.service", "failed");
}

// ------------------------------------------------- a manager that survives itself

fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).expect("the socket file").ino()
}

fn echo_units(d: &TempDir) -> (PathBuf, PathBuf, String, String) {
    let (count, service_unit) = echo_service(d);
    let sock = d.path().join("echo.sock");
    let socket_unit = format!("[Socket]\nListenStream={}\n", p(&sock));
    (sock, count, socket_unit, service_unit)
}

#[test]
fn reexec_keeps_the_listening_socket_itself() {
    let d = TempDir::new("sock-reexec");
    let (sock, count, socket_unit, service_unit) = echo_units(&d);
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=echo.socket\n"),
        ("echo.socket", &socket_unit),
        ("echo.service", &service_unit),
    ]);
    m.wait_state("echo.socket", "running");
    let before = inode(&sock);
    // A client that connects before the re-exec is answered after it: the
    // same socket (not a new one bound at the same path) is still listening.
    let mut early = UnixStream::connect(&sock).expect("connect before the re-exec");
    let said = m.vigil_ok(&["reexec"]);
    assert!(said.contains("running again"), "{said}");
    assert_eq!(inode(&sock), before, "the socket was not bound again");
    assert_eq!(m.state("echo.socket"), "running");
    early
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    early.write_all(b"hello\n").unwrap();
    let reply = read_reply(early);
    assert!(
        reply.starts_with("fds=1 pid_ok=True names=echo.socket "),
        "{reply}"
    );
    assert_eq!(starts(&count), 1);
    m.wait_log_count("echo.service", "-> inactive", 1);
    // Watched again by the new image.
    let reply = unix_request(&sock);
    assert!(reply.starts_with("fds=1 pid_ok=True"), "{reply}");
    assert_eq!(starts(&count), 2);
}

/// A socket unit whose `Listen*=` line changed before a re-exec listens on
/// the new address, not on the one the previous image handed over (the
/// number of lines is the same, which alone used to be checked).
#[test]
fn reexec_listens_again_where_the_unit_says_now() {
    let d = TempDir::new("sock-reexec-moved");
    let (sock, _count, socket_unit, service_unit) = echo_units(&d);
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=echo.socket\n"),
        ("echo.socket", &socket_unit),
        ("echo.service", &service_unit),
    ]);
    m.wait_state("echo.socket", "running");
    let moved = d.path().join("moved.sock");
    harness::write_file(
        &m.config.join("echo.socket"),
        &format!("[Socket]\nListenStream={}\n", p(&moved)),
    );
    let said = m.vigil_ok(&["reexec"]);
    assert!(said.contains("running again"), "{said}");
    m.wait_log(
        "echo.socket",
        &format!(
            "the unit's Listen*= lines changed: listening on {}; closed 1",
            p(&moved)
        ),
    );
    assert_eq!(m.state("echo.socket"), "running");
    let reply = unix_request(&moved);
    assert!(reply.starts_with("fds=1 pid_ok=True"), "{reply}");
    assert!(
        UnixStream::connect(&sock).is_err(),
        "the old socket was closed"
    );
}

/// The reviewer's case: one of two ports changed, then `vigil sync; vigil
/// reexec` while the service runs and holds both sockets. Every socket used
/// to be closed and bound again: the unchanged port, still held by the
/// service, failed to bind (EADDRINUSE), the socket unit failed and the new
/// port was never opened. Now the unchanged line keeps its socket, only the
/// new line is bound and only the removed one closed.
#[test]
fn reexec_keeps_the_sockets_whose_line_is_unchanged() {
    let d = TempDir::new("sock-reexec-partly");
    let (a, b, c) = (free_port(), free_port(), free_port());
    let fds = d.path().join("fds");
    let socket_unit = |second: u16| {
        format!("[Socket]\nListenStream=127.0.0.1:{a}\nListenStream=127.0.0.1:{second}\n")
    };
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=web.socket\n"),
        ("web.socket", &socket_unit(b)),
        (
            "web.service",
            &format!(
                "[Service]\nExecStart=/bin/sh -c 'echo $$LISTEN_FDS >> {}; exec sleep 1000'\n",
                p(&fds)
            ),
        ),
    ]);
    m.wait_state("web.socket", "running");
    m.vigil_ok(&["start", "web.service"]);
    wait_until("the service got its sockets", || {
        std::fs::read_to_string(&fds).is_ok_and(|t| t == "2\n")
    });
    harness::write_file(&m.config.join("web.socket"), &socket_unit(c));
    m.vigil_ok(&["sync"]);
    let said = m.vigil_ok(&["reexec"]);
    assert!(said.contains("running again"), "{said}");
    let said = m.wait_log("web.socket", "the unit's Listen*= lines changed");
    let st = m.status_json("web.socket");
    assert_eq!(st["state"], "running", "{st}");
    assert!(
        said.ends_with(&format!(
            "the unit's Listen*= lines changed: kept 1; listening on 127.0.0.1:{c}; closed 1"
        )),
        "{said}"
    );
    assert_eq!(m.state("web.service"), "running");
    // Once the service is down, the new port starts it, with both sockets;
    // the removed port is closed.
    m.vigil_ok(&["stop", "web.service"]);
    m.wait_state("web.service", "inactive");
    assert!(
        TcpStream::connect(("127.0.0.1", b)).is_err(),
        "port {b} closed"
    );
    let _client = TcpStream::connect(("127.0.0.1", c)).expect("connect to the new port");
    wait_until("the service started again", || {
        std::fs::read_to_string(&fds).is_ok_and(|t| t == "2\n2\n")
    });
    let _client = TcpStream::connect(("127.0.0.1", a)).expect("the kept port listens");
}

/// Review finding: under vigil-init, a re-exec after a Listen*= line
/// changed stored the new sockets next to the old ones in vigil-init's
/// store: the removed port stayed open there (a backlog nobody serves), and
/// after a crash the next manager found the stale socket, closed it, bound
/// the new port again and failed (EADDRINUSE). The old set is removed.
#[test]
fn a_crash_after_a_reexec_with_a_changed_line_keeps_listening() {
    if !harness::require_root("a_crash_after_a_reexec_with_a_changed_line_keeps_listening") {
        return;
    }
    let (a, b) = (free_port(), free_port());
    let socket_unit = |port: u16| format!("[Socket]\nListenStream=127.0.0.1:{port}\n");
    let m = Manager::start_under_init(
        &[
            ("default.target", "[Unit]\nWants=one.socket\n"),
            ("one.socket", &socket_unit(a)),
            ("one.service", "[Service]\nExecStart=/bin/sleep 1000\n"),
        ],
        &[],
    );
    m.wait_state("one.socket", "running");
    harness::write_file(&m.config.join("one.socket"), &socket_unit(b));
    m.vigil_ok(&["sync"]);
    m.vigil_ok(&["reexec"]);
    m.wait_log("one.socket", "the unit's Listen*= lines changed");
    assert!(
        TcpStream::connect(("127.0.0.1", a)).is_err(),
        "port {a} closed"
    );
    m.kill_vigild(|| {});
    m.wait_log("one.socket", "took over the listening sockets");
    assert_eq!(m.state("one.socket"), "running");
    let _client = TcpStream::connect(("127.0.0.1", b)).expect("the new port listens");
    assert!(
        TcpStream::connect(("127.0.0.1", a)).is_err(),
        "port {a} closed"
    );
}

#[test]
fn a_manager_killed_under_vigil_init_keeps_the_listening_socket() {
    if !harness::require_root("a_manager_killed_under_vigil_init_keeps_the_listening_socket") {
        return;
    }
    let d = TempDir::new("sock-crash");
    let (sock, count, socket_unit, service_unit) = echo_units(&d);
    let m = Manager::start_under_init(
        &[
            ("default.target", "[Unit]\nWants=echo.socket\n"),
            ("echo.socket", &socket_unit),
            ("echo.service", &service_unit),
        ],
        &[],
    );
    m.wait_state("echo.socket", "running");
    let before = inode(&sock);
    // Connected while no manager may run: the connection waits in the
    // backlog of the socket vigil-init keeps.
    let mut early = None;
    m.kill_vigild(|| {
        early = Some(UnixStream::connect(&sock).expect("connect while the manager is down"));
    });
    let mut early = early.unwrap();
    assert_eq!(inode(&sock), before, "the socket was not bound again");
    early
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    early.write_all(b"hello\n").unwrap();
    let reply = read_reply(early);
    assert!(
        reply.starts_with("fds=1 pid_ok=True names=echo.socket "),
        "{reply}"
    );
    assert_eq!(starts(&count), 1);
    m.wait_log_count("echo.service", "-> inactive", 1);
    m.vigil_ok(&["stop", "echo.socket"]);
    m.wait_state("echo.socket", "inactive");
    wait_until("nothing listens any more (vigil-init let go too)", || {
        UnixStream::connect(&sock).is_err()
    });
}

/// Tester's finding: a socket unit whose name made `socket:UNIT:INDEX`
/// longer than vigil-init's 64-byte store names was not stored; after a
/// `kill -9` of the manager while its service ran, the next manager bound
/// the port again, which the running service held (EADDRINUSE), and the
/// unit failed. A long name is stored under a key of fixed length now.
#[test]
fn a_socket_unit_with_a_long_name_survives_a_manager_crash_while_its_service_runs() {
    if !harness::require_root(
        "a_socket_unit_with_a_long_name_survives_a_manager_crash_while_its_service_runs",
    ) {
        return;
    }
    let port = free_port();
    // 247 bytes with the suffix; names differing only past the first 32
    // bytes must not share a key: a second one listens beside it.
    let stem = format!("long-socket-name-{}", "x".repeat(223));
    let (socket, service) = (format!("{stem}.socket"), format!("{stem}.service"));
    let twin_stem = format!("long-socket-name-{}", "y".repeat(223));
    let twin = format!("{twin_stem}.socket");
    let twin_port = free_port();
    let m = Manager::start_under_init(
        &[
            (
                "default.target",
                &format!("[Unit]\nWants={socket} {twin}\n"),
            ),
            (
                &socket,
                &format!("[Socket]\nListenStream=127.0.0.1:{port}\n"),
            ),
            (&service, "[Service]\nExecStart=/bin/sleep 1000\n"),
            (
                &twin,
                &format!("[Socket]\nListenStream=127.0.0.1:{twin_port}\n"),
            ),
            (
                &format!("{twin_stem}.service"),
                "[Service]\nExecStart=/bin/sleep 1000\n",
            ),
        ],
        &[],
    );
    m.wait_state(&socket, "running");
    m.wait_state(&twin, "running");
    // The service holds the listening socket: a new bind of the port fails.
    m.vigil_ok(&["start", &service]);
    m.wait_state(&service, "running");
    m.kill_vigild(|| {});
    m.wait_log(&socket, "took over the listening sockets");
    m.wait_log(&twin, "took over the listening sockets");
    assert_eq!(m.state(&socket), "running");
    assert_eq!(m.state(&twin), "running");
    let log = m.vigil_ok(&["log", &socket, "-n", "1000"]);
    assert!(!log.contains("listening again"), "{log}");
    let _client = TcpStream::connect(("127.0.0.1", port)).expect("the port still listens");
    let _twin = TcpStream::connect(("127.0.0.1", twin_port)).expect("the twin's port listens");
    // Stopped, the unit's stored copy goes too (the service holds its own):
    // nothing listens any more once the service is down as well.
    m.vigil_ok(&["stop", &socket]);
    m.vigil_ok(&["stop", &service]);
    wait_until(
        "nothing listens on the port (vigil-init let go too)",
        || TcpStream::connect(("127.0.0.1", port)).is_err(),
    );
}

// ------------------------------------------------- datagrams and FIFOs

#[test]
fn a_datagram_starts_its_service_which_reads_it_from_fd_3() {
    let d = TempDir::new("sock-dgram");
    let sock = d.path().join("log.sock");
    let out = d.path().join("got");
    let script = d.path().join("dgram.py");
    std::fs::write(
        &script,
        format!(
            "import os, socket\n\
             s = socket.socket(fileno=3)\n\
             data = s.recv(100)\n\
             open({:?}, 'w').write('%s %s %s' % (data.decode(), os.environ['LISTEN_FDS'], s.type == socket.SOCK_DGRAM))\n",
            p(&out)
        ),
    )
    .unwrap();
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=log.socket\n"),
        (
            "log.socket",
            &format!(
                "[Socket]\nListenDatagram={}\nPassCredentials=yes\n",
                p(&sock)
            ),
        ),
        (
            "log.service",
            &format!("[Service]\nExecStart={} {}\n", python(), p(&script)),
        ),
    ]);
    m.wait_state("log.socket", "running");
    assert_eq!(m.state("log.service"), "inactive");
    let client = std::os::unix::net::UnixDatagram::unbound().unwrap();
    client.send_to(b"ping", &sock).expect("send a datagram");
    wait_until("the service wrote what it read", || {
        std::fs::read_to_string(&out).is_ok_and(|t| !t.is_empty())
    });
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "ping 1 True");
    m.wait_log_count("log.service", "-> inactive", 1);
    assert_eq!(m.state("log.socket"), "running");
}

#[test]
fn a_write_to_a_fifo_starts_its_service() {
    let d = TempDir::new("sock-fifo");
    let fifo = d.path().join("ctl.fifo");
    let out = d.path().join("got");
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=ctl.socket\n"),
        (
            "ctl.socket",
            &format!("[Socket]\nListenFIFO={}\nSocketMode=0620\n", p(&fifo)),
        ),
        (
            "ctl.service",
            &format!(
                "[Service]\nExecStart=/bin/sh -c 'read line <&3; echo \"$$line $$LISTEN_FDS $$LISTEN_FDNAMES\" > {}'\n",
                p(&out)
            ),
        ),
    ]);
    m.wait_state("ctl.socket", "running");
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let meta = std::fs::metadata(&fifo).unwrap();
    assert!(meta.file_type().is_fifo());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o620);
    assert_eq!(m.state("ctl.service"), "inactive");
    let mut w = std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .expect("open the FIFO for writing");
    w.write_all(b"reload\n").unwrap();
    drop(w);
    wait_until("the service wrote what it read", || {
        std::fs::read_to_string(&out).is_ok_and(|t| t.ends_with('\n'))
    });
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "reload 1 ctl.socket\n"
    );
}

#[test]
fn a_service_that_never_accepts_hits_its_start_limit_and_fails_the_socket() {
    let d = TempDir::new("sock-limit");
    let sock = d.path().join("spin.sock");
    let count = d.path().join("starts");
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=spin.socket\n"),
        (
            "spin.socket",
            &format!("[Socket]\nListenStream={}\n", p(&sock)),
        ),
        (
            "spin.service",
            &format!(
                "[Unit]\nStartLimitBurst=3\nStartLimitIntervalSec=60\n[Service]\nExecStart=/bin/sh -c 'echo start >> {}'\n",
                p(&count)
            ),
        ),
    ]);
    m.wait_state("spin.socket", "running");
    // Never accepted: every time the service is down the socket is readable again.
    let _client = UnixStream::connect(&sock).unwrap();
    m.wait_state("spin.socket", "failed");
    let st = m.status_json("spin.socket");
    assert!(
        st["reason"]
            .as_str()
            .is_some_and(|r| r.contains("spin.service hit its start limit")),
        "{st}"
    );
    assert_eq!(starts(&count), 3, "StartLimitBurst=3 starts, then no more");
    assert_eq!(m.state("spin.service"), "failed");
    assert!(
        UnixStream::connect(&sock).is_err(),
        "the failed socket is closed"
    );
}

/// Tester's finding: a fixed trigger limit (20 in 2 s) applied whatever the
/// unit said, so a service that serves one connection and exits could not
/// keep up with a burst of clients even with `TriggerLimitIntervalSec=0`,
/// which turns the limit off in systemd. 30 clients at once are all served.
#[test]
fn trigger_limit_interval_sec_0_lets_a_one_connection_service_serve_a_burst() {
    const CLIENTS: usize = 30;
    let d = TempDir::new("sock-trigger-off");
    let sock = d.path().join("one.sock");
    let count = d.path().join("starts");
    let script = d.path().join("one.py");
    // -S: no site module, for a quick start (the old limit needed 21 runs in 2 s).
    std::fs::write(
        &script,
        "import socket, sys\n\
         open(sys.argv[1], 'a').write('start\\n')\n\
         c, _ = socket.socket(fileno=3).accept()\n\
         c.sendall(c.recv(100))\n",
    )
    .unwrap();
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=one.socket\n"),
        (
            "one.socket",
            &format!(
                "[Socket]\nListenStream={}\nTriggerLimitIntervalSec=0\n",
                p(&sock)
            ),
        ),
        (
            "one.service",
            &format!(
                "[Unit]\nStartLimitIntervalSec=0\n[Service]\nExecStart={} -S {} {}\n",
                python(),
                p(&script),
                p(&count)
            ),
        ),
    ]);
    m.wait_state("one.socket", "running");
    // All wait in the backlog: each run takes one, and the socket is
    // readable again as soon as the service is down.
    let clients: Vec<UnixStream> = (0..CLIENTS)
        .map(|_| UnixStream::connect(&sock).expect("connect"))
        .collect();
    for (n, mut c) in clients.into_iter().enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        c.write_all(format!("client {n}\n").as_bytes()).unwrap();
        assert_eq!(read_reply(c), format!("client {n}\n"));
    }
    assert_eq!(starts(&count), CLIENTS);
    m.wait_log_count("one.service", "-> inactive", CLIENTS);
    assert_eq!(m.state("one.socket"), "running");
}

/// `TriggerLimitBurst=` and `TriggerLimitIntervalSec=` are the unit's: the
/// 4th trigger within the hour fails the socket, with the reason, and closes
/// it (a FIFO with 5 lines, a service that reads one a run).
#[test]
fn trigger_limit_burst_fails_the_socket_at_the_trigger_beyond_it() {
    let d = TempDir::new("sock-trigger-burst");
    let fifo = d.path().join("ctl.fifo");
    let count = d.path().join("starts");
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=ctl.socket\n"),
        (
            "ctl.socket",
            &format!(
                "[Socket]\nListenFIFO={}\nTriggerLimitIntervalSec=1h\nTriggerLimitBurst=3\n",
                p(&fifo)
            ),
        ),
        (
            "ctl.service",
            &format!(
                "[Service]\nExecStart=/bin/sh -c 'read line <&3; echo \"$$line\" >> {}'\n",
                p(&count)
            ),
        ),
    ]);
    m.wait_state("ctl.socket", "running");
    let mut w = std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .expect("open the FIFO for writing");
    w.write_all(b"1\n2\n3\n4\n5\n").unwrap();
    drop(w);
    m.wait_state("ctl.socket", "failed");
    assert_eq!(
        m.status_json("ctl.socket")["reason"],
        "socket: trigger limit hit: more than 3 triggers within 3600s \
         (TriggerLimitBurst=, TriggerLimitIntervalSec=)"
    );
    assert_eq!(std::fs::read_to_string(&count).unwrap(), "1\n2\n3\n");
    assert_eq!(m.state("ctl.service"), "inactive");
    // systemd's word for it.
    assert_eq!(
        m.vigil_ok(&["show", "-P", "Result", "ctl.socket"]),
        "trigger-limit-hit\n"
    );
}

/// With `Accept=yes` every connection is a trigger, as in systemd (there it
/// defaults to 200 in 2 s): the one beyond `TriggerLimitBurst=` is closed
/// unserved and the socket unit fails.
#[test]
fn accept_yes_connections_count_against_the_trigger_limit() {
    let port = free_port();
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=hello.socket\n"),
        (
            "hello.socket",
            &format!(
                "[Socket]\nListenStream=127.0.0.1:{port}\nAccept=yes\n\
                 TriggerLimitIntervalSec=1h\nTriggerLimitBurst=2\n"
            ),
        ),
        (
            "hello@.service",
            "[Service]\nExecStart=/bin/echo hello %i\nStandardOutput=socket\n",
        ),
    ]);
    m.wait_state("hello.socket", "running");
    let ask = || {
        let c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        read_reply(c)
    };
    assert_eq!(ask(), "hello 0\n");
    assert_eq!(ask(), "hello 0\n");
    assert_eq!(ask(), "", "the third connection is closed unserved");
    m.wait_state("hello.socket", "failed");
    let reason = m.status_json("hello.socket")["reason"].to_string();
    assert!(
        reason.contains("trigger limit hit: more than 2 triggers within 3600s"),
        "{reason}"
    );
    m.wait_log_count("hello@0.service", "-> inactive", 2);
}

/// Review finding: `vigil status` of a socket unit showed neither its
/// addresses nor its service (systemctl shows `Listen:` and `Triggers:`), nor
/// that of a service which socket starts it.
#[test]
fn status_shows_what_a_socket_listens_on_and_what_it_starts() {
    let d = TempDir::new("sock-status");
    let sock = d.path().join("e.sock");
    let port = free_port();
    let socket_unit = format!(
        "[Socket]\nListenStream=127.0.0.1:{port}\nListenDatagram={}\n",
        p(&sock)
    );
    let accept_unit = format!(
        "[Socket]\nListenStream=127.0.0.1:{}\nAccept=yes\n",
        free_port()
    );
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=e.socket a.socket\n"),
        ("e.socket", &socket_unit),
        ("e.service", "[Service]\nExecStart=/bin/sleep 1000\n"),
        ("a.socket", &accept_unit),
        ("a@.service", "[Service]\nExecStart=/bin/true\n"),
    ]);
    m.wait_state("e.socket", "running");
    m.wait_state("a.socket", "running");
    let socket = m.vigil_code(&["status", "e.socket", "-n", "0"], 0);
    let expected = format!(
        "     listen: 127.0.0.1:{port} (ListenStream)\n             {} (ListenDatagram)\n   triggers: e.service\n",
        p(&sock)
    );
    assert!(socket.contains(&expected), "{socket}");
    let service = m.vigil_code(&["status", "e.service", "-n", "0"], 3);
    assert!(service.contains("triggered by: e.socket\n"), "{service}");
    let accept = m.vigil_code(&["status", "a.socket", "-n", "0"], 0);
    assert!(
        accept.contains("   triggers: a@.service (an instance per connection)\n"),
        "{accept}"
    );
    let instance = m.vigil_code(&["status", "a@7", "-n", "0"], 3);
    assert!(instance.contains("triggered by: a.socket\n"), "{instance}");
    let json = m.vigil_ok(&["--json", "status", "e.socket"]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["triggers"], "e.service");
    assert_eq!(
        json["listen"][0],
        format!("127.0.0.1:{port} (ListenStream)")
    );
}

/// Review finding: under vigil-init, `vigil restart web.socket` failed 23
/// times in 30 with `bind: Address already in use`: vigil-init still held
/// its copy of the listening socket (the removal not read yet) when the
/// start bound the port again, and the socket unit was left failed. The
/// closed sockets stop listening at once, for every copy.
#[test]
fn a_socket_unit_restarts_under_vigil_init() {
    if !harness::require_root("a_socket_unit_restarts_under_vigil_init") {
        return;
    }
    let port = free_port();
    let d = TempDir::new("sock-restart-init");
    let (count, service_unit) = echo_service(&d);
    let socket_unit = format!("[Socket]\nListenStream=127.0.0.1:{port}\n");
    let m = Manager::start_under_init(
        &[
            ("default.target", "[Unit]\nWants=web.socket\n"),
            ("web.socket", &socket_unit),
            ("web.service", &service_unit),
        ],
        &[],
    );
    m.wait_state("web.socket", "running");
    for _ in 0..30 {
        m.vigil_ok(&["restart", "web.socket"]);
        assert_eq!(m.state("web.socket"), "running");
    }
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    client.write_all(b"hello\n").unwrap();
    assert!(read_reply(client).starts_with("fds=1 "));
    assert_eq!(starts(&count), 1);
}

/// Review finding: a connection that came while the service waited for its
/// automatic restart was not served until `RestartSec=` ran out (the sockets
/// were not watched then); systemd listens again in `auto-restart`, and
/// the connection starts the service at once.
#[test]
fn a_connection_during_restart_sec_starts_the_service_at_once() {
    let port = free_port();
    let d = TempDir::new("sock-restart-sec");
    let (count, service_unit) = echo_service(&d);
    let service_unit = format!("{service_unit}Restart=always\nRestartSec=600\n");
    let socket_unit = format!("[Socket]\nListenStream=127.0.0.1:{port}\n");
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=web.socket\n"),
        ("web.socket", &socket_unit),
        ("web.service", &service_unit),
    ]);
    m.wait_state("web.socket", "running");
    let ask = || {
        let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        client.write_all(b"hello\n").unwrap();
        read_reply(client)
    };
    assert!(ask().starts_with("fds=1 "));
    // It served one connection and exited: waiting 600 s to restart.
    m.wait_state("web.service", "restarting");
    assert!(ask().starts_with("fds=1 "));
    assert_eq!(starts(&count), 2);
}

/// Review findings: a socket unit whose service does not exist was
/// `running` until its first connection (systemd refuses its start:
/// "Socket service X not loaded, refusing"), and an `Accept=yes` one
/// without its template dropped every connection and stayed `running`
/// (systemd fails it). Both fail, with the reason.
#[test]
fn a_socket_without_its_service_fails() {
    let d = TempDir::new("sock-no-service");
    let path = d.path().join("a.sock");
    let m = Manager::start(&[
        (
            "lonely.socket",
            &format!("[Socket]\nListenStream={}\n", p(&path)),
        ),
        (
            "each.socket",
            &format!(
                "[Socket]\nListenStream={}\nAccept=yes\n",
                p(&d.path().join("b.sock"))
            ),
        ),
    ]);
    let out = m.vigil(&["start", "lonely.socket"]);
    assert_eq!(out.status.code(), Some(1));
    let status = m.status_json("lonely.socket");
    assert_eq!(status["state"], "failed", "{status}");
    assert_eq!(
        status["reason"], "socket: service lonely.service not loaded, refusing",
        "{status}"
    );
    m.vigil_ok(&["start", "each.socket"]);
    let client = UnixStream::connect(d.path().join("b.sock")).unwrap();
    m.wait_state("each.socket", "failed");
    let reason = m.status_json("each.socket")["reason"].to_string();
    assert!(reason.contains("cannot load each@0.service"), "{reason}");
    assert!(
        reason.starts_with("\"socket: refused a connection"),
        "{reason}"
    );
    drop(client);
}

/// Review finding: under vigil-init, stopping a socket unit whose own
/// service was down shut its sockets down (4dfcdac) while a running service
/// that names it in `Sockets=` was listening on them: that service's
/// accept() failed (EINVAL) and it died. A service of `Sockets=` holds them
/// too: left alone, and the socket is not watched while it runs.
#[test]
fn a_socket_held_through_sockets_survives_the_socket_units_stop_under_vigil_init() {
    if !harness::require_root(
        "a_socket_held_through_sockets_survives_the_socket_units_stop_under_vigil_init",
    ) {
        return;
    }
    let port = free_port();
    let d = TempDir::new("sock-held-by-sockets");
    let (count, service_unit) = echo_service(&d);
    let m = Manager::start_under_init(
        &[
            (
                "foo.socket",
                &format!("[Socket]\nListenStream=127.0.0.1:{port}\n"),
            ),
            ("foo.service", "[Service]\nExecStart=/bin/sleep 1000\n"),
            (
                "bar.service",
                &format!("{service_unit}Sockets=foo.socket\n"),
            ),
        ],
        &[],
    );
    m.vigil_ok(&["start", "bar"]);
    wait_until("bar started", || starts(&count) == 1);
    m.vigil_ok(&["stop", "foo.socket"]);
    let mut client = TcpStream::connect(("127.0.0.1", port)).expect("bar still listens");
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    client.write_all(b"hello\n").unwrap();
    assert!(read_reply(client).starts_with("fds=1 "));
    assert_eq!(m.state("foo.service"), "inactive");
}

/// As systemctl warns: a service stopped while its socket unit listens is
/// started again by the next connection. Nothing to say once the socket is
/// down too.
#[test]
fn stopping_a_service_its_listening_socket_starts_again_warns() {
    let d = TempDir::new("sock-warn");
    let sock = d.path().join("w.sock");
    let m = Manager::start(&[
        (
            "w.socket",
            &format!("[Socket]\nListenStream={}\n", p(&sock)),
        ),
        ("w.service", "[Service]\nExecStart=/bin/sleep 1000\n"),
    ]);
    m.vigil_ok(&["start", "w.socket", "w.service"]);
    let out = m.vigil(&["stop", "w"]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err,
        "Warning: Stopping w.service, but it can still be activated by:\n  w.socket\n"
    );
    m.vigil_ok(&["stop", "w.socket"]);
    m.vigil_ok(&["start", "w.service"]);
    let out = m.vigil(&["stop", "w"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
