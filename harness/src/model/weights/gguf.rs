//! GGUF v2/v3 reader (llama.cpp's format), little-endian files only.
//!
//! Layout: magic `GGUF`, u32 version, u64 tensor count, u64 metadata count;
//! metadata as (string key, u32 value type, value), arrays as (u32 element
//! type, u64 count, elements), strings as (u64 length, UTF-8 bytes); then per
//! tensor (string name, u32 n_dims, n_dims x u64 dims fastest-first, u32 GGML
//! type, u64 offset); then padding to `general.alignment` (default 32), where
//! the data section starts; tensor offsets are relative to it.
//!
//! Every count is checked against the bytes left before anything is
//! allocated for it, so a corrupted count is an error, not a huge allocation.

use std::path::Path;

use super::{Encoding, Entry, WeightError, WeightFormat, Weights, dequant};

pub(crate) const MAGIC: &[u8] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// GGML_MAX_DIMS.
const MAX_DIMS: u32 = 4;
/// Arrays of arrays deeper than this are refused (recursion would overflow the stack).
const MAX_NESTING: usize = 8;

/// A typed GGUF metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    /// Type 0.
    U8(u8),
    /// Type 1.
    I8(i8),
    /// Type 2.
    U16(u16),
    /// Type 3.
    I16(i16),
    /// Type 4.
    U32(u32),
    /// Type 5.
    I32(i32),
    /// Type 6.
    F32(f32),
    /// Type 7 (one byte, 0 or 1).
    Bool(bool),
    /// Type 8.
    String(String),
    /// Type 9: elements of one type (arrays may nest).
    Array(Vec<GgufValue>),
    /// Type 10.
    U64(u64),
    /// Type 11.
    I64(i64),
    /// Type 12.
    F64(f64),
}

impl GgufValue {
    /// Any integer that is not negative, as u64.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            GgufValue::U8(v) => Some(v.into()),
            GgufValue::U16(v) => Some(v.into()),
            GgufValue::U32(v) => Some(v.into()),
            GgufValue::U64(v) => Some(v),
            GgufValue::I8(v) => u64::try_from(v).ok(),
            GgufValue::I16(v) => u64::try_from(v).ok(),
            GgufValue::I32(v) => u64::try_from(v).ok(),
            GgufValue::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// Any float, or an integer f64 holds exactly.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            GgufValue::F32(v) => Some(v.into()),
            GgufValue::F64(v) => Some(v),
            GgufValue::I8(v) => Some(v.into()),
            GgufValue::I16(v) => Some(v.into()),
            GgufValue::I32(v) => Some(v.into()),
            GgufValue::I64(v) if v.unsigned_abs() <= 1 << 53 => Some(v as f64),
            _ => self.as_u64().filter(|&v| v <= 1 << 53).map(|v| v as f64),
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            GgufValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[GgufValue]> {
        match self {
            GgufValue::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            GgufValue::Bool(b) => Some(b),
            _ => None,
        }
    }
}

/// A GGML tensor type: name, values per block, bytes per block.
struct GgmlType {
    id: u32,
    name: &'static str,
    block_values: u64,
    block_bytes: u64,
}

const fn t(id: u32, name: &'static str, block_values: u64, block_bytes: u64) -> GgmlType {
    GgmlType {
        id,
        name,
        block_values,
        block_bytes,
    }
}

/// ggml's type numbers and block sizes (`ggml_type` / `GGML_QUANT_SIZES`);
/// numbers 4, 5, 31-33 and 36-38 are retired and absent.
const GGML_TYPES: &[GgmlType] = &[
    t(0, "F32", 1, 4),
    t(1, "F16", 1, 2),
    t(2, "Q4_0", 32, 18),
    t(3, "Q4_1", 32, 20),
    t(6, "Q5_0", 32, 22),
    t(7, "Q5_1", 32, 24),
    t(8, "Q8_0", 32, 34),
    t(9, "Q8_1", 32, 40),
    t(10, "Q2_K", 256, 84),
    t(11, "Q3_K", 256, 110),
    t(12, "Q4_K", 256, 144),
    t(13, "Q5_K", 256, 176),
    t(14, "Q6_K", 256, 210),
    t(15, "Q8_K", 256, 292),
    t(16, "IQ2_XXS", 256, 66),
    t(17, "IQ2_XS", 256, 74),
    t(18, "IQ3_XXS", 256, 98),
    t(19, "IQ1_S", 256, 50),
    t(20, "IQ4_NL", 32, 18),
    t(21, "IQ3_S", 256, 110),
    t(22, "IQ2_S", 256, 82),
    t(23, "IQ4_XS", 256, 136),
    t(24, "I8", 1, 1),
    t(25, "I16", 1, 2),
    t(26, "I32", 1, 4),
    t(27, "I64", 1, 8),
    t(28, "F64", 1, 8),
    t(29, "IQ1_M", 256, 56),
    t(30, "BF16", 1, 2),
    t(34, "TQ1_0", 256, 54),
    t(35, "TQ2_0", 256, 66),
    t(39, "MXFP4", 32, 17),
];

