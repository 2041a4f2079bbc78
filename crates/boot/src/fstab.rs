//! `/etc/fstab`: parsing entries, mapping mount options to mount(2) flags
//! and data, planning (what to skip, parents before children) and mounting.
//! Parsing and planning are pure; only `mount_entry` and `unmount` touch the
//! system. It unmounts only the network file systems, at their unit's stop,
//! and leaves swap to swap.rs. Entries for `/` and for
//! already-mounted API file systems become remounts, as systemd-remount-fs
//! makes them: the root is often mounted read-only by the kernel or initramfs
//! and fstab says how it should be.

use std::ffi::CString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::mount::{MountFlags, MountPropagationFlags};
use vigil_units::value::{ValueError, parse_timespan};

#[derive(Debug, thiserror::Error)]
pub enum FstabError {
    #[error("{path}:{line}: {reason}")]
    Parse {
        path: PathBuf,
        line: usize,
        reason: &'static str,
    },
    /// An option whose value cannot be read: the entry is still mounted.
    #[error("{path}:{line}: {message}")]
    Option {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A mount point an earlier entry mounts already: this one is ignored.
    #[error(
        "{path}:{line}: {target} is line {first}'s mount point too: this entry is ignored (systemd's fstab generator also ignores a duplicate)"
    )]
    Duplicate {
        path: PathBuf,
        line: usize,
        target: String,
        first: usize,
    },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}:{line}: cannot create mount point {target}: {source}")]
    MountPoint {
        path: PathBuf,
        line: usize,
        target: String,
        source: io::Error,
    },
    #[error(
        "{path}:{line}: not mounting {target}: it needs {needed}, which is not mounted (line {needed_line})"
    )]
    NeedsFailed {
        path: PathBuf,
        line: usize,
        target: String,
        needed: String,
        needed_line: usize,
    },
    #[error("{path}:{line}: cannot mount {source_name} on {target}: {source}")]
    Mount {
        path: PathBuf,
        line: usize,
        source_name: String,
        target: String,
        source: io::Error,
    },
    #[error("{path}:{line}: not mounting {target}: {reason}")]
    Fsck {
        path: PathBuf,
        line: usize,
        target: String,
        reason: String,
    },
    #[error("{path}:{line}: cannot remount {target}: {source}")]
    Remount {
        path: PathBuf,
        line: usize,
        target: String,
        source: io::Error,
    },
}

/// How the entry is to be mounted, from its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A new mount of a file system.
    New,
    /// `bind`, or `rbind` (recursive).
    Bind { recursive: bool },
    /// `remount`: change flags of what is already mounted there.
    Remount,
    /// `bind,remount`: change only the per-mount flags (`ro`, `nosuid`,
    /// `nodev`, `noexec`, atime) of that one mount, as mount(8) does with
    /// MS_BIND|MS_REMOUNT. A plain remount would change the file system
    /// itself, so every other mount of it too (a `bind,remount,ro` of one
    /// bind mount would make the whole disk read-only).
    BindRemount,
}

impl Kind {
    /// Whether the entry changes a mount that is already there instead of
    /// making one.
    pub fn is_remount(self) -> bool {
        matches!(self, Kind::Remount | Kind::BindRemount)
    }
}

/// Options turned into what mount(2) takes, plus the fstab-only ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub kind: Kind,
    pub flags: MountFlags,
    /// Flags an option cleared by name (`rw`, `suid`, `dev`, `exec`...): a
    /// remount keeps the others the mount has.
    pub cleared: MountFlags,
    /// Options the kernel's file system gets as its data string.
    pub data: String,
    /// `shared`, `rprivate`...: applied by a mount(2) of its own after the
    /// mount, since the kernel takes no other flag with them.
    pub propagation: Option<MountPropagationFlags>,
    pub nofail: bool,
    pub noauto: bool,
    /// `_netdev`: the file system needs the network.
    pub netdev: bool,
    /// `x-systemd.device-timeout=`: how long to wait for the device node.
    pub device_timeout: Option<Duration>,
    /// `loop` or `loop=`: the source is an image to set up a loop device for.
    pub loop_device: bool,
    /// `x-systemd.requires-mounts-for=`, and `x-systemd.requires=` with a
    /// path: absolute paths whose file systems are mounted first (an
    /// overlay's `upperdir` on another entry's disk), and without which this
    /// one is not mounted.
    pub requires_mounts_for: Vec<String>,
    /// `x-systemd.after=` with a path, `x-systemd.wants-mounts-for=`: the
    /// file systems holding these paths are mounted first (or tried: their
    /// failure does not stop this one).
    pub after_mounts: Vec<String>,
    /// `x-systemd.before=` with a path: the entry mounted there waits for
    /// this one.
    pub before_mounts: Vec<String>,
    /// Options whose value could not be read, each with why: they are left
    /// out (the default applies) and reported as warnings naming FILE:LINE.
    pub unreadable: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    pub line: usize,
    pub source: String,
    pub target: String,
    pub fstype: String,
    pub options: Options,
    /// The options field as written, for mount(8) when it does the mount.
    pub written_options: String,
    /// The sixth field: not 0, the file system is checked before it is
    /// mounted (fsck.rs).
    pub pass: i64,
    /// The source when it is a path (a bind source, a loop image, a device
    /// node), with its symlinks resolved once the plan is made, as the
    /// mount point's are: what decides which mount holds it. The mount
    /// itself is given `source` as written.
    pub source_path: Option<String>,
}

impl Entry {
    /// `FILE:LINE` of the entry, for messages.
    pub fn at(&self) -> String {
        format!("{}:{}", self.path.display(), self.line)
    }
}

/// What the plan does with an entry, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Mount(Entry),
    Skip { entry: Entry, reason: &'static str },
}

/// MS_I_VERSION, which rustix does not name: the file system counts
/// changes of each inode (for NFS and IMA).
const I_VERSION: MountFlags = MountFlags::from_bits_retain(1 << 23);

/// Flags by option name, in the order dry-run prints them. mount(8) maps
/// `iversion` and `silent` to flags too: as data the kernel refuses them.
const FLAG_NAMES: [(&str, MountFlags); 14] = [
    ("ro", MountFlags::RDONLY),
    ("nosuid", MountFlags::NOSUID),
    ("nodev", MountFlags::NODEV),
    ("noexec", MountFlags::NOEXEC),
    ("noatime", MountFlags::NOATIME),
    ("relatime", MountFlags::RELATIME),
    ("strictatime", MountFlags::STRICTATIME),
    ("nodiratime", MountFlags::NODIRATIME),
    ("sync", MountFlags::SYNCHRONOUS),
    ("dirsync", MountFlags::DIRSYNC),
    ("lazytime", MountFlags::LAZYTIME),
    ("nosymfollow", MountFlags::NOSYMFOLLOW),
    ("iversion", I_VERSION),
    ("silent", MountFlags::SILENT),
];

/// Options that clear a flag.
const CLEAR_NAMES: [(&str, MountFlags); 13] = [
    ("rw", MountFlags::RDONLY),
    ("suid", MountFlags::NOSUID),
    ("dev", MountFlags::NODEV),
    ("exec", MountFlags::NOEXEC),
    ("atime", MountFlags::NOATIME),
    ("diratime", MountFlags::NODIRATIME),
    ("async", MountFlags::SYNCHRONOUS),
    ("norelatime", MountFlags::RELATIME),
    ("nostrictatime", MountFlags::STRICTATIME),
    ("nolazytime", MountFlags::LAZYTIME),
    ("symfollow", MountFlags::NOSYMFOLLOW),
    ("noiversion", I_VERSION),
    ("loud", MountFlags::SILENT),
];

const SHARED: MountPropagationFlags = MountPropagationFlags::SHARED;
const PRIVATE: MountPropagationFlags = MountPropagationFlags::PRIVATE;
const SLAVE: MountPropagationFlags = MountPropagationFlags::DOWNSTREAM;
const UNBINDABLE: MountPropagationFlags = MountPropagationFlags::UNBINDABLE;
const REC: MountPropagationFlags = MountPropagationFlags::REC;

/// Propagation options; the `r` forms apply to the mounts below too.
const PROPAGATION_NAMES: [(&str, MountPropagationFlags); 8] = [
    ("shared", SHARED),
    ("rshared", SHARED.union(REC)),
    ("private", PRIVATE),
    ("rprivate", PRIVATE.union(REC)),
    ("slave", SLAVE),
    ("rslave", SLAVE.union(REC)),
    ("unbindable", UNBINDABLE),
    ("runbindable", UNBINDABLE.union(REC)),
];

/// Options meant for mount(8) and fstab readers, never for the kernel
/// (libmount's userspace options), beyond those `map_options` reads itself
/// (`nofail`, `noauto`, `_netdev`, `loop`, `x-systemd.device-timeout=`).
fn userspace_only(o: &str) -> bool {
    const NAMES: [&str; 10] = [
        "defaults", "auto", "user", "nouser", "users", "nousers", "owner", "noowner", "group",
        "nogroup",
    ];
    const WITH_VALUE: [&str; 6] = [
        "user=",
        "offset=",
        "sizelimit=",
        "helper=",
        "uhelper=",
        "comment=",
    ];
    // util-linux documents `X-mount.mkdir`, systemd `x-systemd.*`.
    let extension = o.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("x-"));
    extension || NAMES.contains(&o) || WITH_VALUE.iter().any(|p| o.starts_with(p))
}

/// `x-systemd.*` options that change nothing vigil does: said of no entry.
/// The others vigil does not read are warned about (`x-systemd.idle-timeout=`:
/// an automount's, which vigil has not).
const IGNORED_SYSTEMD: [&str; 1] = ["x-systemd.rw-only"];

/// `x-systemd.device-timeout=`: a systemd time span (systemd.time(7), the
/// parser unit files use: `90`, `1min30s`, `2minutes`, `1.5s`). `0` or
/// `infinity` wait for ever, as systemd's fstab generator reads it
/// (parse_sec_fix_0); a span too large to count is as long as it gets.
fn device_timeout(text: &str) -> Result<Duration, ValueError> {
    match parse_timespan(text) {
        Ok(Some(d)) if !d.is_zero() => Ok(d),
        Ok(_) | Err(ValueError::TimeSpanOverflow { .. }) => Ok(Duration::MAX),
        Err(e) => Err(e),
    }
}

