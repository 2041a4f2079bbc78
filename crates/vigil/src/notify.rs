//! `vigil notify`: vigil's systemd-notify. Sends `KEY=VALUE` lines in one
//! datagram to `$NOTIFY_SOCKET`, then waits on a barrier until the manager has
//! handled it, so that the manager can still see this process and attribute it
//! to its unit (a shell script's `vigil notify` is a child of the main process:
//! the unit needs `NotifyAccess=all`, as with systemd-notify).

use std::time::Duration;

use crate::Exit;

/// `no_block`: return once the datagram is sent, without the barrier
/// (systemd-notify's `--no-block`).
pub fn run(fields: &[(String, String)], pid: Option<u32>, no_block: bool) -> Exit {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET").filter(|p| !p.is_empty()) else {
        eprintln!(
            "vigil: notify: NOTIFY_SOCKET is not set (is this running under a Type=notify unit?)"
        );
        return Exit::Failed;
    };
    let mut msg = String::new();
    for (k, v) in fields {
        msg.push_str(k);
        msg.push('=');
        msg.push_str(v);
        msg.push('\n');
    }
    let sent = match pid {
        Some(pid) => vigil_platform::notify_send_as(&path, msg.as_bytes(), pid),
        None => vigil_platform::notify_send(&path, msg.as_bytes()),
    };
    if let Err(e) = sent {
        eprintln!(
            "vigil: notify: cannot send to {}: {e}",
            path.to_string_lossy()
        );
        return Exit::Failed;
    }
    // A manager that does not know barriers simply never closes the pipe: give up
    // after a while, the message itself was delivered.
    if !no_block {
        let _ = vigil_platform::notify_barrier(&path, Duration::from_secs(5));
    }
    Exit::Success
}
