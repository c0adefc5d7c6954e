//! Softmax and LogSoftmax over one axis; LayerNormalization (17) and
//! RMSNormalization (23) over the trailing axes from `axis` on.

use xpucert_abi::{BackendError, DType};

use super::Args;
use crate::layout::{broadcast_offsets, broadcast_shapes, normalize_axis, split_at_axis};
use crate::tensor::{Real, Tensor, with_real};

/// Softmax (or log-softmax) of one row in place, after subtracting the row's
/// maximum so that large logits cannot overflow. A row of -inf only (all
/// masked) has no defined softmax and gives NaN.
pub fn softmax_row<T: Real>(row: &mut [T], log: bool) {
    let mut max = T::NEG_INFINITY;
    for &v in row.iter() {
        if v.is_nan() || v > max {
            max = v;
        }
        if max.is_nan() {
            break;
        }
    }
    let mut sum = T::ZERO;
    for &v in row.iter() {
        sum += (v - max).exp();
    }
    if log {
        let ln_sum = sum.ln();
        row.iter_mut().for_each(|v| *v = (*v - max) - ln_sum);
    } else {
        row.iter_mut().for_each(|v| *v = (*v - max).exp() / sum);
    }
}

/// Softmax / LogSoftmax (13) along `axis` (default -1).
pub fn softmax(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let axis = normalize_axis(args.attrs.int("axis", -1)?, x.shape.len(), args.op)?;
    let (outer, len, inner) = split_at_axis(&x.shape, axis);
    let log = args.op == "LogSoftmax";
    with_real!(x.dtype(), T => {
        let mut v = x.to_real::<T>()?;
        let mut row = vec![T::ZERO; len];
        for o in 0..outer {
            for i in 0..inner {
                let base = o * len * inner + i;
                for (j, r) in row.iter_mut().enumerate() {
                    *r = v[base + j * inner];
                }
                softmax_row(&mut row, log);
                for (j, &r) in row.iter().enumerate() {
                    v[base + j * inner] = r;
                }
            }
        }
        Tensor::from_real(x.dtype(), x.shape.clone(), v)
    })
}

/// Shape facts of a normalisation over the axes `axis..`: the first
/// normalised axis, the number of rows and the row length.
struct Rows {
    axis: usize,
    count: usize,
    len: usize,
}

impl Rows {
    fn new(args: &Args<'_>, x: &Tensor) -> Result<Rows, BackendError> {
        let axis = normalize_axis(args.attrs.int("axis", -1)?, x.shape.len(), args.op)?;
        let len: usize = x.shape[axis..].iter().product();
        let count = x.numel().checked_div(len).unwrap_or(0);
        Ok(Rows { axis, count, len })
    }

    /// For each row element, the index into `param` (Scale or B), which must
    /// broadcast unidirectionally to the normalised shape.
    fn param_index(
        &self,
        args: &Args<'_>,
        x: &Tensor,
        param: &Tensor,
    ) -> Result<Vec<usize>, BackendError> {
        let row_shape = &x.shape[self.axis..];
        if broadcast_shapes(&[&param.shape, row_shape])? != row_shape {
            return Err(args.invalid(format!(
                "parameter of shape {:?} does not broadcast to the normalised shape {row_shape:?}",
                param.shape
            )));
        }
        broadcast_offsets(&param.shape, row_shape)
    }
}