fn encoding_of(ty: &GgmlType) -> Encoding {
    match ty.id {
        0 => Encoding::F32,
        1 => Encoding::F16,
        2 => Encoding::Q4_0,
        3 => Encoding::Q4_1,
        6 => Encoding::Q5_0,
        7 => Encoding::Q5_1,
        8 => Encoding::Q8_0,
        24 => Encoding::I8,
        25 => Encoding::I16,
        26 => Encoding::I32,
        27 => Encoding::I64,
        28 => Encoding::F64,
        30 => Encoding::BF16,
        _ => Encoding::Other(ty.name.to_string()),
    }
}

struct Reader<'a> {
    path: &'a Path,
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> u64 {
        (self.buf.len() - self.pos) as u64
    }

    fn take(&mut self, n: u64, what: &dyn Fn() -> String) -> Result<&'a [u8], WeightError> {
        if n > self.left() {
            return Err(WeightError::Truncated {
                path: self.path.to_path_buf(),
                what: what(),
                start: self.pos as u64,
                end: (self.pos as u64).saturating_add(n),
                len: self.buf.len() as u64,
            });
        }
        let s = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &dyn Fn() -> String) -> Result<[u8; N], WeightError> {
        let s = self.take(N as u64, what)?;
        let mut a = [0; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32, WeightError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &dyn Fn() -> String) -> Result<u64, WeightError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn string(&mut self, what: &dyn Fn() -> String) -> Result<String, WeightError> {
        let n = self.u64(&|| format!("length of {}", what()))?;
        let bytes = self.take(n, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| WeightError::BadUtf8 {
            path: self.path.to_path_buf(),
            what: what(),
        })
    }

    /// Refuses `count` items of at least `min_bytes` each when fewer bytes are left.
    fn check_count(&self, count: u64, min_bytes: u64, what: &str) -> Result<usize, WeightError> {
        let limit = self.left() / min_bytes;
        if count > limit {
            return Err(WeightError::Absurd {
                path: self.path.to_path_buf(),
                what: what.to_string(),
                count,
                limit,
            });
        }
        Ok(count as usize)
    }

    fn value(
        &mut self,
        ty: u32,
        what: &dyn Fn() -> String,
        depth: usize,
    ) -> Result<GgufValue, WeightError> {
        Ok(match ty {
            0 => GgufValue::U8(u8::from_le_bytes(self.array(what)?)),
            1 => GgufValue::I8(i8::from_le_bytes(self.array(what)?)),
            2 => GgufValue::U16(u16::from_le_bytes(self.array(what)?)),
            3 => GgufValue::I16(i16::from_le_bytes(self.array(what)?)),
            4 => GgufValue::U32(u32::from_le_bytes(self.array(what)?)),
            5 => GgufValue::I32(i32::from_le_bytes(self.array(what)?)),
            6 => GgufValue::F32(f32::from_le_bytes(self.array(what)?)),
            7 => match self.array::<1>(what)?[0] {
                0 => GgufValue::Bool(false),
                1 => GgufValue::Bool(true),
                b => {
                    return Err(
                        self.malformed(format!("{} is a bool byte {b}, not 0 or 1", what()))
                    );
                }
            },
            8 => GgufValue::String(self.string(what)?),
            9 => {
                if depth >= MAX_NESTING {
                    return Err(self
                        .malformed(format!("{} nests arrays deeper than {MAX_NESTING}", what())));
                }
                let elem = self.u32(&|| format!("element type of {}", what()))?;
                let count = self.u64(&|| format!("length of {}", what()))?;
                let min = value_min_bytes(elem).ok_or_else(|| {
                    self.malformed(format!("{} has unknown element type {elem}", what()))
                })?;
                let n = self.check_count(
                    count,
                    min,
                    &format!("length of {} (at byte {})", what(), self.pos - 8),
                )?;
                let mut items = Vec::with_capacity(n);
                for i in 0..n {
                    items.push(self.value(elem, &|| format!("{}[{i}]", what()), depth + 1)?);
                }
                GgufValue::Array(items)
            }
            10 => GgufValue::U64(u64::from_le_bytes(self.array(what)?)),
            11 => GgufValue::I64(i64::from_le_bytes(self.array(what)?)),
            12 => GgufValue::F64(f64::from_le_bytes(self.array(what)?)),
            other => {
                return Err(self.malformed(format!("{} has unknown value type {other}", what())));
            }
        })
    }

    fn malformed(&self, what: String) -> WeightError {
        WeightError::Malformed {
            path: self.path.to_path_buf(),
            what,
        }
    }
}

/// Fewest bytes a value of this type occupies (for bounding counts).
fn value_min_bytes(ty: u32) -> Option<u64> {
    Some(match ty {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        8 | 10..=12 => 8,
        9 => 12,
        _ => return None,
    })
}

