//! Convolution and pooling: Conv, MaxPool (with its Indices output),
//! AveragePool, GlobalAveragePool and GlobalMaxPool.
//!
//! Every op here slides a window over the spatial axes of an `[N, C, D1,
//! ..., Dn]` input, and one function ([`window`]) turns the attributes
//! (`kernel_shape`, `strides`, `dilations`, `pads`, `auto_pad`,
//! `ceil_mode`) into the window's geometry: the same function is the shape
//! rule and the oracle's validity check. The output size of each spatial
//! axis is ONNX's shape inference (`convPoolShapeInference`):
//! `floor((in + begin + end - ek) / s) + 1` with `ek = (k - 1) d + 1`, the
//! ceiling instead with `ceil_mode`, less one when the last window would
//! start in the end padding (PyTorch's rule, which ONNX adopted); SAME_UPPER
//! and SAME_LOWER pad a total of `max(0, (ceil(in / s) - 1) s + ek - in)`,
//! the odd unit at the end (UPPER) or the beginning (LOWER); VALID pads
//! nothing. `pads` together with an `auto_pad` other than NOTSET is refused:
//! the specification says the two cannot be used together.
//!
//! Conv is computed as im2col and one f64 product per (batch, group)
//! (`linalg::product`), so a ResNet-sized layer costs a matrix product, not
//! seven nested loops; its error-bound magnitude `sum |w x| + |b|` is the
//! same product on absolute values.
//!
//! # Check policies
//! * Conv: the summation bound (`CheckPolicy::SumBound`) with `n = C/group
//!   × kernel size` (+1 with a bias) and the magnitude `sum |w x| + |b|`.
//!   im2col + GEMM (any blocking), direct loops in any order and FMA are
//!   reorderings of that one sum and stay within `(4 + 2 sqrt n) u M`.
//!   Winograd F(2x2, 3x3) in f32 does *not* fit this bound, and the
//!   mutants backend has no honest Winograd mode for that reason. Its
//!   transforms add and subtract inputs (and filter taps) that the direct
//!   sum never pairs, so its rounding error grows with cross terms
//!   `|g_k d_l|`, `l != i + k`, which `M` does not hold. Worst case, 1-D:
//!   g = (1, 0, 0), d = (ε, 1, 1, 1) give y0 = ε and M = ε, but F(2,3)
//!   computes `(d0 - d2) g0 + (d1 + d2)(g0 + g1 + g2)/2 +
//!   (d2 - d1)(g0 - g1 + g2)/2`, whose roundings are of size u, not u ε:
//!   no constant `c` covers it. Measured on ordinary data (an F(2x2,3x3) kernel with the
//!   channel sum in the transformed domain, commit 6d571da, mode
//!   `conv_winograd_f23`): its implied roundoff is 1.2-4x the direct
//!   sum's, and on the core suite's `depthwise_3x3` (n = 9, normal inputs)
//!   it used 96% of the bound (quality 0.92, a `warn`), where im2col+GEMM
//!   uses 23%. A Winograd kernel needs either a bound about 4x wider for
//!   n = 9 (still not covering the worst case) or a magnitude of its own,
//!   `|Aᵀ| (sum_c |G g Gᵀ| ⊙ |Bᵀ d B|) |A|`, which only a backend that
//!   declares Winograd could be held to.
//! * MaxPool, GlobalMaxPool: exact (a maximum rounds nothing; the indices
//!   are integers).
//! * AveragePool, GlobalAveragePool: the summation bound over the window
//!   (`n` = kernel size, or the spatial size), magnitude `sum |x| / count`.

use ndarray::{Array2, ArrayD, ArrayView2, IxDyn};

use super::rules::{self, flag};
use super::spec::{TypeVar, WIDE_FLOATS, fixed};
use super::{
    AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape, Value,
    Work, linalg,
};
use crate::numerics::DType;
use crate::numerics::check::CheckPolicy;

/// Conv's, AveragePool's and the global pools' `T`: f64, f32, f16 and
/// bf16. ONNX lists bfloat16 from opset 22 on (a type-only change, the
/// same semantics), so the one version registered here accepts it.
pub(super) const T_WIDE: TypeVar = TypeVar {
    name: "T",
    allowed: WIDE_FLOATS,
};

/// MaxPool-12's `T`: the floats plus int8 and uint8 (added in 12).
const T_MAXPOOL_12: TypeVar = TypeVar {
    name: "T",
    allowed: &[
        DType::F64,
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::I8,
        DType::U8,
    ],
};

/// The attributes every windowed op shares.
const WINDOW_ATTRS: [(&str, AttrType); 4] = [
    ("auto_pad", AttrType::String),
    ("kernel_shape", AttrType::Ints),
    ("pads", AttrType::Ints),
    ("strides", AttrType::Ints),
];

/// Summing `C/group × kernel` products: the summation bound.
pub(super) const CONV: OpDef = OpDef {
    spec: OpSpec {
        name: "Conv",
        domain: "",
        opset: 11,
        arity: fixed(2, 1),
        input_names: &["X", "W", "B"],
        input_types: &[T_WIDE, T_WIDE, T_WIDE],
        outputs: 1,
        attributes: &[
            WINDOW_ATTRS[0],
            ("dilations", AttrType::Ints),
            ("group", AttrType::Int),
            WINDOW_ATTRS[1],
            WINDOW_ATTRS[2],
            WINDOW_ATTRS[3],
        ],
    },
    oracle: |c| Ok(vec![conv(c)?]),
    shape: conv_shape,
    cost: conv_cost,
    check: CheckPolicy::SumBound,
    terms: conv_terms,
};

/// The attributes of MaxPool (11 and 12 alike).
const MAXPOOL_ATTRS: &[(&str, AttrType)] = &[
    WINDOW_ATTRS[0],
    ("ceil_mode", AttrType::Int),
    ("dilations", AttrType::Ints),
    WINDOW_ATTRS[1],
    WINDOW_ATTRS[2],
    ("storage_order", AttrType::Int),
    WINDOW_ATTRS[3],
];

/// The spec of MaxPool at `opset` with input types `t`: Y and Indices.
const fn maxpool_spec(opset: i64, t: &'static [TypeVar]) -> OpSpec {
    OpSpec {
        name: "MaxPool",
        domain: "",
        opset,
        arity: fixed(1, 0),
        input_names: &["X"],
        input_types: t,
        outputs: 2,
        attributes: MAXPOOL_ATTRS,
    }
}

/// MaxPool-11: floats only. A maximum rounds nothing: exact.
pub(super) const MAXPOOL_11: OpDef = OpDef {
    spec: maxpool_spec(11, &[T_WIDE]),
    oracle: maxpool,
    shape: maxpool_shape,
    cost: pool_cost,
    check: CheckPolicy::Exact,
    terms: rules::no_sum,
};

/// MaxPool-12: as 11, plus int8 and uint8 inputs.
pub(super) const MAXPOOL: OpDef = OpDef {
    spec: maxpool_spec(12, &[T_MAXPOOL_12]),
    ..MAXPOOL_11
};

/// The attributes of AveragePool-11 (19 adds `dilations`).
const AVERAGEPOOL_11_ATTRS: &[(&str, AttrType)] = &[
    WINDOW_ATTRS[0],
    ("ceil_mode", AttrType::Int),
    ("count_include_pad", AttrType::Int),
    WINDOW_ATTRS[1],
    WINDOW_ATTRS[2],
    WINDOW_ATTRS[3],
];

/// The spec of AveragePool at `opset`.
const fn averagepool_spec(opset: i64, attributes: &'static [(&'static str, AttrType)]) -> OpSpec {
    OpSpec {
        name: "AveragePool",
        domain: "",
        opset,
        arity: fixed(1, 0),
        input_names: &["X"],
        input_types: &[T_WIDE],
        outputs: 1,
        attributes,
    }
}

