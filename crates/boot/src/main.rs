//! `vigil-boot`: the early boot duties, one subcommand per unit (machine-id,
//! hostname, sysctl, modules, fstab with its checks, swap, rundirs, getty;
//! `fstab --remote` after the network; `shell`, the root shell of rescue and
//! emergency mode). This file owns the command line, the
//! messages, the exit status and the readiness of the `Type=notify` ones; it
//! never parses configuration itself.
//! Exit status: 0 done (or nothing to do), 1 something failed (after trying
//! the rest), 2 usage error.

mod cmdline;
mod confdir;
mod fsck;
mod fstab;
mod getty;
mod hostname;
mod machine_id;
mod modules;
mod rundirs;
mod shell;
mod swap;
mod sysctl;

use std::fmt::Display;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str =
    "usage: vigil-boot {hostname|machine-id|sysctl|modules|fstab|swap|rundirs|getty|utmp} [--root DIR] [--dry-run]
       vigil-boot fstab --remote [--unmount | --check] [--root DIR] [--dry-run]
       vigil-boot fstab --remount [--root DIR] [--dry-run]
       vigil-boot swap --off [--root DIR] [--dry-run]
       vigil-boot machine-id --commit [--root DIR] [--dry-run]
       vigil-boot utmp [--shutdown | --runlevel] [--root DIR] [--dry-run]
       vigil-boot shell {rescue|emergency} [--root DIR]";

#[derive(Debug)]
struct Args {
    command: String,
    /// shell: the mode (`rescue`, `emergency`) it is started for.
    mode: Option<String>,
    root: PathBuf,
    dry_run: bool,
    /// fstab: the network file systems, after the network.
    remote: bool,
    /// fstab: only the remounts of `/` and the API file systems, with the
    /// check of `/` (systemd-remount-fs and systemd-fsck-root).
    remount: bool,
    /// fstab --remote: unmount them instead (before the network goes).
    unmount: bool,
    /// fstab --remote: only say whether there is any to mount (exit 0) or
    /// none (exit 1), so that the network is waited for only then.
    check: bool,
    /// swap: deactivate fstab's swap areas instead (the unit's stop).
    off: bool,
    /// machine-id: write an ID mounted over /etc/machine-id to the file.
    commit: bool,
    /// utmp: the shutdown's record instead of the boot's.
    shutdown: bool,
    /// utmp: the runlevel's record (3 or 5, by the target reached).
    runlevel: bool,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut command: Option<String> = None;
    let mut mode = None;
    let mut root = PathBuf::from("/");
    let (mut dry_run, mut remote, mut unmount, mut check, mut off) =
        (false, false, false, false, false);
    let (mut commit, mut remount, mut shutdown, mut runlevel) = (false, false, false, false);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--root" => root = PathBuf::from(it.next().ok_or("--root needs a directory")?),
            "--dry-run" => dry_run = true,
            "--remote" => remote = true,
            "--remount" => remount = true,
            "--unmount" => unmount = true,
            "--check" => check = true,
            "--off" => off = true,
            "--commit" => commit = true,
            "--shutdown" => shutdown = true,
            "--runlevel" => runlevel = true,
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s if command.is_none() => command = Some(s.to_string()),
            s if command.as_deref() == Some("shell") && mode.is_none() => {
                mode = Some(s.to_string())
            }
            s => return Err(format!("unexpected argument {s}")),
        }
    }
    let command = command.ok_or("missing subcommand")?;
    if command == "shell" {
        match mode.as_deref() {
            Some(m) if shell::MODES.contains(&m) => {}
            Some(m) => return Err(format!("shell: unknown mode {m} (rescue or emergency)")),
            None => return Err("shell needs a mode: rescue or emergency".to_string()),
        }
        if dry_run {
            return Err("shell has no --dry-run".to_string());
        }
    }
    if remount && (command != "fstab" || remote) {
        return Err("--remount is an option of fstab, without --remote".to_string());
    }
    if remote && command != "fstab" {
        return Err(format!("--remote is an option of fstab, not of {command}"));
    }
    if (unmount || check) && !remote {
        return Err("--unmount and --check go with fstab --remote".to_string());
    }
    if (shutdown || runlevel) && command != "utmp" {
        return Err(format!(
            "--shutdown and --runlevel are options of utmp, not of {command}"
        ));
    }
    if shutdown && runlevel {
        return Err("utmp takes --shutdown or --runlevel, not both".to_string());
    }
    if commit && command != "machine-id" {
        return Err(format!(
            "--commit is an option of machine-id, not of {command}"
        ));
    }
    if off && command != "swap" {
        return Err(format!("--off is an option of swap, not of {command}"));
    }
    if unmount && check {
        return Err("--unmount or --check, not both".to_string());
    }
    Ok(Args {
        command,
        mode,
        root,
        dry_run,
        remote,
        remount,
        unmount,
        check,
        off,
        commit,
        shutdown,
        runlevel,
    })
}

/// A line to stdout. A reader that went away (`--dry-run | head`) ends the
/// output, not the run: println! would panic on the broken pipe.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

