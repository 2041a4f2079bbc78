//! System V's commands under their own names: `poweroff`, `reboot`, `halt`,
//! `shutdown`, `runlevel` and `telinit`, each a link to `vigil`, which looks
//! at the name it was run by (as systemd-sysv links them to systemctl).
//! People type these names, scripts call them, and Debian's `invoke-rc.d`
//! (packages' maintainer scripts) asks `runlevel` before it runs an init
//! script. Their options are sysvinit's and systemd's; docs/INIT.md lists
//! them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use vigil_proto::PowerAction;

use crate::Exit;
use crate::cli::{Command, Verb};
use crate::out::{out, outln};

/// Which command the name says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `halt`, `poweroff`, `reboot`: the action each does by default.
    Halt(PowerAction),
    Shutdown,
    Runlevel,
    Telinit,
}

/// The command a program name (argv[0], a path or not) stands for; None for
/// `vigil` and every other name.
pub fn tool(argv0: &str) -> Option<Tool> {
    let name = argv0.rsplit('/').next().unwrap_or(argv0);
    Some(match name {
        "halt" => Tool::Halt(PowerAction::Halt),
        "poweroff" => Tool::Halt(PowerAction::Poweroff),
        "reboot" => Tool::Halt(PowerAction::Reboot),
        "shutdown" => Tool::Shutdown,
        "runlevel" => Tool::Runlevel,
        // vigil-init run as `init`, not PID 1, execs vigil by that name.
        "telinit" | "init" => Tool::Telinit,
        _ => return None,
    })
}

/// Runs the command; `args` without the program name.
pub fn run(tool: Tool, args: &[String]) -> Exit {
    let name = match tool {
        Tool::Halt(action) => action.as_str(),
        Tool::Shutdown => "shutdown",
        Tool::Runlevel => "runlevel",
        Tool::Telinit => "telinit",
    };
    let parsed = match tool {
        Tool::Halt(action) => parse_halt(action, args).map(|h| h.map(Parsed::Halt)),
        Tool::Shutdown => parse_shutdown(args).map(|s| s.map(Parsed::Shutdown)),
        Tool::Runlevel => parse_runlevel(args).map(|r| r.map(Parsed::Runlevel)),
        Tool::Telinit => parse_telinit(args).map(|t| t.map(Parsed::Telinit)),
    };
    match parsed {
        Ok(Some(Parsed::Halt(h))) => halt(name, &h),
        Ok(Some(Parsed::Shutdown(s))) => shutdown(&s),
        Ok(Some(Parsed::Runlevel(utmp))) => runlevel(&utmp),
        // 0 and 6 as `poweroff` and `reboot` (told to every terminal first).
        Ok(Some(Parsed::Telinit(Verb::Shutdown(Some(action))))) => {
            let h = Halt {
                action,
                force: false,
                sync: true,
                wall: true,
            };
            halt(name, &h)
        }
        Ok(Some(Parsed::Telinit(verb))) => request(verb),
        Ok(None) => {
            out!("{}", help(tool));
            Exit::Success
        }
        Err(msg) => {
            eprintln!("{name}: {msg}");
            eprintln!("try '{name} --help'");
            Exit::Usage
        }
    }
}

enum Parsed {
    Halt(Halt),
    Shutdown(Shutdown),
    Runlevel(PathBuf),
    Telinit(Verb),
}

