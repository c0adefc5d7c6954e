//! The recurrent family: LSTM, GRU and RNN, each at opsets 7 (the
//! semantics that serve 7 to 13), 14 (adds `layout`) and 22 (bfloat16; the
//! semantics are 14's).
//!
//! # Semantics
//!
//! From the ONNX operator specification (notation as there: `W[iofc]`,
//! `R[iofc]`, `Wb`, `Rb`, `P[iof]`; `t` the time step, `(.)` elementwise):
//!
//! * RNN: `Ht = f(Xt Wi^T + Ht-1 Ri^T + Wbi + Rbi)`, default f = Tanh.
//! * GRU, gates in the order z, r, h:
//!   `zt = f(Xt Wz^T + Ht-1 Rz^T + Wbz + Rbz)`,
//!   `rt = f(Xt Wr^T + Ht-1 Rr^T + Wbr + Rbr)`,
//!   `ht = g(Xt Wh^T + (rt (.) Ht-1) Rh^T + Rbh + Wbh)` or, with
//!   `linear_before_reset`, `g(Xt Wh^T + rt (.) (Ht-1 Rh^T + Rbh) + Wbh)`,
//!   `Ht = (1 - zt) (.) ht + zt (.) Ht-1`; default f = Sigmoid, g = Tanh.
//! * LSTM, gates in the order i, o, f, c (peepholes i, o, f):
//!   `it = f(Xt Wi^T + Ht-1 Ri^T + Pi (.) Ct-1 + Wbi + Rbi)`,
//!   `ft = f(Xt Wf^T + Ht-1 Rf^T + Pf (.) Ct-1 + Wbf + Rbf)`,
//!   `ct = g(Xt Wc^T + Ht-1 Rc^T + Wbc + Rbc)`,
//!   `Ct = ft (.) Ct-1 + it (.) ct`,
//!   `ot = f(Xt Wo^T + Ht-1 Ro^T + Po (.) Ct + Wbo + Rbo)`,
//!   `Ht = ot (.) h(Ct)`; default f = Sigmoid, g = h = Tanh.
//!   `input_forget` couples the gates: `ft = 1 - it` (ONNX Runtime's
//!   reading of "couple the input and forget gates").
//!
//! `direction` runs the recurrence forward, reverse (from each sequence's
//! last valid step to its first) or both, the second direction with its own
//! weights (`num_directions = 2`). `sequence_lens` (int32, `[batch]`) gives
//! each batch element's length: the steps past it are not computed, their
//! `Y` is 0, and `Y_h`/`Y_c` hold the state after the last valid step.
//! A length of 0 is refused: the spec does not say what `Y_h` is then
//! (ONNX Runtime writes 0, the recurrence's reading would be `initial_h`).
//! `clip` clamps every gate's pre-activation to `[-clip, clip]` before its
//! activation; LSTM's `h(Ct)` takes the unclipped cell state (ONNX
//! Runtime's behaviour, checked against it; the stored state is never
//! clipped). `layout = 1` puts the batch first in X, `initial_h`,
//! `initial_c`, Y, `Y_h` and `Y_c`.
//!
//! `activations` is ONNX's list of strings. The harness's attributes (and
//! the backend ABI's) have no string list, so the list is one string of
//! names separated by commas (`"Sigmoid,Tanh,Tanh"`), matched without
//! regard to case as ONNX Runtime does; a bidirectional op lists the
//! forward direction's functions, then the reverse's. The names ONNX lists
//! are all accepted: Relu, Tanh, Sigmoid, Affine, LeakyRelu,
//! ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus.
//! `activation_alpha` and `activation_beta` are consumed in the order of the
//! functions, each value by the next function that takes that parameter
//! (ONNX Runtime's reading, checked against it: LeakyRelu takes only
//! alpha, so `[HardSigmoid, Tanh, LeakyRelu]` with alphas `[0.3, 0.05]`
//! gives HardSigmoid 0.3 and LeakyRelu 0.05). A function past the end of a
//! list takes its ONNX operator's default (LeakyRelu 0.01, HardSigmoid 0.2
//! and 0.5, Elu 1); Affine, ScaledTanh and ThresholdedRelu must be given
//! their parameters, because ONNX's defaults (Affine 1 and 0,
//! ThresholdedRelu 1) and ONNX Runtime's (0) differ. ScaledTanh is
//! `alpha tanh(beta x)`, Affine `alpha x + beta`.
//!
//! All three outputs are always computed; a backend is asked for all of
//! them (the ABI has no way to leave out the first), and ONNX's node tests
//! that publish only `Y_h` check only that.
//!
//! # Error model
//!
//! The error of a recurrence is the error of one step carried through the
//! later steps, so the bound is built step by step, first order, in units
//! of the compute precision's `u` (`M`) and of the io dtype's `u_io`
//! (`M_io`), with `c = 1` ([`CheckPolicy::ModelBound`]). Per batch element
//! and direction, each state element (`H`, and LSTM's `C`) carries a
//! bound `e` of its absolute error, and so does every intermediate:
//!
//! * **Pre-activations.** A gate's `a_j = sum_k x_k W_jk + sum_k h_k R_jk +
//!   Wb_j + Rb_j (+ p_j c_j)` is one dot product of
//!   `n = input_size + hidden_size + 3` terms, however a kernel orders it
//!   (one fused GEMM, or an input projection GEMM for all steps, a
//!   recurrent GEMM per step, and the bias additions): with
//!   `S_j = sum |terms|`, its own rounding is at most `(g(n) + 4) S_j`,
//!   `g(n) = 4 + 2 sqrt(n)` the summation growth of
//!   [`check::sum_growth`] (each of the two GEMMs is within
//!   `g(n) S` of its part, and the three additions that join them round by
//!   at most `S` each, which the 4 covers). The state's error enters through
//!   the weights: `sum_k |R_jk| e(h_k)` (and `|p_j| e(c_j)`). GRU's
//!   `r (.) h` products add `|h_k| e(r_k) + |r_k| e(h_k)` per term.
//! * **Activations.** `y = f(a)`: the pre-activation's error times the
//!   slope of f near `a` (the largest of `|f'|` at `a` and at
//!   `a +- (1 + |a|) / 64`, so that the first-order model stays valid when
//!   the error is not infinitesimal; Relu and the other piecewise-linear
//!   functions take their largest slope), plus f's own error budget: the
//!   ulp budgets of the elementwise ops (Sigmoid 5 ulps, plus `u` absolute
//!   for forms such as `(1 + tanh(x/2)) / 2`; Tanh 6 ulps; Softplus 4 ulps
//!   plus `4u`; Elu, Softsign and the affine forms a few roundings of their
//!   size). An ulp is at most `2u |y|`. `clip` is 1-Lipschitz.
//! * **Cell updates.** Products and sums round at their size:
//!   `Ct = ft Ct-1 + it ct` is off by
//!   `|Ct-1| e(f) + |f| e(Ct-1) + |ct| e(i) + |i| e(ct) + |f Ct-1| + |i ct| + |Ct|`;
//!   `Ht = ot h(Ct)` by `|h(Ct)| e(o) + |o| e(h(Ct)) + |Ht|`; GRU's
//!   `(1 - z) h~ + z Ht-1` by `|h~ - Ht-1| e(z) + |1 - z| e(h~) + |z|
//!   e(Ht-1)` plus `2 |h~| + 2 |Ht-1| + |Ht|` (so that `h~ + z (Ht-1 -
//!   h~)` is covered too); `1 - i` (coupled gates) by `e(i) + |f|`.
//!
//! Everything is propagated with absolute values, so the bound holds for
//! any signs the errors take (the worst case through the recurrence; the
//! random-walk growth is only used inside one dot product). It is
//! condition-aware: saturated gates (slope near 0) stop errors, a
//! recurrence that amplifies (large `|R|` with active gates) widens the
//! bound step by step, exactly as it amplifies an honest kernel's errors.
//!
//! `M_io` allows what a backend built from the spec's primitives in the io
//! dtype (f16, bf16) rounds: the state between steps, stored in the io
//! dtype as `Y` is (`|Ht|`, `|Ct|`), each projection and partial sum of a
//! pre-activation (`4 S_j`), each activation's output and each product and
//! sum of the cell update (the same terms as above, in `u_io`). These
//! roundings propagate through the later steps like the compute ones. With
//! f32 io `u_io = u`: an f32 kernel gets both shares.
//!
//! What it catches: a gate read from the wrong block of W (LSTM's iofc
//! read as ifco, GRU's zrh as rzh), a wrong activation or default, a bias
//! left out, the wrong direction's weights, an ignored sequence length or
//! peephole all move outputs by O(1), many orders of magnitude beyond the
//! bound; an f32 recurrence accumulated in bf16 is 2^16 times its `u`.

