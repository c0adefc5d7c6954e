//! The operator vocabulary: which ops xpucert knows, at which opset, with
//! which inputs, outputs and attributes. One table serves the suite parser
//! (unknown ops and attributes are errors), the oracle, and the runner (how many
//! outputs to allocate). Semantics are the ONNX operator specification's.

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

const fn fixed(required: usize, optional: usize) -> Arity {
    Arity::Fixed { required, optional }
}

const BINARY: &[&str] = &["A", "B"];
const UNARY: &[&str] = &["X"];
const REDUCE_ATTRS: &[(&str, AttrType)] = &[
    ("keepdims", AttrType::Int),
    ("noop_with_empty_axes", AttrType::Int),
];

macro_rules! unary {
    ($name:literal, $opset:literal) => {
        OpSpec {
            name: $name,
            domain: "",
            opset: $opset,
            arity: fixed(1, 0),
            input_names: UNARY,
            outputs: 1,
            attributes: &[],
        }
    };
}

macro_rules! binary {
    ($name:literal) => {
        OpSpec {
            name: $name,
            domain: "",
            opset: 14,
            arity: fixed(2, 0),
            input_names: BINARY,
            outputs: 1,
            attributes: &[],
        }
    };
}

/// Every operator xpucert can test, in suite order.
pub const OPS: &[OpSpec] = &[
    binary!("Add"),
    binary!("Sub"),
    binary!("Mul"),
    binary!("Div"),
    unary!("Neg", 13),
    unary!("Exp", 13),
    unary!("Log", 13),
    unary!("Sqrt", 13),
    unary!("Reciprocal", 13),
    unary!("Tanh", 13),
    unary!("Sigmoid", 13),
    unary!("Relu", 14),
    unary!("Erf", 13),
    unary!("Softplus", 22),
    OpSpec {
        name: "Gelu",
        domain: "",
        opset: 20,
        arity: fixed(1, 0),
        input_names: UNARY,
        outputs: 1,
        attributes: &[("approximate", AttrType::String)],
    },
    OpSpec {
        name: "MatMul",
        domain: "",
        opset: 13,
        arity: fixed(2, 0),
        input_names: BINARY,
        outputs: 1,
        attributes: &[],
    },
    OpSpec {
        name: "Gemm",
        domain: "",
        opset: 13,
        arity: fixed(2, 1),
        input_names: &["A", "B", "C"],
        outputs: 1,
        attributes: &[
            ("alpha", AttrType::Float),
            ("beta", AttrType::Float),
            ("transA", AttrType::Int),
            ("transB", AttrType::Int),
        ],
    },
    OpSpec {
        name: "ReduceSum",
        domain: "",
        opset: 13,
        arity: fixed(1, 1),
        input_names: &["data", "axes"],
        outputs: 1,
        attributes: REDUCE_ATTRS,
    },
    OpSpec {
        name: "ReduceMean",
        domain: "",
        opset: 18,
        arity: fixed(1, 1),
        input_names: &["data", "axes"],
        outputs: 1,
        attributes: REDUCE_ATTRS,
    },
    OpSpec {
        name: "ReduceMax",
        domain: "",
        opset: 18,
        arity: fixed(1, 1),
        input_names: &["data", "axes"],
        outputs: 1,
        attributes: REDUCE_ATTRS,
    },
    OpSpec {
        name: "Softmax",
        domain: "",
        opset: 13,
        arity: fixed(1, 0),
        input_names: &["input"],
        outputs: 1,
        attributes: &[("axis", AttrType::Int)],
    },
    OpSpec {
        name: "LogSoftmax",
        domain: "",
        opset: 13,
        arity: fixed(1, 0),
        input_names: &["input"],
        outputs: 1,
        attributes: &[("axis", AttrType::Int)],
    },
    OpSpec {
        name: "LayerNormalization",
        domain: "",
        opset: 17,
        arity: fixed(2, 1),
        input_names: &["X", "Scale", "B"],
        outputs: 1,
        attributes: &[
            ("axis", AttrType::Int),
            ("epsilon", AttrType::Float),
            ("stash_type", AttrType::Int),
        ],
    },
    OpSpec {
        name: "RMSNormalization",
        domain: "",
        opset: 23,
        arity: fixed(2, 0),
        input_names: &["X", "scale"],
        outputs: 1,
        attributes: &[
            ("axis", AttrType::Int),
            ("epsilon", AttrType::Float),
            ("stash_type", AttrType::Int),
        ],
    },
    OpSpec {
        name: "Gather",
        domain: "",
        opset: 13,
        arity: fixed(2, 0),
        input_names: &["data", "indices"],
        outputs: 1,
        attributes: &[("axis", AttrType::Int)],
    },
    OpSpec {
        name: "Transpose",
        domain: "",
        opset: 21,
        arity: fixed(1, 0),
        input_names: &["data"],
        outputs: 1,
        attributes: &[("perm", AttrType::Ints)],
    },
    OpSpec {
        name: "Reshape",
        domain: "",
        opset: 21,
        arity: fixed(2, 0),
        input_names: &["data", "shape"],
        outputs: 1,
        attributes: &[("allowzero", AttrType::Int)],
    },
    OpSpec {
        name: "Concat",
        domain: "",
        opset: 13,
        arity: Arity::Variadic,
        input_names: &["inputs"],
        outputs: 1,
        attributes: &[("axis", AttrType::Int)],
    },
    OpSpec {
        name: "Where",
        domain: "",
        opset: 16,
        arity: fixed(3, 0),
        input_names: &["condition", "X", "Y"],
        outputs: 1,
        attributes: &[],
    },
    OpSpec {
        name: "Cast",
        domain: "",
        opset: 21,
        arity: fixed(1, 0),
        input_names: &["input"],
        outputs: 1,
        attributes: &[("to", AttrType::Int), ("saturate", AttrType::Int)],
    },
    OpSpec {
        name: "TopK",
        domain: "",
        opset: 11,
        arity: fixed(2, 0),
        input_names: &["X", "K"],
        outputs: 2,
        attributes: &[
            ("axis", AttrType::Int),
            ("largest", AttrType::Int),
            ("sorted", AttrType::Int),
        ],
    },
    OpSpec {
        name: "RotaryEmbedding",
        domain: "",
        opset: 23,
        arity: fixed(3, 1),
        input_names: &["X", "cos_cache", "sin_cache", "position_ids"],
        outputs: 1,
        attributes: &[
            ("interleaved", AttrType::Int),
            ("num_heads", AttrType::Int),
            ("rotary_embedding_dim", AttrType::Int),
        ],
    },
    OpSpec {
        name: "Attention",
        domain: "",
        opset: 23,
        arity: fixed(3, 3),
        input_names: &["Q", "K", "V", "attn_mask", "past_key", "past_value"],
        outputs: 1,
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
    OpSpec {
        name: "QuantizeLinear",
        domain: "",
        opset: 21,
        arity: fixed(2, 1),
        input_names: &["x", "y_scale", "y_zero_point"],
        outputs: 1,
        attributes: &[
            ("axis", AttrType::Int),
            ("block_size", AttrType::Int),
            ("saturate", AttrType::Int),
            ("output_dtype", AttrType::Int),
        ],
    },
    OpSpec {
        name: "DequantizeLinear",
        domain: "",
        opset: 21,
        arity: fixed(2, 1),
        input_names: &["x", "x_scale", "x_zero_point"],
        outputs: 1,
        attributes: &[("axis", AttrType::Int), ("block_size", AttrType::Int)],
    },
];

/// Looks an operator up by ONNX name (case-sensitive, as in ONNX).
pub fn find(name: &str) -> Option<&'static OpSpec> {
    OPS.iter().find(|o| o.name == name)
}

/// Names of all known operators, for "did you mean" messages.
pub fn names() -> impl Iterator<Item = &'static str> {
    OPS.iter().map(|o| o.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        let mut seen = std::collections::BTreeSet::new();
        for op in OPS {
            assert!(seen.insert(op.name), "{} listed twice", op.name);
            assert_eq!(find(op.name).unwrap().name, op.name);
        }
        assert!(
            find("matmul").is_none(),
            "lookup is case-sensitive, like ONNX"
        );
        assert_eq!(OPS.len(), 35);
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
