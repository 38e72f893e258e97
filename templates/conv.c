// Bodies for the window skeleton (window.c) of layers that multiply each window by a
// weight matrix: Conv1D/2D (one matrix per window cell) and LocallyConnected (one per
// output position and window cell). Weights are in Keras order, which is the order the
// loops read them: for a cell, rows are input channels and columns output channels.

//@ init
float acc[$OC];
for (int oc = 0; oc < $OC; ++oc) acc[oc] = $bias;

//@ accumulate
const float *x = &in[$in_pixel * $IC];
const float *w = &$kernel[$tap * $ICOC];
for (int ic = 0; ic < $IC; ++ic) {
for (int oc = 0; oc < $OC; ++oc) acc[oc] += x[ic] * w[ic * $OC + oc];
}

//@ accumulate_blocked
/* input channels in $NB blocks of $ICB, each summed from zero, then added to acc */
const float *x = &in[$in_pixel * $IC];
const float *w = &$kernel[$tap * $ICOC];
for (int ic0 = 0; ic0 < $IC; ic0 += $ICB) {
const int ic1 = ic0 + $ICB < $IC ? ic0 + $ICB : $IC;
float part[$OC];
for (int oc = 0; oc < $OC; ++oc) part[oc] = 0.0f;
for (int ic = ic0; ic < ic1; ++ic) {
for (int oc = 0; oc < $OC; ++oc) part[oc] += x[ic] * w[ic * $OC + oc];
}
for (int oc = 0; oc < $OC; ++oc) acc[oc] += part[oc];
}

//@ finalize
float *y = &out[$out_pixel * $OC];
for (int oc = 0; oc < $OC; ++oc) {
$store
}
$post

//@ accumulate_grouped
/* $G groups of $ICG input and $OCG output channels: kernel ($ICG, $OC) per window cell. */
const float *x = &in[$in_pixel * $IC];
const float *w = &$kernel[$tap * $ICGOC];
for (int g = 0; g < $G; ++g) {
for (int ic = 0; ic < $ICG; ++ic) {
const float xv = x[g * $ICG + ic];
for (int oc = g * $OCG; oc < (g + 1) * $OCG; ++oc) acc[oc] += xv * w[ic * $OC + oc];
}
}

//@ accumulate_grouped_blocked
/* $G groups of $ICG input and $OCG output channels: kernel ($ICG, $OC) per window cell; a
 * group's input channels in $NB blocks of $ICB, each summed from zero, then added to acc */
const float *x = &in[$in_pixel * $IC];
const float *w = &$kernel[$tap * $ICGOC];
for (int g = 0; g < $G; ++g) {
for (int ic0 = 0; ic0 < $ICG; ic0 += $ICB) {
const int ic1 = ic0 + $ICB < $ICG ? ic0 + $ICB : $ICG;
float part[$OCG];
for (int oc = 0; oc < $OCG; ++oc) part[oc] = 0.0f;
for (int ic = ic0; ic < ic1; ++ic) {
const float xv = x[g * $ICG + ic];
for (int oc = 0; oc < $OCG; ++oc) part[oc] += xv * w[ic * $OC + g * $OCG + oc];
}
for (int oc = 0; oc < $OCG; ++oc) acc[g * $OCG + oc] += part[oc];
}
}
