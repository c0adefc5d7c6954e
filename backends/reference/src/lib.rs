//! # xpucert-reference
//!
//! The bundled reference CPU backend as a loadable library:
//! `libxpucert_reference.so`, found by `xpucert run --backend reference`.
//! Everything it does lives in `xpucert-reference-core`; this crate only
//! exports the entry symbol, so the kernels can be linked into other
//! backends without a second `xpucert_backend_init_v1`.

#![warn(missing_docs)]

xpucert_abi::export_backend!(xpucert_reference_core::ReferenceBackend);
