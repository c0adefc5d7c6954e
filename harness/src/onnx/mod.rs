//! Reading ONNX files: models (`ModelProto`), their graphs, nodes and
//! attributes, and tensors (`TensorProto`, also the `.pb` files of ONNX's
//! node tests).
//!
//! [`proto`] declares the protobuf messages (hand-declared `prost`
//! messages with onnx.proto's field numbers; see ARCHITECTURE.md, "ONNX
//! files"); [`Tensor`] is a decoded tensor whichever field held its data;
//! [`Attribute`] a decoded node attribute. [`node_tests`] turns ONNX's
//! official node tests into a suite. Nothing here knows how a backend is
//! called: the model front end and the node-test converter both build on
//! it.

pub mod node_tests;
pub mod proto;
mod tensor;

use std::path::Path;

use prost::Message;

pub use proto::{AttributeProto, AttributeType, GraphProto, ModelProto, NodeProto, TensorProto};
pub use tensor::{Tensor, data_type_name, element_bits};

/// The largest ONNX file read whole (a model with external data keeps its
/// weights elsewhere; protobuf itself cannot exceed 2 GiB).
pub const MAX_FILE_BYTES: u64 = 2 << 30;

/// Why an ONNX file cannot be read or used.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The file cannot be read.
    #[error("{0}")]
    Io(String),
    /// The bytes are not the message they should be, or it contradicts itself.
    #[error("{0}")]
    Malformed(String),
    /// Well formed, but of a kind xpucert does not read (a data type it has
    /// no dtype for, a graph-valued attribute, external data without a
    /// directory).
    #[error("{0}")]
    Unsupported(String),
}

/// The result of reading ONNX files.
pub type Result<T> = std::result::Result<T, OnnxError>;

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>> {
    crate::files::read_regular(path, MAX_FILE_BYTES, what)
        .map_err(|e| OnnxError::Io(format!("cannot read {}: {e}", path.display())))
}

/// Decodes a model from bytes.
pub fn decode_model(bytes: &[u8]) -> Result<ModelProto> {
    ModelProto::decode(bytes).map_err(|e| OnnxError::Malformed(format!("not an ONNX model: {e}")))
}

/// Reads a `.onnx` model file.
pub fn read_model(path: &Path) -> Result<ModelProto> {
    decode_model(&read(path, "an ONNX model")?)
        .map_err(|e| OnnxError::Malformed(format!("{}: {e}", path.display())))
}

/// Reads a file holding one serialized `TensorProto` (a node test's
/// `input_0.pb`), with external data relative to the file's directory.
pub fn read_tensor(path: &Path) -> Result<Tensor> {
    let bytes = read(path, "an ONNX tensor")?;
    let p = TensorProto::decode(bytes.as_slice()).map_err(|e| {
        OnnxError::Malformed(format!("{}: not an ONNX tensor: {e}", path.display()))
    })?;
    Tensor::decode_with_external(&p, path.parent().unwrap_or(Path::new(".")))
        .map_err(|e| prefix(path, e))
}

fn prefix(path: &Path, e: OnnxError) -> OnnxError {
    let p = path.display();
    match e {
        OnnxError::Io(m) => OnnxError::Io(format!("{p}: {m}")),
        OnnxError::Malformed(m) => OnnxError::Malformed(format!("{p}: {m}")),
        OnnxError::Unsupported(m) => OnnxError::Unsupported(format!("{p}: {m}")),
    }
}

/// The opset a model imports for `domain` (`""` and `"ai.onnx"` are both
/// the default domain), if any.
pub fn opset_of(model: &ModelProto, domain: &str) -> Option<i64> {
    let norm = |d: &str| if d == "ai.onnx" { "" } else { d }.to_string();
    model
        .opset_import
        .iter()
        .find(|o| norm(&o.domain) == norm(domain))
        .map(|o| o.version)
}

/// A node attribute's value, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Attribute {
    /// `FLOAT`
    Float(f32),
    /// `INT`
    Int(i64),
    /// `STRING` (bytes: ONNX says UTF-8 but does not enforce it)
    String(Vec<u8>),
    /// `FLOATS`
    Floats(Vec<f32>),
    /// `INTS`
    Ints(Vec<i64>),
    /// `STRINGS`
    Strings(Vec<Vec<u8>>),
    /// `TENSOR`
    Tensor(Box<Tensor>),
    /// A kind xpucert does not decode (graphs, sparse tensors, type
    /// protos, lists of tensors): its `AttributeType`.
    Other(AttributeType),
}

impl Attribute {
    /// Decodes an attribute by its `type`. A reference to a function's
    /// attribute (`ref_attr_name`) or a missing type is an error.
    pub fn decode(a: &AttributeProto) -> Result<Attribute> {
        if !a.ref_attr_name.is_empty() {
            return Err(OnnxError::Unsupported(format!(
                "attribute `{}` refers to the function attribute `{}`",
                a.name, a.ref_attr_name
            )));
        }
        let ty = AttributeType::try_from(a.r#type).map_err(|_| {
            OnnxError::Malformed(format!(
                "attribute `{}` has unknown type {}",
                a.name, a.r#type
            ))
        })?;
        Ok(match ty {
            AttributeType::Float => Attribute::Float(a.f),
            AttributeType::Int => Attribute::Int(a.i),
            AttributeType::String => Attribute::String(a.s.clone()),
            AttributeType::Floats => Attribute::Floats(a.floats.clone()),
            AttributeType::Ints => Attribute::Ints(a.ints.clone()),
            AttributeType::Strings => Attribute::Strings(a.strings.clone()),
            AttributeType::Tensor => {
                let t = a.t.as_ref().ok_or_else(|| {
                    OnnxError::Malformed(format!("tensor attribute `{}` has no tensor", a.name))
                })?;
                Attribute::Tensor(Box::new(Tensor::decode(t)?))
            }
            AttributeType::Undefined => {
                return Err(OnnxError::Malformed(format!(
                    "attribute `{}` has no type",
                    a.name
                )));
            }
            other => Attribute::Other(other),
        })
    }
}

/// How a graph value is typed (`ValueInfoProto.type`), reduced to what a
/// reader decides on.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueType {
    /// A tensor of this data type code; dims where known (`None` for a
    /// symbolic or unknown dim; `None` overall for an unknown rank).
    Tensor {
        /// `TensorProto.DataType` code
        elem_type: i32,
        /// dims, where given
        dims: Option<Vec<Option<i64>>>,
    },
    /// A sequence, map, optional or sparse tensor: its kind's name.
    Other(&'static str),
    /// No type given.
    Unknown,
}

impl ValueType {
    /// The type of a graph input or output.
    pub fn of(v: &proto::ValueInfoProto) -> ValueType {
        use proto::tensor_shape_proto::dimension::Value as Dim;
        use proto::type_proto::Value;
        match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(Value::TensorType(t)) => ValueType::Tensor {
                elem_type: t.elem_type,
                dims: t.shape.as_ref().map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match d.value {
                            Some(Dim::DimValue(v)) => Some(v),
                            _ => None,
                        })
                        .collect()
                }),
            },
            Some(Value::SequenceType(_)) => ValueType::Other("sequence"),
            Some(Value::MapType(_)) => ValueType::Other("map"),
            Some(Value::OptionalType(_)) => ValueType::Other("optional"),
            Some(Value::SparseTensorType(_)) => ValueType::Other("sparse tensor"),
            None => ValueType::Unknown,
        }
    }
}

#[cfg(test)]
mod tests;
