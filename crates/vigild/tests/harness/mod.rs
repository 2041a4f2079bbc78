//! The shared harness of vigild's integration tests: a real `vigild` on a
//! temporary configuration directory and socket, driven by the real `vigil`.
//!
//! Waiting is always on an event: a line on vigild's stderr, a reply on the
//! socket, a line of a followed log. Where a test must wait for a condition
//! that has no event of its own (a file a service writes), `wait_until`
//! re-checks it with a deadline, never a fixed sleep.

#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

pub const TIMEOUT: Duration = Duration::from_secs(20);

pub fn vigild_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vigild"))
}

/// `vigil` is built beside `vigild` (scripts/test builds every binary first).
pub fn vigil_bin() -> PathBuf {
    let bin = vigild_bin().with_file_name("vigil");
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build --bins)",
        bin.display()
    );
    bin
}

/// A fresh directory under the system's temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "vigil-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        // Services may run as another user in some tests.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A running vigild.
pub struct Manager {
    pub dir: TempDir,
    pub config: PathBuf,
    pub socket: PathBuf,
    child: Child,
    /// vigild's stderr, line by line, read by a thread so it never blocks vigild.
    stderr: Receiver<String>,
    /// Every stderr line seen so far.
    pub seen: Vec<String>,
    /// vigild's stdout (the console log sink), line by line.
    stdout: Receiver<String>,
    /// Every stdout line seen so far.
    pub seen_stdout: Vec<String>,
    /// `child` is `unshare`, with vigil-init below it: signals go to that.
    under_init: bool,
}

impl Manager {
    /// Writes `files` (name, content) into a new config dir and starts vigild on it.
    pub fn start(files: &[(&str, &str)]) -> Manager {
        Manager::start_with(files, &[])
    }

    pub fn start_with(files: &[(&str, &str)], extra_args: &[&str]) -> Manager {
        Manager::start_env(files, extra_args, &[])
    }

    /// Like `start_with`, with extra variables in vigild's own environment (to
    /// check what services inherit from the manager and what they must not).
    pub fn start_env(files: &[(&str, &str)], extra_args: &[&str], env: &[(&str, &str)]) -> Manager {
        Manager::launch(files, extra_args, env, &[])
    }

    /// vigild run through `wrapper` (for example `prlimit --nofile=32:32`).
    pub fn start_wrapped(files: &[(&str, &str)], wrapper: &[&str]) -> Manager {
        Manager::launch(files, &[], &[], wrapper)
    }

    /// Like `start_wrapped`, with vigild's own arguments too.
    pub fn start_wrapped_with(
        files: &[(&str, &str)],
        extra_args: &[&str],
        wrapper: &[&str],
    ) -> Manager {
        Manager::launch(files, extra_args, &[], wrapper)
    }

    /// vigild as user nobody, with an empty environment (no XDG_RUNTIME_DIR):
    /// a developer's unprivileged manager at its barest.
    pub fn start_unprivileged(files: &[(&str, &str)], extra_args: &[&str]) -> Manager {
        let wrapper = [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "env",
            "-i",
            "HOME=/nonexistent",
            "PATH=/usr/bin:/bin",
        ];
        Manager::launch(files, extra_args, &[], &wrapper)
    }

    /// vigild as vigil-init's manager, in a PID namespace of its own
    /// (`unshare --pid --fork --mount-proc --kill-child`, so whatever happens
    /// to the test, the namespace dies with `unshare`): vigil-init is PID 1,
    /// in container mode, and restarts vigild when it dies.
    pub fn start_under_init(files: &[(&str, &str)], extra_args: &[&str]) -> Manager {
        Manager::start_under_init_with(files, &[], extra_args)
    }

    /// Like `start_under_init`, with vigil-init's own options too.
    pub fn start_under_init_with(
        files: &[(&str, &str)],
        init_args: &[&str],
        extra_args: &[&str],
    ) -> Manager {
        Manager::start_under_init_through(&[], files, init_args, extra_args)
    }

