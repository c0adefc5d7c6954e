//! The C vendor template, `backends/example-c/example_backend.c`, compiled
//! with warnings as errors, loaded like any vendor library and driven through
//! the raw ABI: results are checked against small references written here,
//! with contiguous and with strided (column-major, gapped, offset) inputs, and
//! every call checks that `query_op` and `run_op` agree.

mod common;

use std::ffi::{CStr, CString, c_char, c_void};
use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use xpucert_abi::DType;
use xpucert_abi::ffi::{self, XpuBackendApi, XpuContext, XpuError, XpuOpCall, XpuOpSupport};

fn init_fn() -> ffi::InitV1Fn {
    static INIT: OnceLock<ffi::InitV1Fn> = OnceLock::new();
    *INIT.get_or_init(|| {
        let dir = common::scratch_dir("example-c");
        let lib_path = dir.join("libxpucert_example.so");
        let src = common::backends_dir().join("example-c/example_backend.c");
        common::compile_shared(&[src], &lib_path);
        let lib = common::load(&lib_path);
        // SAFETY: the symbol has the InitV1Fn signature (it is declared by the
        // header the library was compiled against).
        let sym = unsafe { lib.get::<ffi::InitV1Fn>(ffi::INIT_SYMBOL_V1) }.expect("init symbol");
        *sym
    })
}

fn host(major: u32, minor: u32) -> ffi::XpuHostApi {
    ffi::XpuHostApi {
        struct_size: size_of::<ffi::XpuHostApi>(),
        abi_major: major,
        abi_minor: minor,
        log: None,
        user: ptr::null_mut(),
    }
}

fn init(host: &ffi::XpuHostApi) -> (i32, *const XpuBackendApi, XpuError) {
    let mut table = ptr::null();
    let mut err = XpuError::new();
    // SAFETY: host, table and err are valid for the call.
    let status = unsafe { init_fn()(host, &mut table, &mut err) };
    (status, table, err)
}

fn api() -> &'static XpuBackendApi {
    let (status, table, err) = init(&host(1, 0));
    assert_eq!(status, ffi::XPU_STATUS_OK, "{}", err.message_lossy());
    // SAFETY: init succeeded; the table is static in a library never unloaded.
    unsafe { &*table }
}

fn create(options: &[(&str, &str)]) -> Result<*mut XpuContext, (i32, String)> {
    let strings: Vec<(CString, CString)> = options
        .iter()
        .map(|(k, v)| (CString::new(*k).unwrap(), CString::new(*v).unwrap()))
        .collect();
    let raw: Vec<ffi::XpuOption> = strings
        .iter()
        .map(|(k, v)| ffi::XpuOption {
            struct_size: size_of::<ffi::XpuOption>(),
            key: k.as_ptr(),
            value: v.as_ptr(),
        })
        .collect();
    let mut ctx = ptr::null_mut();
    let mut err = XpuError::new();
    // SAFETY: raw holds raw.len() valid options whose strings outlive the call.
    let status =
        unsafe { api().create_context.unwrap()(raw.as_ptr(), raw.len(), &mut ctx, &mut err) };
    if status == ffi::XPU_STATUS_OK {
        Ok(ctx)
    } else {
        Err((status, err.message_lossy()))
    }
}

/// A context for the duration of one test.
struct Ctx(*mut XpuContext);

impl Ctx {
    fn new() -> Ctx {
        Ctx(create(&[]).expect("create_context"))
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        // SAFETY: the context came from create_context and is not used again.
        unsafe { api().destroy_context.unwrap()(self.0) };
    }
}

/// An f32 input: its logical values, and the storage the backend sees.
struct Input {
    shape: Vec<i64>,
    strides: Vec<i64>,
    byte_offset: u64,
    storage: Vec<f32>,
    dtype: i32,
}

fn numel(shape: &[i64]) -> usize {
    shape.iter().map(|&d| d as usize).product()
}

fn row_major_strides(shape: &[i64]) -> Vec<i64> {
    let mut strides = vec![0; shape.len()];
    let mut step = 1;
    for d in (0..shape.len()).rev() {
        strides[d] = step;
        step *= shape[d].max(1);
    }
    strides
}

