//! Einsum (12) and Det (11, 22).
//!
//! Einsum parses the equation into one label per letter and per ellipsis
//! dimension, then runs one loop over the output's labels and, inside it,
//! over the summed labels, reading each operand through per-label strides
//! (a repeated letter adds its axes' strides: the diagonal; a broadcast 1
//! has stride 0). Floats accumulate in f32 (f64 for f64) in that order;
//! integers in i128, wrapped into the dtype at the end.
//!
//! Det is LU with partial pivoting in f32 (f64 for f64), the determinant
//! the signed product of the pivots.

use xpucert_abi::BackendError;

use super::Args;
use super::logic::{from_ints, int_values};
use crate::tensor::{Real, Tensor, with_real};

/// A resolved equation (see the module documentation).
struct Equation {
    sizes: Vec<usize>,
    /// Per operand: the stride of every label.
    strides: Vec<Vec<usize>>,
    output: Vec<usize>,
    summed: Vec<usize>,
}

/// Splits a term into letters and at most one ellipsis (`None`).
fn symbols(args: &Args<'_>, term: &str) -> Result<Vec<Option<u8>>, BackendError> {
    let mut out = Vec::new();
    let mut rest = term.as_bytes();
    while let Some(&c) = rest.first() {
        if c.is_ascii_alphabetic() {
            out.push(Some(c));
            rest = &rest[1..];
        } else if rest.starts_with(b"...") && !out.contains(&None) {
            out.push(None);
            rest = &rest[3..];
        } else {
            return Err(args.invalid(format!("malformed term {term:?}")));
        }
    }
    Ok(out)
}

fn resolve(args: &Args<'_>, shapes: &[&[usize]]) -> Result<Equation, BackendError> {
    let text: String = args
        .attrs
        .string("equation", "")?
        .chars()
        .filter(|&c| c != ' ')
        .collect();
    let (lhs, rhs) = match text.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (text.as_str(), None),
    };
    let terms = lhs
        .split(',')
        .map(|t| symbols(args, t))
        .collect::<Result<Vec<_>, _>>()?;
    if terms.len() != shapes.len() {
        return Err(args.invalid("term count differs from the input count"));
    }
    let mut ell: Option<usize> = None;
    for (t, s) in terms.iter().zip(shapes) {
        let letters = t.iter().filter(|c| c.is_some()).count();
        if t.contains(&None) {
            let r = s
                .len()
                .checked_sub(letters)
                .ok_or_else(|| args.invalid("rank"))?;
            if ell.is_some_and(|e| e != r) {
                return Err(args.invalid("ellipses of different ranks"));
            }
            ell = Some(r);
        } else if letters != s.len() {
            return Err(args.invalid("rank differs from the term"));
        }
    }
    let e = ell.unwrap_or(0);
    // Labels: 0..e the ellipsis dims, then 52 letters at e + slot.
    let slot = |c: u8| {
        e + if c.is_ascii_uppercase() {
            (c - b'A') as usize
        } else {
            26 + (c - b'a') as usize
        }
    };
    let mut sizes = vec![0usize; e + 52];
    let mut seen = vec![0usize; e + 52];
    let mut axes_of: Vec<Vec<usize>> = Vec::new();
    for (t, s) in terms.iter().zip(shapes) {
        let mut labels = Vec::new();
        for c in t {
            match c {
                Some(c) => labels.push(slot(*c)),
                None => labels.extend(0..e),
            }
        }
        for (&l, &n) in labels.iter().zip(s.iter()) {
            let is_ell = l < e;
            if seen[l] > 0 && sizes[l] != n {
                if is_ell && (n == 1 || sizes[l] == 1) {
                    sizes[l] = sizes[l].max(n);
                } else {
                    return Err(args.invalid("a label's sizes differ"));
                }
            } else if seen[l] == 0 {
                sizes[l] = n;
            }
            seen[l] += 1;
        }
        axes_of.push(labels);
    }
    let output: Vec<usize> = match rhs {
        Some(r) => {
            let mut out = Vec::new();
            for c in symbols(args, r)? {
                match c {
                    Some(c) if seen[slot(c)] > 0 && !out.contains(&slot(c)) => out.push(slot(c)),
                    Some(_) => return Err(args.invalid("bad output label")),
                    None => out.extend(0..e),
                }
            }
            out
        }
        None => (0..e)
            .chain((e..e + 52).filter(|&l| seen[l] == 1))
            .collect(),
    };
    let summed: Vec<usize> = (0..e + 52)
        .filter(|&l| (l < e || seen[l] > 0) && !output.contains(&l))
        .collect();
    let strides = axes_of
        .iter()
        .zip(shapes)
        .map(|(labels, s)| {
            let mut st = vec![0usize; e + 52];
            let mut step = 1;
            for (&l, &n) in labels.iter().zip(s.iter()).rev() {
                if !(l < e && n == 1 && sizes[l] != 1) {
                    st[l] += step;
                }
                step *= n;
            }
            st
        })
        .collect();
    Ok(Equation {
        sizes,
        strides,
        output,
        summed,
    })
}

