//! `%` specifiers in unit-file values (`%i`, `%n`, `%h`, ...), and the context
//! they are resolved from.
//!
//! [`SpecifierContext::from_environment`] is the only code here that reads the
//! system (the process's uid, /etc/passwd, the host name); [`expand`] itself is
//! pure, so tests and `vigil verify` can pass any context they like.

use std::path::{Path, PathBuf};

use crate::name;

/// What the specifiers that do not come from the unit name resolve to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecifierContext {
    /// `%u`: the manager's user name.
    pub user_name: String,
    /// `%U`: the manager's numeric user id.
    pub uid: u32,
    /// `%h`: the manager's home directory.
    pub home: PathBuf,
    /// `%H`: the host name.
    pub host_name: String,
    /// `%t`: the runtime directory (`/run` for root, `$XDG_RUNTIME_DIR` otherwise).
    pub runtime_dir: PathBuf,
    /// The specifiers read from the system, by letter: `%a` architecture, `%b`
    /// boot ID, `%m` machine ID, `%q` pretty host name, `%v` kernel release, `%g`/`%G` the manager's
    /// group and gid, `%s` its shell, and from os-release `%o` ID, `%w`
    /// VERSION_ID, `%W` VARIANT_ID, `%B` BUILD_ID, `%M` IMAGE_ID, `%A`
    /// IMAGE_VERSION (empty when unset, as in systemd). One the system cannot
    /// tell is left out, so it stays unknown.
    pub facts: Vec<(char, String)>,
}

impl Default for SpecifierContext {
    /// root on a host called `localhost`: a fixed context for tests and offline checks.
    fn default() -> Self {
        SpecifierContext {
            user_name: "root".to_string(),
            uid: 0,
            home: PathBuf::from("/root"),
            host_name: "localhost".to_string(),
            runtime_dir: PathBuf::from("/run"),
            facts: Vec::new(),
        }
    }
}

impl SpecifierContext {
    /// The context of the running process: its real uid from /proc/self/status,
    /// the matching /etc/passwd entry (falling back to `$USER`/`$HOME`), the host
    /// name from /proc/sys/kernel/hostname or /etc/hostname, and `%t` from
    /// `$XDG_RUNTIME_DIR` for non-root users, `/run` for root.
    pub fn from_environment() -> SpecifierContext {
        let uid = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| uid_from_status(&s))
            .unwrap_or(0);
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let (user_name, home) = match passwd_entry(&passwd, uid) {
            Some((n, h)) => (n, PathBuf::from(h)),
            None => (
                std::env::var("USER").unwrap_or_else(|_| uid.to_string()),
                std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("/")),
            ),
        };
        let host_name = ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .map(|s| s.trim().to_string())
            .find(|s| !s.is_empty())
            .unwrap_or_else(|| "localhost".to_string());
        // %t: /run for root; else $XDG_RUNTIME_DIR, else /run/user/UID when a
        // login manager made it, else /tmp/vigil-UID — the directory vigild
        // itself uses for its control socket then, so it exists.
        let runtime_dir = if uid == 0 {
            PathBuf::from("/run")
        } else {
            std::env::var_os("XDG_RUNTIME_DIR")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .or_else(|| {
                    let user_run = PathBuf::from(format!("/run/user/{uid}"));
                    user_run.is_dir().then_some(user_run)
                })
                .unwrap_or_else(|| PathBuf::from(format!("/tmp/vigil-{uid}")))
        };
        let mut facts = system_facts(&passwd, uid);
        let machine_info = std::fs::read_to_string("/etc/machine-info").ok();
        facts.push(('q', pretty_host_name(machine_info.as_deref(), &host_name)));
        SpecifierContext {
            facts,
            user_name,
            uid,
            home,
            host_name,
            runtime_dir,
        }
    }
}

