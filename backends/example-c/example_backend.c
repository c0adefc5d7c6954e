/*
 * example_backend.c -- a complete xpucert backend in plain C99.
 *
 * This file is a template: copy it, rename it, and replace the arithmetic with
 * calls into your device's runtime. It implements four ONNX operators in f32
 * on the host CPU:
 *
 *   Add     (opsets 7-14)  element-wise, numpy multidirectional broadcasting
 *   MatMul  (opsets 1-13)  numpy matmul: 1-D, 2-D and batched N-D operands
 *   Softmax (opset 13)     along attribute `axis` (default -1)
 *   Relu    (opsets 6-14)
 *
 * Everything else (other operators, other dtypes, other domains, device
 * memory) is answered with "unsupported", which is not a failure: the harness
 * records the case as unsupported and moves on.
 *
 * The file reads top to bottom in the order the harness uses it:
 *   1. error reporting helpers
 *   2. the context and its options       (create_context / destroy_context)
 *   3. the manifest                      (get_manifest)
 *   4. classify(): the one function that decides whether a call is supported
 *   5. query_op and run_op, both built on classify()
 *   6. the arithmetic
 *   7. the function table and the entry point (xpucert_backend_init_v1)
 *
 * Rules this file follows, because the header demands them (see
 * backends/include/xpucert_backend.h):
 *   - Every struct we fill gets struct_size = sizeof(struct), and every struct
 *     we receive is read only as far as its struct_size says.
 *   - Error messages are written with snprintf, so they are always
 *     NUL-terminated and truncated to fit.
 *   - There is no global mutable state: everything a call needs lives in the
 *     context or on the stack, so two contexts never interfere.
 *   - Nothing is freed across the library boundary: the context is allocated
 *     and released by this file, the tensors belong to the harness.
 */
#include "xpucert_backend.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fail the build, not the run, if this file is compiled against a header of
 * a different major version: its structs would not mean what we think. */
#if XPU_ABI_MAJOR != 1
#error "example_backend.c implements ABI major version 1"
#endif

/* The highest tensor rank we handle. Fixed-size index arrays on the stack keep
 * the code free of allocation; a higher rank is answered as UNSUPPORTED, never
 * mis-computed. */
#define EX_MAX_RANK 16

/* Lets the compiler check the format strings of our printf-like helpers. */
#if defined(__GNUC__)
#define EX_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define EX_PRINTF(fmt_index, first_arg)
#endif

/* =========================================================================
 * 1. Error reporting
 * ========================================================================= */

/* Fills the caller's XpuError and returns `status`, so a failing path reads
 * `return fail(err, XPU_STATUS_..., "what went wrong: %d", x);`.
 *
 * The harness sets err->struct_size. A harness built against an older header
 * could hand us a smaller XpuError, so we write only the bytes it declared:
 * the code if it fits, and as much of the message as fits. vsnprintf always
 * NUL-terminates within the size it is given. */
static int32_t fail(XpuError *err, int32_t status, const char *fmt, ...) EX_PRINTF(3, 4);

static int32_t fail(XpuError *err, int32_t status, const char *fmt, ...)
{
    va_list args;
    size_t room;

    if (err == NULL) {
        return status;
    }
    if (err->struct_size >= offsetof(XpuError, code) + sizeof err->code) {
        err->code = status;
    }
    if (err->struct_size > offsetof(XpuError, message)) {
        room = err->struct_size - offsetof(XpuError, message);
        if (room > sizeof err->message) {
            room = sizeof err->message;
        }
        va_start(args, fmt);
        vsnprintf(err->message, room, fmt, args);
        va_end(args);
    }
    return status;
}

/* snprintf into a caller's buffer, for explanations that end up either in an
 * XpuError (run_op) or in XpuOpSupport.note (query_op). */
static void explain(char *why, size_t why_len, const char *fmt, ...) EX_PRINTF(3, 4);

static void explain(char *why, size_t why_len, const char *fmt, ...)
{
    va_list args;

    if (why == NULL || why_len == 0) {
        return;
    }
    va_start(args, fmt);
    vsnprintf(why, why_len, fmt, args);
    va_end(args);
}

/* Formats a shape as "[2, 3, 4]" for messages. Truncates silently: a message
 * is for humans and must never overflow. */
static void format_shape(char *buf, size_t len, const int64_t *shape, int ndim)
{
    size_t used = 0;
    int d;
    int n;

    if (len == 0) {
        return;
    }
    buf[0] = '\0';
    n = snprintf(buf, len, "[");
    for (d = 0; d < ndim && n >= 0 && (size_t)n < len - used; ++d) {
        used += (size_t)n;
        n = snprintf(buf + used, len - used, d == 0 ? "%" PRId64 : ", %" PRId64, shape[d]);
    }
    if (n >= 0 && (size_t)n < len - used) {
        used += (size_t)n;
        snprintf(buf + used, len - used, "]");
    }
}

/* =========================================================================
 * 2. The context
 * ========================================================================= */

/* The harness never looks inside a context: the header declares XpuContext as
 * an incomplete type, and each backend completes it however it likes. A real
 * backend keeps its device handle, queues and caches here. */
struct XpuContext {
    int device_index; /* which device this context drives; the host CPU is 0 */
};