/// Calls `f(output element, operand offsets)` for every term of every
/// output element, in row-major order of the output and of the summed
/// labels.
fn walk(eq: &Equation, mut f: impl FnMut(usize, &[usize])) -> usize {
    let odims: Vec<usize> = eq.output.iter().map(|&l| eq.sizes[l]).collect();
    let sdims: Vec<usize> = eq.summed.iter().map(|&l| eq.sizes[l]).collect();
    let total: usize = odims.iter().product();
    let per: usize = sdims.iter().product();
    let mut oi = vec![0usize; odims.len()];
    let mut si = vec![0usize; sdims.len()];
    let mut offs = vec![0usize; eq.strides.len()];
    for o in 0..total {
        si.iter_mut().for_each(|x| *x = 0);
        for _ in 0..per {
            for (k, st) in eq.strides.iter().enumerate() {
                offs[k] = eq
                    .output
                    .iter()
                    .zip(&oi)
                    .map(|(&l, &i)| st[l] * i)
                    .sum::<usize>()
                    + eq.summed
                        .iter()
                        .zip(&si)
                        .map(|(&l, &i)| st[l] * i)
                        .sum::<usize>();
            }
            f(o, &offs);
            odometer(&mut si, &sdims);
        }
        odometer(&mut oi, &odims);
    }
    total
}

fn odometer(index: &mut [usize], dims: &[usize]) {
    for a in (0..dims.len()).rev() {
        index[a] += 1;
        if index[a] < dims[a] {
            return;
        }
        index[a] = 0;
    }
}

/// Einsum-12.
pub fn einsum(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let inputs: Vec<&Tensor> = (0..args.inputs.len())
        .map(|i| args.input(i))
        .collect::<Result<_, _>>()?;
    let shapes: Vec<&[usize]> = inputs.iter().map(|t| t.shape.as_slice()).collect();
    let eq = resolve(args, &shapes)?;
    let shape: Vec<usize> = eq.output.iter().map(|&l| eq.sizes[l]).collect();
    let dtype = inputs[0].dtype();
    if let Some(first) = int_values(inputs[0]) {
        let mut values = vec![first];
        for t in &inputs[1..] {
            values.push(int_values(t).ok_or_else(|| args.invalid("mixed dtypes"))?);
        }
        let total: usize = shape.iter().product();
        let mut y = vec![0i128; total];
        walk(&eq, |o, offs| {
            let p = values
                .iter()
                .zip(offs)
                .fold(1i128, |p, (v, &i)| p.wrapping_mul(v[i]));
            y[o] = y[o].wrapping_add(p);
        });
        return from_ints(dtype, shape, y);
    }
    with_real!(dtype, T => {
        let values: Vec<Vec<T>> = inputs.iter().map(|t| t.to_real::<T>()).collect::<Result<_, _>>()?;
        let total: usize = shape.iter().product();
        let mut y = vec![T::ZERO; total];
        walk(&eq, |o, offs| {
            let p = values.iter().zip(offs).fold(T::ONE, |p, (v, &i)| p * v[i]);
            y[o] += p;
        });
        Tensor::from_real(dtype, shape, y)
    })
}

