//! vigil-init's arguments and the kernel's `vigil.*` options, turned into what to run:
//! the manager's and the shell's argv and envp. Runs once, at start. A bad argument is
//! collected, not fatal: a kernel may hand PID 1 words never meant for it.

use core::ffi::CStr;

use rustix::fs::{Access, CWD, Mode, OFlags, access};

use crate::log::{self, say};
use crate::sys::{self, Exec, nth};

pub const HELP: &str = "\
usage: vigil-init [--container] [--manager PATH] [--main UNIT] [--shell PATH] [-- MANAGER-ARGS...]

vigil's PID 1: starts the service manager, keeps it alive, reaps orphans, shuts down.
  --container     no mounts, no reboot(2): exit with the manager's code (also chosen
                  when PID 1 in a container)
  --manager PATH  the manager (default: vigild beside vigil-init, /usr/lib/vigil/vigild,
                  /usr/sbin/vigild)
  --main UNIT     the container's main unit, passed on to the manager
  --shell PATH    the emergency shell (default /bin/sh)
  --final ACTION  the end of a shutdown (poweroff, reboot, halt, kexec), run by a
                  vigil-init that was replaced on disk
  -h, --help      this text
  -- ARGS...      passed on to the manager
On a real boot the kernel command line may hold vigil.manager=PATH, vigil.target=UNIT,
vigil.main=UNIT, vigil.debug, vigil.emergency. docs/INIT.md has the rest.
";

type Str = &'static CStr;

