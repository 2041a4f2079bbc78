//! `vigil isolate` and the verbs on it (`rescue`, `emergency`, `default`),
//! end to end: the real vigild on its own unit directory and socket, driven
//! by the real `vigil`, with real services. An isolate starts the target and
//! stops every other unit but those with IgnoreOnIsolate=yes and what the
//! units kept need; the reply comes when the target has settled and what it
//! stopped is down (its processes gone). An isolate (or a start) of a target
//! that is active already waits, as systemd's job does, for the starts it
//! queued of the units the target is ordered after.

mod harness;

use std::fs;
use std::path::Path;
use std::process::Output;

use harness::{Manager, TempDir, alive, finished, vigil_bin};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const SLEEPER: &str = "[Service]\nExecStart=/bin/sleep 1000\n";

/// A multi-user-like boot target with several services (one of them kept
/// on isolate, with a service it requires), and a smaller target that
/// wants one of them.
fn two_targets() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "default.target",
            "[Unit]\nAllowIsolate=yes\n\
             Wants=web.service db.service cache.service keep.service\n",
        ),
        (
            "small.target",
            "[Unit]\nAllowIsolate=yes\nWants=db.service\n",
        ),
        ("plain.target", "[Unit]\nWants=db.service\n"),
        ("web.service", SLEEPER),
        ("db.service", SLEEPER),
        ("cache.service", SLEEPER),
        (
            "keep.service",
            "[Unit]\nIgnoreOnIsolate=yes\nRequires=lib.service\nAfter=lib.service\n\
             [Service]\nExecStart=/bin/sleep 1000\n",
        ),
        ("lib.service", SLEEPER),
    ]
}

const ALL: [&str; 5] = [
    "web.service",
    "db.service",
    "cache.service",
    "keep.service",
    "lib.service",
];

/// Starts the manager and waits for every service of the boot target.
fn booted(files: &[(&str, &str)]) -> Manager {
    let m = Manager::start(files);
    for unit in ALL {
        m.wait_state(unit, "running");
    }
    m.wait_state("default.target", "running");
    m
}

fn pids(m: &Manager, units: &[&str]) -> Vec<u32> {
    units.iter().map(|u| m.main_pid(u)).collect()
}

