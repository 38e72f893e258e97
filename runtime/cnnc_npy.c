/* cnnc runtime: NumPy .npy files
 *
 * Reads format versions 1.0, 2.0 and 3.0 holding C-ordered float32, float64 or uint8
 * arrays, and writes float32 version 1.0 files byte-identical to np.save's. The header is
 * a Python dict literal; a small strict scanner accepts what numpy writes (with any
 * spacing, quoting or key order) and nothing else, never evaluating anything. The reader
 * is strict everywhere else too: a file that could be misread (Fortran order, big-endian,
 * missing or extra data) is rejected with a message saying how to fix it.
 * See https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnnc_internal.h"

static const char npy_magic[6] = { '\x93', 'N', 'U', 'M', 'P', 'Y' };

enum npy_dtype { NPY_F32, NPY_F64, NPY_U8 };

static const struct { const char *name; int size; } npy_dtypes[] = {
    { "float32", 4 }, { "float64", 8 }, { "uint8", 1 },
};

/* What the header dict says; `seen` is a bit per key, to catch missing or repeated ones. */
struct npy_header {
    enum npy_dtype dtype;
    int rank;
    long shape[CNNC_ARRAY_MAX_RANK];
    int seen;
};

/* Scanner state over the header text; errors stop at the first problem. */
struct npy_scan {
    const char *p, *start, *end;
    const char *path;
    char *err;
    size_t errlen;
};

static int scan_fail(struct npy_scan *s, const char *what)
{
    cnnc_err_set(s->err, s->errlen, s->path,
                 "malformed .npy header: %s at byte %ld of the header dict", what,
                 (long)(s->p - s->start));
    return -1;
}

static void scan_space(struct npy_scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* Consumes c (after spaces) if it is next. */
static int scan_char(struct npy_scan *s, char c)
{
    scan_space(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return 1;
    }
    return 0;
}

static int scan_word(struct npy_scan *s, const char *word)
{
    size_t n = strlen(word);
    scan_space(s);
    if ((size_t)(s->end - s->p) >= n && memcmp(s->p, word, n) == 0) {
        s->p += n;
        return 1;
    }
    return 0;
}

/* A Python string literal without escapes or NUL bytes, which numpy never writes in keys
 * or dtypes. */
static int scan_string(struct npy_scan *s, char *out, size_t outlen)
{
    char quote;
    size_t n = 0;
    scan_space(s);
    if (s->p >= s->end || (*s->p != '\'' && *s->p != '"'))
        return scan_fail(s, "expected a quoted string");
    quote = *s->p++;
    while (s->p < s->end && *s->p != quote) {
        if (*s->p == '\\' || *s->p == '\0' || n + 1 >= outlen)
            return scan_fail(s, "unexpected string contents");
        out[n++] = *s->p++;
    }
    if (s->p >= s->end)
        return scan_fail(s, "unterminated string");
    s->p++;
    out[n] = '\0';
    return 0;
}

/* No real array has a dimension above 2^40; the compiler's reader (cnnc.npy) draws the
 * line at the same place, so both accept the same files. (Where long has 32 bits, at
 * LONG_MAX.) */
#define NPY_DIM_MAX (LONG_MAX / 1048576 >= 1048576 ? 1099511627776L : LONG_MAX)

static int scan_dim(struct npy_scan *s, long *dim)
{
    long v = 0;
    scan_space(s);
    if (s->p < s->end && *s->p == '-') {
        int n = 1;
        while (n < 20 && s->p + n < s->end && s->p[n] >= '0' && s->p[n] <= '9')
            n++;
        cnnc_err_set(s->err, s->errlen, s->path, "negative dimension %.*s in shape", n, s->p);
        return -1;
    }
    if (s->p >= s->end || *s->p < '0' || *s->p > '9')
        return scan_fail(s, "expected a dimension");
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
        int digit = *s->p++ - '0';
        if (v > (NPY_DIM_MAX - digit) / 10) {
            cnnc_err_set(s->err, s->errlen, s->path, "dimension too large in shape (more than 2^40)");
            return -1;
        }
        v = v * 10 + digit;
    }
    if (s->p < s->end && *s->p == 'L') /* Python 2 longs */
        s->p++;
    *dim = v;
    return 0;
}

/* "(2, 3)", "(5,)", "()"; a trailing comma is optional. */
static int scan_shape(struct npy_scan *s, struct npy_header *h)
{
    if (!scan_char(s, '('))
        return scan_fail(s, "expected a shape tuple");
    h->rank = 0;
    while (!scan_char(s, ')')) {
        long dim = 0;
        if (h->rank == CNNC_ARRAY_MAX_RANK) {
            cnnc_err_set(s->err, s->errlen, s->path, "rank is more than %d, not supported",
                         CNNC_ARRAY_MAX_RANK);
            return -1;
        }
        if (scan_dim(s, &dim) != 0)
            return -1;
        h->shape[h->rank++] = dim;
        if (!scan_char(s, ',')) {
            if (!scan_char(s, ')'))
                return scan_fail(s, "expected ',' or ')' in shape");
            break;
        }
    }
    return 0;
}

