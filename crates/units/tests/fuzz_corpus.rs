//! Replays the corpora of the `unit_file` and `yaml` fuzz targets (fuzz/corpus/)
//! through the same checks the targets run, so every input the fuzzer kept stays
//! a regression test on stable Rust.

use std::fs;
use std::path::{Path, PathBuf};

/// Every file of one target's corpus, sorted; panics when there is none, so a
/// moved or emptied corpus fails instead of passing vacuously.
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

fn replay(target: &str, check: fn(&[u8])) {
    for path in corpus(target) {
        let data = fs::read(&path).unwrap();
        // Name the input before running it, so a panic says which one broke.
        eprintln!("{}", path.display());
        check(&data);
    }
}

#[test]
fn unit_file_corpus_replays() {
    replay("unit_file", vigil_units::fuzzing::unit_file);
}

#[test]
fn yaml_corpus_replays() {
    replay("yaml", vigil_units::fuzzing::yaml);
}
