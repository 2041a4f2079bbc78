//! Tests of the validated layer: every directive, every value syntax, every
//! error path with its line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::Severity;
use crate::model::Limit;

const PATH: &str = "/etc/vigil/a.service";

fn ctx() -> SpecifierContext {
    SpecifierContext {
        user_name: "alice".into(),
        uid: 1000,
        home: "/home/alice".into(),
        host_name: "box".into(),
        runtime_dir: "/run/user/1000".into(),
        facts: Vec::new(),
    }
}

fn parse_named(name: &str, text: &str) -> Parsed {
    parse_str(name, Path::new(PATH), text, &ctx())
}

/// Parses a service that must load, and returns it with its warnings.
fn ok(text: &str) -> (Unit, Vec<Diagnostic>) {
    let p = parse_named("a.service", text);
    let errors: Vec<_> = p.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "unexpected errors: {errors:#?}");
    (p.unit.expect("unit"), p.diagnostics)
}

fn svc(extra: &str) -> Service {
    let (u, _) = ok(&format!("[Service]\nExecStart=/bin/true\n{extra}\n"));
    u.service.expect("service")
}

/// Parses a service that must fail; returns the errors as (line, message).
fn errs(text: &str) -> Vec<(u32, String)> {
    let p = parse_named("a.service", text);
    assert!(
        p.unit.is_none(),
        "unit should not load: {:#?}",
        p.diagnostics
    );
    p.diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| (d.line, d.message.clone()))
        .collect()
}

fn one_err(extra: &str) -> (u32, String) {
    let e = errs(&format!("[Service]\nExecStart=/bin/true\n{extra}\n"));
    assert_eq!(e.len(), 1, "{e:#?}");
    e.into_iter().next().expect("one error")
}

fn warnings(d: &[Diagnostic]) -> Vec<(u32, String)> {
    d.iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(|d| (d.line, d.message.clone()))
        .collect()
}

#[test]
fn defaults_for_a_minimal_service() {
    let (u, d) = ok("[Service]\nExecStart=/bin/true\n");
    assert!(d.is_empty());
    assert_eq!(u.name, "a.service");
    assert_eq!(u.kind, UnitKind::Service);
    assert_eq!(u.format, Format::UnitFile);
    assert_eq!(u.source.as_deref(), Some(Path::new(PATH)));
    let s = u.service.unwrap();
    assert_eq!(
        s,
        Service {
            exec_start: s.exec_start.clone(),
            ..Service::default()
        }
    );
}

#[test]
fn unit_section() {
    let (u, d) = ok("[Unit]\n\
         Description=Web server %n on %H\n\
         Documentation=man:web(8) https://example.com/doc\n\
         Documentation=info:web\n\
         After=net.target b\n\
         After=c.service\n\
         Before=d\n\
         Requires=e\n\
         Wants=f g\n\
         BindsTo=h\n\
         PartOf=i\n\
         Requisite=j\n\
         Conflicts=k\n\
         OnFailure=l\n\
         DefaultDependencies=no\n\
         StartLimitIntervalSec=1min\n\
         StartLimitBurst=3\n\
         [Service]\nExecStart=/bin/true\n");
    assert!(d.is_empty(), "{d:#?}");
    assert_eq!(u.description, "Web server a.service on box");
    assert_eq!(
        *u.documentation,
        ["man:web(8)", "https://example.com/doc", "info:web"]
    );
    assert_eq!(u.deps.after, ["net.target", "b.service", "c.service"]);
    assert_eq!(u.deps.before, ["d.service"]);
    assert_eq!(u.deps.requires, ["e.service"]);
    assert_eq!(u.deps.wants, ["f.service", "g.service"]);
    assert_eq!(*u.deps.binds_to, ["h.service"]);
    assert_eq!(*u.deps.part_of, ["i.service"]);
    assert_eq!(*u.deps.requisite, ["j.service"]);
    assert_eq!(u.deps.conflicts, ["k.service"]);
    assert_eq!(*u.deps.on_failure, ["l.service"]);
    assert!(!u.default_dependencies);
    assert_eq!(u.start_limit.interval, Duration::from_secs(60));
    assert_eq!(u.start_limit.burst, 3);
}

#[test]
fn empty_assignment_resets_lists_but_not_dependencies() {
    let (u, warnings) = ok(
        "[Unit]\nAfter=a b\nAfter=\nAfter=c\nDocumentation=man:x\nDocumentation=\n\
         [Service]\nExecStart=/bin/true\nEnvironment=A=1\nEnvironment=\nEnvironment=B=2\n\
         SuccessExitStatus=1\nSuccessExitStatus=\n",
    );
    // systemd.unit(5): dependencies cannot be reset to an empty list.
    assert_eq!(u.deps.after, ["a.service", "b.service", "c.service"]);
    assert!(
        warnings.iter().any(|w| w
            .message
            .contains("After= empty: dependencies cannot be reset")),
        "{warnings:?}"
    );
    assert!(u.documentation.is_empty());
    let s = u.service.unwrap();
    assert_eq!(s.environment, [("B".to_string(), "2".to_string())]);
    assert_eq!(*s.success_exit_status, ExitStatusSet::default());
}

#[test]
fn references_keep_lines() {
    let p = parse_named(
        "a.service",
        "[Unit]\nAfter=x\nWants=y z\n[Service]\nExecStart=/bin/true\n",
    );
    let r: Vec<_> = p
        .references
        .iter()
        .map(|r| (r.name.as_str(), r.directive, r.line, r.pulls()))
        .collect();
    assert_eq!(
        r,
        [
            ("x.service", "After", 2, false),
            ("y.service", "Wants", 3, true),
            ("z.service", "Wants", 3, true)
        ]
    );
}

#[test]
fn bad_dependency_names() {
    // Review finding: one bad name failed the whole unit, and with the boot
    // target every unit stayed unstarted. systemd ignores such a dependency,
    // with a warning; the good names beside it stay.
    let (u, d) =
        ok("[Unit]\nRequires=a/b ok.service\nWants=t@.service\n[Service]\nExecStart=/bin/true\n");
    assert_eq!(u.deps.requires, ["ok.service"]);
    assert!(u.deps.wants.is_empty());
    let w = warnings(&d);
    assert_eq!(w.len(), 2, "{w:#?}");
    assert_eq!(w[0].0, 2);
    assert!(w[0].1.starts_with("Requires=a/b: "), "{}", w[0].1);
    assert!(w[0].1.ends_with("that dependency is ignored"), "{}", w[0].1);
    assert_eq!(w[1].0, 3);
    assert!(w[1].1.contains("template"));
}

#[test]
fn start_limit_in_service_section_and_old_name() {
    let (u, d) = ok("[Service]\nExecStart=/bin/true\nStartLimitInterval=20\nStartLimitBurst=9\n");
    assert!(d.is_empty());
    assert_eq!(u.start_limit.interval, Duration::from_secs(20));
    assert_eq!(u.start_limit.burst, 9);
    let (u, _) = ok("[Unit]\nStartLimitIntervalSec=0\n[Service]\nExecStart=/bin/true\n");
    assert_eq!(u.start_limit.interval, Duration::ZERO);
    let (l, m) = one_err("StartLimitBurst=many");
    assert_eq!(l, 3);
    assert!(m.contains("StartLimitBurst=many"));
}

#[test]
fn conditions_and_asserts() {
    let (u, _) = ok("[Unit]\n\
         ConditionPathExists=!/etc/foo\n\
         ConditionPathIsDirectory=|/srv\n\
         ConditionFileIsExecutable=|!/bin/x\n\
         ConditionDirectoryNotEmpty=/var/%i\n\
         ConditionFileNotEmpty=/etc/conf\n\
         AssertPathExists=/a\n\
         AssertPathIsDirectory=/b\n\
         AssertFileIsExecutable=/c\n\
         AssertDirectoryNotEmpty=/d\n\
         AssertFileNotEmpty=/e\n\
         [Service]\nExecStart=/bin/true\n");
    let c = &u.conditions;
    assert_eq!(c.len(), 5);
    assert_eq!(
        (
            c[0].kind,
            c[0].trigger,
            c[0].negate,
            c[0].arg.as_str(),
            c[0].line
        ),
        (ConditionKind::PathExists, false, true, "/etc/foo", 2)
    );
    assert_eq!((c[1].trigger, c[1].negate), (true, false));
    assert_eq!(
        (c[2].trigger, c[2].negate, c[2].arg.as_str()),
        (true, true, "/bin/x")
    );
    assert_eq!(c[3].kind, ConditionKind::DirectoryNotEmpty);
    assert_eq!(c[3].arg, "/var/");
    assert_eq!(c[4].kind, ConditionKind::FileNotEmpty);
    let kinds: Vec<_> = u.asserts.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        [
            ConditionKind::PathExists,
            ConditionKind::PathIsDirectory,
            ConditionKind::FileIsExecutable,
            ConditionKind::DirectoryNotEmpty,
            ConditionKind::FileNotEmpty
        ]
    );
    let (u, _) = ok(
        "[Unit]\nConditionPathExists=/a\nConditionFileNotEmpty=/b\nConditionPathExists=\n\
         ConditionPathExists=/c\n[Service]\nExecStart=/bin/true\n",
    );
    assert_eq!(u.conditions.len(), 1);
    assert_eq!(u.conditions[0].arg, "/c");
}

