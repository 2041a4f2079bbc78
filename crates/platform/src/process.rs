//! Processes: pidfds, signals to processes and groups, reaping, ids and limits.
//!
//! Pids cross this API as `u32` (what the model and the protocol use); a pid that
//! does not fit a `pid_t` or is 0 is refused here, so a bad number can never turn
//! into `kill(0, ..)` or `kill(-1, ..)`, which would hit the manager's own group or
//! every process.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Resource, Signal, WaitOptions};

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Signaled(i32),
}

fn pid_of(pid: u32) -> io::Result<Pid> {
    i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))
}

fn signal_of(sig: i32) -> io::Result<Signal> {
    if let Some(s) = Signal::from_named_raw(sig) {
        return Ok(s);
    }
    if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&sig) {
        // SAFETY: `sig` lies in libc's usable real-time range, which excludes the
        // numbers the C library reserves for itself (rustix's only requirement).
        return Ok(unsafe { Signal::from_raw_unchecked(sig) });
    }
    Err(io::Error::from_raw_os_error(libc::EINVAL))
}

/// A pidfd for `pid` (close-on-exec by kernel definition). It becomes readable when
/// the process exits, and signals sent through it cannot hit a recycled pid.
pub fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    Ok(rustix::process::pidfd_open(
        pid_of(pid)?,
        PidfdFlags::empty(),
    )?)
}

pub fn pidfd_send_signal(pidfd: impl AsFd, sig: i32) -> io::Result<()> {
    Ok(rustix::process::pidfd_send_signal(pidfd, signal_of(sig)?)?)
}

pub fn kill(pid: u32, sig: i32) -> io::Result<()> {
    Ok(rustix::process::kill_process(
        pid_of(pid)?,
        signal_of(sig)?,
    )?)
}

/// Signals every process of the process group `pgid` (`kill(-pgid, sig)`).
pub fn kill_group(pgid: u32, sig: i32) -> io::Result<()> {
    Ok(rustix::process::kill_process_group(
        pid_of(pgid)?,
        signal_of(sig)?,
    )?)
}

/// Whether a process is in the process group `pgid` (kill with signal 0; a
/// group of processes this one may not signal exists too).
pub fn group_exists(pgid: u32) -> bool {
    pid_of(pgid).is_ok_and(|p| {
        let probe = rustix::process::test_kill_process_group(p);
        probe.is_ok() || probe == Err(rustix::io::Errno::PERM)
    })
}

