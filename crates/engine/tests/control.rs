//! Requests on running units (reload, kill), notification messages and
//! NotifyAccess, and re-loading the unit set (`vigil sync`).

mod support;

use std::time::Duration;

use support::*;
use vigil_engine::{
    Action, EngineError, Event, JobType, KillWhom, Reason, ReloadFailure, Role, State,
};
use vigil_units::{NotifyAccess, RestartPolicy, ServiceType};

#[test]
fn reload_runs_exec_reload_while_reloading() {
    let mut h = H::new(vec![
        service("a.service")
            .reload_cmd(cmd("/bin/r1"))
            .reload_cmd(cmd("/bin/r2")),
    ]);
    let main = h.run("a.service");
    h.ok(Event::Reload("a.service".into()));
    let acts = h.take();
    assert!(acts.iter().any(|a| matches!(
        a,
        Action::Spawn { role: Role::Reload(0), main_pid: Some(p), .. } if *p == main
    )));
    let r1 = h.spawned("a.service", Role::Reload(0));
    assert_eq!(h.state("a.service"), State::Reloading);
    assert!(h.state("a.service").is_active());
    h.exit(r1, 0);
    let r2 = h.expect_spawn("a.service", Role::Reload(1));
    h.take();
    h.exit(r2, 0);
    assert_eq!(h.state("a.service"), State::Running);
    assert!(h.take().contains(&Action::ReloadEnded {
        unit: "a.service".into(),
        failure: None
    }));
}

#[test]
fn failed_reload_keeps_running() {
    let mut h = H::new(vec![service("a.service").reload_cmd(cmd("/bin/r"))]);
    h.run("a.service");
    h.ok(Event::Reload("a.service".into()));
    let r = h.expect_spawn("a.service", Role::Reload(0));
    h.exit(r, 1);
    assert_eq!(h.state("a.service"), State::Running);
    let acts = h.take();
    assert!(logs(&acts).iter().any(|l| l.contains("reload failed")));
    // Told apart from a reload that worked, for `vigil reload` to answer.
    assert!(acts.contains(&Action::ReloadEnded {
        unit: "a.service".into(),
        failure: Some(ReloadFailure::Command(Reason::ExitCode(1)))
    }));
}

/// Review finding: a reload asked for while one ran was merged into it, so
/// a configuration edited after the running reload began was never read,
/// though the second `vigil reload` said it worked. systemd queues it: it
/// runs once the first has ended (and is told not run if a stop came).
#[test]
fn a_reload_asked_for_during_a_reload_runs_after_it() {
    let ended = |acts: &[Action]| -> Vec<Option<ReloadFailure>> {
        (acts.iter())
            .filter_map(|a| match a {
                Action::ReloadEnded { failure, .. } => Some(failure.clone()),
                _ => None,
            })
            .collect()
    };
    let mut h = H::new(vec![service("a.service").reload_cmd(cmd("/bin/r"))]);
    let main = h.run("a.service");
    h.ok(Event::Reload("a.service".into()));
    let r = h.expect_spawn("a.service", Role::Reload(0));
    // Twice more while it runs: one reload more, not two.
    h.ok(Event::Reload("a.service".into()));
    h.ok(Event::Reload("a.service".into()));
    assert!(h.spawns().is_empty());
    h.exit(r, 0);
    let acts = h.take();
    assert_eq!(ended(&acts), [None]);
    assert_eq!(spawns(&acts), [("a.service".into(), Role::Reload(0))]);
    assert_eq!(h.state("a.service"), State::Reloading);
    let r = h.spawned("a.service", Role::Reload(0));
    h.exit(r, 0);
    assert_eq!(ended(&h.take()), [None]);
    assert_eq!(h.state("a.service"), State::Running);
    // A stop meanwhile ends the reload and what was queued behind it (vigild
    // answers their waiters as the state leaves reloading): the next run
    // reloads once when asked once.
    h.ok(Event::Reload("a.service".into()));
    let r = h.expect_spawn("a.service", Role::Reload(0));
    h.ok(Event::Reload("a.service".into()));
    h.stop("a.service");
    h.exit(r, 0);
    h.killed(main, SIGTERM);
    assert_eq!(h.state("a.service"), State::Inactive);
    assert!(ended(&h.take()).is_empty());
    h.run("a.service");
    h.ok(Event::Reload("a.service".into()));
    let r = h.expect_spawn("a.service", Role::Reload(0));
    h.exit(r, 0);
    let acts = h.take();
    assert_eq!(ended(&acts), [None]);
    assert!(spawns(&acts).is_empty(), "{acts:?}");
}

