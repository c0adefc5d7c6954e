//! Tests of the registry as a whole: names, shape rules against the oracle,
//! cost models.

use std::collections::BTreeSet;
use std::path::Path;

use super::*;

#[test]
fn names_are_unique_and_found() {
    let mut seen = BTreeSet::new();
    for &op in Op::ALL {
        assert!(seen.insert(op.name), "{} listed twice", op.name);
        assert_eq!(Op::from_name(op.name), Some(op));
    }
    for (op, spelling) in Op::ALL.iter().zip(Op::SPELLINGS) {
        assert_eq!(op.name, *spelling, "registry line {spelling}");
    }
    assert!(
        Op::from_name("matmul").is_none(),
        "lookup is case-sensitive, like ONNX"
    );
    assert_eq!(Op::ALL.len(), 163);
}

fn infer(
    name: &str,
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    Op::from_name(name)
        .expect("known op")
        .output_shapes(attrs, inputs, values)
}

fn f(s: &[usize]) -> Option<TypedShape> {
    Some((DType::F32, s.to_vec()))
}

fn ind(s: &[usize]) -> Option<TypedShape> {
    Some((DType::I64, s.to_vec()))
}

fn attrs(list: &[(&str, AttrValue)]) -> Attributes {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[test]
fn shapes_of_model_ops() {
    let none = &mut |_: usize| vec![];
    let a = Attributes::new();
    assert_eq!(
        infer("MatMul", &a, &[f(&[1, 5, 64]), f(&[64, 32])], none).unwrap()[0].1,
        vec![1, 5, 32]
    );
    assert_eq!(
        infer("Add", &a, &[f(&[2, 1, 4]), f(&[3, 1])], none).unwrap()[0].1,
        vec![2, 3, 4]
    );
    let g = attrs(&[("axis", AttrValue::Int(1))]);
    assert_eq!(
        infer("Gather", &g, &[f(&[2, 7, 3]), ind(&[4])], none).unwrap()[0].1,
        vec![2, 4, 3]
    );
    let mut shape = |_: usize| vec![0.0, -1.0, 4.0, 8.0];
    assert_eq!(
        infer("Reshape", &a, &[f(&[1, 5, 32]), ind(&[4])], &mut shape).unwrap()[0].1,
        vec![1, 5, 4, 8]
    );
    let mut axes = |_: usize| vec![1.0];
    let k = attrs(&[("keepdims", AttrValue::Int(0))]);
    assert_eq!(
        infer("ReduceSum", &k, &[f(&[2, 5, 3]), ind(&[1])], &mut axes).unwrap()[0].1,
        vec![2, 3]
    );
    let mut two = |_: usize| vec![2.0];
    let t = infer("TopK", &a, &[f(&[5, 8]), ind(&[1])], &mut two).unwrap();
    assert_eq!(t[0].1, vec![5, 2]);
    assert_eq!(t[1].0, DType::I64);
    let at = infer(
        "Attention",
        &a,
        &[f(&[1, 4, 3, 24]), f(&[1, 4, 9, 24]), f(&[1, 4, 9, 16])],
        none,
    )
    .unwrap();
    assert_eq!(at[0].1, vec![1, 4, 3, 16]);
    assert!(infer("MatMul", &a, &[f(&[1, 5]), f(&[4, 2])], none).is_err());
}

/// The bundled operator suites (`suites/ops/*.yaml`), loaded.
fn bundled_suites() -> Vec<crate::suite::Suite> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites/ops");
    let files = crate::suite::yaml_files(&dir).expect("suites/ops");
    crate::suite::load_all(&files).expect("bundled suites load")
}

/// The elements of a case's inputs: what the tests below stay small by.
fn input_elements(case: &crate::suite::Case) -> usize {
    case.inputs
        .iter()
        .map(|i| match i {
            crate::suite::InputSpec::Tensor(t) => t.numel(),
            crate::suite::InputSpec::Absent => 0,
        })
        .sum()
}

