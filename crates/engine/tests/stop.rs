//! Stopping: ExecStop, the kill step per KillMode, SIGKILL after TimeoutStopSec,
//! SendSIGKILL=no, ExecStopPost, and shutdown in reverse order.

mod support;

use support::*;
use vigil_engine::{Action, EngineError, Event, Reason, Role, State};
use vigil_units::{KillMode, RestartPolicy, ServiceType};

#[test]
fn stop_sequence_exec_stop_then_signal_then_sigkill_after_timeout() {
    let mut h = H::new(vec![
        service("a.service")
            .stop_cmd(cmd("/bin/stop"))
            .stop_post(cmd("/bin/cleanup"))
            .timeout_stop(Some(secs(5))),
    ]);
    let main = h.run("a.service");
    h.stop("a.service");
    let stop = h.expect_spawn("a.service", Role::Stop(0));
    assert_eq!(h.state("a.service"), State::Stopping);
    assert_eq!(h.e.next_deadline(), Some(secs(5)));
    h.now = secs(1);
    h.exit(stop, 0);
    // ExecStop did not stop it: KillSignal to the group.
    assert_eq!(signals(&h.take()), [(main, SIGTERM, true)]);
    assert_eq!(h.e.next_deadline(), Some(secs(6)));
    h.at(ms(5999));
    assert!(signals(&h.take()).is_empty());
    h.at(secs(6));
    assert_eq!(signals(&h.take()), [(main, SIGKILL, true)]);
    h.killed(main, SIGKILL);
    let post = h.expect_spawn("a.service", Role::StopPost(0));
    assert_eq!(h.state("a.service"), State::Stopping);
    h.exit(post, 0);
    assert_eq!(h.state("a.service"), State::Failed);
    assert_eq!(h.reason("a.service"), Some(Reason::StopTimeout));
}

/// Review finding: with a stop timeout of 0 (YAML's `shutdown_timeout: 0`,
/// "SIGKILL at once") the wait after SIGKILL was 0 too: every stop ended
/// `failed (stop timeout)` with "processes still around after SIGKILL",
/// though the process was gone a moment later.
#[test]
fn a_stop_timeout_of_0_sends_sigkill_at_once_and_is_no_failure() {
    let mut h = H::new(vec![service("a.service").timeout_stop(Some(secs(0)))]);
    let main = h.run("a.service");
    h.stop("a.service");
    assert_eq!(
        signals(&h.take()),
        [(main, SIGTERM, true), (main, SIGKILL, true)]
    );
    // The process gets time to go after SIGKILL.
    assert_eq!(h.e.next_deadline(), Some(secs(5)));
    h.at(ms(10));
    assert_eq!(h.state("a.service"), State::Stopping);
    h.killed(main, SIGKILL);
    assert_eq!(h.state("a.service"), State::Inactive);
    assert_eq!(h.reason("a.service"), None);
}

/// A YAML service killed by its own stop signal (zinit's example: SIGKILL)
/// stopped as asked: zinit has no failed stop. A unit file's KillSignal=SIGKILL
/// fails the unit, as systemd's; so does a YAML service's crash by the signal.
#[test]
fn a_yaml_service_ended_by_its_stop_signal_is_stopped_not_failed() {
    use vigil_units::Format;
    let yaml = |name: &str| {
        service(name)
            .unit(|u| u.format = Format::Yaml)
            .svc(|s| s.kill_signal = SIGKILL)
    };
    let mut h = H::new(vec![
        yaml("y.service"),
        service("u.service").svc(|s| s.kill_signal = SIGKILL),
        yaml("c.service"),
    ]);
    for (name, state, reason) in [
        ("y.service", State::Inactive, None),
        ("u.service", State::Failed, Some(Reason::Signal(SIGKILL))),
    ] {
        let main = h.run(name);
        h.stop(name);
        assert_eq!(signals(&h.take()), [(main, SIGKILL, true)], "{name}");
        h.killed(main, SIGKILL);
        assert_eq!(h.state(name), state, "{name}");
        assert_eq!(h.reason(name), reason, "{name}");
    }
    let main = h.run("c.service");
    h.killed(main, SIGKILL);
    assert_eq!(h.reason("c.service"), Some(Reason::Signal(SIGKILL)));
}

/// A short stop timeout still gives the processes 5 s after SIGKILL.
#[test]
fn the_wait_after_sigkill_is_at_least_5_s() {
    let mut h = H::new(vec![service("a.service").timeout_stop(Some(ms(100)))]);
    let main = h.run("a.service");
    h.stop("a.service");
    h.at(ms(100));
    assert_eq!(
        signals(&h.take()),
        [(main, SIGTERM, true), (main, SIGKILL, true)]
    );
    assert_eq!(h.e.next_deadline(), Some(ms(5100)));
    h.at(ms(5099));
    assert_eq!(h.state("a.service"), State::Stopping);
    h.killed(main, SIGKILL);
    assert_eq!(h.state("a.service"), State::Failed);
    assert_eq!(h.reason("a.service"), Some(Reason::StopTimeout));
}

