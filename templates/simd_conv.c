// Direct convolution on a SIMD target: output channels across vector registers, each input
// value broadcast into the FMAs, a register tile of $P output pixels x $V vectors held in
// accumulators while the whole window is summed. Weights are packed at compile time in the
// order the kernel reads them: per block of output-channel vectors, then (ky, kx, ic).

//@ tile
/* $PH x $PW pixels x $V vectors of output channels. out: the tile's first output value; in:
 * the first window's top-left input value; w, bias: this channel block's packed weights;
 * oc0: the block's first channel. */
static void $fn(float *restrict out, const float *restrict in, const float *restrict w,
const float *restrict bias, int oc0)
{
$acc_init
for (int ky = 0; ky < $KH; ++ky) {
const float *x = in + ky * $ROW_STEP;
for (int kx = 0; kx < $KW; ++kx) {
for (int ic = 0; ic < $IC; ++ic) {
$w_load
vf xb;
$fmas
w += $WSTEP;
}
x += $COL_STEP;
}
}
$stores
}

//@ pixel
/* One output pixel, all channel blocks, with bounds checks: the border of the output. */
static void $fn(float *restrict out, const float *restrict in, int oy, int ox)
{
for (int b = 0; b < $NBLOCKS; ++b) {
const int nv = b < $NBLOCKS - 1 ? $V : $VLAST;
const float *w = $kernel + b * $BLOCK_FLOATS;
vf acc[$V];
for (int v = 0; v < nv; ++v) acc[v] = vf_load($bias + (b * $V + v) * VF_W);
for (int ky = 0; ky < $KH; ++ky) {
const int iy = $iy;
if (iy < 0 || iy >= $IH) {
w += $KW * $IC * nv * VF_W;
continue;
}
for (int kx = 0; kx < $KW; ++kx) {
const int ix = $ix;
if (ix < 0 || ix >= $IW) {
w += $IC * nv * VF_W;
continue;
}
const float *x = &in[(iy * $IW + ix) * $IC];
for (int ic = 0; ic < $IC; ++ic) {
const vf xb = vf_set1(x[ic]);
for (int v = 0; v < nv; ++v) acc[v] = vf_fma(xb, vf_load(w + v * VF_W), acc[v]);
w += nv * VF_W;
}
}
}
for (int v = 0; v < nv; ++v) {
const int oc = (b * $V + v) * VF_W;
vf a = acc[v];
$vector_epilogue
if (oc + VF_W <= $OC) {
vf_store(&out[(oy * $OW + ox) * $OC + oc], a);
} else {
float tail[VF_W];
vf_store(tail, a);
for (int i = 0; oc + i < $OC; ++i) out[(oy * $OW + ox) * $OC + oc + i] = tail[i];
}
}
}
}

//@ band
/* rows oy .. oy + $PH - 1 */
$border_cols
{
int ox = $OX0;
for (; ox + $PW <= $OX1; ox += $PW) {
$x_at
$full_tiles
}
$rest_tiles
}
oy += $PH;

//@ border_cols
for (int r = 0; r < $PH; ++r) {
for (int ox = 0; ox < $OX0; ++ox) ${fn}_pixel(out, in, oy + r, ox);
for (int ox = $OX1; ox < $OW; ++ox) ${fn}_pixel(out, in, oy + r, ox);
}

//@ border_rows
for (; oy < $END; ++oy) {
for (int ox = 0; ox < $OW; ++ox) ${fn}_pixel(out, in, oy, ox);
}

//@ pad_copy
/* The input with its zero padding ($PT top, $PB bottom, $PL left, $PR right), so every
 * window lies inside: no bounds checks below. */
memset(scratch, 0, sizeof(float) * $TOP);
for (int y = 0; y < $IH; ++y) {
float *row = scratch + ($PT + y) * $PROW;
memset(row, 0, sizeof(float) * $LEFT);
memcpy(row + $LEFT, input + y * $ROW, sizeof(float) * $ROW);
memset(row + $LEFT + $ROW, 0, sizeof(float) * $RIGHT);
}
memset(scratch + ($PT + $IH) * $PROW, 0, sizeof(float) * $BOTTOM);
const float *const in = scratch;

//@ layer
/* $comment */
static void $fn(float *restrict out, $params)
{
$pad_copy
int oy = 0;
$top_rows
while (oy + $PH <= $OY1) {
$band
}
$rest_band
$bottom_rows
$scalar_pass
}

//@ scalar_pass
/* Epilogue steps without a vector form, over the whole output once it is complete. */
for (int p = 0; p < $PIXELS; ++p) {
float *y = &out[p * $OC];
for (int c = 0; c < $OC; ++c) {
$store
}
$post
}
