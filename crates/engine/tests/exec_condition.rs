//! `ExecCondition=`: commands run before `ExecStartPre=`; exit 1..254 skips the
//! unit like a failed condition, 255 or a signal fails it.

mod support;

use support::*;
use vigil_engine::{Event, Reason, Role, State};
use vigil_units::{ExitStatusSet, RestartPolicy};

fn skipped(cmd: &str, code: i32) -> Option<Reason> {
    Some(Reason::ConditionFailed(format!(
        "ExecCondition={cmd} exited with status {code}"
    )))
}

#[test]
fn exec_condition_runs_first_in_order_then_start_pre() {
    let mut h = H::new(vec![
        service("a.service")
            .cond_exec(cmd("/bin/c1"))
            .cond_exec(cmd("/bin/c2"))
            .pre(cmd("/bin/pre")),
    ]);
    h.start("a.service");
    let c1 = h.expect_spawn("a.service", Role::Condition(0));
    assert_eq!(h.state("a.service"), State::Starting);
    h.exit(c1, 0);
    let c2 = h.expect_spawn("a.service", Role::Condition(1));
    h.exit(c2, 0);
    let pre = h.expect_spawn("a.service", Role::StartPre(0));
    h.exit(pre, 0);
    h.expect_spawn("a.service", Role::Main(0));
    assert_eq!(h.state("a.service"), State::Running);
}

#[test]
fn exit_1_to_254_skips_the_unit_and_dependents_still_start() {
    for code in [1, 77, 254] {
        let mut h = H::new(vec![
            service("a.service")
                .cond_exec(cmd("/bin/check"))
                .cond_exec(cmd("/bin/never"))
                .pre(cmd("/bin/pre"))
                .restart(RestartPolicy::Always),
            service("b.service").needs(&["a.service"]),
        ]);
        h.start("b.service");
        let c = h.expect_spawn("a.service", Role::Condition(0));
        assert_eq!(h.state("b.service"), State::Waiting);
        h.exit(c, code);
        assert_eq!(h.state("a.service"), State::Inactive, "exit {code}");
        assert_eq!(h.reason("a.service"), skipped("/bin/check", code));
        // The rest of a is skipped; b starts.
        h.expect_spawn("b.service", Role::Main(0));
        assert_eq!(h.state("b.service"), State::Running);
        // Restart=always does not restart a skipped unit.
        assert_eq!(h.e.next_deadline(), None);
    }
}

#[test]
fn a_skip_runs_exec_stop_post_and_stays_inactive() {
    let mut h = H::new(vec![
        service("a.service")
            .cond_exec(cmd("/bin/check"))
            .stop_post(cmd("/bin/cleanup")),
    ]);
    h.start("a.service");
    let c = h.expect_spawn("a.service", Role::Condition(0));
    h.exit(c, 3);
    let post = h.expect_spawn("a.service", Role::StopPost(0));
    assert_eq!(h.state("a.service"), State::Stopping);
    h.exit(post, 0);
    assert_eq!(h.state("a.service"), State::Inactive);
    assert_eq!(h.reason("a.service"), skipped("/bin/check", 3));
    // The next start runs the check again.
    h.start("a.service");
    let c = h.expect_spawn("a.service", Role::Condition(0));
    h.exit(c, 0);
    h.expect_spawn("a.service", Role::Main(0));
    assert_eq!(h.state("a.service"), State::Running);
    assert_eq!(h.reason("a.service"), None);
}