/// AveragePool-11: a sum over the window divided by its count: the
/// summation bound with `n` = kernel size.
pub(super) const AVERAGEPOOL_11: OpDef = OpDef {
    spec: averagepool_spec(11, AVERAGEPOOL_11_ATTRS),
    oracle: |c| Ok(vec![averagepool(c)?]),
    shape: averagepool_shape,
    cost: pool_cost,
    check: CheckPolicy::SumBound,
    terms: pool_terms,
};

/// AveragePool-19: as 11, plus `dilations`.
pub(super) const AVERAGEPOOL: OpDef = OpDef {
    spec: averagepool_spec(
        19,
        &[
            WINDOW_ATTRS[0],
            ("ceil_mode", AttrType::Int),
            ("count_include_pad", AttrType::Int),
            ("dilations", AttrType::Ints),
            WINDOW_ATTRS[1],
            WINDOW_ATTRS[2],
            WINDOW_ATTRS[3],
        ],
    ),
    ..AVERAGEPOOL_11
};

/// The spec of a global pool (opset 1; 22 only adds bfloat16).
const fn global_spec(name: &'static str) -> OpSpec {
    OpSpec {
        name,
        domain: "",
        opset: 1,
        arity: fixed(1, 0),
        input_names: &["X"],
        input_types: &[T_WIDE],
        outputs: 1,
        attributes: &[],
    }
}

/// A mean over the spatial axes: the summation bound with `n` = their size.
pub(super) const GLOBAL_AVERAGEPOOL: OpDef = OpDef {
    spec: global_spec("GlobalAveragePool"),
    oracle: |c| Ok(vec![global_pool(c, false)?]),
    shape: global_shape,
    cost: rules::per_input_element::<1>,
    check: CheckPolicy::SumBound,
    terms: global_terms,
};

/// A maximum over the spatial axes: exact.
pub(super) const GLOBAL_MAXPOOL: OpDef = OpDef {
    spec: global_spec("GlobalMaxPool"),
    oracle: |c| Ok(vec![global_pool(c, true)?]),
    shape: global_shape,
    cost: rules::per_input_element::<1>,
    check: CheckPolicy::Exact,
    terms: rules::no_sum,
};

// ------------------------------------------------------------------ geometry

/// The geometry of a window sliding over the spatial axes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Window {
    /// The input's spatial sizes.
    input: Vec<usize>,
    /// The kernel's sizes (taps per axis).
    kernel: Vec<usize>,
    /// The step between windows.
    strides: Vec<usize>,
    /// The step between taps.
    dilations: Vec<usize>,
    /// Padding before each axis.
    begin: Vec<usize>,
    /// Padding after each axis.
    end: Vec<usize>,
    /// The output's spatial sizes.
    output: Vec<usize>,
}

/// Where one tap of one window falls: an input element (its flat spatial
/// offset), the padding, or beyond the padding (a ceil_mode window's
/// overhang, which no op counts).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Tap {
    /// An input element at this flat spatial offset.
    Input(usize),
    /// The padding (reads as 0).
    Pad,
    /// Beyond the padding (reads as 0 too, and no pool counts it).
    Outside,
}

/// An int-list attribute of `rank` positive values, all 1 when absent.
pub(super) fn positive_list(
    attrs: &Attributes,
    name: &str,
    rank: usize,
) -> std::result::Result<Vec<usize>, String> {
    match attrs.ints(name)? {
        None => Ok(vec![1; rank]),
        Some(v) if v.len() != rank => Err(format!(
            "attribute {name} has {} values, the input has {rank} spatial axes",
            v.len()
        )),
        Some(v) => v
            .iter()
            .map(|&x| {
                usize::try_from(x)
                    .ok()
                    .filter(|x| (1..=1 << 32).contains(x))
                    .ok_or_else(|| format!("attribute {name} holds {x}; each must be at least 1"))
            })
            .collect(),
    }
}

/// Largest spatial size, kernel, stride, dilation or pad accepted: far
/// above any real layer, low enough that no product below overflows.
pub(super) const LIMIT: i128 = 1 << 32;

/// The window geometry of a call on an input of spatial shape `input` with
/// a kernel of `kernel` taps per axis. `ceil` says whether the op has
/// `ceil_mode`; `needs_input`, whether every window must hold at least one
/// input element (MaxPool, and AveragePool without `count_include_pad`:
/// otherwise the result is undefined).
pub(super) fn window(
    attrs: &Attributes,
    input: &[usize],
    kernel: Vec<usize>,
    ceil: bool,
    needs_input: bool,
) -> std::result::Result<Window, String> {
    let rank = input.len();
    if let Some(i) = input.iter().position(|&d| d == 0) {
        return Err(format!("spatial axis {i} of X has size 0"));
    }
    if let Some(&k) = kernel.iter().find(|&&k| k == 0 || k as i128 > LIMIT) {
        return Err(format!("kernel size {k} is out of range (1 to 2^32)"));
    }
    let strides = positive_list(attrs, "strides", rank)?;
    let dilations = positive_list(attrs, "dilations", rank)?;
    let auto_pad = attrs.string("auto_pad", "NOTSET")?;
    let pads = attrs.ints("pads")?;
    if !matches!(auto_pad, "NOTSET" | "SAME_UPPER" | "SAME_LOWER" | "VALID") {
        return Err(format!(
            "auto_pad {auto_pad:?} is not NOTSET, SAME_UPPER, SAME_LOWER or VALID"
        ));
    }
    if let Some(p) = pads {
        if auto_pad != "NOTSET" {
            return Err(format!(
                "pads {p:?} given with auto_pad {auto_pad}: the two cannot be used together"
            ));
        }
        if p.len() != 2 * rank {
            return Err(format!(
                "attribute pads has {} values, 2 x {rank} spatial axes need {}",
                p.len(),
                2 * rank
            ));
        }
        if let Some(&x) = p.iter().find(|&&x| x < 0 || i128::from(x) > LIMIT) {
            return Err(format!("attribute pads holds {x}; pads must be 0 to 2^32"));
        }
    }
    let ceil_mode = ceil && flag(attrs, "ceil_mode", false)?;
    let mut w = Window {
        input: input.to_vec(),
        kernel,
        strides,
        dilations,
        begin: vec![0; rank],
        end: vec![0; rank],
        output: vec![0; rank],
    };
    for i in 0..rank {
        let (n, k, s, d) = (
            w.input[i] as i128,
            w.kernel[i] as i128,
            w.strides[i] as i128,
            w.dilations[i] as i128,
        );
        if n > LIMIT {
            return Err(format!("spatial axis {i} of X is too large ({n})"));
        }
        let ek = (k - 1) * d + 1;
        let (b, e) = match (auto_pad, pads) {
            ("NOTSET", Some(p)) => (i128::from(p[i]), i128::from(p[rank + i])),
            ("SAME_UPPER" | "SAME_LOWER", _) => {
                let out = (n + s - 1) / s;
                let total = ((out - 1) * s + ek - n).max(0);
                let (small, big) = (total / 2, total - total / 2);
                if auto_pad == "SAME_UPPER" {
                    (small, big)
                } else {
                    (big, small)
                }
            }
            _ => (0, 0),
        };
        let padded = n + b + e;
        if padded < ek {
            return Err(format!(
                "the window spans {ek} elements of spatial axis {i} (kernel {k}, dilation {d}), \
                 more than its padded size {padded}"
            ));
        }
        let mut out = if ceil_mode {
            (padded - ek + s - 1) / s + 1
        } else {
            (padded - ek) / s + 1
        };
        // A last window starting in the end padding is dropped (PyTorch's
        // rule, in ONNX's shape inference since 1.16).
        if ceil_mode && (out - 1) * s >= n + b {
            out -= 1;
        }
        w.begin[i] = b as usize;
        w.end[i] = e as usize;
        w.output[i] = out as usize;
        if needs_input {
            for o in 0..out {
                let start = o * s - b;
                if !(0..k).any(|j| (0..n).contains(&(start + j * d))) {
                    return Err(format!(
                        "window {o} of spatial axis {i} covers only padding: its result is undefined"
                    ));
                }
            }
        }
    }
    Ok(w)
}

