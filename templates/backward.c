// Backward code (portable C): the vector-Jacobian products of the layers, in float32.
// Conventions of every function here: gradients written first (dx: the gradient of the
// layer's input, always written whole; a weight's gradient: added to, since a batch sums
// them), then what is read (x: the layer's input as the forward pass left it, dy: the
// gradient of the layer's output before its epilogue). The window loops come from
// templates/window.c (cnnc.window).

//@ epilogue_output
/* $comment */
static void $fn($params)
{
$alias
for (int i = 0; i < $N; ++i) dz[i] = d[i] * $grad;
}

//@ epilogue_input
/* $comment */
static void $fn($params)
{
$alias
for (int p = 0; p < $PIXELS; ++p) {
for (int c = 0; c < $C; ++c) {
const int i = p * $C + c;
float g = d[i];
$z
$body
dz[i] = g;
}
}
}

//@ epilogue_input_softmax
/* $comment */
static void $fn($params)
{
$alias
for (int p = 0; p < $PIXELS; ++p) {
float dot = 0.0f;
for (int c = 0; c < $C; ++c) dot += d[p * $C + c] * y[p * $C + c];
for (int c = 0; c < $C; ++c) {
const int i = p * $C + c;
float g = y[i] * (d[i] - dot);
$z
$body
dz[i] = g;
}
}
}

//@ window_input
/* $comment */
static void $fn(float *restrict dx$params)
{
memset(dx, 0, sizeof(float) * $IN_SIZE);
$loops
}

//@ window_weights
/* $comment */
static void $fn($params)
{
$loops
}

//@ conv_input_pixel
const float *g = &dy[$out_pixel * $OC];
$taps

//@ conv_input_tap
float *d = &dx[$in_pixel * $IC];
const float *w = &$kernel[$tap * $ICOC];
for (int ic = 0; ic < $IC; ++ic) {
float s = 0.0f;
for (int oc = 0; oc < $OC; ++oc) s += g[oc] * w[ic * $OC + oc];
d[ic] += s;
}

//@ conv_weights_pixel
const float *g = &dy[$out_pixel * $OC];
$bias
$taps

//@ conv_weights_tap
const float *xv = &x[$in_pixel * $IC];
float *w = &dkernel[$tap * $ICOC];
for (int ic = 0; ic < $IC; ++ic) {
const float v = xv[ic];
for (int oc = 0; oc < $OC; ++oc) w[ic * $OC + oc] += v * g[oc];
}

//@ conv_input_tap_grouped
float *d = &dx[$in_pixel * $IC];
const float *w = &$kernel[$tap * $ICOC];
for (int grp = 0; grp < $G; ++grp) {
for (int ic = 0; ic < $ICG; ++ic) {
float s = 0.0f;
for (int oc = grp * $OCG; oc < (grp + 1) * $OCG; ++oc) s += g[oc] * w[ic * $OC + oc];
d[grp * $ICG + ic] += s;
}
}

//@ conv_weights_tap_grouped
const float *xv = &x[$in_pixel * $IC];
float *w = &dkernel[$tap * $ICOC];
for (int grp = 0; grp < $G; ++grp) {
for (int ic = 0; ic < $ICG; ++ic) {
const float v = xv[grp * $ICG + ic];
for (int oc = grp * $OCG; oc < (grp + 1) * $OCG; ++oc) w[ic * $OC + oc] += v * g[oc];
}
}

//@ conv_transpose_input
/* $comment */
static void $fn(float *restrict dx, const float *restrict dy)
{
for (int iy = 0; iy < $IH; ++iy) {
for (int ix = 0; ix < $IW; ++ix) {
float *d = &dx[(iy * $IW + ix) * $IC];
for (int c = 0; c < $IC; ++c) d[c] = 0.0f;
for (int ky = 0; ky < $KH; ++ky) {
const int oy = iy * $SH + ky * $DH - $PT;
if (oy < 0 || oy >= $OH) continue;
for (int kx = 0; kx < $KW; ++kx) {
const int ox = ix * $SW + kx * $DW - $PL;
if (ox < 0 || ox >= $OW) continue;
const float *g = &dy[(oy * $OW + ox) * $F];
const float *w = &$kernel[(ky * $KW + kx) * $FGIC];
for (int c = 0; c < $IC; ++c) {
const int first = c / $CG * $FG;
float s = 0.0f;
for (int m = 0; m < $FG; ++m) s += g[first + m] * w[m * $IC + c];
d[c] += s;
}
}
}
}
}
}

