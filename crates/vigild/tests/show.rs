//! `vigil show`, systemctl show's counterpart, end to end: the real vigild on
//! its own unit directory and socket, driven by the real `vigil`, with real
//! services. Each test reads the `Key=Value` lines a script would.

mod harness;

use harness::{Manager, TempDir, alive, send_signal};

/// `vigil show ARGS...` as `Key=Value` pairs, in order (exit 0 asserted).
fn show(m: &Manager, args: &[&str]) -> Vec<(String, String)> {
    let mut all = vec!["show"];
    all.extend(args);
    let out = m.vigil_ok(&all);
    (out.lines())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not Key=Value: {l}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// The value of `key` in `props`; panics when it is not there.
fn get<'a>(props: &'a [(String, String)], key: &str) -> &'a str {
    let found = props.iter().find(|(k, _)| k == key);
    found.map_or_else(|| panic!("no {key} in {props:?}"), |(_, v)| v.as_str())
}

fn has(props: &[(String, String)], key: &str) -> bool {
    props.iter().any(|(k, _)| k == key)
}

fn sleeper(extra: &str) -> String {
    format!("[Service]\nExecStart=/bin/sleep 1000\n{extra}")
}

/// A timestamp as systemd prints it: `Mon 2026-12-07 14:05:00 UTC`.
fn is_timestamp(s: &str) -> bool {
    let parts: Vec<&str> = s.split(' ').collect();
    matches!(parts.as_slice(), [day, date, time, "UTC"]
        if day.len() == 3 && date.len() == 10 && time.len() == 8)
}

/// A running service: its MainPID is the one `vigil status` says, and its
/// states are systemd's words.
#[test]
fn a_running_service_shows_its_main_pid_and_states() {
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=web.service\n"),
        (
            "web.service",
            &sleeper("[Unit]\nDescription=Web front end\n"),
        ),
    ]);
    m.wait_state("web.service", "running");
    let pid = m.main_pid("web.service").to_string();
    let p = show(&m, &["web"]);
    assert_eq!(get(&p, "Id"), "web.service");
    assert_eq!(get(&p, "MainPID"), pid);
    assert_eq!(get(&p, "ExecMainPID"), pid);
    assert_eq!(get(&p, "LoadState"), "loaded");
    assert_eq!(get(&p, "ActiveState"), "active");
    assert_eq!(get(&p, "SubState"), "running");
    assert_eq!(get(&p, "Result"), "success");
    assert_eq!(get(&p, "Type"), "simple");
    assert_eq!(get(&p, "Description"), "Web front end");
    assert_eq!(get(&p, "UnitFileState"), "static");
    assert_eq!(get(&p, "CanStart"), "yes");
    assert!(get(&p, "FragmentPath").ends_with("/web.service"));
    assert_eq!(
        get(&p, "ExecStart"),
        "{ path=/bin/sleep ; argv[]=/bin/sleep 1000 ; ignore_errors=no }"
    );
    let active = get(&p, "ActiveEnterTimestamp");
    assert!(is_timestamp(active), "ActiveEnterTimestamp={active}");
    // Not inactive since it started: left out, as systemctl leaves out
    // what is empty; systemd's order: the service's properties first.
    assert!(!has(&p, "ActiveExitTimestamp"), "{p:?}");
    let at = |k: &str| p.iter().position(|(key, _)| key == k).unwrap();
    assert!(at("Type") < at("MainPID") && at("MainPID") < at("Id"));
    assert!(at("Id") < at("LoadState") && at("LoadState") < at("ActiveState"));
}

/// A service whose main process exited 3: failed, Result=exit-code, and the
/// exit in systemd's CLD_* numbers; one killed by a signal says so.
#[test]
fn a_failed_service_says_how_its_main_process_ended() {
    let m = Manager::start(&[
        (
            "three.service",
            "[Service]\nExecStart=/bin/sh -c 'exit 3'\n",
        ),
        ("victim.service", &sleeper("")),
    ]);
    m.vigil_ok(&["start", "three"]);
    m.wait_state("three.service", "failed");
    let p = show(&m, &["three"]);
    assert_eq!(get(&p, "ActiveState"), "failed");
    assert_eq!(get(&p, "SubState"), "failed");
    assert_eq!(get(&p, "Result"), "exit-code");
    assert_eq!(get(&p, "ExecMainCode"), "1");
    assert_eq!(get(&p, "ExecMainStatus"), "3");
    assert_eq!(get(&p, "MainPID"), "0");
    assert_ne!(get(&p, "ExecMainPID"), "0", "the last main process is kept");
    assert!(is_timestamp(get(&p, "InactiveEnterTimestamp")));

    m.vigil_ok(&["start", "victim"]);
    let pid = m.main_pid("victim.service");
    assert!(send_signal(pid, "KILL"));
    m.wait_state("victim.service", "failed");
    let p = show(&m, &["victim"]);
    assert_eq!(get(&p, "Result"), "signal");
    assert_eq!(get(&p, "ExecMainCode"), "2");
    assert_eq!(get(&p, "ExecMainStatus"), "9");
    assert_eq!(get(&p, "ExecMainPID"), pid.to_string());
}

