//! NOTIFY_SOCKET end to end: a child process (this test binary, re-executed)
//! sends `READY=1` with `notify_send`, and the manager side receives it with the
//! child's pid from the kernel's credentials.
//!
//! Without the test harness so the binary can be its own child: with
//! `--notify-child SOCKET` it only sends and exits.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use vigil_platform::exec::{ExecStatus, PreparedCommand};
use vigil_platform::process::{ExitStatus, wait_blocking};
use vigil_platform::{Epoll, Events, Interest, NotifySocket};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, socket] = args.as_slice()
        && flag == "--notify-child"
    {
        vigil_platform::notify_send(socket, b"READY=1\nSTATUS=up").unwrap();
        return;
    }

    let dir = std::env::temp_dir().join(format!("vigil-platform-notify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notify");
    let sock = NotifySocket::bind(&path, 0o666).unwrap();
    let ep = Epoll::new().unwrap();
    ep.add(&sock, 1, Interest::READABLE).unwrap();

    let exe = std::env::current_exe().unwrap();
    let exe = CString::new(exe.as_os_str().as_bytes()).unwrap();
    let cmd = PreparedCommand::new(
        exe.clone(),
        vec![
            exe,
            CString::new("--notify-child").unwrap(),
            CString::new(path.as_os_str().as_bytes()).unwrap(),
        ],
        vec![],
    );
    let child = vigil_platform::spawn(&cmd).unwrap();

    let mut events = Events::with_capacity(1);
    ep.wait(&mut events, Some(Duration::from_secs(30))).unwrap();
    assert!(!events.is_empty(), "no notification within 30 s");
    let mut buf = [0u8; 256];
    let got = sock
        .recv_with_credentials(&mut buf)
        .unwrap()
        .expect("a datagram");
    assert_eq!(&buf[..got.len], b"READY=1\nSTATUS=up");
    let creds = got.credentials.expect("SO_PASSCRED credentials");
    assert_eq!(creds.pid, child.pid, "the sender is the child");
    assert_eq!(creds.uid, vigil_platform::geteuid());

    assert_eq!(child.exec, ExecStatus::Succeeded);
    assert_eq!(wait_blocking(child.pid).unwrap(), ExitStatus::Exited(0));
    sock.remove_path().unwrap();
    println!("notify: all checks passed");
}
