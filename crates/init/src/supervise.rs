//! The main loop: one poll over the signalfd and the manager's channel. It starts the
//! manager and restarts it with backoff, falls back to an emergency shell when the manager
//! is missing or keeps failing, turns signals into shutdown requests, and reaps every
//! child. It returns only when the manager has exited after a shutdown was requested.
//!
//! Once running it allocates nothing: every buffer is on the stack or was made at start.

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fd::{AsFd as _, OwnedFd};
use rustix::fs::{Access, access};
use rustix::io::{self, Errno};
use rustix::process::{Signal, WaitOptions};

use crate::Mode;
use crate::channel::{Channel, Requests};
use crate::log::{self, Why, say, shout, show};
use crate::shutdown::Action;
use crate::sys::{self, Exec, now_ms};

/// A manager that ran this long (ms) before it failed starts a fresh count of failures.
const STABLE: u64 = 30_000;
/// Failures in a row after which the emergency shell is started instead.
const MAX_FAILURES: u32 = 10;
const MAX_BACKOFF: u64 = 5000;
/// Before trying the manager again after the emergency shell exited (ms).
const AFTER_SHELL: u64 = 1000;
/// Size of one `struct signalfd_siginfo`; the signal number is its first field.
const SIGINFO: usize = 128;

fn later(ms: u64) -> u64 {
    now_ms().saturating_add(ms)
}

/// One exited child and its raw wait status, without waiting: Ok(None) when none has
/// exited yet, an error (ECHILD) when there is no child at all.
pub fn reap_one() -> io::Result<Option<(i32, i32)>> {
    loop {
        match rustix::process::wait(WaitOptions::NOHANG) {
            Err(Errno::INTR) => {}
            got => {
                return got.map(|c| c.map(|(pid, st)| (pid.as_raw_nonzero().get(), st.as_raw())));
            }
        }
    }
}

