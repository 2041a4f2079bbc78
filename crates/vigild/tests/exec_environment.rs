//! The execution environment of systemd.exec(5) through a real vigild: the
//! directories a service asks for (created before ExecStartPre=, owned by its
//! user, removed or kept when it stops), User= with PermissionsStartOnly=,
//! DynamicUser=, PassEnvironment= and UnsetEnvironment=, the environment a
//! container's services inherit, and failures that name their directive.
//!
//! The directory tests use the system's real roots (/run, /var/lib), so they
//! need root; each uses names with the test's PID and removes them at the end.

mod harness;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use harness::{Manager, python, require_root, stdout_lines, wait_until};

/// Removes the listed paths when the test ends, however it ends.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = fs::remove_dir_all(p);
        }
    }
}

fn owner_and_mode(path: &Path) -> (u32, u32, u32) {
    let m = fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

/// The value of `name` in the output of `env`, one `NAME=VALUE` a line.
fn variable(lines: &[String], name: &str) -> Option<String> {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
        .map(str::to_string)
}

/// A oneshot unit printing its environment, then `END-OF-OUTPUT`.
fn env_unit(settings: &str) -> String {
    format!(
        "[Service]\nType=oneshot\n{settings}\
         ExecStart=/bin/sh -c '/usr/bin/env; echo END-OF-OUTPUT'\n"
    )
}

#[test]
fn pass_environment_takes_the_managers_values_and_unset_environment_comes_last() {
    let unit = env_unit(
        "PassEnvironment=VIGIL_TEST_PASSED VIGIL_TEST_SHADOWED VIGIL_TEST_ABSENT 1BAD\n\
         Environment=VIGIL_TEST_SHADOWED=unit VIGIL_TEST_DROPPED=x\n\
         UnsetEnvironment=VIGIL_TEST_DROPPED INVOCATION_ID\n",
    );
    let mut m = Manager::start_env(
        &[
            ("default.target", "[Unit]\nWants=e.service\n"),
            ("e.service", &unit),
        ],
        &[],
        &[
            ("VIGIL_TEST_PASSED", "from the manager"),
            ("VIGIL_TEST_SHADOWED", "manager"),
            ("VIGIL_TEST_NOT_NAMED", "secret"),
        ],
    );
    m.wait_log("e.service", "END-OF-OUTPUT");
    let lines = stdout_lines(&m, "e.service");
    let get = |name| variable(&lines, name);
    assert_eq!(
        get("VIGIL_TEST_PASSED").as_deref(),
        Some("from the manager")
    );
    assert_eq!(get("VIGIL_TEST_SHADOWED").as_deref(), Some("unit"));
    for absent in [
        "VIGIL_TEST_DROPPED",
        "INVOCATION_ID",
        "VIGIL_TEST_NOT_NAMED",
        "VIGIL_TEST_ABSENT",
    ] {
        assert_eq!(get(absent), None, "{absent}: {lines:?}");
    }
    // An invalid name is a warning naming file and line; neither directive is
    // "not enforced" any more.
    let warning = m.expect_stderr("PassEnvironment=: invalid variable name \"1BAD\"");
    assert!(
        warning.contains("e.service:3") && warning.contains("warning"),
        "{warning}"
    );
    // Every line of the load is in once the boot is over.
    m.expect_stderr("startup finished");
    let stderr = m.drain_stderr();
    assert!(
        !stderr.iter().any(|l| l.contains("not enforced")),
        "{stderr:?}"
    );
}

/// This process's user name and home, from /etc/passwd.
fn own_account() -> (String, String) {
    let uid = fs::metadata("/proc/self").unwrap().uid().to_string();
    let passwd = fs::read_to_string("/etc/passwd").unwrap();
    let fields: Vec<&str> = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.get(2) == Some(&uid.as_str()))
        .unwrap_or_else(|| panic!("uid {uid} in /etc/passwd"));
    (fields[0].to_string(), fields[5].to_string())
}

#[test]
fn in_a_container_services_inherit_vigilds_environment_under_what_vigil_sets() {
    let (user, home) = own_account();
    let container_path = "/opt/app/bin:/usr/local/bin:/usr/bin:/bin";
    let mut m = Manager::start_env(
        &[
            (
                "default.target",
                "[Unit]\nWants=plain.service user.service unset.service\n",
            ),
            ("plain.service", &env_unit("")),
            ("user.service", &env_unit(&format!("User={user}\n"))),
            (
                "unset.service",
                &env_unit("UnsetEnvironment=VIGIL_TEST_FROM_DOCKER\n"),
            ),
        ],
        &["--container"],
        &[
            ("VIGIL_TEST_FROM_DOCKER", "bar"),
            ("PATH", container_path),
            ("HOME", "/container-home"),
            // What vigild's own supervisor speaks to it with: never a service's.
            ("NOTIFY_SOCKET", "/outer/notify"),
            ("LISTEN_FDS", "3"),
            ("MAINPID", "1"),
        ],
    );
    for unit in ["plain.service", "user.service", "unset.service"] {
        m.wait_log(unit, "END-OF-OUTPUT");
    }
    let plain = stdout_lines(&m, "plain.service");
    let get = |name| variable(&plain, name);
    assert_eq!(get("VIGIL_TEST_FROM_DOCKER").as_deref(), Some("bar"));
    assert_eq!(get("PATH").as_deref(), Some(container_path));
    assert_eq!(get("HOME").as_deref(), Some("/container-home"));
    for absent in ["NOTIFY_SOCKET", "LISTEN_FDS", "MAINPID"] {
        assert_eq!(get(absent), None, "{absent}: {plain:?}");
    }
    let id = get("INVOCATION_ID").expect("vigild's own INVOCATION_ID");
    assert_eq!(id.len(), 32, "{id}");

    // User= sets HOME over the container's.
    let with_user = stdout_lines(&m, "user.service");
    assert_eq!(variable(&with_user, "HOME"), Some(home));
    assert_eq!(variable(&with_user, "USER"), Some(user));
    assert_eq!(
        variable(&with_user, "VIGIL_TEST_FROM_DOCKER").as_deref(),
        Some("bar")
    );

    let unset = stdout_lines(&m, "unset.service");
    assert_eq!(
        variable(&unset, "VIGIL_TEST_FROM_DOCKER"),
        None,
        "{unset:?}"
    );
    assert_eq!(variable(&unset, "PATH").as_deref(), Some(container_path));
    // Every line of the boot is in once it is over.
    m.expect_stderr("startup finished");
    let stderr = m.drain_stderr();
    assert!(!stderr.iter().any(|l| l.contains("error")), "{stderr:?}");
}

