//! Honest numeric variants (must pass) and numeric faults (must fail).

use crate::{Behaviour, Expect, Mode};

/// The plain reference: the baseline every other mode is compared with.
struct Honest;
impl Behaviour for Honest {}

/// The numeric modes.
pub fn modes() -> Vec<Mode> {
    vec![Mode {
        name: "honest",
        expect: Expect::Pass,
        ops: &[],
        description: "the reference backend unchanged",
        behaviour: Box::new(Honest),
    }]
}
