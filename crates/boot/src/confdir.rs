//! Finding the `*.conf` files of a `NAME.d` directory the way systemd does:
//! the same file name in several directories is read once, from the directory
//! with the highest precedence (`/etc` over `/run` over `/usr/local/lib` over
//! `/usr/lib` over `/lib`), and all files are read in file-name order. A file
//! that is a symlink to `/dev/null` masks the name. This module only lists
//! files; it never reads or interprets their contents.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Directories searched, highest precedence first, relative to the root.
pub const SEARCH_DIRS: [&str; 5] = ["etc", "run", "usr/local/lib", "usr/lib", "lib"];

#[derive(Debug, thiserror::Error)]
pub enum ConfDirError {
    #[error("cannot read directory {path}: {source}")]
    ReadDir { path: PathBuf, source: io::Error },
}

/// One candidate file: its precedence (index into the search list, lower
/// wins), its file name and its full path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub precedence: usize,
    pub name: String,
    pub path: PathBuf,
    pub masked: bool,
}

/// Picks the winner for each file name and returns the unmasked winners
/// sorted by file name.
pub fn select(candidates: Vec<Candidate>) -> Vec<PathBuf> {
    let mut winners: BTreeMap<String, Candidate> = BTreeMap::new();
    for c in candidates {
        match winners.get(&c.name) {
            Some(existing) if existing.precedence <= c.precedence => {}
            _ => {
                winners.insert(c.name.clone(), c);
            }
        }
    }
    winners
        .into_values()
        .filter(|c| !c.masked)
        .map(|c| c.path)
        .collect()
}

/// Lists `ROOT/{etc,run,usr/local/lib,usr/lib,lib}/SUBDIR/*.conf`. A missing
/// directory is not an error: most systems have only some of them.
pub fn list(root: &Path, subdir: &str) -> Result<Vec<PathBuf>, ConfDirError> {
    let mut candidates = Vec::new();
    for (precedence, base) in SEARCH_DIRS.iter().enumerate() {
        let dir = root.join(base).join(subdir);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => return Err(ConfDirError::ReadDir { path: dir, source }),
        };
        for entry in entries {
            let entry = entry.map_err(|source| ConfDirError::ReadDir {
                path: dir.clone(),
                source,
            })?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if !name.ends_with(".conf") || name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let masked = fs::read_link(&path).is_ok_and(|t| t == Path::new("/dev/null"));
            candidates.push(Candidate {
                precedence,
                name,
                path,
                masked,
            });
        }
    }
    Ok(select(candidates))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(precedence: usize, name: &str, masked: bool) -> Candidate {
        Candidate {
            precedence,
            name: name.to_string(),
            path: PathBuf::from(format!("/{}/{name}", SEARCH_DIRS[precedence])),
            masked,
        }
    }

    #[test]
    fn etc_wins_over_run_over_usr_lib_and_order_is_by_name() {
        let got = select(vec![
            c(3, "10-a.conf", false),
            c(1, "10-a.conf", false),
            c(0, "10-a.conf", false),
            c(3, "05-z.conf", false),
            c(1, "20-b.conf", false),
            c(3, "20-b.conf", false),
        ]);
        assert_eq!(
            got,
            vec![
                PathBuf::from("/usr/lib/05-z.conf"),
                PathBuf::from("/etc/10-a.conf"),
                PathBuf::from("/run/20-b.conf"),
            ]
        );
    }

    #[test]
    fn dev_null_symlink_masks_lower_directories() {
        let got = select(vec![c(3, "a.conf", false), c(0, "a.conf", true)]);
        assert!(got.is_empty());
    }

    #[test]
    fn lists_real_directories_with_precedence() {
        let root = std::env::temp_dir().join(format!("vigil-boot-confdir-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for d in ["etc/x.d", "run/x.d", "usr/lib/x.d"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        fs::write(root.join("usr/lib/x.d/a.conf"), "lib").unwrap();
        fs::write(root.join("run/x.d/a.conf"), "run").unwrap();
        fs::write(root.join("usr/lib/x.d/b.conf"), "lib").unwrap();
        fs::write(root.join("etc/x.d/b.txt"), "ignored").unwrap();
        std::os::unix::fs::symlink("/dev/null", root.join("etc/x.d/b.conf")).unwrap();
        let got = list(&root, "x.d").unwrap();
        assert_eq!(got, vec![root.join("run/x.d/a.conf")]);
        fs::remove_dir_all(&root).unwrap();
    }
}