/// systemd ignores a path condition whose path is not absolute, with a
/// warning naming the line; the unit loads and its other conditions count.
#[test]
fn relative_condition_path_is_ignored_with_a_warning() {
    let (u, d) = ok("[Unit]\n\
         ConditionPathExists=relative\n\
         ConditionPathIsDirectory=/srv\n\
         AssertPathExists=!|/x\n\
         ConditionDirectoryNotEmpty=|!dir/\n\
         ConditionFileNotEmpty=./f\n\
         ConditionPathExistsGlob=rel*\n\
         AssertPathIsEncrypted=home\n\
         AssertFileNotEmpty=/e\n\
         [Service]\nExecStart=/bin/true\n");
    let args: Vec<_> = u.conditions.iter().map(|c| c.arg.as_str()).collect();
    assert_eq!(args, ["/srv"]);
    let args: Vec<_> = u.asserts.iter().map(|c| c.arg.as_str()).collect();
    assert_eq!(args, ["/e"]);
    assert_eq!(
        warnings(&d),
        [
            (
                2,
                "ConditionPathExists=relative: path \"relative\" is not absolute, ignoring this line"
                    .to_string()
            ),
            (
                4,
                "AssertPathExists=!|/x: path \"|/x\" is not absolute, ignoring this line".to_string()
            ),
            (
                5,
                "ConditionDirectoryNotEmpty=|!dir/: path \"dir/\" is not absolute, ignoring this line"
                    .to_string()
            ),
            (
                6,
                "ConditionFileNotEmpty=./f: path \"./f\" is not absolute, ignoring this line"
                    .to_string()
            ),
            (
                7,
                "ConditionPathExistsGlob=rel*: path \"rel*\" is not absolute, ignoring this line"
                    .to_string()
            ),
            (
                8,
                "AssertPathIsEncrypted=home: path \"home\" is not absolute, ignoring this line"
                    .to_string()
            ),
        ]
    );
    // A specifier that makes the path absolute is resolved first.
    let (u, d) = ok("[Unit]\nConditionPathExists=%t/x\n[Service]\nExecStart=/bin/true\n");
    assert_eq!(u.conditions[0].arg, "/run/user/1000/x");
    assert!(warnings(&d).is_empty(), "{d:?}");
}

/// systemd ignores a condition whose specifiers it cannot resolve, with a
/// warning, instead of testing the text as written.
#[test]
fn unresolvable_specifier_drops_the_condition_line() {
    let (u, d) = ok("[Unit]\n\
         ConditionPathExists=/x/%Q\n\
         ConditionPathExists=|!/y/%i\n\
         AssertPathIsDirectory=!/%Z/b\n\
         ConditionHost=%Q\n\
         ConditionPathExists=/x/%%Q\n\
         [Service]\nExecStart=/bin/true\n");
    let args: Vec<_> = u.conditions.iter().map(|c| c.arg.as_str()).collect();
    assert_eq!(args, ["/y/", "/x/%Q"]);
    assert!(u.conditions[0].trigger && u.conditions[0].negate);
    assert!(u.asserts.is_empty());
    assert_eq!(
        warnings(&d),
        [
            (
                2,
                "ConditionPathExists=/x/%Q: unknown specifier %Q, ignoring this line".to_string()
            ),
            (
                4,
                "AssertPathIsDirectory=!/%Z/b: unknown specifier %Z, ignoring this line"
                    .to_string()
            ),
            (
                5,
                "ConditionHost=%Q: unknown specifier %Q, ignoring this line".to_string()
            ),
        ]
    );
}

#[test]
fn service_types() {
    for (v, t) in [
        ("simple", ServiceType::Simple),
        ("exec", ServiceType::Exec),
        ("oneshot", ServiceType::Oneshot),
        ("notify", ServiceType::Notify),
        ("forking", ServiceType::Forking),
    ] {
        assert_eq!(svc(&format!("Type={v}")).service_type, t);
    }
    let (l, m) = one_err("Type=bogus");
    assert_eq!(l, 3);
    assert!(
        m.starts_with("Type=bogus: expected one of simple, exec"),
        "{m}"
    );
}

#[test]
fn type_dbus_is_ready_when_started_and_records_bus_name() {
    let (u, d) = ok("[Service]\nType=dbus\nBusName=org.x.Y-z_1\nExecStart=/bin/true\n");
    assert!(u.not_enforced.is_empty(), "{:?}", u.not_enforced);
    assert!(warnings(&d).is_empty(), "{d:?}");
    let s = u.service.expect("service");
    assert_eq!(s.service_type, ServiceType::Simple);
    assert_eq!(s.bus_name.as_deref(), Some("org.x.Y-z_1"));
    // BusName= alone (gdm.service): systemd's implicit Type=dbus, here simple.
    assert_eq!(
        svc("BusName=org.gnome.DisplayManager").bus_name.as_deref(),
        Some("org.gnome.DisplayManager")
    );
    for bad in ["nodot", "org..x", "org.1x", "org.x!", ".org.x"] {
        let (l, m) = one_err(&format!("BusName={bad}"));
        assert_eq!(l, 3);
        assert!(m.contains("is not a valid D-Bus bus name"), "{m}");
    }
    let p = parse_named("a.service", "[Service]\nType=dbus\nExecStart=/bin/true\n");
    assert!(p.unit.is_none());
    assert!(
        p.diagnostics
            .iter()
            .any(|d| d.is_error() && d.to_string().contains("Type=dbus needs BusName=")),
        "{:?}",
        p.diagnostics
    );
}

#[test]
fn type_dependent_defaults() {
    let s = svc("Type=oneshot");
    assert_eq!(s.timeout_start, None);
    let s = svc("Type=oneshot\nTimeoutStartSec=5");
    assert_eq!(s.timeout_start, Some(Duration::from_secs(5)));
    assert_eq!(svc("Type=notify").notify_access, NotifyAccess::Main);
    assert_eq!(
        svc("Type=notify\nNotifyAccess=all").notify_access,
        NotifyAccess::All
    );
    // Review findings: as in systemd, WatchdogSec= makes an unset
    // NotifyAccess= main (the watchdog could not be fed otherwise), and an
    // explicit none stays none.
    assert_eq!(svc("WatchdogSec=2").notify_access, NotifyAccess::Main);
    assert_eq!(
        svc("Type=notify\nNotifyAccess=none").notify_access,
        NotifyAccess::None
    );
    assert_eq!(
        svc("WatchdogSec=2\nNotifyAccess=none").notify_access,
        NotifyAccess::None
    );
    assert_eq!(svc("").notify_access, NotifyAccess::None);
}

#[test]
fn exec_directives() {
    let s = svc(
        "ExecStartPre=-/bin/pre 1\nExecStartPost=/bin/post\nExecStop=/bin/stop $MAINPID\n\
         ExecStopPost=/bin/stoppost\nExecReload=/bin/kill -HUP $MAINPID\nExecReload=/bin/r2",
    );
    assert_eq!(s.exec_start[0].argv, ["/bin/true"]);
    assert_eq!(s.exec_start[0].line, 2);
    assert!(s.exec_start_pre[0].ignore_failure);
    assert_eq!(s.exec_start_pre[0].argv, ["/bin/pre", "1"]);
    assert_eq!(s.exec_start_post[0].program, "/bin/post");
    assert_eq!(s.exec_stop[0].argv, ["/bin/stop", "$MAINPID"]);
    assert_eq!(s.exec_stop_post[0].program, "/bin/stoppost");
    assert_eq!(s.exec_reload.len(), 2);
    assert_eq!(s.exec_reload[1].line, 8);
    let s = svc(
        "ExecCondition=/bin/sh -c 'exit 1'\nExecCondition=-/bin/check\nExecCondition=\n\
                 ExecCondition=-/bin/c2 %n",
    );
    assert_eq!(s.exec_condition.len(), 1, "an empty value resets the list");
    assert!(s.exec_condition[0].ignore_failure);
    assert_eq!(s.exec_condition[0].argv, ["/bin/c2", "a.service"]);
    let s = svc("ExecCondition=/bin/sh -c 'exit 1'");
    assert_eq!(s.exec_condition[0].argv, ["/bin/sh", "-c", "exit 1"]);
}

