//! Reading configuration directories into a set of units.
//!
//! The loader finds unit files (`*.service`, `*.target`, `*.yaml`), their
//! drop-ins (`NAME.d/*.conf`), `NAME.wants/` and `NAME.requires/` directories,
//! aliases and masks (symlinks), and templates; it hands each file to its front
//! end and instantiates templates for every instance referred to. A file that
//! fails to load becomes a [`Broken`] entry and everything else still loads.
//! It only reads the file system; it never writes and never starts anything.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{MASKED_EMPTY_NOT_LOADED, MASKED_NOT_LOADED, TYPE_NOT_SUPPORTED};
use crate::files::hidden_or_backup;
use crate::model::{Condition, ConditionKind, Format, Sparse, Unit, UnitKind};
use crate::specifier::SpecifierContext;
use crate::unitfile::{self, Reference, Source};
use crate::{Diagnostic, diag, name, yaml};

/// The unit search path of a manager running as root, first place first:
/// vigil's own directories, then systemd's, so that the units a distribution
/// ships for systemd load unchanged while a file in `/etc/vigil` overrides them.
pub const SYSTEM_UNIT_PATH: &[&str] = &[
    "/etc/vigil",
    "/run/vigil",
    "/usr/lib/vigil",
    "/etc/systemd/system",
    "/run/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
];

/// Reads a search path written as `VIGIL_UNIT_PATH` (and systemd's
/// `SYSTEMD_UNIT_PATH`): directories separated by `:`; an empty last component
/// (`/srv/units:`) appends `default`; other empty components are ignored.
pub fn parse_unit_path(value: &str, default: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = value
        .split(':')
        .filter(|c| !c.is_empty())
        .map(PathBuf::from)
        .collect();
    if value.is_empty() || value.ends_with(':') {
        out.extend(default.iter().cloned());
    }
    out
}

/// Drop-in directories that apply to every unit of a type (`service.d/`).
const TYPE_DROPIN_OWNERS: &[&str] = &["service", "target"];

/// The prefix drop-in directories that apply to a unit, most specific first:
/// `foo-bar-baz.service` -> `foo-bar-.service`, `foo-.service`. Only dashes
/// before the `@` of an instance count, as in systemd.
fn prefix_dropin_owners(unit_name: &str) -> Vec<String> {
    let Some(suffix) = name::suffix_of(unit_name) else {
        return Vec::new();
    };
    let prefix = name::prefix_of(unit_name);
    prefix
        .match_indices('-')
        .map(|(i, _)| format!("{}{suffix}", &prefix[..=i]))
        .filter(|owner| owner != unit_name)
        .rev()
        .collect()
}

/// Targets vigil provides as empty synchronisation points when something refers
/// to them and no file defines them. `default.target` is deliberately absent:
/// a configuration without one must say which target to start.
pub const BUILTIN_TARGETS: &[&str] = &[
    "multi-user.target",
    "basic.target",
    "sysinit.target",
    "network.target",
    "network-online.target",
    "network-pre.target",
    "nss-lookup.target",
    "time-sync.target",
    "remote-fs.target",
    "getty.target",
    "local-fs.target",
    "sockets.target",
    "timers.target",
    "shutdown.target",
];

/// The targets that may be isolated (`AllowIsolate=yes`, as systemd ships
/// them, and as vigil ships them in crates/boot/units): a built-in one of
/// these names has it too. Not the targets of the shutdown, which vigil
/// ships with `RefuseManualStart=yes` (`vigil poweroff` goes there).
pub const ISOLATABLE_TARGETS: &[&str] = &[
    "multi-user.target",
    "graphical.target",
    "rescue.target",
    "emergency.target",
];

/// The result of loading: the good units, the broken ones, and every message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadedSet {
    pub units: Vec<Unit>,
    pub broken: Vec<Broken>,
    pub diagnostics: Vec<Diagnostic>,
    /// `foo@.service` -> the file it is defined in.
    pub templates: BTreeMap<String, PathBuf>,
    /// Alias name -> the unit it names (from symlinks in the directories).
    pub aliases: BTreeMap<String, String>,
    /// Masked names (symlinks to /dev/null) -> the symlink.
    pub masked: BTreeMap<String, PathBuf>,
    /// Drop-in directory owner (`a.service`, `foo@.service`, `foo-.service`,
    /// `service`) -> its drop-in files, one per file name, the first directory's.
    pub dropins: BTreeMap<String, Vec<DropIn>>,
    /// `NAME.wants/` entries: NAME -> (wanted unit, the entry's path).
    pub wants_dirs: BTreeMap<String, Vec<(String, PathBuf)>>,
    /// `NAME.requires/` entries: NAME -> (required unit, the entry's path).
    pub requires_dirs: BTreeMap<String, Vec<(String, PathBuf)>>,
    /// The first reference of each unit name that pulls it in (`Requires=`,
    /// `Wants=`...) and the first that does not (`After=`...), with where each
    /// was written: only the first of a name decides whether it is loaded, built
    /// in or missing, and one that pulls it in names the file in the warning.
    pub references: Vec<Reference>,
    /// The names in `references`, by `reference_kind` (orders, pulls in, needs):
    /// a thousand services each refer to the same five targets of their default
    /// dependencies.
    pub(crate) referenced: [HashSet<String>; 3],
    /// Names referred to that no file defines (already warned about when pulled in).
    pub missing: BTreeSet<String>,
    /// Unit files of a type vigil does not load yet (`.timer`, `.mount`...), by
    /// name: each is warned about once, and a reference to one is not "not found".
    pub unsupported: BTreeSet<String>,
    /// What each unit read from a file (loaded or broken) was read from
    /// ([`FilesRead`]): its file (a template's, for an instance) and each
    /// drop-in, in the order applied. Units without a file (built in) have
    /// none.
    pub files_read: HashMap<String, FilesRead>,
}

/// The files a unit was read from ([`LoadedSet::files_read`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesRead {
    /// One number for the paths and bytes of the files, in order: the same
    /// number at two loads means the same files, so a sync lists as changed
    /// only a unit whose own files changed (a unit whose definition differs
    /// only through other units, as a target's implicit `After=` on a service
    /// it wants, which goes while that service is broken, keeps its number).
    /// Not kept across managers: std's SipHash is only stable within one
    /// build.
    pub digest: u64,
    /// The unit's file as it was when read (its [`FileStamp`]; None when it
    /// could not be looked at).
    pub file: (PathBuf, Option<FileStamp>),
    /// The drop-ins applied over it, in order, each as it was when read;
    /// None when there were none to apply (a YAML unit, a unit file that
    /// could not be read).
    pub dropins: Option<Vec<(PathBuf, Option<FileStamp>)>>,
}

impl FilesRead {
    /// Whether the files differ now from when they were read, as systemd's
    /// NeedDaemonReload= tells: the unit's file or a drop-in changed
    /// (another inode, size or modification time), went, or came back; or
    /// the drop-ins that apply now (`dropins_now`, [`dropins_now`]) are not
    /// those read. A stat of each file; nothing is read.
    pub fn changed_since(&self, dropins_now: Option<&[PathBuf]>) -> bool {
        let same = |(path, stamp): &(PathBuf, Option<FileStamp>)| FileStamp::now(path) == *stamp;
        let read = self.dropins.as_deref().unwrap_or_default();
        let listed = dropins_now.is_some_and(|now| !read.iter().map(|(p, _)| p).eq(now));
        !same(&self.file) || listed || !read.iter().all(same)
    }
}

/// What tells a file changed without reading it: its device and inode (an
/// editor that writes a new file and renames it over the old), size and
/// modification time (to the nanosecond), as a stat gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
}

impl FileStamp {
    fn of(meta: &fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
        }
    }

    /// The file at `path` as it is now (a link followed, as a read follows
    /// it); None when it cannot be looked at (gone).
    pub fn now(path: &Path) -> Option<FileStamp> {
        fs::metadata(path).ok().map(|m| FileStamp::of(&m))
    }
}

/// What reads a unit's files, making their [`FilesRead`].
#[derive(Default)]
struct Reader {
    hasher: std::hash::DefaultHasher,
    files: Vec<(PathBuf, Option<FileStamp>)>,
}

impl Reader {
    fn file(&mut self, path: &Path, bytes: &[u8]) {
        use std::hash::Hash;
        path.hash(&mut self.hasher);
        bytes.hash(&mut self.hasher);
    }

    /// A file that could not be read counts by its error: one made readable
    /// again is a change.
    fn unreadable(&mut self, path: &Path, e: &std::io::Error) {
        self.file(path, e.to_string().as_bytes());
        std::hash::Hash::hash(&u8::MAX, &mut self.hasher);
    }

