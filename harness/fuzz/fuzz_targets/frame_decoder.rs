//! The worker-protocol decoder on arbitrary bytes: it must never panic, and
//! whatever it accepts must encode to something it accepts again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xpucert::backend::frame::{self, Frame};

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = frame::decode(data) {
        let again = f.encode();
        assert!(frame::decode(&again).is_ok(), "re-encoded frame rejected");
    }
    // The stream reader on the same bytes, frame after frame.
    let mut r = data;
    while Frame::read_from(&mut r).is_ok() {}
});
