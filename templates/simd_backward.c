// Backward code of convolutions on a SIMD target (cnnc.simd.conv_backward): the kernel's
// gradient in register tiles, the bias's on vectors (the input gradient is a forward
// convolution, templates/simd_conv.c). Gradients written first, then what is read.

//@ dw_tile
/* $IT input channels x $V vectors of output channels of the kernel's gradient at one window
 * cell: the sum over the $OH x $OW output pixels of x * dy, added into dk. xp: the cell's input
 * value for the first output pixel at the tile's first channel; gp: dy of the first output
 * pixel at the block's first channel. add 0: written instead. */
static void $fn(float *restrict dk, const float *restrict xp, const float *restrict gp, int add)
{
$init
for (int oy = 0; oy < $OH; ++oy) {
const float *xr = xp + oy * $XROW;
const float *gr = gp + oy * $OW * $OC;
for (int ox = 0; ox < $OW; ++ox) {
const float *x = xr + ox * $XCOL;
const float *g = gr + ox * $OC;
$loads
vf xb;
$fmas
}
}
$stores
}

//@ dw_block
/* output channels $OC0 .. $OC1 */
for (int ky = 0; ky < $KH; ++ky) {
for (int kx = 0; kx < $KW; ++kx) {
float *dk = dkernel + (ky * $KW + kx) * $ICOC + $OC0;
const float *xp = in + ky * $KSTEP + kx * $XSTEP;
const float *gp = dy + $OC0;
$full
$rest
}
}

//@ dw_pad
/* the input with its zero padding, so the tiles read every window cell without checks */
memset(work, 0, sizeof(float) * $PH * $PW * $IC);
for (int y = 0; y < $IH; ++y) memcpy(work + ((y + $PT) * $PW + $PL) * $IC, x + y * $ROW, sizeof(float) * $ROW);

//@ dw_bias
for (int v = 0; v < $NV; ++v) {
vf a = add ? vf_load(dbias + v * $W) : vf_zero();
for (int p = 0; p < $P; ++p) a = vf_add(a, vf_load(dy + p * $OC + v * $W));
vf_store(dbias + v * $W, a);
}

//@ dw_layer
/* $comment */
static void $fn($params)
{
$copy
const float *in = $x;
$blocks
$bias
}
