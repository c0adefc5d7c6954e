//! The GGUF and safetensors readers on arbitrary bytes: every input must
//! give `Weights` or a `WeightError`, never a panic, an abort or an
//! allocation beyond what the bytes can back; whatever loads must decode
//! each tensor or refuse it cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xpucert::model::weights::Weights;

fuzz_target!(|data: &[u8]| {
    for parsed in [
        Weights::gguf_from_bytes("fuzz.gguf", data.to_vec()),
        Weights::safetensors_from_bytes("fuzz.safetensors", data.to_vec()),
    ] {
        if let Ok(w) = parsed {
            for name in w.names() {
                let _ = w.get(name);
            }
        }
    }
});
