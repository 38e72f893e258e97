// Where each max-pooling window found its maximum (compiler/cnnc/layers/pool_indices.lua).

//@ argmax
/* $comment */
static void $fn(float *restrict out, const float *restrict in)
{
for (int oy = 0; oy < $OH; ++oy) {
for (int ox = 0; ox < $OW; ++ox) {
for (int c = 0; c < $C; ++c) {
float best = 0.0f;
long at = -1;
for (int ky = 0; ky < $KH; ++ky) {
const int iy = oy * $SH - $TOP + ky * $DH;
if (iy < 0 || iy >= $H) continue;
for (int kx = 0; kx < $KW; ++kx) {
const int ix = ox * $SW - $LEFT + kx * $DW;
if (ix < 0 || ix >= $W) continue;
const float v = in[(iy * $W + ix) * $C + c];
if (at < 0 || v > best) {
best = v;
at = $index;
}
}
}
out[(oy * $OW + ox) * $C + c] = at < 0 ? 0.0f : (float)at;
}
}
}
}
