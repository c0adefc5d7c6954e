//! ConvTranspose (opset 11; 22 only adds bfloat16, which the one version
//! here accepts).
//!
//! ConvTranspose scatters every input element through the kernel: input
//! position `i` and tap `j` of a spatial axis land on output position `o =
//! i s - begin + j d`. Read the other way round, output `o` gathers tap `j`
//! from input `(o + begin - j d) / s` when that is a whole number inside
//! the input, and nothing otherwise; so the oracle is Conv's im2col
//! ([`conv::Lowered`]) with a different gather table and W `[C, M/group,
//! k...]` laid out as the `M × (C/group · k)` weight matrix.
//!
//! # Geometry (ONNX's specification and reference evaluator)
//! The full output of an axis is
//! `s (in - 1) + output_padding + (k - 1) d + 1`; `output_padding` adds
//! elements at the end only (no input reaches them unless the kernel does,
//! so they hold the bias). Then:
//! * `pads` (auto_pad NOTSET) crop `begin` and `end` elements off the full
//!   output: `out = full - begin - end`.
//! * SAME_UPPER / SAME_LOWER aim at `out = in · s` (or `output_shape`):
//!   the total padding `full - out` is split `floor(total / 2)` at the
//!   beginning for SAME_UPPER (the odd unit at the end) and `total -
//!   floor(total / 2)` for SAME_LOWER. This is *not* Conv's split formula
//!   (Conv pads the input, ConvTranspose crops the output), and a negative
//!   total (an output larger than the full one) moves the window the other
//!   way, as the reference evaluator's col2im does (floor division).
//! * `output_shape` with auto_pad NOTSET (or VALID) sets `out`. Here the
//!   specification and ONNX's reference evaluator disagree: the
//!   specification derives the padding from `output_shape` and puts
//!   `total - floor(total / 2)` at the beginning, ignoring `pads`; the
//!   reference evaluator keeps `pads`' beginning (0 without pads) and crops
//!   or extends at the end (onnxruntime, for its part, puts
//!   `floor(total / 2)` at the beginning). The oracle accepts the call when the
//!   specification and the reference evaluator agree (every ONNX node test
//!   does: `output_shape` one above the full size, or equal to it) and
//!   refuses it, naming the two answers, when they do not: a backend cannot
//!   be held to either.
//! * `pads` together with an auto_pad other than NOTSET is refused, as for
//!   Conv.
//!
//! # Check policy
//! The summation bound, as Conv: each output sums at most `C/group ×
//! prod_i ceil(k_i / (s_i / gcd(s_i, d_i)))` products (the taps of one
//! axis that reach a given output are those `j` with `j d ≡ o + begin`
//! modulo `s`, one in every `s / gcd(s, d)`), plus the bias; the magnitude
//! is `sum |w x| + |b|` over exactly the contributing products. col2im
//! (scatter) and gather kernels, in any order and with FMA, are
//! reorderings of that one sum.

use ndarray::Array2;

use super::conv::{self, LIMIT, Lowered, T_WIDE, Tap, positive_list, split_input};
use super::spec::fixed;
use super::{
    AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape, Value,
    Work, rules,
};
use crate::numerics::check::CheckPolicy;

/// ConvTranspose-11.
pub(super) const CONV_TRANSPOSE: OpDef = OpDef {
    spec: OpSpec {
        name: "ConvTranspose",
        domain: "",
        opset: 11,
        arity: fixed(2, 1),
        input_names: &["X", "W", "B"],
        input_types: &[T_WIDE, T_WIDE, T_WIDE],
        outputs: 1,
        attributes: &[
            ("auto_pad", AttrType::String),
            ("dilations", AttrType::Ints),
            ("group", AttrType::Int),
            ("kernel_shape", AttrType::Ints),
            ("output_padding", AttrType::Ints),
            ("output_shape", AttrType::Ints),
            ("pads", AttrType::Ints),
            ("strides", AttrType::Ints),
        ],
    },
    oracle: |c| Ok(vec![conv_transpose(c)?]),
    shape: conv_transpose_shape,
    cost: conv_transpose_cost,
    check: CheckPolicy::SumBound,
    terms: conv_transpose_terms,
};

