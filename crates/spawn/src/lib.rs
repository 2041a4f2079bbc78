//! Turning a service's `ExecCommand` into a process: everything systemd decides
//! before it forks, done here in the parent, then one call into the platform's
//! fork/exec.
//!
//! [`prepare`] builds the environment (systemd's defaults, `User=` variables, `TERM`,
//! `PassEnvironment=`, `Environment=`, `EnvironmentFile=`, then
//! `UnsetEnvironment=`; of the manager's own environment, from the copy the
//! caller hands in, only what `PassEnvironment=` names, or all of it but the
//! manager protocols' variables in container mode),
//! expands `$VAR` in the arguments, resolves the program through systemd's
//! default PATH, resolves `User=`/`Group=`/`SupplementaryGroups=` from
//! /etc/passwd and /etc/group (and a `DynamicUser=` account, [`dynamic_account`]),
//! creates the `*Directory=` directories ([`directories`]), opens `file:`
//! outputs, terminals and `StandardInput=data`, and hands the result to [`vigil_platform::exec`] as a
//! [`PreparedCommand`](vigil_platform::exec::PreparedCommand). [`spawn`] forks.
//!
//! This crate has no unsafe code and keeps no state; it never waits for a child
//! and never logs: errors go back to the caller, which owns the unit's state.

pub mod directories;
pub mod env;
pub mod users;

use std::ffi::CString;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vigil_platform::errno::codes as libc_errno;
use vigil_platform::exec::{
    Child, ChildFd, ControllingTty, PreparedCommand, Rlimit, RlimitResource,
};
use vigil_units::{
    ExecCommand, FileMode, Input, IoClass, Output, Resource, Service, TtyMode, WorkingDirectory,
};

pub use directories::{DirectoryError, DirectoryRoots};
pub use env::{Environment, parse_environment_file};
use users::UserEntry;

/// `TTYPath=`'s default.
pub const DEFAULT_TTY: &str = "/dev/console";

/// systemd's DefaultLimitNOFILE soft value.
pub const DEFAULT_NOFILE_SOFT: u64 = 1024;

/// systemd's PATH for services, and where a bare program name is looked up.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const PASSWD: &str = "/etc/passwd";
const GROUP: &str = "/etc/group";

/// Where one of the service's fds 0-2 comes from.
#[derive(Debug)]
pub enum Stdio {
    /// `/dev/null`.
    Null,
    /// The manager's own descriptor with the same number.
    Inherit,
    /// A descriptor the manager holds (a log pipe's write end). [`prepare`] takes its
    /// own close-on-exec copy, so the caller may drop this one whenever it likes.
    Fd(OwnedFd),
    /// A file opened by [`prepare`] (`file:`, `append:`, `truncate:`), created with
    /// mode 0666 minus the service's `UMask=` when missing. For stdin it is opened read-only and `mode` is unused.
    File { path: PathBuf, mode: FileMode },
    /// A terminal (`StandardInput=tty`, `StandardOutput=tty`), opened read-write
    /// without becoming the manager's controlling terminal.
    Tty(PathBuf),
    /// `StandardInput=data`: the bytes, served from an in-memory file.
    Data(Vec<u8>),
}

/// stdin as the service's `StandardInput=` asks for it. `socket` is
/// `/dev/null` here: the manager passes the connection as [`Stdio::Fd`].
pub fn stdin_for(service: &Service) -> Stdio {
    match &service.stdin {
        Input::Null | Input::Socket => Stdio::Null,
        Input::Tty(_) => Stdio::Tty(tty_path(service)),
        Input::Data => Stdio::Data(service.stdin_data.to_vec()),
        Input::File(path) => Stdio::File {
            path: path.clone(),
            mode: FileMode::Write,
        },
    }
}

/// `TTYPath=`, or `/dev/console`.
pub fn tty_path(service: &Service) -> PathBuf {
    (*service.tty_path)
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_TTY))
}

/// Whether the service is on a terminal, so that it gets `$TERM`: systemd's
/// test (`exec_context_needs_term`) is `TTYPath=`, `StandardInput=tty*`, or
/// stdout or stderr on the terminal or the console (`tty`, `journal+console`
/// and the other `+console` forms).
pub fn needs_term(service: &Service) -> bool {
    let on_terminal = |output: &Output| matches!(output, Output::Tty | Output::Console);
    matches!(service.stdin, Input::Tty(_))
        || on_terminal(&service.stdout)
        || on_terminal(&service.stderr)
        || service.tty_path.is_some()
}

/// The terminal a service may have changed, given back to root when the
/// service ends: `TTYPath=` (or `/dev/console`) when stdin is `tty*` or
/// stdout or stderr is `tty`, as systemd's exec_context_may_touch_tty() and
/// exec_context_tty_path() choose it; None for a service on no terminal.
pub fn terminal_used(service: &Service) -> Option<PathBuf> {
    let touches = matches!(service.stdin, Input::Tty(_))
        || service.stdout == Output::Tty
        || service.stderr == Output::Tty;
    touches.then(|| tty_path(service))
}

/// Where the kernel lists the consoles behind `/dev/console`, the active one
/// last.
const CONSOLE_ACTIVE: &str = "/sys/class/tty/console/active";

/// `$TERM` for a service whose terminal is `tty`, as systemd chooses it: on
/// `/dev/console` the manager's own `$TERM` (`manager_term`) when it has one
/// (what a container's manager passed down); otherwise `linux` for a virtual
/// console (`/dev/tty0`..`/dev/tty63`, and `/dev/console` when the last
/// console in `console_active`'s list is one), else `vt220` (a serial line, a
/// pseudo-terminal).
pub fn term_for(
    tty: &Path,
    manager_term: Option<&str>,
    console_active: impl FnOnce() -> Option<String>,
) -> String {
    let name = tty.strip_prefix("/dev").unwrap_or(tty);
    let console = name == Path::new("console");
    if console && let Some(term) = manager_term.filter(|t| !t.is_empty()) {
        return term.to_owned();
    }
    let virtual_console = if console {
        console_active().is_some_and(|list| {
            list.split_whitespace()
                .last()
                .is_some_and(vigil_units::name::is_virtual_console)
        })
    } else {
        name.to_str()
            .is_some_and(vigil_units::name::is_virtual_console)
    };
    if virtual_console { "linux" } else { "vt220" }.to_owned()
}

/// A `DynamicUser=` account the manager holds for a running service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicAccount {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// The name is a user of /etc/passwd: it is used as it is (as systemd does),
    /// and its id is not the manager's to hand out or take back.
    pub is_static: bool,
}

/// What the manager knows about this start that the unit does not say.
#[derive(Debug)]
pub struct Context {
    /// `$MAINPID`, for commands run while a main process exists (ExecStop, ...).
    pub main_pid: Option<u32>,
    /// `$INVOCATION_ID`; not set when empty.
    pub invocation_id: String,
    /// `$NOTIFY_SOCKET`, when the service may notify.
    pub notify_socket: Option<PathBuf>,
    /// The manager's `LANG`, passed on as systemd does with its locale.
    pub lang: Option<String>,
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
    /// Extra variables from the manager, applied before the unit's own
    /// `Environment=` and `EnvironmentFile=` (which may override them).
    pub extra_env: Vec<(String, String)>,
    /// The manager's own environment, where `PassEnvironment=` takes its values
    /// from. Shared: the manager reads it once, not at every spawn.
    pub manager_env: Arc<[(String, String)]>,
    /// Container mode: `manager_env` (what `docker run -e`, the image and
    /// kubernetes gave the container) is the lowest layer of the environment,
    /// over the default PATH and LANG and under everything the manager sets,
    /// less [`env::MANAGER_PROTOCOL_VARIABLES`]. As tini and s6-overlay's
    /// `with-contenv` do: a container's variables are its configuration.
    pub inherit_manager_env: bool,
    /// Socket activation: the sockets passed as fds 3, 4, ... with their
    /// names, giving `LISTEN_FDS`, `LISTEN_FDNAMES` and `LISTEN_PID`.
    pub listen_fds: Vec<(OwnedFd, String)>,
    /// A variable set to the child's own PID (`WATCHDOG_PID` for a main
    /// process with a watchdog); it replaces any value from the unit.
    pub pid_variable: Option<String>,
    /// The command keeps the manager's privileges: `User=`, `Group=`,
    /// `SupplementaryGroups=`, `AmbientCapabilities=` and
    /// `CapabilityBoundingSet=` are not applied to it (`PermissionsStartOnly=` for
    /// the commands other than `ExecStart=`, and the `+` prefix). The service's
    /// directories are still created for and owned by its user.
    pub privileged: bool,
    /// The `!` prefix: `User=`, `Group=` and `SupplementaryGroups=` are not
    /// applied, the capability settings are.
    pub keep_credentials: bool,
    /// The `DynamicUser=` account allocated for this run of the service.
    pub dynamic_user: Option<DynamicAccount>,
    /// Where `*Directory=` paths live; `None`: this manager's defaults
    /// ([`DirectoryRoots::for_manager`]).
    pub directory_roots: Option<DirectoryRoots>,
}

