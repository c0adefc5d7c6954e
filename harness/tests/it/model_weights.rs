//! Weight-file loaders (`xpucert::model::weights`): exact dequantization of
//! every decoded GGUF type on small files built here with hand-computed
//! values, clean errors on truncated and corrupted files, and the two real
//! checkpoints of the model suites (fetched by `fixtures/fetch-models.sh`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use xpucert::model::weights::{GgufValue, WeightError, WeightFormat, Weights, unpermute_llama_qk};

// ---------------------------------------------------------------- writers

/// A GGUF writer for tests: metadata as raw (key, type, value bytes).
struct GgufBuilder {
    version: u32,
    alignment: usize,
    kvs: Vec<(String, u32, Vec<u8>)>,
    /// name, dims fastest-first, GGML type number, data bytes
    tensors: Vec<(String, Vec<u64>, u32, Vec<u8>)>,
}

fn gstr(s: &str) -> Vec<u8> {
    let mut v = (s.len() as u64).to_le_bytes().to_vec();
    v.extend(s.as_bytes());
    v
}

impl GgufBuilder {
    fn new() -> Self {
        GgufBuilder {
            version: 3,
            alignment: 32,
            kvs: Vec::new(),
            tensors: Vec::new(),
        }
    }

    fn kv(mut self, key: &str, ty: u32, value: Vec<u8>) -> Self {
        self.kvs.push((key.into(), ty, value));
        self
    }

    fn tensor(mut self, name: &str, dims: &[u64], ty: u32, data: Vec<u8>) -> Self {
        self.tensors.push((name.into(), dims.to_vec(), ty, data));
        self
    }

    fn build(&self) -> Vec<u8> {
        let mut f = b"GGUF".to_vec();
        f.extend(self.version.to_le_bytes());
        f.extend((self.tensors.len() as u64).to_le_bytes());
        f.extend((self.kvs.len() as u64).to_le_bytes());
        for (k, ty, v) in &self.kvs {
            f.extend(gstr(k));
            f.extend(ty.to_le_bytes());
            f.extend(v);
        }
        let mut offset = 0usize;
        let mut offsets = Vec::new();
        for (name, dims, ty, data) in &self.tensors {
            f.extend(gstr(name));
            f.extend((dims.len() as u32).to_le_bytes());
            for d in dims {
                f.extend(d.to_le_bytes());
            }
            f.extend(ty.to_le_bytes());
            f.extend((offset as u64).to_le_bytes());
            offsets.push(offset);
            offset = (offset + data.len()).next_multiple_of(self.alignment);
        }
        let data_start = f.len().next_multiple_of(self.alignment);
        for ((_, _, _, data), off) in self.tensors.iter().zip(offsets) {
            f.resize(data_start + off, 0);
            f.extend(data);
        }
        f
    }
}

fn f16b(bits: u16) -> [u8; 2] {
    bits.to_le_bytes()
}

/// A safetensors file from (name, dtype, shape, bytes).
fn safetensors_file(tensors: &[(&str, &str, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
    let mut data: Vec<u8> = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [data.len(), data.len() + bytes.len()]}),
        );
        data.extend(bytes);
    }
    let h = serde_json::to_vec(&header).unwrap();
    let mut f = (h.len() as u64).to_le_bytes().to_vec();
    f.extend(h);
    f.extend(data);
    f
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

// ------------------------------------------------------- the quant blocks

/// Q8_0, d = 0.5 (f16 0x3800), q = -128, -1, 0, 1, 127, then q = j - 16.
fn q8_0_block() -> (Vec<u8>, Vec<f64>) {
    let mut q: Vec<i8> = vec![-128, -1, 0, 1, 127];
    q.extend((5..32).map(|j| j as i8 - 16));
    let mut b = f16b(0x3800).to_vec();
    b.extend(q.iter().map(|&x| x as u8));
    let mut want = vec![-64.0, -0.5, 0.0, 0.5, 63.5];
    want.extend((5..32).map(|j| (j as f64 - 16.0) * 0.5));
    (b, want)
}

/// Q4_0, d = 0.25 (0x3400); byte j holds low nibble j and high nibble 15 - j:
/// value j is (j - 8) / 4, value 16 + j is (7 - j) / 4.
fn q4_0_block() -> (Vec<u8>, Vec<f64>) {
    let mut b = f16b(0x3400).to_vec();
    b.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
    let mut want: Vec<f64> = (0..16).map(|j| (j as f64 - 8.0) * 0.25).collect();
    want.extend((0..16).map(|j| (7.0 - j as f64) * 0.25));
    assert_eq!(&want[..3], &[-2.0, -1.75, -1.5]);
    assert_eq!(want[16], 1.75);
    (b, want)
}

