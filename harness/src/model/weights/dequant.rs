//! Stored tensor bytes -> exact f64 values.
//!
//! GGML block layouts (little-endian, one block = 32 values):
//! * `Q8_0`: f16 `d`, 32 x i8 `q`; value `d * q`.
//! * `Q4_0`: f16 `d`, 16 bytes; low nibbles are values 0..16, high nibbles
//!   16..32; value `d * (q - 8)`.
//! * `Q4_1`: f16 `d`, f16 `m`, 16 bytes as in `Q4_0`; value `d * q + m`.
//! * `Q5_0`: f16 `d`, u32 `qh` (bit `j` is the fifth bit of value `j`), 16
//!   bytes of low nibbles as in `Q4_0`; value `d * (q - 16)`.
//! * `Q5_1`: f16 `d`, f16 `m`, u32 `qh`, 16 bytes; value `d * q + m`.
//!
//! Exactness: `d * q` has at most 11 + 8 significant bits; adding `m` spans
//! at most from f16's smallest subnormal (2^-24) to below 2^21, 45 bits: all
//! within f64's 53, so every value here is the exact real number the block
//! encodes.

use half::{bf16, f16};

use super::Encoding;

/// Why a tensor could not be decoded.
pub(crate) enum Problem {
    /// No decoder for this encoding.
    Unsupported,
    /// A value f64 cannot hold exactly, or bytes that disagree with the count.
    Value(String),
}

/// Bytes per block and values per block of a decoded encoding.
pub(crate) fn block_layout(e: &Encoding) -> Option<(usize, usize)> {
    Some(match e {
        Encoding::F64 | Encoding::I64 => (8, 1),
        Encoding::F32 | Encoding::I32 => (4, 1),
        Encoding::F16 | Encoding::BF16 | Encoding::I16 => (2, 1),
        Encoding::I8 | Encoding::U8 | Encoding::Bool => (1, 1),
        Encoding::Q4_0 => (18, 32),
        Encoding::Q4_1 => (20, 32),
        Encoding::Q5_0 => (22, 32),
        Encoding::Q5_1 => (24, 32),
        Encoding::Q8_0 => (34, 32),
        Encoding::Other(_) => return None,
    })
}

fn h(b: &[u8], at: usize) -> f64 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f64()
}

/// Decodes `numel` values from `bytes` (whose length the caller checked at open).
pub(crate) fn decode(e: &Encoding, bytes: &[u8], numel: usize) -> Result<Vec<f64>, Problem> {
    let (block_bytes, block_values) = block_layout(e).ok_or(Problem::Unsupported)?;
    if !numel.is_multiple_of(block_values)
        || (numel / block_values).checked_mul(block_bytes) != Some(bytes.len())
    {
        return Err(Problem::Value(format!(
            "{numel} values of {} need {} bytes, the file has {}",
            e.name(),
            (numel / block_values).saturating_mul(block_bytes),
            bytes.len()
        )));
    }
    let mut out = Vec::with_capacity(numel);
    let blocks = bytes.chunks_exact(block_bytes);
    match e {
        Encoding::F64 => out.extend(blocks.map(|b| f64::from_le_bytes(b.try_into().unwrap()))),
        Encoding::F32 => {
            out.extend(blocks.map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64))
        }
        Encoding::F16 => out.extend(blocks.map(|b| h(b, 0))),
        Encoding::BF16 => out.extend(blocks.map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f64())),
        Encoding::I64 => {
            for b in blocks {
                let v = i64::from_le_bytes(b.try_into().unwrap());
                if v.unsigned_abs() > 1 << 53 {
                    return Err(Problem::Value(format!("I64 value {v} is not exact in f64")));
                }
                out.push(v as f64);
            }
        }
        Encoding::I32 => {
            out.extend(blocks.map(|b| i32::from_le_bytes(b.try_into().unwrap()) as f64))
        }
        Encoding::I16 => out.extend(blocks.map(|b| i16::from_le_bytes([b[0], b[1]]) as f64)),
        Encoding::I8 => out.extend(blocks.map(|b| b[0] as i8 as f64)),
        Encoding::U8 => out.extend(blocks.map(|b| b[0] as f64)),
        Encoding::Bool => {
            for b in blocks {
                match b[0] {
                    0 | 1 => out.push(b[0] as f64),
                    v => return Err(Problem::Value(format!("BOOL byte {v} is neither 0 nor 1"))),
                }
            }
        }
        Encoding::Q8_0 => {
            for b in blocks {
                let d = h(b, 0);
                out.extend(b[2..34].iter().map(|&q| d * (q as i8) as f64));
            }
        }
        Encoding::Q4_0 => {
            for b in blocks {
                let d = h(b, 0);
                nibbles(&b[2..18], &mut out, |q| d * (q as f64 - 8.0));
            }
        }
        Encoding::Q4_1 => {
            for b in blocks {
                let (d, m) = (h(b, 0), h(b, 2));
                nibbles(&b[4..20], &mut out, |q| d * q as f64 + m);
            }
        }
        Encoding::Q5_0 => {
            for b in blocks {
                let d = h(b, 0);
                let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
                five_bits(&b[6..22], qh, &mut out, |q| d * (q as f64 - 16.0));
            }
        }
        Encoding::Q5_1 => {
            for b in blocks {
                let (d, m) = (h(b, 0), h(b, 2));
                let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
                five_bits(&b[8..24], qh, &mut out, |q| d * q as f64 + m);
            }
        }
        Encoding::Other(_) => return Err(Problem::Unsupported),
    }
    Ok(out)
}

