// Winograd F(m x m, 3 x 3) convolution on a SIMD target (cnnc.simd.winograd). Per block of
// $T tiles: the input transform V[p][tile][c] = (B^T d B)[p], per transform point p a
// register-tiled product M[p] = V[p] x U[p], and the output transform A^T m A with the
// bias and epilogue, stored channels-last. U = G g G^T is computed at compile time.

//@ pad_copy
/* $name's input in a zero-bordered copy of $PH x $PW pixels x $CP channels: whole tiles,
 * whole vectors of channels, so the input transform reads no bounds. */
static void $fn(float *restrict scratch, const float *restrict input)
{
for (int y = 0; y < $PH; ++y) {
float *row = scratch + y * $PROW;
const int iy = y - $PT;
if (iy < 0 || iy >= $IH) {
memset(row, 0, sizeof(float) * $PROW);
continue;
}
memset(row, 0, sizeof(float) * $LEFT);
$copy_row
memset(row + $RIGHT0, 0, sizeof(float) * $RIGHT);
}
}

//@ input_direct
/* Input transform of tiles t0 .. t0 + $T - 1 ($n x $n inputs each, read from the
 * $IH x $IW x $C input, zero outside it) into v [$P][$T][$CP]; tiles past the last ($N) are zero. */
static void $fn(float *restrict v, const float *restrict x, int t0)
{
for (int i = 0; i < $T; ++i) {
const int n = t0 + i;
float *vt = v + i * $CP;
if (n >= $N) {
for (int p = 0; p < $P; ++p) memset(vt + p * $PSTRIDE, 0, sizeof(float) * $CP);
continue;
}
const int iy0 = (n / $TW) * $M - $PT, ix0 = (n % $TW) * $M - $PL;
const long base = ((long)iy0 * $IW + ix0) * $C;
if (iy0 >= 0 && iy0 + $n <= $IH && ix0 >= 0 && ix0 + $n <= $IW) {
const float *d = x + base;
for (int c = 0; c < $CP; c += VF_W) {
$body
}
} else {
/* a border tile: rows r and columns c outside the input read as zero */
$rows
for (int c = 0; c < $CP; c += VF_W) {
$body_border
}
}
}
}

//@ copy_pixels
for (int x = 0; x < $IW; ++x) {
memcpy(row + $LEFT + x * $CP, input + (iy * $IW + x) * $C, sizeof(float) * $C);
memset(row + $LEFT + x * $CP + $C, 0, sizeof(float) * ($CP - $C));
}

//@ input
/* Input transform of tiles t0 .. t0 + $T - 1 ($n x $n inputs each) into v [$P][$T][$CP];
 * tiles past the last ($N) are zero. */
static void $fn(float *restrict v, const float *restrict in, int t0)
{
for (int i = 0; i < $T; ++i) {
const int n = t0 + i;
float *vt = v + i * $CP;
if (n >= $N) {
for (int p = 0; p < $P; ++p) memset(vt + p * $PSTRIDE, 0, sizeof(float) * $CP);
continue;
}
const float *d = in + (n / $TW) * $ROWSTEP + (n % $TW) * $COLSTEP;
for (int c = 0; c < $CP; c += VF_W) {
$body
}
}
}

//@ gemm_tile
/* $TG tiles x $NV vectors of output channels of one point: m[t][k] = sum over $C input
 * channels c of v[t][c] * u[c][k]. */
static void $fn(float *restrict m, const float *restrict v, const float *restrict u)
{
$acc_init
for (int c = 0; c < $C; ++c) {
$w_load
vf xb;
$fmas
u += $USTEP;
}
$stores
}

//@ gemm_block
/* output channels $k0 .. $k1 */
for (int t = 0; t < $T; t += $TG) {
$call
}

//@ gemm
/* One point: m [$T][$K] = v [$T][input channels] x u [$C][$K]$range. */
static void $fn(float *restrict m, const float *restrict v, const float *restrict u$kparams)
{
$blocks
}

//@ output
/* Output transform of tiles t0 .. t0 + $T - 1 ($m x $m outputs each) from m [points][$T][$KP],
 * plus bias and epilogue, into out ($OH x $OW x $OC$pooled); ragged tiles store their valid
 * pixels$range. */
static void $fn(float *restrict out, const float *restrict m, const float *restrict bias, int t0$kparams)
{
for (int i = 0; i < $T; ++i) {
const int n = t0 + i;
if (n >= $N) break;
const int oy = (n / $TW) * $m, ox = (n % $TW) * $m;
$bounds
float *o = out + ($opixel) * $OC;
const float *mt = m + i * $KP;
for (int k = $K0; k < $K1; k += VF_W) {
$nk
$body
}
}
}

//@ layer
/* $comment */
static void $fn(float *restrict out, const float *restrict in$part_params)
{
$part_locals
/* in: $source; work: each part's block buffers v [$P][$T][input channels] and
 * m [$P][$T][output channels]. */
const float *x = in;
float *v = work + part * $WSP;
float *m = v + $VSIZE;
for (int blk = part; blk < $NBLK; blk += parts) {
$in_fn(v, x, blk * $T);
for (int p = 0; p < $P; ++p) $gemm_fn(m + p * $MSTRIDE, v + p * $VSTRIDE, $U + p * $USIZE);
$out_fn(out, m, $bias, blk * $T);
}
}

//@ layer_ksplit
/* $comment */
static void $fn(float *restrict out, const float *restrict in$part_params)
{
/* in: $source; work: each part's block buffers v [$P][$T][input channels] and
 * m [$P][$T][output channels]. Every part transforms each block's input and takes the
 * blocks of output vectors kb0 .. kb1 - 1 of it, so it reads only its share of U. */
const float *x = in;
float *v = work + part * $WSP;
float *m = v + $VSIZE;
const int kb0 = part * $NKB / parts, kb1 = (part + 1) * $NKB / parts;
const int k0 = kb0 * $KB < $KP ? kb0 * $KB : $KP, k1 = kb1 * $KB < $KP ? kb1 * $KB : $KP;
for (int blk = 0; blk < $NBLK; ++blk) {
$in_fn(v, x, blk * $T);
for (int p = 0; p < $P; ++p) $gemm_fn(m + p * $MSTRIDE, v + p * $VSTRIDE, $U + p * $USIZE, kb0, kb1);
$out_fn(out, m, $bias, blk * $T, k0, k1);
}
}