/// A unit that failed and waited out `RestartSec=` for its automatic
/// restart said `Result=success` once `vigil stop` called the
/// restart off. systemd's stop of a unit in `auto-restart` makes it dead
/// (inactive, not failed) and keeps the result of the failure; a
/// reset-failed or the next start clears it.
#[test]
fn a_stop_while_waiting_to_restart_keeps_the_failures_result() {
    let m = Manager::start(&[(
        "flaky.service",
        "[Service]\nExecStart=/bin/sh -c 'exit 3'\nRestart=on-failure\nRestartSec=30\n",
    )]);
    m.vigil_ok(&["start", "--no-block", "flaky"]);
    m.wait_state("flaky.service", "restarting");
    let p = show(&m, &["flaky"]);
    assert_eq!(get(&p, "SubState"), "auto-restart");
    assert_eq!(get(&p, "Result"), "exit-code");

    m.vigil_ok(&["stop", "flaky"]);
    let p = show(&m, &["flaky"]);
    assert_eq!(get(&p, "ActiveState"), "inactive");
    assert_eq!(get(&p, "SubState"), "dead");
    assert_eq!(get(&p, "Result"), "exit-code");
    assert_eq!(get(&p, "ExecMainStatus"), "3");
    // Not failed: no OnFailure= for it, as in systemd.
    m.vigil_code(&["is-failed", "flaky"], 1);

    m.vigil_ok(&["reset-failed", "flaky"]);
    assert_eq!(get(&show(&m, &["flaky"]), "Result"), "success");
}

/// `-p` names what to print, in systemd's order whatever order they were
/// asked in, `PROP=` for one vigil has no value for; `--value` prints the
/// values alone: `vigil show -p MainPID --value web` is the PID.
#[test]
fn property_and_value_print_only_what_was_asked() {
    let m = Manager::start(&[("web.service", &sleeper(""))]);
    m.vigil_ok(&["start", "web"]);
    let pid = m.main_pid("web.service");
    let out = m.vigil_ok(&["show", "-p", "MainPID", "--value", "web"]);
    assert_eq!(out, format!("{pid}\n"));
    let out = m.vigil_ok(&["show", "web", "--property=SubState,Id", "-p", "NoSuchProp"]);
    assert_eq!(out, "Id=web.service\nSubState=running\nNoSuchProp=\n");
    // Asked for, an empty value is printed, as systemctl does.
    let out = m.vigil_ok(&["show", "web", "-p", "StatusText"]);
    assert_eq!(out, "StatusText=\n");
    // `-P PROP`: systemctl's `-p PROP --value`.
    assert_eq!(
        m.vigil_ok(&["show", "-P", "MainPID", "web"]),
        format!("{pid}\n")
    );
}

/// Empty properties are left out unless `-a`.
#[test]
fn empty_properties_only_with_all() {
    let m = Manager::start(&[("web.service", &sleeper(""))]);
    let p = show(&m, &["web"]);
    assert!(!has(&p, "StatusText") && !has(&p, "Requisite"), "{p:?}");
    assert!(!has(&p, "ActiveEnterTimestamp"), "never started: {p:?}");
    let p = show(&m, &["-a", "web"]);
    assert_eq!(get(&p, "StatusText"), "");
    assert_eq!(get(&p, "Requisite"), "");
    assert_eq!(get(&p, "ActiveEnterTimestamp"), "");
    assert_eq!(get(&p, "ActiveState"), "inactive");
    assert_eq!(get(&p, "SubState"), "dead");
}