//@ conv_transpose_weights
/* $comment */
static void $fn($params)
{
$bias
for (int iy = 0; iy < $IH; ++iy) {
for (int ix = 0; ix < $IW; ++ix) {
const float *xv = &x[(iy * $IW + ix) * $IC];
for (int ky = 0; ky < $KH; ++ky) {
const int oy = iy * $SH + ky * $DH - $PT;
if (oy < 0 || oy >= $OH) continue;
for (int kx = 0; kx < $KW; ++kx) {
const int ox = ix * $SW + kx * $DW - $PL;
if (ox < 0 || ox >= $OW) continue;
const float *g = &dy[(oy * $OW + ox) * $F];
float *w = &dkernel[(ky * $KW + kx) * $FGIC];
for (int c = 0; c < $IC; ++c) {
const int first = c / $CG * $FG;
const float v = xv[c];
for (int m = 0; m < $FG; ++m) w[m * $IC + c] += v * g[first + m];
}
}
}
}
}
}

//@ conv_transpose_bias
for (int o = 0; o < $OUT; ++o) {
for (int c = 0; c < $F; ++c) dbias[c] += dy[o * $F + c];
}

//@ layer_norm_input
/* $comment */
static void $fn(float *restrict dx, const float *restrict xs, const float *restrict dys)
{
$kopen
const float *x = &xs[$base];
const float *dy = &dys[$base];
float *d = &dx[$base];
$stats
float sg = 0.0f, sgx = 0.0f;
$open3
const int off = $off;
const float g = dy[off]$gscale;
sg += g;
sgx += g * (x[off] - mean) * inv;
$close3
const float mg = sg / $N, mgx = sgx / $N;
$open4
const int off = $off;
d[off] = inv * (dy[off]$gscale - mg - (x[off] - mean) * inv * mgx);
$close4
$kclose
}

//@ layer_norm_weights
/* $comment */
static void $fn($params, const float *restrict xs, const float *restrict dys)
{
$kopen
$xview
const float *dy = &dys[$base];
$stats
$open3
const int off = $off;
$lines
$close3
$kclose
}

//@ dense_input
/* $comment */
static void $fn(float *restrict dx, const float *restrict dy)
{
for (int i = 0; i < $K; ++i) {
const float *w = &$kernel[i * $N];
$dot
dx[i] = s;
}
}

//@ dense_dot
float s = 0.0f;
for (int o = 0; o < $N; ++o) s += w[o] * dy[o];

//@ dense_dot_lanes
/* $L partial sums (which vector code keeps in registers), then added up */
float p[$L] = { 0.0f };
for (int o = 0; o < $NL; o += $L) {
for (int j = 0; j < $L; ++j) p[j] += w[o + j] * dy[o + j];
}
float s = 0.0f;
for (int j = 0; j < $L; ++j) s += p[j];
for (int o = $NL; o < $N; ++o) s += w[o] * dy[o];

//@ dense_weights
/* $comment */
static void $fn(float *restrict dkernel$bias_param, const float *restrict x, const float *restrict dy, int add)
{
$bias
for (int i = 0; i < $K; ++i) {
const float v = x[i];
float *w = &dkernel[i * $N];
if (add) {
for (int o = 0; o < $N; ++o) w[o] += v * dy[o];
} else {
for (int o = 0; o < $N; ++o) w[o] = v * dy[o];
}
}
}

//@ pool_max_pixel
const float *g = &dy[$out_pixel * $C];
float best[$C];
int at[$C];
for (int c = 0; c < $C; ++c) {
best[c] = -INFINITY;
at[c] = -1;
}
$taps
for (int c = 0; c < $C; ++c) {
if (at[c] >= 0) dx[at[c]] += g[c];
}

//@ pool_max_tap
const int base = $in_pixel * $C;
for (int c = 0; c < $C; ++c) {
const float v = x[base + c];
if (at[c] < 0 || v > best[c] || (v != v && best[c] == best[c])) {
best[c] = v;
at[c] = base + c;
}
}

//@ pool_share_pixel
const float *g = &dy[$out_pixel * $C];
$share
$taps

//@ pool_share_tap
float *d = &dx[$in_pixel * $C];
$weight
for (int c = 0; c < $C; ++c) d[c] += g[c] * s;

//@ pool_lp_pixel
const float *g = &dy[$out_pixel * $C];
float y[$C];
for (int c = 0; c < $C; ++c) y[c] = 0.0f;
$sum_taps
for (int c = 0; c < $C; ++c) y[c] = $result;
$share_taps

