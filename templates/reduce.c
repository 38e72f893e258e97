// Reductions (compiler/cnnc/layers/reduce.lua). `fold`: the output starts at the
// operation's identity and one pass over the input in memory order folds each value into
// its output, then `finish` completes each output. `log_sum_exp` and `arg`: per output,
// over its $N reduced values.

//@ fold
/* $comment */
static void $fn(float *restrict out, const float *restrict in)
{
for (int o = 0; o < $OUT; ++o) out[o] = $init;
$open
const int o = $out;
const float x = in[$index];
$fold
$close
$finish
}

//@ finish
for (int o = 0; o < $OUT; ++o) out[o] = $value;

//@ log_sum_exp
/* $comment */
static void $fn(float *restrict out, const float *restrict in)
{
$kopen
const float *x = &in[$base];
float m = -INFINITY;
$ropen
const float v = x[$off];
if (v > m || v != v) m = v;
$rclose
float s = 0.0f;
$ropen
s += expf(x[$off] - m);
$rclose
out[$out] = (m == INFINITY || m == -INFINITY) ? m : logf(s) + m;
$kclose
}

//@ arg
/* $comment */
static void $fn(float *restrict out, const float *restrict in)
{
$kopen
const float *x = &in[$base];
float best = 0.0f;
int at = 0, j = 0;
$ropen
const float v = x[$off];
if ($better) {
best = v;
at = j;
}
++j;
$rclose
out[$out] = (float)at;
$kclose
}
