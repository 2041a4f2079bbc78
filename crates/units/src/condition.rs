//! Evaluating `Condition*=` and `Assert*=` with systemd's semantics for the `|`
//! (triggering) and `!` (negation) prefixes.
//!
//! Only reads: file metadata, directory listings, and small text files under
//! /proc, /sys, /etc and /usr/lib (docs/UNITS.md lists which file answers
//! which kind).
//! Never creates or changes anything, never panics, and never decides what a
//! failed check means for the unit. What cannot be read makes the check false
//! (even when negated, as systemd treats an error), with the reason appended to
//! the message. Every parser takes text, so it is tested without the real files.

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::files::hidden_or_backup;
use crate::glob::fnmatch;
use crate::model::{Condition, ConditionKind};
use crate::value;

/// Where system facts are read from: `/` in the manager, a fake tree in tests.
/// Paths given in `Condition*=` lines are always read as written.
#[derive(Debug, Clone)]
struct System {
    root: PathBuf,
    /// `None`: the manager's own environment.
    env: Option<Vec<(OsString, OsString)>>,
}

impl System {
    fn real() -> System {
        System {
            root: PathBuf::from("/"),
            env: None,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    fn read(&self, rel: &str) -> Result<String, String> {
        let p = self.path(rel);
        fs::read_to_string(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    }

    fn read_trimmed(&self, rel: &str) -> Option<String> {
        self.read(rel).ok().map(|s| s.trim().to_owned())
    }

    fn exists(&self, rel: &str) -> bool {
        fs::symlink_metadata(self.path(rel)).is_ok()
    }

    fn env_vars(&self) -> Vec<(OsString, OsString)> {
        match &self.env {
            Some(v) => v.clone(),
            None => std::env::vars_os().collect(),
        }
    }

    fn cmdline(&self) -> Result<Vec<String>, String> {
        self.read("proc/cmdline").map(|t| cmdline_words(&t))
    }
}

/// Checks a value at load time, so a malformed one is an error naming the
/// file and line instead of a condition that can never hold. `arg` has its
/// `|`/`!` prefixes removed and its specifiers resolved; an empty value (a
/// reset) never gets here. A relative path is an error here: the unit-file
/// parser drops such a line with a warning before asking, as systemd does.
pub fn validate(kind: ConditionKind, arg: &str) -> Result<(), String> {
    use ConditionKind::*;
    if kind.takes_path() {
        return if arg.starts_with('/') {
            Ok(())
        } else {
            Err(format!("path {arg:?} is not absolute"))
        };
    }
    if arg.is_empty() {
        return Err("empty value".into());
    }
    match kind {
        PathExists | PathIsDirectory | FileIsExecutable | DirectoryNotEmpty | FileNotEmpty
        | PathExistsGlob | PathIsSymbolicLink | PathIsMountPoint | PathIsReadWrite
        | NeedsUpdate => Ok(()),
        ACPower | FirstBoot => parse_bool(arg)
            .map(drop)
            .ok_or_else(|| format!("{arg:?} is not a boolean")),
        Virtualization => match VirtTest::parse(arg) {
            Some(_) => Ok(()),
            None => Err(format!(
                "unknown virtualization {arg:?} (a boolean, vm, container, private-users, or one of {})",
                VM_NAMES
                    .iter()
                    .chain(CONTAINER_NAMES)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        },
        Capability => capability_bit(arg)
            .map(drop)
            .ok_or_else(|| format!("unknown capability {arg:?}")),
        // A name systemd does not know is not an error: it is simply not
        // this machine's architecture ([`lint`] warns about it).
        Architecture => Ok(()),
        Security => {
            if SECURITY_NAMES.contains(&arg) {
                Ok(())
            } else {
                Err(format!(
                    "unknown security technology {arg:?} (one of {})",
                    SECURITY_NAMES.join(", ")
                ))
            }
        }
        User | Group => {
            if arg.contains(|c: char| c.is_whitespace() || c == ':' || c == '/') {
                Err(format!("{arg:?} is not a valid name or number"))
            } else {
                Ok(())
            }
        }
        KernelCommandLine | Host | Environment => Ok(()),
        KernelVersion => version_tests(arg).map(drop),
        OSRelease => os_release_tests(arg).map(drop),
        Memory => memory_test(arg).map(drop),
        CPUs => cpus_test(arg).map(drop),
        Firmware => FirmwareTest::parse(arg).map(drop),
        PathIsEncrypted => Ok(()),
        ControlGroupController => split_words(arg).map(drop),
        Credential => {
            if arg.contains('/') || arg == "." || arg == ".." || arg.len() > 255 {
                Err(format!("{arg:?} is not a valid credential name"))
            } else {
                Ok(())
            }
        }
    }
}

/// A warning about a valid value that is probably not what was meant, for
/// the parser to report with file and line: an architecture systemd does not
/// know, which never matches (`x86_64` for `x86-64`).
pub fn lint(kind: ConditionKind, arg: &str) -> Option<String> {
    (kind == ConditionKind::Architecture && !is_architecture(arg)).then(|| {
        format!(
            "unknown architecture {arg:?}, so the check never holds (native or one of {})",
            ARCHITECTURES.join(", ")
        )
    })
}

/// The check itself, before negation. `Err` when it cannot be decided.
fn check(sys: &System, kind: ConditionKind, arg: &str) -> Result<bool, String> {
    use ConditionKind::*;
    let path = Path::new(arg);
    Ok(match kind {
        PathExists => fs::metadata(path).is_ok(),
        PathIsDirectory => fs::metadata(path).is_ok_and(|m| m.is_dir()),
        FileIsExecutable => {
            fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        }
        DirectoryNotEmpty => fs::read_dir(path).is_ok_and(|mut entries| {
            entries.any(|e| e.is_ok_and(|e| !hidden_or_backup(&e.file_name().to_string_lossy())))
        }),
        FileNotEmpty => fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > 0),
        PathExistsGlob => glob_exists(arg),
        PathIsSymbolicLink => fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink()),
        PathIsMountPoint => match fs::canonicalize(path) {
            Ok(real) => is_mount_point(&sys.read("proc/self/mountinfo")?, &real),
            Err(_) => false,
        },
        PathIsReadWrite => match fs::canonicalize(path) {
            Ok(real) => !is_read_only(&sys.read("proc/self/mountinfo")?, &real),
            Err(_) => false,
        },
        NeedsUpdate => needs_update(sys, path)?,
        KernelCommandLine => cmdline_matches(&sys.cmdline()?, arg),
        Virtualization => {
            let test = VirtTest::parse(arg).ok_or_else(|| format!("invalid value {arg:?}"))?;
            virtualization_holds(sys, &test)
        }
        Capability => {
            let bit = capability_bit(arg).ok_or_else(|| format!("unknown capability {arg:?}"))?;
            let status = sys.read("proc/self/status")?;
            let set = status_field(&status, "CapBnd")
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                .ok_or("no CapBnd in /proc/self/status")?;
            bit < 64 && set & (1u64 << bit) != 0
        }
        ACPower => {
            let want = parse_bool(arg).ok_or_else(|| format!("{arg:?} is not a boolean"))?;
            on_ac_power(&sys.path("sys/class/power_supply")) == want
        }
        Host => host_matches(sys, arg),
        Architecture => {
            if arg == "native" {
                true
            } else if !is_architecture(arg) {
                // As systemd: an architecture it does not know is not ours,
                // so the check is false (and true negated), not an error.
                false
            } else {
                let running = sys
                    .read_trimmed("proc/sys/kernel/arch")
                    .and_then(|m| uname_architecture(&m))
                    .unwrap_or_else(native_architecture);
                running == arg
            }
        }
        Security => security_holds(sys, arg),
        User => user_matches(sys, arg)?,
        Group => group_matches(sys, arg)?,
        Environment => env_matches(&sys.env_vars(), arg),
        FirstBoot => {
            let want = parse_bool(arg).ok_or_else(|| format!("{arg:?} is not a boolean"))?;
            first_boot(sys) == want
        }
        KernelVersion => {
            let release = sys.read("proc/sys/kernel/osrelease")?;
            let release = release.trim();
            version_tests(arg)?
                .iter()
                .all(|(op, want)| op.holds_str(release, want))
        }
        OSRelease => {
            let text = sys
                .read("etc/os-release")
                .or_else(|_| sys.read("usr/lib/os-release"))?;
            let fields = os_release_fields(&text);
            os_release_tests(arg)?.iter().all(|(key, op, want)| {
                let have = fields
                    .iter()
                    .rev()
                    .find(|(k, _)| k == key)
                    .map_or("", |(_, v)| v.as_str());
                op.holds_str(have, want)
            })
        }
        Memory => {
            let (op, want) = memory_test(arg)?;
            op.holds_num(physical_memory(sys)?, want)
        }
        CPUs => {
            let (op, want) = cpus_test(arg)?;
            op.holds_num(allowed_cpus(sys)?, want)
        }
        Firmware => FirmwareTest::parse(arg)?.holds(sys)?,
        PathIsEncrypted => path_is_encrypted(sys, path),
        ControlGroupController => cgroup_controllers_hold(sys, &split_words(arg)?)?,
        Credential => false,
    })
}

fn result(sys: &System, c: &Condition) -> Result<bool, String> {
    check(sys, c.kind, &c.arg).map(|v| v != c.negate)
}

/// Whether one condition holds, negation included. A check that cannot be
/// decided does not hold, negated or not.
pub fn holds(c: &Condition) -> bool {
    result(&System::real(), c).unwrap_or(false)
}

/// The condition as it was written: `ConditionPathExists=|!/etc/foo`.
pub fn written(c: &Condition, directive_prefix: &str) -> String {
    format!(
        "{directive_prefix}{}={}{}{}",
        c.kind.name(),
        if c.trigger { "|" } else { "" },
        if c.negate { "!" } else { "" },
        c.arg
    )
}

/// Evaluates `Condition*=` lines: every non-triggering condition must hold, and
/// when there are triggering (`|`) conditions, at least one of them must hold.
/// An empty list passes. The error names what failed, as written, with the
/// reason when a check could not be decided.
pub fn evaluate(conditions: &[Condition]) -> Result<(), String> {
    evaluate_in(&System::real(), conditions, "Condition")
}

/// [`evaluate`] (`asserts`: for `Assert*=` lines, the same rules, messages
/// saying `Assert`) with the variables the manager gives every service (`--default-environment`) over its own
/// environment, for `ConditionEnvironment=`: systemd tests its effective
/// environment, DefaultEnvironment= included.
pub fn evaluate_for_manager(
    conditions: &[Condition],
    asserts: bool,
    default_env: &[(String, String)],
) -> Result<(), String> {
    let mut sys = System::real();
    if !default_env.is_empty() {
        let mut env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
        for (name, value) in default_env {
            let (name, value) = (OsString::from(name), OsString::from(value));
            match env.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = value,
                None => env.push((name, value)),
            }
        }
        sys.env = Some(env);
    }
    let prefix = if asserts { "Assert" } else { "Condition" };
    evaluate_in(&sys, conditions, prefix)
}

fn evaluate_in(sys: &System, conditions: &[Condition], prefix: &str) -> Result<(), String> {
    let failure = |c: &Condition| match result(sys, c) {
        Ok(true) => None,
        Ok(false) => Some(written(c, prefix)),
        Err(why) => Some(format!("{} ({why})", written(c, prefix))),
    };
    if let Some(failed) = conditions.iter().filter(|c| !c.trigger).find_map(failure) {
        return Err(failed);
    }
    let mut triggers = conditions.iter().filter(|c| c.trigger).peekable();
    if triggers.peek().is_none() {
        return Ok(());
    }
    let mut failed = Vec::new();
    for c in triggers {
        match failure(c) {
            None => return Ok(()),
            Some(f) => failed.push(f),
        }
    }
    Err(failed.join(", "))
}

/// systemd's booleans ([`value::parse_bool`]).
fn parse_bool(v: &str) -> Option<bool> {
    value::parse_bool(v).ok()
}

/// The value of `Name:` in /proc/self/status text.
fn status_field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == name).then_some(v)
    })
}

// ---- globs ----------------------------------------------------------------

/// `{a,b}` alternatives expanded, as glob(3) with GLOB_BRACE; nested braces work.
fn expand_braces(pattern: &str) -> Vec<String> {
    let bytes = pattern.as_bytes();
    let mut depth = 0usize;
    let mut open = None;
    let mut commas = Vec::new();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => i += 1,
            b'{' => {
                if depth == 0 {
                    open = Some(i);
                    commas.clear();
                }
                depth += 1;
            }
            b',' if depth == 1 => commas.push(i),
            b'}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    if let Some(o) = open.filter(|_| !commas.is_empty()) {
                        let (head, tail) = (&pattern[..o], &pattern[i + 1..]);
                        let mut bounds = vec![o];
                        bounds.extend(&commas);
                        bounds.push(i);
                        let mut out = Vec::new();
                        for w in bounds.windows(2) {
                            let alt = &pattern[w[0] + 1..w[1]];
                            for rest in expand_braces(&format!("{alt}{tail}")) {
                                out.push(format!("{head}{rest}"));
                            }
                        }
                        return out;
                    }
                    open = None;
                }
            }
            _ => {}
        }
        i += 1;
    }
    vec![pattern.to_owned()]
}

fn has_magic(component: &str) -> bool {
    let mut escaped = false;
    for c in component.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

fn unescape(component: &str) -> String {
    let mut out = String::new();
    let mut chars = component.chars();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(n) = chars.next()
        {
            out.push(n);
            continue;
        }
        out.push(c);
    }
    out
}

/// Bounds the work one glob may do; past it, what was found so far decides.
const GLOB_CANDIDATES_MAX: usize = 4096;

