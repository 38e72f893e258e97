// Copies of chosen positions (compiler/cnnc/layers/select.lua): loops over the output axes
// that need an index table or an offset, then one copy of the rest ($BLOCK values).

//@ layer
/* $comment */
static void $fn(float *restrict out, const float *restrict in)
{
$tables
$open
memcpy(&out[($dst) * $BLOCK], &in[$src], $BLOCK * sizeof(float));
$close
}

//@ loop
for (int $v = 0; $v < $N; ++$v) {
