// Layer normalisation (compiler/cnnc/layers/layer_norm.lua): for each instance (a
// position on the kept axes), the mean over the normalised axes, then the variance as the
// mean squared deviation from it, then every value normalised, scaled and shifted on its
// way out.

//@ layer
/* $comment */
static void $fn(float *restrict out, const float *restrict in)
{
$kopen
const float *x = &in[$base];
float *y = &out[$base];
float s = 0.0f;
$open1
const int off = $off;
s += x[off];
$close1
const float mean = s / $N;
float q = 0.0f;
$open2
const int off = $off;
const float d = x[off] - mean;
q += d * d;
$close2
const float inv = 1.0f / sqrtf(q / $N + $eps);
$open3
const int off = $off;
$store
$close3
$kclose
$post
}

//@ post
for (int p = 0; p < $PIXELS; ++p) {
float *y = &out[p * $C];
$post
}

//@ statistic
/* $comment */
static void $fn(float *restrict out, const float *restrict in)
{
$kopen
const float *x = &in[$base];
float s = 0.0f;
$open1
const int off = $off;
s += x[off];
$close1
const float mean = s / $N;
float q = 0.0f;
$open2
const int off = $off;
const float d = x[off] - mean;
q += d * d;
$close2
const float inv = 1.0f / sqrtf(q / $N + $eps);
(void)inv;
out[$out_index] = $value;
$kclose
}
