//! Every `unsafe` of vigil-init: the system calls rustix does not offer a program (fork,
//! execve, exit_group, the signal mask, signalfd; x86-64 only), what rustix leaves unsafe
//! (mmap, descriptors by number), the kernel's argv and envp, and the entry point and
//! memory functions of the static build, which has no libc. A child made by `spawn` only
//! makes system calls on memory made before the fork, then execs.
#![allow(unsafe_code)]

use core::ffi::CStr;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use rustix::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::{self, Errno};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// One system call.
///
/// # Safety
/// The arguments must be what the kernel expects for `nr`, pointers valid for its access.
unsafe fn syscall(nr: usize, a: [usize; 4]) -> io::Result<usize> {
    let ret: isize;
    // SAFETY: the caller upholds the call's contract; `syscall` clobbers rcx and r11 only.
    unsafe {
        core::arch::asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a[0],
            in("rsi") a[1], in("rdx") a[2], in("r10") a[3], lateout("rcx") _,
            lateout("r11") _, options(nostack));
    }
    match ret {
        -4095..=-1 => Err(Errno::from_raw_os_error(-ret as i32)),
        n => Ok(n as usize),
    }
}

/// rt_sigprocmask(how, every signal or none, NULL, 8).
fn sigprocmask(how: usize, all: bool) -> io::Result<usize> {
    let set = if all { !0u64 } else { 0 };
    // SAFETY: the kernel reads 8 bytes at `set`.
    unsafe { syscall(14, [how, (&raw const set) as usize, 0, 8]) }
}

/// Blocks every signal (blocked signals are never discarded, not even for PID 1) and
/// returns a non-blocking signalfd for them all.
pub fn signalfd() -> io::Result<OwnedFd> {
    sigprocmask(0 /* SIG_BLOCK */, true)?;
    let all = !0u64;
    // SAFETY: signalfd4(-1, &all, 8, SFD_CLOEXEC | SFD_NONBLOCK) reads 8 bytes at `all`.
    let fd = unsafe { syscall(289, [usize::MAX, (&raw const all) as usize, 8, 0o2004000]) }?;
    // SAFETY: the kernel just made this descriptor for us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Undoes what whoever started us left: every signal back to its default action (one
/// left ignored is discarded before the signalfd sees it, SIGCHLD ignored even reaps our
/// children for us, and children would inherit it), and descriptors above 2
/// close-on-exec (the manager and the shell get 0-2, and the manager 3, only).
pub fn reset_inherited() {
    let default = [0u64; 4];
    for sig in (1..=64).filter(|&s| s != 9 && s != 19) {
        // SAFETY: rt_sigaction(sig, &default, NULL, 8): the kernel reads 32 bytes.
        let _ = unsafe { syscall(13, [sig, default.as_ptr() as usize, 0, 8]) };
    }
    // SAFETY: close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) takes numbers (Linux 5.11).
    let _ = unsafe { syscall(436, [3, u32::MAX as usize, 4, 0]) };
}

/// Monotonic milliseconds. Not rustix's: its vDSO lookup parses the auxiliary vector on
/// a path that may panic.
pub fn now_ms() -> u64 {
    let mut ts = [0u64; 2];
    // SAFETY: clock_gettime(CLOCK_MONOTONIC, &ts) writes 16 bytes at `ts`.
    let _ = unsafe { syscall(228, [1, ts.as_mut_ptr() as usize, 0, 0]) };
    ts[0].saturating_mul(1000).saturating_add(ts[1] / 1_000_000)
}

/// swapoff(2), which rustix does not offer.
pub fn swapoff(path: &CStr) -> io::Result<()> {
    // SAFETY: swapoff(path) reads the NUL-terminated string at `path`.
    unsafe { syscall(168, [path.as_ptr() as usize, 0, 0, 0]) }.map(|_| ())
}

pub fn exit(code: i32) -> ! {
    loop {
        // SAFETY: exit_group takes a number.
        let _ = unsafe { syscall(231, [code as usize, 0, 0, 0]) };
    }
}

/// A descriptor vigil-init keeps by number (0-2, the kernel log, the fd store's). A
/// closed number only makes the call fail with EBADF.
pub fn fd(raw: i32) -> BorrowedFd<'static> {
    // SAFETY: only used for system calls, never closed through this.
    unsafe { BorrowedFd::borrow_raw(raw) }
}

/// Closes a descriptor held by number; the caller forgets the number.
pub fn close(raw: i32) {
    // SAFETY: the caller owned `raw`.
    drop(unsafe { OwnedFd::from_raw_fd(raw) });
}

/// RLIMIT_NOFILE as we were started with it (soft, hard: children get it back), and our
/// own soft limit once raised.
static NOFILE: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