impl Default for Context {
    fn default() -> Context {
        Context {
            main_pid: None,
            invocation_id: String::new(),
            notify_socket: None,
            lang: None,
            stdin: Stdio::Null,
            stdout: Stdio::Inherit,
            stderr: Stdio::Inherit,
            extra_env: Vec::new(),
            manager_env: Arc::default(),
            inherit_manager_env: false,
            listen_fds: Vec::new(),
            pid_variable: None,
            privileged: false,
            keep_credentials: false,
            dynamic_user: None,
            directory_roots: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("program {program:?} not found in {path}")]
    ProgramNotFound { program: String, path: String },
    #[error("cannot read environment file {path}: {source}")]
    ReadEnvironmentFile { path: PathBuf, source: io::Error },
    #[error("cannot read {path}: {source}")]
    ReadUserDatabase { path: PathBuf, source: io::Error },
    #[error("User={user}: no such user in /etc/passwd")]
    UnknownUser { user: String },
    #[error("{directive}={group}: no such group in /etc/group")]
    UnknownGroup {
        directive: &'static str,
        group: String,
    },
    #[error(
        "DynamicUser=yes: no free id left in {}..{}",
        users::DYNAMIC_ID_MIN,
        users::DYNAMIC_ID_MAX
    )]
    NoDynamicId,
    #[error("{source}")]
    Directory { source: DirectoryError },
    #[error("NonBlocking=: cannot set the sockets' mode: {source}")]
    NonBlocking { source: io::Error },
    #[error("StandardInput=data: cannot build the input: {source}")]
    InputData { source: io::Error },
    #[error("running as user {user:?} needs a manager running as root")]
    UserNeedsRoot { user: String },
    #[error("running as group {group:?} needs a manager running as root")]
    GroupNeedsRoot { group: String },
    #[error("no home directory known for WorkingDirectory=~")]
    NoHomeDirectory,
    /// Only the variable's name is said, never its value: a value may be a secret,
    /// and `EnvironmentFile=/proc/1/environ` (NUL-separated) makes the whole
    /// environment one value, passwords included.
    /// `what`: `a NUL byte`, or `not UTF-8` (as systemd refuses the file).
    #[error("environment file {}:{line}: the line has {what}", path.display())]
    BadEnvironmentFile {
        path: PathBuf,
        line: usize,
        what: &'static str,
    },
    #[error("environment variable {name} has a NUL byte in its value")]
    NulInVariable { name: String },
    /// By position, not content: `$VAR` may have put a variable's value there.
    #[error("argument {index} has a NUL byte")]
    NulInArgument { index: usize },
    #[error("{what} has a NUL byte")]
    NulByte { what: &'static str },
    #[error("cannot open {path} for {stream}: {source}")]
    OpenStdio {
        stream: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot set up {stream}: {source}")]
    Stdio {
        stream: &'static str,
        source: io::Error,
    },
    #[error("cannot fork: {source}")]
    Fork { source: io::Error },
}

impl SpawnError {
    /// The step that failed, in the vocabulary of the child's exec-status stages.
    pub fn stage(&self) -> &'static str {
        match self {
            SpawnError::ProgramNotFound { .. } => "exec",
            SpawnError::ReadEnvironmentFile { .. } | SpawnError::BadEnvironmentFile { .. } => {
                "environment"
            }
            SpawnError::ReadUserDatabase { .. }
            | SpawnError::UnknownUser { .. }
            | SpawnError::UnknownGroup { .. }
            | SpawnError::NoDynamicId
            | SpawnError::UserNeedsRoot { .. }
            | SpawnError::GroupNeedsRoot { .. } => "user",
            SpawnError::Directory { .. } => "directories",
            SpawnError::InputData { .. } | SpawnError::NonBlocking { .. } => "stdio",
            SpawnError::NoHomeDirectory => "chdir",
            SpawnError::NulInVariable { .. }
            | SpawnError::NulInArgument { .. }
            | SpawnError::NulByte { .. } => "prepare",
            SpawnError::OpenStdio { .. } | SpawnError::Stdio { .. } => "stdio",
            SpawnError::Fork { .. } => "fork",
        }
    }

    /// What is wrong, in words, when the errno does not say it: an unknown
    /// user or group is ESRCH (as systemd has it), whose words are "No such
    /// process". The unit's failure reason shows this instead.
    pub fn detail(&self) -> Option<String> {
        match self {
            SpawnError::UnknownUser { user } => Some(format!("no such user {user}")),
            SpawnError::UnknownGroup { directive, group } => {
                Some(format!("no such group {group} ({directive}=)"))
            }
            SpawnError::BadEnvironmentFile { path, line, what } => {
                Some(format!("{}:{line}: {what}", path.display()))
            }
            // The file, with the kernel's words or vigil's own ("not a
            // regular file (a FIFO)", "larger than 4 MiB"): the unit's state
            // names it, as the log line does.
            SpawnError::ReadEnvironmentFile { path, source }
            | SpawnError::OpenStdio { path, source, .. } => {
                Some(format!("{}: {}", path.display(), error_words(source)))
            }
            SpawnError::ProgramNotFound { program, path } => {
                Some(format!("{program}: not found in {path}"))
            }
            // Another error of no system call: its own words, not "Success
            // (errno 0)".
            SpawnError::ReadUserDatabase { source, .. }
            | SpawnError::Stdio { source, .. }
            | SpawnError::InputData { source }
            | SpawnError::NonBlocking { source }
            | SpawnError::Fork { source }
                if source.raw_os_error().is_none() =>
            {
                Some(self.to_string())
            }
            _ => None,
        }
    }

    /// The errno that best describes the failure, for `exec failed: ENOENT` style
    /// messages.
    pub fn errno(&self) -> i32 {
        match self {
            SpawnError::ProgramNotFound { .. } | SpawnError::NoHomeDirectory => libc_errno::ENOENT,
            SpawnError::ReadEnvironmentFile { source, .. }
            | SpawnError::ReadUserDatabase { source, .. }
            | SpawnError::OpenStdio { source, .. }
            | SpawnError::Stdio { source, .. }
            | SpawnError::InputData { source }
            | SpawnError::NonBlocking { source }
            | SpawnError::Fork { source } => source.raw_os_error().unwrap_or(libc_errno::EINVAL),
            SpawnError::Directory { source } => source.errno(),
            SpawnError::NoDynamicId => libc_errno::EUSERS,
            SpawnError::UnknownUser { .. } | SpawnError::UnknownGroup { .. } => libc_errno::ESRCH,
            SpawnError::UserNeedsRoot { .. } | SpawnError::GroupNeedsRoot { .. } => {
                libc_errno::EPERM
            }
            SpawnError::NulInVariable { .. }
            | SpawnError::NulInArgument { .. }
            | SpawnError::NulByte { .. }
            | SpawnError::BadEnvironmentFile { .. } => libc_errno::EINVAL,
        }
    }
}

