//! The command line of `vigil`, parsed by hand: a verb, its arguments and a few
//! global options. Parsing only; nothing here talks to the manager.

use std::path::PathBuf;

use vigil_proto::KillWhom;

pub const HELP: &str = "\
vigil - control the vigil service manager

usage: vigil [--socket PATH] [--json] VERB [ARGS...]

verbs:
  list [--failed]              every unit (or the failed ones) with its state and main PID
                               (long reasons shortened: status has them whole)
  is-active NAME... [-q]       print each unit's state in systemctl's words (active,
                               activating, deactivating, reloading, inactive, failed),
                               a line per name in the order given;
                               exit 0 when one is active or reloading, else 3;
                               -q: the exit code only
  is-failed NAME... [-q]       the same; exit 0 when one is failed, else 1
  status NAME... [-n LINES]    state, reason, PID, restarts, last exit, status text, log tail;
                               a warning on stderr when its files changed on disk since
                               they were read (vigil sync reads them; show's
                               NeedDaemonReload=yes)
  show [NAME...] [-p PROP[,PROP...]] [-P PROP] [--value] [-a]
                               each unit's properties as systemctl show prints them,
                               Key=Value a line, a blank line between units (systemd's
                               names and formats; what vigil cannot know is left out);
                               no name: the manager's own (Version, SystemState,
                               NFailedUnits...); -p: only those (PROP= when vigil has
                               none); --value: the values alone; -P PROP: -p PROP --value;
                               -a: the empty ones too;
                               a name with no unit is LoadState=not-found, exit 0
  cat NAME...                  print the unit's file and the drop-ins applied over it,
                               each under '# PATH' (a template's too: foo@); exit 1 for
                               a name with no file
  start NAME... [--no-block]   start units (and what they require); waits until they settle
  stop NAME... [--no-block]    stop units (and what requires them)
  restart NAME... [--no-block]
  reload NAME... [--no-block]  run ExecReload= (refused without it); waits until the
                               reload ends, exit 1 when it failed or timed out; a unit
                               still starting is not reloaded: waits for its start
  try-restart NAME... [--no-block]
                               restart the units that are active or activating; leave
                               the others as they are (exit 0); also condrestart
  reload-or-restart NAME... [--no-block]
                               reload a unit that can (ExecReload=, Type=notify-reload)
                               and is active, start it when it is down; restart one that
                               cannot reload
  try-reload-or-restart NAME... [--no-block]
                               the same for the active units only; also force-reload,
                               reload-or-try-restart, condreload
  isolate NAME [--no-block]    start the target NAME (.target when no suffix is given;
                               it must have AllowIsolate=yes) and what it pulls in, and
                               stop every other unit but those with IgnoreOnIsolate=yes
                               and what the units kept need; waits until the target has
                               settled and the others are down
  rescue / emergency / default [--no-block]
                               isolate rescue.target / emergency.target / default.target
                               (the target vigild boots when there is no default.target)
  kill NAME [SIGNAL] [--kill-whom=all|main|control]
                               send a signal (default SIGTERM) to every process of the
                               unit (with their process groups), or to the main or the
                               control process only
  log [NAME] [-n LINES] [-f] [--since TIME] [--until TIME]
                               log lines of one unit, or of all interleaved by time; -f follows;
                               --since/--until: only lines of that time or later/earlier
                               (2026-12-07 14:05[:00], 14:05, today, yesterday, -1h,
                               10min ago, @SECONDS; UTC, as the lines show)
  sync                         rescan the configuration directories (also daemon-reload)
  reset-failed [NAME...]       clear the failed state (and start limit) of units
  enable NAME... / disable NAME... [--now] [-q]
                               create / remove the [Install] symlinks (TARGET.wants/, .requires/),
                               saying each on stderr as systemctl does ('Created symlink
                               LINK → FILE.', 'Removed \"LINK\".'; -q: not said);
                               --now: then start / stop them too
  mask NAME... / unmask NAME... [-q]
                               link each name to /dev/null where enable links (a masked
                               unit cannot be started, even by hand; one running runs on
                               until stopped) / remove such links; said as enable says
  edit NAME [--full] [--drop-in=NAME] [--runtime] [--force]
                               as systemctl edit: an editor ($SYSTEMD_EDITOR, $EDITOR,
                               $VISUAL, else editor, nano, vim, vi) on a copy of the
                               drop-in NAME.d/override.conf (--drop-in: NAME.conf) where
                               enable links, the unit's files shown below as comments;
                               what is kept above the marker is written when the editor
                               exits 0 (nothing changed when it fails: exit 1; emptied:
                               the drop-in is removed), then the configuration is read
                               again; --full: a whole copy of the unit file there, which
                               takes precedence over the vendor's; --runtime: in the
                               runtime directory (/run/vigil) instead; --force: a name
                               with no unit file too (a new unit with --full)
  revert NAME...               as systemctl revert: remove the units' drop-ins, a copy
                               overriding a vendor file, and a mask from the directories
                               vigil writes to (where enable links, and the runtime one),
                               saying each as 'Removed \"PATH\".'; the vendor's files stay
  list-unit-files [PATTERN...] [--state=STATE[,STATE...]]
                               every unit file of the configuration directories (those
                               a pattern matches) with its state as is-enabled says it,
                               or alias; exit 1 when none is listed
  is-enabled NAME... [-q]      enabled, disabled, static, indirect (a template whose
                               instance is enabled), alias, generated, masked, bad or
                               not-found for each unit; exit 0 when one is enabled,
                               static, indirect, alias or generated
  verify PATH...               check unit files and directories offline; errors and warnings
                               with file:line, a command whose program cannot be run
                               included (exit 1 when there is an error)
  notify [--ready] [--reloading] [--stopping] [--status=TEXT] [--pid=PID] [--no-block]
         [KEY=VALUE...]        send a notification to $NOTIFY_SOCKET (like systemd-notify);
                               waits until the manager has it, unless --no-block
  list-dependencies [NAME...] [--reverse|--after|--before] [--all] [--plain]
                               the units NAME (default.target) pulls in (Requires=,
                               Requisite=, Wants=, BindsTo=, ConsistsOf=), as a tree with
                               each unit's state (● active, ○ inactive, × failed, ↻
                               reloading); --reverse: what pulls NAME in; --after,
                               --before: the ordering; targets are expanded, other units
                               only with --all; --plain: a list, each unit once
  list-jobs                    the pending jobs: unit, type (start, stop, restart, reload),
                               state (waiting for its order, or running); 'No jobs running.'
  is-system-running [--wait] [-q]
                               the manager's state: initializing, starting (the boot's jobs
                               pending), running, degraded (a unit failed), maintenance
                               (the emergency shell runs, or rescue or emergency mode),
                               stopping; offline when the
                               manager cannot be reached; exit 0 only for running, else 1
                               (as systemctl); --wait: once the boot is done
  get-default                  the target default.target is (its link's), as systemctl
  set-default NAME [-q]        link default.target to the target NAME's file where enable
                               links (said as enable says it); the configuration is read
                               again
  graph                        the dependency graph in DOT
  blame                        each unit's own start time (its job's start to ready), slowest first
  shutdown                     stop every unit in reverse dependency order; vigild exits
  poweroff / reboot / halt     the same, then vigil-init powers off, reboots or halts the
                               machine (needs vigild started by vigil-init; root or
                               the manager's own user)
  reexec                       replace vigild with the binary on disk (an upgrade): every
                               service keeps running, no log line is lost

options:
  --socket PATH   the manager's control socket (also $VIGIL_SOCKET); default
                  /run/vigil/control.sock for root, $XDG_RUNTIME_DIR/vigil/control.sock
                  otherwise (/tmp/vigil-UID/control.sock without XDG_RUNTIME_DIR), and
                  the system's /run/vigil/control.sock when that one does not exist
  --json          machine-readable output (list, list-unit-files, status, show, blame, log,
                  list-jobs, list-dependencies);
                  status gives an object for exactly one plain name, else an array
                  (a pattern or several names; [] when none is found); show: an object
                  of the properties for one plain name (or the manager), else an array
  -h, --help      this text
  --version       the version
  --              the end of the options: every argument after it is a name (the
                  verb first, if it has not come yet)

options go before or after the verb, their values as `-n 5`, `-n5` or `--lines=5`;
a flag that takes no value refuses one (--no-block=false is a usage error).

run by the name poweroff, reboot, halt, shutdown, runlevel or telinit (a link),
vigil is System V's command of that name: 'shutdown --help'.

a question (list, status, is-active, is-enabled, log without -f...) gives up when
the manager has not answered in 25 s ($VIGIL_QUERY_TIMEOUT seconds), exit 5: a
stopped or stuck manager; what waits for jobs (start, stop...) waits as they take.

unit names may omit \".service\"; a name with * ? or [...] is a pattern matching
every loaded unit whose whole name fits ('worker@*').

exit codes:
  0  success
  1  the operation failed (or writing the output failed: 'vigil: write error: ...')
  2  usage error
  3  unit not active (status)
  4  no such unit
  5  manager unreachable (or it refused the connection: too many from this user)
";

#[derive(Debug, PartialEq)]
pub struct Command {
    pub socket: Option<PathBuf>,
    pub json: bool,
    pub verb: Verb,
}

#[derive(Debug, PartialEq)]
pub enum Verb {
    /// `--failed`: only the failed units.
    List {
        failed: bool,
    },
    /// `list-unit-files`: the unit files whose names a pattern matches (all
    /// when none is given), of the states named (all when none is).
    ListUnitFiles {
        patterns: Vec<String>,
        states: Vec<String>,
    },
    /// `is-enabled`: whether each unit is enabled, told by the exit code.
    IsEnabled {
        units: Vec<String>,
        quiet: bool,
    },
    /// `is-active` / `is-failed`: the state of each unit, told by the exit code.
    Is {
        units: Vec<String>,
        failed: bool,
        /// `-q`/`--quiet`: the exit code alone.
        quiet: bool,
    },
    Status {
        units: Vec<String>,
        lines: usize,
    },
    /// The unit files and drop-ins of each unit, as systemctl cat prints them.
    Cat {
        units: Vec<String>,
    },
    /// systemctl show: each unit's properties (the manager's without a
    /// name), `Key=Value` a line.
    Show {
        units: Vec<String>,
        options: crate::show::Options,
    },
    Start {
        units: Vec<String>,
        no_block: bool,
    },
    Stop {
        units: Vec<String>,
        no_block: bool,
    },
    Restart {
        units: Vec<String>,
        no_block: bool,
    },
    Reload {
        units: Vec<String>,
        no_block: bool,
    },
    /// `try-restart` (`condrestart`): the active units only.
    TryRestart {
        units: Vec<String>,
        no_block: bool,
    },
    ReloadOrRestart {
        units: Vec<String>,
        no_block: bool,
    },
    /// `try-reload-or-restart` (`force-reload`, `reload-or-try-restart`,
    /// `condreload`).
    TryReloadOrRestart {
        units: Vec<String>,
        no_block: bool,
    },
    /// `isolate` (and `rescue`, `emergency`, `default`): the target to
    /// isolate, suffixed.
    Isolate {
        unit: String,
        no_block: bool,
    },
    Kill {
        unit: String,
        signal: i32,
        whom: KillWhom,
    },
    Log {
        unit: Option<String>,
        lines: Option<usize>,
        follow: bool,
        /// `--since`, `--until`: µs since the epoch, both ends kept.
        since_us: Option<u64>,
        until_us: Option<u64>,
    },
    Sync,
    ResetFailed {
        units: Vec<String>,
    },
    /// `--now`: start (enable) or stop (disable) them too, once linked;
    /// `-q`: the links made or removed are not said.
    Enable {
        units: Vec<String>,
        now: bool,
        quiet: bool,
    },
    Disable {
        units: Vec<String>,
        now: bool,
        quiet: bool,
    },
    /// `-q`: the links made or removed are not said.
    Mask {
        units: Vec<String>,
        quiet: bool,
    },
    Unmask {
        units: Vec<String>,
        quiet: bool,
    },
    Verify {
        paths: Vec<PathBuf>,
    },
    Notify {
        fields: Vec<(String, String)>,
        pid: Option<u32>,
        /// `--no-block`: no barrier, no wait for the manager.
        no_block: bool,
    },
    Graph,
    Blame,
    /// `shutdown`, or `poweroff`/`reboot`/`halt` (the machine, through vigil-init).
    Shutdown(Option<vigil_proto::PowerAction>),
    Reexec,
    /// `is-system-running`: `--wait` until the boot is done; `-q`: the exit
    /// code only.
    IsSystemRunning {
        wait: bool,
        quiet: bool,
    },
    /// `list-dependencies [NAME...]` (default.target when none): `relation`
    /// is the last of `--reverse`, `--after`, `--before` (None: forward);
    /// `--all` expands every unit, not only targets; `--plain` a list.
    ListDependencies {
        units: Vec<String>,
        relation: Option<vigil_proto::DependencyRelation>,
        all: bool,
        plain: bool,
    },
    ListJobs,
    GetDefault,
    /// `-q`: the links made or removed are not said.
    SetDefault {
        unit: String,
        quiet: bool,
    },
    /// systemctl edit: a drop-in (`full`: a copy of the unit file) through
    /// an editor.
    Edit {
        unit: String,
        full: bool,
        drop_in: Option<String>,
        runtime: bool,
        force: bool,
    },
    /// systemctl revert: the units' drop-ins, full copies and masks removed.
    Revert {
        units: Vec<String>,
    },
}

#[derive(Debug, PartialEq)]
pub enum UsageError {
    Help,
    Version,
    Bad(String),
}

fn bad(msg: impl Into<String>) -> UsageError {
    UsageError::Bad(msg.into())
}

/// The options of the verbs that take a value as the next argument: before
/// the verb (`vigil -n 1 log web`), that argument is the value, not the verb.
const VALUE_OPTIONS: &[&str] = &[
    "-n",
    "--lines",
    "-s",
    "--signal",
    "--kill-whom",
    "--kill-who",
    "--status",
    "--pid",
    "--mainpid",
    "-S",
    "--since",
    "-U",
    "--until",
    "--state",
    "-p",
    "--property",
    "--drop-in",
];

pub fn parse(args: &[String]) -> Result<Command, UsageError> {
    let mut socket = None;
    let mut json = false;
    let mut verb: Option<String> = None;
    // Options may come before or after the verb; everything that is not a global
    // option is kept, in order, for the verb. After `--` nothing is an option:
    // the verb, if it has not come yet, then names.
    let mut rest: Vec<&str> = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--" => {
                if verb.is_none() {
                    verb = it.next().cloned();
                }
                rest.push("--");
                rest.extend(it.map(String::as_str));
                break;
            }
            "-h" | "--help" => return Err(UsageError::Help),
            "--version" => return Err(UsageError::Version),
            "--json" => json = true,
            s if s.starts_with("--json=") => return Err(bad("--json takes no value")),
            "--socket" => {
                let path = it.next().ok_or_else(|| bad("--socket needs a path"))?;
                socket = Some(socket_path(path)?);
            }
            s if s.starts_with("--socket=") => {
                socket = Some(socket_path(&s["--socket=".len()..])?);
            }
            s if verb.is_none() && VALUE_OPTIONS.contains(&s) => {
                rest.push(s);
                rest.extend(it.next().map(String::as_str));
            }
            s if verb.is_none() && !s.starts_with('-') => verb = Some(s.to_string()),
            s => rest.push(s),
        }
    }
    let verb = verb.ok_or_else(|| bad("no verb given"))?;
    let verb = parse_verb(&verb, &rest)?;
    Ok(Command { socket, json, verb })
}

