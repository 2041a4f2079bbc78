//! The filesystems a real boot mounts first, and the end: once the manager has exited for
//! good, stop every process left, sync, then exit (a container, or not PID 1) or unmount
//! everything and reboot(2). A PID 1 on a real boot never returns from `finish`, even
//! when reboot(2) fails. Only a PID 1 signals every process; otherwise only its children.

use core::ffi::CStr;
use core::ptr;

use rustix::fd::OwnedFd;
use rustix::fs::{CWD, Mode, OFlags, open};
use rustix::mount::{MountFlags as M, UnmountFlags, mount, mount_remount, unmount};
use rustix::process::{Pid, Signal, kill_process};
use rustix::system::RebootCommand;

use crate::channel::{Channel, number};
use crate::log::{self, Why, say, shout, show};
use crate::supervise::{reap_one, wait_for_signal};
use crate::{Where, sys};

/// What to do once the manager has exited. `Exit` leaves with an exit code (containers;
/// on a real boot it means poweroff).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Poweroff,
    Reboot,
    Halt,
    Kexec,
    Exit,
}

impl Action {
    /// The action a `shutdown` request names (not `exit`: that is a request of its own).
    pub fn parse(word: &[u8]) -> Option<Action> {
        let all = [
            Action::Poweroff,
            Action::Reboot,
            Action::Halt,
            Action::Kexec,
        ];
        all.into_iter().find(|a| a.name().as_bytes() == word)
    }

    pub fn name(self) -> &'static str {
        self.c_name().to_str().unwrap_or_default()
    }

    fn c_name(self) -> &'static CStr {
        match self {
            Action::Poweroff => c"poweroff",
            Action::Reboot => c"reboot",
            Action::Halt => c"halt",
            Action::Kexec => c"kexec",
            Action::Exit => c"exit",
        }
    }
}

/// How long (ms) the remaining processes get after SIGTERM, and again after SIGKILL.
const GRACE: u64 = 5000;
/// How long (ms) sync(2), and the unmounting with its sync, may take.
const SYNC_WAIT: u64 = 30_000;
const UNMOUNT_WAIT: u64 = 60_000;

/// Runs the final sequence and exits with `code` (or reboots).
pub fn finish(at: Where, action: Action, code: i32, signals: &OwnedFd, channel: Channel) -> ! {
    // The manager's exit ends a machine as a poweroff does; any end exits a container.
    let action = match action {
        Action::Exit if at.boot() => Action::Poweroff,
        _ if at.container => Action::Exit,
        action => action,
    };
    let name = action.name();
    shout!("{name}: stopping the remaining processes");
    if !stop_the_rest(at, signals, Signal::TERM) {
        shout!("{name}: sending SIGKILL to the processes still running");
        name_the_rest(at, name);
        if !stop_the_rest(at, signals, Signal::KILL) {
            shout!("{name}: some processes did not exit");
        }
    }
    // The fd store's descriptors would keep filesystems busy.
    drop(channel);
    bounded(signals, SYNC_WAIT, "sync", rustix::fs::sync);
    if !at.boot() {
        let code = if action == Action::Exit { code } else { 0 };
        say!(log::INFO, "exiting with status {code}");
        sys::exit(code);
    }
    take_over_if_replaced(action);
    power_off(action, signals)
}

