//! ONNX's official node tests as an xpucert suite.
//!
//! The `onnx` wheel ships one directory per test under
//! `onnx/backend/test/data/node/` (fetched by `fixtures/fetch-onnx-tests.sh`):
//! `model.onnx`, a graph of one node (or, for `*_expanded*` tests, the
//! node's function body), and `test_data_set_N/input_K.pb` and
//! `output_K.pb`, the graph's inputs and the outputs ONNX computed for them
//! (numpy, in the output dtype). [`convert_dir`] turns each test of a
//! single node of a registry operator into a suite case with the test's
//! exact inputs (`values`), its attributes, the model's opset and the
//! published outputs as `expected`; every other test gets a [`Reason`].
//! Each case is judged by the suite loader itself before it is kept, so the
//! written suite always loads; a case the loader refuses is listed with the
//! loader's message. Nothing here is specific to an operator: ops added to
//! the registry get their node tests converted by the next conversion.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Attribute, OnnxError, Tensor, ValueType, data_type_name};
use crate::numerics::DType;
use crate::ops::{AttrType, Op};

/// The suite name of the converted files (case ids are
/// `onnx_node.<op>.<dtype>.<test name>`).
pub const SUITE: &str = "onnx_node";

/// Why a node test was not converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A `*_expanded*` test whose graph (the operator's function body) has
    /// several nodes; the op's own test is converted instead. A one-node
    /// body (CastLike's is one Cast) is converted as a test of that node.
    FunctionExpansion,
    /// A graph of several nodes that is not a function expansion.
    MultiNode,
    /// The node's domain is not the default ONNX domain (ai.onnx.ml,
    /// training, preview ops).
    OtherDomain,
    /// The operator is not in xpucert's registry.
    UnknownOp,
    /// The model's opset is older than every version xpucert implements.
    OpsetTooOld,
    /// An input or output has a data type xpucert has no dtype for
    /// (strings, complex, ...).
    UnsupportedDtype,
    /// An input or output is a sequence, map, optional or sparse tensor.
    NonTensorValue,
    /// A tensor-valued attribute where the registry's definition declares
    /// another type (a declared tensor attribute, Constant's and
    /// ConstantOfShape's `value`, is converted).
    TensorAttribute,
    /// Another attribute kind xpucert's attributes cannot carry (graphs,
    /// lists of strings, type protos).
    UnsupportedAttribute,
    /// An attribute the registry's definition of the op (at the test's
    /// opset) does not declare.
    UndeclaredAttribute,
    /// The node asks for more outputs than the registry's definition
    /// computes, or omits one before another.
    Outputs,
    /// A node in training mode (`training_mode` 1: BatchNormalization's
    /// running statistics): training is out of xpucert's scope.
    TrainingMode,
    /// An integer value beyond 2^53: suite values are read as f64.
    InexactValue,
    /// The suite loader refuses the case (type constraints, shape rule,
    /// opset); the detail is its message.
    Refused,
    /// A file of the test cannot be read or decoded.
    Unreadable,
}

impl Reason {
    /// Every reason, in report order.
    pub const ALL: [Reason; 15] = [
        Reason::FunctionExpansion,
        Reason::MultiNode,
        Reason::OtherDomain,
        Reason::UnknownOp,
        Reason::OpsetTooOld,
        Reason::UnsupportedDtype,
        Reason::NonTensorValue,
        Reason::TensorAttribute,
        Reason::UnsupportedAttribute,
        Reason::UndeclaredAttribute,
        Reason::Outputs,
        Reason::TrainingMode,
        Reason::InexactValue,
        Reason::Refused,
        Reason::Unreadable,
    ];

    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Reason::FunctionExpansion => "function_expansion",
            Reason::MultiNode => "multi_node",
            Reason::OtherDomain => "other_domain",
            Reason::UnknownOp => "unknown_op",
            Reason::OpsetTooOld => "opset_too_old",
            Reason::UnsupportedDtype => "unsupported_dtype",
            Reason::NonTensorValue => "non_tensor_value",
            Reason::TensorAttribute => "tensor_attribute",
            Reason::UnsupportedAttribute => "unsupported_attribute",
            Reason::UndeclaredAttribute => "undeclared_attribute",
            Reason::Outputs => "outputs",
            Reason::TrainingMode => "training_mode",
            Reason::InexactValue => "inexact_value",
            Reason::Refused => "refused",
            Reason::Unreadable => "unreadable",
        }
    }
}

