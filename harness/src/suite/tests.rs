//! Tests of the suite format: parsing, expansion, ids, seeds, inputs,
//! layouts, and the exact position of every class of error.

use std::path::{Path, PathBuf};

use super::*;
use crate::ops::AttrValue;

/// Writes `files` (name, text) into a fresh temp dir; returns it and the
/// path of the first file.
fn write(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let first = dir.path().join(files[0].0);
    (dir, first)
}

fn load_str(text: &str) -> Result<Suite, SuiteError> {
    let (_dir, path) = write(&[("s.yaml", text)]);
    load(&path)
}

/// Loads `text` expecting an error; returns its Display with the temp path
/// replaced by `s.yaml`.
fn error_of(text: &str) -> String {
    let (dir, path) = write(&[("s.yaml", text)]);
    let e = load(&path).expect_err("suite should be rejected");
    e.to_string()
        .replace(&dir.path().join("s.yaml").display().to_string(), "s.yaml")
}

const HEAD: &str = "suite: t\nseed: 7\ndtypes: [f32]\ncases:\n";

fn core_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites/ops/core.yaml")
}

#[test]
fn a_case_at_a_newer_opset_calls_the_version_serving_it() {
    // A model at opset 21 runs Add-14 (Add's newest change): the case
    // records the version's since_version, which is what backends list.
    let s = load_str(&format!(
        "{HEAD}  - name: at21\n    op: Add\n    opset: 21\n    inputs: [{{shape: [2]}}, {{shape: [2]}}]\n"
    ))
    .unwrap();
    assert_eq!(s.cases[0].opset, 14);
    assert_eq!(s.cases[0].def().spec.opset, 14);
}

#[test]
fn parses_every_construct() {
    let s = load_str(&format!(
        "{HEAD}  - name: full
    op: Gemm
    opset: 13
    dtypes: [f32, bf16]
    attributes: {{transB: 1, alpha: 2, beta: 0.5}}
    inputs:
      - {{shape: [2, 3], dist: {{normal: {{mean: 1, std: 2}}}}, layout: transposed}}
      - {{shape: [4, 3], dist: {{special: {{fraction: 0.5, values: [nan, -inf, -0, denormal, max, min_normal], base: {{uniform: {{low: 0, high: 1}}}}}}}}, layout: padded}}
      - {{values: [1, 2.5, -3, 4]}}
    check: {{allclose: {{rtol: 1e-5, atol: 1e-6}}}}
  - name: opt
    op: Attention
    inputs:
      - {{shape: [1, 1, 2, 4], dist: {{arange: {{start: 1, step: 0.5}}}}}}
      - {{shape: [1, 1, 2, 4], layout: strided}}
      - {{shape: [1, 1, 2, 4]}}
      - {{dtype: bool, shape: [2, 2], dist: {{bernoulli: {{p: 0.25}}}}}}
      - absent
    check: exact
"
    ))
    .unwrap();
    assert_eq!(s.name, "t");
    assert_eq!(s.cases.len(), 3);
    let c = &s.cases[0];
    assert_eq!(c.id, "t.gemm.f32.full");
    assert_eq!(s.cases[1].id, "t.gemm.bf16.full");
    assert_eq!(c.op.name, "Gemm");
    assert_eq!(c.opset, 13);
    assert_eq!(c.dtype, DType::F32);
    assert_eq!(c.attributes["transB"], AttrValue::Int(1));
    assert_eq!(c.attributes["alpha"], AttrValue::Float(2.0));
    assert_eq!(c.attributes["beta"], AttrValue::Float(0.5));
    assert_eq!(
        c.check,
        Some(CheckSpec::Allclose {
            rtol: 1e-5,
            atol: 1e-6
        })
    );
    assert!(c.location.ends_with("s.yaml:5:5"), "{}", c.location);
    let InputSpec::Tensor(a) = &c.inputs[0] else {
        panic!()
    };
    assert_eq!(a.shape, vec![2, 3]);
    assert_eq!(a.layout, Layout::Transposed);
    assert_eq!(
        a.source,
        Source::Dist(Distribution::Normal {
            mean: 1.0,
            std: 2.0
        })
    );
    let InputSpec::Tensor(b) = &c.inputs[1] else {
        panic!()
    };
    assert_eq!(b.layout, Layout::Padded);
    let Source::Dist(Distribution::Special {
        fraction,
        values,
        base,
    }) = &b.source
    else {
        panic!()
    };
    assert_eq!(*fraction, 0.5);
    assert_eq!(values.len(), 6);
    assert_eq!(values[2], SpecialValue::NegZero);
    assert_eq!(
        **base,
        Distribution::Uniform {
            low: 0.0,
            high: 1.0
        }
    );
    let InputSpec::Tensor(lit) = &c.inputs[2] else {
        panic!()
    };
    assert_eq!(lit.shape, vec![4], "literal values default to 1-D");
    assert_eq!(lit.source, Source::Values(vec![1.0, 2.5, -3.0, 4.0]));

    let att = &s.cases[2];
    assert_eq!(att.inputs.len(), 5);
    assert_eq!(att.inputs[4], InputSpec::Absent);
    assert_eq!(att.check, Some(CheckSpec::Exact));
    let InputSpec::Tensor(mask) = &att.inputs[3] else {
        panic!()
    };
    assert_eq!(mask.dtype, DType::Bool);
    assert_eq!(
        mask.source,
        Source::Dist(Distribution::Bernoulli { p: 0.25 })
    );
    let InputSpec::Tensor(q) = &att.inputs[0] else {
        panic!()
    };
    // Defaults: the case dtype, uniform [-1, 1) for floats, contiguous.
    let InputSpec::Tensor(v) = &att.inputs[2] else {
        panic!()
    };
    assert_eq!(v.dtype, DType::F32);
    assert_eq!(
        v.source,
        Source::Dist(Distribution::Uniform {
            low: -1.0,
            high: 1.0
        })
    );
    assert_eq!(v.layout, Layout::Contiguous);
    assert_eq!(
        q.source,
        Source::Dist(Distribution::Arange {
            start: 1.0,
            step: 0.5
        })
    );
}

