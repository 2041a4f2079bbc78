//! `/etc/hostname`: the first word that is not a comment, validated before
//! it reaches sethostname(2). It never invents a name when the file is
//! missing or empty: the kernel's name stays.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum HostnameError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "{path}:{line}: invalid hostname {name:?} (1-64 of A-Z a-z 0-9 - ., not starting with -)"
    )]
    Invalid {
        path: PathBuf,
        line: usize,
        name: String,
    },
    #[error("cannot set hostname {name}: {source}")]
    Set { name: String, source: io::Error },
}

pub fn valid(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// The name in the file's text, with its line; `None` when there is none.
pub fn parse(path: &Path, text: &str) -> Result<Option<String>, HostnameError> {
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let name = l.split_whitespace().next().unwrap_or_default();
        if !valid(name) {
            return Err(HostnameError::Invalid {
                path: path.to_path_buf(),
                line: i + 1,
                name: name.to_string(),
            });
        }
        return Ok(Some(name.to_string()));
    }
    Ok(None)
}

/// Reads `ROOT/etc/hostname`; a missing file means nothing to do.
pub fn read(root: &Path) -> Result<Option<String>, HostnameError> {
    let path = root.join("etc/hostname");
    match fs::read_to_string(&path) {
        Ok(text) => parse(&path, &text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(HostnameError::Read { path, source }),
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

    #[test]
    fn first_non_comment_word() {
        let p = Path::new("h");
        assert_eq!(
            parse(p, "# c\n\n  web-1.example  trailing\nother\n").unwrap(),
            Some("web-1.example".to_string())
        );
        assert_eq!(parse(p, "# only\n\n").unwrap(), None);
        assert_eq!(parse(p, "").unwrap(), None);
    }

    #[test]
    fn validation() {
        assert!(valid("a"));
        assert!(valid(&"a".repeat(64)));
        assert!(!valid(&"a".repeat(65)));
        assert!(!valid("-a"));
        assert!(!valid("a_b"));
        assert!(!valid(""));
        let e = parse(Path::new("/etc/hostname"), "\nbad_name\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/etc/hostname:2: invalid hostname \"bad_name\"")
        );
    }
}