/// How long a mount waits for its device node: `x-systemd.device-timeout=`, by
/// default 90 s as systemd's, for a disk that comes after the boot began (USB,
/// a RAID assembled, a LUKS volume opened) and its /dev/disk/by-* link. A
/// `nofail` entry waits as long, but without holding the boot (main.rs).
pub const DEVICE_TIMEOUT: Duration = Duration::from_secs(90);

/// The device node a new mount waits for, if it has one that is not there yet.
pub fn missing_device(e: &Entry) -> Option<&str> {
    let device = e.source.starts_with("/dev/") && e.options.kind == Kind::New;
    (device && fs::metadata(&e.source).is_err()).then_some(e.source.as_str())
}

/// The options of a comma-separated list, a comma inside double quotes
/// being part of its option, as libmount reads them: an SELinux MLS label,
/// `context="system_u:object_r:tmp_t:s0:c0,c1"`, is one option.
fn split_options(text: &str) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    text.split(move |c| {
        quoted ^= c == '"';
        c == ',' && !quoted
    })
}

pub fn map_options(text: &str) -> Options {
    let mut o = Options {
        kind: Kind::New,
        flags: MountFlags::empty(),
        cleared: MountFlags::empty(),
        data: String::new(),
        propagation: None,
        nofail: false,
        noauto: false,
        netdev: false,
        device_timeout: None,
        loop_device: false,
        requires_mounts_for: Vec::new(),
        after_mounts: Vec::new(),
        before_mounts: Vec::new(),
        unreadable: Vec::new(),
    };
    // Where `bind` and `remount` stand does not matter: together they are
    // one operation.
    let (mut bind, mut remount, mut automount) = (None, false, false);
    for opt in split_options(text).filter(|s| !s.is_empty()) {
        if let Some((_, f)) = FLAG_NAMES.iter().find(|(n, _)| *n == opt) {
            o.flags |= *f;
            o.cleared &= !*f;
        } else if let Some((_, f)) = CLEAR_NAMES.iter().find(|(n, _)| *n == opt) {
            o.flags &= !*f;
            o.cleared |= *f;
        } else if let Some((_, p)) = PROPAGATION_NAMES.iter().find(|(n, _)| *n == opt) {
            o.propagation = Some(*p);
        } else {
            match opt {
                "bind" => bind = Some(Kind::Bind { recursive: false }),
                "rbind" => bind = Some(Kind::Bind { recursive: true }),
                "remount" => remount = true,
                "nofail" => o.nofail = true,
                "noauto" => o.noauto = true,
                // What mount(8) implies for a mount users may make: the
                // options after it may undo them (`user,exec`).
                "user" | "users" | "owner" | "group" => {
                    let mut implied = MountFlags::NOSUID | MountFlags::NODEV;
                    if opt.starts_with("user") {
                        implied |= MountFlags::NOEXEC;
                    }
                    (o.flags, o.cleared) = (o.flags | implied, o.cleared - implied);
                }
                // No automount in vigil: mounted at boot instead of at the first
                // access, and, as an automount's absence would not, its failure
                // does not fail the boot (a short wait for its device, as nofail).
                "x-systemd.automount" => automount = true,
                "_netdev" => o.netdev = true,
                _ if opt == "loop" || opt.starts_with("loop=") => o.loop_device = true,
                _ if let Some(v) = opt.strip_prefix("x-systemd.device-timeout=") => {
                    match device_timeout(v) {
                        Ok(t) => o.device_timeout = Some(t),
                        Err(e) => o
                            .unreadable
                            .push(format!("{opt}: {e}; the default timeout is used")),
                    }
                }
                // Space-separated absolute paths, as systemd takes them (the
                // option may be given more than once).
                _ if let Some(v) = opt.strip_prefix("x-systemd.requires-mounts-for=") => {
                    paths(&mut o.requires_mounts_for, &mut o.unreadable, opt, v)
                }
                _ if let Some(v) = opt.strip_prefix("x-systemd.wants-mounts-for=") => {
                    paths(&mut o.after_mounts, &mut o.unreadable, opt, v)
                }
                // A unit or a path. A mount point's path orders (and for
                // `requires`, binds) this entry to the one mounted there;
                // the network's targets make it a network mount. Other
                // units are no part of the mounts vigil-boot makes.
                _ if let Some((relation, value)) = opt
                    .strip_prefix("x-systemd.")
                    .and_then(|o| o.split_once('='))
                    .filter(|(r, _)| ["requires", "after", "before"].contains(r)) =>
                {
                    let list = match relation {
                        "requires" => &mut o.requires_mounts_for,
                        "after" => &mut o.after_mounts,
                        _ => &mut o.before_mounts,
                    };
                    match value {
                        "network-online.target" | "network.target" if relation != "before" => {
                            o.netdev = true
                        }
                        _ if value.starts_with('/') && !is_below(value, "/dev") => {
                            list.push(normalize_target(value))
                        }
                        _ => o.unreadable.push(format!(
                            "{opt}: only a mount point's path or the network's target is \
                             supported by vigil, ignored"
                        )),
                    }
                }
                _ if opt.starts_with("x-systemd.") && !IGNORED_SYSTEMD.contains(&opt) => o
                    .unreadable
                    .push(format!("{opt}: not supported by vigil, ignored")),
                _ if userspace_only(opt) => {}
                _ => {
                    if !o.data.is_empty() {
                        o.data.push(',');
                    }
                    o.data.push_str(opt);
                }
            }
        }
    }
    if automount {
        (o.noauto, o.nofail) = (false, true);
    }
    o.kind = match (bind, remount) {
        (Some(_), true) => Kind::BindRemount,
        (None, true) => Kind::Remount,
        (Some(bind), false) => bind,
        (None, false) => Kind::New,
    };
    o
}

/// Adds the space-separated absolute paths of `value` (option `opt`) to
/// `list`; any other word is said and ignored.
fn paths(list: &mut Vec<String>, unreadable: &mut Vec<String>, opt: &str, value: &str) {
    for path in value.split_ascii_whitespace() {
        match path.starts_with('/') {
            true => list.push(normalize_target(path)),
            false => unreadable.push(format!("{opt}: {path:?} is not an absolute path, ignored")),
        }
    }
}

/// Flag names for display, `-` when none.
pub fn flag_names(flags: MountFlags) -> String {
    let names: Vec<&str> = FLAG_NAMES
        .iter()
        .filter(|(_, f)| flags.contains(*f))
        .map(|(n, _)| *n)
        .collect();
    if names.is_empty() {
        "-".to_string()
    } else {
        names.join(",")
    }
}

/// Decodes fstab/mountinfo octal escapes (`\040` is a space). A backslash
/// not followed by three octal digits stays as it is. `None` when the
/// escapes give bytes that are not UTF-8 (`\377`).
pub fn unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let escaped = b
            .get(i + 1..i + 4)
            .filter(|d| c == b'\\' && d.iter().all(|x| (b'0'..=b'7').contains(x)))
            .map(|d| d.iter().fold(0u32, |acc, x| acc * 8 + u32::from(x - b'0')))
            .and_then(|v| u8::try_from(v).ok());
        if let Some(byte) = escaped {
            out.push(byte);
            i += 4;
            continue;
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// `UUID=`, `LABEL=`, `PARTUUID=`, `PARTLABEL=` become the udev links,
/// their value unquoted and encoded as udev names the links.
pub fn resolve_source(s: &str) -> String {
    for (tag, dir) in [
        ("UUID=", "by-uuid"),
        ("LABEL=", "by-label"),
        ("PARTUUID=", "by-partuuid"),
        ("PARTLABEL=", "by-partlabel"),
    ] {
        if let Some(v) = s.strip_prefix(tag) {
            return format!("/dev/disk/{dir}/{}", encode_devnode_name(unquote(v)));
        }
    }
    s.to_string()
}

/// Removes one pair of matching `"` or `'` around the value.
fn unquote(v: &str) -> &str {
    ['"', '\'']
        .iter()
        .find_map(|q| v.strip_prefix(*q)?.strip_suffix(*q))
        .unwrap_or(v)
}

/// udev's (and systemd's `encode_devnode_name`) escaping of a link name
/// such as a file system label: alphanumerics, `#+-.:=@_` and non-ASCII
/// characters stay, every other byte becomes `\xNN` (`/` is `\x2f`).
fn encode_devnode_name(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if c.is_ascii_alphanumeric() || "#+-.:=@_".contains(c) || !c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        }
    }
    out
}

/// `/a/b/` and `/a/b` are the same mount point.
fn normalize_target(t: &str) -> String {
    let trimmed = t.trim_end_matches('/');
    if trimmed.is_empty() && t.starts_with('/') {
        "/".to_string()
    } else {
        trimmed.to_string()
    }
}

/// Parses fstab's bytes: libmount reads them as bytes, and one Latin-1
/// comment must not cost every mount. A line that is not UTF-8 (after its
/// escapes are decoded) is reported and skipped.
pub fn parse(path: &Path, text: impl AsRef<[u8]>) -> (Vec<Entry>, Vec<FstabError>) {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.as_ref().split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let l = raw.trim_ascii();
        // Comments are skipped before decoding: they may be in any encoding.
        if l.is_empty() || l.starts_with(b"#") {
            continue;
        }
        match parse_line(path, line, l) {
            Ok(entry) => {
                errors.extend(
                    entry
                        .options
                        .unreadable
                        .iter()
                        .map(|message| FstabError::Option {
                            path: path.to_path_buf(),
                            line,
                            message: message.clone(),
                        }),
                );
                entries.push(entry);
            }
            Err(reason) => errors.push(FstabError::Parse {
                path: path.to_path_buf(),
                line,
                reason,
            }),
        }
    }
    (entries, errors)
}