/* Options arrive as strings. We accept exactly one key, "device", and reject
 * everything else: the header asks backends to reject unknown keys so that a
 * typo in a CI configuration fails loudly instead of being ignored. */
static int32_t create_context(const XpuOption *options, size_t num_options,
                              XpuContext **out_ctx, XpuError *err)
{
    XpuContext *ctx;
    int device_index = 0;
    size_t i;

    if (out_ctx == NULL) {
        return fail(err, XPU_STATUS_INVALID_ARGUMENT, "create_context: out_ctx is NULL");
    }
    *out_ctx = NULL;
    if (options == NULL && num_options > 0) {
        return fail(err, XPU_STATUS_INVALID_ARGUMENT,
                    "create_context: options is NULL but num_options is %zu", num_options);
    }
    for (i = 0; i < num_options; ++i) {
        const XpuOption *opt = &options[i];
        if (opt->struct_size < sizeof(XpuOption) || opt->key == NULL || opt->value == NULL) {
            return fail(err, XPU_STATUS_INVALID_ARGUMENT,
                        "create_context: option %zu is malformed (struct_size %zu, key or "
                        "value NULL)",
                        i, opt->struct_size);
        }
        if (strcmp(opt->key, "device") == 0) {
            /* This backend has one device, the host CPU. */
            if (strcmp(opt->value, "0") != 0) {
                return fail(err, XPU_STATUS_INVALID_ARGUMENT,
                            "create_context: option device=\"%s\": only device 0 exists",
                            opt->value);
            }
            device_index = 0;
        } else {
            return fail(err, XPU_STATUS_INVALID_ARGUMENT,
                        "create_context: unknown option \"%s\" (known options: device)",
                        opt->key);
        }
    }

    ctx = (XpuContext *)malloc(sizeof *ctx);
    if (ctx == NULL) {
        return fail(err, XPU_STATUS_OUT_OF_MEMORY, "create_context: out of host memory");
    }
    ctx->device_index = device_index;
    *out_ctx = ctx;
    return XPU_STATUS_OK;
}

/* The context was allocated by this library, so this library frees it. */
static void destroy_context(XpuContext *ctx)
{
    free(ctx);
}

/* =========================================================================
 * 3. The manifest
 * ========================================================================= */

/* A constant string: it describes the library, not a particular context. Every
 * op listed here must be one that classify() accepts, with the same opsets. */
static const char MANIFEST[] =
    "{\"schema\": 1,"
    " \"vendor\": \"xpucert example\","
    " \"device\": \"host CPU\","
    " \"backend_version\": \"0.1.0\","
    " \"ops\": ["
    "{\"domain\": \"\", \"op\": \"Add\", \"opsets\": [7, 13, 14], \"dtypes\": [\"f32\"]},"
    " {\"domain\": \"\", \"op\": \"MatMul\", \"opsets\": [1, 9, 13], \"dtypes\": [\"f32\"]},"
    " {\"domain\": \"\", \"op\": \"Softmax\", \"opsets\": [13], \"dtypes\": [\"f32\"]},"
    " {\"domain\": \"\", \"op\": \"Relu\", \"opsets\": [6, 13, 14], \"dtypes\": [\"f32\"]}"
    "]}";

/* Two-call protocol: the harness first asks with buf == NULL to learn the
 * length, then calls again with a buffer that large. When the buffer is
 * missing or too small we write nothing and still return OK. */
static int32_t get_manifest(XpuContext *ctx, char *buf, size_t capacity, size_t *out_len,
                            XpuError *err)
{
    size_t len = sizeof MANIFEST - 1; /* without the NUL: the protocol needs none */

    (void)ctx; /* the manifest does not depend on the context */
    if (out_len == NULL) {
        return fail(err, XPU_STATUS_INVALID_ARGUMENT, "get_manifest: out_len is NULL");
    }
    *out_len = len;
    if (buf != NULL && capacity >= len) {
        memcpy(buf, MANIFEST, len);
    }
    return XPU_STATUS_OK;
}

/* =========================================================================
 * 4. classify(): does this backend run this exact call, and how?
 *
 * query_op and run_op both start here, so "query says supported" and "run
 * returns UNSUPPORTED" can never disagree -- the harness treats such a
 * disagreement as a finding against the backend.
 *
 * classify() looks only at metadata (names, opset, attributes, dtypes, shapes,
 * strides), never at data, because query_op receives tensors whose data may
 * be NULL. It returns
 *   XPU_STATUS_OK               supported; *plan says how to run it
 *   XPU_STATUS_UNSUPPORTED      a well-formed call we do not implement
 *   XPU_STATUS_INVALID_ARGUMENT a malformed call (wrong number of inputs,
 *                               output shape that the op would not produce...)
 * and for anything but OK writes the reason into `why`.
 * ========================================================================= */

typedef enum OpKind { OP_ADD, OP_MATMUL, OP_SOFTMAX, OP_RELU } OpKind;

