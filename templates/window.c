// The sliding-window skeleton shared by convolution, locally connected and pooling layers.
// The layer supplies $init (per output pixel), $accumulate (per window cell inside the
// input) and $finalize (per output pixel); bounds checks appear only where padding lets a
// window cell leave the input. With threads, part p of N takes the p-th of N runs of
// consecutive output rows (output positions in 1-D); such a function takes the work
// pointer every part function takes (cnnc_part_fn), which it does not use.

//@ window_2d
/* $comment */
static void $fn(float *restrict out, const float *restrict in$part_params)
{
$prologue
for (int oy = $first; oy < $last; ++oy) {
for (int ox = 0; ox < $OW; ++ox) {
$init
for (int ky = 0; ky < $KH; ++ky) {
const int iy = $iy;
$ycheck
for (int kx = 0; kx < $KW; ++kx) {
const int ix = $ix;
$xcheck
$accumulate
}
}
$finalize
}
}
}

//@ window_1d
/* $comment */
static void $fn(float *restrict out, const float *restrict in$part_params)
{
$prologue
for (int ox = $first; ox < $last; ++ox) {
$init
for (int kx = 0; kx < $KW; ++kx) {
const int ix = $ix;
$xcheck
$accumulate
}
$finalize
}
}

//@ pixels_2d
for (int oy = 0; oy < $OH; ++oy) {
for (int ox = 0; ox < $OW; ++ox) {
$body
}
}

//@ pixels_1d
for (int ox = 0; ox < $OW; ++ox) {
$body
}

//@ taps_2d
for (int ky = 0; ky < $KH; ++ky) {
const int iy = $iy;
$ycheck
for (int kx = 0; kx < $KW; ++kx) {
const int ix = $ix;
$xcheck
$body
}
}

//@ taps_1d
for (int kx = 0; kx < $KW; ++kx) {
const int ix = $ix;
$xcheck
$body
}
