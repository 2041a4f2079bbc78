//! stdout for every verb. A write that fails (a full disk, `> /dev/full`) is
//! remembered, never a panic: `println!` panics on a write error, and this
//! binary's C entry point cannot unwind, so the panic aborted the program
//! (SIGABRT and a page of text). The first error is said once at the end,
//! `vigil: write error: ...`, and the exit code is 1 (see `main`).

use std::io::{self, BufWriter, StdoutLock, Write};
use std::sync::OnceLock;

/// The first write error on stdout, if any.
static FAILED: OnceLock<io::Error> = OnceLock::new();

fn remember(e: &io::Error) {
    let copy = match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    };
    let _ = FAILED.set(copy);
}

/// The first write error on stdout, once stdout is flushed.
#[cfg_attr(test, allow(dead_code))]
pub fn error() -> Option<&'static io::Error> {
    if let Err(e) = io::stdout().flush() {
        remember(&e);
    }
    FAILED.get()
}

/// Whether a write to stdout has failed: a follower stops then.
pub fn failed() -> bool {
    FAILED.get().is_some()
}

/// stdout, written in one go when dropped: a reply of ten lines costs one
/// write(2), not ten (stdout alone flushes at every newline). Errors are
/// remembered (see [`error`]), so callers may ignore what writes return.
pub struct Out(BufWriter<StdoutLock<'static>>);

pub fn stdout() -> Out {
    Out(BufWriter::with_capacity(16 * 1024, io::stdout().lock()))
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).inspect_err(remember)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().inspect_err(remember)
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// `println!` without the panic: the error is remembered.
macro_rules! outln {
    ($($arg:tt)*) => {{
        let _ = std::io::Write::write_fmt(
            &mut $crate::out::stdout(),
            format_args!("{}\n", format_args!($($arg)*)),
        );
    }};
}

/// `print!` without the panic.
macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = std::io::Write::write_fmt(&mut $crate::out::stdout(), format_args!($($arg)*));
    }};
}

pub(crate) use {out, outln};
