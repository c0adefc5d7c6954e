/*
 * xpucert_backend.h -- the xpucert backend ABI, major version 1.
 *
 * This header is THE contract between the xpucert harness and a vendor backend.
 * A backend is a shared library (.so / .dylib / .dll) that exports exactly one
 * symbol, xpucert_backend_init_v1, and is written in any language that can
 * produce a C ABI. Nothing in this file depends on Rust.
 *
 * ---------------------------------------------------------------------------
 * VERSIONING RULES
 * ---------------------------------------------------------------------------
 *  1. The major version is part of the entry symbol's name. A library built
 *     against major 1 exports xpucert_backend_init_v1; a future incompatible
 *     ABI will use xpucert_backend_init_v2. A library may export both.
 *  2. Within one major, any minor works with any other minor, in both
 *     directions. There is never an exact-match rule.
 *  3. Every struct begins with `size_t struct_size`, set by whoever fills the
 *     struct to sizeof(struct) as compiled against its copy of this header.
 *     Structs only ever grow at the end. A reader that receives a smaller
 *     struct treats the missing trailing fields as absent (zero / NULL), never
 *     as an error; a reader that receives a larger one ignores the extra bytes.
 *     Exception: structs that are passed as ARRAYS (XpuTensor, XpuAttribute,
 *     XpuOption) are frozen for the whole major version, because a reader
 *     steps through an array by its own sizeof. Per-element data added in a
 *     later minor goes into a new parallel array appended to the owning
 *     struct (e.g. XpuOpCall), never into the element struct.
 *  4. A NULL function pointer means "not provided". The harness reports it and
 *     never calls it. Optional groups (device memory, streams, whole model) are
 *     NULL pointers when the backend does not offer them.
 *  5. Numeric codes (status, dtype, attribute type, support level, memory
 *     kind) are frozen: a value, once published, never changes meaning. The
 *     harness validates every integer it receives; an unknown value is reported
 *     as a finding, it is not undefined behaviour.
 *
 * ---------------------------------------------------------------------------
 * OWNERSHIP RULES
 * ---------------------------------------------------------------------------
 *  - Nothing is ever freed across the library boundary. Memory is released by
 *    whoever allocated it.
 *  - The XpuBackendApi table returned by init, and every pointer inside it
 *    (name, groups), belong to the library and must stay valid until the
 *    process exits. The harness never unloads a backend library.
 *  - Every pointer passed into a call (op calls, tensors, shapes, strides,
 *    attribute names and values, option strings) is owned by the harness and
 *    valid only for the duration of that call. Copy what you need to keep.
 *    (Exception: the data buffers of a run_op on a stream stay valid until
 *    sync() on that stream returns; see the stream group.)
 *  - Output tensors are allocated by the harness, with the shapes and dtypes
 *    the operator's specification gives, before run_op is called. The backend
 *    writes every element of every output and nothing outside them. It never
 *    writes into an input. (Since minor 2, an output whose size depends on
 *    the input values is allocated at an upper bound and the backend reports
 *    the shape it wrote: see XpuOpCall.output_shapes.)
 *  - Errors are reported by filling a caller-owned XpuError (NUL-terminated
 *    message, truncated to fit). There is no thread-local "last error".
 *  - Contexts, streams, device buffers and compiled models are created and
 *    destroyed by the backend's own functions.
 *
 * ---------------------------------------------------------------------------
 * THREADING RULES
 * ---------------------------------------------------------------------------
 *  - The harness serialises all calls on one context unless the backend sets
 *    XPU_CAP_CONCURRENT_CONTEXT in XpuBackendApi.capabilities.
 *  - A backend may use any number of threads internally, but it never calls
 *    back into the harness (XpuHostApi) from a thread other than the one that
 *    made the current call, and never after that call has returned.
 *  - Nothing may unwind or throw across this ABI: C++ exceptions, Rust panics
 *    and longjmp must be caught inside the library and turned into a status.
 */