/// `--socket PATH`: an empty path names nothing (as an empty `VIGIL_SOCKET`
/// is unset), a usage error rather than a connection to "".
fn socket_path(path: &str) -> Result<PathBuf, UsageError> {
    if path.is_empty() {
        return Err(bad("--socket needs a path, not an empty one"));
    }
    Ok(PathBuf::from(path))
}

/// Splits the verb's arguments into names and flags, checking flags against `allowed`.
/// Flags that take a value (`-n 5`) are listed in `with_value`.
struct Args<'a> {
    names: Vec<&'a str>,
    flags: Vec<(&'a str, Option<&'a str>)>,
}

fn split<'a>(
    verb: &str,
    rest: &[&'a str],
    allowed: &[&str],
    with_value: &[&str],
) -> Result<Args<'a>, UsageError> {
    let mut names = Vec::new();
    let mut flags = Vec::new();
    let mut i = 0;
    while let Some(&arg) = rest.get(i) {
        i += 1;
        if arg == "--" {
            names.extend(rest.iter().skip(i).copied());
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            names.push(arg);
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v)),
            // A short option with its value attached: `-n1`, `-sKILL`.
            None if arg.len() > 2
                && !arg.starts_with("--")
                && arg.is_char_boundary(2)
                && with_value.contains(&&arg[..2]) =>
            {
                (&arg[..2], Some(&arg[2..]))
            }
            None => (arg, None),
        };
        if !allowed.contains(&flag) {
            return Err(bad(format!("{verb}: unknown option {flag}")));
        }
        // `--no-block=false` would otherwise turn no-block on.
        if inline.is_some() && !with_value.contains(&flag) {
            return Err(bad(format!("{verb}: {flag} takes no value")));
        }
        if with_value.contains(&flag) && inline.is_none() {
            let value = rest
                .get(i)
                .copied()
                .ok_or_else(|| bad(format!("{verb}: {flag} needs a value")))?;
            i += 1;
            flags.push((flag, Some(value)));
        } else {
            flags.push((flag, inline));
        }
    }
    Ok(Args { names, flags })
}

