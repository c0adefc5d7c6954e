//! The outputs of both paths of a model case, written for anyone who wants
//! to compare them with another framework: `.npy` (f64, little-endian) and
//! a JSON of the tokens and the per-layer error profile.

use std::io::Write;
use std::path::Path;

use super::run::PathOutput;
use crate::numerics::npy;

/// Writes a 2-D f64 array as `.npy` (see [`crate::numerics::npy`]).
pub fn write_npy(path: &Path, rows: &[Vec<f64>]) -> std::io::Result<()> {
    let cols = rows.first().map_or(0, Vec::len);
    if rows.iter().any(|r| r.len() != cols) {
        return Err(std::io::Error::other("rows of different lengths"));
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(&npy::header("<f8", &[rows.len(), cols]))?;
    for r in rows {
        f.write_all(&npy::f64_data(r))?;
    }
    f.flush()
}

/// Writes `oracle.npy`, `backend.npy` and `paths.json` into `dir`;
/// `profile` is the per-layer relative L2 error the case was judged by.
pub fn write(
    dir: &Path,
    oracle: &PathOutput,
    backend: &PathOutput,
    profile: &[(String, f64)],
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    write_npy(&dir.join("oracle.npy"), &oracle.outputs)?;
    write_npy(&dir.join("backend.npy"), &backend.outputs)?;
    let profile: Vec<serde_json::Value> = profile
        .iter()
        .map(|(label, e)| serde_json::json!({ "label": label, "rel_l2": e }))
        .collect();
    let doc = serde_json::json!({
        "oracle_tokens": oracle.tokens,
        "backend_argmax": backend.tokens,
        "layer_profile": profile,
        "prefill_seconds": backend.prefill_s,
        "decode_seconds": backend.decode_s,
        "op_seconds": backend.times.seconds,
        "op_calls": backend.times.calls,
    });
    std::fs::write(dir.join("paths.json"), serde_json::to_vec_pretty(&doc)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned_and_sized() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.npy");
        write_npy(&p, &[vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]]).unwrap();
        let b = std::fs::read(&p).unwrap();
        let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        assert_eq!(b.len(), 10 + hlen + 6 * 8);
        assert!(
            std::str::from_utf8(&b[10..10 + hlen])
                .unwrap()
                .contains("(2, 3)")
        );
        assert_eq!(
            f64::from_le_bytes(b[10 + hlen..18 + hlen].try_into().unwrap()),
            1.0
        );
    }
}
