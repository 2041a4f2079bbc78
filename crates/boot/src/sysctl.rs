//! `sysctl.d` parsing: `key = value` lines into `/proc/sys` paths and values.
//! Parsing is pure; applying writes under a caller-given `/proc/sys`
//! directory, expanding keys with glob characters against it as
//! systemd-sysctl does. It never reads values back.

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rustix::io::Errno;

use vigil_units::glob;

#[derive(Debug, thiserror::Error)]
pub enum SysctlError {
    #[error("{path}:{line}: {reason}")]
    Parse {
        path: PathBuf,
        line: usize,
        reason: &'static str,
    },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}:{line}: cannot expand {pattern}: {source}")]
    Glob {
        path: PathBuf,
        line: usize,
        pattern: String,
        source: io::Error,
    },
    #[error("{path}:{line}: cannot write {target}: {source}")]
    Write {
        path: PathBuf,
        line: usize,
        target: PathBuf,
        source: io::Error,
    },
}

/// A failure worth a message. A warning leaves the exit status alone.
#[derive(Debug)]
pub enum Problem {
    Warning(SysctlError),
    Failure(SysctlError),
}

impl Problem {
    pub fn is_failure(&self) -> bool {
        matches!(self, Problem::Failure(_))
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Warning(e) => write!(f, "warning: {e} (ignored)"),
            Problem::Failure(e) => write!(f, "{e}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Ignored,
    Warning,
    Failure,
}

/// How much a failed write (or glob expansion) matters, as systemd-sysctl
/// judges it without `--strict`. A key this kernel lacks (ENOENT) or a
/// `/proc/sys` that is read-only or protected (EROFS, EPERM, EACCES: in a
/// container, under lockdown) must not fail the boot: a warning. Anything
/// else (EINVAL: a value the kernel refuses) is a failure. A `-` line
/// ignores everything; a glob match that vanished is not worth a word.
pub fn severity(err: &io::Error, ignore_failure: bool, from_glob: bool) -> Severity {
    if ignore_failure {
        return Severity::Ignored;
    }
    match Errno::from_io_error(err) {
        Some(Errno::NOENT) if from_glob => Severity::Ignored,
        Some(Errno::NOENT | Errno::PERM | Errno::ACCESS | Errno::ROFS) => Severity::Warning,
        _ => Severity::Failure,
    }
}

fn problem(severity: Severity, error: SysctlError) -> Option<Problem> {
    match severity {
        Severity::Ignored => None,
        Severity::Warning => Some(Problem::Warning(error)),
        Severity::Failure => Some(Problem::Failure(error)),
    }
}

/// One line, remembering where it came from for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// Path below `/proc/sys`, `/`-separated (`net/ipv4/ip_forward`); it
    /// may be a glob (`net/ipv4/conf/*/rp_filter`).
    pub key: String,
    /// `None` for a `-key` line: the key is only kept away from globs.
    pub value: Option<String>,
    pub ignore_failure: bool,
    pub path: PathBuf,
    pub line: usize,
}

/// One write to do: a key that exists or was named explicitly, its value
/// and the line it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write<'a> {
    pub key: String,
    pub value: &'a str,
    pub setting: &'a Setting,
    /// Found by expanding a glob: it may vanish before it is written (an
    /// interface going away), which is not worth a message.
    pub from_glob: bool,
}

impl Write<'_> {
    /// The key in sysctl(8)'s dotted form: `/` and `.` swap roles, so a
    /// dot inside a component (an interface `eth0.1`) shows as `/`.
    pub fn dotted(&self) -> String {
        swap_separators(&self.key)
    }
}

fn swap_separators(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '.' => '/',
            '/' => '.',
            c => c,
        })
        .collect()
}

/// Turns a key as written into a `/proc/sys` relative path. The first
/// separator decides the syntax, as in systemd: a `/` means the key is
/// already a path; a `.` means dots separate and slashes are literal dots.
pub fn normalize_key(key: &str) -> Option<String> {
    let key = key.trim_start_matches(['.', '/']);
    let path = match key.find(['.', '/']) {
        Some(i) if key.as_bytes().get(i) == Some(&b'.') => swap_separators(key),
        _ => key.to_string(),
    };
    let ok = !path.is_empty()
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    ok.then_some(path)
}

