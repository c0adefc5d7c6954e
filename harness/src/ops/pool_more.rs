//! The last pooling ops: LpPool (11, 18, 22) and MaxUnpool (11, 22).
//!
//! LpPool slides Conv's and the pools' window (`conv::pool_geometry`, the
//! same geometry, shape rule and validity check as MaxPool and
//! AveragePool) and takes the p-norm of each window, `y = (sum |x|^p)^(1/p)`
//! over the taps inside X; padding and a ceil_mode overhang add nothing
//! (they read as zeros, whose |0|^p is 0). ONNX's reference evaluator
//! instead scales an AveragePool of |x|^p by the full kernel size, which
//! differs from the p-norm wherever a window holds padding; ONNX's node
//! tests (`test_lppool_2d_pads`, `_same_upper`, `_same_lower`) and
//! onnxruntime follow the p-norm, as the oracle does.
//!
//! MaxUnpool scatters each X element to its index (flat, row-major, into
//! the unpooled tensor of the inferred shape `(in - 1) s - (begin + end) +
//! k` per spatial axis, N and C kept); every other element is 0. With
//! `output_shape` the output has that shape and the inferred tensor sits at
//! the start of every axis (what ONNX's reference and its
//! `test_maxunpool_export_with_output_shape` do; `pads` still shape the
//! inferred tensor). Two elements sent to one index must agree (MaxPool's
//! overlapping windows repeat a maximum with its value); different values
//! there have no defined result and are refused, as are indices outside
//! the inferred tensor and an `output_shape` smaller than it.
//!
//! # Checks
//! * MaxUnpool: exact (data movement).
//! * LpPool: the summation bound (`CheckPolicy::SumBound`, `n` = the
//!   kernel's taps) over the magnitude `M = y (1 + |ln y|)`. A correct f32
//!   kernel computes each `|x|^p` within a few ulps, sums them (relative
//!   error within the sum's growth, the terms being positive) and takes
//!   the `1/p`-th power with `1/p` rounded to f32: the sum's relative error
//!   shrinks by `1/p`, and the rounded exponent adds `u |ln y|` relative
//!   (`S^((1/p)(1 + ε)) = y · y^ε`). `p = 2` is ReduceL2's `M = y` but for
//!   the exponent's term, which is exact for 1/2 and harmless to allow.

use ndarray::{ArrayD, IxDyn};

use super::conv::{self, Tap};
use super::rules::{self, no_flops, no_sum};
use super::spec::{TypeVar, fixed};
use super::{AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape};
use crate::numerics::DType;
use crate::numerics::check::CheckPolicy;

/// LpPool's and MaxUnpool's `T` before opset 22: f64, f32, f16.
const T_NO_BF16: TypeVar = TypeVar {
    name: "T",
    allowed: &[DType::F64, DType::F32, DType::F16],
};

/// LpPool-11's attributes (18 adds ceil_mode and dilations).
const LP_POOL_11_ATTRS: &[(&str, AttrType)] = &[
    ("auto_pad", AttrType::String),
    ("kernel_shape", AttrType::Ints),
    ("p", AttrType::Int),
    ("pads", AttrType::Ints),
    ("strides", AttrType::Ints),
];

/// LpPool-18's and -22's attributes.
const LP_POOL_18_ATTRS: &[(&str, AttrType)] = &[
    ("auto_pad", AttrType::String),
    ("ceil_mode", AttrType::Int),
    ("dilations", AttrType::Ints),
    ("kernel_shape", AttrType::Ints),
    ("p", AttrType::Int),
    ("pads", AttrType::Ints),
    ("strides", AttrType::Ints),
];

/// The spec of LpPool at `opset`.
const fn lp_pool_spec(
    opset: i64,
    t: &'static [TypeVar],
    attributes: &'static [(&'static str, AttrType)],
) -> OpSpec {
    OpSpec {
        name: "LpPool",
        domain: "",
        opset,
        arity: fixed(1, 0),
        input_names: &["X"],
        input_types: t,
        outputs: 1,
        attributes,
    }
}

