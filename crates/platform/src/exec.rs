//! Forking and executing a service process, and reporting a failed exec.
//!
//! Everything the child needs is built before `fork` ([`PreparedCommand`], then the
//! pointer arrays in [`spawn`]): between `fork` and `execve` the child allocates
//! nothing, takes no lock, runs no destructor and calls only async-signal-safe
//! functions (raw syscalls, through rustix or `libc::syscall`, and libc's `execve`
//! and `_exit`). It must never panic there either: no indexing, no unwrap.
//!
//! The child, in this order:
//! 1. resets every signal disposition to SIG_DFL and unblocks every signal (the
//!    manager blocks SIGCHLD/SIGTERM for its signalfd and ignores SIGPIPE; both
//!    survive fork and `SIG_IGN` and the blocked mask also survive `execve` — the
//!    trap `std::process::Command` leaves open);
//! 2. marks every descriptor above 2 close-on-exec (`close_range`, Linux 5.11+), a
//!    safety net behind the rule that the manager creates every descriptor with
//!    O_CLOEXEC;
//! 3. `setsid()`: its own session and process group, so `kill(-pgid)` reaches the
//!    service and everything it forks;
//!    then ignores SIGPIPE again when the command asks for it
//!    (`IgnoreSIGPIPE=yes`);
//! 4. installs its stdio with `dup2`, takes stdin as controlling terminal when
//!    asked, hands a terminal on stdin to the service's user, sets rlimits, the nice value, I/O and CPU scheduling and the OOM
//!    score (all before the ids change: raising them needs privileges), umask,
//!    then drops the capabilities `CapabilityBoundingSet=` leaves out of the
//!    bounding set (which needs CAP_SETPCAP, so while still root), then drops
//!    privileges in the order setgroups, setgid, setuid (keeping its
//!    capabilities across setuid when it has ambient ones to raise), then
//!    enters the working directory as the user it now is;
//! 5. raises its ambient capabilities (`AmbientCapabilities=`): adds them to its
//!    inheritable set (a non-root user's permitted and effective sets become
//!    exactly them), then `PR_CAP_AMBIENT_RAISE` for each, so they survive the
//!    exec of an ordinary program; capabilities dropped from the bounding set
//!    leave the inheritable set too;
//! 6. `execve` of an already resolved path.
//!
//! The child shares the manager's memory (CLONE_VM) and the manager waits until it
//! has exec'd or exited (CLONE_VFORK), as glibc's posix_spawn does. A failure at
//! any step is stored as `(stage, errno)` in memory the manager reads when the
//! clone returns, then the child `_exit(127)`s: [`spawn`] returns the outcome in
//! [`Child::exec`], so a service can never die silently before it ran, and no
//! pipe or extra turn of the event loop is needed to learn it.

use std::ffi::{CStr, CString, c_char};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};

use rustix::fs::Mode;
use rustix::process::Resource;
use rustix::process::{Gid, Uid};

/// The steps of the child that can fail, in the order they run (umask cannot fail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Stage {
    Files = 0,
    Sigmask,
    Setsid,
    Dup2,
    Tty,
    TtyOwner,
    Rlimit,
    Nice,
    Ioprio,
    Sched,
    OomScoreAdjust,
    BoundingSet,
    Setgroups,
    Setgid,
    Setuid,
    Chdir,
    Capabilities,
    Exec,
}

/// Names of the child's steps, indexed by the stage byte of a failure report.
/// A step that carries out one unit-file directive names it, so a failure
/// message says which setting the kernel refused. (A failed `setrlimit` is
/// reported with the limit's own name, [`RlimitResource::stage_name`].)
pub const STAGE_NAMES: [&str; 18] = [
    "files",
    "sigmask",
    "setsid",
    "dup2",
    "tty (StandardInput=)",
    "chown-tty (User=)",
    "rlimit",
    "nice (Nice=)",
    "ioprio (IOSchedulingClass=)",
    "sched (CPUSchedulingPolicy=)",
    "oom-score-adjust (OOMScoreAdjust=)",
    "bounding-set (CapabilityBoundingSet=)",
    "setgroups",
    "setgid",
    "setuid",
    "chdir",
    "capabilities (AmbientCapabilities=)",
    "exec",
];

/// A resource limit the child sets (`Limit*=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RlimitResource {
    Cpu,
    Fsize,
    Data,
    Stack,
    Core,
    Rss,
    Nofile,
    As,
    Nproc,
    Memlock,
    Locks,
    Sigpending,
    Msgqueue,
    Nice,
    Rtprio,
    Rttime,
}

impl RlimitResource {
    pub(crate) fn to_rustix(self) -> Resource {
        match self {
            RlimitResource::Cpu => Resource::Cpu,
            RlimitResource::Fsize => Resource::Fsize,
            RlimitResource::Data => Resource::Data,
            RlimitResource::Stack => Resource::Stack,
            RlimitResource::Core => Resource::Core,
            RlimitResource::Rss => Resource::Rss,
            RlimitResource::Nofile => Resource::Nofile,
            RlimitResource::As => Resource::As,
            RlimitResource::Nproc => Resource::Nproc,
            RlimitResource::Memlock => Resource::Memlock,
            RlimitResource::Locks => Resource::Locks,
            RlimitResource::Sigpending => Resource::Sigpending,
            RlimitResource::Msgqueue => Resource::Msgqueue,
            RlimitResource::Nice => Resource::Nice,
            RlimitResource::Rtprio => Resource::Rtprio,
            RlimitResource::Rttime => Resource::Rttime,
        }
    }

    /// The stage a refused `setrlimit` of this resource is reported as.
    pub fn stage_name(self) -> &'static str {
        match self {
            RlimitResource::Cpu => "rlimit (LimitCPU=)",
            RlimitResource::Fsize => "rlimit (LimitFSIZE=)",
            RlimitResource::Data => "rlimit (LimitDATA=)",
            RlimitResource::Stack => "rlimit (LimitSTACK=)",
            RlimitResource::Core => "rlimit (LimitCORE=)",
            RlimitResource::Rss => "rlimit (LimitRSS=)",
            RlimitResource::Nofile => "rlimit (LimitNOFILE=)",
            RlimitResource::As => "rlimit (LimitAS=)",
            RlimitResource::Nproc => "rlimit (LimitNPROC=)",
            RlimitResource::Memlock => "rlimit (LimitMEMLOCK=)",
            RlimitResource::Locks => "rlimit (LimitLOCKS=)",
            RlimitResource::Sigpending => "rlimit (LimitSIGPENDING=)",
            RlimitResource::Msgqueue => "rlimit (LimitMSGQUEUE=)",
            RlimitResource::Nice => "rlimit (LimitNICE=)",
            RlimitResource::Rtprio => "rlimit (LimitRTPRIO=)",
            RlimitResource::Rttime => "rlimit (LimitRTTIME=)",
        }
    }
}

