/* test_raw.c: raw float32 files and cnnc_input_read's dispatch and shape checks
 *
 * The model is fake_model.h's `fake`, input (5, 6, 3) = 90 floats.
 */
#define _XOPEN_SOURCE 700 /* symlink, lstat, mkfifo */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/wait.h>
#include <time.h>

#include <criterion/criterion.h>

#include "test_util.h"

TestSuite(raw, .init = tu_setup, .fini = tu_teardown);

static void write_raw(const char *name, size_t count)
{
    unsigned char *b = malloc(4 * count + 1);
    size_t i;
    for (i = 0; i < count; i++)
        tu_f32le(b + 4 * i, (float)i - 0.5f);
    tu_write(tu_path(name), b, 4 * count);
    free(b);
}

Test(raw, reads_items)
{
    cnnc_array a;
    char err[256];
    write_raw("x.bin", 12);
    cr_assert_eq(cnnc_raw_read(&a, tu_path("x.bin"), 4, err, sizeof err), 0, "%s", err);
    cr_assert_eq(a.rank, 2);
    cr_assert_eq(a.shape[0], 3);
    cr_assert_eq(a.shape[1], 4);
    cr_assert_eq(a.count, 12);
    cr_assert_eq(a.data[0], -0.5f);
    cr_assert_eq(a.data[11], 10.5f);
    cnnc_array_free(&a);
}

Test(raw, rejects_partial_items_empty_and_missing_files)
{
    cnnc_array a;
    char err[256];
    write_raw("x.bin", 5);
    cr_assert_eq(cnnc_raw_read(&a, tu_path("x.bin"), 4, err, sizeof err), -1);
    cr_assert(strstr(err, "x.bin: file size 20 bytes is not a multiple of 16 bytes (raw "
                          "float32 items of 4 values)") != NULL, "%s", err);
    cr_assert_null(a.data);
    tu_write(tu_path("e.bin"), "", 0);
    cr_assert_eq(cnnc_raw_read(&a, tu_path("e.bin"), 4, err, sizeof err), -1);
    cr_assert(strstr(err, "e.bin: empty file (raw float32 input needs items of 4 values, "
                          "16 bytes each)") != NULL, "%s", err);
    cr_assert_eq(cnnc_raw_read(&a, tu_path("x.bin"), 0, err, sizeof err), -1);
    cr_assert(strstr(err, "bad item size 0 floats") != NULL, "%s", err);
    cr_assert_eq(cnnc_raw_read(&a, tu_path("none.bin"), 4, err, sizeof err), -1);
    cr_assert(strstr(err, "none.bin: cannot open: No such file or directory") != NULL, "%s", err);
}

Test(raw, write_is_little_endian_and_round_trips)
{
    static const float v[3] = { 1.0f, -2.0f, 0.25f };
    static const unsigned char want[12] = { 0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 0, 0, 0x80, 0x3e };
    unsigned char *b;
    size_t len;
    char err[256];
    cnnc_array a;
    cr_assert_eq(cnnc_raw_write(tu_path("w.raw"), v, 3, err, sizeof err), 0, "%s", err);
    b = tu_read(tu_path("w.raw"), &len);
    cr_assert_eq(len, 12);
    cr_assert_arr_eq(b, want, 12);
    free(b);
    cr_assert_eq(cnnc_raw_read(&a, tu_path("w.raw"), 3, err, sizeof err), 0, "%s", err);
    cr_assert_arr_eq(a.data, v, sizeof v);
    cnnc_array_free(&a);
    cr_assert_eq(tu_temp_files(), 0);
    cr_assert_eq(cnnc_raw_write(tu_path("no/w.raw"), v, 3, err, sizeof err), -1);
    cr_assert_eq(tu_temp_files(), 0);
}

/* Writes go to a temporary file renamed over the target, except where a rename would
 * destroy something: a device or FIFO is written in place, a symbolic link is followed. */