#ifndef XPUCERT_BACKEND_H
#define XPUCERT_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XPU_ABI_MAJOR 1
#define XPU_ABI_MINOR 3
/* Minor versions:
 *   0  the first published ABI 1.
 *   1  XpuOpSupport.numeric_flags (XPU_NUMERIC_FLUSH_SUBNORMAL_*).
 *   2  XpuOpCall.output_shapes: operators whose output size depends on the
 *      data (NonZero, Compress, Unique, NonMaxSuppression) get outputs
 *      allocated at an upper bound and report the actual shape.
 *   3  XPU_ATTR_TENSOR and XpuOpCall.attribute_tensors: tensor-valued
 *      attributes (Constant's and ConstantOfShape's `value`); the dtypes
 *      XPU_DTYPE_U2 and XPU_DTYPE_I2 (ONNX 25's 2-bit integers). The
 *      harness asks query_op before every call, so a library of an older
 *      minor declines these codes as it declines any dtype it lacks. */

/* Length of the message buffer in XpuError, including the terminating NUL. */
#define XPU_ERROR_MESSAGE_LEN 1024
/* Length of the note buffer in XpuOpSupport, including the terminating NUL. */
#define XPU_SUPPORT_NOTE_LEN 256

#if defined(_WIN32)
#define XPU_EXPORT __declspec(dllexport)
#else
#define XPU_EXPORT __attribute__((visibility("default")))
#endif

/* ---------------------------------------------------------------------------
 * Status codes (int32_t). Every function that can fail returns one of these.
 * UNSUPPORTED is not a failure: it means "this backend does not implement
 * this call", and the harness records the case as unsupported.
 * ------------------------------------------------------------------------- */
#define XPU_STATUS_OK 0
#define XPU_STATUS_UNSUPPORTED 1      /* op, dtype, attribute or shape not implemented */
#define XPU_STATUS_INVALID_ARGUMENT 2 /* the call itself is malformed */
#define XPU_STATUS_OUT_OF_MEMORY 3    /* host or device allocation failed */
#define XPU_STATUS_DEVICE_ERROR 4     /* the device or driver reported an error */
#define XPU_STATUS_TIMEOUT 5          /* the backend gave up waiting for the device */
#define XPU_STATUS_INTERNAL 6         /* a bug in the backend */

/* ---------------------------------------------------------------------------
 * Element types (int32_t). The numbers are those of ONNX TensorProto.DataType,
 * so they are familiar and frozen. Codes >= XPU_DTYPE_VENDOR_BASE are free for
 * vendor-specific types; the harness treats them as unknown.
 * ------------------------------------------------------------------------- */
#define XPU_DTYPE_UNDEFINED 0 /* an absent optional input (data == NULL) */
#define XPU_DTYPE_F32 1
#define XPU_DTYPE_U8 2
#define XPU_DTYPE_I8 3
#define XPU_DTYPE_U16 4
#define XPU_DTYPE_I16 5
#define XPU_DTYPE_I32 6
#define XPU_DTYPE_I64 7
/* 8 is ONNX STRING: never used in this ABI. */
#define XPU_DTYPE_BOOL 9 /* one byte per element, 0 or 1 */
#define XPU_DTYPE_F16 10
#define XPU_DTYPE_F64 11
#define XPU_DTYPE_U32 12
#define XPU_DTYPE_U64 13
/* 14, 15 are ONNX complex types: not used in this ABI. */
#define XPU_DTYPE_BF16 16
#define XPU_DTYPE_F8E4M3FN 17
#define XPU_DTYPE_F8E4M3FNUZ 18
#define XPU_DTYPE_F8E5M2 19
#define XPU_DTYPE_F8E5M2FNUZ 20
#define XPU_DTYPE_U4 21     /* packed two to a byte, see XpuTensor */
#define XPU_DTYPE_I4 22     /* packed two to a byte, two's complement */
#define XPU_DTYPE_F4E2M1 23 /* packed two to a byte */
#define XPU_DTYPE_F8E8M0 24 /* 2^(code - 127); 0xFF is NaN (OCP MX scale) */
#define XPU_DTYPE_U2 25     /* packed four to a byte, see XpuTensor */
#define XPU_DTYPE_I2 26     /* packed four to a byte, two's complement */
#define XPU_DTYPE_VENDOR_BASE 0x10000

