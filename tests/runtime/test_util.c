/* test_util.c: see test_util.h */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "fake_model.h"
#include "test_util.h"

const cnnc_model tu_fake_model = {
    "fake", FAKE_INPUT_RANK, FAKE_INPUT_SHAPE, FAKE_OUTPUT_RANK, FAKE_OUTPUT_SHAPE,
    FAKE_INPUT_SIZE, FAKE_OUTPUT_SIZE, FAKE_WORKSPACE_SIZE, FAKE_OUTPUT_SOFTMAX,
    fake_predict_ws, FAKE_TARGET, fake_cpu_supported, 1, 1, NULL, NULL, 1, 0, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL,
};

/* A stand-in for a --threads build's team API: a "team" of up to 3 threads that records
 * its size and runs the items on the calling thread (what matters here is how the command
 * line drives the API). */
struct tu_team { int threads, batches; };
static void *tu_team_start(void *memory, int threads)
{
    struct tu_team *t = memory;
    if (!t || threads < 1 || threads > 3) return NULL;
    t->threads = threads;
    t->batches = 0;
    return t;
}
static int tu_team_threads(void *team) { return ((struct tu_team *)team)->threads; }
static void tu_predict_team(void *team, const float *input, float *output, void *workspace)
{
    (void)team;
    fake_predict_ws(input, output, workspace);
}
static void tu_predict_batch_team(void *team, int n, const float *inputs, float *outputs, void *workspaces)
{
    struct tu_team *t = team;
    t->batches++;
    for (int i = 0; i < n; i++)
        fake_predict_ws(inputs + (size_t)i * FAKE_INPUT_SIZE, outputs + (size_t)i * FAKE_OUTPUT_SIZE,
                        (char *)workspaces + (size_t)(i % t->threads) * FAKE_WORKSPACE_SIZE);
}
static void tu_team_stop(void *team) { ((struct tu_team *)team)->threads = -1; }

const cnnc_model tu_fake_team_model = {
    "fake", FAKE_INPUT_RANK, FAKE_INPUT_SHAPE, FAKE_OUTPUT_RANK, FAKE_OUTPUT_SHAPE,
    FAKE_INPUT_SIZE, FAKE_OUTPUT_SIZE, FAKE_WORKSPACE_SIZE, FAKE_OUTPUT_SOFTMAX,
    fake_predict_ws, FAKE_TARGET, fake_cpu_supported, 1, 1, NULL, NULL,
    3, sizeof(struct tu_team), tu_team_start, tu_team_threads, tu_predict_team, tu_predict_batch_team, tu_team_stop,
    0, NULL, NULL,
};

/* A profile build's stand-in: two steps, each the whole fake prediction. */
static const char *const tu_profile_names[] = { "first half", "second half" };
static void tu_predict_profile(const float *input, float *output, void *workspace, void (*mark)(void *ctx, int step),
                               void *ctx)
{
    fake_predict_ws(input, output, workspace);
    mark(ctx, 0);
    fake_predict_ws(input, output, workspace);
    mark(ctx, 1);
}

const cnnc_model tu_fake_profile_model = {
    "fake", FAKE_INPUT_RANK, FAKE_INPUT_SHAPE, FAKE_OUTPUT_RANK, FAKE_OUTPUT_SHAPE,
    FAKE_INPUT_SIZE, FAKE_OUTPUT_SIZE, FAKE_WORKSPACE_SIZE, FAKE_OUTPUT_SOFTMAX,
    fake_predict_ws, FAKE_TARGET, fake_cpu_supported, 1, 1, NULL, NULL, 1, 0, NULL, NULL, NULL, NULL, NULL,
    2, tu_profile_names, tu_predict_profile,
};

const cnnc_model tu_fakecls_model = {
    "fakecls", FAKECLS_INPUT_RANK, FAKECLS_INPUT_SHAPE, FAKECLS_OUTPUT_RANK,
    FAKECLS_OUTPUT_SHAPE, FAKECLS_INPUT_SIZE, FAKECLS_OUTPUT_SIZE, FAKECLS_WORKSPACE_SIZE,
    FAKECLS_OUTPUT_SOFTMAX, fakecls_predict_ws, FAKECLS_TARGET, fakecls_cpu_supported, 1, 1, NULL, NULL,
    1, 0, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL,
};

static const cnnc_tensor_info tu_pair_inputs[] = FAKEPAIR_INPUT_LIST;
static const cnnc_tensor_info tu_pair_outputs[] = FAKEPAIR_OUTPUT_LIST;

