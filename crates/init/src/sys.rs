//! The system calls rustix does not offer, and the only `unsafe` in vigil-init: the signal
//! mask, signalfd, fork and execve, and kill(-1). Everything a child needs between fork and
//! exec is prepared before the fork, so the child allocates nothing and takes no lock.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd as _, OwnedFd};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// The descriptor limit vigil-init was started with (soft, hard), given back to children.
static NOFILE: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// Raises our own descriptor limit to at least `want` (the fd store holds many); the
/// children get the limit we were started with back.
pub fn raise_fd_limit(want: u64) {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `old` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) } != 0 {
        return;
    }
    NOFILE[0].store(old.rlim_cur, Ordering::Relaxed);
    NOFILE[1].store(old.rlim_max, Ordering::Relaxed);
    let new = libc::rlimit {
        rlim_cur: old.rlim_cur.max(want),
        rlim_max: old.rlim_max.max(want),
    };
    // SAFETY: `new` is an initialised rlimit. Failing (not privileged) leaves the old one.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } != 0 {
        let soft = libc::rlimit {
            rlim_cur: old.rlim_max.min(want.max(old.rlim_cur)),
            rlim_max: old.rlim_max,
        };
        // SAFETY: as above; within the hard limit, which needs no privilege.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &soft) };
    }
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
        let nofile = libc::rlimit {
            rlim_cur: NOFILE[0].load(Ordering::Relaxed),
            rlim_max: NOFILE[1].load(Ordering::Relaxed),
        };
        if nofile.rlim_max > 0 {
            libc::setrlimit(libc::RLIMIT_NOFILE, &nofile);
        }
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

/// The fd store's descriptors and names, dense (slots `0..len` are used). The arrays are
/// zeroed at start, so the allocator takes them from calloc/mmap and a slot costs memory
/// only once it was used; a descriptor is kept by number, as an `Option<OwnedFd>` would
/// write -1 into every slot.
#[derive(Debug)]
pub struct FdStore {
    fds: Vec<i32>,
    names: Vec<[u8; NAME_MAX]>,
    lens: Vec<u8>,
    len: usize,
}

/// Longest fd store name, in bytes.
pub const NAME_MAX: usize = 64;

impl FdStore {
    pub fn new(capacity: usize) -> FdStore {
        FdStore {
            fds: vec![0; capacity],
            names: vec![[0; NAME_MAX]; capacity],
            lens: vec![0; capacity],
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Keeps `fd` under `name` (at most NAME_MAX bytes); hands it back when full.
    pub fn push(&mut self, name: &[u8], fd: OwnedFd) -> Result<(), OwnedFd> {
        let at = self.len;
        let (Some(slot), Some(dst), Some(len), Ok(n)) = (
            self.fds.get_mut(at),
            self.names.get_mut(at),
            self.lens.get_mut(at),
            u8::try_from(name.len()),
        ) else {
            return Err(fd);
        };
        let Some(dst) = dst.get_mut(..name.len()) else {
            return Err(fd);
        };
        dst.copy_from_slice(name);
        *len = n;
        *slot = fd.into_raw_fd();
        self.len = at.saturating_add(1);
        Ok(())
    }

    /// The descriptor at `at` and its name.
    pub fn get(&self, at: usize) -> Option<(&[u8], BorrowedFd<'_>)> {
        let raw = *self.fds.get(at).filter(|_| at < self.len)?;
        let len = usize::from(*self.lens.get(at)?);
        let name = self.names.get(at)?.get(..len)?;
        // SAFETY: slots below `len` hold descriptors this store owns; they are closed only
        // by `remove` and `clear`, which need `&mut self`, so not while this borrow lives.
        Some((name, unsafe { BorrowedFd::borrow_raw(raw) }))
    }

    /// Closes every descriptor stored under `name`; the last slot fills each hole.
    pub fn remove(&mut self, name: &[u8]) {
        let mut at = 0;
        while at < self.len {
            if self.get(at).is_some_and(|(n, _)| n == name) {
                self.close(at);
            } else {
                at = at.saturating_add(1);
            }
        }
    }

    pub fn clear(&mut self) {
        while self.len > 0 {
            self.close(self.len.saturating_sub(1));
        }
    }

    /// Closes the descriptor at `at` and moves the last slot into its place.
    fn close(&mut self, at: usize) {
        let last = self.len.saturating_sub(1);
        if let Some(&raw) = self.fds.get(at) {
            // SAFETY: the slot holds a descriptor this store owns; it is forgotten below.
            drop(unsafe { OwnedFd::from_raw_fd(raw) });
        }
        self.fds.swap(at, last);
        self.names.swap(at, last);
        self.lens.swap(at, last);
        self.len = last;
    }
}
