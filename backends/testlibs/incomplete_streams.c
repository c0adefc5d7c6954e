/*
 * incomplete_streams.c -- a v1 table whose optional stream group has create
 * and destroy but a NULL sync. A harness that used the group would pass
 * streams to run_op and never be able to wait for the work, so the loader
 * must refuse the library, naming the missing slot, and never call any slot
 * of the group (create counts its calls and fails loudly if reached).
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

static int32_t run_op(XpuContext *ctx, const XpuOpCall *call, XpuStream *stream, XpuError *err)
{
    (void)ctx;
    (void)call;
    (void)stream;
    (void)err;
    return XPU_STATUS_UNSUPPORTED;
}

static int32_t stream_create(XpuContext *ctx, XpuStream **out_stream, XpuError *err)
{
    static const char MESSAGE[] = "incomplete_streams: create was called";
    size_t i;
    (void)ctx;
    (void)out_stream;
    for (i = 0; i < sizeof MESSAGE; ++i) {
        err->message[i] = MESSAGE[i];
    }
    return XPU_STATUS_INTERNAL;
}

static void stream_destroy(XpuContext *ctx, XpuStream *stream)
{
    (void)ctx;
    (void)stream;
}

static const XpuStreamApi STREAMS = {
    sizeof(XpuStreamApi),
    stream_create,
    NULL, /* sync: missing, the point of this library */
    stream_destroy,
};

static const XpuBackendApi API = {
    sizeof(XpuBackendApi),
    XPU_ABI_MAJOR,
    XPU_ABI_MINOR,
    "testlib-incomplete-streams",
    0,
    create_context,
    destroy_context,
    get_manifest,
    query_op,
    run_op,
    NULL,
    &STREAMS,
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
