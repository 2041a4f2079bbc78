//! `/etc/hostname`: the first line that is not a comment, cleaned up and
//! validated as systemd does before it reaches sethostname(2). Without a
//! valid name there, the kernel's name stays, unless the kernel has none:
//! then it is `localhost`, as in systemd.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum HostnameError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "{path}:{line}: invalid hostname {name:?} (at most 64 characters; dot-separated labels of A-Z a-z 0-9 -, none empty, none starting or ending with -)"
    )]
    Invalid {
        path: PathBuf,
        line: usize,
        name: String,
    },
    #[error("cannot set hostname {name}: {source}")]
    Set { name: String, source: io::Error },
}

/// systemd's `hostname_is_valid` as it reads /etc/hostname (trailing dot
/// allowed): at most 64 characters (the kernel's limit), labels of letters,
/// digits and `-` separated by single dots, no label empty or starting or
/// ending with `-`. A trailing dot (a fully qualified name) needs at least
/// two labels before it, so `a.b.` is valid but `a.` and `.` are not.
pub fn valid(name: &str) -> bool {
    if name.is_empty() || name.len() > 64 {
        return false;
    }
    let (body, trailing_dot) = match name.strip_suffix('.') {
        Some(body) => (body, true),
        None => (name, false),
    };
    let labels: Vec<&str> = body.split('.').collect();
    (!trailing_dot || labels.len() >= 2) && labels.iter().all(|l| valid_label(l))
}

fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// What systemd makes of the line before it checks it (its
/// `hostname_cleanup`): only letters, digits, `-` and `.` are kept (`my_host`
/// is `myhost`, `My Host` is `MyHost`), a `.` that would follow a `.` or a `-`
/// (or start the name) is dropped, so is a `-` after a `.` or at the start;
/// the name stops at 64 characters, and one `-` or `.` at its end goes.
fn cleanup(line: &str) -> String {
    let mut out = String::with_capacity(line.len().min(64));
    // At the start, as after a dot: neither a dot nor a hyphen may come.
    let (mut dot, mut hyphen) = (true, true);
    for c in line.chars() {
        if out.len() >= 64 {
            break;
        }
        match c {
            '.' if !dot && !hyphen => (dot, hyphen) = (true, false),
            '-' if !dot => (dot, hyphen) = (false, true),
            c if c.is_ascii_alphanumeric() => (dot, hyphen) = (false, false),
            _ => continue,
        }
        out.push(c);
    }
    if out.ends_with(['-', '.']) {
        out.pop();
    }
    out
}

/// The name in the file's text, with its line; `None` when there is none.
/// The first line that is neither empty nor a `#` comment holds it, all of it
/// cleaned up as systemd does (`cleanup`); a line with nothing left is invalid.
pub fn parse(path: &Path, text: &str) -> Result<Option<String>, HostnameError> {
    for (i, raw) in text.lines().enumerate() {
        // A byte-order mark is no character of a name.
        let l = raw.trim().trim_start_matches('\u{feff}');
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let name = cleanup(l);
        if !valid(&name) {
            return Err(HostnameError::Invalid {
                path: path.to_path_buf(),
                line: i + 1,
                name: l.to_string(),
            });
        }
        return Ok(Some(name));
    }
    Ok(None)
}

