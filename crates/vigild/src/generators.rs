//! systemd generators: the small programs packages ship to turn configuration
//! vigil does not read (postgresql's clusters, openvpn's configurations,
//! postfix's instances) into unit files, drop-ins and `.wants/` links, run
//! before each read of the unit directories — at start, at `vigil sync` and at
//! SIGHUP — as systemd runs them at boot, daemon-reload and daemon-reexec
//! (systemd.generator(7); docs/UNITS.md, "Generators").
//!
//! This module decides whether they run, finds them, empties their three
//! output directories, runs them all at once and waits for them, and says
//! where the outputs join the unit search path. It reports what happened; the
//! daemon says it. It never follows a symbolic link out of an output
//! directory while emptying it, never waits past its bound, and a generator
//! that fails, hangs or cannot run costs its own output only: the others',
//! and the manager, go on.

use std::collections::{BTreeMap, HashSet};
use std::ffi::{CString, OsStr, OsString};
use std::fs;
use std::io;
use std::os::fd::{AsFd as _, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vigil_engine::Level;
use vigil_platform::{ChildFd, ExecStatus, ExitStatus, PreparedCommand};

/// Where systemd looks for system generators, first place first. `/run`
/// comes before `/etc` here, unlike in the unit path, as in systemd. A name
/// found in an earlier directory hides it in the later ones (on a merged-/usr
/// system `/lib` is `/usr/lib`: its generators are the same files).
pub const SYSTEM_GENERATOR_DIRS: &[&str] = &[
    "/run/systemd/system-generators",
    "/etc/systemd/system-generators",
    "/usr/local/lib/systemd/system-generators",
    "/usr/lib/systemd/system-generators",
    "/lib/systemd/system-generators",
];

/// What the generators of one run get together, systemd's
/// (DEFAULT_TIMEOUT_USEC): those still running then are killed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);

/// The output directories, beside the control socket, in the order the
/// generators get them as arguments: normal, early, late.
const OUTPUT_NAMES: [&str; 3] = ["generator", "generator.early", "generator.late"];

/// How much of a generator's stdout and of its stderr is kept; its writes
/// past it fail (a generator that writes without end cannot grow the manager).
const OUTPUT_MAX: u64 = 64 * 1024;

/// How many lines of each stream of each generator are said: a generator
/// that chatters must not push everything else out of the console.
const LINES_SAID: usize = 20;

/// How long a generator killed at the bound gets to be reaped: one the kernel
/// holds in an uninterruptible sleep is left to the loop's reaping rather
/// than waited for.
const KILL_GRACE: Duration = Duration::from_secs(1);

/// Why an output directory could not be made ready: then no generator runs,
/// and none of the directories is read (they may hold an earlier run's files).
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot open {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot empty {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },
    #[error("cannot create {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    /// Something else made it between its removal and its creation.
    #[error("{path} was made again by someone else while it was being replaced")]
    Raced { path: PathBuf },
}

/// The three output directories, under one directory (vigild's runtime
/// directory: for root `/run/vigil`).
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs {
    under: PathBuf,
}

impl Outputs {
    pub fn under(dir: &Path) -> Outputs {
        Outputs {
            under: dir.to_path_buf(),
        }
    }

    /// Normal, early, late: the generators' arguments.
    pub fn paths(&self) -> [PathBuf; 3] {
        OUTPUT_NAMES.map(|name| self.under.join(name))
    }

    /// Removes the three directories with everything in them and makes them
    /// again, empty, 0755. A link in them (or one that took the place of a
    /// directory) is removed, never followed; the directory above them is
    /// vigild's runtime directory, opened as configured.
    pub fn reset(&self) -> Result<(), OutputError> {
        let base =
            vigil_platform::dir::Dir::open(&self.under).map_err(|source| OutputError::Open {
                path: self.under.clone(),
                source,
            })?;
        for name in OUTPUT_NAMES {
            let path = self.under.join(name);
            match base.remove_tree(OsStr::new(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(OutputError::Remove { path, source }),
            }
            let created = base
                .create_child(OsStr::new(name), 0o755)
                .map_err(|source| OutputError::Create {
                    path: path.clone(),
                    source,
                })?;
            // Not made here: whoever made it could fill it.
            if !created.1 {
                return Err(OutputError::Raced { path });
            }
        }
        Ok(())
    }

    /// The unit search path `dirs` with the outputs, as systemd orders them:
    /// early before everything, normal after the administrator's directories
    /// (the last one in /etc or /run; in a path with none, the first) and so
    /// before the vendors' (/lib, /usr/lib), late after everything. Of the
    /// default path, vigil's own `/usr/lib/vigil` stays before normal: it
    /// comes before `/etc/systemd/system` already.
    pub fn unit_path(&self, dirs: &[PathBuf]) -> Vec<PathBuf> {
        let [normal, early, late] = self.paths();
        let admin = |d: &PathBuf| d.starts_with("/etc") || d.starts_with("/run");
        let at = dirs.iter().rposition(admin).map_or(1, |i| i + 1);
        let (before, after) = dirs.split_at(at.min(dirs.len()));
        let mut path = Vec::with_capacity(dirs.len() + 3);
        path.push(early);
        path.extend_from_slice(before);
        path.push(normal);
        path.extend_from_slice(after);
        path.push(late);
        path
    }
}

/// Whether and how generators run for this manager.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Where they are looked for, first place first.
    pub dirs: Vec<PathBuf>,
    pub outputs: Outputs,
    /// What all of one run get together.
    pub timeout: Duration,
}

impl Setup {
    /// Generators run for the system manager — root, with the default unit
    /// path (neither `--unit-path` nor `$VIGIL_UNIT_PATH`), from systemd's
    /// directories — or wherever `--generator-dir` says, whoever runs vigild
    /// and whatever its unit path. A manager of other units (a developer's,
    /// a test's, a container's `--config-dir`) would otherwise pick up the
    /// machine's generators and their units.
    pub fn decide(
        generator_dirs: &[PathBuf],
        timeout: Duration,
        uid: u32,
        default_unit_path: bool,
        runtime: &Path,
    ) -> Option<Setup> {
        let dirs = if !generator_dirs.is_empty() {
            generator_dirs.to_vec()
        } else if uid == 0 && default_unit_path {
            SYSTEM_GENERATOR_DIRS.iter().map(PathBuf::from).collect()
        } else {
            return None;
        };
        Some(Setup {
            dirs,
            outputs: Outputs::under(runtime),
            timeout,
        })
    }

    /// Empties the outputs, runs every generator found, all at once, and
    /// waits for them up to the bound. `env` is their whole environment.
    pub fn run(&self, env: &[(String, String)]) -> Report {
        let mut report = Report::default();
        if let Err(e) = self.outputs.reset() {
            report.say(
                Level::Error,
                format!("generators not run, and their outputs not read: {e}"),
            );
            return report;
        }
        report.outputs_ready = true;
        let found = find(&self.dirs);
        report.note_skipped(&found.skipped);
        if found.run.is_empty() {
            report.say(Level::Debug, "generators: none to run".to_string());
            return report;
        }
        let started = Instant::now();
        let envp: Vec<CString> = (env.iter())
            .filter_map(|(k, v)| CString::new(format!("{k}={v}")).ok())
            .collect();
        let outputs = self.outputs.paths();
        let mut running = Vec::with_capacity(found.run.len());
        let mut failures = 0;
        for path in found.run {
            match spawn(&path, &outputs, &envp) {
                Ok(run) => running.push(run),
                Err(e) => {
                    failures += 1;
                    report.failed(&path, format!("cannot start: {e}"));
                }
            }
        }
        let ran = running.len();
        // One deadline for them all: they run at the same time, so waiting
        // for each in turn with what is left of it bounds the whole wait.
        let deadline = started + self.timeout;
        let ends: Vec<End> = (running.iter())
            .map(|run| wait(run.pid, deadline))
            .collect();
        for (run, end) in running.into_iter().zip(ends) {
            report.say_output(&run);
            let why = match (run.exec, end) {
                (ExecStatus::Failed { stage, errno }, _) => Some(format!(
                    "cannot run: {stage}: {}",
                    io::Error::from_raw_os_error(errno)
                )),
                (_, End::Exited(ExitStatus::Exited(0))) => None,
                (_, End::Exited(ExitStatus::Exited(code))) => {
                    Some(format!("exited with status {code}"))
                }
                (_, End::Exited(ExitStatus::Signaled(sig))) => Some(format!(
                    "killed by {}",
                    vigil_units::value::signal_name(sig).unwrap_or_else(|| format!("signal {sig}"))
                )),
                (_, End::Overran) => Some(format!(
                    "still running after {} s, the bound of all the generators of a run: \
                     killed with its process group; what it wrote is read as it is",
                    self.timeout.as_secs()
                )),
                (_, End::Unwaitable(e)) => Some(format!("cannot wait for it ({e}): killed")),
            };
            if let Some(why) = why {
                failures += 1;
                report.failed(&run.path, why);
            }
        }
        report.say(
            Level::Info,
            format!(
                "generators: {ran} run in {:.3} s{}",
                started.elapsed().as_secs_f64(),
                match failures {
                    0 => String::new(),
                    n => format!(", {n} failed"),
                }
            ),
        );
        report
    }
}

/// What a run of the generators did, for the daemon to say.
#[derive(Debug, Default)]
pub struct Report {
    /// What to say, in order.
    pub lines: Vec<(Level, String)>,
    /// Each generator that failed, as `PATH: error: WHY` (what `vigil sync`
    /// prints, as it prints the load errors).
    pub errors: Vec<String>,
    /// The output directories were emptied and made: they join the unit path.
    pub outputs_ready: bool,
}

impl Report {
    fn say(&mut self, level: Level, line: String) {
        self.lines.push((level, line));
    }

    fn failed(&mut self, path: &Path, why: String) {
        self.say(
            Level::Error,
            format!("generator {} failed: {why}", path.display()),
        );
        let diag = vigil_units::Diagnostic::error(path, 0, format!("generator failed: {why}"));
        self.errors.push(diag.to_string());
    }

    fn note_skipped(&mut self, skipped: &[(PathBuf, Skip)]) {
        let mut systemds = Vec::new();
        for (path, skip) in skipped {
            let at = path.display();
            match skip {
                Skip::Masked => self.say(
                    Level::Debug,
                    format!("generator {at}: masked (a link to /dev/null), not run"),
                ),
                Skip::Empty => self.say(
                    Level::Info,
                    format!(
                        "generator {at}: an empty file: not run, and it masks its name in \
                         the generator directories after it"
                    ),
                ),
                Skip::NotExecutable => self.say(
                    Level::Info,
                    format!("generator {at}: not executable (no x bit): not run"),
                ),
                Skip::Unreadable(e) => {
                    self.say(Level::Warning, format!("generator {at}: skipped: {e}"))
                }
                Skip::Systemd => systemds.push(
                    path.file_name()
                        .map_or_else(|| at.to_string(), |n| n.to_string_lossy().into_owned()),
                ),
            }
        }
        if !systemds.is_empty() {
            self.say(
                Level::Info,
                format!(
                    "generators of systemd's own not run (vigil-boot does the fstab's and \
                     the gettys' work; the others need systemd's programs or make units of \
                     types vigil does not load): {}",
                    systemds.join(", ")
                ),
            );
        }
    }

    /// The lines a generator wrote: stdout's as notes, stderr's as warnings,
    /// each naming it.
    fn say_output(&mut self, run: &Running) {
        let at = run.path.display().to_string();
        for (fd, level) in [(&run.stdout, Level::Info), (&run.stderr, Level::Warning)] {
            let text = written(fd);
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            for line in lines.iter().take(LINES_SAID) {
                self.say(level, format!("generator {at}: {line}"));
            }
            if let Some(more @ 1..) = lines.len().checked_sub(LINES_SAID) {
                self.say(level, format!("generator {at}: {more} more lines not said"));
            }
        }
    }
}

/// Why a file of a generator directory is not run.
#[derive(Debug, Clone, PartialEq)]
pub enum Skip {
    /// A link to /dev/null (or another device): the administrator's mask.
    Masked,
    /// An empty file: a mask too, as in systemd.
    Empty,
    /// No execute bit: passed over, as systemd does; a file of that name in a
    /// later directory may run.
    NotExecutable,
    /// `systemd-*`: systemd's own (docs/UNITS.md, "Generators").
    Systemd,
    /// A dangling link, or a directory that cannot be read: why.
    Unreadable(String),
}

/// The generators of `dirs` to run, in name order, and what was passed over.
#[derive(Debug, Default, PartialEq)]
pub struct Found {
    pub run: Vec<PathBuf>,
    pub skipped: Vec<(PathBuf, Skip)>,
}

/// Finds the generators as systemd does (conf_files_list with executables
/// only and masks): each name once, from the first directory that has it;
/// a link to /dev/null or an empty file masks the name; a file without an
/// execute bit is passed over (a later directory's file of that name may
/// run); other kinds (directories) and hidden or backup files are ignored.
/// Then systemd's own (`systemd-*`) are left out.
pub fn find(dirs: &[PathBuf]) -> Found {
    let mut found = Found::default();
    let mut decided: HashSet<OsString> = HashSet::new();
    for dir in dirs {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            // The default directories need not all exist.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                let why = format!("cannot read the directory: {e}");
                found.skipped.push((dir.clone(), Skip::Unreadable(why)));
                continue;
            }
        };
        let mut names: Vec<OsString> = entries.flatten().map(|e| e.file_name()).collect();
        names.sort();
        for name in names {
            if hidden_or_backup(&name) || decided.contains(&name) {
                continue;
            }
            let path = dir.join(&name);
            let meta = match fs::metadata(&path) {
                Ok(meta) => meta,
                Err(e) => {
                    let why = format!("cannot be followed: {e}");
                    found.skipped.push((path, Skip::Unreadable(why)));
                    continue;
                }
            };
            let kind = meta.file_type();
            let skip = if kind.is_char_device() || kind.is_block_device() {
                Some(Skip::Masked)
            } else if !kind.is_file() {
                continue;
            } else if meta.len() == 0 {
                Some(Skip::Empty)
            } else if meta.permissions().mode() & 0o111 == 0 {
                found.skipped.push((path, Skip::NotExecutable));
                continue;
            } else if name.as_bytes().starts_with(b"systemd-") {
                Some(Skip::Systemd)
            } else {
                None
            };
            decided.insert(name);
            match skip {
                Some(skip) => found.skipped.push((path, skip)),
                None => found.run.push(path),
            }
        }
    }
    found.run.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    found
}

