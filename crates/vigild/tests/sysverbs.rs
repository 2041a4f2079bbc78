//! systemctl's verbs about the manager as a whole, end to end: the real
//! vigild on its own unit directory and socket, driven by the real `vigil`,
//! with real services. is-system-running tells the boot's state by its exit
//! code; list-dependencies draws the loaded configuration's tree; list-jobs
//! shows what is pending; get-default and set-default read and change
//! default.target's link.

mod harness;

use std::fs;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::process::Output;
use std::time::Duration;

use harness::{Manager, TempDir, vigil_bin, wait_until};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A service that sleeps.
const SLEEPER: &str = "[Service]\nExecStart=/bin/sleep 1000\n";

/// A service whose start waits (in `ExecStartPre=`) until `gate` exists.
fn gated(gate: &std::path::Path) -> String {
    format!(
        "[Service]\nExecStartPre=/bin/sh -c 'while [ ! -e {} ]; do sleep 0.02; done'\nExecStart=/bin/sleep 1000\n",
        gate.display()
    )
}

/// The boot's end, waited for as a script would: `is-system-running --wait`.
fn boot_done(m: &Manager) -> Output {
    m.vigil(&["is-system-running", "--wait"])
}

// ---------------------------------------------------- is-system-running

/// Everything up: `running`, exit 0; `-q` says nothing.
#[test]
fn a_system_with_every_unit_up_is_running() {
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=web.service\n"),
        ("web.service", SLEEPER),
    ]);
    let out = boot_done(&m);
    assert_eq!(stdout(&out), "running\n", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(m.state("web.service"), "running");
    let out = m.vigil(&["is-system-running", "-q"]);
    assert_eq!((stdout(&out).as_str(), out.status.code()), ("", Some(0)));
}

/// A failed unit makes it `degraded`, exit 1 (systemctl's EXIT_FAILURE for
/// every state but running); reset, it is running again.
#[test]
fn a_failed_unit_makes_the_system_degraded_with_exit_1() {
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=web.service bad.service\n"),
        ("web.service", SLEEPER),
        // A oneshot: its start job ends with its failure (a simple service
        // is up once forked, and could fail after the boot is done).
        (
            "bad.service",
            "[Service]\nType=oneshot\nExecStart=/bin/false\n",
        ),
    ]);
    let out = boot_done(&m);
    assert_eq!(stdout(&out), "degraded\n", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(m.state("bad.service"), "failed");
    m.vigil_ok(&["reset-failed", "bad"]);
    assert_eq!(m.vigil_ok(&["is-system-running"]), "running\n");
}

/// Review finding: a unit file that does not load made the system
/// `degraded`; systemd has such a unit inactive (`bad-setting`), not
/// failed, and counts it nowhere, so a typo in a file nothing starts does
/// not page anyone.
#[test]
fn a_unit_that_does_not_load_does_not_make_the_system_degraded() {
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=web.service\n"),
        ("web.service", SLEEPER),
        (
            "typo.service",
            "[Service]\nType=bogus\nExecStart=/bin/true\n",
        ),
    ]);
    let out = boot_done(&m);
    assert_eq!(stdout(&out), "running\n", "{}", stderr(&out));
    let show = m.vigil_ok(&[
        "show",
        "typo",
        "-p",
        "LoadState,ActiveState,SubState",
        "--value",
    ]);
    assert_eq!(show, "bad-setting\ninactive\ndead\n");
    let failed = m.vigil_ok(&["show", "-p", "NFailedUnits,SystemState", "--value"]);
    assert_eq!(failed, "0\nrunning\n");
}

/// While a unit of the boot still starts, the system is `starting` (exit
/// 1), and `--wait` answers only once it is up: `running`, exit 0.
#[test]
fn the_system_is_starting_until_the_boots_last_job_ends_and_wait_returns_then() {
    let dir = TempDir::new("sysverbs-gate");
    let gate = dir.path().join("open");
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=web.service slow.service\n"),
        ("web.service", SLEEPER),
        ("slow.service", &gated(&gate)),
    ]);
    m.wait_state("web.service", "running");
    let out = m.vigil(&["is-system-running"]);
    assert_eq!(stdout(&out), "starting\n", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(1));
    let mut waiter = m.vigil_in_background(&["is-system-running", "--wait"]);
    // The manager holds the answer: a `ping` sent after the request on the
    // same connection is answered first (requests are handled in order).
    let raw = UnixStream::connect(&m.socket).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    (&raw)
        .write_all(
            b"{\"version\":1,\"id\":1,\"request\":{\"verb\":\"system-state\",\"wait\":true}}\n\
              {\"version\":1,\"id\":2,\"request\":{\"verb\":\"ping\"}}\n",
        )
        .unwrap();
    let mut replies = BufReader::new(&raw).lines();
    let first = replies.next().unwrap().unwrap();
    assert!(
        first.contains("\"id\":2") && first.contains("pong"),
        "{first}"
    );
    assert_eq!(m.state("slow.service"), "starting");
    assert!(waiter.try_wait().unwrap().is_none(), "--wait did not wait");
    fs::write(&gate, "").unwrap();
    let held = replies.next().unwrap().unwrap();
    assert!(
        held.contains("\"id\":1") && held.contains("\"state\":\"running\""),
        "{held}"
    );
    wait_until("--wait to return", || waiter.try_wait().unwrap().is_some());
    let status = waiter.wait().unwrap();
    let mut said = String::new();
    waiter
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut said)
        .unwrap();
    assert_eq!(said, "running\n");
    assert_eq!(status.code(), Some(0));
    assert_eq!(m.state("slow.service"), "running");
}

