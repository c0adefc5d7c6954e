//! RotaryEmbedding (opset 23).

use ndarray::{Array4, ArrayView2, ArrayView3, CowArray, Ix2, Ix3, Ix4, IxDyn};

use super::rules::{self, no_sum, per_input_element};
use super::spec::{TypeVar, WIDE_FLOATS, fixed};
use super::{AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape};
use crate::numerics::check::CheckPolicy;

/// X, cos_cache and sin_cache: ONNX's f32, f16 and bf16, and f64 (an
/// xpucert extension the coverage suite uses).
const T_ROPE: TypeVar = TypeVar {
    name: "T",
    allowed: WIDE_FLOATS,
};
/// position_ids: int64, as ONNX's M.
const M_POSITIONS: TypeVar = TypeVar {
    name: "M",
    allowed: &[DType::I64],
};

/// Two products and a sum per element: judged by its error model
/// ([`rotary_embedding`]) with `c = 1`.
pub(super) const ROTARY_EMBEDDING: OpDef = OpDef {
    spec: OpSpec {
        name: "RotaryEmbedding",
        domain: "",
        opset: 23,
        arity: fixed(3, 1),
        input_names: &["X", "cos_cache", "sin_cache", "position_ids"],
        input_types: &[T_ROPE, T_ROPE, T_ROPE, M_POSITIONS],
        outputs: 1,
        attributes: &[
            ("interleaved", AttrType::Int),
            ("num_heads", AttrType::Int),
            ("rotary_embedding_dim", AttrType::Int),
        ],
    },
    oracle: |c| Ok(vec![rotary_embedding(c)?]),
    // X's dtype and shape, once the call is valid.
    shape: |attrs, inputs, values| {
        Rope::resolve(attrs, inputs, values)?;
        Ok(vec![rules::input(inputs, 0)?.clone()])
    },
    cost: per_input_element::<3>,
    check: CheckPolicy::ModelBound,
    terms: no_sum,
};

/// A RotaryEmbedding call, checked: what its oracle and its shape rule
/// both go by.
struct Rope {
    batch: usize,
    seq: usize,
    heads: usize,
    /// The head size.
    head: usize,
    /// The rotated part of each head (even, at most `head`).
    rot: usize,
    interleaved: bool,
    /// 4-D X `(batch, heads, seq, head)`, else 3-D `(batch, seq, heads * head)`.
    four_d: bool,
}

