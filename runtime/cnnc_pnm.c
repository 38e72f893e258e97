/* cnnc runtime: binary PGM and PPM images
 *
 * Reads P5 (grayscale) and P6 (RGB) files with 8- or 16-bit samples into (H, W, C) float
 * arrays scaled to [0, 1], and writes one channel of a float image as an 8-bit P5. These
 * are the simplest image formats every tool can produce (ImageMagick, netpbm, PIL), which
 * is why the runtime needs no image library. Plain (ASCII) variants, bitmaps and PAM are
 * rejected rather than half-supported.
 * See https://netpbm.sourceforge.net/doc/pgm.html and .../ppm.html
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnnc_internal.h"

/* Caps a header number well above any real image but low enough that products of two
 * of them fit in size_t's 64 bits, and the pixel count keeps allocations sane. */
#define PNM_NUMBER_MAX 0x3fffffffUL
#define PNM_PIXELS_MAX (1UL << 30)

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Skips whitespace and '#' comments (which run to the end of the line). */
static size_t skip_space(const unsigned char *b, size_t len, size_t i)
{
    while (i < len) {
        if (b[i] == '#') {
            while (i < len && b[i] != '\n' && b[i] != '\r')
                i++;
        } else if (is_space(b[i])) {
            i++;
        } else {
            break;
        }
    }
    return i;
}

/* Parses a decimal header number at *i; -1 if there is none or it is absurdly large. */
static int parse_number(unsigned long *v, const unsigned char *b, size_t len, size_t *i)
{
    size_t j = skip_space(b, len, *i);
    unsigned long n = 0;
    if (j >= len || b[j] < '0' || b[j] > '9')
        return -1;
    while (j < len && b[j] >= '0' && b[j] <= '9') {
        n = n * 10 + (unsigned long)(b[j++] - '0');
        if (n > PNM_NUMBER_MAX)
            return -1;
    }
    *v = n;
    *i = j;
    return 0;
}

static int check_magic(const unsigned char *b, size_t len, const char *path,
                       char *err, size_t errlen)
{
    static const char *const kinds[] = {
        "ASCII PBM bitmaps (P1) are", "ASCII PGM (P2) is", "ASCII PPM (P3) is",
        "binary PBM bitmaps (P4) are", NULL, NULL, "PAM (P7) is",
    };
    if (len == 0) {
        cnnc_err_set(err, errlen, path, "empty file");
        return -1;
    }
    if (len < 2 || b[0] != 'P' || b[1] < '1' || b[1] > '7') {
        cnnc_err_set(err, errlen, path, "not a PGM/PPM image (bad magic)");
        return -1;
    }
    if (kinds[b[1] - '1'] != NULL) {
        cnnc_err_set(err, errlen, path,
                     "%s not supported, only binary PGM (P5) and PPM (P6); convert it, "
                     "e.g. with netpbm's pnmtopnm or ImageMagick's convert",
                     kinds[b[1] - '1']);
        return -1;
    }
    return 0;
}

