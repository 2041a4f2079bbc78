//! swapon(2) and swapoff(2), which rustix does not offer (vigil-boot's swap areas).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;

/// swapon(2)'s flags (linux/swap.h), which libc does not name either.
pub const SWAP_FLAG_PREFER: i32 = 0x8000;
pub const SWAP_FLAG_PRIO_MASK: i32 = 0x7fff;
pub const SWAP_FLAG_DISCARD: i32 = 0x10000;
pub const SWAP_FLAG_DISCARD_ONCE: i32 = 0x20000;
pub const SWAP_FLAG_DISCARD_PAGES: i32 = 0x40000;

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)
}

/// Activates the swap area at `path` with `flags` (SWAP_FLAG_*).
pub fn swapon(path: &Path, flags: i32) -> io::Result<()> {
    let path = c_path(path)?;
    // SAFETY: a NUL-terminated path, which the kernel only reads.
    match unsafe { libc::swapon(path.as_ptr(), flags) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Deactivates the swap area at `path`.
pub fn swapoff(path: &Path) -> io::Result<()> {
    let path = c_path(path)?;
    // SAFETY: a NUL-terminated path, which the kernel only reads.
    match unsafe { libc::swapoff(path.as_ptr()) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}
