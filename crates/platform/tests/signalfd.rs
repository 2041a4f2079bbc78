//! SIGCHLD through a signalfd, then reaping, as `vigild`'s loop does it.
//!
//! Runs without the test harness: a blocked signal is only reliably routed to the
//! signalfd when no other thread has it unblocked, and the harness runs tests on
//! threads. Here `main` is the only thread, like the manager.

use std::ffi::CString;
use std::time::Duration;

use vigil_platform::exec::{ExecStatus, PreparedCommand};
use vigil_platform::process::{ExitStatus, reap_any};
use vigil_platform::{Epoll, Events, Interest, SignalFd};

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn sh(script: &str) -> PreparedCommand {
    PreparedCommand::new(
        cstr("/bin/sh"),
        vec![cstr("sh"), cstr("-c"), cstr(script)],
        vec![],
    )
}

const SIGNALS: u64 = 1;

/// Waits for the next SIGCHLD and reaps everything that exited.
fn next_exits(ep: &Epoll, sfd: &SignalFd) -> Vec<(u32, ExitStatus)> {
    let mut events = Events::with_capacity(4);
    loop {
        ep.wait(&mut events, Some(Duration::from_secs(30))).unwrap();
        assert!(!events.is_empty(), "no SIGCHLD within 30 s");
        let mut got_chld = false;
        while let Some(info) = sfd.read().unwrap() {
            assert_eq!(info.signo, libc::SIGCHLD);
            got_chld = true;
        }
        if !got_chld {
            continue;
        }
        let mut exits = Vec::new();
        while let Some(exit) = reap_any().unwrap() {
            exits.push(exit);
        }
        if !exits.is_empty() {
            return exits;
        }
    }
}

fn main() {
    let sfd = SignalFd::new(&[libc::SIGCHLD, libc::SIGTERM]).unwrap();
    let ep = Epoll::new().unwrap();
    ep.add(&sfd, SIGNALS, Interest::READABLE).unwrap();
    assert_eq!(reap_any().unwrap(), None, "no children yet: ECHILD is None");

    // A child that exits 7: one SIGCHLD, reaped with its status. (It is in its own
    // process group: reaping must not be limited to ours.)
    let child = vigil_platform::spawn(&sh("exit 7")).unwrap();

    let exits = next_exits(&ep, &sfd);
    assert_eq!(exits, [(child.pid, ExitStatus::Exited(7))]);
    assert_eq!(child.exec, ExecStatus::Succeeded);

    // A blocked SIGTERM sent to ourselves arrives through the signalfd, with our pid.
    vigil_platform::kill(std::process::id(), libc::SIGTERM).unwrap();
    let mut events = Events::with_capacity(4);
    ep.wait(&mut events, Some(Duration::from_secs(30))).unwrap();
    let info = sfd.read().unwrap().expect("SIGTERM pending");
    assert_eq!(info.signo, libc::SIGTERM);
    assert_eq!(info.pid, std::process::id());
    assert_eq!(sfd.read().unwrap(), None);

    // A long-running child killed through its process group.
    let child = vigil_platform::spawn(&sh("exec sleep 100")).unwrap();
    // Its group exists once setsid ran; exec success (known when spawn returns)
    // proves that.
    assert_eq!(child.exec, ExecStatus::Succeeded);
    vigil_platform::kill_group(child.pid, libc::SIGTERM).unwrap();
    let exits = next_exits(&ep, &sfd);
    assert_eq!(exits, [(child.pid, ExitStatus::Signaled(libc::SIGTERM))]);

    // Several exits may coalesce into one SIGCHLD; reaping in a loop gets them all.
    let pids: Vec<u32> = (0..5)
        .map(|i| {
            vigil_platform::spawn(&sh(&format!("exit {i}")))
                .unwrap()
                .pid
        })
        .collect();
    let mut seen = Vec::new();
    while seen.len() < pids.len() {
        seen.extend(next_exits(&ep, &sfd));
    }
    seen.sort_by_key(|(pid, _)| *pid);
    let mut expected: Vec<(u32, ExitStatus)> = pids
        .iter()
        .zip(0..)
        .map(|(&p, i)| (p, ExitStatus::Exited(i)))
        .collect();
    expected.sort_by_key(|(pid, _)| *pid);
    assert_eq!(seen, expected);
    assert_eq!(reap_any().unwrap(), None);

    println!("signalfd: all checks passed");
}
