/* libFuzzer harness: cnnc_raw_read (runtime/cnnc_io.c). The first two bytes choose the
 * item size (0..65535 floats, so also the invalid 0), the rest is the file. A successful
 * read is (items, item_count) and holds exactly the file's floats, bit for bit. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    cnnc_array a;
    const char *path;
    size_t item_count, k;
    int rc;
    if (size < 2)
        return 0;
    item_count = (size_t)data[0] | (size_t)data[1] << 8;
    path = fuzz_write(data + 2, size - 2, ".bin");
    err[0] = '\0';
    rc = cnnc_raw_read(&a, path, item_count, err, sizeof err);
    fuzz_check_result(rc, &a, path, err);
    if (rc == 0) {
        if (a.rank != 2 || (size_t)a.shape[1] != item_count || a.shape[0] < 1
            || a.count * 4 != size - 2)
            fuzz_fail("raw read is not (items, item_count) covering the whole file", NULL);
        for (k = 0; k < a.count; k++)
            if (memcmp(&a.data[k], data + 2 + 4 * k, 4) != 0) /* little-endian hosts */
                fuzz_fail("value differs from the file's bytes", NULL);
    }
    cnnc_array_free(&a);
    return 0;
}
