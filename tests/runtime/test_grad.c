/* test_grad.c: the command line's gradient run (cnnc_grad.c), driven in-process
 *
 * tu_fake_grad_model stands in for a --backward build of `fake` (y = 2 x): dx = 2 dy, and
 * two made-up weights, scale.kernel (3) = sum of dy * x per channel and scale.bias (2, 1)
 * = {sum of dy, 1 per item}. Inputs hold 0, 1, 2, ...; output gradients are all 1.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "fake_model.h"
#include "test_util.h"

TestSuite(grad, .init = tu_setup, .fini = tu_teardown);

static char out[16384], err[4096];

#define CONTAINS(hay, needle) \
    cr_assert(strstr(hay, needle) != NULL, "expected \"%s\" in:\n%s", needle, hay)

/* An .npy of `items` (5, 6, 3) values (batch axis iff batched): 0, 1, 2, ... or all `v`. */
static const char *write_values(const char *name, int items, int batched, int ramp, float v)
{
    char dict[128];
    unsigned char *b = malloc(4 * 90 * (size_t)items);
    for (int i = 0; i < 90 * items; i++)
        tu_f32le(b + 4 * i, ramp ? (float)i : v);
    if (batched)
        snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 5, 6, 3), }", items);
    else
        snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (5, 6, 3), }");
    tu_write_npy(tu_path(name), 1, dict, b, 4 * 90 * (size_t)items);
    free(b);
    return tu_path(name);
}

static cnnc_array read_npy(const char *name)
{
    cnnc_array a;
    char e[256];
    cr_assert_eq(cnnc_npy_read(&a, tu_path(name), e, sizeof e), 0, "%s", e);
    return a;
}

Test(grad, writes_the_input_gradient_and_every_weight_gradient)
{
    cnnc_array a;
    cr_assert_eq(tu_cli(&tu_fake_grad_model, out, sizeof out, err, sizeof err, write_values("x.npy", 1, 0, 1, 0),
                        "--grad-output", write_values("dy.npy", 1, 0, 0, 1), "-o", tu_path("dx.npy"),
                        "--weight-grads", tu_path("g"), NULL), 0, "%s", err);
    a = read_npy("dx.npy");
    cr_assert_eq(a.rank, 3);
    cr_assert_eq(a.data[7], 2.0f);
    cnnc_array_free(&a);
    a = read_npy("g/scale.kernel.npy");
    cr_assert_eq(a.rank, 1);
    cr_assert_eq(a.shape[0], 3);
    cr_assert_eq(a.data[0], 1305.0f); /* 0 + 3 + ... + 87 */
    cnnc_array_free(&a);
    a = read_npy("g/scale.bias.npy");
    cr_assert_eq(a.rank, 2);
    cr_assert_eq(a.shape[0], 2);
    cr_assert_eq(a.data[0], 90.0f);
    cr_assert_eq(a.data[1], 1.0f);
    cnnc_array_free(&a);
}

Test(grad, a_batch_keeps_its_axis_in_dx_and_sums_the_weight_gradients)
{
    cnnc_array a;
    cr_assert_eq(tu_cli(&tu_fake_grad_model, out, sizeof out, err, sizeof err, write_values("x.npy", 3, 1, 1, 0),
                        "--grad-output", write_values("dy.npy", 3, 1, 0, 1), "-o", tu_path("dx.npy"),
                        "--weight-grads", tu_path("g"), NULL), 0, "%s", err);
    a = read_npy("dx.npy");
    cr_assert_eq(a.rank, 4);
    cr_assert_eq(a.shape[0], 3);
    cnnc_array_free(&a);
    a = read_npy("g/scale.bias.npy");
    cr_assert_eq(a.data[0], 270.0f);
    cr_assert_eq(a.data[1], 3.0f);
    cnnc_array_free(&a);
}

Test(grad, prints_without_outputs)
{
    cr_assert_eq(tu_cli(&tu_fake_grad_model, out, sizeof out, err, sizeof err, write_values("x.npy", 1, 0, 1, 0),
                        "--grad-output", write_values("dy.npy", 1, 0, 0, 1), NULL), 0, "%s", err);
    CONTAINS(out, "grad_input[0] shape (5, 6, 3):\n  2 2 2");
    CONTAINS(out, "grad scale.bias shape (2, 1): norm 90.0");
}

