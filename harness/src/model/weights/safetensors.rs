//! safetensors reader: u64 little-endian header length N, N bytes of JSON
//! (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
//! "__metadata__": {string: string}}`), then the data; offsets are relative
//! to the end of the header.

use std::path::Path;

use serde_json::Value;

use super::gguf::GgufValue;
use super::{Encoding, Entry, WeightError, WeightFormat, Weights};

/// The limit the reference implementation puts on the header length.
const MAX_HEADER: u64 = 100_000_000;

/// Element size of every dtype the format defines (sub-byte ones excluded).
fn dtype(name: &str) -> Option<(Encoding, u64)> {
    Some(match name {
        "F64" => (Encoding::F64, 8),
        "F32" => (Encoding::F32, 4),
        "F16" => (Encoding::F16, 2),
        "BF16" => (Encoding::BF16, 2),
        "I64" => (Encoding::I64, 8),
        "I32" => (Encoding::I32, 4),
        "I16" => (Encoding::I16, 2),
        "I8" => (Encoding::I8, 1),
        "U8" => (Encoding::U8, 1),
        "BOOL" => (Encoding::Bool, 1),
        "U64" => (Encoding::Other("U64".into()), 8),
        "U32" => (Encoding::Other("U32".into()), 4),
        "U16" => (Encoding::Other("U16".into()), 2),
        "F8_E4M3" | "F8_E5M2" | "F8_E8M0" => (Encoding::Other(name.into()), 1),
        _ => return None,
    })
}

pub(crate) fn parse(path: &Path, bytes: Vec<u8>) -> Result<Weights, WeightError> {
    let len = bytes.len() as u64;
    let malformed = |what: String| WeightError::Malformed {
        path: path.to_path_buf(),
        what,
    };
    if bytes.len() > 8 && bytes[8] != b'{' {
        return Err(WeightError::BadMagic {
            path: path.to_path_buf(),
            format: "safetensors",
            found: format!(
                "byte 8 is {:#04x}, not the '{{' that opens the JSON header",
                bytes[8]
            ),
        });
    }
    let Some(head) = bytes.get(..8) else {
        return Err(WeightError::Truncated {
            path: path.to_path_buf(),
            what: "header length".into(),
            start: 0,
            end: 8,
            len,
        });
    };
    let mut n = [0u8; 8];
    n.copy_from_slice(head);
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER {
        return Err(WeightError::Absurd {
            path: path.to_path_buf(),
            what: "header length".into(),
            count: n,
            limit: MAX_HEADER,
        });
    }
    if 8 + n > len {
        return Err(WeightError::Truncated {
            path: path.to_path_buf(),
            what: "JSON header".into(),
            start: 8,
            end: 8 + n,
            len,
        });
    }
    let data_start = 8 + n;
    let text =
        std::str::from_utf8(&bytes[8..data_start as usize]).map_err(|_| WeightError::BadUtf8 {
            path: path.to_path_buf(),
            what: "JSON header".into(),
        })?;
    let header: Value =
        serde_json::from_str(text).map_err(|e| malformed(format!("JSON header: {e}")))?;
    let Value::Object(header) = header else {
        return Err(malformed("JSON header is not an object".into()));
    };

    let mut metadata = Vec::new();
    let mut entries = Vec::with_capacity(header.len());
    for (name, info) in &header {
        if name == "__metadata__" {
            let Value::Object(m) = info else {
                return Err(malformed("__metadata__ is not an object".into()));
            };
            for (k, v) in m {
                let Value::String(s) = v else {
                    return Err(malformed(format!("__metadata__ `{k}` is not a string")));
                };
                metadata.push((k.clone(), GgufValue::String(s.clone())));
            }
            continue;
        }
        let bad = |what: &str| malformed(format!("tensor `{name}`: {what}"));
        let Value::Object(info) = info else {
            return Err(bad("entry is not an object"));
        };
        let dtype_name = info
            .get("dtype")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no string `dtype`"))?;
        let (encoding, size) =
            dtype(dtype_name).ok_or_else(|| bad(&format!("unknown dtype `{dtype_name}`")))?;
        let shape: Vec<u64> = match info.get("shape") {
            Some(Value::Array(dims)) => dims
                .iter()
                .map(Value::as_u64)
                .collect::<Option<_>>()
                .ok_or_else(|| bad("`shape` holds something other than non-negative integers"))?,
            _ => return Err(bad("no array `shape`")),
        };
        let offsets: Vec<u64> = match info.get("data_offsets") {
            Some(Value::Array(o)) if o.len() == 2 => o
                .iter()
                .map(Value::as_u64)
                .collect::<Option<_>>()
                .ok_or_else(|| bad("`data_offsets` are not non-negative integers"))?,
            _ => return Err(bad("no `data_offsets` [begin, end]")),
        };
        let (begin, end) = (offsets[0], offsets[1]);
        if begin > end {
            return Err(bad(&format!("data_offsets [{begin}, {end}] run backwards")));
        }
        let numel = super::element_count(&shape)
            .ok_or_else(|| bad(&format!("shape {shape:?} overflows")))?;
        if numel.checked_mul(size) != Some(end - begin) {
            return Err(WeightError::ShapeMismatch {
                path: path.to_path_buf(),
                tensor: name.clone(),
                what: format!(
                    "shape {shape:?} of {dtype_name} needs {} bytes, data_offsets [{begin}, {end}] give {}",
                    numel.saturating_mul(size),
                    end - begin
                ),
            });
        }
        let (start, stop) = (
            data_start.saturating_add(begin),
            data_start.saturating_add(end),
        );
        if stop > len {
            return Err(WeightError::DataPastEnd {
                path: path.to_path_buf(),
                tensor: name.clone(),
                start,
                end: stop,
                len,
            });
        }
        entries.push(Entry {
            name: name.clone(),
            shape: shape.iter().map(|&d| d as usize).collect(),
            numel: numel as usize,
            encoding,
            start: start as usize,
            end: stop as usize,
        });
    }
    // File order, which is how writers lay tensors out.
    entries.sort_by(|a, b| (a.start, &a.name).cmp(&(b.start, &b.name)));
    Weights::from_parts(path, WeightFormat::Safetensors, bytes, entries, metadata)
}