/// Every op's shape rule gives the dtypes and shapes its oracle computes,
/// on every case of the bundled operator suites small enough to evaluate
/// quickly: the rule the model path allocates by and the oracle cannot
/// drift apart.
#[test]
fn shape_rules_agree_with_the_oracle_on_the_bundled_suites() {
    let suites = bundled_suites();
    let mut checked = BTreeSet::new();
    let mut compared = 0;
    for case in suites.iter().flat_map(|s| &s.cases) {
        let elems = input_elements(case);
        if elems > 1 << 16 {
            continue;
        }
        let inputs = crate::suite::generate_inputs(case);
        let values: Vec<Option<Value>> = inputs
            .iter()
            .map(|t| t.as_ref().map(|t| Value::new(t.dtype, t.to_f64())))
            .collect();
        let Ok(expected) = evaluate(case.op, &case.attributes, &values) else {
            continue; // an invalid case: the oracle's error is the verdict
        };
        let shapes: Vec<Option<TypedShape>> = inputs
            .iter()
            .map(|t| t.as_ref().map(|t| (t.dtype, t.shape.clone())))
            .collect();
        let mut read = |i: usize| -> Vec<f64> {
            values[i]
                .as_ref()
                .map(|v| v.data.iter().copied().collect())
                .unwrap_or_default()
        };
        let rule = case
            .op
            .output_shapes(&case.attributes, &shapes, &mut read)
            .unwrap_or_else(|e| panic!("{}: {e}", case.id));
        let mut oracle: Vec<TypedShape> = expected
            .iter()
            .map(|o| (o.value.dtype, o.value.shape().to_vec()))
            .collect();
        within_bounds(case.op, &mut oracle, Some(&rule));
        assert_eq!(rule, oracle, "{}", case.id);
        checked.insert(case.op);
        compared += 1;
    }
    let missing: Vec<Op> = Op::ALL
        .iter()
        .copied()
        .filter(|op| !checked.contains(op))
        .collect();
    assert!(missing.is_empty(), "no case compared for {missing:?}");
    assert!(compared > 300, "{compared} cases compared");
}

#[test]
fn product_costs_count_multiply_adds() {
    let none = Attributes::new();
    // [3, 4, 16] x [16, 8]: 3 * 4 * 8 * 16 multiply-adds.
    let w = Op::MatMul.work(&none, &[Some(&[3, 4, 16]), Some(&[16, 8])]);
    assert_eq!(w.multiply_adds, 1536.0);
    assert_eq!(w.flops, Some(3072.0));
    // Batches broadcast: [2, 1, 4, 16] x [3, 16, 8] is 6 products.
    let w = Op::MatMul.work(&none, &[Some(&[2, 1, 4, 16]), Some(&[3, 16, 8])]);
    assert_eq!(w.multiply_adds, 6.0 * 4.0 * 8.0 * 16.0);
    // A vector times a matrix: m = 1.
    let w = Op::MatMul.work(&none, &[Some(&[16]), Some(&[16, 8])]);
    assert_eq!(w.multiply_adds, 128.0);
    // Attention [1, 2, 3, 8] x [1, 2, 5, 8], V [1, 2, 5, 4]: QK^T 6*5*8,
    // PV 6*5*4, softmax 5 per score.
    let w = Op::Attention.work(
        &none,
        &[
            Some(&[1, 2, 3, 8]),
            Some(&[1, 2, 5, 8]),
            Some(&[1, 2, 5, 4]),
        ],
    );
    assert_eq!(w.multiply_adds, 6.0 * 5.0 * 12.0);
    assert_eq!(w.flops, Some(2.0 * 360.0 + 5.0 * 30.0));
    // Elementwise ops have FLOPs but no multiply-adds; movement has neither.
    let w = Op::Add.work(&none, &[Some(&[2, 1, 4]), Some(&[3, 1])]);
    assert_eq!((w.flops, w.multiply_adds), (Some(24.0), 0.0));
    assert_eq!(
        Op::Gather.work(&none, &[Some(&[4, 4]), Some(&[2])]).flops,
        None
    );
}

