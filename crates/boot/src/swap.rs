//! The swap areas of `/etc/fstab` (type `swap`): `vigil-boot swap` activates
//! them with swapon(2), as systemd's swap units do through swapon(8);
//! `swap --off`, the unit's stop, deactivates those that are active, so that
//! the file system holding a swap file can be unmounted at the shutdown (an
//! active swap file keeps it busy, and even its read-only remount is refused).
//! Reading the options is pure; `prepare` and `active` touch the system, and
//! swapon(2) and swapoff(2) are vigil-platform's.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileExt as _, FileTypeExt as _, MetadataExt as _};
use std::path::Path;

use crate::fstab::{Entry, unescape};

use vigil_platform::swap::{
    SWAP_FLAG_DISCARD as DISCARD, SWAP_FLAG_DISCARD_ONCE as DISCARD_ONCE,
    SWAP_FLAG_DISCARD_PAGES as DISCARD_PAGES, SWAP_FLAG_PREFER as PREFER,
    SWAP_FLAG_PRIO_MASK as PRIO_MASK,
};
pub use vigil_platform::swap::{swapoff, swapon};

/// One swap area of fstab and how swapon(2) is to be called for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swap {
    pub entry: Entry,
    /// `pri=N`, 0 to 32767; none leaves the kernel to choose.
    pub priority: Option<i32>,
    /// `discard`, `discard=once` or `discard=pages`.
    pub discard: Option<Discard>,
}

/// What `discard` asks for: freed pages and the whole area at activation,
/// or only one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discard {
    All,
    Once,
    Pages,
}

impl Swap {
    pub fn flags(&self) -> i32 {
        let priority = self.priority.map_or(0, |p| PREFER | (p & PRIO_MASK));
        let discard = match self.discard {
            Some(Discard::All) => DISCARD,
            Some(Discard::Once) => DISCARD | DISCARD_ONCE,
            Some(Discard::Pages) => DISCARD | DISCARD_PAGES,
            None => 0,
        };
        priority | discard
    }

    /// `swapon SOURCE [priority=N] [discard[=POLICY]]`, as `--dry-run` prints it.
    pub fn describe(&self) -> String {
        let mut line = format!("swapon {}", self.entry.source);
        if let Some(p) = self.priority {
            line.push_str(&format!(" priority={p}"));
        }
        line.push_str(match self.discard {
            Some(Discard::All) => " discard",
            Some(Discard::Once) => " discard=once",
            Some(Discard::Pages) => " discard=pages",
            None => "",
        });
        line
    }
}

/// The swap entries of fstab, in file order, with the warnings their
/// options give (`FILE:LINE: ...`). As swapon(8) reads them: a priority
/// above 32767 is 32767, below -1 the kernel's choice; `discard=` with a
/// policy it does not know is `discard`; a priority that is not a number is
/// left out. Options other than `pri=`, `discard`, `nofail`,
/// `noauto` and `x-systemd.device-timeout=` (`sw`, `defaults`) mean nothing
/// for swap and are passed over, as swapon(8) passes them over.
pub fn swaps(entries: Vec<Entry>) -> (Vec<Swap>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut out = Vec::new();
    for entry in entries.into_iter().filter(|e| e.fstype == "swap") {
        let at = entry.at();
        let (mut priority, mut discard) = (None, None);
        for opt in entry.written_options.split(',') {
            match opt.split_once('=') {
                Some(("pri", n)) => match n.parse::<i64>() {
                    Ok(p @ 0..=32767) => priority = Some(p as i32),
                    Ok(p) if p > 32767 => {
                        priority = Some(32767);
                        warnings.push(format!(
                            "{at}: pri={n}: the highest priority is 32767: 32767"
                        ));
                    }
                    Ok(-1) => priority = None,
                    Ok(_) => {
                        priority = None;
                        warnings.push(format!("{at}: pri={n}: below -1: the kernel's choice"));
                    }
                    Err(_) => warnings.push(format!(
                        "{at}: pri={n}: not a number (-1, the kernel's choice, to 32767): left out"
                    )),
                },
                Some(("discard", "once")) => discard = Some(Discard::Once),
                Some(("discard", "pages")) => discard = Some(Discard::Pages),
                Some(("discard", policy)) => {
                    discard = Some(Discard::All);
                    warnings.push(format!(
                        "{at}: discard={policy}: the policies are once and pages: plain discard"
                    ));
                }
                None if opt == "discard" => discard = Some(Discard::All),
                _ => {}
            }
        }
        warnings.extend(
            entry
                .options
                .unreadable
                .iter()
                .map(|m| format!("{at}: {m}")),
        );
        out.push(Swap {
            entry,
            priority,
            discard,
        });
    }
    (out, warnings)
}

/// What identifies a swap area whatever path names it: a block device's
/// number, or a file's device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    Device(u64),
    File(u64, u64),
}

pub fn identity(path: &Path) -> Option<Identity> {
    let meta = fs::metadata(path).ok()?;
    Some(if meta.file_type().is_block_device() {
        Identity::Device(meta.rdev())
    } else {
        Identity::File(meta.dev(), meta.ino())
    })
}

