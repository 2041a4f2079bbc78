//! Pipes for service output and exec status, and non-blocking reads and writes.
//!
//! Reads and writes here never block the manager (only `wait_writable` waits,
//! as long as told): "would block" is a value (`Ok(None)`), not an error, and
//! EINTR is retried.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::io::{Errno, FdFlags};
use rustix::pipe::PipeFlags;

/// A pipe whose both ends are close-on-exec: `(read end, write end)`.
///
/// Neither end is non-blocking; use [`set_nonblocking`] on the end the manager
/// keeps. (The end given to a service must stay blocking: services expect it.)
pub fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC)?;
    Ok((r, w))
}

pub fn set_nonblocking(fd: impl AsFd, nonblocking: bool) -> io::Result<()> {
    let fd = fd.as_fd();
    let flags = rustix::fs::fcntl_getfl(fd)?;
    let flags = if nonblocking {
        flags | rustix::fs::OFlags::NONBLOCK
    } else {
        flags - rustix::fs::OFlags::NONBLOCK
    };
    rustix::fs::fcntl_setfl(fd, flags)?;
    Ok(())
}

/// A close-on-exec pipe whose read end is non-blocking and whose write end is
/// not: the manager's end of a service's stdout, and the service's. Two system
/// calls (pipe2 sets the flag on both ends; one fcntl clears it on the write end).
pub fn log_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = rustix::pipe::pipe_with(
        rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
    )?;
    // The two ends are separate open file descriptions: this leaves the read end
    // non-blocking.
    rustix::fs::fcntl_setfl(&write, rustix::fs::OFlags::WRONLY)?;
    Ok((read, write))
}

/// Whether a descriptor is close-on-exec (for tests and assertions of the rule above).
pub fn is_cloexec(fd: impl AsFd) -> io::Result<bool> {
    Ok(rustix::io::fcntl_getfd(fd)?.contains(FdFlags::CLOEXEC))
}

/// The bytes a pipe holds now (FIONREAD); 0 when it cannot be told.
pub fn bytes_waiting(fd: impl AsFd) -> usize {
    rustix::io::ioctl_fionread(fd.as_fd()).map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// Reads what is available: `Ok(Some(0))` is end of file, `Ok(None)` means nothing
/// to read now (EAGAIN).
pub fn read_nonblocking(fd: impl AsFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    let fd = fd.as_fd();
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Ok(n) => return Ok(Some(n)),
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Writes what fits: `Ok(None)` means the pipe or socket is full (EAGAIN).
pub fn write_nonblocking(fd: impl AsFd, buf: &[u8]) -> io::Result<Option<usize>> {
    let fd = fd.as_fd();
    loop {
        match rustix::io::write(fd, buf) {
            Ok(n) => return Ok(Some(n)),
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Waits up to `timeout` until one of `fds` has `events` (or an error to
/// report); false when the time ran out or a signal came.
pub(crate) fn poll_ready(
    fds: &[BorrowedFd<'_>],
    events: rustix::event::PollFlags,
    timeout: std::time::Duration,
) -> io::Result<bool> {
    use rustix::event::PollFd;
    let mut polled: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::from_borrowed_fd(*fd, events))
        .collect();
    let ts = rustix::time::Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    match rustix::event::poll(&mut polled, Some(&ts)) {
        Ok(n) => Ok(n > 0),
        Err(Errno::INTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Waits up to `timeout` until one of `fds` takes a write (or has an error
/// to report); false when the time ran out.
pub fn wait_writable(fds: &[BorrowedFd<'_>], timeout: std::time::Duration) -> io::Result<bool> {
    poll_ready(fds, rustix::event::PollFlags::OUT, timeout)
}

/// PIPE_BUF: what a pipe writes whole, and has room for when it polls writable.
const PIPE_BUF: usize = 4096;

/// Writes `text` (cut at 4 KiB) and a newline to fd 2 when it takes them now, else drops
/// them: vigild's messages before its stderr sink exists, or outside it (a
/// fatal error, a panic), must not hang on a stderr nobody reads (a full
/// pipe to a stuck container log reader), which would keep vigil-init from
/// restarting it. The description's flags are left as they are (services
/// share it).
pub fn stderr_line(text: &str) {
    let fd = std::io::stderr();
    if wait_writable(&[fd.as_fd()], std::time::Duration::ZERO).unwrap_or(false) {
        // One write of at most PIPE_BUF bytes: a pipe that polls writable has
        // room for that much (a longer line would wait for the rest).
        let mut end = text.len().min(PIPE_BUF - 1);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let line = format!("{}\n", text.get(..end).unwrap_or_default());
        let _ = rustix::io::write(&fd, line.as_bytes());
    }
}

/// Whether stdin is a terminal or /dev/null: what a shell may be given to
/// read commands from (someone typing; nothing, so it ends at once), not a
/// pipe, a file or a socket, whose data is meant for someone else.
pub fn stdin_is_terminal_or_null() -> bool {
    use std::io::IsTerminal as _;
    let stdin = std::io::stdin();
    stdin.is_terminal()
        || rustix::fs::fstat(&stdin).is_ok_and(|st| {
            rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::CharacterDevice
                && st.st_rdev == rustix::fs::makedev(1, 3)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_is_cloexec_and_reads_report_would_block_and_eof() {
        let (r, w) = pipe_cloexec().unwrap();
        assert!(is_cloexec(&r).unwrap() && is_cloexec(&w).unwrap());
        set_nonblocking(&r, true).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(read_nonblocking(&r, &mut buf).unwrap(), None);
        assert_eq!(write_nonblocking(&w, b"hello").unwrap(), Some(5));
        assert_eq!(read_nonblocking(&r, &mut buf).unwrap(), Some(5));
        assert_eq!(&buf[..5], b"hello");
        drop(w);
        assert_eq!(read_nonblocking(&r, &mut buf).unwrap(), Some(0));
    }

    #[test]
    fn full_pipe_reports_would_block() {
        let (_r, w) = pipe_cloexec().unwrap();
        set_nonblocking(&w, true).unwrap();
        let chunk = [b'x'; 4096];
        let mut saw_full = false;
        for _ in 0..10_000 {
            if write_nonblocking(&w, &chunk).unwrap().is_none() {
                saw_full = true;
                break;
            }
        }
        assert!(saw_full);
    }
}
