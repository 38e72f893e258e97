// 1-D Winograd convolution on a SIMD target (cnnc.simd.winograd1d): per block of $T tiles of
// consecutive output steps, the input transform V[p][tile][c], per transform point p the
// GEMM M[p] = V[p] x U[p] (templates/simd_winograd.c), and the output transform with the
// bias and epilogue, stored channels-last.

//@ border
if (n >= $I0 && n < $I1) {
$inside
} else {
/* a tile at an end of the input: its $SPAN steps copied, zeros outside the input */
const int s0 = n * $TL - $PL;
for (int s = 0; s < $SPAN; ++s) {
if (s0 + s >= 0 && s0 + s < $IW) memcpy(buf + s * $C, x + (s0 + s) * $C, sizeof(float) * $C);
else memset(buf + s * $C, 0, sizeof(float) * $C);
}
d = buf;
}

//@ input
/* Input transform of tiles t0 .. t0 + $T - 1 ($SPAN input steps each) into v [$P][$T][$CP];
 * tiles past the last ($N) are zero. */
static void $fn(float *restrict v, const float *restrict x$buf, int t0)
{
for (int i = 0; i < $T; ++i) {
const int n = t0 + i;
float *vt = v + i * $CP;
if (n >= $N) {
for (int p = 0; p < $P; ++p) memset(vt + p * $PSTRIDE, 0, sizeof(float) * $CP);
continue;
}
const float *d;
$where
for (int c = 0; c < $CP; c += VF_W) {
$body
}
}
}

//@ output
/* Output transform of tiles t0 .. t0 + $T - 1 ($TL output steps each) from m [points][$T][$KP],
 * plus bias and epilogue, into out ($L x $K$pooled); the last tile stores its valid steps. */
static void $fn(float *restrict out, const float *restrict m, const float *restrict bias, int t0)
{
for (int i = 0; i < $T; ++i) {
const int n = t0 + i;
if (n >= $N) break;
$len
float *o = out + $first * $K;
const float *mt = m + i * $KP;
for (int k = 0; k < $KP; k += VF_W) {
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
/* work: each part's block buffers v [$P][$T][input channels] and m [$P][$T][output
 * channels], then $buffers. */
float *v = work + part * $WSP;
float *m = v + $VSIZE;
$buf
$tail
for (int blk = part; blk < $NBLK; blk += parts) {
$in_fn(v, in$bufarg, blk * $T);
for (int p = 0; p < $P; ++p) $gemm_fn(m + p * $MSTRIDE, v + p * $VSTRIDE, $U + p * $USIZE);
$out_fn(out, m, $bias, blk * $T);
}
}
