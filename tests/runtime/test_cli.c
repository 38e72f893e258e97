/* test_cli.c: cnnc_cli_main driven in-process with the fake models
 *
 * `fake` doubles a (5, 6, 3) input; the input fixture holds 0, 1, 2, ... so every output
 * value is known. `fakecls` is a softmax over 10 values, for the class listing. stdout and
 * stderr are captured by tu_cli.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <criterion/criterion.h>

#include "fake_model.h"
#include "test_util.h"

TestSuite(cli, .init = tu_setup, .fini = tu_teardown);

static char out[16384], err[4096];

/* An .npy of `items` fake inputs (with a batch axis iff batched), values 0, 1, 2, ... */
static const char *write_input(const char *name, int items, int batched)
{
    char dict[128];
    unsigned char *b = malloc(4 * 90 * (size_t)items);
    int i;
    for (i = 0; i < 90 * items; i++)
        tu_f32le(b + 4 * i, (float)i);
    if (batched)
        snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, "
                                    "'shape': (%d, 5, 6, 3), }", items);
    else
        snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, "
                                    "'shape': (5, 6, 3), }");
    tu_write_npy(tu_path(name), 1, dict, b, 4 * 90 * (size_t)items);
    free(b);
    return tu_path(name);
}

static const char *write_cls_input(const char *name, const float *x)
{
    unsigned char b[40];
    int i;
    for (i = 0; i < 10; i++)
        tu_f32le(b + 4 * i, x[i]);
    tu_write_npy(tu_path(name), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (10,), }",
                 b, 40);
    return tu_path(name);
}

#define CONTAINS(hay, needle) \
    cr_assert(strstr(hay, needle) != NULL, "expected \"%s\" in:\n%s", needle, hay)

/* ---- usage */

Test(cli, help_names_the_model_and_shapes)
{
    cr_assert_eq(tu_cli(&tu_fake_model, out, sizeof out, err, sizeof err, "--help", NULL), 0);
    CONTAINS(out, "usage: fake INPUT [-o OUTPUT] [--bench N] [--top K] [--help]");
    CONTAINS(out, "input:  float32 (5, 6, 3), or a batch (N, 5, 6, 3)");
    CONTAINS(out, "output: float32 (5, 6, 3)\n");
    cr_assert_str_empty(err);
    cr_assert_eq(tu_cli(&tu_fakecls_model, out, sizeof out, err, sizeof err, "x", "-h", NULL), 0);
    CONTAINS(out, "output: float32 (10), class probabilities (softmax)");
}

static void usage_fails(const char *want, const char *a1, const char *a2, const char *a3,
                        const char *a4)
{
    cr_assert_eq(tu_cli(&tu_fake_model, out, sizeof out, err, sizeof err, a1, a2, a3, a4,
                        NULL), 2, "expected exit 2 for \"%s\": %s", want, err);
    CONTAINS(err, want);
    CONTAINS(err, "usage: fake INPUT");
    CONTAINS(err, "Try 'fake --help'");
    cr_assert_str_empty(out);
}

Test(cli, usage_errors_exit_2)
{
    usage_fails("fake: missing INPUT", NULL, NULL, NULL, NULL);
    usage_fails("fake: unknown option --frobnicate", "in.npy", "--frobnicate", NULL, NULL);
    usage_fails("fake: missing argument after -o", "in.npy", "-o", NULL, NULL);
    usage_fails("fake: missing argument after --bench", "in.npy", "--bench", NULL, NULL);
    usage_fails("--bench needs a number of runs from 1 to 10000000, not 0", "in.npy",
                "--bench", "0", NULL);
    usage_fails("not -3", "in.npy", "--bench", "-3", NULL);
    usage_fails("not 12x", "in.npy", "--bench", "12x", NULL);
    usage_fails("not 99999999999999999999", "in.npy", "--bench", "99999999999999999999", NULL);
    usage_fails("--top needs a number of classes (0 or more), not many", "in.npy", "--top",
                "many", NULL);
    usage_fails("more than one input: b.npy", "a.npy", "b.npy", NULL, NULL);
    usage_fails("-o given twice", "-o", "x.npy", "-o", "y.npy");
    usage_fails("fake: cannot write x.PPM: PPM output is not supported", "a.npy", "-o", "x.PPM",
                NULL);
}

