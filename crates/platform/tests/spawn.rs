//! Real processes through `vigil_platform::spawn`: what the child sees after the
//! fork/exec path, and how failures between fork and exec are reported.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use vigil_platform::exec::{Child, ChildFd, ExecStatus, PreparedCommand, Rlimit, RlimitResource};
use vigil_platform::process::{ExitStatus, wait_blocking};
use vigil_platform::{Epoll, Events, Interest};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "vigil-platform-spawn-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Tests of what fails without privileges run as root too (CI is root): there
/// this runs the test `name` again, alone, in this test binary as nobody, checks
/// that it ran and passed, and returns true. Not root, it returns false: the
/// caller's body runs.
fn again_as_nobody(name: &str) -> bool {
    if vigil_platform::geteuid() != 0 {
        return false;
    }
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.contains("1 passed"),
        "{name} as nobody: {}\n{said}",
        out.status
    );
    true
}

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn sh(script: &str, env: &[&str]) -> PreparedCommand {
    PreparedCommand::new(
        cstr("/bin/sh"),
        vec![cstr("sh"), cstr("-c"), cstr(script)],
        env.iter().map(|e| cstr(e)).collect(),
    )
}

/// Waits (through epoll, as the manager does) until the exec-status pipe answers.
/// The exec outcome is known when spawn returns (the child ran until exec).
fn exec_result(child: &Child) -> ExecStatus {
    child.exec
}

fn run(cmd: &PreparedCommand) -> (ExecStatus, ExitStatus) {
    let child = vigil_platform::spawn(cmd).unwrap();
    let status = exec_result(&child);
    (status, wait_blocking(child.pid).unwrap())
}

fn file_fd(path: &Path) -> ChildFd {
    ChildFd::owned(OwnedFd::from(File::create(path).unwrap())).unwrap()
}

fn status_line<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {key} in {status}"))
}

#[test]
fn child_gets_a_clean_signal_state_own_group_and_no_stray_fds() {
    let dir = temp_dir("clean");
    // The manager's situation: SIGTERM and SIGCHLD blocked for its signalfd, SIGPIPE
    // ignored (the Rust runtime already ignores it; make sure).
    vigil_platform::signal::block_signals(&[libc::SIGTERM, libc::SIGCHLD]).unwrap();
    vigil_platform::ignore_signal(libc::SIGPIPE).unwrap();

    let script = format!(
        "echo $$ > {d}/pid; cut -d' ' -f5 /proc/$$/stat > {d}/pgid; \
         cut -d' ' -f6 /proc/$$/stat > {d}/sid; env > {d}/env; pwd > {d}/cwd; \
         umask > {d}/umask; ulimit -n > {d}/nofile; echo out; echo err >&2",
        d = dir.display()
    );
    let mut cmd = sh(&script, &["FOO=bar baz", "PATH=/usr/bin:/bin"]);
    cmd.stdin(ChildFd::dev_null().unwrap())
        .stdout(file_fd(&dir.join("stdout")))
        .stderr(file_fd(&dir.join("stderr")))
        .cwd(cstr("/tmp"), false)
        .umask(0o027)
        .rlimit(Rlimit {
            resource: RlimitResource::Nofile,
            soft: Some(123),
            hard: Some(456),
        });
    let (exec, exit) = run(&cmd);
    assert_eq!(exec, ExecStatus::Succeeded);
    assert_eq!(exit, ExitStatus::Exited(0));
    // The signal state is read by the exec'ed program itself: a shell blocks signals
    // for a moment around its own forks, which would blur the picture.
    let mut cat = PreparedCommand::new(
        cstr("/bin/cat"),
        vec![cstr("cat"), cstr("/proc/self/status")],
        vec![],
    );
    cat.stdout(file_fd(&dir.join("status")));
    assert_eq!(run(&cat), (ExecStatus::Succeeded, ExitStatus::Exited(0)));
    vigil_platform::signal::unblock_signals(&[libc::SIGTERM, libc::SIGCHLD]).unwrap();

    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let status = read("status");
    assert_eq!(
        status_line(&status, "SigBlk:"),
        "0000000000000000",
        "blocked mask leaked"
    );
    assert_eq!(
        status_line(&status, "SigIgn:"),
        "0000000000000000",
        "ignored signals leaked"
    );
    let pid = read("pid");
    assert_eq!(read("pgid"), pid, "not its own process group");
    assert_eq!(read("sid"), pid, "not its own session");
    let env: Vec<String> = read("env").lines().map(str::to_owned).collect();
    assert!(env.contains(&"FOO=bar baz".to_owned()), "{env:?}");
    assert!(
        !env.iter().any(|l| l.starts_with("HOME=")),
        "manager environment leaked: {env:?}"
    );
    assert_eq!(read("cwd").trim(), "/tmp");
    assert_eq!(read("umask").trim(), "0027");
    assert_eq!(read("nofile").trim(), "123");
    assert_eq!(read("stdout"), "out\n");
    assert_eq!(read("stderr"), "err\n");
}

