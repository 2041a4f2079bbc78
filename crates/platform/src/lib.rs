//! The platform layer: every raw syscall and every `unsafe` block of vigil.
//!
//! The other crates are `unsafe_code = "deny"`; whatever they need from the kernel
//! comes through the small, typed wrappers here (epoll, signalfd, timerfd, pidfd,
//! unix sockets, pipes, and the fork/exec of a service). Most wrappers sit on rustix;
//! libc is used only for what rustix does not offer (signalfd, sigaction, fork,
//! execve).
//!
//! Descriptor rules, which the whole manager relies on:
//! - every descriptor created here is close-on-exec, and is wrapped into an
//!   [`OwnedFd`](std::os::fd::OwnedFd) on the line that creates it, so a spawned
//!   service inherits nothing but the stdio it was given;
//! - fds 0, 1 and 2 are only ever borrowed, never owned (dropping an `OwnedFd` of
//!   the manager's stderr would close it).
//!
//! This crate never decides policy: it does not know about units, it does not log,
//! and it never panics on what the kernel returns.
#![allow(unsafe_code)]

pub mod channel;
pub mod dir;
pub mod epoll;
pub mod errno;
pub mod exec;
pub mod listen;
pub mod memory;
pub mod pipe;
pub mod process;
pub mod signal;
pub mod socket;
pub mod spawn_pids;
pub mod swap;
pub mod terminal;
pub mod time;
pub mod utmp;

pub use channel::InitChannel;
pub use epoll::{Epoll, Events, Interest, Readiness};
pub use errno::errno_name;
pub use exec::{
    Child, ChildFd, ControllingTty, ExecStatus, PreparedCommand, Rlimit, RlimitResource,
    STAGE_NAMES, exec_image, reserve_spawn_slots, spawn,
};
pub use memory::{adopt_fd, memfd, memfd_bounded, release_free_heap, set_cloexec};
pub use pipe::{
    bytes_waiting, log_pipe, pipe_cloexec, read_nonblocking, set_nonblocking, stderr_line,
    stdin_is_terminal_or_null, wait_writable, write_nonblocking,
};
pub use process::{
    ExitStatus, geteuid, getgid, getpgid, getpid, getppid, getuid, kill, kill_group, peek_any,
    pidfd_open, pidfd_send_signal, raise_nofile_limit, reap_any, set_child_subreaper,
};
pub use signal::{SigInfo, SignalFd, block_signals, ignore_signal, signal_from_name};
pub use socket::{
    Credentials, NotifySocket, Received, UnixListener, notify_barrier, notify_send, notify_send_as,
    peer_credentials, peer_groups,
};
pub use spawn_pids::SpawnPids;
pub use time::{TimerFd, boot_ticks, boottime_now, monotonic_now, realtime_now};

/// `O_NOCTTY` for `OpenOptionsExt::custom_flags`: its value differs between
/// architectures, so callers without libc take it from here.
pub const O_NOCTTY: i32 = libc::O_NOCTTY;
/// `O_NONBLOCK`, likewise.
pub const O_NONBLOCK: i32 = libc::O_NONBLOCK;
