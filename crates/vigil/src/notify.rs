//! `vigil notify`: vigil's systemd-notify. Sends `KEY=VALUE` lines in one
//! datagram to `$NOTIFY_SOCKET`; the manager learns the sender from the
//! socket credentials, so a shell script's service needs `NotifyAccess=all`
//! (as with systemd-notify) unless `--pid` names the main process.

use std::os::unix::net::UnixDatagram;

use crate::Exit;

pub fn run(fields: &[(String, String)], _pid: Option<u32>) -> Exit {
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
    let sock = match UnixDatagram::unbound() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("vigil: notify: cannot create a socket: {e}");
            return Exit::Failed;
        }
    };
    let sent = match path.to_str().and_then(|p| p.strip_prefix('@')) {
        Some(abstract_name) => {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes())
                .and_then(|addr| sock.send_to_addr(msg.as_bytes(), &addr))
        }
        None => sock.send_to(msg.as_bytes(), &path),
    };
    match sent {
        Ok(_) => Exit::Success,
        Err(e) => {
            eprintln!(
                "vigil: notify: cannot send to {}: {e}",
                path.to_string_lossy()
            );
            Exit::Failed
        }
    }
}