#[test]
fn child_inherits_only_its_stdio() {
    // A descriptor the manager holds without close-on-exec (as a careless library
    // might make one): the child must still not inherit it.
    let leaked: OwnedFd = rustix::io::dup(std::io::stdin()).unwrap();
    let (in_r, in_w) = vigil_platform::pipe_cloexec().unwrap();
    let (out_r, out_w) = vigil_platform::pipe_cloexec().unwrap();
    let mut cmd = PreparedCommand::new(cstr("/bin/cat"), vec![cstr("cat")], vec![]);
    cmd.stdin(ChildFd::owned(in_r).unwrap())
        .stdout(ChildFd::owned(out_w).unwrap());
    let child = vigil_platform::spawn(&cmd).unwrap();
    drop(cmd);
    assert_eq!(exec_result(&child), ExecStatus::Succeeded);
    // Once cat echoes a line it is past its start-up and in its read loop.
    let mut writer = File::from(in_w);
    std::io::Write::write_all(&mut writer, b"ping\n").unwrap();
    let mut reader = std::io::BufReader::new(File::from(out_r));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
    assert_eq!(line, "ping\n");
    let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", child.pid))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    fds.sort();
    drop(writer);
    assert_eq!(wait_blocking(child.pid).unwrap(), ExitStatus::Exited(0));
    drop(leaked);
    assert_eq!(fds, ["0", "1", "2"]);
}

#[test]
fn missing_binary_reports_exec_enoent() {
    let cmd = PreparedCommand::new(cstr("/nonexistent/vigil-test"), vec![cstr("x")], vec![]);
    let (exec, exit) = run(&cmd);
    assert_eq!(
        exec,
        ExecStatus::Failed {
            stage: "exec",
            errno: libc::ENOENT
        }
    );
    assert_eq!(exit, ExitStatus::Exited(127));
}

#[test]
fn non_executable_file_reports_exec_eacces() {
    let dir = temp_dir("noexec");
    let path = dir.join("script");
    std::fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap();
    let path = cstr(path.to_str().unwrap());
    let cmd = PreparedCommand::new(path.clone(), vec![path], vec![]);
    let (exec, exit) = run(&cmd);
    assert_eq!(
        exec,
        ExecStatus::Failed {
            stage: "exec",
            errno: libc::EACCES
        }
    );
    assert_eq!(exit, ExitStatus::Exited(127));
}

#[test]
fn missing_working_directory_reports_chdir_unless_optional() {
    let mut cmd = sh("exit 3", &[]);
    cmd.cwd(cstr("/nonexistent/dir"), false);
    let (exec, exit) = run(&cmd);
    assert_eq!(
        exec,
        ExecStatus::Failed {
            stage: "chdir",
            errno: libc::ENOENT
        }
    );
    assert_eq!(exit, ExitStatus::Exited(127));

    cmd.cwd(cstr("/nonexistent/dir"), true);
    assert_eq!(run(&cmd), (ExecStatus::Succeeded, ExitStatus::Exited(3)));
}

/// Raising a hard limit needs CAP_SYS_RESOURCE (a container's root may lack
/// it): as systemd, the child then settles for the closest limits allowed.
#[test]
fn raising_a_hard_limit_without_privilege_settles_for_the_current_hard_limit() {
    // Root may raise hard limits.
    if again_as_nobody("raising_a_hard_limit_without_privilege_settles_for_the_current_hard_limit")
    {
        return;
    }
    let dir = temp_dir("rlimit-capped");
    let out = dir.join("limits");
    let mut cmd = sh(
        &format!("ulimit -Sn > {0}; ulimit -Hn >> {0}", out.display()),
        &[],
    );
    cmd.rlimit(Rlimit {
        resource: RlimitResource::Nofile,
        soft: None,
        hard: None,
    });
    assert_eq!(run(&cmd), (ExecStatus::Succeeded, ExitStatus::Exited(0)));
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .maximum
        .map_or("unlimited".to_string(), |h| h.to_string());
    let seen = std::fs::read_to_string(&out).unwrap();
    assert_eq!(seen, format!("{hard}\n{hard}\n"));
}

/// A limit the kernel refuses for another reason than privileges fails the
/// start at its stage (a soft limit above the hard one: EINVAL).
#[test]
fn an_impossible_limit_reports_rlimit() {
    let mut cmd = sh("exit 0", &[]);
    cmd.rlimit(Rlimit {
        resource: RlimitResource::Nofile,
        soft: Some(200),
        hard: Some(100),
    });
    let (exec, _) = run(&cmd);
    assert_eq!(
        exec,
        ExecStatus::Failed {
            stage: "rlimit (LimitNOFILE=)",
            errno: libc::EINVAL
        }
    );
}

