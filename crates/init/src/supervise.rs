//! The main loop: one poll over the signalfd and the manager's channel. It starts the
//! manager and restarts it with backoff, falls back to an emergency shell when the manager
//! is missing or keeps failing, turns signals into shutdown requests and reaps every
//! child. It returns when the manager has exited after a shutdown request.

use core::mem::MaybeUninit;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fd::{AsFd as _, OwnedFd};
use rustix::fs::{Access, access};
use rustix::io::{self, Errno};
use rustix::process::{Pid, Signal, WaitOptions, kill_process};

use crate::Where;
use crate::channel::{Channel, Requests};
use crate::end::Action;
use crate::log::{self, Why, say, shout, show};
use crate::sys::{self, Exec, now_ms};

/// A manager that ran this long (ms) before it failed starts a fresh count of failures.
const STABLE: u64 = 30_000;
/// Failures in a row after which the emergency shell is started instead.
const MAX_FAILURES: u32 = 10;
const MAX_BACKOFF: u64 = 5000;
/// Managers killed in a row during a shutdown after which the final sequence runs: a
/// stop that crashes the manager each time must not hold the end up (backoff included,
/// well under docker's 10 s).
const SHUTDOWN_TRIES: u32 = 3;
/// The pause before the manager is tried again after the emergency shell exited, and the
/// least time between the manager's request for the shell and `emergency-over` (ms).
const AFTER_SHELL: u64 = 1000;
/// Size of a `struct signalfd_siginfo`; the signal's number is its first field.
const SIGINFO: usize = 128;

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
        tv_sec: (ms / 1000) as i64,
        tv_nsec: (ms % 1000 * 1_000_000) as i64,
    });
    poll(fds, t.as_ref())
}

/// Waits for a signal (SIGCHLD above all) up to `timeout` ms, and discards what came.
pub fn wait_for_signal(signals: &OwnedFd, timeout: u64) {
    let _ = poll_ms(&mut [PollFd::new(signals, PollFlags::IN)], Some(timeout));
    let mut buf = [MaybeUninit::uninit(); SIGINFO * 8];
    while rustix::io::read(signals, &mut buf).is_ok_and(|(got, _)| !got.is_empty()) {}
}

/// The exit code a shell would report for a wait status: the code, or 128+signal.
pub fn status_code(status: i32) -> i32 {
    match status & 0x7f {
        0 => (status >> 8) & 0xff,
        sig => 128 + sig,
    }
}

#[derive(Debug)]
pub struct Supervisor<'a> {
    at: Where,
    signals: &'a OwnedFd,
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
    /// When the manager last asked for the shell, and when to tell it that the shell is
    /// over: not sooner than AFTER_SHELL after the request, so that a manager that asks
    /// again at once (its target fails again) cannot make a loop without a pause.
    asked_at: u64,
    over_at: Option<u64>,
    /// Once the system is to go down: the exit code for a container.
    done: Option<i32>,
}

impl<'a> Supervisor<'a> {
    pub fn new(at: Where, signals: &'a OwnedFd, manager_exec: Exec, shell_exec: Exec) -> Self {
        Supervisor {
            at,
            signals,
            manager_exec,
            shell_exec,
            channel: Channel::new(),
            manager: None,
            shell: None,
            requests: Requests::default(),
            failures: 0,
            next_start: Some(0),
            asked_at: 0,
            over_at: None,
            done: None,
        }
    }

