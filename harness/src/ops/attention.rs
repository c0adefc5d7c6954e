//! Attention (opsets 23 and 24): Y, and on request present_key,
//! present_value and qk_matmul_output.

use ndarray::{Array2, Array4, ArrayD, ArrayView4, Axis, Ix4, IxDyn, s};

use super::rules::{self, dim_from_end, int_attr, numel, shape_of};
use super::spec::{TypeVar, WIDE_FLOATS, fixed};
use super::{
    AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape, Value,
    Work, broadcast,
};
use crate::numerics::DType;
use crate::numerics::check::{CheckPolicy, sum_growth, worst_sum_growth};

/// Q, K and past_key.
const T1_FLOAT: TypeVar = TypeVar {
    name: "T1",
    allowed: WIDE_FLOATS,
};
/// V and past_value.
const T2_FLOAT: TypeVar = TypeVar {
    name: "T2",
    allowed: WIDE_FLOATS,
};
/// attn_mask: boolean (keep where true) or additive. ONNX's U also lists
/// the integer dtypes, but its text says "a float mask of the same type as
/// query, key, value", and an integer 0/1 mask would be added rather than
/// select: [`Plan::resolve`] requires a non-bool mask to have Q's dtype.
const MASK: TypeVar = TypeVar {
    name: "U",
    allowed: &[DType::Bool, DType::F64, DType::F32, DType::F16, DType::BF16],
};

/// Judged by its error model (QKᵀ over the head size, the softmax over the
/// keys, P·V over the keys; see [`attention`]) with `c = 1`. Attention-24
/// adds the input nonpad_kv_seqlen (an external cache's valid lengths).
pub(super) const ATTENTION: OpDef = attention_def(24);
/// Attention-23: six inputs.
pub(super) const ATTENTION_23: OpDef = attention_def(23);

/// The Attention version of `opset` (23 or 24).
const fn attention_def(opset: i64) -> OpDef {
    OpDef {
        spec: OpSpec {
            name: "Attention",
            domain: "",
            opset,
            arity: fixed(3, if opset >= 24 { 4 } else { 3 }),
            input_names: &[
                "Q",
                "K",
                "V",
                "attn_mask",
                "past_key",
                "past_value",
                "nonpad_kv_seqlen",
            ],
            input_types: &[
                T1_FLOAT, T1_FLOAT, T2_FLOAT, MASK, T1_FLOAT, T2_FLOAT, T_SEQLEN,
            ],
            // Y; present_key, present_value and qk_matmul_output are optional
            // (`ops/outputs.rs`).
            outputs: 4,
            attributes: &[
                ("is_causal", AttrType::Int),
                ("kv_num_heads", AttrType::Int),
                ("q_num_heads", AttrType::Int),
                ("qk_matmul_output_mode", AttrType::Int),
                ("scale", AttrType::Float),
                ("softcap", AttrType::Float),
                ("softmax_precision", AttrType::Int),
            ],
        },
        oracle: attention,
        shape: |attrs, inputs, values| Ok(Plan::resolve(attrs, inputs, values)?.output_shapes()),
        cost: attention_cost,
        check: CheckPolicy::ModelBound,
        terms: |_, shapes, _| dim_from_end(shapes, 0, 1).max(dim_from_end(shapes, 1, 2)),
    }
}

/// nonpad_kv_seqlen: int64.
const T_SEQLEN: TypeVar = TypeVar {
    name: "tensor(int64)",
    allowed: &[DType::I64],
};

/// `2·Sq·Skv·D` for QKᵀ, `2·Sq·Skv·Dv` for PV and `5·Sq·Skv` for the
/// softmax, per head; Skv counts the past keys.
fn attention_cost(attrs: &Attributes, inputs: &[Option<&[usize]>]) -> Work {
    let (q, k, v) = (
        shape_of(inputs, 0),
        shape_of(inputs, 1),
        shape_of(inputs, 2),
    );
    let past = shape_of(inputs, 4).get(2).copied().unwrap_or(0);
    let (skv, d, dv) = match (q.len(), k.len()) {
        (4, 4) => (k[2] + past, q[3].max(1), v.get(3).copied().unwrap_or(0)),
        (3, 3) => {
            let heads = int_attr(attrs, "q_num_heads", 1).max(1) as usize;
            let kv_heads = int_attr(attrs, "kv_num_heads", 1).max(1) as usize;
            let dv = v.get(2).copied().unwrap_or(0) / kv_heads;
            (k[1] + past, (q[2] / heads).max(1), dv)
        }
        _ => (0, 1, 0),
    };
    let rows = numel(q) / d as f64;
    // 4-D: [batch, heads, seq, head]; 3-D: [batch, seq, hidden].
    let q_seq = match q.len() {
        4 => q[2],
        3 => q[1],
        _ => 0,
    };
    let skv = skv as f64;
    let macs = rows * skv * (d + dv) as f64;
    Work {
        flops: Some(2.0 * macs + 5.0 * rows * skv),
        multiply_adds: macs,
        // The oracle works a (batch, head) at a time: its score, weight and
        // error-model matrices are q_seq x kv_seq each (measured: a 2048 x
        // 2048 head peaks at about 5 such arrays in f64).
        scratch: 6.0 * q_seq as f64 * skv,
    }
}

/// An Attention call, checked: what its oracle and its shape rule both
/// go by.
struct Plan {
    /// Q's dtype, the output's.
    dtype: DType,
    /// 3 or 4.
    rank: usize,
    batch: usize,
    q_heads: usize,
    kv_heads: usize,
    q_seq: usize,
    /// The head size of Q and K.
    head: usize,
    /// V's head size.
    v_head: usize,
    /// past_key's sequence length, 0 without a cache.
    past: usize,
    /// kv_seq + past.
    total: usize,
    scale: f64,
    softcap: f64,
    causal: bool,
    /// nonpad_kv_seqlen (24): per batch row, the keys before it are valid,
    /// the rest padding (masked).
    nonpad: Option<Vec<usize>>,
    /// qk_matmul_output_mode: which stage qk_matmul_output holds.
    mode: i64,
    /// V's dtype, present_value's.
    v_dtype: DType,
}

/// A positive head-count attribute, if given.
fn heads_attr(attrs: &Attributes, name: &str) -> std::result::Result<Option<usize>, String> {
    if !attrs.contains_key(name) {
        return Ok(None);
    }
    let h = attrs.int(name, 0)?;
    usize::try_from(h)
        .ok()
        .filter(|&h| h > 0)
        .map(Some)
        .ok_or_else(|| format!("attribute {name} must be > 0, got {h}"))
}

