//! The jobs the engine reports (`vigil list-jobs`, and what a boot waits
//! for before the system is `running`): read from each unit's phase and its
//! queued stop and start.

mod support;

use support::*;
use vigil_engine::{Action, Canceled, Job, JobType, Reason, Role, State};
use vigil_units::{RestartPolicy, ServiceType};

fn job(unit: &str, job_type: JobType, running: bool) -> Job {
    Job {
        unit: unit.into(),
        job_type,
        running,
    }
}

/// A start waits while what it is ordered after starts, and runs once its
/// commands do; a stop, a restart and a reload each show as that job; a
/// unit that is up, or down, has none.
#[test]
fn each_job_is_reported_with_its_type_and_whether_it_runs() {
    let mut h = H::new(vec![
        service("slow.service").pre(cmd("/bin/pre")),
        service("late.service").after(&["slow.service"]),
        service("r.service").reload_cmd(cmd("/bin/reload")),
    ]);
    assert!(!h.e.has_jobs());
    h.start("slow.service");
    h.expect_spawn("slow.service", Role::StartPre(0));
    h.start("late.service");
    assert_eq!(
        h.e.jobs(),
        [
            job("late.service", JobType::Start, false),
            job("slow.service", JobType::Start, true),
        ]
    );
    assert!(h.e.has_jobs());
    let main = h.run("r.service");
    h.ok(vigil_engine::Event::Reload("r.service".into()));
    assert!(
        h.e.jobs()
            .contains(&job("r.service", JobType::Reload, true))
    );
    let reload = h.expect_spawn("r.service", Role::Reload(0));
    h.exit(reload, 0);
    h.ok(vigil_engine::Event::Restart("r.service".into()));
    assert!(
        h.e.jobs()
            .contains(&job("r.service", JobType::Restart, true)),
        "{:?}",
        h.e.jobs()
    );
    h.killed(main, SIGTERM);
    h.expect_spawn("r.service", Role::Main(0));
    h.stop("r.service");
    assert!(h.e.jobs().contains(&job("r.service", JobType::Stop, true)));
}

/// A target with default dependencies: it wants and is ordered after
/// `slow.service` (an `ExecStartPre=` to wait on), requires and is ordered
/// after `req.service` (the same), and `late.service` is ordered after it.
fn target_and_slow_units() -> H {
    H::new(vec![
        target("t.target")
            .wants(&["slow.service"])
            .needs(&["req.service"])
            .after(&["slow.service"]),
        service("slow.service").pre(cmd("/bin/slow-pre")),
        service("req.service").pre(cmd("/bin/req-pre")),
        service("late.service").after(&["t.target"]),
        service("up.service").needs(&["t.target"]),
    ])
}

/// Brings t.target and what it pulls in up; returns the main pids of
/// slow.service and req.service.
fn all_up(h: &mut H) -> (u32, u32) {
    h.start("t.target");
    let mut pres = h.spawn_all();
    pres.sort_by_key(|p| p.0.clone());
    for (_, _, pid) in pres {
        h.exit(pid, 0);
    }
    let mut mains = h.spawn_all();
    mains.sort_by_key(|m| m.0.clone());
    assert_eq!(h.state("t.target"), State::Running);
    (mains[1].2, mains[0].2)
}

fn start_failures(actions: &[Action]) -> Vec<(String, Reason)> {
    (actions.iter())
        .filter_map(|a| match a {
            Action::StartFailed { unit, why } => Some((unit.clone(), why.clone())),
            _ => None,
        })
        .collect()
}

/// Review finding: the start of a target that was active already was done
/// at once, while what it wants started again behind it: `vigil start` and
/// `vigil isolate` of it returned before those units were up. As in
/// systemd, its start job waits for the jobs of the units it is ordered
/// after, and what is ordered after it waits for that job; the target
/// stays active all along. An active unit it pulls in gets no job.
#[test]
fn the_start_job_of_an_active_target_waits_for_what_it_is_ordered_after() {
    let mut h = target_and_slow_units();
    let (slow, _) = all_up(&mut h);
    h.stop("slow.service");
    h.killed(slow, SIGTERM);
    assert_eq!(h.state("slow.service"), State::Inactive);
    h.take();
    h.start("t.target");
    let pre = h.expect_spawn("slow.service", Role::StartPre(0));
    assert_eq!(h.state("t.target"), State::Running);
    assert_eq!(h.info("t.target").job, Some(JobType::Start));
    assert!(h.e.jobs().contains(&job("t.target", JobType::Start, false)));
    // A unit it pulls in that is active gets none: systemd drops such a
    // job as redundant, and keeps the one asked for.
    assert_eq!(h.info("req.service").job, None);
    // What is ordered after the target waits for its job.
    h.start("late.service");
    assert_eq!(h.state("late.service"), State::Waiting);
    assert!(h.spawns().is_empty());
    h.exit(pre, 0);
    h.expect_spawn("slow.service", Role::Main(0));
    assert_eq!(h.state("slow.service"), State::Running);
    assert_eq!(h.info("t.target").job, None);
    let late = h.spawns();
    assert_eq!(late, [("late.service".to_string(), Role::Main(0))]);
    assert!(start_failures(&h.take()).is_empty());
    // Nothing to wait for: the job is done in the same call.
    h.start("t.target");
    assert_eq!(h.info("t.target").job, None);
    assert!(!h.e.jobs().iter().any(|j| j.unit == "t.target"));
}