    /// Like `start_under_init_with`, with `prefix` (programs that exec the
    /// rest, such as `prlimit --nofile=90:90`) before `unshare`.
    pub fn start_under_init_through(
        prefix: &[&str],
        files: &[(&str, &str)],
        init_args: &[&str],
        extra_args: &[&str],
    ) -> Manager {
        let init = vigild_bin().with_file_name("vigil-init");
        assert!(
            init.exists(),
            "{} is missing: build it first (cargo build --bins)",
            init.display()
        );
        let init = init.display().to_string();
        let manager = vigild_bin().display().to_string();
        let mut wrapper = prefix.to_vec();
        wrapper.extend([
            "unshare",
            "--pid",
            "--fork",
            "--mount-proc",
            "--kill-child",
            &init,
            "--container",
            "--manager",
            &manager,
        ]);
        wrapper.extend_from_slice(init_args);
        wrapper.push("--");
        Manager::launch_as(files, extra_args, &[], &wrapper, false)
    }

    fn launch(
        files: &[(&str, &str)],
        extra_args: &[&str],
        env: &[(&str, &str)],
        wrapper: &[&str],
    ) -> Manager {
        Manager::launch_as(files, extra_args, env, wrapper, true)
    }

    /// `with_vigild`: the wrapper is followed by vigild's path (else the
    /// wrapper names it itself).
    fn launch_as(
        files: &[(&str, &str)],
        extra_args: &[&str],
        env: &[(&str, &str)],
        wrapper: &[&str],
        with_vigild: bool,
    ) -> Manager {
        let dir = TempDir::new("mgr");
        if !wrapper.is_empty() {
            // vigild may run as another user: it must be able to make its socket.
            fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        }
        let config = dir.path().join("units");
        fs::create_dir_all(&config).unwrap();
        for (name, text) in files {
            write_file(&config.join(name), text);
        }
        // A test may name the socket itself (`--socket` among its arguments):
        // a program it starts must know the path before vigild runs.
        let socket = match extra_args.iter().position(|a| *a == "--socket") {
            Some(at) => PathBuf::from(extra_args[at + 1]),
            None => dir.path().join("control.sock"),
        };
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args);
                if with_vigild {
                    c.arg(vigild_bin());
                }
                c
            }
            None => Command::new(vigild_bin()),
        };
        let mut child = command
            .arg("--config-dir")
            .arg(&config)
            .arg("--socket")
            .arg(&socket)
            .args(extra_args)
            .env_remove("VIGIL_SOCKET")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn vigild");
        let stderr = spawn_reader(child.stderr.take().expect("stderr"));
        // Drain stdout too, so a chatty console sink can never fill the pipe; the
        // lines are kept for tests of the console sink (an unbounded channel).
        let stdout = spawn_reader(child.stdout.take().expect("stdout"));
        let mut m = Manager {
            dir,
            config,
            socket,
            child,
            stderr,
            seen: Vec::new(),
            stdout,
            seen_stdout: Vec::new(),
            under_init: !with_vigild,
        };
        m.expect_stderr("control socket");
        m
    }

    /// Waits for a stderr line containing `needle`; returns it.
    pub fn expect_stderr(&mut self, needle: &str) -> String {
        expect_line(&self.stderr, &mut self.seen, needle, "vigild's stderr")
    }

    /// Waits for a line on vigild's stdout containing `needle`; returns it.
    pub fn expect_stdout(&mut self, needle: &str) -> String {
        expect_line(
            &self.stdout,
            &mut self.seen_stdout,
            needle,
            "vigild's stdout",
        )
    }

    /// Waits for `: line-N` on stdout, then checks that all N `line-` lines came.
    pub fn expect_every_numbered_line(&mut self, n: usize) {
        self.expect_stdout(&format!("line-{n}"));
        let lines = self
            .drain_stdout()
            .iter()
            .filter(|l| l.contains(": line-"))
            .count();
        assert_eq!(lines, n);
    }

    /// Collects stdout lines that are already there, without waiting.
    pub fn drain_stdout(&mut self) -> &[String] {
        drain(&self.stdout, &mut self.seen_stdout)
    }

    /// Collects stderr lines that are already there, without waiting.
    pub fn drain_stderr(&mut self) -> &[String] {
        drain(&self.stderr, &mut self.seen)
    }

    /// `vigil ARGS...` against this manager, left running (a client that
    /// waits for a job), its stdout and stderr piped.
    pub fn vigil_in_background(&self, args: &[&str]) -> Child {
        Command::new(vigil_bin())
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vigil")
    }

    pub fn vigil(&self, args: &[&str]) -> Output {
        Command::new(vigil_bin())
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run vigil")
    }

    /// Runs vigil and asserts its exit code; returns stdout.
    pub fn vigil_ok(&self, args: &[&str]) -> String {
        self.vigil_code(args, 0)
    }

    pub fn vigil_code(&self, args: &[&str], code: i32) -> String {
        let out = self.vigil(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "vigil {args:?}: stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn status_json(&self, unit: &str) -> serde_json::Value {
        let out = self.vigil(&["status", unit, "--json"]);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "status {unit}: bad JSON ({e}): {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    pub fn state(&self, unit: &str) -> String {
        self.status_json(unit)["state"]
            .as_str()
            .unwrap_or("?")
            .to_string()
    }

    /// Follows the unit's log (vigild writes every state change into it) until a
    /// line contains `needle`. Event-driven: the lines are pushed by vigild.
    pub fn wait_log(&self, unit: &str, needle: &str) -> String {
        let mut child = Command::new(vigil_bin())
            .arg("--socket")
            .arg(&self.socket)
            .args(["log", "-f", "-n", "100000", unit])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("vigil log -f");
        let lines = spawn_reader(child.stdout.take().expect("stdout"));
        let deadline = Instant::now() + TIMEOUT;
        let mut seen = Vec::new();
        let found = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => break Some(line),
                Ok(line) => seen.push(line),
                Err(_) => break None,
            }
        };
        let _ = child.kill();
        let _ = child.wait();
        found.unwrap_or_else(|| {
            panic!(
                "{unit}: no log line with {needle:?}; saw:\n{}",
                seen.join("\n")
            )
        })
    }

    /// Follows the unit's log (history included) until `count` lines contain
    /// `needle`; returns those lines. For "the second time it got running".
    pub fn wait_log_count(&self, unit: &str, needle: &str, count: usize) -> Vec<String> {
        let mut child = Command::new(vigil_bin())
            .arg("--socket")
            .arg(&self.socket)
            .args(["log", "-f", "-n", "100000", unit])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("vigil log -f");
        let lines = spawn_reader(child.stdout.take().expect("stdout"));
        let deadline = Instant::now() + TIMEOUT;
        let mut seen = Vec::new();
        let mut hits = Vec::new();
        while hits.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => hits.push(line),
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            hits.len() >= count,
            "{unit}: {} of {count} log lines with {needle:?}; saw:\n{}\n{}",
            hits.len(),
            hits.join("\n"),
            seen.join("\n")
        );
        hits
    }

    /// The unit's log as `vigil log --json` gives it: one object per line.
    pub fn log_json(&self, unit: &str) -> Vec<serde_json::Value> {
        self.vigil_ok(&["log", unit, "-n", "100000", "--json"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad log JSON ({e}): {l}")))
            .collect()
    }

    /// The unit's main PID; panics when it has none.
    pub fn main_pid(&self, unit: &str) -> u32 {
        let st = self.status_json(unit);
        st["pid"]
            .as_u64()
            .unwrap_or_else(|| panic!("{unit} has no main PID: {st}")) as u32
    }

    /// `vigil log -f WHICH` with the lines kept so far, read as they come.
    pub fn follow_log(&self, which: &str) -> Follower {
        let mut child = Command::new(vigil_bin())
            .arg("--socket")
            .arg(&self.socket)
            .args(["log", "-f", "-n", "100000", which])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("vigil log -f");
        let lines = spawn_reader(child.stdout.take().expect("stdout"));
        Follower {
            child,
            lines,
            seen: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// Waits until the unit is in `state`, or has passed through it since the
    /// call (as its state-change log lines show). A line of an earlier run into
    /// the same state does not count: only one after those logged at the call.
    /// A unit not loaded yet (the instance a connection is about to start) is
    /// waited for; every line of it then counts.
    pub fn wait_state(&self, unit: &str, state: &str) {
        let needle = format!("-> {state}");
        let log = self.vigil(&["log", unit, "-n", "100000"]);
        let before = if log.status.success() {
            let log = String::from_utf8_lossy(&log.stdout);
            log.lines().filter(|l| l.contains(&needle)).count()
        } else {
            wait_until(&format!("{unit} to be loaded"), || {
                // `vigil status`: 4 is "no such unit" (3 "not active").
                self.vigil(&["status", unit]).status.code() != Some(4)
            });
            0
        };
        if self.state(unit) == state {
            return;
        }
        self.wait_log_count(unit, &needle, before + 1);
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Asks vigild to stop everything and waits for it to exit; returns its status.
    pub fn shutdown(mut self) -> std::process::ExitStatus {
        let _ = self.vigil(&["shutdown"]);
        self.wait_exit()
    }

    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        // The stderr reader ends when vigild exits: that is the event.
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("vigild did not exit; stderr:\n{}", self.seen.join("\n"))
                }
            }
        }
        self.child.wait().expect("wait vigild")
    }

    /// Under vigil-init: vigild's PID as the test sees it (unshare -> vigil-init
    /// -> vigild), when one runs.
    pub fn vigild_pid(&self) -> Option<u32> {
        let init = *children(self.pid()).first()?;
        // Not a child a killed vigild cloned and that has not exec'd yet: it is
        // vigil-init's now, and it is still vigild by name and by binary until
        // its exec (PF_FORKNOEXEC, 0x40, in the flags, field 9 of its stat, is
        // cleared after the binary changes and before the name does).
        let exec_d = |p: u32| {
            let stat = fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            let flags = stat
                .rsplit_once(')')
                .and_then(|(_, f)| f.split_whitespace().nth(6));
            flags
                .and_then(|f| f.parse::<u64>().ok())
                .is_some_and(|f| f & 0x40 == 0)
        };
        let vigild = fs::canonicalize(vigild_bin()).ok();
        children(init).into_iter().find(|&p| {
            fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "vigild")
                && exec_d(p)
                && fs::read_link(format!("/proc/{p}/exe")).ok() == vigild
        })
    }

    /// Under vigil-init: kills vigild with SIGKILL, runs `while_down` before its
    /// successor is seen, and waits until the successor answers.
    pub fn kill_vigild(&self, while_down: impl FnOnce()) {
        let old = self.running_vigild();
        assert!(send_signal(old, "KILL"), "kill vigild {old}");
        while_down();
        self.wait_for_successor(old);
    }

    /// Under vigil-init: stops vigild (SIGSTOP), runs `while_stopped` (what happens
    /// then vigild cannot see: a child of its that exits stays its zombie), then
    /// kills it and waits until its successor answers.
    pub fn stop_and_kill_vigild(&self, while_stopped: impl FnOnce()) {
        let old = self.running_vigild();
        assert!(send_signal(old, "STOP"), "stop vigild {old}");
        while_stopped();
        assert!(send_signal(old, "KILL"), "kill vigild {old}");
        self.wait_for_successor(old);
    }

    fn running_vigild(&self) -> u32 {
        let mut pid = None;
        wait_until("a running vigild", || {
            pid = self.vigild_pid();
            pid.is_some()
        });
        pid.unwrap()
    }

    fn wait_for_successor(&self, old: u32) {
        wait_until("the next vigild", || {
            self.vigild_pid().is_some_and(|p| p != old)
        });
        // It answers once it has taken over (connections wait in the backlog).
        self.vigil_ok(&["list"]);
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SIGTERM stops the services too; then make sure. `unshare` does
            // not pass it on: vigil-init, below it, gets it.
            let mut target = self.child.id();
            if self.under_init
                && let Some(&init) = children(target).first()
            {
                target = init;
            }
            let _ = Command::new("kill")
                .args(["-TERM", &target.to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                match self.stderr.recv_timeout(Duration::from_millis(200)) {
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    _ => continue,
                }
            }
            // Still there (a vigild held by a tracer does not stop): SIGKILL to
            // the namespace's PID 1 ends everything in it; `unshare`, still
            // running, has not reaped it, so the PID is still its.
            if target != self.child.id() && matches!(self.child.try_wait(), Ok(None)) {
                let _ = Command::new("kill")
                    .args(["-KILL", &target.to_string()])
                    .status();
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits on `lines` (keeping every line in `seen`) for one containing `needle`.
fn expect_line(
    lines: &Receiver<String>,
    seen: &mut Vec<String>,
    needle: &str,
    what: &str,
) -> String {
    if let Some(line) = seen.iter().find(|l| l.contains(needle)) {
        return line.clone();
    }
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                seen.push(line.clone());
                if line.contains(needle) {
                    return line;
                }
            }
            Err(_) => panic!("{what} never had {needle:?}; it had:\n{}", seen.join("\n")),
        }
    }
}

