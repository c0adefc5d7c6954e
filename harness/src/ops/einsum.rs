//! Linear algebra beyond MatMul: Einsum (12) and Det (11, 22).
//!
//! Einsum follows the ONNX text: terms of upper- and lower-case letters
//! (distinct symbols), an optional `->` and right-hand side, spaces
//! ignored, at most one `...` per term. A letter repeated within a term
//! takes that operand's diagonal; a letter absent from the output is
//! summed. Implicit output: the ellipsis dimensions first, then the
//! letters that occur exactly once in the equation, in ASCII order. Every
//! ellipsis stands for the same number of dimensions (the spec's words;
//! numpy would also right-align ellipses of different ranks, which ONNX
//! does not promise), whose sizes broadcast (a 1 stretches). A letter's
//! size must agree wherever it occurs. The oracle is one generic loop over
//! every assignment of the labels: exact products of exact inputs summed
//! in f64.
//!
//! Einsum's check is the summation bound (`CheckPolicy::SumBound`) with
//! `n` the product of the contracted (summed) dimensions and the magnitude
//! `sum |x_1 ... x_k|` over the summed labels: any order of the sum, any
//! pairwise contraction order and a MatMul lowering stay within it. A
//! product of k factors adds k - 1 roundings per term, which the bound's
//! constant 4 covers up to five operands. With three or more operands a
//! pairwise evaluation must hold k - 2 intermediate tensors, which an
//! implementation keeps in the io dtype (as onnxruntime does for f16), so
//! the io magnitude is `(k - 2) sum |x_1 ... x_k|`: each stored
//! intermediate contributes one io rounding of partial sums bounded by the
//! full magnitude. Integer outputs are exact (wrapped into the dtype).
//!
//! Det: the determinant of each trailing square matrix, by LU with partial
//! pivoting in f64. The check is a first-order error model of an honest LU
//! (`CheckPolicy::ModelBound`, `c = 1`). Gaussian elimination computes
//! factors with `P (A + dA) = L^ U^`, `|dA| <= gamma_n P^T |L^| |U^|`
//! (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed.,
//! Thm. 9.3), and the determinant is the product of the n pivots, n - 1
//! more roundings. Since `d det / d a_ij = C_ij` (the cofactor), to first
//! order
//!   `|det^ - det A| <= n u sum_ij |C_ij| (P^T |L| |U|)_ij + (n - 1) u |det A|`.
//! The magnitude is twice that coefficient of u (doubled, so that an
//! implementation at the worst case does not read as a marginal `warn`,
//! and to absorb the difference between the oracle's factors and the
//! backend's, which are within O(u) of each other): it grows with the
//! condition of the problem rather than with |det|, so an honest f32 LU of
//! an ill-conditioned matrix passes, and a wrong pivot (no pivoting on a
//! small leading entry) or a half-precision factorisation does not. The
//! model is first order: it assumes the cofactors are not all zero when
//! the determinant is (rank n - 1 or more); matrices of rank n - 2 or less
//! are only cased where every honest order gives an exact zero (a zero row
//! or column).

use ndarray::{ArrayD, IxDyn};

use super::rules::{self};
use super::spec::{Arity, TypeVar, fixed};
use super::{
    AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape, Work,
};
use crate::numerics::DType;
use crate::numerics::check::CheckPolicy;

/// Einsum-12's `T`: every integer, f16, f32, f64 (no bfloat16, no fp8).
const T_EINSUM: TypeVar = TypeVar {
    name: "T",
    allowed: &[
        DType::F64,
        DType::F32,
        DType::F16,
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
    ],
};

/// Einsum-12.
pub(super) const EINSUM: OpDef = OpDef {
    spec: OpSpec {
        name: "Einsum",
        domain: "",
        opset: 12,
        arity: Arity::Variadic,
        input_names: &["Inputs"],
        input_types: &[T_EINSUM],
        outputs: 1,
        attributes: &[("equation", AttrType::String)],
    },
    oracle: |c| Ok(vec![einsum(c)?]),
    shape: einsum_shape,
    cost: einsum_cost,
    check: CheckPolicy::SumBound,
    terms: |attrs, shapes, _| {
        let shapes: Vec<&[usize]> = shapes.iter().flatten().map(Vec::as_slice).collect();
        equation(attrs)
            .and_then(|e| Plan::resolve(&e, &shapes))
            .map_or(1, |p| p.contracted())
    },
};

/// The equation attribute (required).
fn equation(attrs: &Attributes) -> std::result::Result<String, String> {
    if !attrs.contains_key("equation") {
        return Err("attribute equation is required".into());
    }
    Ok(attrs.string("equation", "")?.to_string())
}

/// One symbol of a term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sym {
    Letter(u8),
    Ellipsis,
}