use ndarray::{ArrayD, IxDyn};

use super::rules::{self, no_sum};
use super::spec::{TypeVar, WIDE_FLOATS, fixed};
use super::{
    AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape, Work,
};
use crate::numerics::DType;
use crate::numerics::check::{CheckPolicy, sum_growth};

// ------------------------------------------------------------------ specs

/// `T` of opsets 7 and 14: float16, float, double.
const T_F16_F32_F64: TypeVar = TypeVar {
    name: "T",
    allowed: &[DType::F64, DType::F32, DType::F16],
};
/// `T` of opset 22: bfloat16 too.
const T_FLOAT4: TypeVar = TypeVar {
    name: "T",
    allowed: WIDE_FLOATS,
};
/// `T1`: sequence_lens is int32.
const T1_I32: TypeVar = TypeVar {
    name: "T1",
    allowed: &[DType::I32],
};

/// The input types of RNN and GRU before and from opset 22.
const RNN_TYPES_7: &[TypeVar] = &[
    T_F16_F32_F64,
    T_F16_F32_F64,
    T_F16_F32_F64,
    T_F16_F32_F64,
    T1_I32,
    T_F16_F32_F64,
];
const RNN_TYPES_22: &[TypeVar] = &[T_FLOAT4, T_FLOAT4, T_FLOAT4, T_FLOAT4, T1_I32, T_FLOAT4];
/// The input types of LSTM before and from opset 22.
const LSTM_TYPES_7: &[TypeVar] = &[
    T_F16_F32_F64,
    T_F16_F32_F64,
    T_F16_F32_F64,
    T_F16_F32_F64,
    T1_I32,
    T_F16_F32_F64,
    T_F16_F32_F64,
    T_F16_F32_F64,
];
const LSTM_TYPES_22: &[TypeVar] = &[
    T_FLOAT4, T_FLOAT4, T_FLOAT4, T_FLOAT4, T1_I32, T_FLOAT4, T_FLOAT4, T_FLOAT4,
];

/// The attributes every version of the three ops has.
macro_rules! rnn_attributes {
    ($($extra:expr),* $(,)?) => {
        &[
            ("activation_alpha", AttrType::Floats),
            ("activation_beta", AttrType::Floats),
            ("activations", AttrType::String),
            ("clip", AttrType::Float),
            ("direction", AttrType::String),
            ("hidden_size", AttrType::Int),
            $($extra,)*
        ]
    };
}

/// The inputs of RNN and GRU.
const RNN_INPUTS: &[&str] = &["X", "W", "R", "B", "sequence_lens", "initial_h"];
/// The inputs of LSTM.
const LSTM_INPUTS: &[&str] = &[
    "X",
    "W",
    "R",
    "B",
    "sequence_lens",
    "initial_h",
    "initial_c",
    "P",
];

/// One version's definition: the spec, the kind's oracle and shape rule.
const fn def(kind: Kind, spec: OpSpec) -> OpDef {
    OpDef {
        spec,
        oracle: match kind {
            Kind::Rnn => |c| recurrent(c, Kind::Rnn),
            Kind::Gru => |c| recurrent(c, Kind::Gru),
            Kind::Lstm => |c| recurrent(c, Kind::Lstm),
        },
        shape: match kind {
            Kind::Rnn => |a, i, v| shapes(Kind::Rnn, a, i, v),
            Kind::Gru => |a, i, v| shapes(Kind::Gru, a, i, v),
            Kind::Lstm => |a, i, v| shapes(Kind::Lstm, a, i, v),
        },
        cost: match kind {
            Kind::Rnn => |a, i| cost(Kind::Rnn, a, i),
            Kind::Gru => |a, i| cost(Kind::Gru, a, i),
            Kind::Lstm => |a, i| cost(Kind::Lstm, a, i),
        },
        check: CheckPolicy::ModelBound,
        terms: no_sum,
    }
}

const fn rnn_spec(opset: i64, t: &'static [TypeVar]) -> OpSpec {
    OpSpec {
        name: "RNN",
        domain: "",
        opset,
        arity: fixed(3, 3),
        input_names: RNN_INPUTS,
        input_types: t,
        outputs: 2,
        attributes: if opset >= 14 {
            rnn_attributes!(("layout", AttrType::Int))
        } else {
            rnn_attributes!()
        },
    }
}

const fn gru_spec(opset: i64, t: &'static [TypeVar]) -> OpSpec {
    OpSpec {
        name: "GRU",
        attributes: if opset >= 14 {
            rnn_attributes!(
                ("layout", AttrType::Int),
                ("linear_before_reset", AttrType::Int)
            )
        } else {
            rnn_attributes!(("linear_before_reset", AttrType::Int))
        },
        ..rnn_spec(opset, t)
    }
}

const fn lstm_spec(opset: i64, t: &'static [TypeVar]) -> OpSpec {
    OpSpec {
        name: "LSTM",
        domain: "",
        opset,
        arity: fixed(3, 5),
        input_names: LSTM_INPUTS,
        input_types: t,
        outputs: 3,
        attributes: if opset >= 14 {
            rnn_attributes!(("input_forget", AttrType::Int), ("layout", AttrType::Int))
        } else {
            rnn_attributes!(("input_forget", AttrType::Int))
        },
    }
}

/// LSTM-22: 14's semantics, bfloat16 admitted. Judged by the error model
/// above with `c = 1`.
pub(super) const LSTM: OpDef = def(Kind::Lstm, lstm_spec(22, LSTM_TYPES_22));
/// LSTM-14: `layout` added.
pub(super) const LSTM_14: OpDef = def(Kind::Lstm, lstm_spec(14, LSTM_TYPES_7));
/// LSTM-7: no `layout` (sequence first).
pub(super) const LSTM_7: OpDef = def(Kind::Lstm, lstm_spec(7, LSTM_TYPES_7));
/// GRU-22, as LSTM-22.
pub(super) const GRU: OpDef = def(Kind::Gru, gru_spec(22, RNN_TYPES_22));
/// GRU-14.
pub(super) const GRU_14: OpDef = def(Kind::Gru, gru_spec(14, RNN_TYPES_7));
/// GRU-7.
pub(super) const GRU_7: OpDef = def(Kind::Gru, gru_spec(7, RNN_TYPES_7));
/// RNN-22, as LSTM-22.
pub(super) const RNN: OpDef = def(Kind::Rnn, rnn_spec(22, RNN_TYPES_22));
/// RNN-14.
pub(super) const RNN_14: OpDef = def(Kind::Rnn, rnn_spec(14, RNN_TYPES_7));
/// RNN-7.
pub(super) const RNN_7: OpDef = def(Kind::Rnn, rnn_spec(7, RNN_TYPES_7));

// ------------------------------------------------------------ the call

/// Which of the three cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rnn,
    Gru,
    Lstm,
}

impl Kind {
    /// Gates (blocks of W's rows): RNN 1, GRU 3 (zrh), LSTM 4 (iofc).
    fn gates(self) -> usize {
        match self {
            Kind::Rnn => 1,
            Kind::Gru => 3,
            Kind::Lstm => 4,
        }
    }

    /// Activation functions per direction.
    fn functions(self) -> usize {
        match self {
            Kind::Rnn => 1,
            Kind::Gru => 2,
            Kind::Lstm => 3,
        }
    }

    /// The spec's defaults, per direction.
    fn default_functions(self) -> &'static [Act] {
        match self {
            Kind::Rnn => &[Act::Tanh],
            Kind::Gru => &[Act::Sigmoid, Act::Tanh],
            Kind::Lstm => &[Act::Sigmoid, Act::Tanh, Act::Tanh],
        }
    }
}

