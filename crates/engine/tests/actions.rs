//! SuccessAction= and FailureAction=: which state changes ask the manager to
//! exit, power off or reboot, with which exit status.

mod support;

use support::*;
use vigil_engine::{Action, Event, Reason, Role, State};
use vigil_units::{ServiceType, UnitAction, UnitActionKind};

fn act(kind: UnitActionKind) -> Option<UnitAction> {
    Some(UnitAction {
        kind,
        forced: false,
    })
}

/// The unit actions among `actions`: (unit, kind, failed, exit status).
fn unit_actions(actions: &[Action]) -> Vec<(String, UnitActionKind, bool, u8)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::UnitAction {
                unit,
                action,
                failed,
                exit_status,
            } => Some((unit.clone(), action.kind, *failed, *exit_status)),
            _ => None,
        })
        .collect()
}

#[test]
fn success_action_when_a_oneshot_finishes_with_its_exit_status() {
    let mut h = H::new(vec![service("a.service").ty(ServiceType::Oneshot).unit(
        |u| {
            u.success_action = act(UnitActionKind::Exit);
            u.success_action_exit_status = Some(7);
            u.failure_action = act(UnitActionKind::Reboot);
        },
    )]);
    h.start("a.service");
    let pid = h.expect_spawn("a.service", Role::Main(0));
    assert!(unit_actions(&h.take()).is_empty());
    h.exit(pid, 0);
    assert_eq!(h.state("a.service"), State::Inactive);
    assert_eq!(
        unit_actions(&h.take()),
        [("a.service".into(), UnitActionKind::Exit, false, 7)]
    );
}

#[test]
fn failure_action_takes_the_main_exit_code_when_no_status_is_set() {
    let mut h = H::new(vec![
        service("a.service").unit(|u| {
            u.success_action = act(UnitActionKind::Exit);
            u.failure_action = act(UnitActionKind::Exit);
        }),
        service("b.service").unit(|u| u.failure_action = act(UnitActionKind::Poweroff)),
    ]);
    let a = h.run("a.service");
    h.exit(a, 3);
    assert_eq!(h.state("a.service"), State::Failed);
    assert_eq!(
        unit_actions(&h.take()),
        [("a.service".into(), UnitActionKind::Exit, true, 3)]
    );
    let b = h.run("b.service");
    h.killed(b, 9);
    assert_eq!(
        unit_actions(&h.take()),
        [("b.service".into(), UnitActionKind::Poweroff, true, 128 + 9)]
    );
    // Reset-failed goes from failed to inactive: not a success.
    h.ok(Event::ResetFailed(None));
    assert!(unit_actions(&h.take()).is_empty());
}

#[test]
fn a_stop_request_is_a_success_and_a_start_that_never_ran_is_not() {
    let mut h = H::new(vec![
        service("a.service").unit(|u| u.success_action = act(UnitActionKind::Halt)),
        // A oneshot: c waits for it to finish.
        service("dep.service").ty(ServiceType::Oneshot),
        service("c.service")
            .requires(&["dep.service"])
            .after(&["dep.service"])
            .unit(|u| {
                u.success_action = act(UnitActionKind::Exit);
                u.failure_action = act(UnitActionKind::Exit);
            }),
    ]);
    let a = h.run("a.service");
    h.stop("a.service");
    h.killed(a, SIGTERM);
    assert_eq!(h.state("a.service"), State::Inactive);
    assert_eq!(
        unit_actions(&h.take()),
        [(
            "a.service".into(),
            UnitActionKind::Halt,
            false,
            128 + SIGTERM as u8
        )]
    );
    // c waits for dep, which fails: c's start fails by dependency, which is
    // no FailureAction (systemd fails only the job: c stays inactive), and it
    // never ran, so no SuccessAction either.
    h.start("c.service");
    let dep = h.expect_spawn("dep.service", Role::Main(0));
    h.exit(dep, 1);
    assert_eq!(h.state("c.service"), State::Inactive);
    assert_eq!(
        h.reason("c.service"),
        Some(Reason::DependencyFailed("dep.service".into()))
    );
    assert!(unit_actions(&h.take()).is_empty());
}