#[test]
fn clean_stop_is_inactive_and_never_restarts() {
    let mut h = H::new(vec![service("a.service").restart(RestartPolicy::Always)]);
    let main = h.run("a.service");
    h.stop("a.service");
    assert_eq!(signals(&h.take()), [(main, SIGTERM, true)]);
    h.killed(main, SIGTERM);
    assert_eq!(h.state("a.service"), State::Inactive);
    assert_eq!(h.reason("a.service"), None);
    assert_eq!(h.e.next_deadline(), None);
    assert!(h.spawns().is_empty());
}

#[test]
fn main_exiting_with_failure_during_stop_marks_failed() {
    let mut h = H::new(vec![service("a.service")]);
    let main = h.run("a.service");
    h.stop("a.service");
    h.exit(main, 143);
    assert_eq!(h.state("a.service"), State::Failed);
    assert_eq!(h.reason("a.service"), Some(Reason::ExitCode(143)));
}

#[test]
fn exec_stop_that_stops_the_main_process_needs_no_signal() {
    let mut h = H::new(vec![service("a.service").stop_cmd(cmd("/bin/stop"))]);
    let main = h.run("a.service");
    h.stop("a.service");
    let stop = h.expect_spawn("a.service", Role::Stop(0));
    h.killed(main, SIGTERM);
    assert_eq!(h.state("a.service"), State::Stopping, "ExecStop still runs");
    h.exit(stop, 0);
    assert!(signals(&h.take()).is_empty());
    assert_eq!(h.state("a.service"), State::Inactive);
}

#[test]
fn send_sigkill_no_leaves_the_process_and_fails_with_stop_timeout() {
    let mut h = H::new(vec![
        service("a.service")
            .svc(|s| s.send_sigkill = false)
            .timeout_stop(Some(secs(2))),
    ]);
    let main = h.run("a.service");
    h.stop("a.service");
    assert_eq!(signals(&h.take()), [(main, SIGTERM, true)]);
    h.at(secs(2));
    assert!(signals(&h.take()).is_empty(), "no SIGKILL");
    assert_eq!(h.state("a.service"), State::Failed);
    assert_eq!(h.reason("a.service"), Some(Reason::StopTimeout));
    assert_eq!(
        h.e.unit_of_pid(main),
        None,
        "the process is no longer tracked"
    );
}

#[test]
fn kill_signal_is_configurable() {
    let mut h = H::new(vec![service("a.service").svc(|s| s.kill_signal = SIGINT)]);
    let main = h.run("a.service");
    h.stop("a.service");
    assert_eq!(signals(&h.take()), [(main, SIGINT, true)]);
}

#[test]
fn kill_mode_process_signals_the_main_process_only() {
    let mut h = H::new(vec![
        service("a.service")
            .kill_mode(KillMode::Process)
            .timeout_stop(Some(secs(1))),
    ]);
    let main = h.run("a.service");
    h.stop("a.service");
    assert_eq!(signals(&h.take()), [(main, SIGTERM, false)]);
    h.at(secs(1));
    assert_eq!(signals(&h.take()), [(main, SIGKILL, false)]);
}

#[test]
fn kill_mode_mixed_terms_the_main_then_kills_the_group() {
    let mut h = H::new(vec![service("a.service").kill_mode(KillMode::Mixed)]);
    let main = h.run("a.service");
    h.stop("a.service");
    assert_eq!(signals(&h.take()), [(main, SIGTERM, false)]);
    h.killed(main, SIGTERM);
    assert_eq!(signals(&h.take()), [(main, SIGKILL, true)]);
    assert_eq!(h.state("a.service"), State::Inactive);
}

#[test]
fn kill_mode_mixed_timeout_kills_the_group() {
    let mut h = H::new(vec![
        service("a.service")
            .kill_mode(KillMode::Mixed)
            .timeout_stop(Some(secs(1))),
    ]);
    let main = h.run("a.service");
    h.stop("a.service");
    h.take();
    h.at(secs(1));
    assert_eq!(signals(&h.take()), [(main, SIGKILL, true)]);
}

#[test]
fn kill_mode_none_sends_nothing() {
    let mut h = H::new(vec![service("a.service").kill_mode(KillMode::None)]);
    let main = h.run("a.service");
    h.stop("a.service");
    assert!(signals(&h.take()).is_empty());
    assert_eq!(h.state("a.service"), State::Inactive);
    assert_eq!(h.e.unit_of_pid(main), None);
}

