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

//@ vexp
/* e^x lane by lane. x = n ln2 + r with |r| <= ln2/2 (ln2 in two parts, so n ln2 is exact);
 * e^r by its Taylor polynomial of degree 7 (truncation below 2e-9 relative); 2^n applied
 * as two halves so results down to the denormals are right. x is clamped to [-104, 89],
 * beyond which e^x is 0 or overflows to +Inf as with expf; NaN stays NaN. */
static inline vf cnnc_vf_exp(vf x)
{
const vf xc = vf_min(vf_max(x, vf_set1(-104.0f)), vf_set1(89.0f));
const vf n = vf_round(vf_mul(xc, vf_set1(1.44269504088896341f)));
vf r = vf_fma(n, vf_set1(-0.693145751953125f), xc);
r = vf_fma(n, vf_set1(-1.42860682030941723e-06f), r);
vf p = vf_set1(1.98412698412698413e-04f);
p = vf_fma(p, r, vf_set1(1.38888888888888889e-03f));
p = vf_fma(p, r, vf_set1(8.33333333333333333e-03f));
p = vf_fma(p, r, vf_set1(4.16666666666666667e-02f));
p = vf_fma(p, r, vf_set1(1.66666666666666667e-01f));
p = vf_fma(p, r, vf_set1(0.5f));
p = vf_fma(p, r, vf_set1(1.0f));
p = vf_fma(p, r, vf_set1(1.0f));
const vf h = vf_floor(vf_mul(n, vf_set1(0.5f)));
p = vf_mul(vf_mul(p, vf_pow2i(h)), vf_pow2i(vf_sub(n, h)));
return vf_sel_nan(x, x, p);
}

//@ vtanh
/* tanh lane by lane: for |x| < 0.5 its odd Taylor series to x^15 (truncation below 2e-8
 * relative), else (1 - e^-2|x|) / (1 + e^-2|x|) with the sign of x. */
static inline vf cnnc_vf_tanh(vf x)
{
const vf a = vf_abs(x);
const vf t = cnnc_vf_exp(vf_mul(a, vf_set1(-2.0f)));
vf big = vf_div(vf_sub(vf_set1(1.0f), t), vf_add(vf_set1(1.0f), t));
big = vf_sel_lt(x, vf_zero(), vf_sub(vf_zero(), big), big);
const vf x2 = vf_mul(x, x);
vf s = vf_set1(-1.45583438705131827e-03f);
s = vf_fma(s, x2, vf_set1(3.59212803657248102e-03f));
s = vf_fma(s, x2, vf_set1(-8.86323552990219656e-03f));
s = vf_fma(s, x2, vf_set1(2.18694885361552028e-02f));
s = vf_fma(s, x2, vf_set1(-5.39682539682539683e-02f));
s = vf_fma(s, x2, vf_set1(1.33333333333333333e-01f));
s = vf_fma(s, x2, vf_set1(-3.33333333333333333e-01f));
s = vf_fma(vf_mul(s, x2), x, x);
return vf_sel_lt(a, vf_set1(0.5f), s, big);
}

//@ vlog1p
/* log(1 + y) for y >= 0 lane by lane: 2 atanh(s) with s = y / (2 + y) <= 1/3, by its odd
 * series to s^15 (truncation below 1e-9); no cancellation for small y. */
static inline vf cnnc_vf_log1p_pos(vf y)
{
const vf s = vf_div(y, vf_add(vf_set1(2.0f), y));
const vf s2 = vf_mul(s, s);
vf q = vf_set1(2.0f / 15.0f);
q = vf_fma(q, s2, vf_set1(2.0f / 13.0f));
q = vf_fma(q, s2, vf_set1(2.0f / 11.0f));
q = vf_fma(q, s2, vf_set1(2.0f / 9.0f));
q = vf_fma(q, s2, vf_set1(2.0f / 7.0f));
q = vf_fma(q, s2, vf_set1(2.0f / 5.0f));
q = vf_fma(q, s2, vf_set1(2.0f / 3.0f));
q = vf_fma(q, s2, vf_set1(2.0f));
return vf_mul(q, s);
}

//@ vsoftmax
/* Softmax over n contiguous values, in place, on whole vectors (cnnc_vf_exp) and the rest
 * one by one; subtracting the maximum keeps exp finite. A NaN or +inf anywhere makes the
 * whole row NaN whatever the ISA's max does with NaN (exp(NaN - m) or exp(inf - inf) is
 * NaN, so is the sum): the rules of compiler/cnnc/ieee.lua. */
static void cnnc_softmax(float *x, int n)
{
float t[VF_W];
float m = x[0];
int i = 0;
if (n >= VF_W) {
vf vm = vf_load(x);
for (i = VF_W; i + VF_W <= n; i += VF_W) vm = vf_max(vm, vf_load(x + i));
vf_store(t, vm);
for (int j = 0; j < VF_W; ++j) {
if (t[j] > m || t[j] != t[j]) m = t[j];
}
}
for (; i < n; ++i) {
if (x[i] > m) m = x[i];
}
const vf vmax = vf_set1(m);
vf vs = vf_zero();
for (i = 0; i + VF_W <= n; i += VF_W) {
const vf e = cnnc_vf_exp(vf_sub(vf_load(x + i), vmax));
vf_store(x + i, e);
vs = vf_add(vs, e);
}
vf_store(t, vs);
float s = 0.0f;
for (int j = 0; j < VF_W; ++j) s += t[j];
for (; i < n; ++i) {
x[i] = expf(x[i] - m);
s += x[i];
}
for (i = 0; i < n; ++i) x[i] /= s;
}
