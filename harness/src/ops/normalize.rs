//! BatchNormalization in inference mode (9; 14 adds training_mode and
//! gives the statistics their own type; 15 gives scale and bias theirs):
//! `Y = (X - mean) / sqrt(var + epsilon) * scale + B` per channel
//! (dimension 1 of X).

use ndarray::{ArrayD, Axis, Zip};

use super::rules::{self, no_sum, per_input_element};
use super::spec::{FLOATS, T_FLOAT, TypeVar, fixed};
use super::{AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape};
use crate::numerics::check::CheckPolicy;

/// BatchNormalization-14's mean and var (`U`).
const U_FLOAT: TypeVar = TypeVar {
    name: "U",
    allowed: FLOATS,
};
/// BatchNormalization-15's scale and B (`T1`).
const T1_FLOAT: TypeVar = TypeVar {
    name: "T1",
    allowed: FLOATS,
};
/// BatchNormalization-15's input_mean and input_var (`T2`).
const T2_FLOAT: TypeVar = TypeVar {
    name: "T2",
    allowed: FLOATS,
};

/// The five inputs of every version.
const BN_INPUTS: &[&str] = &["X", "scale", "B", "input_mean", "input_var"];

/// A BatchNormalization version: the spec's type variables differ (9: one T
/// for all; 14: T for X, scale, B and U for the statistics; 15: T, T1 for
/// scale and B, T2 for the statistics), and 14 adds `training_mode`.
const fn batch_norm_def(opset: i64) -> OpDef {
    OpDef {
        spec: OpSpec {
            name: "BatchNormalization",
            domain: "",
            opset,
            arity: fixed(5, 0),
            input_names: BN_INPUTS,
            input_types: match opset {
                9 => &[T_FLOAT, T_FLOAT, T_FLOAT, T_FLOAT, T_FLOAT],
                14 => &[T_FLOAT, T_FLOAT, T_FLOAT, U_FLOAT, U_FLOAT],
                _ => &[T_FLOAT, T1_FLOAT, T1_FLOAT, T2_FLOAT, T2_FLOAT],
            },
            outputs: 1,
            attributes: if opset >= 14 {
                &[
                    ("epsilon", AttrType::Float),
                    ("momentum", AttrType::Float),
                    ("training_mode", AttrType::Int),
                ]
            } else {
                &[("epsilon", AttrType::Float), ("momentum", AttrType::Float)]
            },
        },
        oracle: |c| Ok(vec![batch_norm(c)?]),
        shape: |attrs, inputs, _| {
            let shapes = input_shapes(inputs)?;
            batch_norm_params(attrs, &shapes)?;
            Ok(vec![rules::input(inputs, 0)?.clone()])
        },
        cost: per_input_element::<2>,
        check: CheckPolicy::ModelBound,
        terms: no_sum,
    }
}

/// Judged by its error model ([`batch_norm`]) with `c = 1`.
pub(super) const BATCH_NORMALIZATION: OpDef = batch_norm_def(15);
/// BatchNormalization-14: scale and B share X's type.
pub(super) const BATCH_NORMALIZATION_14: OpDef = batch_norm_def(14);
/// BatchNormalization-9: every input of X's type, no training_mode.
pub(super) const BATCH_NORMALIZATION_9: OpDef = batch_norm_def(9);

/// The five input shapes, in order.
fn input_shapes(inputs: &[Option<TypedShape>]) -> std::result::Result<Vec<&[usize]>, String> {
    (0..5)
        .map(|i| rules::input(inputs, i).map(|(_, s)| s.as_slice()))
        .collect()
}

/// BatchNormalization's validity and epsilon: X of rank 2 or more
/// (N, C, D1, ...), scale, B, mean and var each 1-D of length C, epsilon
/// finite and >= 0, and inference mode (training_mode 0; training, which
/// computes the batch's own statistics and updates the running ones, is not
/// what xpucert tests).
fn batch_norm_params(attrs: &Attributes, shapes: &[&[usize]]) -> std::result::Result<f64, String> {
    if rules::flag(attrs, "training_mode", false)? {
        return Err(
            "training_mode=1 (training) is not supported: xpucert checks \
                    BatchNormalization in inference mode (training_mode=0)"
                .into(),
        );
    }
    let x = shapes[0];
    if x.len() < 2 {
        return Err(format!(
            "X must have rank 2 or more (N x C x D1 ...), got shape {x:?}"
        ));
    }
    let c = x[1];
    for (name, s) in BN_INPUTS.iter().zip(shapes).skip(1) {
        if *s != [c] {
            return Err(format!(
                "{name} must have shape [{c}] (the channels of X {x:?}), got {s:?}"
            ));
        }
    }
    let eps = attrs.float("epsilon", 1e-5)?;
    if !(eps.is_finite() && eps >= 0.0) {
        return Err(format!("epsilon must be finite and >= 0, got {eps}"));
    }
    Ok(eps)
}