/// A vigil-init replaced on disk (an upgrade) runs from a deleted file, and a deleted
/// file in use keeps its filesystem busy: / could not be remounted read-only. The
/// program now on disk goes on from here (`--final ACTION`), as systemd hands over to
/// systemd-shutdown; when it cannot be run, this one does.
fn take_over_if_replaced(action: Action) {
    if !rustix::fs::stat(c"/proc/self/exe").is_ok_and(|st| st.st_nlink == 0) {
        return;
    }
    let mut buf = [0u8; 4096];
    let room = buf.get_mut(..4000).unwrap_or_default();
    let n = rustix::fs::readlinkat_raw(CWD, c"/proc/self/exe", room).unwrap_or(0);
    let deleted = buf.get(..n).and_then(|p| p.strip_suffix(b" (deleted)"));
    let Some(len) = deleted.map(<[u8]>::len) else {
        return;
    };
    if let Some(end) = buf.get_mut(len) {
        *end = 0;
    }
    let Ok(path) = CStr::from_bytes_until_nul(&buf) else {
        return;
    };
    if !knows_final(path) {
        let name = action.name();
        return shout!(
            "{name}: {} was replaced, not by a vigil-init with --final: / may stay busy",
            show(path)
        );
    }
    shout!(
        "{}: {} was replaced: running the new one",
        action.name(),
        show(path)
    );
    let argv = [
        FINAL_ARGV0.as_ptr(),
        c"--final".as_ptr(),
        action.c_name().as_ptr(),
        ptr::null(),
    ];
    let e = sys::execve(path, &argv.map(<*const _>::cast), &[ptr::null()]);
    shout!("cannot run {}: {}; / may stay busy", show(path), Why(e));
}

/// In each vigil-init that takes `--final`, and looked for in a new file before it is
/// run: an older vigil-init would take `--final` for a word of the kernel's and boot
/// again, and a program of another kind would not end the boot at all.
#[used]
static FINAL: [u8; 44] = *b"vigil-init: ends a boot with --final ACTION.";

/// argv[0] of the handover. The kernel gives PID 1 the path it runs as argv[0], never
/// this: a `--final` on the kernel command line is not taken for one.
pub const FINAL_ARGV0: &CStr = c"vigil-init (final)";

/// Whether the file at `path` holds FINAL (read 8 KiB at a time, on the stack).
fn knows_final(path: &CStr) -> bool {
    let Ok(fd) = open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) else {
        return false;
    };
    // Not folded into the code that compares: the bytes must be in the file as they are.
    let marker: &[u8] = core::hint::black_box(&FINAL);
    let (mut buf, mut have) = ([0u8; 8192], 0);
    loop {
        match rustix::io::read(&fd, buf.get_mut(have..).unwrap_or_default()) {
            Ok(n @ 1..) => have += n,
            _ => return false,
        }
        if buf
            .get(..have)
            .unwrap_or_default()
            .windows(marker.len())
            .any(|w| w == marker)
        {
            return true;
        }
        // The last bytes stay: the marker may straddle two reads.
        let keep = have.min(marker.len() - 1);
        buf.copy_within(have - keep..have, 0);
        have = keep;
    }
}

/// The end of a real boot, also of a vigil-init started with `--final`: unmount,
/// reboot(2), and never return.
pub fn power_off(action: Action, signals: &OwnedFd) -> ! {
    let name = action.name();
    shout!("{name}: unmounting filesystems");
    bounded(signals, UNMOUNT_WAIT, "unmounting", || {
        unmount_all();
        rustix::fs::sync();
    });
    shout!("{name}: now");
    let command = match action {
        Action::Reboot => RebootCommand::Restart,
        Action::Halt => RebootCommand::Halt,
        Action::Kexec => RebootCommand::Kexec,
        Action::Poweroff | Action::Exit => RebootCommand::PowerOff,
    };
    let mut done = rustix::system::reboot(command);
    if action == Action::Kexec && done.is_err() {
        // No kexec kernel loaded: reboot instead, as systemd does.
        shout!("kexec failed; rebooting");
        done = rustix::system::reboot(RebootCommand::Restart);
    }
    if let Err(e) = done {
        shout!("reboot(2) failed: {}; the system is stopped", Why(e));
    }
    // PID 1 must not exit: keep reaping whatever still comes.
    loop {
        while let Ok(Some(_)) = reap_one() {}
        wait_for_signal(signals, 3_600_000);
    }
}

/// Runs `work` in a child and waits up to `ms` for it: a dead NFS server or a failing
/// disk can hang sync(2) or umount(2) for good, and PID 1 must still get to reboot(2).
/// Where no child can be made, it runs here.
fn bounded(signals: &OwnedFd, ms: u64, what: &str, work: fn()) {
    let child = match sys::fork() {
        Ok(0) => {
            work();
            sys::exit(0)
        }
        Ok(pid) => pid,
        Err(_) => return work(),
    };
    if !reap_within(signals, ms, || {}, |pid| pid == child) {
        shout!(
            "{what}: not done after {} s; going on without it",
            ms / 1000
        );
    }
}

