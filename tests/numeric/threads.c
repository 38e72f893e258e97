/* NAME_predict_ws from several threads at once, each with its own workspace: every
 * output must equal, bit for bit, what one thread computed alone first. Built against
 * one generated model (tests/numeric/threads.sh passes its header and names) and run
 * under ThreadSanitizer. Exit status 0 iff every output matched. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "cnnc_model_names.h"


enum { THREADS = 4, INPUTS = 8 };

static float inputs[INPUTS][CNNC_IN_SIZE];
static float expected[INPUTS][CNNC_OUT_SIZE];
static int iterations = 20;

struct worker {
    int id;
    long mismatches;
};

static void *run(void *arg)
{
    struct worker *w = arg;
    /* 64-byte aligned, as the SIMD kernels would like it (float alignment is the contract). */
    void *ws = NULL;
    if (posix_memalign(&ws, 64, CNNC_WS_SIZE > 0 ? CNNC_WS_SIZE : 64) != 0) {
        w->mismatches = -1;
        return NULL;
    }
    static float out_buf[THREADS][CNNC_OUT_SIZE];
    float *out = out_buf[w->id];
    for (int it = 0; it < iterations; ++it) {
        /* Each thread walks the inputs from a different start, so different inputs run at once. */
        int k = (it + w->id * 3) % INPUTS;
        memset(out, 0xff, sizeof(float) * CNNC_OUT_SIZE);
        CNNC_PREDICT_WS(inputs[k], out, ws);
        if (memcmp(out, expected[k], sizeof(float) * CNNC_OUT_SIZE) != 0) w->mismatches++;
    }
    free(ws);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1) iterations = atoi(argv[1]);
    for (int k = 0; k < INPUTS; ++k) {
        for (int i = 0; i < CNNC_IN_SIZE; ++i) inputs[k][i] = (float)sin(0.37 * i + 1.3 * k) * 0.8f + 0.1f * (float)k;
    }
    /* Include the specials: NaN and infinities must come out the same on every thread too. */
    inputs[1][0] = NAN;
    inputs[2][CNNC_IN_SIZE / 2] = INFINITY;
    inputs[3][CNNC_IN_SIZE - 1] = -INFINITY;
    void *ws = NULL;
    if (posix_memalign(&ws, 64, CNNC_WS_SIZE > 0 ? CNNC_WS_SIZE : 64) != 0) return 2;
    for (int k = 0; k < INPUTS; ++k) CNNC_PREDICT_WS(inputs[k], expected[k], ws);
    /* Running the same input twice on one thread gives the same bits. */
    for (int k = 0; k < INPUTS; ++k) {
        static float again[CNNC_OUT_SIZE];
        CNNC_PREDICT_WS(inputs[k], again, ws);
        if (memcmp(again, expected[k], sizeof again) != 0) {
            fprintf(stderr, "input %d: a second run on the same thread differs\n", k);
            return 1;
        }
    }
    free(ws);
    pthread_t tid[THREADS];
    struct worker w[THREADS];
    for (int t = 0; t < THREADS; ++t) {
        w[t].id = t;
        w[t].mismatches = 0;
        if (pthread_create(&tid[t], NULL, run, &w[t]) != 0) {
            fprintf(stderr, "cannot start thread %d\n", t);
            return 2;
        }
    }
    long bad = 0;
    for (int t = 0; t < THREADS; ++t) {
        pthread_join(tid[t], NULL);
        if (w[t].mismatches != 0) {
            fprintf(stderr, "thread %d: %ld outputs differ from the single-threaded run\n", t, w[t].mismatches);
            bad++;
        }
    }
    printf("%d threads x %d predictions: %s\n", THREADS, iterations, bad ? "MISMATCH" : "bit-identical");
    return bad ? 1 : 0;
}
