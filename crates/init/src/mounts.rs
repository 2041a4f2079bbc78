//! The API filesystems a real boot needs before the manager starts, and the unmounting
//! of everything at the very end. Reads /proc/self/mountinfo into a fixed buffer. Never
//! runs in a container or when vigil-init is not PID 1 (the caller decides), and never
//! unmounts / (it is remounted read-only instead).

use core::ffi::CStr;

use rustix::fs::{Mode, OFlags};
use rustix::mount::{MountFlags as M, UnmountFlags, mount, mount_remount, unmount};

use crate::log::{self, Why, say, shout, show};
use crate::sys;

const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// Where, what, how, with which options; in mount order (a later one may live inside an
/// earlier one). /proc comes first and apart: finding out what is mounted needs it.
const API: [(&CStr, &CStr, M, &CStr); 6] = [
    (
        c"/sys",
        c"sysfs",
        M::NOSUID.union(M::NODEV).union(M::NOEXEC),
        c"",
    ),
    (c"/dev", c"devtmpfs", M::NOSUID, c"mode=755"),
    (
        c"/dev/pts",
        c"devpts",
        M::NOSUID.union(M::NOEXEC),
        c"gid=5,mode=620,ptmxmode=666",
    ),
    (
        c"/dev/shm",
        c"tmpfs",
        M::NOSUID.union(M::NODEV),
        c"mode=1777",
    ),
    (c"/run", c"tmpfs", M::NOSUID.union(M::NODEV), c"mode=755"),
    (
        c"/sys/fs/cgroup",
        c"cgroup2",
        M::NOSUID.union(M::NODEV).union(M::NOEXEC),
        c"",
    ),
];

/// Mounts /proc, /sys, /dev, /dev/pts, /dev/shm, /run and /sys/fs/cgroup where nothing is
/// mounted yet. A failure is reported and the boot goes on: the manager may cope.
pub fn mount_api_filesystems() {
    let proc = rustix::fs::statfs(c"/proc").is_ok_and(|s| s.f_type == PROC_SUPER_MAGIC);
    let noexec = M::NOSUID | M::NODEV | M::NOEXEC;
    let table = [(c"/proc", c"proc", noexec, c"")]
        .into_iter()
        .filter(|_| !proc);
    let mounted = mountinfo(sys::zeroed(MOUNTINFO));
    let mut present = [false; API.len()];
    for (point, _) in mounted {
        for (api, seen) in API.iter().zip(present.iter_mut()) {
            *seen |= point == api.0.to_bytes();
        }
    }
    let missing = API
        .into_iter()
        .zip(present)
        .filter(|(_, seen)| !seen)
        .map(|(api, _)| api);
    for (target, fstype, flags, data) in table.chain(missing) {
        let _ = rustix::fs::mkdir(target, Mode::from_bits_truncate(0o755));
        match mount(fstype, target, fstype, flags, data) {
            Ok(()) => say!(log::INFO, "mounted {} on {}", show(fstype), show(target)),
            Err(e) => shout!("cannot mount {}: {}", show(target), Why(e)),
        }
    }
}

/// Room for /proc/self/mountinfo.
const MOUNTINFO: usize = 65536;

/// Reads /proc/self/mountinfo into `buf` (a table beyond its size is cut) and returns the
/// (mount point, filesystem type) of each mount in the kernel's order: a mount comes after
/// the one it is mounted on. The mount point is still escaped (`\040` for a space).
fn mountinfo(buf: &mut [u8]) -> impl DoubleEndedIterator<Item = (&[u8], &[u8])> {
    let mut len = 0;
    let flags = OFlags::RDONLY | OFlags::CLOEXEC;
    if let Ok(fd) = rustix::fs::open(c"/proc/self/mountinfo", flags, Mode::empty()) {
        while let Some(room) = buf.get_mut(len..).filter(|r| !r.is_empty()) {
            match rustix::io::read(&fd, room) {
                Ok(0) | Err(_) => break,
                Ok(n) => len += n,
            }
        }
    }
    let text = buf.get(..len).unwrap_or_default();
    text.split(|&b| b == b'\n').filter_map(|line| {
        let mut fields = line.split(|&b| b == b' ');
        let point = fields.nth(4)?;
        // Optional fields end at a lone "-"; the filesystem type follows it.
        Some((point, fields.skip_while(|f| *f != b"-").nth(1)?))
    })
}

/// Undoes mountinfo's octal escapes (`\040`) into `out`, NUL-terminated.
fn unescape<'a>(point: &[u8], out: &'a mut [u8; 4096]) -> Option<&'a CStr> {
    let (mut len, mut i) = (0, 0);
    while let Some(&b) = point.get(i) {
        let octal = point
            .get(i.saturating_add(1)..i.saturating_add(4))
            .filter(|_| b == b'\\');
        let value = octal.and_then(|o| {
            o.iter().try_fold(0u8, |acc, d| match d {
                b'0'..=b'7' => acc.checked_mul(8)?.checked_add(d - b'0'),
                _ => None,
            })
        });
        *out.get_mut(len)? = value.unwrap_or(b);
        i = i.saturating_add(if value.is_some() { 4 } else { 1 });
        len = len.saturating_add(1);
    }
    *out.get_mut(len)? = 0;
    CStr::from_bytes_with_nul(out.get(..=len)?).ok()
}

/// Unmounts every filesystem, the last mounted first. What cannot be unmounted is
/// remounted read-only and detached; / is remounted read-only. /proc stays: it is how we
/// see what is left, and it holds no data.
pub fn unmount_all() {
    let mut target = [0u8; 4096];
    for (point, fstype) in mountinfo(sys::zeroed(MOUNTINFO)).rev() {
        let Some(path) =
            unescape(point, &mut target).filter(|_| point != b"/" && fstype != b"proc")
        else {
            continue;
        };
        let Err(e) = unmount(path, UnmountFlags::empty()) else {
            say!(log::INFO, "unmounted {}", show(path));
            continue;
        };
        let ro = mount_remount(path, M::RDONLY, c"");
        let _ = unmount(path, UnmountFlags::DETACH);
        match ro {
            Ok(()) => shout!("{} is busy ({}): remounted read-only", show(path), Why(e)),
            Err(ro) => {
                shout!(
                    "{}: cannot unmount ({}) nor remount ({})",
                    show(path),
                    Why(e),
                    Why(ro)
                )
            }
        }
    }
    match mount_remount(c"/", M::RDONLY, c"") {
        Ok(()) => say!(log::INFO, "remounted / read-only"),
        Err(e) => say!(log::WARNING, "cannot remount / read-only: {}", Why(e)),
    }
}
