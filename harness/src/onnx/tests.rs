//! The ONNX reader on messages built here with prost's encoder, field by
//! field as onnx.proto lays them out.

use prost::Message;

use super::proto::{StringStringEntryProto, TensorProto};
use super::*;

fn tensor(data_type: i32, dims: &[i64]) -> TensorProto {
    TensorProto {
        data_type,
        dims: dims.to_vec(),
        name: "t".into(),
        ..Default::default()
    }
}

#[test]
fn raw_data_and_the_typed_fields_decode_to_the_same_values() {
    let mut raw = tensor(1, &[2]);
    raw.raw_data = [1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat();
    let mut typed = tensor(1, &[2]);
    typed.float_data = vec![1.5, -2.0];
    for p in [raw, typed] {
        let bytes = p.encode_to_vec();
        let t = Tensor::decode(&TensorProto::decode(bytes.as_slice()).unwrap()).unwrap();
        assert_eq!(t.dims, vec![2]);
        assert_eq!(t.to_f64().unwrap(), vec![1.5, -2.0]);
    }
    // f16 and bf16 keep their bits in int32_data, one element per int32.
    let mut h = tensor(10, &[2]);
    h.int32_data = vec![0x3c00, 0xc000];
    assert_eq!(
        Tensor::decode(&h).unwrap().to_f64().unwrap(),
        vec![1.0, -2.0]
    );
    let mut b = tensor(16, &[]);
    b.int32_data = vec![0x3f80];
    assert_eq!(Tensor::decode(&b).unwrap().to_f64().unwrap(), vec![1.0]);
    // int64, uint64 (uint32 in uint64_data), double, bool, int8
    let mut l = tensor(7, &[2]);
    l.int64_data = vec![-3, 1 << 40];
    assert_eq!(
        Tensor::decode(&l).unwrap().to_f64().unwrap(),
        vec![-3.0, 2f64.powi(40)]
    );
    let mut u = tensor(12, &[1]);
    u.uint64_data = vec![4_000_000_000];
    assert_eq!(Tensor::decode(&u).unwrap().to_f64().unwrap(), vec![4e9]);
    let mut d = tensor(11, &[1]);
    d.double_data = vec![0.1];
    assert_eq!(Tensor::decode(&d).unwrap().to_f64().unwrap(), vec![0.1]);
    let mut i8s = tensor(3, &[3]);
    i8s.int32_data = vec![-128, 0, 127];
    assert_eq!(
        Tensor::decode(&i8s).unwrap().to_f64().unwrap(),
        vec![-128.0, 0.0, 127.0]
    );
    let mut bools = tensor(9, &[2]);
    bools.raw_data = vec![1, 0];
    assert_eq!(
        Tensor::decode(&bools).unwrap().to_f64().unwrap(),
        vec![1.0, 0.0]
    );
}

#[test]
fn a_wrong_element_count_or_unknown_type_is_an_error_not_a_panic() {
    let mut p = tensor(1, &[3]);
    p.float_data = vec![1.0];
    let e = Tensor::decode(&p).unwrap_err().to_string();
    assert!(
        e.contains("4 bytes of FLOAT data for 3 elements (want 12)"),
        "{e}"
    );
    let e = Tensor::decode(&tensor(99, &[1])).unwrap_err().to_string();
    assert!(e.contains("data type 99"), "{e}");
    let e = Tensor::decode(&tensor(1, &[-1])).unwrap_err().to_string();
    assert!(e.contains("negative dimension -1"), "{e}");
    // int4 decodes packed, two to a byte, low nibble first; int2 four to a
    // byte, lowest bits first: 0x39 = 0b00_11_10_01 holds the codes 1, 2, 3,
    // which are 1, -2, -1 in int2 and 1, 2, 3 in uint2.
    let mut q = tensor(22, &[3]);
    q.raw_data = vec![0xF1, 0x08];
    let t = Tensor::decode(&q).unwrap();
    assert_eq!(t.bytes.len(), 2);
    assert_eq!(t.to_f64().unwrap(), vec![1.0, -1.0, -8.0]);
    let mut q = tensor(26, &[3]);
    q.raw_data = vec![0x39];
    let t = Tensor::decode(&q).unwrap();
    assert_eq!(t.bytes.len(), 1);
    assert_eq!(t.to_f64().unwrap(), vec![1.0, -2.0, -1.0]);
    q.data_type = 25;
    assert_eq!(
        Tensor::decode(&q).unwrap().to_f64().unwrap(),
        vec![1.0, 2.0, 3.0]
    );
    assert!(TensorProto::decode(&[0xff, 0xff][..]).is_err());
}

#[test]
fn external_data_is_read_from_the_models_directory_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut blob = vec![0u8; 8];
    blob.extend(2.5f32.to_le_bytes());
    std::fs::write(dir.path().join("w.bin"), &blob).unwrap();
    let entry = |k: &str, v: &str| StringStringEntryProto {
        key: k.into(),
        value: v.into(),
    };
    let mut p = tensor(1, &[1]);
    p.data_location = proto::DataLocation::External as i32;
    p.external_data = vec![
        entry("location", "w.bin"),
        entry("offset", "8"),
        entry("length", "4"),
    ];
    assert!(
        Tensor::decode(&p)
            .unwrap_err()
            .to_string()
            .contains("external")
    );
    let t = Tensor::decode_with_external(&p, dir.path()).unwrap();
    assert_eq!(t.to_f64().unwrap(), vec![2.5]);
    p.external_data[0] = entry("location", "../w.bin");
    let e = Tensor::decode_with_external(&p, dir.path())
        .unwrap_err()
        .to_string();
    assert!(e.contains("leaves the model's directory"), "{e}");
    p.external_data = vec![
        entry("location", "w.bin"),
        entry("offset", "10"),
        entry("length", "4"),
    ];
    let e = Tensor::decode_with_external(&p, dir.path())
        .unwrap_err()
        .to_string();
    assert!(e.contains("past the end"), "{e}");
}