#[test]
fn isolate_stops_what_the_smaller_target_does_not_need_and_back_starts_it() {
    let mut files = two_targets();
    // A stop that takes a moment: the reply waits for it.
    files.retain(|(name, _)| *name != "cache.service");
    files.push((
        "cache.service",
        "[Service]\nExecStart=/bin/sleep 1000\nExecStop=/bin/sleep 0.5\n",
    ));
    let m = booted(&files);
    let (web, cache) = (m.main_pid("web.service"), m.main_pid("cache.service"));
    let db = m.main_pid("db.service");
    let out = m.vigil(&["isolate", "small.target"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "isolate said something");
    // Answered once they are down: their processes are gone already.
    assert!(!alive(web) && !alive(cache), "a stopped service still runs");
    for unit in ["web.service", "cache.service", "default.target"] {
        assert_eq!(m.state(unit), "inactive", "{unit}");
    }
    assert_eq!(m.state("small.target"), "running");
    assert_eq!(m.main_pid("db.service"), db, "db.service was restarted");
    // Back, by its name without the suffix: what it wants starts again.
    m.vigil_ok(&["isolate", "default"]);
    for unit in ["web.service", "cache.service", "default.target"] {
        assert_eq!(m.state(unit), "running", "{unit}");
    }
    assert_ne!(m.main_pid("web.service"), web);
    assert_eq!(m.state("small.target"), "inactive");
    assert_eq!(m.main_pid("db.service"), db, "db.service was restarted");
}

#[test]
fn ignore_on_isolate_units_and_what_they_require_keep_running_with_the_same_pid() {
    let m = booted(&two_targets());
    let kept = pids(&m, &["keep.service", "lib.service"]);
    m.vigil_ok(&["isolate", "small.target"]);
    assert_eq!(m.state("web.service"), "inactive");
    assert_eq!(pids(&m, &["keep.service", "lib.service"]), kept);
    assert!(kept.iter().all(|&p| alive(p)));
    let log = m.vigil_ok(&["log", "keep.service", "-n", "1000"]);
    assert!(
        !log.contains("stopping"),
        "keep.service was touched:\n{log}"
    );
    // And back: still the same processes.
    m.vigil_ok(&["isolate", "default.target"]);
    assert_eq!(pids(&m, &["keep.service", "lib.service"]), kept);
}

#[test]
fn a_target_without_allow_isolate_is_refused_and_nothing_changes() {
    let m = booted(&two_targets());
    let before = pids(&m, &ALL);
    let out = m.vigil(&["isolate", "plain.target"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "vigil: plain.target: operation refused, unit may not be isolated \
         (it has no AllowIsolate=yes)\n"
    );
    assert_eq!(pids(&m, &ALL), before);
    assert_eq!(m.state("plain.target"), "inactive");
    assert_eq!(m.state("default.target"), "running");
    // A name with no unit: exit 4, as start says it.
    let out = m.vigil(&["isolate", "nope"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no such unit: nope.target"),
        "{}",
        stderr(&out)
    );
    // A service may be isolated only as a target may: with AllowIsolate=yes.
    let out = m.vigil(&["isolate", "db.service"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(pids(&m, &ALL), before);
}

/// `vigil rescue` isolates rescue.target: its service starts, everything
/// else (but what is kept) stops; `vigil default` with no default.target
/// goes back to the target the manager booted (`--target`).
#[test]
fn rescue_isolates_rescue_target_and_default_goes_back_to_the_boot_target() {
    let mut files: Vec<(&str, &str)> = two_targets()
        .into_iter()
        .filter(|(name, _)| *name != "default.target")
        .collect();
    files.push((
        "multi-user.target",
        "[Unit]\nAllowIsolate=yes\n\
         Wants=web.service db.service cache.service keep.service\n",
    ));
    files.push((
        "rescue.target",
        "[Unit]\nAllowIsolate=yes\nWants=shell.service\n",
    ));
    files.push(("shell.service", SLEEPER));
    let m = Manager::start_with(&files, &["--target", "multi-user.target"]);
    for unit in ALL {
        m.wait_state(unit, "running");
    }
    let web = m.main_pid("web.service");
    let kept = pids(&m, &["keep.service", "lib.service"]);
    m.vigil_ok(&["rescue"]);
    assert_eq!(m.state("rescue.target"), "running");
    assert_eq!(m.state("shell.service"), "running");
    for unit in [
        "web.service",
        "db.service",
        "cache.service",
        "multi-user.target",
    ] {
        assert_eq!(m.state(unit), "inactive", "{unit}");
    }
    assert!(!alive(web));
    assert_eq!(pids(&m, &["keep.service", "lib.service"]), kept);
    m.vigil_ok(&["default"]);
    assert_eq!(m.state("multi-user.target"), "running");
    for unit in ["web.service", "db.service", "cache.service"] {
        assert_eq!(m.state(unit), "running", "{unit}");
    }
    assert_eq!(m.state("shell.service"), "inactive");
    assert_eq!(m.state("rescue.target"), "inactive");
}

/// An emergency.target with no unit behind it (a configuration without
/// the shipped emergency.service, rescue.rs has that one): what the isolate
/// does is stop every unit but the kept ones, as systemd does with the
/// units there are.
#[test]
fn emergency_with_an_empty_target_stops_every_unit_but_the_kept_ones() {
    let mut files = two_targets();
    files.push((
        "emergency.target",
        "[Unit]\nDefaultDependencies=no\nAllowIsolate=yes\n",
    ));
    let m = booted(&files);
    let kept = pids(&m, &["keep.service", "lib.service"]);
    m.vigil_ok(&["emergency"]);
    assert_eq!(m.state("emergency.target"), "running");
    let list = m.vigil_ok(&["list"]);
    let running: Vec<&str> = (list.lines().skip(1))
        .filter(|l| l.split_whitespace().nth(1) == Some("running"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    // sysinit.target stays too: the kept services require it (their
    // default dependencies).
    assert_eq!(
        running,
        [
            "emergency.target",
            "keep.service",
            "lib.service",
            "sysinit.target"
        ],
        "{list}"
    );
    assert_eq!(pids(&m, &["keep.service", "lib.service"]), kept);
}

#[test]
fn no_block_answers_at_once_and_the_isolate_goes_on() {
    let mut files = two_targets();
    // A stop that takes a while: the reply must not wait for it.
    files.retain(|(name, _)| *name != "web.service");
    files.push((
        "web.service",
        "[Service]\nExecStart=/bin/sleep 1000\nExecStop=/bin/sleep 2\n",
    ));
    let m = booted(&files);
    let web = m.main_pid("web.service");
    let out = m.vigil(&["isolate", "small", "--no-block"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(m.state("web.service"), "stopping");
    m.wait_state("web.service", "inactive");
    assert!(!alive(web));
    assert_eq!(m.state("small.target"), "running");
}

/// A stop that fails still ends with the unit down: the isolate did what it
/// was asked (exit 0); a target whose start fails is exit 1, said.
#[test]
fn a_target_that_fails_to_start_is_said_and_exit_1() {
    let mut files = two_targets();
    files.push((
        "bad.target",
        "[Unit]\nAllowIsolate=yes\nRequires=broken.service\nAfter=broken.service\n",
    ));
    files.push((
        "broken.service",
        "[Service]\nExecStart=/bin/false\nType=oneshot\n",
    ));
    let m = booted(&files);
    let out = m.vigil(&["isolate", "bad.target"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("bad.target: inactive (dependency failed: broken.service)"),
        "{}",
        stderr(&out)
    );
    // The isolate went on all the same: the others are down.
    assert_eq!(m.state("web.service"), "inactive");
    assert_eq!(m.state("keep.service"), "running");
}

// ------------------------------------------- the start job of an active target

/// A notify service that is ready once `gate` exists, or fails (exit 1)
/// before it is ready once `fail` does.
fn gated_notify(gate: &Path, fail: &Path) -> String {
    format!(
        "[Service]\nType=notify\nNotifyAccess=all\n\
         ExecStart=/bin/sh -c 'while [ ! -e {gate} ]; do sleep 0.02; done; \
         if [ -e {fail} ]; then exit 1; fi; {vigil} notify --ready; exec sleep 1000'\n",
        gate = gate.display(),
        fail = fail.display(),
        vigil = vigil_bin().display(),
    )
}

/// default.target (AllowIsolate=yes) wants `slow.service`, gated by `gate`,
/// and `web.service`; booted with the gate open, so everything is up.
fn slow_boot(dir: &TempDir) -> (Manager, std::path::PathBuf) {
    let gate = dir.path().join("gate");
    let never = dir.path().join("never");
    fs::write(&gate, "").unwrap();
    let slow = gated_notify(&gate, &never);
    let m = Manager::start(&[
        (
            "default.target",
            "[Unit]\nAllowIsolate=yes\nWants=slow.service web.service\n",
        ),
        ("slow.service", &slow),
        ("web.service", SLEEPER),
    ]);
    for unit in ["slow.service", "web.service", "default.target"] {
        m.wait_state(unit, "running");
    }
    (m, gate)
}

/// `vigil ARGS` of the active default.target, while slow.service (which it
/// wants and is ordered after, by a target's default dependencies) starts
/// again behind its closed gate: the client waits until slow.service is up,
/// then exits 0. It returned at once (slow.service still `starting`): the
/// waiter looked at the target's own state alone, active all along.
fn waits_for_the_start_it_queued(args: &[&str]) {
    let dir = TempDir::new("isolate-active");
    let (m, gate) = slow_boot(&dir);
    m.vigil_ok(&["stop", "slow"]);
    fs::remove_file(&gate).unwrap();
    let mut client = m.vigil_in_background(args);
    m.wait_state("slow.service", "starting");
    assert!(
        client.try_wait().unwrap().is_none(),
        "vigil {args:?} returned while slow.service was starting"
    );
    // The target stays active, with its start job waiting, as systemctl
    // list-jobs shows it.
    assert_eq!(m.state("default.target"), "running");
    let jobs = m.vigil_ok(&["list-jobs"]);
    assert!(
        jobs.lines().any(|l| l
            .split_whitespace()
            .eq(["default.target", "start", "waiting"])),
        "{jobs}"
    );
    fs::write(&gate, "").unwrap();
    let out = finished(client, "the client to exit");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    // Answered only once it was up.
    assert_eq!(m.state("slow.service"), "running");
    assert_eq!(m.state("default.target"), "running");
    assert_eq!(m.vigil_ok(&["list-jobs"]), "No jobs running.\n");
}

#[test]
fn isolate_of_the_active_target_waits_for_the_units_it_starts() {
    waits_for_the_start_it_queued(&["isolate", "default"]);
}

#[test]
fn start_of_the_active_target_waits_for_the_units_it_starts() {
    waits_for_the_start_it_queued(&["start", "default.target"]);
}

/// A unit the active target requires (and is ordered after) that fails to
/// start now fails the target's start job: exit 1, said as for a target
/// that was down (`inactive (dependency failed: ...)`), but the target
/// stays active, as systemd fails the job, not the unit. It said nothing
/// and exited 0. A unit it only wants that fails does not fail the job.
#[test]
fn a_requirement_of_the_active_target_failing_now_fails_its_start() {
    let dir = TempDir::new("isolate-active-req");
    let gate = dir.path().join("gate");
    let fail = dir.path().join("fail");
    fs::write(&gate, "").unwrap();
    let bad = gated_notify(&gate, &fail);
    let m = Manager::start(&[
        (
            "default.target",
            "[Unit]\nAllowIsolate=yes\nRequires=bad.service\nWants=opt.service\n",
        ),
        ("bad.service", &bad),
        ("opt.service", &bad),
    ]);
    for unit in ["bad.service", "opt.service", "default.target"] {
        m.wait_state(unit, "running");
    }
    // Down on their own (not a stop job, which would stop the target too).
    fs::write(&fail, "").unwrap();
    m.vigil_ok(&["kill", "bad"]);
    m.vigil_ok(&["kill", "opt"]);
    m.wait_state("bad.service", "inactive");
    m.wait_state("opt.service", "inactive");
    assert_eq!(m.state("default.target"), "running");
    for args in [["start", "default.target"], ["isolate", "default"]] {
        let out = m.vigil(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert_eq!(
            stderr(&out),
            "vigil: default.target: running (dependency failed: bad.service)\n",
            "{args:?}"
        );
        assert_eq!(m.state("bad.service"), "failed");
        assert_eq!(m.state("default.target"), "running");
    }
    // Only wanted: the target's start is a success, as systemd's is.
    let out = m.vigil(&["restart", "opt"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    fs::remove_file(&fail).unwrap();
    m.vigil_ok(&["start", "bad"]);
    fs::write(&fail, "").unwrap();
    let out = m.vigil(&["start", "default.target"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(m.state("opt.service"), "failed");
}

/// No change where nothing is pending: a start of the active target whose
/// units are all up is answered at once, exit 0, and leaves no job.
#[test]
fn start_of_the_active_target_with_nothing_to_start_returns_at_once() {
    let dir = TempDir::new("isolate-active-idle");
    let (m, _gate) = slow_boot(&dir);
    let slow = m.main_pid("slow.service");
    for args in [["start", "default.target"], ["isolate", "default"]] {
        let out = m.vigil(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "");
        assert_eq!(m.vigil_ok(&["list-jobs"]), "No jobs running.\n");
    }
    assert_eq!(
        m.main_pid("slow.service"),
        slow,
        "slow.service was restarted"
    );
}

/// Review finding: `vigil start web` of a running web ordered after a
/// crash-looping unit (RestartSec= 2 s, so no start limit ever ends it)
/// hung for as long as the loop lasted, and the job it left held `vigil
/// start app` (ordered after web) too. As systemd's, the job waits for the
/// jobs of what web is ordered after, and a unit waiting out RestartSec= has
/// none: both starts return, exit 0, while crash goes on looping.
#[test]
fn a_start_of_a_running_unit_after_a_crash_loop_returns() {
    let m = Manager::start(&[
        ("default.target", "[Unit]\n"),
        (
            "crash.service",
            "[Service]\nExecStartPre=/bin/false\nExecStart=/bin/sleep 1000\n\
             Restart=always\nRestartSec=2\n",
        ),
        (
            "web.service",
            "[Unit]\nAfter=crash.service\n[Service]\nExecStart=/bin/sleep 1000\n",
        ),
        (
            "app.service",
            "[Unit]\nAfter=web.service\n[Service]\nExecStart=/bin/sleep 1000\n",
        ),
    ]);
    m.vigil_ok(&["start", "web"]);
    m.vigil_ok(&["start", "crash", "--no-block"]);
    m.wait_state("crash.service", "restarting");
    for unit in ["web", "app"] {
        let client = m.vigil_in_background(&["start", unit]);
        let out = finished(client, "the start to return");
        assert_eq!(out.status.code(), Some(0), "{unit}: {}", stderr(&out));
    }
    assert_eq!(m.state("app.service"), "running");
    assert_eq!(
        m.vigil_ok(&["list-jobs"])
            .lines()
            .filter(|l| l.contains("web"))
            .count(),
        0
    );
}
