//! Starting: ordering waves, every service type's readiness, Exec* sequences,
//! the zinit test probe and the start timeout.

mod support;

use support::*;
use vigil_engine::{Action, Event, ExitStatus, Reason, Role, State};
use vigil_units::{RestartPolicy, ServiceType};

#[test]
fn dag_under_a_target_starts_in_waves() {
    // a and b have no ordering; c after a and b; d after c; the target after all.
    let n = ServiceType::Notify;
    let mut h = H::new(vec![
        target("t.target")
            .wants(&["a.service", "b.service", "c.service", "d.service"])
            .after(&["d.service"]),
        service("a.service").ty(n),
        service("b.service").ty(n),
        service("c.service")
            .ty(n)
            .after(&["a.service", "b.service"]),
        service("d.service").ty(n).after(&["c.service"]),
    ]);
    h.start("t.target");
    let wave = h.take();
    assert_eq!(started(&wave), ["a.service", "b.service"]);
    for u in ["c.service", "d.service", "t.target"] {
        assert_eq!(h.state(u), State::Waiting, "{u}");
    }
    let a = h.spawned("a.service", Role::Main(0));
    let b = h.spawned("b.service", Role::Main(0));
    assert!(
        h.spawns().is_empty(),
        "notify services are not ready at spawn"
    );
    h.now = ms(10);
    h.notify(a, &[("READY", "1")]);
    assert!(h.spawns().is_empty(), "c still waits for b");
    h.notify(b, &[("READY", "1")]);
    let c = h.expect_spawn("c.service", Role::Main(0));
    h.now = ms(30);
    h.notify(c, &[("READY", "1")]);
    let d = h.expect_spawn("d.service", Role::Main(0));
    assert_eq!(h.state("t.target"), State::Waiting);
    h.now = ms(50);
    h.notify(d, &[("READY", "1")]);
    assert_eq!(h.state("t.target"), State::Running);
    // Each unit's own start, from when its job ran (after its ordering) to
    // ready, as systemd-analyze blame counts: not the wait for c and d.
    assert_eq!(h.info("t.target").time_to_ready, Some(ms(0)));
    assert_eq!(h.info("a.service").time_to_ready, Some(ms(10)));
    assert_eq!(h.info("c.service").time_to_ready, Some(ms(20)));
    assert_eq!(h.info("d.service").time_to_ready, Some(ms(20)));
}

#[test]
fn independent_units_start_together_and_before_is_an_ordering() {
    // x Before=y is the same edge as y After=x.
    let mut h = H::new(vec![
        target("t.target").wants(&["x.service", "y.service", "z.service"]),
        service("x.service")
            .ty(ServiceType::Notify)
            .before(&["y.service"]),
        service("y.service"),
        service("z.service"),
    ]);
    h.start("t.target");
    let first = h.take();
    assert_eq!(started(&first), ["x.service", "z.service"]);
    assert_eq!(
        h.state("t.target"),
        State::Running,
        "a target with no ordering is active at once"
    );
    let x = h.spawned("x.service", Role::Main(0));
    h.notify(x, &[("READY", "1")]);
    assert_eq!(started(&h.take()), ["y.service"]);
}

#[test]
fn simple_is_ready_when_spawned() {
    let mut h = H::new(vec![service("a.service")]);
    h.start("a.service");
    let acts = h.take();
    assert_eq!(
        states(&acts),
        [
            ("a.service".into(), State::Waiting),
            ("a.service".into(), State::Starting)
        ]
    );
    assert!(matches!(
        acts.last(),
        Some(Action::Spawn { role: Role::Main(0), command, main_pid: None, .. }) if command.program == "/bin/a"
    ));
    let pid = h.spawned("a.service", Role::Main(0));
    let info = h.info("a.service");
    assert_eq!(info.state, State::Running);
    assert_eq!(info.main_pid, Some(pid));
    assert_eq!(h.e.unit_of_pid(pid), Some("a.service"));
}

