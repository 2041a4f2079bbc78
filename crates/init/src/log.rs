//! vigil-init's own messages. On a real boot they go to /dev/kmsg with a `<N>` priority
//! (so they land in the kernel log next to the kernel's own), otherwise to stderr. A
//! message is formatted into a fixed buffer: logging never allocates and never fails; what
//! does not fit is cut, what cannot be written is dropped.

use core::ffi::CStr;
use core::fmt::{self, Write as _};
use core::sync::atomic::{AtomicI32, Ordering::Relaxed};

use rustix::fd::IntoRawFd as _;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::sys;

/// Priorities of the kernel log (`<N>` prefix of /dev/kmsg).
pub const WARNING: u8 = 4;
pub const NOTICE: u8 = 5;
pub const INFO: u8 = 6;

/// /dev/kmsg once opened (a real boot), else -1.
static KMSG: AtomicI32 = AtomicI32::new(-1);

/// Send further messages to /dev/kmsg. Only a PID 1 on a real boot does this: in a
/// container or under a test the kernel log is not ours.
pub fn use_kmsg() {
    let flags = OFlags::WRONLY | OFlags::NOCTTY | OFlags::CLOEXEC;
    if let Ok(fd) = rustix::fs::open(c"/dev/kmsg", flags, Mode::empty()) {
        KMSG.store(fd.into_raw_fd(), Relaxed);
    }
}

/// A fixed-size text buffer; what does not fit is cut (and the write reports an error).
#[derive(Debug)]
pub struct Line<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Line<N> {
    pub fn new() -> Self {
        Line {
            buf: [0; N],
            len: 0,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl<const N: usize> fmt::Write for Line<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let take = s.len().min(N.saturating_sub(self.len));
        let end = self.len.saturating_add(take);
        if let (Some(dst), Some(src)) = (self.buf.get_mut(self.len..end), s.as_bytes().get(..take))
        {
            dst.copy_from_slice(src);
            self.len = end;
        }
        if take < s.len() {
            Err(fmt::Error)
        } else {
            Ok(())
        }
    }
}

/// A path or argument, shown as text (bytes that are not ASCII as `\xNN`).
pub fn show(s: &CStr) -> impl fmt::Display + '_ {
    s.to_bytes().escape_ascii()
}

/// An error number, in words for those vigil-init meets.
#[derive(Debug)]
pub struct Why(pub Errno);

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self.0.raw_os_error() {
            1 => "operation not permitted",
            2 => "no such file or directory",
            8 => "exec format error",
            12 => "out of memory",
            13 => "permission denied",
            16 => "device or resource busy",
            19 => "no such device",
            22 => "invalid argument",
            24 => "too many open files",
            n => return write!(f, "errno {n}"),
        };
        f.write_str(text)
    }
}

/// Writes one message. `console` messages (emergencies, shutdown progress) always go to
/// stderr, which is the console on a real boot; the kernel log then gets them at debug
/// priority so that they are kept in dmesg without showing twice on the console.
pub fn emit(level: u8, console: bool, args: fmt::Arguments<'_>) {
    let kmsg = KMSG.load(Relaxed);
    let mut line = Line::<512>::new();
    let level = if console { 7 } else { level };
    if writeln!(line, "<{level}>vigil-init: {args}").is_err()
        && let Some(last) = line.buf.last_mut()
    {
        *last = b'\n';
    }
    if kmsg >= 0 {
        let _ = rustix::io::write(sys::fd(kmsg), line.bytes());
        if !console {
            return;
        }
    }
    // Without the "<N>" priority, which is three bytes.
    let _ = rustix::io::write(sys::fd(2), line.bytes().get(3..).unwrap_or_default());
}

/// A message for the kernel log (or stderr): `say!(log::INFO, "format", args...)`.
macro_rules! say {
    ($level:expr, $($args:tt)+) => {
        $crate::log::emit($level, false, format_args!($($args)+))
    };
}

/// A message that must reach the console: `shout!("format", args...)`.
macro_rules! shout {
    ($($args:tt)+) => {
        $crate::log::emit($crate::log::NOTICE, true, format_args!($($args)+))
    };
}

pub(crate) use {say, shout};