#[test]
fn sweep_expands_in_order_with_stable_ids() {
    let text = format!(
        "{HEAD}  - name: sweep
    op: MatMul
    sweep:
      m: [1, 17]
      k: [1, 4096]
    inputs:
      - {{shape: [m, k]}}
      - {{shape: [k, 8]}}
"
    );
    let s = load_str(&text).unwrap();
    let ids: Vec<&str> = s.cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "t.matmul.f32.sweep.m1k1",
            "t.matmul.f32.sweep.m1k4096",
            "t.matmul.f32.sweep.m17k1",
            "t.matmul.f32.sweep.m17k4096",
        ]
    );
    let InputSpec::Tensor(a) = &s.cases[3].inputs[0] else {
        panic!()
    };
    assert_eq!(a.shape, vec![17, 4096]);
    // The seed is a function of the suite seed and the id alone.
    assert_eq!(
        s.cases[3].seed,
        expand::case_seed(7, "t.matmul.f32.sweep.m17k4096")
    );
    let again = load_str(&text).unwrap();
    assert_eq!(again.cases[3].seed, s.cases[3].seed);
    assert_ne!(s.cases[0].seed, s.cases[1].seed);
}

#[test]
fn sweep_values_of_every_kind() {
    let s = load_str(&format!(
        "{HEAD}  - name: kinds
    op: Transpose
    sweep:
      perm: [[1, 0], [0, 1]]
      s: [[2, 3], [3, 2]]
    attributes: {{perm: perm}}
    inputs:
      - {{shape: s}}
  - name: axes
    op: Softmax
    sweep:
      axis: [-1, 0]
    attributes: {{axis: axis}}
    inputs:
      - {{shape: [2, 2]}}
  - name: alpha
    op: Gemm
    sweep:
      a: [0.5, -1.25]
    attributes: {{alpha: a}}
    inputs:
      - {{shape: [2, 2]}}
      - {{shape: [2, 2]}}
  - name: scalar
    op: Transpose
    sweep:
      s: [[]]
    inputs:
      - {{shape: s}}
"
    ))
    .unwrap();
    let ids: Vec<&str> = s.cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "t.transpose.f32.kinds.perm1x0s2x3",
            "t.transpose.f32.kinds.perm1x0s3x2",
            "t.transpose.f32.kinds.perm0x1s2x3",
            "t.transpose.f32.kinds.perm0x1s3x2",
            "t.softmax.f32.axes.axisn1",
            "t.softmax.f32.axes.axis0",
            "t.gemm.f32.alpha.a0p5",
            "t.gemm.f32.alpha.an1p25",
            "t.transpose.f32.scalar.sscalar",
        ]
    );
    assert_eq!(s.cases[0].attributes["perm"], AttrValue::Ints(vec![1, 0]));
    let InputSpec::Tensor(t) = &s.cases[8].inputs[0] else {
        panic!()
    };
    assert!(t.shape.is_empty());
    assert_eq!(s.cases[4].attributes["axis"], AttrValue::Int(-1));
    assert_eq!(s.cases[7].attributes["alpha"], AttrValue::Float(-1.25));
}

#[test]
fn strict_booleans_keep_n_and_y_as_names() {
    // Under YAML 1.1 rules `n`, `y` and `on` would be booleans.
    let s = load_str(&format!(
        "{HEAD}  - name: mm
    op: MatMul
    sweep:
      n: [3]
      y: [2]
      on: [5]
    inputs:
      - {{shape: [y, on]}}
      - {{shape: [on, n]}}
"
    ))
    .unwrap();
    assert_eq!(s.cases[0].id, "t.matmul.f32.mm.n3y2on5");
    let InputSpec::Tensor(b) = &s.cases[0].inputs[1] else {
        panic!()
    };
    assert_eq!(b.shape, vec![5, 3]);
}