#[test]
fn exec_stop_timeout_kills_the_control_process_too() {
    let mut h = H::new(vec![
        service("a.service")
            .stop_cmd(cmd("/bin/stop"))
            .timeout_stop(Some(secs(1))),
    ]);
    let main = h.run("a.service");
    h.stop("a.service");
    let stop = h.expect_spawn("a.service", Role::Stop(0));
    h.at(secs(1));
    let mut sig = signals(&h.take());
    sig.sort_unstable();
    let mut want = vec![(main, SIGTERM, true), (stop, SIGTERM, true)];
    want.sort_unstable();
    assert_eq!(sig, want);
    h.killed(main, SIGTERM);
    assert_eq!(
        h.state("a.service"),
        State::Stopping,
        "waits for the control process"
    );
    h.killed(stop, SIGTERM);
    assert_eq!(h.reason("a.service"), Some(Reason::StopTimeout));
}

#[test]
fn stop_while_starting_kills_without_exec_stop() {
    let mut h = H::new(vec![
        service("n.service")
            .ty(ServiceType::Notify)
            .stop_cmd(cmd("/bin/stop")),
    ]);
    h.start("n.service");
    let main = h.expect_spawn("n.service", Role::Main(0));
    h.stop("n.service");
    let acts = h.take();
    assert!(
        spawns(&acts).is_empty(),
        "ExecStop runs only for a started unit"
    );
    assert_eq!(signals(&acts), [(main, SIGTERM, true)]);
    h.killed(main, SIGTERM);
    assert_eq!(h.state("n.service"), State::Inactive);
}

#[test]
fn stop_before_spawned_kills_the_late_process() {
    let mut h = H::new(vec![service("a.service").pre(cmd("/bin/pre"))]);
    h.start("a.service");
    assert_eq!(h.spawns(), [("a.service".to_string(), Role::StartPre(0))]);
    // Stop arrives before vigild reported the fork.
    h.stop("a.service");
    assert_eq!(h.state("a.service"), State::Stopping);
    let pre = h.spawned("a.service", Role::StartPre(0));
    assert_eq!(signals(&h.take()), [(pre, SIGTERM, true)]);
    h.killed(pre, SIGTERM);
    assert_eq!(h.state("a.service"), State::Inactive);
}

#[test]
fn stop_of_a_waiting_unit_cancels_it() {
    let mut h = H::new(vec![
        service("a.service").ty(ServiceType::Notify),
        service("b.service").after(&["a.service"]),
    ]);
    h.start("a.service");
    h.start("b.service");
    assert_eq!(h.state("b.service"), State::Waiting);
    h.stop("b.service");
    assert_eq!(h.state("b.service"), State::Inactive);
    let a = h.spawn_all()[0].2;
    h.notify(a, &[("READY", "1")]);
    assert!(h.spawns().is_empty(), "b was cancelled");
}

#[test]
fn start_during_stop_starts_again_once_stopped() {
    let mut h = H::new(vec![service("a.service")]);
    let main = h.run("a.service");
    h.stop("a.service");
    h.start("a.service");
    h.take();
    h.killed(main, SIGTERM);
    h.expect_spawn("a.service", Role::Main(0));
    assert_eq!(h.state("a.service"), State::Running);
}

/// A stop after that start supersedes it, as systemd's stop job replaces a
/// queued start: the unit stays down.
#[test]
fn stop_after_a_start_during_stop_cancels_the_start() {
    let mut h = H::new(vec![service("a.service")]);
    let main = h.run("a.service");
    h.stop("a.service");
    h.start("a.service");
    h.stop("a.service");
    h.take();
    h.killed(main, SIGTERM);
    assert!(h.spawns().is_empty(), "the start was cancelled");
    assert_eq!(h.state("a.service"), State::Inactive);
}

#[test]
fn exec_stop_post_failure_is_kept() {
    let mut h = H::new(vec![service("a.service").stop_post(cmd("/bin/post"))]);
    let main = h.run("a.service");
    h.stop("a.service");
    h.killed(main, SIGTERM);
    let post = h.expect_spawn("a.service", Role::StopPost(0));
    h.exit(post, 4);
    assert_eq!(h.reason("a.service"), Some(Reason::ExitCode(4)));
}

#[test]
fn stopping_a_target_stops_only_the_target() {
    let mut h = H::new(vec![
        target("t.target").wants(&["a.service"]),
        service("a.service"),
    ]);
    h.start("t.target");
    h.spawn_all();
    h.stop("t.target");
    assert_eq!(h.state("t.target"), State::Inactive);
    assert_eq!(
        h.state("a.service"),
        State::Running,
        "Wants= does not propagate stops"
    );
}

