-- cnnc.activations: elementwise activation functions, as data.
--
-- Each entry gives the reference definition (double precision, Lua) and a function from a
-- C expression to a float32 C expression; the emitter composes these into layer epilogues.
-- `softmax` is the one non-elementwise activation: it works on the last axis and is
-- handled by cnnc.epilogue. Definitions follow tf.keras 2.x (see DESIGN.md); NaN and the
-- infinities follow cnnc.ieee (NaN propagates, never fmaxf/fminf).
--
-- Gradients: `grad(x, y, p)` is the derivative dy/dx at input x with output y, in double
-- (the reference backward pass, cnnc.backward); `grad_from` says what it reads: 'y' (the
-- output alone: the C can recompute it from the stored output), 'x' (the input), or
-- 'none'. At kinks it follows PyTorch (docs/gradients.md): relu'(0) = 0, leaky'(0) =
-- alpha, elu/selu/celu take their x <= 0 branch at 0, a clip (hard_sigmoid, clip) passes
-- the inner slope at its bounds (torch.clamp, TensorFlow's clip_by_value), hard_swish'
-- is -0.5 at -3 and 1.5 at 3 (torch's hardswish_backward). softmax has no elementwise
-- derivative: cnnc.epilogue.backward_ref handles it on the whole channel vector.

local ieee = require 'cnnc.ieee'

local M = {}

local SELU_ALPHA = 1.6732632423543772848170429916717
local SELU_SCALE = 1.0507009873554804934193349852946

local function sigmoid(x) return 1 / (1 + math.exp(-x)) end
local function log1p(x)
  -- log1p without cancellation for small x (LuaJIT has no math.log1p).
  local u = 1 + x
  if u == 1 then return x end
  return math.log(u) * x / (u - 1)
end
local function expm1(x)
  if math.abs(x) < 1e-5 then return x + 0.5 * x * x end
  return math.exp(x) - 1
end

local f = require('cnnc.util').c_float

-- p: the activation's parameters (alpha for leaky_relu / LeakyReLU).
M.ops = {
  linear = {
    ref = function(x) return x end,
    c = function(x) return x end,
    grad = function() return 1 end, grad_from = 'none',
    grad_c = function() return '1.0f' end,
  },
  relu = {
    ref = function(x) return x < 0 and 0 or x end,
    c = ieee.c_relu,
    needs_var = true,
    grad = function(_, y) return y > 0 and 1 or 0 end, grad_from = 'y',
    grad_c = function(_, y) return string.format('(%s > 0.0f ? 1.0f : 0.0f)', y) end,
  },
  sigmoid = {
    ref = sigmoid,
    c = function(x) return string.format('1.0f / (1.0f + expf(-%s))', x) end,
    grad = function(_, y) return y * (1 - y) end, grad_from = 'y',
    grad_c = function(_, y) return string.format('%s * (1.0f - %s)', y, y) end,
  },
  tanh = {
    ref = function(x) return math.tanh(x) end,
    c = function(x) return string.format('tanhf(%s)', x) end,
    grad = function(_, y) return 1 - y * y end, grad_from = 'y',
    grad_c = function(_, y) return string.format('(1.0f - %s * %s)', y, y) end,
  },
  elu = {
    ref = function(x) return x > 0 and x or expm1(x) end,
    c = function(x) return string.format('(%s > 0.0f ? %s : expm1f(%s))', x, x, x) end,
    needs_var = true,
    -- y > 0 exactly when x > 0; below, y = exp(x) - 1
    grad = function(_, y) return y > 0 and 1 or y + 1 end, grad_from = 'y',
    grad_c = function(_, y) return string.format('(%s > 0.0f ? 1.0f : %s + 1.0f)', y, y) end,
  },
  selu = {
    ref = function(x) return SELU_SCALE * (x > 0 and x or SELU_ALPHA * expm1(x)) end,
    c = function(x)
      return string.format('%s * (%s > 0.0f ? %s : %s * expm1f(%s))', f(SELU_SCALE), x, x, f(SELU_ALPHA), x)
    end,
    needs_var = true,
    -- below 0, y = scale * alpha * (exp(x) - 1), so dy/dx = y + scale * alpha
    grad = function(_, y) return y > 0 and SELU_SCALE or y + SELU_SCALE * SELU_ALPHA end, grad_from = 'y',
    grad_c = function(_, y)
      return string.format('(%s > 0.0f ? %s : %s + %s)', y, f(SELU_SCALE), y, f(SELU_SCALE * SELU_ALPHA))
    end,
  },
  softplus = {
    -- max(x, 0) + log1p(exp(-|x|)): no overflow for large |x|.
    ref = function(x) return ieee.max(x, 0) + log1p(math.exp(-math.abs(x))) end,
    c = function(x) return string.format('%s + log1pf(expf(-fabsf(%s)))', ieee.c_clamp(x, '0.0f', nil), x) end,
    needs_var = true,
    -- sigmoid(x) = 1 - exp(-y)
    grad = function(_, y) return -expm1(-y) end, grad_from = 'y',
    grad_c = function(_, y) return string.format('-expm1f(-%s)', y) end,
  },
  softsign = {
    ref = function(x) return x / (1 + math.abs(x)) end,
    c = function(x) return string.format('%s / (1.0f + fabsf(%s))', x, x) end,
    needs_var = true,
    -- 1 / (1 + |x|) = 1 - |y|
    grad = function(_, y) local u = 1 - math.abs(y); return u * u end, grad_from = 'y',
    grad_c = function(_, y) return string.format('(1.0f - fabsf(%s)) * (1.0f - fabsf(%s))', y, y) end,
  },
  hard_sigmoid = {
    ref = function(x) return ieee.clamp(0.2 * x + 0.5, 0, 1) end,
    c = function(x) return ieee.c_clamp(string.format('0.2f * %s + 0.5f', x), '0.0f', '1.0f') end,
    -- the bounds pass the slope (x = -2.5 and 2.5): the input is needed to tell them
    grad = function(x) local u = 0.2 * x + 0.5; return (u >= 0 and u <= 1) and 0.2 or 0 end, grad_from = 'x',
    grad_c = function(x)
      return string.format('(0.2f * %s + 0.5f >= 0.0f && 0.2f * %s + 0.5f <= 1.0f ? 0.2f : 0.0f)', x, x)
    end,
  },
  swish = {
    ref = function(x) return x * sigmoid(x) end,
    c = function(x) return string.format('%s / (1.0f + expf(-%s))', x, x) end,
    needs_var = true,
    -- s + x s (1 - s) = s + y (1 - s)
    grad = function(x, y) local sg = sigmoid(x); return sg + y * (1 - sg) end, grad_from = 'x',
    grad_c = function(x, y)
      return string.format('(1.0f / (1.0f + expf(-%s)) + %s * (1.0f - 1.0f / (1.0f + expf(-%s))))', x, y, x)
    end,
  },
  relu6 = {
    ref = function(x) return ieee.clamp(x, 0, 6) end,
    c = function(x) return ieee.c_clamp(x, '0.0f', '6.0f') end,
    -- torch's hardtanh_backward: 0 at both bounds
    grad = function(x) return (x > 0 and x < 6) and 1 or 0 end, grad_from = 'x',
    grad_c = function(x) return string.format('(%s > 0.0f && %s < 6.0f ? 1.0f : 0.0f)', x, x) end,
  },
  leaky_relu = {
    default_alpha = 0.2,
    ref = function(x, p) return x > 0 and x or p.alpha * x end,
    c = function(x, p) return string.format('(%s > 0.0f ? %s : %s * %s)', x, x, f(p.alpha), x) end,
    needs_var = true,
    -- from x: with a negative alpha the sign of y does not tell the branch
    grad = function(x, _, p) return x > 0 and 1 or p.alpha end, grad_from = 'x',
    -- C: from y when alpha > 0 (y > 0 exactly when x > 0), else from x
    grad_c = function(x, y, p)
      return string.format('(%s > 0.0f ? 1.0f : %s)', p.alpha > 0 and y or x, f(p.alpha))
    end,
    grad_c_from = function(p) return p.alpha > 0 and 'y' or 'x' end,
  },
  softmax = {
    last_axis = true,
  },

  -- ONNX's parametrised forms (p holds the ONNX attributes). `internal`: not a Keras
  -- activation string, so the model language does not accept them.
  onnx_elu = {
    internal = true,
    ref = function(x, p) return x > 0 and x or p.alpha * expm1(x) end,
    c = function(x, p) return string.format('(%s > 0.0f ? %s : %s * expm1f(%s))', x, x, f(p.alpha), x) end,
    needs_var = true,
    grad = function(x, _, p) return x > 0 and 1 or p.alpha * math.exp(x) end, grad_from = 'x',
    grad_c = function(x, _, p) return string.format('(%s > 0.0f ? 1.0f : %s * expf(%s))', x, f(p.alpha), x) end,
  },
  onnx_selu = {
    internal = true,
    ref = function(x, p) return p.gamma * (x > 0 and x or p.alpha * expm1(x)) end,
    c = function(x, p)
      return string.format('%s * (%s > 0.0f ? %s : %s * expm1f(%s))', f(p.gamma), x, x, f(p.alpha), x)
    end,
    needs_var = true,
    grad = function(x, _, p) return x > 0 and p.gamma or p.gamma * p.alpha * math.exp(x) end, grad_from = 'x',
    grad_c = function(x, _, p)
      return string.format('(%s > 0.0f ? %s : %s * expf(%s))', x, f(p.gamma), f(p.gamma * p.alpha), x)
    end,
  },
  onnx_hard_sigmoid = {
    internal = true,
    ref = function(x, p) return ieee.clamp(p.alpha * x + p.beta, 0, 1) end,
    c = function(x, p) return ieee.c_clamp(string.format('%s * %s + %s', f(p.alpha), x, f(p.beta)), '0.0f', '1.0f') end,
    grad = function(x, _, p)
      local u = p.alpha * x + p.beta
      return (u >= 0 and u <= 1) and p.alpha or 0
    end, grad_from = 'x',
    grad_c = function(x, _, p)
      local u = string.format('%s * %s + %s', f(p.alpha), x, f(p.beta))
      return string.format('(%s >= 0.0f && %s <= 1.0f ? %s : 0.0f)', u, u, f(p.alpha))
    end,
  },
  hard_swish = {
    internal = true,
    ref = function(x) return x * ieee.clamp(x / 6 + 0.5, 0, 1) end,
    c = function(x) return string.format('%s * %s', x, ieee.c_clamp(x .. ' / 6.0f + 0.5f', '0.0f', '1.0f')) end,
    needs_var = true,
    grad = function(x)
      if x < -3 then return 0 end
      if x <= 3 then return x / 3 + 0.5 end
      return 1
    end, grad_from = 'x',
    grad_c = function(x)
      return string.format('(%s < -3.0f ? 0.0f : %s <= 3.0f ? %s / 3.0f + 0.5f : 1.0f)', x, x, x)
    end,
  },
  celu = {
    internal = true,
    ref = function(x, p) return ieee.max(0, x) + ieee.min(0, p.alpha * expm1(x / p.alpha)) end,
    c = function(x, p)
      return string.format('%s + %s', ieee.c_clamp(x, '0.0f', nil),
        ieee.c_clamp(string.format('%s * expm1f(%s / %s)', f(p.alpha), x, f(p.alpha)), nil, '0.0f'))
    end,
    needs_var = true,
    grad = function(x, _, p) return x > 0 and 1 or math.exp(x / p.alpha) end, grad_from = 'x',
    grad_c = function(x, _, p) return string.format('(%s > 0.0f ? 1.0f : expf(%s / %s))', x, x, f(p.alpha)) end,
  },
  -- Keras's ReLU layer: x > threshold ? min(x, max) : negative_slope * (x - threshold),
  -- NaN kept (nil max: no bound; with negative_slope 0 the lower part is exactly 0, as in
  -- Keras, which then never multiplies).
  keras_relu = {
    internal = true,
    ref = function(x, p)
      if x ~= x then return x end
      if x > p.threshold then return (p.max and x > p.max) and p.max or x end
      return p.negative_slope ~= 0 and p.negative_slope * (x - p.threshold) or 0
    end,
    c = function(x, p)
      local upper = p.max and string.format('(%s < %s ? %s : %s)', x, f(p.max), x, f(p.max)) or x
      local lower = p.negative_slope ~= 0 and string.format('%s * (%s - %s)', f(p.negative_slope), x, f(p.threshold))
        or string.format('(%s != %s ? %s : 0.0f)', x, x, x)
      return string.format('(%s > %s ? %s : %s)', x, f(p.threshold), upper, lower)
    end,
    needs_var = true,
    grad = function(x, _, p)
      if x > p.threshold then return (p.max and x >= p.max) and 0 or 1 end
      return p.negative_slope
    end, grad_from = 'x',
    grad_c = function(x, _, p)
      local above = p.max and string.format('(%s >= %s ? 0.0f : 1.0f)', x, f(p.max)) or '1.0f'
      return string.format('(%s > %s ? %s : %s)', x, f(p.threshold), above, f(p.negative_slope))
    end,
  },
  -- Bounds that are nil are absent (infinite).
  clip = {
    internal = true,
    ref = function(x, p)
      if p.min and x < p.min then x = p.min end
      if p.max and x > p.max then x = p.max end
      return x
    end,
    c = function(x, p)
      if not p.min and not p.max then return x end
      return ieee.c_clamp(x, p.min and f(p.min), p.max and f(p.max))
    end,
    grad = function(x, _, p)
      if (p.min and x < p.min) or (p.max and x > p.max) then return 0 end
      return 1
    end, grad_from = 'x',
    grad_c = function(x, _, p)
      local out = {}
      if p.min then out[#out + 1] = string.format('%s < %s', x, f(p.min)) end
      if p.max then out[#out + 1] = string.format('%s > %s', x, f(p.max)) end
      if #out == 0 then return '1.0f' end
      return string.format('(%s ? 0.0f : 1.0f)', table.concat(out, ' || '))
    end,
  },
}

-- The helpers of templates/helpers.c an activation's C form calls (cnnc_clampf).
local CLAMPED = { softplus = true, hard_sigmoid = true, onnx_hard_sigmoid = true, hard_swish = true, celu = true,
  relu6 = true }
function M.helpers(name, p)
  if CLAMPED[name] or (name == 'clip' and (p.min or p.max)) then return { 'clampf' } end
  return {}
end

-- ONNX's elementwise math functions (internal ones).
for k, op in pairs(require('cnnc.mathfn').ops) do
  assert(not M.ops[k], 'cnnc: activation ' .. k .. ' defined twice')
  M.ops[k] = op
end

M.names = {}
for k, op in pairs(M.ops) do
  if not op.internal then M.names[#M.names + 1] = k end
end
table.sort(M.names)

-- The parameters an activation string implies (leaky_relu's Keras 3 alpha of 0.2).
function M.params_for(name)
  local op = M.ops[name]
  if op.default_alpha then return { alpha = op.default_alpha } end
  return {}
end

M.log1p, M.expm1 = log1p, expm1

return M