/* Everything run_op needs to know, worked out once from the metadata. */
typedef struct Plan {
    OpKind kind;
    int out_ndim;
    int64_t out_shape[EX_MAX_RANK];
    int64_t out_numel;

    /* Add: each input's strides re-expressed over the output's dimensions,
     * 0 where the input is broadcast. MatMul: the same over the batch dims. */
    int64_t bcast_strides[2][EX_MAX_RANK];

    /* MatMul: C[batch..., m, n] = sum_k A[batch..., m, k] * B[batch..., k, n] */
    int batch_ndim;
    int64_t batch_shape[EX_MAX_RANK];
    int64_t m, k, n;
    int64_t a_stride_m, a_stride_k, b_stride_k, b_stride_n;

    /* Softmax: the axis, normalised to 0..ndim-1. */
    int axis;
} Plan;

/* The operators we know, with the opset range whose f32 semantics are what
 * this file implements. An opset outside the range may mean something else
 * (Softmax before 13 flattened the input to 2-D), so it is UNSUPPORTED. */
typedef struct OpInfo {
    const char *name;
    OpKind kind;
    int64_t min_opset, max_opset;
    size_t num_inputs;
} OpInfo;

static const OpInfo KNOWN_OPS[] = {
    {"Add", OP_ADD, 7, 14, 2},
    {"MatMul", OP_MATMUL, 1, 13, 2},
    {"Softmax", OP_SOFTMAX, 13, 13, 1},
    {"Relu", OP_RELU, 6, 14, 1},
};

/* Number of elements of a shape; 0 if any dimension is 0. Returns 0 (false)
 * if the product does not fit in int64_t. Dimensions are known to be >= 0. */
static int count_elements(const int64_t *shape, int ndim, int64_t *out)
{
    int64_t numel = 1;
    int d;

    for (d = 0; d < ndim; ++d) {
        if (shape[d] == 0) {
            *out = 0;
            return 1;
        }
    }
    for (d = 0; d < ndim; ++d) {
        if (numel > INT64_MAX / shape[d]) {
            return 0;
        }
        numel *= shape[d];
    }
    *out = numel;
    return 1;
}

/* Checks one tensor's metadata: present, f32, host memory, a rank we handle,
 * non-negative dims and strides, and -- for outputs -- contiguous, as the
 * header promises. */
static int32_t check_tensor(const XpuTensor *t, int is_output, size_t index, char *why,
                            size_t why_len)
{
    const char *role = is_output ? "output" : "input";
    int d;
    int64_t numel;

    /* Every field of XpuTensor 1.0 is needed, so a smaller struct is malformed. */
    if (t->struct_size < sizeof(XpuTensor)) {
        explain(why, why_len, "%s %zu: struct_size %zu is smaller than XpuTensor (%zu)", role,
                index, t->struct_size, sizeof(XpuTensor));
        return XPU_STATUS_INVALID_ARGUMENT;
    }
    if (t->dtype == XPU_DTYPE_UNDEFINED) {
        explain(why, why_len, "%s %zu is required but absent (dtype UNDEFINED)", role, index);
        return XPU_STATUS_INVALID_ARGUMENT;
    }
    if (t->dtype != XPU_DTYPE_F32) {
        explain(why, why_len, "%s %zu: dtype code %d is not supported (only f32, code %d)", role,
                index, (int)t->dtype, XPU_DTYPE_F32);
        return XPU_STATUS_UNSUPPORTED;
    }
    if (t->memory_kind == XPU_MEMORY_DEVICE) {
        explain(why, why_len, "%s %zu: device memory is not supported (host only)", role, index);
        return XPU_STATUS_UNSUPPORTED;
    }
    if (t->memory_kind != XPU_MEMORY_HOST) {
        explain(why, why_len, "%s %zu: unknown memory kind %d", role, index, (int)t->memory_kind);
        return XPU_STATUS_INVALID_ARGUMENT;
    }
    if (t->ndim < 0) {
        explain(why, why_len, "%s %zu: ndim %d is negative", role, index, (int)t->ndim);
        return XPU_STATUS_INVALID_ARGUMENT;
    }
    if (t->ndim > EX_MAX_RANK) {
        explain(why, why_len, "%s %zu: rank %d is above this backend's limit of %d", role, index,
                (int)t->ndim, EX_MAX_RANK);
        return XPU_STATUS_UNSUPPORTED;
    }
    if (t->ndim > 0 && (t->shape == NULL || t->strides == NULL)) {
        explain(why, why_len, "%s %zu: shape or strides is NULL with ndim %d", role, index,
                (int)t->ndim);
        return XPU_STATUS_INVALID_ARGUMENT;
    }
    for (d = 0; d < t->ndim; ++d) {
        if (t->shape[d] < 0 || t->strides[d] < 0) {
            explain(why, why_len, "%s %zu: dimension %d has size %" PRId64 " and stride %" PRId64
                    " (both must be >= 0)", role, index, d, t->shape[d], t->strides[d]);
            return XPU_STATUS_INVALID_ARGUMENT;
        }
    }
    if (!count_elements(t->shape, t->ndim, &numel)) {
        explain(why, why_len, "%s %zu: element count overflows int64", role, index);
        return XPU_STATUS_INVALID_ARGUMENT;
    }
    if (is_output && numel > 0) {
        /* Outputs are contiguous row-major; size-1 dims may carry any stride. */
        int64_t expected = 1;
        for (d = t->ndim - 1; d >= 0; --d) {
            if (t->shape[d] != 1 && t->strides[d] != expected) {
                explain(why, why_len, "%s %zu is not contiguous row-major", role, index);
                return XPU_STATUS_INVALID_ARGUMENT;
            }
            expected *= t->shape[d];
        }
    }
    return XPU_STATUS_OK;
}

