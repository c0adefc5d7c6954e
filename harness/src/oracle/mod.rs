//! The f64 oracle (being written).