/// systemd's hidden_or_backup_file(): `.x`, `x~`, `x.dpkg-old` and the like
/// (a name that is not UTF-8 is none of them).
fn hidden_or_backup(name: &OsStr) -> bool {
    name.to_str()
        .is_some_and(vigil_units::files::hidden_or_backup)
}

/// The environment generators run with: systemd documents `$SYSTEMD_SCOPE`,
/// `$SYSTEMD_IN_INITRD` and `$SYSTEMD_FIRST_BOOT` (and more that vigil does
/// not set: `$SYSTEMD_VIRTUALIZATION`, `$SYSTEMD_ARCHITECTURE`, credentials),
/// on top of what services get from the manager: `default_env` (a user
/// manager's PATH, `--default-environment`), and systemd's PATH when that
/// has none.
pub fn environment(default_env: &[(String, String)]) -> Vec<(String, String)> {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    env.insert("PATH".into(), vigil_spawn::DEFAULT_PATH.into());
    env.extend(default_env.iter().cloned());
    let first_boot = vigil_units::condition::is_first_boot();
    env.insert("SYSTEMD_SCOPE".into(), "system".into());
    env.insert("SYSTEMD_IN_INITRD".into(), "0".into());
    env.insert(
        "SYSTEMD_FIRST_BOOT".into(),
        u8::from(first_boot).to_string(),
    );
    env.into_iter().collect()
}