Test(cli, pgm_output_needs_a_rank_3_model_output)
{
    cr_assert_eq(tu_cli(&tu_fakecls_model, out, sizeof out, err, sizeof err, "a.npy", "-o",
                        "x.pgm", NULL), 2);
    CONTAINS(err, "fakecls: cannot write x.pgm: one PGM per channel needs an (H, W, C) output "
                  "but the model's is (10); use .npy\n");
}

Test(cli, double_dash_ends_options)
{
    cr_assert_eq(tu_cli(&tu_fake_model, out, sizeof out, err, sizeof err, "--", "-weird.npy",
                        NULL), 1);
    CONTAINS(err, "fake: error: -weird.npy: cannot open: No such file or directory");
}

/* ---- printing */

Test(cli, prints_an_unbatched_output_truncated_at_64_values)
{
    char want[2048];
    size_t n = 0;
    int i;
    n += (size_t)snprintf(want + n, sizeof want - n, "output[0] shape (5, 6, 3):\n");
    for (i = 0; i < 64; i++)
        n += (size_t)snprintf(want + n, sizeof want - n, "%s%d%s", i % 8 ? "" : "  ", 2 * i,
                              i % 8 == 7 ? "\n" : " ");
    snprintf(want + n, sizeof want - n, "  ... (26 more)\n");
    cr_assert_eq(tu_cli(&tu_fake_model, out, sizeof out, err, sizeof err,
                        write_input("in.npy", 1, 0), NULL), 0, "%s", err);
    cr_assert_str_eq(out, want);
    cr_assert_str_empty(err);
    cr_assert_eq(fake_calls, 1);
    cr_assert_eq((uintptr_t)fake_last_workspace % 64, 0, "workspace not 64-byte aligned");
}

Test(cli, prints_every_item_of_a_batch)
{
    cr_assert_eq(tu_cli(&tu_fake_model, out, sizeof out, err, sizeof err,
                        write_input("in.npy", 3, 1), NULL), 0, "%s", err);
    CONTAINS(out, "output[0] shape (5, 6, 3):\n  0 2 4");
    CONTAINS(out, "output[1] shape (5, 6, 3):\n  180 182 184");
    CONTAINS(out, "output[2] shape (5, 6, 3):\n  360 362");
    cr_assert_null(strstr(out, "output[3]"));
    cr_assert_null(strstr(out, "top:"), "fake is not a softmax model");
    cr_assert_eq(fake_calls, 3);
}

Test(cli, lists_the_top_classes_of_a_softmax)
{
    static const float x[10] = { 0.5f, 2.0f, -1.0f, 3.0f, 0.0f, 1.0f, 2.5f, -2.0f, 0.25f, 1.5f };
    const char *in = write_cls_input("c.npy", x);
    float p[10];
    char want[256];
    fakecls_predict(x, p);
    snprintf(want, sizeof want, "\ntop: 3 (%.4f), 6 (%.4f), 1 (%.4f), 9 (%.4f), 5 (%.4f)\n",
             p[3], p[6], p[1], p[9], p[5]);
    cr_assert_eq(tu_cli(&tu_fakecls_model, out, sizeof out, err, sizeof err, in, NULL), 0);
    CONTAINS(out, "output[0] shape (10):\n");
    CONTAINS(out, want);
    cr_assert_eq(tu_cli(&tu_fakecls_model, out, sizeof out, err, sizeof err, in, "--top", "2",
                        NULL), 0);
    snprintf(want, sizeof want, "\ntop: 3 (%.4f), 6 (%.4f)\n", p[3], p[6]);
    CONTAINS(out, want);
    cr_assert_eq(tu_cli(&tu_fakecls_model, out, sizeof out, err, sizeof err, in, "--top", "0",
                        NULL), 0);
    cr_assert_null(strstr(out, "top:"));
}