/// How the child takes its stdin terminal as controlling terminal (TIOCSCTTY).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControllingTty {
    /// Take it if no other session has it; carry on without it otherwise.
    Try,
    /// Take it even from another session (needs CAP_SYS_ADMIN).
    Force,
    /// Take it or fail.
    Fail,
}

/// `None` is unlimited (RLIM_INFINITY).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: RlimitResource,
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

/// What one of the child's fds 0, 1, 2 becomes.
#[derive(Debug)]
pub enum ChildFd {
    /// The manager's own descriptor with that number is passed through.
    Inherit,
    /// This descriptor is `dup2`'ed onto it. It is owned (always numbered above 2 and
    /// close-on-exec), so dropping the `PreparedCommand` after spawning closes the
    /// manager's copy.
    Fd(OwnedFd),
    /// `/dev/null`, read-write.
    Null,
}

impl ChildFd {
    /// A private close-on-exec copy of `fd`, numbered above 2 so that installing one
    /// stdio descriptor can never overwrite the source of another.
    pub fn dup(fd: BorrowedFd<'_>) -> io::Result<ChildFd> {
        Ok(ChildFd::Fd(rustix::io::fcntl_dupfd_cloexec(fd, 3)?))
    }

    /// Takes `fd`, renumbering it above 2 if needed.
    pub fn owned(fd: OwnedFd) -> io::Result<ChildFd> {
        if std::os::fd::AsRawFd::as_raw_fd(&fd) > 2 {
            Ok(ChildFd::Fd(fd))
        } else {
            ChildFd::dup(fd.as_fd())
        }
    }

    /// `/dev/null`: the spawn passes its own, always open, so nothing is opened
    /// per child.
    pub fn dev_null() -> io::Result<ChildFd> {
        Ok(ChildFd::Null)
    }
}

/// Everything the child needs, built by the caller before [`spawn`].
#[derive(Debug)]
pub struct PreparedCommand {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: Option<(CString, bool)>,
    uid: Option<u32>,
    gid: Option<u32>,
    groups: Option<Vec<u32>>,
    umask: Option<u32>,
    rlimits: Vec<Rlimit>,
    stdio: [ChildFd; 3],
    /// Socket activation: descriptors the child gets as 3, 4, ... (not
    /// close-on-exec there).
    pass_fds: Vec<OwnedFd>,
    /// Variables the child sets to its own PID (`WATCHDOG_PID`, `LISTEN_PID`),
    /// known only after the clone.
    pid_env: Vec<CString>,
    controlling_tty: Option<ControllingTty>,
    /// A terminal on stdin is handed to [`Self::uid`]'s user.
    chown_terminal: bool,
    nice: Option<i32>,
    ioprio: Option<(u8, u8)>,
    sched: Option<(i32, i32)>,
    oom_score_adj: Option<i32>,
    ignore_sigpipe: bool,
    ambient_capabilities: u64,
    bounding_set: Option<u64>,
    /// Where the kernel writes the child's PID before it runs (see [`SpawnPids`](crate::SpawnPids)).
    record_pid: Option<&'static AtomicI32>,
}

impl PreparedCommand {
    /// `path` is executed as is (already resolved; no PATH search happens here);
    /// `envp` entries are `KEY=VALUE`. Stdio defaults to inherit, nothing else changes.
    pub fn new(path: CString, argv: Vec<CString>, envp: Vec<CString>) -> PreparedCommand {
        PreparedCommand {
            path,
            argv,
            envp,
            cwd: None,
            uid: None,
            gid: None,
            groups: None,
            umask: None,
            rlimits: Vec::new(),
            stdio: [ChildFd::Inherit, ChildFd::Inherit, ChildFd::Inherit],
            pass_fds: Vec::new(),
            pid_env: Vec::new(),
            controlling_tty: None,
            chown_terminal: false,
            nice: None,
            ioprio: None,
            sched: None,
            oom_score_adj: None,
            ignore_sigpipe: false,
            ambient_capabilities: 0,
            bounding_set: None,
            record_pid: None,
        }
    }

    /// Has the kernel write the child's PID into `cell` as it creates the child
    /// (`CLONE_PARENT_SETTID`), before the child runs: memory that outlives this
    /// process tells its successor which PID a spawn got, even if it died before
    /// the clone returned.
    pub fn record_pid(&mut self, cell: &'static AtomicI32) -> &mut Self {
        self.record_pid = Some(cell);
        self
    }

    /// Makes stdin (a terminal) the child's controlling terminal, after setsid.
    pub fn controlling_tty(&mut self, mode: ControllingTty) -> &mut Self {
        self.controlling_tty = Some(mode);
        self
    }

    /// Hands stdin to the user of [`Self::uid`] when it is a terminal, as
    /// systemd's chown_terminal does: that owner (the group is kept), mode
    /// 0620, before the ids change, so a service running as that user can
    /// open its own terminal again (`login`, `agetty`, anything that opens
    /// `ttyname(0)`). Anything else on stdin is left alone.
    pub fn chown_terminal(&mut self) -> &mut Self {
        self.chown_terminal = true;
        self
    }

    /// The nice value (setpriority), -20..19.
    pub fn nice(&mut self, nice: i32) -> &mut Self {
        self.nice = Some(nice);
        self
    }

    /// The I/O scheduling class (0 none, 1 realtime, 2 best-effort, 3 idle) and
    /// priority (0..7) for ioprio_set.
    pub fn ioprio(&mut self, class: u8, priority: u8) -> &mut Self {
        self.ioprio = Some((class & 0x7, priority & 0x7));
        self
    }

    /// The CPU scheduling policy (a SCHED_* number) and its static priority.
    pub fn sched(&mut self, policy: i32, priority: i32) -> &mut Self {
        self.sched = Some((policy, priority));
        self
    }

    /// Written to /proc/self/oom_score_adj, -1000..1000.
    pub fn oom_score_adj(&mut self, adj: i32) -> &mut Self {
        self.oom_score_adj = Some(adj);
        self
    }

