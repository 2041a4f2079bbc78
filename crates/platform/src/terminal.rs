//! The owner and mode of a terminal device, set without opening the terminal:
//! what the manager needs to give a terminal back once the service it was
//! handed to has ended (the hand-over itself is the child's, in `exec`).
//!
//! Opening a terminal has side effects (it may become a controlling terminal,
//! a serial line may raise its modem lines, a pseudo-terminal whose other end
//! is gone fails with `EIO`), so the inode is pinned with `O_PATH`, which
//! opens nothing, and checked and changed through that descriptor.

use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Uid};

/// Sets the owner, group and permission bits of the character device at
/// `path` (a link is followed, as a `TTYPath=` is). Returns `Ok(false)`,
/// changing nothing, when `path` is something else: a regular file given as
/// a terminal is not the manager's to change.
pub fn set_char_device_owner(path: &Path, uid: u32, gid: u32, mode: u32) -> io::Result<bool> {
    let fd = rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())?;
    let st = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::CharacterDevice {
        return Ok(false);
    }
    // fchown() and fchmod() refuse an O_PATH descriptor: the owner through
    // fchownat() on the descriptor itself, the mode through its /proc link
    // (fchmodat() takes no AT_EMPTY_PATH before Linux 6.6). The owner
    // first: a chown may clear mode bits, the chmod then sets exactly these.
    rustix::fs::chownat(
        &fd,
        "",
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        AtFlags::EMPTY_PATH,
    )?;
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    rustix::fs::chmod(link.as_str(), Mode::from_raw_mode(mode & 0o7777))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_a_character_device_is_changed() {
        let path = std::env::temp_dir().join(format!("vigil-terminal-{}", std::process::id()));
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(!set_char_device_owner(&path, 0, 5, 0o620).unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        std::fs::remove_file(&path).unwrap();
        assert_eq!(mode, 0o644);
        let gone = set_char_device_owner(&path, 0, 5, 0o620).unwrap_err();
        assert_eq!(gone.kind(), io::ErrorKind::NotFound);
    }
}
