//! Restart= policies against every kind of exit, RestartSec timing, exit status
//! sets, and the start rate limit.

mod support;

use support::*;
use vigil_engine::{Event, Reason, Role, State};
use vigil_units::{ExitStatusSet, RestartPolicy, ServiceType};

#[derive(Debug, Clone, Copy)]
enum Ending {
    Clean,
    ExitCode,
    UncleanSignal,
    CleanSignal,
    Abort,
    Timeout,
}

/// Runs a unit with `policy` to the given ending; true when it is restarting after.
fn restarts_after(policy: RestartPolicy, ending: Ending) -> bool {
    let ty = if matches!(ending, Ending::Timeout) {
        ServiceType::Notify
    } else {
        ServiceType::Simple
    };
    let mut h = H::new(vec![
        service("a.service")
            .ty(ty)
            .restart(policy)
            .timeout_start(Some(secs(1))),
    ]);
    h.start("a.service");
    let pid = h.expect_spawn("a.service", Role::Main(0));
    match ending {
        Ending::Clean => h.exit(pid, 0),
        Ending::ExitCode => h.exit(pid, 1),
        Ending::UncleanSignal => h.killed(pid, SIGSEGV),
        Ending::CleanSignal => h.killed(pid, SIGTERM),
        Ending::Abort => h.killed(pid, SIGABRT),
        Ending::Timeout => {
            h.at(secs(1));
            h.killed(pid, SIGTERM);
            assert_eq!(h.info("a.service").reason, Some(Reason::StartTimeout));
        }
    }
    let state = h.state("a.service");
    assert!(
        matches!(state, State::Restarting | State::Inactive | State::Failed),
        "{policy:?} {ending:?}: {state}"
    );
    state == State::Restarting
}

#[test]
fn restart_policy_table_matches_systemd() {
    use Ending::*;
    use RestartPolicy::*;
    let endings = [Clean, ExitCode, UncleanSignal, CleanSignal, Abort, Timeout];
    // Columns in the order of `endings`; systemd.service(5), table 2.
    let table: [(RestartPolicy, [bool; 6]); 7] = [
        (No, [false, false, false, false, false, false]),
        (Always, [true, true, true, true, true, true]),
        (OnSuccess, [true, false, false, true, false, false]),
        (OnFailure, [false, true, true, false, true, true]),
        (OnAbnormal, [false, false, true, false, true, true]),
        (OnAbort, [false, false, true, false, true, false]),
        (OnWatchdog, [false, false, false, false, false, false]),
    ];
    for (policy, row) in table {
        for (ending, want) in endings.iter().zip(row) {
            assert_eq!(
                restarts_after(policy, *ending),
                want,
                "Restart={policy:?} after {ending:?}"
            );
        }
    }
}

#[test]
fn failed_exit_without_restart_is_failed_with_the_code_and_clean_exit_is_inactive() {
    let mut h = H::new(vec![service("a.service"), service("b.service")]);
    let a = h.run("a.service");
    h.exit(a, 7);
    assert_eq!(h.state("a.service"), State::Failed);
    assert_eq!(h.reason("a.service"), Some(Reason::ExitCode(7)));
    let b = h.run("b.service");
    h.killed(b, SIGSEGV);
    assert_eq!(h.reason("b.service"), Some(Reason::Signal(SIGSEGV)));
    let mut h = H::new(vec![service("c.service")]);
    let c = h.run("c.service");
    h.exit(c, 0);
    assert_eq!(h.state("c.service"), State::Inactive);
}

#[test]
fn restart_sec_is_honoured_through_next_deadline() {
    let mut h = H::new(vec![
        service("a.service")
            .restart(RestartPolicy::OnFailure)
            .restart_sec(secs(2)),
    ]);
    let pid = h.run("a.service");
    h.now = secs(10);
    h.exit(pid, 1);
    let info = h.info("a.service");
    assert_eq!(info.state, State::Restarting);
    assert_eq!(info.reason, Some(Reason::ExitCode(1)));
    assert_eq!(info.next_restart, Some(secs(12)));
    assert_eq!(h.e.next_deadline(), Some(secs(12)));
    assert!(
        logs(&h.take())
            .iter()
            .any(|l| l.contains("restarting in 2000 ms"))
    );
    h.at(ms(11_999));
    assert!(h.spawns().is_empty());
    h.at(secs(12));
    let pid2 = h.expect_spawn("a.service", Role::Main(0));
    let info = h.info("a.service");
    assert_eq!(info.state, State::Running);
    assert_eq!(info.restarts, 1);
    assert_eq!(info.main_pid, Some(pid2));
    assert_eq!(info.reason, None);
}

