//! Rescue and emergency mode with the units vigil ships (crates/boot/units):
//! `vigil rescue` and `vigil emergency` isolate rescue.target and
//! emergency.target, whose shell unit runs `vigil-boot shell` on the
//! console; when the shell exits the system goes back to the default
//! target. The console here is a pseudo-terminal the test owns (a drop-in
//! points `TTYPath=` at it), and the test types into it as an operator
//! would. Under vigil-init, whose own emergency shell serves a boot with
//! `--emergency` (vigil.emergency), the shell units stay down: one shell on
//! the console, not two.

mod harness;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Instant;

use harness::{Manager, TIMEOUT, TempDir, python, require_root, vigil_bin, vigild_bin, wait_until};

/// A pseudo-terminal held by a python3 process that relays: what the test
/// writes goes to the terminal as typed, what programs write on the
/// terminal comes back to the test. Dropped, it ends (and the terminal).
struct Console {
    holder: Child,
    typed: Option<ChildStdin>,
    shown: Receiver<u8>,
    /// Everything shown so far.
    screen: String,
    path: PathBuf,
}

impl Console {
    fn open() -> Console {
        let script = "import os, pty, select, sys\n\
                      master, slave = pty.openpty()\n\
                      print(os.ttyname(slave), flush=True)\n\
                      out = sys.stdout.buffer\n\
                      while True:\n\
                      \x20   ready = select.select([0, master], [], [])[0]\n\
                      \x20   if 0 in ready:\n\
                      \x20       data = os.read(0, 4096)\n\
                      \x20       if not data:\n\
                      \x20           break\n\
                      \x20       os.write(master, data)\n\
                      \x20   if master in ready:\n\
                      \x20       out.write(os.read(master, 4096))\n\
                      \x20       out.flush()\n";
        let mut holder = Command::new(python())
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut stdout = BufReader::new(holder.stdout.take().expect("stdout"));
        let mut name = String::new();
        stdout.read_line(&mut name).expect("the terminal's name");
        assert!(name.starts_with("/dev/pts/"), "{name:?}");
        let (tx, shown) = mpsc::channel();
        std::thread::spawn(move || {
            for byte in stdout.bytes() {
                let Ok(byte) = byte else { break };
                if tx.send(byte).is_err() {
                    break;
                }
            }
        });
        Console {
            typed: holder.stdin.take(),
            holder,
            shown,
            screen: String::new(),
            path: PathBuf::from(name.trim_end()),
        }
    }