/* Compute precisions that are not storage dtypes, for XpuOpSupport. */
#define XPU_PRECISION_DEFAULT 0      /* the precision of the op's inputs/outputs */
#define XPU_PRECISION_TF32 0x1001    /* f32 storage, 10-bit mantissa products */
/* Any XPU_DTYPE_* value is also a valid precision (e.g. XPU_DTYPE_F32 for
 * "f16 inputs, f32 accumulation"). */

/* Where a tensor's data lives. */
#define XPU_MEMORY_HOST 0   /* ordinary host memory, readable by the harness */
#define XPU_MEMORY_DEVICE 1 /* allocated by XpuDeviceMemoryApi.alloc */

/* Capability bits for XpuBackendApi.capabilities. */
#define XPU_CAP_CONCURRENT_CONTEXT (1ull << 0) /* calls on one context may overlap */

/* ---------------------------------------------------------------------------
 * XpuError: filled by the backend when a call returns a status other than OK.
 * The harness sets struct_size and zeroes the rest before each call.
 * ------------------------------------------------------------------------- */
typedef struct XpuError {
    size_t struct_size;
    int32_t code;                          /* the same status the call returned */
    char message[XPU_ERROR_MESSAGE_LEN];   /* NUL-terminated, UTF-8, truncated to fit */
} XpuError;

/* ---------------------------------------------------------------------------
 * XpuTensor: a strided view of memory, shaped like a DLPack tensor.
 *
 * Element (i0, ..., i{n-1}) lives at byte address
 *     (char *)data + byte_offset + (i0*strides[0] + ... ) * element_size(dtype)
 * Strides are in ELEMENTS, not bytes, and are always provided when ndim > 0:
 * inputs may be non-contiguous (transposed or sliced views), and a backend that
 * cannot handle a layout returns XPU_STATUS_UNSUPPORTED rather than reading it
 * as contiguous. Strides are >= 0 for inputs. Outputs are always contiguous
 * row-major. A tensor with a zero in its shape has no elements and data may be
 * any value. A scalar has ndim == 0 and one element.
 * Host buffers allocated by the harness are 64-byte aligned at `data`, and
 * byte_offset is a multiple of the element size, so every element is
 * naturally aligned.
 * The 4-bit dtypes (U4, I4, F4E2M1) are packed two to a byte as in ONNX:
 * element k of the element grid (k = i0*strides[0] + ...) lives in byte
 * byte_offset + k/2, in the low nibble when k is even and the high nibble
 * when k is odd. A contiguous tensor of n elements takes ceil(n/2) bytes;
 * the unused high nibble of an odd-length output may hold anything.
 * The 2-bit dtypes (U2, I2) are packed four to a byte, lowest bits first:
 * element k lives in bits 2*(k%4) .. 2*(k%4)+1 of byte byte_offset + k/4.
 * A contiguous tensor of n elements takes ceil(n/4) bytes; the unused bits
 * of the last byte of an output may hold anything.
 * An absent optional input has dtype == XPU_DTYPE_UNDEFINED and data == NULL.
 * ------------------------------------------------------------------------- */
typedef struct XpuTensor {
    size_t struct_size;
    void *data;
    uint64_t byte_offset;
    int32_t dtype;          /* XPU_DTYPE_* */
    int32_t memory_kind;    /* XPU_MEMORY_* */
    int32_t device_index;   /* which device, for XPU_MEMORY_DEVICE; 0 otherwise */
    int32_t ndim;
    const int64_t *shape;   /* ndim entries */
    const int64_t *strides; /* ndim entries, in elements */
} XpuTensor;

