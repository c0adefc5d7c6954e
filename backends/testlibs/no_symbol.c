/*
 * no_symbol.c -- a shared library that is not an xpucert backend.
 *
 * It exports a function with a plausible but wrong name (an "init" without the
 * _v1 suffix), so the loader must report that xpucert_backend_init_v1 is
 * missing rather than guess at another symbol.
 */
#include <stdint.h>

#if defined(_WIN32)
#define TESTLIB_EXPORT __declspec(dllexport)
#else
#define TESTLIB_EXPORT __attribute__((visibility("default")))
#endif

TESTLIB_EXPORT int32_t xpucert_backend_init(void);

TESTLIB_EXPORT int32_t xpucert_backend_init(void)
{
    return 0;
}
