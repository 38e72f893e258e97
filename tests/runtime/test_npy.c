/* test_npy.c: the .npy reader and writer
 *
 * Fixtures are built byte by byte here (headers as numpy writes them, then variations),
 * so every accepted and rejected case is visible in the test itself.
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "test_util.h"

TestSuite(npy, .init = tu_setup, .fini = tu_teardown);

static const long shapes[5][4] = { { 0 }, { 5 }, { 2, 3 }, { 2, 3, 4 }, { 1, 2, 3, 2 } };
static const char *const shape_text[5] = { "()", "(5,)", "(2, 3)", "(2, 3, 4)", "(1, 2, 3, 2)" };
static const size_t counts[5] = { 1, 5, 6, 24, 12 };

static char dict_buf[256];

static const char *dict(const char *descr, const char *shape)
{
    snprintf(dict_buf, sizeof dict_buf,
             "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    return dict_buf;
}

static void expect_shape(const cnnc_array *a, int rank)
{
    int d;
    cr_assert_eq(a->rank, rank);
    cr_assert_eq(a->count, counts[rank]);
    for (d = 0; d < rank; d++)
        cr_assert_eq(a->shape[d], shapes[rank][d], "rank %d axis %d", rank, d);
}

/* A value per index that is exact in float32 and differs in sign and magnitude. */
static double value_at(size_t i)
{
    return ((double)i - 7.0) * 0.375;
}

Test(npy, reads_float32_every_rank)
{
    int rank;
    size_t i;
    for (rank = 0; rank <= 4; rank++) {
        unsigned char data[4 * 24];
        cnnc_array a;
        char err[256];
        for (i = 0; i < counts[rank]; i++)
            tu_f32le(data + 4 * i, (float)value_at(i));
        tu_write_npy(tu_path("a.npy"), 1, dict("<f4", shape_text[rank]), data, 4 * counts[rank]);
        cr_assert_eq(cnnc_npy_read(&a, tu_path("a.npy"), err, sizeof err), 0, "%s", err);
        expect_shape(&a, rank);
        for (i = 0; i < counts[rank]; i++)
            cr_assert_eq(a.data[i], (float)value_at(i));
        cnnc_array_free(&a);
    }
}

Test(npy, reads_float64_every_rank)
{
    int rank;
    size_t i;
    for (rank = 0; rank <= 4; rank++) {
        unsigned char data[8 * 24];
        cnnc_array a;
        char err[256];
        for (i = 0; i < counts[rank]; i++)
            tu_f64le(data + 8 * i, value_at(i));
        tu_write_npy(tu_path("a.npy"), 1, dict("<f8", shape_text[rank]), data, 8 * counts[rank]);
        cr_assert_eq(cnnc_npy_read(&a, tu_path("a.npy"), err, sizeof err), 0, "%s", err);
        expect_shape(&a, rank);
        for (i = 0; i < counts[rank]; i++)
            cr_assert_eq(a.data[i], (float)value_at(i));
        cnnc_array_free(&a);
    }
}

Test(npy, reads_uint8_unscaled_every_rank)
{
    static const char *const descrs[] = { "|u1", "<u1" };
    int rank, k;
    size_t i;
    for (k = 0; k < 2; k++)
        for (rank = 0; rank <= 4; rank++) {
            unsigned char data[24];
            cnnc_array a;
            char err[256];
            for (i = 0; i < counts[rank]; i++)
                data[i] = (unsigned char)(255 - 11 * i);
            tu_write_npy(tu_path("a.npy"), 1, dict(descrs[k], shape_text[rank]), data,
                         counts[rank]);
            cr_assert_eq(cnnc_npy_read(&a, tu_path("a.npy"), err, sizeof err), 0, "%s", err);
            expect_shape(&a, rank);
            for (i = 0; i < counts[rank]; i++)
                cr_assert_eq(a.data[i], (float)(255 - 11 * i));
            cnnc_array_free(&a);
        }
}

Test(npy, reads_version_2_and_3_headers)
{
    int major;
    for (major = 2; major <= 3; major++) {
        unsigned char data[4 * 6];
        cnnc_array a;
        char err[256];
        size_t i;
        for (i = 0; i < 6; i++)
            tu_f32le(data + 4 * i, (float)i);
        tu_write_npy(tu_path("a.npy"), major, dict("<f4", "(2, 3)"), data, sizeof data);
        cr_assert_eq(cnnc_npy_read(&a, tu_path("a.npy"), err, sizeof err), 0, "%s", err);
        cr_assert_eq(a.rank, 2);
        cr_assert_eq(a.data[5], 5.0f);
        cnnc_array_free(&a);
    }
}

