//! The execution environment of systemd.exec(5) with real processes: each
//! test starts a child through `prepare` + `spawn` that reports what it sees of
//! itself (/proc/self/limits, /proc/$$/stat, `ionice`, `id`, its environment)
//! into files of a temporary directory.

mod support;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use support::{again_as_nobody, require_root, run, sh, temp_dir};

use vigil_platform::exec::ExecStatus;
use vigil_platform::process::ExitStatus;
use vigil_spawn::{Context, DirectoryRoots, SpawnError, Stdio, prepare};
use vigil_units::{
    CpuPolicy, DirectoryKind, ExecCommand, FileMode, Input, IoClass, Limit, Resource, Service,
    TtyMode, WorkingDir, WorkingDirectory,
};

fn to_file(path: &Path) -> Context {
    Context {
        stdout: Stdio::File {
            path: path.to_path_buf(),
            mode: FileMode::Truncate,
        },
        ..Context::default()
    }
}

const OK: (ExecStatus, ExitStatus) = (ExecStatus::Succeeded, ExitStatus::Exited(0));

fn limit(soft: Option<u64>, hard: Option<u64>) -> Limit {
    Limit { soft, hard }
}

/// `(soft, hard)` of one line of /proc/self/limits, by its label.
fn proc_limit(text: &str, label: &str) -> (String, String) {
    let line = text
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} in {text}"));
    let mut fields = line[label.len()..].split_whitespace();
    (
        fields.next().unwrap().to_owned(),
        fields.next().unwrap().to_owned(),
    )
}

#[test]
fn every_limit_directive_reaches_the_child() {
    let dir = temp_dir("limits");
    let out = dir.join("limits");
    // Values at or below every usual hard limit, so an unprivileged run may set
    // them too, and large enough for `cat` to run.
    let limits = [
        (Resource::Cpu, limit(Some(60), Some(120)), "Max cpu time"),
        (Resource::Fsize, limit(Some(1 << 30), None), "Max file size"),
        (Resource::Data, limit(Some(1 << 30), None), "Max data size"),
        (
            Resource::Stack,
            limit(Some(8 << 20), None),
            "Max stack size",
        ),
        (
            Resource::Core,
            limit(Some(0), Some(0)),
            "Max core file size",
        ),
        (
            Resource::Rss,
            limit(Some(1 << 29), None),
            "Max resident set",
        ),
        (
            Resource::Nproc,
            limit(Some(1000), Some(2000)),
            "Max processes",
        ),
        (
            Resource::Nofile,
            limit(Some(64), Some(128)),
            "Max open files",
        ),
        (
            Resource::Memlock,
            limit(Some(65536), Some(65536)),
            "Max locked memory",
        ),
        (
            Resource::As,
            limit(Some(4 << 30), None),
            "Max address space",
        ),
        (
            Resource::Locks,
            limit(Some(100), Some(100)),
            "Max file locks",
        ),
        (
            Resource::Sigpending,
            limit(Some(99), Some(99)),
            "Max pending signals",
        ),
        (
            Resource::Msgqueue,
            limit(Some(8192), Some(8192)),
            "Max msgqueue size",
        ),
        (Resource::Nice, limit(Some(0), Some(0)), "Max nice priority"),
        (
            Resource::Rtprio,
            limit(Some(0), Some(0)),
            "Max realtime priority",
        ),
        (
            Resource::Rttime,
            limit(Some(5000), Some(10000)),
            "Max realtime timeout",
        ),
    ];
    let service = Service {
        limits: limits.iter().map(|(r, l, _)| (*r, *l)).collect(),
        ..Service::default()
    };
    let cat = ExecCommand {
        program: "cat".into(),
        argv: vec!["cat".into(), "/proc/self/limits".into()],
        ..sh("")
    };
    assert_eq!(run(&service, &cat, to_file(&out)), OK);
    let text = std::fs::read_to_string(&out).unwrap();
    let show = |v: Option<u64>| v.map_or("unlimited".to_string(), |n| n.to_string());
    for (resource, l, label) in &limits {
        assert_eq!(
            proc_limit(&text, label),
            (show(l.soft), show(l.hard)),
            "{resource:?}"
        );
    }
    println!("{} limits checked in /proc/self/limits", limits.len());
}

