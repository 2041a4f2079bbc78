//! systemctl's verbs beyond start, stop, restart and reload, end to end: the
//! real vigild on its own unit directory and socket, driven by the real
//! `vigil`, with real services. try-restart and its kin decide in the
//! manager; cat reads the files the manager says; mask, unmask, enable and
//! disable change the unit directory and say what they changed;
//! list-unit-files reads it.

mod harness;

use std::fs;
use std::process::Output;

use harness::{Manager, TempDir, alive};

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A service that sleeps, with `extra` in its [Service] section.
fn sleeper(extra: &str) -> String {
    format!("[Service]\nExecStart=/bin/sleep 1000\n{extra}")
}

/// A sleeping service whose `ExecReload=` appends `reloaded` to `file`.
fn reloadable(file: &str) -> String {
    sleeper(&format!(
        "ExecReload=/bin/sh -c 'echo reloaded >> {file}'\n"
    ))
}

/// Whether the manager ever moved the unit out of `inactive` (its state
/// changes are in its log, `-> running`).
fn ever_changed(m: &Manager, unit: &str) -> bool {
    m.vigil_ok(&["log", unit, "-n", "1000"]).contains("-> ")
}

// ------------------------------------------------ try-restart and its kin

/// systemctl's try-restart: the units that are up are restarted (new main
/// PID, the old one gone), the units that are down stay down, and that is
/// success (exit 0); `condrestart` is the same verb.
#[test]
fn try_restart_restarts_the_active_units_and_leaves_the_others_down() {
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=up.service\n"),
        ("up.service", &sleeper("")),
        ("down.service", &sleeper("")),
    ]);
    m.wait_state("up.service", "running");
    let old = m.main_pid("up.service");
    let out = m.vigil(&["try-restart", "up", "down"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(text(&out), "", "try-restart said something");
    let new = m.main_pid("up.service");
    assert_ne!(new, old, "up.service was not restarted");
    assert!(!alive(old), "the old main process survived the restart");
    assert_eq!(m.state("up.service"), "running");
    assert_eq!(m.state("down.service"), "inactive");
    assert!(
        !ever_changed(&m, "down.service"),
        "down.service was started"
    );
    // The old name, as RHEL's scripts spell it.
    m.vigil_ok(&["condrestart", "up", "down"]);
    assert_ne!(m.main_pid("up.service"), new);
    assert_eq!(m.state("down.service"), "inactive");
    // A unit that does not exist is said, as restart says it (exit 4).
    let out = m.vigil(&["try-restart", "nope", "down"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        stderr(&out).contains("no such unit: nope.service"),
        "{}",
        text(&out)
    );
}

/// "Active" is systemd's: a unit on its way up (starting, here a notify
/// service that has not said READY=1) is restarted too; a failed one is not.
#[test]
fn try_restart_restarts_a_unit_that_is_starting_and_not_a_failed_one() {
    let d = TempDir::new("tryrestart");
    let go = d.path().join("go");
    let slow = format!(
        "[Service]\nType=notify\nNotifyAccess=all\nExecStart=/bin/sh -c 'while [ ! -e {} ]; do sleep 0.02; done; {} notify --ready; exec sleep 1000'\n",
        go.display(),
        harness::vigil_bin().display()
    );
    let m = Manager::start(&[
        ("default.target", "[Unit]\n"),
        ("slow.service", &slow),
        (
            "bad.service",
            "[Service]\nType=oneshot\nExecStart=/bin/false\n",
        ),
    ]);
    m.vigil_code(&["start", "bad"], 1);
    assert_eq!(m.state("bad.service"), "failed");
    m.vigil_ok(&["start", "slow", "--no-block"]);
    assert_eq!(m.state("slow.service"), "starting");
    let first = m.main_pid("slow.service");
    // The restart's start waits for READY=1, which `go` lets come.
    let mut client = m.vigil_in_background(&["try-restart", "slow", "bad"]);
    m.wait_log("slow.service", "-> stopping");
    fs::write(&go, "").unwrap();
    let status = client.wait().unwrap();
    assert!(status.success(), "try-restart failed: {status}");
    assert_eq!(m.state("slow.service"), "running");
    assert_ne!(m.main_pid("slow.service"), first);
    assert_eq!(
        m.state("bad.service"),
        "failed",
        "a failed unit was restarted"
    );
}

/// reload-or-restart: a unit that can reload and runs is reloaded (its
/// ExecReload= ran, its main PID is the same); one that cannot is restarted;
/// one that is down is started, whether it can reload or not.
#[test]
fn reload_or_restart_reloads_what_can_restarts_what_cannot_and_starts_what_is_down() {
    let d = TempDir::new("reloadorrestart");
    let file = d.path().join("reloads");
    let file = file.display().to_string();
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=r.service n.service\n"),
        ("r.service", &reloadable(&file)),
        ("n.service", &sleeper("")),
        ("r2.service", &reloadable(&file)),
        ("n2.service", &sleeper("")),
    ]);
    m.wait_state("r.service", "running");
    m.wait_state("n.service", "running");
    let (r, n) = (m.main_pid("r.service"), m.main_pid("n.service"));
    m.vigil_ok(&["reload-or-restart", "r", "n", "r2", "n2"]);
    // Reloaded once (r2 was started, not reloaded), and waited for.
    assert_eq!(fs::read_to_string(&file).unwrap(), "reloaded\n");
    assert_eq!(m.main_pid("r.service"), r, "r.service was restarted");
    assert_ne!(m.main_pid("n.service"), n, "n.service was not restarted");
    for unit in ["r.service", "n.service", "r2.service", "n2.service"] {
        assert_eq!(m.state(unit), "running", "{unit}");
    }
}

