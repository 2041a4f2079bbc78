//! Directories reached one component at a time, never through a symbolic link:
//! what the manager needs to create, hand over and remove the directories of a
//! service (`StateDirectory=`, ...) below a root where the service's user may
//! write, and so may replace a directory with a link to anywhere.
//!
//! Every step is relative to a descriptor of the directory above, opened with
//! `O_NOFOLLOW|O_DIRECTORY`, and every change (mode, owner, removal) is made on a
//! descriptor or with an `*at` call that does not follow a link. A link found
//! where a directory is expected is the error `ELOOP`.

use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Uid};

/// An open directory (close-on-exec).
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
}

/// How deep [`Dir::chown_tree`] and [`Dir::remove_tree`] go: each level is a
/// stack frame and an open descriptor of the manager, and a service may make
/// its directory as deep as it likes. Deeper is refused (`ELOOP`).
const MAX_DEPTH: usize = 256;

fn too_deep(depth: usize) -> io::Result<()> {
    match depth > MAX_DEPTH {
        true => Err(io::Error::from_raw_os_error(libc::ELOOP)),
        false => Ok(()),
    }
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC)
    .union(OFlags::NOFOLLOW);

impl Dir {
    /// Opens `path` as the kernel resolves it, links included: for a root the
    /// manager was configured with (`/var/lib`, `$XDG_RUNTIME_DIR`), not for
    /// anything below it.
    pub fn open(path: &Path) -> io::Result<Dir> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Dir { fd })
    }

    /// Opens the directory `name` of this one (a single component), without
    /// following a link: `ELOOP` when it is a symbolic link, `ENOTDIR` when it
    /// is something else that is not a directory.
    pub fn open_child(&self, name: &OsStr) -> io::Result<Dir> {
        match rustix::fs::openat(&self.fd, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => Ok(Dir { fd }),
            Err(e @ (rustix::io::Errno::NOTDIR | rustix::io::Errno::LOOP)) => {
                // Which of the two it was, for the message.
                let kind = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map(|st| FileType::from_raw_mode(st.st_mode));
                Err(match kind {
                    Ok(FileType::Symlink) => rustix::io::Errno::LOOP,
                    Ok(_) => rustix::io::Errno::NOTDIR,
                    Err(_) => e,
                }
                .into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Opens the directory `name` of this one, creating it when missing with
    /// exactly `mode` (whatever the process's umask); true when it was created.
    pub fn create_child(&self, name: &OsStr, mode: u32) -> io::Result<(Dir, bool)> {
        let mode = Mode::from_raw_mode(mode & 0o7777);
        let created = match rustix::fs::mkdirat(&self.fd, name, mode) {
            Ok(()) => true,
            Err(rustix::io::Errno::EXIST) => false,
            Err(e) => return Err(e.into()),
        };
        let dir = self.open_child(name)?;
        if created {
            rustix::fs::fchmod(&dir.fd, mode)?;
        }
        Ok((dir, created))
    }

    /// Waits for an exclusive flock(2) on this directory, held until the
    /// `Dir` is dropped: for the few processes that take turns at one of its
    /// files (the `shutdown` waiters and their file).
    pub fn lock(&self) -> io::Result<()> {
        use rustix::fs::{FlockOperation, flock};
        loop {
            match flock(&self.fd, FlockOperation::LockExclusive) {
                Err(rustix::io::Errno::INTR) => {}
                done => return Ok(done?),
            }
        }
    }

    /// Owner, group and permission bits (`0o7777`).
    pub fn owner_and_mode(&self) -> io::Result<(u32, u32, u32)> {
        let st = rustix::fs::fstat(&self.fd)?;
        Ok((st.st_uid, st.st_gid, st.st_mode & 0o7777))
    }

    pub fn set_mode(&self, mode: u32) -> io::Result<()> {
        Ok(rustix::fs::fchmod(
            &self.fd,
            Mode::from_raw_mode(mode & 0o7777),
        )?)
    }

    /// Hands this directory and everything below it to `uid:gid`; a link is
    /// changed itself, never what it points to, and never entered.
    pub fn chown_tree(&self, uid: u32, gid: u32) -> io::Result<()> {
        let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(gid));
        rustix::fs::fchown(&self.fd, Some(uid), Some(gid))?;
        self.chown_below(uid, gid, 1)
    }

    fn chown_below(&self, uid: Uid, gid: Gid, depth: usize) -> io::Result<()> {
        too_deep(depth)?;
        for (name, is_dir) in self.entries()? {
            let name = OsStr::from_bytes(&name);
            if is_dir {
                let child = self.open_child(name)?;
                rustix::fs::fchown(&child.fd, Some(uid), Some(gid))?;
                child.chown_below(uid, gid, depth + 1)?;
            } else {
                rustix::fs::chownat(
                    &self.fd,
                    name,
                    Some(uid),
                    Some(gid),
                    AtFlags::SYMLINK_NOFOLLOW,
                )?;
            }
        }
        Ok(())
    }

    /// Removes `name` of this directory with everything below it; a link is
    /// removed itself, never followed. A missing `name` is `ENOENT`.
    pub fn remove_tree(&self, name: &OsStr) -> io::Result<()> {
        self.remove_below(name, 1)
    }

    fn remove_below(&self, name: &OsStr, depth: usize) -> io::Result<()> {
        match self.open_child(name) {
            Ok(child) => {
                too_deep(depth)?;
                for (entry, _) in child.entries()? {
                    child.remove_below(OsStr::from_bytes(&entry), depth + 1)?;
                }
                drop(child);
                Ok(rustix::fs::unlinkat(&self.fd, name, AtFlags::REMOVEDIR)?)
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTDIR | libc::ELOOP)) => {
                Ok(rustix::fs::unlinkat(&self.fd, name, AtFlags::empty())?)
            }
            Err(e) => Err(e),
        }
    }

    /// The names in this directory but `.` and `..`, each with whether it is a
    /// directory (not a link to one).
    fn entries(&self) -> io::Result<Vec<(Vec<u8>, bool)>> {
        let mut out = Vec::new();
        for entry in rustix::fs::Dir::read_from(&self.fd)? {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let is_dir = match entry.file_type() {
                FileType::Directory => true,
                FileType::Unknown => {
                    let st =
                        rustix::fs::statat(&self.fd, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW)?;
                    FileType::from_raw_mode(st.st_mode) == FileType::Directory
                }
                _ => false,
            };
            out.push((name.to_vec(), is_dir));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_refused_as_directories_and_removed_not_followed() {
        let base = std::env::temp_dir().join(format!("vigil-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("target/keep")).unwrap();
        std::fs::create_dir_all(base.join("tree/sub")).unwrap();
        std::os::unix::fs::symlink(base.join("target"), base.join("tree/link")).unwrap();
        std::os::unix::fs::symlink(base.join("target"), base.join("tree/sub/link")).unwrap();
        std::fs::write(base.join("tree/file"), "").unwrap();

        let dir = Dir::open(&base).unwrap();
        let tree = dir.open_child(OsStr::new("tree")).unwrap();
        let errno = |r: io::Result<Dir>| r.unwrap_err().raw_os_error();
        assert_eq!(
            errno(tree.open_child(OsStr::new("link"))),
            Some(libc::ELOOP)
        );
        assert_eq!(
            errno(tree.open_child(OsStr::new("file"))),
            Some(libc::ENOTDIR)
        );
        assert_eq!(
            errno(tree.create_child(OsStr::new("link"), 0o755).map(|(d, _)| d)),
            Some(libc::ELOOP)
        );
        let (made, created) = tree.create_child(OsStr::new("new"), 0o750).unwrap();
        assert!(created);
        assert_eq!(made.owner_and_mode().unwrap().2, 0o750);

        drop(tree);
        dir.remove_tree(OsStr::new("tree")).unwrap();
        assert!(!base.join("tree").exists());
        assert!(base.join("target/keep").is_dir(), "a link's target stays");

        // A tree deeper than MAX_DEPTH (a service may make one) is refused,
        // not walked down to the end of the manager's stack.
        let deep = base.join("deep");
        let mut at = Dir::open(&base)
            .unwrap()
            .create_child(OsStr::new("deep"), 0o755)
            .unwrap()
            .0;
        for _ in 0..MAX_DEPTH + 5 {
            at = at.create_child(OsStr::new("d"), 0o755).unwrap().0;
        }
        drop(at);
        let refused = dir.remove_tree(OsStr::new("deep")).unwrap_err();
        assert_eq!(refused.raw_os_error(), Some(libc::ELOOP));
        let (uid, gid) = (rustix::process::getuid(), rustix::process::getgid());
        let refused = Dir::open(&deep)
            .unwrap()
            .chown_tree(uid.as_raw(), gid.as_raw())
            .unwrap_err();
        assert_eq!(refused.raw_os_error(), Some(libc::ELOOP));
        std::process::Command::new("rm")
            .arg("-rf")
            .arg(&base)
            .status()
            .unwrap();
    }
}
