//! The kernel interface of vigil-init and its only `unsafe`: raw system calls (x86-64; no
//! libc, so that the shipped static binary is a few dozen KiB), owned descriptors, zeroed
//! memory from mmap, and fork+exec. Everything a child needs between fork and exec is
//! prepared before the fork, so the child allocates nothing and takes no lock.
#![allow(unsafe_code)]

use core::arch::asm;
use core::ffi::CStr;

pub type Result<T> = core::result::Result<T, Errno>;

/// An error number from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

pub const EINTR: Errno = Errno(4);
pub const EAGAIN: Errno = Errno(11);
pub const EBADF: Errno = Errno(9);
pub const ECONNRESET: Errno = Errno(104);

pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGKILL: i32 = 9;
pub const SIGUSR1: i32 = 10;
pub const SIGUSR2: i32 = 12;
pub const SIGTERM: i32 = 15;
pub const SIGCHLD: i32 = 17;
pub const SIGWINCH: i32 = 28;
pub const SIGPWR: i32 = 30;

pub const O_RDONLY: u32 = 0;
pub const O_WRONLY: u32 = 1;
pub const O_RDWR: u32 = 2;
pub const O_NOCTTY: u32 = 0o400;
pub const O_DIRECTORY: u32 = 0o200000;
pub const O_CLOEXEC: u32 = 0o2000000;
pub const MS_RDONLY: u64 = 1;
pub const MS_NOSUID: u64 = 2;
pub const MS_NODEV: u64 = 4;
pub const MS_NOEXEC: u64 = 8;
pub const MS_REMOUNT: u64 = 32;
pub const MNT_DETACH: u64 = 2;
pub const POLLIN: i16 = 1;
pub const POLLOUT: i16 = 4;
pub const POLLERR: i16 = 8;
pub const POLLHUP: i16 = 16;
pub const REBOOT_CAD_OFF: u64 = 0;
pub const REBOOT_RESTART: u64 = 0x0123_4567;
pub const REBOOT_HALT: u64 = 0xCDEF_0123;
pub const REBOOT_POWER_OFF: u64 = 0x4321_FEDC;
pub const REBOOT_KEXEC: u64 = 0x4558_4543;

/// One system call with up to six arguments; a negative result is an errno.
///
/// # Safety
/// The arguments must be what the kernel expects for `nr`; pointers must be valid for
/// the access the call makes.
unsafe fn syscall(nr: usize, a: [usize; 6]) -> Result<usize> {
    let ret: isize;
    // SAFETY: the caller upholds the call's contract; `syscall` clobbers rcx and r11 only.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a[0], in("rsi") a[1],
             in("rdx") a[2], in("r10") a[3], in("r8") a[4], in("r9") a[5],
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    match ret {
        -4095..=-1 => Err(Errno(-ret as i32)),
        n => Ok(n as usize),
    }
}

/// A system call whose arguments are plain numbers, or pointers to memory the caller
/// passes valid for the call: every wrapper below names what it points to.
macro_rules! sc {
    ($nr:expr $(, $a:expr)*) => {{
        let mut args = [0usize; 6];
        let given = [$($a as usize),*];
        for (slot, value) in args.iter_mut().zip(given) {
            *slot = value;
        }
        // SAFETY: see each wrapper: numbers, or pointers to live buffers of the stated size.
        unsafe { syscall($nr, args) }
    }};
}

/// An owned descriptor, closed on drop.
#[derive(Debug)]
pub struct Fd(i32);

impl Fd {
    pub fn raw(&self) -> i32 {
        self.0
    }
    /// Gives up ownership without closing.
    pub fn leak(self) -> i32 {
        let raw = self.0;
        core::mem::forget(self);
        raw
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        close(self.0);
    }
}

pub fn close(fd: i32) {
    let _ = sc!(3, fd);
}

pub fn open(path: &CStr, flags: u32) -> Result<Fd> {
    sc!(2, path.as_ptr(), flags | O_CLOEXEC, 0).map(|fd| Fd(fd as i32))
}

/// Like `open` but inheritable (for fds 0-2).
pub fn open_inherit(path: &CStr, flags: u32) -> Result<Fd> {
    sc!(2, path.as_ptr(), flags, 0).map(|fd| Fd(fd as i32))
}

pub fn read(fd: i32, buf: &mut [u8]) -> Result<usize> {
    sc!(0, fd, buf.as_mut_ptr(), buf.len())
}