/// The specifiers that describe the system (see [`SpecifierContext::facts`]).
fn system_facts(passwd: &str, uid: u32) -> Vec<(char, String)> {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let mut facts = Vec::new();
    // systemd's names for the architectures Rust names otherwise.
    let arch = match std::env::consts::ARCH {
        "x86_64" => "x86-64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64",
        other => other,
    };
    facts.push(('a', arch.to_string()));
    if let Some(boot) = read("/proc/sys/kernel/random/boot_id") {
        facts.push(('b', boot.replace('-', "")));
    }
    if let Some(machine) = read("/etc/machine-id").filter(|m| !m.is_empty()) {
        facts.push(('m', machine));
    }
    if let Some(release) = read("/proc/sys/kernel/osrelease") {
        facts.push(('v', release));
    }
    let entry = passwd_fields(passwd, uid);
    if let Some(gid) = entry
        .as_ref()
        .and_then(|f| f.get(3))
        .and_then(|g| g.parse::<u32>().ok())
    {
        let groups = read("/etc/group").unwrap_or_default();
        let group = groups
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(gid))
            .and_then(|f| f.first().map(|n| n.to_string()));
        facts.push(('g', group.unwrap_or_else(|| gid.to_string())));
        facts.push(('G', gid.to_string()));
    }
    if let Some(shell) = entry
        .as_ref()
        .and_then(|f| f.get(6))
        .filter(|s| !s.is_empty())
    {
        facts.push(('s', shell.to_string()));
    }
    let os = read("/etc/os-release").or_else(|| read("/usr/lib/os-release"));
    if let Some(os) = os {
        // Parsed as ConditionOSRelease= parses it (quotes, escapes).
        let fields = crate::condition::os_release_fields(&os);
        for (c, key) in [
            ('o', "ID"),
            ('w', "VERSION_ID"),
            ('W', "VARIANT_ID"),
            ('B', "BUILD_ID"),
            ('M', "IMAGE_ID"),
            ('A', "IMAGE_VERSION"),
        ] {
            let value = fields.iter().rev().find(|(k, _)| k == key);
            facts.push((c, value.map(|(_, v)| v.clone()).unwrap_or_default()));
        }
    }
    facts
}

/// `%q`: `PRETTY_HOSTNAME=` of /etc/machine-info (`machine_info`), else the
/// host name up to its first dot, as systemd resolves it.
fn pretty_host_name(machine_info: Option<&str>, host_name: &str) -> String {
    let fields = crate::condition::os_release_fields(machine_info.unwrap_or_default());
    let pretty = fields
        .into_iter()
        .rev()
        .find(|(k, _)| k == "PRETTY_HOSTNAME");
    match pretty.map(|(_, v)| v).filter(|v| !v.is_empty()) {
        Some(pretty) => pretty,
        None => host_name.split('.').next().unwrap_or_default().to_string(),
    }
}

/// The real uid from the `Uid:` line of /proc/self/status.
fn uid_from_status(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// `(name, home)` of the /etc/passwd line with this uid.
fn passwd_entry(passwd: &str, uid: u32) -> Option<(String, String)> {
    let f = passwd_fields(passwd, uid)?;
    Some((f.first()?.to_string(), f.get(5)?.to_string()))
}

/// The fields of the /etc/passwd line with this uid (name, password, uid,
/// gid, GECOS, home, shell), one with a home at least.
fn passwd_fields(passwd: &str, uid: u32) -> Option<Vec<&str>> {
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f.get(2).and_then(|u| u.parse().ok()) == Some(uid))
}

/// `%j`: the part of the prefix after its last dash.
fn last_component(prefix: &str) -> &str {
    prefix.rsplit('-').next().unwrap_or(prefix)
}

/// `%E` configuration, `%S` state, `%C` cache and `%L` log directories: the
/// system ones for root, the XDG defaults under the home directory otherwise.
fn base_dir(spec: char, ctx: &SpecifierContext) -> String {
    let (system, user) = match spec {
        'E' => ("/etc", ".config"),
        'S' => ("/var/lib", ".local/state"),
        'C' => ("/var/cache", ".cache"),
        _ => ("/var/log", ".local/state/log"),
    };
    if ctx.uid == 0 {
        system.to_string()
    } else {
        ctx.home.join(user).to_string_lossy().into_owned()
    }
}