/// An error in words, without std's ` (os error N)`: the errno is told apart.
fn error_words(e: &io::Error) -> String {
    let text = e.to_string();
    match e.raw_os_error() {
        Some(n) => text
            .strip_suffix(&format!(" (os error {n})"))
            .unwrap_or(&text)
            .to_string(),
        None => text,
    }
}

/// A command ready to fork: the platform command plus what it was built from.
#[derive(Debug)]
pub struct Prepared {
    command: PreparedCommand,
    program: PathBuf,
    argv: Vec<String>,
    environment: Environment,
}

impl Prepared {
    pub fn command(&self) -> &PreparedCommand {
        &self.command
    }

    /// The platform command, for what only the caller knows (where to record the PID).
    pub fn command_mut(&mut self) -> &mut PreparedCommand {
        &mut self.command
    }

    /// The resolved program path.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The expanded argument vector, `argv[0]` first.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// The service's complete environment, in order.
    pub fn environment(&self) -> &[(String, String)] {
        self.environment.vars()
    }
}

/// Who the service runs as.
#[derive(Debug, Default)]
struct Identity {
    /// The `User=` entry: its name, home and shell go into the environment.
    user: Option<UserEntry>,
    uid: Option<u32>,
    gid: Option<u32>,
    groups: Option<Vec<u32>>,
}

fn read_database(path: &str) -> Result<String, SpawnError> {
    std::fs::read_to_string(path).map_err(|source| SpawnError::ReadUserDatabase {
        path: PathBuf::from(path),
        source,
    })
}

/// `User=`/`Group=`/`SupplementaryGroups=`/`DynamicUser=`. As root they become
/// the ids the child switches to: with a user, its gid (or `Group=`'s), the
/// groups that list it in /etc/group (what initgroups gives) and
/// `SupplementaryGroups=`; without one, only `SupplementaryGroups=` replaces the
/// manager's groups. Otherwise they must name the manager's own user and group,
/// and only set the environment.
fn resolve_identity(
    service: &Service,
    dynamic: Option<&DynamicAccount>,
    is_root: bool,
) -> Result<Identity, SpawnError> {
    let mut id = Identity::default();
    let lookup_group = |db: &[users::GroupEntry], directive: &'static str, name: &str| {
        users::group_or_number(db, name).ok_or_else(|| SpawnError::UnknownGroup {
            directive,
            group: name.to_owned(),
        })
    };
    let user = match (dynamic, &*service.user) {
        (Some(account), _) => Some(UserEntry {
            name: account.name.clone(),
            uid: account.uid,
            gid: account.gid,
            // What systemd gives a dynamic user.
            home: "/".into(),
            shell: "/usr/sbin/nologin".into(),
        }),
        (None, Some(name)) => {
            let all = users::parse_passwd(&read_database(PASSWD)?);
            let entry = users::user_or_number(&all, name);
            Some(entry.ok_or_else(|| SpawnError::UnknownUser { user: name.clone() })?)
        }
        (None, None) => None,
    };
    // /etc/group is read once, and only when something needs it.
    let needs_groups = service.group.is_some()
        || !service.supplementary_groups.is_empty()
        || (is_root && user.is_some());
    let group_db = if needs_groups {
        users::parse_group(&read_database(GROUP)?)
    } else {
        Vec::new()
    };
    let gid = match &*service.group {
        Some(name) => Some(lookup_group(&group_db, "Group", name)?),
        None => user.as_ref().map(|u| u.gid),
    };
    let mut supplementary = Vec::new();
    for name in &service.supplementary_groups {
        supplementary.push(lookup_group(&group_db, "SupplementaryGroups", name)?);
    }
    if is_root {
        if let Some(entry) = &user {
            let primary = gid.unwrap_or(entry.gid);
            let mut list = if dynamic.is_some_and(|d| !d.is_static) {
                vec![primary]
            } else {
                users::supplementary_groups(&group_db, &entry.name, primary)
            };
            for g in supplementary {
                if !list.contains(&g) {
                    list.push(g);
                }
            }
            id.groups = Some(list);
            id.uid = Some(entry.uid);
        } else if !supplementary.is_empty() {
            id.groups = Some(supplementary);
        }
        id.gid = gid;
    } else {
        if let Some(entry) = &user
            && entry.uid != vigil_platform::getuid()
        {
            return Err(SpawnError::UserNeedsRoot {
                user: entry.name.clone(),
            });
        }
        if let (Some(g), Some(name)) = (gid, &*service.group)
            && g != vigil_platform::getgid()
        {
            return Err(SpawnError::GroupNeedsRoot {
                group: name.clone(),
            });
        }
        if let Some(g) = supplementary
            .iter()
            .find(|&&g| g != vigil_platform::getgid())
        {
            return Err(SpawnError::GroupNeedsRoot {
                group: g.to_string(),
            });
        }
    }
    id.user = user;
    Ok(id)
}

/// The user name `DynamicUser=yes` runs `unit_name` as: `User=`, else as
/// systemd names it, the unit name's prefix (`web` for `web@a.service` and for
/// `web.service`), or `_du` and a hash of it when the prefix is not a valid
/// user name ([`users::dynamic_user_name_for`]).
pub fn dynamic_user_name(unit_name: &str, service: &Service) -> String {
    match &*service.user {
        Some(name) => name.clone(),
        None => users::dynamic_user_name_for(vigil_units::name::prefix_of(unit_name)),
    }
}

/// The account `DynamicUser=yes` runs `unit_name` as, named by
/// [`dynamic_user_name`]. A user of that name in /etc/passwd is used as it is.
/// Otherwise accounts are shared by name, as systemd shares them: when one of
/// the accounts the manager `held` for running units has the name, its id is
/// this unit's too (every instance of `web@.service` is `web`, and owns
/// `/var/lib/web`); else a free id from systemd's range (uid = gid) that no
/// held account has.
pub fn dynamic_account(
    unit_name: &str,
    service: &Service,
    held: &[&DynamicAccount],
) -> Result<DynamicAccount, SpawnError> {
    let name = dynamic_user_name(unit_name, service);
    let passwd = users::parse_passwd(&read_database(PASSWD)?);
    if let Some(entry) = passwd.iter().find(|u| u.name == name) {
        return Ok(DynamicAccount {
            name,
            uid: entry.uid,
            gid: entry.gid,
            is_static: true,
        });
    }
    if let Some(shared) = held.iter().find(|a| a.name == name && !a.is_static) {
        return Ok((*shared).clone());
    }
    let groups = users::parse_group(&read_database(GROUP)?);
    let in_use = |id: u32| held.iter().any(|a| a.uid == id || a.gid == id);
    let id = users::allocate_dynamic_id(&name, &passwd, &groups, &in_use)
        .ok_or(SpawnError::NoDynamicId)?;
    Ok(DynamicAccount {
        name,
        uid: id,
        gid: id,
        is_static: false,
    })
}

/// The home directory for `WorkingDirectory=~`: the `User=`'s, else the
/// manager's `$HOME` when absolute, else its user's from /etc/passwd, in
/// systemd's order (get_home_dir): a manager run with another `$HOME` (a
/// user's, a test's) has its services there, where its `*Directory=` roots
/// are too.
fn home_directory(identity: &Identity) -> Result<PathBuf, SpawnError> {
    if let Some(user) = &identity.user {
        return Ok(PathBuf::from(&user.home));
    }
    if let Some(home) = std::env::var_os("HOME").filter(|h| Path::new(h).is_absolute()) {
        return Ok(PathBuf::from(home));
    }
    let uid = vigil_platform::getuid();
    std::fs::read_to_string(PASSWD)
        .ok()
        .and_then(|text| {
            users::parse_passwd(&text)
                .into_iter()
                .find(|u| u.uid == uid)
        })
        .map(|entry| PathBuf::from(entry.home))
        .ok_or(SpawnError::NoHomeDirectory)
}