fn nobody() -> (u32, u32) {
    let f = harness::passwd_entry("nobody");
    (f[2].parse().unwrap(), f[3].parse().unwrap())
}

#[test]
fn directories_exist_before_exec_start_pre_and_runtime_goes_at_stop() {
    if !require_root("directories_exist_before_exec_start_pre_and_runtime_goes_at_stop") {
        return;
    }
    let name = format!("vigil-test-dirs-{}", std::process::id());
    let run = PathBuf::from("/run").join(&name);
    let state = PathBuf::from("/var/lib").join(&name);
    let _cleanup = Cleanup(vec![run.clone(), state.clone()]);
    let unit = format!(
        "[Service]\nUser=nobody\nRuntimeDirectory={name} {name}/sub\nRuntimeDirectoryMode=0710\n\
         StateDirectory={name}\n\
         ExecStartPre=/bin/sh -c 'echo pre=$$RUNTIME_DIRECTORY; touch $$STATE_DIRECTORY/pre'\n\
         ExecStart=/bin/sh -c 'echo main=$$(id -u) $$STATE_DIRECTORY; touch /run/{name}/ran; echo READY; exec sleep 1000'\n"
    );
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=d.service\n"),
        ("d.service", &unit),
    ]);
    m.wait_log("d.service", "READY");
    let (uid, gid) = nobody();
    let lines = stdout_lines(&m, "d.service");
    assert_eq!(
        lines[0],
        format!("pre={}:{}", run.display(), run.join("sub").display()),
        "{lines:?}"
    );
    assert_eq!(lines[1], format!("main={uid} {}", state.display()));
    assert_eq!(owner_and_mode(&run), (uid, gid, 0o710));
    assert_eq!(owner_and_mode(&run.join("sub")), (uid, gid, 0o710));
    assert_eq!(owner_and_mode(&state), (uid, gid, 0o755));
    assert!(run.join("ran").exists() && state.join("pre").exists());

    m.vigil_ok(&["stop", "d.service"]);
    m.wait_state("d.service", "inactive");
    wait_until("the runtime directory is removed", || !run.exists());
    assert!(state.join("pre").exists(), "StateDirectory= stays");
}

#[test]
fn runtime_directory_preserve_restart_keeps_it_across_automatic_restarts_only() {
    if !require_root("runtime_directory_preserve_restart_keeps_it_across_automatic_restarts_only") {
        return;
    }
    let pid = std::process::id();
    let kept = format!("vigil-test-keep-{pid}");
    let lost = format!("vigil-test-lose-{pid}");
    let _cleanup = Cleanup(vec![
        PathBuf::from("/run").join(&kept),
        PathBuf::from("/run").join(&lost),
    ]);
    // Each run counts itself in a file of its runtime directory and fails until
    // it has seen a previous run there.
    let counting = |dir: &str, preserve: &str| {
        format!(
            "[Service]\nRuntimeDirectory={dir}\nRuntimeDirectoryPreserve={preserve}\n\
             Restart=on-failure\nRestartSec=10ms\nStartLimitBurst=100\n\
             ExecStart=/bin/sh -c 'echo x >> $$RUNTIME_DIRECTORY/runs; n=$$(wc -l < $$RUNTIME_DIRECTORY/runs); echo runs=$$n; [ $$n -ge 2 ] && exec sleep 1000; exit 1'\n"
        )
    };
    let m = Manager::start(&[
        (
            "default.target",
            "[Unit]\nWants=keep.service lose.service\n",
        ),
        ("keep.service", &counting(&kept, "restart")),
        ("lose.service", &counting(&lost, "no")),
    ]);
    m.wait_log("keep.service", "runs=2");
    // Without preserving, every run starts from an empty directory.
    m.wait_log_count("lose.service", "runs=1", 3);
    assert!(
        !stdout_lines(&m, "lose.service").contains(&"runs=2".to_string()),
        "RuntimeDirectoryPreserve=no must empty it at each restart"
    );
    m.vigil_ok(&["stop", "keep.service", "lose.service"]);
    m.wait_state("keep.service", "inactive");
    let keep_dir = PathBuf::from("/run").join(&kept);
    wait_until("restart-preserved directory is removed at stop", || {
        !keep_dir.exists()
    });
}

#[test]
fn permissions_start_only_runs_the_other_commands_as_root() {
    if !require_root("permissions_start_only_runs_the_other_commands_as_root") {
        return;
    }
    let unit = "[Service]\nType=oneshot\nUser=nobody\nSupplementaryGroups=root\n\
                PermissionsStartOnly=yes\n\
                ExecStartPre=/bin/sh -c 'echo pre=$$(id -u)'\n\
                ExecStart=/bin/sh -c 'echo main=$$(id -u) groups=$$(id -G)'\n\
                ExecStartPost=/bin/sh -c 'echo post=$$(id -u); echo END-OF-OUTPUT'\n";
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=p.service\n"),
        ("p.service", unit),
    ]);
    m.wait_log("p.service", "END-OF-OUTPUT");
    let (uid, gid) = nobody();
    let lines = stdout_lines(&m, "p.service");
    assert_eq!(
        lines[..3],
        [
            "pre=0".to_string(),
            format!("main={uid} groups={gid} 0"),
            "post=0".to_string()
        ],
        "{lines:?}"
    );
}

