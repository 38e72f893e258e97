// Direct 1-D convolution on a SIMD target (cnnc.simd.conv1d): the register tiles are the
// 2-D kernel's with one row (templates/simd_conv.c, section tile), reading the input in
// place; the steps whose windows reach into the padding run through an edge function that
// checks each tap against the input's bounds.

//@ edge_step
/* step $R */
{
const int ix = ix0 + $S;
if (ix >= 0 && ix < $IW) {
const float *x = in + ix * $IC;
const float *wk = wr;
for (int ic = 0; ic < $IC; ++ic) {
$loads
const vf xb = vf_set1(x[ic]);
$fmas
wk += $VW;
}
}
}

//@ edge
/* $U output steps from ox x $V vectors of output channels$what, each tap checked against the
 * input's bounds. out: the first step's output; in: the whole input; w, bias: the block's
 * packed weights and bias. */
static void $fn(float *restrict out, const float *restrict in, const float *restrict w, const float *restrict bias, int ox$oc0)
{
$acc_init
for (int kx = 0; kx < $KW; ++kx) {
const int ix0 = ox * $STRIDE + kx * $DIL - $PL;
const float *wr = w + kx * $CHUNK;
$steps
}
$finish
}

//@ edges
for (int ox = $X0; ox < $X1; ox += $U) {
$call
}

//@ tiles
for (int j = $J0; j < $J1; ++j) {
$call
}

//@ chunks
/* input channels in $NICB chunks of $ICB */
for (int icb = 0; icb < $NICB; ++icb) {
$chunk
$tiles
}

//@ block
/* output channels $c0 .. $c1: the edges and $bands of tiles */
for (int band = 0; band < $NBANDS; ++band) {
$skip
$range
$left
$tiles
$right
}

//@ layer
/* $comment */
static void $fn(float *restrict out, const float *restrict in$part_params)
{
$prologue
$blocks
}
