/* cnnc runtime: the command line of a generated model
 *
 * `NAME INPUT [-o OUTPUT] [--bench N] [--top K] [--help]`: reads INPUT (one input or a
 * batch), runs the model on every item with a single 64-byte aligned workspace, then
 * prints the outputs or writes them (.npy, one PGM per channel, or raw float32), and
 * optionally times the model. A model with several inputs and outputs (or none) takes
 * one INPUT file per input and -o once per output, both in the model's order (see
 * multi_main). It holds no model knowledge beyond the cnnc_model description, and does no I/O of its own beyond stdout/stderr: files go through
 * cnnc_io.c's atomic writers. Exit status: 0 ok, 1 I/O or data error, 2 usage error.
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnnc_internal.h"

#define CLI_PRINT_MAX 64        /* values printed per output before "... (N more)" */
#define CLI_PRINT_PER_LINE 8
#define CLI_TOP_DEFAULT 5
#define CLI_BENCH_MAX 10000000L /* keeps the timing array at most 80 MB */
#define CLI_WARMUP_RUNS 2

struct cli_options {
    const char *input, *output;
    long bench, top;
};

/* The model's shape, with a leading batch axis when batch >= 0; returns the rank. */
static int shape_of(long *shape, long batch, const int *model_shape, int rank)
{
    int i, b = batch >= 0;
    shape[0] = batch;
    for (i = 0; i < rank; i++)
        shape[b + i] = model_shape[i];
    return b + rank;
}

static void format_model_shape(char *out, size_t outlen, const int *model_shape, int rank)
{
    long shape[CNNC_ARRAY_MAX_RANK];
    shape_of(shape, -1, model_shape, rank);
    cnnc_shape_format(out, outlen, shape, rank);
}

static int ends_with(const char *s, const char *ext)
{
    size_t n = strlen(s), e = strlen(ext), i;
    if (n < e)
        return 0;
    for (i = 0; i < e; i++)
        if (tolower((unsigned char)s[n - e + i]) != ext[i]) /* ext is lower case */
            return 0;
    return 1;
}

static void usage_print(FILE *f, const cnnc_model *m)
{
    char in[96], out[96];
    format_model_shape(in, sizeof in, m->input_shape, m->input_rank);
    format_model_shape(out, sizeof out, m->output_shape, m->output_rank);
    fprintf(f,
        "usage: %s INPUT [-o OUTPUT] [--bench N] [--top K] [--help]\n"
        "\n"
        "Runs the %s model on INPUT and prints or writes its output.\n"
        "  input:  float32 %s, or a batch (N, %s\n"
        "  output: float32 %s%s\n"
        "\n"
        "INPUT       .npy (float32, float64 or uint8; uint8 values are not scaled),\n"
        "            .pgm/.ppm (binary P5/P6, values scaled to [0, 1]),\n"
        "            anything else: raw little-endian float32, one or more inputs\n"
        "-o OUTPUT   write the outputs instead of printing them:\n"
        "            .npy: one float32 array, with a batch axis if INPUT had one;\n"
        "            .pgm: one 8-bit image per channel, OUTPUT_<c>.pgm, each stretched\n"
        "                  from its min to its max (rank-3 output, single input only);\n"
        "            anything else: raw little-endian float32\n"
        "--bench N   time N runs of the model on the first input (after %d warm-up runs)\n"
        "--top K     for class probabilities, list the K most likely classes\n"
        "            (default %d, 0 for none)\n"
        "-h, --help  show this help\n",
        m->name, m->name, in, in + 1, out,
        m->output_is_softmax ? ", class probabilities (softmax)" : "", CLI_WARMUP_RUNS,
        CLI_TOP_DEFAULT);
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int usage_error(const cnnc_model *m, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", m->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (m->inputs != NULL || m->outputs != NULL)
        fprintf(stderr, "\nusage: %s INPUT... [-o OUTPUT]... [--bench N] [--help]\n", m->name);
    else
        fprintf(stderr, "\nusage: %s INPUT [-o OUTPUT] [--bench N] [--top K] [--help]\n", m->name);
    fprintf(stderr, "Try '%s --help' for more information.\n", m->name);
    return 2;
}

/* A whole decimal number in [lo, hi]. */
static int count_parse(long *v, const char *s, long lo, long hi)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -1;
    *v = strtol(s, &end, 10);
    return *end == '\0' && *v >= lo && *v <= hi ? 0 : -1;
}