//@ pool_lp_sum
const float *xv = &x[$in_pixel * $C];
for (int c = 0; c < $C; ++c) y[c] += $term;

//@ pool_lp_share
const float *xv = &x[$in_pixel * $C];
float *d = &dx[$in_pixel * $C];
for (int c = 0; c < $C; ++c) {
const float v = xv[c];
if (v != 0.0f && y[c] != 0.0f) d[c] += g[c] * $share;
}

//@ global_average
/* $comment */
static void $fn(float *restrict dx, const float *restrict dy)
{
for (int p = 0; p < $PIXELS; ++p) {
for (int c = 0; c < $C; ++c) dx[p * $C + c] = dy[c] / $PIXELS.0f;
}
}

//@ global_max
/* $comment */
static void $fn(float *restrict dx, const float *restrict x, const float *restrict dy)
{
float m[$C];
int ties[$C];
for (int c = 0; c < $C; ++c) {
m[c] = -INFINITY;
ties[c] = 0;
}
for (int p = 0; p < $PIXELS; ++p) {
for (int c = 0; c < $C; ++c) {
$max
}
}
for (int p = 0; p < $PIXELS; ++p) {
for (int c = 0; c < $C; ++c) {
const float v = x[p * $C + c];
ties[c] += v == m[c] || (v != v && m[c] != m[c]);
}
}
for (int p = 0; p < $PIXELS; ++p) {
for (int c = 0; c < $C; ++c) {
const float v = x[p * $C + c];
dx[p * $C + c] = v == m[c] || (v != v && m[c] != m[c]) ? dy[c] / (float)ties[c] : 0.0f;
}
}
}

//@ zero_padding
/* $comment */
static void $fn(float *restrict dx, const float *restrict dy)
{
for (int y = 0; y < $IH; ++y) {
memcpy(&dx[y * $ROW], &dy[((y + $PT) * $OW + $PL) * $C], sizeof(float) * $ROW);
}
}

//@ cropping
/* $comment */
static void $fn(float *restrict dx, const float *restrict dy)
{
memset(dx, 0, sizeof(float) * $IN_SIZE);
for (int y = 0; y < $OH; ++y) {
memcpy(&dx[$OFFSET + y * $IN_ROW], &dy[y * $ROW], sizeof(float) * $ROW);
}
}

//@ unfold
/* $comment */
static void $fn($params)
{
$body
}

//@ unfold_one
/* batch norm $origin: its gamma and beta gradients from those of the folded weights, then $rest */
for (int j = 0; j < $ROWS; ++j) {
for (int c = 0; c < $OC; ++c) {
const float g = f[j * $OC + c];
$kernel_line
f[j * $OC + c] = g * $scale[c];
}
}
for (int j = 0; j < $BROWS; ++j) {
for (int c = 0; c < $OC; ++c) {
const float g = f[$KN + j * $OC + c];
$bias_line
f[$KN + j * $OC + c] = g * $scale[c];
}
}

//@ entry_points
/* The forward pass of ${name}_backward: the layers of ${name}_predict, keeping in the workspace
 * what the backward pass reads. workspace: $WS bytes (${UC}_BACKWARD_WORKSPACE_SIZE), owned by
 * the caller; output: ${UC}_OUTPUT_SIZE floats, or NULL. */
void ${name}_train_forward(const float *input, float *output, void *workspace)
{
const unsigned csr = cnnc_denormals_off();
$farena
$fbuffers
$fcalls
if (output != NULL) memcpy(output, $OUT, sizeof(float) * $OUT_SIZE);
cnnc_denormals_restore(csr);
}

/* The backward steps of ${name}_train_backward; with add 0, the weight gradients are written
 * instead of added to (the larger layers store theirs, the others' are zeroed first). */
static void ${name}_backward_steps(const float *input, const float *grad_output, float *grad_input, float *grad_weights,
void *workspace, int add)
{
const unsigned csr = cnnc_denormals_off();
$barena
$bunused
$bdecls
$zero
$bcalls
cnnc_denormals_restore(csr);
}

/* The backward pass, after ${name}_train_forward(input, ..., workspace) with the same input and
 * workspace: the gradient of the input into grad_input (${UC}_INPUT_SIZE floats; NULL: not
 * computed) and those of the trainable weights added into grad_weights
 * (${UC}_GRAD_WEIGHTS_SIZE floats), given grad_output, the gradient of the output. */
