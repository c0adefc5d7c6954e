//! LayerNormalization (17) and RMSNormalization (23): statistics over the
//! trailing dimensions `axis..rank`, then a broadcast scale (and bias).

use ndarray::{ArrayD, IxDyn, Zip};

use super::rules::{self, no_sum, per_input_element, same_as_first};
use super::spec::{FLOATS, T_FLOAT, TypeVar, fixed};
use super::{
    AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, Value, broadcast,
};
use crate::numerics::DType;
use crate::numerics::check::{CheckPolicy, sum_growth};

/// RMSNormalization's scale: any float, not necessarily X's.
const V_FLOAT: TypeVar = TypeVar {
    name: "V",
    allowed: FLOATS,
};

/// Judged by its error model ([`layer_norm`]) with `c = 1`.
pub(super) const LAYER_NORMALIZATION: OpDef = OpDef {
    spec: OpSpec {
        name: "LayerNormalization",
        domain: "",
        opset: 17,
        arity: fixed(2, 1),
        input_names: &["X", "Scale", "B"],
        input_types: &[T_FLOAT, T_FLOAT, T_FLOAT],
        // Y; Mean and InvStdDev are optional (`ops/outputs.rs`).
        outputs: 3,
        attributes: &[
            ("axis", AttrType::Int),
            ("epsilon", AttrType::Float),
            ("stash_type", AttrType::Int),
        ],
    },
    oracle: layer_norm,
    shape: |attrs, inputs, values| {
        let (_, x) = rules::input(inputs, 0)?;
        let axis = norm_axis(attrs, x)?;
        epsilon_of(attrs)?;
        let stash = stash_dtype(attrs)?;
        let (_, scale) = rules::input(inputs, 1)?;
        rules::stretches_to("Scale", scale, x)?;
        if let Some((_, b)) = inputs.get(2).and_then(Option::as_ref) {
            rules::stretches_to("B", b, x)?;
        }
        let mut out = same_as_first(attrs, inputs, values)?;
        let stats = statistics_shape(x, axis);
        out.push((stash, stats.clone()));
        out.push((stash, stats));
        Ok(out)
    },
    cost: per_input_element::<8>,
    check: CheckPolicy::ModelBound,
    terms: no_sum,
};

/// As LayerNormalization.
pub(super) const RMS_NORMALIZATION: OpDef = OpDef {
    spec: OpSpec {
        name: "RMSNormalization",
        domain: "",
        opset: 23,
        arity: fixed(2, 0),
        input_names: &["X", "scale"],
        input_types: &[T_FLOAT, V_FLOAT],
        outputs: 1,
        attributes: &[
            ("axis", AttrType::Int),
            ("epsilon", AttrType::Float),
            ("stash_type", AttrType::Int),
        ],
    },
    oracle: |c| Ok(vec![rms_norm(c)?]),
    // Y has X's shape and scale's dtype (type V).
    shape: |attrs, inputs, _| {
        let (_, shape) = rules::input(inputs, 0)?;
        let (dtype, scale) = rules::input(inputs, 1)?;
        let axis = norm_axis(attrs, shape)?;
        epsilon_of(attrs)?;
        rules::stretches_to("scale", scale, &shape[axis..])?;
        Ok(vec![(*dtype, shape.clone())])
    },
    cost: per_input_element::<4>,
    check: CheckPolicy::ModelBound,
    terms: no_sum,
};

/// X viewed as rows of the normalised dimensions, with each row replaced by
/// `f(row, model)`, where `f` also writes each element's error
/// coefficients into `model` (see [`layer_norm`]); returns two arrays of
/// X's shape. `axis` is the first normalised dimension.
fn per_row(
    call: &Call,
    x: &Value,
    axis: usize,
    mut f: impl FnMut(&mut [f64], &mut [f64]),
) -> Result<(ArrayD<f64>, ArrayD<f64>)> {
    let shape = x.shape();
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis..].iter().product();
    let mut flat: Vec<f64> = x.data.iter().copied().collect();
    let mut model = vec![0.0; flat.len()];
    if inner > 0 {
        for (row, m) in flat
            .chunks_exact_mut(inner)
            .zip(model.chunks_exact_mut(inner))
            .take(outer)
        {
            f(row, m);
        }
    }
    let array =
        |v| ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| call.err(format!("X: {e}")));
    Ok((array(flat)?, array(model)?))
}