/// Reads `ROOT/etc/hostname`; a missing file means nothing to do.
pub fn read(root: &Path) -> Result<Option<String>, HostnameError> {
    let path = root.join("etc/hostname");
    match crate::confdir::read_text(&path) {
        Ok(text) => parse(&path, &text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(HostnameError::Read { path, source }),
    }
}

/// `systemd.hostname=NAME` of a kernel command line (the last one), which
/// wins over /etc/hostname as in systemd; an invalid one is said and
/// passed over.
pub fn from_cmdline(cmdline: &str) -> Result<Option<String>, String> {
    let words = crate::cmdline::words(cmdline);
    let Some(name) = words
        .iter()
        .filter_map(|w| w.strip_prefix("systemd.hostname="))
        .next_back()
    else {
        return Ok(None);
    };
    match valid(name) {
        true => Ok(Some(name.strip_suffix('.').unwrap_or(name).to_string())),
        false => Err(format!(
            "warning: the kernel command line's systemd.hostname={name} is no valid host name: ignored"
        )),
    }
}

/// The name the kernel has now (uname's nodename).
pub fn current() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// What to set, given the name from /etc/hostname (if it gave a valid one)
/// and the kernel's current name. With no configured name, a kernel left
/// without one (empty, or `(none)` as it boots) gets systemd's fallback
/// `localhost`, so that `(none)` never shows in prompts, logs and sudo.
pub fn decide(configured: Option<String>, kernel: &str) -> Option<String> {
    match configured {
        // Not set again (systemd's `sethostname_idempotent`): a container whose
        // manager set it from the same file may not set it at all.
        Some(name) if name == kernel => None,
        Some(name) => Some(name),
        None if kernel.is_empty() || kernel == "(none)" => Some("localhost".to_string()),
        None => None,
    }
}

impl HostnameError {
    /// sethostname(2) refused for want of CAP_SYS_ADMIN (EPERM).
    pub fn not_permitted(&self) -> bool {
        matches!(self, HostnameError::Set { source, .. }
            if source.raw_os_error() == Some(rustix::io::Errno::PERM.raw_os_error()))
    }
}

pub fn set(name: &str) -> Result<(), HostnameError> {
    rustix::system::sethostname(name.as_bytes()).map_err(|e| HostnameError::Set {
        name: name.to_string(),
        source: e.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Review finding: systemd cleans the line up before it checks it
    /// (`my_host` is `myhost`); vigil rejected such names and kept the
    /// kernel's, or took the first word of `My Host`.
    #[test]
    fn the_first_line_is_cleaned_up_as_systemd_does() {
        let p = Path::new("h");
        let name = |text: &str| parse(p, text).unwrap().unwrap();
        assert_eq!(name("# c\n\n  web-1.example\nother\n"), "web-1.example");
        assert_eq!(name("my_host\n"), "myhost");
        assert_eq!(name("My Host\n"), "MyHost");
        assert_eq!(name("\u{feff}box\n"), "box");
        assert_eq!(name(&"a".repeat(70)), "a".repeat(64));
        assert_eq!(name("-a..b-.c.\n"), "a.b-c");
        assert_eq!(name("web.example.com.\n"), "web.example.com");
        let e = parse(Path::new("/etc/hostname"), "\n_.-\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/etc/hostname:2: invalid hostname \"_.-\"")
        );
        assert_eq!(parse(p, "# only\n\n").unwrap(), None);
        assert_eq!(parse(p, "").unwrap(), None);
    }

    #[test]
    fn fallback_only_when_the_kernel_has_no_name() {
        let name = || Some("box".to_string());
        let localhost = Some("localhost".to_string());
        assert_eq!(decide(name(), "(none)"), name());
        assert_eq!(decide(name(), "other"), name());
        assert_eq!(decide(name(), name().as_deref().unwrap()), None);
        assert_eq!(decide(None, "(none)"), localhost);
        assert_eq!(decide(None, ""), localhost);
        assert_eq!(decide(None, "other"), None);
        // An empty /etc/hostname gives no name: the fallback applies.
        let empty = parse(Path::new("h"), "").unwrap();
        assert_eq!(decide(empty, "(none)"), localhost);
    }

    /// Review finding: the kernel's `systemd.hostname=` was passed over.
    #[test]
    fn the_kernel_command_line_names_the_host() {
        assert_eq!(from_cmdline("quiet ro"), Ok(None));
        let got = from_cmdline("systemd.hostname=a quiet systemd.hostname=web1.example.");
        assert_eq!(got, Ok(Some("web1.example".to_string())));
        assert!(from_cmdline("systemd.hostname=bad_name!").is_err());
    }

    #[test]
    fn validation() {
        assert!(valid("a"));
        assert!(valid(&"a".repeat(64)));
        assert!(!valid(&"a".repeat(65)));
        assert!(!valid("-a"));
        assert!(!valid("a_b"));
        assert!(!valid(""));
        assert!(valid("web-1.example.com"));
        assert!(valid("a.b."));
        assert!(valid("0a"));
        for bad in [
            ".", "a.", ".a", "a..b", "a-", "a.-b", "a-.b", "a.b-", "a.b..", "-",
        ] {
            assert!(!valid(bad), "{bad:?} should be invalid");
        }
        assert!(valid(&format!("{}.b.", "a".repeat(61))));
        assert!(!valid(&format!("{}.b.", "a".repeat(62))));
    }
}
