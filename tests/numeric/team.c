/* The team API of a --threads build (NAME_team_start, NAME_predict_team,
 * NAME_predict_batch_team, NAME_team_stop): every output bit-identical to NAME_predict_ws;
 * two teams used at once from two threads; teams of every size from 1 to MAX_THREADS;
 * batches smaller and larger than the team; out-of-range arguments refused. Built against
 * one generated model with -DCNNC_TEAM_API (tests/numeric/threads.sh) and run under
 * ThreadSanitizer. Exit status 0 iff everything matched. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "cnnc_model_names.h"

enum { INPUTS = 9 };

static float inputs[INPUTS][CNNC_IN_SIZE];
static float expected[INPUTS][CNNC_OUT_SIZE];
static int iterations = 10;

static void *aligned(size_t bytes)
{
    void *p = NULL;
    return posix_memalign(&p, 64, bytes > 0 ? bytes : 64) == 0 ? p : NULL;
}

/* One team of `threads` threads: single predictions, then batches of every size up to
 * INPUTS. Returns the number of outputs that differ from the expected ones. */
static long use_team(int threads)
{
    long bad = 0;
    void *memory = aligned(CNNC_TEAM_SIZE);
    void *ws = aligned((size_t)CNNC_WS_SIZE * CNNC_MAX_THREADS);
    float *out = malloc(sizeof(float) * CNNC_OUT_SIZE * INPUTS);
    CNNC_TEAM *team = CNNC_TEAM_START(memory, threads);
    if (!team || !ws || !out) return 1000;
    if (CNNC_TEAM_THREADS(team) < 1 || CNNC_TEAM_THREADS(team) > threads) bad++;
    for (int it = 0; it < iterations; ++it) {
        for (int k = 0; k < INPUTS; ++k) {
            memset(out, 0xff, sizeof(float) * CNNC_OUT_SIZE);
            CNNC_PREDICT_TEAM(team, inputs[k], out, ws);
            if (memcmp(out, expected[k], sizeof(float) * CNNC_OUT_SIZE) != 0) bad++;
        }
        for (int n = 1; n <= INPUTS; ++n) {
            memset(out, 0xff, sizeof(float) * CNNC_OUT_SIZE * INPUTS);
            CNNC_PREDICT_BATCH_TEAM(team, n, &inputs[0][0], out, ws);
            for (int k = 0; k < n; ++k)
                if (memcmp(out + (size_t)k * CNNC_OUT_SIZE, expected[k], sizeof(float) * CNNC_OUT_SIZE) != 0) bad++;
        }
    }
    CNNC_TEAM_STOP(team);
    free(memory);
    free(ws);
    free(out);
    return bad;
}

static void *run(void *arg)
{
    long *bad = arg;
    *bad = use_team(CNNC_MAX_THREADS);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1) iterations = atoi(argv[1]);
    for (int k = 0; k < INPUTS; ++k) {
        for (int i = 0; i < CNNC_IN_SIZE; ++i) inputs[k][i] = (float)sin(0.41 * i + 1.7 * k) * 0.8f + 0.1f * (float)k;
    }
    inputs[1][0] = NAN;
    inputs[2][CNNC_IN_SIZE / 2] = INFINITY;
    void *ws = aligned(CNNC_WS_SIZE);
    for (int k = 0; k < INPUTS; ++k) CNNC_PREDICT_WS(inputs[k], expected[k], ws);
    free(ws);
    long bad = 0;
    /* Out of range: no team. */
    static union { unsigned char b[CNNC_TEAM_SIZE]; void *p; long double d; } m;
    if (CNNC_TEAM_START(&m, 0) != NULL || CNNC_TEAM_START(&m, CNNC_MAX_THREADS + 1) != NULL
            || CNNC_TEAM_START(NULL, 1) != NULL) {
        fprintf(stderr, "a team was started with arguments out of range\n");
        bad++;
    }
    for (int t = 1; t <= CNNC_MAX_THREADS; ++t) {
        long b = use_team(t);
        if (b) fprintf(stderr, "a team of %d: %ld outputs differ from predict_ws\n", t, b);
        bad += b;
    }
    /* Two teams at once. */
    pthread_t tid[2];
    long tb[2] = { 0, 0 };
    for (int i = 0; i < 2; ++i)
        if (pthread_create(&tid[i], NULL, run, &tb[i]) != 0) return 2;
    for (int i = 0; i < 2; ++i) {
        pthread_join(tid[i], NULL);
        if (tb[i]) fprintf(stderr, "team %d used beside another: %ld outputs differ\n", i, tb[i]);
        bad += tb[i];
    }
    printf("teams of 1 to %d threads, single predictions and batches of 1 to %d: %s\n", CNNC_MAX_THREADS, INPUTS,
        bad ? "MISMATCH" : "bit-identical");
    return bad ? 1 : 0;
}