#[derive(Debug, Default)]
pub struct Args {
    pub container: bool,
    pub help: bool,
    /// `--final ACTION`: the final sequence's end, by the vigil-init that replaced ours.
    pub last: Option<Str>,
    manager: Option<Str>,
    main: Option<Str>,
    shell: Option<Str>,
    target: Option<Str>,
    debug: bool,
    emergency: bool,
    /// Where the arguments after `--` start in argv.
    rest: usize,
    /// The first bad arguments: what is wrong, and the argument.
    pub errors: [Option<(&'static str, Str)>; 4],
}

impl Args {
    pub fn error(&mut self, what: &'static str, arg: Str) {
        if let Some(slot) = self.errors.iter_mut().find(|e| e.is_none()) {
            *slot = Some((what, arg));
        }
    }
}

/// Parses argv after the program's name: `--flag VALUE` or `--flag=VALUE`.
pub fn parse(argv: *const *const u8) -> Args {
    let mut out = Args::default();
    let mut i = 1;
    while let Some(arg) = nth(argv, i) {
        i += 1;
        let text = arg.to_bytes_with_nul();
        let (flag, inline) = match text.iter().position(|&b| b == b'=') {
            Some(at) if text.starts_with(b"--") => (text.get(..at), text.get(at + 1..)),
            _ => (Some(arg.to_bytes()), None),
        };
        let slot = match flag.unwrap_or_default() {
            b"--" => {
                out.rest = i;
                break;
            }
            b"--container" | b"--help" if inline.is_some() => {
                out.error("takes no value: ", arg);
                continue;
            }
            b"--container" => {
                out.container = true;
                continue;
            }
            b"-h" | b"--help" => {
                out.help = true;
                continue;
            }
            b"--manager" => &mut out.manager,
            b"--main" => &mut out.main,
            b"--shell" => &mut out.shell,
            b"--final" => &mut out.last,
            _ => {
                out.error("unknown argument ", arg);
                continue;
            }
        };
        *slot = match inline {
            Some(value) => CStr::from_bytes_with_nul(value).ok(),
            None => nth(argv, i).inspect(|_| i += 1),
        };
        if slot.is_none() {
            out.error("needs a value: ", arg);
        }
    }
    out
}

/// Reads the `vigil.*` options of /proc/cmdline into `args`. They win over our own
/// arguments: they are what an operator types at the boot prompt.
pub fn read_kernel(args: &mut Args) {
    let Ok(fd) = rustix::fs::open(c"/proc/cmdline", OFlags::RDONLY, Mode::empty()) else {
        return;
    };
    let buf = sys::zeroed::<u8>(4096);
    let len = rustix::io::read(&fd, buf.get_mut(..4095).unwrap_or_default()).unwrap_or(0);
    // Each word becomes a C string in place, to be used as it is.
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
        match key.unwrap_or_default() {
            b"vigil.manager" => args.manager = value.or(args.manager),
            b"vigil.target" => args.target = value,
            b"vigil.main" => args.main = value.or(args.main),
            b"vigil.debug" => args.debug = true,
            b"vigil.emergency" => args.emergency = true,
            _ => {}
        }
    }
}

pub fn exists(path: &CStr) -> bool {
    access(path, Access::EXISTS).is_ok()
}

/// The manager: `vigil.manager=`, `--manager`, or the first of vigild beside this
/// program, /usr/lib/vigil/vigild that exists, else /usr/sbin/vigild (a failure then
/// names a path).
fn manager_path(args: &Args) -> Str {
    if let Some(path) = args.manager {
        return path;
    }
    let found = [beside(b"vigild\0"), Some(c"/usr/lib/vigil/vigild")]
        .into_iter()
        .flatten()
        .find(|p| exists(p));
    found.unwrap_or(c"/usr/sbin/vigild")
}

/// The program `name` (NUL-terminated) in this program's directory.
fn beside(name: &[u8]) -> Option<Str> {
    let buf = sys::zeroed::<u8>(4096);
    let exe = rustix::fs::readlinkat_raw(
        CWD,
        c"/proc/self/exe",
        buf.get_mut(..4000).unwrap_or_default(),
    );
    let at = exe
        .ok()
        .and_then(|n| buf.get(..n)?.iter().rposition(|&b| b == b'/'))?;
    buf.get_mut(at + 1..at + 1 + name.len())?
        .copy_from_slice(name);
    CStr::from_bytes_until_nul(buf).ok()
}

/// `init 6`, `init q`: run as `init` or `telinit` (/sbin/init linked to
/// vigil-init) and not PID 1, vigil-init is telinit, as systemd's init is:
/// `vigil` (beside this program, else /usr/bin/vigil) runs with the same
/// argv and environment, and acts by that name. Never a second manager for
/// a mistyped `init`. Returns for any other name.
pub fn telinit(argv: *const *const u8, envp: *const *const u8) {
    let name = nth(argv, 0).map(|n| n.to_bytes().rsplit(|&b| b == b'/').next());
    if !matches!(name, Some(Some(b"init" | b"telinit"))) {
        return;
    }
    let path = beside(b"vigil\0")
        .filter(|p| exists(p))
        .unwrap_or(c"/usr/bin/vigil");
    let e = sys::execve(path, sys::strings(argv), sys::strings(envp));
    say!(
        log::WARNING,
        "cannot run {}: {}",
        log::show(path),
        log::Why(e)
    );
    sys::exit(1);
}

/// The manager's and the shell's programs. The manager's command line: `PATH [--container
/// --log-to console] [--target T] [--debug] [--emergency] [--main M] MANAGER-ARGS...` (a container's
/// services log to its stdout, prefixed by unit). The environment is ours without a stale
/// VIGIL_INIT_FD, with a PATH when it has none (the kernel gives PID 1 none); the
/// manager's starts with VIGIL_INIT_FD=3.
pub fn programs(args: &Args, argv: *const *const u8, envp: *const *const u8) -> (Exec, Exec) {
    let env = || (0..).map_while(|i| nth(envp, i));
    let manager_env = sys::zeroed(sys::ENV);
    // Ours first: no number of variables can push them out.
    add(manager_env, [c"VIGIL_INIT_FD=3"]);
    if !env().any(|v| v.to_bytes().starts_with(b"PATH=")) {
        let path = c"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        add(manager_env, [path]);
    }
    let theirs = || env().filter(|v| !v.to_bytes().starts_with(b"VIGIL_INIT_FD="));
    let set = |list: &[*const u8]| list.iter().take_while(|p| !p.is_null()).count();
    let ours = set(manager_env);
    theirs().for_each(|v| add(manager_env, [v]));
    let left = theirs().count().saturating_sub(set(manager_env) - ours);
    if left > 0 {
        say!(log::WARNING, "{left} variables not passed to the manager");
    }
    // The shell's: the same without VIGIL_INIT_FD.
    let manager_env: &'static [*const u8] = manager_env;
    let shell_env = manager_env.get(1..).unwrap_or_default();
    let nulls = || [core::ptr::null(); 96];
    let path = args.shell.unwrap_or(c"/bin/sh");
    let mut shell = Exec {
        path,
        argv: nulls(),
        envp: shell_env,
    };
    add(&mut shell.argv, [path]);
    let path = manager_path(args);
    let mut manager = Exec {
        path,
        argv: nulls(),
        envp: manager_env,
    };
    add(&mut manager.argv, [path]);
    if args.container {
        add(&mut manager.argv, [c"--container", c"--log-to", c"console"]);
    }
    if let Some(target) = args.target {
        add(&mut manager.argv, [c"--target", target]);
    }
    if args.debug {
        add(&mut manager.argv, [c"--debug"]);
    }
    if args.emergency {
        add(&mut manager.argv, [c"--emergency"]);
    }
    if let Some(main) = args.main {
        add(&mut manager.argv, [c"--main", main]);
    }
    let rest = (args.rest..).map_while(|i| nth(argv, i).filter(|_| args.rest > 0));
    let before = set(&manager.argv);
    rest.clone().for_each(|arg| add(&mut manager.argv, [arg]));
    let left = rest.count().saturating_sub(set(&manager.argv) - before);
    if left > 0 {
        say!(log::WARNING, "{left} arguments not passed to the manager");
    }
    (manager, shell)
}

/// Appends to a NULL-terminated pointer array, dropping what does not fit.
fn add<const K: usize>(list: &mut [*const u8], items: [Str; K]) {
    let len = list.iter().position(|p| p.is_null()).unwrap_or(list.len());
    let room = list.len().saturating_sub(1).saturating_sub(len);
    for (slot, item) in list.iter_mut().skip(len).take(room).zip(items) {
        *slot = item.as_ptr().cast();
    }
}