fn help(tool: Tool) -> String {
    match tool {
        Tool::Halt(action) => {
            let name = action.as_str();
            format!(
                "usage: {name} [OPTIONS]

{} the machine: vigild stops every unit in reverse dependency order, then
vigil-init ends the boot (as `vigil {name}`).

  -p, --poweroff   power off instead       --reboot   reboot instead
  --halt           halt instead
  -f, --force      at once: sync, then reboot(2) itself; no unit is stopped and
                   no file system unmounted (-ff: the same)
  -n, --no-sync    with --force: no sync first
  --no-wall        no message to every terminal (wall) first
  -d, --no-wtmp, -i, -h
                   accepted, nothing to do (the shutdown's wtmp record is
                   vigil-utmp.service's)
  --help           this text
",
                match action {
                    PowerAction::Poweroff => "Powers off",
                    PowerAction::Reboot => "Reboots",
                    PowerAction::Halt => "Halts",
                }
            )
        }
        Tool::Shutdown => "usage: shutdown [OPTIONS] [TIME] [MESSAGE...]

Powers off (or halts, or reboots) the machine at TIME: `now`, `+M` or `M` (in
M minutes) or `HH:MM` (the next time the local clock says it); `+1` when not
given, as systemd's. For a later time a waiter is left behind (a session of
its own: a logout does not end it) and the command returns; `shutdown -c`
cancels it, a new `shutdown TIME` replaces it. From 5 minutes before,
/run/nologin keeps users out. Every terminal is told (wall), with MESSAGE.

  -P, --poweroff   power off (the default; -h too, unless -H came first)
  -H, --halt       halt                     -r, --reboot   reboot
  -k               only the message: nothing is done
  -c [MESSAGE]     cancel the shutdown that is waiting
  --no-wall        no message
  -t SECONDS, -f, -F, -a
                   accepted, nothing to do (sysvinit's)
  --help           this text
"
        .to_string(),
        Tool::Runlevel => "usage: runlevel [UTMP]

Prints the runlevel before and the current one (`N 3`), from the runlevel
record of UTMP (/run/utmp), which vigil-utmp-runlevel.service writes once
multi-user.target (3) or graphical.target (5) is reached; `unknown` (exit 1)
before that, or without the record.
"
        .to_string(),
        Tool::Telinit => "usage: telinit 0|6|q|u

  0   power off (vigil poweroff)       6   reboot (vigil reboot)
  q   read the configuration again (vigil sync)
  u   re-execute the manager (vigil reexec)

Runlevels 1 to 5 are targets under vigil, reached at boot: there is no
switching between them.
"
        .to_string(),
    }
}

/// One command-line word, split into its flags: `-fn` is `-f -n`; a long
/// option is itself.
fn flags(arg: &str) -> Vec<String> {
    match arg.strip_prefix('-') {
        Some(short) if !short.starts_with('-') && !short.is_empty() => {
            short.chars().map(|c| format!("-{c}")).collect()
        }
        _ => vec![arg.to_string()],
    }
}

#[derive(Debug, PartialEq)]
struct Halt {
    action: PowerAction,
    force: bool,
    sync: bool,
    wall: bool,
}

fn parse_halt(action: PowerAction, args: &[String]) -> Result<Option<Halt>, String> {
    let mut h = Halt {
        action,
        force: false,
        sync: true,
        wall: true,
    };
    for arg in args {
        for flag in flags(arg) {
            match flag.as_str() {
                "--help" => return Ok(None),
                "-p" | "--poweroff" => h.action = PowerAction::Poweroff,
                "--halt" => h.action = PowerAction::Halt,
                "--reboot" => h.action = PowerAction::Reboot,
                "-f" | "--force" => h.force = true,
                "-n" | "--no-sync" => h.sync = false,
                "--no-wall" => h.wall = false,
                "-d" | "--no-wtmp" | "-i" | "-h" => {}
                "-w" | "--wtmp-only" => {
                    return Err(format!(
                        "{flag}: the shutdown's wtmp record is vigil-utmp.service's \
                         (vigil-boot utmp --shutdown)"
                    ));
                }
                other if other.starts_with('-') => {
                    return Err(format!("unknown option {other}"));
                }
                other => return Err(format!("unexpected argument {other:?}")),
            }
        }
    }
    Ok(Some(h))
}

fn halt(name: &str, h: &Halt) -> Exit {
    use vigil_platform::process::Reboot;
    if !h.force {
        if h.wall {
            tell_now(&format!("The system will {} now!\n", verb(h.action)));
        }
        let exit = request(Verb::Shutdown(Some(h.action)));
        if exit == Exit::Unreachable {
            let force = h.action.as_str();
            eprintln!("{name}: '{force} --force' does it at once, without stopping the units");
        }
        return exit;
    }
    if h.sync {
        vigil_platform::process::sync();
    }
    let e = vigil_platform::process::reboot(match h.action {
        PowerAction::Poweroff => Reboot::PowerOff,
        PowerAction::Reboot => Reboot::Restart,
        PowerAction::Halt => Reboot::Halt,
    });
    eprintln!("{name}: reboot(2) failed: {e}");
    Exit::Failed
}

/// The manager these commands address: $VIGIL_SOCKET's, else the system's
/// (/run/vigil/control.sock), whoever runs them: as systemd's, they act on
/// the machine, never on a user's own manager (a user gets the manager's
/// refusal).
fn manager_socket() -> PathBuf {
    vigil_proto::named_socket_path(None)
        .unwrap_or_else(|| vigil_proto::default_socket_path(0, None))
}

/// Tells every terminal `text` before a shutdown now, as systemd's do, when
/// the manager is there and will take it from this user: root (the socket
/// lets anyone connect, and the manager refuses other users), and a manager
/// that can power the machine off (run by vigil-init).
fn tell_now(text: &str) {
    let root = vigil_platform::getuid() == 0;
    if root && matches!(manager_can_power_off(), Ok(true)) {
        wall(text);
    }
}

/// Whether the manager answers (Err when not), and can power the machine
/// off: it runs under vigil-init (a vigild that does not say is taken at
/// its word, as before it said).
fn manager_can_power_off() -> Result<bool, ()> {
    let pong = crate::client::ping(&manager_socket()).ok_or(())?;
    Ok(pong.under_init != Some(false))
}

/// Sends `verb` to the manager ([`manager_socket`]).
fn request(verb: Verb) -> Exit {
    crate::client::run(Command {
        socket: Some(manager_socket()),
        json: false,
        verb,
    })
}

/// When `shutdown` acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    Now,
    /// In this many minutes.
    In(u64),
    /// At this hour and minute of the local clock.
    At(u32, u32),
}

