//! `vigil edit` and `vigil revert` in the manager: where an edit goes, the
//! writing of its text, and the removal of what a revert undoes, each
//! followed by a read of the configuration.
//!
//! The files are written here, not by `vigil`, as `mask` and `enable` write
//! theirs: the manager knows its own unit path (a `--unit-path` the client
//! does not), which directory is its runtime one, and takes changes only from
//! root and its own user, so a user manager's files stay its user's. The
//! editor runs in the client, which has the terminal; it sends the text back
//! with the same options, and the manager plans again before it writes.
//! Nothing here follows a path a client named: the paths are the plan's.

use std::path::{Path, PathBuf};

use vigil_proto::{Body, ErrorCode, FileChange, JobResult, Reply};
use vigil_units::edit::{EditOptions, Written};

use crate::daemon::Daemon;

/// What a `vigil edit` request asks, as the protocol carries it.
pub(crate) struct EditRequest {
    pub unit: String,
    pub how: EditOptions,
    pub runtime: bool,
    pub text: Option<String>,
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b || std::fs::canonicalize(a).is_ok_and(|a| std::fs::canonicalize(b).is_ok_and(|b| a == b))
}

impl Daemon {
    /// The runtime directory of this manager's units (`--runtime`): its own
    /// runtime directory, the control socket's (`/run/vigil` for root), when
    /// the unit path has it, as root's default path does. A user manager's
    /// default path has none.
    fn runtime_unit_dir(&self) -> Option<PathBuf> {
        let runtime = self.socket_path.parent()?;
        (self.opts.config_dirs.iter())
            .find(|d| same_dir(d, runtime))
            .cloned()
    }

    /// The directories vigil writes to: the first configuration directory
    /// (where `enable` links) and the runtime one.
    fn writable_unit_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self.opts.config_dirs.first().cloned().into_iter().collect();
        if let Some(run) = self.runtime_unit_dir()
            && !dirs.iter().any(|d| same_dir(d, &run))
        {
            dirs.push(run);
        }
        dirs
    }

    /// `vigil edit`: without a text, where the edit goes and what its
    /// editor shows; with one, the text written there (an empty one removes
    /// a drop-in), then the configuration read again, as `mask` reads it,
    /// and what the new text does not load said with the reply.
    pub(crate) fn edit(&mut self, id: u64, request: EditRequest) -> Reply {
        let dir = match request.runtime {
            true => self.runtime_unit_dir(),
            false => self.opts.config_dirs.first().cloned(),
        };
        let Some(dir) = dir else {
            let why = match request.runtime {
                true => format!(
                    "--runtime: this manager has no runtime directory on its unit path \
                     ({} is not among {}): edit without --runtime",
                    self.socket_path
                        .parent()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    (self.opts.config_dirs.iter())
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                false => "no configuration directory".to_string(),
            };
            return Reply::err(id, ErrorCode::Failed, why);
        };
        // The generators' outputs too: a generated unit gets its drop-in.
        let set = vigil_units::load::load_dirs(self.load_path(), &self.spec_ctx);
        let target = match vigil_units::edit::edit_target(&set, &dir, &request.unit, &request.how) {
            Ok(target) => target,
            Err(e) => return Reply::err(id, ErrorCode::Failed, e.to_string()),
        };
        let shown = |p: &Path| p.display().to_string();
        let Some(text) = request.text else {
            return Reply::ok(
                id,
                Body::EditPlan {
                    unit: target.unit,
                    path: shown(&target.path),
                    original: target.original.as_deref().map(shown),
                    files: target.shown.iter().map(|p| shown(p)).collect(),
                },
            );
        };
        let written = match vigil_units::edit::write(&target, request.how.full, &text) {
            Ok(written) => written,
            Err(e) => return Reply::err(id, ErrorCode::Failed, e.to_string()),
        };
        let changes: Vec<FileChange> = match written {
            Written::File(path) => vec![FileChange::Write { path: shown(&path) }],
            Written::Removed(paths) => (paths.iter())
                .map(|p| FileChange::Unlink { path: shown(p) })
                .collect(),
        };
        let mut job = JobResult {
            unit: target.unit,
            state: "edited".into(),
            reason: None,
            ok: true,
        };
        if !changes.is_empty() {
            let read = self.load();
            let path = shown(&target.path);
            let errors: Vec<String> = (read.errors.into_iter())
                .filter(|e| e.starts_with(&format!("{path}:")))
                .collect();
            if !errors.is_empty() {
                job.reason = Some(errors.join("\n"));
            }
        }
        Reply::ok(
            id,
            Body::Jobs {
                jobs: vec![job],
                changes,
            },
        )
    }

    /// `vigil revert`: every name planned before anything is removed, as
    /// `install` does (a name that fails changes nothing); then the
    /// configuration is read again, when something was removed.
    pub(crate) fn revert(&mut self, id: u64, units: &[String]) -> Reply {
        let writable = self.writable_unit_dirs();
        if writable.is_empty() {
            return Reply::err(id, ErrorCode::Failed, "no configuration directory");
        }
        let vendor: Vec<PathBuf> = (self.load_path().iter())
            .filter(|d| !writable.iter().any(|w| same_dir(w, d)))
            .cloned()
            .collect();
        let set = vigil_units::load::load_dirs(self.load_path(), &self.spec_ctx);
        let mut plans = Vec::new();
        let mut jobs = Vec::new();
        for u in units {
            match vigil_units::edit::revert_plan(&set, &writable, &vendor, u) {
                Ok(paths) => plans.push(paths),
                Err(e) => {
                    let why = format!("{u}: {e}; nothing was changed");
                    return Reply::err(id, ErrorCode::Failed, why);
                }
            }
            jobs.push(JobResult {
                unit: vigil_units::name::normalize(u),
                state: "reverted".into(),
                reason: None,
                ok: true,
            });
        }
        let mut changes: Vec<FileChange> = Vec::new();
        for paths in &plans {
            if let Err(e) = vigil_units::edit::remove(paths) {
                return Reply::err(id, ErrorCode::Failed, e.to_string());
            }
            for p in paths {
                let change = FileChange::Unlink {
                    path: p.display().to_string(),
                };
                if !changes.contains(&change) {
                    changes.push(change);
                }
            }
        }
        if !changes.is_empty() {
            let _ = self.load();
        }
        Reply::ok(id, Body::Jobs { jobs, changes })
    }
}
