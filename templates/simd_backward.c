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

//@ wdw_transform
/* $comment */
static void $fn(float *restrict $dst, const float *restrict $src, int ty0, int nty)
{
for (int ty = 0; ty < nty; ++ty) {
for (int tx = 0; tx < $TW; ++tx) {
const float *row = $src + ((ty0 + ty) * $M * $ROW + tx * $M) * $CH;
float *dst = $dst + (ty * $TW + tx) * $CH;
for (int c = 0; c < $CH; c += $W) {
const float *s = row + c;
float *d = dst + c;
$lines
$stores
}
}
}
}

//@ wdw_out
/* The output transform A^T M A of it input channels x nv vectors of output channels (point p
 * of channel i, vector v at m + p * $PS + i * $VW + v * $W), added into the kernel's gradient
 * (cell c of channel i, vector v at dk + c * $CK + i * $K + v * $W; add 0: written). */
static void ${fn}_wout(float *restrict dk, const float *restrict m, int it, int nv, int add)
{
for (int i = 0; i < it; ++i) {
for (int v = 0; v < nv; ++v) {
const float *s = m + i * $VW + v * $W;
float *d = dk + i * $K + v * $W;
$olines
$ostores
}
}
}

//@ wdw_tile
/* $IT input channels x $V vectors of output channels at one transform point: the sum over a
 * chunk's nt tiles of the transformed input (rows of $C) times the transformed dy (rows of
 * $K), written to mp. */
static void $fn(float *restrict mp, const float *restrict xp, const float *restrict gp, int nt)
{
$init
for (int t = 0; t < nt; ++t) {
const float *x = xp + t * $C;
const float *g = gp + t * $K;
$loads
vf xb;
$fmas
}
$stores
}

//@ wdw_run
for (int p = 0; p < $P; ++p) $tile(buf + p * $PS, xt + p * $CT + $ci, dt + p * $KT + $K0, nt);
${base}_wout(dkernel + $ci * $K + $K0, buf, $IT, $NV, add || ty0 > 0);

//@ wdw_layer
/* $comment */
static void $fn($params)
{
$copy
const float *in = $x;
float *xt = work + $XT, *dt = work + $DT, *buf = work + $BUF;
for (int ty0 = 0; ty0 < $TH; ty0 += $TR) {
const int nty = ty0 + $TR <= $TH ? $TR : $TH - ty0;
const int nt = nty * $TW;
${base}_wxt(xt, in, ty0, nty);
${base}_wdt(dt, dy, ty0, nty);
$blocks
}
$bias
}