/// A `%` sequence that [`expand`] does not know; it is kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSpecifier(pub char);

/// Resolves the specifiers in `value` for the unit `unit_name`:
/// `%n` full name, `%N` without suffix, `%p` prefix, `%P` unescaped prefix,
/// `%i` instance, `%I` unescaped instance, `%t` runtime directory, `%u` user,
/// `%U` uid, `%h` home, `%H` host name, `%l` short host name, `%f` the unescaped
/// instance (or prefix) as a path, `%j`/`%J` the last dash-separated part of the
/// prefix (unescaped), `%T` /tmp, `%V` /var/tmp, `%E`/`%S`/`%C`/`%L` the
/// configuration, state, cache and log directories, `%y`/`%Y` the unit's
/// file (`fragment`: for an instance, its template's) and its directory, `%%`
/// a `%`, and the system's ([`SpecifierContext::facts`]). Unknown specifiers
/// (and `%y`/`%Y` without a file) are kept as written and reported so the
/// caller can warn; a trailing lone `%` is kept.
pub fn expand(
    value: &str,
    unit_name: &str,
    fragment: Option<&Path>,
    ctx: &SpecifierContext,
) -> (String, Vec<UnknownSpecifier>) {
    if !value.contains('%') {
        return (value.to_string(), Vec::new());
    }
    let instance = name::split_instance(unit_name)
        .map(|p| p.instance)
        .unwrap_or("");
    let prefix = name::prefix_of(unit_name);
    let mut out = String::with_capacity(value.len());
    let mut unknown = Vec::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            out.push('%');
            break;
        };
        match spec {
            '%' => out.push('%'),
            'n' => out.push_str(unit_name),
            'N' => out.push_str(name::strip_suffix(unit_name)),
            'p' => out.push_str(prefix),
            'P' => out.push_str(&name::unescape(prefix)),
            'i' => out.push_str(instance),
            'I' => out.push_str(&name::unescape(instance)),
            't' => out.push_str(&ctx.runtime_dir.to_string_lossy()),
            'u' => out.push_str(&ctx.user_name),
            'U' => out.push_str(&ctx.uid.to_string()),
            'h' => out.push_str(&ctx.home.to_string_lossy()),
            'H' => out.push_str(&ctx.host_name),
            'l' => out.push_str(ctx.host_name.split('.').next().unwrap_or("")),
            'f' => {
                let what = if instance.is_empty() {
                    prefix
                } else {
                    instance
                };
                let path = name::unescape(what);
                if !path.starts_with('/') {
                    out.push('/');
                }
                out.push_str(&path);
            }
            'j' => out.push_str(last_component(prefix)),
            'J' => out.push_str(&name::unescape(last_component(prefix))),
            'T' => out.push_str("/tmp"),
            'V' => out.push_str("/var/tmp"),
            'E' | 'S' | 'C' | 'L' => out.push_str(&base_dir(spec, ctx)),
            'y' | 'Y' if let Some(file) = fragment => {
                let path = match spec {
                    'y' => file,
                    _ => file.parent().unwrap_or(file),
                };
                out.push_str(&path.to_string_lossy());
            }
            other => match ctx.facts.iter().find(|(c, _)| *c == other) {
                Some((_, value)) => out.push_str(value),
                None => {
                    out.push('%');
                    out.push(other);
                    unknown.push(UnknownSpecifier(other));
                }
            },
        }
    }
    (out, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> SpecifierContext {
        SpecifierContext {
            user_name: "alice".into(),
            uid: 1000,
            home: "/home/alice".into(),
            host_name: "box".into(),
            runtime_dir: "/run/user/1000".into(),
            facts: vec![
                ('m', "0123abcd".into()),
                ('v', "6.1.0".into()),
                ('w', String::new()),
            ],
        }
    }

    #[test]
    fn the_pretty_host_name_falls_back_to_the_short_one() {
        let info = "# comment\nPRETTY_HOSTNAME=\"Lab box 3\"\nCHASSIS=vm\n";
        assert_eq!(pretty_host_name(Some(info), "box.example.org"), "Lab box 3");
        assert_eq!(
            pretty_host_name(Some("CHASSIS=vm\n"), "box.example.org"),
            "box"
        );
        assert_eq!(
            pretty_host_name(Some("PRETTY_HOSTNAME=\n"), "box.lan"),
            "box"
        );
        assert_eq!(pretty_host_name(None, "box"), "box");
    }

    #[test]
    fn every_specifier() {
        let (s, u) = expand(
            "%n|%N|%p|%P|%i|%I|%t|%u|%U|%h|%H|%%",
            "getty-x\\x2dy@dev-tty\\x201.service",
            None,
            &ctx(),
        );
        assert!(u.is_empty());
        assert_eq!(
            s,
            "getty-x\\x2dy@dev-tty\\x201.service|getty-x\\x2dy@dev-tty\\x201|getty-x\\x2dy|getty/x-y|dev-tty\\x201|dev/tty 1|/run/user/1000|alice|1000|/home/alice|box|%"
        );
    }

    #[test]
    fn path_and_directory_specifiers() {
        let root = SpecifierContext::default();
        let (s, u) = expand(
            "%f|%j|%J|%l|%T|%V|%E|%S|%C|%L",
            "sys-dev\\x2dmy@dev-sda.service",
            None,
            &root,
        );
        assert!(u.is_empty());
        assert_eq!(
            s,
            "/dev/sda|dev\\x2dmy|dev-my|localhost|/tmp|/var/tmp|/etc|/var/lib|/var/cache|/var/log"
        );
        let (s, _) = expand(
            "%f %l %S %L",
            "web.service",
            None,
            &SpecifierContext {
                host_name: "a.b.c".into(),
                ..ctx()
            },
        );
        assert_eq!(
            s,
            "/web a /home/alice/.local/state /home/alice/.local/state/log"
        );
    }

    #[test]
    fn non_instance_has_empty_instance() {
        let (s, _) = expand("[%i][%p]", "web.service", None, &ctx());
        assert_eq!(s, "[][web]");
    }

    #[test]
    fn unknown_specifier_is_kept_and_reported() {
        let (s, u) = expand("a%Zb%", "web.service", None, &ctx());
        assert_eq!(s, "a%Zb%");
        assert_eq!(u, vec![UnknownSpecifier('Z')]);
    }

    /// The system's specifiers come from the context's facts; one it has
    /// none for stays unknown.
    #[test]
    fn system_specifiers_come_from_the_facts() {
        let (s, u) = expand("%m/%v/[%w]/%b", "web.service", None, &ctx());
        assert_eq!(s, "0123abcd/6.1.0/[]/%b");
        assert_eq!(u, vec![UnknownSpecifier('b')]);
    }

    #[test]
    fn passwd_and_status_parsing() {
        let status = "Name:\tx\nUid:\t1000\t1000\t1000\t1000\nGid:\t1\n";
        assert_eq!(uid_from_status(status), Some(1000));
        let passwd = "root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n";
        assert_eq!(
            passwd_entry(passwd, 1000),
            Some(("bob".into(), "/home/bob".into()))
        );
        assert_eq!(passwd_entry(passwd, 7), None);
    }

    #[test]
    fn from_environment_reads_this_process() {
        let c = SpecifierContext::from_environment();
        assert!(!c.user_name.is_empty());
        assert!(!c.host_name.is_empty());
        assert!(c.home.is_absolute());
        let fact = |l: char| {
            c.facts
                .iter()
                .find(|(c, _)| *c == l)
                .map(|(_, v)| v.clone())
        };
        let boot = fact('b').expect("%b");
        assert_eq!(boot.len(), 32, "{boot}");
        assert!(boot.chars().all(|c| c.is_ascii_hexdigit()), "{boot}");
        assert_eq!(
            fact('v').as_deref(),
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .as_deref()
                .map(str::trim)
        );
        assert!(fact('a').is_some_and(|a| !a.is_empty()));
    }
}
