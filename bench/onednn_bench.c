/* bench/onednn_bench.c: a network from bench/export_weights.lua run through oneDNN's
 * primitives, timed, and its output written for comparison with cnnc's.
 *
 *   onednn_bench NETDIR [--runs N] [--warmup W] [--threads T] [--max-isa ISA]
 *                       [-o OUT.npy] [--per-layer] [--verbose]
 *
 * Reads NETDIR/net.txt (format: see bench/export_weights.lua), the Keras-layout .npy
 * weights it names and NETDIR/input.npy. The network becomes a list of oneDNN f32
 * forward-inference primitives: convolution (ReLU as a post-op), max/average pooling
 * (pooling_v2; global pooling is a pooling whose window is the whole map), inner product
 * (ReLU post-op) and softmax. Convolution and inner product are created with
 * dnnl_format_tag_any for source, weights and destination, so oneDNN picks its preferred
 * (blocked) layouts; the weights are reordered into them once, before timing.
 *
 * One timed run = reorder the channels-last input into the first layer's layout, every
 * primitive (plus any activation reorder between two layers that chose different
 * layouts) and the reorder of the result back to channels-last: the same work cnnc's
 * NAME_predict does. Threads: this Debian build of oneDNN uses the OpenMP runtime
 * (libgomp; DNNL_CPU_RUNTIME == DNNL_RUNTIME_OMP), so --threads T calls
 * omp_set_num_threads(T) before any primitive exists (OMP_NUM_THREADS works too).
 *
 * Prints the same timing line as cnnc's executables:
 *   bench: N runs, median X us, min Y us
 * and, with --per-layer, one line per step: layer NAME OP median_us min_us MACS.
 */
#define _POSIX_C_SOURCE 200809L
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LAYERS 256
#define MAX_STEPS (3 * MAX_LAYERS + 2)
#define NAME_LEN 128

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("onednn_bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static const char *g_where = "setup";
#define CHECK(call)                                                                   \
    do {                                                                              \
        dnnl_status_t s_ = (call);                                                    \
        if (s_ != dnnl_success)                                                       \
            die("%s: %s failed: %s", g_where, #call, dnnl_status2str(s_));            \
    } while (0)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------- .npy files */

/* Reads a little-endian float32 C-order .npy file; checks it holds `expect` values. */
static float *npy_read(const char *path, long expect)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open %s", path);
    unsigned char pre[10];
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0 || pre[6] != 1)
        die("%s: not a version 1 .npy file", path);
    size_t hlen = pre[8] | (size_t)pre[9] << 8;
    char *h = malloc(hlen + 1);
    if (!h || fread(h, 1, hlen, f) != hlen)
        die("%s: truncated header", path);
    h[hlen] = 0;
    if (!strstr(h, "'<f4'") || !strstr(h, "'fortran_order': False"))
        die("%s: expected float32 C-order data, header %s", path, h);
    char *sh = strstr(h, "'shape': (");
    if (!sh)
        die("%s: no shape in header", path);
    long n = 1;
    for (char *p = sh + 10; *p && *p != ')';) {
        char *end;
        long d = strtol(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        n *= d;
        p = end;
    }
    if (n != expect)
        die("%s: holds %ld values, the network needs %ld", path, n, expect);
    float *data = malloc((size_t)n * sizeof *data);
    if (!data || fread(data, sizeof *data, (size_t)n, f) != (size_t)n)
        die("%s: truncated data", path);
    fclose(f);
    free(h);
    return data;
}

static void npy_write(const char *path, const float *data, long n)
{
    char header[128];
    int len = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (%ld,), }", n);
    int total = 10 + len + 1, pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f)
        die("cannot write %s", path);
    unsigned hl = (unsigned)(len + pad + 1);
    unsigned char pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 255), (unsigned char)(hl >> 8) };
    fwrite(pre, 1, 10, f);
    fwrite(header, 1, (size_t)len, f);
    for (int i = 0; i < pad; i++)
        fputc(' ', f);
    fputc('\n', f);
    fwrite(data, sizeof *data, (size_t)n, f);
    if (fclose(f) != 0)
        die("cannot write %s", path);
}

/* ---------------------------------------------------------------- net.txt */

typedef struct {
    char op[16], name[NAME_LEN], act[16], kernel[NAME_LEN], bias[NAME_LEN];
    long ih, iw, ic, oh, ow, oc, kh, kw, sh, sw, dh, dw, pt, pb, pl, pr;
    double macs;
} layer;