/// LpPool-11: a p-norm of each window: the summation bound over the taps
/// (module docs).
pub(super) const LP_POOL_11: OpDef = OpDef {
    spec: lp_pool_spec(11, &[T_NO_BF16], LP_POOL_11_ATTRS),
    oracle: |c| Ok(vec![lp_pool(c)?]),
    shape: lp_pool_shape,
    cost: conv::pool_cost,
    check: CheckPolicy::SumBound,
    terms: conv::pool_terms,
};

/// LpPool-18: as 11, plus ceil_mode and dilations.
pub(super) const LP_POOL_18: OpDef = OpDef {
    spec: lp_pool_spec(18, &[T_NO_BF16], LP_POOL_18_ATTRS),
    ..LP_POOL_11
};

/// LpPool-22: as 18, plus bfloat16.
pub(super) const LP_POOL: OpDef = OpDef {
    spec: lp_pool_spec(22, &[conv::T_WIDE], LP_POOL_18_ATTRS),
    ..LP_POOL_11
};

/// MaxUnpool's indices and output_shape.
const T_INDEX: TypeVar = TypeVar {
    name: "T2",
    allowed: &[DType::I64],
};
const MAX_UNPOOL_11_TYPES: [TypeVar; 3] = [T_NO_BF16, T_INDEX, T_INDEX];
const MAX_UNPOOL_22_TYPES: [TypeVar; 3] = [conv::T_WIDE, T_INDEX, T_INDEX];

/// The spec of MaxUnpool at `opset` with input types `t`.
const fn max_unpool_spec(opset: i64, t: &'static [TypeVar]) -> OpSpec {
    OpSpec {
        name: "MaxUnpool",
        domain: "",
        opset,
        arity: fixed(2, 1),
        input_names: &["X", "I", "output_shape"],
        input_types: t,
        outputs: 1,
        attributes: &[
            ("kernel_shape", AttrType::Ints),
            ("pads", AttrType::Ints),
            ("strides", AttrType::Ints),
        ],
    }
}

/// MaxUnpool-11: data movement, exact.
pub(super) const MAX_UNPOOL_11: OpDef = OpDef {
    spec: max_unpool_spec(11, &MAX_UNPOOL_11_TYPES),
    oracle: |c| Ok(vec![max_unpool(c)?]),
    shape: |attrs, inputs, values| {
        let (dtype, _) = rules::input(inputs, 0)?;
        let plan = Unpool::resolve(attrs, inputs, values)?;
        Ok(vec![(*dtype, plan.output)])
    },
    cost: no_flops,
    check: CheckPolicy::Exact,
    terms: no_sum,
};

/// MaxUnpool-22: as 11, plus bfloat16.
pub(super) const MAX_UNPOOL: OpDef = OpDef {
    spec: max_unpool_spec(22, &MAX_UNPOOL_22_TYPES),
    ..MAX_UNPOOL_11
};

// ------------------------------------------------------------------- LpPool

/// LpPool's `p`: an integer of at least 1.
fn p_attr(attrs: &Attributes) -> std::result::Result<i64, String> {
    match attrs.int("p", 2)? {
        p if p >= 1 => Ok(p),
        p => Err(format!("attribute p must be at least 1, got {p}")),
    }
}

fn lp_pool_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    _: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (dtype, x) = rules::input(inputs, 0)?;
    p_attr(attrs)?;
    let (n, c, w) = conv::pool_geometry(attrs, x, false)?;
    Ok(vec![(*dtype, conv::pooled(n, c, &w))])
}

