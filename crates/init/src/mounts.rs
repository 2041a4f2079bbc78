//! The API filesystems a real boot needs before the manager starts, and the unmounting
//! of everything at the very end. Reads /proc/self/mountinfo into a fixed buffer. Never
//! runs in a container or when vigil-init is not PID 1 (the caller decides), and never
//! unmounts / (it is remounted read-only instead).

use core::ffi::CStr;

use crate::log::{self, say, shout};
use crate::sys::{self, MNT_DETACH, MS_NODEV, MS_NOEXEC, MS_NOSUID};

const PROC_SUPER_MAGIC: i64 = 0x9fa0;

struct ApiFs {
    target: &'static CStr,
    fstype: &'static CStr,
    flags: u64,
    data: &'static CStr,
}

const NOSUID_NODEV: u64 = MS_NOSUID | MS_NODEV;
const NOSUID_NODEV_NOEXEC: u64 = NOSUID_NODEV | MS_NOEXEC;

/// In mount order: a later entry may live inside an earlier one. /proc comes first and
/// apart, because finding out what is mounted needs it.
const API: [ApiFs; 6] = [
    ApiFs {
        target: c"/sys",
        fstype: c"sysfs",
        flags: NOSUID_NODEV_NOEXEC,
        data: c"",
    },
    ApiFs {
        target: c"/dev",
        fstype: c"devtmpfs",
        flags: MS_NOSUID,
        data: c"mode=755",
    },
    ApiFs {
        target: c"/dev/pts",
        fstype: c"devpts",
        flags: MS_NOSUID | MS_NOEXEC,
        data: c"gid=5,mode=620,ptmxmode=666",
    },
    ApiFs {
        target: c"/dev/shm",
        fstype: c"tmpfs",
        flags: NOSUID_NODEV,
        data: c"mode=1777",
    },
    ApiFs {
        target: c"/run",
        fstype: c"tmpfs",
        flags: NOSUID_NODEV,
        data: c"mode=755",
    },
    ApiFs {
        target: c"/sys/fs/cgroup",
        fstype: c"cgroup2",
        flags: NOSUID_NODEV_NOEXEC,
        data: c"",
    },
];

/// Mounts /proc, /sys, /dev, /dev/pts, /dev/shm, /run and /sys/fs/cgroup where nothing is
/// mounted yet. A failure is reported and the boot goes on: the manager may cope.
pub fn mount_api_filesystems() {
    let proc_ok = sys::fs_type(c"/proc") == Some(PROC_SUPER_MAGIC);
    if !proc_ok {
        mount_one(c"/proc", c"proc", NOSUID_NODEV_NOEXEC, c"");
    }
    let mut present = [false; API.len()];
    for mount in mountinfo(sys::zeroed(MOUNTINFO)) {
        for (api, seen) in API.iter().zip(present.iter_mut()) {
            *seen |= mount.point == api.target.to_bytes();
        }
    }
    for (api, seen) in API.iter().zip(present) {
        if !seen {
            mount_one(api.target, api.fstype, api.flags, api.data);
        }
    }
}

fn mount_one(target: &CStr, fstype: &CStr, flags: u64, data: &CStr) {
    sys::mkdir(target);
    match sys::mount(fstype, target, fstype, flags, data) {
        Ok(_) => say!(log::INFO, "mounted ", fstype, " on ", target),
        Err(e) => shout!("cannot mount ", target, ": ", e),
    }
}

/// One line of /proc/self/mountinfo; `point` is still escaped (`\040` for a space).
struct MountLine<'a> {
    point: &'a [u8],
    fstype: &'a [u8],
}

fn parse_line(line: &[u8]) -> Option<MountLine<'_>> {
    let mut fields = line.split(|&b| b == b' ');
    let point = fields.nth(4)?;
    // Optional fields end at a lone "-"; the filesystem type follows it.
    let fstype = fields.skip_while(|f| *f != b"-").nth(1)?;
    Some(MountLine { point, fstype })
}

/// Room for /proc/self/mountinfo.
const MOUNTINFO: usize = 65536;

/// Reads /proc/self/mountinfo into `buf` (a table beyond its size is cut) and returns the
/// mounts in the kernel's order: a mount comes after the one it is mounted on.
fn mountinfo(buf: &mut [u8]) -> impl DoubleEndedIterator<Item = MountLine<'_>> {
    let mut len = 0;
    if let Ok(fd) = sys::open(c"/proc/self/mountinfo", sys::O_RDONLY) {
        while let Some(room) = buf.get_mut(len..).filter(|r| !r.is_empty()) {
            match sys::read(fd.raw(), room) {
                Ok(0) | Err(_) => break,
                Ok(n) => len += n,
            }
        }
    }
    let text = buf.get(..len).map_or(&[][..], |t| t);
    text.split(|&b| b == b'\n').filter_map(parse_line)
}

/// Undoes mountinfo's octal escapes (`\040`) into `out`, NUL-terminated.
fn unescape<'a>(point: &[u8], out: &'a mut [u8; 4096]) -> Option<&'a CStr> {
    let mut len = 0;
    let mut i = 0;
    while let Some(&b) = point.get(i) {
        let octal = point.get(i.saturating_add(1)..i.saturating_add(4));
        let value = octal.filter(|_| b == b'\\').and_then(|o| {
            o.iter().try_fold(0u8, |acc, d| match d {
                b'0'..=b'7' => acc.checked_mul(8)?.checked_add(d - b'0'),
                _ => None,
            })
        });
        *out.get_mut(len)? = value.map_or(b, |v| v);
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
    for mount in mountinfo(sys::zeroed(MOUNTINFO)).rev() {
        if mount.point != b"/"
            && mount.fstype != b"proc"
            && let Some(path) = unescape(mount.point, &mut target)
        {
            unmount_one(path);
        }
    }
    match sys::remount_ro(c"/") {
        Ok(_) => say!(log::INFO, "remounted / read-only"),
        Err(e) => say!(log::WARNING, "cannot remount / read-only: ", e),
    }
}

/// Unmounts `path`, or failing that remounts it read-only and detaches it.
fn unmount_one(path: &CStr) {
    let Err(e) = sys::umount(path, 0) else {
        return say!(log::INFO, "unmounted ", path);
    };
    let ro = sys::remount_ro(path);
    let _ = sys::umount(path, MNT_DETACH);
    match ro {
        Ok(_) => shout!(path, " is busy (", e, "): remounted read-only"),
        Err(ro) => shout!(path, ": cannot unmount (", e, ") nor remount (", ro, ")"),
    }
}