/// Parses one file's text. Bad lines are returned as errors and skipped so
/// that one typo does not lose the rest of the file.
pub fn parse(path: &Path, text: &str) -> (Vec<Setting>, Vec<SysctlError>) {
    let mut settings = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        let err = |reason| SysctlError::Parse {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let (ignore_failure, l) = match l.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, l),
        };
        let (key, value) = match l.split_once('=') {
            Some((key, value)) => (key, Some(value.trim().to_string())),
            // `-key` alone excludes the key from globs (systemd's
            // "negative match"); it writes nothing, so nothing can fail.
            None if ignore_failure => (l, None),
            None => {
                errors.push(err("expected 'key = value' or '-key'"));
                continue;
            }
        };
        let Some(key) = normalize_key(key.trim()) else {
            errors.push(err("invalid key"));
            continue;
        };
        settings.push(Setting {
            key,
            ignore_failure: ignore_failure && value.is_some(),
            value,
            path: path.to_path_buf(),
            line,
        });
    }
    (settings, errors)
}

/// Merges settings from files already in reading order, as systemd-sysctl
/// does: a later assignment of the same key replaces the earlier one and
/// moves to its own position, because order matters for pairs of keys (a
/// minimum must not be raised above the maximum still in force). The same
/// value again moves nothing; its `-` still counts.
pub fn merge(all: Vec<Setting>) -> Vec<Setting> {
    let mut out: Vec<Setting> = Vec::new();
    for s in all {
        if let Some(i) = out.iter().position(|o| o.key == s.key) {
            if out[i].value == s.value {
                out[i].ignore_failure |= s.ignore_failure;
                continue;
            }
            out.remove(i);
        }
        out.push(s);
    }
    out
}

/// Reads every file in order (unreadable ones become errors) and merges.
pub fn load(files: &[PathBuf]) -> (Vec<Setting>, Vec<SysctlError>) {
    let mut all = Vec::new();
    let mut errors = Vec::new();
    for path in files {
        match crate::confdir::read_text(path) {
            Ok(text) => {
                let (s, e) = parse(path, &text);
                all.extend(s);
                errors.extend(e);
            }
            Err(source) => errors.push(SysctlError::Read {
                path: path.clone(),
                source,
            }),
        }
    }
    (merge(all), errors)
}

/// The writes the merged settings ask for, in order: a glob key becomes
/// the existing keys it matches, less the keys that some line names
/// explicitly (an assignment, or a `-key` exclusion). Exclusions write
/// nothing themselves.
pub fn plan<'a>(proc_sys: &Path, settings: &'a [Setting]) -> (Vec<Write<'a>>, Vec<Problem>) {
    let explicit: HashSet<&str> = settings
        .iter()
        .filter(|s| !glob::is_glob(&s.key))
        .map(|s| s.key.as_str())
        .collect();
    let mut writes = Vec::new();
    let mut problems = Vec::new();
    for s in settings {
        let Some(value) = s.value.as_deref() else {
            continue;
        };
        let write = |key: String, from_glob| Write {
            key,
            value,
            setting: s,
            from_glob,
        };
        if !glob::is_glob(&s.key) {
            writes.push(write(s.key.clone(), false));
            continue;
        }
        match glob::expand(proc_sys, &s.key) {
            Ok(keys) => writes.extend(
                keys.into_iter()
                    .filter(|k| !explicit.contains(k.as_str()))
                    .map(|k| write(k, true)),
            ),
            Err(source) => {
                let severity = severity(&source, s.ignore_failure, false);
                let error = SysctlError::Glob {
                    path: s.path.clone(),
                    line: s.line,
                    pattern: s.key.clone(),
                    source,
                };
                problems.extend(problem(severity, error));
            }
        }
    }
    (writes, problems)
}

/// Does one write under `proc_sys`; what a failure amounts to is
/// `severity`'s call.
pub fn write(proc_sys: &Path, w: &Write) -> Option<Problem> {
    let target = proc_sys.join(&w.key);
    let source = fs::write(&target, format!("{}\n", w.value)).err()?;
    let severity = severity(&source, w.setting.ignore_failure, w.from_glob);
    let error = SysctlError::Write {
        path: w.setting.path.clone(),
        line: w.setting.line,
        target,
        source,
    };
    problem(severity, error)
}