impl Rope {
    /// Checks a call (dtypes, shapes, attributes, and position_ids' values
    /// when the reader knows them) and resolves its parameters, or says
    /// what is wrong. From the spec:
    /// * X is 4-D `(batch, num_heads, seq, head_size)` or 3-D
    ///   `(batch, seq, hidden)` with the `num_heads` attribute required and
    ///   `hidden = num_heads * head_size`;
    /// * with `position_ids` (int64, `(batch, seq)`, each in
    ///   `[0, max_position_id_plus_1)`), cos_cache and sin_cache are 2-D
    ///   `(max_position_id_plus_1, rot/2)` and are indexed by the ids;
    ///   without, they are 3-D `(batch, seq, rot/2)`;
    /// * `rot` = `rotary_embedding_dim`, or head_size when it is 0 (default);
    ///   it must be even and at most head_size, and head_size even;
    /// * `interleaved` is 0 or 1.
    fn resolve(
        attrs: &Attributes,
        inputs: &[Option<TypedShape>],
        values: &mut dyn FnMut(usize) -> Vec<f64>,
    ) -> std::result::Result<Self, String> {
        let (_, x) = rules::input(inputs, 0)?;
        let interleaved = super::rules::flag(attrs, "interleaved", false)?;
        let num_heads = attrs.int("num_heads", 0)?;
        let (batch, seq, heads, head) = match *x.as_slice() {
            [b, h, s, d] => (b, s, h, d),
            [b, s, hidden] => {
                let h = usize::try_from(num_heads)
                    .ok()
                    .filter(|&h| h > 0)
                    .ok_or_else(|| {
                        format!(
                            "a 3-D X [batch, seq, num_heads * head_size] needs the num_heads attribute (> 0), got {num_heads}"
                        )
                    })?;
                if hidden % h != 0 {
                    return Err(format!(
                        "hidden size {hidden} of X {x:?} is not a multiple of num_heads {h}"
                    ));
                }
                (b, s, h, hidden / h)
            }
            _ => {
                return Err(format!(
                    "X must be 3-D [batch, seq, num_heads * head_size] or 4-D [batch, num_heads, seq, head_size], got shape {x:?}"
                ));
            }
        };
        if head % 2 != 0 {
            return Err(format!("head size {head} must be even"));
        }
        let rot_attr = attrs.int("rotary_embedding_dim", 0)?;
        let rot = if rot_attr == 0 { head as i64 } else { rot_attr };
        if rot < 0 || rot as usize > head || rot % 2 != 0 {
            return Err(format!(
                "rotary_embedding_dim {rot_attr} must be even and in [0, head size {head}] (0: the whole head)"
            ));
        }
        let rot = rot as usize;
        let half = rot / 2;
        let (_, cos) = rules::input(inputs, 1)?;
        let (_, sin) = rules::input(inputs, 2)?;
        if cos != sin {
            return Err(format!(
                "cos_cache {cos:?} and sin_cache {sin:?} differ in shape"
            ));
        }
        match inputs.get(3).and_then(Option::as_ref) {
            None => {
                if cos.as_slice() != [batch, seq, half] {
                    return Err(format!(
                        "without position_ids, cos_cache/sin_cache must be [batch, seq, rot/2] = {:?}, got {cos:?}",
                        [batch, seq, half]
                    ));
                }
            }
            Some((_, p)) => {
                if p.as_slice() != [batch, seq] {
                    return Err(format!(
                        "position_ids must be [batch, seq] = {:?}, got {p:?}",
                        [batch, seq]
                    ));
                }
                let [max, width] = *cos.as_slice() else {
                    return Err(format!(
                        "with position_ids, cos_cache/sin_cache must be 2-D [max_position_id_plus_1, rot/2 = {half}], got {cos:?}"
                    ));
                };
                if width != half {
                    return Err(format!(
                        "with position_ids, cos_cache/sin_cache must be [max_position_id_plus_1, rot/2 = {half}], got {cos:?}"
                    ));
                }
                let ids = values(3);
                // Unknown values (a generated tensor) read as nothing.
                if ids.len() == batch * seq
                    && let Some(id) = ids
                        .into_iter()
                        .find(|&id| !(id >= 0.0 && id < max as f64 && id.fract() == 0.0))
                {
                    return Err(format!(
                        "position_ids holds {id}, outside the caches' {max} positions [0, {max})"
                    ));
                }
            }
        }
        Ok(Rope {
            batch,
            seq,
            heads,
            head,
            rot,
            interleaved,
            four_d: x.len() == 4,
        })
    }
}