/* Attribute value types. */
#define XPU_ATTR_INT 1    /* value in .i */
#define XPU_ATTR_FLOAT 2  /* value in .f */
#define XPU_ATTR_STRING 3 /* NUL-terminated UTF-8 in .s */
#define XPU_ATTR_INTS 4   /* .count values at .ints */
#define XPU_ATTR_FLOATS 5 /* .count values at .floats */
#define XPU_ATTR_TENSOR 6 /* since minor 3: XpuOpCall.attribute_tensors[i] */

/* TENSOR ATTRIBUTES (since minor 3). XpuAttribute is passed as an array, so
 * it is frozen (rule 3): a tensor-valued attribute (an ONNX AttributeProto of
 * type TENSOR, e.g. `value` of Constant and ConstantOfShape) has type
 * XPU_ATTR_TENSOR, every value member zero / NULL, and its tensor in the
 * parallel array XpuOpCall.attribute_tensors: entry i belongs to
 * attributes[i]. The tensor is in host memory (XPU_MEMORY_HOST), contiguous
 * row-major with strides given, byte_offset 0, owned by the harness for the
 * duration of the call like every other pointer of the call; its data is
 * present in query_op too (an attribute is part of the call's signature:
 * Constant's output shape is the tensor's). A harness of minor < 3 never sends
 * XPU_ATTR_TENSOR; a harness of minor >= 3 never sends it to a library of
 * minor < 3 (such calls are reported unsupported, naming the minor they
 * need), so an older library never meets an attribute it cannot read. */

/* One named operator attribute, as in an ONNX NodeProto. Only the member that
 * matches .type is meaningful; the others are zero / NULL. ONNX's one
 * list-of-strings attribute xpucert passes, `activations` of LSTM, GRU and
 * RNN, arrives as one XPU_ATTR_STRING with the names joined by commas
 * ("Sigmoid,Tanh,Tanh"); ONNX spells the names in CamelCase, and a backend
 * should match them without regard to case. */
typedef struct XpuAttribute {
    size_t struct_size;
    const char *name;       /* NUL-terminated, e.g. "transB" */
    int32_t type;           /* XPU_ATTR_* */
    int32_t reserved;       /* zero */
    int64_t i;
    double f;
    const char *s;
    const int64_t *ints;
    const double *floats;
    size_t count;           /* number of entries in ints / floats */
} XpuAttribute;

/* Opaque handles owned by the backend. */
typedef struct XpuContext XpuContext;
typedef struct XpuStream XpuStream;
typedef struct XpuModel XpuModel;