/// Review finding: `ExecStart=/bin/echo caf\303\251 caf\xc3\xa9` passed
/// "cafÃ©" (each escape taken as a code point); systemd passes the bytes.
#[test]
fn exec_escapes_are_bytes() {
    let (u, _) = ok("[Service]\nExecStart=/bin/echo caf\\303\\251 caf\\xc3\\xa9\n");
    let s = u.service.expect("service");
    assert_eq!(s.exec_start[0].argv, ["/bin/echo", "café", "café"]);
    let (line, msg) = one_err("ExecStartPost=/bin/echo caf\\351");
    assert_eq!(line, 3);
    assert!(msg.contains("not UTF-8"), "{msg}");
}

#[test]
fn exec_specifiers_per_word() {
    let p = parse_named(
        "echo@hello\\x20world.service",
        "[Service]\nExecStart=/bin/echo %I %i %n %%\n",
    );
    let s = p.unit.unwrap().service.unwrap();
    assert_eq!(
        s.exec_start[0].argv,
        [
            "/bin/echo",
            "hello world",
            "hello\\x20world",
            "echo@hello\\x20world.service",
            "%"
        ]
    );
}

#[test]
fn several_exec_start_only_for_oneshot() {
    let e = errs("[Service]\nExecStart=/bin/a\nExecStart=/bin/b\n");
    assert_eq!(
        e,
        [(
            3,
            "more than one ExecStart= is only allowed for Type=oneshot services".to_string()
        )]
    );
    let s = svc("Type=oneshot\nExecStart=/bin/b");
    assert_eq!(s.exec_start.len(), 2);
    // A reset in between makes it one again.
    let s = svc("ExecStart=\nExecStart=/bin/b");
    assert_eq!(s.exec_start.len(), 1);
    assert_eq!(s.exec_start[0].program, "/bin/b");
}

#[test]
fn missing_exec_start() {
    let e = errs("[Service]\nType=simple\n");
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].0, 0);
    assert!(e[0].1.contains("no ExecStart="));
    let e = errs("[Service]\nType=oneshot\n");
    assert!(
        e[0].1
            .contains("no ExecStart=, ExecStop= or SuccessAction=")
    );
    let (u, _) = ok("[Service]\nType=oneshot\nExecStop=/bin/x\n");
    assert!(u.service.unwrap().exec_start.is_empty());
    // Neither Type= nor ExecStart=: a oneshot, as for systemd.
    let (u, _) = ok("[Service]\nExecStop=/bin/x\n");
    assert_eq!(u.service.unwrap().service_type, ServiceType::Oneshot);
    let e = errs("[Unit]\nDescription=x\n");
    assert!(
        e[0].1
            .contains("no ExecStart=, ExecStop= or SuccessAction=")
    );
    // Debian's systemd-exit.service: only SuccessAction=.
    let (u, _) = ok("[Unit]\nDefaultDependencies=no\nSuccessAction=exit-force\n");
    assert_eq!(u.service.unwrap().service_type, ServiceType::Oneshot);
}