/// An activation function of the recurrent ops, with its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Act {
    Relu,
    Tanh,
    Sigmoid,
    /// `alpha x + beta`
    Affine(f64, f64),
    /// `x` for x >= 0, `alpha x` below
    LeakyRelu(f64),
    /// `x` for x > alpha, else 0
    ThresholdedRelu(f64),
    /// `alpha tanh(beta x)`
    ScaledTanh(f64, f64),
    /// `max(0, min(1, alpha x + beta))`
    HardSigmoid(f64, f64),
    /// `x` for x >= 0, `alpha (e^x - 1)` below
    Elu(f64),
    /// `x / (1 + |x|)`
    Softsign,
    /// `ln(1 + e^x)`
    Softplus,
}

/// What a function's name says about its parameters: (takes alpha, takes
/// beta, alpha's default, beta's default); `None` defaults must be given.
type Params = (bool, bool, Option<f64>, Option<f64>);

/// The functions by lowercase name, with their parameters.
fn function_params(lower: &str) -> Option<Params> {
    Some(match lower {
        "relu" | "tanh" | "sigmoid" | "softsign" | "softplus" => (false, false, None, None),
        "affine" | "scaledtanh" => (true, true, None, None),
        "leakyrelu" => (true, false, Some(0.01), None),
        "thresholdedrelu" => (true, false, None, None),
        "hardsigmoid" => (true, true, Some(0.2), Some(0.5)),
        "elu" => (true, false, Some(1.0), None),
        _ => return None,
    })
}

/// The functions named by the `activations` attribute (see the module
/// documentation), with their alphas and betas; the kind's defaults for
/// every direction when it is absent.
fn activations(
    kind: Kind,
    attrs: &Attributes,
    dirs: usize,
) -> std::result::Result<Vec<Act>, String> {
    let alphas = floats(attrs, "activation_alpha")?;
    let betas = floats(attrs, "activation_beta")?;
    if !attrs.contains_key("activations") {
        return Ok(kind
            .default_functions()
            .iter()
            .copied()
            .cycle()
            .take(kind.functions() * dirs)
            .collect());
    }
    let text = attrs.string("activations", "")?;
    let names: Vec<&str> = text.split(',').map(str::trim).collect();
    let want = kind.functions() * dirs;
    if names.len() != want {
        return Err(format!(
            "activations lists {} functions ({text:?}); {dirs} direction(s) of this op need {want}",
            names.len()
        ));
    }
    let (mut a, mut b) = (alphas.iter(), betas.iter());
    let mut out = Vec::with_capacity(want);
    for name in names {
        let lower = name.to_ascii_lowercase();
        let (takes_a, takes_b, def_a, def_b) = function_params(&lower).ok_or_else(|| {
            format!(
                "unknown activation `{name}` (one of Relu, Tanh, Sigmoid, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus)"
            )
        })?;
        let missing = |p: &str| {
            format!(
                "activation {name} needs its {p} in activation_{p}: ONNX's default and ONNX Runtime's differ"
            )
        };
        let alpha = if takes_a {
            match a.next() {
                Some(&v) => v,
                None => def_a.ok_or_else(|| missing("alpha"))?,
            }
        } else {
            0.0
        };
        let beta = if takes_b {
            match b.next() {
                Some(&v) => v,
                None => def_b.ok_or_else(|| missing("beta"))?,
            }
        } else {
            0.0
        };
        if !(alpha.is_finite() && beta.is_finite()) {
            return Err(format!("activation {name}: alpha and beta must be finite"));
        }
        out.push(match lower.as_str() {
            "relu" => Act::Relu,
            "tanh" => Act::Tanh,
            "sigmoid" => Act::Sigmoid,
            "affine" => Act::Affine(alpha, beta),
            "leakyrelu" => Act::LeakyRelu(alpha),
            "thresholdedrelu" => Act::ThresholdedRelu(alpha),
            "scaledtanh" => Act::ScaledTanh(alpha, beta),
            "hardsigmoid" => Act::HardSigmoid(alpha, beta),
            "elu" => Act::Elu(alpha),
            "softsign" => Act::Softsign,
            _ => Act::Softplus,
        });
    }
    if a.next().is_some() || b.next().is_some() {
        return Err(
            "activation_alpha/activation_beta give more values than the activations take".into(),
        );
    }
    Ok(out)
}

/// A float-list attribute, empty when absent.
fn floats(attrs: &Attributes, name: &str) -> std::result::Result<Vec<f64>, String> {
    match attrs.get(name) {
        None => Ok(Vec::new()),
        Some(super::AttrValue::Floats(v)) => Ok(v.clone()),
        Some(v) => Err(format!(
            "attribute {name} must be a list of floats, got {v}"
        )),
    }
}

impl Act {
    fn eval(self, x: f64) -> f64 {
        match self {
            Act::Relu => {
                if x > 0.0 {
                    x
                } else {
                    0.0
                }
            }
            Act::Tanh => x.tanh(),
            Act::Sigmoid => sigmoid(x),
            Act::Affine(a, b) => a * x + b,
            Act::LeakyRelu(a) => {
                if x >= 0.0 {
                    x
                } else {
                    a * x
                }
            }
            Act::ThresholdedRelu(a) => {
                if x > a {
                    x
                } else {
                    0.0
                }
            }
            Act::ScaledTanh(a, b) => a * (b * x).tanh(),
            Act::HardSigmoid(a, b) => (a * x + b).clamp(0.0, 1.0),
            Act::Elu(a) => {
                if x >= 0.0 {
                    x
                } else {
                    a * x.exp_m1()
                }
            }
            Act::Softsign => x / (1.0 + x.abs()),
            Act::Softplus => {
                // ln(1 + e^x), without overflow for large x.
                if x > 30.0 {
                    x + (-x).exp().ln_1p()
                } else {
                    x.exp().ln_1p()
                }
            }
        }
    }

    /// `|f'(x)|` (the largest one-sided slope at a kink).
    fn slope_at(self, x: f64) -> f64 {
        match self {
            Act::Relu => 1.0,
            Act::Tanh => 1.0 - x.tanh().powi(2),
            Act::Sigmoid => {
                let s = sigmoid(x);
                s * (1.0 - s)
            }
            Act::Affine(a, _) => a.abs(),
            Act::LeakyRelu(a) => a.abs().max(1.0),
            // The jump at alpha is not a slope: suites keep pre-activations
            // off the threshold (any error there is an O(alpha) jump).
            Act::ThresholdedRelu(_) => 1.0,
            Act::ScaledTanh(a, b) => (a * b).abs() * (1.0 - (b * x).tanh().powi(2)),
            Act::HardSigmoid(a, _) => a.abs(),
            Act::Elu(a) => {
                if x >= 0.0 {
                    1.0_f64.max(a.abs())
                } else {
                    (a * x.exp()).abs().max(if x > -0.01 { 1.0 } else { 0.0 })
                }
            }
            Act::Softsign => 1.0 / (1.0 + x.abs()).powi(2),
            Act::Softplus => sigmoid(x),
        }
    }

    /// The slope the first-order model uses near `x` (see the module
    /// documentation).
    fn slope(self, x: f64) -> f64 {
        let w = (1.0 + x.abs()) / 64.0;
        self.slope_at(x)
            .max(self.slope_at(x - w))
            .max(self.slope_at(x + w))
    }