/* numpy broadcasting of two shapes, aligned at the right. Fills the output
 * shape and, for each operand, strides over the output's dimensions with 0
 * wherever that operand is broadcast (a missing or size-1 dimension), so the
 * arithmetic can index both operands with the output's index. */
static int broadcast(const int64_t *shape_a, const int64_t *strides_a, int ndim_a,
                     const int64_t *shape_b, const int64_t *strides_b, int ndim_b,
                     int64_t *out_shape, int *out_ndim, int64_t *bstrides_a,
                     int64_t *bstrides_b)
{
    int ndim = ndim_a > ndim_b ? ndim_a : ndim_b;
    int d;

    for (d = 0; d < ndim; ++d) {
        int da = d - (ndim - ndim_a); /* index into a, negative when missing */
        int db = d - (ndim - ndim_b);
        int64_t size_a = da >= 0 ? shape_a[da] : 1;
        int64_t size_b = db >= 0 ? shape_b[db] : 1;

        if (size_a != size_b && size_a != 1 && size_b != 1) {
            return 0;
        }
        out_shape[d] = size_a == 1 ? size_b : size_a;
        bstrides_a[d] = (da >= 0 && size_a != 1) ? strides_a[da] : 0;
        bstrides_b[d] = (db >= 0 && size_b != 1) ? strides_b[db] : 0;
    }
    *out_ndim = ndim;
    return 1;
}

/* memcpy of a shape; a scalar's shape pointer may be NULL, and memcpy from
 * NULL is undefined even for zero bytes. */
static void copy_shape(int64_t *dst, const int64_t *src, int ndim)
{
    if (ndim > 0) {
        memcpy(dst, src, sizeof(int64_t) * (size_t)ndim);
    }
}

static int32_t classify_add(const XpuOpCall *call, Plan *plan, char *why, size_t why_len)
{
    const XpuTensor *a = &call->inputs[0];
    const XpuTensor *b = &call->inputs[1];
    char sa[160], sb[160];

    if (!broadcast(a->shape, a->strides, a->ndim, b->shape, b->strides, b->ndim, plan->out_shape,
                   &plan->out_ndim, plan->bcast_strides[0], plan->bcast_strides[1])) {
        format_shape(sa, sizeof sa, a->shape, a->ndim);
        format_shape(sb, sizeof sb, b->shape, b->ndim);
        explain(why, why_len, "Add: input shapes %s and %s cannot be broadcast together", sa, sb);
        return XPU_STATUS_INVALID_ARGUMENT;
    }
    return XPU_STATUS_OK;
}

/* numpy matmul: a 1-D A is a row vector (a 1 is prepended to its shape and
 * removed from the result), a 1-D B is a column vector (a 1 is appended and
 * removed), and dimensions before the last two are batch dims that
 * broadcast. */
static int32_t classify_matmul(const XpuOpCall *call, Plan *plan, char *why, size_t why_len)
{
    const XpuTensor *a = &call->inputs[0];
    const XpuTensor *b = &call->inputs[1];
    int64_t k_a, k_b;
    int d;

    if (a->ndim == 0 || b->ndim == 0) {
        explain(why, why_len, "MatMul: operands must have rank >= 1, got ranks %d and %d",
                (int)a->ndim, (int)b->ndim);
        return XPU_STATUS_INVALID_ARGUMENT;
    }
    if (a->ndim == 1) {
        plan->m = 1;
        plan->a_stride_m = 0;
        k_a = a->shape[0];
        plan->a_stride_k = a->strides[0];
    } else {
        plan->m = a->shape[a->ndim - 2];
        plan->a_stride_m = a->strides[a->ndim - 2];
        k_a = a->shape[a->ndim - 1];
        plan->a_stride_k = a->strides[a->ndim - 1];
    }
    if (b->ndim == 1) {
        k_b = b->shape[0];
        plan->b_stride_k = b->strides[0];
        plan->n = 1;
        plan->b_stride_n = 0;
    } else {
        k_b = b->shape[b->ndim - 2];
        plan->b_stride_k = b->strides[b->ndim - 2];
        plan->n = b->shape[b->ndim - 1];
        plan->b_stride_n = b->strides[b->ndim - 1];
    }
    if (k_a != k_b) {
        explain(why, why_len,
                "MatMul: inner dimensions differ: A has K = %" PRId64 ", B has K = %" PRId64, k_a,
                k_b);
        return XPU_STATUS_INVALID_ARGUMENT;
    }
    plan->k = k_a;

    /* Batch dims: everything before the last two of each N-D operand. */
    if (!broadcast(a->shape, a->strides, a->ndim > 2 ? a->ndim - 2 : 0, b->shape, b->strides,
                   b->ndim > 2 ? b->ndim - 2 : 0, plan->batch_shape, &plan->batch_ndim,
                   plan->bcast_strides[0], plan->bcast_strides[1])) {
        char sa[160], sb[160];
        format_shape(sa, sizeof sa, a->shape, a->ndim);
        format_shape(sb, sizeof sb, b->shape, b->ndim);
        explain(why, why_len, "MatMul: batch dimensions of %s and %s cannot be broadcast", sa,
                sb);
        return XPU_STATUS_INVALID_ARGUMENT;
    }

    /* Result: batch dims, then M unless A was 1-D, then N unless B was 1-D. */
    plan->out_ndim = 0;
    for (d = 0; d < plan->batch_ndim; ++d) {
        plan->out_shape[plan->out_ndim++] = plan->batch_shape[d];
    }
    if (a->ndim > 1) {
        plan->out_shape[plan->out_ndim++] = plan->m;
    }
    if (b->ndim > 1) {
        plan->out_shape[plan->out_ndim++] = plan->n;
    }
    return XPU_STATUS_OK;
}

