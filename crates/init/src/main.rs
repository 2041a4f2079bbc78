//! vigil-init: vigil's PID 1. It mounts the API filesystems on a real boot, starts the
//! service manager (vigild) and keeps it alive, reaps every orphan, turns signals into
//! shutdown requests, and makes the final reboot(2). Everything else is the manager's job.
//! docs/INIT.md describes its behaviour and the channel to the manager.
//!
//! It must never stop being PID 1 on a real boot: no code path here ends the process there
//! except reboot(2), and no error is fatal once the main loop runs.

#![deny(clippy::indexing_slicing)]

mod channel;
mod cmdline;
mod log;
mod mounts;
mod shutdown;
mod supervise;
mod sys;

use std::ffi::{CString, OsString};
use std::os::fd::AsRawFd as _;
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::path::Path;

use rustix::fs::{Mode as FileMode, OFlags};
use rustix::io::Errno;

use crate::log::{Oops, say, shout};

/// Where vigil-init runs, decided once at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    /// We are PID 1 (of the machine or of a PID namespace).
    pub pid1: bool,
    /// Container mode: no mounts, no reboot(2); exit when done.
    pub container: bool,
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn main() {
    let pid1 = rustix::process::getpid().is_init();
    let (args, errors) = cmdline::parse(std::env::args_os().skip(1));
    if !pid1 {
        if args.help {
            print!("{}", cmdline::HELP);
            std::process::exit(0);
        }
        if let Some(error) = errors.first() {
            eprintln!("vigil-init: {error}\ntry 'vigil-init --help'");
            std::process::exit(2);
        }
    }
    let container = args.container || (pid1 && in_container());
    let mode = Mode { pid1, container };
    let real_boot = pid1 && !container;
    if real_boot {
        mounts::mount_api_filesystems();
        open_stdio(c"/dev/console");
        log::use_kmsg();
        // The kernel then sends SIGINT to PID 1 on ctrl-alt-del instead of rebooting.
        let _ = rustix::system::reboot(rustix::system::RebootCommand::CadOff);
    } else {
        open_stdio(c"/dev/null");
    }
    for error in &errors {
        say!(log::WARNING, "ignored: {error}");
    }
    // Not PID 1, orphans of the manager's tree still come to us, not to the real init.
    if !pid1 && let Err(e) = rustix::process::set_child_subreaper(Some(rustix::process::getpid())) {
        shout!("cannot become a child subreaper: {}", Oops(e));
    }
    let kernel = if real_boot {
        cmdline::read_kernel()
    } else {
        cmdline::Kernel::default()
    };
    let manager = cmdline::manager_path(&args, &kernel);
    let shell = match &args.shell {
        Some(shell) => shell.clone(),
        None => "/bin/sh".into(),
    };
    let env = environment();
    let mut manager_env = env.clone();
    manager_env.push(c"VIGIL_INIT_FD=3".to_owned());
    let manager_exec = exec(
        &manager,
        cmdline::manager_args(&args, &kernel, container),
        manager_env,
    );
    let shell_exec = exec(&shell, Vec::new(), env);

    // Room for the whole fd store, plus our own few.
    sys::raise_fd_limit(channel::MAX_FDS as u64 + 64);
    let signals = match sys::block_signals() {
        Ok(fd) => fd,
        Err(e) => {
            shout!("cannot set up signals: {}", Oops::from(e));
            if !pid1 {
                std::process::exit(1);
            }
            last_resort();
        }
    };
    say!(
        log::INFO,
        "started{}",
        if container { " (container mode)" } else { "" }
    );
    let supervisor = supervise::Supervisor::new(mode, signals, manager_exec, shell_exec);
    let (outcome, signals, channel) = supervisor.run();
    shutdown::finish(mode, outcome.action, outcome.code, &signals, channel);
}

/// The inode of the initial PID namespace (the kernel's PROC_PID_INIT_INO).
const INITIAL_PID_NAMESPACE: u64 = 0xEFFF_FFFC;

/// PID 1 in a container: $container (systemd's convention, set by podman, lxc, nspawn),
/// the files docker and podman leave in the root, or a /proc (a real boot has none yet)
/// that shows another PID namespace than the machine's. The last one keeps a PID 1 of
/// `unshare --pid --mount-proc` from remounting the host's root read-only at its end.
fn in_container() -> bool {
    std::env::var_os("container").is_some()
        || Path::new("/.dockerenv").exists()
        || Path::new("/run/.containerenv").exists()
        || rustix::fs::stat(c"/proc/self/ns/pid").is_ok_and(|s| s.st_ino != INITIAL_PID_NAMESPACE)
}

/// Opens `path` on whichever of fds 0, 1, 2 is closed, so that neither our messages nor a
/// child's output land in a descriptor opened later.
fn open_stdio(path: &std::ffi::CStr) {
    let closed = |fd| rustix::io::fcntl_getfd(fd) == Err(Errno::BADF);
    let missing = [
        closed(rustix::stdio::stdin()),
        closed(rustix::stdio::stdout()),
        closed(rustix::stdio::stderr()),
    ];
    if !missing.contains(&true) {
        return;
    }
    let flags = OFlags::RDWR | OFlags::NOCTTY;
    let Ok(fd) = rustix::fs::open(path, flags, FileMode::empty()) else {
        return;
    };
    let [stdin, stdout, stderr] = missing;
    if stdin {
        let _ = rustix::stdio::dup2_stdin(&fd);
    }
    if stdout {
        let _ = rustix::stdio::dup2_stdout(&fd);
    }
    if stderr {
        let _ = rustix::stdio::dup2_stderr(&fd);
    }
    // open() took the lowest free number, which may be one of 0-2 that is now in use.
    if fd.as_raw_fd() <= 2 {
        std::mem::forget(fd);
    }
}

/// Our environment for the manager and the shell, without a stale VIGIL_INIT_FD and with
/// a PATH (the kernel gives PID 1 none).
fn environment() -> Vec<CString> {
    let mut env: Vec<CString> = std::env::vars_os()
        .filter(|(key, _)| key != "VIGIL_INIT_FD")
        .filter_map(|(key, value)| {
            let mut pair = key.into_vec();
            pair.push(b'=');
            pair.extend(value.as_bytes());
            CString::new(pair).ok()
        })
        .collect();
    if std::env::var_os("PATH").is_none() {
        env.extend(CString::new(format!("PATH={DEFAULT_PATH}")).ok());
    }
    env
}

fn exec(path: &Path, args: Vec<OsString>, env: Vec<CString>) -> sys::Exec {
    let c = |s: &[u8]| CString::new(s).ok();
    let Some(path) = c(path.as_os_str().as_bytes()) else {
        return sys::Exec::new(c"/".to_owned(), Vec::new(), env);
    };
    let argv = std::iter::once(path.clone())
        .chain(args.iter().filter_map(|a| c(a.as_bytes())))
        .collect();
    sys::Exec::new(path, argv, env)
}

/// When even the signal setup failed as PID 1: reap forever, so the kernel keeps running.
fn last_resort() -> ! {
    loop {
        if rustix::process::wait(rustix::process::WaitOptions::empty()).is_err() {
            let _ = rustix::event::poll(&mut [], None);
        }
    }
}
