//! MatMul and Gemm, both through ndarray's `general_mat_mul` on 2-D views
//! (matrixmultiply underneath, large products split into row bands across
//! the cores: a 64 x 16384 by 16384 x 4096 product takes well under a
//! second), with the error-bound magnitude `sum_k |a_ik b_kj|` computed the
//! same way on absolute values.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayD, ArrayView2, Axis, IxDyn, s};

use super::rules::{self, dim_from_end, int_attr, shape_of};
use super::spec::{BINARY, TypeVar, fixed};
use super::{
    AttrType, Attributes, Call, OpDef, OpSpec, Output, Result, TypedShape, Value, Work, broadcast,
    finish,
};
use crate::numerics::DType;
use crate::numerics::check::CheckPolicy;

/// MatMul-13's and Gemm-13's `T`: their type constraints stop at f16/bf16,
/// and an fp8 product has no agreed accumulation or output type; fp8 matrix
/// math is tested through Cast, QuantizeLinear and DequantizeLinear, so a
/// suite that asks for it gets an error rather than a made-up semantics.
const T_NO_FP8: TypeVar = TypeVar {
    name: "T",
    allowed: &[
        DType::F64,
        DType::F32,
        DType::F16,
        DType::BF16,
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

/// Summing k products of similar size: `bound` with `c = 4 + 2 sqrt(k)`.
pub(super) const MATMUL: OpDef = OpDef {
    spec: OpSpec {
        name: "MatMul",
        domain: "",
        opset: 13,
        arity: fixed(2, 0),
        input_names: BINARY,
        input_types: &[T_NO_FP8, T_NO_FP8],
        outputs: 1,
        attributes: &[],
    },
    oracle: |c| Ok(vec![matmul(c)?]),
    shape: matmul_shape,
    cost: matmul_cost,
    check: CheckPolicy::SumBound,
    terms: |_, shapes, _| dim_from_end(shapes, 0, 1),
};

/// As MatMul; k is A's second dimension when transA.
pub(super) const GEMM: OpDef = OpDef {
    spec: OpSpec {
        name: "Gemm",
        domain: "",
        opset: 13,
        arity: fixed(2, 1),
        input_names: &["A", "B", "C"],
        input_types: &[T_NO_FP8, T_NO_FP8, T_NO_FP8],
        outputs: 1,
        attributes: &[
            ("alpha", AttrType::Float),
            ("beta", AttrType::Float),
            ("transA", AttrType::Int),
            ("transB", AttrType::Int),
        ],
    },
    oracle: |c| Ok(vec![gemm(c)?]),
    shape: gemm_shape,
    cost: gemm_cost,
    check: CheckPolicy::SumBound,
    terms: |attrs, shapes, _| {
        if int_attr(attrs, "transA", 0) != 0 {
            dim_from_end(shapes, 0, 2)
        } else {
            dim_from_end(shapes, 0, 1)
        }
    },
};

/// MatMul's (m, k, n) and batch shape of A and B (numpy `matmul`: a 1-D A
/// is a row, a 1-D B a column).
pub(super) fn matmul_dims<'a>(
    a: &'a [usize],
    b: &'a [usize],
) -> (usize, usize, usize, &'a [usize], &'a [usize]) {
    let k = a.last().copied().unwrap_or(1);
    let m = if a.len() >= 2 { a[a.len() - 2] } else { 1 };
    let n = if b.len() >= 2 { b[b.len() - 1] } else { 1 };
    let batch_a = &a[..a.len().saturating_sub(2)];
    let batch_b = &b[..b.len().saturating_sub(2)];
    (m, k, n, batch_a, batch_b)
}

pub(super) fn matmul_shape(
    _: &Attributes,
    inputs: &[Option<TypedShape>],
    _: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (dtype, a) = rules::input(inputs, 0)?;
    let (_, b) = rules::input(inputs, 1)?;
    if a.is_empty() || b.is_empty() {
        return Err(format!(
            "MatMul of {a:?} and {b:?}: operands must have rank >= 1"
        ));
    }
    let k2 = if b.len() >= 2 { b[b.len() - 2] } else { b[0] };
    let (m, k, n, batch_a, batch_b) = matmul_dims(a, b);
    if k != k2 {
        return Err(format!("inner dimensions differ: {a:?} x {b:?}"));
    }
    let mut out = rules::broadcast(batch_a, batch_b)?;
    if a.len() >= 2 {
        out.push(m);
    }
    if b.len() >= 2 {
        out.push(n);
    }
    Ok(vec![(*dtype, out)])
}

/// `2·m·n·k` per (broadcast) batch.
fn matmul_cost(_: &Attributes, inputs: &[Option<&[usize]>]) -> Work {
    let (a, b) = (shape_of(inputs, 0), shape_of(inputs, 1));
    let (m, k, n, batch_a, batch_b) = matmul_dims(a, b);
    let batch = rules::broadcast_numel(&[Some(batch_a), Some(batch_b)]);
    let macs = batch * (m * n * k) as f64;
    Work {
        flops: Some(2.0 * macs),
        multiply_adds: macs,
        scratch: 0.0,
    }
}

/// Gemm's (m, k, n): A is [M, K] ([K, M] when transA), B [K, N] ([N, K]
/// when transB); `None` unless both are 2-D.
fn gemm_dims(attrs: &Attributes, a: &[usize], b: &[usize]) -> Option<(usize, usize, usize)> {
    if a.len() != 2 || b.len() != 2 {
        return None;
    }
    let trans = |name| int_attr(attrs, name, 0) != 0;
    let (m, k) = if trans("transA") {
        (a[1], a[0])
    } else {
        (a[0], a[1])
    };
    let n = if trans("transB") { b[0] } else { b[1] };
    Some((m, k, n))
}

fn gemm_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    _: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (dtype, a) = rules::input(inputs, 0)?;
    let (_, b) = rules::input(inputs, 1)?;
    for (name, s) in [("A", a), ("B", b)] {
        if s.len() != 2 {
            return Err(format!("input {name} must be 2-D, got shape {s:?}"));
        }
    }
    let trans = |name| int_attr(attrs, name, 0) != 0;
    let at = if trans("transA") {
        [a[1], a[0]]
    } else {
        [a[0], a[1]]
    };
    let bt = if trans("transB") {
        [b[1], b[0]]
    } else {
        [b[0], b[1]]
    };
    if at[1] != bt[0] {
        return Err(format!(
            "inner dimensions differ: A' is {at:?}, B' is {bt:?} (A {a:?}, B {b:?})"
        ));
    }
    if let Some((_, c)) = inputs.get(2).and_then(Option::as_ref) {
        rules::stretches_to("C", c, &[at[0], bt[1]])?;
    }
    Ok(vec![(*dtype, vec![at[0], bt[1]])])
}