fn drain<'a>(lines: &Receiver<String>, seen: &'a mut Vec<String>) -> &'a [String] {
    while let Ok(line) = lines.try_recv() {
        seen.push(line);
    }
    seen
}

/// A `vigil log -f` running; killed when dropped.
pub struct Follower {
    child: Child,
    lines: Receiver<String>,
    seen: std::cell::RefCell<Vec<String>>,
}

impl Follower {
    /// Waits for a line containing `needle`; returns it.
    pub fn expect(&self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.borrow_mut().push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {needle:?}; saw {:#?}", self.seen.borrow()),
            }
        }
    }

    /// Every line read so far.
    pub fn seen(&self) -> Vec<String> {
        self.seen.borrow().clone()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_reader<R: std::io::Read + Send + 'static>(r: R) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Runs vigil without a manager (for `vigil verify`).
pub fn vigil_offline(args: &[&str]) -> Output {
    Command::new(vigil_bin())
        .args(args)
        .env_remove("VIGIL_SOCKET")
        .stdin(Stdio::null())
        .output()
        .expect("run vigil")
}

/// Writes `text` to `path` (its directory made if missing), mode 0755: a
/// script to run.
pub fn write_executable(path: &Path, text: &str) {
    write_file(path, text);
    fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// Copies the units vigil ships (crates/boot/units: files, and the links
/// that are aliases) into `units`, made if missing.
pub fn copy_shipped_units(units: &Path) {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../boot/units");
    fs::create_dir_all(units).unwrap();
    for entry in fs::read_dir(&shipped).unwrap() {
        let entry = entry.unwrap();
        let to = units.join(entry.file_name());
        match fs::read_link(entry.path()) {
            Ok(target) => std::os::unix::fs::symlink(target, to).unwrap(),
            Err(_) => {
                fs::copy(entry.path(), to).unwrap();
            }
        }
    }
}

pub fn write_file(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, text).unwrap();
}

/// Re-checks `cond` until it holds or the deadline passes. For conditions with
/// no event to wait on (the content of a file a service writes).
pub fn wait_until(what: &str, cond: impl FnMut() -> bool) {
    wait_until_within(what, TIMEOUT, cond);
}

/// A child's output once it has exited, which it must within TIMEOUT (a
/// client in the background: `Manager::vigil_in_background`).
pub fn finished(mut child: std::process::Child, what: &str) -> std::process::Output {
    wait_until(what, || child.try_wait().unwrap().is_some());
    child.wait_with_output().unwrap()
}

/// `wait_until` with its own limit, for what takes longer than TIMEOUT.
pub fn wait_until_within(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_millis(1);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// `kill -SIG PID`; whether the signal was sent.
pub fn send_signal(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// Skips a privileged test with a printed reason, except in CI where it must run.
pub fn require_root(test: &str) -> bool {
    is_root() || skip(test, "needs root")
}

/// Says why `test` does not run and returns false; under CI=true, where every
/// test must run, fails it instead.
pub fn skip(test: &str, reason: &str) -> bool {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test} cannot run: {reason}; CI=true forbids skipping it");
    }
    eprintln!("skipping {test}: {reason}");
    false
}

/// The fields of `name`'s line in /etc/passwd.
pub fn passwd_entry(name: &str) -> Vec<String> {
    let passwd = fs::read_to_string("/etc/passwd").unwrap();
    passwd
        .lines()
        .find(|l| l.split(':').next() == Some(name))
        .unwrap_or_else(|| panic!("{name} in /etc/passwd"))
        .split(':')
        .map(str::to_string)
        .collect()
}

/// The processes whose parent is `pid` (in the test's PID namespace).
pub fn children(pid: u32) -> Vec<u32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// A python3 the services can run (the manager's PATH may not have pyenv's); a
/// machine without one fails the tests that need it rather than skipping them.
pub fn python() -> String {
    ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("python3 in /usr/bin or /usr/local/bin")
        .to_string()
}

/// The stdout lines of a unit's log, in order.
pub fn stdout_lines(m: &Manager, unit: &str) -> Vec<String> {
    m.log_json(unit)
        .into_iter()
        .filter(|l| l["stream"] == "stdout")
        .map(|l| l["line"].as_str().unwrap_or_default().to_string())
        .collect()
}