/* Returns -1 to exit 0 (help shown), 0 to go on, 2 after a usage error. */
static int options_parse(struct cli_options *o, int argc, char **argv, const cnnc_model *m)
{
    char shape[96];
    int i, only_files = 0;
    o->input = o->output = NULL;
    o->bench = 0;
    o->top = CLI_TOP_DEFAULT;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes_value = strcmp(a, "-o") == 0 || strcmp(a, "--bench") == 0
                          || strcmp(a, "--top") == 0;
        if (only_files || a[0] != '-' || a[1] == '\0') {
            if (o->input != NULL)
                return usage_error(m, "more than one input: %s", a);
            o->input = a;
        } else if (strcmp(a, "--") == 0) {
            only_files = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage_print(stdout, m);
            return -1;
        } else if (!takes_value) {
            return usage_error(m, "unknown option %s", a);
        } else if (v == NULL) {
            return usage_error(m, "missing argument after %s", a);
        } else if (strcmp(a, "-o") == 0) {
            if (o->output != NULL)
                return usage_error(m, "-o given twice");
            o->output = v;
        } else if (strcmp(a, "--bench") == 0) {
            if (count_parse(&o->bench, v, 1, CLI_BENCH_MAX) != 0)
                return usage_error(m, "--bench needs a number of runs from 1 to %ld, not %s",
                                   CLI_BENCH_MAX, v);
        } else if (count_parse(&o->top, v, 0, INT_MAX) != 0) {
            return usage_error(m, "--top needs a number of classes (0 or more), not %s", v);
        }
        i += takes_value;
    }
    if (o->input == NULL)
        return usage_error(m, "missing INPUT");
    if (o->output != NULL && ends_with(o->output, ".ppm"))
        return usage_error(m, "cannot write %s: PPM output is not supported; use .pgm (one "
                           "image per channel) or .npy", o->output);
    format_model_shape(shape, sizeof shape, m->output_shape, m->output_rank);
    if (o->output != NULL && ends_with(o->output, ".pgm") && m->output_rank != 3)
        return usage_error(m, "cannot write %s: one PGM per channel needs an (H, W, C) output "
                           "but the model's is %s; use .npy", o->output, shape);
    return 0;
}

/* Catches a hand-written or stale description before it overruns a buffer. */
static int model_check(const cnnc_model *m, char *err, size_t errlen)
{
    size_t in = 1, out = 1;
    int i, ok = m->predict_ws != NULL && m->input_rank >= 1 && m->input_rank <= 4
                && m->output_rank >= 1 && m->output_rank <= 4;
    for (i = 0; ok && i < m->input_rank; i++) {
        ok = m->input_shape[i] >= 1;
        in *= (size_t)m->input_shape[i];
    }
    for (i = 0; ok && i < m->output_rank; i++) {
        ok = m->output_shape[i] >= 1;
        out *= (size_t)m->output_shape[i];
    }
    if (ok && in == m->input_size && out == m->output_size)
        return 0;
    cnnc_err_set(err, errlen, "model description", "ranks, shapes and sizes disagree");
    return -1;
}

/* One 8-bit image per output channel; on failure removes those already written, so
 * either all channels exist or none. */
static int pgm_channels_write(const char *path, const float *output, const cnnc_model *m,
                              char *err, size_t errlen)
{
    const int h = m->output_shape[0], w = m->output_shape[1], c = m->output_shape[2];
    size_t base = strlen(path) - 4, k;
    char *name = malloc(base + 32);
    int ch, rc = 0;

    if (name == NULL) {
        cnnc_err_set(err, errlen, path, "out of memory");
        return -1;
    }
    for (ch = 0; ch < c; ch++) {
        float lo = 0.0f, hi = 0.0f;
        int seen = 0;
        for (k = (size_t)ch; k < m->output_size; k += (size_t)c) {
            if (output[k] != output[k]) /* NaN takes no part in the range */
                continue;
            lo = !seen || output[k] < lo ? output[k] : lo;
            hi = !seen || output[k] > hi ? output[k] : hi;
            seen = 1;
        }
        sprintf(name, "%.*s_%d%s", (int)base, path, ch, path + base);
        if (cnnc_pgm_write(name, output, h, w, c, ch, lo, hi, err, errlen) != 0) {
            while (--ch >= 0) {
                sprintf(name, "%.*s_%d%s", (int)base, path, ch, path + base);
                remove(name);
            }
            rc = -1;
            break;
        }
    }
    free(name);
    return rc;
}