/// `2·m·n·k`, plus `m·n` when C is given.
fn gemm_cost(attrs: &Attributes, inputs: &[Option<&[usize]>]) -> Work {
    let (a, b) = (shape_of(inputs, 0), shape_of(inputs, 1));
    let Some((m, k, n)) = gemm_dims(attrs, a, b) else {
        return Work {
            flops: Some(0.0),
            multiply_adds: 0.0,
            scratch: 0.0,
        };
    };
    let macs = (m * n * k) as f64;
    let c = if inputs.get(2).copied().flatten().is_some() {
        (m * n) as f64
    } else {
        0.0
    };
    Work {
        flops: Some(2.0 * macs + c),
        multiply_adds: macs,
        scratch: 0.0,
    }
}

/// Elements of |B| materialised at once while computing the magnitude: the
/// magnitude needs |B|, and copying a 16384 x 4096 f64 matrix whole would
/// cost half a gigabyte, so it is done a block of rows (contiguous in a
/// row-major B) at a time, accumulating `|A[:, k0..k1]| . |B[k0..k1, :]|`.
const ABS_BLOCK_ELEMS: usize = 1 << 20;

/// `a . b` and `|a| . |b|` for one pair of matrices.
/// Without `magnitudes` (model runs, which never bound by them) the second
/// product is skipped and the magnitude is left zero.
pub(super) fn product(
    a: ArrayView2<f64>,
    b: ArrayView2<f64>,
    magnitudes: bool,
) -> (Array2<f64>, Array2<f64>) {
    let mut value = Array2::zeros((a.nrows(), b.ncols()));
    gemm_acc(&a, &b, &mut value.view_mut());
    if !magnitudes {
        return (value, Array2::zeros((0, 0)));
    }
    let a_abs = a.mapv(f64::abs);
    let (k, n) = b.dim();
    let mut magnitude = Array2::zeros((a.nrows(), n));
    let rows = (ABS_BLOCK_ELEMS / n.max(1)).clamp(1, k.max(1));
    let mut b_abs = Array2::<f64>::zeros((rows, n));
    let mut k0 = 0;
    while k0 < k {
        let k1 = (k0 + rows).min(k);
        let mut blk = b_abs.slice_mut(s![..k1 - k0, ..]);
        blk.zip_mut_with(&b.slice(s![k0..k1, ..]), |d, &x| *d = x.abs());
        gemm_acc(
            &a_abs.slice(s![.., k0..k1]),
            &blk.view(),
            &mut magnitude.view_mut(),
        );
        k0 = k1;
    }
    (value, magnitude)
}

