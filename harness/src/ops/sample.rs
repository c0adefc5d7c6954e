//! Spatial rearrangement and sampling: Col2Im (18).
//!
//! Col2Im scatters column blocks back into an image (PyTorch's `fold`):
//! input `[N, C · prod(block_shape), L]`, row `c · prod(block) + k` holding
//! kernel offset `k` (row-major over `block_shape`) of channel `c`, column
//! `l` the block at row-major position `l` of the grid of blocks; block
//! `b`, offset `k` lands at `b · stride - pad_begin + k · dilation` along
//! each axis, and taps outside the image are dropped. The grid of blocks
//! has `1 + (image + pad_begin + pad_end - dilation (block - 1) - 1) /
//! stride` positions per axis, and `L` must be their product. The spec says
//! `image_shape` and `block_shape` hold at least two values; the oracle
//! holds calls to that.
//!
//! Check: each output pixel is the sum of the `n` taps that land on it.
//! Recursive summation of n terms errs by at most `gamma_(n-1) sum |x|`
//! in any order (Higham, "Accuracy and Stability", §4.2), so the
//! magnitude is `2 (n - 1) sum |x|` with `c = 1` (`ModelBound`; doubled so
//! that the worst case is no marginal `warn`): a pixel one tap covers is
//! a copy and must be exact. The usual col2im is a scatter-add into the
//! output image, which for f16 and bf16 rounds every partial sum to the
//! io dtype, so the io magnitude is `(n - 1) sum |x|` as well. Integer
//! outputs are exact (wrapped into the dtype).

use ndarray::{ArrayD, IxDyn};

use super::rules::{self, ints_of};
use super::spec::{TypeVar, fixed};
use super::{AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape};
use crate::numerics::DType;
use crate::numerics::check::CheckPolicy;

