//! `prepare` + `spawn` with real processes: each test runs `/bin/sh -c` children
//! that write what they see to files in a temporary directory.

mod support;

use std::path::Path;
use support::{again_as_nobody, require_root, run, sh, temp_dir};

use vigil_platform::exec::ExecStatus;
use vigil_platform::process::{ExitStatus, wait_blocking};
use vigil_spawn::{Context, SpawnError, Stdio, prepare, spawn};
use vigil_units::{
    EnvironmentFile, ExecCommand, FileMode, Limit, Resource, Service, WorkingDir, WorkingDirectory,
};

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

#[test]
fn environment_is_systemds_and_never_the_managers() {
    let dir = temp_dir("env");
    std::fs::write(
        dir.join("vars.env"),
        "# settings\nFROM_FILE=\"quoted value\"\nSHARED=from-file\n",
    )
    .unwrap();
    std::fs::write(dir.join("latin.env"), b"LATIN=caf\xe9\n").unwrap();
    let service = Service {
        environment: vec![
            ("SHARED".into(), "from-environment".into()),
            ("UNIT".into(), "u".into()),
        ],
        environment_files: vec![
            EnvironmentFile {
                path: dir.join("vars.env"),
                optional: false,
            },
            EnvironmentFile {
                path: dir.join("absent.env"),
                optional: true,
            },
            // With `-`, what cannot be read or taken is passed over too, as
            // systemd passes it: a directory, a file that is not UTF-8.
            EnvironmentFile {
                path: dir.clone(),
                optional: true,
            },
            EnvironmentFile {
                path: dir.join("latin.env"),
                optional: true,
            },
        ]
        .into(),
        ..Service::default()
    };
    let ctx = Context {
        main_pid: Some(4321),
        invocation_id: "0123456789abcdef".into(),
        notify_socket: Some(dir.join("notify")),
        lang: Some("C.UTF-8".into()),
        stdout: Stdio::File {
            path: dir.join("env.out"),
            mode: FileMode::Truncate,
        },
        ..Context::default()
    };
    // `env -0` so values with spaces and newlines survive; the shell's own PWD is
    // excluded by running env directly.
    let cmd = ExecCommand {
        program: "env".into(),
        argv: vec!["env".into(), "-0".into()],
        ..sh("")
    };
    assert_eq!(
        run(&service, &cmd, ctx),
        (ExecStatus::Succeeded, ExitStatus::Exited(0))
    );
    let mut got: Vec<String> = read(&dir, "env.out")
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    // The child's own PID, which `run` does not tell (checked against `$$`
    // in vigild's tests).
    let exec_pid = got.iter().position(|v| v.starts_with("SYSTEMD_EXEC_PID="));
    let exec_pid = got.remove(exec_pid.expect("SYSTEMD_EXEC_PID is set"));
    assert!(
        exec_pid["SYSTEMD_EXEC_PID=".len()..]
            .parse::<u32>()
            .is_ok_and(|p| p > 1)
    );
    got.sort();
    let mut expected: Vec<String> = [
        "FROM_FILE=quoted value".to_owned(),
        "INVOCATION_ID=0123456789abcdef".to_owned(),
        "LANG=C.UTF-8".to_owned(),
        "MAINPID=4321".to_owned(),
        format!("NOTIFY_SOCKET={}", dir.join("notify").display()),
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
        "SHARED=from-file".to_owned(),
        "UNIT=u".to_owned(),
    ]
    .into();
    expected.sort();
    assert_eq!(got, expected);
}

#[test]
fn dollar_variables_expand_with_systemds_splitting() {
    let dir = temp_dir("expand");
    let service = Service {
        environment: vec![("WORDS".into(), "one two  three".into())],
        ..Service::default()
    };
    let out = dir.join("argv.out");
    let mut cmd = sh(&format!("printf '[%s]\\n' \"$@\" > {}", out.display()));
    cmd.argv.extend(
        [
            "sh",
            "$WORDS",
            "${WORDS}",
            "a${WORDS}b",
            "$UNSET",
            "$$WORDS",
            "${UNSET}",
        ]
        .map(String::from),
    );
    assert_eq!(
        run(&service, &cmd, Context::default()).0,
        ExecStatus::Succeeded
    );
    assert_eq!(
        read(&dir, "argv.out"),
        "[one]\n[two]\n[three]\n[one two  three]\n[aone two  threeb]\n[$WORDS]\n[]\n"
    );
}

#[test]
fn no_expand_prefix_passes_words_literally() {
    let dir = temp_dir("noexpand");
    let out = dir.join("argv.out");
    let mut cmd = sh(&format!("printf '[%s]\\n' \"$@\" > {}", out.display()));
    cmd.argv
        .extend(["sh", "$PATH", "${PATH}"].map(String::from));
    cmd.no_expand = true;
    run(&Service::default(), &cmd, Context::default());
    assert_eq!(read(&dir, "argv.out"), "[$PATH]\n[${PATH}]\n");
}

