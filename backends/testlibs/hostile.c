/*
 * hostile.c -- a correct f32 Relu backend that attacks the process it runs
 * in, for the harness's containment tests (harness/tests/it/hardening_process.rs).
 * Everything but f32 Relu/14 is unsupported.
 *
 * Context options:
 *   mode=NAME    what run_op does to its process when it fires (below)
 *   numel=N      fire only on calls whose input has N elements (default: every call)
 *
 * Modes (run_op):
 *   print        writes a line to stdout, then computes the answer
 *   exit0        exit(0)
 *   hang         sleeps for an hour
 *   kill_parent  kill(getppid(), SIGKILL): the harness, or whoever runs us
 *   kill_group   kill(0, SIGKILL): every process of our process group
 *
 * At load (the library's constructor), from the environment, since no
 * option has arrived yet:
 *   XPUCERT_HOSTILE_CTOR=fork    forks a child that prints to stdout once a
 *                                second for 30 s (it stays in our group)
 *   XPUCERT_HOSTILE_CTOR=daemon  double-forks a daemon in a new session
 *                                (setsid) that lives 30 s
 *   XPUCERT_HOSTILE_PIDFILE=PATH where the pids of those children are
 *                                appended (before the library finishes loading)
 */
#define _DEFAULT_SOURCE

#include "xpucert_backend.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_RANK 16

static char MODE[32];
static long long NUMEL = -1;

static int32_t say(XpuError *err, int32_t status, const char *message)
{
    if (err != NULL && err->struct_size >= sizeof(XpuError)) {
        err->code = status;
        snprintf(err->message, sizeof err->message, "%s", message);
    }
    return status;
}

static void note_pid(const char *path, pid_t pid)
{
    FILE *f;
    if (path == NULL || path[0] == '\0') {
        return;
    }
    f = fopen(path, "a");
    if (f != NULL) {
        fprintf(f, "%ld\n", (long)pid);
        fclose(f);
    }
}

/* A child that outlives its parent if nobody stops it: 30 s of noise. */
static void linger(void)
{
    int i;
    for (i = 0; i < 30; ++i) {
        printf("hostile child %ld still running\n", (long)getpid());
        fflush(stdout);
        sleep(1);
    }
    _exit(0);
}

__attribute__((constructor)) static void at_load(void)
{
    const char *what = getenv("XPUCERT_HOSTILE_CTOR");
    const char *pidfile = getenv("XPUCERT_HOSTILE_PIDFILE");
    pid_t pid;
    if (what == NULL) {
        return;
    }
    /* The pids are written before the library finishes loading, so a test
     * knows every process to look for once the run is over. */
    if (strcmp(what, "fork") == 0) {
        pid = fork();
        if (pid == 0) {
            linger();
        }
        note_pid(pidfile, pid);
    } else if (strcmp(what, "daemon") == 0) {
        pid = fork();
        if (pid == 0) {
            pid_t daemon;
            setsid();
            daemon = fork();
            if (daemon == 0) {
                linger();
            }
            note_pid(pidfile, daemon);
            _exit(0);
        }
        waitpid(pid, NULL, 0);
    }
}

static int32_t create_context(const XpuOption *options, size_t num_options, XpuContext **out_ctx,
                              XpuError *err)
{
    static char token;
    size_t i;
    for (i = 0; i < num_options; ++i) {
        const char *k = options[i].key, *v = options[i].value;
        if (strcmp(k, "mode") == 0) {
            snprintf(MODE, sizeof MODE, "%s", v);
        } else if (strcmp(k, "numel") == 0) {
            NUMEL = atoll(v);
        } else {
            return say(err, XPU_STATUS_INVALID_ARGUMENT, "hostile takes mode= and numel=");
        }
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
    "{\"domain\": \"\", \"op\": \"Relu\", \"opsets\": [14], \"dtypes\": [\"f32\"]}]}";

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

static int supported(const XpuOpCall *call)
{
    const XpuTensor *in, *out;
    int d;
    if ((call->domain != NULL && call->domain[0] != '\0') || strcmp(call->op_type, "Relu") != 0 ||
        call->opset != 14 || call->num_inputs != 1 || call->num_outputs != 1) {
        return 0;
    }
    in = &call->inputs[0];
    out = &call->outputs[0];
    if (in->dtype != XPU_DTYPE_F32 || out->dtype != XPU_DTYPE_F32 ||
        in->memory_kind != XPU_MEMORY_HOST || in->ndim != out->ndim || in->ndim < 0 ||
        in->ndim > MAX_RANK) {
        return 0;
    }
    for (d = 0; d < in->ndim; ++d) {
        if (in->shape[d] != out->shape[d]) {
            return 0;
        }
    }
    return 1;
}

static int32_t query_op(XpuContext *ctx, const XpuOpCall *call, XpuOpSupport *out, XpuError *err)
{
    (void)ctx;
    (void)err;
    if (out->struct_size >= sizeof(XpuOpSupport)) {
        int ok = supported(call);
        out->support = ok ? XPU_SUPPORT_NATIVE : XPU_SUPPORT_NONE;
        out->compute_precision = XPU_PRECISION_DEFAULT;
        snprintf(out->note, sizeof out->note, "%s", ok ? "" : "hostile only has f32 Relu/14");
    }
    return XPU_STATUS_OK;
}

/* The attack of `mode`; returns only for the modes that go on to compute. */
static void attack(void)
{
    if (strcmp(MODE, "print") == 0) {
        printf("hostile: vendor noise on stdout\n");
        fflush(stdout);
    } else if (strcmp(MODE, "exit0") == 0) {
        exit(0);
    } else if (strcmp(MODE, "hang") == 0) {
        sleep(3600);
    } else if (strcmp(MODE, "kill_parent") == 0) {
        kill(getppid(), SIGKILL);
        sleep(5); /* the harness must not get an answer in the meantime */
    } else if (strcmp(MODE, "kill_group") == 0) {
        kill(0, SIGKILL);
    }
}

static int32_t run_op(XpuContext *ctx, const XpuOpCall *call, XpuStream *stream, XpuError *err)
{
    const XpuTensor *in = &call->inputs[0], *out = &call->outputs[0];
    long long numel = 1, i;
    int d;

    (void)ctx;
    (void)stream;
    if (!supported(call)) {
        return say(err, XPU_STATUS_UNSUPPORTED, "hostile only has f32 Relu/14");
    }
    for (d = 0; d < out->ndim; ++d) {
        numel *= out->shape[d];
    }
    if (NUMEL < 0 || NUMEL == numel) {
        attack();
    }
    for (i = 0; i < numel; ++i) {
        long long rest = i, off = 0;
        float v;
        for (d = out->ndim - 1; d >= 0; --d) {
            off += (rest % out->shape[d]) * in->strides[d];
            rest /= out->shape[d];
        }
        memcpy(&v, (const char *)in->data + in->byte_offset + (size_t)off * sizeof v, sizeof v);
        v = v > 0.0f ? v : (v != v ? v : 0.0f);
        memcpy((char *)out->data + out->byte_offset + (size_t)i * sizeof v, &v, sizeof v);
    }
    return XPU_STATUS_OK;
}

static const XpuBackendApi API = {
    sizeof(XpuBackendApi),
    XPU_ABI_MAJOR,
    XPU_ABI_MINOR,
    "testlib-hostile",
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
        return say(err, XPU_STATUS_INVALID_ARGUMENT, "hostile speaks ABI major 1");
    }
    *out_api = &API;
    return XPU_STATUS_OK;
}
