//! `vigil` run by System V's names (links, as scripts/install makes them):
//! `runlevel` reading utmp, `shutdown` waiting for its time and `shutdown -c`
//! cancelling it, `reboot -f` and `poweroff -f` calling reboot(2) (in a PID
//! namespace of their own, where the kernel ends that namespace's init
//! instead of the machine). The requests to a real manager are tested with
//! vigil-init (crates/init/tests/init.rs).

use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use vigil_platform::utmp::{Record, write_utmp};

/// A directory with each name a link to vigil, a `wall` that notes what it
/// was given, and the manager's socket: a stand-in that answers `ping` (a
/// scheduled shutdown only asks whether the manager is there and can power
/// off) and refuses anything else, or none.
struct Dir(PathBuf, Option<std::os::unix::net::UnixListener>);

impl Dir {
    fn new(tag: &str) -> Dir {
        Dir::with_manager(tag, true)
    }

    /// A stand-in manager whose `pong` says `under_init` (whether it can
    /// power off), in a thread that lives as long as the test.
    fn with_manager(tag: &str, under_init: bool) -> Dir {
        use std::io::{BufRead as _, Write as _};
        use vigil_proto::{Body, ErrorCode, Reply};
        let mut dir = Dir::without_manager(tag);
        let listener = std::os::unix::net::UnixListener::bind(dir.socket()).unwrap();
        let serving = listener.try_clone().unwrap();
        std::thread::spawn(move || {
            for mut conn in serving.incoming().flatten() {
                let mut line = String::new();
                let mut reader = std::io::BufReader::new(&conn);
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let reply = match line.contains("\"ping\"") {
                    true => Reply::ok(
                        1,
                        Body::Pong {
                            version: "stand-in".into(),
                            pid: 1,
                            under_init: Some(under_init),
                        },
                    ),
                    false => Reply::err(1, ErrorCode::NotAllowed, "stand-in: refused"),
                };
                let _ = conn.write_all(&vigil_proto::encode(&reply));
            }
        });
        dir.1 = Some(listener);
        dir
    }

    fn without_manager(tag: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("vigil-sysv-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "poweroff", "reboot", "halt", "shutdown", "runlevel", "telinit",
        ] {
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_vigil"), dir.join(name)).unwrap();
        }
        let wall = dir.join("wall");
        std::fs::write(
            &wall,
            format!("#!/bin/sh\ncat >> {}/wall.log\n", dir.display()),
        )
        .unwrap();
        std::fs::set_permissions(&wall, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        Dir(dir, None)
    }

    /// NAME run from here: the manager's socket in here, and the noting
    /// `wall` first in PATH.
    fn cmd(&self, name: &str) -> Command {
        let mut c = Command::new(self.0.join(name));
        let path = std::env::var("PATH").unwrap_or_default();
        c.env("VIGIL_SOCKET", self.socket())
            .env("PATH", format!("{}:{path}", self.0.display()))
            .env("TZ", "UTC");
        c
    }

    fn socket(&self) -> PathBuf {
        self.0.join("control.sock")
    }

    fn run(&self, name: &str, args: &[&str]) -> Output {
        self.cmd(name).args(args).output().unwrap()
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.0.join(name)).unwrap_or_default()
    }