impl Window {
    /// Elements of one output channel.
    fn out_size(&self) -> usize {
        self.output.iter().product()
    }

    /// Taps per window.
    fn taps(&self) -> usize {
        self.kernel.iter().product()
    }

    /// Every tap of every window, at `[tap * out_size + position]` (taps
    /// and positions row-major): the im2col gather. Input offsets are
    /// row-major, or column-major with `column_major` (MaxPool's
    /// storage_order 1).
    fn table(&self, column_major: bool) -> Vec<Tap> {
        let rank = self.input.len();
        // Per axis: [o * k + j] -> the tap's coordinate class.
        let axes: Vec<Vec<Tap>> = (0..rank)
            .map(|i| {
                let (n, b, e) = (
                    self.input[i] as i64,
                    self.begin[i] as i64,
                    self.end[i] as i64,
                );
                let mut v = Vec::with_capacity(self.output[i] * self.kernel[i]);
                for o in 0..self.output[i] as i64 {
                    for j in 0..self.kernel[i] as i64 {
                        let c = o * self.strides[i] as i64 - b + j * self.dilations[i] as i64;
                        v.push(if (0..n).contains(&c) {
                            Tap::Input(c as usize)
                        } else if (-b..n + e).contains(&c) {
                            Tap::Pad
                        } else {
                            Tap::Outside
                        });
                    }
                }
                v
            })
            .collect();
        combine(&axes, &self.kernel, &self.output, &self.input, column_major)
    }
}

/// The im2col gather table from per-axis taps: `axes[i][o * k_i + j]` is
/// where tap `j` of window `o` falls on spatial axis `i` (an input
/// coordinate, the padding, or outside); the result holds, at `[tap *
/// out_size + position]`, the tap's flat spatial offset in an input of
/// spatial shape `input` (row-major, or column-major with `column_major`).
/// Conv's windows and ConvTranspose's scattered taps differ only in `axes`.
pub(super) fn combine(
    axes: &[Vec<Tap>],
    kernel: &[usize],
    output: &[usize],
    input: &[usize],
    column_major: bool,
) -> Vec<Tap> {
    let rank = input.len();
    // The weight of coordinate i in a flat offset.
    let mut weight = vec![1usize; rank];
    if column_major {
        for i in 1..rank {
            weight[i] = weight[i - 1] * input[i - 1];
        }
    } else {
        for i in (0..rank.saturating_sub(1)).rev() {
            weight[i] = weight[i + 1] * input[i + 1];
        }
    }
    let (taps, outs) = (
        kernel.iter().product::<usize>(),
        output.iter().product::<usize>(),
    );
    let mut table = Vec::with_capacity(taps * outs);
    let mut j = vec![0usize; rank];
    let mut o = vec![0usize; rank];
    for t in 0..taps {
        unflatten(t, kernel, &mut j);
        for p in 0..outs {
            unflatten(p, output, &mut o);
            let mut tap = Tap::Input(0);
            for i in 0..rank {
                match (axes[i][o[i] * kernel[i] + j[i]], tap) {
                    (Tap::Outside, _) | (_, Tap::Outside) => tap = Tap::Outside,
                    (Tap::Pad, _) | (_, Tap::Pad) => tap = Tap::Pad,
                    (Tap::Input(c), Tap::Input(f)) => tap = Tap::Input(f + c * weight[i]),
                }
            }
            table.push(tap);
        }
    }
    table
}

/// The row-major multi-index of `flat` in `dims`, into `out`.
fn unflatten(mut flat: usize, dims: &[usize], out: &mut [usize]) {
    for i in (0..dims.len()).rev() {
        out[i] = flat % dims[i];
        flat /= dims[i];
    }
}

/// X's batch, channels and spatial shape, X having rank 3 or more.
pub(super) fn split_input(x: &[usize]) -> std::result::Result<(usize, usize, &[usize]), String> {
    if x.len() < 3 {
        return Err(format!(
            "X must be [N, C, D1, ...] with at least one spatial axis, got shape {x:?}"
        ));
    }
    Ok((x[0], x[1], &x[2..]))
}

