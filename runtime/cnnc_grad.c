/* cnnc runtime: the gradient run of a generated model's command line
 *
 * `NAME INPUT --grad-output DY [-o DX] [--weight-grads DIR] [--bench N]` for a model built
 * with --backward: DY is the gradient of the output (the output's shape, with a leading
 * batch axis exactly when INPUT has one; .npy or raw float32), DX gets the gradient of the
 * input (INPUT's shape: .npy, raw float32, or one PGM per channel of a single image) and
 * DIR/<layer>.<weight>.npy the gradient of every trainable weight in its Keras shape,
 * summed over the batch (the gradient of the summed objective), in the names `--weights
 * DIR` reads. Without -o and --weight-grads the input gradient is printed, with every
 * weight gradient's norm. The items run through the model's batch entry point (on the
 * run's team of threads, if any), whose sums do not depend on the number of threads.
 * Everything is computed before anything is written; weight gradients go to temporary
 * files renamed at the end, and a failure removes what was written (and DIR, if this run
 * created it), so a failed run leaves nothing behind.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cnnc_internal.h"

#define GRAD_PRINT_MAX 64
#define GRAD_PRINT_PER_LINE 8

static void shape_text(char *out, size_t outlen, long first, const int *shape, int rank)
{
    long s[CNNC_ARRAY_MAX_RANK + 1];
    int i, r = 0;
    if (first >= 0)
        s[r++] = first;
    for (i = 0; i < rank; i++)
        s[r++] = shape[i];
    cnnc_shape_format(out, outlen, s, r);
}

/* The output gradient of n items into *dy (n * output_size floats), its shape checked. */
static int dy_read(cnnc_array *dy, const char *path, const cnnc_model *m, size_t n, int batched,
                   char *err, size_t errlen)
{
    char got[128], out[96], want[128];
    int ok, i, rc;
    dy->data = NULL;
    if (cnnc_ends_with(path, ".pgm") || cnnc_ends_with(path, ".ppm")) {
        cnnc_err_set(err, errlen, path, "the output gradient must be .npy or raw float32, not an image");
        return -1;
    }
    rc = cnnc_ends_with(path, ".npy") ? cnnc_npy_read(dy, path, err, errlen)
                                      : cnnc_raw_read(dy, path, m->output_size, err, errlen);
    if (rc != 0)
        return -1;
    if (!cnnc_ends_with(path, ".npy")) { /* raw: (items, output size) */
        if ((size_t)dy->shape[0] == n)
            return 0;
        cnnc_err_set(err, errlen, path, "holds the output gradients of %ld items, the input %lu",
                     dy->shape[0], (unsigned long)n);
        cnnc_array_free(dy);
        return -1;
    }
    ok = dy->rank == m->output_rank + (batched ? 1 : 0) && (!batched || (size_t)dy->shape[0] == n);
    for (i = 0; ok && i < m->output_rank; i++)
        ok = dy->shape[i + (batched ? 1 : 0)] == m->output_shape[i];
    if (ok)
        return 0;
    cnnc_shape_format(got, sizeof got, dy->shape, dy->rank);
    shape_text(out, sizeof out, -1, m->output_shape, m->output_rank);
    shape_text(want, sizeof want, batched ? (long)n : -1, m->output_shape, m->output_rank);
    if (batched)
        cnnc_err_set(err, errlen, path, "the output gradient has shape %s but the output is %s and the input "
                     "holds %lu items: expected %s", got, out, (unsigned long)n, want);
    else
        cnnc_err_set(err, errlen, path, "the output gradient has shape %s but the output is %s (the input has no "
                     "batch axis): expected %s", got, out, want);
    cnnc_array_free(dy);
    return -1;
}

static void *aligned(size_t bytes, unsigned char **block)
{
    *block = bytes <= (size_t)-1 - 64 ? malloc(bytes + 64) : NULL;
    if (*block == NULL)
        return NULL;
    return *block + (64 - (size_t)((uintptr_t)*block % 64)) % 64;
}