/// The entries without those whose mount point an earlier entry mounts, each
/// said: the first mounts it, as systemd's generator writes the first's unit and
/// refuses a second, where mount -a would mount the second on top of the first,
/// hiding it. `noauto` entries (mounted by hand only), swap and remounts (of
/// what an entry before mounted, as `bind,remount,ro` after a bind) are none.
pub fn without_duplicates(entries: Vec<Entry>) -> (Vec<Entry>, Vec<FstabError>) {
    let mut first = std::collections::HashMap::new();
    let mut errors = Vec::new();
    let kept = entries
        .into_iter()
        .filter(|e| {
            if e.options.noauto || e.options.kind.is_remount() || is_swap(&e.fstype, &e.target) {
                return true;
            }
            let Some(&line) = first.get(&e.target) else {
                first.insert(e.target.clone(), e.line);
                return true;
            };
            errors.push(FstabError::Duplicate {
                path: e.path.clone(),
                line: e.line,
                target: e.target.clone(),
                first: line,
            });
            false
        })
        .collect();
    (kept, errors)
}

/// One entry from a line that is neither empty nor a comment.
fn parse_line(path: &Path, line: usize, l: &[u8]) -> Result<Entry, &'static str> {
    // libmount separates fields by spaces and tabs only: any other
    // character (a no-break space, U+00A0) belongs to its field. It reads
    // six fields and ignores what follows the sixth (a trailing comment,
    // say); so does systemd's fstab generator.
    let raw: Vec<&[u8]> = l
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|f| !f.is_empty())
        .take(6)
        .collect();
    let fields = raw
        .iter()
        .map(|f| std::str::from_utf8(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "not valid UTF-8")?
        .into_iter()
        .map(unescape)
        .collect::<Option<Vec<_>>>()
        .ok_or("an escape gives bytes that are not valid UTF-8")?;
    let [source, target, fstype, rest @ ..] = fields.as_slice() else {
        return Err("expected at least 3 fields (source, mount point, type)");
    };
    // libmount takes a missing options field as `defaults`.
    let (options, rest) = rest
        .split_first()
        .map_or(("defaults", rest), |(o, r)| (o.as_str(), r));
    // Signed, as libmount reads them (strtol): `-1` is a number. One that is
    // not is read as 0, as glibc's getmntent (which systemd's fstab generator
    // reads with up to v257) reads it: a stray space in the options (`defaults,
    // noatime 0 2`) must not leave a disk unmounted.
    let bad_numbers = rest.iter().any(|f| f.parse::<i64>().is_err());
    let pass = rest.get(1).and_then(|f| f.parse().ok()).unwrap_or(0);
    if fields.iter().any(|f| f.contains('\0')) {
        return Err("field contains a NUL byte");
    }
    if !is_swap(fstype, target) && !target.starts_with('/') {
        return Err("mount point must be an absolute path");
    }
    // `/x/..` is `/`: systemd refuses such a line, which would remount the root.
    if !is_swap(fstype, target) && target.split('/').any(|c| c == "." || c == "..") {
        return Err("mount point must not have . or .. in it");
    }
    let tags = ["UUID=", "LABEL=", "PARTUUID=", "PARTLABEL="];
    if tags
        .iter()
        .any(|t| source.strip_prefix(t).map(unquote) == Some(""))
    {
        return Err("an empty UUID=, LABEL=, PARTUUID= or PARTLABEL= names no device");
    }
    let source = resolve_source(source);
    let written = options.to_string();
    let mut options = map_options(options);
    if bad_numbers {
        let read = "dump and pass fields are not numbers: read as 0, the entry is mounted";
        options.unreadable.insert(0, read.to_string());
    }
    Ok(Entry {
        path: path.to_path_buf(),
        line,
        source_path: source.starts_with('/').then(|| source.clone()),
        source,
        target: normalize_target(target),
        fstype: fstype.clone(),
        options,
        written_options: written,
        pass,
    })
}

/// Mount points from `/proc/self/mountinfo` text (the fifth field).
pub fn parse_mountinfo(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        // A mount point that is not UTF-8 cannot be one of fstab's.
        .filter_map(unescape)
        .map(|t| normalize_target(&t))
        .collect()
}

/// Mount points that vigil-init, the kernel or an initramfs mount before
/// fstab is read. An fstab entry for one of them that is already mounted
/// changes its options by a remount instead of being skipped (the `/usr` of
/// an initramfs, `hidepid=` for `/proc`, `noexec` for `/dev/shm`...), as
/// systemd-remount-fs does for `/usr` and the API file systems. Not `/tmp`:
/// what is mounted there already (a container's tmpfs) may be another file
/// system than the entry's, which a remount would not mount.
const REMOUNT_WHEN_MOUNTED: [&str; 7] = [
    "/usr", "/proc", "/sys", "/dev", "/dev/shm", "/dev/pts", "/run",
];

/// Whether the plan's action for `e` is a remount of `/` or of an API file
/// system already mounted, as systemd-remount-fs makes them early (`fstab
/// --remount`), before anything else is mounted.
pub fn is_early_remount(e: &Entry) -> bool {
    e.options.kind == Kind::Remount
        && (e.target == "/" || REMOUNT_WHEN_MOUNTED.contains(&e.target.as_str()))
}

fn is_swap(fstype: &str, target: &str) -> bool {
    fstype == "swap" || target == "swap" || target == "none"
}

/// Which run of `vigil-boot fstab` a plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// At boot, before `local-fs.target` (vigil-fstab.service): everything
    /// but the network file systems and what needs them.
    Local,
    /// `--remote`, after `network-online.target` (vigil-remote-fs.service):
    /// only the network file systems and what needs them.
    Remote,
}

/// Decides, in mount order, what happens to each entry. An entry comes
/// after the entries it needs (`needs`); unrelated entries keep file order.
/// So the remount of `/` comes first and later mount points can be created.
/// The network file systems, and the entries that need one of them (below
/// it, or binding from it), are left to the run after the network; that run
/// in turn leaves the others out, except the ones the local run did not
/// mount (`LOCAL_NOT_MOUNTED`): what needs them is not mounted either.
pub fn plan(entries: Vec<Entry>, mounted: &[String], phase: Phase) -> Vec<Action> {
    let mut ordered = ordered(entries);
    pull_in_noauto(&mut ordered, mounted);
    let remote = after_network(&ordered);
    let mut actions = Vec::with_capacity(ordered.len());
    for (entry, remote) in ordered.into_iter().zip(remote) {
        let action = match (phase, remote, decide(entry, mounted)) {
            (Phase::Local, true, Action::Mount(entry)) => {
                let reason = if is_network(&entry) {
                    NETWORK
                } else {
                    NEEDS_NETWORK
                };
                Action::Skip { entry, reason }
            }
            (Phase::Local, _, action) | (Phase::Remote, true, action) => action,
            (Phase::Remote, false, Action::Mount(entry)) if !entry.options.kind.is_remount() => {
                Action::Skip {
                    entry,
                    reason: LOCAL_NOT_MOUNTED,
                }
            }
            (Phase::Remote, false, _) => continue,
        };
        actions.push(action);
    }
    actions
}

/// The entries with their mount points and source paths resolved, in mount
/// order. Under `--root` too, they are resolved in the file system the
/// mounts are made in (mounts are never redirected), as the kernel will
/// follow them.
fn ordered(entries: Vec<Entry>) -> Vec<Entry> {
    let entries = entries.into_iter().map(|mut e| {
        e.target = resolve_path(&e.target);
        e.source_path = e.source_path.as_deref().map(resolve_path);
        let o = &mut e.options;
        for path in (o.requires_mounts_for.iter_mut())
            .chain(&mut o.after_mounts)
            .chain(&mut o.before_mounts)
        {
            *path = resolve_path(path);
        }
        e
    });
    mount_order(entries.collect())
}

/// A `noauto` entry that an entry to be mounted needs (a mount point below
/// it, a bind from it) is mounted too, as systemd's mount units pull in the
/// one above them: else the entry below would land on the root file system.
/// In reverse mount order, so that what a pulled-in entry needs is pulled in
/// too. One already mounted pulls in nothing: a mount above it would hide it.
/// A pulled-in entry is `nofail` when every entry that pulls it in is: a
/// `nofail` bind from a `noauto` disk that is not there must not fail the
/// boot (in systemd the `nofail` mount is only wanted by local-fs.target).
fn pull_in_noauto(ordered: &mut [Entry], mounted: &[String]) {
    // For each entry pulled in so far: whether every entry pulling it is nofail.
    let mut pulled: Vec<Option<bool>> = vec![None; ordered.len()];
    for i in (0..ordered.len()).rev() {
        let Some((e, earlier)) = ordered[..=i].split_last_mut() else {
            continue;
        };
        // Every entry that can pull this one in comes after it: done.
        if let Some(all_nofail) = pulled[i] {
            e.options.noauto = false;
            e.options.nofail |= all_nofail;
        }
        if e.options.noauto || is_swap(&e.fstype, &e.target) || mounted.contains(&e.target) {
            continue;
        }
        for (j, other) in earlier.iter().enumerate() {
            if other.options.noauto && requires(e, other) {
                pulled[j] = Some(pulled[j].unwrap_or(true) && e.options.nofail);
            }
        }
    }
}

/// For each entry of `ordered`: whether it waits for the network, being a
/// network file system or needing an entry that does.
fn after_network(ordered: &[Entry]) -> Vec<bool> {
    let mut remote: Vec<bool> = Vec::with_capacity(ordered.len());
    for (i, e) in ordered.iter().enumerate() {
        let needs_remote = ordered[..i]
            .iter()
            .zip(&remote)
            .any(|(other, &r)| r && needs(e, other));
        remote.push((is_network(e) && e.target != "/") || needs_remote);
    }
    remote
}

/// What `--remote --unmount` unmounts, in that order: every mount at or
/// below the mount point of a network file system of fstab (or of an entry
/// that needs one), the last mounted first. The local file systems stay for
/// vigil-init's final unmount; these go while the network is still up, as
/// an NFS server that cannot be reached makes an unmount hang.
pub fn remote_unmounts(entries: Vec<Entry>, mounted: &[String]) -> Vec<String> {
    let ordered = ordered(entries);
    let remote: Vec<&Entry> = ordered
        .iter()
        .zip(after_network(&ordered))
        .filter_map(|(e, r)| r.then_some(e))
        .collect();
    let mut targets: Vec<String> = Vec::new();
    for target in mounted.iter().rev() {
        let below = remote.iter().any(|e| is_below(target, &e.target));
        if below && target != "/" && !targets.contains(target) {
            targets.push(target.clone());
        }
    }
    targets
}

