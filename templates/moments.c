// Per-channel statistics over every axis but the last (compiler/cnnc/layers/moments.lua).

//@ moments
/* $comment */
static void $fn(float *restrict out, const float *restrict in)
{
for (int c = 0; c < $C; ++c) {
float s = 0.0f;
for (int r = 0; r < $ROWS; ++r) s += in[r * $C + c];
const float mean = s / $ROWS_F;
float q = 0.0f;
for (int r = 0; r < $ROWS; ++r) {
const float d = in[r * $C + c] - mean;
q += d * d;
}
const float var = q / $ROWS_F;
(void)var;
out[c] = $result;
}
}
