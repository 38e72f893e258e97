// Layers whose whole work is their epilogue (Activation, LeakyReLU, BatchNormalization
// when not fused): every value is passed through the store steps; may run in place.

//@ elementwise
/* $comment */
static void $fn(float *out, const float *in)
{
for (int p = 0; p < $PIXELS; ++p) {
const float *x = &in[p * $C];
float *y = &out[p * $C];
for (int c = 0; c < $C; ++c) {
$store
}
$post
}
}

//@ elementwise_simd
/* $comment [$target: whole vectors, then $TAIL values one by one] */
static void $fn(float *out, const float *in)
{
int i = 0;
for (; i + VF_W <= $N; i += VF_W) {
vf a = vf_load(in + i);
$vector
vf_store(out + i, a);
}
for (; i < $N; ++i) {
$store
}
}

//@ elementwise_simd_channels
/* $comment [$target: whole channel vectors] */
static void $fn(float *out, const float *in)
{
for (int p = 0; p < $PIXELS; ++p) {
for (int c = 0; c < $C; c += VF_W) {
vf a = vf_load(in + p * $C + c);
$vector
vf_store(out + p * $C + c, a);
}
}
}
