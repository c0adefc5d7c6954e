//! Tolerance checks: how an output is compared with the oracle.
//!
//! A [`CheckSpec`] is declared per case in the suite or defaulted from the op
//! and the output dtype by [`default_check`]; [`compare`] applies it and
//! returns a [`Comparison`] holding every figure a report needs. Special values
//! are judged before any tolerance: a NaN where the oracle has none (or the
//! reverse) fails, and an infinity must match in sign.
//!
//! Four kinds:
//! * `exact`: bitwise equal after conversion to f64 (any NaN matches any NaN);
//! * `allclose(rtol, atol)`: `|y - y*| <= atol + rtol * |y*|`, torch's rule;
//! * `ulp(n)`: `|y - y*| <= n ulp(y*)` in the output dtype;
//! * `bound(c)`: `|y - y*| <= c u M + u_io M_io + u_out |y*|`, where `M`
//!   and `M_io` are the oracle's error magnitudes (for one sum, its sum of
//!   |terms|), `u` the unit roundoff of the compute precision, `u_io` that of
//!   intermediates stored in the io dtype and `u_out` that of the output
//!   dtype. Used for reductions and the ops built on them, whose honest error
//!   grows with their length and the size of their terms.
//!
//! The rules and every op's error model: `docs/error-models.md`.

use ndarray::{ArrayD, Dimension};
use serde::{Deserialize, Serialize};

use xpucert_abi::Precision;

use super::{DType, round_to};

impl CheckPolicy {
    /// The unit roundoffs a call of an op with this policy is judged with,
    /// given the compute precision its backend declared: what
    /// [`Roundoff::declared`] says, except for
    /// [`CheckPolicy::OperandSumBound`], where a float precision coarser
    /// than f32 is the precision of the products' operands and the sums
    /// keep f32's (the accumulation such ops specify).
    pub fn roundoff(self, precision: Precision, out_dtype: DType) -> Roundoff {
        let f32_u = unit_roundoff(DType::F32);
        match (self, precision) {
            (CheckPolicy::OperandSumBound, Precision::DType(d))
                if d.is_float() && unit_roundoff(d) > f32_u =>
            {
                Roundoff {
                    compute: compute_roundoff(Precision::Default, out_dtype).max(f32_u),
                    products: unit_roundoff(d),
                }
            }
            _ => Roundoff::declared(precision, out_dtype),
        }
    }
}

/// The rule a case is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CheckSpec {
    /// Bitwise equal after conversion to f64 (any NaN matches any NaN).
    Exact,
    /// `|y - y*| <= atol + rtol * |y*|`.
    Allclose {
        /// relative tolerance
        rtol: f64,
        /// absolute tolerance
        atol: f64,
    },
    /// `|y - y*| <= n * ulp(y*)`, the ulp counted in the output dtype at the
    /// exact oracle value (a correctly rounded result is within 0.5).
    Ulp {
        /// allowed distance in ulps
        n: f64,
    },
    /// `|y - y*| <= c * u * M + u_out * |y*|` with the oracle's magnitude `M`.
    Bound {
        /// multiple of the unit roundoff allowed per unit of magnitude
        c: f64,
    },
}

impl std::fmt::Display for CheckSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckSpec::Exact => write!(f, "exact"),
            CheckSpec::Allclose { rtol, atol } => {
                write!(f, "allclose(rtol={rtol:e}, atol={atol:e})")
            }
            CheckSpec::Ulp { n } => write!(f, "ulp({n})"),
            CheckSpec::Bound { c } => write!(f, "bound(c={c:.1})"),
        }
    }
}

/// Unit roundoff (half an ulp of 1.0) of a float dtype, `2^-p` for `p`
/// bits of precision; 0 for integers.
pub fn unit_roundoff(dtype: DType) -> f64 {
    float_format(dtype).map_or(0.0, |(p, _)| 2f64.powi(-p))
}

/// A float dtype's precision in bits (the implicit bit included) and its
/// smallest normal exponent: the one table every ulp figure derives from.
/// `None` for integers.
pub fn float_format(dtype: DType) -> Option<(i32, i32)> {
    Some(match dtype {
        DType::F64 => (53, -1022),
        DType::F32 => (24, -126),
        DType::F16 => (11, -14),
        DType::BF16 => (8, -126),
        DType::F8E4M3FN => (4, -6),
        DType::F8E5M2 => (3, -14),
        DType::F8E4M3FNUZ => (4, -7),
        DType::F8E5M2FNUZ => (3, -15),
        DType::F4E2M1 => (2, 0),
        // Powers of two only: the implicit bit is the whole significand.
        DType::F8E8M0 => (1, -127),
        _ => return None,
    })
}

