/* libFuzzer harness: cnnc_npy_read (runtime/cnnc_npy.c) on arbitrary bytes.
 * Besides memory safety, checks the reader's contract (fuzz_common.h) and what a
 * successful read promises: rank <= 8, and the file is exactly header plus data, so the
 * value count can never exceed the file size. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    cnnc_array a;
    const char *path = fuzz_write(data, size, ".npy");
    int rc;
    err[0] = '\0';
    rc = cnnc_npy_read(&a, path, err, sizeof err);
    fuzz_check_result(rc, &a, path, err);
    if (rc == 0 && a.count > size)
        fuzz_fail("more values than bytes in the file", NULL);
    cnnc_array_free(&a);
    return 0;
}