/// Multiply-adds below which a product stays on one thread.
const PARALLEL_MIN_MACS: usize = 1 << 21;

/// `c += a b`, a large product split into bands of C's rows, one per core
/// (matrixmultiply runs each band on its own thread; every element is the
/// same sum whatever the split).
fn gemm_acc(a: &ArrayView2<f64>, b: &ArrayView2<f64>, c: &mut ndarray::ArrayViewMut2<f64>) {
    let (m, k) = a.dim();
    let n = b.ncols();
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let parts = cores
        .min(m * k * n / PARALLEL_MIN_MACS)
        .min(m.div_ceil(8))
        .max(1);
    if parts == 1 {
        general_mat_mul(1.0, a, b, 1.0, c);
        return;
    }
    let band = m.div_ceil(parts);
    std::thread::scope(|scope| {
        for (i, mut cb) in c.axis_chunks_iter_mut(Axis(0), band).enumerate() {
            let ab = a.slice(s![i * band..i * band + cb.nrows(), ..]);
            scope.spawn(move || general_mat_mul(1.0, &ab, b, 1.0, &mut cb));
        }
    });
}

/// MatMul (opset 13), with numpy `matmul` semantics: a 1-D A is promoted to
/// a row (1, K) and a 1-D B to a column (K, 1), and the added dimension is
/// removed from the result; leading (batch) dimensions broadcast.
fn matmul(call: &Call) -> Result<Output> {
    let (a, b) = (call.input(0)?, call.input(1)?);
    let (value, magnitude) = matmul_arrays(call, &a.data, &b.data)?;
    let value = finish(a.dtype, value);
    Ok(Output {
        value: Value::new(a.dtype, value),
        // Both operands of every product rounded to TF32: up to 2 u per
        // product, doubled (a K = 1 product reaches the worst case, which
        // must not read as a marginal `warn`).
        product_magnitude: magnitude.as_ref().map(|m| m.mapv(|x| 4.0 * x)),
        magnitude,
        io_magnitude: None,
    })
}