#[test]
fn restart_sec_zero_restarts_at_once() {
    let mut h = H::new(vec![
        service("a.service")
            .restart(RestartPolicy::Always)
            .restart_sec(ms(0)),
    ]);
    let pid = h.run("a.service");
    h.exit(pid, 1);
    h.expect_spawn("a.service", Role::Main(0));
    assert_eq!(h.state("a.service"), State::Running);
    assert_eq!(h.info("a.service").restarts, 1);
}

#[test]
fn restart_prevent_exit_status_stops_the_restart() {
    let mut h = H::new(vec![
        service("a.service")
            .restart(RestartPolicy::Always)
            .svc(|s| {
                *s.restart_prevent_exit_status = ExitStatusSet {
                    codes: vec![3],
                    signals: vec![SIGHUP],
                }
            }),
    ]);
    let pid = h.run("a.service");
    h.exit(pid, 3);
    assert_eq!(h.state("a.service"), State::Failed);
    h.start("a.service");
    let pid = h.expect_spawn("a.service", Role::Main(0));
    h.killed(pid, SIGHUP);
    assert_eq!(
        h.state("a.service"),
        State::Inactive,
        "SIGHUP is clean, and prevented"
    );
    h.start("a.service");
    let pid = h.expect_spawn("a.service", Role::Main(0));
    h.exit(pid, 4);
    assert_eq!(h.state("a.service"), State::Restarting);
}

#[test]
fn success_exit_status_makes_a_code_clean() {
    let mut h = H::new(vec![
        service("a.service")
            .restart(RestartPolicy::OnFailure)
            .svc(|s| {
                *s.success_exit_status = ExitStatusSet {
                    codes: vec![42],
                    signals: vec![SIGSEGV],
                }
            }),
    ]);
    let pid = h.run("a.service");
    h.exit(pid, 42);
    assert_eq!(h.state("a.service"), State::Inactive);
    h.start("a.service");
    let pid = h.expect_spawn("a.service", Role::Main(0));
    h.killed(pid, SIGSEGV);
    assert_eq!(h.state("a.service"), State::Inactive);
}

#[test]
fn ignore_failure_on_exec_start_makes_the_exit_clean() {
    let mut h = H::new(vec![
        service("a.service")
            .restart(RestartPolicy::OnFailure)
            .svc(|s| s.exec_start = vec![cmd_ignore("/bin/a")]),
    ]);
    let pid = h.run("a.service");
    h.exit(pid, 1);
    assert_eq!(h.state("a.service"), State::Inactive);
}

/// Crashes the running instance and fires the restart timer.
fn crash_and_restart(h: &mut H, pid: u32) -> Option<u32> {
    h.exit(pid, 1);
    let t = h.e.next_deadline()?;
    h.at(t);
    // Peek, so that the actions stay for the caller when nothing was spawned.
    if spawns(&h.out).is_empty() {
        return None;
    }
    Some(h.expect_spawn("a.service", Role::Main(0)))
}