/// `(batch, heads, seq, head_size)` of input `name` of shape `shape`: 4-D
/// as it is (its heads must agree with `attr` when given), 3-D `(batch,
/// seq, heads * head_size)` split by `attr`, which is then required.
fn bhsd(
    name: &str,
    shape: &[usize],
    attr: (&str, Option<usize>),
) -> std::result::Result<[usize; 4], String> {
    match *shape {
        [b, h, s, d] => match attr {
            (a, Some(n)) if n != h => Err(format!(
                "{name} {shape:?} has {h} heads, but attribute {a} says {n}"
            )),
            _ => Ok([b, h, s, d]),
        },
        [b, s, hidden] => {
            let h = attr.1.ok_or_else(|| {
                "3-D Q, K, V [batch, seq, heads * head_size] need the q_num_heads and kv_num_heads attributes".to_string()
            })?;
            if hidden % h != 0 {
                return Err(format!(
                    "hidden size {hidden} of {name} {shape:?} is not a multiple of its {h} heads ({})",
                    attr.0
                ));
            }
            Ok([b, h, s, hidden / h])
        }
        _ => Err(format!(
            "{name} must be 3-D [batch, seq, heads * head_size] or 4-D [batch, heads, seq, head_size], got shape {shape:?}"
        )),
    }
}

impl Plan {
    /// Checks a call's dtypes, shapes and attributes and resolves its
    /// parameters, or says what is wrong (the spec's rules, listed at
    /// [`attention`]).
    fn resolve(
        attrs: &Attributes,
        inputs: &[Option<TypedShape>],
        values: &mut dyn FnMut(usize) -> Vec<f64>,
    ) -> std::result::Result<Self, String> {
        let (dtype, q) = rules::input(inputs, 0)?;
        let (_, k) = rules::input(inputs, 1)?;
        let (v_dtype, v) = rules::input(inputs, 2)?;
        if k.len() != q.len() || v.len() != q.len() {
            return Err(format!(
                "Q, K and V must have the same rank, got {q:?}, {k:?}, {v:?}"
            ));
        }
        let q_attr = heads_attr(attrs, "q_num_heads")?;
        let kv_attr = heads_attr(attrs, "kv_num_heads")?;
        let [b, hq, sq, d] = bhsd("Q", q, ("q_num_heads", q_attr))?;
        let [kb, hkv, skv, kd] = bhsd("K", k, ("kv_num_heads", kv_attr))?;
        let [vb, vh, vs, dv] = bhsd("V", v, ("kv_num_heads", kv_attr))?;
        if kb != b || vb != b {
            return Err(format!("batch sizes differ: Q {q:?}, K {k:?}, V {v:?}"));
        }
        if kd != d {
            return Err(format!("head sizes of Q ({d}) and K ({kd}) differ"));
        }
        if vh != hkv || vs != skv {
            return Err(format!(
                "K and V disagree in heads or sequence: K {k:?}, V {v:?}"
            ));
        }
        if hkv == 0 || hq % hkv != 0 {
            return Err(format!(
                "q heads ({hq}) must be a multiple of kv heads ({hkv})"
            ));
        }
        let past = match (
            inputs.get(4).and_then(Option::as_ref),
            inputs.get(5).and_then(Option::as_ref),
        ) {
            (None, None) => 0,
            (Some((_, pk)), Some((_, pv))) => {
                let [pb, ph, ps, pd] = *pk.as_slice() else {
                    return Err(format!(
                        "past_key must be 4-D [batch {b}, kv_heads {hkv}, past_seq, head_size {d}], got {pk:?}"
                    ));
                };
                if (pb, ph, pd) != (b, hkv, d) {
                    return Err(format!(
                        "past_key must be [batch {b}, kv_heads {hkv}, past_seq, head_size {d}], got {pk:?}"
                    ));
                }
                if pv.as_slice() != [b, hkv, ps, dv] {
                    return Err(format!(
                        "past_value must be [batch {b}, kv_heads {hkv}, past_seq {ps} (past_key's), v_head_size {dv}], got {pv:?}"
                    ));
                }
                ps
            }
            _ => return Err("past_key and past_value must be given together".into()),
        };
        let total = past + skv;
        let scale = match attrs.get("scale") {
            None => 1.0 / (d as f64).sqrt(),
            Some(_) => attrs.float("scale", 0.0)?,
        };
        let softcap = attrs.float("softcap", 0.0)?;
        // An infinite cap would compute inf * tanh(0) = NaN, not "no cap".
        if !softcap.is_finite() || softcap < 0.0 {
            return Err(format!(
                "softcap must be finite and >= 0 (0: no cap), got {softcap}"
            ));
        }
        // Neither changes Y's exact value, but the spec bounds both; the
        // mode picks qk_matmul_output's stage.
        let mode = attrs.int("qk_matmul_output_mode", 0)?;
        if !(0..=3).contains(&mode) {
            return Err(format!(
                "attribute qk_matmul_output_mode must be 0, 1, 2 or 3, got {mode}"
            ));
        }
        // Absent: Q's precision, which is one of these.
        let code = attrs.int("softmax_precision", 1)?;
        if ![1, 10, 11, 16].contains(&code) {
            return Err(format!(
                "attribute softmax_precision must be a float dtype code (1 f32, 10 f16, 11 f64, 16 bf16), got {code}"
            ));
        }
        let causal = rules::flag(attrs, "is_causal", false)?;
        if let Some((mask_dtype, m)) = inputs.get(3).and_then(Option::as_ref) {
            if *mask_dtype != DType::Bool && mask_dtype != dtype {
                return Err(format!(
                    "attn_mask must be bool (true: attend) or an additive mask of Q's dtype {dtype}, got {mask_dtype}"
                ));
            }
            let target = [b, hq, sq, total];
            let fits = m.len() <= 4
                && m.iter()
                    .rev()
                    .zip(target.iter().rev())
                    .enumerate()
                    .all(|(j, (&md, &t))| {
                        // The last dimension is padded with -inf (masked) up to
                        // total_seq when shorter, as the spec's function does.
                        md == t || md == 1 || (j == 0 && md < t)
                    });
            if !fits {
                return Err(format!(
                    "attn_mask of shape {m:?} cannot be broadcast to [batch, q_heads, q_seq, total_seq] = {target:?} (a shorter last dimension is padded as masked)"
                ));
            }
        }
        // nonpad_kv_seqlen (24): [batch] lengths in 0..=kv_seq; the spec
        // uses it for an external cache, so not with past_key.
        let nonpad = match inputs.get(6).and_then(Option::as_ref) {
            None => None,
            Some((_, n)) => {
                if past > 0 || inputs.get(4).and_then(Option::as_ref).is_some() {
                    return Err(
                        "nonpad_kv_seqlen (an external cache's lengths) cannot be combined with past_key and past_value".into(),
                    );
                }
                if n.as_slice() != [b] {
                    return Err(format!(
                        "nonpad_kv_seqlen must be [batch] = [{b}], got {n:?}"
                    ));
                }
                let lens = rules::ints_of("nonpad_kv_seqlen", &values(6))?;
                Some(
                    lens.iter()
                        .map(|&l| {
                            usize::try_from(l).ok().filter(|&l| l <= total).ok_or_else(|| {
                                format!("nonpad_kv_seqlen {lens:?} must lie in 0..={total} (the keys)")
                            })
                        })
                        .collect::<std::result::Result<Vec<usize>, String>>()?,
                )
            }
        };
        Ok(Plan {
            dtype: *dtype,
            rank: q.len(),
            batch: b,
            q_heads: hq,
            kv_heads: hkv,
            q_seq: sq,
            head: d,
            v_head: dv,
            past,
            total,
            scale,
            softcap,
            causal,
            nonpad,
            mode,
            v_dtype: *v_dtype,
        })
    }

