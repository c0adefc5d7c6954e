//! MatMul (numpy semantics, batch broadcasting) and Gemm.
//!
//! Products go through ndarray's `general_mat_mul`, which for f32 and f64
//! runs matrixmultiply's packed, cache-blocked micro-kernels (AVX2/FMA when
//! the CPU has them) on the calling thread. [`product`] spreads one large
//! product over the cores by giving each thread a band of C's rows (or, for
//! short wide products such as matrix-vector, of its columns); a batched
//! MatMul of small products gives each thread a run of whole products.
//! Splitting this way scales where matrixmultiply's own threading did not
//! (on a 2-core AVX2 host: ~1.9x one core at 4096, against ~1.3x). f16 and
//! bf16 are computed in f32 (see `with_real!`) and rounded once at the end.
//! Each output is a sum in blocks of k with FMA: its error is within the
//! `bound` check's `(4 + 2 sqrt(k)) u` of the exact result, like any BLAS,
//! and it is the same sum whatever the number of threads.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, Axis};
use xpucert_abi::{BackendError, DType, OpCall, TensorMut};

use super::Args;
use super::fast::{contiguous, dims};
use crate::layout::{broadcast_offsets, broadcast_shapes};
use crate::parallel;
use crate::tensor::{Real, Tensor, with_real};

/// Multiply-adds below which a product is not worth another thread: about
/// 25 µs of one core's work, several times a thread's start-up cost.
pub const PARALLEL_MIN_MACS: usize = 1 << 21;

/// The micro-kernels' tile edge: bands are cut at multiples of it so that
/// no thread gets more partial tiles than the whole would have.
const TILE: usize = 8;

/// `c[m x n] += a[m x k] * b[k x n]`, all contiguous row-major, on as many
/// threads as the size is worth.
pub fn matmul_acc<T: Real>(a: &[T], b: &[T], c: &mut [T], m: usize, k: usize, n: usize) {
    product(a, b, c, (m, k, n), false, true);
}

/// `c[m x n] += a[m x k] * b`, where `b` is `k x n` row-major or (with
/// `b_transposed`) the transpose of an `n x k` row-major matrix. With
/// `parallel`, a large product is split across threads.
pub fn product<T: Real>(
    a: &[T],
    b: &[T],
    c: &mut [T],
    (m, k, n): (usize, usize, usize),
    b_transposed: bool,
    parallel: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if m == 1 && !b_transposed {
        // A row times a matrix (decoding at batch 1): packing B for the
        // GEMM kernel would cost as much as the product, so stream B's rows.
        let parts = if parallel {
            parallel::parts(k * n, PARALLEL_MIN_MACS)
        } else {
            1
        };
        parallel::split_mut(&mut c[..n], TILE, parts, |tile, cols| {
            row_times_matrix(&a[..k], &b[..k * n], cols, tile * TILE, n);
        });
        return;
    }
    // The slices have exactly these sizes (callers cut them so); a mismatch
    // is a bug in this crate, not in the input.
    let views = (
        ArrayView2::from_shape((m, k), &a[..m * k]),
        if b_transposed {
            ArrayView2::from_shape((n, k), &b[..k * n]).map(|v| v.reversed_axes())
        } else {
            ArrayView2::from_shape((k, n), &b[..k * n])
        },
        ArrayViewMut2::from_shape((m, n), &mut c[..m * n]),
    );
    let (Ok(a), Ok(b), Ok(mut c)) = views else {
        unreachable_shape(m, k, n)
    };
    let parts = if parallel {
        parallel::parts(m * k * n, PARALLEL_MIN_MACS)
    } else {
        1
    };
    if parts == 1 {
        general_mat_mul(T::ONE, &a, &b, T::ONE, &mut c);
        return;
    }
    // Bands along the longer of C's two dimensions, whole tiles each.
    let (axis, len) = if m >= n { (Axis(0), m) } else { (Axis(1), n) };
    let band = len.div_ceil(parts).div_ceil(TILE) * TILE;
    parallel::for_each_piece(
        c.axis_chunks_iter_mut(axis, band).enumerate(),
        |(i, mut cb)| band_product(&a, &b, &mut cb, axis, i * band),
    );
}

