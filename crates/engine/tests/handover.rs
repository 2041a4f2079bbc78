//! Handing the run-time state to the next manager: what a new engine that
//! restores a saved state does (and must not do) with the units and processes
//! it takes over.

mod support;

use support::*;
use vigil_engine::{Action, Engine, Event, ExitStatus, Known, Role, Saved, State};
use vigil_units::model::Socket;
use vigil_units::{Format, RestartPolicy, ServiceType, Unit, UnitKind};

/// A second engine, as the next manager builds it: the same units loaded, the
/// state restored through its serialized form.
fn successor(h: &H, units: Vec<Unit>) -> H {
    let text = serde_json::to_string(&h.e.save()).expect("serialize");
    let saved: Saved = serde_json::from_str(&text).expect("parse");
    taking_over(h, saved, units)
}

/// A second engine with `units` loaded that restores `saved`, at `h`'s time.
fn taking_over(h: &H, saved: Saved, units: Vec<Unit>) -> H {
    let mut next = H::new(Vec::new());
    next.e = Engine::new();
    next.now = h.now;
    next.e.load(next.now, units, Vec::new());
    let notes = next.e.restore(next.now, saved);
    assert!(notes.is_empty(), "{notes:?}");
    next.out.extend(next.e.take_actions());
    next
}

fn units() -> Vec<Unit> {
    vec![
        target("default.target").wants(&["a.service", "b.service", "c.service"]),
        service("a.service").restart(RestartPolicy::Always),
        service("b.service").after(&["a.service"]),
        service("c.service").restart(RestartPolicy::OnFailure),
    ]
}

/// [`units`] started, every spawn answered: the harness and what was spawned.
fn started() -> (H, Vec<(String, Role, u32)>) {
    let mut h = H::new(units());
    h.start("default.target");
    let mut spawned = h.spawn_all();
    spawned.extend(h.spawn_all());
    (h, spawned)
}

/// The PID `unit` was spawned with.
fn pid_of(spawned: &[(String, Role, u32)], unit: &str) -> u32 {
    let found = spawned.iter().find(|s| s.0 == unit);
    found
        .map(|s| s.2)
        .unwrap_or_else(|| panic!("{unit} not spawned"))
}

#[test]
fn running_units_are_taken_over_without_a_new_start() {
    let (mut h, spawned) = started();
    assert_eq!(spawned.len(), 3, "{spawned:?}");
    let a = pid_of(&spawned, "a.service");
    // a exits and is restarted once, so the count carries over.
    h.exit(a, 1);
    h.at(secs(1));
    let a2 = h.expect_spawn("a.service", Role::Main(0));
    assert_eq!(h.info("a.service").restarts, 1);
    h.take();

    let mut next = successor(&h, units());
    assert!(next.spawns().is_empty(), "nothing is started again");
    assert_eq!(next.state("a.service"), State::Running);
    assert_eq!(next.info("a.service").main_pid, Some(a2));
    assert_eq!(next.info("a.service").restarts, 1);
    assert_eq!(next.state("default.target"), State::Running);
    let tracked: Vec<u32> = next.e.tracked().into_iter().map(|t| t.0).collect();
    assert_eq!(tracked.len(), 3, "{tracked:?}");
    assert!(tracked.contains(&a2));

    // An exit reported to the successor goes through the restart policy.
    let c = next.info("c.service").main_pid.unwrap();
    next.ok(Event::Exited {
        pid: c,
        status: ExitStatus::Signaled(9),
    });
    assert_eq!(next.state("c.service"), State::Restarting);
    assert_eq!(
        next.info("c.service").last_exit,
        Some(ExitStatus::Signaled(9))
    );
    next.at(next.now + secs(1));
    next.expect_spawn("c.service", Role::Main(0));
    assert_eq!(next.info("c.service").restarts, 1);
}

#[test]
fn pending_work_is_asked_again() {
    let mut h = H::new(units());
    h.start("default.target");
    // The spawns were asked for, and the manager died before carrying them out.
    let asked = h.spawns();
    assert_eq!(asked.len(), 2, "{asked:?}");
    let mut next = successor(&h, units());
    let mut again = next.spawns();
    again.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        again,
        vec![
            ("a.service".to_string(), Role::Main(0)),
            ("c.service".to_string(), Role::Main(0))
        ]
    );
    // b still waits for a, and starts once a runs.
    assert_eq!(next.state("b.service"), State::Waiting);
    next.spawned("a.service", Role::Main(0));
    next.expect_spawn("b.service", Role::Main(0));
}