/// The harness's logic asks an op's definition instead of matching its name:
/// outside `ops/` (and outside tests and comments), no source file spells a
/// registered op's name as a string literal.
#[test]
fn op_names_are_spelled_only_in_their_definitions() {
    fn walk(dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("source dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "ops") {
                    walk(&path, found);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs")
                || path.file_name().is_some_and(|n| n == "tests.rs")
            {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("source file");
            let logic = text.split("#[cfg(test)]").next().unwrap_or("");
            for (no, line) in logic.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                for name in names() {
                    if line.contains(&format!("\"{name}\"")) {
                        found.push(format!("{}:{}: {name}", path.display(), no + 1));
                    }
                }
            }
        }
    }
    let mut found = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut found,
    );
    assert!(
        found.is_empty(),
        "op names outside their definitions: {found:#?}"
    );
}

/// What the shape rule and the oracle say about one call: `Ok` or the
/// message; a panic in either is reported as such.
fn judge(op: Op, attrs: &Attributes, values: &[Option<Value>]) -> (String, String) {
    let shapes: Vec<Option<TypedShape>> = values
        .iter()
        .map(|v| v.as_ref().map(|v| (v.dtype, v.data.shape().to_vec())))
        .collect();
    let rule = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut read = |i: usize| -> Vec<f64> {
            values
                .get(i)
                .and_then(Option::as_ref)
                .map(|v| v.data.iter().copied().collect())
                .unwrap_or_default()
        };
        op.output_shapes(attrs, &shapes, &mut read)
    }));
    let oracle = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let refs: Vec<Option<&Value>> = values.iter().map(Option::as_ref).collect();
        let def = op.def();
        let call = Call {
            spec: &def.spec,
            attrs,
            inputs: &refs,
            magnitudes: false,
            requested: None,
        };
        call.check_signature().and_then(|()| (def.oracle)(&call))
    }));
    let show = |r: std::thread::Result<std::result::Result<String, String>>| match r {
        Ok(Ok(s)) => format!("ok {s}"),
        Ok(Err(e)) => format!("err {e}"),
        Err(_) => "panic".to_string(),
    };
    let bounds: Option<Vec<TypedShape>> = match &rule {
        Ok(Ok(b)) => Some(b.clone()),
        _ => None,
    };
    (
        show(rule.map(|r| r.map(|s| format!("{s:?}")))),
        show(oracle.map(|r| {
            r.map(|o| {
                let mut shapes: Vec<TypedShape> = o
                    .iter()
                    .map(|o| (o.value.dtype, o.value.shape().to_vec()))
                    .collect();
                within_bounds(op, &mut shapes, bounds.as_deref());
                format!("{shapes:?}")
            })
            .map_err(|e| e.to_string())
        })),
    )
}

/// Replaces each data-dependent output's shape in `oracle` by the rule's
/// bound when it fits it (same dtype and rank, each dim at most the
/// bound's): the rule promises a bound there, not the shape.
fn within_bounds(op: Op, oracle: &mut [TypedShape], bounds: Option<&[TypedShape]>) {
    let Some(bounds) = bounds else { return };
    for &i in op.def().data_dependent_outputs() {
        if let (Some(o), Some(b)) = (oracle.get_mut(i), bounds.get(i))
            && o.0 == b.0
            && o.1.len() == b.1.len()
            && o.1.iter().zip(&b.1).all(|(x, y)| x <= y)
        {
            *o = b.clone();
        }
    }
}

/// Small deterministic values for an input of `dtype` and `shape`: integers
/// in [-3, 4] for integer dtypes, quarters in [-2, 2) for floats.
fn filler(dtype: DType, shape: &[usize], salt: usize) -> Value {
    let n: usize = shape.iter().product();
    let data: Vec<f64> = (0..n)
        .map(|i| {
            let k = (i * 7 + salt * 3) % 8;
            match dtype {
                DType::Bool => (k % 2) as f64,
                d if d.is_float() => crate::numerics::round_to(d, k as f64 / 4.0 - 1.0),
                DType::I8 | DType::I16 | DType::I32 | DType::I64 => k as f64 - 3.0,
                _ => k as f64,
            }
        })
        .collect();
    Value::new(
        dtype,
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), data).expect("numel"),
    )
}