#[test]
fn a_limit_above_what_the_kernel_allows_is_lowered_to_the_closest_as_systemd_does() {
    // Above fs.nr_open, which not even root may exceed (and above the hard limit,
    // which only CAP_SYS_RESOURCE may raise): both limits become the current hard
    // limit instead of failing the start (systemd's setrlimit_closest).
    let hard = nofile_hard_limit();
    let service = Service {
        limits: vec![(Resource::Nofile, limit(Some(1 << 40), Some(1 << 40)))].into(),
        ..Service::default()
    };
    let script = format!("test \"$(ulimit -Hn)\" = {hard} && test \"$(ulimit -Sn)\" = {hard}");
    let (exec, status) = run(&service, &sh(&script), Context::default());
    assert_eq!(exec, ExecStatus::Succeeded);
    assert_eq!(status, ExitStatus::Exited(0), "limits other than {hard}");
}

#[test]
fn nice_oom_score_io_and_cpu_scheduling_and_sigpipe() {
    let dir = temp_dir("sched");
    let out = dir.join("sched");
    // Lowering one's priority needs no privilege: these run unprivileged too.
    let service = Service {
        nice: Some(7),
        oom_score_adjust: Some(432),
        io_class: Some(IoClass::BestEffort),
        io_priority: Some(6),
        cpu_policy: Some(CpuPolicy::Batch),
        ..Service::default()
    };
    // /proc/PID/stat: field 19 is the nice value, 41 the policy; SigIgn is a
    // hex mask in which SIGPIPE (13) is bit 12.
    // (`$$` is a literal `$` on a unit's command line.)
    let script = "set -e; stat=$$(cat /proc/$$$$/stat); stat=$${stat##*) }; \
                  set -- $$stat; shift 16; echo nice=$$1; shift 22; echo policy=$$1; \
                  echo oom=$$(cat /proc/$$$$/oom_score_adj); \
                  echo io=$$(ionice -p $$$$); \
                  grep SigIgn /proc/$$$$/status";
    assert_eq!(run(&service, &sh(script), to_file(&out)), OK);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "nice=7", "{text}");
    assert_eq!(lines[1], "policy=3", "SCHED_BATCH: {text}");
    assert_eq!(lines[2], "oom=432", "{text}");
    assert_eq!(lines[3], "io=best-effort: prio 6", "{text}");
    let ignored = u64::from_str_radix(lines[4].split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert_eq!(
        ignored & (1 << 12),
        1 << 12,
        "SIGPIPE ignored by default: {text}"
    );

    // IgnoreSIGPIPE=no: the default disposition, like every other signal.
    let default_pipe = Service {
        ignore_sigpipe: false,
        ..Service::default()
    };
    assert_eq!(
        run(
            &default_pipe,
            &sh("grep SigIgn /proc/$$$$/status"),
            to_file(&out)
        ),
        OK
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let ignored = u64::from_str_radix(text.split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert_eq!(ignored, 0, "{text}");

    // The idle class carries no level.
    let idle = Service {
        io_class: Some(IoClass::Idle),
        ..Service::default()
    };
    assert_eq!(run(&idle, &sh("ionice -p $$$$"), to_file(&out)), OK);
    assert_eq!(std::fs::read_to_string(&out).unwrap().trim(), "idle");
}

/// One capability set of this process (`CapEff`, `CapBnd`...), from /proc/self/status.
fn capabilities(set: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix(set)?.strip_prefix(':'))
        .unwrap()
        .trim();
    u64::from_str_radix(hex, 16).unwrap()
}

/// Whether this process has a capability (a bit of CapEff).
fn has_capability(bit: u32) -> bool {
    capabilities("CapEff") & (1 << bit) != 0
}

#[test]
fn privileges_a_service_lacks_fail_at_their_stage() {
    // Lowering the OOM score needs CAP_SYS_RESOURCE (24), which root in a
    // container may lack: then, as systemd does, the service starts with the
    // score it inherits. Raising the priority needs CAP_SYS_NICE (23). As
    // root, both ways: without them as nobody first, then with them.
    again_as_nobody("privileges_a_service_lacks_fail_at_their_stage");
    let oom = Service {
        oom_score_adjust: Some(-500),
        ..Service::default()
    };
    let dir = temp_dir("oom");
    let out = dir.join("oom");
    let (exec, _) = run(&oom, &sh("cat /proc/self/oom_score_adj"), to_file(&out));
    assert_eq!(exec, ExecStatus::Succeeded);
    let inherited = std::fs::read_to_string("/proc/self/oom_score_adj").unwrap();
    let want = if has_capability(24) {
        "-500"
    } else {
        inherited.trim()
    };
    assert_eq!(std::fs::read_to_string(&out).unwrap().trim(), want);
    let nice = Service {
        nice: Some(-3),
        ..Service::default()
    };
    let (exec, _) = run(&nice, &sh("exit 0"), Context::default());
    if has_capability(23) {
        assert_eq!(exec, ExecStatus::Succeeded);
    } else {
        assert_eq!(
            exec,
            ExecStatus::Failed {
                stage: "nice (Nice=)",
                errno: 13 // EACCES
            }
        );
    }
}

fn directories_service() -> Service {
    let mut service = Service::default();
    let runtime = service.directories_mut(DirectoryKind::Runtime);
    runtime.paths = vec!["app".into(), "app/nested/deep".into()];
    runtime.mode = 0o750;
    service.directories_mut(DirectoryKind::State).paths = vec!["app".into()];
    service.directories_mut(DirectoryKind::Cache).paths = vec!["app".into()];
    service.directories_mut(DirectoryKind::Logs).paths = vec!["app".into()];
    let conf = service.directories_mut(DirectoryKind::Configuration);
    conf.paths = vec!["app".into()];
    conf.mode = 0o700;
    service
}

fn roots_in(dir: &Path) -> DirectoryRoots {
    DirectoryRoots {
        runtime: Some(dir.join("run")),
        state: Some(dir.join("lib")),
        cache: Some(dir.join("cache")),
        logs: Some(dir.join("log")),
        configuration: Some(dir.join("etc")),
    }
}

#[test]
fn directories_are_created_with_their_mode_and_exported() {
    let dir = temp_dir("dirs");
    let out = dir.join("env.out");
    let service = directories_service();
    let ctx = Context {
        directory_roots: Some(roots_in(&dir)),
        ..to_file(&out)
    };
    let script = "echo $RUNTIME_DIRECTORY; echo $STATE_DIRECTORY; echo $CACHE_DIRECTORY; \
                  echo $LOGS_DIRECTORY; echo $CONFIGURATION_DIRECTORY";
    assert_eq!(run(&service, &sh(script), ctx), OK);
    let d = dir.display();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        format!(
            "{d}/run/app:{d}/run/app/nested/deep\n{d}/lib/app\n{d}/cache/app\n{d}/log/app\n{d}/etc/app\n"
        )
    );
    let mode = |p: &str| std::fs::metadata(dir.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("run/app"), 0o750);
    assert_eq!(mode("run/app/nested/deep"), 0o750);
    assert_eq!(mode("run/app/nested"), 0o755, "parents get 0755");
    assert_eq!(mode("lib/app"), 0o755);
    assert_eq!(mode("etc/app"), 0o700);

    // An existing directory gets the configured mode back at the next start.
    std::fs::set_permissions(
        dir.join("lib/app"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let ctx = Context {
        directory_roots: Some(roots_in(&dir)),
        ..Context::default()
    };
    assert_eq!(run(&service, &sh("exit 0"), ctx), OK);
    assert_eq!(mode("lib/app"), 0o755);

    // Stopping removes the runtime directories only.
    assert!(vigil_spawn::directories::remove_runtime(&service, &roots_in(&dir)).is_empty());
    assert!(!dir.join("run/app").exists());
    assert!(dir.join("run").exists() && dir.join("lib/app").exists());

    // A file in the way fails the start, naming the directive.
    std::fs::remove_dir_all(dir.join("cache/app")).unwrap();
    std::fs::write(dir.join("cache/app"), "").unwrap();
    let ctx = Context {
        directory_roots: Some(roots_in(&dir)),
        ..Context::default()
    };
    let err = prepare("test.service", &service, &sh("exit 0"), ctx).unwrap_err();
    assert!(matches!(err, SpawnError::Directory { .. }), "{err:?}");
    assert!(err.to_string().starts_with("CacheDirectory: "), "{err}");
    assert_eq!(err.stage(), "directories");
}

/// `(uid, gid, mode)` of `path` itself.
fn owner_and_mode(path: &Path) -> (u32, u32, u32) {
    let m = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

/// A root-only directory with `sub/file` in it, which no setup may touch.
fn victim(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.join("sub")).unwrap();
    std::fs::write(path.join("sub/file"), "secret").unwrap();
    for (p, mode) in [
        (path.to_path_buf(), 0o700),
        (path.join("sub"), 0o700),
        (path.join("sub/file"), 0o600),
    ] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

fn assert_untouched(victim: &Path) {
    assert_eq!(owner_and_mode(victim), (0, 0, 0o700));
    assert_eq!(owner_and_mode(&victim.join("sub")), (0, 0, 0o700));
    assert_eq!(owner_and_mode(&victim.join("sub/file")), (0, 0, 0o600));
    assert_eq!(
        std::fs::read_to_string(victim.join("sub/file")).unwrap(),
        "secret"
    );
}

#[test]
fn a_link_put_in_the_middle_of_a_directory_path_is_never_followed() {
    if !require_root("handing directories to another user") {
        return;
    }
    // The user owns lib/app, so it can replace lib/app/mid with a link to a
    // directory of root's; the next start must neither chmod nor chown through it.
    let dir = temp_dir("midlink");
    let roots = roots_in(&dir);
    let user = Some((4244, 4244));
    let mut service = Service::default();
    service.directories_mut(DirectoryKind::State).paths = vec!["app".into(), "app/mid/sub".into()];
    vigil_spawn::directories::set_up(&service, &roots, user).unwrap();
    assert_eq!(owner_and_mode(&dir.join("lib/app/mid")), (0, 0, 0o755));
    assert_eq!(
        owner_and_mode(&dir.join("lib/app/mid/sub")),
        (4244, 4244, 0o755)
    );

    let target = dir.join("victim3");
    victim(&target);
    std::fs::rename(dir.join("lib/app/mid"), dir.join("lib/app/mid.old")).unwrap();
    std::os::unix::fs::symlink(&target, dir.join("lib/app/mid")).unwrap();
    let ctx = Context {
        directory_roots: Some(roots.clone()),
        ..Context::default()
    };
    let err = prepare("test.service", &service, &sh("exit 0"), ctx).unwrap_err();
    assert_eq!(err.stage(), "directories");
    assert_eq!(err.errno(), vigil_platform::errno::codes::ELOOP, "{err}");
    let link = dir.join("lib/app/mid");
    assert_eq!(
        err.to_string(),
        format!(
            "StateDirectory: {} is a symbolic link, which is never followed",
            link.display()
        )
    );
    assert_untouched(&target);
}

#[test]
fn runtime_directories_are_set_up_and_removed_without_following_links() {
    if !require_root("handing directories to another user") {
        return;
    }
    let dir = temp_dir("runlink");
    let roots = roots_in(&dir);
    let user = Some((4244, 4244));
    let mut service = Service::default();
    service.directories_mut(DirectoryKind::Runtime).paths = vec!["r4/mid/inner".into()];
    service.directories_mut(DirectoryKind::Runtime).mode = 0o777;

    // A link inside the directory is removed with it; what it points to stays.
    let kept = dir.join("kept");
    victim(&kept);
    vigil_spawn::directories::set_up(&service, &roots, user).unwrap();
    let inner = dir.join("run/r4/mid/inner");
    std::os::unix::fs::symlink(&kept, inner.join("link")).unwrap();
    std::os::unix::fs::symlink(kept.join("sub"), inner.join("sublink")).unwrap();
    assert!(vigil_spawn::directories::remove_runtime(&service, &roots).is_empty());
    assert!(!inner.exists() && dir.join("run/r4/mid").exists());
    assert_untouched(&kept);

    // The user replaces mid (in its own r4) with a link: the start fails, and the
    // stop removes nothing through it.
    vigil_spawn::directories::set_up(&service, &roots, user).unwrap();
    std::fs::set_permissions(
        dir.join("run/r4"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::lchown(dir.join("run/r4"), Some(4244), Some(4244)).unwrap();
    let target = dir.join("victim2");
    victim(&target);
    std::fs::rename(target.join("sub"), target.join("inner")).unwrap();
    std::fs::rename(dir.join("run/r4/mid"), dir.join("run/r4/mid.old")).unwrap();
    std::os::unix::fs::symlink(&target, dir.join("run/r4/mid")).unwrap();
    let err = vigil_spawn::directories::set_up(&service, &roots, user).unwrap_err();
    assert!(
        err.to_string().contains("r4/mid is a symbolic link"),
        "{err}"
    );
    assert_eq!(owner_and_mode(&target.join("inner")), (0, 0, 0o700));
    let failed = vigil_spawn::directories::remove_runtime(&service, &roots);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, inner);
    assert_eq!(
        failed[0].1.raw_os_error(),
        Some(vigil_platform::errno::codes::ELOOP)
    );
    std::fs::rename(target.join("inner"), target.join("sub")).unwrap();
    assert_untouched(&target);
}

fn passwd_entry(name: &str) -> vigil_spawn::users::UserEntry {
    vigil_spawn::users::parse_passwd(&std::fs::read_to_string("/etc/passwd").unwrap())
        .into_iter()
        .find(|u| u.name == name)
        .unwrap_or_else(|| panic!("no {name} in /etc/passwd"))
}

#[test]
fn directories_belong_to_the_user_except_configuration() {
    if !require_root("handing directories to User=") {
        return;
    }
    let dir = temp_dir("owned");
    let nobody = passwd_entry("nobody");
    let mut service = directories_service();
    *service.user = Some("nobody".into());
    // A state directory left by an earlier run as another user is handed over,
    // with what is inside.
    std::fs::create_dir_all(dir.join("lib/app/sub")).unwrap();
    std::fs::write(dir.join("lib/app/sub/file"), "x").unwrap();
    let ctx = Context {
        directory_roots: Some(roots_in(&dir)),
        ..Context::default()
    };
    assert_eq!(run(&service, &sh("touch $STATE_DIRECTORY/mine"), ctx), OK);
    let owner = |p: &str| {
        let m = std::fs::symlink_metadata(dir.join(p)).unwrap();
        (m.uid(), m.gid())
    };
    let user = (nobody.uid, nobody.gid);
    for p in [
        "run/app",
        "run/app/nested/deep",
        "lib/app",
        "lib/app/sub",
        "lib/app/sub/file",
        "lib/app/mine",
        "cache/app",
        "log/app",
    ] {
        assert_eq!(owner(p), user, "{p}");
    }
    assert_eq!(owner("run/app/nested"), (0, 0), "parents stay root's");
    assert_eq!(
        owner("etc/app"),
        (0, 0),
        "ConfigurationDirectory= stays root's"
    );

    // PermissionsStartOnly=: the privileged command runs as root, and the
    // directories are still the user's.
    let out = dir.join("id.out");
    let ctx = Context {
        directory_roots: Some(roots_in(&dir)),
        privileged: true,
        ..to_file(&out)
    };
    assert_eq!(run(&service, &sh("id -u; echo $USER"), ctx), OK);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "0\nnobody\n");
    assert_eq!(owner("lib/app"), user);
}

#[test]
fn the_working_directory_is_entered_as_the_services_user() {
    if !require_root("switching users") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("cwd-user");
    let private = dir.join("rootonly");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = dir.join("pwd.out");
    let cmd = sh(&format!("pwd > {}", out.display()));
    let mut service = Service::default();
    *service.user = Some("nobody".into());
    *service.working_directory = Some(WorkingDir {
        dir: WorkingDirectory::Path(private.clone()),
        optional: false,
    });
    // nobody cannot enter root's 0700 directory: the start fails, as systemd's
    // does (200/CHDIR), instead of running in a directory it cannot read.
    assert_eq!(
        run(&service, &cmd, Context::default()),
        (
            ExecStatus::Failed {
                stage: "chdir",
                errno: 13
            },
            ExitStatus::Exited(127)
        )
    );
    assert!(!out.exists());

    // A command with the manager's privileges (`+`, PermissionsStartOnly=)
    // enters it as root.
    let privileged = Context {
        privileged: true,
        ..Context::default()
    };
    assert_eq!(run(&service, &cmd, privileged), OK);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap().trim(),
        private.to_str().unwrap()
    );

    // `WorkingDirectory=-DIR`: the user stays where the manager is.
    std::fs::remove_file(&out).unwrap();
    *service.working_directory = Some(WorkingDir {
        dir: WorkingDirectory::Path(private.clone()),
        optional: true,
    });
    assert_eq!(run(&service, &cmd, Context::default()), OK);
    let here = std::env::current_dir().unwrap();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap().trim(),
        here.to_str().unwrap()
    );
}

#[test]
fn supplementary_groups_numeric_ids_and_initgroups() {
    if !require_root("switching users") {
        return;
    }
    let dir = temp_dir("groups");
    let out = dir.join("id.out");
    let nobody = passwd_entry("nobody");
    let service = Service {
        user: Some("nobody".into()).into(),
        supplementary_groups: vec!["root".into(), "4242".into()].into(),
        ..Service::default()
    };
    assert_eq!(run(&service, &sh("id -u; id -g; id -G"), to_file(&out)), OK);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        format!("{}\n{}\n{} 0 4242\n", nobody.uid, nobody.gid, nobody.gid)
    );

    // Group= replaces the primary group in the list initgroups builds.
    let with_group = Service {
        group: Some("4343".into()).into(),
        ..service.clone()
    };
    assert_eq!(run(&with_group, &sh("id -g; id -G"), to_file(&out)), OK);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "4343\n4343 0 4242\n"
    );

    // A uid without an /etc/passwd entry: its own number as gid.
    let numeric = Service {
        user: Some("4244".into()).into(),
        ..Service::default()
    };
    assert_eq!(run(&numeric, &sh("id -u; id -g; id -G"), to_file(&out)), OK);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "4244\n4244\n4244\n");

    // Without User=, SupplementaryGroups= alone replaces the manager's groups.
    let only_groups = Service {
        supplementary_groups: vec!["4245".into()].into(),
        ..Service::default()
    };
    assert_eq!(run(&only_groups, &sh("id -u; id -G"), to_file(&out)), OK);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "0\n0 4245\n");

    let unknown = Service {
        supplementary_groups: vec!["vigil-no-such-group".into()].into(),
        ..Service::default()
    };
    let err = prepare("t.service", &unknown, &sh("true"), Context::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "SupplementaryGroups=vigil-no-such-group: no such group in /etc/group"
    );
    let unknown_user = Service {
        user: Some("vigil-no-such-user".into()).into(),
        ..Service::default()
    };
    let err = prepare("t.service", &unknown_user, &sh("true"), Context::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "User=vigil-no-such-user: no such user in /etc/passwd"
    );
}

