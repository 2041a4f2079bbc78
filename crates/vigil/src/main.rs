//! `vigil`: the command-line tool over the manager's control socket.
//!
//! Parses the command line, sends one request, prints the reply, and turns the
//! outcome into one of the documented exit codes. `verify` and `notify` work
//! without a manager: `verify` runs the daemon's own loaders offline, `notify`
//! talks to NOTIFY_SOCKET as systemd-notify does.

mod cli;
mod client;
mod notify;
mod render;
mod verify;

use std::process::ExitCode;

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

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

fn main() -> ExitCode {
    // Like any Unix filter: `vigil log | head` ends quietly when head is done,
    // instead of failing on EPIPE.
    let _ = vigil_platform::signal::default_signal(13);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = match cli::parse(&args) {
        Ok(cmd) => cmd,
        Err(cli::UsageError::Help) => {
            print!("{}", cli::HELP);
            return Exit::Success.into();
        }
        Err(cli::UsageError::Version) => {
            println!("vigil {}", env!("CARGO_PKG_VERSION"));
            return Exit::Success.into();
        }
        Err(cli::UsageError::Bad(msg)) => {
            eprintln!("vigil: {msg}");
            eprintln!("try 'vigil --help'");
            return Exit::Usage.into();
        }
    };
    client::run(cmd).into()
}
