//! vigil-init's own command line and the `vigil.*` options of the kernel command line,
//! turned into what to run: the manager's path and its arguments. Runs once, at start,
//! before the main loop (so it may allocate). Never fails as PID 1: a bad argument is
//! reported by the caller and ignored.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::PathBuf;

pub const HELP: &str = "\
vigil-init - vigil's PID 1: starts the manager (vigild), keeps it alive, reaps orphans

usage: vigil-init [--container] [--manager PATH] [--main UNIT] [--shell PATH] [-- MANAGER-ARGS...]

options:
  --container      container mode: no mounts, no reboot(2); exit with the manager's code
                   (also chosen when PID 1 and $container is set, or /.dockerenv or
                   /run/.containerenv exists)
  --manager PATH   the manager to run (default: vigild next to this program, else
                   /usr/lib/vigil/vigild, else /usr/sbin/vigild)
  --main UNIT      passed to the manager as --main UNIT (the container's main unit)
  --shell PATH     the emergency shell (default /bin/sh)
  -h, --help       this text
  -- ARGS...       everything after -- is passed to the manager

on a real boot (PID 1, not a container) the kernel command line may hold
vigil.manager=PATH, vigil.target=UNIT, vigil.main=UNIT, vigil.debug, vigil.emergency.

exit codes (never as PID 1 on a real boot): 0 after poweroff/halt/reboot, or the
manager's `exit CODE`, or its own exit status (128+N when killed by signal N);
1 when vigil-init cannot set itself up; 2 on a usage error.
";

/// What vigil-init's arguments say.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Args {
    pub container: bool,
    pub help: bool,
    pub manager: Option<PathBuf>,
    pub main: Option<OsString>,
    pub shell: Option<PathBuf>,
    pub manager_args: Vec<OsString>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UsageError {
    #[error("{flag} needs a value")]
    MissingValue { flag: &'static str },
    #[error("unknown argument {arg:?}")]
    Unknown { arg: OsString },
}

/// Parses the arguments after the program name. Errors are collected, not fatal: a
/// kernel may hand PID 1 words of its command line that were never meant for it.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> (Args, Vec<UsageError>) {
    let mut out = Args::default();
    let mut errors = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let bytes = arg.as_bytes();
        let (flag, inline) = match bytes.iter().position(|&b| b == b'=') {
            Some(at) if bytes.starts_with(b"--") => (
                bytes.get(..at),
                bytes
                    .get(at + 1..)
                    .map(|v| OsString::from(std::ffi::OsStr::from_bytes(v))),
            ),
            _ => (Some(bytes), None),
        };
        let mut value = |flag: &'static str| match inline.clone().or_else(|| it.next()) {
            Some(v) => Some(v),
            None => {
                errors.push(UsageError::MissingValue { flag });
                None
            }
        };
        match flag {
            Some(b"--") => {
                out.manager_args.extend(it.by_ref());
            }
            Some(b"--container") => out.container = true,
            Some(b"-h" | b"--help") => out.help = true,
            Some(b"--manager") => out.manager = value("--manager").map(PathBuf::from),
            Some(b"--main") => out.main = value("--main"),
            Some(b"--shell") => out.shell = value("--shell").map(PathBuf::from),
            _ => errors.push(UsageError::Unknown { arg }),
        }
    }
    (out, errors)
}

/// The `vigil.*` options of a kernel command line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Kernel {
    pub manager: Option<PathBuf>,
    pub target: Option<OsString>,
    pub main: Option<OsString>,
    pub debug: bool,
    pub emergency: bool,
}

pub fn parse_kernel(cmdline: &[u8]) -> Kernel {
    let mut out = Kernel::default();
    for word in cmdline.split(|b| b.is_ascii_whitespace()) {
        let (key, value) = match word.iter().position(|&b| b == b'=') {
            Some(at) => (word.get(..at), word.get(at + 1..)),
            None => (Some(word), None),
        };
        let value = value.map(|v| OsString::from(std::ffi::OsStr::from_bytes(v)));
        match key {
            Some(b"vigil.manager") => out.manager = value.map(PathBuf::from),
            Some(b"vigil.target") => out.target = value,
            Some(b"vigil.main") => out.main = value,
            Some(b"vigil.debug") => out.debug = true,
            Some(b"vigil.emergency") => out.emergency = true,
            _ => {}
        }
    }
    out
}