#[test]
fn dynamic_user_gets_a_free_id_and_owns_its_state() {
    if !require_root("DynamicUser=") {
        return;
    }
    let dir = temp_dir("dynamic");
    let out = dir.join("id.out");
    let mut service = Service {
        dynamic_user: true,
        ..Service::default()
    };
    service.directories_mut(DirectoryKind::State).paths = vec!["dyn".into()];
    let account = vigil_spawn::dynamic_account("vigil-dyn-test.service", &service, &[]).unwrap();
    assert_eq!(account.name, "vigil-dyn-test");
    assert!(!account.is_static);
    assert!((61184..=65519).contains(&account.uid));
    assert_eq!(account.uid, account.gid);
    // A running service of another name holds that id: the next one is different.
    let foreign = vigil_spawn::DynamicAccount {
        name: "vigil-dyn-other".into(),
        ..account.clone()
    };
    let other =
        vigil_spawn::dynamic_account("vigil-dyn-test.service", &service, &[&foreign]).unwrap();
    assert_ne!(other.uid, account.uid);
    // One of the same name shares it, whatever id the hash would give: an
    // instance of a template is its prefix, like the plain unit.
    let shared = vigil_spawn::DynamicAccount {
        uid: other.uid,
        gid: other.gid,
        ..account.clone()
    };
    let instance =
        vigil_spawn::dynamic_account("vigil-dyn-test@b.service", &service, &[&foreign, &shared])
            .unwrap();
    assert_eq!(instance, shared);

    let ctx = Context {
        dynamic_user: Some(account.clone()),
        directory_roots: Some(roots_in(&dir)),
        ..to_file(&out)
    };
    assert_eq!(
        run(&service, &sh("id -u; id -g; id -G; echo $USER $HOME"), ctx),
        OK
    );
    let id = account.uid;
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        format!("{id}\n{id}\n{id}\nvigil-dyn-test /\n")
    );
    let meta = std::fs::metadata(dir.join("lib/dyn")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (id, id));

    // A User= that names a static user is used as it is.
    let named = Service {
        user: Some("nobody".into()).into(),
        ..service.clone()
    };
    let account = vigil_spawn::dynamic_account("x.service", &named, &[]).unwrap();
    assert!(account.is_static);
    assert_eq!(account.uid, passwd_entry("nobody").uid);
}