    /// Reads `path`, counting what it read or why not, and noting the file
    /// as it was (from the descriptor read, so the stamp is of the bytes
    /// read; a stat when the read failed). A regular file's bytes only, up
    /// to [`FILE_MAX`], opened without waiting
    /// ([`crate::files::read_regular`]: a FIFO named `x.service` would stop
    /// the manager in its open for ever).
    fn read(&mut self, path: &Path) -> std::io::Result<Vec<u8>> {
        let read = crate::files::read_regular(path, FILE_MAX);
        let stamp = match &read {
            Ok((bytes, meta)) => {
                self.file(path, bytes);
                Some(FileStamp::of(meta))
            }
            Err(e) => {
                self.unreadable(path, e);
                FileStamp::now(path)
            }
        };
        self.files.push((path.to_path_buf(), stamp));
        read.map(|(bytes, _)| bytes)
    }

    /// What was read: the first file the unit's, the others its drop-ins
    /// (`dropins`: whether drop-ins were looked for).
    fn finish(self, dropins: bool) -> FilesRead {
        let digest = std::hash::Hasher::finish(&self.hasher);
        let mut files = self.files.into_iter();
        let file = files.next().unwrap_or_default();
        FilesRead {
            digest,
            file,
            dropins: dropins.then(|| files.collect()),
        }
    }
}

/// One `*.conf` file of a drop-in directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropIn {
    pub path: PathBuf,
    /// The directory of the search path it was found in (0 is the first).
    pub origin: usize,
    /// A symlink to /dev/null: hides the drop-ins of this file name that rank after it.
    pub masked: bool,
}

/// A unit whose file could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub name: String,
    pub path: PathBuf,
    /// The first error in reading order (by line), as `file:line: message`.
    pub reason: String,
}

/// The unit `name` means through `aliases`: an alias names its unit, and an
/// instance of a template alias (`alias@x` with `alias@.service` ->
/// `foo@.service`) the same instance of the template it links to, as systemd
/// reads `Alias=` of templates.
pub fn resolve_alias(aliases: &BTreeMap<String, String>, name: &str) -> String {
    alias_of(aliases, name).unwrap_or_else(|| name.to_string())
}

/// [`resolve_alias`], None when `name` is no alias (nothing allocated: the
/// loader asks for each of the thousands of names units refer to).
fn alias_of(aliases: &BTreeMap<String, String>, name: &str) -> Option<String> {
    if let Some(real) = aliases.get(name) {
        return Some(real.clone());
    }
    let p = name::split_instance(name).filter(|p| !p.instance.is_empty())?;
    let real = aliases.get(&name::template_of(name)?)?;
    name::is_template(real).then(|| name::instance_name(real, p.instance))?
}

impl LoadedSet {
    /// The unit with this name (a name without suffix means `.service`; an alias
    /// finds the unit it names).
    pub fn get(&self, name: &str) -> Option<&Unit> {
        let n = self.canonical(&name::normalize(name));
        self.units.iter().find(|u| u.name == n)
    }

    /// The broken entry with this name, if the unit failed to load.
    pub fn get_broken(&self, name: &str) -> Option<&Broken> {
        let n = self.canonical(&name::normalize(name));
        self.broken.iter().find(|b| b.name == n)
    }

    /// The name an alias stands for, or the name itself.
    pub fn canonical(&self, name: &str) -> String {
        resolve_alias(&self.aliases, name)
    }

    /// The drop-ins that apply to `name` as the directories are now, in the
    /// order they apply (the unit's, its template's, its prefixes', its
    /// type's): what `vigil edit` shows of a unit that is not loaded (an
    /// instance nobody refers to, a template, a unit that fails to load).
    pub fn dropins_of(&self, name: &str) -> Vec<PathBuf> {
        self.dropins_for(name)
    }