/// A valid ConvTranspose call's geometry.
#[derive(Debug, Clone, PartialEq)]
struct Geometry {
    batch: usize,
    /// X's channels C (W's first dimension).
    channels: usize,
    /// Output channels M = W's second dimension × group.
    maps: usize,
    group: usize,
    /// X's spatial shape.
    input: Vec<usize>,
    kernel: Vec<usize>,
    strides: Vec<usize>,
    dilations: Vec<usize>,
    /// Output elements cropped at the beginning of each axis (negative:
    /// added there).
    begin: Vec<i64>,
    /// The output's spatial shape.
    output: Vec<usize>,
}

/// A list attribute of `len` values, each `min` to 2^32, or `None` if
/// absent.
fn bounded_list(
    attrs: &Attributes,
    name: &str,
    len: usize,
    min: i64,
) -> std::result::Result<Option<Vec<i64>>, String> {
    let Some(v) = attrs.ints(name)? else {
        return Ok(None);
    };
    if v.len() != len {
        return Err(format!(
            "attribute {name} has {} values, {len} expected",
            v.len()
        ));
    }
    if let Some(&x) = v.iter().find(|&&x| x < min || i128::from(x) > LIMIT) {
        return Err(format!(
            "attribute {name} holds {x}; each must be {min} to 2^32"
        ));
    }
    Ok(Some(v.to_vec()))
}

