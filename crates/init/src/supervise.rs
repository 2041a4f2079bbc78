//! The main loop: one poll over the signalfd and the manager's channel. It starts the
//! manager and restarts it with backoff, falls back to an emergency shell when the manager
//! is missing or keeps failing, turns signals into shutdown requests, and reaps every
//! child. It returns only when the manager has exited after a shutdown was requested.
//!
//! Once running it allocates nothing: every buffer is on the stack or was made at start.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fs::Access;
use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitOptions, WaitStatus};

use crate::Mode;
use crate::channel::{Channel, Requests};
use crate::log::{self, Oops, say, shout};
use crate::shutdown::Action;
use crate::sys::{self, Exec, Setup};

/// A manager that ran this long before it failed starts a fresh count of failures.
const STABLE: Duration = Duration::from_secs(30);
/// Failures in a row after which the emergency shell is started instead.
const MAX_FAILURES: u32 = 10;
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Before trying the manager again after the emergency shell exited.
const AFTER_SHELL: Duration = Duration::from_secs(1);

/// How the loop ended: what to do, and the exit code for a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub action: Action,
    pub code: i32,
}

#[derive(Debug)]
pub struct Supervisor {
    mode: Mode,
    signals: OwnedFd,
    manager_exec: Exec,
    shell_exec: Exec,
    channel: Channel,
    manager: Option<(Pid, Instant)>,
    /// The emergency shell, and whether the manager asked for it (it keeps running).
    shell: Option<(Pid, bool)>,
    requests: Requests,
    failures: u32,
    next_start: Option<Instant>,
    outcome: Option<Outcome>,
}

/// The delay before the next start after `failures` failures in a row: none after the
/// first, then 100 ms doubling up to MAX_BACKOFF.
pub fn backoff(failures: u32) -> Duration {
    match failures {
        0 | 1 => Duration::ZERO,
        n => Duration::from_millis(100u64.saturating_mul(1u64 << n.saturating_sub(2).min(16)))
            .min(MAX_BACKOFF),
    }
}

pub fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(d.as_secs()).map_or(i64::MAX, |s| s),
        tv_nsec: d.subsec_nanos().into(),
    }
}

fn later(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d).map_or(now, |t| t)
}

/// The exit code a shell would report for `status`: the code, or 128+signal.
fn status_code(status: WaitStatus) -> i32 {
    match (status.exit_status(), status.terminating_signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => sig.saturating_add(128),
        (None, None) => 1,
    }
}

impl Supervisor {
    pub fn new(mode: Mode, signals: OwnedFd, manager_exec: Exec, shell_exec: Exec) -> Supervisor {
        Supervisor {
            mode,
            signals,
            manager_exec,
            shell_exec,
            channel: Channel::new(),
            manager: None,
            shell: None,
            requests: Requests::default(),
            failures: 0,
            next_start: Some(Instant::now()),
            outcome: None,
        }
    }

    /// Runs until the system is to go down; hands back what the final sequence needs.
    pub fn run(mut self) -> (Outcome, OwnedFd, Channel) {
        loop {
            if let Some(outcome) = self.outcome {
                return (outcome, self.signals, self.channel);
            }
            let timeout = self
                .next_start
                .map(|t| t.saturating_duration_since(Instant::now()));
            let (signalled, readable, writable) = self.wait(timeout);
            if readable {
                self.channel.receive(&mut self.requests);
                if std::mem::take(&mut self.requests.emergency) {
                    self.emergency(true);
                }
            }
            if writable {
                self.channel.writable();
            }
            if signalled {
                self.read_signals();
            }
            if self.next_start.is_some_and(|t| t <= Instant::now()) && self.outcome.is_none() {
                self.next_start = None;
                self.start_manager();
            }
            self.channel.flush();
        }
    }

