//! The end: once the manager has exited for good, stop every process that is left, sync,
//! unmount, and either reboot(2) (PID 1 on a real boot) or exit (a container, or not
//! PID 1). A PID 1 on a real boot never returns from here, even when reboot(2) fails.
//! Only a PID 1 may signal "every process"; otherwise only our own children are signalled.

use core::ffi::CStr;

use crate::Mode;
use crate::channel::{Channel, number};
use crate::log::{self, Line, say, shout};
use crate::sys::{self, EINTR, Fd, PollFd};

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

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Poweroff => "poweroff",
            Action::Reboot => "reboot",
            Action::Halt => "halt",
            Action::Kexec => "kexec",
            Action::Exit => "exit",
        }
    }
}

/// How long (ms) the remaining processes get after SIGTERM, and again after SIGKILL.
const GRACE: u64 = 5000;

/// Runs the final sequence and exits with `code` (or reboots).
pub fn finish(mode: Mode, action: Action, code: i32, signals: &Fd, mut channel: Channel) -> ! {
    let name = action.name();
    shout!(name, ": stopping the remaining processes");
    signal_rest(mode, sys::SIGTERM);
    if !wait_until_alone(mode, signals, sys::SIGTERM) {
        shout!(name, ": sending SIGKILL to the processes still running");
        signal_rest(mode, sys::SIGKILL);
        if !wait_until_alone(mode, signals, sys::SIGKILL) {
            shout!(name, ": some processes did not exit");
        }
    }
    channel.disconnect();
    channel.close_store();
    sys::sync();
    if !mode.pid1 || mode.container {
        let code = if mode.container || action == Action::Exit {
            code
        } else {
            0
        };
        say!(log::INFO, "exiting with status ", code);
        sys::exit(code);
    }
    shout!(name, ": unmounting filesystems");
    crate::mounts::unmount_all();
    sys::sync();
    let command = match action {
        Action::Reboot => sys::REBOOT_RESTART,
        Action::Halt => sys::REBOOT_HALT,
        Action::Kexec => sys::REBOOT_KEXEC,
        Action::Poweroff | Action::Exit => sys::REBOOT_POWER_OFF,
    };
    shout!(name, ": now");
    if let Err(e) = sys::reboot(command) {
        shout!("reboot(2) failed: ", e, "; the system is stopped");
    }
    // PID 1 must not exit: keep reaping whatever still comes.
    loop {
        while let Ok(Some(_)) = sys::reap() {}
        wait_for_signal(signals, 3_600_000);
    }
}

fn signal_rest(mode: Mode, sig: i32) {
    if mode.pid1 {
        // Every process but ourselves. Only a PID 1 may: any other process would hit
        // everything its user owns outside its own tree.
        sys::kill(-1, sig);
    } else {
        signal_children(sig);
    }
}

/// Reaps until no child is left (true) or GRACE is over (false). Not being PID 1, it
/// signals the processes that were reparented to us meanwhile too.
fn wait_until_alone(mode: Mode, signals: &Fd, sig: i32) -> bool {
    let deadline = sys::now_ms().saturating_add(GRACE);
    loop {
        loop {
            match sys::reap() {
                Ok(Some(_)) | Err(EINTR) => {}
                Ok(None) => break,
                Err(_) => return true,
            }
        }
        let left = deadline.saturating_sub(sys::now_ms());
        if left == 0 {
            return false;
        }
        if !mode.pid1 {
            signal_children(sig);
        }
        wait_for_signal(signals, left.min(100));
    }
}

/// Waits for any signal (SIGCHLD above all) up to `timeout` ms, and discards what came.
fn wait_for_signal(signals: &Fd, timeout: u64) {
    let mut fds = [PollFd {
        fd: signals.raw(),
        events: sys::POLLIN,
        revents: 0,
    }];
    let _ = sys::poll(&mut fds, i64::try_from(timeout).map_or(i64::MAX, |t| t));
    let mut buf = [0u8; sys::SIGINFO_SIZE * 8];
    while sys::read(signals.raw(), &mut buf).is_ok_and(|n| n > 0) {}
}

/// Signals every process whose parent we are, found in /proc.
fn signal_children(sig: i32) {
    let me = sys::getpid();
    let Ok(dir) = sys::open(c"/proc", sys::O_RDONLY | sys::O_DIRECTORY) else {
        return;
    };
    let mut buf = [0u8; 2048];
    while let Ok(n) = sys::getdents(dir.raw(), &mut buf) {
        let Some(mut entries) = buf.get(..n).filter(|e| !e.is_empty()) else {
            break;
        };
        // struct linux_dirent64: ino u64, off u64, reclen u16, type u8, name NUL-terminated.
        while let Some(head) = entries.get(..19) {
            let reclen = head.get(16..).and_then(|r| r.first_chunk::<2>());
            let reclen = reclen.map_or(0, |r| usize::from(u16::from_ne_bytes(*r)));
            let name = entries.get(19..reclen.max(19)).unwrap_or_default();
            let name = name.split(|&b| b == 0).next().unwrap_or_default();
            if let Some(pid) = number(name).and_then(|p| i32::try_from(p).ok())
                && parent_of(pid) == Some(me)
            {
                sys::kill(pid, sig);
            }
            entries = entries.get(reclen.max(1)..).unwrap_or_default();
        }
    }
}

/// The parent of `pid`, from /proc/PID/stat ("pid (comm) state ppid ...").
fn parent_of(pid: i32) -> Option<i32> {
    let mut path = Line::<32>::new();
    path.push(b"/proc/").num(pid.into()).push(b"/stat\0");
    let path = CStr::from_bytes_with_nul(path.bytes()).ok()?;
    let fd = sys::open(path, sys::O_RDONLY).ok()?;
    let mut buf = [0u8; 512];
    let n = sys::read(fd.raw(), &mut buf).ok()?;
    let stat = buf.get(..n)?;
    // The command name may hold spaces and parentheses: the last ')' ends it.
    let after = stat.get(stat.iter().rposition(|&b| b == b')')? + 2..)?;
    number(after.split(|&b| b == b' ').nth(1)?).and_then(|p| i32::try_from(p).ok())
}