#[derive(Debug, PartialEq)]
struct Shutdown {
    action: PowerAction,
    when: When,
    wall: bool,
    /// `-k`: the message only.
    dry: bool,
    cancel: bool,
    message: String,
    /// `--wait-until=SECONDS`: the waiter `shutdown TIME` leaves behind
    /// (not for people: not in the help).
    waiter: Option<i64>,
}

/// `now`, `+M` or `M` (minutes), `H:MM` (1 or 2 digits each).
fn parse_time(spec: &str) -> Option<When> {
    if spec == "now" {
        return Some(When::Now);
    }
    let digits = |s: &str, most: usize| {
        !s.is_empty() && s.len() <= most && s.bytes().all(|b| b.is_ascii_digit())
    };
    let minutes = spec.strip_prefix('+').unwrap_or(spec);
    if digits(minutes, 20) {
        return match minutes.parse::<u64>().ok()? {
            0 => Some(When::Now),
            m => Some(When::In(m)),
        };
    }
    let (h, m) = spec.split_once(':')?;
    if !digits(h, 2) || !digits(m, 2) {
        return None;
    }
    let (h, m) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(When::At(h, m))
}

/// Options anywhere before `--` (as both getopt_long-using `shutdown`s
/// permute them: `shutdown now -r` reboots), in order: `-h` is `-P` unless
/// `-H` came first.
fn parse_shutdown(args: &[String]) -> Result<Option<Shutdown>, String> {
    let mut s = Shutdown {
        action: PowerAction::Poweroff,
        when: When::In(1),
        wall: true,
        dry: false,
        cancel: false,
        message: String::new(),
        waiter: None,
    };
    let mut words = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if !arg.starts_with('-') || arg == "-" {
            words.push(arg.as_str());
            continue;
        }
        if arg == "--" {
            words.extend(it.by_ref().map(String::as_str));
            break;
        }
        for flag in flags(arg) {
            match flag.as_str() {
                "--help" => return Ok(None),
                "-P" | "--poweroff" => s.action = PowerAction::Poweroff,
                "-H" | "--halt" => s.action = PowerAction::Halt,
                "-r" | "--reboot" => s.action = PowerAction::Reboot,
                "-h" if s.action != PowerAction::Halt => s.action = PowerAction::Poweroff,
                "-h" => {}
                "-k" => s.dry = true,
                "-c" => s.cancel = true,
                "--no-wall" => s.wall = false,
                // sysvinit's fsck flags and /etc/shutdown.allow (systemd ignores them too)
                "-f" | "-F" | "-a" => {}
                f if f.starts_with("--wait-until=") => {
                    let t = f.trim_start_matches("--wait-until=");
                    s.waiter = Some(t.parse().map_err(|_| format!("{f}: not a time"))?);
                }
                // -t SECONDS (sysvinit's wait between SIGTERM and SIGKILL):
                // the value is the rest of the word (no other flag has a
                // `t`), or the next one.
                "-t" => {
                    let rest = arg.split_once('t').map_or("", |(_, rest)| rest);
                    let value = if rest.is_empty() {
                        it.next().cloned().ok_or("-t needs a number of seconds")?
                    } else {
                        rest.to_string()
                    };
                    if value.parse::<u64>().is_err() {
                        return Err(format!("-t {value}: not a number of seconds"));
                    }
                    break;
                }
                other => return Err(format!("unknown option {other}")),
            }
        }
    }
    if s.cancel {
        s.message = words.join(" ");
        return Ok(Some(s));
    }
    if let Some((first, rest)) = words.split_first() {
        s.when = parse_time(first)
            .ok_or_else(|| format!("cannot read the time {first:?}: now, +MINUTES or HH:MM"))?;
        s.message = rest.join(" ");
    }
    Ok(Some(s))
}

