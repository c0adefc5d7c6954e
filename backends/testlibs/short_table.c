/*
 * short_table.c -- a valid backend built against an older, shorter ABI 1.x
 * table: its struct_size covers the fields up to and including run_op, so
 * the optional groups (memory, streams, model) are absent.
 *
 * The loader must accept it and report the three groups as not provided.
 * To prove that the loader reads nothing past struct_size, the bytes that
 * follow run_op hold poison pointers: a loader that looks at them crashes.
 * (In a library really built against an older header, those bytes would be
 * whatever the linker placed after the table.)
 *
 * Every op is unsupported; the context and the manifest work.
 */
#include "xpucert_backend.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int32_t create_context(const XpuOption *options, size_t num_options, XpuContext **out_ctx,
                              XpuError *err)
{
    static char token;
    (void)options;
    if (num_options > 0) {
        if (err != NULL && err->struct_size >= sizeof(XpuError)) {
            err->code = XPU_STATUS_INVALID_ARGUMENT;
            snprintf(err->message, sizeof err->message, "this backend takes no options");
        }
        return XPU_STATUS_INVALID_ARGUMENT;
    }
    *out_ctx = (XpuContext *)(void *)&token;
    return XPU_STATUS_OK;
}

static void destroy_context(XpuContext *ctx)
{
    (void)ctx;
}

static const char MANIFEST[] = "{\"schema\": 1, \"vendor\": \"testlib\", \"device\": \"none\", "
                               "\"ops\": []}";

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

static int32_t query_op(XpuContext *ctx, const XpuOpCall *call, XpuOpSupport *out, XpuError *err)
{
    (void)ctx;
    (void)call;
    (void)err;
    if (out->struct_size >= sizeof(XpuOpSupport)) {
        out->support = XPU_SUPPORT_NONE;
        out->compute_precision = XPU_PRECISION_DEFAULT;
        snprintf(out->note, sizeof out->note, "short_table implements no ops");
    }
    return XPU_STATUS_OK;
}

static int32_t run_op(XpuContext *ctx, const XpuOpCall *call, XpuStream *stream, XpuError *err)
{
    (void)ctx;
    (void)call;
    (void)stream;
    if (err != NULL && err->struct_size >= sizeof(XpuError)) {
        err->code = XPU_STATUS_UNSUPPORTED;
        snprintf(err->message, sizeof err->message, "short_table implements no ops");
    }
    return XPU_STATUS_UNSUPPORTED;
}

/* Addresses that are never mapped in a user process on the platforms we
 * support; dereferencing one faults at once. */
#define POISON(type) ((type)(uintptr_t)0xdead0000u)

static const XpuBackendApi API = {
    offsetof(XpuBackendApi, run_op) + sizeof(((XpuBackendApi *)0)->run_op), /* short */
    XPU_ABI_MAJOR,
    0, /* minor 0: the point is that any minor is accepted */
    "testlib-short-table",
    0,
    create_context,
    destroy_context,
    get_manifest,
    query_op,
    run_op,
    /* Past struct_size: the loader must not read these. */
    POISON(const XpuDeviceMemoryApi *),
    POISON(const XpuStreamApi *),
    POISON(const XpuModelApi *),
};

XPU_EXPORT int32_t xpucert_backend_init_v1(const XpuHostApi *host, const XpuBackendApi **out_api,
                                           XpuError *err)
{
    (void)host;
    (void)err;
    *out_api = &API;
    return XPU_STATUS_OK;
}