/// BatchNormalization in inference mode (9, 14, 15): per channel c (dim 1
/// of X), `Y = (X - mean_c) / sqrt(var_c + epsilon) * scale_c + B_c`
/// (epsilon default 1e-5); momentum only matters in training and is
/// ignored. Y has X's dtype.
///
/// Error model (`docs/error-models.md`), in units of the compute
/// precision's u, with `a = scale_c / sqrt(var_c + eps)`: the direct form
/// rounds `x - mean`, the sum under the root, the root, the division, the
/// scale product and the bias sum; the folded form that inference engines
/// use (`y = x a + (B - mean a)`, the form BatchNorm takes when fused into
/// a convolution) rounds `a` (about 3.5 u) and then the two products
/// separately, so its error scales with `|x a| + |mean a|`, not with
/// `|(x - mean) a|`. Both fit `M = 6 (|x| + |mean|) |a| + |B| + |y|`.
/// `c = 1`.
fn batch_norm(call: &Call) -> Result<Output> {
    let x = call.input(0)?;
    let shapes: Vec<&[usize]> = (0..5)
        .map(|i| call.input(i).map(|v| v.shape()))
        .collect::<Result<_>>()?;
    let eps = batch_norm_params(call.attrs, &shapes).map_err(|m| call.err(m))?;
    let channel =
        |i: usize| -> Result<Vec<f64>> { Ok(call.input(i)?.data.iter().copied().collect()) };
    let (scale, bias, mean, var) = (channel(1)?, channel(2)?, channel(3)?, channel(4)?);
    let mut y = x.data.clone();
    let mut model = ArrayD::zeros(x.data.raw_dim());
    for (c, (mut yc, mut mc)) in y
        .axis_iter_mut(Axis(1))
        .zip(model.axis_iter_mut(Axis(1)))
        .enumerate()
    {
        let a = scale[c] / (var[c] + eps).sqrt();
        let (m, b) = (mean[c], bias[c]);
        Zip::from(&mut yc).and(&mut mc).for_each(|y, e| {
            let x = *y;
            *y = (x - m) * a + b;
            *e = 6.0 * (x.abs() + m.abs()) * a.abs() + b.abs() + y.abs();
        });
    }
    Ok(Output::bounded(x.dtype, y, model, None))
}

// ------------------------------------------------------------- generated cases
// The case spaces of this family (machinery and conventions: ops/cases.rs).

use super::cases::{self, CaseSpace, Factor, Fill, GenCase, GenInput, Pick, Storage};