/* Orders numbers above NaN, which a plain `>` would leave unordered. */
static int value_beats(float a, float b)
{
    return a > b || (b != b && a == a);
}

/* Indices of the k largest values, largest first; ties keep the lower index first. */
static void top_print(const float *p, size_t n, size_t k)
{
    size_t *best = malloc(k * sizeof *best), used = 0, i, j;
    if (best == NULL)
        return;
    for (i = 0; i < n; i++) {
        for (j = used; j > 0 && value_beats(p[i], p[best[j - 1]]); j--)
            if (j < k)
                best[j] = best[j - 1];
        if (j < k) {
            best[j] = i;
            used += used < k;
        }
    }
    printf("top:");
    for (j = 0; j < used; j++)
        printf("%s %lu (%.4f)", j > 0 ? "," : "", (unsigned long)best[j], p[best[j]]);
    printf("\n");
    free(best);
}

static void outputs_print(const float *output, size_t items, const cnnc_model *m, long top)
{
    char shape[96];
    size_t item, i;
    format_model_shape(shape, sizeof shape, m->output_shape, m->output_rank);
    for (item = 0; item < items; item++) {
        const float *y = output + item * m->output_size;
        size_t shown = m->output_size < CLI_PRINT_MAX ? m->output_size : CLI_PRINT_MAX;
        printf("output[%lu] shape %s:\n", (unsigned long)item, shape);
        for (i = 0; i < shown; i++)
            printf("%s%.6g%s", i % CLI_PRINT_PER_LINE == 0 ? "  " : "", y[i],
                   i % CLI_PRINT_PER_LINE == CLI_PRINT_PER_LINE - 1 || i + 1 == shown
                       ? "\n" : " ");
        if (shown < m->output_size)
            printf("  ... (%lu more)\n", (unsigned long)(m->output_size - shown));
        if (m->output_is_softmax && m->output_rank == 1 && top > 0)
            top_print(y, m->output_size,
                      (size_t)top < m->output_size ? (size_t)top : m->output_size);
    }
}

static int double_compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int bench_run(const cnnc_model *m, const float *input, float *output, void *ws,
                     long runs)
{
    double *t = malloc((size_t)runs * sizeof *t), median;
    long r;
    if (t == NULL)
        return -1;
    for (r = 0; r < CLI_WARMUP_RUNS; r++)
        m->predict_ws(input, output, ws);
    for (r = 0; r < runs; r++) {
        double t0 = cnnc_time_now();
        m->predict_ws(input, output, ws);
        t[r] = cnnc_time_now() - t0;
    }
    qsort(t, (size_t)runs, sizeof *t, double_compare);
    median = runs % 2 ? t[runs / 2] : (t[runs / 2 - 1] + t[runs / 2]) / 2;
    printf("bench: %ld runs, median %.2f us, min %.2f us\n", runs, median * 1e6, t[0] * 1e6);
    free(t);
    return 0;
}

static int outputs_write(const char *path, const float *output, size_t items, int batched,
                         const cnnc_model *m, char *err, size_t errlen)
{
    long shape[CNNC_ARRAY_MAX_RANK];
    int rank;
    if (ends_with(path, ".npy")) {
        rank = shape_of(shape, batched ? (long)items : -1, m->output_shape, m->output_rank);
        return cnnc_npy_write(path, output, rank, shape, err, errlen);
    }
    if (ends_with(path, ".pgm")) {
        if (batched) {
            cnnc_err_set(err, errlen, path, "writing one image per channel needs a single "
                         "input, not a batch of %lu; use .npy", (unsigned long)items);
            return -1;
        }
        return pgm_channels_write(path, output, m, err, errlen);
    }
    return cnnc_raw_write(path, output, items * m->output_size, err, errlen);
}

