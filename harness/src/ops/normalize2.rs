//! The second normalization family (issue 17): InstanceNormalization (6,
//! 22), GroupNormalization (18, 21), MeanVarianceNormalization (9, 13),
//! LpNormalization (1, 22), LRN (1, 13), and the two inference-time
//! pass-throughs that models carry next to them: Dropout (10, 12, 13, 22)
//! and CastLike (15, 19, 21, 23, 24).
//!
//! Versions that only add dtypes get their own definition (as the
//! activations do), so a model at opset 11 is judged by the type
//! constraint it was written against: CastLike-21 adds int4/uint4, 23
//! FLOAT4E2M1, 24 FLOAT8E8M0 and `round_mode` (25 adds only 2-bit
//! integers, which xpucert has no tensors for).
//!
//! The statistics normalizations (Instance, Group, MVN) share one error
//! model, LayerNormalization's (`norm.rs`, `docs/error-models.md`): the
//! mean and the variance of a group of n values carry `g(n) = 4 + 2
//! sqrt(n)` unit roundoffs of their magnitudes ([`sum_growth`]), and the
//! variance may be the one-pass `E[x^2] - mean^2` that the ONNX function
//! bodies write, so honest reorderings, blocked and one-pass kernels pass
//! while a wrong divisor or a misplaced epsilon does not.

use ndarray::{ArrayD, Axis, IxDyn};

use super::activation::{T_F16_F32_F64, T_FLOAT4, older};
use super::rules::{self, no_flops, no_sum, per_input_element};
use super::spec::{
    CONVERTIBLE_19, CONVERTIBLE_21, CONVERTIBLE_23, CONVERTIBLE_24, CONVERTIBLE_25, FLOATS,
    TypeVar, fixed,
};
use super::{
    AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape, Work,
    elementwise,
};
use crate::numerics::DType;
use crate::numerics::check::{CheckPolicy, sum_growth};

// ------------------------------------------------------------------ types

/// `T` of Dropout-22: every float, fp8 included.
const T_FLOAT_ALL: TypeVar = TypeVar {
    name: "T",
    allowed: FLOATS,
};
/// Dropout-12/13's `ratio` (`T1`): float16, float, double.
const T1_F16_F32_F64: TypeVar = TypeVar {
    name: "T1",
    allowed: &[DType::F64, DType::F32, DType::F16],
};
/// Dropout-22's `ratio` (`T1`): every float.
const T1_FLOAT_ALL: TypeVar = TypeVar {
    name: "T1",
    allowed: FLOATS,
};
/// Dropout's `training_mode` and `mask` (`T2`): bool.
const T2_BOOL: TypeVar = TypeVar {
    name: "T2",
    allowed: &[DType::Bool],
};
/// CastLike-15's `T1`/`T2`: every dtype but fp8 (added in 19).
const NOT_FP8: &[DType] = &[
    DType::F64,
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::I8,
    DType::U8,
    DType::I16,
    DType::U16,
    DType::I32,
    DType::U32,
    DType::I64,
    DType::U64,
    DType::Bool,
];
/// CastLike-15's input type.
const T1_NOT_FP8: TypeVar = TypeVar {
    name: "T1",
    allowed: NOT_FP8,
};
/// CastLike-15's target type.
const T2_NOT_FP8: TypeVar = TypeVar {
    name: "T2",
    allowed: NOT_FP8,
};
/// CastLike's input (`T1`) and target (`T2`) types of a version: the
/// same list on both sides.
macro_rules! cast_like_types {
    ($list:expr) => {
        &[
            TypeVar {
                name: "T1",
                allowed: $list,
            },
            TypeVar {
                name: "T2",
                allowed: $list,
            },
        ]
    };
}

// ------------------------------------------------------- shared statistics

/// The `epsilon` attribute (default 1e-5), finite and >= 0 (a negative one
/// makes the square root meaningless).
fn epsilon_of(attrs: &Attributes) -> std::result::Result<f64, String> {
    let eps = attrs.float("epsilon", 1e-5)?;
    if eps.is_finite() && eps >= 0.0 {
        Ok(eps)
    } else {
        Err(format!("epsilon must be finite and >= 0, got {eps}"))
    }
}

/// Where a normalised value's error comes from, per group of n values
/// (LayerNormalization's model, `norm.rs`): the mean is off by `d_mean =
/// g(n) mean|x|` and the variance by `d_var = g(n) mean(x^2) + 2 |mean|
/// d_mean + mean^2 + var` (the one-pass form included), in units of the
/// compute precision's u.
struct Moments {
    mean: f64,
    /// The population (1/n) variance, two-pass.
    var: f64,
    d_mean: f64,
    d_var: f64,
}

impl Moments {
    fn of(row: &[f64]) -> Moments {
        let n = row.len() as f64;
        let g = sum_growth(row.len());
        let mean = row.iter().sum::<f64>() / n;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let mean_abs = row.iter().map(|v| v.abs()).sum::<f64>() / n;
        let mean_sq = row.iter().map(|v| v * v).sum::<f64>() / n;
        let d_mean = g * mean_abs;
        let d_var = g * mean_sq + 2.0 * mean.abs() * d_mean + mean * mean + var;
        Moments {
            mean,
            var,
            d_mean,
            d_var,
        }
    }
}

/// Replaces each row of `n` consecutive values with `(x - mean) /
/// sqrt(var + eps)` and returns each element's error coefficient:
/// `|x̂| (d_var / (2 (var + eps)) + 4) + (|x - mean| + d_mean) / sigma`
/// (the deviation, the root of the shifted variance, the division).
fn standardize_rows(data: &mut [f64], n: usize, eps: f64) -> Vec<f64> {
    let mut err = vec![0.0; data.len()];
    if n == 0 {
        return err;
    }
    for (row, e) in data.chunks_exact_mut(n).zip(err.chunks_exact_mut(n)) {
        let m = Moments::of(row);
        let sigma = (m.var + eps).sqrt();
        let relative = m.d_var / (2.0 * (m.var + eps)) + 4.0;
        for (v, e) in row.iter_mut().zip(e.iter_mut()) {
            let d = *v - m.mean;
            *v = d / sigma;
            *e = v.abs() * relative + (d.abs() + m.d_mean) / sigma;
        }
    }
    err
}

/// `y = s x̂ + b` per channel after [`standardize_rows`], with its error
/// model `|s| e + |x̂ s| + |b|` (the product and the sum) and an io-dtype
/// term `2 |x̂ s|` for kernels that store x̂ in the io dtype before the
/// affine stage (the GroupNormalization-21 function body casts it back to
/// X's type; fused InstanceNorm kernels often do the same). `channel(k)` is
/// the index into `scale` and `bias` of flat element k.
fn affine(
    call: &Call,
    dtype: DType,
    shape: &[usize],
    normalized: Vec<f64>,
    err: Vec<f64>,
    params: (&[f64], &[f64]),
    channel: impl Fn(usize) -> usize,
) -> Result<Output> {
    let (scale, bias) = params;
    let mut y = Vec::with_capacity(normalized.len());
    let mut model = Vec::with_capacity(normalized.len());
    let mut io = Vec::with_capacity(normalized.len());
    for (k, (&n, &e)) in normalized.iter().zip(&err).enumerate() {
        let c = channel(k);
        let (s, b) = (scale[c], bias[c]);
        y.push(n * s + b);
        model.push(s.abs() * e + (n * s).abs() + b.abs());
        io.push(2.0 * (n * s).abs());
    }
    let array =
        |v| ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| call.err(format!("output: {e}")));
    Ok(Output::bounded(
        dtype,
        array(y)?,
        array(model)?,
        Some(array(io)?),
    ))
}

/// Input `i`'s values, row-major.
fn flat(call: &Call, i: usize) -> Result<Vec<f64>> {
    Ok(call.input(i)?.data.iter().copied().collect())
}

/// The input shapes of a call as the shared validity functions take them
/// (`None` for an omitted input).
fn shapes_of(inputs: &[Option<TypedShape>]) -> Vec<Option<&[usize]>> {
    inputs
        .iter()
        .map(|i| i.as_ref().map(|(_, s)| s.as_slice()))
        .collect()
}

/// Input `i`'s shape, or an error naming it.
fn required<'a>(
    shapes: &[Option<&'a [usize]>],
    i: usize,
    name: &str,
) -> std::result::Result<&'a [usize], String> {
    shapes
        .get(i)
        .copied()
        .flatten()
        .ok_or_else(|| format!("required input {name} is missing"))
}