/// LpPool (11, 18, 22): `(sum |x|^p)^(1/p)` over each window's taps inside
/// X (module docs), with the magnitude `y (1 + |ln y|)`.
fn lp_pool(call: &Call) -> Result<Output> {
    let x = call.input(0)?;
    let p = p_attr(call.attrs).map_err(|m| call.err(m))?;
    let (batch, channels, w) =
        conv::pool_geometry(call.attrs, x.shape(), false).map_err(|m| call.err(m))?;
    let (taps, outs) = (w.taps(), w.out_size());
    let spatial: usize = w.input.iter().product();
    let table = w.table(false);
    let xs: Vec<f64> = x.data.iter().copied().collect();
    let pf = p as f64;
    let mut y = Vec::with_capacity(batch * channels * outs);
    let mut magnitude = Vec::with_capacity(batch * channels * outs);
    for plane in 0..batch * channels {
        let base = plane * spatial;
        for q in 0..outs {
            let mut sum = 0.0;
            for t in 0..taps {
                if let Tap::Input(off) = table[t * outs + q] {
                    sum += xs[base + off].abs().powi(p as i32);
                }
            }
            let v = if p == 1 { sum } else { sum.powf(1.0 / pf) };
            y.push(v);
            magnitude.push(if v > 0.0 {
                v * (1.0 + v.ln().abs())
            } else {
                0.0
            });
        }
    }
    let shape = conv::pooled(batch, channels, &w);
    let array = |v: Vec<f64>| {
        ArrayD::from_shape_vec(IxDyn(&shape), v).map_err(|e| call.err(format!("output: {e}")))
    };
    Ok(Output::bounded(x.dtype, array(y)?, array(magnitude)?, None))
}

// ---------------------------------------------------------------- MaxUnpool

/// A checked MaxUnpool call.
struct Unpool {
    /// The inferred (unpooled) shape the indices address.
    inferred: Vec<usize>,
    /// The output shape: `output_shape` if given, else the inferred one.
    output: Vec<usize>,
}

impl Unpool {
    /// Checks X `[N, C, D...]`, I of X's shape, the attributes, the indices
    /// (inside the inferred tensor; one value per index) and output_shape
    /// (X's rank, N and C, no axis below the inferred size), when their
    /// values are known.
    fn resolve(
        attrs: &Attributes,
        inputs: &[Option<TypedShape>],
        values: &mut dyn FnMut(usize) -> Vec<f64>,
    ) -> std::result::Result<Self, String> {
        let (_, x) = rules::input(inputs, 0)?;
        let (_, ix) = rules::input(inputs, 1)?;
        let (n, c, spatial) = conv::split_input(x)?;
        if ix != x {
            return Err(format!("I must have X's shape {x:?}, got {ix:?}"));
        }
        let rank = spatial.len();
        let kernel = conv::kernel_attr(attrs, rank)?
            .ok_or_else(|| "attribute kernel_shape is required".to_string())?;
        let strides = conv::positive_list(attrs, "strides", rank)?;
        let pads = match attrs.ints("pads")? {
            None => vec![0; 2 * rank],
            Some(p) if p.len() != 2 * rank => {
                return Err(format!(
                    "attribute pads has {} values, 2 x {rank} spatial axes need {}",
                    p.len(),
                    2 * rank
                ));
            }
            Some(p) => p
                .iter()
                .map(|&v| {
                    usize::try_from(v)
                        .ok()
                        .filter(|&v| (v as i128) <= conv::LIMIT)
                        .ok_or_else(|| format!("attribute pads holds {v}; pads must be 0 to 2^32"))
                })
                .collect::<std::result::Result<Vec<_>, _>>()?,
        };
        let mut inferred = vec![n, c];
        for i in 0..rank {
            let full = (spatial[i] as i128 - 1) * strides[i] as i128 + kernel[i] as i128;
            let d = full - pads[i] as i128 - pads[rank + i] as i128;
            if d < 1 || spatial[i] as i128 > conv::LIMIT || d > conv::LIMIT {
                return Err(format!(
                    "spatial axis {i}: (in - 1) x stride + kernel - pads = ({} - 1) x {} + {} - {} = {d}, not a size",
                    spatial[i],
                    strides[i],
                    kernel[i],
                    pads[i] + pads[rank + i]
                ));
            }
            inferred.push(d as usize);
        }
        let output = match inputs.get(2).and_then(Option::as_ref) {
            None => inferred.clone(),
            Some((_, s)) => {
                if s.len() != 1 || s[0] != x.len() {
                    return Err(format!(
                        "output_shape must be 1-D with {} values (X's rank), got shape {s:?}",
                        x.len()
                    ));
                }
                let v = rules::ints_of("output_shape", &values(2))?;
                if v.len() != x.len() {
                    return Err(
                        "output_shape's values are needed to know the output's shape".into(),
                    );
                }
                let out: Vec<usize> = v.iter().map(|&d| d.max(0) as usize).collect();
                if v[0] != n as i64
                    || v[1] != c as i64
                    || v.iter().zip(&inferred).any(|(&d, &i)| d < i as i64)
                    || v.iter().any(|&d| d as i128 > conv::LIMIT)
                {
                    return Err(format!(
                        "output_shape {v:?} must keep N and C and hold the unpooled shape {inferred:?}"
                    ));
                }
                out
            }
        };
        let total: usize = inferred.iter().product();
        let count: usize = x.iter().product();
        let idx = values(1);
        if idx.len() == count {
            let idx = rules::ints_of("I", &idx)?;
            if let Some(&bad) = idx.iter().find(|&&i| i < 0 || i as usize >= total) {
                return Err(format!(
                    "index {bad} in I is outside the unpooled tensor {inferred:?} ({total} elements)"
                ));
            }
            let xv = values(0);
            if xv.len() == count {
                let mut seen: std::collections::HashMap<i64, f64> = Default::default();
                for (&i, &v) in idx.iter().zip(&xv) {
                    if let Some(&w) = seen.get(&i)
                        && w.to_bits() != v.to_bits()
                        && !(w.is_nan() && v.is_nan())
                    {
                        return Err(format!(
                            "index {i} receives two different values ({w} and {v}): which one wins is undefined"
                        ));
                    }
                    seen.insert(i, v);
                }
            }
        }
        Ok(Unpool { inferred, output })
    }
}

