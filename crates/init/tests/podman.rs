//! vigil-init as PID 1 of a real container: podman runs a root file system made here
//! (busybox, vigil-init, vigild, vigil and the libraries they link) with `--rootfs`,
//! no image and no network needed. Nothing tells vigil-init it is in a container but
//! what podman does ($container, /run/.containerenv, a PID namespace).
//!
//! Root, podman and runc needed (scripts/install-test-deps installs them); without
//! them the tests say why and pass, but with CI=true, where they fail. runc, not crun:
//! crun refuses a machine whose cgroups are mounted hybrid, as here. podman's own state
//! lives in the test's directory (vfs storage, its run and tmp directories), so the
//! host's containers are not touched.

mod support;
use support::sibling;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The vigil-init under test: VIGIL_INIT_BIN (scripts/test sets it to the static
/// build), else the one cargo built; vigild and vigil are beside the latter.
fn init_bin() -> PathBuf {
    std::env::var_os("VIGIL_INIT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_vigil-init").into())
}

/// Whether podman can be used here; says why not (a failure under CI=true).
fn usable(test: &str) -> bool {
    let root = rustix::process::geteuid().is_root();
    let have = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let why = if !root {
        "not root"
    } else if !have("podman") || !have("runc") {
        "no podman or runc (scripts/install-test-deps installs them)"
    } else if !Path::new("/bin/busybox").exists() {
        "no /bin/busybox (busybox-static; scripts/install-test-deps installs it)"
    } else {
        return true;
    };
    skip(test, why)
}

/// Says why `test` does not run and returns false; under CI=true a failure instead.
fn skip(test: &str, why: &str) -> bool {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {why}; CI=true: podman tests must not skip");
    }
    eprintln!("{test}: skipped: {why}");
    false
}

/// Asserts that `text` has each of `lines`.
fn assert_has(text: &str, lines: &[&str]) {
    for line in lines {
        assert!(text.contains(line), "no {line:?}:\n{text}");
    }
}

/// One container's directory: the root file system and podman's state.
struct Container {
    dir: PathBuf,
    name: String,
}

const MAIN: &str = "[Service]
ExecStart=/bin/sh -c 'trap \"echo main got HUP\" HUP; trap \"echo main got TERM; exit 0\" TERM; echo main up; while :; do sleep 1; done'
";
/// Exits once side.service has its trap set (a SIGTERM before that ends it silently).
const EXITS: &str = "[Service]
ExecStart=/bin/sh -c 'until [ -e /run/side-up ]; do sleep 0.05; done; echo about to exit 7; exit 7'
";
const SIDE: &str = "[Service]
ExecStart=/bin/sh -c 'trap \"echo side got TERM; exit 0\" TERM; echo side up; : > /run/side-up; while :; do sleep 1; done'
";
/// podman's default limits (1048576 descriptors, 4194304 processes) are more than a root
/// without CAP_SYS_RESOURCE may set, as in a build sandbox: the runtime's own then.
const CONTAINERS_CONF: &str = "[containers]\ndefault_ulimits = []\n";