/* Softmax-13: exp(x - max) / sum(exp(x - max)) along one axis. */
static int32_t classify_softmax(const XpuOpCall *call, Plan *plan, char *why, size_t why_len)
{
    const XpuTensor *x = &call->inputs[0];
    int64_t axis = -1; /* the ONNX default */
    size_t i;

    for (i = 0; i < call->num_attributes; ++i) {
        const XpuAttribute *attr = &call->attributes[i];
        if (strcmp(attr->name, "axis") == 0) {
            if (attr->type != XPU_ATTR_INT) {
                explain(why, why_len, "Softmax: attribute axis must be an int (type %d), got %d",
                        XPU_ATTR_INT, (int)attr->type);
                return XPU_STATUS_INVALID_ARGUMENT;
            }
            axis = attr->i;
        }
    }
    if (axis < -(int64_t)x->ndim || axis >= (int64_t)x->ndim) {
        explain(why, why_len, "Softmax: axis %" PRId64 " is out of range for rank %d", axis,
                (int)x->ndim);
        return XPU_STATUS_INVALID_ARGUMENT;
    }
    plan->axis = (int)(axis < 0 ? axis + x->ndim : axis);
    plan->out_ndim = x->ndim;
    copy_shape(plan->out_shape, x->shape, x->ndim);
    return XPU_STATUS_OK;
}

static int32_t classify_relu(const XpuOpCall *call, Plan *plan)
{
    const XpuTensor *x = &call->inputs[0];

    plan->out_ndim = x->ndim;
    copy_shape(plan->out_shape, x->shape, x->ndim);
    return XPU_STATUS_OK;
}