/// The unit roundoff of the precision a call computes (accumulates) in,
/// for an output of `out_dtype`, given what `query_op` declared.
///
/// `Default` means the io dtype, except that f16, bf16 and fp8 io are
/// assumed to accumulate in at least f32: that is what every deployed
/// half-precision kernel does (tensor cores, cuBLAS, oneDNN, PyTorch's
/// reductions), and a backend that really sums in the io dtype must say so
/// by declaring it. Judging half io by its own unit roundoff instead would
/// let a bf16 running accumulator 300% wrong on a 1024-wide row pass.
pub fn compute_roundoff(precision: Precision, out_dtype: DType) -> f64 {
    match precision {
        Precision::Default => match out_dtype {
            DType::F16
            | DType::BF16
            | DType::F8E4M3FN
            | DType::F8E5M2
            | DType::F8E4M3FNUZ
            | DType::F8E5M2FNUZ
            | DType::F8E8M0
            | DType::F4E2M1 => unit_roundoff(DType::F32),
            _ => unit_roundoff(out_dtype),
        },
        // TF32 rounds the inputs of products only; sums stay in f32
        // ([`product_roundoff`]).
        Precision::Tf32 => unit_roundoff(DType::F32),
        Precision::DType(d) => unit_roundoff(d),
    }
}

/// The unit roundoff of the inputs of products under a declared precision:
/// TF32's `2^-11` (tensor cores read f32 operands with 10 mantissa bits and
/// sum in f32), 0 otherwise. It scales the oracle's
/// [`crate::ops::Output::product_magnitude`], so a TF32 declaration widens
/// only the products' share of the bound, and an op without products is
/// judged as f32.
pub fn product_roundoff(precision: Precision) -> f64 {
    match precision {
        Precision::Tf32 => 2f64.powi(-11),
        _ => 0.0,
    }
}

/// The unit roundoffs a check uses: the compute precision's
/// ([`compute_roundoff`]) and that of the products' inputs
/// ([`product_roundoff`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Roundoff {
    /// Sums and every other operation.
    pub compute: f64,
    /// The inputs of products (TF32), 0 when they are not rounded.
    pub products: f64,
}

impl Roundoff {
    /// What a declared precision means for an output of `out_dtype`.
    pub fn declared(precision: Precision, out_dtype: DType) -> Self {
        Roundoff {
            compute: compute_roundoff(precision, out_dtype),
            products: product_roundoff(precision),
        }
    }

    /// Only a compute precision: products' inputs are not rounded.
    pub fn compute(u: f64) -> Self {
        Roundoff {
            compute: u,
            products: 0.0,
        }
    }
}

/// How much coarser than the output dtype a declared compute precision is:
/// `compute_u / u_out`, at least 1. Rules stated in ulps of the output
/// (`ulp`, `allclose`) widen by this factor, so that a declared precision
/// is honoured by every check kind, not only by `bound`; a precision finer
/// than the output never tightens them (the output rounding stays).
pub fn coarsening(out_dtype: DType, compute_u: f64) -> f64 {
    let u_out = unit_roundoff(out_dtype);
    if u_out > 0.0 && compute_u > u_out {
        compute_u / u_out
    } else {
        1.0
    }
}

/// The spacing of `dtype`'s representable numbers at `x` (one ulp): for
/// |x| in [2^e, 2^(e+1)) it is 2^(e - p + 1) with p the precision in bits;
/// below the normal range it is the subnormal spacing. 0 for integers.
pub fn ulp(dtype: DType, x: f64) -> f64 {
    let Some((p, emin)) = float_format(dtype) else {
        return 0.0;
    };
    let a = x.abs();
    let e = if a == 0.0 || !a.is_finite() {
        emin
    } else {
        // frexp-style exponent, exact for every finite f64 (no log2 rounding).
        let bits = a.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i32;
        if biased == 0 {
            -1023 // an f64 subnormal: far below every emin listed
        } else {
            biased - 1023
        }
    };
    2f64.powi(e.max(emin) - (p - 1))
}

/// Rounds `x` to `bits` significant bits (the implicit bit included),
/// nearest-even, with an unbounded exponent: tf32 is `bits = 11` on f32's
/// exponent range, which the inputs already respect.
pub fn round_significand(x: f64, bits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let e = ((x.abs().to_bits() >> 52) & 0x7ff) as i32 - 1023;
    let step = 2f64.powi(e - bits + 1);
    (x / step).round_ties_even() * step
}

/// Half the smallest positive subnormal of a float dtype, `2^(emin - p)`:
/// the largest error of rounding a tiny value into it (f64's, 2^-1075, is
/// itself below f64's range and reads 0). 0 for integers.
pub fn half_subnormal(dtype: DType) -> f64 {
    float_format(dtype).map_or(0.0, |(p, emin)| 2f64.powi(emin - p))
}