#[test]
fn a_model_round_trips_with_its_opset_node_attributes_and_value_types() {
    use proto::type_proto::{Sequence, Tensor as TT, Value};
    let vi = |name: &str, value: Value| proto::ValueInfoProto {
        name: name.into(),
        r#type: Some(proto::TypeProto {
            value: Some(value),
            denotation: String::new(),
        }),
        doc_string: String::new(),
    };
    let model = ModelProto {
        ir_version: 10,
        opset_import: vec![
            proto::OperatorSetIdProto {
                domain: "ai.onnx.ml".into(),
                version: 3,
            },
            proto::OperatorSetIdProto {
                domain: String::new(),
                version: 21,
            },
        ],
        graph: Some(GraphProto {
            node: vec![NodeProto {
                input: vec!["x".into()],
                output: vec!["y".into()],
                op_type: "LeakyRelu".into(),
                attribute: vec![AttributeProto {
                    name: "alpha".into(),
                    r#type: AttributeType::Float as i32,
                    f: 0.25,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            input: vec![vi(
                "x",
                Value::TensorType(TT {
                    elem_type: 1,
                    shape: None,
                }),
            )],
            output: vec![vi(
                "y",
                Value::SequenceType(Box::new(Sequence { elem_type: None })),
            )],
            ..Default::default()
        }),
        ..Default::default()
    };
    let back = decode_model(&model.encode_to_vec()).unwrap();
    assert_eq!(back, model);
    assert_eq!(opset_of(&back, ""), Some(21));
    assert_eq!(opset_of(&back, "ai.onnx"), Some(21));
    assert_eq!(opset_of(&back, "ai.onnx.ml"), Some(3));
    let g = back.graph.unwrap();
    assert_eq!(
        Attribute::decode(&g.node[0].attribute[0]).unwrap(),
        Attribute::Float(0.25)
    );
    assert!(matches!(
        ValueType::of(&g.input[0]),
        ValueType::Tensor {
            elem_type: 1,
            dims: None
        }
    ));
    assert_eq!(ValueType::of(&g.output[0]), ValueType::Other("sequence"));
    let untyped = AttributeProto {
        name: "a".into(),
        ..Default::default()
    };
    assert!(Attribute::decode(&untyped).is_err());
    assert!(decode_model(b"not a model").is_err());
}
