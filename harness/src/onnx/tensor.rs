//! `TensorProto` decoded: a tensor's element type, dims and its elements in
//! one layout (little-endian fixed-width bytes, as `raw_data` has them),
//! whichever field the file used; strings kept apart.

use std::path::{Component, Path};

use super::proto::{DataLocation, TensorProto};
use super::{OnnxError, Result};
use crate::numerics::{DType, read_element};

/// The `TensorProto.DataType` code of `STRING`.
const STRING: i32 = 8;

/// Bits per element of an ONNX data type code, `None` for `UNDEFINED`,
/// `STRING` and unknown codes. 4-bit and 2-bit types are packed into bytes
/// (low bits first), as `raw_data` and `int32_data` both hold them.
pub fn element_bits(code: i32) -> Option<usize> {
    Some(match code {
        2 | 3 | 9 | 17..=20 | 24 => 8, // u8 i8 bool fp8 e8m0
        4 | 5 | 10 | 16 => 16,         // u16 i16 f16 bf16
        1 | 6 | 12 => 32,              // f32 i32 u32
        7 | 11 | 13 | 14 => 64,        // i64 f64 u64 complex64
        15 => 128,                     // complex128
        21..=23 => 4,                  // u4 i4 f4e2m1
        25 | 26 => 2,                  // u2 i2
        _ => return None,
    })
}

/// The name ONNX gives a data type code (`FLOAT`, `BFLOAT16`), for messages.
pub fn data_type_name(code: i32) -> String {
    let name = match code {
        0 => "UNDEFINED",
        1 => "FLOAT",
        2 => "UINT8",
        3 => "INT8",
        4 => "UINT16",
        5 => "INT16",
        6 => "INT32",
        7 => "INT64",
        8 => "STRING",
        9 => "BOOL",
        10 => "FLOAT16",
        11 => "DOUBLE",
        12 => "UINT32",
        13 => "UINT64",
        14 => "COMPLEX64",
        15 => "COMPLEX128",
        16 => "BFLOAT16",
        17 => "FLOAT8E4M3FN",
        18 => "FLOAT8E4M3FNUZ",
        19 => "FLOAT8E5M2",
        20 => "FLOAT8E5M2FNUZ",
        21 => "UINT4",
        22 => "INT4",
        23 => "FLOAT4E2M1",
        24 => "FLOAT8E8M0",
        25 => "UINT2",
        26 => "INT2",
        _ => return format!("data type {code}"),
    };
    name.to_string()
}

/// A decoded tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// `TensorProto.name` (may be empty).
    pub name: String,
    /// The `TensorProto.DataType` code (xpucert's `DType::code` where it
    /// has the type).
    pub data_type: i32,
    /// Dimensions (`[]` is a scalar).
    pub dims: Vec<usize>,
    /// The elements: little-endian fixed-width bytes, row-major, sub-byte
    /// types packed low bits first; empty for strings.
    pub bytes: Vec<u8>,
    /// The elements of a `STRING` tensor.
    pub strings: Vec<Vec<u8>>,
}