/// Raises our descriptor limits to at least `want`, as far as allowed.
pub fn raise_fd_limit(want: u64) {
    let old = getrlimit(Resource::Nofile);
    let (cur, max) = (
        old.current.unwrap_or(u64::MAX),
        old.maximum.unwrap_or(u64::MAX),
    );
    let _ = set_nofile(cur.max(want), max.max(want))
        .or_else(|_| set_nofile(max.min(cur.max(want)), max));
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    for (slot, value) in NOFILE.iter().zip([cur, max, now]) {
        slot.store(value, Relaxed);
    }
}

fn set_nofile(current: u64, maximum: u64) -> io::Result<()> {
    let limit = Rlimit {
        current: Some(current),
        maximum: Some(maximum),
    };
    setrlimit(Resource::Nofile, limit)
}

/// Our soft descriptor limit (u64::MAX before `raise_fd_limit`).
pub fn fd_limit() -> u64 {
    Some(NOFILE[2].load(Relaxed))
        .filter(|&n| n > 0)
        .unwrap_or(u64::MAX)
}

/// `n` zeroed values from mmap, for the life of the process; a page costs memory only
/// once written. At start only: the main loop allocates nothing.
pub fn zeroed<T: Zero>(n: usize) -> &'static mut [T] {
    use rustix::mm::{MapFlags, ProtFlags, mmap_anonymous};
    let rw = ProtFlags::READ | ProtFlags::WRITE;
    let bytes = n.saturating_mul(size_of::<T>());
    // SAFETY: a fresh private anonymous mapping, which nothing else refers to.
    match unsafe { mmap_anonymous(core::ptr::null_mut(), bytes, rw, MapFlags::PRIVATE) } {
        // SAFETY: `bytes` zeroed bytes, page-aligned, never unmapped; zero is a valid T.
        Ok(addr) => unsafe { core::slice::from_raw_parts_mut(addr.cast(), n) },
        Err(_) => &mut [],
    }
}

/// Types for which all-zero bytes are a valid value.
///
/// # Safety
/// Implement only for integers, null-able raw pointers, and arrays or tuples of them.
pub unsafe trait Zero {}
// SAFETY: integers and arrays or tuples of them (all three).
unsafe impl Zero for u8 {}
// SAFETY: see above.
unsafe impl Zero for (i32, i32) {}
// SAFETY: see above.
unsafe impl Zero for (i32, u8, [u8; 64]) {}
// SAFETY: all-zero is the null pointer, which is what an empty slot of argv or envp holds.
unsafe impl Zero for *const u8 {}

/// The `i`th string of a NULL-terminated array from the kernel (argv, envp), or None past
/// its end. Callers count up from 0 and stop at the first None.
pub fn nth(list: *const *const u8, i: usize) -> Option<&'static CStr> {
    // SAFETY: no entry before `i` was NULL, so `i` is within the array.
    let p = unsafe { *list.add(i) };
    // SAFETY: the kernel's strings are NUL-terminated and live as long as the process.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p.cast()) })
}

/// The kernel's argv or envp array as it is, with its NULL.
pub fn strings(list: *const *const u8) -> &'static [*const u8] {
    let n = (0..).take_while(|&i| nth(list, i).is_some()).count();
    // SAFETY: the kernel's array holds `n` strings and a NULL, for the process's life.
    unsafe { core::slice::from_raw_parts(list, n + 1) }
}

/// Room for a program's environment: a pod's services add several variables each. Mapped,
/// so that only the pages the variables fill cost memory.
pub const ENV: usize = 1024;

/// A program to start: its path, argv and envp as NULL-terminated pointer arrays.
#[derive(Debug)]
pub struct Exec {
    pub path: &'static CStr,
    pub argv: [*const u8; 96],
    pub envp: &'static [*const u8],
}

/// fork(2): 0 in the child, which may do what the parent could (one thread).
pub fn fork() -> io::Result<i32> {
    // SAFETY: clone(SIGCHLD), a fork; we are single-threaded (see the module's comment).
    unsafe { syscall(56, [17, 0, 0, 0]) }.map(|pid| pid as i32)
}

/// Forks and execs `exec` in a new session, with every signal unblocked and the
/// descriptor limit we were started with. `fd3`: the manager's end of the channel, its
/// fd 3 in the child. `console`: the emergency shell's stdio is /dev/console, opened in
/// the child (an open of a terminal may wait for its line, which PID 1 must not).
pub fn spawn(exec: &Exec, fd3: Option<BorrowedFd<'_>>, console: bool) -> io::Result<i32> {
    let pid = fork()?;
    if pid != 0 {
        return Ok(pid);
    }
    let _ = sigprocmask(2 /* SIG_SETMASK */, false);
    let _ = rustix::process::setsid();
    if let [cur, max, _] = NOFILE.each_ref().map(|n| n.load(Relaxed))
        && max > 0
    {
        let _ = set_nofile(cur, max);
    }
    if let Some(channel) = fd3 {
        // SAFETY: fd 3 of the child is ours to replace; it is never closed here.
        let mut three = core::mem::ManuallyDrop::new(unsafe { OwnedFd::from_raw_fd(3) });
        let _ = match channel.as_raw_fd() {
            3 => io::fcntl_setfd(channel, io::FdFlags::empty()),
            _ => io::dup2(channel, &mut three),
        };
    }
    let flags = OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC;
    if console && let Ok(tty) = rustix::fs::open(c"/dev/console", flags, Mode::empty()) {
        let _ = rustix::stdio::dup2_stdin(&tty);
        let _ = rustix::stdio::dup2_stdout(&tty);
        let _ = rustix::stdio::dup2_stderr(&tty);
    }
    if fd3.is_none() {
        // The shell's terminal becomes its controlling one, for job control and ^C
        // (refused when stdin is no terminal).
        let _ = rustix::process::ioctl_tiocsctty(fd(0));
    }
    // An environment whose mapping failed (or that ends without NULL) is none at all.
    let envp = Some(exec.envp).filter(|e| e.last().is_some_and(|p| p.is_null()));
    let _ = execve(exec.path, &exec.argv, envp.unwrap_or(&[core::ptr::null()]));
    exit(127)
}

