//! The ONNX side of an operator's definition: name, domain, opset, inputs,
//! outputs and typed attributes ([`OpSpec`]), and the attribute values of a
//! call ([`Attributes`]). The suite parser refuses unknown ops and
//! attributes by it, the oracle checks every call's signature against it,
//! and the runner allocates its outputs by it. Semantics are the ONNX
//! operator specification's.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::numerics::{DType, HostTensor};

/// The type of an attribute, as in ONNX `AttributeProto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    /// 64-bit integer
    Int,
    /// float (carried as f64)
    Float,
    /// UTF-8 string
    String,
    /// list of integers
    Ints,
    /// list of floats
    Floats,
    /// a tensor (ONNX `AttributeProto.TENSOR`; ABI minor 3)
    Tensor,
}

/// A typed attribute value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttrValue {
    /// 64-bit integer
    Int(i64),
    /// float
    Float(f64),
    /// string
    String(String),
    /// list of integers
    Ints(Vec<i64>),
    /// list of floats
    Floats(Vec<f64>),
    /// a tensor: Constant's and ConstantOfShape's `value` (ABI minor 3)
    Tensor(#[serde(with = "super::attr_tensor::wire")] HostTensor),
}

impl AttrValue {
    /// The value's type.
    pub fn attr_type(&self) -> AttrType {
        match self {
            AttrValue::Int(_) => AttrType::Int,
            AttrValue::Float(_) => AttrType::Float,
            AttrValue::String(_) => AttrType::String,
            AttrValue::Ints(_) => AttrType::Ints,
            AttrValue::Floats(_) => AttrType::Floats,
            AttrValue::Tensor(_) => AttrType::Tensor,
        }
    }
}

impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::Int(v) => write!(f, "{v}"),
            AttrValue::Float(v) => write!(f, "{v}"),
            AttrValue::String(v) => write!(f, "{v:?}"),
            AttrValue::Ints(v) => write!(f, "{v:?}"),
            AttrValue::Floats(v) => write!(f, "{v:?}"),
            AttrValue::Tensor(t) => super::attr_tensor::describe(t, f),
        }
    }
}

/// Attributes of one call, by name (sorted, so ids and hashes are stable).
pub type Attributes = BTreeMap<String, AttrValue>;

/// Reads attributes with ONNX defaults; a wrong type is reported as an error
/// string naming the attribute.
pub trait AttributesExt {
    /// Integer attribute or default.
    fn int(&self, name: &str, default: i64) -> Result<i64, String>;
    /// Float attribute or default.
    fn float(&self, name: &str, default: f64) -> Result<f64, String>;
    /// String attribute or default.
    fn string<'a>(&'a self, name: &str, default: &'a str) -> Result<&'a str, String>;
    /// Int-list attribute, if present.
    fn ints(&self, name: &str) -> Result<Option<&[i64]>, String>;
    /// Tensor attribute, if present.
    fn tensor(&self, name: &str) -> Result<Option<&HostTensor>, String>;
}

impl AttributesExt for Attributes {
    fn int(&self, name: &str, default: i64) -> Result<i64, String> {
        match self.get(name) {
            None => Ok(default),
            Some(AttrValue::Int(v)) => Ok(*v),
            Some(v) => Err(format!("attribute {name} must be an int, got {v}")),
        }
    }
    fn float(&self, name: &str, default: f64) -> Result<f64, String> {
        match self.get(name) {
            None => Ok(default),
            Some(AttrValue::Float(v)) => Ok(*v),
            Some(AttrValue::Int(v)) => Ok(*v as f64),
            Some(v) => Err(format!("attribute {name} must be a float, got {v}")),
        }
    }
    fn string<'a>(&'a self, name: &str, default: &'a str) -> Result<&'a str, String> {
        match self.get(name) {
            None => Ok(default),
            Some(AttrValue::String(v)) => Ok(v),
            Some(v) => Err(format!("attribute {name} must be a string, got {v}")),
        }
    }
    fn ints(&self, name: &str) -> Result<Option<&[i64]>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(AttrValue::Ints(v)) => Ok(Some(v)),
            Some(v) => Err(format!("attribute {name} must be a list of ints, got {v}")),
        }
    }
    fn tensor(&self, name: &str) -> Result<Option<&HostTensor>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(AttrValue::Tensor(t)) => Ok(Some(t)),
            Some(v) => Err(format!("attribute {name} must be a tensor, got {v}")),
        }
    }
}

/// How an op's inputs may be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// Exactly `required` inputs, plus up to `optional` trailing optional ones.
    Fixed {
        /// inputs that must be present
        required: usize,
        /// trailing inputs that may be absent
        optional: usize,
    },
    /// One or more inputs of the same kind (Concat).
    Variadic,
}