/// LayerNormalization (17): `(x - mean) / sqrt(var + epsilon) * Scale + B`,
/// with the biased variance, computed as mean first, then variance.
/// With the optional outputs requested, also Mean and InvStdDev (`1 /
/// sqrt(var + epsilon)`) per row, in float32 (stash_type 1, the only one
/// [`crate::support::check`] accepts), shaped as X with the normalised
/// dimensions 1.
pub fn layer_norm(args: &Args<'_>) -> Result<Vec<Tensor>, BackendError> {
    let (y, stats) = normalize(args, true)?;
    let mut out = vec![y];
    if args.outputs > 1 {
        let x = args.input(0)?;
        let rows = Rows::new(args, x)?;
        let shape: Vec<usize> = (x.shape.iter().enumerate())
            .map(|(i, &d)| if i < rows.axis { d } else { 1 })
            .collect();
        let (mean, inv): (Vec<f64>, Vec<f64>) = stats.into_iter().unzip();
        out.push(Tensor::from_real(DType::F32, shape.clone(), mean)?);
        out.push(Tensor::from_real(DType::F32, shape, inv)?);
    }
    Ok(out)
}

/// RMSNormalization (23): `x / sqrt(mean(x^2) + epsilon) * scale`.
pub fn rms_norm(args: &Args<'_>) -> Result<Tensor, BackendError> {
    normalize(args, false).map(|(y, _)| y)
}