typedef struct {
    char name[NAME_LEN];
    int rank; /* 1 or 2 spatial dimensions */
    long ih, iw, ic, out_size;
    int n;
    layer l[MAX_LAYERS];
} net;

static void net_read(net *nt, const char *dir)
{
    char path[4096], line[1024];
    snprintf(path, sizeof path, "%s/net.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot open %s (make it with bench/export_weights.lua)", path);
    nt->n = 0;
    nt->rank = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (strncmp(line, "net ", 4) == 0) {
            if (sscanf(line, "net %127s %d %ld %ld %ld %ld", nt->name, &nt->rank, &nt->ih, &nt->iw, &nt->ic,
                       &nt->out_size) != 6)
                die("%s: bad net line: %s", path, line);
            continue;
        }
        if (nt->n == MAX_LAYERS)
            die("%s: more than %d layers", path, MAX_LAYERS);
        layer *L = &nt->l[nt->n++];
        if (sscanf(line, "%15s %127s %15s %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %127s %127s %lf",
                   L->op, L->name, L->act, &L->ih, &L->iw, &L->ic, &L->oh, &L->ow, &L->oc, &L->kh, &L->kw, &L->sh,
                   &L->sw, &L->dh, &L->dw, &L->pt, &L->pb, &L->pl, &L->pr, L->kernel, L->bias, &L->macs) != 22)
            die("%s: bad layer line: %s", path, line);
    }
    fclose(f);
    if (nt->rank != 1 && nt->rank != 2)
        die("%s: no valid 'net' line", path);
}

/* ---------------------------------------------------------------- the plan */

/* One executable step: a primitive and its arguments (memory objects). */
typedef struct {
    char name[NAME_LEN + 16], op[16];
    double macs;
    dnnl_primitive_t prim;
    int nargs;
    dnnl_exec_arg_t args[4];
    double *times;
} step;

typedef struct {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    int nsteps;
    step s[MAX_STEPS];
    int verbose;
} plan;

static const char *impl_name(const_dnnl_primitive_desc_t pd)
{
    const char *s = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s) != dnnl_success || !s)
        return "?";
    return s;
}

static step *add_step(plan *p, const char *name, const char *op, double macs, dnnl_primitive_desc_t pd)
{
    if (p->nsteps == MAX_STEPS)
        die("too many steps");
    step *s = &p->s[p->nsteps++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->op, sizeof s->op, "%s", op);
    s->macs = macs;
    CHECK(dnnl_primitive_create(&s->prim, pd));
    if (p->verbose)
        printf("onednn: %-28s %-8s %s\n", name, op, impl_name(pd));
    return s;
}

static void arg(step *s, int what, dnnl_memory_t m)
{
    s->args[s->nargs].arg = what;
    s->args[s->nargs].memory = m;
    s->nargs++;
}

static dnnl_memory_t mem_new(plan *p, const dnnl_memory_desc_t *md, void *handle)
{
    dnnl_memory_t m;
    CHECK(dnnl_memory_create(&m, md, p->eng, handle ? handle : DNNL_MEMORY_ALLOCATE));
    return m;
}

static const dnnl_memory_desc_t *mem_md(dnnl_memory_t m)
{
    const dnnl_memory_desc_t *md;
    CHECK(dnnl_memory_get_memory_desc(m, &md));
    return md;
}

/* Returns memory in layout `want` holding `cur`: cur itself, or a new buffer filled
 * by a reorder step (timed when `timed`, else executed once now). */
static dnnl_memory_t to_layout(plan *p, dnnl_memory_t cur, const dnnl_memory_desc_t *want, const char *name,
                               int timed)
{
    if (dnnl_memory_desc_equal(mem_md(cur), want))
        return cur;
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_reorder_primitive_desc_create(&pd, mem_md(cur), p->eng, want, p->eng, NULL));
    dnnl_memory_t out = mem_new(p, want, NULL);
    if (timed) {
        char nm[NAME_LEN + 16];
        snprintf(nm, sizeof nm, "reorder>%s", name);
        step *s = add_step(p, nm, "reorder", 0, pd);
        arg(s, DNNL_ARG_FROM, cur);
        arg(s, DNNL_ARG_TO, out);
    } else {
        dnnl_primitive_t r;
        CHECK(dnnl_primitive_create(&r, pd));
        dnnl_exec_arg_t a[2] = { { DNNL_ARG_FROM, cur }, { DNNL_ARG_TO, out } };
        CHECK(dnnl_primitive_execute(r, p->stream, 2, a));
        CHECK(dnnl_stream_wait(p->stream));
        CHECK(dnnl_primitive_destroy(r));
    }
    CHECK(dnnl_primitive_desc_destroy(pd));
    return out;
}

