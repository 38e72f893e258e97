/* fake_model.c: the models of fake_model.h (see there) */
#include <math.h>
#include <string.h>

#include "fake_model.h"

long fake_calls;
const void *fake_last_workspace;

static unsigned char fake_arena[FAKE_WORKSPACE_SIZE];

void fake_predict_ws(const float *input, float *output, void *workspace)
{
    float *tmp = workspace;
    int i;
    fake_calls++;
    fake_last_workspace = workspace;
    /* Goes through the whole workspace so a sanitizer sees a short one. */
    for (i = 0; i < FAKE_INPUT_SIZE; i++)
        tmp[i] = 2.0f * input[i];
    memcpy(output, tmp, sizeof(float) * FAKE_OUTPUT_SIZE);
}

void fake_predict(const float *input, float *output)
{
    fake_predict_ws(input, output, fake_arena);
}

void fakecls_predict_ws(const float *input, float *output, void *workspace)
{
    float sum = 0.0f;
    int i;
    fake_calls++;
    fake_last_workspace = workspace;
    for (i = 0; i < FAKECLS_OUTPUT_SIZE; i++) {
        output[i] = expf(input[i]);
        sum += output[i];
    }
    for (i = 0; i < FAKECLS_OUTPUT_SIZE; i++)
        output[i] /= sum;
}

void fakecls_predict(const float *input, float *output)
{
    fakecls_predict_ws(input, output, NULL);
}

void fakepair_predict_ws(const float *input, float *output, void *workspace)
{
    fake_calls++;
    fake_last_workspace = workspace;
    output[0] = 2.0f * input[0];
    output[1] = 2.0f * input[1];
    output[2] = input[2] + 1.0f;
    output[3] = input[3] + 1.0f;
    output[4] = input[4] + 1.0f;
}

int fake_cpu_supported(void) { return 1; }
int fakepair_cpu_supported(void) { return 1; }
int fakecls_cpu_supported(void) { return 1; }