/// MaxUnpool (11, 22): X's elements scattered to their flat indices in the
/// inferred tensor, zeros elsewhere, placed at the start of output_shape
/// (module docs). Checked by [`Unpool::resolve`].
fn max_unpool(call: &Call) -> Result<Output> {
    let plan = Unpool::resolve(call.attrs, &call.typed_shapes(), &mut |i| call.values(i))
        .map_err(|m| call.err(m))?;
    let (x, ix) = (call.input(0)?, call.input(1)?);
    let total: usize = plan.inferred.iter().product();
    let mut flat = vec![0.0; total];
    for (&v, &i) in x.data.iter().zip(ix.data.iter()) {
        flat[i as usize] = v;
    }
    let inner = ArrayD::from_shape_vec(IxDyn(&plan.inferred), flat)
        .map_err(|e| call.err(format!("output: {e}")))?;
    let mut out = ArrayD::zeros(IxDyn(&plan.output));
    let region: Vec<ndarray::SliceInfoElem> = plan
        .inferred
        .iter()
        .map(|&d| ndarray::SliceInfoElem::from(0..d))
        .collect();
    out.slice_mut(region.as_slice()).assign(&inner);
    Ok(Output::plain(x.dtype, out))
}

// ------------------------------------------------------------- generated cases
// The case spaces of this family (machinery and conventions: ops/cases.rs).

use super::cases::{self, CaseSpace, Factor, GenCase, GenInput, Pick, Storage};

/// LpPool: MaxPool's and AveragePool's factors (dims, kernel, stride,
/// dilation, padding, ceil_mode, layout) and p of 1, 2 and 3.
pub(super) fn lp_pool_cases() -> Option<CaseSpace> {
    let mut factors = conv::pool_factors(cases::FLOATS);
    factors.push(Factor::new("p", &["p1", "p2", "p3"]));
    Some(CaseSpace {
        factors,
        build: Box::new(|p: &Pick| {
            let case = conv::pool_case(p)?.int("p", p.get("p")[1..].parse().ok()?);
            conv::valid_pool(case, false)
        }),
    })
}

