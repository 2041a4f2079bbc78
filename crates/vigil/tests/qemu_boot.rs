//! The real-kernel boot test: Debian's kernel under qemu (TCG) boots an initramfs
//! whose /init is `vigil-init`, with `vigild`, `vigil`, busybox and the units of
//! scripts/qemu/units, and must power off by itself with its disk cleanly unmounted.
//! The pipeline is scripts/qemu/boot-test; this file runs it on the workspace's
//! debug binaries and the shipped vigil-init (scripts/build-init), reads the serial console as it comes (with a deadline, never a
//! fixed sleep) and checks it line by line. It installs nothing: without qemu or
//! the unpacked kernel it prints why and passes, except with CI=true, where that is
//! a failure (scripts/install-test-deps installs both).

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// boot-test's own limit for the boot; ours covers the initramfs and the checks too.
const BOOT_TIMEOUT_SECS: u64 = 150;
const DEADLINE: Duration = Duration::from_secs(BOOT_TIMEOUT_SECS + 60);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// vigild and vigil-init are built next to vigil (`cargo build --workspace --bins`).
/// VIGIL_QEMU_BIN_DIR boots other builds instead (target/bin of scripts/build-release).
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VIGIL_QEMU_BIN_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_BIN_EXE_vigil"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The vigil-init that boots: the shipped build (static, no libc), which scripts/test
/// makes with scripts/build-init before the tests; VIGIL_QEMU_INIT_BIN boots another.
fn init_bin() -> PathBuf {
    std::env::var_os("VIGIL_QEMU_INIT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/bin/vigil-init"))
}

fn runs(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Why this machine cannot run the boot, if it cannot.
fn missing(needs_init: bool) -> Option<String> {
    for (tool, arg) in [
        ("qemu-system-x86_64", "--version"),
        ("python3", "--version"),
        ("mkfs.ext4", "-V"),
        ("mkswap", "--version"),
        ("debugfs", "-V"),
        ("e2fsck", "-V"),
    ] {
        if !runs(tool, arg) {
            return Some(format!("no {tool}"));
        }
    }
    let kernel_path = workspace().join("scripts/qemu/kernel-path");
    if !runs(&kernel_path.to_string_lossy(), "--modules") {
        return Some("no unpacked Debian kernel in target/qemu/kernel".into());
    }
    if !bin_dir().join("vigild").exists() {
        return Some(format!(
            "no {} (cargo build --workspace --bins)",
            bin_dir().join("vigild").display()
        ));
    }
    if needs_init && !init_bin().exists() {
        return Some(format!("no {} (scripts/build-init)", init_bin().display()));
    }
    None
}

/// True when the test can run; otherwise says why, and fails under CI.
fn ready(needs_init: bool) -> bool {
    let Some(reason) = missing(needs_init) else {
        return true;
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("qemu boot test cannot run: {reason}; scripts/test prepares everything");
    }
    eprintln!("skipping the qemu boot test: {reason} (scripts/install-test-deps installs it)");
    false
}

fn scratch(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!("vigil-qemu-{name}-{}-{nanos}", std::process::id()))
}

/// One console or script line, as it came, with the time since the start.
struct Line {
    at: Duration,
    text: String,
}

struct Run {
    lines: Vec<Line>,
    status: ExitStatus,
    out: PathBuf,
}

impl Run {
    /// The lines, each with its carriage returns and terminal escapes removed.
    fn texts(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(|l| l.text.as_str())
    }

    fn count(&self, needle: &str) -> usize {
        self.texts().filter(|l| l.contains(needle)).count()
    }

    /// Index of the first line containing `needle`.
    fn position(&self, needle: &str) -> Option<usize> {
        self.texts().position(|l| l.contains(needle))
    }

    /// boot-test passed and the guest printed its boot marker once.
    fn assert_booted(&self) {
        let t = self.transcript();
        assert!(
            self.status.success(),
            "boot-test failed ({}); transcript:\n{t}",
            self.status
        );
        assert_eq!(self.count("VIGIL-BOOT-OK"), 1, "{t}");
    }