/// Logical row-major multi-index of element `i`.
fn unravel(mut i: usize, shape: &[i64]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = i % shape[d] as usize;
        i /= shape[d] as usize;
    }
    idx
}

/// Contiguous row-major storage.
fn contiguous(shape: &[i64], values: &[f32]) -> Input {
    assert_eq!(values.len(), numel(shape));
    Input {
        shape: shape.to_vec(),
        strides: row_major_strides(shape),
        byte_offset: 0,
        storage: values.to_vec(),
        dtype: DType::F32.code(),
    }
}

/// The same logical tensor laid out column-major, with a gap after every
/// element and three elements of padding in front (reached via byte_offset).
/// Gaps and padding hold NaN, so a backend that ignores strides shows it.
fn strided(shape: &[i64], values: &[f32]) -> Input {
    assert_eq!(values.len(), numel(shape));
    let mut strides = vec![0i64; shape.len()];
    let mut step = 2; // every other element is a gap
    for d in 0..shape.len() {
        strides[d] = step;
        step *= shape[d].max(1);
    }
    let pad = 3usize;
    let mut storage = vec![f32::NAN; pad + 2 * values.len().max(1)];
    for (i, v) in values.iter().enumerate() {
        let off: usize = unravel(i, shape)
            .iter()
            .zip(&strides)
            .map(|(&ix, &s)| ix * s as usize)
            .sum();
        storage[pad + off] = *v;
    }
    Input {
        shape: shape.to_vec(),
        strides,
        byte_offset: (pad * size_of::<f32>()) as u64,
        storage,
        dtype: DType::F32.code(),
    }
}

fn raw_tensor(
    dtype: i32,
    data: *mut c_void,
    byte_offset: u64,
    shape: &[i64],
    strides: &[i64],
) -> ffi::XpuTensor {
    ffi::XpuTensor {
        struct_size: size_of::<ffi::XpuTensor>(),
        data,
        byte_offset,
        dtype,
        memory_kind: ffi::XPU_MEMORY_HOST,
        device_index: 0,
        ndim: shape.len() as i32,
        shape: shape.as_ptr(),
        strides: strides.as_ptr(),
    }
}

/// An op call under construction.
struct Call<'a> {
    domain: &'a CStr,
    op: &'a CStr,
    opset: i64,
    attrs: Vec<ffi::XpuAttribute>,
    inputs: Vec<Input>,
    out_shape: Vec<i64>,
    null_input_data: bool,
}

fn call<'a>(op: &'a CStr, opset: i64, inputs: Vec<Input>, out_shape: &[i64]) -> Call<'a> {
    Call {
        domain: c"",
        op,
        opset,
        attrs: Vec::new(),
        inputs,
        out_shape: out_shape.to_vec(),
        null_input_data: false,
    }
}

fn int_attr(name: &'static CStr, value: i64) -> ffi::XpuAttribute {
    ffi::XpuAttribute {
        struct_size: size_of::<ffi::XpuAttribute>(),
        name: name.as_ptr(),
        r#type: ffi::XPU_ATTR_INT,
        reserved: 0,
        i: value,
        f: 0.0,
        s: ptr::null(),
        ints: ptr::null(),
        floats: ptr::null(),
        count: 0,
    }
}

/// What query_op and run_op said about one call.
#[derive(Debug)]
enum Outcome {
    Ok(Vec<f32>),
    Unsupported(String),
    Failed(i32, String),
}