/* ---------------------------------------------------------------------------
 * XpuOpCall: one operator invocation, named as in ONNX.
 *
 * domain is "" for the default ONNX domain or "xpucert" for the harness's own
 * operators (specified in docs/ops/). op_type and opset are the ONNX operator
 * name and the opset version whose semantics apply (e.g. "MatMul"/13,
 * "Attention"/23). Inputs and outputs are positional as in the ONNX spec; an
 * omitted optional input in the middle is an XPU_DTYPE_UNDEFINED tensor, and
 * trailing optional outputs that the harness does not want are not passed:
 * num_outputs is how many the call requests, and the backend writes exactly
 * outputs[0..num_outputs) (LayerNormalization: Y, then Mean and InvStdDev;
 * Attention: Y, then present_key, present_value, qk_matmul_output). A call
 * requests an optional output only when its suite case asks for it, so a
 * backend that implements only Y may answer a longer call UNSUPPORTED. For
 * Split without a `split` input (or attribute) and without `num_outputs`,
 * num_outputs is the number of equal parts, as an ONNX node's output count.
 *
 * For query_op, the tensors carry dtype, ndim, shape and strides but data may
 * be NULL: answer from the metadata only.
 *
 * DATA-DEPENDENT OUTPUT SHAPES (since minor 2). Some operators' output sizes
 * depend on the input VALUES, not only on shapes and attributes: NonZero,
 * Compress, Unique, NonMaxSuppression. Their rank never does (it follows from
 * the input ranks and attributes), so only the dimensions are reported:
 *
 *  - The harness allocates such an output at an upper bound computed from
 *    the input shapes and attributes alone, and describes it by that bound in
 *    outputs[i] (ndim, shape, contiguous strides):
 *      NonZero            Y [rank(X), numel(X)]
 *      Compress           axis given: X's shape with dim axis = min(len(C),
 *                         X.shape[axis]); no axis: [min(len(C), numel(X))]
 *      Unique             Y: X's shape (axis given) or [numel(X)] (no axis);
 *                         indices, counts: [X.shape[axis]] or [numel(X)]
 *                         (inverse_indices has one entry per input slice
 *                         or element: a fixed shape, never a bound)
 *      NonMaxSuppression  selected_indices [batches * classes * boxes, 3]
 *  - output_shapes, when not NULL, has num_outputs entries. Entry i is NULL
 *    for an output whose shape is fixed, and for a data-dependent one points
 *    to outputs[i].ndim writable int64_t, which the harness fills with the
 *    bound before the call. The backend overwrites them with the actual
 *    dimensions (each 0 <= actual <= bound; the rank cannot change) and
 *    writes the actual tensor CONTIGUOUS ROW-MAJOR IN THE ACTUAL SHAPE at
 *    the start of the buffer (a prefix of it; the strides in outputs[i]
 *    describe the bound, not this prefix). Bytes past the prefix may be left
 *    as they are. A backend that leaves the dimensions alone reports the
 *    bound, which is then judged like any wrong shape.
 *  - output_shapes is NULL for a call without data-dependent outputs, and
 *    always when the harness is of a minor < 2 (struct_size then ends
 *    before the field: read it only if struct_size >= offsetof(XpuOpCall,
 *    output_shapes) + sizeof(void *)). query_op receives the same array so
 *    it can see which outputs are bounds; writes to it there are ignored.
 *  - On a stream, the dimension arrays stay valid, like the data buffers,
 *    until sync() on that stream returns: a device may report them late.
 *  - The harness checks that every reported dimension lies within its bound
 *    (otherwise the call is a failure: data past the bound would not have
 *    fit), then compares the prefix with the oracle's output, shape first.
 *  - A library built against minor 0 or 1 does not know the field, so the
 *    harness never sends it these operators: their cases are reported as
 *    unsupported for it, naming the minor it needs.
 * ------------------------------------------------------------------------- */
typedef struct XpuOpCall {
    size_t struct_size;
    const char *domain;
    const char *op_type;
    int64_t opset;
    const XpuAttribute *attributes;
    size_t num_attributes;
    const XpuTensor *inputs;
    size_t num_inputs;
    const XpuTensor *outputs; /* the tensor structs are read-only; their data is written */
    size_t num_outputs;
    /* Since minor 2: NULL, or num_outputs pointers; entry i is NULL for a
     * fixed-shape output, else outputs[i].ndim dims the backend overwrites
     * with the actual shape (see DATA-DEPENDENT OUTPUT SHAPES above). */
    int64_t *const *output_shapes;
    /* Since minor 3: NULL, or num_attributes pointers; entry i points to the
     * tensor of attributes[i] when its type is XPU_ATTR_TENSOR and is NULL
     * otherwise (see TENSOR ATTRIBUTES above). Read it only if struct_size >=
     * offsetof(XpuOpCall, attribute_tensors) + sizeof(void *); a harness of an
     * older minor passes a shorter struct and no tensor attributes. */
    const XpuTensor *const *attribute_tensors;
} XpuOpCall;