const cnnc_model tu_fakepair_model = {
    "fakepair", FAKEPAIR_INPUT_RANK, FAKEPAIR_INPUT_SHAPE, FAKEPAIR_OUTPUT_RANK,
    FAKEPAIR_OUTPUT_SHAPE, FAKEPAIR_INPUT_SIZE, FAKEPAIR_OUTPUT_SIZE, FAKEPAIR_WORKSPACE_SIZE,
    FAKEPAIR_OUTPUT_SOFTMAX, fakepair_predict_ws, FAKEPAIR_TARGET, fakepair_cpu_supported,
    FAKEPAIR_NUM_INPUTS, FAKEPAIR_NUM_OUTPUTS, tu_pair_inputs, tu_pair_outputs, 1, 0, NULL, NULL, NULL, NULL,
    NULL, 0, NULL, NULL,
};

static char tu_dir[256];

void tu_setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tu_dir, sizeof tu_dir, "%s/cnnc_rt_test.XXXXXX", base && *base ? base : "/tmp");
    cr_assert_not_null(mkdtemp(tu_dir), "mkdtemp %s", tu_dir);
}

/* Removes files and (empty) subdirectories one level deep, then the directory. */
void tu_teardown(void)
{
    DIR *d = opendir(tu_dir);
    struct dirent *e;
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            remove(tu_path(e->d_name));
    }
    closedir(d);
    rmdir(tu_dir);
}

const char *tu_path(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *p = bufs[next++ % 8];
    snprintf(p, sizeof bufs[0], "%s/%s", tu_dir, name);
    return p;
}

void tu_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create fixture %s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

void tu_write_str(const char *path, const char *text)
{
    tu_write(path, text, strlen(text));
}

unsigned char *tu_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long n;
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = 0;
    if (len != NULL)
        *len = (size_t)n;
    return buf;
}

int tu_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int tu_temp_files(void)
{
    DIR *d = opendir(tu_dir);
    struct dirent *e;
    int n = 0;
    cr_assert_not_null(d);
    while ((e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

void tu_write_npy(const char *path, int major, const char *dict, const void *data,
                  size_t len)
{
    size_t prefix = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t hl = dl + 1 + (64 - (prefix + dl + 1) % 64) % 64;
    unsigned char *b = calloc(1, prefix + hl + len + 1);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    b[8] = (unsigned char)hl;
    b[9] = (unsigned char)(hl >> 8);
    memcpy(b + prefix, dict, dl);
    memset(b + prefix + dl, ' ', hl - dl - 1);
    b[prefix + hl - 1] = '\n';
    if (len > 0)
        memcpy(b + prefix + hl, data, len);
    tu_write(path, b, prefix + hl + len);
    free(b);
}

void tu_f32le(unsigned char *p, float v)
{
    uint32_t u;
    int i;
    memcpy(&u, &v, 4);
    for (i = 0; i < 4; i++)
        p[i] = (unsigned char)(u >> 8 * i);
}

void tu_f64le(unsigned char *p, double v)
{
    uint64_t u;
    int i;
    memcpy(&u, &v, 8);
    for (i = 0; i < 8; i++)
        p[i] = (unsigned char)(u >> 8 * i);
}

static void capture_into(char *buf, size_t len, const char *path)
{
    unsigned char *data = tu_read(path, NULL);
    snprintf(buf, len, "%s", (char *)data);
    free(data);
}

int tu_cli(const cnnc_model *m, char *out, size_t outlen, char *err, size_t errlen, ...)
{
    char *argv[32];
    int argc = 0, saved_out, saved_err, fd_out, fd_err, rc;
    const char *a;
    va_list ap;
    char out_path[512], err_path[512];

    argv[argc++] = (char *)m->name;
    va_start(ap, errlen);
    while ((a = va_arg(ap, const char *)) != NULL && argc < 31)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;

    snprintf(out_path, sizeof out_path, "%s", tu_path("captured.stdout"));
    snprintf(err_path, sizeof err_path, "%s", tu_path("captured.stderr"));
    fflush(stdout);
    fflush(stderr);
    saved_out = dup(1);
    saved_err = dup(2);
    fd_out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    fd_err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert(saved_out >= 0 && saved_err >= 0 && fd_out >= 0 && fd_err >= 0);
    dup2(fd_out, 1);
    dup2(fd_err, 2);
    rc = cnnc_cli_main(argc, argv, m);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    close(fd_out);
    close(fd_err);
    capture_into(out, outlen, out_path);
    capture_into(err, errlen, err_path);
    remove(out_path);
    remove(err_path);
    return rc;
}