/// The symbols of one term, refusing anything but letters and one `...`.
fn parse_term(term: &str, side: &str) -> std::result::Result<Vec<Sym>, String> {
    let bytes = term.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            c if c.is_ascii_alphabetic() => {
                out.push(Sym::Letter(c));
                i += 1;
            }
            b'.' if bytes[i..].starts_with(b"...") => {
                if out.contains(&Sym::Ellipsis) {
                    return Err(format!("{side} term {term:?} has more than one ellipsis"));
                }
                out.push(Sym::Ellipsis);
                i += 3;
            }
            b'.' => {
                return Err(format!(
                    "{side} term {term:?} has a `.` outside an ellipsis"
                ));
            }
            c => {
                return Err(format!(
                    "{side} term {term:?} has the character {:?}: only letters and `...` are allowed",
                    c as char
                ));
            }
        }
    }
    Ok(out)
}

/// A resolved equation: a dense label per letter and per ellipsis
/// dimension, each label's size, and the labels of every operand axis and
/// of the output.
#[derive(Debug, Clone)]
struct Plan {
    /// Size of each label.
    sizes: Vec<usize>,
    /// Per operand, per axis: its label and whether the axis is a broadcast
    /// 1 (always read at index 0).
    operands: Vec<Vec<(usize, bool)>>,
    /// The output's labels.
    output: Vec<usize>,
    /// The labels summed over (in none of the output's axes).
    summed: Vec<usize>,
}

impl Plan {
    /// Resolves `equation` against the operand shapes: the one validity
    /// function the shape rule and the oracle share.
    fn resolve(equation: &str, shapes: &[&[usize]]) -> std::result::Result<Plan, String> {
        let eq: String = equation.chars().filter(|&c| c != ' ').collect();
        let (lhs, rhs) = match eq.split_once("->") {
            Some((l, r)) => {
                if r.contains("->") {
                    return Err(format!("equation {equation:?} has more than one `->`"));
                }
                (l, Some(r))
            }
            None => (eq.as_str(), None),
        };
        let terms: Vec<Vec<Sym>> = lhs
            .split(',')
            .map(|t| parse_term(t, "input"))
            .collect::<std::result::Result<_, _>>()?;
        if terms.len() != shapes.len() {
            return Err(format!(
                "equation {equation:?} has {} input terms, the call {} inputs",
                terms.len(),
                shapes.len()
            ));
        }
        // Ellipsis rank: the same for every operand holding one.
        let mut ellipsis: Option<usize> = None;
        for (k, (term, shape)) in terms.iter().zip(shapes).enumerate() {
            let letters = term.iter().filter(|s| **s != Sym::Ellipsis).count();
            let has = term.contains(&Sym::Ellipsis);
            if (!has && shape.len() != letters) || (has && shape.len() < letters) {
                return Err(format!(
                    "input {k} has rank {} (shape {shape:?}) but its term {:?} names {letters} dimensions{}",
                    shape.len(),
                    term_text(term),
                    if has { " plus an ellipsis" } else { "" }
                ));
            }
            if has {
                let r = shape.len() - letters;
                match ellipsis {
                    Some(e) if e != r => {
                        return Err(format!(
                            "every ellipsis must stand for the same number of dimensions: input {k}'s stands for {r}, an earlier one for {e}"
                        ));
                    }
                    _ => ellipsis = Some(r),
                }
            }
        }
        let e = ellipsis.unwrap_or(0);
        // Labels 0..e are the ellipsis dims; letters follow as met.
        let mut sizes: Vec<Option<usize>> = vec![None; e];
        let mut letter_label: Vec<(u8, usize)> = Vec::new();
        let mut count = [0usize; 128];
        let mut operands = Vec::with_capacity(terms.len());
        for (k, (term, shape)) in terms.iter().zip(shapes).enumerate() {
            let mut axes = Vec::with_capacity(shape.len());
            let mut axis = 0;
            for sym in term {
                match *sym {
                    Sym::Ellipsis => {
                        for (d, label_size) in sizes.iter_mut().enumerate().take(e) {
                            let n = shape[axis];
                            let broadcast = match *label_size {
                                None => {
                                    *label_size = Some(n);
                                    false
                                }
                                Some(m) if m == n => false,
                                Some(_) if n == 1 => true,
                                Some(1) => {
                                    // An earlier 1 stretches to n: mark the
                                    // earlier axes as broadcast below.
                                    *label_size = Some(n);
                                    false
                                }
                                Some(m) => {
                                    return Err(format!(
                                        "ellipsis dimension {d} of input {k} is {n}, elsewhere {m}: they do not broadcast"
                                    ));
                                }
                            };
                            axes.push((d, broadcast));
                            axis += 1;
                        }
                    }
                    Sym::Letter(c) => {
                        count[c as usize] += 1;
                        let n = shape[axis];
                        let label = match letter_label.iter().find(|(l, _)| *l == c) {
                            Some(&(_, label)) => {
                                let m = sizes[label].unwrap_or(n);
                                if m != n {
                                    return Err(format!(
                                        "label {} is {n} in input {k} (shape {shape:?}) but {m} elsewhere",
                                        c as char
                                    ));
                                }
                                label
                            }
                            None => {
                                sizes.push(Some(n));
                                letter_label.push((c, sizes.len() - 1));
                                sizes.len() - 1
                            }
                        };
                        axes.push((label, false));
                        axis += 1;
                    }
                }
            }
            operands.push(axes);
        }
        let sizes: Vec<usize> = sizes.into_iter().map(|s| s.unwrap_or(1)).collect();
        // A 1 met before a larger size of the same ellipsis dimension.
        for (axes, shape) in operands.iter_mut().zip(shapes) {
            for ((label, broadcast), &n) in axes.iter_mut().zip(shape.iter()) {
                if *label < e && n != sizes[*label] {
                    *broadcast = true;
                }
            }
        }
        let label_of = |c: u8| letter_label.iter().find(|(l, _)| *l == c).map(|&(_, i)| i);
        let output: Vec<usize> = match rhs {
            Some(rhs) => {
                let syms = parse_term(rhs, "output")?;
                let mut out = Vec::new();
                for s in syms {
                    match s {
                        Sym::Ellipsis => out.extend(0..e),
                        Sym::Letter(c) => {
                            let label = label_of(c).ok_or_else(|| {
                                format!(
                                    "output label {} does not occur in any input term",
                                    c as char
                                )
                            })?;
                            if out.contains(&label) {
                                return Err(format!("output label {} is repeated", c as char));
                            }
                            out.push(label);
                        }
                    }
                }
                out
            }
            None => {
                let mut once: Vec<u8> = letter_label
                    .iter()
                    .map(|&(c, _)| c)
                    .filter(|&c| count[c as usize] == 1)
                    .collect();
                once.sort_unstable();
                (0..e)
                    .chain(once.into_iter().filter_map(label_of))
                    .collect()
            }
        };
        let summed = (0..sizes.len()).filter(|l| !output.contains(l)).collect();
        Ok(Plan {
            sizes,
            operands,
            output,
            summed,
        })
    }

