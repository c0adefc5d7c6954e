//! The fused kernels against the generic ones, on inputs built to hit
//! the corners: NaN, infinities, signed zeros, subnormals, f16/bf16
//! rounding ties, block and thread boundaries.

use super::rows::max_lanes;
use super::storage::{bf16_to_f32, f32_to_bf16};
use super::*;
use crate::ops::testing::run1;
use crate::support::find;
use crate::tensor::Tensor;
use half::{bf16, f16};
use xpucert_abi::{AttrValue, Attribute, TensorRef};

/// splitmix64: a small deterministic generator (no dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// A value in roughly [-8, 8) with few significant bits, so that
    /// sums and products of two of them often tie in f16/bf16.
    fn coarse(&mut self) -> f64 {
        (self.below(4096) as f64 - 2048.0) / 256.0
    }
}

/// One element's bytes of `dtype`: a mix of special values, coarse
/// values, random bit patterns (NaN payloads, subnormals, huge values)
/// and smooth values.
fn element(rng: &mut Rng, dtype: DType) -> Vec<u8> {
    let special = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        1.0,
        -1.0,
        6.0e-8,   // f16 subnormal
        1.0e-40,  // f32 subnormal
        -3.0e-39, // f32 subnormal
        65504.0,  // f16 max
        1.0e30,
        -88.5,
        100.0,
    ];
    let pick = rng.below(10);
    let v = match pick {
        0 => special[rng.below(special.len() as u64) as usize],
        1..=4 => rng.coarse(),
        5 | 6 => {
            // Random bits of the dtype itself: every class of value.
            let bits = rng.next();
            return match dtype {
                DType::F64 => bits.to_ne_bytes().to_vec(),
                DType::F32 => (bits as u32).to_ne_bytes().to_vec(),
                _ => (bits as u16).to_ne_bytes().to_vec(),
            };
        }
        _ => (rng.next() as f64 / u64::MAX as f64 - 0.5) * 12.0,
    };
    match dtype {
        DType::F64 => v.to_ne_bytes().to_vec(),
        DType::F32 => (v as f32).to_ne_bytes().to_vec(),
        DType::F16 => f16::from_f64(v).to_bits().to_ne_bytes().to_vec(),
        DType::BF16 => bf16::from_f64(v).to_bits().to_ne_bytes().to_vec(),
        other => panic!("{other}"),
    }
}

fn random(rng: &mut Rng, dtype: DType, n: usize) -> Vec<u8> {
    (0..n).flat_map(|_| element(rng, dtype)).collect()
}

/// An input: dtype, shape, bytes (contiguous).
type Input = (DType, Vec<i64>, Vec<u8>);

