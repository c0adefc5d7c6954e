//! Output shapes and dtypes of the ops a model graph uses, for allocating the
//! backend path's output buffers. This is the ONNX shape inference of those
//! ops, written out; the backend path must not ask the oracle.

use crate::numerics::DType;
use crate::op::{AttrValue, Attributes};

use super::exec::ModelError;

fn int_attr(attrs: &Attributes, name: &str, default: i64) -> i64 {
    match attrs.get(name) {
        Some(AttrValue::Int(v)) => *v,
        _ => default,
    }
}

fn norm_axis(axis: i64, rank: usize) -> Result<usize, ModelError> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r.max(1) {
        return Err(ModelError::Config(format!(
            "axis {axis} out of range for rank {rank}"
        )));
    }
    Ok(a as usize)
}

fn broadcast(a: &[usize], b: &[usize]) -> Result<Vec<usize>, ModelError> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(ModelError::Config(format!(
                    "shapes {a:?} and {b:?} do not broadcast"
                )));
            }
        };
    }
    Ok(out)
}

/// Output (dtype, shape) of each output of `name`. `shapes[i]` is input i's
/// dtype and shape (None when omitted); `values(i)` reads input i's values
/// (used for shape-carrying inputs: Reshape's shape, TopK's K, Reduce axes).
pub fn infer(
    name: &str,
    attrs: &Attributes,
    shapes: &[Option<(DType, Vec<usize>)>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> Result<Vec<(DType, Vec<usize>)>, ModelError> {
    let input = |i: usize| -> Result<&(DType, Vec<usize>), ModelError> {
        shapes
            .get(i)
            .and_then(|s| s.as_ref())
            .ok_or_else(|| ModelError::Config(format!("{name}: input {i} missing")))
    };
    let (d0, s0) = input(0)?.clone();
    Ok(match name {
        "Add" | "Sub" | "Mul" | "Div" => {
            let (_, s1) = input(1)?;
            vec![(d0, broadcast(&s0, s1)?)]
        }
        "Gelu" | "Sigmoid" | "Sqrt" | "Neg" | "Exp" | "Tanh" | "Relu" | "Reciprocal"
        | "Softplus" | "Erf" | "Log" | "Softmax" | "LogSoftmax" | "LayerNormalization"
        | "RMSNormalization" | "RotaryEmbedding" => vec![(d0, s0)],
        "Cast" => {
            let to = int_attr(attrs, "to", 0);
            let d = DType::from_code(to as i32)
                .ok_or_else(|| ModelError::Config(format!("Cast to unknown dtype {to}")))?;
            vec![(d, s0)]
        }
        "MatMul" => {
            let (_, s1) = input(1)?;
            if s0.len() < 2 || s1.len() < 2 {
                return Err(ModelError::Config(format!(
                    "MatMul of {s0:?} and {s1:?}: the model graph uses rank >= 2"
                )));
            }
            let (m, k) = (s0[s0.len() - 2], s0[s0.len() - 1]);
            let (k2, n) = (s1[s1.len() - 2], s1[s1.len() - 1]);
            if k != k2 {
                return Err(ModelError::Config(format!(
                    "MatMul inner dimensions differ: {s0:?} x {s1:?}"
                )));
            }
            let mut out = broadcast(&s0[..s0.len() - 2], &s1[..s1.len() - 2])?;
            out.extend([m, n]);
            vec![(d0, out)]
        }
        "Gather" => {
            let (_, idx) = input(1)?;
            let axis = norm_axis(int_attr(attrs, "axis", 0), s0.len())?;
            let mut out = s0[..axis].to_vec();
            out.extend(idx);
            out.extend(&s0[axis + 1..]);
            vec![(d0, out)]
        }
        "Transpose" => {
            let perm: Vec<usize> = match attrs.get("perm") {
                Some(AttrValue::Ints(p)) => p.iter().map(|&p| p as usize).collect(),
                _ => (0..s0.len()).rev().collect(),
            };
            vec![(d0, perm.iter().map(|&p| s0[p]).collect())]
        }
        "Reshape" => {
            let target = values(1);
            let total: usize = s0.iter().product();
            let mut out: Vec<usize> = Vec::with_capacity(target.len());
            let mut infer_at = None;
            for (i, &t) in target.iter().enumerate() {
                let t = t as i64;
                match t {
                    0 => out.push(s0[i]),
                    -1 => {
                        infer_at = Some(i);
                        out.push(1);
                    }
                    t if t > 0 => out.push(t as usize),
                    _ => return Err(ModelError::Config(format!("Reshape to {target:?}"))),
                }
            }
            let known: usize = out.iter().product();
            if let Some(i) = infer_at {
                out[i] = total / known.max(1);
            }
            if out.iter().product::<usize>() != total {
                return Err(ModelError::Config(format!(
                    "Reshape of {s0:?} to {target:?}: element counts differ"
                )));
            }
            vec![(d0, out)]
        }
        "Concat" => {
            let axis = norm_axis(int_attr(attrs, "axis", 0), s0.len())?;
            let mut out = s0.clone();
            out[axis] = 0;
            for s in shapes.iter().flatten() {
                out[axis] += s.1[axis];
            }
            vec![(d0, out)]
        }
        "Attention" => {
            let (_, v) = input(2)?;
            let out = if s0.len() == 4 {
                vec![s0[0], s0[1], s0[2], v[3]]
            } else {
                let kv = int_attr(attrs, "kv_num_heads", 1).max(1) as usize;
                let q = int_attr(attrs, "q_num_heads", 1).max(1) as usize;
                vec![s0[0], s0[1], q * (v[2] / kv)]
            };
            vec![(d0, out)]
        }
        "TopK" => {
            let k = values(1).first().copied().unwrap_or(0.0) as usize;
            let axis = norm_axis(int_attr(attrs, "axis", -1), s0.len())?;
            let mut out = s0.clone();
            out[axis] = k;
            vec![(d0, out.clone()), (DType::I64, out)]
        }
        "ReduceSum" | "ReduceMean" | "ReduceMax" => {
            let keep = int_attr(attrs, "keepdims", 1) != 0;
            let axes: Vec<usize> = if shapes.get(1).is_some_and(|s| s.is_some()) {
                values(1)
                    .iter()
                    .map(|&a| norm_axis(a as i64, s0.len()))
                    .collect::<Result<_, _>>()?
            } else {
                (0..s0.len()).collect()
            };
            let mut out = Vec::new();
            for (i, &d) in s0.iter().enumerate() {
                if axes.contains(&i) {
                    if keep {
                        out.push(1);
                    }
                } else {
                    out.push(d);
                }
            }
            vec![(d0, out)]
        }
        other => {
            return Err(ModelError::Config(format!(
                "no shape rule for {other} in the model graph"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::exec::attrs;

    fn f(s: &[usize]) -> Option<(DType, Vec<usize>)> {
        Some((DType::F32, s.to_vec()))
    }

    #[test]
    fn shapes_of_model_ops() {
        let none = &mut |_: usize| vec![];
        let a = Attributes::new();
        assert_eq!(
            infer("MatMul", &a, &[f(&[1, 5, 64]), f(&[64, 32])], none).unwrap()[0].1,
            vec![1, 5, 32]
        );
        assert_eq!(
            infer("Add", &a, &[f(&[2, 1, 4]), f(&[3, 1])], none).unwrap()[0].1,
            vec![2, 3, 4]
        );
        let g = attrs(&[("axis", AttrValue::Int(1))]);
        assert_eq!(
            infer("Gather", &g, &[f(&[2, 7, 3]), f(&[4])], none).unwrap()[0].1,
            vec![2, 4, 3]
        );
        let mut shape = |_: usize| vec![0.0, -1.0, 4.0, 8.0];
        assert_eq!(
            infer("Reshape", &a, &[f(&[1, 5, 32]), f(&[4])], &mut shape).unwrap()[0].1,
            vec![1, 5, 4, 8]
        );
        let mut axes = |_: usize| vec![1.0];
        let k = attrs(&[("keepdims", AttrValue::Int(0))]);
        assert_eq!(
            infer("ReduceSum", &k, &[f(&[2, 5, 3]), f(&[1])], &mut axes).unwrap()[0].1,
            vec![2, 3]
        );
        let mut two = |_: usize| vec![2.0];
        let t = infer("TopK", &a, &[f(&[5, 8]), f(&[1])], &mut two).unwrap();
        assert_eq!(t[0].1, vec![5, 2]);
        assert_eq!(t[1].0, DType::I64);
        let at = infer(
            "Attention",
            &a,
            &[f(&[1, 4, 3, 24]), f(&[1, 4, 9, 24]), f(&[1, 4, 9, 16])],
            none,
        )
        .unwrap();
        assert_eq!(at[0].1, vec![1, 4, 3, 16]);
        assert!(infer("MatMul", &a, &[f(&[1, 5]), f(&[4, 2])], none).is_err());
    }
}