static int scan_descr(struct npy_scan *s, struct npy_header *h)
{
    char d[32];
    scan_space(s);
    if (s->p < s->end && *s->p == '[') {
        cnnc_err_set(s->err, s->errlen, s->path,
                     "structured dtype is not supported (expected float32, float64 or uint8)");
        return -1;
    }
    if (scan_string(s, d, sizeof d) != 0)
        return -1;
    if (strcmp(d, "<f4") == 0)
        h->dtype = NPY_F32;
    else if (strcmp(d, "<f8") == 0)
        h->dtype = NPY_F64;
    else if (strcmp(d, "|u1") == 0 || strcmp(d, "<u1") == 0)
        h->dtype = NPY_U8;
    else if (strcmp(d, ">f4") == 0 || strcmp(d, ">f8") == 0) {
        cnnc_err_set(s->err, s->errlen, s->path,
                     "big-endian dtype '%s' is not supported; convert with "
                     "a.astype('<f4') before saving", d);
        return -1;
    } else {
        cnnc_err_set(s->err, s->errlen, s->path,
                     "unsupported dtype '%s' (expected float32, float64 or uint8)", d);
        return -1;
    }
    return 0;
}

/* The dict: {'descr': ..., 'fortran_order': ..., 'shape': ...} in any order. */
static int scan_header(struct npy_scan *s, struct npy_header *h)
{
    static const char *keys[] = { "descr", "fortran_order", "shape" };
    char key[32];
    int k;

    h->seen = 0;
    if (!scan_char(s, '{'))
        return scan_fail(s, "expected '{'");
    while (!scan_char(s, '}')) {
        if (scan_string(s, key, sizeof key) != 0)
            return -1;
        for (k = 0; k < 3 && strcmp(key, keys[k]) != 0; k++)
            continue;
        if (k == 3 || (h->seen & 1 << k)) {
            cnnc_err_set(s->err, s->errlen, s->path, "malformed .npy header: %s key '%s'",
                         k == 3 ? "unexpected" : "repeated", key);
            return -1;
        }
        h->seen |= 1 << k;
        if (!scan_char(s, ':'))
            return scan_fail(s, "expected ':' after a key");
        if (k == 0 && scan_descr(s, h) != 0)
            return -1;
        if (k == 1) {
            if (scan_word(s, "True")) {
                cnnc_err_set(s->err, s->errlen, s->path,
                             "fortran_order: True is not supported; save a C-ordered array "
                             "with np.save(path, np.ascontiguousarray(a))");
                return -1;
            }
            if (!scan_word(s, "False"))
                return scan_fail(s, "expected True or False for fortran_order");
        }
        if (k == 2 && scan_shape(s, h) != 0)
            return -1;
        if (!scan_char(s, ',')) {
            if (!scan_char(s, '}'))
                return scan_fail(s, "expected ',' or '}'");
            break;
        }
    }
    scan_space(s);
    if (s->p != s->end)
        return scan_fail(s, "unexpected text after the dict");
    for (k = 0; k < 3; k++)
        if (!(h->seen & 1 << k)) {
            cnnc_err_set(s->err, s->errlen, s->path, "malformed .npy header: missing key '%s'",
                         keys[k]);
            return -1;
        }
    return 0;
}