/// Col2Im's `T` as xpucert holds it: ONNX admits every tensor type; the
/// floats (no fp8: not in ONNX's list) and the integers are summable. Bool
/// is left out: ONNX does not say what overlapping bool patches add to.
const T_COL2IM: TypeVar = TypeVar {
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
/// `tensor(int64)`.
const T_I64: TypeVar = TypeVar {
    name: "tensor(int64)",
    allowed: &[DType::I64],
};

/// Col2Im-18.
pub(super) const COL2IM: OpDef = OpDef {
    spec: OpSpec {
        name: "Col2Im",
        domain: "",
        opset: 18,
        arity: fixed(3, 0),
        input_names: &["input", "image_shape", "block_shape"],
        input_types: &[T_COL2IM, T_I64, T_I64],
        outputs: 1,
        attributes: &[
            ("dilations", AttrType::Ints),
            ("pads", AttrType::Ints),
            ("strides", AttrType::Ints),
        ],
    },
    oracle: |c| Ok(vec![col2im(c)?]),
    shape: col2im_shape,
    cost: rules::per_input_element::<1>,
    check: CheckPolicy::ModelBound,
    terms: rules::no_sum,
};

/// A resolved Col2Im call.
#[derive(Debug)]
struct Fold {
    batch: usize,
    channels: usize,
    image: Vec<usize>,
    block: Vec<usize>,
    /// Blocks per axis.
    grid: Vec<usize>,
    strides: Vec<usize>,
    dilations: Vec<usize>,
    begin: Vec<usize>,
}

/// A per-axis attribute list of length `n` with every value at least
/// `min`, or `default` everywhere when absent.
fn per_axis(
    attrs: &Attributes,
    name: &str,
    n: usize,
    min: i64,
    default: usize,
) -> std::result::Result<Vec<usize>, String> {
    match attrs.ints(name)? {
        None => Ok(vec![default; n]),
        Some(v) if v.len() != n => Err(format!(
            "attribute {name} has {} values, expected {n} (the image's axes{})",
            v.len(),
            if name == "pads" { ", twice" } else { "" }
        )),
        Some(v) => v
            .iter()
            .map(|&x| {
                if x < min {
                    Err(format!("attribute {name} holds {x}, below {min}"))
                } else {
                    Ok(x as usize)
                }
            })
            .collect(),
    }
}

impl Fold {
    /// The one validity function of the shape rule and the oracle.
    fn resolve(
        attrs: &Attributes,
        input: &[usize],
        values: &mut dyn FnMut(usize) -> Vec<f64>,
        shapes: (&[usize], &[usize]),
    ) -> std::result::Result<Fold, String> {
        if input.len() != 3 {
            return Err(format!(
                "input must be 3-D [N, C * prod(block_shape), L], got shape {input:?}"
            ));
        }
        for (name, s) in [("image_shape", shapes.0), ("block_shape", shapes.1)] {
            if s.len() != 1 || s[0] < 2 {
                return Err(format!(
                    "{name} must be 1-D with at least 2 values, got shape {s:?}"
                ));
            }
        }
        let positive = |name: &str, v: Vec<i64>| -> std::result::Result<Vec<usize>, String> {
            v.iter()
                .map(|&x| {
                    if x < 1 {
                        Err(format!("{name} holds {x}: every value must be at least 1"))
                    } else {
                        Ok(x as usize)
                    }
                })
                .collect()
        };
        let image = positive("image_shape", ints_of("image_shape", &values(1))?)?;
        let block = positive("block_shape", ints_of("block_shape", &values(2))?)?;
        let n = image.len();
        if block.len() != n {
            return Err(format!(
                "image_shape has {n} values, block_shape {}",
                block.len()
            ));
        }
        let strides = per_axis(attrs, "strides", n, 1, 1)?;
        let dilations = per_axis(attrs, "dilations", n, 1, 1)?;
        let pads = per_axis(attrs, "pads", 2 * n, 0, 0)?;
        let kernel: usize = block.iter().product();
        if !input[1].is_multiple_of(kernel) {
            return Err(format!(
                "input's dimension 1 ({}) is not a multiple of prod(block_shape) = {kernel}",
                input[1]
            ));
        }
        let mut grid = Vec::with_capacity(n);
        for a in 0..n {
            let span = dilations[a] * (block[a] - 1) + 1;
            let padded = image[a] + pads[a] + pads[a + n];
            if padded < span {
                return Err(format!(
                    "axis {a}: the dilated block ({span}) is larger than the padded image ({padded})"
                ));
            }
            grid.push((padded - span) / strides[a] + 1);
        }
        let blocks: usize = grid.iter().product();
        if input[2] != blocks {
            return Err(format!(
                "input's dimension 2 is {}, but the image holds {grid:?} = {blocks} blocks",
                input[2]
            ));
        }
        Ok(Fold {
            batch: input[0],
            channels: input[1] / kernel,
            image,
            block,
            grid,
            strides,
            dilations,
            begin: pads[..n].to_vec(),
        })
    }

    fn output_shape(&self) -> Vec<usize> {
        let mut s = vec![self.batch, self.channels];
        s.extend(&self.image);
        s
    }
}

fn col2im_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (dtype, input) = rules::input(inputs, 0)?;
    let (_, image) = rules::input(inputs, 1)?;
    let (_, block) = rules::input(inputs, 2)?;
    let fold = Fold::resolve(attrs, input, values, (image, block))?;
    Ok(vec![(*dtype, fold.output_shape())])
}

/// Row-major multi-index of `flat` in `dims`.
fn unravel(mut flat: usize, dims: &[usize], out: &mut [usize]) {
    for a in (0..dims.len()).rev() {
        out[a] = flat % dims[a];
        flat /= dims[a];
    }
}