    /// Every waiter started from here (named in the file or not): the
    /// processes run as `shutdown` with this directory's socket.
    fn waiters(&self) -> Vec<u32> {
        let want = format!("VIGIL_SOCKET={}", self.socket().display());
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        procs
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
                let name = cmdline.split(|&b| b == 0).next().unwrap_or_default();
                name.rsplit(|&b| b == b'/').next() == Some(b"shutdown".as_slice())
                    && environ.split(|&b| b == 0).any(|v| v == want.as_bytes())
            })
            .collect()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // What a failed test left.
        for pid in self.waiters() {
            let _ = vigil_platform::process::kill(pid, 9);
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `runlevel` as invoke-rc.d reads it: `N 3` from the record
/// vigil-utmp-runlevel.service writes, `unknown` (exit 1) without one, or
/// after the shutdown's record replaced it.
#[test]
fn runlevel_reads_the_record_in_utmp() {
    let dir = Dir::new("runlevel");
    let utmp = dir.0.join("utmp");
    let utmp_arg = utmp.to_str().unwrap();
    let o = dir.run("runlevel", &[utmp_arg]);
    assert_eq!(
        (o.status.code(), text(&o.stdout)),
        (Some(1), "unknown\n".into())
    );
    std::fs::write(&utmp, "").unwrap();
    let o = dir.run("runlevel", &[utmp_arg]);
    assert_eq!(
        (o.status.code(), text(&o.stdout)),
        (Some(1), "unknown\n".into())
    );
    let now = Duration::from_secs(1_800_000_000);
    write_utmp(Record::Runlevel(b'3'), now, "6.1.0", &utmp).unwrap();
    let o = dir.run("runlevel", &[utmp_arg]);
    assert_eq!(
        (o.status.code(), text(&o.stdout)),
        (Some(0), "N 3\n".into())
    );
    write_utmp(Record::Runlevel(b'5'), now, "6.1.0", &utmp).unwrap();
    assert_eq!(text(&dir.run("runlevel", &[utmp_arg]).stdout), "N 5\n");
    write_utmp(Record::Shutdown, now, "6.1.0", &utmp).unwrap();
    let o = dir.run("runlevel", &[utmp_arg]);
    assert_eq!(
        (o.status.code(), text(&o.stdout)),
        (Some(1), "unknown\n".into())
    );
    let o = dir.run("runlevel", &[utmp_arg, "again"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
}

/// The waiter's PID in the scheduled file, if there is one.
fn waiter(dir: &Dir) -> Option<u32> {
    dir.read("shutdown.scheduled")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn alive(pid: u32) -> bool {
    // Not a zombie either: a waiter re-parented to the machine's init is reaped.
    stat(pid).is_some_and(|fields| fields.first().is_some_and(|state| state != "Z"))
}

/// The fields of /proc/PID/stat after the command's name (state first).
fn stat(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit(')').next()?;
    Some(rest.split_whitespace().map(String::from).collect())
}

/// A shutdown in 5 minutes: the command says when and returns, leaving a
/// waiter that leads a session of its own (a logout, or the end of the unit
/// that ran `shutdown`, does not end it) in `/`, its file beside the
/// manager's socket; the terminals are told (wall) with the message given.
/// `shutdown -c` ends the waiter (nothing is shut down: the manager is a
/// socket that never answers) and says so to the terminals, once; a second
/// `-c` finds nothing.
#[test]
fn a_scheduled_shutdown_waits_and_shutdown_c_cancels_it() {
    let dir = Dir::new("schedule");
    let o = dir.run("shutdown", &["-r", "+5", "back", "soon"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let said = text(&o.stdout);
    assert!(said.starts_with("Shutdown scheduled for "), "{said}");
    assert!(
        said.contains(" UTC, use 'shutdown -c' to cancel."),
        "{said}"
    );
    let file = dir.read("shutdown.scheduled");
    let fields: Vec<&str> = file.split_whitespace().collect();
    assert_eq!(fields.get(1), Some(&"reboot"), "{file}");
    let pid = waiter(&dir).expect("a waiter");
    assert_eq!(dir.waiters(), [pid]);
    assert!(alive(pid), "the waiter waits");
    // Fields after the state: ppid, pgrp, session.
    let fields = stat(pid).unwrap();
    assert_eq!(fields[2], pid.to_string(), "its own process group");
    assert_eq!(fields[3], pid.to_string(), "its own session");
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        PathBuf::from("/")
    );
    let wall = dir.read("wall.log");
    assert!(wall.contains("The system will reboot at "), "{wall}");
    assert!(wall.contains("back soon"), "{wall}");

    let o = dir.run("shutdown", &["-c", "not", "today"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // Its file is gone once `-c` returns.
    assert!(!dir.0.join("shutdown.scheduled").exists());
    wait_until("the waiter to end", || !alive(pid));
    let wall = dir.read("wall.log");
    assert!(wall.contains("cancelled\nnot today"), "{wall}");
    assert_eq!(wall.matches("cancelled").count(), 1, "{wall}");
    assert!(!wall.contains("now!"), "{wall}");
    let o = dir.run("shutdown", &["-c"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("no shutdown is scheduled"),
        "{}",
        text(&o.stderr)
    );
}

/// A waiter ended by SIGTERM (`kill`, or the end of a shutdown under way)
/// cancels too, quietly. Options after the time count (`+5 -H`).
#[test]
fn a_waiter_ended_by_sigterm_cancels_quietly() {
    let dir = Dir::new("sigterm");
    let o = dir.run("shutdown", &["+5", "-H"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(dir.read("shutdown.scheduled").contains(" halt "));
    let pid = waiter(&dir).expect("a waiter");
    vigil_platform::process::kill(pid, 15).unwrap();
    wait_until("the waiter to end", || !alive(pid));
    assert!(!dir.0.join("shutdown.scheduled").exists());
    let wall = dir.read("wall.log");
    assert!(wall.contains("The system will halt at "), "{wall}");
    assert!(!wall.contains("cancelled"), "{wall}");
}

/// A waiter whose time has come while no manager answers asks again (for
/// 30 s) and meanwhile stays in its file: `shutdown -c` still finds and
/// ends it (it had taken its file away, and `-c` said nothing was scheduled
/// while the shutdown went on waiting for a manager).
#[test]
fn a_waiter_asking_an_absent_manager_can_still_be_cancelled() {
    let dir = Dir::without_manager("retry");
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let mut waiter = dir
        .cmd("shutdown")
        .args(["-r", &format!("--wait-until={at}"), "now"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("its time", || dir.read("wall.log").contains("reboot now!"));
    assert!(
        dir.0.join("shutdown.scheduled").exists(),
        "kept while it asks"
    );
    let o = dir.run("shutdown", &["-c", "--no-wall"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let status = waiter.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!dir.0.join("shutdown.scheduled").exists());
    assert!(
        !dir.read("wall.log").contains("failed"),
        "{}",
        dir.read("wall.log")
    );
}

/// A second scheduled shutdown replaces the first, as systemd's does; a file
/// whose PID is no waiter (stale, the PID reused) is nobody's to signal.
#[test]
fn a_new_scheduled_shutdown_replaces_the_waiting_one() {
    let dir = Dir::new("replace");
    assert!(dir.run("shutdown", &["--no-wall", "+10"]).status.success());
    let first = waiter(&dir).expect("a waiter");
    assert!(
        dir.run("shutdown", &["--no-wall", "-H", "+20"])
            .status
            .success()
    );
    let second = waiter(&dir).expect("a waiter");
    assert_ne!(first, second);
    assert!(
        dir.read("shutdown.scheduled")
            .starts_with(&format!("{second} halt "))
    );
    wait_until("the first to end", || !alive(first));
    assert!(alive(second));
    assert_eq!(dir.waiters(), [second]);
    assert!(dir.run("shutdown", &["-c", "--no-wall"]).status.success());
    wait_until("the second to end", || !alive(second));
    assert!(dir.read("wall.log").is_empty(), "--no-wall");
    // This test's own PID in the file: not a waiter, not signalled.
    std::fs::write(
        dir.0.join("shutdown.scheduled"),
        format!("{} poweroff 0\n", std::process::id()),
    )
    .unwrap();
    let o = dir.run("shutdown", &["-c"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
}

/// Two `shutdown TIME` started at the same instant: one waiter stays, the
/// one in the file, and the other ends (each replaces the one before it
/// under a lock; without it both could find no waiter, and the one whose
/// file was overwritten waited on, unreachable by `shutdown -c`).
#[test]
fn two_shutdowns_started_at_once_leave_one_waiter() {
    let dir = Dir::new("race");
    for round in 0..10 {
        let mut both: Vec<_> = ["+10", "+20"]
            .iter()
            .map(|when| {
                dir.cmd("shutdown")
                    .args(["--no-wall", when])
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in &mut both {
            assert!(child.wait().unwrap().success(), "round {round}");
        }
        let kept = waiter(&dir).expect("a waiter");
        wait_until("one waiter left", || dir.waiters() == [kept]);
        assert!(dir.run("shutdown", &["-c", "--no-wall"]).status.success());
        wait_until("none left", || dir.waiters().is_empty());
    }
}

/// Review finding: a manager not run by vigil-init refuses to power off,
/// yet every terminal was told the system would (`poweroff`, `shutdown
/// now`), and `shutdown +5` left a waiter that failed at its time. Now
/// nobody is told, nothing is scheduled, and `shutdown` says why. As root
/// (who alone is told), a manager that can is told as before.
#[test]
fn a_manager_that_cannot_power_off_is_told_nothing_and_schedules_nothing() {
    let dir = Dir::with_manager("standalone", false);
    let o = dir.run("shutdown", &["-r", "+5"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("was not started by vigil-init: it cannot reboot the machine"),
        "{}",
        text(&o.stderr)
    );
    assert!(dir.waiters().is_empty());
    assert!(!dir.0.join("shutdown.scheduled").exists());
    for (name, args) in [("poweroff", &[][..]), ("shutdown", &["now"][..])] {
        let o = dir.run(name, args);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains("stand-in: refused"), "{name}");
    }
    assert_eq!(dir.read("wall.log"), "", "told of a shutdown refused");
    if privileged(
        "a_manager_that_cannot_power_off_is_told_nothing_and_schedules_nothing: root is told",
    ) {
        let dir = Dir::new("can");
        let o = dir.run("poweroff", &[]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
        assert!(
            dir.read("wall.log")
                .contains("The system will power off now!"),
            "{}",
            dir.read("wall.log")
        );
    }
}

/// `shutdown -k`: the message alone. Without a manager, `shutdown now`,
/// `shutdown +5` (nothing scheduled, nobody told), `reboot` and `telinit 6`
/// exit 5, and say how to do it anyway (`reboot --force`, for both). A time too far away is refused.
#[test]
fn warnings_and_an_absent_manager() {
    let dir = Dir::without_manager("absent");
    let o = dir.run("shutdown", &["-k", "now", "only", "a", "drill"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("The system will power off now! (only a warning"),
        "{}",
        text(&o.stdout)
    );
    assert!(dir.read("wall.log").contains("only a drill"));
    std::fs::remove_file(dir.0.join("wall.log")).unwrap();
    let o = dir.run("shutdown", &["--no-wall", "now"]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o.stderr));
    let o = dir.run("shutdown", &["+5"]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o.stderr));
    assert!(dir.waiters().is_empty() && !dir.0.join("shutdown.scheduled").exists());
    let o = dir.run("reboot", &[]);
    assert_eq!(o.status.code(), Some(5));
    assert!(
        text(&o.stderr).contains("'reboot --force'"),
        "{}",
        text(&o.stderr)
    );
    let o = dir.run("telinit", &["6"]);
    assert_eq!(o.status.code(), Some(5));
    assert!(
        text(&o.stderr).contains("'reboot --force'"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(
        dir.read("wall.log"),
        "",
        "nobody told of what cannot be done"
    );
    let o = dir.run("shutdown", &["+9223372036854775808"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("too far"), "{}", text(&o.stderr));
    for (name, args) in [
        ("poweroff", &["--bogus"][..]),
        ("halt", &["now"]),
        ("shutdown", &["soon"]),
        ("telinit", &["3"]),
        ("telinit", &[]),
    ] {
        let o = dir.run(name, args);
        assert_eq!(o.status.code(), Some(2), "{name} {args:?}");
        assert!(
            text(&o.stderr).starts_with(&format!("{name}: ")),
            "{}",
            text(&o.stderr)
        );
    }
    let o = dir.run("shutdown", &["--help"]);
    assert!(o.status.success() && text(&o.stdout).starts_with("usage: shutdown"));
}

/// Root, and `unshare --pid` working: the `-f` test needs both, and is
/// skipped without them, except with CI=true.
fn privileged(test: &str) -> bool {
    let root = vigil_platform::getuid() == 0;
    let unshare = root
        && Command::new("unshare")
            .args(["--pid", "--fork", "true"])
            .status()
            .is_ok_and(|s| s.success());
    if unshare {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: needs root and unshare --pid, which CI has"
    );
    eprintln!("{test}: skipped: needs root and unshare --pid");
    false
}

/// `reboot -f` and `poweroff -f`: reboot(2) at once. Run as PID 1 of a PID
/// namespace (a shell checks it is PID 1 before it execs them: never the
/// host's reboot), where the kernel ends that init by SIGHUP for a restart
/// and SIGINT for a power-off; unshare dies of the same signal.
#[test]
fn force_calls_reboot_itself() {
    if !privileged("force_calls_reboot_itself") {
        return;
    }
    let dir = Dir::new("force");
    for (name, signal) in [("reboot", 1), ("poweroff", 2), ("halt", 2)] {
        let program = dir.0.join(name);
        let o = Command::new("unshare")
            .args(["--pid", "--fork", "/bin/sh", "-c"])
            .arg(r#"[ $$ = 1 ] || { echo "not PID 1: $$"; exit 9; }; exec "$0" -f"#)
            .arg(&program)
            .output()
            .unwrap();
        assert_eq!(
            o.status.signal(),
            Some(signal),
            "{name} -f: {:?} {}{}",
            o.status,
            text(&o.stdout),
            text(&o.stderr)
        );
    }
}

/// /run/nologin, for the system's manager only (no $VIGIL_SOCKET): in a mount
/// namespace of its own with a /run of its own, where a socket that answers
/// `ping` stands for the manager, and a PID namespace that ends every waiter
/// with it. Written at once for a shutdown 3 minutes away; taken away when a
/// later one replaces it (and not written by that one, 30 minutes away);
/// taken away by `shutdown -c`; an admin's own is left.
#[test]
fn nologin_keeps_users_out_only_while_a_shutdown_is_near() {
    if !privileged("nologin_keeps_users_out_only_while_a_shutdown_is_near") {
        return;
    }
    let dir = Dir::without_manager("nologin");
    let script = r#"set -e
mount -t tmpfs tmpfs /run
mkdir /run/vigil
python3 -c 'import socket, sys, threading
s = socket.socket(socket.AF_UNIX); s.bind("/run/vigil/control.sock"); s.listen()
def serve():
    while True:
        c, _ = s.accept(); c.makefile().readline()
        c.sendall(b"{\"version\":1,\"id\":1,\"result\":{\"kind\":\"pong\",\"version\":\"stand-in\",\"pid\":1,\"under_init\":true}}\n"); c.close()
threading.Thread(target=serve, daemon=True).start()
print("up", flush=True); sys.stdin.read()' > /run/up < /dev/zero &
until [ -s /run/up ]; do sleep 0.01; done
state() { if [ -e /run/nologin ]; then echo "$1: $(cat /run/nologin)"; else echo "$1: none"; fi; }
shutdown() { "$DIR/shutdown" --no-wall "$@"; }
shutdown -r +3 > /dev/null; state near
shutdown -r +30 > /dev/null
i=0
while grep -q 'reboot at' /run/nologin 2>/dev/null && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
state replaced
shutdown +2 > /dev/null; state again
shutdown -c; state cancelled
echo maintenance > /run/nologin
shutdown +2 > /dev/null; shutdown -c; state admin
"#;
    let path = std::env::var("PATH").unwrap_or_default();
    let o = Command::new("unshare")
        .args([
            "--mount",
            "--pid",
            "--fork",
            "--mount-proc",
            "sh",
            "-c",
            script,
        ])
        .env_remove("VIGIL_SOCKET")
        .env("DIR", &dir.0)
        .env("PATH", format!("{}:{path}", dir.0.display()))
        .env("TZ", "UTC")
        .output()
        .unwrap();
    let said = text(&o.stdout);
    assert!(o.status.success(), "{said}{}", text(&o.stderr));
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines.len(), 5, "{said}");
    assert!(
        lines[0].starts_with("near: The system will reboot at "),
        "{said}"
    );
    assert_eq!(lines[1], "replaced: none", "{said}");
    assert!(
        lines[2].starts_with("again: The system will power off at "),
        "{said}"
    );
    assert_eq!(lines[3], "cancelled: none", "{said}");
    assert_eq!(lines[4], "admin: maintenance", "{said}");
}
