/* cnnc runtime: the command line of a generated model
 *
 * `NAME INPUT... [-o OUTPUT]... [--bench N] [--help]`: one INPUT file per model input and
 * -o once per output (or none, to print them), both in the model's order. Each input file
 * holds one item or a batch (all the same number of items); the items are run one after
 * another with a single 64-byte aligned workspace, then each output is printed or written
 * (.npy, one PGM per channel, or raw float32), and --bench optionally times the model.
 * A model built with --threads N runs on a team of threads kept for the whole run (its
 * NAME_team_* API; --threads picks how many): a batch of at least as many items as threads
 * is shared item by item, each thread with a workspace of its own.
 *
 * A model with one input and one output (inputs == outputs == NULL in its cnnc_model) is
 * run as lists of one tensor each, through the same parser, checks and main; it keeps
 * the shorter command line it has always had, `NAME INPUT [-o OUTPUT] [--bench N]
 * [--top K]`, with its own help and usage wording (`struct cli`'s `single`), and --top
 * for class probabilities.
 *
 * It holds no model knowledge beyond the cnnc_model description and does no I/O of its
 * own beyond stdout/stderr: files go through cnnc_io.c's atomic writers.
 * Exit status: 0 ok, 1 I/O or data error, 2 usage error.
 */
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
#define CLI_WARMUP_RUNS 2 /* --warmup's default */
#define CLI_MAX_TENSORS 256

/* The model with its inputs and outputs always listed, and the command line given. */
struct cli {
    cnnc_model m;
    cnnc_tensor_info one[2]; /* the lists of a single-tensor model: its input, its output */
    int single;              /* one input and one output: the `NAME INPUT` form */
    const char *input[CLI_MAX_TENSORS], *output[CLI_MAX_TENSORS];
    int inputs, outputs;     /* files given */
    long bench, top;
    long warmup;             /* --warmup: untimed runs before --bench's and --profile's */
    long threads;            /* the team's size (a --threads build) */
    const char *grad_output, *weight_grads; /* a --backward build's gradient run (cnnc_grad.c) */
    long profile;            /* --profile runs (a profile build) */
};

/* "(28, 28, 1)" for t; a batch's "(N, 28, 28, 1)" is "(N, " + that text + 1. */
static void shape_format(char *out, size_t outlen, const cnnc_tensor_info *t)
{
    long shape[CNNC_ARRAY_MAX_RANK];
    int i;
    for (i = 0; i < t->rank; i++)
        shape[i] = t->shape[i];
    cnnc_shape_format(out, outlen, shape, t->rank);
}

/* ---------------------------------------------------------------- help and usage */

static void help_single(FILE *f, const struct cli *c)
{
    char in[96], out[96];
    shape_format(in, sizeof in, &c->m.inputs[0]);
    shape_format(out, sizeof out, &c->m.outputs[0]);
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
        "--bench N   time N runs of the model on the first input (after the warm-up runs);\n"
        "            with a batch, also N / items runs of the whole batch (items per second,\n"
        "            after one warm-up batch)\n"
        "--warmup W  untimed runs before those --bench and --profile time (default %d)\n"
        "--top K     for class probabilities, list the K most likely classes\n"
        "            (default %d, 0 for none)\n",
        c->m.name, c->m.name, in, in + 1, out,
        c->m.output_is_softmax ? ", class probabilities (softmax)" : "", CLI_WARMUP_RUNS,
        CLI_TOP_DEFAULT);
    if (c->m.max_threads > 1)
        fprintf(f, "--threads N the threads to run on, 1 to %d (default %d)\n", c->m.max_threads,
                c->m.max_threads);
    if (c->m.backward_ws != NULL)
        fprintf(f,
            "\n"
            "%s INPUT --grad-output DY [-o DX] [--weight-grads DIR] [--bench N]\n"
            "            runs the backward pass instead (the gradient of the inference function):\n"
            "            DY, the gradient of the output: float32 %s, or (N, %s with a batch\n"
            "            (.npy or raw float32); -o writes the input gradient (INPUT's shape:\n"
            "            .npy, raw float32, or .pgm for a single image) and --weight-grads DIR\n"
            "            DIR/<layer>.<weight>.npy for each of the %d trainable weights (Keras\n"
            "            shapes, as --weights reads them), summed over the batch; without\n"
            "            either, prints them (weights: their norms). --bench N times N\n"
            "            backward passes of the first item.\n", c->m.name, out, out + 1, c->m.num_weights);
    if (c->m.predict_profile)
        fprintf(f, "--profile N run N times on the first input, one step after another, and print\n"
                   "            the median and least time of every step\n");
    fprintf(f, "-h, --help  show this help\n");
}

