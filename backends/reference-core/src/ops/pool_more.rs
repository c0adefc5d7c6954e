//! LpPool (11, 18, 22) and MaxUnpool (11, 22).
//!
//! LpPool walks the pools' tap table ([`pool_geometry`], the same window
//! as MaxPool and AveragePool) and takes each window's p-norm over its
//! taps inside X: `(sum |x|^p)^(1/p)`, the powers by repeated
//! multiplication, in f32 for f16/bf16/f32 and f64 for f64.
//!
//! MaxUnpool scatters X to its flat indices in the unpooled tensor (shape
//! `(in - 1) s - pads + k`), zeros elsewhere, and with `output_shape` places
//! that tensor at the start of every axis of the larger output (ONNX's
//! reference and node tests).

use xpucert_abi::BackendError;

use super::Args;
use super::conv::{out_shape, pool_geometry, split};
use crate::tensor::{Real, Tensor, with_real};

/// `|v|^p` by repeated multiplication.
fn power<T: Real>(v: T, p: usize) -> T {
    let a = if v < T::ZERO { T::ZERO - v } else { v };
    let mut r = a;
    for _ in 1..p {
        r *= a;
    }
    r
}

/// LpPool: each window's p-norm over its taps inside X (module docs).
pub fn lp_pool(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let p = args.attrs.int("p", 2)?;
    let p = usize::try_from(p)
        .ok()
        .filter(|&p| p >= 1)
        .ok_or_else(|| args.invalid(format!("p must be at least 1, got {p}")))?;
    let g = pool_geometry(args, false)?;
    let (n, c) = (x.shape[0], x.shape[1]);
    let (taps, outs) = (g.taps_per_window(), g.outputs());
    let spatial: usize = g.input.iter().product();
    let table = g.taps(false);
    with_real!(x.dtype(), T => {
        let xv = x.to_real::<T>()?;
        let mut y = vec![T::ZERO; n * c * outs];
        for (plane, ys) in y.chunks_mut(outs.max(1)).enumerate() {
            let xs = &xv[plane * spatial..][..spatial];
            for t in 0..taps {
                for (q, acc) in ys.iter_mut().enumerate() {
                    let off = table[t * outs + q];
                    if off >= 0 {
                        *acc += power(xs[off as usize], p);
                    }
                }
            }
            if p == 2 {
                ys.iter_mut().for_each(|v| *v = v.sqrt());
            } else if p > 1 {
                let inv = T::from_f64(1.0 / p as f64);
                ys.iter_mut().for_each(|v| {
                    *v = if *v > T::ZERO { (v.ln() * inv).exp() } else { T::ZERO }
                });
            }
        }
        Tensor::from_real(x.dtype(), out_shape(n, c, &g), y)
    })
}

/// MaxUnpool: see the module documentation.
pub fn max_unpool(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (x, ix) = (args.input(0)?, args.input(1)?);
    let (n, c, spatial) = split(args.op, &x.shape)?;
    if ix.shape != x.shape {
        return Err(args.invalid(format!(
            "I {:?} must have X's shape {:?}",
            ix.shape, x.shape
        )));
    }
    let rank = spatial.len();
    let kernel = args
        .attrs
        .ints("kernel_shape")?
        .ok_or_else(|| args.invalid("attribute kernel_shape is required"))?;
    let strides = args
        .attrs
        .ints("strides")?
        .map_or(vec![1; rank], <[i64]>::to_vec);
    let pads = args
        .attrs
        .ints("pads")?
        .map_or(vec![0; 2 * rank], <[i64]>::to_vec);
    if kernel.len() != rank || strides.len() != rank || pads.len() != 2 * rank {
        return Err(args.invalid("kernel_shape, strides and pads must fit X's spatial rank"));
    }
    let mut inferred = vec![n, c];
    for i in 0..rank {
        let d = (spatial[i] as i64 - 1) * strides[i] + kernel[i] - pads[i] - pads[rank + i];
        if d < 1 {
            return Err(args.invalid(format!("spatial axis {i} unpools to size {d}")));
        }
        inferred.push(d as usize);
    }
    let output = match args.optional(2) {
        None => inferred.clone(),
        Some(s) => {
            let v = s.to_indices()?;
            if v.len() != inferred.len() || v.iter().zip(&inferred).any(|(&o, &i)| o < i as i64) {
                return Err(args.invalid(format!(
                    "output_shape {v:?} must hold the unpooled shape {inferred:?}"
                )));
            }
            v.iter().map(|&d| d as usize).collect()
        }
    };
    let total: usize = inferred.iter().product();
    let idx = ix.to_indices()?;
    with_real!(x.dtype(), T => {
        let xv = x.to_real::<T>()?;
        let mut flat = vec![T::ZERO; total];
        for (&v, &i) in xv.iter().zip(&idx) {
            let i = usize::try_from(i)
                .ok()
                .filter(|&i| i < total)
                .ok_or_else(|| args.invalid(format!("index {i} outside {total} elements")))?;
            flat[i] = v;
        }
        // Row-major offsets of the unpooled tensor inside the output.
        let size: usize = output.iter().product();
        let mut y = vec![T::ZERO; size];
        let mut coord = vec![0usize; output.len()];
        for (e, &v) in flat.iter().enumerate() {
            let mut rest = e;
            for a in (0..inferred.len()).rev() {
                coord[a] = rest % inferred[a];
                rest /= inferred[a];
            }
            let off = coord.iter().zip(&output).fold(0, |o, (&ci, &d)| o * d + ci);
            y[off] = v;
        }
        Tensor::from_real(x.dtype(), output.clone(), y)
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::tensor::{Data, Tensor};
    use xpucert_abi::AttrValue;

    #[test]
    fn lp_pool_norms_with_padding_as_zero() {
        let x = Tensor::f32(&[1, 1, 3], vec![3.0, -4.0, 12.0]).unwrap();
        let k = AttrValue::Ints(&[2]);
        let pads = AttrValue::Ints(&[1, 0]);
        let y = run(
            "LpPool",
            &[("kernel_shape", k), ("pads", pads)],
            vec![Some(x)],
        )
        .unwrap();
        assert_eq!(y[0].data, Data::F32(vec![3.0, 5.0, 160.0f32.sqrt()]));
    }

    #[test]
    fn max_unpool_into_a_larger_output_shape() {
        let x = Tensor::f32(&[1, 1, 2, 2], vec![5.0, 6.0, 7.0, 8.0]).unwrap();
        let i = Tensor::new(vec![1, 1, 2, 2], Data::I64(vec![5, 7, 13, 15])).unwrap();
        let s = Tensor::new(vec![4], Data::I64(vec![1, 1, 5, 5])).unwrap();
        let k = AttrValue::Ints(&[2, 2]);
        let st = AttrValue::Ints(&[2, 2]);
        let y = run(
            "MaxUnpool",
            &[("kernel_shape", k), ("strides", st)],
            vec![Some(x), Some(i), Some(s)],
        )
        .unwrap();
        let mut want = vec![0.0f32; 25];
        want[6] = 5.0;
        want[8] = 6.0;
        want[16] = 7.0;
        want[18] = 8.0;
        assert_eq!(y[0].data, Data::F32(want));
    }
}