#[test]
fn exit_255_a_signal_or_an_exec_failure_fails_the_unit() {
    let mut h = H::new(vec![
        service("a.service").cond_exec(cmd("/bin/check")),
        service("b.service").needs(&["a.service"]),
    ]);
    h.start("b.service");
    let c = h.expect_spawn("a.service", Role::Condition(0));
    h.exit(c, 255);
    assert_eq!(h.state("a.service"), State::Failed);
    assert_eq!(h.reason("a.service"), Some(Reason::ExitCode(255)));
    assert_eq!(h.state("b.service"), State::Inactive, "its start failed");
    assert_eq!(
        h.reason("b.service"),
        Some(Reason::DependencyFailed("a.service".into()))
    );
    assert!(h.spawns().is_empty());

    h.start("a.service");
    let c = h.expect_spawn("a.service", Role::Condition(0));
    h.killed(c, SIGSEGV);
    assert_eq!(h.state("a.service"), State::Failed);
    assert_eq!(h.reason("a.service"), Some(Reason::Signal(SIGSEGV)));

    h.start("a.service");
    let c = h.expect_spawn("a.service", Role::Condition(0));
    h.ok(Event::SpawnFailed {
        unit: "a.service".into(),
        role: Role::Condition(0),
        pid: Some(c),
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
}

#[test]
fn dash_prefix_and_success_exit_status_go_on() {
    let mut h = H::new(vec![
        service("a.service")
            .cond_exec(cmd_ignore("/bin/check"))
            .cond_exec(cmd_ignore("/bin/check2")),
        service("b.service").cond_exec(cmd("/bin/check")).svc(|s| {
            *s.success_exit_status = ExitStatusSet {
                codes: vec![42],
                signals: vec![],
            }
        }),
    ]);
    h.start("a.service");
    let c = h.expect_spawn("a.service", Role::Condition(0));
    h.exit(c, 1);
    let c = h.expect_spawn("a.service", Role::Condition(1));
    h.exit(c, 255);
    h.expect_spawn("a.service", Role::Main(0));
    assert_eq!(h.state("a.service"), State::Running);

    h.start("b.service");
    let c = h.expect_spawn("b.service", Role::Condition(0));
    h.exit(c, 42);
    h.expect_spawn("b.service", Role::Main(0));
    assert_eq!(h.state("b.service"), State::Running);
}

#[test]
fn start_timeout_and_stop_during_exec_condition() {
    let mut h = H::new(vec![
        service("a.service")
            .cond_exec(cmd("/bin/slow"))
            .timeout_start(Some(secs(2))),
        service("b.service").cond_exec(cmd("/bin/slow")),
    ]);
    h.start("a.service");
    let c = h.expect_spawn("a.service", Role::Condition(0));
    h.at(secs(2));
    assert_eq!(signals(&h.take()), [(c, SIGTERM, true)]);
    h.killed(c, SIGTERM);
    assert_eq!(h.state("a.service"), State::Failed);
    assert_eq!(h.reason("a.service"), Some(Reason::StartTimeout));

    h.start("b.service");
    let c = h.expect_spawn("b.service", Role::Condition(0));
    h.stop("b.service");
    assert_eq!(signals(&h.take()), [(c, SIGTERM, true)]);
    h.killed(c, SIGTERM);
    assert_eq!(h.state("b.service"), State::Inactive);
    assert_eq!(h.reason("b.service"), None);
}

/// Review finding: a unit skipped by `ExecCondition=` left what is bound to it
/// with `After=` running, where a failed `Condition*=` stops it (systemd.unit(5),
/// BindsTo=: with After= the bound unit must be active for this one to be).
#[test]
fn a_skip_stops_what_is_bound_to_the_unit_with_after() {
    let mut h = H::new(vec![
        service("b.service").cond_exec(cmd("/bin/false")),
        service("a.service")
            .binds_to(&["b.service"])
            .after(&["b.service"]),
        service("c.service").binds_to(&["b.service"]),
    ]);
    h.start("a.service");
    h.start("c.service");
    let spawned = h.spawn_all();
    let c = spawned
        .iter()
        .find(|s| s.1 == Role::Condition(0))
        .unwrap()
        .2;
    h.exit(c, 1);
    assert_eq!(h.reason("b.service"), skipped("/bin/false", 1));
    assert_eq!(h.state("a.service"), State::Inactive);
    // Without After= the two start side by side: c runs on.
    assert_eq!(h.state("c.service"), State::Running);
}
