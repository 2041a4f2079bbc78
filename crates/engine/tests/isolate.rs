//! `Event::Isolate`: systemctl isolate's transaction. The target and what it
//! pulls in start; every other unit that is up stops, except the units with
//! `IgnoreOnIsolate=yes` and what the kept units need; a target without
//! `AllowIsolate=yes` is refused with nothing changed.

mod support;

use support::*;
use vigil_engine::{Action, Canceled, EngineError, Event, Role, State};
use vigil_units::{ServiceType, Unit};

fn isolatable(name: &str) -> Unit {
    target(name).unit(|u| u.allow_isolate = true)
}

fn ignored(unit: Unit) -> Unit {
    unit.unit(|u| u.ignore_on_isolate = true)
}

/// big.target wants a, b and c; small.target wants a only.
fn two_targets(extra: Vec<Unit>) -> Vec<Unit> {
    let mut units = vec![
        isolatable("big.target").wants(&["a.service", "b.service", "c.service"]),
        isolatable("small.target").wants(&["a.service"]),
        service("a.service"),
        service("b.service"),
        service("c.service"),
    ];
    units.extend(extra);
    units
}

/// Starts big.target and answers every spawn; returns the pids by unit.
fn boot_big(h: &mut H) -> Vec<(String, u32)> {
    h.start("big.target");
    let spawned = h.spawn_all();
    assert_eq!(h.state("big.target"), State::Running);
    (spawned.into_iter())
        .map(|(unit, _, pid)| (unit, pid))
        .collect()
}

fn pid_of(pids: &[(String, u32)], unit: &str) -> u32 {
    (pids.iter())
        .find(|(u, _)| u == unit)
        .map(|(_, p)| *p)
        .unwrap_or_else(|| panic!("{unit} was not spawned: {pids:?}"))
}

fn isolate(name: &str) -> Event {
    Event::Isolate(name.into())
}

#[test]
fn isolate_stops_what_the_target_does_not_pull_in_and_keeps_the_rest() {
    let mut h = H::new(two_targets(vec![]));
    let pids = boot_big(&mut h);
    assert_eq!(
        h.e.isolate_plan("small.target").unwrap(),
        ["b.service", "big.target", "c.service"]
    );
    h.ok(isolate("small.target"));
    let actions = h.take();
    // b and c get their stop signal, a goes on untouched.
    assert_eq!(signalled(&actions), ["b.service", "c.service"]);
    assert!(spawns(&actions).is_empty(), "{actions:?}");
    assert_eq!(h.state("small.target"), State::Running);
    assert_eq!(h.state("big.target"), State::Inactive);
    h.killed(pid_of(&pids, "b.service"), SIGTERM);
    h.killed(pid_of(&pids, "c.service"), SIGTERM);
    for unit in ["b.service", "c.service"] {
        assert_eq!(h.state(unit), State::Inactive, "{unit}");
    }
    let a = h.info("a.service");
    assert_eq!(
        (a.state, a.main_pid),
        (State::Running, Some(pid_of(&pids, "a.service")))
    );
    // Back: what big.target wants starts again; nothing is stopped.
    assert_eq!(h.e.isolate_plan("big.target").unwrap(), ["small.target"]);
    h.ok(isolate("big.target"));
    let actions = h.take();
    assert_eq!(started(&actions), ["b.service", "c.service"]);
    assert!(signalled(&actions).is_empty(), "{actions:?}");
}

#[test]
fn a_target_without_allow_isolate_is_refused_and_nothing_changes() {
    let mut h = H::new(two_targets(vec![
        target("plain.target").wants(&["a.service"]),
    ]));
    boot_big(&mut h);
    h.take();
    let refused = EngineError::NotAllowed {
        unit: "plain.target".into(),
        why: "operation refused, unit may not be isolated (it has no AllowIsolate=yes)".into(),
    };
    assert_eq!(h.e.isolate_plan("plain.target"), Err(refused.clone()));
    assert_eq!(h.send(isolate("plain.target")), Err(refused));
    assert!(h.take().is_empty());
    for unit in ["a.service", "b.service", "c.service", "big.target"] {
        assert_eq!(h.state(unit), State::Running, "{unit}");
    }
    assert_eq!(h.state("plain.target"), State::Inactive);
    assert_eq!(
        h.send(isolate("nope.target")),
        Err(EngineError::NoSuchUnit("nope.target".into()))
    );
}

#[test]
fn units_with_ignore_on_isolate_are_kept_running() {
    let mut h = H::new(two_targets(vec![ignored(service("keep.service"))]));
    boot_big(&mut h);
    let keep = h.run("keep.service");
    h.ok(isolate("small.target"));
    let actions = h.take();
    assert_eq!(signalled(&actions), ["b.service", "c.service"]);
    let info = h.info("keep.service");
    assert_eq!((info.state, info.main_pid), (State::Running, Some(keep)));
    // One that is down is not started either.
    h.stop("keep.service");
    h.killed(keep, SIGTERM);
    h.ok(isolate("big.target"));
    assert_eq!(h.state("keep.service"), State::Inactive);
}