#[test]
fn exec_is_ready_when_exec_succeeded() {
    let mut h = H::new(vec![service("a.service").ty(ServiceType::Exec)]);
    h.start("a.service");
    let pid = h.expect_spawn("a.service", Role::Main(0));
    assert_eq!(h.state("a.service"), State::Starting);
    h.ok(Event::ExecSucceeded { pid });
    assert_eq!(h.state("a.service"), State::Running);
}

#[test]
fn exec_spawn_failure_fails_the_unit_and_its_dependents_starts() {
    let mut h = H::new(vec![
        service("a.service").ty(ServiceType::Exec),
        service("b.service").needs(&["a.service"]),
    ]);
    h.start("b.service");
    let pid = h.expect_spawn("a.service", Role::Main(0));
    assert_eq!(h.state("b.service"), State::Waiting);
    h.ok(Event::SpawnFailed {
        unit: "a.service".into(),
        role: Role::Main(0),
        pid: Some(pid),
        stage: "exec".into(),
        errno: 2,
        detail: None,
    });
    assert_eq!(h.state("a.service"), State::Failed);
    assert_eq!(
        h.reason("a.service"),
        Some(Reason::ExecFailed {
            stage: "exec".into(),
            errno: 2,
            detail: None
        })
    );
    // b's start fails, not b (systemd's "dependency" job result).
    assert_eq!(h.state("b.service"), State::Inactive);
    assert_eq!(
        h.reason("b.service"),
        Some(Reason::DependencyFailed("a.service".into()))
    );
    assert!(h.spawns().is_empty(), "b never starts");
    // The late exit of the failed child is ignored.
    h.exit(pid, 127);
    assert_eq!(h.state("a.service"), State::Failed);
}

#[test]
fn fork_failure_without_pid_fails_the_start() {
    let mut h = H::new(vec![service("a.service")]);
    h.start("a.service");
    h.take();
    h.ok(Event::SpawnFailed {
        unit: "a.service".into(),
        role: Role::Main(0),
        pid: None,
        stage: "fork".into(),
        errno: 11,
        detail: None,
    });
    assert_eq!(h.state("a.service"), State::Failed);
}

#[test]
fn oneshot_runs_each_exec_start_in_order_then_goes_inactive() {
    let mut h = H::new(vec![
        service("setup.service")
            .ty(ServiceType::Oneshot)
            .exec(&["/bin/one", "/bin/two"]),
        service("app.service").needs(&["setup.service"]),
    ]);
    h.start("app.service");
    let p1 = h.expect_spawn("setup.service", Role::Main(0));
    assert_eq!(h.state("setup.service"), State::Starting);
    h.exit(p1, 0);
    let p2 = h.expect_spawn("setup.service", Role::Main(1));
    assert_eq!(h.state("app.service"), State::Waiting);
    h.exit(p2, 0);
    // Finished: inactive without RemainAfterExit, and settled for ordering.
    assert_eq!(h.state("setup.service"), State::Inactive);
    assert_eq!(h.reason("setup.service"), None);
    assert_eq!(started(&h.take()), ["app.service"]);
}

#[test]
fn oneshot_with_remain_after_exit_is_exited() {
    let mut h = H::new(vec![service("s.service").ty(ServiceType::Oneshot).remain()]);
    h.start("s.service");
    let p = h.expect_spawn("s.service", Role::Main(0));
    h.exit(p, 0);
    assert_eq!(h.state("s.service"), State::Exited);
    assert!(h.state("s.service").is_active());
}

