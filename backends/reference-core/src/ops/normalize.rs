//! BatchNormalization in inference mode (9, 14, 15).

use xpucert_abi::BackendError;

use super::Args;
use crate::tensor::{Real, Tensor, with_real};

/// BatchNormalization (9, 14, 15), inference mode:
/// `(x - mean_c) / sqrt(var_c + epsilon) * scale_c + B_c` per channel c
/// (dimension 1 of X), in the direct form. Scale, B, mean and var may have
/// other float dtypes than X (15); they are read into X's compute type.
/// Training mode is refused by the support check.
pub fn batch_norm(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    if x.shape.len() < 2 {
        return Err(args.invalid(format!(
            "X must have rank 2 or more (N x C x ...), got {:?}",
            x.shape
        )));
    }
    let c = x.shape[1];
    let params = (1..5)
        .map(|i| args.input(i))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(p) = params.iter().find(|p| p.shape != [c]) {
        return Err(args.invalid(format!(
            "scale, B, mean and var must have shape [{c}], got {:?}",
            p.shape
        )));
    }
    let epsilon = args.attrs.float("epsilon", 1e-5)?;
    let inner: usize = x.shape[2..].iter().product();
    with_real!(x.dtype(), T => {
        let mut v = x.to_real::<T>()?;
        let p = params
            .iter()
            .map(|t| t.to_real::<T>())
            .collect::<Result<Vec<_>, _>>()?;
        let (scale, bias, mean, var) = (&p[0], &p[1], &p[2], &p[3]);
        let eps = T::from_f64(epsilon);
        if inner > 0 {
            for (k, plane) in v.chunks_exact_mut(inner).enumerate() {
                let ch = k % c;
                let denom = (var[ch] + eps).sqrt();
                for e in plane.iter_mut() {
                    *e = (*e - mean[ch]) / denom * scale[ch] + bias[ch];
                }
            }
        }
        Tensor::from_real(x.dtype(), x.shape.clone(), v)
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::tensor::{Data, Tensor};
    use xpucert_abi::{AttrValue, Status};

    #[test]
    fn batch_norm_per_channel() {
        // Channel 0 [1, 3]: mean 2, var 3.5 + eps 0.5 -> sd 2, scale 2, B 1.
        // Channel 1 [0, 4]: mean 1, var 8.5 -> sd 3, scale -3, B 0.
        let x = f32t(&[1, 2, 2], &[1., 3., 0., 4.]);
        let eps = [("epsilon", AttrValue::Float(0.5))];
        let inputs = vec![
            x,
            f32t(&[2], &[2., -3.]),
            f32t(&[2], &[1., 0.]),
            f32t(&[2], &[2., 1.]),
            f32t(&[2], &[3.5, 8.5]),
        ];
        for opset in [9, 14, 15] {
            let y = run_at("BatchNormalization", opset, &eps, inputs.clone()).unwrap();
            assert_close(&values(&y[0]), &[0., 2., 1., -3.], 1e-6);
        }
        // 15: f16 statistics with f32 X.
        let mut mixed = inputs.clone();
        mixed[3] = Some(Tensor::new(vec![2], Data::F16(vec![0x4000, 0x3C00])).unwrap());
        mixed[4] = Some(Tensor::new(vec![2], Data::F16(vec![0x4300, 0x4840])).unwrap());
        let y = run_at("BatchNormalization", 15, &eps, mixed.clone()).unwrap();
        assert_close(&values(&y[0]), &[0., 2., 1., -3.], 1e-6);
        let e = run_at("BatchNormalization", 9, &eps, mixed).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        let train = [("training_mode", AttrValue::Int(1))];
        let e = run_at("BatchNormalization", 15, &train, inputs.clone()).unwrap_err();
        assert_eq!(e.status, Status::Unsupported);
        let mut bad = inputs;
        bad[2] = f32t(&[3], &[0., 0., 0.]);
        let e = run_at("BatchNormalization", 15, &[], bad).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
    }
}