/// What became of one node test.
#[derive(Debug, Clone, Serialize)]
pub struct TestOutcome {
    /// The test's directory name (`test_abs`).
    pub test: String,
    /// The operator the test is of (the node's op type; for a function
    /// expansion, the op of the test it expands), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op_type: Option<String>,
    /// Whether that operator is in xpucert's registry.
    pub registry_op: bool,
    /// The model's opset for the default domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opset: Option<i64>,
    /// `None`: converted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// The specifics of the reason.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// The case YAML (one `cases:` entry per data set), when converted.
    #[serde(skip)]
    pub yaml: String,
    /// The case names, when converted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cases: Vec<String>,
}

impl TestOutcome {
    fn skipped(test: &str, reason: Reason, detail: impl Into<String>) -> TestOutcome {
        TestOutcome {
            test: test.to_string(),
            op_type: None,
            registry_op: false,
            opset: None,
            reason: Some(reason),
            detail: detail.into(),
            yaml: String::new(),
            cases: Vec::new(),
        }
    }
}

/// The conversion of a directory of node tests.
#[derive(Debug, Clone, Serialize)]
pub struct Conversion {
    /// The directory converted.
    pub source: PathBuf,
    /// Node tests found.
    pub tests: usize,
    /// Tests of an operator in the registry (function expansions of one
    /// included).
    pub registry_op_tests: usize,
    /// Tests converted.
    pub converted: usize,
    /// Cases written (one per data set of each converted test).
    pub cases: usize,
    /// Tests not converted, by reason.
    pub skipped: BTreeMap<&'static str, usize>,
    /// Every test, in directory order.
    pub outcomes: Vec<TestOutcome>,
}

/// Converts every node test under `dir` (the `node/` directory: one
/// subdirectory per test). An error only when `dir` cannot be listed;
/// a test that cannot be read is an outcome with [`Reason::Unreadable`].
pub fn convert_dir(dir: &Path) -> Result<Conversion, OnnxError> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| OnnxError::Io(format!("cannot read {}: {e}", dir.display())))?;
    let mut tests: Vec<(String, PathBuf)> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("model.onnx").is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    if tests.is_empty() {
        return Err(OnnxError::Io(format!(
            "{} holds no node test (no */model.onnx); run fixtures/fetch-onnx-tests.sh",
            dir.display()
        )));
    }
    tests.sort();
    let mut outcomes: Vec<TestOutcome> = tests.iter().map(|(n, p)| convert_test(n, p)).collect();
    // A function expansion is of the op of the test it expands.
    let ops: BTreeMap<String, String> = outcomes
        .iter()
        .filter_map(|o| o.op_type.clone().map(|op| (o.test.clone(), op)))
        .collect();
    for o in outcomes
        .iter_mut()
        .filter(|o| o.reason == Some(Reason::FunctionExpansion))
    {
        let base = expanded_base(&o.test);
        if let Some(op) = ops.get(base) {
            o.registry_op = Op::from_name(op).is_some_and(|x| x.domain.is_empty());
            o.op_type = Some(op.clone());
        }
    }
    let mut skipped = BTreeMap::new();
    for o in &outcomes {
        if let Some(r) = o.reason {
            *skipped.entry(r.name()).or_insert(0) += 1;
        }
    }
    Ok(Conversion {
        source: dir.to_path_buf(),
        tests: outcomes.len(),
        registry_op_tests: outcomes.iter().filter(|o| o.registry_op).count(),
        converted: outcomes.iter().filter(|o| o.reason.is_none()).count(),
        cases: outcomes.iter().map(|o| o.cases.len()).sum(),
        skipped,
        outcomes,
    })
}

/// `test_x_expanded_ver18` -> `test_x`.
fn expanded_base(test: &str) -> &str {
    test.find("_expanded").map_or(test, |i| &test[..i])
}

/// A test's tensors: its inputs and outputs by position, as decoded.
type DataSet = (Vec<Option<Tensor>>, Vec<Option<Tensor>>);

/// Converts one test directory.
pub fn convert_test(test: &str, dir: &Path) -> TestOutcome {
    match convert_inner(test, dir) {
        Ok(o) | Err(o) => *o,
    }
}