Test(npy, accepts_any_key_order_quoting_and_spacing)
{
    unsigned char data[4 * 3];
    cnnc_array a;
    char err[256];
    tu_f32le(data, 1.0f);
    tu_f32le(data + 4, 2.0f);
    tu_f32le(data + 8, 3.0f);
    tu_write_npy(tu_path("a.npy"), 1,
                 "{ \"shape\" :(3) ,'fortran_order':False,\t'descr':\"<f4\"}", data, 12);
    cr_assert_eq(cnnc_npy_read(&a, tu_path("a.npy"), err, sizeof err), 0, "%s", err);
    cr_assert_eq(a.rank, 1);
    cr_assert_eq(a.shape[0], 3);
    cr_assert_eq(a.data[2], 3.0f);
    cnnc_array_free(&a);
}

Test(npy, write_then_read_every_rank)
{
    int rank;
    size_t i;
    for (rank = 0; rank <= 4; rank++) {
        float data[24];
        cnnc_array a;
        char err[256];
        for (i = 0; i < counts[rank]; i++)
            data[i] = (float)value_at(i);
        cr_assert_eq(cnnc_npy_write(tu_path("w.npy"), data, rank, shapes[rank], err,
                                    sizeof err), 0, "%s", err);
        cr_assert_eq(cnnc_npy_read(&a, tu_path("w.npy"), err, sizeof err), 0, "%s", err);
        expect_shape(&a, rank);
        cr_assert_arr_eq(a.data, data, sizeof(float) * counts[rank]);
        cnnc_array_free(&a);
    }
    cr_assert_eq(tu_temp_files(), 0);
}