/// The numpy `matmul` of two f64 arrays (see [`matmul`]) and, when the call
/// computes magnitudes, `|a| . |b|` in the same shape; shared with the
/// integer and quantized products (`quant_int.rs`), which pass the operands
/// with their zero points subtracted.
pub(super) fn matmul_arrays(
    call: &Call,
    a: &ArrayD<f64>,
    b: &ArrayD<f64>,
) -> Result<(ArrayD<f64>, Option<ArrayD<f64>>)> {
    if a.ndim() == 0 || b.ndim() == 0 {
        return Err(call.err(format!(
            "inputs must have rank >= 1, got A {:?} and B {:?}",
            a.shape(),
            b.shape()
        )));
    }
    let a_shape: Vec<usize> = if a.ndim() == 1 {
        vec![1, a.shape()[0]]
    } else {
        a.shape().to_vec()
    };
    let b_shape: Vec<usize> = if b.ndim() == 1 {
        vec![b.shape()[0], 1]
    } else {
        b.shape().to_vec()
    };
    let (ra, rb) = (a_shape.len(), b_shape.len());
    let (m, k) = (a_shape[ra - 2], a_shape[ra - 1]);
    let (kb, n) = (b_shape[rb - 2], b_shape[rb - 1]);
    if k != kb {
        return Err(call.err(format!(
            "inner dimensions differ: A is {:?}, B is {:?}",
            a.shape(),
            b.shape()
        )));
    }
    let (a_batch, b_batch) = (&a_shape[..ra - 2], &b_shape[..rb - 2]);
    let batch = broadcast::shapes(call, &[a_batch, b_batch]).map_err(|_| {
        call.err(format!(
            "batch dimensions cannot be broadcast: A is {:?}, B is {:?}",
            a.shape(),
            b.shape()
        ))
    })?;
    let na: usize = a_batch.iter().product();
    let nb: usize = b_batch.iter().product();
    let a3 = a
        .to_shape((na, m, k))
        .map_err(|e| call.err(format!("A: {e}")))?;
    let b3 = b
        .to_shape((nb, k, n))
        .map_err(|e| call.err(format!("B: {e}")))?;
    let nbatch: usize = batch.iter().product();
    let mut value = ndarray::Array3::<f64>::zeros((nbatch, m, n));
    let mut magnitude = ndarray::Array3::<f64>::zeros((nbatch, m, n));
    for (flat, idx) in broadcast::indices(&batch).enumerate() {
        let ia = broadcast::flat_index(&idx, a_batch);
        let ib = broadcast::flat_index(&idx, b_batch);
        let (v, mag) = product(
            a3.index_axis(Axis(0), ia),
            b3.index_axis(Axis(0), ib),
            call.magnitudes,
        );
        value.index_axis_mut(Axis(0), flat).assign(&v);
        if call.magnitudes {
            magnitude.index_axis_mut(Axis(0), flat).assign(&mag);
        }
    }
    let mut out_shape = batch.clone();
    if a.ndim() > 1 {
        out_shape.push(m);
    }
    if b.ndim() > 1 {
        out_shape.push(n);
    }
    let reshape = |x: ndarray::Array3<f64>| -> Result<ArrayD<f64>> {
        x.into_shape_with_order(IxDyn(&out_shape))
            .map_err(|e| call.err(format!("output: {e}")))
    };
    let magnitude = if call.magnitudes {
        Some(reshape(magnitude)?)
    } else {
        None
    };
    Ok((reshape(value)?, magnitude))
}

/// A 2-D input of Gemm as a matrix view, transposed when `trans` is set.
fn gemm_operand<'a>(
    call: &Call,
    i: usize,
    v: &'a Value,
    trans: bool,
) -> Result<ArrayView2<'a, f64>> {
    let m = v
        .data
        .view()
        .into_dimensionality::<ndarray::Ix2>()
        .map_err(|_| {
            call.err(format!(
                "input {} must be 2-D, got shape {:?}",
                call.input_name(i),
                v.shape()
            ))
        })?;
    Ok(if trans { m.reversed_axes() } else { m })
}

