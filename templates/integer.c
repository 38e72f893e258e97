// Integer semantics for float32 values (compiler/cnnc/layers/integer.lua).

//@ wrap
/* $comment */
static void $fn(float *out, const float *in)
{
for (int i = 0; i < $N; ++i) {
float v = in[i];
if (!isfinite(v)) v = 0.0f;
$truncate
v += $SHIFT;
out[i] = v - $MOD * floorf(v * $INV) - $SHIFT;
}
}