/// Two Q4_1 blocks. First: d = 0.5 (0x3800), m = -1.25 (0xBD00), nibbles as
/// in Q4_0: value j is j/2 - 1.25, value 16 + j is (15 - j)/2 - 1.25.
/// Second: d = 2^-24 (0x0001, the smallest f16 subnormal), m = 2048 (0x6800),
/// every nibble 1: 2048 + 2^-24, which an f32 computation rounds to 2048.
fn q4_1_blocks() -> (Vec<u8>, Vec<f64>) {
    let mut b = f16b(0x3800).to_vec();
    b.extend(f16b(0xBD00));
    b.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
    let mut want: Vec<f64> = (0..16).map(|j| j as f64 * 0.5 - 1.25).collect();
    want.extend((0..16).map(|j| (15 - j) as f64 * 0.5 - 1.25));
    assert_eq!(&want[..3], &[-1.25, -0.75, -0.25]);
    assert_eq!(want[31], -1.25);
    b.extend(f16b(0x0001));
    b.extend(f16b(0x6800));
    b.extend([0x11u8; 16]);
    want.extend([2048.0 + 2f64.powi(-24); 32]); // exact in f64
    (b, want)
}

/// Q5_0, d = 2 (0x4000), qh = 0x8000_0001 (fifth bit of values 0 and 31),
/// low nibbles 0x5, high nibbles 0xA: value 0 = (0x15 - 16) * 2 = 10,
/// values 1..16 = (5 - 16) * 2 = -22, values 16..31 = (10 - 16) * 2 = -12,
/// value 31 = (0x1A - 16) * 2 = 20.
fn q5_0_block() -> (Vec<u8>, Vec<f64>) {
    let mut b = f16b(0x4000).to_vec();
    b.extend(0x8000_0001u32.to_le_bytes());
    b.extend([0xA5u8; 16]);
    let mut want = vec![10.0];
    want.extend([-22.0; 15]);
    want.extend([-12.0; 15]);
    want.push(20.0);
    (b, want)
}

/// Q5_1, d = 0.5, m = -8 (0xC800), qh = 0x0001_0000 (fifth bit of value 16),
/// nibbles 0x3 / 0xC: values 0..16 = 3 * 0.5 - 8 = -6.5, value 16 =
/// 0x1C * 0.5 - 8 = 6, values 17..32 = 12 * 0.5 - 8 = -2.
fn q5_1_block() -> (Vec<u8>, Vec<f64>) {
    let mut b = f16b(0x3800).to_vec();
    b.extend(f16b(0xC800));
    b.extend(0x0001_0000u32.to_le_bytes());
    b.extend([0xC3u8; 16]);
    let mut want = vec![-6.5; 16];
    want.push(6.0);
    want.extend([-2.0; 15]);
    (b, want)
}

/// A small GGUF holding one tensor of every decoded type plus typed metadata.
/// (name, shape, source dtype, values) of each tensor of [`sample_gguf`].
type Expected = Vec<(&'static str, Vec<usize>, &'static str, Vec<f64>)>;

fn sample_gguf() -> (Vec<u8>, Expected) {
    let f32s = [1.5f32, -2.0, 0.1, 3.0e38, -0.0, 7.0];
    let f16s: [(u16, f64); 5] = [
        (0x3C00, 1.0),
        (0xC000, -2.0),
        (0x3555, 0.333251953125),
        (0x0001, 2f64.powi(-24)),
        (0x7BFF, 65504.0),
    ];
    let bf16s: [(u16, f64); 4] = [
        (0x3F80, 1.0),
        (0x4049, 3.140625),
        (0xC2F7, -123.5),
        (0x0001, 9.183549615799121e-41),
    ];
    let (q8, q8_want) = q8_0_block();
    let (q40, q40_want) = q4_0_block();
    let (q41, q41_want) = q4_1_blocks();
    let (q50, q50_want) = q5_0_block();
    let (q51, q51_want) = q5_1_block();
    let file = GgufBuilder::new()
        .kv("general.architecture", 8, gstr("llama"))
        .kv("llama.block_count", 4, 30u32.to_le_bytes().to_vec())
        .kv("llama.rope.freq_base", 6, 100000f32.to_le_bytes().to_vec())
        .kv("test.bool", 7, vec![1])
        .kv("test.i8", 1, vec![0xFE])
        .kv("test.u64", 10, u64::MAX.to_le_bytes().to_vec())
        .kv("test.f64", 12, 0.1f64.to_le_bytes().to_vec())
        .kv("test.strings", 9, {
            let mut v = 8u32.to_le_bytes().to_vec();
            v.extend(2u64.to_le_bytes());
            v.extend(gstr("a"));
            v.extend(gstr("bc"));
            v
        })
        .kv("test.nested", 9, {
            // [[1, 2], []] of i32
            let mut v = 9u32.to_le_bytes().to_vec();
            v.extend(2u64.to_le_bytes());
            v.extend(5u32.to_le_bytes());
            v.extend(2u64.to_le_bytes());
            v.extend(1i32.to_le_bytes());
            v.extend(2i32.to_le_bytes());
            v.extend(5u32.to_le_bytes());
            v.extend(0u64.to_le_bytes());
            v
        })
        .tensor(
            "f32",
            &[3, 2],
            0,
            f32s.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )
        .tensor(
            "f16",
            &[5],
            1,
            f16s.iter().flat_map(|x| x.0.to_le_bytes()).collect(),
        )
        .tensor(
            "bf16",
            &[2, 2],
            30,
            bf16s.iter().flat_map(|x| x.0.to_le_bytes()).collect(),
        )
        .tensor("q8_0", &[32, 1], 8, q8)
        .tensor("q4_0", &[32], 2, q40)
        .tensor("q4_1", &[32, 2], 3, q41)
        .tensor("q5_0", &[32], 6, q50)
        .tensor("q5_1", &[32], 7, q51)
        .build();
    let expected = vec![
        (
            "f32",
            vec![2, 3],
            "F32",
            f32s.iter().map(|&x| x as f64).collect(),
        ),
        ("f16", vec![5], "F16", f16s.iter().map(|x| x.1).collect()),
        (
            "bf16",
            vec![2, 2],
            "BF16",
            bf16s.iter().map(|x| x.1).collect(),
        ),
        ("q8_0", vec![1, 32], "Q8_0", q8_want),
        ("q4_0", vec![32], "Q4_0", q40_want),
        ("q4_1", vec![2, 32], "Q4_1", q41_want),
        ("q5_0", vec![32], "Q5_0", q50_want),
        ("q5_1", vec![32], "Q5_1", q51_want),
    ];
    (file, expected)
}

