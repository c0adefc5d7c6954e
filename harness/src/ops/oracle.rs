//! The f64 oracle's core: an independent reference for every operator
//! xpucert tests (each op's own computation is in its family file, next to
//! its definition).
//!
//! The oracle receives the inputs exactly as the backend did (already rounded
//! to the case's dtype, then widened to f64) and computes each op in f64 from
//! the ONNX operator specification, at the opset named in its definition.
//! It shares no code with any backend: a bug in shared code would be invisible.
//!
//! Three rules shape everything here:
//! * The result is exact f64, never rounded to the output dtype, so the checks
//!   in `numerics` can measure a backend's error against the true value. Only
//!   Cast and QuantizeLinear (whose results *are* a rounding) and
//!   integer-typed outputs (where the dtype's wrap-around is the semantics)
//!   are brought into the dtype.
//! * The output shapes are also the harness's shape inference: every invalid
//!   combination of shapes, attributes and dtypes is an [`OracleError`] with a
//!   message naming the op and the problem, never a panic.
//! * Clarity over speed, but no quadratic surprises: MatMul and Attention go
//!   through ndarray's `dot` on 2-D views.
//!
//! This file holds the public API, the signature check every call goes
//! through, and the helpers every family uses (attributes, axes, integer
//! wrap-around, reading index tensors).

use ndarray::ArrayD;

use super::{Attributes, AttributesExt, Op, OpSpec};
use crate::numerics::DType;

/// A tensor as the oracle sees it: values in f64, plus the dtype they are stored in.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// The dtype the values are stored in on the backend side; the values in
    /// `data` are exactly representable in it.
    pub dtype: DType,
    /// The values, widened to f64.
    pub data: ArrayD<f64>,
}

impl Value {
    /// A value of `dtype` holding `data` (taken as already representable in `dtype`).
    pub fn new(dtype: DType, data: ArrayD<f64>) -> Self {
        Value { dtype, data }
    }

    /// The tensor's dimensions.
    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }
}

/// One output of the oracle.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exact (f64) result; `dtype` is the output's ONNX dtype.
    pub value: Value,
    /// The coefficient of the compute precision's unit roundoff in the
    /// op's honest error, per element (the `bound` check's `M`). For one
    /// sum it is the sum of |terms| (MatMul/Gemm `|alpha| sum_k |a_ik b_kj|
    /// + |beta c_ij|`, ReduceSum `sum |x|`, ReduceMean `sum |x| / n`) and
    /// the check's `c` carries the sum's growth; for ops of several stages
    /// (Attention, the normalisations, RoPE, Gelu) it is the whole
    /// first-order error model with each stage's growth folded in, and
    /// `c = 1` (`docs/error-models.md`). `None` where the check needs none.
    pub magnitude: Option<ArrayD<f64>>,
    /// The coefficient of the io dtype's unit roundoff: intermediates that
    /// correct kernels store in the io dtype, such as attention's
    /// probabilities rounded to bf16 before P·V (FlashAttention-2) or
    /// RoPE's products in bf16 arithmetic. `None`: no such intermediate.
    pub io_magnitude: Option<ArrayD<f64>>,
    /// The coefficient of the roundoff of products' inputs: what a declared
    /// TF32 adds (tensor cores read the operands with 10 mantissa bits, so
    /// each product is off by up to twice TF32's u; doubled, so that a
    /// single product at that worst case is not a marginal `warn`). MatMul
    /// and Gemm `4 |alpha| sum_k |a_ik b_kj|`; Attention its QKᵀ and P·V
    /// products.
    /// `None`: the op has no products a TF32 unit would compute.
    pub product_magnitude: Option<ArrayD<f64>>,
}

impl Output {
    /// An output without a magnitude.
    pub(super) fn plain(dtype: DType, data: ArrayD<f64>) -> Self {
        Output {
            value: Value { dtype, data },
            magnitude: None,
            io_magnitude: None,
            product_magnitude: None,
        }
    }