    /// Leaves SIGPIPE ignored across exec (systemd's `IgnoreSIGPIPE=yes`); every
    /// other signal starts at its default.
    pub fn ignore_sigpipe(&mut self, ignore: bool) -> &mut Self {
        self.ignore_sigpipe = ignore;
        self
    }

    /// Adds `NAME=<the child's PID>` to the child's environment (systemd's
    /// `WATCHDOG_PID`): the PID exists only after the clone, so the child
    /// writes its digits into a buffer reserved before it.
    pub fn pid_env(&mut self, name: CString) -> &mut Self {
        self.pid_env.push(name);
        self
    }

    /// Socket activation: the child gets these as fds 3, 4, ... in this order,
    /// and its environment gets `LISTEN_PID=` with its own PID, written between
    /// clone and exec (the caller sets `LISTEN_FDS=` and `LISTEN_FDNAMES=`).
    /// They are the manager's close-on-exec copies, closed when this is dropped.
    pub fn pass_fds(&mut self, fds: Vec<OwnedFd>) -> &mut Self {
        if !fds.is_empty() {
            self.pid_env.push(c"LISTEN_PID".into());
        }
        self.pass_fds = fds;
        self
    }

    /// Capabilities to raise in the ambient set (bit `n`: capability `n`), so
    /// that the program holds them after exec even as a non-root user. Those
    /// outside the manager's bounding set are left out, as systemd does; one the
    /// manager cannot grant otherwise fails the exec at stage `capabilities`.
    pub fn ambient_capabilities(&mut self, set: u64) -> &mut Self {
        self.ambient_capabilities = set;
        self
    }

    /// The capability bounding set to keep (`CapabilityBoundingSet=`): the
    /// others are dropped from it and from the inheritable set, so nothing
    /// the program execs, even as root, can gain them.
    pub fn capability_bounding_set(&mut self, keep: u64) -> &mut Self {
        self.bounding_set = Some(keep);
        self
    }

    /// The working directory; when `optional`, failing to enter it is not an error.
    pub fn cwd(&mut self, dir: CString, optional: bool) -> &mut Self {
        self.cwd = Some((dir, optional));
        self
    }

    /// Switches to this user id (after the groups and the group id).
    pub fn uid(&mut self, uid: u32) -> &mut Self {
        self.uid = Some(uid);
        self
    }

    pub fn gid(&mut self, gid: u32) -> &mut Self {
        self.gid = Some(gid);
        self
    }

    /// The complete supplementary group list (may be empty: drop them all).
    pub fn groups(&mut self, groups: Vec<u32>) -> &mut Self {
        self.groups = Some(groups);
        self
    }

    pub fn umask(&mut self, mask: u32) -> &mut Self {
        self.umask = Some(mask & 0o7777);
        self
    }

    pub fn rlimit(&mut self, limit: Rlimit) -> &mut Self {
        self.rlimits.push(limit);
        self
    }

    pub fn stdin(&mut self, fd: ChildFd) -> &mut Self {
        self.stdio[0] = fd;
        self
    }

    pub fn stdout(&mut self, fd: ChildFd) -> &mut Self {
        self.stdio[1] = fd;
        self
    }

    pub fn stderr(&mut self, fd: ChildFd) -> &mut Self {
        self.stdio[2] = fd;
        self
    }

    pub fn path(&self) -> &CStr {
        &self.path
    }

    pub fn argv(&self) -> &[CString] {
        &self.argv
    }

    pub fn envp(&self) -> &[CString] {
        &self.envp
    }
}

/// A started child.
#[derive(Debug)]
pub struct Child {
    pub pid: u32,
    /// Whether `execve` happened: known when [`spawn`] returns.
    pub exec: ExecStatus,
}

/// The outcome of the steps between clone and exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecStatus {
    /// `execve` succeeded: the program runs.
    Succeeded,
    /// The child failed at `stage` (one of [`STAGE_NAMES`]) with `errno` and exited 127.
    Failed { stage: &'static str, errno: i32 },
}

/// The child's instructions, all borrowed from memory prepared before fork.
struct Plan<'a> {
    path: &'a CStr,
    argv: *const *const c_char,
    envp: *const *const c_char,
    /// Where the child writes its PID in decimal, NUL-terminated (the value
    /// part of each `pid_env` entry of `envp`), and the room there.
    pid_digits: &'a [(*mut u8, usize)],
    /// For each of 0, 1, 2: the staging slot holding what to install there
    /// (`None`: keep the manager's own).
    stdio: [Option<RawFd>; 3],
    /// The child's private descriptor table keeps only the descriptors below
    /// this: 0-2, the manager's first few, and the staging slots (and, with
    /// `pass_fds`, everything up to the highest of them).
    keep_below: u32,
    /// Descriptors to install as 3, 4, ... (see [`PreparedCommand::pass_fds`]).
    pass_fds: &'a [RawFd],
    rlimits: &'a [(Resource, rustix::process::Rlimit)],
    umask: Option<Mode>,
    cwd: Option<(&'a CStr, bool)>,
    groups: Option<&'a [Gid]>,
    gid: Option<Gid>,
    uid: Option<Uid>,
    controlling_tty: Option<ControllingTty>,
    chown_terminal: bool,
    nice: Option<i32>,
    /// The ioprio_set value: class << 13 | priority.
    ioprio: Option<i32>,
    sched: Option<(i32, libc::sched_param)>,
    /// The decimal text for /proc/self/oom_score_adj and its length.
    oom_score_adj: Option<([u8; 12], usize)>,
    /// The ambient capabilities to raise, already limited to the bounding set.
    ambient: u64,
    /// The capabilities to drop from the bounding (and inheritable) set.
    bounding_drop: u64,
    /// SIG_IGN, for SIGPIPE, when the command keeps it ignored.
    sigpipe_ignore: Option<libc::sigaction>,
    max_signal: i32,
    /// Signals whose disposition may not be SIG_DFL: the only ones to reset.
    not_default: u64,
    /// Where the child reports a failure: the stage plus one (0: no failure), and
    /// the errno. Shared memory (CLONE_VM), read once the clone has returned.
    failed_stage: AtomicU8,
    failed_errno: AtomicI32,
    /// Which of `rlimits` failed, for a failure at stage `rlimit`.
    failed_index: AtomicU8,
}