static int32_t classify(const XpuOpCall *call, Plan *plan, char *why, size_t why_len)
{
    const OpInfo *info = NULL;
    const char *domain;
    const XpuTensor *out;
    int32_t status;
    size_t i;

    memset(plan, 0, sizeof *plan);

    /* The call struct itself. A harness of minor 0 or 1 passes a struct that
     * ends before output_shapes (minor 2); its ops all have fixed output
     * shapes, which is all this backend implements, so the field is never
     * read here and the older size is enough. */
    if (call->struct_size < offsetof(XpuOpCall, output_shapes) || call->op_type == NULL) {
        explain(why, why_len, "XpuOpCall is malformed (struct_size %zu, op_type %s)",
                call->struct_size, call->op_type == NULL ? "NULL" : "set");
        return XPU_STATUS_INVALID_ARGUMENT;
    }
    if ((call->inputs == NULL && call->num_inputs > 0) ||
        (call->outputs == NULL && call->num_outputs > 0) ||
        (call->attributes == NULL && call->num_attributes > 0)) {
        explain(why, why_len, "XpuOpCall: an inputs, outputs or attributes array is NULL");
        return XPU_STATUS_INVALID_ARGUMENT;
    }
    for (i = 0; i < call->num_attributes; ++i) {
        if (call->attributes[i].struct_size < sizeof(XpuAttribute) ||
            call->attributes[i].name == NULL) {
            explain(why, why_len, "attribute %zu is malformed (struct_size or name)", i);
            return XPU_STATUS_INVALID_ARGUMENT;
        }
    }

    /* Which operator. A NULL domain is read as "", the default ONNX domain. */
    domain = call->domain == NULL ? "" : call->domain;
    if (domain[0] != '\0') {
        explain(why, why_len, "domain \"%s\" is not supported (only the ONNX domain \"\")",
                domain);
        return XPU_STATUS_UNSUPPORTED;
    }
    for (i = 0; i < sizeof KNOWN_OPS / sizeof KNOWN_OPS[0]; ++i) {
        if (strcmp(call->op_type, KNOWN_OPS[i].name) == 0) {
            info = &KNOWN_OPS[i];
        }
    }
    if (info == NULL) {
        explain(why, why_len, "operator %s is not implemented (this backend has Add, MatMul, "
                "Softmax, Relu)", call->op_type);
        return XPU_STATUS_UNSUPPORTED;
    }
    if (call->opset < info->min_opset || call->opset > info->max_opset) {
        explain(why, why_len, "%s opset %" PRId64 " is not supported (opsets %" PRId64
                " to %" PRId64 ")", info->name, call->opset, info->min_opset, info->max_opset);
        return XPU_STATUS_UNSUPPORTED;
    }

    /* An attribute we do not understand could change the result, so it is
     * never ignored. Only Softmax has one (axis). */
    for (i = 0; i < call->num_attributes; ++i) {
        if (!(info->kind == OP_SOFTMAX && strcmp(call->attributes[i].name, "axis") == 0)) {
            explain(why, why_len, "%s: attribute \"%s\" is not supported", info->name,
                    call->attributes[i].name);
            return XPU_STATUS_UNSUPPORTED;
        }
    }

    /* Inputs and outputs: counts first, then each tensor. */
    if (call->num_inputs != info->num_inputs || call->num_outputs != 1) {
        explain(why, why_len, "%s takes %zu input(s) and 1 output, got %zu and %zu", info->name,
                info->num_inputs, call->num_inputs, call->num_outputs);
        return XPU_STATUS_INVALID_ARGUMENT;
    }
    for (i = 0; i < call->num_inputs; ++i) {
        status = check_tensor(&call->inputs[i], 0, i, why, why_len);
        if (status != XPU_STATUS_OK) {
            return status;
        }
    }
    out = &call->outputs[0];
    status = check_tensor(out, 1, 0, why, why_len);
    if (status != XPU_STATUS_OK) {
        return status;
    }

    /* The op's own rules, which also work out the output shape. */
    plan->kind = info->kind;
    switch (info->kind) {
    case OP_ADD:
        status = classify_add(call, plan, why, why_len);
        break;
    case OP_MATMUL:
        status = classify_matmul(call, plan, why, why_len);
        break;
    case OP_SOFTMAX:
        status = classify_softmax(call, plan, why, why_len);
        break;
    case OP_RELU:
    default:
        status = classify_relu(call, plan);
        break;
    }
    if (status != XPU_STATUS_OK) {
        return status;
    }

    /* The harness allocated the output from the spec; if its shape is not
     * what this op produces, the call is malformed, and writing it would go
     * out of bounds. */
    if (out->ndim != plan->out_ndim ||
        (plan->out_ndim > 0 &&
         memcmp(out->shape, plan->out_shape, sizeof(int64_t) * (size_t)plan->out_ndim) != 0)) {
        char got[160], want[160];
        format_shape(got, sizeof got, out->shape, out->ndim);
        format_shape(want, sizeof want, plan->out_shape, plan->out_ndim);
        explain(why, why_len, "%s: output 0 has shape %s but the op produces %s", info->name, got,
                want);
        return XPU_STATUS_INVALID_ARGUMENT;
    }
    /* Cannot overflow: the output's shape passed check_tensor. */
    count_elements(plan->out_shape, plan->out_ndim, &plan->out_numel);
    return XPU_STATUS_OK;
}

/* =========================================================================
 * 5. query_op and run_op
 * ========================================================================= */

/* Writes the answer, as far as the caller's struct_size allows. */
static void set_support(XpuOpSupport *out, int32_t support, const char *note)
{
    if (out->struct_size >= offsetof(XpuOpSupport, support) + sizeof out->support) {
        out->support = support;
    }
    if (out->struct_size >= offsetof(XpuOpSupport, compute_precision) +
                                sizeof out->compute_precision) {
        /* f32 in, f32 accumulation, f32 out: the io dtype's own precision. */
        out->compute_precision = XPU_PRECISION_DEFAULT;
    }
    if (out->struct_size >= offsetof(XpuOpSupport, note) + sizeof out->note) {
        snprintf(out->note, sizeof out->note, "%s", note);
    }
}

static int32_t query_op(XpuContext *ctx, const XpuOpCall *call, XpuOpSupport *out, XpuError *err)
{
    Plan plan;
    char why[XPU_SUPPORT_NOTE_LEN];
    int32_t status;

    if (ctx == NULL || call == NULL || out == NULL) {
        return fail(err, XPU_STATUS_INVALID_ARGUMENT, "query_op: ctx, call or out is NULL");
    }
    why[0] = '\0';
    status = classify(call, &plan, why, sizeof why);
    switch (status) {
    case XPU_STATUS_OK:
        set_support(out, XPU_SUPPORT_NATIVE, "");
        return XPU_STATUS_OK;
    case XPU_STATUS_UNSUPPORTED:
        /* "Not supported" is an answer, not an error: status OK. */
        set_support(out, XPU_SUPPORT_NONE, why);
        return XPU_STATUS_OK;
    default:
        /* The question itself is malformed: run_op would reject it the same way. */
        return fail(err, status, "query_op: %s", why);
    }
}

static void run_add(const Plan *p, const XpuTensor *a, const XpuTensor *b, const XpuTensor *out);
static void run_matmul(const Plan *p, const XpuTensor *a, const XpuTensor *b,
                       const XpuTensor *out);
static void run_softmax(const Plan *p, const XpuTensor *x, const XpuTensor *out);
static void run_relu(const Plan *p, const XpuTensor *x, const XpuTensor *out);