/// Polls `fds` up to `timeout` ms (None: for ever).
pub fn poll_ms(fds: &mut [PollFd<'_>], timeout: Option<u64>) -> io::Result<usize> {
    let t = timeout.map(|ms| Timespec {
        tv_sec: i64::try_from(ms / 1000).unwrap_or(i64::MAX),
        tv_nsec: i64::try_from(ms % 1000 * 1_000_000).unwrap_or(0),
    });
    poll(fds, t.as_ref())
}

/// Waits for any signal (SIGCHLD above all) up to `timeout` ms, and discards what came.
pub fn wait_for_signal(signals: &OwnedFd, timeout: u64) {
    let _ = poll_ms(&mut [PollFd::new(signals, PollFlags::IN)], Some(timeout));
    let mut buf = [0u8; SIGINFO * 8];
    while rustix::io::read(signals, &mut buf).is_ok_and(|n| n > 0) {}
}

/// The exit code a shell would report for a wait status: the code, or 128+signal.
pub fn status_code(status: i32) -> i32 {
    match status & 0x7f {
        0 => (status >> 8) & 0xff,
        sig => 128 + sig,
    }
}

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
    /// The manager's PID and when it started (ms).
    manager: Option<(i32, u64)>,
    /// The emergency shell, and whether the manager asked for it (it keeps running).
    shell: Option<(i32, bool)>,
    requests: Requests,
    failures: u32,
    /// When to start the manager (ms).
    next_start: Option<u64>,
    outcome: Option<Outcome>,
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
            next_start: Some(0),
            outcome: None,
        }
    }

    /// Runs until the system is to go down; hands back what the final sequence needs.
    pub fn run(mut self) -> (Outcome, OwnedFd, Channel) {
        loop {
            if let Some(outcome) = self.outcome {
                return (outcome, self.signals, self.channel);
            }
            let timeout = self.next_start.map(|t| t.saturating_sub(now_ms()));
            let (signalled, readable, writable) = self.wait(timeout);
            if readable {
                self.channel.receive(&mut self.requests);
                if core::mem::take(&mut self.requests.emergency) {
                    self.emergency(true);
                }
            }
            if writable {
                self.channel.blocked = false;
            }
            if signalled {
                self.read_signals();
            }
            if self.next_start.is_some_and(|t| t <= now_ms()) && self.outcome.is_none() {
                self.next_start = None;
                self.start_manager();
            }
            self.channel.flush();
        }
    }

    /// Polls; returns (a signal is pending, the channel is readable, it is writable).
    fn wait(&self, timeout: Option<u64>) -> (bool, bool, bool) {
        let sig = PollFd::new(&self.signals, PollFlags::IN);
        let Some(sock) = self.channel.socket() else {
            let mut fds = [sig];
            return (
                poll_ms(&mut fds, timeout).is_ok_and(|n| n > 0),
                false,
                false,
            );
        };
        let out = if self.channel.blocked {
            PollFlags::OUT
        } else {
            PollFlags::empty()
        };
        let mut fds = [sig, PollFd::from_borrowed_fd(sock, PollFlags::IN | out)];
        if let Err(e) = poll_ms(&mut fds, timeout) {
            if e != Errno::INTR {
                say!(log::WARNING, "poll: {}", Why(e));
            }
            return (false, false, false);
        }
        let [sig, chan] = fds.map(|f| f.revents());
        let input = PollFlags::IN | PollFlags::HUP | PollFlags::ERR;
        (
            !sig.is_empty(),
            chan.intersects(input),
            chan.contains(PollFlags::OUT),
        )
    }

    fn read_signals(&mut self) {
        let mut buf = [0u8; SIGINFO * 16];
        loop {
            let n = match rustix::io::read(&self.signals, &mut buf) {
                Ok(0) | Err(Errno::AGAIN) => return,
                Ok(n) => n,
                Err(Errno::INTR) => continue,
                Err(e) => return say!(log::WARNING, "signalfd: {}", Why(e)),
            };
            for info in buf.get(..n).unwrap_or_default().chunks_exact(SIGINFO) {
                let signo = info
                    .first_chunk::<4>()
                    .map_or(0, |b| i32::from_ne_bytes(*b));
                if let Some(sig) = Signal::from_named_raw(signo) {
                    self.signal(sig);
                }
            }
        }
    }

    fn signal(&mut self, sig: Signal) {
        use Signal as S;
        match sig {
            S::CHILD => self.reap(),
            S::TERM | S::INT | S::POWER if self.mode.container => self.shutdown(Action::Exit, sig),
            S::HUP | S::USR1 | S::USR2 | S::WINCH if self.mode.container => self.forward(sig),
            S::INT => self.shutdown(Action::Reboot, sig),
            S::TERM | S::POWER | S::USR2 => self.shutdown(Action::Poweroff, sig),
            S::USR1 => self.shutdown(Action::Halt, sig),
            S::HUP => self.forward(sig),
            _ => {}
        }
    }

    fn forward(&self, sig: Signal) {
        if let Some(pid) = self
            .manager
            .and_then(|(pid, _)| rustix::process::Pid::from_raw(pid))
        {
            let _ = rustix::process::kill_process(pid, sig);
        }
    }

    /// A shutdown asked for by a signal: the manager stops everything (SIGTERM) and exits,
    /// and then the final sequence runs. Without a manager it runs at once.
    fn shutdown(&mut self, action: Action, sig: Signal) {
        shout!("signal {}: {} requested", sig.as_raw(), action.name());
        self.requests.action = Some(action);
        match self.manager {
            Some(_) => self.forward(Signal::TERM),
            None => self.finish(0),
        }
    }

    fn finish(&mut self, status_code: i32) {
        let action = self.requests.action.unwrap_or(Action::Poweroff);
        let code = self.requests.exit_code.map_or(status_code, i32::from);
        self.outcome = Some(Outcome { action, code });
    }

    fn reap(&mut self) {
        while let Ok(Some((pid, status))) = reap_one() {
            match (self.manager, self.shell) {
                (Some((manager, started)), _) if manager == pid => {
                    self.manager_exited(status, started);
                }
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
                _ => self.channel.reaped(pid, status),
            }
        }
    }

    fn manager_exited(&mut self, status: i32, started: u64) {
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
        match status & 0x7f {
            0 => shout!("the manager exited with status {code}"),
            sig => shout!("the manager was killed by signal {sig}"),
        }
        if now_ms().saturating_sub(started) >= STABLE {
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        if self.failures > MAX_FAILURES {
            shout!("the manager failed {} times in a row", self.failures);
            return self.emergency(false);
        }
        // None after the first failure, then 100 ms doubling up to MAX_BACKOFF.
        let delay = match self.failures {
            0 | 1 => 0,
            n => (100u64 << (n - 2).min(16)).min(MAX_BACKOFF),
        };
        say!(log::INFO, "restarting the manager in {delay} ms");
        self.next_start = Some(later(delay));
    }

    fn start_manager(&mut self) {
        let path = self.manager_exec.path;
        if let Err(e) = access(path, Access::EXEC_OK) {
            shout!("cannot run the manager {}: {}", show(path), Why(e));
            return self.emergency(false);
        }
        let started = self
            .channel
            .connect()
            .map_err(|e| ("make the manager's channel", e));
        let started = started.and_then(|theirs| {
            sys::spawn(&self.manager_exec, Some(theirs.as_fd()), false)
                .map_err(|e| ("start the manager", e))
        });
        match started {
            Ok(pid) => {
                say!(log::INFO, "started the manager {} as {pid}", show(path));
                self.manager = Some((pid, now_ms()));
            }
            Err((what, e)) => {
                shout!("cannot {what}: {}", Why(e));
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
        let shell = self.shell_exec.path;
        let console = self.mode.pid1 && !self.mode.container;
        let started = access(shell, Access::EXEC_OK)
            .and_then(|()| sys::spawn(&self.shell_exec, None, console));
        match started {
            Ok(pid) => {
                let then = if for_manager {
                    "asked by the manager"
                } else {
                    "exit it to try the manager again"
                };
                shout!("starting the emergency shell {}; {then}", show(shell));
                self.shell = Some((pid, for_manager));
            }
            Err(e) if for_manager => {
                shout!("no emergency shell {} ({})", show(shell), Why(e));
                self.channel.emergency_over = true;
            }
            Err(e) => {
                shout!(
                    "no emergency shell {} ({}); trying the manager again in 5 s",
                    show(shell),
                    Why(e)
                );
                self.failures = 0;
                self.next_start = Some(later(MAX_BACKOFF));
            }
        }
    }
}
