// Transposed convolution on a SIMD target (compiler/cnnc/simd/conv_transpose.lua): per
// output pixel, output channels across vector lanes in blocks of up to $V vectors held in
// registers, each input channel broadcast into one FMA per vector of the block. The kernel
// is packed (ky, kx, in_channel, out_channel of the group); channels past a group's last
// whole vector run in scalar code. Epilogue steps with a vector form run on the registers,
// the others over the pixel's finished channels.

//@ layer
/* $comment */
static void $fn(float *restrict out, const float *restrict in$part_params)
{
$prologue
for (int r = $first; r < $last; ++r) {
$pixel_loop
float *y = &out[$out_pixel * $OC];
$groups
$scalar_pass
}
}
}

//@ groups
for (int g = 0; g < $G; ++g) {
$blocks
$tail
}

//@ block
for (int b = 0; b < $NB; ++b) {
const int oc = g * $FG + $FIRST + b * $BW;
$acc_init
$taps_open
const float *x = &in[$in_pixel * $IC + g * $CG];
const float *w = &$kernel[($tap * $IC + g * $CG) * $FG + oc - g * $FG];
for (int ic = 0; ic < $CG; ++ic) {
const vf xv = vf_set1(x[ic]);
$fmas
}
$taps_close
$stores
}

//@ tail
for (int oc = g * $FG + $CV; oc < (g + 1) * $FG; ++oc) {
float acc = $bias_s;
$taps_open
const float *x = &in[$in_pixel * $IC + g * $CG];
const float *w = &$kernel[($tap * $IC + g * $CG) * $FG + oc - g * $FG];
for (int ic = 0; ic < $CG; ++ic) acc += x[ic] * w[ic * $FG];
$taps_close
$store
}

//@ scalar_pass
for (int oc = 0; oc < $OC; ++oc) {
$store
}
$post