/// `n` as decimal ASCII, formatted before fork.
fn decimal(n: i32) -> ([u8; 12], usize) {
    let mut buf = [0u8; 12];
    let text = n.to_string();
    let len = text.len().min(buf.len());
    if let (Some(dst), Some(src)) = (buf.get_mut(..len), text.as_bytes().get(..len)) {
        dst.copy_from_slice(src);
    }
    (buf, len)
}

/// A `struct sigaction` that ignores the signal.
fn ignore_action() -> libc::sigaction {
    // SAFETY: `libc::sigaction` is a plain C struct for which all-zero bytes are
    // a valid value (SIG_DFL, no flags, empty mask).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = libc::SIG_IGN;
    action
}

fn checked_id(id: u32) -> io::Result<u32> {
    // (uid_t)-1 means "unchanged" to the set*id calls: never a real target.
    if id == u32::MAX {
        Err(io::Error::from_raw_os_error(libc::EINVAL))
    } else {
        Ok(id)
    }
}

/// Replaces this process's image (execve(2)): `path`, with `argv` (the
/// program's name first) and `envp` (`NAME=value`). Unlike std's
/// `Command::exec`, whose execvp runs a file the kernel refuses (ENOEXEC) as a
/// shell script, such a file is an error here. Returns only on failure.
pub fn exec_image(path: &CStr, argv: &[CString], envp: &[CString]) -> io::Error {
    let (argv, envp) = (null_terminated(argv), null_terminated(envp));
    // SAFETY: NUL-terminated strings in NULL-terminated arrays, all alive
    // across the call; execve returns only on failure.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

fn null_terminated(strings: &[CString]) -> Vec<*const c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// Starts `cmd` in a new process. Returns once the child has exec'd or failed;
/// [`Child::exec`] says which.
pub fn spawn(cmd: &PreparedCommand) -> io::Result<Child> {
    // Everything below is allocated and computed before fork.
    let argv = null_terminated(&cmd.argv);
    let pass_fds: Vec<RawFd> = cmd.pass_fds.iter().map(AsRawFd::as_raw_fd).collect();
    // `NAME=` followed by room for a PID's digits and the NUL, for each
    // variable: the child fills them in. Allocated here and not moved until
    // the clone has returned.
    let mut pid_entries: Vec<Vec<u8>> = cmd
        .pid_env
        .iter()
        .map(|name| {
            let mut buf = name.as_bytes().to_vec();
            buf.push(b'=');
            buf.resize(buf.len() + PID_DIGITS + 1, 0);
            buf
        })
        .collect();
    let mut envp: Vec<*const c_char> = cmd.envp.iter().map(|s| s.as_ptr()).collect();
    let mut pid_digits: Vec<(*mut u8, usize)> = Vec::with_capacity(pid_entries.len());
    for (buf, name) in pid_entries.iter_mut().zip(&cmd.pid_env) {
        let name_len = name.as_bytes().len() + 1;
        envp.push(buf.as_ptr().cast::<c_char>());
        // SAFETY: `name_len` < `buf.len()` (PID_DIGITS + 1 bytes follow the name).
        let digits = unsafe { buf.as_mut_ptr().add(name_len) };
        pid_digits.push((digits, PID_DIGITS + 1));
    }
    envp.push(std::ptr::null());
    let groups: Option<Vec<Gid>> = match &cmd.groups {
        Some(list) => Some(
            list.iter()
                .map(|&g| checked_id(g).map(Gid::from_raw))
                .collect::<io::Result<_>>()?,
        ),
        None => None,
    };
    let rlimits: Vec<(Resource, rustix::process::Rlimit)> = cmd
        .rlimits
        .iter()
        .map(|l| {
            (
                l.resource.to_rustix(),
                rustix::process::Rlimit {
                    current: l.soft,
                    maximum: l.hard,
                },
            )
        })
        .collect();
    // The child shares the manager's descriptor table (CLONE_FILES) and its
    // first act is to unshare it keeping only the low descriptors, so neither
    // the clone nor the exec copies or closes the manager's thousands of pipes.
    // What the child needs is therefore staged first into slots kept low.
    let mut staging = STAGING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if staging.is_none() {
        *staging = Some(Staging::reserve()?);
    }
    let Some(stage_slots) = staging.as_mut() else {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    };
    let mut stdio: [Option<RawFd>; 3] = [None; 3];
    let null = stage_slots.null.as_raw_fd();
    for (i, source) in cmd.stdio.iter().enumerate() {
        let (Some(slot), Some(target)) = (stage_slots.slots.get_mut(i), stdio.get_mut(i)) else {
            continue;
        };
        match source {
            ChildFd::Inherit => {}
            ChildFd::Null => *target = Some(null),
            ChildFd::Fd(fd) => {
                rustix::io::dup3(fd, slot, rustix::io::DupFlags::CLOEXEC)?;
                *target = Some(slot.as_raw_fd());
            }
        }
    }
    let highest_passed = pass_fds.iter().copied().max().unwrap_or(0);
    let keep_below = stage_slots
        .keep_below
        .max(u32::try_from(highest_passed).unwrap_or(0).saturating_add(1));
    // Read only when a capability setting needs it (64 prctl calls).
    let manager_bounding = if cmd.ambient_capabilities != 0 || cmd.bounding_set.is_some() {
        bounding_set()
    } else {
        0
    };
    let plan = Plan {
        path: &cmd.path,
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        pid_digits: &pid_digits,
        stdio,
        keep_below,
        pass_fds: &pass_fds,
        rlimits: &rlimits,
        umask: cmd.umask.map(Mode::from_raw_mode),
        cwd: cmd
            .cwd
            .as_ref()
            .map(|(dir, optional)| (dir.as_c_str(), *optional)),
        groups: groups.as_deref(),
        gid: cmd.gid.map(checked_id).transpose()?.map(Gid::from_raw),
        uid: cmd.uid.map(checked_id).transpose()?.map(Uid::from_raw),
        controlling_tty: cmd.controlling_tty,
        chown_terminal: cmd.chown_terminal,
        nice: cmd.nice,
        ioprio: cmd
            .ioprio
            .map(|(class, prio)| (i32::from(class) << 13) | i32::from(prio)),
        sched: cmd.sched.map(|(policy, priority)| {
            (
                policy,
                libc::sched_param {
                    sched_priority: priority,
                },
            )
        }),
        oom_score_adj: cmd.oom_score_adj.map(decimal),
        sigpipe_ignore: cmd.ignore_sigpipe.then(ignore_action),
        ambient: cmd.ambient_capabilities & cmd.bounding_set.unwrap_or(!0) & manager_bounding,
        bounding_drop: cmd.bounding_set.map_or(0, |keep| manager_bounding & !keep),
        max_signal: libc::SIGRTMAX(),
        not_default: crate::signal::non_default_dispositions(libc::SIGRTMAX()),
        failed_stage: AtomicU8::new(0),
        failed_errno: AtomicI32::new(0),
        failed_index: AtomicU8::new(0),
    };

    // The child runs on a stack of its own while sharing the manager's memory
    // (CLONE_VM) and the manager waits until it has exec'd or exited
    // (CLONE_VFORK), as glibc's posix_spawn does: no page tables are copied,
    // which fork would do for every service. Every signal is blocked around the
    // clone so nothing can run a handler on the shared memory before the child
    // has reset its dispositions; the child then sets its own empty mask.
    let mut flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_FILES | libc::SIGCHLD;
    let ptid = match cmd.record_pid {
        Some(cell) => {
            flags |= libc::CLONE_PARENT_SETTID;
            cell.as_ptr()
        }
        None => std::ptr::null_mut(),
    };
    let top = stage_slots.stack.as_mut_ptr_range().end;
    let top = top.wrapping_sub(top as usize % 16);
    let all: u64 = !0;
    let mut old: u64 = 0;
    // SAFETY: both pointers are kernel sigsets of KERNEL_SIGSET_SIZE bytes owned
    // by this frame.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &all as *const u64,
            &mut old as *mut u64,
            KERNEL_SIGSET_SIZE,
        )
    };
    // SAFETY: `child_entry` runs on `stack`, which stays allocated until clone
    // returns (CLONE_VFORK suspends this thread until the child has exec'd or
    // exited), and only reads `plan`, which outlives that too. The child makes only
    // async-signal-safe system calls, allocates nothing, takes no lock, and leaves
    // through execve or _exit without returning or unwinding; signals cannot be
    // delivered to it before it resets their dispositions (all are blocked above).
    // `ptid`, when not null, is a 'static atomic the kernel writes 4 bytes to.
    let pid = unsafe {
        libc::clone(
            child_entry,
            top.cast::<libc::c_void>(),
            flags,
            (&plan as *const Plan<'_>).cast_mut().cast::<libc::c_void>(),
            ptid,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::pid_t>(),
        )
    };
    let clone_error = io::Error::last_os_error();
    // SAFETY: restores the mask saved above; `old` is a kernel sigset.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &old as *const u64,
            std::ptr::null_mut::<u64>(),
            KERNEL_SIGSET_SIZE,
        )
    };
    // The slots let go of the child's stdio (a log pipe must see EOF when its
    // last writer ends).
    stage_slots.clear();
    drop(staging);
    if pid < 0 {
        return Err(clone_error);
    }
    let exec = match plan.failed_stage.load(Ordering::SeqCst) {
        0 => ExecStatus::Succeeded,
        stage if stage == Stage::Rlimit as u8 + 1 => ExecStatus::Failed {
            stage: cmd
                .rlimits
                .get(usize::from(plan.failed_index.load(Ordering::SeqCst)))
                .map_or("rlimit", |l| l.resource.stage_name()),
            errno: plan.failed_errno.load(Ordering::SeqCst),
        },
        stage => ExecStatus::Failed {
            stage: STAGE_NAMES
                .get(usize::from(stage - 1))
                .copied()
                .unwrap_or("unknown"),
            errno: plan.failed_errno.load(Ordering::SeqCst),
        },
    };
    Ok(Child {
        pid: pid.unsigned_abs(),
        exec,
    })
}