#[test]
fn a_bad_exec_start_is_not_also_reported_as_missing() {
    let e = errs("[Service]\nExecStart=/bin/x 'open\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, 2);
}

#[test]
fn oneshot_cannot_restart_always() {
    let e = errs("[Service]\nType=oneshot\nExecStart=/bin/x\nRestart=always\n");
    assert_eq!(e[0].0, 4);
    assert!(svc("Type=oneshot\nRestart=on-failure").restart == RestartPolicy::OnFailure);
}

#[test]
fn exec_errors_have_lines() {
    let (l, m) = one_err("ExecStartPre=/bin/x 'unterminated");
    assert_eq!(l, 3);
    assert!(m.contains("unterminated"), "{m}");
    let (_, m) = one_err("ExecStop=relative/path");
    assert!(m.contains("neither absolute nor a plain file name"));
    let (_, m) = one_err("ExecReload=+!/bin/x");
    assert!(m.contains("cannot be combined"));
}

#[test]
fn exec_search_path_takes_absolute_directories_and_resets() {
    let s = svc("ExecSearchPath=/opt/bin:/usr/bin");
    assert_eq!(s.exec_search_path.as_deref(), Some("/opt/bin:/usr/bin"));
    let s = svc("ExecSearchPath=/opt/bin\nExecSearchPath=");
    assert_eq!(*s.exec_search_path, None);
    let (l, m) = one_err("ExecSearchPath=/opt/bin:bin");
    assert_eq!(l, 3);
    assert!(m.contains("\"bin\" is not an absolute path"), "{m}");
}

/// systemd's `;` between command lines: each is a command of its own, in
/// order; several for ExecStart= of a service that is not a oneshot is the
/// error that several ExecStart= lines are.
#[test]
fn a_semicolon_word_separates_command_lines() {
    let s = svc("ExecStartPost=/bin/a 1 ; -/bin/b ; /bin/c \\; \";\"");
    let argv: Vec<Vec<String>> = s.exec_start_post.iter().map(|c| c.argv.clone()).collect();
    assert_eq!(
        argv,
        [
            vec!["/bin/a", "1"],
            vec!["/bin/b"],
            vec!["/bin/c", ";", ";"]
        ]
    );
    assert!(s.exec_start_post[1].ignore_failure);
    let (u, _) = ok("[Service]\nType=oneshot\nExecStart=/bin/a ; /bin/b\n");
    assert_eq!(u.service.unwrap().exec_start.len(), 2);
    let (_, m) = one_err("ExecStop=/bin/a ; relative/b");
    assert!(m.contains("neither absolute nor a plain file name"), "{m}");
    let errors = errs("[Service]\nExecStart=/bin/a ; /bin/b\n");
    assert!(
        errors
            .iter()
            .any(|(_, m)| m.contains("only allowed for Type=oneshot")),
        "{errors:?}"
    );
}

#[test]
fn exec_unknown_escape_is_a_warning() {
    let (u, d) = ok("[Service]\nExecStart=/bin/sh -c 'echo \\$HOME'\n");
    assert_eq!(u.service.unwrap().exec_start[0].argv[2], "echo \\$HOME");
    assert_eq!(warnings(&d).len(), 1);
    assert_eq!(d[0].line, 2);
}

#[test]
fn restart_and_times() {
    for (v, r) in [
        ("no", RestartPolicy::No),
        ("always", RestartPolicy::Always),
        ("on-success", RestartPolicy::OnSuccess),
        ("on-failure", RestartPolicy::OnFailure),
        ("on-abnormal", RestartPolicy::OnAbnormal),
        ("on-abort", RestartPolicy::OnAbort),
        ("on-watchdog", RestartPolicy::OnWatchdog),
    ] {
        assert_eq!(svc(&format!("Restart={v}")).restart, r);
    }
    assert!(
        one_err("Restart=sometimes")
            .1
            .contains("expected one of no, always")
    );
    assert_eq!(
        svc("RestartSec=1min 30s").restart_sec,
        Duration::from_secs(90)
    );
    assert_eq!(
        svc("RestartSec=250ms").restart_sec,
        Duration::from_millis(250)
    );
    assert!(one_err("RestartSec=infinity").1.contains("finite"));
    let s = svc("TimeoutStartSec=5\nTimeoutStopSec=infinity");
    assert_eq!(s.timeout_start, Some(Duration::from_secs(5)));
    assert_eq!(s.timeout_stop, None);
    let s = svc("TimeoutSec=2min");
    assert_eq!(s.timeout_start, Some(Duration::from_secs(120)));
    assert_eq!(s.timeout_stop, Some(Duration::from_secs(120)));
    let s = svc("TimeoutSec=0");
    assert_eq!((s.timeout_start, s.timeout_stop), (None, None));
    let (l, m) = one_err("TimeoutSec=5x");
    assert_eq!(l, 3);
    assert!(m.starts_with("TimeoutSec=5x: "), "{m}");
}

#[test]
fn booleans() {
    assert!(svc("RemainAfterExit=yes").remain_after_exit);
    assert!(!svc("SendSIGKILL=off").send_sigkill);
    assert!(svc("SendSIGKILL=TRUE").send_sigkill);
    assert!(one_err("RemainAfterExit=maybe").1.contains("not a boolean"));
}

#[test]
fn environment() {
    let s = svc(r#"Environment="A=b c" D=e
Environment=F=%n 'G=h\ti' X=1
Environment=bad 1X=2"#);
    assert_eq!(
        s.environment,
        [
            ("A".into(), "b c".into()),
            ("D".into(), "e".into()),
            ("F".into(), "a.service".into()),
            ("G".into(), "h\ti".into()),
            ("X".into(), "1".into())
        ]
    );
    let (_, d) = ok("[Service]\nExecStart=/bin/true\nEnvironment=bad\n");
    assert_eq!(
        warnings(&d),
        [(
            3,
            "invalid environment assignment \"bad\" (expected NAME=VALUE), ignoring".to_string()
        )]
    );
    assert!(one_err("Environment=\"A=b").1.contains("unterminated"));
}

#[test]
fn pass_environment_takes_names_once_and_warns_about_the_invalid_ones() {
    let (u, d) = ok(
        "[Service]\nExecStart=/bin/true\nPassEnvironment=OLD\nPassEnvironment=\n\
                     PassEnvironment=A 1X \"B\" A\nPassEnvironment=D-E X_%p B\n",
    );
    assert!(u.not_enforced.is_empty(), "{:?}", u.not_enforced);
    let s = u.service.unwrap();
    assert_eq!(*s.pass_environment, ["A", "B", "X_a"]);
    assert_eq!(
        warnings(&d),
        [
            (
                5,
                "PassEnvironment=: invalid variable name \"1X\", ignoring".to_string()
            ),
            (
                6,
                "PassEnvironment=: invalid variable name \"D-E\", ignoring".to_string()
            ),
        ]
    );
}

#[test]
fn unset_environment_takes_names_and_assignments() {
    let (u, d) = ok(
        "[Service]\nExecStart=/bin/true\nUnsetEnvironment=OLD\nUnsetEnvironment=\n\
                     UnsetEnvironment=A B=1 'C=x y' =z 1X=2 D= A\n",
    );
    assert!(u.not_enforced.is_empty(), "{:?}", u.not_enforced);
    let s = u.service.unwrap();
    assert_eq!(*s.unset_environment, ["A", "B=1", "C=x y", "D="]);
    let expected = |w: &str| {
        (
            5,
            format!("UnsetEnvironment=: invalid variable name or NAME=VALUE {w:?}, ignoring"),
        )
    };
    assert_eq!(warnings(&d), [expected("=z"), expected("1X=2")]);
}

#[test]
fn environment_files_and_working_directory() {
    let s = svc("EnvironmentFile=-/etc/default/%p\nEnvironmentFile=/etc/b");
    assert_eq!(
        *s.environment_files,
        [
            EnvironmentFile {
                path: "/etc/default/a".into(),
                optional: true
            },
            EnvironmentFile {
                path: "/etc/b".into(),
                optional: false
            }
        ]
    );
    assert!(one_err("EnvironmentFile=etc/x").1.contains("not absolute"));
    assert_eq!(
        *svc("WorkingDirectory=~").working_directory,
        Some(WorkingDir {
            dir: WorkingDirectory::Home,
            optional: false
        })
    );
    assert_eq!(
        *svc("WorkingDirectory=-/srv/%p").working_directory,
        Some(WorkingDir {
            dir: WorkingDirectory::Path("/srv/a".into()),
            optional: true
        })
    );
    assert_eq!(
        *svc("WorkingDirectory=/x\nWorkingDirectory=").working_directory,
        None
    );
    assert!(
        one_err("WorkingDirectory=srv")
            .1
            .contains("neither absolute nor ~")
    );
}

#[test]
fn user_group() {
    let s = svc("User=www-data\nGroup=%u");
    assert_eq!(s.user.as_deref(), Some("www-data"));
    assert_eq!(s.group.as_deref(), Some("alice"));
    assert_eq!(svc("User=1000").user.as_deref(), Some("1000"));
    assert!(one_err("User=a:b").1.contains("not a valid user"));
    assert!(one_err("Group=-x").1.contains("not a valid user"));
}

#[test]
fn kill_settings() {
    for (v, k) in [
        ("control-group", KillMode::ControlGroup),
        ("process", KillMode::Process),
        ("mixed", KillMode::Mixed),
        ("none", KillMode::None),
    ] {
        assert_eq!(svc(&format!("KillMode={v}")).kill_mode, k);
    }
    assert!(
        one_err("KillMode=all")
            .1
            .contains("expected one of control-group")
    );
    assert_eq!(svc("KillSignal=SIGINT").kill_signal, 2);
    assert_eq!(svc("KillSignal=HUP").kill_signal, 1);
    assert_eq!(svc("KillSignal=9").kill_signal, 9);
    assert!(one_err("KillSignal=SIGNOPE").1.contains("not a signal"));
}

#[test]
fn exit_status_sets() {
    let s = svc(
        "SuccessExitStatus=1 2 SIGHUP\nSuccessExitStatus=TERM\nRestartPreventExitStatus=255 SIGKILL",
    );
    assert_eq!(s.success_exit_status.codes, [1, 2]);
    assert_eq!(s.success_exit_status.signals, [1, 15]);
    assert_eq!(s.restart_prevent_exit_status.codes, [255]);
    assert_eq!(s.restart_prevent_exit_status.signals, [9]);
    assert!(
        one_err("SuccessExitStatus=300")
            .1
            .contains("not an exit status")
    );
}

#[test]
fn pid_file_and_notify_access() {
    assert_eq!(
        *svc("PIDFile=/run/x.pid").pid_file,
        Some("/run/x.pid".into())
    );
    assert_eq!(*svc("PIDFile=x.pid").pid_file, Some("/run/x.pid".into()));
    for (v, n) in [
        ("none", NotifyAccess::None),
        ("main", NotifyAccess::Main),
        ("exec", NotifyAccess::Exec),
        ("all", NotifyAccess::All),
    ] {
        assert_eq!(svc(&format!("NotifyAccess={v}")).notify_access, n);
    }
    assert!(
        one_err("NotifyAccess=some")
            .1
            .contains("expected one of none")
    );
}

#[test]
fn outputs() {
    for (v, o) in [
        ("inherit", Output::Inherit),
        ("null", Output::Null),
        ("journal", Output::Log),
        ("syslog", Output::Log),
        ("journal+console", Output::Console),
        ("syslog+console", Output::Console),
        ("kmsg", Output::Kmsg),
        ("kmsg+console", Output::Console),
        (
            "file:/var/log/%p.log",
            Output::File {
                path: "/var/log/a.log".into(),
                mode: FileMode::Write,
            },
        ),
        (
            "append:/x",
            Output::File {
                path: "/x".into(),
                mode: FileMode::Append,
            },
        ),
        (
            "truncate:/y",
            Output::File {
                path: "/y".into(),
                mode: FileMode::Truncate,
            },
        ),
    ] {
        assert_eq!(svc(&format!("StandardOutput={v}")).stdout, o, "{v}");
        assert_eq!(svc(&format!("StandardError={v}")).stderr, o, "{v}");
    }
    assert_eq!(svc("StandardOutput=tty").stdout, Output::Tty);
    let (u, d) = ok("[Service]\nExecStart=/bin/true\nStandardOutput=fd:foo\n");
    assert_eq!(u.service.unwrap().stdout, Output::Log);
    assert!(warnings(&d)[0].1.contains("needs the fd store"), "{d:?}");
    assert_eq!(warnings(&d)[0].0, 3);
    assert_eq!(svc("StandardOutput=socket").stdout, Output::Socket);
    assert!(
        one_err("StandardOutput=file:rel")
            .1
            .contains("not absolute")
    );
    assert!(
        one_err("StandardError=somewhere")
            .1
            .contains("expected inherit")
    );
}

#[test]
fn syslog_identifier_and_umask() {
    assert_eq!(
        svc("SyslogIdentifier=web-%i").syslog_identifier.as_deref(),
        Some("web-")
    );
    assert_eq!(svc("UMask=0027").umask, 0o027);
    assert!(one_err("UMask=999").1.contains("octal"));
}

#[test]
fn limits() {
    let s = svc(
        "LimitNOFILE=1024:4096\nLimitNPROC=infinity\nLimitCORE=1G\nLimitMEMLOCK=64K:infinity\nLimitNOFILE=2048",
    );
    assert_eq!(
        *s.limits,
        [
            (
                Resource::Nofile,
                Limit {
                    soft: Some(2048),
                    hard: Some(2048)
                }
            ),
            (
                Resource::Nproc,
                Limit {
                    soft: None,
                    hard: None
                }
            ),
            (
                Resource::Core,
                Limit {
                    soft: Some(1 << 30),
                    hard: Some(1 << 30)
                }
            ),
            (
                Resource::Memlock,
                Limit {
                    soft: Some(65536),
                    hard: None
                }
            ),
        ]
    );
    assert!(one_err("LimitNOFILE=1K").1.contains("not a number"));
    assert!(one_err("LimitCORE=2:1").1.contains("greater than hard"));
}

#[test]
fn install_section() {
    let (u, d) = ok(
        "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n\
         WantedBy=b\nRequiredBy=c.target\nAlias=web.service %p-alias.service\nAlso=helper\n",
    );
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(u.install.wanted_by, ["multi-user.target", "b.service"]);
    assert_eq!(u.install.required_by, ["c.target"]);
    assert_eq!(u.install.alias, ["web.service", "a-alias.service"]);
    assert_eq!(u.install.also, ["helper.service"]);
    let e = errs("[Service]\nExecStart=/bin/true\n[Install]\nAlias=web.target\n");
    assert_eq!(e[0].0, 4);
    assert!(e[0].1.contains("same suffix"));
}

#[test]
fn not_enforced_and_unknown_keys_are_warnings() {
    let (u, d) = ok("[Unit]\nJoinsNamespaceOf=x.service\nFrobnicate=yes\n\
         [Service]\nExecStart=/bin/true\nPrivateTmp=yes\nProtectSystem=full\nAfter=x\nX-Custom=1\n");
    assert_eq!(
        u.not_enforced,
        ["JoinsNamespaceOf", "PrivateTmp", "ProtectSystem"]
    );
    assert_eq!(
        warnings(&d),
        [
            (2, "JoinsNamespaceOf= is not enforced yet".to_string()),
            (
                3,
                "unknown key Frobnicate= in section [Unit], ignoring".to_string()
            ),
            (6, "PrivateTmp= is not enforced yet".to_string()),
            (7, "ProtectSystem= is not enforced yet".to_string()),
            (
                8,
                "After= belongs in [Unit], not [Service]; ignoring".to_string()
            ),
        ]
    );
    assert!(d.iter().all(|d| d.path == Path::new(PATH)));
}

#[test]
fn every_error_in_a_file_is_reported() {
    let e = errs(
        "[Unit]\nDescription=x\nAfter=a/b\n[Service]\nType=nope\nExecStart=/bin/true\n\
         Restart=sometimes\nno equals\nTimeoutSec=x\n[Bogus]\n",
    );
    let lines: Vec<u32> = e.iter().map(|e| e.0).collect();
    // The line without `=`, [Bogus] and the bad name in After= are warnings,
    // as in systemd.
    assert_eq!(lines, [5, 7, 9], "{e:#?}");
}

#[test]
fn targets() {
    let p = parse_named(
        "multi-user.target",
        "[Unit]\nDescription=Multi-User\nRequires=basic.target\n[Install]\nAlias=default.target\n",
    );
    let u = p.unit.unwrap();
    assert_eq!(u.kind, UnitKind::Target);
    assert!(u.service.is_none());
    assert_eq!(u.deps.requires, ["basic.target"]);
    // A section of another kind of unit is ignored with a warning, as in systemd.
    let p = parse_named("x.target", "[Service]\nExecStart=/bin/true\n");
    assert!(p.unit.is_some_and(|u| u.service.is_none()));
    assert!(!p.diagnostics[0].is_error());
    assert!(
        p.diagnostics[0]
            .message
            .contains("unknown section [Service], ignored")
    );
    let p = parse_named("x.socket", "[Unit]\n");
    assert!(p.unit.is_none());
}

#[test]
fn drop_ins_apply_in_order_with_their_own_paths() {
    let main = Source {
        path: Path::new("/etc/a.service"),
        text: "[Unit]\nAfter=x\n[Service]\nExecStart=/bin/a\nUser=u1\n",
    };
    let d1 = Source {
        path: Path::new("/etc/a.service.d/10-a.conf"),
        text: "[Service]\nUser=u2\nExecStart=\nExecStart=/bin/b\n",
    };
    let d2 = Source {
        path: Path::new("/etc/a.service.d/20-b.conf"),
        text: "[Unit]\nAfter=y\n[Service]\nBogus=1\nRestart=wrong\n",
    };
    let p = parse("a.service", main, &[d1, d2], &ctx());
    assert!(p.unit.is_none());
    let last = p.diagnostics.last().unwrap();
    assert_eq!(last.path, Path::new("/etc/a.service.d/20-b.conf"));
    assert_eq!(last.line, 5);
    let p = parse("a.service", main, &[d1], &ctx());
    let u = p.unit.unwrap();
    assert_eq!(u.source.as_deref(), Some(Path::new("/etc/a.service")));
    let s = u.service.unwrap();
    assert_eq!(s.user.as_deref(), Some("u2"));
    assert_eq!(s.exec_start.len(), 1);
    assert_eq!(s.exec_start[0].program, "/bin/b");
}

#[test]
fn unknown_specifier_is_a_warning() {
    let (u, d) = ok("[Unit]\nDescription=50%Z\n[Service]\nExecStart=/bin/echo %d\n");
    assert_eq!(u.description, "50%Z");
    let w = warnings(&d);
    assert_eq!(w.len(), 2);
    assert_eq!((w[0].0, w[1].0), (2, 4));
    assert!(w[0].1.contains("unknown specifier %Z"));
}

/// `%y` and `%Y`: the unit's file and its directory (an instance's are its
/// template's), as systemd resolves them.
#[test]
fn the_unit_file_and_its_directory_specifiers() {
    let text = "[Unit]\nDescription=%y\n[Service]\nExecStart=/bin/echo %Y/x %y\n";
    let p = parse_str(
        "a@b.service",
        Path::new("/etc/vigil/a@.service"),
        text,
        &ctx(),
    );
    let u = p.unit.expect("unit");
    assert_eq!(u.description, "/etc/vigil/a@.service");
    let argv = &u.service.expect("service").exec_start[0].argv;
    assert_eq!(
        argv,
        &["/bin/echo", "/etc/vigil/x", "/etc/vigil/a@.service"]
    );
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
}

#[test]
fn continuation_in_exec_lines() {
    let s = svc("ExecStartPost=/bin/echo one \\\n  # a comment inside\n  two");
    assert_eq!(s.exec_start_post[0].argv, ["/bin/echo", "one", "two"]);
    assert_eq!(s.exec_start_post[0].line, 3);
}

#[test]
fn directive_table_has_no_duplicates_and_no_overlap_with_not_enforced() {
    for (i, a) in DIRECTIVES.iter().enumerate() {
        for b in &DIRECTIVES[i + 1..] {
            assert!(
                !(a.section == b.section && a.name == b.name),
                "{} twice",
                a.name
            );
        }
        assert!(!is_not_enforced(a.section, a.name), "{}", a.name);
    }
}

#[test]
fn debian_ssh_service_loads() {
    let text = include_str!("../../tests/data/ssh.service");
    let p = parse_str(
        "ssh.service",
        Path::new("/lib/systemd/system/ssh.service"),
        text,
        &ctx(),
    );
    let u = p.unit.expect("ssh.service loads");
    assert_eq!(u.description, "OpenBSD Secure Shell server");
    assert_eq!(*u.documentation, ["man:sshd(8)", "man:sshd_config(5)"]);
    assert_eq!(u.deps.after, ["network.target", "auditd.service"]);
    assert_eq!(u.conditions.len(), 1);
    assert!(u.conditions[0].negate);
    let s = u.service.unwrap();
    assert_eq!(s.service_type, ServiceType::Notify);
    assert_eq!(s.exec_start[0].argv, ["/usr/sbin/sshd", "-D", "$SSHD_OPTS"]);
    assert_eq!(s.exec_start_pre.len(), 1);
    assert_eq!(s.exec_reload.len(), 2);
    assert_eq!(s.kill_mode, KillMode::Process);
    assert_eq!(s.restart, RestartPolicy::OnFailure);
    assert_eq!(s.restart_prevent_exit_status.codes, [255]);
    assert!(s.environment_files[0].optional);
    assert_eq!(u.install.wanted_by, ["multi-user.target"]);
    assert_eq!(u.install.alias, ["sshd.service"]);
    assert!(u.not_enforced.is_empty(), "{:?}", u.not_enforced);
    assert_eq!(warnings(&p.diagnostics).len(), 0);
    assert_eq!(
        s.directories(DirectoryKind::Runtime).paths,
        [PathBuf::from("sshd")]
    );
    assert_eq!(s.directories(DirectoryKind::Runtime).mode, 0o755);
}

#[test]
fn execution_environment_directives() {
    let s = svc(
        "RuntimeDirectory=a a/b\nRuntimeDirectory=c\nRuntimeDirectoryMode=0700\n\
         StateDirectory=%N\nCacheDirectory=x\nCacheDirectory=\nLogsDirectory=l\n\
         ConfigurationDirectory=conf\nRuntimeDirectoryPreserve=restart\n\
         User=www\nSupplementaryGroups=audio 29\nSupplementaryGroups=video\n\
         DynamicUser=yes\nPermissionsStartOnly=true\nNice=-5\nOOMScoreAdjust=-900\n\
         IOSchedulingClass=idle\nIOSchedulingPriority=7\nCPUSchedulingPolicy=fifo\n\
         CPUSchedulingPriority=10\nIgnoreSIGPIPE=no\nNonBlocking=yes\nLimitCPU=1min\n\
         LimitNICE=-3\nLimitRTTIME=5ms:infinity\nTTYPath=/dev/tty9\nStandardInput=tty-force",
    );
    let runtime = s.directories(DirectoryKind::Runtime);
    assert_eq!(
        runtime.paths,
        [PathBuf::from("a"), PathBuf::from("a/b"), PathBuf::from("c")]
    );
    assert_eq!(runtime.mode, 0o700);
    // Simplified as systemd does: Debian's irqbalance.service has `irqbalance/`.
    assert_eq!(
        svc("RuntimeDirectory=irqbalance/ a//b/./c")
            .directories(DirectoryKind::Runtime)
            .paths,
        [PathBuf::from("irqbalance"), PathBuf::from("a/b/c")]
    );
    assert_eq!(
        s.directories(DirectoryKind::State).paths,
        [PathBuf::from("a")]
    );
    assert!(s.directories(DirectoryKind::Cache).paths.is_empty());
    assert_eq!(s.directories(DirectoryKind::Logs).mode, 0o755);
    assert_eq!(s.runtime_directory_preserve, Preserve::Restart);
    assert_eq!(*s.supplementary_groups, ["audio", "29", "video"]);
    assert!(s.dynamic_user && s.permissions_start_only && s.non_blocking);
    assert!(!s.ignore_sigpipe);
    assert_eq!((s.nice, s.oom_score_adjust), (Some(-5), Some(-900)));
    assert_eq!((s.io_class, s.io_priority), (Some(IoClass::Idle), Some(7)));
    assert_eq!(
        (s.cpu_policy, s.cpu_priority),
        (Some(CpuPolicy::Fifo), Some(10))
    );
    assert!(s.limits.contains(&(
        Resource::Cpu,
        Limit {
            soft: Some(60),
            hard: Some(60)
        }
    )));
    assert!(s.limits.contains(&(
        Resource::Nice,
        Limit {
            soft: Some(23),
            hard: Some(23)
        }
    )));
    assert!(s.limits.contains(&(
        Resource::Rttime,
        Limit {
            soft: Some(5000),
            hard: None
        }
    )));
    assert_eq!(*s.tty_path, Some(PathBuf::from("/dev/tty9")));
    assert_eq!(s.stdin, Input::Tty(TtyMode::Force));
    // A terminal on stdin makes it stdout's default too.
    assert_eq!(s.stdout, Output::Tty);
    assert_eq!(
        svc("StandardInput=tty\nStandardOutput=null").stdout,
        Output::Null
    );
    assert!(ignore_sigpipe_default());

    let d = svc("StandardInput=data\nStandardInputText=hello\\tworld %n\n\
         StandardInputData=Ynll\nStandardInputText=end");
    assert_eq!(d.stdin, Input::Data);
    assert_eq!(*d.stdin_data, b"hello\tworld a.service\nbyeend\n");
    // The numeric escapes too, as systemd's cunescape.
    let n = svc("StandardInput=data\nStandardInputText=\\x41\\102\\u00e9\\s.");
    assert_eq!(*n.stdin_data, "AB\u{e9} .\n".as_bytes());
    // The text alone makes stdin `data`, as systemd's service_fix_stdio;
    // another stdin keeps its own.
    assert_eq!(svc("StandardInputText=implied").stdin, Input::Data);
    assert_eq!(svc("StandardInputData=Ynll").stdin, Input::Data);
    assert_eq!(
        svc("StandardInput=tty\nStandardInputText=x").stdin,
        Input::Tty(crate::model::TtyMode::Try)
    );
    assert_eq!(
        svc("StandardInput=file:/etc/hostname").stdin,
        Input::File(PathBuf::from("/etc/hostname"))
    );

    for bad in [
        "RuntimeDirectory=/abs",
        "StateDirectory=../up",
        "CacheDirectory=a/../b",
        "RuntimeDirectoryPreserve=maybe",
        "Nice=20",
        "OOMScoreAdjust=1001",
        "IOSchedulingClass=fast",
        "IOSchedulingPriority=8",
        "CPUSchedulingPolicy=deadline",
        "CPUSchedulingPriority=100",
        "StandardInput=keyboard",
        "StandardInputData=!!",
        "TTYPath=tty1",
        "LimitSTACK=8X",
        "SupplementaryGroups=a:b",
        "StandardInputText=a\\qb",
        "StandardInputText=\\x4",
    ] {
        let (line, msg) = one_err(bad);
        assert_eq!(line, 3, "{bad}");
        let key = bad.split('=').next().unwrap();
        assert!(msg.starts_with(&format!("{key}=")), "{bad}: {msg}");
    }
}

fn ignore_sigpipe_default() -> bool {
    svc("").ignore_sigpipe
}

#[test]
fn standard_input_socket_makes_stdout_the_socket_too() {
    let (u, d) = ok("[Service]\nExecStart=/bin/true\nStandardInput=socket\n");
    assert!(warnings(&d).is_empty(), "{d:?}");
    assert!(u.not_enforced.is_empty(), "{:?}", u.not_enforced);
    let s = u.service.unwrap();
    assert_eq!(s.stdin, Input::Socket);
    assert_eq!(s.stdout, Output::Socket);
    assert_eq!(s.stderr, Output::Inherit);
    let s = svc("StandardInput=socket\nStandardOutput=inherit\nStandardError=null");
    assert_eq!((s.stdout, s.stderr), (Output::Socket, Output::Null));
    assert_eq!(
        svc("StandardInput=socket\nStandardOutput=journal").stdout,
        Output::Log
    );
    let s = svc("StandardOutput=socket\nStandardError=socket");
    assert_eq!(
        (s.stdin, s.stdout, s.stderr),
        (Input::Null, Output::Socket, Output::Socket)
    );
}

#[test]
fn every_condition_kind_parses_in_both_forms() {
    let values = [
        (ConditionKind::PathExists, "/a"),
        (ConditionKind::PathIsDirectory, "/a"),
        (ConditionKind::FileIsExecutable, "/a"),
        (ConditionKind::DirectoryNotEmpty, "/a"),
        (ConditionKind::FileNotEmpty, "/a"),
        (ConditionKind::PathExistsGlob, "/dev/tty*"),
        (ConditionKind::PathIsSymbolicLink, "/a"),
        (ConditionKind::PathIsMountPoint, "/proc"),
        (ConditionKind::PathIsReadWrite, "/"),
        (ConditionKind::NeedsUpdate, "/etc"),
        (ConditionKind::KernelCommandLine, "quiet"),
        (ConditionKind::Virtualization, "!container"),
        (ConditionKind::Capability, "CAP_SYS_ADMIN"),
        (ConditionKind::ACPower, "true"),
        (ConditionKind::Host, "box*"),
        (ConditionKind::Architecture, "x86-64"),
        (ConditionKind::Security, "apparmor"),
        (ConditionKind::User, "@system"),
        (ConditionKind::Group, "adm"),
        (ConditionKind::Environment, "LANG=C"),
        (ConditionKind::FirstBoot, "no"),
        (ConditionKind::KernelVersion, "\">= 5.10\" !=6.1.0"),
        (ConditionKind::OSRelease, "ID=debian VERSION_ID>=12"),
        (ConditionKind::Memory, ">=1G"),
        (ConditionKind::CPUs, "2"),
        (ConditionKind::Firmware, "smbios-field(board_name $= X570*)"),
        (ConditionKind::PathIsEncrypted, "/"),
        (ConditionKind::ControlGroupController, "cpu memory"),
        (ConditionKind::Credential, "my.secret"),
    ];
    assert_eq!(values.len(), ConditionKind::ALL.len());
    let mut text = String::from("[Unit]\n");
    for (kind, v) in values {
        text.push_str(&format!("Condition{}=|{v}\n", kind.name()));
        text.push_str(&format!("Assert{}={v}\n", kind.name()));
    }
    text.push_str("[Service]\nExecStart=/bin/true\n");
    let (u, diags) = ok(&text);
    assert!(diags.is_empty(), "{diags:#?}");
    assert!(u.not_enforced.is_empty(), "{:?}", u.not_enforced);
    let kinds: Vec<_> = u.conditions.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, ConditionKind::ALL);
    assert!(u.conditions.iter().all(|c| c.trigger));
    assert_eq!(
        u.asserts.iter().map(|c| c.kind).collect::<Vec<_>>(),
        ConditionKind::ALL
    );
    let virt = &u.conditions[11];
    assert_eq!(
        (virt.trigger, virt.negate, virt.arg.as_str()),
        (true, true, "container")
    );
    // Specifiers are expanded in every kind (%H: the host name).
    let (u, _) = ok("[Unit]\nConditionHost=|!%H\n[Service]\nExecStart=/bin/true\n");
    assert_eq!(
        (
            u.conditions[0].trigger,
            u.conditions[0].negate,
            u.conditions[0].arg.as_str()
        ),
        (true, true, "box")
    );
}

/// systemd: an architecture it does not know is simply not this machine's;
/// the unit loads (vigil warns, as the name is probably a mistake).
#[test]
fn unknown_architecture_loads_with_a_warning() {
    let (u, d) = ok(
        "[Unit]\nConditionArchitecture=!x86_64\nAssertArchitecture=foo\n\
         ConditionArchitecture=arm64\n[Service]\nExecStart=/bin/true\n",
    );
    let args: Vec<_> = u
        .conditions
        .iter()
        .map(|c| (c.negate, c.arg.as_str()))
        .collect();
    assert_eq!(args, [(true, "x86_64"), (false, "arm64")]);
    assert_eq!(u.asserts[0].arg, "foo");
    let w = warnings(&d);
    assert_eq!(w.iter().map(|w| w.0).collect::<Vec<_>>(), [2, 3], "{w:?}");
    assert!(
        w[0].1.starts_with(
            "ConditionArchitecture=!x86_64: unknown architecture \"x86_64\", so the check never holds"
        ),
        "{}",
        w[0].1
    );
}

#[test]
fn malformed_condition_values_name_line_and_directive() {
    let e = errs(
        "[Unit]\nConditionArchitecture=foo\nAssertVirtualization=vmware-ish\n\
         ConditionCapability=CAP_NOPE\nConditionSecurity=magic\nConditionACPower=maybe\n\
         ConditionFirstBoot=\nConditionFirstBoot=sometimes\nConditionUser=a b\n\
         ConditionGroup=\nConditionKernelCommandLine=!\nConditionPathExistsGlob=rel*\n\
         ConditionArchitecture=native\nConditionKernelVersion=>=\nConditionOSRelease=debian\n\
         ConditionMemory=lots\nAssertCPUs=$=4\nConditionFirmware=bios\n\
         ConditionPathIsEncrypted=home\nConditionCredential=a/b\n\
         ConditionControlGroupController=\"cpu\n[Service]\nExecStart=/bin/true\n",
    );
    // An unknown architecture and a relative path are warnings (lines 2, 12, 19).
    let lines: Vec<u32> = e.iter().map(|e| e.0).collect();
    assert_eq!(
        lines,
        [3, 4, 5, 6, 8, 9, 11, 14, 15, 16, 17, 18, 20, 21],
        "{e:#?}"
    );
    for (i, text) in [
        (0, "AssertVirtualization=vmware-ish"),
        (1, "unknown capability \"CAP_NOPE\""),
        (2, "unknown security technology"),
        (3, "not a boolean"),
        (6, "ConditionKernelCommandLine=!: empty value"),
        (
            7,
            "ConditionKernelVersion=>=: operator \">=\" without a version",
        ),
        (8, "ConditionOSRelease=debian: \"debian\" is not KEY=VALUE"),
        (9, "ConditionMemory=lots: "),
        (
            10,
            "AssertCPUs=$=4: \"$=4\": a glob does not compare numbers",
        ),
        (11, "ConditionFirmware=bios: unknown firmware test \"bios\""),
        (12, "\"a/b\" is not a valid credential name"),
        (13, "unbalanced quotes"),
    ] {
        assert!(e[i].1.contains(text), "{}", e[i].1);
    }
    // An empty value resets every condition, of every kind, as systemd does.
    let (u, _) = ok(
        "[Unit]\nConditionUser=root\nConditionHost=x\nConditionVirtualization=\n\
         ConditionEnvironment=A\nAssertUser=root\n[Service]\nExecStart=/bin/true\n",
    );
    assert_eq!(u.conditions.len(), 1);
    assert_eq!(u.conditions[0].kind, ConditionKind::Environment);
    assert_eq!(u.asserts.len(), 1);
}

#[test]
fn type_idle_is_simple_without_a_warning() {
    let (u, d) = ok("[Service]\nType=idle\nExecStart=/bin/true\n");
    assert_eq!(u.service.unwrap().service_type, ServiceType::Simple);
    assert!(u.not_enforced.is_empty(), "{:?}", u.not_enforced);
    assert!(warnings(&d).is_empty(), "{d:?}");
}

#[test]
fn watchdog_and_abort_directives() {
    let s = svc("");
    assert_eq!(s.watchdog, None);
    assert_eq!(s.watchdog_signal, 6);
    assert_eq!(s.timeout_abort, s.timeout_stop);
    assert!(s.guess_main_pid);
    let s = svc("WatchdogSec=2s\nWatchdogSignal=SIGUSR1\nTimeoutStopSec=7\nGuessMainPID=no");
    assert_eq!(s.watchdog, Some(Duration::from_secs(2)));
    assert_eq!(s.watchdog_signal, 10);
    // TimeoutAbortSec= unset follows TimeoutStopSec=.
    assert_eq!(s.timeout_abort, Some(Duration::from_secs(7)));
    assert!(!s.guess_main_pid);
    let s = svc("TimeoutAbortSec=3\nTimeoutStopSec=7");
    assert_eq!(s.timeout_abort, Some(Duration::from_secs(3)));
    assert_eq!(svc("TimeoutAbortSec=infinity").timeout_abort, None);
    assert_eq!(svc("WatchdogSec=0").watchdog, None);
    let s = svc("RestartForceExitStatus=3 SIGUSR2");
    assert_eq!(s.restart_force_exit_status.codes, [3]);
    assert_eq!(s.restart_force_exit_status.signals, [12]);
    let (l, m) = one_err("WatchdogSec=soon");
    assert_eq!(l, 3);
    assert!(m.contains("WatchdogSec"), "{m}");
}

#[test]
fn success_and_failure_actions_with_their_exit_statuses() {
    use crate::model::{UnitAction, UnitActionKind};
    let (u, d) = ok("[Unit]\nSuccessAction=exit\nSuccessActionExitStatus=7\n\
         FailureAction=reboot-force\nFailureActionExitStatus=\n\
         [Service]\nType=oneshot\nExecStart=/bin/true\n");
    assert!(u.not_enforced.is_empty(), "{:?}", u.not_enforced);
    assert!(warnings(&d).is_empty(), "{d:?}");
    let plain = |kind| {
        Some(UnitAction {
            kind,
            forced: false,
        })
    };
    assert_eq!(u.success_action, plain(UnitActionKind::Exit));
    assert_eq!(u.success_action_exit_status, Some(7));
    assert_eq!(
        u.failure_action,
        Some(UnitAction {
            kind: UnitActionKind::Reboot,
            forced: true
        })
    );
    assert_eq!(u.failure_action_exit_status, None);
    for (v, want) in [
        ("none", None),
        ("poweroff-immediate", Some((UnitActionKind::Poweroff, true))),
        ("halt", Some((UnitActionKind::Halt, false))),
        ("soft-reboot", Some((UnitActionKind::Reboot, false))),
        ("kexec-force", Some((UnitActionKind::Kexec, true))),
        ("exit-force", Some((UnitActionKind::Exit, true))),
    ] {
        let (u, _) = ok(&format!(
            "[Unit]\nSuccessAction={v}\n[Service]\nExecStart=/bin/true\n"
        ));
        let got = u.success_action.map(|a| (a.kind, a.forced));
        assert_eq!(got, want, "{v}");
    }
    // The old [Service] place of FailureAction= (packagekit-offline-update.service).
    let (u, d) = ok("[Service]\nExecStart=/bin/true\nFailureAction=reboot\n");
    assert_eq!(u.failure_action, plain(UnitActionKind::Reboot));
    assert!(warnings(&d).is_empty(), "{d:?}");
    // SuccessAction= alone makes a oneshot without commands valid, as in systemd.
    let (u, _) = ok("[Unit]\nSuccessAction=poweroff\n[Service]\nType=oneshot\n");
    assert_eq!(u.success_action, plain(UnitActionKind::Poweroff));
    for bad in ["exit-immediate", "explode", "Reboot"] {
        let e = errs(&format!(
            "[Unit]\nSuccessAction={bad}\n[Service]\nExecStart=/bin/true\n"
        ));
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, 2);
        assert!(e[0].1.contains("expected none, exit"), "{:?}", e[0]);
    }
    let e = errs("[Unit]\nFailureActionExitStatus=256\n[Service]\nExecStart=/bin/true\n");
    assert!(
        e[0].1.contains("expected an exit status from 0 to 255"),
        "{e:?}"
    );
}