/// The file a waiting `shutdown` keeps beside the manager's control socket:
/// its PID, the action and when, so that `shutdown -c` finds it.
fn scheduled_file() -> PathBuf {
    let socket = manager_socket();
    socket
        .parent()
        .unwrap_or(Path::new("/"))
        .join("shutdown.scheduled")
}

/// Whether this is the system's manager: only then does a shutdown keep
/// users out with /run/nologin.
fn system_manager() -> bool {
    manager_socket() == vigil_proto::default_socket_path(0, None)
}

const NOLOGIN: &str = "/run/nologin";
/// How a /run/nologin of a scheduled shutdown begins (any other is the admin's).
const NOLOGIN_OURS: &str = "The system will ";

/// Takes /run/nologin away if a scheduled shutdown wrote it.
fn nologin_away() {
    if std::fs::read_to_string(NOLOGIN).is_ok_and(|t| t.starts_with(NOLOGIN_OURS)) {
        let _ = std::fs::remove_file(NOLOGIN);
    }
}

/// What the action is in a sentence: "The system will {verb} ...".
fn verb(action: PowerAction) -> &'static str {
    match action {
        PowerAction::Poweroff => "power off",
        PowerAction::Reboot => "reboot",
        PowerAction::Halt => "halt",
    }
}

/// Writes `text` to every terminal with `wall`, where there is one (Debian's
/// bsdutils); nothing is said when there is none.
fn wall(text: &str) {
    use std::io::Write as _;
    let mut cmd = std::process::Command::new("wall");
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
    // The waiter blocks SIGINT and SIGTERM, which would reach wall blocked.
    if let Ok(mut child) = vigil_platform::process::with_default_signals(&mut cmd).spawn() {
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(text.as_bytes());
        }
        let _ = child.wait();
    }
}

fn with_message(text: &str, message: &str) -> String {
    if message.is_empty() {
        format!("{text}\n")
    } else {
        format!("{text}\n{message}\n")
    }
}

fn now_secs() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| d.as_secs() as i64)
}

fn shutdown(s: &Shutdown) -> Exit {
    if s.cancel {
        return cancel(s);
    }
    if let Some(at) = s.waiter {
        return wait_then(s, at);
    }
    let now = now_secs();
    let at = match s.when {
        When::Now => None,
        When::In(m) => Some(
            i64::try_from(m)
                .ok()
                .and_then(|m| m.checked_mul(60))
                .and_then(|secs| now.checked_add(secs)),
        ),
        When::At(h, m) => Some(vigil_platform::time::next_local(now, h, m)),
    };
    let when = match at {
        None => "now".to_string(),
        Some(t) => match t.and_then(vigil_platform::time::local_text) {
            Some(text) => format!("at {text}"),
            None => {
                eprintln!("shutdown: {:?} is too far away", s.when);
                return Exit::Failed;
            }
        },
    };
    let text = format!("The system will {} {when}!", verb(s.action));
    if s.dry {
        if s.wall {
            wall(&with_message(
                &format!("{text} (only a warning)"),
                &s.message,
            ));
        }
        outln!("{text} (only a warning: -k)");
        return Exit::Success;
    }
    match at.flatten() {
        None => {
            if s.wall {
                tell_now(&with_message(&text, &s.message));
            }
            request(Verb::Shutdown(Some(s.action)))
        }
        Some(t) => schedule(s, t, &text),
    }
}

