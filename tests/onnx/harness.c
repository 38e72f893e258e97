/* A minimal driver for generated models whose input or output has more than the four
 * axes the cnnc runtime's command line handles (tests/onnx/conformance.lua uses it for
 * those). Reads raw float32 items from argv[1], writes the outputs as raw float32 to
 * argv[2]. Compile with -DMODEL_HEADER='"NAME.h"' -DMODEL_PREDICT=NAME_predict
 * -DMODEL_CPU=NAME_cpu_supported -DMODEL_INPUT_SIZE_=UC_INPUT_SIZE
 * -DMODEL_OUTPUT_SIZE_=UC_OUTPUT_SIZE (UC: the model name in capitals). */
#include MODEL_HEADER

#include <stdio.h>
#include <stdlib.h>

int MODEL_CPU(void);
void MODEL_PREDICT(const float *input, float *output);

int main(int argc, char **argv)
{
    FILE *in, *out;
    long size, items, i;
    float *x, *y;
    if (argc != 3) {
        fprintf(stderr, "usage: %s INPUT.f32 OUTPUT.f32\n", argv[0]);
        return 2;
    }
    if (!MODEL_CPU()) {
        fprintf(stderr, "%s: this CPU lacks the instructions the model was built for\n", argv[0]);
        return 2;
    }
    in = fopen(argv[1], "rb");
    if (in == NULL || fseek(in, 0, SEEK_END) != 0 || (size = ftell(in)) <= 0 || fseek(in, 0, SEEK_SET) != 0) {
        fprintf(stderr, "%s: cannot read %s\n", argv[0], argv[1]);
        return 1;
    }
    items = size / (long)sizeof(float) / MODEL_INPUT_SIZE_;
    x = malloc((size_t)size);
    y = malloc((size_t)items * MODEL_OUTPUT_SIZE_ * sizeof(float));
    if (x == NULL || y == NULL || items < 1 || fread(x, 1, (size_t)size, in) != (size_t)size) {
        fprintf(stderr, "%s: bad input %s\n", argv[0], argv[1]);
        return 1;
    }
    fclose(in);
    for (i = 0; i < items; i++) MODEL_PREDICT(x + i * MODEL_INPUT_SIZE_, y + i * MODEL_OUTPUT_SIZE_);
    out = fopen(argv[2], "wb");
    if (out == NULL || fwrite(y, sizeof(float), (size_t)(items * MODEL_OUTPUT_SIZE_), out) != (size_t)(items * MODEL_OUTPUT_SIZE_)
        || fclose(out) != 0) {
        fprintf(stderr, "%s: cannot write %s\n", argv[0], argv[2]);
        return 1;
    }
    free(x);
    free(y);
    return 0;
}
