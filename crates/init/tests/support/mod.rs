//! What the vigil-init test binaries share.

use std::path::{Path, PathBuf};

/// A workspace binary next to vigil-init (scripts/test builds them all first).
pub fn sibling(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_vigil-init")).with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}