    fn output_shape(&self) -> Vec<usize> {
        self.output.iter().map(|&l| self.sizes[l]).collect()
    }

    /// Terms summed per output element.
    fn contracted(&self) -> usize {
        self.summed.iter().map(|&l| self.sizes[l]).product()
    }
}

/// A term as written, for messages.
fn term_text(term: &[Sym]) -> String {
    term.iter()
        .map(|s| match s {
            Sym::Letter(c) => (*c as char).to_string(),
            Sym::Ellipsis => "...".into(),
        })
        .collect()
}

fn einsum_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    _: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (dtype, _) = rules::input(inputs, 0)?;
    let shapes: Vec<&[usize]> = inputs.iter().flatten().map(|(_, s)| s.as_slice()).collect();
    let plan = Plan::resolve(&equation(attrs)?, &shapes)?;
    Ok(vec![(*dtype, plan.output_shape())])
}

/// One multiply-add per operand beyond the first, per assignment of every
/// label.
fn einsum_cost(attrs: &Attributes, inputs: &[Option<&[usize]>]) -> Work {
    let shapes: Vec<&[usize]> = inputs.iter().flatten().copied().collect();
    let Ok(plan) = equation(attrs).and_then(|e| Plan::resolve(&e, &shapes)) else {
        return Work {
            flops: Some(0.0),
            multiply_adds: 0.0,
            scratch: 0.0,
        };
    };
    let all: f64 = plan.sizes.iter().map(|&s| s as f64).product();
    let macs = all * shapes.len().saturating_sub(1).max(1) as f64;
    Work {
        flops: Some(2.0 * macs),
        multiply_adds: macs,
        scratch: 0.0,
    }
}

/// Row-major strides of `shape`.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Advances a row-major odometer over `dims`; false when it wraps.
fn step(index: &mut [usize], dims: &[usize]) -> bool {
    for a in (0..dims.len()).rev() {
        index[a] += 1;
        if index[a] < dims[a] {
            return true;
        }
        index[a] = 0;
    }
    false
}