pub fn write(fd: i32, buf: &[u8]) -> Result<usize> {
    sc!(1, fd, buf.as_ptr(), buf.len())
}

pub fn is_open(fd: i32) -> bool {
    sc!(72, fd, 1 /* F_GETFD */) != Err(EBADF)
}

pub fn dup2(from: i32, to: i32) -> Result<usize> {
    sc!(33, from, to)
}

pub fn exists(path: &CStr) -> bool {
    sc!(21, path.as_ptr(), 0).is_ok()
}

pub fn executable(path: &CStr) -> Result<usize> {
    sc!(21, path.as_ptr(), 1)
}

/// The inode number of `path` (struct stat: st_ino at byte 8 on x86-64).
pub fn inode(path: &CStr) -> Option<u64> {
    let mut st = [0u64; 18];
    sc!(4, path.as_ptr(), st.as_mut_ptr()).ok()?;
    st.get(1).copied()
}

/// The filesystem magic of `path` (struct statfs: f_type first).
pub fn fs_type(path: &CStr) -> Option<i64> {
    let mut st = [0i64; 15];
    sc!(137, path.as_ptr(), st.as_mut_ptr()).ok()?;
    st.first().copied()
}

pub fn readlink<'a>(path: &CStr, buf: &'a mut [u8]) -> Option<&'a [u8]> {
    let n = sc!(89, path.as_ptr(), buf.as_mut_ptr(), buf.len()).ok()?;
    buf.get(..n)
}

pub fn mkdir(path: &CStr) {
    let _ = sc!(83, path.as_ptr(), 0o755);
}

pub fn mount(src: &CStr, target: &CStr, fstype: &CStr, flags: u64, data: &CStr) -> Result<usize> {
    sc!(
        165,
        src.as_ptr(),
        target.as_ptr(),
        fstype.as_ptr(),
        flags,
        data.as_ptr()
    )
}

pub fn remount_ro(target: &CStr) -> Result<usize> {
    mount(c"", target, c"", MS_REMOUNT | MS_RDONLY, c"")
}

pub fn umount(target: &CStr, flags: u64) -> Result<usize> {
    sc!(166, target.as_ptr(), flags)
}

pub fn sync() {
    let _ = sc!(162);
}

pub fn reboot(cmd: u64) -> Result<usize> {
    sc!(169, 0xfee1_deadu32, 672_274_793, cmd)
}

pub fn getpid() -> i32 {
    sc!(39).map_or(0, |p| p as i32)
}

pub fn set_child_subreaper() -> Result<usize> {
    sc!(157, 36 /* PR_SET_CHILD_SUBREAPER */, 1)
}

pub fn kill(pid: i32, sig: i32) {
    let _ = sc!(62, pid, sig);
}

/// One exited child, without waiting: Ok(None) when none has exited yet.
pub fn reap() -> Result<Option<(i32, i32)>> {
    let mut status = 0i32;
    let pid = sc!(61, -1isize, &raw mut status, 1 /* WNOHANG */, 0)?;
    Ok((pid != 0).then_some((pid as i32, status)))
}

/// Reads directory entries into `buf`; the number of bytes, 0 at the end.
pub fn getdents(fd: i32, buf: &mut [u8]) -> Result<usize> {
    sc!(217, fd, buf.as_mut_ptr(), buf.len())
}

/// Monotonic time in milliseconds.
pub fn now_ms() -> u64 {
    let mut ts = [0i64; 2];
    let _ = sc!(228, 1 /* CLOCK_MONOTONIC */, ts.as_mut_ptr());
    let [s, ns] = ts;
    (s as u64)
        .saturating_mul(1000)
        .saturating_add(ns as u64 / 1_000_000)
}

#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub struct PollFd {
    pub fd: i32,
    pub events: i16,
    pub revents: i16,
}

/// poll(2); `timeout_ms` < 0 waits for ever.
pub fn poll(fds: &mut [PollFd], timeout_ms: i64) -> Result<usize> {
    sc!(7, fds.as_mut_ptr(), fds.len(), timeout_ms as i32)
}

/// Blocks every signal and returns a signalfd that reports them all. Blocked signals are
/// never discarded, not even for PID 1, which is how PID 1 gets to see them at all.
pub fn block_signals() -> Result<Fd> {
    let all = !0u64;
    sc!(14, 0 /* SIG_BLOCK */, &raw const all, 0, 8)?;
    sc!(
        289,
        -1isize,
        &raw const all,
        8,
        0o2004000 /* CLOEXEC|NONBLOCK */
    )
    .map(|fd| Fd(fd as i32))
}