/// Leaves a waiter behind (this program again, with `--wait-until`), which
/// leads a session of its own, without a terminal, in `/`: a logout does not
/// end it, nor the stop of a unit that ran `shutdown` (unattended-upgrades'
/// reboot at 02:00), as systemd's scheduled shutdown is logind's. Says what
/// the waiter said once ready (its file written: `shutdown -c` finds it from
/// then on), then tells the terminals.
fn schedule(s: &Shutdown, at: i64, text: &str) -> Exit {
    use std::io::BufRead as _;
    use std::os::unix::process::CommandExt as _;
    // As the request would be refused then, not at the time.
    let socket = manager_socket();
    match manager_can_power_off() {
        Ok(true) => {}
        Ok(false) => {
            eprintln!(
                "shutdown: the manager at {} was not started by vigil-init: it cannot {} \
                 the machine, then or now (`vigil shutdown` stops every unit and ends it)",
                socket.display(),
                verb(s.action)
            );
            return Exit::Failed;
        }
        Err(()) => {
            eprintln!("shutdown: cannot reach the manager at {}", socket.display());
            return Exit::Unreachable;
        }
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("shutdown: cannot find this program to wait: {e}");
            return Exit::Failed;
        }
    };
    let action = match s.action {
        PowerAction::Poweroff => "-P",
        PowerAction::Reboot => "-r",
        PowerAction::Halt => "-H",
    };
    let mut waiter = std::process::Command::new(exe);
    waiter
        .arg0("shutdown")
        .args([action, &format!("--wait-until={at}")])
        .args((!s.wall).then_some("--no-wall"))
        .args(["--", "now", &s.message])
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = match waiter.spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("shutdown: cannot start the waiter: {e}");
            return Exit::Failed;
        }
    };
    let mut said = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = std::io::BufReader::new(out).read_line(&mut said);
    }
    if !said.starts_with("Shutdown scheduled") {
        let _ = child.wait();
        match said.strip_prefix("shutdown: ") {
            Some(why) => eprint!("shutdown: {why}"),
            None => {
                eprintln!("shutdown: the waiter ended before it was ready: nothing is scheduled")
            }
        }
        return Exit::Failed;
    }
    if s.wall {
        wall(&with_message(text, &s.message));
    }
    out!("{said}");
    Exit::Success
}