    /// The four outputs' dtypes and shapes: Y 4-D `[batch, q_heads, q_seq,
    /// v_head]` or 3-D `[batch, q_seq, q_heads * v_head]`; present_key
    /// `[batch, kv_heads, total, head]` and present_value `[batch,
    /// kv_heads, total, v_head]` (4-D whatever Q's rank), of K's and V's
    /// dtypes; qk_matmul_output `[batch, q_heads, q_seq, total]`.
    fn output_shapes(&self) -> Vec<TypedShape> {
        let y = if self.rank == 4 {
            vec![self.batch, self.q_heads, self.q_seq, self.v_head]
        } else {
            vec![self.batch, self.q_seq, self.q_heads * self.v_head]
        };
        let (b, hkv, total) = (self.batch, self.kv_heads, self.total);
        vec![
            (self.dtype, y),
            (self.dtype, vec![b, hkv, total, self.head]),
            (self.v_dtype, vec![b, hkv, total, self.v_head]),
            (self.dtype, vec![b, self.q_heads, self.q_seq, total]),
        ]
    }
}

/// One of Q, K, V (or a cache) as a 4-D `(batch, heads, seq, head_size)`
/// array, from its shape as [`Plan::resolve`] read it.
fn to_bhsd(call: &Call, i: usize, v: &Value, heads: usize) -> Result<Array4<f64>> {
    let shape = v.shape();
    if let [b, sq, hidden] = *shape {
        let split = v
            .data
            .to_shape((b, sq, heads, hidden / heads))
            .map_err(|e| call.err(format!("{}: {e}", call.input_name(i))))?;
        return Ok(split
            .permuted_axes([0, 2, 1, 3])
            .as_standard_layout()
            .into_owned());
    }
    v.data
        .view()
        .into_dimensionality::<Ix4>()
        .map(|a| a.to_owned())
        .map_err(|e| call.err(format!("{}: {e}", call.input_name(i))))
}

/// The additive attention bias from attn_mask, as a view broadcast to
/// `(batch, q_heads, q_seq, total)`. A bool mask gives 0 where true (attend)
/// and -inf where false; any other mask is added as it is. A last dimension
/// shorter than `total` is padded with -inf (false), as the spec says.
fn mask_bias(call: &Call, mask: &Value, target: [usize; 4]) -> Result<Array4<f64>> {
    let mut bias: ArrayD<f64> = if mask.dtype == DType::Bool {
        mask.data
            .mapv(|m| if m != 0.0 { 0.0 } else { f64::NEG_INFINITY })
    } else {
        mask.data.clone()
    };
    let total = target[3];
    if let Some(&last) = bias.shape().last().filter(|&&last| last < total) {
        let mut pad_shape = bias.shape().to_vec();
        let axis = pad_shape.len() - 1;
        pad_shape[axis] = total - last;
        let pad = ArrayD::from_elem(IxDyn(&pad_shape), f64::NEG_INFINITY);
        bias = ndarray::concatenate(Axis(axis), &[bias.view(), pad.view()])
            .map_err(|e| call.err(format!("attn_mask: {e}")))?;
    }
    let view = broadcast::to(call, "attn_mask", &bias, &target)?;
    view.into_dimensionality::<Ix4>()
        .map(|v| v.to_owned())
        .map_err(|e| call.err(format!("attn_mask: {e}")))
}