/// Rows of B summed in blocks of this many, like the GEMM kernels' k
/// blocks: each output is a sum of per-block partial sums, which keeps the
/// rounding error of a long k near that of the blocked GEMM.
const ROW_BLOCK: usize = 256;

/// `c[j] += sum_p a[p] * b[p][j0 + j]` for the columns `j0..j0 + c.len()`
/// of the `k x n` row-major `b` (`k = a.len()`), one block of rows at a
/// time; the inner loop runs along a row of `b` and vectorises.
fn row_times_matrix<T: Real>(a: &[T], b: &[T], c: &mut [T], j0: usize, n: usize) {
    let mut acc = vec![T::ZERO; c.len()];
    for (p0, xs) in a.chunks(ROW_BLOCK).enumerate() {
        acc.fill(T::ZERO);
        for (dp, &x) in xs.iter().enumerate() {
            let row = (p0 * ROW_BLOCK + dp) * n + j0;
            for (s, &y) in acc.iter_mut().zip(&b[row..row + c.len()]) {
                *s += x * y;
            }
        }
        for (cj, &s) in c.iter_mut().zip(&acc) {
            *cj += s;
        }
    }
}

/// One thread's band of C: rows (`Axis(0)`) or columns (`Axis(1)`) from
/// `start`, as many as `cb` has.
fn band_product<T: Real>(
    a: &ArrayView2<'_, T>,
    b: &ArrayView2<'_, T>,
    cb: &mut ArrayViewMut2<'_, T>,
    axis: Axis,
    start: usize,
) {
    let len = cb.len_of(axis);
    if axis == Axis(0) {
        let a = a.slice_axis(Axis(0), (start..start + len).into());
        general_mat_mul(T::ONE, &a, b, T::ONE, cb);
    } else {
        let b = b.slice_axis(Axis(1), (start..start + len).into());
        general_mat_mul(T::ONE, a, &b, T::ONE, cb);
    }
}

#[cold]
fn unreachable_shape(m: usize, k: usize, n: usize) -> ! {
    panic!("matmul: slices do not hold {m}x{k} and {k}x{n} matrices")
}

/// The transpose of a `rows x cols` row-major matrix, in 32x32 tiles.
pub fn transpose2d<T: Copy + Default>(src: &[T], rows: usize, cols: usize) -> Vec<T> {
    const TILE: usize = 32;
    let mut out = vec![T::default(); rows * cols];
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    out[c * rows + r] = src[r * cols + c];
                }
            }
        }
    }
    out
}

/// The shape arithmetic of one MatMul: 1-D operands promoted (A to a row,
/// B to a column), batch dimensions broadcast.
struct MatMulPlan {
    m: usize,
    k: usize,
    n: usize,
    /// For each output batch, the batch of A and of B it multiplies.
    a_index: Vec<usize>,
    b_index: Vec<usize>,
    /// The result's shape (the promoted dimensions removed again).
    shape: Vec<usize>,
}

impl MatMulPlan {
    fn new(a: &[usize], b: &[usize]) -> Result<MatMulPlan, String> {
        if a.is_empty() || b.is_empty() {
            return Err("operands must have at least one dimension".into());
        }
        let a_shape: Vec<usize> = if a.len() == 1 {
            vec![1, a[0]]
        } else {
            a.to_vec()
        };
        let b_shape: Vec<usize> = if b.len() == 1 {
            vec![b[0], 1]
        } else {
            b.to_vec()
        };
        let (m, k) = (a_shape[a_shape.len() - 2], a_shape[a_shape.len() - 1]);
        let (kb, n) = (b_shape[b_shape.len() - 2], b_shape[b_shape.len() - 1]);
        if k != kb {
            return Err(format!("inner dimensions differ: A {a:?}, B {b:?}"));
        }
        let a_batch = &a_shape[..a_shape.len() - 2];
        let b_batch = &b_shape[..b_shape.len() - 2];
        let batch = broadcast_shapes(&[a_batch, b_batch]).map_err(|e| e.message)?;
        let a_index = broadcast_offsets(a_batch, &batch).map_err(|e| e.message)?;
        let b_index = broadcast_offsets(b_batch, &batch).map_err(|e| e.message)?;
        let mut shape = batch;
        if a.len() > 1 {
            shape.push(m);
        }
        if b.len() > 1 {
            shape.push(n);
        }
        Ok(MatMulPlan {
            m,
            k,
            n,
            a_index,
            b_index,
            shape,
        })
    }

