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

use std::ffi::OsStr;
use std::io;
use std::path::{Component, Path, PathBuf};

use vigil_platform::dir::Dir;
use vigil_units::{DirectoryKind, Service};

use crate::libc_errno::{EINVAL, ELOOP, ENOENT, ENOTDIR};

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
    #[error("{directive}: {path} is a symbolic link, which is never followed")]
    Symlink {
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
            DirectoryError::Symlink { .. } => ELOOP,
        }
    }
}

/// Creates every directory `service` asks for (missing parents exactly 0755,
/// owned by the manager; the innermost with the kind's mode, owned by `owner` when given and
/// the kind is not configuration), and returns the variables naming them
/// (`RUNTIME_DIRECTORY=/run/a:/run/b`), in kind order.
pub fn set_up(
    service: &Service,
    roots: &DirectoryRoots,
    owner: Option<(u32, u32)>,
) -> Result<Vec<(&'static str, String)>, DirectoryError> {
    let mut vars = Vec::new();
    for kind in DirectoryKind::ALL {
        let dirs = service.directories(kind);
        let Some(first) = dirs.paths.first() else {
            continue;
        };
        let directive = kind.directive();
        let Some(root) = roots.root(kind) else {
            let path = first.clone();
            return Err(DirectoryError::NoRoot { directive, path });
        };
        let owner = owner.filter(|_| kind != DirectoryKind::Configuration);
        for rel in &dirs.paths {
            let mode = dirs.mode;
            create_one(root, rel, mode, owner).map_err(|(path, source)| {
                match source.raw_os_error() {
                    Some(ENOTDIR) => DirectoryError::NotADirectory { directive, path },
                    Some(ELOOP) => DirectoryError::Symlink { directive, path },
                    _ => DirectoryError::Setup {
                        directive,
                        path,
                        source,
                    },
                }
            })?;
        }
        let joined = (dirs.paths.iter())
            .map(|rel| root.join(rel).to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(":");
        vars.push((kind.variable(), joined));
    }
    Ok(vars)
}

/// Creates `root/rel` one component at a time from `root`, never through a
/// link: each component is opened relative to the one above it with
/// `O_NOFOLLOW`, so a directory below the root that someone replaced with a
/// symbolic link fails the setup (`ELOOP`) instead of leading elsewhere. On
/// failure, the path up to the component that failed.
fn create_one(
    root: &Path,
    rel: &Path,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), (PathBuf, io::Error)> {
    // The root is the manager's own (`/var/lib`, `~/.local/state`): a link there
    // is the administrator's choice and followed.
    let mut dir = open_root(root).map_err(|e| (root.to_path_buf(), e))?;
    let names = components(rel).map_err(|e| (root.join(rel), e))?;
    let mut here = root.to_path_buf();
    for (i, name) in names.iter().enumerate() {
        here.push(name);
        let innermost = i + 1 == names.len();
        // Missing parents get exactly 0755, whatever the manager's umask.
        let wanted = if innermost { mode & 0o7777 } else { 0o755 };
        let (child, created) = dir
            .create_child(name, wanted)
            .map_err(|e| (here.clone(), e))?;
        dir = child;
        if !innermost || created && owner.is_none() {
            continue;
        }
        let fail = |e| (here.clone(), e);
        let (uid, gid, current) = dir.owner_and_mode().map_err(fail)?;
        // An existing directory gets the configured mode back, as systemd does at
        // each start.
        if current != wanted {
            dir.set_mode(wanted).map_err(fail)?;
        }
        if let Some((want_uid, want_gid)) = owner
            && (uid != want_uid || gid != want_gid)
        {
            dir.chown_tree(want_uid, want_gid).map_err(fail)?;
        }
    }
    Ok(())
}

/// Opens a root, creating what is missing of it with exactly 0755.
fn open_root(root: &Path) -> io::Result<Dir> {
    match Dir::open(root) {
        Err(e) if e.raw_os_error() == Some(ENOENT) => {}
        opened => return opened,
    }
    let (Some(parent), Some(name)) = (root.parent(), root.file_name()) else {
        return Err(io::Error::from_raw_os_error(ENOENT));
    };
    Ok(open_root(parent)?.create_child(name, 0o755)?.0)
}

/// The names of a relative path; anything but plain names is refused (the unit
/// parser already refuses `..`, `.` and absolute paths).
fn components(rel: &Path) -> io::Result<Vec<&OsStr>> {
    let names = rel
        .components()
        .map(|c| match c {
            Component::Normal(name) => Ok(name),
            _ => Err(io::Error::from_raw_os_error(EINVAL)),
        })
        .collect::<io::Result<Vec<_>>>()?;
    if names.is_empty() {
        return Err(io::Error::from_raw_os_error(EINVAL));
    }
    Ok(names)
}

/// Removes the service's runtime directories (when it stops, unless
/// `RuntimeDirectoryPreserve=` says otherwise: the caller decides). Returns what
/// could not be removed; a directory already gone is not an error. The parents
/// are walked as at creation, never through a link, and nothing below is
/// followed either: a link is removed, not what it points to.
pub fn remove_runtime(service: &Service, roots: &DirectoryRoots) -> Vec<(PathBuf, io::Error)> {
    let Some(root) = roots.root(DirectoryKind::Runtime) else {
        return Vec::new();
    };
    let dirs = service.directories(DirectoryKind::Runtime);
    let mut failed = Vec::new();
    // Innermost first: `a/b` before `a`, when both are listed.
    for rel in dirs.paths.iter().rev() {
        match remove_one(root, rel) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(ENOENT) => {}
            Err(e) => failed.push((root.join(rel), e)),
        }
    }
    failed
}

fn remove_one(root: &Path, rel: &Path) -> io::Result<()> {
    let names = components(rel)?;
    let Some((last, parents)) = names.split_last() else {
        return Ok(());
    };
    let mut dir = Dir::open(root)?;
    for name in parents {
        dir = dir.open_child(name)?;
    }
    dir.remove_tree(last)
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