Test(cli, top_breaks_ties_by_index_and_caps_k)
{
    static const float x[10] = { 0 };
    cr_assert_eq(tu_cli(&tu_fakecls_model, out, sizeof out, err, sizeof err,
                        write_cls_input("c.npy", x), "--top", "50", NULL), 0);
    CONTAINS(out, "top: 0 (0.1000), 1 (0.1000), 2 (0.1000), 3 (0.1000), 4 (0.1000), "
                  "5 (0.1000), 6 (0.1000), 7 (0.1000), 8 (0.1000), 9 (0.1000)\n");
}

/* ---- writing */

Test(cli, writes_npy_with_a_batch_axis_only_when_the_input_had_one)
{
    cnnc_array a;
    char e[256];
    cr_assert_eq(tu_cli(&tu_fake_model, out, sizeof out, err, sizeof err,
                        write_input("in.npy", 1, 0), "-o", tu_path("o.npy"), NULL), 0, "%s", err);
    cr_assert_str_empty(out);
    cr_assert_eq(cnnc_npy_read(&a, tu_path("o.npy"), e, sizeof e), 0, "%s", e);
    cr_assert_eq(a.rank, 3);
    cr_assert_eq(a.shape[0], 5);
    cr_assert_eq(a.data[89], 178.0f);
    cnnc_array_free(&a);
    cr_assert_eq(tu_cli(&tu_fake_model, out, sizeof out, err, sizeof err,
                        write_input("in2.npy", 2, 1), "-o", tu_path("o2.npy"), NULL), 0);
    cr_assert_eq(cnnc_npy_read(&a, tu_path("o2.npy"), e, sizeof e), 0, "%s", e);
    cr_assert_eq(a.rank, 4);
    cr_assert_eq(a.shape[0], 2);
    cr_assert_eq(a.shape[3], 3);
    cr_assert_eq(a.data[179], 358.0f);
    cnnc_array_free(&a);
    cr_assert_eq(tu_temp_files(), 0);
}

Test(cli, writes_raw_float32_for_other_extensions)
{
    cnnc_array a;
    char e[256];
    cr_assert_eq(tu_cli(&tu_fake_model, out, sizeof out, err, sizeof err,
                        write_input("in.npy", 2, 1), "-o", tu_path("o.f32"), NULL), 0);
    cr_assert_eq(cnnc_raw_read(&a, tu_path("o.f32"), 90, e, sizeof e), 0, "%s", e);
    cr_assert_eq(a.shape[0], 2);
    cr_assert_eq(a.data[91], 182.0f);
    cnnc_array_free(&a);
}

Test(cli, writes_one_pgm_per_channel_each_stretched)
{
    unsigned char want[11 + 30];
    int c, k;
    memcpy(want, "P5\n6 5\n255\n", 11);
    /* Channel c holds 2 * (3k + c): the same ramp for every c once stretched. */
    for (k = 0; k < 30; k++)
        want[11 + k] = (unsigned char)floor(255.0 * k / 29.0 + 0.5);
    cr_assert_eq(tu_cli(&tu_fake_model, out, sizeof out, err, sizeof err,
                        write_input("in.npy", 1, 0), "-o", tu_path("edges.pgm"), NULL), 0,
                 "%s", err);
    for (c = 0; c < 3; c++) {
        char name[32];
        size_t len;
        unsigned char *b;
        snprintf(name, sizeof name, "edges_%d.pgm", c);
        b = tu_read(tu_path(name), &len);
        cr_assert_eq(len, sizeof want, "%s", name);
        cr_assert_arr_eq(b, want, sizeof want, "%s", name);
        free(b);
    }
    cr_assert(!tu_exists(tu_path("edges.pgm")));
    cr_assert(!tu_exists(tu_path("edges_3.pgm")));
    cr_assert_eq(tu_temp_files(), 0);
}