fn convert_inner(test: &str, dir: &Path) -> Result<Box<TestOutcome>, Box<TestOutcome>> {
    let skip = |r: Reason, d: String| Box::new(TestOutcome::skipped(test, r, d));
    let model = super::read_model(&dir.join("model.onnx"))
        .map_err(|e| skip(Reason::Unreadable, e.to_string()))?;
    let opset = super::opset_of(&model, "");
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| skip(Reason::Unreadable, "model.onnx has no graph".into()))?;
    if graph.node.len() != 1 {
        let r = if test.contains("_expanded") {
            Reason::FunctionExpansion
        } else {
            Reason::MultiNode
        };
        let mut out = skip(r, format!("{} nodes", graph.node.len()));
        out.opset = opset;
        return Err(out);
    }
    let node = &graph.node[0];
    let with = |r: Reason, d: String, registry: bool| {
        let mut o = skip(r, d);
        o.op_type = Some(node.op_type.clone());
        o.registry_op = registry;
        o.opset = opset;
        o
    };
    if !(node.domain.is_empty() || node.domain == "ai.onnx") {
        return Err(with(
            Reason::OtherDomain,
            format!("domain `{}`", node.domain),
            false,
        ));
    }
    let Some(op) = Op::from_name(&node.op_type).filter(|op| op.domain.is_empty()) else {
        return Err(with(
            Reason::UnknownOp,
            format!("`{}` is not in the registry", node.op_type),
            false,
        ));
    };
    let skip = |r: Reason, d: String| with(r, d, true);
    let Some(opset) = opset else {
        return Err(skip(
            Reason::Unreadable,
            "the model imports no opset of the default domain".into(),
        ));
    };
    let Some(def) = op.def_at(opset) else {
        return Err(skip(
            Reason::OpsetTooOld,
            format!(
                "opset {opset}; xpucert implements {}",
                crate::ops::versions_text(op)
            ),
        ));
    };

    // Every graph input and output must be a tensor of a dtype xpucert has.
    for v in graph.input.iter().chain(&graph.output) {
        match ValueType::of(v) {
            ValueType::Tensor { elem_type, .. } => {
                if DType::from_code(elem_type).is_none() {
                    return Err(skip(
                        Reason::UnsupportedDtype,
                        format!("`{}` is {}", v.name, data_type_name(elem_type)),
                    ));
                }
            }
            ValueType::Other(kind) => {
                return Err(skip(
                    Reason::NonTensorValue,
                    format!("`{}` is a {kind}", v.name),
                ));
            }
            ValueType::Unknown => {}
        }
    }

    // Attributes, checked against the version the test's opset selects.
    let mut attrs: Vec<(String, String)> = Vec::new();
    for a in &node.attribute {
        let value = Attribute::decode(a).map_err(|e| skip(Reason::Unreadable, e.to_string()))?;
        let declared = def.spec.attributes.iter().find(|(n, _)| *n == a.name);
        let text = match &value {
            // A tensor where the definition declares another type (a
            // tensor the definition declares is written below).
            Attribute::Tensor(_) if declared.is_some_and(|d| d.1 != AttrType::Tensor) => {
                return Err(skip(
                    Reason::TensorAttribute,
                    format!(
                        "attribute `{}` is a tensor; {}-{} declares it {:?}",
                        a.name,
                        op.name,
                        def.spec.opset,
                        declared.map(|d| d.1)
                    ),
                ));
            }
            Attribute::Strings(_) | Attribute::Other(_) => {
                return Err(skip(
                    Reason::UnsupportedAttribute,
                    format!("attribute `{}` is of type {:?}", a.name, a.r#type),
                ));
            }
            _ if declared.is_none() => {
                return Err(skip(
                    Reason::UndeclaredAttribute,
                    format!(
                        "{}-{} declares no attribute `{}`",
                        op.name, def.spec.opset, a.name
                    ),
                ));
            }
            // `{dtype, shape, values}`, as an input's literal (ABI minor 3
            // passes it to the backend as XPU_ATTR_TENSOR).
            Attribute::Tensor(t) => {
                let dtype = t.dtype().ok_or_else(|| {
                    skip(
                        Reason::UnsupportedDtype,
                        format!(
                            "attribute `{}` is a tensor of {}",
                            a.name,
                            data_type_name(t.data_type)
                        ),
                    )
                })?;
                tensor_yaml(t, dtype).map_err(|(r, d)| skip(r, d))?
            }
            Attribute::Int(i) => i.to_string(),
            Attribute::Float(f) => float_text(f64::from(*f), Some(DType::F32)),
            Attribute::Ints(v) => list(v.iter().map(|i| i.to_string())),
            Attribute::Floats(v) => list(
                v.iter()
                    .map(|f| float_text(f64::from(*f), Some(DType::F32))),
            ),
            Attribute::String(s) => match std::str::from_utf8(s) {
                Ok(s) => quoted(s),
                Err(_) => {
                    return Err(skip(
                        Reason::UnsupportedAttribute,
                        format!("attribute `{}` is not UTF-8", a.name),
                    ));
                }
            },
        };
        // An int written where the spec wants a float stays a float.
        let text = match (declared.map(|d| d.1), &value) {
            (Some(AttrType::Float), Attribute::Int(i)) => format!("{i}.0"),
            _ => text,
        };
        attrs.push((a.name.clone(), text));
    }

    // Training: a node computing training outputs is out of scope, whatever
    // else it asks.
    if node.attribute.iter().any(|a| {
        a.name == "training_mode" && matches!(Attribute::decode(a), Ok(Attribute::Int(v)) if v != 0)
    }) {
        return Err(skip(
            Reason::TrainingMode,
            format!(
                "training_mode=1 with {} outputs: training (updated running statistics) is out of scope; xpucert tests inference",
                node.output.len()
            ),
        ));
    }

    // Outputs: positional (an empty name is an output not asked for, which
    // the case lists as `absent`), no more than the definition computes (a
    // definition whose output count depends on the call, Split's, is judged
    // by the oracle when the case is loaded). The case requests the node's
    // count (`outputs:`) where the op has optional outputs the node asks
    // for, or decides its count by the call; otherwise the op's own count,
    // as before.
    let node_outputs: Vec<&String> = {
        let mut v: Vec<&String> = node.output.iter().collect();
        while v.last().is_some_and(|s| s.is_empty()) {
            v.pop();
        }
        v
    };
    if def.spec.outputs != 0 && node_outputs.len() > def.spec.outputs {
        return Err(skip(
            Reason::Outputs,
            format!(
                "the node has {} outputs; xpucert computes {}",
                node_outputs.len(),
                def.spec.outputs
            ),
        ));
    }

    let requested = (def.spec.outputs == 0 || node_outputs.len() > def.required_outputs())
        .then_some(node_outputs.len())
        .filter(|&n| n > 0);

    let sets = data_sets(dir).map_err(|e| skip(Reason::Unreadable, e))?;
    if sets.is_empty() {
        return Err(skip(Reason::Unreadable, "no test_data_set_*".into()));
    }
    let mut yaml = String::new();
    let mut cases = Vec::new();
    for (k, set_dir) in sets.iter().enumerate() {
        let (inputs, expected) =
            read_set(graph, node, &node_outputs, set_dir).map_err(|(r, d)| skip(r, d))?;
        let name = case_name(test, k);
        let text = case_yaml(&name, op, opset, &attrs, requested, &inputs, &expected)
            .map_err(|(r, d)| skip(r, d))?;
        // The loader's judgement, on exactly this text.
        let probe = format!("suite: {SUITE}\ncases:\n{text}");
        if let Err(e) = crate::suite::parse_str(&format!("{test}.yaml"), &probe) {
            return Err(skip(Reason::Refused, e.message));
        }
        yaml.push_str(&text);
        cases.push(name);
    }
    Ok(Box::new(TestOutcome {
        test: test.to_string(),
        op_type: Some(node.op_type.clone()),
        registry_op: true,
        opset: Some(opset),
        reason: None,
        detail: String::new(),
        yaml,
        cases,
    }))
}