#[test]
fn oneshot_failure_fails_and_ignore_failure_does_not() {
    let mut h = H::new(vec![
        service("bad.service")
            .ty(ServiceType::Oneshot)
            .exec(&["/bin/one", "/bin/two"]),
        service("ok.service")
            .ty(ServiceType::Oneshot)
            .svc(|s| s.exec_start = vec![cmd_ignore("/bin/fails")])
            .remain(),
    ]);
    h.start("bad.service");
    let p = h.expect_spawn("bad.service", Role::Main(0));
    h.exit(p, 3);
    assert!(h.spawns().is_empty(), "the second command does not run");
    assert_eq!(h.state("bad.service"), State::Failed);
    assert_eq!(h.reason("bad.service"), Some(Reason::ExitCode(3)));
    assert_eq!(h.info("bad.service").last_exit, Some(ExitStatus::Exited(3)));

    h.start("ok.service");
    let p = h.expect_spawn("ok.service", Role::Main(0));
    h.exit(p, 1);
    assert_eq!(h.state("ok.service"), State::Exited);
}

#[test]
fn notify_is_ready_on_ready_1_and_keeps_status() {
    let mut h = H::new(vec![service("n.service").ty(ServiceType::Notify)]);
    h.start("n.service");
    let pid = h.expect_spawn("n.service", Role::Main(0));
    assert_eq!(h.state("n.service"), State::Starting);
    // An unknown pid is not attributed to anything.
    h.notify(9999, &[("READY", "1")]);
    assert_eq!(h.state("n.service"), State::Starting);
    h.notify(pid, &[("STATUS", "warming up")]);
    assert_eq!(
        h.info("n.service").status_text.as_deref(),
        Some("warming up")
    );
    assert_eq!(h.state("n.service"), State::Starting);
    h.notify(pid, &[("READY", "1"), ("STATUS", "serving")]);
    assert_eq!(h.state("n.service"), State::Running);
    assert_eq!(h.info("n.service").status_text.as_deref(), Some("serving"));
}

#[test]
fn notify_exit_before_ready_fails() {
    let mut h = H::new(vec![service("n.service").ty(ServiceType::Notify)]);
    h.start("n.service");
    let pid = h.expect_spawn("n.service", Role::Main(0));
    h.exit(pid, 0);
    assert_eq!(h.state("n.service"), State::Failed);
    assert!(logs(&h.take()).iter().any(|l| l.contains("before READY=1")));
}

#[test]
fn forking_is_ready_after_the_parent_exits_and_the_pid_file_is_read() {
    let mut h = H::new(vec![
        service("f.service")
            .ty(ServiceType::Forking)
            .svc(|s| *s.pid_file = Some("/run/f.pid".into())),
    ]);
    h.start("f.service");
    let parent = h.expect_spawn("f.service", Role::Main(0));
    h.exit(parent, 0);
    let acts = h.take();
    assert!(acts.contains(&Action::ReadPidFile {
        unit: "f.service".into(),
        path: "/run/f.pid".into(),
        wait: true,
    }));
    assert_eq!(h.state("f.service"), State::Starting);
    h.ok(Event::PidFileRead {
        unit: "f.service".into(),
        result: Ok(4242),
    });
    assert_eq!(h.state("f.service"), State::Running);
    assert_eq!(h.info("f.service").main_pid, Some(4242));
    assert_eq!(h.e.unit_of_pid(4242), Some("f.service"));
    // The daemon dying is the main process exiting.
    h.killed(4242, SIGSEGV);
    assert_eq!(h.state("f.service"), State::Failed);
    assert_eq!(h.reason("f.service"), Some(Reason::Signal(SIGSEGV)));
}

/// The `ReadPidFile` actions among `actions`: whether each waits.
fn pid_file_reads(actions: &[Action]) -> Vec<bool> {
    let read = |a: &Action| match a {
        Action::ReadPidFile { wait, .. } => Some(*wait),
        _ => None,
    };
    actions.iter().filter_map(read).collect()
}

/// A forking service with `PIDFile=` and `ExecStartPost=post`, started, its
/// start process exited 0.
fn forking_start_process_exited(post: &str) -> H {
    let mut h = H::new(vec![
        service("f.service")
            .ty(ServiceType::Forking)
            .post(cmd(post))
            .svc(|s| *s.pid_file = Some("/run/f.pid".into())),
    ]);
    h.start("f.service");
    let parent = h.expect_spawn("f.service", Role::Main(0));
    h.exit(parent, 0);
    h
}