Test(raw, write_keeps_devices_fifos_and_links)
{
    static const float v[2] = { 3.0f, 4.0f };
    char err[256], target[512], fifo[512];
    struct stat st;
    unsigned char *b;
    size_t len;
    pid_t pid;
    int status;

    /* Only when /dev/null is what it should be (a program that renames over it breaks it
     * for everyone; this test must not be the one to report that). */
    if (stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode)) {
        cr_assert_eq(cnnc_raw_write("/dev/null", v, 2, err, sizeof err), 0, "%s", err);
        cr_assert_eq(stat("/dev/null", &st), 0);
        cr_assert(S_ISCHR(st.st_mode), "/dev/null is no longer a character device");
    }

    snprintf(target, sizeof target, "%s", tu_path("target.raw"));
    tu_write_str(target, "old");
    cr_assert_eq(symlink(target, tu_path("link.raw")), 0);
    cr_assert_eq(cnnc_raw_write(tu_path("link.raw"), v, 2, err, sizeof err), 0, "%s", err);
    cr_assert_eq(lstat(tu_path("link.raw"), &st), 0);
    cr_assert(S_ISLNK(st.st_mode), "the link was replaced by a file");
    b = tu_read(target, &len);
    cr_assert_eq(len, 8);
    free(b);

    /* A FIFO nobody reads: an error, not a hang; one with a reader gets the bytes. */
    snprintf(fifo, sizeof fifo, "%s", tu_path("fifo"));
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_assert_eq(cnnc_raw_write(fifo, v, 2, err, sizeof err), -1);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        char buf[64];
        size_t got = 0;
        ssize_t r;
        FILE *f = fopen(fifo, "rb");
        while (f && (r = (ssize_t)fread(buf, 1, sizeof buf, f)) > 0)
            got += (size_t)r;
        _exit(got == 8 ? 0 : 1);
    }
    {
        int tries = 0, rc;
        const struct timespec pause = { 0, 10000000 };
        /* the reader may not have opened its end yet */
        while ((rc = cnnc_raw_write(fifo, v, 2, err, sizeof err)) != 0 && tries++ < 500)
            nanosleep(&pause, NULL);
        cr_assert_eq(rc, 0, "%s", err);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the reader did not get 8 bytes");
    cr_assert_eq(stat(fifo, &st), 0);
    cr_assert(S_ISFIFO(st.st_mode), "the FIFO was replaced by a file");
    unlink(fifo);

    cr_assert_eq(cnnc_raw_write(tu_path(""), v, 2, err, sizeof err), -1);
    cr_assert(strstr(err, "directory") != NULL, "%s", err);
    cr_assert_eq(tu_temp_files(), 0);
}

/* ---- cnnc_input_read */

static void write_npy_shape(const char *name, const char *shape, size_t count)
{
    char dict[128];
    unsigned char *b = calloc(count + 1, 4);
    size_t i;
    for (i = 0; i < count; i++)
        tu_f32le(b + 4 * i, (float)i);
    snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }",
             shape);
    tu_write_npy(tu_path(name), 1, dict, b, 4 * count);
    free(b);
}

static void input_ok(cnnc_array *a, const cnnc_model *m, const char *name, int rank,
                     long batch)
{
    char err[512];
    cr_assert_eq(cnnc_input_read(a, tu_path(name), m, err, sizeof err), 0, "%s", err);
    cr_assert_eq(a->rank, rank);
    if (batch >= 0)
        cr_assert_eq(a->shape[0], batch);
    cr_assert_eq(a->shape[rank - 1], m->input_shape[m->input_rank - 1]);
}

static void input_fails(const cnnc_model *m, const char *name, const char *want)
{
    cnnc_array a;
    char err[512];
    cr_assert_eq(cnnc_input_read(&a, tu_path(name), m, err, sizeof err), -1);
    cr_assert_null(a.data);
    cr_assert(strstr(err, want) != NULL, "expected \"%s\" in: %s", want, err);
}

