/* cnnc_so.c: the entry points of a model built as a shared library for LuaJIT's FFI
 *
 * Compiled beside a generated NAME.c into one shared object (cnnc.ffi.build), with the
 * model's names given on the command line as for the executable's main:
 *   -DCNNC_MODEL_HEADER='"mnist.h"' -DCNNC_MODEL=mnist -DCNNC_MODEL_UC=MNIST
 * Every library exports the same few names, so Lua declares them once and holds one
 * handle per model (libraries are loaded RTLD_LOCAL and linked -Bsymbolic, so two models
 * with the same name never resolve to each other's code). The batch loop runs here, in C:
 * a whole batch costs one FFI call.
 */
#if !defined(CNNC_MODEL_HEADER) || !defined(CNNC_MODEL) || !defined(CNNC_MODEL_UC)
#error "define CNNC_MODEL_HEADER, CNNC_MODEL and CNNC_MODEL_UC (see the comment above)"
#endif

#include <stddef.h>

#include CNNC_MODEL_HEADER

#define CNNC_PASTE_(a, b) a##b
#define CNNC_PASTE(a, b) CNNC_PASTE_(a, b)
#define CNNC_UC(suffix) CNNC_PASTE(CNNC_MODEL_UC, suffix)
#define CNNC_FN(suffix) CNNC_PASTE(CNNC_MODEL, suffix)

/* Sizes the Lua side checks against the graph it compiled, so a stale or foreign library
 * in the cache is refused instead of overrunning a buffer. */
size_t cnnc_so_input_size(void) { return CNNC_UC(_INPUT_SIZE); }
size_t cnnc_so_output_size(void) { return CNNC_UC(_OUTPUT_SIZE); }
size_t cnnc_so_workspace_size(void) { return CNNC_UC(_WORKSPACE_SIZE); }
const char *cnnc_so_target(void) { return CNNC_UC(_TARGET); }
int cnnc_so_cpu_supported(void) { return CNNC_FN(_cpu_supported)(); }

/* input: n * INPUT_SIZE floats, output: n * OUTPUT_SIZE floats, workspace:
 * WORKSPACE_SIZE bytes, 64-byte aligned. */
void cnnc_so_predict_batch(const float *input, float *output, void *workspace, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        CNNC_FN(_predict_ws)(input + i * CNNC_UC(_INPUT_SIZE), output + i * CNNC_UC(_OUTPUT_SIZE), workspace);
}
