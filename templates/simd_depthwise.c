// Depthwise convolution on a SIMD target (compiler/cnnc/simd/depthwise.lua): channels
// across vector lanes, so each FMA multiplies a vector of input channels by the same
// channels' weights (no broadcast). Weights are packed (ky, kx, channel), the channels
// padded to whole vectors. Channels past the last whole vector run in scalar code, so no
// load reads past a pixel. The interior runs several pixels of a row at a time, sharing
// each weight vector; the border runs one pixel at a time with bounds checks.

//@ pixel
/* One output pixel with bounds checks. */
static void $fn(float *restrict out, const float *restrict in, int oy, int ox)
{
$vectors
$tail
}

//@ pixel_vectors
float *y = &out[(oy * $OW + ox) * $C];
for (int c = 0; c < $CV; c += VF_W) {
vf a = vf_load($bias + c);
for (int ky = 0; ky < $KH; ++ky) {
const int iy = $iy;
if (iy < 0 || iy >= $IH) continue;
for (int kx = 0; kx < $KW; ++kx) {
const int ix = $ix;
if (ix < 0 || ix >= $IW) continue;
a = vf_fma(vf_load(&in[(iy * $IW + ix) * $C + c]), vf_load(&$kernel[(ky * $KW + kx) * $CP + c]), a);
}
}
$vector_epilogue
vf_store(&y[c], a);
}

//@ tail
/* Channels $CV..$C of one output pixel (fewer than a vector), with bounds checks. */
static void $fn(float *restrict out, const float *restrict in, int oy, int ox)
{
float *y = &out[(oy * $OW + ox) * $C];
for (int c = $CV; c < $C; ++c) {
float acc = $bias[c];
for (int ky = 0; ky < $KH; ++ky) {
const int iy = $iy;
if (iy < 0 || iy >= $IH) continue;
for (int kx = 0; kx < $KW; ++kx) {
const int ix = $ix;
if (ix < 0 || ix >= $IW) continue;
acc += in[(iy * $IW + ix) * $C + c] * $kernel[(ky * $KW + kx) * $CP + c];
}
}
$store
}
}

//@ tile
/* $PW neighbouring output pixels of a row, all window cells inside the input. */
static void $fn(float *restrict out, const float *restrict in, int oy, int ox)
{
float *y = &out[(oy * $OW + ox) * $C];
const float *x0 = &in[(($iy0) * $IW + ($ix0)) * $C];
for (int c = 0; c < $CV; c += VF_W) {
$acc_init
for (int ky = 0; ky < $KH; ++ky) {
const float *x = x0 + ky * $ROW_STEP + c;
const float *w = &$kernel[ky * $KW * $CP + c];
for (int kx = 0; kx < $KW; ++kx) {
const vf wv = vf_load(w + kx * $CP);
$fmas
x += $COL_STEP;
}
}
$stores
}
$tail
}

//@ layer
/* $comment */
static void $fn(float *restrict out, const float *restrict in)
{
for (int oy = 0; oy < $OH; ++oy) {
if (oy < $OY0 || oy >= $OY1) {
for (int ox = 0; ox < $OW; ++ox) ${fn}_pixel(out, in, oy, ox);
continue;
}
int ox = 0;
for (; ox < $OX0; ++ox) ${fn}_pixel(out, in, oy, ox);
$tiles
for (; ox < $OW; ++ox) ${fn}_pixel(out, in, oy, ox);
}
}

//@ tiles
for (; ox + $PW <= $OX1; ox += $PW) ${fn}_tile(out, in, oy, ox);