#[test]
fn a_reload_past_timeout_start_sec_is_killed_and_failed() {
    let mut h = H::new(vec![
        service("a.service")
            .reload_cmd(cmd("/bin/r"))
            .timeout_start(Some(secs(2))),
    ]);
    h.run("a.service");
    h.ok(Event::Reload("a.service".into()));
    let r = h.expect_spawn("a.service", Role::Reload(0));
    h.at(secs(3));
    let acts = h.take();
    assert!(signals(&acts).contains(&(r, SIGKILL, false)), "{acts:?}");
    assert!(acts.contains(&Action::ReloadEnded {
        unit: "a.service".into(),
        failure: Some(ReloadFailure::Timeout)
    }));
    assert_eq!(h.state("a.service"), State::Running);
}

/// As systemd: no ExecReload= (nor Type=notify-reload), no reload; a guessed
/// SIGHUP would end a daemon that does not catch it.
#[test]
fn reload_without_exec_reload_is_refused() {
    let mut h = H::new(vec![service("a.service")]);
    h.run("a.service");
    let refused = h.send(Event::Reload("a.service".into()));
    assert!(
        matches!(refused, Err(EngineError::NotAllowed { .. })),
        "{refused:?}"
    );
    assert!(signals(&h.take()).is_empty());
    assert_eq!(h.state("a.service"), State::Running);
}

#[test]
fn reload_of_an_inactive_unit_is_refused() {
    let mut h = H::new(vec![service("a.service")]);
    assert!(matches!(
        h.send(Event::Reload("a.service".into())),
        Err(EngineError::NotAllowed { .. })
    ));
    assert!(h.take().is_empty(), "a refused request changes nothing");
}

/// As systemd merges a reload job into the start job of the unit: a reload
/// while the unit waits for its order or runs its start is accepted and
/// runs nothing (the start reads the configuration); its client waits for
/// the start ([`vigil_engine::Engine::reload_joins`] says which job). A
/// unit that cannot reload is refused; one waiting to restart has no job.
#[test]
fn a_reload_during_the_start_joins_it() {
    let mut h = H::new(vec![
        service("a.service")
            .pre(cmd("/bin/pre"))
            .reload_cmd(cmd("/bin/r")),
        service("plain.service").pre(cmd("/bin/pre")),
        service("crash.service")
            .reload_cmd(cmd("/bin/r"))
            .restart(RestartPolicy::Always)
            .restart_sec(secs(10)),
    ]);
    h.start("a.service");
    let pre = h.expect_spawn("a.service", Role::StartPre(0));
    assert_eq!(h.e.reload_joins("a.service"), Some(JobType::Start));
    h.ok(Event::Reload("a.service".into()));
    assert!(h.spawns().is_empty());
    assert_eq!(h.state("a.service"), State::Starting);
    h.exit(pre, 0);
    h.expect_spawn("a.service", Role::Main(0));
    assert_eq!(h.state("a.service"), State::Running);
    assert_eq!(h.e.reload_joins("a.service"), None);
    // The stop of a restart: the reload joins the restart.
    h.ok(Event::Restart("a.service".into()));
    assert_eq!(h.state("a.service"), State::Stopping);
    assert_eq!(h.e.reload_joins("a.service"), Some(JobType::Restart));
    h.ok(Event::Reload("a.service".into()));
    assert!(h.spawns().is_empty());

    h.start("plain.service");
    h.expect_spawn("plain.service", Role::StartPre(0));
    assert!(matches!(
        h.send(Event::Reload("plain.service".into())),
        Err(EngineError::NotAllowed { .. })
    ));

    let pid = h.run("crash.service");
    h.exit(pid, 1);
    assert_eq!(h.state("crash.service"), State::Restarting);
    assert_eq!(h.e.reload_joins("crash.service"), None);
    assert!(h.send(Event::Reload("crash.service".into())).is_err());
}