    /// `out` (zeroed, `batches * m * n`) = the batched product of `av` and
    /// `bv`. One large product splits itself; many small ones are shared
    /// out to threads whole, each thread running its products serially.
    fn run<T: Real>(&self, av: &[T], bv: &[T], out: &mut [T]) {
        let (m, k, n) = (self.m, self.k, self.n);
        let batches = self.a_index.len();
        let parts = if batches > 1 {
            parallel::parts(batches * m * k * n, PARALLEL_MIN_MACS)
        } else {
            1
        };
        let unit = (m * n).max(1);
        parallel::split_mut(out, unit, parts, |first, run| {
            for (r, c) in run.chunks_mut(unit).enumerate() {
                let (ai, bj) = (self.a_index[first + r], self.b_index[first + r]);
                product(
                    &av[ai * m * k..(ai + 1) * m * k],
                    &bv[bj * k * n..(bj + 1) * k * n],
                    c,
                    (m, k, n),
                    false,
                    parts == 1,
                );
            }
        });
    }
}

/// MatMul: 1-D operands are promoted (A to a row, B to a column) and the added
/// dimension removed from the result; batch dimensions broadcast.
pub fn matmul(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (a, b) = (args.input(0)?, args.input(1)?);
    let plan = MatMulPlan::new(&a.shape, &b.shape).map_err(|e| args.invalid(e))?;
    with_real!(a.dtype(), T => {
        let (av, bv) = (a.to_real::<T>()?, b.to_real::<T>()?);
        let mut out = vec![T::ZERO; plan.a_index.len() * plan.m * plan.n];
        plan.run(&av, &bv, &mut out);
        Tensor::from_real(a.dtype(), plan.shape, out)
    })
}

/// MatMul of f32 tensors straight from the caller's buffers into the output
/// buffer: no copy of the operands (at batch 1 a model's weights dominate
/// the bytes of every call) and no result copy. Used when both inputs are
/// contiguous host f32 tensors and every buffer is 4-byte aligned (the
/// harness aligns to 64); `None` otherwise, and for any call the general
/// path should judge (bad shapes, a mismatched output), which then runs.
/// The arithmetic is [`MatMulPlan::run`]'s, as on the general path.
pub fn matmul_in_place(call: &OpCall<'_>, outputs: &mut [TensorMut<'_>]) -> Option<()> {
    let (Some(Some(a)), Some(Some(b)), [out]) = (call.inputs.first(), call.inputs.get(1), outputs)
    else {
        return None;
    };
    if out.dtype() != DType::F32 {
        return None;
    }
    let (a_bytes, b_bytes) = (contiguous(a, DType::F32)?, contiguous(b, DType::F32)?);
    let plan = MatMulPlan::new(&dims(a.shape()), &dims(b.shape())).ok()?;
    if plan.shape != dims(out.shape()) {
        return None;
    }
    let av: &[f32] = bytemuck::try_cast_slice(a_bytes).ok()?;
    let bv: &[f32] = bytemuck::try_cast_slice(b_bytes).ok()?;
    let y: &mut [f32] = bytemuck::try_cast_slice_mut(out.bytes_mut()).ok()?;
    y.fill(0.0);
    plan.run(av, bv, y);
    Some(())
}