/// Three descriptors kept low in the table (placeholders on /dev/null when idle)
/// into which each spawn stages the child's stdio, so that the child can drop
/// everything from `keep_below` up when it unshares the table.
struct Staging {
    slots: [OwnedFd; 3],
    null: OwnedFd,
    keep_below: u32,
    /// The child's stack, allocated once (spawns are serialised by the lock).
    stack: Box<[u8]>,
}

impl Staging {
    fn reserve() -> io::Result<Staging> {
        let open = || {
            rustix::fs::open(
                "/dev/null",
                rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
        };
        let slots = [open()?, open()?, open()?];
        let null = open()?;
        let highest = slots
            .iter()
            .chain(std::iter::once(&null))
            .map(|s| s.as_raw_fd())
            .max()
            .unwrap_or(2);
        Ok(Staging {
            keep_below: u32::try_from(highest).unwrap_or(u32::MAX).saturating_add(1),
            slots,
            null,
            stack: vec![0u8; CHILD_STACK].into_boxed_slice(),
        })
    }

    /// Points every slot back at /dev/null.
    fn clear(&mut self) {
        for slot in &mut self.slots {
            let _ = rustix::io::dup3(&self.null, slot, rustix::io::DupFlags::CLOEXEC);
        }
    }
}

/// The staging slots, reserved at the first spawn (or by [`reserve_spawn_slots`]),
/// and the lock that keeps two threads from staging at once.
static STAGING: Mutex<Option<Staging>> = Mutex::new(None);

/// Reserves the staging descriptors now. A manager calls this first thing, so
/// they get the lowest numbers and its children keep the fewest descriptors.
pub fn reserve_spawn_slots() -> io::Result<()> {
    let mut staging = STAGING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if staging.is_none() {
        *staging = Some(Staging::reserve()?);
    }
    Ok(())
}

/// The child's stack: the setup before exec needs little (no allocation, a
/// handful of system calls).
const CHILD_STACK: usize = 64 * 1024;

/// The entry point clone runs in the child.
extern "C" fn child_entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `&Plan` that `spawn` passed to clone; the parent is
    // suspended (CLONE_VFORK) and keeps it alive until this child execs or exits.
    let plan = unsafe { &*(arg.cast_const().cast::<Plan<'_>>()) };
    child(plan)
}

/// The child between clone and exec. Never returns.
fn child(plan: &Plan<'_>) -> ! {
    let (stage, errno) = child_setup(plan);
    // The manager is suspended until this child exits, and reads these after.
    plan.failed_errno.store(errno, Ordering::SeqCst);
    plan.failed_stage.store(stage as u8 + 1, Ordering::SeqCst);
    // SAFETY: _exit ends the child at once, without atexit handlers or stdio
    // flushes that belong to the parent's state.
    unsafe { libc::_exit(127) }
}

/// In a child before exec (async-signal-safe, no allocation): the signals
/// up to `max_signal` at their default action (of those up to 64, only the
/// ones `not_default` marks) and none blocked. False when the mask could not
/// be set (errno says why).
pub(crate) fn default_signals(max_signal: i32, not_default: u64) -> bool {
    // Raw rt_sigaction/rt_sigprocmask rather than libc's wrappers: glibc refuses to
    // touch the signals it reserves (32, 33), yet an ignored disposition on them is
    // inherited across exec like any other.
    let default_action = [0u64; 4];
    for sig in 1..=max_signal {
        if sig == libc::SIGKILL
            || sig == libc::SIGSTOP
            || (sig <= 64 && not_default & (1 << (sig - 1)) == 0)
        {
            continue;
        }
        // SAFETY: `default_action` is an all-zero kernel `struct sigaction` (SIG_DFL,
        // no flags, empty mask), at least as large as the kernel reads on every
        // architecture; the old action is not asked for. Errors are ignored on purpose.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                default_action.as_ptr(),
                std::ptr::null_mut::<u64>(),
                KERNEL_SIGSET_SIZE,
            )
        };
    }
    let empty_mask = 0u64;
    // SAFETY: `empty_mask` is a kernel sigset (64 bits, all clear); the old mask is
    // not asked for.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty_mask as *const u64,
            std::ptr::null_mut::<u64>(),
            KERNEL_SIGSET_SIZE,
        )
    };
    rc == 0
}