/* ---------------------------------------------------------------- several tensors */

#define CLI_MAX_TENSORS 256

struct multi_options {
    const char *input[CLI_MAX_TENSORS], *output[CLI_MAX_TENSORS];
    int inputs, outputs;
    long bench;
};

static void tensor_shape_format(char *out, size_t outlen, const cnnc_tensor_info *t)
{
    long shape[CNNC_ARRAY_MAX_RANK];
    int i;
    for (i = 0; i < t->rank; i++)
        shape[i] = t->shape[i];
    cnnc_shape_format(out, outlen, shape, t->rank);
}

static void multi_usage_print(FILE *f, const cnnc_model *m)
{
    char shape[96];
    int k;
    fprintf(f, "usage: %s", m->name);
    for (k = 0; k < m->num_inputs; k++)
        fprintf(f, " %s", m->inputs[k].name);
    fprintf(f, " [-o OUTPUT]... [--bench N] [--help]\n\nRuns the %s model and prints or writes "
            "its outputs.\n", m->name);
    for (k = 0; k < m->num_inputs; k++) {
        tensor_shape_format(shape, sizeof shape, &m->inputs[k]);
        fprintf(f, "  input %d %-10s float32 %s (ONNX %s), or a batch (N, %s\n", k,
                m->inputs[k].name, shape, m->inputs[k].type, shape + 1);
    }
    if (m->num_inputs == 0)
        fprintf(f, "  the model takes no input\n");
    for (k = 0; k < m->num_outputs; k++) {
        tensor_shape_format(shape, sizeof shape, &m->outputs[k]);
        fprintf(f, "  output %d %-9s float32 %s (ONNX %s)\n", k, m->outputs[k].name, shape,
                m->outputs[k].type);
    }
    fprintf(f,
        "\n"
        "INPUT       one file per input, in the order above: .npy (float32, float64 or\n"
        "            uint8), .pgm/.ppm (values scaled to [0, 1]), anything else raw\n"
        "            little-endian float32; all inputs hold the same number of items\n"
        "-o OUTPUT   give it once per output, in the order above, to write the outputs\n"
        "            instead of printing them: .npy (with a batch axis if the inputs had\n"
        "            one), .pgm (one image per channel, rank-3 output, single item), or\n"
        "            raw little-endian float32. Integer and boolean outputs are written\n"
        "            as float32 values (exact; booleans 0 and 1).\n"
        "--bench N   time N runs of the model on the first item (after %d warm-up runs)\n"
        "-h, --help  show this help\n", CLI_WARMUP_RUNS);
}

static int multi_options_parse(struct multi_options *o, int argc, char **argv,
                               const cnnc_model *m)
{
    int i, only_files = 0;
    o->inputs = o->outputs = 0;
    o->bench = 0;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes_value = strcmp(a, "-o") == 0 || strcmp(a, "--bench") == 0;
        if (only_files || a[0] != '-' || a[1] == '\0') {
            if (o->inputs == CLI_MAX_TENSORS)
                return usage_error(m, "too many inputs");
            o->input[o->inputs++] = a;
        } else if (strcmp(a, "--") == 0) {
            only_files = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            multi_usage_print(stdout, m);
            return -1;
        } else if (!takes_value) {
            return usage_error(m, "unknown option %s", a);
        } else if (v == NULL) {
            return usage_error(m, "missing argument after %s", a);
        } else if (strcmp(a, "-o") == 0) {
            if (o->outputs == CLI_MAX_TENSORS)
                return usage_error(m, "too many -o");
            o->output[o->outputs++] = v;
        } else if (count_parse(&o->bench, v, 1, CLI_BENCH_MAX) != 0) {
            return usage_error(m, "--bench needs a number of runs from 1 to %ld, not %s",
                               CLI_BENCH_MAX, v);
        }
        i += takes_value;
    }
    if (o->inputs != m->num_inputs)
        return usage_error(m, "the model takes %d input file%s (one per input), got %d",
                           m->num_inputs, m->num_inputs == 1 ? "" : "s", o->inputs);
    if (o->outputs != 0 && o->outputs != m->num_outputs)
        return usage_error(m, "give -o once per output (%d), or not at all; got %d",
                           m->num_outputs, o->outputs);
    for (i = 0; i < o->outputs; i++) {
        const cnnc_tensor_info *t = &m->outputs[i];
        if (ends_with(o->output[i], ".ppm"))
            return usage_error(m, "cannot write %s: PPM output is not supported; use .pgm or "
                               ".npy", o->output[i]);
        if (ends_with(o->output[i], ".pgm") && t->rank != 3)
            return usage_error(m, "cannot write %s: one PGM per channel needs an (H, W, C) "
                               "output but '%s' has rank %d; use .npy", o->output[i], t->name,
                               t->rank);
    }
    return 0;
}