/// RotaryEmbedding (opset 23): each pair of a head's first `rot` elements
/// rotated by its token's angle ([`Rope::resolve`] says what a valid call
/// is). Pairs: interleaved=1 rotates `(x[2i], x[2i+1])`; interleaved=0
/// (default) rotates `(x[i], x[i + rot/2])`. Each pair `(a, b)` becomes
/// `(a cos - b sin, a sin + b cos)` with the angle of its token and index
/// i; elements past `rot` in each head pass through unchanged.
///
/// Error model (`docs/error-models.md`): each rotated element is two
/// products and a sum of the given cos/sin, `|a cos| + |b sin| + |y|` in
/// the compute precision; with the products rounded to the io dtype (the
/// `x * cos + rotate_half(x) * sin` of eager bf16 PyTorch) another `|a
/// cos| + |b sin|` in the io dtype's u. Elements past the rotary dimension
/// are copied: no error.
fn rotary_embedding(call: &Call) -> Result<Output> {
    let plan = Rope::resolve(call.attrs, &call.typed_shapes(), &mut |i| call.values(i))
        .map_err(|m| call.err(m))?;
    let (x, cos, sin) = (call.input(0)?, call.input(1)?, call.input(2)?);
    let Rope {
        batch: b,
        seq: s,
        heads: h,
        head: d,
        rot,
        interleaved,
        four_d,
    } = plan;
    let shape = x.shape().to_vec();

    // Bring X to (batch, seq, heads, head_size) for the computation.
    let x4 = if four_d {
        let v = x
            .data
            .view()
            .into_dimensionality::<Ix4>()
            .map_err(|e| call.err(format!("X: {e}")))?
            .permuted_axes([0, 2, 1, 3]);
        CowArray::from(v)
    } else {
        x.data
            .to_shape((b, s, h, d))
            .map_err(|e| call.err(format!("X: {e}")))?
    };
    let half = rot / 2;

    // angle(bi, si) -> the cos and sin rows for that token.
    let caches = Caches::new(call, cos, sin)?;
    let mut out = Array4::<f64>::zeros((b, s, h, d));
    // The products' magnitude |a cos| + |b sin| of each rotated element.
    let mut products = Array4::<f64>::zeros((b, s, h, d));
    for bi in 0..b {
        for si in 0..s {
            let (c, sn) = caches.row(bi, si);
            for hi in 0..h {
                for j in rot..d {
                    out[[bi, si, hi, j]] = x4[[bi, si, hi, j]];
                }
                for k in 0..half {
                    let (i1, i2) = if interleaved {
                        (2 * k, 2 * k + 1)
                    } else {
                        (k, k + half)
                    };
                    let (x1, x2) = (x4[[bi, si, hi, i1]], x4[[bi, si, hi, i2]]);
                    out[[bi, si, hi, i1]] = x1 * c[k] - x2 * sn[k];
                    out[[bi, si, hi, i2]] = x1 * sn[k] + x2 * c[k];
                    products[[bi, si, hi, i1]] = (x1 * c[k]).abs() + (x2 * sn[k]).abs();
                    products[[bi, si, hi, i2]] = (x1 * sn[k]).abs() + (x2 * c[k]).abs();
                }
            }
        }
    }
    let layout = |a: Array4<f64>| -> Result<ndarray::ArrayD<f64>> {
        Ok(if shape.len() == 4 {
            a.into_dyn()
                .permuted_axes(IxDyn(&[0, 2, 1, 3]))
                .as_standard_layout()
                .into_owned()
        } else {
            a.into_shape_with_order(IxDyn(&shape))
                .map_err(|e| call.err(format!("output: {e}")))?
        })
    };
    let y = layout(out)?;
    let io = layout(products)?;
    let model = &io + &y.mapv(f64::abs);
    Ok(Output::bounded(x.dtype, y, model, Some(io)))
}

/// The cos/sin caches in one of the two layouts the spec allows.
enum Caches<'a> {
    /// `(batch, seq, half)`: one row per token.
    PerToken(ArrayView3<'a, f64>, ArrayView3<'a, f64>),
    /// `(max_position_id_plus_1, half)` indexed by validated position ids.
    ByPosition(ArrayView2<'a, f64>, ArrayView2<'a, f64>, Vec<usize>, usize),
}

impl<'a> Caches<'a> {
    /// The caches of a call [`Rope::resolve`] accepted.
    fn new(call: &Call, cos: &'a super::Value, sin: &'a super::Value) -> Result<Self> {
        match call.opt(3) {
            None => {
                let c = cos.data.view().into_dimensionality::<Ix3>();
                let sn = sin.data.view().into_dimensionality::<Ix3>();
                match (c, sn) {
                    (Ok(c), Ok(sn)) => Ok(Caches::PerToken(c, sn)),
                    _ => Err(call.err("cos_cache/sin_cache must be 3-D")),
                }
            }
            Some(p) => {
                // In [0, max_position_id_plus_1) (checked).
                let ids = p.data.iter().map(|&id| id as usize).collect();
                let seq = p.shape()[1];
                let c = cos.data.view().into_dimensionality::<Ix2>();
                let sn = sin.data.view().into_dimensionality::<Ix2>();
                match (c, sn) {
                    (Ok(c), Ok(sn)) => Ok(Caches::ByPosition(c, sn, ids, seq)),
                    _ => Err(call.err("cos_cache/sin_cache must be 2-D")),
                }
            }
        }
    }