    /// The function's own error at `x` with result `y`, in units of the
    /// compute precision's u (an ulp is at most `2u |y|`).
    fn budget(self, x: f64, y: f64) -> f64 {
        let y = y.abs();
        match self {
            Act::Relu | Act::ThresholdedRelu(_) => 0.0,
            // 6 ulps (Tanh's elementwise budget).
            Act::Tanh => 12.0 * y,
            // 5 ulps, and u absolute for (1 + tanh(x/2)) / 2.
            Act::Sigmoid => 10.0 * y + 1.0,
            // The product and the sum.
            Act::Affine(a, _) => (a * x).abs() + y,
            Act::LeakyRelu(_) => y,
            // beta x rounded (tanh' <= 1), 6 ulps of tanh, the product.
            Act::ScaledTanh(a, b) => a.abs() * ((b * x).abs() + 12.0 * (b * x).tanh().abs()) + y,
            Act::HardSigmoid(a, _) => (a * x).abs() + y,
            // As the elementwise Elu's model.
            Act::Elu(a) => {
                if x < 0.0 {
                    4.0 * a.abs() + 4.0 * y
                } else {
                    0.0
                }
            }
            // The addition and a divide of 2.5 ulps.
            Act::Softsign => 6.0 * y,
            // 4 ulps and 4u absolute (Softplus's elementwise rule).
            Act::Softplus => 8.0 * y + 4.0,
        }
    }
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// A checked call: everything the oracle and the shape rule go by.
#[derive(Debug)]
struct Recurrence {
    kind: Kind,
    dtype: DType,
    seq: usize,
    batch: usize,
    input: usize,
    hidden: usize,
    /// 1 or 2.
    dirs: usize,
    /// `direction = reverse` (one direction, run backwards).
    reverse: bool,
    /// `layout = 1`: batch first.
    batch_first: bool,
    clip: Option<f64>,
    /// `kind.functions()` per direction, forward's first.
    acts: Vec<Act>,
    linear_before_reset: bool,
    input_forget: bool,
    /// Each batch element's length.
    lens: Vec<usize>,
}

impl Recurrence {
    /// Checks a call: the attributes, every input's shape and the
    /// sequence lengths (`values(4)`).
    fn resolve(
        kind: Kind,
        attrs: &Attributes,
        inputs: &[Option<TypedShape>],
        values: &mut dyn FnMut(usize) -> Vec<f64>,
    ) -> std::result::Result<Recurrence, String> {
        let direction = attrs.string("direction", "forward")?;
        let (dirs, reverse) = match direction {
            "forward" => (1, false),
            "reverse" => (1, true),
            "bidirectional" => (2, false),
            other => {
                return Err(format!(
                    "direction must be forward, reverse or bidirectional, got {other:?}"
                ));
            }
        };
        let batch_first = rules::flag(attrs, "layout", false)?;
        let linear_before_reset = rules::flag(attrs, "linear_before_reset", false)?;
        let input_forget = rules::flag(attrs, "input_forget", false)?;
        let clip = match attrs.get("clip") {
            None => None,
            Some(_) => {
                let c = attrs.float("clip", 0.0)?;
                if c.is_nan() || c <= 0.0 {
                    return Err(format!("clip must be > 0, got {c}"));
                }
                Some(c)
            }
        };
        let acts = activations(kind, attrs, dirs)?;

        let (dtype, x) = rules::input(inputs, 0)?;
        let [a, b, input] = x[..] else {
            return Err(format!("X must be 3-D, got shape {x:?}"));
        };
        let (seq, batch) = if batch_first { (b, a) } else { (a, b) };
        if seq == 0 {
            return Err("seq_length (X's sequence dimension) must be at least 1".into());
        }
        let g = kind.gates();
        let (_, r) = rules::input(inputs, 2)?;
        let hidden = match r[..] {
            [_, _, h] => h,
            _ => return Err(format!("R must be 3-D, got shape {r:?}")),
        };
        if let Some(v) = attrs.get("hidden_size") {
            let hs = attrs.int("hidden_size", 0)?;
            if usize::try_from(hs).ok() != Some(hidden) {
                return Err(format!(
                    "hidden_size {v} differs from R's last dimension {hidden}"
                ));
            }
        }
        if hidden == 0 {
            return Err("hidden_size must be at least 1".into());
        }
        let expect = |name: &str, i: usize, want: Vec<usize>| -> std::result::Result<(), String> {
            if let Some((_, s)) = inputs.get(i).and_then(Option::as_ref)
                && *s != want
            {
                return Err(format!(
                    "{name} must have shape {want:?} ({direction}, hidden_size {hidden}), got {s:?}"
                ));
            }
            Ok(())
        };
        expect("W", 1, vec![dirs, g * hidden, input])?;
        expect("R", 2, vec![dirs, g * hidden, hidden])?;
        expect("B", 3, vec![dirs, 2 * g * hidden])?;
        expect("sequence_lens", 4, vec![batch])?;
        let state = if batch_first {
            vec![batch, dirs, hidden]
        } else {
            vec![dirs, batch, hidden]
        };
        expect("initial_h", 5, state.clone())?;
        if kind == Kind::Lstm {
            expect("initial_c", 6, state)?;
            expect("P", 7, vec![dirs, 3 * hidden])?;
        }
        let lens = if inputs.get(4).is_some_and(Option::is_some) {
            let v = values(4);
            let mut lens = Vec::with_capacity(v.len());
            for l in v {
                if !(1.0..=seq as f64).contains(&l) {
                    return Err(format!(
                        "sequence_lens values must be in [1, {seq}] (seq_length), got {l}"
                    ));
                }
                lens.push(l as usize);
            }
            lens
        } else {
            vec![seq; batch]
        };
        Ok(Recurrence {
            kind,
            dtype: *dtype,
            seq,
            batch,
            input,
            hidden,
            dirs,
            reverse,
            batch_first,
            clip,
            acts,
            linear_before_reset,
            input_forget,
            lens,
        })
    }

    /// The shapes of Y and of one state output (`Y_h`, `Y_c`).
    fn output_shapes(&self) -> (Vec<usize>, Vec<usize>) {
        let (s, d, b, h) = (self.seq, self.dirs, self.batch, self.hidden);
        if self.batch_first {
            (vec![b, s, d, h], vec![b, d, h])
        } else {
            (vec![s, d, b, h], vec![d, b, h])
        }
    }

    /// Flat index of `(t, d, b, j)` in Y.
    fn y_at(&self, t: usize, d: usize, b: usize, j: usize) -> usize {
        let h = self.hidden;
        if self.batch_first {
            ((b * self.seq + t) * self.dirs + d) * h + j
        } else {
            ((t * self.dirs + d) * self.batch + b) * h + j
        }
    }

    /// Flat index of `(d, b, j)` in a state (`initial_h`, `Y_h`, ...).
    fn state_at(&self, d: usize, b: usize, j: usize) -> usize {
        let h = self.hidden;
        if self.batch_first {
            (b * self.dirs + d) * h + j
        } else {
            (d * self.batch + b) * h + j
        }
    }

    /// Flat index of `(t, b, k)` in X.
    fn x_at(&self, t: usize, b: usize, k: usize) -> usize {
        if self.batch_first {
            (b * self.seq + t) * self.input + k
        } else {
            (t * self.batch + b) * self.input + k
        }
    }
}

fn shapes(
    kind: Kind,
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let r = Recurrence::resolve(kind, attrs, inputs, values)?;
    let (y, state) = r.output_shapes();
    let mut out = vec![(r.dtype, y), (r.dtype, state.clone())];
    if kind == Kind::Lstm {
        out.push((r.dtype, state));
    }
    Ok(out)
}

/// `2 G H (I + H)` FLOPs per step, direction and batch element for the
/// products (G gates), plus 8 per hidden unit and gate for the biases,
/// activations and the cell update.
fn cost(kind: Kind, attrs: &Attributes, inputs: &[Option<&[usize]>]) -> Work {
    let x = rules::shape_of(inputs, 0);
    let r = rules::shape_of(inputs, 2);
    let (steps, input) = match x {
        [a, b, i] => ((a * b) as f64, *i as f64),
        _ => (0.0, 0.0),
    };
    let (dirs, hidden) = match r {
        [d, _, h] => (*d as f64, *h as f64),
        _ => (0.0, 0.0),
    };
    let _ = attrs;
    let gates = kind.gates() as f64;
    let macs = steps * dirs * gates * hidden * (input + hidden);
    Work {
        flops: Some(2.0 * macs + 8.0 * steps * dirs * gates * hidden),
        multiply_adds: macs,
        scratch: 0.0,
    }
}

// ------------------------------------------------------------ the oracle

/// An error bound: `u` in units of the compute precision's unit roundoff,
/// `io` in units of the io dtype's.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Err {
    u: f64,
    io: f64,
}