/// Gemm (opset 13): `Y = alpha * A' * B' + beta * C`, with A' = A^T when
/// transA and B' = B^T when transB; C is optional and unidirectionally
/// broadcast to (M, N). Defaults alpha = beta = 1, no transposes.
fn gemm(call: &Call) -> Result<Output> {
    let (a, b) = (call.input(0)?, call.input(1)?);
    let alpha = call.float("alpha", 1.0)?;
    let beta = call.float("beta", 1.0)?;
    let am = gemm_operand(call, 0, a, call.int("transA", 0)? != 0)?;
    let bm = gemm_operand(call, 1, b, call.int("transB", 0)? != 0)?;
    if am.ncols() != bm.nrows() {
        return Err(call.err(format!(
            "inner dimensions differ: A' is [{}, {}], B' is [{}, {}] (A {:?}, B {:?})",
            am.nrows(),
            am.ncols(),
            bm.nrows(),
            bm.ncols(),
            a.shape(),
            b.shape()
        )));
    }
    let (m, n) = (am.nrows(), bm.ncols());
    let (mut value, mut magnitude) = product(am, bm, true);
    value.mapv_inplace(|x| alpha * x);
    magnitude.mapv_inplace(|x| alpha.abs() * x);
    // Both operands of every product rounded to TF32 (2 u, doubled as for
    // MatMul); C is added in f32.
    let products = magnitude.mapv(|x| 4.0 * x).into_dyn();
    if let Some(c) = call.opt(2) {
        let cv = broadcast::to(call, "C", &c.data, &[m, n])?;
        let cv = cv
            .into_dimensionality::<ndarray::Ix2>()
            .map_err(|e| call.err(format!("C: {e}")))?;
        value.zip_mut_with(&cv, |y, &c| *y += beta * c);
        magnitude.zip_mut_with(&cv, |y, &c| *y += (beta * c).abs());
    }
    Ok(Output {
        value: Value::new(a.dtype, finish(a.dtype, value.into_dyn())),
        magnitude: Some(magnitude.into_dyn()),
        io_magnitude: None,
        product_magnitude: Some(products),
    })
}

// ------------------------------------------------------------- generated cases
// The case spaces of this family (machinery and conventions: ops/cases.rs).

use super::cases::{self, CaseSpace, Factor, GenCase, GenInput, Pick, Storage};

/// The summed length for a `k` level.
fn k_size(level: &str) -> usize {
    match level {
        "k0" => 0,
        "k1" => 1,
        "kprime" => 13,
        "klarge" => 1024,
        other => panic!("`{other}` is not a k level"),
    }
}

/// `(m, n)` for a `dims` level: equal to k (a transposed operand then has
/// the same shape) or distinct from it and from each other.
fn m_n(eq: bool, k: usize) -> Option<(usize, usize)> {
    match (eq, k) {
        (true, k) if k > 64 => None,
        (true, k) => Some((k, k)),
        (false, _) => Some((3, 5)),
    }
}

/// The second operand's layouts, named apart from the first's.
const B_LAYOUTS: &[&str] = &["bcontiguous", "btransposed", "bpadded", "bstrided"];

/// MatMul: vector and matrix forms, batched, batch broadcast (lower rank,
/// leading 1), k of 0, 1, prime and 1024, m = n = k or distinct, every
/// layout of both operands.
pub(super) fn matmul_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::FLOATS),
            Factor::new(
                "form",
                &[
                    "vecvec", "vecmat", "matvec", "mat", "batch3", "bcast3", "bcast4", "vecbatch",
                ],
            ),
            Factor::new("k", &["k0", "k1", "kprime", "klarge"]),
            Factor::new("dims", &["eqdims", "distinct"]),
            cases::layout_factor(),
            Factor::new("layoutb", B_LAYOUTS),
        ],
        build: Box::new(|p: &Pick| {
            let k = k_size(p.get("k"));
            let (m, n) = m_n(p.is("dims", "eqdims"), k)?;
            let (a, b) = match p.get("form") {
                "vecvec" => (vec![k], vec![k]),
                "vecmat" => (vec![k], vec![k, n]),
                "matvec" => (vec![m, k], vec![k]),
                "mat" => (vec![m, k], vec![k, n]),
                "batch3" => (vec![2, m, k], vec![2, k, n]),
                "bcast3" => (vec![2, m, k], vec![k, n]),
                "bcast4" => (vec![2, 1, m, k], vec![3, k, n]),
                "vecbatch" => (vec![k], vec![2, k, n]),
                other => panic!("`{other}` is not a MatMul form"),
            };
            let dt = p.dtype();
            Some(GenCase::new(vec![
                GenInput::new(dt, a)
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                GenInput::new(dt, b)
                    .stored(Storage::from_level(p.get("layoutb")))
                    .some(),
            ]))
        }),
    })
}