impl<'a> Args<'a> {
    fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|(f, _)| *f == flag)
    }

    fn value(&self, flags: &[&str]) -> Option<&'a str> {
        self.flags
            .iter()
            .rev()
            .find(|(f, _)| flags.contains(f))
            .and_then(|(_, v)| *v)
    }

    fn owned_names(&self) -> Vec<String> {
        self.names.iter().map(|s| s.to_string()).collect()
    }

    fn at_least_one(&self, verb: &str) -> Result<Vec<String>, UsageError> {
        if self.names.is_empty() {
            return Err(bad(format!("{verb}: at least one unit name is needed")));
        }
        // `vigil status ''` (an unset variable) asked for `.service`.
        if self.names.iter().any(|n| n.is_empty()) {
            return Err(bad(format!("{verb}: an empty unit name")));
        }
        Ok(self.owned_names())
    }

    fn none(&self, verb: &str) -> Result<(), UsageError> {
        match self.names.first() {
            Some(extra) => Err(bad(format!("{verb}: unexpected argument {extra}"))),
            None => Ok(()),
        }
    }
}

fn parse_count(verb: &str, v: Option<&str>) -> Result<Option<usize>, UsageError> {
    v.map(|s| {
        s.parse::<usize>()
            .map_err(|_| bad(format!("{verb}: -n needs a number, got {s:?}")))
    })
    .transpose()
}