#[test]
fn ambient_capabilities_parse_as_systemd_capability_sets() {
    const NET_BIND: u64 = 1 << 10;
    const NET_RAW: u64 = 1 << 13;
    const SYS_TIME: u64 = 1 << 25;
    assert_eq!(svc("").ambient_capabilities, 0);
    assert_eq!(
        svc("AmbientCapabilities=CAP_NET_BIND_SERVICE").ambient_capabilities,
        NET_BIND
    );
    // Any case, with or without CAP_, numbers; several lines accumulate.
    assert_eq!(
        svc("AmbientCapabilities=cap_net_bind_service net_raw\nAmbientCapabilities=25")
            .ambient_capabilities,
        NET_BIND | NET_RAW | SYS_TIME
    );
    // Empty resets; `~` inverts a line; `~` alone is every capability.
    assert_eq!(
        svc("AmbientCapabilities=CAP_NET_RAW\nAmbientCapabilities=\nAmbientCapabilities=CAP_SYS_TIME")
            .ambient_capabilities,
        SYS_TIME
    );
    assert_eq!(
        svc("AmbientCapabilities=~CAP_NET_RAW").ambient_capabilities,
        !NET_RAW
    );
    assert_eq!(svc("AmbientCapabilities=~").ambient_capabilities, !0);
    assert_eq!(
        svc("AmbientCapabilities=CAP_NET_RAW CAP_SYS_TIME\nAmbientCapabilities=~CAP_NET_RAW")
            .ambient_capabilities,
        SYS_TIME
    );
    // Unknown names: ignored with a warning naming the line and the directive.
    let (u, d) =
        ok("[Service]\nExecStart=/bin/true\nAmbientCapabilities=CAP_NOPE CAP_NET_BIND_SERVICE\n");
    assert_eq!(u.service.unwrap().ambient_capabilities, NET_BIND);
    assert_eq!(
        warnings(&d),
        [(
            3,
            "AmbientCapabilities=CAP_NOPE CAP_NET_BIND_SERVICE: unknown capability \"CAP_NOPE\", ignored"
                .to_owned()
        )]
    );
    assert!(u.not_enforced.is_empty());
    // As in systemd, a line that adds up to nothing replaces the set, even
    // when that is because all its names are unknown.
    assert_eq!(
        svc("AmbientCapabilities=CAP_NET_RAW\nAmbientCapabilities=CAP_NOPE").ambient_capabilities,
        0
    );
}