#[test]
fn plus_and_bang_prefixes_keep_the_managers_user_double_bang_does_not() {
    if !require_root("plus_and_bang_prefixes_keep_the_managers_user_double_bang_does_not") {
        return;
    }
    // `+` lifts the capability bounding set too; `!` keeps it, as in systemd.
    let unit = "[Service]\nType=oneshot\nUser=nobody\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n\
                ExecStartPre=+/bin/sh -c 'echo plus=$$(id -u) $$(grep CapBnd /proc/self/status)'\n\
                ExecStartPre=!/bin/sh -c 'echo bang=$$(id -u) $$(grep CapBnd /proc/self/status)'\n\
                ExecStartPre=!!/bin/sh -c 'echo double=$$(id -u) $$(grep CapBnd /proc/self/status)'\n\
                ExecStart=/bin/sh -c 'echo main=$$(id -u) $$(grep CapBnd /proc/self/status); echo END-OF-OUTPUT'\n";
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=p.service\n"),
        ("p.service", unit),
    ]);
    m.wait_log("p.service", "END-OF-OUTPUT");
    let (uid, _) = nobody();
    let ours = fs::read_to_string("/proc/self/status").unwrap();
    let full = ours.lines().find(|l| l.starts_with("CapBnd:")).unwrap();
    let full = full.split_whitespace().nth(1).unwrap();
    let lines = stdout_lines(&m, "p.service");
    assert_eq!(
        lines[..4],
        [
            format!("plus=0 CapBnd: {full}"),
            "bang=0 CapBnd: 0000000000000400".to_string(),
            format!("double={uid} CapBnd: 0000000000000400"),
            format!("main={uid} CapBnd: 0000000000000400"),
        ],
        "{lines:?}"
    );
}

#[test]
fn dynamic_user_runs_under_a_transient_id_that_owns_its_state() {
    if !require_root("dynamic_user_runs_under_a_transient_id_that_owns_its_state") {
        return;
    }
    let name = format!("vigil-test-dyn-{}", std::process::id());
    let state = PathBuf::from("/var/lib").join(&name);
    let _cleanup = Cleanup(vec![state.clone()]);
    let unit = format!(
        "[Service]\nType=oneshot\nDynamicUser=yes\nStateDirectory={name}\n\
         ExecStart=/bin/sh -c 'echo id=$$(id -u):$$(id -g) user=$$USER; echo END-OF-OUTPUT'\n"
    );
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=dyn.service\n"),
        ("dyn.service", &unit),
    ]);
    m.wait_log("dyn.service", "END-OF-OUTPUT");
    let line = stdout_lines(&m, "dyn.service")[0].clone();
    let (ids, user) = line
        .strip_prefix("id=")
        .and_then(|r| r.split_once(" user="))
        .unwrap_or_else(|| panic!("{line}"));
    let (uid, gid) = ids.split_once(':').unwrap();
    let uid: u32 = uid.parse().unwrap();
    assert!((61184..=65519).contains(&uid), "{line}");
    assert_eq!(gid.parse::<u32>().unwrap(), uid);
    assert_eq!(user, "dyn");
    let (o_uid, o_gid, _) = owner_and_mode(&state);
    assert_eq!((o_uid, o_gid), (uid, uid));
}

/// Found by a tester: `$TERM` was never set, so Debian's getty@.service and
/// serial-getty@.service (`agetty ... - $TERM`) lost their last argument.
/// systemd sets it for a service on a terminal (`TTYPath=`, a tty stdin, a
/// tty or console output): the manager's own on /dev/console, `linux` on a
/// virtual console, `vt220` elsewhere, unless the unit sets it.
#[test]
fn term_is_set_for_services_on_a_terminal() {
    let getty = "[Service]\nType=oneshot\nTTYPath=/dev/%I\n\
                 ExecStart=/bin/echo agetty -o '-p -- \\\\u' --keep-baud 115200 - $TERM\n";
    let vc = env_unit("TTYPath=/dev/tty7\n");
    let pts = env_unit("TTYPath=/dev/pts/9\n");
    let own = env_unit("TTYPath=/dev/tty7\nEnvironment=TERM=dumb\n");
    let console = env_unit("StandardOutput=journal+console\n");
    let plain = env_unit("");
    let m = Manager::start_env(
        &[
            ("serial-getty@.service", getty),
            ("vc.service", &vc),
            ("pts.service", &pts),
            ("own.service", &own),
            ("console.service", &console),
            ("plain.service", &plain),
        ],
        &[],
        &[("TERM", "vigil-test-term")],
    );
    m.vigil_ok(&["start", "serial-getty@ttyS3.service"]);
    m.wait_state("serial-getty@ttyS3.service", "inactive");
    assert_eq!(
        stdout_lines(&m, "serial-getty@ttyS3.service"),
        ["agetty -o -p -- \\u --keep-baud 115200 - vt220"]
    );
    let term = |unit: &str| {
        m.vigil_ok(&["start", unit]);
        m.wait_log(unit, "END-OF-OUTPUT");
        variable(&stdout_lines(&m, unit), "TERM")
    };
    assert_eq!(term("vc.service").as_deref(), Some("linux"));
    assert_eq!(term("pts.service").as_deref(), Some("vt220"));
    assert_eq!(term("own.service").as_deref(), Some("dumb"));
    // On /dev/console: the manager's TERM (what a container was given).
    assert_eq!(term("console.service").as_deref(), Some("vigil-test-term"));
    // No terminal, no TERM: the manager's is not passed on.
    assert_eq!(term("plain.service"), None);
}