/// Size of the kernel's sigset_t (64 signals) as rt_sigaction/rt_sigprocmask want it.
const KERNEL_SIGSET_SIZE: usize = 8;

fn last_errno() -> i32 {
    // Reads errno; io::Error's Os variant holds only the number, nothing allocates.
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `wanted`, with both limits capped at the current hard limit of `resource`.
fn closest(resource: Resource, wanted: rustix::process::Rlimit) -> rustix::process::Rlimit {
    let hard = rustix::process::getrlimit(resource).maximum;
    let cap = |v: Option<u64>| match (v, hard) {
        (_, None) => v,
        (None, Some(h)) => Some(h),
        (Some(v), Some(h)) => Some(v.min(h)),
    };
    rustix::process::Rlimit {
        current: cap(wanted.current),
        maximum: cap(wanted.maximum),
    }
}

/// The child's steps; returns only on failure, with the failing stage and errno.
fn child_setup(plan: &Plan<'_>) -> (Stage, i32) {
    // First of all a descriptor table of its own, with only the low descriptors:
    // until then every change here would be the manager's too. Kernels before
    // 5.9 lack close_range: unshare() copies the whole table instead.
    // SAFETY: plain integers; close_range only acts on this (child) process.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            plan.keep_below,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_UNSHARE,
        )
    };
    if rc != 0 {
        // SAFETY: unshare(CLONE_FILES) only gives this process a private copy of
        // its descriptor table.
        if unsafe { libc::unshare(libc::CLONE_FILES) } != 0 {
            return (Stage::Files, last_errno());
        }
    }
    if !default_signals(plan.max_signal, plan.not_default) {
        return (Stage::Sigmask, last_errno());
    }
    if let Some(action) = &plan.sigpipe_ignore {
        // SAFETY: `action` is a complete `struct sigaction` built before the
        // clone; sigaction is async-signal-safe and changes only this process.
        if unsafe { libc::sigaction(libc::SIGPIPE, action, std::ptr::null_mut()) } != 0 {
            return (Stage::Sigmask, last_errno());
        }
    }
    // SAFETY: close_range only sets flags on descriptors of this (child) process; it
    // takes plain integers. Older kernels answer ENOSYS/EINVAL, ignored: the
    // manager's descriptors are close-on-exec already.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };

    if let Err(e) = rustix::process::setsid() {
        return (Stage::Setsid, e.raw_os_error());
    }

    for (target, source) in (0..).zip(plan.stdio.iter()) {
        let result = match source {
            Some(raw) => {
                // SAFETY: `raw` is a staging slot the manager filled before the
                // clone and holds open until the clone returns; the borrow ends
                // with this call.
                let fd = unsafe { BorrowedFd::borrow_raw(*raw) };
                match target {
                    0 => rustix::stdio::dup2_stdin(fd),
                    1 => rustix::stdio::dup2_stdout(fd),
                    _ => rustix::stdio::dup2_stderr(fd),
                }
            }
            None => {
                inherit_stdio(target);
                Ok(())
            }
        };
        if let Err(e) = result {
            return (Stage::Dup2, e.raw_os_error());
        }
    }

    if let Err(errno) = install_passed_fds(plan) {
        return (Stage::Dup2, errno);
    }

    if let Some(mode) = plan.controlling_tty {
        let force: libc::c_int = (mode == ControllingTty::Force).into();
        // SAFETY: TIOCSCTTY takes an int argument by value and acts on fd 0 of
        // this process, which is the terminal installed above.
        let rc = unsafe { libc::ioctl(0, libc::TIOCSCTTY, force) };
        if rc != 0 && mode != ControllingTty::Try {
            return (Stage::Tty, last_errno());
        }
    }
    if let Some(uid) = plan.uid.filter(|_| plan.chown_terminal)
        && stdin_is_terminal()
    {
        // SAFETY: fd 0 is open (installed above) and stays open for this call.
        let stdin = unsafe { BorrowedFd::borrow_raw(0) };
        // The owner first: a chown may clear mode bits, the chmod then sets
        // exactly 0620 (the owner reads and writes, the group, tty, may write).
        let handed = rustix::fs::fchown(stdin, Some(uid), None)
            .and_then(|()| rustix::fs::fchmod(stdin, Mode::from_raw_mode(0o620)));
        if let Err(e) = handed {
            return (Stage::TtyOwner, e.raw_os_error());
        }
    }

    for (index, (resource, limit)) in plan.rlimits.iter().enumerate() {
        let mut result = rustix::process::setrlimit(*resource, *limit);
        if result == Err(rustix::io::Errno::PERM) {
            // Raising a hard limit needs CAP_SYS_RESOURCE, which a container's root
            // may lack: as systemd does, settle for the closest limits allowed,
            // both capped at the current hard limit.
            result = rustix::process::setrlimit(*resource, closest(*resource, *limit));
        }
        if let Err(e) = result {
            plan.failed_index
                .store(u8::try_from(index).unwrap_or(u8::MAX), Ordering::SeqCst);
            return (Stage::Rlimit, e.raw_os_error());
        }
    }

    // Raising priorities and lowering the OOM score need privileges: all of
    // this comes before the ids are dropped.
    if let Some(nice) = plan.nice
        && let Err(e) = rustix::process::setpriority_process(None, nice)
    {
        return (Stage::Nice, e.raw_os_error());
    }
    if let Some(prio) = plan.ioprio {
        const IOPRIO_WHO_PROCESS: libc::c_int = 1;
        // SAFETY: ioprio_set takes three integers and changes only this process
        // (who = IOPRIO_WHO_PROCESS, id 0 = the caller).
        let rc = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, prio) };
        if rc != 0 {
            return (Stage::Ioprio, last_errno());
        }
    }
    if let Some((policy, param)) = &plan.sched {
        // SAFETY: `param` is a `struct sched_param` that lives in the plan; the
        // raw system call changes only this process (pid 0).
        let rc = unsafe {
            libc::syscall(
                libc::SYS_sched_setscheduler,
                0,
                *policy,
                param as *const libc::sched_param,
            )
        };
        if rc != 0 {
            return (Stage::Sched, last_errno());
        }
    }
    if let Some((text, len)) = &plan.oom_score_adj {
        let written = rustix::fs::open(
            c"/proc/self/oom_score_adj",
            rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC,
            Mode::empty(),
        )
        .and_then(|fd| rustix::io::write(&fd, text.get(..*len).unwrap_or(&[])));
        match written {
            // Lowering the score needs CAP_SYS_RESOURCE: without it (a container),
            // systemd goes on with the inherited score, and so does vigil.
            Err(rustix::io::Errno::ACCESS | rustix::io::Errno::PERM) | Ok(_) => {}
            Err(e) => return (Stage::OomScoreAdjust, e.raw_os_error()),
        }
    }

    if let Some(mask) = plan.umask {
        rustix::process::umask(mask);
    }

    for bit in (0..64u32).filter(|bit| plan.bounding_drop & (1u64 << bit) != 0) {
        // SAFETY: PR_CAPBSET_DROP takes integers and changes only this thread.
        let rc = unsafe {
            libc::prctl(
                libc::PR_CAPBSET_DROP,
                libc::c_ulong::from(bit),
                NO_ARG,
                NO_ARG,
                NO_ARG,
            )
        };
        if rc != 0 {
            return (Stage::BoundingSet, last_errno());
        }
    }

    // The set*id calls go straight to the kernel and change only the calling thread;
    // the child has exactly one thread, so that is the whole process.
    if let Some(groups) = plan.groups
        && let Err(e) = rustix::thread::set_thread_groups(groups)
    {
        return (Stage::Setgroups, e.raw_os_error());
    }
    if let Some(gid) = plan.gid
        && let Err(e) = rustix::thread::set_thread_res_gid(gid, gid, gid)
    {
        return (Stage::Setgid, e.raw_os_error());
    }
    // Leaving root clears every capability, the ambient ones included; with
    // keep-caps the permitted set survives it (the flag ends at exec), and the
    // ambient set is raised from it after.
    let leaves_root = plan.ambient != 0 && plan.uid.is_some_and(|uid| !uid.is_root());
    if leaves_root {
        // SAFETY: PR_SET_KEEPCAPS takes integers and changes only this thread,
        // which is the whole child.
        if unsafe {
            libc::prctl(
                libc::PR_SET_KEEPCAPS,
                1 as libc::c_ulong,
                NO_ARG,
                NO_ARG,
                NO_ARG,
            )
        } != 0
        {
            return (Stage::Capabilities, last_errno());
        }
    }
    if let Some(uid) = plan.uid
        && let Err(e) = rustix::thread::set_thread_res_uid(uid, uid, uid)
    {
        return (Stage::Setuid, e.raw_os_error());
    }
    // The working directory is entered as the service's user, as systemd does
    // (it may be on NFS, where only that user may enter it; one the user cannot
    // enter fails here instead of being entered by root). A command that keeps
    // the manager's privileges (no uid above) enters it as the manager.
    if let Some((dir, optional)) = plan.cwd
        && let Err(e) = rustix::process::chdir(dir)
        && !optional
    {
        return (Stage::Chdir, e.raw_os_error());
    }

    if (plan.ambient != 0 || plan.bounding_drop != 0)
        && let Err(errno) = set_capabilities(plan.ambient, plan.bounding_drop, leaves_root)
    {
        return (Stage::Capabilities, errno);
    }

    for &(digits, room) in plan.pid_digits {
        // SAFETY: `digits` points to `room` bytes inside `pid_entry` of `spawn`,
        // which stays allocated and unmoved until the clone returns, and which
        // nothing else touches meanwhile (the parent thread is suspended by
        // CLONE_VFORK).
        let out = unsafe { std::slice::from_raw_parts_mut(digits, room) };
        write_pid(
            rustix::process::getpid()
                .as_raw_nonzero()
                .get()
                .unsigned_abs(),
            out,
        );
    }

    // SAFETY: `path` is a NUL-terminated string; `argv` and `envp` point to
    // null-terminated arrays of pointers to NUL-terminated strings, all allocated
    // before fork and alive until execve replaces this image.
    unsafe { libc::execve(plan.path.as_ptr(), plan.argv, plan.envp) };
    (Stage::Exec, last_errno())
}