#[test]
fn shutdown_stops_in_reverse_order_in_parallel() {
    // a, b independent; c after a and b; d after c.
    let mut h = H::new(vec![
        target("t.target").wants(&["a.service", "b.service", "c.service", "d.service"]),
        service("a.service"),
        service("b.service"),
        service("c.service").after(&["a.service", "b.service"]),
        service("d.service").after(&["c.service"]),
    ]);
    h.start("t.target");
    let mut pids = std::collections::HashMap::new();
    for _ in 0..3 {
        for (u, _, pid) in h.spawn_all() {
            pids.insert(u, pid);
        }
    }
    assert_eq!(pids.len(), 4);
    h.ok(Event::Shutdown { targets: vec![] });
    assert_eq!(signalled(&h.take()), ["d.service"]);
    assert_eq!(
        h.send(Event::Start("a.service".into())),
        Err(EngineError::NotAllowed {
            unit: "a.service".into(),
            why: "the manager is shutting down".into()
        })
    );
    h.killed(pids["d.service"], SIGTERM);
    assert_eq!(signalled(&h.take()), ["c.service"]);
    h.killed(pids["c.service"], SIGTERM);
    assert_eq!(
        signalled(&h.take()),
        ["a.service", "b.service"],
        "a and b stop together"
    );
    h.killed(pids["a.service"], SIGTERM);
    assert!(!h.take().contains(&Action::AllStopped));
    h.killed(pids["b.service"], SIGTERM);
    let acts = h.take();
    assert!(acts.contains(&Action::AllStopped));
    for u in [
        "a.service",
        "b.service",
        "c.service",
        "d.service",
        "t.target",
    ] {
        assert_eq!(h.state(u), State::Inactive, "{u}");
    }
    // Only once.
    h.ok(Event::Tick);
    assert!(!h.take().contains(&Action::AllStopped));
}

/// What the shutdown's targets pull in starts, each once the units ordered
/// against it (either way) have stopped; a unit with default dependencies
/// (Conflicts=shutdown.target) is not started; those units stop last.
#[test]
fn units_of_the_shutdown_targets_run_after_what_they_are_ordered_against() {
    let normal = |name: &str| {
        service(name)
            .conflicts(&["shutdown.target"])
            .before(&["shutdown.target"])
    };
    let mut h = H::new(vec![
        target("t.target").wants(&["a.service", "b.service"]),
        normal("a.service"),
        normal("b.service"),
        target("shutdown.target").wants(&["save.service", "early.service", "bad.service"]),
        target("poweroff.target").needs(&["shutdown.target"]),
        service("save.service")
            .ty(ServiceType::Oneshot)
            .after(&["a.service"])
            .before(&["shutdown.target"]),
        service("early.service").before(&["b.service"]),
        normal("bad.service"),
    ]);
    h.start("t.target");
    let pids: std::collections::HashMap<_, _> = h
        .spawn_all()
        .into_iter()
        .map(|(u, _, pid)| (u, pid))
        .collect();
    let targets = vec!["shutdown.target".into(), "poweroff.target".into()];
    h.ok(Event::Shutdown { targets });
    let acts = h.take();
    assert_eq!(signalled(&acts), ["a.service", "b.service"]);
    assert!(spawns(&acts).is_empty(), "{acts:?}");
    assert!(
        logs(&acts)
            .iter()
            .any(|l| l.contains("conflicts with shutdown.target")),
        "{acts:?}"
    );
    assert!(h.send(Event::Start("a.service".into())).is_err());
    // save is After=a: it starts once a has stopped.
    h.killed(pids["a.service"], SIGTERM);
    let save = h.expect_spawn("save.service", Role::Main(0));
    // early is Before=b: a stop still goes first.
    h.killed(pids["b.service"], SIGTERM);
    let early = h.expect_spawn("early.service", Role::Main(0));
    assert_eq!(h.state("shutdown.target"), State::Waiting);
    h.exit(save, 0);
    assert_eq!(h.state("save.service"), State::Inactive);
    assert_eq!(
        h.state("poweroff.target"),
        State::Inactive,
        "started, then stopped last"
    );
    // Then the shutdown's own units stop too: nothing is left behind.
    let acts = h.take();
    assert_eq!(signalled(&acts), ["early.service"]);
    assert!(!acts.contains(&Action::AllStopped));
    h.killed(early, SIGTERM);
    assert!(h.take().contains(&Action::AllStopped));
    assert_eq!(h.state("bad.service"), State::Inactive);
}

