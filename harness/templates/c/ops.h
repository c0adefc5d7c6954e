/*
 * ops.h -- what an operator of the {{name}} backend provides.
 *
 * One XcOp per ONNX operator, listed in XC_OPS (ops.c). backend.c builds the
 * manifest from the table and routes query_op / run_op through it.
 */
#ifndef XC_OPS_H
#define XC_OPS_H

#include "xpucert_backend.h"

/* What the manifest says about this library. */
#define XC_VENDOR "{{name}}"
#define XC_DEVICE "host CPU"
#define XC_VERSION "0.1.0"

typedef struct XcOp {
    const char *op_type;           /* ONNX operator name, e.g. "MatMul" */
    int64_t min_opset, max_opset;  /* the opsets whose semantics run() implements */
    const char *dtypes;            /* manifest dtypes, as JSON items: "\"f32\", \"f16\"" */
    /* Decides from metadata only (tensor data may be NULL during a query):
     * fills out->support (XPU_SUPPORT_*) and out->compute_precision, or calls
     * xc_decline() with the reason. */
    void (*query)(const XpuOpCall *call, XpuOpSupport *out);
    /* Runs a call that query() accepted; returns XPU_STATUS_*. */
    int32_t (*run)(const XpuOpCall *call, XpuError *err);
} XcOp;

/* The table, terminated by an entry whose op_type is NULL. */
extern const XcOp XC_OPS[];

/* Fills err (respecting its struct_size) and returns status. */
int32_t xc_fail(XpuError *err, int32_t status, const char *fmt, ...);
/* Sets out to SUPPORT_NONE with the reason as its note. */
int32_t xc_decline(XpuOpSupport *out, const char *fmt, ...);
/* A host tensor of this dtype with rank <= max_rank and sane shape/strides. */
int xc_is_host_tensor(const XpuTensor *t, int32_t dtype, int max_rank);
/* Number of elements (product of the shape; 1 for a scalar). */
int64_t xc_numel(const XpuTensor *t);
/* An integer attribute, or fallback when absent. */
int64_t xc_attr_int(const XpuOpCall *call, const char *name, int64_t fallback);
/* For an output whose size depends on the data (NonZero, Compress, Unique,
 * NonMaxSuppression; ABI minor 2): the outputs[i].ndim dims to overwrite
 * with the actual shape (each at most the allocated bound), after writing
 * the tensor contiguously at the start of the buffer. NULL for a
 * fixed-shape output, and always from a harness of an older minor (which
 * never sends these ops). */
int64_t *xc_output_dims(const XpuOpCall *call, size_t i);

#endif