/// Einsum-12: see the module documentation.
fn einsum(call: &Call) -> Result<Output> {
    let inputs: Vec<&super::Value> = (0..call.inputs.len())
        .map(|i| call.input(i))
        .collect::<Result<_>>()?;
    let shapes: Vec<&[usize]> = inputs.iter().map(|v| v.shape()).collect();
    let eq = equation(call.attrs).map_err(|m| call.err(m))?;
    let plan = Plan::resolve(&eq, &shapes).map_err(|m| call.err(m))?;
    let dtype = inputs[0].dtype;
    // Per operand, the stride of each label (a repeated letter adds its
    // axes' strides: the diagonal).
    let label_strides: Vec<Vec<usize>> = plan
        .operands
        .iter()
        .zip(&shapes)
        .map(|(axes, shape)| {
            let st = strides(shape);
            let mut per_label = vec![0; plan.sizes.len()];
            for (a, &(label, broadcast)) in axes.iter().enumerate() {
                if !broadcast {
                    per_label[label] += st[a];
                }
            }
            per_label
        })
        .collect();
    let data: Vec<Vec<f64>> = inputs
        .iter()
        .map(|v| v.data.iter().copied().collect())
        .collect();
    let out_shape = plan.output_shape();
    let out_dims: Vec<usize> = out_shape.clone();
    let sum_dims: Vec<usize> = plan.summed.iter().map(|&l| plan.sizes[l]).collect();
    let total: usize = out_dims.iter().product();
    let empty_sum = sum_dims.contains(&0);
    let mut value = Vec::with_capacity(total);
    let mut magnitude = Vec::with_capacity(total);
    let mut out_index = vec![0; out_dims.len()];
    let mut sum_index = vec![0; sum_dims.len()];
    for _ in 0..total {
        let base: Vec<usize> = label_strides
            .iter()
            .map(|ls| {
                plan.output
                    .iter()
                    .zip(&out_index)
                    .map(|(&l, &i)| ls[l] * i)
                    .sum()
            })
            .collect();
        let (mut v, mut m) = (0.0, 0.0);
        if !empty_sum {
            sum_index.iter_mut().for_each(|i| *i = 0);
            loop {
                let mut p = 1.0;
                for (k, ls) in label_strides.iter().enumerate() {
                    let off = base[k]
                        + plan
                            .summed
                            .iter()
                            .zip(&sum_index)
                            .map(|(&l, &i)| ls[l] * i)
                            .sum::<usize>();
                    p *= data[k][off];
                }
                v += p;
                m += p.abs();
                if !step(&mut sum_index, &sum_dims) {
                    break;
                }
            }
        }
        value.push(v);
        magnitude.push(m);
        step(&mut out_index, &out_dims);
    }
    let array = |v: Vec<f64>| {
        ArrayD::from_shape_vec(IxDyn(&out_shape), v).map_err(|e| call.err(format!("Output: {e}")))
    };
    let data = super::finish(dtype, array(value)?);
    if !dtype.is_float() || !call.magnitudes {
        return Ok(Output::plain(dtype, data));
    }
    let intermediates = inputs.len().saturating_sub(2) as f64;
    let io = array(magnitude.iter().map(|m| intermediates * m).collect())?;
    Ok(Output::bounded(dtype, data, array(magnitude)?, Some(io)))
}

// ---------------------------------------------------------------------- Det

/// Det-11's `T`.
const T_DET_11: TypeVar = TypeVar {
    name: "T",
    allowed: &[DType::F64, DType::F32, DType::F16],
};
/// Det-22's `T`: bfloat16 joins.
const T_DET_22: TypeVar = TypeVar {
    name: "T",
    allowed: &[DType::F64, DType::F32, DType::F16, DType::BF16],
};

const fn det_def(opset: i64, input_types: &'static [TypeVar]) -> OpDef {
    OpDef {
        spec: OpSpec {
            name: "Det",
            domain: "",
            opset,
            arity: fixed(1, 0),
            input_names: &["X"],
            input_types,
            outputs: 1,
            attributes: &[],
        },
        oracle: |c| Ok(vec![det(c)?]),
        shape: det_shape,
        cost: det_cost,
        check: CheckPolicy::ModelBound,
        terms: rules::no_sum,
    }
}

/// Det-11: f16, f32, f64.
pub(super) const DET_11: OpDef = det_def(11, &[T_DET_11]);
/// Det-22: bfloat16 added.
pub(super) const DET: OpDef = det_def(22, &[T_DET_22]);

/// The batch shape and the order n of a Det input, or why it is not `[*, n, n]`.
fn det_dims(shape: &[usize]) -> std::result::Result<(Vec<usize>, usize), String> {
    let r = shape.len();
    if r < 2 || shape[r - 1] != shape[r - 2] {
        return Err(format!(
            "X must be [*, M, M] (square matrices in its last two axes), got shape {shape:?}"
        ));
    }
    Ok((shape[..r - 2].to_vec(), shape[r - 1]))
}

fn det_shape(
    _: &Attributes,
    inputs: &[Option<TypedShape>],
    _: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (dtype, shape) = rules::input(inputs, 0)?;
    Ok(vec![(*dtype, det_dims(shape)?.0)])
}

