// Resampling (compiler/cnnc/layers/resize.lua): for each output position of the axes up
// to the last resized one, the taps of every resized axis (input offsets and weights from
// the layer's tables, computed at compile time), then the contiguous run of $C values of
// the trailing kept axes (the channels) as one vector.

//@ layer
/* $comment */
static void $fn(float *restrict out, const float *restrict in)
{
$tables
$open
float *y = &out[($out_index) * $C];
$skip
$body
$close
}

//@ loop
for (int $v = 0; $v < $N; ++$v) {

//@ outside
/* Outside the crop: the extrapolation value. */
if ($test) {
for (int c = 0; c < $C; ++c) y[c] = $value;
continue;
}

//@ copy
memcpy(y, &in[$source], $C * sizeof(float));

//@ weighted
/* Taps of weight 0 are skipped: the value does not depend on what they would read. */
for (int c = 0; c < $C; ++c) y[c] = 0.0f;
$tap_open
const float w = $w;
if (w == 0.0f) continue;
const float *x = &in[$source];
for (int c = 0; c < $C; ++c) y[c] += w * x[c];
$tap_close

//@ weighted_simd
/* Whole vectors of channels summed in registers over all taps (those of weight 0
 * skipped: the value does not depend on what they would read), then the rest. */
for (int c = 0; c < $CV; c += VF_W) {
vf a = vf_zero();
$tap_open
const float w = $w;
if (w == 0.0f) continue;
a = vf_fma(vf_set1(w), vf_load(&in[$source + c]), a);
$tap_close
vf_store(&y[c], a);
}
for (int c = $CV; c < $C; ++c) {
float a = 0.0f;
$tap_open
const float w = $w;
if (w == 0.0f) continue;
a += w * in[$source + c];
$tap_close
y[c] = a;
}

//@ backward
/* $comment */
static void $fn(float *restrict dx, const float *restrict dy)
{
$tables
memset(dx, 0, sizeof(float) * $IN_SIZE);
$open
const float *g = &dy[($out_index) * $C];
$skip
$tap_open
const float w = $w;
if (w == 0.0f) continue;
float *d = &dx[$source];
for (int c = 0; c < $C; ++c) d[c] += w * g[c];
$tap_close
$close
}
