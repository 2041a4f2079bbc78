//! Socket units in the engine: `Listen` when one starts, `running` once
//! `Listened` says its sockets exist, `CloseSockets` when it stops being
//! active, `SocketFailed` failing it, and a start refused while a service
//! that holds its sockets runs.

mod support;

use support::*;
use vigil_engine::{Action, Event, Reason, State};
use vigil_units::model::Socket;
use vigil_units::{Format, Unit, UnitKind};

/// A socket unit with systemd's defaults (`Service=` is `NAME.service`).
fn socket(name: &str) -> Unit {
    let mut u = Unit::new(name, UnitKind::Socket, Format::UnitFile);
    *u.socket = Some(Socket::new(name));
    u
}

/// The answer to `Listen`: the sockets exist.
fn listened(h: &mut H, unit: &str) {
    h.ok(Event::Listened {
        unit: unit.into(),
        result: Ok(()),
    });
}

fn listens(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Listen { unit } => Some(format!("listen {unit}")),
            Action::CloseSockets { unit } => Some(format!("close {unit}")),
            _ => None,
        })
        .collect()
}

#[test]
fn a_started_socket_listens_and_a_stopped_one_closes() {
    let mut h = H::new(vec![socket("web.socket"), service("web.service")]);
    h.start("web.socket");
    let a = h.take();
    assert_eq!(listens(&a), ["listen web.socket"]);
    assert_eq!(h.state("web.socket"), State::Starting);
    listened(&mut h, "web.socket");
    assert_eq!(h.state("web.socket"), State::Running);
    assert!(
        spawns(&h.take()).is_empty(),
        "the service waits for a connection"
    );
    h.stop("web.socket");
    let a = h.take();
    assert_eq!(listens(&a), ["close web.socket"]);
    assert_eq!(h.state("web.socket"), State::Inactive);
}

#[test]
fn a_running_socket_that_fails_closes_what_it_opened() {
    let mut h = H::new(vec![socket("web.socket")]);
    h.start("web.socket");
    listened(&mut h, "web.socket");
    h.take();
    h.ok(Event::SocketFailed {
        unit: "web.socket".into(),
        why: "bind /run/x: permission denied".into(),
    });
    let a = h.take();
    assert_eq!(listens(&a), ["close web.socket"]);
    assert_eq!(h.state("web.socket"), State::Failed);
    assert_eq!(
        h.reason("web.socket"),
        Some(Reason::Socket("bind /run/x: permission denied".into()))
    );
    // Ignored once it is not running.
    h.ok(Event::SocketFailed {
        unit: "web.socket".into(),
        why: "again".into(),
    });
    assert!(listens(&h.take()).is_empty());
}

#[test]
fn restarting_a_socket_closes_then_listens_again() {
    let mut h = H::new(vec![socket("web.socket")]);
    h.start("web.socket");
    listened(&mut h, "web.socket");
    h.take();
    h.ok(Event::Restart("web.socket".into()));
    assert_eq!(
        listens(&h.take()),
        ["close web.socket", "listen web.socket"]
    );
    listened(&mut h, "web.socket");
    assert_eq!(h.state("web.socket"), State::Running);
}

/// Tester's finding: the socket unit was `running` from the moment its
/// `Listen` was sent, so a unit with `Requires=` and `After=` on it started
/// in the same turn, before the bind failed. It is `starting` until the
/// answer; a failure fails it, and the start of what requires it with
/// "dependency failed", as systemd fails the dependent job.
#[test]
fn a_unit_requiring_a_socket_waits_for_its_sockets_and_fails_with_it() {
    let mut h = H::new(vec![
        socket("bad.socket"),
        service("dep2.service").needs(&["bad.socket"]),
    ]);
    h.start("dep2.service");
    let a = h.take();
    assert_eq!(listens(&a), ["listen bad.socket"]);
    assert!(
        spawns(&a).is_empty(),
        "dep2 started before the sockets exist"
    );
    assert_eq!(h.state("bad.socket"), State::Starting);
    assert_eq!(h.state("dep2.service"), State::Waiting);
    let why = "ListenStream=127.0.0.1:9: bind: Address already in use";
    h.ok(Event::Listened {
        unit: "bad.socket".into(),
        result: Err(why.into()),
    });
    let a = h.take();
    assert!(spawns(&a).is_empty(), "{a:?}");
    assert_eq!(h.state("bad.socket"), State::Failed);
    assert_eq!(h.reason("bad.socket"), Some(Reason::Socket(why.into())));
    assert_eq!(h.state("dep2.service"), State::Inactive);
    assert_eq!(
        h.reason("dep2.service"),
        Some(Reason::DependencyFailed("bad.socket".into()))
    );
    // Said once, by the state change that carries the reason.
    let said: Vec<String> = logs(&a).into_iter().filter(|l| l.contains(why)).collect();
    assert!(said.is_empty(), "{said:?}");

    // Once it listens, the dependent starts.
    h.start("dep2.service");
    assert!(h.spawns().is_empty());
    listened(&mut h, "bad.socket");
    h.spawned("dep2.service", vigil_engine::Role::Main(0));
    assert_eq!(h.state("dep2.service"), State::Running);
}