/// The epsilon attribute (default 1e-5); negative or non-finite values are
/// configuration errors because they make the square root meaningless.
fn epsilon(call: &Call) -> Result<f64> {
    epsilon_of(call.attrs).map_err(|m| call.err(m))
}

/// The `epsilon` attribute (default 1e-5), finite and >= 0.
fn epsilon_of(attrs: &Attributes) -> std::result::Result<f64, String> {
    let eps = attrs.float("epsilon", 1e-5)?;
    if eps.is_finite() && eps >= 0.0 {
        Ok(eps)
    } else {
        Err(format!("epsilon must be finite and >= 0, got {eps}"))
    }
}

/// The dtype of LayerNormalization's Mean and InvStdDev: `stash_type`
/// (default 1, float), which ONNX's type U limits to float and bfloat16.
fn stash_dtype(attrs: &Attributes) -> std::result::Result<DType, String> {
    match attrs.int("stash_type", 1)? {
        1 => Ok(DType::F32),
        16 => Ok(DType::BF16),
        other => Err(format!(
            "stash_type {other} is neither 1 (float) nor 16 (bfloat16), the types of Mean and InvStdDev"
        )),
    }
}

/// The shape of LayerNormalization's Mean and InvStdDev: X's, with the
/// normalised dimensions `axis..` kept as 1.
fn statistics_shape(x: &[usize], axis: usize) -> Vec<usize> {
    x.iter()
        .enumerate()
        .map(|(i, &d)| if i < axis { d } else { 1 })
        .collect()
}

/// The first normalised dimension of X of `shape` (`axis`, default -1).
fn norm_axis(attrs: &Attributes, shape: &[usize]) -> std::result::Result<usize, String> {
    rules::norm_axis(attrs.int("axis", -1)?, shape.len())
}