/// A socket unit saved while its `Listen` was asked for (vigild writes the
/// state before a batch that also starts processes): the successor asks
/// again, and the unit is `running` only at the answer; what is ordered
/// after it still waits.
#[test]
fn a_listen_under_way_is_asked_again() {
    let units = || {
        let mut sock = Unit::new("web.socket", UnitKind::Socket, Format::UnitFile);
        *sock.socket = Some(Socket::new("web.socket"));
        vec![sock, service("web.service").needs(&["web.socket"])]
    };
    let mut h = H::new(units());
    h.start("web.service");
    h.take();
    assert_eq!(h.state("web.socket"), State::Starting);
    let mut next = successor(&h, units());
    let asked = next.take();
    let listen = Action::Listen {
        unit: "web.socket".into(),
    };
    assert!(asked.contains(&listen), "{asked:?}");
    assert!(spawns(&asked).is_empty(), "{asked:?}");
    next.ok(Event::Listened {
        unit: "web.socket".into(),
        result: Ok(()),
    });
    assert_eq!(next.state("web.socket"), State::Running);
    next.expect_spawn("web.service", Role::Main(0));
}

#[test]
fn untouched_units_are_not_saved_and_removed_ones_are_named() {
    let mut h = H::new(units());
    h.start("c.service");
    h.spawn_all();
    let saved = h.e.save();
    let names: Vec<&str> = saved.unit_names().collect();
    assert_eq!(names, vec!["c.service"]);
    let mut next = Engine::new();
    next.load(h.now, vec![service("a.service")], Vec::new());
    let notes = next.restore(h.now, saved);
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].contains("c.service") && notes[0].contains("keeps running until stopped"),
        "{notes:?}"
    );
    // Running, it keeps running (systemd's `not-found`); a stop uses the
    // defaults its gone file no longer overrides.
    let c = next.unit("c.service").map(|u| (u.state, u.removed));
    assert_eq!(c, Some((State::Running, true)));
    next.handle(h.now, Event::Stop("c.service".into())).unwrap();
    let c = next.unit("c.service").map(|u| u.state);
    assert_eq!(c, Some(State::Stopping));
}

#[test]
fn a_shutdown_in_progress_goes_on() {
    let mut h = H::new(units());
    h.start("default.target");
    h.spawn_all();
    h.spawn_all();
    h.ok(Event::Shutdown { targets: vec![] });
    h.take();
    let mut next = successor(&h, units());
    assert!(
        next.send(Event::Start("a.service".into())).is_err(),
        "starts are refused during a shutdown"
    );
    let states: Vec<State> = ["a.service", "b.service", "c.service"]
        .iter()
        .map(|u| next.state(u))
        .collect();
    assert!(states.contains(&State::Stopping), "{states:?}");
}

/// A unit the shutdown starts is still the shutdown's in the next manager:
/// it starts when its turn comes there, and is stopped last.
#[test]
fn the_units_a_shutdown_starts_carry_over() {
    let units = || {
        vec![
            target("default.target").wants(&["a.service"]),
            service("a.service").conflicts(&["shutdown.target"]),
            target("shutdown.target").wants(&["save.service"]),
            service("save.service").after(&["a.service"]),
        ]
    };
    let mut h = H::new(units());
    h.start("default.target");
    let a = h.expect_spawn("a.service", Role::Main(0));
    h.ok(Event::Shutdown {
        targets: vec!["shutdown.target".into()],
    });
    assert_eq!(h.state("save.service"), State::Waiting);
    h.take();
    let mut next = successor(&h, units());
    next.killed(a, 15);
    let save = next.expect_spawn("save.service", Role::Main(0));
    assert_eq!(signalled(&next.take()), ["save.service"]);
    next.killed(save, 15);
    assert!(next.take().contains(&vigil_engine::Action::AllStopped));
}

/// A hand-over in the shutdown's last step (its own units being stopped): a
/// second request in the next manager runs nothing again.
#[test]
fn the_last_step_of_a_shutdown_carries_over() {
    let units = || {
        vec![
            target("shutdown.target").wants(&["save.service", "long.service"]),
            target("reboot.target").needs(&["shutdown.target"]),
            target("poweroff.target").needs(&["shutdown.target"]),
            service("save.service").ty(ServiceType::Oneshot),
            service("long.service"),
        ]
    };
    let shutdown = |t: &str| Event::Shutdown {
        targets: vec!["shutdown.target".into(), t.into()],
    };
    let mut h = H::new(units());
    h.ok(shutdown("poweroff.target"));
    let pids: std::collections::HashMap<_, _> =
        h.spawn_all().into_iter().map(|(u, _, p)| (u, p)).collect();
    h.exit(pids["save.service"], 0);
    assert_eq!(signalled(&h.take()), ["long.service"], "the last step");
    let mut next = successor(&h, units());
    next.take();
    next.ok(shutdown("reboot.target"));
    assert!(next.spawns().is_empty(), "nothing runs again");
}

