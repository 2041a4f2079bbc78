//! vigil-init's own messages. On a real boot they go to /dev/kmsg with a `<N>` priority
//! (so they land in the kernel log next to the kernel's own), otherwise to stderr. A
//! message is assembled in a fixed buffer: logging never allocates and never fails; what
//! does not fit is cut, what cannot be written is dropped. No `core::fmt`: its machinery
//! would be most of the binary.

use core::ffi::CStr;
use core::sync::atomic::{AtomicI32, Ordering};

use crate::sys::{self, Errno};

/// Priorities of the kernel log (`<N>` prefix of /dev/kmsg).
pub const WARNING: u8 = 4;
pub const NOTICE: u8 = 5;
pub const INFO: u8 = 6;

/// /dev/kmsg once opened (a real boot), else -1.
static KMSG: AtomicI32 = AtomicI32::new(-1);

/// Send further messages to /dev/kmsg. Only a PID 1 on a real boot does this: in a
/// container or under a test the kernel log is not ours.
pub fn use_kmsg() {
    if let Ok(fd) = sys::open(c"/dev/kmsg", sys::O_WRONLY | sys::O_NOCTTY) {
        KMSG.store(fd.leak(), Ordering::Relaxed);
    }
}

/// A fixed-size text buffer; the tail is cut when full.
#[derive(Debug)]
pub struct Line<const N: usize = 256> {
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
        self.buf.get(..self.len).map_or(&[], |b| b)
    }

    pub fn push(&mut self, bytes: &[u8]) -> &mut Self {
        for &b in bytes {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
        self
    }

    pub fn num(&mut self, n: i64) -> &mut Self {
        if n < 0 {
            self.push(b"-");
        }
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut v = n.unsigned_abs();
        loop {
            at -= 1;
            if let Some(d) = digits.get_mut(at) {
                *d = b'0' + (v % 10) as u8;
            }
            v /= 10;
            if v == 0 || at == 0 {
                break;
            }
        }
        self.push(digits.get(at..).map_or(&[], |d| d))
    }
}

/// Anything a message is made of.
pub trait Piece {
    fn put(&self, line: &mut Line<512>);
}

impl Piece for &&str {
    fn put(&self, line: &mut Line<512>) {
        line.push(self.as_bytes());
    }
}

impl Piece for &str {
    fn put(&self, line: &mut Line<512>) {
        line.push(self.as_bytes());
    }
}

impl Piece for &[u8] {
    fn put(&self, line: &mut Line<512>) {
        line.push(self);
    }
}

impl Piece for &CStr {
    fn put(&self, line: &mut Line<512>) {
        line.push(self.to_bytes());
    }
}

impl Piece for i32 {
    fn put(&self, line: &mut Line<512>) {
        line.num(i64::from(*self));
    }
}

impl Piece for u64 {
    fn put(&self, line: &mut Line<512>) {
        line.num(i64::try_from(*self).map_or(i64::MAX, |n| n));
    }
}

impl Piece for Errno {
    fn put(&self, line: &mut Line<512>) {
        let text: &[u8] = match self.0 {
            1 => b"operation not permitted",
            2 => b"no such file or directory",
            8 => b"exec format error",
            12 => b"out of memory",
            13 => b"permission denied",
            16 => b"device or resource busy",
            19 => b"no such device",
            22 => b"invalid argument",
            24 => b"too many open files",
            _ => {
                line.push(b"errno ").num(i64::from(self.0));
                return;
            }
        };
        line.push(text);
    }
}

/// Writes one message. `console` messages (emergencies, shutdown progress) always go to
/// stderr, which is the console on a real boot; the kernel log then gets them at debug
/// priority so that they are kept in dmesg without showing twice on the console.
pub fn emit(level: u8, console: bool, pieces: &[&dyn Piece]) {
    let kmsg = KMSG.load(Ordering::Relaxed);
    let mut line = Line::<512>::new();
    if kmsg >= 0 {
        let level = if console { 7 } else { level };
        line.push(b"<").num(i64::from(level)).push(b">");
    }
    line.push(b"vigil-init: ");
    pieces.iter().for_each(|p| p.put(&mut line));
    line.push(b"\n");
    if kmsg >= 0 {
        let _ = sys::write(kmsg, line.bytes());
        if !console {
            return;
        }
        let text = line.bytes();
        let at = text.iter().position(|&b| b == b'>').map_or(0, |at| at + 1);
        let _ = sys::write(2, text.get(at..).map_or(&[], |t| t));
        return;
    }
    let _ = sys::write(2, line.bytes());
}

/// A message for the kernel log (or stderr): `say!(log::INFO, "text", number, ...)`.
macro_rules! say {
    ($level:expr, $($piece:expr),+ $(,)?) => {
        $crate::log::emit($level, false, &[$(&$piece as &dyn $crate::log::Piece),+])
    };
}

/// A message that must reach the console: `shout!("text", number, ...)`.
macro_rules! shout {
    ($($piece:expr),+ $(,)?) => {
        $crate::log::emit($crate::log::NOTICE, true, &[$(&$piece as &dyn $crate::log::Piece),+])
    };
}

pub(crate) use {say, shout};