/// Reaps children for up to `ms`: true once `done` holds for one reaped or no child is
/// left, false when the time is over. `each_turn` runs before each round of reaping.
fn reap_within(
    signals: &OwnedFd,
    ms: u64,
    mut each_turn: impl FnMut(),
    mut done: impl FnMut(i32) -> bool,
) -> bool {
    let deadline = sys::now_ms() + ms;
    loop {
        each_turn();
        loop {
            match reap_one() {
                Ok(Some((pid, _))) if done(pid) => return true,
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return true,
            }
        }
        match deadline.saturating_sub(sys::now_ms()) {
            0 => return false,
            left => wait_for_signal(signals, left.min(100)),
        }
    }
}

/// Signals what is left and reaps until no child is left (true) or GRACE is over (false).
/// A PID 1 signals every process but itself (kill(-1)). Any other process would hit all
/// its user owns: it signals its children, again as more are reparented to it.
fn stop_the_rest(at: Where, signals: &OwnedFd, sig: Signal) -> bool {
    if at.pid1 {
        // kill(-1, sig): to the process group "1", which kill(2) takes as every process.
        // SIGCONT after it: a stopped process would see its SIGTERM only when killed.
        let _ = rustix::process::kill_process_group(Pid::INIT, sig);
        let _ = rustix::process::kill_process_group(Pid::INIT, Signal::CONT);
    }
    let mut listed = !at.pid1;
    let resignal = || {
        if listed && !signal_children(sig) {
            shout!("cannot list our children (a kernel without CONFIG_PROC_CHILDREN?)");
            listed = false;
        }
    };
    reap_within(signals, GRACE, resignal, |_| false)
}