/// The PID the scheduled file names (its first word), if it names one.
fn recorded_pid(file: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(file).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// The waiting shutdown's PID, from its file; None when there is none, or
/// its PID is no waiter's now (a stale file, the PID reused).
fn waiter_pid(file: &Path) -> Option<u32> {
    let pid = recorded_pid(file)?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let mut words = cmdline.split(|&b| b == 0);
    let name = words.next().and_then(|w| w.rsplit(|&b| b == b'/').next());
    let is_waiter =
        name == Some(b"shutdown".as_slice()) && words.any(|w| w.starts_with(b"--wait-until="));
    is_waiter.then_some(pid)
}

/// `shutdown -c`: SIGINT to the waiter (which goes quietly, as on any
/// cancel: `-c` tells the terminals itself, with its message), then waits,
/// 5 s at most, until its file is no more its own.
fn cancel(s: &Shutdown) -> Exit {
    let file = scheduled_file();
    let Some(pid) = waiter_pid(&file) else {
        // A waiter killed (SIGKILL, the OOM killer) left these.
        let _ = std::fs::remove_file(&file);
        if system_manager() {
            nologin_away();
        }
        eprintln!("shutdown: no shutdown is scheduled");
        return Exit::Failed;
    };
    if let Err(e) = vigil_platform::process::kill(pid, libc_sig::INT) {
        eprintln!("shutdown: cannot cancel the shutdown of process {pid}: {e}");
        return Exit::Failed;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while recorded_pid(&file) == Some(pid) {
        if std::time::Instant::now() > deadline {
            eprintln!("shutdown: process {pid} did not end its shutdown within 5 s");
            return Exit::Failed;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if system_manager() {
        nologin_away();
    }
    if s.wall {
        wall(&with_message(
            "The system shutdown has been cancelled",
            &s.message,
        ));
    }
    Exit::Success
}

/// The waiter: waits until `at` (seconds since the epoch, on the wall clock),
/// its file telling `shutdown -c` where it is, then asks for the shutdown.
/// What it says before it is ready goes to the `shutdown` that started it
/// (its stdout), which says it; after that, only to the terminals (wall).
fn wait_then(s: &Shutdown, at: i64) -> Exit {
    use vigil_platform::signal::SignalFd;
    let fail = |what: String| {
        outln!("shutdown: {what}");
        Exit::Failed
    };
    // A session of its own (its group too); a hangup is no cancel.
    let _ = vigil_platform::process::setsid();
    let _ = vigil_platform::signal::ignore_signal(libc_sig::HUP);
    // Blocked before the file tells anyone to signal it, and from then on:
    // one that comes once the time is up is too late to cancel.
    let signals = [libc_sig::INT, libc_sig::TERM];
    let sigfd = match SignalFd::new(&signals) {
        Ok(fd) => fd,
        Err(e) => return fail(format!("cannot wait for signals: {e}")),
    };
    let file = scheduled_file();
    // One shutdown waits at a time: a new one replaces it, as systemd's does.
    // The old one is told after the file is this one's: it takes the file
    // (and /run/nologin) away only while the file is still its own. Under a
    // lock of the file's directory: two waiters started at once would both
    // find no waiter, and the one whose file was overwritten would wait on,
    // out of `shutdown -c`'s reach.
    let record = format!("{} {} {at}\n", std::process::id(), s.action.as_str());
    let parent = file.parent().unwrap_or(Path::new("/"));
    let lock = vigil_platform::dir::Dir::open(parent).and_then(|d| d.lock().map(|()| d));
    if let Err(e) = &lock {
        return fail(format!("cannot lock {}: {e}", parent.display()));
    }
    let old = waiter_pid(&file);
    if let Err(e) = write_new(&file, &record) {
        return fail(format!("cannot write {}: {e}", file.display()));
    }
    if let Some(old) = old {
        let _ = vigil_platform::process::kill(old, libc_sig::TERM);
    }
    drop(lock);
    // Whether the file is still this one's (replaced: the newer waiter decides).
    let own = || std::fs::read_to_string(&file).is_ok_and(|t| t == record);
    // Whether the file was still this one's (then it is gone).
    let forget = || {
        let own = own();
        if own {
            let _ = std::fs::remove_file(&file);
        }
        own
    };
    let Some(text) = vigil_platform::time::local_text(at) else {
        forget();
        return fail(format!("{at} is too far away"));
    };
    // /run/nologin: this waiter's text, taken away by this waiter (also once
    // replaced: the new one writes its own when its time is near), and one
    // an older waiter left is taken away now.
    let nologin = system_manager();
    let kept_out = format!("{NOLOGIN_OURS}{} at {text}: no login.\n", verb(s.action));
    // Not while another waiter is the one in the file: a replacement for the
    // same time writes the same text.
    let unkeep = || {
        let other = waiter_pid(&file).is_some_and(|p| p != std::process::id());
        if !other && std::fs::read_to_string(NOLOGIN).is_ok_and(|t| t == kept_out) {
            let _ = std::fs::remove_file(NOLOGIN);
        }
    };
    if nologin {
        nologin_away();
    }
    // A cancel (SIGINT from `shutdown -c`, which tells the terminals; SIGTERM
    // from `kill`, or from the end of a shutdown already under way) is quiet.
    let cancelled = || {
        forget();
        unkeep();
        Exit::Success
    };
    let keep_out = |left: i64| {
        if nologin && left <= 300 && !std::path::Path::new(NOLOGIN).exists() {
            let _ = std::fs::write(NOLOGIN, &kept_out);
        }
    };
    // Ready: its file written, and /run/nologin when the time is near.
    keep_out(at.saturating_sub(now_secs()));
    outln!("Shutdown scheduled for {text}, use 'shutdown -c' to cancel.");
    loop {
        let left = at.saturating_sub(now_secs());
        if left <= 0 {
            break;
        }
        keep_out(left);
        // A minute at most: the wall clock may be set meanwhile.
        let nap = Duration::from_secs(left.clamp(1, 60) as u64);
        if !matches!(sigfd.wait(nap), Ok(None)) {
            return cancelled();
        }
    }
    // A cancel that came with the time, or no longer the one scheduled.
    if !matches!(sigfd.read(), Ok(None)) || !own() {
        return cancelled();
    }
    if s.wall {
        let now = format!("The system will {} now!", verb(s.action));
        wall(&with_message(&now, &s.message));
    }
    // A manager between two runs (restarted by vigil-init, re-executing)
    // refuses for a moment: asked again for 30 s, the file kept meanwhile,
    // so that `shutdown -c`, a new `shutdown TIME` or a kill still ends it.
    let mut exit = request(Verb::Shutdown(Some(s.action)));
    for _ in 0..30 {
        if exit != Exit::Unreachable {
            break;
        }
        if !matches!(sigfd.wait(Duration::from_secs(1)), Ok(None)) || !own() {
            return cancelled();
        }
        exit = request(Verb::Shutdown(Some(s.action)));
    }
    forget();
    if exit != Exit::Success {
        unkeep();
        if s.wall {
            wall(&format!(
                "The scheduled shutdown failed: the manager did not take it (vigil exit {})\n",
                exit as i32
            ));
        }
    }
    exit
}

/// Writes `text` into `path` through a new file renamed over it.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("new.{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// The signal numbers used here (Linux's, on every architecture vigil builds for).
mod libc_sig {
    pub const HUP: i32 = 1;
    pub const INT: i32 = 2;
    pub const TERM: i32 = 15;
}

fn parse_runlevel(args: &[String]) -> Result<Option<PathBuf>, String> {
    match args {
        [] => Ok(Some(PathBuf::from("/run/utmp"))),
        [h] if h == "--help" => Ok(None),
        [o] if o.starts_with('-') => Err(format!("unknown option {o}")),
        [file] => Ok(Some(PathBuf::from(file))),
        _ => Err("takes one utmp file at most".to_string()),
    }
}

fn runlevel(utmp: &Path) -> Exit {
    match vigil_platform::utmp::read_runlevel(utmp) {
        Ok(Some((previous, current))) => {
            outln!("{} {}", previous as char, current as char);
            Exit::Success
        }
        _ => {
            outln!("unknown");
            Exit::Failed
        }
    }
}

fn parse_telinit(args: &[String]) -> Result<Option<Verb>, String> {
    let [arg] = args else {
        return Err("takes one runlevel: 0, 6, q or u".to_string());
    };
    Ok(Some(match arg.as_str() {
        "--help" => return Ok(None),
        "0" => Verb::Shutdown(Some(PowerAction::Poweroff)),
        "6" => Verb::Shutdown(Some(PowerAction::Reboot)),
        "q" | "Q" => Verb::Sync,
        "u" | "U" => Verb::Reexec,
        "1" | "2" | "3" | "4" | "5" | "s" | "S" => {
            return Err(format!(
                "runlevel {arg}: runlevels are targets under vigil, reached at boot; \
                 there is no switching between them"
            ));
        }
        other => return Err(format!("unknown runlevel {other:?}")),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn the_name_says_the_command() {
        assert_eq!(
            tool("/usr/sbin/poweroff"),
            Some(Tool::Halt(PowerAction::Poweroff))
        );
        assert_eq!(tool("reboot"), Some(Tool::Halt(PowerAction::Reboot)));
        assert_eq!(tool("/sbin/shutdown"), Some(Tool::Shutdown));
        assert_eq!(tool("/sbin/init"), Some(Tool::Telinit));
        assert_eq!(tool("/usr/bin/vigil"), None);
        assert_eq!(tool("poweroff.old"), None);
    }

    #[test]
    fn halt_options() {
        let h = parse_halt(PowerAction::Halt, &args("-p")).unwrap().unwrap();
        assert_eq!(h.action, PowerAction::Poweroff);
        let h = parse_halt(PowerAction::Reboot, &args("-fn --no-wall"))
            .unwrap()
            .unwrap();
        assert_eq!(
            h,
            Halt {
                action: PowerAction::Reboot,
                force: true,
                sync: false,
                wall: false,
            }
        );
        assert!(
            parse_halt(PowerAction::Reboot, &args("--help"))
                .unwrap()
                .is_none()
        );
        assert!(parse_halt(PowerAction::Reboot, &args("-x")).is_err());
        assert!(parse_halt(PowerAction::Reboot, &args("firmware")).is_err());
        assert!(parse_halt(PowerAction::Halt, &args("-w")).is_err());
    }

    #[test]
    fn shutdown_times() {
        assert_eq!(parse_time("now"), Some(When::Now));
        assert_eq!(parse_time("+0"), Some(When::Now));
        assert_eq!(parse_time("+15"), Some(When::In(15)));
        assert_eq!(parse_time("23:05"), Some(When::At(23, 5)));
        assert_eq!(parse_time("7:30"), Some(When::At(7, 30)));
        assert_eq!(parse_time("12:5"), Some(When::At(12, 5)));
        assert_eq!(parse_time("5"), Some(When::In(5)));
        assert_eq!(parse_time("0"), Some(When::Now));
        let most = parse_time("+18446744073709551615");
        assert_eq!(most, Some(When::In(u64::MAX)));
        for bad in [
            "24:00",
            "12:60",
            "12:123",
            "+",
            "+x",
            "soon",
            "12:",
            ":30",
            "-5",
            "+18446744073709551616",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn shutdown_options() {
        let s = parse_shutdown(&args("-r now back soon")).unwrap().unwrap();
        assert_eq!((s.action, s.when), (PowerAction::Reboot, When::Now));
        assert_eq!(s.message, "back soon");
        let s = parse_shutdown(&[]).unwrap().unwrap();
        assert_eq!((s.action, s.when), (PowerAction::Poweroff, When::In(1)));
        let s = parse_shutdown(&args("-h -H +5")).unwrap().unwrap();
        assert_eq!((s.action, s.when), (PowerAction::Halt, When::In(5)));
        let s = parse_shutdown(&args("-hH 10:00")).unwrap().unwrap();
        assert_eq!(s.action, PowerAction::Halt);
        let s = parse_shutdown(&args("-t 5 -r now")).unwrap().unwrap();
        assert_eq!(s.action, PowerAction::Reboot);
        let s = parse_shutdown(&args("-t5 -h now")).unwrap().unwrap();
        assert_eq!(s.action, PowerAction::Poweroff);
        let s = parse_shutdown(&args("--no-wall -k now")).unwrap().unwrap();
        assert!(s.dry && !s.wall);
        let s = parse_shutdown(&args("-c not today")).unwrap().unwrap();
        assert!(s.cancel);
        assert_eq!(s.message, "not today");
        // Options after the time too (getopt permutes), and in order.
        let s = parse_shutdown(&args("now -r")).unwrap().unwrap();
        assert_eq!((s.action, s.message.as_str()), (PowerAction::Reboot, ""));
        let s = parse_shutdown(&args("+5 --no-wall")).unwrap().unwrap();
        assert!(!s.wall);
        let s = parse_shutdown(&args("-h -r now")).unwrap().unwrap();
        assert_eq!(s.action, PowerAction::Reboot);
        let s = parse_shutdown(&args("-r -h now")).unwrap().unwrap();
        assert_eq!(s.action, PowerAction::Poweroff);
        // After `--`, words: the waiter's message.
        let s = parse_shutdown(&args("-r -- now -x y")).unwrap().unwrap();
        assert_eq!(
            (s.action, s.message.as_str()),
            (PowerAction::Reboot, "-x y")
        );
        let s = parse_shutdown(&args("-a -t1 -r 0")).unwrap().unwrap();
        assert_eq!((s.action, s.when), (PowerAction::Reboot, When::Now));
        assert!(parse_shutdown(&args("now -x")).is_err());
        assert!(parse_shutdown(&args("tomorrow")).is_err());
        assert!(parse_shutdown(&args("-x now")).is_err());
        assert!(parse_shutdown(&args("-t")).is_err());
        assert!(parse_shutdown(&args("--help")).unwrap().is_none());
    }

    #[test]
    fn telinit_levels() {
        assert_eq!(
            parse_telinit(&args("0")).unwrap(),
            Some(Verb::Shutdown(Some(PowerAction::Poweroff)))
        );
        assert_eq!(parse_telinit(&args("q")).unwrap(), Some(Verb::Sync));
        assert_eq!(parse_telinit(&args("U")).unwrap(), Some(Verb::Reexec));
        assert!(parse_telinit(&args("3")).is_err());
        assert!(parse_telinit(&args("0 6")).is_err());
    }
}