/// 16 bytes -> 32 values: low nibbles first (values 0..16), then high nibbles.
fn nibbles(qs: &[u8], out: &mut Vec<f64>, value: impl Fn(u8) -> f64) {
    out.extend(qs.iter().map(|&q| value(q & 0x0f)));
    out.extend(qs.iter().map(|&q| value(q >> 4)));
}

/// As [`nibbles`], with bit `j` of `qh` as the fifth (0x10) bit of value `j`.
fn five_bits(qs: &[u8], qh: u32, out: &mut Vec<f64>, value: impl Fn(u8) -> f64) {
    let high = |j: usize| (((qh >> j) & 1) as u8) << 4;
    out.extend(
        qs.iter()
            .enumerate()
            .map(|(j, &q)| value((q & 0x0f) | high(j))),
    );
    out.extend(
        qs.iter()
            .enumerate()
            .map(|(j, &q)| value((q >> 4) | high(j + 16))),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16b(x: f32) -> [u8; 2] {
        f16::from_f32(x).to_le_bytes()
    }

    #[test]
    fn q4_1_is_exact_where_f32_would_round() {
        // d = 2^-24 (f16's smallest subnormal), m = 2048: 2048 + 2^-24 * q is
        // not an f32 (ulp 2^-12 there) but is exactly an f64.
        let mut b = vec![0x01, 0x00];
        b.extend(f16b(2048.0));
        b.extend([0x21u8; 16]); // low nibble 1, high nibble 2
        let v = match decode(&Encoding::Q4_1, &b, 32) {
            Ok(v) => v,
            Err(_) => panic!("decode failed"),
        };
        assert_eq!(v[0], 2048.0 + 2f64.powi(-24));
        assert_eq!(v[16], 2048.0 + 2.0 * 2f64.powi(-24));
        assert_ne!(v[0] as f32 as f64, v[0]);
    }

    #[test]
    fn q5_0_takes_the_fifth_bit_from_qh() {
        // d = 1, qh bit 0 and bit 16 set, all low nibbles 0x3, high 0x7
        let mut b = Vec::from(f16b(1.0));
        b.extend(0x0001_0001u32.to_le_bytes());
        b.extend([0x73u8; 16]);
        let v = match decode(&Encoding::Q5_0, &b, 32) {
            Ok(v) => v,
            Err(_) => panic!("decode failed"),
        };
        assert_eq!(v[0], (0x13 - 16) as f64); // 3
        assert_eq!(v[1], (0x03 - 16) as f64); // -13
        assert_eq!(v[16], (0x17 - 16) as f64); // 7
        assert_eq!(v[17], (0x07 - 16) as f64); // -9
    }

    #[test]
    fn byte_count_must_match() {
        assert!(matches!(
            decode(&Encoding::F32, &[0; 7], 2),
            Err(Problem::Value(_))
        ));
        assert!(matches!(
            decode(&Encoding::Q8_0, &[0; 34], 16),
            Err(Problem::Value(_))
        ));
        assert!(matches!(
            decode(&Encoding::Other("Q6_K".into()), &[], 0),
            Err(Problem::Unsupported)
        ));
    }
}