#[test]
fn notify_service_reloads_itself_with_reloading_and_ready() {
    let mut h = H::new(vec![service("n.service").ty(ServiceType::Notify)]);
    h.start("n.service");
    let pid = h.expect_spawn("n.service", Role::Main(0));
    h.notify(pid, &[("READY", "1")]);
    h.notify(pid, &[("RELOADING", "1")]);
    assert_eq!(h.state("n.service"), State::Reloading);
    h.notify(pid, &[("READY", "1")]);
    assert_eq!(h.state("n.service"), State::Running);
}

#[test]
fn stopping_1_means_the_service_goes_down_by_itself() {
    let mut h = H::new(vec![
        service("n.service")
            .ty(ServiceType::Notify)
            .restart(RestartPolicy::OnFailure)
            .timeout_stop(Some(secs(5))),
    ]);
    h.start("n.service");
    let pid = h.expect_spawn("n.service", Role::Main(0));
    h.notify(pid, &[("READY", "1")]);
    h.notify(pid, &[("STOPPING", "1")]);
    assert_eq!(h.state("n.service"), State::Stopping);
    assert!(signals(&h.take()).is_empty(), "nothing is signalled");
    h.exit(pid, 0);
    assert_eq!(h.state("n.service"), State::Inactive);
}

#[test]
fn stopping_1_then_hanging_is_killed_after_the_stop_timeout() {
    let mut h = H::new(vec![
        service("n.service")
            .ty(ServiceType::Notify)
            .timeout_stop(Some(secs(5))),
    ]);
    h.start("n.service");
    let pid = h.expect_spawn("n.service", Role::Main(0));
    h.notify(pid, &[("READY", "1"), ("STOPPING", "1")]);
    assert_eq!(h.state("n.service"), State::Stopping);
    h.at(secs(5));
    assert_eq!(signals(&h.take()), [(pid, SIGTERM, true)]);
    h.killed(pid, SIGTERM);
    assert_eq!(h.reason("n.service"), Some(Reason::StopTimeout));
}

#[test]
fn mainpid_changes_the_main_process() {
    let mut h = H::new(vec![
        service("n.service")
            .ty(ServiceType::Notify)
            .notify_access(NotifyAccess::All),
    ]);
    h.start("n.service");
    let pid = h.expect_spawn("n.service", Role::Main(0));
    h.notify(pid, &[("MAINPID", "777"), ("READY", "1")]);
    let info = h.info("n.service");
    assert_eq!(info.state, State::Running);
    assert_eq!(info.main_pid, Some(777));
    assert_eq!(h.e.unit_of_pid(777), Some("n.service"));
    // The old main process is no longer the service's main: its exit is ignored.
    h.exit(pid, 0);
    assert_eq!(h.state("n.service"), State::Running);
    h.exit(777, 1);
    assert_eq!(h.reason("n.service"), Some(Reason::ExitCode(1)));
}

/// Whether READY=1 from the main process is accepted (ExecStartPost then runs),
/// and whether STATUS= from that ExecStartPost control process is accepted.
fn accepted(access: Option<NotifyAccess>) -> (bool, bool) {
    let mut u = service("n.service")
        .ty(ServiceType::Notify)
        .post(cmd("/bin/post"));
    if let Some(a) = access {
        u = u.notify_access(a);
    }
    let mut h = H::new(vec![u]);
    h.start("n.service");
    let main = h.expect_spawn("n.service", Role::Main(0));
    h.notify(main, &[("READY", "1")]);
    let posts = h.spawns();
    if posts.is_empty() {
        return (false, false);
    }
    assert_eq!(posts, [("n.service".to_string(), Role::StartPost(0))]);
    let post = h.spawned("n.service", Role::StartPost(0));
    h.notify(post, &[("STATUS", "from post")]);
    let status = h.info("n.service").status_text.as_deref() == Some("from post");
    (true, status)
}

#[test]
fn notify_access_rules() {
    // Type=notify with NotifyAccess unset reads as main.
    assert_eq!(accepted(None), (true, false));
    assert_eq!(accepted(Some(NotifyAccess::Main)), (true, false));
    assert_eq!(accepted(Some(NotifyAccess::Exec)), (true, true));
    assert_eq!(accepted(Some(NotifyAccess::All)), (true, true));
}

