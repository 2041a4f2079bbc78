//! The emergency shell (issue 3): when the boot target cannot be reached, or
//! with `--emergency` (the kernel's `vigil.emergency`), vigild asks vigil-init
//! for its emergency shell and keeps running, so `vigil` works in it; when the
//! shell exits, the boot target is tried again. The shell here is a script
//! that does what an operator would: look, fix, exit.

mod harness;

use std::fs;
use std::path::Path;

use harness::{Manager, TempDir, require_root, vigil_bin, wait_until};

/// A shell that records each run and `vigil list`, then runs `fix`.
fn shell(dir: &Path, socket: &Path, fix: &str) -> String {
    let path = dir.join("shell");
    let text = format!(
        "#!/bin/sh\necho run >> {d}/shell.runs\n{vigil} --socket {s} list > {d}/shell.list 2>&1\n{fix}\n",
        d = dir.display(),
        vigil = vigil_bin().display(),
        s = socket.display(),
    );
    harness::write_executable(&path, &text);
    path.display().to_string()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn a_boot_target_that_fails_gets_the_emergency_shell_and_boots_on_once_fixed() {
    if !require_root("a_boot_target_that_fails_gets_the_emergency_shell_and_boots_on_once_fixed") {
        return;
    }
    let out = TempDir::new("emergency");
    let d = out.path();
    let program = d.join("needed-program");
    let socket = d.join("control.sock");
    // The operator's fix: the program the required service runs appears
    // (once late.service, below, has failed for want of it). What the
    // operator saw is listed again then: the shell's first look may come
    // while asker.service's start of late.service tries needed.service again.
    let fix = format!(
        "until {vigil} --socket {s} status late --json | grep -q 'dependency failed'; do sleep 0.02; done\n\
         {vigil} --socket {s} list > {d}/shell.list 2>&1\n\
         printf '#!/bin/sh\\nexec sleep 1000\\n' > {p}; chmod 755 {p}",
        vigil = vigil_bin().display(),
        s = socket.display(),
        d = d.display(),
        p = program.display()
    );
    let shell = shell(d, &socket, &fix);
    let needed = format!("[Service]\nType=exec\nExecStart={}\n", program.display());
    // As vigil-getty starts each getty, its own job, outside the boot's:
    // failed by the failure, it is asked for again once the shell exits
    // (review finding: a serial console got no login prompt back).
    let asker = format!(
        "[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\nRemainAfterExit=yes\n\
         ExecStart={} --socket {} start --no-block late.service\n",
        vigil_bin().display(),
        socket.display()
    );
    let mut m = Manager::start_under_init_with(
        &[
            (
                "default.target",
                "[Unit]\nRequires=needed.service\nAfter=needed.service\nWants=asker.service\n",
            ),
            ("needed.service", &needed),
            ("asker.service", &asker),
            (
                "late.service",
                "[Unit]\nRequires=needed.service\nAfter=needed.service\n\
                 [Service]\nExecStart=/bin/sleep 1000\n",
            ),
        ],
        &["--shell", &shell],
        &["--socket", socket.to_str().unwrap()],
    );
    m.expect_stderr("default.target cannot be reached; needed.service failed (exec failed");
    m.expect_stderr("emergency shell on the console");
    m.expect_stderr("emergency shell ended: starting default.target");
    m.wait_state("needed.service", "running");
    m.wait_state("late.service", "running");
    m.wait_state("default.target", "running");
    m.expect_stderr("startup finished: default.target reached");
    assert_eq!(read(&d.join("shell.runs")), "run\n", "one shell");
    let list = read(&d.join("shell.list"));
    let row = list
        .lines()
        .find(|l| l.starts_with("needed.service"))
        .unwrap_or_else(|| panic!("vigil list in the shell: {list}"));
    assert!(row.contains("failed"), "{list}");
}

#[test]
fn emergency_mode_starts_nothing_until_the_shell_exits() {
    if !require_root("emergency_mode_starts_nothing_until_the_shell_exits") {
        return;
    }
    let out = TempDir::new("emergency-mode");
    let d = out.path();
    let socket = d.join("control.sock");
    let shell = shell(d, &socket, "");
    let svc = format!(
        "[Service]\nExecStart=/bin/sh -c 'echo started >> {}/svc.starts; exec sleep 1000'\n",
        d.display()
    );
    let mut m = Manager::start_under_init_with(
        &[
            ("default.target", "[Unit]\nWants=svc.service\n"),
            ("svc.service", &svc),
        ],
        &["--shell", &shell],
        &["--socket", socket.to_str().unwrap(), "--emergency"],
    );
    m.expect_stderr("emergency mode asked for");
    m.wait_state("svc.service", "running");
    let list = read(&d.join("shell.list"));
    let row = list
        .lines()
        .find(|l| l.starts_with("svc.service"))
        .unwrap_or_else(|| panic!("vigil list in the shell: {list}"));
    assert!(
        row.contains("inactive"),
        "nothing ran before the shell: {list}"
    );
    wait_until("one start", || read(&d.join("svc.starts")) == "started\n");
}

#[test]
fn a_container_gets_one_emergency_shell_not_a_loop() {
    // A shell that ends at once (as `docker run -d` gives it: stdin at
    // /dev/null) and a boot target that fails every time: one shell, one
    // retry, then the failure is reported and the manager goes on.
    if !require_root("a_container_gets_one_emergency_shell_not_a_loop") {
        return;
    }
    let out = TempDir::new("emergency-container");
    let d = out.path();
    let socket = d.join("control.sock");
    let shell = shell(d, &socket, "");
    let broken = format!(
        "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo run >> {}/broken.runs; exit 1'\n",
        d.display()
    );
    let mut m = Manager::start_under_init_with(
        &[
            (
                "default.target",
                "[Unit]\nRequires=broken.service\nAfter=broken.service\n",
            ),
            ("broken.service", &broken),
        ],
        &["--shell", &shell],
        &["--socket", socket.to_str().unwrap()],
    );
    m.expect_stderr("emergency shell ended: starting default.target");
    m.expect_stderr("a container gets one emergency shell; what runs keeps running");
    assert_eq!(read(&d.join("shell.runs")), "run\n", "one shell");
    assert_eq!(read(&d.join("broken.runs")), "run\nrun\n", "one retry");
    m.vigil_ok(&["list"]);
}

#[test]
fn a_mount_of_fstab_that_fails_stops_the_boot_for_the_emergency_shell() {
    // The units vigil ships (crates/boot/units), vigil-fstab enabled as
    // `vigil enable` does, its mounting replaced by a failure: the services
    // must not start on an incomplete set of file systems.
    if !require_root("a_mount_of_fstab_that_fails_stops_the_boot_for_the_emergency_shell") {
        return;
    }
    let out = TempDir::new("emergency-fstab");
    let d = out.path();
    let units = d.join("units");
    harness::copy_shipped_units(&units);
    for (dir, unit) in [
        ("sysinit.target.wants", "vigil-fstab.service"),
        ("local-fs.target.requires", "vigil-fstab.service"),
        ("multi-user.target.wants", "svc.service"),
    ] {
        fs::create_dir_all(units.join(dir)).unwrap();
        std::os::unix::fs::symlink(format!("../{unit}"), units.join(dir).join(unit)).unwrap();
    }
    fs::create_dir_all(units.join("vigil-fstab.service.d")).unwrap();
    fs::write(
        units.join("vigil-fstab.service.d/fails.conf"),
        // No container condition: this may run in one.
        "[Unit]\nConditionVirtualization=\n[Service]\nExecStart=\n\
         ExecStart=/bin/sh -c 'echo /etc/fstab:4: cannot mount tmpfs on /mnt/bad >&2; exit 1'\n",
    )
    .unwrap();
    fs::write(
        units.join("svc.service"),
        "[Service]\nExecStart=/bin/sleep 1000\n[Install]\nWantedBy=multi-user.target\n",
    )
    .unwrap();
    let socket = d.join("control.sock");
    let shell = shell(d, &socket, "");
    let mut m = Manager::start_under_init_with(
        &[],
        &["--shell", &shell],
        &[
            "--socket",
            socket.to_str().unwrap(),
            "--config-dir",
            units.to_str().unwrap(),
        ],
    );
    // The console says what failed at the root of it, with its last line
    // (review finding: only `main process exited with status 1` was seen).
    m.expect_stderr(
        "multi-user.target cannot be reached; vigil-fstab.service failed (exit code 1): \
         /etc/fstab:4: cannot mount tmpfs on /mnt/bad: emergency shell on the console",
    );
    m.expect_stderr("a container gets one emergency shell");
    assert_eq!(m.state("vigil-fstab.service"), "failed");
    // Its start failed for its dependency (sysinit.target): never started.
    assert_eq!(m.state("svc.service"), "inactive");
    let reason = m.status_json("svc.service")["reason"].to_string();
    assert!(reason.contains("dependency failed"), "{reason}");
    let started = m
        .drain_stderr()
        .iter()
        .any(|l| l.contains("svc.service: -> starting"));
    assert!(!started, "a service started on a half-mounted system");
}

/// Review finding (container mode): the emergency shell runs on vigil-init's
/// stdin, which with `docker run -i` carries the services' input: a boot
/// target that failed had a root shell run that data as commands. A container
/// gets the shell only on a terminal (someone typing) or /dev/null (it ends
/// at once); here stdin is a file of data.
#[test]
fn a_container_whose_stdin_carries_data_gets_no_emergency_shell() {
    if !require_root("a_container_whose_stdin_carries_data_gets_no_emergency_shell") {
        return;
    }
    let out = TempDir::new("emergency-stdin");
    let d = out.path();
    let ran = d.join("ran");
    let data = d.join("stdin");
    fs::write(&data, format!("touch {}\n", ran.display())).unwrap();
    let redirect = format!("exec \"$@\" < {}", data.display());
    let mut m = Manager::start_under_init_through(
        &["sh", "-c", &redirect, "sh"],
        &[
            (
                "default.target",
                "[Unit]\nRequires=broken.service\nAfter=broken.service\n",
            ),
            (
                "broken.service",
                "[Service]\nType=oneshot\nExecStart=/bin/false\n",
            ),
            ("up.service", "[Service]\nExecStart=/bin/sleep 1000\n"),
        ],
        &["--shell", "/bin/sh"],
        &[],
    );
    m.expect_stderr(
        "no emergency shell: the container's stdin is neither a terminal nor /dev/null",
    );
    m.vigil_ok(&["start", "up"]);
    assert_eq!(m.state("up.service"), "running");
    assert!(!ran.exists(), "the shell ran the container's input");
}