/// The `test_data_set_*` directories, in numeric order.
fn data_sets(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut sets: Vec<(u64, PathBuf)> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let k = n.strip_prefix("test_data_set_")?.parse().ok()?;
            e.path().is_dir().then(|| (k, e.path()))
        })
        .collect();
    sets.sort();
    Ok(sets.into_iter().map(|(_, p)| p).collect())
}

/// The node's inputs (positional, `None` when omitted) and its outputs as
/// published, from one data set: a graph input `k` is `input_k.pb`, an
/// initializer its tensor; a graph output `k` is `output_k.pb`.
fn read_set(
    graph: &super::GraphProto,
    node: &super::NodeProto,
    outputs: &[&String],
    set: &Path,
) -> Result<DataSet, (Reason, String)> {
    let unreadable = |e: OnnxError| (Reason::Unreadable, e.to_string());
    let graph_inputs: Vec<&str> = graph
        .input
        .iter()
        .map(|v| v.name.as_str())
        .filter(|n| !graph.initializer.iter().any(|t| t.name == *n))
        .collect();
    let mut node_inputs: Vec<&String> = node.input.iter().collect();
    while node_inputs.last().is_some_and(|s| s.is_empty()) {
        node_inputs.pop();
    }
    let mut inputs = Vec::new();
    for name in node_inputs {
        if name.is_empty() {
            inputs.push(None);
        } else if let Some(k) = graph_inputs.iter().position(|n| n == name) {
            inputs.push(Some(
                super::read_tensor(&set.join(format!("input_{k}.pb"))).map_err(unreadable)?,
            ));
        } else if let Some(t) = graph.initializer.iter().find(|t| t.name == *name) {
            inputs.push(Some(Tensor::decode(t).map_err(unreadable)?));
        } else {
            return Err((
                Reason::Unreadable,
                format!("node input `{name}` is neither a graph input nor an initializer"),
            ));
        }
    }
    let mut expected = Vec::new();
    for name in outputs {
        if name.is_empty() {
            expected.push(None);
            continue;
        }
        let k = graph
            .output
            .iter()
            .position(|v| v.name == **name)
            .ok_or_else(|| {
                (
                    Reason::Unreadable,
                    format!("node output `{name}` is not a graph output"),
                )
            })?;
        expected.push(Some(
            super::read_tensor(&set.join(format!("output_{k}.pb"))).map_err(unreadable)?,
        ));
    }
    Ok((inputs, expected))
}