/// A pseudo-terminal held open by a python3 process until it is dropped,
/// its device left as the tester found it: `crw------- root root`.
struct Pty {
    holder: std::process::Child,
    path: PathBuf,
}

impl Pty {
    fn open() -> Pty {
        use std::io::BufRead;
        let script = "import os, pty, sys\n\
                      master, slave = pty.openpty()\n\
                      name = os.ttyname(slave)\n\
                      os.chown(name, 0, 0)\n\
                      os.chmod(name, 0o600)\n\
                      print(name, flush=True)\n\
                      sys.stdin.read()\n";
        let mut holder = std::process::Command::new(python())
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        let stdout = holder.stdout.take().expect("stdout");
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the pty's name");
        assert!(line.starts_with("/dev/pts/"), "{line:?}");
        Pty {
            holder,
            path: PathBuf::from(line.trim_end()),
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        // End of its stdin ends the holder, and with it the terminal.
        drop(self.holder.stdin.take());
        let _ = self.holder.wait();
    }
}

/// A regular file, mode 0644, to give as `TTYPath=`: opened as stdin, but
/// no terminal (and not to be touched as one).
fn not_a_terminal(dir: &Path) -> PathBuf {
    let path = dir.join("not-a-tty");
    fs::write(&path, "").unwrap();
    fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    path
}

/// Found by a tester: with `User=nobody`, `StandardInput=tty` and a
/// `TTYPath=` the service could not open its own terminal (`Permission
/// denied`; the device stayed root's, 0600). systemd hands a terminal on
/// stdin to the service's user (owner only, mode 0620) before dropping
/// privileges; something else on stdin is never touched.
#[test]
fn a_terminal_on_stdin_is_handed_to_the_services_user() {
    if !require_root("a_terminal_on_stdin_is_handed_to_the_services_user") {
        return;
    }
    let pty = Pty::open();
    let (uid, _) = nobody();
    let d = harness::TempDir::new("ttyowner");
    let not_tty = not_a_terminal(d.path());
    let unit = |tty: &Path| {
        format!(
            "[Service]\nUser=nobody\nStandardInput=tty\nStandardOutput=journal\n\
             TTYPath={}\n\
             ExecStart=/bin/sh -c 'stat -c \"owner=%%u mode=%%a\" {tty}; \
             if ( : 3<>{tty} ) 2>/dev/null; then echo opened; else echo cannot-open; fi; \
             echo END-OF-OUTPUT; exec sleep 100'\n",
            tty.display(),
            tty = tty.display()
        )
    };
    let m = Manager::start(&[
        ("getty.service", &unit(&pty.path)),
        ("file.service", &unit(&not_tty)),
    ]);
    m.vigil_ok(&["start", "getty", "file"]);
    m.wait_log("getty.service", "END-OF-OUTPUT");
    assert_eq!(
        stdout_lines(&m, "getty.service")[..2],
        [format!("owner={uid} mode=620"), "opened".to_string()]
    );
    // The group is kept.
    assert_eq!(owner_and_mode(&pty.path), (uid, 0, 0o620));
    m.wait_log("file.service", "END-OF-OUTPUT");
    assert_eq!(owner_and_mode(&not_tty), (0, 0, 0o644));
    assert_eq!(m.state("file.service"), "running");
}

/// A terminal handed to `User=` at the start stayed that user's once the
/// service had ended. systemd gives it back whenever a service on a terminal
/// ends (exec_context_revert_tty(): owner root, group tty, which is gid 5,
/// mode 0620): stopped, or ended on its own before its automatic restart;
/// with `StandardOutput=tty` alone too. Something else as `TTYPath=` (a
/// regular file) is left alone.
#[test]
fn a_terminal_is_given_back_to_root_when_its_service_ends() {
    if !require_root("a_terminal_is_given_back_to_root_when_its_service_ends") {
        return;
    }
    const TTY_GID: u32 = 5;
    let pty = Pty::open();
    let (uid, _) = nobody();
    let d = harness::TempDir::new("ttyback");
    let not_tty = not_a_terminal(d.path());
    let unit = |tty: &Path, settings: &str| {
        format!(
            "[Service]\nTTYPath={}\n{settings}\
             ExecStart=/bin/sh -c 'echo END-OF-OUTPUT; exec sleep 100'\n",
            tty.display(),
        )
    };
    let on_stdin = "User=nobody\nStandardInput=tty\nStandardOutput=journal\n";
    let m = Manager::start(&[
        ("getty.service", &unit(&pty.path, on_stdin)),
        (
            "crash.service",
            &format!(
                "[Service]\nTTYPath={}\n{on_stdin}ExecStart=/bin/sh -c 'exit 3'\n\
                 Restart=on-failure\nRestartSec=1h\n",
                pty.path.display()
            ),
        ),
        (
            "out.service",
            &unit(&pty.path, "StandardOutput=tty\nStandardError=journal\n"),
        ),
        ("file.service", &unit(&not_tty, on_stdin)),
    ]);
    let reset = || {
        std::os::unix::fs::chown(&pty.path, Some(0), Some(0)).unwrap();
        fs::set_permissions(
            &pty.path,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
    };

    m.vigil_ok(&["start", "getty"]);
    m.wait_log("getty.service", "END-OF-OUTPUT");
    assert_eq!(owner_and_mode(&pty.path), (uid, 0, 0o620));
    m.vigil_ok(&["stop", "getty"]);
    assert_eq!(owner_and_mode(&pty.path), (0, TTY_GID, 0o620));

    // Ended on its own: given back before it waits to restart.
    reset();
    m.vigil_ok(&["start", "--no-block", "crash"]);
    m.wait_state("crash.service", "restarting");
    assert_eq!(owner_and_mode(&pty.path), (0, TTY_GID, 0o620));
    m.vigil_ok(&["stop", "crash"]);

    // Not handed over (no User=, nothing on stdin), given back all the same.
    reset();
    m.vigil_ok(&["start", "out"]);
    m.vigil_ok(&["stop", "out"]);
    assert_eq!(owner_and_mode(&pty.path), (0, TTY_GID, 0o620));

    m.vigil_ok(&["start", "file"]);
    m.wait_log("file.service", "END-OF-OUTPUT");
    m.vigil_ok(&["stop", "file"]);
    assert_eq!(owner_and_mode(&not_tty), (0, 0, 0o644));
    m.wait_log("file.service", "is not a character device");
}

/// The uid a unit printed as `uid=N`.
fn printed_uid(m: &Manager, unit: &str) -> u32 {
    let line = m.wait_log(unit, "uid=");
    let uid = line.rsplit("uid=").next().unwrap_or_default();
    uid.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{unit}: {line}: {e}"))
}

/// Found by a tester: every instance of a `DynamicUser=` template got an id
/// of its own, so the second instance's start handed `/var/lib/web` to its
/// id and the first could no longer write its state. systemd names the user
/// after the unit's prefix (`web`) and shares one id among the running units
/// of that name; so do two units with the same `User=`.
#[test]
fn dynamic_user_instances_and_units_of_one_name_share_its_id() {
    if !require_root("dynamic_user_instances_and_units_of_one_name_share_its_id") {
        return;
    }
    let pid = std::process::id();
    // A prefix no /etc/passwd has: the template's instances run as it.
    let prefix = format!("vigildyn{pid}");
    let state_name = format!("vigil-test-dynshare-{pid}");
    let state = PathBuf::from("/var/lib").join(&state_name);
    let shared_state = PathBuf::from("/var/lib").join(format!("{state_name}-user"));
    let _cleanup = Cleanup(vec![state.clone(), shared_state.clone()]);
    let go = std::env::temp_dir().join(format!("vigil-test-dynshare-go-{pid}"));
    let _ = fs::remove_file(&go);
    // Each unit says its uid, waits until the test has started all of them,
    // then writes into the state directory they share.
    let body = |state: &str, file: &str| {
        format!(
            "DynamicUser=yes\nStateDirectory={state}\n\
             ExecStart=/bin/sh -c 'echo \"$$USER uid=$$(id -u)\"; \
             while [ ! -e {go} ]; do sleep 0.05; done; \
             touch \"$$STATE_DIRECTORY/{file}\" && echo wrote || echo cannot-write; \
             exec sleep 100'\n",
            go = go.display()
        )
    };
    let template = format!("[Service]\n{}", body(&state_name, "%i"));
    let plain = |file: &str| {
        format!(
            "[Service]\nUser=vigilshared{pid}\n{}",
            body(&format!("{state_name}-user"), file)
        )
    };
    let m = Manager::start(&[
        (&format!("{prefix}@.service"), &template),
        ("one.service", &plain("one")),
        ("two.service", &plain("two")),
    ]);
    let a = format!("{prefix}@a.service");
    let b = format!("{prefix}@b.service");
    m.vigil_ok(&["start", &a]);
    let uid_a = printed_uid(&m, &a);
    m.vigil_ok(&["start", &b]);
    let uid_b = printed_uid(&m, &b);
    assert!((61184..=65519).contains(&uid_a), "{uid_a}");
    assert_eq!(uid_a, uid_b, "instances of one template share the user");
    assert_eq!(
        stdout_lines(&m, &a)[0],
        format!("{prefix} uid={uid_a}"),
        "$USER is the prefix"
    );
    assert_eq!(owner_and_mode(&state).0, uid_a);

    m.vigil_ok(&["start", "one", "two"]);
    let uid_one = printed_uid(&m, "one.service");
    assert_eq!(uid_one, printed_uid(&m, "two.service"), "one User=, one id");
    assert_ne!(uid_one, uid_a, "another name, another id");

    fs::write(&go, "").unwrap();
    for unit in [a.as_str(), &b, "one.service", "two.service"] {
        m.wait_log(unit, "wrote");
    }
    for (dir, file) in [
        (&state, "a"),
        (&state, "b"),
        (&shared_state, "one"),
        (&shared_state, "two"),
    ] {
        assert!(dir.join(file).exists(), "{}/{file}", dir.display());
    }

    // The id is held while any unit of the name runs: a new instance started
    // after the first stopped still finds it.
    m.vigil_ok(&["stop", &a]);
    m.wait_state(&a, "inactive");
    let c = format!("{prefix}@c.service");
    m.vigil_ok(&["start", &c]);
    assert_eq!(printed_uid(&m, &c), uid_b);
    m.wait_log(&c, "wrote");
    let _ = fs::remove_file(&go);
}

#[test]
fn a_missing_user_fails_the_unit_with_a_message_naming_user() {
    let unit = "[Service]\nType=oneshot\nUser=vigil-no-such-user\nExecStart=/bin/true\n";
    let group =
        "[Service]\nType=oneshot\nSupplementaryGroups=vigil-no-such-group\nExecStart=/bin/true\n";
    let m = Manager::start(&[
        (
            "default.target",
            "[Unit]\nWants=nouser.service nogroup.service\n",
        ),
        ("nouser.service", unit),
        ("nogroup.service", group),
    ]);
    let line = m.wait_log(
        "nouser.service",
        "User=vigil-no-such-user: no such user in /etc/passwd",
    );
    assert!(line.contains("cannot start"), "{line}");
    m.wait_state("nouser.service", "failed");
    // The state says what is wrong, not ESRCH's "No such process".
    assert_eq!(
        m.status_json("nouser.service")["reason"],
        "exec failed at user: no such user vigil-no-such-user"
    );
    m.wait_state("nogroup.service", "failed");
    assert_eq!(
        m.status_json("nogroup.service")["reason"],
        "exec failed at user: no such group vigil-no-such-group (SupplementaryGroups=)"
    );
}

#[test]
fn a_limit_above_what_the_kernel_allows_is_lowered_and_the_unit_runs() {
    // Above fs.nr_open: refused even to root, so the closest limit is used (the
    // current hard limit), as systemd does; Debian's redis-server.service asks
    // for LimitNOFILE=65535, above what a container's root may set.
    let hard = nofile_hard_limit();
    let unit = format!(
        "[Service]\nType=oneshot\nRemainAfterExit=yes\nLimitNOFILE=1099511627776\n\
         ExecStart=/bin/sh -c 'test \"$(ulimit -Hn)\" = {hard}'\n"
    );
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=lim.service\n"),
        ("lim.service", &unit),
    ]);
    m.wait_state("lim.service", "exited");
}