/// The `kernel_shape` attribute as sizes (each checked by [`window`]).
pub(super) fn kernel_attr(
    attrs: &Attributes,
    rank: usize,
) -> std::result::Result<Option<Vec<usize>>, String> {
    let Some(k) = attrs.ints("kernel_shape")? else {
        return Ok(None);
    };
    if k.len() != rank {
        return Err(format!(
            "kernel_shape has {} values, the input has {rank} spatial axes",
            k.len()
        ));
    }
    k.iter()
        .map(|&v| {
            usize::try_from(v)
                .ok()
                .filter(|&v| v >= 1)
                .ok_or_else(|| format!("kernel_shape holds {v}; each must be at least 1"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map(Some)
}

// ---------------------------------------------------------------------- Conv

/// A valid Conv call's geometry: the window, group, and X's and W's sizes.
struct ConvGeometry {
    window: Window,
    batch: usize,
    channels: usize,
    maps: usize,
    group: usize,
}

/// Checks a Conv call's shapes and attributes: X `[N, C, D...]`, W `[M,
/// C/group, k...]`, B `[M]`, `group` dividing C and M, `kernel_shape` (if
/// given) equal to W's spatial shape.
fn conv_geometry(
    attrs: &Attributes,
    x: &[usize],
    w: &[usize],
    b: Option<&[usize]>,
) -> std::result::Result<ConvGeometry, String> {
    let (batch, channels, spatial) = split_input(x)?;
    if w.len() != x.len() {
        return Err(format!(
            "W must be [M, C/group, k1, ...] of X's rank {}, got shape {w:?}",
            x.len()
        ));
    }
    let group = attrs.int("group", 1)?;
    let g = usize::try_from(group)
        .ok()
        .filter(|&g| g >= 1)
        .ok_or_else(|| format!("group must be at least 1, got {group}"))?;
    let maps = w[0];
    if !channels.is_multiple_of(g) || !maps.is_multiple_of(g) {
        return Err(format!(
            "group {g} must divide X's {channels} channels and W's {maps} feature maps"
        ));
    }
    if w[1] != channels / g {
        return Err(format!(
            "W's second dimension is {}, but X's {channels} channels in {g} groups need {}",
            w[1],
            channels / g
        ));
    }
    let kernel = w[2..].to_vec();
    if let Some(k) = kernel_attr(attrs, spatial.len())?
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
    let window = window(attrs, spatial, kernel, false, false)?;
    Ok(ConvGeometry {
        window,
        batch,
        channels,
        maps,
        group: g,
    })
}

fn conv_shape(
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
    let g = conv_geometry(attrs, x, w, b)?;
    let mut out = vec![g.batch, g.maps];
    out.extend(&g.window.output);
    Ok(vec![(*dtype, out)])
}

/// `2 · N · M · out · C/group · kernel` (+ `N · M · out` with a bias).
fn conv_cost(attrs: &Attributes, inputs: &[Option<&[usize]>]) -> Work {
    let (x, w) = (rules::shape_of(inputs, 0), rules::shape_of(inputs, 1));
    let b = inputs.get(2).copied().flatten();
    let Ok(g) = conv_geometry(attrs, x, w, b) else {
        return Work {
            flops: Some(0.0),
            multiply_adds: 0.0,
            scratch: 0.0,
        };
    };
    let outputs = (g.batch * g.maps * g.window.out_size()) as f64;
    let macs = outputs * rules::numel(&w[1..]);
    Work {
        flops: Some(2.0 * macs + if b.is_some() { outputs } else { 0.0 }),
        multiply_adds: macs,
        // The im2col matrix of one (batch, group) and its absolute value.
        scratch: 2.0 * rules::numel(&w[1..]) * g.window.out_size() as f64,
    }
}

/// `C/group × kernel` products per output, one more with a bias.
fn conv_terms(_: &Attributes, shapes: &[Option<Vec<usize>>], _: &[usize]) -> usize {
    let w = shapes.get(1).and_then(Option::as_ref);
    let products = w.map_or(1, |w| w.iter().skip(1).product::<usize>());
    let bias = shapes.get(2).is_some_and(Option::is_some);
    products + usize::from(bias)
}

/// Conv (opset 11): `Y[n, m, o] = B[m] + sum_{c, j} W[m, c, j] ·
/// X[n, g·C/group + c, o·s - begin + j·d]` over the `C/group` channels of
/// m's group `g`, padding reading as 0.
fn conv(call: &Call) -> Result<Output> {
    let (x, w, b) = (call.input(0)?, call.input(1)?, call.opt(2));
    let g = conv_geometry(call.attrs, x.shape(), w.shape(), b.map(Value::shape))
        .map_err(|m| call.err(m))?;
    let win = &g.window;
    let cg = g.channels / g.group;
    let ws = w
        .data
        .to_shape((g.maps, cg * win.taps()))
        .map_err(|e| call.err(format!("W: {e}")))?;
    let lowered = Lowered {
        batch: g.batch,
        channels: g.channels,
        group: g.group,
        input: &win.input,
        kernel: &win.kernel,
        output: &win.output,
        table: win.table(false),
    };
    lowered.run(call, x, ws.view(), b)
}

/// A convolution lowered to im2col: per (batch, group), the `C/group ×
/// taps` rows of gathered inputs times the group's `M/group × (C/group ·
/// taps)` weights. Conv and ConvTranspose differ only in the gather table
/// and in how W is laid out as that matrix.
pub(super) struct Lowered<'a> {
    /// N.
    pub batch: usize,
    /// X's channels C.
    pub channels: usize,
    /// The group count.
    pub group: usize,
    /// X's spatial shape.
    pub input: &'a [usize],
    /// Taps per axis.
    pub kernel: &'a [usize],
    /// The output's spatial shape.
    pub output: &'a [usize],
    /// The gather table ([`combine`]).
    pub table: Vec<Tap>,
}

impl Lowered<'_> {
    /// `Y[n, m, p] = B[m] + sum_{c, t} weights[m, c · taps + t] ·
    /// X[n, group(m) · C/group + c, table[t, p]]`, padding reading as 0,
    /// with the magnitude `sum |w x| + |b|` and the product magnitude for
    /// TF32 (as MatMul's).
    pub fn run(
        &self,
        call: &Call,
        x: &Value,
        weights: ArrayView2<f64>,
        b: Option<&Value>,
    ) -> Result<Output> {
        let maps = weights.nrows();
        let (cg, mg) = (self.channels / self.group, maps / self.group);
        let taps: usize = self.kernel.iter().product();
        let outs: usize = self.output.iter().product();
        let spatial: usize = self.input.iter().product();
        let xs: Vec<f64> = x.data.iter().copied().collect();
        let mut value = Array2::<f64>::zeros((self.batch * maps, outs));
        let mut magnitude = Array2::<f64>::zeros((self.batch * maps, outs));
        let mut cols = Array2::<f64>::zeros((cg * taps, outs));
        for n in 0..self.batch {
            for grp in 0..self.group {
                for c in 0..cg {
                    let plane = (n * self.channels + grp * cg + c) * spatial;
                    for t in 0..taps {
                        let mut row = cols.row_mut(c * taps + t);
                        for (p, y) in row.iter_mut().enumerate() {
                            *y = match self.table[t * outs + p] {
                                Tap::Input(off) => xs[plane + off],
                                _ => 0.0,
                            };
                        }
                    }
                }
                let wg: ArrayView2<f64> = weights.slice(ndarray::s![grp * mg..(grp + 1) * mg, ..]);
                let (v, m) = linalg::product(wg, cols.view(), call.magnitudes);
                let rows = n * maps + grp * mg..n * maps + (grp + 1) * mg;
                value.slice_mut(ndarray::s![rows.clone(), ..]).assign(&v);
                if call.magnitudes {
                    magnitude.slice_mut(ndarray::s![rows, ..]).assign(&m);
                }
            }
        }
        // TF32 units round both operands of every product (as for MatMul).
        let products = magnitude.mapv(|m| 4.0 * m);
        if let Some(b) = b {
            for n in 0..self.batch {
                for (m, &bias) in b.data.iter().enumerate() {
                    value.row_mut(n * maps + m).mapv_inplace(|y| y + bias);
                    magnitude
                        .row_mut(n * maps + m)
                        .mapv_inplace(|y| y + bias.abs());
                }
            }
        }
        let mut shape = vec![self.batch, maps];
        shape.extend(self.output);
        let reshape = |a: Array2<f64>| -> Result<ArrayD<f64>> {
            a.into_shape_with_order(IxDyn(&shape))
                .map_err(|e| call.err(format!("output: {e}")))
        };
        Ok(Output {
            value: Value::new(x.dtype, reshape(value)?),
            magnitude: Some(reshape(magnitude)?),
            io_magnitude: None,
            product_magnitude: Some(reshape(products)?),
        })
    }
}

// ------------------------------------------------------------------- pooling

/// A pool's batch, channels and window. `needs_input`: see [`window`].
pub(super) fn pool_geometry(
    attrs: &Attributes,
    x: &[usize],
    needs_input: bool,
) -> std::result::Result<(usize, usize, Window), String> {
    let (batch, channels, spatial) = split_input(x)?;
    let kernel = kernel_attr(attrs, spatial.len())?
        .ok_or_else(|| "attribute kernel_shape is required".to_string())?;
    let w = window(attrs, spatial, kernel, true, needs_input)?;
    Ok((batch, channels, w))
}

/// MaxPool's storage_order: 0 (row-major indices) or 1 (column-major).
fn storage_order(attrs: &Attributes) -> std::result::Result<bool, String> {
    match attrs.int("storage_order", 0)? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(format!("storage_order must be 0 or 1, got {v}")),
    }
}

/// The pooled output shape `[N, C, out...]`.
pub(super) fn pooled(batch: usize, channels: usize, w: &Window) -> Vec<usize> {
    let mut out = vec![batch, channels];
    out.extend(&w.output);
    out
}

fn maxpool_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    _: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (dtype, x) = rules::input(inputs, 0)?;
    storage_order(attrs)?;
    let (n, c, w) = pool_geometry(attrs, x, true)?;
    let out = pooled(n, c, &w);
    Ok(vec![(*dtype, out.clone()), (DType::I64, out)])
}

/// Whether AveragePool counts the padding (then a window of padding only
/// is a defined 0).
fn count_include_pad(attrs: &Attributes) -> std::result::Result<bool, String> {
    flag(attrs, "count_include_pad", false)
}

fn averagepool_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    _: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (dtype, x) = rules::input(inputs, 0)?;
    let include = count_include_pad(attrs)?;
    let (n, c, w) = pool_geometry(attrs, x, !include)?;
    Ok(vec![(*dtype, pooled(n, c, &w))])
}

/// One FLOP per tap of every window.
pub(super) fn pool_cost(attrs: &Attributes, inputs: &[Option<&[usize]>]) -> Work {
    let x = rules::shape_of(inputs, 0);
    let flops = pool_geometry(attrs, x, false)
        .map_or(0.0, |(n, c, w)| (n * c * w.out_size() * w.taps()) as f64);
    Work {
        flops: Some(flops),
        multiply_adds: 0.0,
        scratch: 0.0,
    }
}

/// The taps of one window.
pub(super) fn pool_terms(attrs: &Attributes, _: &[Option<Vec<usize>>], _: &[usize]) -> usize {
    match attrs.get("kernel_shape") {
        Some(super::AttrValue::Ints(k)) => k.iter().map(|&v| v.max(1) as usize).product(),
        _ => 1,
    }
}