#[test]
fn start_limit_hit_stops_restarts_and_manual_starts_until_reset_failed() {
    let mut h = H::new(vec![
        service("a.service")
            .restart(RestartPolicy::Always)
            .restart_sec(ms(100))
            .limit(3, secs(10)),
    ]);
    let mut pid = h.run("a.service");
    // Starts 2 and 3 are within the burst, the 4th is refused.
    for _ in 0..2 {
        pid = crash_and_restart(&mut h, pid).expect("restarted");
    }
    assert_eq!(crash_and_restart(&mut h, pid), None);
    let info = h.info("a.service");
    assert_eq!(info.state, State::Failed);
    assert_eq!(info.reason, Some(Reason::StartLimitHit));
    assert_eq!(info.restarts, 3);
    assert_eq!(h.e.next_deadline(), None, "no more automatic restarts");
    assert!(
        logs(&h.take())
            .iter()
            .any(|l| l.contains("start limit hit"))
    );

    // A manual start counts too, as in systemd: refused within the interval.
    h.start("a.service");
    assert!(h.spawns().is_empty(), "refused: still over the limit");
    assert_eq!(h.reason("a.service"), Some(Reason::StartLimitHit));
    // reset-failed clears the counter.
    h.ok(Event::ResetFailed(Some("a.service".into())));
    h.start("a.service");
    let pid = h.expect_spawn("a.service", Role::Main(0));
    assert_eq!(h.info("a.service").restarts, 0);
    assert_eq!(h.state("a.service"), State::Running);
    crash_and_restart(&mut h, pid).expect("restarts again after the reset");
}

/// Manual starts and restarts count toward the start limit like automatic
/// ones (systemd.unit(5): "they apply to all kinds of starts (including
/// manual)"); once the interval has passed, a start goes through again.
#[test]
fn manual_restarts_count_toward_the_start_limit() {
    let mut h = H::new(vec![service("a.service").limit(3, secs(10))]);
    h.run("a.service");
    for _ in 0..2 {
        h.send(Event::Restart("a.service".into())).unwrap();
        let pid = h.info("a.service").main_pid.unwrap();
        h.killed(pid, SIGTERM);
        h.expect_spawn("a.service", Role::Main(0));
    }
    h.send(Event::Restart("a.service".into())).unwrap();
    let pid = h.info("a.service").main_pid.unwrap();
    h.killed(pid, SIGTERM);
    assert!(
        h.spawns().is_empty(),
        "the 4th start within 10 s is refused"
    );
    assert_eq!(h.reason("a.service"), Some(Reason::StartLimitHit));
    h.at(secs(11));
    h.start("a.service");
    h.expect_spawn("a.service", Role::Main(0));
}

#[test]
fn start_limit_window_slides() {
    let mut h = H::new(vec![
        service("a.service")
            .restart(RestartPolicy::Always)
            .restart_sec(secs(4))
            .limit(2, secs(10)),
    ]);
    // Starts at 0, 4+, 8+... each window of 10 s holds at most 2 starts.
    let pid = h.run("a.service");
    let pid = crash_and_restart(&mut h, pid).expect("second start at 4 s");
    // Third start would be at 8 s: 0 and 4 are within 10 s.
    assert_eq!(crash_and_restart(&mut h, pid), None);
    assert_eq!(h.reason("a.service"), Some(Reason::StartLimitHit));

    let mut h = H::new(vec![
        service("a.service")
            .restart(RestartPolicy::Always)
            .restart_sec(secs(6))
            .limit(2, secs(10)),
    ]);
    // Starts at 0, 6, 12: the window at 12 holds only the start at 6.
    let pid = h.run("a.service");
    let pid = crash_and_restart(&mut h, pid).expect("6 s");
    crash_and_restart(&mut h, pid).expect("12 s");
}

#[test]
fn reset_failed_clears_the_failure_and_the_counter() {
    let mut h = H::new(vec![
        service("a.service")
            .restart(RestartPolicy::Always)
            .restart_sec(ms(100))
            .limit(1, secs(10)),
        service("b.service"),
    ]);
    let pid = h.run("a.service");
    assert_eq!(crash_and_restart(&mut h, pid), None);
    assert_eq!(h.reason("a.service"), Some(Reason::StartLimitHit));
    let b = h.run("b.service");
    h.exit(b, 1);
    h.ok(Event::ResetFailed(Some("a.service".into())));
    assert_eq!(h.state("a.service"), State::Inactive);
    assert_eq!(h.reason("a.service"), None);
    assert_eq!(h.state("b.service"), State::Failed, "only the unit named");
    // The counter is clear: a start that is not manual (pulled in) works.
    h.ok(Event::ResetFailed(None));
    assert_eq!(h.state("b.service"), State::Inactive);
    assert!(
        h.send(Event::ResetFailed(Some("nope.service".into())))
            .is_err()
    );
}