#[test]
fn capability_bounding_set_parses_like_ambient_capabilities_from_unset() {
    const NET_BIND: u64 = 1 << 10;
    const NET_RAW: u64 = 1 << 13;
    assert_eq!(svc("").capability_bounding_set, None);
    assert_eq!(
        svc("CapabilityBoundingSet=CAP_NET_BIND_SERVICE\nCapabilityBoundingSet=net_raw")
            .capability_bounding_set,
        Some(NET_BIND | NET_RAW)
    );
    // `~` on an unset set: everything but those.
    assert_eq!(
        svc("CapabilityBoundingSet=~CAP_NET_RAW CAP_SYS_PTRACE").capability_bounding_set,
        Some(!(NET_RAW | 1 << 19))
    );
    // Empty: the empty set (every capability dropped), not "unset".
    assert_eq!(
        svc("CapabilityBoundingSet=CAP_NET_RAW\nCapabilityBoundingSet=").capability_bounding_set,
        Some(0)
    );
    assert_eq!(
        svc("CapabilityBoundingSet=").capability_bounding_set,
        Some(0)
    );
    assert_eq!(
        svc("CapabilityBoundingSet=~").capability_bounding_set,
        Some(!0)
    );
}

#[test]
fn notify_reload_and_reload_signal() {
    let (u, d) = ok("[Service]\nType=notify-reload\nReloadSignal=SIGUSR1\nExecStart=/bin/true\n");
    assert!(warnings(&d).is_empty(), "{d:?}");
    assert!(u.not_enforced.is_empty(), "{:?}", u.not_enforced);
    let s = u.service.unwrap();
    assert_eq!(s.service_type, ServiceType::Notify);
    assert!(s.notify_reload);
    assert_eq!(s.reload_signal, 10);
    let s = svc("Type=notify");
    assert!(!s.notify_reload);
    assert_eq!(s.reload_signal, 1);
    let (line, msg) = one_err("ReloadSignal=SIGNOPE");
    assert_eq!(line, 3);
    assert!(msg.contains("ReloadSignal"), "{msg}");
}