/// torch.testing.assert_close's default (rtol, atol) for a float dtype.
pub fn torch_allclose(dtype: DType) -> CheckSpec {
    let (rtol, atol) = match dtype {
        DType::F64 => (1e-7, 1e-7),
        DType::F32 => (1.3e-6, 1e-5),
        DType::F16 => (1e-3, 1e-5),
        DType::BF16 => (1.6e-2, 1e-5),
        // torch has no fp8 defaults: one unit roundoff relative, and a small
        // absolute floor for values rounded to zero.
        DType::F8E4M3FN | DType::F8E4M3FNUZ => (6.25e-2, 1e-3),
        DType::F8E5M2 | DType::F8E5M2FNUZ => (1.25e-1, 1e-3),
        DType::F4E2M1 => (2.5e-1, 1e-1),
        DType::F8E8M0 => (5e-1, 0.0),
        _ => return CheckSpec::Exact,
    };
    CheckSpec::Allclose { rtol, atol }
}

/// One ulp of 1.0 in a float dtype (2^(1-p)): the relative size of one ulp
/// at the bottom of a binade, so `n * eps * |y|` is at least `n` ulps of y.
fn epsilon(dtype: DType) -> f64 {
    2.0 * unit_roundoff(dtype)
}

/// The absolute floor of a relative rule: `n` subnormal spacings of
/// `dtype`, what `ulp(n)` allows at zero, for every float dtype. Subnormal
/// results must be kept: a backend that flushes them to zero (GPU FTZ
/// mode) declares it in `query_op` ([`Flush`]), and [`compare_declared`]
/// then accepts a zero there; undeclared flushing fails.
pub fn subnormal_floor(dtype: DType, n: f64) -> f64 {
    // ulp at zero, not 2 * half_subnormal: half of f64's smallest
    // subnormal (2^-1075) is not an f64.
    n * ulp(dtype, 0.0)
}

/// The smallest positive normal number of a float dtype; 0 for integers.
fn min_normal(dtype: DType) -> f64 {
    float_format(dtype).map_or(0.0, |(_, emin)| 2f64.powi(emin))
}

/// Whether `x` is a subnormal of the float dtype `dtype` (nonzero, below its
/// smallest normal number); false for integers.
pub fn is_subnormal(dtype: DType, x: f64) -> bool {
    x != 0.0 && x.abs() < min_normal(dtype)
}

/// What a backend declared in `query_op` about subnormal numbers for one
/// call (`XPU_NUMERIC_FLUSH_SUBNORMAL_*` in the header), as the checks apply
/// it: the same way in every check kind, `exact` included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flush {
    /// Subnormal inputs may be read as zero of the same sign (DAZ): an
    /// element may match the oracle on the flushed inputs instead.
    pub inputs: bool,
    /// Results below the normal range may be written as zero of either
    /// sign (FTZ).
    pub outputs: bool,
}

impl Flush {
    /// Nothing declared: IEEE 754 subnormals expected.
    pub const NONE: Flush = Flush {
        inputs: false,
        outputs: false,
    };

    /// The declarations by name (`inputs`, `outputs`), for results files.
    pub fn names(self) -> Vec<String> {
        [(self.inputs, "inputs"), (self.outputs, "outputs")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| n.to_string())
            .collect()
    }
}

impl From<xpucert_abi::NumericFlags> for Flush {
    fn from(f: xpucert_abi::NumericFlags) -> Self {
        Flush {
            inputs: f.flush_subnormal_inputs,
            outputs: f.flush_subnormal_outputs,
        }
    }
}

/// The oracle's answer for one output: exact values and, for `bound`, the
/// per-element magnitudes (sum of |terms|).
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The exact values.
    pub value: &'a ArrayD<f64>,
    /// The magnitudes, when the oracle gives them.
    pub magnitude: Option<&'a ArrayD<f64>>,
    /// The io-dtype magnitudes ([`crate::ops::Output::io_magnitude`]).
    pub io_magnitude: Option<&'a ArrayD<f64>>,
    /// The products' input magnitudes
    /// ([`crate::ops::Output::product_magnitude`]).
    pub product_magnitude: Option<&'a ArrayD<f64>>,
}

/// One element's magnitudes (see [`Expected`]).
#[derive(Debug, Clone, Copy, Default)]
struct Magnitudes {
    /// `M` (|y*| when the oracle gives none).
    sum: f64,
    /// `M_io`.
    io: f64,
    /// `M_prod`.
    products: f64,
}

/// `n` ulps relative, written as an allclose so that it can carry the
/// subnormal floor (the `ulp` rule has none): `|y - y*| <= n eps |y*| +
/// floor`. At most twice as loose as `ulp(n)` (at the top of a binade).
fn ulps_with_floor(dtype: DType, n: f64, floor: f64) -> CheckSpec {
    CheckSpec::Allclose {
        rtol: n * epsilon(dtype),
        atol: floor,
    }
}