/// Tester's finding: `vigil restart x.socket` while x.service ran bound
/// the socket again, which replaced the service's unix socket file (new
/// clients reached only the manager's socket). As systemd's socket_start()
/// ("Socket service X already active, refusing", -EBUSY), the start is
/// refused before anything is made: the unit stays inactive with the
/// reason, and the starts that require it fail.
#[test]
fn a_socket_whose_service_runs_refuses_to_start() {
    let mut h = H::new(vec![
        socket("web.socket"),
        service("web.service"),
        service("client.service").needs(&["web.socket"]),
    ]);
    h.start("web.socket");
    listened(&mut h, "web.socket");
    h.start("web.service");
    h.spawned("web.service", vigil_engine::Role::Main(0));
    h.take();
    h.ok(Event::Restart("web.socket".into()));
    let a = h.take();
    assert_eq!(listens(&a), ["close web.socket"], "{a:?}");
    assert_eq!(h.state("web.socket"), State::Inactive);
    let refused = Reason::Socket("service web.service already active, refusing".into());
    assert_eq!(h.reason("web.socket"), Some(refused.clone()));
    assert_eq!(h.state("web.service"), State::Running);

    h.start("client.service");
    let a = h.take();
    assert!(listens(&a).is_empty() && spawns(&a).is_empty(), "{a:?}");
    assert_eq!(h.reason("web.socket"), Some(refused));
    assert_eq!(
        h.reason("client.service"),
        Some(Reason::DependencyFailed("web.socket".into()))
    );
}

/// A service naming the socket in `Sockets=` holds its sockets as well;
/// one that is down, waiting for its automatic restart or only about to
/// start (after the socket, as at boot) does not; nor is an `Accept=yes`
/// socket ever held (it is never passed).
#[test]
fn a_socket_is_refused_only_while_a_service_holding_it_runs() {
    let mut each = socket("each.socket");
    if let Some(s) = each.socket.as_mut() {
        s.accept = true;
    }
    let mut h = H::new(vec![
        socket("db.socket"),
        each,
        service("db-admin.service").unit(|u| {
            if let Some(s) = u.service.as_mut() {
                *s.sockets = vec!["db.socket".into(), "each.socket".into()];
            }
        }),
        service("db.service").after(&["db.socket"]),
    ]);
    h.start("db-admin.service");
    h.spawned("db-admin.service", vigil_engine::Role::Main(0));
    h.take();
    h.start("db.socket");
    assert!(listens(&h.take()).is_empty());
    assert_eq!(
        h.reason("db.socket"),
        Some(Reason::Socket(
            "service db-admin.service already active, refusing".into()
        ))
    );
    h.start("each.socket");
    assert_eq!(listens(&h.take()), ["listen each.socket"]);

    h.stop("db-admin.service");
    let pid = h.info("db-admin.service").main_pid.unwrap();
    h.killed(pid, 15);
    // The service's start waits for the socket's: not refused.
    h.ok_together(vec![
        Event::Start("db.service".into()),
        Event::Start("db.socket".into()),
    ]);
    assert_eq!(listens(&h.take()), ["listen db.socket"]);
    listened(&mut h, "db.socket");
    assert_eq!(h.state("db.socket"), State::Running);
}

