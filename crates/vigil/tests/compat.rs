//! The compatibility breadth test: the unit files that popular Debian packages ship
//! (tests/compat/packages.txt, fetched by tests/compat/fetch-units into
//! target/compat/units/PACKAGE/) go through `vigil verify`, one file at a time
//! (with the drop-ins beside it) and one package directory at a time.
//!
//! It asserts that verify never crashes (exit status 0 or 1, no panic, its summary
//! line printed) and that no file reports an error except those listed in
//! tests/compat/known-errors.txt, compared exactly: a new error fails, and so does
//! a listed file that now loads without error (remove it from the list then).
//!
//! It also writes what tests/compat/report turns into docs/COMPATIBILITY.md:
//! target/compat/results/files.tsv (one line a unit file: errors, the directives
//! vigil does not enforce yet) and directives.tsv (every directive vigil knows,
//! how it treats it, and how many of the files use it).
//!
//! The fetch needs apt and the network the first time; without them the test
//! prints why and passes, except with CI=true, where that is a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use vigil_units::SpecifierContext;
use vigil_units::name;
use vigil_units::unitfile::{self, DIRECTIVES, RawEntry, Source, known::NOT_ENFORCED};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn vigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
}

/// The unit types whose files are collected (fetch-units copies these).
const UNIT_SUFFIXES: &[&str] = &[
    ".service",
    ".socket",
    ".target",
    ".timer",
    ".path",
    ".mount",
    ".automount",
    ".swap",
    ".slice",
];

/// Sandboxing and resource-control directives: the "fully supported"
/// leaves these out (they restrict a service that otherwise runs as written).
/// The rule is explicit: these prefixes and names, never a condition or assert.
const SANDBOXING_PREFIXES: &[&str] = &[
    "Protect",
    "Private",
    "Restrict",
    "SystemCall",
    "Memory",
    "CPU",
    "StartupCPU",
    "StartupIO",
    "StartupAllowed",
    "Tasks",
    "Device",
    "BlockIO",
    "IPAddress",
    "IPIngress",
    "IPEgress",
    "ManagedOOM",
    "Allowed",
    "NUMA",
    "Root",
    "SocketBind",
];

const SANDBOXING_NAMES: &[&str] = &[
    "IOAccounting",
    "IOWeight",
    "IODeviceWeight",
    "IODeviceLatencyTargetSec",
    "IOReadBandwidthMax",
    "IOWriteBandwidthMax",
    "IOReadIOPSMax",
    "IOWriteIOPSMax",
    "IPAccounting",
    "ReadOnlyPaths",
    "ReadWritePaths",
    "InaccessiblePaths",
    "ExecPaths",
    "NoExecPaths",
    "ReadOnlyDirectories",
    "ReadWriteDirectories",
    "InaccessibleDirectories",
    "TemporaryFileSystem",
    "BindPaths",
    "BindReadOnlyPaths",
    "NoNewPrivileges",
    "LockPersonality",
    "SecureBits",
    "RemoveIPC",
    "KeyringMode",
    "ProcSubset",
    "MountFlags",
    "MountImages",
    "ExtensionImages",
    "ExtensionDirectories",
    "AppArmorProfile",
    "SELinuxContext",
    "SmackProcessLabel",
    "BPFProgram",
    "Delegate",
    "DisableControllers",
    "Slice",
];

/// Whether a directive is a sandboxing or resource-control one (see above):
/// `Protect*`, `Private*`, `*Capabilit*`, `SystemCall*`, `Restrict*`, `Memory*`,
/// `CPU*`, IO weights and bandwidth, `Tasks*`, `Device*`, paths, `*Namespace*`, ...
/// `AmbientCapabilities=` is not one: it grants a capability (a service that binds
/// port 80 as its own user fails without it); nor are conditions and asserts.
fn is_sandboxing(key: &str) -> bool {
    if key.starts_with("Condition") || key.starts_with("Assert") || key == "AmbientCapabilities" {
        return false;
    }
    SANDBOXING_PREFIXES.iter().any(|p| key.starts_with(p))
        || SANDBOXING_NAMES.contains(&key)
        || key.contains("Capabilit")
        || key.contains("Namespace")
}