/* A batch of one item is a single input: its channels are written as for an unbatched one. */
Test(cli, pgm_output_takes_a_batch_of_one)
{
    unsigned char *b;
    size_t len;
    cr_assert_eq(tu_cli(&tu_fake_model, out, sizeof out, err, sizeof err,
                        write_input("in.npy", 1, 1), "-o", tu_path("one.pgm"), NULL), 0, "%s", err);
    b = tu_read(tu_path("one_2.pgm"), &len);
    cr_assert_eq(len, 11 + 30);
    cr_assert_eq(memcmp(b, "P5\n6 5\n255\n", 11), 0);
    free(b);
    cr_assert(!tu_exists(tu_path("one_3.pgm")));
}

Test(cli, pgm_output_refuses_a_batch)
{
    cr_assert_eq(tu_cli(&tu_fake_model, out, sizeof out, err, sizeof err,
                        write_input("in.npy", 2, 1), "-o", tu_path("e.pgm"), NULL), 1);
    CONTAINS(err, "fake: error: ");
    CONTAINS(err, "e.pgm: writing one image per channel needs a single input, not a batch of 2");
    cr_assert(!tu_exists(tu_path("e_0.pgm")));
}

/* edges_1.pgm is a directory, so channel 1 fails after channel 0 was written. */
Test(cli, failed_pgm_channel_removes_the_channels_written_before)
{
    cr_assert_eq(mkdir(tu_path("edges_1.pgm"), 0755), 0);
    cr_assert_eq(tu_cli(&tu_fake_model, out, sizeof out, err, sizeof err,
                        write_input("in.npy", 1, 0), "-o", tu_path("edges.pgm"), NULL), 1);
    CONTAINS(err, "edges_1.pgm: cannot write: Is a directory");
    cr_assert(!tu_exists(tu_path("edges_0.pgm")));
    cr_assert(!tu_exists(tu_path("edges_2.pgm")));
    cr_assert_eq(tu_temp_files(), 0);
}

/* ---- errors */

Test(cli, io_errors_exit_1_and_leave_no_output)
{
    cr_assert_eq(tu_cli(&tu_fake_model, out, sizeof out, err, sizeof err,
                        tu_path("missing.npy"), "-o", tu_path("o.npy"), NULL), 1);
    CONTAINS(err, "fake: error: ");
    CONTAINS(err, "missing.npy: cannot open: No such file or directory\n");
    cr_assert(!tu_exists(tu_path("o.npy")));
    cr_assert_eq(tu_cli(&tu_fake_model, out, sizeof out, err, sizeof err,
                        write_input("in.npy", 1, 0), "-o", tu_path("nodir/o.npy"), NULL), 1);
    CONTAINS(err, "nodir/o.npy: cannot create temporary file");
    cr_assert_eq(tu_temp_files(), 0);
    tu_write_str(tu_path("small.f32"), "abcd");
    cr_assert_eq(tu_cli(&tu_fake_model, out, sizeof out, err, sizeof err,
                        tu_path("small.f32"), NULL), 1);
    CONTAINS(err, "small.f32: file size 4 bytes is not a multiple of 360 bytes");
    cr_assert_str_empty(out);
}

Test(cli, rejects_an_inconsistent_model_description)
{
    cnnc_model m = tu_fake_model;
    m.input_size = 91;
    cr_assert_eq(tu_cli(&m, out, sizeof out, err, sizeof err, "x.npy", NULL), 1);
    cr_assert_str_eq(err, "fake: error: model description: ranks, shapes and sizes disagree\n");
}

static int no_cpu(void) { return 0; }

Test(cli, refuses_to_run_on_a_cpu_without_the_target_isa)
{
    cnnc_model m = tu_fake_model;
    long before = fake_calls;
    m.target = "avx512";
    m.cpu_supported = no_cpu;
    cr_assert_eq(tu_cli(&m, out, sizeof out, err, sizeof err, write_input("in.npy", 1, 1), NULL), 1);
    cr_assert(strstr(err, "built for the 'avx512' instruction set") != NULL, "%s", err);
    cr_assert_eq(fake_calls, before, "the model ran although the CPU check failed");
}

/* ---- benchmark: checks the count and format, never the times */