/// What an op's definition says about its default check, before the
/// output dtype and the summation length are known: each op's `OpDef`
/// (`crate::ops`) picks one, and [`default_check`] turns it into a
/// [`CheckSpec`]. Integer and bool outputs are always `exact`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CheckPolicy {
    /// Bitwise equal: no arithmetic, nothing to round.
    Exact,
    /// `ulp(n)`, no floor.
    Ulp(f64),
    /// `n` ulps relative with a floor of `n` subnormal spacings (what
    /// `ulp(n)` allows at zero).
    UlpOrSubnormal(f64),
    /// `n` ulps relative plus an absolute `n * u` of the output dtype.
    UlpOrAbsolute(f64),
    /// `bound` with `c = 4 + 2 sqrt(n)` for a sum of `n` terms.
    SumBound,
    /// `bound` with `c = 4 + n`: the worst-case `gamma_n`, which holds for
    /// every summation order.
    WorstCaseSumBound,
    /// [`CheckPolicy::SumBound`] for a product of operands stored in a
    /// narrower format than they are multiplied in (Fp8BlockGemm's e4m3
    /// blocks): the sums are f32 whatever is declared, and a declared float
    /// precision coarser than f32 names the format the dequantized
    /// operands are converted to (bf16 weights on hardware without fp8),
    /// so it scales the products' share of the bound, not the sums'
    /// ([`CheckPolicy::roundoff`]).
    OperandSumBound,
    /// `bound` with `c = 1`: the oracle's magnitudes are a complete
    /// first-order error model of the op's stages, each summation's growth
    /// factor already folded in (Attention, the normalisations, RoPE, Gelu;
    /// see `docs/error-models.md`).
    ModelBound,
    /// torch's allclose for the dtype.
    Allclose,
    /// Requantized results (QLinearMatMul, QLinearConv,
    /// DynamicQuantizeLinear): `bound` with `c = 0`, for every output dtype,
    /// so that only the oracle's io magnitude allows an error. For an
    /// integer output it counts whole quanta: the oracle puts 1 where the
    /// exact value before rounding lies within an honest f32 rescale's
    /// error of a rounding boundary, 0 elsewhere, so such an element may be
    /// off by one and every other element must be exact.
    QuantumNearTies,
}