/// As systemd: with ExecStartPost= (which may be what writes it), a PID file
/// not there when the start process exits is read again, and waited for,
/// after ExecStartPost=; it used to be waited for before, so that a unit
/// whose ExecStartPost= writes it timed out.
#[test]
fn forking_reads_a_missing_pid_file_again_after_exec_start_post() {
    let mut h = forking_start_process_exited("/bin/write-pid-file");
    assert_eq!(pid_file_reads(&h.take()), [false]);
    h.ok(Event::PidFileRead {
        unit: "f.service".into(),
        result: Err("/run/f.pid: not there".into()),
    });
    let post = h.expect_spawn("f.service", Role::StartPost(0));
    h.exit(post, 0);
    assert_eq!(pid_file_reads(&h.take()), [true]);
    assert_eq!(h.state("f.service"), State::Starting);
    h.ok(Event::PidFileRead {
        unit: "f.service".into(),
        result: Ok(4242),
    });
    assert!(h.spawns().is_empty(), "ExecStartPost= runs once");
    assert_eq!(h.state("f.service"), State::Running);
    assert_eq!(h.info("f.service").main_pid, Some(4242));

    // Read at once: ExecStartPost= and no second read; missing after it too:
    // the start fails.
    let mut h = forking_start_process_exited("/bin/true");
    h.ok(Event::PidFileRead {
        unit: "f.service".into(),
        result: Ok(4242),
    });
    let post = h.expect_spawn("f.service", Role::StartPost(0));
    h.exit(post, 0);
    assert!(pid_file_reads(&h.take()).is_empty());
    assert_eq!(h.state("f.service"), State::Running);
    let mut h = forking_start_process_exited("/bin/true");
    let missing = || Event::PidFileRead {
        unit: "f.service".into(),
        result: Err("/run/f.pid: not there".into()),
    };
    h.ok(missing());
    let post = h.expect_spawn("f.service", Role::StartPost(0));
    h.exit(post, 0);
    assert_eq!(pid_file_reads(&h.take()), [true], "read again, waited for");
    h.ok(missing());
    assert_eq!(h.state("f.service"), State::Failed);
}

/// A forking service with `PIDFile=` and `restart`, whose start process has
/// exited and whose PID file could not be read (`why`).
fn forking_with_a_bad_pid_file(restart: RestartPolicy, why: &str) -> H {
    let mut h = H::new(vec![
        service("f.service")
            .ty(ServiceType::Forking)
            .restart(restart)
            .svc(|s| *s.pid_file = Some("/run/f.pid".into())),
    ]);
    h.start("f.service");
    let parent = h.expect_spawn("f.service", Role::Main(0));
    h.exit(parent, 0);
    h.ok(Event::PidFileRead {
        unit: "f.service".into(),
        result: Err(why.into()),
    });
    h
}

#[test]
fn forking_pid_file_error_fails() {
    let h = forking_with_a_bad_pid_file(RestartPolicy::No, "no such file");
    assert_eq!(h.state("f.service"), State::Failed);
    assert_eq!(
        h.reason("f.service"),
        Some(Reason::PidFile("no such file".into()))
    );
}

/// A PID-file error is systemd's `protocol` result: Restart=on-abnormal
/// restarts on it, as on-failure does (review finding: it did not).
#[test]
fn a_pid_file_error_restarts_with_on_abnormal() {
    let h = forking_with_a_bad_pid_file(RestartPolicy::OnAbnormal, "no valid PID");
    assert_eq!(h.state("f.service"), State::Restarting);
}