/// LayerNormalization (opset 17):
/// `Y = (X - mean) / sqrt(var + epsilon) * Scale + B`, with mean and the
/// (population, 1/n) variance over dimensions `axis..rank` (axis default
/// -1). Scale and B are multiplied and added with numpy broadcasting, as in
/// the spec's function body, so they must broadcast to X's shape; the
/// usual case is a tensor of the normalised shape. X, Scale and B share one
/// dtype (T). stash_type is the dtype of the optional outputs Mean and
/// InvStdDev = 1 / sqrt(var + epsilon), of X's shape with the normalised
/// dimensions kept as 1, computed when requested; it is also the precision
/// of a real implementation's first stage, while the oracle is f64.
///
/// Error model (`docs/error-models.md`), per row of n with mean mu,
/// deviations d_i = x_i - mu, sigma = sqrt(var + eps) and g(n) = 4 + 2
/// sqrt(n) ([`sum_growth`]), in units of the compute precision's u:
/// * the mean: `dmu = g(n) mean|x|`;
/// * the variance, allowing the one-pass `E[x^2] - mu^2` that ONNX Runtime
///   and many kernels use: `D = g(n) mean(x^2) + 2 |mu| dmu + mu^2 + var`
///   (two-pass and Welford are well inside it);
/// * `x̂_i = d_i / sigma`: `|x̂_i| (D / (2 (var + eps)) + 4) + (|d_i| + dmu) /
///   sigma`;
/// * `y_i = x̂_i s_i + b_i`: `|s_i|` times that, plus `|x̂_i s_i| + |b_i|` for
///   the product and the sum.
///
/// The function body casts the normalised row back to the io dtype (T)
/// before the scale and bias, which are applied in T: `M_io = 2 |x̂_i s_i|`.
///
/// Mean's bound is the mean's `dmu`; InvStdDev's is
/// `1/sigma (D / (2 (var + eps)) + 4)`, the relative error of sigma plus
/// the reciprocal's rounding, both in the compute precision's u.
fn layer_norm(call: &Call) -> Result<Vec<Output>> {
    let x = call.input(0)?;
    let scale = call.input(1)?;
    let axis = call.axis("axis", call.int("axis", -1)?, x.data.ndim())?;
    let eps = epsilon(call)?;
    let stash = stash_dtype(call.attrs).map_err(|m| call.err(m))?;
    // Per row: (mean, its error, 1 / sigma, its error).
    let mut stats: Vec<[f64; 4]> = Vec::new();
    // Per element: the error of x̂ (the model's coefficient before the scale).
    let (normalized, x_hat_err) = per_row(call, x, axis, |row, err| {
        let n = row.len() as f64;
        let g = sum_growth(row.len());
        let mean = row.iter().sum::<f64>() / n;
        // Two passes: the variance of the centred values, not E[x^2] - mean^2,
        // which cancels badly when |mean| >> std.
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let std = (var + eps).sqrt();
        let mean_abs = row.iter().map(|v| v.abs()).sum::<f64>() / n;
        let mean_sq = row.iter().map(|v| v * v).sum::<f64>() / n;
        let d_mean = g * mean_abs;
        let d_var = g * mean_sq + 2.0 * mean.abs() * d_mean + mean * mean + var;
        let relative = d_var / (2.0 * (var + eps)) + 4.0;
        stats.push([mean, d_mean, 1.0 / std, relative / std]);
        for (v, e) in row.iter_mut().zip(err.iter_mut()) {
            let d = *v - mean;
            *v = d / std;
            *e = v.abs() * relative + (d.abs() + d_mean) / std;
        }
    })?;
    let shape = x.shape().to_vec();
    let sv = broadcast::to(call, "Scale", &scale.data, &shape)?;
    let mut y = Zip::from(&normalized).and(&sv).map_collect(|&n, &s| n * s);
    let mut model = Zip::from(&normalized)
        .and(&sv)
        .and(&x_hat_err)
        .map_collect(|&n, &s, &e| s.abs() * e + (n * s).abs());
    let io = Zip::from(&normalized)
        .and(&sv)
        .map_collect(|&n, &s| 2.0 * (n * s).abs());
    if let Some(b) = call.opt(2) {
        let bv = broadcast::to(call, "B", &b.data, &shape)?;
        y.zip_mut_with(&bv, |y, &b| *y += b);
        model.zip_mut_with(&bv, |m, &b| *m += b.abs());
    }
    let mut out = vec![Output::bounded(x.dtype, y, model, Some(io))];
    if call.wanted() > 1 {
        let stats_shape = statistics_shape(&shape, axis);
        // An empty normalised extent has no rows: per_row saw none.
        let rows: usize = stats_shape.iter().product();
        stats.resize(rows, [f64::NAN, 0.0, f64::NAN, 0.0]);
        let column = |k: usize| {
            ArrayD::from_shape_vec(IxDyn(&stats_shape), stats.iter().map(|s| s[k]).collect())
                .map_err(|e| call.err(format!("statistics: {e}")))
        };
        out.push(Output::bounded(stash, column(0)?, column(1)?, None));
        out.push(Output::bounded(stash, column(2)?, column(3)?, None));
    }
    Ok(out)
}