/// A generator started.
struct Running {
    path: PathBuf,
    pid: u32,
    exec: ExecStatus,
    stdout: OwnedFd,
    stderr: OwnedFd,
}

/// How the wait for a generator ended.
enum End {
    Exited(ExitStatus),
    /// Still running at the deadline: killed.
    Overran,
    /// Its end cannot be waited for (no pidfd): killed.
    Unwaitable(io::Error),
}

/// Starts `path NORMAL EARLY LATE` through the platform's spawn, as a service
/// is started (every signal unblocked and at its default, its own session,
/// only its stdio inherited), with stdin /dev/null, its stdout and stderr
/// into bounded memfds, umask 022 as systemd gives generators, in `/`.
fn spawn(path: &Path, outputs: &[PathBuf; 3], envp: &[CString]) -> io::Result<Running> {
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
    };
    let program = c(path)?;
    let mut argv = vec![program.clone()];
    for out in outputs {
        argv.push(c(out)?);
    }
    let stdout = vigil_platform::memfd_bounded("vigild-generator-out", OUTPUT_MAX)?;
    let stderr = vigil_platform::memfd_bounded("vigild-generator-err", OUTPUT_MAX)?;
    let mut cmd = PreparedCommand::new(program, argv, envp.to_vec());
    cmd.stdin(ChildFd::dev_null()?)
        .stdout(ChildFd::dup(stdout.as_fd())?)
        .stderr(ChildFd::dup(stderr.as_fd())?)
        .umask(0o022)
        .cwd(c"/".into(), false);
    let child = vigil_platform::spawn(&cmd)?;
    Ok(Running {
        path: path.to_path_buf(),
        pid: child.pid,
        exec: child.exec,
        stdout,
        stderr,
    })
}