/// What xpucert knows about one operator.
#[derive(Debug, Clone, Copy)]
pub struct OpSpec {
    /// ONNX operator name, e.g. `MatMul`.
    pub name: &'static str,
    /// `""` (ONNX) or `"xpucert"`.
    pub domain: &'static str,
    /// The opset whose semantics the oracle implements.
    pub opset: i64,
    /// Input arity.
    pub arity: Arity,
    /// Input names, positional (for messages and suites).
    pub input_names: &'static [&'static str],
    /// The type variable of each input, as ONNX's type constraints: the
    /// dtypes it may have, and inputs naming the same variable must share
    /// a dtype. One per input name (a variadic op's one name covers all).
    pub input_types: &'static [TypeVar],
    /// How many outputs the harness requests; 0 for an op whose count
    /// depends on the call (Split: its parts), which its shape rule and
    /// oracle give.
    pub outputs: usize,
    /// Attributes the op accepts.
    pub attributes: &'static [(&'static str, AttrType)],
}

/// An ONNX type variable (`T`, `T1`, `Tind`): the dtypes an input bound to
/// it may have. Inputs of one op that name the same variable share a dtype.
#[derive(Debug, Clone, Copy)]
pub struct TypeVar {
    /// Its name in messages (`T`).
    pub name: &'static str,
    /// The dtypes it admits.
    pub allowed: &'static [DType],
}

// `DType::ALL` lists the floats, then the integers, then bool, then the
// narrow types in the order ONNX's Cast added them; a test below holds the
// slices to that.
/// Every floating-point dtype.
pub(super) const FLOATS: &[DType] = DType::ALL.split_at(6).0;
/// The floats but fp8 (f64, f32, f16, bf16): what ONNX's `tensor(float*)`
/// constraints of Attention and the like admit.
pub(super) const WIDE_FLOATS: &[DType] = DType::ALL.split_at(4).0;
/// Every integer dtype.
pub(super) const INTS: &[DType] = DType::ALL.split_at(6).1.split_at(8).0;
/// Every dtype but bool and the narrow ones.
pub(super) const NUMERIC: &[DType] = DType::ALL.split_at(14).0;
/// Every dtype but the narrow ones (fp8 fnuz, int4, uint4, FP4 E2M1,
/// E8M0, int2, uint2), which ONNX admits only in conversions, quantization and a few
/// structural ops (`all_tensor_types_ir10` and later), not in the broad `T`
/// of data movement (`all_tensor_types_ir4`) nor in arithmetic.
pub(super) const STANDARD: &[DType] = DType::ALL.split_at(15).0;
/// Cast-19's and CastLike-19's dtypes: [`STANDARD`] and fp8 fnuz.
pub(super) const CONVERTIBLE_19: &[DType] = DType::ALL.split_at(17).0;
/// Cast-21's and CastLike-21's dtypes: [`CONVERTIBLE_19`], int4 and uint4.
pub(super) const CONVERTIBLE_21: &[DType] = DType::ALL.split_at(19).0;
/// Cast-23's and CastLike-23's dtypes: [`CONVERTIBLE_21`] and FP4 E2M1.
pub(super) const CONVERTIBLE_23: &[DType] = DType::ALL.split_at(20).0;
/// Cast-24's and CastLike-24's dtypes: [`CONVERTIBLE_23`] and E8M0.
pub(super) const CONVERTIBLE_24: &[DType] = DType::ALL.split_at(21).0;
/// Cast-25's and CastLike-25's dtypes: every dtype (int2 and uint2 added).
pub(super) const CONVERTIBLE_25: &[DType] = &DType::ALL;

/// `T`: any float.
pub(super) const T_FLOAT: TypeVar = TypeVar {
    name: "T",
    allowed: FLOATS,
};
/// `T`: any dtype but bool.
pub(super) const T_NUMERIC: TypeVar = TypeVar {
    name: "T",
    allowed: NUMERIC,
};
/// `T`: any dtype but the narrow ones ([`STANDARD`]).
pub(super) const T_ANY: TypeVar = TypeVar {
    name: "T",
    allowed: STANDARD,
};
/// `Tind`: indices, axes, shapes and counts: any integer dtype.
pub(super) const T_IND: TypeVar = TypeVar {
    name: "Tind",
    allowed: INTS,
};

impl OpSpec {
    /// The name of input `i` for messages (`inputs[2]` for a variadic op).
    pub fn input_name(&self, i: usize) -> String {
        match self.arity {
            Arity::Variadic => format!("{}[{i}]", self.input_names[0]),
            Arity::Fixed { .. } => self
                .input_names
                .get(i)
                .map_or_else(|| format!("#{i}"), |n| n.to_string()),
        }
    }