/// Reads /proc/cmdline (empty when it cannot).
pub fn read_kernel() -> Kernel {
    match std::fs::read("/proc/cmdline") {
        Ok(text) => parse_kernel(&text),
        Err(_) => Kernel::default(),
    }
}

/// The manager's arguments: what the kernel command line and our own flags ask for,
/// then what followed `--`. The kernel command line wins over our own flags, because it
/// is what an operator types at the boot prompt. In a container the services' output
/// goes to the container's stdout, each line prefixed with its unit's name.
pub fn manager_args(args: &Args, kernel: &Kernel, container: bool) -> Vec<OsString> {
    let mut out = Vec::new();
    if container {
        out.extend([OsString::from("--log-to"), OsString::from("console")]);
    }
    if let Some(target) = &kernel.target {
        out.extend([OsString::from("--target"), target.clone()]);
    }
    if kernel.debug {
        out.push(OsString::from("--debug"));
    }
    if kernel.emergency {
        out.push(OsString::from("--emergency"));
    }
    if let Some(main) = kernel.main.as_ref().or(args.main.as_ref()) {
        out.extend([OsString::from("--main"), main.clone()]);
    }
    out.extend(args.manager_args.iter().cloned());
    out
}

/// The manager to run: `vigil.manager=`, then `--manager`, then the first of vigild next
/// to this program, /usr/lib/vigil/vigild and /usr/sbin/vigild that exists (the last one
/// when none does, so that the failure names a path).
pub fn manager_path(args: &Args, kernel: &Kernel) -> PathBuf {
    if let Some(path) = kernel.manager.as_ref().or(args.manager.as_ref()) {
        return path.clone();
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("vigild")));
    let candidates = beside
        .into_iter()
        .chain(["/usr/lib/vigil/vigild".into(), "/usr/sbin/vigild".into()]);
    let mut last = PathBuf::from("/usr/sbin/vigild");
    for candidate in candidates {
        if candidate.exists() {
            return candidate;
        }
        last = candidate;
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn arguments() {
        let (args, errors) = parse(os(&[
            "--container",
            "--manager=/m",
            "--main",
            "web",
            "--",
            "--socket",
            "/s",
        ]));
        assert!(errors.is_empty());
        assert!(args.container);
        assert_eq!(args.manager, Some(PathBuf::from("/m")));
        assert_eq!(args.main, Some(OsString::from("web")));
        assert_eq!(args.manager_args, os(&["--socket", "/s"]));
    }

    #[test]
    fn bad_arguments_are_collected() {
        let (args, errors) = parse(os(&["single", "--manager"]));
        assert_eq!(
            errors,
            vec![
                UsageError::Unknown {
                    arg: OsString::from("single")
                },
                UsageError::MissingValue { flag: "--manager" }
            ]
        );
        assert_eq!(args.manager, None);
    }

    #[test]
    fn kernel_options_become_manager_arguments() {
        let kernel = parse_kernel(b"root=/dev/vda quiet vigil.target=rescue.target vigil.debug vigil.main=app vigil.manager=/sbin/m\n");
        assert_eq!(kernel.manager, Some(PathBuf::from("/sbin/m")));
        let (args, _) = parse(os(&["--main", "ignored", "--", "--socket", "/s"]));
        assert_eq!(
            manager_args(&args, &kernel, true),
            os(&[
                "--log-to",
                "console",
                "--target",
                "rescue.target",
                "--debug",
                "--main",
                "app",
                "--socket",
                "/s"
            ])
        );
        assert_eq!(manager_path(&args, &kernel), PathBuf::from("/sbin/m"));
    }
}