Test(cli, bench_runs_n_times_after_warm_up)
{
    double median, min, rate, best;
    int runs, items, batches, used = 0;
    const char *line;
    cr_assert_eq(tu_cli(&tu_fake_model, out, sizeof out, err, sizeof err,
                        write_input("in.npy", 2, 1), "--bench", "7", "-o", tu_path("o.npy"),
                        NULL), 0, "%s", err);
    /* The batch's 2 items, 2 warm-up runs and 7 timed runs of the first item, then one
     * warm-up and 3 timed runs of the whole batch (at least 3, at most runs / items). */
    cr_assert_eq(fake_calls, 2 + 2 + 7 + (1 + 3) * 2);
    line = strstr(out, "bench: ");
    cr_assert_not_null(line, "%s", out);
    cr_assert_eq(sscanf(line, "bench: %d runs, median %lf us, min %lf us\n%n", &runs, &median,
                        &min, &used), 3, "%s", line);
    cr_assert_eq(runs, 7);
    cr_assert(min <= median);
    line += used;
    cr_assert_eq(sscanf(line, "bench: batch of %d items, %d runs, median %lf ms, %lf items/s (best %lf)\n%n",
                        &items, &batches, &median, &rate, &best, &used), 5, "%s", line);
    cr_assert_eq(items, 2);
    cr_assert_eq(batches, 3);
    cr_assert(rate > 0 && best >= rate);
    cr_assert_eq(line[used], '\0', "trailing text: %s", line);
    cr_assert(tu_exists(tu_path("o.npy")));
}

Test(cli, warmup_sets_the_untimed_runs)
{
    long before = fake_calls;
    cr_assert_eq(tu_cli(&tu_fake_model, out, sizeof out, err, sizeof err,
                        write_input("in.npy", 1, 0), "--bench", "5", "--warmup", "9", NULL), 0, "%s", err);
    cr_assert_eq(fake_calls - before, 1 + 9 + 5);
    before = fake_calls;
    cr_assert_eq(tu_cli(&tu_fake_model, out, sizeof out, err, sizeof err,
                        write_input("in.npy", 1, 0), "--warmup", "0", "--bench", "3", NULL), 0, "%s", err);
    cr_assert_eq(fake_calls - before, 1 + 0 + 3);
    before = fake_calls;
    /* a batch still gets one warm-up batch */
    cr_assert_eq(tu_cli(&tu_fake_model, out, sizeof out, err, sizeof err,
                        write_input("in.npy", 2, 1), "--bench", "7", "--warmup", "4", NULL), 0, "%s", err);
    cr_assert_eq(fake_calls - before, 2 + 4 + 7 + (1 + 3) * 2);
    usage_fails("--warmup needs a number of runs from 0 to 10000000, not -1", "in.npy", "--warmup", "-1", NULL);
    usage_fails("fake: missing argument after --warmup", "in.npy", "--warmup", NULL, NULL);
}

Test(cli, a_single_item_is_timed_alone)
{
    cr_assert_eq(tu_cli(&tu_fake_model, out, sizeof out, err, sizeof err,
                        write_input("in.npy", 1, 0), "--bench", "5", NULL), 0, "%s", err);
    cr_assert_eq(fake_calls, 1 + 2 + 5);
    cr_assert_null(strstr(out, "batch of"), "%s", out);
}

Test(cli, a_threads_build_runs_its_items_on_a_team)
{
    cnnc_array a;
    char e[256];
    double median, min;
    int runs, threads;
    const char *line;
    cr_assert_eq(tu_cli(&tu_fake_team_model, out, sizeof out, err, sizeof err,
                        write_input("in5.npy", 5, 1), "-o", tu_path("o5.npy"), "--threads", "2", "--bench", "4",
                        NULL), 0, "%s", err);
    cr_assert_eq(cnnc_npy_read(&a, tu_path("o5.npy"), e, sizeof e), 0, "%s", e);
    cr_assert_eq(a.shape[0], 5);
    cr_assert_eq(a.data[4 * 90 + 89], 2.0f * (4 * 90 + 89), "%g", a.data[4 * 90 + 89]);
    cnnc_array_free(&a);
    line = strstr(out, "bench: ");
    cr_assert_not_null(line, "%s", out);
    cr_assert_eq(sscanf(line, "bench: %d runs, median %lf us, min %lf us (%d threads)", &runs, &median, &min,
                        &threads), 4, "%s", line);
    cr_assert_eq(threads, 2);
    cr_assert_not_null(strstr(out, "bench: batch of 5 items"), "%s", out);
    cr_assert_eq(tu_cli(&tu_fake_team_model, out, sizeof out, err, sizeof err, "--help", NULL), 0);
    CONTAINS(out, "--threads N the threads to run on, 1 to 3 (default 3)");
}