// ------------------------------------------------------------ GGUF tests

#[test]
fn gguf_dequantizes_every_decoded_type_exactly() {
    let dir = tempfile::tempdir().unwrap();
    for version in [2u32, 3] {
        let (mut file, expected) = sample_gguf();
        file[4..8].copy_from_slice(&version.to_le_bytes());
        let path = write(dir.path(), &format!("v{version}.gguf"), &file);
        let w = Weights::open_gguf(&path).unwrap();
        assert_eq!(w.format(), WeightFormat::Gguf(version));
        assert_eq!(w.names(), expected.iter().map(|e| e.0).collect::<Vec<_>>());
        for (name, shape, dtype, values) in &expected {
            let t = w.get(name).unwrap();
            assert_eq!(&t.shape, shape, "{name}");
            assert_eq!(w.shape(name).unwrap(), &shape[..]);
            assert_eq!(t.source_dtype, *dtype);
            assert_eq!(w.source_dtype(name).unwrap(), *dtype);
            // bit-exact, including the sign of -0.0
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&t.data), bits(values), "{name}");
        }
    }
}

#[test]
fn gguf_metadata_is_typed() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "m.gguf", &sample_gguf().0);
    let w = Weights::open_gguf(&path).unwrap();
    assert_eq!(w.meta_str("general.architecture"), Some("llama"));
    assert_eq!(w.meta_u64("llama.block_count"), Some(30));
    assert_eq!(w.metadata("llama.block_count"), Some(&GgufValue::U32(30)));
    assert_eq!(w.meta_f64("llama.rope.freq_base"), Some(100000.0));
    assert_eq!(
        w.metadata("test.bool").and_then(GgufValue::as_bool),
        Some(true)
    );
    assert_eq!(w.metadata("test.i8"), Some(&GgufValue::I8(-2)));
    assert_eq!(w.meta_u64("test.i8"), None, "negative is not a u64");
    assert_eq!(w.meta_f64("test.i8"), Some(-2.0));
    assert_eq!(w.meta_u64("test.u64"), Some(u64::MAX));
    assert_eq!(w.meta_f64("test.u64"), None, "not exact in f64");
    assert_eq!(w.meta_f64("test.f64"), Some(0.1));
    assert_eq!(
        w.metadata("test.strings"),
        Some(&GgufValue::Array(vec![
            GgufValue::String("a".into()),
            GgufValue::String("bc".into())
        ]))
    );
    assert_eq!(
        w.metadata("test.nested"),
        Some(&GgufValue::Array(vec![
            GgufValue::Array(vec![GgufValue::I32(1), GgufValue::I32(2)]),
            GgufValue::Array(vec![]),
        ]))
    );
    assert_eq!(w.metadata("absent"), None);
    assert_eq!(w.metadata_keys().len(), 9);
}

#[test]
fn gguf_honours_general_alignment() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = GgufBuilder::new()
        .kv("general.alignment", 4, 64u32.to_le_bytes().to_vec())
        .tensor(
            "a",
            &[3],
            0,
            [1f32, 2.0, 3.0]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        )
        .tensor(
            "b",
            &[2],
            0,
            [4f32, 5.0].iter().flat_map(|x| x.to_le_bytes()).collect(),
        );
    b.alignment = 64;
    let w = Weights::open_gguf(write(dir.path(), "a.gguf", &b.build())).unwrap();
    assert_eq!(w.get("a").unwrap().data, vec![1.0, 2.0, 3.0]);
    assert_eq!(w.get("b").unwrap().data, vec![4.0, 5.0]);
}