/// Attention (opset 23): `Y = softmax(softcap(scale * Q K^T) + bias) V`.
///
/// * Q, K, V are 4-D `(batch, heads, seq, head_size)`, or 3-D
///   `(batch, seq, heads * head_size)` with q_num_heads / kv_num_heads.
///   V's head size may differ from Q's and K's.
/// * past_key / past_value (4-D, given together) are concatenated before K
///   and V along the sequence.
/// * GQA: q_heads must be a multiple of kv_heads; q head h uses kv head
///   `h / (q_heads / kv_heads)` (each kv head repeated for consecutive q heads).
/// * scale defaults to 1/sqrt(head_size). The spec scales Q and K by
///   sqrt(scale) each; in exact arithmetic that is the same as scaling Q K^T.
/// * is_causal: query i (0-based within Q) may attend key j (0-based over
///   past + new keys) iff `j <= i + past_len`. Without a past this is the
///   spec's "upper left causal bias"; with a past, the past tokens are all
///   visible, as the ONNX reference implementation does (offset = the past
///   length). Masking applies on top of attn_mask ("regardless of the
///   attn_mask input").
/// * softcap (> 0): `softcap * tanh(s / softcap)` is applied to the scaled
///   scores *before* the mask is added. The spec's diagram draws it after the
///   mask, but that maps a -inf mask to -softcap and lets masked keys leak
///   weight; the ONNX reference implementation applies it before the mask,
///   and so do the models that use softcapping.
/// * A query row with every key masked has softmax 0/0: its output is NaN,
///   as the reference implementation's softmax produces; the spec says nothing.
/// * nonpad_kv_seqlen (24; not with a past cache): in batch row b the keys
///   from `nonpad[b]` on are padding, masked; is_causal then aligns the
///   frontier to the bottom right, `j <= i + nonpad[b] - q_seq`, as the
///   spec's external-cache offset says.
/// * softmax_precision only concerns the precision of a real
///   implementation.
/// * attn_mask is bool or has Q's dtype (the spec's text); is_causal is 0
///   or 1. [`Plan::resolve`] holds every check, which the shape rule runs too.
///
/// The optional outputs, computed when requested: present_key and
/// present_value, the caches after the concatenation (copies: exact, their
/// magnitude 0); qk_matmul_output, the scores at the stage
/// qk_matmul_output_mode names (0: `scale Q K^T`, 1: after the softcap, 2:
/// after the mask and causal bias too, 3: the softmax's P), judged by the
/// same error model's stages as Y ([`Stages::score_model`]).
fn attention(call: &Call) -> Result<Vec<Output>> {
    let plan = Plan::resolve(call.attrs, &call.typed_shapes(), &mut |i| call.values(i))
        .map_err(|m| call.err(m))?;
    let (q_in, k_in, v_in) = (call.input(0)?, call.input(1)?, call.input(2)?);
    let rank = plan.rank;
    let q = to_bhsd(call, 0, q_in, plan.q_heads)?;
    let mut k = to_bhsd(call, 1, k_in, plan.kv_heads)?;
    let mut v = to_bhsd(call, 2, v_in, plan.kv_heads)?;
    let (b, hq, sq, d, dv, hkv) = (
        plan.batch,
        plan.q_heads,
        plan.q_seq,
        plan.head,
        plan.v_head,
        plan.kv_heads,
    );

    // KV cache: past first, then the new keys and values.
    let past_len = plan.past;
    if let (Some(pk), Some(pv)) = (call.opt(4), call.opt(5)) {
        let pk4 = to_bhsd(call, 4, pk, hkv)?;
        let pv4 = to_bhsd(call, 5, pv, hkv)?;
        k = ndarray::concatenate(Axis(2), &[pk4.view(), k.view()])
            .map_err(|e| call.err(format!("past_key: {e}")))?;
        v = ndarray::concatenate(Axis(2), &[pv4.view(), v.view()])
            .map_err(|e| call.err(format!("past_value: {e}")))?;
    }
    let total = plan.total;
    let (scale, softcap, causal) = (plan.scale, plan.softcap, plan.causal);
    let bias = match call.opt(3) {
        None => None,
        Some(m) => Some(mask_bias(call, m, [b, hq, sq, total])?),
    };

    let group = hq / hkv;
    let mut y = Array4::<f64>::zeros((b, hq, sq, dv));
    let mut model = call
        .magnitudes
        .then(|| std::array::from_fn::<_, 3, _>(|_| Array4::<f64>::zeros((b, hq, sq, dv))));
    // qk_matmul_output and its error model, when requested.
    let wanted = call.wanted();
    let mode = plan.mode;
    let mut qk_out = (wanted > 3).then(|| Array4::<f64>::zeros((b, hq, sq, total)));
    let mut qk_model = (wanted > 3 && call.magnitudes)
        .then(|| std::array::from_fn::<_, 3, _>(|_| Array4::<f64>::zeros((b, hq, sq, total))));
    for bi in 0..b {
        for h in 0..hq {
            let kvh = h / group;
            let qm = q.slice(s![bi, h, .., ..]);
            let km = k.slice(s![bi, kvh, .., ..]);
            let vm = v.slice(s![bi, kvh, .., ..]);
            let raw: Array2<f64> = qm.dot(&km.t());
            let mut scores = raw.mapv(|x| {
                let x = scale * x;
                if softcap > 0.0 {
                    softcap * (x / softcap).tanh()
                } else {
                    x
                }
            });
            let mut stage = |m: i64, a: &Array2<f64>| {
                if let Some(out) = qk_out.as_mut().filter(|_| m == mode) {
                    out.slice_mut(s![bi, h, .., ..]).assign(a);
                }
            };
            if mode == 0 && wanted > 3 {
                stage(0, &raw.mapv(|x| scale * x));
            }
            stage(1, &scores);
            // The causal frontier's offset: the past length, or with an
            // external cache (24) its valid length minus the queries.
            let (offset, valid) = match &plan.nonpad {
                Some(n) => (n[bi] as i64 - sq as i64, n[bi]),
                None => (past_len as i64, total),
            };
            add_bias(
                &mut scores,
                bias.as_ref().map(|m| m.view()),
                bi,
                h,
                causal.then_some(offset),
                valid,
            );
            stage(2, &scores);
            let logits = model.as_ref().map(|_| scores.clone());
            softmax_rows(&mut scores);
            stage(3, &scores);
            y.slice_mut(s![bi, h, .., ..]).assign(&scores.dot(&vm));
            if let (Some(model), Some(logits)) = (model.as_mut(), logits) {
                let stages = Stages {
                    qk_abs: qm.mapv(f64::abs).dot(&km.mapv(f64::abs).t()),
                    raw,
                    logits,
                    probs: &scores,
                    scale,
                    softcap,
                    head: d,
                };
                let (parts, probabilities) = stages.error_model(vm);
                for (whole, part) in model.iter_mut().zip(parts) {
                    whole.slice_mut(s![bi, h, .., ..]).assign(&part);
                }
                if let Some(qk_model) = qk_model.as_mut() {
                    let parts = stages.score_model(mode, probabilities);
                    for (whole, part) in qk_model.iter_mut().zip(parts) {
                        whole.slice_mut(s![bi, h, .., ..]).assign(&part);
                    }
                }
            }
        }
    }

    let layout = |a: Array4<f64>| -> Result<ArrayD<f64>> {
        Ok(if rank == 3 {
            a.permuted_axes([0, 2, 1, 3])
                .as_standard_layout()
                .into_owned()
                .into_shape_with_order(IxDyn(&[b, sq, hq * dv]))
                .map_err(|e| call.err(format!("output: {e}")))?
        } else {
            a.into_dyn()
        })
    };
    let out = layout(y)?;
    let mut outputs = vec![match model {
        Some([acc, io, products]) => {
            Output::bounded(q_in.dtype, out, layout(acc)?, Some(layout(io)?))
                .with_products(Some(layout(products)?))
        }
        None => Output::plain(q_in.dtype, out),
    }];
    if wanted > 1 {
        // Copies: a bound of magnitude 0 admits only the exact value.
        let copy = |dtype: DType, a: Array4<f64>| {
            let a = a.into_dyn();
            if call.magnitudes {
                let zero = ArrayD::zeros(a.raw_dim());
                Output::bounded(dtype, a, zero, None)
            } else {
                Output::plain(dtype, a)
            }
        };
        outputs.push(copy(plan.dtype, k));
        outputs.push(copy(plan.v_dtype, v));
    }
    if let Some(qk) = qk_out {
        outputs.push(match qk_model {
            Some([acc, io, products]) => Output::bounded(
                plan.dtype,
                qk.into_dyn(),
                acc.into_dyn(),
                Some(io.into_dyn()),
            )
            .with_products(Some(products.into_dyn())),
            None => Output::plain(plan.dtype, qk.into_dyn()),
        });
    }
    Ok(outputs)
}