impl Call<'_> {
    /// Runs query_op then run_op, checks they agree, and returns the outcome.
    fn outcome(&mut self) -> Outcome {
        let ctx = Ctx::new();
        let mut out = vec![f32::NAN; numel(&self.out_shape)];
        let out_strides = row_major_strides(&self.out_shape);
        let null_data = self.null_input_data;
        let inputs: Vec<ffi::XpuTensor> = self
            .inputs
            .iter_mut()
            .map(|t| {
                let data = if null_data {
                    ptr::null_mut()
                } else {
                    t.storage.as_mut_ptr().cast()
                };
                raw_tensor(t.dtype, data, t.byte_offset, &t.shape, &t.strides)
            })
            .collect();
        let outputs = [raw_tensor(
            DType::F32.code(),
            out.as_mut_ptr().cast(),
            0,
            &self.out_shape,
            &out_strides,
        )];
        let call = XpuOpCall {
            struct_size: size_of::<XpuOpCall>(),
            domain: self.domain.as_ptr(),
            op_type: self.op.as_ptr(),
            opset: self.opset,
            attributes: self.attrs.as_ptr(),
            num_attributes: self.attrs.len(),
            inputs: inputs.as_ptr(),
            num_inputs: inputs.len(),
            outputs: outputs.as_ptr(),
            num_outputs: outputs.len(),
            output_shapes: std::ptr::null(),
            attribute_tensors: std::ptr::null(),
        };

        let mut support = XpuOpSupport::new();
        let mut qerr = XpuError::new();
        // SAFETY: the context is live and every pointer in `call` outlives the call.
        let qstatus = unsafe { api().query_op.unwrap()(ctx.0, &call, &mut support, &mut qerr) };
        let mut err = XpuError::new();
        // SAFETY: as above; input storage is readable over the strided extent
        // and `out` is writable for numel(out_shape) floats.
        let status = unsafe { api().run_op.unwrap()(ctx.0, &call, ptr::null_mut(), &mut err) };

        let what = format!("{:?}/{}", self.op, self.opset);
        match status {
            ffi::XPU_STATUS_OK => {
                assert_eq!(
                    qstatus,
                    ffi::XPU_STATUS_OK,
                    "{what}: {}",
                    qerr.message_lossy()
                );
                assert_eq!(
                    support.support,
                    ffi::XPU_SUPPORT_NATIVE,
                    "{what}: query vs run"
                );
                assert_eq!(
                    support.compute_precision,
                    ffi::XPU_PRECISION_DEFAULT,
                    "{what}"
                );
                Outcome::Ok(out)
            }
            ffi::XPU_STATUS_UNSUPPORTED => {
                assert_eq!(
                    qstatus,
                    ffi::XPU_STATUS_OK,
                    "{what}: {}",
                    qerr.message_lossy()
                );
                assert_eq!(
                    support.support,
                    ffi::XPU_SUPPORT_NONE,
                    "{what}: query vs run"
                );
                assert!(
                    !support.note_lossy().is_empty(),
                    "{what}: NONE needs a note"
                );
                assert_eq!(err.code, status, "{what}: XpuError.code");
                Outcome::Unsupported(err.message_lossy())
            }
            other => {
                // A malformed call is malformed for both, unless only the data is wrong.
                if !self.null_input_data {
                    assert_eq!(qstatus, other, "{what}: query vs run");
                }
                assert_eq!(err.code, other, "{what}: XpuError.code");
                Outcome::Failed(other, err.message_lossy())
            }
        }
    }

    fn run_ok(&mut self) -> Vec<f32> {
        match self.outcome() {
            Outcome::Ok(v) => v,
            other => panic!(
                "{:?}/{}: expected success, got {other:?}",
                self.op, self.opset
            ),
        }
    }
}

/// Small integers, so sums and products are exact in f32 whatever the order.
fn ints(n: usize, seed: i32) -> Vec<f32> {
    (0..n as i32)
        .map(|i| ((i * 7 + seed) % 11 - 5) as f32)
        .collect()
}