Test(npy, write_matches_numpy_layout)
{
    static const long shape[1] = { 3 };
    static const float data[3] = { 1.0f, -2.0f, 0.5f };
    static const char header[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";
    static const unsigned char minus_two[4] = { 0x00, 0x00, 0x00, 0xc0 };
    unsigned char *b;
    size_t len, hl;
    char err[256];
    cr_assert_eq(cnnc_npy_write(tu_path("w.npy"), data, 1, shape, err, sizeof err), 0, "%s", err);
    b = tu_read(tu_path("w.npy"), &len);
    cr_assert_eq(memcmp(b, "\x93NUMPY\x01\x00", 8), 0);
    hl = (size_t)b[8] | (size_t)b[9] << 8;
    cr_assert_eq((10 + hl) % 64, 0);
    cr_assert_eq(len, 10 + hl + 12);
    cr_assert_eq(hl, 118, "np.save pads (3,) to a 128-byte header");
    cr_assert_eq(memcmp(b + 10, header, strlen(header)), 0);
    cr_assert_eq(b[10 + hl - 1], '\n');
    cr_assert_eq(b[10 + strlen(header)], ' ');
    cr_assert_eq(memcmp(b + 10 + hl + 4, minus_two, 4), 0);
    free(b);
}

Test(npy, write_scalar_and_empty_shapes)
{
    static const long empty[2] = { 2, 0 };
    float one = 7.0f;
    cnnc_array a;
    char err[256];
    cr_assert_eq(cnnc_npy_write(tu_path("s.npy"), &one, 0, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_eq(cnnc_npy_read(&a, tu_path("s.npy"), err, sizeof err), 0, "%s", err);
    cr_assert_eq(a.rank, 0);
    cr_assert_eq(a.count, 1);
    cr_assert_eq(a.data[0], 7.0f);
    cnnc_array_free(&a);
    cr_assert_eq(cnnc_npy_write(tu_path("e.npy"), NULL, 2, empty, err, sizeof err), 0, "%s", err);
    cr_assert_eq(cnnc_npy_read(&a, tu_path("e.npy"), err, sizeof err), 0, "%s", err);
    cr_assert_eq(a.count, 0);
    cr_assert_eq(a.shape[1], 0);
    cnnc_array_free(&a);
}

Test(npy, write_into_missing_directory_fails_cleanly)
{
    static const long shape[1] = { 1 };
    float v = 1.0f;
    char err[256];
    cr_assert_eq(cnnc_npy_write(tu_path("nodir/w.npy"), &v, 1, shape, err, sizeof err), -1);
    cr_assert(strstr(err, "nodir/w.npy: cannot create temporary file") != NULL, "%s", err);
    cr_assert(strstr(err, "No such file or directory") != NULL, "%s", err);
    cr_assert_eq(tu_temp_files(), 0);
}

/* A file size limit makes write() fail half-way, the hard case for atomicity. */
Test(npy, failed_write_keeps_the_old_file_and_no_temp)
{
    static const long shape[1] = { 4096 };
    static float data[4096];
    struct rlimit lim = { 1000, 1000 };
    unsigned char *old;
    char err[256];
    tu_write_str(tu_path("keep.npy"), "old contents");
    signal(SIGXFSZ, SIG_IGN);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    cr_assert_eq(cnnc_npy_write(tu_path("keep.npy"), data, 1, shape, err, sizeof err), -1);
    cr_assert(strstr(err, "keep.npy: cannot write: File too large") != NULL, "%s", err);
    old = tu_read(tu_path("keep.npy"), NULL);
    cr_assert_str_eq((char *)old, "old contents");
    free(old);
    cr_assert_eq(tu_temp_files(), 0);
}

Test(npy, write_onto_a_directory_fails_cleanly)
{
    static const long shape[1] = { 1 };
    float v = 1.0f;
    char err[256];
    cr_assert_eq(mkdir(tu_path("d.npy"), 0755), 0);
    cr_assert_eq(cnnc_npy_write(tu_path("d.npy"), &v, 1, shape, err, sizeof err), -1);
    cr_assert(strstr(err, "d.npy: cannot write: Is a directory") != NULL, "%s", err);
    cr_assert_eq(tu_temp_files(), 0);
}

Test(npy, write_rejects_bad_rank_and_shape)
{
    static const long neg[1] = { -1 };
    char err[256];
    long nine[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    float v = 0.0f;
    cr_assert_eq(cnnc_npy_write(tu_path("w.npy"), &v, 9, nine, err, sizeof err), -1);
    cr_assert(strstr(err, "cannot write rank 9") != NULL, "%s", err);
    cr_assert_eq(cnnc_npy_write(tu_path("w.npy"), &v, 1, neg, err, sizeof err), -1);
    cr_assert(!tu_exists(tu_path("w.npy")));
}

/* ---- rejections: each names the file and the problem */

static void expect_reject(const char *want)
{
    cnnc_array a;
    char err[512];
    cr_assert_eq(cnnc_npy_read(&a, tu_path("bad.npy"), err, sizeof err), -1);
    cr_assert_null(a.data);
    cr_assert(strstr(err, tu_path("bad.npy")) == err, "no file name in: %s", err);
    cr_assert(strstr(err, want) != NULL, "expected \"%s\" in: %s", want, err);
    cnnc_array_free(&a);
}

static void write_bad(const char *dict_text, size_t data_len)
{
    static unsigned char zeros[8192];
    tu_write_npy(tu_path("bad.npy"), 1, dict_text, zeros, data_len);
}

Test(npy, rejects_bad_magic_and_empty_file)
{
    tu_write_str(tu_path("bad.npy"), "PK\x03\x04 not numpy at all");
    expect_reject("not a .npy file (bad magic)");
    tu_write(tu_path("bad.npy"), "", 0);
    expect_reject(": empty file");
}

Test(npy, rejects_unsupported_versions)
{
    tu_write_npy(tu_path("bad.npy"), 4, dict("<f4", "(1,)"), "\0\0\0\0", 4);
    expect_reject("unsupported .npy version 4.0 (expected 1.0, 2.0 or 3.0)");
    tu_write_str(tu_path("bad.npy"), "\x93NUMPY\x01\x01\x00\x00");
    expect_reject("unsupported .npy version 1.1");
}

Test(npy, rejects_truncated_header)
{
    tu_write(tu_path("bad.npy"), "\x93NUMPY\x01\x00\x76\x00{'descr'", 17);
    expect_reject("truncated .npy header: it says 118 bytes but only 7 follow");
    tu_write(tu_path("bad.npy"), "\x93NUMPY\x02\x00\x10", 9);
    expect_reject("truncated .npy header");
}

Test(npy, rejects_malformed_dicts)
{
    write_bad("{'descr': '<f4', 'fortran_order': False, }", 4);
    expect_reject("malformed .npy header: missing key 'shape'");
    write_bad("{'descr': '<f4', 'shape': (1,), }", 4);
    expect_reject("missing key 'fortran_order'");
    write_bad("hello world", 4);
    expect_reject("malformed .npy header: expected '{' at byte 0 of the header dict");
    write_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", 4);
    expect_reject("unexpected key 'extra'");
    write_bad("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 4);
    expect_reject("repeated key 'descr'");
    write_bad("{'descr' '<f4', 'fortran_order': False, 'shape': (1,)}", 4);
    expect_reject("expected ':' after a key at byte 9");
    write_bad("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,)}", 4);
    expect_reject("expected True or False for fortran_order");
    write_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (1; 2)}", 8);
    expect_reject("expected ',' or ')' in shape");
    write_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} trailing", 4);
    expect_reject("unexpected text after the dict");
    write_bad("{'descr': '<f4", 4);
    expect_reject("malformed .npy header");
}

Test(npy, rejects_fortran_order_with_a_fix)
{
    write_bad("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24);
    expect_reject("fortran_order: True is not supported; save a C-ordered array with "
                  "np.save(path, np.ascontiguousarray(a))");
}

Test(npy, rejects_unsupported_dtypes)
{
    write_bad(dict("<i4", "(1,)"), 4);
    expect_reject("bad.npy: unsupported dtype '<i4' (expected float32, float64 or uint8)");
    write_bad(dict(">f4", "(1,)"), 4);
    expect_reject("big-endian dtype '>f4' is not supported");
    write_bad(dict(">f8", "(1,)"), 8);
    expect_reject("big-endian dtype '>f8'");
    write_bad(dict("<f2", "(1,)"), 2);
    expect_reject("unsupported dtype '<f2'");
    write_bad("{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (1,), }", 4);
    expect_reject("structured dtype is not supported");
}

Test(npy, rejects_bad_shapes)
{
    write_bad(dict("<f4", "(1, 1, 1, 1, 1, 1, 1, 1, 1)"), 4);
    expect_reject("rank is more than 8, not supported");
    write_bad(dict("<f4", "(2, -3)"), 4);
    expect_reject("negative dimension -3 in shape");
    write_bad(dict("<f4", "(99999999999999999999999,)"), 4);
    expect_reject("dimension too large in shape");
    /* The compiler's reader (cnnc.npy) draws the same line (found by tests/fuzz/readers.lua). */
    write_bad(dict("<f4", "(0, 1099511627777)"), 0);
    expect_reject("dimension too large in shape (more than 2^40)");
    write_bad(dict("<f4", "(4294967296, 4294967296, 16)"), 4);
    expect_reject("shape (4294967296, 4294967296, 16) is too large");
    write_bad(dict("<f4", "(1, x)"), 4);
    expect_reject("expected a dimension");
}

Test(npy, rejects_truncated_and_extra_data)
{
    write_bad(dict("<f4", "(28, 28, 1)"), 1200);
    expect_reject("bad.npy: truncated: header says 784 float32 values (3136 bytes) but "
                  "only 1200 bytes follow");
    write_bad(dict("<f8", "(2,)"), 15);
    expect_reject("truncated: header says 2 float64 values (16 bytes) but only 15 bytes");
    write_bad(dict("<f4", "(3,)"), 48);
    expect_reject("bad.npy: 36 bytes after the data (header says 3 float32 values, 12 bytes)");
}

Test(npy, rejects_missing_file_and_directory)
{
    cnnc_array a;
    char err[512];
    cr_assert_eq(cnnc_npy_read(&a, tu_path("missing.npy"), err, sizeof err), -1);
    cr_assert(strstr(err, "missing.npy: cannot open: No such file or directory") != NULL,
              "%s", err);
    cr_assert_eq(mkdir(tu_path("bad.npy"), 0755), 0);
    expect_reject("bad.npy: is a directory, not a file");
}

Test(npy, error_buffer_is_optional_and_truncates)
{
    cnnc_array a;
    char small[8];
    cr_assert_eq(cnnc_npy_read(&a, tu_path("missing.npy"), NULL, 0), -1);
    cr_assert_eq(cnnc_npy_read(&a, tu_path("missing.npy"), small, sizeof small), -1);
    cr_assert_eq(strlen(small), sizeof small - 1);
}
