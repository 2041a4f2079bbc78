//! The system calls rustix does not offer, and the only `unsafe` in vigil-init: the signal
//! mask, signalfd, fork and execve, and kill(-1). Everything a child needs between fork and
//! exec is prepared before the fork, so the child allocates nothing and takes no lock.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr;

use rustix::fs::{Mode, OFlags};
use rustix::process::Pid;

/// Blocks every signal and returns a signalfd that reports them all. Blocked signals are
/// never discarded, not even for PID 1, which is how PID 1 gets to see them at all.
pub fn block_signals() -> io::Result<OwnedFd> {
    // SAFETY: `set` is a plain C struct that sigfillset fully initialises before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable sigset_t.
    unsafe { libc::sigfillset(&mut set) };
    // SAFETY: `set` is initialised; the old mask is not asked for (null).
    let rc = unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: -1 asks for a new descriptor; `set` is initialised.
    let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: signalfd just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Size of one `struct signalfd_siginfo`.
pub const SIGINFO_SIZE: usize = 128;

/// Sends `sig` to every process but ourselves (kill(-1)). Only a PID 1 may do this: any
/// other process would hit everything its user owns outside its own tree.
pub fn kill_all(sig: i32) {
    // SAFETY: kill has no memory arguments.
    unsafe { libc::kill(-1, sig) };
}

/// A program to start, with every C string and pointer array made before the fork.
#[derive(Debug)]
pub struct Exec {
    path: CString,
    _strings: Vec<CString>,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
}

impl Exec {
    pub fn new(path: CString, argv: Vec<CString>, env: Vec<CString>) -> Exec {
        let pointers = |list: &[CString]| {
            let mut v: Vec<*const c_char> = list.iter().map(|s| s.as_ptr()).collect();
            v.push(ptr::null());
            v
        };
        let argv_ptrs = pointers(&argv);
        let envp_ptrs = pointers(&env);
        let mut strings = argv;
        strings.extend(env);
        // Moving the CStrings into `_strings` moves their handles, not their heap bytes,
        // so the pointers above stay valid for as long as this Exec lives.
        Exec {
            path,
            _strings: strings,
            argv: argv_ptrs,
            envp: envp_ptrs,
        }
    }

    pub fn path(&self) -> &CStr {
        &self.path
    }
}

/// How the child is set up before it runs its program.
#[derive(Debug, Clone, Copy)]
pub enum Setup<'a> {
    /// The manager: this end of the init channel becomes its fd 3.
    Manager { channel: BorrowedFd<'a> },
    /// The emergency shell: on /dev/console when `console`, else on our own stdio.
    Shell { console: bool },
}

/// Forks and runs `exec` in the child, in a new session with every signal unblocked.
pub fn spawn(exec: &Exec, setup: Setup<'_>) -> io::Result<Pid> {
    // SAFETY: vigil-init has a single thread, so the child inherits no lock held by another
    // thread; the child only makes async-signal-safe system calls on memory prepared before
    // the fork and leaves by execve or _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        child(exec, setup);
    }
    Pid::from_raw(pid).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))
}

fn child(exec: &Exec, setup: Setup<'_>) -> ! {
    // SAFETY: every call below is async-signal-safe and takes either no pointer or a
    // pointer to memory that was initialised before the fork (`set`, the Exec's arrays).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, ptr::null_mut());
        // The Rust runtime ignores SIGPIPE, and an ignored signal stays ignored across exec.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::setsid();
        match setup {
            Setup::Manager { channel } => {
                let fd = channel.as_raw_fd();
                if fd == 3 {
                    libc::fcntl(3, libc::F_SETFD, 0);
                } else if libc::dup2(fd, 3) < 0 {
                    libc::_exit(127);
                }
            }
            Setup::Shell { console } => {
                if console {
                    let flags = OFlags::RDWR | OFlags::NOCTTY;
                    if let Ok(fd) = rustix::fs::open(c"/dev/console", flags, Mode::empty()) {
                        for target in 0..3 {
                            libc::dup2(fd.as_raw_fd(), target);
                        }
                    }
                }
                // The shell leads its own session; the terminal becomes its controlling
                // one so that job control and ^C work (refused when stdin is no terminal).
                libc::ioctl(0, libc::TIOCSCTTY, 0);
            }
        }
        libc::execve(exec.path.as_ptr(), exec.argv.as_ptr(), exec.envp.as_ptr());
        libc::_exit(127)
    }
}