#[test]
fn syslog_identifier_tags_the_units_lines() {
    let unit = "[Service]\nType=oneshot\nSyslogIdentifier=webby\nStandardOutput=journal+console\n\
                ExecStart=/bin/sh -c 'echo hello from the unit'\n";
    let mut m = Manager::start(&[
        ("default.target", "[Unit]\nWants=tagged.service\n"),
        ("tagged.service", unit),
    ]);
    // The console sink shows the tag where it would show the unit name.
    let line = m.expect_stdout("hello from the unit");
    assert_eq!(line, "webby: hello from the unit");
    // `vigil log` files the line under the unit and shows the tag.
    let json = m.log_json("tagged.service");
    let hello = json
        .iter()
        .find(|l| l["line"] == "hello from the unit")
        .expect("the line in the unit's log");
    assert_eq!(hello["tag"], "webby");
    assert_eq!(hello["unit"], "tagged.service");
    let text = m.vigil_ok(&["log", "tagged.service"]);
    assert!(
        text.lines()
            .any(|l| l.ends_with(" webby: hello from the unit")),
        "{text}"
    );
    // The manager's own lines about the unit keep its name.
    assert!(
        json.iter()
            .filter(|l| l["stream"] == "vigil")
            .all(|l| l.get("tag").is_none()),
        "{json:?}"
    );
}