/// The paths of `/proc/swaps` (its first column, octal escapes decoded)
/// after the header line, each with its type (`partition`, `file`).
pub fn parse_proc_swaps(text: &str) -> Vec<(String, String)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut fields = l.split_whitespace();
            let path = unescape(fields.next()?)?;
            Some((path, fields.next()?.to_string()))
        })
        .collect()
}

/// An active swap area: its path in `/proc/swaps`, its identity, and
/// whether it is a file (which keeps its file system busy).
#[derive(Debug, Clone)]
pub struct Active {
    pub path: String,
    pub id: Identity,
    pub file: bool,
}

/// The active swap areas of `/proc/swaps` (a deleted file has no identity
/// and is left out).
pub fn active() -> io::Result<Vec<Active>> {
    let text = fs::read_to_string("/proc/swaps")?;
    Ok(parse_proc_swaps(&text)
        .into_iter()
        .filter_map(|(path, kind)| {
            let id = identity(Path::new(&path))?;
            Some(Active {
                path,
                id,
                file: kind == "file",
            })
        })
        .collect())
}

/// The active area that `source` names (by identity, whatever path).
pub fn find<'a>(active: &'a [Active], source: &str) -> Option<&'a Active> {
    let id = identity(Path::new(source))?;
    active.iter().find(|a| a.id == id)
}

/// The signatures a hibernation image leaves in place of the swap signature
/// (swsusp's and uswsusp's), which swapon(8) replaces: an image the
/// initramfs did not resume is stale by the time vigil runs, and resuming it
/// later would undo every write since.
const HIBERNATION: [&[u8; 10]; 4] = [
    b"S1SUSPEND\0",
    b"S2SUSPEND\0",
    b"ULSUSPEND\0",
    b"LINHIB0001",
];
const SIGNATURE: &[u8; 10] = b"SWAPSPACE2";

/// What `prepare` found or did, to be said.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    Ok,
    /// The hibernation signature it replaced.
    Rewritten(String),
}

/// The page sizes an area may have been made for (swapon(8) looks for the
/// signature at the end of each).
const PAGE_SIZES: [usize; 5] = [4096, 8192, 16384, 32768, 65536];

