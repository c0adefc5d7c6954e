//! Real model checkpoints: loading weight files (`weights`).

pub mod weights;
