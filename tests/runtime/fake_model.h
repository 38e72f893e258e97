/* fake_model.h: two tiny hand-written models in the shape of a generated NAME.h
 *
 * The runtime tests link these instead of compiled networks: `fake` doubles a
 * (5, 6, 3) input (H != W so a swapped axis shows), `fakecls` is a softmax over 10
 * inputs, for the class-probability printing. Unlike generated code they keep a call
 * count and the last workspace pointer, so tests can check what the CLI passed in.
 */
#ifndef FAKE_MODEL_H
#define FAKE_MODEL_H

#define FAKE_INPUT_SIZE 90
#define FAKE_OUTPUT_SIZE 90
#define FAKE_INPUT_RANK 3
#define FAKE_INPUT_SHAPE {5, 6, 3}
#define FAKE_OUTPUT_RANK 3
#define FAKE_OUTPUT_SHAPE {5, 6, 3}
#define FAKE_OUTPUT_SOFTMAX 0
#define FAKE_WORKSPACE_SIZE 360
#define FAKE_TARGET "generic"
int fake_cpu_supported(void);
void fake_predict(const float *input, float *output);
void fake_predict_ws(const float *input, float *output, void *workspace);

#define FAKECLS_INPUT_SIZE 10
#define FAKECLS_OUTPUT_SIZE 10
#define FAKECLS_INPUT_RANK 1
#define FAKECLS_INPUT_SHAPE {10}
#define FAKECLS_OUTPUT_RANK 1
#define FAKECLS_OUTPUT_SHAPE {10}
#define FAKECLS_OUTPUT_SOFTMAX 1
#define FAKECLS_WORKSPACE_SIZE 0
#define FAKECLS_TARGET "generic"
int fakecls_cpu_supported(void);
void fakecls_predict(const float *input, float *output);
void fakecls_predict_ws(const float *input, float *output, void *workspace);

/* fakepair: two inputs a (2) and b (3), outputs twice_a (2), b_plus_1 (3) and an
 * empty (2, 0): the header of a model with several inputs and outputs. */
#define FAKEPAIR_INPUT_SIZE 5
#define FAKEPAIR_OUTPUT_SIZE 5
#define FAKEPAIR_INPUT_RANK 1
#define FAKEPAIR_INPUT_SHAPE {5}
#define FAKEPAIR_OUTPUT_RANK 1
#define FAKEPAIR_OUTPUT_SHAPE {5}
#define FAKEPAIR_OUTPUT_SOFTMAX 0
#define FAKEPAIR_WORKSPACE_SIZE 0
#define FAKEPAIR_TARGET "generic"
#define FAKEPAIR_NUM_INPUTS 2
#define FAKEPAIR_NUM_OUTPUTS 3
#define FAKEPAIR_INPUT_LIST {{"a", 0, 2, 1, {2}, "float32"}, {"b", 2, 3, 1, {3}, "uint8"}}
#define FAKEPAIR_OUTPUT_LIST {{"twice_a", 0, 2, 1, {2}, "float32"}, \
    {"b_plus_1", 2, 3, 1, {3}, "float32"}, {"nothing", 5, 0, 2, {2, 0}, "float32"}}
int fakepair_cpu_supported(void);
void fakepair_predict_ws(const float *input, float *output, void *workspace);

extern long fake_calls;
extern const void *fake_last_workspace;

#endif