// ---------------------------------------------------- InstanceNormalization

/// InstanceNormalization's validity and epsilon: X of rank 3 or more (N x
/// C x D1 ...: the spec's image and non-image forms; a rank-2 X has one
/// value per instance and channel, which ONNX Runtime refuses), scale and
/// B 1-D of length C.
fn instance_norm_params(
    attrs: &Attributes,
    shapes: &[Option<&[usize]>],
) -> std::result::Result<f64, String> {
    let x = required(shapes, 0, "input")?;
    if x.len() < 3 {
        return Err(format!(
            "input must have rank 3 or more (N x C x D1 ...), got shape {x:?}"
        ));
    }
    let c = x[1];
    for (i, name) in [(1, "scale"), (2, "B")] {
        let s = required(shapes, i, name)?;
        if s != [c] {
            return Err(format!(
                "{name} must have shape [{c}] (the channels of input {x:?}), got {s:?}"
            ));
        }
    }
    epsilon_of(attrs)
}

/// An InstanceNormalization version (6: float16, float, double; 22 adds
/// bfloat16).
const fn instance_norm_def(opset: i64, types: &'static [TypeVar]) -> OpDef {
    OpDef {
        spec: OpSpec {
            name: "InstanceNormalization",
            domain: "",
            opset,
            arity: fixed(3, 0),
            input_names: &["input", "scale", "B"],
            input_types: types,
            outputs: 1,
            attributes: &[("epsilon", AttrType::Float)],
        },
        oracle: |c| Ok(vec![instance_norm(c)?]),
        shape: |attrs, inputs, _| {
            instance_norm_params(attrs, &shapes_of(inputs))?;
            Ok(vec![rules::input(inputs, 0)?.clone()])
        },
        cost: per_input_element::<8>,
        check: CheckPolicy::ModelBound,
        terms: no_sum,
    }
}

/// Judged by its error model ([`instance_norm`]) with `c = 1`.
pub(super) const INSTANCE_NORMALIZATION: OpDef =
    instance_norm_def(22, &[T_FLOAT4, T_FLOAT4, T_FLOAT4]);
/// InstanceNormalization-6: no bfloat16.
pub(super) const INSTANCE_NORMALIZATION_6: OpDef = older(
    INSTANCE_NORMALIZATION,
    6,
    &[T_F16_F32_F64, T_F16_F32_F64, T_F16_F32_F64],
);

/// InstanceNormalization (6, 22): per instance n and channel c, `y =
/// scale_c (x - mean) / sqrt(var + epsilon) + B_c`, the mean and the
/// population variance over the spatial dimensions D1 ... Dk. Error model:
/// [`standardize_rows`] and [`affine`], `c = 1`.
fn instance_norm(call: &Call) -> Result<Output> {
    let x = call.input(0)?;
    let shapes: Vec<Option<&[usize]>> = (0..3).map(|i| call.opt(i).map(|v| v.shape())).collect();
    let eps = instance_norm_params(call.attrs, &shapes).map_err(|m| call.err(m))?;
    let shape = x.shape().to_vec();
    let (c, spatial) = (shape[1], shape[2..].iter().product::<usize>());
    let mut data: Vec<f64> = x.data.iter().copied().collect();
    let err = standardize_rows(&mut data, spatial, eps);
    let (scale, bias) = (flat(call, 1)?, flat(call, 2)?);
    affine(call, x.dtype, &shape, data, err, (&scale, &bias), |k| {
        (k / spatial) % c
    })
}

// ------------------------------------------------------- GroupNormalization

/// GroupNormalization's validity: X of rank 2 or more (N x C x D1 ...),
/// `num_groups` given, positive and dividing C, scale and bias 1-D of
/// length `num_groups` (18) or C (21), epsilon finite and >= 0, and (21)
/// `stash_type` one of the float types the function body accepts (1
/// float, 10 float16, 11 double, 16 bfloat16). Returns epsilon and the
/// group count.
fn group_norm_params(
    attrs: &Attributes,
    shapes: &[Option<&[usize]>],
    opset: i64,
) -> std::result::Result<(f64, usize), String> {
    let x = required(shapes, 0, "X")?;
    if x.len() < 2 {
        return Err(format!(
            "X must have rank 2 or more (N x C x D1 ...), got shape {x:?}"
        ));
    }
    if !attrs.contains_key("num_groups") {
        return Err("attribute num_groups is required".into());
    }
    let g = attrs.int("num_groups", 0)?;
    let c = x[1];
    let groups = usize::try_from(g)
        .ok()
        .filter(|&g| g > 0 && c % g == 0)
        .ok_or_else(|| {
            format!("num_groups must be a positive divisor of the channel count {c}, got {g}")
        })?;
    let (len, what) = if opset >= 21 {
        (c, "the channels of X")
    } else {
        (groups, "num_groups")
    };
    for (i, name) in [(1, "scale"), (2, "bias")] {
        let s = required(shapes, i, name)?;
        if s != [len] {
            return Err(format!(
                "{name} must have shape [{len}] ({what}, X is {x:?}), got {s:?}"
            ));
        }
    }
    if opset >= 21 {
        let stash = attrs.int("stash_type", 1)?;
        if !matches!(stash, 1 | 10 | 11 | 16) {
            return Err(format!(
                "stash_type must be a float type (1 float, 10 float16, 11 double, 16 bfloat16), got {stash}"
            ));
        }
    }
    Ok((epsilon_of(attrs)?, groups))
}

/// A GroupNormalization version: 18 scales and shifts per group, 21 per
/// channel and adds `stash_type` (the precision of the statistics stage).
const fn group_norm_def(opset: i64) -> OpDef {
    OpDef {
        spec: OpSpec {
            name: "GroupNormalization",
            domain: "",
            opset,
            arity: fixed(3, 0),
            input_names: &["X", "scale", "bias"],
            input_types: &[T_FLOAT4, T_FLOAT4, T_FLOAT4],
            outputs: 1,
            attributes: if opset >= 21 {
                &[
                    ("epsilon", AttrType::Float),
                    ("num_groups", AttrType::Int),
                    ("stash_type", AttrType::Int),
                ]
            } else {
                &[("epsilon", AttrType::Float), ("num_groups", AttrType::Int)]
            },
        },
        oracle: if opset >= 21 {
            |c| Ok(vec![group_norm(c, 21)?])
        } else {
            |c| Ok(vec![group_norm(c, 18)?])
        },
        shape: if opset >= 21 {
            |attrs, inputs, _| {
                group_norm_params(attrs, &shapes_of(inputs), 21)?;
                Ok(vec![rules::input(inputs, 0)?.clone()])
            }
        } else {
            |attrs, inputs, _| {
                group_norm_params(attrs, &shapes_of(inputs), 18)?;
                Ok(vec![rules::input(inputs, 0)?.clone()])
            }
        },
        cost: per_input_element::<8>,
        check: CheckPolicy::ModelBound,
        terms: no_sum,
    }
}

/// Judged by its error model ([`group_norm`]) with `c = 1`.
pub(super) const GROUP_NORMALIZATION: OpDef = group_norm_def(21);
/// GroupNormalization-18: scale and bias per group.
pub(super) const GROUP_NORMALIZATION_18: OpDef = group_norm_def(18);

/// GroupNormalization (18, 21): per instance n and group g of C /
/// num_groups consecutive channels, `(x - mean) / sqrt(var + epsilon)`
/// with the mean and the population variance over the group's channels and
/// spatial dimensions, then `y = scale * x̂ + bias`, where scale and bias
/// are indexed by the group (18) or by the channel (21). stash_type (21)
/// only selects the precision of the statistics stage in an
/// implementation; the oracle is f64, and a backend that computes that
/// stage below its declared compute precision (stash_type 10 or 16 with
/// float32 io) must declare it. Error model: [`standardize_rows`] and
/// [`affine`], `c = 1`.
fn group_norm(call: &Call, opset: i64) -> Result<Output> {
    let x = call.input(0)?;
    let shapes: Vec<Option<&[usize]>> = (0..3).map(|i| call.opt(i).map(|v| v.shape())).collect();
    let (eps, groups) = group_norm_params(call.attrs, &shapes, opset).map_err(|m| call.err(m))?;
    let shape = x.shape().to_vec();
    let (c, spatial) = (shape[1], shape[2..].iter().product::<usize>());
    let per_group = c / groups;
    let mut data: Vec<f64> = x.data.iter().copied().collect();
    let err = standardize_rows(&mut data, per_group * spatial, eps);
    let (scale, bias) = (flat(call, 1)?, flat(call, 2)?);
    let channel = move |k: usize| {
        let ch = (k / spatial.max(1)) % c.max(1);
        if opset >= 21 {
            ch
        } else {
            ch / per_group.max(1)
        }
    };
    affine(call, x.dtype, &shape, data, err, (&scale, &bias), channel)
}

