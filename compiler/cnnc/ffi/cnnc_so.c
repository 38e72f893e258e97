/* cnnc_so.c: the entry points of a model built as a shared library for LuaJIT's FFI
 *
 * Compiled beside a generated NAME.c into one shared object (cnnc.ffi.build), with the
 * model's names given on the command line as for the executable's main:
 *   -DCNNC_MODEL_HEADER='"mnist.h"' -DCNNC_MODEL=mnist -DCNNC_MODEL_UC=MNIST
 * Every library exports the same few names, so Lua declares them once and holds one
 * handle per model (libraries are loaded RTLD_LOCAL and linked -Bsymbolic, so two models
 * with the same name never resolve to each other's code). The batch loop runs here, in C:
 * a whole batch costs one FFI call. A model built with --threads N keeps a team of threads
 * across calls (its NAME_team_* API): the Lua side starts one per compiled net and stops it
 * when the net is collected. A build with backward code adds its batches of gradients with
 * the losses net:fit trains on (cnnc.ffi.train), a training build its writable weights; the
 * optimisers' steps are here too (the same C whatever the model).
 */
#if !defined(CNNC_MODEL_HEADER) || !defined(CNNC_MODEL) || !defined(CNNC_MODEL_UC)
#error "define CNNC_MODEL_HEADER, CNNC_MODEL and CNNC_MODEL_UC (see the comment above)"
#endif

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include CNNC_MODEL_HEADER

#define CNNC_PASTE_(a, b) a##b
#define CNNC_PASTE(a, b) CNNC_PASTE_(a, b)
#define CNNC_UC(suffix) CNNC_PASTE(CNNC_MODEL_UC, suffix)
#define CNNC_FN(suffix) CNNC_PASTE(CNNC_MODEL, suffix)

/* Sizes the Lua side checks against the graph it compiled, so a stale or foreign library
 * in the cache is refused instead of overrunning a buffer. */
size_t cnnc_so_input_size(void) { return CNNC_UC(_INPUT_SIZE); }
size_t cnnc_so_output_size(void) { return CNNC_UC(_OUTPUT_SIZE); }
size_t cnnc_so_workspace_size(void) { return CNNC_UC(_WORKSPACE_SIZE); }
const char *cnnc_so_target(void) { return CNNC_UC(_TARGET); }
int cnnc_so_cpu_supported(void) { return CNNC_FN(_cpu_supported)(); }

/* input: n * INPUT_SIZE floats, output: n * OUTPUT_SIZE floats, workspace:
 * WORKSPACE_SIZE bytes, 64-byte aligned. */
void cnnc_so_predict_batch(const float *input, float *output, void *workspace, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        CNNC_FN(_predict_ws)(input + i * CNNC_UC(_INPUT_SIZE), output + i * CNNC_UC(_OUTPUT_SIZE), workspace);
}

/* The team API of a --threads build (the header defines NAME_MAX_THREADS); a
 * single-thread build gets stand-ins that run the plain loop above. */#if defined(CNNC_TEAM_API)
int cnnc_so_max_threads(void) { return CNNC_UC(_MAX_THREADS); }

/* A team of `threads` threads in memory of its own; NULL when none can be made. */
void *cnnc_so_team_start(int threads)
{
    void *memory = malloc(CNNC_UC(_TEAM_SIZE));
    void *team = memory ? CNNC_FN(_team_start)(memory, threads) : NULL;
    if (!team) free(memory);
    return team;
}

int cnnc_so_team_threads(void *team) { return CNNC_FN(_team_threads)(team); }

void cnnc_so_team_stop(void *team)
{
    CNNC_FN(_team_stop)(team);
    free(team);
}

/* n items on the team; workspaces: one WORKSPACE_SIZE block per team thread. */
void cnnc_so_predict_batch_team(void *team, const float *input, float *output, void *workspaces, size_t n)
{
    CNNC_FN(_predict_batch_team)(team, (int)n, input, output, workspaces);
}
#else
int cnnc_so_max_threads(void) { return 1; }
void *cnnc_so_team_start(int threads) { (void)threads; return NULL; }
int cnnc_so_team_threads(void *team) { (void)team; return 1; }
void cnnc_so_team_stop(void *team) { (void)team; }
void cnnc_so_predict_batch_team(void *team, const float *input, float *output, void *workspaces, size_t n)
{
    (void)team;
    cnnc_so_predict_batch(input, output, workspaces, n);
}
#endif

/* ---- Gradients (a model built with backward code: its header defines NAME_GRAD_GROUPS) */

#if CNNC_UC(_GRAD_GROUPS) + 0 > 0
int cnnc_so_has_backward(void) { return 1; }
size_t cnnc_so_grad_weights_size(void) { return CNNC_UC(_GRAD_WEIGHTS_SIZE); }
/* Bytes of workspace a batch needs on a team of `threads` threads (1 without a team). */
size_t cnnc_so_backward_workspace_size(int threads) { return CNNC_UC(_BACKWARD_BATCH_WORKSPACE_SIZE)(threads); }

/* What the loss of a batch item needs: loss 1 categorical cross-entropy on probabilities,
 * 2 mean squared error; targets: one row of output size per item; scale: the loss's
 * factor in the objective (1 / batch size for the batch's mean). losses[i] receives item
 * i's loss. */