/// Checks a ConvTranspose call: X `[N, C, D...]`, W `[C, M/group, k...]`,
/// B `[M]`, `group` dividing C, `kernel_shape` (if given) W's spatial
/// shape, and the geometry of the module documentation.
fn geometry(
    attrs: &Attributes,
    x: &[usize],
    w: &[usize],
    b: Option<&[usize]>,
) -> std::result::Result<Geometry, String> {
    let (batch, channels, spatial) = split_input(x)?;
    let rank = spatial.len();
    if let Some(i) = spatial.iter().position(|&d| d == 0) {
        return Err(format!("spatial axis {i} of X has size 0"));
    }
    if w.len() != x.len() {
        return Err(format!(
            "W must be [C, M/group, k1, ...] of X's rank {}, got shape {w:?}",
            x.len()
        ));
    }
    let group = attrs.int("group", 1)?;
    let g = usize::try_from(group)
        .ok()
        .filter(|&g| g >= 1)
        .ok_or_else(|| format!("group must be at least 1, got {group}"))?;
    if !channels.is_multiple_of(g) {
        return Err(format!("group {g} must divide X's {channels} channels"));
    }
    if w[0] != channels {
        return Err(format!(
            "W's first dimension is {}, but X has {channels} channels (W is [C, M/group, k...])",
            w[0]
        ));
    }
    let maps = w[1] * g;
    let kernel = w[2..].to_vec();
    if let Some(&k) = kernel.iter().find(|&&k| k == 0 || k as i128 > LIMIT) {
        return Err(format!("kernel size {k} is out of range (1 to 2^32)"));
    }
    if let Some(k) = conv::kernel_attr(attrs, rank)?
        && k != kernel
    {
        return Err(format!(
            "kernel_shape {k:?} differs from W's spatial shape {kernel:?}"
        ));
    }
    if let Some(b) = b
        && b != [maps]
    {
        return Err(format!("B must be [M] = [{maps}], got shape {b:?}"));
    }
    let strides = positive_list(attrs, "strides", rank)?;
    let dilations = positive_list(attrs, "dilations", rank)?;
    let output_padding = bounded_list(attrs, "output_padding", rank, 0)?;
    let output_shape = bounded_list(attrs, "output_shape", rank, 1)?;
    let pads = bounded_list(attrs, "pads", 2 * rank, 0)?;
    let auto_pad = attrs.string("auto_pad", "NOTSET")?;
    if !matches!(auto_pad, "NOTSET" | "SAME_UPPER" | "SAME_LOWER" | "VALID") {
        return Err(format!(
            "auto_pad {auto_pad:?} is not NOTSET, SAME_UPPER, SAME_LOWER or VALID"
        ));
    }
    if let Some(p) = &pads
        && auto_pad != "NOTSET"
    {
        return Err(format!(
            "pads {p:?} given with auto_pad {auto_pad}: the two cannot be used together"
        ));
    }
    let mut geo = Geometry {
        batch,
        channels,
        maps,
        group: g,
        input: spatial.to_vec(),
        kernel,
        strides,
        dilations,
        begin: vec![0; rank],
        output: vec![0; rank],
    };
    for i in 0..rank {
        let (n, k, s, d) = (
            geo.input[i] as i128,
            geo.kernel[i] as i128,
            geo.strides[i] as i128,
            geo.dilations[i] as i128,
        );
        if n > LIMIT {
            return Err(format!("spatial axis {i} of X is too large ({n})"));
        }
        let adj = output_padding.as_ref().map_or(0, |p| i128::from(p[i]));
        let full = s * (n - 1) + adj + (k - 1) * d + 1;
        let target = output_shape.as_ref().map(|o| i128::from(o[i]));
        let (begin, out) = match auto_pad {
            "SAME_UPPER" | "SAME_LOWER" => {
                let out = target.unwrap_or(n * s);
                let total = full - out;
                let half = total.div_euclid(2);
                (
                    if auto_pad == "SAME_UPPER" {
                        half
                    } else {
                        total - half
                    },
                    out,
                )
            }
            _ => {
                let (pb, pe) = pads
                    .as_ref()
                    .map_or((0, 0), |p| (i128::from(p[i]), i128::from(p[rank + i])));
                match target {
                    None => (pb, full - pb - pe),
                    Some(out) => {
                        let total = full - out;
                        let by_spec = total - total.div_euclid(2);
                        if by_spec != pb {
                            return Err(format!(
                                "output_shape {out} on spatial axis {i} leaves {total} of the \
                                 full {full} outputs to crop: ONNX's specification crops \
                                 {by_spec} at the beginning, its reference evaluator {pb}; \
                                 the call's meaning is ambiguous"
                            ));
                        }
                        (pb, out)
                    }
                }
            }
        };
        if out < 1 {
            return Err(format!(
                "spatial axis {i} has {out} outputs: the padding crops the whole full output \
                 of {full}"
            ));
        }
        if out > LIMIT {
            return Err(format!("spatial axis {i} would have {out} outputs"));
        }
        geo.begin[i] = begin as i64;
        geo.output[i] = out as usize;
    }
    Ok(geo)
}

impl Geometry {
    /// The gather table: output `o` reads tap `j` from input `(o + begin -
    /// j d) / s` when that is whole and inside the input.
    fn table(&self) -> Vec<Tap> {
        let axes: Vec<Vec<Tap>> = (0..self.input.len())
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
                            Tap::Input((c / s) as usize)
                        } else {
                            Tap::Pad
                        });
                    }
                }
                v
            })
            .collect();
        conv::combine(&axes, &self.kernel, &self.output, &self.input, false)
    }

    /// The output shape `[N, M, out...]`.
    fn shape(&self) -> Vec<usize> {
        let mut out = vec![self.batch, self.maps];
        out.extend(&self.output);
        out
    }
}

fn conv_transpose_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    _: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (dtype, x) = rules::input(inputs, 0)?;
    let (_, w) = rules::input(inputs, 1)?;
    let b = inputs
        .get(2)
        .and_then(Option::as_ref)
        .map(|t| t.1.as_slice());
    Ok(vec![(*dtype, geometry(attrs, x, w, b)?.shape())])
}

