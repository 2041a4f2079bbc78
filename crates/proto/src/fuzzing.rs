//! The checks the `protocol` fuzz target in `fuzz/` runs on one input, kept here
//! so the test that replays its corpus on stable Rust runs exactly the same code.
//!
//! This function panics when the codec breaks one of its promises: that is its
//! job, and nothing but the fuzz target and the corpus test may call it.

use crate::{Envelope, Reply, decode_request, encode, salvage_id};

/// Feeds arbitrary bytes to the request decoder as the manager does, and, since
/// clients read replies the same way, to the reply decoder. Whatever decodes
/// must encode to one line that decodes to an equal value.
pub fn protocol(data: &[u8]) {
    // The manager hands the decoder a line without its newline.
    let line = data.strip_suffix(b"\n").unwrap_or(data);
    let _ = salvage_id(line);

    if let Ok(env) = decode_request(line) {
        let _ = env.request.is_mutating();
        let encoded = encode(&env);
        let again = one_line(&encoded);
        match decode_request(again) {
            Ok(back) => assert_eq!(back, env, "request changed in a round trip"),
            Err(e) => panic!("an encoded request does not decode: {e}"),
        }
        assert_eq!(salvage_id(again), env.id);
    }

    if let Ok(reply) = serde_json::from_slice::<Reply>(line) {
        let encoded = encode(&reply);
        match serde_json::from_slice::<Reply>(one_line(&encoded)) {
            Ok(back) => assert_eq!(back, reply, "reply changed in a round trip"),
            Err(e) => panic!("an encoded reply does not decode: {e}"),
        }
    }

    // The envelope as a whole must also survive without the version check, so a
    // newer client's line can be read for its id.
    if let Ok(env) = serde_json::from_slice::<Envelope>(line) {
        let encoded = encode(&env);
        assert_eq!(salvage_id(one_line(&encoded)), env.id);
    }
}

/// An encoded message is exactly one line: the framing depends on it.
fn one_line(encoded: &[u8]) -> &[u8] {
    let Some(body) = encoded.strip_suffix(b"\n") else {
        panic!("encoded message does not end with a newline");
    };
    assert!(!body.contains(&b'\n'), "encoded message spans lines");
    body
}
