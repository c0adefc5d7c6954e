//! Weight files of real checkpoints, read into exact f64 values.
//!
//! Two formats: safetensors (HF tensor names, next to a `config.json`) and
//! GGUF v2/v3 (llama.cpp, with quantized tensors). Both are parsed here, with
//! no format crate, so every malformed byte becomes a [`WeightError`] naming the
//! file and what is wrong; nothing on this path panics or allocates more than
//! the file's own size suggests.
//!
//! [`Weights::open_gguf`] / [`Weights::open_safetensors`] read the file once and
//! check the whole header (every tensor's type, shape and byte range) up front;
//! [`Weights::get`] decodes one tensor on demand. Dequantization is exact: a
//! GGUF block is `d * q` or `d * q + m` with f16 `d`, `m` and small integer
//! `q`, which f64 holds without rounding (ggml itself computes in f32, which
//! can round when `m` is much larger than `d`).
//!
//! Shapes are row-major, outermost first (PyTorch/HF order) in both formats:
//! GGUF lists dimensions fastest-first, so its dims are reversed here
//! (`token_embd.weight` with GGUF dims `[576, 49152]` is `[49152, 576]`).

mod dequant;
mod gguf;
mod safetensors;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use gguf::GgufValue;

/// One tensor, decoded into f64.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightTensor {
    /// The name in the file (`blk.0.attn_q.weight`, `encoder.layer.0...`).
    pub name: String,
    /// Row-major, outermost first (HF/PyTorch order); `[]` for a scalar.
    pub shape: Vec<usize>,
    /// The encoding in the file: `F32`, `F16`, `BF16`, `Q8_0`, `Q4_1`, `I64`...
    pub source_dtype: String,
    /// The values, row-major, exactly as the file encodes them.
    pub data: Vec<f64>,
}

impl WeightTensor {
    /// Number of elements (product of `shape`).
    pub fn numel(&self) -> usize {
        self.data.len()
    }
}

/// Which container a [`Weights`] was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// llama.cpp's GGUF; the value is the version (2 or 3).
    Gguf(u32),
    /// Hugging Face safetensors.
    Safetensors,
}

/// How a tensor's elements are stored in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Encoding {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    /// Known to the format (so its size is known) but not decoded here.
    Other(String),
}

impl Encoding {
    pub(crate) fn name(&self) -> &str {
        match self {
            Encoding::F64 => "F64",
            Encoding::F32 => "F32",
            Encoding::F16 => "F16",
            Encoding::BF16 => "BF16",
            Encoding::I64 => "I64",
            Encoding::I32 => "I32",
            Encoding::I16 => "I16",
            Encoding::I8 => "I8",
            Encoding::U8 => "U8",
            Encoding::Bool => "BOOL",
            Encoding::Q4_0 => "Q4_0",
            Encoding::Q4_1 => "Q4_1",
            Encoding::Q5_0 => "Q5_0",
            Encoding::Q5_1 => "Q5_1",
            Encoding::Q8_0 => "Q8_0",
            Encoding::Other(name) => name,
        }
    }
}

/// The encodings [`Weights::get`] decodes, for error messages.
pub const DECODED_TYPES: &str =
    "F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0";

/// One tensor's header entry, checked against the file at open.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub name: String,
    pub shape: Vec<usize>,
    /// Product of `shape`, computed with overflow checks at open (a zero
    /// dimension next to huge ones must not overflow a later product).
    pub numel: usize,
    pub encoding: Encoding,
    /// Absolute byte range in the file (end checked against the file length).
    pub start: usize,
    pub end: usize,
}

/// A weight file, read once; tensors are decoded on demand by [`Weights::get`].
#[derive(Debug)]
pub struct Weights {
    path: PathBuf,
    format: WeightFormat,
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
    metadata: Vec<(String, GgufValue)>,
    metadata_index: HashMap<String, usize>,
}

impl Weights {
    /// Reads and checks a GGUF (v2 or v3) file.
    pub fn open_gguf(path: impl AsRef<Path>) -> Result<Weights, WeightError> {
        let path = path.as_ref();
        let bytes = read_file(path)?;
        gguf::parse(path, bytes)
    }