    /// Runs until the system is to go down: then what to do, the exit code for a
    /// container, and the channel (its fd store is closed at the very end).
    pub fn run(mut self) -> (Action, i32, Channel) {
        loop {
            if let Some(code) = self.done {
                let action = self.requests.action.unwrap_or(Action::Poweroff);
                return (
                    action,
                    self.requests.exit_code.map_or(code, i32::from),
                    self.channel,
                );
            }
            let sock = self.channel.socket();
            let events = match sock {
                Some(_) if self.channel.blocked => PollFlags::IN | PollFlags::OUT,
                Some(_) => PollFlags::IN,
                None => PollFlags::empty(),
            };
            let sock = PollFd::from_borrowed_fd(sock.unwrap_or(self.signals.as_fd()), events);
            let mut fds = [PollFd::new(self.signals, PollFlags::IN), sock];
            let wake = [self.next_start, self.over_at, self.channel.retry_at];
            let wake = wake.into_iter().flatten().min();
            let timeout = wake.map(|t| t.saturating_sub(now_ms()));
            if let Err(e) = poll_ms(&mut fds, timeout)
                && e != Errno::INTR
            {
                say!(log::WARNING, "poll: {}", Why(e));
            }
            let [signalled, chan] = fds.map(|f| f.revents());
            // At most 64 a turn: a manager that sends without pause must not keep
            // PID 1 from reaping and from its signals (the rest is read next turn).
            if chan.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR) {
                self.channel.receive(&mut self.requests, 64);
            }
            self.channel.blocked &= !chan.contains(PollFlags::OUT);
            if !signalled.is_empty() {
                self.read_signals();
            }
            // Also a request read from a manager that has just exited: its shell runs
            // for the next manager, which hears `emergency-over`.
            if core::mem::take(&mut self.requests.emergency) && self.done.is_none() {
                self.emergency(true);
            }
            if self.over_at.is_some_and(|t| t <= now_ms()) {
                (self.over_at, self.channel.emergency_over) = (None, true);
            }
            if self.next_start.is_some_and(|t| t <= now_ms()) && self.done.is_none() {
                self.next_start = None;
                self.start_manager();
            }
            self.channel.flush();
        }
    }

    fn read_signals(&mut self) {
        // Not zeroed: the kernel fills what is read.
        let mut buf = [MaybeUninit::uninit(); SIGINFO * 16];
        loop {
            let got = match rustix::io::read(self.signals, &mut buf) {
                Ok(([], _)) | Err(Errno::AGAIN) => return,
                Ok((got, _)) => got,
                Err(Errno::INTR) => continue,
                Err(e) => return say!(log::WARNING, "signalfd: {}", Why(e)),
            };
            for info in got.chunks_exact(SIGINFO) {
                let signo = info.first_chunk().map_or(0, |b| i32::from_ne_bytes(*b));
                self.signal(signo);
            }
        }
    }

    fn signal(&mut self, signo: i32) {
        use Signal as S;
        let container = self.at.container;
        // systemd's SIGRTMIN+3 to +6 (as glibc numbers them: STOPSIGNAL of systemd images).
        let rt = [
            Action::Halt,
            Action::Poweroff,
            Action::Reboot,
            Action::Kexec,
        ];
        match (Signal::from_named_raw(signo), rt.get((signo - 37) as usize)) {
            (Some(S::CHILD), _) => self.reap(),
            (Some(S::TERM | S::INT | S::POWER), _) | (_, Some(_)) if container => {
                self.shutdown(Action::Exit, signo)
            }
            (Some(sig @ (S::HUP | S::USR1 | S::USR2 | S::WINCH | S::QUIT)), _) if container => {
                self.forward(sig)
            }
            (Some(S::INT), _) => self.shutdown(Action::Reboot, signo),
            (Some(S::TERM | S::POWER | S::USR2), _) => self.shutdown(Action::Poweroff, signo),
            (Some(S::USR1), _) => self.shutdown(Action::Halt, signo),
            (Some(S::HUP), _) => self.forward(S::HUP),
            (_, Some(&action)) => self.shutdown(action, signo),
            // A closed stderr raises SIGPIPE at each message: saying so would loop.
            // SIGCONT comes after every stop and with `timeout`'s, `kill`'s: noise.
            (Some(S::PIPE | S::CONT), _) => {}
            _ => say!(log::INFO, "signal {signo} ignored"),
        }
    }

    fn forward(&self, sig: Signal) {
        if let Some(pid) = self.manager.and_then(|(pid, _)| Pid::from_raw(pid)) {
            let _ = kill_process(pid, sig);
        }
    }

    /// A shutdown asked for by a signal: the manager stops everything (SIGTERM) and exits,
    /// then the final sequence runs; at once when no manager runs nor is to be started.
    fn shutdown(&mut self, action: Action, signo: i32) {
        shout!("signal {signo}: {} requested", action.name());
        self.requests.action = Some(action);
        match self.manager {
            Some(_) => {
                // The words first: the manager reads them when the signal comes.
                self.channel.stop = Some(action);
                self.channel.flush();
                self.forward(Signal::TERM);
            }
            // Between a manager's failure and the next start (its backoff):
            // the next one, started now, stops every service in order, as
            // after a manager killed during a shutdown. Going down at once
            // left the services to the final SIGTERM, and a container exited
            // 0 whatever had made its manager fail.
            None if self.next_start.is_some() => {
                self.channel.stop = Some(action);
                self.next_start = Some(0);
            }
            None => self.done = Some(0),
        }
    }

    fn reap(&mut self) {
        while let Ok(Some((pid, status))) = reap_one() {
            match (self.manager, self.shell) {
                (Some((manager, started)), _) if manager == pid => {
                    self.manager_exited(status, started)
                }
                (_, Some((shell, true))) if shell == pid => {
                    shout!("the emergency shell exited");
                    self.shell = None;
                    self.over_at = Some(self.asked_at + AFTER_SHELL);
                }
                (_, Some((shell, false))) if shell == pid => {
                    shout!("the emergency shell exited; trying the manager again");
                    (self.shell, self.failures, self.next_start) =
                        (None, 0, Some(now_ms() + AFTER_SHELL));
                }
                _ => self.channel.reaped(pid, status),
            }
        }
    }

    fn manager_exited(&mut self, status: i32, started: u64) {
        self.manager = None;
        // Its last words (`exit 7`, `shutdown reboot`, descriptors to keep) may
        // still be in the socket: all of them, before it goes.
        self.channel.receive(&mut self.requests, usize::MAX);
        self.channel.disconnect();
        let code = status_code(status);
        if now_ms().saturating_sub(started) >= STABLE {
            self.failures = 0;
        }
        // Killed during the shutdown (a crash, the OOM killer), the manager is
        // started again, told to stop again: the next one goes on with the
        // ordered stop from the state it finds, instead of the final sequence's
        // SIGTERM to everything at once.
        let killed = status & 0x7f != 0 && self.failures < SHUTDOWN_TRIES;
        match self.requests.action {
            Some(action) if killed => self.channel.stop = Some(action),
            Some(_) => {
                say!(
                    log::INFO,
                    "the manager exited ({code}) after a shutdown request"
                );
                self.done = Some(code);
                return;
            }
            None => {}
        }
        match status & 0x7f {
            0 => shout!("the manager exited with status {code}"),
            sig => shout!("the manager was killed by signal {sig}"),
        }
        self.failures += 1;
        if self.failures > MAX_FAILURES {
            shout!("the manager failed {} times in a row", self.failures);
            return self.give_up(code);
        }
        if status == 2 << 8 {
            shout!("2 is a usage error: the same arguments would fail again");
            return self.give_up(code);
        }
        // None after the first failure, then 100 ms doubling up to MAX_BACKOFF.
        let delay = match self.failures {
            1 => 0,
            n => (100u64 << (n - 2)).min(MAX_BACKOFF),
        };
        say!(log::INFO, "restarting the manager in {delay} ms");
        self.next_start = Some(now_ms() + delay);
    }

    fn start_manager(&mut self) {
        let path = self.manager_exec.path;
        if let Err(e) = access(path, Access::EXEC_OK) {
            shout!("cannot run the manager {}: {}", show(path), Why(e));
            // As a shell's: 126 for a file there that cannot be run.
            return self.give_up(if e == Errno::ACCESS { 126 } else { 127 });
        }
        let started = self.channel.connect();
        match started.and_then(|theirs| sys::spawn(&self.manager_exec, Some(theirs.as_fd()), false))
        {
            Ok(pid) => {
                say!(log::INFO, "started the manager {} as {pid}", show(path));
                self.manager = Some((pid, now_ms()));
            }
            Err(e) => {
                shout!("cannot start the manager: {}", Why(e));
                self.channel.disconnect();
                self.next_start = Some(now_ms() + MAX_BACKOFF);
                // Going down, the final sequence rather than a wait for memory.
                if self.requests.action.is_some() {
                    self.give_up(1);
                }
            }
        }
    }

    /// No manager can run: the emergency shell on a machine; a container
    /// exits with `code` (its runtime shows it, and may restart it), where
    /// a shell on a stdin of /dev/null would end at once, for ever.
    fn give_up(&mut self, code: i32) {
        // Nor on a machine that is going down: the final sequence, not a shell.
        if self.at.container || self.requests.action.is_some() {
            let end = match self.at.container {
                true => "the container exits",
                false => "the system goes down",
            };
            shout!("no manager can run: {end} ({code})");
            self.done = Some(code);
        } else {
            self.emergency(false);
        }
    }

    /// Starts the emergency shell. When the manager asked for it (`for_manager`), the
    /// manager keeps running and hears when it exits; otherwise the manager is tried again
    /// when it exits, or after a pause when there is no shell.
    fn emergency(&mut self, for_manager: bool) {
        if for_manager {
            self.asked_at = now_ms();
        }
        if let Some((_, asked)) = &mut self.shell {
            // Already running: the manager's request is void; our own need takes it over.
            *asked &= for_manager;
            if !for_manager {
                (self.failures, self.next_start) = (0, None);
            }
            return;
        }
        let path = self.shell_exec.path;
        let console = self.at.boot();
        match access(path, Access::EXEC_OK)
            .and_then(|()| sys::spawn(&self.shell_exec, None, console))
        {
            Ok(pid) => {
                let then = if for_manager {
                    "asked by the manager"
                } else {
                    "exit it to try the manager again"
                };
                shout!("starting the emergency shell {}; {then}", show(path));
                self.shell = Some((pid, for_manager));
            }
            Err(e) if for_manager => {
                shout!("no emergency shell {} ({})", show(path), Why(e));
                self.over_at = Some(self.asked_at + AFTER_SHELL);
            }
            Err(e) => {
                shout!(
                    "no emergency shell {} ({}); trying the manager again in 5 s",
                    show(path),
                    Why(e)
                );
                (self.failures, self.next_start) = (0, Some(now_ms() + MAX_BACKOFF));
            }
        }
    }
}