#[test]
fn notify_access_none_ignores_everything() {
    let mut h = H::new(vec![
        service("n.service")
            .ty(ServiceType::Notify)
            .notify_access(NotifyAccess::None),
    ]);
    // Review finding: an explicit NotifyAccess=none on Type=notify was read as
    // main (the engine took it for the unset value). The parser turns an
    // unset one into main; the engine keeps what it is given.
    h.start("n.service");
    let pid = h.expect_spawn("n.service", Role::Main(0));
    h.notify(pid, &[("READY", "1")]);
    assert_eq!(h.state("n.service"), State::Starting);

    let mut h = H::new(vec![service("s.service").notify_access(NotifyAccess::None)]);
    let pid = h.run("s.service");
    h.notify(pid, &[("STATUS", "hello")]);
    assert_eq!(h.info("s.service").status_text, None);
    assert!(
        logs(&h.take())
            .iter()
            .any(|l| l.contains("NotifyAccess=none"))
    );
}

#[test]
fn notify_from_an_attributed_process_needs_notify_access_all() {
    for (access, accepted) in [
        (NotifyAccess::All, true),
        (NotifyAccess::Main, false),
        (NotifyAccess::Exec, false),
    ] {
        let mut h = H::new(vec![
            service("n.service")
                .ty(ServiceType::Notify)
                .notify_access(access),
        ]);
        h.start("n.service");
        h.expect_spawn("n.service", Role::Main(0));
        // `vigil notify --ready` run by the service's shell: a pid the engine never saw.
        h.ok(Event::NotifyFromUnit {
            unit: "n.service".into(),
            pid: 5555,
            fields: vec![("READY".into(), "1".into())],
        });
        let want = if accepted {
            State::Running
        } else {
            State::Starting
        };
        assert_eq!(h.state("n.service"), want, "{access:?}");
    }
}

/// `kill` as systemctl's `--kill-whom=`: main, control, or all of them with
/// their process groups; refused when there is no such process.
#[test]
fn kill_signals_the_main_the_control_or_every_process() {
    let kill = |whom| Event::Kill {
        unit: "a.service".into(),
        signal: 10,
        whom,
    };
    let mut h = H::new(vec![service("a.service").reload_cmd(cmd("/bin/reload"))]);
    for whom in [KillWhom::Main, KillWhom::Control, KillWhom::All] {
        assert!(matches!(
            h.send(kill(whom)),
            Err(EngineError::NotAllowed { .. })
        ));
    }
    let main = h.run("a.service");
    assert!(matches!(
        h.send(kill(KillWhom::Control)),
        Err(EngineError::NotAllowed { .. })
    ));
    h.ok(Event::Reload("a.service".into()));
    let control = h.expect_spawn("a.service", Role::Reload(0));
    h.ok(kill(KillWhom::Main));
    assert_eq!(signals(&h.take()), [(main, 10, false)]);
    h.ok(kill(KillWhom::Control));
    assert_eq!(signals(&h.take()), [(control, 10, false)]);
    h.ok(kill(KillWhom::All));
    assert_eq!(signals(&h.take()), [(main, 10, true), (control, 10, true)]);
}

#[test]
fn every_state_change_is_reported_with_its_reason() {
    let mut h = H::new(vec![service("a.service")]);
    let pid = h.run("a.service");
    h.take();
    h.now = secs(3);
    h.exit(pid, 2);
    let acts = h.take();
    assert!(acts.contains(&Action::StateChanged {
        unit: "a.service".into(),
        from: State::Running,
        state: State::Failed,
        reason: Some(Reason::ExitCode(2)),
        again: false,
    }));
    assert_eq!(h.info("a.service").since, secs(3));
}

#[test]
fn sync_starts_new_units_wanted_by_active_ones() {
    let mut h = H::new(vec![
        target("t.target").wants(&["a.service"]),
        service("a.service"),
    ]);
    h.start("t.target");
    h.spawn_all();
    // The default target gained a .wants entry, and a new unit appeared.
    h.reload_units(vec![
        target("t.target").wants(&["a.service", "new.service"]),
        service("a.service"),
        service("new.service"),
        service("idle.service"),
    ]);
    assert_eq!(started(&h.take()), ["new.service"]);
    assert_eq!(h.state("idle.service"), State::Inactive, "nothing wants it");
}