fn gguf_error(file: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.gguf", file);
    let err = Weights::open_gguf(&path).unwrap_err().to_string();
    assert!(err.contains("bad.gguf"), "the error names the file: {err}");
    err
}

#[test]
fn gguf_header_errors_say_what_is_wrong() {
    let good = sample_gguf().0;
    let mut f = good.clone();
    f[..4].copy_from_slice(b"GGML");
    assert!(gguf_error(&f).contains("not a GGUF file"));
    for (v, msg) in [
        (1u32, "unsupported GGUF version 1"),
        (0x0300_0000, "big-endian"),
    ] {
        let mut f = good.clone();
        f[4..8].copy_from_slice(&v.to_le_bytes());
        let e = gguf_error(&f);
        assert!(e.contains(msg), "{e}");
    }
    // a tensor count of u64::MAX is refused before allocating anything
    let mut f = good.clone();
    f[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    let e = gguf_error(&f);
    assert!(e.contains("tensor count is 18446744073709551615"), "{e}");
    let mut f = good.clone();
    f[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(gguf_error(&f).contains("metadata count is 1099511627776"));
    // the first key's length runs past the end of the file
    let mut f = good.clone();
    f[24..32].copy_from_slice(&(1u64 << 62).to_le_bytes());
    let e = gguf_error(&f);
    assert!(
        e.contains("truncated header: key of metadata entry 0"),
        "{e}"
    );
    assert!(gguf_error(&good[..3]).contains("truncated header: magic"));
    assert!(gguf_error(&[]).contains("truncated"));

    let one = |ty: u32, dims: &[u64], data: Vec<u8>| {
        GgufBuilder::new().tensor("w", dims, ty, data).build()
    };
    let e = gguf_error(&one(99, &[4], vec![0; 16]));
    assert!(e.contains("tensor `w`: unknown GGML type number 99"), "{e}");
    let e = gguf_error(&one(2, &[16], vec![0; 9]));
    assert!(
        e.contains("Q4_0 stores blocks of 32 values but the fastest dimension is 16"),
        "{e}"
    );
    let e = gguf_error(&one(0, &[1, 2, 3, 4, 5], vec![0; 480]));
    assert!(
        e.contains("dimension count of tensor `w` is 5, more than 4"),
        "{e}"
    );
    let e = gguf_error(&one(0, &[1 << 40, 1 << 40], vec![]));
    assert!(e.contains("overflow"), "{e}");
    let mut f = one(0, &[4], vec![0; 16]);
    f.truncate(f.len() - 1);
    let e = gguf_error(&f);
    assert!(e.contains("tensor `w`: data bytes"), "{e}");
    assert!(e.contains("past the end of the file"), "{e}");
    let dup = GgufBuilder::new()
        .tensor("w", &[1], 0, vec![0; 4])
        .tensor("w", &[1], 0, vec![0; 4])
        .build();
    assert!(gguf_error(&dup).contains("tensor name `w` appears twice"));
    let e = gguf_error(&GgufBuilder::new().kv("k", 13, vec![0]).build());
    assert!(e.contains("metadata `k` has unknown value type 13"), "{e}");
    let mut bad = 1u64.to_le_bytes().to_vec();
    bad.push(0xFF);
    let e = gguf_error(&GgufBuilder::new().kv("k", 8, bad).build());
    assert!(e.contains("metadata `k` is not valid UTF-8"), "{e}");
    let e = gguf_error(
        &GgufBuilder::new()
            .kv("general.alignment", 4, 24u32.to_le_bytes().to_vec())
            .build(),
    );
    assert!(e.contains("alignment"), "{e}");
    // arrays nested 100 deep
    let mut nested = Vec::new();
    for _ in 0..100 {
        nested.extend(9u32.to_le_bytes());
        nested.extend(1u64.to_le_bytes());
    }
    let e = gguf_error(&GgufBuilder::new().kv("deep", 9, nested).build());
    assert!(e.contains("nests arrays deeper than"), "{e}");
    let mut huge_array = 0u32.to_le_bytes().to_vec();
    huge_array.extend((1u64 << 50).to_le_bytes());
    let e = gguf_error(&GgufBuilder::new().kv("big", 9, huge_array).build());
    assert!(e.contains("length of metadata `big` (at byte"), "{e}");
}

#[test]
fn gguf_missing_and_undecoded_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let file = GgufBuilder::new()
        .tensor("blk.0.attn_q.weight", &[1], 0, vec![0; 4])
        .tensor("blk.0.attn_k.weight", &[1], 0, vec![0; 4])
        .tensor("blk.0.ffn_down.weight", &[256], 14, vec![0; 210])
        .build();
    let path = write(dir.path(), "m.gguf", &file);
    let w = Weights::open_gguf(&path).unwrap();
    let e = w.get("blk.0.attn_q.weigth").unwrap_err();
    assert!(matches!(e, WeightError::NotFound { .. }));
    let e = e.to_string();
    assert!(
        e.contains("no tensor named `blk.0.attn_q.weigth` (did you mean `blk.0.attn_q.weight`"),
        "{e}"
    );
    assert!(w.shape("nope").is_err());
    // Q6_K: listed with its shape, refused by get with the type's name
    assert_eq!(w.shape("blk.0.ffn_down.weight").unwrap(), &[256]);
    assert_eq!(w.source_dtype("blk.0.ffn_down.weight").unwrap(), "Q6_K");
    let e = w.get("blk.0.ffn_down.weight").unwrap_err().to_string();
    assert!(e.contains("type Q6_K is not decoded"), "{e}");
    assert!(e.contains("m.gguf"), "{e}");
}

/// Found by the `weight_files` fuzz target: a zero dimension next to huge
/// ones is an empty tensor, and must not overflow when its size is computed.
#[test]
fn empty_tensors_with_huge_dimensions() {
    let g = GgufBuilder::new()
        .tensor("z", &[0, 1 << 40, 1 << 40], 0, vec![])
        .build();
    let w = Weights::gguf_from_bytes("z.gguf", g).unwrap();
    let t = w.get("z").unwrap();
    assert_eq!(t.shape, vec![1 << 40, 1 << 40, 0]);
    assert!(t.data.is_empty());
    let st = safetensors_file(&[("z", "F32", vec![1 << 40, 1 << 40, 0], vec![])]);
    let w = Weights::safetensors_from_bytes("z.safetensors", st).unwrap();
    assert!(w.get("z").unwrap().data.is_empty());
}

/// Every proper prefix of a valid file is a clean error; every single-byte
/// corruption of the header either loads or is a clean error, and whatever
/// loads decodes or fails cleanly. None may panic.
#[test]
fn gguf_truncations_and_corruptions_never_panic() {
    // In memory: thousands of files; the file path is covered by the tests above.
    let (file, _) = sample_gguf();
    for cut in 0..file.len() {
        match Weights::gguf_from_bytes("t.gguf", file[..cut].to_vec()) {
            Ok(_) => panic!("a file cut at byte {cut} of {} loaded", file.len()),
            Err(e) => assert!(e.to_string().starts_with("t.gguf: "), "{e}"),
        }
    }
    let mut loaded = 0;
    for at in 0..file.len() {
        for flip in [0xFFu8, 0x01, 0x80] {
            let mut f = file.clone();
            f[at] ^= flip;
            if let Ok(w) = Weights::gguf_from_bytes("t.gguf", f) {
                loaded += 1;
                for n in w.names() {
                    let _ = w.get(n);
                }
            }
        }
    }
    // flips inside string values and tensor data still load
    assert!(loaded > 100, "{loaded}");
}

// ----------------------------------------------------- safetensors tests

fn sample_safetensors() -> Vec<u8> {
    safetensors_file(&[
        (
            "a.f32",
            "F32",
            vec![2, 2],
            [1.0f32, -0.5, 0.1, 2.0]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        ),
        (
            "b.f16",
            "F16",
            vec![3],
            [0x3C00u16, 0x0001, 0xFBFF]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        ),
        (
            "c.bf16",
            "BF16",
            vec![2],
            [0x4049u16, 0xBF80]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        ),
        ("d.f64", "F64", vec![1], 0.1f64.to_le_bytes().to_vec()),
        (
            "e.ids",
            "I64",
            vec![1, 3],
            [0i64, 1, -7].iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
        ("f.scalar", "F32", vec![], 4.0f32.to_le_bytes().to_vec()),
    ])
}

#[test]
fn safetensors_decodes_f32_f16_bf16_f64_i64() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "model.safetensors", &sample_safetensors());
    std::fs::write(dir.path().join("config.json"), r#"{"hidden_size": 384}"#).unwrap();
    let w = Weights::open_safetensors(&path).unwrap();
    assert_eq!(w.format(), WeightFormat::Safetensors);
    assert_eq!(
        w.names(),
        vec!["a.f32", "b.f16", "c.bf16", "d.f64", "e.ids", "f.scalar"]
    );
    let get = |n: &str| w.get(n).unwrap();
    assert_eq!(get("a.f32").data, vec![1.0, -0.5, 0.1f32 as f64, 2.0]);
    assert_eq!(get("a.f32").shape, vec![2, 2]);
    assert_eq!(get("b.f16").data, vec![1.0, 2f64.powi(-24), -65504.0]);
    assert_eq!(get("c.bf16").data, vec![3.140625, -1.0]);
    assert_eq!(get("c.bf16").source_dtype, "BF16");
    assert_eq!(get("d.f64").data, vec![0.1]);
    assert_eq!(get("e.ids").data, vec![0.0, 1.0, -7.0]);
    assert_eq!(get("f.scalar").shape, Vec::<usize>::new());
    assert_eq!(get("f.scalar").data, vec![4.0]);
    assert_eq!(w.meta_str("format"), Some("pt"));
    assert_eq!(w.config_json().unwrap()["hidden_size"], 384);
    // the same file through the sniffing opener
    assert_eq!(Weights::open(&path).unwrap().len(), 6);
}

fn st_error(file: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.safetensors", file);
    let err = Weights::open_safetensors(&path).unwrap_err().to_string();
    assert!(
        err.contains("bad.safetensors"),
        "the error names the file: {err}"
    );
    err
}

#[test]
fn safetensors_errors_say_what_is_wrong() {
    let good = sample_safetensors();
    assert!(st_error(&sample_gguf().0).contains("not a safetensors file"));
    let mut f = good.clone();
    f[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(st_error(&f).contains("header length is 18446744073709551615"));
    assert!(st_error(&good[..5]).contains("truncated header: header length"));
    let e = st_error(&good[..40]);
    assert!(e.contains("truncated header: JSON header"), "{e}");
    let e = st_error(&safetensors_file(&[("x", "F32", vec![3], vec![0; 8])]));
    assert!(
        e.contains("tensor `x`: shape [3] of F32 needs 12 bytes, data_offsets [0, 8] give 8"),
        "{e}"
    );
    let e = st_error(&safetensors_file(&[("x", "F7", vec![1], vec![0; 1])]));
    assert!(e.contains("unknown dtype `F7`"), "{e}");
    let mut f = safetensors_file(&[("x", "F32", vec![2], vec![0; 8])]);
    f.truncate(f.len() - 1);
    assert!(st_error(&f).contains("tensor `x`: data bytes"));
    let mut f = 2u64.to_le_bytes().to_vec();
    f.extend(b"{]");
    assert!(st_error(&f).contains("malformed header: JSON header"));
    let mut f = 4u64.to_le_bytes().to_vec();
    f.extend(b"{\"\xff\"");
    assert!(st_error(&f).contains("JSON header is not valid UTF-8"));
    // a value f64 cannot hold is refused at get
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "i.safetensors",
        &safetensors_file(&[(
            "big",
            "I64",
            vec![1],
            ((1i64 << 53) + 1).to_le_bytes().to_vec(),
        )]),
    );
    let e = Weights::open_safetensors(&p)
        .unwrap()
        .get("big")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not exact in f64"), "{e}");
    // config.json is optional until asked for
    let e = Weights::open_safetensors(&p)
        .unwrap()
        .config_json()
        .unwrap_err()
        .to_string();
    assert!(e.contains("config.json: cannot read"), "{e}");
}

#[test]
fn safetensors_truncations_and_corruptions_never_panic() {
    let file = sample_safetensors();
    for cut in 0..file.len() {
        match Weights::safetensors_from_bytes("t.safetensors", file[..cut].to_vec()) {
            Ok(_) => panic!("a file cut at byte {cut} of {} loaded", file.len()),
            Err(e) => assert!(e.to_string().starts_with("t.safetensors: "), "{e}"),
        }
    }
    let mut loaded = 0;
    for at in 0..file.len() {
        for flip in [0xFFu8, 0x01, 0x20] {
            let mut f = file.clone();
            f[at] ^= flip;
            if let Ok(w) = Weights::safetensors_from_bytes("t.safetensors", f) {
                loaded += 1;
                for n in w.names() {
                    let _ = w.get(n);
                }
            }
        }
    }
    assert!(loaded > 100, "{loaded}");
}

// ------------------------------------------------------ the real checkpoints

/// `fixtures/models`, fetched by `fixtures/fetch-models.sh` when a file is
/// absent (once per test process).
fn models_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = std::env::var_os("XPUCERT_MODELS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("fixtures/models"));
        let files = [
            "minilm/model.safetensors",
            "minilm/config.json",
            "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        ];
        if files.iter().any(|f| !dir.join(f).is_file()) {
            let status = std::process::Command::new("bash")
                .arg(root.join("fixtures/fetch-models.sh"))
                .env("XPUCERT_MODELS_DIR", &dir)
                .status()
                .expect("run fixtures/fetch-models.sh");
            assert!(
                status.success(),
                "fixtures/fetch-models.sh failed: {status}"
            );
        }
        dir
    })
}