    /// An output with its error model's magnitudes.
    pub(super) fn bounded(
        dtype: DType,
        data: ArrayD<f64>,
        magnitude: ArrayD<f64>,
        io_magnitude: Option<ArrayD<f64>>,
    ) -> Self {
        Output {
            value: Value { dtype, data },
            magnitude: Some(magnitude),
            io_magnitude,
            product_magnitude: None,
        }
    }

    /// What the checks compare against: the value and every magnitude.
    pub fn expected(&self) -> crate::numerics::check::Expected<'_> {
        crate::numerics::check::Expected {
            value: &self.value.data,
            magnitude: self.magnitude.as_ref(),
            io_magnitude: self.io_magnitude.as_ref(),
            product_magnitude: self.product_magnitude.as_ref(),
        }
    }

    /// The same output with the magnitude of its products' inputs.
    pub(super) fn with_products(mut self, products: Option<ArrayD<f64>>) -> Self {
        self.product_magnitude = products;
        self
    }
}

/// Why the oracle cannot evaluate a call.
#[derive(Debug, thiserror::Error)]
pub enum OracleError {
    /// Bad shapes, attributes or dtypes for the op: a configuration error in
    /// the suite, with a message that says exactly what is wrong.
    #[error("{op}: {message}")]
    Invalid {
        /// The ONNX operator name.
        op: String,
        /// What is wrong, e.g. "inner dimensions differ: A is [3, 4], B is [5, 6]".
        message: String,
    },
}

pub(super) type Result<T> = std::result::Result<T, OracleError>;

/// Evaluates one op. `inputs` are positional; `None` = omitted optional input.
/// The number of outputs is the spec's `outputs` (TopK: values and indices;
/// everything else 1).
/// The op is evaluated at its newest implemented version; [`evaluate_at`]
/// takes the opset.
pub fn evaluate(
    op: Op,
    attrs: &Attributes,
    inputs: &[Option<Value>],
) -> std::result::Result<Vec<Output>, OracleError> {
    evaluate_at(op, op.opset, attrs, inputs)
}

/// [`evaluate`] with the semantics of `opset` (the version [`Op::def_at`]
/// picks).
pub fn evaluate_at(
    op: Op,
    opset: i64,
    attrs: &Attributes,
    inputs: &[Option<Value>],
) -> std::result::Result<Vec<Output>, OracleError> {
    let refs: Vec<Option<&Value>> = inputs.iter().map(Option::as_ref).collect();
    evaluate_refs(op, opset, attrs, &refs, true, None)
}

/// [`evaluate_at`] on borrowed inputs, so that a caller holding large tensors
/// (model weights) need not copy them for every call; without `magnitudes`
/// only the values are computed (MatMul's magnitude is a second product).
/// `requested` is how many outputs the call asks for (`None`: the op's
/// required count, `OpDef::required_outputs`); exactly that many are
/// returned, and a count the op cannot give is an error.
pub fn evaluate_refs(
    op: Op,
    opset: i64,
    attrs: &Attributes,
    inputs: &[Option<&Value>],
    magnitudes: bool,
    requested: Option<usize>,
) -> std::result::Result<Vec<Output>, OracleError> {
    let def = op.def_at(opset).ok_or_else(|| OracleError::Invalid {
        op: op.name.to_string(),
        message: format!(
            "opset {opset} is older than every implemented version ({})",
            versions_text(op)
        ),
    })?;
    let call = Call {
        spec: &def.spec,
        attrs,
        inputs,
        magnitudes,
        requested,
    };
    call.check_signature()?;
    if let Some(n) = requested {
        def.check_requested(n).map_err(|m| call.err(m))?;
    }
    let mut outputs = (def.oracle)(&call)?;
    if def.spec.outputs != 0 {
        outputs.truncate(call.wanted());
    }
    debug_assert!(
        outputs.len() == call.wanted() || (def.spec.outputs == 0 && !outputs.is_empty()),
        "{op}: output count"
    );
    Ok(outputs)
}