void ${name}_train_backward(const float *input, const float *grad_output, float *grad_input, float *grad_weights,
void *workspace)
{
${name}_backward_steps(input, grad_output, grad_input, grad_weights, workspace, 1);
}

/* The gradients of the network at one input: grad_input (NULL: not computed) and
 * grad_weights (written) from grad_output, as ${name}_train_forward then
 * ${name}_train_backward. Reentrant: workspace is the caller's. */
void ${name}_backward_ws(const float *input, const float *grad_output, float *grad_input, float *grad_weights,
void *workspace)
{
${name}_train_forward(input, NULL, workspace);
${name}_backward_steps(input, grad_output, grad_input, grad_weights, workspace, 0);
}

/* As ${name}_backward_ws, with a static workspace (not reentrant). */
void ${name}_backward(const float *input, const float *grad_output, float *grad_input, float *grad_weights)
{
static float arena[$ARENA_FLOATS];
${name}_backward_ws(input, grad_output, grad_input, grad_weights, arena);
}

//@ batch
/* A batch of n items for ${name}_backward_batch: item i's input at inputs + i * ${UC}_INPUT_SIZE,
 * its output written to outputs + i * ${UC}_OUTPUT_SIZE (outputs may be NULL), its output
 * gradient read from grad_outputs + i * ${UC}_OUTPUT_SIZE or, when grad_of is given, computed
 * by grad_of(arg, i, output, grad_output) from the item's output (called from any thread of
 * a team, once per item); its input gradient written to grad_inputs + i * ${UC}_INPUT_SIZE
 * (grad_inputs may be NULL). */
struct ${name}_batch {
int n, groups;
const float *inputs;
float *outputs;
const float *grad_outputs;
float *grad_inputs;
float *grad_weights;
${name}_grad_fn grad_of;
void *arg;
float *sums; /* the weight gradients of groups 1 .. groups - 1 */
};

/* Group k of the batch's items, k * n / groups up to the next group's, one after another on
 * one thread (ws: its ${UC}_BACKWARD_WORKSPACE_SIZE bytes and room for an output and its
 * gradient): the group's weight gradients summed in its own buffer (group 0's in
 * grad_weights). */
static void ${name}_batch_group(const struct ${name}_batch *b, int k, float *ws)
{
float *gw = k == 0 ? b->grad_weights : b->sums + (size_t)(k - 1) * ${UC}_GRAD_WEIGHTS_SIZE;
float *out = ws + $ARENA_FLOATS;
float *dy = out + ${UC}_OUTPUT_SIZE;
const int first = (int)((long long)k * b->n / b->groups), last = (int)((long long)(k + 1) * b->n / b->groups);
for (int i = first; i < last; ++i) {
const float *x = b->inputs + (size_t)i * ${UC}_INPUT_SIZE;
float *y = b->outputs != NULL ? b->outputs + (size_t)i * ${UC}_OUTPUT_SIZE : out;
const float *g = b->grad_of != NULL ? dy : b->grad_outputs + (size_t)i * ${UC}_OUTPUT_SIZE;
${name}_train_forward(x, y, ws);
if (b->grad_of != NULL) b->grad_of(b->arg, i, y, dy);
${name}_backward_steps(x, g, b->grad_inputs != NULL ? b->grad_inputs + (size_t)i * ${UC}_INPUT_SIZE : NULL, gw, ws,
i != first);
}
}

/* The groups' sums in order: the same bits whoever computed them. */
static void ${name}_batch_sum(const struct ${name}_batch *b)
{
for (int k = 1; k < b->groups; ++k) {
const float *s = b->sums + (size_t)(k - 1) * ${UC}_GRAD_WEIGHTS_SIZE;
for (int j = 0; j < ${UC}_GRAD_WEIGHTS_SIZE; ++j) b->grad_weights[j] += s[j];
}
}

static struct ${name}_batch ${name}_batch_new(int n, const float *inputs, float *outputs, const float *grad_outputs,
float *grad_inputs, float *grad_weights, ${name}_grad_fn grad_of, void *arg, void *workspace, int threads)
{
struct ${name}_batch b;
b.n = n;
b.groups = n < ${UC}_GRAD_GROUPS ? n : ${UC}_GRAD_GROUPS;
b.inputs = inputs;
b.outputs = outputs;
b.grad_outputs = grad_outputs;
b.grad_inputs = grad_inputs;
b.grad_weights = grad_weights;
b.grad_of = grad_of;
b.arg = arg;
b.sums = (float *)((char *)workspace + (size_t)threads * ${UC}_BACKWARD_THREAD_BYTES);
return b;
}

