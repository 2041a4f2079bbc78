//! Replays the corpus of the `protocol` fuzz target (fuzz/corpus/protocol)
//! through the same checks the target runs, so every input the fuzzer kept stays
//! a regression test on stable Rust.

use std::fs;
use std::path::{Path, PathBuf};

/// Every file of the corpus, sorted; panics when there is none, so a moved or
/// emptied corpus fails instead of passing vacuously.
fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let entries = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the corpus {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "the corpus {} is empty", dir.display());
    files
}

#[test]
fn protocol_corpus_replays() {
    for path in corpus("protocol") {
        let data = fs::read(&path).unwrap();
        // Name the input before running it, so a panic says which one broke.
        eprintln!("{}", path.display());
        vigil_proto::fuzzing::protocol(&data);
    }
}