struct cnnc_so_loss {
    int loss;
    const float *targets;
    double scale;
    float *losses;
};

/* The output gradient of item i's loss. Cross-entropy (Keras's on probabilities: -sum t
 * log(p), p clipped to [1e-7, 1 - 1e-7] for the loss value) takes -t / p, whose product
 * with the softmax's Jacobian is p - t, the gradient with respect to the logits, as long as
 * p is not 0 (a float's smallest normal is kept instead). */
static void cnnc_so_loss_grad(void *arg, int i, const float *y, float *dy)
{
    const struct cnnc_so_loss *L = arg;
    const float *t = L->targets + (size_t)i * CNNC_UC(_OUTPUT_SIZE);
    double loss = 0.0;
    int c;
    for (c = 0; c < CNNC_UC(_OUTPUT_SIZE); ++c) {
        if (L->loss == 1) {
            double p = y[c] < 1e-7f ? 1e-7 : y[c] > 1.0f - 1e-7f ? 1.0 - 1e-7 : y[c];
            double q = y[c] > 1.17549435e-38f ? y[c] : 1.17549435e-38;
            loss -= t[c] * log(p);
            dy[c] = (float)(-t[c] / q * L->scale);
        } else {
            double e = (double)y[c] - t[c];
            loss += e * e / CNNC_UC(_OUTPUT_SIZE);
            dy[c] = (float)(2.0 * e / CNNC_UC(_OUTPUT_SIZE) * L->scale);
        }
    }
    L->losses[i] = (float)loss;
}

/* n items: outputs (may be NULL), input gradients (may be NULL) and the weight gradients
 * summed over the items. With loss 0 the output gradients are grad_outputs; else they are
 * those of scale times each item's loss against its targets (scale 1 / n: the batch's
 * mean loss; grad_outputs unused), and losses gets each item's loss. team: the net's
 * team, or NULL. */
void cnnc_so_backward_batch(void *team, int n, const float *inputs, float *outputs, const float *grad_outputs,
                            float *grad_inputs, float *grad_weights, int loss, const float *targets, double scale,
                            float *losses, void *workspace)
{
    struct cnnc_so_loss L;
    L.loss = loss;
    L.targets = targets;
    L.scale = scale;
    L.losses = losses;
#if defined(CNNC_TEAM_API)
    if (team != NULL) {
        CNNC_FN(_backward_batch_team)(team, n, inputs, outputs, grad_outputs, grad_inputs, grad_weights,
                                      loss ? cnnc_so_loss_grad : NULL, &L, workspace);
        return;
    }
#else
    (void)team;
#endif
    CNNC_FN(_backward_batch)(n, inputs, outputs, grad_outputs, grad_inputs, grad_weights,
                             loss ? cnnc_so_loss_grad : NULL, &L, workspace);
}
#else
int cnnc_so_has_backward(void) { return 0; }
size_t cnnc_so_grad_weights_size(void) { return 0; }
size_t cnnc_so_backward_workspace_size(int threads) { (void)threads; return 0; }
void cnnc_so_backward_batch(void *team, int n, const float *inputs, float *outputs, const float *grad_outputs,
                            float *grad_inputs, float *grad_weights, int loss, const float *targets, double scale,
                            float *losses, void *workspace)
{
    (void)team; (void)n; (void)inputs; (void)outputs; (void)grad_outputs; (void)grad_inputs; (void)grad_weights;
    (void)loss; (void)targets; (void)scale; (void)losses; (void)workspace;
}
#endif

/* ---- Training (a training build: NAME_TRAINING) */

#if CNNC_UC(_TRAINING) + 0 > 0
float *cnnc_so_weights(void) { return CNNC_FN(_weights)(); }
void cnnc_so_refresh(void) { CNNC_FN(_refresh)(); }
#else
float *cnnc_so_weights(void) { return NULL; }
void cnnc_so_refresh(void) { }
#endif

/* One step of PyTorch's SGD (torch.optim.SGD, no dampening or weight decay) on n weights:
 * with momentum, v = momentum v + g (v = g at the first step), w -= lr v. */
void cnnc_so_sgd(size_t n, float *w, const float *g, float *v, float lr, float momentum, int first)
{
    size_t i;
    if (momentum == 0.0f) {
        for (i = 0; i < n; ++i) w[i] -= lr * g[i];
        return;
    }
    for (i = 0; i < n; ++i) {
        v[i] = first ? g[i] : momentum * v[i] + g[i];
        w[i] -= lr * v[i];
    }
}

/* One step of PyTorch's Adam (torch.optim.Adam) on n weights, step t (1, 2, ...): m and v
 * the moving averages of g and g^2, w -= lr / (1 - b1^t) m / (sqrt(v) / sqrt(1 - b2^t) + eps). */
void cnnc_so_adam(size_t n, float *w, const float *g, float *m, float *v, float lr, float b1, float b2, float eps,
                  int t)
{
    const double bc1 = 1.0 - pow(b1, t), bc2 = sqrt(1.0 - pow(b2, t));
    const float step = (float)(lr / bc1), root = (float)bc2;
    size_t i;
    for (i = 0; i < n; ++i) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        w[i] -= step * (m[i] / (sqrtf(v[i]) / root + eps));
    }
}
