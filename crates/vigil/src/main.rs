//! `vigil`: the command-line tool over the manager's control socket.
//!
//! Parses the command line, sends one request, prints the reply, and turns the
//! outcome into one of the documented exit codes. `verify` and `notify` work
//! without a manager: `verify` runs the daemon's own loaders offline, `notify`
//! talks to NOTIFY_SOCKET as systemd-notify does.
//!
//! The entry point is the C one (`no_main`): std's own start-up would first look
//! for the main thread's stack guard (reading /proc/self/maps), install a
//! SIGSEGV handler on an alternate stack and poll fds 0-2, about 75 µs of a
//! command whose whole life is under a millisecond. None of it is needed here:
//! `std::env::args` still works (glibc hands std the arguments), and stdout is
//! flushed below.
#![cfg_attr(not(test), no_main)]

mod cli;
mod client;
mod edit;
mod notify;
mod out;
mod render;
mod show;
mod system;
mod sysv;
mod verify;
mod when;

#[cfg(not(test))]
use std::io::Write as _;

use out::{out, outln};

/// The exit codes, the same for every verb (documented in `vigil --help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Failed = 1,
    Usage = 2,
    NotActive = 3,
    NoSuchUnit = 4,
    Unreachable = 5,
}

/// Called by the C library's start-up code, as C's `main`.
#[cfg(not(test))]
#[allow(unsafe_code)] // the `no_mangle` attribute alone: nothing unsafe runs here
#[unsafe(no_mangle)]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    // A panic must not cross this C function (that aborts, SIGABRT and a
    // page of text): one on a failing stderr (`eprintln!` on `2>/dev/full`)
    // ends the command with exit 1 instead.
    let Ok(code) = std::panic::catch_unwind(run) else {
        return Exit::Failed as std::ffi::c_int;
    };
    let code = match (code, out::error()) {
        (code, None) => code,
        // A closed pipe (`vigil list | head -1`) ends quietly, as SIGPIPE
        // would have ended it.
        (_, Some(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::Failed,
        (_, Some(e)) => {
            let _ = writeln!(std::io::stderr(), "vigil: write error: {e}");
            Exit::Failed
        }
    };
    code as std::ffi::c_int
}

#[cfg_attr(test, allow(dead_code))]
fn run() -> Exit {
    // Like any Unix filter: `vigil log | head` ends quietly when head is done,
    // instead of failing on EPIPE.
    let _ = vigil_platform::signal::default_signal(13);
    let mut args = std::env::args();
    let argv0 = args.next().unwrap_or_default();
    let args: Vec<String> = args.collect();
    // Run as `poweroff`, `shutdown`, `runlevel`...: that command (sysv.rs).
    if let Some(tool) = sysv::tool(&argv0) {
        return sysv::run(tool, &args);
    }
    let cmd = match cli::parse(&args) {
        Ok(cmd) => cmd,
        Err(cli::UsageError::Help) => {
            out!("{}", cli::HELP);
            return Exit::Success;
        }
        Err(cli::UsageError::Version) => {
            outln!("vigil {}", env!("CARGO_PKG_VERSION"));
            return Exit::Success;
        }
        Err(cli::UsageError::Bad(msg)) => {
            eprintln!("vigil: {msg}");
            eprintln!("try 'vigil --help'");
            return Exit::Usage;
        }
    };
    // `enable --now` / `disable --now`, as systemctl's: then start or stop.
    let then = match &cmd.verb {
        cli::Verb::Enable {
            units, now: true, ..
        } => Some(cli::Verb::Start {
            units: units.clone(),
            no_block: false,
        }),
        cli::Verb::Disable {
            units, now: true, ..
        } => Some(cli::Verb::Stop {
            units: units.clone(),
            no_block: false,
        }),
        _ => None,
    };
    let (socket, json) = (cmd.socket.clone(), cmd.json);
    match (client::run(cmd), then) {
        (Exit::Success, Some(verb)) => client::run(cli::Command { socket, json, verb }),
        (exit, _) => exit,
    }
}