/// `2 n^3 / 3` per matrix (the LU's multiply-adds).
fn det_cost(_: &Attributes, inputs: &[Option<&[usize]>]) -> Work {
    let s = rules::shape_of(inputs, 0);
    let Ok((batch, n)) = det_dims(s) else {
        return Work {
            flops: Some(0.0),
            multiply_adds: 0.0,
            scratch: 0.0,
        };
    };
    let macs = rules::numel(&batch) * (n as f64).powi(3) / 3.0;
    Work {
        flops: Some(2.0 * macs),
        multiply_adds: macs,
        scratch: 0.0,
    }
}

/// LU with partial pivoting of the row-major n x n `a`, in place: returns
/// the row permutation (`perm[k]`: the row of A at position k) and the
/// determinant. L (unit lower, below the diagonal) and U share `a`.
fn lu(a: &mut [f64], n: usize) -> (Vec<usize>, f64) {
    let mut perm: Vec<usize> = (0..n).collect();
    let mut det = 1.0;
    for k in 0..n {
        let p = (k..n)
            .max_by(|&i, &j| {
                a[i * n + k]
                    .abs()
                    .total_cmp(&a[j * n + k].abs())
                    .then(j.cmp(&i))
            })
            .unwrap_or(k);
        if p != k {
            for j in 0..n {
                a.swap(k * n + j, p * n + j);
            }
            perm.swap(k, p);
            det = -det;
        }
        let pivot = a[k * n + k];
        det *= pivot;
        if pivot == 0.0 {
            continue;
        }
        for i in k + 1..n {
            let l = a[i * n + k] / pivot;
            a[i * n + k] = l;
            if l != 0.0 {
                for j in k + 1..n {
                    a[i * n + j] -= l * a[k * n + j];
                }
            }
        }
    }
    (perm, det)
}

/// The determinant of a row-major n x n matrix.
fn determinant(m: &[f64], n: usize) -> f64 {
    let mut a = m.to_vec();
    lu(&mut a, n).1
}

/// The cofactor `C_ij = (-1)^(i+j) det(A without row i and column j)`.
fn cofactors(m: &[f64], n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![1.0];
    }
    let mut c = vec![0.0; n * n];
    let mut minor = vec![0.0; (n - 1) * (n - 1)];
    for i in 0..n {
        for j in 0..n {
            let mut k = 0;
            for r in (0..n).filter(|&r| r != i) {
                for s in (0..n).filter(|&s| s != j) {
                    minor[k] = m[r * n + s];
                    k += 1;
                }
            }
            let sign = if (i + j) % 2 == 0 { 1.0 } else { -1.0 };
            c[i * n + j] = sign * determinant(&minor, n - 1);
        }
    }
    c
}

/// The determinant and the error model's magnitude of one matrix (see the
/// module documentation).
fn det_with_magnitude(m: &[f64], n: usize) -> (f64, f64) {
    if n == 0 {
        // The empty product.
        return (1.0, 0.0);
    }
    let mut a = m.to_vec();
    let (perm, det) = lu(&mut a, n);
    let c = cofactors(m, n);
    // (|L| |U|)[k][j], row k of the permuted A, weighted by |C| of that row.
    let mut s = 0.0;
    for k in 0..n {
        for j in 0..n {
            let lu_kj: f64 = (0..=k.min(j))
                .map(|t| {
                    let l = if t == k { 1.0 } else { a[k * n + t].abs() };
                    l * a[t * n + j].abs()
                })
                .sum();
            s += c[perm[k] * n + j].abs() * lu_kj;
        }
    }
    let nf = n as f64;
    (det, 2.0 * (nf * s + nf * det.abs()))
}

/// Det: see the module documentation.
fn det(call: &Call) -> Result<Output> {
    let x = call.input(0)?;
    let (batch, n) = det_dims(x.shape()).map_err(|m| call.err(m))?;
    let values: Vec<f64> = x.data.iter().copied().collect();
    let count: usize = batch.iter().product();
    let (mut value, mut magnitude) = (Vec::with_capacity(count), Vec::with_capacity(count));
    for b in 0..count {
        let (d, m) = det_with_magnitude(&values[b * n * n..(b + 1) * n * n], n);
        value.push(d);
        magnitude.push(m);
    }
    let array = |v: Vec<f64>| {
        ArrayD::from_shape_vec(IxDyn(&batch), v).map_err(|e| call.err(format!("Y: {e}")))
    };
    Ok(Output::bounded(
        x.dtype,
        array(value)?,
        array(magnitude)?,
        None,
    ))
}

// ------------------------------------------------------------- generated cases
// The case spaces of this family (machinery and conventions: ops/cases.rs).

use super::cases::{self, CaseSpace, Factor, Fill, GenCase, GenInput, Pick, Storage};

/// Einsum's dtypes in the cases: its floats and two integer widths.
const EINSUM_DTYPES: &[DType] = &[DType::F32, DType::F16, DType::F64, DType::I32, DType::I64];

