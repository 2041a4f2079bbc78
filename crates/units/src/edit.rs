//! `vigil edit` and `vigil revert`: the administrator's own layer over a
//! unit, as systemctl's edit and revert make it. An edit writes a drop-in
//! (`NAME.d/override.conf`) or a whole copy of the unit file into the
//! directory `vigil enable` writes to (or the runtime one); a revert removes
//! what those directories hold for the unit (its drop-ins, a copy that
//! overrides a vendor file, a mask), never a file of a later directory of the
//! unit path (the vendor's).
//!
//! Planning only reads the file system; [`write`] and [`remove`] are the
//! functions here that change it, and only at the paths a plan names.

use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::load::LoadedSet;
use crate::model::Format;
use crate::name;

/// The drop-in an edit writes when none is named (systemctl's).
pub const DEFAULT_DROP_IN: &str = "override.conf";

/// What `vigil edit` was asked for.
#[derive(Debug, Clone, Default)]
pub struct EditOptions {
    /// `--full`: a whole copy of the unit file, not a drop-in.
    pub full: bool,
    /// `--drop-in=NAME`: the drop-in's name (`.conf` added when it lacks it).
    pub drop_in: Option<String>,
    /// `--force`: a name with no unit file is edited all the same (a new unit
    /// file with `full`, else the drop-in of a unit yet to exist).
    pub force: bool,
}

/// Where an edit goes and what its editor is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditTarget {
    /// The unit's name (an alias's resolved, `.service` added).
    pub unit: String,
    /// The file the edit writes.
    pub path: PathBuf,
    /// The file whose text the editor starts with: `path` when it exists,
    /// the unit's own file for a first full copy; None for a new file.
    pub original: Option<PathBuf>,
    /// For a drop-in: the unit's file and the drop-ins that apply to it, in
    /// the order they apply, `path` left out (shown below the text, as
    /// comments); empty for a full copy.
    pub shown: Vec<PathBuf>,
}

#[derive(Debug, Error)]
pub enum EditError {
    #[error("{source}")]
    InvalidName { source: name::NameError },
    #[error("unit {name} not found (--force edits it all the same: a new unit)")]
    NotFound { name: String },
    /// `revert` of a name nothing is known of (it has no `--force`).
    #[error("unit {name} not found")]
    NothingKnown { name: String },
    #[error("unit {name} is masked ({}): unmask it first", link.display())]
    Masked { name: String, link: PathBuf },
    #[error(
        "unit {name} is read from YAML ({}): drop-ins and copies are for unit files; \
         edit that file itself",
        path.display()
    )]
    Yaml { name: String, path: PathBuf },
    #[error("unit {name} has no unit file to copy (it is built in): edit a drop-in instead")]
    NoFile { name: String },
    #[error("--drop-in={given}: a drop-in is named by a file name (not empty, no '/')")]
    BadDropIn { given: String },
    #[error(
        "{} is a link, not a unit file: edit --full would write through it (remove it first)",
        path.display()
    )]
    LinkThere { path: PathBuf },
    #[error("an empty unit file would mask {name}: nothing was changed")]
    EmptyUnitFile { name: String },
    #[error("cannot create directory {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot remove {}: {source}", path.display())]
    Remove { path: PathBuf, source: io::Error },
    #[error("cannot read directory {}: {source}", path.display())]
    ReadDir { path: PathBuf, source: io::Error },
}

/// The unit a name means, as the directories are: its file (None for one
/// built in, or one that does not exist yet) and the drop-ins applied to it.
struct Found {
    name: String,
    file: Option<PathBuf>,
    dropins: Vec<PathBuf>,
}

/// The name `edit` and `revert` act on: `.service` added when there is no
/// suffix, systemd's rules for a name, an alias resolved to its unit.
fn unit_name(set: &LoadedSet, name: &str) -> Result<String, EditError> {
    let n = name::normalize(name);
    name::validate(&n).map_err(|source| EditError::InvalidName { source })?;
    Ok(set.canonical(&n))
}