/// try-reload-or-restart (and systemctl's old names for it, force-reload
/// among them): the same, for the active units only; those that are down
/// stay down, and that is success.
#[test]
fn try_reload_or_restart_and_force_reload_leave_the_units_that_are_down() {
    let d = TempDir::new("tryreload");
    let file = d.path().join("reloads");
    let file_s = file.display().to_string();
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=r.service n.service\n"),
        ("r.service", &reloadable(&file_s)),
        ("n.service", &sleeper("")),
        ("r2.service", &reloadable(&file_s)),
        ("n2.service", &sleeper("")),
    ]);
    m.wait_state("r.service", "running");
    m.wait_state("n.service", "running");
    let r = m.main_pid("r.service");
    let mut n = m.main_pid("n.service");
    for (i, verb) in [
        "try-reload-or-restart",
        "force-reload",
        "reload-or-try-restart",
    ]
    .into_iter()
    .enumerate()
    {
        let out = m.vigil(&[verb, "r", "n", "r2", "n2"]);
        assert_eq!(out.status.code(), Some(0), "{verb}: {}", text(&out));
        let reloads = fs::read_to_string(&file).unwrap();
        assert_eq!(reloads.lines().count(), i + 1, "{verb}: {reloads}");
        assert_eq!(m.main_pid("r.service"), r, "{verb} restarted r.service");
        let now = m.main_pid("n.service");
        assert_ne!(now, n, "{verb} did not restart n.service");
        n = now;
        for unit in ["r2.service", "n2.service"] {
            assert_eq!(m.state(unit), "inactive", "{verb}: {unit}");
            assert!(!ever_changed(&m, unit), "{verb} started {unit}");
        }
    }
}

/// A failed reload is the verb's failure, as `reload`'s is (exit 1, why).
#[test]
fn reload_or_restart_says_a_reload_that_failed() {
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=r.service\n"),
        ("r.service", &sleeper("ExecReload=/bin/false\n")),
    ]);
    m.wait_state("r.service", "running");
    let out = m.vigil(&["reload-or-restart", "r"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("reload failed: exit code 1"),
        "{}",
        text(&out)
    );
}

/// Review finding: a reload asked for while one ran was merged into it (the
/// second `vigil reload` said it worked after the first's end; ExecReload=
/// ran once, so what changed meanwhile was never read). It runs after the
/// first, as systemd queues it, and its client waits for that one's end;
/// `reload-or-restart` of a reloading unit alike.
#[test]
fn a_reload_asked_for_during_a_reload_runs_after_it() {
    let d = TempDir::new("reload-queued");
    let (count, go, rc) = (
        d.path().join("count"),
        d.path().join("go"),
        d.path().join("rc"),
    );
    // Each reload waits for `go`, then ends with the code in `rc` (0 without).
    let unit = sleeper(&format!(
        "ExecReload=/bin/sh -c 'echo r >> {count}; while [ ! -e {go} ]; do sleep 0.02; done; \
         rm -f {go}; exit $(cat {rc} 2>/dev/null || echo 0)'\n",
        count = count.display(),
        go = go.display(),
        rc = rc.display()
    ));
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=r.service\n"),
        ("r.service", &unit),
    ]);
    m.wait_state("r.service", "running");
    let reloads = || fs::read_to_string(&count).map_or(0, |t| t.lines().count());
    for verb in ["reload", "reload-or-restart"] {
        let before = reloads();
        m.vigil_ok(&["reload", "--no-block", "r"]);
        harness::wait_until("the first reload", || reloads() == before + 1);
        let second = m.vigil_in_background(&[verb, "r"]);
        m.wait_log_count(
            "r.service",
            "reload queued",
            if verb == "reload" { 1 } else { 2 },
        );
        fs::write(&go, "").unwrap();
        harness::wait_until("the queued reload", || reloads() == before + 2);
        // The queued one fails: its client says so, not the first's success.
        fs::write(&rc, "1").unwrap();
        fs::write(&go, "").unwrap();
        let out = second.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{verb}: {}", text(&out));
        assert!(
            stderr(&out).contains("reload failed: exit code 1"),
            "{verb}: {}",
            text(&out)
        );
        fs::remove_file(&rc).unwrap();
        harness::wait_until("the reload's end", || m.state("r.service") == "running");
        assert_eq!(reloads(), before + 2, "{verb}");
    }
}