#[test]
fn killing_the_process_group_reaches_grandchildren() {
    let (r, w) = vigil_platform::pipe_cloexec().unwrap();
    let mut cmd = sh("sleep 100 & echo $!; wait", &[]);
    cmd.stdout(ChildFd::owned(w).unwrap());
    let child = vigil_platform::spawn(&cmd).unwrap();
    drop(cmd);
    assert_eq!(exec_result(&child), ExecStatus::Succeeded);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(File::from(r)), &mut line).unwrap();
    let grandchild: u32 = line.trim().parse().unwrap();
    let pidfd = vigil_platform::pidfd_open(grandchild).unwrap();
    vigil_platform::kill_group(child.pid, libc::SIGKILL).unwrap();
    assert_eq!(
        wait_blocking(child.pid).unwrap(),
        ExitStatus::Signaled(libc::SIGKILL)
    );
    // The grandchild is not our child; its pidfd turns readable when it dies.
    let ep = Epoll::new().unwrap();
    ep.add(&pidfd, 9, Interest::READABLE).unwrap();
    let mut events = Events::with_capacity(1);
    ep.wait(&mut events, Some(Duration::from_secs(30))).unwrap();
    assert_eq!(
        events.iter().next().map(|r| r.token),
        Some(9),
        "grandchild survived"
    );
}

#[test]
fn privileges_are_dropped_in_order() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if vigil_platform::geteuid() != 0 {
        assert!(!ci, "CI=true: this test must run as root");
        eprintln!("skipped: setuid needs root");
        return;
    }
    let dir = temp_dir("setuid");
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let script = format!(
        "id -u > {d}/uid; id -g > {d}/gid; id -G > {d}/groups; grep -E '^(Uid|Gid|Groups):' /proc/$$/status > {d}/status",
        d = dir.display()
    );
    let mut cmd = sh(&script, &["PATH=/usr/bin:/bin"]);
    cmd.groups(vec![65533]).gid(65534).uid(65534);
    assert_eq!(run(&cmd), (ExecStatus::Succeeded, ExitStatus::Exited(0)));
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    assert_eq!(read("uid").trim(), "65534");
    assert_eq!(read("gid").trim(), "65534");
    let status = read("status");
    assert_eq!(
        status_line(&status, "Uid:")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["65534"; 4]
    );
    assert_eq!(
        status_line(&status, "Gid:")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["65534"; 4]
    );
    assert_eq!(status_line(&status, "Groups:"), "65533");
}

#[test]
fn setuid_failure_is_reported_as_setuid() {
    // Root may setuid to anyone.
    if again_as_nobody("setuid_failure_is_reported_as_setuid") {
        return;
    }
    let mut cmd = sh("exit 0", &[]);
    cmd.uid(vigil_platform::getuid() + 1);
    let (exec, _) = run(&cmd);
    assert_eq!(
        exec,
        ExecStatus::Failed {
            stage: "setuid",
            errno: libc::EPERM
        }
    );
}

/// Socket activation: the passed descriptors arrive as 3, 4, ... in order and
/// open across exec, and LISTEN_PID is the child's own PID, written after the clone.
#[test]
fn passed_fds_become_3_and_4_with_the_childs_own_listen_pid() {
    let dir = temp_dir("pass-fds");
    let out = dir.join("out");
    let first = OwnedFd::from(File::create(dir.join("first")).unwrap());
    let second = OwnedFd::from(File::create(dir.join("second")).unwrap());
    let script = format!(
        "echo one >&3 && echo two >&4 && echo \"$LISTEN_PID $$ $LISTEN_FDS\" > {}",
        out.display()
    );
    let mut cmd = sh(&script, &["LISTEN_FDS=2"]);
    cmd.pass_fds(vec![first, second]);
    let child = vigil_platform::spawn(&cmd).unwrap();
    assert_eq!(child.exec, ExecStatus::Succeeded);
    assert_eq!(wait_blocking(child.pid).unwrap(), ExitStatus::Exited(0));
    assert_eq!(std::fs::read_to_string(dir.join("first")).unwrap(), "one\n");
    assert_eq!(
        std::fs::read_to_string(dir.join("second")).unwrap(),
        "two\n"
    );
    let pid = child.pid.to_string();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        format!("{pid} {pid} 2\n")
    );
    // The same command spawned again gets the new child's PID, not the old one.
    let child2 = vigil_platform::spawn(&cmd).unwrap();
    assert_eq!(wait_blocking(child2.pid).unwrap(), ExitStatus::Exited(0));
    let pid2 = child2.pid.to_string();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        format!("{pid2} {pid2} 2\n")
    );
}

#[test]
fn without_passed_fds_there_is_no_listen_pid_and_no_fd_3() {
    let dir = temp_dir("no-pass-fds");
    let out = dir.join("out");
    let script = format!(
        "{{ echo \"pid=${{LISTEN_PID-unset}}\"; if true >&3; then echo open; else echo closed; fi; }} > {} 2>/dev/null",
        out.display()
    );
    let (exec, status) = run(&sh(&script, &[]));
    assert_eq!(
        (exec, status),
        (ExecStatus::Succeeded, ExitStatus::Exited(0))
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "pid=unset\nclosed\n"
    );
}
