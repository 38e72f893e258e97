-- cnnc.ieee: what NaN and the infinities do in cnnc, stated once for the reference
-- interpreter and for the generated C.
--
-- The rules are PyTorch's and ONNX's (README.md, "NaN, infinities and denormals"):
--   * NaN propagates: every layer whose result depends on a NaN value gives NaN there.
--     relu(NaN), clip(NaN), hard_sigmoid(NaN) are NaN; a max-pool window or a global max
--     holding a NaN gives NaN; a softmax row holding a NaN is NaN throughout.
--   * Infinities follow IEEE 754 through each layer's defining formula: relu(-inf) = 0,
--     max(+inf, x) = +inf, inf - inf = NaN, 0 * inf = NaN (so softsign(inf), swish(-inf),
--     hard_swish(-inf) and leaky_relu(-inf) with alpha 0 are NaN, as in PyTorch), and a
--     softmax row holding +inf is NaN (exp(inf - inf)).
-- C's fmaxf/fminf return the other operand when one is NaN, so they must not implement
-- max, min or clamp: use these functions (Lua) and these C forms. x86's max_ps returns
-- its second operand when either is NaN: the vector epilogues (cnnc.epilogue.c_vector)
-- put the operand that may be NaN second. Denormals are the other numeric rule
-- (cnnc.reference, templates/model.c).

local M = {}

-- max and min that propagate NaN from either operand.
function M.max(a, b)
  if a ~= a or b ~= b then return 0 / 0 end
  return a > b and a or b
end

function M.min(a, b)
  if a ~= a or b ~= b then return 0 / 0 end
  return a < b and a or b
end

-- x clamped to [lo, hi] (a nil bound is absent); NaN stays NaN.
function M.clamp(x, lo, hi)
  if lo and x < lo then return lo end
  if hi and x > hi then return hi end
  return x
end

-- C: the statement folding x into the running maximum acc. Once acc is NaN it stays NaN
-- (no x is > NaN), and a NaN x replaces it.
function M.c_max_into(acc, x)
  return string.format('if (%s > %s || %s != %s) %s = %s;', x, acc, x, x, acc, x)
end

-- C: float expression e clamped to [lo, hi] (C float literals or nil for no bound); NaN
-- stays NaN. cnnc_clampf is the helper of templates/helpers.c (the emitter includes it
-- when the C uses it).
M.C_CLAMP = 'cnnc_clampf'
function M.c_clamp(e, lo, hi)
  return string.format('%s(%s, %s, %s)', M.C_CLAMP, e, lo or '-INFINITY', hi or 'INFINITY')
end

-- C: relu of a variable (never of an expression with side effects: x appears twice).
-- `x < 0 ? 0 : x` keeps NaN where `x > 0 ? x : 0` would make it 0.
function M.c_relu(x)
  return string.format('(%s < 0.0f ? 0.0f : %s)', x, x)
end

return M