/// `vigil reload` of a unit still starting (its `ExecStartPre=` not done)
/// was refused (`not active`). systemd merges the reload job into the start
/// job under way: `systemctl reload` waits for the start and ends as it
/// ends (exit 1 when it fails), and `ExecReload=` does not run, the start
/// reading the configuration anyway. `--no-block` answers at once; a unit
/// that cannot reload is refused as ever.
#[test]
fn a_reload_during_the_start_waits_for_the_start_and_ends_with_it() {
    let d = TempDir::new("reload-starting");
    let (go, rc, reloads, stop) = (
        d.path().join("go"),
        d.path().join("rc"),
        d.path().join("reloads"),
        d.path().join("stop"),
    );
    // The start waits for `go`, then goes on or fails with the code in `rc`.
    let pre = format!(
        "ExecStartPre=/bin/sh -c 'while [ ! -e {go} ]; do sleep 0.02; done; rm -f {go}; \
         exit $(cat {rc} 2>/dev/null || echo 0)'\n",
        go = go.display(),
        rc = rc.display()
    );
    let m = Manager::start(&[
        (
            "r.service",
            &sleeper(&format!(
                "{pre}ExecReload=/bin/sh -c 'echo r >> {}'\n",
                reloads.display()
            )),
        ),
        ("plain.service", &sleeper(&pre)),
        (
            "slow.service",
            &sleeper(&format!(
                "ExecStop=/bin/sh -c 'while [ ! -e {stop} ]; do sleep 0.02; done'\n\
                 ExecReload=/bin/sh -c 'echo r >> {reloads}'\n",
                stop = stop.display(),
                reloads = reloads.display()
            )),
        ),
    ]);
    let joined = |n: usize| m.wait_log_count("r.service", "reload joins the start", n);

    m.vigil_ok(&["start", "--no-block", "r"]);
    m.wait_state("r.service", "starting");
    let mut client = m.vigil_in_background(&["reload", "r"]);
    joined(1);
    assert!(
        client.try_wait().unwrap().is_none(),
        "answered before the start"
    );
    fs::write(&go, "").unwrap();
    let out = harness::finished(client, "the reload");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(m.state("r.service"), "running");

    // A start that fails fails the reload too.
    m.vigil_ok(&["stop", "r"]);
    fs::write(&rc, "4").unwrap();
    m.vigil_ok(&["start", "--no-block", "r"]);
    m.wait_state("r.service", "starting");
    client = m.vigil_in_background(&["reload", "r"]);
    joined(2);
    fs::write(&go, "").unwrap();
    let out = harness::finished(client, "the reload");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stderr(&out).contains("exit code 4"), "{}", text(&out));
    fs::remove_file(&rc).unwrap();

    // --no-block: answered at once, the start goes on.
    m.vigil_ok(&["start", "--no-block", "r"]);
    m.wait_state("r.service", "starting");
    m.vigil_ok(&["reload", "--no-block", "r"]);
    joined(3);
    fs::write(&go, "").unwrap();
    m.wait_state("r.service", "running");
    assert!(!reloads.exists(), "ExecReload= ran");

    let out = m.vigil(&["start", "--no-block", "plain"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    m.wait_state("plain.service", "starting");
    let out = m.vigil(&["reload", "plain"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stderr(&out).contains("no ExecReload="), "{}", text(&out));
    fs::write(&go, "").unwrap();
    m.wait_state("plain.service", "running");

    // The stop of a restart: the reload waits for the restart, as
    // `systemctl reload` for the restart job it was merged into.
    m.vigil_ok(&["start", "slow"]);
    let old = m.main_pid("slow.service");
    m.vigil_ok(&["restart", "--no-block", "slow"]);
    m.wait_state("slow.service", "stopping");
    let client = m.vigil_in_background(&["reload", "slow"]);
    m.wait_log("slow.service", "reload joins the restart");
    fs::write(&stop, "").unwrap();
    let out = harness::finished(client, "the reload");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(m.state("slow.service"), "running");
    assert_ne!(m.main_pid("slow.service"), old);
    assert!(!reloads.exists(), "ExecReload= ran");
}

/// systemctl ignores a masked unit for the try- verbs: nothing to restart,
/// success; reload-or-restart says it cannot be had.
#[test]
fn the_try_verbs_leave_a_masked_unit_alone() {
    let m = Manager::start(&[("default.target", "[Unit]\n")]);
    std::os::unix::fs::symlink("/dev/null", m.config.join("masked.service")).unwrap();
    m.vigil_ok(&["sync"]);
    for verb in ["try-restart", "try-reload-or-restart"] {
        let out = m.vigil(&[verb, "masked"]);
        assert_eq!(out.status.code(), Some(0), "{verb}: {}", text(&out));
    }
    let out = m.vigil(&["reload-or-restart", "masked"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(stderr(&out).contains("is masked"), "{}", text(&out));
}

/// As systemd: the try- verbs ask for a restart, which `RefuseManualStart=`
/// or `RefuseManualStop=` refuses whether the unit is up or down (systemd
/// checks the job asked for before it collapses); a unit that can reload is
/// asked for a reload by try-reload-or-restart, which they do not refuse.
#[test]
fn the_try_verbs_are_refused_for_a_unit_that_refuses_manual_start_or_stop() {
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=nostop.service\n"),
        (
            "nostart.service",
            &sleeper("[Unit]\nRefuseManualStart=yes\n"),
        ),
        ("nostop.service", &sleeper("[Unit]\nRefuseManualStop=yes\n")),
        (
            "reloads.service",
            &format!("{}[Unit]\nRefuseManualStart=yes\n", reloadable("/dev/null")),
        ),
    ]);
    m.wait_state("nostop.service", "running");
    let pid = m.main_pid("nostop.service");
    for (unit, directive) in [
        ("nostart", "RefuseManualStart=yes"),
        ("nostop", "RefuseManualStop=yes"),
    ] {
        for verb in ["try-restart", "condrestart", "try-reload-or-restart"] {
            let out = m.vigil(&[verb, unit]);
            assert_ne!(out.status.code(), Some(0), "{verb} {unit}: {}", text(&out));
            assert!(
                stderr(&out).contains(directive),
                "{verb} {unit}: {}",
                text(&out)
            );
        }
    }
    assert_eq!(
        m.main_pid("nostop.service"),
        pid,
        "restarted though refused"
    );
    assert!(!ever_changed(&m, "nostart.service"));
    let out = m.vigil(&["try-reload-or-restart", "reloads"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!ever_changed(&m, "reloads.service"));
}

// ------------------------------------------------------------------- cat

/// `cat` prints the file the unit was read from and each drop-in applied
/// over it, in order, each under `# PATH` and after an empty line, as
/// systemctl cat does (a file without its last newline gets one); an
/// instance shows its template's file and the template's drop-ins.
#[test]
fn cat_prints_the_unit_file_and_its_drop_ins_under_their_paths() {
    let web = "[Service]\nExecStart=/bin/sleep 1000\n";
    let m = Manager::start(&[
        ("default.target", "[Unit]\n"),
        ("web.service", web),
        ("web.service.d/20-b.conf", "[Unit]\nDescription=b"),
        ("web.service.d/10-a.conf", "[Service]\nEnvironment=A=1\n"),
        ("worker@.service", "[Service]\nExecStart=/bin/sleep %i\n"),
        ("worker@.service.d/x.conf", "[Unit]\nDescription=w\n"),
    ]);
    let c = m.config.display().to_string();
    let out = m.vigil(&["cat", "web"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "# {c}/web.service\n{web}\n# {c}/web.service.d/10-a.conf\n[Service]\nEnvironment=A=1\n\
             \n# {c}/web.service.d/20-b.conf\n[Unit]\nDescription=b\n"
        )
    );
    // Two units: an empty line between them; an instance not loaded is read
    // from its template, as status shows it.
    let out = m.vigil_ok(&["cat", "default.target", "worker@5"]);
    assert_eq!(
        out,
        format!(
            "# {c}/default.target\n[Unit]\n\n# {c}/worker@.service\n[Service]\nExecStart=/bin/sleep %i\n\
             \n# {c}/worker@.service.d/x.conf\n[Unit]\nDescription=w\n"
        )
    );
}

/// A name with no file is an error that names it, exit 1 (systemctl: "No
/// files found for NAME."), whether there is no such unit, it is masked or
/// built in; the units that have files are printed all the same.
#[test]
fn cat_of_a_unit_without_a_file_names_it_and_exits_1() {
    let m = Manager::start(&[
        ("default.target", "[Unit]\n"),
        ("web.service", "[Service]\nExecStart=/bin/sleep 1000\n"),
    ]);
    std::os::unix::fs::symlink("/dev/null", m.config.join("gone.service")).unwrap();
    m.vigil_ok(&["sync"]);
    let out = m.vigil(&["cat", "nope"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        stderr(&out),
        "vigil: no files found for nope.service: no such unit\n"
    );
    assert!(out.stdout.is_empty());
    let out = m.vigil(&["cat", "nope", "web", "gone", "basic.target"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = stderr(&out);
    assert!(said.contains("no files found for nope.service"), "{said}");
    assert!(
        said.contains("no files found for gone.service: unit gone.service is masked"),
        "{said}"
    );
    assert!(
        said.contains("no files found for basic.target: it is built in"),
        "{said}"
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.starts_with(&format!("# {}/web.service\n", m.config.display())),
        "{printed}"
    );
}

/// `cat` of a template (`foo@`, `foo@.service`, or an alias of it) prints
/// its file and the drop-ins that apply to it, as systemctl cat does (it
/// was refused: a template is no unit); a drop-in of another directory
/// comes under its own path; a template no directory has, or masked, is
/// said, exit 1, the others printed all the same.
#[test]
fn cat_prints_a_templates_file_and_drop_ins() {
    let template = "[Service]\nExecStart=/bin/sleep %i\n";
    let (m, lib) = with_vendor_units(&[
        ("w@.service", template),
        ("w@.service.d/10-lib.conf", "[Unit]\nDescription=lib\n"),
    ]);
    let (c, l) = (
        m.config.display().to_string(),
        lib.path().display().to_string(),
    );
    harness::write_file(
        &m.config.join("w@.service.d/20-etc.conf"),
        "[Unit]\nDescription=etc",
    );
    std::os::unix::fs::symlink(lib.path().join("w@.service"), m.config.join("v@.service")).unwrap();
    std::os::unix::fs::symlink("/dev/null", m.config.join("gone@.service")).unwrap();
    let printed = format!(
        "# {l}/w@.service\n{template}\n# {l}/w@.service.d/10-lib.conf\n[Unit]\nDescription=lib\n\
         \n# {c}/w@.service.d/20-etc.conf\n[Unit]\nDescription=etc\n"
    );
    for name in ["w@", "w@.service", "v@"] {
        let out = m.vigil(&["cat", name]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), printed, "{name}");
        assert!(out.stderr.is_empty(), "{name}: {}", text(&out));
    }
    // With a unit, an empty line between them, each once.
    let out = m.vigil_ok(&["cat", "w@", "default.target", "v@"]);
    assert_eq!(out, format!("{printed}\n# {c}/default.target\n[Unit]\n"));
    let out = m.vigil(&["cat", "nope@", "w@", "gone@"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), printed);
    let said = stderr(&out);
    assert!(
        said.contains("vigil: no files found for nope@.service: no such unit\n"),
        "{said}"
    );
    assert!(
        said.contains("no files found for gone@.service: unit gone@.service is masked"),
        "{said}"
    );
}

/// A unit whose file changed on disk since it was read: `status` warns on
/// stderr, after the unit, in systemctl's words with vigil's verb (its
/// exit code unchanged), and `cat` says what it prints is not what is
/// loaded before printing the files as they are now; after `vigil sync`,
/// neither. `--json status` has `need_daemon_reload`.
#[test]
fn status_and_cat_warn_of_a_unit_file_changed_on_disk() {
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=web.service\n"),
        ("web.service", &sleeper("")),
        ("other.service", &sleeper("")),
    ]);
    m.wait_state("web.service", "running");
    let warning = "Warning: The unit file, source configuration file or drop-ins of web.service \
                   changed on disk. Run 'vigil sync' to reload units.\n";
    let out = m.vigil(&["status", "web"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(out.stderr.is_empty(), "{}", text(&out));
    assert!(
        m.status_json("web.service")
            .get("need_daemon_reload")
            .is_none()
    );
    harness::write_file(
        &m.config.join("web.service.d/env.conf"),
        "[Service]\nEnvironment=A=1\n",
    );
    let out = m.vigil(&["status", "web", "other"]);
    assert_eq!(out.status.code(), Some(3), "other is down: {}", text(&out));
    assert_eq!(stderr(&out), warning);
    assert_eq!(m.status_json("web.service")["need_daemon_reload"], true);
    // The files as they are now, the new drop-in not among them (it is
    // not what was loaded), and the warning first.
    let out = m.vigil(&["cat", "web"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = stderr(&out);
    assert!(
        said.starts_with(
            "# Warning: web.service changed on disk, the version vigil has loaded is outdated.\n"
        ),
        "{said}"
    );
    assert!(
        said.ends_with("# Run 'vigil sync' to reload units.\n"),
        "{said}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("# {}/web.service\n{}", m.config.display(), sleeper(""))
    );
    m.vigil_ok(&["sync"]);
    for args in [&["status", "web"][..], &["cat", "web"]] {
        let out = m.vigil(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        assert!(out.stderr.is_empty(), "{args:?}: {}", text(&out));
    }
}

// ------------------------------------------------- enable and disable say

/// `enable` and `disable` say each link they made or removed, on stderr, in
/// systemctl's words: `Created symlink LINK → FILE.` (the file the link
/// names, though the link is relative) and `Removed "LINK".`; nothing when
/// nothing changed, nor with `-q`.
#[test]
fn enable_and_disable_say_each_link_made_or_removed() {
    let m = Manager::start(&[
        ("default.target", "[Unit]\n"),
        (
            "svc.service",
            "[Service]\nExecStart=/bin/sleep 1000\n[Install]\nWantedBy=default.target\nAlias=www.service\n",
        ),
    ]);
    let c = m.config.display().to_string();
    let out = m.vigil(&["enable", "svc"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "Created symlink {c}/default.target.wants/svc.service \u{2192} {c}/svc.service.\n\
             Created symlink {c}/www.service \u{2192} {c}/svc.service.\n"
        )
    );
    assert_eq!(
        fs::read_link(m.config.join("default.target.wants/svc.service")).unwrap(),
        std::path::Path::new("../svc.service")
    );
    // Enabled already: nothing changed, nothing said.
    assert_eq!(text(&m.vigil(&["enable", "svc"])), "");
    let out = m.vigil(&["disable", "svc"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "Removed \"{c}/default.target.wants/svc.service\".\nRemoved \"{c}/www.service\".\n"
        )
    );
    let out = m.vigil(&["enable", "-q", "svc"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(text(&out), "");
    assert!(fs::symlink_metadata(m.config.join("www.service")).is_ok());
    assert_eq!(text(&m.vigil(&["disable", "--quiet", "svc"])), "");
    assert!(fs::symlink_metadata(m.config.join("www.service")).is_err());
}

// ----------------------------------------------------------- mask, unmask

/// A manager whose units come from a package's directory (`lib`), after the
/// admin's (the harness's, where enable and mask write).
fn with_vendor_units(units: &[(&str, &str)]) -> (Manager, TempDir) {
    let lib = TempDir::new("lib");
    for (name, text) in units {
        harness::write_file(&lib.path().join(name), text);
    }
    let dir = lib.path().display().to_string();
    let m = Manager::start_with(&[("default.target", "[Unit]\n")], &["--config-dir", &dir]);
    (m, lib)
}

/// `mask` links the name to /dev/null in the admin's directory (said as
/// systemctl says it) and the manager knows at once: the unit is `masked`
/// and cannot be started, even by hand. `unmask` removes the link (said
/// too), and the unit starts again. Doing either twice changes nothing.
#[test]
fn mask_makes_a_unit_impossible_to_start_and_unmask_undoes_it() {
    let (m, lib) = with_vendor_units(&[("svc.service", &sleeper(""))]);
    let c = m.config.display().to_string();
    let link = m.config.join("svc.service");
    let out = m.vigil(&["mask", "svc"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        stderr(&out),
        format!("Created symlink {c}/svc.service \u{2192} /dev/null.\n")
    );
    assert_eq!(
        fs::read_link(&link).unwrap(),
        std::path::Path::new("/dev/null")
    );
    assert_eq!(m.vigil_code(&["is-enabled", "svc"], 1), "masked\n");
    // No `vigil sync` in between: the mask holds at once.
    let out = m.vigil(&["start", "svc"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stderr(&out).contains("svc.service is masked"),
        "{}",
        text(&out)
    );
    assert_eq!(text(&m.vigil(&["mask", "svc"])), "", "masked twice");
    // The package's file is untouched.
    assert!(lib.path().join("svc.service").is_file());
    let out = m.vigil(&["unmask", "svc"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(stderr(&out), format!("Removed \"{c}/svc.service\".\n"));
    assert!(fs::symlink_metadata(&link).is_err());
    assert_eq!(text(&m.vigil(&["unmask", "svc"])), "", "unmasked twice");
    m.vigil_ok(&["start", "svc"]);
    assert_eq!(m.state("svc.service"), "running");
}

/// A running unit that is masked runs on, and can be stopped; it cannot be
/// started again. A name with no unit may be masked too (before its
/// package is installed), as systemctl allows.
#[test]
fn a_running_unit_that_is_masked_runs_on_until_stopped() {
    let (m, _lib) = with_vendor_units(&[("svc.service", &sleeper(""))]);
    m.vigil_ok(&["start", "svc"]);
    let pid = m.main_pid("svc.service");
    m.vigil_ok(&["mask", "-q", "svc", "notyet"]);
    assert!(alive(pid));
    assert_eq!(m.main_pid("svc.service"), pid);
    assert_eq!(m.state("svc.service"), "running");
    for verb in ["start", "restart"] {
        let out = m.vigil(&[verb, "svc"]);
        assert_ne!(out.status.code(), Some(0), "{verb}: {}", text(&out));
        assert!(
            stderr(&out).contains("svc.service is masked"),
            "{}",
            text(&out)
        );
    }
    assert_eq!(m.main_pid("svc.service"), pid);
    m.vigil_ok(&["stop", "svc"]);
    assert!(!alive(pid));
    let out = m.vigil(&["start", "svc"]);
    assert!(
        stderr(&out).contains("svc.service is masked"),
        "{}",
        text(&out)
    );
    assert_eq!(
        fs::read_link(m.config.join("notyet.service")).unwrap(),
        std::path::Path::new("/dev/null")
    );
}

/// What is at the name in the admin's directory and is not a mask is left
/// alone: `mask` refuses the admin's own unit file (the mask would hide it
/// for good) and a link elsewhere, and then changes nothing for the other
/// names either (exit 1, why); `unmask` removes nothing but a link to
/// /dev/null, and says when a mask elsewhere still holds.
#[test]
fn mask_and_unmask_leave_what_is_not_a_mask_alone() {
    let (m, lib) = with_vendor_units(&[("a.service", &sleeper("")), ("b.service", &sleeper(""))]);
    harness::write_file(&m.config.join("own.service"), &sleeper(""));
    std::os::unix::fs::symlink(
        lib.path().join("b.service"),
        m.config.join("linked.service"),
    )
    .unwrap();
    std::os::unix::fs::symlink("/dev/null", lib.path().join("pkg.service")).unwrap();
    m.vigil_ok(&["sync"]);
    let out = m.vigil(&["mask", "a", "own"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("own.service is a unit file, not a link")
            && stderr(&out).contains("nothing was changed"),
        "{}",
        text(&out)
    );
    assert!(fs::symlink_metadata(m.config.join("a.service")).is_err());
    assert!(m.config.join("own.service").is_file());
    let out = m.vigil(&["mask", "linked"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("does not point to /dev/null"),
        "{}",
        text(&out)
    );
    m.vigil_ok(&["unmask", "own", "linked"]);
    assert!(m.config.join("own.service").is_file());
    assert!(fs::symlink_metadata(m.config.join("linked.service")).is_ok());
    let out = m.vigil(&["unmask", "pkg"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stderr(&out).contains("pkg.service is still masked by"),
        "{}",
        text(&out)
    );
    assert!(fs::symlink_metadata(lib.path().join("pkg.service")).is_ok());
    // A pattern names no file: a usage error, as for is-enabled.
    assert_eq!(m.vigil(&["mask", "a*"]).status.code(), Some(2));
}

/// Masking changes the system as enable does: root and the manager's own
/// user only.
#[test]
fn mask_is_refused_to_a_user_who_may_only_read() {
    if !harness::require_root("mask_is_refused_to_a_user_who_may_only_read") {
        return;
    }
    let (m, _lib) = with_vendor_units(&[("svc.service", &sleeper(""))]);
    for verb in ["mask", "unmask"] {
        let out = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(harness::vigil_bin())
            .arg("--socket")
            .arg(&m.socket)
            .args([verb, "svc"])
            .output()
            .expect("setpriv");
        assert_eq!(out.status.code(), Some(1), "{verb}: {}", text(&out));
        assert!(stderr(&out).contains("permission denied"), "{}", text(&out));
    }
    assert!(fs::symlink_metadata(m.config.join("svc.service")).is_err());
}

/// A start that requires a masked unit fails (exit 1, nothing started) and
/// says the unit is masked, as systemctl's `Unit bar.service is masked.`:
/// in the answer, the status and the unit's log, where it said "not found".
/// An instance of a masked template is masked too; a name no file has is
/// still "not found"; an isolate and a restart are refused saying so.
#[test]
fn a_start_that_requires_a_masked_unit_says_it_is_masked() {
    let needs =
        |what: &str| format!("[Unit]\nRequires={what}\n[Service]\nExecStart=/bin/sleep 1000\n");
    let (m, _lib) = with_vendor_units(&[
        ("bar.service", &sleeper("")),
        ("tpl@.service", &sleeper("")),
        ("app.service", &needs("bar.service")),
        ("inst.service", &needs("tpl@x.service")),
        ("lost.service", &needs("nowhere.service")),
        (
            "iso.target",
            "[Unit]\nAllowIsolate=yes\nRequires=bar.service\n",
        ),
    ]);
    m.vigil_ok(&["mask", "-q", "bar", "tpl@"]);
    let out = m.vigil(&["start", "app"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        stderr(&out),
        "vigil: app.service: inactive (dependency failed: bar.service is masked)\n"
    );
    assert!(!ever_changed(&m, "bar.service"));
    m.wait_log("app.service", "required unit bar.service is masked");
    let status = text(&m.vigil(&["status", "app"]));
    assert!(!status.contains("not found"), "{status}");
    assert_eq!(
        m.status_json("app.service")["reason"],
        "dependency failed: bar.service is masked"
    );
    let out = m.vigil(&["start", "inst"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("dependency failed: tpl@x.service is masked"),
        "{}",
        text(&out)
    );
    m.wait_log("inst.service", "required unit tpl@x.service is masked");
    let out = m.vigil(&["start", "lost"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("dependency failed: nowhere.service not found"),
        "{}",
        text(&out)
    );
    let out = m.vigil(&["isolate", "iso"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("dependency failed: bar.service is masked"),
        "{}",
        text(&out)
    );
    // Unmasked, the same start works: nothing was kept of the mask.
    m.vigil_ok(&["unmask", "-q", "bar"]);
    m.vigil_ok(&["start", "app"]);
    assert_eq!(m.state("bar.service"), "running");
}

// --------------------------------------------------------- list-unit-files

/// `list-unit-files`: a line per unit file with its state, systemctl's
/// columns sorted as it sorts them (by type, then name), and the count after
/// an empty line; patterns and `--state` choose lines; `--json` gives
/// `{unit_file, state}` objects; nothing listed is exit 1, as systemctl's.
#[test]
fn list_unit_files_lists_each_file_with_its_state() {
    let installed = sleeper("[Install]\nWantedBy=default.target\n");
    let (m, _lib) = with_vendor_units(&[
        ("a.service", &installed),
        ("b.service", &sleeper("")),
        ("bad.service", &sleeper("Type=nonsense\n")),
        ("t@.service", &installed),
    ]);
    m.vigil_ok(&["enable", "-q", "a"]);
    m.vigil_ok(&["mask", "-q", "m"]);
    let out = m.vigil(&["list-unit-files"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let rows = [
        ("UNIT FILE", "STATE"),
        ("a.service", "enabled"),
        ("b.service", "static"),
        ("bad.service", "bad"),
        ("m.service", "masked"),
        ("t@.service", "disabled"),
        ("default.target", "static"),
    ];
    let table: String = rows.iter().map(|(u, s)| format!("{u:<16}{s}\n")).collect();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{table}\n6 unit files listed.\n")
    );
    let out = m.vigil_ok(&["list-unit-files", "b*", "--state=static,bad"]);
    assert_eq!(
        out,
        "UNIT FILE    STATE\nb.service    static\nbad.service  bad\n\n2 unit files listed.\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&m.vigil_ok(&["--json", "list-unit-files", "*.target"])).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{"unit_file": "default.target", "state": "static"}])
    );
    let out = m.vigil(&["list-unit-files", "nothing*"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "UNIT FILE  STATE\n\n0 unit files listed.\n"
    );
}

/// `is-enabled` of a template whose instance is enabled says systemctl's
/// `indirect`, exit 0 as for `enabled` (it said `disabled`, exit 1);
/// list-unit-files says the same; with the instance disabled again the
/// template is `disabled`, exit 1.
#[test]
fn a_template_whose_instance_is_enabled_is_indirect() {
    let (m, _lib) = with_vendor_units(&[(
        "foo@.service",
        &sleeper("[Install]\nWantedBy=default.target\n"),
    )]);
    m.vigil_ok(&["enable", "-q", "foo@x.service"]);
    for name in ["foo@.service", "foo@"] {
        let out = m.vigil(&["is-enabled", name]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "indirect\n", "{name}");
    }
    assert_eq!(m.vigil_ok(&["is-enabled", "foo@x"]), "enabled\n");
    let out = m.vigil_ok(&["list-unit-files", "foo@*"]);
    assert!(out.contains("foo@.service  indirect\n"), "{out}");
    m.vigil_ok(&["disable", "-q", "foo@x.service"]);
    let out = m.vigil(&["is-enabled", "foo@"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "disabled\n");
}

/// A tester's finding: a unit `waiting` said nothing of what for. The status
/// names the units its start waits for, until they have settled.
#[test]
fn status_says_what_a_waiting_start_waits_for() {
    let d = TempDir::new("waiting-for");
    let gate = d.path().join("gate");
    let slow = format!(
        "[Service]\nExecStartPre=/bin/sh -c 'while [ ! -e {} ]; do sleep 0.01; done'\n\
         ExecStart=/bin/sleep 1000\n",
        gate.display()
    );
    let m = Manager::start(&[
        ("slow.service", &slow),
        ("other.service", "[Service]\nExecStart=/bin/sleep 1000\n"),
        (
            "app.service",
            "[Unit]\nRequires=slow.service other.service\n\
             After=slow.service other.service\n[Service]\nExecStart=/bin/sleep 1000\n",
        ),
    ]);
    m.vigil_ok(&["start", "--no-block", "app"]);
    m.wait_state("other.service", "running");
    m.wait_state("app.service", "waiting");
    // Not active: exit 3, as systemctl status.
    let status = text(&m.vigil(&["status", "app"]));
    assert!(status.contains("\nwaiting for: slow.service\n"), "{status}");
    assert_eq!(
        m.status_json("app.service")["waiting_for"][0],
        "slow.service"
    );
    fs::write(&gate, "").unwrap();
    m.wait_state("app.service", "running");
    let status = m.vigil_ok(&["status", "app"]);
    assert!(!status.contains("waiting for"), "{status}");
    assert!(m.status_json("app.service").get("waiting_for").is_none());
}