/// Y, and each row's mean and `1 / sqrt(var + epsilon)` (RMS: 0 and
/// `1 / rms`) as computed.
fn normalize(args: &Args<'_>, centred: bool) -> Result<(Tensor, Vec<(f64, f64)>), BackendError> {
    let x = args.input(0)?;
    let scale = args.input(1)?;
    let bias = if centred { args.optional(2) } else { None };
    let epsilon = args.attrs.float("epsilon", 1e-5)?;
    let rows = Rows::new(args, x)?;
    let scale_index = rows.param_index(args, x, scale)?;
    let bias_index = bias.map(|b| rows.param_index(args, x, b)).transpose()?;
    with_real!(x.dtype(), T => {
        let mut v = x.to_real::<T>()?;
        let s = scale.to_real::<T>()?;
        let b = bias.map(|b| b.to_real::<T>()).transpose()?;
        let eps = T::from_f64(epsilon);
        let n = T::from_f64(rows.len as f64);
        let mut stats = Vec::with_capacity(rows.count);
        for r in 0..rows.count {
            let row = &mut v[r * rows.len..(r + 1) * rows.len];
            let mean = if centred {
                let mut sum = T::ZERO;
                row.iter().for_each(|&e| sum += e);
                sum / n
            } else {
                T::ZERO
            };
            let mut sq = T::ZERO;
            for &e in row.iter() {
                let d = e - mean;
                sq += d * d;
            }
            let denom = (sq / n + eps).sqrt();
            stats.push((mean.to_f64(), (T::ONE / denom).to_f64()));
            for (j, e) in row.iter_mut().enumerate() {
                let mut y = (*e - mean) / denom * s[scale_index[j]];
                if let (Some(b), Some(bi)) = (&b, &bias_index) {
                    y += b[bi[j]];
                }
                *e = y;
            }
        }
        Ok((Tensor::from_real(x.dtype(), x.shape.clone(), v)?, stats))
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::tensor::{Data, Tensor};
    use xpucert_abi::{AttrValue, Status};

    #[test]
    fn softmax_subtracts_the_max() {
        let x = f32t(&[2, 2], &[1000., 1001., 0., 0.]);
        let y = values(&run1("Softmax", &[], vec![x.clone()]).unwrap());
        assert_close(&y, &[0.268_941_43, 0.731_058_6, 0.5, 0.5], 1e-6);
        let y = values(&run1("LogSoftmax", &[], vec![x]).unwrap());
        assert_close(
            &y,
            &[
                -1.313_261_7,
                -0.313_261_7,
                -std::f32::consts::LN_2,
                -std::f32::consts::LN_2,
            ],
            1e-6,
        );
    }

    #[test]
    fn softmax_along_a_middle_axis() {
        // (2, 2, 1): softmax over axis 1 pairs (0, ln 3) and (0, 0).
        let x = f32t(&[2, 2, 1], &[0., 3f32.ln(), 5., 5.]);
        let y = values(&run1("Softmax", &[("axis", AttrValue::Int(1))], vec![x]).unwrap());
        assert_close(&y, &[0.25, 0.75, 0.5, 0.5], 1e-6);
        let e = run1(
            "Softmax",
            &[("axis", AttrValue::Int(3))],
            vec![f32t(&[2], &[0., 0.])],
        )
        .unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
    }

    #[test]
    fn layer_norm_uses_biased_variance() {
        // Row [1, 2, 3, 4]: mean 2.5, biased variance 1.25.
        let x = f32t(&[1, 4], &[1., 2., 3., 4.]);
        let scale = f32t(&[4], &[1., 1., 2., 2.]);
        let bias = f32t(&[4], &[0., 0., 0., 10.]);
        let eps = [("epsilon", AttrValue::Float(0.0))];
        let y = values(
            &run1(
                "LayerNormalization",
                &eps,
                vec![x.clone(), scale.clone(), bias],
            )
            .unwrap(),
        );
        let inv = 1.0 / 1.25f32.sqrt();
        assert_close(
            &y,
            &[-1.5 * inv, -0.5 * inv, 2. * 0.5 * inv, 2. * 1.5 * inv + 10.],
            1e-6,
        );
        // Scalar scale broadcasts; without B.
        let y = values(&run1("LayerNormalization", &eps, vec![x, f32t(&[], &[2.]), None]).unwrap());
        assert_close(&y, &[-3. * inv, -inv, inv, 3. * inv], 1e-6);
    }

    #[test]
    fn layer_norm_over_two_axes_and_bad_scale() {
        let x = f32t(&[2, 1, 2], &[0., 2., 5., 5.]);
        let attrs = [
            ("axis", AttrValue::Int(1)),
            ("epsilon", AttrValue::Float(1.0)),
        ];
        let y = values(
            &run1(
                "LayerNormalization",
                &attrs,
                vec![x.clone(), f32t(&[1, 2], &[1., 1.])],
            )
            .unwrap(),
        );
        let inv = 1.0 / 2f32.sqrt();
        assert_close(&y, &[-inv, inv, 0., 0.], 1e-6);
        let e = run1(
            "LayerNormalization",
            &[],
            vec![x, f32t(&[3], &[1., 1., 1.])],
        )
        .unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        let e = run1(
            "LayerNormalization",
            &[("stash_type", AttrValue::Int(11))],
            vec![f32t(&[1], &[1.]), f32t(&[1], &[1.])],
        )
        .unwrap_err();
        assert_eq!(e.status, Status::Unsupported);
    }

    #[test]
    fn rms_norm_values_and_mixed_scale_dtype() {
        // Row [3, 4]: mean of squares 12.5.
        let x = f32t(&[1, 2], &[3., 4.]);
        let scale = Tensor::new(vec![2], Data::F16(vec![0x3C00, 0x4000])).ok(); // [1, 2]
        let eps = [("epsilon", AttrValue::Float(0.0))];
        let y = values(&run1("RMSNormalization", &eps, vec![x, scale]).unwrap());
        let r = 12.5f32.sqrt();
        assert_close(&y, &[3. / r, 8. / r], 1e-6);
    }

    #[test]
    fn layer_norm_statistics_on_request() {
        // Row [1, 2, 3, 6]: mean 3, var 3.5; eps 0.5 -> 1 / std = 1/2.
        let x = f32t(&[1, 4], &[1., 2., 3., 6.]);
        let s = f32t(&[4], &[1.; 4]);
        let eps = [("epsilon", AttrValue::Float(0.5))];
        let out = run_n("LayerNormalization", &eps, vec![x.clone(), s.clone()], 3).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[1].shape, vec![1, 1]);
        assert_close(&values(&out[1]), &[3.0], 0.0);
        assert_close(&values(&out[2]), &[0.5], 1e-7);
        assert_eq!(
            run_n("LayerNormalization", &eps, vec![x, s], 1)
                .unwrap()
                .len(),
            1
        );
    }
}
