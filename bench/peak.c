/* bench/peak.c: the machine's measured peak FP32 throughput, the yardstick for
 * every "% of peak" in bench/results.md.
 *
 *   peak [--ms MS] [--reps N]
 *
 * Each kernel keeps ACC independent accumulator chains in vector registers and
 * updates each with acc = acc * a + b (a fused multiply-add, or a multiply then an add
 * for the no-FMA SSE row) in a loop with nothing else in it: enough chains to cover
 * FMA latency (4 cycles) times the FMA ports (2), so the loop runs at the issue limit.
 * Flops are counted as 2 per lane per FMA (or per multiply+add pair). Every ISA row is
 * measured on 1 thread and on every online core (pthreads, one chain set per thread,
 * started together; the wall time of the slowest thread counts). Each measurement
 * runs about MS milliseconds (default 2) and is repeated N times (default 301); we print
 * the median and the best. Short windows and many of them, because the machine is
 * shared: a 100 ms window is almost always cut by another process's time slice, while
 * among 301 windows of 2 ms some run undisturbed, so the best is the core's real rate.
 * ISAs the CPU lacks (checked with __builtin_cpu_supports) are skipped with a line.
 *
 * Output lines (parsed by bench/run.sh):
 *   peak ISA threads=T median=G best=G GFLOP/s (ACC chains x LANES lanes, OP)
 *   peak ISA: skipped (reason)
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Each kernel runs `iters` loop trips and returns a value depending on every
 * accumulator, so nothing can be optimised away. a < 1 and b small keep the values
 * bounded and far from denormals. */
#define CHAIN_A 0.9999999f
#define CHAIN_B 1e-7f

/* AVX-512: 16 of the 32 zmm registers as accumulators (2 FMA ports x 4 cycles = 8
 * needed; 16 leaves margin for a 2nd FMA unit with longer latency). */
__attribute__((target("avx512f"))) static float kernel_avx512(long iters)
{
    __m512 a = _mm512_set1_ps(CHAIN_A), b = _mm512_set1_ps(CHAIN_B);
    __m512 c0 = _mm512_set1_ps(0.0f), c1 = _mm512_set1_ps(0.1f), c2 = _mm512_set1_ps(0.2f),
           c3 = _mm512_set1_ps(0.3f), c4 = _mm512_set1_ps(0.4f), c5 = _mm512_set1_ps(0.5f),
           c6 = _mm512_set1_ps(0.6f), c7 = _mm512_set1_ps(0.7f), c8 = _mm512_set1_ps(0.8f),
           c9 = _mm512_set1_ps(0.9f), c10 = _mm512_set1_ps(1.0f), c11 = _mm512_set1_ps(1.1f),
           c12 = _mm512_set1_ps(1.2f), c13 = _mm512_set1_ps(1.3f), c14 = _mm512_set1_ps(1.4f),
           c15 = _mm512_set1_ps(1.5f);
    for (long i = 0; i < iters; i++) {
        c0 = _mm512_fmadd_ps(c0, a, b); c1 = _mm512_fmadd_ps(c1, a, b);
        c2 = _mm512_fmadd_ps(c2, a, b); c3 = _mm512_fmadd_ps(c3, a, b);
        c4 = _mm512_fmadd_ps(c4, a, b); c5 = _mm512_fmadd_ps(c5, a, b);
        c6 = _mm512_fmadd_ps(c6, a, b); c7 = _mm512_fmadd_ps(c7, a, b);
        c8 = _mm512_fmadd_ps(c8, a, b); c9 = _mm512_fmadd_ps(c9, a, b);
        c10 = _mm512_fmadd_ps(c10, a, b); c11 = _mm512_fmadd_ps(c11, a, b);
        c12 = _mm512_fmadd_ps(c12, a, b); c13 = _mm512_fmadd_ps(c13, a, b);
        c14 = _mm512_fmadd_ps(c14, a, b); c15 = _mm512_fmadd_ps(c15, a, b);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                             _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)),
                                       _mm512_add_ps(_mm512_add_ps(c12, c13), _mm512_add_ps(c14, c15))));
    return _mm512_reduce_add_ps(s);
}