impl Tensor {
    /// Number of elements (the product of the dims).
    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }

    /// The xpucert dtype of the tensor, if xpucert has it.
    pub fn dtype(&self) -> Option<DType> {
        DType::from_code(self.data_type)
    }

    /// The elements as f64 (exact for every float dtype and for integers
    /// below 2^53), row-major. An error when xpucert has no dtype for the
    /// data type, or when it has one of another element width than the
    /// file's (a packed type that the harness stores unpacked).
    pub fn to_f64(&self) -> Result<Vec<f64>> {
        let dtype = self.dtype().ok_or_else(|| {
            OnnxError::Unsupported(format!(
                "tensor `{}` has data type {}, which xpucert has no dtype for",
                self.name,
                data_type_name(self.data_type)
            ))
        })?;
        if element_bits(self.data_type) != Some(dtype.bits()) {
            return Err(OnnxError::Unsupported(format!(
                "tensor `{}`: data type {} has another element width in xpucert",
                self.name,
                data_type_name(self.data_type)
            )));
        }
        // ONNX packs 4- and 2-bit types lowest bits first, as xpucert's
        // buffers do.
        Ok((0..self.numel())
            .map(|i| read_element(dtype, &self.bytes, i))
            .collect())
    }

    /// Decodes a `TensorProto` whose data is inside it. A tensor with
    /// external data is an error here; [`Tensor::decode_with_external`]
    /// reads it.
    pub fn decode(p: &TensorProto) -> Result<Tensor> {
        Tensor::decode_inner(p, None)
    }

    /// Decodes a `TensorProto`, reading external data from files under
    /// `dir` (the directory of the model file). A `location` that leaves
    /// `dir` (absolute, or with `..`) is refused.
    pub fn decode_with_external(p: &TensorProto, dir: &Path) -> Result<Tensor> {
        Tensor::decode_inner(p, Some(dir))
    }

    fn decode_inner(p: &TensorProto, dir: Option<&Path>) -> Result<Tensor> {
        let name = p.name.clone();
        let bad = |m: String| OnnxError::Malformed(format!("tensor `{name}`: {m}"));
        let mut dims = Vec::with_capacity(p.dims.len());
        for &d in &p.dims {
            dims.push(usize::try_from(d).map_err(|_| bad(format!("negative dimension {d}")))?);
        }
        let numel = dims
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| bad(format!("dims {dims:?} overflow")))?;
        let mut t = Tensor {
            name: name.clone(),
            data_type: p.data_type,
            dims,
            bytes: Vec::new(),
            strings: Vec::new(),
        };
        if p.data_type == STRING {
            if p.string_data.len() != numel {
                return Err(bad(format!(
                    "{} strings for {numel} elements",
                    p.string_data.len()
                )));
            }
            t.strings = p.string_data.clone();
            return Ok(t);
        }
        let bits = element_bits(p.data_type).ok_or_else(|| {
            OnnxError::Unsupported(format!(
                "tensor `{name}` has data type {}",
                data_type_name(p.data_type)
            ))
        })?;
        let want = (numel * bits).div_ceil(8);
        t.bytes = if p.data_location == DataLocation::External as i32 {
            let dir = dir.ok_or_else(|| {
                OnnxError::Unsupported(format!(
                    "tensor `{name}` keeps its data in an external file; read it with decode_with_external"
                ))
            })?;
            read_external(p, dir).map_err(bad)?
        } else if !p.raw_data.is_empty() {
            p.raw_data.clone()
        } else {
            typed_bytes(p, bits)
        };
        if t.bytes.len() != want {
            return Err(bad(format!(
                "{} bytes of {} data for {numel} elements (want {want})",
                t.bytes.len(),
                data_type_name(p.data_type)
            )));
        }
        Ok(t)
    }
}

/// The elements of a tensor held in its typed field, as raw bytes.
fn typed_bytes(p: &TensorProto, bits: usize) -> Vec<u8> {
    let mut out = Vec::new();
    match p.data_type {
        // FLOAT, COMPLEX64
        1 | 14 => p
            .float_data
            .iter()
            .for_each(|v| out.extend(v.to_le_bytes())),
        // INT64
        7 => p
            .int64_data
            .iter()
            .for_each(|v| out.extend(v.to_le_bytes())),
        // DOUBLE, COMPLEX128
        11 | 15 => p
            .double_data
            .iter()
            .for_each(|v| out.extend(v.to_le_bytes())),
        // UINT32, UINT64: the low bytes of each uint64
        12 | 13 => {
            let n = bits / 8;
            p.uint64_data
                .iter()
                .for_each(|v| out.extend(&v.to_le_bytes()[..n]));
        }
        // Everything else of a byte or more keeps one element per int32
        // (its bits, for the 16- and 8-bit floats); sub-byte types one
        // packed byte per int32.
        _ => {
            let n = bits.div_ceil(8).min(4);
            p.int32_data
                .iter()
                .for_each(|v| out.extend(&v.to_le_bytes()[..n]));
        }
    }
    out
}

/// Reads external data: `location` under `dir`, from `offset`, `length`
/// bytes (default: to the end of the file).
fn read_external(p: &TensorProto, dir: &Path) -> std::result::Result<Vec<u8>, String> {
    use std::io::{Read, Seek, SeekFrom};
    let get = |k: &str| {
        p.external_data
            .iter()
            .find(|e| e.key == k)
            .map(|e| e.value.as_str())
    };
    let location = get("location").ok_or("external data without a `location`")?;
    let rel = Path::new(location);
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(format!(
            "external data location `{location}` leaves the model's directory"
        ));
    }
    let num = |k: &str| -> std::result::Result<Option<u64>, String> {
        get(k)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| format!("external data {k} `{v}` is not a byte count"))
            })
            .transpose()
    };
    let offset = num("offset")?.unwrap_or(0);
    let path = dir.join(rel);
    let shown = path.display();
    let mut f = std::fs::File::open(&path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let size = f
        .metadata()
        .map_err(|e| format!("cannot read {shown}: {e}"))?
        .len();
    let length = num("length")?.unwrap_or(size.saturating_sub(offset));
    if offset.checked_add(length).is_none_or(|end| end > size) {
        return Err(format!(
            "offset {offset} + length {length} is past the end of {shown} ({size} bytes)"
        ));
    }
    let mut out = vec![0u8; usize::try_from(length).map_err(|_| "length too large")?];
    f.seek(SeekFrom::Start(offset))
        .and_then(|_| f.read_exact(&mut out))
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    Ok(out)
}