#[test]
fn auto_restart_pulls_requirements_and_waits_for_ordering() {
    let mut h = H::new(vec![
        service("db.service").ty(ServiceType::Notify),
        service("app.service")
            .needs(&["db.service"])
            .restart(RestartPolicy::Always)
            .restart_sec(ms(100)),
    ]);
    h.start("app.service");
    let db = h.spawn_all()[0].2;
    h.notify(db, &[("READY", "1")]);
    let app = h.spawn_all()[0].2;
    h.stop("db.service");
    // app requires db: it is stopped first (and not restarted: the stop was asked for).
    assert_eq!(signalled(&h.take()), ["app.service"]);
    h.killed(app, SIGTERM);
    h.killed(db, SIGTERM);
    assert_eq!(h.state("app.service"), State::Inactive);
    assert_eq!(h.e.next_deadline(), None);
}

#[test]
fn restart_request_stops_then_starts() {
    let mut h = H::new(vec![service("a.service")]);
    let pid = h.run("a.service");
    h.ok(Event::Restart("a.service".into()));
    assert_eq!(signals(&h.take()), [(pid, SIGTERM, true)]);
    h.killed(pid, SIGTERM);
    let pid2 = h.expect_spawn("a.service", Role::Main(0));
    assert_ne!(pid, pid2);
    assert_eq!(h.state("a.service"), State::Running);
    // Restart of an inactive unit starts it.
    h.stop("a.service");
    h.killed(pid2, SIGTERM);
    h.ok(Event::Restart("a.service".into()));
    h.expect_spawn("a.service", Role::Main(0));
}

/// systemd.service(5): SIGHUP, SIGINT, SIGTERM and SIGPIPE are a clean end
/// of a main process "except for Type=oneshot".
#[test]
fn a_oneshot_ended_by_sigterm_failed_and_restarts_on_failure() {
    let mut h = H::new(vec![
        service("o.service")
            .ty(ServiceType::Oneshot)
            .restart(RestartPolicy::OnFailure),
    ]);
    h.start("o.service");
    let pid = h.expect_spawn("o.service", Role::Main(0));
    h.killed(pid, SIGTERM);
    assert_eq!(h.state("o.service"), State::Restarting);
    let mut h = H::new(vec![service("s.service").restart(RestartPolicy::OnFailure)]);
    let pid = h.run("s.service");
    h.killed(pid, SIGTERM);
    assert_eq!(h.state("s.service"), State::Inactive);
}

/// The stop makes the unit inactive, not failed, as systemd's stop of a
/// unit in `auto-restart`; the failure the restart was to repair stays its
/// reason (systemd's `Result=`) until a reset-failed or the next start.
#[test]
fn stop_during_restart_hold_off_cancels_it() {
    let mut h = H::new(vec![
        service("a.service")
            .restart(RestartPolicy::Always)
            .restart_sec(secs(1)),
    ]);
    let pid = h.run("a.service");
    h.exit(pid, 1);
    assert_eq!(h.state("a.service"), State::Restarting);
    h.stop("a.service");
    assert_eq!(h.state("a.service"), State::Inactive);
    assert_eq!(h.reason("a.service"), Some(Reason::ExitCode(1)));
    assert_eq!(h.e.next_deadline(), None);
    h.at(secs(2));
    assert!(h.spawns().is_empty());
    h.ok(Event::ResetFailed(Some("a.service".into())));
    assert_eq!(h.state("a.service"), State::Inactive);
    assert_eq!(h.reason("a.service"), None);
    // The next start clears it too.
    let pid = h.run("a.service");
    h.exit(pid, 1);
    h.stop("a.service");
    assert_eq!(h.reason("a.service"), Some(Reason::ExitCode(1)));
    h.start("a.service");
    assert_eq!(h.reason("a.service"), None);
}

#[test]
fn start_during_restart_hold_off_starts_now() {
    let mut h = H::new(vec![
        service("a.service")
            .restart(RestartPolicy::Always)
            .restart_sec(secs(10)),
    ]);
    let pid = h.run("a.service");
    h.exit(pid, 1);
    h.start("a.service");
    h.expect_spawn("a.service", Role::Main(0));
    assert_eq!(h.e.next_deadline(), None);
}