/// A PID file (or MAINPID=) naming a process another unit tracks does not take
/// it over: stopping this unit would have killed that one's process, and its
/// end would have been this unit's (that unit then hung in its stop).
#[test]
fn a_pid_file_naming_another_units_process_fails_the_start() {
    let mut h = H::new(vec![
        service("a.service"),
        service("f.service")
            .ty(ServiceType::Forking)
            .svc(|s| *s.pid_file = Some("/run/f.pid".into())),
        service("n.service").ty(ServiceType::Notify),
    ]);
    let a = h.run("a.service");
    h.start("f.service");
    let parent = h.expect_spawn("f.service", Role::Main(0));
    h.exit(parent, 0);
    h.ok(Event::PidFileRead {
        unit: "f.service".into(),
        result: Ok(a),
    });
    assert_eq!(h.state("f.service"), State::Failed);
    assert_eq!(
        h.reason("f.service"),
        Some(Reason::PidFile(format!(
            "PID {a} is a process of a.service"
        )))
    );
    h.start("n.service");
    let n = h.expect_spawn("n.service", Role::Main(0));
    h.notify(n, &[("MAINPID", &a.to_string()), ("READY", "1")]);
    assert_eq!(h.info("n.service").main_pid, Some(n), "MAINPID= ignored");
    assert_eq!(h.info("a.service").main_pid, Some(a));
    assert_eq!(h.state("a.service"), State::Running);
}

#[test]
fn forking_without_pid_file_and_guessing_off_runs_with_no_main_pid() {
    let mut h = H::new(vec![
        service("f.service")
            .ty(ServiceType::Forking)
            .svc(|s| s.guess_main_pid = false),
    ]);
    h.start("f.service");
    let parent = h.expect_spawn("f.service", Role::Main(0));
    h.exit(parent, 0);
    let info = h.info("f.service");
    assert_eq!(info.state, State::Running);
    assert_eq!(info.main_pid, None);
    // Stopping it has nothing to signal.
    h.stop("f.service");
    assert!(signals(&h.take()).is_empty());
    assert_eq!(h.state("f.service"), State::Inactive);
}

#[test]
fn forking_parent_failure_fails() {
    let mut h = H::new(vec![service("f.service").ty(ServiceType::Forking)]);
    h.start("f.service");
    let parent = h.expect_spawn("f.service", Role::Main(0));
    h.exit(parent, 1);
    assert_eq!(h.reason("f.service"), Some(Reason::ExitCode(1)));
}

#[test]
fn test_probe_retries_with_growing_delay_until_it_passes() {
    let mut h = H::new(vec![service("db.service").test_cmd(cmd("/bin/probe"))]);
    h.start("db.service");
    let main = h.expect_spawn("db.service", Role::Main(0));
    // Spawned: the probe runs, the unit is still starting.
    let t1 = h.expect_spawn("db.service", Role::Test);
    assert_eq!(h.state("db.service"), State::Starting);
    assert_eq!(h.e.unit_of_pid(t1), Some("db.service"));
    h.exit(t1, 1);
    assert_eq!(h.e.next_deadline(), Some(ms(250)));
    h.at(ms(249));
    assert!(h.spawns().is_empty());
    h.at(ms(250));
    let t2 = h.expect_spawn("db.service", Role::Test);
    h.exit(t2, 1);
    assert_eq!(h.e.next_deadline(), Some(ms(750)), "the delay doubled");
    h.at(ms(750));
    let t3 = h.expect_spawn("db.service", Role::Test);
    h.exit(t3, 0);
    let info = h.info("db.service");
    assert_eq!(info.state, State::Running);
    assert_eq!(info.main_pid, Some(main));
    assert_eq!(h.e.next_deadline(), None);
}

#[test]
fn test_probe_gives_up_at_the_start_timeout() {
    let mut h = H::new(vec![
        service("db.service")
            .test_cmd(cmd("/bin/probe"))
            .timeout_start(Some(secs(1))),
    ]);
    h.start("db.service");
    let main = h.expect_spawn("db.service", Role::Main(0));
    let gave_up_at = loop {
        let t = h.expect_spawn("db.service", Role::Test);
        h.exit(t, 1);
        let next = h.e.next_deadline().expect("a timer");
        h.at(next);
        if h.state("db.service") != State::Starting {
            break next;
        }
    };
    assert_eq!(gave_up_at, secs(1));
    assert_eq!(h.state("db.service"), State::Stopping);
    assert_eq!(signals(&h.take()), [(main, SIGTERM, true)]);
    h.killed(main, SIGTERM);
    assert_eq!(h.state("db.service"), State::Failed);
    assert_eq!(h.reason("db.service"), Some(Reason::StartTimeout));
}