    /// Reads and checks a safetensors file. Its `__metadata__` strings are
    /// available through [`Weights::metadata`] as [`GgufValue::String`].
    pub fn open_safetensors(path: impl AsRef<Path>) -> Result<Weights, WeightError> {
        let path = path.as_ref();
        let bytes = read_file(path)?;
        safetensors::parse(path, bytes)
    }

    /// Parses GGUF bytes already in memory; `name` stands for the file in
    /// error messages (for fuzzing and tests that corrupt files by the thousand).
    pub fn gguf_from_bytes(name: impl AsRef<Path>, bytes: Vec<u8>) -> Result<Weights, WeightError> {
        gguf::parse(name.as_ref(), bytes)
    }

    /// Parses safetensors bytes already in memory; `name` as in [`Weights::gguf_from_bytes`].
    /// [`Weights::config_json`] looks next to `name`.
    pub fn safetensors_from_bytes(
        name: impl AsRef<Path>,
        bytes: Vec<u8>,
    ) -> Result<Weights, WeightError> {
        safetensors::parse(name.as_ref(), bytes)
    }

    /// Opens either format, chosen by the file's first bytes (`GGUF` magic or not).
    pub fn open(path: impl AsRef<Path>) -> Result<Weights, WeightError> {
        let path = path.as_ref();
        let bytes = read_file(path)?;
        if bytes.starts_with(gguf::MAGIC) {
            gguf::parse(path, bytes)
        } else {
            safetensors::parse(path, bytes)
        }
    }

    pub(crate) fn from_parts(
        path: &Path,
        format: WeightFormat,
        bytes: Vec<u8>,
        entries: Vec<Entry>,
        metadata: Vec<(String, GgufValue)>,
    ) -> Result<Weights, WeightError> {
        let mut index = HashMap::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            if index.insert(e.name.clone(), i).is_some() {
                return Err(WeightError::Malformed {
                    path: path.to_path_buf(),
                    what: format!("tensor name `{}` appears twice", e.name),
                });
            }
        }
        let mut metadata_index = HashMap::with_capacity(metadata.len());
        for (i, (k, _)) in metadata.iter().enumerate() {
            if metadata_index.insert(k.clone(), i).is_some() {
                return Err(WeightError::Malformed {
                    path: path.to_path_buf(),
                    what: format!("metadata key `{k}` appears twice"),
                });
            }
        }
        Ok(Weights {
            path: path.to_path_buf(),
            format,
            bytes,
            entries,
            index,
            metadata,
            metadata_index,
        })
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// GGUF (with its version) or safetensors.
    pub fn format(&self) -> WeightFormat {
        self.format
    }

    /// Number of tensors in the file.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the file holds no tensor.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Tensor names in file order (GGUF: header order; safetensors: data order).
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }

    /// True when the file has a tensor of this name.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Shape of a tensor, outermost first, without decoding it.
    pub fn shape(&self, name: &str) -> Result<&[usize], WeightError> {
        Ok(&self.entry(name)?.shape)
    }

    /// Encoding of a tensor in the file (`F32`, `Q4_1`, ...), without decoding it.
    pub fn source_dtype(&self, name: &str) -> Result<&str, WeightError> {
        Ok(self.entry(name)?.encoding.name())
    }

    /// Decodes one tensor into exact f64 values.
    pub fn get(&self, name: &str) -> Result<WeightTensor, WeightError> {
        let e = self.entry(name)?;
        let data = dequant::decode(&e.encoding, &self.bytes[e.start..e.end], e.numel).map_err(
            |problem| match problem {
                dequant::Problem::Unsupported => WeightError::UnsupportedType {
                    path: self.path.clone(),
                    tensor: e.name.clone(),
                    type_name: e.encoding.name().to_string(),
                },
                dequant::Problem::Value(what) => WeightError::ShapeMismatch {
                    path: self.path.clone(),
                    tensor: e.name.clone(),
                    what,
                },
            },
        )?;
        Ok(WeightTensor {
            name: e.name.clone(),
            shape: e.shape.clone(),
            source_dtype: e.encoding.name().to_string(),
            data,
        })
    }

    /// Metadata keys in file order (GGUF key/values; safetensors `__metadata__`).
    pub fn metadata_keys(&self) -> Vec<&str> {
        self.metadata.iter().map(|(k, _)| k.as_str()).collect()
    }

    /// One metadata value (`llama.block_count`, `general.architecture`, ...).
    pub fn metadata(&self, key: &str) -> Option<&GgufValue> {
        self.metadata_index.get(key).map(|&i| &self.metadata[i].1)
    }

    /// A metadata value as u64: any integer type that is not negative.
    pub fn meta_u64(&self, key: &str) -> Option<u64> {
        self.metadata(key)?.as_u64()
    }

    /// A metadata value as f64: any float, or an integer f64 holds exactly.
    pub fn meta_f64(&self, key: &str) -> Option<f64> {
        self.metadata(key)?.as_f64()
    }

    /// A metadata value that is a string.
    pub fn meta_str(&self, key: &str) -> Option<&str> {
        self.metadata(key)?.as_str()
    }

    /// The `config.json` next to the weight file (HF checkpoints keep the
    /// architecture there).
    pub fn config_json(&self) -> Result<serde_json::Value, WeightError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        read_config_json(&dir.join("config.json"))
    }

    fn entry(&self, name: &str) -> Result<&Entry, WeightError> {
        match self.index.get(name) {
            Some(&i) => Ok(&self.entries[i]),
            None => Err(WeightError::NotFound {
                path: self.path.clone(),
                name: name.to_string(),
                suggestions: close_names(name, self.entries.iter().map(|e| e.name.as_str())),
            }),
        }
    }
}