/// MaxUnpool: 1-D and 2-D, kernels 2 and 3, strides 1 and 2 (overlapping
/// and disjoint windows), no padding or one unit at the beginning or the
/// end, with and without a larger output_shape, every layout of X. The
/// indices are those a MaxPool could give: one distinct position per
/// window, inside the unpooled tensor.
pub(super) fn max_unpool_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::FLOATS),
            Factor::new("dims", &["d1", "d2"]),
            Factor::new("kernel", &["k2", "k3"]),
            Factor::new("stride", &["s1", "s2"]),
            Factor::new("pads", &["pnone", "pbegin", "pend"]),
            Factor::new("outshape", &["inferred", "larger"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let spatial = match p.get("dims") {
                "d1" => vec![5],
                _ => vec![4, 3],
            };
            let rank = spatial.len();
            let k = if p.is("kernel", "k2") { 2 } else { 3 };
            let s = if p.is("stride", "s1") { 1 } else { 2 };
            let (n, c) = (2, 3);
            let mut pads = vec![0usize; 2 * rank];
            match p.get("pads") {
                "pbegin" => pads[..rank].fill(1),
                "pend" => pads[rank..].fill(1),
                _ => {}
            }
            let inferred: Vec<usize> = (0..rank)
                .map(|i| (spatial[i] - 1) * s + k - pads[i] - pads[rank + i])
                .collect();
            let mut x = vec![n, c];
            x.extend(&spatial);
            let plane: usize = inferred.iter().product();
            let windows: usize = spatial.iter().product();
            let mut indices = Vec::with_capacity(n * c * windows);
            let mut o = vec![0usize; rank];
            for pl in 0..n * c {
                for wdx in 0..windows {
                    let mut rest = wdx;
                    for i in (0..rank).rev() {
                        o[i] = rest % spatial[i];
                        rest /= spatial[i];
                    }
                    // Window o's offset below the stride keeps the
                    // positions distinct; the clamp moves only the last
                    // window of an axis, past every other one.
                    let mut flat = 0;
                    for i in 0..rank {
                        let r = (o[i] * 7 + pl) % s;
                        let pos = (o[i] * s + r).min(inferred[i] - 1);
                        flat = flat * inferred[i] + pos;
                    }
                    indices.push((pl * plane + flat) as f64);
                }
            }
            let mut inputs = vec![
                GenInput::new(p.dtype(), x.clone())
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                GenInput::values(DType::I64, indices).shaped(x).some(),
            ];
            if p.is("outshape", "larger") {
                let mut shape = vec![n as f64, c as f64];
                shape.extend(inferred.iter().map(|&d| (d + 1) as f64));
                inputs.push(GenInput::values(DType::I64, shape).some());
            }
            let mut case = GenCase::new(inputs).ints("kernel_shape", vec![k as i64; rank]);
            if s != 1 {
                case = case.ints("strides", vec![s as i64; rank]);
            }
            if pads.iter().any(|&v| v > 0) {
                case = case.ints("pads", pads.iter().map(|&v| v as i64).collect());
            }
            Some(case)
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::ops::AttrValue;

    fn ints(v: &[i64]) -> AttrValue {
        AttrValue::Ints(v.to_vec())
    }

    #[test]
    fn lp_pool_norms_by_hand_padding_adds_nothing() {
        // Padded [0, 3, -4, 12], kernel 2: [3, 5, sqrt(160)] for p = 2,
        // [3, 7, 16] for p = 1.
        let x = f(&[1, 1, 3], &[3.0, -4.0, 12.0]);
        let base = [("kernel_shape", ints(&[2])), ("pads", ints(&[1, 0]))];
        let out = run("LpPool", &attrs(&base), std::slice::from_ref(&x))
            .unwrap()
            .remove(0);
        close(&out.value.data, &[3.0, 5.0, 160f64.sqrt()], 1e-15);
        let m: Vec<f64> = [3.0, 5.0, 160f64.sqrt()]
            .iter()
            .map(|y: &f64| y * (1.0 + y.ln().abs()))
            .collect();
        close(out.magnitude.as_ref().unwrap(), &m, 1e-15);
        let mut p1 = base.to_vec();
        p1.push(("p", AttrValue::Int(1)));
        let y = run1("LpPool", &attrs(&p1), std::slice::from_ref(&x));
        close(&y.data, &[3.0, 7.0, 16.0], 0.0);
        // p = 3 over [1, 2]: 9^(1/3).
        let a = attrs(&[("kernel_shape", ints(&[2])), ("p", AttrValue::Int(3))]);
        let y = run1("LpPool", &a, &[f(&[1, 1, 2], &[1.0, -2.0])]);
        close(&y.data, &[9f64.cbrt()], 1e-15);
    }

    #[test]
    fn lp_pool_versions_and_errors() {
        let x = f(&[1, 1, 5], &[1.0, 2.0, 3.0, 4.0, 5.0]);
        let ceil = attrs(&[
            ("kernel_shape", ints(&[2])),
            ("strides", ints(&[2])),
            ("ceil_mode", AttrValue::Int(1)),
        ]);
        // ceil_mode (18) adds the last, one-tap window.
        let y = run1("LpPool", &ceil, std::slice::from_ref(&x));
        close(&y.data, &[5f64.sqrt(), 5.0, 5.0], 1e-15);
        let e = run_at("LpPool", 11, &ceil, &[Some(x.clone())]).unwrap_err();
        assert!(e.to_string().contains("unknown attribute ceil_mode"), "{e}");
        // bfloat16 from 22 on.
        let k = attrs(&[("kernel_shape", ints(&[2]))]);
        let b = t(DType::BF16, &[1, 1, 2], &[1.0, 1.0]);
        assert!(run_at("LpPool", 22, &k, &[Some(b.clone())]).is_ok());
        let e = run_at("LpPool", 18, &k, &[Some(b)]).unwrap_err();
        assert!(e.to_string().contains("got bf16"), "{e}");
        fails(
            "LpPool",
            &attrs(&[("kernel_shape", ints(&[2])), ("p", AttrValue::Int(0))]),
            &[Some(x)],
            "p must be at least 1",
        );
    }

    #[test]
    fn max_unpool_onnx_examples() {
        let i = t(DType::I64, &[1, 1, 2, 2], &[5.0, 7.0, 13.0, 15.0]);
        let a = attrs(&[("kernel_shape", ints(&[2, 2])), ("strides", ints(&[2, 2]))]);
        let y = run1(
            "MaxUnpool",
            &a,
            &[f(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]), i.clone()],
        );
        assert_eq!(y.shape(), &[1, 1, 4, 4]);
        let mut want = [0.0; 16];
        (want[5], want[7], want[13], want[15]) = (1.0, 2.0, 3.0, 4.0);
        close(&y.data, &want, 0.0);
        // output_shape 5 x 5: the 4 x 4 result at its top left.
        let y = run1(
            "MaxUnpool",
            &a,
            &[
                f(&[1, 1, 2, 2], &[5.0, 6.0, 7.0, 8.0]),
                i,
                t(DType::I64, &[4], &[1.0, 1.0, 5.0, 5.0]),
            ],
        );
        let mut want = [0.0; 25];
        (want[6], want[8], want[16], want[18]) = (5.0, 6.0, 7.0, 8.0);
        close(&y.data, &want, 0.0);
    }

    #[test]
    fn max_unpool_errors() {
        let a = attrs(&[("kernel_shape", ints(&[2]))]);
        let x = Some(f(&[1, 1, 2], &[1.0, 2.0]));
        let ix = |v: &[f64]| Some(t(DType::I64, &[1, 1, 2], v));
        // Inferred size (2 - 1) + 2 = 3.
        fails("MaxUnpool", &a, &[x.clone(), ix(&[0.0, 3.0])], "outside");
        fails(
            "MaxUnpool",
            &a,
            &[x.clone(), ix(&[1.0, 1.0])],
            "two different values",
        );
        assert!(
            run_opt(
                "MaxUnpool",
                &a,
                &[Some(f(&[1, 1, 2], &[2.0, 2.0])), ix(&[1.0, 1.0])]
            )
            .is_ok()
        );
        fails(
            "MaxUnpool",
            &a,
            &[
                x.clone(),
                ix(&[0.0, 1.0]),
                Some(t(DType::I64, &[3], &[1.0, 1.0, 2.0])),
            ],
            "must keep N and C and hold",
        );
        fails(
            "MaxUnpool",
            &Attributes::new(),
            &[x, ix(&[0.0, 1.0])],
            "kernel_shape is required",
        );
    }
}