/// Size of one `struct signalfd_siginfo`.
pub const SIGINFO_SIZE: usize = 128;

/// RLIMIT_NOFILE as we were started with it; children get it back.
static mut NOFILE: [u64; 2] = [0; 2];

/// Raises our descriptor limit to at least `want` (the fd store holds many).
pub fn raise_fd_limit(want: u64) {
    let mut old = [0u64; 2];
    if sc!(97, 7 /* RLIMIT_NOFILE */, old.as_mut_ptr()).is_err() {
        return;
    }
    // SAFETY: single-threaded, written once at start before any fork.
    unsafe { NOFILE = old };
    let [cur, max] = old;
    let new = [cur.max(want), max.max(want)];
    if sc!(160, 7, new.as_ptr()).is_err() {
        let soft = [max.min(cur.max(want)), max];
        let _ = sc!(160, 7, soft.as_ptr());
    }
    let mut now = [0u64; 2];
    if sc!(97, 7, now.as_mut_ptr()).is_ok() {
        // SAFETY: as above.
        unsafe { FD_LIMIT = now[0] };
    }
}

/// Our own soft RLIMIT_NOFILE after `raise_fd_limit` (0: unknown).
static mut FD_LIMIT: u64 = 0;

/// Whether descriptor `fd` leaves `reserve` descriptors free below our limit (the
/// kernel hands out the lowest free number, so `fd` is about how many are open).
pub fn fd_headroom(fd: i32, reserve: u64) -> bool {
    // SAFETY: written once at start, before the main loop; only read since.
    let limit = unsafe { FD_LIMIT };
    limit == 0 || (fd as u64).saturating_add(reserve) < limit
}

/// `n` zeroed values from mmap, for the life of the process: pages cost memory only once
/// written. Runs at start only (the main loop allocates nothing).
pub fn zeroed<T: Zero>(n: usize) -> &'static mut [T] {
    let bytes = n.saturating_mul(size_of::<T>());
    let Ok(addr) = sc!(
        9, 0, bytes, 3,    /* RW */
        0x22, /* PRIVATE|ANON */
        -1isize, 0
    ) else {
        return &mut [];
    };
    // SAFETY: mmap returned `bytes` fresh, zeroed, page-aligned bytes that nothing else
    // refers to and that are never unmapped; all-zero is a valid T (the Zero contract).
    unsafe { core::slice::from_raw_parts_mut(addr as *mut T, n) }
}

/// Types for which all-zero bytes are a valid value.
///
/// # Safety
/// Implement only for plain integers and arrays or tuples of them.
pub unsafe trait Zero {}
// SAFETY: plain integers and arrays/tuples of them.
unsafe impl Zero for u8 {}
// SAFETY: as above.
unsafe impl Zero for i32 {}
// SAFETY: as above.
unsafe impl Zero for (i32, i32) {}
// SAFETY: as above.
unsafe impl<const N: usize> Zero for [u8; N] {}

/// The C string at `p` (argv and envp entries, valid for the life of the process).
pub fn cstr(p: *const u8) -> Option<&'static CStr> {
    // SAFETY: callers pass the kernel's argv/envp pointers, NUL-terminated and never freed.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p.cast()) })
}

/// The `i`th pointer of a NULL-terminated pointer array from the kernel (argv, envp).
pub fn nth(list: *const *const u8, i: usize) -> *const u8 {
    // SAFETY: callers stop at the first NULL, so `i` never passes the array's end.
    unsafe { *list.add(i) }
}

/// A program to start: its path, argv and envp as NULL-terminated pointer arrays.
#[derive(Debug)]
pub struct Exec {
    pub path: &'static CStr,
    pub argv: [*const u8; 96],
    pub envp: [*const u8; 288],
}

/// How the child is set up before it runs its program.
#[derive(Debug, Clone, Copy)]
pub enum Setup {
    /// The manager: this end of the init channel becomes its fd 3.
    Manager { channel: i32 },
    /// The emergency shell: on /dev/console when `console`, else on our own stdio.
    Shell { console: bool },
}