/* Logical dims of an activation: {1, C, H, W} (2-D nets) or {1, C, W} (1-D). */
static int act_dims(int rank, long h, long w, long c, dnnl_dims_t d)
{
    d[0] = 1;
    d[1] = c;
    if (rank == 2) {
        d[2] = h;
        d[3] = w;
        return 4;
    }
    d[2] = w;
    return 3;
}

static dnnl_format_tag_t channels_last(int nd)
{
    return nd == 4 ? dnnl_nhwc : nd == 3 ? dnnl_nwc : dnnl_nc;
}

/* Reads a Keras weight file and returns it reordered into `want` (outside timing). */
static dnnl_memory_t weights_in(plan *p, const char *dir, const char *file, int nd, const dnnl_dims_t dims,
                                dnnl_format_tag_t keras_tag, const dnnl_memory_desc_t *want)
{
    char path[4096];
    long n = 1;
    for (int i = 0; i < nd; i++)
        n *= (long)dims[i];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    float *data = npy_read(path, n);
    dnnl_memory_desc_t md;
    CHECK(dnnl_memory_desc_init_by_tag(&md, nd, dims, dnnl_f32, keras_tag));
    dnnl_memory_t user = mem_new(p, &md, data);
    dnnl_memory_t out = to_layout(p, user, want, file, 0);
    if (out != user) {
        CHECK(dnnl_memory_destroy(user));
        free(data);
    }
    return out;
}

static dnnl_primitive_attr_t relu_attr(const layer *L)
{
    dnnl_primitive_attr_t attr;
    CHECK(dnnl_primitive_attr_create(&attr));
    if (strcmp(L->act, "relu") == 0 || strcmp(L->act, "softmax") == 0) {
        if (strcmp(L->act, "relu") == 0) {
            dnnl_post_ops_t po;
            CHECK(dnnl_post_ops_create(&po));
            CHECK(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
            CHECK(dnnl_primitive_attr_set_post_ops(attr, po));
            CHECK(dnnl_post_ops_destroy(po));
        }
    } else if (strcmp(L->act, "none") != 0) {
        die("layer %s: activation %s not supported", L->name, L->act);
    }
    return attr;
}

/* A softmax over the channels of a 2-D (N, C) tensor, after the layer's own work. */
static dnnl_memory_t softmax_after(plan *p, const layer *L, dnnl_memory_t cur)
{
    const dnnl_memory_desc_t *md = mem_md(cur);
    if (md->ndims != 2)
        die("layer %s: softmax supported only on a vector output", L->name);
    dnnl_softmax_desc_t sd;
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_softmax_forward_desc_init(&sd, dnnl_forward_inference, md, 1));
    CHECK(dnnl_primitive_desc_create(&pd, &sd, NULL, p->eng, NULL));
    dnnl_memory_t out = mem_new(p, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), NULL);
    char nm[NAME_LEN + 16];
    snprintf(nm, sizeof nm, "%s.softmax", L->name);
    step *s = add_step(p, nm, "softmax", 0, pd);
    arg(s, DNNL_ARG_SRC, cur);
    arg(s, DNNL_ARG_DST, out);
    CHECK(dnnl_primitive_desc_destroy(pd));
    return out;
}

