// Bodies for the window skeleton (window.c) of pooling layers: one accumulator per
// channel; $combine folds a cell into it, $result turns it into the pooled value.

//@ init
float acc[$C];
$count_init
for (int c = 0; c < $C; ++c) acc[c] = $start;

//@ accumulate
const float *x = &in[$in_pixel * $C];
$count_step
for (int c = 0; c < $C; ++c) {
$combine
}

//@ finalize
float *y = &out[$out_pixel * $C];
for (int c = 0; c < $C; ++c) {
$store
}
$post

//@ global
/* $comment */
static void $fn(float *restrict out, const float *restrict in)
{
float acc[$C];
for (int c = 0; c < $C; ++c) acc[c] = $start;
for (int p = 0; p < $PIXELS; ++p) {
const float *x = &in[p * $C];
for (int c = 0; c < $C; ++c) {
$combine
}
}
for (int c = 0; c < $C; ++c) {
$store
}
$post
}

//@ global_blocked
/* $comment */
static void $fn(float *restrict out, const float *restrict in)
{
/* the sum over positions in $NB blocks of $PB, each summed from zero, then added to acc */
float acc[$C], part[$C];
for (int c = 0; c < $C; ++c) acc[c] = 0.0f;
for (int p0 = 0; p0 < $PIXELS; p0 += $PB) {
const int p1 = p0 + $PB < $PIXELS ? p0 + $PB : $PIXELS;
for (int c = 0; c < $C; ++c) part[c] = 0.0f;
for (int p = p0; p < p1; ++p) {
const float *x = &in[p * $C];
for (int c = 0; c < $C; ++c) part[c] += x[c];
}
for (int c = 0; c < $C; ++c) acc[c] += part[c];
}
for (int c = 0; c < $C; ++c) {
$store
}
$post
}

//@ zero_padding
/* $comment */
static void $fn(float *restrict out, const float *restrict in)
{
memset(out, 0, sizeof(float) * $OUT_SIZE);
for (int y = 0; y < $IH; ++y) {
memcpy(&out[((y + $PT) * $OW + $PL) * $C], &in[y * $IW * $C], sizeof(float) * $ROW);
}
}
