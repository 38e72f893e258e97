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
$stats
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
$stats
(void)inv;
out[$out_index] = $value;
$kclose
}

//@ stats
float s = 0.0f;
$open
const int off = $off;
s += x[off];
$close
const float mean = s / $N;
float q = 0.0f;
$open
const int off = $off;
const float e = x[off] - mean;
q += e * e;
$close
const float inv = 1.0f / sqrtf(q / $N + $eps);
