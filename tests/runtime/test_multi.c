/* test_multi.c: the command line of a model with several inputs and outputs
 *
 * `fakepair` (fake_model.h) takes a (2) and b (3) and gives 2a, b + 1 and an empty
 * (2, 0) output: one file per input, -o once per output, batches laid out item by item,
 * printing by name, and the usage errors. `fake` with its tensors listed is the list form
 * of a model with one input and one output: the same path as the single form, which
 * test_cli.c tests, with the list form's names and options.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "fake_model.h"
#include "test_util.h"

TestSuite(multi, .init = tu_setup, .fini = tu_teardown);

static char out[16384], err[4096];

#define CONTAINS(hay, needle) \
    cr_assert(strstr(hay, needle) != NULL, "expected \"%s\" in:\n%s", needle, hay)

/* An .npy of n float32 values first, first + 1, ... with the given shape text. */
static const char *write_npy(const char *name, const char *shape, int n, float first)
{
    char dict[128];
    unsigned char b[4 * 64];
    int i;
    for (i = 0; i < n; i++)
        tu_f32le(b + 4 * i, first + (float)i);
    snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", shape);
    tu_write_npy(tu_path(name), 1, dict, b, 4 * (size_t)n);
    return tu_path(name);
}

Test(multi, prints_every_output_of_every_item_by_name)
{
    const char *a = write_npy("a.npy", "(2, 2)", 4, 1.0f);
    const char *b = write_npy("b.npy", "(2, 3)", 6, 10.0f);
    int rc = tu_cli(&tu_fakepair_model, out, sizeof out, err, sizeof err, a, b, NULL);
    cr_assert_eq(rc, 0, "%s", err);
    CONTAINS(out, "output[0] twice_a shape (2):\n  2 4\n");
    CONTAINS(out, "output[0] b_plus_1 shape (3):\n  11 12 13\n");
    CONTAINS(out, "output[1] twice_a shape (2):\n  6 8\n");
    CONTAINS(out, "output[1] b_plus_1 shape (3):\n  14 15 16\n");
    CONTAINS(out, "output[1] nothing shape (2, 0):\n");
}

Test(multi, writes_one_file_per_output)
{
    const char *a = write_npy("a.npy", "(2,)", 2, 1.0f);
    const char *b = write_npy("b.npy", "(3,)", 3, 10.0f);
    char o1[512], o2[512], o3[512];
    cnnc_array y;
    int rc;
    snprintf(o1, sizeof o1, "%s", tu_path("y1.npy"));
    snprintf(o2, sizeof o2, "%s", tu_path("y2.raw"));
    snprintf(o3, sizeof o3, "%s", tu_path("y3.npy"));
    rc = tu_cli(&tu_fakepair_model, out, sizeof out, err, sizeof err, a, b, "-o", o1, "-o", o2,
                "-o", o3, NULL);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(cnnc_npy_read(&y, o1, err, sizeof err), 0, "%s", err);
    cr_assert_eq(y.rank, 1);
    cr_assert(y.count == 2 && y.data[0] == 2.0f && y.data[1] == 4.0f);
    cnnc_array_free(&y);
    cr_assert_eq(cnnc_raw_read(&y, o2, 3, err, sizeof err), 0, "%s", err);
    cr_assert(y.data[0] == 11.0f && y.data[2] == 13.0f);
    cnnc_array_free(&y);
    /* An empty output is an .npy of shape (2, 0). */
    cr_assert_eq(cnnc_npy_read(&y, o3, err, sizeof err), 0, "%s", err);
    cr_assert(y.rank == 2 && y.shape[0] == 2 && y.shape[1] == 0 && y.count == 0);
    cnnc_array_free(&y);
}

