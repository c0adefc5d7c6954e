//! ReduceSum (13), ReduceMean (18), ReduceMax (18; 20 admits bool): axes come as an optional
//! int64 input (an `axes` attribute in the versions before, from 11); `keepdims` defaults to 1; an empty axes list reduces every
//! axis unless `noop_with_empty_axes` is set, in which case the input passes
//! through unchanged.

use xpucert_abi::{BackendError, DType};

use super::Args;
use super::logic::{from_ints, int_values};
use crate::layout::{broadcast_offsets, normalize_axis};
use crate::tensor::{Real, Tensor, with_real};

/// The reduced axes as a sorted, duplicate-free list (`None`: pass through),
/// from the axes input or, in the versions before it (ReduceSum before 13,
/// the others before 18), the `axes` attribute.
pub(super) fn reduced_axes(
    args: &Args<'_>,
    rank: usize,
) -> Result<Option<Vec<usize>>, BackendError> {
    let given = match args.optional(1) {
        Some(t) => t.to_indices()?,
        None => args
            .attrs
            .ints("axes")?
            .map(<[i64]>::to_vec)
            .unwrap_or_default(),
    };
    if given.is_empty() {
        let noop = args.attrs.int("noop_with_empty_axes", 0)? != 0;
        return Ok(if noop {
            None
        } else {
            Some((0..rank).collect())
        });
    }
    let mut axes = given
        .iter()
        .map(|&a| normalize_axis(a, rank, args.op))
        .collect::<Result<Vec<_>, _>>()?;
    axes.sort_unstable();
    if axes.windows(2).any(|w| w[0] == w[1]) {
        return Err(args.invalid(format!("axes {given:?} repeat an axis")));
    }
    Ok(Some(axes))
}

/// The maximum (`max`) or minimum of each slot's integer or bool elements
/// (bool: false < true), exactly; an empty slot gets the dtype's lowest or
/// highest value, as ONNX specifies (false or true for bool).
pub(super) fn integer_extremes(
    x: &Tensor,
    slot: &[usize],
    outputs: usize,
    max: bool,
) -> Result<Vec<i128>, BackendError> {
    let v = int_values(x).ok_or_else(|| {
        BackendError::unsupported(format!("integer reduction on {} data", x.dtype()))
    })?;
    let mut acc: Vec<Option<i128>> = vec![None; outputs];
    for (&s, &e) in slot.iter().zip(&v) {
        acc[s] = Some(match acc[s] {
            Some(a) if max => a.max(e),
            Some(a) => a.min(e),
            None => e,
        });
    }
    let (lo, hi) = int_range(x.dtype())?;
    Ok(acc
        .into_iter()
        .map(|a| a.unwrap_or(if max { lo } else { hi }))
        .collect())
}

/// The smallest and largest value of an integer or bool dtype.
fn int_range(dtype: DType) -> Result<(i128, i128), BackendError> {
    Ok(match dtype {
        DType::I8 => (i8::MIN.into(), i8::MAX.into()),
        DType::U8 => (0, u8::MAX.into()),
        DType::I16 => (i16::MIN.into(), i16::MAX.into()),
        DType::U16 => (0, u16::MAX.into()),
        DType::I32 => (i32::MIN.into(), i32::MAX.into()),
        DType::U32 => (0, u32::MAX.into()),
        DType::I64 => (i64::MIN.into(), i64::MAX.into()),
        DType::U64 => (0, u64::MAX.into()),
        DType::Bool => (0, 1),
        other => {
            return Err(BackendError::unsupported(format!(
                "integer reduction on {other} data"
            )));
        }
    })
}