/// A name with no unit: systemctl's answer (Id, not-found, inactive, dead,
/// and for a service a service's defaults: scripts read `MainPID` as a
/// number) and exit 0, beside the units that exist, a blank line between
/// units.
#[test]
fn a_name_with_no_unit_is_not_found_and_exit_0() {
    let m = Manager::start(&[("web.service", &sleeper(""))]);
    let p = show(&m, &["nope"]);
    assert_eq!(get(&p, "Id"), "nope.service");
    assert_eq!(get(&p, "LoadState"), "not-found");
    assert_eq!(get(&p, "ActiveState"), "inactive");
    assert_eq!(get(&p, "SubState"), "dead");
    for (key, value) in [
        ("MainPID", "0"),
        ("NRestarts", "0"),
        ("Result", "success"),
        ("Type", "simple"),
        ("Description", "nope.service"),
    ] {
        assert_eq!(get(&p, key), value, "{key}: {p:?}");
    }
    let target = show(&m, &["nope.target"]);
    assert!(!has(&target, "MainPID"), "a target has none: {target:?}");
    let out = m.vigil_ok(&["show", "-p", "Id,LoadState", "web", "nope"]);
    assert_eq!(
        out,
        "Id=web.service\nLoadState=loaded\n\nId=nope.service\nLoadState=not-found\n"
    );
}

/// Dependencies as the manager has them loaded, both ways: what a unit
/// wants, requires and is ordered after, and who wants, requires it and is
/// ordered after it; a socket and the service it triggers.
#[test]
fn dependencies_are_listed_both_ways() {
    let dir = TempDir::new("show-socket");
    let listen = dir.path().join("s.sock");
    let socket = format!("[Socket]\nListenStream={}\n", listen.display());
    let m = Manager::start(&[
        (
            "app.service",
            &sleeper(
                "[Unit]\nWants=cache.service\nRequires=db.service\nAfter=db.service\n\
                 Conflicts=other.service\nOnFailure=alert.service\n",
            ),
        ),
        ("cache.service", &sleeper("")),
        ("db.service", &sleeper("[Unit]\nBefore=cache.service\n")),
        ("other.service", &sleeper("")),
        ("alert.service", &sleeper("")),
        ("echo.socket", &socket),
        ("echo.service", &sleeper("")),
    ]);
    let app = show(&m, &["app"]);
    assert_eq!(get(&app, "Wants"), "cache.service");
    assert!(get(&app, "Requires").split(' ').any(|u| u == "db.service"));
    assert!(get(&app, "After").split(' ').any(|u| u == "db.service"));
    assert!(
        get(&app, "Conflicts")
            .split(' ')
            .any(|u| u == "other.service")
    );
    assert_eq!(get(&app, "OnFailure"), "alert.service");
    let db = show(&m, &["db"]);
    assert_eq!(get(&db, "RequiredBy"), "app.service");
    let before: Vec<&str> = get(&db, "Before").split(' ').collect();
    assert!(before.contains(&"app.service") && before.contains(&"cache.service"));
    let cache = show(&m, &["cache"]);
    assert_eq!(get(&cache, "WantedBy"), "app.service");
    // db's Before= is cache's After=.
    assert!(get(&cache, "After").split(' ').any(|u| u == "db.service"));
    assert_eq!(get(&show(&m, &["echo.socket"]), "Triggers"), "echo.service");
    assert_eq!(get(&show(&m, &["echo"]), "TriggeredBy"), "echo.socket");
}

/// Settings in systemd's formats: spans, booleans, signals, the
/// environment, the user and the directory.
#[test]
fn settings_in_systemds_formats() {
    let m = Manager::start(&[(
        "tuned.service",
        &sleeper(
            "[Unit]\nRefuseManualStop=yes\n[Service]\n\
             Restart=on-failure\nRestartSec=1.5\nTimeoutStartSec=infinity\n\
             TimeoutStopSec=90\nEnvironment=A=1 B=two \"C=three words\"\nWorkingDirectory=-/tmp\n\
             KillMode=mixed\nKillSignal=SIGINT\nSendSIGKILL=no\nRemainAfterExit=yes\n",
        ),
    )]);
    let p = show(&m, &["tuned"]);
    assert_eq!(get(&p, "Restart"), "on-failure");
    assert_eq!(get(&p, "RestartUSec"), "1.500000s");
    assert_eq!(get(&p, "TimeoutStartUSec"), "infinity");
    assert_eq!(get(&p, "TimeoutStopUSec"), "1min 30s");
    assert_eq!(get(&p, "Environment"), "A=1 B=two \"C=three words\"");
    // No Description=: the name, as systemd's.
    assert_eq!(get(&p, "Description"), "tuned.service");
    assert_eq!(get(&p, "WorkingDirectory"), "!/tmp");
    assert_eq!(get(&p, "KillMode"), "mixed");
    assert_eq!(get(&p, "KillSignal"), "2");
    assert_eq!(get(&p, "SendSIGKILL"), "no");
    assert_eq!(get(&p, "RemainAfterExit"), "yes");
    assert_eq!(get(&p, "RefuseManualStop"), "yes");
    assert_eq!(get(&p, "CanStop"), "no");
}