/// Review finding (a downgrade): a value the reading manager does not know
/// (`"stop_cause": {"With": ...}` for a vigild from before that cause) made
/// the whole state unreadable, every service left without a manager. A
/// reason, a cause or an exit status it does not know is read as none; the
/// unit, its phase and its processes are taken over.
#[test]
fn values_of_a_newer_manager_are_read_as_none() {
    let (h, spawned) = started();
    let c = pid_of(&spawned, "c.service");
    let mut state: serde_json::Value = serde_json::to_value(h.e.save()).unwrap();
    let units_json = state["units"].as_array_mut().unwrap();
    let unit = units_json
        .iter_mut()
        .find(|u| u["name"] == "c.service")
        .unwrap();
    for field in [
        "reason",
        "result",
        "stop_cause",
        "pending_stop",
        "restart_cause",
    ] {
        unit[field] = serde_json::json!({ "FromTheFuture": "x" });
    }
    unit["last_exit"] = serde_json::json!("Vanished");
    let saved: Saved = serde_json::from_value(state.clone()).expect("read despite the unknowns");
    let next = taking_over(&h, saved, units());
    assert_eq!(next.state("c.service"), State::Running);
    assert_eq!(next.info("c.service").main_pid, Some(c));
    // What a unit rests on stays exact: an unknown phase is refused.
    state["units"][0]["phase"] = serde_json::json!("FromTheFuture");
    assert!(serde_json::from_value::<Saved>(state).is_err());
}

/// What a load knew, as the next manager reads it back.
fn known_of(h: &H) -> Known {
    let text = serde_json::to_string(&h.e.known()).expect("serialize");
    serde_json::from_str(&text).expect("parse")
}

/// Before a `vigil sync`: default.target wants a and c; d is there, inactive.
fn before_sync() -> Vec<Unit> {
    vec![
        target("default.target").wants(&["a.service", "c.service"]),
        service("a.service"),
        service("c.service"),
        service("d.service"),
    ]
}

/// What the sync reads: b.service is new, and default.target wants it and d.
fn with_b() -> Vec<Unit> {
    vec![
        target("default.target").wants(&["a.service", "b.service", "c.service", "d.service"]),
        service("a.service"),
        service("b.service"),
        service("c.service"),
        service("d.service"),
    ]
}

/// Review finding (a `vigil sync` cut short by a crash): the next manager
/// loaded the new files as a first load, so b.service, new and wanted by an
/// active unit, stayed inactive, and a second sync found nothing new. With
/// what the last load knew, the next manager starts what the sync would
/// have: the same units, with the same words.
#[test]
fn a_take_over_starts_what_a_sync_of_the_files_it_read_would_have() {
    let mut h = H::new(before_sync());
    h.start("default.target");
    h.spawn_all();
    h.spawn_all();
    h.take();
    let known = known_of(&h);

    let mut next = successor(&h, with_b());
    assert!(next.spawns().is_empty(), "restored: nothing new yet");
    let added = next.e.sync_since(next.now, &known);
    next.out.extend(next.e.take_actions());
    assert_eq!(added, ["b.service"]);
    let words = logs(&next.out);
    let mut started = spawns(&next.take());
    started.sort_by(|x, y| x.0.cmp(&y.0));

    let mut synced = h;
    synced.reload_units(with_b());
    let sync_words = logs(&synced.out);
    let mut sync_started = spawns(&synced.take());
    sync_started.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        started,
        [
            ("b.service".to_string(), Role::Main(0)),
            ("d.service".to_string(), Role::Main(0))
        ]
    );
    assert_eq!(started, sync_started, "as a sync starts them");
    let said = |w: &[String]| {
        w.iter()
            .filter(|l| l.contains("wanted by an active unit after a re-load; starting"))
            .count()
    };
    assert_eq!(said(&words), 2, "{words:?}");
    assert_eq!(said(&sync_words), 2, "{sync_words:?}");
}

