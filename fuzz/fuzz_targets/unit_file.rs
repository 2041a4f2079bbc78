//! Arbitrary bytes through the unit-file parser, raw and validated layers; the
//! checks live in `vigil_units::fuzzing` so `cargo test` replays the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vigil_units::fuzzing::unit_file(data));