    /// Whether any diagnostic is an error (`vigil verify` exits 1 then).
    pub fn has_errors(&self) -> bool {
        !self.broken.is_empty() || self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Creates `foo@x.service` from the template `foo@.service` (and whatever the
    /// new instance refers to). Does nothing for a unit that is already loaded.
    /// A masked name is refused, as systemd refuses to start it even by hand.
    /// On failure the instance is recorded in `broken` and its errors returned.
    pub fn instantiate(
        &mut self,
        name: &str,
        ctx: &SpecifierContext,
    ) -> Result<(), Vec<Diagnostic>> {
        let mut results = self.instantiate_all(&[name], ctx);
        results.pop().unwrap_or(Ok(()))
    }

    /// [`LoadedSet::instantiate`] for each of `names`, its result at the same
    /// place: their files are read first, and what they refer to resolved once
    /// for them all (resolving after each made a request naming thousands
    /// quadratic: 4,000 instance names held the manager for seconds).
    pub fn instantiate_all<S: AsRef<str>>(
        &mut self,
        names: &[S],
        ctx: &SpecifierContext,
    ) -> Vec<Result<(), Vec<Diagnostic>>> {
        let mut present: HashSet<String> = self.units.iter().map(|u| u.name.clone()).collect();
        let mut results = Vec::with_capacity(names.len());
        let mut loaded = Vec::new();
        for (i, name) in names.iter().enumerate() {
            match self.load_instance(name.as_ref(), ctx, &mut present) {
                Ok(Some((n, errors))) => {
                    loaded.push((i, n));
                    results.push(if errors.is_empty() {
                        Ok(())
                    } else {
                        Err(errors)
                    });
                }
                Ok(None) => results.push(Ok(())),
                Err(e) => results.push(Err(e)),
            }
        }
        if !loaded.is_empty() {
            self.resolve(ctx);
        }
        for (i, n) in loaded {
            // Its template is an empty file.
            if let (Some(refused), Some(slot)) = (self.refused_as_masked(&n), results.get_mut(i)) {
                *slot = Err(refused);
            }
        }
        results
    }

    /// The checks of [`LoadedSet::instantiate`] and the read of the instance's
    /// file, without resolving what it refers to: the canonical name and the
    /// file's errors when it was read, None when it is loaded already.
    fn load_instance(
        &mut self,
        name: &str,
        ctx: &SpecifierContext,
        present: &mut HashSet<String>,
    ) -> Result<Option<(String, Vec<Diagnostic>)>, Vec<Diagnostic>> {
        let given = name::normalize(name);
        // A name from the command line: `/` or `..` in an instance would reach
        // the paths built from `%i`.
        if let Err(e) = name::validate(&given) {
            return Err(vec![Diagnostic::error(
                PathBuf::new(),
                0,
                name::invalid_name_message(&given, &e),
            )]);
        }
        let n = self.canonical(&given);
        if let Some(refused) = [&given, &n]
            .into_iter()
            .find_map(|k| self.refused_as_masked(k))
        {
            return Err(refused);
        }
        if present.contains(&n) {
            return Ok(None);
        }
        if let Some(b) = self.broken.iter().find(|b| b.name == n) {
            return Err(vec![Diagnostic::error(&b.path, 0, b.reason.clone())]);
        }
        let Some(template) = name::template_of(&n) else {
            let why = if name::is_template(&n) {
                let example = name::instance_name(&n, "NAME").unwrap_or_default();
                format!("{n} is a template: name an instance of it ({example})")
            } else {
                format!("no such unit: {n} (and it is not an instance of a template)")
            };
            return Err(vec![Diagnostic::error(PathBuf::new(), 0, why)]);
        };
        let Some(path) = self.templates.get(&template).cloned() else {
            return Err(vec![Diagnostic::error(
                PathBuf::new(),
                0,
                format!("no template {template} for {n}"),
            )]);
        };
        let errors = self.load_unit_file(&n, &path, ctx);
        // A broken one is in `broken`, found there if named again.
        if errors.is_empty() {
            present.insert(n.clone());
        }
        Ok(Some((n, errors)))
    }

    /// The mask of `name`: its own, or for an instance its template's
    /// (`vigil mask foo@` links `foo@.service` to /dev/null, which masks
    /// every instance, as in systemd).
    fn mask_of_name(&self, name: &str) -> Option<&PathBuf> {
        (self.masked.get(name)).or_else(|| self.masked.get(&name::template_of(name)?))
    }

    /// The error for `name` when it is masked.
    fn refused_as_masked(&self, name: &str) -> Option<Vec<Diagnostic>> {
        let link = self.mask_of_name(name)?;
        let why = format!("unit {name} is masked: it cannot be loaded or started");
        Some(vec![Diagnostic::error(link, 0, why)])
    }

    fn push_unit(&mut self, mut unit: Unit, refs: Vec<Reference>) {
        for r in refs {
            self.push_reference(r);
        }
        self.attach_dir_deps(&mut unit);
        self.add_default_deps(&mut unit);
        // Aliases name their unit; after that a name may stand twice.
        unit.deps.for_each_list(|list| {
            for n in list.iter_mut() {
                if let Some(real) = alias_of(&self.aliases, n) {
                    *n = real;
                }
            }
        });
        unit.deps.dedup();
        // A socket's service by an alias (`syslog.socket` of Debian's rsyslog,
        // whose `syslog.service` is an alias of `rsyslog.service`) is its unit.
        let aliased = unit
            .socket
            .as_ref()
            .and_then(|s| alias_of(&self.aliases, &s.service));
        if let (Some(real), Some(sock)) = (aliased, unit.socket.as_mut()) {
            sock.service = real;
        }
        self.units.push(unit);
    }

    fn push_reference(&mut self, mut r: Reference) {
        // Only an alias is replaced: a copy of every name was one allocation
        // for each of the thousands of references a thousand units make.
        if let Some(real) = alias_of(&self.aliases, &r.name) {
            r.name = real;
        }
        if !self.is_referenced(&r.name, r.directive) {
            self.referenced[reference_kind(r.directive)].insert(r.name.clone());
            self.references.push(r);
        }
    }

    /// Whether `references` has `name` by a directive of the kind of `directive`
    /// (one that orders, one that pulls the unit in, one that needs it).
    fn is_referenced(&self, name: &str, directive: &str) -> bool {
        self.referenced[reference_kind(directive)].contains(name)
    }

    /// systemd's implicit dependencies of a service or a socket from a unit file
    /// with `DefaultDependencies=yes`: Requires= and After= on `sysinit.target`,
    /// Conflicts= and Before= on `shutdown.target`; a service also After=
    /// `basic.target`, a socket Before= `sockets.target`. (zinit YAML services get
    /// none: zinit has no such targets.)
    fn add_default_deps(&mut self, unit: &mut Unit) {
        type Pick = fn(&mut crate::model::Dependencies) -> &mut Vec<String>;
        let own: (&'static str, Pick, &str) = match unit.kind {
            UnitKind::Service => ("After", |d| &mut d.after, "basic.target"),
            UnitKind::Socket => ("Before", |d| &mut d.before, "sockets.target"),
            UnitKind::Target => return,
        };
        if unit.format != Format::UnitFile || !unit.default_dependencies {
            return;
        }
        let source = unit.source.as_deref().unwrap_or(Path::new(""));
        let mut path: Option<Arc<Path>> = None;
        let adds: [(&'static str, Pick, &str); 5] = [
            ("Requires", |d| &mut d.requires, "sysinit.target"),
            ("After", |d| &mut d.after, "sysinit.target"),
            own,
            ("Conflicts", |d| &mut d.conflicts, "shutdown.target"),
            ("Before", |d| &mut d.before, "shutdown.target"),
        ];
        // push_unit dedups the lists next: one written already stays where it was.
        for (directive, pick, target) in adds {
            pick(&mut unit.deps).push(target.to_string());
            // Checked before push_reference does, to build no name or path
            // for the thousand units after the first.
            if !self.is_referenced(target, directive) {
                let path = path.get_or_insert_with(|| Arc::from(source));
                self.push_reference(Reference {
                    name: target.to_string(),
                    directive,
                    path: Arc::clone(path),
                    line: 0,
                });
            }
        }
    }

    /// systemd's implicit dependencies of a target with `DefaultDependencies=yes`:
    /// After= every unit it Wants/Requires/Requisite/BindsTo= that has default
    /// dependencies itself (unless that unit is ordered after the target, which
    /// would make a cycle), and Conflicts= and Before= on `shutdown.target`.
    /// Runs when every unit is loaded; adding twice changes nothing.
    fn add_target_default_deps(&mut self) {
        // Worked out first with every name borrowed (a copy of each name of a
        // thousand units into the sets was a tenth of the loading), then added.
        let additions: Vec<(usize, Vec<String>)> = {
            let by_name: HashMap<&str, &Unit> =
                self.units.iter().map(|u| (u.name.as_str(), u)).collect();
            let targets = self.units.iter().enumerate();
            let targets =
                targets.filter(|(_, t)| t.kind == UnitKind::Target && t.default_dependencies);
            targets
                .map(|(at, t)| {
                    let d = &t.deps;
                    // Sets, not list scans: a target may want a thousand units.
                    let ordered: HashSet<&str> = d
                        .before
                        .iter()
                        .chain(&d.after)
                        .map(String::as_str)
                        .collect();
                    // A unit ordered after the target itself keeps its order: an
                    // edge back would make a cycle.
                    let plain = |n: &String| {
                        by_name.get(n.as_str()).is_some_and(|u| {
                            u.default_dependencies && !u.deps.after.contains(&t.name)
                        })
                    };
                    let order = d
                        .wants
                        .iter()
                        .chain(&d.requires)
                        .chain(&d.requisite)
                        .chain(&d.binds_to)
                        .filter(|n| **n != t.name && !ordered.contains(n.as_str()) && plain(n))
                        .cloned()
                        .collect();
                    (at, order)
                })
                .collect()
        };
        for (at, order) in additions {
            let Some(t) = self.units.get_mut(at) else {
                continue;
            };
            t.deps.after.extend(order);
            if t.name != "shutdown.target" {
                t.deps.conflicts.push("shutdown.target".into());
                t.deps.before.push("shutdown.target".into());
            }
            t.deps.dedup();
        }
    }

    /// The names whose `.wants/` and `.requires/` directories are the unit's,
    /// as systemd's process_deps searches them (as for drop-ins): its own,
    /// its aliases' (`default.target.wants/` of a `default.target` linked to
    /// `multi-user.target`), its template's (and the template's aliases'),
    /// and its prefixes' (`foo-.target.wants/` for `foo-bar.target`): the
    /// owners of its drop-in directories ([`dropin_owners`]).
    fn dir_dep_owners(&self, unit_name: &str) -> Vec<String> {
        let owners = dropin_owners(&self.aliases, unit_name).into_iter();
        owners.map(|(owner, ..)| owner).collect()
    }

    /// Adds the entries of the unit's `.wants/` and `.requires/` directories
    /// ([`Self::dir_dep_owners`]) to the unit.
    fn attach_dir_deps(&mut self, unit: &mut Unit) {
        let owners = self.dir_dep_owners(&unit.name);
        let entries = |dirs: &BTreeMap<String, Vec<(String, PathBuf)>>| -> Vec<(String, PathBuf)> {
            owners
                .iter()
                .filter_map(|o| dirs.get(o))
                .flatten()
                .cloned()
                .collect()
        };
        let dirs = [
            ("Wants", entries(&self.wants_dirs)),
            ("Requires", entries(&self.requires_dirs)),
        ];
        for (directive, entries) in dirs {
            for (n, path) in entries {
                let list = if directive == "Wants" {
                    &mut unit.deps.wants
                } else {
                    &mut unit.deps.requires
                };
                // push_unit drops the repeats next, in linear time: a check
                // here made a thousand entries of one directory quadratic.
                list.push(n.clone());
                self.push_reference(Reference {
                    name: n,
                    directive,
                    path: Arc::from(path),
                    line: 0,
                });
            }
        }
    }

    fn push_broken(&mut self, name: &str, path: &Path, reason: String) {
        self.broken.push(Broken {
            name: name.to_string(),
            path: path.to_path_buf(),
            reason,
        });
    }

    /// Loads a unit from a unit file (or an instance from its template file),
    /// with its drop-ins. Returns the errors when it is broken.
    fn load_unit_file(
        &mut self,
        unit_name: &str,
        path: &Path,
        ctx: &SpecifierContext,
    ) -> Vec<Diagnostic> {
        let mut read_errors = Vec::new();
        let mut files_read = Reader::default();
        let bytes = match files_read.read(path) {
            Ok(b) => b,
            Err(e) => {
                self.files_read
                    .insert(unit_name.to_string(), files_read.finish(false));
                let d = Diagnostic::error(path, 0, format!("cannot read unit file: {e}"));
                self.push_broken(unit_name, path, reason_of(&d));
                self.diagnostics.push(d.clone());
                return vec![d];
            }
        };
        // systemd.unit(5): an empty file (size 0) masks the unit, as a symlink
        // to /dev/null does. Found here, where the file is read anyway, rather
        // than with a stat of every file when the directories are scanned: the
        // first directory's file of a name already hides the later ones.
        if bytes.is_empty() {
            self.diagnostics.push(Diagnostic::warning(
                path,
                0,
                format!("unit {unit_name} {MASKED_EMPTY_NOT_LOADED}"),
            ));
            self.masked
                .insert(unit_name.to_string(), path.to_path_buf());
            return Vec::new();
        }
        let text = text_of(path, bytes, &mut read_errors);
        let dropin_paths = self.dropins_for(unit_name);
        let mut dropin_texts = Vec::new();
        for p in &dropin_paths {
            match files_read.read(p) {
                Ok(bytes) => dropin_texts.push((p, text_of(p, bytes, &mut read_errors))),
                Err(e) => {
                    read_errors.push(Diagnostic::error(p, 0, format!("cannot read drop-in: {e}")))
                }
            }
        }
        self.files_read
            .insert(unit_name.to_string(), files_read.finish(true));
        let sources: Vec<Source<'_>> = dropin_texts
            .iter()
            .map(|(p, t)| Source { path: p, text: t })
            .collect();
        let parsed = unitfile::parse(unit_name, Source { path, text: &text }, &sources, ctx);
        let mut diags = read_errors;
        diags.extend(parsed.diagnostics);
        let files: Vec<&Path> = std::iter::once(path)
            .chain(dropin_paths.iter().map(PathBuf::as_path))
            .collect();
        diag::sort_in_reading_order(&mut diags, &files);
        let errors: Vec<Diagnostic> = diags.iter().filter(|d| d.is_error()).cloned().collect();
        self.diagnostics.extend(diags);
        match parsed.unit {
            Some(mut unit) if errors.is_empty() => {
                if !dropin_texts.is_empty() {
                    unit.dropins = dropin_texts.iter().map(|(p, _)| p.to_path_buf()).collect();
                }
                self.push_unit(unit, parsed.references)
            }
            _ => {
                let reason = errors
                    .first()
                    .map(reason_of)
                    .unwrap_or_else(|| format!("{}: could not be loaded", path.display()));
                self.push_broken(unit_name, path, reason);
            }
        }
        errors
    }

    fn load_yaml(&mut self, unit_name: &str, path: &Path) {
        let mut files_read = Reader::default();
        let read = files_read.read(path);
        self.files_read
            .insert(unit_name.to_string(), files_read.finish(false));
        let text = match read {
            Ok(bytes) => String::from_utf8(bytes),
            Err(e) => {
                let d = Diagnostic::error(path, 0, format!("cannot read service file: {e}"));
                self.push_broken(unit_name, path, reason_of(&d));
                self.diagnostics.push(d);
                return;
            }
        };
        // Unlike a unit file's `Key=Value` line, a YAML line cannot be dropped
        // alone: the structure around it would change (`oneshot: true  # café`
        // gone makes a restarting daemon). zinit rejects such a file too.
        let text = match text {
            Ok(text) => text,
            Err(e) => {
                let d = not_utf8_error(path, e.as_bytes(), e.utf8_error().valid_up_to());
                self.push_broken(unit_name, path, reason_of(&d));
                self.diagnostics.push(d);
                return;
            }
        };
        let (unit, mut diags) = yaml::parse(path, unit_name, &text);
        diag::sort_in_reading_order(&mut diags, &[path]);
        let first_error = diags.iter().find(|d| d.is_error()).map(reason_of);
        self.diagnostics.extend(diags);
        match (unit, first_error) {
            (Some(mut unit), None) => {
                if unit.source.is_none() {
                    unit.source = Some(path.to_path_buf());
                }
                let refs = refs_from_deps(&unit, path);
                self.push_unit(unit, refs);
            }
            (_, reason) => {
                let reason = reason.unwrap_or_else(|| {
                    format!("{}: the YAML front end returned no unit", path.display())
                });
                self.push_broken(unit_name, path, reason);
            }
        }
    }

    /// The drop-ins of a unit, as systemd finds them: from `NAME.d/`, its
    /// template's `foo@.service.d/`, its prefix directories
    /// (`foo-bar-.service.d/`, then `foo-.service.d/`), all of these in
    /// search-path order; then the same for its aliases' names; then the
    /// type's `service.d/` in search-path order. For one file name the first
    /// found wins (a mask hides the name), so the unit's own name's beat an
    /// alias's, whatever their directories, as systemd's; the winners apply
    /// in file-name order.
    fn dropins_for(&self, unit_name: &str) -> Vec<PathBuf> {
        applicable_dropins(&self.aliases, &self.dropins, unit_name)
    }

    /// The references among `refs` whose unit is neither loaded, broken nor
    /// known to be missing: the only ones left to resolve, found with every name
    /// borrowed (a copy of each was an allocation per reference).
    fn unresolved<'a>(&self, refs: impl Iterator<Item = &'a Reference>) -> Vec<Reference> {
        let known: HashSet<&str> = self
            .units
            .iter()
            .map(|u| u.name.as_str())
            .chain(self.broken.iter().map(|b| b.name.as_str()))
            .chain(self.missing.iter().map(String::as_str))
            .collect();
        refs.filter(|r| {
            let n = resolve_alias(&self.aliases, &r.name);
            !known.contains(n.as_str())
        })
        .cloned()
        .collect()
    }

    /// Whether the unit `n` is of a file of a type not loaded yet (or an instance
    /// of such a template).
    fn is_unsupported(&self, n: &str) -> bool {
        let listed = |n: &str| self.unsupported.contains(n);
        listed(n) || name::template_of(n).is_some_and(|t| listed(&t))
    }

    /// The warning for a reference that needs a unit of a type not loaded yet.
    fn needs_unsupported(&self, r: &Reference) -> Option<Diagnostic> {
        let n = self.canonical(&r.name);
        let suffix = name::suffix_of(&n).filter(|_| self.is_unsupported(&n))?;
        Some(Diagnostic::warning(
            &*r.path,
            r.line,
            format!(
                "unit {n} referenced by {} is a {suffix} unit, not supported yet: \
                 what requires it cannot start",
                at(r)
            ),
        ))
    }

    /// Instantiates templates, adds built-in targets and reports missing units
    /// for every reference, until nothing new appears.
    fn resolve(&mut self, ctx: &SpecifierContext) {
        // The owners of `.wants/` and `.requires/` directories count as
        // referenced, but a template's or a prefix's (`foo@.target.wants/`,
        // `foo-.target.wants/`), which stand for the units they match.
        let stands_for_others =
            |owner: &str| name::is_template(owner) || name::prefix_of(owner).ends_with('-');
        let owners: Vec<Reference> = self
            .wants_dirs
            .iter()
            .chain(&self.requires_dirs)
            .filter(|(owner, _)| !stands_for_others(owner))
            .filter_map(|(owner, entries)| {
                let path = Arc::from(entries.first()?.1.parent()?);
                Some(Reference {
                    name: owner.clone(),
                    directive: "Wants",
                    path,
                    line: 0,
                })
            })
            .collect();
        let mut pending = self.unresolved(owners.iter());
        let mut checked = 0;
        loop {
            // Each reference is here once: one that needs a unit of a type not
            // loaded yet is said, also when the name is known missing already.
            let said: Vec<Diagnostic> = (self.references.get(checked..).unwrap_or_default())
                .iter()
                .filter(|r| Reference::needing(r.directive))
                .filter_map(|r| self.needs_unsupported(r))
                .collect();
            self.diagnostics.extend(said);
            let fresh = self.references.get(checked..).unwrap_or_default();
            pending.extend(self.unresolved(fresh.iter()));
            checked = self.references.len();
            if pending.is_empty() {
                break;
            }
            // Those that pull a unit in first: a name missing or masked is then
            // reported at a reference that needs it, not passed over quietly at
            // an `After=` seen earlier.
            pending.sort_by_key(|r| !r.pulls());
            let before = (self.units.len(), self.broken.len());
            for r in std::mem::take(&mut pending) {
                let n = self.canonical(&r.name);
                // A file of a type not loaded yet had its own warning: a unit that
                // wants it is quiet about it (one that needs it was told above).
                let unsupported = self.is_unsupported(&n);
                // Loaded or found missing meanwhile, by an earlier reference of
                // this round (under another name: an alias).
                let loaded = self.units.get(before.0..).unwrap_or_default();
                let broken = self.broken.get(before.1..).unwrap_or_default();
                if loaded.iter().any(|u| u.name == n)
                    || broken.iter().any(|b| b.name == n)
                    || self.missing.contains(&n)
                {
                    continue;
                }
                if let Some(link) = self.mask_of_name(&n).cloned() {
                    if r.pulls() {
                        self.diagnostics.push(Diagnostic::warning(
                            &*r.path,
                            r.line,
                            format!(
                                "unit {n} referenced by {} is masked ({})",
                                at(&r),
                                mask_of(&link)
                            ),
                        ));
                    }
                    self.missing.insert(n);
                    continue;
                }
                if let Some(path) =
                    name::template_of(&n).and_then(|t| self.templates.get(&t).cloned())
                {
                    self.load_unit_file(&n, &path, ctx);
                    continue;
                }
                if BUILTIN_TARGETS.contains(&n.as_str()) {
                    let mut unit = Unit::new(n.clone(), UnitKind::Target, Format::Builtin);
                    unit.description = format!("{n} (built in)");
                    // As systemd ships it: `vigil isolate multi-user.target`.
                    unit.allow_isolate = ISOLATABLE_TARGETS.contains(&n.as_str());
                    self.push_unit(unit, Vec::new());
                    continue;
                }
                if let Some(unit) = device_unit(&n) {
                    self.push_unit(unit, Vec::new());
                    continue;
                }
                if r.pulls() && !unsupported {
                    self.diagnostics.push(Diagnostic::warning(
                        &*r.path,
                        r.line,
                        format!("unit {n} referenced by {} not found", at(&r)),
                    ));
                }
                self.missing.insert(n);
            }
        }
        self.add_target_default_deps();
    }
}

/// The owners of the drop-in directories of `unit_name` but the type's
/// (`service.d/`), each with its specificity and whether it is an alias's:
/// its own name, its aliases', its template's aliases' and its template's,
/// its prefixes' (see [`LoadedSet::dropins_for`]).
fn dropin_owners(
    aliases: &BTreeMap<String, String>,
    unit_name: &str,
) -> Vec<(String, usize, bool)> {
    let mut keys: Vec<(String, usize, bool)> = vec![(unit_name.to_string(), 0, false)];
    // Drop-ins written for an alias apply to the unit it names, as in systemd.
    keys.extend(
        aliases
            .iter()
            .filter(|(_, real)| real.as_str() == unit_name)
            .map(|(alias, _)| (alias.clone(), 0, true)),
    );
    if let Some(t) = name::template_of(unit_name) {
        // A template alias's drop-ins (`alias@.service.d/`) too.
        keys.extend(
            aliases
                .iter()
                .filter(|(_, real)| **real == t)
                .map(|(alias, _)| (alias.clone(), 1, true)),
        );
        keys.push((t, 1, false));
    }
    keys.extend(
        prefix_dropin_owners(unit_name)
            .into_iter()
            .enumerate()
            .map(|(i, k)| (k, 2 + i, false)),
    );
    keys
}

/// The type-wide drop-in directory's owner of `unit_name` (`service` for
/// `service.d/`), when its type has one.
fn type_dropin_owner(unit_name: &str) -> Option<&'static str> {
    let suffix = name::suffix_of(unit_name)?.trim_start_matches('.');
    TYPE_DROPIN_OWNERS.iter().copied().find(|t| *t == suffix)
}

/// [`LoadedSet::dropins_for`] over `dropins` (drop-in directory owner ->
/// its drop-ins) and `aliases`.
fn applicable_dropins(
    aliases: &BTreeMap<String, String>,
    dropins: &BTreeMap<String, Vec<DropIn>>,
    unit_name: &str,
) -> Vec<PathBuf> {
    let keys = dropin_owners(aliases, unit_name);
    // File name -> (rank, drop-in); rank (type-wide, an alias's,
    // directory, specificity): lower wins.
    type Rank = (bool, bool, usize, usize);
    let mut by_name: BTreeMap<std::ffi::OsString, (Rank, &DropIn)> = BTreeMap::new();
    let all = keys
        .iter()
        .map(|(k, spec, alias)| (k.as_str(), false, *alias, *spec))
        .chain(type_dropin_owner(unit_name).map(|k| (k, true, false, 0)));
    for (key, type_wide, alias, spec) in all {
        for d in dropins.get(key).into_iter().flatten() {
            let Some(f) = d.path.file_name() else {
                continue;
            };
            let rank = (type_wide, alias, d.origin, spec);
            match by_name.get(f) {
                Some((r, _)) if *r <= rank => {}
                _ => {
                    by_name.insert(f.to_os_string(), (rank, d));
                }
            }
        }
    }
    by_name
        .into_values()
        .filter(|(_, d)| !d.masked)
        .map(|(_, d)| d.path.clone())
        .collect()
}

/// The drop-ins that apply to `unit_name` in `dirs` now, in the order they
/// apply, as [`load_dirs`] would find them with `aliases`: only the unit's
/// own drop-in directories are read (`NAME.d/`, its aliases', template's,
/// prefixes' and type's in each directory), not the whole of `dirs`. What
/// the manager compares with the drop-ins a unit was read with, to tell it
/// needs a reload (systemd's NeedDaemonReload=).
pub fn dropins_now(
    dirs: &[PathBuf],
    aliases: &BTreeMap<String, String>,
    unit_name: &str,
) -> Vec<PathBuf> {
    let owners: Vec<String> = (dropin_owners(aliases, unit_name).into_iter())
        .map(|(owner, _, _)| owner)
        .chain(type_dropin_owner(unit_name).map(String::from))
        .collect();
    let mut scan = Scan::default();
    for (origin, dir) in dirs.iter().enumerate() {
        for owner in &owners {
            scan.scan_dropin_dir(owner, &dir.join(format!("{owner}.d")), origin);
        }
    }
    let dropins = scan.into_dropins();
    applicable_dropins(aliases, &dropins, unit_name)
}

/// Where a template is defined, as `vigil cat foo@.service` prints it: a
/// template is no unit (the loader reads its file only for its instances),
/// so this is found from the directories, as systemctl cat finds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateFiles {
    /// `name` (an alias's template resolved) is read from `file`, with
    /// `dropins` in the order they apply: its own `foo@.service.d/`, its
    /// aliases', its prefixes', the type's.
    Found {
        name: String,
        file: PathBuf,
        dropins: Vec<PathBuf>,
    },
    /// A link to /dev/null or an empty file: `link`.
    Masked {
        name: String,
        link: PathBuf,
    },
    NotFound {
        name: String,
    },
}

