// A value known at compile time, copied into the model's output (compiler/cnnc/layers/constant.lua).

//@ constant
/* $comment */
static void $fn(float *restrict out)
{
memcpy(out, $value, $N * sizeof(float));
}
