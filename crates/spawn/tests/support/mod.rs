//! What the spawn tests share: a scratch directory, a `/bin/sh -c` command,
//! running it to its end, the root check of the privileged tests, and the
//! run as nobody of the tests of what fails without privileges.
#![allow(dead_code)]

use vigil_platform::exec::ExecStatus;
use vigil_platform::process::{ExitStatus, wait_blocking};
use vigil_spawn::{Context, prepare, spawn};
use vigil_units::{ExecCommand, Service};

/// A fresh directory for one test; open to every user, as a child may run as
/// another one.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vigil-spawn-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    dir
}

pub fn sh(script: &str) -> ExecCommand {
    ExecCommand {
        program: "sh".into(),
        argv: vec!["sh".into(), "-c".into(), script.into()],
        line: 1,
        ..ExecCommand::default()
    }
}

/// Prepares and spawns `cmd`; the exec outcome (known when spawn returns) and
/// the exit status.
pub fn run(service: &Service, cmd: &ExecCommand, ctx: Context) -> (ExecStatus, ExitStatus) {
    let prepared = prepare("test.service", service, cmd, ctx).unwrap();
    let child = spawn(&prepared).unwrap();
    drop(prepared);
    (child.exec, wait_blocking(child.pid).unwrap())
}

pub fn is_root() -> bool {
    vigil_platform::geteuid() == 0
}

/// Tests that need root skip without it, except under CI=true, where they must run.
pub fn require_root(why: &str) -> bool {
    if is_root() {
        return true;
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "CI=true: this test must run as root ({why})"
    );
    eprintln!("skipped: {why} needs root");
    false
}

/// Tests of what fails without privileges run as root too (CI is root): there
/// this runs the test `name` again, alone, in this test binary as nobody (uid
/// and gid 65534, no groups), checks that it ran and passed, and returns true.
/// Not root (that run included), it returns false: the caller's body runs.
pub fn again_as_nobody(name: &str) -> bool {
    if !is_root() {
        return false;
    }
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.contains("1 passed"),
        "{name} as nobody: {}\n{said}",
        out.status
    );
    true
}
