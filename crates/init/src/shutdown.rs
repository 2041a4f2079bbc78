//! The end: once the manager has exited for good, stop every process that is left, sync,
//! unmount, and either reboot(2) (PID 1 on a real boot) or exit (a container, or not
//! PID 1). A PID 1 on a real boot never returns from here, even when reboot(2) fails.
//! Only a PID 1 may signal "every process"; otherwise only our own children are signalled.

use std::ffi::CStr;
use std::fmt::{self, Write as _};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::fs::{Mode, OFlags, RawDir};
use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitOptions};
use rustix::system::RebootCommand;

use crate::Mode as RunMode;
use crate::channel::Channel;
use crate::log::{self, Line, Oops, say, shout};
use crate::sys;

/// What to do once the manager has exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Poweroff,
    Reboot,
    Halt,
    Kexec,
    /// Leave with an exit code (containers; on a real boot it means poweroff).
    Exit,
}

impl Action {
    pub fn parse(word: &[u8]) -> Option<Action> {
        match word {
            b"poweroff" => Some(Action::Poweroff),
            b"reboot" => Some(Action::Reboot),
            b"halt" => Some(Action::Halt),
            b"kexec" => Some(Action::Kexec),
            _ => None,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Poweroff => "poweroff",
            Action::Reboot => "reboot",
            Action::Halt => "halt",
            Action::Kexec => "kexec",
            Action::Exit => "exit",
        })
    }
}

/// How long the remaining processes get after SIGTERM, and after SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(5);
const KILL_GRACE: Duration = Duration::from_secs(5);

/// Runs the final sequence and exits with `code` (or reboots).
pub fn finish(
    mode: RunMode,
    action: Action,
    code: i32,
    signals: &OwnedFd,
    mut channel: Channel,
) -> ! {
    shout!("{action}: stopping the remaining processes");
    signal_rest(mode, Signal::TERM);
    if !wait_until_alone(mode, signals, Signal::TERM, TERM_GRACE) {
        shout!("{action}: sending SIGKILL to the processes still running");
        signal_rest(mode, Signal::KILL);
        if !wait_until_alone(mode, signals, Signal::KILL, KILL_GRACE) {
            shout!("{action}: some processes did not exit");
        }
    }
    channel.disconnect();
    channel.close_store();
    rustix::fs::sync();
    if !mode.pid1 || mode.container {
        let code = if mode.container || action == Action::Exit {
            code
        } else {
            0
        };
        say!(log::INFO, "exiting with status {code}");
        std::process::exit(code);
    }
    shout!("{action}: unmounting filesystems");
    crate::mounts::unmount_all();
    rustix::fs::sync();
    let command = match action {
        Action::Reboot => RebootCommand::Restart,
        Action::Halt => RebootCommand::Halt,
        Action::Kexec => RebootCommand::Kexec,
        Action::Poweroff | Action::Exit => RebootCommand::PowerOff,
    };
    shout!("{action}: now");
    if let Err(e) = rustix::system::reboot(command) {
        shout!("reboot(2) failed: {}; the system is stopped", Oops(e));
    }
    // PID 1 must not exit: keep reaping whatever still comes.
    loop {
        let _ = rustix::process::wait(WaitOptions::empty());
        wait_for_signal(signals, Duration::from_secs(3600));
    }
}

fn signal_rest(mode: RunMode, sig: Signal) {
    if mode.pid1 {
        sys::kill_all(sig.as_raw());
    } else {
        signal_children(sig);
    }
}

/// Reaps until no child is left (true) or `grace` is over (false). Not being PID 1, it
/// signals the processes that were reparented to us meanwhile too.
fn wait_until_alone(mode: RunMode, signals: &OwnedFd, sig: Signal, grace: Duration) -> bool {
    let deadline = Instant::now() + grace;
    loop {
        loop {
            match rustix::process::wait(WaitOptions::NOHANG) {
                Ok(Some(_)) | Err(Errno::INTR) => {}
                Ok(None) => break,
                Err(_) => return true,
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        if !mode.pid1 {
            signal_children(sig);
        }
        wait_for_signal(signals, left.min(Duration::from_millis(100)));
    }
}

/// Waits for any signal (SIGCHLD above all) up to `timeout`, and discards what came.
fn wait_for_signal(signals: &OwnedFd, timeout: Duration) {
    let mut fds = [PollFd::new(signals, PollFlags::IN)];
    let timeout = crate::supervise::timespec(timeout);
    let _ = rustix::event::poll(&mut fds, Some(&timeout));
    let mut buf = [0u8; sys::SIGINFO_SIZE * 8];
    while rustix::io::read(signals, &mut buf).is_ok_and(|n| n > 0) {}
}

/// Signals every process whose parent we are, found in /proc.
fn signal_children(sig: Signal) {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let Ok(dir) = rustix::fs::open(c"/proc", flags, Mode::empty()) else {
        return;
    };
    let mut buf = [MaybeUninit::uninit(); 4096];
    let mut entries = RawDir::new(&dir, &mut buf);
    while let Some(Ok(entry)) = entries.next() {
        let name = entry.file_name().to_bytes();
        let Some(pid) = std::str::from_utf8(name)
            .ok()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if parent_of(pid) == Some(me)
            && let Some(pid) = Pid::from_raw(pid)
        {
            let _ = rustix::process::kill_process(pid, sig);
        }
    }
}

/// The parent of `pid`, from /proc/PID/stat ("pid (comm) state ppid ...").
fn parent_of(pid: i32) -> Option<i32> {
    let mut path = Line::new();
    let _ = write!(path, "/proc/{pid}/stat\0");
    let path = CStr::from_bytes_with_nul(path.bytes()).ok()?;
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()?;
    let mut buf = [0u8; 512];
    let n = rustix::io::read(&fd, &mut buf).ok()?;
    let stat = buf.get(..n)?;
    // The command name may hold spaces and parentheses: the last ')' ends it.
    let after = stat.get(stat.iter().rposition(|&b| b == b')')?.saturating_add(2)..)?;
    let ppid = after.split(|&b| b == b' ').nth(1)?;
    std::str::from_utf8(ppid).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_of_ourselves_is_our_parent() {
        let me = rustix::process::getpid().as_raw_nonzero().get();
        let parent = rustix::process::getppid().map(|p| p.as_raw_nonzero().get());
        assert_eq!(parent_of(me), parent);
    }

    #[test]
    fn actions_parse() {
        assert_eq!(Action::parse(b"reboot"), Some(Action::Reboot));
        assert_eq!(
            Action::parse(b"exit"),
            None,
            "exit comes with a code, as its own message"
        );
    }
}