/// RMSNormalization (opset 23): `Y = X / sqrt(mean(X^2) + epsilon) * scale`
/// over dimensions `axis..rank` (axis default -1). The spec says scale
/// "should be broadcastable to the normalized shape", and gives Y the dtype
/// of scale (type V), which may differ from X's (type T).
///
/// Error model (`docs/error-models.md`), per row of n with mean square ms
/// and `rms = sqrt(ms + eps)`: ms carries `g(n) ms` ([`sum_growth`]), so
/// `rms` is off by `g(n) ms / (2 (ms + eps)) + 2` relative (the sum, the
/// square root, the epsilon addition), and `y_i` by that plus 3 more
/// roundings (the squares are exact enough to fold in; the division, the
/// scale product): `E_i = |y_i| (g(n) ms / (2 (ms + eps)) + 5)`. Plus one
/// io-dtype rounding of `x / rms` (`E_io = |y_i|`): the function body (and
/// Llama's reference implementation) casts the normalised row back to the
/// io dtype before the scale.
fn rms_norm(call: &Call) -> Result<Output> {
    let x = call.input(0)?;
    let scale = call.input(1)?;
    let axis = call.axis("axis", call.int("axis", -1)?, x.data.ndim())?;
    let eps = epsilon(call)?;
    broadcast::to(call, "scale", &scale.data, &x.shape()[axis..])?;
    let (normalized, relative) = per_row(call, x, axis, |row, rel| {
        let n = row.len() as f64;
        let ms = row.iter().map(|v| v * v).sum::<f64>() / n;
        let rms = (ms + eps).sqrt();
        let r = sum_growth(row.len()) * ms / (2.0 * (ms + eps)) + 5.0;
        for (v, e) in row.iter_mut().zip(rel.iter_mut()) {
            *v /= rms;
            *e = r;
        }
    })?;
    let sv = broadcast::to(call, "scale", &scale.data, x.shape())?;
    let y = Zip::from(&normalized).and(&sv).map_collect(|&n, &s| n * s);
    let model = Zip::from(&y)
        .and(&relative)
        .map_collect(|&y, &r| y.abs() * r);
    let io = y.mapv(f64::abs);
    Ok(Output::bounded(scale.dtype, y, model, Some(io)))
}

// ------------------------------------------------------------- generated cases
// The case spaces of this family (machinery and conventions: ops/cases.rs).

use super::cases::{self, CaseSpace, Factor, Fill, GenCase, GenInput, Pick, Storage};

/// LayerNormalization (`bias`) and RMSNormalization: ranks 1-4, the
/// normalized axes from first / last / -1 / middle / negative, scale over the
/// whole normalized shape or only its last dim (broadcast), the last dim 1,
/// prime or 1024 long, equal or distinct dims, default and large epsilon,
/// every layout of X.
fn norm_space(bias: bool) -> Option<CaseSpace> {
    let mut factors = vec![
        Factor::dtypes(cases::FLOATS),
        Factor::new("rank", &["r1", "r2", "r3", "r4"]),
        Factor::new("axis", &["first", "last", "mid", "neg", "neglast"]),
        Factor::new("scale", &["scalefull", "scalelast"]),
        Factor::new("size", &["n1", "prime", "w1024"]),
        Factor::new("dims", &["eqdims", "distinct"]),
        Factor::new("epsilon", &["epsdefault", "epsbig"]),
        cases::layout_factor(),
    ];
    if bias {
        factors.push(Factor::new("bias", &["withbias", "nobias"]));
    }
    Some(CaseSpace {
        factors,
        build: Box::new(move |p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let axis = cases::axis_of(p.get("axis"), rank)?;
            let size = match p.get("size") {
                "n1" => 1,
                "prime" => 7,
                _ => 1024,
            };
            let eq = p.is("dims", "eqdims");
            if eq && size > 64 {
                return None;
            }
            let x = cases::dims(rank, size, eq);
            let normalized = x[cases::resolve(axis, rank)..].to_vec();
            let scale = if p.is("scale", "scalefull") {
                normalized
            } else if normalized.len() > 1 {
                vec![x[rank - 1]]
            } else {
                return None; // the same as scalefull
            };
            let dt: DType = p.dtype();
            let mut inputs = vec![
                GenInput::new(dt, x)
                    .fill(Fill::Normal(2.0))
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                GenInput::new(dt, scale.clone()).some(),
            ];
            if bias && p.is("bias", "withbias") {
                inputs.push(GenInput::new(dt, scale).some());
            }
            let mut case = GenCase::new(inputs).int("axis", axis);
            if p.is("epsilon", "epsbig") {
                case = case.float("epsilon", 0.01);
            }
            Some(case)
        }),
    })
}

pub(super) fn layer_norm_cases() -> Option<CaseSpace> {
    norm_space(true)
}

