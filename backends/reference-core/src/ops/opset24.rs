//! Operators new in opset 24: Swish and TensorScatter.

use xpucert_abi::BackendError;

use super::Args;
use super::logic::int_values;
use crate::layout::normalize_axis;
use crate::tensor::{Data, Tensor};

/// Swish (24): `x sigmoid(alpha x)`, alpha an f32 attribute (default 1),
/// computed in f64 and rounded once into the dtype.
pub fn swish(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let alpha = f64::from(args.attrs.float("alpha", 1.0)? as f32);
    let y: Vec<f64> = (x.to_real::<f64>()?.into_iter())
        .map(|v| {
            let z = alpha * v;
            let s = if z >= 0.0 {
                1.0 / (1.0 + (-z).exp())
            } else {
                let e = z.exp();
                e / (1.0 + e)
            };
            v * s
        })
        .collect();
    Tensor::from_real(x.dtype(), x.shape.clone(), y)
}

/// TensorScatter (24): a copy of past_cache with `update` written along
/// `axis` (default -2) from each batch row's write index (input 2, else 0);
/// `mode` circular wraps the positions modulo the cache length, linear
/// requires them in range.
pub fn tensor_scatter(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (past, update) = (args.input(0)?, args.input(1)?);
    let rank = past.shape.len();
    let axis = normalize_axis(args.attrs.int("axis", -2)?, rank, args.op)?;
    let circular = match args.attrs.string("mode", "linear")? {
        "linear" => false,
        "circular" => true,
        other => return Err(args.invalid(format!("mode {other:?}"))),
    };
    let fits = axis > 0
        && update.shape.len() == rank
        && update.dtype() == past.dtype()
        && (0..rank).all(|i| {
            if i == axis {
                update.shape[i] <= past.shape[i]
            } else {
                update.shape[i] == past.shape[i]
            }
        });
    if !fits {
        return Err(args.invalid(format!(
            "update {:?} does not fit past_cache {:?} along axis {axis}",
            update.shape, past.shape
        )));
    }
    let batch = past.shape[0];
    let starts: Vec<i128> = match args.optional(2) {
        None => vec![0; batch],
        Some(w) => int_values(w)
            .filter(|v| v.len() == batch)
            .ok_or_else(|| args.invalid("write_indices must be [batch] integers"))?,
    };
    // Row-major: [outer (batch and dims before axis), axis, inner].
    let outer: usize = past.shape[..axis].iter().product();
    let inner: usize = past.shape[axis + 1..].iter().product();
    let (max, seq) = (past.shape[axis], update.shape[axis]);
    let per_batch = outer.checked_div(batch).unwrap_or(0);
    let mut index: Vec<usize> = (0..past.numel()).collect();
    for o in 0..outer {
        let start = starts[o / per_batch.max(1)];
        for s in 0..seq {
            let mut pos = start + s as i128;
            if circular {
                pos = pos.rem_euclid(max as i128);
            } else if pos < 0 || pos >= max as i128 {
                return Err(args.invalid(format!(
                    "write index {start} + {s} is outside the cache of {max}"
                )));
            }
            let to = (o * max + pos as usize) * inner;
            let from = (o * seq + s) * inner;
            for k in 0..inner {
                index[to + k] = past.numel() + from + k;
            }
        }
    }
    let both = Data::concat(&[&past.data, &update.data])?;
    Tensor::new(past.shape.clone(), both.gather(&index))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use xpucert_abi::AttrValue;

    #[test]
    fn swish_is_x_sigmoid_alpha_x() {
        let l3 = 3f32.ln();
        let x = f32t(&[3], &[0.0, l3, -l3]);
        let y = values(&run1("Swish", &[], vec![x]).unwrap());
        assert_close(&y, &[0.0, 0.75 * l3, -0.25 * l3], 1e-6);
        let x = f32t(&[1], &[1.0]);
        let y = values(&run1("Swish", &[("alpha", AttrValue::Float(2.0))], vec![x]).unwrap());
        assert_close(&y, &[1.0 / (1.0 + (-2f32).exp())], 1e-6);
    }

    #[test]
    fn tensor_scatter_linear_circular_and_refusals() {
        let past = f32t(&[2, 4, 1], &[0., 1., 2., 3., 10., 11., 12., 13.]);
        let update = f32t(&[2, 2, 1], &[-1., -2., -3., -4.]);
        let y = run1(
            "TensorScatter",
            &[],
            vec![past.clone(), update.clone(), i64t(&[2], &[1, 2])],
        )
        .unwrap();
        assert_close(&values(&y), &[0., -1., -2., 3., 10., 11., -3., -4.], 0.0);
        let y = run1("TensorScatter", &[], vec![past.clone(), update.clone()]).unwrap();
        assert_close(&values(&y), &[-1., -2., 2., 3., -3., -4., 12., 13.], 0.0);
        let y = run1(
            "TensorScatter",
            &[("mode", AttrValue::String("circular"))],
            vec![past.clone(), update.clone(), i64t(&[2], &[3, -1])],
        )
        .unwrap();
        assert_close(&values(&y), &[-2., 1., 2., -1., -4., 11., 12., -3.], 0.0);
        assert!(
            run1(
                "TensorScatter",
                &[],
                vec![past, update, i64t(&[2], &[3, 0])]
            )
            .is_err()
        );
    }
}
