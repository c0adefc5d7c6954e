/*
 * init_fails.c -- init reports that the device is missing. The loader must
 * surface the status (DEVICE_ERROR) and the library's own message verbatim:
 * "no device found: /dev/acme0 missing".
 */
#include "xpucert_backend.h"

#include <stdio.h>

XPU_EXPORT int32_t xpucert_backend_init_v1(const XpuHostApi *host, const XpuBackendApi **out_api,
                                           XpuError *err)
{
    (void)host;
    (void)out_api; /* left untouched: on failure *out_api means nothing */
    if (err != NULL && err->struct_size >= sizeof(XpuError)) {
        err->code = XPU_STATUS_DEVICE_ERROR;
        snprintf(err->message, sizeof err->message, "no device found: /dev/acme0 missing");
    }
    return XPU_STATUS_DEVICE_ERROR;
}
