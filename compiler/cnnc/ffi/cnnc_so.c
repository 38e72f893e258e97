/* cnnc_so.c: the entry points of a model built as a shared library for LuaJIT's FFI
 *
 * Compiled beside a generated NAME.c into one shared object (cnnc.ffi.build), with the
 * model's names given on the command line as for the executable's main:
 *   -DCNNC_MODEL_HEADER='"mnist.h"' -DCNNC_MODEL=mnist -DCNNC_MODEL_UC=MNIST
 * Every library exports the same few names, so Lua declares them once and holds one
 * handle per model (libraries are loaded RTLD_LOCAL and linked -Bsymbolic, so two models
 * with the same name never resolve to each other's code). The batch loop runs here, in C:
 * a whole batch costs one FFI call. A model built with --threads N keeps a team of threads
 * across calls (its NAME_team_* API): the Lua side starts one per compiled net and stops it
 * when the net is collected.
 */
#if !defined(CNNC_MODEL_HEADER) || !defined(CNNC_MODEL) || !defined(CNNC_MODEL_UC)
#error "define CNNC_MODEL_HEADER, CNNC_MODEL and CNNC_MODEL_UC (see the comment above)"
#endif

#include <stddef.h>
#include <stdlib.h>

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

/* The team API of a --threads build (the header defines NAME_MAX_THREADS); a
 * single-thread build gets stand-ins that run the plain loop above. */#if defined(CNNC_TEAM_API)
int cnnc_so_max_threads(void) { return CNNC_UC(_MAX_THREADS); }

/* A team of `threads` threads in memory of its own; NULL when none can be made. */
void *cnnc_so_team_start(int threads)
{
    void *memory = malloc(CNNC_UC(_TEAM_SIZE));
    void *team = memory ? CNNC_FN(_team_start)(memory, threads) : NULL;
    if (!team) free(memory);
    return team;
}

int cnnc_so_team_threads(void *team) { return CNNC_FN(_team_threads)(team); }

void cnnc_so_team_stop(void *team)
{
    CNNC_FN(_team_stop)(team);
    free(team);
}

/* n items on the team; workspaces: one WORKSPACE_SIZE block per team thread. */
void cnnc_so_predict_batch_team(void *team, const float *input, float *output, void *workspaces, size_t n)
{
    CNNC_FN(_predict_batch_team)(team, (int)n, input, output, workspaces);
}
#else
int cnnc_so_max_threads(void) { return 1; }
void *cnnc_so_team_start(int threads) { (void)threads; return NULL; }
int cnnc_so_team_threads(void *team) { (void)team; return 1; }
void cnnc_so_team_stop(void *team) { (void)team; }
void cnnc_so_predict_batch_team(void *team, const float *input, float *output, void *workspaces, size_t n)
{
    (void)team;
    cnnc_so_predict_batch(input, output, workspaces, n);
}
#endif