/* AVX2 + FMA3 (and the 128-bit FMA row below): 12 accumulators + 2 constants fit the
 * 16 ymm/xmm registers without spills. */
#define CHAINS_12(T, SET1, FMA)                                                      \
    T a = SET1(CHAIN_A), b = SET1(CHAIN_B);                                          \
    T c0 = SET1(0.0f), c1 = SET1(0.1f), c2 = SET1(0.2f), c3 = SET1(0.3f),            \
      c4 = SET1(0.4f), c5 = SET1(0.5f), c6 = SET1(0.6f), c7 = SET1(0.7f),            \
      c8 = SET1(0.8f), c9 = SET1(0.9f), c10 = SET1(1.0f), c11 = SET1(1.1f);          \
    for (long i = 0; i < iters; i++) {                                               \
        c0 = FMA(c0, a, b); c1 = FMA(c1, a, b); c2 = FMA(c2, a, b);                  \
        c3 = FMA(c3, a, b); c4 = FMA(c4, a, b); c5 = FMA(c5, a, b);                  \
        c6 = FMA(c6, a, b); c7 = FMA(c7, a, b); c8 = FMA(c8, a, b);                  \
        c9 = FMA(c9, a, b); c10 = FMA(c10, a, b); c11 = FMA(c11, a, b);              \
    }

__attribute__((target("avx2,fma"))) static float kernel_avx2(long iters)
{
    CHAINS_12(__m256, _mm256_set1_ps, _mm256_fmadd_ps)
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                             _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
    float v[8];
    _mm256_storeu_ps(v, s);
    return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}

__attribute__((target("fma"))) static float kernel_fma128(long iters)
{
    CHAINS_12(__m128, _mm_set1_ps, _mm_fmadd_ps)
    __m128 s = _mm_add_ps(_mm_add_ps(_mm_add_ps(c0, c1), _mm_add_ps(c2, c3)),
                          _mm_add_ps(_mm_add_ps(c4, c5), _mm_add_ps(c6, c7)));
    s = _mm_add_ps(s, _mm_add_ps(_mm_add_ps(c8, c9), _mm_add_ps(c10, c11)));
    float v[4];
    _mm_storeu_ps(v, s);
    return v[0] + v[1] + v[2] + v[3];
}

/* SSE without FMA (what an -msse4.1 build can use): a multiply and a dependent add
 * per chain, 2 flops per lane per pair, like an FMA. */
#define MULADD(c, a, b) _mm_add_ps(_mm_mul_ps(c, a), b)
__attribute__((target("sse4.1"))) static float kernel_sse(long iters)
{
    CHAINS_12(__m128, _mm_set1_ps, MULADD)
    __m128 s = _mm_add_ps(_mm_add_ps(_mm_add_ps(c0, c1), _mm_add_ps(c2, c3)),
                          _mm_add_ps(_mm_add_ps(c4, c5), _mm_add_ps(c6, c7)));
    s = _mm_add_ps(s, _mm_add_ps(_mm_add_ps(c8, c9), _mm_add_ps(c10, c11)));
    float v[4];
    _mm_storeu_ps(v, s);
    return v[0] + v[1] + v[2] + v[3];
}

typedef struct {
    const char *name;
    const char *feature; /* for __builtin_cpu_supports; NULL: see check() */
    float (*kernel)(long);
    int chains, lanes;
    const char *op;
} isa_row;

static const isa_row ROWS[] = {
    { "avx512", "avx512f", kernel_avx512, 16, 16, "zmm FMA" },
    { "avx2", "avx2", kernel_avx2, 12, 8, "ymm FMA" },
    { "fma128", "fma", kernel_fma128, 12, 4, "xmm FMA" },
    { "sse", "sse4.1", kernel_sse, 12, 4, "xmm mul+add, no FMA" },
};