/// numpy broadcasting: the output shape, and for each output element the
/// row-major index of the element of each operand it reads.
fn broadcast_index(a: &[i64], b: &[i64]) -> (Vec<i64>, Vec<(usize, usize)>) {
    let nd = a.len().max(b.len());
    let pad = |s: &[i64]| -> Vec<i64> {
        let mut p = vec![1; nd - s.len()];
        p.extend_from_slice(s);
        p
    };
    let (pa, pb) = (pad(a), pad(b));
    let out: Vec<i64> = pa
        .iter()
        .zip(&pb)
        .map(|(&x, &y)| {
            assert!(
                x == y || x == 1 || y == 1,
                "reference: shapes do not broadcast"
            );
            if x == 1 { y } else { x }
        })
        .collect();
    let flat = |idx: &[usize], shape: &[i64]| -> usize {
        idx.iter().zip(shape).fold(0, |acc, (&i, &d)| {
            acc * d as usize + if d == 1 { 0 } else { i }
        })
    };
    let pairs = (0..numel(&out))
        .map(|i| {
            let idx = unravel(i, &out);
            (flat(&idx, &pa), flat(&idx, &pb))
        })
        .collect();
    (out, pairs)
}

#[test]
fn init_checks_the_major_and_accepts_any_minor() {
    let api = api();
    assert_eq!(api.struct_size, size_of::<XpuBackendApi>());
    assert_eq!(api.abi_major, 1);
    // SAFETY: name is a static NUL-terminated string in the library.
    assert_eq!(unsafe { CStr::from_ptr(api.name) }, c"example-c");
    assert!(api.memory.is_null() && api.streams.is_null() && api.model.is_null());

    let (status, _, _) = init(&host(1, 99));
    assert_eq!(status, ffi::XPU_STATUS_OK, "a newer minor is accepted");

    let (status, table, err) = init(&host(2, 0));
    assert_eq!(status, ffi::XPU_STATUS_INVALID_ARGUMENT);
    assert!(table.is_null());
    assert_eq!(err.code, ffi::XPU_STATUS_INVALID_ARGUMENT);
    assert!(
        err.message_lossy().contains("major 2"),
        "{}",
        err.message_lossy()
    );
}

