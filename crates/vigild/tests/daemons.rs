//! Real daemons from Debian's packages, run from their shipped unit files in
//! /lib/systemd/system, unmodified (linked from vigild's configuration directory),
//! under vigild (issue 4, "Real daemons").
//!
//! scripts/install-test-deps installs the packages (as root, with a policy-rc.d that
//! keeps their maintainer scripts from starting anything). Each test starts a vigild
//! whose configuration directory links the daemon's unit file, starts it with
//! `vigil start`, checks that it really serves, that `vigil status` shows the daemon's
//! own main PID (the one it writes to its PID file or reports itself), then stops it
//! with `vigil stop` and checks that no process of it is left. The daemons share the
//! machine's ports and directories, so the tests take turns.
//!
//! Without root or without the packages a test prints why and passes, except with
//! CI=true, where that is a failure.

mod harness;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use harness::{Manager, alive, is_root, skip, wait_until, wait_until_within};

/// One daemon at a time: they use the machine's ports, /run and their data.
static TURN: Mutex<()> = Mutex::new(());

/// A vigild whose configuration directory holds a default target that starts
/// nothing and a symlink to each of `units` in /lib/systemd/system: the shipped files,
/// unmodified. Not /lib/systemd/system itself: a unit's default dependencies pull in
/// sysinit.target, and that directory's sysinit.target.wants/ would run systemd's own
/// early-boot services (systemd-tmpfiles-setup empties /tmp) on the test machine.
fn manager(units: &[&str]) -> Manager {
    let m = Manager::start(&[("default.target", "[Unit]\nDescription=nothing at boot\n")]);
    for unit in units {
        std::os::unix::fs::symlink(
            Path::new("/lib/systemd/system").join(unit),
            m.config.join(unit),
        )
        .unwrap();
    }
    m.vigil_ok(&["sync"]);
    m
}

/// Whether the test can run: root, and `needs` (unit files, programs) present.
fn ready(test: &str, needs: &[&str]) -> bool {
    let missing: Vec<&str> = needs
        .iter()
        .copied()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if !is_root() {
        return skip(test, "needs root");
    }
    missing.is_empty()
        || skip(
            test,
            &format!(
                "missing {} (scripts/install-test-deps installs the packages)",
                missing.join(", ")
            ),
        )
}

/// Every process whose program is `exe`.
fn processes_of(exe: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(link) = fs::read_link(entry.path().join("exe")) else {
            continue;
        };
        let link = link.to_string_lossy();
        if link.trim_end_matches(" (deleted)") == exe && alive(pid) {
            out.push(pid);
        }
    }
    out
}

/// No process of `exe` runs before the test: one would be taken for the test's own.
fn none_running(exe: &str) {
    let found = processes_of(exe);
    assert!(
        found.is_empty(),
        "{exe} already runs outside the test (pids {found:?}): stop it first"
    );
}

/// `program args...`, its stdout; fails the test with its output when it fails.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The first number in a PID file.
fn pid_file(path: &str) -> u32 {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("{path}: no PID in {text:?}"))
}

/// `vigil start UNIT`; the unit must then be running.
fn start(m: &Manager, unit: &str) {
    let out = m.vigil(&["start", unit]);
    let state = m.state(unit);
    assert!(
        out.status.success() && state == "running",
        "vigil start {unit}: {}; state {state}; log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        m.vigil_ok(&["log", unit, "-n", "200"])
    );
}

/// `vigil stop UNIT`: it ends within its own stop timeout (no SIGKILL from vigild),
/// inactive, and no process of `exe` is left.
fn stop(m: &Manager, unit: &str, exe: &str) {
    let out = m.vigil(&["stop", unit]);
    let log = m.vigil_ok(&["log", unit, "-n", "200"]);
    assert!(
        out.status.success(),
        "vigil stop {unit}: {}; log:\n{log}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(m.state(unit), "inactive", "{unit} after stop; log:\n{log}");
    assert!(
        !log.contains("SIGKILL"),
        "{unit} had to be killed: it did not stop within its timeout; log:\n{log}"
    );
    let left = processes_of(exe);
    assert!(left.is_empty(), "{unit}: {exe} left behind: {left:?}");
}

#[test]
fn nginx_forking_with_pid_file_serves_reloads_and_stops() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    if !ready(
        "nginx",
        &[
            "/lib/systemd/system/nginx.service",
            "/usr/sbin/nginx",
            "/usr/bin/curl",
        ],
    ) {
        return;
    }
    none_running("/usr/sbin/nginx");
    let extra = Path::new("/etc/nginx/conf.d/vigil-test.conf");
    let _ = fs::remove_file(extra);
    let m = manager(&["nginx.service"]);
    start(&m, "nginx");
    let code = run(
        "curl",
        &[
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "http://127.0.0.1/",
        ],
    );
    assert_eq!(code, "200");
    // Type=forking + PIDFile=: the main PID is the master nginx wrote there.
    let main = m.main_pid("nginx");
    assert_eq!(main, pid_file("/run/nginx.pid"));
    // `vigil reload` runs ExecReload=: nginx re-reads its configuration, here a new
    // server on port 8089, and keeps its master process.
    fs::write(
        extra,
        "server { listen 127.0.0.1:8089; location / { return 204; } }\n",
    )
    .unwrap();
    m.vigil_ok(&["reload", "nginx"]);
    wait_until("nginx to serve the reloaded configuration", || {
        Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg("http://127.0.0.1:8089/")
            .output()
            .is_ok_and(|o| o.stdout == b"204")
    });
    let _ = fs::remove_file(extra);
    assert_eq!(m.main_pid("nginx"), main, "reload kept the master");
    stop(&m, "nginx", "/usr/sbin/nginx");
    m.shutdown();
}