int cnnc_npy_read(cnnc_array *out, const char *path, char *err, size_t errlen)
{
    struct npy_header h;
    struct npy_scan s;
    unsigned char *bytes, *body;
    size_t len, prefix, header_len, count, data_len, i;
    int size;

    memset(out, 0, sizeof *out);
    if (cnnc_file_read_all(&bytes, &len, path, err, errlen) != 0)
        return -1;
    if (len == 0) {
        cnnc_err_set(err, errlen, path, "empty file");
        goto fail;
    }
    if (len < 8 || memcmp(bytes, npy_magic, sizeof npy_magic) != 0) {
        cnnc_err_set(err, errlen, path, "not a .npy file (bad magic)");
        goto fail;
    }
    if (bytes[6] < 1 || bytes[6] > 3 || bytes[7] != 0) {
        cnnc_err_set(err, errlen, path,
                     "unsupported .npy version %d.%d (expected 1.0, 2.0 or 3.0)", bytes[6],
                     bytes[7]);
        goto fail;
    }
    /* Version 1.0 has a 2-byte header length, 2.0 and 3.0 a 4-byte one. */
    prefix = bytes[6] == 1 ? 10 : 12;
    if (len < prefix) {
        cnnc_err_set(err, errlen, path, "truncated .npy header");
        goto fail;
    }
    header_len = (size_t)bytes[8] | (size_t)bytes[9] << 8;
    if (prefix == 12)
        header_len |= (size_t)bytes[10] << 16 | (size_t)bytes[11] << 24;
    if (header_len > len - prefix) {
        cnnc_err_set(err, errlen, path,
                     "truncated .npy header: it says %lu bytes but only %lu follow",
                     (unsigned long)header_len, (unsigned long)(len - prefix));
        goto fail;
    }
    s.start = s.p = (const char *)bytes + prefix;
    s.end = s.start + header_len;
    s.path = path;
    s.err = err;
    s.errlen = errlen;
    if (scan_header(&s, &h) != 0)
        goto fail;

    size = npy_dtypes[h.dtype].size;
    if (cnnc_shape_count(&count, h.shape, h.rank) != 0 || count > (size_t)-1 / 8) {
        char shape[256];
        cnnc_shape_format(shape, sizeof shape, h.shape, h.rank);
        cnnc_err_set(err, errlen, path, "shape %s is too large", shape);
        goto fail;
    }
    data_len = count * (size_t)size;
    body = bytes + prefix + header_len;
    if (len - prefix - header_len != data_len) {
        size_t have = len - prefix - header_len;
        if (have < data_len)
            cnnc_err_set(err, errlen, path,
                         "truncated: header says %lu %s values (%lu bytes) but only %lu "
                         "bytes follow", (unsigned long)count, npy_dtypes[h.dtype].name,
                         (unsigned long)data_len, (unsigned long)have);
        else
            cnnc_err_set(err, errlen, path,
                         "%lu bytes after the data (header says %lu %s values, %lu bytes)",
                         (unsigned long)(have - data_len), (unsigned long)count,
                         npy_dtypes[h.dtype].name, (unsigned long)data_len);
        goto fail;
    }

    out->data = malloc(count > 0 ? count * sizeof *out->data : 1);
    if (out->data == NULL) {
        cnnc_err_set(err, errlen, path, "out of memory for %lu values", (unsigned long)count);
        goto fail;
    }
    for (i = 0; i < count; i++) {
        if (h.dtype == NPY_F32)
            out->data[i] = cnnc_f32_load_le(body + 4 * i);
        else if (h.dtype == NPY_F64)
            out->data[i] = (float)cnnc_f64_load_le(body + 8 * i);
        else
            out->data[i] = (float)body[i];
    }
    out->rank = h.rank;
    memcpy(out->shape, h.shape, sizeof h.shape[0] * (size_t)h.rank);
    out->count = count;
    free(bytes);
    return 0;

fail:
    free(bytes);
    return -1;
}

int cnnc_npy_write(const char *path, const float *data, int rank, const long *shape,
                   char *err, size_t errlen)
{
    char header[512];
    unsigned char *file;
    size_t count, header_len, file_len, i;
    int n, d, rc;

    if (rank < 0 || rank > CNNC_ARRAY_MAX_RANK) {
        cnnc_err_set(err, errlen, path, "cannot write rank %d (0..%d supported)", rank,
                     CNNC_ARRAY_MAX_RANK);
        return -1;
    }
    if (cnnc_shape_count(&count, shape, rank) != 0 || count > ((size_t)-1 - 1024) / 4) {
        cnnc_err_set(err, errlen, path, "cannot write: bad or too large shape");
        return -1;
    }
    /* Byte for byte what np.save (numpy >= 1.24) writes, so outputs diff cleanly against
     * reference files: the same dict text, room for the first axis to grow to 21 digits,
     * then 1..64 spaces and a newline so the data starts 64-byte aligned. */
    n = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (d = 0; d < rank; d++)
        n += snprintf(header + n, sizeof header - (size_t)n, d > 0 ? ", %ld" : "%ld",
                      shape[d]);
    n += snprintf(header + n, sizeof header - (size_t)n, "%s), }", rank == 1 ? "," : "");
    if (rank > 0)
        n += snprintf(header + n, sizeof header - (size_t)n, "%*s",
                      21 - snprintf(NULL, 0, "%ld", shape[0]), "");
    header_len = (size_t)n + 1;
    header_len += 64 - (10 + header_len) % 64;

    file_len = 10 + header_len + count * 4;
    file = malloc(file_len);
    if (file == NULL) {
        cnnc_err_set(err, errlen, path, "out of memory");
        return -1;
    }
    memcpy(file, npy_magic, sizeof npy_magic);
    file[6] = 1;
    file[7] = 0;
    file[8] = (unsigned char)header_len;
    file[9] = (unsigned char)(header_len >> 8);
    memcpy(file + 10, header, (size_t)n);
    memset(file + 10 + n, ' ', header_len - (size_t)n - 1);
    file[10 + header_len - 1] = '\n';
    for (i = 0; i < count; i++)
        cnnc_f32_store_le(file + 10 + header_len + 4 * i, data[i]);
    rc = cnnc_file_write_atomic(path, file, file_len, err, errlen);
    free(file);
    return rc;
}
