//! ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp
//! and ReduceSumSquare (axes as an attribute before 18, as an input from
//! 18); ArgMax and ArgMin (select_last_index from 12); CumSum; Hardmax (11
//! coerces to 2-D, 13 works along one axis).

use xpucert_abi::BackendError;

use super::Args;
use super::reduce::reduced_axes;
use crate::layout::{broadcast_offsets, normalize_axis, split_at_axis};
use crate::tensor::{Data, Real, Tensor, with_real};

/// |v| for the kernels' float types.
fn abs<T: Real>(v: T) -> T {
    if v < T::ZERO { -v } else { v }
}

/// The seven reductions on floats; ReduceMin also on integers and bool. With `noop_with_empty_axes=1` and no
/// axes, every element is reduced alone (ReduceSumSquare squares it,
/// ReduceL1/L2 take |x|, ReduceLogSum its log), as ONNX's reference does.
pub fn reduce(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let keepdims = args.attrs.int("keepdims", 1)? != 0;
    let axes = reduced_axes(args, x.shape.len())?.unwrap_or_default();
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
    // For each input element (row-major) the output slot it folds into.
    let slot = broadcast_offsets(&kept, &x.shape)?;
    let outputs: usize = kept.iter().product();
    if args.op == "ReduceMin" && !x.dtype().is_float() {
        let out = super::reduce::integer_extremes(x, &slot, outputs, false)?;
        return super::logic::from_ints(x.dtype(), out_shape, out);
    }
    with_real!(x.dtype(), T => {
        let v = x.to_real::<T>()?;
        let out: Vec<T> = match args.op {
            "ReduceMin" => {
                let mut acc = vec![-T::NEG_INFINITY; outputs];
                for (&s, &e) in slot.iter().zip(&v) {
                    // NaN wins: once a slot is NaN it stays NaN.
                    if !acc[s].is_nan() && (e.is_nan() || e < acc[s]) {
                        acc[s] = e;
                    }
                }
                acc
            }
            "ReduceProd" => {
                let mut acc = vec![T::ONE; outputs];
                for (&s, &e) in slot.iter().zip(&v) {
                    acc[s] *= e;
                }
                acc
            }
            "ReduceLogSumExp" => {
                let mut max = vec![T::NEG_INFINITY; outputs];
                for (&s, &e) in slot.iter().zip(&v) {
                    if !max[s].is_nan() && (e.is_nan() || e > max[s]) {
                        max[s] = e;
                    }
                }
                let mut sum = vec![T::ZERO; outputs];
                for (&s, &e) in slot.iter().zip(&v) {
                    sum[s] += (e - max[s]).exp();
                }
                max.iter()
                    .zip(&sum)
                    .map(|(&m, &s)| {
                        // All -inf (or empty): -inf; a +inf: +inf.
                        if m == T::NEG_INFINITY || -m == T::NEG_INFINITY {
                            m
                        } else {
                            m + s.ln()
                        }
                    })
                    .collect()
            }
            op => {
                let term = |e: T| match op {
                    "ReduceL1" => abs(e),
                    "ReduceLogSum" => e,
                    _ => e * e,
                };
                let mut acc = vec![T::ZERO; outputs];
                for (&s, &e) in slot.iter().zip(&v) {
                    acc[s] += term(e);
                }
                match op {
                    "ReduceL2" => acc.iter_mut().for_each(|a| *a = a.sqrt()),
                    "ReduceLogSum" => acc.iter_mut().for_each(|a| *a = a.ln()),
                    _ => {}
                }
                acc
            }
        };
        Tensor::from_real(x.dtype(), out_shape, out)
    })
}

/// ArgMax/ArgMin's parameters: the axis (default 0, its lane non-empty),
/// keepdims, and select_last_index (from 12; 0 or 1).
fn arg_params(args: &Args<'_>, x: &Tensor) -> Result<(usize, bool, bool), BackendError> {
    let axis = normalize_axis(args.attrs.int("axis", 0)?, x.shape.len(), args.op)?;
    if x.shape[axis] == 0 {
        return Err(args.invalid(format!("axis {axis} of {:?} is empty", x.shape)));
    }
    let keepdims = args.attrs.int("keepdims", 1)? != 0;
    let last = match args.attrs.int("select_last_index", 0)? {
        0 => false,
        1 if args.opset >= 12 => true,
        1 => {
            return Err(args.invalid(format!(
                "select_last_index arrived at opset 12 (this call is at {})",
                args.opset
            )));
        }
        v => return Err(args.invalid(format!("select_last_index must be 0 or 1, got {v}"))),
    };
    Ok((axis, keepdims, last))
}

