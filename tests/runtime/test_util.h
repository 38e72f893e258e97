/* test_util.h: helpers shared by the runtime's Criterion tests
 *
 * A fresh temporary directory per test (Criterion runs each test in its own process),
 * byte-level file fixtures written by the tests themselves, .npy headers built by hand,
 * and an in-process runner for cnnc_cli_main that captures stdout and stderr.
 */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <stddef.h>

#include "cnnc_runtime.h"

extern const cnnc_model tu_fake_model;    /* (5, 6, 3) -> 2 * input */
extern const cnnc_model tu_fake_team_model; /* the same, with a team API of up to 3 threads */
extern const cnnc_model tu_fake_profile_model; /* the same, a profile build of two steps */
extern const cnnc_model tu_fakecls_model; /* (10) -> softmax */
extern const cnnc_model tu_fakepair_model; /* a (2), b (3) -> 2a, b + 1, an empty (2, 0) */

/* Suite init/fini: make and remove (with its files) the test's temporary directory. */
void tu_setup(void);
void tu_teardown(void);

/* DIR/name in one of a few rotating static buffers. */
const char *tu_path(const char *name);

void tu_write(const char *path, const void *data, size_t len);
void tu_write_str(const char *path, const char *text);
unsigned char *tu_read(const char *path, size_t *len); /* malloc'd, NUL-terminated */
int tu_exists(const char *path);

/* Entries of the temporary directory whose name contains ".tmp." (leftover temps). */
int tu_temp_files(void);

/* An .npy file: version major.0, the dict text as given, padded to 64 bytes, then data. */
void tu_write_npy(const char *path, int major, const char *dict, const void *data,
                  size_t len);

/* Little-endian stores for building fixtures. */
void tu_f32le(unsigned char *p, float v);
void tu_f64le(unsigned char *p, double v);

/* Runs cnnc_cli_main with argv = {name, args..., NULL}; out/err get the captured streams
 * (NUL-terminated, truncated to their sizes). Returns the exit status. */
int tu_cli(const cnnc_model *m, char *out, size_t outlen, char *err, size_t errlen, ...);

#endif