#[test]
fn missing_program_is_an_error_naming_it() {
    let cmd = ExecCommand {
        program: "vigil-definitely-missing".into(),
        argv: vec!["vigil-definitely-missing".into()],
        ..sh("")
    };
    let err = prepare("t.service", &Service::default(), &cmd, Context::default()).unwrap_err();
    assert!(
        err.to_string().contains("vigil-definitely-missing"),
        "{err}"
    );
    assert!(matches!(err, SpawnError::ProgramNotFound { .. }));
}

#[test]
fn missing_absolute_program_fails_at_exec_with_enoent() {
    let cmd = ExecCommand {
        program: "/nonexistent/bin/daemon".into(),
        argv: vec!["daemon".into()],
        ..sh("")
    };
    let (exec, exit) = run(&Service::default(), &cmd, Context::default());
    assert_eq!(
        exec,
        ExecStatus::Failed {
            stage: "exec",
            errno: 2
        }
    );
    assert_eq!(exit, ExitStatus::Exited(127));
}

#[test]
fn working_directory_plain_optional_and_failing() {
    let dir = temp_dir("cwd");
    let out = dir.join("pwd.out");
    let cmd = sh(&format!("pwd > {}", out.display()));

    let mut service = Service {
        working_directory: Some(WorkingDir {
            dir: WorkingDirectory::Path(dir.clone()),
            optional: false,
        })
        .into(),
        ..Service::default()
    };
    run(&service, &cmd, Context::default());
    assert_eq!(read(&dir, "pwd.out").trim(), dir.to_str().unwrap());

    *service.working_directory = Some(WorkingDir {
        dir: WorkingDirectory::Path("/nonexistent/wd".into()),
        optional: false,
    });
    assert_eq!(
        run(&service, &cmd, Context::default()),
        (
            ExecStatus::Failed {
                stage: "chdir",
                errno: 2
            },
            ExitStatus::Exited(127)
        )
    );

    *service.working_directory = Some(WorkingDir {
        dir: WorkingDirectory::Path("/nonexistent/wd".into()),
        optional: true,
    });
    assert_eq!(
        run(&service, &cmd, Context::default()),
        (ExecStatus::Succeeded, ExitStatus::Exited(0))
    );
}

#[test]
fn default_working_directory_is_root_for_the_system_manager() {
    if !require_root("the system manager's default working directory") {
        return;
    }
    let dir = temp_dir("cwd-default");
    let out = dir.join("pwd.out");
    run(
        &Service::default(),
        &sh(&format!("pwd > {}", out.display())),
        Context::default(),
    );
    assert_eq!(read(&dir, "pwd.out").trim(), "/");
}

#[test]
fn umask_limits_and_output_files() {
    let dir = temp_dir("limits");
    std::fs::write(dir.join("appended"), "before\n").unwrap();
    std::fs::write(dir.join("truncated"), "old content\n").unwrap();
    let service = Service {
        umask: 0o077,
        limits: vec![(
            Resource::Nofile,
            Limit {
                soft: Some(200),
                hard: Some(300),
            },
        )]
        .into(),
        ..Service::default()
    };
    let ctx = Context {
        stdout: Stdio::File {
            path: dir.join("appended"),
            mode: FileMode::Append,
        },
        stderr: Stdio::File {
            path: dir.join("truncated"),
            mode: FileMode::Truncate,
        },
        ..Context::default()
    };
    let cmd = sh("umask; ulimit -n; ulimit -Hn; echo to-stderr >&2");
    assert_eq!(
        run(&service, &cmd, ctx),
        (ExecStatus::Succeeded, ExitStatus::Exited(0))
    );
    assert_eq!(read(&dir, "appended"), "before\n0077\n200\n300\n");
    assert_eq!(read(&dir, "truncated"), "to-stderr\n");
}

#[test]
fn stdio_from_a_manager_pipe_and_null_stdin() {
    let (r, w) = vigil_platform::pipe_cloexec().unwrap();
    let ctx = Context {
        stdin: Stdio::Null,
        stdout: Stdio::Fd(w),
        ..Context::default()
    };
    let prepared = prepare("t.service", &Service::default(), &sh("cat; echo done"), ctx).unwrap();
    let child = spawn(&prepared).unwrap();
    // Once the manager's copy is gone (the context moved it into the prepared
    // command), EOF on the pipe means the child is done.
    drop(prepared);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut std::fs::File::from(r), &mut out).unwrap();
    assert_eq!(out, "done\n", "stdin must be empty (/dev/null)");
    assert_eq!(wait_blocking(child.pid).unwrap(), ExitStatus::Exited(0));
}