/// The determinant of a row-major n x n matrix by LU, with partial
/// pivoting when `pivoting` (without: the mutants' naive elimination).
fn determinant<T: Real>(a: &mut [T], n: usize, pivoting: bool) -> T {
    let abs = |x: T| if x < T::ZERO { -x } else { x };
    let mut det = T::ONE;
    for k in 0..n {
        let mut p = k;
        for i in (k + 1..n).filter(|_| pivoting) {
            if abs(a[i * n + k]) > abs(a[p * n + k]) {
                p = i;
            }
        }
        if p != k {
            for j in 0..n {
                a.swap(k * n + j, p * n + j);
            }
            det = -det;
        }
        let pivot = a[k * n + k];
        det *= pivot;
        if pivot == T::ZERO {
            return det;
        }
        for i in k + 1..n {
            let l = a[i * n + k] / pivot;
            for j in k + 1..n {
                let u = a[k * n + j];
                a[i * n + j] = a[i * n + j] - l * u;
            }
        }
    }
    det
}

/// Det-11 and Det-22 (the same semantics; 22 adds bfloat16).
pub fn det(args: &Args<'_>) -> Result<Tensor, BackendError> {
    det_with(args, true)
}

/// Det by LU with (`pivoting`) or without row exchanges.
pub fn det_with(args: &Args<'_>, pivoting: bool) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let r = x.shape.len();
    if r < 2 || x.shape[r - 1] != x.shape[r - 2] {
        return Err(args.invalid(format!("X {:?} is not [*, M, M]", x.shape)));
    }
    let n = x.shape[r - 1];
    let batch = x.shape[..r - 2].to_vec();
    with_real!(x.dtype(), T => {
        let v = x.to_real::<T>()?;
        let count: usize = batch.iter().product();
        let y: Vec<T> = (0..count)
            .map(|b| determinant(&mut v[b * n * n..(b + 1) * n * n].to_vec(), n, pivoting))
            .collect();
        Tensor::from_real(x.dtype(), batch, y)
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

    fn f32s(t: &Tensor) -> Vec<f32> {
        match &t.data {
            Data::F32(v) => v.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn einsum_forms() {
        let a = Tensor::f32(&[2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let b = Tensor::f32(&[2, 2], vec![5.0, -6.0, 7.0, 8.0]).unwrap();
        let eq = |e| [("equation", AttrValue::String(e))];
        let y = one(
            "Einsum",
            &eq("ij,jk->ik"),
            vec![Some(a.clone()), Some(b.clone())],
        );
        assert_eq!(f32s(&y), [19.0, 10.0, 43.0, 14.0]);
        let y = one("Einsum", &eq("kj,ji"), vec![Some(a.clone()), Some(b)]);
        assert_eq!(f32s(&y), [19.0, 43.0, 10.0, 14.0]);
        let y = one("Einsum", &eq("ii"), vec![Some(a.clone())]);
        assert_eq!((y.shape.clone(), f32s(&y)), (vec![], vec![5.0]));
        let y = one("Einsum", &eq("...ii->...i"), vec![Some(a.clone())]);
        assert_eq!(f32s(&y), [1.0, 4.0]);
        let c = Tensor::f32(&[1, 2], vec![1.0, -1.0]).unwrap();
        let y = one("Einsum", &eq("...j,...j->..."), vec![Some(a), Some(c)]);
        assert_eq!(f32s(&y), [-1.0, -1.0]);
    }

    #[test]
    fn det_pivots() {
        // A zero leading entry needs the row swap.
        // [[2,1],[4,3]]: pivot 4, l = 1/2, u = 1 - 3/2; det = -(4 * -1/2).
        let x = Tensor::f32(&[2, 2, 2], vec![0.0, 1.0, 1.0, 0.0, 2.0, 1.0, 4.0, 3.0]).unwrap();
        let y = one("Det", &[], vec![Some(x)]);
        assert_eq!(f32s(&y), [-1.0, 2.0]);
    }
}
