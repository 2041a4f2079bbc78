//! vigil-init: vigil's PID 1. It mounts the API filesystems on a real boot, starts the
//! service manager (vigild) and keeps it alive, reaps every orphan, turns signals into
//! shutdown requests, and makes the final reboot(2). docs/INIT.md describes it all.
//!
//! As PID 1 on a real boot no code path ends the process but reboot(2), and no error is
//! fatal once the main loop runs. No heap: buffers are on the stack or mapped at start.
//! The shipped build (crt-static, scripts/build-init) has no std and no libc either:
//! rustix makes the system calls. Other builds link std and glibc without using them.
#![cfg_attr(target_feature = "crt-static", no_std)]
// `cargo test --all-targets` builds this binary with the test harness's main.
#![cfg_attr(not(test), no_main)]
#![cfg_attr(test, allow(dead_code))]
#![deny(clippy::indexing_slicing)]

mod channel;
mod cmdline;
mod end;
mod log;
mod supervise;
mod sys;

use core::ffi::CStr;

use rustix::fd::{AsRawFd as _, IntoRawFd as _};
use rustix::fs::{Mode, OFlags, open};

use crate::log::{Why, say, shout, show};

/// Where vigil-init runs, decided at start.
#[derive(Debug, Clone, Copy)]
pub struct Where {
    /// PID 1, of the machine or of a PID namespace.
    pub pid1: bool,
    /// Container mode: no mounts, no reboot(2); exit when done.
    pub container: bool,
}

impl Where {
    /// A real boot: PID 1 of a machine, with its mounts, console and reboot(2).
    pub fn boot(self) -> bool {
        self.pid1 && !self.container
    }
}

/// The inode of the initial PID namespace (the kernel's PROC_PID_INIT_INO).
const INITIAL_PID_NAMESPACE: u64 = 0xEFFF_FFFC;

/// From the entry point in sys.rs, with the kernel's argv and envp.
fn run(argv: *const *const u8, envp: *const *const u8) -> ! {
    #[cfg(not(target_feature = "crt-static"))]
    std::panic::set_hook(std::boxed::Box::new(|_| last_resort()));
    sys::reset_inherited();
    let pid1 = rustix::process::getpid().is_init();
    if !pid1 {
        cmdline::telinit(argv, envp);
    }
    let mut args = cmdline::parse(argv);
    // A container: $container (set by podman, lxc, nspawn), the files docker and podman
    // leave, or another PID namespace than the machine's, so that `unshare --pid` never
    // remounts the host's / at the end. /proc tells which: mounted first when missing.
    let env = (0..).map_while(|i| sys::nth(envp, i));
    args.container |= pid1
        && (env
            .map(CStr::to_bytes)
            .any(|v| v.starts_with(b"container="))
            || cmdline::exists(c"/.dockerenv")
            || cmdline::exists(c"/run/.containerenv")
            || {
                end::mount_proc();
                rustix::fs::stat(c"/proc/self/ns/pid")
                    .is_ok_and(|s| s.st_ino != INITIAL_PID_NAMESPACE)
            });
    let at = Where {
        pid1,
        container: args.container,
    };
    // Started by the vigil-init we replaced on disk, to end its boot (end.rs).
    let handed = sys::nth(argv, 0) == Some(end::FINAL_ARGV0);
    if let Some(word) = args.last {
        match end::Action::parse(word.to_bytes()) {
            Some(action) if at.boot() && handed => {
                log::use_kmsg();
                log::own_stderr();
                let signals = sys::signalfd().unwrap_or_else(|_| last_resort());
                end::power_off(action, &signals)
            }
            Some(_) => args.error(
                "--final is for a vigil-init handed the end of a boot: ",
                word,
            ),
            None => args.error("--final takes poweroff, reboot, halt or kexec: ", word),
        }
    }
    if args.help && !at.boot() {
        let _ = rustix::io::write(sys::fd(1), cmdline::HELP.as_bytes());
        sys::exit(0);
    }
    // A bad argument is fatal but on a real boot, where the kernel hands PID 1
    // the words of its command line it does not know.
    if let Some((what, arg)) = args.errors.iter().flatten().next().filter(|_| !at.boot()) {
        say!(log::WARNING, "{what}{}\ntry 'vigil-init --help'", show(arg));
        sys::exit(2);
    }
    if at.boot() {
        end::mount_api_filesystems();
        open_stdio(c"/dev/console");
        log::use_kmsg();
        // The kernel then sends SIGINT to PID 1 on ctrl-alt-del instead of rebooting.
        let _ = rustix::system::reboot(rustix::system::RebootCommand::CadOff);
        cmdline::read_kernel(&mut args);
    } else {
        open_stdio(c"/dev/null");
    }
    log::own_stderr();
    for (what, arg) in args.errors.iter().flatten() {
        say!(log::WARNING, "ignored: {what}{}", show(arg));
    }
    // Not PID 1, the orphans of the manager's tree still come to us, not to the real init.
    if !pid1 && let Err(e) = rustix::process::set_child_subreaper(Some(rustix::process::getpid())) {
        shout!("cannot become a child subreaper: {}", Why(e));
    }
    let (manager, shell) = cmdline::programs(&args, argv, envp);
    sys::raise_fd_limit(channel::MAX_FDS as u64 + channel::FD_RESERVE);
    let signals = sys::signalfd().unwrap_or_else(|e| {
        shout!("cannot set up signals: {}", Why(e));
        if pid1 { last_resort() } else { sys::exit(1) }
    });
    let mode = if at.container {
        " (container mode)"
    } else {
        ""
    };
    say!(log::INFO, "started{mode}");
    let (action, code, channel) = supervise::Supervisor::new(at, &signals, manager, shell).run();
    end::finish(at, action, code, &signals, channel)
}

/// Opens `path` on whichever of fds 0, 1, 2 is closed, so that neither our messages nor a
/// child's output land in a descriptor opened later (open(2) takes the lowest number).
fn open_stdio(path: &CStr) {
    while let Ok(fd) = open(path, OFlags::RDWR | OFlags::NOCTTY, Mode::empty())
        && fd.as_raw_fd() <= 2
    {
        let _ = fd.into_raw_fd();
    }
}

/// When even the signal setup failed as PID 1, or on a panic: reap forever, so that the
/// kernel keeps running.
fn last_resort() -> ! {
    loop {
        if supervise::reap_one().is_err() {
            let _ = supervise::poll_ms(&mut [], Some(1000));
        }
    }
}

// Nothing here panics by design (no unwrap, no indexing). Should it ever, PID 1 must not
// exit. Builds with std get the same from the hook set in `run`.
#[cfg(target_feature = "crt-static")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    last_resort()
}