#[test]
fn activation_counts_against_the_start_limit_as_manual_starts_do() {
    let mut h = H::new(vec![service("web.service").limit(2, secs(10))]);
    for i in 0..2 {
        h.ok(Event::Activate("web.service".into()));
        let pid = h.spawned("web.service", vigil_engine::Role::Main(0));
        h.exit(pid, 0);
        assert_eq!(h.state("web.service"), State::Inactive, "start {i}");
    }
    h.ok(Event::Activate("web.service".into()));
    h.take();
    assert_eq!(h.state("web.service"), State::Failed);
    assert_eq!(h.reason("web.service"), Some(Reason::StartLimitHit));
    // `vigil start` counts too (systemd: all kinds of starts); reset-failed
    // clears the count.
    h.start("web.service");
    assert!(h.spawns().is_empty(), "still over the limit");
    h.ok(Event::ResetFailed(Some("web.service".into())));
    h.start("web.service");
    h.spawned("web.service", vigil_engine::Role::Main(0));
    assert_eq!(h.state("web.service"), State::Running);
}

/// Accept=yes reuses instance names: one connection's start must not count
/// against the next connection's, nor a failed instance refuse a connection,
/// as each connection gets a new unit in systemd.
#[test]
fn a_connection_starts_its_instance_with_no_history() {
    let mut h = H::new(vec![service("echo@0.service").limit(2, secs(10))]);
    for i in 0..4 {
        h.ok(Event::Accepted("echo@0.service".into()));
        let pid = h.spawned("echo@0.service", vigil_engine::Role::Main(0));
        h.exit(pid, 1);
        assert_eq!(h.state("echo@0.service"), State::Failed, "connection {i}");
        assert_ne!(h.reason("echo@0.service"), Some(Reason::StartLimitHit));
    }
    // The same starts as plain activations hit the limit.
    h.ok(Event::Activate("echo@0.service".into()));
    let pid = h.spawned("echo@0.service", vigil_engine::Role::Main(0));
    h.exit(pid, 1);
    h.ok(Event::Activate("echo@0.service".into()));
    h.take();
    assert_eq!(h.reason("echo@0.service"), Some(Reason::StartLimitHit));
    // Failed straight to waiting: `inactive` would tell vigild that this
    // connection's instance ended.
    h.ok(Event::Accepted("echo@0.service".into()));
    let inactive = h.take().iter().any(|a| {
        matches!(
            a,
            Action::StateChanged {
                state: State::Inactive,
                ..
            }
        )
    });
    assert!(!inactive, "went through inactive");
    h.spawned("echo@0.service", vigil_engine::Role::Main(0));
    assert_eq!(h.state("echo@0.service"), State::Running);
}

/// A socket that fails while its stop waits its turn at a shutdown (a unit
/// after it still stopping) is down: the units ordered before it stop then.
/// Found at Debian's poweroff under vigil: nothing woke them, and the
/// shutdown never ended.
#[test]
fn a_socket_failing_while_its_stop_waits_lets_the_units_before_it_stop() {
    let mut h = H::new(vec![
        socket("log.socket"),
        service("slow.service").after(&["log.socket"]),
        service("early.service").before(&["log.socket"]),
    ]);
    h.start("early.service");
    h.start("log.socket");
    h.start("slow.service");
    // Each started in turn, once the one before it runs.
    let mut spawned = Vec::new();
    loop {
        if h.state("log.socket") == State::Starting {
            listened(&mut h, "log.socket");
        }
        let more = h.spawn_all();
        if more.is_empty() {
            break;
        }
        for (_, _, pid) in &more {
            h.ok(Event::ExecSucceeded { pid: *pid });
        }
        spawned.extend(more);
    }
    let pid = |u: &str| spawned.iter().find(|s| s.0 == u).unwrap().2;
    h.take();
    assert_eq!(h.state("slow.service"), State::Running, "{spawned:?}");
    h.ok(Event::Shutdown { targets: vec![] });
    // slow first; the socket's stop waits for it.
    let a = h.take();
    assert_eq!(signalled(&a), ["slow.service"], "{a:?}");
    h.ok(Event::SocketFailed {
        unit: "log.socket".into(),
        why: "trigger limit hit".into(),
    });
    assert_eq!(h.state("log.socket"), State::Failed);
    h.killed(pid("slow.service"), 15);
    // Then early, which waited for the socket's stop.
    assert_eq!(signalled(&h.take()), ["early.service"]);
    h.killed(pid("early.service"), 15);
    assert!(h.take().iter().any(|a| matches!(a, Action::AllStopped)));
}
