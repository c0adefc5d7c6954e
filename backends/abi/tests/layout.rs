//! The header is the source of truth: this test compiles a C program that
//! includes `xpucert_backend.h` and prints the size, alignment and field
//! offsets of every struct and the value of every `#define` constant, then
//! compares each number with the Rust mirror in `xpucert_abi::ffi` and with
//! the codes of the safe enums (`DType`, `Status`, `Support`).
//!
//! The C program is generated from the tables below, and the header is also
//! scanned so that a struct, field or constant added to the header but not
//! to these tables fails the test instead of going unchecked.

mod common;

use std::collections::BTreeMap;
use std::mem::{align_of, offset_of, size_of};
use std::process::Command;

use xpucert_abi::{DType, Status, Support, ffi};

struct FieldLayout {
    name: &'static str,
    offset: usize,
    size: usize,
}

struct StructLayout {
    name: &'static str,
    size: usize,
    align: usize,
    fields: Vec<FieldLayout>,
}

/// The size of a field's type, given a projection to the field.
fn field_size<S, F>(_project: impl Fn(&S) -> &F) -> usize {
    size_of::<F>()
}

/// A field named `r#type` in Rust is `type` in C.
fn c_name(rust_name: &str) -> &str {
    rust_name.strip_prefix("r#").unwrap_or(rust_name)
}

/// Builds the Rust side of the layout table. Adding a field to the header
/// means adding its name here, in header order.
macro_rules! layouts {
    ($($s:ident { $($f:ident),* $(,)? })*) => {
        vec![$(
            StructLayout {
                name: stringify!($s),
                size: size_of::<ffi::$s>(),
                align: align_of::<ffi::$s>(),
                fields: vec![$(
                    FieldLayout {
                        name: c_name(stringify!($f)),
                        offset: offset_of!(ffi::$s, $f),
                        size: field_size(|s: &ffi::$s| &s.$f),
                    }
                ),*],
            }
        ),*]
    };
}