/// Waits for the generator `pid` until `deadline`, and reaps it; past it,
/// kills it with its process group (its session: what it started goes too)
/// and reaps it if the kernel lets it go within [`KILL_GRACE`] — else the
/// loop's reaping takes it later, as any orphan.
fn wait(pid: u32, deadline: Instant) -> End {
    const SIGKILL: i32 = 9;
    let left = deadline.saturating_duration_since(Instant::now());
    let end = match vigil_platform::process::wait_within(pid, left) {
        Ok(Some(status)) => return End::Exited(status),
        Ok(None) => End::Overran,
        Err(e) => End::Unwaitable(e),
    };
    let _ = vigil_platform::kill_group(pid, SIGKILL);
    let _ = vigil_platform::process::wait_within(pid, KILL_GRACE);
    end
}

/// What a generator wrote into a memfd of [`OUTPUT_MAX`] bytes.
fn written(fd: &OwnedFd) -> String {
    fd.try_clone()
        .map(crate::handover::written_text)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let dir = std::env::temp_dir()
                .join(format!("vigild-generators-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn file(path: &Path, text: &str, mode: u32) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn generators_run_only_for_the_system_manager_or_when_named() {
        let run = Path::new("/run/vigil");
        let t = DEFAULT_TIMEOUT;
        let root = Setup::decide(&[], t, 0, true, run).unwrap();
        assert_eq!(root.dirs.len(), 5);
        assert_eq!(root.dirs[0], Path::new("/run/systemd/system-generators"));
        assert_eq!(
            root.outputs.paths(),
            [
                "/run/vigil/generator",
                "/run/vigil/generator.early",
                "/run/vigil/generator.late"
            ]
            .map(PathBuf::from)
        );
        // --unit-path or $VIGIL_UNIT_PATH, or a user that is not root: none.
        assert!(Setup::decide(&[], t, 0, false, run).is_none());
        assert!(Setup::decide(&[], t, 1000, true, run).is_none());
        // --generator-dir: those, whoever and whatever the unit path.
        let named = [PathBuf::from("/g")];
        let user = Setup::decide(&named, t, 1000, false, Path::new("/tmp/v")).unwrap();
        assert_eq!(user.dirs, named);
        assert_eq!(user.outputs.paths()[1], Path::new("/tmp/v/generator.early"));
    }

    #[test]
    fn outputs_join_the_unit_path_where_systemd_puts_them() {
        let out = Outputs::under(Path::new("/run/vigil"));
        let default: Vec<PathBuf> = (vigil_units::load::SYSTEM_UNIT_PATH.iter())
            .map(PathBuf::from)
            .collect();
        let path = out.unit_path(&default);
        let names: Vec<&str> = path.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "/run/vigil/generator.early",
                "/etc/vigil",
                "/run/vigil",
                "/usr/lib/vigil",
                "/etc/systemd/system",
                "/run/systemd/system",
                "/run/vigil/generator",
                "/lib/systemd/system",
                "/usr/lib/systemd/system",
                "/run/vigil/generator.late",
            ]
        );
        // A path with no /etc nor /run: normal after the first directory,
        // the one `vigil enable` writes to.
        let custom = ["/srv/units", "/srv/vendor"].map(PathBuf::from);
        let names: Vec<PathBuf> = out.unit_path(&custom);
        assert_eq!(
            names,
            [
                "/run/vigil/generator.early",
                "/srv/units",
                "/run/vigil/generator",
                "/srv/vendor",
                "/run/vigil/generator.late"
            ]
            .map(PathBuf::from)
        );
        assert_eq!(out.unit_path(&[]).len(), 3);
    }

    #[test]
    fn find_takes_each_name_once_and_skips_masks_and_systemds_own() {
        let s = Scratch::new("find");
        let (run, etc, lib) = (s.0.join("run"), s.0.join("etc"), s.0.join("lib"));
        // Overridden: the first directory's wins.
        file(&run.join("a-generator"), "#!/bin/sh\n", 0o755);
        file(&lib.join("a-generator"), "#!/bin/sh\n", 0o755);
        // Masked by a link to /dev/null, and by an empty file.
        fs::create_dir_all(&etc).unwrap();
        symlink("/dev/null", etc.join("b-generator")).unwrap();
        file(&lib.join("b-generator"), "#!/bin/sh\n", 0o755);
        file(&etc.join("c-generator"), "", 0o755);
        file(&lib.join("c-generator"), "#!/bin/sh\n", 0o755);
        // Not executable: passed over, and the later one runs.
        file(&etc.join("d-generator"), "#!/bin/sh\n", 0o644);
        file(&lib.join("d-generator"), "#!/bin/sh\n", 0o755);
        // systemd's own; leftovers and hidden files; a directory; a dangling link.
        file(&lib.join("systemd-fstab-generator"), "#!/bin/sh\n", 0o755);
        file(&lib.join("e-generator.dpkg-old"), "#!/bin/sh\n", 0o755);
        file(&lib.join("e-generator~"), "#!/bin/sh\n", 0o755);
        file(&lib.join(".e-generator"), "#!/bin/sh\n", 0o755);
        fs::create_dir_all(lib.join("f.d")).unwrap();
        symlink(s.0.join("nowhere"), lib.join("g-generator")).unwrap();
        let missing = s.0.join("missing");
        let found = find(&[run.clone(), etc.clone(), missing, lib.clone()]);
        assert_eq!(
            found.run,
            [run.join("a-generator"), lib.join("d-generator")]
        );
        assert_eq!(found.skipped.len(), 5, "{:?}", found.skipped);
        let skip = |p: &Path| {
            found
                .skipped
                .iter()
                .find(|(at, _)| at == p)
                .map(|(_, s)| s.clone())
        };
        assert_eq!(skip(&etc.join("b-generator")), Some(Skip::Masked));
        assert_eq!(skip(&etc.join("c-generator")), Some(Skip::Empty));
        assert_eq!(skip(&etc.join("d-generator")), Some(Skip::NotExecutable));
        assert_eq!(
            skip(&lib.join("systemd-fstab-generator")),
            Some(Skip::Systemd)
        );
        assert!(matches!(
            skip(&lib.join("g-generator")),
            Some(Skip::Unreadable(_))
        ));
        assert_eq!(skip(&lib), None);
    }

    #[test]
    fn reset_empties_the_outputs_without_following_links_out_of_them() {
        let s = Scratch::new("reset");
        let outside = s.0.join("outside");
        file(&outside.join("keep.service"), "[Service]\n", 0o644);
        let runtime = s.0.join("runtime");
        let out = Outputs::under(&runtime);
        let [normal, early, late] = out.paths();
        // An earlier run's files, a link out of a directory, and a link in
        // the place of a directory.
        file(&normal.join("x.target.wants/old.service"), "", 0o644);
        symlink(&outside, normal.join("escape")).unwrap();
        fs::create_dir_all(&runtime).unwrap();
        symlink(&outside, &early).unwrap();
        out.reset().unwrap();
        for dir in [&normal, &early, &late] {
            let meta = fs::symlink_metadata(dir).unwrap();
            assert!(meta.is_dir(), "{}", dir.display());
            assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
            assert_eq!(fs::read_dir(dir).unwrap().count(), 0, "{}", dir.display());
        }
        assert!(
            outside.join("keep.service").is_file(),
            "a link's target stays"
        );
        // Its parent missing: said, nothing read.
        let gone = Outputs::under(&s.0.join("no/such"));
        assert!(matches!(gone.reset(), Err(OutputError::Open { .. })));
    }

    #[test]
    fn hidden_and_backup_names_are_passed_over() {
        for name in [".x", "x~", "x.dpkg-dist", "x.ucf-old", "x.bak", "x.swp"] {
            assert!(hidden_or_backup(OsStr::new(name)), "{name}");
        }
        for name in ["x", "postgresql-generator", "new", "x.sh"] {
            assert!(!hidden_or_backup(OsStr::new(name)), "{name}");
        }
    }

    #[test]
    fn the_environment_is_small_and_says_the_scope() {
        let env = environment(&[("LANG".into(), "C.UTF-8".into())]);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("SYSTEMD_SCOPE"), Some("system"));
        assert_eq!(get("SYSTEMD_IN_INITRD"), Some("0"));
        assert!(matches!(get("SYSTEMD_FIRST_BOOT"), Some("0" | "1")));
        assert_eq!(get("PATH"), Some(vigil_spawn::DEFAULT_PATH));
        assert_eq!(get("LANG"), Some("C.UTF-8"));
        assert_eq!(env.len(), 5);
        let own = environment(&[("PATH".into(), "/opt/bin".into())]);
        assert!(own.contains(&("PATH".into(), "/opt/bin".into())));
    }
}