/// Whether fd 0 is a terminal (what isatty asks, with the raw ioctl):
/// async-signal-safe, and nothing is allocated.
fn stdin_is_terminal() -> bool {
    let mut termios = std::mem::MaybeUninit::<libc::termios>::uninit();
    // SAFETY: TCGETS writes at most one `struct termios` through the pointer,
    // which points to one on this stack frame; fd 0 is only read.
    unsafe { libc::ioctl(0, libc::TCGETS, termios.as_mut_ptr()) == 0 }
}

/// Socket activation in the child: the passed descriptors become 3, 4, ...
/// (without close-on-exec).
/// Everything from `keep_below` up was closed when the table was unshared, so
/// the passed descriptors are first copied there (above every source and
/// every target), then onto their places.
fn install_passed_fds(plan: &Plan<'_>) -> Result<(), i32> {
    let n = plan.pass_fds.len();
    if n == 0 {
        return Ok(());
    }
    let base = plan.keep_below.max(3 + n as u32) as RawFd;
    for (i, &raw) in (0..).zip(plan.pass_fds) {
        // SAFETY: plain integers; dup3 only changes this child's own table.
        // `raw` is open here (below `keep_below`, held by the manager until
        // the clone returns); `base + i` is free, since everything from
        // `keep_below` up was closed. The copy is closed at exec.
        if unsafe { libc::dup3(raw, base + i, libc::O_CLOEXEC) } < 0 {
            return Err(last_errno());
        }
    }
    for i in (0..).take(n) {
        // SAFETY: as above. Whatever 3 + i held in this child (a staging
        // slot already installed as stdio, or a manager descriptor that exec
        // would close) is replaced, as intended.
        if unsafe { libc::dup3(base + i, 3 + i, 0) } < 0 {
            return Err(last_errno());
        }
    }
    Ok(())
}