/// Product of the dimensions, `None` when it overflows or exceeds what a
/// `Vec<f64>` could hold. A zero dimension makes it 0 whatever the others
/// are (the same answer in any dimension order).
pub(crate) fn element_count(dims: &[u64]) -> Option<u64> {
    if dims.contains(&0) {
        return Some(0);
    }
    dims.iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= usize::MAX as u64 / 8)
}

/// Reads a HF `config.json` into a JSON value.
pub fn read_config_json(path: &Path) -> Result<serde_json::Value, WeightError> {
    let text = std::fs::read_to_string(path).map_err(|source| WeightError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| WeightError::Malformed {
        path: path.to_path_buf(),
        what: format!("not valid JSON: {e}"),
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>, WeightError> {
    std::fs::read(path).map_err(|source| WeightError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Up to three names close to `wanted` (edit distance, or containing it).
fn close_names<'a>(wanted: &str, names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let limit = (wanted.chars().count() / 3).max(3);
    let mut scored: Vec<(usize, &str)> = names
        .filter_map(|n| {
            let d = edit_distance(wanted, n);
            if d <= limit || (wanted.len() >= 4 && n.contains(wanted)) {
                Some((d, n))
            } else {
                None
            }
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(3)
        .map(|(_, n)| n.to_string())
        .collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Undoes the row permutation llama.cpp's converter applies to Llama's
/// `attn_q` / `attn_k` weights, giving the Hugging Face layout.
///
/// Direction: HF -> GGUF is [`permute_llama_qk`]; this is GGUF -> HF. Pass
/// `n_head = head_count` for Q and `n_head = head_count_kv` for K.
///
/// Why: HF's RoPE (`rotate_half`) pairs element `i` of a head with element
/// `i + head_dim/2`; llama.cpp's pairs `2i` with `2i + 1`. The converter moves
/// rows so llama.cpp's pairing sees HF's pairs: the GGUF tensor (rows =
/// `n_head * head_dim`, cols = `in`) viewed as `(n_head, head_dim/2, 2, in)`,
/// with axes 1 and 2 swapped, is the HF tensor. Row `h*hd + t*hd/2 + i` of the
/// result is row `h*hd + 2i + t` of `w` (`t` in {0, 1}, `i < hd/2`).
pub fn unpermute_llama_qk(w: &WeightTensor, n_head: usize) -> Result<WeightTensor, WeightError> {
    permute_rows(w, n_head, |h, hd, t, i| {
        (h * hd + t * hd / 2 + i, h * hd + 2 * i + t)
    })
}

/// The converter's permutation, HF -> GGUF (the inverse of
/// [`unpermute_llama_qk`]): row `h*hd + 2i + t` of the result is row
/// `h*hd + t*hd/2 + i` of `w`. As in llama.cpp's `convert_hf_to_gguf.py`,
/// the HF tensor viewed as `(n_head, 2, head_dim/2, in)` with axes 1 and 2
/// swapped.
pub fn permute_llama_qk(w: &WeightTensor, n_head: usize) -> Result<WeightTensor, WeightError> {
    permute_rows(w, n_head, |h, hd, t, i| {
        (h * hd + 2 * i + t, h * hd + t * hd / 2 + i)
    })
}

/// Moves rows: `map(h, head_dim, t, i)` gives (destination row, source row).
fn permute_rows(
    w: &WeightTensor,
    n_head: usize,
    map: impl Fn(usize, usize, usize, usize) -> (usize, usize),
) -> Result<WeightTensor, WeightError> {
    let fail = |what: String| WeightError::Permute {
        tensor: w.name.clone(),
        shape: w.shape.clone(),
        n_head,
        what,
    };
    let [rows, cols] = w.shape[..] else {
        return Err(fail("the tensor is not 2-D".into()));
    };
    if n_head == 0 || !rows.is_multiple_of(2 * n_head) {
        return Err(fail(format!(
            "{rows} rows are not a multiple of 2 * n_head"
        )));
    }
    if rows.checked_mul(cols) != Some(w.data.len()) {
        return Err(fail(format!("{} values for the shape", w.data.len())));
    }
    let hd = rows / n_head;
    let mut data = vec![0.0; w.data.len()];
    for h in 0..n_head {
        for t in 0..2 {
            for i in 0..hd / 2 {
                let (dst, src) = map(h, hd, t, i);
                data[dst * cols..(dst + 1) * cols]
                    .copy_from_slice(&w.data[src * cols..(src + 1) * cols]);
            }
        }
    }
    Ok(WeightTensor {
        name: w.name.clone(),
        shape: w.shape.clone(),
        source_dtype: w.source_dtype.clone(),
        data,
    })
}

/// Everything that can be wrong with a weight file; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum WeightError {
    /// The file cannot be read.
    #[error("{}: cannot read: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file does not start like the format it was opened as.
    #[error("{}: not a {format} file ({found})", .path.display())]
    BadMagic {
        path: PathBuf,
        format: &'static str,
        found: String,
    },
    /// A GGUF version this reader does not know.
    #[error("{}: unsupported GGUF version {version} (supported: 2, 3){}", .path.display(),
        if *.version > 0xffff { " (a big-endian file?)" } else { "" })]
    UnsupportedVersion { path: PathBuf, version: u32 },
    /// The header ends before something it announces.
    #[error("{}: truncated header: {what} needs bytes {start}..{end}, the file has {len}", .path.display())]
    Truncated {
        path: PathBuf,
        what: String,
        start: u64,
        end: u64,
        len: u64,
    },
    /// A count or length too large to be real (a corrupted header); refused
    /// before allocating.
    #[error("{}: {what} is {count}, more than {limit} (corrupted header?)", .path.display())]
    Absurd {
        path: PathBuf,
        what: String,
        count: u64,
        limit: u64,
    },
    /// A string in the header is not UTF-8.
    #[error("{}: {what} is not valid UTF-8", .path.display())]
    BadUtf8 { path: PathBuf, what: String },
    /// The header is readable but inconsistent.
    #[error("{}: malformed header: {what}", .path.display())]
    Malformed { path: PathBuf, what: String },
    /// A tensor's bytes extend past the end of the file.
    #[error("{}: tensor `{tensor}`: data bytes {start}..{end} lie past the end of the file ({len} bytes)", .path.display())]
    DataPastEnd {
        path: PathBuf,
        tensor: String,
        start: u64,
        end: u64,
        len: u64,
    },
    /// A GGUF tensor type number this reader does not know (so its size is unknown).
    #[error("{}: tensor `{tensor}`: unknown GGML type number {type_id}", .path.display())]
    UnknownType {
        path: PathBuf,
        tensor: String,
        type_id: u64,
    },
    /// A known type that [`Weights::get`] does not decode.
    #[error("{}: tensor `{tensor}`: type {type_name} is not decoded (decoded: {DECODED_TYPES})", .path.display())]
    UnsupportedType {
        path: PathBuf,
        tensor: String,
        type_name: String,
    },
    /// No tensor of that name.
    #[error("{}: no tensor named `{name}`{}", .path.display(), did_you_mean(.suggestions))]
    NotFound {
        path: PathBuf,
        name: String,
        suggestions: Vec<String>,
    },
    /// A tensor's shape disagrees with its type or its byte size.
    #[error("{}: tensor `{tensor}`: {what}", .path.display())]
    ShapeMismatch {
        path: PathBuf,
        tensor: String,
        what: String,
    },
    /// [`unpermute_llama_qk`] / [`permute_llama_qk`] given a tensor that cannot be permuted.
    #[error(
        "tensor `{tensor}` {shape:?}: cannot apply the llama Q/K row permutation with n_head = {n_head}: {what}"
    )]
    Permute {
        tensor: String,
        shape: Vec<usize>,
        n_head: usize,
        what: String,
    },
}

fn did_you_mean(s: &[String]) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!(
            " (did you mean {}?)",
            s.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(name: &str, rows: usize, cols: usize) -> WeightTensor {
        WeightTensor {
            name: name.into(),
            shape: vec![rows, cols],
            source_dtype: "F32".into(),
            // value = 100 * row + col, so a row is recognisable by its values
            data: (0..rows * cols)
                .map(|k| (100 * (k / cols) + k % cols) as f64)
                .collect(),
        }
    }

    fn row_ids(w: &WeightTensor) -> Vec<usize> {
        let cols = w.shape[1];
        (0..w.shape[0])
            .map(|r| (w.data[r * cols] / 100.0) as usize)
            .collect()
    }

    #[test]
    fn permute_matches_a_hand_built_llama_cpp_permutation() {
        // 2 heads of head_dim 4. HF pairs (0,2), (1,3) within a head; the
        // converter makes them adjacent: GGUF rows are HF rows 0,2,1,3 | 4,6,5,7.
        let hf = rows("q", 8, 3);
        let gguf = permute_llama_qk(&hf, 2).unwrap();
        assert_eq!(row_ids(&gguf), vec![0, 2, 1, 3, 4, 6, 5, 7]);
        // head_dim 6, one head: pairs (0,3), (1,4), (2,5)
        let gguf6 = permute_llama_qk(&rows("k", 6, 2), 1).unwrap();
        assert_eq!(row_ids(&gguf6), vec![0, 3, 1, 4, 2, 5]);
        assert_eq!(
            row_ids(&unpermute_llama_qk(&gguf6, 1).unwrap()),
            vec![0, 1, 2, 3, 4, 5]
        );
    }

    #[test]
    fn unpermute_inverts_permute() {
        // 9 heads of head_dim 64, like SmolLM2's Q; 3 heads like its K
        for (n_head, r) in [(9, 576), (3, 192), (2, 8)] {
            let hf = rows("w", r, 5);
            let back = unpermute_llama_qk(&permute_llama_qk(&hf, n_head).unwrap(), n_head).unwrap();
            assert_eq!(back, hf);
            let gguf = permute_llama_qk(&hf, n_head).unwrap();
            assert_ne!(gguf.data, hf.data);
        }
    }

    #[test]
    fn unpermute_refuses_impossible_shapes() {
        let err = unpermute_llama_qk(&rows("q", 6, 2), 2)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("6 rows are not a multiple of 2 * n_head"),
            "{err}"
        );
        let err = unpermute_llama_qk(&rows("q", 6, 2), 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("n_head = 0"), "{err}");
        let mut v = rows("v", 4, 2);
        v.shape = vec![8];
        assert!(
            unpermute_llama_qk(&v, 1)
                .unwrap_err()
                .to_string()
                .contains("not 2-D")
        );
    }

    #[test]
    fn close_names_suggests_near_misses() {
        let names = [
            "blk.0.attn_q.weight",
            "blk.0.attn_k.weight",
            "token_embd.weight",
        ];
        assert_eq!(
            close_names("blk.0.attn_q.weigth", names.iter().copied()),
            vec!["blk.0.attn_q.weight", "blk.0.attn_k.weight"]
        );
        assert!(close_names("zzzzzzzzzzz", names.iter().copied()).is_empty());
        assert_eq!(
            close_names("token_embd", names.iter().copied()),
            vec!["token_embd.weight"]
        );
    }
}
