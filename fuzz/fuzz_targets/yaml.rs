//! Arbitrary bytes through the zinit YAML loader; the checks live in
//! `vigil_units::fuzzing` so `cargo test` replays the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vigil_units::fuzzing::yaml(data));
