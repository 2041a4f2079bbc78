//! The end: once the manager has exited for good, stop every process that is left, sync,
//! unmount, and either reboot(2) (PID 1 on a real boot) or exit (a container, or not
//! PID 1). A PID 1 on a real boot never returns from here, even when reboot(2) fails.
//! Only a PID 1 may signal "every process"; otherwise only our own children are signalled.

use core::fmt::Write as _;
use core::mem::MaybeUninit;

use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags, RawDir};
use rustix::process::{Pid, Signal};
use rustix::system::RebootCommand;

use crate::channel::{Channel, number};
use crate::log::{self, Line, Why, say, shout};
use crate::{Mode as Where, supervise, sys};

/// What to do once the manager has exited. `Exit` leaves with an exit code (containers;
/// on a real boot it means poweroff).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Poweroff,
    Reboot,
    Halt,
    Kexec,
    Exit,
}

const ACTIONS: [(Action, &str, RebootCommand); 5] = [
    (Action::Poweroff, "poweroff", RebootCommand::PowerOff),
    (Action::Reboot, "reboot", RebootCommand::Restart),
    (Action::Halt, "halt", RebootCommand::Halt),
    (Action::Kexec, "kexec", RebootCommand::Kexec),
    (Action::Exit, "exit", RebootCommand::PowerOff),
];

impl Action {
    /// The action a `shutdown` request names (not `exit`: that has its own request).
    pub fn parse(word: &[u8]) -> Option<Action> {
        let found = ACTIONS.iter().find(|(_, name, _)| name.as_bytes() == word);
        found
            .map(|&(action, ..)| action)
            .filter(|&a| a != Action::Exit)
    }

    pub fn name(self) -> &'static str {
        self.row().1
    }

    /// This action's row of ACTIONS (every action has one).
    fn row(self) -> (Action, &'static str, RebootCommand) {
        let row = ACTIONS.iter().find(|(a, ..)| *a == self).copied();
        row.unwrap_or((self, "poweroff", RebootCommand::PowerOff))
    }
}

/// How long (ms) the remaining processes get after SIGTERM, and again after SIGKILL.
const GRACE: u64 = 5000;

/// Runs the final sequence and exits with `code` (or reboots).
pub fn finish(at: Where, action: Action, code: i32, signals: &OwnedFd, channel: Channel) -> ! {
    let name = action.name();
    shout!("{name}: stopping the remaining processes");
    if !stop_the_rest(at, signals, Signal::TERM) {
        shout!("{name}: sending SIGKILL to the processes still running");
        if !stop_the_rest(at, signals, Signal::KILL) {
            shout!("{name}: some processes did not exit");
        }
    }
    // The fd store's descriptors would keep filesystems busy.
    drop(channel);
    rustix::fs::sync();
    if !at.pid1 || at.container {
        let code = if at.container || action == Action::Exit {
            code
        } else {
            0
        };
        say!(log::INFO, "exiting with status {code}");
        sys::exit(code);
    }
    shout!("{name}: unmounting filesystems");
    crate::mounts::unmount_all();
    rustix::fs::sync();
    shout!("{name}: now");
    if let Err(e) = rustix::system::reboot(action.row().2) {
        shout!("reboot(2) failed: {}; the system is stopped", Why(e));
    }
    // PID 1 must not exit: keep reaping whatever still comes.
    loop {
        while let Ok(Some(_)) = supervise::reap_one() {}
        supervise::wait_for_signal(signals, 3_600_000);
    }
}

/// Signals what is left and reaps until no child is left (true) or GRACE is over (false).
/// A PID 1 signals every process but itself (kill(-1)); any other process would hit all
/// its user owns, so it signals its children, again as more are reparented to it.
fn stop_the_rest(at: Where, signals: &OwnedFd, sig: Signal) -> bool {
    let deadline = sys::now_ms().saturating_add(GRACE);
    if at.pid1 {
        // kill(-1, sig): to the process group "1", which kill(2) takes as every process.
        let _ = rustix::process::kill_process_group(Pid::INIT, sig);
    }
    loop {
        if !at.pid1 {
            signal_children(sig);
        }
        loop {
            match supervise::reap_one() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return true,
            }
        }
        let left = deadline.saturating_sub(sys::now_ms());
        if left == 0 {
            return false;
        }
        supervise::wait_for_signal(signals, left.min(100));
    }
}

/// Signals every process whose parent we are, found in /proc.
fn signal_children(sig: Signal) {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let Ok(dir) = rustix::fs::open(c"/proc", flags, Mode::empty()) else {
        return;
    };
    let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
    let mut entries = RawDir::new(dir, &mut buf);
    while let Some(Ok(entry)) = entries.next() {
        let pid = number(entry.file_name().to_bytes()).and_then(|p| i32::try_from(p).ok());
        if let Some(pid) = pid
            .filter(|&p| parent_of(p) == Some(me))
            .and_then(Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, sig);
        }
    }
}

/// The parent of `pid`, from /proc/PID/stat ("pid (comm) state ppid ...").
fn parent_of(pid: i32) -> Option<i32> {
    let mut path = Line::<32>::new();
    write!(path, "/proc/{pid}/stat\0").ok()?;
    let path = core::ffi::CStr::from_bytes_with_nul(path.bytes()).ok()?;
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()?;
    let mut buf = [0u8; 512];
    let n = rustix::io::read(&fd, &mut buf).ok()?;
    let stat = buf.get(..n)?;
    // The command name may hold spaces and parentheses: the last ')' ends it.
    let after = stat.get(stat.iter().rposition(|&b| b == b')')?.saturating_add(2)..)?;
    number(after.split(|&b| b == b' ').nth(1)?).and_then(|p| i32::try_from(p).ok())
}