static int32_t run_op(XpuContext *ctx, const XpuOpCall *call, XpuStream *stream, XpuError *err)
{
    Plan plan;
    char why[XPU_ERROR_MESSAGE_LEN];
    int32_t status;
    size_t i;

    if (ctx == NULL || call == NULL) {
        return fail(err, XPU_STATUS_INVALID_ARGUMENT, "run_op: ctx or call is NULL");
    }
    if (stream != NULL) {
        /* We offer no streams group, so no stream can have come from us. */
        return fail(err, XPU_STATUS_INVALID_ARGUMENT,
                    "run_op: got a stream, but this backend provides no streams");
    }
    why[0] = '\0';
    status = classify(call, &plan, why, sizeof why);
    if (status != XPU_STATUS_OK) {
        return fail(err, status, "run_op: %s", why);
    }

    /* Only run_op needs data, so only run_op checks it. A tensor with no
     * elements may have any data pointer, NULL included. */
    for (i = 0; i < call->num_inputs; ++i) {
        const XpuTensor *t = &call->inputs[i];
        int64_t numel;
        count_elements(t->shape, t->ndim, &numel);
        if (numel > 0 && t->data == NULL) {
            return fail(err, XPU_STATUS_INVALID_ARGUMENT, "run_op: input %zu: data is NULL", i);
        }
    }
    if (plan.out_numel > 0 && call->outputs[0].data == NULL) {
        return fail(err, XPU_STATUS_INVALID_ARGUMENT, "run_op: output 0: data is NULL");
    }

    switch (plan.kind) {
    case OP_ADD:
        run_add(&plan, &call->inputs[0], &call->inputs[1], &call->outputs[0]);
        break;
    case OP_MATMUL:
        run_matmul(&plan, &call->inputs[0], &call->inputs[1], &call->outputs[0]);
        break;
    case OP_SOFTMAX:
        run_softmax(&plan, &call->inputs[0], &call->outputs[0]);
        break;
    case OP_RELU:
    default:
        run_relu(&plan, &call->inputs[0], &call->outputs[0]);
        break;
    }
    return XPU_STATUS_OK;
}

/* =========================================================================
 * 6. The arithmetic
 *
 * Element i of a tensor lives at
 *     (char *)data + byte_offset + (i0*strides[0] + i1*strides[1] + ...) * 4
 * Inputs may be views (transposed, sliced, broadcast with stride 0), so we
 * always go through their strides. Outputs are contiguous, so output element
 * i is simply at index i. Loads and stores use memcpy because byte_offset
 * need not be a multiple of 4, and dereferencing a misaligned float* is
 * undefined behaviour in C; compilers turn these memcpys into plain moves.
 * ========================================================================= */

static float load_f32(const XpuTensor *t, int64_t element)
{
    float value;
    const char *base = (const char *)t->data + (size_t)t->byte_offset;
    memcpy(&value, base + (size_t)element * sizeof(float), sizeof value);
    return value;
}

static void store_f32(const XpuTensor *t, int64_t element, float value)
{
    char *base = (char *)t->data + (size_t)t->byte_offset;
    memcpy(base + (size_t)element * sizeof(float), &value, sizeof value);
}

/* The element offset of the `linear`-th element, in row-major order over
 * `shape`, of a tensor laid out with `strides`. Every dimension is > 0
 * whenever this is called (callers skip empty tensors). */
static int64_t strided_offset(int64_t linear, const int64_t *shape, const int64_t *strides,
                              int ndim)
{
    int64_t offset = 0;
    int d;

    for (d = ndim - 1; d >= 0; --d) {
        offset += (linear % shape[d]) * strides[d];
        linear /= shape[d];
    }
    return offset;
}

static void run_add(const Plan *p, const XpuTensor *a, const XpuTensor *b, const XpuTensor *out)
{
    int64_t i;

    for (i = 0; i < p->out_numel; ++i) {
        float x = load_f32(a, strided_offset(i, p->out_shape, p->bcast_strides[0], p->out_ndim));
        float y = load_f32(b, strided_offset(i, p->out_shape, p->bcast_strides[1], p->out_ndim));
        store_f32(out, i, x + y);
    }
}

static void run_matmul(const Plan *p, const XpuTensor *a, const XpuTensor *b,
                       const XpuTensor *out)
{
    int64_t batches = 0;
    int64_t batch, row, col, j;

    if (p->out_numel == 0) {
        return;
    }
    count_elements(p->batch_shape, p->batch_ndim, &batches);
    for (batch = 0; batch < batches; ++batch) {
        int64_t a_base =
            strided_offset(batch, p->batch_shape, p->bcast_strides[0], p->batch_ndim);
        int64_t b_base =
            strided_offset(batch, p->batch_shape, p->bcast_strides[1], p->batch_ndim);
        for (row = 0; row < p->m; ++row) {
            for (col = 0; col < p->n; ++col) {
                /* f32 accumulation, matching the DEFAULT precision that
                 * query_op reports. With K == 0 the result is 0. */
                float acc = 0.0f;
                for (j = 0; j < p->k; ++j) {
                    acc += load_f32(a, a_base + row * p->a_stride_m + j * p->a_stride_k) *
                           load_f32(b, b_base + j * p->b_stride_k + col * p->b_stride_n);
                }
                store_f32(out, (batch * p->m + row) * p->n + col, acc);
            }
        }
    }
}