/// The contracted length of a `k` level.
fn k_of(level: &str) -> usize {
    match level {
        "k1" => 1,
        "kprime" => 7,
        "klarge" => 256,
        other => panic!("`{other}` is not a k level"),
    }
}

/// Einsum: explicit and implicit outputs, matrix products (plain, batched,
/// through an ellipsis, chained over three operands), transposes, diagonals
/// and traces (repeated letters), full and partial reductions, outer
/// products, broadcast ellipsis dimensions, upper-case letters, with the
/// contracted length 1, prime or long, every layout of the first operand.
pub(super) fn einsum_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(EINSUM_DTYPES),
            Factor::new(
                "form",
                &[
                    "matmul",
                    "implicit",
                    "batched",
                    "ellipsis",
                    "chain",
                    "transpose",
                    "diagonal",
                    "trace",
                    "reduce",
                    "outer",
                    "broadcast",
                    "upper",
                ],
            ),
            Factor::new("k", &["k1", "kprime", "klarge"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let k = k_of(p.get("k"));
            let (eq, shapes): (&str, Vec<Vec<usize>>) = match p.get("form") {
                "matmul" => ("ij,jk->ik", vec![vec![3, k], vec![k, 5]]),
                "implicit" => ("kj,ji", vec![vec![3, k], vec![k, 4]]),
                "batched" => ("bij,bjk->bik", vec![vec![2, 3, k], vec![2, k, 4]]),
                "ellipsis" => (
                    "...ij,...jk->...ik",
                    vec![vec![2, 2, 3, k], vec![2, 2, k, 3]],
                ),
                "chain" => ("ij,jk,kl->il", vec![vec![2, k], vec![k, 3], vec![3, 2]]),
                "transpose" => ("ijk->kij", vec![vec![2, 3, k]]),
                "diagonal" => ("bii->bi", vec![vec![3, k, k]]),
                "trace" => ("ii", vec![vec![k, k]]),
                "reduce" => ("ij->j", vec![vec![k, 5]]),
                "outer" => ("i,j->ij", vec![vec![k], vec![4]]),
                "broadcast" => ("...j,...j->...", vec![vec![3, 1, k], vec![1, 2, k]]),
                "upper" => ("Ab,bA->A", vec![vec![4, k], vec![k, 4]]),
                other => panic!("`{other}` is not an Einsum form"),
            };
            if k > 64 && matches!(p.get("form"), "diagonal" | "trace" | "transpose") {
                // Their k is not a summed length (or sums one diagonal):
                // a long one adds cost and nothing else.
                return None;
            }
            let dt = p.dtype();
            let fill = if dt.is_float() {
                Fill::Default
            } else {
                Fill::Int(-4, 4)
            };
            let inputs = shapes
                .into_iter()
                .enumerate()
                .map(|(i, s)| {
                    let input = GenInput::new(dt, s).fill(fill.clone());
                    if i == 0 {
                        input.stored(Storage::from_level(p.get("layout"))).some()
                    } else {
                        input.some()
                    }
                })
                .collect();
            Some(GenCase::new(inputs).string("equation", eq))
        }),
    })
}