/// A pattern shows every loaded unit it matches, as the other verbs take it.
#[test]
fn a_pattern_shows_every_unit_it_matches() {
    let m = Manager::start(&[("worker@.service", &sleeper(""))]);
    m.vigil_ok(&["start", "worker@1", "worker@2"]);
    let out = m.vigil_ok(&["show", "-p", "Id,SubState", "worker@*"]);
    assert_eq!(
        out,
        "Id=worker@1.service\nSubState=running\n\nId=worker@2.service\nSubState=running\n"
    );
}

/// No name: the manager's own properties; NFailedUnits counts the failed
/// units and SystemState says degraded while one is, running after.
#[test]
fn the_manager_form_counts_failed_units() {
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=bad.service ok.service\n"),
        ("bad.service", "[Service]\nExecStart=/bin/false\n"),
        ("ok.service", &sleeper("")),
    ]);
    m.wait_state("bad.service", "failed");
    m.wait_state("default.target", "running");
    let p = show(&m, &[]);
    assert_eq!(get(&p, "NFailedUnits"), "1");
    assert_eq!(get(&p, "SystemState"), "degraded");
    assert_eq!(get(&p, "Version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(get(&p, "UnitPath"), m.config.display().to_string());
    let names: u64 = get(&p, "NNames").parse().unwrap();
    assert!(names >= 3, "NNames={names}");
    // vigil's own: replies not read yet (none: this one is not queued yet).
    assert_eq!(get(&p, "QueuedReplyBytes"), "0");
    m.vigil_ok(&["reset-failed", "bad"]);
    let p = show(&m, &["-p", "NFailedUnits,SystemState"]);
    assert_eq!(
        p,
        [
            ("NFailedUnits".into(), "0".into()),
            ("SystemState".into(), "running".into())
        ]
    );
    let out = m.vigil_ok(&["show", "-p", "NFailedUnits", "--value"]);
    assert_eq!(out, "0\n");
}

/// `--json`: an object of the same properties for one name (or the
/// manager), an array for several names or a pattern.
#[test]
fn json_parses_as_an_object_or_an_array() {
    let m = Manager::start(&[("web.service", &sleeper(""))]);
    m.vigil_ok(&["start", "web"]);
    let pid = m.main_pid("web.service");
    let one: serde_json::Value =
        serde_json::from_str(&m.vigil_ok(&["--json", "show", "web"])).expect("JSON");
    assert_eq!(one["Id"], "web.service");
    assert_eq!(one["MainPID"], pid.to_string());
    assert_eq!(
        one["ExecStart"][0],
        "{ path=/bin/sleep ; argv[]=/bin/sleep 1000 ; ignore_errors=no }"
    );
    let many: serde_json::Value =
        serde_json::from_str(&m.vigil_ok(&["--json", "show", "-p", "Id", "web", "nope"]))
            .expect("JSON");
    assert_eq!(
        many,
        serde_json::json!([{"Id": "web.service"}, {"Id": "nope.service"}])
    );
    let manager: serde_json::Value =
        serde_json::from_str(&m.vigil_ok(&["--json", "show"])).expect("JSON");
    assert_eq!(manager["NFailedUnits"], "0");
    assert!(alive(pid));
}

/// An `Environment=` value with a newline (a unit file's C escape, a YAML
/// string's) stays on its line, as systemctl show prints a word of a list:
/// in double quotes, the newline `\n`, `$` and `"` backslashed; a single
/// value with a newline is systemd's `[unprintable]`, one with another
/// control character has it C-escaped.
#[test]
fn control_characters_never_break_a_line() {
    let m = Manager::start(&[
        (
            "file.service",
            &sleeper("Environment=\"B=x\\ny\" \"C=a$b\" \"D=say \\\"hi\\\"\" E=plain\n"),
        ),
        (
            "zinit.yaml",
            "exec: /bin/sleep 1000\nenv:\n  B: \"x\\ny\"\n",
        ),
        ("tab.yaml", "exec: /bin/sleep 1000\ndir: \"/tmp/a\\tb\"\n"),
        (
            "newline.yaml",
            "exec: /bin/sleep 1000\ndir: \"/tmp/a\\nb\"\n",
        ),
    ]);
    let p = show(&m, &["file"]);
    assert_eq!(
        get(&p, "Environment"),
        r#""B=x\ny" "C=a\$b" "D=say \"hi\"" E=plain"#
    );
    let out = m.vigil_ok(&["show", "-p", "Environment", "--value", "zinit"]);
    assert_eq!(out, "\"B=x\\ny\"\n");
    assert_eq!(get(&show(&m, &["tab"]), "WorkingDirectory"), "/tmp/a\\tb");
    let out = m.vigil_ok(&["show", "-P", "WorkingDirectory", "newline"]);
    assert_eq!(out, "[unprintable]\n");
}

/// NotifyAccess= as systemd defaults it: `main` for Type=notify and with
/// WatchdogSec=, `none` else, and as set.
#[test]
fn notify_access_is_systemds_default_or_as_set() {
    let m = Manager::start(&[
        ("notify.service", &sleeper("Type=notify\n")),
        ("dog.service", &sleeper("WatchdogSec=1\n")),
        ("plain.service", &sleeper("")),
        ("all.service", &sleeper("Type=notify\nNotifyAccess=all\n")),
        ("exec.service", &sleeper("NotifyAccess=exec\n")),
        ("zinit.yaml", "exec: /bin/sleep 1000\n"),
    ]);
    for (unit, access) in [
        ("notify", "main"),
        ("dog", "main"),
        ("plain", "none"),
        ("all", "all"),
        ("exec", "exec"),
        ("zinit", "none"),
    ] {
        let out = m.vigil_ok(&["show", "-p", "NotifyAccess", unit]);
        assert_eq!(out, format!("NotifyAccess={access}\n"), "{unit}");
    }
}

/// WatchdogUSec= and TimeoutAbortUSec= in systemd's spans: 0 without a
/// watchdog; the abort timeout is the stop timeout unless set.
#[test]
fn watchdog_and_abort_timeouts_are_shown() {
    let m = Manager::start(&[
        (
            "dog.service",
            &sleeper("WatchdogSec=1\nTimeoutAbortSec=1\nTimeoutStopSec=7\n"),
        ),
        ("plain.service", &sleeper("TimeoutStopSec=7\n")),
        ("forever.service", &sleeper("TimeoutAbortSec=infinity\n")),
        ("zinit.yaml", "exec: /bin/sleep 1000\nshutdown_timeout: 3\n"),
    ]);
    let p = show(&m, &["-p", "WatchdogUSec,TimeoutAbortUSec", "dog"]);
    assert_eq!(
        p,
        [
            ("TimeoutAbortUSec".into(), "1s".into()),
            ("WatchdogUSec".into(), "1s".into())
        ]
    );
    let p = show(&m, &["plain"]);
    assert_eq!(get(&p, "WatchdogUSec"), "0");
    assert_eq!(get(&p, "TimeoutAbortUSec"), "7s");
    let out = m.vigil_ok(&["show", "-P", "TimeoutAbortUSec", "forever"]);
    assert_eq!(out, "infinity\n");
    let out = m.vigil_ok(&["show", "-P", "TimeoutAbortUSec", "zinit"]);
    assert_eq!(out, "3s\n");
}

/// StartLimitIntervalUSec= and StartLimitBurst= for every unit (systemd's
/// defaults, 10s and 5, when unset; `infinity`); ControlPID= the PID of the
/// control process that runs, 0 when none does.
#[test]
fn start_limits_and_the_control_pid() {
    let dir = TempDir::new("show-control");
    let pid_file = dir.path().join("pre.pid");
    let m = Manager::start(&[
        ("plain.service", &sleeper("")),
        (
            "limited.service",
            &sleeper("[Unit]\nStartLimitIntervalSec=1min\nStartLimitBurst=3\n"),
        ),
        (
            "endless.service",
            &sleeper("[Unit]\nStartLimitIntervalSec=infinity\n"),
        ),
        ("t.target", "[Unit]\nDescription=t\n"),
        (
            "pre.service",
            &sleeper(&format!(
                "ExecStartPre=/bin/sh -c 'echo $$$$ > {}; exec /bin/sleep 1000'\n",
                pid_file.display()
            )),
        ),
    ]);
    let p = show(&m, &["plain"]);
    assert_eq!(get(&p, "StartLimitIntervalUSec"), "10s");
    assert_eq!(get(&p, "StartLimitBurst"), "5");
    assert_eq!(get(&p, "ControlPID"), "0");
    let p = show(
        &m,
        &["-p", "StartLimitIntervalUSec,StartLimitBurst", "limited"],
    );
    assert_eq!(
        p,
        [
            ("StartLimitIntervalUSec".into(), "1min".into()),
            ("StartLimitBurst".into(), "3".into())
        ]
    );
    let out = m.vigil_ok(&["show", "-P", "StartLimitIntervalUSec", "endless"]);
    assert_eq!(out, "infinity\n");
    assert_eq!(get(&show(&m, &["t.target"]), "StartLimitBurst"), "5");
    assert_eq!(get(&show(&m, &["nope"]), "StartLimitBurst"), "5");

    m.vigil_ok(&["start", "--no-block", "pre"]);
    harness::wait_until("ExecStartPre= writes its PID", || {
        std::fs::read_to_string(&pid_file).is_ok_and(|s| s.ends_with('\n'))
    });
    let pre: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let out = m.vigil_ok(&["show", "-p", "ControlPID", "--value", "pre"]);
    assert_eq!(out, format!("{pre}\n"));
    assert_eq!(get(&show(&m, &["pre"]), "MainPID"), "0");
    assert!(send_signal(pre, "KILL"));
}

/// A socket unit's settings in systemd's names and formats: `Listen=` a
/// line for each address with its type, modes in octal; with Accept=yes,
/// NConnections= the connections its instances hold and NAccepted= every
/// one accepted.
#[test]
fn a_socket_shows_its_listen_lines_and_counts() {
    use std::io::Read as _;
    let dir = TempDir::new("show-sockets");
    let path = dir.path().join("s.sock");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=echo.socket\n"),
        (
            "echo.socket",
            &format!(
                "[Socket]\nListenStream=127.0.0.1:{port}\nListenStream={}\n\
                 Accept=yes\nMaxConnections=7\nSocketMode=0600\nRemoveOnStop=yes\n\
                 FileDescriptorName=web\nBacklog=32\n",
                path.display()
            ),
        ),
        // Holds its connection until it is stopped.
        ("echo@.service", "[Service]\nExecStart=/bin/sleep 1000\n"),
        ("plain.socket", "[Socket]\nListenFIFO=/nonexistent/fifo\n"),
    ]);
    m.wait_state("echo.socket", "running");
    let p = show(&m, &["echo.socket"]);
    let listen: Vec<&str> = (p.iter())
        .filter(|(k, _)| k == "Listen")
        .map(|(_, v)| v.as_str())
        .collect();
    let unix = format!("{} (Stream)", path.display());
    assert_eq!(listen, [format!("127.0.0.1:{port} (Stream)"), unix]);
    for (key, value) in [
        ("Accept", "yes"),
        ("MaxConnections", "7"),
        ("SocketMode", "0600"),
        ("DirectoryMode", "0755"),
        ("RemoveOnStop", "yes"),
        ("FileDescriptorName", "web"),
        ("Backlog", "32"),
        ("BindIPv6Only", "default"),
        ("NConnections", "0"),
        ("NAccepted", "0"),
        ("ControlPID", "0"),
        ("Result", "success"),
        ("Triggers", ""),
    ] {
        if value.is_empty() {
            assert!(!has(&p, key), "{key}: {p:?}");
        } else {
            assert_eq!(get(&p, key), value, "{key}: {p:?}");
        }
    }
    let out = m.vigil_ok(&["show", "-p", "Listen", "--value", "echo.socket"]);
    assert_eq!(
        out,
        format!("127.0.0.1:{port} (Stream)\n{} (Stream)\n", path.display())
    );

    let mut first = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    m.wait_state("echo@0.service", "running");
    let _second = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    m.wait_state("echo@1.service", "running");
    let counts = || show(&m, &["-p", "NConnections,NAccepted", "echo.socket"]);
    assert_eq!(
        counts(),
        [
            ("NConnections".into(), "2".into()),
            ("NAccepted".into(), "2".into())
        ]
    );
    m.vigil_ok(&["stop", "echo@0.service"]);
    m.wait_state("echo@0.service", "inactive");
    // The instance is done with its connection: the client reads its end.
    first
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    assert_eq!(first.read(&mut [0; 1]).expect("end of file"), 0);
    assert_eq!(
        counts(),
        [
            ("NConnections".into(), "1".into()),
            ("NAccepted".into(), "2".into())
        ]
    );

    // Defaults: the unit's name for its descriptors, 0666, no Accept=.
    let p = show(&m, &["plain.socket"]);
    assert_eq!(get(&p, "Listen"), "/nonexistent/fifo (FIFO)");
    assert_eq!(get(&p, "FileDescriptorName"), "plain.socket");
    assert_eq!(get(&p, "SocketMode"), "0666");
    assert_eq!(get(&p, "Accept"), "no");
    assert_eq!(get(&p, "MaxConnections"), "64");
    assert_eq!(get(&p, "Triggers"), "plain.service");
    let json: serde_json::Value =
        serde_json::from_str(&m.vigil_ok(&["--json", "show", "echo.socket"])).expect("JSON");
    assert_eq!(json["Listen"][0], format!("127.0.0.1:{port} (Stream)"));
}

