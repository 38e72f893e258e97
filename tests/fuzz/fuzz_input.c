/* libFuzzer harness: cnnc_input_read (runtime/cnnc_io.c), the whole input-loading path
 * of a generated executable: choose the format by extension, read, check against the
 * model's input shape. The first byte picks the extension (.npy, .NPY, .pgm, .ppm, .raw,
 * none), the next one the rank (1..4) and one byte per dimension its size (1..256); the
 * rest is the file. A successful read is one input (the model's shape) or a batch of
 * B >= 1 of them, exactly as cnnc_runtime.h promises, and nothing else. */
#include "fuzz_common.h"

static const char *const exts[] = { ".npy", ".NPY", ".pgm", ".ppm", ".raw", "" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    cnnc_array a;
    cnnc_model m;
    const char *path;
    size_t used, k;
    int rc, i;
    if (size < 2)
        return 0;
    memset(&m, 0, sizeof m);
    m.name = "fuzz";
    m.input_rank = 1 + data[1] % 4;
    if (size < 2 + (size_t)m.input_rank)
        return 0;
    m.input_size = 1;
    for (i = 0; i < m.input_rank; i++) {
        m.input_shape[i] = 1 + data[2 + i];
        m.input_size *= (size_t)m.input_shape[i];
    }
    used = 2 + (size_t)m.input_rank;
    path = fuzz_write(data + used, size - used, exts[data[0] % 6]);
    err[0] = '\0';
    rc = cnnc_input_read(&a, path, &m, err, sizeof err);
    fuzz_check_result(rc, &a, path, err);
    if (rc == 0) {
        int batched = a.rank == m.input_rank + 1;
        if (a.rank != m.input_rank && !batched)
            fuzz_fail("input rank is neither the model's nor one more", NULL);
        for (i = 0; i < m.input_rank; i++)
            if (a.shape[batched + i] != m.input_shape[i])
                fuzz_fail("input shape differs from the model's", NULL);
        if (batched && a.shape[0] < 1)
            fuzz_fail("empty batch accepted", NULL);
        if (a.count == 0 || a.count % m.input_size != 0)
            fuzz_fail("value count is not a whole number of inputs", NULL);
        for (k = 0; k < a.count; k++) /* the CLI hands every item to the model */
            (void)*(volatile float *)&a.data[k];
    }
    cnnc_array_free(&a);
    return 0;
}