/// The environment in systemd's order, later assignments winning: PATH and LANG,
/// in container mode the manager's environment (a container's PATH, often
/// longer than systemd's, wins over the default; its HOME loses to `User=`'s),
/// the manager's per-start variables, `User=` variables, `extra_env`,
/// `PassEnvironment=`, `Environment=`, then `EnvironmentFile=` files in order
/// (systemd documents that files override `Environment=`). `UnsetEnvironment=`
/// comes after everything, in [`prepare`].
fn build_environment(
    service: &Service,
    ctx: &Context,
    identity: &Identity,
    directories: &[(&'static str, String)],
) -> Result<Environment, SpawnError> {
    let mut env = Environment::new();
    // ExecSearchPath= is $PATH too, unless the unit sets its own, as systemd.
    env.set("PATH", search_path(service));
    if let Some(lang) = &ctx.lang {
        env.set("LANG", lang);
    }
    if ctx.inherit_manager_env {
        let inherited = ctx
            .manager_env
            .iter()
            .filter(|(name, _)| !env::MANAGER_PROTOCOL_VARIABLES.contains(&name.as_str()))
            .filter(|(name, _)| !env::SHELL_STATE_VARIABLES.contains(&name.as_str()));
        for (name, value) in inherited {
            env.set(name, value);
        }
    }
    if !ctx.invocation_id.is_empty() {
        env.set("INVOCATION_ID", &ctx.invocation_id);
    }
    if let Some(socket) = &ctx.notify_socket {
        env.set("NOTIFY_SOCKET", &socket.to_string_lossy());
    }
    if let Some(pid) = ctx.main_pid {
        env.set("MAINPID", &pid.to_string());
    }
    if let Some(user) = &identity.user {
        env.set("USER", &user.name);
        env.set("LOGNAME", &user.name);
        env.set("HOME", &user.home);
        env.set("SHELL", &user.shell);
    }
    if needs_term(service) {
        let manager_term = ctx
            .manager_env
            .iter()
            .find(|(name, _)| name == "TERM")
            .map(|(_, value)| value.as_str());
        let term = term_for(&tty_path(service), manager_term, || {
            std::fs::read_to_string(CONSOLE_ACTIVE).ok()
        });
        env.set("TERM", &term);
    }
    for (name, value) in directories {
        env.set(name, value);
    }
    for (name, value) in &ctx.extra_env {
        env.set(name, value);
    }
    for name in &service.pass_environment {
        // A name the manager does not have is left out, as systemd does.
        if let Some((_, value)) = ctx.manager_env.iter().find(|(n, _)| n == name) {
            env.set(name, value);
        }
    }
    for (name, value) in &service.environment {
        env.set(name, value);
    }
    for file in &service.environment_files {
        // `-`: a file that cannot be read or taken, whatever the reason, is
        // passed over, as systemd passes it (a directory, a FIFO too).
        let paths = match glob_paths(&file.path) {
            Ok(paths) => paths,
            Err(_) if file.optional => continue,
            Err(source) => {
                return Err(SpawnError::ReadEnvironmentFile {
                    path: file.path.clone(),
                    source,
                });
            }
        };
        for path in paths {
            let text = match vigil_units::files::read_regular(&path, ENVIRONMENT_FILE_MAX) {
                Ok((bytes, _)) => {
                    // No variable can hold a NUL, and a value that is not
                    // UTF-8 is refused, as systemd refuses it (a Latin-1
                    // password was passed on with U+FFFD in it): said with
                    // the file and line, not the value (a secret, maybe).
                    let line = |at: usize| bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
                    let bad = |at: usize, what| SpawnError::BadEnvironmentFile {
                        path: path.clone(),
                        line: line(at),
                        what,
                    };
                    let text = match bytes.iter().position(|&b| b == 0) {
                        Some(at) => Err(bad(at, "a NUL byte")),
                        None => std::str::from_utf8(&bytes)
                            .map(str::to_owned)
                            .map_err(|e| bad(e.valid_up_to(), "not UTF-8")),
                    };
                    match text {
                        Ok(text) => text,
                        Err(_) if file.optional => continue,
                        Err(e) => return Err(e),
                    }
                }
                Err(_) if file.optional => continue,
                Err(source) => return Err(SpawnError::ReadEnvironmentFile { path, source }),
            };
            for (name, value) in parse_environment_file(&text) {
                env.set(&name, &value);
            }
        }
    }
    Ok(env)
}

/// The most an `EnvironmentFile=` may hold (the manager reads it, before
/// each start).
const ENVIRONMENT_FILE_MAX: u64 = 4 << 20;

/// The files an `EnvironmentFile=` path names: itself, or with `*`, `?` or
/// `[` in it, the files its pattern matches, sorted (systemd.exec(5): "an
/// absolute filename or wildcard expression"), as glob(3) gives them (a
/// leading `.` only where the pattern has one). None matching is NotFound.
fn glob_paths(path: &Path) -> io::Result<Vec<PathBuf>> {
    use vigil_units::glob;
    let pattern = path.to_string_lossy();
    if !glob::is_glob(&pattern) {
        return Ok(vec![path.to_path_buf()]);
    }
    // An absolute path (the parser checks): expanded below /.
    let root = Path::new("/");
    let mut found: Vec<PathBuf> = glob::expand(root, pattern.trim_start_matches('/'))?
        .into_iter()
        .map(|p| root.join(p))
        .collect();
    found.retain(|p| p.is_file());
    if found.is_empty() {
        // ENOENT: what a missing file gives, which `-` lets pass.
        return Err(io::Error::from_raw_os_error(libc_errno::ENOENT));
    }
    Ok(found)
}

fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Where a service's programs named without a `/` are looked for:
/// `ExecSearchPath=`, else [`DEFAULT_PATH`].
pub fn search_path(service: &Service) -> &str {
    service.exec_search_path.as_deref().unwrap_or(DEFAULT_PATH)
}

/// A program with a `/` is used as written (the exec reports a missing one); a bare
/// name is looked up in `path` (see [`search_path`]).
pub fn resolve_program(program: &str, path: &str) -> Result<PathBuf, SpawnError> {
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    if !program.is_empty() {
        for dir in path.split(':') {
            let candidate = Path::new(dir).join(program);
            if is_executable_file(&candidate) {
                return Ok(candidate);
            }
        }
    }
    Err(SpawnError::ProgramNotFound {
        program: program.to_owned(),
        path: path.to_owned(),
    })
}

/// The argument vector with `$VAR`/`${VAR}` expanded by systemd's rules
/// (`vigil_units::unitfile::expand_exec_words`), unless the command has `:`.
/// `argv[0]` is passed as written.
pub fn expand_argv(cmd: &ExecCommand, env: &Environment) -> Vec<String> {
    let Some((arg0, rest)) = cmd.argv.split_first() else {
        return vec![cmd.program.clone()];
    };
    let mut argv = Vec::with_capacity(cmd.argv.len());
    argv.push(arg0.clone());
    if cmd.no_expand {
        argv.extend(rest.iter().cloned());
    } else {
        let lookup = |name: &str| env.get(name).map(str::to_owned);
        argv.extend(vigil_units::unitfile::expand_exec_words(rest, &lookup));
    }
    argv
}

/// Whether the manager runs as root: asked once, it never changes.
fn manager_is_root() -> bool {
    static ROOT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ROOT.get_or_init(|| vigil_platform::geteuid() == 0)
}

/// The manager's hard limit on open files, read once: the manager raises its
/// soft limit at start-up and nothing changes the hard one after.
fn nofile_hard_limit() -> Option<u64> {
    static HARD: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *HARD.get_or_init(|| vigil_platform::process::get_rlimit(RlimitResource::Nofile).1)
}

/// `bytes` as a C string, or `nul()` when they hold a NUL byte.
fn c_string(bytes: &[u8], nul: impl FnOnce() -> SpawnError) -> Result<CString, SpawnError> {
    CString::new(bytes).map_err(|_| nul())
}

/// The child's descriptor for one stdio stream. A `Stdio::Fd` is moved into the
/// command, not copied: the spawn owns it and closes the manager's end once the
/// child runs.
fn child_fd(stdio: Stdio, stream: &'static str, umask: u32) -> Result<ChildFd, SpawnError> {
    let setup = |source| SpawnError::Stdio { stream, source };
    match stdio {
        Stdio::Tty(path) => {
            let tty = OpenOptions::new()
                .read(true)
                .write(true)
                // Opening a terminal never makes it the manager's controlling
                // one, nor waits for its line (carrier detect).
                .custom_flags(vigil_platform::O_NOCTTY | NO_WAIT)
                .open(&path)
                .and_then(blocking)
                .map_err(|source| SpawnError::OpenStdio {
                    stream,
                    path,
                    source,
                })?;
            ChildFd::owned(OwnedFd::from(tty)).map_err(setup)
        }
        Stdio::Data(bytes) => {
            let data = input_data(&bytes).map_err(|source| SpawnError::InputData { source })?;
            ChildFd::owned(data).map_err(setup)
        }
        Stdio::Null => ChildFd::dev_null().map_err(setup),
        Stdio::Inherit => Ok(ChildFd::Inherit),
        Stdio::Fd(fd) => ChildFd::owned(fd).map_err(setup),
        Stdio::File { path, mode } => {
            let opened = if stream == "stdin" {
                OpenOptions::new()
                    .read(true)
                    .custom_flags(vigil_platform::O_NOCTTY | NO_WAIT)
                    .open(&path)
                    .and_then(blocking)
            } else {
                open_output(&path, mode, umask)
            };
            let file = opened.map_err(|source| SpawnError::OpenStdio {
                stream,
                path,
                source,
            })?;
            ChildFd::owned(OwnedFd::from(file)).map_err(setup)
        }
    }
}

/// O_NONBLOCK, for the opens of files a unit names: the manager makes them,
/// and the open of a FIFO waits for its other end, of a terminal for its line.
const NO_WAIT: i32 = vigil_platform::O_NONBLOCK;

/// `file` made blocking again once opened: the service gets what it would
/// have got from a plain open.
fn blocking(file: std::fs::File) -> io::Result<std::fs::File> {
    vigil_platform::set_nonblocking(&file, false)?;
    Ok(file)
}

/// `StandardInput=data`: an in-memory file holding the bytes, read from the start.
fn input_data(bytes: &[u8]) -> io::Result<OwnedFd> {
    use std::io::{Seek, Write};
    let mut file = std::fs::File::from(vigil_platform::memory::memfd("stdin-data")?);
    file.write_all(bytes)?;
    file.rewind()?;
    Ok(OwnedFd::from(file))
}

/// Opens a `StandardOutput=file:`/`append:`/`truncate:` target as systemd does:
/// created with mode 0666 minus the service's `UMask=` (`umask`) if missing,
/// exactly that whatever the manager's own umask; an existing file keeps its
/// mode. `file:` writes from offset 0 without truncating. Opened without
/// waiting ([`NO_WAIT`]); a FIFO no one reads yet is opened for reading too,
/// which Linux does at once: the service's writes then wait for a reader in
/// the FIFO, not the manager in its open (under systemd the service's open
/// waits).
pub fn open_output(path: &Path, mode: FileMode, umask: u32) -> io::Result<std::fs::File> {
    match open_output_as(path, mode, umask, false) {
        Err(e) if e.raw_os_error() == Some(libc_errno::ENXIO) => {
            open_output_as(path, mode, umask, true)
        }
        opened => opened,
    }
    .and_then(blocking)
}

fn open_output_as(
    path: &Path,
    mode: FileMode,
    umask: u32,
    read_too: bool,
) -> io::Result<std::fs::File> {
    let created_mode = 0o666 & !umask;
    let options = |create: bool, exclusive: bool| {
        let mut options = OpenOptions::new();
        options
            .read(read_too)
            .write(true)
            .mode(created_mode)
            .custom_flags(vigil_platform::O_NOCTTY | NO_WAIT);
        match mode {
            FileMode::Write => {}
            FileMode::Append => {
                options.append(true);
            }
            FileMode::Truncate => {
                options.truncate(true);
            }
        }
        if exclusive {
            options.create_new(true);
        } else {
            options.create(create);
        }
        options
    };
    // Created by this open: its mode is set exactly, as the manager's umask
    // narrowed it too.
    match options(true, true).open(path) {
        Ok(file) => {
            file.set_permissions(std::fs::Permissions::from_mode(created_mode))?;
            return Ok(file);
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    match options(false, false).open(path) {
        // Gone in between, or a dangling link (O_EXCL does not follow it, O_CREAT
        // creates its target): opened as before, mode from the umasks.
        Err(e) if e.kind() == io::ErrorKind::NotFound => options(true, false).open(path),
        opened => opened,
    }
}

fn rlimit_resource(resource: Resource) -> RlimitResource {
    match resource {
        Resource::Cpu => RlimitResource::Cpu,
        Resource::Fsize => RlimitResource::Fsize,
        Resource::Data => RlimitResource::Data,
        Resource::Stack => RlimitResource::Stack,
        Resource::Core => RlimitResource::Core,
        Resource::Rss => RlimitResource::Rss,
        Resource::Nofile => RlimitResource::Nofile,
        Resource::As => RlimitResource::As,
        Resource::Nproc => RlimitResource::Nproc,
        Resource::Memlock => RlimitResource::Memlock,
        Resource::Locks => RlimitResource::Locks,
        Resource::Sigpending => RlimitResource::Sigpending,
        Resource::Msgqueue => RlimitResource::Msgqueue,
        Resource::Nice => RlimitResource::Nice,
        Resource::Rtprio => RlimitResource::Rtprio,
        Resource::Rttime => RlimitResource::Rttime,
    }
}

/// Nice=, IOScheduling*=, CPUScheduling*=, OOMScoreAdjust=, IgnoreSIGPIPE=.
fn apply_scheduling(service: &Service, command: &mut PreparedCommand) {
    if let Some(nice) = service.nice {
        command.nice(nice);
    }
    // A class without a priority gets 4 (the kernel's default level); a
    // priority without a class is best-effort.
    match (service.io_class, service.io_priority) {
        (None, None) => {}
        (class, priority) => {
            let class = class.unwrap_or(IoClass::BestEffort);
            let priority = match class {
                IoClass::None | IoClass::Idle => 0,
                IoClass::Realtime | IoClass::BestEffort => priority.unwrap_or(4),
            };
            command.ioprio(class as u8, priority);
        }
    }
    if let Some(policy) = service.cpu_policy {
        // Real-time policies need a priority of at least 1, the others exactly 0.
        let priority = if policy.is_realtime() {
            service.cpu_priority.unwrap_or(1).max(1)
        } else {
            0
        };
        command.sched(policy as i32, i32::try_from(priority).unwrap_or(1));
    }
    if let Some(adj) = service.oom_score_adjust {
        command.oom_score_adj(adj);
    }
    command.ignore_sigpipe(service.ignore_sigpipe);
}

/// systemd's variable naming the process itself, in every process: the child
/// writes its own PID, as for `WATCHDOG_PID`, and it replaces any value from
/// the unit. The arguments are expanded before the fork, without it.
const EXEC_PID_VARIABLE: &str = "SYSTEMD_EXEC_PID";

/// Builds everything `cmd` of `service` needs before the fork.
///
/// `unit_name` is the full unit name; it is not put into the environment (systemd
/// does not either) and is kept for callers' symmetry with their own messages.
pub fn prepare(
    unit_name: &str,
    service: &Service,
    cmd: &ExecCommand,
    ctx: Context,
) -> Result<Prepared, SpawnError> {
    let _ = unit_name;
    let is_root = manager_is_root();
    let identity = resolve_identity(service, ctx.dynamic_user.as_ref(), is_root)?;
    // Most services have none of the directories: no roots to work out then.
    let directories = if service.directories.is_set() {
        let roots = match &ctx.directory_roots {
            Some(roots) => roots.clone(),
            None => DirectoryRoots::for_manager(is_root),
        };
        // The directories belong to the service's user even for a privileged
        // command; as root without User= they belong to root.
        let owner = is_root.then(|| (identity.uid.unwrap_or(0), identity.gid.unwrap_or(0)));
        directories::set_up(service, &roots, owner)
            .map_err(|source| SpawnError::Directory { source })?
    } else {
        Vec::new()
    };
    let mut environment = build_environment(service, &ctx, &identity, &directories)?;
    let listen_names: Vec<&str> = ctx.listen_fds.iter().map(|(_, n)| n.as_str()).collect();
    if !listen_names.is_empty() {
        // Set by the manager after the unit's own variables, as systemd does;
        // LISTEN_PID is written by the child itself (it needs its own PID).
        environment.set("LISTEN_FDS", &listen_names.len().to_string());
        environment.set("LISTEN_FDNAMES", &listen_names.join(":"));
    }
    // The very last step, as in systemd: it may remove what any layer set, the
    // manager's own variables included, and `$VAR` in the arguments sees the result.
    environment.unset(&service.unset_environment);
    let program = resolve_program(&cmd.program, search_path(service))?;
    let argv = expand_argv(cmd, &environment);

    // The environment first: its error names the variable, where an argument
    // expanded from it could only be named by its position.
    // The variables the child sets to its own PID: written by it, not here.
    let pid_variables: Vec<&str> = (ctx.pid_variable.as_deref().into_iter())
        .chain([EXEC_PID_VARIABLE])
        .collect();
    let c_env = environment
        .vars()
        .iter()
        .filter(|(k, _)| !pid_variables.contains(&k.as_str()))
        .filter(|(k, _)| ctx.listen_fds.is_empty() || k != "LISTEN_PID")
        .map(|(k, v)| {
            c_string(format!("{k}={v}").as_bytes(), || {
                SpawnError::NulInVariable { name: k.clone() }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let c_argv = argv
        .iter()
        .enumerate()
        .map(|(index, a)| c_string(a.as_bytes(), || SpawnError::NulInArgument { index }))
        .collect::<Result<Vec<_>, _>>()?;
    let mut command = PreparedCommand::new(
        c_string(program.as_os_str().as_bytes(), || SpawnError::NulByte {
            what: "program path",
        })?,
        c_argv,
        c_env,
    );
    for name in pid_variables {
        if !(service.unset_environment.iter()).any(|unset| unset == name) {
            command.pid_env(c_string(name.as_bytes(), || SpawnError::NulInVariable {
                name: name.to_owned(),
            })?);
        }
    }

    // systemd's default working directory: / for the system manager, the user's
    // home (if it can be entered) for a user manager.
    let cwd = match &*service.working_directory {
        Some(wd) => match &wd.dir {
            WorkingDirectory::Home => Some((home_directory(&identity)?, wd.optional)),
            WorkingDirectory::Path(path) => Some((path.clone(), wd.optional)),
        },
        None if is_root => Some((PathBuf::from("/"), false)),
        None => home_directory(&identity).ok().map(|home| (home, true)),
    };
    if let Some((dir, optional)) = cwd {
        command.cwd(
            c_string(dir.as_os_str().as_bytes(), || SpawnError::NulByte {
                what: "working directory",
            })?,
            optional,
        );
    }

    if !ctx.privileged && !ctx.keep_credentials {
        if let Some(groups) = identity.groups {
            command.groups(groups);
        }
        if let Some(gid) = identity.gid {
            command.gid(gid);
        }
        if let Some(uid) = identity.uid {
            command.uid(uid);
            // systemd's chown_terminal: the user gets the terminal it runs
            // on, or it could not open it again once it is no longer root.
            command.chown_terminal();
        }
    }
    if !ctx.privileged {
        // Like systemd, not for a command that keeps the manager's privileges
        // (`+`, PermissionsStartOnly=): it runs as root with all of them.
        // Ambient capabilities outside the bounding set are left out.
        command.ambient_capabilities(service.ambient_capabilities);
        if let Some(keep) = service.capability_bounding_set {
            command.capability_bounding_set(keep);
        }
    }
    apply_scheduling(service, &mut command);
    if let (Input::Tty(mode), Stdio::Tty(_)) = (&service.stdin, &ctx.stdin) {
        command.controlling_tty(match mode {
            TtyMode::Try => ControllingTty::Try,
            TtyMode::Force => ControllingTty::Force,
            TtyMode::Fail => ControllingTty::Fail,
        });
    }
    command.umask(service.umask);
    // The manager raised its own soft limit on open files; services start from
    // systemd's default soft limit (1024) under the same hard limit unless they
    // set LimitNOFILE=, since select()-based programs break above 1024.
    if !service.limits.iter().any(|(r, _)| *r == Resource::Nofile) {
        let hard = nofile_hard_limit();
        command.rlimit(Rlimit {
            resource: RlimitResource::Nofile,
            soft: Some(hard.map_or(DEFAULT_NOFILE_SOFT, |h| h.min(DEFAULT_NOFILE_SOFT))),
            hard,
        });
    }
    for (resource, limit) in &service.limits {
        command.rlimit(Rlimit {
            resource: rlimit_resource(*resource),
            soft: limit.soft,
            hard: limit.hard,
        });
    }
    // The sockets of socket activation are blocking unless NonBlocking=yes, as
    // systemd makes them (O_NONBLOCK belongs to the open socket, shared with the
    // manager's copy, which only waits for readiness and never reads).
    for (fd, _) in &ctx.listen_fds {
        vigil_platform::set_nonblocking(fd, service.non_blocking)
            .map_err(|source| SpawnError::NonBlocking { source })?;
    }
    command.pass_fds(ctx.listen_fds.into_iter().map(|(fd, _)| fd).collect());
    command
        .stdin(child_fd(ctx.stdin, "stdin", service.umask)?)
        .stdout(child_fd(ctx.stdout, "stdout", service.umask)?)
        .stderr(child_fd(ctx.stderr, "stderr", service.umask)?);

    Ok(Prepared {
        command,
        program,
        argv,
        environment,
    })
}

/// Starts a prepared command. The returned child's `exec` says whether the exec
/// (and the steps before it) succeeded.
pub fn spawn(prepared: &Prepared) -> Result<Child, SpawnError> {
    vigil_platform::spawn(&prepared.command).map_err(|source| SpawnError::Fork { source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn term_is_linux_on_a_virtual_console_and_vt220_elsewhere() {
        let none = || None;
        let term = |tty: &str| term_for(Path::new(tty), None, none);
        assert_eq!(term("/dev/tty1"), "linux");
        assert_eq!(term("/dev/tty0"), "linux");
        assert_eq!(term("/dev/tty63"), "linux");
        assert_eq!(term("/dev/tty64"), "vt220");
        assert_eq!(term("/dev/ttyS0"), "vt220");
        assert_eq!(term("/dev/ttyAMA0"), "vt220");
        assert_eq!(term("/dev/pts/3"), "vt220");
        assert_eq!(term("/dev/tty"), "vt220");
        // The manager's TERM counts on the console only.
        assert_eq!(
            term_for(Path::new("/dev/tty2"), Some("xterm"), none),
            "linux"
        );
        assert_eq!(
            term_for(Path::new("/dev/console"), Some("xterm"), none),
            "xterm"
        );
        // Else the console is what the kernel's list ends with.
        let active = |list: &'static str| move || Some(list.to_string());
        let console = Path::new("/dev/console");
        assert_eq!(term_for(console, None, active("ttyS0 tty1\n")), "linux");
        assert_eq!(term_for(console, Some(""), active("tty0\n")), "linux");
        assert_eq!(term_for(console, None, active("tty1 ttyS0\n")), "vt220");
        assert_eq!(term_for(console, None, none), "vt220");
    }

    #[test]
    fn term_is_set_for_a_service_on_a_terminal_unless_it_sets_its_own() {
        let term = |service: &Service| {
            let prepared = prepare(
                "t.service",
                service,
                &exec(&["/bin/true"]),
                Context::default(),
            )
            .unwrap();
            prepared
                .environment()
                .iter()
                .find(|(name, _)| name == "TERM")
                .map(|(_, value)| value.clone())
        };
        assert_eq!(term(&Service::default()), None);
        let serial = Service {
            tty_path: Some(PathBuf::from("/dev/ttyS1")).into(),
            ..Service::default()
        };
        assert_eq!(term(&serial).as_deref(), Some("vt220"));
        let vc = Service {
            tty_path: Some(PathBuf::from("/dev/tty3")).into(),
            ..Service::default()
        };
        assert_eq!(term(&vc).as_deref(), Some("linux"));
        let console_output = Service {
            stdout: Output::Console,
            ..Service::default()
        };
        assert!(term(&console_output).is_some());
        let stderr_tty = Service {
            stderr: Output::Tty,
            tty_path: Some(PathBuf::from("/dev/tty3")).into(),
            ..Service::default()
        };
        assert!(needs_term(&stderr_tty));
        let own = Service {
            environment: vec![("TERM".into(), "dumb".into())],
            ..vc.clone()
        };
        assert_eq!(term(&own).as_deref(), Some("dumb"));
    }

    /// The terminal given back when the service ends: systemd's
    /// exec_context_may_touch_tty() without the TTYReset= family.
    #[test]
    fn the_terminal_used_is_ttypath_or_the_console_for_tty_stdio() {
        let vc = Some(PathBuf::from("/dev/tty3"));
        let stdin = Service {
            stdin: Input::Tty(vigil_units::model::TtyMode::Try),
            tty_path: vc.clone().into(),
            ..Service::default()
        };
        assert_eq!(terminal_used(&stdin), vc);
        let stdout = Service {
            stdout: Output::Tty,
            ..Service::default()
        };
        assert_eq!(terminal_used(&stdout), Some(PathBuf::from("/dev/console")));
        // TTYPath= alone, or the console as the manager's stdout: none.
        let path_only = Service {
            tty_path: vc.into(),
            ..Service::default()
        };
        assert_eq!(terminal_used(&path_only), None);
        let console = Service {
            stdout: Output::Console,
            ..Service::default()
        };
        assert_eq!(terminal_used(&console), None);
    }

    /// Why `service` cannot start `/bin/true`.
    fn refused(service: &Service) -> SpawnError {
        prepare(
            "a.service",
            service,
            &exec(&["/bin/true"]),
            Context::default(),
        )
        .unwrap_err()
    }

    /// A service with one `EnvironmentFile=`, not optional.
    fn with_environment_file(path: std::path::PathBuf) -> Service {
        Service {
            environment_files: vec![vigil_units::EnvironmentFile {
                path,
                optional: false,
            }]
            .into(),
            ..Service::default()
        }
    }

    fn exec(argv: &[&str]) -> ExecCommand {
        ExecCommand {
            program: argv.first().map(|s| (*s).to_owned()).unwrap_or_default(),
            argv: argv.iter().map(|s| (*s).to_owned()).collect(),
            line: 1,
            ..ExecCommand::default()
        }
    }

    #[test]
    fn bare_names_resolve_through_the_search_path() {
        let sh = resolve_program("sh", DEFAULT_PATH).unwrap();
        assert!(sh.is_absolute() && sh.ends_with("sh"), "{sh:?}");
        assert_eq!(
            resolve_program("/x/y", DEFAULT_PATH).unwrap(),
            PathBuf::from("/x/y")
        );
        let err = resolve_program("vigil-no-such-program", DEFAULT_PATH).unwrap_err();
        assert!(
            matches!(&err, SpawnError::ProgramNotFound { program, path }
                if program == "vigil-no-such-program" && path == DEFAULT_PATH),
            "{err:?}"
        );
        assert_eq!((err.stage(), err.errno()), ("exec", 2));
        assert!(resolve_program("", DEFAULT_PATH).is_err());
        // ExecSearchPath=: only there.
        assert!(resolve_program("sh", "/nonexistent:/proc").is_err());
        let mut service = Service::default();
        assert_eq!(search_path(&service), DEFAULT_PATH);
        *service.exec_search_path = Some("/bin".into());
        assert_eq!(
            resolve_program("sh", search_path(&service)).unwrap(),
            PathBuf::from("/bin/sh")
        );
    }

    #[test]
    fn dollar_words_split_braces_do_not() {
        let mut env = Environment::new();
        env.set("WORDS", "a  b\tc");
        env.set("EMPTY", "");
        let cmd = exec(&[
            "prog",
            "$WORDS",
            "${WORDS}",
            "x${WORDS}y",
            "$$WORDS",
            "$UNDEF",
            "$EMPTY",
            "-${UNDEF}-",
        ]);
        assert_eq!(
            expand_argv(&cmd, &env),
            [
                "prog",
                "a",
                "b",
                "c",
                "a  b\tc",
                "xa  b\tcy",
                "$WORDS",
                "--"
            ]
        );
        let mut literal = cmd.clone();
        literal.no_expand = true;
        assert_eq!(expand_argv(&literal, &env), literal.argv);
    }

    #[test]
    fn argv0_is_never_expanded() {
        let env = Environment::new();
        assert_eq!(expand_argv(&exec(&["$ZERO", "$ONE"]), &env), ["$ZERO"]);
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn borrowed(vars: &[(String, String)]) -> Vec<(&str, &str)> {
        vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn environment_order_and_precedence() {
        let dir = std::env::temp_dir().join(format!("vigil-spawn-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file1 = dir.join("one.env");
        let file2 = dir.join("two.env");
        std::fs::write(&file1, "FROM_FILE=1\nBOTH=file1\n").unwrap();
        std::fs::write(&file2, "BOTH=file2\nPATH=/custom\n").unwrap();
        let service = Service {
            environment: vec![
                ("BOTH".into(), "environment".into()),
                ("ONLY_ENV".into(), "e".into()),
                ("INVOCATION_ID".into(), "overridden".into()),
            ],
            environment_files: vec![
                vigil_units::EnvironmentFile {
                    path: file1,
                    optional: false,
                },
                vigil_units::EnvironmentFile {
                    path: dir.join("missing.env"),
                    optional: true,
                },
                vigil_units::EnvironmentFile {
                    path: file2,
                    optional: false,
                },
            ]
            .into(),
            ..Service::default()
        };
        let ctx = Context {
            main_pid: Some(42),
            invocation_id: "abc".into(),
            notify_socket: Some(PathBuf::from("/run/n.sock")),
            lang: Some("C.UTF-8".into()),
            extra_env: vec![
                ("EXTRA".into(), "x".into()),
                ("ONLY_ENV".into(), "extra".into()),
            ],
            ..Context::default()
        };
        let env = build_environment(&service, &ctx, &Identity::default(), &[]).unwrap();
        assert_eq!(
            borrowed(env.vars()),
            [
                ("PATH", "/custom"),
                ("LANG", "C.UTF-8"),
                ("INVOCATION_ID", "overridden"),
                ("NOTIFY_SOCKET", "/run/n.sock"),
                ("MAINPID", "42"),
                ("EXTRA", "x"),
                ("ONLY_ENV", "e"),
                ("BOTH", "file2"),
                ("FROM_FILE", "1"),
            ]
        );

        let mut required_missing = service.clone();
        required_missing.environment_files[1].optional = false;
        let err =
            build_environment(&required_missing, &ctx, &Identity::default(), &[]).unwrap_err();
        assert!(
            matches!(err, SpawnError::ReadEnvironmentFile { .. }),
            "{err:?}"
        );
        assert_eq!(err.errno(), 2);
    }

    /// systemd.exec(5): EnvironmentFile= takes "an absolute filename or
    /// wildcard expression": every match, sorted; none matching is an error
    /// unless the `-` prefix says the file is optional.
    #[test]
    fn an_environment_file_pattern_reads_every_match_in_order() {
        let dir = std::env::temp_dir().join(format!("vigil-spawn-glob-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("d")).unwrap();
        std::fs::write(dir.join("d/b.env"), "B=2\nLAST=b\n").unwrap();
        std::fs::write(dir.join("d/a.env"), "A=1\nLAST=a\n").unwrap();
        std::fs::write(dir.join("d/.hidden.env"), "HIDDEN=1\n").unwrap();
        std::fs::write(dir.join("d/c.txt"), "C=3\n").unwrap();
        let file = |path: PathBuf, optional| vigil_units::EnvironmentFile { path, optional };
        let mut service = Service {
            environment_files: vec![file(dir.join("*/*.env"), false)].into(),
            ..Service::default()
        };
        let env =
            build_environment(&service, &Context::default(), &Identity::default(), &[]).unwrap();
        let got: Vec<(&str, &str)> = borrowed(env.vars())
            .into_iter()
            .filter(|(k, _)| ["A", "B", "C", "LAST", "HIDDEN"].contains(k))
            .collect();
        assert_eq!(got, [("A", "1"), ("LAST", "b"), ("B", "2")]);
        service.environment_files = vec![file(dir.join("d/*.none"), false)].into();
        let err = build_environment(&service, &Context::default(), &Identity::default(), &[])
            .unwrap_err();
        assert_eq!(err.errno(), 2, "{err}");
        service.environment_files = vec![file(dir.join("d/*.none"), true)].into();
        build_environment(&service, &Context::default(), &Identity::default(), &[]).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn pass_environment_lies_between_the_defaults_and_environment_and_unset_is_last() {
        let service = Service {
            pass_environment: ["PASSED", "EXACT", "MISSING", "SHADOWED", "GONE"]
                .map(String::from)
                .into_iter()
                .collect(),
            environment: pairs(&[("SHADOWED", "unit"), ("DROPPED", "x"), ("KEPT", "a")]),
            unset_environment: ["DROPPED", "KEPT=b", "EXACT=2", "GONE=other", "MAINPID"]
                .map(String::from)
                .into_iter()
                .collect(),
            ..Service::default()
        };
        let ctx = Context {
            main_pid: Some(42),
            extra_env: pairs(&[("PASSED", "default")]),
            manager_env: pairs(&[
                ("PASSED", "1"),
                ("EXACT", "2"),
                ("SHADOWED", "manager"),
                ("GONE", "3"),
                ("NOT_PASSED", "secret"),
            ])
            .into(),
            ..Context::default()
        };
        let cmd = exec(&["/bin/echo", "x${DROPPED}x", "${PASSED}"]);
        let prepared = prepare("a.service", &service, &cmd, ctx).unwrap();
        assert_eq!(
            borrowed(prepared.environment()),
            [
                ("PATH", DEFAULT_PATH),
                ("PASSED", "1"),
                ("SHADOWED", "unit"),
                ("GONE", "3"),
                ("KEPT", "a"),
            ]
        );
        assert_eq!(prepared.argv(), ["/bin/echo", "xx", "1"]);
    }

    #[test]
    fn container_mode_puts_the_managers_environment_under_what_the_manager_sets() {
        let mut manager_env = pairs(&[
            ("PATH", "/opt/app/bin:/usr/bin:/bin"),
            ("HOME", "/root"),
            ("FROM_DOCKER", "bar"),
            ("VIGIL_SOCKET", "/run/vigil/control.sock"),
        ]);
        for name in env::MANAGER_PROTOCOL_VARIABLES
            .iter()
            .chain(env::SHELL_STATE_VARIABLES)
        {
            manager_env.push(((*name).to_owned(), "the manager's".to_owned()));
        }
        let ctx = Context {
            invocation_id: "inner".into(),
            lang: Some("C.UTF-8".into()),
            manager_env: manager_env.into(),
            inherit_manager_env: true,
            ..Context::default()
        };
        let build = |identity: &Identity| {
            build_environment(&Service::default(), &ctx, identity, &[]).unwrap()
        };
        let without_user = build(&Identity::default());
        assert_eq!(
            borrowed(without_user.vars()),
            [
                ("PATH", "/opt/app/bin:/usr/bin:/bin"),
                ("LANG", "C.UTF-8"),
                ("HOME", "/root"),
                ("FROM_DOCKER", "bar"),
                ("VIGIL_SOCKET", "/run/vigil/control.sock"),
                ("INVOCATION_ID", "inner"),
            ]
        );
        let www = Identity {
            user: Some(UserEntry {
                name: "www".into(),
                uid: 33,
                gid: 33,
                home: "/var/www".into(),
                shell: "/usr/sbin/nologin".into(),
            }),
            ..Identity::default()
        };
        let with_user = build(&www);
        assert_eq!(with_user.get("HOME"), Some("/var/www"));
        assert_eq!(with_user.get("USER"), Some("www"));

        // On a machine the service starts clean, as with systemd.
        let machine = Context {
            inherit_manager_env: false,
            ..ctx
        };
        let clean = build_environment(&Service::default(), &machine, &Identity::default(), &[]);
        assert_eq!(
            borrowed(clean.unwrap().vars()),
            [
                ("PATH", DEFAULT_PATH),
                ("LANG", "C.UTF-8"),
                ("INVOCATION_ID", "inner")
            ]
        );
    }

    #[test]
    fn nul_bytes_are_refused_before_fork() {
        let service = Service {
            environment: vec![("A".into(), "x\0y".into())],
            ..Service::default()
        };
        let err = refused(&service);
        assert!(
            matches!(&err, SpawnError::NulInVariable { name } if name == "A"),
            "{err:?}"
        );
        assert_eq!((err.stage(), err.errno()), ("prepare", libc_errno::EINVAL));
    }

    /// The review's leak: `EnvironmentFile=/proc/1/environ` is NUL-separated, so the
    /// first variable's value is the rest of the environment, and the error printed
    /// it all, passwords included.
    #[test]
    fn environment_file_of_proc_1_environ_names_a_variable_and_shows_no_value() {
        let dir = std::env::temp_dir().join(format!("vigil-spawn-nul-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let environ = dir.join("environ");
        std::fs::write(
            &environ,
            "DB_URL=postgres://u:hunter2@h/db\0API_TOKEN=s3cr3t\0HOME=/root\0",
        )
        .unwrap();
        let service = with_environment_file(environ);
        // `$DB_URL` puts the same value into an argument too.
        let cmd = exec(&["/bin/echo", "${DB_URL}"]);
        let err = prepare("a.service", &service, &cmd, Context::default()).unwrap_err();
        let shown = format!("{err} {err:?}");
        // The file and the line, as a NUL in an environment file is said.
        assert!(
            shown.contains("environ:1: the line has a NUL byte"),
            "{shown}"
        );
        for secret in ["hunter2", "s3cr3t", "postgres", "API_TOKEN"] {
            assert!(!shown.contains(secret), "{secret} shown: {shown}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A NUL in an environment file is an error naming the file and its
    /// line at the start (it was `exec failed at prepare: Invalid argument`,
    /// naming neither).
    #[test]
    fn a_nul_byte_in_an_environment_file_names_the_file_and_line() {
        let dir = std::env::temp_dir().join(format!("vigil-spawn-envnul-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("env");
        std::fs::write(&file, "A=1\n# note\nB=x\0y\n").unwrap();
        let service = with_environment_file(file.clone());
        let err = refused(&service);
        let at = format!("{}:3", file.display());
        assert_eq!(
            err.to_string(),
            format!("environment file {at}: the line has a NUL byte")
        );
        assert_eq!(err.detail(), Some(format!("{at}: a NUL byte")));
        assert_eq!(
            (err.stage(), err.errno()),
            ("environment", libc_errno::EINVAL)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_argument_with_a_nul_byte_is_named_by_its_position_only() {
        let cmd = exec(&["/bin/echo", "plain", "pass\0word"]);
        let err = prepare("a.service", &Service::default(), &cmd, Context::default()).unwrap_err();
        assert_eq!(err.to_string(), "argument 2 has a NUL byte");
    }
}