#[test]
fn user_and_group_as_root() {
    if !require_root("switching users") {
        return;
    }
    let dir = temp_dir("user");
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let out = dir.join("id.out");
    let service = Service {
        user: Some("nobody".into()).into(),
        working_directory: Some(WorkingDir {
            dir: WorkingDirectory::Home,
            optional: true,
        })
        .into(),
        ..Service::default()
    };
    // `$$$$`: the command line is expanded like a unit's, where `$$` is a literal `$`.
    let cmd = sh(&format!(
        "{{ id -u; id -g; id -G; echo $USER $LOGNAME $HOME $SHELL; grep -E '^(Uid|Gid):' /proc/$$$$/status; }} > {}",
        out.display()
    ));
    assert_eq!(
        run(&service, &cmd, Context::default()),
        (ExecStatus::Succeeded, ExitStatus::Exited(0))
    );
    let nobody = vigil_spawn::users::parse_passwd(&std::fs::read_to_string("/etc/passwd").unwrap())
        .into_iter()
        .find(|u| u.name == "nobody")
        .expect("a nobody user");
    let lines: Vec<String> = read(&dir, "id.out").lines().map(str::to_owned).collect();
    assert_eq!(lines[0], nobody.uid.to_string());
    assert_eq!(lines[1], nobody.gid.to_string());
    assert_eq!(
        lines[2],
        nobody.gid.to_string(),
        "root's groups must be dropped"
    );
    assert_eq!(
        lines[3],
        format!("nobody nobody {} {}", nobody.home, nobody.shell)
    );
    let uid = nobody.uid.to_string();
    assert_eq!(
        lines[4].split_whitespace().skip(1).collect::<Vec<_>>(),
        [uid.as_str(); 4]
    );

    // Group= overrides the primary group.
    let with_group = Service {
        group: Some("root".into()).into(),
        ..service.clone()
    };
    let cmd = sh(&format!("id -g > {}", out.display()));
    run(&with_group, &cmd, Context::default());
    assert_eq!(read(&dir, "id.out").trim(), "0");

    let unknown = Service {
        user: Some("vigil-no-such-user".into()).into(),
        ..Service::default()
    };
    let err = prepare("t.service", &unknown, &cmd, Context::default()).unwrap_err();
    assert!(matches!(err, SpawnError::UnknownUser { .. }), "{err:?}");
}

#[test]
fn user_without_root_must_be_the_managers_own() {
    // As root every user is allowed.
    if again_as_nobody("user_without_root_must_be_the_managers_own") {
        return;
    }
    let other = Service {
        user: Some("root".into()).into(),
        ..Service::default()
    };
    let err = prepare("t.service", &other, &sh("true"), Context::default()).unwrap_err();
    assert!(matches!(err, SpawnError::UserNeedsRoot { .. }), "{err:?}");
    assert_eq!(err.stage(), "user");
}

/// Runs `cmd` with its stdout into a pipe; returns the child's PID and what it
/// wrote, once it has exited 0.
fn output_of(service: &Service, cmd: &ExecCommand, ctx: Context) -> (u32, String) {
    let (r, w) = vigil_platform::pipe_cloexec().unwrap();
    let ctx = Context {
        stdout: Stdio::Fd(w),
        ..ctx
    };
    let prepared = prepare("t.service", service, cmd, ctx).unwrap();
    let child = spawn(&prepared).unwrap();
    // The pipe's last write end goes with it: reading ends when the child does.
    drop(prepared);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut std::fs::File::from(r), &mut out).unwrap();
    assert_eq!(wait_blocking(child.pid).unwrap(), ExitStatus::Exited(0));
    (child.pid, out)
}

#[test]
fn pid_variable_is_the_childs_own_pid_and_replaces_the_units_value() {
    let service = Service {
        environment: vec![("WATCHDOG_PID".into(), "1".into())],
        ..Service::default()
    };
    let ctx = Context {
        pid_variable: Some("WATCHDOG_PID".into()),
        ..Context::default()
    };
    // `$$$$` is `$$` once vigil has expanded the line: the PID vigil started.
    let cmd = sh("echo \"$$$$ $$WATCHDOG_PID\"; env | grep -c '^WATCHDOG_PID='");
    let (pid, out) = output_of(&service, &cmd, ctx);
    assert_eq!(out, format!("{pid} {pid}\n1\n"));
}

#[test]
fn unset_environment_also_removes_a_variable_the_child_writes() {
    let service = Service {
        unset_environment: vec!["WATCHDOG_PID".into()].into(),
        ..Service::default()
    };
    let ctx = Context {
        pid_variable: Some("WATCHDOG_PID".into()),
        ..Context::default()
    };
    let cmd = sh("env | grep -c '^WATCHDOG_PID=' || true");
    assert_eq!(output_of(&service, &cmd, ctx).1, "0\n");
}
