//! The runtime directories vigil and the services expect before anything else
//! runs: `/run/vigil` (the control and notify sockets), `/run/lock` and
//! `/run/user`, `/tmp` with its sticky mode, and the compatibility links
//! `/var/run -> /run` and `/var/lock -> /run/lock`. It owns creating them and
//! setting their modes; it never removes or replaces anything that exists
//! (a directory at `/var/run` is left as it is), and never follows a symlink
//! where it expects a directory: a `/run/lock` linked elsewhere is reported
//! and left alone, not given mode 1777 wherever it leads.

use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

/// One thing to make sure of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A directory with this mode (created, or its mode set).
    Dir { path: PathBuf, mode: u32 },
    /// A symbolic link to `target`, when nothing is at `path`.
    Link { path: PathBuf, target: &'static str },
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: File exists ({what}, not a directory): left as it is")]
    NotADirectory { path: PathBuf, what: &'static str },
}

/// What vigil needs, under `root`.
pub fn plan(root: &Path) -> Vec<Step> {
    let dir = |p: &str, mode| Step::Dir {
        path: root.join(p),
        mode,
    };
    let link = |p: &str, target| Step::Link {
        path: root.join(p),
        target,
    };
    vec![
        dir("run/vigil", 0o755),
        dir("run/lock", 0o1777),
        dir("run/user", 0o755),
        dir("tmp", 0o1777),
        link("var/run", "../run"),
        link("var/lock", "../run/lock"),
    ]
}

/// Whether a directory's owner is to be set: root's, as tmpfiles' `d` lines
/// give them, when run as root (a `/tmp` a user came to own is not theirs to
/// keep: review finding). Not otherwise, where no chown could do it.
fn owner_pending(m: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    rustix::process::geteuid().is_root() && (m.uid() != 0 || m.gid() != 0)
}

/// Whether [`apply`] would change anything. `--dry-run` prints only these
/// steps, and `apply` asks the same question, so the two cannot disagree.
pub fn pending(step: &Step) -> bool {
    match step {
        // Not followed: a symlink is not the directory (apply reports it).
        Step::Dir { path, mode } => fs::symlink_metadata(path).map_or(true, |m| {
            !m.is_dir() || m.permissions().mode() & 0o7777 != *mode || owner_pending(&m)
        }),
        // Something already there (a directory at /var/run) is left alone, and
        // with no /var at all (an initramfs) there is nothing to link from.
        Step::Link { path, .. } => {
            fs::symlink_metadata(path).is_err() && path.parent().is_some_and(Path::is_dir)
        }
    }
}

/// Carries out one step; false when there was nothing to do.
pub fn apply(step: &Step) -> Result<bool, Error> {
    if !pending(step) {
        return Ok(false);
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    match step {
        Step::Dir { path, mode } => {
            match fs::symlink_metadata(path) {
                Ok(m) if m.is_dir() => {}
                // Whatever is there stays: a mode set through a link would
                // land on wherever it leads.
                Ok(m) => {
                    let what = if m.file_type().is_symlink() {
                        "a symbolic link"
                    } else {
                        "a file"
                    };
                    return Err(Error::NotADirectory {
                        path: path.clone(),
                        what,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir_all(path).map_err(io(path))?;
                }
                Err(e) => return Err(io(path)(e)),
            }
            let mut meta = fs::symlink_metadata(path).map_err(io(path))?;
            // The owner first: a chown may clear mode bits.
            if owner_pending(&meta) {
                std::os::unix::fs::lchown(path, Some(0), Some(0)).map_err(io(path))?;
                meta = fs::symlink_metadata(path).map_err(io(path))?;
            }
            let current = meta.permissions().mode() & 0o7777;
            if current != *mode {
                fs::set_permissions(path, fs::Permissions::from_mode(*mode)).map_err(io(path))?;
            }
        }
        Step::Link { path, target } => symlink(target, path).map_err(io(path))?,
    }
    Ok(true)
}

/// How a step reads in `--dry-run` output and messages.
pub fn describe(step: &Step) -> String {
    match step {
        Step::Dir { path, mode } => format!("directory {} mode {mode:04o}", path.display()),
        Step::Link { path, target } => format!("link {} -> {target}", path.display()),
    }
}