/// A unit the active target requires and waits for fails to start: the
/// target's job fails (`StartFailed`, dependency failed), not the target,
/// and the pending starts that require the target fail with it, as
/// systemd's job_fail_dependencies(). A wanted unit failing fails nothing.
#[test]
fn a_requirement_failing_fails_the_start_job_of_the_active_target_alone() {
    let mut h = target_and_slow_units();
    let (slow, req) = all_up(&mut h);
    // Down on their own: a stop job of req.service would stop the target.
    h.killed(slow, SIGTERM);
    h.killed(req, SIGTERM);
    assert_eq!(h.state("req.service"), State::Inactive);
    assert_eq!(h.state("t.target"), State::Running);
    h.take();
    h.start("t.target");
    h.start("up.service");
    assert_eq!(h.state("up.service"), State::Waiting);
    let mut pres = h.spawn_all();
    pres.sort_by_key(|p| p.0.clone());
    let (req_pre, slow_pre) = (pres[0].2, pres[1].2);
    // Only wanted: the job goes on.
    h.exit(slow_pre, 1);
    assert_eq!(h.state("slow.service"), State::Failed);
    assert_eq!(h.info("t.target").job, Some(JobType::Start));
    assert!(start_failures(&h.take()).is_empty());
    h.exit(req_pre, 1);
    assert_eq!(h.state("req.service"), State::Failed);
    let dep = Reason::DependencyFailed("req.service".into());
    assert_eq!(start_failures(&h.take()), [("t.target".to_string(), dep)]);
    assert_eq!(h.state("t.target"), State::Running);
    assert_eq!(h.reason("t.target"), None);
    assert_eq!(h.info("t.target").job, None);
    assert_eq!(h.state("up.service"), State::Inactive);
    assert_eq!(
        h.reason("up.service"),
        Some(Reason::DependencyFailed("t.target".into()))
    );
}

/// A stop of the active target takes the place of its waiting start job,
/// which is told canceled; a unit that goes down on its own while its start
/// job waits is started again once the job runs, as systemd's would be.
#[test]
fn the_waiting_start_job_of_an_active_unit_is_canceled_by_a_stop_and_outlives_a_crash() {
    let mut h = target_and_slow_units();
    let (slow, _) = all_up(&mut h);
    h.stop("slow.service");
    h.killed(slow, SIGTERM);
    h.take();
    h.start("t.target");
    h.stop("t.target");
    let canceled = (h.take().into_iter()).any(|a| {
        a == Action::StartCanceled {
            unit: "t.target".into(),
            why: Canceled::Stop,
        }
    });
    assert!(canceled, "the start job was not told canceled");
    assert_eq!(h.state("t.target"), State::Inactive);
    assert_eq!(h.info("t.target").job, None);

    let mut h = H::new(vec![
        service("x.service")
            .wants(&["slow.service"])
            .after(&["slow.service"]),
        service("slow.service").pre(cmd("/bin/slow-pre")),
    ]);
    h.start("x.service");
    let pre = h.expect_spawn("slow.service", Role::StartPre(0));
    h.exit(pre, 0);
    let slow = h.expect_spawn("slow.service", Role::Main(0));
    let x = h.expect_spawn("x.service", Role::Main(0));
    assert_eq!(h.state("x.service"), State::Running);
    h.stop("slow.service");
    h.killed(slow, SIGTERM);
    h.take();
    h.start("x.service");
    let pre = h.expect_spawn("slow.service", Role::StartPre(0));
    h.exit(x, 1);
    assert_eq!(h.state("x.service"), State::Waiting);
    assert!(h.spawns().is_empty());
    h.exit(pre, 0);
    h.expect_spawn("slow.service", Role::Main(0));
    h.expect_spawn("x.service", Role::Main(0));
    assert_eq!(h.state("x.service"), State::Running);
}

/// Review finding: `vigil start web` of a running web ordered after a
/// crash-looping unit hung for as long as the loop lasted, and its job held
/// every unit ordered after web. As systemd's, the start job of an active
/// unit waits for the jobs of the units it is ordered after, and a unit
/// waiting out its `RestartSec=` has none: the job ends then.
#[test]
fn the_start_job_of_an_active_unit_does_not_wait_out_a_restart_loop() {
    let mut h = H::new(vec![
        service("crash.service")
            .ty(ServiceType::Notify)
            .restart(RestartPolicy::Always)
            .restart_sec(secs(2)),
        service("web.service").after(&["crash.service"]),
        service("app.service").after(&["web.service"]),
    ]);
    h.run("web.service");
    h.start("crash.service");
    let crash = h.expect_spawn("crash.service", Role::Main(0));
    h.take();
    h.exit(crash, 1);
    assert_eq!(h.state("crash.service"), State::Restarting);
    // Its restart's start under way: the job waits for it.
    h.at(secs(2));
    let again = h.expect_spawn("crash.service", Role::Main(0));
    h.start("web.service");
    assert_eq!(h.info("web.service").job, Some(JobType::Start));
    // It crashes again: no job while it waits for its timer, and web's
    // job is done; what is ordered after web starts.
    h.exit(again, 1);
    assert_eq!(h.state("crash.service"), State::Restarting);
    assert_eq!(h.info("crash.service").job, None);
    assert_eq!(h.info("web.service").job, None);
    assert_eq!(h.state("web.service"), State::Running);
    h.start("app.service");
    h.expect_spawn("app.service", Role::Main(0));
    assert!(start_failures(&h.take()).is_empty());
}
