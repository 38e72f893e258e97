// Dense on a SIMD target: outputs across vector registers, the sum over inputs split into
// $C independent accumulator chains (a Dense layer streams its weights once, so the chains
// keep the FMA units busy while the loads arrive). Weights are packed per block of output
// vectors, row after row, so each block reads one sequential stream. With threads, part p
// of N computes the p-th of N runs of consecutive blocks.

//@ block
/* outputs $first..$last */
$if_part{
const float *w = $kernel + $OFFSET;
$acc_init
int i = 0;
for (; i + $C <= $K; i += $C) {
vf xb;
$chain_fmas
w += $CSTEP;
}
for (; i < $K; ++i) {
const vf xb = vf_set1(in[i]);
$tail_fmas
w += $STEP;
}
$reduce
$stores
}

//@ layer
/* $comment */
static void $fn(float *restrict out, const float *restrict in$part_params)
{
$prologue
$blocks
}