/// The index of the extreme of each lane of `v` (shaped `outer, len,
/// inner` around the axis): the largest (`max`) or smallest, the first of
/// equal ones unless `last`; NaN wins over every number (numpy's argmax
/// and argmin, which ONNX's reference uses).
fn extremes<T: Copy + PartialOrd>(
    v: &[T],
    (outer, len, inner): (usize, usize, usize),
    max: bool,
    last: bool,
    is_nan: impl Fn(T) -> bool,
) -> Vec<i64> {
    let mut out = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| v[(o * len + j) * inner + i];
            let mut best = 0;
            for j in 1..len {
                let (b, e) = (at(best), at(j));
                let better = if is_nan(b) {
                    last && is_nan(e)
                } else if is_nan(e) {
                    true
                } else if e == b {
                    last
                } else {
                    (e > b) == max
                };
                if better {
                    best = j;
                }
            }
            out.push(best as i64);
        }
    }
    out
}

/// ArgMax and ArgMin on floats, int32 and int64: int64 indices along the
/// axis, the axis kept as 1 (keepdims) or dropped.
pub fn arg_extreme(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let (axis, keepdims, last) = arg_params(args, x)?;
    let split = split_at_axis(&x.shape, axis);
    let max = args.op == "ArgMax";
    let index = match &x.data {
        Data::I64(v) => extremes(v, split, max, last, |_| false),
        Data::I32(v) => extremes(v, split, max, last, |_| false),
        // Every float dtype widens to f64 exactly, so ties stay ties.
        _ => extremes(&x.to_real::<f64>()?, split, max, last, f64::is_nan),
    };
    let mut shape = x.shape.clone();
    if keepdims {
        shape[axis] = 1;
    } else {
        shape.remove(axis);
    }
    Tensor::new(shape, Data::I64(index))
}

/// CumSum's axis (a 0-D tensor, or 1-D with one element), exclusive and
/// reverse.
fn cumsum_params(args: &Args<'_>, x: &Tensor) -> Result<(usize, bool, bool), BackendError> {
    let a = args.input(1)?;
    let given = a.to_indices()?;
    if a.shape.len() > 1 || given.len() != 1 {
        return Err(args.invalid(format!(
            "axis must be a 0-D tensor, got shape {:?}",
            a.shape
        )));
    }
    let axis = normalize_axis(given[0], x.shape.len(), args.op)?;
    let flag = |name: &str| match args.attrs.int(name, 0)? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(args.invalid(format!("{name} must be 0 or 1, got {v}"))),
    };
    Ok((axis, flag("exclusive")?, flag("reverse")?))
}

/// Running sums (or products: `add` combines) of every lane of `v` in
/// place, sequential along the axis.
fn running<T: Copy>(
    v: &mut [T],
    (outer, len, inner): (usize, usize, usize),
    exclusive: bool,
    reverse: bool,
    zero: T,
    add: impl Fn(T, T) -> T,
) {
    for o in 0..outer {
        for i in 0..inner {
            let mut acc = zero;
            for k in 0..len {
                let j = if reverse { len - 1 - k } else { k };
                let at = (o * len + j) * inner + i;
                let e = v[at];
                if exclusive {
                    v[at] = acc;
                    acc = add(acc, e);
                } else {
                    acc = add(acc, e);
                    v[at] = acc;
                }
            }
        }
    }
}

/// CumSum (11, 14) on floats, int32 and int64 (integers wrap).
pub fn cumsum(args: &Args<'_>) -> Result<Tensor, BackendError> {
    scan(args, false)
}

/// CumProd (26): CumSum's scan, multiplying (integers wrap).
pub fn cumprod(args: &Args<'_>) -> Result<Tensor, BackendError> {
    scan(args, true)
}

/// The running sums (or, with `product`, products) of CumSum and CumProd,
/// floats in f32 (f64 for f64) and rounded once at the end.
fn scan(args: &Args<'_>, product: bool) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let (axis, exclusive, reverse) = cumsum_params(args, x)?;
    let split = split_at_axis(&x.shape, axis);
    let data = match &x.data {
        Data::I64(v) => {
            let mut v = v.clone();
            if product {
                running(&mut v, split, exclusive, reverse, 1, i64::wrapping_mul);
            } else {
                running(&mut v, split, exclusive, reverse, 0, i64::wrapping_add);
            }
            Data::I64(v)
        }
        Data::I32(v) => {
            let mut v = v.clone();
            if product {
                running(&mut v, split, exclusive, reverse, 1, i32::wrapping_mul);
            } else {
                running(&mut v, split, exclusive, reverse, 0, i32::wrapping_add);
            }
            Data::I32(v)
        }
        _ => {
            return with_real!(x.dtype(), T => {
                let mut v = x.to_real::<T>()?;
                if product {
                    running(&mut v, split, exclusive, reverse, T::ONE, |a, b| a * b);
                } else {
                    running(&mut v, split, exclusive, reverse, T::ZERO, |a, b| a + b);
                }
                Tensor::from_real(x.dtype(), x.shape.clone(), v)
            });
        }
    };
    Tensor::new(x.shape.clone(), data)
}

