//! Arbitrary bytes through the control protocol's decoders, with a round trip
//! of whatever decodes; the checks live in `vigil_proto::fuzzing` so
//! `cargo test` replays the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vigil_proto::fuzzing::protocol(data));