// ------------------------------------------------ MeanVarianceNormalization

/// MeanVarianceNormalization's reduced axes (attribute `axes`, default [0,
/// 2, 3]; an empty list reduces every axis, as the function body's
/// ReduceMean does), resolved against X's rank and free of repeats.
fn mvn_axes(attrs: &Attributes, shape: &[usize]) -> std::result::Result<Vec<usize>, String> {
    let given = attrs.ints("axes")?.map(<[i64]>::to_vec);
    let axes = given.unwrap_or_else(|| vec![0, 2, 3]);
    if axes.is_empty() {
        return Ok((0..shape.len()).collect());
    }
    let mut out = Vec::with_capacity(axes.len());
    for &a in &axes {
        let r = rules::resolve_axis("axes element", a, shape.len())?;
        if out.contains(&r) {
            return Err(format!("axes {axes:?} name axis {r} twice"));
        }
        out.push(r);
    }
    out.sort_unstable();
    Ok(out)
}

/// A MeanVarianceNormalization version (9: float16, float, double; 13 adds
/// bfloat16).
const fn mvn_def(opset: i64, types: &'static [TypeVar]) -> OpDef {
    OpDef {
        spec: OpSpec {
            name: "MeanVarianceNormalization",
            domain: "",
            opset,
            arity: fixed(1, 0),
            input_names: &["X"],
            input_types: types,
            outputs: 1,
            attributes: &[("axes", AttrType::Ints)],
        },
        oracle: |c| Ok(vec![mvn(c)?]),
        shape: |attrs, inputs, _| {
            let x = rules::input(inputs, 0)?;
            mvn_axes(attrs, &x.1)?;
            Ok(vec![x.clone()])
        },
        cost: per_input_element::<8>,
        check: CheckPolicy::ModelBound,
        terms: no_sum,
    }
}

/// Judged by its error model ([`mvn`]) with `c = 1`.
pub(super) const MEAN_VARIANCE_NORMALIZATION: OpDef = mvn_def(13, &[T_FLOAT4]);
/// MeanVarianceNormalization-9: no bfloat16.
pub(super) const MEAN_VARIANCE_NORMALIZATION_9: OpDef =
    older(MEAN_VARIANCE_NORMALIZATION, 9, &[T_F16_F32_F64]);

/// The constant the function body adds to the standard deviation: the
/// float 1e-9.
const MVN_EPSILON: f64 = 1e-9_f32 as f64;

/// MeanVarianceNormalization (9, 13): `Y = (X - E[X]) / (sqrt(E[X^2] -
/// E[X]^2) + 1e-9)`, the expectations over `axes`, exactly as the function
/// body writes it (ReduceMean, Pow, Sub, Sqrt, Add of the float constant
/// 1e-9, Div): the epsilon is outside the root. The oracle takes the
/// variance in two passes (the exact value of the body's expression).
///
/// Error model, per group with [`Moments`], `s = sqrt(var)` and `sigma =
/// s + 1e-9`: the root is off by `d_var / (2 s) + s` absolute, so sigma by
/// `(s / sigma)(d_var / (2 var) + 1) + 1` relative, and `y_i = d_i /
/// sigma` by that plus one for the division, times `|y_i|`, plus
/// `(|d_i| + d_mean) / sigma` for the deviation. A group with zero
/// variance has `y = 0`, and the model keeps only the deviation term there.
fn mvn(call: &Call) -> Result<Output> {
    let x = call.input(0)?;
    let shape = x.shape().to_vec();
    let axes = mvn_axes(call.attrs, &shape).map_err(|m| call.err(m))?;
    // Kept axes first, reduced axes last: each group is then one
    // contiguous row of the permuted copy.
    let mut perm: Vec<usize> = (0..shape.len()).filter(|a| !axes.contains(a)).collect();
    perm.extend(&axes);
    let n: usize = axes.iter().map(|&a| shape[a]).product();
    let permuted = x.data.view().permuted_axes(IxDyn(&perm));
    let mut data: Vec<f64> = permuted.iter().copied().collect();
    let mut err = vec![0.0; data.len()];
    if n > 0 {
        for (row, e) in data.chunks_exact_mut(n).zip(err.chunks_exact_mut(n)) {
            let m = Moments::of(row);
            let s = m.var.sqrt();
            let sigma = s + MVN_EPSILON;
            let relative = if m.var > 0.0 {
                (s / sigma) * (m.d_var / (2.0 * m.var) + 1.0) + 2.0
            } else {
                0.0
            };
            for (v, e) in row.iter_mut().zip(e.iter_mut()) {
                let d = *v - m.mean;
                *v = d / sigma;
                *e = v.abs() * relative + (d.abs() + m.d_mean) / sigma;
            }
        }
    }
    let permuted_shape: Vec<usize> = perm.iter().map(|&a| shape[a]).collect();
    let mut inverse = vec![0; perm.len()];
    for (k, &a) in perm.iter().enumerate() {
        inverse[a] = k;
    }
    let back = |v: Vec<f64>| -> Result<ArrayD<f64>> {
        let a = ArrayD::from_shape_vec(IxDyn(&permuted_shape), v)
            .map_err(|e| call.err(format!("X: {e}")))?;
        Ok(a.permuted_axes(IxDyn(&inverse))
            .as_standard_layout()
            .to_owned())
    };
    Ok(Output::bounded(x.dtype, back(data)?, back(err)?, None))
}

// ---------------------------------------------------------- LpNormalization

/// LpNormalization's axis and p: `axis` (default -1) within X's rank, `p`
/// (default 2) 1 or 2, the only orders the spec supports.
fn lp_params(attrs: &Attributes, shape: &[usize]) -> std::result::Result<(usize, i64), String> {
    let axis = rules::norm_axis(attrs.int("axis", -1)?, shape.len())?;
    let p = attrs.int("p", 2)?;
    if !matches!(p, 1 | 2) {
        return Err(format!(
            "p must be 1 or 2 (the orders the spec supports), got {p}"
        ));
    }
    Ok((axis, p))
}

/// An LpNormalization version (1: float16, float, double; 22 adds
/// bfloat16).
const fn lp_norm_def(opset: i64, types: &'static [TypeVar]) -> OpDef {
    OpDef {
        spec: OpSpec {
            name: "LpNormalization",
            domain: "",
            opset,
            arity: fixed(1, 0),
            input_names: &["input"],
            input_types: types,
            outputs: 1,
            attributes: &[("axis", AttrType::Int), ("p", AttrType::Int)],
        },
        oracle: |c| Ok(vec![lp_norm(c)?]),
        shape: |attrs, inputs, _| {
            let x = rules::input(inputs, 0)?;
            lp_params(attrs, &x.1)?;
            Ok(vec![x.clone()])
        },
        cost: per_input_element::<3>,
        check: CheckPolicy::ModelBound,
        terms: no_sum,
    }
}

/// Judged by its error model ([`lp_norm`]) with `c = 1`.
pub(super) const LP_NORMALIZATION: OpDef = lp_norm_def(22, &[T_FLOAT4]);
/// LpNormalization-1: no bfloat16.
pub(super) const LP_NORMALIZATION_1: OpDef = older(LP_NORMALIZATION, 1, &[T_F16_F32_F64]);

/// LpNormalization (1, 22): `y = x / ||x||_p` along `axis`, with `||x||_1
/// = sum |x|` and `||x||_2 = sqrt(sum x^2)`; a lane whose norm is zero
/// gives zeros (the spec defines it so, rather than 0/0).
///
/// Error model, per lane of n: the sum carries `g(n)` of its value
/// ([`sum_growth`]; every term is non-negative, so the magnitude is the
/// sum), the root halves it and adds one, the division one more: `M_i =
/// |y_i| (g(n) / 2 + 3)` for p = 2 and `|y_i| (g(n) + 2)` for p = 1.
fn lp_norm(call: &Call) -> Result<Output> {
    let x = call.input(0)?;
    let (axis, p) = lp_params(call.attrs, x.shape()).map_err(|m| call.err(m))?;
    let n = x.shape()[axis];
    let mut y = x.data.clone();
    for mut lane in y.lanes_mut(Axis(axis)) {
        let norm = if p == 1 {
            lane.iter().map(|v| v.abs()).sum::<f64>()
        } else {
            lane.iter().map(|v| v * v).sum::<f64>().sqrt()
        };
        if norm == 0.0 {
            lane.fill(0.0);
        } else {
            lane.mapv_inplace(|v| v / norm);
        }
    }
    let g = sum_growth(n);
    let relative = if p == 1 { g + 2.0 } else { g / 2.0 + 3.0 };
    let model = y.mapv(|v| v.abs() * relative);
    Ok(Output::bounded(x.dtype, y, model, None))
}