impl Err {
    /// The same rounding charged to both shares: an operation a kernel may
    /// do in the compute precision or, from primitives, in the io dtype.
    fn both(x: f64) -> Err {
        Err { u: x, io: x }
    }
}

impl std::ops::Add for Err {
    type Output = Err;
    fn add(self, o: Err) -> Err {
        Err {
            u: self.u + o.u,
            io: self.io + o.io,
        }
    }
}

impl std::ops::AddAssign for Err {
    fn add_assign(&mut self, o: Err) {
        *self = *self + o;
    }
}

impl std::ops::Mul<f64> for Err {
    type Output = Err;
    fn mul(self, k: f64) -> Err {
        Err {
            u: self.u * k,
            io: self.io * k,
        }
    }
}

/// A value and its error bound.
#[derive(Debug, Clone, Copy, Default)]
struct Val {
    v: f64,
    e: Err,
}

/// The inputs of one direction, as flat f64 slices.
struct Weights<'a> {
    /// `[G H, I]`
    w: &'a [f64],
    /// `[G H, H]`
    r: &'a [f64],
    /// `Wb + Rb` per row, and `|Wb| + |Rb|`.
    bias: Vec<(f64, f64)>,
    /// `[3 H]` (LSTM), zeros when absent.
    p: Option<&'a [f64]>,
}

/// One pre-activation: row `row` of W and R against `x` and the state `h`
/// (with errors), the biases, and `extra` terms (peepholes) as (value,
/// |value|, error). Returns the value with its error (see the module
/// documentation).
fn pre_activation(
    wt: &Weights<'_>,
    row: usize,
    x: &[f64],
    h: &[Val],
    extra: Val,
    clip: Option<f64>,
) -> Val {
    let (ni, nh) = (x.len(), h.len());
    let w = &wt.w[row * ni..(row + 1) * ni];
    let r = &wt.r[row * nh..(row + 1) * nh];
    let (mut v, mut s) = wt.bias[row];
    let mut e = Err::default();
    for (xk, wk) in x.iter().zip(w) {
        v += xk * wk;
        s += (xk * wk).abs();
    }
    for (hk, rk) in h.iter().zip(r) {
        v += hk.v * rk;
        s += (hk.v * rk).abs();
        e += hk.e * rk.abs();
    }
    v += extra.v;
    s += extra.v.abs();
    e += extra.e;
    let n = ni + nh + 3;
    e += Err {
        u: (sum_growth(n) + 4.0) * s,
        io: 4.0 * s,
    };
    Val {
        v: clip.map_or(v, |c| v.clamp(-c, c)),
        e,
    }
}

/// `f(a)` with its error.
fn activate(f: Act, a: Val) -> Val {
    let y = f.eval(a.v);
    Val {
        v: y,
        e: a.e * f.slope(a.v)
            + Err {
                u: f.budget(a.v, y),
                io: y.abs(),
            },
    }
}

/// The product `a b` with its error.
fn mul(a: Val, b: Val) -> Val {
    let v = a.v * b.v;
    Val {
        v,
        e: a.e * b.v.abs() + b.e * a.v.abs() + Err::both(v.abs()),
    }
}

/// The sum `a + b` with its error.
fn add(a: Val, b: Val) -> Val {
    let v = a.v + b.v;
    Val {
        v,
        e: a.e + b.e + Err::both(v.abs()),
    }
}

/// One step of the cell: the new hidden state (and cell state) from the
/// input row `x` and the previous state.
fn step(
    rec: &Recurrence,
    wt: &Weights<'_>,
    acts: &[Act],
    x: &[f64],
    h: &[Val],
    c: &[Val],
) -> (Vec<Val>, Vec<Val>) {
    let (nh, ni) = (rec.hidden, x.len());
    let clip = rec.clip;
    let none = Val::default();
    match rec.kind {
        Kind::Rnn => {
            let h2 = (0..nh)
                .map(|j| activate(acts[0], pre_activation(wt, j, x, h, none, clip)))
                .collect();
            (h2, Vec::new())
        }
        Kind::Gru => {
            let (f, g) = (acts[0], acts[1]);
            let z: Vec<Val> = (0..nh)
                .map(|j| activate(f, pre_activation(wt, j, x, h, none, clip)))
                .collect();
            let r: Vec<Val> = (0..nh)
                .map(|j| activate(f, pre_activation(wt, nh + j, x, h, none, clip)))
                .collect();
            let mut out = Vec::with_capacity(nh);
            for j in 0..nh {
                let row = 2 * nh + j;
                let a = if rec.linear_before_reset {
                    // x Wh + Wbh + r (.) (h Rh + Rbh): the recurrent part
                    // is its own dot product, then scaled by r.
                    let (wb, rb) = wt.bias[row];
                    let mut q = Val {
                        v: rb,
                        e: Err::default(),
                    };
                    let mut s = rb.abs();
                    for (hk, rk) in h.iter().zip(&wt.r[row * nh..(row + 1) * nh]) {
                        q.v += hk.v * rk;
                        s += (hk.v * rk).abs();
                        q.e += hk.e * rk.abs();
                    }
                    q.e += Err {
                        u: (sum_growth(nh + 1) + 4.0) * s,
                        io: 4.0 * s,
                    };
                    let rq = mul(r[j], q);
                    let (mut v, mut s) = (wb + rq.v, wb.abs() + rq.v.abs());
                    for (xk, wk) in x.iter().zip(&wt.w[row * ni..(row + 1) * ni]) {
                        v += xk * wk;
                        s += (xk * wk).abs();
                    }
                    Val {
                        v: clip.map_or(v, |c| v.clamp(-c, c)),
                        e: rq.e
                            + Err {
                                u: (sum_growth(ni + 2) + 4.0) * s,
                                io: 4.0 * s,
                            },
                    }
                } else {
                    // x Wh + (r (.) h) Rh + Rbh + Wbh.
                    let rh: Vec<Val> = r.iter().zip(h).map(|(&r, &h)| mul(r, h)).collect();
                    pre_activation(wt, row, x, &rh, none, clip)
                };
                let hh = activate(g, a);
                let (zj, hp) = (z[j], h[j]);
                let v = (1.0 - zj.v) * hh.v + zj.v * hp.v;
                let e = zj.e * (hh.v - hp.v).abs()
                    + hh.e * (1.0 - zj.v).abs()
                    + hp.e * zj.v.abs()
                    + Err::both(2.0 * hh.v.abs() + 2.0 * hp.v.abs() + v.abs());
                out.push(Val { v, e });
            }
            (out, Vec::new())
        }
        Kind::Lstm => {
            let (f, g, hf) = (acts[0], acts[1], acts[2]);
            let peep = |k: usize, j: usize, c: Val| -> Val {
                match wt.p {
                    Some(p) => {
                        let pv = p[k * nh + j];
                        let v = pv * c.v;
                        Val {
                            v,
                            e: c.e * pv.abs() + Err::both(v.abs()),
                        }
                    }
                    None => Val::default(),
                }
            };
            let mut h2 = Vec::with_capacity(nh);
            let mut c2 = Vec::with_capacity(nh);
            for (j, &cp) in c.iter().enumerate().take(nh) {
                // Rows: i at 0, o at H, f at 2H, c at 3H; P: i, o, f.
                let i = activate(f, pre_activation(wt, j, x, h, peep(0, j, cp), clip));
                let fg = if rec.input_forget {
                    let v = 1.0 - i.v;
                    Val {
                        v,
                        e: i.e + Err::both(v.abs()),
                    }
                } else {
                    activate(
                        f,
                        pre_activation(wt, 2 * nh + j, x, h, peep(2, j, cp), clip),
                    )
                };
                let cc = activate(g, pre_activation(wt, 3 * nh + j, x, h, none, clip));
                let cn = add(mul(fg, cp), mul(i, cc));
                let o = activate(f, pre_activation(wt, nh + j, x, h, peep(1, j, cn), clip));
                // h(Ct) of the unclipped state (see the module documentation).
                let hn = mul(o, activate(hf, cn));
                h2.push(hn);
                c2.push(cn);
            }
            (h2, c2)
        }
    }
}