#[test]
fn real_minilm_safetensors() {
    let w = Weights::open_safetensors(models_dir().join("minilm/model.safetensors")).unwrap();
    assert_eq!(w.len(), 104);
    assert_eq!(
        w.shape("embeddings.word_embeddings.weight").unwrap(),
        &[30522, 384]
    );
    assert_eq!(
        w.shape("embeddings.position_embeddings.weight").unwrap(),
        &[512, 384]
    );
    assert_eq!(
        w.shape("encoder.layer.5.intermediate.dense.weight")
            .unwrap(),
        &[1536, 384]
    );
    assert_eq!(
        w.shape("encoder.layer.0.attention.self.query.weight")
            .unwrap(),
        &[384, 384]
    );
    assert_eq!(w.source_dtype("embeddings.position_ids").unwrap(), "I64");
    let ids = w.get("embeddings.position_ids").unwrap();
    assert_eq!(ids.data, (0..512).map(|i| i as f64).collect::<Vec<_>>());
    let ln = w.get("embeddings.LayerNorm.weight").unwrap();
    assert_eq!(ln.shape, vec![384]);
    // The first values of tensors as read by the Python `safetensors`
    // package (fixtures/crosscheck_weights.py, see fixtures/README.md).
    assert_eq!(&ln.data[..2], &PINNED_MINILM_LN[..]);
    let emb = w.get("embeddings.word_embeddings.weight").unwrap();
    assert_eq!(emb.numel(), 30522 * 384);
    assert_eq!(&emb.data[..2], &PINNED_MINILM_EMB[..]);
    let config = w.config_json().unwrap();
    assert_eq!(config["num_hidden_layers"], 6);
    assert_eq!(config["hidden_size"], 384);
}