impl Container {
    fn new(name: &str) -> Container {
        let dir = std::env::temp_dir().join(format!("vigil-podman-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let root = dir.join("rootfs");
        for d in [
            "bin",
            "usr/sbin",
            "usr/lib/vigil",
            "etc/vigil",
            "proc",
            "sys",
            "dev",
            "run",
            "tmp",
        ] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
        for tool in ["sh", "sleep", "echo", "cat"] {
            symlink("busybox", root.join("bin").join(tool)).unwrap();
        }
        let programs = [
            (init_bin(), "usr/sbin/vigil-init"),
            (sibling("vigild"), "usr/lib/vigil/vigild"),
            (sibling("vigil"), "usr/lib/vigil/vigil"),
        ];
        for (from, to) in &programs {
            fs::copy(from, root.join(to)).unwrap();
            for lib in libraries(from) {
                let inside = root.join(lib.strip_prefix("/").unwrap());
                fs::create_dir_all(inside.parent().unwrap()).unwrap();
                fs::copy(&lib, &inside).unwrap();
            }
        }
        for (unit, text) in [
            ("default.target", "[Unit]\nWants=side.service\n"),
            ("main.service", MAIN),
            ("exits.service", EXITS),
            ("side.service", SIDE),
        ] {
            fs::write(root.join("etc/vigil").join(unit), text).unwrap();
        }
        fs::write(dir.join("containers.conf"), CONTAINERS_CONF).unwrap();
        let name = format!("vigil-{name}-{}", std::process::id());
        Container { dir, name }
    }

    fn podman(&self, args: &[&str]) -> Output {
        let state = |d: &str| self.dir.join(d).to_str().unwrap().to_string();
        Command::new("podman")
            .args(["--runtime", "runc", "--storage-driver", "vfs"])
            .args(["--root", &state("storage"), "--runroot", &state("run")])
            .args(["--tmpdir", &state("tmp")])
            .args(args)
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .output()
            .unwrap()
    }

    /// `podman run ARGS --rootfs ROOT COMMAND...` for this container.
    fn run(&self, args: &[&str], command: &[&str]) -> Output {
        let root = self.dir.join("rootfs");
        let mut all = vec!["run", "--name", &self.name, "--network", "none"];
        all.extend(args);
        all.extend(["--rootfs", root.to_str().unwrap()]);
        all.extend(command);
        self.podman(&all)
    }

    fn logs(&self) -> String {
        text(&self.podman(&["logs", &self.name]))
    }

    /// Waits for `needle` in the container's log (read again every 100 ms).
    fn expect_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let logs = self.logs();
            if logs.contains(needle) {
                return logs;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the log:\n{logs}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.podman(&["rm", "--force", &self.name]);
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// The libraries `ldd` says a program loads (none for a static one).
fn libraries(program: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(program).output().unwrap();
    text(&out)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .collect()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// `podman run` without `-d`: the container ends when its main unit does, after the
/// other units stopped, with the main unit's exit code; each service's lines come out
/// prefixed by its unit.
#[test]
fn a_podman_container_exits_with_its_main_units_code() {
    if !usable("a_podman_container_exits_with_its_main_units_code") {
        return;
    }
    let c = Container::new("exit");
    // Killed by podman after 60 s should it never end, failing the test.
    let out = c.run(
        &["--timeout", "60"],
        &["/usr/sbin/vigil-init", "--main", "exits.service"],
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(7), "{said}");
    assert_has(
        &said,
        &[
            "vigil-init: started (container mode)",
            "exits.service: about to exit 7",
            "side.service: side got TERM",
            "vigild: every unit is stopped; exiting",
            "vigil-init: exiting with status 7",
        ],
    );
}

/// A detached container: `vigil` works inside (`podman exec`), `podman kill -s HUP`
/// reaches the main unit, and `podman stop` (SIGTERM) stops every unit in order and
/// the container exits 0, before podman's SIGKILL (exit 137).
#[test]
fn podman_stop_and_kill_reach_the_units() {
    if !usable("podman_stop_and_kill_reach_the_units") {
        return;
    }
    let c = Container::new("stop");
    let out = c.run(&["-d"], &["/usr/sbin/vigil-init", "--main", "main.service"]);
    assert!(out.status.success(), "{}", text(&out));
    c.expect_log("main.service: main up");
    c.expect_log("side.service: side up");
    let list = c.podman(&["exec", &c.name, "/usr/lib/vigil/vigil", "list"]);
    let listed = text(&list);
    assert!(list.status.success(), "{listed}");
    for unit in ["main.service", "side.service"] {
        let line = listed
            .lines()
            .find(|l| l.starts_with(unit))
            .unwrap_or_default();
        assert!(line.contains("running"), "{unit}:\n{listed}");
    }
    let out = c.podman(&["kill", "--signal", "HUP", &c.name]);
    assert!(out.status.success(), "{}", text(&out));
    c.expect_log("main.service: main got HUP");
    let out = c.podman(&["stop", "--time", "20", &c.name]);
    assert!(out.status.success(), "{}", text(&out));
    let state = c.podman(&["inspect", &c.name, "--format", "{{.State.ExitCode}}"]);
    let logs = c.logs();
    assert_eq!(text(&state).trim(), "0", "{logs}");
    assert_has(
        &logs,
        &[
            "vigil-init: started (container mode)",
            "main.service: main got TERM",
            "side.service: side got TERM",
            "vigild: every unit is stopped; exiting",
            "vigil-init: exiting with status 0",
        ],
    );
}

/// Debian 12 itself as a system container (scripts/podman/debian-container): its own
/// units (journald, rsyslog, dbus, logind, cron, sshd) with vigil's early-boot ones,
/// no failed unit, a machine ID, syslog working, and `podman stop` ending it with 0.
/// The first run makes the root file system with mmdebstrap (about a minute; shared
/// with the qemu boot of it); then about 20 s.
#[test]
fn debian_as_a_podman_system_container() {
    if !usable("debian_as_a_podman_system_container") {
        return;
    }
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/podman/debian-container");
    let out = Command::new(script)
        .arg("--bin-dir")
        .arg(sibling("vigild").parent().unwrap())
        .arg("--init-bin")
        .arg(init_bin())
        .output()
        .unwrap();
    let said = text(&out);
    if out.status.code() == Some(2) {
        skip("debian_as_a_podman_system_container", &said);
        return;
    }
    assert!(out.status.success(), "{said}");
    assert!(said.contains("debian-container: ok"), "{said}");
}