    /// The cos and sin rows of token (bi, si).
    fn row(
        &self,
        bi: usize,
        si: usize,
    ) -> (ndarray::ArrayView1<'_, f64>, ndarray::ArrayView1<'_, f64>) {
        match self {
            Caches::PerToken(c, s) => (
                c.slice(ndarray::s![bi, si, ..]),
                s.slice(ndarray::s![bi, si, ..]),
            ),
            Caches::ByPosition(c, s, ids, seq) => {
                let p = ids[bi * seq + si];
                (c.row(p), s.row(p))
            }
        }
    }
}

// ------------------------------------------------------------- generated cases
// The case spaces of this family (machinery and conventions: ops/cases.rs).

use super::cases::{self, CaseSpace, Factor, Fill, GenCase, GenInput, Pick, Storage};
use crate::numerics::DType;

/// RotaryEmbedding: 4-D and 3-D X, caches indexed by position_ids or given
/// per token, interleaved or split halves, the whole head or half of it
/// rotated, sequences of 1, a prime and 128 tokens, every layout of X.
pub(super) fn rotary_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::FLOATS),
            Factor::new("form", &["bhsd", "bsh"]),
            Factor::new("positions", &["posids", "pertoken"]),
            Factor::new("pairs", &["halves", "interleaved"]),
            Factor::new("rotary", &["fullrot", "partialrot"]),
            Factor::new("seq", &["s1", "sprime", "s128"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let dt = p.dtype();
            let (b, h, d) = (2, 3, 16);
            let s = match p.get("seq") {
                "s1" => 1,
                "sprime" => 7,
                _ => 128,
            };
            let rot = if p.is("rotary", "fullrot") { d } else { d / 2 };
            let x = if p.is("form", "bhsd") {
                vec![b, h, s, d]
            } else {
                vec![b, s, h * d]
            };
            let mut inputs = vec![
                GenInput::new(dt, x)
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
            ];
            let max_pos = 2 * s + 3;
            if p.is("positions", "posids") {
                inputs.push(GenInput::new(dt, vec![max_pos, rot / 2]).some());
                inputs.push(GenInput::new(dt, vec![max_pos, rot / 2]).some());
                inputs.push(
                    GenInput::new(DType::I64, vec![b, s])
                        .fill(Fill::Int(0, max_pos as i64 - 1))
                        .some(),
                );
            } else {
                inputs.push(GenInput::new(dt, vec![b, s, rot / 2]).some());
                inputs.push(GenInput::new(dt, vec![b, s, rot / 2]).some());
            }
            let mut case =
                GenCase::new(inputs).int("interleaved", i64::from(p.is("pairs", "interleaved")));
            if p.is("form", "bsh") {
                case = case.int("num_heads", h as i64);
            }
            if p.is("rotary", "partialrot") {
                case = case.int("rotary_embedding_dim", rot as i64);
            }
            Some(case)
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::Value;
    use super::super::testutil::*;
    use crate::ops::{AttrValue, Attributes};

    /// cos/sin caches of shape [positions, half] for angles theta(p, k).
    fn caches(
        positions: usize,
        half: usize,
        theta: impl Fn(usize, usize) -> f64,
    ) -> (Value, Value) {
        let mut c = Vec::new();
        let mut s = Vec::new();
        for p in 0..positions {
            for k in 0..half {
                c.push(theta(p, k).cos());
                s.push(theta(p, k).sin());
            }
        }
        (f(&[positions, half], &c), f(&[positions, half], &s))
    }

    #[test]
    fn half_split_and_interleaved_by_hand() {
        // One token, one head of size 4, angle 90 degrees for pair 0 and 0 for
        // pair 1: cos = [0, 1], sin = [1, 0].
        let x = f(&[1, 1, 1, 4], &[1.0, 2.0, 3.0, 4.0]);
        let cos = f(&[1, 1, 2], &[0.0, 1.0]);
        let sin = f(&[1, 1, 2], &[1.0, 0.0]);
        // Half split: pairs (x0, x2) = (1, 3) rotated 90 -> (-3, 1); (x1, x3) = (2, 4) kept.
        let y = run1(
            "RotaryEmbedding",
            &Attributes::new(),
            &[x.clone(), cos.clone(), sin.clone()],
        );
        close(&y.data, &[-3.0, 2.0, 1.0, 4.0], 0.0);
        // Interleaved: pairs (x0, x1) = (1, 2) -> (-2, 1); (x2, x3) = (3, 4) kept.
        let a = attrs(&[("interleaved", AttrValue::Int(1))]);
        let y = run1("RotaryEmbedding", &a, &[x, cos, sin]);
        close(&y.data, &[-2.0, 1.0, 3.0, 4.0], 0.0);
    }

    #[test]
    fn partial_rotation_and_position_ids() {
        // head_size 6, rotary_embedding_dim 4 (half 2): the last 2 pass through.
        // Position ids pick cache rows 2 and 0; row 2 has angle pi for both pairs,
        // row 0 angle 0 (identity).
        let x = f(
            &[1, 2, 6],
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        );
        let (cos, sin) = caches(3, 2, |p, _| if p == 2 { std::f64::consts::PI } else { 0.0 });
        let a = attrs(&[
            ("num_heads", AttrValue::Int(1)),
            ("rotary_embedding_dim", AttrValue::Int(4)),
        ]);
        let y = run1("RotaryEmbedding", &a, &[x, cos, sin, i(&[1, 2], &[2, 0])]);
        assert_eq!(y.shape(), &[1, 2, 6]);
        // Rotation by pi negates both members of each pair.
        close(
            &y.data,
            &[
                -1.0, -2.0, -3.0, -4.0, 5.0, 6.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0,
            ],
            1e-15,
        );
    }

    #[test]
    fn zero_angle_is_identity_and_norms_are_kept() {
        // 4-D X: batch 2, heads 3, seq 4, head 8, with real angles.
        let vals: Vec<f64> = (0..192)
            .map(|k| ((k * 37) % 23) as f64 / 7.0 - 1.5)
            .collect();
        let x = f(&[2, 3, 4, 8], &vals);
        let (c0, s0) = caches(4, 4, |_, _| 0.0);
        let ids = i(&[2, 4], &[0, 1, 2, 3, 3, 2, 1, 0]);
        for inter in [0, 1] {
            let a = attrs(&[("interleaved", AttrValue::Int(inter))]);
            let y = run1(
                "RotaryEmbedding",
                &a,
                &[x.clone(), c0.clone(), s0.clone(), ids.clone()],
            );
            assert_eq!(y, x);
        }
        let (c, s) = caches(4, 4, |p, k| p as f64 * 10000f64.powf(-(k as f64) / 4.0));
        for inter in [0usize, 1] {
            let a = attrs(&[("interleaved", AttrValue::Int(inter as i64))]);
            let y = run1(
                "RotaryEmbedding",
                &a,
                &[x.clone(), c.clone(), s.clone(), ids.clone()],
            );
            let xs = x.data.as_slice().unwrap();
            let ys = y.data.as_slice().unwrap();
            for (head_x, head_y) in xs.chunks(8).zip(ys.chunks(8)) {
                for k in 0..4 {
                    let (i1, i2) = if inter == 1 {
                        (2 * k, 2 * k + 1)
                    } else {
                        (k, k + 4)
                    };
                    let nx = head_x[i1].hypot(head_x[i2]);
                    let ny = head_y[i1].hypot(head_y[i2]);
                    assert!((nx - ny).abs() < 1e-14, "pair norm {nx} vs {ny}");
                }
            }
            // Position 0 (batch 0, seq 0, every head) has angle 0: unchanged.
            for h in 0..3 {
                for j in 0..8 {
                    assert_eq!(y.data[[0, h, 0, j]], x.data[[0, h, 0, j]]);
                }
            }
        }
    }

    #[test]
    fn layouts_agree() {
        // The same tokens as 4-D (b, h, s, d) and 3-D (b, s, h*d) give the same result.
        let vals: Vec<f64> = (0..48).map(|k| (k as f64 * 0.37).sin()).collect();
        let x4 = f(&[1, 2, 3, 8], &vals);
        let x3 = run1(
            "Transpose",
            &attrs(&[("perm", AttrValue::Ints(vec![0, 2, 1, 3]))]),
            std::slice::from_ref(&x4),
        );
        let x3 = run1("Reshape", &Attributes::new(), &[x3, i(&[3], &[1, 3, 16])]);
        let (c, s) = caches(3, 4, |p, k| 0.3 * p as f64 + 0.1 * k as f64);
        let ids = i(&[1, 3], &[0, 1, 2]);
        let y4 = run1(
            "RotaryEmbedding",
            &Attributes::new(),
            &[x4, c.clone(), s.clone(), ids.clone()],
        );
        let a = attrs(&[("num_heads", AttrValue::Int(2))]);
        let y3 = run1("RotaryEmbedding", &a, &[x3, c, s, ids]);
        let y4t = run1(
            "Transpose",
            &attrs(&[("perm", AttrValue::Ints(vec![0, 2, 1, 3]))]),
            &[y4],
        );
        let y4t = run1("Reshape", &Attributes::new(), &[y4t, i(&[3], &[1, 3, 16])]);
        close(&y3.data, y4t.data.as_slice().unwrap(), 0.0);
    }

    #[test]
    fn rope_errors() {
        let none = Attributes::new();
        let odd = f(&[1, 1, 1, 3], &[0.0; 3]);
        let c1 = f(&[1, 1, 1], &[1.0]);
        fails(
            "RotaryEmbedding",
            &attrs(&[("rotary_embedding_dim", AttrValue::Int(2))]),
            &[Some(odd), Some(c1.clone()), Some(c1)],
            "head size 3 must be even",
        );
        let x = f(&[1, 1, 1, 4], &[0.0; 4]);
        let c = f(&[1, 1, 2], &[1.0; 2]);
        fails(
            "RotaryEmbedding",
            &none,
            &[
                Some(f(&[1, 2, 4], &[0.0; 8])),
                Some(c.clone()),
                Some(c.clone()),
            ],
            "num_heads",
        );
        fails(
            "RotaryEmbedding",
            &attrs(&[("rotary_embedding_dim", AttrValue::Int(3))]),
            &[Some(x.clone()), Some(c.clone()), Some(c.clone())],
            "must be even",
        );
        fails(
            "RotaryEmbedding",
            &none,
            &[
                Some(x.clone()),
                Some(f(&[1, 1, 3], &[1.0; 3])),
                Some(f(&[1, 1, 3], &[1.0; 3])),
            ],
            "[batch, seq, rot/2]",
        );
        let c2 = f(&[2, 2], &[1.0; 4]);
        fails(
            "RotaryEmbedding",
            &none,
            &[
                Some(x.clone()),
                Some(c2.clone()),
                Some(c2.clone()),
                Some(i(&[1, 1], &[2])),
            ],
            "position_ids holds 2, outside the caches' 2 positions",
        );
        fails(
            "RotaryEmbedding",
            &attrs(&[("interleaved", AttrValue::Int(2))]),
            &[Some(x.clone()), Some(c.clone()), Some(c.clone())],
            "interleaved must be 0 or 1",
        );
        fails(
            "RotaryEmbedding",
            &none,
            &[Some(x), Some(c2.clone()), Some(c2), Some(i(&[1], &[0]))],
            "position_ids must be",
        );
    }
}
