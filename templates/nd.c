// Loop nests over tensors of any rank (compiler/cnnc/layers/nd.lua), and the layers built
// on them: Permute, Concatenate, the elementwise binary operators, Pad, Softmax, MatMul and Where.
// The emitter merges axes that all operands walk contiguously before nesting the loops.

//@ loop
for (int $i = 0; $i < $N; ++$i) {

//@ permute
/* $comment */
static void $fn(float *restrict out, const float *restrict in)
{
$open
out[$out_index] = in[$in_index];
$close
}

//@ concat
/* $comment */
static void $fn(float *restrict out, $params)
{
for (int o = 0; o < $OUTER; ++o) {
$copies
}
}

//@ concat_copy
memcpy(&out[o * $ROW + $OFFSET], &$src[o * $CHUNK], $CHUNK * sizeof(float));

//@ binary
/* $comment */
static void $fn(float *restrict out, $params)
{
$open
float *y = &out[$out_index];
$operands
for (int c = 0; c < $C; ++c) {
$store
}
$post
$close
}

//@ pad
/* $comment */
static void $fn(float *restrict out, const float *restrict in)
{
$open
$sources
out[$out_index] = $value;
$close
}

//@ softmax
/* $comment */
static void $fn(float *restrict out, const float *restrict in)
{
for (int o = 0; o < $OUTER; ++o) {
for (int i = 0; i < $INNER; ++i) {
const float *x = &in[o * $ROW + i];
float *y = &out[o * $ROW + i];
float m = x[0];
for (int k = 1; k < $N; ++k) {
if (x[k * $INNER] > m) m = x[k * $INNER];
}
float s = 0.0f;
for (int k = 0; k < $N; ++k) s += expf(x[k * $INNER] - m);
$finish
}
}
}

//@ matmul
/* $comment */
static void $fn(float *restrict out, $params)
{
$open
const float *a = &$a[$a_index];
const float *b = &$b[$b_index];
for (int m = 0; m < $M; ++m) {
float *y = &out[$out_index + m * $N];
for (int n = 0; n < $N; ++n) y[n] = 0.0f;
for (int k = 0; k < $K; ++k) {
const float av = a[m * $K + k];
const float *w = &b[k * $N];
for (int n = 0; n < $N; ++n) y[n] += av * w[n];
}
for (int n = 0; n < $N; ++n) {
$store
}
$post
}
$close
}

//@ softmax_rows
/* $comment */
static void $fn(float *restrict out, const float *restrict in)
{
memcpy(out, in, sizeof(float) * $OUTER * $N);
for (int o = 0; o < $OUTER; ++o) cnnc_softmax(&out[o * $N], $N);
}

//@ repeat
/* $comment */
static void $fn(float *restrict out, const float *restrict in)
{
for (int r = 0; r < $N; ++r) memcpy(&out[r * $F], in, $F * sizeof(float));
}

//@ crop
/* $comment */
static void $fn(float *restrict out, const float *restrict in)
{
for (int oy = 0; oy < $OH; ++oy) memcpy(&out[oy * $ROW], &in[$OFFSET + oy * $IN_ROW], $ROW * sizeof(float));
}

//@ where
/* $comment */
static void $fn(float *restrict out, const float *restrict cond, const float *restrict x, const float *restrict y)
{
$open
out[$out_index] = cond[$c_index] != 0.0f ? x[$x_index] : y[$y_index];
$close
}
