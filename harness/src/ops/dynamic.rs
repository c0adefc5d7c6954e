//! Operators whose output size depends on the input values (issue 17):
//! NonZero, Compress, Unique, NonMaxSuppression.
//!
//! Their shape rules cannot give the output shape, only an **upper bound**
//! from the input shapes and attributes; [`DATA_DEPENDENT`] names the
//! outputs that are bounds. The harness allocates those outputs at the
//! bound, passes a dims slot per output in `XpuOpCall.output_shapes` (ABI
//! minor 2, `backends/include/xpucert_backend.h`), and reads back the
//! prefix of the shape the backend reports; a library of an older minor is
//! never sent these ops (`run::needs_minor`). The oracle gives the exact
//! outputs; a reported shape other than the oracle's is a failure before
//! any value is compared.
//!
//! Every value is copied or counted, never computed, so every check is
//! `exact`. NonMaxSuppression's IoU is compared in f64 from the box
//! coordinates as stored; the case spaces use small-integer coordinates and
//! thresholds exact in binary, so every precision decides each comparison
//! alike (see [`nms_cases`]).
//!
//! Why a table here rather than a field of `OpDef`: the four ops are the
//! only ones with data-dependent outputs, and a new required field would
//! touch every definition of every family; the table is keyed by the
//! definitions' own names (never a literal: `op_names_are_spelled_only_in_
//! their_definitions`).

use ndarray::{ArrayD, Dimension, IxDyn};

use super::indexing::{at_opset, def};
use super::rules;
use super::spec::{T_ANY, TypeVar, fixed};
use super::{AttrType, Call, OpDef, OpSpec, Output, Result, TypedShape};
use crate::numerics::DType;

/// A shape rule's value reader.
type Values<'a> = &'a mut dyn FnMut(usize) -> Vec<f64>;
/// A shape rule's result.
type Shapes = std::result::Result<Vec<TypedShape>, String>;

/// What sets an op with data-dependent outputs apart.
pub(super) struct DataDependent {
    /// The op's ONNX name (default domain).
    name: &'static str,
    /// The outputs allocated at a bound whose actual shape the backend
    /// reports.
    pub(super) outputs: &'static [usize],
    /// Outputs whose rows form a set (NonMaxSuppression's
    /// `selected_indices`: the spec calls it "a set of integers"): the
    /// comparison sorts the rows of both sides first, so any row order
    /// passes.
    pub(super) row_sets: &'static [usize],
}

/// Every op with data-dependent outputs.
pub(super) const DATA_DEPENDENT: &[DataDependent] = &[
    DataDependent {
        name: NONZERO.spec.name,
        outputs: &[0],
        row_sets: &[],
    },
    DataDependent {
        name: COMPRESS.spec.name,
        outputs: &[0],
        row_sets: &[],
    },
    // inverse_indices (2) has one entry per input slice: a fixed shape.
    DataDependent {
        name: UNIQUE.spec.name,
        outputs: &[0, 1, 3],
        row_sets: &[],
    },
    DataDependent {
        name: NON_MAX_SUPPRESSION.spec.name,
        outputs: &[0],
        row_sets: &[0],
    },
];

/// The entry of `spec`'s op in [`DATA_DEPENDENT`], if it has one.
pub(super) fn data_dependent(spec: &OpSpec) -> Option<&'static DataDependent> {
    (spec.domain.is_empty())
        .then(|| DATA_DEPENDENT.iter().find(|d| d.name == spec.name))
        .flatten()
}