/// The file and drop-ins of the template `template` (`foo@.service`, or
/// an alias of one) in `dirs`, the first directory first, as [`load_dirs`]
/// would read them; only the directories are listed, no unit file is read.
pub fn template_files(dirs: &[PathBuf], template: &str) -> TemplateFiles {
    let mut scan = scan_dirs(dirs);
    scan.finish_aliases();
    let name = resolve_alias(&scan.aliases, template);
    let empty = |p: &Path| fs::metadata(p).is_ok_and(|m| m.len() == 0);
    let link = scan.masked.get(&name).cloned().or_else(|| {
        (scan.files.get(&name))
            .filter(|e| e.format == FileFormat::UnitFile && empty(&e.path))
            .map(|e| e.path.clone())
    });
    if let Some(link) = link {
        return TemplateFiles::Masked { name, link };
    }
    let Some(file) = scan.files.get(&name).map(|e| e.path.clone()) else {
        return TemplateFiles::NotFound { name };
    };
    let aliases = std::mem::take(&mut scan.aliases);
    let dropins = applicable_dropins(&aliases, &scan.into_dropins(), &name);
    TemplateFiles::Found {
        name,
        file,
        dropins,
    }
}

/// 0 for a directive that only orders or conflicts, 1 for one that pulls the unit
/// in, 2 for one that needs it: the first reference of each kind to a name is kept
/// (a `Requires=` on a unit not loaded yet is said even after a `Wants=` of it).
fn reference_kind(directive: &str) -> usize {
    match (Reference::needing(directive), Reference::pulling(directive)) {
        (true, _) => 2,
        (false, true) => 1,
        (false, false) => 0,
    }
}