#[test]
fn init_logs_through_the_host_when_given_a_logger() {
    unsafe extern "C" fn log(user: *mut c_void, level: i32, message: *const c_char) {
        // SAFETY: user is the AtomicUsize passed below; message is a C string
        // valid for this call.
        unsafe {
            assert_eq!(level, ffi::XPU_LOG_INFO);
            assert!(!CStr::from_ptr(message).is_empty());
            (*user.cast::<AtomicUsize>()).fetch_add(1, Ordering::SeqCst);
        }
    }
    let calls = AtomicUsize::new(0);
    let mut h = host(1, 0);
    h.log = Some(log);
    h.user = (&raw const calls).cast_mut().cast();
    let (status, _, err) = init(&h);
    assert_eq!(status, ffi::XPU_STATUS_OK, "{}", err.message_lossy());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn options_are_checked() {
    let ctx = create(&[("device", "0")]).expect("device=0 is accepted");
    // SAFETY: ctx came from create_context.
    unsafe { api().destroy_context.unwrap()(ctx) };

    let (status, msg) = create(&[("devcie", "0")]).unwrap_err();
    assert_eq!(status, ffi::XPU_STATUS_INVALID_ARGUMENT);
    assert!(msg.contains("devcie"), "{msg}");

    let (status, msg) = create(&[("device", "1")]).unwrap_err();
    assert_eq!(status, ffi::XPU_STATUS_INVALID_ARGUMENT);
    assert!(msg.contains("device"), "{msg}");
}

#[test]
fn manifest_lists_the_four_ops_in_f32() {
    let ctx = Ctx::new();
    let get = api().get_manifest.unwrap();
    let mut len = 0;
    let mut err = XpuError::new();
    assert_eq!(
        // SAFETY: a NULL buffer asks for the length.
        unsafe { get(ctx.0, ptr::null_mut(), 0, &mut len, &mut err) },
        ffi::XPU_STATUS_OK
    );
    assert!(len > 0);

    let mut small = vec![0x5a as c_char; len - 1];
    let mut len2 = 0;
    assert_eq!(
        // SAFETY: small is writable for its length.
        unsafe { get(ctx.0, small.as_mut_ptr(), small.len(), &mut len2, &mut err) },
        ffi::XPU_STATUS_OK
    );
    assert_eq!(len2, len);
    assert!(
        small.iter().all(|&c| c == 0x5a),
        "too small: nothing written"
    );

    let mut buf = vec![0 as c_char; len];
    assert_eq!(
        // SAFETY: buf is writable for its length.
        unsafe { get(ctx.0, buf.as_mut_ptr(), len, &mut len2, &mut err) },
        ffi::XPU_STATUS_OK
    );
    let text = String::from_utf8(buf.iter().map(|&c| c as u8).collect()).unwrap();
    assert!(text.starts_with('{') && text.ends_with('}'), "{text}");
    assert!(text.contains("\"schema\": 1"), "{text}");
    for op in ["Add", "MatMul", "Softmax", "Relu"] {
        assert!(
            text.contains(&format!("\"op\": \"{op}\"")),
            "{op} missing: {text}"
        );
    }
    assert_eq!(text.matches("\"dtypes\": [\"f32\"]").count(), 4, "{text}");
}

#[test]
fn add_broadcasts_like_numpy() {
    let cases: [(&[i64], &[i64]); 6] = [
        (&[2, 3], &[2, 3]),
        (&[2, 3], &[3]),
        (&[2, 1, 3], &[4, 1]),
        (&[], &[2, 2]),
        (&[3, 1], &[1, 4]),
        (&[0, 3], &[1, 3]),
    ];
    for (sa, sb) in cases {
        let (a, b) = (ints(numel(sa), 1), ints(numel(sb), 4));
        let (out_shape, pairs) = broadcast_index(sa, sb);
        let want: Vec<f32> = pairs.iter().map(|&(i, j)| a[i] + b[j]).collect();
        for layout in [contiguous, strided] {
            let got = call(c"Add", 14, vec![layout(sa, &a), layout(sb, &b)], &out_shape).run_ok();
            assert_eq!(got, want, "Add {sa:?} + {sb:?}");
        }
    }
}

#[test]
fn add_reads_a_stride_zero_view() {
    // A [3] vector expanded to [2, 3] by the caller, with stride 0 on axis 0.
    let mut row = contiguous(&[2, 3], &[0.0; 6]);
    row.storage = vec![1.0, 2.0, 3.0];
    row.strides = vec![0, 1];
    let got = call(
        c"Add",
        14,
        vec![row, contiguous(&[2, 3], &[10., 20., 30., 40., 50., 60.])],
        &[2, 3],
    )
    .run_ok();
    assert_eq!(got, [11., 22., 33., 41., 52., 63.]);
}

/// numpy matmul on row-major data, written independently of the C code:
/// promote 1-D operands, broadcast the batch dims, multiply, drop the
/// promoted dims.
fn matmul_ref(a: &[f32], sa: &[i64], b: &[f32], sb: &[i64]) -> (Vec<f32>, Vec<i64>) {
    let a2: Vec<i64> = if sa.len() == 1 {
        vec![1, sa[0]]
    } else {
        sa.to_vec()
    };
    let b2: Vec<i64> = if sb.len() == 1 {
        vec![sb[0], 1]
    } else {
        sb.to_vec()
    };
    let (m, k, n) = (a2[a2.len() - 2], a2[a2.len() - 1], b2[b2.len() - 1]);
    assert_eq!(k, b2[b2.len() - 2]);
    let (batch, pairs) = broadcast_index(&a2[..a2.len() - 2], &b2[..b2.len() - 2]);
    let (m, k, n) = (m as usize, k as usize, n as usize);
    let mut out = Vec::new();
    for &(ia, ib) in &pairs {
        for r in 0..m {
            for c in 0..n {
                out.push(
                    (0..k)
                        .map(|j| a[ia * m * k + r * k + j] * b[ib * k * n + j * n + c])
                        .sum(),
                );
            }
        }
    }
    let mut shape = batch;
    if sa.len() > 1 {
        shape.push(m as i64);
    }
    if sb.len() > 1 {
        shape.push(n as i64);
    }
    (out, shape)
}

#[test]
fn matmul_follows_numpy_for_1d_2d_and_batched_operands() {
    let cases: [(&[i64], &[i64]); 9] = [
        (&[2, 3], &[3, 4]),
        (&[3], &[3, 4]),
        (&[2, 3], &[3]),
        (&[3], &[3]),
        (&[2, 1, 2, 3], &[3, 3, 4]),
        (&[4], &[2, 4, 5]),
        (&[2, 3, 4], &[4]),
        (&[2, 0], &[0, 3]),
        (&[1, 2, 3], &[5, 3, 2]),
    ];
    for (sa, sb) in cases {
        let (a, b) = (ints(numel(sa), 2), ints(numel(sb), 5));
        let (want, out_shape) = matmul_ref(&a, sa, &b, sb);
        for layout in [contiguous, strided] {
            let got = call(
                c"MatMul",
                13,
                vec![layout(sa, &a), layout(sb, &b)],
                &out_shape,
            )
            .run_ok();
            assert_eq!(got, want, "MatMul {sa:?} x {sb:?} -> {out_shape:?}");
        }
    }
}

fn softmax_ref(x: &[f32], shape: &[i64], axis: usize) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    let inner: usize = shape[axis + 1..].iter().map(|&d| d as usize).product();
    let len = shape[axis] as usize;
    let outer = x.len() / (len * inner).max(1);
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| (o * len + j) * inner + i;
            let max = (0..len)
                .map(|j| x[at(j)] as f64)
                .fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = (0..len).map(|j| (x[at(j)] as f64 - max).exp()).sum();
            for j in 0..len {
                out[at(j)] = (x[at(j)] as f64 - max).exp() / sum;
            }
        }
    }
    out
}

