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

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("vigil-sysv-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Each name a link to vigil, and a `wall` that notes what it was given.
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
        Dir(dir)
    }

    /// NAME run from here: the manager's socket (none listens) in here, and
    /// the noting `wall` first in PATH.
    fn cmd(&self, name: &str) -> Command {
        let mut c = Command::new(self.0.join(name));
        let path = std::env::var("PATH").unwrap_or_default();
        c.env("VIGIL_SOCKET", self.0.join("control.sock"))
            .env("PATH", format!("{}:{path}", self.0.display()))
            .env("TZ", "UTC");
        c
    }

    fn run(&self, name: &str, args: &[&str]) -> Output {
        self.cmd(name).args(args).output().unwrap()
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.0.join(name)).unwrap_or_default()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // A waiter a failed test left.
        if let Some(pid) = waiter(self) {
            let _ = vigil_platform::process::kill(pid, 15);
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
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// A shutdown in 5 minutes: the command says when and returns, leaving a
/// waiter (its own process group: a logout does not end it), its file in the
/// manager's runtime directory; the terminals are told (wall) with the
/// message given. `shutdown -c` ends the waiter (nothing is shut down: no
/// manager even listens) and says so to the terminals; a second `-c` finds
/// nothing.
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
    assert!(alive(pid), "the waiter waits");
    let pgid = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let pgid = pgid
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(2)
        .unwrap();
    assert_eq!(pgid, pid.to_string(), "its own process group");
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
    assert!(!wall.contains("now!"), "{wall}");
    let o = dir.run("shutdown", &["-c"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("no shutdown is scheduled"),
        "{}",
        text(&o.stderr)
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

/// `shutdown -k`: the message alone. `shutdown now` and `reboot` without a
/// manager: exit 5, and `reboot` says how to do it anyway.
#[test]
fn warnings_and_an_absent_manager() {
    let dir = Dir::new("absent");
    let o = dir.run("shutdown", &["-k", "now", "only", "a", "drill"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("The system will power off now! (only a warning"),
        "{}",
        text(&o.stdout)
    );
    assert!(dir.read("wall.log").contains("only a drill"));
    let o = dir.run("shutdown", &["--no-wall", "now"]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o.stderr));
    let o = dir.run("reboot", &[]);
    assert_eq!(o.status.code(), Some(5));
    assert!(
        text(&o.stderr).contains("'reboot --force'"),
        "{}",
        text(&o.stderr)
    );
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
