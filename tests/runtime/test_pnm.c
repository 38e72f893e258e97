/* test_pnm.c: the PGM/PPM reader and the PGM writer
 *
 * Images are non-square (3 rows x 4 columns) so that a swapped width and height shows.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "test_util.h"

TestSuite(pnm, .init = tu_setup, .fini = tu_teardown);

/* Header text followed by n raw bytes. */
static void write_pnm(const char *name, const char *header, const unsigned char *data,
                      size_t n)
{
    size_t hl = strlen(header);
    unsigned char *b = malloc(hl + n + 1);
    memcpy(b, header, hl);
    if (n > 0)
        memcpy(b + hl, data, n);
    tu_write(tu_path(name), b, hl + n);
    free(b);
}

static void read_ok(cnnc_array *a, const char *name, long h, long w, long c)
{
    char err[512];
    cr_assert_eq(cnnc_pnm_read(a, tu_path(name), err, sizeof err), 0, "%s", err);
    cr_assert_eq(a->rank, 3);
    cr_assert_eq(a->shape[0], h);
    cr_assert_eq(a->shape[1], w);
    cr_assert_eq(a->shape[2], c);
    cr_assert_eq(a->count, (size_t)(h * w * c));
}

Test(pnm, reads_8bit_pgm_with_comments_everywhere)
{
    unsigned char px[12];
    cnnc_array a;
    int i;
    for (i = 0; i < 12; i++)
        px[i] = (unsigned char)(i * 20);
    /* The first data byte is a space (32) on purpose: it must not be skipped. */
    px[0] = ' ';
    write_pnm("g.pgm", "P5# made by a test\n# another line\n4 # width\n3\n#maxval next\n255# end\n",
              px, 12);
    read_ok(&a, "g.pgm", 3, 4, 1);
    cr_assert_eq(a.data[0], 32.0f / 255.0f);
    for (i = 1; i < 12; i++)
        cr_assert_eq(a.data[i], (float)(i * 20) / 255.0f);
    cnnc_array_free(&a);
}

Test(pnm, reads_16bit_pgm_big_endian)
{
    static const unsigned char px[6] = { 0x01, 0x02, 0xff, 0xff, 0x00, 0x00 };
    cnnc_array a;
    write_pnm("g16.pgm", "P5\n3 1\n65535\n", px, 6);
    read_ok(&a, "g16.pgm", 1, 3, 1);
    cr_assert_eq(a.data[0], (float)0x0102 / 65535.0f);
    cr_assert_eq(a.data[1], 1.0f);
    cr_assert_eq(a.data[2], 0.0f);
    cnnc_array_free(&a);
}

Test(pnm, reads_odd_maxvals)
{
    static const unsigned char px8[2] = { 15, 5 };
    static const unsigned char px16[2] = { 0x01, 0x00 };
    cnnc_array a;
    write_pnm("m.pgm", "P5 2 1 15\n", px8, 2);
    read_ok(&a, "m.pgm", 1, 2, 1);
    cr_assert_eq(a.data[0], 1.0f);
    cr_assert_eq(a.data[1], 5.0f / 15.0f);
    cnnc_array_free(&a);
    /* maxval 256 is the smallest that needs two bytes per sample. */
    write_pnm("m16.pgm", "P5 1 1 256\n", px16, 2);
    read_ok(&a, "m16.pgm", 1, 1, 1);
    cr_assert_eq(a.data[0], 1.0f);
    cnnc_array_free(&a);
}

Test(pnm, reads_8bit_ppm_in_hwc_order)
{
    unsigned char px[36];
    cnnc_array a;
    int i;
    for (i = 0; i < 36; i++)
        px[i] = (unsigned char)(7 * i);
    write_pnm("c.ppm", "P6\n# rgb\n4 3\n255\n", px, 36);
    read_ok(&a, "c.ppm", 3, 4, 3);
    /* Row 2, column 1, blue: sample (2 * 4 + 1) * 3 + 2. */
    cr_assert_eq(a.data[(2 * 4 + 1) * 3 + 2], (float)(7 * 29) / 255.0f);
    for (i = 0; i < 36; i++)
        cr_assert_eq(a.data[i], (float)(7 * i) / 255.0f);
    cnnc_array_free(&a);
}