/// Gemm: `alpha * op(A) * op(B) + beta * C`, op = optional transpose, C
/// broadcast to M x N.
pub fn gemm(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (a, b, c) = (args.input(0)?, args.input(1)?, args.optional(2));
    if a.shape.len() != 2 || b.shape.len() != 2 {
        return Err(args.invalid(format!(
            "A and B must be 2-D, got {:?} and {:?}",
            a.shape, b.shape
        )));
    }
    let trans_a = args.attrs.int("transA", 0)? != 0;
    let trans_b = args.attrs.int("transB", 0)? != 0;
    let alpha = args.attrs.float("alpha", 1.0)?;
    let beta = args.attrs.float("beta", 1.0)?;
    let (m, k) = if trans_a {
        (a.shape[1], a.shape[0])
    } else {
        (a.shape[0], a.shape[1])
    };
    let (kb, n) = if trans_b {
        (b.shape[1], b.shape[0])
    } else {
        (b.shape[0], b.shape[1])
    };
    if k != kb {
        return Err(args.invalid(format!(
            "inner dimensions differ: A {:?} (transA={trans_a}), B {:?} (transB={trans_b})",
            a.shape, b.shape
        )));
    }
    let c_index = c
        .map(|c| broadcast_offsets(&c.shape, &[m, n]))
        .transpose()?;
    with_real!(a.dtype(), T => {
        let mut av = a.to_real::<T>()?;
        let mut bv = b.to_real::<T>()?;
        if trans_a {
            av = transpose2d(&av, k, m);
        }
        if trans_b {
            bv = transpose2d(&bv, n, k);
        }
        let mut out = vec![T::ZERO; m * n];
        matmul_acc(&av, &bv, &mut out, m, k, n);
        let alpha = T::from_f64(alpha);
        for y in &mut out {
            *y *= alpha;
        }
        if let (Some(c), Some(index)) = (c, c_index) {
            let cv = c.to_real::<T>()?;
            let beta = T::from_f64(beta);
            for (y, &i) in out.iter_mut().zip(&index) {
                *y += beta * cv[i];
            }
        }
        Tensor::from_real(a.dtype(), vec![m, n], out)
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use xpucert_abi::{AttrValue, Status};

    #[test]
    fn matmul_2d_and_vectors() {
        let a = f32t(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        let b = f32t(&[3, 2], &[7., 8., 9., 10., 11., 12.]);
        let y = run1("MatMul", &[], vec![a.clone(), b]).unwrap();
        assert_eq!(y.shape, vec![2, 2]);
        assert_eq!(values(&y), vec![58., 64., 139., 154.]);
        // Matrix times vector drops the column dimension.
        let v = f32t(&[3], &[1., 0., -1.]);
        let y = run1("MatMul", &[], vec![a.clone(), v.clone()]).unwrap();
        assert_eq!(y.shape, vec![2]);
        assert_eq!(values(&y), vec![-2., -2.]);
        // Vector times matrix drops the row dimension; vector . vector is a scalar.
        let y = run1("MatMul", &[], vec![f32t(&[2], &[1., 1.]), a]).unwrap();
        assert_eq!((y.shape.clone(), values(&y)), (vec![3], vec![5., 7., 9.]));
        let y = run1("MatMul", &[], vec![v.clone(), v]).unwrap();
        assert_eq!((y.shape.clone(), values(&y)), (vec![], vec![2.]));
    }

    #[test]
    fn matmul_broadcasts_batches() {
        // A: (2, 1, 2) batch of two row vectors; B: (2, 1) shared.
        let a = f32t(&[2, 1, 2], &[1., 2., 3., 4.]);
        let b = f32t(&[2, 1], &[10., 1.]);
        let y = run1("MatMul", &[], vec![a, b]).unwrap();
        assert_eq!(
            (y.shape.clone(), values(&y)),
            (vec![2, 1, 1], vec![12., 34.])
        );
        // A (3, 2, 2) identity-ish against B (1, 2, 1).
        let a = f32t(&[3, 1, 2], &[1., 0., 0., 1., 1., 1.]);
        let b = f32t(&[1, 2, 1], &[5., 7.]);
        let y = run1("MatMul", &[], vec![a, b]).unwrap();
        assert_eq!(
            (y.shape.clone(), values(&y)),
            (vec![3, 1, 1], vec![5., 7., 12.])
        );
    }

    #[test]
    fn fast_matmul_is_within_the_accumulation_bound() {
        // Shapes around the kernels' block edges, thin and wide ones, and
        // exactly representable data: the f64 sum is exact, and the f32
        // result must be within (4 + 2 sqrt(k)) u of sum |a b|.
        for &(m, k, n) in &[
            (3, 70_000, 1),
            (1, 70_000, 3),
            (1, 300, 5_000),
            (2, 5, 70_000),
            (4, 33, 17),
            (65, 257, 129),
        ] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 7 % 13) as f32) - 6.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 5 % 11) as f32) * 0.25).collect();
            let mut c = vec![0f32; m * n];
            matmul_acc(&a, &b, &mut c, m, k, n);
            let u = f64::from(f32::EPSILON) / 2.0;
            for (i, j) in [(0, 0), (m - 1, n - 1), (m / 2, n / 2)] {
                let (mut s, mut mag) = (0f64, 0f64);
                for p in 0..k {
                    let t = f64::from(a[i * k + p]) * f64::from(b[p * n + j]);
                    s += t;
                    mag += t.abs();
                }
                let err = (f64::from(c[i * n + j]) - s).abs();
                let allowed = (4.0 + 2.0 * (k as f64).sqrt()) * u * mag;
                assert!(
                    err <= allowed,
                    "({i},{j}) of {m}x{k}x{n}: {err} > {allowed}"
                );
            }
        }
        // Accumulates into c.
        let mut c = vec![1f32; 4];
        matmul_acc(&[1., 2., 3., 4.], &[1., 0., 0., 1.], &mut c, 2, 2, 2);
        assert_eq!(c, vec![2., 3., 4., 5.]);
    }

    #[test]
    fn threaded_products_equal_the_serial_ones_bit_for_bit() {
        // Large enough to split (rows for tall C, columns for wide C, and a
        // batch shared out whole), odd sizes so bands end in partial tiles.
        let data = |len: usize, seed: u32| -> Vec<f32> {
            (0..len)
                .map(|i| {
                    ((i as u32).wrapping_mul(2_654_435_761) ^ seed) as f32 / u32::MAX as f32 - 0.5
                })
                .collect()
        };
        for &(m, k, n, bt) in &[
            (301, 97, 203, false),
            (3, 1001, 2999, false),
            (1, 2001, 2999, false),
            (129, 65, 257, true),
        ] {
            let (a, b) = (data(m * k, 1), data(k * n, 2));
            let (mut serial, mut threaded) = (vec![0f32; m * n], vec![0f32; m * n]);
            product(&a, &b, &mut serial, (m, k, n), bt, false);
            product(&a, &b, &mut threaded, (m, k, n), bt, true);
            assert!(
                serial
                    .iter()
                    .zip(&threaded)
                    .all(|(x, y)| x.to_bits() == y.to_bits()),
                "{m}x{k}x{n}"
            );
        }
        let (batch, m, k, n) = (100, 33, 64, 31);
        let a = f32t(&[batch, m, k], &data(batch * m * k, 3));
        let b = f32t(&[batch, k, n], &data(batch * k * n, 4));
        let y = run1("MatMul", &[], vec![a.clone(), b.clone()]).unwrap();
        let (av, bv) = (values(&a.unwrap()), values(&b.unwrap()));
        for i in [0, batch / 2, batch - 1] {
            let mut c = vec![0f32; m * n];
            product(
                &av[i * m * k..],
                &bv[i * k * n..],
                &mut c,
                (m, k, n),
                false,
                false,
            );
            assert_eq!(&values(&y)[i * m * n..(i + 1) * m * n], &c[..], "batch {i}");
        }
    }

    #[test]
    fn in_place_matmul_equals_the_general_path_and_declines_what_it_cannot_do() {
        use xpucert_abi::{DType, OpCall, TensorMut, TensorRef};
        let strides = |s: &[i64]| -> Vec<i64> {
            let mut st = vec![1i64; s.len()];
            for i in (0..s.len().saturating_sub(1)).rev() {
                st[i] = st[i + 1] * s[i + 1];
            }
            st
        };
        let shapes: [(&[i64], &[i64]); 5] = [
            (&[3, 5], &[5, 7]),
            (&[2, 3, 5], &[5, 4]),
            (&[5], &[2, 5, 3]),
            (&[4, 1, 3, 6], &[2, 6, 2]),
            (&[300, 70], &[70, 90]),
        ];
        for (ash, bsh) in shapes {
            let len = |s: &[i64]| s.iter().product::<i64>() as usize;
            let a: Vec<f32> = (0..len(ash)).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..len(bsh)).map(|i| (i as f32 * 0.11).cos()).collect();
            let want = run1(
                "MatMul",
                &[],
                vec![f32t(&dims(ash), &a), f32t(&dims(bsh), &b)],
            )
            .unwrap();
            let out_shape: Vec<i64> = want.shape.iter().map(|&d| d as i64).collect();
            let (sa, sb) = (strides(ash), strides(bsh));
            let call = |a_bytes: &[u8]| -> (Option<()>, Vec<f32>) {
                let ta = TensorRef::host(DType::F32, ash, &sa, a_bytes).unwrap();
                let tb = TensorRef::host(DType::F32, bsh, &sb, bytemuck::cast_slice(&b)).unwrap();
                let op = OpCall {
                    domain: "",
                    op_type: "MatMul",
                    opset: 13,
                    attributes: vec![],
                    inputs: vec![Some(ta), Some(tb)],
                    output_specs: vec![(DType::F32, &out_shape)],
                    output_bounded: vec![false],
                };
                let mut y = vec![f32::NAN; want.numel()];
                let out = TensorMut::host(DType::F32, &out_shape, bytemuck::cast_slice_mut(&mut y));
                let r = matmul_in_place(&op, &mut [out.unwrap()]);
                (r, y)
            };
            let (r, y) = call(bytemuck::cast_slice(&a));
            assert!(r.is_some(), "{ash:?} x {bsh:?}");
            let same = values(&want)
                .iter()
                .zip(&y)
                .all(|(w, g)| w.to_bits() == g.to_bits());
            assert!(same, "{ash:?} x {bsh:?}");
            // A buffer that is not 4-byte aligned goes to the general path.
            let mut shifted = vec![0u8; a.len() * 4 + 1];
            shifted[1..].copy_from_slice(bytemuck::cast_slice(&a));
            assert!(call(&shifted[1..]).0.is_none(), "{ash:?} x {bsh:?}");
        }
    }

    #[test]
    fn matmul_shape_errors() {
        let e = run1(
            "MatMul",
            &[],
            vec![f32t(&[2, 3], &[0.; 6]), f32t(&[2, 3], &[0.; 6])],
        )
        .unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        let e = run1("MatMul", &[], vec![f32t(&[], &[1.]), f32t(&[1], &[1.])]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        let e = run1(
            "MatMul",
            &[],
            vec![f32t(&[2, 1, 1], &[1., 2.]), f32t(&[3, 1, 1], &[1., 2., 3.])],
        )
        .unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
    }

    #[test]
    fn gemm_transposes_scales_and_broadcasts_c() {
        // A^T where A = [[1,3],[2,4]] stored as (K=2, M=2): op(A) = [[1,2],[3,4]].
        let a = f32t(&[2, 2], &[1., 3., 2., 4.]);
        // B^T: B stored (N=3, K=2), op(B) = [[1,0,1],[0,1,1]].
        let b = f32t(&[3, 2], &[1., 0., 0., 1., 1., 1.]);
        let c = f32t(&[3], &[100., 200., 300.]);
        let attrs = [
            ("transA", AttrValue::Int(1)),
            ("transB", AttrValue::Int(1)),
            ("alpha", AttrValue::Float(2.0)),
            ("beta", AttrValue::Float(0.5)),
        ];
        let y = run1("Gemm", &attrs, vec![a.clone(), b.clone(), c]).unwrap();
        assert_eq!(y.shape, vec![2, 3]);
        // op(A)op(B) = [[1,2,3],[3,4,7]]
        assert_eq!(values(&y), vec![52., 104., 156., 56., 108., 164.]);
        // Without C, and with a scalar C.
        let y = run1("Gemm", &attrs[..2], vec![a.clone(), b.clone()]).unwrap();
        assert_eq!(values(&y), vec![1., 2., 3., 3., 4., 7.]);
        let y = run1(
            "Gemm",
            &attrs[..2],
            vec![a.clone(), b.clone(), f32t(&[], &[1.])],
        )
        .unwrap();
        assert_eq!(values(&y), vec![2., 3., 4., 4., 5., 8.]);
        let e = run1("Gemm", &attrs[..2], vec![a, b, f32t(&[2], &[1., 1.])]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
    }

    #[test]
    fn tiled_transpose() {
        let src: Vec<u32> = (0..35 * 70).collect();
        let t = transpose2d(&src, 35, 70);
        assert_eq!(t[5 * 35 + 3], src[3 * 70 + 5]);
        assert_eq!(t[69 * 35 + 34], src[34 * 70 + 69]);
    }
}