#[test]
fn inputs_are_deterministic_per_id() {
    let text = format!(
        "{HEAD}  - name: a
    op: Add
    inputs:
      - {{shape: [64]}}
      - {{shape: [64]}}
  - name: b
    op: Add
    inputs:
      - {{shape: [64]}}
      - {{shape: [64]}}
"
    );
    let s = load_str(&text).unwrap();
    let a1 = generate_inputs(&s.cases[0]);
    let a2 = generate_inputs(&s.cases[0]);
    let b = generate_inputs(&s.cases[1]);
    assert_eq!(a1, a2);
    assert_ne!(a1[0], b[0], "different ids give different bytes");
    assert_ne!(a1[0], a1[1], "inputs of one case use different streams");
    // Removing the other case changes nothing.
    let alone = load_str(&format!("{HEAD}  - name: a\n    op: Add\n    inputs:\n      - {{shape: [64]}}\n      - {{shape: [64]}}\n")).unwrap();
    assert_eq!(generate_inputs(&alone.cases[0]), a1);
    let t = a1[0].as_ref().unwrap();
    assert_eq!(t.dtype, DType::F32);
    assert_eq!(t.data.len(), 256);
    let v = t.to_f64();
    assert!(v.iter().all(|&x| (-1.0..1.0).contains(&x)));
    assert!(v.iter().any(|&x| x < -0.5) && v.iter().any(|&x| x > 0.5));
}

#[test]
fn distributions_generate_what_they_say() {
    let s = load_str(&format!(
        "{HEAD}  - {{name: d0, op: Cast, attributes: {{to: 1}}, inputs: [{{dtype: i64, shape: [1000], dist: {{int: {{low: -3, high: 2}}}}}}]}}
  - {{name: d1, op: Cast, attributes: {{to: 1}}, inputs: [{{dtype: bool, shape: [1000], dist: {{bernoulli: {{p: 0.25}}}}}}]}}
  - {{name: d2, op: Cast, attributes: {{to: 1}}, inputs: [{{shape: [2, 3], dist: {{arange: {{start: 1, step: 0.5}}}}}}]}}
  - {{name: d3, op: Cast, attributes: {{to: 1}}, inputs: [{{shape: [4000], dist: {{normal: {{mean: 10, std: 2}}}}}}]}}
  - {{name: d4, op: Cast, attributes: {{to: 1}}, inputs: [{{shape: [1000], dist: {{special: {{fraction: 0.5, values: [nan, -0, denormal]}}}}}}]}}
  - {{name: d5, op: Cast, attributes: {{to: 1}}, inputs: [{{dtype: f16, values: [0.1, 65504, 1e6]}}]}}
  - {{name: d6, op: Cast, attributes: {{to: 1}}, inputs: [{{dtype: bf16, shape: [100], dist: {{special: {{fraction: 1, values: [max, min_normal]}}}}}}]}}
"
    ))
    .unwrap();
    // One input per case (Cast takes any dtype), so each is judged alone.
    let ins: Vec<_> = s
        .cases
        .iter()
        .map(|c| generate_inputs(c).remove(0))
        .collect();
    let ints = ins[0].as_ref().unwrap().to_f64();
    assert!(
        ints.iter()
            .all(|&x| x.fract() == 0.0 && (-3.0..=2.0).contains(&x))
    );
    for k in -3..=2 {
        assert!(ints.iter().any(|&x| x == k as f64), "value {k} never drawn");
    }
    let bools = ins[1].as_ref().unwrap();
    let ones = bools.data.iter().filter(|&&b| b == 1).count();
    assert!(bools.data.iter().all(|&b| b <= 1));
    assert!((150..350).contains(&ones), "{ones} ones for p = 0.25");
    let ar = ins[2].as_ref().unwrap().to_f64();
    assert_eq!(
        ar.iter().copied().collect::<Vec<_>>(),
        [1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    );
    let n = ins[3].as_ref().unwrap().to_f64();
    let mean = n.sum() / 4000.0;
    let sd = (n.mapv(|x| (x - mean) * (x - mean)).sum() / 4000.0).sqrt();
    assert!(
        (mean - 10.0).abs() < 0.15 && (sd - 2.0).abs() < 0.15,
        "mean {mean} sd {sd}"
    );
    let sp = ins[4].as_ref().unwrap().to_f64();
    let nans = sp.iter().filter(|x| x.is_nan()).count();
    let negz = sp
        .iter()
        .filter(|&&x| x == 0.0 && x.is_sign_negative())
        .count();
    let den = sp
        .iter()
        .filter(|&&x| x != 0.0 && x.abs() < f32::MIN_POSITIVE as f64)
        .count();
    assert!(nans > 100 && negz > 100 && den > 100, "{nans} {negz} {den}");
    let h = ins[5].as_ref().unwrap().to_f64();
    assert_eq!(
        h[0],
        half::f16::from_f64(0.1).to_f64(),
        "values are rounded to the dtype"
    );
    assert_eq!(h[1], 65504.0);
    assert!(h[2].is_infinite());
    let b = ins[6].as_ref().unwrap().to_f64();
    assert!(
        b.iter()
            .all(|&x| x == half::bf16::MAX.to_f64() || x == 2f64.powi(-126))
    );
}

#[test]
fn case_cost_tracks_work() {
    let s = load_str(&format!(
        "{HEAD}  - name: mm
    op: MatMul
    inputs:
      - {{shape: [3, 4, 16]}}
      - {{shape: [16, 8]}}
  - name: g
    op: Gemm
    attributes: {{transA: 1}}
    inputs:
      - {{shape: [16, 4]}}
      - {{shape: [16, 8]}}
  - name: add
    op: Add
    inputs:
      - {{shape: [10]}}
      - {{shape: [10]}}
"
    ))
    .unwrap();
    assert_eq!(
        s.cases[0].cost(),
        1.0 + 192.0 + 128.0 + 3.0 * 4.0 * 8.0 * 16.0
    );
    assert_eq!(s.cases[1].cost(), 1.0 + 64.0 + 128.0 + 4.0 * 8.0 * 16.0);
    assert_eq!(s.cases[2].cost(), 21.0);
}

#[test]
fn layouts_store_and_read_back() {
    let a = ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&[2, 3, 4]), |i| {
        (i[0] * 100 + i[1] * 10 + i[2]) as f64
    });
    for dtype in [DType::F32, DType::F16, DType::I64, DType::U8] {
        let t = HostTensor::from_f64(dtype, &a);
        for layout in [
            Layout::Contiguous,
            Layout::Transposed,
            Layout::Padded,
            Layout::Strided,
        ] {
            let (buf, strides) = layout.store(&t);
            let (s2, len) = layout.strides_and_len(&t.shape);
            assert_eq!(strides, s2);
            assert_eq!(buf.len(), len * dtype.size());
            let sz = dtype.size();
            let offs = offsets(&t.shape, &strides);
            let back: Vec<f64> = offs
                .iter()
                .map(|&o| crate::numerics::to_f64_bits(dtype, &buf[o * sz..(o + 1) * sz]))
                .collect();
            assert_eq!(
                back,
                a.iter().copied().collect::<Vec<_>>(),
                "{layout:?} {dtype}"
            );
            // Every byte the strides do not reach is poison.
            let mut reached = vec![false; len];
            for &o in &offs {
                reached[o] = true;
            }
            for (i, r) in reached.iter().enumerate() {
                if !r {
                    assert!(buf[i * sz..(i + 1) * sz].iter().all(|&b| b == POISON));
                }
            }
        }
    }
    assert_eq!(
        Layout::Contiguous.strides_and_len(&[2, 3, 4]),
        (vec![12, 4, 1], 24)
    );
    assert_eq!(
        Layout::Transposed.strides_and_len(&[2, 3, 4]),
        (vec![1, 2, 6], 24)
    );
    assert_eq!(
        Layout::Padded.strides_and_len(&[2, 3, 4]),
        (vec![21, 7, 1], 42)
    );
    assert_eq!(
        Layout::Strided.strides_and_len(&[2, 3, 4]),
        (vec![24, 8, 2], 48)
    );
    assert_eq!(Layout::Padded.strides_and_len(&[]), (vec![], 1));
    assert_eq!(Layout::Padded.strides_and_len(&[0, 5]).1, 0);
    // Padding really is poison: f32 NaN.
    let t = HostTensor::from_f64(DType::F32, &ndarray::ArrayD::zeros(ndarray::IxDyn(&[1, 2])));
    let (buf, _) = Layout::Padded.store(&t);
    assert!(f32::from_ne_bytes(buf[8..12].try_into().unwrap()).is_nan());
}