/// Whether no process (not even a zombie) has the number `id` as its PID, its
/// process group or its session: the kernel keeps a number in its table while
/// any of the three holds it. Asked through `F_SETOWN` on a pipe of our own,
/// which looks the number up among all three, with no permission check, and
/// fails with ESRCH (since Linux 4.12) only when it is not there; the owner is
/// cleared again (the pipe never has `O_ASYNC`: nobody is signalled). False
/// whenever it cannot tell (an older kernel, no pipe): "maybe in use".
pub fn id_unused(id: u32) -> bool {
    static PROBE: std::sync::OnceLock<Option<OwnedFd>> = std::sync::OnceLock::new();
    let Ok(pid) = i32::try_from(id) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    let probe = PROBE.get_or_init(|| {
        let (read, _write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ok()?;
        Some(read)
    });
    let Some(fd) = probe.as_ref().map(std::os::fd::AsRawFd::as_raw_fd) else {
        return false;
    };
    // SAFETY: `fd` is our own open pipe for as long as the program runs (a
    // static); F_SETOWN takes an int and touches no memory of ours.
    let set = unsafe { libc::fcntl(fd, libc::F_SETOWN, pid) };
    let unused = set == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
    if set == 0 {
        // SAFETY: as above; 0 clears the owner (and drops the kernel's reference).
        unsafe { libc::fcntl(fd, libc::F_SETOWN, 0) };
    }
    unused
}

fn status_of(status: rustix::process::WaitStatus) -> Option<ExitStatus> {
    if let Some(code) = status.exit_status() {
        Some(ExitStatus::Exited(code))
    } else {
        status.terminating_signal().map(ExitStatus::Signaled)
    }
}

/// `pid: None` waits for any child. (rustix's `waitpid(None)` would mean only the
/// children in our own process group, which no service is: each runs `setsid`.)
fn wait(pid: Option<Pid>, options: WaitOptions) -> io::Result<Option<(u32, ExitStatus)>> {
    loop {
        let result = match pid {
            Some(pid) => rustix::process::waitpid(Some(pid), options),
            None => rustix::process::wait(options),
        };
        match result {
            Ok(Some((pid, status))) => match status_of(status) {
                Some(st) => return Ok(Some((pid.as_raw_nonzero().get().unsigned_abs(), st))),
                // Stopped or continued: only reported when asked for, never here.
                None => continue,
            },
            Ok(None) => return Ok(None),
            Err(Errno::INTR) => continue,
            Err(Errno::CHILD) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Reaps one exited child, any child, without blocking. `None` when no child has
/// exited (or there are no children). Call it in a loop after each SIGCHLD: signals
/// coalesce, one SIGCHLD may stand for many exits.
pub fn reap_any() -> io::Result<Option<(u32, ExitStatus)>> {
    wait(None, WaitOptions::NOHANG)
}

/// The first exited child and how it ended, left unreaped (`WNOWAIT`): asked
/// again, the same child comes back until it is reaped. Lets the manager
/// record an exit before the zombie goes: should it die first, the child goes
/// to vigil-init with its status still in it.
pub fn peek_any() -> io::Result<Option<(u32, ExitStatus)>> {
    peek_child(libc::P_ALL, 0)
}

/// How `pid` ended if it has, left unreaped, as [`peek_any`].
pub fn peek(pid: u32) -> io::Result<Option<ExitStatus>> {
    Ok(peek_child(libc::P_PID, pid)?.map(|(_, end)| end))
}

fn peek_child(idtype: libc::idtype_t, id: u32) -> io::Result<Option<(u32, ExitStatus)>> {
    loop {
        // SAFETY: all-zero is a valid siginfo_t (waitid leaves si_pid 0 when no
        // child has exited yet), which the kernel fills.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let options = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        // SAFETY: waitid(idtype, id, &info, options) writes only `info`.
        if unsafe { libc::waitid(idtype, id, &mut info, options) } != 0 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ECHILD) => return Ok(None),
                _ => return Err(err),
            }
        }
        // SAFETY: waitid filled a SIGCHLD siginfo (or left it zeroed).
        let (pid, code, status) = unsafe { (info.si_pid(), info.si_code, info.si_status()) };
        let Ok(pid @ 1..) = u32::try_from(pid) else {
            return Ok(None);
        };
        let end = match code {
            libc::CLD_EXITED => ExitStatus::Exited(status),
            _ => ExitStatus::Signaled(status),
        };
        return Ok(Some((pid, end)));
    }
}

/// Reaps `pid` if it has exited, without blocking.
pub fn reap(pid: u32) -> io::Result<Option<ExitStatus>> {
    Ok(wait(Some(pid_of(pid)?), WaitOptions::NOHANG)?.map(|(_, st)| st))
}

/// Waits up to `timeout` for the child `pid` to exit and reaps it; None when
/// it still runs then (left running and unreaped). Blocks: for the manager's
/// rare synchronous steps (the check before `vigil reexec`), bounded.
pub fn wait_within(pid: u32, timeout: std::time::Duration) -> io::Result<Option<ExitStatus>> {
    let fd = pidfd_open(pid)?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = reap(pid)? {
            return Ok(Some(status));
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        crate::pipe::poll_ready(&[fd.as_fd()], rustix::event::PollFlags::IN, left)?;
    }
}

/// Waits for `pid` to exit and reaps it. For the command-line tool and tests; the
/// manager never blocks.
pub fn wait_blocking(pid: u32) -> io::Result<ExitStatus> {
    match wait(Some(pid_of(pid)?), WaitOptions::empty())? {
        Some((_, st)) => Ok(st),
        None => Err(io::Error::from_raw_os_error(libc::ECHILD)),
    }
}

/// Makes orphaned descendants of this process its children (PR_SET_CHILD_SUBREAPER),
/// so a forking service's daemon is reaped by the manager, not by PID 1.
pub fn set_child_subreaper() -> io::Result<()> {
    Ok(rustix::process::set_child_subreaper(Some(
        rustix::process::getpid(),
    ))?)
}

/// The process group of `pid` (for a service, its main process: services run in
/// their own session). Lets the manager attribute a notification from a helper
/// process to its unit. 0 is the kernel's own group: that of a process the
/// kernel started (PID 1, kernel threads) or one of its descendants that never
/// called setsid(), such as vigild under an init that does not give it a
/// session. (rustix's wrapper asserts a group above 0, so libc is used here.)
pub fn getpgid(pid: u32) -> io::Result<u32> {
    let pid = pid_of(pid)?;
    // SAFETY: getpgid only reads the process table; it touches no memory.
    let pgid = unsafe { libc::getpgid(pid.as_raw_nonzero().get()) };
    u32::try_from(pgid).map_err(|_| io::Error::last_os_error())
}

pub fn getpid() -> u32 {
    rustix::process::getpid()
        .as_raw_nonzero()
        .get()
        .unsigned_abs()
}

/// The parent's PID (0 when the parent is in another PID namespace).
pub fn getppid() -> u32 {
    rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get().unsigned_abs())
}