// ---------------------------------------------------------------------- LRN

/// LRN's parameters, validated.
struct Lrn {
    alpha: f64,
    beta: f64,
    bias: f64,
    size: usize,
}

/// LRN's validity: X of rank 3 or more (N x C x D1 ...; ONNX Runtime and
/// ONNX's reference evaluator take the image case), `size` given and >= 1
/// (it divides alpha), alpha, beta and bias finite.
fn lrn_params(attrs: &Attributes, shape: &[usize]) -> std::result::Result<Lrn, String> {
    if shape.len() < 3 {
        return Err(format!(
            "X must have rank 3 or more (N x C x D1 ...), got shape {shape:?}"
        ));
    }
    if !attrs.contains_key("size") {
        return Err("attribute size is required".into());
    }
    let size = attrs.int("size", 0)?;
    let size = usize::try_from(size)
        .ok()
        .filter(|&s| s >= 1)
        .ok_or_else(|| format!("size must be >= 1, got {size}"))?;
    let p = Lrn {
        alpha: attrs.float("alpha", 1e-4)?,
        beta: attrs.float("beta", 0.75)?,
        bias: attrs.float("bias", 1.0)?,
        size,
    };
    for (name, v) in [("alpha", p.alpha), ("beta", p.beta), ("bias", p.bias)] {
        if !v.is_finite() {
            return Err(format!("{name} must be finite, got {v}"));
        }
    }
    Ok(p)
}

/// Cost of LRN: a window of `size` squares summed per element, then the
/// power and the division (counted as 4).
fn lrn_cost(attrs: &Attributes, inputs: &[Option<&[usize]>]) -> Work {
    let size = rules::int_attr(attrs, "size", 1).max(1) as f64;
    Work {
        flops: Some((2.0 * size + 4.0) * rules::numel(rules::shape_of(inputs, 0))),
        multiply_adds: 0.0,
        scratch: 0.0,
    }
}

/// An LRN version (1: float16, float, double; 13 adds bfloat16).
const fn lrn_def(opset: i64, types: &'static [TypeVar]) -> OpDef {
    OpDef {
        spec: OpSpec {
            name: "LRN",
            domain: "",
            opset,
            arity: fixed(1, 0),
            input_names: &["X"],
            input_types: types,
            outputs: 1,
            attributes: &[
                ("alpha", AttrType::Float),
                ("beta", AttrType::Float),
                ("bias", AttrType::Float),
                ("size", AttrType::Int),
            ],
        },
        oracle: |c| Ok(vec![lrn(c)?]),
        shape: |attrs, inputs, _| {
            let x = rules::input(inputs, 0)?;
            lrn_params(attrs, &x.1)?;
            Ok(vec![x.clone()])
        },
        cost: lrn_cost,
        check: CheckPolicy::ModelBound,
        terms: no_sum,
    }
}

/// Judged by its error model ([`lrn`]) with `c = 1`.
pub(super) const LRN: OpDef = lrn_def(13, &[T_FLOAT4]);
/// LRN-1: no bfloat16.
pub(super) const LRN_1: OpDef = older(LRN, 1, &[T_F16_F32_F64]);

/// The ulps a correct `pow` may be off by: OpenCL CTS's single-precision
/// budget.
const POW_ULPS: f64 = 16.0;

/// LRN (1, 13): `y = x / (bias + alpha / size * square_sum)^beta`, where
/// `square_sum` sums `x[n, i, ...]^2` over the channels `max(0, c -
/// floor((size - 1) / 2)) <= i <= min(C - 1, c + ceil((size - 1) / 2))`.
///
/// Error model, with `k` the window's length, `q = alpha / size *
/// square_sum` and `b = bias + q`: the sum carries `g(k)` of its value and
/// `alpha / size`, the product and the sum round once each, so `b` is off
/// by `E_b = q (g(k) + 2) + |b|`; the power multiplies its relative error
/// by `|beta|` and adds its own (`POW_ULPS`, plus `|beta ln b|` for the
/// `exp(beta log b)` form), and the division one more: `M = |y| (|beta| E_b
/// / |b| + |beta ln b| + POW_ULPS + 2)`. A zero or negative base (bias <=
/// 0) gives the IEEE result of the formula with an unbounded model.
fn lrn(call: &Call) -> Result<Output> {
    let x = call.input(0)?;
    let shape = x.shape().to_vec();
    let p = lrn_params(call.attrs, &shape).map_err(|m| call.err(m))?;
    let (c, inner) = (shape[1], shape[2..].iter().product::<usize>());
    let below = (p.size - 1) / 2;
    let above = p.size / 2; // ceil((size - 1) / 2)
    let xs: Vec<f64> = x.data.iter().copied().collect();
    let mut y = vec![0.0; xs.len()];
    let mut model = vec![0.0; xs.len()];
    for (k, (y, m)) in y.iter_mut().zip(model.iter_mut()).enumerate() {
        let within = k % (c * inner);
        let (ch, at) = (within / inner, k - within + within % inner);
        let lo = ch.saturating_sub(below);
        let hi = (ch + above).min(c - 1);
        let sq: f64 = (lo..=hi).map(|i| xs[at + i * inner].powi(2)).sum();
        let q = p.alpha / p.size as f64 * sq;
        let b = p.bias + q;
        *y = xs[k] / b.powf(p.beta);
        let e_b = q.abs() * (sum_growth(hi + 1 - lo) + 2.0) + b.abs();
        let r = p.beta.abs() * e_b / b.abs() + (p.beta * b.abs().ln()).abs() + POW_ULPS + 2.0;
        *m = if r.is_finite() {
            y.abs() * r
        } else {
            f64::INFINITY
        };
    }
    let array =
        |v| ArrayD::from_shape_vec(IxDyn(&shape), v).map_err(|e| call.err(format!("X: {e}")));
    Ok(Output::bounded(x.dtype, array(y)?, array(model)?, None))
}

// ------------------------------------------------------------------ Dropout

/// Dropout's inputs at 12 and later.
const DROPOUT_INPUTS: &[&str] = &["data", "ratio", "training_mode"];