static void help_lists(FILE *f, const cnnc_model *m)
{
    char shape[96];
    int k;
    fprintf(f, "usage: %s", m->name);
    for (k = 0; k < m->num_inputs; k++)
        fprintf(f, " %s", m->inputs[k].name);
    fprintf(f, " [-o OUTPUT]... [--bench N] [--help]\n\nRuns the %s model and prints or writes "
            "its outputs.\n", m->name);
    for (k = 0; k < m->num_inputs; k++) {
        shape_format(shape, sizeof shape, &m->inputs[k]);
        fprintf(f, "  input %d %-10s float32 %s (ONNX %s), or a batch (N, %s\n", k,
                m->inputs[k].name, shape, m->inputs[k].type, shape + 1);
    }
    if (m->num_inputs == 0)
        fprintf(f, "  the model takes no input\n");
    for (k = 0; k < m->num_outputs; k++) {
        shape_format(shape, sizeof shape, &m->outputs[k]);
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
        "--bench N   time N runs of the model on the first item (after the warm-up runs);\n"
        "            with a batch, also N / items runs of the whole batch (items per second,\n"
        "            after one warm-up batch)\n"
        "--warmup W  untimed runs before those --bench and --profile time (default %d)\n",
        CLI_WARMUP_RUNS);
    if (m->max_threads > 1)
        fprintf(f, "--threads N the threads to run on, 1 to %d (default %d)\n", m->max_threads,
                m->max_threads);
    if (m->predict_profile)
        fprintf(f, "--profile N run N times on the first item, one step after another, and print\n"
                   "            the median and least time of every step\n");
    fprintf(f, "-h, --help  show this help\n");
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int usage_error(const struct cli *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", c->m.name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: %s %s\nTry '%s --help' for more information.\n", c->m.name,
            c->single ? "INPUT [-o OUTPUT] [--bench N] [--top K] [--help]"
                      : "INPUT... [-o OUTPUT]... [--bench N] [--help]", c->m.name);
    return 2;
}

/* ---------------------------------------------------------------- the model and the options */

/* *t: one of a single-tensor model's shapes as a list entry. Returns 0 if its rank is
 * not 1 to 4 (the length of cnnc_model's shape arrays) or an axis is empty. */
static int tensor_take(cnnc_tensor_info *t, const char *name, int rank, const int *shape,
                       size_t size)
{
    int i;
    t->name = name;
    t->offset = 0;
    t->size = size;
    t->rank = rank;
    t->type = "float32";
    if (rank < 1 || rank > 4)
        return 0;
    for (i = 0; i < rank; i++)
        if ((t->shape[i] = shape[i]) < 1)
            return 0;
    return 1;
}

/* c->m is m with its tensors listed: a single-tensor model's own shapes become lists of
 * one. Catches a hand-written or stale description before it overruns a buffer: the
 * listed sizes must add up and the offsets follow one another. Returns 0 or -1. */
