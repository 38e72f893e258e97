-- cnnc.activations: elementwise activation functions, as data.
--
-- Each entry gives the reference definition (double precision, Lua) and a function from a
-- C expression to a float32 C expression; the emitter composes these into layer epilogues.
-- `softmax` is the one non-elementwise activation: it works on the last axis and is
-- handled by cnnc.epilogue. Definitions follow tf.keras 2.x (see DESIGN.md); NaN and the
-- infinities follow cnnc.ieee (NaN propagates, never fmaxf/fminf).

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
  },
  relu = {
    ref = function(x) return x < 0 and 0 or x end,
    c = ieee.c_relu,
    needs_var = true,
  },
  sigmoid = {
    ref = sigmoid,
    c = function(x) return string.format('1.0f / (1.0f + expf(-%s))', x) end,
  },
  tanh = {
    ref = function(x) return math.tanh(x) end,
    c = function(x) return string.format('tanhf(%s)', x) end,
  },
  elu = {
    ref = function(x) return x > 0 and x or expm1(x) end,
    c = function(x) return string.format('(%s > 0.0f ? %s : expm1f(%s))', x, x, x) end,
    needs_var = true,
  },
  selu = {
    ref = function(x) return SELU_SCALE * (x > 0 and x or SELU_ALPHA * expm1(x)) end,
    c = function(x)
      return string.format('%s * (%s > 0.0f ? %s : %s * expm1f(%s))', f(SELU_SCALE), x, x, f(SELU_ALPHA), x)
    end,
    needs_var = true,
  },
  softplus = {
    -- max(x, 0) + log1p(exp(-|x|)): no overflow for large |x|.
    ref = function(x) return ieee.max(x, 0) + log1p(math.exp(-math.abs(x))) end,
    c = function(x) return string.format('%s + log1pf(expf(-fabsf(%s)))', ieee.c_clamp(x, '0.0f', nil), x) end,
    needs_var = true,
  },
  softsign = {
    ref = function(x) return x / (1 + math.abs(x)) end,
    c = function(x) return string.format('%s / (1.0f + fabsf(%s))', x, x) end,
    needs_var = true,
  },
  hard_sigmoid = {
    ref = function(x) return ieee.clamp(0.2 * x + 0.5, 0, 1) end,
    c = function(x) return ieee.c_clamp(string.format('0.2f * %s + 0.5f', x), '0.0f', '1.0f') end,
  },
  swish = {
    ref = function(x) return x * sigmoid(x) end,
    c = function(x) return string.format('%s / (1.0f + expf(-%s))', x, x) end,
    needs_var = true,
  },
  relu6 = {
    ref = function(x) return ieee.clamp(x, 0, 6) end,
    c = function(x) return ieee.c_clamp(x, '0.0f', '6.0f') end,
  },
  leaky_relu = {
    default_alpha = 0.2,
    ref = function(x, p) return x > 0 and x or p.alpha * x end,
    c = function(x, p) return string.format('(%s > 0.0f ? %s : %s * %s)', x, x, f(p.alpha), x) end,
    needs_var = true,
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
  },
  onnx_selu = {
    internal = true,
    ref = function(x, p) return p.gamma * (x > 0 and x or p.alpha * expm1(x)) end,
    c = function(x, p)
      return string.format('%s * (%s > 0.0f ? %s : %s * expm1f(%s))', f(p.gamma), x, x, f(p.alpha), x)
    end,
    needs_var = true,
  },
  onnx_hard_sigmoid = {
    internal = true,
    ref = function(x, p) return ieee.clamp(p.alpha * x + p.beta, 0, 1) end,
    c = function(x, p) return ieee.c_clamp(string.format('%s * %s + %s', f(p.alpha), x, f(p.beta)), '0.0f', '1.0f') end,
  },
  hard_swish = {
    internal = true,
    ref = function(x) return x * ieee.clamp(x / 6 + 0.5, 0, 1) end,
    c = function(x) return string.format('%s * %s', x, ieee.c_clamp(x .. ' / 6.0f + 0.5f', '0.0f', '1.0f')) end,
    needs_var = true,
  },
  celu = {
    internal = true,
    ref = function(x, p) return ieee.max(0, x) + ieee.min(0, p.alpha * expm1(x / p.alpha)) end,
    c = function(x, p)
      return string.format('%s + %s', ieee.c_clamp(x, '0.0f', nil),
        ieee.c_clamp(string.format('%s * expm1f(%s / %s)', f(p.alpha), x, f(p.alpha)), nil, '0.0f'))
    end,
    needs_var = true,
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
  },
}

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