Test(grad, an_output_gradient_of_the_wrong_shape_writes_nothing)
{
    cr_assert_eq(tu_cli(&tu_fake_grad_model, out, sizeof out, err, sizeof err, write_values("x.npy", 2, 1, 1, 0),
                        "--grad-output", write_values("dy.npy", 3, 1, 0, 1), "-o", tu_path("dx.npy"),
                        "--weight-grads", tu_path("g"), NULL), 1);
    CONTAINS(err, "dy.npy: the output gradient has shape (3, 5, 6, 3) but the output is (5, 6, 3) and the input "
                  "holds 2 items: expected (2, 5, 6, 3)");
    cr_assert(!tu_exists(tu_path("dx.npy")));
    cr_assert(!tu_exists(tu_path("g")));
    cr_assert_eq(tu_cli(&tu_fake_grad_model, out, sizeof out, err, sizeof err, write_values("x1.npy", 1, 0, 1, 0),
                        "--grad-output", write_values("dy1.npy", 1, 1, 0, 1), NULL), 1);
    CONTAINS(err, "(the input has no batch axis): expected (5, 6, 3)");
}

Test(grad, a_failed_write_removes_the_weight_gradients_and_the_directory)
{
    cr_assert_eq(tu_cli(&tu_fake_grad_model, out, sizeof out, err, sizeof err, write_values("x.npy", 1, 0, 1, 0),
                        "--grad-output", write_values("dy.npy", 1, 0, 0, 1), "-o", tu_path("nodir/dx.npy"),
                        "--weight-grads", tu_path("g"), NULL), 1);
    CONTAINS(err, "nodir/dx.npy: cannot create temporary file");
    cr_assert(!tu_exists(tu_path("g")));
    cr_assert_eq(tu_temp_files(), 0);
    tu_write_str(tu_path("file"), "x");
    cr_assert_eq(tu_cli(&tu_fake_grad_model, out, sizeof out, err, sizeof err, tu_path("x.npy"),
                        "--grad-output", tu_path("dy.npy"), "-o", tu_path("dx.npy"), "--weight-grads",
                        tu_path("file"), NULL), 1);
    CONTAINS(err, "file: exists and is not a directory");
    cr_assert(!tu_exists(tu_path("dx.npy")));
}

Test(grad, option_mistakes_are_usage_errors)
{
    cr_assert_eq(tu_cli(&tu_fake_grad_model, out, sizeof out, err, sizeof err, write_values("x.npy", 1, 0, 1, 0),
                        "--weight-grads", tu_path("g"), NULL), 2);
    CONTAINS(err, "--weight-grads needs --grad-output");
    cr_assert_eq(tu_cli(&tu_fake_model, out, sizeof out, err, sizeof err, tu_path("x.npy"), "--grad-output",
                        tu_path("x.npy"), NULL), 2);
    CONTAINS(err, "--grad-output: this build has no backward code (rebuild with `cnnc build --backward`)");
    cr_assert_eq(tu_cli(&tu_fake_grad_model, out, sizeof out, err, sizeof err, tu_path("x.npy"), "--grad-output",
                        tu_path("x.npy"), "--top", "3", NULL), 2);
    CONTAINS(err, "--top does not go with --grad-output");
    cr_assert_eq(tu_cli(&tu_fake_grad_model, out, sizeof out, err, sizeof err, tu_path("x.npy"), "--grad-output",
                        tu_path("x.npy"), "--profile", "3", NULL), 2);
    CONTAINS(err, "--profile times the forward pass; it does not go with --grad-output");
    cr_assert_eq(tu_cli(&tu_fake_grad_model, out, sizeof out, err, sizeof err, "--help", NULL), 0);
    CONTAINS(out, "--grad-output DY [-o DX] [--weight-grads DIR]");
}

Test(grad, bench_times_backward_passes)
{
    cr_assert_eq(tu_cli(&tu_fake_grad_model, out, sizeof out, err, sizeof err, write_values("x.npy", 1, 0, 1, 0),
                        "--grad-output", write_values("dy.npy", 1, 0, 0, 1), "-o", tu_path("dx.f32"), "--bench", "5",
                        NULL), 0, "%s", err);
    CONTAINS(out, "bench: 5 runs, median ");
    CONTAINS(out, "(backward: forward and backward pass, 1 thread)");
}
