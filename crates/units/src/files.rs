//! Reading the files a configuration names (unit files, drop-ins, YAML
//! service files, `EnvironmentFile=`, `PIDFile=`) without letting one of them
//! stall or swamp the manager that reads it: the open does not wait (that of
//! a FIFO waits for a writer, for ever if none comes), only a regular file is
//! read, and only up to a limit (a link to /dev/zero would fill the memory).
//! Also which entries of a directory are not read at all.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read as _};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::Path;

/// Reads `path`, at most `limit` bytes; also its metadata (owner, mode).
/// Anything but a regular file, or a longer one, is an error saying so.
pub fn read_regular(path: &Path, limit: u64) -> io::Result<(Vec<u8>, Metadata)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        let what = format!("not a regular file ({})", kind(&meta));
        return Err(io::Error::new(io::ErrorKind::InvalidInput, what));
    }
    let mut bytes = Vec::with_capacity(meta.len().clamp(64, 1 << 16) as usize);
    File::take(file, limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        let what = format!("larger than {}", size(limit));
        return Err(io::Error::new(io::ErrorKind::FileTooLarge, what));
    }
    Ok((bytes, meta))
}

fn kind(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    match () {
        _ if t.is_dir() => "a directory",
        _ if t.is_fifo() => "a FIFO",
        _ if t.is_socket() => "a socket",
        _ if t.is_char_device() => "a character device",
        _ if t.is_block_device() => "a block device",
        _ => "not a file",
    }
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// A directory entry no one meant as configuration, passed over as systemd's
/// hidden_or_backup_file() passes it: a hidden name (`.x`, also an editor's
/// lock file `.#x.yaml`), an editor backup (`x~`, `x.swp`, `x.bak`), what a
/// package manager leaves next to a file (`x.dpkg-old`, `x.rpmnew`,
/// `x.ucf-dist`...), `lost+found` and the quota files. Unit directories, their
/// drop-in and `.wants/` directories, generator directories and
/// `ConditionDirectoryNotEmpty=` all use it.
pub fn hidden_or_backup(name: &str) -> bool {
    // systemd's list, which it means to keep closed (new tools are to use
    // `~`, `.bak` or a leading dot), with `ignore`, which later versions added.
    const LEFT_BEHIND: [&str; 18] = [
        "ignore",
        "rpmnew",
        "rpmsave",
        "rpmorig",
        "dpkg-old",
        "dpkg-new",
        "dpkg-tmp",
        "dpkg-dist",
        "dpkg-bak",
        "dpkg-backup",
        "dpkg-remove",
        "ucf-new",
        "ucf-old",
        "ucf-dist",
        "swp",
        "bak",
        "old",
        "new",
    ];
    name.starts_with('.')
        || name.ends_with('~')
        || matches!(name, "lost+found" | "aquota.user" | "aquota.group")
        || name
            .rsplit_once('.')
            .is_some_and(|(_, suffix)| LEFT_BEHIND.contains(&suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("vigil-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_regular_file_is_read_whole_up_to_the_limit() {
        let dir = scratch("regular");
        let path = dir.join("f");
        std::fs::write(&path, "12345").unwrap();
        assert_eq!(read_regular(&path, 5).unwrap().0, b"12345");
        let err = read_regular(&path, 4).unwrap_err();
        assert_eq!(err.to_string(), "larger than 4 bytes");
    }

    #[test]
    fn a_fifo_is_refused_at_once_and_a_device_is_not_read() {
        let dir = scratch("fifo");
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        // No writer: a blocking open would wait here for ever.
        let err = read_regular(&fifo, 100).unwrap_err();
        assert_eq!(err.to_string(), "not a regular file (a FIFO)");
        let err = read_regular(Path::new("/dev/zero"), 100).unwrap_err();
        assert_eq!(err.to_string(), "not a regular file (a character device)");
        let err = read_regular(&dir, 100).unwrap_err();
        assert_eq!(err.to_string(), "not a regular file (a directory)");
    }
}