/* Support levels for XpuOpSupport.support. */
#define XPU_SUPPORT_NONE 0      /* run_op would return XPU_STATUS_UNSUPPORTED */
#define XPU_SUPPORT_NATIVE 1    /* implemented on the device */
#define XPU_SUPPORT_EMULATED 2  /* implemented, but by a fallback (e.g. on the host) */

/* Bits of XpuOpSupport.numeric_flags (since minor 1): deviations from IEEE
 * 754 arithmetic on subnormal numbers that the call may make. A subnormal is
 * a nonzero value of a float dtype whose magnitude is below that dtype's
 * smallest normal number (e.g. |x| < 2^-126 for f32 and bf16, < 2^-14 for
 * f16). Each bit is a permission for this call only, for every float input
 * and output of it; integer tensors are unaffected. Without a bit, the
 * harness expects subnormals to be handled as IEEE 754 specifies, and a
 * flushed value is a failure like any other wrong value.
 *
 * XPU_NUMERIC_FLUSH_SUBNORMAL_INPUTS ("denormals are zero", DAZ: x86
 *   MXCSR.DAZ, CUDA code built with -ftz=true, OpenCL devices without
 *   CL_FP_DENORM): any subnormal input
 *   element may be read as a zero of the same sign. The harness then also
 *   accepts, element by element, the result the operator gives when every
 *   subnormal float input element is replaced by a zero of its sign.
 * XPU_NUMERIC_FLUSH_SUBNORMAL_OUTPUTS ("flush to zero", FTZ: x86
 *   MXCSR.FTZ, CUDA -ftz=true, bf16 units that flush): an output
 *   element whose correctly rounded value is subnormal in the output dtype
 *   (or whose exact value is below the smallest normal number, for units
 *   that detect tininess before rounding) may be written as +0 or -0, in
 *   every check, including exact ones (Relu, Neg, data movement). A result
 *   in the normal range may not be flushed.
 * Both bits may be set; the harness then accepts either result above, and
 * a zero wherever the result on the flushed inputs is subnormal.
 * The remaining bits are reserved and must be zero. A harness reports a
 * reserved bit as an invalid value from a library built against a minor
 * that does not define it, and ignores bits of a later minor than its own.
 */
#define XPU_NUMERIC_FLUSH_SUBNORMAL_INPUTS (1u << 0)
#define XPU_NUMERIC_FLUSH_SUBNORMAL_OUTPUTS (1u << 1)

/* The answer of query_op for one concrete call.
 *
 * The harness sets struct_size to sizeof(XpuOpSupport) of ITS header and
 * zeroes every field before calling query_op; struct_size is the room
 * the backend may write into. The backend writes only fields that lie
 * entirely within struct_size (a harness of an older minor passes a smaller
 * struct: check `out->struct_size >= offsetof(XpuOpSupport, numeric_flags) +
 * sizeof out->numeric_flags` before writing numeric_flags). It may leave
 * struct_size alone or lower it to its own sizeof(XpuOpSupport); it never
 * raises it. The harness reads only the fields that lie within both its own
 * size and the struct_size it finds after the call; anything beyond reads
 * as zero (a backend of minor 0 declares no numeric flags). */
typedef struct XpuOpSupport {
    size_t struct_size;
    int32_t support;             /* XPU_SUPPORT_* */
    int32_t compute_precision;   /* XPU_PRECISION_* or XPU_DTYPE_*: what the op really
                                    computes or accumulates in; DEFAULT = the io dtype */
    char note[XPU_SUPPORT_NOTE_LEN]; /* optional free text, NUL-terminated */
    /* Since minor 1: XPU_NUMERIC_* bits, 0 = IEEE 754 subnormal handling. */
    uint32_t numeric_flags;
} XpuOpSupport;

/* A key/value option for create_context, e.g. {"device", "0"}. */
typedef struct XpuOption {
    size_t struct_size;
    const char *key;
    const char *value;
} XpuOption;