fn error(e: impl Display) {
    eprintln!("vigil-boot: {e}");
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => {
            if msg.is_empty() {
                out!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            error(msg);
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let ok = match args.command.as_str() {
        "hostname" => run_hostname(&args),
        "sysctl" => run_sysctl(&args),
        "modules" => run_modules(&args),
        "fstab" => run_fstab(&args),
        "swap" => run_swap(&args),
        "rundirs" => run_rundirs(&args),
        "getty" => run_getty(&args),
        "machine-id" => run_machine_id(&args),
        "utmp" => run_utmp(&args),
        "shell" => run_shell(&args),
        other => {
            error(format!("unknown subcommand {other}"));
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    // vigil-fstab and vigil-swap are Type=notify: ready also when there was
    // nothing to wait for (no fstab, no entry); not after a failure, which
    // fails the unit's start instead.
    let notifies = match args.command.as_str() {
        "fstab" => !args.remote,
        "swap" => !args.off,
        _ => false,
    };
    if ok && notifies && !args.dry_run {
        notify_ready();
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The boot's record in utmp and wtmp (`who -b`, `last reboot`), dated when
/// the kernel started, or with `--shutdown` the shutdown's, with `--runlevel`
/// the runlevel's (`who -r`), as
/// systemd-update-utmp writes them (which needs systemd's D-Bus). A file that
/// is not there (no tmpfiles run yet for `run/utmp`) is said and passed over.
fn run_utmp(args: &Args) -> bool {
    use vigil_platform::utmp::{Record, append_wtmp, write_utmp};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (record, when) = if args.shutdown {
        (Record::Shutdown, now)
    } else if args.runlevel {
        let recorded = vigil_platform::utmp::read_runlevel(&args.root.join("run/utmp"));
        match runlevel() {
            // Not again for the same level, as systemd-update-utmp (`last -x`
            // would show each).
            Some(level) if matches!(recorded, Ok(Some((_, now_at))) if now_at == level) => {
                out!("runlevel {} is recorded already", char::from(level));
                return true;
            }
            Some(level) => (Record::Runlevel(level), now),
            None => {
                out!("neither graphical.target nor multi-user.target is active: no runlevel");
                return true;
            }
        }
    } else {
        // The kernel's start: now less the uptime.
        let uptime = fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok())
            .map(Duration::from_secs_f64)
            .unwrap_or_default();
        (Record::Boot, now.saturating_sub(uptime))
    };
    let release = rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned();
    let what = match record {
        Record::Boot => "boot".to_string(),
        Record::Shutdown => "shutdown".to_string(),
        Record::Runlevel(level) => format!("runlevel {}", char::from(level)),
    };
    let (utmp, wtmp) = (args.root.join("run/utmp"), args.root.join("var/log/wtmp"));
    if args.dry_run {
        out!(
            "record the {what} in {} and {}",
            utmp.display(),
            wtmp.display()
        );
        return true;
    }
    let mut ok = true;
    for (path, done) in [
        (&utmp, write_utmp(record, when, &release, &utmp)),
        (&wtmp, append_wtmp(record, when, &release, &wtmp)),
    ] {
        match done {
            Ok(()) => out!("recorded the {what} in {}", path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => error(format!(
                "{}: not there: the {what} is not recorded in it",
                path.display()
            )),
            Err(e) => {
                error(format!("{}: {e}", path.display()));
                ok = false;
            }
        }
    }
    ok
}

/// The runlevel the targets reached stand for, as systemd maps them: 5 with
/// graphical.target active, 3 with multi-user.target; vigild is asked.
fn runlevel() -> Option<u8> {
    let asked = vigil()
        .args(["is-active", "graphical.target", "multi-user.target"])
        .stdin(std::process::Stdio::null())
        .output();
    let said = asked.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let said = said.unwrap_or_default();
    let mut states = said.lines().map(str::trim);
    match (states.next(), states.next()) {
        (Some("active"), _) => Some(b'5'),
        (_, Some("active")) => Some(b'3'),
        _ => None,
    }
}

/// Sets up `etc/machine-id` (machine_id.rs), or with `--commit` writes an ID
/// mounted over it to the file. `--dry-run` says what would be done.
fn run_machine_id(args: &Args) -> bool {
    let file = args.root.join("etc/machine-id");
    // A link (to /var/lib/dbus/machine-id, say) is mounted over where it leads.
    let real = fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
    let mounted = fs::read_to_string("/proc/self/mountinfo")
        .map(|t| fstab::parse_mountinfo(&t))
        .unwrap_or_default()
        .iter()
        .any(|m| Path::new(m) == real);
    if args.dry_run {
        let text = fs::read_to_string(&file).unwrap_or_default();
        match (args.commit, machine_id::valid(&text)) {
            (true, _) if mounted => out!("commit the ID mounted over {}", file.display()),
            (true, _) => {}
            (false, Some(id)) => out!("keep {id}"),
            (false, None) => out!("make a new ID"),
        }
        return true;
    }
    let file_name = file.display();
    let in_container = vigil_units::condition::in_container(&args.root);
    let given = in_container && args.root == Path::new("/");
    let done = match args.commit {
        true => machine_id::commit(&args.root, mounted).map(|c| {
            if let Some(id) = c {
                out!("machine ID {id} committed to {file_name}");
            }
        }),
        // A container manager may name the container (systemd-nspawn, lxc): its ID,
        // for the container's own root only (not an image under --root).
        false => {
            machine_id::setup(&args.root, given.then(container_uuid).flatten()).map(|s| match s {
                machine_id::Setup::Kept(id) => out!("machine ID {id}"),
                machine_id::Setup::Written(id) => {
                    out!("machine ID {id}: new, written to {file_name}")
                }
                machine_id::Setup::Mounted(id) => {
                    out!(
                        "machine ID {id}: new, mounted over {file_name} until the root is writable"
                    )
                }
            })
        }
    };
    match done {
        Ok(()) => true,
        // A container that can neither write nor mount it (a read-only /etc,
        // no CAP_SYS_ADMIN) runs on: systemd's PID 1 says so and goes on too.
        Err(e) if in_container && !args.commit => {
            error(format!(
                "warning: machine ID: {e} (in a container: going on without one)"
            ));
            true
        }
        Err(e) => {
            error(format!("machine ID: {e}"));
            false
        }
    }
}

/// `$container_uuid` as an ID, when it is a valid UUID (vigild passes a
/// container's environment to its services).
fn container_uuid() -> Option<String> {
    let uuid = std::env::var("container_uuid").ok()?;
    let id = machine_id::from_uuid(&uuid);
    if id.is_none() {
        error(format!(
            "warning: $container_uuid {uuid:?} is not a UUID: ignored"
        ));
    }
    id
}

/// The `vigil` command, to ask vigild for a start or a reboot:
/// `$VIGIL_BOOT_VIGIL` (a stand-in, for tests), else the one in `PATH`.
fn vigil() -> std::process::Command {
    let program = std::env::var_os("VIGIL_BOOT_VIGIL").unwrap_or_else(|| "vigil".into());
    std::process::Command::new(program)
}

/// The root shell of `rescue.service` and `emergency.service` (ExecStart=),
/// as systemd's sulogin shell: tells the console which mode it is in, runs
/// sulogin (or `/bin/sh` where none is installed) and waits for it, then
/// asks vigild for the default target again without waiting for it (`vigil
/// default --no-block`: this unit is among what that isolate stops). Fails
/// (exit 1) only when vigild could not be asked.
fn run_shell(args: &Args) -> bool {
    let mode = args.mode.as_deref().unwrap_or("rescue");
    let shadow = fs::read_to_string(args.root.join("etc/shadow")).ok();
    let force = shell::forced(
        std::env::var("SYSTEMD_SULOGIN_FORCE").ok().as_deref(),
        shadow.as_deref(),
    );
    let program = shell::choose(&args.root, force);
    eprint!("{}", shell::banner(mode, &program));
    if let (true, Some(why)) = (program.sulogin, force) {
        eprintln!("{why}: sulogin lets root in without a password (--force)");
    }
    match std::process::Command::new(&program.path)
        .args(&program.args)
        .status()
    {
        Ok(_) => {}
        // The operator is told, and the system goes back to the default
        // target, as systemd's does when sulogin cannot run.
        Err(e) => error(format!("cannot run {}: {e}", program.path.display())),
    }
    eprintln!("Leaving {mode} mode: starting the default target");
    match vigil()
        .args(["default", "--no-block"])
        .stdin(std::process::Stdio::null())
        .status()
    {
        Ok(s) if s.success() => true,
        Ok(s) => {
            error(format!("vigil default exited with {s}"));
            false
        }
        Err(e) => {
            error(format!("cannot run vigil default: {e}"));
            false
        }
    }
}

/// Starts `serial-getty@NAME.service` for each serial console
/// (`sys/class/tty/console/active` under the root) and each hypervisor
/// console whose node is in `dev/`, without waiting for them (`vigil start
/// --no-block`: their own ordering applies). A console whose node is missing
/// is said and passed over; a start vigild refuses (no serial-getty@.service
/// installed) is an error.
fn run_getty(args: &Args) -> bool {
    // `systemd.getty_auto=0` (and `$SYSTEMD_GETTY_AUTO`), as systemd's
    // getty generator reads them: no getty started here.
    if let Some(off) = getty::auto_off(
        &cmdline::kernel(),
        std::env::var("SYSTEMD_GETTY_AUTO").ok().as_deref(),
    ) {
        out!("no getty started: {off}");
        return true;
    }
    let active = args.root.join("sys/class/tty/console/active");
    let text = fs::read_to_string(&active).unwrap_or_default();
    let mut ttys = getty::serial_consoles(&text);
    for tty in getty::HYPERVISOR_CONSOLES {
        if args.root.join("dev").join(tty).exists() && !ttys.iter().any(|t| t == tty) {
            ttys.push(tty.to_string());
        }
    }
    let mut ok = true;
    for tty in ttys {
        if !args.root.join("dev").join(&tty).exists() {
            error(format!("console {tty}: /dev/{tty} is not there: no getty"));
            continue;
        }
        let unit = format!("serial-getty@{tty}.service");
        if args.dry_run {
            out!("start {unit}");
            continue;
        }
        let done = vigil()
            .args(["start", "--no-block", &unit])
            .stdin(std::process::Stdio::null())
            .output();
        match done {
            Ok(o) if o.status.success() => out!("started {unit}"),
            // Masked: how an admin turns one getty off, as systemd's
            // generator's link would then be overridden.
            Ok(o) if String::from_utf8_lossy(&o.stderr).contains("is masked") => {
                out!("{unit} is masked: no getty on {tty}")
            }
            Ok(o) => {
                let said = String::from_utf8_lossy(&o.stderr);
                error(format!(
                    "cannot start {unit}: vigil start exited with {}: {}",
                    o.status,
                    said.trim()
                ));
                ok = false;
            }
            Err(e) => {
                error(format!("cannot start {unit}: cannot run vigil: {e}"));
                ok = false;
            }
        }
    }
    ok
}

/// Every step is tried; a failed one is reported and the rest still run.
fn run_rundirs(args: &Args) -> bool {
    let mut ok = true;
    for step in rundirs::plan(&args.root) {
        if args.dry_run {
            if rundirs::pending(&step) {
                out!("{}", rundirs::describe(&step));
            }
            continue;
        }
        if let Err(e) = rundirs::apply(&step) {
            error(e);
            ok = false;
        }
    }
    ok
}

/// An unusable /etc/hostname is reported (exit 1) but still leads to the
/// fallback: a kernel without a name must not stay so.
fn run_hostname(args: &Args) -> bool {
    // The kernel's `systemd.hostname=` first, as systemd: not a container's
    // (its /proc/cmdline is the host's).
    let cmdline = match vigil_units::condition::in_container(&args.root) {
        true => String::new(),
        false => cmdline::kernel(),
    };
    let from_kernel = hostname::from_cmdline(&cmdline).unwrap_or_else(|e| {
        error(e);
        None
    });
    let read = match from_kernel {
        Some(name) => Ok(Some(name)),
        None => hostname::read(&args.root),
    };
    let (configured, mut ok) = match read {
        Ok(name) => (name, true),
        Err(e) => {
            error(e);
            (None, false)
        }
    };
    let Some(name) = hostname::decide(configured, &hostname::current()) else {
        return ok;
    };
    if args.dry_run {
        out!("hostname {name}");
    } else if let Err(e) = hostname::set(&name) {
        match e.not_permitted() {
            // A container without CAP_SYS_ADMIN: its manager named it. A warning, as
            // systemd's PID 1 gives for any failure here.
            true => error(format!(
                "warning: {e}: the hostname stays {}",
                hostname::current()
            )),
            false => {
                error(e);
                ok = false;
            }
        }
    }
    ok
}

/// A file read after a `NAME.d` directory's: its path under the root, and
/// the name in the directory that stands for it.
struct Extra {
    path: &'static str,
    name: &'static str,
}

/// `/etc/sysctl.conf`, which systemd reads only through the
/// `99-sysctl.conf` link it installs: masking that name keeps it out.
const SYSCTL_CONF: Extra = Extra {
    path: "etc/sysctl.conf",
    name: "99-sysctl.conf",
};

/// The files of a `NAME.d` directory, plus `extra` last unless its name is
/// masked or one of the listed files already is it (the usual
/// `99-sysctl.conf` link).
fn conf_files(root: &Path, subdir: &str, extra: Option<Extra>) -> Vec<PathBuf> {
    let (listing, unreadable) = confdir::list(root, subdir);
    for e in unreadable {
        error(format!("warning: {e}: its files are passed over"));
    }
    let mut files = listing.files;
    if let Some(extra) = extra.filter(|e| !listing.masked.contains(e.name)) {
        let path = root.join(extra.path);
        if path.is_file() {
            let canon = fs::canonicalize(&path).ok();
            let dup = files.iter().any(|f| fs::canonicalize(f).ok() == canon);
            if !dup {
                files.push(path);
            }
        }
    }
    files
}

fn run_sysctl(args: &Args) -> bool {
    let files = conf_files(&args.root, "sysctl.d", Some(SYSCTL_CONF));
    let (settings, errors) = sysctl::load(&files);
    let mut ok = errors.is_empty();
    errors.into_iter().for_each(error);
    // Globs are expanded against the real /proc/sys even under --root:
    // the keys are the running kernel's, not the configuration's.
    let proc_sys = Path::new("/proc/sys");
    let problems = if args.dry_run {
        let (writes, problems) = sysctl::plan(proc_sys, &settings);
        for w in &writes {
            out!("{}={}", w.dotted(), w.value);
        }
        problems
    } else {
        sysctl::apply(proc_sys, &settings)
    };
    ok &= !problems.iter().any(sysctl::Problem::is_failure);
    problems.into_iter().for_each(error);
    ok
}

fn run_modules(args: &Args) -> bool {
    let files = conf_files(&args.root, "modules-load.d", None);
    let mut mods = Vec::new();
    let mut errors = modules::from_cmdline(&cmdline::kernel(), &mut mods);
    errors.extend(modules::load(&files, &mut mods));
    let mut ok = errors.is_empty();
    errors.into_iter().for_each(error);
    for m in &mods {
        if args.dry_run {
            out!("modprobe -b {}", m.name);
        } else if let Err(e) = modules::probe("modprobe", m) {
            let missing = matches!(e, modules::ModulesError::NoModprobe { .. });
            ok &= !e.fails();
            error(e);
            if missing {
                // Every other module would fail the same way.
                break;
            }
        }
    }
    ok
}

/// `etc/fstab` under the root, read: None when there is none (nothing to
/// mount or activate), an error said here.
fn read_fstab(root: &Path) -> Result<Option<(PathBuf, Vec<u8>)>, ()> {
    let path = root.join("etc/fstab");
    match fs::read(&path) {
        Ok(text) => Ok(Some((path, text))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => {
            error(fstab::FstabError::Read { path, source });
            Err(())
        }
    }
}

fn run_fstab(args: &Args) -> bool {
    let (path, text) = match read_fstab(&args.root) {
        Ok(Some(read)) => read,
        // Nothing to mount (and none to wait for the network for).
        Ok(None) => return !args.check,
        Err(()) => return false,
    };
    // A line that cannot be read names no mount to fail: it is skipped with a
    // warning, as systemd's fstab generator does. Only mounts fail the unit
    // (and with it local-fs.target and the boot).
    let (entries, errors) = fstab::parse(&path, &text);
    let (entries, duplicates) = fstab::without_duplicates(entries);
    errors
        .into_iter()
        .chain(duplicates)
        .for_each(|e| error(format!("warning: {e}")));
    let mounted = match fs::read_to_string("/proc/self/mountinfo") {
        Ok(t) => fstab::parse_mountinfo(&t),
        Err(e) => {
            error(format!(
                "warning: cannot read /proc/self/mountinfo ({e}): mounting without knowing what is mounted"
            ));
            Vec::new()
        }
    };
    if args.unmount {
        return unmount_remote(fstab::remote_unmounts(entries, &mounted), args.dry_run);
    }
    let phase = if args.remote {
        fstab::Phase::Remote
    } else {
        fstab::Phase::Local
    };
    let mut plan = fstab::plan(entries, &mounted, phase);
    if args.remount {
        plan.retain(|a| matches!(a, fstab::Action::Mount(e) if fstab::is_early_remount(e)));
    }
    if args.check {
        // Entries already mounted (by an initramfs) count too: the unit must
        // run to unmount them at the shutdown, while the network is up.
        let (to_mount, mounted) = fstab::remote_counts(&plan);
        if to_mount + mounted == 0 {
            out!("no network file system to mount or unmount: the network is not waited for");
            return false;
        }
        out!("{to_mount} entries to mount after the network, {mounted} already mounted");
        return true;
    }
    // Only the boot's run checks: a network file system has nothing to check.
    let policy = (phase == fstab::Phase::Local).then(|| {
        let mut warnings = Vec::new();
        // The files are on the root file system, whatever --root says.
        let files = (
            Path::new("/fastboot").exists(),
            Path::new("/forcefsck").exists(),
        );
        let policy = fsck::Policy::from_cmdline(&cmdline::kernel(), files, &mut warnings);
        warnings
            .into_iter()
            .for_each(|w| error(format!("warning: {w}")));
        policy
    });
    mount_all(plan, args.dry_run, policy.filter(|p| !p.skip))
}

/// Activates fstab's swap areas in file order (`--off`: deactivates the active
/// ones, the last first, then every other active swap file, which would keep
/// its file system busy at the unmount, as systemd-shutdown turns off what is
/// left). A line vigil-fstab cannot read it says; here only the swap options
/// are. Every area is tried; one without `nofail` that fails
/// makes the exit status 1 (the boot goes on: sysinit.target only wants it).
fn run_swap(args: &Args) -> bool {
    let (path, text) = match read_fstab(&args.root) {
        Ok(Some(read)) => read,
        Ok(None) => return true,
        Err(()) => return false,
    };
    let (swaps, warnings) = swap::swaps(fstab::parse(&path, &text).0);
    warnings
        .into_iter()
        .for_each(|w| error(format!("warning: {w}")));
    // A kernel without swap support has no /proc/swaps: nothing is active,
    // and each swapon(2) says ENOSYS.
    let active = swap::active().unwrap_or_default();
    let active_path = |source: &str| swap::find(&active, source).map(|a| a.path.clone());
    let mut ok = true;
    if args.off {
        let mut all: Vec<(String, String)> = swaps
            .iter()
            .rev()
            .filter_map(|s| Some((active_path(&s.entry.source)?, format!("{}: ", s.entry.at()))))
            .collect();
        let files: Vec<(String, String)> = (active.iter())
            .filter(|a| a.file && !all.iter().any(|(p, _)| *p == a.path))
            .map(|a| (a.path.clone(), String::new()))
            .collect();
        all.extend(files);
        for (path, at) in all {
            if args.dry_run {
                out!("swapoff {path}");
                continue;
            }
            match swap::swapoff(Path::new(&path)) {
                Ok(()) => out!("deactivated swap {path}"),
                Err(e) => {
                    error(format!("{at}cannot deactivate swap {path}: {e}"));
                    ok = false;
                }
            }
        }
        return ok;
    }
    let started = Instant::now();
    let page = rustix::param::page_size();
    let mut later = Vec::new();
    for s in swaps {
        let source = s.entry.source.as_str();
        let skip = if s.entry.options.noauto {
            Some("noauto")
        } else {
            active_path(source).map(|_| "already active")
        };
        match (skip, args.dry_run) {
            (Some(reason), true) => out!("skip {source} ({reason})"),
            (None, true) => out!("{}", s.describe()),
            (Some(_), false) => {}
            // As a mount's: a nofail area whose device is not there yet does
            // not hold the boot (systemd orders it not before swap.target).
            (None, false)
                if s.entry.options.nofail && fstab::missing_device(&s.entry).is_some() =>
            {
                error(format!(
                    "{}: {source} is not there yet: activated when it comes, without holding the boot (nofail)",
                    s.entry.at()
                ));
                later.push(s);
            }
            (None, false) => ok &= activate(&s, started, page),
        }
    }
    if !ok {
        for s in &later {
            let (at, source) = (s.entry.at(), &s.entry.source);
            error(format!(
                "{at}: {source}: not waited for: an area without nofail failed"
            ));
        }
        return false;
    }
    if !later.is_empty() {
        notify_ready();
        later.iter().for_each(|s| {
            activate(s, started, page);
        });
    }
    true
}

/// Activates one swap area once its device is there; false when it failed
/// without `nofail`.
fn activate(s: &swap::Swap, started: Instant, page: usize) -> bool {
    use rustix::io::Errno;
    let (at, source) = (s.entry.at(), s.entry.source.as_str());
    wait_for_device(&s.entry, started);
    let warn = &mut |w: String| error(format!("warning: {at}: {w}"));
    let done = swap::prepare(source, page, warn).and_then(|checked| {
        if let swap::Checked::Rewritten(image) = checked {
            error(format!(
                "{at}: {source} held a hibernation image ({image}) that was not resumed: swap signature written back, as swapon(8) does"
            ));
        }
        swap::swapon(Path::new(source), s.flags())
    });
    match done {
        Ok(()) => out!("activated swap {source}"),
        // Activated meanwhile, by hand or by another run; EBUSY also says
        // the device is held (mounted, a RAID member).
        Err(e) if e.raw_os_error() == Some(Errno::BUSY.raw_os_error()) && is_active(source) => {
            out!("{source} is already active")
        }
        Err(e) => {
            // EINVAL: the kernel's log says which of these.
            let hint = match e.raw_os_error().map(Errno::from_raw_os_error) {
                Some(Errno::INVAL) => {
                    " (a file with holes, on a file system that cannot hold swap, or made for another page size)"
                }
                _ => "",
            };
            let message = format!("{at}: cannot activate swap {source}: {e}{hint}");
            if !s.entry.options.nofail {
                error(message);
                return false;
            }
            error(format!("warning: {message} (nofail)"));
        }
    }
    true
}

/// Whether `source` is in /proc/swaps now, by identity.
fn is_active(source: &str) -> bool {
    swap::find(&swap::active().unwrap_or_default(), source).is_some()
}

/// Unmounts what sits on the network file systems, then those; every one is
/// tried. One still busy is left to vigil-init's final unmount.
fn unmount_remote(targets: Vec<String>, dry_run: bool) -> bool {
    let mut ok = true;
    for target in targets {
        if dry_run {
            out!("unmount {target}");
            continue;
        }
        match fstab::unmount(&target) {
            Ok(()) => out!("unmounted {target}"),
            Err(e) => {
                error(format!("cannot unmount {target}: {e}"));
                ok = false;
            }
        }
    }
    ok
}

/// Waits for the device node of `entry` when it is not there yet, until its
/// device timeout counted from `started` (when vigil-fstab began): the waits
/// for several missing devices overlap, as systemd's device jobs do, instead of
/// adding up. The mount then says what is missing if it never came. Polls: a
/// oneshot at boot has no event loop to keep, and udev may create the link by
/// any of several paths.
fn wait_for_device(entry: &fstab::Entry, started: Instant) {
    let Some(device) = fstab::missing_device(entry) else {
        return;
    };
    let limit = entry
        .options
        .device_timeout
        .unwrap_or(fstab::DEVICE_TIMEOUT);
    let deadline = started.checked_add(limit);
    let at = entry.at();
    let secs = limit.as_secs_f64();
    if deadline.is_some_and(|d| Instant::now() >= d) {
        error(format!("{at}: {device} did not come within {secs} s"));
        return;
    }
    let shown = if deadline.is_some() {
        format!("up to {secs} s")
    } else {
        "with no limit".to_string()
    };
    error(format!("{at}: waiting {shown} for {device}"));
    while fstab::missing_device(entry).is_some() && deadline.is_none_or(|d| Instant::now() < d) {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Said before the mount's own error (ENOENT), which names no wait.
    if fstab::missing_device(entry).is_some() {
        error(format!("{at}: {device} did not come within {secs} s"));
    }
}

/// Checks the entry's file system before its mount; an error when it must
/// not be mounted. The root, checked while mounted read-only, that fsck
/// changed needs a reboot, which is asked for (`rebooting`); it stays
/// read-only meanwhile.
fn check(
    entry: &fstab::Entry,
    policy: &fsck::Policy,
    rebooting: &mut bool,
) -> Result<(), fstab::FstabError> {
    let (at, source) = (entry.at(), &entry.source);
    let reason = match fsck::run(entry, policy) {
        fsck::Outcome::Checked(false) => {
            out!("checked {source}");
            return Ok(());
        }
        fsck::Outcome::Checked(true) => {
            error(format!("{at}: fsck corrected errors on {source}"));
            return Ok(());
        }
        fsck::Outcome::NotChecked(why) => {
            error(format!("{at}: {source} is not checked: {why}"));
            return Ok(());
        }
        fsck::Outcome::Ignored(why) => {
            error(format!(
                "warning: {at}: {why}: {source} is mounted unchecked"
            ));
            return Ok(());
        }
        fsck::Outcome::Failed(why) => why,
        fsck::Outcome::Reboot => {
            *rebooting = true;
            let asked = vigil().arg("reboot").status().is_ok_and(|s| s.success());
            match asked {
                true => "fsck changed the mounted root file system: rebooting (`vigil reboot`)",
                false => "fsck changed the mounted root file system, and `vigil reboot` failed: reboot the system",
            }
            .to_string()
        }
    };
    Err(fstab::FstabError::Fsck {
        path: entry.path.clone(),
        line: entry.line,
        target: entry.target.clone(),
        reason,
    })
}

/// Mounts in plan order. An entry that needs a mount that failed (its
/// parent, or the one holding its source) is not mounted, and counts as
/// failed in turn for the entries that need it. A `nofail` entry whose
/// device is not there yet does not hold the boot, as in systemd (where it is
/// not ordered before local-fs.target): it is left for later with whatever
/// needs it, the manager is told the unit is ready (`READY=1`, the unit being
/// `Type=notify`), and then it is waited for and mounted. What fails then is
/// a warning: the boot has gone on.
fn mount_all(actions: Vec<fstab::Action>, dry_run: bool, fsck: Option<fsck::Policy>) -> bool {
    let mut m = Mounter {
        started: Instant::now(),
        fsck,
        failed: Vec::new(),
        rebooting: false,
        ok: true,
    };
    let mut later: Vec<fstab::Entry> = Vec::new();
    for action in actions {
        if dry_run {
            let mut line = fstab::describe(&action);
            if let (fstab::Action::Mount(e), Some(policy)) = (&action, &m.fsck)
                && m.checked(e)
            {
                line.push_str(&format!(" fsck=\"{}\"", fsck::args(e, policy).join(" ")));
            }
            out!("{line}");
            continue;
        }
        let entry = match action {
            fstab::Action::Mount(entry) => entry,
            fstab::Action::Skip { entry, reason }
                if reason == fstab::NETWORK || reason == fstab::NEEDS_NETWORK =>
            {
                error(format!("{}: {}: {reason}", entry.at(), entry.target));
                continue;
            }
            fstab::Action::Skip { entry, reason } if reason == fstab::LOCAL_NOT_MOUNTED => {
                m.failed.push(entry);
                continue;
            }
            fstab::Action::Skip { .. } => continue,
        };
        let at = entry.at();
        // What is mounted now, in order: this entry, after what it needs of
        // the entries left for later when it may not wait for them.
        let mut now = Vec::new();
        if let Some(first) = later.iter().find(|l| fstab::needs(&entry, l)) {
            let (target, line) = (&first.target, first.line);
            if entry.options.nofail {
                error(format!(
                    "{at}: {}: mounted after {target} (line {line}), when its device comes",
                    entry.target
                ));
                later.push(entry);
                continue;
            }
            // Not nofail, it holds the boot, and so does what it needs, as
            // systemd's mount unit pulls in the one above it: waited for now.
            error(format!(
                "{at}: {}: needs {target} (line {line}), waited for now: this entry is not nofail",
                entry.target
            ));
            now = take_needed(&mut later, &entry);
        }
        if let Some(device) = fstab::missing_device(&entry).filter(|_| entry.options.nofail) {
            error(format!(
                "{at}: {device} is not there yet: {} is mounted when it comes, without holding the boot (nofail)",
                entry.target
            ));
            later.push(entry);
            continue;
        }
        now.push(entry);
        for entry in now {
            m.mount(entry, false);
            if m.rebooting {
                // As systemd's reboot job cancels the checks and mounts still to
                // come: none runs into the shutdown.
                error("the other entries are left: the system reboots");
                return false;
            }
        }
    }
    if dry_run || !m.ok {
        // The emergency shell a failed boot brings comes without waiting for them.
        for e in &later {
            let (at, target) = (e.at(), &e.target);
            error(format!(
                "{at}: {target}: not waited for: a mount without nofail failed"
            ));
        }
        return m.ok;
    }
    notify_ready();
    for entry in later {
        m.mount(entry, true);
        if m.rebooting {
            return false;
        }
    }
    true
}

/// Takes out of `later` (in its order) the entries `entry` needs, and those
/// they need in turn.
fn take_needed(later: &mut Vec<fstab::Entry>, entry: &fstab::Entry) -> Vec<fstab::Entry> {
    let mut wanted = vec![false; later.len()];
    for i in (0..later.len()).rev() {
        let by_taken =
            (i + 1..later.len()).any(|j| wanted[j] && fstab::needs(&later[j], &later[i]));
        wanted[i] = fstab::needs(entry, &later[i]) || by_taken;
    }
    let mut wanted = wanted.into_iter();
    let (taken, kept) = std::mem::take(later)
        .into_iter()
        .partition(|_| wanted.next().unwrap_or(false));
    *later = kept;
    taken
}

/// The state of a run of mounts.
struct Mounter {
    /// When the run began: the device timeouts count from it, so that the
    /// waits for several missing devices overlap instead of adding up.
    started: Instant,
    fsck: Option<fsck::Policy>,
    /// Entries not mounted: what needs them is not mounted either.
    failed: Vec<fstab::Entry>,
    /// fsck changed the mounted root: nothing more is done.
    rebooting: bool,
    ok: bool,
}

impl Mounter {
    fn checked(&self, e: &fstab::Entry) -> bool {
        match e.target.as_str() {
            "/" => fsck::root_needs_check(e),
            _ => fsck::wanted(e),
        }
    }

    /// Waits for the entry's device, checks it, mounts it; a failure is said
    /// and recorded. `late`: after the boot went on, every failure is a
    /// warning.
    fn mount(&mut self, entry: fstab::Entry, late: bool) {
        let result = match fstab::needs_failed(&entry, &self.failed) {
            Some(needed) => Err(fstab::FstabError::NeedsFailed {
                path: entry.path.clone(),
                line: entry.line,
                target: entry.target.clone(),
                needed: needed.target.clone(),
                needed_line: needed.line,
            }),
            None => {
                wait_for_device(&entry, self.started);
                // A device that never came has nothing to check: the mount says so.
                let device = fstab::missing_device(&entry).is_none();
                match self.fsck.filter(|_| device && self.checked(&entry)) {
                    Some(policy) => check(&entry, &policy, &mut self.rebooting),
                    None => Ok(()),
                }
                .and_then(|()| fstab::mount_entry(&entry))
            }
        };
        match result {
            Ok(()) if entry.options.kind.is_remount() => {
                out!("remounted {}", entry.target)
            }
            Ok(()) => out!("mounted {}", entry.target),
            Err(e) => {
                let fsck_failed = matches!(e, fstab::FstabError::Fsck { .. });
                if entry.options.nofail {
                    error(format!("warning: {e} (nofail)"));
                } else if late {
                    error(format!("warning: {e} (after the boot went on)"));
                } else if entry.options.kind.is_remount() && !fsck_failed {
                    // What is mounted stays, as it was (a container may
                    // refuse any remount of /): nothing to stop the boot for.
                    error(format!("warning: {e} (it stays mounted as it was)"));
                } else {
                    error(e);
                    self.ok = false;
                }
                // A failed remount leaves the mount there for the others.
                if !entry.options.kind.is_remount() {
                    self.failed.push(entry);
                }
            }
        }
    }
}

/// Tells the manager that the unit is ready (sd_notify's `READY=1`) when it
/// runs as a `Type=notify` unit; nothing otherwise (a run by hand), nor a
/// second time.
fn notify_ready() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static SENT: AtomicBool = AtomicBool::new(false);
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if SENT.swap(true, Ordering::Relaxed) {
        return;
    }
    if let Err(e) = vigil_platform::socket::notify_send(socket, b"READY=1") {
        error(format!(
            "warning: cannot tell the manager the mounts are done: {e}"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Result<Args, String> {
        parse_args(v.iter().map(|s| s.to_string()))
    }

    #[test]
    fn command_line() {
        let a = args(&["fstab", "--root", "/r", "--dry-run"]).unwrap();
        assert_eq!(
            (a.command.as_str(), a.root.as_path(), a.dry_run),
            ("fstab", Path::new("/r"), true)
        );
        let a = args(&["--dry-run", "sysctl"]).unwrap();
        assert_eq!(
            (a.command.as_str(), a.root.as_path()),
            ("sysctl", Path::new("/"))
        );
        assert!(args(&[]).is_err());
        assert!(args(&["fstab", "--root"]).is_err());
        assert!(args(&["fstab", "--bogus"]).is_err());
        assert!(args(&["fstab", "extra"]).is_err());
        let a = args(&["fstab", "--remote", "--unmount"]).unwrap();
        assert!(a.remote && a.unmount);
        assert!(args(&["sysctl", "--remote"]).is_err());
        assert!(args(&["fstab", "--unmount"]).is_err());
        assert!(args(&["fstab", "--remote", "--check"]).unwrap().check);
        assert!(args(&["fstab", "--check"]).is_err());
        assert!(args(&["fstab", "--remote", "--check", "--unmount"]).is_err());
    }
}