static int model_take(struct cli *c, const cnnc_model *m, char *err, size_t errlen)
{
    size_t in = 0, out = 0, n;
    int k, i, ok = m->predict_ws != NULL;
    c->m = *m;
    c->single = m->inputs == NULL && m->outputs == NULL;
    if (c->single) {
        ok = ok && tensor_take(&c->one[0], "input", m->input_rank, m->input_shape, m->input_size)
             && tensor_take(&c->one[1], "output", m->output_rank, m->output_shape,
                            m->output_size);
        c->m.num_inputs = c->m.num_outputs = 1;
        c->m.inputs = &c->one[0];
        c->m.outputs = &c->one[1];
    }
    ok = ok && c->m.num_inputs >= 0 && c->m.num_outputs >= 1
         && c->m.num_inputs <= CLI_MAX_TENSORS && c->m.num_outputs <= CLI_MAX_TENSORS;
    for (k = 0; ok && k < c->m.num_inputs + c->m.num_outputs; k++) {
        int is_in = k < c->m.num_inputs;
        const cnnc_tensor_info *t = is_in ? &c->m.inputs[k] : &c->m.outputs[k - c->m.num_inputs];
        ok = t->rank >= 1 && t->rank <= CNNC_ARRAY_MAX_RANK;
        for (i = 0, n = 1; ok && i < t->rank; i++) {
            ok = t->shape[i] >= 0;
            n *= (size_t)t->shape[i];
        }
        ok = ok && n == t->size && t->offset == (is_in ? in : out);
        if (is_in)
            in += n;
        else
            out += n;
    }
    if (ok && in == c->m.input_size && out == c->m.output_size)
        return 0;
    cnnc_err_set(err, errlen, "model description", c->single ? "ranks, shapes and sizes disagree"
                 : "tensor shapes, offsets and sizes disagree");
    return -1;
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

/* Fills c's files and options. Returns -1 to exit 0 (help shown), 0 to go on, 2 after a
 * usage error. The single form takes --top and names its mistakes as it always has. */
static int options_parse(struct cli *c, int argc, char **argv)
{
    const cnnc_model *m = &c->m;
    char shape[96];
    int i, only_files = 0, top_given = 0;
    c->inputs = c->outputs = 0;
    c->bench = 0;
    c->warmup = CLI_WARMUP_RUNS;
    c->top = c->single ? CLI_TOP_DEFAULT : 0;
    c->threads = m->max_threads > 1 ? m->max_threads : 1;
    c->grad_output = c->weight_grads = NULL;
    c->profile = 0;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes_value = strcmp(a, "-o") == 0 || strcmp(a, "--bench") == 0 || strcmp(a, "--warmup") == 0
                          || strcmp(a, "--threads") == 0 || strcmp(a, "--profile") == 0
                          || (c->single && strcmp(a, "--top") == 0)
                          || strcmp(a, "--grad-output") == 0 || strcmp(a, "--weight-grads") == 0;
        if (only_files || a[0] != '-' || a[1] == '\0') {
            if (c->single && c->inputs == 1)
                return usage_error(c, "more than one input: %s", a);
            if (c->inputs == CLI_MAX_TENSORS)
                return usage_error(c, "too many inputs");
            c->input[c->inputs++] = a;
        } else if (strcmp(a, "--") == 0) {
            only_files = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            if (c->single)
                help_single(stdout, c);
            else
                help_lists(stdout, m);
            return -1;
        } else if (!takes_value) {
            return usage_error(c, "unknown option %s", a);
        } else if (v == NULL) {
            return usage_error(c, "missing argument after %s", a);
        } else if (strcmp(a, "-o") == 0) {
            if (c->single && c->outputs == 1)
                return usage_error(c, "-o given twice");
            if (c->outputs == CLI_MAX_TENSORS)
                return usage_error(c, "too many -o");
            c->output[c->outputs++] = v;
        } else if (strcmp(a, "--bench") == 0) {
            if (count_parse(&c->bench, v, 1, CLI_BENCH_MAX) != 0)
                return usage_error(c, "--bench needs a number of runs from 1 to %ld, not %s",
                                   CLI_BENCH_MAX, v);
        } else if (strcmp(a, "--warmup") == 0) {
            if (count_parse(&c->warmup, v, 0, CLI_BENCH_MAX) != 0)
                return usage_error(c, "--warmup needs a number of runs from 0 to %ld, not %s",
                                   CLI_BENCH_MAX, v);
        } else if (strcmp(a, "--threads") == 0) {
            long most = m->max_threads > 1 ? m->max_threads : 1;
            if (count_parse(&c->threads, v, 1, most) != 0)
                return usage_error(c, most > 1 ? "--threads needs a number from 1 to %ld, not %s"
                                   : "--threads: this build runs on %ld thread (rebuild with "
                                   "`cnnc build --threads N`), not %s", most, v);
        } else if (strcmp(a, "--grad-output") == 0 || strcmp(a, "--weight-grads") == 0) {
            if (m->backward_ws == NULL)
                return usage_error(c, "%s: this build has no backward code (rebuild with `cnnc build "
                                   "--backward`)", a);
            if (strcmp(a, "--grad-output") == 0)
                c->grad_output = v;
            else
                c->weight_grads = v;
        } else if (strcmp(a, "--profile") == 0) {
            if (m->predict_profile == NULL)
                return usage_error(c, "--profile: this build has no per-step timing (rebuild with "
                                   "`cnnc build --profile`)");
            if (count_parse(&c->profile, v, 1, CLI_BENCH_MAX) != 0)
                return usage_error(c, "--profile needs a number of runs from 1 to %ld, not %s",
                                   CLI_BENCH_MAX, v);
        } else if (count_parse(&c->top, v, 0, INT_MAX) != 0) {
            return usage_error(c, "--top needs a number of classes (0 or more), not %s", v);
        } else {
            top_given = 1;
        }
        i += takes_value;
    }
    if (top_given && c->grad_output != NULL)
        return usage_error(c, "--top does not go with --grad-output");
    if (c->profile > 0 && c->grad_output != NULL)
        return usage_error(c, "--profile times the forward pass; it does not go with --grad-output");
    if (c->weight_grads != NULL && c->grad_output == NULL)
        return usage_error(c, "--weight-grads needs --grad-output (the gradient of the output)");
    if (c->single && c->inputs == 0)
        return usage_error(c, "missing INPUT");
    if (c->inputs != m->num_inputs)
        return usage_error(c, "the model takes %d input file%s (one per input), got %d",
                           m->num_inputs, m->num_inputs == 1 ? "" : "s", c->inputs);
    if (c->outputs != 0 && c->outputs != m->num_outputs)
        return usage_error(c, "give -o once per output (%d), or not at all; got %d",
                           m->num_outputs, c->outputs);
    for (i = 0; c->grad_output == NULL && i < c->outputs; i++) {
        const cnnc_tensor_info *t = &m->outputs[i];
        shape_format(shape, sizeof shape, t);
        if (cnnc_ends_with(c->output[i], ".ppm"))
            return usage_error(c, "cannot write %s: PPM output is not supported; use .pgm %sor "
                               ".npy", c->output[i], c->single ? "(one image per channel) " : "");
        if (cnnc_ends_with(c->output[i], ".pgm") && t->rank != 3 && c->single)
            return usage_error(c, "cannot write %s: one PGM per channel needs an (H, W, C) "
                               "output but the model's is %s; use .npy", c->output[i], shape);
        else if (cnnc_ends_with(c->output[i], ".pgm") && t->rank != 3)
            return usage_error(c, "cannot write %s: one PGM per channel needs an (H, W, C) "
                               "output but '%s' has rank %d; use .npy", c->output[i], t->name,
                               t->rank);
    }
    return 0;
}

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