/// Col2Im-18: see the module documentation.
fn col2im(call: &Call) -> Result<Output> {
    let x = call.input(0)?;
    let shapes = call.typed_shapes();
    let image_shape = &shapes[1].as_ref().expect("checked").1;
    let block_shape = &shapes[2].as_ref().expect("checked").1;
    let fold = Fold::resolve(
        call.attrs,
        x.shape(),
        &mut |i| call.values(i),
        (image_shape, block_shape),
    )
    .map_err(|m| call.err(m))?;
    let out_shape = fold.output_shape();
    let pixels: usize = fold.image.iter().product();
    let kernel: usize = fold.block.iter().product();
    let blocks: usize = fold.grid.iter().product();
    let planes = fold.batch * fold.channels;
    let mut value = vec![0.0; planes * pixels];
    let mut abs = vec![0.0; planes * pixels];
    let mut count = vec![0usize; pixels];
    let n = fold.image.len();
    let (mut k_idx, mut b_idx) = (vec![0; n], vec![0; n]);
    let xs: Vec<f64> = x.data.iter().copied().collect();
    for k in 0..kernel {
        unravel(k, &fold.block, &mut k_idx);
        for b in 0..blocks {
            unravel(b, &fold.grid, &mut b_idx);
            let mut pixel = 0usize;
            let mut inside = true;
            for a in 0..n {
                let at = (b_idx[a] * fold.strides[a] + k_idx[a] * fold.dilations[a]) as i64
                    - fold.begin[a] as i64;
                if at < 0 || at >= fold.image[a] as i64 {
                    inside = false;
                    break;
                }
                pixel = pixel * fold.image[a] + at as usize;
            }
            if !inside {
                continue;
            }
            count[pixel] += 1;
            for p in 0..planes {
                let (batch, c) = (p / fold.channels, p % fold.channels);
                let v = xs[(batch * fold.channels * kernel + c * kernel + k) * blocks + b];
                value[p * pixels + pixel] += v;
                abs[p * pixels + pixel] += v.abs();
            }
        }
    }
    let array = |v: Vec<f64>| {
        ArrayD::from_shape_vec(IxDyn(&out_shape), v).map_err(|e| call.err(format!("output: {e}")))
    };
    let data = super::finish(x.dtype, array(value)?);
    if !x.dtype.is_float() || !call.magnitudes {
        return Ok(Output::plain(x.dtype, data));
    }
    let extra = |scale: f64| -> Vec<f64> {
        abs.iter()
            .enumerate()
            .map(|(i, a)| scale * count[i % pixels].saturating_sub(1) as f64 * a)
            .collect()
    };
    Ok(Output::bounded(
        x.dtype,
        data,
        array(extra(2.0))?,
        Some(array(extra(1.0))?),
    ))
}

// ------------------------------------------------------------- generated cases
// The case spaces of this family (machinery and conventions: ops/cases.rs).

use super::cases::{self, CaseSpace, Factor, Fill, GenCase, GenInput, Pick, Storage};

/// Col2Im's dtypes in the cases: the floats and two integer widths.
const COL2IM_DTYPES: &[DType] = &[
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I32,
    DType::I64,
];