/// Dropout's validity, inference mode only: the ratio (the attribute at
/// 10, the optional scalar input at 12+, default 0.5) in [0, 1) as the
/// spec says, and training_mode (12+, an optional bool scalar) false.
/// Training draws a random mask, which no oracle can reproduce; xpucert
/// checks the inference behaviour: the output a copy of the data and the
/// mask all true. Training with ratio 0 is accepted: the spec makes it that
/// same copy ("if it was set to 0, the output would be a simple copy"), and
/// ONNX's node tests check it. `values(i)` reads input i.
fn dropout_check(
    attrs: &Attributes,
    opset: i64,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<(), String> {
    rules::input(inputs, 0)?;
    let ratio = if opset >= 12 {
        match inputs.get(1).and_then(Option::as_ref) {
            None => 0.5,
            Some((_, s)) if !s.is_empty() => {
                return Err(format!("ratio must be a scalar, got shape {s:?}"));
            }
            Some(_) => values(1)[0],
        }
    } else {
        attrs.float("ratio", 0.5)?
    };
    if !(0.0..1.0).contains(&ratio) {
        return Err(format!("ratio must be in [0, 1), got {ratio}"));
    }
    if opset >= 12
        && let Some((_, s)) = inputs.get(2).and_then(Option::as_ref)
    {
        if !s.is_empty() {
            return Err(format!("training_mode must be a scalar, got shape {s:?}"));
        }
        if values(2)[0] != 0.0 && ratio != 0.0 {
            return Err(format!(
                "training_mode=true with ratio {ratio} (training: a random mask) is not \
                 supported: xpucert checks Dropout in inference mode (training_mode absent or \
                 false, or ratio 0, where training drops nothing)"
            ));
        }
    }
    Ok(())
}

/// The two outputs: data's dtype and shape, and a bool mask of that shape.
fn dropout_shapes(
    attrs: &Attributes,
    opset: i64,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    dropout_check(attrs, opset, inputs, values)?;
    let (dtype, shape) = rules::input(inputs, 0)?;
    Ok(vec![(*dtype, shape.clone()), (DType::Bool, shape.clone())])
}

/// Dropout (10, 12, 13, 22) in inference mode: `output` is `data`
/// unchanged, `mask` (the optional second output) all true. Exact.
fn dropout(call: &Call, opset: i64) -> Result<Vec<Output>> {
    let x = call.input(0)?;
    dropout_check(call.attrs, opset, &call.typed_shapes(), &mut |i| {
        call.values(i)
    })
    .map_err(|m| call.err(m))?;
    let mask = ArrayD::from_elem(x.data.raw_dim(), 1.0);
    Ok(vec![
        Output::plain(x.dtype, x.data.clone()),
        Output::plain(DType::Bool, mask),
    ])
}

/// Judged exactly: a copy.
pub(super) const DROPOUT: OpDef = OpDef {
    spec: OpSpec {
        name: "Dropout",
        domain: "",
        opset: 22,
        arity: fixed(1, 2),
        input_names: DROPOUT_INPUTS,
        input_types: &[T_FLOAT_ALL, T1_FLOAT_ALL, T2_BOOL],
        outputs: 2,
        attributes: &[("seed", AttrType::Int)],
    },
    oracle: |c| dropout(c, 12),
    shape: |attrs, inputs, values| dropout_shapes(attrs, 12, inputs, values),
    cost: no_flops,
    check: CheckPolicy::Exact,
    terms: no_sum,
};
/// Dropout-13: data also bfloat16, ratio float16/float/double.
pub(super) const DROPOUT_13: OpDef = older(DROPOUT, 13, &[T_FLOAT4, T1_F16_F32_F64, T2_BOOL]);
/// Dropout-12: ratio and training_mode become inputs, `seed` an attribute.
pub(super) const DROPOUT_12: OpDef = older(DROPOUT, 12, &[T_F16_F32_F64, T1_F16_F32_F64, T2_BOOL]);
/// Dropout-10: one input, `ratio` an attribute.
pub(super) const DROPOUT_10: OpDef = OpDef {
    spec: OpSpec {
        name: "Dropout",
        domain: "",
        opset: 10,
        arity: fixed(1, 0),
        input_names: &["data"],
        input_types: &[T_F16_F32_F64],
        outputs: 2,
        attributes: &[("ratio", AttrType::Float)],
    },
    oracle: |c| dropout(c, 10),
    shape: |attrs, inputs, values| dropout_shapes(attrs, 10, inputs, values),
    ..DROPOUT
};

// ----------------------------------------------------------------- CastLike

/// CastLike (15, 19, 21, 23, 24, 25): `input` converted to `target_type`'s
/// dtype by Cast's rules (`elementwise::convert`: round to nearest even,
/// truncation toward zero to integers, wrap between integers, fp8 by
/// `saturate`, 19+, E8M0 by `round_mode`, 24+); target_type's values are
/// not read. Exact, as Cast.
fn cast_like(call: &Call) -> Result<Output> {
    let x = call.input(0)?;
    let to = call.input(1)?.dtype;
    let saturate = rules::flag(call.attrs, "saturate", true).map_err(|m| call.err(m))?;
    let rounding = elementwise::e8m0_rounding(call.attrs).map_err(|m| call.err(m))?;
    Ok(elementwise::convert(x, to, saturate, rounding))
}

/// CastLike's output: target_type's dtype, input's shape; `saturate` 0 or
/// 1, `round_mode` one of Cast's.
fn cast_like_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    _: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    rules::flag(attrs, "saturate", true)?;
    elementwise::e8m0_rounding(attrs)?;
    let (_, shape) = rules::input(inputs, 0)?;
    let (to, _) = rules::input(inputs, 1)?;
    Ok(vec![(*to, shape.clone())])
}

/// A conversion is one rounding, which the oracle does too: exact.
/// CastLike-25: every xpucert dtype (int2 and uint2 added).
pub(super) const CAST_LIKE: OpDef = OpDef {
    spec: OpSpec {
        name: "CastLike",
        domain: "",
        opset: 25,
        arity: fixed(2, 0),
        input_names: &["input", "target_type"],
        input_types: cast_like_types!(CONVERTIBLE_25),
        outputs: 1,
        attributes: &[
            ("saturate", AttrType::Int),
            ("round_mode", AttrType::String),
        ],
    },
    oracle: |c| Ok(vec![cast_like(c)?]),
    shape: cast_like_shape,
    cost: no_flops,
    check: CheckPolicy::Exact,
    terms: no_sum,
};
/// CastLike-24: up to E8M0, `round_mode` for E8M0 targets.
pub(super) const CAST_LIKE_24: OpDef = OpDef {
    spec: OpSpec {
        opset: 24,
        input_types: cast_like_types!(CONVERTIBLE_24),
        ..CAST_LIKE.spec
    },
    ..CAST_LIKE
};
/// CastLike-23: up to FLOAT4E2M1, no `round_mode`.
pub(super) const CAST_LIKE_23: OpDef = OpDef {
    spec: OpSpec {
        opset: 23,
        input_types: cast_like_types!(CONVERTIBLE_23),
        attributes: &[("saturate", AttrType::Int)],
        ..CAST_LIKE.spec
    },
    ..CAST_LIKE
};
/// CastLike-21: up to int4/uint4.
pub(super) const CAST_LIKE_21: OpDef = OpDef {
    spec: OpSpec {
        opset: 21,
        input_types: cast_like_types!(CONVERTIBLE_21),
        ..CAST_LIKE_23.spec
    },
    ..CAST_LIKE
};
/// CastLike-19: fp8 (fnuz included) and `saturate`.
pub(super) const CAST_LIKE_19: OpDef = OpDef {
    spec: OpSpec {
        opset: 19,
        input_types: cast_like_types!(CONVERTIBLE_19),
        ..CAST_LIKE_23.spec
    },
    ..CAST_LIKE
};
/// CastLike-15: no fp8, no `saturate`.
pub(super) const CAST_LIKE_15: OpDef = OpDef {
    spec: OpSpec {
        opset: 15,
        input_types: &[T1_NOT_FP8, T2_NOT_FP8],
        attributes: &[],
        ..CAST_LIKE.spec
    },
    ..CAST_LIKE
};

// ------------------------------------------------------------- generated cases
// The case spaces of this family (machinery and conventions: ops/cases.rs).

use super::cases::{self, CaseSpace, Factor, Fill, GenCase, GenInput, Pick, Storage};

/// The spatial extent of a `spatial` level: one value, a prime, or 1024
/// (a long group, where the summation bound grows).
fn spatial_of(level: &str) -> usize {
    match level {
        "n1" => 1,
        "prime" => 7,
        _ => 1024,
    }
}

/// `[N, C, spatial...]` of `rank` with `spatial` values per channel (the
/// 1024 of rank 4 as 32 x 32).
fn nc_shape(rank: usize, n: usize, c: usize, spatial: usize) -> Option<Vec<usize>> {
    match rank {
        2 if spatial == 1 => Some(vec![n, c]),
        2 => None,
        3 => Some(vec![n, c, spatial]),
        _ if spatial == 1024 => Some(vec![1, c, 32, 32]),
        _ => Some(vec![n, c, spatial, 2]),
    }
}

/// X's values: centred (`normal`) or far from zero relative to their
/// spread (`shifted`, mean 20: the one-pass variance cancels, which the
/// model allows and a wrong formula does not survive).
fn x_fill(p: &Pick) -> Fill {
    if p.is("values", "shifted") {
        Fill::Uniform(18.0, 22.0)
    } else {
        Fill::Normal(2.0)
    }
}