#[test]
fn exec_start_pre_runs_first_and_its_failure_fails_the_start() {
    let mut h = H::new(vec![
        service("a.service").pre(cmd("/bin/p1")).pre(cmd("/bin/p2")),
        service("b.service").pre(cmd("/bin/bad")),
        service("c.service").pre(cmd_ignore("/bin/bad")),
    ]);
    h.start("a.service");
    let p1 = h.expect_spawn("a.service", Role::StartPre(0));
    assert_eq!(h.state("a.service"), State::Starting);
    h.exit(p1, 0);
    let p2 = h.expect_spawn("a.service", Role::StartPre(1));
    h.exit(p2, 0);
    h.expect_spawn("a.service", Role::Main(0));
    assert_eq!(h.state("a.service"), State::Running);

    h.start("b.service");
    let p = h.expect_spawn("b.service", Role::StartPre(0));
    h.exit(p, 1);
    assert!(
        h.spawns().is_empty(),
        "no main process after a failed ExecStartPre"
    );
    assert_eq!(h.state("b.service"), State::Failed);
    assert_eq!(h.reason("b.service"), Some(Reason::ExitCode(1)));

    h.start("c.service");
    let p = h.expect_spawn("c.service", Role::StartPre(0));
    h.exit(p, 1);
    h.expect_spawn("c.service", Role::Main(0));
    assert_eq!(h.state("c.service"), State::Running);
}

#[test]
fn exec_start_post_runs_after_ready_and_delays_active() {
    let mut h = H::new(vec![
        service("a.service").post(cmd("/bin/post")),
        service("b.service").needs(&["a.service"]),
    ]);
    h.start("b.service");
    let main = h.expect_spawn("a.service", Role::Main(0));
    let post = h.expect_spawn("a.service", Role::StartPost(0));
    assert_eq!(h.state("a.service"), State::Starting);
    assert_eq!(h.state("b.service"), State::Waiting);
    h.exit(post, 0);
    assert_eq!(h.state("a.service"), State::Running);
    assert_eq!(h.info("a.service").main_pid, Some(main));
    assert_eq!(started(&h.take()), ["b.service"]);
}

#[test]
fn exec_start_post_failure_stops_the_main_process() {
    let mut h = H::new(vec![service("a.service").post(cmd("/bin/post"))]);
    h.start("a.service");
    let main = h.expect_spawn("a.service", Role::Main(0));
    let post = h.expect_spawn("a.service", Role::StartPost(0));
    h.exit(post, 2);
    assert_eq!(signals(&h.take()), [(main, SIGTERM, true)]);
    h.killed(main, SIGTERM);
    assert_eq!(h.reason("a.service"), Some(Reason::ExitCode(2)));
}

#[test]
fn start_timeout_kills_and_fails() {
    let mut h = H::new(vec![
        service("n.service")
            .ty(ServiceType::Notify)
            .timeout_start(Some(secs(3))),
    ]);
    h.start("n.service");
    let pid = h.expect_spawn("n.service", Role::Main(0));
    assert_eq!(h.e.next_deadline(), Some(secs(3)));
    h.at(secs(3));
    assert_eq!(signals(&h.take()), [(pid, SIGTERM, true)]);
    assert_eq!(h.state("n.service"), State::Stopping);
    h.killed(pid, SIGTERM);
    assert_eq!(h.state("n.service"), State::Failed);
    assert_eq!(h.reason("n.service"), Some(Reason::StartTimeout));
}