static dnnl_memory_t build_conv(plan *p, const net *nt, const layer *L, const char *dir, dnnl_memory_t cur)
{
    dnnl_dims_t sd, dd, wd, bd = { L->oc }, strides, dil, pl, pr;
    int nd = act_dims(nt->rank, L->ih, L->iw, L->ic, sd);
    act_dims(nt->rank, L->oh, L->ow, L->oc, dd);
    wd[0] = L->oc;
    wd[1] = L->ic;
    if (nd == 4) {
        wd[2] = L->kh, wd[3] = L->kw;
        strides[0] = L->sh, strides[1] = L->sw;
        dil[0] = L->dh - 1, dil[1] = L->dw - 1;
        pl[0] = L->pt, pl[1] = L->pl;
        pr[0] = L->pb, pr[1] = L->pr;
    } else {
        wd[2] = L->kw;
        strides[0] = L->sw;
        dil[0] = L->dw - 1;
        pl[0] = L->pl;
        pr[0] = L->pr;
    }
    dnnl_memory_desc_t src_md, w_md, b_md, dst_md;
    CHECK(dnnl_memory_desc_init_by_tag(&src_md, nd, sd, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&w_md, nd, wd, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_x));
    CHECK(dnnl_memory_desc_init_by_tag(&dst_md, nd, dd, dnnl_f32, dnnl_format_tag_any));
    int has_bias = strcmp(L->bias, "-") != 0;
    dnnl_convolution_desc_t cd;
    CHECK(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &src_md,
                                                     &w_md, has_bias ? &b_md : NULL, &dst_md, strides, dil, pl, pr));
    dnnl_primitive_attr_t attr = relu_attr(L);
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_primitive_desc_create(&pd, &cd, attr, p->eng, NULL));
    CHECK(dnnl_primitive_attr_destroy(attr));
    dnnl_memory_t src = to_layout(p, cur, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), L->name, 1);
    dnnl_memory_t w = weights_in(p, dir, L->kernel, nd, wd, nd == 4 ? dnnl_hwio : dnnl_wio,
                                 dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0));
    dnnl_memory_t dst = mem_new(p, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), NULL);
    step *s = add_step(p, L->name, "conv", L->macs, pd);
    arg(s, DNNL_ARG_SRC, src);
    arg(s, DNNL_ARG_WEIGHTS, w);
    if (has_bias)
        arg(s, DNNL_ARG_BIAS, weights_in(p, dir, L->bias, 1, bd, dnnl_x, &b_md));
    arg(s, DNNL_ARG_DST, dst);
    CHECK(dnnl_primitive_desc_destroy(pd));
    return dst;
}

static dnnl_memory_t build_pool(plan *p, const net *nt, const layer *L, dnnl_memory_t cur)
{
    dnnl_dims_t dd, strides, kernel, dil = { 0, 0 }, pl, pr;
    int nd = act_dims(nt->rank, L->oh, L->ow, L->oc, dd);
    if (nd == 4) {
        strides[0] = L->sh, strides[1] = L->sw;
        kernel[0] = L->kh, kernel[1] = L->kw;
        pl[0] = L->pt, pl[1] = L->pl;
        pr[0] = L->pb, pr[1] = L->pr;
    } else {
        strides[0] = L->sw;
        kernel[0] = L->kw;
        pl[0] = L->pl;
        pr[0] = L->pr;
    }
    int is_max = strcmp(L->op, "maxpool") == 0 || strcmp(L->op, "gmaxpool") == 0;
    dnnl_memory_desc_t dst_md;
    CHECK(dnnl_memory_desc_init_by_tag(&dst_md, nd, dd, dnnl_f32, dnnl_format_tag_any));
    dnnl_pooling_v2_desc_t pdsc;
    CHECK(dnnl_pooling_v2_forward_desc_init(&pdsc, dnnl_forward_inference,
                                            is_max ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding,
                                            mem_md(cur), &dst_md, strides, kernel, dil, pl, pr));
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_primitive_desc_create(&pd, &pdsc, NULL, p->eng, NULL));
    dnnl_memory_t dst = mem_new(p, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), NULL);
    step *s = add_step(p, L->name, L->op, 0, pd);
    arg(s, DNNL_ARG_SRC, cur);
    arg(s, DNNL_ARG_DST, dst);
    CHECK(dnnl_primitive_desc_destroy(pd));
    return dst;
}