/// vigil has no udev to announce devices: a `.device` unit referred to
/// (`BindsTo=dev-ttyS0.device` of Debian's serial-getty@.service) is built in
/// as a target that is there when its node is (`AssertPathExists=`): it starts
/// at once when the path exists, and fails (and with it what requires it)
/// when it does not. The path is the unescaped name (`dev-ttyS0` is
/// `/dev/ttyS0`), or for a network interface the one udev's alias
/// `sys-subsystem-net-devices-NAME` stands for, `/sys/class/net/NAME`.
fn device_unit(n: &str) -> Option<Unit> {
    let stem = n.strip_suffix(".device")?;
    let path = match stem.strip_prefix("sys-subsystem-net-devices-") {
        Some(interface) => format!("/sys/class/net/{}", name::unescape(interface)),
        None => format!("/{}", name::unescape(stem)),
    };
    let mut unit = Unit::new(n.to_string(), UnitKind::Target, Format::Builtin);
    unit.description = format!("{path} (built in: a device, there when its path is)");
    unit.asserts = Sparse::from(vec![Condition {
        kind: ConditionKind::PathExists,
        trigger: false,
        negate: false,
        arg: path,
        line: 0,
    }]);
    Some(unit)
}

/// The text of a unit file or drop-in `path` read as `bytes`. A line that
/// is not UTF-8 is read as an empty line: silently for a comment, with a
/// warning naming it otherwise (systemd skips comments unread and ignores an
/// assignment that is not UTF-8 clean; one Latin-1 byte in a comment used to
/// fail the whole unit).
fn text_of(path: &Path, bytes: Vec<u8>, warnings: &mut Vec<Diagnostic>) -> String {
    let bytes = match String::from_utf8(bytes) {
        Ok(text) => return text,
        Err(e) => e.into_bytes(),
    };
    let mut text = String::with_capacity(bytes.len());
    for (n, line) in (1..).zip(bytes.split_inclusive(|&b| b == b'\n')) {
        if let Ok(line) = std::str::from_utf8(line) {
            text.push_str(line);
            continue;
        }
        let first = line.iter().find(|b| !b.is_ascii_whitespace());
        if !matches!(first, Some(b'#' | b';')) {
            let why = "not valid UTF-8: the line is ignored";
            warnings.push(Diagnostic::warning(path, n, why));
        }
        if line.ends_with(b"\n") {
            text.push('\n');
        }
    }
    text
}