#[test]
fn includes_keep_ids_and_hash_all_files() {
    let (dir, root) = write(&[
        (
            "root.yaml",
            "suite: root\ndtypes: [f32]\ninclude: [sub/more.yaml]\ncases:\n  - name: r\n    op: Relu\n    inputs: [{shape: [2]}]\n",
        ),
        ("placeholder", ""),
    ]);
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(
        dir.path().join("sub/more.yaml"),
        "suite: more\nseed: 3\ndtypes: [f16]\ncases:\n  - name: m\n    op: Neg\n    inputs: [{shape: [2]}]\n",
    )
    .unwrap();
    let s = load(&root).unwrap();
    let ids: Vec<&str> = s.cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["more.neg.f16.m", "root.relu.f32.r"]);
    assert_eq!(s.cases[0].seed, expand::case_seed(3, "more.neg.f16.m"));
    assert_eq!(s.files.len(), 2);
    assert_eq!(s.sha256.len(), 64);
    let direct = load(&dir.path().join("sub/more.yaml")).unwrap();
    assert_eq!(direct.cases[0].id, s.cases[0].id);
    assert_eq!(direct.cases[0].seed, s.cases[0].seed);
    // A single file's hash is the plain sha256 of its bytes.
    use sha2::Digest;
    let bytes = std::fs::read(dir.path().join("sub/more.yaml")).unwrap();
    let want: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(direct.sha256, want);
    // load_all over the directory does not count the included file twice.
    std::fs::remove_file(dir.path().join("placeholder")).unwrap();
    std::fs::copy(dir.path().join("sub/more.yaml"), dir.path().join("z.yaml")).unwrap();
    let err = load_all(&[dir.path().to_path_buf()]).unwrap_err();
    assert!(
        err.message
            .starts_with("duplicate case id `more.neg.f16.m`"),
        "{err}"
    );
    std::fs::remove_file(dir.path().join("z.yaml")).unwrap();
    std::fs::copy(
        dir.path().join("sub/more.yaml"),
        dir.path().join("more.yaml"),
    )
    .unwrap();
    std::fs::remove_file(dir.path().join("more.yaml")).unwrap();
    let all = load_all(&[dir.path().to_path_buf(), dir.path().join("sub/more.yaml")]).unwrap();
    assert_eq!(
        all.len(),
        1,
        "sub/more.yaml is already included by root.yaml"
    );
}

