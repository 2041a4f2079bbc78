//! vigil-init's own messages: to /dev/kmsg with a `<N>` priority on a real boot (next to
//! the kernel's own), otherwise to stderr. Formatted into a fixed buffer: logging never
//! allocates and never fails; what does not fit is cut, what cannot be written is dropped.

use core::ffi::CStr;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicI32, Ordering::Relaxed};

use rustix::event::{PollFd, PollFlags};
use rustix::fd::IntoRawFd as _;
use rustix::fs::{FileType, Mode, OFlags, open};
use rustix::io::{Errno, write};

use crate::sys;

/// Priorities of the kernel log.
pub const WARNING: u8 = 4;
pub const INFO: u8 = 6;

/// /dev/kmsg once opened (a real boot), else -1.
static KMSG: AtomicI32 = AtomicI32::new(-1);

/// Sends further messages to /dev/kmsg: only on a real boot is the kernel log ours.
pub fn use_kmsg() {
    if let Ok(fd) = open(
        c"/dev/kmsg",
        OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        KMSG.store(fd.into_raw_fd(), Relaxed);
    }
}

/// Where messages for stderr go: our stderr opened anew, non-blocking, when it is a pipe
/// or a terminal (the manager and the services that share the old description keep it
/// blocking); else fd 2 itself (a file does not block for long).
static STDERR: AtomicI32 = AtomicI32::new(2);

pub fn own_stderr() {
    let flags = OFlags::WRONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let kind = rustix::fs::fstat(sys::fd(2)).map(|st| FileType::from_raw_mode(st.st_mode));
    if matches!(kind, Ok(FileType::Fifo | FileType::CharacterDevice))
        && let Ok(fd) = open(c"/proc/self/fd/2", flags, Mode::empty())
    {
        STDERR.store(fd.into_raw_fd(), Relaxed);
    }
}

/// A fixed-size text buffer; a write that does not fit is cut and reports an error.
#[derive(Debug)]
pub struct Line<const N: usize> {
    buf: [u8; N],
    pub len: usize,
}

impl<const N: usize> Line<N> {
    pub fn new() -> Self {
        Line {
            buf: [0; N],
            len: 0,
        }
    }

    /// `args` as text, cut at N bytes.
    pub fn of(args: fmt::Arguments<'_>) -> Self {
        let mut line = Line::new();
        let _ = line.write_fmt(args);
        line
    }

    pub fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl<const N: usize> fmt::Write for Line<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            *self.buf.get_mut(self.len).ok_or(fmt::Error)? = b;
            self.len += 1;
        }
        Ok(())
    }
}

/// A path or argument as text (bytes that are not ASCII as `\xNN`).
pub fn show(s: &CStr) -> impl fmt::Display + '_ {
    s.to_bytes().escape_ascii()
}

/// An error number, in words for those vigil-init meets.
#[derive(Debug)]
pub struct Why(pub Errno);

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words = match self.0 {
            Errno::PERM => "operation not permitted",
            Errno::NOENT => "no such file or directory",
            Errno::NOEXEC => "exec format error",
            Errno::NOMEM => "out of memory",
            Errno::ACCESS => "permission denied",
            Errno::BUSY => "device or resource busy",
            Errno::NODEV => "no such device",
            Errno::INVAL => "invalid argument",
            Errno::MFILE => "too many open files",
            e => return write!(f, "errno {}", e.raw_os_error()),
        };
        f.write_str(words)
    }
}

/// Writes one message. `console` ones (emergencies, shutdown progress) always go to
/// stderr, the console on a real boot, and to the kernel log at debug priority: kept in
/// dmesg without showing twice on the console.
pub fn emit(level: u8, console: bool, args: fmt::Arguments<'_>) {
    let level = if console { 7 } else { level };
    let mut line = Line::<512>::of(format_args!("<{level}>vigil-init: {args}\n"));
    line.buf[511] = b'\n';
    let kmsg = KMSG.load(Relaxed);
    if kmsg >= 0 {
        let _ = write(sys::fd(kmsg), line.bytes());
    }
    if kmsg < 0 || console {
        // Without the "<N>" priority, and only when there is room: a console stopped by
        // ^S or a container's full log pipe must not stop PID 1 (a boot's kernel log has
        // the message).
        let fd = sys::fd(STDERR.load(Relaxed));
        let mut stderr = [PollFd::from_borrowed_fd(fd, PollFlags::OUT)];
        let _ = crate::supervise::poll_ms(&mut stderr, Some(0));
        if stderr[0].revents().contains(PollFlags::OUT) {
            let _ = write(fd, line.bytes().get(3..).unwrap_or_default());
        }
    }
}

/// A message for the kernel log (or stderr): `say!(log::INFO, "format", args...)`.
macro_rules! say {
    ($level:expr, $($args:tt)+) => { $crate::log::emit($level, false, format_args!($($args)+)) };
}

/// A message that must reach the console: `shout!("format", args...)`.
macro_rules! shout {
    ($($args:tt)+) => { $crate::log::emit(5, true, format_args!($($args)+)) };
}

pub(crate) use {say, shout};
