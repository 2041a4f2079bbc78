//! The main loop: one poll over the signalfd and the manager's channel. It starts the
//! manager and restarts it with backoff, falls back to an emergency shell when the manager
//! is missing or keeps failing, turns signals into shutdown requests, and reaps every
//! child. It returns only when the manager has exited after a shutdown was requested.
//!
//! Once running it allocates nothing: every buffer is on the stack or was made at start.

use crate::Mode;
use crate::channel::{Channel, Requests};
use crate::log::{self, say, shout};
use crate::shutdown::Action;
use crate::sys::{self, EAGAIN, EINTR, Exec, Fd, PollFd, Setup};

/// A manager that ran this long (ms) before it failed starts a fresh count of failures.
const STABLE: u64 = 30_000;
/// Failures in a row after which the emergency shell is started instead.
const MAX_FAILURES: u32 = 10;
const MAX_BACKOFF: u64 = 5000;
/// Before trying the manager again after the emergency shell exited (ms).
const AFTER_SHELL: u64 = 1000;

/// How the loop ended: what to do, and the exit code for a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub action: Action,
    pub code: i32,
}

#[derive(Debug)]
pub struct Supervisor {
    mode: Mode,
    signals: Fd,
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

/// The delay (ms) before the next start after `failures` failures in a row: none after
/// the first, then 100 ms doubling up to MAX_BACKOFF.
fn backoff(failures: u32) -> u64 {
    match failures {
        0 | 1 => 0,
        n => (100u64 << (n - 2).min(16)).min(MAX_BACKOFF),
    }
}

fn later(ms: u64) -> u64 {
    sys::now_ms().saturating_add(ms)
}

/// The exit code a shell would report for a wait status: the code, or 128+signal.
pub fn status_code(status: i32) -> i32 {
    match status & 0x7f {
        0 => (status >> 8) & 0xff,
        sig => 128 + sig,
    }
}

impl Supervisor {
    pub fn new(mode: Mode, signals: Fd, manager_exec: Exec, shell_exec: Exec) -> Supervisor {
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
    pub fn run(mut self) -> (Outcome, Fd, Channel) {
        loop {
            if let Some(outcome) = self.outcome {
                return (outcome, self.signals, self.channel);
            }
            let timeout = self.next_start.map(|t| t.saturating_sub(sys::now_ms()));
            let (signalled, readable, writable) = self.wait(timeout);
            if readable {
                self.channel.receive(&mut self.requests);
                if core::mem::take(&mut self.requests.emergency) {
                    self.emergency(true);
                }
            }
            if writable {
                self.channel.writable();
            }
            if signalled {
                self.read_signals();
            }
            if self.next_start.is_some_and(|t| t <= sys::now_ms()) && self.outcome.is_none() {
                self.next_start = None;
                self.start_manager();
            }
            self.channel.flush();
        }
    }

    /// Polls; returns (a signal is pending, the channel is readable, it is writable).
    fn wait(&self, timeout: Option<u64>) -> (bool, bool, bool) {
        let out = if self.channel.wants_writable() {
            sys::POLLOUT
        } else {
            0
        };
        let mut fds = [
            PollFd {
                fd: self.signals.raw(),
                events: sys::POLLIN,
                revents: 0,
            },
            PollFd {
                fd: self.channel.socket().unwrap_or(-1),
                events: sys::POLLIN | out,
                revents: 0,
            },
        ];
        let timeout = timeout.map_or(-1, |t| i64::try_from(t).map_or(i64::MAX, |t| t));
        if let Err(e) = sys::poll(&mut fds, timeout) {
            if e != EINTR {
                say!(log::WARNING, "poll: ", e);
            }
            return (false, false, false);
        }
        let [sig, chan] = fds.map(|f| f.revents);
        (
            sig != 0,
            chan & (sys::POLLIN | sys::POLLHUP | sys::POLLERR) != 0,
            chan & sys::POLLOUT != 0,
        )
    }

    fn read_signals(&mut self) {
        let mut buf = [0u8; sys::SIGINFO_SIZE * 16];
        loop {
            let n = match sys::read(self.signals.raw(), &mut buf) {
                Ok(0) | Err(EAGAIN) => return,
                Ok(n) => n,
                Err(EINTR) => continue,
                Err(e) => {
                    say!(log::WARNING, "signalfd: ", e);
                    return;
                }
            };
            let infos = buf.get(..n).map_or(&[][..], |b| b);
            for info in infos.chunks_exact(sys::SIGINFO_SIZE) {
                let signo = info
                    .first_chunk::<4>()
                    .map_or(0, |b| i32::from_ne_bytes(*b));
                self.signal(signo);
            }
        }
    }

    fn signal(&mut self, sig: i32) {
        use sys::{SIGCHLD, SIGHUP, SIGINT, SIGPWR, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH};
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
        if let Some((pid, _)) = self.manager {
            sys::kill(pid, sig);
        }
    }

    /// A shutdown asked for by a signal: the manager stops everything (SIGTERM) and exits,
    /// and then the final sequence runs. Without a manager it runs at once.
    fn shutdown(&mut self, action: Action, sig: i32) {
        shout!("signal ", sig, ": ", action.name(), " requested");
        self.requests.action = Some(action);
        match self.manager {
            Some((pid, _)) => sys::kill(pid, sys::SIGTERM),
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
            match sys::reap() {
                Ok(Some((pid, status))) => self.reaped(pid, status),
                Err(EINTR) => {}
                Ok(None) | Err(_) => return,
            }
        }
    }

    fn reaped(&mut self, pid: i32, status: i32) {
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
            _ => self.channel.reaped(pid, status),
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
                "the manager exited (",
                code,
                ") after a shutdown request"
            );
            return self.finish(code);
        }
        match status & 0x7f {
            0 => shout!("the manager exited with status ", code),
            sig => shout!("the manager was killed by signal ", sig),
        }
        if sys::now_ms().saturating_sub(started) >= STABLE {
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        if self.failures > MAX_FAILURES {
            shout!(
                "the manager failed ",
                self.failures as i32,
                " times in a row"
            );
            return self.emergency(false);
        }
        let delay = backoff(self.failures);
        say!(log::INFO, "restarting the manager in ", delay, " ms");
        self.next_start = Some(later(delay));
    }

