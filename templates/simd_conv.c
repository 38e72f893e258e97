// Direct convolution on a SIMD target: output channels across vector registers, each input
// value broadcast into the FMAs, a register tile of $PH x $PW output pixels x $V vectors held
// in accumulators while a chunk of input channels of the window is summed. Weights are
// packed at compile time in the order the kernel reads them: per block of output-channel
// vectors, per chunk of input channels, then (ky, kx, ic, channel).

//@ tile
/* $PH x $PW pixels x $V vectors of output channels$what. $doc */
static void $fn($params)
{
$acc_init
for (int ky = 0; ky < $KH; ++ky) {
const float *x = in + ky * $ROW_STEP;
for (int kx = 0; kx < $KW; ++kx) {
for (int ic = 0; ic < $NIC; ++ic) {
$w_load
vf xb;
$fmas
w += $WSTEP;
}
x += $COL_STEP;
}
}
$finish
}

//@ tile_blocked
/* $PH x $PW pixels x $V vectors of output channels$what. $doc Each window cell's $NIC input
 * channels are summed in blocks of $ICB, each from zero, then added to part (the bias and the
 * earlier blocks' sums). */
static void $fn($params)
{
vf part[$NACC];
$part_init
$acc_init
for (int ky = 0; ky < $KH; ++ky) {
const float *x = in + ky * $ROW_STEP;
for (int kx = 0; kx < $KW; ++kx) {
for (int ic0 = 0; ic0 < $NIC; ic0 += $ICB) {
const int ic1 = ic0 + $ICB < $NIC ? ic0 + $ICB : $NIC;
for (int ic = ic0; ic < ic1; ++ic) {
$w_load
vf xb;
$fmas
w += $WSTEP;
}
$flush
}
x += $COL_STEP;
}
}
$take
$finish
}

//@ row
/* output rows oy .. oy + $PH - 1 */
{
int ox = $x0;
for (; ox + $PW <= $x1; ox += $PW) {
$full
}
$rest
}

//@ block
/* output channels $c0 .. $c1: $bands, $inputs */
for (int band = 0; band < $NBANDS; ++band) {
$skip
const int y0 = $y0;
const int y1 = $y1;
$columns
for (int icb = 0; icb < $NICB; ++icb) {
$chunk
const float *w = $kernel + $BLOCKOFF + icb * $CHUNK;
int oy = y0;
for (; oy + $PH <= y1; oy += $PH) {
$row_full
}
$row_rest
}
}

//@ chunk
const int first = icb == 0, last = icb == $NICB - 1;
const int nic = last ? $ICLAST : $ICB;

//@ pad_copy
/* $name's input as its tiles read it: $chunks,
 * each a block of $BLOCK floats holding the chunk's channels of every pixel, $ICB floats
 * apart, with the zero padding ($PT top, $PB bottom, $PL left, $PR right), so every window
 * lies inside and the convolution needs no bounds checks. $rows_comment */
static void $fn(float *restrict scratch, const float *restrict input$part_params)
{
$prologue
$rows
for (int y = y0; y < y1; ++y) {
if (y < $PT || y >= $PT + $IH) {
for (int k = 0; k < $NICB; ++k) memset(scratch + k * $BLOCK + y * $PROW, 0, sizeof(float) * $PROW);
continue;
}
for (int k = 0; k < $NICB; ++k) {
memset(scratch + k * $BLOCK + y * $PROW, 0, sizeof(float) * $LEFT);
memset(scratch + k * $BLOCK + y * $PROW + $RIGHT0, 0, sizeof(float) * $RIGHT);
}
const float *src = input + (y - $PT) * $IW * $IC;
float *dst = scratch + y * $PROW + $LEFT;
for (int x = 0; x < $IW; ++x, src += $IC, dst += $ICB) {
for (int k = 0; k < $NICB - 1; ++k) memcpy(dst + k * $BLOCK, src + k * $ICB, sizeof(float) * $ICB);
memcpy(dst + $LAST_BLOCK, src + $LAST_SRC, sizeof(float) * $ICLAST);
}
}
}

//@ layer
/* $comment */
static void $fn(float *restrict out, const float *restrict in$part_params)
{
$prologue
const float *x = in;
$blocks
}

//@ scalar_pass
/* $name's epilogue steps without a vector form, over the whole output once it is complete. */
static void $fn(float *restrict out)
{
for (int p = 0; p < $PIXELS; ++p) {
float *y = &out[p * $OC];
for (int c = 0; c < $OC; ++c) {
$store
}
$post
}
}