/// A tester's finding: a unit masked while it runs showed LoadState=not-found
/// (its file gone for the loader) and an empty UnitFileState. As systemd:
/// masked, both.
#[test]
fn a_unit_masked_while_it_runs_is_masked() {
    let lib = TempDir::new("show-mask-lib");
    std::fs::write(
        lib.path().join("m.service"),
        "[Service]\nExecStart=/bin/sleep 1000\n",
    )
    .unwrap();
    let lib_dir = lib.path().display().to_string();
    let m = Manager::start_with(&[], &["--config-dir", &lib_dir]);
    m.vigil_ok(&["start", "m"]);
    m.vigil_ok(&["mask", "m"]);
    assert_eq!(
        m.vigil_ok(&["show", "-p", "LoadState,UnitFileState", "m"]),
        "LoadState=masked\nUnitFileState=masked\n"
    );
}

/// ConditionResult=, AssertResult= and when they were checked, as systemd:
/// a unit with none passes them at its start; a failed assert says
/// AssertResult=no; a failed condition leaves the asserts unchecked; a unit
/// never started has `no` and no timestamps.
#[test]
fn condition_and_assert_results_say_the_last_check() {
    let m = Manager::start(&[
        ("default.target", "[Unit]\nWants=plain.service\n"),
        ("plain.service", &sleeper("")),
        (
            "asserted.service",
            &sleeper("[Unit]\nConditionPathExists=/\nAssertPathExists=/nonexistent/vigil\n"),
        ),
        (
            "skipped.service",
            &sleeper("[Unit]\nConditionPathExists=/nonexistent/vigil\nAssertPathExists=/\n"),
        ),
        ("never.service", &sleeper("")),
    ]);
    m.wait_state("plain.service", "running");
    let p = show(&m, &["plain"]);
    assert_eq!(get(&p, "ConditionResult"), "yes");
    assert_eq!(get(&p, "AssertResult"), "yes");
    assert!(is_timestamp(get(&p, "ConditionTimestamp")), "{p:?}");
    assert!(is_timestamp(get(&p, "AssertTimestamp")), "{p:?}");
    let at = |k: &str| p.iter().position(|(key, _)| key == k).unwrap();
    assert!(at("RefuseManualStop") < at("ConditionResult"));
    assert!(at("AssertTimestamp") < at("StartLimitIntervalUSec"));

    let out = m.vigil(&["start", "asserted"]);
    assert_eq!(out.status.code(), Some(1));
    let p = show(&m, &["asserted"]);
    assert_eq!(get(&p, "ConditionResult"), "yes");
    assert_eq!(get(&p, "AssertResult"), "no");
    assert_eq!(get(&p, "ActiveState"), "inactive");
    assert_eq!(get(&p, "Result"), "success");
    assert!(is_timestamp(get(&p, "ConditionTimestamp")), "{p:?}");
    assert!(is_timestamp(get(&p, "AssertTimestamp")), "{p:?}");

    m.vigil_ok(&["start", "skipped"]);
    let p = show(&m, &["skipped"]);
    assert_eq!(get(&p, "ConditionResult"), "no");
    assert_eq!(get(&p, "AssertResult"), "no");
    assert!(is_timestamp(get(&p, "ConditionTimestamp")), "{p:?}");
    assert!(!has(&p, "AssertTimestamp"), "not checked: {p:?}");

    let p = show(&m, &["never"]);
    assert_eq!(get(&p, "ConditionResult"), "no");
    assert_eq!(get(&p, "AssertResult"), "no");
    assert!(!has(&p, "ConditionTimestamp") && !has(&p, "AssertTimestamp"));
}

