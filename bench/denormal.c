/* How much slower is a prediction whose input and activations are denormal floats
 * (|x| < 2^-126) than one on ordinary values? Times NAME_predict_ws on the same pattern
 * scaled to about 1 ("normal") and to about 1e-40 ("denormal": every product of it with
 * a weight is denormal too), interleaving the two so that load from other processes hits
 * both alike, and prints the best time of each and their ratio. Built by
 * bench/denormal.sh against one generated model.
 *
 *   denormal [SECONDS]   total measuring time (default 2) */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "cnnc_model_names.h"


static float normal_in[CNNC_IN_SIZE], denormal_in[CNNC_IN_SIZE], out[CNNC_OUT_SIZE];

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static double once(const float *in, void *ws)
{
    double t0 = now();
    CNNC_PREDICT_WS(in, out, ws);
    return now() - t0;
}

int main(int argc, char **argv)
{
    double budget = argc > 1 ? atof(argv[1]) : 2.0;
    void *ws = NULL;
    if (posix_memalign(&ws, 64, CNNC_WS_SIZE > 0 ? CNNC_WS_SIZE : 64) != 0) return 2;
    int denormals = 0;
    for (int i = 0; i < CNNC_IN_SIZE; ++i) {
        float v = 0.1f + 0.9f * (float)fabs(sin(0.37 * i + 0.5));
        normal_in[i] = v;
        denormal_in[i] = (float)(v * 1e-40);
        if (denormal_in[i] != 0.0f && fabsf(denormal_in[i]) < 1.1754944e-38f) denormals++;
    }
    /* Warm up, and size the rounds so that both inputs get about budget / 2 seconds. */
    double tn = once(normal_in, ws), td = once(denormal_in, ws);
    int rounds = (int)(budget / (tn + td + 1e-9));
    if (rounds < 2) rounds = 2;
    double best_n = tn, best_d = td;
    for (int r = 0; r < rounds; ++r) {
        double a = once(normal_in, ws), b = once(denormal_in, ws);
        if (a < best_n) best_n = a;
        if (b < best_d) best_d = b;
    }
    printf("normal %.4f ms, denormal %.4f ms, ratio %.2f (%d rounds; %d of %d inputs denormal)\n", 1e3 * best_n,
           1e3 * best_d, best_d / best_n, rounds, denormals, CNNC_IN_SIZE);
    free(ws);
    return 0;
}