/// What one (batch, head) of attention computed, for its error model
/// (also MlaAttention's, `mla.rs`: the same three stages over the latent
/// cache).
pub(super) struct Stages<'a> {
    /// `sum_l |q_il| |k_jl|`: the magnitude of each QKᵀ dot product.
    pub(super) qk_abs: Array2<f64>,
    /// QKᵀ, before the scale.
    pub(super) raw: Array2<f64>,
    /// The softmax's input: scaled, softcapped, biased and masked scores.
    pub(super) logits: Array2<f64>,
    /// The softmax's output P.
    pub(super) probs: &'a Array2<f64>,
    /// The scale on QKᵀ.
    pub(super) scale: f64,
    /// The softcap, 0 for none.
    pub(super) softcap: f64,
    /// The head size the QKᵀ dot products sum over.
    pub(super) head: usize,
}

impl Stages<'_> {
    /// The first-order error of `P·V`, per output element, as the
    /// coefficients of the compute precision's unit roundoff `u` and of the
    /// io dtype's `u_io` (`docs/error-models.md`, Attention):
    ///
    /// * logit j: `a_j = g(d) |scale| sum_l |q_l k_jl| + |scale s_j|
    ///   (+ 6 |t_j| with a softcap) + |x_j|`, the dot product over the head
    ///   size d, the scaling, the softcap's tanh and the bias addition;
    /// * probability j, relative: `e_j = w_j + sum_k P_k w_k + g_w(n) + 1`
    ///   with `w_j = a_j + |x_j - max| + 2` (the logit's error, the
    ///   max-subtraction and exp; the normaliser carries the P-weighted
    ///   average of those plus its own worst-case sum growth `g_w(n) = 4 +
    ///   n` over the n keys, and the division);
    /// * output: `M = sum_j P_j |v_j| (e_j + g(n))` for the P·V sum over the
    ///   keys.
    ///
    /// In the io dtype: the function body computes every stage in T (Q and
    /// K scaled by sqrt(scale), the scores, the softcap, the mask addition,
    /// the softmax's output), so each logit may be off by `b_j = 2 |scale|
    /// sum_l |q_l k_jl| + 2 |s_j| (+ 2 |t_j|) + |x_j|` units of `u_io` and
    /// each probability relatively by `b_j + sum_k P_k b_k + 1`: `M_io =
    /// sum_j P_j |v_j| (b_j + sum_k P_k b_k + 1)`. FlashAttention-2's
    /// probabilities rounded to bf16 before P·V are the last term.
    ///
    /// `g(n) = 4 + 2 sqrt(n)` ([`sum_growth`]). Masked keys (P_j = 0)
    /// contribute nothing.
    ///
    /// Also returns the probabilities' own model (`P_j` times the relative
    /// error of the source, without the P·V sum's growth), which
    /// [`Stages::score_model`] gives qk_matmul_output in mode 3.
    pub(super) fn error_model(
        &self,
        v: ndarray::ArrayView2<f64>,
    ) -> ([Array2<f64>; 3], [Array2<f64>; 3]) {
        let n = self.logits.ncols();
        let g_head = sum_growth(self.head);
        let g_keys = sum_growth(n);
        let g_norm = worst_sum_growth(n);
        let v_abs = v.mapv(f64::abs);
        let capped = self.softcap > 0.0;
        // Per key: (w_j in u, b_j in u_io, p_j in the products' u).
        let mut weights: [Array2<f64>; 3] =
            std::array::from_fn(|_| Array2::<f64>::zeros(self.logits.raw_dim()));
        let mut probs = weights.clone();
        for i in 0..self.logits.nrows() {
            let x = self.logits.row(i);
            let p = self.probs.row(i);
            let max = x.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
            let errors: Vec<[f64; 3]> = (0..n)
                .map(|j| {
                    // Masked (0) or a fully masked row (NaN): no error to model.
                    if p[j].is_nan() || p[j] <= 0.0 {
                        return [0.0; 3];
                    }
                    let s = self.scale * self.raw[[i, j]];
                    let t = if capped {
                        self.softcap * (s / self.softcap).tanh()
                    } else {
                        s
                    };
                    let qk = self.scale.abs() * self.qk_abs[[i, j]];
                    let cap = |k: f64| if capped { k * t.abs() } else { 0.0 };
                    let a = g_head * qk + s.abs() + cap(6.0) + x[j].abs();
                    let b = 2.0 * qk + 2.0 * s.abs() + cap(2.0) + x[j].abs();
                    [a + (x[j] - max).abs() + 2.0, b, 4.0 * qk]
                })
                .collect();
            let average = |k: usize| -> f64 { (0..n).map(|j| p[j].max(0.0) * errors[j][k]).sum() };
            let averages = [average(0), average(1), average(2)];
            // The relative error of P_j per source, then what P·V adds.
            let tails = [g_norm + 1.0, 1.0, 4.0];
            for (k, (w, pm)) in weights.iter_mut().zip(probs.iter_mut()).enumerate() {
                for j in 0..n {
                    pm[[i, j]] = p[j].max(0.0) * (errors[j][k] + averages[k] + tails[k]);
                    let sum = if k == 0 { g_keys } else { 0.0 };
                    w[[i, j]] = p[j] * (errors[j][k] + averages[k] + tails[k] + sum);
                }
            }
        }
        (weights.map(|w| w.dot(&v_abs)), probs)
    }

    /// qk_matmul_output's model at `mode` (compute u, io u, products' u),
    /// by the stages of [`Stages::error_model`]: `g(d) |scale| sum_l |q_l
    /// k_jl| + |s_j|` for the scaled product (mode 0; io `2 |scale| sum +
    /// 2 |s_j|`; products 4 times the sum), `6 |t_j|` more after the softcap
    /// (1; io `2 |t_j|`), `|x_j|` more after the bias (2; a masked -inf
    /// logit is compared as it is), the probabilities' model for P (3).
    fn score_model(&self, mode: i64, probabilities: [Array2<f64>; 3]) -> [Array2<f64>; 3] {
        if mode == 3 {
            return probabilities;
        }
        let g_head = sum_growth(self.head);
        let capped = self.softcap > 0.0 && mode >= 1;
        let mut out: [Array2<f64>; 3] =
            std::array::from_fn(|_| Array2::<f64>::zeros(self.logits.raw_dim()));
        for ((i, j), &raw) in self.raw.indexed_iter() {
            let s = self.scale * raw;
            let qk = self.scale.abs() * self.qk_abs[[i, j]];
            let (mut a, mut b) = (g_head * qk + s.abs(), 2.0 * qk + 2.0 * s.abs());
            if capped {
                let t = self.softcap * (s / self.softcap).tanh();
                a += 6.0 * t.abs();
                b += 2.0 * t.abs();
            }
            if mode == 2 {
                let x = self.logits[[i, j]];
                let x = if x.is_finite() { x.abs() } else { 0.0 };
                a += x;
                b += x;
            }
            out[0][[i, j]] = a;
            out[1][[i, j]] = b;
            out[2][[i, j]] = 4.0 * qk;
        }
        out
    }
}

