/* fuzz_common.h: what every libFuzzer harness of the C runtime shares
 *
 * The runtime's readers take a path, not a buffer, so each input is written to a file
 * in a private directory (mkdtemp under $CNNC_FUZZ_TMP, else /tmp) and read back from
 * there; the directory is removed at exit. A harness checks the reader's contract, not
 * only that it survives: on failure *out is empty and err names the file; on success the
 * array is consistent (count is the product of the shape, rank in range). A broken
 * contract calls fuzz_fail, which aborts, so libFuzzer saves the input like a crash.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cnnc_runtime.h"

static char fuzz_dir[4096];
static char fuzz_path[4200];

static void fuzz_cleanup(void)
{
    if (fuzz_path[0] != '\0')
        unlink(fuzz_path);
    if (fuzz_dir[0] != '\0')
        rmdir(fuzz_dir);
}

static void fuzz_fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz contract broken: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

/* Writes data to the private directory as a file named "input<ext>"; returns its path. */
static const char *fuzz_write(const uint8_t *data, size_t size, const char *ext)
{
    FILE *f;
    if (fuzz_dir[0] == '\0') {
        const char *base = getenv("CNNC_FUZZ_TMP");
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/cnnc_fuzz.XXXXXX", base && *base ? base : "/tmp");
        if (mkdtemp(fuzz_dir) == NULL) {
            perror("fuzz: mkdtemp");
            exit(3);
        }
        atexit(fuzz_cleanup);
    }
    if (fuzz_path[0] != '\0')
        unlink(fuzz_path);
    snprintf(fuzz_path, sizeof fuzz_path, "%s/input%s", fuzz_dir, ext);
    f = fopen(fuzz_path, "wb");
    if (f == NULL || (size > 0 && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror("fuzz: writing the input file");
        exit(3);
    }
    return fuzz_path;
}

/* The contract of every reader's result (cnnc_runtime.h). */
static void fuzz_check_result(int rc, const cnnc_array *a, const char *path, const char *err)
{
    size_t count = 1;
    int i;
    if (rc != 0 && rc != -1)
        fuzz_fail("reader returned neither 0 nor -1", NULL);
    if (rc != 0) {
        if (a->data != NULL || a->rank != 0 || a->count != 0)
            fuzz_fail("failed read left data in *out", err);
        if (strncmp(err, path, strlen(path)) != 0 || err[strlen(path)] != ':' || strlen(err) < strlen(path) + 5)
            fuzz_fail("error message does not start with the file name and a reason", err);
        return;
    }
    if (a->data == NULL || a->rank < 0 || a->rank > CNNC_ARRAY_MAX_RANK)
        fuzz_fail("successful read with no data or a bad rank", NULL);
    for (i = 0; i < a->rank; i++) {
        if (a->shape[i] < 0)
            fuzz_fail("negative dimension in a successful read", NULL);
        count *= (size_t)a->shape[i];
    }
    if (count != a->count)
        fuzz_fail("count is not the product of the shape", NULL);
    /* Touch every value so ASan sees an undersized buffer. */
    {
        volatile float sink = 0.0f;
        size_t k;
        for (k = 0; k < a->count; k++)
            sink += a->data[k];
        (void)sink;
    }
}

#endif