/// A case name from a test name: `[a-z0-9_]+`, with `_set<k>` for data
/// sets after the first.
fn case_name(test: &str, k: usize) -> String {
    let mut s: String = test
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '_'
            }
        })
        .collect();
    if k > 0 {
        write!(s, "_set{k}").expect("writing to a String");
    }
    s
}

/// One `cases:` entry.
fn case_yaml(
    name: &str,
    op: Op,
    opset: i64,
    attrs: &[(String, String)],
    requested: Option<usize>,
    inputs: &[Option<Tensor>],
    expected: &[Option<Tensor>],
) -> Result<String, (Reason, String)> {
    let dtype_of = |t: &Tensor| {
        t.dtype().ok_or_else(|| {
            (
                Reason::UnsupportedDtype,
                format!("`{}` is {}", t.name, data_type_name(t.data_type)),
            )
        })
    };
    let case_dtype = match inputs
        .iter()
        .flatten()
        .next()
        .or(expected.iter().flatten().next())
    {
        Some(t) => dtype_of(t)?,
        None => DType::F32,
    };
    let mut y = String::new();
    let w = &mut y;
    let _ = writeln!(w, "- name: {name}");
    let _ = writeln!(w, "  op: {}", op.name);
    let _ = writeln!(w, "  opset: {opset}");
    let _ = writeln!(w, "  dtypes: [{}]", case_dtype.name());
    if !attrs.is_empty() {
        let items: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let _ = writeln!(w, "  attributes: {{{}}}", items.join(", "));
    }
    if inputs.is_empty() {
        let _ = writeln!(w, "  inputs: []");
    } else {
        let _ = writeln!(w, "  inputs:");
    }
    for t in inputs {
        match t {
            None => {
                let _ = writeln!(w, "    - absent");
            }
            Some(t) => {
                let _ = writeln!(w, "    - {}", tensor_yaml(t, dtype_of(t)?)?);
            }
        }
    }
    if let Some(n) = requested {
        let _ = writeln!(w, "  outputs: {n}");
    }
    let _ = writeln!(w, "  expected:");
    for t in expected {
        match t {
            None => {
                let _ = writeln!(w, "    - absent");
            }
            Some(t) => {
                let _ = writeln!(w, "    - {}", tensor_yaml(t, dtype_of(t)?)?);
            }
        }
    }
    Ok(y)
}

/// `{dtype: f32, shape: [2, 3], values: [...]}`.
fn tensor_yaml(t: &Tensor, dtype: DType) -> Result<String, (Reason, String)> {
    let values = exact_values(t, dtype)?;
    let text: Vec<String> = values
        .iter()
        .map(|&x| match dtype {
            DType::Bool => (if x != 0.0 { "true" } else { "false" }).to_string(),
            d if d.is_float() => float_text(x, Some(d)),
            _ => format!("{}", x as i64),
        })
        .collect();
    let shape = list(t.dims.iter().map(|d| d.to_string()));
    Ok(format!(
        "{{dtype: {}, shape: {shape}, values: [{}]}}",
        dtype.name(),
        text.join(", ")
    ))
}