fn parse_verb(verb: &str, rest: &[&str]) -> Result<Verb, UsageError> {
    let nb = ["--no-block"];
    Ok(match verb {
        "list" | "list-units" => {
            let a = split(verb, rest, &["--failed"], &[])?;
            let failed = a.has("--failed");
            a.none(verb)?;
            Verb::List { failed }
        }
        "list-unit-files" => {
            let a = split(verb, rest, &["--state"], &["--state"])?;
            let states = (a.flags.iter())
                .filter_map(|(_, v)| *v)
                .flat_map(|v| v.split(','))
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            Verb::ListUnitFiles {
                patterns: a.owned_names(),
                states,
            }
        }
        "is-enabled" => {
            let a = split(verb, rest, &["-q", "--quiet"], &[])?;
            // It reads unit files, not loaded units: a pattern names none of
            // them (it was answered `bad` or `not-found`).
            if let Some(unit) = a.names.iter().find(|u| vigil_units::glob::is_glob(u)) {
                return Err(bad(format!(
                    "is-enabled: {unit}: is-enabled takes unit names, not patterns"
                )));
            }
            Verb::IsEnabled {
                quiet: a.has("-q") || a.has("--quiet"),
                units: a.at_least_one(verb)?,
            }
        }
        "is-active" | "is-failed" => {
            let a = split(verb, rest, &["-q", "--quiet"], &[])?;
            Verb::Is {
                quiet: a.has("-q") || a.has("--quiet"),
                units: a.at_least_one(verb)?,
                failed: verb == "is-failed",
            }
        }
        "status" => {
            let a = split(verb, rest, &["-n", "--lines"], &["-n", "--lines"])?;
            Verb::Status {
                units: a.at_least_one(verb)?,
                lines: parse_count(verb, a.value(&["-n", "--lines"]))?.unwrap_or(10),
            }
        }
        "show" => {
            // `-P PROP`: systemctl's `-p PROP --value`.
            let props = ["-p", "--property", "-P"];
            let a = split(
                verb,
                rest,
                &["-p", "--property", "-P", "--value", "-a", "--all"],
                &props,
            )?;
            if a.names.iter().any(|n| n.is_empty()) {
                return Err(bad("show: an empty unit name"));
            }
            // `-p A,B -p C`, as systemctl takes them.
            let properties = (a.flags.iter())
                .filter(|(f, _)| props.contains(f))
                .filter_map(|(_, v)| *v)
                .flat_map(|v| v.split(','))
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect();
            Verb::Show {
                units: a.owned_names(),
                options: crate::show::Options {
                    properties,
                    value: a.has("--value") || a.has("-P"),
                    all: a.has("-a") || a.has("--all"),
                },
            }
        }
        "cat" => Verb::Cat {
            units: split(verb, rest, &[], &[])?.at_least_one(verb)?,
        },
        "start" | "stop" | "restart" => {
            let a = split(verb, rest, &nb, &[])?;
            let units = a.at_least_one(verb)?;
            let no_block = a.has("--no-block");
            match verb {
                "start" => Verb::Start { units, no_block },
                "stop" => Verb::Stop { units, no_block },
                _ => Verb::Restart { units, no_block },
            }
        }
        "reload" => {
            let a = split(verb, rest, &nb, &[])?;
            Verb::Reload {
                no_block: a.has("--no-block"),
                units: a.at_least_one(verb)?,
            }
        }
        // systemctl's names, its old aliases with them.
        "try-restart"
        | "condrestart"
        | "reload-or-restart"
        | "try-reload-or-restart"
        | "force-reload"
        | "reload-or-try-restart"
        | "condreload" => {
            let a = split(verb, rest, &nb, &[])?;
            let (units, no_block) = (a.at_least_one(verb)?, a.has("--no-block"));
            match verb {
                "try-restart" | "condrestart" => Verb::TryRestart { units, no_block },
                "reload-or-restart" => Verb::ReloadOrRestart { units, no_block },
                _ => Verb::TryReloadOrRestart { units, no_block },
            }
        }
        "isolate" | "rescue" | "emergency" | "default" => parse_isolate(verb, rest)?,
        "kill" => {
            let whom_flags = ["--kill-whom", "--kill-who"];
            let a = split(
                verb,
                rest,
                &["--group", "-s", "--signal", whom_flags[0], whom_flags[1]],
                &["-s", "--signal", whom_flags[0], whom_flags[1]],
            )?;
            let (unit, sig) = match a.names.as_slice() {
                // One unit: a pattern would signal units nobody named.
                [unit, ..] if vigil_units::glob::is_glob(unit) => {
                    return Err(bad(format!(
                        "kill: {unit}: kill takes one unit name, not a pattern"
                    )));
                }
                [unit] => (*unit, a.value(&["-s", "--signal"]).unwrap_or("SIGTERM")),
                [unit, sig] => (*unit, *sig),
                _ => {
                    return Err(bad(
                        "kill: usage: vigil kill NAME [SIGNAL] [--kill-whom=main|control|all]",
                    ));
                }
            };
            let signal = parse_signal(sig).ok_or_else(|| {
                bad(format!(
                    "kill: unknown signal {sig}: a name (TERM, SIGHUP) or a number from 1 to 64"
                ))
            })?;
            // As systemctl: every process of the unit unless told otherwise;
            // `--group` is the older spelling of that.
            let whom = match a.value(&whom_flags) {
                None | Some("all") => KillWhom::All,
                Some("main") => KillWhom::Main,
                Some("control") => KillWhom::Control,
                Some(other) => {
                    return Err(bad(format!(
                        "kill: --kill-whom takes main, control or all, not {other}"
                    )));
                }
            };
            Verb::Kill {
                unit: unit.to_string(),
                signal,
                whom,
            }
        }
        "log" | "logs" => {
            let a = split(
                verb,
                rest,
                &[
                    "-n", "--lines", "-f", "--follow", "-S", "--since", "-U", "--until",
                ],
                &["-n", "--lines", "-S", "--since", "-U", "--until"],
            )?;
            if a.names.len() > 1 {
                return Err(bad("log: at most one unit name"));
            }
            let now = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH))
                .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
            let time = |names: &[&str], option: &str| {
                a.value(names)
                    .map(|spec| crate::when::parse(spec, now))
                    .transpose()
                    .map_err(|e| bad(format!("log: {option}: {e}")))
            };
            let since_us = time(&["-S", "--since"], "--since")?;
            let until_us = time(&["-U", "--until"], "--until")?;
            let follow = a.has("-f") || a.has("--follow");
            if let (Some(since), Some(until)) = (since_us, until_us)
                && since > until
            {
                return Err(bad("log: --since is after --until"));
            }
            if follow && until_us.is_some() {
                return Err(bad("log: --until and --follow do not go together"));
            }
            Verb::Log {
                unit: a.names.first().map(|s| s.to_string()),
                lines: parse_count(verb, a.value(&["-n", "--lines"]))?,
                follow,
                since_us,
                until_us,
            }
        }
        "sync" | "daemon-reload" => {
            split(verb, rest, &[], &[])?.none(verb)?;
            Verb::Sync
        }
        "reset-failed" => Verb::ResetFailed {
            units: split(verb, rest, &[], &[])?.owned_names(),
        },
        "enable" | "disable" => {
            let a = split(verb, rest, &["--now", "-q", "--quiet"], &[])?;
            let (units, now) = (a.at_least_one(verb)?, a.has("--now"));
            let quiet = a.has("-q") || a.has("--quiet");
            match verb {
                "enable" => Verb::Enable { units, now, quiet },
                _ => Verb::Disable { units, now, quiet },
            }
        }
        "mask" | "unmask" => {
            let a = split(verb, rest, &["-q", "--quiet"], &[])?;
            // It names files, which a pattern does not.
            if let Some(unit) = a.names.iter().find(|u| vigil_units::glob::is_glob(u)) {
                return Err(bad(format!(
                    "{verb}: {unit}: {verb} takes unit names, not patterns"
                )));
            }
            let (units, quiet) = (a.at_least_one(verb)?, a.has("-q") || a.has("--quiet"));
            match verb {
                "mask" => Verb::Mask { units, quiet },
                _ => Verb::Unmask { units, quiet },
            }
        }
        "verify" => {
            let a = split(verb, rest, &[], &[])?;
            if a.names.is_empty() {
                return Err(bad("verify: at least one file or directory is needed"));
            }
            Verb::Verify {
                paths: a.names.iter().map(PathBuf::from).collect(),
            }
        }
        "notify" => parse_notify(rest)?,
        "graph" => {
            split(verb, rest, &[], &[])?.none(verb)?;
            Verb::Graph
        }
        "blame" => {
            split(verb, rest, &[], &[])?.none(verb)?;
            Verb::Blame
        }
        "shutdown" => {
            split(verb, rest, &[], &[])?.none(verb)?;
            Verb::Shutdown(None)
        }
        "reexec" => {
            split(verb, rest, &[], &[])?.none(verb)?;
            Verb::Reexec
        }
        "is-system-running" => {
            let a = split(verb, rest, &["--wait", "-q", "--quiet"], &[])?;
            a.none(verb)?;
            Verb::IsSystemRunning {
                wait: a.has("--wait"),
                quiet: a.has("-q") || a.has("--quiet"),
            }
        }
        "list-dependencies" => {
            let a = split(
                verb,
                rest,
                &["--reverse", "--after", "--before", "--all", "-a", "--plain"],
                &[],
            )?;
            use vigil_proto::DependencyRelation as R;
            // As systemctl's: the last of them counts.
            let relation = (a.flags.iter().rev()).find_map(|(f, _)| match *f {
                "--reverse" => Some(R::Reverse),
                "--after" => Some(R::After),
                "--before" => Some(R::Before),
                _ => None,
            });
            if let Some(unit) = a.names.iter().find(|u| vigil_units::glob::is_glob(u)) {
                return Err(bad(format!(
                    "list-dependencies: {unit}: list-dependencies takes unit names, not patterns"
                )));
            }
            if a.names.iter().any(|n| n.is_empty()) {
                return Err(bad("list-dependencies: an empty unit name"));
            }
            let mut units = a.owned_names();
            if units.is_empty() {
                units.push("default.target".into());
            }
            Verb::ListDependencies {
                units,
                relation,
                all: a.has("--all") || a.has("-a"),
                plain: a.has("--plain"),
            }
        }
        "list-jobs" => {
            split(verb, rest, &[], &[])?.none(verb)?;
            Verb::ListJobs
        }
        "get-default" => {
            split(verb, rest, &[], &[])?.none(verb)?;
            Verb::GetDefault
        }
        "set-default" => {
            let a = split(verb, rest, &["-q", "--quiet"], &[])?;
            let unit = match a.names.as_slice() {
                [unit] if !unit.is_empty() => unit.to_string(),
                _ => return Err(bad("set-default: usage: vigil set-default NAME")),
            };
            Verb::SetDefault {
                unit,
                quiet: a.has("-q") || a.has("--quiet"),
            }
        }
        "edit" => {
            let a = split(
                verb,
                rest,
                &["--full", "--drop-in", "--runtime", "--force", "-f"],
                &["--drop-in"],
            )?;
            let unit = match a.names.as_slice() {
                [unit] if vigil_units::glob::is_glob(unit) => {
                    return Err(bad(format!(
                        "edit: {unit}: edit takes a unit name, not a pattern"
                    )));
                }
                [unit] if !unit.is_empty() => unit.to_string(),
                _ => {
                    return Err(bad(
                        "edit: usage: vigil edit NAME [--full] [--drop-in=NAME]",
                    ));
                }
            };
            let full = a.has("--full");
            let drop_in = a.value(&["--drop-in"]).map(String::from);
            // As systemctl: a whole file is no drop-in.
            if full && drop_in.is_some() {
                return Err(bad("edit: --full and --drop-in do not go together"));
            }
            Verb::Edit {
                unit,
                full,
                drop_in,
                runtime: a.has("--runtime"),
                force: a.has("--force") || a.has("-f"),
            }
        }
        "revert" => {
            let a = split(verb, rest, &[], &[])?;
            // It names files, which a pattern does not.
            if let Some(unit) = a.names.iter().find(|u| vigil_units::glob::is_glob(u)) {
                return Err(bad(format!(
                    "revert: {unit}: revert takes unit names, not patterns"
                )));
            }
            Verb::Revert {
                units: a.at_least_one(verb)?,
            }
        }
        "poweroff" | "reboot" | "halt" => {
            split(verb, rest, &[], &[])?.none(verb)?;
            Verb::Shutdown(Some(match verb {
                "poweroff" => vigil_proto::PowerAction::Poweroff,
                "reboot" => vigil_proto::PowerAction::Reboot,
                _ => vigil_proto::PowerAction::Halt,
            }))
        }
        other => return Err(bad(format!("unknown verb {other:?}"))),
    })
}

