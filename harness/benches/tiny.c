/* The baseline of benches/dispatch.rs: the same tiny Relu as a plain C
 * function, called directly (no ABI structs, no validation, no dylib). */
#include <stddef.h>

void xpucert_bench_relu(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    }
}