#[test]
fn a_later_type_replaces_dbus_and_notify_reload() {
    // As a drop-in's Type= would: the earlier line's D-Bus and reload rules go with it.
    let s = svc("Type=dbus\nType=idle");
    assert_eq!(s.service_type, ServiceType::Simple);
    let s = svc("Type=notify-reload\nType=idle");
    assert_eq!(s.service_type, ServiceType::Simple);
    assert!(!s.notify_reload);
}

/// A service that sets none of the rarely used fields keeps no room for them
/// once shrunk (what a manager holds for its whole life), and one that sets
/// them to their default gives the room back; both compare equal to a
/// service that never had them, so that a re-load sees no change.
#[test]
fn sparse_fields_take_no_room_until_set() {
    let (mut plain, _) = ok("[Service]\nExecStart=/bin/true\n");
    plain.shrink_to_fit();
    let s = plain.service.as_ref().expect("service");
    let unset = [
        s.exec_stop.is_set(),
        s.exec_reload.is_set(),
        s.directories.is_set(),
        s.success_exit_status.is_set(),
        s.supplementary_groups.is_set(),
        s.limits.is_set(),
        plain.install.is_set(),
        plain.socket.is_set(),
        plain.deps.binds_to.is_set(),
        plain.deps.on_failure.is_set(),
        s.user.is_set(),
        s.working_directory.is_set(),
        plain.conditions.is_set(),
        plain.documentation.is_set(),
    ];
    assert_eq!(unset, [false; 14]);
    assert!(s.exec_stop.is_empty() && s.directories[0].mode == 0o755);

    // ExecStop= emptied again, and [Install] with no directive: equal to the
    // plain service, and unset once shrunk.
    let (mut emptied, _) =
        ok("[Service]\nExecStart=/bin/true\nExecStop=/bin/x\nExecStop=\n[Install]\n");
    assert_eq!(emptied, plain);
    emptied.shrink_to_fit();
    let e = emptied.service.as_ref().expect("service");
    assert!(!e.exec_stop.is_set() && !emptied.install.is_set());

    let mut set = svc("ExecReload=/bin/kill -HUP $MAINPID\nSupplementaryGroups=audio");
    assert_eq!(set.exec_reload.len(), 1);
    assert_eq!(*set.supplementary_groups, ["audio"]);
    set.supplementary_groups.clear();
    set.supplementary_groups.shrink();
    assert!(!set.supplementary_groups.is_set() && set.exec_reload.is_set());
}