/// A mount point or source path with the symlinks of its existing part
/// resolved, where the kernel will find it (systemd chases them too): with
/// `/home -> var/home`, `/home` is `/var/home`, below a `/var` of fstab, and
/// a mount point there is found in mountinfo once mounted. What does not
/// exist yet is kept as written.
fn resolve_path(target: &str) -> String {
    use std::path::Component;
    if !target.starts_with('/') {
        // `none` of a swap line: no path.
        return target.to_string();
    }
    let mut resolved = PathBuf::from("/");
    // Components still to walk, the next one last; a symlink puts its own in.
    let mut todo: Vec<PathBuf> = Path::new(target)
        .components()
        .rev()
        .map(|c| PathBuf::from(c.as_os_str()))
        .collect();
    let mut hops = 0;
    while let Some(part) = todo.pop() {
        match part.components().next() {
            Some(Component::RootDir) => resolved = PathBuf::from("/"),
            Some(Component::ParentDir) => {
                resolved.pop();
            }
            Some(Component::Normal(name)) => {
                let next = resolved.join(name);
                match fs::read_link(&next) {
                    // As the kernel, at most 40 links on the way.
                    Ok(link) if hops < 40 => {
                        hops += 1;
                        todo.extend(
                            link.components()
                                .rev()
                                .map(|c| PathBuf::from(c.as_os_str())),
                        );
                    }
                    _ => resolved = next,
                }
            }
            _ => {}
        }
    }
    resolved
        .to_str()
        .map_or_else(|| target.to_string(), str::to_string)
}

/// Whether `path` is `dir` or below it, by whole components (`/ab` is not
/// below `/a`).
fn is_below(path: &str, dir: &str) -> bool {
    Path::new(path).starts_with(dir)
}

/// Whether `e` must wait for `other`: `e` requires it (`requires`), or an
/// `x-systemd.after=` (`wants-mounts-for=`) of `e` names a path on it, or
/// an `x-systemd.before=` of `other` names `e`'s mount point.
pub fn needs(e: &Entry, other: &Entry) -> bool {
    let after = (e.options.after_mounts.iter()).any(|p| is_below(p, &other.target));
    let before = other.options.before_mounts.contains(&e.target);
    requires(e, other) || (differ(e, other) && (after || before))
}

/// Whether `e` cannot be mounted as fstab means it without `other`: `other`
/// mounts a file system above `e`'s mount point, or the one that holds
/// `e`'s source path (a bind source, a loop image...) or a path it requires
/// (`x-systemd.requires-mounts-for=`, `x-systemd.requires=`).
pub fn requires(e: &Entry, other: &Entry) -> bool {
    let holds_source = e
        .source_path
        .as_deref()
        .is_some_and(|s| is_below(s, &other.target));
    let holds_required = (e.options.requires_mounts_for.iter()).any(|p| is_below(p, &other.target));
    differ(e, other) && (is_below(&e.target, &other.target) || holds_source || holds_required)
}

/// Another entry for the same mount point is not waited for: file order
/// decides. `/` needs nothing (its source may be below `/dev`): it is
/// always there.
fn differ(e: &Entry, other: &Entry) -> bool {
    other.target != e.target && e.target != "/"
}

/// Each time the first entry, in file order, that needs none of those
/// left. A cycle (`/a` bound from `/b/x`, `/b` bound from `/a/y`) is
/// broken by file order rather than refused.
///
/// Which entry needs which is worked out once (n² checks), each entry counting
/// those it waits for that are left: a search of every pair at each step was
/// cubic, 9 minutes for a generated fstab of 3,050 bind mounts.
fn mount_order(entries: Vec<Entry>) -> Vec<Entry> {
    let n = entries.len();
    // For each entry, those that need it; and how many entries it still needs.
    let mut needed_by: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut waits: Vec<usize> = vec![0; n];
    for (i, e) in entries.iter().enumerate() {
        for (j, other) in entries.iter().enumerate() {
            if i != j && needs(e, other) {
                needed_by[j].push(i);
                waits[i] += 1;
            }
        }
    }
    let mut left: Vec<Option<Entry>> = entries.into_iter().map(Some).collect();
    let mut ordered = Vec::with_capacity(n);
    for _ in 0..n {
        let unplaced = |i: &usize| left[*i].is_some();
        let next = (0..n)
            .filter(unplaced)
            .find(|&i| waits[i] == 0)
            .or_else(|| (0..n).find(unplaced));
        let Some(next) = next else { break };
        for &d in &needed_by[next] {
            waits[d] = waits[d].saturating_sub(1);
        }
        ordered.extend(left[next].take());
    }
    ordered
}

/// The entry of `failed` that `e` needs, if any: `e` cannot be mounted
/// as fstab means it (it would land on or bind from the wrong file system).
pub fn needs_failed<'a>(e: &Entry, failed: &'a [Entry]) -> Option<&'a Entry> {
    failed.iter().find(|f| requires(e, f))
}

/// File system types that reach a server (or a cluster) through the
/// network, as systemd's fstab generator lists them; a FUSE type by its
/// subtype (`fuse.sshfs`, `fuse.ceph`).
const NETWORK_TYPES: [&str; 18] = [
    "afs",
    "ceph",
    "cifs",
    "davfs",
    "gfs",
    "gfs2",
    "glusterfs",
    "lustre",
    "ncp",
    "ncpfs",
    "nfs",
    "nfs4",
    "ocfs2",
    "orangefs",
    "pvfs2",
    "smb3",
    "smbfs",
    "sshfs",
];

/// Why the run at boot skips an entry: it is for the run after the network,
/// `vigil-boot fstab --remote`. Mounting it before any network is up could
/// only fail, and a failed mount stops the boot.
pub const NETWORK: &str =
    "network file system: mounted after the network, by vigil-remote-fs.service";
pub const NEEDS_NETWORK: &str =
    "needs a network file system: mounted after the network, by vigil-remote-fs.service";

/// Why the run after the network names a local entry: the run at boot did
/// not mount it (it failed, or was `nofail`), so what needs it is not
/// mounted either.
pub const LOCAL_NOT_MOUNTED: &str = "not mounted at boot";

/// Why an entry is not mounted: it is a swap area, which `vigil-boot swap`
/// (vigil-swap.service) activates.
const SWAP: &str = "swap";

/// Why an entry is not mounted: something is mounted there already (by an
/// initramfs, or an earlier run).
pub const ALREADY_MOUNTED: &str = "already mounted";

/// What the run after the network has to do, from its plan: entries to
/// mount, and entries already mounted (by an initramfs, say), which its
/// unit must still unmount at the shutdown. Either keeps the unit.
pub fn remote_counts(plan: &[Action]) -> (usize, usize) {
    let to_mount = plan
        .iter()
        .filter(|a| matches!(a, Action::Mount(_)))
        .count();
    let mounted = plan
        .iter()
        .filter(|a| matches!(a, Action::Skip { reason, .. } if *reason == ALREADY_MOUNTED))
        .count();
    (to_mount, mounted)
}

fn is_network(entry: &Entry) -> bool {
    let fstype = entry.fstype.as_str();
    let fstype = fstype.strip_prefix("fuse.").unwrap_or(fstype);
    entry.options.netdev || NETWORK_TYPES.contains(&fstype)
}

fn decide(mut entry: Entry, mounted: &[String]) -> Action {
    let is_mounted = mounted.contains(&entry.target);
    let reason = if is_swap(&entry.fstype, &entry.target) {
        SWAP
    } else if entry.options.noauto {
        "noauto"
    } else if entry.target == "/"
        || (is_mounted && REMOUNT_WHEN_MOUNTED.contains(&entry.target.as_str()))
    {
        // `/` is always mounted, whatever mountinfo says.
        if entry.options.kind != Kind::BindRemount {
            entry.options.kind = Kind::Remount;
        }
        return Action::Mount(entry);
    } else if !entry.options.kind.is_remount() && is_mounted {
        ALREADY_MOUNTED
    } else {
        return Action::Mount(entry);
    };
    Action::Skip { entry, reason }
}

/// One line describing the action, as `--dry-run` prints it.
pub fn describe(a: &Action) -> String {
    match a {
        Action::Skip { entry, reason } => format!("skip {} ({reason})", entry.target),
        Action::Mount(e) => {
            let flags = flag_names(e.options.flags);
            let mut s = match e.options.kind {
                Kind::New => format!(
                    "mount {} source={} type={} flags={flags}",
                    e.target, e.source, e.fstype
                ),
                Kind::Bind { recursive } => format!(
                    "{} {} source={} flags={flags}",
                    if recursive { "rbind" } else { "bind" },
                    e.target,
                    e.source
                ),
                Kind::Remount => format!("remount {} flags={flags}", e.target),
                Kind::BindRemount => format!("bind-remount {} flags={flags}", e.target),
            };
            if !e.options.data.is_empty() {
                s.push_str(" data=");
                s.push_str(&e.options.data);
            }
            let propagation = PROPAGATION_NAMES
                .iter()
                .find(|(_, p)| e.options.propagation == Some(*p));
            if let Some((name, _)) = propagation {
                s.push_str(" propagation=");
                s.push_str(name);
            }
            if needs_mount8(e) {
                s.push_str(" via=mount(8)");
            }
            if e.options.nofail {
                s.push_str(" nofail");
            }
            s
        }
    }
}

/// The per-mount flags of what is mounted at `target` that a remount must
/// repeat to keep (it replaces them all): `nosuid`, `nodev`, `noexec` (and
/// for a bind, `ro`), unless the options clear them by name (`suid`...); the
/// atime flags when the options name none. So a `defaults` line for
/// `/dev/shm`, or a `bind,ro` of a `nosuid` mount, weakens nothing.
fn kept_flags(target: &Path, options: &Options) -> MountFlags {
    use rustix::fs::StatVfsMountFlags as S;
    let Ok(st) = rustix::fs::statvfs(target) else {
        return MountFlags::empty();
    };
    let bind = matches!(options.kind, Kind::Bind { .. } | Kind::BindRemount);
    let atime = MountFlags::NOATIME | MountFlags::NODIRATIME | MountFlags::RELATIME;
    let named_atime = (options.flags | options.cleared).intersects(atime | MountFlags::STRICTATIME);
    let kept = [
        (S::NOSUID, MountFlags::NOSUID, true),
        (S::NODEV, MountFlags::NODEV, true),
        (S::NOEXEC, MountFlags::NOEXEC, true),
        (S::RDONLY, MountFlags::RDONLY, bind),
        (S::NOATIME, MountFlags::NOATIME, !named_atime),
        (S::NODIRATIME, MountFlags::NODIRATIME, !named_atime),
        (S::RELATIME, MountFlags::RELATIME, !named_atime),
    ];
    kept.into_iter()
        .filter(|&(st_flag, _, applies)| applies && st.f_flag.contains(st_flag))
        .fold(MountFlags::empty(), |all, (_, flag, _)| all | flag)
        - options.cleared
}