/// Says which processes the SIGKILL is for, as systemd-shutdown does: `PID (comm)`,
/// the first 16 and how many more. A PID 1's are every process but itself and the
/// kernel's threads on a real boot (kthreadd, PID 2, and its children: in a PID namespace
/// PID 2 is a process like any other, vigil-init itself under `docker run --init`);
/// otherwise its children.
fn name_the_rest(at: Where, action: &str) {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let Ok(proc) = open(c"/proc", flags, Mode::empty()) else {
        return;
    };
    let me = u64::from(
        rustix::process::getpid()
            .as_raw_nonzero()
            .get()
            .unsigned_abs(),
    );
    let (mut buf, mut named) = ([core::mem::MaybeUninit::uninit(); 4096], 0);
    let mut entries = rustix::fs::RawDir::new(proc, &mut buf);
    while let Some(Ok(entry)) = entries.next() {
        let Some(pid) = number(entry.file_name().to_bytes()) else {
            continue;
        };
        let path = log::Line::<32>::of(format_args!("/proc/{pid}/stat\0"));
        let mut stat = [0u8; 512];
        let n = CStr::from_bytes_with_nul(path.bytes())
            .ok()
            .and_then(|p| open(p, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok())
            .and_then(|fd| rustix::io::read(&fd, &mut stat).ok())
            .unwrap_or(0);
        // "PID (COMM) STATE PPID ...": the name may hold spaces and parentheses.
        let text = stat.get(..n).unwrap_or_default();
        let (Some(open), Some(close)) = (
            text.iter().position(|&b| b == b'('),
            text.iter().rposition(|&b| b == b')'),
        ) else {
            continue;
        };
        let comm = text.get(open + 1..close).unwrap_or_default();
        let rest = text.get(close + 1..).unwrap_or_default();
        let ppid = rest.split(|&b| b == b' ').nth(2).and_then(number);
        let kernel = at.boot() && (pid == 2 || ppid == Some(2));
        if pid == me || kernel || (!at.pid1 && ppid != Some(me)) {
            continue;
        }
        named += 1;
        if named <= 16 {
            shout!(
                "{action}: still running: PID {pid} ({})",
                comm.escape_ascii()
            );
        }
    }
    if named > 16 {
        shout!("{action}: and {} more", named - 16);
    }
}

/// Signals each of our children, listed in /proc/thread-self/children ("PID PID ... ":
/// we have one thread); false when there is no such list.
fn signal_children(sig: Signal) -> bool {
    let flags = OFlags::RDONLY | OFlags::CLOEXEC;
    let Ok(fd) = open(c"/proc/thread-self/children", flags, Mode::empty()) else {
        return false;
    };
    let (mut buf, mut pid) = ([0u8; 512], 0i32);
    while let Ok(n @ 1..) = rustix::io::read(&fd, &mut buf) {
        for &b in buf.get(..n).unwrap_or_default() {
            if b.is_ascii_digit() {
                pid = pid.saturating_mul(10).saturating_add(i32::from(b - b'0'));
            } else if let Some(child) = Pid::from_raw(core::mem::take(&mut pid)) {
                let _ = kill_process(child, sig);
                let _ = kill_process(child, Signal::CONT);
            }
        }
    }
    true
}

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
const NOSUID_NODEV: M = M::NOSUID.union(M::NODEV);
const NOSUID_NODEV_NOEXEC: M = NOSUID_NODEV.union(M::NOEXEC);

/// Where, what, how, with which options; in mount order (a later one may be inside an
/// earlier one). /proc comes first and apart (`mount_proc`): finding out what is
/// mounted needs it.
const API: [(&CStr, &CStr, M, &CStr); 6] = [
    (c"/sys", c"sysfs", NOSUID_NODEV_NOEXEC, c""),
    (c"/dev", c"devtmpfs", M::NOSUID, c"mode=755"),
    (
        c"/dev/pts",
        c"devpts",
        M::NOSUID.union(M::NOEXEC),
        c"gid=5,mode=620,ptmxmode=666",
    ),
    (c"/dev/shm", c"tmpfs", NOSUID_NODEV, c"mode=1777"),
    (c"/run", c"tmpfs", NOSUID_NODEV, c"mode=755"),
    (c"/sys/fs/cgroup", c"cgroup2", NOSUID_NODEV_NOEXEC, c""),
];

/// Mounts /proc unless it is: the first of the API filesystems, and what tells a PID
/// namespace from the machine's (a real boot has none yet, nor has a chroot).
pub fn mount_proc() {
    if !rustix::fs::statfs(c"/proc").is_ok_and(|s| s.f_type == PROC_SUPER_MAGIC) {
        mount_api(c"/proc", c"proc", NOSUID_NODEV_NOEXEC, c"");
    }
}

/// Mounts /proc, /sys, /dev, /dev/pts, /dev/shm, /run and /sys/fs/cgroup where nothing is
/// mounted yet. A failure is reported and the boot goes on: the manager may cope.
pub fn mount_api_filesystems() {
    mount_proc();
    let buf = sys::zeroed(MOUNTINFO);
    for (target, fstype, flags, data) in API {
        if !mountinfo(buf).any(|(point, _)| point == target.to_bytes()) {
            mount_api(target, fstype, flags, data);
        }
    }
}

fn mount_api(target: &CStr, fstype: &CStr, flags: M, data: &CStr) {
    let _ = rustix::fs::mkdir(target, Mode::from_bits_truncate(0o755));
    match mount(fstype, target, fstype, flags, data) {
        Ok(()) => say!(log::INFO, "mounted {} on {}", show(fstype), show(target)),
        Err(e) => shout!("cannot mount {}: {}", show(target), Why(e)),
    }
}

/// Room for /proc/self/mountinfo: thousands of mounts (a page costs memory once read into).
const MOUNTINFO: usize = 1 << 20;

/// Reads the file at `path` into `buf` and returns its lines (a longer file is cut at
/// a line).
fn lines<'a>(path: &CStr, buf: &'a mut [u8]) -> impl DoubleEndedIterator<Item = &'a [u8]> {
    let mut len = 0;
    if let Ok(fd) = open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) {
        while let Some(room) = buf.get_mut(len..).filter(|r| !r.is_empty())
            && let Ok(n @ 1..) = rustix::io::read(&fd, room)
        {
            len += n;
        }
    }
    let text = buf.get(..len).unwrap_or_default();
    let whole = text
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |at| at + 1);
    text.get(..whole.saturating_sub(1))
        .unwrap_or_default()
        .split(|&b| b == b'\n')
}