#[test]
fn infinite_start_timeout_arms_no_timer() {
    let mut h = H::new(vec![
        service("n.service")
            .ty(ServiceType::Notify)
            .timeout_start(None),
    ]);
    h.start("n.service");
    h.expect_spawn("n.service", Role::Main(0));
    assert_eq!(h.e.next_deadline(), None);
}

#[test]
fn extend_timeout_usec_pushes_the_start_timeout() {
    let mut h = H::new(vec![
        service("n.service")
            .ty(ServiceType::Notify)
            .timeout_start(Some(secs(3))),
    ]);
    h.start("n.service");
    let pid = h.expect_spawn("n.service", Role::Main(0));
    h.now = secs(2);
    h.notify(pid, &[("EXTEND_TIMEOUT_USEC", "5000000")]);
    assert_eq!(h.e.next_deadline(), Some(secs(7)));
}

/// Review finding: STOPPING=1 and EXTEND_TIMEOUT_USEC= in one message: the
/// extension was applied to the timeout before STOPPING=1 replaced it with
/// TimeoutStopSec=, so it was lost. It extends the stop timeout now.
#[test]
fn extend_timeout_usec_with_stopping_extends_the_stop_timeout() {
    let mut h = H::new(vec![
        service("n.service")
            .ty(ServiceType::Notify)
            .timeout_stop(Some(secs(2))),
    ]);
    h.start("n.service");
    let pid = h.expect_spawn("n.service", Role::Main(0));
    h.notify(pid, &[("READY", "1")]);
    h.now = secs(1);
    h.notify(
        pid,
        &[("STOPPING", "1"), ("EXTEND_TIMEOUT_USEC", "6000000")],
    );
    assert_eq!(h.state("n.service"), State::Stopping);
    assert_eq!(h.e.next_deadline(), Some(secs(7)));
}

#[test]
fn starting_an_active_unit_is_a_no_op_and_starting_again_after_failure_clears_the_reason() {
    let mut h = H::new(vec![service("a.service")]);
    let pid = h.run("a.service");
    h.start("a.service");
    assert!(h.spawns().is_empty());
    h.exit(pid, 1);
    assert_eq!(h.state("a.service"), State::Failed);
    h.start("a.service");
    assert_eq!(h.reason("a.service"), None);
    h.expect_spawn("a.service", Role::Main(0));
    assert_eq!(h.state("a.service"), State::Running);
}

#[test]
fn unknown_unit_is_an_error() {
    let mut h = H::new(vec![]);
    assert_eq!(
        h.send(Event::Start("x.service".into())),
        Err(vigil_engine::EngineError::NoSuchUnit("x.service".into()))
    );
}

#[test]
fn main_pid_is_passed_to_exec_stop() {
    let mut h = H::new(vec![service("a.service").stop_cmd(cmd("/bin/stop"))]);
    let pid = h.run("a.service");
    h.stop("a.service");
    let acts = h.take();
    assert!(acts.iter().any(|a| matches!(
        a,
        Action::Spawn { role: Role::Stop(0), main_pid: Some(p), .. } if *p == pid
    )));
}

