//! Finding the `*.conf` files of a `NAME.d` directory the way systemd does:
//! the same file name in several directories is read once, from the directory
//! with the highest precedence (`/etc` over `/run` over `/usr/local/lib` over
//! `/usr/lib` over `/lib`), and all files are read in file-name order. A
//! symlink to `/dev/null` (or an empty file, as systemd's `null_or_empty`
//! sees it) masks the name. Entries that are not regular files, or links to
//! them, are passed over, as are links that lead nowhere. This module only
//! lists files; it never reads or interprets their contents.

use std::collections::{BTreeMap, BTreeSet};
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

/// What a configuration directory gives: the files to read, in order, and
/// the names masked (a masked `99-sysctl.conf` keeps `/etc/sysctl.conf` out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub files: Vec<PathBuf>,
    pub masked: BTreeSet<String>,
}

/// A configuration file's text, read as bytes, as systemd reads its files:
/// a byte that is not UTF-8 (a Latin-1 comment) becomes U+FFFD and costs at
/// most its line, not the file.
pub fn read_text(path: &Path) -> io::Result<String> {
    fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Picks the winner for each file name and returns the unmasked winners
/// sorted by file name, and the names whose winner masks them.
pub fn select(candidates: Vec<Candidate>) -> Listing {
    let mut winners: BTreeMap<String, Candidate> = BTreeMap::new();
    for c in candidates {
        match winners.get(&c.name) {
            Some(existing) if existing.precedence <= c.precedence => {}
            _ => {
                winners.insert(c.name.clone(), c);
            }
        }
    }
    let mut listing = Listing::default();
    for c in winners.into_values() {
        if c.masked {
            listing.masked.insert(c.name);
        } else {
            listing.files.push(c.path);
        }
    }
    listing
}

/// Whether a directory entry is a candidate, and if so whether it masks its
/// name. As systemd's conf-files listing: what cannot be followed (a
/// dangling link) and what is neither a regular file nor `/dev/null` (a
/// directory named `x.conf`) is passed over, so a file of that name lower
/// down is read instead; `/dev/null` (a character device) or an empty file
/// masks.
fn examine(path: &Path) -> Option<bool> {
    use std::os::unix::fs::FileTypeExt;
    // A link to `/dev/null` masks even when the tree under --root has no
    // /dev/null of its own.
    if fs::read_link(path).is_ok_and(|t| t == Path::new("/dev/null")) {
        return Some(true);
    }
    let meta = fs::metadata(path).ok()?;
    let kind = meta.file_type();
    if kind.is_char_device() {
        Some(true)
    } else if kind.is_file() {
        Some(meta.len() == 0)
    } else {
        None
    }
}

/// Lists `ROOT/{etc,run,usr/local/lib,usr/lib,lib}/SUBDIR/*.conf`. A missing
/// directory is not an error: most systems have only some of them. One that
/// cannot be read (a file in its place, no permission) is passed over and
/// returned with why, as systemd's listing passes it over: the files of the
/// others still count.
pub fn list(root: &Path, subdir: &str) -> (Listing, Vec<ConfDirError>) {
    let (mut candidates, mut errors) = (Vec::new(), Vec::new());
    for (precedence, base) in SEARCH_DIRS.iter().enumerate() {
        let dir = root.join(base).join(subdir);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => {
                errors.push(ConfDirError::ReadDir { path: dir, source });
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(source) => {
                    errors.push(ConfDirError::ReadDir {
                        path: dir.clone(),
                        source,
                    });
                    break;
                }
            };
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if !name.ends_with(".conf") || name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let Some(masked) = examine(&path) else {
                continue;
            };
            candidates.push(Candidate {
                precedence,
                name,
                path,
                masked,
            });
        }
    }
    (select(candidates), errors)
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
            got.files,
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
        assert!(got.files.is_empty());
        assert_eq!(got.masked, BTreeSet::from(["a.conf".to_string()]));
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
        let got = list(&root, "x.d").0;
        assert_eq!(got.files, vec![root.join("run/x.d/a.conf")]);
        assert_eq!(got.masked, BTreeSet::from(["b.conf".to_string()]));
        fs::remove_dir_all(&root).unwrap();
    }

    /// Review finding: a dangling link or a directory named `x.conf` was
    /// listed, and reading it failed the unit. systemd passes over what it
    /// cannot stat and what is not a regular file.
    #[test]
    fn dangling_links_and_directories_are_passed_over() {
        let root =
            std::env::temp_dir().join(format!("vigil-boot-confdir-odd-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for d in ["etc/x.d/dir.conf", "usr/lib/x.d"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        std::os::unix::fs::symlink("nowhere.conf", root.join("etc/x.d/dangling.conf")).unwrap();
        // The lower file of a name passed over is read instead.
        fs::write(root.join("usr/lib/x.d/dir.conf"), "lib").unwrap();
        fs::write(root.join("usr/lib/x.d/real.conf"), "lib").unwrap();
        std::os::unix::fs::symlink("real.conf", root.join("usr/lib/x.d/link.conf")).unwrap();
        // A relative link to /dev/null, and an empty file, mask as well.
        fs::write(root.join("usr/lib/x.d/m1.conf"), "lib").unwrap();
        fs::write(root.join("usr/lib/x.d/m2.conf"), "lib").unwrap();
        std::os::unix::fs::symlink("../../dev/null", root.join("etc/x.d/m1.conf")).unwrap();
        fs::create_dir_all(root.join("dev")).unwrap();
        std::os::unix::fs::symlink("/dev/null", root.join("dev/null")).unwrap();
        fs::write(root.join("etc/x.d/m2.conf"), "").unwrap();
        let got = list(&root, "x.d").0;
        assert_eq!(
            got.files,
            vec![
                root.join("usr/lib/x.d/dir.conf"),
                root.join("usr/lib/x.d/link.conf"),
                root.join("usr/lib/x.d/real.conf"),
            ]
        );
        assert_eq!(
            got.masked,
            BTreeSet::from(["m1.conf".to_string(), "m2.conf".to_string()])
        );
        fs::remove_dir_all(&root).unwrap();
    }
}