/* ---------------------------------------------------------------- inputs */

/* Input k's file into *in (its items one after another): read as a one-input model of
 * input k's shape, which cnnc_input_read checks (ranks 1 to 4). */
static int input_read(cnnc_array *in, const char *path, const cnnc_model *m, int k,
                      char *err, size_t errlen)
{
    const cnnc_tensor_info *t = &m->inputs[k];
    cnnc_model v = *m;
    int i;
    if (t->rank > 4 || t->size == 0) {
        cnnc_err_set(err, errlen, t->name, "input %d has %s; the command line reads inputs of "
                     "rank 1 to 4 with values", k, t->size == 0 ? "no values" : "rank > 4");
        return -1;
    }
    v.input_rank = t->rank;
    for (i = 0; i < t->rank; i++)
        v.input_shape[i] = t->shape[i];
    v.input_size = t->size;
    return cnnc_input_read(in, path, &v, err, errlen);
}

/* `bytes` of memory 64-byte aligned inside *block (malloc'd, NULL when out of memory; the
 * caller frees it). Over-allocated and rounded up by hand: posix_memalign would make this
 * file POSIX. */
static void *aligned_new(size_t bytes, unsigned char **block)
{
    *block = bytes <= (size_t)-1 - 64 ? malloc(bytes + 64) : NULL;
    if (*block == NULL)
        return NULL;
    return *block + (64 - (size_t)((uintptr_t)*block % 64)) % 64;
}

/* The model's workspaces: one per thread of a team (workspace sizes are whole cache lines). */
static void *workspace_new(const cnnc_model *m, size_t count, unsigned char **block)
{
    if (count > 1 && m->workspace_size > ((size_t)-1 - 64) / count) {
        *block = NULL;
        return NULL;
    }
    return aligned_new(m->workspace_size * count, block);
}

/* The run's team of threads (NULL for a single-thread build, or when its memory is
 * lacking: the items then run one after another on this thread). */