/// The default rule for one output stored as `dtype` of an op whose
/// definition asks for `policy`, where `terms` is the number of terms summed
/// per output element (1 for elementwise ops).
///
/// Every default is the error a *correct* implementation can have, derived
/// from how the value is computed, so that honest hardware passes and a
/// bug a little larger than that fails:
///
/// * Data movement, comparisons, Cast, TopK, ReduceMax and integer outputs:
///   `exact` (no arithmetic, nothing to round).
/// * Add, Sub, Mul: IEEE-754 requires the correctly rounded result (the
///   OpenCL CTS allows 0 ulp), so 0.5 ulp relative. f16/bf16 computed in f32
///   and rounded again are still correctly rounded: double rounding is
///   innocuous for +, -, *, / and sqrt when the wide format has at least
///   2p + 2 bits (24 >= 2 * 11 + 2). Floor: the subnormal floor.
/// * Div, Reciprocal: 2.5 ulp relative (CTS single-precision divide); a
///   multiply by the reciprocal (1.5 ulp) passes. Subnormal floor.
/// * Sqrt: `ulp(3)` (CTS); sqrt never returns a subnormal, so the ulp rule
///   needs no floor.
/// * Exp: `ulp(4)`: the CTS budget of 3 plus one for f16/bf16 results
///   computed by an f32 routine and rounded, and for argument reductions
///   that lose a bit at |x| near 88. Suites keep Exp results normal (the ulp
///   rule has no flush-to-zero floor).
/// * Tanh: `ulp(6)` (CTS 5, plus one as for Exp); expm1-based and
///   polynomial tanh are 2-3 ulp, and the (e^2x - 1)/(e^2x + 1) form that
///   cancels near zero is hundreds of ulps off there, which a relative rule
///   sees and torch's atol did not.
/// * Erf: `ulp(16)` (CTS erf budget).
/// * Log: 4 ulps relative plus an absolute 4u. Near x = 1 the result is
///   tiny, and a correct log that reduces x to 2^e * m with m in [1, 2)
///   cancels `e ln2 + log m` there: its error is ~2u absolute, unbounded in
///   ulps of the result.
/// * Sigmoid: 5 ulps relative (an exp within 3 ulps, one add, one divide)
///   with the subnormal floor: e^x / (1 + e^x) keeps the subnormal tail;
///   1/(1 + e^-x) is 0 below x = -88.7 in f32, which only a declared
///   output flush excuses.
/// * Softplus: 4 ulps relative plus an absolute 4u: ln(1 + e^x) (the ONNX
///   definition) rounds 1 + e^x, which costs u absolute, so for x << 0 the
///   relative error of a correct-as-specified implementation is large while
///   the absolute one stays below u.
/// * Gelu: torch's allclose. The ONNX formula 0.5 x (1 + erf(x/sqrt 2)) is
///   what ORT and PyTorch compute, and 1 + erf cancels for x < -2: the
///   honest error is ~|x| u absolute, thousands of ulps relative in the
///   tail. An absolute tolerance is the only rule that fits, and without
///   the inputs' range here torch's atol is kept.
/// * MatMul, Gemm, ReduceSum/Mean: `bound` with `c = 4 + 2 sqrt(n)`
///   ([`sum_growth`]): summing n terms of similar size has an error that
///   grows like `sqrt(n) u M` in practice, while a wrong accumulation
///   precision (bf16 for f32) is 2^16 times larger and still caught.
/// * Softmax, LogSoftmax: `bound` with `c = 4 + n` ([`worst_sum_growth`]).
/// * Attention, LayerNormalization, RMSNormalization, RotaryEmbedding:
///   `bound` with `c = 1` over the oracle's error model, which folds every
///   stage's growth into its magnitudes (`docs/error-models.md`).
///
/// With f16/bf16 io the bound's `u` is f32's unless the backend declares
/// otherwise ([`compute_roundoff`]).
pub fn default_check(policy: CheckPolicy, dtype: DType, terms: usize) -> CheckSpec {
    if policy == CheckPolicy::QuantumNearTies {
        return CheckSpec::Bound { c: 0.0 };
    }
    if !dtype.is_float() {
        return CheckSpec::Exact;
    }
    match policy {
        CheckPolicy::Exact => CheckSpec::Exact,
        CheckPolicy::Ulp(n) => CheckSpec::Ulp { n },
        CheckPolicy::UlpOrSubnormal(n) => ulps_with_floor(dtype, n, subnormal_floor(dtype, n)),
        CheckPolicy::UlpOrAbsolute(n) => ulps_with_floor(dtype, n, n * unit_roundoff(dtype)),
        CheckPolicy::SumBound | CheckPolicy::OperandSumBound => CheckSpec::Bound {
            c: sum_growth(terms),
        },
        // Sums of exponentials: positive terms over a wide range, where a
        // sequential sum drops small terms systematically (swamping; measured
        // at about 4.4 sqrt(n) u on a 32000-wide row). Only the worst-case
        // bound gamma_n holds for every summation order.
        CheckPolicy::WorstCaseSumBound => CheckSpec::Bound {
            c: worst_sum_growth(terms),
        },
        CheckPolicy::ModelBound => CheckSpec::Bound { c: 1.0 },
        CheckPolicy::Allclose => torch_allclose(dtype),
        CheckPolicy::QuantumNearTies => CheckSpec::Bound { c: 0.0 },
    }
}

/// The growth factor of a sum of `n` terms of similar size, in unit
/// roundoffs of its magnitude: `4 + 2 sqrt(n)`. Rounding errors of a sum
/// add like a random walk (Higham, "Accuracy and Stability", 2nd ed., §4.6:
/// the typical error is `sqrt(n) u M`), so twice that plus a margin for
/// the last roundings holds for sequential, pairwise, blocked and FMA
/// orders, while an accumulator one precision lower (2^13 times larger u
/// for bf16 against f32) is still far outside.
pub fn sum_growth(n: usize) -> f64 {
    4.0 + 2.0 * (n.max(1) as f64).sqrt()
}

/// The worst-case growth factor `4 + n` (`gamma_n`, for every order): for
/// sums of positive terms over a wide range (exponentials), where a
/// sequential sum drops the small terms systematically (swamping; measured
/// at about 4.4 sqrt(n) u on a 32000-wide row).
pub fn worst_sum_growth(n: usize) -> f64 {
    4.0 + n.max(1) as f64
}

/// One element that failed its check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mismatch {
    /// Multi-dimensional index in the output.
    pub index: Vec<usize>,
    /// Oracle value.
    #[serde(with = "super::json_f64")]
    pub expected: f64,
    /// Backend value.
    #[serde(with = "super::json_f64")]
    pub actual: f64,
    /// The largest error the check allowed at this element (`None` for
    /// `exact` and for NaN/Inf disagreements).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<f64>,
}

impl Comparison {
    /// The figures of an output whose shape is not the oracle's (a
    /// data-dependent output that reported another shape): failed, every
    /// one of the oracle's `elements` counted as a mismatch, nothing
    /// compared element by element.
    pub fn shape_mismatch(check: CheckSpec, elements: usize) -> Self {
        Comparison {
            check,
            passed: false,
            elements,
            mismatches: elements.max(1),
            special_mismatches: 0,
            max_abs_err: 0.0,
            max_rel_err: 0.0,
            headroom: 0.0,
            quality: 0.0,
            implied_roundoff: None,
            first_mismatch: None,
            mismatch_samples: Vec::new(),
        }
    }
}

