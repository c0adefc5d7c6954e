/*
 * ops.c -- the operators of the {{name}} backend.
 *
 * The table is empty: every operator is reported as unsupported, which is not
 * a failure. To add one, write a query function (metadata only: decide
 * support and compute precision) and a run function, and add a row:
 *
 *   {"MatMul", 1, 13, "\"f32\"", matmul_query, matmul_run},
 *
 * docs/writing-a-backend.md in the xpucert repository walks through MatMul
 * and Softmax.
 */
#include "ops.h"

#include <stddef.h>

const XcOp XC_OPS[] = {
    {NULL, 0, 0, NULL, NULL, NULL} /* end of table */
};