/// The tensor's values as f64, refusing integers that f64 cannot hold.
fn exact_values(t: &Tensor, dtype: DType) -> Result<Vec<f64>, (Reason, String)> {
    let values = t
        .to_f64()
        .map_err(|e| (Reason::UnsupportedDtype, e.to_string()))?;
    if matches!(dtype, DType::I64 | DType::U64) {
        for (i, c) in t.bytes.chunks_exact(8).enumerate() {
            let b: [u8; 8] = c.try_into().expect("8-byte chunk");
            let exact = if dtype == DType::I64 {
                i64::from_le_bytes(b).unsigned_abs() <= 1 << 53
            } else {
                u64::from_le_bytes(b) <= 1 << 53
            };
            if !exact {
                return Err((
                    Reason::InexactValue,
                    format!(
                        "`{}` element {i} is beyond 2^53; suite values are f64",
                        t.name
                    ),
                ));
            }
        }
    }
    Ok(values)
}

/// A float as YAML: `.nan`, `.inf`, `-.inf`, or the shortest text that
/// reads back as the same value of `dtype` (f32's own shortest form for
/// f32, which the loader rounds back to the same f32; f64's otherwise).
pub fn float_text(x: f64, dtype: Option<DType>) -> String {
    if x.is_nan() {
        return ".nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    let s = if dtype == Some(DType::F32) {
        format!("{:?}", x as f32)
    } else {
        format!("{x:?}")
    };
    // `1e-7` and `1e16` are YAML 1.2 floats; make sure a dot or exponent is
    // there so an integral float is not read as an integer.
    if s.contains(['.', 'e', 'E']) {
        s
    } else {
        format!("{s}.0")
    }
}

fn list(items: impl Iterator<Item = String>) -> String {
    format!("[{}]", items.collect::<Vec<_>>().join(", "))
}

/// A YAML double-quoted string.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes the converted suite: `out` (the root: `include:`s one file per
/// operator, in a directory named after `out`'s stem next to it, so that no
/// file nears the suite size limit) and those files. Returns the files
/// written, root first.
pub fn write_suite(c: &Conversion, out: &Path, origin: &str) -> std::io::Result<Vec<PathBuf>> {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| SUITE.to_string());
    let parent = out.parent().unwrap_or(Path::new(""));
    let sub = parent.join(&stem);
    // A previous conversion's per-op files would be stale (an op whose
    // tests no longer convert): the directory is the converter's own.
    if sub.is_dir() {
        for e in std::fs::read_dir(&sub)?.flatten() {
            if e.path().extension().is_some_and(|x| x == "yaml") {
                std::fs::remove_file(e.path())?;
            }
        }
    }
    std::fs::create_dir_all(&sub)?;
    let mut by_op: BTreeMap<String, Vec<&TestOutcome>> = BTreeMap::new();
    for o in c.outcomes.iter().filter(|o| o.reason.is_none()) {
        let op = o.op_type.clone().unwrap_or_default();
        by_op.entry(op).or_default().push(o);
    }
    // Registry order, the suite and report order of every other suite.
    let mut ops: Vec<(Op, Vec<&TestOutcome>)> = by_op
        .into_iter()
        .filter_map(|(name, v)| Op::from_name(&name).map(|op| (op, v)))
        .collect();
    ops.sort_by_key(|(op, _)| Op::ALL.iter().position(|o| o == op));
    let header = format!(
        "# Generated by `xpucert onnx-tests convert` from {origin}: ONNX's official node tests.\n# Do not edit; convert again instead.\n"
    );
    let mut root = format!(
        "{header}suite: {SUITE}\ndescription: ONNX's official node tests of the operators xpucert implements, with ONNX's published outputs as `expected` ({origin})\ninclude:\n"
    );
    let mut written = vec![out.to_path_buf()];
    for (op, tests) in &ops {
        let file = format!("{}.yaml", op.name.to_lowercase());
        let _ = writeln!(root, "  - {stem}/{file}");
        let mut text = format!(
            "{header}suite: {SUITE}\ndescription: ONNX node tests of {}\ncases:\n",
            op.name
        );
        for t in tests {
            text.push_str(&t.yaml);
        }
        let path = sub.join(&file);
        std::fs::write(&path, text)?;
        written.push(path);
    }
    std::fs::write(out, root)?;
    Ok(written)
}