    /// Polls; returns (a signal is pending, the channel is readable, it is writable).
    fn wait(&self, timeout: Option<Duration>) -> (bool, bool, bool) {
        let mut channel_flags = PollFlags::IN;
        if self.channel.wants_writable() {
            channel_flags |= PollFlags::OUT;
        }
        let mut fds = [
            PollFd::new(&self.signals, PollFlags::IN),
            PollFd::new(&self.signals, PollFlags::empty()),
        ];
        let mut n = 1;
        if let (Some(sock), Some(slot)) = (self.channel.socket(), fds.get_mut(1)) {
            *slot = PollFd::new(sock, channel_flags);
            n = 2;
        }
        let timeout = timeout.map(timespec);
        let fds = fds.get_mut(..n).map_or(&mut [][..], |f| f);
        if let Err(e) = rustix::event::poll(fds, timeout.as_ref()) {
            if e != Errno::INTR {
                say!(log::WARNING, "poll: {}", Oops(e));
            }
            return (false, false, false);
        }
        let revents = |i: usize| fds.get(i).map_or(PollFlags::empty(), PollFd::revents);
        let sig = revents(0);
        let chan = revents(1);
        (
            !sig.is_empty(),
            chan.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR),
            chan.contains(PollFlags::OUT),
        )
    }

    fn read_signals(&mut self) {
        let mut buf = [0u8; sys::SIGINFO_SIZE * 16];
        loop {
            let n = match rustix::io::read(&self.signals, &mut buf) {
                Ok(0) | Err(Errno::AGAIN) => return,
                Ok(n) => n,
                Err(Errno::INTR) => continue,
                Err(e) => {
                    say!(log::WARNING, "signalfd: {}", Oops(e));
                    return;
                }
            };
            for info in buf
                .get(..n)
                .map_or(&[][..], |b| b)
                .chunks_exact(sys::SIGINFO_SIZE)
            {
                let signo = info
                    .first_chunk::<4>()
                    .map_or(0, |b| u32::from_ne_bytes(*b));
                self.signal(i32::try_from(signo).map_or(0, |s| s));
            }
        }
    }

    fn signal(&mut self, sig: i32) {
        use libc::{SIGCHLD, SIGHUP, SIGINT, SIGPWR, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH};
        let container = self.mode.container;
        match sig {
            SIGCHLD => self.reap(),
            SIGTERM | SIGINT | SIGPWR if container => self.shutdown(Action::Exit, sig),
            SIGHUP | SIGUSR1 | SIGUSR2 | SIGWINCH if container => self.forward(sig),
            SIGINT => self.shutdown(Action::Reboot, sig),
            SIGTERM | SIGPWR | SIGUSR2 => self.shutdown(Action::Poweroff, sig),
            SIGUSR1 => self.shutdown(Action::Halt, sig),
            SIGHUP => self.forward(sig),
            _ => {}
        }
    }

    fn forward(&self, sig: i32) {
        if let (Some((pid, _)), Some(sig)) = (self.manager, Signal::from_named_raw(sig)) {
            let _ = rustix::process::kill_process(pid, sig);
        }
    }

    /// A shutdown asked for by a signal: the manager stops everything (SIGTERM) and exits,
    /// and then the final sequence runs. Without a manager it runs at once.
    fn shutdown(&mut self, action: Action, sig: i32) {
        shout!("signal {sig}: {action} requested");
        self.requests.action = Some(action);
        match self.manager {
            Some((pid, _)) => {
                let _ = rustix::process::kill_process(pid, Signal::TERM);
            }
            None => self.finish(0),
        }
    }

    fn finish(&mut self, status_code: i32) {
        let action = self.requests.action.map_or(Action::Poweroff, |a| a);
        let code = self.requests.exit_code.map_or(status_code, i32::from);
        self.outcome = Some(Outcome { action, code });
    }

    fn reap(&mut self) {
        loop {
            match rustix::process::wait(WaitOptions::NOHANG) {
                Ok(Some((pid, status))) => self.reaped(pid, status),
                Err(Errno::INTR) => {}
                Ok(None) | Err(_) => return,
            }
        }
    }

    fn reaped(&mut self, pid: Pid, status: WaitStatus) {
        match (self.manager, self.shell) {
            (Some((manager, started)), _) if manager == pid => self.manager_exited(status, started),
            (_, Some((shell, for_manager))) if shell == pid => {
                self.shell = None;
                if for_manager {
                    shout!("the emergency shell exited");
                    self.channel.emergency_over = true;
                } else {
                    shout!("the emergency shell exited; trying the manager again");
                    self.failures = 0;
                    self.next_start = Some(later(AFTER_SHELL));
                }
            }
            _ => self
                .channel
                .reaped(pid.as_raw_nonzero().get(), status.as_raw()),
        }
    }

    fn manager_exited(&mut self, status: WaitStatus, started: Instant) {
        self.manager = None;
        // Its last words (`exit 7`, `shutdown reboot`) may still be in the socket.
        self.channel.receive(&mut self.requests);
        self.channel.disconnect();
        let code = status_code(status);
        if self.requests.action.is_some() {
            say!(
                log::INFO,
                "the manager exited ({code}) after a shutdown request"
            );
            return self.finish(code);
        }
        match status.terminating_signal() {
            Some(sig) => shout!("the manager was killed by signal {sig}"),
            None => shout!("the manager exited with status {code}"),
        }
        if started.elapsed() >= STABLE {
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        if self.failures > MAX_FAILURES {
            shout!("the manager failed {} times in a row", self.failures);
            return self.emergency(false);
        }
        let delay = backoff(self.failures);
        say!(
            log::INFO,
            "restarting the manager in {} ms",
            delay.as_millis()
        );
        self.next_start = Some(later(delay));
    }

    fn start_manager(&mut self) {
        let path = self.manager_exec.path();
        if let Err(e) = rustix::fs::access(path, Access::EXEC_OK) {
            shout!("cannot run the manager {:?}: {}", path, Oops(e));
            return self.emergency(false);
        }
        let theirs = match self.channel.connect() {
            Ok(theirs) => theirs,
            Err(e) => {
                shout!("cannot make the manager's channel: {}", Oops(e));
                self.next_start = Some(later(MAX_BACKOFF));
                return;
            }
        };
        match sys::spawn(
            &self.manager_exec,
            Setup::Manager {
                channel: theirs.as_fd(),
            },
        ) {
            Ok(pid) => {
                say!(
                    log::INFO,
                    "started the manager {:?} as {}",
                    path,
                    pid.as_raw_nonzero()
                );
                self.manager = Some((pid, Instant::now()));
            }
            Err(e) => {
                shout!("cannot start the manager: {}", Oops::from(e));
                self.channel.disconnect();
                self.next_start = Some(later(MAX_BACKOFF));
            }
        }
    }

    /// Starts the emergency shell. When the manager asked for it (`for_manager`), the
    /// manager keeps running and hears when it exits; otherwise the manager is tried again
    /// when it exits, or after a pause when there is no shell.
    fn emergency(&mut self, for_manager: bool) {
        if let Some((_, asked)) = &mut self.shell {
            // Already running: the manager's request is void; our own need takes it over.
            *asked &= for_manager;
            if !for_manager {
                self.failures = 0;
                self.next_start = None;
            }
            return;
        }
        let shell = self.shell_exec.path();
        let console = self.mode.pid1 && !self.mode.container;
        let started = match rustix::fs::access(shell, Access::EXEC_OK) {
            Ok(()) => sys::spawn(&self.shell_exec, Setup::Shell { console }).map_err(Oops::from),
            Err(e) => Err(Oops(e)),
        };
        match started {
            Ok(pid) => {
                let then = if for_manager {
                    "asked by the manager"
                } else {
                    "exit it to try the manager again"
                };
                shout!("starting the emergency shell {:?}; {then}", shell);
                self.shell = Some((pid, for_manager));
            }
            Err(e) if for_manager => {
                shout!("no emergency shell {:?} ({e})", shell);
                self.channel.emergency_over = true;
            }
            Err(e) => {
                shout!(
                    "no emergency shell {:?} ({e}); trying the manager again in 5 s",
                    shell
                );
                self.failures = 0;
                self.next_start = Some(later(MAX_BACKOFF));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let ms: Vec<u128> = (1..=10).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(ms, [0, 100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