/// A second shutdown request (`vigil poweroff` twice, or `vigil reboot`
/// while stopping) runs only what its target adds: no unit runs twice.
#[test]
fn a_second_shutdown_request_runs_only_what_its_target_adds() {
    let mut h = H::new(vec![
        service("a.service").conflicts(&["shutdown.target"]),
        target("shutdown.target").wants(&["save.service"]),
        target("poweroff.target").needs(&["shutdown.target"]),
        target("reboot.target")
            .needs(&["shutdown.target"])
            .wants(&["bye.service"]),
        service("save.service").ty(ServiceType::Oneshot),
        service("bye.service")
            .ty(ServiceType::Oneshot)
            .after(&["a.service"]),
    ]);
    let a = h.run("a.service");
    let shutdown = |t: &str| Event::Shutdown {
        targets: vec!["shutdown.target".into(), t.into()],
    };
    h.ok(shutdown("poweroff.target"));
    let save = h.expect_spawn("save.service", Role::Main(0));
    h.exit(save, 0);
    h.ok(shutdown("poweroff.target"));
    assert!(h.spawns().is_empty(), "save ran already");
    h.ok(shutdown("reboot.target"));
    assert!(h.spawns().is_empty(), "bye waits for a to stop");
    h.killed(a, SIGTERM);
    let bye = h.expect_spawn("bye.service", Role::Main(0));
    h.exit(bye, 0);
    assert!(h.take().contains(&Action::AllStopped));
    assert!(h.send(Event::Start("save.service".into())).is_err());
}

/// A unit of the shutdown that is stopping (a `vigil stop` or `vigil restart`
/// a moment earlier) when the shutdown comes runs once that stop is over.
#[test]
fn a_unit_of_the_shutdown_that_was_stopping_runs_once_stopped() {
    for restart in [false, true] {
        let mut h = H::new(vec![
            target("shutdown.target").wants(&["save.service"]),
            service("save.service"),
        ]);
        let pid = h.run("save.service");
        if restart {
            h.ok(Event::Restart("save.service".into()));
        } else {
            h.stop("save.service");
        }
        assert_eq!(h.state("save.service"), State::Stopping);
        h.ok(Event::Shutdown {
            targets: vec!["shutdown.target".into()],
        });
        h.take();
        h.killed(pid, SIGTERM);
        let again = h.expect_spawn("save.service", Role::Main(0));
        assert_eq!(signalled(&h.take()), ["save.service"], "then stopped last");
        h.killed(again, SIGTERM);
        assert!(h.take().contains(&Action::AllStopped));
    }
}

/// Without targets (or none that exists), a shutdown stops everything.
#[test]
fn a_shutdown_target_that_does_not_exist_starts_nothing() {
    let mut h = H::new(vec![service("a.service")]);
    let a = h.run("a.service");
    h.ok(Event::Shutdown {
        targets: vec!["poweroff.target".into()],
    });
    assert_eq!(signalled(&h.take()), ["a.service"]);
    h.killed(a, SIGTERM);
    assert!(h.take().contains(&Action::AllStopped));
}

#[test]
fn shutdown_with_nothing_running_is_immediately_done() {
    let mut h = H::new(vec![service("a.service")]);
    h.ok(Event::Shutdown { targets: vec![] });
    assert!(h.take().contains(&Action::AllStopped));
}

#[test]
fn shutdown_uses_each_units_own_stop_timeout_and_suppresses_restarts() {
    let mut h = H::new(vec![
        service("a.service")
            .restart(RestartPolicy::Always)
            .timeout_stop(Some(secs(1))),
        service("b.service").timeout_stop(Some(secs(3))),
        service("w.service")
            .ty(ServiceType::Notify)
            .after(&["a.service"]),
    ]);
    let a = h.run("a.service");
    let b = h.run("b.service");
    h.start("w.service");
    let w = h.spawn_all()[0].2;
    h.ok(Event::Shutdown { targets: vec![] });
    h.take();
    h.killed(w, SIGTERM);
    h.take();
    h.at(secs(1));
    assert_eq!(signals(&h.take()), [(a, SIGKILL, true)]);
    h.killed(a, SIGKILL);
    assert_eq!(
        h.state("a.service"),
        State::Failed,
        "stop timeout, and no restart"
    );
    assert!(h.spawns().is_empty());
    h.at(secs(3));
    assert_eq!(signals(&h.take()), [(b, SIGKILL, true)]);
    h.killed(b, SIGKILL);
    assert!(h.take().contains(&Action::AllStopped));
}

#[test]
fn shutdown_cancels_pending_restarts() {
    let mut h = H::new(vec![
        service("a.service")
            .restart(RestartPolicy::Always)
            .restart_sec(secs(5)),
    ]);
    let main = h.run("a.service");
    h.exit(main, 1);
    assert_eq!(h.state("a.service"), State::Restarting);
    h.ok(Event::Shutdown { targets: vec![] });
    assert!(h.take().contains(&Action::AllStopped));
    assert_eq!(h.e.next_deadline(), None);
}

// ---------------------------------------------------------------- leftovers

/// The `KillLeftovers` signals among `actions`.
fn leftover_signals(actions: &[Action]) -> Vec<i32> {
    let signal = |a: &Action| match a {
        Action::KillLeftovers { signal, .. } => Some(*signal),
        _ => None,
    };
    actions.iter().filter_map(signal).collect()
}