/// Forks and runs `exec` in the child, in a new session with every signal unblocked.
pub fn spawn(exec: &Exec, setup: Setup) -> Result<i32> {
    let pid = sc!(56, SIGCHLD, 0, 0, 0, 0)?;
    if pid != 0 {
        return Ok(pid as i32);
    }
    let none = 0u64;
    let _ = sc!(14, 2 /* SIG_SETMASK */, &raw const none, 0, 8);
    let _ = sc!(112);
    // SAFETY: NOFILE was written before the first fork and is only read since.
    let nofile = unsafe { NOFILE };
    if nofile[1] > 0 {
        let _ = sc!(160, 7, nofile.as_ptr());
    }
    match setup {
        Setup::Manager { channel } => {
            let _ = if channel == 3 {
                sc!(72, 3, 2 /* F_SETFD */, 0)
            } else {
                dup2(channel, 3)
            };
        }
        Setup::Shell { console } => {
            if console && let Ok(fd) = open(c"/dev/console", O_RDWR | O_NOCTTY) {
                (0..3).for_each(|to| {
                    let _ = dup2(fd.raw(), to);
                });
            }
            // The shell leads its own session; the terminal becomes its controlling one so
            // that job control and ^C work (refused when stdin is no terminal).
            let _ = sc!(16, 0, 0x540E /* TIOCSCTTY */, 0);
        }
    }
    let _ = sc!(
        59,
        exec.path.as_ptr(),
        exec.argv.as_ptr(),
        exec.envp.as_ptr()
    );
    exit(127)
}

pub fn exit(code: i32) -> ! {
    loop {
        let _ = sc!(231, code);
    }
}

pub fn socketpair() -> Result<(Fd, Fd)> {
    let mut fds = [0i32; 2];
    // AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK
    sc!(53, 1, 5 | 0o2000000 | 0o4000, 0, fds.as_mut_ptr())?;
    let [a, b] = fds;
    Ok((Fd(a), Fd(b)))
}

#[repr(C)]
struct Msghdr {
    name: usize,
    namelen: usize,
    iov: *const [usize; 2],
    iovlen: usize,
    control: *mut u8,
    controllen: usize,
    flags: i32,
}

const SOL_SOCKET: i32 = 1;
const SCM_RIGHTS: i32 = 1;
/// MSG_DONTWAIT | MSG_NOSIGNAL
const SEND_FLAGS: usize = 0x40 | 0x4000;

/// Sends one datagram, with `fd` attached when given.
pub fn send(sock: i32, bytes: &[u8], fd: Option<i32>) -> Result<usize> {
    let iov = [bytes.as_ptr() as usize, bytes.len()];
    // cmsghdr { len: u64, level: i32, type: i32 } then the descriptor, padded to 8.
    let mut control = [
        20,
        (SCM_RIGHTS as u64) << 32 | SOL_SOCKET as u64,
        fd.unwrap_or(0) as u64,
    ];
    let controllen = if fd.is_some() { 24 } else { 0 };
    let msg = Msghdr {
        name: 0,
        namelen: 0,
        iov: &iov,
        iovlen: 1,
        control: control.as_mut_ptr().cast(),
        controllen,
        flags: 0,
    };
    sc!(46, sock, &raw const msg, SEND_FLAGS)
}

/// What one recvmsg brought: bytes, descriptors, and whether the text was cut.
#[derive(Debug)]
pub struct Received {
    pub len: usize,
    pub truncated: bool,
}

/// Receives one datagram into `buf`; its descriptors (close-on-exec) go into `fds`.
pub fn recv(sock: i32, buf: &mut [u8], fds: &mut [Option<Fd>; 16]) -> Result<Received> {
    let iov = [buf.as_mut_ptr() as usize, buf.len()];
    let mut control = [0u64; 10]; // CMSG_SPACE(16 * 4)
    let mut msg = Msghdr {
        name: 0,
        namelen: 0,
        iov: &iov,
        iovlen: 1,
        control: control.as_mut_ptr().cast(),
        controllen: 80,
        flags: 0,
    };
    // MSG_DONTWAIT | MSG_CMSG_CLOEXEC
    let len = sc!(47, sock, &raw mut msg, 0x40 | 0x4000_0000)?;
    let mut slots = fds.iter_mut();
    let mut at = 0usize;
    let end = msg.controllen.min(80);
    let bytes: &[u8; 80] = &zerocopy(&control);
    while let Some(head) = bytes.get(at..at.saturating_add(16)) {
        let word = |i: usize| {
            head.get(i..i + 4)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u32::from_ne_bytes)
        };
        let clen = usize::try_from(word(0)).map_or(0, |l| l);
        if clen < 16 || at.saturating_add(clen) > end {
            break;
        }
        if word(8) == SOL_SOCKET as u32 && word(12) == SCM_RIGHTS as u32 {
            let data = bytes.get(at + 16..at + clen).map_or(&[][..], |d| d);
            for raw in data.chunks_exact(4).filter_map(|c| c.try_into().ok()) {
                let fd = Fd(i32::from_ne_bytes(raw));
                if let Some(slot) = slots.next() {
                    *slot = Some(fd);
                }
            }
        }
        at = at.saturating_add(clen.saturating_add(7) & !7);
    }
    Ok(Received {
        len,
        truncated: msg.flags & 0x20 != 0,
    })
}

