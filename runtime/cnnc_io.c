/* cnnc runtime: shared file I/O, raw float32 files and model-input dispatch
 *
 * The pieces every format needs (error messages, whole-file reads, atomic writes,
 * little-endian conversion), the raw float32 format, and cnnc_input_read, which picks a
 * reader by extension and checks the result against the model's input shape. The .npy
 * and PGM/PPM formats live in cnnc_npy.c and cnnc_pnm.c. POSIX is needed for fstat,
 * mkstemp, fchmod and clock_gettime.
 */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700 /* realpath */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cnnc_internal.h"

/* ---------------------------------------------------------------- errors, shapes */

void cnnc_err_set(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (err == NULL || errlen == 0)
        return;
    n = snprintf(err, errlen, "%s: ", path);
    if (n < 0 || (size_t)n >= errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

void cnnc_shape_format(char *out, size_t outlen, const long *shape, int rank)
{
    size_t used = 0;
    int i, n;
    if (outlen == 0)
        return;
    out[0] = '\0';
    for (i = 0; i <= rank; i++) {
        if (i == 0)
            n = snprintf(out + used, outlen - used, "(");
        else
            n = snprintf(out + used, outlen - used, "%s%ld", i > 1 ? ", " : "", shape[i - 1]);
        if (n < 0 || (size_t)n >= outlen - used)
            return;
        used += (size_t)n;
    }
    snprintf(out + used, outlen - used, ")");
}

int cnnc_shape_count(size_t *count, const long *shape, int rank)
{
    size_t c = 1;
    int i;
    for (i = 0; i < rank; i++) {
        if (shape[i] < 0)
            return -1;
        if (shape[i] > 0 && c > (size_t)-1 / (size_t)shape[i])
            return -1;
        c *= (size_t)shape[i];
    }
    *count = c;
    return 0;
}

void cnnc_array_free(cnnc_array *a)
{
    if (a == NULL)
        return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---------------------------------------------------------------- byte order */

float cnnc_f32_load_le(const unsigned char *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16
               | (uint32_t)p[3] << 24;
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

double cnnc_f64_load_le(const unsigned char *p)
{
    uint64_t u = 0;
    double v;
    int i;
    for (i = 7; i >= 0; i--)
        u = u << 8 | p[i];
    memcpy(&v, &u, sizeof v);
    return v;
}

void cnnc_f32_store_le(unsigned char *p, float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    p[0] = (unsigned char)u;
    p[1] = (unsigned char)(u >> 8);
    p[2] = (unsigned char)(u >> 16);
    p[3] = (unsigned char)(u >> 24);
}

/* ---------------------------------------------------------------- whole files */

int cnnc_file_read_all(unsigned char **data, size_t *len, const char *path,
                       char *err, size_t errlen)
{
    struct stat st;
    unsigned char *buf = NULL;
    size_t cap = 1 << 16, n = 0;
    FILE *f;

    *data = NULL;
    *len = 0;
    f = fopen(path, "rb");
    if (f == NULL) {
        cnnc_err_set(err, errlen, path, "cannot open: %s", strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            cnnc_err_set(err, errlen, path, "is a directory, not a file");
            fclose(f);
            return -1;
        }
        /* One read for regular files; pipes and devices grow the buffer as they go. */
        if (S_ISREG(st.st_mode) && st.st_size >= 0 && (uintmax_t)st.st_size < (size_t)-1)
            cap = (size_t)st.st_size + 1;
    }
    buf = malloc(cap);
    for (;;) {
        if (buf != NULL && n == cap) {
            unsigned char *bigger = cap <= (size_t)-1 / 2 ? realloc(buf, cap * 2) : NULL;
            if (bigger == NULL)
                free(buf);
            buf = bigger;
            cap *= 2;
        }
        if (buf == NULL) {
            cnnc_err_set(err, errlen, path, "out of memory reading the file");
            fclose(f);
            return -1;
        }
        n += fread(buf + n, 1, cap - n, f);
        if (ferror(f)) {
            cnnc_err_set(err, errlen, path, "read error: %s", strerror(errno));
            free(buf);
            fclose(f);
            return -1;
        }
        if (feof(f))
            break;
    }
    fclose(f);
    *data = buf;
    *len = n;
    return 0;
}

/* Writes all of data to an open descriptor; 0 or -1 with errno set. */
static int write_all(int fd, const unsigned char *p, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        done += (size_t)w;
    }
    return 0;
}

/* An existing path that is not a regular file (/dev/null, /dev/stdout, a FIFO) is written
 * in place: renaming a file over it would replace the device or pipe. The open does not
 * wait: a FIFO nobody reads is an error, not a hang. */
static int write_in_place(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_NONBLOCK);
    int flags = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
    if (fd >= 0 && (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)) {
        cnnc_err_set(err, errlen, path, "cannot write: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (fd < 0 || write_all(fd, data, len) != 0) {
        cnnc_err_set(err, errlen, path, "cannot write: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (close(fd) != 0) {
        cnnc_err_set(err, errlen, path, "cannot write: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int write_atomic_file(const char *path, const void *data, size_t len, char *err, size_t errlen);

/* Regular files (and links to them) are replaced whole by a rename, so a failed write
 * leaves the old file as it was; a symbolic link is followed, not replaced. */
int cnnc_file_write_atomic(const char *path, const void *data, size_t len,
                           char *err, size_t errlen)
{
    struct stat st;
    char *real = NULL;
    int rc;

    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
        real = realpath(path, NULL);
    if (stat(real ? real : path, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode)) {
            cnnc_err_set(err, errlen, path, "cannot write: %s", strerror(EISDIR));
            free(real);
            return -1;
        }
        rc = write_in_place(real ? real : path, data, len, err, errlen);
    } else {
        rc = write_atomic_file(real ? real : path, data, len, err, errlen);
    }
    free(real);
    return rc;
}

static int write_atomic_file(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
    static const char suffix[] = ".tmp.XXXXXX";
    const unsigned char *p = data;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof suffix);
    mode_t mask;
    int fd;

    if (tmp == NULL) {
        cnnc_err_set(err, errlen, path, "out of memory");
        return -1;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, suffix, sizeof suffix);
    fd = mkstemp(tmp);
    if (fd < 0) {
        /* Name the template: mkstemp may have scribbled over tmp's X's. */
        cnnc_err_set(err, errlen, path, "cannot create temporary file %s%s: %s", path, suffix,
                     strerror(errno));
        free(tmp);
        return -1;
    }
    /* mkstemp makes the file 0600; give it the mode a plain fopen() would have. umask()
     * can only be read by setting it, which is racy only if another thread sets it. */
    mask = umask(022);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0)
        goto fail;
    if (write_all(fd, p, len) != 0)
        goto fail;
    /* close() reports delayed write errors (NFS, quotas): check it before renaming. */
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    free(tmp);
    return 0;

fail:
    cnnc_err_set(err, errlen, path, "cannot write: %s", strerror(errno));
    if (fd >= 0)
        close(fd);
    remove(tmp);
    free(tmp);
    return -1;
}

/* ---------------------------------------------------------------- raw float32 */

int cnnc_raw_read(cnnc_array *out, const char *path, size_t item_count,
                  char *err, size_t errlen)
{
    unsigned char *bytes;
    size_t len, item_bytes, i;

    memset(out, 0, sizeof *out);
    if (item_count == 0 || item_count > (size_t)-1 / 4 || item_count > (size_t)LONG_MAX) {
        cnnc_err_set(err, errlen, path, "bad item size %lu floats", (unsigned long)item_count);
        return -1;
    }
    item_bytes = item_count * 4;
    if (cnnc_file_read_all(&bytes, &len, path, err, errlen) != 0)
        return -1;
    if (len == 0 || len % item_bytes != 0) {
        if (len == 0)
            cnnc_err_set(err, errlen, path, "empty file (raw float32 input needs items of "
                         "%lu values, %lu bytes each)", (unsigned long)item_count,
                         (unsigned long)item_bytes);
        else
            cnnc_err_set(err, errlen, path, "file size %lu bytes is not a multiple of %lu "
                         "bytes (raw float32 items of %lu values)", (unsigned long)len,
                         (unsigned long)item_bytes, (unsigned long)item_count);
        free(bytes);
        return -1;
    }
    out->count = len / 4;
    out->data = malloc(out->count * sizeof *out->data);
    if (out->data == NULL) {
        cnnc_err_set(err, errlen, path, "out of memory for %lu floats",
                     (unsigned long)out->count);
        free(bytes);
        memset(out, 0, sizeof *out);
        return -1;
    }
    for (i = 0; i < out->count; i++)
        out->data[i] = cnnc_f32_load_le(bytes + 4 * i);
    free(bytes);
    out->rank = 2;
    out->shape[0] = (long)(len / item_bytes);
    out->shape[1] = (long)item_count;
    return 0;
}

int cnnc_raw_write(const char *path, const float *data, size_t count,
                   char *err, size_t errlen)
{
    unsigned char *bytes;
    size_t i;
    int rc;

    if (count > (size_t)-1 / 4) {
        cnnc_err_set(err, errlen, path, "too many values (%lu)", (unsigned long)count);
        return -1;
    }
    bytes = malloc(count > 0 ? count * 4 : 1);
    if (bytes == NULL) {
        cnnc_err_set(err, errlen, path, "out of memory");
        return -1;
    }
    for (i = 0; i < count; i++)
        cnnc_f32_store_le(bytes + 4 * i, data[i]);
    rc = cnnc_file_write_atomic(path, bytes, count * 4, err, errlen);
    free(bytes);
    return rc;
}

/* ---------------------------------------------------------------- model inputs */

enum input_format { INPUT_RAW, INPUT_NPY, INPUT_PNM };

static enum input_format input_format_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    char ext[5];
    size_t i;
    if (dot == NULL || (slash != NULL && slash > dot) || strlen(dot) != 4)
        return INPUT_RAW;
    for (i = 0; i < sizeof ext; i++)
        ext[i] = (char)tolower((unsigned char)dot[i]);
    if (strcmp(ext, ".npy") == 0)
        return INPUT_NPY;
    if (strcmp(ext, ".pgm") == 0 || strcmp(ext, ".ppm") == 0)
        return INPUT_PNM;
    return INPUT_RAW;
}

static int shape_equals_model(const long *shape, const cnnc_model *m)
{
    int i;
    for (i = 0; i < m->input_rank; i++)
        if (shape[i] != m->input_shape[i])
            return 0;
    return 1;
}

int cnnc_input_read(cnnc_array *out, const char *path, const cnnc_model *m,
                    char *err, size_t errlen)
{
    enum input_format format = input_format_of(path);
    long model_shape[CNNC_ARRAY_MAX_RANK] = { 0 };
    char have[128], want[128];
    int rc, i;

    if (format == INPUT_NPY)
        rc = cnnc_npy_read(out, path, err, errlen);
    else if (format == INPUT_PNM)
        rc = cnnc_pnm_read(out, path, err, errlen);
    else
        rc = cnnc_raw_read(out, path, m->input_size, err, errlen);
    if (rc != 0)
        return -1;

    for (i = 0; i < m->input_rank; i++)
        model_shape[i] = m->input_shape[i];
    if (format == INPUT_RAW) {
        /* A raw file has no shape: give it the model's, batched only if it holds more. */
        long items = out->shape[0];
        out->rank = m->input_rank + (items > 1);
        out->shape[0] = items;
        for (i = 0; i < m->input_rank; i++)
            out->shape[out->rank - m->input_rank + i] = model_shape[i];
        return 0;
    }
    if (out->rank == m->input_rank && shape_equals_model(out->shape, m))
        return 0;
    if (out->rank == m->input_rank + 1 && shape_equals_model(out->shape + 1, m)) {
        if (out->shape[0] >= 1)
            return 0;
        cnnc_shape_format(have, sizeof have, out->shape, out->rank);
        cnnc_err_set(err, errlen, path, "array of shape %s is an empty batch", have);
        cnnc_array_free(out);
        return -1;
    }
    cnnc_shape_format(have, sizeof have, out->shape, out->rank);
    cnnc_shape_format(want, sizeof want, model_shape, m->input_rank);
    if (format == INPUT_PNM && m->input_rank == 3)
        cnnc_err_set(err, errlen, path, "image is %ldx%ldx%ld but the model expects %dx%dx%d",
                     out->shape[0], out->shape[1], out->shape[2], m->input_shape[0],
                     m->input_shape[1], m->input_shape[2]);
    else if (format == INPUT_PNM)
        cnnc_err_set(err, errlen, path,
                     "an image %s cannot be the input of this model, which expects %s",
                     have, want);
    else
        cnnc_err_set(err, errlen, path,
                     "array has shape %s but the model expects %s or a batch (N, %s",
                     have, want, want + 1);
    cnnc_array_free(out);
    return -1;
}

/* ---------------------------------------------------------------- time */

double cnnc_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------- helpers of the command line */

int cnnc_ends_with(const char *s, const char *ext)
{
    size_t n = strlen(s), e = strlen(ext), i;
    if (n < e)
        return 0;
    for (i = 0; i < e; i++)
        if (tolower((unsigned char)s[n - e + i]) != ext[i]) /* ext is lower case */
            return 0;
    return 1;
}

int cnnc_pgm_channels_write(const char *path, const float *y, int h, int w, int c, char *err, size_t errlen)
{
    size_t base = strlen(path) - 4, k, size = (size_t)h * (size_t)w * (size_t)c;
    char *name = malloc(base + 32);
    int ch, rc = 0;

    if (name == NULL) {
        cnnc_err_set(err, errlen, path, "out of memory");
        return -1;
    }
    for (ch = 0; ch < c; ch++) {
        float lo = 0.0f, hi = 0.0f;
        int seen = 0;
        for (k = (size_t)ch; k < size; k += (size_t)c) {
            if (y[k] != y[k]) /* NaN takes no part in the range */
                continue;
            lo = !seen || y[k] < lo ? y[k] : lo;
            hi = !seen || y[k] > hi ? y[k] : hi;
            seen = 1;
        }
        sprintf(name, "%.*s_%d%s", (int)base, path, ch, path + base);
        if (cnnc_pgm_write(name, y, h, w, c, ch, lo, hi, err, errlen) != 0) {
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