fn leftovers(h: &mut H, unit: &str, present: bool) {
    h.ok(Event::Leftovers {
        unit: unit.into(),
        present,
    });
}

/// As systemd waits for a unit's cgroup to empty: a main process that exits
/// and leaves a process behind (`sh -c 'helper & exit 0'`) leaves the unit
/// stopping, its leftovers signalled, until they are gone.
#[test]
fn a_unit_whose_main_process_left_a_process_behind_stops_once_it_is_gone() {
    let mut h = H::new(vec![service("a.service").timeout_stop(Some(secs(3)))]);
    let main = h.run("a.service");
    h.take();
    leftovers(&mut h, "a.service", true);
    h.exit(main, 0);
    let out = h.take();
    assert_eq!(leftover_signals(&out), [SIGTERM]);
    assert_eq!(states(&out), [("a.service".into(), State::Stopping)]);
    assert_eq!(h.e.next_deadline(), Some(secs(3)));
    assert_eq!(h.e.units_waiting_for_leftovers(), ["a.service"]);
    leftovers(&mut h, "a.service", false);
    assert_eq!(states(&h.take()), [("a.service".into(), State::Inactive)]);
    assert_eq!(h.reason("a.service"), None);
    assert!(h.e.units_waiting_for_leftovers().is_empty());
}

/// Without leftovers the unit goes down at once, without a stopping state.
#[test]
fn a_main_process_that_left_nothing_behind_ends_the_unit_at_once() {
    let mut h = H::new(vec![service("a.service")]);
    let main = h.run("a.service");
    h.take();
    h.exit(main, 0);
    let out = h.take();
    assert!(leftover_signals(&out).is_empty());
    assert_eq!(states(&out), [("a.service".into(), State::Inactive)]);
}

/// Leftovers that ignore SIGTERM get SIGKILL at the stop timeout, then the
/// wait after SIGKILL; a stop that needed SIGKILL failed, as in systemd.
#[test]
fn leftovers_that_ignore_sigterm_get_sigkill_at_the_stop_timeout() {
    let mut h = H::new(vec![service("a.service").timeout_stop(Some(secs(1)))]);
    let main = h.run("a.service");
    leftovers(&mut h, "a.service", true);
    h.exit(main, 0);
    h.take();
    h.at(secs(1));
    assert_eq!(leftover_signals(&h.take()), [SIGKILL]);
    assert_eq!(h.state("a.service"), State::Stopping);
    leftovers(&mut h, "a.service", false);
    assert_eq!(h.state("a.service"), State::Failed);
    assert_eq!(h.reason("a.service"), Some(Reason::StopTimeout));
}

/// Leftovers that survive even SIGKILL (uninterruptible sleep) are given up
/// on after the wait that follows it, as processes are.
#[test]
fn leftovers_that_survive_sigkill_are_given_up_on() {
    let mut h = H::new(vec![service("a.service").timeout_stop(Some(secs(1)))]);
    let main = h.run("a.service");
    leftovers(&mut h, "a.service", true);
    h.exit(main, 0);
    h.at(secs(1));
    h.at(secs(6));
    let out = h.take();
    assert!(
        logs(&out).iter().any(|l| l.contains("giving up")),
        "{out:?}"
    );
    assert_eq!(h.state("a.service"), State::Failed);
    assert!(h.e.units_waiting_for_leftovers().is_empty());
}

/// A stop of a RemainAfterExit= unit whose process is gone but left a helper:
/// the helper gets KillSignal= and the unit is stopping until it is gone.
#[test]
fn stopping_an_exited_unit_waits_for_what_it_left_behind() {
    let mut h = H::new(vec![service("a.service").ty(ServiceType::Oneshot).remain()]);
    h.start("a.service");
    let main = h.expect_spawn("a.service", Role::Main(0));
    leftovers(&mut h, "a.service", true);
    h.exit(main, 0);
    assert_eq!(h.state("a.service"), State::Exited);
    assert!(leftover_signals(&h.take()).is_empty());
    h.stop("a.service");
    assert_eq!(leftover_signals(&h.take()), [SIGTERM]);
    assert_eq!(h.state("a.service"), State::Stopping);
    leftovers(&mut h, "a.service", false);
    assert_eq!(h.state("a.service"), State::Inactive);
}

