//! Numbers: dtypes, host tensors, conversions between storage types and f64,
//! the tolerance checks that turn two tensors into a verdict, and `.npy`
//! files for anyone who wants the arrays.
//!
//! Every value the harness reasons about is held as f64: inputs are generated,
//! rounded to the case's dtype, stored in that dtype for the backend, and read
//! back into f64 for the oracle, so the oracle sees exactly what the backend saw.

pub mod check;
mod convert;
pub mod json_f64;
pub mod npy;
mod tensor;

pub use convert::{
    E8m0Rounding, from_f64_bits, from_f64_bits_saturating, read_element, round_to, to_e8m0,
    to_f64_bits, write_element,
};
pub use tensor::HostTensor;
pub use xpucert_abi::DType;