/// An instance is named by each alias of its template too, as systemd
/// names it: `bar@.service` a link to `foo@.service` (or `Alias=` of the
/// template enabled) gives `foo@x.service` the name `bar@x.service`, before
/// and after the instance is loaded; the template alias's instance finds
/// the same unit.
#[test]
fn an_instance_is_named_by_its_templates_aliases() {
    let m = Manager::start(&[
        ("default.target", "[Unit]\n"),
        ("foo@.service", &sleeper("")),
    ]);
    std::os::unix::fs::symlink("foo@.service", m.config.join("bar@.service")).unwrap();
    m.vigil_ok(&["sync"]);
    let names = |name: &str| m.vigil_ok(&["show", "-p", "Names", "--value", name]);
    // Read from the template, not loaded yet.
    assert_eq!(names("foo@x"), "foo@x.service bar@x.service\n");
    m.vigil_ok(&["start", "foo@x"]);
    assert_eq!(names("foo@x"), "foo@x.service bar@x.service\n");
    assert_eq!(
        m.vigil_ok(&["show", "-p", "Id,Names", "bar@x"]),
        "Id=foo@x.service\nNames=foo@x.service bar@x.service\n"
    );
    // Another template's instance and a plain unit gain nothing.
    assert_eq!(names("default.target"), "default.target\n");
}