/// `struct __user_cap_header_struct` of capget/capset.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`: one 32-bit half of each set.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// An unused prctl argument: prctl reads every argument as an unsigned long,
/// and PR_CAP_AMBIENT refuses nonzero ones, so a plain (32-bit) `0` would not do.
const NO_ARG: libc::c_ulong = 0;

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets as two halves.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// The manager's capability bounding set (which its children inherit), read
/// before fork; capabilities above the kernel's last one read as absent.
fn bounding_set() -> u64 {
    (0..64u32)
        .filter(|&bit| {
            // SAFETY: PR_CAPBSET_READ takes integers and only reads.
            unsafe {
                libc::prctl(
                    libc::PR_CAPBSET_READ,
                    libc::c_ulong::from(bit),
                    NO_ARG,
                    NO_ARG,
                    NO_ARG,
                ) == 1
            }
        })
        .fold(0, |set, bit| set | (1u64 << bit))
}

/// In the child, after the ids changed: puts `set` into the inheritable set
/// and takes `dropped` out of it (for a non-root user leaving root, makes `set`
/// the whole permitted, effective and inheritable sets; root keeps its own),
/// then raises each capability of `set` in the ambient set, which needs it
/// both permitted and inheritable. Returns the errno of the call that failed.
fn set_capabilities(set: u64, dropped: u64, only_these: bool) -> Result<(), i32> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    if !only_these {
        // SAFETY: `header` and the two-element `data` are what version 3 of
        // capget reads and writes; pid 0 is this thread.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_capget,
                &mut header as *mut CapHeader,
                data.as_mut_ptr(),
            )
        };
        if rc != 0 {
            return Err(last_errno());
        }
    }
    let halves = |v: u64| [(v & 0xffff_ffff) as u32, (v >> 32) as u32];
    for ((half, wanted), gone) in data.iter_mut().zip(halves(set)).zip(halves(dropped)) {
        if only_these {
            *half = CapData {
                effective: wanted,
                permitted: wanted,
                inheritable: wanted,
            };
        } else {
            half.inheritable = (half.inheritable & !gone) | wanted;
        }
    }
    // SAFETY: as for capget; capset only reads both and changes this thread.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) };
    if rc != 0 {
        return Err(last_errno());
    }
    for bit in (0..64u32).filter(|bit| set & (1u64 << bit) != 0) {
        // SAFETY: PR_CAP_AMBIENT takes integers and changes only this thread.
        let rc = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                libc::c_ulong::from(bit),
                NO_ARG,
                NO_ARG,
            )
        };
        if rc != 0 {
            return Err(last_errno());
        }
    }
    Ok(())
}

/// Room for a PID in decimal (`u32::MAX` has 10 digits).
const PID_DIGITS: usize = 10;

/// Writes `pid` in decimal into `out`, NUL-terminated; in the child, so no
/// allocation and nothing that can panic. `out` has PID_DIGITS + 1 bytes.
fn write_pid(pid: u32, out: &mut [u8]) {
    let mut digits = [0u8; PID_DIGITS];
    let mut n = pid;
    let mut len = 0;
    for slot in digits.iter_mut() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
        if n == 0 {
            break;
        }
    }
    let mut written = 0;
    for (dst, src) in out.iter_mut().zip(digits.iter().take(len).rev()) {
        *dst = *src;
        written += 1;
    }
    if let Some(end) = out.get_mut(written) {
        *end = 0;
    }
}

/// Keeps the manager's own descriptor `target` (0-2) open across exec.
fn inherit_stdio(target: RawFd) {
    // SAFETY: `target` is 0, 1 or 2, which this process owns by convention; the
    // borrow lives only for this call and nothing closes it. If it is not open,
    // fcntl fails with EBADF, which is ignored: there is nothing to pass on.
    let fd = unsafe { BorrowedFd::borrow_raw(target) };
    let _ = rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_table_matches_the_enum() {
        assert_eq!(STAGE_NAMES[Stage::Sigmask as usize], "sigmask");
        assert_eq!(STAGE_NAMES[Stage::Chdir as usize], "chdir");
        assert_eq!(STAGE_NAMES[Stage::Exec as usize], "exec");
        assert_eq!(STAGE_NAMES[Stage::Nice as usize], "nice (Nice=)");
        assert_eq!(STAGE_NAMES[Stage::TtyOwner as usize], "chown-tty (User=)");
        assert_eq!(
            STAGE_NAMES[Stage::OomScoreAdjust as usize],
            "oom-score-adjust (OOMScoreAdjust=)"
        );
        assert_eq!(STAGE_NAMES.len(), Stage::Exec as usize + 1);
    }

    #[test]
    fn child_fds_are_renumbered_above_stdio() {
        let ChildFd::Fd(fd) = ChildFd::dup(rustix::stdio::stdin()).unwrap() else {
            panic!("not an fd");
        };
        assert!(std::os::fd::AsRawFd::as_raw_fd(&fd) > 2);
        assert!(crate::pipe::is_cloexec(&fd).unwrap());
    }

    #[test]
    fn reserved_ids_are_refused_before_fork() {
        let mut cmd = PreparedCommand::new(c"/bin/true".into(), vec![c"true".into()], vec![]);
        cmd.uid(u32::MAX);
        assert_eq!(spawn(&cmd).unwrap_err().raw_os_error(), Some(libc::EINVAL));
    }
}

#[cfg(test)]
mod pid_tests {
    use super::write_pid;

    #[test]
    fn write_pid_is_decimal_and_nul_terminated() {
        for (pid, text) in [
            (1u32, "1"),
            (42, "42"),
            (4_194_304, "4194304"),
            (u32::MAX, "4294967295"),
        ] {
            let mut out = [0xffu8; 11];
            write_pid(pid, &mut out);
            let end = out.iter().position(|&b| b == 0).unwrap();
            assert_eq!(&out[..end], text.as_bytes());
        }
    }
}