/// The per-row bias pairs of one direction: `(Wb + Rb, |Wb| + |Rb|)`, but
/// `(Wb, Rb)` for GRU's h rows under linear_before_reset (Rb is inside
/// the reset product there).
fn split_bias(rec: &Recurrence, b: Option<&[f64]>) -> Vec<(f64, f64)> {
    let rows = rec.kind.gates() * rec.hidden;
    (0..rows)
        .map(|row| {
            let (wb, rb) = b.map_or((0.0, 0.0), |b| (b[row], b[rows + row]));
            if rec.kind == Kind::Gru && rec.linear_before_reset && row >= 2 * rec.hidden {
                (wb, rb)
            } else {
                (wb + rb, wb.abs() + rb.abs())
            }
        })
        .collect()
}

/// LSTM, GRU and RNN (see the module documentation).
fn recurrent(call: &Call, kind: Kind) -> Result<Vec<Output>> {
    let rec = Recurrence::resolve(kind, call.attrs, &call.typed_shapes(), &mut |i| {
        call.values(i)
    })
    .map_err(|m| call.err(m))?;
    let flat =
        |i: usize| -> Option<Vec<f64>> { call.opt(i).map(|v| v.data.iter().copied().collect()) };
    let x = flat(0).unwrap_or_default();
    let w = flat(1).unwrap_or_default();
    let r = flat(2).unwrap_or_default();
    let b = flat(3);
    let h0 = flat(5);
    let c0 = if kind == Kind::Lstm { flat(6) } else { None };
    let p = if kind == Kind::Lstm { flat(7) } else { None };
    let (nh, ni, g) = (rec.hidden, rec.input, kind.gates());
    let (y_shape, state_shape) = rec.output_shapes();
    let ny: usize = y_shape.iter().product();
    let ns: usize = state_shape.iter().product();
    let mut y = vec![0.0; ny];
    let mut y_err = vec![Err::default(); ny];
    let mut yh = vec![Val::default(); ns];
    let mut yc = vec![Val::default(); ns];
    let nf = kind.functions();
    for d in 0..rec.dirs {
        let wt = Weights {
            w: &w[d * g * nh * ni..(d + 1) * g * nh * ni],
            r: &r[d * g * nh * nh..(d + 1) * g * nh * nh],
            bias: split_bias(
                &rec,
                b.as_ref().map(|b| &b[d * 2 * g * nh..(d + 1) * 2 * g * nh]),
            ),
            p: p.as_ref().map(|p| &p[d * 3 * nh..(d + 1) * 3 * nh]),
        };
        let acts = &rec.acts[d * nf..(d + 1) * nf];
        let backwards = rec.reverse || d == 1;
        for bi in 0..rec.batch {
            let state = |s: &Option<Vec<f64>>| -> Vec<Val> {
                (0..nh)
                    .map(|j| Val {
                        v: s.as_ref().map_or(0.0, |s| s[rec.state_at(d, bi, j)]),
                        e: Err::default(),
                    })
                    .collect()
            };
            let mut h = state(&h0);
            let mut c = state(&c0);
            let len = rec.lens[bi];
            let mut xrow = vec![0.0; ni];
            for s in 0..len {
                let t = if backwards { len - 1 - s } else { s };
                for (k, xk) in xrow.iter_mut().enumerate() {
                    *xk = x[rec.x_at(t, bi, k)];
                }
                let (h2, c2) = step(&rec, &wt, acts, &xrow, &h, &c);
                // The state as the next step reads it: possibly stored in
                // the io dtype, as Y is.
                h = h2
                    .into_iter()
                    .map(|v| Val {
                        v: v.v,
                        e: v.e
                            + Err {
                                u: 0.0,
                                io: v.v.abs(),
                            },
                    })
                    .collect();
                if kind == Kind::Lstm {
                    c = c2
                        .into_iter()
                        .map(|v| Val {
                            v: v.v,
                            e: v.e
                                + Err {
                                    u: 0.0,
                                    io: v.v.abs(),
                                },
                        })
                        .collect();
                }
                for (j, hj) in h.iter().enumerate() {
                    let at = rec.y_at(t, d, bi, j);
                    y[at] = hj.v;
                    y_err[at] = hj.e;
                }
            }
            for j in 0..nh {
                let at = rec.state_at(d, bi, j);
                yh[at] = h[j];
                yc[at] = c[j];
            }
        }
    }
    let array = |shape: &[usize], v: Vec<f64>| -> Result<ArrayD<f64>> {
        ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| call.err(format!("output: {e}")))
    };
    let output = |shape: &[usize], v: Vec<f64>, e: Vec<Err>| -> Result<Output> {
        let m = e.iter().map(|e| e.u).collect();
        let io = e.iter().map(|e| e.io).collect();
        Ok(Output::bounded(
            rec.dtype,
            array(shape, v)?,
            array(shape, m)?,
            Some(array(shape, io)?),
        ))
    };
    let split = |s: Vec<Val>| -> (Vec<f64>, Vec<Err>) { s.into_iter().map(|v| (v.v, v.e)).unzip() };
    let mut out = vec![output(&y_shape, y, y_err)?];
    let (hv, he) = split(yh);
    out.push(output(&state_shape, hv, he)?);
    if kind == Kind::Lstm {
        let (cv, ce) = split(yc);
        out.push(output(&state_shape, cv, ce)?);
    }
    Ok(out)
}

// ------------------------------------------------------------- generated cases
// The case spaces of this family (machinery and conventions: ops/cases.rs).

use super::cases::{self, CaseSpace, Factor, Fill, GenCase, GenInput, Pick};

/// The activation lists a case space tries, per kind: the defaults given
/// explicitly, a piecewise-linear set and a smooth set (every function
/// ONNX lists but ThresholdedRelu, whose jump no tolerance can excuse),
/// with the alphas and betas of one direction.
fn act_set(kind: Kind, level: &str) -> Option<(&'static str, &'static [f64], &'static [f64])> {
    Some(match (kind, level) {
        (_, "defaultacts") => return None,
        (Kind::Lstm, "hardacts") => ("HardSigmoid,Affine,Relu", &[0.25, 0.5], &[0.5, 0.125]),
        (Kind::Lstm, _) => ("Sigmoid,ScaledTanh,Softplus", &[1.5], &[0.75]),
        (Kind::Gru, "hardacts") => ("HardSigmoid,LeakyRelu", &[0.25, 0.125], &[0.5]),
        (Kind::Gru, _) => ("Sigmoid,Elu", &[0.75], &[]),
        (Kind::Rnn, "hardacts") => ("LeakyRelu", &[0.125], &[]),
        (Kind::Rnn, _) => ("Softsign", &[], &[]),
    })
}