    /// Every needle is on the console, each first seen after the one before.
    fn assert_in_order(&self, needles: &[&str]) {
        let mut last = 0;
        for needle in needles {
            let at = self
                .position(needle)
                .unwrap_or_else(|| panic!("no {needle:?} on the console:\n{}", self.transcript()));
            assert!(
                at >= last,
                "{needle:?} out of order:\n{}",
                self.transcript()
            );
            last = at;
        }
    }

    /// The words of `unit`'s row in the `vigil list` that test-report printed
    /// (`VIGIL-LIST: ` lines): name, state, PID...
    fn list_row(&self, unit: &str) -> Option<Vec<&str>> {
        self.texts()
            .filter_map(|l| l.split_once("VIGIL-LIST: ").map(|(_, rest)| rest))
            .find(|l| l.split_whitespace().next() == Some(unit))
            .map(|l| l.split_whitespace().collect())
    }

    /// The manager's command line, as test-report printed it.
    fn manager_command(&self) -> Option<&str> {
        self.texts()
            .find_map(|l| l.split_once("VIGIL-TEST: manager ").map(|(_, m)| m.trim()))
    }

    fn at(&self, needle: &str) -> Option<Duration> {
        self.position(needle).map(|i| self.lines[i].at)
    }

    fn transcript(&self) -> String {
        let mut s = String::new();
        for l in &self.lines {
            s.push_str(&format!("[{:6.2}] {}\n", l.at.as_secs_f64(), l.text));
        }
        s
    }
}