/// `2 · N · C · in · M/group · kernel` (every input element times every
/// weight of its channel), plus `N · M · out` with a bias.
fn conv_transpose_cost(attrs: &Attributes, inputs: &[Option<&[usize]>]) -> Work {
    let (x, w) = (rules::shape_of(inputs, 0), rules::shape_of(inputs, 1));
    let b = inputs.get(2).copied().flatten();
    let Ok(g) = geometry(attrs, x, w, b) else {
        return Work {
            flops: Some(0.0),
            multiply_adds: 0.0,
            scratch: 0.0,
        };
    };
    let macs = rules::numel(x) * rules::numel(&w[1..]);
    let outputs = rules::numel(&g.shape());
    let taps = rules::numel(&g.kernel);
    Work {
        flops: Some(2.0 * macs + if b.is_some() { outputs } else { 0.0 }),
        multiply_adds: macs,
        // The im2col matrix of one (batch, group), its absolute value, and
        // the rearranged weights.
        scratch: 2.0 * (g.channels / g.group) as f64 * taps * rules::numel(&g.output)
            + rules::numel(w),
    }
}

/// The greatest common divisor.
fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The most products one output sums (see the module documentation), one
/// more with a bias.
fn conv_transpose_terms(attrs: &Attributes, shapes: &[Option<Vec<usize>>], _: &[usize]) -> usize {
    let Some(w) = shapes.get(1).and_then(Option::as_ref) else {
        return 1;
    };
    let rank = w.len().saturating_sub(2);
    let group = attrs.int("group", 1).unwrap_or(1).max(1) as usize;
    let strides = positive_list(attrs, "strides", rank).unwrap_or_else(|_| vec![1; rank]);
    let dilations = positive_list(attrs, "dilations", rank).unwrap_or_else(|_| vec![1; rank]);
    let per_axis = w[2..]
        .iter()
        .zip(strides.iter().zip(&dilations))
        .map(|(&k, (&s, &d))| {
            let period = s / gcd(s, d);
            k.div_ceil(period.max(1))
        });
    let products = (w.first().copied().unwrap_or(1) / group).max(1) * per_axis.product::<usize>();
    let bias = shapes.get(2).is_some_and(Option::is_some);
    products.max(1) + usize::from(bias)
}

/// ConvTranspose (opset 11): `Y[n, m, o] = B[m] + sum W[c, m', j] ·
/// X[n, c, i]` over the channels `c` of m's group, `m' = m mod M/group`,
/// and every `(i, j)` with `i s - begin + j d = o` on each axis.
fn conv_transpose(call: &Call) -> Result<Output> {
    let (x, w, b) = (call.input(0)?, call.input(1)?, call.opt(2));
    let g =
        geometry(call.attrs, x.shape(), w.shape(), b.map(Value::shape)).map_err(|m| call.err(m))?;
    let (cg, mg) = (g.channels / g.group, g.maps / g.group);
    let taps: usize = g.kernel.iter().product();
    // W[grp·cg + c, m', t] -> weights[grp·mg + m', c·taps + t].
    let ws: Vec<f64> = w.data.iter().copied().collect();
    let mut weights = Array2::<f64>::zeros((g.maps, cg * taps));
    for grp in 0..g.group {
        for c in 0..cg {
            for m in 0..mg {
                let from = ((grp * cg + c) * mg + m) * taps;
                let mut row = weights.row_mut(grp * mg + m);
                for t in 0..taps {
                    row[c * taps + t] = ws[from + t];
                }
            }
        }
    }
    let lowered = Lowered {
        batch: g.batch,
        channels: g.channels,
        group: g.group,
        input: &g.input,
        kernel: &g.kernel,
        output: &g.output,
        table: g.table(),
    };
    lowered.run(call, x, weights.view(), b)
}

// ------------------------------------------------------------- generated cases

use super::cases::{CaseSpace, Factor, GenCase, GenInput, Pick, Storage};

