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