#[test]
fn redis_notify_answers_ping_and_shows_its_status() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    if !ready(
        "redis",
        &[
            "/lib/systemd/system/redis-server.service",
            "/usr/bin/redis-server",
            "/usr/bin/redis-cli",
        ],
    ) {
        return;
    }
    none_running("/usr/bin/redis-server");
    let m = manager(&["redis-server.service"]);
    // Type=notify, User=redis, RuntimeDirectory=redis, LimitNOFILE=65535.
    start(&m, "redis-server");
    assert_eq!(run("redis-cli", &["ping"]).trim(), "PONG");
    let info = run("redis-cli", &["info", "server"]);
    let pid: u32 = info
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no process_id in INFO: {info}"));
    assert_eq!(m.main_pid("redis-server"), pid);
    // redis sends STATUS= with its READY=1.
    let st = m.status_json("redis-server");
    assert!(
        st["status_text"].as_str().is_some_and(|s| !s.is_empty()),
        "no STATUS text: {st}"
    );
    stop(&m, "redis-server", "/usr/bin/redis-server");
    m.shutdown();
}

#[test]
fn memcached_answers_stats() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    if !ready(
        "memcached",
        &[
            "/lib/systemd/system/memcached.service",
            "/usr/bin/memcached",
        ],
    ) {
        return;
    }
    none_running("/usr/bin/memcached");
    let m = manager(&["memcached.service"]);
    start(&m, "memcached");
    use std::io::{Read, Write};
    let mut stats = String::new();
    wait_until("memcached to listen", || {
        let Ok(mut conn) = std::net::TcpStream::connect("127.0.0.1:11211") else {
            return false;
        };
        let _ = conn.write_all(b"stats\r\nquit\r\n");
        stats.clear();
        conn.read_to_string(&mut stats).is_ok() && stats.contains("END")
    });
    // The wrapper script execs memcached: the main PID is memcached's own.
    let pid: u32 = stats
        .lines()
        .find_map(|l| l.strip_prefix("STAT pid "))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid in stats: {stats}"));
    assert_eq!(m.main_pid("memcached"), pid);
    stop(&m, "memcached", "/usr/bin/memcached");
    m.shutdown();
}

#[test]
fn sshd_notify_with_runtime_directory_gives_a_host_key() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    if !ready(
        "ssh",
        &[
            "/lib/systemd/system/ssh.service",
            "/usr/sbin/sshd",
            "/usr/bin/ssh-keyscan",
        ],
    ) {
        return;
    }
    none_running("/usr/sbin/sshd");
    let m = manager(&["ssh.service"]);
    // ExecStartPre=/usr/sbin/sshd -t needs RuntimeDirectory=sshd (/run/sshd).
    start(&m, "ssh");
    let keys = run("ssh-keyscan", &["-T", "10", "127.0.0.1"]);
    assert!(
        keys.lines().any(|l| l.starts_with("127.0.0.1 ssh-")),
        "no host key: {keys}"
    );
    let main = m.main_pid("ssh");
    assert_eq!(
        fs::read_link(format!("/proc/{main}/exe")).unwrap(),
        Path::new("/usr/sbin/sshd")
    );
    stop(&m, "ssh", "/usr/sbin/sshd");
    assert!(!Path::new("/run/sshd").exists(), "RuntimeDirectory removed");
    m.shutdown();
}

#[test]
fn cron_runs_a_job_from_cron_d() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    if !ready(
        "cron",
        &["/lib/systemd/system/cron.service", "/usr/sbin/cron"],
    ) {
        return;
    }
    none_running("/usr/sbin/cron");
    let m = manager(&["cron.service"]);
    let mark = m.dir.path().join("cron-ran");
    let job = Path::new("/etc/cron.d/vigil-test");
    fs::write(
        job,
        format!("* * * * * root echo ran >> {}\n", mark.display()),
    )
    .unwrap();
    start(&m, "cron");
    // cron (Type=simple) writes its PID file itself, a moment after it is
    // running; the file may still be an earlier cron's until then.
    let main = m.main_pid("cron");
    wait_until_within(
        "cron to write its PID file",
        std::time::Duration::from_secs(10),
        || {
            let text = fs::read_to_string("/run/crond.pid").unwrap_or_default();
            text.split_whitespace().next().and_then(|w| w.parse().ok()) == Some(main)
        },
    );
    // cron runs jobs at the start of each minute: up to a minute and a bit.
    wait_until_within(
        "the cron.d job to run",
        std::time::Duration::from_secs(75),
        || mark.exists(),
    );
    let _ = fs::remove_file(job);
    stop(&m, "cron", "/usr/sbin/cron");
    m.shutdown();
}

#[test]
fn postgresql_template_instance_answers_select_1() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let postgres = "/usr/lib/postgresql/15/bin/postgres";
    if !ready(
        "postgresql",
        &[
            "/lib/systemd/system/postgresql@.service",
            "/etc/postgresql/15/main/postgresql.conf",
            postgres,
            "/usr/bin/psql",
        ],
    ) {
        return;
    }
    none_running(postgres);
    let m = manager(&["postgresql@.service"]);
    // The template, driven by pg_ctlcluster (Type=forking, PIDFile=/run/postgresql/%i.pid).
    start(&m, "postgresql@15-main");
    let one = run(
        "runuser",
        &["-u", "postgres", "--", "psql", "-tAc", "select 1"],
    );
    assert_eq!(one.trim(), "1");
    assert_eq!(
        m.main_pid("postgresql@15-main"),
        pid_file("/run/postgresql/15-main.pid")
    );
    stop(&m, "postgresql@15-main", postgres);
    m.shutdown();
}