#[test]
fn softmax_normalises_along_the_axis_without_overflow() {
    let shape = [2i64, 3, 4];
    // Large values: exp(1000) overflows f32, so the max must be subtracted.
    let x: Vec<f32> = ints(24, 3).iter().map(|v| v * 0.5 + 1000.0).collect();
    for (axis_attr, axis) in [(None, 2usize), (Some(0i64), 0), (Some(-2), 1), (Some(2), 2)] {
        let want = softmax_ref(&x, &shape, axis);
        for layout in [contiguous, strided] {
            let mut c = call(c"Softmax", 13, vec![layout(&shape, &x)], &shape);
            if let Some(a) = axis_attr {
                c.attrs.push(int_attr(c"axis", a));
            }
            let got = c.run_ok();
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (*g as f64 - w).abs() <= 1e-6,
                    "axis {axis_attr:?}: {g} vs {w}"
                );
            }
        }
    }
}

#[test]
fn relu_clamps_negatives_and_propagates_nan() {
    let x = [
        -2.0f32,
        -0.0,
        0.5,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
    ];
    for layout in [contiguous, strided] {
        let got = call(c"Relu", 14, vec![layout(&[2, 3], &x)], &[2, 3]).run_ok();
        assert_eq!(&got[..5], &[0.0, 0.0, 0.5, f32::INFINITY, 0.0]);
        assert!(got[5].is_nan(), "NaN propagates");
    }
}

#[test]
fn unsupported_calls_agree_between_query_and_run() {
    let x = || contiguous(&[2, 2], &[1.0; 4]);
    let mut f16 = x();
    f16.dtype = DType::F16.code();
    let mut cases = vec![
        call(c"Conv", 11, vec![x(), x()], &[2, 2]),
        call(c"Add", 14, vec![x(), f16], &[2, 2]),
        call(c"Softmax", 11, vec![x()], &[2, 2]),
        call(c"Add", 15, vec![x(), x()], &[2, 2]),
        call(c"Relu", 14, vec![x()], &[2, 2]),
    ];
    cases[4].domain = c"xpucert";
    let mut with_attr = call(c"Relu", 14, vec![x()], &[2, 2]);
    with_attr.attrs.push(int_attr(c"alpha", 1));
    cases.push(with_attr);
    for mut c in cases {
        match c.outcome() {
            Outcome::Unsupported(msg) => assert!(!msg.is_empty()),
            other => panic!(
                "{:?}/{}: expected unsupported, got {other:?}",
                c.op, c.opset
            ),
        }
    }
}