static void run_softmax(const Plan *p, const XpuTensor *x, const XpuTensor *out)
{
    int64_t reduced[EX_MAX_RANK];     /* the shape with the axis collapsed to 1 */
    int64_t out_strides[EX_MAX_RANK]; /* contiguous strides of the output */
    int64_t rows = 0, row, j, expected = 1;
    int64_t len = p->out_shape[p->axis];
    int d;

    if (p->out_numel == 0) {
        return;
    }
    for (d = p->out_ndim - 1; d >= 0; --d) {
        reduced[d] = d == p->axis ? 1 : p->out_shape[d];
        out_strides[d] = expected;
        expected *= p->out_shape[d];
    }
    count_elements(reduced, p->out_ndim, &rows);
    for (row = 0; row < rows; ++row) {
        int64_t in_base = strided_offset(row, reduced, x->strides, p->out_ndim);
        int64_t out_base = strided_offset(row, reduced, out_strides, p->out_ndim);
        int64_t in_step = x->strides[p->axis];
        int64_t out_step = out_strides[p->axis];
        float max = -INFINITY;
        float sum = 0.0f;
        float carry = 0.0f; /* Kahan compensation, see below */

        /* Subtracting the maximum keeps expf from overflowing for large
         * inputs without changing the mathematical result. */
        for (j = 0; j < len; ++j) {
            float v = load_f32(x, in_base + j * in_step);
            if (v > max) {
                max = v;
            }
        }
        /* The output doubles as scratch space for the exponentials.
         * The sum is compensated (Kahan): a plain f32 running sum over a
         * 128k-wide row (a vocabulary) drifts by ~1e-5 relative, outside f32
         * tolerance, while the compensated one stays within a rounding or
         * two -- and is still computed in f32, as query_op declares. Never
         * build this with -ffast-math: it may optimise the compensation away. */
        for (j = 0; j < len; ++j) {
            float e = expf(load_f32(x, in_base + j * in_step) - max);
            float y = e - carry;
            float t = sum + y;
            store_f32(out, out_base + j * out_step, e);
            carry = (t - sum) - y;
            sum = t;
        }
        for (j = 0; j < len; ++j) {
            int64_t at = out_base + j * out_step;
            store_f32(out, at, load_f32(out, at) / sum);
        }
    }
}

static void run_relu(const Plan *p, const XpuTensor *x, const XpuTensor *out)
{
    int64_t i;

    for (i = 0; i < p->out_numel; ++i) {
        float v = load_f32(x, strided_offset(i, p->out_shape, x->strides, p->out_ndim));
        /* Written as "v < 0 ? 0 : v", not "v > 0 ? v : 0", so that NaN
         * propagates as it does in ONNX's max(0, x). */
        store_f32(out, i, v < 0.0f ? 0.0f : v);
    }
}

/* =========================================================================
 * 7. The function table and the entry point
 * ========================================================================= */

/* Static and const: the header requires the table to stay valid until the
 * process exits, and a const table cannot be changed by anyone. */
static const XpuBackendApi EXAMPLE_API = {
    sizeof(XpuBackendApi), /* struct_size */
    XPU_ABI_MAJOR,         /* abi_major */
    XPU_ABI_MINOR,         /* abi_minor: the header version we were built against */
    "example-c",           /* name */
    /* capabilities: run_op keeps no state in the context, so concurrent calls
     * would be safe, but a template starts from the conservative default. */
    0,
    create_context,
    destroy_context,
    get_manifest,
    query_op,
    run_op,
    NULL, /* memory: no device memory, tensors live on the host */
    NULL, /* streams: every call is synchronous */
    NULL, /* model: no whole-model path */
};

/* The only exported symbol (the Makefile builds with -fvisibility=hidden, and
 * XPU_EXPORT marks this one as visible). */
XPU_EXPORT int32_t xpucert_backend_init_v1(const XpuHostApi *host, const XpuBackendApi **out_api,
                                           XpuError *err)
{
    if (host == NULL || out_api == NULL) {
        return fail(err, XPU_STATUS_INVALID_ARGUMENT, "init: host or out_api is NULL");
    }
    /* struct_size first: a host struct too small to hold abi_major cannot
     * tell us which ABI it speaks. */
    if (host->struct_size < offsetof(XpuHostApi, abi_major) + sizeof host->abi_major) {
        return fail(err, XPU_STATUS_INVALID_ARGUMENT, "init: XpuHostApi.struct_size %zu is too small",
                    host->struct_size);
    }
    /* Same major, any minor: a harness built against a newer minor only added
     * fields at the ends of structs, which we never read. */
    if (host->abi_major != 1) {
        return fail(err, XPU_STATUS_INVALID_ARGUMENT,
                    "init: the harness speaks ABI major %u, this backend speaks major 1",
                    (unsigned)host->abi_major);
    }
    /* log is optional: use it only if the struct is large enough to hold it
     * and it is non-NULL, and only now, from the calling thread. */
    if (host->struct_size >= offsetof(XpuHostApi, user) + sizeof host->user && host->log != NULL) {
        host->log(host->user, XPU_LOG_INFO, "example-c backend: f32 Add, MatMul, Softmax, Relu");
    }
    *out_api = &EXAMPLE_API;
    return XPU_STATUS_OK;
}