/* ---------------------------------------------------------------------------
 * Optional group: device memory, so that weights can stay resident.
 * ------------------------------------------------------------------------- */
typedef struct XpuDeviceMemoryApi {
    size_t struct_size;
    int32_t (*alloc)(XpuContext *ctx, int32_t device_index, size_t bytes, void **out_ptr,
                     XpuError *err);
    void (*free)(XpuContext *ctx, void *ptr);
    /* Copies bytes between memories; kinds are XPU_MEMORY_*. stream may be NULL
     * (synchronous). */
    int32_t (*copy)(XpuContext *ctx, void *dst, int32_t dst_kind, const void *src,
                    int32_t src_kind, size_t bytes, XpuStream *stream, XpuError *err);
} XpuDeviceMemoryApi;

/* ---------------------------------------------------------------------------
 * Optional group: streams, for asynchronous devices. When run_op receives a
 * stream, it may return before the work finishes; the work is complete only
 * after sync() on that stream returns OK.
 *
 * Provide all three functions or set XpuBackendApi.streams to NULL: a group
 * with a NULL slot is refused at load. The harness creates one stream per
 * context after create_context, passes it to every run_op on that context,
 * and calls sync() after each run_op, whether it succeeded or not, before
 * it reads the outputs, checks the inputs and the memory around the
 * outputs, or stops a timer; destroy() comes before destroy_context.
 * The tensors' data buffers stay valid, and the harness does not touch
 * them, until that sync() returns; the XpuOpCall and the arrays it points
 * to (tensor structs, shapes, strides, attributes) are valid only during
 * run_op. A failure of queued work is reported by sync() (status and
 * message, as for run_op) and counts as a failure of the call; sync() may
 * not answer XPU_STATUS_UNSUPPORTED. A sync() that does not return is
 * treated like a run_op that does not return (the per-call time limit).
 * ------------------------------------------------------------------------- */
typedef struct XpuStreamApi {
    size_t struct_size;
    int32_t (*create)(XpuContext *ctx, XpuStream **out_stream, XpuError *err);
    int32_t (*sync)(XpuContext *ctx, XpuStream *stream, XpuError *err);
    void (*destroy)(XpuContext *ctx, XpuStream *stream);
} XpuStreamApi;

/* ---------------------------------------------------------------------------
 * Optional group: whole-model execution, for graph compilers. The model is
 * given as a format name (e.g. "onnx") and bytes; inputs and outputs are
 * positional, as declared in the model.
 * ------------------------------------------------------------------------- */
typedef struct XpuModelApi {
    size_t struct_size;
    int32_t (*compile)(XpuContext *ctx, const char *format, const void *bytes, size_t len,
                       XpuModel **out_model, XpuError *err);
    int32_t (*run)(XpuContext *ctx, XpuModel *model, const XpuTensor *inputs,
                   size_t num_inputs, const XpuTensor *outputs, size_t num_outputs,
                   XpuStream *stream, XpuError *err);
    void (*destroy)(XpuContext *ctx, XpuModel *model);
} XpuModelApi;

/* ---------------------------------------------------------------------------
 * XpuHostApi: what the harness offers the backend. Valid for the process
 * lifetime. log may be NULL; when present it may only be called from the
 * thread of the call in progress.
 * ------------------------------------------------------------------------- */
#define XPU_LOG_ERROR 1
#define XPU_LOG_WARN 2
#define XPU_LOG_INFO 3
#define XPU_LOG_DEBUG 4

typedef struct XpuHostApi {
    size_t struct_size;
    uint32_t abi_major; /* XPU_ABI_MAJOR of the harness */
    uint32_t abi_minor; /* XPU_ABI_MINOR of the harness */
    void (*log)(void *user, int32_t level, const char *message);
    void *user;
} XpuHostApi;