/// The case space of one kind: direction, layout, sizes (one step of one
/// unit; small; a wide input and state; a long sequence), bias, initial
/// state, ragged sequence lengths, activations, clip, and the kind's own
/// switches (peepholes and coupled gates; linear_before_reset).
fn recurrent_space(kind: Kind) -> Option<CaseSpace> {
    let mut factors = vec![
        Factor::dtypes(cases::FLOATS),
        Factor::new("direction", &["forward", "reverse", "bidirectional"]),
        Factor::new("order", &["seqfirst", "batchfirst"]),
        Factor::new("size", &["tiny", "small", "wide", "long"]),
        Factor::new("bias", &["withbias", "nobias"]),
        Factor::new("init", &["zeroinit", "withinit"]),
        Factor::new("lens", &["fulllen", "ragged"]),
        Factor::new("acts", &["defaultacts", "hardacts", "smoothacts"]),
        Factor::new("clip", &["noclip", "clipped"]),
    ];
    match kind {
        Kind::Lstm => {
            factors.push(Factor::new("peephole", &["nopeep", "peep"]));
            factors.push(Factor::new("forget", &["uncoupled", "coupled"]));
        }
        Kind::Gru => factors.push(Factor::new("reset", &["resetafter", "resetbefore"])),
        Kind::Rnn => {}
    }
    Some(CaseSpace {
        factors,
        build: Box::new(move |p: &Pick| {
            let dt = p.dtype();
            let dirs = if p.is("direction", "bidirectional") {
                2
            } else {
                1
            };
            let (s, b, i, h) = match p.get("size") {
                "tiny" => (2, 1, 1, 1),
                "small" => (3, 2, 3, 4),
                "wide" => (3, 2, 24, 32),
                _ => (24, 2, 4, 8),
            };
            if p.is("lens", "ragged") && b == 1 {
                return None;
            }
            let g = kind.gates();
            let batch_first = p.is("order", "batchfirst");
            let x = if batch_first {
                vec![b, s, i]
            } else {
                vec![s, b, i]
            };
            let state = if batch_first {
                vec![b, dirs, h]
            } else {
                vec![dirs, b, h]
            };
            let weight =
                |shape: Vec<usize>| GenInput::new(dt, shape).fill(Fill::Uniform(-0.5, 0.5));
            let mut inputs = vec![
                GenInput::new(dt, x).some(),
                weight(vec![dirs, g * h, i]).some(),
                weight(vec![dirs, g * h, h]).some(),
                p.is("bias", "withbias")
                    .then(|| weight(vec![dirs, 2 * g * h])),
                p.is("lens", "ragged").then(|| {
                    // The full length, one step, and half.
                    let lens = (0..b)
                        .map(|k| match k % 3 {
                            0 => s as f64,
                            1 => 1.0,
                            _ => s.div_ceil(2) as f64,
                        })
                        .collect();
                    GenInput::values(DType::I32, lens)
                }),
                p.is("init", "withinit")
                    .then(|| GenInput::new(dt, state.clone())),
            ];
            if kind == Kind::Lstm {
                inputs.push(
                    p.is("init", "withinit")
                        .then(|| GenInput::new(dt, state.clone())),
                );
                inputs.push(p.is("peephole", "peep").then(|| weight(vec![dirs, 3 * h])));
            }
            while inputs.last().is_some_and(Option::is_none) {
                inputs.pop();
            }
            let mut case = GenCase::new(inputs).int("hidden_size", h as i64);
            case = case.string("direction", p.get("direction"));
            if batch_first {
                case = case.int("layout", 1);
            }
            if let Some((names, alphas, betas)) = act_set(kind, p.get("acts")) {
                let names = vec![names; dirs].join(",");
                case = case.string("activations", &names);
                let repeat = |v: &[f64]| -> Vec<f64> {
                    v.iter().copied().cycle().take(v.len() * dirs).collect()
                };
                if !alphas.is_empty() {
                    case.attributes.insert(
                        "activation_alpha".into(),
                        super::AttrValue::Floats(repeat(alphas)),
                    );
                }
                if !betas.is_empty() {
                    case.attributes.insert(
                        "activation_beta".into(),
                        super::AttrValue::Floats(repeat(betas)),
                    );
                }
            }
            if p.is("clip", "clipped") {
                case = case.float("clip", 1.0);
            }
            match kind {
                Kind::Lstm if p.is("forget", "coupled") => case = case.int("input_forget", 1),
                Kind::Gru if p.is("reset", "resetbefore") => {
                    case = case.int("linear_before_reset", 1);
                }
                _ => {}
            }
            Some(case)
        }),
    })
}

pub(super) fn lstm_cases() -> Option<CaseSpace> {
    recurrent_space(Kind::Lstm)
}

pub(super) fn gru_cases() -> Option<CaseSpace> {
    recurrent_space(Kind::Gru)
}

