//! Signals: the signalfd through which the manager receives them, and signal names.
//!
//! The manager never installs a signal handler; it blocks the signals it cares
//! about and reads them from a signalfd in its event loop. The blocked mask and
//! ignored dispositions are inherited across fork, so [`crate::exec`] resets both in
//! every child; this module never forks.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rustix::io::Errno;

/// One signal read from a [`SignalFd`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigInfo {
    pub signo: i32,
    /// The sending process (for SIGCHLD: the child that changed state).
    pub pid: u32,
    pub uid: u32,
    /// `si_code` (for SIGCHLD: CLD_EXITED, CLD_KILLED, ...).
    pub code: i32,
    /// For SIGCHLD: the exit code or the signal number.
    pub status: i32,
}

/// Builds a `sigset_t` holding exactly `signals`.
fn sigset(signals: &[i32]) -> io::Result<libc::sigset_t> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the whole set it is given a valid pointer to.
    unsafe { libc::sigemptyset(set.as_mut_ptr()) };
    // SAFETY: sigemptyset above initialised `set`.
    let mut set = unsafe { set.assume_init() };
    for &sig in signals {
        // SAFETY: `set` is an initialised sigset_t; an invalid number yields -1/EINVAL
        // and leaves the set untouched.
        if unsafe { libc::sigaddset(&mut set, sig) } != 0 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
    }
    Ok(set)
}

/// Blocks `signals` in the calling thread (added to its current mask).
pub fn block_signals(signals: &[i32]) -> io::Result<()> {
    let set = sigset(signals)?;
    // SAFETY: `set` is a valid, initialised sigset_t; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Unblocks `signals` in the calling thread.
pub fn unblock_signals(signals: &[i32]) -> io::Result<()> {
    let set = sigset(signals)?;
    // SAFETY: as in `block_signals`.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Sets the disposition of `signal` to ignored (SIGPIPE in the manager, so that a
/// client that went away is an EPIPE error, not the manager's death).
pub fn ignore_signal(signal: i32) -> io::Result<()> {
    set_disposition(signal, libc::SIG_IGN)
}

/// Restores the default disposition of `signal`.
pub fn default_signal(signal: i32) -> io::Result<()> {
    set_disposition(signal, libc::SIG_DFL)
}

/// Which signals (bit `sig - 1`) may have a disposition other than SIG_DFL, so a
/// new child needs to reset only those. Filled once from the kernel at the first
/// spawn (what the manager inherited), then kept up to date by
/// [`set_disposition`], the only place vigil changes a disposition.
static NOT_DEFAULT: AtomicU64 = AtomicU64::new(0);
static NOT_DEFAULT_KNOWN: AtomicBool = AtomicBool::new(false);

/// The signals a child must reset to SIG_DFL before exec (bit `sig - 1`).
pub(crate) fn non_default_dispositions(max_signal: i32) -> u64 {
    if !NOT_DEFAULT_KNOWN.load(Ordering::Relaxed) {
        let mut bits = 0u64;
        for sig in 1..=max_signal.min(64) {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            let mut old = [0u64; 4];
            // SAFETY: queries only (null new action); `old` is larger than the
            // kernel's struct sigaction on every architecture vigil builds for.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    std::ptr::null::<u64>(),
                    old.as_mut_ptr(),
                    8usize,
                )
            };
            // The handler is the first word of the kernel's struct sigaction.
            if rc != 0 || old[0] != libc::SIG_DFL as u64 {
                bits |= 1 << (sig - 1);
            }
        }
        NOT_DEFAULT.fetch_or(bits, Ordering::Relaxed);
        NOT_DEFAULT_KNOWN.store(true, Ordering::Relaxed);
    }
    NOT_DEFAULT.load(Ordering::Relaxed)
}

