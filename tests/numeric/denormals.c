/* Denormals in a generated model (built by tests/numeric/denormals.sh; see the
 * "NaN, infinities and denormals" section of README.md). Checks, printing one line each:
 *   flush     a denormal input gives bit for bit what an all-zero input gives (the model's
 *             biases are zero, so that is all zeros) -- or, built with
 *             -DCNNC_KEEP_DENORMALS, some output is nonzero: the test can tell the two;
 *   restore   the caller's FTZ/DAZ bits are as they were after a prediction, whether they
 *             were off or on, and the caller's own arithmetic still makes denormals.
 * Exit status 0 iff all hold. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cnnc_model_names.h"
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif


static float zero_in[CNNC_IN_SIZE], tiny_in[CNNC_IN_SIZE], zero_out[CNNC_OUT_SIZE], tiny_out[CNNC_OUT_SIZE];
static float ws[CNNC_WS_SIZE / sizeof(float) + 16];

int main(void)
{
    int bad = 0;
    for (int i = 0; i < CNNC_IN_SIZE; ++i) tiny_in[i] = (float)(((i % 7) + 1) * 1e-40);
    CNNC_PREDICT_WS(zero_in, zero_out, ws);
    CNNC_PREDICT_WS(tiny_in, tiny_out, ws);
    int nonzero = 0;
    for (int i = 0; i < CNNC_OUT_SIZE; ++i) nonzero += tiny_out[i] != 0.0f;
#ifdef CNNC_KEEP_DENORMALS
    printf("%s keep: %d of %d outputs of the denormal input are nonzero\n", nonzero ? "ok  " : "FAIL", nonzero,
           CNNC_OUT_SIZE);
    bad += nonzero == 0;
#else
    int same = memcmp(zero_out, tiny_out, sizeof zero_out) == 0;
    printf("%s flush: denormal input %s the all-zero input's output (%d nonzero)\n", same ? "ok  " : "FAIL",
           same ? "gives" : "does not give", nonzero);
    bad += !same;
#endif
#if defined(__x86_64__)
    const unsigned bits = 0x8040u;
    const unsigned before = _mm_getcsr();
    for (int on = 0; on < 2; ++on) {
        _mm_setcsr(on ? (before | bits) : (before & ~bits));
        CNNC_PREDICT_WS(tiny_in, tiny_out, ws);
        unsigned after = _mm_getcsr() & bits, want = on ? bits : 0u;
        printf("%s restore: FTZ/DAZ %s before a prediction, %s after\n", after == want ? "ok  " : "FAIL",
               on ? "on" : "off", after == bits ? "on" : (after == 0 ? "off" : "half on"));
        bad += after != want;
    }
    _mm_setcsr(before & ~bits);
    volatile float a = 1e-30f, b = 1e-10f;
    float c = a * b;
    printf("%s caller: 1e-30f * 1e-10f = %g after predictions\n", c != 0.0f ? "ok  " : "FAIL", (double)c);
    bad += c == 0.0f;
    _mm_setcsr(before);
#endif
    return bad != 0;
}
