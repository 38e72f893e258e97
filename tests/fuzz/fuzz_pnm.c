/* libFuzzer harness: cnnc_pnm_read (runtime/cnnc_pnm.c) on arbitrary bytes.
 * Besides memory safety and the reader's contract (fuzz_common.h): a successful read is
 * an (H, W, 1) or (H, W, 3) image whose values all lie in [0, 1], and the file starts
 * with P5 or P6. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    cnnc_array a;
    const char *path = fuzz_write(data, size, ".pgm");
    size_t k;
    int rc;
    err[0] = '\0';
    rc = cnnc_pnm_read(&a, path, err, sizeof err);
    fuzz_check_result(rc, &a, path, err);
    if (rc == 0) {
        if (a.rank != 3 || a.shape[0] < 1 || a.shape[1] < 1 || (a.shape[2] != 1 && a.shape[2] != 3))
            fuzz_fail("image is not (H, W, 1) or (H, W, 3)", NULL);
        if (size < 2 || data[0] != 'P' || (data[1] != '5' && data[1] != '6')
            || (a.shape[2] == 3) != (data[1] == '6'))
            fuzz_fail("channel count does not match the magic", NULL);
        for (k = 0; k < a.count; k++)
            if (!(a.data[k] >= 0.0f && a.data[k] <= 1.0f))
                fuzz_fail("pixel value outside [0, 1]", NULL);
    }
    cnnc_array_free(&a);
    return 0;
}