/// The reverse order of a stop holds for leftovers: a unit ordered after
/// another stops once its leftovers are gone, and only then the other.
#[test]
fn a_unit_ordered_before_waits_for_the_leftovers_of_the_one_after_it() {
    let mut h = H::new(vec![
        service("a.service").ty(ServiceType::Oneshot).remain(),
        service("b.service").after(&["a.service"]),
    ]);
    h.start("a.service");
    let a = h.expect_spawn("a.service", Role::Main(0));
    h.exit(a, 0);
    h.start("b.service");
    let b = h.expect_spawn("b.service", Role::Main(0));
    h.ok_together(vec![
        Event::Stop("a.service".into()),
        Event::Stop("b.service".into()),
    ]);
    assert_eq!(signals(&h.take()), [(b, SIGTERM, true)]);
    leftovers(&mut h, "b.service", true);
    h.killed(b, SIGTERM);
    assert_eq!(h.state("b.service"), State::Stopping);
    assert_eq!(h.state("a.service"), State::Exited);
    leftovers(&mut h, "b.service", false);
    assert_eq!(h.state("b.service"), State::Inactive);
    assert_eq!(h.state("a.service"), State::Inactive);
}

/// Restart= starts the unit again only once its leftovers are gone (a helper
/// still holding the port would make the new start fail).
#[test]
fn a_restart_waits_for_the_leftovers_of_the_run_before() {
    let mut h = H::new(vec![
        service("a.service")
            .restart(RestartPolicy::Always)
            .restart_sec(ms(0)),
    ]);
    let main = h.run("a.service");
    leftovers(&mut h, "a.service", true);
    h.exit(main, 1);
    assert!(h.spawns().is_empty());
    assert_eq!(h.state("a.service"), State::Stopping);
    leftovers(&mut h, "a.service", false);
    assert_eq!(h.spawns(), [("a.service".to_string(), Role::Main(0))]);
}

/// KillMode=process leaves the leftovers alone, and does not wait for them;
/// KillMode=mixed gives them SIGKILL once the main process is gone.
#[test]
fn kill_mode_process_does_not_wait_and_mixed_kills_the_leftovers() {
    let mut h = H::new(vec![
        service("p.service").kill_mode(KillMode::Process),
        service("m.service").kill_mode(KillMode::Mixed),
    ]);
    let p = h.run("p.service");
    leftovers(&mut h, "p.service", true);
    h.exit(p, 0);
    assert!(leftover_signals(&h.take()).is_empty());
    assert_eq!(h.state("p.service"), State::Inactive);
    let m = h.run("m.service");
    h.stop("m.service");
    // The main process only, while it runs.
    assert!(leftover_signals(&h.take()).is_empty());
    leftovers(&mut h, "m.service", true);
    h.killed(m, SIGTERM);
    assert_eq!(leftover_signals(&h.take()), [SIGKILL]);
    assert_eq!(h.state("m.service"), State::Stopping);
    leftovers(&mut h, "m.service", false);
    assert_eq!(h.state("m.service"), State::Inactive);
}

/// The shutdown's global deadline kills the leftovers a unit waits for too.
#[test]
fn the_shutdown_deadline_kills_the_leftovers_waited_for() {
    let mut h = H::new(vec![service("a.service").timeout_stop(None)]);
    let main = h.run("a.service");
    h.ok(Event::Shutdown { targets: vec![] });
    leftovers(&mut h, "a.service", true);
    h.killed(main, SIGTERM);
    assert_eq!(h.state("a.service"), State::Stopping);
    h.take();
    h.ok(Event::ShutdownDeadline);
    let out = h.take();
    assert_eq!(leftover_signals(&out), [SIGKILL]);
    let said = logs(&out);
    assert!(
        said.iter()
            .any(|l| l == "shutdown deadline reached: SIGKILL to its leftovers"),
        "{said:?}"
    );
    assert!(out.contains(&Action::AllStopped));
}

/// `vigil kill` (every process) reaches the leftovers a unit waits for, and
/// signals them again each time (not `once`); it is refused only when
/// nothing at all is left.
#[test]
fn kill_of_a_unit_waiting_for_leftovers_signals_them() {
    let mut h = H::new(vec![service("a.service").timeout_stop(None)]);
    let main = h.run("a.service");
    leftovers(&mut h, "a.service", true);
    h.exit(main, 0);
    h.take();
    let kill = Event::Kill {
        unit: "a.service".into(),
        signal: SIGKILL,
        whom: vigil_engine::KillWhom::All,
    };
    h.ok(kill.clone());
    let once = |a: &Action| match a {
        Action::KillLeftovers { signal, once, .. } => Some((*signal, *once)),
        _ => None,
    };
    assert_eq!(
        h.take().iter().filter_map(once).collect::<Vec<_>>(),
        [(SIGKILL, false)]
    );
    leftovers(&mut h, "a.service", false);
    assert_eq!(h.state("a.service"), State::Inactive);
    assert!(h.send(kill).is_err());
}

