//! TopK (11): the K largest (or smallest) values along an axis and their
//! int64 indices, for float and integer inputs. Ties go to the lower index;
//! NaN counts as larger than every number (so it comes first for
//! `largest=1`, last for `largest=0`). The output is always sorted, which
//! `sorted=0` permits.

use std::cmp::Ordering;

use xpucert_abi::BackendError;

use super::Args;
use crate::layout::{normalize_axis, split_at_axis};
use crate::tensor::{Data, Tensor};

/// The values of `x` as keys that order exactly: floats widened to f64
/// (exact for every float dtype), integers to i128 (exact for every
/// integer dtype, where f64 would merge neighbours above 2^53).
enum Keys {
    Float(Vec<f64>),
    Int(Vec<i128>),
}

impl Keys {
    fn of(x: &Tensor) -> Result<Keys, BackendError> {
        let int = |v: Vec<i128>| Ok(Keys::Int(v));
        match &x.data {
            Data::I64(v) => int(v.iter().map(|&e| i128::from(e)).collect()),
            Data::I32(v) => int(v.iter().map(|&e| i128::from(e)).collect()),
            Data::I16(v) => int(v.iter().map(|&e| i128::from(e)).collect()),
            Data::U16(v) => int(v.iter().map(|&e| i128::from(e)).collect()),
            Data::I8(v) => int(v.iter().map(|&e| i128::from(e)).collect()),
            Data::U8(v) => int(v.iter().map(|&e| i128::from(e)).collect()),
            _ => Ok(Keys::Float(x.to_real::<f64>()?)),
        }
    }

    /// The order of elements `a` and `b`: NaN above +inf, all NaNs equal.
    fn cmp(&self, a: usize, b: usize) -> Ordering {
        match self {
            Keys::Int(v) => v[a].cmp(&v[b]),
            Keys::Float(v) => {
                let (a, b) = (v[a], v[b]);
                match (a.is_nan(), b.is_nan()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
                }
            }
        }
    }
}

/// TopK: outputs values (input dtype) and indices (int64).
pub fn topk(args: &Args<'_>) -> Result<Vec<Tensor>, BackendError> {
    let (x, k) = (args.input(0)?, args.input(1)?);
    let k_values = k.to_indices()?;
    let [k] = k_values[..] else {
        return Err(args.invalid(format!("K must hold exactly one value, got {k_values:?}")));
    };
    let axis = normalize_axis(args.attrs.int("axis", -1)?, x.shape.len(), args.op)?;
    let largest = args.attrs.int("largest", 1)? != 0;
    let (outer, len, inner) = split_at_axis(&x.shape, axis);
    let k = usize::try_from(k)
        .ok()
        .filter(|&k| k <= len)
        .ok_or_else(|| args.invalid(format!("K = {k} is outside 0..={len}")))?;
    let mut shape = x.shape.clone();
    shape[axis] = k;
    let keys = Keys::of(x)?;
    // The flat index in x of every output element, then the values are
    // gathered from x in its own dtype (no conversion on the way).
    let mut picked = vec![0usize; outer * k * inner];
    let mut indices = vec![0i64; outer * k * inner];
    let mut order: Vec<usize> = Vec::with_capacity(len);
    for o in 0..outer {
        for i in 0..inner {
            let flat = |j: usize| (o * len + j) * inner + i;
            // Best first; equal values by ascending index.
            let better = |&a: &usize, &b: &usize| {
                let by_value = keys.cmp(flat(a), flat(b));
                let by_value = if largest {
                    by_value.reverse()
                } else {
                    by_value
                };
                by_value.then(a.cmp(&b))
            };
            order.clear();
            order.extend(0..len);
            if k > 0 && k < len {
                order.select_nth_unstable_by(k - 1, better);
            }
            order.truncate(k);
            order.sort_unstable_by(better);
            for (r, &j) in order.iter().enumerate() {
                let out = (o * k + r) * inner + i;
                picked[out] = flat(j);
                indices[out] = j as i64;
            }
        }
    }
    Ok(vec![
        Tensor::new(shape.clone(), x.data.gather(&picked))?,
        Tensor::new(shape, Data::I64(indices))?,
    ])
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::tensor::{Data, Tensor};
    use xpucert_abi::{AttrValue, Status};

    #[test]
    fn largest_with_ties_by_lower_index() {
        let x = f32t(&[2, 4], &[1., 3., 3., 2., 0., -1., 5., 5.]);
        let out = run("TopK", &[], vec![x.clone(), i64t(&[1], &[2])]).unwrap();
        assert_eq!(out[0].shape, vec![2, 2]);
        assert_eq!(values(&out[0]), vec![3., 3., 5., 5.]);
        assert_eq!(out[1].data, Data::I64(vec![1, 2, 2, 3]));
        let smallest = [("largest", AttrValue::Int(0))];
        let out = run("TopK", &smallest, vec![x, i64t(&[1], &[3])]).unwrap();
        assert_eq!(values(&out[0]), vec![1., 2., 3., -1., 0., 5.]);
        assert_eq!(out[1].data, Data::I64(vec![0, 3, 1, 1, 0, 2]));
    }

    #[test]
    fn along_axis_zero_and_with_nan() {
        let x = f32t(&[3, 2], &[1., f32::NAN, 4., 0., 2., 9.]);
        let axis0 = [("axis", AttrValue::Int(0))];
        let out = run("TopK", &axis0, vec![x, i64t(&[1], &[1])]).unwrap();
        assert_eq!(out[0].shape, vec![1, 2]);
        let v = values(&out[0]);
        assert_eq!(v[0], 4.);
        assert!(v[1].is_nan());
        assert_eq!(out[1].data, Data::I64(vec![1, 0]));
    }

    #[test]
    fn k_out_of_range_is_invalid() {
        let e = run("TopK", &[], vec![f32t(&[2], &[1., 2.]), i64t(&[1], &[3])]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        let e = run(
            "TopK",
            &[],
            vec![f32t(&[2], &[1., 2.]), i64t(&[2], &[1, 1])],
        )
        .unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
    }

    #[test]
    fn integers_order_exactly_beyond_f64_precision() {
        // 2^53 and 2^53 + 1 are one f64; as i64 they are distinct.
        let big = 1i64 << 53;
        let x = Tensor::new(vec![4], Data::I64(vec![big, big + 1, -5, big])).ok();
        let out = run("TopK", &[], vec![x, i64t(&[1], &[3])]).unwrap();
        assert_eq!(out[0].data, Data::I64(vec![big + 1, big, big]));
        assert_eq!(out[1].data, Data::I64(vec![1, 0, 3]));
        let x = Tensor::new(vec![3], Data::U8(vec![7, 200, 7])).ok();
        let smallest = [("largest", AttrValue::Int(0))];
        let out = run("TopK", &smallest, vec![x, i64t(&[1], &[2])]).unwrap();
        assert_eq!(out[0].data, Data::U8(vec![7, 7]));
        assert_eq!(out[1].data, Data::I64(vec![0, 2]));
    }
}