pub fn getuid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// Sets the file mode creation mask of this process; returns the previous one.
pub fn set_umask(mask: u32) -> u32 {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(mask & 0o777)).as_raw_mode()
}

pub fn geteuid() -> u32 {
    rustix::process::geteuid().as_raw()
}

pub fn getgid() -> u32 {
    rustix::process::getgid().as_raw()
}

pub fn getegid() -> u32 {
    rustix::process::getegid().as_raw()
}

/// Raises the soft limit on open files to the hard limit (the manager holds
/// pipes per running service). Returns the new soft limit (`None`: unlimited).
/// The spawn layer gives services systemd's default soft limit back unless they
/// set `LimitNOFILE=` (vigil-spawn's `prepare`).
pub fn raise_nofile_limit() -> io::Result<Option<u64>> {
    let mut limit = rustix::process::getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    rustix::process::setrlimit(Resource::Nofile, limit)?;
    Ok(limit.current)
}

/// The current `(soft, hard)` limit of a resource (`None`: unlimited).
pub fn get_rlimit(resource: crate::exec::RlimitResource) -> (Option<u64>, Option<u64>) {
    let limit = rustix::process::getrlimit(resource.to_rustix());
    (limit.current, limit.maximum)
}

/// What [`reboot`] does to the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reboot {
    PowerOff,
    Restart,
    Halt,
}

/// reboot(2) at once (`poweroff -f`): no process is stopped and no file
/// system unmounted (syncing first is the caller's). It returns only when it
/// failed (EPERM without CAP_SYS_BOOT); in a PID namespace other than the
/// first, the kernel ends that namespace's init instead (by SIGHUP for a
/// restart, SIGINT otherwise).
pub fn reboot(how: Reboot) -> io::Error {
    use rustix::system::RebootCommand;
    let cmd = match how {
        Reboot::PowerOff => RebootCommand::PowerOff,
        Reboot::Restart => RebootCommand::Restart,
        Reboot::Halt => RebootCommand::Halt,
    };
    match rustix::system::reboot(cmd) {
        Ok(()) => io::Error::other("reboot(2) returned"),
        Err(e) => e.into(),
    }
}