/// Where mount(8)'s and fsck(8)'s helpers live (`mount.ntfs-3g`, `fsck.ext4`...).
const HELPER_DIRS: [&str; 4] = ["/sbin", "/usr/sbin", "/bin", "/usr/bin"];

/// The helper program `name` (`mount.fuse`, `fsck`, `fsck.ext4`), if installed.
pub fn helper(name: &str) -> Option<PathBuf> {
    HELPER_DIRS
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

/// Whether the file system holding `path` is mounted read-only.
pub fn is_read_only(path: &Path) -> bool {
    rustix::fs::statvfs(path)
        .is_ok_and(|s| s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY))
}

/// Whether the mount is mount(8)'s to make, not mount(2)'s: a type to probe
/// (`auto`, or a list: `ext3,ext4`), a loop device to set up (`loop`, or an
/// image file as the source, which mount(8) sets one up for), or a type with
/// a helper program, as libmount would run it: `mount.TYPE` (ntfs-3g), and
/// for `fuse.SUBTYPE` also `mount.fuse` (bindfs, mergerfs, rclone).
pub fn needs_mount8(e: &Entry) -> bool {
    let main_type = e.fstype.split_once('.').map(|(t, _)| t);
    let image = e
        .source_path
        .as_deref()
        .is_some_and(|p| Path::new(p).is_file());
    e.options.kind == Kind::New
        && (e.fstype == "auto"
            || e.fstype.contains(',')
            || e.options.loop_device
            || image
            || helper(&format!("mount.{}", e.fstype)).is_some()
            || main_type.is_some_and(|t| helper(&format!("mount.{t}")).is_some()))
}

/// mount(8) itself: `$VIGIL_BOOT_MOUNT` (for tests), else util-linux's.
fn mount8() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("VIGIL_BOOT_MOUNT") {
        return Some(PathBuf::from(path));
    }
    ["/usr/bin/mount", "/bin/mount"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Runs `mount [-t TYPE] -o OPTIONS SOURCE TARGET`; its own message is the
/// error when it fails. The options as written, but `nofail`, which vigil
/// keeps itself: mount(8) given it exits 0 for a mount that failed.
fn run_mount8(e: &Entry) -> io::Result<()> {
    let program = mount8()
        .ok_or_else(|| io::Error::other("needs mount(8) (util-linux), which is not installed"))?;
    let mut cmd = std::process::Command::new(&program);
    if e.fstype != "auto" {
        cmd.args(["-t", &e.fstype]);
    }
    let options: Vec<&str> = split_options(&e.written_options)
        .filter(|o| *o != "nofail")
        .collect();
    let out = cmd
        .args(["-o", &options.join(","), &e.source, &e.target])
        .stdin(std::process::Stdio::null())
        .output()?;
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr);
    Err(io::Error::other(format!(
        "{} {}: {}",
        program.display(),
        out.status,
        said.trim()
    )))
}

/// Unmounts what is mounted at `target` (the last mount there).
pub fn unmount(target: &str) -> io::Result<()> {
    rustix::mount::unmount(target, rustix::mount::UnmountFlags::empty()).map_err(Into::into)
}

/// The data string as the kernel gets it: without SELinux (no
/// /sys/fs/selinux), its context options are left out, as mount(8) leaves
/// them out, where the kernel would refuse the mount.
fn data_for_kernel(data: &str, selinux: bool) -> String {
    const CONTEXTS: [&str; 4] = ["context=", "fscontext=", "defcontext=", "rootcontext="];
    let kept =
        split_options(data).filter(|o| selinux || !CONTEXTS.iter().any(|c| o.starts_with(c)));
    kept.collect::<Vec<_>>().join(",")
}

/// The source a new mount gives the kernel: a device node reached through a
/// link (`/dev/disk/by-label/data`) as the node it leads to (`/dev/sdb1`),
/// as mount(8) canonicalizes it, so that /proc/self/mountinfo, findmnt and
/// df name the device; a device-mapper node (`/dev/dm-3`, LVM, LUKS) by its
/// mapper name, `/dev/mapper/vg-root`, as mount(8) names it. Anything else
/// as written.
fn kernel_source(source: &str) -> String {
    let linked = source.starts_with("/dev/")
        && fs::symlink_metadata(source).is_ok_and(|m| m.file_type().is_symlink());
    let real = linked.then(|| fs::canonicalize(source).ok()).flatten();
    let real = real.and_then(|p| p.to_str().map(str::to_string));
    let mapper = |dm: &str| {
        let name = fs::read_to_string(format!("/sys/block/{dm}/dm/name")).ok()?;
        let path = format!("/dev/mapper/{}", name.trim());
        fs::metadata(&path).is_ok().then_some(path)
    };
    match real {
        Some(real) => match real.strip_prefix("/dev/").filter(|n| n.starts_with("dm-")) {
            Some(dm) => mapper(dm).unwrap_or(real),
            None => real,
        },
        None => source.to_string(),
    }
}

