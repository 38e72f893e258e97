// Small functions the generated layers call; the emitter includes only those a model uses.

//@ clampf
/* x clamped to [lo, hi], NaN kept (fminf/fmaxf would drop it; see compiler/cnnc/ieee.lua). */
static inline float cnnc_clampf(float x, float lo, float hi)
{
return x < lo ? lo : (x > hi ? hi : x);
}

//@ softmax
/* Softmax over n contiguous values, in place; subtracting the maximum keeps expf finite.
 * A NaN anywhere in the row makes the whole row NaN (through m or through s), as does +inf
 * (exp(inf - inf)): the rules of compiler/cnnc/ieee.lua. */
static void cnnc_softmax(float *x, int n)
{
float m = x[0];
for (int i = 1; i < n; ++i) {
if (x[i] > m) m = x[i];
}
float s = 0.0f;
for (int i = 0; i < n; ++i) {
x[i] = expf(x[i] - m);
s += x[i];
}
for (int i = 0; i < n; ++i) x[i] /= s;
}
