//! The suite file as written: serde types that mirror the YAML one to one.
//!
//! Everything a user can misspell is a struct with `deny_unknown_fields` or an
//! externally tagged enum, so serde-saphyr reports it with a line and column.
//! Values whose meaning depends on the op or the sweep (attributes, shapes,
//! literal values) are read as [`RawValue`] wrapped in [`Spanned`], and judged
//! later in `expand`, which still knows where each came from.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::{Distribution, Layout};
use crate::numerics::check::CheckSpec;
use crate::perf::ThroughputSpec;

/// A whole suite file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSuite {
    pub suite: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub seed: u64,
    /// Suite-wide default for cases that give no `dtypes`.
    #[serde(default)]
    pub dtypes: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub include: Vec<Spanned<String>>,
    /// Default base time limit (seconds) of this file's cases.
    #[serde(default)]
    pub timeout: Option<Spanned<f64>>,
    /// Default throughput measurement and requirements of this file's cases.
    #[serde(default)]
    pub throughput: Option<Spanned<ThroughputSpec>>,
    #[serde(default)]
    pub cases: Vec<Spanned<RawCase>>,
}

/// One `cases:` entry, before sweep and dtype expansion.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCase {
    /// Required, except in a `generate:` entry (where it prefixes the names).
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    pub op: Spanned<String>,
    /// Cases from the op's declared case space instead of `inputs`.
    #[serde(default)]
    pub generate: Option<Spanned<Strength>>,
    #[serde(default)]
    pub opset: Option<Spanned<i64>>,
    #[serde(default)]
    pub dtypes: Option<Spanned<Vec<Spanned<String>>>>,
    /// Free text for readers of the file; accepted, not used.
    #[serde(default, rename = "description")]
    pub _description: Option<String>,
    #[serde(default)]
    pub attributes: Option<OrderedMap<RawValue>>,
    #[serde(default)]
    pub sweep: Option<OrderedMap<Vec<Spanned<RawValue>>>>,
    /// Required, except in a `generate:` entry.
    #[serde(default)]
    pub inputs: Option<Spanned<Vec<Spanned<RawInput>>>>,
    #[serde(default)]
    pub check: Option<Spanned<CheckSpec>>,
    /// How many outputs the call requests (optional trailing outputs, a
    /// Split's part count); absent: the op's required count.
    #[serde(default)]
    pub outputs: Option<Spanned<i64>>,
    /// Published outputs the oracle is also checked against (ONNX's node
    /// tests), positional; `absent` for an output not published.
    #[serde(default)]
    pub expected: Option<Spanned<Vec<Spanned<RawPublished>>>>,
    /// Base time limit (seconds) of this case's calls.
    #[serde(default)]
    pub timeout: Option<Spanned<f64>>,
    /// Throughput measurement and requirements (over the file's).
    #[serde(default)]
    pub throughput: Option<Spanned<ThroughputSpec>>,
}

/// One `expected:` output as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpected {
    /// The output's dtype; when given, the oracle's must be the same.
    #[serde(default)]
    pub dtype: Option<Spanned<String>>,
    pub shape: Spanned<Vec<Spanned<RawValue>>>,
    pub values: Spanned<Vec<Spanned<RawValue>>>,
}

/// One positional `expected:` entry: `absent` (the publisher did not give
/// this output: ONNX nodes that name only `Y_h` of LSTM) or an output.
#[derive(Debug)]
pub(crate) enum RawPublished {
    Absent,
    Output(Box<RawExpected>),
}

impl<'de> Deserialize<'de> for RawPublished {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawPublished;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`absent` or an output mapping such as {shape: [2], values: [1, 2]}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawPublished, E> {
                if v == "absent" {
                    Ok(RawPublished::Absent)
                } else {
                    Err(E::custom(format!(
                        "unknown expected output `{v}`: write `absent` or a mapping such as {{shape: [2], values: [1, 2]}}"
                    )))
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<RawPublished, A::Error> {
                RawExpected::deserialize(de::value::MapAccessDeserializer::new(a))
                    .map(|t| RawPublished::Output(Box::new(t)))
            }
        }
        d.deserialize_any(V)
    }
}

/// How a `generate:` entry covers the op's case space (`ops::cases`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Strength {
    /// Every pair of classes of two factors that can occur together.
    Pairwise,
}

/// One positional input: `absent` or a tensor mapping.
#[derive(Debug)]
pub(crate) enum RawInput {
    Absent,
    Tensor(Box<RawTensor>),
}

/// A tensor input as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTensor {
    #[serde(default)]
    pub dtype: Option<Spanned<String>>,
    #[serde(default)]
    pub shape: Option<Spanned<RawValue>>,
    #[serde(default)]
    pub dist: Option<Spanned<Distribution>>,
    #[serde(default)]
    pub values: Option<Spanned<Vec<Spanned<RawValue>>>>,
    #[serde(default)]
    pub layout: Option<Layout>,
}

// A hand-written visitor instead of `#[serde(untagged)]`: untagged enums
// buffer their content, which loses both the location and the real message.
impl<'de> Deserialize<'de> for RawInput {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawInput;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`absent` or a tensor mapping such as {shape: [2, 3]}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawInput, E> {
                if v == "absent" {
                    Ok(RawInput::Absent)
                } else {
                    Err(E::custom(format!(
                        "unknown input `{v}`: write `absent` or a mapping such as {{shape: [2, 3]}}"
                    )))
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<RawInput, A::Error> {
                RawTensor::deserialize(de::value::MapAccessDeserializer::new(a))
                    .map(|t| RawInput::Tensor(Box::new(t)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A scalar or list whose meaning is decided later (a dimension, a sweep
/// variable's name, an attribute of the op's declared type).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawValue {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    List(Vec<Spanned<RawValue>>),
    /// A mapping, in file order: only a tensor attribute's
    /// `{dtype, shape, values}` takes one.
    Map(Vec<(Spanned<String>, Spanned<RawValue>)>),
}

impl RawValue {
    /// How the value reads in messages.
    pub fn describe(&self) -> String {
        match self {
            RawValue::Int(v) => format!("the integer {v}"),
            RawValue::Float(v) => format!("the float {v}"),
            RawValue::Bool(v) => format!("the boolean {v}"),
            RawValue::Str(v) => format!("the string `{v}`"),
            RawValue::List(_) => "a list".to_string(),
            RawValue::Map(_) => "a mapping".to_string(),
        }
    }
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number, a name or a list")
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawValue, E> {
                Ok(RawValue::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawValue, E> {
                i64::try_from(v)
                    .map(RawValue::Int)
                    .map_err(|_| E::custom(format!("{v} does not fit in a 64-bit signed integer")))
            }
            fn visit_f64<E>(self, v: f64) -> Result<RawValue, E> {
                Ok(RawValue::Float(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<RawValue, E> {
                Ok(RawValue::Bool(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<RawValue, E> {
                Ok(RawValue::Str(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<RawValue, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = a.next_element()? {
                    out.push(x);
                }
                Ok(RawValue::List(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<RawValue, A::Error> {
                let mut out = Vec::new();
                while let Some(kv) = a.next_entry()? {
                    out.push(kv);
                }
                Ok(RawValue::Map(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A mapping that keeps the file's key order (sweep order decides case
/// order and id text) and the location of every key.
#[derive(Debug)]
pub(crate) struct OrderedMap<T>(pub Vec<(Spanned<String>, Spanned<T>)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OrderedMap<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OrderedMap<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<OrderedMap<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(kv) = a.next_entry()? {
                    out.push(kv);
                }
                Ok(OrderedMap(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}