/// Review finding: TimeoutStartSec= and TimeoutStopSec= were one budget for a
/// whole start or stop, so two ExecStartPre= of 1.5 s each failed a unit with
/// 2 s; systemd's service_spawn() arms the timer for each command from its
/// own start. A command over its limit still times out.
#[test]
fn each_command_of_a_start_and_a_stop_has_the_whole_timeout() {
    let mut h = H::new(vec![
        service("a.service")
            .ty(ServiceType::Notify)
            .pre(cmd("/bin/p1"))
            .pre(cmd("/bin/p2"))
            .post(cmd("/bin/post"))
            .stop_cmd(cmd("/bin/s1"))
            .stop_cmd(cmd("/bin/s2"))
            .stop_post(cmd("/bin/sp"))
            .timeout_start(Some(secs(2)))
            .timeout_stop(Some(secs(2))),
    ]);
    h.start("a.service");
    let mut t = 0;
    let mut step = |h: &mut H, role: Role| {
        let pid = h.expect_spawn("a.service", role);
        t += 1500;
        h.at(ms(t));
        pid
    };
    let p1 = step(&mut h, Role::StartPre(0));
    h.exit(p1, 0);
    let p2 = step(&mut h, Role::StartPre(1));
    h.exit(p2, 0);
    let main = step(&mut h, Role::Main(0));
    h.notify(main, &[("READY", "1")]);
    let post = step(&mut h, Role::StartPost(0));
    h.exit(post, 0);
    assert_eq!(h.state("a.service"), State::Running);
    h.stop("a.service");
    let s1 = step(&mut h, Role::Stop(0));
    h.exit(s1, 0);
    let s2 = step(&mut h, Role::Stop(1));
    h.exit(s2, 0);
    h.killed(main, 15);
    let sp = step(&mut h, Role::StopPost(0));
    h.exit(sp, 0);
    assert_eq!(h.state("a.service"), State::Inactive);
    assert_eq!(h.reason("a.service"), None);
    // One command over the limit.
    h.start("a.service");
    let p1 = step(&mut h, Role::StartPre(0));
    h.exit(p1, 0);
    let p2 = h.expect_spawn("a.service", Role::StartPre(1));
    h.at(ms(t + 1999));
    assert_eq!(h.state("a.service"), State::Starting);
    h.at(ms(t + 2000));
    assert_eq!(h.state("a.service"), State::Stopping);
    h.killed(p2, 15);
    let sp = h.expect_spawn("a.service", Role::StopPost(0));
    h.exit(sp, 0);
    assert_eq!(h.state("a.service"), State::Failed);
    assert_eq!(h.reason("a.service"), Some(Reason::StartTimeout));
}

/// Review finding: a main process that exited while `ExecStartPost=` or
/// `ExecReload=` ran had that command killed at once (its clean-up or
/// reload cut short, `vigil reload` told "reload did not finish"). As
/// systemd's service_sigchld_event(), the command runs to its end, then the
/// unit goes down with the main process's result.
#[test]
fn a_main_process_gone_during_start_post_or_reload_lets_the_command_finish() {
    let mut h = H::new(vec![
        service("a.service").post(cmd("/bin/post")),
        service("r.service")
            .reload_cmd(cmd("/bin/reload"))
            .stop_cmd(cmd("/bin/stop")),
    ]);
    h.start("a.service");
    let main = h.expect_spawn("a.service", Role::Main(0));
    let post = h.expect_spawn("a.service", Role::StartPost(0));
    h.exit(main, 1);
    let acts = h.take();
    assert!(signalled(&acts).is_empty(), "{acts:?}");
    assert_eq!(h.state("a.service"), State::Starting);
    h.exit(post, 0);
    assert_eq!(h.state("a.service"), State::Failed);
    assert_eq!(h.reason("a.service"), Some(Reason::ExitCode(1)));

    h.start("r.service");
    let main = h.expect_spawn("r.service", Role::Main(0));
    h.ok(Event::Reload("r.service".into()));
    let reload = h.expect_spawn("r.service", Role::Reload(0));
    h.exit(main, 2);
    let acts = h.take();
    assert!(signalled(&acts).is_empty(), "{acts:?}");
    assert_eq!(h.state("r.service"), State::Reloading);
    h.exit(reload, 0);
    let acts = h.take();
    assert!(
        acts.iter()
            .any(|a| matches!(a, Action::ReloadEnded { failure: None, .. })),
        "{acts:?}"
    );
    // Active before: ExecStop= runs, as after any end of the main process.
    assert_eq!(spawns(&acts), [("r.service".to_string(), Role::Stop(0))]);
    let stop = h.spawned("r.service", Role::Stop(0));
    h.exit(stop, 0);
    assert_eq!(h.state("r.service"), State::Failed);
    assert_eq!(h.reason("r.service"), Some(Reason::ExitCode(2)));
}