#[test]
fn sync_does_not_restart_a_unit_stopped_by_hand() {
    let mut h = H::new(vec![
        target("t.target").wants(&["a.service"]),
        service("a.service"),
    ]);
    h.start("t.target");
    let a = h.spawn_all()[0].2;
    h.stop("a.service");
    h.killed(a, SIGTERM);
    h.reload_units(vec![
        target("t.target").wants(&["a.service"]),
        service("a.service"),
    ]);
    assert!(h.spawns().is_empty());
}

/// As systemd keeps a `not-found` unit: a running unit whose file is gone
/// keeps running, can be stopped (not started), and is forgotten once down.
#[test]
fn sync_keeps_a_removed_unit_running_until_stopped_then_forgets_it() {
    let mut h = H::new(vec![
        service("a.service"),
        service("gone.service"),
        service("idle.service"),
    ]);
    let pid = h.run("gone.service");
    h.reload_units(vec![service("a.service")]);
    assert!(
        h.e.unit("idle.service").is_none(),
        "an inactive removed unit is forgotten at once"
    );
    let acts = h.take();
    assert!(signals(&acts).is_empty());
    let gone = |acts: &[Action]| {
        logs(acts)
            .iter()
            .filter(|l| l.contains("its file is gone"))
            .count()
    };
    assert_eq!(gone(&acts), 1);
    // Said once (review finding: again at every later re-load).
    h.reload_units(vec![service("a.service")]);
    assert_eq!(gone(&h.take()), 0);
    let info = h.info("gone.service");
    assert_eq!(
        (info.state, info.main_pid, info.removed),
        (State::Running, Some(pid), true)
    );
    assert!(matches!(
        h.send(Event::Start("gone.service".into())),
        Err(EngineError::NoSuchUnit(_))
    ));
    assert!(matches!(
        h.send(Event::Restart("gone.service".into())),
        Err(EngineError::NoSuchUnit(_))
    ));
    h.stop("gone.service");
    assert_eq!(signals(&h.take()), [(pid, SIGTERM, true)]);
    h.killed(pid, SIGTERM);
    assert!(h.e.unit("gone.service").is_none());
    let names: Vec<String> = h.e.units().into_iter().map(|u| u.name).collect();
    assert_eq!(names, ["a.service"]);
}

/// A removed unit is not restarted: its process ends, it is forgotten; a
/// restart that was due when its file went is called off.
#[test]
fn sync_a_removed_unit_is_not_restarted() {
    let always = || service("gone.service").restart(RestartPolicy::Always);
    let mut h = H::new(vec![always(), service("other.service")]);
    let pid = h.run("gone.service");
    h.reload_units(vec![service("other.service")]);
    h.exit(pid, 1);
    assert!(h.spawns().is_empty());
    assert!(h.e.unit("gone.service").is_none());

    let mut h = H::new(vec![always(), service("other.service")]);
    let pid = h.run("gone.service");
    h.exit(pid, 1);
    assert_eq!(h.state("gone.service"), State::Restarting);
    h.reload_units(vec![service("other.service")]);
    h.at(Duration::from_secs(60));
    assert!(h.spawns().is_empty());
    assert!(h.e.unit("gone.service").is_none());
}

#[test]
fn sync_changed_unit_keeps_running_until_restarted() {
    let mut h = H::new(vec![service("a.service").restart(RestartPolicy::No)]);
    let pid = h.run("a.service");
    h.reload_units(vec![service("a.service").exec(&["/bin/new"])]);
    assert!(
        h.take()
            .iter()
            .all(|a| !matches!(a, Action::Spawn { .. } | Action::Signal { .. }))
    );
    assert_eq!(h.state("a.service"), State::Running);
    assert_eq!(h.info("a.service").main_pid, Some(pid));
    h.ok(Event::Restart("a.service".into()));
    h.killed(pid, SIGTERM);
    let acts = h.take();
    assert!(acts.iter().any(|a| matches!(
        a,
        Action::Spawn { command, .. } if command.program == "/bin/new"
    )));
}

#[test]
fn sync_marks_a_newly_broken_unit_and_a_repaired_one() {
    let mut h = H::new(vec![service("a.service"), service("b.service")]);
    h.e.load(
        h.now,
        vec![service("b.service")],
        vec![("a.service".into(), "a.service:1: bad".into())],
    );
    assert_eq!(h.state("a.service"), State::Failed);
    assert_eq!(
        h.reason("a.service"),
        Some(Reason::LoadError("a.service:1: bad".into()))
    );
    h.reload_units(vec![service("a.service"), service("b.service")]);
    assert_eq!(h.state("a.service"), State::Inactive);
    h.run("a.service");
}