/// Sorts the rows (the slices along axis 0, compared lexicographically) of
/// a rank-2 `values` in place: the canonical order of a row set.
pub(super) fn sort_rows(values: &mut ArrayD<f64>) {
    if values.ndim() != 2 {
        return;
    }
    let (n, w) = (values.shape()[0], values.shape()[1]);
    let flat: Vec<f64> = values.iter().copied().collect();
    let mut rows: Vec<&[f64]> = flat.chunks(w.max(1)).take(n).collect();
    rows.sort_by(|a, b| {
        a.iter()
            .zip(b.iter())
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let sorted: Vec<f64> = rows.concat();
    if let Ok(a) = ArrayD::from_shape_vec(IxDyn(&[n, w]), sorted) {
        *values = a;
    }
}

// ---------------------------------------------------------------- NonZero

/// NonZero-13 (bfloat16 added to 9's types; xpucert's dtypes are a subset
/// of both, so 9 is the same definition at opset 9).
pub(super) const NONZERO: OpDef = def(
    "NonZero",
    13,
    fixed(1, 0),
    &["X"],
    &[T_ANY],
    1,
    &[],
    nonzero_eval,
    nonzero_shape,
);
/// NonZero-9: the version serving opset 11.
pub(super) const NONZERO_9: OpDef = at_opset!(NONZERO, 9);

/// NonZero's bound: `[rank, numel]` (at most every element is nonzero).
fn nonzero_shape(_: &super::Attributes, s: &[Option<TypedShape>], _: Values<'_>) -> Shapes {
    let (_, x) = rules::input(s, 0)?;
    Ok(vec![(DType::I64, vec![x.len(), x.iter().product()])])
}

/// NonZero: the indices of the nonzero elements (NaN is nonzero: it is not
/// equal to zero), one column per element in row-major order, one row per
/// axis, as numpy's `nonzero`. A scalar has no axis: `[0, count]` (ONNX's
/// reference, which numpy's deprecated 0-d behaviour does not give).
fn nonzero_eval(call: &Call) -> Result<Vec<Output>> {
    let x = call.input(0)?;
    let rank = x.data.ndim();
    let hits: Vec<Vec<usize>> = x
        .data
        .indexed_iter()
        .filter(|(_, v)| **v != 0.0)
        .map(|(i, _)| i.slice().to_vec())
        .collect();
    let n = hits.len();
    let mut y = ArrayD::zeros(IxDyn(&[rank, n]));
    for (col, idx) in hits.iter().enumerate() {
        for (axis, &i) in idx.iter().enumerate() {
            y[[axis, col]] = i as f64;
        }
    }
    Ok(vec![Output::plain(DType::I64, y)])
}

// ---------------------------------------------------------------- Compress

/// `T1` of Compress: the condition, bool.
const T_COND: TypeVar = TypeVar {
    name: "T1",
    allowed: &[DType::Bool],
};
const COMPRESS_INPUTS: &[&str] = &["input", "condition"];
const COMPRESS_TYPES: &[TypeVar] = &[T_ANY, T_COND];

/// Compress-11 (a negative axis accepted).
pub(super) const COMPRESS: OpDef = def(
    "Compress",
    11,
    fixed(2, 0),
    COMPRESS_INPUTS,
    COMPRESS_TYPES,
    1,
    &[("axis", AttrType::Int)],
    |c| compress_eval(c, 11),
    |a, s, _| compress_shape(a, s, 11),
);
/// Compress-9: the axis must be in `[0, rank - 1]`.
pub(super) const COMPRESS_9: OpDef = def(
    "Compress",
    9,
    fixed(2, 0),
    COMPRESS_INPUTS,
    COMPRESS_TYPES,
    1,
    &[("axis", AttrType::Int)],
    |c| compress_eval(c, 9),
    |a, s, _| compress_shape(a, s, 9),
);

/// A Compress call's plan: the axis (`None`: the input flattened) and the
/// output's bound, the input's shape with the selected axis cut to the
/// condition's length. The condition must be 1-D and no longer than the
/// axis (the spec allows a shorter one, whose missing entries select
/// nothing; it says nothing of a longer one).
fn compress_plan(
    opset: i64,
    attrs: &super::Attributes,
    x: &[usize],
    cond: &[usize],
) -> std::result::Result<(Option<usize>, Vec<usize>), String> {
    use super::AttributesExt;
    if cond.len() != 1 {
        return Err(format!("condition must be 1-D, got shape {cond:?}"));
    }
    let len = cond[0];
    let axis = match attrs.get("axis") {
        None => None,
        Some(_) => {
            let a = attrs.int("axis", 0)?;
            if opset < 11 && a < 0 {
                return Err(format!(
                    "axis {a} is negative, which Compress-{opset} does not accept (from opset 11)"
                ));
            }
            Some(rules::resolve_axis("axis", a, x.len())?)
        }
    };
    let (avail, bound) = match axis {
        None => (x.iter().product(), vec![len]),
        Some(a) => {
            let mut b = x.to_vec();
            b[a] = len;
            (x[a], b)
        }
    };
    if len > avail {
        return Err(format!(
            "condition has {len} entries, more than the {avail} {}",
            if axis.is_some() {
                "slices along the axis"
            } else {
                "elements of the flattened input"
            }
        ));
    }
    Ok((axis, bound))
}

fn compress_shape(attrs: &super::Attributes, s: &[Option<TypedShape>], opset: i64) -> Shapes {
    let (dt, x) = rules::input(s, 0)?;
    let (_, c) = rules::input(s, 1)?;
    let (_, bound) = compress_plan(opset, attrs, x, c)?;
    Ok(vec![(*dt, bound)])
}

/// Compress: the slices (or, without an axis, the elements of the
/// flattened input) whose condition entry is true, in order.
fn compress_eval(call: &Call, opset: i64) -> Result<Vec<Output>> {
    let x = call.input(0)?;
    let c = call.input(1)?;
    let (axis, _) =
        compress_plan(opset, call.attrs, x.shape(), c.shape()).map_err(|m| call.err(m))?;
    let keep: Vec<usize> = c
        .data
        .iter()
        .enumerate()
        .filter(|(_, v)| **v != 0.0)
        .map(|(i, _)| i)
        .collect();
    let y = match axis {
        None => {
            let flat: Vec<f64> = x.data.iter().copied().collect();
            let v: Vec<f64> = keep.iter().map(|&i| flat[i]).collect();
            ArrayD::from_shape_vec(IxDyn(&[v.len()]), v).expect("1-D")
        }
        Some(a) => x.data.select(ndarray::Axis(a), &keep),
    };
    Ok(vec![Output::plain(x.dtype, y)])
}

// ---------------------------------------------------------------- Unique

/// Unique-11: Y, indices, inverse_indices and counts (the harness asks for
/// all four).
pub(super) const UNIQUE: OpDef = def(
    "Unique",
    11,
    fixed(1, 0),
    &["X"],
    &[T_ANY],
    4,
    &[("axis", AttrType::Int), ("sorted", AttrType::Int)],
    unique_eval,
    unique_shape,
);

/// A Unique call's plan: the axis (`None`: flattened), the number of
/// slices `n` it compares, and the bound of Y (the input's shape, or
/// `[numel]`); `sorted` must be 0 or 1.
fn unique_plan(
    attrs: &super::Attributes,
    x: &[usize],
) -> std::result::Result<(Option<usize>, usize, Vec<usize>, bool), String> {
    use super::AttributesExt;
    let sorted = rules::flag(attrs, "sorted", true)?;
    Ok(match attrs.get("axis") {
        None => {
            let n = x.iter().product();
            (None, n, vec![n], sorted)
        }
        Some(_) => {
            let a = rules::resolve_axis("axis", attrs.int("axis", 0)?, x.len())?;
            (Some(a), x[a], x.to_vec(), sorted)
        }
    })
}

fn unique_shape(attrs: &super::Attributes, s: &[Option<TypedShape>], _: Values<'_>) -> Shapes {
    let (dt, x) = rules::input(s, 0)?;
    let (_, n, y, _) = unique_plan(attrs, x)?;
    Ok(vec![
        (*dt, y),
        (DType::I64, vec![n]),
        (DType::I64, vec![n]),
        (DType::I64, vec![n]),
    ])
}

/// The order Unique sorts by: numeric, -0 equal to +0, NaN after every
/// number and equal to every NaN (numpy's `unique`, `equal_nan=True`).
fn value_cmp(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Unique: the distinct slices along the axis (or elements of the
/// flattened input), each with the index of its first occurrence, every
/// slice's position in Y, and each distinct slice's count. `sorted=1`
/// orders Y ascending (slices lexicographically, by [`value_cmp`]);
/// `sorted=0` in the order of first occurrence. Equal slices are one entry
/// of Y, holding the first occurrence's values.
fn unique_eval(call: &Call) -> Result<Vec<Output>> {
    let x = call.input(0)?;
    let (axis, n, _, sorted) = unique_plan(call.attrs, x.shape()).map_err(|m| call.err(m))?;
    let slices: Vec<Vec<f64>> = match axis {
        None => x.data.iter().map(|&v| vec![v]).collect(),
        Some(a) => x
            .data
            .axis_iter(ndarray::Axis(a))
            .map(|s| s.iter().copied().collect())
            .collect(),
    };
    let cmp = |p: &usize, q: &usize| {
        slices[*p]
            .iter()
            .zip(&slices[*q])
            .map(|(&u, &v)| value_cmp(u, v))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    };
    // A stable sort keeps equal slices in input order, so each run's first
    // member is the first occurrence.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(cmp);
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for &k in &order {
        match groups.last_mut() {
            Some(g) if cmp(&g[0], &k).is_eq() => g.push(k),
            _ => groups.push(vec![k]),
        }
    }
    if !sorted {
        groups.sort_by_key(|g| g[0]);
    }
    let mut inverse = vec![0.0; n];
    for (pos, g) in groups.iter().enumerate() {
        for &k in g {
            inverse[k] = pos as f64;
        }
    }
    let firsts: Vec<usize> = groups.iter().map(|g| g[0]).collect();
    let y = match axis {
        None => {
            let v: Vec<f64> = firsts.iter().map(|&k| slices[k][0]).collect();
            ArrayD::from_shape_vec(IxDyn(&[v.len()]), v).expect("1-D")
        }
        Some(a) => x.data.select(ndarray::Axis(a), &firsts),
    };
    let ints = |v: Vec<f64>| {
        let len = v.len();
        ArrayD::from_shape_vec(IxDyn(&[len]), v).expect("1-D")
    };
    Ok(vec![
        Output::plain(x.dtype, y),
        Output::plain(DType::I64, ints(firsts.iter().map(|&k| k as f64).collect())),
        Output::plain(DType::I64, ints(inverse)),
        Output::plain(
            DType::I64,
            ints(groups.iter().map(|g| g.len() as f64).collect()),
        ),
    ])
}

// ---------------------------------------------------------------- NonMaxSuppression

/// `tensor(float)`: NonMaxSuppression's boxes, scores and thresholds.
const T_F32: TypeVar = TypeVar {
    name: "tensor(float)",
    allowed: &[DType::F32],
};
/// `tensor(int64)`: max_output_boxes_per_class.
const T_I64: TypeVar = TypeVar {
    name: "tensor(int64)",
    allowed: &[DType::I64],
};
const NMS_INPUTS: &[&str] = &[
    "boxes",
    "scores",
    "max_output_boxes_per_class",
    "iou_threshold",
    "score_threshold",
];

/// NonMaxSuppression-11 (10's semantics; 11 only re-published it).
pub(super) const NON_MAX_SUPPRESSION: OpDef = def(
    "NonMaxSuppression",
    11,
    fixed(2, 3),
    NMS_INPUTS,
    &[T_F32, T_F32, T_I64, T_F32, T_F32],
    1,
    &[("center_point_box", AttrType::Int)],
    nms_eval,
    nms_shape,
);
/// NonMaxSuppression-10.
pub(super) const NON_MAX_SUPPRESSION_10: OpDef = at_opset!(NON_MAX_SUPPRESSION, 10);

/// A NonMaxSuppression call's parameters.
struct Nms {
    batches: usize,
    classes: usize,
    boxes: usize,
    center: bool,
    max_per_class: usize,
    iou: f64,
    score: Option<f64>,
}

/// Judges a NonMaxSuppression call: boxes `[B, N, 4]`, scores `[B, C, N]`,
/// each optional input a scalar or one element; `center_point_box` 0 or
/// 1; the IoU threshold in `[0, 1]` (the spec's range). A negative
/// max_output_boxes_per_class selects nothing (as 0, ONNX's reference).
/// `value(i)` reads input `i`'s values (absent: empty).
fn nms_plan(
    attrs: &super::Attributes,
    s: &[Option<TypedShape>],
    value: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Nms, String> {
    let (_, b) = rules::input(s, 0)?;
    let (_, sc) = rules::input(s, 1)?;
    if b.len() != 3 || b[2] != 4 {
        return Err(format!("boxes must be [batches, boxes, 4], got {b:?}"));
    }
    if sc.len() != 3 || sc[0] != b[0] || sc[2] != b[1] {
        return Err(format!(
            "scores must be [batches, classes, boxes] = [{}, C, {}], got {sc:?}",
            b[0], b[1]
        ));
    }
    let center = rules::flag(attrs, "center_point_box", false)
        .map_err(|m| format!("{m} (0: corners, 1: center and size)"))?;
    let mut scalar = |i: usize, name: &str| -> std::result::Result<Option<f64>, String> {
        match s.get(i).and_then(Option::as_ref) {
            None => Ok(None),
            Some((_, shape)) if shape.iter().product::<usize>() == 1 && shape.len() <= 1 => {
                Ok(value(i).first().copied())
            }
            Some((_, shape)) => Err(format!("{name} must hold one value, got shape {shape:?}")),
        }
    };
    let max = scalar(2, "max_output_boxes_per_class")?.unwrap_or(0.0);
    let iou = scalar(3, "iou_threshold")?.unwrap_or(0.0);
    let score = scalar(4, "score_threshold")?;
    if !(0.0..=1.0).contains(&iou) {
        return Err(format!("iou_threshold {iou} is outside [0, 1]"));
    }
    Ok(Nms {
        batches: b[0],
        classes: sc[1],
        boxes: b[1],
        center,
        max_per_class: if max > 0.0 { max as usize } else { 0 },
        iou,
        score,
    })
}

fn nms_shape(attrs: &super::Attributes, s: &[Option<TypedShape>], v: Values<'_>) -> Shapes {
    let p = nms_plan(attrs, s, v)?;
    Ok(vec![(DType::I64, vec![p.batches * p.classes * p.boxes, 3])])
}

/// A box as `(x_min, x_max, y_min, y_max)`: corners in either order
/// (`[y1, x1, y2, x2]`), or center and size (`[xc, yc, w, h]`).
fn nms_extent(b: &[f64], center: bool) -> (f64, f64, f64, f64) {
    if center {
        let (hw, hh) = (b[2] / 2.0, b[3] / 2.0);
        (b[0] - hw, b[0] + hw, b[1] - hh, b[1] + hh)
    } else {
        (
            b[1].min(b[3]),
            b[1].max(b[3]),
            b[0].min(b[2]),
            b[0].max(b[2]),
        )
    }
}

/// Whether `b` is suppressed by the selected `a`: their IoU is strictly
/// greater than the threshold (an IoU equal to it keeps the box, as the
/// spec says); boxes that do not overlap, or of zero area, never suppress.
fn nms_suppresses(a: &[f64], b: &[f64], center: bool, iou: f64) -> bool {
    let (ax0, ax1, ay0, ay1) = nms_extent(a, center);
    let (bx0, bx1, by0, by1) = nms_extent(b, center);
    let (ix, iy) = (ax1.min(bx1) - ax0.max(bx0), ay1.min(by1) - ay0.max(by0));
    if ix <= 0.0 || iy <= 0.0 {
        return false;
    }
    let inter = ix * iy;
    let (area_a, area_b) = ((ax1 - ax0) * (ay1 - ay0), (bx1 - bx0) * (by1 - by0));
    let union = area_a + area_b - inter;
    if area_a <= 0.0 || area_b <= 0.0 || union <= 0.0 {
        return false;
    }
    inter / union > iou
}

/// NonMaxSuppression: per batch and class, the boxes whose score is above
/// score_threshold (strictly: ONNX's reference and onnxruntime; a score
/// equal to the threshold is left out of the case spaces, the spec's text
/// being ambiguous there), taken by descending score, each kept unless a
/// kept one suppresses it ([`nms_suppresses`]), until
/// max_output_boxes_per_class are kept. Equal scores are taken lower box
/// index first (ONNX's reference and onnxruntime; the spec does not say,
/// and the case spaces use distinct scores). The spec calls the output a
/// set: its rows are given sorted ([`DataDependent::row_sets`]), and any
/// row order of a backend passes.
fn nms_eval(call: &Call) -> Result<Vec<Output>> {
    let shapes = call.typed_shapes();
    let p = nms_plan(call.attrs, &shapes, &mut |i| call.values(i)).map_err(|m| call.err(m))?;
    let boxes: Vec<f64> = call.input(0)?.data.iter().copied().collect();
    let scores: Vec<f64> = call.input(1)?.data.iter().copied().collect();
    let mut rows: Vec<[f64; 3]> = Vec::new();
    for b in 0..p.batches {
        let bx = |i: usize| &boxes[(b * p.boxes + i) * 4..(b * p.boxes + i) * 4 + 4];
        for c in 0..p.classes {
            let sc = &scores[(b * p.classes + c) * p.boxes..(b * p.classes + c + 1) * p.boxes];
            let mut cand: Vec<usize> = (0..p.boxes)
                .filter(|&i| p.score.is_none_or(|t| sc[i] > t))
                .collect();
            // Descending score, lower index first on equal scores (stable).
            cand.sort_by(|&i, &j| value_cmp(sc[j], sc[i]));
            let mut kept: Vec<usize> = Vec::new();
            for i in cand {
                if kept.len() >= p.max_per_class {
                    break;
                }
                if !kept
                    .iter()
                    .any(|&k| nms_suppresses(bx(k), bx(i), p.center, p.iou))
                {
                    kept.push(i);
                }
            }
            rows.extend(kept.iter().map(|&i| [b as f64, c as f64, i as f64]));
        }
    }
    let n = rows.len();
    let mut y = ArrayD::from_shape_vec(IxDyn(&[n, 3]), rows.concat()).expect("[n, 3]");
    sort_rows(&mut y);
    Ok(vec![Output::plain(DType::I64, y)])
}

// ---------------------------------------------------------------- case spaces

use super::cases::{self, CaseSpace, Factor, GenCase, GenInput, Pick};

/// NonZero: every movable dtype, ranks 0-3, the last dim 0, 1, prime or
/// large, density none / sparse / half / all nonzero, every layout (the
/// indices are of the logical layout, whatever the strides).
pub(super) fn nonzero_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::MOVABLE),
            Factor::new("rank", &["r0", "r1", "r2", "r3"]),
            Factor::new("size", &["n0", "n1", "prime", "large"]),
            Factor::new("density", &["none", "sparse", "half", "all"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            if rank == 0 && !p.is("size", "n1") {
                return None;
            }
            let size = size_of(p.get("size"));
            let fill = match p.get("density") {
                "none" => cases::Fill::Int(0, 0),
                "sparse" => cases::Fill::Bernoulli(0.1),
                "half" => cases::Fill::Bernoulli(0.5),
                _ if p.dtype() == DType::Bool => cases::Fill::Bernoulli(1.0),
                _ => cases::Fill::Int(1, 3),
            };
            Some(GenCase::new(vec![
                GenInput::new(p.dtype(), cases::dims(rank, size, false))
                    .fill(fill)
                    .stored(cases::Storage::from_level(p.get("layout")))
                    .some(),
            ]))
        }),
    })
}

/// Compress: every movable dtype, ranks 1-3, no axis / first / last /
/// negative, a condition as long as the axis or shorter, selecting none /
/// half / all, every layout.
pub(super) fn compress_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::MOVABLE),
            Factor::new("rank", &["r1", "r2", "r3"]),
            Factor::new("axis", &["flat", "first", "last", "neg"]),
            Factor::new("cond", &["full", "short"]),
            Factor::new("select", &["nothing", "half", "every"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let shape = cases::dims(rank, 6, false);
            let axis = match p.get("axis") {
                "flat" => None,
                level => Some(cases::axis_of(level, rank)?),
            };
            let avail = match axis {
                None => shape.iter().product(),
                Some(a) => shape[cases::resolve(a, rank)],
            };
            let len = if p.is("cond", "short") {
                avail.checked_sub(2)?
            } else {
                avail
            };
            let prob = match p.get("select") {
                "nothing" => 0.0,
                "half" => 0.5,
                _ => 1.0,
            };
            let case = GenCase::new(vec![
                GenInput::new(p.dtype(), shape)
                    .stored(cases::Storage::from_level(p.get("layout")))
                    .some(),
                GenInput::new(DType::Bool, vec![len])
                    .fill(cases::Fill::Bernoulli(prob))
                    .some(),
            ]);
            Some(match axis {
                None => case,
                Some(a) => case.int("axis", a),
            })
        }),
    })
}