#[test]
fn include_cycle_is_named() {
    let (dir, a) = write(&[
        ("a.yaml", "suite: a\ninclude: [b.yaml]\ncases: []\n"),
        ("b.yaml", "suite: b\ninclude:\n  - a.yaml\ncases: []\n"),
    ]);
    let e = load(&a).unwrap_err();
    let d = dir.path().display().to_string();
    assert_eq!(
        e.to_string(),
        format!("{d}/b.yaml:3:5: include cycle: {d}/a.yaml -> {d}/b.yaml -> {d}/a.yaml")
    );
}

#[test]
fn missing_files_have_no_position() {
    let e = load(Path::new("/nonexistent/x.yaml")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/x.yaml: cannot read suite:"),
        "{e}"
    );
    assert_eq!(e.position, None);
    let (dir, a) = write(&[("a.yaml", "suite: a\ninclude: [gone.yaml]\ncases: []\n")]);
    let e = load(&a).unwrap_err();
    assert_eq!(e.position, Some((2, 11)));
    assert!(e.message.contains(&format!(
        "cannot read included file: {}",
        dir.path().join("gone.yaml").display()
    )));
}

#[test]
fn errors_point_at_the_node() {
    let case = |body: &str| format!("{HEAD}  - name: c\n{body}");
    let cases: &[(String, &str)] = &[
        // Schema errors from serde-saphyr.
        (
            case("    op: Add\n    inputs: [{shape: [1]}, {shape: [1], dtyp: f32}]\n"),
            "s.yaml:7:41: unknown field `dtyp`",
        ),
        (
            case("    op: Add\n    bogus: 1\n    inputs: []\n"),
            "s.yaml:7:5: unknown field `bogus`",
        ),
        (
            case("    op: Exp\n    inputs: [{shape: [1], layout: diagonal}]\n"),
            "s.yaml:7:35: unknown variant `diagonal`",
        ),
        (
            case("    op: Exp\n    inputs: [{shape: [1], dist: {gauss: {}}}]\n"),
            "s.yaml:7:34: unknown variant `gauss`",
        ),
        (
            case("    op: Exp\n    inputs: [nothing]\n"),
            "s.yaml:7:14: unknown input `nothing`",
        ),
        // Semantic errors, placed with spans.
        (
            case("    op: Matmul\n    inputs: []\n"),
            "s.yaml:6:9: unknown op `Matmul`; did you mean `MatMul`?",
        ),
        (
            case("    op: Softmx\n    inputs: []\n"),
            "s.yaml:6:9: unknown op `Softmx`; did you mean `Softmax`?",
        ),
        (
            case("    op: Add\n    opset: 7\n    inputs: []\n"),
            "s.yaml:7:12: opset 7 of `Add` is not supported: it is older than every version xpucert implements (Add-14)",
        ),
        (
            case("    op: Add\n    opset: 13\n    generate: pairwise\n"),
            "s.yaml:7:12: opset 13 of `Add` is not supported: it is older than every version xpucert implements (Add-14)",
        ),
        (
            case("    op: Exp\n    dtypes: [f32, float16]\n    inputs: [{shape: [1]}]\n"),
            "s.yaml:7:19: unknown dtype `float16`; known: f64, f32, f16, bf16, f8e4m3fn, f8e5m2, i8, u8, i16, u16, i32, u32, i64, u64, bool",
        ),
        (
            case("    op: Exp\n    inputs: [{shape: [2, -1]}]\n"),
            "s.yaml:7:26: negative dimension -1",
        ),
        (
            case("    op: Exp\n    inputs: [{shape: 4}]\n"),
            "s.yaml:7:22: a shape is a list such as [2, 3] ([] for a scalar), got the integer 4",
        ),
        (
            case("    op: Exp\n    sweep: {s: [[2, 3]]}\n    inputs: [{shape: [s, 1]}]\n"),
            "s.yaml:8:23: sweep variable `s` is a whole shape ([2, 3]), not one dimension; write `shape: s`",
        ),
        (
            case("    op: Exp\n    sweep: {m: [2]}\n    inputs: [{shape: m}]\n"),
            "s.yaml:8:22: sweep variable `m` is one dimension, not a shape; write `shape: [m]`",
        ),
        (
            case("    op: Exp\n    inputs: [{shape: [k]}]\n"),
            "s.yaml:7:23: `k` is not a number or a sweep variable of this case",
        ),
        (
            case("    op: Exp\n    sweep: {m: [1, 2]}\n    inputs: [{shape: [3]}]\n"),
            "s.yaml:7:13: sweep variable `m` is never used",
        ),
        (
            case(
                "    op: Gemm\n    attributes: {transb: 1}\n    inputs: [{shape: [1, 1]}, {shape: [1, 1]}]\n",
            ),
            "s.yaml:7:18: `Gemm` has no attribute `transb`; did you mean `transB`?",
        ),
        (
            case(
                "    op: Gemm\n    attributes: {transB: 1.5}\n    inputs: [{shape: [1, 1]}, {shape: [1, 1]}]\n",
            ),
            "s.yaml:7:26: attribute `transB` of `Gemm` is an int, got the float 1.5",
        ),
        (
            case(
                "    op: Gemm\n    attributes: {transB: true}\n    inputs: [{shape: [1, 1]}, {shape: [1, 1]}]\n",
            ),
            "s.yaml:7:26: attribute `transB` of `Gemm` is an int, got the boolean true (write 1 or 0)",
        ),
        (
            case(
                "    op: Transpose\n    attributes: {perm: [1, x]}\n    inputs: [{shape: [1, 1]}]\n",
            ),
            "s.yaml:7:28: `x` is not a number or a sweep variable of this case",
        ),
        (
            case("    op: Gelu\n    attributes: {approximate: 1}\n    inputs: [{shape: [1]}]\n"),
            "s.yaml:7:31: attribute `approximate` of `Gelu` is a string, got the integer 1",
        ),
        (
            case("    op: Exp\n    attributes: {axis: 1}\n    inputs: [{shape: [1]}]\n"),
            "s.yaml:7:18: `Exp` has no attribute `axis`; it takes none",
        ),
        (
            case("    op: MatMul\n    inputs: [{shape: [1]}]\n"),
            "s.yaml:7:13: `MatMul` takes 2 inputs (A, B), got 1",
        ),
        (
            case("    op: Gemm\n    inputs:\n      - {shape: [1, 1]}\n      - absent\n"),
            "s.yaml:9:9: input 1 (`B`) of `Gemm` is required and cannot be absent",
        ),
        (
            case("    op: Concat\n    inputs: []\n"),
            "s.yaml:7:13: `Concat` takes at least one input",
        ),
        (
            case("    op: Exp\n    inputs: [{dtype: f32}]\n"),
            "s.yaml:7:14: input 0 (`X`) needs a `shape` or `values`",
        ),
        (
            case("    op: Exp\n    inputs: [{shape: [3], values: [1, 2]}]\n"),
            "s.yaml:7:35: 2 values for shape [3] (3 elements)",
        ),
        (
            case("    op: Exp\n    inputs: [{dtype: i64, values: [1, 2.5]}]\n"),
            "s.yaml:7:39: 2.5 is not a value of dtype i64",
        ),
        (
            case(
                "    op: Add\n    inputs: [{dtype: i32, shape: [3]}, {dtype: i32, shape: [1], dist: {uniform: {}}}]\n",
            ),
            "s.yaml:7:71: `uniform` makes fractional or special values; input dtype i32 needs `int`, `bernoulli` or `values`",
        ),
        (
            case("    op: Exp\n    inputs: [{shape: [2], dist: {int: {low: 3, high: 1}}}]\n"),
            "s.yaml:7:33: int needs low <= high, got [3, 1]",
        ),
        (
            case(
                "    op: Exp\n    inputs: [{shape: [2], values: [1, 2], dist: {int: {low: 0, high: 1}}}]\n",
            ),
            "s.yaml:7:49: give either `values` or `dist`, not both",
        ),
        (
            case(
                "    op: Exp\n    inputs: [{shape: [1]}]\n    check: {allclose: {rtol: -1, atol: 0}}\n",
            ),
            "s.yaml:8:12: rtol and atol must be finite and >= 0",
        ),
        (
            case("    op: Exp\n    inputs: [{values: [nan]}]\n"),
            "s.yaml:7:24: `nan` is not a number or a sweep variable of this case (YAML spells it `.nan`)",
        ),
        (
            format!("{HEAD}  - name: Bad\n    op: Exp\n    inputs: [{{shape: [1]}}]\n"),
            "s.yaml:5:11: case name `Bad` must match [a-z0-9_]+",
        ),
        (
            "suite: t\ncases:\n  - name: c\n    op: Exp\n    inputs: [{shape: [1]}]\n".to_string(),
            "s.yaml:3:5: case has no `dtypes:` and the suite gives no default `dtypes:`",
        ),
        (
            "suite: t\ncases: []\n".to_string(),
            "s.yaml:1:8: suite `t` has no cases (after includes)",
        ),
        (
            "suite: t\ncases:\n  - name: c\n    name: d\n".to_string(),
            "s.yaml:4:5: duplicate mapping key: name",
        ),
    ];
    let mut wrong = Vec::new();
    for (text, want) in cases {
        let got = error_of(text);
        assert!(!got.contains('\n'), "one line: {got}");
        if !got.starts_with(want) {
            wrong.push(format!(" got: {got}\nwant: {want}"));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn duplicate_ids_point_at_both_cases() {
    let got = error_of(&format!(
        "{HEAD}  - name: c\n    op: Exp\n    inputs: [{{shape: [1]}}]\n  - name: c\n    op: Exp\n    inputs: [{{shape: [2]}}]\n"
    ));
    assert!(
        got.starts_with("s.yaml:8:5: duplicate case id `t.exp.f32.c`; first defined at "),
        "{got}"
    );
    assert!(got.ends_with("s.yaml:5:5"), "{got}");
}

#[test]
fn error_snippet_shows_the_line() {
    let (_d, p) = write(&[(
        "s.yaml",
        "suite: t\ndtypes: [f32]\ncases:\n  - name: c\n    op: Matmul\n    inputs: []\n",
    )]);
    let e = load(&p).unwrap_err();
    assert_eq!(
        e.snippet.as_deref(),
        Some("  |     op: Matmul\n  |         ^")
    );
    assert!(e.render().ends_with("^"));
}

#[test]
fn core_suite_loads() {
    let s = load(&core_path()).unwrap();
    assert_eq!(s.name, "core");
    assert!(s.cases.len() > 150, "{} cases", s.cases.len());
    let ids: std::collections::BTreeSet<&str> = s.cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), s.cases.len());
    let ops: std::collections::BTreeSet<&str> = s.cases.iter().map(|c| c.op.name).collect();
    let missing: Vec<&str> = crate::ops::names().filter(|n| !ops.contains(n)).collect();
    assert!(missing.is_empty(), "ops without a case: {missing:?}");
    assert!(ids.contains("core.matmul.f32.long_k"));
    assert!(s.cases.iter().all(|c| c.location.contains("core.yaml:")));
    // Generation is cheap enough to do for every case.
    let total: usize = s
        .cases
        .iter()
        .flat_map(generate_inputs)
        .flatten()
        .map(|t| t.numel())
        .sum();
    assert!(total > 1_000_000, "{total}");
}

#[test]
fn non_finite_literals_are_values_where_values_are_read() {
    // docs/suite-format.md documents `.nan`, `.inf`, `-.inf` in `values`;
    // serde-saphyr rejects them in untyped values unless told otherwise.
    let s = load_str(&format!(
        "{HEAD}  - name: special
    op: Relu
    inputs:
      - {{values: [.nan, .inf, -.inf, .NaN, -.Inf, 1.5]}}
    expected:
      - {{dtype: f32, shape: [6], values: [.nan, .inf, 0, .nan, 0, 1.5]}}
"
    ))
    .unwrap();
    let c = &s.cases[0];
    let InputSpec::Tensor(t) = &c.inputs[0] else {
        panic!("a tensor input")
    };
    let Source::Values(v) = &t.source else {
        panic!("literal values")
    };
    assert!(v[0].is_nan() && v[3].is_nan());
    assert_eq!(&v[1..3], &[f64::INFINITY, f64::NEG_INFINITY]);
    assert_eq!(v[4], f64::NEG_INFINITY);
    let e = c.expected[0].as_ref().expect("published");
    assert!(e.values[0].is_nan());
    assert_eq!(e.values[1], f64::INFINITY);
    assert_eq!(e.shape, vec![6]);
    assert_eq!(e.dtype, Some(DType::F32));
    // and a float attribute (LeakyRelu's alpha is not needed here: any
    // untyped value goes the same way).
    let e = error_of(&format!(
        "{HEAD}  - name: int_nan
    op: Relu
    dtypes: [i32]
    inputs:
      - {{values: [.nan]}}
"
    ));
    assert!(e.contains("NaN is not a value of dtype i32"), "{e}");
}

#[test]
fn expected_outputs_are_checked_at_load() {
    let case = |extra: &str, expected: &str| {
        error_of(&format!(
            "{HEAD}  - name: e
    op: Relu
{extra}    inputs:
      - {{values: [1, 2]}}
    expected:
{expected}"
        ))
    };
    let e = case("", "      - {shape: [3], values: [1, 2]}\n");
    assert!(e.contains("2 values for shape [3]"), "{e}");
    let e = case(
        "",
        "      - {shape: [2], values: [1, 2]}\n      - {shape: [2], values: [1, 2]}\n",
    );
    assert!(
        e.contains("2 expected outputs; the case requests 1 of Relu's"),
        "{e}"
    );
    let e = case(
        "    dtypes: [f32, f16]\n",
        "      - {shape: [2], values: [1, 2]}\n",
    );
    assert!(e.contains("only one dtype"), "{e}");
    let e = case("", "      - {dtype: i32, shape: [2], values: [1, 2.5]}\n");
    assert!(e.contains("2.5 is not a value of dtype i32"), "{e}");
    let e = case("", "      - {shape: [2], values: [1, 2], check: exact}\n");
    assert!(e.contains("check"), "{e}");
    let e = error_of(&format!(
        "{HEAD}  - op: Relu
    generate: pairwise
    expected:
      - {{shape: [1], values: [1]}}
"
    ));
    assert!(e.contains("a `generate:` entry makes many"), "{e}");
    let e = case("", "      - omitted\n");
    assert!(e.contains("write `absent`"), "{e}");
}

#[test]
fn an_expected_output_may_be_absent() {
    // ONNX nodes that name only a later output (LSTM's `["", "Y_h"]`).
    let s = load_str(&format!(
        "{HEAD}  - name: topk
    op: TopK
    inputs:
      - {{values: [3, 1, 2]}}
      - {{dtype: i64, shape: [1], values: [2]}}
    expected:
      - absent
      - {{dtype: i64, shape: [2], values: [0, 2]}}
"
    ))
    .unwrap();
    let c = &s.cases[0];
    assert!(c.expected[0].is_none());
    assert_eq!(c.expected[1].as_ref().unwrap().values, vec![0.0, 2.0]);
}

#[test]
fn requested_outputs_are_checked_at_load() {
    let case = |op: &str, outputs: &str, inputs: &str| {
        error_of(&format!(
            "{HEAD}  - name: o
    op: {op}
    outputs: {outputs}
    inputs:
{inputs}"
        ))
    };
    let ln = "      - {shape: [2, 4]}\n      - {shape: [4]}\n";
    let e = case("LayerNormalization", "4", ln);
    assert!(
        e.contains("4 outputs requested; LayerNormalization-17 has 1 to 3"),
        "{e}"
    );
    let e = case("LayerNormalization", "-1", ln);
    assert!(e.contains("outputs must be a count >= 1"), "{e}");
    let e = case("Relu", "2", "      - {shape: [2]}\n");
    assert!(e.contains("Relu-14 has exactly 1"), "{e}");
    // Split: the count must divide the axis.
    let e = case("Split", "4", "      - {shape: [6]}\n");
    assert!(e.contains("does not split into 4 equal parts"), "{e}");
    // A generate entry takes none.
    let e = error_of(&format!(
        "{HEAD}  - {{op: Relu, generate: pairwise, outputs: 1}}\n"
    ));
    assert!(
        e.contains("a `generate:` entry takes the op's cases"),
        "{e}"
    );
}

#[test]
fn requested_outputs_reach_the_case() {
    let suite = parse_str(
        "t.yaml",
        "suite: t\ndtypes: [f32]\ncases:\n  - name: o\n    op: LayerNormalization\n    outputs: 3\n    inputs:\n      - {shape: [2, 4]}\n      - {shape: [4]}\n",
    )
    .unwrap();
    assert_eq!(suite.cases[0].outputs, Some(3));
}

#[test]
fn a_selecting_load_expands_only_the_generated_entries_a_glob_can_reach() {
    let text = "suite: g\nseed: 3\ncases:\n  - {op: Softmax, generate: pairwise}\n  - {op: Relu, generate: pairwise}\n  - name: one\n    op: Add\n    dtypes: [f32]\n    inputs: [{shape: [2]}, {shape: [2]}]\n";
    let (_dir, path) = write(&[("g.yaml", text)]);
    let all = load(&path).unwrap();
    let select = |globs: &[&str]| {
        let globs: Vec<String> = globs.iter().map(|g| g.to_string()).collect();
        load_selected(std::slice::from_ref(&path), &globs)
            .unwrap()
            .remove(0)
    };
    let ids = |s: &Suite, start: &str| -> Vec<String> {
        s.cases
            .iter()
            .filter(|c| c.id.starts_with(start))
            .map(|c| c.id.clone())
            .collect()
    };
    // The selected op's cases are exactly the unselected load's, with the
    // same seeds and inputs; the other generated entry is not expanded;
    // hand-written cases always load (they cost nothing to expand).
    let relu = select(&["g.relu.*"]);
    assert_eq!(ids(&relu, "g.relu."), ids(&all, "g.relu."));
    assert!(!ids(&relu, "g.relu.").is_empty());
    assert!(ids(&relu, "g.softmax.").is_empty());
    assert_eq!(ids(&relu, "g.add."), ids(&all, "g.add."));
    for c in relu.cases.iter().filter(|c| c.id.starts_with("g.relu.")) {
        let same = all.cases.iter().find(|a| a.id == c.id).unwrap();
        assert_eq!((c.seed, &c.inputs), (same.seed, &same.inputs));
    }
    // A glob whose star can reach any op keeps everything.
    assert_eq!(select(&["*.relu.*"]).cases.len(), all.cases.len());
    // A suite left with nothing by the globs is not an empty-suite error.
    let (_d2, only_gen) = write(&[(
        "h.yaml",
        "suite: h\ncases:\n  - {op: Relu, generate: pairwise}\n",
    )]);
    let none = load_selected(&[only_gen], &["h.softmax.*".to_string()]).unwrap();
    assert!(none[0].cases.is_empty());
}
