//! ConvTranspose (11).
//!
//! Output `o` of a spatial axis gathers tap `j` from input `(o + begin - j
//! d) / s` when that is whole and inside the input, so ConvTranspose is
//! Conv's im2col + GEMM ([`super::conv::Lowered`]) with that gather table
//! and W `[C, M/group, k...]` rearranged to `M × (C/group · k)`. The full
//! output of an axis is `s (in - 1) + output_padding + (k - 1) d + 1`;
//! `begin` and the output size follow ONNX's reference evaluator: explicit
//! pads crop the full output; SAME_UPPER / SAME_LOWER aim at `in · s` (or
//! `output_shape`) and crop `floor(total / 2)` (UPPER) or the rest (LOWER)
//! at the beginning; `output_shape` without auto_pad keeps the pads'
//! beginning and crops or extends at the end.

use xpucert_abi::BackendError;

use super::Args;
use super::conv::{Lowered, PAD, combine, positive, split};
use crate::tensor::{Real, Tensor, with_real};

/// Where ConvTranspose's output window sits on the full output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    /// X's spatial sizes.
    pub input: Vec<usize>,
    /// Taps per axis.
    pub kernel: Vec<usize>,
    /// Step between input elements' landing points.
    pub strides: Vec<usize>,
    /// Step between taps.
    pub dilations: Vec<usize>,
    /// Full-output elements cropped at the beginning (negative: added).
    pub begin: Vec<i64>,
    /// `output_padding` (extra elements at the end of the full output).
    pub output_padding: Vec<usize>,
    /// The output's spatial sizes.
    pub output: Vec<usize>,
}

/// An int-list attribute of `len` values in `min..=2^32`, if present.
fn list(
    args: &Args<'_>,
    name: &str,
    len: usize,
    min: i64,
) -> Result<Option<Vec<i64>>, BackendError> {
    match args.attrs.ints(name)? {
        None => Ok(None),
        Some(v) if v.len() == len && v.iter().all(|&x| (min..=1 << 32).contains(&x)) => {
            Ok(Some(v.to_vec()))
        }
        Some(v) => Err(args.invalid(format!(
            "attribute {name} {v:?}: {len} values of at least {min} expected"
        ))),
    }
}

/// A ConvTranspose call's geometry and group, its shapes checked.
pub fn geometry(args: &Args<'_>) -> Result<(Geometry, usize), BackendError> {
    let (x, w) = (args.input(0)?, args.input(1)?);
    let (_, c, spatial) = split(args.op, &x.shape)?;
    let rank = spatial.len();
    let group = args.attrs.int("group", 1)?;
    let Some(g) = usize::try_from(group)
        .ok()
        .filter(|&g| g >= 1 && c % g == 0)
    else {
        return Err(args.invalid(format!("group {group} does not divide {c} channels")));
    };
    if w.shape.len() != x.shape.len() || w.shape[0] != c {
        return Err(args.invalid(format!(
            "W {:?} is not [C, M/group, k...] for X {:?}",
            w.shape, x.shape
        )));
    }
    let kernel = w.shape[2..].to_vec();
    if spatial.contains(&0) || kernel.iter().any(|&k| k == 0 || k > 1 << 32) {
        return Err(args.invalid(format!(
            "spatial shape {spatial:?} with kernel {kernel:?}: sizes must be positive"
        )));
    }
    if let Some(k) = args.attrs.ints("kernel_shape")?
        && !k.iter().map(|&v| v as usize).eq(kernel.iter().copied())
    {
        return Err(args.invalid(format!("kernel_shape {k:?} differs from W {:?}", w.shape)));
    }
    if let Some(b) = args.optional(2)
        && b.shape != [w.shape[1] * g]
    {
        return Err(args.invalid(format!("B {:?} must be [{}]", b.shape, w.shape[1] * g)));
    }
    let strides = positive(&args.attrs, "strides", rank)?;
    let dilations = positive(&args.attrs, "dilations", rank)?;
    let output_padding = list(args, "output_padding", rank, 0)?.unwrap_or(vec![0; rank]);
    let output_shape = list(args, "output_shape", rank, 1)?;
    let pads = list(args, "pads", 2 * rank, 0)?;
    let auto_pad = args.attrs.string("auto_pad", "NOTSET")?;
    if pads.is_some() && auto_pad != "NOTSET" {
        return Err(args.invalid(format!("pads given with auto_pad {auto_pad}")));
    }
    let mut geo = Geometry {
        input: spatial,
        kernel,
        strides,
        dilations,
        begin: vec![0; rank],
        output_padding: output_padding.iter().map(|&p| p as usize).collect(),
        output: vec![0; rank],
    };
    for i in 0..rank {
        let (n, k, s, d) = (
            geo.input[i] as i64,
            geo.kernel[i] as i64,
            geo.strides[i] as i64,
            geo.dilations[i] as i64,
        );
        let full = s * (n - 1) + output_padding[i] + (k - 1) * d + 1;
        let target = output_shape.as_ref().map(|o| o[i]);
        let (begin, out) = match auto_pad {
            "SAME_UPPER" | "SAME_LOWER" => {
                let out = target.unwrap_or(n * s);
                let total = full - out;
                let half = total.div_euclid(2);
                let begin = if auto_pad == "SAME_UPPER" {
                    half
                } else {
                    total - half
                };
                (begin, out)
            }
            "NOTSET" | "VALID" => {
                let (pb, pe) = pads.as_ref().map_or((0, 0), |p| (p[i], p[rank + i]));
                (pb, target.unwrap_or(full - pb - pe))
            }
            other => return Err(args.invalid(format!("auto_pad {other:?}"))),
        };
        if !(1..=1 << 32).contains(&out) {
            return Err(args.invalid(format!("spatial axis {i} would have {out} outputs")));
        }
        (geo.begin[i], geo.output[i]) = (begin, out as usize);
    }
    Ok((geo, g))
}