/// The conversion report as Markdown: counts, reasons, and each test of a
/// registry operator that was not converted with its reason.
pub fn report_markdown(c: &Conversion, origin: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# ONNX node tests: conversion report\n");
    let _ = writeln!(s, "Source: {origin} (`{}`).\n", c.source.display());
    let _ = writeln!(s, "| | tests |\n|---|---|");
    let _ = writeln!(s, "| node tests | {} |", c.tests);
    let _ = writeln!(
        s,
        "| of an operator in the registry | {} |",
        c.registry_op_tests
    );
    let _ = writeln!(s, "| converted | {} ({} cases) |", c.converted, c.cases);
    for r in Reason::ALL {
        if let Some(n) = c.skipped.get(r.name()) {
            let _ = writeln!(s, "| not converted: `{}` | {n} |", r.name());
        }
    }
    let _ = writeln!(s, "\n## Per registry operator\n");
    let _ = writeln!(
        s,
        "| op | tests | converted | not converted (reason: count) |\n|---|---|---|---|"
    );
    for op in Op::ALL {
        let mine: Vec<&TestOutcome> = c
            .outcomes
            .iter()
            .filter(|o| o.registry_op && o.op_type.as_deref() == Some(op.name))
            .collect();
        if mine.is_empty() {
            let _ = writeln!(s, "| {} | 0 | 0 | |", op.name);
            continue;
        }
        let conv = mine.iter().filter(|o| o.reason.is_none()).count();
        let mut why: BTreeMap<&str, usize> = BTreeMap::new();
        for o in &mine {
            if let Some(r) = o.reason {
                *why.entry(r.name()).or_insert(0) += 1;
            }
        }
        let why: Vec<String> = why.iter().map(|(r, n)| format!("{r}: {n}")).collect();
        let _ = writeln!(
            s,
            "| {} | {} | {conv} | {} |",
            op.name,
            mine.len(),
            why.join(", ")
        );
    }
    let _ = writeln!(
        s,
        "\n## Tests of registry operators not converted\n\n| test | op | opset | reason | detail |\n|---|---|---|---|---|"
    );
    for o in c
        .outcomes
        .iter()
        .filter(|o| o.registry_op && o.reason.is_some())
    {
        let _ = writeln!(
            s,
            "| {} | {} | {} | `{}` | {} |",
            o.test,
            o.op_type.as_deref().unwrap_or(""),
            o.opset.map(|v| v.to_string()).unwrap_or_default(),
            o.reason.map_or("", Reason::name),
            o.detail.replace('|', "\\|")
        );
    }
    let mut unknown: BTreeMap<&str, usize> = BTreeMap::new();
    for o in c.outcomes.iter().filter(|o| !o.registry_op) {
        if let Some(op) = &o.op_type {
            *unknown.entry(op.as_str()).or_insert(0) += 1;
        }
    }
    let _ = writeln!(
        s,
        "\n## Operators not in the registry ({} op types)\n",
        unknown.len()
    );
    let items: Vec<String> = unknown
        .iter()
        .map(|(op, n)| format!("{op} ({n})"))
        .collect();
    let _ = writeln!(s, "{}", items.join(", "));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_back_as_the_same_value() {
        assert_eq!(float_text(f64::NAN, None), ".nan");
        assert_eq!(float_text(f64::NEG_INFINITY, None), "-.inf");
        assert_eq!(float_text(1.0, Some(DType::F32)), "1.0");
        assert_eq!(float_text(-0.0, None), "-0.0");
        assert_eq!(float_text(f64::from(0.1f32), Some(DType::F32)), "0.1");
        assert_eq!(float_text(f64::from(0.1f32), None), "0.10000000149011612");
        assert_eq!(float_text(1e-7, None), "1e-7");
    }

    #[test]
    fn case_names_are_suite_segments() {
        assert_eq!(case_name("test_Abs-x", 0), "test_abs_x");
        assert_eq!(case_name("test_abs", 2), "test_abs_set2");
        assert_eq!(
            expanded_base("test_softmax_axis_0_expanded_ver18"),
            "test_softmax_axis_0"
        );
    }

    #[test]
    fn strings_are_quoted_for_yaml() {
        assert_eq!(quoted("a\"b\\c\n"), "\"a\\\"b\\\\c\\x0a\"");
    }
}