/// Gemm: transA and transB, C absent / scalar / row / column / full,
/// default and other alpha and beta, k of 1, prime and 1024, m = n = k or
/// distinct, every layout of A.
pub(super) fn gemm_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::FLOATS),
            Factor::new("transa", &["ta0", "ta1"]),
            Factor::new("transb", &["tb0", "tb1"]),
            Factor::new("c", &["cnone", "cscalar", "crow", "ccol", "cfull"]),
            Factor::new("alphabeta", &["abdefault", "abscaled"]),
            Factor::new("k", &["k1", "kprime", "klarge"]),
            Factor::new("dims", &["eqdims", "distinct"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let k = k_size(p.get("k"));
            let (m, n) = m_n(p.is("dims", "eqdims"), k)?;
            let ta = p.is("transa", "ta1");
            let tb = p.is("transb", "tb1");
            let dt = p.dtype();
            let a = if ta { vec![k, m] } else { vec![m, k] };
            let b = if tb { vec![n, k] } else { vec![k, n] };
            let c = match p.get("c") {
                "cnone" => None,
                "cscalar" => Some(vec![]),
                "crow" => Some(vec![n]),
                "ccol" => Some(vec![m, 1]),
                _ => Some(vec![m, n]),
            };
            let mut inputs = vec![
                GenInput::new(dt, a)
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                GenInput::new(dt, b).some(),
            ];
            if let Some(c) = c {
                inputs.push(GenInput::new(dt, c).some());
            }
            let mut case = GenCase::new(inputs)
                .int("transA", i64::from(ta))
                .int("transB", i64::from(tb));
            if p.is("alphabeta", "abscaled") {
                case = case.float("alpha", 0.5).float("beta", 2.0);
            }
            Some(case)
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::ops::{AttrValue, Attributes};

    fn matmul1(a: Value, b: Value) -> Output {
        let mut out = run("MatMul", &Attributes::new(), &[a, b]).unwrap_or_else(|e| panic!("{e}"));
        out.remove(0)
    }

    #[test]
    fn matmul_2d_by_hand() {
        // [[1,2],[3,4]] x [[5,-6],[7,8]] = [[19,10],[43,14]]
        // magnitude: [[1*5+2*7, 1*6+2*8], [3*5+4*7, 3*6+4*8]] = [[19,22],[43,50]]
        let a = f(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let b = f(&[2, 2], &[5.0, -6.0, 7.0, 8.0]);
        let out = matmul1(a, b);
        assert_eq!(out.value.shape(), &[2, 2]);
        assert_eq!(out.value.dtype, DType::F32);
        close(&out.value.data, &[19.0, 10.0, 43.0, 14.0], 0.0);
        close(
            out.magnitude.as_ref().unwrap(),
            &[19.0, 22.0, 43.0, 50.0],
            0.0,
        );
    }

    #[test]
    fn matmul_identity_and_vectors() {
        let a = f(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let eye = f(&[3, 3], &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
        let out = matmul1(a.clone(), eye);
        assert_eq!(out.value.data, a.data);
        // 1-D x 2-D: [1,1] x [[1,2,3],[4,5,6]] = [5,7,9], shape [3].
        let out = matmul1(f(&[2], &[1.0, 1.0]), a.clone());
        assert_eq!(out.value.shape(), &[3]);
        close(&out.value.data, &[5.0, 7.0, 9.0], 0.0);
        // 2-D x 1-D: a x [1,0,-1] = [-2,-2], shape [2].
        let out = matmul1(a.clone(), f(&[3], &[1.0, 0.0, -1.0]));
        assert_eq!(out.value.shape(), &[2]);
        close(&out.value.data, &[-2.0, -2.0], 0.0);
        // 1-D x 1-D: dot product, shape [].
        let out = matmul1(f(&[3], &[1.0, 2.0, 3.0]), f(&[3], &[4.0, -5.0, 6.0]));
        assert_eq!(out.value.shape(), &[] as &[usize]);
        close(&out.value.data, &[12.0], 0.0);
        close(out.magnitude.as_ref().unwrap(), &[32.0], 0.0);
    }

    #[test]
    fn matmul_batch_broadcast() {
        // A: [2, 1, 2] (two row vectors), B: [3, 2, 1]-> batch [2,3]? No: B [3,2,2].
        // batch dims [2] and [3] do not broadcast; [2,1] and [3] do -> [2,3].
        let a = f(&[2, 1, 1, 2], &[1.0, 0.0, 0.0, 1.0]); // e1, e2
        let b = f(
            &[3, 2, 2],
            &[
                1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0,
            ],
        );
        let out = matmul1(a, b);
        assert_eq!(out.value.shape(), &[2, 3, 1, 2]);
        // e1 picks row 0 of each B, e2 row 1.
        close(
            &out.value.data,
            &[
                1.0, 2.0, 5.0, 6.0, 9.0, 10.0, 3.0, 4.0, 7.0, 8.0, 11.0, 12.0,
            ],
            0.0,
        );
        fails(
            "MatMul",
            &Attributes::new(),
            &[
                Some(f(&[2, 1, 2], &[0.0; 4])),
                Some(f(&[3, 2, 2], &[0.0; 12])),
            ],
            "batch dimensions",
        );
    }

    #[test]
    fn matmul_empty_inner_dimension_is_zero() {
        let out = matmul1(f(&[2, 0], &[]), f(&[0, 3], &[]));
        assert_eq!(out.value.shape(), &[2, 3]);
        close(&out.value.data, &[0.0; 6], 0.0);
        close(out.magnitude.as_ref().unwrap(), &[0.0; 6], 0.0);
    }

    #[test]
    fn matmul_errors() {
        let none = Attributes::new();
        fails(
            "MatMul",
            &none,
            &[Some(f(&[3, 4], &[0.0; 12])), Some(f(&[5, 6], &[0.0; 30]))],
            "inner dimensions differ: A is [3, 4], B is [5, 6]",
        );
        fails(
            "MatMul",
            &none,
            &[Some(f(&[], &[1.0])), Some(f(&[1], &[1.0]))],
            "rank >= 1",
        );
        let e4 = Value::new(DType::F8E4M3FN, ArrayD::zeros(IxDyn(&[2, 2])));
        fails(
            "MatMul",
            &none,
            &[Some(e4.clone()), Some(e4.clone())],
            "must be one of (type T: f64, f32, f16, bf16, i8",
        );
        fails("Gemm", &none, &[Some(e4.clone()), Some(e4)], "got f8e4m3fn");
    }

    #[test]
    fn matmul_long_reduction_in_row_blocks() {
        // Large enough that the magnitude is accumulated over several blocks
        // of rows of |B|, checked against a hand-computable constant pattern.
        // (Full size, 64 x 16384 x 4096, takes about 1.5 s in a dev build.)
        let (m, k, n) = (64, 5000, 512);
        let a = Value::new(DType::F32, ArrayD::from_elem(IxDyn(&[m, k]), 0.5));
        let b = Value::new(DType::F32, ArrayD::from_elem(IxDyn(&[k, n]), -2.0));
        let out = matmul1(a, b);
        assert!(out.value.data.iter().all(|&y| y == -(k as f64)));
        assert!(out.magnitude.unwrap().iter().all(|&y| y == k as f64));
    }

    #[test]
    fn gemm_by_hand() {
        // A' = A^T with A = [[1,3],[2,4]] -> [[1,2],[3,4]]; B = [[5,-6],[7,8]];
        // A'B = [[19,10],[43,14]]; alpha 2, beta -1, C = [1, 2] (row broadcast):
        // Y = [[38-1, 20-2], [86-1, 28-2]] = [[37,18],[85,26]]
        // magnitude = 2 * [[19,22],[43,50]] + [[1,2],[1,2]] = [[39,46],[87,102]]
        let a = f(&[2, 2], &[1.0, 3.0, 2.0, 4.0]);
        let b = f(&[2, 2], &[5.0, -6.0, 7.0, 8.0]);
        let c = f(&[2], &[1.0, 2.0]);
        let at = attrs(&[
            ("alpha", AttrValue::Float(2.0)),
            ("beta", AttrValue::Float(-1.0)),
            ("transA", AttrValue::Int(1)),
        ]);
        let mut out = run("Gemm", &at, &[a, b, c]).unwrap();
        let out = out.remove(0);
        close(&out.value.data, &[37.0, 18.0, 85.0, 26.0], 0.0);
        close(
            out.magnitude.as_ref().unwrap(),
            &[39.0, 46.0, 87.0, 102.0],
            0.0,
        );
    }

    #[test]
    fn gemm_transposes_equal_explicit_transposes() {
        let a = f(&[3, 2], &[1.0, -2.0, 3.0, 0.5, 4.0, 7.0]);
        let b = f(&[2, 4], &[1.0, 2.0, 3.0, 4.0, -1.0, -2.0, 5.0, 0.25]);
        let plain = run1("Gemm", &Attributes::new(), &[a.clone(), b.clone()]);
        let at = Value::new(a.dtype, a.data.t().to_owned());
        let bt = Value::new(b.dtype, b.data.t().to_owned());
        let both = attrs(&[("transA", AttrValue::Int(1)), ("transB", AttrValue::Int(1))]);
        let trans = run1("Gemm", &both, &[at, bt]);
        assert_eq!(plain.data, trans.data);
        // And Gemm without C equals MatMul.
        let mm = run1("MatMul", &Attributes::new(), &[a, b]);
        assert_eq!(plain.data, mm.data);
    }

    #[test]
    fn gemm_c_broadcast_and_errors() {
        let a = f(&[2, 2], &[1.0, 0.0, 0.0, 1.0]);
        // C of shape [2, 1] broadcasts along columns; scalar C everywhere.
        let y = run1(
            "Gemm",
            &Attributes::new(),
            &[a.clone(), a.clone(), f(&[2, 1], &[10.0, 20.0])],
        );
        close(&y.data, &[11.0, 10.0, 20.0, 21.0], 0.0);
        let y = run1(
            "Gemm",
            &Attributes::new(),
            &[a.clone(), a.clone(), f(&[], &[3.0])],
        );
        close(&y.data, &[4.0, 3.0, 3.0, 4.0], 0.0);
        let none = Attributes::new();
        fails(
            "Gemm",
            &none,
            &[Some(a.clone()), Some(a.clone()), Some(f(&[3], &[0.0; 3]))],
            "cannot be broadcast to [2, 2]",
        );
        fails(
            "Gemm",
            &none,
            &[Some(f(&[2], &[0.0; 2])), Some(a.clone())],
            "must be 2-D",
        );
        fails(
            "Gemm",
            &none,
            &[Some(f(&[2, 3], &[0.0; 6])), Some(a)],
            "inner dimensions differ",
        );
    }
}