/// Hardmax: 1 at the first maximum of each lane, 0 elsewhere. Opset 13:
/// lanes along `axis` (default -1); 11: the input as a 2-D matrix of
/// `prod(shape[..axis])` rows (axis default 1), one lane per row.
pub fn hardmax(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let coerced = args.opset < 13;
    let default = if coerced { 1 } else { -1 };
    let axis = normalize_axis(args.attrs.int("axis", default)?, x.shape.len(), args.op)?;
    let split = if coerced {
        let rows = x.shape[..axis].iter().product();
        (rows, x.shape[axis..].iter().product(), 1)
    } else {
        split_at_axis(&x.shape, axis)
    };
    let v = x.to_real::<f64>()?;
    let index = if split.1 == 0 {
        Vec::new()
    } else {
        extremes(&v, split, true, false, f64::is_nan)
    };
    let (_, len, inner) = split;
    let mut out = vec![0.0f64; v.len()];
    for (lane, &j) in index.iter().enumerate() {
        let (o, i) = (lane / inner, lane % inner);
        out[(o * len + j as usize) * inner + i] = 1.0;
    }
    Tensor::from_real(x.dtype(), x.shape.clone(), out)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::tensor::{Data, Tensor};
    use xpucert_abi::{AttrValue, DType, Status};

    fn x() -> Option<Tensor> {
        f32t(&[2, 3], &[1., 2., 3., 4., 5., -6.])
    }

    fn axes(a: &[i64]) -> Option<Tensor> {
        i64t(&[a.len()], a)
    }

    #[test]
    fn seven_reductions_at_18() {
        let at18 = |op: &str| values(&run_at(op, 18, &[], vec![x(), axes(&[1])]).unwrap()[0]);
        assert_eq!(at18("ReduceMin"), vec![1., -6.]);
        assert_eq!(at18("ReduceProd"), vec![6., -120.]);
        assert_eq!(at18("ReduceL1"), vec![6., 15.]);
        assert_eq!(at18("ReduceSumSquare"), vec![14., 77.]);
        assert_close(&at18("ReduceL2"), &[14f32.sqrt(), 77f32.sqrt()], 1e-7);
        assert_close(&at18("ReduceLogSum"), &[6f32.ln(), 3f32.ln()], 1e-7);
        let lse = |r: &[f32]| {
            let m = r.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            m + r.iter().map(|v| (v - m).exp()).sum::<f32>().ln()
        };
        assert_close(
            &at18("ReduceLogSumExp"),
            &[lse(&[1., 2., 3.]), lse(&[4., 5., -6.])],
            1e-7,
        );
    }

    #[test]
    fn axes_attribute_before_18() {
        let a = [
            ("axes", AttrValue::Ints(&[0])),
            ("keepdims", AttrValue::Int(0)),
        ];
        let y = run_at("ReduceMin", 13, &a, vec![x()]).unwrap().remove(0);
        assert_eq!((y.shape.clone(), values(&y)), (vec![3], vec![1., 2., -6.]));
        let y = run_at("ReduceSum", 11, &a, vec![x()]).unwrap().remove(0);
        assert_eq!(values(&y), vec![5., 7., -3.]);
        let y = run_at("ReduceMean", 13, &a, vec![x()]).unwrap().remove(0);
        assert_eq!(values(&y), vec![2.5, 3.5, -1.5]);
        // No axes: every axis.
        let y = run_at("ReduceMax", 11, &[], vec![x()]).unwrap().remove(0);
        assert_eq!((y.shape.clone(), values(&y)), (vec![1, 1], vec![5.]));
    }

    #[test]
    fn noop_empty_sets_and_specials() {
        let noop = [("noop_with_empty_axes", AttrValue::Int(1))];
        let y = run_at("ReduceSumSquare", 18, &noop, vec![x(), None]).unwrap();
        assert_eq!(values(&y[0]), vec![1., 4., 9., 16., 25., 36.]);
        let empty = f32t(&[2, 0], &[]);
        let on_empty =
            |op: &str| values(&run_at(op, 18, &[], vec![empty.clone(), axes(&[1])]).unwrap()[0]);
        assert_eq!(on_empty("ReduceMin"), vec![f32::INFINITY; 2]);
        assert_eq!(on_empty("ReduceProd"), vec![1.; 2]);
        assert_eq!(on_empty("ReduceLogSumExp"), vec![f32::NEG_INFINITY; 2]);
        assert_eq!(on_empty("ReduceLogSum"), vec![f32::NEG_INFINITY; 2]);
        let big = f32t(&[3], &[1000., 1000., f32::NAN]);
        let y = run_at("ReduceLogSumExp", 18, &[], vec![big, None]).unwrap();
        assert!(values(&y[0])[0].is_nan());
        let big = f32t(&[2], &[1000., 1000.]);
        let y = run_at("ReduceLogSumExp", 18, &[], vec![big, None]).unwrap();
        assert_close(&values(&y[0]), &[1000. + 2f32.ln()], 1e-7);
    }

    fn indices(t: &Tensor) -> Vec<i64> {
        match &t.data {
            Data::I64(v) => v.clone(),
            other => panic!("expected i64, got {other:?}"),
        }
    }

    #[test]
    fn argmax_argmin_ties() {
        let t = f32t(&[2, 3], &[1., 3., 3., 2., 2., -1.]);
        let a1 = [("axis", AttrValue::Int(1))];
        let y = run_at("ArgMax", 12, &a1, vec![t.clone()])
            .unwrap()
            .remove(0);
        assert_eq!((y.shape.clone(), indices(&y)), (vec![2, 1], vec![1, 0]));
        let last = [
            ("axis", AttrValue::Int(1)),
            ("select_last_index", AttrValue::Int(1)),
            ("keepdims", AttrValue::Int(0)),
        ];
        let y = run_at("ArgMax", 12, &last, vec![t.clone()])
            .unwrap()
            .remove(0);
        assert_eq!((y.shape.clone(), indices(&y)), (vec![2], vec![2, 1]));
        let y = run_at("ArgMin", 13, &last, vec![t.clone()])
            .unwrap()
            .remove(0);
        assert_eq!(indices(&y), vec![0, 2]);
        let e = run_at("ArgMin", 11, &last, vec![t]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        let ints = Some(Tensor::new(vec![4], Data::I32(vec![5, -1, 5, -1])).unwrap());
        let y = run_at("ArgMin", 12, &[], vec![ints]).unwrap().remove(0);
        assert_eq!(indices(&y), vec![1]);
        let nan = f32t(&[3], &[1., f32::NAN, 2.]);
        let y = run_at("ArgMin", 12, &[], vec![nan]).unwrap().remove(0);
        assert_eq!(indices(&y), vec![1]);
    }

    #[test]
    fn cumsum_modes() {
        let axis = |a: i64| Some(Tensor::new(vec![], Data::I64(vec![a])).unwrap());
        let run = |attrs: &[(&str, AttrValue<'_>)], a: i64| {
            values(&run_at("CumSum", 14, attrs, vec![x(), axis(a)]).unwrap()[0])
        };
        assert_eq!(run(&[], 1), vec![1., 3., 6., 4., 9., 3.]);
        assert_eq!(run(&[], -2), vec![1., 2., 3., 5., 7., -3.]);
        assert_eq!(
            run(&[("exclusive", AttrValue::Int(1))], 1),
            vec![0., 1., 3., 0., 4., 9.]
        );
        assert_eq!(
            run(&[("reverse", AttrValue::Int(1))], 1),
            vec![6., 5., 3., 3., -1., -6.]
        );
        let both = [
            ("reverse", AttrValue::Int(1)),
            ("exclusive", AttrValue::Int(1)),
        ];
        assert_eq!(run(&both, 1), vec![5., 3., 0., -1., -6., 0.]);
        let ints = Some(Tensor::new(vec![3], Data::I32(vec![i32::MAX, 1, 1])).unwrap());
        let y = run_at("CumSum", 11, &[], vec![ints, axis(0)])
            .unwrap()
            .remove(0);
        assert_eq!(y.data, Data::I32(vec![i32::MAX, i32::MIN, i32::MIN + 1]));
        let e = run_at("CumSum", 11, &[], vec![x(), i64t(&[2], &[0, 1])]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
    }

    #[test]
    fn hardmax_by_version() {
        let t = f32t(&[2, 2, 2], &[1., 3., 3., 0., 0., 0., 5., 1.]);
        let y = run_at("Hardmax", 13, &[], vec![t.clone()])
            .unwrap()
            .remove(0);
        assert_eq!(values(&y), vec![0., 1., 1., 0., 1., 0., 1., 0.]);
        let y = run_at("Hardmax", 11, &[], vec![t]).unwrap().remove(0);
        assert_eq!(values(&y), vec![0., 1., 0., 0., 0., 0., 1., 0.]);
        let f16 = Some(Tensor::new(vec![2], Data::F16(vec![0x3C00, 0x4000])).unwrap());
        let y = run_at("Hardmax", 13, &[], vec![f16]).unwrap().remove(0);
        assert_eq!(
            (y.dtype(), y.data),
            (DType::F16, Data::F16(vec![0, 0x3C00]))
        );
    }
}
