//! The variadic elementwise ops: Max, Min (every numeric type, NaN
//! propagating) and Sum, Mean (floats), over any number of inputs broadcast
//! together.

use xpucert_abi::BackendError;

use super::Args;
use super::logic::{from_ints, int_values};
use crate::layout::{broadcast_offsets, broadcast_shapes};
use crate::tensor::{Real, Tensor, with_real};

/// The inputs, their broadcast shape, and for each input the flat index of
/// its element at every output position.
type Broadcast<'a> = (Vec<&'a Tensor>, Vec<usize>, Vec<Vec<usize>>);

/// The inputs of a variadic call broadcast together (see [`Broadcast`]).
fn layout<'a>(args: &Args<'a>) -> Result<Broadcast<'a>, BackendError> {
    let inputs: Vec<&Tensor> = (0..args.inputs.len())
        .map(|i| args.input(i))
        .collect::<Result<_, _>>()?;
    if inputs.is_empty() {
        return Err(args.invalid("needs at least one input"));
    }
    let shapes: Vec<&[usize]> = inputs.iter().map(|t| t.shape.as_slice()).collect();
    let shape = broadcast_shapes(&shapes)?;
    let offsets = inputs
        .iter()
        .map(|t| broadcast_offsets(&t.shape, &shape))
        .collect::<Result<_, _>>()?;
    Ok((inputs, shape, offsets))
}

/// Folds the inputs' values (already widened) with `f`, in input order.
fn fold<V: Copy>(
    values: &[Vec<V>],
    offsets: &[Vec<usize>],
    n: usize,
    f: impl Fn(V, V) -> V,
) -> Vec<V> {
    (0..n)
        .map(|k| {
            let mut acc = values[0][offsets[0][k]];
            for (v, o) in values.iter().zip(offsets).skip(1) {
                acc = f(acc, v[o[k]]);
            }
            acc
        })
        .collect()
}

/// Max and Min. Integers compare exactly as i128; floats widened to f64
/// (exact, and the selected value narrows back exactly), NaN when any
/// input is NaN.
pub fn select(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let max = match args.op {
        "Max" => true,
        "Min" => false,
        other => return Err(BackendError::internal(format!("{other} is not Max/Min"))),
    };
    let (inputs, shape, offsets) = layout(args)?;
    let n: usize = shape.iter().product();
    let dtype = inputs[0].dtype();
    if dtype.is_float() {
        let values = inputs
            .iter()
            .map(|t| t.to_real::<f64>())
            .collect::<Result<Vec<_>, _>>()?;
        let v = fold(&values, &offsets, n, |a, b| {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else if max {
                a.max(b)
            } else {
                a.min(b)
            }
        });
        return Tensor::from_real(dtype, shape, v);
    }
    let values = inputs
        .iter()
        .map(|t| {
            int_values(t)
                .ok_or_else(|| BackendError::unsupported(format!("Max/Min on {}", t.dtype())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let v = fold(
        &values,
        &offsets,
        n,
        |a, b| if max { a.max(b) } else { a.min(b) },
    );
    from_ints(dtype, shape, v)
}

/// Sum and Mean: a left-to-right sum in the compute type (f32 for
/// f32/f16/bf16), divided by the count for Mean, rounded once into the
/// output dtype.
pub fn sum(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let mean = match args.op {
        "Sum" => false,
        "Mean" => true,
        other => return Err(BackendError::internal(format!("{other} is not Sum/Mean"))),
    };
    let (inputs, shape, offsets) = layout(args)?;
    let n: usize = shape.iter().product();
    let dtype = inputs[0].dtype();
    with_real!(dtype, T => {
        let values = inputs
            .iter()
            .map(|t| t.to_real::<T>())
            .collect::<Result<Vec<_>, _>>()?;
        let mut v = fold(&values, &offsets, n, |a: T, b: T| a + b);
        if mean {
            let count = T::from_f64(inputs.len() as f64);
            v.iter_mut().for_each(|x| *x /= count);
        }
        Tensor::from_real(dtype, shape, v)
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn max_min_propagate_nan_and_broadcast() {
        let a = f32t(&[3], &[3., 2., 1.]);
        let b = f32t(&[2, 1], &[f32::NAN, 2.5]);
        let y = run1("Max", &[], vec![a.clone(), b.clone()]).unwrap();
        assert_eq!(y.shape, vec![2, 3]);
        let v = values(&y);
        assert!(v[..3].iter().all(|x| x.is_nan()));
        assert_eq!(&v[3..], &[3., 2.5, 2.5]);
        let y = run1("Min", &[], vec![a.clone(), b, f32t(&[], &[1.5])]).unwrap();
        assert_eq!(&values(&y)[3..], &[1.5, 1.5, 1.]);
        let y = run1("Max", &[], vec![a]).unwrap();
        assert_eq!(values(&y), vec![3., 2., 1.]);
        let i = Some(Tensor::new(vec![2], Data::U64(vec![u64::MAX, 0])).unwrap());
        let j = Some(Tensor::new(vec![1], Data::U64(vec![7])).unwrap());
        let y = run1("Min", &[], vec![i, j]).unwrap();
        assert_eq!(y.data, Data::U64(vec![7, 0]));
    }

    #[test]
    fn sum_and_mean() {
        let a = f32t(&[2], &[1., -3.]);
        let b = f32t(&[2], &[2., 3.]);
        let c = f32t(&[], &[0.5]);
        let y = run1("Sum", &[], vec![a.clone(), b.clone(), c.clone()]).unwrap();
        assert_eq!(values(&y), vec![3.5, 0.5]);
        let y = run1("Mean", &[], vec![a, b, c]).unwrap();
        assert_close(&values(&y), &[3.5 / 3., 0.5 / 3.], 1e-7);
    }
}
