-- cnnc.mathfn: ONNX's elementwise math functions (Neg, Abs, Sqrt, Exp, Log, Reciprocal,
-- Floor, Ceil, Round, Sign, Erf, Pow by a constant, the trigonometric and hyperbolic
-- functions, Not, IsNaN, IsInf, ThresholdedRelu, Shrink, Mish, Gelu, and the truncation
-- and nonzero test of casts to integers and booleans) as entries of the
-- activation table (cnnc.activations merges them, all `internal`: not Keras activation
-- strings). Each has its reference definition in double and its float32 C form, so the
-- ONNX importer lowers them to ParamActivation layers that the fuse pass moves into the
-- producing layer like any activation.
--
-- Parameters (ParamActivation's arguments): pow's exponent, ThresholdedRelu's and
-- Shrink's lambd are `alpha`; Shrink's bias is `beta`; IsInf's detect_negative and
-- detect_positive are alpha and beta. Round is half to even (C's nearbyintf in the
-- default rounding mode); Sign, like the others, keeps NaN.

local f = require('cnnc.util').c_float

local M = {}

-- erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)): all terms positive,
-- so no cancellation; about 1e-16 relative. |x| >= 6 is +-1 in double.
local function erf(x)
  if x ~= x then return x end
  local a = math.abs(x)
  if a >= 6 then return x > 0 and 1 or -1 end
  local x2 = a * a
  local term, sum, n = a, a, 0
  while term > sum * 1e-17 do
    n = n + 1
    term = term * 2 * x2 / (2 * n + 1)
    sum = sum + term
  end
  local r = math.min(1, 2 / math.sqrt(math.pi) * math.exp(-x2) * sum)
  return x < 0 and -r or r
end
M.erf = erf

local function log1p(x)
  local u = 1 + x
  if u == 1 then return x end
  return math.log(u) * x / (u - 1)
end

local function round_even(x)
  if x ~= x or x == math.huge or x == -math.huge then return x end
  local r = math.floor(x + 0.5)
  if r - x == 0.5 and r % 2 ~= 0 then r = r - 1 end
  return r
end

local function softplus(x) return math.max(x, 0) + log1p(math.exp(-math.abs(x))) end

local SQRT1_2 = 0.70710678118654752440
local SQRT_2_PI = 0.79788456080286535588

local function fn(ref, c, needs_var)
  return { internal = true, ref = ref, c = c, needs_var = needs_var }
end
local function call(name) return function(x) return string.format('%s(%s)', name, x) end end

M.ops = {
  neg = fn(function(x) return -x end, function(x) return '-' .. x end),
  abs = fn(math.abs, call('fabsf')),
  sqrt = fn(function(x) return x < 0 and 0 / 0 or math.sqrt(x) end, call('sqrtf')),
  exp = fn(math.exp, call('expf')),
  log = fn(function(x) return x < 0 and 0 / 0 or math.log(x) end, call('logf')),
  reciprocal = fn(function(x) return 1 / x end, function(x) return '1.0f / ' .. x end),
  floor = fn(math.floor, call('floorf')),
  ceil = fn(math.ceil, call('ceilf')),
  round = fn(round_even, call('nearbyintf')),
  -- Cast to an integer type: toward zero; to bool: nonzero is 1.
  trunc = fn(function(x) return x < 0 and math.ceil(x) or math.floor(x) end, call('truncf')),
  nonzero = fn(function(x) return x ~= 0 and 1 or 0 end, function(x) return string.format('(%s != 0.0f ? 1.0f : 0.0f)', x) end),
  sign = fn(function(x) return x > 0 and 1 or (x < 0 and -1 or x * 0) end,
    function(x) return string.format('(%s > 0.0f ? 1.0f : (%s < 0.0f ? -1.0f : %s * 0.0f))', x, x, x) end, true),
  erf = fn(erf, call('erff')),
  sin = fn(math.sin, call('sinf')), cos = fn(math.cos, call('cosf')), tan = fn(math.tan, call('tanf')),
  asin = fn(math.asin, call('asinf')), acos = fn(math.acos, call('acosf')), atan = fn(math.atan, call('atanf')),
  sinh = fn(math.sinh, call('sinhf')), cosh = fn(math.cosh, call('coshf')),
  asinh = fn(function(x)
    local a = math.abs(x)
    local r = log1p(a + a * a / (1 + math.sqrt(1 + a * a)))
    return x < 0 and -r or r
  end, call('asinhf')),
  acosh = fn(function(x) return math.log(x + math.sqrt(x * x - 1)) end, call('acoshf')),
  atanh = fn(function(x) return 0.5 * log1p(2 * x / (1 - x)) end, call('atanhf')),
  ['not'] = fn(function(x) return x == 0 and 1 or 0 end, function(x) return string.format('(%s == 0.0f ? 1.0f : 0.0f)', x) end),
  isnan = fn(function(x) return x ~= x and 1 or 0 end,
    function(x) return string.format('(%s != %s ? 1.0f : 0.0f)', x, x) end, true),
  isinf = fn(function(x, p)
    return ((x == math.huge and p.beta ~= 0) or (x == -math.huge and p.alpha ~= 0)) and 1 or 0
  end, function(x, p)
    local t = {}
    if p.beta ~= 0 then t[#t + 1] = x .. ' == INFINITY' end
    if p.alpha ~= 0 then t[#t + 1] = x .. ' == -INFINITY' end
    if #t == 0 then return '0.0f' end
    return string.format('(%s ? 1.0f : 0.0f)', table.concat(t, ' || '))
  end, true),
  thresholded_relu = fn(function(x, p) return x > p.alpha and x or 0 end,
    function(x, p) return string.format('(%s > %s ? %s : 0.0f)', x, f(p.alpha), x) end, true),
  shrink = fn(function(x, p)
    if x < -p.alpha then return x + p.beta end
    if x > p.alpha then return x - p.beta end
    return 0
  end, function(x, p)
    return string.format('(%s < %s ? %s + %s : (%s > %s ? %s - %s : 0.0f))', x, f(-p.alpha), x, f(p.beta), x,
      f(p.alpha), x, f(p.beta))
  end, true),
  mish = fn(function(x) return x * math.tanh(softplus(x)) end, function(x)
    return string.format('%s * tanhf((%s > 0.0f ? %s : 0.0f) + log1pf(expf(-fabsf(%s))))', x, x, x, x)
  end, true),
  gelu = fn(function(x) return 0.5 * x * (1 + erf(x * SQRT1_2)) end,
    function(x) return string.format('0.5f * %s * (1.0f + erff(%s * %s))', x, x, f(SQRT1_2)) end, true),
  gelu_tanh = fn(function(x) return 0.5 * x * (1 + math.tanh(SQRT_2_PI * (x + 0.044715 * x * x * x))) end,
    function(x)
      return string.format('0.5f * %s * (1.0f + tanhf(%s * (%s + 0.044715f * %s * %s * %s)))', x, f(SQRT_2_PI), x, x, x, x)
    end, true),
  -- x ^ alpha; x * x for the square (what powf gives, exactly).
  pow = fn(function(x, p) return x ^ p.alpha end, function(x, p)
    if p.alpha == 1 then return x end
    if p.alpha == 2 then return string.format('%s * %s', x, x) end
    return string.format('powf(%s, %s)', x, f(p.alpha))
  end, true),
}

return M
