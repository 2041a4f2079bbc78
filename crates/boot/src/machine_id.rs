//! `/etc/machine-id`, as systemd's PID 1 sets it up at boot: an image made
//! to be copied (a cloud image, an mmdebstrap root) ships it empty, and the
//! first boot of each copy gives it an ID of its own. journald's directory,
//! dbus, DHCP client IDs and tmpfiles' `%m` are made from it.
//!
//! Valid: 32 lowercase hexadecimal digits (and a newline). Anything else
//! (missing, empty, `uninitialized`) gets a random ID, written to the file
//! when the root is writable; on a root still read-only it goes to
//! `/run/machine-id`, bind-mounted read-only over `/etc/machine-id`, and the
//! `--commit` run after the root is remounted read-write writes it to the
//! file (systemd-machine-id-commit does the same). Paths are under `root`.

use std::fs;
use std::io::{self, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use rustix::mount::{MountFlags, UnmountFlags, mount_bind, mount_remount, unmount};

/// The ID of a machine-id file's text, if it holds a valid one.
pub fn valid(text: &str) -> Option<&str> {
    let id = text.strip_suffix('\n').unwrap_or(text);
    let ok = id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    ok.then_some(id)
}

/// A random ID, formatted as systemd makes them: a version 4 UUID's bits,
/// without dashes.
pub fn random() -> io::Result<String> {
    let mut b = [0u8; 16];
    fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// What `setup` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Setup {
    /// The file holds a valid ID already.
    Kept(String),
    /// A new ID, written to the file.
    Written(String),
    /// A new ID in `run/machine-id`, mounted over the read-only file.
    Mounted(String),
}

/// Writes the ID, synced (a crash must not leave an empty file behind).
fn write_id(path: &Path, id: &str) -> io::Result<()> {
    let mut file = fs::File::create(path)?;
    io::Write::write_all(&mut file, format!("{id}\n").as_bytes())?;
    file.sync_all()?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o444))
}

/// `e`, naming `path`.
fn at(path: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// The ID a container manager gives in `$container_uuid` (a UUID, with or without
/// dashes, any case), as systemd takes it for a container's new ID.
pub fn from_uuid(uuid: &str) -> Option<String> {
    let id = uuid.replace('-', "").to_ascii_lowercase();
    valid(&id).map(str::to_string)
}

/// `given`: the ID to use when the file has none (a container's
/// `$container_uuid`); a random one otherwise.
pub fn setup(root: &Path, given: Option<String>) -> io::Result<Setup> {
    let file = root.join("etc/machine-id");
    let text = fs::read_to_string(&file).unwrap_or_default();
    if let Some(id) = valid(&text) {
        return Ok(Setup::Kept(id.to_string()));
    }
    let id = match given {
        Some(id) => id,
        None => random().map_err(at(Path::new("/dev/urandom")))?,
    };
    match write_id(&file, &id) {
        Ok(()) => return Ok(Setup::Written(id)),
        // Read-only: the ID lives in /run until the root is writable.
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::ROFS.raw_os_error()) => {}
        Err(e) => return Err(at(&file)(e)),
    }
    if !file.exists() {
        return Err(io::Error::other(format!(
            "{}: the root is read-only and has no such file to mount the ID over",
            file.display()
        )));
    }
    let run = root.join("run/machine-id");
    write_id(&run, &id).map_err(at(&run))?;
    mount_bind(&run, &file).map_err(|e| at(&file)(e.into()))?;
    // Read-only, as the file it stands for.
    let flags = MountFlags::BIND | MountFlags::RDONLY;
    let _ = mount_remount(&file, flags, "");
    Ok(Setup::Mounted(id))
}

/// After the root went read-write: an ID mounted over `/etc/machine-id` is
/// written to the file itself. Ok(None) when there was nothing to commit (or
/// Debian's systemd-machine-id-commit did it first). Nothing is unmounted
/// while the root is still read-only, and a write that fails mounts the ID
/// back: it is never lost.
pub fn commit(root: &Path, mounted: bool) -> io::Result<Option<String>> {
    let file = root.join("etc/machine-id");
    if !mounted {
        return Ok(None);
    }
    let text = fs::read_to_string(&file).map_err(at(&file))?;
    let id = valid(&text)
        .ok_or_else(|| {
            io::Error::other(format!(
                "{}: the ID mounted over it is not valid",
                file.display()
            ))
        })?
        .to_string();
    // The file's own directory is on the root, not under the mount.
    let dir = file.parent().unwrap_or(Path::new("/"));
    if crate::fstab::is_read_only(dir) {
        return Err(io::Error::other(format!(
            "{}: still read-only: the ID stays mounted over {}",
            dir.display(),
            file.display()
        )));
    }
    match unmount(&file, UnmountFlags::empty()) {
        Ok(()) => {}
        // Unmounted meanwhile (systemd-machine-id-commit): done.
        Err(rustix::io::Errno::INVAL) => return Ok(None),
        Err(e) => return Err(at(&file)(e.into())),
    }
    if let Err(e) = write_id(&file, &id) {
        let run = root.join("run/machine-id");
        let _ = mount_bind(&run, &file);
        return Err(io::Error::new(
            e.kind(),
            format!("{}: {e} (the ID is mounted over it again)", file.display()),
        ));
    }
    Ok(Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_a_valid_id() {
        assert_eq!(
            valid("0123456789abcdef0123456789abcdef\n"),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert!(valid("0123456789abcdef0123456789abcdef").is_some());
        for bad in [
            "",
            "\n",
            "uninitialized\n",
            "0123456789ABCDEF0123456789abcdef",
            "0123",
        ] {
            assert!(valid(bad).is_none(), "{bad:?}");
        }
        let id = random().unwrap();
        assert!(valid(&id).is_some(), "{id}");
        // A version 4 UUID's bits.
        assert_eq!(&id[12..13], "4");
        assert!("89ab".contains(&id[16..17]), "{id}");
        assert_ne!(random().unwrap(), id);
    }

    #[test]
    fn a_container_uuid_is_an_id() {
        let want = Some("0123456789abcdef0123456789abcdef".to_string());
        assert_eq!(from_uuid("01234567-89AB-cdef-0123-456789abcdef"), want);
        assert_eq!(from_uuid("0123456789abcdef0123456789abcdef"), want);
        for bad in ["", "0123", "0123456789abcdef0123456789abcdeg", "x"] {
            assert_eq!(from_uuid(bad), None, "{bad:?}");
        }
    }
}
