// Dense: out = x . kernel + bias, kernel (in, out) in Keras order, read row by row so
// the inner loop runs over contiguous outputs; the sums build up in the output itself.

//@ dense
/* $comment */
static void $fn(float *restrict out, const float *restrict in)
{
for (int o = 0; o < $N; ++o) out[o] = $bias;
for (int i = 0; i < $K; ++i) {
const float x = in[i];
const float *w = &$kernel[i * $N];
for (int o = 0; o < $N; ++o) out[o] += x * w[o];
}
for (int o = 0; o < $N; ++o) {
$store
}
$post
}