#[test]
fn malformed_calls_are_invalid_argument_with_a_reason() {
    let x = |shape: &[i64]| contiguous(shape, &vec![1.0; numel(shape)]);
    let mut null_data = call(c"Relu", 14, vec![x(&[2])], &[2]);
    null_data.null_input_data = true;
    let mut bad_axis = call(c"Softmax", 13, vec![x(&[2, 2])], &[2, 2]);
    bad_axis.attrs.push(int_attr(c"axis", 2));
    let cases = [
        (
            call(c"Add", 14, vec![x(&[2, 3]), x(&[3])], &[2, 4]),
            "[2, 4]",
        ),
        (
            call(c"Add", 14, vec![x(&[2, 3]), x(&[2])], &[2, 3]),
            "broadcast",
        ),
        (
            call(c"MatMul", 13, vec![x(&[2, 3]), x(&[4, 2])], &[2, 2]),
            "inner",
        ),
        (
            call(c"MatMul", 13, vec![x(&[2, 3]), x(&[3, 2])], &[3, 3]),
            "[2, 2]",
        ),
        (call(c"Relu", 14, vec![x(&[2]), x(&[2])], &[2]), "input"),
        (bad_axis, "axis"),
        (null_data, "NULL"),
    ];
    for (mut c, needle) in cases {
        match c.outcome() {
            Outcome::Failed(status, msg) => {
                assert_eq!(status, ffi::XPU_STATUS_INVALID_ARGUMENT, "{msg}");
                assert!(
                    msg.contains(needle),
                    "{:?}: {msg:?} should mention {needle}",
                    c.op
                );
            }
            other => panic!("{:?}: expected INVALID_ARGUMENT, got {other:?}", c.op),
        }
    }
}

#[test]
fn a_short_xpu_error_is_not_written_past_its_struct_size() {
    let ctx = Ctx::new();
    let message_at = std::mem::offset_of!(XpuError, message);
    let call = XpuOpCall {
        struct_size: size_of::<XpuOpCall>(),
        domain: c"".as_ptr(),
        op_type: c"Conv".as_ptr(),
        opset: 11,
        attributes: ptr::null(),
        num_attributes: 0,
        inputs: ptr::null(),
        num_inputs: 0,
        outputs: ptr::null(),
        num_outputs: 0,
        output_shapes: std::ptr::null(),
        attribute_tensors: std::ptr::null(),
    };
    for declared in [size_of::<usize>(), message_at, message_at + 16] {
        let mut err = XpuError::new();
        err.struct_size = declared;
        err.code = -1;
        err.message = [0x5a; ffi::XPU_ERROR_MESSAGE_LEN];
        // SAFETY: the context is live, call is valid, err is a full XpuError.
        let status = unsafe { api().run_op.unwrap()(ctx.0, &call, ptr::null_mut(), &mut err) };
        assert_eq!(status, ffi::XPU_STATUS_UNSUPPORTED);
        let code_fits = declared >= std::mem::offset_of!(XpuError, code) + size_of::<i32>();
        assert_eq!(
            err.code,
            if code_fits { status } else { -1 },
            "declared {declared}"
        );
        let room = declared.saturating_sub(message_at);
        assert!(
            err.message[room..].iter().all(|&c| c == 0x5a),
            "declared {declared}: written past struct_size"
        );
        if room > 0 {
            assert_eq!(
                err.message[room - 1],
                0,
                "declared {declared}: truncated message ends in NUL"
            );
        }
    }
}

#[test]
fn softmax_over_a_vocabulary_sized_row_stays_within_f32_tolerance() {
    // A plain f32 running sum over 128k terms drifts by ~1e-5 relative.
    let n = 128_000usize;
    let x: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 100.0).collect();
    let shape = [1i64, n as i64];
    let want = softmax_ref(&x, &shape, 1);
    let got = call(c"Softmax", 13, vec![contiguous(&shape, &x)], &shape).run_ok();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let err = (*g as f64 - w).abs();
        assert!(err <= 2e-6 * w.abs() + 1e-12, "element {i}: {g} vs {w}");
    }
}