/// Variants of one valid call, each changing one thing a suite author can
/// get wrong: an attribute's value, a dimension, the rank, an input's dtype,
/// an integer input's values.
fn mutants(
    op: Op,
    attrs: &Attributes,
    values: &[Option<Value>],
) -> Vec<(String, Attributes, Vec<Option<Value>>)> {
    let mut out = Vec::new();
    for &(name, ty) in op.spec().attributes {
        let tries: Vec<AttrValue> = match ty {
            AttrType::Int => [-4, -3, -2, -1, 0, 1, 2, 3, 4, 1000, i64::MIN]
                .map(AttrValue::Int)
                .to_vec(),
            AttrType::Float => [0.0, -1.0, 0.5, 1e30, f64::NAN, f64::INFINITY]
                .map(AttrValue::Float)
                .to_vec(),
            AttrType::String => ["", "bogus", "tanh", "none", "NOTSET"]
                .map(|s| AttrValue::String(s.into()))
                .to_vec(),
            AttrType::Ints => vec![
                AttrValue::Ints(vec![]),
                AttrValue::Ints(vec![0]),
                AttrValue::Ints(vec![-1]),
                AttrValue::Ints(vec![0, 0]),
                AttrValue::Ints(vec![1, 0]),
                AttrValue::Ints(vec![0, 1, 2]),
                AttrValue::Ints(vec![2, 0, 1]),
                AttrValue::Ints(vec![5]),
                AttrValue::Ints(vec![-7, 3]),
            ],
            AttrType::Floats => vec![AttrValue::Floats(vec![]), AttrValue::Floats(vec![1.0])],
            // One element or several, of a wide, a narrow and a bool dtype.
            AttrType::Tensor => [
                (DType::F32, vec![], vec![2.5]),
                (DType::I64, vec![2], vec![3.0, -1.0]),
                (DType::F8E8M0, vec![1], vec![4.0]),
                (DType::Bool, vec![1, 1], vec![1.0]),
                (DType::U8, vec![0], vec![]),
            ]
            .into_iter()
            .map(|(d, s, v)| {
                AttrValue::Tensor(crate::ops::attr_tensor::from_values(d, &s, &v).expect("exact"))
            })
            .collect(),
        };
        for v in tries {
            let mut a = attrs.clone();
            let label = format!("{name}={v}");
            a.insert(name.to_string(), v);
            out.push((label, a, values.to_vec()));
        }
        let mut a = attrs.clone();
        if a.remove(name).is_some() {
            out.push((format!("no {name}"), a, values.to_vec()));
        }
    }
    for (i, v) in values.iter().enumerate() {
        let Some(v) = v else { continue };
        let shape = v.data.shape().to_vec();
        let mut shapes = Vec::new();
        for d in 0..shape.len() {
            for new in [shape[d] + 1, shape[d].saturating_sub(1), 1, 0] {
                let mut s = shape.clone();
                s[d] = new;
                shapes.push((format!("input {i} dim {d}={new}"), s));
            }
        }
        if !shape.is_empty() {
            shapes.push((format!("input {i} rank-1"), shape[1..].to_vec()));
        }
        let mut s = vec![2];
        s.extend(&shape);
        shapes.push((format!("input {i} rank+1"), s));
        shapes.push((format!("input {i} scalar"), vec![]));
        for (label, s) in shapes {
            let mut vals = values.to_vec();
            vals[i] = Some(filler(v.dtype, &s, i));
            out.push((label, attrs.clone(), vals));
        }
        for dt in [
            DType::F32,
            DType::F16,
            DType::F8E4M3FN,
            DType::I8,
            DType::I64,
            DType::I32,
            DType::U8,
            DType::Bool,
        ] {
            if dt != v.dtype {
                let mut vals = values.to_vec();
                vals[i] = Some(filler(dt, &shape, i));
                out.push((format!("input {i} dtype {dt}"), attrs.clone(), vals));
            }
        }
        if !v.dtype.is_float() && !v.data.is_empty() {
            for x in [-100.0, 100.0, i64::MIN as f64, 0.0, -1.0] {
                let mut vals = values.to_vec();
                let mut w = v.clone();
                let last = w.data.len() - 1;
                *w.data.iter_mut().nth(last).expect("nonempty") = wrap_int(v.dtype, x);
                vals[i] = Some(w);
                out.push((format!("input {i} holds {x}"), attrs.clone(), vals));
            }
        }
        if i > 0 || values.len() > 1 {
            let mut vals = values.to_vec();
            vals[i] = None;
            out.push((format!("input {i} absent"), attrs.clone(), vals));
        }
    }
    out
}

