//! CenterCropPad (18): each output element reads the input element at its
//! index shifted by the centred crop (or pad) offset of its axis, or zero
//! outside the input: one gather.

use xpucert_abi::BackendError;

use super::Args;
use crate::layout::normalize_axis;
use crate::tensor::Tensor;

/// CenterCropPad-18.
pub fn center_crop_pad(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let sizes = args.input(1)?.to_indices()?;
    let rank = x.shape.len();
    let axes: Vec<usize> = match args.attrs.ints("axes")? {
        None => (0..rank).collect(),
        Some(list) => list
            .iter()
            .map(|&a| normalize_axis(a, rank, "axes"))
            .collect::<Result<_, _>>()?,
    };
    if axes.len() != sizes.len() || sizes.iter().any(|&s| s < 0) {
        return Err(args.invalid(format!("shape {sizes:?} for axes {axes:?}")));
    }
    let mut out = x.shape.clone();
    for (k, &a) in axes.iter().enumerate() {
        if axes[..k].contains(&a) {
            return Err(args.invalid(format!("axis {a} repeated")));
        }
        out[a] = sizes[k] as usize;
    }
    // Output index o reads input index o + shift (negative when padding).
    let shift: Vec<i64> = x
        .shape
        .iter()
        .zip(&out)
        .map(|(&d, &s)| {
            let (d, s) = (d as i64, s as i64);
            if s <= d { (d - s) / 2 } else { -((s - d) / 2) }
        })
        .collect();
    let total: usize = out.iter().product();
    let mut index = Vec::with_capacity(total);
    let mut at = vec![0usize; rank];
    for _ in 0..total {
        let mut flat = Some(0usize);
        for a in 0..rank {
            let i = at[a] as i64 + shift[a];
            flat = match flat {
                Some(f) if (0..x.shape[a] as i64).contains(&i) => Some(f * x.shape[a] + i as usize),
                _ => None,
            };
        }
        index.push(flat);
        for a in (0..rank).rev() {
            at[a] += 1;
            if at[a] < out[a] {
                break;
            }
            at[a] = 0;
        }
    }
    Tensor::new(out, x.data.gather_or_zero(&index))
}