struct team {
    void *team;
    unsigned char *block;
    int threads;
};

static void team_start(struct team *t, const cnnc_model *m, long threads)
{
    void *memory;
    t->team = NULL;
    t->block = NULL;
    t->threads = 1;
    if (m->team_start == NULL || m->max_threads < 2)
        return;
    memory = aligned_new(m->team_size, &t->block);
    t->team = memory ? m->team_start(memory, (int)threads) : NULL;
    if (t->team)
        t->threads = m->team_threads(t->team);
}

static void team_stop(struct team *t, const cnnc_model *m)
{
    if (t->team)
        m->team_stop(t->team);
    free(t->block);
}

/* n items, one after another in input and output: on the team, or on this thread. */
static void items_run(const cnnc_model *m, const struct team *t, const float *input, float *output, size_t n,
                      void *ws)
{
    size_t i;
    while (t->team && n > 0) {
        int chunk = n > INT_MAX ? INT_MAX : (int)n;
        m->predict_batch_team(t->team, chunk, input, output, ws);
        input += (size_t)chunk * m->input_size;
        output += (size_t)chunk * m->output_size;
        n -= (size_t)chunk;
    }
    for (i = 0; i < n; i++)
        m->predict_ws(input + i * m->input_size, output + i * m->output_size, ws);
}

/* ---------------------------------------------------------------- outputs */

/* Output k of every item, written to path by its extension. With several outputs the
 * items' copies of output k are gathered first; a sole output is the buffer itself. */