/// Checks the area before swapon(2), as swapon(8) does: the swap signature
/// at the end of the first page (a hibernation image's is replaced; no
/// signature at all, or one made for another page size, is an error saying
/// how to make one); permissions that let others at it (group too, for a
/// file; set-id and sticky bits) and a file not owned by root are warned
/// about (`warn`): its pages are every process's memory.
pub fn prepare(source: &str, page: usize, warn: &mut dyn FnMut(String)) -> io::Result<Checked> {
    let file = File::open(source)?;
    let meta = file.metadata()?;
    let mode = meta.mode() & 0o7777;
    let mask = if meta.file_type().is_block_device() {
        0o7007
    } else {
        0o7077
    };
    if mode & mask != 0 {
        warn(format!(
            "{source} has insecure permissions {mode:04o}: `chmod {:04o} {source}` is suggested",
            mode & !mask
        ));
    }
    if meta.is_file() && meta.uid() != 0 {
        warn(format!(
            "{source} is owned by uid {}: `chown 0:0 {source}` is suggested",
            meta.uid()
        ));
    }
    let offset = page.saturating_sub(SIGNATURE.len()) as u64;
    let mut found = [0u8; 10];
    file.read_exact_at(&mut found, offset).map_err(|e| {
        let short = e.kind() == io::ErrorKind::UnexpectedEof;
        if short {
            io::Error::other("too small for a swap area (less than a page)")
        } else {
            e
        }
    })?;
    if &found == SIGNATURE {
        return Ok(Checked::Ok);
    }
    if !HIBERNATION.contains(&&found) {
        let signed = |size: &&usize| {
            let mut at = [0u8; 10];
            let offset = (**size - SIGNATURE.len()) as u64;
            file.read_exact_at(&mut at, offset).is_ok() && &at == SIGNATURE
        };
        let mkswap = format!("`mkswap {source}` makes one; it erases what is there");
        return Err(io::Error::other(
            match PAGE_SIZES.iter().filter(|&&s| s != page).find(signed) {
                Some(size) => format!(
                    "made for a page size of {size} bytes, and this system's is {page} ({mkswap})"
                ),
                None => format!("no swap signature ({mkswap})"),
            },
        ));
    }
    let image = String::from_utf8_lossy(&found)
        .trim_end_matches('\0')
        .to_string();
    let rw = fs::OpenOptions::new().write(true).open(source)?;
    rw.write_all_at(SIGNATURE, offset)?;
    rw.sync_all()?;
    Ok(Checked::Rewritten(image))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fstab::parse;

    fn swaps_of(text: &str) -> (Vec<Swap>, Vec<String>) {
        let (entries, _) = parse(Path::new("/etc/fstab"), text);
        swaps(entries)
    }

    #[test]
    fn only_swap_entries_with_their_priority_and_discard() {
        let (s, warnings) = swaps_of(
            "/dev/sda1 / ext4 defaults 0 1\n\
             UUID=ab-cd none swap sw,pri=5 0 0\n\
             /swapfile none swap defaults,discard=once,nofail\n\
             /dev/sdb2 swap swap pri=32767,discard,noauto 0 0\n\
             /dev/sdc2 none swap pri=-1,discard=pages\n",
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        let lines: Vec<_> = s.iter().map(Swap::describe).collect();
        assert_eq!(
            lines,
            [
                "swapon /dev/disk/by-uuid/ab-cd priority=5",
                "swapon /swapfile discard=once",
                "swapon /dev/sdb2 priority=32767 discard",
                "swapon /dev/sdc2 discard=pages",
            ]
        );
        assert_eq!(s[0].flags(), PREFER | 5);
        assert_eq!(s[1].flags(), DISCARD | DISCARD_ONCE);
        assert_eq!(s[2].flags(), PREFER | 32767 | DISCARD);
        assert_eq!(s[3].flags(), DISCARD | DISCARD_PAGES);
        assert!(s[1].entry.options.nofail && s[2].entry.options.noauto);
    }

    #[test]
    fn unreadable_options_are_left_out_with_a_warning_naming_the_line() {
        let (s, warnings) = swaps_of(
            "/dev/sda2 none swap pri=40000,discard=some\n\
             /dev/sda3 none swap pri=high,x-systemd.device-timeout=soon\n",
        );
        assert_eq!(s[0].flags(), PREFER | 32767 | DISCARD);
        assert_eq!(s[1].flags(), 0);
        assert_eq!(warnings.len(), 4, "{warnings:?}");
        assert!(warnings[0].starts_with("/etc/fstab:1: pri=40000: "));
        assert!(warnings[1].starts_with("/etc/fstab:1: discard=some: "));
        assert!(warnings[2].starts_with("/etc/fstab:2: pri=high: "));
        assert!(warnings[3].starts_with("/etc/fstab:2: x-systemd.device-timeout"));
    }

    #[test]
    fn proc_swaps_paths_are_unescaped() {
        let text = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n\
                    /dev/sda2                               partition\t1048572\t\t0\t\t-2\n\
                    /mnt/my\\040swap                        file\t\t1020\t\t0\t\t5\n";
        let parsed = parse_proc_swaps(text);
        assert_eq!(
            parsed[0],
            ("/dev/sda2".to_string(), "partition".to_string())
        );
        assert_eq!(parsed[1], ("/mnt/my swap".to_string(), "file".to_string()));
        assert_eq!(parsed.len(), 2);
    }

    fn area(dir: &Path, page: usize, magic: &[u8]) -> String {
        let path = dir.join("area");
        let mut bytes = vec![0xffu8; page * 2];
        bytes[page - 10..page].copy_from_slice(magic);
        fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_string()
    }

    fn tempdir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("vigil-swap-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_hibernation_signature_is_replaced_and_none_is_an_error() {
        let dir = tempdir("sig");
        let mut warned = Vec::new();
        let mut warn = |w: String| warned.push(w);
        let ok = area(&dir, 4096, SIGNATURE);
        assert_eq!(prepare(&ok, 4096, &mut warn).unwrap(), Checked::Ok);
        let image = area(&dir, 4096, b"S1SUSPEND\0");
        assert_eq!(
            prepare(&image, 4096, &mut warn).unwrap(),
            Checked::Rewritten("S1SUSPEND".into())
        );
        assert_eq!(&fs::read(&image).unwrap()[4086..4096], SIGNATURE);
        let none = area(&dir, 4096, b"ext4 stuff");
        let e = prepare(&none, 4096, &mut warn).unwrap_err();
        assert!(e.to_string().contains("no swap signature (`mkswap "), "{e}");
        assert_eq!(&fs::read(&none).unwrap()[4086..4096], b"ext4 stuff");
        let e = prepare(&none, 1 << 20, &mut warn).unwrap_err();
        assert!(e.to_string().contains("too small"), "{e}");
        // Made on a machine with 16 KiB pages.
        let big = area(&dir, 16384, SIGNATURE);
        let e = prepare(&big, 4096, &mut warn).unwrap_err();
        let size = "made for a page size of 16384 bytes, and this system's is 4096";
        assert!(e.to_string().contains(size), "{e}");
        let e = prepare(&dir.join("missing").to_string_lossy(), 4096, &mut warn).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_swap_file_others_may_read_is_warned_about() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempdir("perm");
        let file = area(&dir, 4096, SIGNATURE);
        let mut warned = Vec::new();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
        prepare(&file, 4096, &mut |w| warned.push(w)).unwrap();
        let uid = fs::metadata(&file).unwrap().uid();
        assert_eq!(warned.len(), usize::from(uid != 0), "{warned:?}");
        warned.clear();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        prepare(&file, 4096, &mut |w| warned.push(w)).unwrap();
        assert!(
            warned[0].contains("insecure permissions 0644: `chmod 0600 "),
            "{warned:?}"
        );
        warned.clear();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o4600)).unwrap();
        prepare(&file, 4096, &mut |w| warned.push(w)).unwrap();
        assert!(
            warned[0].contains("insecure permissions 4600"),
            "{warned:?}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