/* ---------------------------------------------------------------------------
 * XpuBackendApi: the function table a backend returns from init.
 *
 * Required slots: create_context, destroy_context, get_manifest, query_op,
 * run_op. The groups memory, streams and model may be NULL.
 * Every function taking a context receives a live context from this
 * library's create_context, never NULL; every err argument is non-NULL and
 * its struct_size says how much of it may be written.
 * ------------------------------------------------------------------------- */
typedef struct XpuBackendApi {
    size_t struct_size;
    uint32_t abi_major;   /* must be 1 for this header */
    uint32_t abi_minor;   /* XPU_ABI_MINOR the library was built against */
    const char *name;     /* short backend name, NUL-terminated, e.g. "acme-npu" */
    uint64_t capabilities; /* XPU_CAP_* bits */

    /* Creates a context. options is an array of num_options key/value pairs
     * (may be NULL when num_options == 0); unknown keys should be rejected with
     * XPU_STATUS_INVALID_ARGUMENT so typos are caught. */
    int32_t (*create_context)(const XpuOption *options, size_t num_options,
                              XpuContext **out_ctx, XpuError *err);
    void (*destroy_context)(XpuContext *ctx);

    /* Writes the manifest, a UTF-8 JSON object (schema below), into buf.
     * Two-call protocol: *out_len always receives the full length in bytes
     * (without a NUL); if buf is NULL or capacity < *out_len, nothing is
     * written and XPU_STATUS_OK is still returned, so the caller can retry
     * with a larger buffer. No NUL terminator is required.
     *
     * Manifest schema 1:
     *   { "schema": 1, "vendor": str, "device": str, "backend_version": str,
     *     "driver_version": str, "firmware_version": str, "sdk_version": str,
     *     "ops": [ { "domain": str, "op": str, "opsets": [int...],
     *                "dtypes": [ "f32", "f16", ... ] } ... ] }
     * Unknown fields are allowed; fields that do not apply may be omitted. */
    int32_t (*get_manifest)(XpuContext *ctx, char *buf, size_t capacity, size_t *out_len,
                            XpuError *err);

    /* Says whether and how run_op would execute this exact call (tensors'
     * data may be NULL). Returns OK with out->support filled, including
     * XPU_SUPPORT_NONE for "not supported" (with the reason in out->note);
     * an error status only if the question itself could not be answered.
     * (The harness also reads an UNSUPPORTED status here as SUPPORT_NONE.) */
    int32_t (*query_op)(XpuContext *ctx, const XpuOpCall *call, XpuOpSupport *out,
                        XpuError *err);

    /* Executes one operator. stream may be NULL: then the call is synchronous
     * and the outputs are complete when it returns. */
    int32_t (*run_op)(XpuContext *ctx, const XpuOpCall *call, XpuStream *stream,
                      XpuError *err);

    const XpuDeviceMemoryApi *memory; /* NULL when not provided */
    const XpuStreamApi *streams;      /* NULL when not provided */
    const XpuModelApi *model;         /* NULL when not provided */
} XpuBackendApi;

/* ---------------------------------------------------------------------------
 * The entry point. The harness calls it once, right after loading the library.
 * On success it stores a pointer to the library's static function table in
 * *out_api and returns XPU_STATUS_OK. On failure it fills err and returns the
 * status. host, out_api and err are never NULL. The backend should check
 * host->abi_major == 1 and return XPU_STATUS_INVALID_ARGUMENT otherwise; it
 * must not reject a different minor.
 * ------------------------------------------------------------------------- */
typedef int32_t (*XpuBackendInitV1Fn)(const XpuHostApi *host, const XpuBackendApi **out_api,
                                      XpuError *err);

XPU_EXPORT int32_t xpucert_backend_init_v1(const XpuHostApi *host,
                                           const XpuBackendApi **out_api, XpuError *err);

#ifdef __cplusplus
}
#endif

#endif /* XPUCERT_BACKEND_H */