/// Unique: every movable dtype, ranks 1-3, no axis / first / last /
/// negative, sorted 0 / 1, few or many duplicates (values drawn from a
/// small integer range; slices along an axis from {0, 1}), every layout.
pub(super) fn unique_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::MOVABLE),
            Factor::new("rank", &["r1", "r2", "r3"]),
            Factor::new("axis", &["flat", "first", "last", "neg"]),
            Factor::new("sorted", &["sorted", "unsorted", "default"]),
            Factor::new("dups", &["few", "many"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let axis = match p.get("axis") {
                "flat" => None,
                level => Some(cases::axis_of(level, rank)?),
            };
            // Slices along an axis repeat only if they are short and drawn
            // from few values: keep the other dims at 1 or 2.
            let shape: Vec<usize> = match axis {
                None => cases::dims(rank, 7, false),
                Some(a) => {
                    let a = cases::resolve(a, rank);
                    (0..rank)
                        .map(|i| if i == a { 9 } else { 1 + i % 2 })
                        .collect()
                }
            };
            let fill = match (p.get("dups"), p.dtype()) {
                (_, DType::Bool) => cases::Fill::Bernoulli(0.5),
                ("many", _) => cases::Fill::Int(0, 1),
                (_, DType::U8) => cases::Fill::Int(0, 12),
                _ => cases::Fill::Int(-6, 6),
            };
            let mut case = GenCase::new(vec![
                GenInput::new(p.dtype(), shape)
                    .fill(fill)
                    .stored(cases::Storage::from_level(p.get("layout")))
                    .some(),
            ]);
            if let Some(a) = axis {
                case = case.int("axis", a);
            }
            Some(match p.get("sorted") {
                "sorted" => case.int("sorted", 1),
                "unsorted" => case.int("sorted", 0),
                _ => case,
            })
        }),
    })
}