fn find(set: &LoadedSet, n: &str) -> Result<Option<Found>, EditError> {
    if let Some(link) = set.masked.get(n) {
        return Err(EditError::Masked {
            name: n.to_string(),
            link: link.clone(),
        });
    }
    let yaml = |path: &Path| EditError::Yaml {
        name: n.to_string(),
        path: path.to_path_buf(),
    };
    if let Some(unit) = set.units.iter().find(|u| u.name == n) {
        if let (Format::Yaml, Some(src)) = (unit.format, &unit.source) {
            return Err(yaml(src));
        }
        return Ok(Some(Found {
            name: n.to_string(),
            file: unit.source.clone(),
            dropins: unit.dropins.to_vec(),
        }));
    }
    // What does not load is edited too: that is how it is mended.
    let file = match set.broken.iter().find(|b| b.name == n) {
        Some(b)
            if b.path
                .extension()
                .is_some_and(|e| e == "yaml" || e == "yml") =>
        {
            return Err(yaml(&b.path));
        }
        Some(b) => Some(b.path.clone()),
        // A template, or an instance nobody refers to yet: its template's file.
        None => (set.templates.get(n))
            .or_else(|| name::template_of(n).and_then(|t| set.templates.get(&t)))
            .cloned(),
    };
    Ok(file.map(|file| Found {
        name: n.to_string(),
        file: Some(file),
        dropins: set.dropins_of(n),
    }))
}

/// The file name of `--drop-in=NAME`: `NAME.conf`, or NAME when it ends so.
fn drop_in_file(given: Option<&str>) -> Result<String, EditError> {
    let Some(given) = given else {
        return Ok(DEFAULT_DROP_IN.to_string());
    };
    let bad = given.is_empty() || given.contains('/') || given == "." || given == "..";
    if bad || given.contains('\0') {
        return Err(EditError::BadDropIn {
            given: given.to_string(),
        });
    }
    match given.ends_with(".conf") {
        true => Ok(given.to_string()),
        false => Ok(format!("{given}.conf")),
    }
}

/// Where `vigil edit NAME` writes in `dir` (the first configuration
/// directory, or the runtime one), as systemctl edit: `NAME.d/override.conf`
/// (or the drop-in named), an instance's in its own `foo@x.service.d/`, a
/// template's in `foo@.service.d/`; with `full`, `dir/NAME`, a copy that
/// takes precedence over the unit file of a later directory. Refused for a
/// masked unit, a YAML one, and a name with no unit file unless `force`.
pub fn edit_target(
    set: &LoadedSet,
    dir: &Path,
    name: &str,
    how: &EditOptions,
) -> Result<EditTarget, EditError> {
    let n = unit_name(set, name)?;
    let found = match find(set, &n)? {
        Some(found) => found,
        None if how.force => Found {
            dropins: set.dropins_of(&n),
            name: n,
            file: None,
        },
        None => return Err(EditError::NotFound { name: n }),
    };
    if how.full {
        let path = dir.join(&found.name);
        let there = fs::symlink_metadata(&path);
        if there.as_ref().is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(EditError::LinkThere { path });
        }
        let original = match (there.is_ok(), &found.file) {
            (true, _) => Some(path.clone()),
            (false, Some(file)) => Some(file.clone()),
            (false, None) if how.force && !set.units.iter().any(|u| u.name == found.name) => None,
            (false, None) => return Err(EditError::NoFile { name: found.name }),
        };
        return Ok(EditTarget {
            unit: found.name,
            path,
            original,
            shown: Vec::new(),
        });
    }
    let path = dir
        .join(format!("{}.d", found.name))
        .join(drop_in_file(how.drop_in.as_deref())?);
    let original = path.is_file().then(|| path.clone());
    let shown = (found.file.into_iter())
        .chain(found.dropins)
        .filter(|p| *p != path)
        .collect();
    Ok(EditTarget {
        unit: found.name,
        path,
        original,
        shown,
    })
}

/// What [`write`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// The file now holds the text.
    File(PathBuf),
    /// These were removed (an emptied drop-in, then its directory when
    /// nothing else was in it), in order.
    Removed(Vec<PathBuf>),
}

