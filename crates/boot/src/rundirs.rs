//! The runtime directories vigil and the services expect before anything else
//! runs: `/run/vigil` (the control and notify sockets), `/run/lock` and
//! `/run/user`, `/tmp` with its sticky mode, and the compatibility links
//! `/var/run -> /run` and `/var/lock -> /run/lock`. It owns creating them and
//! setting their modes; it never removes or replaces anything that exists
//! (a directory at `/var/run` is left as it is).

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

/// Whether [`apply`] would change anything. `--dry-run` prints only these
/// steps, and `apply` asks the same question, so the two cannot disagree.
pub fn pending(step: &Step) -> bool {
    match step {
        Step::Dir { path, mode } => fs::metadata(path).map_or(true, |m| {
            !m.is_dir() || m.permissions().mode() & 0o7777 != *mode
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
            if !path.is_dir() {
                fs::create_dir_all(path).map_err(io(path))?;
            }
            let current = fs::metadata(path).map_err(io(path))?.permissions().mode() & 0o7777;
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