#[test]
fn stdin_from_data_and_from_a_file() {
    let dir = temp_dir("stdin");
    let out = dir.join("stdin.out");
    let service = Service {
        stdin: Input::Data,
        stdin_data: b"line one\nline two\n".to_vec().into(),
        ..Service::default()
    };
    let ctx = Context {
        stdin: vigil_spawn::stdin_for(&service),
        ..to_file(&out)
    };
    assert_eq!(run(&service, &sh("cat"), ctx), OK);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "line one\nline two\n"
    );

    std::fs::write(dir.join("in"), "from a file\n").unwrap();
    let service = Service {
        stdin: Input::File(dir.join("in")),
        ..Service::default()
    };
    let ctx = Context {
        stdin: vigil_spawn::stdin_for(&service),
        ..to_file(&out)
    };
    assert_eq!(run(&service, &sh("cat"), ctx), OK);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "from a file\n");
}

#[test]
fn tty_fail_refuses_a_path_that_is_not_a_terminal() {
    // TTYPath=/dev/null opens, but cannot become a controlling terminal:
    // tty-fail fails at its stage, tty carries on without one.
    let service = Service {
        stdin: Input::Tty(TtyMode::Fail),
        tty_path: Some("/dev/null".into()).into(),
        ..Service::default()
    };
    let ctx = Context {
        stdin: vigil_spawn::stdin_for(&service),
        ..Context::default()
    };
    let (exec, status) = run(&service, &sh("exit 0"), ctx);
    assert_eq!(
        exec,
        ExecStatus::Failed {
            stage: "tty (StandardInput=)",
            errno: 25 // ENOTTY
        }
    );
    assert_eq!(status, ExitStatus::Exited(127));
    let lenient = Service {
        stdin: Input::Tty(TtyMode::Try),
        ..service
    };
    let ctx = Context {
        stdin: vigil_spawn::stdin_for(&lenient),
        stdout: Stdio::Tty("/dev/null".into()),
        ..Context::default()
    };
    assert_eq!(run(&lenient, &sh("exit 0"), ctx), OK);
}