int cnnc_pnm_read(cnnc_array *out, const char *path, char *err, size_t errlen)
{
    static const char *const names[] = { "width", "height", "maxval" };
    unsigned char *b;
    unsigned long v[3];
    size_t len, i = 2, pixels, count, data_len, k;
    int channels, wide, n;

    memset(out, 0, sizeof *out);
    if (cnnc_file_read_all(&b, &len, path, err, errlen) != 0)
        return -1;
    if (check_magic(b, len, path, err, errlen) != 0)
        goto fail;
    channels = b[1] == '5' ? 1 : 3;
    for (n = 0; n < 3; n++)
        if (parse_number(&v[n], b, len, &i) != 0) {
            cnnc_err_set(err, errlen, path, "bad or missing %s in the %s header", names[n],
                         channels == 1 ? "PGM" : "PPM");
            goto fail;
        }
    /* Exactly one whitespace byte ends the header: the pixel data may start with bytes
     * that look like spaces. A comment may come before it. */
    if (i < len && b[i] == '#')
        while (i < len && b[i] != '\n' && b[i] != '\r')
            i++;
    if (i >= len || !is_space(b[i])) {
        cnnc_err_set(err, errlen, path, "no whitespace after maxval in the header");
        goto fail;
    }
    i++;
    if (v[0] == 0 || v[1] == 0) {
        cnnc_err_set(err, errlen, path, "bad image size %lux%lu", v[0], v[1]);
        goto fail;
    }
    if (v[2] == 0 || v[2] > 65535) {
        cnnc_err_set(err, errlen, path, "maxval %lu is out of range (1..65535)", v[2]);
        goto fail;
    }
    pixels = (size_t)v[0] * v[1];
    if (pixels > PNM_PIXELS_MAX) {
        cnnc_err_set(err, errlen, path, "image of %lux%lu pixels is too large (limit 2^30)",
                     v[0], v[1]);
        goto fail;
    }
    wide = v[2] > 255;
    count = pixels * (size_t)channels;
    data_len = count * (wide ? 2 : 1);
    if (len - i != data_len) {
        if (len - i < data_len)
            cnnc_err_set(err, errlen, path,
                         "truncated: header says %lux%lu pixels (width x height), %d "
                         "channel(s) of %d bits: %lu bytes, but only %lu bytes follow",
                         v[0], v[1], channels, wide ? 16 : 8,
                         (unsigned long)data_len, (unsigned long)(len - i));
        else
            cnnc_err_set(err, errlen, path,
                         "%lu bytes after the image data (files holding several images are "
                         "not supported)", (unsigned long)(len - i - data_len));
        goto fail;
    }

    out->data = malloc(count * sizeof *out->data);
    if (out->data == NULL) {
        cnnc_err_set(err, errlen, path, "out of memory for %lu values", (unsigned long)count);
        goto fail;
    }
    for (k = 0; k < count; k++) {
        unsigned long s = wide ? (unsigned long)b[i + 2 * k] << 8 | b[i + 2 * k + 1]
                               : b[i + k];
        if (s > v[2]) {
            cnnc_err_set(err, errlen, path,
                         "sample value %lu exceeds maxval %lu (row %lu, column %lu)", s, v[2],
                         (unsigned long)(k / (size_t)channels / v[0]),
                         (unsigned long)(k / (size_t)channels % v[0]));
            cnnc_array_free(out);
            goto fail;
        }
        out->data[k] = (float)s / (float)v[2];
    }
    out->rank = 3;
    out->shape[0] = (long)v[1];
    out->shape[1] = (long)v[0];
    out->shape[2] = channels;
    out->count = count;
    free(b);
    return 0;

fail:
    free(b);
    return -1;
}

int cnnc_pgm_write(const char *path, const float *data, int height, int width,
                   int channels, int channel, float lo, float hi, char *err, size_t errlen)
{
    char header[64];
    unsigned char *file, *pix;
    size_t pixels, k;
    double scale;
    int n, rc;

    if (height <= 0 || width <= 0 || channels <= 0 || channel < 0 || channel >= channels
        || (size_t)height * (size_t)width > PNM_PIXELS_MAX) {
        cnnc_err_set(err, errlen, path, "cannot write channel %d of a %dx%dx%d image", channel,
                     height, width, channels);
        return -1;
    }
    pixels = (size_t)height * (size_t)width;
    n = snprintf(header, sizeof header, "P5\n%d %d\n255\n", width, height);
    file = malloc((size_t)n + pixels);
    if (file == NULL) {
        cnnc_err_set(err, errlen, path, "out of memory");
        return -1;
    }
    memcpy(file, header, (size_t)n);
    pix = file + n;
    scale = hi != lo ? 255.0 / ((double)hi - (double)lo) : 0.0;
    for (k = 0; k < pixels; k++) {
        double t = ((double)data[k * (size_t)channels + (size_t)channel] - lo) * scale;
        /* The negated test also sends NaN to 0. */
        if (!(t > 0.0))
            t = 0.0;
        if (t > 255.0)
            t = 255.0;
        pix[k] = (unsigned char)(t + 0.5);
    }
    rc = cnnc_file_write_atomic(path, file, (size_t)n + pixels, err, errlen);
    free(file);
    return rc;
}