fn rust_layouts() -> Vec<StructLayout> {
    layouts! {
        XpuError { struct_size, code, message }
        XpuTensor {
            struct_size, data, byte_offset, dtype, memory_kind, device_index, ndim, shape, strides,
        }
        XpuAttribute { struct_size, name, r#type, reserved, i, f, s, ints, floats, count }
        XpuOpCall {
            struct_size, domain, op_type, opset, attributes, num_attributes, inputs, num_inputs,
            outputs, num_outputs, output_shapes, attribute_tensors,
        }
        XpuOpSupport { struct_size, support, compute_precision, note, numeric_flags }
        XpuOption { struct_size, key, value }
        XpuDeviceMemoryApi { struct_size, alloc, free, copy }
        XpuStreamApi { struct_size, create, sync, destroy }
        XpuModelApi { struct_size, compile, run, destroy }
        XpuHostApi { struct_size, abi_major, abi_minor, log, user }
        XpuBackendApi {
            struct_size, abi_major, abi_minor, name, capabilities, create_context,
            destroy_context, get_manifest, query_op, run_op, memory, streams, model,
        }
    }
}

/// Every `#define` constant of the header except the dtype codes, with the
/// value of the Rust constant of the same name.
macro_rules! constants {
    ($($name:ident),* $(,)?) => {
        vec![$((stringify!($name), ffi::$name as i128)),*]
    };
}

fn rust_constants() -> Vec<(&'static str, i128)> {
    constants![
        XPU_ABI_MAJOR,
        XPU_ABI_MINOR,
        XPU_ERROR_MESSAGE_LEN,
        XPU_SUPPORT_NOTE_LEN,
        XPU_STATUS_OK,
        XPU_STATUS_UNSUPPORTED,
        XPU_STATUS_INVALID_ARGUMENT,
        XPU_STATUS_OUT_OF_MEMORY,
        XPU_STATUS_DEVICE_ERROR,
        XPU_STATUS_TIMEOUT,
        XPU_STATUS_INTERNAL,
        XPU_PRECISION_DEFAULT,
        XPU_PRECISION_TF32,
        XPU_MEMORY_HOST,
        XPU_MEMORY_DEVICE,
        XPU_CAP_CONCURRENT_CONTEXT,
        XPU_NUMERIC_FLUSH_SUBNORMAL_INPUTS,
        XPU_NUMERIC_FLUSH_SUBNORMAL_OUTPUTS,
        XPU_ATTR_INT,
        XPU_ATTR_FLOAT,
        XPU_ATTR_STRING,
        XPU_ATTR_INTS,
        XPU_ATTR_FLOATS,
        XPU_ATTR_TENSOR,
        XPU_SUPPORT_NONE,
        XPU_SUPPORT_NATIVE,
        XPU_SUPPORT_EMULATED,
        XPU_LOG_ERROR,
        XPU_LOG_WARN,
        XPU_LOG_INFO,
        XPU_LOG_DEBUG,
    ]
}

/// Every `XPU_DTYPE_*` of the header with the `DType` it must map to; `None`
/// for codes the Rust crate deliberately does not know, which
/// `DType::from_code` must then reject rather than misread.
fn dtype_table() -> Vec<(&'static str, Option<DType>)> {
    vec![
        ("XPU_DTYPE_UNDEFINED", None),
        ("XPU_DTYPE_F32", Some(DType::F32)),
        ("XPU_DTYPE_U8", Some(DType::U8)),
        ("XPU_DTYPE_I8", Some(DType::I8)),
        ("XPU_DTYPE_U16", Some(DType::U16)),
        ("XPU_DTYPE_I16", Some(DType::I16)),
        ("XPU_DTYPE_I32", Some(DType::I32)),
        ("XPU_DTYPE_I64", Some(DType::I64)),
        ("XPU_DTYPE_BOOL", Some(DType::Bool)),
        ("XPU_DTYPE_F16", Some(DType::F16)),
        ("XPU_DTYPE_F64", Some(DType::F64)),
        ("XPU_DTYPE_U32", Some(DType::U32)),
        ("XPU_DTYPE_U64", Some(DType::U64)),
        ("XPU_DTYPE_BF16", Some(DType::BF16)),
        ("XPU_DTYPE_F8E4M3FN", Some(DType::F8E4M3FN)),
        ("XPU_DTYPE_F8E4M3FNUZ", Some(DType::F8E4M3FNUZ)),
        ("XPU_DTYPE_F8E5M2", Some(DType::F8E5M2)),
        ("XPU_DTYPE_F8E5M2FNUZ", Some(DType::F8E5M2FNUZ)),
        ("XPU_DTYPE_U4", Some(DType::U4)),
        ("XPU_DTYPE_I4", Some(DType::I4)),
        ("XPU_DTYPE_F4E2M1", Some(DType::F4E2M1)),
        ("XPU_DTYPE_F8E8M0", Some(DType::F8E8M0)),
        ("XPU_DTYPE_U2", Some(DType::U2)),
        ("XPU_DTYPE_I2", Some(DType::I2)),
        ("XPU_DTYPE_VENDOR_BASE", None),
    ]
}

fn status_table() -> Vec<(&'static str, Status)> {
    vec![
        ("XPU_STATUS_OK", Status::Ok),
        ("XPU_STATUS_UNSUPPORTED", Status::Unsupported),
        ("XPU_STATUS_INVALID_ARGUMENT", Status::InvalidArgument),
        ("XPU_STATUS_OUT_OF_MEMORY", Status::OutOfMemory),
        ("XPU_STATUS_DEVICE_ERROR", Status::DeviceError),
        ("XPU_STATUS_TIMEOUT", Status::Timeout),
        ("XPU_STATUS_INTERNAL", Status::Internal),
    ]
}

fn support_table() -> Vec<(&'static str, Support)> {
    vec![
        ("XPU_SUPPORT_NONE", Support::None),
        ("XPU_SUPPORT_NATIVE", Support::Native),
        ("XPU_SUPPORT_EMULATED", Support::Emulated),
    ]
}

/// The C program: one line of output per struct, field and constant.
fn c_program(structs: &[StructLayout], constants: &[&str]) -> String {
    let mut c =
        String::from("#include <stdio.h>\n#include <stddef.h>\n#include \"xpucert_backend.h\"\n\n");
    // C99 has no alignof; the offset of a member after a char is its alignment.
    for s in structs {
        c += &format!("struct align_{0} {{ char c; {0} t; }};\n", s.name);
    }
    c += "\nint main(void)\n{\n";
    for s in structs {
        c += &format!(
            "    printf(\"struct {0} %zu %zu\\n\", sizeof({0}), offsetof(struct align_{0}, t));\n",
            s.name
        );
        for f in &s.fields {
            c += &format!(
                "    printf(\"field {0}.{1} %zu %zu\\n\", offsetof({0}, {1}), \
                 sizeof(((const {0} *)0)->{1}));\n",
                s.name, f.name
            );
        }
    }
    for name in constants {
        c += &format!("    printf(\"const {name} %lld\\n\", (long long)({name}));\n");
    }
    c += "    return 0;\n}\n";
    c
}

/// What the compiled C program printed, keyed by `struct X`, `field X.f` and
/// `const NAME`.
fn run_c_program(source: &str) -> BTreeMap<String, Vec<i128>> {
    let dir = common::scratch_dir("layout");
    let src = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(&src, source).expect("write layout.c");
    common::compile_program(&[src], &exe);
    let out = Command::new(&exe).output().expect("run the layout program");
    assert!(out.status.success(), "the layout program failed: {out:?}");
    String::from_utf8(out.stdout)
        .expect("layout output is ASCII")
        .lines()
        .map(|line| {
            let mut words = line.split_whitespace();
            let key = format!(
                "{} {}",
                words.next().expect("kind"),
                words.next().expect("name")
            );
            let values = words
                .map(|w| w.parse().expect("a number"))
                .collect::<Vec<i128>>();
            (key, values)
        })
        .collect()
}

fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("/*") {
        out += &rest[..start];
        let end = rest[start..].find("*/").expect("unterminated comment") + start + 2;
        rest = &rest[end..];
    }
    out += rest;
    out.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The header's structs with their fields in order, and its constants, found
/// by a scan that understands just enough of this one header.
fn scan_header() -> (Vec<(String, Vec<String>)>, Vec<String>) {
    let text = std::fs::read_to_string(common::include_dir().join("xpucert_backend.h"))
        .expect("read the header");
    let text = strip_comments(&text);

    let mut constants: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("#define "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| name.starts_with("XPU_") && !name.contains('(') && *name != "XPU_EXPORT")
        .map(String::from)
        .collect();
    constants.dedup();

    let mut structs = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("typedef struct ") {
        rest = &rest[start + "typedef struct ".len()..];
        let header_end = rest.find([';', '{']).expect("typedef ends");
        if rest.as_bytes()[header_end] == b';' {
            continue; // an opaque handle: typedef struct XpuContext XpuContext;
        }
        let name = rest[..header_end].trim().to_string();
        let body_end = rest.find('}').expect("struct body ends");
        let body = &rest[header_end + 1..body_end];
        let fields = body
            .split(';')
            .map(str::trim)
            .filter(|decl| !decl.is_empty())
            .map(|decl| {
                if let Some(p) = decl.find("(*") {
                    let after = &decl[p + 2..];
                    after[..after.find(')').expect("(*name)")]
                        .trim()
                        .to_string()
                } else {
                    let decl = decl.split('[').next().unwrap_or(decl);
                    decl.rsplit(|c: char| c.is_whitespace() || c == '*')
                        .next()
                        .expect("a field name")
                        .to_string()
                }
            })
            .collect();
        structs.push((name, fields));
        rest = &rest[body_end..];
    }
    (structs, constants)
}

#[test]
fn tables_cover_every_struct_field_and_constant_of_the_header() {
    let (header_structs, header_constants) = scan_header();
    assert!(
        header_structs.len() >= 11,
        "the header scan found too few structs"
    );

    let rust = rust_layouts();
    let mut problems = Vec::new();
    for (name, fields) in &header_structs {
        match rust.iter().find(|s| s.name == name) {
            None => problems.push(format!(
                "struct {name} is in the header but not in layout.rs"
            )),
            Some(s) => {
                let ours: Vec<&str> = s.fields.iter().map(|f| f.name).collect();
                if ours != *fields {
                    problems.push(format!(
                        "struct {name}: header fields {fields:?}, layout.rs lists {ours:?}"
                    ));
                }
            }
        }
    }
    for s in &rust {
        if !header_structs.iter().any(|(name, _)| name == s.name) {
            problems.push(format!(
                "struct {} is in layout.rs but not in the header",
                s.name
            ));
        }
    }

    let known: Vec<&str> = rust_constants()
        .iter()
        .map(|(n, _)| *n)
        .chain(dtype_table().iter().map(|(n, _)| *n))
        .collect();
    for name in &header_constants {
        if !known.contains(&name.as_str()) {
            problems.push(format!(
                "constant {name} is in the header but not checked by layout.rs"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn rust_mirror_matches_the_c_compiler_layout_and_constants() {
    let structs = rust_layouts();
    let constants = rust_constants();
    let dtypes = dtype_table();
    let names: Vec<&str> = constants
        .iter()
        .map(|(n, _)| *n)
        .chain(dtypes.iter().map(|(n, _)| *n))
        .collect();
    let c = run_c_program(&c_program(&structs, &names));

    let mut problems = Vec::new();
    let mut check = |key: String, what: &str, rust: i128, c_value: Option<i128>| match c_value {
        None => problems.push(format!("{key}: the C program printed no {what}")),
        Some(v) if v != rust => problems.push(format!("{key}: {what} is {v} in C, {rust} in Rust")),
        Some(_) => {}
    };
    for s in &structs {
        let key = format!("struct {}", s.name);
        let c_vals = c.get(&key);
        check(key.clone(), "sizeof", s.size as i128, c_vals.map(|v| v[0]));
        check(key, "alignment", s.align as i128, c_vals.map(|v| v[1]));
        for f in &s.fields {
            let key = format!("field {}.{}", s.name, f.name);
            let c_vals = c.get(&key);
            check(
                key.clone(),
                "offsetof",
                f.offset as i128,
                c_vals.map(|v| v[0]),
            );
            check(key, "sizeof", f.size as i128, c_vals.map(|v| v[1]));
        }
    }
    for (name, value) in &constants {
        let key = format!("const {name}");
        let c_value = c.get(&key).map(|v| v[0]);
        check(key, "value", *value, c_value);
    }
    assert!(
        problems.is_empty(),
        "layout mismatches:\n{}",
        problems.join("\n")
    );

    // Dtype codes: the safe enum's codes are the header's, and the codes it
    // does not know are rejected rather than misread.
    let mut seen = Vec::new();
    for (name, dtype) in &dtypes {
        let code = c[&format!("const {name}")][0];
        let code = i32::try_from(code).expect("dtype codes fit in int32_t");
        match dtype {
            Some(d) => {
                seen.push(*d);
                assert_eq!(d.code(), code, "DType::{d:?}.code() vs {name}");
                assert_eq!(DType::from_code(code), Some(*d), "DType::from_code({name})");
            }
            None => assert_eq!(DType::from_code(code), None, "DType::from_code({name})"),
        }
    }
    for d in DType::ALL {
        assert!(
            seen.contains(&d),
            "DType::{d:?} has no XPU_DTYPE_* in the header table"
        );
    }

    for (name, status) in status_table() {
        let code = i32::try_from(c[&format!("const {name}")][0]).expect("fits");
        assert_eq!(status.code(), code, "Status::{status:?}.code() vs {name}");
        assert_eq!(
            Status::from_code(code),
            Some(status),
            "Status::from_code({name})"
        );
    }
    for (name, support) in support_table() {
        let code = i32::try_from(c[&format!("const {name}")][0]).expect("fits");
        assert_eq!(
            support.code(),
            code,
            "Support::{support:?}.code() vs {name}"
        );
        assert_eq!(
            Support::from_code(code),
            Some(support),
            "Support::from_code({name})"
        );
    }
}