/// This process's hard RLIMIT_NOFILE (a child inherits it).
fn nofile_hard_limit() -> u64 {
    let (_, hard) =
        vigil_platform::process::get_rlimit(vigil_platform::exec::RlimitResource::Nofile);
    hard.expect("a finite hard limit of open files")
}

/// A Python program that prints its capability sets (`CapInh=... CapPrm=...
/// CapEff=... CapAmb=...`), then what binding 127.0.0.1:`port` gives (`bound` or
/// an errno name such as `EACCES`).
fn capability_probe(port: u16) -> ExecCommand {
    let python = ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("python3 in /usr/bin or /usr/local/bin");
    let script = format!(
        "import errno, socket\n\
         caps = dict(l.split()[:2] for l in open('/proc/self/status') if l.startswith('Cap'))\n\
         print(' '.join(k + '=' + caps[k + ':'] for k in ('CapInh', 'CapPrm', 'CapEff', 'CapAmb')))\n\
         s = socket.socket()\n\
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         try:\n    s.bind(('127.0.0.1', {port})); print('bound')\n\
         except OSError as e:\n    print(errno.errorcode.get(e.errno, e.errno))\n"
    );
    ExecCommand {
        program: python.into(),
        argv: vec![python.into(), "-c".into(), script],
        ..sh("")
    }
}