/// The most a unit file, drop-in or YAML file may hold: far more than any
/// real one (Debian's longest is a few KiB), far less than would hurt.
pub const FILE_MAX: u64 = 4 << 20;

/// The error for a YAML file whose first byte that is not UTF-8 is at `bad`:
/// its line, and its column counted in characters as YAML positions are.
fn not_utf8_error(path: &Path, bytes: &[u8], bad: usize) -> Diagnostic {
    let before = bytes.get(..bad).unwrap_or(bytes);
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = before
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        .saturating_add(1);
    // Everything before `bad` is valid UTF-8.
    let column = std::str::from_utf8(before.get(line_start..).unwrap_or_default())
        .map_or(0, |s| s.chars().count())
        .saturating_add(1);
    let byte = bytes.get(bad).copied().unwrap_or_default();
    Diagnostic::error(
        path,
        u32::try_from(line).unwrap_or(u32::MAX),
        format!("not valid UTF-8 (byte 0x{byte:02x}); a YAML service file must be UTF-8"),
    )
    .with_column(u32::try_from(column).unwrap_or(u32::MAX))
}

/// What masks a unit: `PATH is a symlink to /dev/null`, or `PATH is empty`.
fn mask_of(path: &Path) -> String {
    let link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let what = if link {
        "a symlink to /dev/null"
    } else {
        "empty"
    };
    format!("{} is {what}", path.display())
}

/// `a.service:3`, or for an entry of a `.wants/` or `.requires/` directory
/// `a.service.requires/b.service`, which names the unit it belongs to.
fn at(r: &Reference) -> String {
    let name = |p: &Path| p.file_name().map(|f| f.to_string_lossy().into_owned());
    let file = name(&r.path).unwrap_or_else(|| r.path.display().to_string());
    let dir = r.path.parent().and_then(name);
    match dir {
        _ if r.line > 0 => format!("{file}:{}", r.line),
        Some(dir) if dir.ends_with(".wants") || dir.ends_with(".requires") => {
            format!("{dir}/{file}")
        }
        _ => file,
    }
}

/// `file:line: message`, the form [`Broken::reason`] uses.
fn reason_of(d: &Diagnostic) -> String {
    if d.line > 0 {
        format!("{}:{}: {}", d.path.display(), d.line, d.message)
    } else {
        format!("{}: {}", d.path.display(), d.message)
    }
}