/// Adds the mask bias of (batch bi, head h) to `scores` (q_seq x total),
/// masks key j for query i where `j > i + offset` under a causal `Some(offset)`,
/// and every key from `valid` on (nonpad_kv_seqlen's padding).
pub(super) fn add_bias(
    scores: &mut Array2<f64>,
    bias: Option<ArrayView4<f64>>,
    bi: usize,
    h: usize,
    causal: Option<i64>,
    valid: usize,
) {
    if let Some(m) = bias {
        *scores += &m.slice(s![bi, h, .., ..]);
    }
    for (i, mut row) in scores.outer_iter_mut().enumerate() {
        for (j, x) in row.iter_mut().enumerate() {
            let after = causal.is_some_and(|offset| j as i64 > i as i64 + offset);
            if after || j >= valid {
                *x = f64::NEG_INFINITY;
            }
        }
    }
}

/// Softmax of each row, maximum subtracted; an all -inf row becomes NaN.
pub(super) fn softmax_rows(scores: &mut Array2<f64>) {
    for mut row in scores.outer_iter_mut() {
        let max = row.fold(
            f64::NEG_INFINITY,
            |m, &x| if x.is_nan() || x > m { x } else { m },
        );
        row.mapv_inplace(|x| (x - max).exp());
        let sum = row.sum();
        row.mapv_inplace(|x| x / sum);
    }
}

// ------------------------------------------------------------- generated cases
// The case spaces of this family (machinery and conventions: ops/cases.rs).

use super::cases::{self, CaseSpace, Factor, Fill, GenCase, GenInput, Pick, Storage};

/// Keys a mask hides: a fixed pattern that never hides key 0 (which causal
/// masking never hides either), so no query row is masked whole.
fn hidden(i: usize, j: usize) -> bool {
    j != 0 && (3 * i + 5 * j).is_multiple_of(4)
}

