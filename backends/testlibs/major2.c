/*
 * major2.c -- exports xpucert_backend_init_v1, but the table it returns says
 * abi_major = 2. The loader must refuse it with a message naming both majors,
 * and must not call any slot of the table.
 */
#include "xpucert_backend.h"

#include <stddef.h>

/* Stand-ins that exist only so the table's required slots are non-NULL: the
 * loader must reject the table on abi_major alone. */
static int32_t create_context(const XpuOption *options, size_t num_options, XpuContext **out_ctx,
                              XpuError *err)
{
    (void)options;
    (void)num_options;
    (void)out_ctx;
    (void)err;
    return XPU_STATUS_INTERNAL;
}

static void destroy_context(XpuContext *ctx)
{
    (void)ctx;
}

static int32_t get_manifest(XpuContext *ctx, char *buf, size_t capacity, size_t *out_len,
                            XpuError *err)
{
    (void)ctx;
    (void)buf;
    (void)capacity;
    (void)out_len;
    (void)err;
    return XPU_STATUS_INTERNAL;
}

static int32_t query_op(XpuContext *ctx, const XpuOpCall *call, XpuOpSupport *out, XpuError *err)
{
    (void)ctx;
    (void)call;
    (void)out;
    (void)err;
    return XPU_STATUS_INTERNAL;
}

static int32_t run_op(XpuContext *ctx, const XpuOpCall *call, XpuStream *stream, XpuError *err)
{
    (void)ctx;
    (void)call;
    (void)stream;
    (void)err;
    return XPU_STATUS_INTERNAL;
}

static const XpuBackendApi API = {
    sizeof(XpuBackendApi),
    2, /* abi_major: the point of this library */
    0,
    "testlib-major2",
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
    (void)host;
    (void)err;
    if (out_api == NULL) {
        return XPU_STATUS_INVALID_ARGUMENT;
    }
    *out_api = &API;
    return XPU_STATUS_OK;
}