fn clean(raw: &str) -> String {
    // SeaBIOS resets and clears the screen with escapes; the kernel ends lines in \r\n
    let mut out = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // a CSI sequence (ESC [ ... letter) or a two-character one (ESC c)
            '\u{1b}' => {
                if chars.next() == Some('[') {
                    for e in chars.by_ref() {
                        if e.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[test]
fn clean_drops_terminal_escapes_and_carriage_returns() {
    assert_eq!(
        clean("\u{1b}c\u{1b}[?7l\u{1b}[2Jvigil-init: up\r\n"),
        "vigil-init: up\n"
    );
}

fn forward(source: impl Read + Send + 'static, tx: mpsc::Sender<String>) {
    thread::spawn(move || {
        let mut reader = BufReader::new(source);
        let mut buf = Vec::new();
        while reader.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
            if tx.send(clean(&String::from_utf8_lossy(&buf))).is_err() {
                return;
            }
            buf.clear();
        }
    });
}

/// boot-test runs in its own process group: the group holds qemu and its
/// `timeout` too, which would outlive boot-test alone.
fn kill(child: &mut Child) {
    let _ = vigil_platform::kill_group(child.id(), 9);
    let _ = child.wait();
}

/// Runs scripts/qemu/boot-test with `args`, echoing and keeping every line.
fn boot(name: &str, args: &[&str]) -> Run {
    let out = scratch(name);
    let start = Instant::now();
    let mut child = Command::new(workspace().join("scripts/qemu/boot-test"))
        .arg("--bin-dir")
        .arg(bin_dir())
        .arg("--init-bin")
        .arg(init_bin())
        .arg("--out")
        .arg(&out)
        .args(["--timeout", &BOOT_TIMEOUT_SECS.to_string()])
        .args(args)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn scripts/qemu/boot-test");
    let (tx, rx) = mpsc::channel();
    forward(child.stdout.take().expect("piped stdout"), tx.clone());
    forward(child.stderr.take().expect("piped stderr"), tx);
    let mut lines = Vec::new();
    loop {
        let left = DEADLINE.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok(text) => {
                let text = text.trim_end_matches('\n').to_string();
                eprintln!("{name}: {text}");
                lines.push(Line {
                    at: start.elapsed(),
                    text,
                });
            }
            // both pipes closed: boot-test has finished
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                kill(&mut child);
                panic!(
                    "{name}: boot-test still running after {DEADLINE:?}; output in {}",
                    out.display()
                );
            }
        }
    }
    let status = child.wait().expect("wait for boot-test");
    eprintln!("{name}: boot-test {status} after {:?}", start.elapsed());
    Run { lines, status, out }
}

fn dumpe2fs(disk: &Path) -> String {
    let out = Command::new("dumpe2fs")
        .arg("-h")
        .arg(disk)
        .stderr(Stdio::null())
        .output()
        .expect("run dumpe2fs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The one boot of vigil itself: every unit up once, the list as expected, then an
/// orderly poweroff that leaves the disk clean.
#[test]
fn qemu_boot_vigil_init_powers_off_cleanly() {
    if !ready(true) {
        return;
    }
    // PID 1's file replaced by a copy before the poweroff, as an upgrade does: the
    // new file ends the boot, and the disk is still clean.
    let run = boot("vigil", &["--append", "vigil-test.replace-init=copy"]);
    let t = run.transcript();
    run.assert_booted();
    assert_eq!(run.count("Kernel panic"), 0, "{t}");

    // each service started exactly once (each writes one line per start)
    for unit in ["test-marker", "test-sleeper", "test-disk", "test-orphan"] {
        assert_eq!(
            run.count(&format!("VIGIL-TEST: start {unit}")),
            1,
            "{unit} should start once:\n{t}"
        );
    }

    // `vigil list` as test-report saw it: the long-running service runs with a
    // PID, the oneshots have exited (RemainAfterExit), the target is reached
    let row = |unit: &str| -> Vec<&str> {
        run.list_row(unit)
            .unwrap_or_else(|| panic!("{unit} missing from vigil list:\n{t}"))
    };
    let sleeper = row("test-sleeper.service");
    assert_eq!(sleeper[1], "running", "{t}");
    assert!(
        sleeper[2].parse::<u32>().is_ok_and(|pid| pid > 1),
        "test-sleeper has no PID: {sleeper:?}"
    );
    for unit in [
        "test-marker.service",
        "test-disk.service",
        "test-orphan.service",
        "test-modules.service",
        "vigil-hostname.service",
        "vigil-sysctl.service",
        "vigil-fstab.service",
        "vigil-rundirs.service",
        "vigil-remote-fs.service",
        "vigil-swap.service",
        "vigil-getty.service",
        "serial-getty@ttyS0.service",
        "vigil-machine-id.service",
        "vigil-utmp.service",
    ] {
        assert_eq!(row(unit)[1], "exited", "{unit}:\n{t}");
    }
    // The shipped chain: default.target is multi-user.target (a symlink),
    // which requires basic.target, which requires sysinit.target.
    for target in [
        "multi-user.target",
        "basic.target",
        "sysinit.target",
        "local-fs.target",
        "remote-fs.target",
    ] {
        assert_eq!(row(target)[1], "running", "{target}:\n{t}");
    }
    // the manager vigil-init found beside itself, with no option from the
    // kernel's command line (the `vigil shutdown` boot has some)
    assert_eq!(run.manager_command(), Some("/sbin/vigild"), "{t}");
    // vigil-remote-fs, having a `_netdev` entry to mount, pulled the network
    // in (without one it would not: `vigil-boot fstab --remote --check`)
    assert_eq!(row("network-online.target")[1], "running", "{t}");
    // vigil-boot's duties took effect on the real kernel: the hostname from
    // /etc/hostname, a sysctl.d setting, and the disk mounted from /etc/fstab
    // (test-disk checks /mnt/data is a mount point before writing to it)
    assert_eq!(
        run.count("VIGIL-TEST: hostname vigil-qemu domainname vigil-test"),
        1,
        "{t}"
    );
    // and the runtime directories: /run/lock sticky, /var/run a link to /run
    assert_eq!(run.count("VIGIL-TEST: rundirs 1777 ../run"), 1, "{t}");
    // and the network file systems after the network: a `_netdev` tmpfs,
    // mounted by vigil-remote-fs before test-report (After=remote-fs.target)
    assert_eq!(run.count("VIGIL-TEST: remote-fs 1"), 1, "{t}");
    // a getty on the serial console (console=ttyS0), as systemd's getty
    // generator adds it: vigil-getty started the stand-in serial-getty@ttyS0,
    // which is bound to dev-ttyS0.device (built in: /dev/ttyS0 is there)
    assert_eq!(run.count("VIGIL-TEST: getty on ttyS0"), 1, "{t}");
    assert_eq!(row("dev-ttyS0.device")[1], "running", "{t}");
    // vigil-utmp recorded the boot in the image's wtmp (ut_type 2, BOOT_TIME)
    assert_eq!(run.count("VIGIL-TEST: wtmp 02"), 1, "{t}");
    // the image has no /etc/machine-id: vigil-machine-id made one (the root,
    // the initramfs, is writable: nothing to commit, the condition skips it)
    assert_eq!(run.count("VIGIL-TEST: machine-id 1"), 1, "{t}");
    assert_eq!(row("vigil-machine-id-commit.service")[1], "inactive", "{t}");
    // the disk was checked (fsck(8) and e2fsck from the host) before its mount
    assert_eq!(run.count("VIGIL-TEST: fsck 1"), 1, "{t}");
    // and the swap file on the disk, with its priority from /etc/fstab; at the
    // shutdown vigil-swap deactivates it, or the disk would be busy (below)
    assert_eq!(
        run.count("VIGIL-TEST: swaps /mnt/data/swapfile file 7"),
        1,
        "{t}"
    );

    // the unit enabled into poweroff.target ran once, while vigild ran
    assert_eq!(run.count("VIGIL-TEST: at poweroff"), 1, "{t}");
    // after vigil-remote-fs stopped, whose ExecStop unmounted /mnt/net
    assert_eq!(run.count("/mnt/net mounts: 0"), 1, "{t}");
    // and vigil-swap, whose ExecStop turned the swap file off: on again, it
    // is vigil-init's to turn off before it unmounts /mnt/data (the disk is
    // checked clean below; review finding: it was left busy)
    assert_eq!(
        run.count("VIGIL-TEST: swap on again at poweroff: /mnt/data/swapfile"),
        1,
        "{t}"
    );
    assert!(
        run.position("VIGIL-TEST: at poweroff") < run.position("vigil-init: poweroff: stopping"),
        "{t}"
    );
    // the shutdown, in order: `vigil poweroff` reaches vigild, which tells PID 1
    // what to do once it is gone and stops every unit
    // and exits, vigil-init signals what is left (test-orphan's process ignores
    // SIGTERM, so SIGKILL must follow), unmounts, and the kernel powers off
    let order = [
        "VIGIL-TEST: poweroff requested",
        "vigil-init: the manager asks for poweroff once it exits",
        "vigild: shutting down: stopping every unit",
        "vigild: test-sleeper.service: main process killed by SIGTERM",
        "vigild: test-sleeper.service: -> inactive",
        // enabled into poweroff.target, ordered after test-sleeper (vigild's
        // lines, not the unit's own: two writers to the console may interleave)
        "vigild: test-at-poweroff.service: -> starting",
        "vigild: test-at-poweroff.service: main process exited with status 0",
        "vigild: every unit is stopped; exiting",
        "vigil-init: poweroff: stopping the remaining processes",
        "vigil-init: poweroff: sending SIGKILL to the processes still running",
        "vigil-init: poweroff: /sbin/vigil-init was replaced: running the new one",
        "vigil-init: poweroff: unmounting filesystems",
        "reboot: Power down",
    ];
    run.assert_in_order(&order);
    // the SIGKILL's processes named (test-orphan's sleep), none of the
    // kernel's threads among them
    let named: Vec<&str> = run
        .texts()
        .filter(|l| l.contains("vigil-init: poweroff: still running: PID "))
        .collect();
    assert!(named.iter().any(|l| l.ends_with("(sleep)")), "{t}");
    assert!(
        !named
            .iter()
            .any(|l| l.contains("(kthreadd)") || l.contains("(kworker")),
        "{t}"
    );

    // what vigil-init cannot unmount nor remount read-only it says on the console
    assert_eq!(run.count("cannot unmount"), 0, "{t}");
    // SIGKILL ended what SIGTERM left, and every filesystem was unmounted, not
    // only remounted read-only: a read-only remount leaves the disk just as
    // clean as an unmount. /dev (devtmpfs, which vigil-init's console holds) is
    // left alone, as systemd-shutdown leaves it (review finding: "/dev is busy"
    // at every end)
    assert_eq!(run.count("some processes did not exit"), 0, "{t}");
    let busy: Vec<&str> = run.texts().filter(|l| l.contains(" is busy (")).collect();
    assert!(busy.is_empty(), "{busy:?}\n{t}");

    // vigil-init unmounted the disk the guest wrote to (boot-test checked it with
    // e2fsck -fn too): a journal needing recovery means it was never unmounted
    let header = dumpe2fs(&run.out.join("disk.img"));
    assert!(
        header.contains("Filesystem state:         clean"),
        "{header}"
    );
    assert!(!header.contains("needs_recovery"), "{header}");
    assert_eq!(
        run.count("boot-test: ok: the disk was cleanly unmounted"),
        1,
        "{t}"
    );

    if let (Some(ok), Some(down)) = (run.at("VIGIL-BOOT-OK"), run.at("reboot: Power down")) {
        eprintln!(
            "qemu boot: VIGIL-BOOT-OK at {:.1} s, powered off at {:.1} s (host clock, from the start of boot-test)",
            ok.as_secs_f64(),
            down.as_secs_f64()
        );
    }
    let _ = std::fs::remove_dir_all(&run.out);
}

/// `vigil shutdown` (the manager's exit) on a machine: vigil-init powers it off
/// once vigild has exited, so vigild starts poweroff.target, whose units run, not
/// exit.target; the disk is left clean as with `vigil poweroff`.
#[test]
fn qemu_boot_vigil_shutdown_powers_off_through_poweroff_target() {
    if !ready(true) {
        return;
    }
    // Without a network file system too (test-no-netfs drops it from fstab),
    // and with the kernel's vigil.* options, which vigil-init passes on; with
    // vigil.emergency, the boot begins with the emergency shell on the console,
    // where `exit` is typed. printk.devkmsg=on: the kernel's rate limit of
    // /dev/kmsg (10 lines in 5 s, the quiet ones counted) dropped vigil-init's
    // "the emergency shell exited" once (a CI run), when `exit` came soon
    // after its mount, argument and shell lines.
    let run = boot(
        "shutdown",
        &[
            "--append",
            "vigil-test.shutdown vigil-test.no-netfs vigil.emergency \
             vigil.manager=/sbin/vigild-alt vigil.target=multi-user.target vigil.debug \
             vigil-test.replace-init=other printk.devkmsg=on --final poweroff",
            // busybox sh's prompt
            "--type-after",
            "/ # ",
            "exit",
        ],
    );
    let t = run.transcript();
    run.assert_booted();
    assert_eq!(
        run.manager_command(),
        Some("/sbin/vigild-alt --target multi-user.target --debug --emergency"),
        "{t}"
    );
    // `--final poweroff` as words of the kernel command line: ignored (said in the
    // kernel log), not taken for the handover's, which would power off at once
    assert_eq!(run.count("VIGIL-TEST: init-ignored 1"), 1, "{t}");
    run.assert_in_order(&[
        "vigil-init: starting the emergency shell /bin/sh; asked by the manager",
        "vigil-init: the emergency shell exited",
        "VIGIL-TEST: start test-marker",
        "VIGIL-BOOT-OK",
    ]);
    // vigil-remote-fs, with nothing to mount after the network, is skipped and
    // pulls no network-online.target in (a wait-online service would delay
    // every boot for it)
    assert_eq!(run.count("VIGIL-TEST: remote-fs 0"), 1, "{t}");
    let state = |unit: &str| run.list_row(unit).and_then(|row| row.get(1).copied());
    assert_eq!(state("vigil-remote-fs.service"), Some("inactive"), "{t}");
    assert!(
        state("network-online.target").is_none_or(|s| s != "running"),
        "{t}"
    );
    let order = [
        "VIGIL-TEST: poweroff requested",
        "vigild: shutting down: stopping every unit",
        "vigild: poweroff.target: -> running",
        "vigild: every unit is stopped; exiting",
        // PID 1's file replaced by busybox before the shutdown: not run (an older
        // vigil-init, or another program, would boot again or not end the boot)
        "vigil-init: poweroff: /sbin/vigil-init was replaced, not by a vigil-init with --final",
        "vigil-init: poweroff: unmounting filesystems",
        "reboot: Power down",
    ];
    run.assert_in_order(&order);
    assert_eq!(run.count("running the new one"), 0, "{t}");
    assert_eq!(run.count("VIGIL-TEST: at poweroff"), 1, "{t}");
    assert_eq!(run.count("exit.target: -> running"), 0, "{t}");
    let _ = std::fs::remove_dir_all(&run.out);
}

/// The disk check can fail: the stand-in PID 1 with its unmount skipped (sync and
/// power off only) must make boot-test fail on the journal that needs recovery.
/// Without this, a clean disk would prove nothing about vigil-init's unmount.
#[test]
fn qemu_boot_detects_a_disk_left_mounted() {
    if !ready(false) {
        return;
    }
    let run = boot(
        "no-unmount",
        &["--standin", "--append", "standin.skip-unmount"],
    );
    let t = run.transcript();
    assert_eq!(run.count("VIGIL-BOOT-OK"), 1, "{t}");
    assert_eq!(run.count("reboot: Power down"), 1, "{t}");
    assert_eq!(run.status.code(), Some(1), "{t}");
    assert_eq!(
        run.count("boot-test: the disk's journal needs recovery"),
        1,
        "{t}"
    );
    let header = dumpe2fs(&run.out.join("disk.img"));
    assert!(header.contains("needs_recovery"), "{header}");
    let _ = std::fs::remove_dir_all(&run.out);
}

/// A real Debian 12 root file system (mmdebstrap: systemd's units and helpers,
/// udev, dbus, rsyslog, cron, sshd) booted with vigil as PID 1, by
/// scripts/qemu/debian-boot: multi-user.target reached with no failed unit,
/// rsyslog running, a machine ID made, the swap file of its fstab active, the
/// boot in utmp, a login prompt on the serial console, and a clean poweroff.
/// Three exploratory boots found what this checks (docs/TESTING.md). As root
/// (the root file system's owners), as CI runs; the packages are cached in
/// target/qemu/debian/bookworm-HASH.tar.
#[test]
fn qemu_boot_of_a_debian_root_file_system() {
    if !ready(true) {
        return;
    }
    let uid = Command::new("id").arg("-u").output().expect("run id -u");
    let missing = if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        Some("it needs root (the root file system's owners)")
    } else if !runs("mmdebstrap", "--version") {
        Some("no mmdebstrap (scripts/install-test-deps installs it)")
    } else {
        None
    };
    if let Some(why) = missing {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "the Debian boot cannot run: {why}"
        );
        eprintln!("skipping the Debian boot: {why}");
        return;
    }
    let out = Command::new(workspace().join("scripts/qemu/debian-boot"))
        .arg("--bin-dir")
        .arg(bin_dir())
        .arg("--init-bin")
        .arg(init_bin())
        .output()
        .expect("run scripts/qemu/debian-boot");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // 2: something to run it is missing (the packages: no network).
    if out.status.code() == Some(2) && std::env::var("CI").as_deref() != Ok("true") {
        eprintln!("skipping the Debian boot: {said}");
        return;
    }
    assert!(out.status.success(), "{said}");
    for line in [
        "VIGIL-DEBIAN: failed 0",
        "VIGIL-DEBIAN: rsyslog active",
        "VIGIL-DEBIAN: getty active",
        "debian-boot: ok",
    ] {
        assert!(said.contains(line), "{line}: {said}");
    }
    if let Some(line) = said.lines().find(|l| l.contains("startup finished")) {
        eprintln!("debian boot: {line}");
    }
}