/* The gradients of a batch of n items (see struct ${name}_batch): grad_weights (written) is
 * the sum of the items' weight gradients, summed in ${UC}_GRAD_GROUPS groups of consecutive
 * items and then group after group, so that every build and every number of threads gives
 * the same bits. workspace: ${UC}_BACKWARD_BATCH_WORKSPACE_SIZE(1) bytes. */
void ${name}_backward_batch(int n, const float *inputs, float *outputs, const float *grad_outputs, float *grad_inputs,
float *grad_weights, ${name}_grad_fn grad_of, void *arg, void *workspace)
{
struct ${name}_batch b = ${name}_batch_new(n, inputs, outputs, grad_outputs, grad_inputs, grad_weights, grad_of, arg,
workspace, 1);
$zero_all
for (int k = 0; k < b.groups; ++k) ${name}_batch_group(&b, k, workspace);
${name}_batch_sum(&b);
}

//@ batch_team
/* A team's share of a batch: each thread takes groups until none is left. */
static void ${name}_team_groups(struct cnnc_team *t, int thread)
{
const struct ${name}_batch *b = t->job;
float *ws = (float *)((char *)t->workspace + (size_t)thread * ${UC}_BACKWARD_THREAD_BYTES);
for (int k = CNNC_TAKE(t->next_item); k < b->groups; k = CNNC_TAKE(t->next_item)) ${name}_batch_group(b, k, ws);
}

/* ${name}_backward_batch on a team: the groups shared among its threads, the same bits.
 * workspace: ${UC}_BACKWARD_BATCH_WORKSPACE_SIZE(threads of the team) bytes. */
void ${name}_backward_batch_team(${name}_team *team, int n, const float *inputs, float *outputs,
const float *grad_outputs, float *grad_inputs, float *grad_weights, ${name}_grad_fn grad_of, void *arg,
void *workspace)
{
struct cnnc_team *t = (struct cnnc_team *)team;
struct ${name}_batch b = ${name}_batch_new(n, inputs, outputs, grad_outputs, grad_inputs, grad_weights, grad_of, arg,
workspace, t->threads);
const unsigned csr = cnnc_denormals_off();
$zero_all
t->workspace = workspace;
t->job = &b;
cnnc_team_job(t, ${name}_team_groups, 0);
t->job = NULL;
${name}_batch_sum(&b);
cnnc_denormals_restore(csr);
}

//@ softmax
/* $comment */
static void $fn(float *restrict dx, const float *restrict x, const float *restrict dy)
{
for (int o = 0; o < $OUTER; ++o) {
for (int i = 0; i < $INNER; ++i) {
const float *xr = &x[o * $ROW + i];
const float *g = &dy[o * $ROW + i];
float *d = &dx[o * $ROW + i];
float m = xr[0];
for (int k = 1; k < $N; ++k) {
if (xr[k * $INNER] > m) m = xr[k * $INNER];
}
float s = 0.0f;
for (int k = 0; k < $N; ++k) s += expf(xr[k * $INNER] - m);
float dot = 0.0f;
for (int k = 0; k < $N; ++k) dot += $term;
for (int k = 0; k < $N; ++k) d[k * $INNER] = $grad;
}
}
}

//@ permute
/* $comment */
static void $fn(float *restrict dx, const float *restrict dy)
{
$open
dx[$in_index] = dy[$out_index];
$close
}

//@ merge
/* $comment */
static void $fn($params)
{
$clear
$open
$pointers
for (int c = 0; c < $C; ++c) {
const float g = $g;
$body
}
$close
}

//@ concat
/* $comment */
static void $fn($params)
{
for (int o = 0; o < $OUTER; ++o) {
$copies
}
}

//@ concat_part
memcpy(&$dst[o * $CHUNK], &dy[o * $ROW + $OFFSET], $CHUNK * sizeof(float));

//@ repeat
/* $comment */
static void $fn(float *restrict dx, const float *restrict dy)
{
memcpy(dx, dy, $F * sizeof(float));
for (int r = 1; r < $N; ++r) {
for (int i = 0; i < $F; ++i) dx[i] += dy[r * $F + i];
}
}

//@ binary
/* $comment */
static void $fn($params)
{
$clear
$open
const float *g = &dy[$out_index];
$operands
for (int c = 0; c < $C; ++c) {
$body
}
$close
}
