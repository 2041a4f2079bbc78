//! `modules-load.d` parsing (one module name per line) and loading through
//! `modprobe -b`. It never loads modules itself: modprobe knows aliases,
//! dependencies, options and the blacklist.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum ModulesError {
    #[error("{path}:{line}: invalid module name {name:?}")]
    BadName {
        path: PathBuf,
        line: usize,
        name: String,
    },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot run modprobe for {name}: modprobe not found (install kmod)")]
    NoModprobe { name: String },
    #[error("cannot run modprobe for {name}: {source}")]
    Spawn { name: String, source: io::Error },
    #[error("{path}:{line}: modprobe -b {name} failed: {status}{said}")]
    Failed {
        path: PathBuf,
        line: usize,
        name: String,
        status: std::process::ExitStatus,
        /// What modprobe said (`: ...`), if anything.
        said: String,
    },
    /// The module is not there, or its hardware is not (ENOENT, ENODEV):
    /// a warning, as systemd-modules-load passes over both.
    #[error("warning: {path}:{line}: module {name} not loaded: {said}")]
    Absent {
        path: PathBuf,
        line: usize,
        name: String,
        said: String,
    },
}

impl ModulesError {
    /// Whether the failure fails the run (not for a module or device that
    /// is not there).
    pub fn fails(&self) -> bool {
        !matches!(self, ModulesError::Absent { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub name: String,
    pub path: PathBuf,
    pub line: usize,
}

fn valid_name(name: &str) -> bool {
    !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ',' | '.' | ':'))
}

/// Parses one file; a name seen before (in any file) is skipped.
/// `modules_load=a,b` on the kernel command line (given any number of times),
/// as systemd-modules-load reads it: those modules first, before the files'.
/// `rd.modules_load=` is the initramfs's, not ours.
pub fn from_cmdline(cmdline: &str, seen: &mut Vec<Module>) -> Vec<ModulesError> {
    let path = Path::new("/proc/cmdline");
    let words = crate::cmdline::words(cmdline);
    let names = (words.iter())
        // The kernel command line's `-` and `_` are the same to systemd.
        .filter_map(|w| {
            w.strip_prefix("modules_load=")
                .or(w.strip_prefix("modules-load="))
        })
        .flat_map(|v| v.split(','))
        .filter(|n| !n.is_empty());
    let mut errors = Vec::new();
    for name in names {
        let (path, name, line) = (path.to_path_buf(), name.to_string(), 1);
        if !valid_name(&name) {
            errors.push(ModulesError::BadName { path, line, name });
        } else if seen.iter().all(|m| m.name != name) {
            seen.push(Module { name, path, line });
        }
    }
    errors
}

pub fn parse(path: &Path, text: &str, seen: &mut Vec<Module>) -> Vec<ModulesError> {
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let name = raw.trim();
        if name.is_empty() || name.starts_with('#') || name.starts_with(';') {
            continue;
        }
        if !valid_name(name) {
            errors.push(ModulesError::BadName {
                path: path.to_path_buf(),
                line: i + 1,
                name: name.to_string(),
            });
            continue;
        }
        if seen.iter().all(|m| m.name != name) {
            seen.push(Module {
                name: name.to_string(),
                path: path.to_path_buf(),
                line: i + 1,
            });
        }
    }
    errors
}

/// The modules of `files` in order, after those `modules` has (the kernel
/// command line's), each name once.
pub fn load(files: &[PathBuf], modules: &mut Vec<Module>) -> Vec<ModulesError> {
    let mut errors = Vec::new();
    for path in files {
        match crate::confdir::read_text(path) {
            Ok(text) => errors.extend(parse(path, &text, modules)),
            Err(source) => errors.push(ModulesError::Read {
                path: path.clone(),
                source,
            }),
        }
    }
    errors
}

/// Runs `modprobe -b NAME`; `modprobe` is looked up in PATH. Its exit status
/// is 1 for any failure: what it says tells a module that is not there
/// (kmod's `Module NAME not found in directory ...`, busybox's `module NAME
/// not found in modules.dep`) or a device that is not (`No such device`)
/// from a real failure.
pub fn probe(modprobe: &str, m: &Module) -> Result<(), ModulesError> {
    let output = Command::new(modprobe)
        .arg("-b")
        .arg(&m.name)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => ModulesError::NoModprobe {
                name: m.name.clone(),
            },
            _ => ModulesError::Spawn {
                name: m.name.clone(),
                source,
            },
        })?;
    let said = String::from_utf8_lossy(&output.stderr);
    let said = said.trim().lines().last().unwrap_or("").to_string();
    let absent = said.contains(" not found") || said.contains("No such device");
    match (output.status.success(), absent) {
        (true, _) => Ok(()),
        (false, true) => Err(ModulesError::Absent {
            path: m.path.clone(),
            line: m.line,
            name: m.name.clone(),
            said,
        }),
        (false, false) => Err(ModulesError::Failed {
            path: m.path.clone(),
            line: m.line,
            name: m.name.clone(),
            status: output.status,
            said: match said.is_empty() {
                true => said,
                false => format!(": {said}"),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_load_on_the_kernel_command_line() {
        let mut seen = Vec::new();
        let cmdline = "root=/dev/vda ro modules_load=nbd,loop quiet rd.modules_load=zram modules-load=loop,vfio-pci,bad/name";
        let errors = from_cmdline(cmdline, &mut seen);
        let names: Vec<&str> = seen.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["nbd", "loop", "vfio-pci"]);
        let said: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(said, [r#"/proc/cmdline:1: invalid module name "bad/name""#]);
        // A quoted word is the word the kernel was given, as systemd reads it.
        let mut seen = Vec::new();
        assert!(from_cmdline("quiet \"modules_load=vfio,kvm\"", &mut seen).is_empty());
        let names: Vec<&str> = seen.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["vfio", "kvm"]);
    }

    /// Review finding: one Latin-1 comment cost the whole file.
    #[test]
    fn a_byte_that_is_not_utf8_costs_no_module() {
        let path = std::env::temp_dir().join(format!("vigil-modules-{}.conf", std::process::id()));
        std::fs::write(&path, b"# f\xfcr NBD\nnbd\n").unwrap();
        let mut modules = Vec::new();
        let errors = load(std::slice::from_ref(&path), &mut modules);
        let _ = std::fs::remove_file(&path);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(modules.len(), 1, "{modules:?}");
    }

    #[test]
    fn parses_names_dedups_and_reports_bad_lines() {
        let mut seen = Vec::new();
        let e = parse(
            Path::new("a.conf"),
            "# x\nloop\n\n  br_netfilter \nbad name\nloop\n",
            &mut seen,
        );
        let e2 = parse(Path::new("b.conf"), "loop\n-x\nvfat\n", &mut seen);
        let names: Vec<&str> = seen.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["loop", "br_netfilter", "vfat"]);
        assert_eq!(seen[2].line, 3);
        assert_eq!(
            e[0].to_string(),
            "a.conf:5: invalid module name \"bad name\""
        );
        assert_eq!(e2[0].to_string(), "b.conf:2: invalid module name \"-x\"");
    }

    #[test]
    fn missing_modprobe_is_an_error_not_a_crash() {
        let m = Module {
            name: "loop".into(),
            path: "a.conf".into(),
            line: 1,
        };
        let e = probe("/nonexistent/modprobe", &m).unwrap_err();
        assert!(matches!(e, ModulesError::NoModprobe { .. }), "{e}");
        let e = probe("false", &m).unwrap_err().to_string();
        assert!(e.starts_with("a.conf:1: modprobe -b loop failed"), "{e}");
    }
}
