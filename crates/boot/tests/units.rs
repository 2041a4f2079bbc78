//! The shipped unit files load cleanly with vigil's own parser, and an
//! enabled set (the symlinks `vigil enable` makes) gives the dependencies
//! the boot order relies on.

use std::fs;
use std::path::PathBuf;

use vigil_units::load::load_dirs;
use vigil_units::specifier::SpecifierContext;

fn units_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("units")
}

const SERVICES: [&str; 9] = [
    "vigil-hostname.service",
    "vigil-sysctl.service",
    "vigil-modules.service",
    "vigil-fstab.service",
    "vigil-rundirs.service",
    "vigil-swap.service",
    "vigil-machine-id.service",
    "vigil-machine-id-commit.service",
    "vigil-utmp.service",
];

/// The root shells of rescue and emergency mode.
const SHELLS: [&str; 2] = ["rescue.service", "emergency.service"];

/// The standard targets vigil ships (systemd's names, for Debian's units).
const TARGETS: [&str; 36] = [
    "basic.target",
    "bluetooth.target",
    "default.target",
    "emergency.target",
    "exit.target",
    "final.target",
    "getty-pre.target",
    "getty.target",
    "graphical.target",
    "halt.target",
    "kexec.target",
    "local-fs-pre.target",
    "local-fs.target",
    "multi-user.target",
    "network-online.target",
    "network-pre.target",
    "network.target",
    "nss-lookup.target",
    "nss-user-lookup.target",
    "paths.target",
    "poweroff.target",
    "printer.target",
    "reboot.target",
    "remote-fs-pre.target",
    "remote-fs.target",
    "rescue.target",
    "shutdown.target",
    "slices.target",
    "sockets.target",
    "sound.target",
    "swap.target",
    "sysinit.target",
    "time-set.target",
    "time-sync.target",
    "timers.target",
    "umount.target",
];

/// The services sysinit.target wants: the boot duties enabled (it also
/// wants swap.target, as systemd's does).
fn enabled(set: &vigil_units::load::LoadedSet) -> Vec<String> {
    let wants = &set.get("sysinit.target").unwrap().deps.wants;
    wants
        .iter()
        .filter(|w| w.ends_with(".service"))
        .cloned()
        .collect()
}

#[test]
fn shipped_units_load_without_diagnostics() {
    let set = load_dirs(&[units_dir()], &SpecifierContext::from_environment());
    assert!(set.broken.is_empty(), "{:?}", set.broken);
    // graphical.target wants the display manager, which a desktop package
    // provides (Alias=display-manager.service); nothing else is reported.
    let unexpected: Vec<String> = set
        .diagnostics
        .iter()
        .map(|d| d.to_string())
        .filter(|d| !d.contains("unit display-manager.service referenced by graphical.target"))
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
    for name in SERVICES.iter().chain(&TARGETS).chain(&SHELLS) {
        assert!(set.get(name).is_some(), "{name} missing");
    }
    assert!(vigil_engine::find_cycles(&set.units).is_empty());
}