/// MaxPool (11, 12): the largest input element of each window (padding
/// never wins), and its flat index in X (`((n C + c) D1 + i1) D2 + i2 ...`;
/// with storage_order 1 the spatial part column-major, `n C S + c S + i1 +
/// D1 (i2 + D2 ...)`, as onnxruntime computes it). Ties go to the first
/// tap in row-major window order; a NaN in the window wins (PyTorch's
/// propagation) and its index is the first NaN's.
fn maxpool(call: &Call) -> Result<Vec<Output>> {
    let x = call.input(0)?;
    let column_major = storage_order(call.attrs).map_err(|m| call.err(m))?;
    let (batch, channels, w) =
        pool_geometry(call.attrs, x.shape(), true).map_err(|m| call.err(m))?;
    let (taps, outs) = (w.taps(), w.out_size());
    let spatial: usize = w.input.iter().product();
    let values_at = w.table(false);
    let index_at = if column_major {
        w.table(true)
    } else {
        values_at.clone()
    };
    let xs: Vec<f64> = x.data.iter().copied().collect();
    let mut y = Vec::with_capacity(batch * channels * outs);
    let mut indices = Vec::with_capacity(batch * channels * outs);
    for plane in 0..batch * channels {
        let base = plane * spatial;
        for p in 0..outs {
            let mut best: Option<(f64, usize)> = None;
            for t in 0..taps {
                let (Tap::Input(off), Tap::Input(ix)) =
                    (values_at[t * outs + p], index_at[t * outs + p])
                else {
                    continue;
                };
                let v = xs[base + off];
                let wins = match best {
                    None => true,
                    Some((b, _)) => !b.is_nan() && (v.is_nan() || v > b),
                };
                if wins {
                    best = Some((v, ix));
                }
            }
            // `window` refused any window without an input element.
            let (v, ix) = best.ok_or_else(|| call.err("a window covers only padding"))?;
            y.push(v);
            indices.push((base + ix) as f64);
        }
    }
    let shape = pooled(batch, channels, &w);
    let array = |v: Vec<f64>| {
        ArrayD::from_shape_vec(IxDyn(&shape), v).map_err(|e| call.err(format!("output: {e}")))
    };
    Ok(vec![
        Output::plain(x.dtype, array(y)?),
        Output::plain(DType::I64, array(indices)?),
    ])
}

/// AveragePool (11, 19): the mean of each window's taps. Taps in the
/// padding count as zeros with `count_include_pad`, and are left out of
/// both sum and count without it; taps beyond the padding (a ceil_mode
/// window's overhang) are never counted (ONNX's reference and PyTorch).
fn averagepool(call: &Call) -> Result<Output> {
    let x = call.input(0)?;
    let include = count_include_pad(call.attrs).map_err(|m| call.err(m))?;
    let (batch, channels, w) =
        pool_geometry(call.attrs, x.shape(), !include).map_err(|m| call.err(m))?;
    let (taps, outs) = (w.taps(), w.out_size());
    let spatial: usize = w.input.iter().product();
    let table = w.table(false);
    let xs: Vec<f64> = x.data.iter().copied().collect();
    let mut y = Vec::with_capacity(batch * channels * outs);
    let mut magnitude = Vec::with_capacity(batch * channels * outs);
    for plane in 0..batch * channels {
        let base = plane * spatial;
        for p in 0..outs {
            let (mut sum, mut abs, mut count) = (0.0, 0.0, 0usize);
            for t in 0..taps {
                match table[t * outs + p] {
                    Tap::Input(off) => {
                        sum += xs[base + off];
                        abs += xs[base + off].abs();
                        count += 1;
                    }
                    Tap::Pad if include => count += 1,
                    _ => {}
                }
            }
            // `window` guarantees count >= 1 (an input tap, or a padding
            // tap that counts).
            let count = count.max(1) as f64;
            y.push(sum / count);
            magnitude.push(abs / count);
        }
    }
    let shape = pooled(batch, channels, &w);
    let array = |v: Vec<f64>| {
        ArrayD::from_shape_vec(IxDyn(&shape), v).map_err(|e| call.err(format!("output: {e}")))
    };
    Ok(Output::bounded(x.dtype, array(y)?, array(magnitude)?, None))
}

// -------------------------------------------------------------- global pools

/// A global pool's X (rank 3 or more, spatial axes not empty) and output
/// shape `[N, C, 1, ...]`.
fn global_output(x: &[usize]) -> std::result::Result<Vec<usize>, String> {
    let (n, c, spatial) = split_input(x)?;
    if spatial.contains(&0) {
        return Err(format!(
            "X {x:?} has an empty spatial axis: there is nothing to pool"
        ));
    }
    let mut out = vec![n, c];
    out.extend(std::iter::repeat_n(1, spatial.len()));
    Ok(out)
}

fn global_shape(
    _: &Attributes,
    inputs: &[Option<TypedShape>],
    _: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (dtype, x) = rules::input(inputs, 0)?;
    Ok(vec![(*dtype, global_output(x)?)])
}

/// The spatial size.
fn global_terms(_: &Attributes, shapes: &[Option<Vec<usize>>], _: &[usize]) -> usize {
    shapes
        .first()
        .and_then(Option::as_ref)
        .map_or(1, |x| x.iter().skip(2).product())
}

/// GlobalAveragePool and GlobalMaxPool (opset 1): the mean (magnitude
/// `sum |x| / S`) or the maximum (NaN propagating) over all spatial axes.
fn global_pool(call: &Call, max: bool) -> Result<Output> {
    let x = call.input(0)?;
    let shape = global_output(x.shape()).map_err(|m| call.err(m))?;
    let planes = shape[0] * shape[1];
    let spatial: usize = x.shape()[2..].iter().product();
    let xs: Vec<f64> = x.data.iter().copied().collect();
    let mut y = Vec::with_capacity(planes);
    let mut magnitude = Vec::with_capacity(planes);
    for plane in xs.chunks(spatial).take(planes) {
        if max {
            y.push(plane.iter().copied().fold(f64::NEG_INFINITY, |m, v| {
                if m.is_nan() || v.is_nan() {
                    f64::NAN
                } else {
                    m.max(v)
                }
            }));
        } else {
            let s = spatial as f64;
            y.push(plane.iter().sum::<f64>() / s);
            magnitude.push(plane.iter().map(|v| v.abs()).sum::<f64>() / s);
        }
    }
    let array = |v: Vec<f64>| {
        ArrayD::from_shape_vec(IxDyn(&shape), v).map_err(|e| call.err(format!("output: {e}")))
    };
    Ok(if max {
        Output::plain(x.dtype, array(y)?)
    } else {
        Output::bounded(x.dtype, array(y)?, array(magnitude)?, None)
    })
}

// ------------------------------------------------------------- generated cases
// The case spaces of this family (machinery and conventions: ops/cases.rs).

use super::cases::{self, CaseSpace, Factor, GenCase, GenInput, Pick, Storage};

/// The spatial input shape for a `dims` level: odd, distinct sizes, so a
/// kernel that swaps axes or ignores ceil_mode shows.
pub(super) fn spatial_of(dims: &str) -> Vec<usize> {
    match dims {
        "d1" => vec![11],
        "d2" => vec![9, 7],
        other => panic!("`{other}` is not a dims level"),
    }
}

/// Sets the padding of a `pads` level on `case` for `rank` spatial axes:
/// none, symmetric, asymmetric (begin 1 / end 0 on the first axis, begin 0
/// / end 2 on the others: what splitting the total evenly gets wrong), or
/// an `auto_pad` mode.
pub(super) fn with_pads(case: GenCase, level: &str, rank: usize) -> GenCase {
    match level {
        "pnone" => case,
        "psym" => case.ints("pads", vec![1; 2 * rank]),
        "pasym" => {
            let mut pads = vec![0i64; 2 * rank];
            pads[0] = 1;
            for i in 1..rank {
                pads[rank + i] = 2;
            }
            case.ints("pads", pads)
        }
        "sameupper" => case.string("auto_pad", "SAME_UPPER"),
        "samelower" => case.string("auto_pad", "SAME_LOWER"),
        "valid" => case.string("auto_pad", "VALID"),
        other => panic!("`{other}` is not a pads level"),
    }
}