impl Geometry {
    /// The gather table ([`combine`]): tap `j` of output `o` reads input
    /// `(o + begin - j d) / s` when whole and inside, else padding.
    pub fn taps(&self) -> Vec<isize> {
        let axes: Vec<Vec<isize>> = (0..self.input.len())
            .map(|i| {
                let (n, s, d, b) = (
                    self.input[i] as i64,
                    self.strides[i] as i64,
                    self.dilations[i] as i64,
                    self.begin[i],
                );
                let mut v = Vec::with_capacity(self.output[i] * self.kernel[i]);
                for o in 0..self.output[i] as i64 {
                    for j in 0..self.kernel[i] as i64 {
                        let c = o + b - j * d;
                        v.push(if c.rem_euclid(s) == 0 && (0..n).contains(&(c / s)) {
                            (c / s) as isize
                        } else {
                            PAD
                        });
                    }
                }
                v
            })
            .collect();
        combine(&axes, &self.kernel, &self.output, &self.input, false)
    }
}

/// ConvTranspose: see the module documentation.
pub fn conv_transpose(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (g, group) = geometry(args)?;
    conv_transpose_with(args, &g, group)
}

/// ConvTranspose with a given geometry (the mutants backend passes a wrong
/// one).
pub fn conv_transpose_with(
    args: &Args<'_>,
    g: &Geometry,
    group: usize,
) -> Result<Tensor, BackendError> {
    let (x, w) = (args.input(0)?, args.input(1)?);
    let (n, c) = (x.shape[0], x.shape[1]);
    let (cg, mg) = (c / group, w.shape[1]);
    let taps: usize = g.kernel.iter().product();
    let lowered = Lowered {
        batch: n,
        channels: c,
        maps: mg * group,
        group,
        spatial: g.input.iter().product(),
        taps,
        outputs: g.output.iter().product(),
        table: g.taps(),
    };
    let mut shape = vec![n, mg * group];
    shape.extend(&g.output);
    with_real!(x.dtype(), T => {
        let (xv, wv) = (x.to_real::<T>()?, w.to_real::<T>()?);
        // W[grp·cg + c, m, t] -> weights[grp·mg + m, c·taps + t].
        let mut weights = vec![T::ZERO; wv.len()];
        for grp in 0..group {
            for ci in 0..cg {
                for m in 0..mg {
                    let from = ((grp * cg + ci) * mg + m) * taps;
                    let to = (grp * mg + m) * cg * taps + ci * taps;
                    weights[to..to + taps].copy_from_slice(&wv[from..from + taps]);
                }
            }
        }
        let y = lowered.run(&xv, &weights, args.optional(2))?;
        Tensor::from_real(x.dtype(), shape, y)
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use xpucert_abi::AttrValue;

    #[test]
    fn stride_output_padding_and_bias() {
        // x = [1, 2, 3], w = [1, 10], stride 2, one output_padding, bias -1.
        let y = run1(
            "ConvTranspose",
            &[
                ("strides", AttrValue::Ints(&[2])),
                ("output_padding", AttrValue::Ints(&[1])),
            ],
            vec![
                f32t(&[1, 1, 3], &[1.0, 2.0, 3.0]),
                f32t(&[1, 1, 2], &[1.0, 10.0]),
                f32t(&[1], &[-1.0]),
            ],
        )
        .unwrap();
        assert_eq!(y.shape, [1, 1, 7]);
        assert_eq!(values(&y), [0.0, 9.0, 1.0, 19.0, 2.0, 29.0, -1.0]);
    }

    #[test]
    fn same_upper_and_lower_and_groups() {
        let run = |mode: &'static str| {
            let y = run1(
                "ConvTranspose",
                &[
                    ("strides", AttrValue::Ints(&[2])),
                    ("auto_pad", AttrValue::String(mode)),
                ],
                vec![
                    f32t(&[1, 1, 3], &[1.0, 2.0, 3.0]),
                    f32t(&[1, 1, 3], &[1.0, 1.0, 1.0]),
                ],
            )
            .unwrap();
            values(&y)
        };
        // Full output [1, 1, 3, 2, 5, 3, 3], six kept.
        assert_eq!(run("SAME_UPPER"), [1.0, 1.0, 3.0, 2.0, 5.0, 3.0]);
        assert_eq!(run("SAME_LOWER"), [1.0, 3.0, 2.0, 5.0, 3.0, 3.0]);
        // Two groups, W [2, 1, 1]: map 0 = 2 · channel 0, map 1 = 3 · channel 1.
        let y = run1(
            "ConvTranspose",
            &[("group", AttrValue::Int(2))],
            vec![
                f32t(&[1, 2, 2], &[1.0, 2.0, 3.0, 4.0]),
                f32t(&[2, 1, 1], &[2.0, 3.0]),
            ],
        )
        .unwrap();
        assert_eq!(values(&y), [2.0, 4.0, 9.0, 12.0]);
    }
}
