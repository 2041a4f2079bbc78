//! The jobs the engine reports (`vigil list-jobs`, and what a boot waits
//! for before the system is `running`): read from each unit's phase and its
//! queued stop and start.

mod support;

use support::*;
use vigil_engine::{Job, JobType, Role};

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