/// No manager at the socket: `offline`, exit 1, as systemctl's.
#[test]
fn a_manager_out_of_reach_is_offline() {
    let dir = TempDir::new("sysverbs-offline");
    let socket = dir.path().join("none.sock");
    let out = std::process::Command::new(vigil_bin())
        .arg("--socket")
        .arg(&socket)
        .arg("is-system-running")
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "offline\n");
    assert_eq!(out.status.code(), Some(1));
}

// ---------------------------------------------------- list-dependencies

/// Nested targets and services, one of them pulled in by the link `vigil
/// enable` makes from its `[Install]` section (a `.wants/` entry), one
/// named by a `Wants=` with no unit, one failed; the boot is done.
fn start_tree() -> Manager {
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=app.target web.service\n"),
        (
            "app.target",
            "[Unit]\nWants=db.service missing.service\nRequires=data.target\n",
        ),
        ("data.target", "[Unit]\n"),
        ("web.service", SLEEPER),
        (
            "db.service",
            "[Unit]\nWants=helper.service\n[Service]\nExecStart=/bin/sleep 1000\n",
        ),
        ("helper.service", SLEEPER),
        (
            "bad.service",
            "[Service]\nExecStart=/bin/false\n[Install]\nWantedBy=data.target\n",
        ),
    ]);
    boot_done(&m);
    m.vigil_ok(&["enable", "bad"]);
    m.vigil_ok(&["sync"]);
    m.wait_state("bad.service", "failed");
    m
}

#[test]
fn list_dependencies_draws_the_tree_of_targets_with_each_units_state() {
    let m = start_tree();
    let tree = m.vigil_ok(&["list-dependencies"]);
    assert_eq!(
        tree,
        "default.target\n\
         ● ├─web.service\n\
         ● └─app.target\n\
         ●   ├─db.service\n\
         ○   ├─missing.service\n\
         ●   └─data.target\n\
         ×     └─bad.service\n",
        "{tree}"
    );
    // --all expands the services too (and their default dependencies).
    let all = m.vigil_ok(&["list-dependencies", "--all", "db.service"]);
    assert_eq!(
        all,
        "db.service\n\
         ● ├─helper.service\n\
         ● │ └─sysinit.target\n\
         ● └─sysinit.target\n",
        "{all}"
    );
}

/// `--reverse`: what pulls the unit in, up to default.target; `--plain`: a
/// list without marks or branches, each unit once.
#[test]
fn list_dependencies_reverse_and_plain() {
    let m = start_tree();
    let up = m.vigil_ok(&["list-dependencies", "--reverse", "bad.service"]);
    assert_eq!(
        up,
        "bad.service\n\
         ● └─data.target\n\
         ●   └─app.target\n\
         ●     └─default.target\n",
        "{up}"
    );
    let plain = m.vigil_ok(&["list-dependencies", "--plain"]);
    assert_eq!(
        plain,
        "default.target\n  web.service\n  app.target\n  db.service\n  missing.service\n  data.target\n  bad.service\n",
        "{plain}"
    );
    // The ordering edges: After= and the other units' Before=.
    let after = m.vigil_ok(&["list-dependencies", "--after", "web.service"]);
    assert!(after.starts_with("web.service\n"), "{after}");
    assert!(after.contains("sysinit.target"), "{after}");
    // A name no unit has.
    let out = m.vigil(&["list-dependencies", "nope.target"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("no such unit: nope.target"));
}

/// Targets that want each other: the walk ends, the way back marked `...`.
#[test]
fn list_dependencies_ends_a_cycle() {
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=a.target\n"),
        ("a.target", "[Unit]\nWants=b.target\n"),
        ("b.target", "[Unit]\nWants=a.target\n"),
    ]);
    let tree = m.vigil_ok(&["list-dependencies", "a.target"]);
    assert_eq!(tree, "a.target\n● └─b.target\n      └─...\n", "{tree}");
    let plain = m.vigil_ok(&["list-dependencies", "--plain", "--all", "a.target"]);
    assert_eq!(plain, "a.target\n  b.target\n", "{plain}");
    // Asked by an alias: drawn by that name, the way back to it too.
    std::os::unix::fs::symlink("a.target", m.config.join("alias.target")).unwrap();
    m.vigil_ok(&["sync"]);
    let tree = m.vigil_ok(&["list-dependencies", "alias.target"]);
    assert_eq!(tree, "alias.target\n● └─b.target\n      └─...\n", "{tree}");
}

