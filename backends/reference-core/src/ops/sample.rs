//! Col2Im (18): a scatter-add of every column entry into the image, in
//! column order. Floats add in f32 (f64 for f64) in an f32 image; integers
//! in i128, wrapped into the dtype at the end.

use xpucert_abi::BackendError;

use super::Args;
use super::logic::{from_ints, int_values};
use crate::tensor::{Tensor, with_real};

/// For every (column row, column) entry of one plane: the image pixel it
/// lands on, or `None` when it falls in the padding.
struct Scatter {
    batch: usize,
    channels: usize,
    kernel: usize,
    blocks: usize,
    image: Vec<usize>,
    /// `[k * blocks + b]`: the pixel of offset k of block b.
    target: Vec<Option<usize>>,
}

fn per_axis(args: &Args<'_>, name: &str, n: usize, default: i64) -> Result<Vec<i64>, BackendError> {
    match args.attrs.ints(name)? {
        None => Ok(vec![default; n]),
        Some(v) if v.len() == n => Ok(v.to_vec()),
        Some(_) => Err(args.invalid(format!("{name} must have {n} values"))),
    }
}

fn plan(args: &Args<'_>) -> Result<Scatter, BackendError> {
    let x = args.input(0)?;
    let image = args.input(1)?.to_indices()?;
    let block = args.input(2)?.to_indices()?;
    let n = image.len();
    if x.shape.len() != 3 || n < 2 || block.len() != n {
        return Err(
            args.invalid("input must be 3-D and image_shape, block_shape of one length >= 2")
        );
    }
    if image.iter().chain(&block).any(|&v| v < 1) {
        return Err(args.invalid("image_shape and block_shape must be positive"));
    }
    let strides = per_axis(args, "strides", n, 1)?;
    let dilations = per_axis(args, "dilations", n, 1)?;
    let pads = per_axis(args, "pads", 2 * n, 0)?;
    if strides.iter().chain(&dilations).any(|&v| v < 1) || pads.iter().any(|&v| v < 0) {
        return Err(args.invalid("strides and dilations must be positive, pads non-negative"));
    }
    let kernel: i64 = block.iter().product();
    let mut grid = Vec::with_capacity(n);
    for a in 0..n {
        let room = image[a] + pads[a] + pads[a + n] - dilations[a] * (block[a] - 1) - 1;
        if room < 0 {
            return Err(args.invalid("the dilated block does not fit the padded image"));
        }
        grid.push(room / strides[a] + 1);
    }
    let blocks: i64 = grid.iter().product();
    if x.shape[1] as i64 % kernel != 0 || x.shape[2] as i64 != blocks {
        return Err(args.invalid(format!("input {:?} does not match the blocks", x.shape)));
    }
    let (kernel, blocks) = (kernel as usize, blocks as usize);
    let mut target = Vec::with_capacity(kernel * blocks);
    for k in 0..kernel {
        for b in 0..blocks {
            let (mut kr, mut br) = (k, b);
            let mut pixel = 0i64;
            let mut pos = vec![0i64; n];
            for a in (0..n).rev() {
                let ka = (kr % block[a] as usize) as i64;
                let ba = (br % grid[a] as usize) as i64;
                kr /= block[a] as usize;
                br /= grid[a] as usize;
                pos[a] = ba * strides[a] - pads[a] + ka * dilations[a];
            }
            let inside = (0..n).all(|a| (0..image[a]).contains(&pos[a]));
            if inside {
                for a in 0..n {
                    pixel = pixel * image[a] + pos[a];
                }
            }
            target.push(inside.then_some(pixel as usize));
        }
    }
    Ok(Scatter {
        batch: x.shape[0],
        channels: x.shape[1] / kernel,
        kernel,
        blocks,
        image: image.iter().map(|&v| v as usize).collect(),
        target,
    })
}

/// Col2Im-18.
pub fn col2im(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let s = plan(args)?;
    let pixels: usize = s.image.iter().product();
    let mut shape = vec![s.batch, s.channels];
    shape.extend(&s.image);
    let planes = s.batch * s.channels;
    let column = s.kernel * s.blocks;
    if let Some(v) = int_values(x) {
        let mut y = vec![0i128; planes * pixels];
        for p in 0..planes {
            for (i, t) in s.target.iter().enumerate() {
                if let Some(t) = t {
                    y[p * pixels + t] = y[p * pixels + t].wrapping_add(v[p * column + i]);
                }
            }
        }
        return from_ints(x.dtype(), shape, y);
    }
    with_real!(x.dtype(), T => {
        let v = x.to_real::<T>()?;
        let mut y = vec![<T as crate::tensor::Real>::ZERO; planes * pixels];
        for p in 0..planes {
            for (i, t) in s.target.iter().enumerate() {
                if let Some(t) = t {
                    y[p * pixels + t] += v[p * column + i];
                }
            }
        }
        Tensor::from_real(x.dtype(), shape, y)
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::tensor::{Data, Tensor};
    use xpucert_abi::AttrValue;

    fn one(op: &str, attrs: &[(&str, AttrValue<'_>)], inputs: Vec<Option<Tensor>>) -> Tensor {
        run1(op, attrs, inputs).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn col2im_adds_overlaps() {
        let x = Tensor::f32(&[1, 2, 2], vec![1.0, 10.0, 2.0, 20.0]).unwrap();
        let ints = |v: Vec<i64>| Tensor::new(vec![v.len()], Data::I64(v)).unwrap();
        let y = one(
            "Col2Im",
            &[("strides", AttrValue::Ints(&[1, 1]))],
            vec![Some(x), Some(ints(vec![1, 3])), Some(ints(vec![1, 2]))],
        );
        assert_eq!(y.shape, [1, 1, 1, 3]);
        assert_eq!(y.data, Data::F32(vec![1.0, 12.0, 20.0]));
    }
}
