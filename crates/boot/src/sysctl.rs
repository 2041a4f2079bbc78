//! `sysctl.d` parsing: `key = value` lines into `/proc/sys` paths and values.
//! Parsing is pure; applying writes under a caller-given `/proc/sys`
//! directory. It never follows globs in keys and never reads values back.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

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
    #[error("{path}:{line}: cannot write {target}: {source}")]
    Write {
        path: PathBuf,
        line: usize,
        target: PathBuf,
        source: io::Error,
    },
}

/// One assignment, remembering where it came from for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// Path below `/proc/sys`, `/`-separated (`net/ipv4/ip_forward`).
    pub key: String,
    pub value: String,
    pub ignore_failure: bool,
    pub path: PathBuf,
    pub line: usize,
}

impl Setting {
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
        let Some((key, value)) = l.split_once('=') else {
            errors.push(err("expected 'key = value'"));
            continue;
        };
        let Some(key) = normalize_key(key.trim()) else {
            errors.push(err("invalid key"));
            continue;
        };
        settings.push(Setting {
            key,
            value: value.trim().to_string(),
            ignore_failure,
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
        match fs::read_to_string(path) {
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

/// Writes one setting under `proc_sys`. A `-` setting's failure is not an
/// error, as in systemd: the key may not exist on this kernel.
pub fn apply(proc_sys: &Path, s: &Setting) -> Result<(), SysctlError> {
    let target = proc_sys.join(&s.key);
    match fs::write(&target, format!("{}\n", s.value)) {
        Ok(()) => Ok(()),
        Err(_) if s.ignore_failure => Ok(()),
        Err(source) => Err(SysctlError::Write {
            path: s.path.clone(),
            line: s.line,
            target,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(s[0].value, "65536");
        assert_eq!(s[0].line, 4);
        assert!(!s[0].ignore_failure);
        assert_eq!(s[1].key, "net/foo/bar");
        assert_eq!(s[1].value, "1 2");
        assert!(s[1].ignore_failure);
        assert_eq!(s[1].dotted(), "net.foo.bar");
        let msgs: Vec<String> = e.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            msgs,
            vec![
                "/etc/sysctl.d/10-x.conf:6: expected 'key = value'",
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
            .map(|s| (s.key.as_str(), s.value.as_str()))
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

    #[test]
    fn apply_writes_and_reports_failures() {
        let dir = std::env::temp_dir().join(format!("vigil-boot-sysctl-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("kernel")).unwrap();
        let (s, _) = parse(
            Path::new("f.conf"),
            "kernel.x = 7\nnope.y = 1\n-nope.z = 1\n",
        );
        apply(&dir, &s[0]).unwrap();
        assert_eq!(fs::read_to_string(dir.join("kernel/x")).unwrap(), "7\n");
        let err = apply(&dir, &s[1]).unwrap_err().to_string();
        assert!(err.starts_with("f.conf:2: cannot write"), "{err}");
        apply(&dir, &s[2]).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }
}