Test(cli, a_profile_build_times_each_step)
{
    double med, least, share;
    const char *line;
    cr_assert_eq(tu_cli(&tu_fake_profile_model, out, sizeof out, err, sizeof err,
                        write_input("in.npy", 1, 0), "--profile", "5", NULL), 0, "%s", err);
    cr_assert_eq(fake_calls, 1 + 2 * (2 + 5));
    line = strstr(out, "  second half");
    cr_assert_not_null(line, "%s", out);
    cr_assert_eq(sscanf(line, "  second half %lf %lf %lf%%", &med, &least, &share), 3, "%s", line);
    cr_assert(least <= med && share > 0 && share < 100);
    CONTAINS(out, "  total ");
    usage_fails("--profile: this build has no per-step timing (rebuild with `cnnc build --profile`)", "in.npy",
                "--profile", "3", NULL);
}

Test(cli, threads_out_of_range_is_a_usage_error)
{
    usage_fails("--threads: this build runs on 1 thread (rebuild with `cnnc build --threads N`), not 2", "in.npy",
                "--threads", "2", NULL);
    cr_assert_eq(tu_cli(&tu_fake_team_model, out, sizeof out, err, sizeof err, "in.npy", "--threads", "4", NULL), 2);
    cr_assert(strstr(err, "--threads needs a number from 1 to 3, not 4") != NULL, "%s", err);
}

/* ---- the real executable, built by run.sh with the compiler's command line */

static int exe_run(const char *exe, const char *args)
{
    char cmd[2048];
    int status;
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", exe, args, tu_path("exe.out"),
             tu_path("exe.err"));
    status = system(cmd);
    cr_assert(WIFEXITED(status), "%s", cmd);
    return WEXITSTATUS(status);
}

static void exe_stream_contains(const char *name, const char *want)
{
    unsigned char *text = tu_read(tu_path(name), NULL);
    cr_assert(strstr((char *)text, want) != NULL, "expected \"%s\" in %s:\n%s", want, name,
              (char *)text);
    free(text);
}

Test(cli, executable_exit_codes_and_output)
{
    const char *exe = getenv("CNNC_RUNTIME_EXE");
    char args[1024];
    cnnc_array a;
    char e[256];
    if (exe == NULL || *exe == '\0')
        cr_skip_test("CNNC_RUNTIME_EXE is not set (tests/runtime/run.sh sets it)");
    cr_assert_eq(exe_run(exe, "--help"), 0);
    exe_stream_contains("exe.out", "usage: fake INPUT");
    cr_assert_eq(exe_run(exe, "--bogus"), 2);
    exe_stream_contains("exe.err", "fake: unknown option --bogus");
    snprintf(args, sizeof args, "'%s'", tu_path("missing.npy"));
    cr_assert_eq(exe_run(exe, args), 1);
    exe_stream_contains("exe.err", "fake: error: ");
    snprintf(args, sizeof args, "'%s' -o '%s'", write_input("in.npy", 2, 1), tu_path("o.npy"));
    cr_assert_eq(exe_run(exe, args), 0);
    cr_assert_eq(cnnc_npy_read(&a, tu_path("o.npy"), e, sizeof e), 0, "%s", e);
    cr_assert_eq(a.rank, 4);
    cr_assert_eq(a.data[179], 358.0f);
    cnnc_array_free(&a);
    snprintf(args, sizeof args, "'%s'", tu_path("in.npy"));
    cr_assert_eq(exe_run(exe, args), 0);
    exe_stream_contains("exe.out", "output[1] shape (5, 6, 3):\n  180 182");
}
