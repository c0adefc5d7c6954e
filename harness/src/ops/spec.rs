//! The ONNX side of an operator's definition: name, domain, opset, inputs,
//! outputs and typed attributes ([`OpSpec`]), and the attribute values of a
//! call ([`Attributes`]). The suite parser refuses unknown ops and
//! attributes by it, the oracle checks every call's signature against it,
//! and the runner allocates its outputs by it. Semantics are the ONNX
//! operator specification's.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

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
    /// How many outputs the harness requests.
    pub outputs: usize,
    /// Attributes the op accepts.
    pub attributes: &'static [(&'static str, AttrType)],
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
        outputs: 1,
        attributes: &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