Test(multi, usage_errors_name_the_counts)
{
    char a[512], b[512], b2[512]; /* tu_path's buffers are reused */
    int rc;
    snprintf(a, sizeof a, "%s", write_npy("a.npy", "(2,)", 2, 1.0f));
    snprintf(b, sizeof b, "%s", write_npy("b.npy", "(3,)", 3, 10.0f));
    snprintf(b2, sizeof b2, "%s", write_npy("b2.npy", "(2, 3)", 6, 10.0f));
    rc = tu_cli(&tu_fakepair_model, out, sizeof out, err, sizeof err, a, NULL);
    cr_assert_eq(rc, 2);
    CONTAINS(err, "the model takes 2 input files (one per input), got 1");
    CONTAINS(err, "usage: fakepair INPUT... [-o OUTPUT]...");
    rc = tu_cli(&tu_fakepair_model, out, sizeof out, err, sizeof err, a, b, "-o", "x.npy", NULL);
    cr_assert_eq(rc, 2);
    CONTAINS(err, "give -o once per output (3), or not at all; got 1");
    rc = tu_cli(&tu_fakepair_model, out, sizeof out, err, sizeof err, a, b2, NULL);
    cr_assert_eq(rc, 1);
    CONTAINS(err, "holds 2 items, but");
    rc = tu_cli(&tu_fakepair_model, out, sizeof out, err, sizeof err, "--help", NULL);
    cr_assert_eq(rc, 0);
    CONTAINS(out, "usage: fakepair a b [-o OUTPUT]...");
    CONTAINS(out, "(ONNX uint8)");
}

Test(multi, rejects_an_inconsistent_tensor_list)
{
    cnnc_tensor_info outs[3];
    cnnc_model m = tu_fakepair_model;
    memcpy(outs, m.outputs, sizeof outs);
    outs[1].offset = 3; /* overlaps twice_a */
    m.outputs = outs;
    cr_assert_eq(tu_cli(&m, out, sizeof out, err, sizeof err, "a.npy", "b.npy", NULL), 1);
    cr_assert_str_eq(err, "fakepair: error: model description: tensor shapes, offsets and sizes "
                          "disagree\n");
}

/* fake with its one input and one output listed, as an ONNX model names its tensors. */
static const cnnc_tensor_info listed_in = { "image", 0, 90, 3, { 5, 6, 3 }, "float32" };
static const cnnc_tensor_info listed_out = { "doubled", 0, 90, 3, { 5, 6, 3 }, "float32" };

Test(multi, a_listed_single_tensor_model_runs_with_the_list_form)
{
    cnnc_model m = tu_fake_model;
    cnnc_array y;
    char o[512];
    unsigned char b[4 * 180]; /* two items, values 0, 1, 2, ...: item 1 starts at 90 */
    int i;
    m.inputs = &listed_in;
    m.outputs = &listed_out;
    for (i = 0; i < 180; i++)
        tu_f32le(b + 4 * i, (float)i);
    tu_write_npy(tu_path("x.npy"), 1, "{'descr': '<f4', 'fortran_order': False, "
                 "'shape': (2, 5, 6, 3), }", b, sizeof b);
    cr_assert_eq(tu_cli(&m, out, sizeof out, err, sizeof err, tu_path("x.npy"), NULL), 0, "%s",
                 err);
    CONTAINS(out, "output[0] doubled shape (5, 6, 3):\n  0 2 4");
    CONTAINS(out, "output[1] doubled shape (5, 6, 3):\n  180 182");
    snprintf(o, sizeof o, "%s", tu_path("y.npy"));
    cr_assert_eq(tu_cli(&m, out, sizeof out, err, sizeof err, tu_path("x.npy"), "-o", o, NULL),
                 0, "%s", err);
    cr_assert_eq(cnnc_npy_read(&y, o, err, sizeof err), 0, "%s", err);
    cr_assert(y.rank == 4 && y.shape[0] == 2 && y.data[179] == 358.0f);
    cnnc_array_free(&y);
    cr_assert_eq(tu_cli(&m, out, sizeof out, err, sizeof err, "x.npy", "--top", "3", NULL), 2);
    CONTAINS(err, "fake: unknown option --top\nusage: fake INPUT... [-o OUTPUT]...");
    cr_assert_eq(tu_cli(&m, out, sizeof out, err, sizeof err, "x.npy", "y.npy", NULL), 2);
    CONTAINS(err, "the model takes 1 input file (one per input), got 2");
    cr_assert_eq(tu_cli(&m, out, sizeof out, err, sizeof err, "--help", NULL), 0);
    CONTAINS(out, "usage: fake image [-o OUTPUT]...");
    CONTAINS(out, "output 0 doubled   float32 (5, 6, 3) (ONNX float32)");
}