/// Without the record (a state from an older vigild), a take-over is a first
/// load, as before; with the record of the very files it reads, nothing
/// starts either: a unit stopped by hand stays stopped.
#[test]
fn a_take_over_with_nothing_new_starts_nothing() {
    let mut h = H::new(before_sync());
    h.start("default.target");
    h.spawn_all();
    h.spawn_all();
    h.stop("c.service");
    let c = h.info("c.service").main_pid.unwrap();
    h.killed(c, 15);
    assert_eq!(h.state("c.service"), State::Inactive);
    h.take();
    let known = known_of(&h);

    let mut next = successor(&h, before_sync());
    assert!(next.e.sync_since(next.now, &known).is_empty());
    next.out.extend(next.e.take_actions());
    assert!(next.spawns().is_empty());
    assert_eq!(next.state("c.service"), State::Inactive);

    let mut older = successor(&h, with_b());
    assert!(older.spawns().is_empty(), "no record: a first load");
    assert_eq!(older.state("b.service"), State::Inactive);
}

/// A manager killed during a shutdown leaves it to the next: new units are
/// not started then, as a sync during a shutdown starts none.
#[test]
fn a_take_over_during_a_shutdown_starts_nothing_new() {
    let mut h = H::new(before_sync());
    h.start("default.target");
    h.spawn_all();
    h.spawn_all();
    h.ok(Event::Shutdown { targets: vec![] });
    h.take();
    let known = known_of(&h);
    let mut next = successor(&h, with_b());
    next.take();
    next.e.sync_since(next.now, &known);
    assert!(spawns(&next.e.take_actions()).is_empty());
    assert_eq!(next.state("b.service"), State::Inactive);
}

/// The record is written again only when it may have changed: at a load;
/// not at a start or a stop, nor when a removed unit goes down and is
/// forgotten, which the next manager tells from its state: back in the
/// files, it is new to it, as to a sync.
#[test]
fn the_known_record_changes_at_a_load_only() {
    let mut h = H::new(before_sync());
    let v = h.e.known_version();
    let first = h.e.known();
    // Every unit, those nothing wants (d.service) too.
    assert_eq!(first.unit_count(), 4);
    h.start("default.target");
    h.spawn_all();
    h.spawn_all();
    let d = h.run("d.service");
    h.stop("d.service");
    h.killed(d, 15);
    assert_eq!(h.e.known_version(), v, "starts and stops");
    assert_eq!(h.e.known(), first);

    // c.service's file goes: removed, it keeps running.
    let c = h.info("c.service").main_pid.unwrap();
    let without_c = || with_b().into_iter().filter(|u| u.name != "c.service");
    h.reload_units(without_c().collect());
    h.spawn_all();
    let v2 = h.e.known_version();
    assert_ne!(v2, v);
    let at_sync = h.e.known();
    assert_ne!(at_sync, first);
    // Down, it is forgotten; the record stays.
    h.killed(c, 15);
    assert!(h.e.unit("c.service").is_none(), "forgotten");
    assert_eq!(h.e.known_version(), v2);
    assert_eq!(h.e.known(), at_sync);
    h.take();

    // Back in the files: new to the next manager, as to a sync.
    let known = known_of(&h);
    let mut next = successor(&h, with_b());
    assert_eq!(next.e.sync_since(next.now, &known), ["c.service"]);
    assert_eq!(
        spawns(&next.e.take_actions()),
        [("c.service".to_string(), Role::Main(0))]
    );
    h.reload_units(with_b());
    assert_eq!(h.spawns(), [("c.service".to_string(), Role::Main(0))]);
}

/// A unit failed for a broken file, repaired while no manager ran, is no
/// longer failed after the take-over, as a sync has it.
#[test]
fn a_file_repaired_while_no_manager_ran_is_no_longer_failed() {
    let h = H::with_broken(units(), vec![("x.service", "bad line")]);
    assert_eq!(h.state("x.service"), State::Failed);
    let mut repaired = units();
    repaired.push(service("x.service"));
    let next = successor(&h, repaired);
    assert_eq!(next.state("x.service"), State::Inactive);
    assert_eq!(next.reason("x.service"), None);
    // Still broken, it stays failed.
    let mut still = Engine::new();
    let broken = vec![("x.service".to_string(), "bad line".to_string())];
    still.load(h.now, units(), broken);
    still.restore(h.now, h.e.save());
    assert_eq!(still.state("x.service"), Some(State::Failed));
}