Test(pnm, reads_16bit_ppm)
{
    static const unsigned char px[12] = { 0, 0, 0, 1, 3, 0xe8, 0, 0, 0, 0, 0, 0 };
    cnnc_array a;
    write_pnm("c16.ppm", "P6\n2 1\n1000\n", px, 12);
    read_ok(&a, "c16.ppm", 1, 2, 3);
    cr_assert_eq(a.data[0], 0.0f);
    cr_assert_eq(a.data[1], 1.0f / 1000.0f);
    cr_assert_eq(a.data[2], 1.0f);
    cnnc_array_free(&a);
}

/* ---- rejections */

static void expect_reject(const char *name, const char *want)
{
    cnnc_array a;
    char err[512];
    cr_assert_eq(cnnc_pnm_read(&a, tu_path(name), err, sizeof err), -1);
    cr_assert_null(a.data);
    cr_assert(strstr(err, tu_path(name)) == err, "no file name in: %s", err);
    cr_assert(strstr(err, want) != NULL, "expected \"%s\" in: %s", want, err);
}

Test(pnm, rejects_ascii_bitmap_and_pam_variants)
{
    tu_write_str(tu_path("a.pgm"), "P2\n2 1\n255\n0 255\n");
    expect_reject("a.pgm", "ASCII PGM (P2) is not supported, only binary PGM (P5) and PPM (P6)");
    tu_write_str(tu_path("a.ppm"), "P3\n1 1\n255\n0 0 0\n");
    expect_reject("a.ppm", "ASCII PPM (P3) is not supported");
    tu_write_str(tu_path("b.pgm"), "P4\n8 1\n\xff");
    expect_reject("b.pgm", "binary PBM bitmaps (P4) are not supported");
    tu_write_str(tu_path("b.pgm"), "P1\n1 1\n1\n");
    expect_reject("b.pgm", "ASCII PBM bitmaps (P1) are not supported");
    tu_write_str(tu_path("p.pgm"), "P7\nWIDTH 1\n");
    expect_reject("p.pgm", "PAM (P7) is not supported");
}

Test(pnm, rejects_bad_magic_empty_missing_and_directory)
{
    tu_write_str(tu_path("x.pgm"), "\x89PNG\r\n");
    expect_reject("x.pgm", "not a PGM/PPM image (bad magic)");
    tu_write(tu_path("x.pgm"), "", 0);
    expect_reject("x.pgm", "empty file");
    expect_reject("missing.pgm", "cannot open: No such file or directory");
    cr_assert_eq(mkdir(tu_path("d.pgm"), 0755), 0);
    expect_reject("d.pgm", "is a directory");
}

Test(pnm, rejects_bad_headers)
{
    tu_write_str(tu_path("h.pgm"), "P5\n4\n");
    expect_reject("h.pgm", "bad or missing height in the PGM header");
    tu_write_str(tu_path("h.ppm"), "P6\n4 x 255\n");
    expect_reject("h.ppm", "bad or missing height in the PPM header");
    tu_write_str(tu_path("h.pgm"), "P5\n99999999999 1\n255\n");
    expect_reject("h.pgm", "bad or missing width");
    tu_write_str(tu_path("h.pgm"), "P5\n1 1\n255");
    expect_reject("h.pgm", "no whitespace after maxval in the header");
    tu_write_str(tu_path("h.pgm"), "P5\n0 3\n255\n");
    expect_reject("h.pgm", "bad image size 0x3");
}

Test(pnm, rejects_bad_maxval)
{
    tu_write_str(tu_path("m.pgm"), "P5\n1 1\n0\n\x00");
    expect_reject("m.pgm", "maxval 0 is out of range (1..65535)");
    tu_write_str(tu_path("m.pgm"), "P5\n1 1\n65536\nxx");
    expect_reject("m.pgm", "maxval 65536 is out of range (1..65535)");
}

Test(pnm, rejects_huge_images_before_reading_them)
{
    tu_write_str(tu_path("big.pgm"), "P5\n100000 100000\n255\n");
    expect_reject("big.pgm", "image of 100000x100000 pixels is too large (limit 2^30)");
}