/// The shape rule is the load-time judge of a case (`suite` calls it before
/// anything runs), so it must refuse every call the oracle refuses, and
/// accept every call the oracle accepts, with the same output shapes: else
/// a suite mistake passes the load and is blamed on the backend, or a valid
/// case is refused. Checked on thousands of one-change variants of the
/// bundled cases; neither side may panic.
#[test]
fn shape_rules_judge_calls_as_the_oracle_does() {
    let suites = bundled_suites();
    let mut per_op: std::collections::BTreeMap<Op, usize> = Default::default();
    let mut disagreements: std::collections::BTreeMap<(Op, String), String> = Default::default();
    let mut judged = 0;
    for case in suites.iter().flat_map(|s| &s.cases) {
        let elems = input_elements(case);
        let seen = per_op.entry(case.op).or_default();
        if elems > 1 << 10 || *seen >= 6 {
            continue;
        }
        *seen += 1;
        let values: Vec<Option<Value>> = crate::suite::generate_inputs(case)
            .iter()
            .map(|t| t.as_ref().map(|t| Value::new(t.dtype, t.to_f64())))
            .collect();
        for (label, attrs, vals) in mutants(case.op, &case.attributes, &values) {
            let (rule, oracle) = judge(case.op, &attrs, &vals);
            judged += 1;
            let agree = match (rule.as_str(), oracle.as_str()) {
                (r, o) if r.starts_with("ok") && o.starts_with("ok") => r == o,
                (r, o) => r.starts_with("err") && o.starts_with("err"),
            };
            if !agree {
                let kind = label
                    .split(['=', ' '])
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ");
                disagreements.entry((case.op, kind)).or_insert_with(|| {
                    format!("{} [{label}]: rule {rule} / oracle {oracle}", case.id)
                });
            }
        }
    }
    let report: Vec<String> = disagreements.values().cloned().collect();
    assert!(
        report.is_empty(),
        "{} disagreements in {judged} calls:\n{}",
        report.len(),
        report.join("\n")
    );
    assert!(judged > 5000, "{judged} calls judged");
}

#[test]
fn versions_ascend_and_share_the_name() {
    for &op in Op::ALL {
        let versions = op.versions();
        assert_eq!(versions.last().map(|d| d.spec.opset), Some(op.opset));
        for pair in versions.windows(2) {
            assert!(
                pair[0].spec.opset < pair[1].spec.opset,
                "{op}: versions must ascend"
            );
        }
        for d in versions {
            assert_eq!(d.spec.name, op.name, "{op}: a version of another op");
            assert_eq!(
                op.def_at(d.spec.opset).map(|v| v.spec.opset),
                Some(d.spec.opset)
            );
        }
        let oldest = versions[0].spec.opset;
        assert!(op.def_at(oldest - 1).is_none());
        assert_eq!(op.def_at(i64::MAX).map(|d| d.spec.opset), Some(op.opset));
    }
}