/// Starts every unit of `names` in turn, each once the one before runs
/// (simple services: running once their exec succeeded); their PIDs by name.
fn start_all(h: &mut H, names: &[&str]) -> Vec<(String, u32)> {
    for n in names {
        h.start(n);
    }
    let mut pids = Vec::new();
    loop {
        let more = h.spawn_all();
        if more.is_empty() {
            return pids;
        }
        for (unit, _, pid) in more {
            h.ok(Event::ExecSucceeded { pid });
            pids.push((unit, pid));
        }
    }
}

fn pid_of(pids: &[(String, u32)], unit: &str) -> u32 {
    pids.iter().find(|(u, _)| u == unit).map(|p| p.1).unwrap()
}

/// Review findings on a stop that waits its turn (z, after a, stops first):
/// a that fails meanwhile is not restarted (the stop wins, as a stop job does
/// in systemd), and once its stop is taken the units ordered after it are
/// looked at again: b, started meanwhile and ordered after a, starts (it
/// waited for ever).
#[test]
fn a_unit_failing_while_its_stop_waits_stays_down_and_wakes_what_is_after_it() {
    let mut h = H::new(vec![
        service("a.service").restart(RestartPolicy::OnFailure),
        service("z.service")
            .requires(&["a.service"])
            .after(&["a.service"]),
        service("b.service").after(&["a.service"]),
    ]);
    let pids = start_all(&mut h, &["a.service", "z.service"]);
    h.take();
    h.stop("a.service");
    assert_eq!(signalled(&h.take()), ["z.service"]);
    // a fails on its own while its stop waits for z: no restart (it came
    // back running, its stale stop holding what is after it for ever).
    h.exit(pid_of(&pids, "a.service"), 1);
    h.at(secs(5));
    assert!(h.spawns().is_empty(), "a is not restarted");
    h.start("b.service");
    assert!(h.spawns().is_empty(), "b waits for a's stop");
    h.killed(pid_of(&pids, "z.service"), 15);
    let spawned = h.spawns();
    assert_eq!(spawned, [("b.service".to_string(), Role::Main(0))]);
    assert_eq!(h.state("a.service"), State::Failed);
}

/// Review finding: a `vigil sync` that removes the unit a stop waits for
/// left the stop pending for ever (nothing looked at it again).
#[test]
fn a_stop_waiting_for_a_unit_removed_by_a_reload_goes_on() {
    let units = || {
        vec![
            service("a.service"),
            service("z.service")
                .requires(&["a.service"])
                .after(&["a.service"]),
        ]
    };
    let mut h = H::new(units());
    let pids = start_all(&mut h, &["a.service", "z.service"]);
    h.take();
    h.stop("a.service");
    assert_eq!(signalled(&h.take()), ["z.service"]);
    let mut without_z = units();
    without_z.pop();
    h.reload_units(without_z);
    h.killed(pid_of(&pids, "z.service"), 15);
    assert_eq!(signalled(&h.take()), ["a.service"]);
}

/// An `ExecStopPost=` past its timeout gets KillSignal= to its group, then
/// SIGKILL one `TimeoutStopSec=` later (systemd's final-sigterm and
/// final-sigkill); the commands after it do not run.
#[test]
fn a_timed_out_exec_stop_post_gets_kill_signal_then_sigkill() {
    let mut h = H::new(vec![
        service("a.service")
            .stop_post(cmd("/bin/post"))
            .stop_post(cmd("/bin/after"))
            .timeout_stop(Some(secs(5))),
    ]);
    let main = h.run("a.service");
    h.stop("a.service");
    h.now = secs(1);
    h.killed(main, SIGTERM);
    let post = h.expect_spawn("a.service", Role::StopPost(0));
    h.at(secs(6));
    assert_eq!(signals(&h.take()), [(post, SIGTERM, true)]);
    assert_eq!(h.state("a.service"), State::Stopping);
    h.at(secs(11));
    assert_eq!(signals(&h.take()), [(post, SIGKILL, true)]);
    h.killed(post, SIGKILL);
    assert!(h.spawns().is_empty(), "the next ExecStopPost= ran");
    assert_eq!(h.state("a.service"), State::Failed);
    assert_eq!(h.reason("a.service"), Some(Reason::StopTimeout));
}

/// As systemd: with KillMode=none the timed-out `ExecStopPost=` gets no
/// signal; the unit is down without it.
#[test]
fn kill_mode_none_leaves_a_timed_out_exec_stop_post_running() {
    let mut h = H::new(vec![
        service("a.service")
            .stop_post(cmd("/bin/post"))
            .kill_mode(KillMode::None)
            .timeout_stop(Some(secs(5))),
    ]);
    h.run("a.service");
    h.stop("a.service");
    h.expect_spawn("a.service", Role::StopPost(0));
    h.at(secs(5));
    assert!(signals(&h.take()).is_empty());
    assert_eq!(h.state("a.service"), State::Failed);
    assert_eq!(h.reason("a.service"), Some(Reason::StopTimeout));
}