/// NonMaxSuppression: 1 or 2 batches, 1 or 3 classes, 1 / 7 / 40 boxes,
/// corner or center boxes, max_output_boxes_per_class absent / 0 / 1 / 2 /
/// all, IoU threshold absent / 0 / 0.5 / 1, score threshold absent / low /
/// high. Coordinates are small integers (centers with even sizes), so
/// every intersection, area and IoU is exact in f32 and an IoU that equals
/// 0.5 is decided alike everywhere; scores are distinct multiples of 1/64
/// per class and the score thresholds odd multiples of 1/128, so neither
/// a tie-break nor the threshold's equality case (both left open by the
/// spec) decides a case.
pub(super) fn nms_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            // ONNX's boxes and scores are tensor(float) only.
            Factor::dtypes(&[DType::F32]),
            Factor::new("batches", &["b1", "b2"]),
            Factor::new("classes", &["c1", "c3"]),
            Factor::new("boxes", &["n1", "prime", "large"]),
            Factor::new("format", &["corners", "center"]),
            Factor::new("max", &["nomax", "max0", "max1", "max2", "maxall"]),
            Factor::new("iou", &["noiou", "iou0", "iouhalf", "iou1"]),
            Factor::new("score", &["noscore", "scorelow", "scorehigh"]),
        ],
        build: Box::new(|p: &Pick| {
            let b = if p.is("batches", "b1") { 1 } else { 2 };
            let c = if p.is("classes", "c1") { 1 } else { 3 };
            let n = match p.get("boxes") {
                "n1" => 1,
                "prime" => 7,
                _ => 40,
            };
            let center = p.is("format", "center");
            let boxes = nms_boxes(b, n, center);
            let scores: Vec<f64> = (0..b * c)
                .flat_map(|bc| (0..n).map(move |i| ((i * 37 + bc * 11) % 64) as f64 / 64.0))
                .collect();
            let max = match p.get("max") {
                "nomax" => None,
                "max0" => Some(0.0),
                "max1" => Some(1.0),
                "max2" => Some(2.0),
                _ => Some(n as f64),
            };
            let iou = match p.get("iou") {
                "noiou" => None,
                "iou0" => Some(0.0),
                "iouhalf" => Some(0.5),
                _ => Some(1.0),
            };
            let score = match p.get("score") {
                "noscore" => None,
                "scorelow" => Some(33.0 / 128.0),
                _ => Some(97.0 / 128.0),
            };
            // An optional input before a given one must be given too (the
            // positional ABI would pass it UNDEFINED; ONNX's defaults are
            // spelled out instead, so every case also runs on backends
            // that do not take omitted middle inputs).
            let iou = iou.or(score.map(|_| 0.0));
            let max = max.or(iou.map(|_| 0.0));
            let scalar = |dt: DType, v: Option<f64>| {
                v.map(|v| GenInput::values(dt, vec![v]).shaped(vec![1]))
            };
            let mut inputs = vec![
                GenInput::values(DType::F32, boxes)
                    .shaped(vec![b, n, 4])
                    .some(),
                GenInput::values(DType::F32, scores)
                    .shaped(vec![b, c, n])
                    .some(),
                scalar(DType::I64, max),
                scalar(DType::F32, iou),
                scalar(DType::F32, score),
            ];
            while inputs.last().is_some_and(Option::is_none) {
                inputs.pop();
            }
            let case = GenCase::new(inputs);
            Some(if center {
                case.int("center_point_box", 1)
            } else {
                case
            })
        }),
    })
}