Test(pnm, rejects_truncated_and_extra_data)
{
    static const unsigned char px[40] = { 0 };
    write_pnm("t.pgm", "P5\n4 3\n255\n", px, 11);
    expect_reject("t.pgm", "truncated: header says 4x3 pixels (width x height), 1 channel(s) "
                           "of 8 bits: 12 bytes, but only 11 bytes follow");
    write_pnm("t.ppm", "P6\n4 3\n65535\n", px, 40);
    expect_reject("t.ppm", "3 channel(s) of 16 bits: 72 bytes, but only 40 bytes follow");
    write_pnm("t.pgm", "P5\n4 3\n255\n", px, 14);
    expect_reject("t.pgm", "2 bytes after the image data");
}

Test(pnm, rejects_samples_above_maxval)
{
    static const unsigned char px[4] = { 1, 2, 3, 101 };
    write_pnm("s.pgm", "P5\n2 2\n100\n", px, 4);
    expect_reject("s.pgm", "sample value 101 exceeds maxval 100 (row 1, column 1)");
}

/* ---- writer */

Test(pnm, pgm_write_maps_lo_hi_with_clamping)
{
    /* (1, 5, 2) image: channel 1 holds the values under test, channel 0 is noise. */
    static const float img[10] = { 9, -1.0f, 9, 0.0f, 9, 0.5f, 9, 1.0f, 9, 2.0f };
    static const unsigned char want[5] = { 0, 0, 128, 255, 255 };
    unsigned char *b;
    size_t len;
    char err[256];
    cr_assert_eq(cnnc_pgm_write(tu_path("o.pgm"), img, 1, 5, 2, 1, 0.0f, 1.0f, err, sizeof err),
                 0, "%s", err);
    b = tu_read(tu_path("o.pgm"), &len);
    cr_assert_eq(len, 11 + 5);
    cr_assert_eq(memcmp(b, "P5\n5 1\n255\n", 11), 0);
    cr_assert_arr_eq(b + 11, want, 5);
    free(b);
    cr_assert_eq(tu_temp_files(), 0);
}

Test(pnm, pgm_write_flat_range_and_nan_give_zero)
{
    const float img[3] = { 3.0f, NAN, -3.0f };
    static const unsigned char zeros[3] = { 0, 0, 0 };
    unsigned char *b;
    char err[256];
    cr_assert_eq(cnnc_pgm_write(tu_path("f.pgm"), img, 1, 3, 1, 0, 2.0f, 2.0f, err, sizeof err),
                 0, "%s", err);
    b = tu_read(tu_path("f.pgm"), NULL);
    cr_assert_arr_eq(b + 11, zeros, 3);
    free(b);
}

Test(pnm, pgm_write_then_read_round_trip)
{
    float img[3 * 4 * 3];
    cnnc_array a;
    char err[256];
    int i;
    for (i = 0; i < 36; i++)
        img[i] = (float)i;
    cr_assert_eq(cnnc_pgm_write(tu_path("r.pgm"), img, 3, 4, 3, 2, 2.0f, 35.0f, err, sizeof err),
                 0, "%s", err);
    read_ok(&a, "r.pgm", 3, 4, 1);
    cr_assert_eq(a.data[0], 0.0f);   /* value 2 is lo */
    cr_assert_eq(a.data[11], 1.0f);  /* value 35 is hi */
    cr_assert_eq(a.data[4], floorf(255.0f * 12.0f / 33.0f + 0.5f) / 255.0f);
    cnnc_array_free(&a);
}

Test(pnm, pgm_write_rejects_bad_arguments_and_missing_directory)
{
    float img[4] = { 0 };
    char err[256];
    cr_assert_eq(cnnc_pgm_write(tu_path("o.pgm"), img, 2, 2, 1, 1, 0, 1, err, sizeof err), -1);
    cr_assert(strstr(err, "cannot write channel 1 of a 2x2x1 image") != NULL, "%s", err);
    cr_assert_eq(cnnc_pgm_write(tu_path("o.pgm"), img, 0, 2, 1, 0, 0, 1, err, sizeof err), -1);
    cr_assert(!tu_exists(tu_path("o.pgm")));
    cr_assert_eq(cnnc_pgm_write(tu_path("no/o.pgm"), img, 2, 2, 1, 0, 0, 1, err, sizeof err), -1);
    cr_assert(strstr(err, "No such file or directory") != NULL, "%s", err);
    cr_assert_eq(tu_temp_files(), 0);
}
