//! vigil-init's own messages. On a real boot they go to /dev/kmsg with a `<N>` priority
//! (so they land in the kernel log next to the kernel's own), otherwise to stderr.
//! A message is formatted into a fixed buffer: logging never allocates and never fails;
//! what does not fit is cut, what cannot be written is dropped.

use std::fmt;
use std::os::fd::OwnedFd;
use std::sync::OnceLock;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

/// Priorities of the kernel log (`<N>` prefix of /dev/kmsg).
pub const WARNING: u8 = 4;
pub const NOTICE: u8 = 5;
pub const INFO: u8 = 6;

static KMSG: OnceLock<OwnedFd> = OnceLock::new();

/// Send further messages to /dev/kmsg. Only a PID 1 on a real boot does this: in a
/// container or under a test the kernel log is not ours.
pub fn use_kmsg() {
    let flags = OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOCTTY;
    if let Ok(fd) = rustix::fs::open(c"/dev/kmsg", flags, Mode::empty()) {
        let _ = KMSG.set(fd);
    }
}

/// A fixed-size text buffer that formatting writes into; the tail is cut when full.
#[derive(Debug)]
pub struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Line {
    pub fn new() -> Line {
        Line {
            buf: [0; 512],
            len: 0,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).map_or(&[], |b| b)
    }

    pub fn push(&mut self, bytes: &[u8]) {
        let Some(room) = self.buf.get_mut(self.len..) else {
            return;
        };
        let n = room.len().min(bytes.len());
        if let (Some(dst), Some(src)) = (room.get_mut(..n), bytes.get(..n)) {
            dst.copy_from_slice(src);
            self.len = self.len.saturating_add(n);
        }
    }
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

/// Writes one message. `console` messages (emergencies, shutdown progress) always go to
/// stderr, which is the console on a real boot; the kernel log then gets them at debug
/// priority so that they are kept in dmesg without showing twice on the console.
pub fn emit(level: u8, console: bool, args: fmt::Arguments<'_>) {
    use fmt::Write as _;
    if let Some(kmsg) = KMSG.get() {
        let mut line = Line::new();
        let level = if console { 7 } else { level };
        let _ = writeln!(line, "<{level}>vigil-init: {args}");
        let _ = rustix::io::write(kmsg, line.bytes());
        if !console {
            return;
        }
    }
    let mut line = Line::new();
    let _ = writeln!(line, "vigil-init: {args}");
    let _ = rustix::io::write(rustix::stdio::stderr(), line.bytes());
}

/// An errno as text without the allocation that `std::io::Error`'s Display makes.
#[derive(Debug, Clone, Copy)]
pub struct Oops(pub Errno);

impl fmt::Display for Oops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self.0 {
            Errno::NOENT => "no such file or directory",
            Errno::ACCESS => "permission denied",
            Errno::PERM => "operation not permitted",
            Errno::NOEXEC => "exec format error",
            Errno::NOMEM => "out of memory",
            Errno::AGAIN => "resource temporarily unavailable",
            Errno::BUSY => "device or resource busy",
            Errno::INVAL => "invalid argument",
            Errno::NODEV => "no such device",
            Errno::NOTDIR => "not a directory",
            Errno::PIPE => "broken pipe",
            Errno::MFILE => "too many open files",
            _ => return write!(f, "os error {}", self.0.raw_os_error()),
        };
        f.write_str(text)
    }
}

impl From<std::io::Error> for Oops {
    fn from(e: std::io::Error) -> Oops {
        Oops(Errno::from_io_error(&e).map_or(Errno::IO, |e| e))
    }
}

/// A message for the kernel log (or stderr): `say!(log::INFO, "...", args)`.
macro_rules! say {
    ($level:expr, $($arg:tt)*) => {
        $crate::log::emit($level, false, format_args!($($arg)*))
    };
}

/// A message that must reach the console: `shout!("...", args)`.
macro_rules! shout {
    ($($arg:tt)*) => {
        $crate::log::emit($crate::log::NOTICE, true, format_args!($($arg)*))
    };
}

pub(crate) use {say, shout};