/// NeedDaemonReload=, as systemd: `no` as read; `yes` once the unit's file
/// or a drop-in changed, a drop-in was added or removed, its template (for
/// an instance) changed, its file went, or its mask went; `no` again after
/// `vigil sync`. A YAML unit counts its file alone (drop-ins do not apply
/// to it); a unit with no file (built in, not found) is `no`.
#[test]
fn need_daemon_reload_says_the_files_changed_since_the_last_read() {
    let lib = TempDir::new("ndr-lib");
    std::fs::write(lib.path().join("gone.service"), sleeper("")).unwrap();
    let lib_dir = lib.path().display().to_string();
    let m = Manager::start_with(
        &[
            ("default.target", "[Unit]\n"),
            ("web.service", &sleeper("")),
            ("w@.service", &sleeper("")),
            ("db.yaml", "exec: /bin/sleep 1000\n"),
        ],
        &["--config-dir", &lib_dir],
    );
    m.vigil_ok(&["start", "w@1"]);
    let need = |name: &str| m.vigil_ok(&["show", "-p", "NeedDaemonReload", "--value", name]);
    let all = ["web", "w@1", "db", "gone", "basic.target", "nope"];
    let needs = || all.iter().map(|n| need(n)).collect::<String>();
    assert_eq!(needs(), "no\n".repeat(all.len()));
    let sync = || {
        m.vigil_ok(&["sync"]);
        assert_eq!(needs(), "no\n".repeat(all.len()));
    };
    let write = |rel: &str, text: &str| harness::write_file(&m.config.join(rel), text);
    // The unit's file.
    write("web.service", &sleeper("Environment=A=1\n"));
    assert_eq!(need("web"), "yes\n");
    assert_eq!(need("w@1"), "no\n", "another unit's file");
    sync();
    // A drop-in added, edited, removed.
    write("web.service.d/a.conf", "[Unit]\nDescription=a\n");
    assert_eq!(need("web"), "yes\n");
    sync();
    // Of another size: a rewrite in the same clock tick is told by its
    // size alone (the kernel's file times are that coarse), as systemd's.
    write("web.service.d/a.conf", "[Unit]\nDescription=bb\n");
    assert_eq!(need("web"), "yes\n");
    sync();
    std::fs::remove_file(m.config.join("web.service.d/a.conf")).unwrap();
    assert_eq!(need("web"), "yes\n");
    sync();
    // A type-wide drop-in applies to every service; not to a YAML one.
    write("service.d/all.conf", "[Unit]\nDocumentation=man:x(1)\n");
    assert_eq!(need("web"), "yes\n");
    assert_eq!(need("w@1"), "yes\n");
    assert_eq!(need("db"), "no\n");
    std::fs::remove_file(m.config.join("service.d/all.conf")).unwrap();
    sync();
    // An instance's template; the YAML file.
    write("w@.service", &sleeper("Environment=B=1\n"));
    assert_eq!(need("w@1"), "yes\n");
    write("db.yaml", "exec: /bin/sleep 999\n");
    assert_eq!(need("db"), "yes\n");
    sync();
    // The file removed (the unit is not found once synced).
    std::fs::remove_file(lib.path().join("gone.service")).unwrap();
    assert_eq!(need("gone"), "yes\n");
    sync();
    // A mask removed by hand.
    std::os::unix::fs::symlink("/dev/null", m.config.join("hidden.service")).unwrap();
    m.vigil_ok(&["sync"]);
    assert_eq!(need("hidden"), "no\n");
    std::fs::remove_file(m.config.join("hidden.service")).unwrap();
    assert_eq!(need("hidden"), "yes\n");
    sync();
}