static int supported(const isa_row *r)
{
    __builtin_cpu_init();
    if (strcmp(r->feature, "avx512f") == 0)
        return __builtin_cpu_supports("avx512f");
    if (strcmp(r->feature, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (strcmp(r->feature, "fma") == 0)
        return __builtin_cpu_supports("fma");
    return __builtin_cpu_supports("sse4.1");
}

typedef struct {
    const isa_row *row;
    long iters;
    pthread_barrier_t *start;
    double t0, t1;
    float sink;
} job;

static void *thread_main(void *p)
{
    job *j = p;
    pthread_barrier_wait(j->start);
    j->t0 = now();
    j->sink = j->row->kernel(j->iters);
    j->t1 = now();
    return NULL;
}

/* GFLOP/s of `threads` threads running the kernel together for `iters` trips. */
static double measure(const isa_row *r, int threads, long iters, float *sink)
{
    pthread_t tid[MAX_THREADS];
    job jobs[MAX_THREADS];
    pthread_barrier_t start;
    double t0 = 1e300, t1 = 0;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int t = 0; t < threads; t++) {
        jobs[t] = (job){ r, iters, &start, 0, 0, 0 };
        if (t > 0)
            pthread_create(&tid[t], NULL, thread_main, &jobs[t]);
    }
    thread_main(&jobs[0]);
    for (int t = 1; t < threads; t++)
        pthread_join(tid[t], NULL);
    pthread_barrier_destroy(&start);
    for (int t = 0; t < threads; t++) {
        t0 = jobs[t].t0 < t0 ? jobs[t].t0 : t0;
        t1 = jobs[t].t1 > t1 ? jobs[t].t1 : t1;
        *sink += jobs[t].sink;
    }
    return 2.0 * r->chains * r->lanes * (double)iters * threads / (t1 - t0) * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    double ms = 2;
    int reps = 301;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc)
            ms = atof(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--ms MS] [--reps N]\n", argv[0]);
            return 2;
        }
    }
    if (reps < 1 || reps > 1000 || ms <= 0) {
        fprintf(stderr, "peak: --reps must be 1..1000 and --ms positive\n");
        return 2;
    }
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1)
        cores = 1;
    if (cores > MAX_THREADS)
        cores = MAX_THREADS;
    float sink = 0;
    double g[1000];
    for (size_t k = 0; k < sizeof ROWS / sizeof ROWS[0]; k++) {
        const isa_row *r = &ROWS[k];
        if (!supported(r)) {
            printf("peak %s: skipped (this CPU lacks %s)\n", r->name, r->feature);
            continue;
        }
        /* Calibrate the trip count to about `ms` per measurement on one thread. */
        long iters = 1 << 16;
        double gf = measure(r, 1, iters, &sink);
        iters = (long)(ms * 1e-3 * gf * 1e9 / (2.0 * r->chains * r->lanes));
        if (iters < 1000)
            iters = 1000;
        for (int threads = 1; threads <= cores; threads = threads < cores && threads * 2 > cores ? cores : threads * 2) {
            for (int i = 0; i < reps; i++)
                g[i] = measure(r, threads, iters, &sink);
            qsort(g, (size_t)reps, sizeof g[0], cmp_double);
            double median = reps % 2 ? g[reps / 2] : 0.5 * (g[reps / 2 - 1] + g[reps / 2]);
            printf("peak %s threads=%d median=%.1f best=%.1f GFLOP/s (%d chains x %d lanes, %s)\n",
                   r->name, threads, median, g[reps - 1], r->chains, r->lanes, r->op);
            fflush(stdout);
            if (threads == cores)
                break;
        }
    }
    if (sink == 12345.0f) /* keeps every result alive */
        printf("\n");
    return 0;
}