/* The sizes of the listed tensors add up, and fit the runtime's limits? */
static int multi_check(const cnnc_model *m, char *err, size_t errlen)
{
    size_t in = 0, out = 0, n;
    int k, i, ok = m->predict_ws != NULL && m->num_inputs >= 0 && m->num_outputs >= 1
                   && m->num_inputs <= CLI_MAX_TENSORS && m->num_outputs <= CLI_MAX_TENSORS;
    for (k = 0; ok && k < m->num_inputs + m->num_outputs; k++) {
        const cnnc_tensor_info *t = k < m->num_inputs ? &m->inputs[k]
                                                      : &m->outputs[k - m->num_inputs];
        ok = t->rank >= 1 && t->rank <= CNNC_ARRAY_MAX_RANK;
        for (i = 0, n = 1; ok && i < t->rank; i++) {
            ok = t->shape[i] >= 0;
            n *= (size_t)t->shape[i];
        }
        ok = ok && n == t->size && t->offset == (k < m->num_inputs ? in : out);
        if (k < m->num_inputs)
            in += n;
        else
            out += n;
    }
    if (ok && in == m->input_size && out == m->output_size)
        return 0;
    cnnc_err_set(err, errlen, "model description", "tensor shapes, offsets and sizes disagree");
    return -1;
}

/* Input k as a one-input model, for cnnc_input_read (ranks 1 to 4). */
static int input_view(cnnc_model *v, const cnnc_model *m, int k, char *err, size_t errlen)
{
    const cnnc_tensor_info *t = &m->inputs[k];
    int i;
    *v = *m;
    if (t->rank > 4 || t->size == 0) {
        cnnc_err_set(err, errlen, t->name, "input %d has %s; the command line reads inputs of "
                     "rank 1 to 4 with values", k, t->size == 0 ? "no values" : "rank > 4");
        return -1;
    }
    v->input_rank = t->rank;
    for (i = 0; i < t->rank; i++)
        v->input_shape[i] = t->shape[i];
    v->input_size = t->size;
    v->num_inputs = v->num_outputs = 1;
    v->inputs = v->outputs = NULL;
    return 0;
}

/* Output k of every item, gathered, written to path by its extension. */
static int multi_output_write(const char *path, const float *output, size_t items, int batched,
                              const cnnc_model *m, int k, char *err, size_t errlen)
{
    const cnnc_tensor_info *t = &m->outputs[k];
    long shape[CNNC_ARRAY_MAX_RANK + 1];
    float *y = malloc(items * t->size * sizeof *y + 1);
    size_t item;
    int i, rank = 0, rc;
    if (y == NULL) {
        cnnc_err_set(err, errlen, path, "out of memory");
        return -1;
    }
    for (item = 0; item < items; item++)
        memcpy(y + item * t->size, output + item * m->output_size + t->offset,
               t->size * sizeof *y);
    if (batched)
        shape[rank++] = (long)items;
    for (i = 0; i < t->rank; i++)
        shape[rank++] = t->shape[i];
    if (ends_with(path, ".npy")) {
        rc = cnnc_npy_write(path, y, rank, shape, err, errlen);
    } else if (ends_with(path, ".pgm")) {
        cnnc_model v = *m;
        v.output_rank = 3;
        for (i = 0; i < 3; i++)
            v.output_shape[i] = t->shape[i];
        v.output_size = t->size;
        if (items != 1) {
            cnnc_err_set(err, errlen, path, "writing one image per channel needs a single "
                         "input, not a batch of %lu; use .npy", (unsigned long)items);
            rc = -1;
        } else {
            rc = pgm_channels_write(path, y, &v, err, errlen);
        }
    } else {
        rc = cnnc_raw_write(path, y, items * t->size, err, errlen);
    }
    free(y);
    return rc;
}