/// Whether any path matches an absolute glob, as glob(3) with GLOB_BRACE:
/// a wildcard never matches a leading `.` unless the pattern has one.
fn glob_exists(pattern: &str) -> bool {
    expand_braces(pattern).iter().any(|p| {
        let mut found = vec![PathBuf::from("/")];
        for comp in p.split('/').filter(|c| !c.is_empty()) {
            let mut next = Vec::new();
            for dir in &found {
                if !has_magic(comp) {
                    next.push(dir.join(unescape(comp)));
                    continue;
                }
                let Ok(entries) = fs::read_dir(dir) else {
                    continue;
                };
                for e in entries.flatten() {
                    let name = e.file_name();
                    let Some(name) = name.to_str() else { continue };
                    if name.starts_with('.') && !comp.starts_with('.') {
                        continue;
                    }
                    if fnmatch(comp, name, false) {
                        next.push(dir.join(name));
                    }
                }
                if next.len() > GLOB_CANDIDATES_MAX {
                    break;
                }
            }
            found = next;
            if found.is_empty() {
                return false;
            }
        }
        found.iter().any(|f| fs::symlink_metadata(f).is_ok())
    })
}

// ---- mounts ---------------------------------------------------------------

/// One line of /proc/self/mountinfo.
struct Mount {
    point: PathBuf,
    /// Read-only per mount or per file system.
    read_only: bool,
    fstype: String,
}