/// `Clip-6, Clip-11, Clip-13`: an op's implemented versions, for messages.
pub fn versions_text(op: Op) -> String {
    op.opsets()
        .map(|o| format!("{}-{o}", op.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One call being evaluated: the op, its attributes and inputs, and the
/// helpers that turn every problem into an [`OracleError`] naming the op.
pub(crate) struct Call<'a> {
    pub(super) spec: &'a OpSpec,
    pub(super) attrs: &'a Attributes,
    pub(super) inputs: &'a [Option<&'a Value>],
    /// Whether to compute error-bound magnitudes (op suites) or only values
    /// (model runs).
    pub(super) magnitudes: bool,
    /// How many outputs the call asks for; `None`: the op's required count
    /// (`ops/outputs.rs`). Oracles with optional outputs compute only
    /// [`Call::wanted`] of them; Split's count without `split` is this.
    pub(super) requested: Option<usize>,
}

impl Call<'_> {
    /// A configuration error for this op.
    pub(super) fn err(&self, message: impl Into<String>) -> OracleError {
        OracleError::Invalid {
            op: self.spec.name.to_string(),
            message: message.into(),
        }
    }

    /// Checks the input count against the op's arity and the attribute names
    /// and types against the op's declaration, so a suite typo cannot be
    /// silently ignored by the oracle.
    pub(super) fn check_signature(&self) -> Result<()> {
        let dtypes: Vec<Option<DType>> = self.inputs.iter().map(|v| v.map(|v| v.dtype)).collect();
        self.spec.check_inputs(&dtypes).map_err(|m| self.err(m))?;
        for (name, value) in self.attrs {
            match self.spec.attributes.iter().find(|(n, _)| n == name) {
                None => return Err(self.err(format!("unknown attribute {name}"))),
                Some((_, ty)) => {
                    let actual = value.attr_type();
                    // An integer literal where a float is declared is fine
                    // (suites write `alpha: 1`); the getter converts it.
                    let float_from_int =
                        *ty == super::AttrType::Float && actual == super::AttrType::Int;
                    if actual != *ty && !float_from_int {
                        return Err(
                            self.err(format!("attribute {name} must be {ty:?}, got {value}"))
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// How many outputs the call asks for: `requested`, else the op's
    /// required count (0 for Split: its parts decide).
    pub(super) fn wanted(&self) -> usize {
        self.requested
            .unwrap_or_else(|| super::outputs::required(self.spec))
    }

    /// The input's name for messages.
    pub(super) fn input_name(&self, i: usize) -> String {
        self.spec.input_name(i)
    }

    /// A required input (presence was checked by `check_signature`).
    pub(super) fn input(&self, i: usize) -> Result<&Value> {
        self.opt(i)
            .ok_or_else(|| self.err(format!("required input {} is missing", self.input_name(i))))
    }

    /// An optional input: `None` when omitted.
    pub(super) fn opt(&self, i: usize) -> Option<&Value> {
        self.inputs.get(i).copied().flatten()
    }

    /// Integer attribute or its ONNX default.
    pub(super) fn int(&self, name: &str, default: i64) -> Result<i64> {
        self.attrs.int(name, default).map_err(|m| self.err(m))
    }

    /// Float attribute or its ONNX default.
    pub(super) fn float(&self, name: &str, default: f64) -> Result<f64> {
        self.attrs.float(name, default).map_err(|m| self.err(m))
    }

    /// The dtypes and shapes of the inputs (`None` for an omitted one): what
    /// the checks shared with the shape rule judge.
    pub(super) fn typed_shapes(&self) -> Vec<Option<super::TypedShape>> {
        self.inputs
            .iter()
            .map(|v| v.map(|v| (v.dtype, v.shape().to_vec())))
            .collect()
    }

    /// Input `i`'s values, flattened (empty for an omitted input): the
    /// shape rule's `values` reader, served from the call.
    pub(super) fn values(&self, i: usize) -> Vec<f64> {
        self.opt(i)
            .map(|v| v.data.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Resolves a possibly negative axis against `rank` (ONNX accepts
    /// `[-rank, rank - 1]`).
    pub(super) fn axis(&self, what: &str, axis: i64, rank: usize) -> Result<usize> {
        super::rules::resolve_axis(what, axis, rank).map_err(|m| self.err(m))
    }
}

/// Brings exact results into an integer or bool output dtype: truncation
/// toward zero, then two's-complement wrap-around (numpy's behaviour and the
/// one ONNX describes for out-of-range fixed-point conversions). Float dtypes
/// are left exact: the oracle never rounds a float result.
pub(super) fn finish(dtype: DType, mut data: ArrayD<f64>) -> ArrayD<f64> {
    if !dtype.is_float() {
        data.mapv_inplace(|x| wrap_int(dtype, x));
    }
    data
}

/// Wraps one value into an integer dtype (see [`finish`]). Bool: nonzero is 1.
pub(super) fn wrap_int(dtype: DType, x: f64) -> f64 {
    let (bits, signed) = match dtype {
        DType::Bool => return f64::from(u8::from(x != 0.0)),
        DType::I4 => (4, true),
        DType::U4 => (4, false),
        DType::I2 => (2, true),
        DType::U2 => (2, false),
        DType::I8 => (8, true),
        DType::U8 => (8, false),
        DType::I16 => (16, true),
        DType::U16 => (16, false),
        DType::I32 => (32, true),
        DType::U32 => (32, false),
        DType::I64 => (64, true),
        DType::U64 => (64, false),
        _ => return x,
    };
    if !x.is_finite() {
        // Undefined in ONNX; 0 keeps the output storable.
        return 0.0;
    }
    // f64 -> i128 saturates beyond +-2^127, far outside anything a suite makes.
    let t = x.trunc() as i128;
    let modulus = 1i128 << bits;
    let mut m = t.rem_euclid(modulus);
    if signed && m >= modulus / 2 {
        m -= modulus;
    }
    m as f64
}

/// Test helpers shared by every submodule's tests.
#[cfg(test)]
pub(super) mod testutil {
    use ndarray::{ArrayD, IxDyn};

    use super::*;
    use crate::ops::{AttrValue, Op};

    /// An f32 value with the given shape and row-major data.
    pub fn f(shape: &[usize], data: &[f64]) -> Value {
        t(DType::F32, shape, data)
    }

    /// A value of any dtype.
    pub fn t(dtype: DType, shape: &[usize], data: &[f64]) -> Value {
        Value::new(
            dtype,
            ArrayD::from_shape_vec(IxDyn(shape), data.to_vec()).expect("test shape"),
        )
    }

    /// An i64 value.
    pub fn i(shape: &[usize], data: &[i64]) -> Value {
        let d: Vec<f64> = data.iter().map(|&x| x as f64).collect();
        t(DType::I64, shape, &d)
    }

    /// Attributes from (name, value) pairs.
    pub fn attrs(list: &[(&str, AttrValue)]) -> Attributes {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    /// Evaluates `op` with every input present.
    pub fn run(op: &str, a: &Attributes, inputs: &[Value]) -> Result<Vec<Output>> {
        let opt: Vec<Option<Value>> = inputs.iter().cloned().map(Some).collect();
        run_opt(op, a, &opt)
    }

    /// Evaluates `op` with optional inputs.
    pub fn run_opt(op: &str, a: &Attributes, inputs: &[Option<Value>]) -> Result<Vec<Output>> {
        evaluate(Op::from_name(op).expect("known op"), a, inputs)
    }

    /// Evaluates `op` at `opset` (an older version's semantics).
    pub fn run_at(
        op: &str,
        opset: i64,
        a: &Attributes,
        inputs: &[Option<Value>],
    ) -> Result<Vec<Output>> {
        crate::ops::evaluate_at(Op::from_name(op).expect("known op"), opset, a, inputs)
    }

    /// The single output's value of a successful call.
    pub fn run1(op: &str, a: &Attributes, inputs: &[Value]) -> Value {
        let mut out = run(op, a, inputs).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.len(), 1);
        out.remove(0).value
    }

    /// Asserts that the call fails with a message containing `needle`.
    pub fn fails(op: &str, a: &Attributes, inputs: &[Option<Value>], needle: &str) {
        match run_opt(op, a, inputs) {
            Ok(out) => panic!("{op} should fail with {needle:?}, got {:?}", out[0].value),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.starts_with(op), "message names the op: {msg}");
                assert!(msg.contains(needle), "{msg:?} should contain {needle:?}");
            }
        }
    }

    /// Asserts element-wise closeness with a relative-and-absolute tolerance.
    pub fn close(actual: &ArrayD<f64>, expected: &[f64], tol: f64) {
        assert_eq!(actual.len(), expected.len(), "length of {actual:?}");
        for (k, (&a, &e)) in actual.iter().zip(expected).enumerate() {
            let ok = (a.is_nan() && e.is_nan()) || a == e || (a - e).abs() <= tol * (1.0 + e.abs());
            assert!(ok, "element {k}: got {a}, expected {e} (all: {actual:?})");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use crate::ops::{AttrValue, Op};

    #[test]
    fn wrap_int_is_twos_complement() {
        assert_eq!(wrap_int(DType::I8, 200.0), -56.0);
        assert_eq!(wrap_int(DType::I8, -129.0), 127.0);
        assert_eq!(wrap_int(DType::U8, -1.0), 255.0);
        assert_eq!(wrap_int(DType::I32, -7.9), -7.0);
        assert_eq!(wrap_int(DType::I64, -3.0), -3.0);
        assert_eq!(wrap_int(DType::U16, 65536.0 + 5.0), 5.0);
        assert_eq!(wrap_int(DType::Bool, -0.5), 1.0);
        assert_eq!(wrap_int(DType::F32, 0.5), 0.5);
    }

    #[test]
    fn every_registered_op_is_implemented() {
        // A call with no inputs must fail on arity, not on "no implementation".
        for &op in Op::ALL {
            let e = evaluate(op, &Attributes::new(), &[])
                .unwrap_err()
                .to_string();
            assert!(!e.contains("no implementation"), "{e}");
        }
    }

    #[test]
    fn an_opset_older_than_every_version_is_refused() {
        let x = Some(f(&[1], &[1.0]));
        let e = run_at("Add", 13, &Attributes::new(), &[x.clone(), x.clone()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Add: opset 13 is older than every implemented version (Add-14)"
        );
        let newer = run_at("Add", 99, &Attributes::new(), &[x.clone(), x]).unwrap();
        assert_eq!(newer[0].value.data.as_slice(), Some(&[2.0][..]));
    }

    #[test]
    fn signature_errors() {
        let x = f(&[2], &[1.0, 2.0]);
        fails(
            "Add",
            &Attributes::new(),
            &[Some(x.clone())],
            "required input B",
        );
        fails(
            "Add",
            &Attributes::new(),
            &[Some(x.clone()), Some(x.clone()), Some(x.clone())],
            "at most 2",
        );
        fails(
            "Softmax",
            &attrs(&[("axes", AttrValue::Int(0))]),
            &[Some(x.clone())],
            "unknown attribute axes",
        );
        fails(
            "Softmax",
            &attrs(&[("axis", AttrValue::String("0".into()))]),
            &[Some(x.clone())],
            "attribute axis",
        );
        fails("Concat", &Attributes::new(), &[], "at least one");
    }
}