/// References of a unit from a front end that does not track lines (YAML).
fn refs_from_deps(unit: &Unit, path: &Path) -> Vec<Reference> {
    let path: Arc<Path> = Arc::from(path);
    let d = &unit.deps;
    let lists: [(&'static str, &Vec<String>); 12] = [
        ("Requires", &d.requires),
        ("Wants", &d.wants),
        ("BindsTo", &d.binds_to),
        ("PartOf", &d.part_of),
        ("Requisite", &d.requisite),
        ("Conflicts", &d.conflicts),
        ("After", &d.after),
        ("Before", &d.before),
        ("OnFailure", &d.on_failure),
        ("OnSuccess", &d.on_success),
        ("PropagatesReloadTo", &d.propagates_reload_to),
        ("ReloadPropagatedFrom", &d.reload_propagated_from),
    ];
    lists
        .iter()
        .flat_map(|(directive, names)| {
            let path = Arc::clone(&path);
            names.iter().map(move |n| Reference {
                name: n.clone(),
                directive,
                path: Arc::clone(&path),
                line: 0,
            })
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileFormat {
    UnitFile,
    Yaml,
}

#[derive(Debug, Clone)]
struct FileEntry {
    /// The file to read (a symlink's target for aliases and linked instances).
    path: PathBuf,
    format: FileFormat,
    /// Which source (directory or explicit file) it came from.
    origin: usize,
}

/// What scanning the directories found, before anything is parsed.
#[derive(Debug, Default)]
struct Scan {
    files: BTreeMap<String, FileEntry>,
    /// owner -> (drop-in file name -> drop-in); the first directory wins per file name.
    dropins: BTreeMap<String, BTreeMap<std::ffi::OsString, DropIn>>,
    wants: BTreeMap<String, Vec<(String, PathBuf)>>,
    requires: BTreeMap<String, Vec<(String, PathBuf)>>,
    masked: BTreeMap<String, PathBuf>,
    unsupported: BTreeSet<String>,
    aliases: BTreeMap<String, String>,
    /// Alias targets to define from the symlink's target if no directory
    /// does: (target's name, target, origin, the link's name, the link).
    alias_targets: Vec<(String, PathBuf, usize, String, PathBuf)>,
    diags: Vec<Diagnostic>,
}

/// What a directory entry that names a unit is.
enum Kind {
    File,
    Masked,
    /// A symlink to another file: its resolved path and the file name it points to.
    Link(PathBuf, String),
}

/// `known`: the entry's type as the directory listing gave it (no system call);
/// only when it is missing does this stat the entry.
///
/// A link to a file of its own name elsewhere (`/etc/vigil/default.target` ->
/// `/lib/vigil/default.target`) that is itself a link is followed, as
/// systemd follows the chain, to the first link that names another unit
/// (`-> multi-user.target`: an alias) or to /dev/null (masked); a loop is
/// left for the read to fail on.
fn classify(path: &Path, known: Option<fs::FileType>) -> std::io::Result<Kind> {
    const HOPS: usize = 8;
    let Some(mut target) = link_target(path, known)? else {
        return Ok(Kind::File);
    };
    let own = path.file_name();
    let mut at = path.to_path_buf();
    let mut hops = 0;
    loop {
        if names_dev_null(&at, &target) {
            return Ok(Kind::Masked);
        }
        let resolved = match at.parent() {
            Some(dir) if target.is_relative() => dir.join(&target),
            _ => target,
        };
        hops += 1;
        let same_name = resolved.file_name() == own;
        if same_name
            && hops < HOPS
            && let Ok(Some(next)) = link_target(&resolved, None)
        {
            (at, target) = (resolved, next);
            continue;
        }
        let base = resolved
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(Kind::Link(resolved, base));
    }
}

/// What the entry at `path` links to as written, or None when it is no symlink.
fn link_target(path: &Path, known: Option<fs::FileType>) -> std::io::Result<Option<PathBuf>> {
    let file_type = match known {
        Some(t) => t,
        None => fs::symlink_metadata(path)?.file_type(),
    };
    file_type
        .is_symlink()
        .then(|| fs::read_link(path))
        .transpose()
}

/// The warning for a directory entry that cannot be followed: a symlink
/// loop (ELOOP) or a link to nothing (ENOENT), with its target.
fn unfollowable_link(path: &Path, e: &std::io::Error) -> Diagnostic {
    let to = fs::read_link(path).map_or_else(|_| String::new(), |t| format!(" to {}", t.display()));
    let what = match e.raw_os_error() {
        Some(libc::ELOOP) => "a loop of symlinks",
        Some(libc::ENOENT) => "a dangling symlink",
        _ => "a symlink that cannot be followed",
    };
    Diagnostic::warning(path, 0, format!("ignored: {what}{to} ({e})"))
}

/// Whether the symlink at `path` with `target` points to /dev/null. A relative
/// target is joined to the link's directory only when it could name it.
fn names_dev_null(path: &Path, target: &Path) -> bool {
    if target.is_absolute() || !target.ends_with("dev/null") {
        return target == Path::new("/dev/null");
    }
    path.parent()
        .is_some_and(|dir| dir.join(target) == Path::new("/dev/null"))
}

/// Whether the entry is a symlink to /dev/null (a masked unit or drop-in): all
/// that is asked of the entries of `.wants/` and `.d/` directories, without the
/// name [`classify`] builds.
pub(crate) fn is_masked(path: &Path, known: Option<fs::FileType>) -> bool {
    link_target(path, known).is_ok_and(|t| t.is_some_and(|t| names_dev_null(path, &t)))
}

/// A directory's entries by name, each with its type when the listing says it
/// (d_type): loading a thousand units then costs no stat per plain file.
/// Hidden files, backups and package leftovers are not listed, as systemd
/// passes them over: an editor's `.#web.yaml` is no unit, nor `web.yaml~`
/// or `web.service.d/x.conf.dpkg-old` a second copy.
fn sorted_entries(
    dir: &Path,
    diags: &mut Vec<Diagnostic>,
) -> Vec<(String, PathBuf, Option<fs::FileType>)> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            diags.push(Diagnostic::error(
                dir,
                0,
                format!("cannot read directory: {e}"),
            ));
            return Vec::new();
        }
    };
    let mut v: Vec<(String, PathBuf, Option<fs::FileType>)> = rd
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            (!hidden_or_backup(&name)).then(|| (name, e.path(), e.file_type().ok()))
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

impl Scan {
    fn scan_dir(&mut self, dir: &Path, origin: usize) {
        for (fname, path, known) in sorted_entries(dir, &mut self.diags) {
            // A symlink may point at a directory: only it needs a stat.
            let is_dir = match known {
                Some(t) if t.is_dir() => true,
                Some(t) if t.is_file() => false,
                _ => match fs::metadata(&path) {
                    Ok(m) => m.is_dir(),
                    // A unit's name goes on: its own link fails its load, an
                    // alias says so when aliases are resolved. Anything else
                    // (`x.service.d`, `y.wants`) would be passed over unsaid.
                    Err(e) => {
                        let unit_name = fname.ends_with(".yaml") || name::kind_of(&fname).is_some();
                        if !unit_name {
                            self.diags.push(unfollowable_link(&path, &e));
                            continue;
                        }
                        false
                    }
                },
            };
            if is_dir {
                if let Some(owner) = fname.strip_suffix(".d") {
                    // `service.d/` and `target.d/` apply to every unit of the type.
                    if name::kind_of(owner).is_some() || TYPE_DROPIN_OWNERS.contains(&owner) {
                        self.scan_dropin_dir(owner, &path, origin);
                    }
                } else if let Some(owner) = fname.strip_suffix(".wants") {
                    self.scan_dep_dir(owner, &path, true);
                } else if let Some(owner) = fname.strip_suffix(".requires") {
                    self.scan_dep_dir(owner, &path, false);
                }
                continue;
            }
            self.add_file(&fname, &path, origin, known);
        }
    }

    fn add_file(&mut self, fname: &str, path: &Path, origin: usize, known: Option<fs::FileType>) {
        let (unit_name, format) = if let Some(stem) = fname.strip_suffix(".yaml") {
            (format!("{stem}.service"), FileFormat::Yaml)
        } else if name::kind_of(fname).is_some() {
            (fname.to_string(), FileFormat::UnitFile)
        } else {
            if let Some(suffix) = name::suffix_of(fname) {
                self.unsupported.insert(fname.to_string());
                self.diags.push(Diagnostic::warning(
                    path,
                    0,
                    format!("{suffix} {TYPE_NOT_SUPPORTED} {fname}"),
                ));
            }
            return;
        };
        if let Err(e) = name::validate(&unit_name) {
            self.diags.push(Diagnostic::error(
                path,
                0,
                format!("not a valid unit file name: {e}"),
            ));
            return;
        }
        if format == FileFormat::Yaml && name::is_template(&unit_name) {
            // Instances are made from unit files only; a template in YAML would
            // otherwise be read as one.
            self.diags.push(Diagnostic::error(
                path,
                0,
                format!("YAML templates are not supported; write {unit_name} as a unit file"),
            ));
            return;
        }
        if let Some(existing) = self.files.get(&unit_name) {
            // Same name in a later directory: shadowed, as in systemd. Two
            // formats for one name in the same place: an error on the second.
            if existing.origin == origin && existing.format != format {
                self.diags.push(Diagnostic::error(
                    path,
                    0,
                    format!(
                        "{unit_name} is already defined by {}; ignoring this file",
                        existing.path.display()
                    ),
                ));
            }
            return;
        }
        if self.masked.contains_key(&unit_name) || self.aliases.contains_key(&unit_name) {
            return;
        }
        let kind = match classify(path, known) {
            Ok(k) => k,
            Err(e) => {
                self.diags
                    .push(Diagnostic::error(path, 0, format!("cannot read: {e}")));
                return;
            }
        };
        match kind {
            Kind::File => {}
            Kind::Masked => {
                self.diags.push(Diagnostic::warning(
                    path,
                    0,
                    format!("unit {unit_name} {MASKED_NOT_LOADED}"),
                ));
                self.masked.insert(unit_name, path.to_path_buf());
                return;
            }
            // A YAML unit's link must lead to YAML, and its problems are
            // said at the link: read through it, the target's path named a
            // file the admin did not write there (`/nonexistent: cannot
            // read`), and a link to a unit file read that file as YAML.
            Kind::Link(target, base) if format == FileFormat::Yaml => {
                let problem = match fs::metadata(path) {
                    Err(e) => format!("which cannot be read: {e}"),
                    _ if !base.ends_with(".yaml") => "which is not a YAML unit file".to_string(),
                    Ok(m) if m.is_dir() => "which is a directory".to_string(),
                    Ok(_) => String::new(),
                };
                if !problem.is_empty() {
                    self.diags.push(Diagnostic::error(
                        path,
                        0,
                        format!("symlink {fname} points to {}, {problem}", target.display()),
                    ));
                    return;
                }
            }
            Kind::Link(target, base) => {
                let links_to_own_template =
                    name::template_of(&unit_name).as_deref() == Some(base.as_str());
                if base != fname && format == FileFormat::UnitFile && !links_to_own_template {
                    if name::validate(&base).is_err()
                        || name::suffix_of(&base) != name::suffix_of(&unit_name)
                    {
                        self.diags.push(Diagnostic::error(
                            path,
                            0,
                            format!("symlink {unit_name} points to {}, which is not a unit of the same type", target.display()),
                        ));
                        return;
                    }
                    // `alias@x.service` -> `foo@.service` names the instance `foo@x.service`.
                    let real = match name::split_instance(&unit_name) {
                        Some(p) if !p.instance.is_empty() && name::is_template(&base) => {
                            name::instance_name(&base, p.instance).unwrap_or_else(|| base.clone())
                        }
                        _ => base.clone(),
                    };
                    self.aliases.insert(unit_name.clone(), real);
                    self.alias_targets
                        .push((base, target, origin, unit_name, path.to_path_buf()));
                    return;
                }
                self.files.insert(
                    unit_name,
                    FileEntry {
                        path: target,
                        format,
                        origin,
                    },
                );
                return;
            }
        }
        self.files.insert(
            unit_name,
            FileEntry {
                path: path.to_path_buf(),
                format,
                origin,
            },
        );
    }

    fn scan_dropin_dir(&mut self, owner: &str, dir: &Path, origin: usize) {
        for (fname, path, known) in sorted_entries(dir, &mut self.diags) {
            // A hidden `.x.conf` is not listed (a common way to switch a
            // drop-in off).
            if !fname.ends_with(".conf") {
                continue;
            }
            // A drop-in linked to /dev/null hides the same name in later directories.
            let masked = is_masked(&path, known);
            // A directory named `x.conf` and a dangling link are passed over
            // (the same name lower down is read instead), as systemd and
            // vigil-boot's configuration directories do. Anything else is a
            // drop-in: a FIFO, a device or a socket too, whose read then fails
            // the unit naming it (review finding: such a drop-in was passed
            // over in silence). A stat only for what the listing did not say.
            let regular = match known {
                Some(t) if t.is_dir() => false,
                Some(t) if !t.is_symlink() => true,
                _ if masked => false,
                _ => match fs::metadata(&path) {
                    Ok(m) => !m.is_dir(),
                    // Passed over, but not in silence: a drop-in that is
                    // meant to apply does not.
                    Err(e) => {
                        self.diags.push(unfollowable_link(&path, &e));
                        false
                    }
                },
            };
            if !masked && !regular {
                continue;
            }
            self.dropins
                .entry(owner.to_string())
                .or_default()
                .entry(fname.into())
                .or_insert(DropIn {
                    path,
                    origin,
                    masked,
                });
        }
    }

    fn scan_dep_dir(&mut self, owner: &str, dir: &Path, wants: bool) {
        if name::validate(owner).is_err() {
            return;
        }
        let mut accepted = Vec::new();
        for (fname, path, known) in sorted_entries(dir, &mut self.diags) {
            if let Err(e) = name::validate(&fname) {
                self.diags.push(Diagnostic::warning(
                    &path,
                    0,
                    format!("ignoring entry: {e}"),
                ));
                continue;
            }
            if name::is_template(&fname) {
                self.diags.push(Diagnostic::warning(
                    &path,
                    0,
                    format!(
                        "{fname} is a template; name an instance (foo@x.service) instead, ignoring"
                    ),
                ));
                continue;
            }
            if is_masked(&path, known) {
                continue;
            }
            accepted.push((fname, path));
        }
        let map = if wants {
            &mut self.wants
        } else {
            &mut self.requires
        };
        let list = map.entry(owner.to_string()).or_default();
        // An entry of an earlier directory wins: looked up in a set, not in
        // the list, which a thousand entries made quadratic.
        let mut seen: HashSet<&str> = list.iter().map(|(n, _)| n.as_str()).collect();
        let keep: Vec<bool> = accepted.iter().map(|(n, _)| seen.insert(n)).collect();
        drop(seen);
        let kept = accepted.into_iter().zip(keep).filter(|(_, k)| *k);
        list.extend(kept.map(|(entry, _)| entry));
    }

    /// Defines alias targets that no directory defines, from the symlink's target.
    /// An alias of an alias (`alias2 -> alias -> real`) names the end of the
    /// chain, as systemd follows it; a loop, or a chain longer than systemd
    /// follows, names nothing.
    fn finish_aliases(&mut self) {
        const HOPS: usize = 8;
        let ends: Vec<(String, Option<String>)> = (self.aliases.iter())
            .map(|(name, first)| {
                let mut at = first;
                for _ in 0..HOPS {
                    match self.aliases.get(at) {
                        Some(next) => at = next,
                        None => return (name.clone(), Some(at.clone())),
                    }
                }
                (name.clone(), None)
            })
            .collect();
        for (name, end) in ends {
            match end {
                Some(end) => {
                    self.aliases.insert(name, end);
                }
                None => {
                    self.aliases.remove(&name);
                    self.diags.push(Diagnostic::error(
                        Path::new(&name),
                        0,
                        format!("alias {name} is a loop of symlinks (or more than {HOPS} deep)"),
                    ));
                }
            }
        }
        for (base, target, origin, alias, link) in std::mem::take(&mut self.alias_targets) {
            // A link to an alias: the chain names the unit (above).
            if self.files.contains_key(&base)
                || self.masked.contains_key(&base)
                || self.aliases.contains_key(&base)
            {
                continue;
            }
            match fs::metadata(&target) {
                Ok(_) => {
                    self.files.insert(
                        base,
                        FileEntry {
                            path: target,
                            format: FileFormat::UnitFile,
                            origin,
                        },
                    );
                }
                // A loop of aliases was said above; a dangling link (or one
                // into a loop outside the unit names) defines nothing, and
                // must say so: the unit is not found, and why is here.
                Err(e) if self.aliases.contains_key(&alias) => {
                    self.diags.push(unfollowable_link(&link, &e));
                }
                Err(_) => {}
            }
        }
    }

    /// The drop-ins found, by owner, as [`LoadedSet::dropins`] has them.
    fn into_dropins(self) -> BTreeMap<String, Vec<DropIn>> {
        (self.dropins.into_iter())
            .map(|(k, v)| (k, v.into_values().collect()))
            .collect()
    }

    fn into_set(mut self, ctx: &SpecifierContext) -> LoadedSet {
        self.finish_aliases();
        let mut set = LoadedSet {
            diagnostics: std::mem::take(&mut self.diags),
            aliases: self.aliases,
            masked: self.masked,
            unsupported: self.unsupported,
            wants_dirs: self.wants,
            requires_dirs: self.requires,
            dropins: std::mem::take(&mut self.dropins)
                .into_iter()
                .map(|(k, v)| (k, v.into_values().collect()))
                .collect(),
            ..LoadedSet::default()
        };
        for (n, entry) in &self.files {
            if name::is_template(n) {
                set.templates.insert(n.clone(), entry.path.clone());
            }
        }
        for (n, entry) in self.files {
            if name::is_template(&n) {
                continue;
            }
            match entry.format {
                FileFormat::UnitFile => {
                    set.load_unit_file(&n, &entry.path, ctx);
                }
                FileFormat::Yaml => set.load_yaml(&n, &entry.path),
            }
        }
        set.resolve(ctx);
        set
    }
}

/// Loads every unit in the configuration directories. For a name defined in
/// several directories, the first directory wins; drop-ins from all of them apply.
/// A directory given twice, or under two names (`/lib` is a symlink to
/// `/usr/lib` on a merged-/usr system), is read once, at its first place.
pub fn load_dirs(dirs: &[PathBuf], ctx: &SpecifierContext) -> LoadedSet {
    scan_dirs(dirs).into_set(ctx)
}

/// Lists the directories as [`load_dirs`] does, each once.
fn scan_dirs(dirs: &[PathBuf]) -> Scan {
    let mut scan = Scan::default();
    let mut seen: BTreeSet<PathBuf> = BTreeSet::new();
    for (i, d) in dirs.iter().enumerate() {
        let real = fs::canonicalize(d).unwrap_or_else(|_| d.clone());
        if !seen.insert(real) {
            continue;
        }
        scan.scan_dir(d, i);
    }
    scan
}

/// Loads the given files and directories (for `vigil verify`): directories as
/// by [`load_dirs`], files by their own name with the drop-ins beside them.
/// Templates that nothing instantiates are checked with a placeholder instance.
pub fn load_paths(paths: &[PathBuf], ctx: &SpecifierContext) -> LoadedSet {
    let mut scan = Scan::default();
    for (i, p) in paths.iter().enumerate() {
        if fs::metadata(p).is_ok_and(|m| m.is_dir()) {
            scan.scan_dir(p, i);
            continue;
        }
        let Some(fname) = p.file_name().and_then(|f| f.to_str()).map(str::to_string) else {
            scan.diags
                .push(Diagnostic::error(p, 0, "not a unit file name"));
            continue;
        };
        if fs::symlink_metadata(p).is_err() {
            scan.diags
                .push(Diagnostic::error(p, 0, "no such file or directory"));
            continue;
        }
        // A unit type vigil does not load yet (`.timer`) is a warning, as in
        // a directory; a name of no unit type is an error.
        let known = fname.ends_with(".yaml") || name::suffix_of(&fname).is_some();
        if !known {
            scan.diags.push(Diagnostic::error(
                p,
                0,
                "not a unit file (expected .service, .socket, .target or .yaml)",
            ));
            continue;
        }
        scan.add_file(&fname, p, i, None);
        if let Some(dir) = p.parent() {
            let owner = fname
                .strip_suffix(".yaml")
                .map_or(fname.clone(), |s| format!("{s}.service"));
            scan.scan_dropin_dir(&owner, &dir.join(format!("{fname}.d")), i);
        }
    }
    let mut set = scan.into_set(ctx);
    let unchecked: Vec<(String, PathBuf)> = set
        .templates
        .iter()
        .filter(|(t, _)| {
            !set.units
                .iter()
                .any(|u| name::template_of(&u.name).as_ref() == Some(*t))
                && !set
                    .broken
                    .iter()
                    .any(|b| name::template_of(&b.name).as_ref() == Some(*t))
        })
        .map(|(t, p)| (t.clone(), p.clone()))
        .collect();
    for (template, path) in unchecked {
        let Some(probe) = name::instance_name(&template, "instance") else {
            continue;
        };
        let mut scratch = LoadedSet {
            dropins: set.dropins.clone(),
            ..LoadedSet::default()
        };
        let errors = scratch.load_unit_file(&probe, &path, ctx);
        set.diagnostics.extend(scratch.diagnostics);
        if let Some(first) = errors.first() {
            set.broken.push(Broken {
                name: template,
                path,
                reason: reason_of(first),
            });
        }
    }
    set
}

#[cfg(test)]
mod tests;