fn strides(shape: &[i64]) -> Vec<i64> {
    let mut s = vec![1i64; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Runs the fused path with `threads`; `None` if it declined the call.
fn fast(
    op: &str,
    attrs: &[(&str, AttrValue<'_>)],
    inputs: &[Option<Input>],
    out: (DType, &[i64]),
    threads: usize,
) -> Option<Vec<u8>> {
    let st: Vec<Option<Vec<i64>>> = inputs
        .iter()
        .map(|i| i.as_ref().map(|(_, s, _)| strides(s)))
        .collect();
    let refs = inputs
        .iter()
        .zip(&st)
        .map(|(i, s)| {
            i.as_ref()
                .map(|(d, shape, b)| TensorRef::host(*d, shape, s.as_ref().unwrap(), b).unwrap())
        })
        .collect();
    let call = OpCall {
        domain: "",
        op_type: find(op).unwrap().name,
        opset: *find(op).unwrap().opsets.last().unwrap(),
        attributes: attrs
            .iter()
            .map(|&(name, value)| Attribute { name, value })
            .collect(),
        inputs: refs,
        output_specs: vec![(out.0, out.1)],
        output_bounded: vec![false],
    };
    let n: usize = out.1.iter().map(|&d| d as usize).product();
    let mut buf = vec![0xFFu8; n * out.0.size()];
    let mut outs = [TensorMut::host(out.0, out.1, &mut buf).unwrap()];
    // Any work is split, so small test tensors exercise the ranges.
    let par = Par {
        threads,
        min_work: 0,
    };
    try_run_with(&call, &mut outs, par)?;
    Some(buf)
}

/// The generic kernels' result bytes and shape.
fn slow(op: &str, attrs: &[(&str, AttrValue<'_>)], inputs: &[Option<Input>]) -> Tensor {
    let st: Vec<Option<Vec<i64>>> = inputs
        .iter()
        .map(|i| i.as_ref().map(|(_, s, _)| strides(s)))
        .collect();
    let tensors = inputs
        .iter()
        .zip(&st)
        .map(|(i, s)| {
            i.as_ref().map(|(d, shape, b)| {
                crate::load(&TensorRef::host(*d, shape, s.as_ref().unwrap(), b).unwrap()).unwrap()
            })
        })
        .collect();
    run1(op, attrs, tensors).unwrap()
}

/// Asserts the fused path (1 and 3 threads) and the generic path give
/// the same bytes.
fn identical(op: &str, attrs: &[(&str, AttrValue<'_>)], inputs: &[Option<Input>]) {
    let want = slow(op, attrs, inputs);
    let shape: Vec<i64> = want.shape.iter().map(|&d| d as i64).collect();
    let want_bytes = want.data.to_ne_bytes();
    for threads in [1, 3] {
        let got = fast(op, attrs, inputs, (want.dtype(), &shape), threads)
            .unwrap_or_else(|| panic!("{op} {shape:?} declined"));
        if !same_values(want.dtype(), &got, &want_bytes) {
            let size = want.dtype().size();
            let i = got
                .chunks(size)
                .zip(want_bytes.chunks(size))
                .position(|(g, w)| g != w)
                .unwrap();
            panic!(
                "{op} {:?} {shape:?} threads {threads}: element {i} differs: got {:x?}, want {:x?}; inputs {:x?}",
                want.dtype(),
                &got[i * size..(i + 1) * size],
                &want_bytes[i * size..(i + 1) * size],
                inputs
                    .iter()
                    .flatten()
                    .map(|(_, s, b)| {
                        let k = if s.iter().product::<i64>() as usize * size == got.len() {
                            i
                        } else {
                            0
                        };
                        b.get(k * size..(k + 1) * size).map(<[u8]>::to_vec)
                    })
                    .collect::<Vec<_>>()
            );
        }
    }
}

/// Bitwise equal element by element, except that any NaN equals any
/// NaN: Rust (like LLVM) leaves the payload and sign of a NaN result
/// unspecified when both operands are NaN, and a vectorised loop may
/// propagate the other operand's payload than a scalar one.
fn same_values(dtype: DType, a: &[u8], b: &[u8]) -> bool {
    let nan = |c: &[u8]| match dtype {
        DType::F64 => f64::from_ne_bytes(c.try_into().unwrap()).is_nan(),
        DType::F32 => f32::from_ne_bytes(c.try_into().unwrap()).is_nan(),
        DType::F16 => f16::from_bits(u16::from_ne_bytes(c.try_into().unwrap())).is_nan(),
        _ => bf16::from_bits(u16::from_ne_bytes(c.try_into().unwrap())).is_nan(),
    };
    let size = dtype.size();
    a.len() == b.len()
        && a.chunks(size)
            .zip(b.chunks(size))
            .all(|(x, y)| x == y || (nan(x) && nan(y)))
}

const FLOATS: [DType; 4] = [DType::F32, DType::F64, DType::F16, DType::BF16];

#[test]
fn binary_ops_are_bit_identical_to_the_generic_kernels() {
    let mut rng = Rng(1);
    // (a shape, b shape): same shape across block boundaries, scalars on
    // either side, bias rows shorter and longer than a block.
    let shapes: [(&[i64], &[i64]); 10] = [
        (&[5, 300], &[300]),
        (&[300], &[4, 1, 300]),
        (&[2 * BLOCK as i64 + 37], &[2 * BLOCK as i64 + 37]),
        (&[7, 300], &[]),
        (&[], &[5, 61]),
        (&[1, 1], &[33]),
        (&[9, 77], &[77]),
        (&[77], &[9, 77]),
        (&[3, 1500], &[1, 1500]),
        (&[4, 3, 5], &[3, 5]),
    ];
    for dtype in FLOATS {
        for op in ["Add", "Sub", "Mul", "Div"] {
            for (sa, sb) in shapes {
                let na = sa.iter().product::<i64>() as usize;
                let nb = sb.iter().product::<i64>() as usize;
                let a = (dtype, sa.to_vec(), random(&mut rng, dtype, na));
                let b = (dtype, sb.to_vec(), random(&mut rng, dtype, nb));
                identical(op, &[], &[Some(a), Some(b)]);
            }
        }
    }
}

#[test]
fn unary_ops_are_bit_identical_to_the_generic_kernels() {
    let mut rng = Rng(2);
    let ops = [
        "Neg",
        "Exp",
        "Log",
        "Sqrt",
        "Reciprocal",
        "Tanh",
        "Sigmoid",
        "Relu",
        "Erf",
        "Softplus",
        "Gelu",
    ];
    for dtype in FLOATS {
        for op in ops {
            for shape in [vec![3 * BLOCK as i64 + 5], vec![1], vec![]] {
                let n = shape.iter().product::<i64>() as usize;
                let x = (dtype, shape, random(&mut rng, dtype, n));
                identical(op, &[], &[Some(x.clone())]);
                if op == "Gelu" {
                    let tanh = [("approximate", AttrValue::String("tanh"))];
                    identical(op, &tanh, &[Some(x)]);
                }
            }
        }
    }
}

#[test]
fn f16_ties_round_to_even_like_the_generic_path() {
    // Every f16 pattern plus 2^-11 (half an ulp of 1.0): many exact ties.
    let a: Vec<u8> = (0..=u16::MAX).flat_map(|b| b.to_ne_bytes()).collect();
    let half_ulp = f16::from_f32(2f32.powi(-11))
        .to_bits()
        .to_ne_bytes()
        .to_vec();
    for op in ["Add", "Sub", "Mul", "Div"] {
        identical(
            op,
            &[],
            &[
                Some((DType::F16, vec![65536], a.clone())),
                Some((DType::F16, vec![], half_ulp.clone())),
            ],
        );
    }
    let bf: Vec<u8> = (0..=u16::MAX).flat_map(|b| b.to_ne_bytes()).collect();
    let half = bf16::from_f32(2f32.powi(-8))
        .to_bits()
        .to_ne_bytes()
        .to_vec();
    identical(
        "Add",
        &[],
        &[
            Some((DType::BF16, vec![65536], bf)),
            Some((DType::BF16, vec![1], half)),
        ],
    );
}

#[test]
fn branch_free_bf16_conversions_match_half() {
    for i in 0..=u16::MAX {
        assert_eq!(
            bf16_to_f32(i).to_bits(),
            bf16::from_bits(i).to_f32().to_bits(),
            "{i:#x}"
        );
    }
    // Every pattern whose low 16 bits are near the rounding boundary,
    // plus a dense stride through the rest.
    let lows = [0u32, 1, 0x7FFF, 0x8000, 0x8001, 0xFFFF];
    let mut x = 0u32;
    loop {
        for &low in &lows {
            let v = f32::from_bits((x & 0xFFFF_0000) | low);
            assert_eq!(f32_to_bf16(v), bf16::from_f32(v).to_bits(), "{v:e}");
        }
        let v = f32::from_bits(x);
        assert_eq!(f32_to_bf16(v), bf16::from_f32(v).to_bits(), "{v:e}");
        match x.checked_add(0x1_0001) {
            Some(n) => x = n,
            None => break,
        }
    }
}

#[test]
fn unsupported_layouts_fall_back() {
    let x = |shape: &[i64]| {
        let n = shape.iter().product::<i64>() as usize;
        Some((DType::F32, shape.to_vec(), vec![0u8; 4 * n]))
    };
    // Outer-product broadcast: neither operand is full.
    assert!(
        fast(
            "Add",
            &[],
            &[x(&[3, 1]), x(&[1, 3])],
            (DType::F32, &[3, 3]),
            1
        )
        .is_none()
    );
    // A column broadcast.
    assert!(
        fast(
            "Mul",
            &[],
            &[x(&[3, 4]), x(&[3, 1])],
            (DType::F32, &[3, 4]),
            1
        )
        .is_none()
    );
    // Softmax over a middle axis.
    let axis0 = [("axis", AttrValue::Int(0))];
    assert!(fast("Softmax", &axis0, &[x(&[3, 4])], (DType::F32, &[3, 4]), 1).is_none());
    // Empty tensors and wrong output shapes go to the generic path,
    // which reports them.
    assert!(fast("Neg", &[], &[x(&[0])], (DType::F32, &[0]), 1).is_none());
    assert!(fast("Neg", &[], &[x(&[4])], (DType::F32, &[2, 2]), 1).is_none());
    // A strided (transposed) input.
    let buf = vec![0u8; 24];
    let t = TensorRef::host(DType::F32, &[2, 3], &[1, 2], &buf).unwrap();
    assert!(contiguous(&t, DType::F32).is_none());
    // Integers are not handled here.
    assert!(
        fast(
            "Add",
            &[],
            &[
                Some((DType::I32, vec![2], vec![0; 8])),
                Some((DType::I32, vec![2], vec![0; 8]))
            ],
            (DType::I32, &[2]),
            1
        )
        .is_none()
    );
}

#[test]
fn lane_sum_order_is_as_documented() {
    // 2^24 followed by 32 ones: partial 0 gets 2^24 + 1 + 1 (elements 0,
    // 16, 32), and each 1 added to 2^24 alone is a tie that rounds back
    // to even (2^24); partials 1..15 hold 2 each and are combined
    // pairwise before meeting partial 0: 2^24 + 30 exactly.
    let big = 2f32.powi(24);
    let mut v = vec![1.0f32; 33];
    v[0] = big;
    assert_eq!(sum(&v), big + 30.0);
    let seq: f32 = v.iter().sum();
    assert_eq!(seq, big); // sequential order loses every 1
    // The documented order, spelled out on values that show it.
    let w: Vec<f64> = (0..37).map(|i| f64::from(i) * 1.5 - 7.0).collect();
    let mut p = [0.0f64; LANES];
    for (j, &x) in w.iter().enumerate() {
        p[j % LANES] += x;
    }
    let mut width = LANES / 2;
    while width > 0 {
        for k in 0..width {
            p[k] += p[k + width];
        }
        width /= 2;
    }
    assert_eq!(sum(&w).to_bits(), p[0].to_bits());
    assert_eq!(sum::<f64>(&[]), 0.0);
    let ints: Vec<f64> = (1..=1000).map(f64::from).collect();
    assert_eq!(sum(&ints), 500_500.0);
    assert!(max_lanes(&[1.0f32, f32::NAN, 3.0]).is_nan());
    assert_eq!(max_lanes(&[f32::NEG_INFINITY; 20]), f32::NEG_INFINITY);
    let mut w = vec![0.0f32; 40];
    w[33] = 7.0;
    assert_eq!(max_lanes(&w), 7.0);
}

/// Max abs difference allowed between lane and sequential sums of f32
/// terms whose absolute values sum to `m`: both are within n u m of the
/// exact sum.
fn assert_near(op: &str, got: &[u8], want: &Tensor, tol: impl Fn(usize) -> f64) {
    let w = want.to_real::<f64>().unwrap();
    let g = crate::load(
        &TensorRef::host(
            want.dtype(),
            &want.shape.iter().map(|&d| d as i64).collect::<Vec<_>>(),
            &strides(&want.shape.iter().map(|&d| d as i64).collect::<Vec<_>>()),
            got,
        )
        .unwrap(),
    )
    .unwrap()
    .to_real::<f64>()
    .unwrap();
    for (i, (g, w)) in g.iter().zip(&w).enumerate() {
        let ok = (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= tol(i);
        assert!(ok, "{op} element {i}: fused {g}, generic {w}");
    }
}

/// Rows of smooth values (no specials: a lane order may only change
/// rounding, which needs finite sums to compare).
fn smooth(rng: &mut Rng, dtype: DType, n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|_| {
            let v = (rng.next() as f64 / u64::MAX as f64 - 0.3) * 6.0;
            match dtype {
                DType::F64 => v.to_ne_bytes().to_vec(),
                DType::F32 => (v as f32).to_ne_bytes().to_vec(),
                DType::F16 => f16::from_f64(v).to_bits().to_ne_bytes().to_vec(),
                _ => bf16::from_f64(v).to_bits().to_ne_bytes().to_vec(),
            }
        })
        .collect()
}

/// The unit roundoff of the compute type of `dtype`.
fn unit(dtype: DType) -> f64 {
    if dtype == DType::F64 {
        f64::EPSILON / 2.0
    } else {
        f64::from(f32::EPSILON) / 2.0
    }
}

/// One rounding of the output dtype at `v`.
fn out_ulp(dtype: DType, v: f64) -> f64 {
    let bits = match dtype {
        DType::F64 => 53,
        DType::F32 => 24,
        DType::F16 => 11,
        _ => 8,
    };
    v.abs().max(1e-30) * 2f64.powi(1 - bits)
}

#[test]
fn row_kernels_agree_with_the_generic_kernels_within_rounding() {
    let mut rng = Rng(3);
    for dtype in FLOATS {
        for (rows, len) in [(3usize, 1usize), (5, 17), (2, 1000), (70, 64), (1, 5000)] {
            let n = rows * len;
            let shape = vec![rows as i64, len as i64];
            let x = (dtype, shape.clone(), smooth(&mut rng, dtype, n));
            let u = unit(dtype);
            let l = len as f64;
            for op in ["Softmax", "LogSoftmax"] {
                let want = slow(op, &[], &[Some(x.clone())]);
                let got1 = fast(op, &[], &[Some(x.clone())], (dtype, &shape), 1).unwrap();
                let got3 = fast(op, &[], &[Some(x.clone())], (dtype, &shape), 3).unwrap();
                assert_eq!(got1, got3, "{op} depends on the thread count");
                let w = want.to_real::<f64>().unwrap();
                assert_near(op, &got1, &want, |i| {
                    // Softmax: relative (2 l u) plus a rounding of each
                    // output; LogSoftmax: |ln sum| error ~ l u.
                    2.0 * l * u * (w[i].abs() + 1.0) + 2.0 * out_ulp(dtype, w[i])
                });
            }
            let scale = (dtype, vec![len as i64], smooth(&mut rng, dtype, len));
            let bias = (dtype, vec![len as i64], smooth(&mut rng, dtype, len));
            for (op, inputs) in [
                (
                    "LayerNormalization",
                    vec![Some(x.clone()), Some(scale.clone()), Some(bias)],
                ),
                (
                    "LayerNormalization",
                    vec![Some(x.clone()), Some(scale.clone()), None],
                ),
                ("RMSNormalization", vec![Some(x.clone()), Some(scale)]),
            ] {
                let want = slow(op, &[], &inputs);
                let got1 = fast(op, &[], &inputs, (dtype, &shape), 1).unwrap();
                let got3 = fast(op, &[], &inputs, (dtype, &shape), 3).unwrap();
                assert_eq!(got1, got3, "{op} depends on the thread count");
                let w = want.to_real::<f64>().unwrap();
                // Normalised values are O(sqrt(len)) at most, scaled by
                // |scale| <= 4 and shifted by |bias| <= 4.
                assert_near(op, &got1, &want, |i| {
                    8.0 * l * u * (l.sqrt() * 4.0 + 4.0) + 2.0 * out_ulp(dtype, w[i])
                });
            }
            let axes = |a: &[i64]| -> Input {
                (
                    DType::I64,
                    vec![a.len() as i64],
                    a.iter().flat_map(|v| v.to_ne_bytes()).collect(),
                )
            };
            for op in ["ReduceSum", "ReduceMean", "ReduceMax"] {
                for keep in [0, 1] {
                    let attrs = [("keepdims", AttrValue::Int(keep))];
                    // Trailing axis: lanes (ReduceMax sequential).
                    let inputs = [Some(x.clone()), Some(axes(&[-1]))];
                    let want = slow(op, &attrs, &inputs);
                    let oshape: Vec<i64> = want.shape.iter().map(|&d| d as i64).collect();
                    let got1 = fast(op, &attrs, &inputs, (dtype, &oshape), 1).unwrap();
                    let got3 = fast(op, &attrs, &inputs, (dtype, &oshape), 3).unwrap();
                    assert_eq!(got1, got3, "{op} depends on the thread count");
                    if op == "ReduceMax" {
                        assert_eq!(got1, want.data.to_ne_bytes(), "{op}");
                    } else {
                        let w = want.to_real::<f64>().unwrap();
                        assert_near(op, &got1, &want, |i| {
                            2.0 * l * u * 6.0 * l + 2.0 * out_ulp(dtype, w[i])
                        });
                    }
                    // Leading axis: the generic order, bit for bit.
                    let inputs = [Some(x.clone()), Some(axes(&[0]))];
                    let want = slow(op, &attrs, &inputs);
                    let oshape: Vec<i64> = want.shape.iter().map(|&d| d as i64).collect();
                    let got = fast(op, &attrs, &inputs, (dtype, &oshape), 3).unwrap();
                    if len > 1 || op == "ReduceMax" {
                        assert_eq!(got, want.data.to_ne_bytes(), "{op} over axis 0");
                    } else {
                        // Every non-unit axis reduced: a row reduction.
                        let w = want.to_real::<f64>().unwrap();
                        let r = rows as f64;
                        assert_near(op, &got, &want, |i| {
                            2.0 * r * u * 6.0 * r + 2.0 * out_ulp(dtype, w[i])
                        });
                    }
                }
            }
        }
    }
}

#[test]
fn reductions_keep_special_values() {
    let mut rng = Rng(4);
    for dtype in FLOATS {
        let x = (dtype, vec![6, 40], random(&mut rng, dtype, 240));
        for op in ["ReduceMax", "Softmax", "ReduceSum"] {
            let inputs = if op == "Softmax" {
                vec![Some(x.clone())]
            } else {
                let axes: Vec<u8> = (-1i64).to_ne_bytes().to_vec();
                vec![Some(x.clone()), Some((DType::I64, vec![1], axes))]
            };
            let want = slow(op, &[], &inputs);
            let oshape: Vec<i64> = want.shape.iter().map(|&d| d as i64).collect();
            let got = fast(op, &[], &inputs, (dtype, &oshape), 1).unwrap();
            let g = crate::load(&TensorRef::host(dtype, &oshape, &strides(&oshape), &got).unwrap())
                .unwrap()
                .to_real::<f64>()
                .unwrap();
            let w = want.to_real::<f64>().unwrap();
            for (i, (g, w)) in g.iter().zip(&w).enumerate() {
                // NaN where the generic path has NaN, infinities alike.
                assert_eq!(g.is_nan(), w.is_nan(), "{op} {dtype} element {i}");
                if w.is_infinite() {
                    assert_eq!(g, w, "{op} {dtype} element {i}");
                }
            }
        }
    }
}