/// The `pads` factor.
pub(super) fn pads_factor() -> Factor {
    Factor::new(
        "pads",
        &["pnone", "psym", "pasym", "sameupper", "samelower", "valid"],
    )
}

/// A kernel for a `kernel` level at `rank` spatial axes: 1, 3 (per axis)
/// or rectangular (3 x 2; 2 in 1-D).
pub(super) fn kernel_of(level: &str, rank: usize) -> Vec<usize> {
    match (level, rank) {
        ("k1", _) => vec![1; rank],
        ("k3", _) => vec![3; rank],
        ("krect", 1) => vec![2],
        ("krect", _) => vec![3, 2],
        ("k2", _) => vec![2; rank],
        (other, _) => panic!("`{other}` is not a kernel level"),
    }
}

/// Conv: 1-D and 2-D, one group, depthwise and two groups, few and many
/// channels (a 288- and 576-term sum), kernels 1, 3 and rectangular,
/// strides 1 and 2, dilations 1 and 2, every padding (asymmetric pads and
/// SAME_LOWER among them), with and without a bias, every layout of X.
pub(super) fn conv_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::FLOATS),
            Factor::new("dims", &["d1", "d2"]),
            Factor::new("group", &["g1", "gdepth", "g2"]),
            Factor::new("chan", &["cfew", "cmany"]),
            Factor::new("kernel", &["k1", "k3", "krect"]),
            Factor::new("stride", &["s1", "s2"]),
            Factor::new("dilation", &["dil1", "dil2"]),
            pads_factor(),
            Factor::new("bias", &["bias", "nobias"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let spatial = spatial_of(p.get("dims"));
            let rank = spatial.len();
            let kernel = kernel_of(p.get("kernel"), rank);
            let many = p.is("chan", "cmany");
            let c = if many { 32 } else { 4 };
            let (m, group) = match p.get("group") {
                "g1" => (if many { 8 } else { 3 }, 1),
                "gdepth" => (2 * c, c),
                _ => (6, 2),
            };
            if p.is("kernel", "k1") && p.is("dilation", "dil2") {
                return None;
            }
            let dt = p.dtype();
            let mut x = vec![2, c];
            x.extend(&spatial);
            let mut w = vec![m, c / group];
            w.extend(&kernel);
            let mut inputs = vec![
                GenInput::new(dt, x)
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                GenInput::new(dt, w).some(),
            ];
            if p.is("bias", "bias") {
                inputs.push(GenInput::new(dt, vec![m]).some());
            }
            let mut case = GenCase::new(inputs).int("group", group as i64);
            if p.is("stride", "s2") {
                case = case.ints("strides", vec![2; rank]);
            }
            if p.is("dilation", "dil2") {
                case = case.ints("dilations", vec![2; rank]);
            }
            Some(with_pads(case, p.get("pads"), rank))
        }),
    })
}

/// The factors MaxPool and AveragePool share: dims, kernel, stride,
/// dilation, padding, ceil_mode and layout (the dtype comes first).
fn pool_factors(dtypes: &[DType]) -> Vec<Factor> {
    vec![
        Factor::dtypes(dtypes),
        Factor::new("dims", &["d1", "d2"]),
        Factor::new("kernel", &["k2", "k3", "krect"]),
        Factor::new("stride", &["s1", "s2"]),
        Factor::new("dilation", &["dil1", "dil2"]),
        pads_factor(),
        Factor::new("ceil", &["floor", "ceil"]),
        cases::layout_factor(),
    ]
}

/// A pool call for the shared factors, or `None` for a combination
/// without meaning: ceil_mode with an auto_pad (ONNX's reference refuses
/// it), or ceil_mode at stride 1 (where it changes nothing).
fn pool_case(p: &Pick) -> Option<GenCase> {
    let spatial = spatial_of(p.get("dims"));
    let rank = spatial.len();
    let kernel = kernel_of(p.get("kernel"), rank);
    let ceil = p.is("ceil", "ceil");
    let auto = matches!(p.get("pads"), "sameupper" | "samelower" | "valid");
    if ceil && (auto || p.is("stride", "s1")) {
        return None;
    }
    let mut x = vec![2, 3];
    x.extend(&spatial);
    let input = GenInput::new(p.dtype(), x).stored(Storage::from_level(p.get("layout")));
    let mut case = GenCase::new(vec![input.some()])
        .ints("kernel_shape", kernel.iter().map(|&k| k as i64).collect());
    if p.is("stride", "s2") {
        case = case.ints("strides", vec![2; rank]);
    }
    if p.is("dilation", "dil2") {
        case = case.ints("dilations", vec![2; rank]);
    }
    if ceil {
        case = case.int("ceil_mode", 1);
    }
    Some(with_pads(case, p.get("pads"), rank))
}

/// `case` if its windows are valid (`needs_input`: see [`window`]).
pub(super) fn valid_pool(case: GenCase, needs_input: bool) -> Option<GenCase> {
    let x = case.inputs.first()?.as_ref()?.shape.clone();
    pool_geometry(&case.attributes, &x, needs_input).ok()?;
    Some(case)
}

/// MaxPool: the shared pool factors, int8 and uint8 among the dtypes, and
/// both storage orders of the indices.
pub(super) fn maxpool_cases() -> Option<CaseSpace> {
    let mut factors = pool_factors(&[
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::F64,
        DType::I8,
        DType::U8,
    ]);
    factors.push(Factor::new("order", &["rowmajor", "colmajor"]));
    Some(CaseSpace {
        factors,
        build: Box::new(|p: &Pick| {
            let case = pool_case(p)?;
            let case = if p.is("order", "colmajor") {
                case.int("storage_order", 1)
            } else {
                case
            };
            // Asymmetric end padding with a small window can leave a
            // window of padding only: undefined, so not a case.
            valid_pool(case, true)
        }),
    })
}

/// AveragePool: the shared pool factors and count_include_pad.
pub(super) fn averagepool_cases() -> Option<CaseSpace> {
    let mut factors = pool_factors(cases::FLOATS);
    factors.push(Factor::new("count", &["excludepad", "includepad"]));
    Some(CaseSpace {
        factors,
        build: Box::new(|p: &Pick| {
            let case = pool_case(p)?;
            let include = p.is("count", "includepad");
            let case = if include {
                case.int("count_include_pad", 1)
            } else {
                case
            };
            valid_pool(case, !include)
        }),
    })
}

/// A global pool: 1-D, 2-D and 3-D, a small and a large (4096-element)
/// spatial extent, every layout.
fn global_space() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::FLOATS),
            Factor::new("dims", &["d1", "d2", "d3"]),
            Factor::new("size", &["small", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let large = p.is("size", "large");
            let spatial = match (p.get("dims"), large) {
                ("d1", false) => vec![7],
                ("d1", true) => vec![4096],
                ("d2", false) => vec![5, 3],
                ("d2", true) => vec![64, 64],
                (_, false) => vec![3, 2, 5],
                (_, true) => vec![16, 16, 16],
            };
            let mut x = vec![2, 3];
            x.extend(spatial);
            Some(GenCase::new(vec![
                GenInput::new(p.dtype(), x)
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
            ]))
        }),
    })
}

/// GlobalAveragePool: see [`global_space`].
pub(super) fn global_averagepool_cases() -> Option<CaseSpace> {
    global_space()
}

