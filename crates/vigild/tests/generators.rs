//! systemd generators: real scripts in a `--generator-dir`, run by a real
//! vigild before it reads its unit directories, at start and at each `vigil
//! sync` or SIGHUP; their outputs go beside the control socket (the test's
//! directory), never to /run. docs/UNITS.md, "Generators".

mod harness;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use harness::{
    Manager, TempDir, alive, children, require_root, send_signal, wait_until, write_file,
};

/// Writes an executable shell script `name` into `dir`; returns its path.
fn generator(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    harness::write_executable(&path, &format!("#!/bin/sh\nset -e\n{body}"));
    path
}

/// A oneshot that appends `text` to `file` and stays active.
fn writer(file: &Path, text: &str) -> String {
    format!(
        "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c 'echo {text} >> {}'\n",
        file.display()
    )
}

fn lines_of(file: &Path) -> Vec<String> {
    let mut lines: Vec<String> = fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

/// postgresql-common's case: its generator links an instance of the
/// template, in another unit directory, into `postgresql.service.wants/`
/// for each cluster; without generators `vigil start postgresql` ran its
/// /bin/true and started no cluster.
#[test]
fn a_generators_wants_link_to_a_template_starts_the_instance() {
    let gens = TempDir::new("gen-pg");
    let vendor = TempDir::new("gen-pg-vendor");
    let ran = vendor.path().join("ran");
    write_file(
        &vendor.path().join("postgresql@.service"),
        &format!(
            "[Unit]\nPartOf=postgresql.service\n{}",
            writer(&ran, "cluster-%i")
        ),
    );
    let template = vendor.path().join("postgresql@.service");
    generator(
        gens.path(),
        "postgresql-generator",
        &format!(
            "mkdir -p \"$1/postgresql.service.wants\"\n\
             ln -s {} \"$1/postgresql.service.wants/postgresql@15-main.service\"\n",
            template.display()
        ),
    );
    let gen_dir = gens.path().display().to_string();
    let vendor_dir = vendor.path().display().to_string();
    let mut m = Manager::start_with(
        &[
            ("default.target", "[Unit]\nWants=postgresql.service\n"),
            (
                "postgresql.service",
                "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
            ),
        ],
        &["--generator-dir", &gen_dir, "--config-dir", &vendor_dir],
    );
    m.expect_stderr("generators: 1 run in");
    m.wait_state("postgresql@15-main.service", "exited");
    assert_eq!(lines_of(&ran), ["cluster-15-main"]);
    // Where the link is: the normal output, beside the control socket.
    let link = m
        .dir
        .path()
        .join("generator/postgresql.service.wants/postgresql@15-main.service");
    assert_eq!(fs::read_link(&link).unwrap(), template);
    // `vigil start postgresql` now starts the cluster too.
    m.vigil_ok(&["stop", "postgresql", "postgresql@15-main"]);
    m.vigil_ok(&["start", "postgresql"]);
    wait_until("the cluster to start again", || lines_of(&ran).len() == 2);
}

/// The three outputs' places in the unit path: generator.early before the
/// first (the administrator's) directory, generator after it and before
/// the vendor's, generator.late after everything. A unit and a drop-in
/// written into the early directory override the administrator's own.
#[test]
fn the_early_output_overrides_the_first_directory_and_the_others_rank_below() {
    let gens = TempDir::new("gen-order");
    let vendor = TempDir::new("gen-order-vendor");
    let ran = vendor.path().join("ran");
    let unit = |text: &str| writer(&ran, text);
    write_file(
        &vendor.path().join("vendored.service"),
        &unit("vendored-vendor"),
    );
    write_file(&vendor.path().join("late.service"), &unit("late-vendor"));
    generator(
        gens.path(),
        "order-generator",
        &format!(
            "printf '%s' \"{over}\" > \"$2/over.service\"\n\
             mkdir -p \"$2/tuned.service.d\"\n\
             printf '[Service]\\nEnvironment=WHO=early\\n' > \"$2/tuned.service.d/10-who.conf\"\n\
             printf '%s' \"{kept}\" > \"$1/kept.service\"\n\
             printf '%s' \"{vendored}\" > \"$1/vendored.service\"\n\
             printf '%s' \"{late}\" > \"$3/late.service\"\n\
             printf '%s' \"{only}\" > \"$3/only-late.service\"\n",
            over = unit("over-early"),
            kept = unit("kept-normal"),
            vendored = unit("vendored-normal"),
            late = unit("late-late"),
            only = unit("only-late"),
        ),
    );
    let tuned = format!(
        "[Service]\nType=oneshot\nRemainAfterExit=yes\nEnvironment=WHO=config\n\
         ExecStart=/bin/sh -c 'echo tuned-$$WHO >> {}'\n",
        ran.display()
    );
    let units = ["over", "tuned", "kept", "vendored", "late", "only-late"];
    let wants = format!(
        "[Unit]\nWants={}\n",
        units.map(|u| format!("{u}.service")).join(" ")
    );
    let (over, kept) = (unit("over-config"), unit("kept-config"));
    let gen_dir = gens.path().display().to_string();
    let vendor_dir = vendor.path().display().to_string();
    let m = Manager::start_with(
        &[
            ("default.target", &wants),
            ("over.service", &over),
            ("tuned.service", &tuned),
            (
                "tuned.service.d/10-who.conf",
                "[Service]\nEnvironment=WHO=config-drop-in\n",
            ),
            ("kept.service", &kept),
        ],
        &["--generator-dir", &gen_dir, "--config-dir", &vendor_dir],
    );
    for u in units {
        m.wait_state(&format!("{u}.service"), "exited");
    }
    assert_eq!(
        lines_of(&ran),
        [
            "kept-config",
            "late-vendor",
            "only-late",
            "over-early",
            "tuned-early",
            "vendored-normal"
        ]
    );
    let source = m.status_json("over.service")["source"].clone();
    let early = m.dir.path().join("generator.early/over.service");
    assert_eq!(source, early.display().to_string());
}

/// As systemctl: a unit a generator made is `generated` (exit 0) for
/// is-enabled and show's UnitFileState, not `not-found`, as are its
/// templates, their instances and its alias links; a unit of the
/// configuration directories keeps its own word.
#[test]
fn is_enabled_says_generated_for_a_generators_unit() {
    let gens = TempDir::new("gen-enabled");
    generator(
        gens.path(),
        "made-generator",
        "printf '[Service]\\nExecStart=/bin/sleep 1000\\n' > \"$1/made.service\"\n\
         cp \"$1/made.service\" \"$1/made@.service\"\n\
         ln -s made.service \"$1/also-made.service\"\n",
    );
    let gen_dir = gens.path().display().to_string();
    let mut m = Manager::start_with(
        &[
            ("default.target", "[Unit]\n"),
            ("plain.service", "[Service]\nExecStart=/bin/sleep 1000\n"),
        ],
        &["--generator-dir", &gen_dir],
    );
    m.expect_stderr("generators: 1 run in");
    assert_eq!(m.vigil_ok(&["is-enabled", "made"]), "generated\n");
    assert_eq!(
        m.vigil_ok(&["is-enabled", "made", "plain", "nowhere"]),
        "generated\nstatic\nnot-found\n"
    );
    assert_eq!(m.vigil_code(&["is-enabled", "nowhere"], 1), "not-found\n");
    // Its template, an instance of it and an alias link it made too; and
    // `show` says what is-enabled says.
    assert_eq!(
        m.vigil_ok(&["is-enabled", "made@", "made@x", "also-made"]),
        "generated\ngenerated\ngenerated\n"
    );
    let state = m.vigil_ok(&["show", "made", "-p", "UnitFileState", "--value"]);
    assert_eq!(state, "generated\n");
}

/// `vigil sync` and SIGHUP run the generators again on emptied outputs: a
/// unit gone from their output is removed as any unit whose file went (a
/// running one keeps running, `file removed`), a new one is added.
#[test]
fn sync_and_sighup_run_the_generators_again() {
    let gens = TempDir::new("gen-sync");
    let list = gens.path().join("list");
    let runs = gens.path().join("runs");
    fs::write(&list, "a\n").unwrap();
    generator(
        gens.path(),
        "list-generator",
        &format!(
            "echo run >> {runs}\n\
             mkdir -p \"$1/default.target.wants\"\n\
             for w in $(cat {list}); do\n\
             printf '[Service]\\nExecStart=/bin/sleep 1000\\n' > \"$1/gen-$w.service\"\n\
             ln -s ../gen-$w.service \"$1/default.target.wants/gen-$w.service\"\n\
             done\n",
            runs = runs.display(),
            list = list.display()
        ),
    );
    let gen_dir = gens.path().display().to_string();
    let mut m = Manager::start_with(
        &[("default.target", "[Unit]\n")],
        &["--generator-dir", &gen_dir],
    );
    m.wait_state("gen-a.service", "running");
    let a_pid = m.main_pid("gen-a.service");

    fs::write(&list, "b\n").unwrap();
    let synced = m.vigil_ok(&["sync"]);
    assert!(synced.contains("added gen-b.service"), "{synced}");
    assert!(synced.contains("removed gen-a.service"), "{synced}");
    assert!(!m.dir.path().join("generator/gen-a.service").exists());
    m.wait_state("gen-b.service", "running");
    let st = m.status_json("gen-a.service");
    assert_eq!(st["reason"], "file removed", "{st}");
    assert_eq!(m.main_pid("gen-a.service"), a_pid);
    m.vigil_ok(&["stop", "gen-a.service"]);
    assert!(!alive(a_pid));

    fs::write(&list, "c\n").unwrap();
    assert!(send_signal(m.pid(), "HUP"));
    m.expect_stderr("SIGHUP: rescanned: 1 added, 1 removed");
    m.wait_state("gen-c.service", "running");
    assert_eq!(
        lines_of(&runs).len(),
        3,
        "once at start, at the sync, at SIGHUP"
    );
}

/// A generator that fails (exit 1, with a word on stderr), one that cannot
/// be executed and one that hangs past the bound are each named with why;
/// the hung one is killed; the others' output loads all the same, and
/// `vigil sync` names the failures as it names load errors.
#[test]
fn failing_and_hanging_generators_are_named_and_the_others_output_loads() {
    let gens = TempDir::new("gen-fail");
    let pid_file = gens.path().join("hang.pid");
    let fail = generator(
        gens.path(),
        "fail-generator",
        "echo 'no clusters configured here' >&2\nexit 1\n",
    );
    let hang = generator(
        gens.path(),
        "hang-generator",
        &format!("echo $$ > {}\nexec sleep 1000\n", pid_file.display()),
    );
    let broken = gens.path().join("broken-generator");
    write_file(&broken, "#!/nonexistent/interpreter\n");
    fs::set_permissions(&broken, fs::Permissions::from_mode(0o755)).unwrap();
    let good = generator(
        gens.path(),
        "good-generator",
        "mkdir -p \"$1/default.target.wants\"\n\
         printf '[Service]\\nExecStart=/bin/sleep 1000\\n' > \"$1/good.service\"\n\
         ln -s ../good.service \"$1/default.target.wants/good.service\"\n\
         echo made good.service\n",
    );
    let gen_dir = gens.path().display().to_string();
    let mut m = Manager::start_with(
        &[("default.target", "[Unit]\n")],
        &["--generator-dir", &gen_dir, "--generator-timeout", "3"],
    );
    let (fail, hang, broken, good) = (
        fail.display().to_string(),
        hang.display().to_string(),
        broken.display().to_string(),
        good.display().to_string(),
    );
    m.expect_stderr(&format!(
        "warning: generator {fail}: no clusters configured here"
    ));
    m.expect_stderr(&format!(
        "error: generator {fail} failed: exited with status 1"
    ));
    m.expect_stderr(&format!(
        "error: generator {broken} failed: cannot run: exec: No such file"
    ));
    m.expect_stderr(&format!(
        "error: generator {hang} failed: still running after 3 s"
    ));
    m.expect_stderr(&format!("generator {good}: made good.service"));
    let line = m.expect_stderr("generators: 4 run in");
    assert!(line.ends_with(", 3 failed"), "{line}");
    let hung: u32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_until("the hung generator to be gone", || !alive(hung));
    m.wait_state("good.service", "running");

    let synced = m.vigil(&["sync"]);
    assert_eq!(synced.status.code(), Some(0));
    let err = String::from_utf8_lossy(&synced.stderr);
    assert!(
        err.contains(&format!(
            "vigil: {fail}: error: generator failed: exited with status 1"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "vigil: {hang}: error: generator failed: still running"
        )),
        "{err}"
    );
    assert_eq!(m.state("good.service"), "running");
}

/// systemd's own generators (`systemd-*`) are not run, nor are files
/// without an execute bit or empty ones (each said); the rest run.
#[test]
fn systemds_own_generators_and_files_that_cannot_run_are_skipped() {
    let gens = TempDir::new("gen-skip");
    let marker = gens.path().join("systemd-ran");
    generator(
        gens.path(),
        "systemd-test-generator",
        &format!(
            "touch {}\nprintf '[Service]\\nExecStart=/bin/true\\n' > \"$1/from-systemd.service\"\n",
            marker.display()
        ),
    );
    let plain = gens.path().join("noexec-generator");
    write_file(&plain, "#!/bin/sh\nexit 0\n");
    let empty = gens.path().join("empty-generator");
    write_file(&empty, "");
    fs::set_permissions(&empty, fs::Permissions::from_mode(0o755)).unwrap();
    generator(
        gens.path(),
        "other-generator",
        "printf '[Service]\\nExecStart=/bin/true\\n' > \"$1/other.service\"\n",
    );
    let gen_dir = gens.path().display().to_string();
    let mut m = Manager::start_with(
        &[("default.target", "[Unit]\n")],
        &["--generator-dir", &gen_dir],
    );
    let line = m.expect_stderr("generators of systemd's own not run");
    assert!(line.ends_with(": systemd-test-generator"), "{line}");
    m.expect_stderr(&format!(
        "generator {}: not executable (no x bit): not run",
        plain.display()
    ));
    m.expect_stderr(&format!(
        "generator {}: an empty file: not run",
        empty.display()
    ));
    m.expect_stderr("generators: 1 run in");
    assert_eq!(m.state("other.service"), "inactive");
    assert_eq!(m.vigil(&["status", "from-systemd"]).status.code(), Some(4));
    assert!(!marker.exists());
}

/// Under vigil-init (whose manager must reap every child it starts, or have
/// its status reach the next manager), the generators run again at the
/// start after a crash and at `vigil reexec`, where systemd runs them at
/// daemon-reexec: the unit they made keeps running, started once, and no
/// generator is left a zombie of the manager.
#[test]
fn under_vigil_init_generators_run_again_after_a_crash_and_a_reexec() {
    if !require_root("under_vigil_init_generators_run_again_after_a_crash_and_a_reexec") {
        return;
    }
    let gens = TempDir::new("gen-init");
    let runs = gens.path().join("runs");
    let starts = gens.path().join("starts");
    generator(
        gens.path(),
        "svc-generator",
        &format!(
            "echo run >> {runs}\n\
             mkdir -p \"$1/default.target.wants\"\n\
             cat > \"$1/gen.service\" <<'EOF'\n\
             [Service]\n\
             ExecStart=/bin/sh -c 'echo $$$$ >> {starts}; exec sleep 1000'\n\
             EOF\n\
             ln -s ../gen.service \"$1/default.target.wants/gen.service\"\n",
            runs = runs.display(),
            starts = starts.display()
        ),
    );
    let gen_dir = gens.path().display().to_string();
    let m = Manager::start_under_init(
        &[("default.target", "[Unit]\n")],
        &["--generator-dir", &gen_dir],
    );
    m.wait_state("gen.service", "running");
    let pid = m.main_pid("gen.service");

    m.kill_vigild(|| {});
    m.wait_state("gen.service", "running");
    wait_until("a second run", || lines_of(&runs).len() == 2);
    m.vigil_ok(&["reexec"]);
    wait_until("a third run", || lines_of(&runs).len() == 3);
    m.wait_state("gen.service", "running");
    assert_eq!(m.main_pid("gen.service"), pid);
    assert_eq!(lines_of(&starts).len(), 1, "gen.service started once");

    let vigild = m.vigild_pid().expect("a vigild");
    for child in children(vigild) {
        let stat = fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next());
        assert_ne!(state, Some("Z"), "a zombie child of vigild: {stat}");
    }
}
