// Transposed convolution (compiler/cnnc/layers/conv_transpose.lua), gathered: each output
// pixel sums, over the kernel taps whose input position is a whole multiple of the
// stride inside the input, that input pixel's channels times the tap's weights. The
// kernel is packed (ky, kx, in_channel, out_channel), so the innermost loop runs over
// output channels. With threads, part p of N takes the p-th of N runs of output rows.

//@ layer_2d
/* $comment */
static void $fn(float *restrict out, const float *restrict in$part_params)
{
$prologue
for (int oy = $first; oy < $last; ++oy) {
for (int ox = 0; ox < $OW; ++ox) {
float acc[$OC];
for (int oc = 0; oc < $OC; ++oc) acc[oc] = $bias;
for (int ky = 0; ky < $KH; ++ky) {
const int iy = $iy;
if ($ycheck) continue;
for (int kx = 0; kx < $KW; ++kx) {
const int ix = $ix;
if ($xcheck) continue;
const float *x = &in[(iy * $IW + ix) * $IC];
const float *w = &$kernel[(ky * $KW + kx) * $IC * $FG];
$accumulate
}
}
float *y = &out[(oy * $OW + ox) * $OC];
for (int oc = 0; oc < $OC; ++oc) {
$store
}
$post
}
}
}

//@ layer_1d
/* $comment */
static void $fn(float *restrict out, const float *restrict in$part_params)
{
$prologue
for (int ox = $first; ox < $last; ++ox) {
float acc[$OC];
for (int oc = 0; oc < $OC; ++oc) acc[oc] = $bias;
for (int kx = 0; kx < $KW; ++kx) {
const int ix = $ix;
if ($xcheck) continue;
const float *x = &in[ix * $IC];
const float *w = &$kernel[kx * $IC * $FG];
$accumulate
}
float *y = &out[ox * $OC];
for (int oc = 0; oc < $OC; ++oc) {
$store
}
$post
}
}

//@ accumulate
for (int ic = 0; ic < $IC; ++ic) {
const float xv = x[ic];
for (int oc = 0; oc < $OC; ++oc) acc[oc] += xv * w[ic * $OC + oc];
}

//@ accumulate_grouped
/* Input channel ic feeds the $FG output channels of its group ic / $CG. */
for (int ic = 0; ic < $IC; ++ic) {
const float xv = x[ic];
float *a = &acc[(ic / $CG) * $FG];
for (int m = 0; m < $FG; ++m) a[m] += xv * w[ic * $FG + m];
}