/// The mounts of /proc/self/mountinfo text, in order.
fn mounts(mountinfo: &str) -> Vec<Mount> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fields: Vec<&str> = left.split(' ').collect();
            let point = unescape_octal(fields.get(4)?);
            let mount_ro = fields.get(5)?.split(',').any(|o| o == "ro");
            let mut right = right.split(' ');
            let fstype = right.next()?.to_owned();
            let super_ro = right
                .nth(1)
                .is_some_and(|opts| opts.split(',').any(|o| o == "ro"));
            Some(Mount {
                point,
                read_only: mount_ro || super_ro,
                fstype,
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and `\` as `\ooo`.
fn unescape_octal(field: &str) -> PathBuf {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let digits = b.get(i + 1..i + 4);
        if c == b'\\' && digits.is_some_and(|d| d.iter().all(|x| (b'0'..=b'7').contains(x))) {
            let v = digits
                .unwrap_or_default()
                .iter()
                .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
            out.push(u8::try_from(v).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(c);
            i += 1;
        }
    }
    PathBuf::from(std::ffi::OsStr::from_bytes(&out))
}

/// `path` must be canonical. A bind mount of a directory on itself counts.
fn is_mount_point(mountinfo: &str, path: &Path) -> bool {
    mounts(mountinfo).iter().any(|m| m.point == path)
}

/// Whether the mount holding canonical `path` is read-only (per mount or
/// per file system); the last of equally long mount points is the visible one.
fn is_read_only(mountinfo: &str, path: &Path) -> bool {
    let mut best: Option<(usize, bool)> = None;
    for m in mounts(mountinfo) {
        if path.starts_with(&m.point) {
            let depth = m.point.components().count();
            if best.is_none_or(|(d, _)| depth >= d) {
                best = Some((depth, m.read_only));
            }
        }
    }
    best.is_some_and(|(_, ro)| ro)
}

// ---- kernel command line ---------------------------------------------------

/// Splits /proc/cmdline text into words as the kernel does: at whitespace
/// outside double quotes, quotes removed. Words after a lone `--` are
/// arguments the kernel passes to init, not kernel parameters: dropped.
pub fn cmdline_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    if cur == "--" {
                        return words;
                    }
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word && cur != "--" {
        words.push(cur);
    }
    words
}

/// systemd's rule: `KEY=VALUE` matches that exact word; a bare `WORD` matches
/// the word itself or any `WORD=...`.
pub fn cmdline_matches(words: &[String], arg: &str) -> bool {
    words.iter().any(|w| {
        if arg.contains('=') {
            w == arg
        } else {
            w.strip_prefix(arg)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('='))
        }
    })
}

/// The last `key=` on the command line as a boolean; `-` and `_` in the key
/// are the same (systemd's rule for its own options). A bare key is `true`.
fn cmdline_bool(words: &[String], key: &str) -> Option<bool> {
    let norm = |s: &str| s.replace('-', "_");
    let key = norm(key);
    words.iter().rev().find_map(|w| match w.split_once('=') {
        Some((k, v)) if norm(k) == key => parse_bool(v),
        None if norm(w) == key => Some(true),
        _ => None,
    })
}

// ---- virtualization --------------------------------------------------------

/// systemd's names for virtual machines and containers.
const VM_NAMES: &[&str] = &[
    "qemu",
    "kvm",
    "amazon",
    "zvm",
    "vmware",
    "microsoft",
    "oracle",
    "powervm",
    "xen",
    "bochs",
    "uml",
    "parallels",
    "bhyve",
    "qnx",
    "acrn",
    "apple",
    "sre",
    "google",
    "vm-other",
];
const CONTAINER_NAMES: &[&str] = &[
    "openvz",
    "lxc",
    "lxc-libvirt",
    "systemd-nspawn",
    "docker",
    "podman",
    "rkt",
    "wsl",
    "proot",
    "pouch",
    "container-other",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum VirtTest {
    Any(bool),
    Vm,
    Container,
    PrivateUsers,
    Named(String),
}

impl VirtTest {
    fn parse(v: &str) -> Option<VirtTest> {
        if let Some(b) = parse_bool(v) {
            return Some(VirtTest::Any(b));
        }
        match v {
            "vm" => Some(VirtTest::Vm),
            "container" => Some(VirtTest::Container),
            "private-users" => Some(VirtTest::PrivateUsers),
            _ if VM_NAMES.contains(&v) || CONTAINER_NAMES.contains(&v) => {
                Some(VirtTest::Named(v.to_owned()))
            }
            _ => None,
        }
    }
}

fn virtualization_holds(sys: &System, test: &VirtTest) -> bool {
    match test {
        VirtTest::Any(want) => {
            (detect_container(sys).is_some() || detect_vm(sys).is_some()) == *want
        }
        // As systemd: with nesting, only the innermost technology counts (a
        // container in a VM is a container, not a VM).
        VirtTest::Vm => detect_container(sys).is_none() && detect_vm(sys).is_some(),
        VirtTest::Container => detect_container(sys).is_some(),
        VirtTest::PrivateUsers => in_user_namespace(sys),
        // As systemd: with nesting, only the innermost technology counts.
        VirtTest::Named(name) => {
            detect_container(sys).or_else(|| detect_vm(sys)).as_deref() == Some(name)
        }
    }
}

fn container_name(v: &str) -> String {
    let v = v.trim();
    if CONTAINER_NAMES.contains(&v) {
        v.to_owned()
    } else {
        "container-other".to_owned()
    }
}

/// Whether vigil runs in a container (what `ConditionVirtualization=container` asks),
/// its files read under `root` (`/`; a tree of a test's), the environment its own.
pub fn in_container(root: &Path) -> bool {
    let sys = System {
        root: root.to_path_buf(),
        env: None,
    };
    detect_container(&sys).is_some()
}

/// The container vigil runs in, first hit wins: `container=` in PID 1's
/// environment, then in the manager's own, /run/host/container-manager,
/// /run/systemd/container, /run/.containerenv (podman), /.dockerenv (docker),
/// a WSL kernel, OpenVZ's /proc/vz without /proc/bc.
fn detect_container(sys: &System) -> Option<String> {
    if let Ok(env) = fs::read(sys.path("proc/1/environ")) {
        let found = env
            .split(|&b| b == 0)
            .find_map(|e| e.strip_prefix(b"container="))
            .filter(|v| !v.is_empty());
        if let Some(v) = found {
            return Some(container_name(&String::from_utf8_lossy(v)));
        }
    }
    let own = sys
        .env_vars()
        .into_iter()
        .find(|(k, _)| k == "container")
        .map(|(_, v)| v.to_string_lossy().into_owned())
        .filter(|v| !v.is_empty());
    if let Some(v) = own {
        return Some(container_name(&v));
    }
    for file in ["run/host/container-manager", "run/systemd/container"] {
        if let Some(v) = sys.read_trimmed(file).filter(|v| !v.is_empty()) {
            return Some(container_name(&v));
        }
    }
    if sys.exists("run/.containerenv") {
        return Some("podman".into());
    }
    if sys.exists(".dockerenv") {
        return Some("docker".into());
    }
    if sys
        .read_trimmed("proc/sys/kernel/osrelease")
        .is_some_and(|r| r.contains("Microsoft") || r.contains("WSL"))
    {
        return Some("wsl".into());
    }
    if sys.exists("proc/vz") && !sys.exists("proc/bc") {
        return Some("openvz".into());
    }
    None
}

/// DMI vendor strings (prefixes) that name a hypervisor.
const DMI_VENDORS: &[(&str, &str)] = &[
    ("KVM", "kvm"),
    ("OpenStack", "kvm"),
    ("KubeVirt", "kvm"),
    ("Amazon EC2", "amazon"),
    ("QEMU", "qemu"),
    ("VMware", "vmware"),
    ("VMW", "vmware"),
    ("innotek GmbH", "oracle"),
    ("VirtualBox", "oracle"),
    ("Xen", "xen"),
    ("Bochs", "bochs"),
    ("Parallels", "parallels"),
    ("BHYVE", "bhyve"),
    ("Hyper-V", "microsoft"),
    ("Apple Virtualization", "apple"),
    ("Google Compute Engine", "google"),
];

/// The virtual machine vigil runs in: a Xen domU (/sys/hypervisor/type, not
/// dom0), the device tree's hypervisor node, z/VM or KVM in /proc/sysinfo,
/// User Mode Linux, DMI (/sys/class/dmi/id: sys_vendor, product_name,
/// board_vendor, bios_vendor), and last the `hypervisor` CPU flag in
/// /proc/cpuinfo (kvm when the kvm-clock clock source exists, else vm-other).
fn detect_vm(sys: &System) -> Option<String> {
    if sys.read_trimmed("sys/hypervisor/type").as_deref() == Some("xen") {
        let dom0 = sys
            .read_trimmed("proc/xen/capabilities")
            .is_some_and(|c| c.contains("control_d"));
        return (!dom0).then(|| "xen".into());
    }
    if let Some(dt) = sys.read_trimmed("proc/device-tree/hypervisor/compatible") {
        for (needle, name) in [("linux,kvm", "kvm"), ("xen", "xen"), ("vmware", "vmware")] {
            if dt.contains(needle) {
                return Some(name.into());
            }
        }
    }
    if let Some(info) = sys.read_trimmed("proc/sysinfo") {
        if info.contains("z/VM") {
            return Some("zvm".into());
        }
        if info.contains("KVM/Linux") {
            return Some("kvm".into());
        }
    }
    let cpuinfo = sys.read("proc/cpuinfo").unwrap_or_default();
    if cpuinfo.contains("User Mode Linux") {
        return Some("uml".into());
    }
    let hypervisor_flag = cpuinfo.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim() == "flags" && v.split_whitespace().any(|f| f == "hypervisor")
        })
    });
    let kvm_clock = sys
        .read("sys/devices/system/clocksource/clocksource0/available_clocksource")
        .is_ok_and(|s| s.split_whitespace().any(|c| c == "kvm-clock"));
    let dmi: Vec<String> = ["sys_vendor", "product_name", "board_vendor", "bios_vendor"]
        .iter()
        .filter_map(|f| sys.read_trimmed(&format!("sys/class/dmi/id/{f}")))
        .collect();
    if dmi
        .first()
        .is_some_and(|v| v.starts_with("Microsoft Corporation"))
        && dmi.get(1).is_some_and(|p| p.starts_with("Virtual Machine"))
    {
        return Some("microsoft".into());
    }
    let by_dmi = dmi.iter().find_map(|v| {
        DMI_VENDORS
            .iter()
            .find(|(prefix, _)| v.starts_with(prefix))
            .map(|(_, name)| *name)
    });
    match by_dmi {
        // QEMU's firmware under KVM acceleration: systemd reports kvm.
        Some("qemu") if hypervisor_flag && kvm_clock => Some("kvm".into()),
        Some(name) => Some(name.into()),
        None if hypervisor_flag => Some(if kvm_clock { "kvm" } else { "vm-other" }.into()),
        None => None,
    }
}

/// In a user namespace that does not map every uid (systemd's private-users).
fn in_user_namespace(sys: &System) -> bool {
    sys.read("proc/self/uid_map").is_ok_and(|m| {
        let f: Vec<&str> = m.split_whitespace().collect();
        f != ["0", "0", "4294967295"]
    })
}

// ---- capabilities ----------------------------------------------------------

/// Linux capability names in bit order (linux/capability.h).
const CAPABILITIES: &[&str] = &[
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

/// A capability by number (below 64) or by its `CAP_` name, case-insensitive.
pub(crate) fn capability_bit(name: &str) -> Option<u32> {
    if let Ok(n) = name.parse::<u32>() {
        return (n < 64).then_some(n);
    }
    let lower = name.to_ascii_lowercase();
    let bare = lower.strip_prefix("cap_")?;
    CAPABILITIES
        .iter()
        .position(|c| *c == bare)
        .and_then(|i| u32::try_from(i).ok())
}

// ---- power -----------------------------------------------------------------

/// systemd's rule: on AC power when any `Mains` supply is online, or when no
/// `Mains` supply reports at all. Supplies with `scope` `Device` (a mouse's
/// battery) are skipped.
fn on_ac_power(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return true;
    };
    let (mut online, mut offline) = (false, false);
    for e in entries.flatten() {
        let p = e.path();
        let read = |f: &str| fs::read_to_string(p.join(f)).map(|s| s.trim().to_owned());
        if read("scope").is_ok_and(|s| s == "Device") {
            continue;
        }
        if !read("type").is_ok_and(|t| t == "Mains") {
            continue;
        }
        match read("online").as_deref() {
            Ok("1") => online = true,
            Ok(_) => offline = true,
            Err(_) => {}
        }
    }
    online || !offline
}

// ---- host, machine id, first boot, updates --------------------------------

/// A 128-bit id written as 32 hex digits or as a UUID, normalised.
fn machine_id_form(v: &str) -> Option<String> {
    let hex: String = if v.len() == 36 {
        let dashes = [8, 13, 18, 23];
        if !v
            .char_indices()
            .all(|(i, c)| (c == '-') == dashes.contains(&i))
        {
            return None;
        }
        v.chars().filter(|&c| c != '-').collect()
    } else {
        v.to_owned()
    };
    (hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

/// A machine id is compared with /etc/machine-id; anything else is a glob
/// matched against the host name without regard to case (as systemd).
fn host_matches(sys: &System, arg: &str) -> bool {
    match machine_id_form(arg) {
        Some(id) => sys
            .read_trimmed("etc/machine-id")
            .and_then(|m| machine_id_form(&m))
            .is_some_and(|m| m == id),
        None => sys
            .read_trimmed("proc/sys/kernel/hostname")
            .is_some_and(|h| fnmatch(arg, &h, true)),
    }
}

/// First boot, as systemd decides it: `systemd.condition_first_boot=` on the
/// kernel command line wins; else /etc/machine-id is missing or says
/// `uninitialized`. Decided once per manager (at the first check, which
/// vigild makes at startup through [`note_boot_facts`]), so units that create
/// the machine id do not change the answer during the boot.
fn first_boot(sys: &System) -> bool {
    if sys.root == Path::new("/") {
        static FIRST_BOOT: OnceLock<bool> = OnceLock::new();
        *FIRST_BOOT.get_or_init(|| first_boot_now(sys))
    } else {
        first_boot_now(sys)
    }
}

fn first_boot_now(sys: &System) -> bool {
    let words = sys.cmdline().unwrap_or_default();
    if let Some(b) = cmdline_bool(&words, "systemd.condition_first_boot") {
        return b;
    }
    match fs::read_to_string(sys.path("etc/machine-id")) {
        Ok(text) => text.trim() == "uninitialized",
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// Records the facts systemd fixes when the manager starts (today: whether
/// this is the first boot). vigild calls it once at startup; calling it again
/// changes nothing.
pub fn note_boot_facts() {
    let _ = first_boot(&System::real());
}

/// Whether this is the first boot, as decided when the manager started
/// ([`note_boot_facts`]): what `ConditionFirstBoot=` checks, and what
/// generators get as `$SYSTEMD_FIRST_BOOT`.
pub fn is_first_boot() -> bool {
    first_boot(&System::real())
}

/// systemd's rule for `ConditionNeedsUpdate=/etc` (or `/var`): true when
/// /usr's modification time is newer than that of `DIR/.updated` (or the stamp
/// is missing), false when DIR is on a read-only mount.
/// `systemd.condition_needs_update=` on the kernel command line wins.
fn needs_update(sys: &System, dir: &Path) -> Result<bool, String> {
    let words = sys.cmdline().unwrap_or_default();
    if let Some(b) = cmdline_bool(&words, "systemd.condition_needs_update") {
        return Ok(b);
    }
    if let Ok(real) = fs::canonicalize(dir)
        && sys
            .read("proc/self/mountinfo")
            .is_ok_and(|m| is_read_only(&m, &real))
    {
        return Ok(false);
    }
    let usr = sys.path("usr");
    let usr_time = fs::metadata(&usr)
        .and_then(|m| m.modified())
        .map_err(|e| format!("cannot stat {}: {e}", usr.display()))?;
    let stamp = dir.join(".updated");
    let stamp_time = match fs::metadata(&stamp) {
        Ok(m) => m.modified().ok(),
        Err(_) => return Ok(true),
    };
    let Some(mut stamp_time) = stamp_time else {
        return Ok(true);
    };
    // On file systems without sub-second times, systemd-update-done writes the
    // exact time into the stamp as TIMESTAMP_NSEC=.
    let whole_seconds = stamp_time
        .duration_since(std::time::UNIX_EPOCH)
        .is_ok_and(|d| d.subsec_nanos() == 0);
    if whole_seconds {
        let exact = fs::read_to_string(&stamp).ok().and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("TIMESTAMP_NSEC="))
                .and_then(|n| n.trim().parse::<u64>().ok())
        });
        if let Some(ns) = exact {
            stamp_time = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns);
        }
    }
    Ok(usr_time > stamp_time)
}

// ---- architecture ----------------------------------------------------------

/// systemd's architecture names.
const ARCHITECTURES: &[&str] = &[
    "x86",
    "x86-64",
    "ppc",
    "ppc-le",
    "ppc64",
    "ppc64-le",
    "ia64",
    "parisc",
    "parisc64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "mips",
    "mips-le",
    "mips64",
    "mips64-le",
    "alpha",
    "arm",
    "arm-be",
    "arm64",
    "arm64-be",
    "sh",
    "sh64",
    "m68k",
    "tilegx",
    "cris",
    "nios2",
    "riscv32",
    "riscv64",
    "arc",
    "arc-be",
    "loongarch64",
];

/// Whether `name` is `native` or one of systemd's architecture names.
fn is_architecture(name: &str) -> bool {
    name == "native" || ARCHITECTURES.contains(&name)
}

/// The kernel's machine name (uname -m) in systemd's naming.
fn uname_architecture(machine: &str) -> Option<String> {
    let m = machine.trim();
    let name = match m {
        "x86_64" | "amd64" => "x86-64",
        "i386" | "i486" | "i586" | "i686" => "x86",
        "aarch64" => "arm64",
        "aarch64_be" => "arm64-be",
        "ppc64" => "ppc64",
        "ppc64le" => "ppc64-le",
        "ppc" => "ppc",
        "ppcle" => "ppc-le",
        "s390x" => "s390x",
        "s390" => "s390",
        "riscv64" => "riscv64",
        "riscv32" => "riscv32",
        "loongarch64" => "loongarch64",
        "sparc64" => "sparc64",
        "sparc" => "sparc",
        "mips64" => "mips64",
        "mips" => "mips",
        "alpha" => "alpha",
        "ia64" => "ia64",
        "parisc64" => "parisc64",
        "parisc" => "parisc",
        "m68k" => "m68k",
        "sh64" => "sh64",
        "tilegx" => "tilegx",
        "cris" => "cris",
        "nios2" => "nios2",
        m if m.starts_with("arm") && m.ends_with('b') => "arm-be",
        m if m.starts_with("arm") => "arm",
        m if m.starts_with("sh") => "sh",
        m if m.starts_with("arc") => {
            if m.ends_with("eb") {
                "arc-be"
            } else {
                "arc"
            }
        }
        _ => return None,
    };
    Some(name.to_owned())
}

/// The architecture vigild was built for (systemd's `native`), used when the
/// kernel's cannot be read.
fn native_architecture() -> String {
    let little = cfg!(target_endian = "little");
    let name = match std::env::consts::ARCH {
        "x86_64" => "x86-64",
        "x86" => "x86",
        "aarch64" if little => "arm64",
        "aarch64" => "arm64-be",
        "arm" if little => "arm",
        "arm" => "arm-be",
        "powerpc64" if little => "ppc64-le",
        "powerpc64" => "ppc64",
        "powerpc" => "ppc",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "riscv32" => "riscv32",
        "loongarch64" => "loongarch64",
        "sparc64" => "sparc64",
        "mips64" if little => "mips64-le",
        "mips64" => "mips64",
        "mips" if little => "mips-le",
        "mips" => "mips",
        "m68k" => "m68k",
        other => other,
    };
    name.to_owned()
}

// ---- security --------------------------------------------------------------

const SECURITY_NAMES: &[&str] = &[
    "selinux",
    "apparmor",
    "tomoyo",
    "smack",
    "ima",
    "audit",
    "uefi-secureboot",
    "tpm2",
    "cvm",
    "measured-uki",
];

const EFI_GLOBAL: &str = "8be4df61-93ca-11d2-aa0d-00e098032b8c";
const EFI_LOADER: &str = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

fn security_holds(sys: &System, what: &str) -> bool {
    match what {
        "selinux" => sys.exists("sys/fs/selinux/enforce"),
        "apparmor" => sys
            .read_trimmed("sys/module/apparmor/parameters/enabled")
            .is_some_and(|v| v.starts_with('Y')),
        "tomoyo" => sys.exists("sys/kernel/security/tomoyo/version"),
        "smack" => sys.exists("sys/fs/smackfs"),
        "ima" => sys.exists("sys/kernel/security/ima"),
        "audit" => {
            let off = sys
                .cmdline()
                .is_ok_and(|w| w.iter().any(|w| w == "audit=0" || w == "audit=off"));
            sys.exists("proc/self/loginuid") && !off
        }
        "uefi-secureboot" => {
            fs::read(sys.path(&format!("sys/firmware/efi/efivars/SecureBoot-{EFI_GLOBAL}")))
                // Four bytes of attributes, then the value.
                .is_ok_and(|v| v.len() == 5 && v.get(4) == Some(&1))
        }
        "tpm2" => {
            let rm =
                fs::read_dir(sys.path("sys/class/tpmrm")).is_ok_and(|mut d| d.next().is_some());
            rm || fs::read_dir(sys.path("sys/class/tpm")).is_ok_and(|d| {
                d.flatten().any(|e| {
                    fs::read_to_string(e.path().join("tpm_version_major"))
                        .is_ok_and(|v| v.trim() == "2")
                })
            })
        }
        "cvm" => ["dev/sev-guest", "dev/tdx_guest", "dev/tdx-guest"]
            .iter()
            .any(|p| sys.exists(p)),
        "measured-uki" => sys.exists(&format!(
            "sys/firmware/efi/efivars/StubPcrKernelImage-{EFI_LOADER}"
        )),
        _ => false,
    }
}

// ---- users, groups, environment --------------------------------------------

/// The system user range's end (Debian's SYS_UID_MAX, systemd's default).
const SYSTEM_UID_MAX: u32 = 999;

/// Real and effective ids (and for groups the supplementary ones) from
/// /proc/self/status text.
fn status_ids(status: &str, field: &str) -> Vec<u32> {
    status_field(status, field)
        .map(|v| {
            v.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The id of `name` in /etc/passwd or /etc/group text (field 3). No NSS.
fn id_in_file(text: &str, name: &str) -> Option<u32> {
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

/// A number is a uid; `@system` is a uid up to 999; a name is looked up in
/// /etc/passwd. Holds when the manager's real or effective uid is that one.
fn user_matches(sys: &System, arg: &str) -> Result<bool, String> {
    let status = sys.read("proc/self/status")?;
    let ids: Vec<u32> = status_ids(&status, "Uid").into_iter().take(2).collect();
    if ids.is_empty() {
        return Err("no Uid in /proc/self/status".into());
    }
    if let Ok(uid) = arg.parse::<u32>() {
        return Ok(ids.contains(&uid));
    }
    if arg == "@system" {
        return Ok(ids.iter().any(|&id| id <= SYSTEM_UID_MAX));
    }
    let passwd = sys.read("etc/passwd").unwrap_or_default();
    let uid = id_in_file(&passwd, arg).or((arg == "root").then_some(0));
    Ok(uid.is_some_and(|u| ids.contains(&u)))
}

/// A number is a gid; a name is looked up in /etc/group. Holds when it is the
/// manager's real, effective or a supplementary group.
fn group_matches(sys: &System, arg: &str) -> Result<bool, String> {
    let status = sys.read("proc/self/status")?;
    let mut ids: Vec<u32> = status_ids(&status, "Gid").into_iter().take(2).collect();
    if ids.is_empty() {
        return Err("no Gid in /proc/self/status".into());
    }
    ids.extend(status_ids(&status, "Groups"));
    if let Ok(gid) = arg.parse::<u32>() {
        return Ok(ids.contains(&gid));
    }
    let group = sys.read("etc/group").unwrap_or_default();
    let gid = id_in_file(&group, arg).or((arg == "root").then_some(0));
    Ok(gid.is_some_and(|g| ids.contains(&g)))
}

/// `KEY=VALUE` matches that exact variable; `KEY` matches any value.
fn env_matches(env: &[(OsString, OsString)], arg: &str) -> bool {
    match arg.split_once('=') {
        Some((k, v)) => env.iter().any(|(ek, ev)| ek == k && ev == v),
        None => env.iter().any(|(ek, _)| ek == arg),
    }
}

// ---- comparisons: kernel version, os-release, memory, CPUs, firmware --------

/// systemd's comparison operators. `=`/`!=` compare strings (numbers for
/// memory and CPUs), the ordering ones and `==`/`<>` compare versions, `$=`
/// and `!$=` match an fnmatch(3) glob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    VerEq,
    VerNe,
    Ge,
    Gt,
    StrEq,
    StrNe,
    Glob,
    NotGlob,
}

impl Op {
    /// The operator at the start of `s` and what follows it.
    fn split(s: &str) -> Option<(Op, &str)> {
        // Longest first: `<=` before `<`, `!$=` before `!=`.
        const OPS: &[(&str, Op)] = &[
            ("!$=", Op::NotGlob),
            ("$=", Op::Glob),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("==", Op::VerEq),
            ("<>", Op::VerNe),
            ("!=", Op::StrNe),
            ("<", Op::Lt),
            (">", Op::Gt),
            ("=", Op::StrEq),
        ];
        OPS.iter()
            .find_map(|(text, op)| s.strip_prefix(text).map(|rest| (*op, rest)))
    }

    fn order_holds(self, o: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Op::Lt => o == Less,
            Op::Le => o != Greater,
            Op::VerEq | Op::StrEq => o == Equal,
            Op::VerNe | Op::StrNe => o != Equal,
            Op::Ge => o != Less,
            Op::Gt => o == Greater,
            // Rejected for numbers at load; a glob never orders.
            Op::Glob | Op::NotGlob => false,
        }
    }

    fn holds_str(self, have: &str, want: &str) -> bool {
        match self {
            Op::StrEq => have == want,
            Op::StrNe => have != want,
            Op::Glob => fnmatch(want, have, false),
            Op::NotGlob => !fnmatch(want, have, false),
            _ => self.order_holds(version_cmp(have, want)),
        }
    }

    fn holds_num(self, have: u64, want: u64) -> bool {
        self.order_holds(have.cmp(&want))
    }
}

/// Version order, as systemd's `strverscmp_improved` (used by its version
/// comparisons in conditions). A version is read as segments: a run of
/// digits (compared as a number, leading zeros ignored) or of ASCII letters
/// (compared byte by byte, the longer of two equal starts newer), each with an
/// optional prefix mark. Characters other than digits, letters, `~`, `-`, `^`
/// and `.` are dropped where a segment starts. Where the two versions differ
/// in their mark (or one has ended), the order is:
///
/// `~` (a pre-release: `1.0~rc1` < `1.0`) < the end (`1.0` < `1.0-1`) <
/// `-` (the release: `123-1` < `123^1`) < `^` (a patched release:
/// `123^1` < `123.1`) < `.` (a point release: `123.1` < `123a`) < no mark.
///
/// A numeric segment is newer than an alphabetic or empty one
/// (`123^patch1` < `123^1`, `123..0` < `123.0`).
fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering::{self, Equal, Greater, Less};
    /// The marks after the end of a version, from older to newer.
    const MARKS_AFTER_END: [u8; 3] = [b'-', b'^', b'.'];
    fn counts(c: &u8) -> bool {
        c.is_ascii_alphanumeric() || matches!(c, b'~' | b'-' | b'^' | b'.')
    }
    /// When exactly one of the two starts with `mark`, that one is older;
    /// when both do, the mark is consumed from both.
    fn mark(a: &mut &[u8], b: &mut &[u8], mark: u8) -> Option<Ordering> {
        match (a.first() == Some(&mark), b.first() == Some(&mark)) {
            (true, true) => {
                *a = &a[1..];
                *b = &b[1..];
                None
            }
            (true, false) => Some(Less),
            (false, true) => Some(Greater),
            (false, false) => None,
        }
    }
    /// The leading run of bytes that satisfy `is`, and the rest.
    fn run(s: &[u8], is: fn(&u8) -> bool) -> (&[u8], &[u8]) {
        s.split_at(s.iter().position(|c| !is(c)).unwrap_or(s.len()))
    }

    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        a = &a[a.iter().position(counts).unwrap_or(a.len())..];
        b = &b[b.iter().position(counts).unwrap_or(b.len())..];
        if let Some(o) = mark(&mut a, &mut b, b'~') {
            return o;
        }
        if a.is_empty() || b.is_empty() {
            // The one that ended is older (a `~` sorts before the end: above).
            return (!a.is_empty()).cmp(&!b.is_empty());
        }
        for m in MARKS_AFTER_END {
            if let Some(o) = mark(&mut a, &mut b, m) {
                return o;
            }
        }
        let digits = |c: &[u8]| c.first().is_some_and(u8::is_ascii_digit);
        let (o, rest_a, rest_b) = if digits(a) || digits(b) {
            let ((na, ra), (nb, rb)) = (run(a, u8::is_ascii_digit), run(b, u8::is_ascii_digit));
            // A number is newer than no number at all here.
            let o = (!na.is_empty()).cmp(&!nb.is_empty()).then_with(|| {
                let zeros = |n: &[u8]| n.iter().take_while(|&&c| c == b'0').count();
                let (na, nb) = (&na[zeros(na)..], &nb[zeros(nb)..]);
                na.len().cmp(&nb.len()).then_with(|| na.cmp(nb))
            });
            (o, ra, rb)
        } else {
            let ((wa, ra), (wb, rb)) = (
                run(a, u8::is_ascii_alphabetic),
                run(b, u8::is_ascii_alphabetic),
            );
            (wa.cmp(wb), ra, rb)
        };
        if o != Equal {
            return o;
        }
        (a, b) = (rest_a, rest_b);
    }
}

/// Splits at whitespace outside quotes (`"..."` or `'...'`, removed), with
/// `\` escaping the next character outside single quotes.
fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                cur.push(chars.next().ok_or("trailing backslash")?);
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unbalanced quotes".into());
    }
    if in_word {
        words.push(cur);
    }
    if words.is_empty() {
        return Err("empty value".into());
    }
    Ok(words)
}

/// `ConditionKernelVersion=`: expressions such as `>=5.10 "<= 6.9" !=6.1.0`
/// (whitespace after the operator allowed; an operator alone takes the next
/// word); a word without an operator is a glob (`$=`).
fn version_tests(arg: &str) -> Result<Vec<(Op, String)>, String> {
    let words = split_words(arg)?;
    let mut tests = Vec::new();
    let mut it = words.iter().map(|w| w.trim()).filter(|w| !w.is_empty());
    while let Some(w) = it.next() {
        let (op, rest) = Op::split(w).unwrap_or((Op::Glob, w));
        let rest = rest.trim();
        let want = if rest.is_empty() {
            it.next()
                .ok_or_else(|| format!("operator {w:?} without a version"))?
        } else {
            rest
        };
        tests.push((op, want.to_owned()));
    }
    if tests.is_empty() {
        return Err("empty value".into());
    }
    Ok(tests)
}

/// `ConditionOSRelease=`: words `KEY OP VALUE` (`ID=debian`,
/// `"VERSION_ID >= 12"`); all must hold.
fn os_release_tests(arg: &str) -> Result<Vec<(String, Op, String)>, String> {
    split_words(arg)?
        .iter()
        .map(|w| {
            let w = w.trim();
            let end = w
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(w.len());
            let (key, rest) = w.split_at(end);
            let (op, want) = Op::split(rest.trim_start())
                .ok_or_else(|| format!("{w:?} is not KEY=VALUE or KEY, an operator, VALUE"))?;
            if key.is_empty() {
                return Err(format!("{w:?} has no key"));
            }
            Ok((key.to_owned(), op, want.trim().to_owned()))
        })
        .collect()
}

/// os-release(5) text as `(KEY, value)`, quotes and escapes removed.
pub(crate) fn os_release_fields(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                return None;
            }
            let (k, v) = l.split_once('=')?;
            let v = v.trim();
            let value = match split_words(v) {
                Ok(w) if w.len() == 1 => w.concat(),
                _ => v.to_owned(),
            };
            Some((k.trim().to_owned(), value))
        })
        .collect()
}

/// `ConditionMemory=`/`ConditionCPUs=`: an optional operator (default `>=`),
/// then a value; globs are rejected.
fn number_test(
    arg: &str,
    parse: impl Fn(&str) -> Result<u64, String>,
) -> Result<(Op, u64), String> {
    let (op, rest) = Op::split(arg).unwrap_or((Op::Ge, arg));
    if matches!(op, Op::Glob | Op::NotGlob) {
        return Err(format!("{arg:?}: a glob does not compare numbers"));
    }
    Ok((op, parse(rest.trim())?))
}

/// `ConditionMemory=`: a size (`2G`).
fn memory_test(arg: &str) -> Result<(Op, u64), String> {
    number_test(arg, |v| value::parse_size(v).map_err(|e| e.to_string()))
}

/// `ConditionCPUs=`: a count.
fn cpus_test(arg: &str) -> Result<(Op, u64), String> {
    number_test(arg, |v| {
        v.parse::<u64>()
            .map_err(|_| format!("{v:?} is not a number of CPUs"))
    })
}

/// Bytes of RAM: `MemTotal:` in /proc/meminfo.
fn physical_memory(sys: &System) -> Result<u64, String> {
    let text = sys.read("proc/meminfo")?;
    status_field(&text, "MemTotal")
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .and_then(|kb| kb.checked_mul(1024))
        .ok_or_else(|| "no MemTotal in /proc/meminfo".into())
}

/// The number of CPUs in vigild's affinity mask (`Cpus_allowed_list:` in
/// /proc/self/status, e.g. `0-3,8`).
fn allowed_cpus(sys: &System) -> Result<u64, String> {
    let status = sys.read("proc/self/status")?;
    let list = status_field(&status, "Cpus_allowed_list")
        .ok_or("no Cpus_allowed_list in /proc/self/status")?;
    cpu_list_count(list.trim()).ok_or_else(|| format!("bad Cpus_allowed_list {list:?}"))
}

fn cpu_list_count(list: &str) -> Option<u64> {
    list.split(',').try_fold(0u64, |n, part| {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo.parse::<u64>().ok()?, hi.parse::<u64>().ok()?),
            None => {
                let one = part.parse::<u64>().ok()?;
                (one, one)
            }
        };
        n.checked_add(hi.checked_sub(lo)? + 1)
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum FirmwareTest {
    Uefi,
    DeviceTree,
    DeviceTreeCompatible(String),
    Smbios { field: String, op: Op, want: String },
}

impl FirmwareTest {
    fn parse(arg: &str) -> Result<FirmwareTest, String> {
        let inner = |name: &str| {
            arg.strip_prefix(name)
                .and_then(|r| r.strip_prefix('('))
                .and_then(|r| r.strip_suffix(')'))
        };
        if arg == "uefi" {
            Ok(FirmwareTest::Uefi)
        } else if arg == "device-tree" {
            Ok(FirmwareTest::DeviceTree)
        } else if let Some(c) = inner("device-tree-compatible") {
            if c.is_empty() {
                return Err("device-tree-compatible() needs a value".into());
            }
            Ok(FirmwareTest::DeviceTreeCompatible(c.to_owned()))
        } else if let Some(expr) = inner("smbios-field") {
            let expr = expr.trim();
            let end = expr
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(expr.len());
            let (field, rest) = expr.split_at(end);
            let (op, want) = Op::split(rest.trim_start())
                .filter(|_| !field.is_empty())
                .ok_or_else(|| format!("smbios-field({expr}) is not FIELD OPERATOR VALUE"))?;
            let want = match split_words(want.trim()) {
                Ok(w) => w.join(" "),
                Err(_) => want.trim().to_owned(),
            };
            Ok(FirmwareTest::Smbios {
                field: field.to_owned(),
                op,
                want,
            })
        } else {
            Err(format!(
                "unknown firmware test {arg:?} (uefi, device-tree, device-tree-compatible(VALUE) or smbios-field(FIELD OPERATOR VALUE))"
            ))
        }
    }

    fn holds(&self, sys: &System) -> Result<bool, String> {
        Ok(match self {
            FirmwareTest::Uefi => sys.exists("sys/firmware/efi"),
            FirmwareTest::DeviceTree => sys.exists("sys/firmware/devicetree/base"),
            FirmwareTest::DeviceTreeCompatible(want) => {
                fs::read(sys.path("sys/firmware/devicetree/base/compatible"))
                    .is_ok_and(|v| v.split(|&b| b == 0).any(|c| c == want.as_bytes()))
            }
            FirmwareTest::Smbios { field, op, want } => {
                let have = sys.read(&format!("sys/class/dmi/id/{field}"))?;
                op.holds_str(have.trim(), want)
            }
        })
    }
}

// ---- encryption, cgroups ---------------------------------------------------

/// Whether the block device under `path` is dm-crypt: its `dm/uuid` in
/// /sys/dev/block/MAJ:MIN starts with `CRYPT-`, or one of the devices it is
/// built on (`slaves/`, followed down: LVM on LUKS) is. A path on a file
/// system without a block device (tmpfs, a btrfs subvolume's anonymous
/// device) or a missing path is not encrypted.
fn path_is_encrypted(sys: &System, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = fs::metadata(path) else {
        return false;
    };
    let dev = m.dev();
    // glibc's gnu_dev_major/gnu_dev_minor split of a dev_t.
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    major != 0 && block_is_crypt(sys, &format!("{major}:{minor}"), 0)
}

fn block_is_crypt(sys: &System, dev: &str, depth: u32) -> bool {
    let base = format!("sys/dev/block/{dev}");
    if sys
        .read_trimmed(&format!("{base}/dm/uuid"))
        .is_some_and(|u| u.starts_with("CRYPT-"))
    {
        return true;
    }
    // Device stacks are shallow; the bound only guards against a loop.
    if depth >= 8 {
        return false;
    }
    let Ok(slaves) = fs::read_dir(sys.path(&format!("{base}/slaves"))) else {
        return false;
    };
    slaves.flatten().any(|e| {
        fs::read_to_string(e.path().join("dev"))
            .is_ok_and(|d| block_is_crypt(sys, d.trim(), depth + 1))
    })
}

/// The controllers systemd knows; other names (the `bpf-*` pseudo
/// controllers included) are ignored, as systemd ignores unknown ones.
const CGROUP_CONTROLLERS: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "io", "blkio", "memory", "devices", "pids",
];

/// `v2`: /sys/fs/cgroup is a cgroup2 mount (the unified hierarchy); `v1`: a
/// cgroup v1 hierarchy is mounted (legacy or hybrid). A controller name: on
/// v2 it is listed in /sys/fs/cgroup/cgroup.controllers (`cpuacct` counts as
/// `cpu`, `blkio` as `io`, `devices` is always there: it is BPF), on v1 it is
/// enabled in /proc/cgroups (`io` counts as `blkio`). Every word must hold.
fn cgroup_controllers_hold(sys: &System, words: &[String]) -> Result<bool, String> {
    let mounts = mounts(&sys.read("proc/self/mountinfo")?);
    let unified = mounts
        .iter()
        .rev()
        .find(|m| m.point == Path::new("/sys/fs/cgroup"))
        .is_some_and(|m| m.fstype == "cgroup2");
    let legacy = mounts.iter().any(|m| m.fstype == "cgroup");
    let mut available: Option<Vec<String>> = None;
    for w in words {
        let ok = match w.as_str() {
            "v2" => unified,
            "v1" => !unified && legacy,
            c if !CGROUP_CONTROLLERS.contains(&c) => true,
            c => {
                if available.is_none() {
                    available = Some(if unified {
                        sys.read("sys/fs/cgroup/cgroup.controllers")?
                            .split_whitespace()
                            .map(str::to_owned)
                            .collect()
                    } else {
                        sys.read("proc/cgroups")?
                            .lines()
                            .filter(|l| !l.starts_with('#'))
                            .filter_map(|l| {
                                let f: Vec<&str> = l.split_whitespace().collect();
                                (f.get(3) == Some(&"1"))
                                    .then(|| f.first().map(|s| s.to_string()))?
                            })
                            .collect()
                    });
                }
                let have = |n: &str| available.iter().flatten().any(|a| a == n);
                match (unified, c) {
                    (true, "cpuacct") => have("cpu"),
                    (true, "blkio") => have("io"),
                    (true, "devices") => true,
                    (false, "io") => have("blkio"),
                    _ => have(c),
                }
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::time::{Duration, SystemTime};

    fn in_ci() -> bool {
        std::env::var("CI").as_deref() == Ok("true")
    }

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vigil-units-cond-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn c(kind: ConditionKind, arg: &Path, trigger: bool, negate: bool) -> Condition {
        cond(kind, &arg.to_string_lossy(), trigger, negate)
    }

    #[test]
    fn every_kind_on_real_files() {
        let d = tmpdir("kinds");
        let file = d.join("file");
        fs::write(&file, "x").unwrap();
        let empty = d.join("empty");
        fs::write(&empty, "").unwrap();
        let exe = d.join("exe");
        fs::write(&exe, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&exe, fs::Permissions::from_mode(0o744)).unwrap();
        let full_dir = d.join("full");
        fs::create_dir(&full_dir).unwrap();
        fs::write(full_dir.join("a"), "").unwrap();
        let empty_dir = d.join("emptydir");
        fs::create_dir(&empty_dir).unwrap();
        let missing = d.join("missing");
        let dangling = d.join("dangling");
        symlink(&missing, &dangling).unwrap();
        let exe_dir = d.join("exedir");
        fs::create_dir(&exe_dir).unwrap();
        // Only what systemd passes over: a hidden file, a backup, a package leftover.
        let leftovers_dir = d.join("leftovers");
        fs::create_dir(&leftovers_dir).unwrap();
        for name in [".hidden", "conf~", "app.conf.dpkg-old", "lost+found"] {
            fs::write(leftovers_dir.join(name), "").unwrap();
        }

        use ConditionKind::*;
        let cases: &[(ConditionKind, &Path, bool)] = &[
            (PathExists, &file, true),
            (PathExists, &full_dir, true),
            (PathExists, &missing, false),
            (PathExists, &dangling, false),
            (PathIsDirectory, &full_dir, true),
            (PathIsDirectory, &file, false),
            (PathIsDirectory, &missing, false),
            (FileIsExecutable, &exe, true),
            (FileIsExecutable, &file, false),
            (FileIsExecutable, &exe_dir, false),
            (FileIsExecutable, &missing, false),
            (DirectoryNotEmpty, &full_dir, true),
            (DirectoryNotEmpty, &empty_dir, false),
            (DirectoryNotEmpty, &leftovers_dir, false),
            (DirectoryNotEmpty, &file, false),
            (DirectoryNotEmpty, &missing, false),
            (FileNotEmpty, &file, true),
            (FileNotEmpty, &empty, false),
            (FileNotEmpty, &full_dir, false),
            (FileNotEmpty, &missing, false),
        ];
        for (kind, path, expect) in cases {
            assert_eq!(
                holds(&c(*kind, path, false, false)),
                *expect,
                "{kind:?} {path:?}"
            );
            assert_eq!(
                holds(&c(*kind, path, false, true)),
                !*expect,
                "!{kind:?} {path:?}"
            );
        }
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn trigger_and_negate_semantics() {
        let d = tmpdir("sem");
        let yes = d.join("yes");
        fs::write(&yes, "x").unwrap();
        let no = d.join("no");
        let pe = ConditionKind::PathExists;

        assert_eq!(evaluate(&[]), Ok(()));
        assert_eq!(evaluate(&[c(pe, &yes, false, false)]), Ok(()));
        assert_eq!(
            evaluate(&[c(pe, &yes, false, false), c(pe, &yes, false, true)]),
            Err(format!("ConditionPathExists=!{}", yes.display()))
        );
        // One triggering condition passing is enough.
        assert_eq!(
            evaluate(&[c(pe, &no, true, false), c(pe, &yes, true, false)]),
            Ok(())
        );
        // All triggering failing fails, naming each.
        assert_eq!(
            evaluate(&[c(pe, &no, true, false), c(pe, &yes, true, true)]),
            Err(format!(
                "ConditionPathExists=|{}, ConditionPathExists=|!{}",
                no.display(),
                yes.display()
            ))
        );
        // A non-triggering failure wins even when a trigger passes.
        assert_eq!(
            evaluate(&[c(pe, &yes, true, false), c(pe, &no, false, false)]),
            Err(format!("ConditionPathExists={}", no.display()))
        );
        // `|!` passes when the path is missing.
        assert_eq!(evaluate(&[c(pe, &no, true, true)]), Ok(()));
        assert_eq!(
            evaluate_for_manager(
                &[c(ConditionKind::PathIsDirectory, &yes, false, false)],
                true,
                &[]
            ),
            Err(format!("AssertPathIsDirectory={}", yes.display()))
        );
        fs::remove_dir_all(&d).unwrap();
    }

    /// A fake root for system facts, with `files` written under it.
    fn fake(tag: &str, files: &[(&str, &str)]) -> System {
        let root = tmpdir(&format!("root-{tag}"));
        for (rel, text) in files {
            let p = root.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, text).unwrap();
        }
        System {
            root,
            env: Some(Vec::new()),
        }
    }

    fn on(sys: &System, kind: ConditionKind, arg: &str) -> bool {
        assert_eq!(validate(kind, arg), Ok(()), "{kind:?} {arg}");
        check(sys, kind, arg).unwrap()
    }

    fn cond(kind: ConditionKind, arg: &str, trigger: bool, negate: bool) -> Condition {
        Condition {
            kind,
            trigger,
            negate,
            arg: arg.to_owned(),
            line: 1,
        }
    }

    #[test]
    fn fnmatch_and_braces() {
        assert!(fnmatch("*", "anything", false));
        assert!(fnmatch("tty?", "tty1", false));
        assert!(!fnmatch("tty?", "tty10", false));
        assert!(fnmatch("tty[0-9]*", "tty10", false));
        assert!(!fnmatch("tty[!0-9]", "tty1", false));
        assert!(fnmatch("tty[!0-9]", "ttyS", false));
        assert!(fnmatch("a*b*c", "aXXbYYbc", false));
        assert!(!fnmatch("a*b*c", "aXXbYYb", false));
        assert!(fnmatch(r"a\*", "a*", false));
        assert!(!fnmatch(r"a\*", "ab", false));
        assert!(fnmatch("[]x]", "]", false));
        assert!(fnmatch("[", "[", false));
        assert!(fnmatch("WEB-*", "web-01", true));
        assert!(!fnmatch("WEB-*", "web-01", false));
        assert!(fnmatch("", "", false));
        assert!(!fnmatch("", "x", false));
        assert_eq!(expand_braces("/a/{b,c}/d"), ["/a/b/d", "/a/c/d"]);
        assert_eq!(expand_braces("{x,y{1,2}}z"), ["xz", "y1z", "y2z"]);
        assert_eq!(expand_braces("/no/{brace}"), ["/no/{brace}"]);
    }

    #[test]
    fn glob_symlink_on_real_files() {
        let d = tmpdir("glob");
        fs::create_dir_all(d.join("sub/deeper")).unwrap();
        fs::write(d.join("sub/deeper/unit.conf"), "").unwrap();
        fs::write(d.join(".hidden"), "").unwrap();
        symlink(d.join("sub"), d.join("link")).unwrap();
        symlink(d.join("missing"), d.join("dangling")).unwrap();
        let p = |s: &str| format!("{}/{s}", d.display());
        use ConditionKind::*;
        let sys = System::real();
        assert!(on(&sys, PathExistsGlob, &p("sub/*/*.conf")));
        assert!(on(&sys, PathExistsGlob, &p("s?b/deeper/unit.con[a-f]")));
        assert!(on(&sys, PathExistsGlob, &p("{nope,sub}/deeper")));
        assert!(on(&sys, PathExistsGlob, &p("sub/deeper/unit.conf")));
        assert!(!on(&sys, PathExistsGlob, &p("sub/*/*.service")));
        assert!(!on(&sys, PathExistsGlob, &p("nope/*")));
        // A wildcard does not match a leading dot unless written.
        assert!(!on(&sys, PathExistsGlob, &p("*hidden")));
        assert!(on(&sys, PathExistsGlob, &p(".hid*")));
        assert!(on(&sys, PathExistsGlob, "/proc/self/fd/*"));
        assert!(on(&sys, PathIsSymbolicLink, &p("link")));
        assert!(on(&sys, PathIsSymbolicLink, &p("dangling")));
        assert!(!on(&sys, PathIsSymbolicLink, &p("sub")));
        assert!(!on(&sys, PathIsSymbolicLink, &p("missing")));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn mount_points_and_read_only_on_the_real_system() {
        use ConditionKind::*;
        let sys = System::real();
        assert!(on(&sys, PathIsMountPoint, "/"));
        assert!(on(&sys, PathIsMountPoint, "/proc"));
        // Symlinks are followed (as systemd's AT_SYMLINK_FOLLOW).
        let d = tmpdir("mnt");
        symlink("/proc", d.join("to-proc")).unwrap();
        assert!(on(
            &sys,
            PathIsMountPoint,
            &format!("{}/to-proc", d.display())
        ));
        assert!(!on(&sys, PathIsMountPoint, &d.to_string_lossy()));
        assert!(!on(&sys, PathIsMountPoint, "/proc/self/status"));
        assert!(!on(&sys, PathIsMountPoint, "/nonexistent/vigil"));
        assert!(on(&sys, PathIsReadWrite, &d.to_string_lossy()));
        assert!(!on(&sys, PathIsReadWrite, "/nonexistent/vigil"));
        // A bind mount of a directory on itself is a mount point (needs root;
        // say so when it cannot be made rather than pass silently).
        let bound = std::process::Command::new("mount")
            .arg("--bind")
            .arg(&d)
            .arg(&d)
            .status()
            .is_ok_and(|s| s.success());
        if bound {
            let is_mp = on(&sys, PathIsMountPoint, &d.to_string_lossy());
            let ro = std::process::Command::new("mount")
                .args(["-o", "remount,bind,ro"])
                .arg(&d)
                .status()
                .is_ok_and(|s| s.success());
            let rw = on(&sys, PathIsReadWrite, &d.to_string_lossy());
            let _ = std::process::Command::new("umount").arg(&d).status();
            assert!(is_mp, "a bind mount on itself is a mount point");
            assert!(
                ro || !in_ci(),
                "CI=true: the read-only remount must work (root)"
            );
            if ro {
                assert!(!rw, "a read-only bind mount is not read-write");
            }
            assert!(!on(&sys, PathIsMountPoint, &d.to_string_lossy()));
        } else {
            assert!(!in_ci(), "CI=true: the bind mount must be possible (root)");
            eprintln!("bind mount not possible here: only the mountinfo text tests cover it");
        }
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn mountinfo_text() {
        let info = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:5 / /proc rw,nosuid - proc proc rw
30 22 8:2 / /mnt/my\\040disk ro,relatime - ext4 /dev/sdb1 rw
31 22 8:3 / /srv rw - ext4 /dev/sdc1 ro,errors=remount-ro
32 22 8:1 /var/lib/x /var/lib/x rw - ext4 /dev/sda1 rw
33 32 8:4 / /var/lib/x ro - ext4 /dev/sdd1 rw
garbage line
";
        let p = Path::new;
        assert!(is_mount_point(info, p("/")));
        assert!(is_mount_point(info, p("/mnt/my disk")));
        assert!(is_mount_point(info, p("/var/lib/x")));
        assert!(!is_mount_point(info, p("/var/lib")));
        assert!(!is_mount_point(info, p("/mnt/my")));
        assert!(!is_read_only(info, p("/etc/passwd")));
        assert!(is_read_only(info, p("/mnt/my disk/file")));
        // The file system's own options count too.
        assert!(is_read_only(info, p("/srv/www")));
        assert!(!is_read_only(info, p("/srvx")));
        // The later of two mounts on the same point is the one seen.
        assert!(is_read_only(info, p("/var/lib/x/y")));
    }

    #[test]
    fn kernel_command_line_words_and_matching() {
        let text = "BOOT_IMAGE=/vmlinuz root=UUID=abc ro quiet \"acpi_osi=Windows 2020\" \
                    systemd.unit=rescue.target -- single --weird\n";
        let w = cmdline_words(text);
        assert_eq!(
            w,
            [
                "BOOT_IMAGE=/vmlinuz",
                "root=UUID=abc",
                "ro",
                "quiet",
                "acpi_osi=Windows 2020",
                "systemd.unit=rescue.target"
            ]
        );
        assert!(cmdline_matches(&w, "quiet"));
        assert!(cmdline_matches(&w, "root"));
        assert!(cmdline_matches(&w, "root=UUID=abc"));
        assert!(!cmdline_matches(&w, "root=UUID"));
        assert!(!cmdline_matches(&w, "qui"));
        assert!(!cmdline_matches(&w, "roo"));
        assert!(cmdline_matches(&w, "acpi_osi=Windows 2020"));
        assert!(!cmdline_matches(&w, "single"), "after -- belongs to init");
        assert!(!cmdline_matches(&w, "splash"));
        assert_eq!(
            cmdline_bool(
                &cmdline_words("a systemd.condition-first-boot=0"),
                "systemd.condition_first_boot"
            ),
            Some(false)
        );
        assert_eq!(
            cmdline_bool(
                &cmdline_words("systemd.condition_first_boot"),
                "systemd.condition_first_boot"
            ),
            Some(true)
        );
        assert_eq!(
            cmdline_bool(&cmdline_words("x=1"), "systemd.condition_first_boot"),
            None
        );

        // The real /proc/cmdline, through the manager's own path.
        let real = cmdline_words(&fs::read_to_string("/proc/cmdline").unwrap());
        let sys = System::real();
        if let Some(first) = real.first() {
            assert!(on(&sys, ConditionKind::KernelCommandLine, first));
            let key = first.split('=').next().unwrap();
            assert!(on(&sys, ConditionKind::KernelCommandLine, key));
        }
        assert!(!on(
            &sys,
            ConditionKind::KernelCommandLine,
            "vigil.never-on-a-cmdline"
        ));
    }

    #[test]
    fn virtualization_detection() {
        use ConditionKind::Virtualization as V;
        let none = fake("virt-none", &[("proc/cpuinfo", "flags\t: fpu sse\n")]);
        for (arg, want) in [
            ("yes", false),
            ("no", true),
            ("vm", false),
            ("container", false),
            ("kvm", false),
        ] {
            assert_eq!(on(&none, V, arg), want, "bare metal: {arg}");
        }
        let docker = fake("virt-docker", &[(".dockerenv", "")]);
        for (arg, want) in [
            ("true", true),
            ("container", true),
            ("vm", false),
            ("docker", true),
            ("podman", false),
        ] {
            assert_eq!(on(&docker, V, arg), want, "docker: {arg}");
        }
        let podman = fake(
            "virt-podman",
            &[("run/.containerenv", ""), (".dockerenv", "")],
        );
        assert!(on(&podman, V, "podman"));
        assert!(!on(&podman, V, "docker"));
        let lxc = fake(
            "virt-lxc",
            &[("proc/1/environ", "PATH=/bin\0container=lxc\0TERM=linux\0")],
        );
        assert!(on(&lxc, V, "lxc"));
        assert!(on(&lxc, V, "container"));
        let mut nspawn = fake("virt-own-env", &[]);
        nspawn.env = Some(vec![("container".into(), "systemd-nspawn".into())]);
        assert!(on(&nspawn, V, "systemd-nspawn"));
        let odd = fake("virt-odd", &[("run/systemd/container", "something-new\n")]);
        assert!(on(&odd, V, "container-other"));
        let flags = "processor\t: 0\nflags\t\t: fpu vme hypervisor lm\n";
        let kvm = fake(
            "virt-kvm",
            &[
                ("proc/cpuinfo", flags),
                ("sys/class/dmi/id/sys_vendor", "QEMU\n"),
                (
                    "sys/class/dmi/id/product_name",
                    "Standard PC (Q35 + ICH9, 2009)\n",
                ),
                (
                    "sys/devices/system/clocksource/clocksource0/available_clocksource",
                    "kvm-clock tsc acpi_pm\n",
                ),
            ],
        );
        for (arg, want) in [
            ("yes", true),
            ("vm", true),
            ("container", false),
            ("kvm", true),
            ("qemu", false),
        ] {
            assert_eq!(on(&kvm, V, arg), want, "kvm: {arg}");
        }
        let qemu = fake("virt-qemu", &[("sys/class/dmi/id/sys_vendor", "QEMU\n")]);
        assert!(on(&qemu, V, "qemu"));
        let vbox = fake(
            "virt-vbox",
            &[("sys/class/dmi/id/product_name", "VirtualBox\n")],
        );
        assert!(on(&vbox, V, "oracle"));
        let hyperv = fake(
            "virt-hyperv",
            &[
                ("sys/class/dmi/id/sys_vendor", "Microsoft Corporation\n"),
                ("sys/class/dmi/id/product_name", "Virtual Machine\n"),
            ],
        );
        assert!(on(&hyperv, V, "microsoft"));
        let surface = fake(
            "virt-surface",
            &[
                ("sys/class/dmi/id/sys_vendor", "Microsoft Corporation\n"),
                ("sys/class/dmi/id/product_name", "Surface Laptop 4\n"),
            ],
        );
        assert!(!on(&surface, V, "yes"));
        let other = fake("virt-flag", &[("proc/cpuinfo", flags)]);
        assert!(on(&other, V, "vm-other"));
        let xen = fake("virt-xen", &[("sys/hypervisor/type", "xen\n")]);
        assert!(on(&xen, V, "xen"));
        let dom0 = fake(
            "virt-dom0",
            &[
                ("sys/hypervisor/type", "xen\n"),
                ("proc/xen/capabilities", "control_d\n"),
            ],
        );
        assert!(!on(&dom0, V, "vm"));
        // Nested: the container is the innermost, so it is the one named.
        let nested = fake(
            "virt-nested",
            &[(".dockerenv", ""), ("proc/cpuinfo", flags)],
        );
        assert!(on(&nested, V, "docker"));
        assert!(!on(&nested, V, "vm-other"));
        // systemd's detect_virtualization() answers the container first, and
        // `vm` asks whether that answer is a VM.
        assert!(!on(&nested, V, "vm"));
        assert!(on(&nested, V, "container"));
        assert!(on(&nested, V, "yes"));
        let userns = fake(
            "virt-userns",
            &[("proc/self/uid_map", "         0     100000      65536\n")],
        );
        assert!(on(&userns, V, "private-users"));
        let hostns = fake(
            "virt-hostns",
            &[("proc/self/uid_map", "         0          0 4294967295\n")],
        );
        assert!(!on(&hostns, V, "private-users"));
        for s in [
            none, docker, podman, lxc, nspawn, odd, kvm, qemu, vbox, hyperv, surface, other, xen,
            dom0, nested, userns, hostns,
        ] {
            fs::remove_dir_all(&s.root).unwrap();
        }
    }

    const STATUS: &str = "Name:\tvigild\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n\
                          Groups:\t4 24 100 \nCapBnd:\t0000000000200400\nCpus_allowed_list:\t0-1\n";

    #[test]
    fn capability_user_group_environment() {
        use ConditionKind::*;
        let sys = fake(
            "ids",
            &[
                ("proc/self/status", STATUS),
                (
                    "etc/passwd",
                    "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n",
                ),
                (
                    "etc/group",
                    "root:x:0:\nadm:x:4:alice\ncdrom:x:24:\nalice:x:1000:\nusers:x:100:\nvideo:x:44:\n",
                ),
            ],
        );
        // CapBnd 0x200400: bits 10 (net_bind_service) and 21 (sys_admin).
        assert!(on(&sys, Capability, "CAP_SYS_ADMIN"));
        assert!(on(&sys, Capability, "cap_net_bind_service"));
        assert!(!on(&sys, Capability, "CAP_NET_ADMIN"));
        assert!(on(&sys, Capability, "21"));
        // Real uid 1000, effective 0.
        for (arg, want) in [
            ("1000", true),
            ("0", true),
            ("root", true),
            ("alice", true),
            ("bob", false),
            ("@system", true),
            ("1001", false),
            ("nobody", false),
        ] {
            assert_eq!(on(&sys, User, arg), want, "User={arg}");
        }
        for (arg, want) in [
            ("1000", true),
            ("alice", true),
            ("adm", true),
            ("4", true),
            ("users", true),
            ("video", false),
            ("0", false),
            ("root", false),
            ("nogroup", false),
        ] {
            assert_eq!(on(&sys, Group, arg), want, "Group={arg}");
        }
        let unprivileged = fake(
            "ids-user",
            &[(
                "proc/self/status",
                "Uid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n",
            )],
        );
        assert!(!on(&unprivileged, User, "@system"));
        assert!(!on(&unprivileged, User, "root"));
        let mut envsys = fake("env", &[]);
        envsys.env = Some(vec![
            ("LANG".into(), "C.UTF-8".into()),
            ("EMPTY".into(), "".into()),
        ]);
        for (arg, want) in [
            ("LANG", true),
            ("LANG=C.UTF-8", true),
            ("LANG=C", false),
            ("LAN", false),
            ("EMPTY", true),
            ("EMPTY=", true),
            ("HOME", false),
        ] {
            assert_eq!(on(&envsys, Environment, arg), want, "Environment={arg}");
        }
        // The real manager: this test process.
        let real = System::real();
        assert!(on(&real, Environment, "PATH"));
        assert!(!on(&real, Environment, "VIGIL_NEVER_SET_IN_TESTS"));
        let uid = fs::metadata("/proc/self").unwrap();
        use std::os::unix::fs::MetadataExt;
        assert!(on(&real, User, &uid.uid().to_string()));
        assert!(on(&real, Group, &uid.gid().to_string()));
        assert!(!on(&real, User, &(uid.uid() + 4242).to_string()));
        let unreadable = fake("ids-missing", &[]);
        assert!(check(&unreadable, User, "root").is_err());
        for s in [sys, unprivileged, envsys, unreadable] {
            fs::remove_dir_all(&s.root).unwrap();
        }
    }

    #[test]
    fn ac_power() {
        use ConditionKind::ACPower;
        let none = fake("ac-none", &[]);
        assert!(on(&none, ACPower, "true"), "no information: on AC");
        assert!(!on(&none, ACPower, "false"));
        let battery = fake(
            "ac-bat",
            &[
                ("sys/class/power_supply/AC/type", "Mains\n"),
                ("sys/class/power_supply/AC/online", "0\n"),
                ("sys/class/power_supply/BAT0/type", "Battery\n"),
                ("sys/class/power_supply/hidpp/type", "Mains\n"),
                ("sys/class/power_supply/hidpp/scope", "Device\n"),
                ("sys/class/power_supply/hidpp/online", "1\n"),
            ],
        );
        assert!(!on(&battery, ACPower, "yes"));
        assert!(on(&battery, ACPower, "no"));
        let plugged = fake(
            "ac-on",
            &[
                ("sys/class/power_supply/AC/type", "Mains\n"),
                ("sys/class/power_supply/AC/online", "0\n"),
                ("sys/class/power_supply/AC2/type", "Mains\n"),
                ("sys/class/power_supply/AC2/online", "1\n"),
            ],
        );
        assert!(on(&plugged, ACPower, "1"));
        let batteries_only = fake(
            "ac-bat-only",
            &[("sys/class/power_supply/BAT0/type", "Battery\n")],
        );
        assert!(on(&batteries_only, ACPower, "true"));
        for s in [none, battery, plugged, batteries_only] {
            fs::remove_dir_all(&s.root).unwrap();
        }
    }

    #[test]
    fn host_architecture_security() {
        use ConditionKind::*;
        let id = "0123456789abcdef0123456789ABCDEF";
        let sys = fake(
            "host",
            &[
                ("proc/sys/kernel/hostname", "web-01.example\n"),
                ("etc/machine-id", "0123456789abcdef0123456789abcdef\n"),
                ("proc/sys/kernel/arch", "aarch64\n"),
                ("sys/module/apparmor/parameters/enabled", "Y\n"),
                ("sys/kernel/security/ima/policy", ""),
                ("sys/fs/selinux/enforce", "0"),
                ("proc/self/loginuid", "4294967295"),
                ("sys/class/tpm/tpm0/tpm_version_major", "2\n"),
                ("proc/cmdline", "root=/dev/vda quiet\n"),
            ],
        );
        assert!(on(&sys, Host, "web-01.example"));
        assert!(on(&sys, Host, "WEB-*"));
        assert!(!on(&sys, Host, "db-*"));
        assert!(on(&sys, Host, id));
        assert!(on(&sys, Host, "01234567-89ab-cdef-0123-456789abcdef"));
        assert!(!on(&sys, Host, "00000000000000000000000000000000"));
        assert!(on(&sys, Architecture, "arm64"));
        assert!(!on(&sys, Architecture, "x86-64"));
        assert!(on(&sys, Architecture, "native"));
        for (what, want) in [
            ("apparmor", true),
            ("ima", true),
            ("selinux", true),
            ("audit", true),
            ("tpm2", true),
            ("smack", false),
            ("tomoyo", false),
            ("uefi-secureboot", false),
            ("cvm", false),
            ("measured-uki", false),
        ] {
            assert_eq!(on(&sys, Security, what), want, "Security={what}");
        }
        let off = fake(
            "sec-off",
            &[
                ("proc/self/loginuid", "4294967295"),
                ("proc/cmdline", "audit=0\n"),
                ("sys/module/apparmor/parameters/enabled", "N\n"),
                (
                    &format!("sys/firmware/efi/efivars/SecureBoot-{EFI_GLOBAL}"),
                    "\u{6}\0\0\0\u{1}",
                ),
                ("sys/class/tpm/tpm0/tpm_version_major", "1\n"),
            ],
        );
        for (what, want) in [
            ("audit", false),
            ("apparmor", false),
            ("uefi-secureboot", true),
            ("tpm2", false),
        ] {
            assert_eq!(on(&off, Security, what), want, "Security={what}");
        }
        // The real system: the kernel's architecture, and `native`.
        let real = System::real();
        assert!(on(&real, Architecture, "native"));
        let machine = fs::read_to_string("/proc/sys/kernel/arch")
            .ok()
            .and_then(|m| uname_architecture(&m))
            .unwrap_or_else(native_architecture);
        assert!(on(&real, Architecture, &machine));
        assert!(ARCHITECTURES.contains(&native_architecture().as_str()));
        assert_eq!(uname_architecture("x86_64").as_deref(), Some("x86-64"));
        assert_eq!(uname_architecture("i686").as_deref(), Some("x86"));
        assert_eq!(uname_architecture("armv7l").as_deref(), Some("arm"));
        assert_eq!(uname_architecture("ppc64le").as_deref(), Some("ppc64-le"));
        assert_eq!(uname_architecture("weird"), None);
        for s in [sys, off] {
            fs::remove_dir_all(&s.root).unwrap();
        }
    }

    #[test]
    fn first_boot_and_needs_update() {
        use ConditionKind::*;
        let missing = fake("fb-missing", &[("proc/cmdline", "quiet\n")]);
        assert!(on(&missing, FirstBoot, "yes"));
        let uninit = fake("fb-uninit", &[("etc/machine-id", "uninitialized\n")]);
        assert!(on(&uninit, FirstBoot, "true"));
        let set = fake(
            "fb-set",
            &[("etc/machine-id", "0123456789abcdef0123456789abcdef\n")],
        );
        assert!(on(&set, FirstBoot, "false"));
        assert!(!on(&set, FirstBoot, "true"));
        // An empty machine-id is not a first boot (a read-only image), as systemd.
        let empty = fake("fb-empty", &[("etc/machine-id", "")]);
        assert!(!on(&empty, FirstBoot, "yes"));
        let forced = fake(
            "fb-forced",
            &[
                ("etc/machine-id", "0123456789abcdef0123456789abcdef\n"),
                ("proc/cmdline", "systemd.condition-first-boot=1\n"),
            ],
        );
        assert!(on(&forced, FirstBoot, "yes"));

        // NeedsUpdate compares DIR/.updated with the fake root's usr/.
        let sys = fake("nu", &[("usr/bin/x", "")]);
        let etc = sys.root.join("etc");
        fs::create_dir_all(&etc).unwrap();
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
        fs::create_dir_all(sys.root.join("proc/self")).unwrap();
        fs::write(sys.root.join("proc/self/mountinfo"), &mountinfo).unwrap();
        let etc_s = etc.to_string_lossy().into_owned();
        assert!(on(&sys, NeedsUpdate, &etc_s), "no stamp: needs an update");
        let stamp = etc.join(".updated");
        fs::write(&stamp, "").unwrap();
        let usr = fs::File::open(sys.root.join("usr")).unwrap();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        usr.set_modified(t0).unwrap();
        let stamp_f = fs::File::options().write(true).open(&stamp).unwrap();
        stamp_f.set_modified(t0 + Duration::from_secs(10)).unwrap();
        assert!(!on(&sys, NeedsUpdate, &etc_s), "stamp newer than /usr");
        usr.set_modified(t0 + Duration::from_secs(20)).unwrap();
        assert!(on(&sys, NeedsUpdate, &etc_s), "/usr newer than the stamp");
        // A whole-second stamp with TIMESTAMP_NSEC= uses the exact time.
        fs::write(&stamp, "TIMESTAMP_NSEC=1700000030000000000\n").unwrap();
        stamp_f.set_modified(t0 + Duration::from_secs(5)).unwrap();
        assert!(!on(&sys, NeedsUpdate, &etc_s));
        let forced = fake(
            "nu-forced",
            &[("proc/cmdline", "systemd.condition_needs_update=yes\n")],
        );
        assert!(on(&forced, NeedsUpdate, &etc_s));
        for s in [missing, uninit, set, empty, forced, sys] {
            fs::remove_dir_all(&s.root).unwrap();
        }
    }

    #[test]
    fn trigger_and_negate_for_every_kind() {
        use ConditionKind::*;
        let sys = fake(
            "tn",
            &[
                ("proc/self/status", STATUS),
                ("proc/cmdline", "quiet splash\n"),
                ("proc/sys/kernel/hostname", "box\n"),
                (".dockerenv", ""),
                ("sys/module/apparmor/parameters/enabled", "Y\n"),
                (
                    "proc/self/mountinfo",
                    "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n2 1 0:5 / /proc rw - proc proc rw\n\
                     3 1 0:6 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
                ),
                ("proc/sys/kernel/osrelease", "6.1.0\n"),
                ("etc/os-release", "ID=debian\nVERSION_ID=12\n"),
                ("proc/meminfo", "MemTotal: 2048 kB\n"),
                ("sys/firmware/efi/systab", ""),
                ("sys/fs/cgroup/cgroup.controllers", "cpu memory\n"),
            ],
        );
        let mut sys = sys;
        sys.env = Some(vec![("LANG".into(), "C".into())]);
        // (kind, an argument that holds, one that does not)
        let cases = [
            (KernelCommandLine, "quiet", "nosplash"),
            (Virtualization, "docker", "vm"),
            (Capability, "CAP_SYS_ADMIN", "CAP_KILL"),
            (Host, "b?x", "other"),
            (User, "1000", "1001"),
            (Group, "24", "25"),
            (Environment, "LANG=C", "LANG=D"),
            (ACPower, "true", "false"),
            (FirstBoot, "yes", "no"),
            (
                Architecture,
                "native",
                if native_architecture() == "s390" {
                    "x86"
                } else {
                    "s390"
                },
            ),
            (Security, "apparmor", "smack"),
            (PathExistsGlob, "/proc/self/*", "/proc/self/nope*"),
            (PathIsMountPoint, "/proc", "/proc/self"),
            (PathIsSymbolicLink, "/proc/self", "/proc"),
            (KernelVersion, ">=6", "<6"),
            (OSRelease, "VERSION_ID>=12", "ID=fedora"),
            (Memory, "2M", ">2M"),
            (CPUs, "2", "3"),
            (Firmware, "uefi", "device-tree"),
            (ControlGroupController, "v2 cpu", "v1"),
        ];
        for (kind, yes, no) in cases {
            let ev = |cs: &[Condition]| evaluate_in(&sys, cs, "Condition");
            assert_eq!(ev(&[cond(kind, yes, false, false)]), Ok(()), "{kind:?}");
            assert!(ev(&[cond(kind, no, false, false)]).is_err(), "{kind:?}");
            assert_eq!(ev(&[cond(kind, no, false, true)]), Ok(()), "!{kind:?}");
            assert_eq!(
                ev(&[cond(kind, yes, false, true)]),
                Err(format!("Condition{}=!{yes}", kind.name()))
            );
            // `|`: one of them is enough; `|!` holds when the check does not.
            assert_eq!(
                ev(&[cond(kind, no, true, false), cond(kind, yes, true, false)]),
                Ok(())
            );
            assert_eq!(ev(&[cond(kind, no, true, true)]), Ok(()), "|!{kind:?}");
            assert_eq!(
                ev(&[cond(kind, yes, true, true), cond(kind, no, true, false)]),
                Err(format!(
                    "Condition{0}=|!{yes}, Condition{0}=|{no}",
                    kind.name()
                ))
            );
        }
        // What cannot be read fails even negated, and says why.
        let bare = fake("tn-bare", &[]);
        let e = evaluate_in(
            &bare,
            &[cond(KernelCommandLine, "quiet", false, true)],
            "Assert",
        )
        .unwrap_err();
        assert!(
            e.starts_with("AssertKernelCommandLine=!quiet (cannot read "),
            "{e}"
        );
        let e = evaluate_in(
            &bare,
            &[cond(User, "root", true, true), cond(Host, "x", true, false)],
            "Condition",
        )
        .unwrap_err();
        assert!(
            e.contains("ConditionUser=|!root (cannot read") && e.ends_with("ConditionHost=|x"),
            "{e}"
        );
        for s in [sys, bare] {
            fs::remove_dir_all(&s.root).unwrap();
        }
    }
    /// The orderings systemd's test-string-util checks for
    /// strverscmp_improved, rpm's cases among them.
    #[test]
    fn version_order_is_systemds() {
        use std::cmp::Ordering::*;
        // Each is older than every one after it.
        let ladder = [
            "~1",
            "",
            "ab",
            "abb",
            "abc",
            "0001",
            "002",
            "12",
            "122",
            "122.9",
            "123~rc1",
            "123",
            "123-a",
            "123-a.1",
            "123-a1",
            "123-a1.1",
            "123-3",
            "123-3.1",
            "123^patch1",
            "123^1",
            "123.a-1",
            "123.1-1",
            "123a-1",
            "124",
        ];
        for (i, older) in ladder.iter().enumerate() {
            assert_eq!(version_cmp(older, older), Equal, "{older:?}");
            for newer in &ladder[i + 1..] {
                assert_eq!(version_cmp(older, newer), Less, "{older:?} < {newer:?}");
                assert_eq!(version_cmp(newer, older), Greater, "{newer:?} > {older:?}");
            }
        }
        let older_newer = [
            ("123.45-67.88", "123.45-67.89"),
            ("123.45-67.89", "123.45-67.89a"),
            ("123.45-67.ab", "123.45-67.89"),
            ("123.45-67.9", "123.45-67.89"),
            ("123.45-67", "123.45-67.89"),
            ("123.45-66.89", "123.45-67.89"),
            ("123.45-9.99", "123.45-67.89"),
            ("123.42-99.99", "123.45-67.89"),
            ("123-99.99", "123.45-67.89"),
            // `~`: a pre-release.
            ("123~rc1-99.99", "123.45-67.89"),
            ("123~rc1-99.99", "123-45.67.89"),
            ("123~rc1-99.99", "123~rc2-67.89"),
            ("123~rc1-99.99", "123^aa2-67.89"),
            ("123~rc1-99.99", "123aa2-67.89"),
            // `-`: version and release.
            ("123-99.99", "123^aa2-67.89"),
            ("123-99.99", "123aa2-67.89"),
            // `^`: a patched release.
            ("123^45-67.89", "123.45-67.89"),
            ("123^aa1-99.99", "123^aa2-67.89"),
            ("123^aa2-67.89", "123aa2-67.89"),
            // `.`: a point release.
            ("123.aa2-67.89", "123aa2-67.89"),
            ("123.aa2-67.89", "123.ab2-67.89"),
            // rpm's cases.
            ("1.0", "2.0"),
            ("2.0", "2.0.1"),
            ("2.0.1", "2.0.1a"),
            ("5.5p1", "5.5p2"),
            ("5.5p1", "5.5p10"),
            ("10.1xyz", "10xyz"),
            ("xyz10", "xyz10.1"),
            ("xyz.4", "8"),
            ("xyz.4", "2"),
            ("5.5p2", "5.6p1"),
            ("5.6p1", "6.5p1"),
            ("6.0", "6.0.rc1"),
            ("10a2", "10b2"),
            ("10a1", "10b2"),
            ("1.0a", "1.0aa"),
            ("10.0001", "10.0039"),
            ("4.999.9", "5.0"),
            ("20101121", "20101122"),
            ("2.0", "2_0"),
            ("1.0~rc1", "1.0"),
            ("1.0~rc1", "1.0~rc2"),
            ("1.0~rc1~git123", "1.0~rc1"),
            ("1.0", "1.0^"),
            ("1.0", "1.0^git1"),
            ("1.0^git1", "1.0^git2"),
            ("1.0^git1", "1.01"),
            ("1.0^20160101", "1.0.1"),
            ("1.0^20160101^git1", "1.0^20160102"),
            ("1.0~rc1", "1.0~rc1^git1"),
            ("1.0^git1~pre", "1.0^git1"),
            ("1.fc17", "1b.fc17"),
            ("1.fc17", "1g.fc17"),
            // The chain docs/UNITS.md gives.
            ("1.0~rc1", "1.0"),
            ("1.0", "1.0-1"),
            ("1.0-1", "1.0^1"),
            ("1.0^1", "1.0.1"),
            ("1.0.1", "1.0a"),
            ("6.18.44-fc", "6.18.44fc"),
        ];
        for (older, newer) in older_newer {
            assert_eq!(version_cmp(older, newer), Less, "{older:?} < {newer:?}");
            assert_eq!(version_cmp(newer, older), Greater, "{newer:?} > {older:?}");
        }
        for (a, b, want) in [
            // Other characters separate, and are otherwise dropped.
            ("123_aa2-67.89", "123aa+2-67.89", Equal),
            ("123.", "123", Greater),
            ("12_3", "123", Less),
            ("12_3", "12", Greater),
            ("12_3", "12.3", Greater),
            ("123.0", "123", Greater),
            ("123_0", "123", Greater),
            ("123..0", "123.0", Less),
            ("0_", "0", Equal),
            ("_0_", "0", Equal),
            ("_0", "0", Equal),
            ("", "_", Equal),
            ("_", "_", Equal),
            ("", "~", Greater),
            ("~", "~", Equal),
            ("10.0001", "10.1", Equal),
            ("a+", "a_", Equal),
            ("+a", "_a", Equal),
            ("_+", "+_", Equal),
            ("1.0^", "1.0^", Equal),
            // Bytes outside ASCII count for nothing.
            ("1.1.\u{3b1}", "1.1.\u{3b2}", Equal),
            ("1.1.\u{3b1}\u{3b1}", "1.1.\u{3b1}", Equal),
            ("1\u{661}\u{662}", "1", Equal),
        ] {
            assert_eq!(version_cmp(a, b), want, "{a:?} vs {b:?}");
            assert_eq!(version_cmp(b, a), want.reverse(), "{b:?} vs {a:?}");
        }
    }

    /// ConditionKernelVersion= orders `-`, `^`, `.` and `~` as systemd does,
    /// against a real (fake-root) kernel release.
    #[test]
    fn kernel_version_marks_are_not_mere_separators() {
        use ConditionKind::KernelVersion;
        let sys = fake(
            "kver-marks",
            &[("proc/sys/kernel/osrelease", "6.18.44-fc-v1294\n")],
        );
        for (arg, want) in [
            // `-` (the release) is older than a letter straight after.
            ("<6.18.44fc", true),
            // ... than `^`, and `^` than `.`.
            ("<6.18.44^1", true),
            ("<6.18.44.0", true),
            (">6.18.44", true),
            (">6.18.44~rc1", true),
            (">=6.18.44-fc", true),
            ("<6.18.44-fc-v1295", true),
            ("==6.18.44-fc-v1294", true),
            ("==6.18.44.fc.v1294", false),
            ("<>6.18.44^fc^v1294", true),
        ] {
            assert_eq!(on(&sys, KernelVersion, arg), want, "KernelVersion={arg}");
            let negated = cond(KernelVersion, arg, false, true);
            assert_eq!(result(&sys, &negated), Ok(!want), "KernelVersion=!{arg}");
        }
        fs::remove_dir_all(&sys.root).unwrap();
    }

    /// systemd: an architecture it does not know "is definitely not ours",
    /// so the check is false, negated true, and the unit loads.
    #[test]
    fn unknown_architecture_never_holds() {
        use ConditionKind::Architecture;
        let sys = fake("arch-unknown", &[("proc/sys/kernel/arch", "x86_64\n")]);
        for name in ["foo", "x86_64", "amd64", "X86-64"] {
            assert_eq!(validate(Architecture, name), Ok(()), "{name}");
            assert!(
                lint(Architecture, name).is_some_and(|w| w.contains("unknown architecture")),
                "{name}"
            );
            assert_eq!(check(&sys, Architecture, name), Ok(false), "{name}");
            let negated = cond(Architecture, name, false, true);
            assert_eq!(result(&sys, &negated), Ok(true), "!{name}");
            assert_eq!(evaluate_in(&sys, &[negated], "Condition"), Ok(()));
            assert_eq!(
                evaluate_in(&sys, &[cond(Architecture, name, false, false)], "Assert"),
                Err(format!("AssertArchitecture={name}"))
            );
        }
        assert!(on(&sys, Architecture, "x86-64"));
        assert_eq!(lint(Architecture, "x86-64"), None);
        assert_eq!(lint(Architecture, "native"), None);
        fs::remove_dir_all(&sys.root).unwrap();
    }

    #[test]
    fn version_order_and_operators() {
        use std::cmp::Ordering::*;
        for (a, b, want) in [
            ("6.1.0", "6.1.0", Equal),
            ("6.10", "6.9", Greater),
            ("5.15.0-91-generic", "5.15.0-100-generic", Less),
            ("6.1.0-rc1", "6.1.0", Greater),
            ("6.1~rc1", "6.1", Less),
            ("1.0", "1.0.1", Less),
            ("1.01", "1.1", Equal),
            ("2a", "2", Greater),
            ("a", "1", Less),
            ("12", "12.0", Less),
        ] {
            assert_eq!(version_cmp(a, b), want, "{a} vs {b}");
            assert_eq!(version_cmp(b, a), want.reverse(), "{b} vs {a}");
        }
        assert_eq!(Op::split(">=5"), Some((Op::Ge, "5")));
        assert_eq!(Op::split("!$=x"), Some((Op::NotGlob, "x")));
        assert_eq!(Op::split("<>1"), Some((Op::VerNe, "1")));
        assert_eq!(Op::split("5"), None);
        assert!(Op::StrEq.holds_str("6.1", "6.1"));
        assert!(!Op::StrEq.holds_str("6.1.0", "6.1"), "= compares strings");
        assert!(Op::VerEq.holds_str("6.01", "6.1"), "== compares versions");
        assert_eq!(
            split_words(r#"a "b c" 'd\e' f\ g"#).unwrap(),
            ["a", "b c", r"d\e", "f g"]
        );
        assert!(split_words("\"open").is_err());
        assert_eq!(cpu_list_count("0-3,8,10-11"), Some(7));
        assert_eq!(cpu_list_count("0"), Some(1));
        assert_eq!(cpu_list_count("3-1"), None);
        assert_eq!(cpu_list_count(""), None);
    }

    #[test]
    fn kernel_os_release_memory_cpus() {
        use ConditionKind::*;
        let sys = fake(
            "cmp",
            &[
                ("proc/sys/kernel/osrelease", "6.1.0-18-amd64\n"),
                (
                    "etc/os-release",
                    "# comment\nNAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\n\
                     PRETTY_NAME='Debian 12 (bookworm)'\n",
                ),
                (
                    "proc/meminfo",
                    "MemTotal:        4028000 kB\nMemFree:          100000 kB\n",
                ),
                (
                    "proc/self/status",
                    "Name:\tvigild\nCpus_allowed:\tf\nCpus_allowed_list:\t0-3\n",
                ),
            ],
        );
        for (arg, want) in [
            ("6.1.0-18-amd64", true),
            ("6.1.*", true),
            ("5.*", false),
            ("=6.1.0-18-amd64", true),
            ("=6.1", false),
            (">=6.1", true),
            ("<6.1", false),
            (">6.0.9 <6.2", true),
            (">6.0.9 <6.1", false),
            ("\" >= 5.10\" \"<= 7\"", true),
            (">= 5.10", true),
            ("!=6.1", true),
            ("!$=6.*", false),
            ("$=*amd64", true),
        ] {
            assert_eq!(on(&sys, KernelVersion, arg), want, "KernelVersion={arg}");
        }
        for (arg, want) in [
            ("ID=debian", true),
            ("ID!=debian", false),
            ("ID=fedora", false),
            ("VERSION_ID>=11", true),
            ("VERSION_ID<12", false),
            ("\"VERSION_ID >= 12\" ID=debian", true),
            ("VERSION_ID>=12 ID=ubuntu", false),
            ("NAME=\"Debian GNU/Linux\"", true),
            ("PRETTY_NAME$=*bookworm*", true),
            ("VARIANT_ID=", true),
            ("VARIANT_ID!=", false),
        ] {
            assert_eq!(on(&sys, OSRelease, arg), want, "OSRelease={arg}");
        }
        // 4028000 kB = 4124672000 bytes, just under 3.85G.
        for (arg, want) in [
            ("1G", true),
            (">=3G", true),
            ("4G", false),
            ("<4G", true),
            ("=4124672000", true),
            ("!=4124672000", false),
            (">4124672000", false),
            ("<=4124672000", true),
        ] {
            assert_eq!(on(&sys, Memory, arg), want, "Memory={arg}");
        }
        for (arg, want) in [
            ("4", true),
            ("5", false),
            ("=4", true),
            ("<4", false),
            ("<=4", true),
            ("!=2", true),
            (">3", true),
        ] {
            assert_eq!(on(&sys, CPUs, arg), want, "CPUs={arg}");
        }
        // os-release falls back to /usr/lib.
        let usr = fake("cmp-usr", &[("usr/lib/os-release", "ID=arch\n")]);
        assert!(on(&usr, OSRelease, "ID=arch"));
        let none = fake("cmp-none", &[]);
        for (kind, arg) in [
            (KernelVersion, "1"),
            (OSRelease, "ID=x"),
            (Memory, "1"),
            (CPUs, "1"),
        ] {
            let e = check(&none, kind, arg).map_or_else(|e| e, |v| format!("decided: {v}"));
            assert!(e.contains("cannot read"), "{kind:?}: {e}");
        }
        // The real system: vigild's own kernel, memory and CPUs.
        let real = System::real();
        let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let release = release.trim();
        assert!(on(&real, KernelVersion, release));
        assert!(on(&real, KernelVersion, &format!("={release}")));
        assert!(!on(&real, KernelVersion, &format!("!={release}")));
        assert!(on(&real, KernelVersion, ">=2.6"));
        assert!(on(&real, Memory, ">=1M"));
        assert!(!on(&real, Memory, "<1M"));
        let n = std::thread::available_parallelism().unwrap().get();
        assert!(on(&real, CPUs, &format!("={n}")), "{n} CPUs");
        assert!(!on(&real, CPUs, &format!(">{n}")));
        for s in [sys, usr, none] {
            fs::remove_dir_all(&s.root).unwrap();
        }
    }

    #[test]
    fn firmware_credential_cgroups() {
        use ConditionKind::*;
        let efi = fake(
            "fw-efi",
            &[
                ("sys/firmware/efi/systab", ""),
                ("sys/class/dmi/id/board_name", "X570 AORUS\n"),
                ("sys/class/dmi/id/bios_version", "F36\n"),
                (
                    "proc/self/mountinfo",
                    "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n\
                     30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
                ),
                (
                    "sys/fs/cgroup/cgroup.controllers",
                    "cpuset cpu io memory pids\n",
                ),
            ],
        );
        for (arg, want) in [
            ("uefi", true),
            ("device-tree", false),
            ("device-tree-compatible(raspberrypi,4-model-b)", false),
            ("smbios-field(board_name = X570 AORUS)", true),
            ("smbios-field(board_name = \"X570 AORUS\")", true),
            ("smbios-field(board_name $= X570*)", true),
            ("smbios-field(board_name != X570 AORUS)", false),
            ("smbios-field(bios_version >= F30)", true),
            ("smbios-field(bios_version < F30)", false),
        ] {
            assert_eq!(on(&efi, Firmware, arg), want, "Firmware={arg}");
        }
        assert!(check(&efi, Firmware, "smbios-field(product_name = x)").is_err());
        let dt = fake(
            "fw-dt",
            &[
                ("sys/firmware/devicetree/base/model", "Raspberry Pi 4\0"),
                (
                    "sys/firmware/devicetree/base/compatible",
                    "raspberrypi,4-model-b\0brcm,bcm2711\0",
                ),
                (
                    "proc/self/mountinfo",
                    "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n\
                     25 1 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs ro\n\
                     26 25 0:23 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
                ),
                (
                    "proc/cgroups",
                    "#subsys_name\thierarchy\tnum_cgroups\tenabled\n\
                     cpu\t2\t1\t1\nblkio\t3\t1\t1\nmemory\t4\t1\t0\npids\t5\t1\t1\n",
                ),
            ],
        );
        for (arg, want) in [
            ("uefi", false),
            ("device-tree", true),
            ("device-tree-compatible(brcm,bcm2711)", true),
            ("device-tree-compatible(brcm)", false),
        ] {
            assert_eq!(on(&dt, Firmware, arg), want, "Firmware={arg}");
        }
        for arg in [
            "bios",
            "smbios-field(x)",
            "smbios-field(= x)",
            "device-tree-compatible()",
        ] {
            assert!(validate(Firmware, arg).is_err(), "{arg}");
        }
        for (sys, arg, want) in [
            (&efi, "v2", true),
            (&efi, "v1", false),
            (&efi, "cpu memory", true),
            (&efi, "cpuacct blkio devices", true),
            (&efi, "cpu hugetlb", true),
            (&efi, "bpf-firewall", true),
            (&efi, "cpu rdma-nope memory pids", true),
            (&dt, "v1", true),
            (&dt, "v2", false),
            (&dt, "cpu io pids", true),
            (&dt, "memory", false),
            (&dt, "cpuset", false),
        ] {
            assert_eq!(
                on(sys, ControlGroupController, arg),
                want,
                "ControlGroupController={arg}"
            );
        }
        let v2_no_cpu = fake(
            "cg-nocpu",
            &[
                (
                    "proc/self/mountinfo",
                    "30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
                ),
                ("sys/fs/cgroup/cgroup.controllers", "memory pids\n"),
            ],
        );
        assert!(!on(&v2_no_cpu, ControlGroupController, "cpu"));
        assert!(!on(&v2_no_cpu, ControlGroupController, "memory cpuacct"));
        assert!(check(&fake("cg-none", &[]), ControlGroupController, "v2").is_err());
        // No credentials in vigil: never holds, negated always does.
        assert!(!on(&efi, Credential, "mycred"));
        assert_eq!(
            evaluate_in(
                &efi,
                &[cond(Credential, "mycred", false, true)],
                "Condition"
            ),
            Ok(())
        );
        assert!(validate(Credential, "a/b").is_err());
        for s in [efi, dt, v2_no_cpu] {
            fs::remove_dir_all(&s.root).unwrap();
        }
        let _ = fs::remove_dir_all(tmpdir("root-cg-none"));
    }

    #[test]
    fn path_is_encrypted_follows_device_stack() {
        use ConditionKind::PathIsEncrypted;
        let d = tmpdir("crypt");
        let file = d.join("f");
        fs::write(&file, "").unwrap();
        // The device of the mount holding the file, as mountinfo names it.
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let real = fs::canonicalize(&file).unwrap();
        let dev = mountinfo
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                Some((unescape_octal(f.get(4)?), f.get(2)?.to_string()))
            })
            .filter(|(p, _)| real.starts_with(p))
            .max_by_key(|(p, _)| p.components().count())
            .map(|(_, dev)| dev)
            .unwrap();
        let arg = file.to_string_lossy().into_owned();
        if dev.starts_with("0:") {
            // tmpfs or overlay: no block device, never encrypted.
            let sys = fake("crypt-anon", &[]);
            assert!(!on(&sys, PathIsEncrypted, &arg));
            fs::remove_dir_all(&sys.root).unwrap();
        } else {
            let direct = fake(
                "crypt-direct",
                &[(
                    &format!("sys/dev/block/{dev}/dm/uuid"),
                    "CRYPT-LUKS2-0123-root\n",
                )],
            );
            assert!(on(&direct, PathIsEncrypted, &arg));
            let lvm = fake(
                "crypt-lvm",
                &[
                    (&format!("sys/dev/block/{dev}/dm/uuid"), "LVM-abc\n"),
                    (&format!("sys/dev/block/{dev}/slaves/dm-0/dev"), "253:0\n"),
                    ("sys/dev/block/253:0/dm/uuid", "CRYPT-LUKS2-0123-pv\n"),
                ],
            );
            assert!(on(&lvm, PathIsEncrypted, &arg));
            let plain = fake(
                "crypt-plain",
                &[
                    (&format!("sys/dev/block/{dev}/dm/uuid"), "LVM-abc\n"),
                    (&format!("sys/dev/block/{dev}/slaves/sda2/dev"), "8:2\n"),
                ],
            );
            assert!(!on(&plain, PathIsEncrypted, &arg));
            for s in [direct, lvm, plain] {
                fs::remove_dir_all(&s.root).unwrap();
            }
        }
        let none = fake("crypt-none", &[]);
        assert!(!on(&none, PathIsEncrypted, &arg));
        assert!(!on(&none, PathIsEncrypted, &format!("{arg}.missing")));
        assert!(validate(PathIsEncrypted, "relative").is_err());
        fs::remove_dir_all(&none.root).unwrap();
        fs::remove_dir_all(&d).unwrap();
    }
}