static dnnl_memory_t build_dense(plan *p, const layer *L, const char *dir, dnnl_memory_t cur)
{
    /* The source keeps the rank it has (4-D after a flattened 2-D map, 3-D after a 1-D
     * one, 2-D after a vector); the Keras kernel rows are in HWC order, i.e. the
     * weights (O, C, H, W) in hwio / (O, C, W) in wio / (O, I) in io. */
    const dnnl_memory_desc_t *cmd = mem_md(cur);
    int nd = cmd->ndims;
    dnnl_dims_t sd, wd, bd = { L->oc }, dd = { 1, L->oc };
    memcpy(sd, cmd->dims, sizeof sd);
    long in = 1;
    for (int i = 1; i < nd; i++)
        in *= (long)sd[i];
    if (in != L->ih * L->iw * L->ic)
        die("layer %s: input has %ld values, net.txt says %ld", L->name, in, L->ih * L->iw * L->ic);
    wd[0] = L->oc;
    for (int i = 1; i < nd; i++)
        wd[i] = sd[i];
    dnnl_format_tag_t keras = nd == 4 ? dnnl_hwio : nd == 3 ? dnnl_wio : dnnl_io;
    dnnl_memory_desc_t src_md, w_md, b_md, dst_md;
    CHECK(dnnl_memory_desc_init_by_tag(&src_md, nd, sd, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&w_md, nd, wd, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_x));
    CHECK(dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, dnnl_f32, dnnl_format_tag_any));
    int has_bias = strcmp(L->bias, "-") != 0;
    dnnl_inner_product_desc_t ipd;
    CHECK(dnnl_inner_product_forward_desc_init(&ipd, dnnl_forward_inference, &src_md, &w_md,
                                               has_bias ? &b_md : NULL, &dst_md));
    dnnl_primitive_attr_t attr = relu_attr(L);
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_primitive_desc_create(&pd, &ipd, attr, p->eng, NULL));
    CHECK(dnnl_primitive_attr_destroy(attr));
    dnnl_memory_t src = to_layout(p, cur, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), L->name, 1);
    dnnl_memory_t w = weights_in(p, dir, L->kernel, nd, wd, keras,
                                 dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0));
    dnnl_memory_t dst = mem_new(p, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), NULL);
    step *s = add_step(p, L->name, "dense", L->macs, pd);
    arg(s, DNNL_ARG_SRC, src);
    arg(s, DNNL_ARG_WEIGHTS, w);
    if (has_bias)
        arg(s, DNNL_ARG_BIAS, weights_in(p, dir, L->bias, 1, bd, dnnl_x, &b_md));
    arg(s, DNNL_ARG_DST, dst);
    CHECK(dnnl_primitive_desc_destroy(pd));
    return dst;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static const char *isa_str(dnnl_cpu_isa_t isa)
{
    switch (isa) {
    case dnnl_cpu_isa_all: return "all";
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    default: return "?";
    }
}