/// Plans and does every write; the problems of both, in order.
pub fn apply(proc_sys: &Path, settings: &[Setting]) -> Vec<Problem> {
    let (writes, mut problems) = plan(proc_sys, settings);
    problems.extend(writes.iter().filter_map(|w| write(proc_sys, w)));
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Review finding: one Latin-1 comment cost the whole file, where
    /// systemd-sysctl applies it.
    #[test]
    fn a_byte_that_is_not_utf8_costs_no_setting() {
        let path = std::env::temp_dir().join(format!("vigil-sysctl-{}.conf", std::process::id()));
        fs::write(&path, b"# f\xfcr den Router\nnet.ipv4.ip_forward = 1\n").unwrap();
        let (settings, errors) = load(std::slice::from_ref(&path));
        let _ = fs::remove_file(&path);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(settings.len(), 1, "{settings:?}");
    }

    #[test]
    fn keys_with_dots_or_slashes() {
        assert_eq!(
            normalize_key("net.ipv4.ip_forward").as_deref(),
            Some("net/ipv4/ip_forward")
        );
        assert_eq!(
            normalize_key("net/ipv4/conf/eth0.1/forwarding").as_deref(),
            Some("net/ipv4/conf/eth0.1/forwarding")
        );
        assert_eq!(
            normalize_key("net.ipv4.conf.eth0/1.forwarding").as_deref(),
            Some("net/ipv4/conf/eth0.1/forwarding")
        );
        assert_eq!(normalize_key("kernel/../../etc"), None);
        assert_eq!(normalize_key(""), None);
        assert_eq!(normalize_key("a..b"), None);
    }

    #[test]
    fn parses_comments_ignore_prefix_and_reports_file_line() {
        let p = Path::new("/etc/sysctl.d/10-x.conf");
        let text = "# c\n; c\n\nkernel.pid_max = 65536\n-net.foo.bar=1 2 \nbogus line\n = 3\n";
        let (s, e) = parse(p, text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].key, "kernel/pid_max");
        assert_eq!(s[0].value.as_deref(), Some("65536"));
        assert_eq!(s[0].line, 4);
        assert!(!s[0].ignore_failure);
        assert_eq!(s[1].key, "net/foo/bar");
        assert_eq!(s[1].value.as_deref(), Some("1 2"));
        assert!(s[1].ignore_failure);
        let msgs: Vec<String> = e.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            msgs,
            vec![
                "/etc/sysctl.d/10-x.conf:6: expected 'key = value' or '-key'",
                "/etc/sysctl.d/10-x.conf:7: invalid key",
            ]
        );
    }

    #[test]
    fn later_assignment_wins_and_moves_to_its_place() {
        let p = Path::new("f");
        let (a, _) = parse(p, "a.b = 1\nc = 2\na/b = 3\n");
        let m = merge(a);
        let got: Vec<(&str, &str)> = m
            .iter()
            .map(|s| (s.key.as_str(), s.value.as_deref().unwrap_or_default()))
            .collect();
        assert_eq!(got, vec![("c", "2"), ("a/b", "3")]);
        assert_eq!(m[1].line, 3);
    }

    #[test]
    fn same_value_again_keeps_place_and_adds_dash() {
        let (a, _) = parse(Path::new("f"), "a = 1\nc = 2\n-a = 1\n");
        let m = merge(a);
        assert_eq!((m[0].key.as_str(), m[0].line), ("a", 1));
        assert!(m[0].ignore_failure);
        assert_eq!(m[1].key, "c");
    }

    /// A fake `/proc/sys` in a temp dir, removed on drop.
    struct ProcSys(PathBuf);

    impl ProcSys {
        fn new(name: &str, keys: &[&str]) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("vigil-boot-sysctl-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            for k in keys {
                let p = dir.join(k);
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                fs::write(p, "0\n").unwrap();
            }
            ProcSys(dir)
        }
        fn read(&self, key: &str) -> String {
            fs::read_to_string(self.0.join(key)).unwrap()
        }
    }

    impl Drop for ProcSys {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn settings(text: &str) -> Vec<Setting> {
        let (s, e) = parse(Path::new("f.conf"), text);
        assert!(e.is_empty(), "{e:?}");
        merge(s)
    }

    #[test]
    fn apply_writes_warns_and_reports_failures() {
        let sys = ProcSys::new("apply", &["kernel/x"]);
        fs::create_dir_all(sys.0.join("kernel/dir")).unwrap();
        let s = settings("kernel.x = 7\nkernel.dir = 1\nnope.y = 1\n-nope.z = 1\n");
        let problems = apply(&sys.0, &s);
        assert_eq!(sys.read("kernel/x"), "7\n");
        let got: Vec<(bool, String)> = problems
            .iter()
            .map(|p| (p.is_failure(), p.to_string()))
            .collect();
        assert_eq!(got.len(), 2, "{got:?}");
        // A directory refuses the write (EISDIR): a real failure.
        assert!(got[0].0, "{got:?}");
        assert!(got[0].1.starts_with("f.conf:2: cannot write"), "{got:?}");
        // A key this kernel lacks: a warning naming the line.
        assert!(!got[1].0, "{got:?}");
        assert!(
            got[1].1.starts_with("warning: f.conf:3: cannot write"),
            "{got:?}"
        );
    }

    #[test]
    fn severity_follows_systemd_without_strict() {
        use Severity::*;
        let e = |errno: Errno| io::Error::from_raw_os_error(errno.raw_os_error());
        for errno in [Errno::NOENT, Errno::PERM, Errno::ACCESS, Errno::ROFS] {
            assert_eq!(severity(&e(errno), false, false), Warning, "{errno:?}");
            assert_eq!(severity(&e(errno), true, false), Ignored, "{errno:?}");
        }
        assert_eq!(severity(&e(Errno::NOENT), false, true), Ignored);
        assert_eq!(severity(&e(Errno::ROFS), false, true), Warning);
        assert_eq!(severity(&e(Errno::INVAL), false, false), Failure);
        assert_eq!(severity(&e(Errno::INVAL), false, true), Failure);
        assert_eq!(severity(&e(Errno::INVAL), true, false), Ignored);
    }

    /// The lines of systemd's own 50-default.conf.
    #[test]
    fn glob_sets_matches_except_explicit_and_excluded_keys() {
        let sys = ProcSys::new(
            "glob",
            &[
                "net/ipv4/conf/all/rp_filter",
                "net/ipv4/conf/default/rp_filter",
                "net/ipv4/conf/lo/rp_filter",
                "net/ipv4/conf/eth0.1/rp_filter",
            ],
        );
        let s = settings(
            "net.ipv4.conf.default.rp_filter = 2\n\
             net.ipv4.conf.*.rp_filter = 2\n\
             -net.ipv4.conf.all.rp_filter\n\
             net.ipv4.conf.lo.rp_filter = 0\n",
        );
        let (writes, errors) = plan(&sys.0, &s);
        assert!(errors.is_empty(), "{errors:?}");
        let got: Vec<(String, &str)> = writes.iter().map(|w| (w.dotted(), w.value)).collect();
        assert_eq!(
            got,
            vec![
                ("net.ipv4.conf.default.rp_filter".to_string(), "2"),
                ("net.ipv4.conf.eth0/1.rp_filter".to_string(), "2"),
                ("net.ipv4.conf.lo.rp_filter".to_string(), "0"),
            ]
        );
        assert!(apply(&sys.0, &s).is_empty());
        assert_eq!(sys.read("net/ipv4/conf/eth0.1/rp_filter"), "2\n");
        assert_eq!(sys.read("net/ipv4/conf/lo/rp_filter"), "0\n");
        assert_eq!(sys.read("net/ipv4/conf/all/rp_filter"), "0\n");
    }

    #[test]
    fn glob_matching_nothing_and_vanished_match_are_not_errors() {
        let sys = ProcSys::new("vanish", &["net/ipv4/conf/lo/rp_filter"]);
        let s = settings("net.ipv6.conf.*.x = 1\nnet.ipv4.conf.*.rp_filter = 1\n");
        let (writes, errors) = plan(&sys.0, &s);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(writes.len(), 1);
        fs::remove_dir_all(sys.0.join("net/ipv4/conf/lo")).unwrap();
        assert!(write(&sys.0, &writes[0]).is_none());
    }

    #[test]
    fn exclusion_line_is_not_a_syntax_error() {
        let (s, e) = parse(Path::new("f"), "-a.b\n- c.d \n");
        assert!(e.is_empty(), "{e:?}");
        assert_eq!((s[0].key.as_str(), s[0].value.as_ref()), ("a/b", None));
        assert_eq!(s[1].key, "c/d");
    }
}