/// Puts `text` at the target's path: written to a new file beside it, then
/// renamed over it, so the loader never reads half of it. An empty text
/// removes a drop-in (and its directory, when that is left empty), as
/// systemctl edit does; a full copy is never emptied (an empty unit file
/// masks its unit), nothing changed.
pub fn write(target: &EditTarget, full: bool, text: &str) -> Result<Written, EditError> {
    let path = &target.path;
    if text.trim().is_empty() {
        if full {
            return Err(EditError::EmptyUnitFile {
                name: target.unit.clone(),
            });
        }
        let mut removed = Vec::new();
        match fs::remove_file(path) {
            Ok(()) => removed.push(path.clone()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(EditError::Remove {
                    path: path.clone(),
                    source,
                });
            }
        }
        // Only when empty: the other drop-ins there are not this edit's.
        if let Some(dir) = path.parent()
            && fs::remove_dir(dir).is_ok()
        {
            removed.push(dir.to_path_buf());
        }
        return Ok(Written::Removed(removed));
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(dir).map_err(|source| EditError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let file_name = path.file_name().map(|f| f.to_string_lossy().into_owned());
    let staged = dir.join(format!(
        ".#{}.{}",
        file_name.unwrap_or_default(),
        std::process::id()
    ));
    let failed = |source| EditError::Write {
        path: path.clone(),
        source,
    };
    // A stale one of this process's (a write that failed half way).
    let _ = fs::remove_file(&staged);
    let result = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&staged)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&staged, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&staged);
        return Err(failed(e));
    }
    Ok(Written::File(path.clone()))
}

/// What `vigil revert NAME` removes, in order (each directory after its
/// files), from `writable` (the directories vigil writes to: the first
/// configuration directory and the runtime one), as systemctl revert: the
/// unit's drop-in directory there with all it holds, a copy of the unit file
/// there when a later directory of the unit path (`vendor`) has the unit's
/// file (or, for an instance, its template's), and a mask (a link to
/// /dev/null). A unit file that only a writable directory has is the unit
/// itself, and stays. Nothing to remove is no error for a unit that exists;
/// a name nothing is known of is.
pub fn revert_plan(
    set: &LoadedSet,
    writable: &[PathBuf],
    vendor: &[PathBuf],
    name: &str,
) -> Result<Vec<PathBuf>, EditError> {
    let n = unit_name(set, name)?;
    let template = name::template_of(&n);
    let vendor_has = |file: &str| vendor.iter().any(|d| d.join(file).is_file());
    let has_vendor = vendor_has(&n) || template.as_deref().is_some_and(vendor_has);
    let mut paths = Vec::new();
    for dir in writable {
        let dropins = dir.join(format!("{n}.d"));
        let is_dir = fs::symlink_metadata(&dropins).is_ok_and(|m| m.is_dir());
        if is_dir {
            let entries = fs::read_dir(&dropins).map_err(|source| EditError::ReadDir {
                path: dropins.clone(),
                source,
            })?;
            let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            files.sort();
            paths.extend(files);
            paths.push(dropins);
        }
        let file = dir.join(&n);
        let Ok(there) = fs::symlink_metadata(&file) else {
            continue;
        };
        let masked = crate::load::is_masked(&file, Some(there.file_type()));
        if masked || (there.file_type().is_file() && has_vendor) {
            paths.push(file);
        }
    }
    let known = set.units.iter().any(|u| u.name == n)
        || set.broken.iter().any(|b| b.name == n)
        || set.masked.contains_key(&n)
        || set.templates.contains_key(&n)
        || template.is_some_and(|t| set.templates.contains_key(&t));
    if paths.is_empty() && !known {
        return Err(EditError::NothingKnown { name: n });
    }
    Ok(paths)
}