/// As systemd: stopping what a kept unit requires would stop it with it,
/// and stopping what it wants would starve it; both are kept, transitively.
#[test]
fn what_a_kept_unit_needs_is_kept_too() {
    let mut h = H::new(two_targets(vec![
        ignored(service("keep.service")).requires(&["lib.service"]),
        service("lib.service").wants(&["helper.service"]),
        service("helper.service"),
    ]));
    boot_big(&mut h);
    h.start("keep.service");
    h.spawn_all();
    assert_eq!(h.state("helper.service"), State::Running);
    assert_eq!(
        h.e.isolate_plan("small.target").unwrap(),
        ["b.service", "big.target", "c.service"]
    );
    h.ok(isolate("small.target"));
    let actions = h.take();
    assert_eq!(signalled(&actions), ["b.service", "c.service"]);
    for unit in ["keep.service", "lib.service", "helper.service"] {
        assert_eq!(h.state(unit), State::Running, "{unit}");
    }
}

#[test]
fn a_unit_the_target_pulls_in_through_another_is_kept() {
    let mut h = H::new(vec![
        isolatable("big.target").wants(&["a.service", "b.service"]),
        isolatable("small.target").wants(&["a.service"]),
        service("a.service").requires(&["b.service"]),
        service("b.service"),
    ]);
    boot_big(&mut h);
    assert_eq!(h.e.isolate_plan("small.target").unwrap(), ["big.target"]);
    h.ok(isolate("small.target"));
    assert!(signalled(&h.take()).is_empty());
    assert_eq!(h.state("b.service"), State::Running);
}

/// One transaction: the start of a unit ordered after (or before) one the
/// isolate stops waits for that stop to end, as a stop goes first.
#[test]
fn the_stops_go_before_the_starts_they_are_ordered_against() {
    for order in ["after", "before"] {
        let new = match order {
            "after" => service("new.service").after(&["old.service"]),
            _ => service("new.service").before(&["old.service"]),
        };
        let mut h = H::new(vec![
            isolatable("one.target").wants(&["old.service"]),
            isolatable("two.target").wants(&["new.service"]),
            service("old.service").stop_cmd(cmd("/bin/old-stop")),
            new,
        ]);
        h.start("one.target");
        let old = h.expect_spawn("old.service", Role::Main(0));
        h.ok(isolate("two.target"));
        // old's ExecStop= runs; new waits for it.
        let stop = h.expect_spawn("old.service", Role::Stop(0));
        assert_eq!(h.state("new.service"), State::Waiting, "{order}");
        h.exit(stop, 0);
        h.take();
        assert_eq!(h.state("new.service"), State::Waiting, "{order}");
        h.killed(old, SIGTERM);
        assert_eq!(h.state("old.service"), State::Inactive, "{order}");
        h.expect_spawn("new.service", Role::Main(0));
        assert_eq!(h.state("new.service"), State::Running, "{order}");
        assert_eq!(h.state("two.target"), State::Running, "{order}");
        assert_eq!(h.state("one.target"), State::Inactive, "{order}");
    }
}

#[test]
fn a_start_the_isolate_drops_is_told_why() {
    let mut h = H::new(two_targets(vec![
        service("slow.service").ty(ServiceType::Notify),
        service("late.service").after(&["slow.service"]),
    ]));
    boot_big(&mut h);
    h.ok_together(vec![
        Event::Start("slow.service".into()),
        Event::Start("late.service".into()),
    ]);
    h.expect_spawn("slow.service", Role::Main(0));
    assert_eq!(h.state("late.service"), State::Waiting);
    h.ok(isolate("small.target"));
    let canceled: Vec<(String, Canceled)> = (h.take().into_iter())
        .filter_map(|a| match a {
            Action::StartCanceled { unit, why } => Some((unit, why)),
            _ => None,
        })
        .collect();
    let why = Canceled::Isolate("small.target".into());
    assert_eq!(
        canceled,
        [
            ("late.service".to_string(), why.clone()),
            ("slow.service".to_string(), why.clone()),
        ]
    );
    assert_eq!(why.to_string(), "job canceled: isolating small.target");
    assert_eq!(h.state("late.service"), State::Inactive);
}

#[test]
fn isolate_is_refused_during_a_shutdown() {
    let mut h = H::new(two_targets(vec![]));
    boot_big(&mut h);
    h.ok(Event::Shutdown { targets: vec![] });
    let refused = EngineError::NotAllowed {
        unit: "small.target".into(),
        why: "the manager is shutting down".into(),
    };
    assert_eq!(h.send(isolate("small.target")), Err(refused));
}

#[test]
fn a_target_whose_requirement_is_missing_is_refused_before_anything_stops() {
    let mut h = H::new(two_targets(vec![
        isolatable("broken.target").requires(&["ghost.service"]),
    ]));
    boot_big(&mut h);
    h.take();
    let err = h.send(isolate("broken.target")).unwrap_err();
    assert!(
        err.to_string().contains("dependency failed: ghost.service"),
        "{err}"
    );
    assert!(signalled(&h.take()).is_empty());
    assert_eq!(h.state("b.service"), State::Running);
}

/// A socket unit kept keeps its service (systemd keeps what a kept unit
/// triggers): the connection it serves is not cut.
#[test]
fn the_service_of_a_kept_socket_is_kept() {
    let mut h = H::new(two_targets(vec![
        ignored(vigil_units::Unit::new(
            "echo.socket",
            vigil_units::UnitKind::Socket,
            vigil_units::Format::UnitFile,
        )),
        service("echo.service"),
    ]));
    boot_big(&mut h);
    h.start("echo.socket");
    h.ok(Event::Listened {
        unit: "echo.socket".into(),
        result: Ok(()),
    });
    h.run("echo.service");
    assert_eq!(
        h.e.isolate_plan("small.target").unwrap(),
        ["b.service", "big.target", "c.service"]
    );
}