/// BatchNormalization: X of rank 2 to 4 (N, C, spatial), 1, 3 or 16
/// channels, a spatial extent of 1, prime or 1024, variances around 1 or
/// tiny (where epsilon matters most: `sqrt(var + eps)` against `sqrt(var)
/// + eps`), default or large epsilon, every layout of X.
pub(super) fn batch_norm_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::FLOATS),
            Factor::new("rank", &["r2", "r3", "r4"]),
            Factor::new("channels", &["c1", "c3", "c16"]),
            Factor::new("spatial", &["n1", "prime", "w1024"]),
            Factor::new("variance", &["varone", "vartiny"]),
            Factor::new("epsilon", &["epsdefault", "epsbig"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let c = match p.get("channels") {
                "c1" => 1,
                "c3" => 3,
                _ => 16,
            };
            let spatial = match p.get("spatial") {
                "n1" => 1,
                "prime" => 7,
                _ => 1024,
            };
            let shape = match rank {
                2 if spatial == 1 => vec![2, c],
                2 => return None,
                3 => vec![2, c, spatial],
                _ if spatial == 1024 => vec![1, c, 32, 32],
                _ => vec![2, c, spatial, 3],
            };
            let dt = p.dtype();
            let var = if p.is("variance", "vartiny") {
                Fill::Uniform(0.0, 1e-3)
            } else {
                Fill::Uniform(0.25, 2.0)
            };
            let x = GenInput::new(dt, shape)
                .fill(Fill::Normal(2.0))
                .stored(Storage::from_level(p.get("layout")));
            let inputs = vec![
                x.some(),
                GenInput::new(dt, vec![c]).fill(Fill::Normal(1.0)).some(),
                GenInput::new(dt, vec![c]).some(),
                GenInput::new(dt, vec![c]).fill(Fill::Normal(1.0)).some(),
                GenInput::new(dt, vec![c]).fill(var).some(),
            ];
            let mut case = GenCase::new(inputs);
            if p.is("epsilon", "epsbig") {
                case = case.float("epsilon", 0.01);
            }
            Some(case)
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::numerics::DType;
    use crate::ops::{AttrValue, Attributes};

    fn channels(v: &[f64]) -> crate::ops::Value {
        f(&[v.len()], v)
    }

    #[test]
    fn batch_norm_by_hand() {
        // X [1, 2, 2]: channel 0 [1, 3], channel 1 [0, 4].
        // Channel 0: mean 2, var 3.5, eps 0.5 -> sd 2; scale 2, B 1:
        // [(1-2)/2*2+1, (3-2)/2*2+1] = [0, 2].
        // Channel 1: mean 1, var 8.5 -> sd 3; scale -3, B 0: [1, -3].
        let x = f(&[1, 2, 2], &[1.0, 3.0, 0.0, 4.0]);
        let a = attrs(&[("epsilon", AttrValue::Float(0.5))]);
        let inputs = [
            x,
            channels(&[2.0, -3.0]),
            channels(&[1.0, 0.0]),
            channels(&[2.0, 1.0]),
            channels(&[3.5, 8.5]),
        ];
        let out = run("BatchNormalization", &a, &inputs).unwrap().remove(0);
        close(&out.value.data, &[0.0, 2.0, 1.0, -3.0], 1e-15);
        // M = 6 (|x| + |mean|) |a| + |B| + |y|, a = 1 and -1.
        close(
            out.magnitude.as_ref().unwrap(),
            &[
                6.0 * 3.0 + 1.0,
                6.0 * 5.0 + 1.0 + 2.0,
                6.0 + 1.0,
                6.0 * 5.0 + 3.0,
            ],
            1e-15,
        );
        // Every version computes the same in inference mode.
        let opt: Vec<_> = inputs.iter().cloned().map(Some).collect();
        for opset in [9, 14] {
            let y = run_at("BatchNormalization", opset, &a, &opt).unwrap();
            close(&y[0].value.data, &[0.0, 2.0, 1.0, -3.0], 1e-15);
        }
    }

    #[test]
    fn batch_norm_types_by_version() {
        let x = f(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let half = |v: &[f64]| t(DType::F16, &[2], v);
        // 15: statistics in f16 with f32 X, scale and B in bf16.
        let mixed = [
            Some(x.clone()),
            Some(t(DType::BF16, &[2], &[1.0, 1.0])),
            Some(t(DType::BF16, &[2], &[0.0, 0.0])),
            Some(half(&[0.0, 0.0])),
            Some(half(&[1.0, 1.0])),
        ];
        let y = run_at("BatchNormalization", 15, &Attributes::new(), &mixed).unwrap();
        assert_eq!(y[0].value.dtype, DType::F32);
        // 14: scale and B must be X's type.
        let e = run_at("BatchNormalization", 14, &Attributes::new(), &mixed).unwrap_err();
        assert!(e.to_string().contains("same dtype"), "{e}");
        // 9: every input X's type.
        let stats_f16 = [
            Some(x.clone()),
            Some(f(&[2], &[1.0, 1.0])),
            Some(f(&[2], &[0.0, 0.0])),
            Some(half(&[0.0, 0.0])),
            Some(half(&[1.0, 1.0])),
        ];
        assert!(run_at("BatchNormalization", 14, &Attributes::new(), &stats_f16).is_ok());
        let e = run_at("BatchNormalization", 9, &Attributes::new(), &stats_f16).unwrap_err();
        assert!(e.to_string().contains("same dtype"), "{e}");
    }

    #[test]
    fn batch_norm_errors() {
        let ok = |n: usize| Some(f(&[n], &vec![1.0; n]));
        let x = Some(f(&[2, 3, 2], &[0.0; 12]));
        let train = attrs(&[("training_mode", AttrValue::Int(1))]);
        fails(
            "BatchNormalization",
            &train,
            &[x.clone(), ok(3), ok(3), ok(3), ok(3)],
            "training_mode=1",
        );
        // No training_mode at 9.
        let e = run_at(
            "BatchNormalization",
            9,
            &train,
            &[x.clone(), ok(3), ok(3), ok(3), ok(3)],
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("unknown attribute training_mode"),
            "{e}"
        );
        fails(
            "BatchNormalization",
            &Attributes::new(),
            &[x.clone(), ok(3), ok(2), ok(3), ok(3)],
            "B must have shape [3]",
        );
        fails(
            "BatchNormalization",
            &Attributes::new(),
            &[Some(f(&[3], &[0.0; 3])), ok(3), ok(3), ok(3), ok(3)],
            "rank 2 or more",
        );
        fails(
            "BatchNormalization",
            &attrs(&[("epsilon", AttrValue::Float(-1.0))]),
            &[x.clone(), ok(3), ok(3), ok(3), ok(3)],
            "epsilon",
        );
        fails(
            "BatchNormalization",
            &Attributes::new(),
            &[x, ok(3), ok(3), ok(3)],
            "required input input_var",
        );
    }
}
