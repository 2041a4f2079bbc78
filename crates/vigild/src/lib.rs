//! `vigild`, the service manager, as a library so the binary stays thin.
//!
//! One thread, one epoll loop. The loop owns every descriptor (signalfd,
//! timerfd, the control and notify sockets, the services' log pipes, the
//! pidfds of main processes it did not start) and turns what the
//! kernel reports into engine events; the engine's actions are carried out here
//! and nowhere else. Nothing in this crate sleeps, and every wait but two is an
//! epoll wait, bounded by the engine's next deadline.
//!
//! The waits that are not: reading vigil-init's greeting at start, and a
//! message to vigil-init that finds its socket full (both bounded). Nothing
//! waits on stderr: its lines go through a non-blocking sink, or [`note!`].
//!
//! Once running, the manager never exits because of an error: a failed action
//! is reported against its unit, a failed client is dropped.

/// A message to vigild's stderr outside its log sinks (before they exist, a
/// fatal error): written only when fd 2 takes it now
/// ([`vigil_platform::stderr_line`]), never waited for.
#[macro_export]
macro_rules! note {
    ($($args:tt)+) => { vigil_platform::stderr_line(&format!($($args)+)) };
}

mod control;
mod daemon;
mod edit;
mod generators;
mod handover;
mod logs;
pub mod options;
mod procs;
mod properties;
mod sockets;
mod system;

pub use daemon::{hold_signals, run};
pub use handover::{CHECK_PASSED, check_state_on_stdin};