/// Attention (opset 23): 4-D and 3-D (with q_num_heads / kv_num_heads),
/// multi-head, grouped and multi-query heads, causal or not, softcap none /
/// small (2, where a mask applied before the cap leaks) / large (30), the
/// default and an explicit scale, a KV cache (past_key / past_value) or
/// none, no mask / a bool mask / a float mask with -inf, decode (one query),
/// prefill (as many queries as keys) and cross (fewer queries, a wider V
/// head), every layout of K.
pub(super) fn attention_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::FLOATS),
            Factor::new("form", &["bhsd", "bsh"]),
            Factor::new("heads", &["mha", "gqa", "mqa"]),
            Factor::new("causal", &["noncausal", "causal"]),
            Factor::new("softcap", &["nocap", "cap2", "cap30"]),
            Factor::new("scale", &["defscale", "scaled"]),
            Factor::new("past", &["nopast", "kvcache"]),
            Factor::new("mask", &["nomask", "boolmask", "floatmask"]),
            Factor::new("seq", &["decode", "prefill", "cross"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let dt = p.dtype();
            let (b, d) = (2, 16);
            let (hq, hkv) = match p.get("heads") {
                "mha" => (4, 4),
                "gqa" => (4, 2),
                _ => (4, 1),
            };
            let (sq, skv, dv) = match p.get("seq") {
                "decode" => (1, 11, d),
                "prefill" => (9, 9, d),
                _ => (5, 11, 24),
            };
            let past = if p.is("past", "kvcache") { 7 } else { 0 };
            let total = past + skv;
            let three = p.is("form", "bsh");
            let (q, k, v) = if three {
                (
                    vec![b, sq, hq * d],
                    vec![b, skv, hkv * d],
                    vec![b, skv, hkv * dv],
                )
            } else {
                (
                    vec![b, hq, sq, d],
                    vec![b, hkv, skv, d],
                    vec![b, hkv, skv, dv],
                )
            };
            // Logits of a few units, so that softcap 2 bends them.
            let mut inputs = vec![
                GenInput::new(dt, q).fill(Fill::Normal(1.5)).some(),
                GenInput::new(dt, k)
                    .fill(Fill::Normal(1.5))
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                GenInput::new(dt, v).some(),
            ];
            let mask = match p.get("mask") {
                "nomask" => None,
                "boolmask" => Some(GenInput::values(
                    DType::Bool,
                    (0..sq * total)
                        .map(|e| f64::from(u8::from(!hidden(e / total, e % total))))
                        .collect(),
                )),
                _ => Some(GenInput::values(
                    dt,
                    (0..sq * total)
                        .map(|e| {
                            let (i, j) = (e / total, e % total);
                            if hidden(i, j) {
                                f64::NEG_INFINITY
                            } else {
                                ((7 * i + 13 * j) % 11) as f64 / 4.0 - 1.25
                            }
                        })
                        .collect(),
                )),
            };
            let mask = mask.map(|m| m.shaped(vec![sq, total]));
            if mask.is_some() || past > 0 {
                inputs.push(mask);
            }
            if past > 0 {
                inputs.push(
                    GenInput::new(dt, vec![b, hkv, past, d])
                        .fill(Fill::Normal(1.5))
                        .some(),
                );
                inputs.push(GenInput::new(dt, vec![b, hkv, past, dv]).some());
            }
            let mut case = GenCase::new(inputs);
            if three {
                case = case
                    .int("q_num_heads", hq as i64)
                    .int("kv_num_heads", hkv as i64);
            }
            if p.is("causal", "causal") {
                case = case.int("is_causal", 1);
            }
            match p.get("softcap") {
                "cap2" => case = case.float("softcap", 2.0),
                "cap30" => case = case.float("softcap", 30.0),
                _ => {}
            }
            if p.is("scale", "scaled") {
                case = case.float("scale", 0.3);
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

    fn attn(a: &Attributes, inputs: &[Option<Value>]) -> Value {
        run_opt("Attention", a, inputs)
            .unwrap_or_else(|e| panic!("{e}"))
            .remove(0)
            .value
    }

    fn seq(n: usize, step: f64) -> Vec<f64> {
        (0..n)
            .map(|k| ((k * 13) % 11) as f64 * step - 0.6)
            .collect()
    }

    #[test]
    fn one_key_returns_v() {
        let q = f(&[1, 2, 3, 4], &seq(24, 0.2));
        let k = f(&[1, 2, 1, 4], &seq(8, 0.3));
        let v = f(&[1, 2, 1, 2], &[1.0, -2.0, 3.5, 4.0]);
        let y = attn(&Attributes::new(), &[Some(q), Some(k), Some(v)]);
        assert_eq!(y.shape(), &[1, 2, 3, 2]);
        close(
            &y.data,
            &[
                1.0, -2.0, 1.0, -2.0, 1.0, -2.0, 3.5, 4.0, 3.5, 4.0, 3.5, 4.0,
            ],
            1e-15,
        );
    }

    #[test]
    fn two_keys_by_hand() {
        // d = 4, default scale 1/2. q = [2, 0, 0, 0]; k0 = [0,0,0,0], k1 = [ln 3, 0, 0, 0]
        // scores = 1/2 * [0, 2 ln 3] = [0, ln 3] -> softmax [1/4, 3/4]; V = [[4], [8]] -> 7.
        let q = f(&[1, 1, 1, 4], &[2.0, 0.0, 0.0, 0.0]);
        let k = f(
            &[1, 1, 2, 4],
            &[0.0, 0.0, 0.0, 0.0, 3f64.ln(), 0.0, 0.0, 0.0],
        );
        let v = f(&[1, 1, 2, 1], &[4.0, 8.0]);
        let y = attn(
            &Attributes::new(),
            &[Some(q.clone()), Some(k.clone()), Some(v.clone())],
        );
        close(&y.data, &[7.0], 1e-14);
        // scale 1 doubles the score: [0, 2 ln 3] -> [1/10, 9/10] -> 7.6.
        let a = attrs(&[("scale", AttrValue::Float(1.0))]);
        let y = attn(&a, &[Some(q.clone()), Some(k.clone()), Some(v.clone())]);
        close(&y.data, &[7.6], 1e-14);
        // Float mask [ln 3, 0] evens the scores out: 6.
        let m = f(&[1, 2], &[3f64.ln(), 0.0]);
        let y = attn(
            &Attributes::new(),
            &[Some(q.clone()), Some(k.clone()), Some(v.clone()), Some(m)],
        );
        close(&y.data, &[6.0], 1e-14);
        // Bool mask hiding key 1: 4.
        let m = t(DType::Bool, &[2], &[1.0, 0.0]);
        let y = attn(
            &Attributes::new(),
            &[Some(q.clone()), Some(k.clone()), Some(v.clone()), Some(m)],
        );
        close(&y.data, &[4.0], 0.0);
        // A mask of last dimension 1 is padded with -inf: key 1 hidden again.
        let m = f(&[1], &[0.0]);
        let y = attn(
            &Attributes::new(),
            &[Some(q.clone()), Some(k.clone()), Some(v.clone()), Some(m)],
        );
        close(&y.data, &[4.0], 0.0);
        // softcap 1: scores [0, tanh(ln 3)] = [0, 0.8] -> 4 + 4 e^0.8 / (1 + e^0.8).
        let a = attrs(&[("softcap", AttrValue::Float(1.0))]);
        let y = attn(&a, &[Some(q), Some(k), Some(v)]);
        let w = 0.8f64.exp() / (1.0 + 0.8f64.exp());
        close(&y.data, &[4.0 + 4.0 * w], 1e-14);
    }

    #[test]
    fn causal_masks_the_future() {
        // 3 queries, 3 keys, V rows e0, e1, e2: row i averages the visible keys
        // weighted by softmax; with Q = 0 all scores are 0, so row i is the mean
        // of rows 0..=i: [1,0,0], [1/2,1/2,0], [1/3,1/3,1/3].
        let q = f(&[1, 1, 3, 2], &[0.0; 6]);
        let k = f(&[1, 1, 3, 2], &seq(6, 0.5));
        let v = f(
            &[1, 1, 3, 3],
            &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        );
        let a = attrs(&[("is_causal", AttrValue::Int(1))]);
        let y = attn(&a, &[Some(q.clone()), Some(k.clone()), Some(v.clone())]);
        let third = 1.0 / 3.0;
        close(
            &y.data,
            &[1.0, 0.0, 0.0, 0.5, 0.5, 0.0, third, third, third],
            1e-15,
        );
        // With 2 past tokens and 1 new query: the query sees all 3 keys.
        let past_k = f(&[1, 1, 2, 2], &seq(4, 0.1));
        let past_v = f(&[1, 1, 2, 3], &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
        let q1 = f(&[1, 1, 1, 2], &[0.0; 2]);
        let k1 = f(&[1, 1, 1, 2], &[0.3, 0.4]);
        let v1 = f(&[1, 1, 1, 3], &[0.0, 0.0, 1.0]);
        let y = attn(
            &a,
            &[
                Some(q1),
                Some(k1),
                Some(v1),
                None,
                Some(past_k),
                Some(past_v),
            ],
        );
        close(&y.data, &[third, third, third], 1e-15);
    }

    #[test]
    fn past_concatenation_equals_full_kv() {
        let q = f(&[1, 2, 2, 4], &seq(16, 0.25));
        let k = f(&[1, 2, 5, 4], &seq(40, 0.2));
        let v = f(&[1, 2, 5, 3], &seq(30, 0.4));
        let full = attn(
            &Attributes::new(),
            &[Some(q.clone()), Some(k.clone()), Some(v.clone())],
        );
        let split = |x: &Value, at: usize| {
            let a = x.data.slice_axis(Axis(2), (..at).into()).to_owned();
            let b = x.data.slice_axis(Axis(2), (at..).into()).to_owned();
            (Value::new(x.dtype, a), Value::new(x.dtype, b))
        };
        let (pk, nk) = split(&k, 3);
        let (pv, nv) = split(&v, 3);
        let cached = attn(
            &Attributes::new(),
            &[Some(q), Some(nk), Some(nv), None, Some(pk), Some(pv)],
        );
        close(&cached.data, full.data.as_slice().unwrap(), 1e-15);
    }

    #[test]
    fn gqa_equals_repeated_kv_heads_and_3d_layout_agrees() {
        // 4 q heads, 2 kv heads: q heads 0,1 use kv head 0; 2,3 use kv head 1.
        let q = f(&[2, 4, 3, 2], &seq(48, 0.3));
        let k = f(&[2, 2, 5, 2], &seq(40, 0.2));
        let v = f(&[2, 2, 5, 3], &seq(60, 0.1));
        let gqa = attn(
            &Attributes::new(),
            &[Some(q.clone()), Some(k.clone()), Some(v.clone())],
        );
        let repeat = |x: &Value| {
            let heads: Vec<_> = (0..4)
                .map(|h| x.data.slice_axis(Axis(1), (h / 2..h / 2 + 1).into()))
                .collect();
            Value::new(x.dtype, ndarray::concatenate(Axis(1), &heads).unwrap())
        };
        let mha = attn(
            &Attributes::new(),
            &[Some(q.clone()), Some(repeat(&k)), Some(repeat(&v))],
        );
        close(&gqa.data, mha.data.as_slice().unwrap(), 1e-15);
        // The same call in 3-D layout.
        let to3 = |x: &Value| {
            let (b, h, s, d) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
            let t = x.data.view().permuted_axes(IxDyn(&[0, 2, 1, 3]));
            Value::new(
                x.dtype,
                t.to_shape(IxDyn(&[b, s, h * d])).unwrap().into_owned(),
            )
        };
        let a = attrs(&[
            ("q_num_heads", AttrValue::Int(4)),
            ("kv_num_heads", AttrValue::Int(2)),
        ]);
        let y3 = attn(&a, &[Some(to3(&q)), Some(to3(&k)), Some(to3(&v))]);
        assert_eq!(y3.shape(), &[2, 3, 12]);
        close(&y3.data, to3(&gqa).data.as_slice().unwrap(), 1e-15);
    }

    #[test]
    fn fully_masked_row_is_nan() {
        let q = f(&[1, 1, 2, 2], &[0.1, 0.2, 0.3, 0.4]);
        let k = f(&[1, 1, 2, 2], &[0.5, 0.6, 0.7, 0.8]);
        let v = f(&[1, 1, 2, 1], &[1.0, 2.0]);
        // Row 0 hides everything, row 1 hides nothing.
        let m = t(DType::Bool, &[2, 2], &[0.0, 0.0, 1.0, 1.0]);
        let y = attn(&Attributes::new(), &[Some(q), Some(k), Some(v), Some(m)]);
        assert!(y.data[[0, 0, 0, 0]].is_nan());
        assert!(y.data[[0, 0, 1, 0]].is_finite());
    }

    #[test]
    fn attention_errors() {
        let none = Attributes::new();
        let q = Some(f(&[1, 3, 2, 4], &[0.0; 24]));
        let k = Some(f(&[1, 2, 2, 4], &[0.0; 16]));
        let v = Some(f(&[1, 2, 2, 4], &[0.0; 16]));
        fails(
            "Attention",
            &none,
            &[q.clone(), k.clone(), v.clone()],
            "multiple of kv heads",
        );
        let q = Some(f(&[1, 2, 2, 4], &[0.0; 16]));
        let k5 = Some(f(&[1, 2, 2, 5], &[0.0; 20]));
        fails(
            "Attention",
            &none,
            &[q.clone(), k5, v.clone()],
            "head sizes",
        );
        let q3 = Some(f(&[1, 2, 8], &[0.0; 16]));
        fails(
            "Attention",
            &none,
            &[q3.clone(), q3.clone(), q3],
            "q_num_heads",
        );
        fails(
            "Attention",
            &none,
            &[q.clone(), k.clone(), v.clone(), None, k.clone(), None],
            "together",
        );
        fails(
            "Attention",
            &none,
            &[q.clone(), k.clone(), v.clone(), Some(f(&[3, 2], &[0.0; 6]))],
            "cannot be broadcast",
        );
        fails(
            "Attention",
            &none,
            &[
                q.clone(),
                k.clone(),
                v.clone(),
                Some(t(DType::F16, &[2, 2], &[0.0; 4])),
            ],
            "additive mask of Q's dtype f32, got f16",
        );
        fails(
            "Attention",
            &attrs(&[("softcap", AttrValue::Float(f64::INFINITY))]),
            &[q.clone(), k.clone(), v.clone()],
            "softcap must be finite",
        );
        fails(
            "Attention",
            &attrs(&[("softmax_precision", AttrValue::Int(3))]),
            &[q.clone(), k.clone(), v.clone()],
            "softmax_precision must be a float dtype code",
        );
        fails(
            "Attention",
            &attrs(&[("is_causal", AttrValue::Int(2))]),
            &[q.clone(), k.clone(), v.clone()],
            "is_causal must be 0 or 1",
        );
        fails(
            "Attention",
            &attrs(&[("q_num_heads", AttrValue::Int(3))]),
            &[q.clone(), k.clone(), v.clone()],
            "Q [1, 2, 2, 4] has 2 heads, but attribute q_num_heads says 3",
        );
        fails(
            "Attention",
            &none,
            &[q, Some(f(&[2, 4], &[0.0; 8])), v],
            "same rank",
        );
    }
}