/// `n` boxes per batch with small-integer coordinates, clustered so that
/// many overlap: corners `[y1, x1, y2, x2]` (every third box with its
/// corners swapped), or `[xc, yc, w, h]` with even sizes.
fn nms_boxes(batches: usize, n: usize, center: bool) -> Vec<f64> {
    let mut v = Vec::with_capacity(batches * n * 4);
    for b in 0..batches {
        for i in 0..n {
            let k = i * 7 + b * 3;
            let (x, y) = ((k % 5) as f64, ((k / 5) % 4) as f64);
            let (w, h) = (2.0 + 2.0 * ((k / 3) % 3) as f64, 2.0 + 2.0 * (k % 2) as f64);
            if center {
                v.extend([x + w / 2.0, y + h / 2.0, w, h]);
            } else if i % 3 == 2 {
                v.extend([y + h, x + w, y, x]);
            } else {
                v.extend([y, x, y + h, x + w]);
            }
        }
    }
    v
}

/// The `size` factor's dim: 0, 1, a prime, or large enough for a long
/// output.
fn size_of(level: &str) -> usize {
    match level {
        "n0" => 0,
        "n1" => 1,
        "prime" => 7,
        _ => 64,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::numerics::DType;
    use crate::ops::{AttrValue, Attributes};

    fn none() -> Attributes {
        Attributes::new()
    }

    #[test]
    fn nonzero_lists_indices_row_major_one_row_per_axis() {
        // [[1, 0], [0, 3], [NaN, 0]]: (0,0), (1,1), (2,0); NaN is nonzero.
        let x = f(&[3, 2], &[1.0, 0.0, 0.0, 3.0, f64::NAN, -0.0]);
        let y = run1("NonZero", &none(), &[x]);
        assert_eq!(y.dtype, DType::I64);
        assert_eq!(y.shape(), &[2, 3]);
        assert_eq!(
            y.data.iter().copied().collect::<Vec<_>>(),
            vec![0.0, 1.0, 2.0, 0.0, 1.0, 0.0]
        );
    }

    #[test]
    fn nonzero_of_a_scalar_and_of_nothing() {
        let y = run1("NonZero", &none(), &[f(&[], &[5.0])]);
        assert_eq!(y.shape(), &[0, 1]);
        let y = run1("NonZero", &none(), &[f(&[], &[0.0])]);
        assert_eq!(y.shape(), &[0, 0]);
        let y = run1("NonZero", &none(), &[f(&[2, 0], &[])]);
        assert_eq!(y.shape(), &[2, 0]);
        let y = run1(
            "NonZero",
            &none(),
            &[t(DType::Bool, &[3], &[0.0, 1.0, 1.0])],
        );
        assert_eq!(y.data.iter().copied().collect::<Vec<_>>(), vec![1.0, 2.0]);
    }

    fn flat(v: &crate::ops::Value) -> Vec<f64> {
        v.data.iter().copied().collect()
    }

    #[test]
    fn compress_selects_slices_or_flat_elements() {
        // Operators.md's examples: [[1, 2], [3, 4], [5, 6]].
        let x = f(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let c = |v: &[f64]| t(DType::Bool, &[v.len()], v);
        let y = run1(
            "Compress",
            &attrs(&[("axis", AttrValue::Int(0))]),
            &[x.clone(), c(&[0.0, 1.0, 1.0])],
        );
        assert_eq!(y.shape(), &[2, 2]);
        assert_eq!(flat(&y), vec![3.0, 4.0, 5.0, 6.0]);
        let y = run1(
            "Compress",
            &attrs(&[("axis", AttrValue::Int(-1))]),
            &[x.clone(), c(&[0.0, 1.0])],
        );
        assert_eq!(flat(&y), vec![2.0, 4.0, 6.0]);
        let y = run1(
            "Compress",
            &none(),
            &[x.clone(), c(&[0.0, 1.0, 0.0, 0.0, 1.0])],
        );
        assert_eq!(flat(&y), vec![2.0, 5.0]);
        fails(
            "Compress",
            &none(),
            &[Some(x.clone()), Some(c(&[1.0; 7]))],
            "more than the 6",
        );
        let neg = attrs(&[("axis", AttrValue::Int(-1))]);
        let e = run_at("Compress", 9, &neg, &[Some(x), Some(c(&[0.0, 1.0]))]);
        assert!(e.unwrap_err().to_string().contains("negative"));
    }

    #[test]
    fn unique_examples_of_the_spec() {
        // Example 1: sorted=0.
        let x = f(&[6], &[2.0, 1.0, 1.0, 3.0, 4.0, 3.0]);
        let out = run("Unique", &attrs(&[("sorted", AttrValue::Int(0))]), &[x]).unwrap();
        let got: Vec<Vec<f64>> = out.iter().map(|o| flat(&o.value)).collect();
        assert_eq!(got[0], vec![2.0, 1.0, 3.0, 4.0]);
        assert_eq!(got[1], vec![0.0, 1.0, 3.0, 4.0]);
        assert_eq!(got[2], vec![0.0, 1.0, 1.0, 2.0, 3.0, 2.0]);
        assert_eq!(got[3], vec![1.0, 2.0, 2.0, 1.0]);
        // Example 2: sorted, flattened.
        let x = f(&[2, 2], &[1.0, 3.0, 2.0, 3.0]);
        let out = run("Unique", &none(), &[x]).unwrap();
        let got: Vec<Vec<f64>> = out.iter().map(|o| flat(&o.value)).collect();
        assert_eq!(got[0], vec![1.0, 2.0, 3.0]);
        assert_eq!(got[1], vec![0.0, 2.0, 1.0]);
        assert_eq!(got[2], vec![0.0, 2.0, 1.0, 2.0]);
        assert_eq!(got[3], vec![1.0, 1.0, 2.0]);
        // Example 3: rows.
        let x = f(&[3, 3], &[1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 2.0, 3.0, 4.0]);
        let out = run("Unique", &attrs(&[("axis", AttrValue::Int(0))]), &[x]).unwrap();
        assert_eq!(out[0].value.shape(), &[2, 3]);
        assert_eq!(flat(&out[0].value), vec![1.0, 0.0, 0.0, 2.0, 3.0, 4.0]);
        assert_eq!(flat(&out[1].value), vec![0.0, 2.0]);
        assert_eq!(flat(&out[2].value), vec![0.0, 0.0, 1.0]);
        assert_eq!(flat(&out[3].value), vec![2.0, 1.0]);
        // Example 4: axis 1 of a [2, 4, 2]; slices A, B, C, B sort B, A, C.
        let x = f(
            &[2, 4, 2],
            &[
                1.0, 1.0, 0.0, 1.0, 2.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 2.0, 1.0, 0.0, 1.0,
            ],
        );
        let out = run("Unique", &attrs(&[("axis", AttrValue::Int(1))]), &[x]).unwrap();
        assert_eq!(out[0].value.shape(), &[2, 3, 2]);
        assert_eq!(
            flat(&out[0].value),
            vec![0.0, 1.0, 1.0, 1.0, 2.0, 1.0, 0.0, 1.0, 1.0, 1.0, 2.0, 1.0]
        );
        assert_eq!(flat(&out[1].value), vec![1.0, 0.0, 2.0]);
        assert_eq!(flat(&out[2].value), vec![1.0, 0.0, 2.0, 0.0]);
        assert_eq!(flat(&out[3].value), vec![2.0, 1.0, 1.0]);
        fails(
            "Unique",
            &attrs(&[("sorted", AttrValue::Int(2))]),
            &[Some(f(&[1], &[1.0]))],
            "sorted",
        );
    }

    #[test]
    fn nms_follows_the_spec_at_its_boundaries() {
        // Two unit-height boxes [y1, x1, y2, x2] sharing half their width:
        // intersection 1, union 3, IoU 1/3.
        let boxes = f(&[1, 2, 4], &[0.0, 0.0, 1.0, 2.0, 0.0, 1.0, 1.0, 3.0]);
        let scores = f(&[1, 1, 2], &[0.5, 0.9]);
        let sel = |iou: f64, score: Option<f64>, max: i64| {
            let mut inputs = vec![
                Some(boxes.clone()),
                Some(scores.clone()),
                Some(i(&[1], &[max])),
                Some(f(&[1], &[iou])),
            ];
            if let Some(s) = score {
                inputs.push(Some(f(&[], &[s])));
            }
            let out = run_opt("NonMaxSuppression", &none(), &inputs).unwrap();
            flat(&out[0].value)
        };
        // Above the IoU: box 0 suppressed by the higher-scored box 1.
        assert_eq!(sel(0.3, None, 10), vec![0.0, 0.0, 1.0]);
        // IoU equal to the threshold keeps both (rows sorted: a set).
        assert_eq!(sel(1.0 / 3.0, None, 10).len(), 6);
        assert_eq!(sel(0.5, None, 10), vec![0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        // The score threshold is strict; max 1 keeps the best only.
        assert_eq!(sel(0.5, Some(0.5), 10), vec![0.0, 0.0, 1.0]);
        assert_eq!(sel(0.5, None, 1), vec![0.0, 0.0, 1.0]);
        assert_eq!(sel(0.5, None, 0), Vec::<f64>::new());
        // Equal scores: the lower box index is taken first.
        let same = f(&[1, 1, 2], &[0.7, 0.7]);
        let out = run_opt(
            "NonMaxSuppression",
            &none(),
            &[
                Some(boxes.clone()),
                Some(same),
                Some(i(&[1], &[10])),
                Some(f(&[1], &[0.2])),
            ],
        )
        .unwrap();
        assert_eq!(flat(&out[0].value), vec![0.0, 0.0, 0.0]);
        // Center format: [xc, yc, w, h] = the same boxes.
        let centered = f(&[1, 2, 4], &[1.0, 0.5, 2.0, 1.0, 2.0, 0.5, 2.0, 1.0]);
        let out = run_opt(
            "NonMaxSuppression",
            &attrs(&[("center_point_box", AttrValue::Int(1))]),
            &[
                Some(centered),
                Some(scores.clone()),
                Some(i(&[1], &[10])),
                Some(f(&[1], &[0.3])),
            ],
        )
        .unwrap();
        assert_eq!(flat(&out[0].value), vec![0.0, 0.0, 1.0]);
        fails(
            "NonMaxSuppression",
            &none(),
            &[Some(boxes), Some(scores), None, Some(f(&[1], &[1.5]))],
            "outside [0, 1]",
        );
    }

    #[test]
    fn rows_sort_lexicographically() {
        let mut a = ndarray::ArrayD::from_shape_vec(
            ndarray::IxDyn(&[3, 2]),
            vec![1.0, 0.0, 0.0, 5.0, 0.0, 2.0],
        )
        .unwrap();
        super::sort_rows(&mut a);
        assert_eq!(
            a.iter().copied().collect::<Vec<_>>(),
            vec![0.0, 2.0, 0.0, 5.0, 1.0, 0.0]
        );
    }
}