// ------------------------------------------------ get-default, set-default

/// A real default.target is itself; set-default links it to the target's
/// file (said as enable says it), the manager reads its configuration again
/// and default.target is that target from then on; set again, the old link
/// is removed first.
#[test]
fn set_default_links_default_target_and_the_manager_follows() {
    let m = Manager::start(&[
        ("default.target", "[Unit]\nDescription=the real one\n"),
        ("multi-user.target", "[Unit]\nDescription=multi\n"),
        ("graphical.target", "[Unit]\nDescription=graphical\n"),
    ]);
    assert_eq!(m.vigil_ok(&["get-default"]), "default.target\n");
    // A file of its own is not replaced.
    let out = m.vigil(&["set-default", "multi-user"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is a unit file, not a link"),
        "{}",
        stderr(&out)
    );
    fs::remove_file(m.config.join("default.target")).unwrap();
    m.vigil_ok(&["sync"]);
    let out = m.vigil(&["get-default"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let link = m.config.join("default.target");
    let out = m.vigil(&["set-default", "multi-user"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "Created symlink {} \u{2192} {}.\n",
            link.display(),
            m.config.join("multi-user.target").display()
        )
    );
    assert_eq!(
        fs::read_link(&link).unwrap().to_str(),
        Some("multi-user.target")
    );
    assert_eq!(m.vigil_ok(&["get-default"]), "multi-user.target\n");
    // The manager read it: default.target is multi-user.target to it now.
    assert_eq!(m.status_json("default.target")["name"], "multi-user.target");
    let out = m.vigil(&["set-default", "graphical.target"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with(&format!("Removed \"{}\".\n", link.display())),
        "{}",
        stderr(&out)
    );
    assert_eq!(m.vigil_ok(&["get-default"]), "graphical.target\n");
    assert_eq!(m.status_json("default.target")["name"], "graphical.target");
}

/// A name that is no target, or has no file, is refused and nothing changes.
#[test]
fn set_default_refuses_what_is_no_target_or_has_no_file() {
    let m = Manager::start(&[("multi-user.target", "[Unit]\n"), ("web.service", SLEEPER)]);
    for (name, said) in [
        ("web.service", "web.service is not a target"),
        ("nope", "unit nope.target not found"),
        ("sysinit.target", "has no unit file"),
    ] {
        let out = m.vigil(&["set-default", name]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(stderr(&out).contains(said), "{name}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("nothing was changed"),
            "{}",
            stderr(&out)
        );
    }
    assert!(fs::symlink_metadata(m.config.join("default.target")).is_err());
}

// ---------------------------------------------------------------- list-jobs

/// A start blocked behind a slow `ExecStartPre=` (After=) is `waiting`, the
/// slow one `running`; once it is up, `No jobs running.`.
#[test]
fn list_jobs_shows_a_job_waiting_behind_a_slow_start_then_none() {
    let dir = TempDir::new("sysverbs-jobs");
    let gate = dir.path().join("open");
    let m = Manager::start(&[
        ("slow.service", &gated(&gate)),
        (
            "late.service",
            "[Unit]\nAfter=slow.service\n[Service]\nExecStart=/bin/sleep 1000\n",
        ),
    ]);
    assert_eq!(m.vigil_ok(&["list-jobs"]), "No jobs running.\n");
    m.vigil_ok(&["start", "--no-block", "slow", "late"]);
    let jobs = m.vigil_ok(&["list-jobs"]);
    assert_eq!(
        jobs,
        "UNIT          TYPE   STATE\n\
         late.service  start  waiting\n\
         slow.service  start  running\n\
         \n\
         2 jobs listed.\n",
        "{jobs}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&m.vigil_ok(&["list-jobs", "--json"])).unwrap();
    assert_eq!(
        json,
        serde_json::json!([
            {"unit": "late.service", "type": "start", "state": "waiting"},
            {"unit": "slow.service", "type": "start", "state": "running"},
        ])
    );
    fs::write(&gate, "").unwrap();
    m.wait_state("late.service", "running");
    wait_until("no jobs", || {
        m.vigil_ok(&["list-jobs"]) == "No jobs running.\n"
    });
    assert_eq!(m.vigil_ok(&["list-jobs", "--json"]), "[]\n");
}
