//! vigil-init: vigil's PID 1. It mounts the API filesystems on a real boot, starts the
//! service manager (vigild) and keeps it alive, reaps every orphan, turns signals into
//! shutdown requests, and makes the final reboot(2). Everything else is the manager's job.
//! docs/INIT.md describes its behaviour and the channel to the manager.
//!
//! It must never stop being PID 1 on a real boot: no code path here ends the process there
//! except reboot(2), and no error is fatal once the main loop runs. It uses no heap; the
//! shipped build (crt-static, scripts/build-init) has no std and no libc either: rustix
//! makes the system calls. Other builds link std and glibc without using them.
#![cfg_attr(target_feature = "crt-static", no_std)]
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

use core::ffi::CStr;

use rustix::fd::{AsRawFd as _, IntoRawFd as _};
use rustix::fs::{self, OFlags};
use rustix::system::RebootCommand;

use crate::log::{Why, say, shout, show};

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
    #[cfg(not(target_feature = "crt-static"))]
    std::panic::set_hook(std::boxed::Box::new(|_| last_resort()));
    let me = rustix::process::getpid();
    let pid1 = me.is_init();
    let mut args = cmdline::parse(argv);
    if !pid1 {
        if args.help {
            let _ = rustix::io::write(sys::fd(1), cmdline::HELP.as_bytes());
            sys::exit(0);
        }
        if let Some((what, arg)) = args.errors.iter().flatten().next() {
            say!(log::WARNING, "{what}{}\ntry 'vigil-init --help'", show(arg));
            sys::exit(2);
        }
    }
    // PID 1 in a container: $container (systemd's convention, set by podman, lxc, nspawn),
    // the files docker and podman leave in the root, or a /proc (a real boot has none yet)
    // that shows another PID namespace than the machine's. The last one keeps a PID 1 of
    // `unshare --pid --mount-proc` from remounting the host's root read-only at its end.
    let exists = cmdline::exists;
    args.container |= pid1
        && ((0..)
            .map_while(|i| sys::nth(envp, i))
            .any(|v| v.to_bytes().starts_with(b"container="))
            || exists(c"/.dockerenv")
            || exists(c"/run/.containerenv")
            || fs::stat(c"/proc/self/ns/pid").is_ok_and(|s| s.st_ino != INITIAL_PID_NAMESPACE));
    let mode = Mode {
        pid1,
        container: args.container,
    };
    if pid1 && !mode.container {
        mounts::mount_api_filesystems();
        open_stdio(c"/dev/console");
        log::use_kmsg();
        // The kernel then sends SIGINT to PID 1 on ctrl-alt-del instead of rebooting.
        let _ = rustix::system::reboot(RebootCommand::CadOff);
        cmdline::read_kernel(&mut args);
    } else {
        open_stdio(c"/dev/null");
    }
    for (what, arg) in args.errors.iter().flatten() {
        say!(log::WARNING, "ignored: {what}{}", show(arg));
    }
    // Not PID 1, orphans of the manager's tree still come to us, not to the real init.
    if !pid1 && let Err(e) = rustix::process::set_child_subreaper(Some(me)) {
        shout!("cannot become a child subreaper: {}", Why(e));
    }
    let (manager, shell) = cmdline::programs(&args, argv, envp);
    // Room for the whole fd store, plus our own few.
    sys::raise_fd_limit(channel::MAX_FDS as u64 + channel::FD_RESERVE);
    let signals = match sys::signalfd() {
        Ok(fd) => fd,
        Err(e) => {
            shout!("cannot set up signals: {}", Why(e));
            if !pid1 {
                sys::exit(1);
            }
            last_resort()
        }
    };
    say!(
        log::INFO,
        "started{}",
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

/// Opens `path` on whichever of fds 0, 1, 2 is closed, so that neither our messages nor a
/// child's output land in a descriptor opened later: open(2) takes the lowest free number.
fn open_stdio(path: &CStr) {
    while let Ok(fd) = fs::open(path, OFlags::RDWR | OFlags::NOCTTY, fs::Mode::empty()) {
        if fd.as_raw_fd() > 2 {
            return;
        }
        let _ = fd.into_raw_fd();
    }
}

/// When even the signal setup failed as PID 1: reap forever, so the kernel keeps running.
fn last_resort() -> ! {
    loop {
        if supervise::reap_one().is_err() {
            let _ = supervise::poll_ms(&mut [], Some(1000));
        }
    }
}

// Nothing here panics by design (no unwrap, no indexing); should it ever, PID 1 must not
// exit: it keeps reaping. Builds with std get the same from a panic hook, set in `run`.
#[cfg(target_feature = "crt-static")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    last_resort()
}
