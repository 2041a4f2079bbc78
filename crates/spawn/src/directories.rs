//! `RuntimeDirectory=`, `StateDirectory=`, `CacheDirectory=`, `LogsDirectory=`
//! and `ConfigurationDirectory=`: the directories the manager creates for a
//! service before each of its processes starts, and the variables that name them.
//!
//! A system manager (root) puts them under `/run`, `/var/lib`, `/var/cache`,
//! `/var/log` and `/etc`; a user manager under the XDG directories, as
//! `systemd --user` does: `$XDG_RUNTIME_DIR`, `$XDG_STATE_HOME` (`~/.local/state`),
//! `$XDG_CACHE_HOME` (`~/.cache`), `$XDG_STATE_HOME/log` and `$XDG_CONFIG_HOME`
//! (`~/.config`). The innermost directory of each path gets the kind's mode and,
//! except for configuration directories, the service's user and group; a
//! directory that exists with another owner is handed over recursively, as
//! systemd does. Nothing here follows a symbolic link.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use vigil_units::{DirectoryKind, Service};

use crate::libc_errno::{ENOENT, ENOTDIR};

/// Where each kind of directory lives (`None`: unknown for this manager, such
/// as a user manager without `$XDG_RUNTIME_DIR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryRoots {
    pub runtime: Option<PathBuf>,
    pub state: Option<PathBuf>,
    pub cache: Option<PathBuf>,
    pub logs: Option<PathBuf>,
    pub configuration: Option<PathBuf>,
}

impl DirectoryRoots {
    /// The system manager's roots.
    pub fn system() -> DirectoryRoots {
        DirectoryRoots {
            runtime: Some("/run".into()),
            state: Some("/var/lib".into()),
            cache: Some("/var/cache".into()),
            logs: Some("/var/log".into()),
            configuration: Some("/etc".into()),
        }
    }

    /// A user manager's roots from its environment (`var`) and home directory.
    /// As the XDG base directory specification says, a relative value is ignored.
    pub fn user(var: &dyn Fn(&str) -> Option<String>, home: Option<&Path>) -> DirectoryRoots {
        let absolute = |name: &str| var(name).filter(|v| v.starts_with('/')).map(PathBuf::from);
        let or_home =
            |name: &str, below: &str| absolute(name).or_else(|| home.map(|h| h.join(below)));
        let state = or_home("XDG_STATE_HOME", ".local/state");
        DirectoryRoots {
            runtime: absolute("XDG_RUNTIME_DIR"),
            logs: state.as_ref().map(|s| s.join("log")),
            state,
            cache: or_home("XDG_CACHE_HOME", ".cache"),
            configuration: or_home("XDG_CONFIG_HOME", ".config"),
        }
    }

    /// The roots for this manager: the system's as root, else the user's from the
    /// manager's own environment.
    pub fn for_manager(is_root: bool) -> DirectoryRoots {
        if is_root {
            return DirectoryRoots::system();
        }
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        DirectoryRoots::user(&|name| std::env::var(name).ok(), home.as_deref())
    }