/// sync(2): every file system's data to its disk.
pub fn sync() {
    rustix::fs::sync();
}

/// setsid(2): a session and a process group of its own, without a
/// controlling terminal (fails for a process group leader).
pub fn setsid() -> io::Result<()> {
    rustix::process::setsid().map(drop).map_err(Into::into)
}

/// Makes `cmd`'s child start with every signal unblocked and at its default
/// action, whatever this process blocks or ignores (both survive execve), as
/// the manager's own spawn does ([`crate::exec::default_signals`]).
pub fn with_default_signals(cmd: &mut std::process::Command) -> &mut std::process::Command {
    use std::os::unix::process::CommandExt as _;
    let max = libc::SIGRTMAX();
    // SAFETY: between fork and exec the closure only sets signal actions and
    // the mask by raw system calls (async-signal-safe), and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if crate::exec::default_signals(max, u64::MAX) {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A number held only as a session (its leader reaped, a process left
    /// in the session) is in use; one nobody holds is not.
    #[test]
    fn id_unused_sees_a_pid_and_a_session_left_behind() {
        assert!(!id_unused(std::process::id()));
        assert!(!id_unused(0));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(id_unused(pid));
        // setsid(1) execs the shell as the leader of a new session (the
        // child is no group leader); the shell leaves `sleep` in it.
        let mut leader = std::process::Command::new("setsid")
            .args(["sh", "-c", "sleep 5 & exit 0"])
            .spawn()
            .unwrap();
        let id = leader.id();
        leader.wait().unwrap();
        let held = id_unused(id);
        let _ = kill_group(id, 9);
        assert!(!held, "the session of a reaped leader, still holding sleep");
    }

    #[test]
    fn refuses_pids_that_would_widen_a_kill() {
        assert_eq!(kill(0, 15).unwrap_err().raw_os_error(), Some(libc::ESRCH));
        assert_eq!(
            kill(u32::MAX, 15).unwrap_err().raw_os_error(),
            Some(libc::ESRCH)
        );
        assert_eq!(
            kill_group(0, 15).unwrap_err().raw_os_error(),
            Some(libc::ESRCH)
        );
    }

    #[test]
    fn the_kernels_own_process_group_is_0_not_an_error() {
        // PID 2 (kthreadd) is in the kernel's group 0 in every PID namespace
        // that shows it; in a namespace without it, there is nothing to check.
        if let Ok(stat) = std::fs::read_to_string("/proc/2/stat")
            && stat.contains("(kthreadd)")
        {
            assert_eq!(getpgid(2).unwrap(), 0);
        }
        assert_eq!(
            getpgid(getpid()).unwrap(),
            rustix::process::getpgrp().as_raw_nonzero().get() as u32
        );
        assert!(getpgid(999_999_999).is_err());
    }

    #[test]
    fn ids_are_those_of_the_process() {
        assert_eq!(getpid(), std::process::id());
        let _ = (getuid(), geteuid(), getgid(), getegid());
    }

    #[test]
    fn nofile_soft_limit_is_raised_to_hard() {
        let hard = get_rlimit(crate::exec::RlimitResource::Nofile).1;
        assert_eq!(raise_nofile_limit().unwrap(), hard);
        assert_eq!(get_rlimit(crate::exec::RlimitResource::Nofile).0, hard);
    }

    #[test]
    fn signals_through_a_pidfd_and_reaps_the_status() {
        let child = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .unwrap();
        let pid = child.id();
        let pidfd = pidfd_open(pid).unwrap();
        assert!(crate::pipe::is_cloexec(&pidfd).unwrap());
        assert_eq!(reap(pid).unwrap(), None, "still running");
        pidfd_send_signal(&pidfd, libc::SIGKILL).unwrap();
        assert_eq!(
            wait_blocking(pid).unwrap(),
            ExitStatus::Signaled(libc::SIGKILL)
        );
        drop(child); // std's Child does not wait on drop
    }
}
