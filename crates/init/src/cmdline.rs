//! vigil-init's own command line and the `vigil.*` options of the kernel command line,
//! turned into what to run: the manager's and the shell's argv and envp. Runs once, at
//! start. Never fails as PID 1: a bad argument is reported by the caller and ignored.

use core::ffi::CStr;

use rustix::fs::{Access, Mode, OFlags, access};

use crate::sys::{self, Exec, nth};

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

type Str = &'static CStr;

/// What vigil-init's arguments and the kernel's `vigil.*` options say.
#[derive(Debug, Default)]
pub struct Args {
    pub container: bool,
    pub help: bool,
    manager: Option<Str>,
    main: Option<Str>,
    shell: Option<Str>,
    target: Option<Str>,
    debug: bool,
    emergency: bool,
    /// Where the arguments after `--` start in argv.
    rest: usize,
    /// The first bad arguments: (what is wrong, the argument).
    pub errors: [Option<(&'static str, Str)>; 4],
}

impl Args {
    fn error(&mut self, what: &'static str, arg: Str) {
        if let Some(slot) = self.errors.iter_mut().find(|e| e.is_none()) {
            *slot = Some((what, arg));
        }
    }
}

/// Parses argv (after the program name). Errors are collected, not fatal: a kernel may
/// hand PID 1 words of its command line that were never meant for it.
pub fn parse(argv: *const *const u8) -> Args {
    let mut out = Args::default();
    let mut i = 1;
    while let Some(arg) = nth(argv, i) {
        i += 1;
        let (flag, inline) = match arg.to_bytes().iter().position(|&b| b == b'=') {
            Some(at) if arg.to_bytes().starts_with(b"--") => (
                arg.to_bytes().get(..at),
                arg.to_bytes_with_nul().get(at + 1..),
            ),
            _ => (Some(arg.to_bytes()), None),
        };
        let slot = match flag {
            Some(b"--") => {
                out.rest = i;
                break;
            }
            Some(b"--container") => {
                out.container = true;
                continue;
            }
            Some(b"-h" | b"--help") => {
                out.help = true;
                continue;
            }
            Some(b"--manager") => &mut out.manager,
            Some(b"--main") => &mut out.main,
            Some(b"--shell") => &mut out.shell,
            _ => {
                out.error("unknown argument ", arg);
                continue;
            }
        };
        let value = inline
            .and_then(|v| CStr::from_bytes_with_nul(v).ok())
            .or_else(|| {
                let next = nth(argv, i);
                i += usize::from(next.is_some());
                next
            });
        *slot = value;
        if value.is_none() {
            out.error("needs a value: ", arg);
        }
    }
    out
}

/// Reads the `vigil.*` options of /proc/cmdline into `args`; they win over our own
/// flags, because they are what an operator types at the boot prompt.
pub fn read_kernel(args: &mut Args) {
    let buf = sys::zeroed::<u8>(4096);
    let flags = OFlags::RDONLY | OFlags::CLOEXEC;
    let Ok(fd) = rustix::fs::open(c"/proc/cmdline", flags, Mode::empty()) else {
        return;
    };
    let len = rustix::io::read(&fd, buf.get_mut(..4095).unwrap_or_default()).unwrap_or(0);
    // Each word becomes a C string in place: the values are used as they are.
    buf.iter_mut()
        .take(len)
        .filter(|b| b.is_ascii_whitespace())
        .for_each(|b| *b = 0);
    let buf: &'static [u8] = buf;
    for word in buf
        .get(..=len)
        .unwrap_or_default()
        .split_inclusive(|&b| b == 0)
    {
        let (key, value) = match word.iter().position(|&b| b == b'=') {
            Some(at) => (word.get(..at), word.get(at + 1..)),
            None => (word.strip_suffix(b"\0"), None),
        };
        let value = value.and_then(|v| CStr::from_bytes_with_nul(v).ok());
        match key {
            Some(b"vigil.manager") => args.manager = value.or(args.manager),
            Some(b"vigil.target") => args.target = value,
            Some(b"vigil.main") => args.main = value.or(args.main),
            Some(b"vigil.debug") => args.debug = true,
            Some(b"vigil.emergency") => args.emergency = true,
            _ => {}
        }
    }
}

/// The manager to run: `vigil.manager=`, then `--manager`, then the first of vigild next
/// to this program, /usr/lib/vigil/vigild and /usr/sbin/vigild that exists (the last one
/// when none does, so that the failure names a path).
fn manager_path(args: &Args) -> Str {
    if let Some(path) = args.manager {
        return path;
    }
    let buf = sys::zeroed::<u8>(4096);
    let exe = rustix::fs::readlinkat_raw(
        rustix::fs::CWD,
        c"/proc/self/exe",
        buf.get_mut(..4000).unwrap_or_default(),
    );
    let exe = exe.ok().and_then(|n| buf.get(..n));
    let dir = exe
        .and_then(|e| e.iter().rposition(|&b| b == b'/'))
        .map_or(0, |at| at + 1);
    if let Some(name) = buf.get_mut(dir..dir + 7) {
        name.copy_from_slice(b"vigild\0");
    }
    let beside = CStr::from_bytes_until_nul(buf).ok().filter(|_| dir > 0);
    [beside, Some(c"/usr/lib/vigil/vigild")]
        .into_iter()
        .flatten()
        .find(|p| exists(p))
        .unwrap_or(c"/usr/sbin/vigild")
}

pub fn exists(path: &CStr) -> bool {
    access(path, Access::EXISTS).is_ok()
}

/// The manager's and the shell's programs. The manager's command line is `PATH
/// [--log-to console] [--target T] [--debug] [--emergency] [--main M] MANAGER-ARGS...`; in a
/// container the services' output goes to the container's stdout, prefixed by unit.
pub fn programs(args: &Args, argv: *const *const u8, envp: *const *const u8) -> (Exec, Exec) {
    let path = manager_path(args);
    let mut manager = Exec {
        path,
        argv: [core::ptr::null(); 96],
        envp: [core::ptr::null(); 288],
    };
    let mut list = List(&mut manager.argv, 0);
    list.add(&[path]);
    if args.container {
        list.add(&[c"--log-to", c"console"]);
    }
    if let Some(target) = args.target {
        list.add(&[c"--target", target]);
    }
    if args.debug {
        list.add(&[c"--debug"]);
    }
    if args.emergency {
        list.add(&[c"--emergency"]);
    }
    if let Some(main) = args.main {
        list.add(&[c"--main", main]);
    }
    let rest = (args.rest..).map_while(|i| nth(argv, i).filter(|_| args.rest > 0));
    rest.for_each(|arg| list.add(&[arg]));
    let shell_path = args.shell.unwrap_or(c"/bin/sh");
    let mut shell = Exec {
        path: shell_path,
        argv: [core::ptr::null(); 96],
        envp: [core::ptr::null(); 288],
    };
    List(&mut shell.argv, 0).add(&[shell_path]);
    // Our environment without a stale VIGIL_INIT_FD, with a PATH (the kernel gives PID 1
    // none); the manager's gets VIGIL_INIT_FD=3.
    let mut env = List(&mut shell.envp, 0);
    let mut has_path = false;
    for var in (0..).map_while(|i| nth(envp, i)) {
        has_path |= var.to_bytes().starts_with(b"PATH=");
        if !var.to_bytes().starts_with(b"VIGIL_INIT_FD=") {
            env.add(&[var]);
        }
    }
    if !has_path {
        env.add(&[c"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]);
    }
    let n = env.1;
    manager.envp = shell.envp;
    List(&mut manager.envp, n).add(&[c"VIGIL_INIT_FD=3"]);
    (manager, shell)
}

/// Appends to a NULL-terminated pointer array, dropping what does not fit.
struct List<'a, const N: usize>(&'a mut [*const u8; N], usize);

impl<const N: usize> List<'_, N> {
    fn add(&mut self, items: &[Str]) {
        for s in items {
            if self.1 + 1 < N
                && let Some(slot) = self.0.get_mut(self.1)
            {
                *slot = s.as_ptr().cast();
                self.1 += 1;
            }
        }
    }
}