/// GlobalMaxPool: see [`global_space`].
pub(super) fn global_maxpool_cases() -> Option<CaseSpace> {
    global_space()
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
    fn conv_1d_asymmetric_pads_and_bias_by_hand() {
        // Padded X = [0, 1, 2, 3, 4, 5, 0, 0]; y[o] = p[o] - p[o + 2].
        let x = f(&[1, 1, 5], &[1.0, 2.0, 3.0, 4.0, 5.0]);
        let w = f(&[1, 1, 3], &[1.0, 0.0, -1.0]);
        let a = attrs(&[("pads", ints(&[1, 2]))]);
        let out = run("Conv", &a, &[x.clone(), w.clone()]).unwrap().remove(0);
        assert_eq!(out.value.shape(), &[1, 1, 6]);
        close(&out.value.data, &[-2.0, -2.0, -2.0, -2.0, 4.0, 5.0], 0.0);
        close(
            out.magnitude.as_ref().unwrap(),
            &[2.0, 4.0, 6.0, 8.0, 4.0, 5.0],
            0.0,
        );
        let out = run("Conv", &a, &[x, w, f(&[1], &[-10.0])])
            .unwrap()
            .remove(0);
        close(
            &out.value.data,
            &[-12.0, -12.0, -12.0, -12.0, -6.0, -5.0],
            0.0,
        );
        close(
            out.magnitude.as_ref().unwrap(),
            &[12.0, 14.0, 16.0, 18.0, 14.0, 15.0],
            0.0,
        );
    }

    #[test]
    fn conv_same_upper_and_lower_put_the_odd_pad_apart() {
        // k = 2, stride 1: one unit of padding, at the end (UPPER) or the
        // beginning (LOWER).
        let x = f(&[1, 1, 4], &[1.0, 2.0, 3.0, 4.0]);
        let w = f(&[1, 1, 2], &[1.0, 1.0]);
        let upper = run1(
            "Conv",
            &attrs(&[("auto_pad", s("SAME_UPPER"))]),
            &[x.clone(), w.clone()],
        );
        close(&upper.data, &[3.0, 5.0, 7.0, 4.0], 0.0);
        let lower = run1(
            "Conv",
            &attrs(&[("auto_pad", s("SAME_LOWER"))]),
            &[x.clone(), w.clone()],
        );
        close(&lower.data, &[1.0, 3.0, 5.0, 7.0], 0.0);
        let valid = run1("Conv", &attrs(&[("auto_pad", s("VALID"))]), &[x, w]);
        close(&valid.data, &[3.0, 5.0, 7.0], 0.0);
    }

    #[test]
    fn conv_groups_strides_and_dilations_by_hand() {
        // Two groups of one channel each: map 0 reads channel 0, map 1 channel 1.
        let x = f(&[1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let w = f(&[2, 1, 1], &[2.0, 3.0]);
        let y = run1("Conv", &attrs(&[("group", AttrValue::Int(2))]), &[x, w]);
        close(&y.data, &[2.0, 4.0, 9.0, 12.0], 0.0);
        // 2-D, stride 2 and dilation 2 on a 5 x 5 ramp: taps at (0,0) and
        // (2,2) of each window, windows at (0,0), (0,2), (2,0), (2,2).
        let ramp: Vec<f64> = (0..25).map(f64::from).collect();
        let x = f(&[1, 1, 5, 5], &ramp);
        let w = f(&[1, 1, 2, 2], &[1.0, 0.0, 0.0, 10.0]);
        let a = attrs(&[("strides", ints(&[2, 2])), ("dilations", ints(&[2, 2]))]);
        let y = run1("Conv", &a, &[x, w]);
        assert_eq!(y.shape(), &[1, 1, 2, 2]);
        // x[i][j] = 5i + j; y = x[i][j] + 10 x[i+2][j+2].
        close(&y.data, &[120.0, 142.0, 230.0, 252.0], 0.0);
    }

    #[test]
    fn conv_3d_counts_every_axis() {
        // An all-ones 2 x 3 x 4 input and 2 x 2 x 2 kernel sum 8 taps each.
        let x = f(&[1, 1, 2, 3, 4], &[1.0; 24]);
        let w = f(&[1, 1, 2, 2, 2], &[1.0; 8]);
        let y = run1("Conv", &Attributes::new(), &[x, w]);
        assert_eq!(y.shape(), &[1, 1, 1, 2, 3]);
        close(&y.data, &[8.0; 6], 0.0);
    }

    #[test]
    fn conv_errors() {
        let x = Some(f(&[1, 4, 5], &[0.0; 20]));
        let none = Attributes::new();
        fails(
            "Conv",
            &none,
            &[x.clone(), Some(f(&[2, 3, 1], &[0.0; 6]))],
            "need 4",
        );
        fails(
            "Conv",
            &attrs(&[("group", AttrValue::Int(3))]),
            &[x.clone(), Some(f(&[3, 1, 1], &[0.0; 3]))],
            "must divide",
        );
        fails(
            "Conv",
            &none,
            &[x.clone(), Some(f(&[2, 4], &[0.0; 8]))],
            "X's rank",
        );
        fails(
            "Conv",
            &none,
            &[
                x.clone(),
                Some(f(&[2, 4, 1], &[0.0; 8])),
                Some(f(&[3], &[0.0; 3])),
            ],
            "B must be [M] = [2]",
        );
        fails(
            "Conv",
            &attrs(&[("pads", ints(&[1, 1])), ("auto_pad", s("SAME_UPPER"))]),
            &[x.clone(), Some(f(&[2, 4, 1], &[0.0; 8]))],
            "cannot be used together",
        );
        fails(
            "Conv",
            &none,
            &[x.clone(), Some(f(&[2, 4, 6], &[0.0; 48]))],
            "more than its padded size 5",
        );
        fails(
            "Conv",
            &attrs(&[("kernel_shape", ints(&[2]))]),
            &[x.clone(), Some(f(&[2, 4, 1], &[0.0; 8]))],
            "differs from W's spatial shape",
        );
        fails(
            "Conv",
            &attrs(&[("strides", ints(&[0]))]),
            &[x, Some(f(&[2, 4, 1], &[0.0; 8]))],
            "at least 1",
        );
    }

    fn maxpool(a: &Attributes, x: Value) -> (Vec<f64>, Vec<f64>) {
        let out = run("MaxPool", a, &[x]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out[1].value.dtype, DType::I64);
        (
            out[0].value.data.iter().copied().collect(),
            out[1].value.data.iter().copied().collect(),
        )
    }

    #[test]
    fn maxpool_ceil_mode_adds_the_partial_window() {
        let x = f(&[1, 1, 5], &[1.0, 5.0, 2.0, 4.0, 3.0]);
        let k2s2 = [("kernel_shape", ints(&[2])), ("strides", ints(&[2]))];
        assert_eq!(
            maxpool(&attrs(&k2s2), x.clone()),
            (vec![5.0, 4.0], vec![1.0, 3.0])
        );
        let mut ceil = k2s2.to_vec();
        ceil.push(("ceil_mode", AttrValue::Int(1)));
        assert_eq!(
            maxpool(&attrs(&ceil), x),
            (vec![5.0, 4.0, 3.0], vec![1.0, 3.0, 4.0])
        );
        // A last window that would start in the end padding is dropped:
        // 4 + 1 padded, ceil((5 - 2) / 2) + 1 = 3 windows, the third at 4.
        ceil.push(("pads", ints(&[0, 1])));
        let x = f(&[1, 1, 4], &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(maxpool(&attrs(&ceil), x), (vec![2.0, 4.0], vec![1.0, 3.0]));
    }

    #[test]
    fn maxpool_indices_in_both_storage_orders() {
        // Channel 1 of [1, 2, 2, 3]: max 9 at (1, 1); plane offset 6.
        let x = f(
            &[1, 2, 2, 3],
            &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 9.0, 6.0],
        );
        let k = ("kernel_shape", ints(&[2, 3]));
        let (y, ix) = maxpool(&attrs(std::slice::from_ref(&k)), x.clone());
        assert_eq!(y, [0.0, 9.0]);
        assert_eq!(ix, [0.0, 6.0 + 4.0]);
        let (_, ix) = maxpool(&attrs(&[k, ("storage_order", AttrValue::Int(1))]), x);
        // Column-major within the plane: 1 + 2 * 1.
        assert_eq!(ix, [0.0, 6.0 + 3.0]);
    }

    #[test]
    fn maxpool_padding_never_wins_and_nan_propagates() {
        let x = f(&[1, 1, 3], &[-3.0, f64::NAN, -1.0]);
        let a = attrs(&[("kernel_shape", ints(&[2])), ("pads", ints(&[1, 1]))]);
        let (y, ix) = maxpool(&a, x);
        assert_eq!(y[0], -3.0);
        assert!(y[1].is_nan() && y[2].is_nan());
        assert_eq!(y[3], -1.0);
        assert_eq!(ix, [0.0, 1.0, 1.0, 2.0]);
        // int8 from opset 12 on.
        let x8 = t(DType::I8, &[1, 1, 2], &[-5.0, 7.0]);
        let k = attrs(&[("kernel_shape", ints(&[2]))]);
        assert_eq!(maxpool(&k, x8.clone()), (vec![7.0], vec![1.0]));
        let e = run_at("MaxPool", 11, &k, &[Some(x8)]).unwrap_err();
        assert!(e.to_string().contains("got i8"), "{e}");
    }

    #[test]
    fn maxpool_errors() {
        let x = Some(f(&[1, 1, 4], &[0.0; 4]));
        fails(
            "MaxPool",
            &Attributes::new(),
            std::slice::from_ref(&x),
            "kernel_shape is required",
        );
        fails(
            "MaxPool",
            &attrs(&[("kernel_shape", ints(&[2])), ("pads", ints(&[2, 0]))]),
            std::slice::from_ref(&x),
            "covers only padding",
        );
        fails(
            "MaxPool",
            &attrs(&[
                ("kernel_shape", ints(&[2])),
                ("storage_order", AttrValue::Int(2)),
            ]),
            std::slice::from_ref(&x),
            "storage_order",
        );
        fails(
            "MaxPool",
            &attrs(&[("kernel_shape", ints(&[2, 2]))]),
            &[x],
            "2 values",
        );
    }

    #[test]
    fn averagepool_counts_padding_only_when_asked() {
        let x = f(&[1, 1, 3], &[1.0, 2.0, 3.0]);
        let base = [("kernel_shape", ints(&[2])), ("pads", ints(&[1, 1]))];
        let y = run1("AveragePool", &attrs(&base), std::slice::from_ref(&x));
        close(&y.data, &[1.0, 1.5, 2.5, 3.0], 0.0);
        let mut inc = base.to_vec();
        inc.push(("count_include_pad", AttrValue::Int(1)));
        let y = run1("AveragePool", &attrs(&inc), &[x]);
        close(&y.data, &[0.5, 1.5, 2.5, 1.5], 0.0);
        // The ceil_mode overhang is never counted, padding or not.
        let x = f(&[1, 1, 5], &[1.0, 2.0, 3.0, 4.0, 5.0]);
        let a = attrs(&[
            ("kernel_shape", ints(&[2])),
            ("strides", ints(&[2])),
            ("ceil_mode", AttrValue::Int(1)),
            ("count_include_pad", AttrValue::Int(1)),
        ]);
        let out = run("AveragePool", &a, &[x]).unwrap().remove(0);
        close(&out.value.data, &[1.5, 3.5, 5.0], 0.0);
        close(out.magnitude.as_ref().unwrap(), &[1.5, 3.5, 5.0], 0.0);
    }

    #[test]
    fn averagepool_dilations_only_from_19() {
        let x = f(&[1, 1, 5], &[1.0, 2.0, 3.0, 4.0, 5.0]);
        let a = attrs(&[("kernel_shape", ints(&[2])), ("dilations", ints(&[2]))]);
        let y = run1("AveragePool", &a, std::slice::from_ref(&x));
        close(&y.data, &[2.0, 3.0, 4.0], 0.0);
        let e = run_at("AveragePool", 11, &a, &[Some(x.clone())]).unwrap_err();
        assert!(e.to_string().contains("unknown attribute dilations"), "{e}");
        let k = attrs(&[("kernel_shape", ints(&[2]))]);
        let old = run_at("AveragePool", 11, &k, &[Some(x)]).unwrap();
        close(&old[0].value.data, &[1.5, 2.5, 3.5, 4.5], 0.0);
    }

    #[test]
    fn global_pools_by_hand() {
        let x = f(&[1, 2, 2], &[1.0, 2.0, -3.0, -5.0]);
        let none = Attributes::new();
        let out = run("GlobalAveragePool", &none, std::slice::from_ref(&x))
            .unwrap()
            .remove(0);
        assert_eq!(out.value.shape(), &[1, 2, 1]);
        close(&out.value.data, &[1.5, -4.0], 0.0);
        close(out.magnitude.as_ref().unwrap(), &[1.5, 4.0], 0.0);
        let y = run1("GlobalMaxPool", &none, &[x]);
        close(&y.data, &[2.0, -3.0], 0.0);
        fails(
            "GlobalMaxPool",
            &none,
            &[Some(f(&[2, 3], &[0.0; 6]))],
            "at least one spatial axis",
        );
    }

    #[test]
    fn conv_matches_a_direct_loop() {
        // im2col + product against the definition, on a case with every
        // feature: 2 groups, stride, dilation, asymmetric pads, bias.
        let (n, c, m, g) = (2usize, 4usize, 6usize, 2usize);
        let (h, wd, kh, kw) = (6usize, 5usize, 3usize, 2usize);
        let xs: Vec<f64> = (0..n * c * h * wd)
            .map(|i| ((i * 37 % 11) as f64) - 5.0)
            .collect();
        let ws: Vec<f64> = (0..m * (c / g) * kh * kw)
            .map(|i| ((i * 13 % 7) as f64) - 3.0)
            .collect();
        let bs = [1.0, -2.0, 3.0, 0.5, 0.0, 4.0];
        let (sh, sw, dh, dw) = (2i64, 1i64, 1i64, 2i64);
        let (pt, pl, pb, pr) = (1i64, 0i64, 0i64, 2i64);
        let a = attrs(&[
            ("group", AttrValue::Int(g as i64)),
            ("strides", ints(&[sh, sw])),
            ("dilations", ints(&[dh, dw])),
            ("pads", ints(&[pt, pl, pb, pr])),
        ]);
        let y = run1(
            "Conv",
            &a,
            &[
                f(&[n, c, h, wd], &xs),
                f(&[m, c / g, kh, kw], &ws),
                f(&[m], &bs),
            ],
        );
        let oh = ((h as i64 + pt + pb - (kh as i64 - 1) * dh - 1) / sh + 1) as usize;
        let ow = ((wd as i64 + pl + pr - (kw as i64 - 1) * dw - 1) / sw + 1) as usize;
        assert_eq!(y.shape(), &[n, m, oh, ow]);
        let cg = c / g;
        let mut want = Vec::new();
        for b in 0..n {
            for mm in 0..m {
                for i in 0..oh {
                    for j in 0..ow {
                        let mut acc = bs[mm];
                        for ci in 0..cg {
                            let ch = mm / (m / g) * cg + ci;
                            for u in 0..kh {
                                for v in 0..kw {
                                    let r = i as i64 * sh - pt + u as i64 * dh;
                                    let q = j as i64 * sw - pl + v as i64 * dw;
                                    if r < 0 || q < 0 || r >= h as i64 || q >= wd as i64 {
                                        continue;
                                    }
                                    let xv = xs[((b * c + ch) * h + r as usize) * wd + q as usize];
                                    acc += ws[((mm * cg + ci) * kh + u) * kw + v] * xv;
                                }
                            }
                        }
                        want.push(acc);
                    }
                }
            }
        }
        close(&y.data, &want, 1e-12);
    }
}