/// `isolate NAME`, or the verbs that isolate a target of their own name
/// (`rescue`, `emergency`, `default`), as systemctl's. A name without a
/// suffix is a target's (`vigil isolate multi-user`), as systemctl takes it.
fn parse_isolate(verb: &str, rest: &[&str]) -> Result<Verb, UsageError> {
    let a = split(verb, rest, &["--no-block"], &[])?;
    let no_block = a.has("--no-block");
    if verb != "isolate" {
        a.none(verb)?;
        let unit = format!("{verb}.target");
        return Ok(Verb::Isolate { unit, no_block });
    }
    let unit = match a.names.as_slice() {
        [unit] if vigil_units::glob::is_glob(unit) => {
            return Err(bad(format!(
                "isolate: {unit}: isolate takes one unit name, not a pattern"
            )));
        }
        [""] => return Err(bad("isolate: an empty unit name")),
        [unit] => match vigil_units::name::suffix_of(unit) {
            Some(_) => unit.to_string(),
            None => format!("{unit}.target"),
        },
        _ => return Err(bad("isolate: usage: vigil isolate NAME [--no-block]")),
    };
    Ok(Verb::Isolate { unit, no_block })
}

fn parse_notify(rest: &[&str]) -> Result<Verb, UsageError> {
    let a = split(
        "notify",
        rest,
        &[
            "--ready",
            "--reloading",
            "--stopping",
            "--status",
            "--pid",
            "--mainpid",
            "--no-block",
        ],
        &["--status", "--pid", "--mainpid"],
    )?;
    let mut fields = Vec::new();
    let (mut pid, mut no_block) = (None, false);
    for (flag, value) in &a.flags {
        match *flag {
            "--no-block" => no_block = true,
            "--ready" => fields.push(("READY".to_string(), "1".to_string())),
            "--reloading" => fields.push(("RELOADING".to_string(), "1".to_string())),
            "--stopping" => fields.push(("STOPPING".to_string(), "1".to_string())),
            "--status" => fields.push(("STATUS".to_string(), value.unwrap_or("").to_string())),
            _ => {
                let v = value.unwrap_or("");
                let n = v
                    .parse::<u32>()
                    .map_err(|_| bad(format!("notify: {flag} needs a PID, got {v:?}")))?;
                fields.push(("MAINPID".to_string(), n.to_string()));
                pid = Some(n);
            }
        }
    }
    for name in &a.names {
        let (k, v) = name
            .split_once('=')
            .ok_or_else(|| bad(format!("notify: expected KEY=VALUE, got {name:?}")))?;
        if k.is_empty() || k.contains('\n') || v.contains('\n') {
            return Err(bad(format!("notify: bad field {name:?}")));
        }
        fields.push((k.to_string(), v.to_string()));
    }
    if fields.is_empty() {
        return Err(bad(
            "notify: nothing to send (try --ready or --status=TEXT)",
        ));
    }
    Ok(Verb::Notify {
        fields,
        pid,
        no_block,
    })
}