pub(super) fn rms_norm_cases() -> Option<CaseSpace> {
    norm_space(false)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::numerics::DType;
    use crate::ops::{AttrValue, Attributes};

    #[test]
    fn layer_norm_by_hand() {
        // Row [1, 2, 3, 6]: mean 3, var (4+1+0+9)/4 = 3.5; eps 0.5 -> std 2.
        // Normalised: [-1, -0.5, 0, 1.5]; scale [1, 2, 1, 2], B [0, 0, 1, -1]:
        // Y = [-1, -1, 1, 2].
        let x = f(&[1, 4], &[1.0, 2.0, 3.0, 6.0]);
        let s = f(&[4], &[1.0, 2.0, 1.0, 2.0]);
        let b = f(&[4], &[0.0, 0.0, 1.0, -1.0]);
        let a = attrs(&[("epsilon", AttrValue::Float(0.5))]);
        let y = run1("LayerNormalization", &a, &[x, s, b]);
        assert_eq!(y.dtype, DType::F32);
        close(&y.data, &[-1.0, -1.0, 1.0, 2.0], 1e-15);
    }

    #[test]
    fn layer_norm_standardises_over_trailing_dims() {
        // axis 1 of a [2, 2, 3]: each batch's 6 values get mean 0, var 1.
        let vals: Vec<f64> = (0..12)
            .map(|k| ((k * 7) % 5) as f64 * 1.5 - 2.0 + k as f64)
            .collect();
        let x = f(&[2, 2, 3], &vals);
        let ones = f(&[2, 3], &[1.0; 6]);
        let a = attrs(&[
            ("axis", AttrValue::Int(1)),
            ("epsilon", AttrValue::Float(0.0)),
        ]);
        let opt = [Some(x), Some(ones), None];
        let y = run_opt("LayerNormalization", &a, &opt)
            .unwrap()
            .remove(0)
            .value;
        for batch in y.data.outer_iter() {
            let n = batch.len() as f64;
            let mean = batch.sum() / n;
            let var = batch.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            assert!(mean.abs() < 1e-15, "{mean}");
            assert!((var - 1.0).abs() < 1e-14, "{var}");
        }
    }

    #[test]
    fn layer_norm_errors() {
        let x = f(&[2, 3], &[0.0; 6]);
        let none = Attributes::new();
        fails(
            "LayerNormalization",
            &none,
            &[Some(x.clone()), Some(f(&[2], &[1.0; 2]))],
            "cannot be broadcast",
        );
        fails(
            "LayerNormalization",
            &attrs(&[("axis", AttrValue::Int(2))]),
            &[Some(x.clone()), Some(f(&[3], &[1.0; 3]))],
            "out of range",
        );
        fails(
            "LayerNormalization",
            &none,
            &[Some(x), Some(t(DType::F16, &[3], &[1.0; 3]))],
            "same dtype",
        );
    }

    #[test]
    fn rms_norm_by_hand() {
        // Row [3, 4]: mean square 12.5, eps 3.5 -> rms 4. Y = [0.75, 1] * [2, -1].
        // Row [0, 0]: rms sqrt(3.5); Y = 0.
        let x = f(&[2, 2], &[3.0, 4.0, 0.0, 0.0]);
        let s = t(DType::F16, &[2], &[2.0, -1.0]);
        let a = attrs(&[("epsilon", AttrValue::Float(3.5))]);
        let y = run1("RMSNormalization", &a, &[x.clone(), s]);
        assert_eq!(y.dtype, DType::F16, "Y takes the dtype of scale");
        close(&y.data, &[1.5, -1.0, 0.0, 0.0], 1e-15);
        // Default epsilon 1e-5 over both axes: mean square 25/4 -> rms ~2.5.
        let a = attrs(&[("axis", AttrValue::Int(0))]);
        let y = run1("RMSNormalization", &a, &[x.clone(), f(&[1], &[1.0])]);
        let rms = (6.25f64 + 1e-5).sqrt();
        close(&y.data, &[3.0 / rms, 4.0 / rms, 0.0, 0.0], 1e-15);
        fails(
            "RMSNormalization",
            &Attributes::new(),
            &[Some(x), Some(f(&[2, 2], &[1.0; 4]))],
            "cannot be broadcast to [2]",
        );
    }
}
