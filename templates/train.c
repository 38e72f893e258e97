// A training build's weights (cnnc.emit.train): the writable block of trainable weights,
// the arrays derived from them, and the function that derives them again after an update.

//@ array
/* $comment */
static float $cname[$count] CNNC_ALIGNED = {
$values
};

//@ fold
/* $node: batch norm $origin folded into its kernel and bias, in double, as the fuse pass folds it */
{
double s[$OC], h[$OC];
for (int c = 0; c < $OC; ++c) {
s[c] = $gamma / sqrt((double)$var[c] + $EPS);
const double ms = (double)$mean[c] * s[c];
h[c] = $beta - ms;
$scale[c] = (float)s[c];
}
for (int j = 0; j < $ROWS; ++j) {
for (int c = 0; c < $OC; ++c) $kout[j * $OC + c] = (float)((double)$kin[j * $OC + c] * s[c]);
}
for (int j = 0; j < $BROWS; ++j) {
for (int c = 0; c < $OC; ++c) {
const double b = $bias_in;
$bout[j * $OC + c] = (float)(b + h[c]);
}
}
}

//@ affine
/* batch norm $origin: scale = gamma / sqrt(var + eps) and shift = beta - mean * scale */
for (int c = 0; c < $C; ++c) {
const double s = $gamma / sqrt((double)$var[c] + $EPS);
const double ms = (double)$mean[c] * s;
$scale[c] = (float)s;
$shift[c] = (float)($beta - ms);
}

//@ gather_runs
for (int r = 0; r < $N; ++r) memcpy($name + ${name}_runs[r][0], $src + ${name}_runs[r][1], sizeof(float) * ${name}_runs[r][2]);

//@ gather_index
for (int i = 0; i < $N; ++i) {
if (${name}_index[i] >= 0) $name[i] = $src[${name}_index[i]];
}

//@ refresh
/* After the trainable weights changed (through ${name}_weights()): makes again every array the
 * layers read that is derived from them (folded batch norms, batch-norm scale and shift,
 * kernels packed for the vector registers). Not while a prediction or backward pass runs. */
void ${name}_refresh(void)
{
$body
}

/* The trainable weights: ${UC}_GRAD_WEIGHTS_SIZE floats in the layout of the weight gradients
 * (${UC}_WEIGHT_LIST), which training changes in place; call ${name}_refresh() afterwards. */
float *${name}_weights(void)
{
return ${name}_trainable;
}
