//! vigil-init: vigil's PID 1. It mounts the API filesystems on a real boot, starts the
//! service manager (vigild) and keeps it alive, reaps every orphan, turns signals into
//! shutdown requests, and makes the final reboot(2). Everything else is the manager's job.
//! docs/INIT.md describes its behaviour and the channel to the manager.
//!
//! It must never stop being PID 1 on a real boot: no code path here ends the process there
//! except reboot(2), and no error is fatal once the main loop runs. It uses no heap and no
//! libc (sys.rs talks to the kernel), so the shipped build is `no_std`; builds that unwind
//! (tests) link std without using it.
#![cfg_attr(panic = "abort", no_std)]
// `cargo test --all-targets` builds this binary with the test harness too: that build
// has the harness's main (and no tests) instead of running as PID 1.
#![cfg_attr(not(test), no_main)]
#![cfg_attr(test, allow(dead_code))]
#![deny(clippy::indexing_slicing)]

mod channel;
mod cmdline;
mod log;
mod mounts;
mod shutdown;
mod supervise;
mod sys;

use crate::log::{say, shout};

/// Where vigil-init runs, decided once at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    /// We are PID 1 (of the machine or of a PID namespace).
    pub pid1: bool,
    /// Container mode: no mounts, no reboot(2); exit when done.
    pub container: bool,
}

/// The inode of the initial PID namespace (the kernel's PROC_PID_INIT_INO).
const INITIAL_PID_NAMESPACE: u64 = 0xEFFF_FFFC;

/// From the entry point in sys.rs, with the kernel's argv and envp.
fn run(argv: *const *const u8, envp: *const *const u8) -> ! {
    let pid1 = sys::getpid() == 1;
    let mut args = cmdline::parse(argv);
    if !pid1 {
        if args.help {
            let _ = sys::write(1, cmdline::HELP.as_bytes());
            sys::exit(0);
        }
        if let Some((what, arg)) = args.errors.iter().flatten().next() {
            say!(log::WARNING, what, *arg, "\ntry 'vigil-init --help'");
            sys::exit(2);
        }
    }
    // PID 1 in a container: $container (systemd's convention, set by podman, lxc, nspawn),
    // the files docker and podman leave in the root, or a /proc (a real boot has none yet)
    // that shows another PID namespace than the machine's. The last one keeps a PID 1 of
    // `unshare --pid --mount-proc` from remounting the host's root read-only at its end.
    let detected = pid1
        && (has_env(envp, b"container=")
            || sys::exists(c"/.dockerenv")
            || sys::exists(c"/run/.containerenv")
            || sys::inode(c"/proc/self/ns/pid").is_some_and(|i| i != INITIAL_PID_NAMESPACE));
    args.container |= detected;
    let mode = Mode {
        pid1,
        container: args.container,
    };
    if pid1 && !mode.container {
        mounts::mount_api_filesystems();
        open_stdio(c"/dev/console");
        log::use_kmsg();
        // The kernel then sends SIGINT to PID 1 on ctrl-alt-del instead of rebooting.
        let _ = sys::reboot(sys::REBOOT_CAD_OFF);
        cmdline::read_kernel(&mut args);
    } else {
        open_stdio(c"/dev/null");
    }
    for (what, arg) in args.errors.iter().flatten() {
        say!(log::WARNING, "ignored: ", *what, *arg);
    }
    // Not PID 1, orphans of the manager's tree still come to us, not to the real init.
    if !pid1 && let Err(e) = sys::set_child_subreaper() {
        shout!("cannot become a child subreaper: ", e);
    }
    let (manager, shell) = cmdline::programs(&args, argv, envp);
    // Room for the whole fd store, plus our own few.
    sys::raise_fd_limit(channel::MAX_FDS as u64 + 64);
    let signals = match sys::block_signals() {
        Ok(fd) => fd,
        Err(e) => {
            shout!("cannot set up signals: ", e);
            if !pid1 {
                sys::exit(1);
            }
            last_resort();
        }
    };
    say!(
        log::INFO,
        "started",
        if mode.container {
            " (container mode)"
        } else {
            ""
        }
    );
    let supervisor = supervise::Supervisor::new(mode, signals, manager, shell);
    let (outcome, signals, channel) = supervisor.run();
    shutdown::finish(mode, outcome.action, outcome.code, &signals, channel)
}

fn has_env(envp: *const *const u8, prefix: &[u8]) -> bool {
    let mut i = 0;
    while let Some(var) = sys::cstr(sys::nth(envp, i)) {
        if var.to_bytes().starts_with(prefix) {
            return true;
        }
        i += 1;
    }
    false
}

/// Opens `path` on whichever of fds 0, 1, 2 is closed, so that neither our messages nor a
/// child's output land in a descriptor opened later.
fn open_stdio(path: &core::ffi::CStr) {
    let missing = [0, 1, 2].map(|fd| !sys::is_open(fd));
    if !missing.contains(&true) {
        return;
    }
    let Ok(fd) = sys::open_inherit(path, sys::O_RDWR | sys::O_NOCTTY) else {
        return;
    };
    for (target, missing) in (0..).zip(missing) {
        if missing && target != fd.raw() {
            let _ = sys::dup2(fd.raw(), target);
        }
    }
    // open() took the lowest free number, which may be one of 0-2 that is now in use.
    if fd.raw() <= 2 {
        fd.leak();
    }
}

/// When even the signal setup failed as PID 1: reap forever, so the kernel keeps running.
fn last_resort() -> ! {
    loop {
        if sys::reap().is_err() {
            let _ = sys::poll(&mut [], 1000);
        }
    }
}

#[cfg(panic = "abort")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // Nothing here panics by design (no unwrap, no indexing); should it ever, PID 1 must
    // not exit: keep reaping.
    last_resort()
}