/// ConvTranspose: 1-D and 2-D, one group, depthwise and two groups, few
/// and many channels, kernels 1, 3 and rectangular, strides 1, 2 and 3,
/// dilations 1 and 2, every padding (asymmetric pads, SAME_UPPER and
/// SAME_LOWER, whose odd unit the rectangular kernel makes show, and an
/// `output_shape` one above the full size), output_padding 0 and 1, with
/// and without a bias, every layout of X.
pub(super) fn conv_transpose_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(super::cases::FLOATS),
            Factor::new("dims", &["d1", "d2"]),
            Factor::new("group", &["g1", "gdepth", "g2"]),
            Factor::new("chan", &["cfew", "cmany"]),
            Factor::new("kernel", &["k1", "k3", "krect"]),
            Factor::new("stride", &["s1", "s2", "s3"]),
            Factor::new("dilation", &["dil1", "dil2"]),
            Factor::new(
                "pads",
                &[
                    "pnone",
                    "psym",
                    "pasym",
                    "sameupper",
                    "samelower",
                    "valid",
                    "outshape",
                ],
            ),
            Factor::new("outpad", &["op0", "op1"]),
            Factor::new("bias", &["bias", "nobias"]),
            super::cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            // Smaller than Conv's inputs: the output grows by the stride.
            let spatial = match p.get("dims") {
                "d1" => vec![7],
                _ => vec![5, 4],
            };
            let rank = spatial.len();
            let kernel = conv::kernel_of(p.get("kernel"), rank);
            let many = p.is("chan", "cmany");
            let c = if many { 32 } else { 4 };
            let (mg, group) = match p.get("group") {
                "g1" => (if many { 8 } else { 3 }, 1),
                "gdepth" => (1, c),
                _ => (3, 2),
            };
            let stride = match p.get("stride") {
                "s1" => 1,
                "s2" => 2,
                _ => 3,
            };
            if p.is("kernel", "k1") && p.is("dilation", "dil2") {
                return None;
            }
            // output_padding below the stride, as every framework requires.
            let outpad = i64::from(p.is("outpad", "op1"));
            if outpad >= stride {
                return None;
            }
            // ONNX's reference evaluator computes an output_shape above the
            // full size only when the extra output does not make another
            // whole stride (its col2im recounts the input from the output).
            if p.is("pads", "outshape") && outpad + 1 >= stride {
                return None;
            }
            let dt = p.dtype();
            let mut x = vec![2, c];
            x.extend(&spatial);
            let mut w = vec![c, mg];
            w.extend(&kernel);
            let mut inputs = vec![
                GenInput::new(dt, x.clone())
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                GenInput::new(dt, w.clone()).some(),
            ];
            if p.is("bias", "bias") {
                inputs.push(GenInput::new(dt, vec![mg * group]).some());
            }
            let mut case = GenCase::new(inputs).int("group", group as i64);
            if stride > 1 {
                case = case.ints("strides", vec![stride; rank]);
            }
            if p.is("dilation", "dil2") {
                case = case.ints("dilations", vec![2; rank]);
            }
            if p.is("outpad", "op1") {
                case = case.ints("output_padding", vec![1; rank]);
            }
            case = if p.is("pads", "outshape") {
                // One above the full size: the one extra output holds the
                // bias only, at the end (specification and reference agree).
                let full = (0..rank).map(|i| {
                    stride * (spatial[i] as i64 - 1)
                        + outpad
                        + (kernel[i] as i64 - 1) * if p.is("dilation", "dil2") { 2 } else { 1 }
                        + 2
                });
                case.ints("output_shape", full.collect())
            } else {
                conv::with_pads(case, p.get("pads"), rank)
            };
            // Large pads can crop a small full output away: not a case.
            let b = inputs_bias(&case);
            geometry(&case.attributes, &x, &w, b.as_deref()).ok()?;
            Some(case)
        }),
    })
}

