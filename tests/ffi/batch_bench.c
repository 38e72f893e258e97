/* batch_bench.c: a compiled model's throughput over a batch, in plain C
 *
 *   batch_bench BATCH.raw REPS      (BATCH.raw: float32 items of NAME_INPUT_SIZE each)
 *
 * The reference for tests/ffi/throughput.lua: the same generated NAME.c, compiled as
 * `cnnc build` compiles it (same compiler, flags, target), running the loop a script's
 * net:predict runs, so the two differ only in how the loop is called. Built with
 *   cc -std=c99 -O2 -iquote DIR -DCNNC_MODEL_HEADER='"NAME.h"' -DCNNC_MODEL=NAME
 *      -DCNNC_MODEL_UC=UPPERNAME batch_bench.c DIR/NAME.c -lm
 * Prints one line per repetition: "batch N items: SECONDS s".
 */
#define _POSIX_C_SOURCE 199309L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include CNNC_MODEL_HEADER

#define PASTE_(a, b) a##b
#define PASTE(a, b) PASTE_(a, b)
#define UC(suffix) PASTE(CNNC_MODEL_UC, suffix)
#define FN(suffix) PASTE(CNNC_MODEL, suffix)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    FILE *f;
    long size, reps, r;
    size_t n, i;
    float *in, *out;
    unsigned char *ws_block, *ws;

    if (argc != 3 || (reps = atol(argv[2])) < 1) {
        fprintf(stderr, "usage: %s BATCH.raw REPS\n", argv[0]);
        return 2;
    }
    if (!FN(_cpu_supported)()) {
        fprintf(stderr, "%s: this CPU lacks the %s instructions\n", argv[0], UC(_TARGET));
        return 1;
    }
    f = fopen(argv[1], "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "%s: cannot read %s\n", argv[0], argv[1]);
        return 1;
    }
    n = (size_t)size / (sizeof(float) * UC(_INPUT_SIZE));
    in = malloc((size_t)size);
    out = malloc(n * UC(_OUTPUT_SIZE) * sizeof(float) + 1);
    ws_block = malloc(UC(_WORKSPACE_SIZE) + 64);
    if (in == NULL || out == NULL || ws_block == NULL || fread(in, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "%s: cannot read %s\n", argv[0], argv[1]);
        return 1;
    }
    fclose(f);
    ws = ws_block + (64 - (uintptr_t)ws_block % 64) % 64;
    for (i = 0; i < n; i++) /* warm-up */
        FN(_predict_ws)(in + i * UC(_INPUT_SIZE), out + i * UC(_OUTPUT_SIZE), ws);
    for (r = 0; r < reps; r++) {
        double t0 = now();
        for (i = 0; i < n; i++)
            FN(_predict_ws)(in + i * UC(_INPUT_SIZE), out + i * UC(_OUTPUT_SIZE), ws);
        printf("batch %lu items: %.9f s\n", (unsigned long)n, now() - t0);
    }
    free(in);
    free(out);
    free(ws_block);
    return 0;
}