/// This process's hard RLIMIT_NOFILE (a child inherits it).
fn nofile_hard_limit() -> u64 {
    let (_, hard) =
        vigil_platform::process::get_rlimit(vigil_platform::exec::RlimitResource::Nofile);
    hard.expect("a finite hard limit of open files")
}

/// A small server in Python: prints its capability sets, binds
/// 127.0.0.1:`argv[1]` (printing `bind: EACCES` and exiting 1 when refused),
/// then answers every connection with `hello from <uid>`.
const CAPABILITY_SERVER: &str = r#"import errno, os, socket, sys
caps = dict(l.split()[:2] for l in open('/proc/self/status') if l.startswith('Cap'))
print(' '.join(k + '=' + caps[k + ':'] for k in ('CapPrm', 'CapEff', 'CapAmb')), flush=True)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(('127.0.0.1', int(sys.argv[1])))
except OSError as e:
    print('bind:', errno.errorcode.get(e.errno, e.errno), flush=True)
    sys.exit(1)
s.listen(4)
print('listening', flush=True)
while True:
    c, _ = s.accept()
    c.sendall(b'hello from %d\n' % os.getuid())
    c.close()
"#;

#[test]
fn ambient_capabilities_let_user_nobody_serve_on_a_privileged_port() {
    if !require_root("ambient_capabilities_let_user_nobody_serve_on_a_privileged_port") {
        return;
    }
    use std::io::Read;
    let python = python();
    let dir = harness::TempDir::new("ambient");
    let script = dir.path().join("server.py");
    fs::write(&script, CAPABILITY_SERVER).unwrap();
    let port = (81..1024u16)
        .find(|&p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        .expect("a free port below 1024");
    let unprivileged_start = fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .map_or(1024, |s| s.trim().parse::<u32>().unwrap());
    let exec = format!("{python} {} {port}", script.display());
    // Names in any spelling; the second line takes CAP_NET_RAW back and
    // ignores the unknown name; a `+` command
    // keeps root's sets and gets no ambient ones.
    let granted = format!(
        "[Service]\nUser=nobody\nAmbientCapabilities=CAP_NET_RAW cap_net_bind_service\n\
         AmbientCapabilities=~net_raw CAP_NO_SUCH_THING\n\
         ExecStartPre=+/bin/sh -c 'grep CapAmb /proc/self/status'\nExecStart={exec}\n"
    );
    let refused = format!("[Service]\nUser=nobody\nExecStart={exec}\n");
    let mut m = Manager::start(&[
        ("default.target", "[Unit]\nWants=granted.service\n"),
        ("granted.service", &granted),
        ("refused.service", &refused),
    ]);
    m.wait_log("granted.service", "listening");
    let lines = stdout_lines(&m, "granted.service");
    println!("granted.service: {lines:?}");
    assert_eq!(
        lines[..3],
        [
            "CapAmb:\t0000000000000000",
            "CapPrm=0000000000000400 CapEff=0000000000000400 CapAmb=0000000000000400",
            "listening"
        ],
        "{lines:?}"
    );
    let mut reply = String::new();
    std::net::TcpStream::connect(("127.0.0.1", port))
        .unwrap()
        .read_to_string(&mut reply)
        .unwrap();
    let (uid, _) = nobody();
    assert_eq!(reply, format!("hello from {uid}\n"));
    // The unknown name is a warning at load, not an error.
    let warning = m.expect_stderr("unknown capability \"CAP_NO_SUCH_THING\", ignored");
    assert!(warning.contains("granted.service:4"), "{warning}");
    m.vigil_ok(&["stop", "granted.service"]);
    m.wait_state("granted.service", "inactive");

    m.vigil_ok(&["start", "refused.service"]);
    m.wait_log("refused.service", "CapPrm=");
    let lines = stdout_lines(&m, "refused.service");
    assert_eq!(
        lines[0],
        "CapPrm=0000000000000000 CapEff=0000000000000000 CapAmb=0000000000000000"
    );
    // Where ip_unprivileged_port_start lets anyone bind the port (Docker sets 0),
    // the sets are still checked; only the refusal cannot be seen.
    if u32::from(port) < unprivileged_start {
        m.wait_log("refused.service", "bind: EACCES");
        m.wait_state("refused.service", "failed");
    }
}

/// ExecStop= and ExecStopPost= get systemd's `$SERVICE_RESULT`, and once the
/// main process has ended `$EXIT_CODE` and `$EXIT_STATUS` (systemd.exec(5)):
/// what clean-up and alerting scripts read.
#[test]
fn stop_commands_get_the_result_and_the_main_exit() {
    let d = harness::TempDir::new("stop-env");
    let out = |name: &str| d.path().join(name);
    let record = |name: &str| {
        format!(
            "/bin/sh -c 'echo \"$$SERVICE_RESULT $${{EXIT_CODE:-none}} $${{EXIT_STATUS:-none}}\" >> {}'",
            out(name).display()
        )
    };
    let crash = format!(
        "[Service]\nExecStart=/bin/sh -c 'exit 3'\nExecStopPost={}\n",
        record("crash")
    );
    let stopped = format!(
        "[Service]\nExecStart=/bin/sleep 1000\nExecStop={}\nExecStopPost={}\n",
        record("stopped"),
        record("stopped")
    );
    // A program that never ran: 203, as systemd's child exits (review finding:
    // both were empty).
    let missing = format!(
        "[Service]\nExecStart=/nonexistent/program\nExecStopPost={}\n",
        record("missing")
    );
    // Skipped by ExecCondition=: `exec-condition` (review finding: it was
    // `resources`; GNOME's units test for it).
    let skipped = format!(
        "[Service]\nExecCondition=/bin/false\nExecStart=/bin/sleep 1000\nExecStopPost={}\n",
        record("skipped")
    );
    let m = Manager::start(&[
        (
            "default.target",
            "[Unit]\nWants=crash.service stopped.service missing.service skipped.service\n",
        ),
        ("crash.service", &crash),
        ("stopped.service", &stopped),
        ("missing.service", &missing),
        ("skipped.service", &skipped),
    ]);
    m.wait_state("stopped.service", "running");
    m.vigil_ok(&["stop", "stopped"]);
    wait_until("the records", || {
        ["crash", "missing", "skipped"]
            .iter()
            .all(|f| fs::read_to_string(out(f)).is_ok_and(|t| t.ends_with('\n')))
    });
    assert_eq!(
        fs::read_to_string(out("crash")).unwrap(),
        "exit-code exited 3\n"
    );
    assert_eq!(
        fs::read_to_string(out("missing")).unwrap(),
        "exit-code exited 203\n"
    );
    let status = m.status_json("missing");
    assert_eq!(status["last_exit"], "exited 203");
    let reason = "exec failed at exec: /nonexistent/program: No such file or directory";
    assert_eq!(status["reason"], reason, "{status}");
    assert_eq!(
        fs::read_to_string(out("skipped")).unwrap(),
        "exec-condition none none\n"
    );
    // ExecStop= runs while the main process still does; ExecStopPost= after
    // SIGTERM ended it.
    assert_eq!(
        fs::read_to_string(out("stopped")).unwrap(),
        "success none none\nsuccess killed TERM\n"
    );
}

/// The lines of a file the test's units append to, once it has `n` of them.
fn wait_lines(path: &Path, n: usize) -> Vec<String> {
    wait_until(&format!("{n} lines in {}", path.display()), || {
        fs::read_to_string(path).is_ok_and(|t| t.ends_with('\n') && t.lines().count() >= n)
    });
    let text = fs::read_to_string(path).unwrap();
    text.lines().map(str::to_string).collect()
}

/// A shell command appending `WHAT` and the `$MONITOR_*` variables (`-` when
/// unset) to `file`.
fn record_monitor(what: &str, file: &Path) -> String {
    format!(
        "/bin/sh -c 'echo \"{what} $${{MONITOR_SERVICE_RESULT:--}} $${{MONITOR_EXIT_CODE:--}} \
         $${{MONITOR_EXIT_STATUS:--}} $${{MONITOR_UNIT:--}} $${{MONITOR_INVOCATION_ID:--}}\" >> {}'",
        file.display()
    )
}

/// What failure-notification units (`OnFailure=notify@%n.service`) read:
/// `ExecStartPre=` and `ExecStart=` of a unit started by another's
/// `OnFailure=` or `OnSuccess=` get that unit's result, its main exit, the
/// INVOCATION_ID of its main process and its name as `$MONITOR_*`
/// (systemd.exec(5)); `ExecStartPost=` does not, as in systemd. The source
/// comes from the files, so a start by hand gets them too.
#[test]
fn a_unit_started_by_on_failure_or_on_success_gets_the_triggering_units_result() {
    let d = harness::TempDir::new("monitor");
    let out = |name: &str| d.path().join(name);
    let notify = format!(
        "[Service]\nType=oneshot\nExecStartPre={}\nExecStart={}\nExecStartPost={}\n",
        record_monitor("pre", &out("%i")),
        record_monitor("start", &out("%i")),
        record_monitor("post", &out("%i")),
    );
    let source = |trigger: &str, service: &str, script: &str, name: &str| {
        format!(
            "[Unit]\n{trigger}=notify@%n.service\n[Service]\n{service}\
             ExecStart=/bin/sh -c 'echo $$INVOCATION_ID > {}; {script}'\n",
            out(&format!("{name}.id")).display()
        )
    };
    let crash = source("OnFailure", "", "exit 3", "crash");
    let killed = source("OnFailure", "", "kill -KILL $$$$", "killed");
    let done = source("OnSuccess", "Type=oneshot\n", "exit 0", "done");
    let m = Manager::start(&[
        (
            "default.target",
            "[Unit]\nWants=crash.service killed.service done.service\n",
        ),
        ("crash.service", &crash),
        ("killed.service", &killed),
        ("done.service", &done),
        ("notify@.service", &notify),
    ]);
    let id = |name: &str| fs::read_to_string(out(&format!("{name}.id"))).unwrap();
    for (name, result) in [
        ("crash", "exit-code exited 3"),
        ("killed", "signal killed KILL"),
        ("done", "success exited 0"),
    ] {
        let lines = wait_lines(&out(&format!("{name}.service")), 3);
        let id = id(name);
        let expected = format!("{result} {name}.service {}", id.trim());
        assert_eq!(id.trim().len(), 32, "{id}");
        assert_eq!(
            lines,
            [
                format!("pre {expected}"),
                format!("start {expected}"),
                "post - - - - -".to_string()
            ]
        );
    }
    m.vigil_ok(&["start", "notify@crash.service.service"]);
    let lines = wait_lines(&out("crash.service"), 6);
    assert_eq!(lines[3..5], lines[..2]);
}

/// A unit that several units name in `OnFailure=`/`OnSuccess=` gets no
/// `$MONITOR_*` (which one triggered it is not known), as in systemd, and
/// says why; one unit naming it in both `OnFailure=` and `OnSuccess=` is one
/// source.
#[test]
fn a_unit_named_by_several_on_failure_gets_no_monitor_variables_and_says_why() {
    let d = harness::TempDir::new("monitor-shared");
    let out = |name: &str| d.path().join(name);
    let handler = |file: &str| {
        format!(
            "[Service]\nType=oneshot\nExecStart={}\n",
            record_monitor("start", &out(file))
        )
    };
    let m = Manager::start(&[
        (
            "default.target",
            "[Unit]\nWants=x.service y.service z.service\n",
        ),
        (
            "x.service",
            "[Unit]\nOnFailure=shared.service\n[Service]\nExecStart=/bin/false\n",
        ),
        (
            "y.service",
            "[Unit]\nOnFailure=shared.service\n[Service]\nExecStart=/bin/sleep 1000\n",
        ),
        (
            "z.service",
            "[Unit]\nOnFailure=both.service\nOnSuccess=both.service\n\
             [Service]\nType=oneshot\nExecStart=/bin/true\n",
        ),
        ("shared.service", &handler("shared")),
        ("both.service", &handler("both")),
    ]);
    m.wait_log(
        "shared.service",
        "named by the OnFailure= or OnSuccess= of several units (x.service, y.service): \
         no MONITOR_* variables",
    );
    assert_eq!(wait_lines(&out("shared"), 1), ["start - - - - -"]);
    let both = wait_lines(&out("both"), 1);
    assert!(
        both[0].starts_with("start success exited 0 z.service "),
        "{both:?}"
    );
}

/// `$SYSTEMD_EXEC_PID` is each process's own PID (systemd.exec(5)), and
/// `$PIDFILE` the path of `PIDFile=`, in every process of the unit: a
/// forking daemon writes its PID where the unit reads it.
#[test]
fn every_process_gets_its_own_pid_and_pidfile_names_the_pid_file() {
    let d = harness::TempDir::new("exec-pid");
    let out = |name: &str| d.path().join(name);
    let record = |what: &str, file: &str| {
        format!(
            "/bin/sh -c 'echo \"{what} $$$$ $${{SYSTEMD_EXEC_PID:--}} $${{PIDFILE:--}}\" >> {}'",
            out(file).display()
        )
    };
    let pid_file = out("daemon.pid");
    let daemon = format!(
        "[Service]\nType=forking\nPIDFile={}\nExecStartPre={}\n\
         ExecStart=/bin/sh -c '/bin/sleep 1000 & echo $$! > \"$$PIDFILE\"'\n\
         ExecStartPost={}\nExecStop={}\n",
        pid_file.display(),
        record("pre", "daemon"),
        record("post", "daemon"),
        record("stop", "daemon"),
    );
    let plain = format!(
        "[Service]\nType=oneshot\nExecStart={}\n",
        record("start", "plain")
    );
    let unset = format!(
        "[Service]\nType=oneshot\nUnsetEnvironment=SYSTEMD_EXEC_PID\nExecStart={}\n",
        record("start", "unset")
    );
    let m = Manager::start(&[
        (
            "default.target",
            "[Unit]\nWants=daemon.service plain.service unset.service\n",
        ),
        ("daemon.service", &daemon),
        ("plain.service", &plain),
        ("unset.service", &unset),
    ]);
    m.wait_state("daemon.service", "running");
    let main = m.main_pid("daemon.service");
    assert_eq!(
        fs::read_to_string(&pid_file).unwrap().trim(),
        main.to_string()
    );
    m.vigil_ok(&["stop", "daemon"]);
    let lines = wait_lines(&out("daemon"), 3);
    for (line, what) in lines.iter().zip(["pre", "post", "stop"]) {
        let words: Vec<&str> = line.split(' ').collect();
        assert_eq!(words.len(), 4, "{line}");
        assert_eq!(words[0], what, "{lines:?}");
        assert_eq!(words[1], words[2], "{line}: $$ and $SYSTEMD_EXEC_PID");
        assert_eq!(words[3], pid_file.display().to_string(), "{line}");
    }
    let plain = wait_lines(&out("plain"), 1);
    let words: Vec<&str> = plain[0].split(' ').collect();
    assert_eq!(words[1], words[2], "{plain:?}");
    assert_eq!(words[3], "-", "no PIDFile=: {plain:?}");
    let unset = wait_lines(&out("unset"), 1);
    assert!(unset[0].ends_with(" - -"), "{unset:?}");
}
