//! Giving freed heap memory back to the kernel.
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
}
