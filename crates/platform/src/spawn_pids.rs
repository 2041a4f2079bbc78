//! Where a manager's successor finds the PIDs of the spawns it did not live to save.
//!
//! Under vigil-init, the manager saves its state before a batch of spawns (naming them
//! by the invocation each is to get) and again once they are made (naming their PIDs).
//! Killed in between, it leaves its successor a spawn to look for by `$INVOCATION_ID`
//! in every process's environment; a short command that has already ended is not
//! found there and would run a second time. So each spawn gets a slot in a shared
//! memfd that vigil-init keeps in its fd store, and the kernel writes the child's
//! PID into it (`CLONE_PARENT_SETTID`) before the child runs an instruction: a
//! successor reads it there, and matches the exit status vigil-init reaped for it.
//! The manager adds the child's start time as soon as the clone returns: with it the
//! PID is an identity a reused PID does not share, also when the process cannot be
//! asked (a zombie has no environment; a daemon may rewrite its own).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering::SeqCst};

use rustix::mm::{MapFlags, ProtFlags, mmap};

/// Slots, one per spawn, used in turn. A batch of more spawns than this between two
/// saves leaves its first ones to the `$INVOCATION_ID` search.
const SPAWN_SLOTS: usize = 4096;

/// One spawn: which manager made it, its invocation number, its PID (0 until the
/// kernel wrote it) and its start time in clock ticks since boot (0 until the
/// manager wrote it).
#[repr(C)]
struct Slot {
    number: AtomicU64,
    started: AtomicU64,
    manager: AtomicU32,
    pid: AtomicI32,
}

const BYTES: usize = SPAWN_SLOTS * size_of::<Slot>();

/// The slots, mapped for the life of the process (a page costs memory only once
/// written to).
pub struct SpawnPids {
    fd: OwnedFd,
    slots: &'static [Slot],
}

impl std::fmt::Debug for SpawnPids {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpawnPids").field("fd", &self.fd).finish()
    }
}

impl SpawnPids {
    /// New and empty, in a memfd of its own.
    pub fn create() -> io::Result<SpawnPids> {
        let fd = crate::memory::memfd("vigil-spawns")?;
        rustix::fs::ftruncate(&fd, BYTES as u64)?;
        SpawnPids::open(fd)
    }

    /// The slots a predecessor left in `fd` (refused unless it has their size).
    pub fn open(fd: OwnedFd) -> io::Result<SpawnPids> {
        if rustix::fs::fstat(&fd)?.st_size != BYTES as i64 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let rw = ProtFlags::READ | ProtFlags::WRITE;
        // SAFETY: a new shared mapping of BYTES bytes of a memfd that no other
        // process shrinks (vigil-init only keeps it; one manager uses it at a time).
        let addr = unsafe { mmap(std::ptr::null_mut(), BYTES, rw, MapFlags::SHARED, &fd, 0)? };
        // SAFETY: page-aligned, BYTES long, never unmapped; any bytes are valid
        // atomics, and other processes touch them only through atomics too.
        let slots = unsafe { std::slice::from_raw_parts(addr.cast::<Slot>(), SPAWN_SLOTS) };
        Ok(SpawnPids { fd, slots })
    }

    fn slot(&self, number: u64) -> Option<&'static Slot> {
        self.slots.get(number as usize % SPAWN_SLOTS)
    }

    /// The cell for the PID of spawn `number` of `manager`, emptied and named,
    /// for [`PreparedCommand::record_pid`](crate::PreparedCommand::record_pid).
    /// The PID is emptied first: a manager killed half-way leaves no stale one.
    pub fn prepare(&self, manager: u32, number: u64) -> Option<&'static AtomicI32> {
        let slot = self.slot(number)?;
        slot.pid.store(0, SeqCst);
        slot.started.store(0, SeqCst);
        slot.number.store(number, SeqCst);
        slot.manager.store(manager, SeqCst);
        Some(&slot.pid)
    }

    /// Records the start time of spawn `number` of `manager` (once made).
    pub fn set_started(&self, manager: u32, number: u64, started: u64) {
        if let Some(slot) = self.named(manager, number) {
            slot.started.store(started, SeqCst);
        }
    }

    /// The PID spawn `number` of `manager` got, if it was made (and its slot not
    /// taken since by a later one), with its start time when the manager lived
    /// to record it.
    pub fn pid(&self, manager: u32, number: u64) -> Option<(u32, Option<u64>)> {
        let slot = self.named(manager, number)?;
        let pid = slot.pid.load(SeqCst);
        let started = slot.started.load(SeqCst);
        (pid > 0).then_some((pid as u32, (started > 0).then_some(started)))
    }

    fn named(&self, manager: u32, number: u64) -> Option<&'static Slot> {
        let slot = self.slot(number)?;
        let named = slot.number.load(SeqCst) == number && slot.manager.load(SeqCst) == manager;
        named.then_some(slot)
    }
}

impl AsFd for SpawnPids {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PreparedCommand, spawn};

    fn reap(pid: u32) {
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid as i32, &mut status, 0) };
    }

    #[test]
    fn the_kernel_writes_the_pid_where_a_successor_reads_it() {
        let pids = SpawnPids::create().unwrap();
        let mut cmd = PreparedCommand::new(c"/bin/true".into(), vec![c"true".into()], Vec::new());
        cmd.record_pid(pids.prepare(41, 7).unwrap());
        let child = spawn(&cmd).unwrap();
        reap(child.pid);
        assert_eq!(pids.pid(41, 7), Some((child.pid, None)));
        pids.set_started(41, 7, 1234);
        assert_eq!(pids.pid(41, 7), Some((child.pid, Some(1234))));
        // Only the spawn the slot names gets a start time.
        pids.set_started(42, 7, 99);
        assert_eq!(pids.pid(41, 7), Some((child.pid, Some(1234))));
        // Another manager's spawn 7, or this one's 7 + SPAWN_SLOTS, is not it.
        assert_eq!(pids.pid(42, 7), None);
        assert_eq!(pids.pid(41, 7 + SPAWN_SLOTS as u64), None);

        // A successor maps the same memfd (vigil-init passes it on).
        let copy = rustix::io::fcntl_dupfd_cloexec(&pids, 3).unwrap();
        let next = SpawnPids::open(copy).unwrap();
        assert_eq!(next.pid(41, 7), Some((child.pid, Some(1234))));
        // A slot named for a spawn that was never made has no PID.
        let _ = next.prepare(41, 8);
        assert_eq!(pids.pid(41, 8), None);
    }

    #[test]
    fn a_memfd_of_another_size_is_refused() {
        let fd = crate::memory::memfd("other").unwrap();
        rustix::fs::ftruncate(&fd, 4096).unwrap();
        let e = SpawnPids::open(fd).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    }
}