#[test]
fn standard_targets_are_ordered_as_in_systemd() {
    // A service from a distribution, in a directory before vigil's own.
    let dir = std::env::temp_dir().join(format!("vigil-boot-targets-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("multi-user.target.wants")).unwrap();
    fs::write(
        dir.join("web.service"),
        "[Unit]\nWants=network-online.target\nAfter=network-online.target\n\
         [Service]\nExecStart=/bin/web\n[Install]\nWantedBy=multi-user.target\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(
        "../web.service",
        dir.join("multi-user.target.wants/web.service"),
    )
    .unwrap();
    fs::write(
        dir.join("first.service"),
        "[Unit]\nDefaultDependencies=no\nAfter=systemd-remount-fs.service\n\
         [Service]\nExecStart=/bin/first\n",
    )
    .unwrap();
    let set = load_dirs(
        &[dir.clone(), units_dir()],
        &SpecifierContext::from_environment(),
    );
    assert!(set.broken.is_empty(), "{:?}", set.broken);
    let deps = |n: &str| set.get(n).unwrap().deps.clone();
    let has = |list: &[String], n: &str| list.iter().any(|x| x == n);
    // default.target is multi-user.target.
    assert_eq!(set.get("default.target").unwrap().name, "multi-user.target");
    let mu = deps("multi-user.target");
    assert!(has(&mu.requires, "basic.target"));
    assert!(has(&mu.after, "basic.target"));
    // A target is ordered after what it wants (default dependencies).
    assert!(has(&mu.wants, "web.service") && has(&mu.after, "web.service"));
    let basic = deps("basic.target");
    assert!(has(&basic.requires, "sysinit.target") && has(&basic.after, "sysinit.target"));
    assert!(
        has(&basic.after, "local-fs.target"),
        "RequiresMountsFor=/var"
    );
    // What needs a read-write root (Debian's systemd-firstboot, sysusers,
    // random-seed) is ordered after systemd-remount-fs.service:
    // vigil-remount-fs, by an alias (found booting Debian 12: firstboot ran
    // six seconds before the remount, and found /etc read-only). Not
    // vigil-fstab, whose mounts may wait for udev's links: udevd is after
    // sysusers, which is after systemd-remount-fs (a review finding).
    let remount = set.get("systemd-remount-fs.service").unwrap();
    assert_eq!(remount.name, "vigil-remount-fs.service");
    let first = deps("first.service");
    assert!(has(&first.after, "vigil-remount-fs.service"));
    assert!(!has(&first.after, "vigil-fstab.service"));
    assert!(has(
        &deps("vigil-fstab.service").after,
        "vigil-remount-fs.service"
    ));
    let exec = remount.service.as_ref().unwrap();
    assert_eq!(exec.exec_start[0].argv[1..], ["fstab", "--remount"]);
    // Debian's utmp units need systemd's D-Bus: their names are vigil's units,
    // the runlevel's after the target it stands for (which, wanting it, is not
    // ordered after it: no cycle).
    let utmp = |name: &str| set.get(name).unwrap().name.clone();
    assert_eq!(utmp("systemd-update-utmp.service"), "vigil-utmp.service");
    assert_eq!(
        utmp("systemd-update-utmp-runlevel.service"),
        "vigil-utmp-runlevel.service"
    );
    assert!(has(
        &deps("vigil-utmp-runlevel.service").after,
        "multi-user.target"
    ));
    assert!(!has(&mu.after, "vigil-utmp-runlevel.service"));
    let web = deps("web.service");
    for t in ["sysinit.target", "basic.target", "network-online.target"] {
        assert!(has(&web.after, t), "web after {t}");
    }
    assert!(has(&web.requires, "sysinit.target"));
    assert!(has(&web.conflicts, "shutdown.target") && has(&web.before, "shutdown.target"));
    assert!(has(&deps("network-online.target").after, "network.target"));
    assert!(set.get("network.target").unwrap().refuse_manual_start);
    assert!(set.get("shutdown.target").unwrap().refuse_manual_start);
    // The targets a shutdown starts pull in systemd's shutdown chain, and
    // conflict with none of it (no default dependencies).
    for action in ["poweroff", "reboot", "halt", "kexec"] {
        let t = deps(&format!("{action}.target"));
        for late in ["shutdown.target", "umount.target", "final.target"] {
            assert!(
                has(&t.requires, late) && has(&t.after, late),
                "{action} {late}"
            );
        }
        assert!(t.conflicts.is_empty(), "{action}");
    }
    assert!(has(&deps("exit.target").requires, "shutdown.target"));
    assert!(set.get("sound.target").unwrap().stop_when_unneeded);
    assert!(vigil_engine::find_cycles(&set.units).is_empty());
    fs::remove_dir_all(&dir).unwrap();
}

/// rescue.target and emergency.target require their root shells, which are
/// ordered and conflict as systemd's rescue.service and emergency.service:
/// a shell of vigil-boot's on the console, taken by force, not in a
/// container nor beside vigil-init's own emergency shell.
#[test]
fn rescue_and_emergency_targets_require_their_shells_as_in_systemd() {
    use vigil_units::model::{Input, KillMode, TtyMode};
    let set = load_dirs(&[units_dir()], &SpecifierContext::from_environment());
    let deps = |n: &str| set.get(n).unwrap().deps.clone();
    let has = |list: &[String], n: &str| list.iter().any(|x| x == n);
    for (target, shell) in [
        ("rescue.target", "rescue.service"),
        ("emergency.target", "emergency.service"),
    ] {
        let t = deps(target);
        assert!(has(&t.requires, shell) && has(&t.after, shell), "{target}");
        assert!(set.get(target).unwrap().allow_isolate, "{target}");
        let unit = set.get(shell).unwrap();
        assert!(!unit.default_dependencies, "{shell}");
        let d = &unit.deps;
        assert!(has(&d.conflicts, "shutdown.target") && has(&d.before, "shutdown.target"));
        let svc = unit.service.as_ref().unwrap();
        let mode = shell.trim_end_matches(".service");
        let start = &svc.exec_start[0];
        assert_eq!(start.argv[1..], ["shell", mode], "{shell}");
        assert!(start.argv[0].ends_with("/vigil-boot"), "{shell}");
        assert!(start.ignore_failure, "{shell}");
        assert_eq!(svc.stdin, Input::Tty(TtyMode::Force), "{shell}");
        assert_eq!(
            svc.tty_path.as_deref(),
            Some(std::path::Path::new("/dev/console"))
        );
        assert_eq!(svc.kill_mode, KillMode::Process, "{shell}");
        assert!(!svc.ignore_sigpipe, "{shell}");
        let conditions: Vec<String> = (unit.conditions.iter())
            .map(|c| format!("{:?} {}{}", c.kind, if c.negate { "!" } else { "" }, c.arg))
            .collect();
        assert_eq!(
            conditions,
            [
                "Virtualization !container",
                "PathExists !/run/vigil/emergency-shell"
            ],
            "{shell}"
        );
    }
    assert!(has(&deps("rescue.target").requires, "sysinit.target"));
    assert!(has(&deps("rescue.service").after, "sysinit.target"));
    // Emergency mode replaces rescue mode's shell, and goes before it.
    let emergency = deps("emergency.service");
    assert!(has(&emergency.conflicts, "rescue.service"));
    assert!(has(&emergency.before, "rescue.service"));
    assert!(!has(&emergency.after, "sysinit.target"));
    // What stands for systemd's mount and swap units is left alone by an
    // isolate, as those are (IgnoreOnIsolate=yes by default there): rescue
    // and emergency mode neither unmount nor turn swap off.
    for unit in [
        "vigil-fstab.service",
        "vigil-remount-fs.service",
        "vigil-swap.service",
        "vigil-remote-fs.service",
    ] {
        assert!(set.get(unit).unwrap().ignore_on_isolate, "{unit}");
    }
    assert!(!set.get("vigil-hostname.service").unwrap().ignore_on_isolate);
    // The boot targets stop rescue mode's shell when they start.
    for t in ["multi-user.target", "graphical.target"] {
        assert!(has(&deps(t).conflicts, "rescue.service"), "{t}");
    }
}

#[test]
fn enabled_units_are_wanted_and_fstab_is_required_by_local_fs() {
    let dir = std::env::temp_dir().join(format!("vigil-boot-units-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("sysinit.target.wants")).unwrap();
    fs::create_dir_all(dir.join("local-fs.target.requires")).unwrap();
    for entry in fs::read_dir(units_dir()).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    // What `vigil enable` makes from the [Install] sections; vigil-sysctl
    // left out, as after `vigil disable vigil-sysctl`.
    for s in SERVICES.iter().filter(|s| **s != "vigil-sysctl.service") {
        std::os::unix::fs::symlink(dir.join(s), dir.join("sysinit.target.wants").join(s)).unwrap();
    }
    std::os::unix::fs::symlink(
        dir.join("vigil-fstab.service"),
        dir.join("local-fs.target.requires/vigil-fstab.service"),
    )
    .unwrap();
    let set = load_dirs(
        std::slice::from_ref(&dir),
        &SpecifierContext::from_environment(),
    );
    let sysinit = &set.get("sysinit.target").unwrap().deps;
    // A mount that fails fails the boot (and brings the emergency shell).
    assert_eq!(sysinit.requires, ["local-fs.target"]);
    assert!(sysinit.wants.contains(&"swap.target".to_string()));
    let mut wants = enabled(&set);
    wants.sort();
    assert_eq!(
        wants,
        [
            "vigil-fstab.service",
            "vigil-hostname.service",
            "vigil-machine-id-commit.service",
            "vigil-machine-id.service",
            "vigil-modules.service",
            "vigil-rundirs.service",
            "vigil-swap.service",
            "vigil-utmp.service",
        ]
    );
    // A swap file is on a file system of fstab; the services (after
    // sysinit.target) stop before the swap areas go, at the shutdown.
    let swap = &set.get("vigil-swap.service").unwrap();
    assert!(swap.deps.after.contains(&"vigil-fstab.service".to_string()));
    assert!(sysinit.after.contains(&"vigil-swap.service".to_string()));
    let exec = swap.service.as_ref().unwrap();
    assert_eq!(exec.exec_start[0].argv[1..], ["swap"]);
    assert_eq!(exec.exec_stop[0].argv[1..], ["swap", "--off"]);
    let local = &set.get("local-fs.target").unwrap().deps;
    assert_eq!(local.requires, ["vigil-fstab.service"]);
    assert!(local.after.contains(&"vigil-fstab.service".to_string()));
    // A file system's driver may be one that modules-load.d lists.
    let fstab = &set.get("vigil-fstab.service").unwrap().deps;
    assert!(fstab.after.contains(&"vigil-modules.service".to_string()));
    let sysctl = &set.get("vigil-sysctl.service").unwrap().deps;
    assert!(sysctl.after.contains(&"vigil-modules.service".to_string()));
    // /var may be a mount of its own: the links under it wait for local-fs.
    let rundirs = &set.get("vigil-rundirs.service").unwrap().deps;
    assert!(rundirs.after.contains(&"local-fs.target".to_string()));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn scripts_install_enables_the_boot_duties_once() {
    let tmp = std::env::temp_dir().join(format!("vigil-boot-install-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    let (root, bin) = (tmp.join("root"), tmp.join("bin"));
    fs::create_dir_all(&bin).unwrap();
    for b in ["vigil", "vigild", "vigil-boot", "vigil-init"] {
        fs::write(bin.join(b), "#!/bin/sh\n").unwrap();
        let mut perm = fs::metadata(bin.join(b)).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
        fs::set_permissions(bin.join(b), perm).unwrap();
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/install");
    // What the install said.
    let install = || {
        let out = std::process::Command::new(&script)
            .arg("--root")
            .arg(&root)
            .arg("--bin-dir")
            .arg(&bin)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    install();
    assert!(root.join("usr/sbin/vigil-init").exists());
    // System V's names and /sbin/init, where no other init has them.
    let link = |name: &str| fs::read_link(root.join("sbin").join(name)).ok();
    for name in [
        "halt", "poweroff", "reboot", "shutdown", "runlevel", "telinit",
    ] {
        assert_eq!(link(name), Some(PathBuf::from("/usr/bin/vigil")), "{name}");
    }
    assert_eq!(link("init"), Some(PathBuf::from("/usr/sbin/vigil-init")));
    assert!(root.join("usr/lib/vigil/vigild").exists());
    let load = || {
        load_dirs(
            &[root.join("etc/vigil"), root.join("usr/lib/vigil")],
            &SpecifierContext::from_environment(),
        )
    };
    let set = load();
    // Pulled in by the default target, through sysinit.target.
    assert_eq!(set.get("default.target").unwrap().name, "multi-user.target");
    let mut wants = enabled(&set);
    wants.sort();
    let mut services = SERVICES.to_vec();
    services.sort();
    assert_eq!(wants, services);
    assert_eq!(
        set.get("local-fs.target").unwrap().deps.requires,
        ["vigil-fstab.service"]
    );
    let local_wants = &set.get("local-fs.target").unwrap().deps.wants;
    assert!(
        local_wants.iter().any(|w| w == "vigil-remount-fs.service"),
        "{local_wants:?}"
    );
    // The network file systems: remote-fs.target is wanted by the default
    // target and requires vigil-remote-fs, which is ordered after the network
    // being online (so it is stopped before it) and goes at the shutdown. It
    // pulls the network in only when fstab has entries for it.
    let set = load();
    let deps = |n: &str| set.get(n).unwrap().deps.clone();
    let has = |list: &[String], n: &str| list.iter().any(|x| x == n);
    assert!(has(&deps("multi-user.target").wants, "remote-fs.target"));
    // The runlevel's record once multi-user.target is reached: wanted by it,
    // after it, and so not before it (which would be a cycle).
    let runlevel = deps("vigil-utmp-runlevel.service");
    assert!(has(
        &deps("multi-user.target").wants,
        "vigil-utmp-runlevel.service"
    ));
    assert!(has(&runlevel.after, "multi-user.target"));
    assert!(!has(
        &deps("multi-user.target").after,
        "vigil-utmp-runlevel.service"
    ));
    // Login prompts: getty.target in the default target (as systemd's package
    // links it), and in it vigil-getty, which starts a getty on each serial
    // console; skipped where no serial-getty@.service is installed.
    assert!(has(&deps("multi-user.target").wants, "getty.target"));
    assert!(has(&deps("getty.target").wants, "vigil-getty.service"));
    let getty = set.get("vigil-getty.service").unwrap();
    assert_eq!(getty.conditions.len(), 6, "{:?}", getty.conditions);
    let remote_fs = deps("remote-fs.target");
    assert_eq!(remote_fs.requires, ["vigil-remote-fs.service"]);
    let remote = deps("vigil-remote-fs.service");
    assert!(!has(&remote.wants, "network-online.target"));
    for t in [
        "network-online.target",
        "basic.target",
        "vigil-fstab.service",
    ] {
        assert!(has(&remote.after, t), "vigil-remote-fs after {t}");
    }
    assert!(has(&remote.before, "remote-fs.target") && has(&remote.conflicts, "shutdown.target"));
    // A failed mount leaves it active ("-"), so that its unmount still runs at
    // the shutdown, in order.
    let start = &set.get("vigil-remote-fs.service").unwrap().service;
    let start = start.as_ref().unwrap();
    assert!(start.exec_start[0].ignore_failure, "{:?}", start.exec_start);
    let args = |c: &vigil_units::ExecCommand| c.argv.join(" ");
    assert_eq!(start.exec_condition.len(), 1);
    assert!(args(&start.exec_condition[0]).ends_with("fstab --remote --check"));
    assert!(args(&start.exec_start_pre[0]).ends_with("vigil start network-online.target"));
    assert_eq!(start.exec_stop.len(), 1);
    // The admin turns one off; an upgrade keeps it off.
    fs::remove_file(root.join("etc/vigil/sysinit.target.wants/vigil-sysctl.service")).unwrap();
    fs::remove_file(root.join("etc/vigil/remote-fs.target.requires/vigil-remote-fs.service"))
        .unwrap();
    install();
    let wants = enabled(&load());
    assert!(
        !wants.contains(&"vigil-sysctl.service".to_string()),
        "{wants:?}"
    );
    assert_eq!(wants.len(), 8, "{wants:?}");
    assert!(
        load()
            .get("remote-fs.target")
            .unwrap()
            .deps
            .requires
            .is_empty()
    );
    // An upgrade of an install made before vigil-remote-fs and vigil-swap
    // were shipped (no list of the enabled units yet): the new units are
    // enabled, the early boot duties of then stay as the admin left them.
    fs::remove_file(root.join("var/lib/vigil/enabled")).unwrap();
    fs::remove_dir_all(root.join("etc/vigil/remote-fs.target.requires")).unwrap();
    fs::remove_dir_all(root.join("etc/vigil/multi-user.target.wants")).unwrap();
    install();
    let set = load();
    assert_eq!(enabled(&set).len(), 8);
    assert_eq!(
        set.get("remote-fs.target").unwrap().deps.requires,
        ["vigil-remote-fs.service"]
    );
    // Onto a host whose /etc/vigil holds only units of its own: enabled.
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(root.join("etc/vigil")).unwrap();
    fs::write(
        root.join("etc/vigil/own.service"),
        "[Service]\nExecStart=/bin/true\n",
    )
    .unwrap();
    // Where another init is /sbin/init (systemd-sysv's links here, its
    // systemd there), none of vigil's names is made: its `poweroff` is the
    // one that works.
    let symlink = |to: &str, at: &str| std::os::unix::fs::symlink(to, root.join(at)).unwrap();
    fs::create_dir_all(root.join("sbin")).unwrap();
    fs::create_dir_all(root.join("lib/systemd")).unwrap();
    fs::write(root.join("lib/systemd/systemd"), "").unwrap();
    symlink("/lib/systemd/systemd", "sbin/init");
    symlink("/bin/systemctl", "sbin/reboot");
    let said = install();
    assert!(said.contains("/sbin/init is another init's"), "{said}");
    assert_eq!(link("init"), Some(PathBuf::from("/lib/systemd/systemd")));
    assert_eq!(link("reboot"), Some(PathBuf::from("/bin/systemctl")));
    assert_eq!(link("poweroff"), None);
    // That init removed (its link leads nowhere in the root): vigil's now;
    // systemctl's `reboot` link, dangling too, is made vigil's.
    fs::remove_file(root.join("lib/systemd/systemd")).unwrap();
    install();
    assert_eq!(link("init"), Some(PathBuf::from("/usr/sbin/vigil-init")));
    assert_eq!(link("reboot"), Some(PathBuf::from("/usr/bin/vigil")));
    // A merged-/usr root without /sbin yet: /sbin -> usr/sbin, the links in it.
    fs::remove_dir_all(root.join("sbin")).unwrap();
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    let _ = fs::remove_dir_all(root.join("bin"));
    symlink("usr/bin", "bin");
    install();
    assert_eq!(
        fs::read_link(root.join("sbin")).unwrap(),
        PathBuf::from("usr/sbin")
    );
    assert_eq!(
        fs::read_link(root.join("usr/sbin/poweroff")).ok(),
        Some(PathBuf::from("/usr/bin/vigil"))
    );
    assert_eq!(enabled(&load()).len(), 9);
    fs::remove_dir_all(&tmp).unwrap();
}