static void grads_print(const cnnc_model *m, const float *dx, size_t n, const float *gw)
{
    char shape[96];
    size_t item, i;
    int k;
    shape_text(shape, sizeof shape, -1, m->input_shape, m->input_rank);
    for (item = 0; item < n; item++) {
        const float *d = dx + item * m->input_size;
        size_t shown = m->input_size < GRAD_PRINT_MAX ? m->input_size : GRAD_PRINT_MAX;
        printf("grad_input[%lu] shape %s:\n", (unsigned long)item, shape);
        for (i = 0; i < shown; i++)
            printf("%s%.6g%s", i % GRAD_PRINT_PER_LINE == 0 ? "  " : "", d[i],
                   i % GRAD_PRINT_PER_LINE == GRAD_PRINT_PER_LINE - 1 || i + 1 == shown ? "\n" : " ");
        if (shown < m->input_size)
            printf("  ... (%lu more)\n", (unsigned long)(m->input_size - shown));
    }
    for (k = 0; k < m->num_weights; k++) {
        const cnnc_weight_info *w = &m->weights[k];
        double s = 0;
        for (i = 0; i < w->size; i++)
            s += (double)gw[w->offset + i] * gw[w->offset + i];
        shape_text(shape, sizeof shape, -1, w->shape, w->rank);
        printf("grad %s shape %s: norm %.6g\n", w->name, shape, sqrt(s));
    }
}

/* DIR/<name>.npy of weight k, or its temporary name (suffix ".part"). */
static char *weight_path(const char *dir, const cnnc_weight_info *w, int part)
{
    char *p = malloc(strlen(dir) + strlen(w->name) + 16);
    if (p != NULL)
        sprintf(p, "%s/%s.npy%s", dir, w->name, part ? ".part" : "");
    return p;
}

/* Writes every weight gradient under a temporary name, then the input gradient, then
 * renames the weights' files into place; on failure removes what it wrote. */
static int grads_write(const cnnc_model *m, const float *dx, size_t n, int batched, const float *gw,
                       const char *dx_path, const char *dir, char *err, size_t errlen)
{
    struct stat st;
    int made = 0, k, written = 0, rc = -1;
    if (dir != NULL) {
        if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
            cnnc_err_set(err, errlen, dir, "exists and is not a directory");
            return -1;
        }
        if (stat(dir, &st) != 0) {
            if (mkdir(dir, 0777) != 0) {
                cnnc_err_set(err, errlen, dir, "cannot create the directory: %s", strerror(errno));
                return -1;
            }
            made = 1;
        }
        for (; written < m->num_weights; written++) {
            const cnnc_weight_info *w = &m->weights[written];
            long shape[CNNC_ARRAY_MAX_RANK];
            char *path = weight_path(dir, w, 1);
            int i, ok;
            for (i = 0; i < w->rank; i++)
                shape[i] = w->shape[i];
            ok = path != NULL && cnnc_npy_write(path, gw + w->offset, w->rank, shape, err, errlen) == 0;
            if (path == NULL)
                cnnc_err_set(err, errlen, dir, "out of memory");
            free(path);
            if (!ok)
                goto undo;
        }
    }
    if (dx_path != NULL) {
        long shape[CNNC_ARRAY_MAX_RANK + 1];
        int r = 0, i;
        if (batched)
            shape[r++] = (long)n;
        for (i = 0; i < m->input_rank; i++)
            shape[r++] = m->input_shape[i];
        if (cnnc_ends_with(dx_path, ".npy"))
            rc = cnnc_npy_write(dx_path, dx, r, shape, err, errlen);
        else if (cnnc_ends_with(dx_path, ".pgm") && (n != 1 || m->input_rank != 3)) {
            cnnc_err_set(err, errlen, dx_path, "one PGM per channel needs a single (H, W, C) input; use .npy");
            rc = -1;
        } else if (cnnc_ends_with(dx_path, ".pgm"))
            rc = cnnc_pgm_channels_write(dx_path, dx, m->input_shape[0], m->input_shape[1], m->input_shape[2], err,
                                         errlen);
        else
            rc = cnnc_raw_write(dx_path, dx, n * m->input_size, err, errlen);
        if (rc != 0)
            goto undo;
    }
    for (k = 0; dir != NULL && k < m->num_weights; k++) {
        char *from = weight_path(dir, &m->weights[k], 1), *to = weight_path(dir, &m->weights[k], 0);
        int ok = from != NULL && to != NULL && rename(from, to) == 0;
        if (!ok)
            cnnc_err_set(err, errlen, to ? to : dir, "cannot write: %s", strerror(errno));
        free(from);
        free(to);
        if (!ok)
            goto undo;
    }
    return 0;