fn zerocopy(words: &[u64; 10]) -> [u8; 80] {
    let mut out = [0u8; 80];
    for (dst, w) in out.chunks_exact_mut(8).zip(words) {
        dst.copy_from_slice(&w.to_ne_bytes());
    }
    out
}

// The entry point. The shipped binary is static (crt-static, see build.rs) and has no
// libc: the kernel jumps to `_start` with argc, argv, NULL, envp, NULL on the stack.
// Other builds (tests) link glibc, whose start code calls `main`.
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
    // SAFETY: `sp` is the kernel's initial stack: argc, then argc pointers and a NULL
    // (argv), then the environment's pointers and a NULL (envp).
    let (argv, envp) = unsafe { (sp.add(1).cast(), sp.add(*sp + 2).cast()) };
    crate::run(argv, envp)
}

#[cfg(not(any(target_feature = "crt-static", test)))]
#[unsafe(no_mangle)]
extern "C" fn main(_argc: i32, argv: *const *const u8, envp: *const *const u8) -> i32 {
    crate::run(argv, envp)
}

// Without libc, the few memory functions the compiler calls are ours. The stores are
// volatile: LLVM would otherwise turn these loops back into calls to themselves.
#[cfg(target_feature = "crt-static")]
mod mem {
    /// # Safety
    /// `d` and `s` are valid for `n` bytes (the compiler's contract for these calls).
    #[unsafe(no_mangle)]
    unsafe extern "C" fn memcpy(d: *mut u8, s: *const u8, n: usize) -> *mut u8 {
        // SAFETY: as the caller guarantees.
        unsafe { memmove(d, s, n) }
    }

    /// # Safety
    /// `d` and `s` are valid for `n` bytes.
    #[unsafe(no_mangle)]
    unsafe extern "C" fn memmove(d: *mut u8, s: *const u8, n: usize) -> *mut u8 {
        // SAFETY: every offset is below `n`; copying backwards when `d` is after `s` keeps
        // overlapping bytes intact.
        unsafe {
            if (d as usize) < (s as usize) {
                (0..n).for_each(|i| d.add(i).write_volatile(*s.add(i)));
            } else {
                (0..n)
                    .rev()
                    .for_each(|i| d.add(i).write_volatile(*s.add(i)));
            }
        }
        d
    }

    /// # Safety
    /// `d` is valid for `n` bytes.
    #[unsafe(no_mangle)]
    unsafe extern "C" fn memset(d: *mut u8, c: i32, n: usize) -> *mut u8 {
        // SAFETY: every offset is below `n`.
        unsafe { (0..n).for_each(|i| d.add(i).write_volatile(c as u8)) };
        d
    }

    /// # Safety
    /// `a` and `b` are valid for `n` bytes.
    #[unsafe(no_mangle)]
    unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        for i in 0..n {
            // SAFETY: `i` is below `n`.
            let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
            if x != y {
                return i32::from(x) - i32::from(y);
            }
        }
        0
    }

    /// # Safety
    /// As memcmp.
    #[unsafe(no_mangle)]
    unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        // SAFETY: as the caller guarantees.
        unsafe { memcmp(a, b, n) }
    }

    /// # Safety
    /// `s` is NUL-terminated.
    #[unsafe(no_mangle)]
    unsafe extern "C" fn strlen(s: *const u8) -> usize {
        let mut n = 0;
        // SAFETY: reads stop at the terminating NUL.
        while unsafe { *s.add(n) } != 0 {
            n += 1;
        }
        n
    }
}