pub(crate) fn parse(path: &Path, bytes: Vec<u8>) -> Result<Weights, WeightError> {
    if bytes.len() >= 4 && &bytes[..4] != MAGIC {
        return Err(WeightError::BadMagic {
            path: path.to_path_buf(),
            format: "GGUF",
            found: format!(
                "starts with {:?}, expected \"GGUF\"",
                String::from_utf8_lossy(&bytes[..4])
            ),
        });
    }
    let mut r = Reader {
        path,
        buf: &bytes,
        pos: 0,
    };
    r.take(4, &|| "magic".into())?;
    let version = r.u32(&|| "version".into())?;
    if version != 2 && version != 3 {
        return Err(WeightError::UnsupportedVersion {
            path: path.to_path_buf(),
            version,
        });
    }
    let tensor_count = r.u64(&|| "tensor count".into())?;
    let kv_count = r.u64(&|| "metadata count".into())?;
    // A key/value takes at least 8 (key length) + 4 (type) + 1 bytes.
    let kv_count = r.check_count(kv_count, 13, "metadata count")?;
    let mut metadata = Vec::with_capacity(kv_count);
    for i in 0..kv_count {
        let key = r.string(&|| format!("key of metadata entry {i}"))?;
        let ty = r.u32(&|| format!("type of metadata `{key}`"))?;
        let value = r.value(ty, &|| format!("metadata `{key}`"), 0)?;
        metadata.push((key, value));
    }

    // A tensor info takes at least 8 (name length) + 4 + 4 + 8 bytes.
    let tensor_count = r.check_count(tensor_count, 24, "tensor count")?;
    let mut infos = Vec::with_capacity(tensor_count);
    for i in 0..tensor_count {
        let name = r.string(&|| format!("name of tensor {i}"))?;
        let n_dims = r.u32(&|| format!("dimension count of tensor `{name}`"))?;
        if n_dims > MAX_DIMS {
            return Err(WeightError::Absurd {
                path: path.to_path_buf(),
                what: format!("dimension count of tensor `{name}`"),
                count: n_dims.into(),
                limit: MAX_DIMS.into(),
            });
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for d in 0..n_dims {
            dims.push(r.u64(&|| format!("dimension {d} of tensor `{name}`"))?);
        }
        let ty = r.u32(&|| format!("type of tensor `{name}`"))?;
        let offset = r.u64(&|| format!("offset of tensor `{name}`"))?;
        infos.push((name, dims, ty, offset));
    }

    let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some((_, v)) => match v.as_u64() {
            Some(a) if a.is_power_of_two() => a,
            _ => return Err(r.malformed(format!("general.alignment {v:?} is not a power of two"))),
        },
    };
    let len = bytes.len() as u64;
    let data_start = (r.pos as u64).next_multiple_of(alignment);

    let mut entries = Vec::with_capacity(infos.len());
    for (name, dims, type_id, offset) in infos {
        let ty = GGML_TYPES.iter().find(|t| t.id == type_id).ok_or_else(|| {
            WeightError::UnknownType {
                path: path.to_path_buf(),
                tensor: name.clone(),
                type_id: type_id.into(),
            }
        })?;
        let mismatch = |what: String| WeightError::ShapeMismatch {
            path: path.to_path_buf(),
            tensor: name.clone(),
            what,
        };
        let numel = super::element_count(&dims)
            .ok_or_else(|| mismatch(format!("dimensions {dims:?} overflow")))?;
        // ggml requires whole blocks along the fastest dimension.
        let fastest = dims.first().copied().unwrap_or(1);
        if !fastest.is_multiple_of(ty.block_values) {
            return Err(mismatch(format!(
                "{} stores blocks of {} values but the fastest dimension is {fastest}",
                ty.name, ty.block_values
            )));
        }
        let nbytes = numel / ty.block_values * ty.block_bytes;
        if !offset.is_multiple_of(alignment) {
            return Err(r.malformed(format!(
                "tensor `{name}` offset {offset} is not a multiple of the alignment {alignment}"
            )));
        }
        let start = data_start.checked_add(offset);
        let end = start.and_then(|s| s.checked_add(nbytes));
        let (Some(start), Some(end)) = (start, end) else {
            return Err(WeightError::DataPastEnd {
                path: path.to_path_buf(),
                tensor: name,
                start: data_start.saturating_add(offset),
                end: u64::MAX,
                len,
            });
        };
        if end > len {
            return Err(WeightError::DataPastEnd {
                path: path.to_path_buf(),
                tensor: name,
                start,
                end,
                len,
            });
        }
        let encoding = encoding_of(ty);
        debug_assert!(
            dequant::block_layout(&encoding)
                .is_none_or(|(b, v)| b as u64 == ty.block_bytes && v as u64 == ty.block_values)
        );
        entries.push(Entry {
            shape: dims.iter().rev().map(|&d| d as usize).collect(),
            numel: numel as usize,
            name,
            encoding,
            start: start as usize,
            end: end as usize,
        });
    }
    Weights::from_parts(path, WeightFormat::Gguf(version), bytes, entries, metadata)
}