/// Mounts one entry, creating its mount point when missing (an empty file
/// when binding a file, since a file can only be bound onto a file).
pub fn mount_entry(e: &Entry) -> Result<(), FstabError> {
    let target = Path::new(&e.target);
    if !e.options.kind.is_remount() && fs::symlink_metadata(target).is_err() {
        let bind_file = matches!(e.options.kind, Kind::Bind { .. })
            && fs::metadata(&e.source).is_ok_and(|m| !m.is_dir());
        let made = if bind_file {
            target
                .parent()
                .map_or(Ok(()), fs::create_dir_all)
                .and_then(|()| fs::write(target, b""))
        } else {
            fs::create_dir_all(target)
        };
        made.map_err(|source| FstabError::MountPoint {
            path: e.path.clone(),
            line: e.line,
            target: e.target.clone(),
            source,
        })?;
    }
    let selinux = Path::new("/sys/fs/selinux/enforce").exists();
    let data = data_for_kernel(&e.options.data, selinux);
    let data = CString::new(data.as_str()).map_err(|_| FstabError::Parse {
        path: e.path.clone(),
        line: e.line,
        reason: "field contains a NUL byte",
    })?;
    let data_opt = (!data.is_empty()).then_some(data.as_c_str());
    let failed = |source| {
        let (path, line, target) = (e.path.clone(), e.line, e.target.clone());
        if e.options.kind.is_remount() {
            FstabError::Remount {
                path,
                line,
                target,
                source,
            }
        } else {
            FstabError::Mount {
                path,
                line,
                source_name: e.source.clone(),
                target,
                source,
            }
        }
    };
    let flags = e.options.flags;
    let result = match e.options.kind {
        Kind::New if needs_mount8(e) => return run_mount8(e).map_err(failed),
        Kind::New => {
            let source = kernel_source(&e.source);
            rustix::mount::mount(&source, target, &e.fstype, flags, data_opt)
        }
        Kind::Bind { recursive } => {
            let bound = if recursive {
                rustix::mount::mount_bind_recursive(&e.source, target)
            } else {
                rustix::mount::mount_bind(&e.source, target)
            };
            // A bind mount ignores flags; they take effect only on a
            // remount of the new bind mount, which replaces them all: the
            // source's nosuid, nodev, noexec and atime are kept, as mount(8)
            // keeps them (`bind,ro` of a nosuid mount is not suid).
            bound.and_then(|()| {
                if flags.is_empty() && e.options.cleared.is_empty() {
                    Ok(())
                } else {
                    let flags = MountFlags::BIND | flags | kept_flags(target, &e.options);
                    rustix::mount::mount_remount(target, flags, "")
                }
            })
        }
        Kind::Remount => {
            let flags = flags | kept_flags(target, &e.options);
            rustix::mount::mount_remount(target, flags, e.options.data.as_str())
        }
        // Only this mount's flags: the file system and its data stay.
        Kind::BindRemount => {
            let flags = MountFlags::BIND | flags | kept_flags(target, &e.options);
            rustix::mount::mount_remount(target, flags, "")
        }
    };
    let result = result.and_then(|()| match e.options.propagation {
        Some(p) => rustix::mount::mount_change(target, p),
        None => Ok(()),
    });
    result.map_err(|err| failed(err.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `--dry-run` lines of a plan.
    fn described(actions: Vec<Action>) -> Vec<String> {
        actions.iter().map(describe).collect()
    }

    /// The mount point of each action, in the plan's order.
    fn targets(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .map(|a| match a {
                Action::Mount(e) | Action::Skip { entry: e, .. } => e.target.clone(),
            })
            .collect()
    }

    #[test]
    fn mount_points_reached_through_a_symlink_are_resolved_and_ordered() {
        let dir = std::env::temp_dir().join(format!("vigil-fstab-link-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("var")).unwrap();
        std::os::unix::fs::symlink("var/home", dir.join("home")).unwrap();
        let d = dir.to_str().unwrap();
        let text = format!("/dev/sda4 {d}/home ext4 defaults\n/dev/sda3 {d}/var ext4 defaults\n");
        let (entries, errors) = parse(Path::new("/etc/fstab"), text.as_bytes());
        assert!(errors.is_empty(), "{errors:?}");
        let targets: Vec<String> = plan(entries, &[], Phase::Local)
            .into_iter()
            .map(|a| match a {
                Action::Mount(e) | Action::Skip { entry: e, .. } => e.target,
            })
            .collect();
        assert_eq!(targets, [format!("{d}/var"), format!("{d}/var/home")]);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Review finding: a bind or loop source reached through a symlink
    /// (`/home -> var/home`) did not wait for the mount holding where it
    /// leads (`/var`): only mount points were resolved.
    #[test]
    fn sources_reached_through_a_symlink_wait_for_the_mount_holding_them() {
        let dir = std::env::temp_dir().join(format!("vigil-fstab-srclink-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("var")).unwrap();
        std::os::unix::fs::symlink("var/home", dir.join("home")).unwrap();
        std::os::unix::fs::symlink(dir.join("var"), dir.join("abs")).unwrap();
        let d = dir.to_str().unwrap();
        let text = format!(
            "{d}/home/data {d}/srv none bind\n\
             {d}/abs/img.iso {d}/iso iso9660 loop\n\
             {d}/img2.ext4 {d}/vol ext4 loop\n\
             tmpfs {d}/var tmpfs size=1m\n"
        );
        let (entries, errors) = parse(Path::new("/etc/fstab"), text.as_bytes());
        assert!(errors.is_empty(), "{errors:?}");
        let actions = plan(entries, &[], Phase::Local);
        assert_eq!(
            targets(&actions),
            [
                format!("{d}/vol"),
                format!("{d}/var"),
                format!("{d}/srv"),
                format!("{d}/iso")
            ]
        );
        // The mount is still given the source as written.
        assert_eq!(
            describe(&actions[2]),
            format!("bind {d}/srv source={d}/home/data flags=-")
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn device_timeouts_are_systemd_time_spans() {
        let t = |o: &str| map_options(o).device_timeout;
        assert_eq!(t("defaults"), None);
        let ms = Duration::from_millis;
        // The second half: review finding, only part of systemd.time(7) was understood.
        let spans = [
            ("5", ms(5000)),
            ("1min", ms(60_000)),
            ("250ms", ms(250)),
            ("0", Duration::MAX),
            ("infinity", Duration::MAX),
            ("1min30s", ms(90_000)),
            ("2minutes", ms(120_000)),
            ("1.5s", ms(1500)),
        ];
        for (span, want) in spans {
            let option = format!("x-systemd.device-timeout={span}");
            assert_eq!(t(&option), Some(want), "{option}");
        }
        // A bad value leaves the default, and says so.
        let o = map_options("x-systemd.device-timeout=soon");
        assert_eq!(o.device_timeout, None);
        assert_eq!(o.unreadable.len(), 1);
        assert!(
            o.unreadable[0]
                .starts_with("x-systemd.device-timeout=soon: \"soon\" is not a time span"),
            "{:?}",
            o.unreadable
        );
        let huge = format!("x-systemd.device-timeout={}h {}h", u64::MAX, u64::MAX);
        assert_eq!(
            t(&huge),
            Some(Duration::MAX),
            "an overflow is as long as it gets"
        );
        // Still not for the kernel.
        assert_eq!(map_options("x-systemd.device-timeout=5").data, "");
    }

    /// Review finding: a bad `x-systemd.device-timeout=` silently became the
    /// default. It is a warning naming FILE:LINE; the entry is still read.
    #[test]
    fn a_bad_device_timeout_is_reported_with_file_and_line() {
        let (e, errs) = parse(
            Path::new("/etc/fstab"),
            "tmpfs /a tmpfs defaults\n/dev/sdb1 /b ext4 x-systemd.device-timeout=5parsecs,nofail\n",
        );
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].options.device_timeout, None);
        let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert!(
            msgs[0].starts_with("/etc/fstab:2: x-systemd.device-timeout=5parsecs: "),
            "{msgs:?}"
        );
    }

    #[test]
    fn octal_escapes() {
        let u = |s| unescape(s).unwrap();
        assert_eq!(u(r"/mnt/my\040disk"), "/mnt/my disk");
        assert_eq!(u(r"a\011b\134c"), "a\tb\\c");
        assert_eq!(u(r"a\9b\04"), r"a\9b\04");
        assert_eq!(u(r"\777"), r"\777");
        assert_eq!(unescape(r"\303\251"), Some("é".to_string()));
        assert_eq!(unescape(r"\377"), None);
    }

    #[test]
    fn option_mapping() {
        let o = map_options(
            "defaults,ro,nosuid,nodev,noexec,noatime,size=10m,mode=755,nofail,x-systemd.foo",
        );
        assert_eq!(
            o.flags,
            MountFlags::RDONLY
                | MountFlags::NOSUID
                | MountFlags::NODEV
                | MountFlags::NOEXEC
                | MountFlags::NOATIME
        );
        assert_eq!(o.data, "size=10m,mode=755");
        assert!(o.nofail && !o.noauto);
        assert_eq!(o.kind, Kind::New);
        let o = map_options("ro,rw,relatime,noauto");
        assert_eq!(o.flags, MountFlags::RELATIME);
        assert!(o.noauto);
        assert_eq!(map_options("bind,ro").kind, Kind::Bind { recursive: false });
        assert_eq!(map_options("rbind").kind, Kind::Bind { recursive: true });
        assert_eq!(map_options("remount,ro").kind, Kind::Remount);
        // Together, in either order, they change one mount's flags only.
        assert_eq!(map_options("bind,remount,ro").kind, Kind::BindRemount);
        assert_eq!(map_options("remount,rbind,ro").kind, Kind::BindRemount);
        assert_eq!(flag_names(map_options("nodev,ro").flags), "ro,nodev");
        assert_eq!(flag_names(MountFlags::empty()), "-");
    }

    /// Review finding: `iversion`, `noiversion`, `silent`, `loud` went to
    /// the kernel as data, which refuses them (a remount of `/` failed).
    #[test]
    fn iversion_and_silent_are_flags_not_data() {
        let o = map_options("iversion,silent,size=1m");
        assert_eq!(o.flags, I_VERSION | MountFlags::SILENT);
        assert_eq!(o.data, "size=1m");
        assert_eq!(flag_names(o.flags), "iversion,silent");
        let o = map_options("iversion,silent,noiversion,loud");
        assert_eq!(o.flags, MountFlags::empty());
        assert_eq!(o.cleared, I_VERSION | MountFlags::SILENT);
        assert_eq!(o.data, "");
    }

    #[test]
    fn parses_fields_and_reports_file_line() {
        let text = "# comment\n\
            UUID=abcd / ext4 defaults 0 1\n\
            tmpfs /mnt/my\\040tmp/ tmpfs size=1m\n\
            /dev/sdb1 /data\n\
            a relative tmpfs defaults\n\
            a /b c d 0 0 7\n\
            a /b c d x\n\
            /swapfile none swap sw 0 0\n\
            tmpfs /three tmpfs\n\
            tmpfs /data tmpfs size=1m 0 2  # data disk\n\
            tmpfs /neg tmpfs defaults -1 -1\n\
            a /b c d 0 +\n\
            tmpfs /x/.. tmpfs defaults\n\
            tmpfs /./y tmpfs defaults\n";
        let (e, errs) = parse(Path::new("/etc/fstab"), text);
        assert_eq!(e.len(), 9);
        assert_eq!(e[0].source, "/dev/disk/by-uuid/abcd");
        assert_eq!(e[0].target, "/");
        assert_eq!(e[1].target, "/mnt/my tmp");
        assert_eq!(e[1].line, 3);
        assert_eq!(e[1].options.data, "size=1m");
        // What follows the sixth field is ignored, as libmount does.
        assert_eq!((e[2].target.as_str(), e[2].line), ("/b", 6));
        // A dump or pass that is not a number is read as 0, as glibc's
        // getmntent reads it (review finding: the line was dropped, its disk
        // left unmounted, and an entry below it mounted on the root).
        assert_eq!((e[3].target.as_str(), e[3].line), ("/b", 7));
        assert_eq!(e[4].fstype, "swap");
        // Options may be left out, as libmount allows: `defaults`.
        assert_eq!((e[5].target.as_str(), e[5].line), ("/three", 9));
        assert_eq!(e[5].options, map_options("defaults"));
        assert_eq!((e[6].target.as_str(), e[6].line), ("/data", 10));
        assert_eq!(e[6].options.data, "size=1m");
        // Dump and pass are signed, as libmount's strtol reads them.
        assert_eq!((e[7].target.as_str(), e[7].line), ("/neg", 11));
        assert_eq!((e[8].target.as_str(), e[8].line), ("/b", 12));
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        let not_numbers = "dump and pass fields are not numbers: read as 0, the entry is mounted";
        assert_eq!(
            msgs,
            vec![
                "/etc/fstab:4: expected at least 3 fields (source, mount point, type)".to_string(),
                "/etc/fstab:5: mount point must be an absolute path".to_string(),
                format!("/etc/fstab:7: {not_numbers}"),
                format!("/etc/fstab:12: {not_numbers}"),
                "/etc/fstab:13: mount point must not have . or .. in it".to_string(),
                "/etc/fstab:14: mount point must not have . or .. in it".to_string(),
            ]
        );
    }

    /// Review findings: `user` and `owner` left the mount with what mount(8)
    /// takes away from a mount users may make; `x-systemd.automount` entries
    /// (with `noauto`) were never mounted; other `x-systemd.*` options were
    /// ignored without a word.
    #[test]
    fn user_options_automount_and_unsupported_systemd_options() {
        let o = map_options("defaults,user");
        assert_eq!(
            o.flags,
            MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC
        );
        assert_eq!(o.data, "");
        let o = map_options("users,exec");
        assert_eq!(o.flags, MountFlags::NOSUID | MountFlags::NODEV);
        assert_eq!(
            map_options("owner").flags,
            MountFlags::NOSUID | MountFlags::NODEV
        );
        let o = map_options("noauto,x-systemd.automount,x-systemd.idle-timeout=60");
        assert!(!o.noauto && o.nofail, "{o:?}");
        assert_eq!(
            o.unreadable,
            vec!["x-systemd.idle-timeout=60: not supported by vigil, ignored"]
        );
        let o = map_options("x-systemd.mount-timeout=5,x-systemd.rw-only");
        assert_eq!(
            o.unreadable,
            vec!["x-systemd.mount-timeout=5: not supported by vigil, ignored"]
        );
        let o = map_options(
            "x-systemd.requires-mounts-for=/data /srv/,x-systemd.requires-mounts-for=rel",
        );
        assert_eq!(o.requires_mounts_for, ["/data", "/srv"]);
        assert_eq!(
            o.unreadable,
            vec![r#"x-systemd.requires-mounts-for=rel: "rel" is not an absolute path, ignored"#]
        );
        assert!(
            map_options("x-systemd.device-timeout=5")
                .unreadable
                .is_empty()
        );
    }

    #[test]
    fn plan_orders_parents_first_keeps_file_order_and_skips() {
        let text = "t /a/b/c tmpfs defaults\n\
            t /a tmpfs defaults\n\
            t /z tmpfs noauto\n\
            t /a/b tmpfs defaults\n\
            t /x tmpfs defaults\n\
            t / tmpfs defaults\n\
            /s none swap sw\n\
            t /proc tmpfs defaults\n\
            t /proc tmpfs remount,ro\n";
        let (e, errs) = parse(Path::new("f"), text);
        assert!(errs.is_empty());
        let mounted = parse_mountinfo(
            "22 1 0:5 / /proc rw,nosuid - proc proc rw\n23 1 0:6 / /mnt/a\\040b rw - tmpfs t rw\n",
        );
        assert_eq!(mounted, ["/proc", "/mnt/a b"]);
        let lines = described(plan(e, &mounted, Phase::Local));
        assert_eq!(
            lines,
            vec![
                "remount / flags=-",
                "mount /a source=t type=tmpfs flags=-",
                "skip /z (noauto)",
                "mount /a/b source=t type=tmpfs flags=-",
                "mount /a/b/c source=t type=tmpfs flags=-",
                "mount /x source=t type=tmpfs flags=-",
                "skip none (swap)",
                "remount /proc flags=-",
                "remount /proc flags=ro",
            ]
        );
    }

    /// Review finding: `context=` on a system without SELinux failed the
    /// mount, where mount(8) leaves the option out.
    #[test]
    fn selinux_contexts_only_with_selinux() {
        // An MLS label has a comma inside its quotes (review finding: the
        // `c1"` after it was left in the data).
        let data = "size=1m,context=\"system_u:object_r:tmp_t:s0:c0,c1\",mode=755,rootcontext=x";
        let o = map_options(data);
        assert_eq!(o.data, data);
        assert_eq!(data_for_kernel(data, false), "size=1m,mode=755");
        assert_eq!(data_for_kernel(data, true), data);
        assert_eq!(data_for_kernel("", false), "");
    }

    /// Review finding: a mount from `/dev/disk/by-label/X` kept the link as
    /// its source, so findmnt and df named the link, not the device, as they
    /// do after mount(8). /dev/fd is a link on any Linux system with udev or
    /// a container runtime.
    #[test]
    fn a_device_link_is_mounted_as_the_node_it_leads_to() {
        assert_eq!(kernel_source("tmpfs"), "tmpfs");
        assert_eq!(
            kernel_source("/dev/vigil-no-such-node"),
            "/dev/vigil-no-such-node"
        );
        let link = fs::symlink_metadata("/dev/fd").is_ok_and(|m| m.file_type().is_symlink());
        if link {
            let real = kernel_source("/dev/fd");
            assert!(
                real.starts_with("/proc/") && real.ends_with("/fd"),
                "{real}"
            );
        }
    }

    /// Review finding: a `noauto` parent was skipped and its child mounted on
    /// the root file system; systemd's mount unit for the child pulls in the
    /// parent's. A child already mounted pulls in nothing.
    #[test]
    fn a_noauto_entry_needed_by_another_is_mounted() {
        let text = "t /srv/data/cache tmpfs defaults\n\
            t /srv/data tmpfs noauto\n\
            t /srv tmpfs noauto\n\
            t /lone tmpfs noauto\n\
            t /m tmpfs noauto\n\
            t /m/inner tmpfs defaults\n";
        let (e, errs) = parse(Path::new("f"), text);
        assert!(errs.is_empty(), "{errs:?}");
        let lines = described(plan(e.clone(), &[], Phase::Local));
        assert_eq!(
            lines,
            vec![
                "mount /srv source=t type=tmpfs flags=-",
                "mount /srv/data source=t type=tmpfs flags=-",
                "mount /srv/data/cache source=t type=tmpfs flags=-",
                "skip /lone (noauto)",
                "mount /m source=t type=tmpfs flags=-",
                "mount /m/inner source=t type=tmpfs flags=-",
            ]
        );
        let mounted = ["/m/inner".to_string()];
        let lines = described(plan(e, &mounted, Phase::Local));
        assert!(lines.contains(&"skip /m (noauto)".to_string()), "{lines:?}");
        // Pulled in by nofail entries only, nofail itself (review finding: a
        // nofail bind from a noauto disk that was not there failed the boot);
        // by one entry that is not nofail, required.
        let text = "/dev/x /home ext4 noauto\n\
            /home/shared /srv/shared none bind,nofail\n\
            /dev/y /data ext4 noauto\n\
            t /data/a tmpfs nofail\n\
            t /data/b tmpfs defaults\n";
        let (e, _) = parse(Path::new("f"), text);
        let nofail: Vec<(String, bool)> = plan(e, &[], Phase::Local)
            .into_iter()
            .filter_map(|a| match a {
                Action::Mount(e) => Some((e.target, e.options.nofail)),
                _ => None,
            })
            .collect();
        let expected = [
            ("/home", true),
            ("/srv/shared", true),
            ("/data", false),
            ("/data/a", true),
            ("/data/b", false),
        ];
        let expected: Vec<(String, bool)> =
            expected.iter().map(|(t, n)| (t.to_string(), *n)).collect();
        assert_eq!(nofail, expected);
    }

    #[test]
    fn requires_after_and_before_take_mount_points_and_the_network() {
        let o = map_options(
            "x-systemd.requires=/data/up,x-systemd.after=/srv,x-systemd.before=/mnt/x,\
             x-systemd.wants-mounts-for=/a /b",
        );
        assert_eq!(o.requires_mounts_for, ["/data/up"]);
        assert_eq!(o.after_mounts, ["/srv", "/a", "/b"]);
        assert_eq!(o.before_mounts, ["/mnt/x"]);
        assert!(o.unreadable.is_empty() && !o.netdev, "{o:?}");
        for net in [
            "x-systemd.after=network-online.target",
            "x-systemd.requires=network.target",
        ] {
            assert!(map_options(net).netdev, "{net}");
        }
        let o = map_options("x-systemd.requires=cryptsetup@x.service,x-systemd.after=/dev/sdb1");
        assert_eq!(o.unreadable.len(), 2, "{o:?}");
        assert!(
            o.unreadable[0]
                .starts_with("x-systemd.requires=cryptsetup@x.service: only a mount point's path"),
            "{o:?}"
        );
    }

    /// Review finding: an overlay whose upper directory is on a disk listed
    /// after it, with `x-systemd.requires=` (what systemd's documentation
    /// advises), was mounted first, over the root file system's directory.
    /// `after` orders without binding: the overlay is mounted even when the
    /// other failed; `requires` does not mount it then. `before` of an
    /// entry makes the one it names wait for it.
    #[test]
    fn requires_after_and_before_order_and_bind_as_systemd_does() {
        let text = "overlay /merged overlay lowerdir=/lower,upperdir=/up/u,workdir=/up/w,x-systemd.requires=/up\n\
            overlay /m2 overlay lowerdir=/lower,upperdir=/up2/u,workdir=/up2/w,x-systemd.after=/up2\n\
            t /up tmpfs defaults\n\
            t /m3 tmpfs defaults\n\
            t /up2 tmpfs x-systemd.before=/m3\n";
        let (e, errs) = parse(Path::new("f"), text);
        assert!(errs.is_empty(), "{errs:?}");
        let targets = targets(&plan(e.clone(), &[], Phase::Local));
        // /m3, listed before /up2, waits for it all the same.
        assert_eq!(targets, ["/up", "/merged", "/up2", "/m2", "/m3"]);
        assert!(requires(&e[0], &e[2]));
        assert!(needs(&e[1], &e[4]) && !requires(&e[1], &e[4]));
        assert!(needs(&e[3], &e[4]) && !requires(&e[3], &e[4]));
        assert_eq!(needs_failed(&e[0], &e[2..3]), Some(&e[2]));
        assert_eq!(needs_failed(&e[1], &e[4..5]), None);
    }

    #[test]
    fn network_types_include_clusters_and_fuse_subtypes() {
        let text = "s:/x /a fuse.ceph defaults\n/dev/sdz1 /b ocfs2 defaults\nh:/y /c lustre defaults\n\
            t /d tmpfs defaults\nsrv:/z /e fuse.sshfs defaults\n";
        let (e, _) = parse(Path::new("f"), text);
        let network: Vec<bool> = e.iter().map(is_network).collect();
        assert_eq!(network, [true, true, true, false, true]);
    }

    /// Review finding: an overlay whose `upperdir` is on another entry's disk,
    /// listed first, was mounted first and failed: `x-systemd.requires-mounts-for=`
    /// orders it after that entry, as systemd's RequiresMountsFor= does.
    #[test]
    fn requires_mounts_for_orders_an_entry_after_the_file_system_it_names() {
        let text = "overlay /merged overlay lowerdir=/lower,upperdir=/data/up,workdir=/data/work,x-systemd.requires-mounts-for=/data/up\n\
            t /data tmpfs defaults\n\
            t /other tmpfs defaults\n";
        let (e, errs) = parse(Path::new("f"), text);
        assert!(errs.is_empty(), "{errs:?}");
        let lines = described(plan(e, &[], Phase::Local));
        assert_eq!(
            lines,
            vec![
                "mount /data source=t type=tmpfs flags=-",
                "mount /merged source=overlay type=overlay flags=- data=lowerdir=/lower,upperdir=/data/up,workdir=/data/work",
                "mount /other source=t type=tmpfs flags=-",
            ]
        );
    }

    /// Review finding: `bind,remount,ro` lost its `bind` and remounted the
    /// whole file system read-only.
    #[test]
    fn bind_remount_is_its_own_kind_in_the_plan() {
        let (e, errs) = parse(
            Path::new("f"),
            "/srv/data /www none bind\n/www /www none bind,remount,ro,nosuid\n",
        );
        assert!(errs.is_empty(), "{errs:?}");
        let mounted = ["/www".to_string()];
        let lines = described(plan(e, &mounted, Phase::Local));
        assert_eq!(
            lines,
            [
                "skip /www (already mounted)",
                "bind-remount /www flags=ro,nosuid",
            ]
        );
    }

    #[test]
    fn root_and_mounted_api_file_systems_are_remounted_first() {
        let text = "tmpfs /mnt/new tmpfs defaults\n\
            devtmpfs /dev devtmpfs mode=755\n\
            UUID=x / ext4 errors=remount-ro 0 1\n\
            proc /proc proc hidepid=2\n\
            tmpfs /dev/shm tmpfs nosuid,nodev,noexec\n\
            tmpfs /srv tmpfs defaults\n\
            tmpfs /run tmpfs ro,size=2m\n\
            LABEL=usr /usr ext4 defaults\n\
            /dev/sdb2 /tmp ext4 defaults\n";
        let (e, errs) = parse(Path::new("f"), text);
        assert!(errs.is_empty());
        // `/` is missing from this mountinfo: it is remounted all the same.
        // Review finding: /tmp, already mounted (a tmpfs), was remounted with
        // the entry's options, as if the ext4 were there.
        let mounted = ["/proc", "/dev", "/dev/shm", "/srv", "/run", "/tmp"].map(String::from);
        let lines = described(plan(e, &mounted, Phase::Local));
        assert_eq!(
            lines,
            vec![
                "remount / flags=- data=errors=remount-ro",
                "mount /mnt/new source=tmpfs type=tmpfs flags=-",
                "remount /dev flags=- data=mode=755",
                "remount /proc flags=- data=hidepid=2",
                "remount /dev/shm flags=nosuid,nodev,noexec",
                "skip /srv (already mounted)",
                "remount /run flags=ro data=size=2m",
                "mount /usr source=/dev/disk/by-label/usr type=ext4 flags=-",
                "skip /tmp (already mounted)",
            ]
        );
    }

    #[test]
    fn tag_values_are_unquoted_and_encoded_as_udev_names_its_links() {
        let label = |v: &str| resolve_source(&format!("LABEL={v}"));
        assert_eq!(
            label(&unescape(r"My\040Passport").unwrap()),
            r"/dev/disk/by-label/My\x20Passport"
        );
        assert_eq!(label("/boot"), r"/dev/disk/by-label/\x2fboot");
        assert_eq!(label("'x y'"), r"/dev/disk/by-label/x\x20y");
        assert_eq!(label("\"x\""), "/dev/disk/by-label/x");
        // Only a matching pair of quotes is removed.
        assert_eq!(label("'x\""), r"/dev/disk/by-label/\x27x\x22");
        // Allowed as they are: alphanumerics, `#+-.:=@_` and non-ASCII
        // characters; a backslash is encoded too.
        assert_eq!(label("a#+-.:=@_Zé"), "/dev/disk/by-label/a#+-.:=@_Zé");
        assert_eq!(label(r"a\b$"), r"/dev/disk/by-label/a\x5cb\x24");
        assert_eq!(
            resolve_source("PARTLABEL=EFI system"),
            r"/dev/disk/by-partlabel/EFI\x20system"
        );
        assert_eq!(resolve_source("UUID=\"AB-12\""), "/dev/disk/by-uuid/AB-12");
        assert_eq!(resolve_source("PARTUUID=1-2"), "/dev/disk/by-partuuid/1-2");
        assert_eq!(resolve_source("/dev/sda1"), "/dev/sda1");
    }

    #[test]
    fn mount8_options_stay_out_of_the_data_string() {
        let o = map_options(
            "X-mount.mkdir,x-systemd.after=a,nousers,noowner,nogroup,user=me,loop,loop=/dev/loop1,\
             offset=512,sizelimit=1m,helper=udisks2,uhelper=u,norelatime,nosymfollow,rshared",
        );
        assert_eq!(o.data, "");
        assert_eq!(o.flags, MountFlags::NOSYMFOLLOW);
        assert_eq!(
            o.propagation,
            Some(MountPropagationFlags::SHARED | MountPropagationFlags::REC)
        );
        let o = map_options("relatime,strictatime,lazytime,norelatime,nostrictatime,nolazytime");
        assert_eq!(o.flags, MountFlags::empty());
        assert_eq!(
            map_options("nosymfollow,symfollow").flags,
            MountFlags::empty()
        );
        assert_eq!(map_options("mode=755").propagation, None);
        // The last propagation option wins; the r- forms are recursive.
        for (opt, flags) in [
            ("shared", MountPropagationFlags::SHARED),
            (
                "rprivate",
                MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
            ),
            ("slave", MountPropagationFlags::DOWNSTREAM),
            (
                "rslave",
                MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
            ),
            ("private", MountPropagationFlags::PRIVATE),
            ("unbindable", MountPropagationFlags::UNBINDABLE),
            (
                "runbindable",
                MountPropagationFlags::UNBINDABLE | MountPropagationFlags::REC,
            ),
        ] {
            let o = map_options(&format!("rshared,{opt},size=1m"));
            assert_eq!(
                (o.propagation, o.data.as_str()),
                (Some(flags), "size=1m"),
                "{opt}"
            );
        }
        let (e, _) = parse(Path::new("f"), "t /a tmpfs rslave,nosymfollow\n");
        assert_eq!(
            describe(&plan(e, &[], Phase::Local).remove(0)),
            "mount /a source=t type=tmpfs flags=nosymfollow propagation=rslave"
        );
    }

    #[test]
    fn entries_wait_for_the_mounts_holding_their_mount_point_or_source() {
        let text = "/dev/vdb1 /srv/www ext4 defaults\n\
            /mnt/data/home /home none bind\n\
            tmpfs /tmp tmpfs defaults\n\
            /dev/sdb1 /mnt/data ext4 defaults\n\
            /mnt/database /db none bind\n\
            tmpfs /srv tmpfs defaults\n\
            /srv/www/img.iso /mnt/iso iso9660 loop\n";
        let (e, errs) = parse(Path::new("f"), text);
        assert!(errs.is_empty());
        let targets = targets(&plan(e, &[], Phase::Local));
        // `/mnt/database` is not below `/mnt/data`: /db keeps its place.
        assert_eq!(
            targets,
            [
                "/tmp",
                "/mnt/data",
                "/home",
                "/db",
                "/srv",
                "/srv/www",
                "/mnt/iso"
            ]
        );
    }

    /// Review finding: `--remote --check` counted only entries to mount, so
    /// with the network file systems already mounted (by an initramfs) the
    /// unit was skipped and its unmount at the shutdown never ran.
    #[test]
    fn remote_counts_include_what_is_already_mounted() {
        let (e, _) = parse(
            Path::new("f"),
            "srv:/a /mnt/a nfs defaults\n\
             srv:/b /mnt/b nfs defaults\n\
             srv:/c /mnt/c nfs noauto\n\
             tmpfs /mnt/t tmpfs defaults\n",
        );
        let mounted = ["/mnt/a", "/mnt/b", "/mnt/t"].map(String::from);
        let plan_for = |mounted: &[String]| plan(e.clone(), mounted, Phase::Remote);
        assert_eq!(remote_counts(&plan_for(&mounted)), (0, 2));
        assert_eq!(remote_counts(&plan_for(&mounted[1..])), (1, 1));
        assert_eq!(remote_counts(&plan_for(&[])), (2, 0));
        let (local, _) = parse(Path::new("f"), "tmpfs /mnt/t tmpfs defaults\n");
        assert_eq!(remote_counts(&plan(local, &mounted, Phase::Remote)), (0, 0));
    }

    #[test]
    fn entries_needing_a_failed_mount_are_named_with_it() {
        let (e, _) = parse(
            Path::new("f"),
            "/dev/sdb1 /var ext4 defaults\n\
             tmpfs /var/log tmpfs defaults\n\
             /var/www /srv none bind\n\
             tmpfs /varnish tmpfs defaults\n\
             tmpfs /var tmpfs defaults\n",
        );
        let failed = [e[0].clone()];
        assert_eq!(needs_failed(&e[1], &failed), Some(&e[0]));
        assert_eq!(needs_failed(&e[2], &failed), Some(&e[0]));
        assert_eq!(needs_failed(&e[3], &failed), None);
        // Another entry for the same mount point is no child of it (a run
        // drops such duplicates first: without_duplicates).
        assert_eq!(needs_failed(&e[4], &failed), None);
    }

    /// Review finding: fields were split on any Unicode whitespace, so a
    /// mount point with a no-break space (U+00A0) in it was cut in two.
    #[test]
    fn fields_are_separated_by_spaces_and_tabs_only() {
        let text = "tmpfs /mnt/a\u{a0}b tmpfs size=1m\n\
            tmpfs\t/mnt/tab \t tmpfs\tdefaults\t0\t0\n\
            tmpfs /mnt/x\u{2003}y tmpfs defaults 0 0\n";
        let (e, errs) = parse(Path::new("f"), text);
        assert!(errs.is_empty(), "{errs:?}");
        let targets: Vec<&str> = e.iter().map(|e| e.target.as_str()).collect();
        assert_eq!(targets, ["/mnt/a\u{a0}b", "/mnt/tab", "/mnt/x\u{2003}y"]);
        assert_eq!(e[0].options.data, "size=1m");
    }

    #[test]
    fn bytes_that_are_not_utf8_cost_only_their_line() {
        let text = b"# Partition f\xfcr Daten\n\
            tmpfs /mnt/t tmpfs defaults\n\
            /dev/sd\xff1 /x ext4 defaults\n\
            tmpfs /mnt/\\377 tmpfs defaults\n\
            tmpfs /mnt/u tmpfs defaults\r\n\
            tmpfs /mnt/v tmpfs defaults 0 0 # f\xfcr Daten\n";
        let (e, errs) = parse(Path::new("/etc/fstab"), text);
        let targets: Vec<&str> = e.iter().map(|e| e.target.as_str()).collect();
        // What follows the sixth field is not read, whatever its encoding.
        assert_eq!(targets, ["/mnt/t", "/mnt/u", "/mnt/v"]);
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            msgs,
            vec![
                "/etc/fstab:3: not valid UTF-8",
                "/etc/fstab:4: an escape gives bytes that are not valid UTF-8",
            ]
        );
    }
}
