// The sliding-window skeleton in three dimensions (compiler/cnnc/layers/window3d.lua):
// Conv3D and 3-D pooling on (depth, height, width, channels) data. The bodies ($init,
// $accumulate, $finalize) are those of templates/conv.c and templates/pooling.c; bounds
// checks appear only on axes where padding lets a window cell leave the input.

//@ window_3d
/* $comment */
static void $fn(float *restrict out, const float *restrict in)
{
for (int od = 0; od < $OD; ++od) {
for (int oy = 0; oy < $OH; ++oy) {
for (int ox = 0; ox < $OW; ++ox) {
$init
for (int kd = 0; kd < $KD; ++kd) {
const int id = $id;
$dcheck
for (int ky = 0; ky < $KH; ++ky) {
const int iy = $iy;
$ycheck
for (int kx = 0; kx < $KW; ++kx) {
const int ix = $ix;
$xcheck
$accumulate
}
}
}
$finalize
}
}
}
}