fn set_disposition(signal: i32, handler: libc::sighandler_t) -> io::Result<()> {
    if (1..=64).contains(&signal) {
        let bit = 1u64 << (signal - 1);
        if handler == libc::SIG_DFL {
            NOT_DEFAULT.fetch_and(!bit, Ordering::Relaxed);
        } else {
            NOT_DEFAULT.fetch_or(bit, Ordering::Relaxed);
        }
    }
    // SAFETY: an all-zero sigaction is a valid value (empty mask, no flags); the
    // handler is SIG_IGN or SIG_DFL, never a function pointer, so no code of ours
    // runs in signal context.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler;
    // SAFETY: `action` is fully initialised; a null old-action pointer is allowed.
    if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A non-blocking, close-on-exec signalfd over signals blocked in this thread.
#[derive(Debug)]
pub struct SignalFd {
    fd: OwnedFd,
}

/// Size of `struct signalfd_siginfo`, fixed by the kernel ABI.
const SIGINFO_SIZE: usize = 128;

impl SignalFd {
    /// Blocks `signals` in the calling thread and opens a signalfd for them.
    ///
    /// The manager is single-threaded, so blocking in the calling thread blocks them
    /// for the process; a thread started earlier would still receive them.
    pub fn new(signals: &[i32]) -> io::Result<SignalFd> {
        let set = sigset(signals)?;
        block_signals(signals)?;
        // SAFETY: `set` is a valid sigset_t; -1 asks for a new descriptor, which the
        // kernel returns fresh and which we wrap at once (checked for -1 first).
        let raw = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(SignalFd { fd })
    }

    /// The next signal, waiting for one at most `timeout`; `None` when none came.
    pub fn wait(&self, timeout: std::time::Duration) -> io::Result<Option<SigInfo>> {
        use rustix::event::{PollFd, PollFlags};
        let limit = crate::time::to_timespec(timeout);
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&limit)) {
            Ok(_) | Err(Errno::INTR) => self.read(),
            Err(e) => Err(e.into()),
        }
    }

    /// The next pending signal, or `None` when there is none.
    pub fn read(&self) -> io::Result<Option<SigInfo>> {
        let mut buf = [0u8; SIGINFO_SIZE];
        loop {
            match rustix::io::read(&self.fd, &mut buf) {
                Ok(SIGINFO_SIZE) => return Ok(Some(decode_siginfo(&buf))),
                Ok(_) => return Err(io::Error::from_raw_os_error(libc::EIO)),
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Field at a fixed offset of `struct signalfd_siginfo` (all fields are 32-bit).
fn field(buf: &[u8; SIGINFO_SIZE], offset: usize) -> u32 {
    let mut bytes = [0u8; 4];
    if let Some(src) = buf.get(offset..offset + 4) {
        bytes.copy_from_slice(src);
    }
    u32::from_ne_bytes(bytes)
}

fn decode_siginfo(buf: &[u8; SIGINFO_SIZE]) -> SigInfo {
    // Offsets of ssi_signo, ssi_code, ssi_pid, ssi_uid and ssi_status in the ABI.
    SigInfo {
        signo: field(buf, 0) as i32,
        code: field(buf, 8) as i32,
        pid: field(buf, 12),
        uid: field(buf, 16),
        status: field(buf, 40) as i32,
    }
}

impl AsFd for SignalFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The classic signals by number, as Linux numbers them on every architecture vigil
/// builds for.
const NAMES: &[(i32, &str)] = &[
    (libc::SIGHUP, "SIGHUP"),
    (libc::SIGINT, "SIGINT"),
    (libc::SIGQUIT, "SIGQUIT"),
    (libc::SIGILL, "SIGILL"),
    (libc::SIGTRAP, "SIGTRAP"),
    (libc::SIGABRT, "SIGABRT"),
    (libc::SIGBUS, "SIGBUS"),
    (libc::SIGFPE, "SIGFPE"),
    (libc::SIGKILL, "SIGKILL"),
    (libc::SIGUSR1, "SIGUSR1"),
    (libc::SIGSEGV, "SIGSEGV"),
    (libc::SIGUSR2, "SIGUSR2"),
    (libc::SIGPIPE, "SIGPIPE"),
    (libc::SIGALRM, "SIGALRM"),
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGSTKFLT, "SIGSTKFLT"),
    (libc::SIGCHLD, "SIGCHLD"),
    (libc::SIGCONT, "SIGCONT"),
    (libc::SIGSTOP, "SIGSTOP"),
    (libc::SIGTSTP, "SIGTSTP"),
    (libc::SIGTTIN, "SIGTTIN"),
    (libc::SIGTTOU, "SIGTTOU"),
    (libc::SIGURG, "SIGURG"),
    (libc::SIGXCPU, "SIGXCPU"),
    (libc::SIGXFSZ, "SIGXFSZ"),
    (libc::SIGVTALRM, "SIGVTALRM"),
    (libc::SIGPROF, "SIGPROF"),
    (libc::SIGWINCH, "SIGWINCH"),
    (libc::SIGIO, "SIGIO"),
    (libc::SIGPWR, "SIGPWR"),
    (libc::SIGSYS, "SIGSYS"),
];

/// The lowest and highest real-time signal a program may use.
pub fn realtime_range() -> (i32, i32) {
    (libc::SIGRTMIN(), libc::SIGRTMAX())
}

/// Parses a signal as systemd writes it: `SIGTERM` or `TERM`, `SIGRTMIN+3`,
/// `RTMAX-1`, or a number (`15`).
pub fn signal_from_name(name: &str) -> Option<i32> {
    let name = name.trim();
    if let Ok(n) = name.parse::<i32>() {
        let (_, rtmax) = realtime_range();
        return (1..=rtmax).contains(&n).then_some(n);
    }
    let bare = name.strip_prefix("SIG").unwrap_or(name);
    if let Some((sig, _)) = NAMES.iter().find(|(_, n)| n.get(3..) == Some(bare)) {
        return Some(*sig);
    }
    match bare {
        "IOT" => return Some(libc::SIGABRT),
        "POLL" => return Some(libc::SIGIO),
        "CLD" => return Some(libc::SIGCHLD),
        _ => {}
    }
    let (rtmin, rtmax) = realtime_range();
    let rt = |base: i32, offset: &str, sign: i32| -> Option<i32> {
        let off: i32 = if offset.is_empty() {
            0
        } else {
            offset.parse().ok()?
        };
        let sig = base + sign * off;
        (rtmin..=rtmax).contains(&sig).then_some(sig)
    };
    if let Some(rest) = bare.strip_prefix("RTMIN") {
        return match rest.strip_prefix('+') {
            Some(off) => rt(rtmin, off, 1),
            None if rest.is_empty() => Some(rtmin),
            None => None,
        };
    }
    if let Some(rest) = bare.strip_prefix("RTMAX") {
        return match rest.strip_prefix('-') {
            Some(off) => rt(rtmax, off, -1),
            None if rest.is_empty() => Some(rtmax),
            None => None,
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(signal_from_name("SIGTERM"), Some(15));
        assert_eq!(signal_from_name("KILL"), Some(9));
        assert_eq!(signal_from_name("9"), Some(9));
        assert_eq!(signal_from_name("SIGHUPX"), None);
        assert_eq!(
            signal_from_name("sigterm"),
            None,
            "systemd's names are case-sensitive"
        );
        let (rtmin, rtmax) = realtime_range();
        assert_eq!(signal_from_name("SIGRTMIN+2"), Some(rtmin + 2));
        assert_eq!(signal_from_name("RTMAX-1"), Some(rtmax - 1));
        assert_eq!(signal_from_name("SIGRTMIN+99"), None);
        for (n, name) in NAMES {
            assert_eq!(signal_from_name(name), Some(*n));
        }
    }

    #[test]
    fn decodes_the_siginfo_layout() {
        let mut buf = [0u8; SIGINFO_SIZE];
        buf[0..4].copy_from_slice(&17u32.to_ne_bytes());
        buf[8..12].copy_from_slice(&1i32.to_ne_bytes());
        buf[12..16].copy_from_slice(&4242u32.to_ne_bytes());
        buf[40..44].copy_from_slice(&3i32.to_ne_bytes());
        let info = decode_siginfo(&buf);
        assert_eq!(
            (info.signo, info.code, info.pid, info.status),
            (17, 1, 4242, 3)
        );
    }
}