/// Reads /proc/self/mountinfo into `buf` and returns the (mount point, filesystem type)
/// of each mount in the kernel's order: a mount comes after the one it is mounted on.
/// The mount point is still escaped (`\040` for a space).
fn mountinfo(buf: &mut [u8]) -> impl DoubleEndedIterator<Item = (&[u8], &[u8])> {
    lines(c"/proc/self/mountinfo", buf).filter_map(|line| {
        let mut fields = line.split(|&b| b == b' ');
        let point = fields.nth(4)?;
        // Optional fields end at a lone "-"; the filesystem type follows it.
        Some((point, fields.skip_while(|f| *f != b"-").nth(1)?))
    })
}

/// Unmounts every filesystem, the last mounted first. What cannot be unmounted is
/// remounted read-only and detached; / is remounted read-only. /proc stays: it is how we
/// see what is left, and it holds no data; so does devtmpfs (our console holds it: it
/// was "busy" at every end), as systemd-shutdown leaves /dev. The table is read again while a pass makes
/// progress: it may be longer than the buffer.
fn unmount_all() {
    let (table, mut buf) = (sys::zeroed(MOUNTINFO), [0u8; 4096]);
    // Swap first: a swap file keeps its filesystem busy (its disk then needs
    // recovery), as systemd-shutdown turns off every area in /proc/swaps.
    for line in lines(c"/proc/swaps", table).skip(1) {
        let name = (line.split(|&b| b == b' ' || b == b'\t').next()).filter(|n| !n.is_empty());
        let Some(path) = name.and_then(|n| unescape(n, &mut buf)) else {
            continue;
        };
        match sys::swapoff(path) {
            Ok(()) => say!(log::INFO, "swap {} off", show(path)),
            Err(e) => shout!("cannot turn swap {} off: {}", show(path), Why(e)),
        }
    }
    let mut progress = true;
    for _ in 0..8 {
        if !core::mem::take(&mut progress) {
            break;
        }
        for (point, fstype) in mountinfo(table).rev() {
            let Some(path) = unescape(point, &mut buf)
                .filter(|_| point != b"/" && fstype != b"proc" && fstype != b"devtmpfs")
            else {
                continue;
            };
            let Err(e) = unmount(path, UnmountFlags::empty()) else {
                say!(log::INFO, "unmounted {}", show(path));
                progress = true;
                continue;
            };
            let ro = mount_remount(path, M::RDONLY, c"");
            progress |= unmount(path, UnmountFlags::DETACH).is_ok();
            match ro {
                Ok(()) => shout!("{} is busy ({}): remounted read-only", show(path), Why(e)),
                Err(ro) => shout!(
                    "{}: cannot unmount ({}) nor remount ({})",
                    show(path),
                    Why(e),
                    Why(ro)
                ),
            }
        }
    }
    match mount_remount(c"/", M::RDONLY, c"") {
        Ok(()) => say!(log::INFO, "remounted / read-only"),
        Err(e) => say!(log::WARNING, "cannot remount / read-only: {}", Why(e)),
    }
}

/// Undoes mountinfo's octal escapes (`\040`) into `out`, as a C string.
fn unescape<'a>(point: &[u8], out: &'a mut [u8; 4096]) -> Option<&'a CStr> {
    let (mut len, mut i) = (0, 0);
    while let Some(&b) = point.get(i) {
        let octal = point.get(i + 1..i + 4).filter(|_| b == b'\\');
        let value = octal.and_then(|digits| {
            digits.iter().try_fold(0u8, |v, &d| match d {
                b'0'..=b'7' => v.checked_mul(8)?.checked_add(d - b'0'),
                _ => None,
            })
        });
        *out.get_mut(len)? = value.unwrap_or(b);
        (i, len) = (i + if value.is_some() { 4 } else { 1 }, len + 1);
    }
    *out.get_mut(len)? = 0;
    CStr::from_bytes_with_nul(out.get(..=len)?).ok()
}