/// How many failing elements a [`Comparison`] keeps in `mismatch_samples`.
pub const MISMATCH_SAMPLES: usize = 5;

/// Everything measured when comparing one output with the oracle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The rule applied.
    pub check: CheckSpec,
    /// Whether every element satisfied it.
    pub passed: bool,
    /// Number of elements compared.
    pub elements: usize,
    /// Elements outside tolerance (including special-value mismatches).
    pub mismatches: usize,
    /// Elements where NaN/Inf disagreed with the oracle.
    pub special_mismatches: usize,
    /// Largest |y - y*| over finite pairs.
    #[serde(with = "super::json_f64")]
    pub max_abs_err: f64,
    /// Largest |y - y*| / |y*| over finite pairs with y* != 0.
    #[serde(with = "super::json_f64")]
    pub max_rel_err: f64,
    /// Largest measured error / allowed error over finite pairs: below 1
    /// passes; the closer to 1, the less margin. 0 for exact matches.
    #[serde(with = "super::json_f64")]
    pub headroom: f64,
    /// Like `headroom`, but with one ulp of the output dtype discounted from
    /// every error first: the part of the error an implementation could have
    /// avoided. Rounding a higher-precision result into f16 costs up to an
    /// ulp by itself, so an honest f16 op can sit at headroom 0.9 while its
    /// quality figure stays near 0. Above [`WARN_QUALITY`] a pass is a `warn`.
    #[serde(default, with = "super::json_f64")]
    pub quality: f64,
    /// For `bound` checks: the unit roundoff the measured errors imply,
    /// max over elements of |y - y*| / (c * M). Far above the declared
    /// precision's u, it tells which precision the backend really used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implied_roundoff: Option<f64>,
    /// The first failing element in row-major order.
    pub first_mismatch: Option<Mismatch>,
    /// The first [`MISMATCH_SAMPLES`] failing elements in row-major order,
    /// for failure messages that show where and by how much.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mismatch_samples: Vec<Mismatch>,
}

/// A passing output whose [`Comparison::quality`] exceeds this is reported
/// as `warn`: conformant, but using more than half of its allowance beyond
/// what output rounding explains.
pub const WARN_QUALITY: f64 = 0.5;

/// The allowed |y - y*| for one element under `check`, or `None` for `exact`.
///
/// `compute_u` is the unit roundoff of the declared compute precision. The
/// `bound` rule is stated in it directly; `ulp` and `allclose`, stated in
/// the output dtype, widen by [`coarsening`] when the declared precision is
/// coarser (an f32 Exp declared as computed in bf16 is allowed `n` bf16
/// ulps). `exact` stays exact: data movement has no arithmetic to round.
/// For `bound`, `io_magnitude` is the coefficient of the io dtype's unit
/// roundoff: the intermediates of the op's ONNX function body, which a
/// correct kernel may store in the io dtype (attention's scores and
/// probabilities, a normalised row). `c` is a sum's growth and does not
/// scale it.
/// `u.products` scales the products' input magnitude (TF32).
fn allowed_error(
    check: &CheckSpec,
    out_dtype: DType,
    u: Roundoff,
    expected: f64,
    m: Magnitudes,
) -> Option<f64> {
    let compute_u = u.compute;
    let k = coarsening(out_dtype, compute_u);
    match *check {
        CheckSpec::Exact => None,
        CheckSpec::Allclose { rtol, atol } => Some(k * (atol + rtol * expected.abs())),
        // At zero the ulp is the subnormal spacing: at least two of them,
        // for the last two roundings of a result computed in steps.
        CheckSpec::Ulp { n } => {
            Some((k * n * ulp(out_dtype, expected)).max(subnormal_floor(out_dtype, n.max(2.0))))
        }
        CheckSpec::Bound { c } => {
            // Rounding into the output dtype: half an ulp. Below the normal
            // range the last two roundings (say exp, then a division) may
            // each cost half a spacing.
            let output_rounding =
                (unit_roundoff(out_dtype) * expected.abs()).max(subnormal_floor(out_dtype, 2.0));
            // An integer output's io unit is one quantum: its io magnitude
            // counts the quanta a correct rescale may be off by
            // (`CheckPolicy::QuantumNearTies`).
            let io_u = if out_dtype.is_float() {
                unit_roundoff(out_dtype).max(compute_u)
            } else {
                1.0
            };
            Some(c * compute_u * m.sum + io_u * m.io + u.products * m.products + output_rounding)
        }
    }
}