/// Col2Im: 2-D and 3-D images, blocks that tile the image, overlap
/// (stride 1) or leave gaps (stride larger than the block), dilation,
/// symmetric and asymmetric padding, one or several channels and batch
/// elements, every layout of the columns.
pub(super) fn col2im_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(COL2IM_DTYPES),
            Factor::new("image", &["img2d", "img3d", "imgwide"]),
            Factor::new("stride", &["overlap", "tile", "gaps"]),
            Factor::new("dilation", &["dil1", "dil2"]),
            Factor::new("pads", &["nopad", "padsym", "padasym"]),
            Factor::new("channels", &["c1", "c3batch2"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let (image, block): (Vec<usize>, Vec<usize>) = match p.get("image") {
                "img2d" => (vec![6, 7], vec![2, 3]),
                "img3d" => (vec![4, 5, 4], vec![2, 2, 3]),
                _ => (vec![5, 17], vec![3, 2]),
            };
            let n = image.len();
            let strides: Vec<usize> = match p.get("stride") {
                "overlap" => vec![1; n],
                "tile" => block.clone(),
                _ => block.iter().map(|b| b + 1).collect(),
            };
            let dil = if p.is("dilation", "dil2") { 2 } else { 1 };
            let pads: Vec<usize> = match p.get("pads") {
                "nopad" => vec![0; 2 * n],
                "padsym" => vec![1; 2 * n],
                _ => (0..2 * n).map(|i| usize::from(i < n) * 2).collect(),
            };
            let mut grid = 1;
            for a in 0..n {
                let span = dil * (block[a] - 1) + 1;
                let padded = image[a] + pads[a] + pads[a + n];
                if padded < span {
                    return None;
                }
                grid *= (padded - span) / strides[a] + 1;
            }
            let (batch, channels) = if p.is("channels", "c1") {
                (1, 1)
            } else {
                (2, 3)
            };
            let kernel: usize = block.iter().product();
            let dt = p.dtype();
            let fill = if dt.is_float() {
                Fill::Default
            } else {
                Fill::Int(-9, 9)
            };
            let as_f64 = |v: &[usize]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
            let as_i64 = |v: &[usize]| v.iter().map(|&x| x as i64).collect::<Vec<_>>();
            let mut case = GenCase::new(vec![
                GenInput::new(dt, vec![batch, channels * kernel, grid])
                    .fill(fill)
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                GenInput::values(DType::I64, as_f64(&image)).some(),
                GenInput::values(DType::I64, as_f64(&block)).some(),
            ]);
            if !p.is("stride", "overlap") {
                case = case.ints("strides", as_i64(&strides));
            }
            if dil != 1 {
                case = case.ints("dilations", vec![dil as i64; n]);
            }
            if !p.is("pads", "nopad") {
                case = case.ints("pads", as_i64(&pads));
            }
            Some(case)
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::ops::AttrValue;

    #[test]
    fn col2im_overlapping_blocks_add() {
        // Image 1 x 3, block 1 x 2, stride 1: blocks at columns 0 and 1.
        // Column l holds (offset 0, offset 1) of block l: block 0 = (1, 2),
        // block 1 = (10, 20) -> pixels [1, 2 + 10, 20].
        let x = f(&[1, 2, 2], &[1.0, 10.0, 2.0, 20.0]);
        let out = run(
            "Col2Im",
            &Attributes::new(),
            &[x, i(&[2], &[1, 3]), i(&[2], &[1, 2])],
        )
        .unwrap()
        .remove(0);
        assert_eq!(out.value.shape(), &[1, 1, 1, 3]);
        close(&out.value.data, &[1.0, 12.0, 20.0], 0.0);
        // One tap: a copy, exact; two taps: 2 (n - 1) sum |x|.
        close(out.magnitude.as_ref().unwrap(), &[0.0, 24.0, 0.0], 0.0);
        close(out.io_magnitude.as_ref().unwrap(), &[0.0, 12.0, 0.0], 0.0);
    }

    #[test]
    fn col2im_pads_strides_and_dilations() {
        // Image 1 x 4, block 1 x 2, dilation 2, pads 1 each side, stride 2:
        // padded length 6, span 3, blocks at padded 0 and 2 -> image
        // columns (-1, 1) and (1, 3): pixel 1 gets two taps, 3 one, 0 and
        // 2 none; the tap at -1 is dropped.
        let x = f(&[1, 2, 2], &[5.0, 7.0, 1.0, 2.0]);
        let a = attrs(&[
            ("dilations", AttrValue::Ints(vec![1, 2])),
            ("pads", AttrValue::Ints(vec![0, 1, 0, 1])),
            ("strides", AttrValue::Ints(vec![1, 2])),
        ]);
        let y = run1("Col2Im", &a, &[x, i(&[2], &[1, 4]), i(&[2], &[1, 2])]);
        // block 0: offset 0 (5) at -1 dropped, offset 1 (1) at 1;
        // block 1: offset 0 (7) at 1, offset 1 (2) at 3.
        close(&y.data, &[0.0, 8.0, 0.0, 2.0], 0.0);
    }

    #[test]
    fn col2im_channels_and_batches() {
        // 2 channels, block 1 x 1, image 1 x 2: a reshape.
        let x = f(&[1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let y = run1(
            "Col2Im",
            &Attributes::new(),
            &[x, i(&[2], &[1, 2]), i(&[2], &[1, 1])],
        );
        assert_eq!(y.shape(), &[1, 2, 1, 2]);
        close(&y.data, &[1.0, 2.0, 3.0, 4.0], 0.0);
    }

    #[test]
    fn col2im_errors() {
        let x = f(&[1, 4, 6], &[0.0; 24]);
        let none = Attributes::new();
        let call = |img: &[i64], blk: &[i64]| {
            vec![
                Some(x.clone()),
                Some(i(&[img.len()], img)),
                Some(i(&[blk.len()], blk)),
            ]
        };
        fails("Col2Im", &none, &call(&[3, 5], &[2, 2]), "dimension 2 is 6");
        fails("Col2Im", &none, &call(&[3, 4], &[3, 3]), "not a multiple");
        fails("Col2Im", &none, &call(&[4], &[4]), "at least 2 values");
        fails(
            "Col2Im",
            &none,
            &call(&[1, 4], &[2, 2]),
            "larger than the padded image",
        );
        fails("Col2Im", &none, &call(&[0, 4], &[2, 2]), "at least 1");
        let a = attrs(&[("pads", AttrValue::Ints(vec![0, 0]))]);
        fails("Col2Im", &a, &call(&[3, 4], &[2, 2]), "pads has 2 values");
    }
}
