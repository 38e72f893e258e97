/* cnnc runtime internals: helpers shared by the runtime's .c files
 *
 * Error formatting, whole-file reads, atomic writes, shape printing and byte-order
 * conversion. Not part of the public API (cnnc_runtime.h), so they may change freely.
 * Same conventions as the public API: output first, 0 / -1 returns, messages prefixed
 * with the file name.
 */
#ifndef CNNC_INTERNAL_H
#define CNNC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cnnc_runtime.h"

/* Formats "PATH: message" into err (truncating; err may be NULL or errlen 0). */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
void cnnc_err_set(char *err, size_t errlen, const char *path, const char *fmt, ...);

/* Reads the whole file; *data is malloc'd (never NULL on success, even when empty).
 * Rejects directories, which fopen() accepts on Linux. */
int cnnc_file_read_all(unsigned char **data, size_t *len, const char *path,
                       char *err, size_t errlen);

/* Writes len bytes to path through PATH.tmp.XXXXXX and rename(): on any failure the
 * temporary file is removed and an existing file at path is left untouched. */
int cnnc_file_write_atomic(const char *path, const void *data, size_t len,
                           char *err, size_t errlen);

/* "(28, 28, 1)", "(10)" or "()" into out, truncating if out is too small. */
void cnnc_shape_format(char *out, size_t outlen, const long *shape, int rank);

/* count = product of shape[0..rank); -1 if a dimension is negative or it overflows. */
int cnnc_shape_count(size_t *count, const long *shape, int rank);

/* Little-endian loads and stores, independent of the host's byte order. */
float cnnc_f32_load_le(const unsigned char *p);
double cnnc_f64_load_le(const unsigned char *p);
void cnnc_f32_store_le(unsigned char *p, float v);

/* Does s end with ext (lower case), ignoring the case of s? */
int cnnc_ends_with(const char *s, const char *ext);

/* One 8-bit image per channel of the (h, w, c) values y, PATH_<c>.pgm for PATH.pgm, each
 * stretched from its min to its max (NaN ignored); on failure removes those already
 * written, so either all channels exist or none. */
int cnnc_pgm_channels_write(const char *path, const float *y, int h, int w, int c, char *err, size_t errlen);

/* The command line's gradient run (cnnc_grad.c), after the input was read: n items of
 * input (batched: the file had a batch axis), the output gradient read from dy_path, the
 * input gradient written to dx_path (or printed with the weight gradients' norms when
 * both dx_path and dir are NULL), the weight gradients summed over the items written to
 * dir/<layer>.<weight>.npy; with bench > 0 also times `bench` backward runs of the first
 * item, after `warmup` untimed ones. team: the run's team of threads (NULL: none). Everything is computed before
 * anything is written, and a failed write removes what was written. 0, or -1 with err. */
int cnnc_grad_run(const cnnc_model *m, const float *input, size_t n, int batched, const char *dy_path,
                  const char *dx_path, const char *dir, long bench, long warmup, void *team, char *err,
                  size_t errlen);

#endif /* CNNC_INTERNAL_H */