#[test]
fn real_smollm2_gguf() {
    let w =
        Weights::open_gguf(models_dir().join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
    assert_eq!(w.format(), WeightFormat::Gguf(3));
    assert_eq!(w.len(), 272);
    assert_eq!(w.meta_str("general.architecture"), Some("llama"));
    assert_eq!(w.meta_u64("llama.block_count"), Some(30));
    assert_eq!(w.meta_u64("llama.attention.head_count"), Some(9));
    assert_eq!(w.meta_u64("llama.attention.head_count_kv"), Some(3));
    assert_eq!(w.meta_u64("llama.embedding_length"), Some(576));
    assert_eq!(w.meta_u64("llama.feed_forward_length"), Some(1536));
    assert_eq!(w.meta_f64("llama.rope.freq_base"), Some(100000.0));
    assert_eq!(
        w.meta_f64("llama.attention.layer_norm_rms_epsilon"),
        Some(1e-5f32 as f64)
    );
    assert_eq!(
        w.metadata("tokenizer.ggml.tokens")
            .and_then(GgufValue::as_array)
            .map(<[_]>::len),
        Some(49152)
    );
    assert_eq!(w.shape("token_embd.weight").unwrap(), &[49152, 576]);
    assert_eq!(w.source_dtype("token_embd.weight").unwrap(), "Q8_0");
    assert_eq!(w.shape("blk.0.attn_q.weight").unwrap(), &[576, 576]);
    assert_eq!(w.shape("blk.0.attn_k.weight").unwrap(), &[192, 576]);
    assert_eq!(w.shape("blk.0.ffn_down.weight").unwrap(), &[576, 1536]);
    assert_eq!(w.source_dtype("blk.29.ffn_gate.weight").unwrap(), "Q4_1");
    assert_eq!(w.source_dtype("output_norm.weight").unwrap(), "F32");
    assert!(
        !w.contains("output.weight"),
        "tied embeddings: no separate output matrix"
    );
    let mut types: Vec<&str> = w
        .names()
        .iter()
        .map(|n| w.source_dtype(n).unwrap())
        .collect();
    types.sort();
    types.dedup();
    assert_eq!(types, vec!["F32", "Q4_1", "Q8_0"]);

    // Exact values from the independent Python `gguf` package run
    // (fixtures/crosscheck_weights.py): see the PINNED_* constants.
    let q = w.get("blk.0.attn_q.weight").unwrap();
    assert_eq!(&q.data[..4], &PINNED_ATTN_Q[..]);
    let k = w.get("blk.0.attn_k.weight").unwrap();
    let emb = w.get("token_embd.weight").unwrap();
    assert_eq!(emb.numel(), 49152 * 576);
    assert_eq!(&emb.data[..4], &PINNED_TOKEN_EMBD[..]);
    let norm = w.get("blk.0.attn_norm.weight").unwrap();
    assert_eq!(&norm.data[..2], &PINNED_ATTN_NORM[..]);

    // Undoing the Q/K permutation moves whole rows: row 1 of the HF layout
    // is row 2 of GGUF's (head_dim 64: HF row i pairs with i + 32, which
    // GGUF stores at 2i, 2i + 1).
    let hf_q = unpermute_llama_qk(&q, 9).unwrap();
    assert_eq!(hf_q.data[576..2 * 576], q.data[2 * 576..3 * 576]);
    assert_eq!(hf_q.data[32 * 576..33 * 576], q.data[576..2 * 576]);
    let hf_k = unpermute_llama_qk(&k, 3).unwrap();
    assert_eq!(hf_k.shape, vec![192, 576]);
    assert!(
        unpermute_llama_qk(&k, 9).is_err(),
        "192 rows are not 9 heads of an even size"
    );
}

/// Writes dequantized tensors of both real files as raw little-endian f64
/// for `fixtures/crosscheck_weights.py`:
/// `XPUCERT_WEIGHTS_DUMP=/tmp/dump cargo test -p xpucert --test it -- --ignored dump_for_crosscheck`;
/// `XPUCERT_CROSSCHECK_EXTRA` (a path list) adds every tensor of more GGUF files.
#[test]
#[ignore = "writes ~300 MB of dumps for fixtures/crosscheck_weights.py"]
fn dump_for_crosscheck() {
    let out = PathBuf::from(
        std::env::var_os("XPUCERT_WEIGHTS_DUMP").expect("set XPUCERT_WEIGHTS_DUMP to a directory"),
    );
    std::fs::create_dir_all(&out).unwrap();
    let gguf_path = models_dir().join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    let st_path = models_dir().join("minilm/model.safetensors");
    let gguf = Weights::open_gguf(&gguf_path).unwrap();
    let st = Weights::open_safetensors(&st_path).unwrap();
    let mut index = Vec::new();
    let sets: [(&Weights, &Path, &str, Vec<&str>); 2] = [
        (
            &gguf,
            &gguf_path,
            "gguf",
            vec![
                "token_embd.weight",
                "blk.0.attn_q.weight",
                "blk.0.attn_k.weight",
                "blk.0.attn_v.weight",
                "blk.0.ffn_down.weight",
                "blk.15.ffn_gate.weight",
                "blk.29.attn_output.weight",
                "blk.29.ffn_up.weight",
                "blk.0.attn_norm.weight",
                "blk.29.ffn_norm.weight",
                "output_norm.weight",
            ],
        ),
        (
            &st,
            &st_path,
            "safetensors",
            vec![
                "embeddings.position_ids",
                "embeddings.word_embeddings.weight",
                "embeddings.LayerNorm.weight",
                "encoder.layer.0.attention.self.query.weight",
                "encoder.layer.5.output.dense.bias",
            ],
        ),
    ];
    for (w, path, format, names) in sets {
        for name in names {
            let t = w.get(name).unwrap();
            let file = format!("{}.f64", name.replace('/', "_"));
            let bytes: Vec<u8> = t.data.iter().flat_map(|x| x.to_le_bytes()).collect();
            std::fs::write(out.join(&file), bytes).unwrap();
            index.push(serde_json::json!({
                "format": format, "model": path, "name": name, "shape": t.shape,
                "source_dtype": t.source_dtype, "file": file,
            }));
        }
    }
    // GGUF files written by the Python gguf package (`crosscheck_weights.py
    // make-synthetic`): every tensor, for the types the real file lacks.
    if let Some(extra) = std::env::var_os("XPUCERT_CROSSCHECK_EXTRA") {
        for (k, path) in std::env::split_paths(&extra).enumerate() {
            let w = Weights::open_gguf(&path).unwrap();
            for name in w.names() {
                let t = w.get(name).unwrap();
                let file = format!("extra{k}.{name}.f64");
                let bytes: Vec<u8> = t.data.iter().flat_map(|x| x.to_le_bytes()).collect();
                std::fs::write(out.join(&file), bytes).unwrap();
                index.push(serde_json::json!({
                    "format": "gguf", "model": path, "name": name, "shape": t.shape,
                    "source_dtype": t.source_dtype, "file": file,
                }));
            }
        }
    }
    std::fs::write(
        out.join("index.json"),
        serde_json::to_string_pretty(&index).unwrap(),
    )
    .unwrap();
}

// First values of tensors as decoded by the independent Python readers
// (`gguf` 0.19.0 `gguf.quants.dequantize`, `safetensors` 0.8.0 with numpy
// 2.4.6), printed by `fixtures/crosscheck_weights.py` on 2026-11-23; that run
// also found every dumped value bit-identical (see fixtures/README.md).
const PINNED_MINILM_LN: [f64; 2] = [0.5989283323287964, 0.583594799041748];
const PINNED_MINILM_EMB: [f64; 2] = [-0.019989013671875, -0.0034027099609375];
const PINNED_ATTN_Q: [f64; 4] = [
    -0.0963134765625,
    0.1573486328125,
    -0.0963134765625,
    -0.73046875,
];
const PINNED_TOKEN_EMBD: [f64; 4] = [
    -0.10654449462890625,
    0.032978057861328125,
    0.048198699951171875,
    -0.022830963134765625,
];
const PINNED_ATTN_NORM: [f64; 2] = [0.01397705078125, 0.0238037109375];