/// execve(2); returns only when it failed. `argv` and `envp` end with NULL (else it fails
/// with EFAULT), their other entries point to NUL-terminated strings.
pub fn execve(path: &CStr, argv: &[*const u8], envp: &[*const u8]) -> Errno {
    if argv.last().is_none_or(|p| !p.is_null()) || envp.last().is_none_or(|p| !p.is_null()) {
        return Errno::FAULT;
    }
    let (path, argv, envp) = (path.as_ptr(), argv.as_ptr(), envp.as_ptr());
    // SAFETY: the arrays are NULL-terminated (checked) and point to C strings (the caller).
    match unsafe { syscall(59, [path as usize, argv as usize, envp as usize, 0]) } {
        Err(e) => e,
        Ok(_) => Errno::NOEXEC,
    }
}

// The static build's entry point: the kernel jumps to `_start` with argc, argv, NULL,
// envp, NULL on the stack. Other builds link glibc, whose start code calls `main`.
#[cfg(target_feature = "crt-static")]
core::arch::global_asm!(
    ".globl _start",
    "_start:",
    "xor ebp, ebp",
    "mov rdi, rsp",
    "and rsp, -16",
    "call vigil_init_start",
    "ud2"
);

#[cfg(target_feature = "crt-static")]
#[unsafe(no_mangle)]
extern "C" fn vigil_init_start(sp: *const usize) -> ! {
    // SAFETY: `sp` is the kernel's initial stack (see `_start`).
    let (argv, envp) = unsafe { (sp.add(1).cast(), sp.add(*sp + 2).cast()) };
    crate::run(argv, envp)
}

#[cfg(not(any(target_feature = "crt-static", test)))]
#[unsafe(no_mangle)]
extern "C" fn main(_argc: i32, argv: *const *const u8, envp: *const *const u8) -> i32 {
    crate::run(argv, envp)
}

// Without libc, the memory functions the compiler calls are ours. Their loads or stores
// are volatile, or LLVM turns the loops back into calls to themselves (the real-kernel
// boot test caught that: the other builds use glibc's).
// SAFETY (all): the compiler passes pointers valid for `n` bytes (`strlen`: to a NUL).
#[cfg(target_feature = "crt-static")]
mod mem {
    #[unsafe(no_mangle)]
    unsafe extern "C" fn memcpy(d: *mut u8, s: *const u8, n: usize) -> *mut u8 {
        // SAFETY: see above.
        unsafe { memmove(d, s, n) }
    }

    #[unsafe(no_mangle)]
    unsafe extern "C" fn memmove(d: *mut u8, s: *const u8, n: usize) -> *mut u8 {
        // Backwards when `d` is after `s`, so that overlapping bytes stay intact.
        let forward = (d as usize) < (s as usize);
        for k in 0..n {
            let i = if forward { k } else { n - 1 - k };
            // SAFETY: see above.
            unsafe { d.add(i).write_volatile(*s.add(i)) };
        }
        d
    }

    #[unsafe(no_mangle)]
    unsafe extern "C" fn memset(d: *mut u8, c: i32, n: usize) -> *mut u8 {
        // SAFETY: see above.
        (0..n).for_each(|i| unsafe { d.add(i).write_volatile(c as u8) });
        d
    }

    #[unsafe(no_mangle)]
    unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        // SAFETY: see above.
        let at = |p: *const u8, i| i32::from(unsafe { p.add(i).read_volatile() });
        (0..n)
            .map(|i| at(a, i) - at(b, i))
            .find(|&d| d != 0)
            .unwrap_or(0)
    }

    #[unsafe(no_mangle)]
    unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        // SAFETY: see above.
        unsafe { memcmp(a, b, n) }
    }

    #[unsafe(no_mangle)]
    unsafe extern "C" fn strlen(s: *const u8) -> usize {
        // SAFETY: see above.
        (0..)
            .find(|&n| unsafe { s.add(n).read_volatile() } == 0)
            .unwrap_or(0)
    }
}