/// Removes what [`revert_plan`] planned: files and links, then the
/// directories (with whatever else came to be in them meanwhile). One
/// already gone is not an error.
pub fn remove(paths: &[PathBuf]) -> Result<(), EditError> {
    for path in paths {
        let is_dir = fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
        let result = match is_dir {
            true => fs::remove_dir_all(path),
            false => fs::remove_file(path),
        };
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(EditError::Remove {
                    path: path.clone(),
                    source,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::load_dirs;
    use crate::specifier::SpecifierContext;
    use std::os::unix::fs::symlink;

    struct Dirs {
        root: PathBuf,
        etc: PathBuf,
        lib: PathBuf,
    }

    impl Dirs {
        fn new(tag: &str) -> Dirs {
            let root =
                std::env::temp_dir().join(format!("vigil-units-edit-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            let (etc, lib) = (root.join("etc"), root.join("lib"));
            fs::create_dir_all(&etc).unwrap();
            fs::create_dir_all(&lib).unwrap();
            Dirs { root, etc, lib }
        }

        fn set(&self) -> LoadedSet {
            load_dirs(
                &[self.etc.clone(), self.lib.clone()],
                &SpecifierContext::default(),
            )
        }
    }

    impl Drop for Dirs {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.root);
        }
    }

    fn drop_in() -> EditOptions {
        EditOptions::default()
    }

    #[test]
    fn a_drop_in_goes_to_the_units_directory_and_shows_what_applies() {
        let d = Dirs::new("dropin");
        fs::write(d.lib.join("web.service"), "[Service]\nExecStart=/bin/w\n").unwrap();
        fs::create_dir_all(d.lib.join("web.service.d")).unwrap();
        fs::write(d.lib.join("web.service.d/10-vendor.conf"), "[Unit]\n").unwrap();
        symlink(d.lib.join("web.service"), d.etc.join("www.service")).unwrap();
        let t = edit_target(&d.set(), &d.etc, "www", &drop_in()).unwrap();
        assert_eq!(t.unit, "web.service");
        assert_eq!(t.path, d.etc.join("web.service.d/override.conf"));
        assert_eq!(t.original, None);
        assert_eq!(
            t.shown,
            [
                d.lib.join("web.service"),
                d.lib.join("web.service.d/10-vendor.conf")
            ]
        );
        assert_eq!(
            write(&t, false, "[Service]\nX=1\n").unwrap(),
            Written::File(t.path.clone())
        );
        // Now it is the drop-in edited, and not shown below itself.
        let again = edit_target(&d.set(), &d.etc, "web", &drop_in()).unwrap();
        assert_eq!(again.original, Some(t.path.clone()));
        assert_eq!(again.shown.len(), 2, "{:?}", again.shown);
        let named = EditOptions {
            drop_in: Some("limits".into()),
            ..drop_in()
        };
        let t2 = edit_target(&d.set(), &d.etc, "web", &named).unwrap();
        assert_eq!(t2.path, d.etc.join("web.service.d/limits.conf"));
        // Emptied: removed, the directory only when nothing else is in it.
        write(&t2, false, "[Service]\n").unwrap();
        assert_eq!(
            write(&t, false, " \n").unwrap(),
            Written::Removed(vec![t.path.clone()])
        );
        assert_eq!(
            write(&t2, false, "").unwrap(),
            Written::Removed(vec![t2.path.clone(), d.etc.join("web.service.d")])
        );
    }

    #[test]
    fn instances_templates_and_names_without_a_unit() {
        let d = Dirs::new("inst");
        fs::write(d.lib.join("w@.service"), "[Service]\nExecStart=/bin/w %i\n").unwrap();
        let set = d.set();
        let t = edit_target(&set, &d.etc, "w@x", &drop_in()).unwrap();
        assert_eq!(t.path, d.etc.join("w@x.service.d/override.conf"));
        assert_eq!(t.shown, [d.lib.join("w@.service")]);
        let t = edit_target(&set, &d.etc, "w@", &drop_in()).unwrap();
        assert_eq!(t.path, d.etc.join("w@.service.d/override.conf"));
        let full = EditOptions {
            full: true,
            ..drop_in()
        };
        let t = edit_target(&set, &d.etc, "w@x", &full).unwrap();
        assert_eq!(t.path, d.etc.join("w@x.service"));
        assert_eq!(t.original, Some(d.lib.join("w@.service")));
        assert!(matches!(
            edit_target(&set, &d.etc, "nope", &drop_in()),
            Err(EditError::NotFound { .. })
        ));
        let forced = EditOptions {
            force: true,
            ..full.clone()
        };
        let t = edit_target(&set, &d.etc, "nope", &forced).unwrap();
        assert_eq!((t.path, t.original), (d.etc.join("nope.service"), None));
        for bad in ["a*", "../x", ""] {
            assert!(
                matches!(
                    edit_target(&set, &d.etc, bad, &forced),
                    Err(EditError::InvalidName { .. })
                ),
                "{bad}"
            );
        }
        for bad in ["", "a/b", ".."] {
            let how = EditOptions {
                drop_in: Some(bad.into()),
                force: true,
                ..drop_in()
            };
            assert!(
                matches!(
                    edit_target(&set, &d.etc, "w@x", &how),
                    Err(EditError::BadDropIn { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn masked_yaml_and_full_copies() {
        let d = Dirs::new("full");
        fs::write(d.lib.join("a.service"), "[Service]\nExecStart=/bin/a\n").unwrap();
        fs::write(d.lib.join("y.yaml"), "exec: /bin/y\n").unwrap();
        symlink("/dev/null", d.etc.join("m.service")).unwrap();
        let set = d.set();
        let full = EditOptions {
            full: true,
            ..drop_in()
        };
        assert!(matches!(
            edit_target(&set, &d.etc, "m", &drop_in()),
            Err(EditError::Masked { .. })
        ));
        assert!(matches!(
            edit_target(&set, &d.etc, "y", &full),
            Err(EditError::Yaml { .. })
        ));
        let t = edit_target(&set, &d.etc, "a", &full).unwrap();
        assert_eq!(t.original, Some(d.lib.join("a.service")));
        assert!(t.shown.is_empty());
        assert!(matches!(
            write(&t, true, "\n"),
            Err(EditError::EmptyUnitFile { .. })
        ));
        write(&t, true, "[Service]\nExecStart=/bin/b\n").unwrap();
        let set = d.set();
        assert_eq!(set.get("a").unwrap().source, Some(d.etc.join("a.service")));
        let t = edit_target(&set, &d.etc, "a", &full).unwrap();
        assert_eq!(t.original, Some(d.etc.join("a.service")));
    }

    #[test]
    fn revert_removes_the_admins_layer_and_leaves_the_vendors() {
        let d = Dirs::new("revert");
        let run = d.root.join("run");
        fs::create_dir_all(run.join("a.service.d")).unwrap();
        fs::write(d.lib.join("a.service"), "[Service]\nExecStart=/bin/a\n").unwrap();
        fs::create_dir_all(d.lib.join("a.service.d")).unwrap();
        fs::write(d.lib.join("a.service.d/v.conf"), "[Unit]\n").unwrap();
        fs::write(d.etc.join("a.service"), "[Service]\nExecStart=/bin/b\n").unwrap();
        fs::create_dir_all(d.etc.join("a.service.d")).unwrap();
        fs::write(d.etc.join("a.service.d/override.conf"), "[Unit]\n").unwrap();
        fs::write(d.etc.join("a.service.d/z.conf"), "[Unit]\n").unwrap();
        fs::write(run.join("a.service.d/r.conf"), "[Unit]\n").unwrap();
        // Only in /etc: the unit itself, kept.
        fs::write(d.etc.join("own.service"), "[Service]\nExecStart=/bin/o\n").unwrap();
        symlink("/dev/null", d.etc.join("gone.service")).unwrap();
        let writable = [d.etc.clone(), run.clone()];
        let vendor = [d.lib.clone()];
        let set = d.set();
        let plan = revert_plan(&set, &writable, &vendor, "a").unwrap();
        assert_eq!(
            plan,
            [
                d.etc.join("a.service.d/override.conf"),
                d.etc.join("a.service.d/z.conf"),
                d.etc.join("a.service.d"),
                d.etc.join("a.service"),
                run.join("a.service.d/r.conf"),
                run.join("a.service.d"),
            ]
        );
        remove(&plan).unwrap();
        assert!(d.lib.join("a.service.d/v.conf").exists());
        assert_eq!(
            revert_plan(&d.set(), &writable, &vendor, "a").unwrap(),
            [] as [PathBuf; 0]
        );
        assert!(
            revert_plan(&set, &writable, &vendor, "own")
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            revert_plan(&set, &writable, &vendor, "gone").unwrap(),
            [d.etc.join("gone.service")]
        );
        assert!(matches!(
            revert_plan(&set, &writable, &vendor, "nope"),
            Err(EditError::NothingKnown { .. })
        ));
    }
}