/// Det: orders 1, 2, 3 and 8, batches of none, one and two dimensions,
/// random matrices, a diagonally dominant one (well conditioned), a nearly
/// singular one (two rows almost equal: the determinant is a small
/// difference of large products, where only a condition-aware bound holds)
/// and one with a zero row (exactly 0 in every order).
pub(super) fn det_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::FLOATS),
            Factor::new("order", &["n1", "n2", "n3", "n8"]),
            Factor::new("batch", &["single", "batch1", "batch2"]),
            Factor::new("matrix", &["random", "dominant", "nearsingular", "zerorow"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let n: usize = p.get("order")[1..].parse().expect("order level");
            let batch: Vec<usize> = match p.get("batch") {
                "single" => vec![],
                "batch1" => vec![3],
                _ => vec![2, 2],
            };
            let count: usize = batch.iter().product();
            let mut shape = batch;
            shape.extend([n, n]);
            let dt = p.dtype();
            let matrix = |seed: usize| -> Option<Vec<f64>> {
                // Small dyadic values, exact in every float dtype.
                let entry =
                    |i: usize, j: usize| (((i * 7 + j * 5 + seed * 3) % 11) as f64 - 5.0) / 8.0;
                let mut m: Vec<f64> = (0..n * n).map(|t| entry(t / n, t % n)).collect();
                // The pattern alone is of low rank for n = 8 (its entries
                // are linear mod 11), where the first-order model does not
                // hold; a dominant diagonal makes every base full rank, and
                // the near-singular matrix then has rank n - 1 plus 1/64.
                if !p.is("matrix", "zerorow") {
                    for i in 0..n {
                        m[i * n + i] = n as f64;
                    }
                }
                match p.get("matrix") {
                    "nearsingular" if n >= 2 => {
                        // Row 1 = row 0 plus 1/64 in its first entry.
                        for j in 0..n {
                            m[n + j] = m[j];
                        }
                        m[n] += 1.0 / 64.0;
                    }
                    "zerorow" if n >= 2 => {
                        for j in 0..n {
                            m[(n - 1) * n + j] = 0.0;
                        }
                    }
                    "nearsingular" | "zerorow" => return None,
                    _ => {}
                }
                Some(m)
            };
            let input = if p.is("matrix", "random") {
                GenInput::new(dt, shape)
            } else {
                let mut values = Vec::with_capacity(count * n * n);
                for b in 0..count {
                    values.extend(matrix(b)?);
                }
                GenInput::values(dt, values).shaped(shape)
            };
            Some(GenCase::new(vec![
                input.stored(Storage::from_level(p.get("layout"))).some(),
            ]))
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::ops::{AttrValue, Value};

    fn eq(e: &str) -> Attributes {
        attrs(&[("equation", AttrValue::String(e.into()))])
    }

    fn einsum1(e: &str, inputs: &[Value]) -> Output {
        run("Einsum", &eq(e), inputs)
            .unwrap_or_else(|err| panic!("{err}"))
            .remove(0)
    }

    #[test]
    fn matrix_product_explicit_and_implicit() {
        // [[1,2],[3,4]] x [[5,-6],[7,8]] = [[19,10],[43,14]]; |.|: [[19,22],[43,50]].
        let a = f(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let b = f(&[2, 2], &[5.0, -6.0, 7.0, 8.0]);
        let out = einsum1("ij,jk->ik", &[a.clone(), b.clone()]);
        close(&out.value.data, &[19.0, 10.0, 43.0, 14.0], 0.0);
        close(
            out.magnitude.as_ref().unwrap(),
            &[19.0, 22.0, 43.0, 50.0],
            0.0,
        );
        // Two operands hold no intermediate tensor.
        close(out.io_magnitude.as_ref().unwrap(), &[0.0; 4], 0.0);
        let implicit = einsum1("ij, jk", &[a.clone(), b.clone()]);
        assert_eq!(implicit.value.data, out.value.data);
        // Implicit output letters are sorted: "kj,ji" gives "ik", the
        // transpose of the explicit product's order "ki".
        let swapped = einsum1("kj,ji", &[a, b]);
        assert_eq!(swapped.value.shape(), &[2, 2]);
        close(&swapped.value.data, &[19.0, 43.0, 10.0, 14.0], 0.0);
    }

    #[test]
    fn repeated_letters_take_diagonals_and_traces() {
        let a = f(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        close(
            &einsum1("ii->i", std::slice::from_ref(&a)).value.data,
            &[1.0, 4.0],
            0.0,
        );
        let trace = einsum1("ii", std::slice::from_ref(&a));
        assert_eq!(trace.value.shape(), &[] as &[usize]);
        close(&trace.value.data, &[5.0], 0.0);
        // A full sum and a column sum.
        close(
            &einsum1("ij->", std::slice::from_ref(&a)).value.data,
            &[10.0],
            0.0,
        );
        close(&einsum1("ij->j", &[a]).value.data, &[4.0, 6.0], 0.0);
    }

    #[test]
    fn ellipsis_broadcasts_and_leads_implicit_outputs() {
        // [2, 1, 2] . [1, 3, 2] over the last axis -> [2, 3].
        let a = f(&[2, 1, 2], &[1.0, 0.0, 0.0, 1.0]);
        let b = f(&[1, 3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let out = einsum1("...j,...j->...", &[a.clone(), b.clone()]);
        assert_eq!(out.value.shape(), &[2, 3]);
        close(&out.value.data, &[1.0, 3.0, 5.0, 2.0, 4.0, 6.0], 0.0);
        // Implicit: ellipsis dims first, then the once-only letters.
        let t = f(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let out = einsum1("i...", std::slice::from_ref(&t));
        assert_eq!(out.value.shape(), &[3, 2]);
        close(&out.value.data, &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0], 0.0);
        // Upper case sorts before lower case.
        let out = einsum1("aB", &[t]);
        assert_eq!(out.value.shape(), &[3, 2]);
    }

    #[test]
    fn three_operands_carry_an_intermediate() {
        let a = f(&[1, 2], &[1.0, -1.0]);
        let b = f(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let c = f(&[2, 1], &[1.0, 1.0]);
        // a b = [-2, -2]; (a b) c = -4; terms |a_ij b_jk c_kl|: 1+2+3+4 = 10.
        let out = einsum1("ij,jk,kl->il", &[a, b, c]);
        close(&out.value.data, &[-4.0], 0.0);
        close(out.magnitude.as_ref().unwrap(), &[10.0], 0.0);
        close(out.io_magnitude.as_ref().unwrap(), &[10.0], 0.0);
    }

    #[test]
    fn integers_wrap() {
        let a = t(DType::I8, &[2], &[100.0, 100.0]);
        let out = einsum1("i,i->", &[a.clone(), a]);
        // 20000 wraps to 20000 - 78 * 256 = 32.
        close(&out.value.data, &[32.0], 0.0);
        assert!(out.magnitude.is_none());
    }

    #[test]
    fn einsum_errors() {
        let a = f(&[2, 3], &[0.0; 6]);
        let b = f(&[4, 2], &[0.0; 8]);
        let one = [Some(a.clone())];
        fails(
            "Einsum",
            &eq("ij,jk->ik"),
            &one,
            "2 input terms, the call 1 inputs",
        );
        fails("Einsum", &eq("ijk"), &one, "rank 2");
        fails(
            "Einsum",
            &eq("ij->k"),
            &one,
            "output label k does not occur",
        );
        fails("Einsum", &eq("ij->ii"), &one, "output label i is repeated");
        fails("Einsum", &eq("i.j"), &one, "outside an ellipsis");
        fails("Einsum", &eq("i1"), &one, "only letters");
        fails(
            "Einsum",
            &eq("ij,jk"),
            &[Some(a.clone()), Some(b)],
            "label j is 4 in input 1",
        );
        fails(
            "Einsum",
            &eq("...,..."),
            &[Some(a), Some(f(&[2], &[0.0; 2]))],
            "same number of dimensions",
        );
        fails("Einsum", &Attributes::new(), &one[..0], "at least one");
    }

    #[test]
    fn det_by_hand() {
        let y = run1(
            "Det",
            &Attributes::new(),
            &[f(&[2, 2], &[1.0, 2.0, 3.0, 4.0])],
        );
        assert_eq!(y.shape(), &[] as &[usize]);
        close(&y.data, &[-2.0], 1e-15);
        // [[2,1,0],[1,3,1],[0,1,4]]: 2 (12 - 1) - 1 (4 - 0) = 18; batched with
        // a permutation matrix (det -1).
        let x = f(
            &[2, 3, 3],
            &[
                2.0, 1.0, 0.0, 1.0, 3.0, 1.0, 0.0, 1.0, 4.0, //
                0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0,
            ],
        );
        let y = run1("Det", &Attributes::new(), &[x]);
        assert_eq!(y.shape(), &[2]);
        close(&y.data, &[18.0, -1.0], 1e-14);
        // Singular: 0.
        let y = run1(
            "Det",
            &Attributes::new(),
            &[f(&[2, 2], &[1.0, 2.0, 2.0, 4.0])],
        );
        close(&y.data, &[0.0], 0.0);
    }

    #[test]
    fn det_magnitude_by_hand() {
        // diag(2, 3): no swap, L = I, U = A; cofactors diag(3, 2);
        // sum |C| |L||U| = 3*2 + 2*3 = 12; 2 (n 12 + n |det|) = 2 (24 + 12).
        let out = run(
            "Det",
            &Attributes::new(),
            &[f(&[2, 2], &[2.0, 0.0, 0.0, 3.0])],
        )
        .unwrap();
        close(out[0].magnitude.as_ref().unwrap(), &[72.0], 0.0);
        // The singular [[1,2],[2,4]] still has a nonzero first-order term:
        // pivot row [2,4], l = 1/2, u22 = 0; cofactors [[4,-2],[-2,1]];
        // permuted rows: k=0 is A's row 1 (|C| row [2,1]), |LU| row [2,4];
        // k=1 is A's row 0 (|C| row [4,2]), |LU| row [1, 2]: 8 + 8 = 16;
        // 2 (n 16 + n 0) = 64.
        let out = run(
            "Det",
            &Attributes::new(),
            &[f(&[2, 2], &[1.0, 2.0, 2.0, 4.0])],
        )
        .unwrap();
        close(out[0].magnitude.as_ref().unwrap(), &[64.0], 0.0);
    }

    #[test]
    fn det_versions_and_errors() {
        let bf = t(DType::BF16, &[1, 1], &[3.0]);
        fails(
            "Det",
            &Attributes::new(),
            &[Some(f(&[2, 3], &[0.0; 6]))],
            "square",
        );
        fails(
            "Det",
            &Attributes::new(),
            &[Some(f(&[3], &[0.0; 3]))],
            "square",
        );
        let e = run_at("Det", 11, &Attributes::new(), &[Some(bf.clone())]).unwrap_err();
        assert!(e.to_string().contains("got bf16"), "{e}");
        let y = run_at("Det", 22, &Attributes::new(), &[Some(bf)]).unwrap();
        close(&y[0].value.data, &[3.0], 0.0);
    }
}