/// The bias shape of a generated case, if it has one.
fn inputs_bias(case: &GenCase) -> Option<Vec<usize>> {
    case.inputs.get(2)?.as_ref().map(|i| i.shape.clone())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::ops::AttrValue;

    fn ints(v: &[i64]) -> AttrValue {
        AttrValue::Ints(v.to_vec())
    }

    fn s(v: &str) -> AttrValue {
        AttrValue::String(v.into())
    }

    #[test]
    fn scatter_1d_by_hand() {
        // x = [1, 2, 3], w = [1, 10], stride 2: x[i] lands on 2i and 2i + 1.
        let x = f(&[1, 1, 3], &[1.0, 2.0, 3.0]);
        let w = f(&[1, 1, 2], &[1.0, 10.0]);
        let a = attrs(&[("strides", ints(&[2]))]);
        let y = run1("ConvTranspose", &a, &[x.clone(), w.clone()]);
        close(&y.data, &[1.0, 10.0, 2.0, 20.0, 3.0, 30.0], 0.0);
        // Stride 1 overlaps: y[o] = x[o] + 10 x[o - 1].
        let out = run("ConvTranspose", &Attributes::new(), &[x.clone(), w.clone()])
            .unwrap()
            .remove(0);
        close(&out.value.data, &[1.0, 12.0, 23.0, 30.0], 0.0);
        close(
            out.magnitude.as_ref().unwrap(),
            &[1.0, 12.0, 23.0, 30.0],
            0.0,
        );
        // output_padding adds one element at the end: the bias alone.
        let a = attrs(&[("strides", ints(&[2])), ("output_padding", ints(&[1]))]);
        let y = run1("ConvTranspose", &a, &[x, w, f(&[1], &[-1.0])]);
        close(&y.data, &[0.0, 9.0, 1.0, 19.0, 2.0, 29.0, -1.0], 0.0);
    }

    #[test]
    fn pads_crop_and_same_splits_the_odd_unit() {
        // Full output of x = [1, 2, 3], w = [1, 1, 1]: [1, 3, 6, 5, 3].
        let x = f(&[1, 1, 3], &[1.0, 2.0, 3.0]);
        let w = f(&[1, 1, 3], &[1.0, 1.0, 1.0]);
        let y = run1(
            "ConvTranspose",
            &attrs(&[("pads", ints(&[1, 2]))]),
            &[x.clone(), w.clone()],
        );
        close(&y.data, &[3.0, 6.0], 0.0);
        // Stride 2, k = 2: full [1, 1, 2, 2, 3, 3] is 6 = 3 · 2: no crop.
        // k = 3: full 7, target 6, one unit: at the end for SAME_UPPER, at
        // the beginning for SAME_LOWER.
        let two = attrs(&[("strides", ints(&[2])), ("auto_pad", s("SAME_UPPER"))]);
        let y = run1("ConvTranspose", &two, &[x.clone(), w.clone()]);
        // Full: [1, 1, 3, 2, 5, 3, 3].
        close(&y.data, &[1.0, 1.0, 3.0, 2.0, 5.0, 3.0], 0.0);
        let lower = attrs(&[("strides", ints(&[2])), ("auto_pad", s("SAME_LOWER"))]);
        let y = run1("ConvTranspose", &lower, &[x.clone(), w.clone()]);
        close(&y.data, &[1.0, 3.0, 2.0, 5.0, 3.0, 3.0], 0.0);
        // k = 1, stride 2: full 5, target 6: total -1; SAME_UPPER moves the
        // window back one (floor(-1/2) = -1), SAME_LOWER adds at the end.
        let w1 = f(&[1, 1, 1], &[1.0]);
        let y = run1("ConvTranspose", &two, &[x.clone(), w1.clone()]);
        close(&y.data, &[0.0, 1.0, 0.0, 2.0, 0.0, 3.0], 0.0);
        let y = run1("ConvTranspose", &lower, &[x, w1]);
        close(&y.data, &[1.0, 0.0, 2.0, 0.0, 3.0, 0.0], 0.0);
    }

    #[test]
    fn output_shape_extends_at_the_end_and_ambiguity_is_refused() {
        let x = f(&[1, 1, 3], &[1.0, 2.0, 3.0]);
        let w = f(&[1, 1, 3], &[1.0, 1.0, 1.0]);
        // Stride 2: full [1, 1, 3, 2, 5, 3, 3], one more output at the end.
        let y = run1(
            "ConvTranspose",
            &attrs(&[("output_shape", ints(&[8])), ("strides", ints(&[2]))]),
            &[x.clone(), w.clone()],
        );
        close(&y.data, &[1.0, 1.0, 3.0, 2.0, 5.0, 3.0, 3.0, 0.0], 0.0);
        fails(
            "ConvTranspose",
            &attrs(&[("output_shape", ints(&[4]))]),
            &[Some(x.clone()), Some(w.clone())],
            "ambiguous",
        );
        // With SAME_LOWER the two agree: the odd unit at the beginning.
        let y = run1(
            "ConvTranspose",
            &attrs(&[("output_shape", ints(&[4])), ("auto_pad", s("SAME_LOWER"))]),
            &[x, w],
        );
        close(&y.data, &[3.0, 6.0, 5.0, 3.0], 0.0);
    }

    #[test]
    fn groups_dilations_and_2d_by_hand() {
        // Two groups, W [2, 1, 1]: map 0 = 2 · channel 0, map 1 = 3 · channel 1.
        let x = f(&[1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let w = f(&[2, 1, 1], &[2.0, 3.0]);
        let y = run1(
            "ConvTranspose",
            &attrs(&[("group", AttrValue::Int(2))]),
            &[x, w],
        );
        close(&y.data, &[2.0, 4.0, 9.0, 12.0], 0.0);
        // Dilation 2, k = 2: x[i] lands on i and i + 2.
        let x = f(&[1, 1, 2], &[1.0, 2.0]);
        let w = f(&[1, 1, 2], &[1.0, 10.0]);
        let y = run1(
            "ConvTranspose",
            &attrs(&[("dilations", ints(&[2]))]),
            &[x, w],
        );
        close(&y.data, &[1.0, 2.0, 10.0, 20.0], 0.0);
        // ONNX's test_convtranspose_dilations (2-D, W 2 x 2, dilation 2).
        let x = f(
            &[1, 1, 3, 3],
            &[3.0, 8.0, 1.0, 9.0, 5.0, 7.0, 3.0, 2.0, 6.0],
        );
        let w = f(&[1, 1, 2, 2], &[7.0, 2.0, 1.0, 9.0]);
        let y = run1(
            "ConvTranspose",
            &attrs(&[("dilations", ints(&[2, 2]))]),
            &[x, w],
        );
        close(
            &y.data,
            &[
                21.0, 56.0, 13.0, 16.0, 2.0, 63.0, 35.0, 67.0, 10.0, 14.0, 24.0, 22.0, 76.0, 76.0,
                21.0, 9.0, 5.0, 88.0, 45.0, 63.0, 3.0, 2.0, 33.0, 18.0, 54.0,
            ],
            0.0,
        );
    }

    #[test]
    fn terms_count_the_taps_that_reach_one_output() {
        let w = Some(vec![4, 3, 5]);
        let t = |a: &Attributes| conv_transpose_terms(a, &[None, w.clone()], &[]);
        assert_eq!(t(&Attributes::new()), 4 * 5);
        assert_eq!(t(&attrs(&[("strides", ints(&[2]))])), 4 * 3);
        // d = 2, s = 2: every tap hits the same parity: all 5.
        let a = attrs(&[("strides", ints(&[2])), ("dilations", ints(&[2]))]);
        assert_eq!(t(&a), 4 * 5);
        assert_eq!(t(&attrs(&[("group", AttrValue::Int(2))])), 2 * 5);
    }

    #[test]
    fn errors() {
        let x = Some(f(&[1, 4, 3], &[0.0; 12]));
        let none = Attributes::new();
        fails(
            "ConvTranspose",
            &none,
            &[x.clone(), Some(f(&[2, 1, 1], &[0.0; 2]))],
            "X has 4 channels",
        );
        fails(
            "ConvTranspose",
            &attrs(&[("group", AttrValue::Int(3))]),
            &[x.clone(), Some(f(&[4, 1, 1], &[0.0; 4]))],
            "must divide",
        );
        fails(
            "ConvTranspose",
            &none,
            &[
                x.clone(),
                Some(f(&[4, 2, 1], &[0.0; 8])),
                Some(f(&[4], &[0.0; 4])),
            ],
            "B must be [M] = [2]",
        );
        fails(
            "ConvTranspose",
            &attrs(&[("pads", ints(&[2, 2]))]),
            &[x.clone(), Some(f(&[4, 1, 1], &[0.0; 4]))],
            "crops the whole",
        );
        fails(
            "ConvTranspose",
            &attrs(&[("pads", ints(&[0, 0])), ("auto_pad", s("VALID"))]),
            &[x.clone(), Some(f(&[4, 1, 1], &[0.0; 4]))],
            "cannot be used together",
        );
        fails(
            "ConvTranspose",
            &attrs(&[("output_padding", ints(&[-1]))]),
            &[x.clone(), Some(f(&[4, 1, 1], &[0.0; 4]))],
            "output_padding holds -1",
        );
        fails(
            "ConvTranspose",
            &attrs(&[("kernel_shape", ints(&[2]))]),
            &[x, Some(f(&[4, 1, 1], &[0.0; 4]))],
            "differs from W's spatial shape",
        );
    }

    #[test]
    fn matches_a_direct_scatter() {
        // Against the definition as a scatter, every feature at once: two
        // groups, strides, dilations, asymmetric pads, output_padding, bias.
        let (n, c, mg, g) = (2usize, 4usize, 3usize, 2usize);
        let (h, wd, kh, kw) = (3usize, 4usize, 3usize, 2usize);
        let xs: Vec<f64> = (0..n * c * h * wd)
            .map(|i| ((i * 37 % 11) as f64) - 5.0)
            .collect();
        let ws: Vec<f64> = (0..c * mg * kh * kw)
            .map(|i| ((i * 13 % 7) as f64) - 3.0)
            .collect();
        let bs = [1.0, -2.0, 3.0, 0.5, 0.0, 4.0];
        let (sh, sw, dh, dw) = (2usize, 3usize, 1usize, 2usize);
        let (pt, pl, pb, pr) = (1usize, 0usize, 0usize, 2usize);
        let (oph, opw) = (1usize, 0usize);
        let a = attrs(&[
            ("group", AttrValue::Int(g as i64)),
            ("strides", ints(&[sh as i64, sw as i64])),
            ("dilations", ints(&[dh as i64, dw as i64])),
            ("pads", ints(&[pt as i64, pl as i64, pb as i64, pr as i64])),
            ("output_padding", ints(&[oph as i64, opw as i64])),
        ]);
        let y = run1(
            "ConvTranspose",
            &a,
            &[
                f(&[n, c, h, wd], &xs),
                f(&[c, mg, kh, kw], &ws),
                f(&[mg * g], &bs),
            ],
        );
        let fh = sh * (h - 1) + oph + (kh - 1) * dh + 1;
        let fw = sw * (wd - 1) + opw + (kw - 1) * dw + 1;
        let (oh, ow) = (fh - pt - pb, fw - pl - pr);
        let m = mg * g;
        assert_eq!(y.shape(), &[n, m, oh, ow]);
        let mut full = vec![0.0; n * m * fh * fw];
        let cg = c / g;
        for b in 0..n {
            for ch in 0..c {
                let grp = ch / cg;
                for mm in 0..mg {
                    for i in 0..h {
                        for j in 0..wd {
                            for u in 0..kh {
                                for v in 0..kw {
                                    let (r, q) = (i * sh + u * dh, j * sw + v * dw);
                                    let out = ((b * m + grp * mg + mm) * fh + r) * fw + q;
                                    full[out] += xs[((b * c + ch) * h + i) * wd + j]
                                        * ws[((ch * mg + mm) * kh + u) * kw + v];
                                }
                            }
                        }
                    }
                }
            }
        }
        let mut want = Vec::new();
        for b in 0..n {
            for mm in 0..m {
                for r in 0..oh {
                    for q in 0..ow {
                        want.push(full[((b * m + mm) * fh + r + pt) * fw + q + pl] + bs[mm]);
                    }
                }
            }
        }
        close(&y.data, &want, 1e-12);
    }
}