/// InstanceNormalization: rank 3 or 4, 1, 3 or 16 channels, a spatial
/// extent of 1 (the variance 0: y = B), prime or 1024, centred or shifted
/// values, default or large epsilon, every layout of X.
pub(super) fn instance_norm_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::FLOATS),
            Factor::new("rank", &["r3", "r4"]),
            Factor::new("channels", &["c1", "c3", "c16"]),
            Factor::new("spatial", &["n1", "prime", "w1024"]),
            Factor::new("values", &["centred", "shifted"]),
            Factor::new("epsilon", &["epsdefault", "epsbig"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let c = match p.get("channels") {
                "c1" => 1,
                "c3" => 3,
                _ => 16,
            };
            let shape = nc_shape(
                cases::rank_of(p.get("rank")),
                2,
                c,
                spatial_of(p.get("spatial")),
            )?;
            let dt = p.dtype();
            let inputs = vec![
                GenInput::new(dt, shape)
                    .fill(x_fill(p))
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                GenInput::new(dt, vec![c]).fill(Fill::Normal(1.0)).some(),
                GenInput::new(dt, vec![c]).some(),
            ];
            let mut case = GenCase::new(inputs);
            if p.is("epsilon", "epsbig") {
                case = case.float("epsilon", 0.01);
            }
            Some(case)
        }),
    })
}

/// GroupNormalization-21: rank 2 to 4, 12 channels in 1 group (a layer
/// norm over C and space), 3 groups of 4 or 12 groups of 1 (an instance
/// norm), a spatial extent of 1, prime or 1024, centred or shifted values,
/// scale and bias per channel (distinct, so that reading them per group is
/// seen), default or large epsilon, every layout of X.
pub(super) fn group_norm_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::FLOATS),
            Factor::new("rank", &["r2", "r3", "r4"]),
            Factor::new("groups", &["g1", "g3", "g12"]),
            Factor::new("spatial", &["n1", "prime", "w1024"]),
            Factor::new("values", &["centred", "shifted"]),
            Factor::new("epsilon", &["epsdefault", "epsbig"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let c = 12;
            let groups: i64 = match p.get("groups") {
                "g1" => 1,
                "g3" => 3,
                _ => 12,
            };
            let shape = nc_shape(
                cases::rank_of(p.get("rank")),
                2,
                c,
                spatial_of(p.get("spatial")),
            )?;
            let dt = p.dtype();
            let inputs = vec![
                GenInput::new(dt, shape)
                    .fill(x_fill(p))
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                GenInput::new(dt, vec![c]).fill(Fill::Normal(1.0)).some(),
                GenInput::new(dt, vec![c]).some(),
            ];
            let mut case = GenCase::new(inputs).int("num_groups", groups);
            if p.is("epsilon", "epsbig") {
                case = case.float("epsilon", 0.01);
            }
            Some(case)
        }),
    })
}

/// MeanVarianceNormalization: rank 2 to 4, the default axes [0, 2, 3]
/// (rank 4), the last axis, the middle one, every axis (`[]`) or the first
/// two; a reduced extent that is prime or long; centred or shifted values;
/// every layout.
pub(super) fn mvn_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::FLOATS),
            Factor::new("rank", &["r2", "r3", "r4"]),
            Factor::new(
                "axes",
                &["axesdefault", "axeslast", "axesmid", "axesall", "axeslead"],
            ),
            Factor::new("size", &["prime", "w256"]),
            Factor::new("values", &["centred", "shifted"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let size = if p.is("size", "prime") { 7 } else { 256 };
            let axes: Option<Vec<i64>> = match p.get("axes") {
                "axesdefault" if rank == 4 => None,
                "axesdefault" => return None,
                "axeslast" => Some(vec![-1]),
                "axesmid" if rank >= 3 => Some(vec![1]),
                "axesmid" => return None,
                "axesall" => Some(vec![]),
                _ => Some(vec![0, 1]),
            };
            // The size class is the last dim; the others stay small so
            // that a reduction over every axis is not huge.
            let shape = cases::dims(rank, size, false);
            let mut case = GenCase::new(vec![
                GenInput::new(p.dtype(), shape)
                    .fill(x_fill(p))
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
            ]);
            if let Some(axes) = axes {
                case = case.ints("axes", axes);
            }
            Some(case)
        }),
    })
}

/// LpNormalization: ranks 1-4, the axis first / last / middle / negative,
/// p 1 and 2, a lane of 1, prime or 1024 values, equal or distinct dims,
/// every layout.
pub(super) fn lp_norm_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::FLOATS),
            Factor::new("rank", &["r1", "r2", "r3", "r4"]),
            Factor::new("axis", &["first", "last", "mid", "neg", "neglast"]),
            Factor::new("p", &["p1", "p2"]),
            Factor::new("size", &["n1", "prime", "w1024"]),
            Factor::new("dims", &["eqdims", "distinct"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let axis = cases::axis_of(p.get("axis"), rank)?;
            let size = spatial_of(p.get("size"));
            let eq = p.is("dims", "eqdims");
            if eq && size > 64 {
                return None;
            }
            // The size class is the normalised axis's length.
            let mut shape = cases::dims(rank, size, eq);
            let a = cases::resolve(axis, rank);
            shape.swap(a, rank - 1);
            let case = GenCase::new(vec![
                GenInput::new(p.dtype(), shape)
                    .fill(Fill::Normal(2.0))
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
            ])
            .int("axis", axis)
            .int("p", if p.is("p", "p1") { 1 } else { 2 });
            Some(case)
        }),
    })
}

/// LRN: rank 3 or 4, 1, 5 or 16 channels, windows of 1, 2 (even: one more
/// channel above than below), 3 and 5, the default alpha / beta / bias
/// (whose effect is a few 1e-4) or large ones (alpha 1, beta 0.75, bias 2:
/// a wrong window moves the result by percents), every layout.
pub(super) fn lrn_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::FLOATS),
            Factor::new("rank", &["r3", "r4"]),
            Factor::new("channels", &["c1", "c5", "c16"]),
            Factor::new("size", &["s1", "s2", "s3", "s5"]),
            Factor::new("params", &["paramsdefault", "paramsbig"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let c = match p.get("channels") {
                "c1" => 1,
                "c5" => 5,
                _ => 16,
            };
            let size: i64 = p.get("size")[1..].parse().expect("`s<k>` levels");
            let shape = if cases::rank_of(p.get("rank")) == 3 {
                vec![2, c, 7]
            } else {
                vec![2, c, 5, 3]
            };
            let mut case = GenCase::new(vec![
                GenInput::new(p.dtype(), shape)
                    .fill(Fill::Normal(2.0))
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
            ])
            .int("size", size);
            if p.is("params", "paramsbig") {
                case = case
                    .float("alpha", 1.0)
                    .float("beta", 0.75)
                    .float("bias", 2.0);
            }
            Some(case)
        }),
    })
}

/// Dropout-22: every float dtype (fp8 included), ratio absent, 0 or 0.3,
/// training_mode absent or false, sizes 0 / 1 / prime / large, every
/// layout. Both outputs are requested.
pub(super) fn dropout_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(&[
                DType::F32,
                DType::F16,
                DType::BF16,
                DType::F64,
                DType::F8E4M3FN,
                DType::F8E5M2,
            ]),
            Factor::new("ratio", &["noratio", "ratio0", "ratio3"]),
            Factor::new("training", &["notraining", "trainingfalse"]),
            Factor::new("size", &["n0", "n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let size = elementwise::elementwise_size(p.get("size"));
            let dt = p.dtype();
            let mut inputs = vec![
                GenInput::new(dt, cases::dims(2, size, false))
                    .fill(Fill::Normal(4.0))
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
            ];
            let ratio = match p.get("ratio") {
                "noratio" => None,
                "ratio0" => Some(0.0),
                _ => Some(0.3),
            };
            let training = p.is("training", "trainingfalse");
            match ratio {
                Some(r) => inputs.push(GenInput::values(DType::F32, vec![r]).shaped(vec![]).some()),
                None if training => inputs.push(None),
                None => {}
            }
            if training {
                inputs.push(
                    GenInput::values(DType::Bool, vec![0.0])
                        .shaped(vec![])
                        .some(),
                );
            }
            Some(GenCase::new(inputs))
        }),
    })
}

