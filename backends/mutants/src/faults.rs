//! Reliability faults: crashes, hangs, memory corruption, ABI violations.

use crate::Mode;

/// The reliability fault modes.
pub fn modes() -> Vec<Mode> {
    Vec::new()
}
