//! Tolerance checks: how an output is compared with the oracle.
//!
//! A [`CheckSpec`] is declared per case in the suite (or defaulted from the op
//! and dtype); [`compare`] applies it and returns a [`Comparison`] with every
//! figure a report needs. Special values are judged before any tolerance: a
//! NaN where the oracle has none (or the reverse) fails, an infinity must match
//! in sign.

use serde::{Deserialize, Serialize};

use super::DType;

/// The rule a case is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CheckSpec {
    /// Bitwise equal after conversion to f64 (any NaN matches any NaN).
    Exact,
    /// `|y - y*| <= atol + rtol * |y*|`.
    Allclose {
        /// relative tolerance
        rtol: f64,
        /// absolute tolerance
        atol: f64,
    },
}