static void multi_print(const float *output, size_t items, const cnnc_model *m)
{
    char shape[96];
    size_t item, i;
    int k;
    for (item = 0; item < items; item++) {
        for (k = 0; k < m->num_outputs; k++) {
            const cnnc_tensor_info *t = &m->outputs[k];
            const float *y = output + item * m->output_size + t->offset;
            size_t shown = t->size < CLI_PRINT_MAX ? t->size : CLI_PRINT_MAX;
            tensor_shape_format(shape, sizeof shape, t);
            printf("output[%lu] %s shape %s:\n", (unsigned long)item, t->name, shape);
            for (i = 0; i < shown; i++)
                printf("%s%.6g%s", i % CLI_PRINT_PER_LINE == 0 ? "  " : "", y[i],
                       i % CLI_PRINT_PER_LINE == CLI_PRINT_PER_LINE - 1 || i + 1 == shown
                           ? "\n" : " ");
            if (shown < t->size)
                printf("  ... (%lu more)\n", (unsigned long)(t->size - shown));
        }
    }
}

/* `NAME IN_0 IN_1 ... [-o OUT_0 -o OUT_1 ...] [--bench N]`: each input file holds one
 * item or a batch (all the same number of items); the items are laid out one after
 * another as the model takes them, run, and each output is printed or written to its
 * own file. */
/* Checked before any model code runs: a missing instruction set is a message, not SIGILL.
 * Returns 1 (after saying so) when this CPU lacks the model's instruction set. */
static int cpu_lacks_target(const cnnc_model *m)
{
    if (m->cpu_supported == NULL || m->cpu_supported())
        return 0;
    fprintf(stderr, "%s: error: this program was built for the '%s' instruction set, which "
            "this CPU lacks; rebuild with `cnnc build --target generic` (or a target this "
            "CPU has)\n", m->name, m->target ? m->target : "?");
    return 1;
}

/* The model's workspace, 64-byte aligned inside *block (malloc'd, NULL when out of memory;
 * the caller frees it). Over-allocated and rounded up by hand: posix_memalign would make
 * this file POSIX. */
static void *workspace_new(const cnnc_model *m, unsigned char **block)
{
    *block = m->workspace_size <= (size_t)-1 - 64 ? malloc(m->workspace_size + 64) : NULL;
    if (*block == NULL)
        return NULL;
    return *block + (64 - (size_t)((uintptr_t)*block % 64)) % 64;
}

/* What both entry points do last: --bench's timing runs, then stdout flushed and checked.
 * Returns 0, or -1 with err set. */
static int finish(const cnnc_model *m, long bench, const float *input, float *output, void *ws,
                  char *err, size_t errsize)
{
    if (bench > 0 && bench_run(m, input, output, ws, bench) != 0) {
        cnnc_err_set(err, errsize, "--bench", "out of memory for %ld timings", bench);
        return -1;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cnnc_err_set(err, errsize, "stdout", "write error");
        return -1;
    }
    return 0;
}