undo:
    for (k = 0; dir != NULL && k < written; k++) {
        char *p = weight_path(dir, &m->weights[k], 1), *q = weight_path(dir, &m->weights[k], 0);
        if (p)
            remove(p);
        if (q)
            remove(q);
        free(p);
        free(q);
    }
    if (made)
        remove(dir);
    return -1;
}

static int double_order(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* `runs` backward passes of the first item (after `warmup` untimed ones), on this thread. */
static int bench_run(const cnnc_model *m, long runs, long warmup, const float *input, const float *dy, float *dx,
                     float *gw, char *err, size_t errlen)
{
    unsigned char *block;
    void *ws = aligned(m->backward_workspace_size, &block);
    double *t = malloc((size_t)runs * sizeof *t), median;
    long r;
    if (ws == NULL || t == NULL) {
        cnnc_err_set(err, errlen, "--bench", "out of memory");
        free(block);
        free(t);
        return -1;
    }
    for (r = -warmup; r < runs; r++) {
        double t0 = cnnc_time_now();
        m->backward_ws(input, dy, dx, gw, ws);
        if (r >= 0)
            t[r] = cnnc_time_now() - t0;
    }
    qsort(t, (size_t)runs, sizeof *t, double_order);
    median = runs % 2 ? t[runs / 2] : (t[runs / 2 - 1] + t[runs / 2]) / 2;
    printf("bench: %ld runs, median %.2f us, min %.2f us (backward: forward and backward pass, 1 thread)\n", runs,
           median * 1e6, t[0] * 1e6);
    free(block);
    free(t);
    return 0;
}

int cnnc_grad_run(const cnnc_model *m, const float *input, size_t n, int batched, const char *dy_path,
                  const char *dx_path, const char *dir, long bench, long warmup, void *team, char *err,
                  size_t errlen)
{
    cnnc_array dy;
    unsigned char *ws_block = NULL;
    float *dx = NULL, *gw = NULL;
    void *ws = NULL;
    int threads = team != NULL ? m->team_threads(team) : 1, rc = -1;
    if (n > (size_t)0x7fffffff) {
        cnnc_err_set(err, errlen, dy_path, "too many items (%lu)", (unsigned long)n);
        return -1;
    }
    if (dy_read(&dy, dy_path, m, n, batched, err, errlen) != 0)
        return -1;
    dx = malloc(n * m->input_size * sizeof *dx + 1);
    gw = malloc(m->grad_weights_size * sizeof *gw + 1);
    ws = aligned((size_t)threads * m->backward_thread_bytes + m->backward_sums_bytes, &ws_block);
    if (dx == NULL || gw == NULL || ws == NULL) {
        cnnc_err_set(err, errlen, m->name, "out of memory for the gradients of %lu items", (unsigned long)n);
        goto done;
    }
    if (team != NULL && m->backward_batch_team != NULL)
        m->backward_batch_team(team, (int)n, input, dy.data, dx, gw, ws);
    else
        m->backward_batch((int)n, input, dy.data, dx, gw, ws);
    if (dx_path == NULL && dir == NULL)
        grads_print(m, dx, n, gw);
    else if (grads_write(m, dx, n, batched, gw, dx_path, dir, err, errlen) != 0)
        goto done;
    if (bench > 0 && bench_run(m, bench, warmup, input, dy.data, dx, gw, err, errlen) != 0)
        goto done;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cnnc_err_set(err, errlen, "stdout", "write error");
        goto done;
    }
    rc = 0;
done:
    cnnc_array_free(&dy);
    free(ws_block);
    free(dx);
    free(gw);
    return rc;
}
