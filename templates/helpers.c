// Small functions the generated layers call; the emitter includes only those a model uses.

//@ softmax
/* Softmax over n contiguous values, in place; subtracting the maximum keeps expf finite. */
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