/// Accepts `TERM`, `SIGTERM`, `sigterm`, `RTMIN+1` and `15`.
pub fn parse_signal(s: &str) -> Option<i32> {
    vigil_platform::signal_from_name(&s.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Command, UsageError> {
        let args: Vec<String> = s.split_whitespace().map(String::from).collect();
        parse(&args)
    }

    #[test]
    fn isolate_takes_one_name_and_suffixes_a_target() {
        let verb = |s: &str| p(s).map(|c| c.verb);
        let isolate = |unit: &str, no_block| Verb::Isolate {
            unit: unit.into(),
            no_block,
        };
        assert_eq!(
            verb("isolate multi-user"),
            Ok(isolate("multi-user.target", false))
        );
        assert_eq!(
            verb("isolate web.service"),
            Ok(isolate("web.service", false))
        );
        assert_eq!(
            verb("rescue --no-block"),
            Ok(isolate("rescue.target", true))
        );
        assert_eq!(verb("emergency"), Ok(isolate("emergency.target", false)));
        assert_eq!(verb("default"), Ok(isolate("default.target", false)));
        for bad in ["isolate", "isolate a b", "isolate 'x*'", "rescue now"] {
            assert!(matches!(p(bad), Err(UsageError::Bad(_))), "{bad}");
        }
    }

    #[test]
    fn an_unknown_signal_is_told_with_what_is_taken() {
        let Err(UsageError::Bad(said)) = p("kill web 99") else {
            panic!("kill web 99 was taken");
        };
        assert!(
            said.contains("unknown signal 99: a name (TERM, SIGHUP) or a number from 1 to 64"),
            "{said}"
        );
        assert!(p("kill web 64").is_ok());
    }

    #[test]
    fn global_options_anywhere() {
        let c = p("status web --json --socket /s -n 3").unwrap();
        assert_eq!(c.socket, Some(PathBuf::from("/s")));
        assert!(c.json);
        assert_eq!(
            c.verb,
            Verb::Status {
                units: vec!["web".into()],
                lines: 3
            }
        );
    }

    #[test]
    fn kill_takes_a_signal_by_name_or_number() {
        for (s, n) in [("HUP", 1), ("SIGUSR1", 10), ("9", 9), ("sigterm", 15)] {
            match p(&format!("kill web {s}")).unwrap().verb {
                Verb::Kill { signal, .. } => assert_eq!(signal, n),
                v => panic!("{v:?}"),
            }
        }
        assert!(matches!(p("kill web NOPE"), Err(UsageError::Bad(_))));
        assert!(matches!(p("kill"), Err(UsageError::Bad(_))));
    }

    #[test]
    fn usage_errors() {
        for bad in [
            "",
            "start",
            "frobnicate",
            "list extra",
            "status web -n x",
            "start web --bogus",
            "notify",
            "notify FOO",
            "log a b",
            "cat",
            "cat a --now",
            "mask",
            "mask a*",
            "unmask 'w@[12]'",
            "mask a --now",
        ] {
            assert!(matches!(p(bad), Err(UsageError::Bad(_))), "{bad:?}");
        }
        assert_eq!(p("--help").unwrap_err(), UsageError::Help);
        assert_eq!(p("list -h").unwrap_err(), UsageError::Help);
    }

    /// Review finding: `--` did not end the global options (`vigil is-active
    /// -- --json web` took --json, `vigil status -- --socket /x web`
    /// connected to /x, `vigil is-active -- -h` printed the help).
    #[test]
    fn nothing_after_a_double_dash_is_an_option() {
        let c = p("is-active -- --json web").unwrap();
        assert!(!c.json);
        assert_eq!(
            c.verb,
            Verb::Is {
                units: vec!["--json".into(), "web".into()],
                failed: false,
                quiet: false
            }
        );
        let c = p("status -- --socket /x web").unwrap();
        assert_eq!(c.socket, None);
        assert!(matches!(c.verb, Verb::Status { units, .. } if units == ["--socket", "/x", "web"]));
        let c = p("is-active -- -h").unwrap();
        assert!(matches!(c.verb, Verb::Is { units, .. } if units == ["-h"]));
        // Options before it still count; the verb may come after it.
        let c = p("--json -- status web").unwrap();
        assert!(c.json);
        assert!(matches!(c.verb, Verb::Status { units, .. } if units == ["web"]));
        let c = p("--json start -- -q").unwrap();
        assert!(matches!(c.verb, Verb::Start { units, no_block: false } if units == ["-q"]));
    }

    /// Review finding: a boolean flag took `=value` and ignored it
    /// (`--no-block=false` turned no-block on; `list --failed=yes` passed).
    #[test]
    fn a_flag_without_a_value_refuses_one() {
        for bad in [
            "start x --no-block=false",
            "list --failed=yes",
            "is-active x -q=1",
            "log -f=no",
            "enable x --now=0",
            "kill x --group=1",
            "notify --ready=1",
            "--json=1 list",
        ] {
            assert!(matches!(p(bad), Err(UsageError::Bad(_))), "{bad:?}");
        }
        // Options that take a value still take it either way.
        assert!(p("kill x --kill-whom=main").is_ok());
        assert!(p("status x --lines=3").is_ok());
        assert!(p("notify --status=up").is_ok());
        assert!(p("status x --socket=/s").is_ok());
    }

    #[test]
    fn notify_fields_in_order() {
        let c = p("notify --ready --status=up X=1").unwrap();
        assert_eq!(
            c.verb,
            Verb::Notify {
                fields: vec![
                    ("READY".into(), "1".into()),
                    ("STATUS".into(), "up".into()),
                    ("X".into(), "1".into())
                ],
                pid: None,
                no_block: false,
            }
        );
        let c = p("notify --no-block --ready").unwrap();
        assert!(matches!(c.verb, Verb::Notify { no_block: true, .. }));
    }

    #[test]
    fn reload_waits_unless_no_block() {
        assert_eq!(
            p("reload web").unwrap().verb,
            Verb::Reload {
                units: vec!["web".into()],
                no_block: false
            }
        );
        assert!(matches!(
            p("reload --no-block web").unwrap().verb,
            Verb::Reload { no_block: true, .. }
        ));
    }

    #[test]
    fn conditional_restarts_and_their_aliases() {
        for (line, want) in [
            ("try-restart a b", "try"),
            ("condrestart a b", "try"),
            ("reload-or-restart a b", "reload-or"),
            ("try-reload-or-restart a b", "try-reload-or"),
            ("force-reload a b", "try-reload-or"),
            ("reload-or-try-restart a b", "try-reload-or"),
            ("condreload a b", "try-reload-or"),
        ] {
            let units = vec!["a".to_string(), "b".to_string()];
            let expected = match want {
                "try" => Verb::TryRestart {
                    units,
                    no_block: false,
                },
                "reload-or" => Verb::ReloadOrRestart {
                    units,
                    no_block: false,
                },
                _ => Verb::TryReloadOrRestart {
                    units,
                    no_block: false,
                },
            };
            assert_eq!(p(line).unwrap().verb, expected, "{line}");
        }
        assert!(matches!(
            p("try-restart --no-block a").unwrap().verb,
            Verb::TryRestart { no_block: true, .. }
        ));
        for bad in ["try-restart", "force-reload", "reload-or-restart a --now"] {
            assert!(matches!(p(bad), Err(UsageError::Bad(_))), "{bad:?}");
        }
    }

    #[test]
    fn enable_and_disable_take_quiet() {
        assert_eq!(
            p("enable -q a --now").unwrap().verb,
            Verb::Enable {
                units: vec!["a".into()],
                now: true,
                quiet: true
            }
        );
        assert!(matches!(
            p("disable --quiet a").unwrap().verb,
            Verb::Disable {
                quiet: true,
                now: false,
                ..
            }
        ));
        assert!(matches!(
            p("enable a").unwrap().verb,
            Verb::Enable { quiet: false, .. }
        ));
    }

    #[test]
    fn list_unit_files_takes_patterns_and_states() {
        assert_eq!(
            p("list-unit-files 'a*' b.service --state=enabled,static --state masked")
                .unwrap()
                .verb,
            Verb::ListUnitFiles {
                patterns: vec!["'a*'".into(), "b.service".into()],
                states: vec!["enabled".into(), "static".into(), "masked".into()],
            }
        );
        assert_eq!(
            p("--state bad list-unit-files").unwrap().verb,
            Verb::ListUnitFiles {
                patterns: vec![],
                states: vec!["bad".into()],
            }
        );
        assert!(matches!(
            p("list-unit-files --state"),
            Err(UsageError::Bad(_))
        ));
        assert!(matches!(
            p("list-unit-files --now"),
            Err(UsageError::Bad(_))
        ));
    }

    #[test]
    fn the_verbs_about_the_manager_and_their_options() {
        use vigil_proto::DependencyRelation as R;
        assert_eq!(
            p("list-dependencies").unwrap().verb,
            Verb::ListDependencies {
                units: vec!["default.target".into()],
                relation: None,
                all: false,
                plain: false,
            }
        );
        // As systemctl's: the last of --reverse, --after, --before counts.
        assert_eq!(
            p("list-dependencies web --after -a --reverse --plain")
                .unwrap()
                .verb,
            Verb::ListDependencies {
                units: vec!["web".into()],
                relation: Some(R::Reverse),
                all: true,
                plain: true,
            }
        );
        assert_eq!(
            p("is-system-running --wait -q").unwrap().verb,
            Verb::IsSystemRunning {
                wait: true,
                quiet: true
            }
        );
        assert_eq!(
            p("set-default graphical").unwrap().verb,
            Verb::SetDefault {
                unit: "graphical".into(),
                quiet: false
            }
        );
        for bad in [
            "is-system-running x",
            "list-jobs x",
            "get-default x",
            "set-default",
            "set-default a b",
            "list-dependencies w@*",
            "list-dependencies --now",
        ] {
            assert!(matches!(p(bad), Err(UsageError::Bad(_))), "{bad:?}");
        }
    }

    #[test]
    fn edit_and_revert_and_their_options() {
        assert_eq!(
            p("edit web --drop-in=limits --runtime").unwrap().verb,
            Verb::Edit {
                unit: "web".into(),
                full: false,
                drop_in: Some("limits".into()),
                runtime: true,
                force: false,
            }
        );
        assert_eq!(
            p("--drop-in x edit -f web").unwrap().verb,
            Verb::Edit {
                unit: "web".into(),
                full: false,
                drop_in: Some("x".into()),
                runtime: false,
                force: true,
            }
        );
        assert!(matches!(
            p("edit --full --force new").unwrap().verb,
            Verb::Edit {
                full: true,
                force: true,
                ..
            }
        ));
        assert_eq!(
            p("revert a b").unwrap().verb,
            Verb::Revert {
                units: vec!["a".into(), "b".into()]
            }
        );
        for bad in [
            "edit",
            "edit a b",
            "edit w@*",
            "edit a --full --drop-in=x",
            "edit a --now",
            "edit a --drop-in",
            "revert",
            "revert a*",
            "revert a --full",
        ] {
            assert!(matches!(p(bad), Err(UsageError::Bad(_))), "{bad:?}");
        }
    }

    #[test]
    fn log_options() {
        assert_eq!(
            p("log -f -n 5 web").unwrap().verb,
            Verb::Log {
                unit: Some("web".into()),
                lines: Some(5),
                follow: true,
                since_us: None,
                until_us: None,
            }
        );
        assert_eq!(
            p("log").unwrap().verb,
            Verb::Log {
                unit: None,
                lines: None,
                follow: false,
                since_us: None,
                until_us: None,
            }
        );
        assert_eq!(
            p("log --since @1.5 -U=2026-12-07 web").unwrap().verb,
            Verb::Log {
                unit: Some("web".into()),
                lines: None,
                follow: false,
                since_us: Some(1_500_000),
                until_us: Some(1_796_601_600_000_000),
            }
        );
        // A span's minus sign is no option; before the verb too.
        assert!(matches!(
            p("--since -1h log").unwrap().verb,
            Verb::Log {
                since_us: Some(_),
                ..
            }
        ));
        for (args, said) in [
            (
                "log --since soon",
                "log: --since: cannot read \"soon\" as a time",
            ),
            ("log -S @2 -U @1", "log: --since is after --until"),
            (
                "log -f --until now",
                "log: --until and --follow do not go together",
            ),
        ] {
            match p(args) {
                Err(UsageError::Bad(e)) => assert!(e.starts_with(said), "{args}: {e}"),
                other => panic!("{args}: {other:?}"),
            }
        }
    }

    /// Review findings: `vigil -n 1 log web` took `1` for the verb, `-n1`
    /// was an unknown option, `--socket ''` connected to "", and a pattern
    /// given to `kill` was looked up as `c*.service`.
    #[test]
    fn option_values_before_the_verb_attached_short_values_and_bad_names() {
        let log = |lines| Verb::Log {
            unit: Some("web".into()),
            lines,
            follow: false,
            since_us: None,
            until_us: None,
        };
        assert_eq!(p("-n 1 log web").unwrap().verb, log(Some(1)));
        assert_eq!(p("log -n1 web").unwrap().verb, log(Some(1)));
        assert_eq!(p("--lines 7 log web").unwrap().verb, log(Some(7)));
        match p("-s KILL kill web").unwrap().verb {
            Verb::Kill { signal, .. } => assert_eq!(signal, 9),
            v => panic!("{v:?}"),
        }
        match p("kill web -sHUP").unwrap().verb {
            Verb::Kill { signal, .. } => assert_eq!(signal, 1),
            v => panic!("{v:?}"),
        }
        assert!(matches!(p("log -nx web"), Err(UsageError::Bad(_))));
        let empty = parse(&["--socket".into(), String::new(), "list".into()]);
        assert!(matches!(empty, Err(UsageError::Bad(m)) if m.contains("empty")));
        assert!(matches!(p("--socket= list"), Err(UsageError::Bad(_))));
        assert!(matches!(p("kill c* HUP"), Err(UsageError::Bad(m)) if m.contains("pattern")));
    }
}