    fn start_manager(&mut self) {
        let path = self.manager_exec.path;
        if let Err(e) = sys::executable(path) {
            shout!("cannot run the manager ", path, ": ", e);
            return self.emergency(false);
        }
        let theirs = match self.channel.connect() {
            Ok(theirs) => theirs,
            Err(e) => {
                shout!("cannot make the manager's channel: ", e);
                self.next_start = Some(later(MAX_BACKOFF));
                return;
            }
        };
        let setup = Setup::Manager {
            channel: theirs.raw(),
        };
        match sys::spawn(&self.manager_exec, setup) {
            Ok(pid) => {
                say!(log::INFO, "started the manager ", path, " as ", pid);
                self.manager = Some((pid, sys::now_ms()));
            }
            Err(e) => {
                shout!("cannot start the manager: ", e);
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
        let started = sys::executable(shell)
            .and_then(|_| sys::spawn(&self.shell_exec, Setup::Shell { console }));
        match started {
            Ok(pid) => {
                let then = if for_manager {
                    "asked by the manager"
                } else {
                    "exit it to try the manager again"
                };
                shout!("starting the emergency shell ", shell, "; ", then);
                self.shell = Some((pid, for_manager));
            }
            Err(e) if for_manager => {
                shout!("no emergency shell ", shell, " (", e, ")");
                self.channel.emergency_over = true;
            }
            Err(e) => {
                shout!(
                    "no emergency shell ",
                    shell,
                    " (",
                    e,
                    "); trying the manager again in 5 s"
                );
                self.failures = 0;
                self.next_start = Some(later(MAX_BACKOFF));
            }
        }
    }
}