/// Compares `actual` (the backend's output, read back to f64) with the
/// oracle's `expected`. Shapes must already be equal. `magnitude` is the
/// oracle's per-element sum of |terms| (used by `bound`; when absent, |y*| is
/// used). `compute_u` is the unit roundoff of the precision the backend
/// declared it computes in. Nothing declared about subnormals: see
/// [`compare_declared`].
pub fn compare(
    check: CheckSpec,
    out_dtype: DType,
    compute_u: f64,
    expected: &ArrayD<f64>,
    actual: &ArrayD<f64>,
    magnitude: Option<&ArrayD<f64>>,
) -> Comparison {
    compare_with(
        check, out_dtype, compute_u, expected, actual, magnitude, None,
    )
}

/// [`compare`] with the oracle's io-dtype magnitudes too (see
/// [`crate::ops::Output::io_magnitude`]); nothing declared about subnormals.
pub fn compare_with(
    check: CheckSpec,
    out_dtype: DType,
    compute_u: f64,
    expected: &ArrayD<f64>,
    actual: &ArrayD<f64>,
    magnitude: Option<&ArrayD<f64>>,
    io_magnitude: Option<&ArrayD<f64>>,
) -> Comparison {
    let expected = Expected {
        value: expected,
        magnitude,
        io_magnitude,
        product_magnitude: None,
    };
    compare_declared(
        check,
        out_dtype,
        Roundoff::compute(compute_u),
        expected,
        actual,
        Flush::NONE,
        None,
    )
}

/// [`compare`] under what the backend declared about subnormals:
/// * `flush.outputs`: where the exact value (of `expected`, or of
///   `flushed_inputs` when that is used) is nonzero and below the output
///   dtype's smallest normal number, an actual +0 or -0 passes, with no
///   error counted;
/// * `flush.inputs`: `flushed_inputs` is the oracle on the inputs with every
///   subnormal replaced by a zero of its sign (`None` when no input had
///   one: then the two agree), and each element passes if it passes
///   against either expectation; its figures (headroom, quality, errors)
///   are those of the better of the two.
///
/// Every check kind is judged this way, `exact` included. `flushed_inputs`
/// is not consulted unless `flush.inputs` is set.
pub fn compare_declared(
    check: CheckSpec,
    out_dtype: DType,
    u: Roundoff,
    expected: Expected<'_>,
    actual: &ArrayD<f64>,
    flush: Flush,
    flushed_inputs: Option<Expected<'_>>,
) -> Comparison {
    assert_eq!(
        expected.value.shape(),
        actual.shape(),
        "compare needs equal shapes"
    );
    let flushed_inputs = flushed_inputs.filter(|_| flush.inputs);
    if let Some(f) = flushed_inputs {
        assert_eq!(
            f.value.shape(),
            actual.shape(),
            "compare needs equal shapes"
        );
    }
    let mut c = Comparison {
        check,
        passed: true,
        elements: expected.value.len(),
        mismatches: 0,
        special_mismatches: 0,
        max_abs_err: 0.0,
        max_rel_err: 0.0,
        headroom: 0.0,
        quality: 0.0,
        implied_roundoff: None,
        first_mismatch: None,
        mismatch_samples: Vec::new(),
    };
    let rule = Rule {
        check,
        out_dtype,
        u,
        flush_outputs: flush.outputs,
    };
    let row_major = |x: Option<&ArrayD<f64>>| x.map(|m| m.iter().copied().collect::<Vec<f64>>());
    let mags = row_major(expected.magnitude);
    let io_mags = row_major(expected.io_magnitude);
    let prod_mags = row_major(expected.product_magnitude);
    let alt_values = row_major(flushed_inputs.map(|f| f.value));
    let alt_mags = row_major(flushed_inputs.and_then(|f| f.magnitude));
    let alt_io_mags = row_major(flushed_inputs.and_then(|f| f.io_magnitude));
    let alt_prod_mags = row_major(flushed_inputs.and_then(|f| f.product_magnitude));
    let at = |x: &Option<Vec<f64>>, i: usize| x.as_ref().and_then(|m| m.get(i).copied());
    for (flat, ((idx, &e), &a)) in expected.value.indexed_iter().zip(actual.iter()).enumerate() {
        let mags_at = |sum: &Option<Vec<f64>>, io: &Option<Vec<f64>>, prod: &Option<Vec<f64>>| {
            (
                at(sum, flat),
                Magnitudes {
                    sum: 0.0,
                    io: at(io, flat).unwrap_or(0.0),
                    products: at(prod, flat).unwrap_or(0.0),
                },
            )
        };
        let (m, rest) = mags_at(&mags, &io_mags, &prod_mags);
        let mut v = rule.judge(e, a, m, rest);
        if let Some(e2) = at(&alt_values, flat) {
            let (m2, rest2) = mags_at(&alt_mags, &alt_io_mags, &alt_prod_mags);
            let w = rule.judge(e2, a, m2, rest2);
            // The better of the two: a pass over a failure, else the
            // smaller share of the allowance. Failures keep the first
            // expectation, the one a reader compares with.
            if !w.bad && (v.bad || w.ratio < v.ratio) {
                v = w;
            }
        }
        c.special_mismatches += usize::from(v.special);
        if let Some(err) = v.err {
            c.max_abs_err = c.max_abs_err.max(err);
            if v.expected != 0.0 {
                c.max_rel_err = c.max_rel_err.max(err / v.expected.abs());
            }
        }
        c.headroom = c.headroom.max(v.ratio);
        c.quality = c.quality.max(v.quality);
        if let Some(implied) = v.implied {
            c.implied_roundoff = Some(c.implied_roundoff.unwrap_or(0.0).max(implied));
        }
        if v.bad {
            c.passed = false;
            c.mismatches += 1;
            if c.mismatch_samples.len() < MISMATCH_SAMPLES {
                let m = Mismatch {
                    index: idx.slice().to_vec(),
                    expected: v.expected,
                    actual: a,
                    allowed: v.allowed,
                };
                if c.first_mismatch.is_none() {
                    c.first_mismatch = Some(m.clone());
                }
                c.mismatch_samples.push(m);
            }
        }
    }
    c
}