/// How vigil treats a directive, for the report.
fn treatment(section: &str, key: &str) -> &'static str {
    let section_known = DIRECTIVES.iter().any(|d| d.section == section)
        || NOT_ENFORCED.iter().any(|(s, _)| *s == section);
    if !section_known {
        // [Socket], [Timer]...: vigil does not load units of this type yet.
        "type-not-loaded"
    } else if unitfile::directive(section, key).is_some() {
        "enforced"
    } else if unitfile::is_not_enforced(section, key) {
        if is_sandboxing(key) {
            "sandboxing-later"
        } else {
            "parsed-not-enforced"
        }
    } else {
        "unknown"
    }
}

/// Runs tests/compat/fetch-units: Ok when every package is in the cache, Err(why)
/// when apt could not download them (no network, no apt lists).
fn fetch() -> Result<(), String> {
    let out = Command::new(workspace().join("tests/compat/fetch-units"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run tests/compat/fetch-units: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprint!("{}{stderr}", String::from_utf8_lossy(&out.stdout));
    match out.status.code() {
        Some(0) => Ok(()),
        Some(3) => Err(format!(
            "tests/compat/fetch-units could not download the packages: {}",
            stderr.lines().next().unwrap_or("")
        )),
        _ => panic!("tests/compat/fetch-units failed ({}): {stderr}", out.status),
    }
}

/// True when the corpus is there; otherwise says why, and fails under CI.
fn ready() -> bool {
    let Err(reason) = fetch() else {
        return true;
    };
    if ci() {
        panic!("compat test cannot run: {reason}");
    }
    eprintln!("skipping the compatibility breadth test: {reason}");
    false
}

fn packages() -> Vec<String> {
    let text = fs::read_to_string(workspace().join("tests/compat/packages.txt"))
        .expect("tests/compat/packages.txt");
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn corpus_dir() -> PathBuf {
    workspace().join("target/compat/units")
}

/// One unit file of the corpus (a regular file; alias symlinks are not counted).
struct UnitFile {
    package: String,
    name: String,
    path: PathBuf,
    suffix: &'static str,
}

impl UnitFile {
    fn key(&self) -> String {
        format!("{}/{}", self.package, self.name)
    }

    /// Whether vigil loads units of this type (`vigil verify` accepts the file).
    fn checked(&self) -> bool {
        name::kind_of(&self.name).is_some()
    }

    fn dropins(&self) -> Vec<PathBuf> {
        let Some(dir) = self.path.parent() else {
            return Vec::new();
        };
        let mut v: Vec<PathBuf> = fs::read_dir(dir.join(format!("{}.d", self.name)))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect();
        v.sort();
        v
    }
}

fn unit_files(packages: &[String]) -> Vec<UnitFile> {
    let mut files = Vec::new();
    for p in packages {
        let dir = corpus_dir().join(p);
        let mut entries: Vec<fs::DirEntry> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (fetch-units should have made it)", dir.display()))
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(fs::DirEntry::file_name);
        for e in entries {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            let Some(suffix) = UNIT_SUFFIXES.iter().copied().find(|s| name.ends_with(s)) else {
                continue;
            };
            if !e.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            files.push(UnitFile {
                package: p.clone(),
                name,
                path: e.path(),
                suffix,
            });
        }
    }
    files
}

/// What one `vigil verify` run printed; panics when it crashed.
fn verify(path: &Path) -> Vec<(PathBuf, String)> {
    let out: Output = vigil()
        .arg("verify")
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run vigil verify: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("{stdout}{stderr}");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "vigil verify {} crashed ({}):\n{all}",
        path.display(),
        out.status
    );
    assert!(
        !all.contains("panicked"),
        "vigil verify {} panicked:\n{all}",
        path.display()
    );
    assert!(
        stdout.contains(" units loaded, "),
        "vigil verify {} printed no summary:\n{all}",
        path.display()
    );
    if out.status.code() == Some(1) {
        assert!(
            all.contains(": error: "),
            "vigil verify {} failed without an error:\n{all}",
            path.display()
        );
    }
    stdout
        .lines()
        .filter_map(|l| {
            let (location, message) = l.split_once(": error: ")?;
            // The corpus's packages are not installed here: their programs
            // are missing, which says nothing about vigil's reading of them.
            let missing = message.starts_with("command ")
                && (message.ends_with(") is not executable: No such file or directory")
                    || message.contains(") is not found in "));
            if missing {
                return None;
            }
            // path[:line[:column]]
            let file = location
                .split(':')
                .next()
                .map(PathBuf::from)
                .unwrap_or_default();
            Some((file, message.to_string()))
        })
        .collect()
}

/// The corpus key (`package/file.service`) an error's path belongs to: the
/// unit file itself or one of its drop-ins (`file.service.d/x.conf`).
fn key_of(package_dir: &Path, package: &str, path: &Path) -> String {
    let rel = path.strip_prefix(package_dir).unwrap_or(path);
    let first = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = first.strip_suffix(".d").unwrap_or(&first);
    format!("{package}/{name}")
}

/// tests/compat/known-errors.txt: `package/file` a line, `#` comments.
fn known_errors() -> BTreeSet<String> {
    let text =
        fs::read_to_string(workspace().join("tests/compat/known-errors.txt")).unwrap_or_default();
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Compares the files that reported errors with the expected list: the messages
/// for new errors and for listed files that now load, empty when they agree.
fn compare(
    errors: &BTreeMap<String, Vec<String>>,
    expected: &BTreeSet<String>,
) -> (Vec<String>, Vec<String>) {
    let new = errors
        .iter()
        .filter(|(k, _)| !expected.contains(*k))
        .map(|(k, msgs)| format!("{k}: {}", msgs.join("; ")))
        .collect();
    let fixed = expected
        .iter()
        .filter(|k| !errors.contains_key(*k))
        .map(|k| {
            format!("{k} now loads without error: remove it from tests/compat/known-errors.txt")
        })
        .collect();
    (new, fixed)
}

#[test]
fn compare_catches_new_errors_and_fixed_files() {
    let errors: BTreeMap<String, Vec<String>> = [
        ("a/x.service".to_string(), vec!["bad".to_string()]),
        ("b/y.service".to_string(), vec!["worse".to_string()]),
    ]
    .into();
    let expected: BTreeSet<String> = ["a/x.service".to_string(), "c/z.service".to_string()].into();
    let (new, fixed) = compare(&errors, &expected);
    assert_eq!(new, ["b/y.service: worse"]);
    assert_eq!(fixed.len(), 1);
    assert!(fixed[0].starts_with("c/z.service now loads without error"));
    assert_eq!(
        compare(&errors, &errors.keys().cloned().collect()),
        (vec![], vec![])
    );
}

#[test]
fn sandboxing_classification_is_explicit() {
    for key in [
        "ProtectSystem",
        "PrivateTmp",
        "CapabilityBoundingSet",
        "SystemCallFilter",
        "RestrictNamespaces",
        "MemoryMax",
        "CPUQuota",
        "IOWeight",
        "TasksMax",
        "DeviceAllow",
        "ReadWritePaths",
        "NoNewPrivileges",
        "LockPersonality",
        "NetworkNamespacePath",
    ] {
        assert!(is_sandboxing(key), "{key} is sandboxing");
    }
    for key in [
        "ExecStart",
        "RuntimeDirectory",
        "ConditionCapability",
        "AmbientCapabilities",
        "IOSchedulingClass",
        "LimitNOFILE",
        "DynamicUser",
        "WatchdogSec",
        "Nice",
    ] {
        assert!(!is_sandboxing(key), "{key} is not sandboxing");
    }
}

/// The sections a file of this type has, for counting its directives.
fn sections(suffix: &str) -> [String; 3] {
    let t = suffix.trim_start_matches('.');
    let mut c = t.chars();
    let section = c
        .next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default();
    ["Unit".into(), section, "Install".into()]
}

/// What a file uses that vigil does not do yet: `(non-sandboxing, sandboxing)`,
/// each a sorted list of directives (`Key` or `Key=value` for a value vigil does
/// not implement), and every `(section, key)` it sets.
struct Usage {
    missing: BTreeSet<String>,
    sandboxing: BTreeSet<String>,
    keys: BTreeSet<(String, String)>,
}

fn usage(f: &UnitFile, ctx: &SpecifierContext) -> Usage {
    let main = fs::read_to_string(&f.path).unwrap_or_default();
    let dropins: Vec<(PathBuf, String)> = f
        .dropins()
        .into_iter()
        .map(|p| {
            let t = fs::read_to_string(&p).unwrap_or_default();
            (p, t)
        })
        .collect();
    let sections = sections(f.suffix);
    let section_refs: Vec<&str> = sections.iter().map(String::as_str).collect();
    let mut entries: Vec<RawEntry> = Vec::new();
    for (p, t) in std::iter::once((&f.path, &main)).chain(dropins.iter().map(|(p, t)| (p, t))) {
        entries.extend(unitfile::raw::parse(p, t, &section_refs).0);
    }
    let mut u = Usage {
        missing: BTreeSet::new(),
        sandboxing: BTreeSet::new(),
        keys: BTreeSet::new(),
    };
    let put = |u: &mut Usage, key: &str, what: String| {
        if is_sandboxing(key) {
            u.sandboxing.insert(what);
        } else {
            u.missing.insert(what);
        }
    };
    for e in &entries {
        if e.key.starts_with("X-") {
            continue;
        }
        u.keys.insert((e.section.to_string(), e.key.clone()));
        if unitfile::directive(&e.section, &e.key).is_some() {
            continue;
        }
        // Known elsewhere (a misplaced key): systemd ignores it too.
        let known_elsewhere = DIRECTIVES.iter().any(|d| d.name == e.key)
            || NOT_ENFORCED.iter().any(|(_, k)| *k == e.key);
        if unitfile::is_not_enforced(&e.section, &e.key) || !known_elsewhere {
            put(&mut u, &e.key, e.key.clone());
        }
    }
    // Values vigil parses but does not implement (Type=dbus, StandardInput=tty...).
    if f.checked() {
        let unit_name = if name::is_template(&f.name) {
            name::instance_name(&f.name, "instance").unwrap_or_else(|| f.name.clone())
        } else {
            f.name.clone()
        };
        let sources: Vec<Source<'_>> = dropins
            .iter()
            .map(|(p, t)| Source { path: p, text: t })
            .collect();
        let parsed = unitfile::parse(
            &unit_name,
            Source {
                path: &f.path,
                text: &main,
            },
            &sources,
            ctx,
        );
        if let Some(unit) = parsed.unit {
            for what in &unit.not_enforced {
                if let Some((key, _)) = what.split_once('=') {
                    put(&mut u, key, what.clone());
                }
            }
        }
    }
    u
}

fn scratch(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!(
        "vigil-compat-{name}-{}-{nanos}",
        std::process::id()
    ))
}

/// What only the target system may have is no error: units another package
/// ships are warnings, where something pulls them in (as systemd-analyze
/// verify says them); users and groups a package creates are looked up only
/// when the service starts (systemd-analyze verify says nothing of them).
#[test]
fn missing_units_are_warnings_and_missing_users_and_groups_no_errors() {
    let dir = scratch("missing");
    fs::create_dir_all(&dir).unwrap();
    let unit = dir.join("lonely.service");
    fs::write(
        &unit,
        "[Unit]\nRequires=no-such-unit-xyz.service\nWants=no-such-target-xyz.target\n\
         After=no-such-socket-xyz.socket\nBindsTo=no-such-mount-xyz.service\n\
         [Service]\nExecStart=/bin/true\nUser=no-such-user-xyz\nGroup=no-such-group-xyz\n\
         SupplementaryGroups=no-such-group-abc\n",
    )
    .unwrap();
    let out = vigil().arg("verify").arg(&unit).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    fs::remove_dir_all(&dir).unwrap();
    assert!(!stdout.contains(": error: "), "errors:\n{stdout}");
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let warned = |line: u32, name: &str| {
        stdout.lines().any(|l| {
            l.contains(&format!("lonely.service:{line}: warning: unit {name} "))
                && l.ends_with("not found")
        })
    };
    assert!(warned(2, "no-such-unit-xyz.service"), "{stdout}");
    assert!(warned(3, "no-such-target-xyz.target"), "{stdout}");
    assert!(warned(5, "no-such-mount-xyz.service"), "{stdout}");
    // An ordering alone pulls nothing in: nothing to say.
    assert!(!stdout.contains("no-such-socket-xyz"), "{stdout}");
    assert!(stdout.contains("0 errors, 3 warnings"), "{stdout}");
}

/// Every directive vigil knows (implemented or recognised) and every key a file of
/// the corpus sets, with how vigil treats it and how many files use it.
fn directives_tsv(files: &[(UnitFile, Usage)]) -> String {
    let mut known: BTreeSet<(String, String)> = DIRECTIVES
        .iter()
        .map(|d| (d.section.to_string(), d.name.to_string()))
        .chain(
            NOT_ENFORCED
                .iter()
                .map(|(s, k)| (s.to_string(), k.to_string())),
        )
        .collect();
    let mut service_use: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut all_use: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (f, u) in files {
        for k in &u.keys {
            *all_use.entry(k.clone()).or_default() += 1;
            if f.suffix == ".service" {
                *service_use.entry(k.clone()).or_default() += 1;
            }
            known.insert(k.clone());
        }
    }
    let mut out = String::from("section\tkey\ttreatment\tservice_files\tall_files\n");
    for (s, k) in &known {
        let key = (s.clone(), k.clone());
        let t = treatment(s, k);
        // A key only a file uses, known to vigil in another section, is misplaced there.
        let t = if t == "unknown"
            && (DIRECTIVES.iter().any(|d| d.name == k) || NOT_ENFORCED.iter().any(|(_, n)| n == k))
        {
            "misplaced"
        } else {
            t
        };
        let _ = writeln!(
            out,
            "{s}\t{k}\t{t}\t{}\t{}",
            service_use.get(&key).unwrap_or(&0),
            all_use.get(&key).unwrap_or(&0)
        );
    }
    out
}

#[test]
fn debian_unit_files_load_without_errors() {
    if !ready() {
        return;
    }
    let packages = packages();
    let files = unit_files(&packages);
    assert!(
        packages.len() >= 60 && files.len() >= 200,
        "the corpus is too small: {} packages, {} files",
        packages.len(),
        files.len()
    );

    // Each file on its own, then each package directory as a whole.
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in files.iter().filter(|f| f.checked()) {
        for (_, msg) in verify(&f.path) {
            errors.entry(f.key()).or_default().push(msg);
        }
    }
    for p in &packages {
        let dir = corpus_dir().join(p);
        for (path, msg) in verify(&dir) {
            let e = errors.entry(key_of(&dir, p, &path)).or_default();
            if !e.contains(&msg) {
                e.push(msg);
            }
        }
    }

    let ctx = SpecifierContext::from_environment();
    let analysed: Vec<(UnitFile, Usage)> = files
        .into_iter()
        .map(|f| {
            let u = usage(&f, &ctx);
            (f, u)
        })
        .collect();

    // The report's data.
    let results = workspace().join("target/compat/results");
    fs::create_dir_all(&results).unwrap();
    let mut tsv = String::from("package\tfile\ttype\tchecked\terrors\tmissing\tsandboxing\n");
    for (f, u) in &analysed {
        let errs = errors
            .get(&f.key())
            .map(|e| e.join(" | "))
            .unwrap_or_default();
        let _ = writeln!(
            tsv,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            f.package,
            f.name,
            f.suffix.trim_start_matches('.'),
            if f.checked() { "yes" } else { "no" },
            errs.replace(['\t', '\n'], " "),
            u.missing.iter().cloned().collect::<Vec<_>>().join(","),
            u.sandboxing.iter().cloned().collect::<Vec<_>>().join(","),
        );
    }
    fs::write(results.join("files.tsv"), tsv).unwrap();
    fs::write(results.join("directives.tsv"), directives_tsv(&analysed)).unwrap();
    fs::write(results.join("packages.txt"), packages.join("\n") + "\n").unwrap();

    let services: Vec<&(UnitFile, Usage)> = analysed
        .iter()
        .filter(|(f, _)| f.suffix == ".service")
        .collect();
    let clean = services
        .iter()
        .filter(|(f, _)| !errors.contains_key(&f.key()))
        .count();
    let full = services
        .iter()
        .filter(|(f, u)| !errors.contains_key(&f.key()) && u.missing.is_empty())
        .count();
    let pct = |n: usize| 100.0 * n as f64 / services.len().max(1) as f64;
    println!(
        "compat: {} packages, {} unit files ({} .service); services loading without error: {clean} ({:.1}%); fully supported: {full} ({:.1}%)",
        packages.len(),
        analysed.len(),
        services.len(),
        pct(clean),
        pct(full)
    );

    let (new, fixed) = compare(&errors, &known_errors());
    assert!(
        new.is_empty() && fixed.is_empty(),
        "unit files of the corpus that report errors differ from tests/compat/known-errors.txt:\n{}",
        new.iter()
            .map(|m| format!("new error: {m}"))
            .chain(fixed)
            .collect::<Vec<_>>()
            .join("\n")
    );
}
