//! `/etc/machine-id`, as systemd's PID 1 sets it up at boot: an image made
//! to be copied (a cloud image, an mmdebstrap root) ships it empty, and the
//! first boot of each copy gives it an ID of its own. journald's directory,
//! dbus, DHCP client IDs and tmpfiles' `%m` are made from it.
//!
//! Valid: 32 hexadecimal digits (and a newline); systemd writes them
//! lowercase and reads either case. Anything else (missing, empty,
//! `uninitialized`) gets D-Bus's ID (`/var/lib/dbus/machine-id`, unless a
//! link: Debian's dbus links it to ours), or a random one, written to the file
//! when the root is writable; on a root still read-only it goes to
//! `/run/machine-id`, bind-mounted read-only over `/etc/machine-id`, and the
//! `--commit` run after the root is remounted read-write writes it to the
//! file (systemd-machine-id-commit does the same). Paths are under `root`.

use std::fs;
use std::io::{self, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use rustix::mount::{MountFlags, UnmountFlags, mount_bind, mount_remount, unmount};

/// The ID of a machine-id file's text, if it holds a valid one (lowercase:
/// an ID written in capitals, from a DMI UUID say, is the same ID).
pub fn valid(text: &str) -> Option<String> {
    let id = text.strip_suffix('\n').unwrap_or(text);
    let ok = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| id.to_ascii_lowercase())
}

/// D-Bus's own machine ID, which systemd takes first for a machine that
/// has none (an older system, or one whose /etc/machine-id was emptied):
/// the file itself, not a link (Debian's dbus links it to /etc/machine-id).
fn from_dbus(root: &Path) -> Option<String> {
    let path = root.join("var/lib/dbus/machine-id");
    if !fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
        return None;
    }
    valid(&fs::read_to_string(&path).ok()?)
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
    valid(&uuid.replace('-', ""))
}

/// When the file has no ID: D-Bus's, else `given` (a container's
/// `$container_uuid`), else a random one, as systemd chooses.
pub fn setup(root: &Path, given: Option<String>) -> io::Result<Setup> {
    let file = root.join("etc/machine-id");
    let text = fs::read_to_string(&file).unwrap_or_default();
    if let Some(id) = valid(&text) {
        return Ok(Setup::Kept(id));
    }
    let id = match from_dbus(root).or(given) {
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
    let id = valid(&text).ok_or_else(|| {
        io::Error::other(format!(
            "{}: the ID mounted over it is not valid",
            file.display()
        ))
    })?;
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
        let id = Some("0123456789abcdef0123456789abcdef".to_string());
        assert_eq!(valid("0123456789abcdef0123456789abcdef\n"), id);
        assert!(valid("0123456789abcdef0123456789abcdef").is_some());
        // Review finding: an ID in capitals was thrown away for a new one.
        assert_eq!(valid("0123456789ABCDEF0123456789abcdef\n"), id);
        for bad in [
            "",
            "\n",
            "uninitialized\n",
            "0123",
            "0123456789abcdef0123456789abcdeg",
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

    /// Review finding: an empty /etc/machine-id got a random ID where
    /// systemd takes D-Bus's own (a file, not Debian's link to ours), before
    /// a container's UUID.
    #[test]
    fn d_bus_s_id_comes_first() {
        let root = std::env::temp_dir().join(format!("vigil-machine-id-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::create_dir_all(root.join("var/lib/dbus")).unwrap();
        let dbus_id = "00112233445566778899AABBCCDDEEFF";
        fs::write(root.join("var/lib/dbus/machine-id"), format!("{dbus_id}\n")).unwrap();
        fs::write(root.join("etc/machine-id"), "").unwrap();
        let uuid = "ffeeddccbbaa99887766554433221100".to_string();
        let given = Some(uuid.clone());
        let want = dbus_id.to_ascii_lowercase();
        assert_eq!(
            setup(&root, given.clone()).unwrap(),
            Setup::Written(want.clone())
        );
        assert_eq!(
            fs::read_to_string(root.join("etc/machine-id")).unwrap(),
            format!("{want}\n")
        );
        // Kept from now on; a link in D-Bus's place is not read.
        assert_eq!(setup(&root, None).unwrap(), Setup::Kept(want));
        fs::remove_file(root.join("etc/machine-id")).unwrap();
        fs::write(root.join("etc/machine-id"), "").unwrap();
        fs::remove_file(root.join("var/lib/dbus/machine-id")).unwrap();
        std::os::unix::fs::symlink("/etc/machine-id", root.join("var/lib/dbus/machine-id"))
            .unwrap();
        let got = setup(&root, given).unwrap();
        assert_eq!(got, Setup::Written(uuid));
        let _ = fs::remove_dir_all(&root);
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