/// A check with everything it needs to judge single elements.
struct Rule {
    check: CheckSpec,
    out_dtype: DType,
    u: Roundoff,
    flush_outputs: bool,
}

/// The judgement of one element against one expectation.
struct Verdict {
    /// Outside the check.
    bad: bool,
    /// A NaN/Inf disagreement.
    special: bool,
    /// The expected value as judged (an overflow is its infinity).
    expected: f64,
    /// |y - y*| for a finite pair judged by tolerance or bits.
    err: Option<f64>,
    /// err / allowed (0 for an exact match, infinite for an exact miss).
    ratio: f64,
    /// The avoidable part of the error over the allowance.
    quality: f64,
    /// For `bound`: err / (c M).
    implied: Option<f64>,
    /// The allowance, for tolerance checks.
    allowed: Option<f64>,
}

impl Rule {
    /// Judges actual `a` against exact `e` with magnitude `m` (|e| if none)
    /// and the other magnitudes in `rest` (its `sum` is replaced by `m`).
    fn judge(&self, e: f64, a: f64, m: Option<f64>, rest: Magnitudes) -> Verdict {
        let (check, out_dtype) = (self.check, self.out_dtype);
        // An exact result beyond the output dtype's range rounds to an
        // infinity under IEEE arithmetic: that infinity is the right answer.
        let e = match round_to(out_dtype, e) {
            r if r.is_infinite() && e.is_finite() && out_dtype.is_float() => r,
            _ => e,
        };
        let mut v = Verdict {
            bad: false,
            special: false,
            expected: e,
            err: None,
            ratio: 0.0,
            quality: 0.0,
            implied: None,
            allowed: None,
        };
        if e.is_nan() || a.is_nan() {
            v.bad = e.is_nan() != a.is_nan();
            v.special = v.bad;
            return v;
        }
        if e.is_infinite() || a.is_infinite() {
            v.bad = e != a;
            v.special = v.bad;
            return v;
        }
        // Declared flush-to-zero: a zero of either sign where the exact
        // value is below the normal range is the declared behaviour, not an
        // error (whether the unit detects tininess before or after rounding).
        if self.flush_outputs && a == 0.0 && is_subnormal(out_dtype, e) {
            return v;
        }
        let err = (a - e).abs();
        v.err = Some(err);
        let m = m.unwrap_or(e.abs());
        let mags = Magnitudes { sum: m, ..rest };
        match allowed_error(&check, out_dtype, self.u, e, mags) {
            None => {
                // exact: compare bits so that -0 and +0 differ
                v.bad = a.to_bits() != e.to_bits();
                if v.bad {
                    v.ratio = f64::INFINITY;
                    v.quality = f64::INFINITY;
                }
            }
            Some(allowed) => {
                // A NaN bound (from a NaN magnitude) must never pass.
                let allowed = if allowed.is_nan() { 0.0 } else { allowed };
                v.allowed = Some(allowed);
                v.ratio = if err == 0.0 {
                    0.0
                } else if allowed > 0.0 {
                    err / allowed
                } else {
                    f64::INFINITY
                };
                if let CheckSpec::Bound { c: cb } = check
                    && cb > 0.0
                    && m > 0.0
                {
                    v.implied = Some(err / (cb * m));
                }
                // The output's own rounding unit is unavoidable: an ulp,
                // or one quantum of an integer output.
                let unit = if out_dtype.is_float() {
                    ulp(out_dtype, e)
                } else {
                    1.0
                };
                let avoidable = (err - unit).max(0.0);
                if avoidable > 0.0 {
                    v.quality = if allowed > 0.0 {
                        avoidable / allowed
                    } else {
                        f64::INFINITY
                    };
                }
                v.bad = err > allowed;
            }
        }
        v
    }
}

#[cfg(test)]
mod tests;