/// A privileged port (below 1024) nothing listens on, found by binding it.
fn free_low_port() -> u16 {
    (81..1024)
        .find(|&p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        .expect("a free port below 1024")
}

/// The bounding set of this process (which its children inherit).
fn bounding_set() -> u64 {
    capabilities("CapBnd")
}

#[test]
fn ambient_capabilities_let_a_non_root_user_bind_a_privileged_port() {
    if !require_root("switching users") {
        return;
    }
    const NET_BIND: u64 = 1 << 10;
    let dir = temp_dir("ambient");
    let out = dir.join("caps");
    let port = free_low_port();
    let unprivileged_start =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .map_or(1024, |s| s.trim().parse::<u32>().unwrap());
    // A capability the manager cannot grant, if this system has one (a
    // container's root often lacks CAP_SYS_RESOURCE, 24): left out silently,
    // as systemd does.
    let missing = (0..=40u32).find(|&bit| bounding_set() & (1 << bit) == 0);
    let report = |user: &str, ambient: u64, ctx: Context| {
        let service = Service {
            user: Some(user.into()).into(),
            ambient_capabilities: ambient,
            ..Service::default()
        };
        let (exec, status) = run(&service, &capability_probe(port), ctx);
        assert_eq!((exec, status), OK, "{user} {ambient:#x}");
        std::fs::read_to_string(&out).unwrap()
    };

    // nobody (from /etc/passwd) and a uid without an entry.
    for user in ["nobody", "4242"] {
        let asked = NET_BIND | missing.map_or(0, |bit| 1 << bit);
        let text = report(user, asked, to_file(&out));
        println!("{user} with CAP_NET_BIND_SERVICE on port {port}: {text:?}");
        assert_eq!(
            text,
            "CapInh=0000000000000400 CapPrm=0000000000000400 CapEff=0000000000000400 \
             CapAmb=0000000000000400\nbound\n",
            "{user}: exactly CAP_NET_BIND_SERVICE, everywhere (missing bit: {missing:?})"
        );

        let text = report(user, 0, to_file(&out));
        println!("{user} without: {text:?}");
        let refused = if u32::from(port) >= unprivileged_start {
            println!("ip_unprivileged_port_start={unprivileged_start}: anyone may bind {port}");
            "bound"
        } else {
            "EACCES"
        };
        assert_eq!(
            text,
            format!(
                "CapInh=0000000000000000 CapPrm=0000000000000000 CapEff=0000000000000000 \
                 CapAmb=0000000000000000\n{refused}\n"
            )
        );
    }

    // Root without User= keeps everything and gets the ambient capability too.
    let root = Service {
        ambient_capabilities: NET_BIND,
        ..Service::default()
    };
    assert_eq!(run(&root, &capability_probe(port), to_file(&out)), OK);
    let text = std::fs::read_to_string(&out).unwrap();
    println!("root: {text:?}");
    let bnd = format!("{:016x}", bounding_set());
    assert_eq!(
        text,
        format!(
            "CapInh=0000000000000400 CapPrm={bnd} CapEff={bnd} CapAmb=0000000000000400\nbound\n"
        )
    );

    // `+` and PermissionsStartOnly=: root with its own sets, no ambient ones.
    let privileged = Context {
        privileged: true,
        ..to_file(&out)
    };
    let text = report("nobody", NET_BIND, privileged);
    assert_eq!(
        text,
        format!(
            "CapInh=0000000000000000 CapPrm={bnd} CapEff={bnd} CapAmb=0000000000000000\nbound\n"
        )
    );
}

#[test]
fn capability_bounding_set_limits_root_and_what_ambient_can_grant() {
    if !require_root("dropping capabilities from the bounding set") {
        return;
    }
    const NET_BIND: u64 = 1 << 10;
    const NET_RAW: u64 = 1 << 13;
    let dir = temp_dir("bounding");
    let out = dir.join("caps");
    let caps = sh("grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status | tr -s '\\t\\n' '  '");
    let run_with = |service: &Service, ctx: Context| {
        assert_eq!(run(service, &caps, ctx), OK);
        std::fs::read_to_string(&out).unwrap()
    };
    // Root keeps only what the bounding set keeps, through exec.
    let root = Service {
        capability_bounding_set: Some(NET_BIND | NET_RAW),
        ..Service::default()
    };
    let text = run_with(&root, to_file(&out));
    println!("root, CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_NET_RAW: {text:?}");
    assert_eq!(
        text,
        "CapInh: 0000000000000000 CapPrm: 0000000000002400 CapEff: 0000000000002400 \
         CapBnd: 0000000000002400 CapAmb: 0000000000000000 "
    );
    // An ambient capability outside the unit's bounding set is left out.
    let nobody = Service {
        user: Some("nobody".into()).into(),
        ambient_capabilities: NET_BIND | NET_RAW,
        capability_bounding_set: Some(NET_RAW),
        ..Service::default()
    };
    let text = run_with(&nobody, to_file(&out));
    println!("nobody, ambient NET_BIND+NET_RAW, bounding NET_RAW: {text:?}");
    assert_eq!(
        text,
        "CapInh: 0000000000002000 CapPrm: 0000000000002000 CapEff: 0000000000002000 \
         CapBnd: 0000000000002000 CapAmb: 0000000000002000 "
    );
    // Empty: nothing at all, even for root.
    let empty = Service {
        capability_bounding_set: Some(0),
        ..Service::default()
    };
    let text = run_with(&empty, to_file(&out));
    assert_eq!(
        text,
        "CapInh: 0000000000000000 CapPrm: 0000000000000000 CapEff: 0000000000000000 \
         CapBnd: 0000000000000000 CapAmb: 0000000000000000 "
    );
    // `+` and PermissionsStartOnly=: the manager's own bounding set.
    let privileged = Context {
        privileged: true,
        ..to_file(&out)
    };
    let text = run_with(&empty, privileged);
    let bnd = format!("{:016x}", bounding_set());
    assert_eq!(
        text,
        format!(
            "CapInh: 0000000000000000 CapPrm: {bnd} CapEff: {bnd} CapBnd: {bnd} \
             CapAmb: 0000000000000000 "
        )
    );
}