/// A failed assertion fails the start job, not the unit (systemd's
/// JOB_ASSERT): no FailureAction=, and nothing ran, so no SuccessAction=.
#[test]
fn a_failed_assertion_is_no_failure_action() {
    let mut h = H::new(vec![service("a.service").condition().unit(|u| {
        u.success_action = act(UnitActionKind::Exit);
        u.failure_action = act(UnitActionKind::Reboot);
    })]);
    h.start("a.service");
    h.take();
    h.ok(Event::ConditionsChecked {
        unit: "a.service".into(),
        result: Err(Reason::AssertFailed("AssertPathExists=/x".into())),
    });
    assert_eq!(h.state("a.service"), State::Inactive);
    assert!(unit_actions(&h.take()).is_empty());
}

#[test]
fn no_unit_action_during_a_shutdown() {
    let mut h = H::new(vec![service("a.service").unit(|u| {
        u.success_action = act(UnitActionKind::Reboot);
        u.failure_action = act(UnitActionKind::Reboot);
    })]);
    let a = h.run("a.service");
    h.ok(Event::Shutdown { targets: vec![] });
    h.killed(a, SIGTERM);
    let acts = h.take();
    assert!(acts.contains(&Action::AllStopped), "{acts:?}");
    assert!(unit_actions(&acts).is_empty(), "{acts:?}");
}

#[test]
fn a_restart_job_is_no_success() {
    let mut h = H::new(vec![
        service("a.service").unit(|u| u.success_action = act(UnitActionKind::Exit)),
    ]);
    let a = h.run("a.service");
    h.ok(Event::Restart("a.service".into()));
    h.killed(a, SIGTERM);
    let acts = h.take();
    assert!(unit_actions(&acts).is_empty(), "{acts:?}");
    // It went through inactive and is starting again.
    assert!(
        states(&acts).contains(&("a.service".to_string(), State::Inactive)),
        "{acts:?}"
    );
    assert_eq!(spawns(&acts), [("a.service".to_string(), Role::Main(0))]);
}

/// A failed unit whose next start is refused before it runs (its start
/// limit) stays failed: no new failure, so FailureAction= does not fire again
/// and the state change says `again` (vigild starts no OnFailure= for it).
/// Review finding: `OnFailure=self.service` looped for ever, every refused
/// start a new failure. A unit inactive before its refused start does fail.
#[test]
fn a_start_refused_while_failed_is_no_new_failure() {
    let mut h = H::new(vec![
        service("a.service")
            .limit(1, secs(10))
            .unit(|u| u.failure_action = act(UnitActionKind::Exit)),
    ]);
    let pid = h.run("a.service");
    h.exit(pid, 1);
    assert_eq!(unit_actions(&h.take()).len(), 1, "the real failure");
    let agains = |acts: &[Action]| -> Vec<bool> {
        (acts.iter())
            .filter_map(|a| match a {
                Action::StateChanged {
                    state: State::Failed,
                    again,
                    ..
                } => Some(*again),
                _ => None,
            })
            .collect()
    };
    for _ in 0..3 {
        h.start("a.service");
        let acts = h.take();
        assert!(spawns(&acts).is_empty(), "refused by the start limit");
        assert_eq!(h.reason("a.service"), Some(Reason::StartLimitHit));
        assert_eq!(agains(&acts), [true]);
        assert!(unit_actions(&acts).is_empty(), "{acts:?}");
    }
    // Inactive (a stop clears failed), then refused: a change into failed.
    h.ok(Event::ResetFailed(Some("a.service".into())));
    let pid = h.run("a.service");
    h.stop("a.service");
    h.killed(pid, SIGTERM);
    h.take();
    h.start("a.service");
    let acts = h.take();
    assert_eq!(agains(&acts), [false], "{acts:?}");
    assert_eq!(unit_actions(&acts).len(), 1, "{acts:?}");
}