    /// Waits until the terminal has shown `text` (since the start).
    fn expect(&mut self, text: &str) {
        let deadline = Instant::now() + TIMEOUT;
        while !self.screen.contains(text) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.shown.recv_timeout(left) {
                Ok(b) => self.screen.push(b as char),
                Err(_) => panic!(
                    "the console never showed {text:?}; it showed:\n{}",
                    self.screen
                ),
            }
        }
    }

    /// What the terminal has shown by now, without waiting.
    fn screen(&mut self) -> &str {
        while let Ok(b) = self.shown.try_recv() {
            self.screen.push(b as char);
        }
        &self.screen
    }

    fn type_line(&mut self, line: &str) {
        let typed = self.typed.as_mut().expect("the console is open");
        typed.write_all(format!("{line}\n").as_bytes()).unwrap();
        typed.flush().unwrap();
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        drop(self.typed.take());
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// The shipped units, copied (links as links) into `dir/units`, with a
/// service the default target wants, and drop-ins that put the shells on
/// `console`, run this build's vigil-boot with `dir/root` for its root (so
/// its sulogin and sh are the test's), and have it ask this manager.
/// Their conditions are the shipped ones but for the place of the mark
/// (beside this manager's socket) and the container test (the tests may
/// run in one).
fn units(dir: &Path, socket: &Path, console: &Path) -> PathBuf {
    let units = dir.join("units");
    harness::copy_shipped_units(&units);
    fs::write(
        units.join("web.service"),
        "[Service]\nExecStart=/bin/sleep 1000\n",
    )
    .unwrap();
    fs::create_dir_all(units.join("multi-user.target.wants")).unwrap();
    symlink(
        "../web.service",
        units.join("multi-user.target.wants/web.service"),
    )
    .unwrap();
    let boot = vigild_bin().with_file_name("vigil-boot");
    assert!(
        boot.exists(),
        "{} is missing: cargo build --bins",
        boot.display()
    );
    let runtime = socket.parent().unwrap();
    for mode in ["rescue", "emergency"] {
        let drop_in = units.join(format!("{mode}.service.d"));
        fs::create_dir_all(&drop_in).unwrap();
        fs::write(
            drop_in.join("test.conf"),
            format!(
                "[Unit]\nConditionVirtualization=\nConditionPathExists=\n\
                 ConditionPathExists=!{mark}\n\
                 [Service]\nExecStart=\nExecStart=-{boot} shell {mode} --root {root}\n\
                 TTYPath={console}\n\
                 Environment=VIGIL_BOOT_VIGIL={vigil} VIGIL_SOCKET={socket}\n",
                mark = runtime.join("emergency-shell").display(),
                boot = boot.display(),
                root = dir.join("root").display(),
                console = console.display(),
                vigil = vigil_bin().display(),
                socket = socket.display(),
            ),
        )
        .unwrap();
    }
    fs::create_dir_all(dir.join("root/bin")).unwrap();
    units
}

/// Booted on the shipped units to multi-user.target, web.service running.
fn booted(dir: &TempDir, console: &Console) -> Manager {
    let socket = dir.path().join("control.sock");
    let units = units(dir.path(), &socket, &console.path);
    let m = Manager::start_with(
        &[],
        &[
            "--socket",
            socket.to_str().unwrap(),
            "--config-dir",
            units.to_str().unwrap(),
        ],
    );
    m.wait_state("web.service", "running");
    m.wait_state("multi-user.target", "running");
    m
}

/// The operator's work in the shell: a command whose file shows the shell
/// read it from the console, then `exit`. The system goes back to the
/// default target: web.service runs again, the mode's target and shell are
/// down.
fn work_then_exit(m: &Manager, console: &mut Console, dir: &Path, mode: &str) {
    let typed = dir.join("typed");
    console.type_line(&format!("echo $((6*7)) > {}", typed.display()));
    wait_until("the typed command's file", || {
        fs::read_to_string(&typed).is_ok_and(|t| t == "42\n")
    });
    assert_eq!(
        m.state("web.service"),
        "inactive",
        "web runs in {mode} mode"
    );
    console.type_line("exit");
    console.expect(&format!("Leaving {mode} mode: starting the default target"));
    m.wait_state("web.service", "running");
    m.wait_state("multi-user.target", "running");
    m.wait_state(&format!("{mode}.service"), "inactive");
    assert_eq!(m.state(&format!("{mode}.target")), "inactive");
}

/// `vigil rescue`: rescue.target with sysinit.target and rescue.service,
/// whose shell (no sulogin installed here: /bin/sh) is on the console; what
/// the boot target needs is stopped. Before the shipped rescue.service, no
/// shell came: rescue.target required none.
#[test]
fn rescue_puts_a_shell_on_the_console_and_its_exit_boots_the_default_target() {
    let console = &mut Console::open();
    let dir = TempDir::new("rescue");
    let m = booted(&dir, console);
    symlink("/bin/sh", dir.path().join("root/bin/sh")).unwrap();
    let web = m.main_pid("web.service");
    m.vigil_ok(&["rescue"]);
    assert_eq!(m.state("rescue.target"), "running");
    assert_eq!(m.state("sysinit.target"), "running");
    assert_eq!(m.state("rescue.service"), "running");
    assert_eq!(m.state("multi-user.target"), "inactive");
    assert!(!harness::alive(web), "web.service still runs");
    console.expect("You are in rescue mode.");
    console.expect("asks for no password");
    // As systemd's: rescue mode is maintenance (exit 1, not running).
    assert_eq!(m.vigil_code(&["is-system-running"], 1), "maintenance\n");
    work_then_exit(&m, console, dir.path(), "rescue");
    assert_eq!(m.vigil_ok(&["is-system-running"]), "running\n");
}

/// `vigil emergency`: emergency.target with emergency.service alone (not
/// even sysinit.target), whose shell is sulogin where it is installed (a
/// stand-in here, which records how it was run, then gives the shell).
#[test]
fn emergency_runs_sulogin_on_the_console_and_its_exit_boots_the_default_target() {
    let console = &mut Console::open();
    let dir = TempDir::new("emergency-unit");
    let m = booted(&dir, console);
    let runs = dir.path().join("sulogin.runs");
    let pids = dir.path().join("sulogin.pids");
    harness::write_executable(
        &dir.path().join("root/sbin/sulogin"),
        &format!(
            "#!/bin/sh\necho \"sulogin $*\" >> {}\necho $$ >> {}\nexec /bin/sh\n",
            runs.display(),
            pids.display()
        ),
    );
    m.vigil_ok(&["emergency"]);
    assert_eq!(m.state("emergency.target"), "running");
    assert_eq!(m.state("emergency.service"), "running");
    for unit in ["sysinit.target", "multi-user.target", "web.service"] {
        assert_eq!(m.state(unit), "inactive", "{unit}");
    }
    console.expect("You are in emergency mode.");
    assert_eq!(m.vigil_code(&["is-system-running"], 1), "maintenance\n");
    wait_until("sulogin's run", || runs.exists());
    // Root's account is not locked under this root (no shadow): no --force.
    assert_eq!(fs::read_to_string(&runs).unwrap(), "sulogin \n");
    assert!(
        !console.screen().contains("No sulogin"),
        "{}",
        console.screen()
    );
    // From emergency to rescue mode: emergency.service conflicts with
    // rescue.service, so one shell is replaced by the other, as in systemd.
    let main = m.main_pid("emergency.service");
    let shell: u32 = fs::read_to_string(&pids).unwrap().trim().parse().unwrap();
    m.vigil_ok(&["rescue"]);
    assert_eq!(m.state("emergency.service"), "inactive");
    assert!(
        !harness::alive(main),
        "emergency mode's vigil-boot still runs"
    );
    // The shell itself (KillMode=process: not signalled by vigild) gets the
    // terminal's hangup when its session's leader goes, as on systemd.
    wait_until("emergency mode's shell to end", || !harness::alive(shell));
    assert_eq!(m.state("rescue.service"), "running");
    wait_until("sulogin's second run", || {
        fs::read_to_string(&runs).is_ok_and(|r| r.lines().count() == 2)
    });
    work_then_exit(&m, console, dir.path(), "rescue");
}

/// A boot with `--emergency` (vigil.emergency) gets vigil-init's emergency
/// shell, which needs no unit, and nothing else starts. `vigil rescue`
/// typed in it reaches rescue.target without a second shell on the console:
/// rescue.service's condition sees vigild's mark. Once vigil-init's shell
/// exits the boot target starts, and the mark is gone: `vigil rescue` then
/// gets its shell.
#[test]
fn under_vigil_inits_emergency_shell_rescue_mode_starts_no_second_shell() {
    if !require_root("under_vigil_inits_emergency_shell_rescue_mode_starts_no_second_shell") {
        return;
    }
    let console = &mut Console::open();
    let dir = TempDir::new("rescue-one-shell");
    let d = dir.path();
    let socket = d.join("control.sock");
    let units = units(d, &socket, &console.path);
    symlink("/bin/sh", d.join("root/bin/sh")).unwrap();
    let release = d.join("release");
    // vigil-init's shell, as an operator: `vigil rescue`, a look, then a
    // wait for the test before it exits.
    let shell = d.join("init-shell");
    harness::write_executable(
        &shell,
        &format!(
            "#!/bin/sh\n{vigil} --socket {s} rescue > {d}/rescue.out 2>&1\n\
             {vigil} --socket {s} status rescue.service --json > {d}/status.json\n\
             while [ ! -e {release} ]; do sleep 0.02; done\n",
            vigil = vigil_bin().display(),
            s = socket.display(),
            d = d.display(),
            release = release.display(),
        ),
    );
    let mut m = Manager::start_under_init_with(
        &[],
        &["--shell", shell.to_str().unwrap()],
        &[
            "--socket",
            socket.to_str().unwrap(),
            "--config-dir",
            units.to_str().unwrap(),
            "--emergency",
        ],
    );
    m.expect_stderr("emergency mode asked for");
    let mark = d.join("emergency-shell");
    assert!(mark.exists(), "no mark while vigil-init's shell runs");
    wait_until("the shell's look", || {
        fs::read_to_string(d.join("status.json")).is_ok_and(|s| s.ends_with('\n'))
    });
    assert_eq!(m.state("rescue.target"), "running");
    let status = fs::read_to_string(d.join("status.json")).unwrap();
    assert!(
        status.contains("condition failed") && status.contains("emergency-shell"),
        "{status}"
    );
    assert_eq!(m.state("rescue.service"), "inactive");
    assert_eq!(m.state("web.service"), "inactive");
    // Nothing came on the console: vigil-init's shell has it alone.
    assert_eq!(console.screen(), "", "a second shell on the console");
    fs::write(&release, "").unwrap();
    m.expect_stderr("emergency shell ended: starting default.target");
    m.wait_state("web.service", "running");
    assert!(!mark.exists(), "the mark outlived vigil-init's shell");
    assert_eq!(m.state("rescue.target"), "inactive");
    m.vigil_ok(&["rescue"]);
    console.expect("You are in rescue mode.");
    work_then_exit(&m, console, d, "rescue");
}