#[test]
fn sync_reports_new_cycles() {
    let mut h = H::new(vec![service("a.service"), service("b.service")]);
    assert!(h.e.cycles().is_empty());
    h.reload_units(vec![
        service("a.service").after(&["b.service"]),
        service("b.service").after(&["a.service"]),
    ]);
    assert_eq!(
        h.e.cycles(),
        vec![vec!["a.service".to_string(), "b.service".to_string()]]
    );
}

#[test]
fn reload_propagates_to_active_units_both_ways_and_transitively() {
    let mut h = H::new(vec![
        service("a.service")
            .reload_cmd(cmd("/bin/ra"))
            .unit(|u| u.deps.propagates_reload_to.push("b.service".into())),
        // c asks for a's reloads; d for b's (so a reaches d through b).
        service("b.service").reload_cmd(cmd("/bin/rb")),
        service("c.service")
            .reload_cmd(cmd("/bin/rc"))
            .unit(|u| u.deps.reload_propagated_from.push("a.service".into())),
        service("d.service").unit(|u| u.deps.reload_propagated_from.push("b.service".into())),
        // Inactive: left alone.
        service("e.service")
            .reload_cmd(cmd("/bin/re"))
            .unit(|u| u.deps.reload_propagated_from.push("a.service".into())),
    ]);
    h.run("a.service");
    h.run("b.service");
    h.run("c.service");
    h.run("d.service");
    h.ok(Event::Reload("a.service".into()));
    let acts = h.take();
    let mut reloads: Vec<String> = spawns(&acts)
        .into_iter()
        .map(|(unit, role)| {
            assert_eq!(role, Role::Reload(0));
            unit
        })
        .collect();
    reloads.sort();
    assert_eq!(reloads, ["a.service", "b.service", "c.service"]);
    // d has no ExecReload=: refused, as its own reload would be; the rest go on.
    assert!(signals(&acts).is_empty());
    assert!(
        logs(&acts)
            .iter()
            .any(|l| l.contains("propagated reload refused")),
        "{acts:?}"
    );
    assert_eq!(h.state("e.service"), State::Inactive);
    assert!(
        logs(&acts)
            .iter()
            .any(|l| l.contains("reload propagated from a.service")),
        "{acts:?}"
    );
}

#[test]
fn reload_of_a_unit_without_propagation_reloads_only_that_unit() {
    let mut h = H::new(vec![
        service("a.service").reload_cmd(cmd("/bin/ra")),
        // b propagates to a, not the other way round.
        service("b.service")
            .reload_cmd(cmd("/bin/rb"))
            .unit(|u| u.deps.propagates_reload_to.push("a.service".into())),
    ]);
    h.run("a.service");
    h.run("b.service");
    h.ok(Event::Reload("a.service".into()));
    assert_eq!(
        spawns(&h.take()),
        [("a.service".to_string(), Role::Reload(0))]
    );
    assert_eq!(h.state("b.service"), State::Running);
}

/// systemd's "Job type reload is not applicable": a unit with nothing to
/// reload is refused, not answered ok for doing nothing, unless it passes the
/// reload on (a target with PropagatesReloadTo=).
#[test]
fn reload_of_a_unit_that_is_no_service_is_refused_unless_it_passes_it_on() {
    let mut h = H::new(vec![
        service("a.service").reload_cmd(cmd("/bin/ra")),
        target("t.target").unit(|u| u.deps.propagates_reload_to.push("a.service".into())),
        target("u.target"),
    ]);
    h.run("a.service");
    h.start("t.target");
    h.start("u.target");
    h.take();
    assert_eq!(
        h.send(Event::Reload("u.target".into())),
        Err(EngineError::NotAllowed {
            unit: "u.target".into(),
            why: "reload is not applicable to it (a service's is)".into(),
        })
    );
    assert!(spawns(&h.take()).is_empty());
    h.ok(Event::Reload("t.target".into()));
    let acts = h.take();
    assert_eq!(spawns(&acts), [("a.service".to_string(), Role::Reload(0))]);
    assert!(
        !logs(&acts).iter().any(|l| l.contains("refused")),
        "{acts:?}"
    );
}