static int output_write(const char *path, const float *output, size_t items, int batched,
                        const cnnc_model *m, int k, char *err, size_t errlen)
{
    const cnnc_tensor_info *t = &m->outputs[k];
    long shape[CNNC_ARRAY_MAX_RANK + 1];
    float *gathered = NULL;
    const float *y = output;
    size_t item;
    int i, rank = 0, rc;
    if (m->num_outputs > 1) {
        y = gathered = malloc(items * t->size * sizeof *gathered + 1);
        if (gathered == NULL) {
            cnnc_err_set(err, errlen, path, "out of memory");
            return -1;
        }
        for (item = 0; item < items; item++)
            memcpy(gathered + item * t->size, output + item * m->output_size + t->offset,
                   t->size * sizeof *gathered);
    }
    if (batched)
        shape[rank++] = (long)items;
    for (i = 0; i < t->rank; i++)
        shape[rank++] = t->shape[i];
    if (cnnc_ends_with(path, ".npy")) {
        rc = cnnc_npy_write(path, y, rank, shape, err, errlen);
    } else if (cnnc_ends_with(path, ".pgm") && items != 1) {
        cnnc_err_set(err, errlen, path, "writing one image per channel needs a single input, "
                     "not a batch of %lu; use .npy", (unsigned long)items);
        rc = -1;
    } else if (cnnc_ends_with(path, ".pgm")) {
        rc = cnnc_pgm_channels_write(path, y, t->shape[0], t->shape[1], t->shape[2], err, errlen);
    } else {
        rc = cnnc_raw_write(path, y, items * t->size, err, errlen);
    }
    free(gathered);
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

/* Every output of every item, at most CLI_PRINT_MAX values each; a single-tensor
 * model's softmax output also lists its c->top most likely classes. */
static void outputs_print(const float *output, size_t items, const struct cli *c)
{
    const cnnc_model *m = &c->m;
    char shape[96];
    size_t item, i;
    int k;
    for (item = 0; item < items; item++) {
        for (k = 0; k < m->num_outputs; k++) {
            const cnnc_tensor_info *t = &m->outputs[k];
            const float *y = output + item * m->output_size + t->offset;
            size_t shown = t->size < CLI_PRINT_MAX ? t->size : CLI_PRINT_MAX;
            shape_format(shape, sizeof shape, t);
            if (c->single)
                printf("output[%lu] shape %s:\n", (unsigned long)item, shape);
            else
                printf("output[%lu] %s shape %s:\n", (unsigned long)item, t->name, shape);
            for (i = 0; i < shown; i++)
                printf("%s%.6g%s", i % CLI_PRINT_PER_LINE == 0 ? "  " : "", y[i],
                       i % CLI_PRINT_PER_LINE == CLI_PRINT_PER_LINE - 1 || i + 1 == shown
                           ? "\n" : " ");
            if (shown < t->size)
                printf("  ... (%lu more)\n", (unsigned long)(t->size - shown));
            if (m->output_is_softmax && t->rank == 1 && c->top > 0)
                top_print(y, t->size, (size_t)c->top < t->size ? (size_t)c->top : t->size);
        }
    }
}

/* ---------------------------------------------------------------- --bench and main */

static int double_compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* --profile: the time of each step of runs runs. */
struct profile {
    double last;      /* when the previous step ended */
    double *t;        /* t[step * runs + run] */
    long runs, run;
};

static void profile_mark(void *ctx, int step)
{
    struct profile *p = ctx;
    double now = cnnc_time_now();
    p->t[(size_t)step * (size_t)p->runs + (size_t)p->run] = now - p->last;
    p->last = cnnc_time_now();
}

/* The median of t[0..n) (sorted in place). */
static double median_of(double *t, long n)
{
    qsort(t, (size_t)n, sizeof *t, double_compare);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static double median_of(double *t, long n);

/* --profile's runs on the first item: per step, the median and least time, and its share of
 * the sum of the medians. Returns 0, or -1 with err set. */
static int profile_print(const cnnc_model *m, long runs, long warmup, const float *input, float *output, void *ws,
                         char *err, size_t errlen)
{
    struct profile p;
    int s, steps = m->profile_steps;
    double total = 0, *med;
    p.runs = runs;
    p.t = malloc((size_t)runs * (size_t)(steps > 0 ? steps : 1) * sizeof *p.t);
    med = malloc((size_t)(steps > 0 ? steps : 1) * sizeof *med);
    if (p.t == NULL || med == NULL) {
        free(p.t);
        free(med);
        cnnc_err_set(err, errlen, "--profile", "out of memory for %ld timings", runs);
        return -1;
    }
    for (p.run = -warmup; p.run < runs; p.run++) {
        struct profile *q = &p;
        long keep = p.run;
        if (p.run < 0)
            p.run = 0;  /* warm-up runs write run 0's slots, overwritten by the timed run 0 */
        p.last = cnnc_time_now();
        m->predict_profile(input, output, ws, profile_mark, q);
        p.run = keep;
    }
    for (s = 0; s < steps; s++) {
        med[s] = median_of(p.t + (size_t)s * (size_t)runs, runs);
        total += med[s];
    }
    printf("profile: %ld runs on one thread, per step (us): median, least, share of the sum of medians\n", runs);
    for (s = 0; s < steps; s++)
        printf("  %-32s %10.2f %10.2f %6.1f%%\n", m->profile_names[s], med[s] * 1e6,
               p.t[(size_t)s * (size_t)runs] * 1e6, total > 0 ? 100 * med[s] / total : 0.0);
    printf("  %-32s %10.2f\n", "total", total * 1e6);
    free(p.t);
    free(med);
    return 0;
}

/* --bench's timing runs on the first item (on the team, if any; after `warmup` untimed ones), and with a batch of
 * several items also runs of the whole batch; then stdout flushed and checked. Returns 0,
 * or -1 with err set. */
static int finish(const cnnc_model *m, const struct team *team, long runs, long warmup, const float *input,
                  float *output, size_t items, void *ws, char *err, size_t errlen)
{
    double *t = runs > 0 ? malloc((size_t)runs * sizeof *t) : NULL, median;
    long r;
    if (runs > 0 && t == NULL) {
        cnnc_err_set(err, errlen, "--bench", "out of memory for %ld timings", runs);
        return -1;
    }
    if (runs > 0) {
        for (r = -warmup; r < runs; r++) {
            double t0 = cnnc_time_now();
            if (team->team)
                m->predict_team(team->team, input, output, ws);
            else
                m->predict_ws(input, output, ws);
            if (r >= 0)
                t[r] = cnnc_time_now() - t0;
        }
        median = median_of(t, runs);
        printf("bench: %ld runs, median %.2f us, min %.2f us", runs, median * 1e6, t[0] * 1e6);
        if (team->team)
            printf(" (%d thread%s)", team->threads, team->threads == 1 ? "" : "s");
        printf("\n");
    }
    if (runs > 0 && items > 1) {
        long batches = runs / (long)(items < (size_t)runs ? items : (size_t)runs);
        if (batches < 3)
            batches = 3;
        if (batches > runs)
            batches = runs;
        for (r = -1; r < batches; r++) {
            double t0 = cnnc_time_now();
            items_run(m, team, input, output, items, ws);
            if (r >= 0)
                t[r] = cnnc_time_now() - t0;
        }
        median = median_of(t, batches);
        printf("bench: batch of %lu items, %ld runs, median %.3f ms, %.1f items/s (best %.1f)\n",
               (unsigned long)items, batches, median * 1e3, (double)items / median, (double)items / t[0]);
    }
    free(t);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cnnc_err_set(err, errlen, "stdout", "write error");
        return -1;
    }
    return 0;
}

int cnnc_cli_main(int argc, char **argv, const cnnc_model *model)
{
    struct cli c;
    const cnnc_model *m = &c.m;
    cnnc_array in[CLI_MAX_TENSORS];
    char err[1024];
    unsigned char *ws_block = NULL;
    struct team team = { NULL, NULL, 1 };
    float *joined = NULL, *output = NULL;
    const float *input;
    void *ws;
    size_t items = 1, item;
    int k, batched = 0, rc = 1;

    for (k = 0; k < CLI_MAX_TENSORS; k++)
        in[k].data = NULL;
    if (model_take(&c, model, err, sizeof err) != 0) {
        fprintf(stderr, "%s: error: %s\n", model->name, err);
        return 1;
    }
    rc = options_parse(&c, argc, argv);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    rc = 1;
    if (cpu_lacks_target(m))
        return 1;
    for (k = 0; k < m->num_inputs; k++) {
        size_t n;
        if (input_read(&in[k], c.input[k], m, k, err, sizeof err) != 0)
            goto fail;
        n = in[k].count / m->inputs[k].size;
        if (k > 0 && n != items) {
            cnnc_err_set(err, sizeof err, c.input[k], "holds %lu items, but %s holds %lu; every "
                         "input needs as many", (unsigned long)n, c.input[0], (unsigned long)items);
            goto fail;
        }
        items = n;
        batched |= in[k].rank > m->inputs[k].rank;
    }

    /* Each item's inputs one after another, as the model takes them; a sole input's file
     * is laid out so already. */
    team_start(&team, m, c.threads);
    if (c.grad_output != NULL) {
        rc = cnnc_grad_run(m, in[0].data, items, batched, c.grad_output, c.outputs ? c.output[0] : NULL,
                           c.weight_grads, c.bench, c.warmup, team.team, err, sizeof err) == 0 ? 0 : 1;
        goto fail;
    }
    ws = workspace_new(m, (size_t)team.threads, &ws_block);
    if (m->num_inputs != 1)
        joined = malloc(items * m->input_size * sizeof *joined + 1);
    input = m->num_inputs == 1 ? in[0].data : joined;
    output = items <= ((size_t)-1 - 1) / sizeof *output / (m->output_size + 1)
                 ? malloc(items * m->output_size * sizeof *output + 1) : NULL;
    if (ws == NULL || input == NULL || output == NULL) {
        cnnc_err_set(err, sizeof err, m->name, "out of memory for a %lu-byte workspace "
                     "and %lu items", (unsigned long)m->workspace_size, (unsigned long)items);
        goto fail;
    }
    for (item = 0; joined != NULL && item < items; item++)
        for (k = 0; k < m->num_inputs; k++)
            memcpy(joined + item * m->input_size + m->inputs[k].offset,
                   in[k].data + item * m->inputs[k].size, m->inputs[k].size * sizeof *joined);
    items_run(m, &team, input, output, items, ws);

    if (c.outputs > 0) {
        for (k = 0; k < m->num_outputs; k++)
            if (output_write(c.output[k], output, items, batched, m, k, err, sizeof err) != 0)
                goto fail;
    } else {
        outputs_print(output, items, &c);
    }
    if (c.profile > 0 && profile_print(m, c.profile, c.warmup, input, output, ws, err, sizeof err) != 0)
        goto fail;
    if (finish(m, &team, c.bench, c.warmup, input, output, items, ws, err, sizeof err) != 0)
        goto fail;
    rc = 0;
fail:
    if (rc != 0)
        fprintf(stderr, "%s: error: %s\n", m->name, err);
    team_stop(&team, m);
    for (k = 0; k < m->num_inputs; k++)
        cnnc_array_free(&in[k]);
    free(ws_block);
    free(joined);
    free(output);
    return rc;
}