/// CastLike-19: Cast's case space, the target given by a small tensor of
/// the target dtype instead of the `to` attribute.
pub(super) fn cast_like_cases() -> Option<CaseSpace> {
    Some(elementwise::conversion_space(|x, to| {
        // target_type's values are not read; 1 is a value of every dtype
        // (E8M0 has no 0).
        GenCase::new(vec![x.some(), GenInput::values(to, vec![1.0, 1.0]).some()])
    }))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::numerics::DType;
    use crate::ops::{AttrValue, Attributes};

    fn eps0() -> Attributes {
        attrs(&[("epsilon", AttrValue::Float(0.0))])
    }

    #[test]
    fn instance_norm_by_hand() {
        // Channel 0 [1, 3]: mean 2, var 1 -> x̂ [-1, 1]; scale 2, B 1: [-1, 3].
        // Channel 1 [0, 4]: mean 2, var 4 -> x̂ [-1, 1]; scale -3, B 0: [3, -3].
        let x = f(&[1, 2, 2], &[1.0, 3.0, 0.0, 4.0]);
        let inputs = [x, f(&[2], &[2.0, -3.0]), f(&[2], &[1.0, 0.0])];
        for opset in [6, 22] {
            let opt: Vec<_> = inputs.iter().cloned().map(Some).collect();
            let y = run_at("InstanceNormalization", opset, &eps0(), &opt).unwrap();
            close(&y[0].value.data, &[-1.0, 3.0, 3.0, -3.0], 1e-15);
        }
        // Default epsilon 1e-5: channel 0 is (x - 2) / sqrt(1 + 1e-5) * 2 + 1.
        let y = run1("InstanceNormalization", &Attributes::new(), &inputs);
        let (sd0, sd1) = ((1.0f64 + 1e-5).sqrt(), (4.0f64 + 1e-5).sqrt());
        let want = [1.0 - 2.0 / sd0, 1.0 + 2.0 / sd0, 6.0 / sd1, -6.0 / sd1];
        close(&y.data, &want, 1e-15);
    }

    #[test]
    fn instance_norm_errors() {
        let ok = |n: usize| Some(f(&[n], &vec![1.0; n]));
        let none = Attributes::new();
        fails(
            "InstanceNormalization",
            &none,
            &[Some(f(&[2, 3], &[0.0; 6])), ok(3), ok(3)],
            "rank 3 or more",
        );
        fails(
            "InstanceNormalization",
            &none,
            &[Some(f(&[1, 3, 2], &[0.0; 6])), ok(3), ok(2)],
            "B must have shape [3]",
        );
        fails(
            "InstanceNormalization",
            &attrs(&[("epsilon", AttrValue::Float(-1.0))]),
            &[Some(f(&[1, 3, 2], &[0.0; 6])), ok(3), ok(3)],
            "epsilon",
        );
        // bfloat16 arrives at 22.
        let b = |n: usize| Some(t(DType::BF16, &[n], &vec![1.0; n]));
        let bf = [
            Some(t(DType::BF16, &[1, 2, 2], &[0.0, 1.0, 2.0, 3.0])),
            b(2),
            b(2),
        ];
        assert!(run_at("InstanceNormalization", 22, &none, &bf).is_ok());
        let e = run_at("InstanceNormalization", 6, &none, &bf).unwrap_err();
        assert!(e.to_string().contains("bf16"), "{e}");
    }

    #[test]
    fn group_norm_by_hand() {
        // X [1, 4, 1], 2 groups: [1, 3] (mean 2, var 1) and [0, 4] (mean 2,
        // var 4): x̂ = [-1, 1, -1, 1].
        let x = Some(f(&[1, 4, 1], &[1.0, 3.0, 0.0, 4.0]));
        let mut a = eps0();
        a.insert("num_groups".into(), AttrValue::Int(2));
        // 21: per channel, scale [1, 2, 3, 4], bias [0, 0, 0, 1].
        let y = run_at(
            "GroupNormalization",
            21,
            &a,
            &[
                x.clone(),
                Some(f(&[4], &[1.0, 2.0, 3.0, 4.0])),
                Some(f(&[4], &[0.0, 0.0, 0.0, 1.0])),
            ],
        )
        .unwrap();
        close(&y[0].value.data, &[-1.0, 2.0, -3.0, 5.0], 1e-15);
        // 18: per group, scale [2, 3], bias [1, 0].
        let y = run_at(
            "GroupNormalization",
            18,
            &a,
            &[
                x.clone(),
                Some(f(&[2], &[2.0, 3.0])),
                Some(f(&[2], &[1.0, 0.0])),
            ],
        )
        .unwrap();
        close(&y[0].value.data, &[-1.0, 3.0, -3.0, 3.0], 1e-15);
        // One group: mean 2, var (1 + 1 + 4 + 4) / 4 = 2.5.
        a.insert("num_groups".into(), AttrValue::Int(1));
        let ones = Some(f(&[4], &[1.0; 4]));
        let zeros = Some(f(&[4], &[0.0; 4]));
        let y = run_at("GroupNormalization", 21, &a, &[x, ones, zeros]).unwrap();
        let sd = 2.5f64.sqrt();
        close(
            &y[0].value.data,
            &[-1.0 / sd, 1.0 / sd, -2.0 / sd, 2.0 / sd],
            1e-15,
        );
    }

    #[test]
    fn group_norm_errors() {
        let x = Some(f(&[1, 4, 1], &[0.0; 4]));
        let p = |n: usize| Some(f(&[n], &vec![1.0; n]));
        let groups = |g: i64| attrs(&[("num_groups", AttrValue::Int(g))]);
        fails(
            "GroupNormalization",
            &Attributes::new(),
            &[x.clone(), p(4), p(4)],
            "num_groups is required",
        );
        fails(
            "GroupNormalization",
            &groups(3),
            &[x.clone(), p(4), p(4)],
            "positive divisor",
        );
        fails(
            "GroupNormalization",
            &groups(0),
            &[x.clone(), p(4), p(4)],
            "positive divisor",
        );
        // 21 wants C parameters, 18 num_groups.
        fails(
            "GroupNormalization",
            &groups(2),
            &[x.clone(), p(2), p(2)],
            "scale must have shape [4]",
        );
        assert!(
            run_at(
                "GroupNormalization",
                18,
                &groups(2),
                &[x.clone(), p(2), p(2)]
            )
            .is_ok()
        );
        let e = run_at(
            "GroupNormalization",
            18,
            &groups(2),
            &[x.clone(), p(4), p(4)],
        )
        .unwrap_err();
        assert!(e.to_string().contains("scale must have shape [2]"), "{e}");
        let mut stash = groups(2);
        stash.insert("stash_type".into(), AttrValue::Int(7));
        fails(
            "GroupNormalization",
            &stash,
            &[x.clone(), p(4), p(4)],
            "stash_type",
        );
        let e = run_at("GroupNormalization", 18, &stash, &[x, p(2), p(2)]).unwrap_err();
        assert!(
            e.to_string().contains("unknown attribute stash_type"),
            "{e}"
        );
    }

    #[test]
    fn mvn_by_hand() {
        // X [1, 2, 1, 2], default axes [0, 2, 3]: per channel.
        // Channel 0 [1, 3]: mean 2, sd 1; channel 1 [0, 4]: mean 2, sd 2.
        // The epsilon 1e-9 is added to the standard deviation.
        let x = f(&[1, 2, 1, 2], &[1.0, 3.0, 0.0, 4.0]);
        let y = run1(
            "MeanVarianceNormalization",
            &Attributes::new(),
            std::slice::from_ref(&x),
        );
        let e = super::MVN_EPSILON;
        let want = [
            -1.0 / (1.0 + e),
            1.0 / (1.0 + e),
            -2.0 / (2.0 + e),
            2.0 / (2.0 + e),
        ];
        close(&y.data, &want, 1e-16);
        assert_ne!(y.data[[0, 0, 0, 0]], -1.0, "epsilon outside the root");
        // axes [1]: over the channels: columns [1, 0] and [3, 4].
        let a = attrs(&[("axes", AttrValue::Ints(vec![1]))]);
        let y = run1("MeanVarianceNormalization", &a, std::slice::from_ref(&x));
        close(&y.data, &[1.0, -1.0, -1.0, 1.0], 1e-8);
        // [] normalises over everything: mean 2, var 2.5.
        let a = attrs(&[("axes", AttrValue::Ints(vec![]))]);
        let y = run1("MeanVarianceNormalization", &a, std::slice::from_ref(&x));
        let sd = 2.5f64.sqrt() + e;
        close(&y.data, &[-1.0 / sd, 1.0 / sd, -2.0 / sd, 2.0 / sd], 1e-15);
        fails(
            "MeanVarianceNormalization",
            &Attributes::new(),
            &[Some(f(&[2, 2], &[0.0; 4]))],
            "out of range",
        );
        fails(
            "MeanVarianceNormalization",
            &attrs(&[("axes", AttrValue::Ints(vec![1, -3]))]),
            &[Some(x)],
            "twice",
        );
    }

    #[test]
    fn lp_norm_by_hand() {
        let x = f(&[3, 2], &[3.0, 4.0, 0.0, 0.0, -3.0, 4.0]);
        let y = run1(
            "LpNormalization",
            &Attributes::new(),
            std::slice::from_ref(&x),
        );
        close(&y.data, &[0.6, 0.8, 0.0, 0.0, -0.6, 0.8], 1e-15);
        let p1 = attrs(&[("p", AttrValue::Int(1))]);
        let y = run1("LpNormalization", &p1, std::slice::from_ref(&x));
        close(
            &y.data,
            &[3.0 / 7.0, 4.0 / 7.0, 0.0, 0.0, -3.0 / 7.0, 4.0 / 7.0],
            1e-15,
        );
        // axis 0: columns [3, 0, -3] (norm sqrt 18) and [4, 0, 4].
        let a0 = attrs(&[("axis", AttrValue::Int(0))]);
        let y = run1("LpNormalization", &a0, std::slice::from_ref(&x));
        let r = 18f64.sqrt();
        let q = 32f64.sqrt();
        close(
            &y.data,
            &[3.0 / r, 4.0 / q, 0.0, 0.0, -3.0 / r, 4.0 / q],
            1e-15,
        );
        fails(
            "LpNormalization",
            &attrs(&[("p", AttrValue::Int(3))]),
            &[Some(x.clone())],
            "p must be 1 or 2",
        );
        fails(
            "LpNormalization",
            &attrs(&[("axis", AttrValue::Int(2))]),
            &[Some(x)],
            "out of range",
        );
    }

    #[test]
    fn lrn_by_hand() {
        // C = 3, values [1, 2, 3]; size 2: the window is c..=c+1 (floor((2-1)/2)
        // = 0 below, ceil(1/2) = 1 above). alpha 2, so alpha / size = 1; bias 1,
        // beta 1: y_c = x_c / (1 + square_sum).
        let x = f(&[1, 3, 1], &[1.0, 2.0, 3.0]);
        let mut a = attrs(&[
            ("size", AttrValue::Int(2)),
            ("alpha", AttrValue::Float(2.0)),
            ("beta", AttrValue::Float(1.0)),
        ]);
        let y = run1("LRN", &a, std::slice::from_ref(&x));
        close(&y.data, &[1.0 / 6.0, 2.0 / 14.0, 3.0 / 10.0], 1e-15);
        // size 3 (alpha 3): one channel each side: [1+4, 1+4+9, 4+9].
        a.insert("size".into(), AttrValue::Int(3));
        a.insert("alpha".into(), AttrValue::Float(3.0));
        a.insert("beta".into(), AttrValue::Float(0.5));
        let y = run1("LRN", &a, std::slice::from_ref(&x));
        close(
            &y.data,
            &[1.0 / 6f64.sqrt(), 2.0 / 15f64.sqrt(), 3.0 / 14f64.sqrt()],
            1e-15,
        );
        fails(
            "LRN",
            &Attributes::new(),
            &[Some(x.clone())],
            "size is required",
        );
        fails(
            "LRN",
            &attrs(&[("size", AttrValue::Int(0))]),
            &[Some(x)],
            "size must be >= 1",
        );
        fails(
            "LRN",
            &attrs(&[("size", AttrValue::Int(1))]),
            &[Some(f(&[2, 2], &[0.0; 4]))],
            "rank 3 or more",
        );
    }

    #[test]
    fn dropout_is_a_copy_in_inference() {
        let x = f(&[2, 2], &[1.0, f64::NAN, -0.0, 4.0]);
        let none = Attributes::new();
        let out = run("Dropout", &none, std::slice::from_ref(&x)).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].value.dtype, DType::F32);
        close(&out[0].value.data, &[1.0, f64::NAN, -0.0, 4.0], 0.0);
        assert_eq!(out[1].value.dtype, DType::Bool);
        close(&out[1].value.data, &[1.0; 4], 0.0);
        // A ratio and training_mode false change nothing.
        let ratio = Some(t(DType::F32, &[], &[0.3]));
        let off = Some(t(DType::Bool, &[], &[0.0]));
        let out = run_opt("Dropout", &none, &[Some(x.clone()), ratio.clone(), off]).unwrap();
        close(&out[0].value.data, &[1.0, f64::NAN, -0.0, 4.0], 0.0);
        // Training is refused with a clear message.
        let on = Some(t(DType::Bool, &[], &[1.0]));
        fails(
            "Dropout",
            &none,
            &[Some(x.clone()), ratio, on.clone()],
            "training_mode=true",
        );
        fails(
            "Dropout",
            &none,
            &[Some(x.clone()), None, on.clone()],
            "training_mode=true",
        );
        // ... but training with ratio 0 drops nothing: the same copy.
        let zero = Some(t(DType::F32, &[], &[0.0]));
        let out = run_opt("Dropout", &none, &[Some(x.clone()), zero, on]).unwrap();
        close(&out[0].value.data, &[1.0, f64::NAN, -0.0, 4.0], 0.0);
        close(&out[1].value.data, &[1.0; 4], 0.0);
        fails(
            "Dropout",
            &none,
            &[Some(x.clone()), Some(t(DType::F32, &[], &[1.0]))],
            "ratio must be in [0, 1)",
        );
        fails(
            "Dropout",
            &none,
            &[Some(x.clone()), Some(t(DType::F32, &[1], &[0.1]))],
            "ratio must be a scalar",
        );
        // Dropout-10: the ratio is an attribute; fp8 data arrives at 22.
        let r = attrs(&[("ratio", AttrValue::Float(0.2))]);
        let out = run_at("Dropout", 10, &r, &[Some(x.clone())]).unwrap();
        close(&out[0].value.data, &[1.0, f64::NAN, -0.0, 4.0], 0.0);
        assert!(
            run_at(
                "Dropout",
                10,
                &r,
                &[Some(x.clone()), Some(t(DType::F32, &[], &[0.1]))]
            )
            .is_err()
        );
        let fp8 = [Some(t(DType::F8E4M3FN, &[2], &[1.0, -2.0]))];
        assert!(run_at("Dropout", 22, &none, &fp8).is_ok());
        assert!(run_at("Dropout", 13, &none, &fp8).is_err());
    }

    #[test]
    fn cast_like_is_cast_to_the_targets_dtype() {
        let x = f(&[4], &[1.5, -2.7, 0.1, 1e6]);
        for to in [
            DType::F16,
            DType::BF16,
            DType::I32,
            DType::I8,
            DType::Bool,
            DType::F8E4M3FN,
        ] {
            let target = t(to, &[1], &[0.0]);
            let y = run1("CastLike", &Attributes::new(), &[x.clone(), target]);
            let code = AttrValue::Int(i64::from(to.code()));
            let cast = run1("Cast", &attrs(&[("to", code)]), std::slice::from_ref(&x));
            assert_eq!(y.dtype, to);
            assert_eq!(y, cast, "CastLike to {to} must be Cast to {to}");
        }
        // By hand: f16 rounds 0.1 to 0.0999755859375; i32 truncates.
        let y = run1(
            "CastLike",
            &Attributes::new(),
            &[x.clone(), t(DType::F16, &[0], &[])],
        );
        let head: Vec<f64> = y.data.iter().take(3).copied().collect();
        assert_eq!(head, [1.5, -2.69921875, 0.0999755859375]);
        let y = run1("CastLike", &Attributes::new(), &[x.clone(), i(&[1], &[7])]);
        close(&y.data, &[1.0, -2.0, 0.0, 1e6], 0.0);
        // saturate=0: 1e6 past e4m3fn's range is NaN.
        let sat0 = attrs(&[("saturate", AttrValue::Int(0))]);
        let y = run1(
            "CastLike",
            &sat0,
            &[x.clone(), t(DType::F8E4M3FN, &[1], &[0.0])],
        );
        assert!(y.data[[3]].is_nan());
        // 15 has neither fp8 nor saturate.
        let e = run_at(
            "CastLike",
            15,
            &sat0,
            &[Some(x.clone()), Some(i(&[1], &[0]))],
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown attribute saturate"), "{e}");
        let f8 = Some(t(DType::F8E5M2, &[1], &[0.0]));
        assert!(
            run_at(
                "CastLike",
                15,
                &Attributes::new(),
                &[Some(x.clone()), f8.clone()]
            )
            .is_err()
        );
        assert!(run_at("CastLike", 19, &Attributes::new(), &[Some(x), f8]).is_ok());
    }
}
