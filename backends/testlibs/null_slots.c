/*
 * null_slots.c -- a v1 table whose required run_op slot is NULL. The loader
 * must report "run_op is not provided" (naming the slot) and never call
 * through the NULL pointer.
 */
#include "xpucert_backend.h"

#include <stddef.h>

static int32_t create_context(const XpuOption *options, size_t num_options, XpuContext **out_ctx,
                              XpuError *err)
{
    (void)options;
    (void)num_options;
    (void)err;
    /* A context nobody dereferences: any unique non-NULL address will do. */
    static char token;
    *out_ctx = (XpuContext *)(void *)&token;
    return XPU_STATUS_OK;
}

static void destroy_context(XpuContext *ctx)
{
    (void)ctx;
}

static const char MANIFEST[] = "{\"schema\": 1, \"vendor\": \"testlib\", \"ops\": []}";

static int32_t get_manifest(XpuContext *ctx, char *buf, size_t capacity, size_t *out_len,
                            XpuError *err)
{
    size_t i;
    (void)ctx;
    (void)err;
    *out_len = sizeof MANIFEST - 1;
    if (buf != NULL && capacity >= sizeof MANIFEST - 1) {
        for (i = 0; i < sizeof MANIFEST - 1; ++i) {
            buf[i] = MANIFEST[i];
        }
    }
    return XPU_STATUS_OK;
}

static int32_t query_op(XpuContext *ctx, const XpuOpCall *call, XpuOpSupport *out, XpuError *err)
{
    (void)ctx;
    (void)call;
    (void)err;
    out->support = XPU_SUPPORT_NONE;
    return XPU_STATUS_OK;
}

static const XpuBackendApi API = {
    sizeof(XpuBackendApi),
    XPU_ABI_MAJOR,
    XPU_ABI_MINOR,
    "testlib-null-slots",
    0,
    create_context,
    destroy_context,
    get_manifest,
    query_op,
    NULL, /* run_op: missing, the point of this library */
    NULL,
    NULL,
    NULL,
};

XPU_EXPORT int32_t xpucert_backend_init_v1(const XpuHostApi *host, const XpuBackendApi **out_api,
                                           XpuError *err)
{
    (void)host;
    (void)err;
    *out_api = &API;
    return XPU_STATUS_OK;
}
