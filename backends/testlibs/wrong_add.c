/*
 * wrong_add.c -- a backend that loads fine, claims f32 Add, and computes it
 * wrongly: it returns a + b + 1/64 * |a + b| + 1/16, an error far outside
 * any f32 tolerance. Everything else is unsupported.
 *
 * The harness must run it to completion, mark the Add f32 cases FAIL with
 * the first mismatching element and the figures, print a rerun command,
 * and exit with the "not conformant" code -- never crash.
 *
 * The broadcasting and stride handling are correct, so the only fault the
 * harness can find is the arithmetic.
 */
#include "xpucert_backend.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_RANK 16

static int32_t say(XpuError *err, int32_t status, const char *message)
{
    if (err != NULL && err->struct_size >= sizeof(XpuError)) {
        err->code = status;
        snprintf(err->message, sizeof err->message, "%s", message);
    }
    return status;
}

static int32_t create_context(const XpuOption *options, size_t num_options, XpuContext **out_ctx,
                              XpuError *err)
{
    static char token;
    (void)options;
    if (num_options > 0) {
        return say(err, XPU_STATUS_INVALID_ARGUMENT, "wrong_add takes no options");
    }
    *out_ctx = (XpuContext *)(void *)&token;
    return XPU_STATUS_OK;
}

static void destroy_context(XpuContext *ctx)
{
    (void)ctx;
}

static const char MANIFEST[] =
    "{\"schema\": 1, \"vendor\": \"testlib\", \"device\": \"host CPU\", \"ops\": ["
    "{\"domain\": \"\", \"op\": \"Add\", \"opsets\": [14], \"dtypes\": [\"f32\"]}]}";

static int32_t get_manifest(XpuContext *ctx, char *buf, size_t capacity, size_t *out_len,
                            XpuError *err)
{
    (void)ctx;
    (void)err;
    *out_len = sizeof MANIFEST - 1;
    if (buf != NULL && capacity >= sizeof MANIFEST - 1) {
        memcpy(buf, MANIFEST, sizeof MANIFEST - 1);
    }
    return XPU_STATUS_OK;
}

static int is_f32_host(const XpuTensor *t)
{
    return t->dtype == XPU_DTYPE_F32 && t->memory_kind == XPU_MEMORY_HOST && t->ndim >= 0 &&
           t->ndim <= MAX_RANK;
}

/* Supported: Add/14 in the ONNX domain, two f32 host inputs, one f32 output
 * whose shape is the broadcast of the inputs'. Fills the broadcast strides. */
static int supported(const XpuOpCall *call, int64_t bstride[2][MAX_RANK])
{
    const XpuTensor *in, *out;
    int d, i;

    if ((call->domain != NULL && call->domain[0] != '\0') || strcmp(call->op_type, "Add") != 0 ||
        call->opset != 14 || call->num_inputs != 2 || call->num_outputs != 1 ||
        call->num_attributes != 0) {
        return 0;
    }
    out = &call->outputs[0];
    if (!is_f32_host(out)) {
        return 0;
    }
    for (i = 0; i < 2; ++i) {
        in = &call->inputs[i];
        if (!is_f32_host(in) || in->ndim > out->ndim) {
            return 0;
        }
        for (d = 0; d < out->ndim; ++d) {
            int k = d - (out->ndim - in->ndim);
            int64_t size = k >= 0 ? in->shape[k] : 1;
            if (size != out->shape[d] && size != 1) {
                return 0;
            }
            bstride[i][d] = (k >= 0 && size != 1) ? in->strides[k] : 0;
        }
    }
    return 1;
}

static int32_t query_op(XpuContext *ctx, const XpuOpCall *call, XpuOpSupport *out, XpuError *err)
{
    int64_t bstride[2][MAX_RANK];
    (void)ctx;
    (void)err;
    if (out->struct_size >= sizeof(XpuOpSupport)) {
        int ok = supported(call, bstride);
        out->support = ok ? XPU_SUPPORT_NATIVE : XPU_SUPPORT_NONE;
        out->compute_precision = XPU_PRECISION_DEFAULT;
        snprintf(out->note, sizeof out->note, "%s", ok ? "" : "wrong_add only has f32 Add/14");
    }
    return XPU_STATUS_OK;
}

static float load(const XpuTensor *t, int64_t element)
{
    float v;
    memcpy(&v, (const char *)t->data + t->byte_offset + (size_t)element * sizeof v, sizeof v);
    return v;
}

static int32_t run_op(XpuContext *ctx, const XpuOpCall *call, XpuStream *stream, XpuError *err)
{
    int64_t bstride[2][MAX_RANK];
    const XpuTensor *out = &call->outputs[0];
    int64_t numel = 1, i;
    int d;

    (void)ctx;
    (void)stream;
    if (!supported(call, bstride)) {
        return say(err, XPU_STATUS_UNSUPPORTED, "wrong_add only has f32 Add/14");
    }
    for (d = 0; d < out->ndim; ++d) {
        numel *= out->shape[d];
    }
    for (i = 0; i < numel; ++i) {
        int64_t rest = i, off_a = 0, off_b = 0;
        float sum, wrong;
        for (d = out->ndim - 1; d >= 0; --d) {
            int64_t ix = rest % out->shape[d];
            rest /= out->shape[d];
            off_a += ix * bstride[0][d];
            off_b += ix * bstride[1][d];
        }
        sum = load(&call->inputs[0], off_a) + load(&call->inputs[1], off_b);
        wrong = sum + fabsf(sum) / 64.0f + 1.0f / 16.0f; /* the deliberate fault */
        memcpy((char *)out->data + out->byte_offset + (size_t)i * sizeof wrong, &wrong,
               sizeof wrong);
    }
    return XPU_STATUS_OK;
}

static const XpuBackendApi API = {
    sizeof(XpuBackendApi),
    XPU_ABI_MAJOR,
    XPU_ABI_MINOR,
    "testlib-wrong-add",
    0,
    create_context,
    destroy_context,
    get_manifest,
    query_op,
    run_op,
    NULL,
    NULL,
    NULL,
};

XPU_EXPORT int32_t xpucert_backend_init_v1(const XpuHostApi *host, const XpuBackendApi **out_api,
                                           XpuError *err)
{
    if (host == NULL || host->abi_major != 1) {
        return say(err, XPU_STATUS_INVALID_ARGUMENT, "wrong_add speaks ABI major 1");
    }
    *out_api = &API;
    return XPU_STATUS_OK;
}