Test(raw, input_npy_single_and_batched)
{
    cnnc_array a;
    write_npy_shape("one.npy", "(5, 6, 3)", 90);
    input_ok(&a, &tu_fake_model, "one.npy", 3, -1);
    cr_assert_eq(a.count, 90);
    cnnc_array_free(&a);
    write_npy_shape("two.NPY", "(2, 5, 6, 3)", 180);
    input_ok(&a, &tu_fake_model, "two.NPY", 4, 2);
    cr_assert_eq(a.data[179], 179.0f);
    cnnc_array_free(&a);
    write_npy_shape("b1.npy", "(1, 5, 6, 3)", 90);
    input_ok(&a, &tu_fake_model, "b1.npy", 4, 1);
    cnnc_array_free(&a);
}

Test(raw, input_npy_shape_mismatches_name_both_shapes)
{
    write_npy_shape("w.npy", "(5, 6, 4)", 120);
    input_fails(&tu_fake_model, "w.npy", "w.npy: array has shape (5, 6, 4) but the model "
                                         "expects (5, 6, 3) or a batch (N, 5, 6, 3)");
    write_npy_shape("t.npy", "(6, 5, 3)", 90);
    input_fails(&tu_fake_model, "t.npy", "shape (6, 5, 3) but the model expects (5, 6, 3)");
    write_npy_shape("f.npy", "(90,)", 90);
    input_fails(&tu_fake_model, "f.npy", "shape (90) but");
    write_npy_shape("z.npy", "(0, 5, 6, 3)", 0);
    input_fails(&tu_fake_model, "z.npy", "z.npy: array of shape (0, 5, 6, 3) is an empty batch");
}

Test(raw, input_images_match_channels)
{
    static unsigned char px[90];
    char header[] = "P6\n6 5\n255\n";
    unsigned char file[sizeof header - 1 + 90];
    cnnc_array a;
    memcpy(file, header, sizeof header - 1);
    memcpy(file + sizeof header - 1, px, 90);
    tu_write(tu_path("in.ppm"), file, sizeof file);
    input_ok(&a, &tu_fake_model, "in.ppm", 3, -1);
    cnnc_array_free(&a);
    /* The same header as P5 with a third of the data is a 5x6 grayscale image. */
    memcpy(file, "P5", 2);
    tu_write(tu_path("in.pgm"), file, sizeof header - 1 + 30);
    input_fails(&tu_fake_model, "in.pgm", "in.pgm: image is 5x6x1 but the model expects 5x6x3");
    input_fails(&tu_fakecls_model, "in.pgm",
                "in.pgm: an image (5, 6, 1) cannot be the input of this model, which expects (10)");
}

Test(raw, input_raw_one_item_is_unbatched_several_are_a_batch)
{
    cnnc_array a;
    write_raw("one.f32", 90);
    input_ok(&a, &tu_fake_model, "one.f32", 3, -1);
    cr_assert_eq(a.shape[0], 5);
    cr_assert_eq(a.shape[1], 6);
    cnnc_array_free(&a);
    write_raw("three", 270);
    input_ok(&a, &tu_fake_model, "three", 4, 3);
    cr_assert_eq(a.shape[1], 5);
    cr_assert_eq(a.data[269], 268.5f);
    cnnc_array_free(&a);
    write_raw("bad.raw", 100);
    input_fails(&tu_fake_model, "bad.raw", "bad.raw: file size 400 bytes is not a multiple of "
                                           "360 bytes");
}

Test(raw, input_errors_from_the_readers_pass_through)
{
    input_fails(&tu_fake_model, "missing.npy", "missing.npy: cannot open: No such file");
    tu_write_str(tu_path("bad.npy"), "not numpy");
    input_fails(&tu_fake_model, "bad.npy", "bad.npy: not a .npy file (bad magic)");
}

Test(raw, time_is_monotonic)
{
    double t0 = cnnc_time_now(), t1 = cnnc_time_now();
    cr_assert(t1 >= t0);
    cr_assert(t0 > 0.0);
}