    pub fn root(&self, kind: DirectoryKind) -> Option<&Path> {
        match kind {
            DirectoryKind::Runtime => self.runtime.as_deref(),
            DirectoryKind::State => self.state.as_deref(),
            DirectoryKind::Cache => self.cache.as_deref(),
            DirectoryKind::Logs => self.logs.as_deref(),
            DirectoryKind::Configuration => self.configuration.as_deref(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("{directive}={path}: no directory is known for it (is $XDG_RUNTIME_DIR set?)")]
    NoRoot {
        directive: &'static str,
        path: PathBuf,
    },
    #[error("{directive}: cannot set up {path}: {source}")]
    Setup {
        directive: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{directive}: {path} exists and is not a directory")]
    NotADirectory {
        directive: &'static str,
        path: PathBuf,
    },
}

impl DirectoryError {
    pub fn errno(&self) -> i32 {
        match self {
            DirectoryError::NoRoot { .. } => ENOENT,
            DirectoryError::Setup { source, .. } => source.raw_os_error().unwrap_or(0),
            DirectoryError::NotADirectory { .. } => ENOTDIR,
        }
    }
}

/// The full paths of one kind's directories for `service`.
pub fn paths(
    service: &Service,
    kind: DirectoryKind,
    roots: &DirectoryRoots,
) -> Result<Vec<PathBuf>, DirectoryError> {
    let dirs = service.directories(kind);
    let Some(first) = dirs.paths.first() else {
        return Ok(Vec::new());
    };
    let Some(root) = roots.root(kind) else {
        return Err(DirectoryError::NoRoot {
            directive: kind.directive(),
            path: first.clone(),
        });
    };
    Ok(dirs.paths.iter().map(|p| root.join(p)).collect())
}

/// Creates every directory `service` asks for (parents 0755, owned by the
/// manager; the innermost with the kind's mode, owned by `owner` when given and
/// the kind is not configuration), and returns the variables naming them
/// (`RUNTIME_DIRECTORY=/run/a:/run/b`), in kind order.
pub fn set_up(
    service: &Service,
    roots: &DirectoryRoots,
    owner: Option<(u32, u32)>,
) -> Result<Vec<(&'static str, String)>, DirectoryError> {
    let mut vars = Vec::new();
    for kind in DirectoryKind::ALL {
        let full = paths(service, kind, roots)?;
        if full.is_empty() {
            continue;
        }
        let mode = service.directories(kind).mode;
        let owner = owner.filter(|_| kind != DirectoryKind::Configuration);
        for path in &full {
            let directive = kind.directive();
            let path = path.clone();
            create_one(&path, mode, owner).map_err(|source| match source.raw_os_error() {
                Some(ENOTDIR) => DirectoryError::NotADirectory { directive, path },
                _ => DirectoryError::Setup {
                    directive,
                    path,
                    source,
                },
            })?;
        }
        let joined = full
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(":");
        vars.push((kind.variable(), joined));
    }
    Ok(vars)
}

fn create_one(path: &Path, mode: u32, owner: Option<(u32, u32)>) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)?;
    }
    match std::fs::DirBuilder::new().mode(mode & 0o7777).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        return Err(io::Error::from_raw_os_error(ENOTDIR));
    }
    // The umask narrowed the mode of a new directory; an existing one gets the
    // configured mode too, as systemd does at each start.
    if meta.mode() & 0o7777 != mode & 0o7777 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777))?;
    }
    if let Some((uid, gid)) = owner
        && (meta.uid() != uid || meta.gid() != gid)
    {
        chown_tree(path, uid, gid)?;
    }
    Ok(())
}

/// Hands `path` and everything below it to `uid:gid`, never following a link.
fn chown_tree(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Removes the service's runtime directories (when it stops, unless
/// `RuntimeDirectoryPreserve=` says otherwise: the caller decides). Returns what
/// could not be removed; a directory already gone is not an error.
pub fn remove_runtime(service: &Service, roots: &DirectoryRoots) -> Vec<(PathBuf, io::Error)> {
    let Ok(full) = paths(service, DirectoryKind::Runtime, roots) else {
        return Vec::new();
    };
    let mut failed = Vec::new();
    // Innermost first: `a/b` before `a`, when both are listed.
    for path in full.iter().rev() {
        match std::fs::remove_dir_all(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => failed.push((path.clone(), e)),
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_roots_follow_xdg_and_fall_back_to_home() {
        let env = |name: &str| match name {
            "XDG_RUNTIME_DIR" => Some("/run/user/1000".to_string()),
            "XDG_CACHE_HOME" => Some("relative/ignored".to_string()),
            _ => None,
        };
        let roots = DirectoryRoots::user(&env, Some(Path::new("/home/a")));
        assert_eq!(roots.runtime, Some("/run/user/1000".into()));
        assert_eq!(roots.state, Some("/home/a/.local/state".into()));
        assert_eq!(roots.logs, Some("/home/a/.local/state/log".into()));
        assert_eq!(roots.cache, Some("/home/a/.cache".into()));
        assert_eq!(roots.configuration, Some("/home/a/.config".into()));
        let bare = DirectoryRoots::user(&|_| None, None);
        assert_eq!(bare.runtime, None);
        let mut service = Service::default();
        service
            .directories_mut(DirectoryKind::Runtime)
            .paths
            .push("x".into());
        let err = set_up(&service, &bare, None).unwrap_err();
        assert!(err.to_string().starts_with("RuntimeDirectory=x:"), "{err}");
    }
}
