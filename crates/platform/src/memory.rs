//! Giving freed heap memory back to the kernel, and anonymous files in memory.
//!
//! Loading a thousand unit files, or starting a thousand services, leaves the
//! C allocator's heap full of small freed chunks between live ones: glibc keeps
//! them mapped, and they count in the manager's resident set for ever. This
//! module owns the one call that returns such pages; it never allocates.

/// Returns the pages of free heap chunks to the kernel (glibc's
/// `malloc_trim(0)`, which releases whole free pages anywhere in the heap, not
/// only at its top). Costs a walk over the heap: call it when idle, not per
/// event. Other C libraries: nothing to do.
pub fn release_free_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks and trims the allocator's own free lists
    // under its lock; it touches no memory the program owns.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// An anonymous file in memory (memfd), close-on-exec: the manager's state
/// for its successor lives in one.
pub fn memfd(name: &str) -> std::io::Result<std::os::fd::OwnedFd> {
    let fd = rustix::fs::memfd_create(name, rustix::fs::MemfdFlags::CLOEXEC)?;
    Ok(fd)
}

/// A memfd that holds `max` bytes at most, sealed at that size (it reads as
/// zeros past what was written): the output of a program the manager runs
/// for an answer, which must not grow its memory however much the program
/// writes. A write past the end fails (EPERM).
pub fn memfd_bounded(name: &str, max: u64) -> std::io::Result<std::os::fd::OwnedFd> {
    use rustix::fs::{MemfdFlags, SealFlags};
    let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    rustix::fs::ftruncate(&fd, max)?;
    rustix::fs::fcntl_add_seals(&fd, SealFlags::GROW | SealFlags::SHRINK | SealFlags::SEAL)?;
    Ok(fd)
}

/// Sets or clears close-on-exec: a manager that re-executes itself keeps the
/// descriptors its next image takes over.
pub fn set_cloexec(fd: impl std::os::fd::AsFd, cloexec: bool) -> std::io::Result<()> {
    let flags = if cloexec {
        rustix::io::FdFlags::CLOEXEC
    } else {
        rustix::io::FdFlags::empty()
    };
    rustix::io::fcntl_setfd(fd, flags)?;
    Ok(())
}

/// Takes ownership of a descriptor a previous image of this process left
/// open (its number came in the environment), once checked to be open, and
/// makes it close-on-exec again. Refuses stdio.
pub fn adopt_fd(raw: i32) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};
    if raw < 3 {
        return Err(std::io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: borrowed only to check that the number is open, before anything
    // in this process owns it.
    let borrowed = unsafe { BorrowedFd::borrow_raw(raw) };
    rustix::io::fcntl_getfd(borrowed)?;
    // SAFETY: the number is open (checked above) and the environment that
    // named it is read once, so nothing else takes it over.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    set_cloexec(&fd, true)?;
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_after_freeing_keeps_live_memory_intact() {
        let live: Vec<Vec<u8>> = (0..64u8).map(|i| vec![i; 4096]).collect();
        let freed: Vec<Vec<u8>> = (0..256).map(|_| vec![0xAA; 4096]).collect();
        drop(freed);
        release_free_heap();
        for (i, block) in live.iter().enumerate() {
            assert!(block.iter().all(|&b| usize::from(b) == i));
        }
    }

    /// Written past its size, a bounded memfd refuses: it never grows.
    #[test]
    fn a_bounded_memfd_does_not_grow() {
        use std::io::{Read as _, Seek as _, Write as _};
        let mut file = std::fs::File::from(super::memfd_bounded("test", 4096).unwrap());
        file.write_all(b"said\n").unwrap();
        let err = file.write_all(&[b'x'; 8192]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
        assert_eq!(file.metadata().unwrap().len(), 4096);
        file.rewind().unwrap();
        let mut text = Vec::new();
        file.read_to_end(&mut text).unwrap();
        assert!(text.starts_with(b"said\n"));
    }
}