static int multi_main(int argc, char **argv, const cnnc_model *m)
{
    struct multi_options o;
    cnnc_array in[CLI_MAX_TENSORS];
    char err[1024];
    unsigned char *ws_block = NULL;
    float *input = NULL, *output = NULL;
    void *ws;
    size_t items = 1, item;
    int k, batched = 0, rc = 1;

    for (k = 0; k < CLI_MAX_TENSORS; k++)
        in[k].data = NULL;
    if (multi_check(m, err, sizeof err) != 0) {
        fprintf(stderr, "%s: error: %s\n", m->name, err);
        return 1;
    }
    rc = multi_options_parse(&o, argc, argv, m);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    rc = 1;
    if (cpu_lacks_target(m))
        return 1;
    for (k = 0; k < m->num_inputs; k++) {
        cnnc_model v;
        size_t n;
        if (input_view(&v, m, k, err, sizeof err) != 0
            || cnnc_input_read(&in[k], o.input[k], &v, err, sizeof err) != 0)
            goto fail;
        n = in[k].count / m->inputs[k].size;
        if (k > 0 && n != items) {
            cnnc_err_set(err, sizeof err, o.input[k], "holds %lu items, but %s holds %lu; every "
                         "input needs as many", (unsigned long)n, o.input[0], (unsigned long)items);
            goto fail;
        }
        items = n;
        batched |= in[k].rank > m->inputs[k].rank;
    }
    ws = workspace_new(m, &ws_block);
    input = malloc(items * m->input_size * sizeof *input + 1);
    output = items <= ((size_t)-1 - 1) / sizeof *output / (m->output_size + 1)
                 ? malloc(items * m->output_size * sizeof *output + 1) : NULL;
    if (ws == NULL || input == NULL || output == NULL) {
        cnnc_err_set(err, sizeof err, m->name, "out of memory for a %lu-byte workspace "
                     "and %lu items", (unsigned long)m->workspace_size, (unsigned long)items);
        goto fail;
    }
    for (item = 0; item < items; item++)
        for (k = 0; k < m->num_inputs; k++)
            memcpy(input + item * m->input_size + m->inputs[k].offset,
                   in[k].data + item * m->inputs[k].size, m->inputs[k].size * sizeof *input);
    for (item = 0; item < items; item++)
        m->predict_ws(input + item * m->input_size, output + item * m->output_size, ws);
    if (o.outputs > 0) {
        for (k = 0; k < m->num_outputs; k++)
            if (multi_output_write(o.output[k], output, items, batched, m, k, err,
                                   sizeof err) != 0)
                goto fail;
    } else {
        multi_print(output, items, m);
    }
    if (finish(m, o.bench, input, output, ws, err, sizeof err) != 0)
        goto fail;
    rc = 0;
fail:
    if (rc != 0)
        fprintf(stderr, "%s: error: %s\n", m->name, err);
    for (k = 0; k < m->num_inputs; k++)
        cnnc_array_free(&in[k]);
    free(ws_block);
    free(input);
    free(output);
    return rc;
}

int cnnc_cli_main(int argc, char **argv, const cnnc_model *m)
{
    struct cli_options o;
    cnnc_array in;
    char err[1024];
    unsigned char *ws_block = NULL;
    float *output = NULL;
    void *ws;
    size_t items, item;
    int batched, rc = 1;

    if (m->inputs != NULL || m->outputs != NULL)
        return multi_main(argc, argv, m);

    if (model_check(m, err, sizeof err) != 0) {
        fprintf(stderr, "%s: error: %s\n", m->name, err);
        return 1;
    }
    rc = options_parse(&o, argc, argv, m);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    rc = 1;
    if (cpu_lacks_target(m))
        return 1;
    if (cnnc_input_read(&in, o.input, m, err, sizeof err) != 0)
        goto fail;
    items = in.count / m->input_size;
    batched = in.rank > m->input_rank;

    ws = workspace_new(m, &ws_block);
    output = items <= (size_t)-1 / sizeof *output / m->output_size
                 ? malloc(items * m->output_size * sizeof *output) : NULL;
    if (ws == NULL || output == NULL) {
        cnnc_err_set(err, sizeof err, o.input, "out of memory for a %lu-byte workspace "
                     "and %lu outputs", (unsigned long)m->workspace_size, (unsigned long)items);
        goto fail;
    }
    for (item = 0; item < items; item++)
        m->predict_ws(in.data + item * m->input_size, output + item * m->output_size, ws);

    if (o.output != NULL) {
        if (outputs_write(o.output, output, items, batched, m, err, sizeof err) != 0)
            goto fail;
    } else {
        outputs_print(output, items, m, o.top);
    }
    if (finish(m, o.bench, in.data, output, ws, err, sizeof err) != 0)
        goto fail;
    rc = 0;
fail:
    if (rc != 0)
        fprintf(stderr, "%s: error: %s\n", m->name, err);
    cnnc_array_free(&in);
    free(ws_block);
    free(output);
    return rc;
}