static dnnl_cpu_isa_t isa_parse(const char *s)
{
    static const dnnl_cpu_isa_t all[] = { dnnl_cpu_isa_all, dnnl_cpu_isa_sse41, dnnl_cpu_isa_avx,
                                          dnnl_cpu_isa_avx2, dnnl_cpu_isa_avx512_core,
                                          dnnl_cpu_isa_avx512_core_vnni, dnnl_cpu_isa_avx512_core_bf16,
                                          dnnl_cpu_isa_avx512_core_amx, dnnl_cpu_isa_avx2_vnni };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(s, isa_str(all[i])) == 0)
            return all[i];
    die("unknown --max-isa %s (sse41, avx, avx2, avx512_core, ..., all)", s);
    return dnnl_cpu_isa_all;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *out_path = NULL, *max_isa = NULL;
    int runs = 100, warmup = 5, threads = 0, per_layer = 0;
    static plan p;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (strcmp(a, "--runs") == 0 && more)
            runs = atoi(argv[++i]);
        else if (strcmp(a, "--warmup") == 0 && more)
            warmup = atoi(argv[++i]);
        else if (strcmp(a, "--threads") == 0 && more)
            threads = atoi(argv[++i]);
        else if (strcmp(a, "--max-isa") == 0 && more)
            max_isa = argv[++i];
        else if (strcmp(a, "-o") == 0 && more)
            out_path = argv[++i];
        else if (strcmp(a, "--per-layer") == 0)
            per_layer = 1;
        else if (strcmp(a, "--verbose") == 0)
            p.verbose = 1;
        else if (a[0] != '-' && !dir)
            dir = a;
        else
            die("usage: onednn_bench NETDIR [--runs N] [--warmup W] [--threads T] [--max-isa ISA] [-o OUT.npy] "
                "[--per-layer] [--verbose]");
    }
    if (!dir)
        die("usage: onednn_bench NETDIR [options] (NETDIR from bench/export_weights.lua)");
    if (runs < 1 || warmup < 0)
        die("--runs must be at least 1 and --warmup at least 0");
    if (threads > 0)
        omp_set_num_threads(threads);
    if (max_isa)
        CHECK(dnnl_set_max_cpu_isa(isa_parse(max_isa)));

    static net nt;
    net_read(&nt, dir);
    const dnnl_version_t *v = dnnl_version();
    printf("onednn: version %d.%d.%d, cpu runtime %s, threads %d, isa %s\n", v->major, v->minor, v->patch,
           v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : v->cpu_runtime == DNNL_RUNTIME_TBB ? "TBB"
           : v->cpu_runtime == DNNL_RUNTIME_SEQ ? "sequential" : "other",
           omp_get_max_threads(), isa_str(dnnl_get_effective_cpu_isa()));

    CHECK(dnnl_engine_create(&p.eng, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&p.stream, p.eng, dnnl_stream_default_flags));

    /* The user's channels-last input; the first layer reorders it as it needs. */
    dnnl_dims_t id;
    int ind = act_dims(nt.rank, nt.ih, nt.iw, nt.ic, id);
    char path[4096];
    snprintf(path, sizeof path, "%s/input.npy", dir);
    float *input = npy_read(path, nt.ih * nt.iw * nt.ic);
    dnnl_memory_desc_t in_md;
    CHECK(dnnl_memory_desc_init_by_tag(&in_md, ind, id, dnnl_f32, channels_last(ind)));
    dnnl_memory_t cur = mem_new(&p, &in_md, input);

    for (int i = 0; i < nt.n; i++) {
        const layer *L = &nt.l[i];
        g_where = L->name;
        if (strcmp(L->op, "conv") == 0)
            cur = build_conv(&p, &nt, L, dir, cur);
        else if (strcmp(L->op, "maxpool") == 0 || strcmp(L->op, "avgpool") == 0 || strcmp(L->op, "gavgpool") == 0
                 || strcmp(L->op, "gmaxpool") == 0)
            cur = build_pool(&p, &nt, L, cur);
        else if (strcmp(L->op, "dense") == 0)
            cur = build_dense(&p, L, dir, cur);
        else if (strcmp(L->op, "flatten") == 0)
            continue; /* a view: dense reads the map in its own layout */
        else
            die("layer %s: op %s not supported", L->name, L->op);
        if (strcmp(L->act, "softmax") == 0)
            cur = softmax_after(&p, L, cur);
    }
    g_where = "output";
    /* The result back in channels-last order (Keras's, and cnnc's). */
    const dnnl_memory_desc_t *cmd = mem_md(cur);
    dnnl_memory_desc_t out_md;
    CHECK(dnnl_memory_desc_init_by_tag(&out_md, cmd->ndims, cmd->dims, dnnl_f32, channels_last(cmd->ndims)));
    dnnl_memory_t out = to_layout(&p, cur, &out_md, "output", 1);
    long out_n = 1;
    for (int i = 0; i < cmd->ndims; i++)
        out_n *= (long)cmd->dims[i];
    if (out_n != nt.out_size)
        die("output has %ld values, net.txt says %ld", out_n, nt.out_size);

    for (int k = 0; k < p.nsteps; k++)
        if (!(p.s[k].times = malloc((size_t)runs * sizeof(double))))
            die("out of memory");
    double *total = malloc((size_t)runs * sizeof *total);
    if (!total)
        die("out of memory");
    g_where = "run";
    for (int r = -warmup; r < runs; r++) {
        double t0 = now();
        for (int k = 0; k < p.nsteps; k++) {
            double ts = now();
            CHECK(dnnl_primitive_execute(p.s[k].prim, p.stream, p.s[k].nargs, p.s[k].args));
            CHECK(dnnl_stream_wait(p.stream));
            if (r >= 0)
                p.s[k].times[r] = now() - ts;
        }
        if (r >= 0)
            total[r] = now() - t0;
    }
    double med = median_of(total, runs);
    printf("bench: %d runs, median %.2f us, min %.2f us\n", runs, med * 1e6, total[0] * 1e6);
    if (per_layer)
        for (int k = 0; k < p.nsteps; k++) {
            double m = median_of(p.s[k].times, runs);
            printf("layer %s %s %.2f %.2f %.0f\n", p.s[k].name, p.s[k].op, m * 1e6, p.s[k].times[0] * 1e6,
                   p.s[k].macs);
        }
    if (out_path) {
        void *h;
        CHECK(dnnl_memory_get_data_handle(out, &h));
        npy_write(out_path, h, out_n);
    }
    return 0;
}