pub(super) fn rnn_cases() -> Option<CaseSpace> {
    recurrent_space(Kind::Rnn)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::sigmoid;
    use crate::ops::AttrValue;

    fn s(v: &str) -> AttrValue {
        AttrValue::String(v.into())
    }

    #[test]
    fn rnn_by_hand_forward_and_reverse() {
        // S = 2, B = 1, I = 1, H = 1: h1 = tanh(0.5 x1 + b), h2 = tanh(0.5 x2
        // + 0.25 h1 + b) with b = Wb + Rb = 0.1 - 0.3.
        let x = f(&[2, 1, 1], &[1.0, 2.0]);
        let w = f(&[1, 1, 1], &[0.5]);
        let r = f(&[1, 1, 1], &[0.25]);
        let b = f(&[1, 2], &[0.1, -0.3]);
        let h1 = (0.5f64 - 0.2).tanh();
        let h2 = (1.0 + 0.25 * h1 - 0.2).tanh();
        let out = run(
            "RNN",
            &attrs(&[]),
            &[x.clone(), w.clone(), r.clone(), b.clone()],
        )
        .unwrap();
        close(&out[0].value.data, &[h1, h2], 1e-15);
        assert_eq!(out[0].value.data.shape(), &[2, 1, 1, 1]);
        close(&out[1].value.data, &[h2], 1e-15);
        // Reverse: x2 first, and Y is indexed by time.
        let r1 = (1.0f64 - 0.2).tanh();
        let r2 = (0.5 + 0.25 * r1 - 0.2).tanh();
        let a = attrs(&[("direction", s("reverse"))]);
        let out = run("RNN", &a, &[x, w, r, b]).unwrap();
        close(&out[0].value.data, &[r2, r1], 1e-15);
        close(&out[1].value.data, &[r2], 1e-15);
    }

    #[test]
    fn lstm_reads_gates_in_iofc_order() {
        // One step, one unit: W's rows are the gates i, o, f, c with weights
        // 1, 2, 3, 4 on x = 1; c0 = 0.5; h0 = 0; no recurrence.
        let x = f(&[1, 1, 1], &[1.0]);
        let w = f(&[1, 4, 1], &[1.0, 2.0, 3.0, 4.0]);
        let r = f(&[1, 4, 1], &[0.0; 4]);
        let c0 = f(&[1, 1, 1], &[0.5]);
        let c = sigmoid(3.0) * 0.5 + sigmoid(1.0) * 4f64.tanh();
        let h = sigmoid(2.0) * c.tanh();
        let inputs = [Some(x), Some(w), Some(r), None, None, None, Some(c0)];
        let out = run_opt("LSTM", &attrs(&[]), &inputs).unwrap();
        close(&out[0].value.data, &[h], 1e-15);
        close(&out[1].value.data, &[h], 1e-15);
        close(&out[2].value.data, &[c], 1e-15);
        // Peepholes P[iof] = [0.5, -1, 2] read c0 for i and f, Ct for o.
        let mut with_p = inputs.to_vec();
        with_p.push(Some(f(&[1, 3], &[0.5, -1.0, 2.0])));
        let c = sigmoid(3.0 + 2.0 * 0.5) * 0.5 + sigmoid(1.0 + 0.5 * 0.5) * 4f64.tanh();
        let h = sigmoid(2.0 - c) * c.tanh();
        let out = run_opt("LSTM", &attrs(&[]), &with_p).unwrap();
        close(&out[1].value.data, &[h], 1e-15);
        close(&out[2].value.data, &[c], 1e-15);
        // Coupled gates: f = 1 - i.
        let a = attrs(&[("input_forget", AttrValue::Int(1))]);
        let c = (1.0 - sigmoid(1.0)) * 0.5 + sigmoid(1.0) * 4f64.tanh();
        let out = run_opt("LSTM", &a, &inputs).unwrap();
        close(&out[2].value.data, &[c], 1e-15);
        // Clip 1.5 clamps the pre-activations (o: 2, c: 4), not Ct in h(Ct).
        let a = attrs(&[("clip", AttrValue::Float(1.5))]);
        let c = sigmoid(1.5) * 0.5 + sigmoid(1.0) * 1.5f64.tanh();
        let h = sigmoid(1.5) * c.tanh();
        let out = run_opt("LSTM", &a, &inputs).unwrap();
        close(&out[1].value.data, &[h], 1e-15);
        close(&out[2].value.data, &[c], 1e-15);
    }

    #[test]
    fn gru_zrh_and_linear_before_reset() {
        // One step, one unit, x = 1, h0 = 0.5: W[zrh] = [1, 2, 3],
        // R[zrh] = [0.5, -1, 2], B: Wb = [0, 0, 0.25], Rb = [0, 0, -0.5].
        let x = f(&[1, 1, 1], &[1.0]);
        let w = f(&[1, 3, 1], &[1.0, 2.0, 3.0]);
        let r = f(&[1, 3, 1], &[0.5, -1.0, 2.0]);
        let b = f(&[1, 6], &[0.0, 0.0, 0.25, 0.0, 0.0, -0.5]);
        let h0 = f(&[1, 1, 1], &[0.5]);
        let z = sigmoid(1.0 + 0.25);
        let rg = sigmoid(2.0 - 0.5);
        let inputs = [Some(x), Some(w), Some(r), Some(b), None, Some(h0)];
        // Reset before the product: (r h) Rh + Rbh.
        let hh = (3.0 + rg * 0.5 * 2.0 - 0.5 + 0.25f64).tanh();
        let out = run_opt("GRU", &attrs(&[]), &inputs).unwrap();
        close(&out[1].value.data, &[(1.0 - z) * hh + z * 0.5], 1e-15);
        // linear_before_reset: r (h Rh + Rbh).
        let hh = (3.0 + 0.25 + rg * (0.5 * 2.0 - 0.5f64)).tanh();
        let a = attrs(&[("linear_before_reset", AttrValue::Int(1))]);
        let out = run_opt("GRU", &a, &inputs).unwrap();
        close(&out[1].value.data, &[(1.0 - z) * hh + z * 0.5], 1e-15);
    }

    #[test]
    fn sequence_lens_layout_and_bidirectional() {
        // B = 2 with lengths 2 and 1, batch first, both directions; W = 1,
        // R = 0: each step is tanh(x), so Y is tanh(X) where valid, 0 past
        // the length; the reverse direction's Y_h is its step at t = 0.
        let x = f(&[2, 2, 1], &[0.5, -1.0, 2.0, 7.0]);
        let w = f(&[2, 1, 1], &[1.0, 1.0]);
        let r = f(&[2, 1, 1], &[0.0, 0.0]);
        let lens = t(crate::numerics::DType::I32, &[2], &[2.0, 1.0]);
        let a = attrs(&[
            ("layout", AttrValue::Int(1)),
            ("direction", s("bidirectional")),
        ]);
        let out = run_opt("RNN", &a, &[Some(x), Some(w), Some(r), None, Some(lens)]).unwrap();
        let th = |v: f64| v.tanh();
        // Y [B, S, D, H]: batch 0 both steps, batch 1 only t = 0.
        close(
            &out[0].value.data,
            &[
                th(0.5),
                th(0.5),
                th(-1.0),
                th(-1.0),
                th(2.0),
                th(2.0),
                0.0,
                0.0,
            ],
            1e-15,
        );
        // Y_h [B, D, H]: forward's last valid step, reverse's t = 0.
        close(
            &out[1].value.data,
            &[th(-1.0), th(0.5), th(2.0), th(2.0)],
            1e-15,
        );
        // Opset 7 has no layout.
        let e = run_at("RNN", 13, &a, &[]).unwrap_err().to_string();
        assert!(e.contains("layout") || e.contains("required"), "{e}");
    }

    #[test]
    fn activation_parameters_are_consumed_by_the_functions_that_take_them() {
        // [HardSigmoid, Tanh, LeakyRelu] with alphas [0.3, 0.05], beta
        // [0.6]: HardSigmoid(0.3, 0.6), LeakyRelu(0.05) on h(Ct).
        let x = f(&[1, 1, 1], &[1.0]);
        let w = f(&[1, 4, 1], &[1.0, 2.0, 3.0, -4.0]);
        let r = f(&[1, 4, 1], &[0.0; 4]);
        let a = attrs(&[
            ("activations", s("HardSigmoid, tanh,LEAKYRELU")),
            ("activation_alpha", AttrValue::Floats(vec![0.3, 0.05])),
            ("activation_beta", AttrValue::Floats(vec![0.6])),
        ]);
        let hs = |v: f64| (0.3 * v + 0.6).clamp(0.0, 1.0);
        let c = hs(1.0) * (-4f64).tanh();
        let h = hs(2.0) * 0.05 * c;
        let out = run("LSTM", &a, &[x.clone(), w.clone(), r.clone()]).unwrap();
        close(&out[1].value.data, &[h], 1e-15);
        // Defaults: LeakyRelu 0.01, HardSigmoid 0.2 and 0.5.
        let a = attrs(&[("activations", s("HardSigmoid,Tanh,LeakyRelu"))]);
        let hs = |v: f64| (0.2 * v + 0.5).clamp(0.0, 1.0);
        let c = hs(1.0) * (-4f64).tanh();
        let out = run("LSTM", &a, &[x.clone(), w.clone(), r.clone()]).unwrap();
        close(&out[1].value.data, &[hs(2.0) * 0.01 * c], 1e-15);
        // Affine needs its parameters (ONNX's and ONNX Runtime's defaults
        // differ), and the count must fit the directions.
        let a = attrs(&[("activations", s("Sigmoid,Affine,Tanh"))]);
        let inputs = [Some(x.clone()), Some(w.clone()), Some(r.clone())];
        fails("LSTM", &a, &inputs, "needs its alpha");
        let a = attrs(&[("activations", s("Sigmoid,Tanh"))]);
        fails("LSTM", &a, &inputs, "lists 2 functions");
        let a = attrs(&[("activations", s("Sigmoid,Tanh,Swish"))]);
        fails("LSTM", &a, &inputs, "unknown activation `Swish`");
    }

    #[test]
    fn invalid_calls() {
        let x = f(&[2, 1, 1], &[1.0, 2.0]);
        let w = f(&[1, 4, 1], &[0.0; 4]);
        let r = f(&[1, 4, 1], &[0.0; 4]);
        let i32s = |v: &[f64]| t(crate::numerics::DType::I32, &[v.len()], v);
        let ok = [Some(x.clone()), Some(w.clone()), Some(r.clone())];
        fails(
            "LSTM",
            &attrs(&[("direction", s("both"))]),
            &ok,
            "direction must be",
        );
        fails(
            "LSTM",
            &attrs(&[("hidden_size", AttrValue::Int(2))]),
            &ok,
            "hidden_size 2",
        );
        fails(
            "LSTM",
            &attrs(&[("clip", AttrValue::Float(0.0))]),
            &ok,
            "clip must be > 0",
        );
        fails("GRU", &attrs(&[]), &ok, "W must have shape [1, 3, 1]");
        let lens = [
            Some(x.clone()),
            Some(w.clone()),
            Some(r.clone()),
            None,
            Some(i32s(&[0.0])),
        ];
        fails(
            "LSTM",
            &attrs(&[]),
            &lens,
            "sequence_lens values must be in [1, 2]",
        );
        let p = [
            Some(x),
            Some(w),
            Some(r),
            None,
            None,
            None,
            None,
            Some(f(&[1, 4], &[0.0; 4])),
        ];
        fails("LSTM", &attrs(&[]), &p, "P must have shape [1, 3]");
    }

    #[test]
    fn the_bound_grows_through_time_and_stops_at_saturation() {
        // RNN with R = 0.9: every step carries the last one's error, so
        // Y's magnitudes grow along the sequence.
        let x = f(&[6, 1, 1], &[0.1; 6]);
        let w = f(&[1, 1, 1], &[1.0]);
        let r = f(&[1, 1, 1], &[0.9]);
        let out = run("RNN", &attrs(&[]), &[x.clone(), w.clone(), r]).unwrap();
        let m = out[0].magnitude.as_ref().unwrap();
        let m: Vec<f64> = m.iter().copied().collect();
        assert!(m.windows(2).all(|p| p[1] > p[0]), "{m:?}");
        // Saturated: tanh(40 + ...) has slope ~0, the earlier steps'
        // errors do not reach the output, only its own budget does.
        let x = f(&[6, 1, 1], &[40.0; 6]);
        let r = f(&[1, 1, 1], &[0.9]);
        let out = run("RNN", &attrs(&[]), &[x, w, r]).unwrap();
        let m: Vec<f64> = out[0].magnitude.as_ref().unwrap().iter().copied().collect();
        assert!((m[5] - m[1]).abs() < 1e-9 * m[1], "{m:?}");
        assert!(m[5] < 20.0, "{m:?}");
    }
}