    /// Checks a call's inputs against the arity and the type constraints:
    /// `dtypes[i]` is input `i`'s dtype, `None` when it is omitted. The
    /// suite loader and the oracle both judge by this, with one message.
    pub fn check_inputs(&self, dtypes: &[Option<DType>]) -> Result<(), String> {
        match self.arity {
            Arity::Fixed { required, optional } => {
                if dtypes.len() > required + optional {
                    return Err(format!(
                        "takes at most {} inputs, got {}",
                        required + optional,
                        dtypes.len()
                    ));
                }
                if let Some(i) = (0..required).find(|&i| dtypes.get(i).is_none_or(Option::is_none))
                {
                    return Err(format!("required input {} is missing", self.input_name(i)));
                }
            }
            Arity::Variadic => {
                if dtypes.is_empty() {
                    return Err("needs at least one input".into());
                }
                if let Some(i) = dtypes.iter().position(Option::is_none) {
                    return Err(format!("input {} is missing", self.input_name(i)));
                }
            }
        }
        let mut bound: Vec<(&str, usize, DType)> = Vec::new();
        for (i, d) in dtypes.iter().enumerate() {
            let Some(d) = *d else { continue };
            let Some(var) = self.input_types.get(i).or(self.input_types.last()) else {
                continue;
            };
            if !var.allowed.contains(&d) {
                let names: Vec<&str> = var.allowed.iter().map(|d| d.name()).collect();
                let class = match var.allowed {
                    a if a == FLOATS => "a float tensor",
                    a if a == INTS => "an integer tensor",
                    a if a == NUMERIC => "a numeric (not bool) tensor",
                    _ => "one of",
                };
                return Err(format!(
                    "input {} must be {class} (type {}: {}), got {d}",
                    self.input_name(i),
                    var.name,
                    names.join(", ")
                ));
            }
            match bound.iter().find(|(n, _, _)| *n == var.name) {
                Some(&(_, j, first)) if first != d => {
                    return Err(format!(
                        "inputs {} and {} must have the same dtype (both are type {}), got {first} and {d}",
                        self.input_name(j),
                        self.input_name(i),
                        var.name
                    ));
                }
                Some(_) => {}
                None => bound.push((var.name, i, d)),
            }
        }
        Ok(())
    }
}

/// `required` inputs plus up to `optional` trailing optional ones.
pub(super) const fn fixed(required: usize, optional: usize) -> Arity {
    Arity::Fixed { required, optional }
}

/// The inputs of a binary op.
pub(super) const BINARY: &[&str] = &["A", "B"];
/// The input of a unary op.
pub(super) const UNARY: &[&str] = &["X"];

/// The spec of a unary ONNX op without attributes.
pub(super) const fn unary(name: &'static str, opset: i64) -> OpSpec {
    OpSpec {
        name,
        domain: "",
        opset,
        arity: fixed(1, 0),
        input_names: UNARY,
        input_types: &[T_FLOAT],
        outputs: 1,
        attributes: &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtype_classes_are_what_they_say() {
        assert!(FLOATS.iter().all(|d| d.is_float()));
        assert_eq!(
            WIDE_FLOATS,
            [DType::F64, DType::F32, DType::F16, DType::BF16]
        );
        assert!(INTS.iter().all(|d| !d.is_float() && *d != DType::Bool));
        assert_eq!(FLOATS.len() + INTS.len(), NUMERIC.len());
        assert_eq!(NUMERIC.len() + 1, STANDARD.len());
        assert_eq!(STANDARD.last(), Some(&DType::Bool));
        assert!(!NUMERIC.contains(&DType::Bool));
        assert_eq!(
            &CONVERTIBLE_25[STANDARD.len()..],
            [
                DType::F8E4M3FNUZ,
                DType::F8E5M2FNUZ,
                DType::I4,
                DType::U4,
                DType::F4E2M1,
                DType::F8E8M0,
                DType::I2,
                DType::U2
            ]
        );
        assert_eq!(CONVERTIBLE_24.last(), Some(&DType::F8E8M0));
        assert_eq!(CONVERTIBLE_23.last(), Some(&DType::F4E2M1));
        assert_eq!(CONVERTIBLE_21.last(), Some(&DType::U4));
        assert_eq!(CONVERTIBLE_19.last(), Some(&DType::F8E5M2FNUZ));
    }

    #[test]
    fn attribute_defaults_and_type_errors() {
        let mut a = Attributes::new();
        a.insert("axis".into(), AttrValue::Int(1));
        a.insert("approximate".into(), AttrValue::String("tanh".into()));
        assert_eq!(a.int("axis", -1).unwrap(), 1);
        assert_eq!(a.int("missing", -1).unwrap(), -1);
        assert_eq!(a.string("approximate", "none").unwrap(), "tanh");
        assert!(
            a.float("approximate", 0.0)
                .unwrap_err()
                .contains("approximate")
        );
    }
}
