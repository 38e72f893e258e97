/* cnnc runtime: main() of a generated model's executable
 *
 * Compiled once per model, with the generated header and the model's names passed on the
 * command line, e.g. for a model `mnist`:
 *   -DCNNC_MODEL_HEADER='"mnist.h"' -DCNNC_MODEL=mnist -DCNNC_MODEL_UC=MNIST
 * It only turns NAME.h's macros into a cnnc_model (by token pasting) and hands over to
 * cnnc_cli_main; everything else is in cnnc_cli.c and the I/O files.
 */
#include "cnnc_model_names.h"
#include "cnnc_runtime.h"

/* A header for several inputs or outputs (or none) lists them (an undefined name is 0 in #if). */
#if CNNC_UC(_NUM_OUTPUTS) + 0 > 0
static const cnnc_tensor_info cnnc_inputs[] = CNNC_UC(_INPUT_LIST);
static const cnnc_tensor_info cnnc_outputs[] = CNNC_UC(_OUTPUT_LIST);
#define CNNC_TENSORS CNNC_UC(_NUM_INPUTS), CNNC_UC(_NUM_OUTPUTS), cnnc_inputs, cnnc_outputs
#else
#define CNNC_TENSORS 1, 1, NULL, NULL
#endif

/* Fails to compile (negative array size) if the header breaks the runtime's limits. */
typedef char cnnc_check_ranks[CNNC_UC(_INPUT_RANK) >= 1 && CNNC_UC(_INPUT_RANK) <= 4
                              && CNNC_UC(_OUTPUT_RANK) >= 1 && CNNC_UC(_OUTPUT_RANK) <= 4
                              ? 1 : -1];

/* A --threads build (compiled with -DCNNC_TEAM_API): its team API behind the runtime's
 * model-independent signatures. */
#ifdef CNNC_TEAM_API
static void *team_start(void *memory, int threads) { return CNNC_TEAM_START(memory, threads); }
static int team_threads(void *team) { return CNNC_TEAM_THREADS((CNNC_TEAM *)team); }
static void predict_team(void *team, const float *input, float *output, void *workspace)
{
    CNNC_PREDICT_TEAM((CNNC_TEAM *)team, input, output, workspace);
}
static void predict_batch_team(void *team, int n, const float *inputs, float *outputs, void *workspaces)
{
    CNNC_PREDICT_BATCH_TEAM((CNNC_TEAM *)team, n, inputs, outputs, workspaces);
}
static void team_stop(void *team) { CNNC_TEAM_STOP((CNNC_TEAM *)team); }
#define CNNC_TEAM_OPS CNNC_MAX_THREADS, CNNC_TEAM_SIZE, team_start, team_threads, predict_team, \
    predict_batch_team, team_stop
#else
#define CNNC_TEAM_OPS 1, 0, NULL, NULL, NULL, NULL, NULL
#endif

#ifdef CNNC_PROFILE_API
static const char *const cnnc_profile_names[] = CNNC_UC(_PROFILE_NAMES);
#define CNNC_PROFILE_OPS CNNC_UC(_PROFILE_STEPS), cnnc_profile_names, CNNC_PASTE(CNNC_MODEL, _predict_profile)
#else
#define CNNC_PROFILE_OPS 0, NULL, NULL
#endif

static const cnnc_model cnnc_this_model = {
    CNNC_QUOTE(CNNC_MODEL),
    CNNC_UC(_INPUT_RANK), CNNC_UC(_INPUT_SHAPE),
    CNNC_UC(_OUTPUT_RANK), CNNC_UC(_OUTPUT_SHAPE),
    CNNC_UC(_INPUT_SIZE), CNNC_UC(_OUTPUT_SIZE),
    CNNC_UC(_WORKSPACE_SIZE),
    CNNC_UC(_OUTPUT_SOFTMAX),
    CNNC_PREDICT_WS,
    CNNC_UC(_TARGET),
    CNNC_PASTE(CNNC_MODEL, _cpu_supported),
    CNNC_TENSORS,
    CNNC_TEAM_OPS,
    CNNC_PROFILE_OPS,
};

int main(int argc, char **argv)
{
    return cnnc_cli_main(argc, argv, &cnnc_this_model);
}
