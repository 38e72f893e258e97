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
};

int main(int argc, char **argv)
{
    return cnnc_cli_main(argc, argv, &cnnc_this_model);
}