/// The three reductions on floats; ReduceMax also on integers and bool.
pub fn reduce(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let keepdims = args.attrs.int("keepdims", 1)? != 0;
    let Some(axes) = reduced_axes(args, x.shape.len())? else {
        return Ok(x.clone());
    };
    let kept: Vec<usize> = x
        .shape
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
        .collect();
    let out_shape: Vec<usize> = if keepdims {
        kept.clone()
    } else {
        x.shape
            .iter()
            .enumerate()
            .filter(|(i, _)| !axes.contains(i))
            .map(|(_, &d)| d)
            .collect()
    };
    // For each input element (row-major) the output slot it folds into; every
    // slot therefore accumulates its inputs in row-major order.
    let slot = broadcast_offsets(&kept, &x.shape)?;
    let outputs: usize = kept.iter().product();
    let count = x.numel().checked_div(outputs).unwrap_or(0);
    if args.op == "ReduceMax" && !x.dtype().is_float() {
        let out = integer_extremes(x, &slot, outputs, true)?;
        return from_ints(x.dtype(), out_shape, out);
    }
    with_real!(x.dtype(), T => {
        let v = x.to_real::<T>()?;
        let out: Vec<T> = match args.op {
            "ReduceMax" => {
                let mut acc = vec![T::NEG_INFINITY; outputs];
                for (&s, &e) in slot.iter().zip(&v) {
                    // NaN wins: once a slot is NaN it stays NaN.
                    if !acc[s].is_nan() && (e.is_nan() || e > acc[s]) {
                        acc[s] = e;
                    }
                }
                acc
            }
            op => {
                let mut acc = vec![T::ZERO; outputs];
                for (&s, &e) in slot.iter().zip(&v) {
                    acc[s] += e;
                }
                if op == "ReduceMean" {
                    let n = T::from_f64(count as f64);
                    acc.iter_mut().for_each(|a| *a /= n);
                }
                acc
            }
        };
        Tensor::from_real(x.dtype(), out_shape, out)
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use xpucert_abi::{AttrValue, Status};

    fn x() -> Option<crate::tensor::Tensor> {
        f32t(&[2, 3], &[1., 2., 3., 4., 5., 6.])
    }

    #[test]
    fn sum_mean_max_over_axes() {
        let y = run1("ReduceSum", &[], vec![x(), i64t(&[1], &[1])]).unwrap();
        assert_eq!((y.shape.clone(), values(&y)), (vec![2, 1], vec![6., 15.]));
        let keep0 = [("keepdims", AttrValue::Int(0))];
        let y = run1("ReduceMean", &keep0, vec![x(), i64t(&[1], &[-2])]).unwrap();
        assert_eq!(
            (y.shape.clone(), values(&y)),
            (vec![3], vec![2.5, 3.5, 4.5])
        );
        let y = run1("ReduceMax", &keep0, vec![x(), None]).unwrap();
        assert_eq!((y.shape.clone(), values(&y)), (vec![], vec![6.]));
        let y = run1("ReduceSum", &[], vec![x(), i64t(&[0], &[])]).unwrap();
        assert_eq!((y.shape.clone(), values(&y)), (vec![1, 1], vec![21.]));
    }

    #[test]
    fn noop_with_empty_axes_passes_through() {
        let noop = [("noop_with_empty_axes", AttrValue::Int(1))];
        let y = run1("ReduceSum", &noop, vec![x(), None]).unwrap();
        assert_eq!(
            (y.shape.clone(), values(&y)),
            (vec![2, 3], vec![1., 2., 3., 4., 5., 6.])
        );
    }

    #[test]
    fn max_propagates_nan_and_empty_reductions() {
        let t = f32t(&[3], &[1., f32::NAN, 3.]);
        let y = run1("ReduceMax", &[], vec![t, None]).unwrap();
        assert!(values(&y)[0].is_nan());
        let empty = f32t(&[2, 0], &[]);
        let y = run1("ReduceSum", &[], vec![empty.clone(), i64t(&[1], &[1])]).unwrap();
        assert_eq!(values(&y), vec![0., 0.]);
        let y = run1("ReduceMax", &[], vec![empty, i64t(&[1], &[1])]).unwrap();
        assert_eq!(values(&y), vec![f32::NEG_INFINITY; 2]);
    }

    #[test]
    fn bad_axes_are_invalid() {
        let e = run1("ReduceSum", &[], vec![x(), i64t(&[1], &[2])]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        let e = run1("ReduceSum", &[], vec![x(), i64t(&[2], &[1, -1])]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
    }
}
