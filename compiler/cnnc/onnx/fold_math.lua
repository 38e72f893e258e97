-- cnnc.onnx.fold_math: the constant folder's evaluators for operators that compute
-- (cnnc.onnx.fold says when they run): elementwise unary functions, arithmetic and
-- comparisons with broadcasting, logic, Min/Max/Sum/Mean, Clip, the Reduce* family,
-- ArgMax/ArgMin, CumSum, MatMul, Gemm and Softmax/LogSoftmax.
--
-- Results are computed in double from the inputs' values; fold.value rounds float32
-- results and truncates and wraps integer ones, so int64 shape arithmetic (Div of sizes,
-- Mul by a scale then Cast) gives what integer arithmetic gives.

local acts = require 'cnnc.activations'
local const = require 'cnnc.onnx.const'
local nd = require 'cnnc.layers.nd'
local opargs = require 'cnnc.onnx.opargs'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = { EVAL = {} }
local E = M.EVAL

local fio = require 'cnnc.onnx.fold_io'
local value, input, opt, dtype = fio.value, fio.input, fio.opt, fio.dtype
local function is_int(t) return t ~= 1 and t ~= 10 and t ~= 11 and t ~= 16 end

-- ------------------------------------------------------------------ elementwise

-- Unary operators by their activation in cnnc.activations, and attribute readers for
-- their parameters.
M.UNARY = {
  Neg = 'neg', Abs = 'abs', Sqrt = 'sqrt', Exp = 'exp', Log = 'log', Reciprocal = 'reciprocal', Floor = 'floor',
  Ceil = 'ceil', Round = 'round', Sign = 'sign', Erf = 'erf', Relu = 'relu', Sigmoid = 'sigmoid', Tanh = 'tanh',
  Sin = 'sin', Cos = 'cos', Tan = 'tan', Asin = 'asin', Acos = 'acos', Atan = 'atan', Sinh = 'sinh', Cosh = 'cosh',
  Asinh = 'asinh', Acosh = 'acosh', Atanh = 'atanh', Softplus = 'softplus', Softsign = 'softsign', Not = 'not',
  IsNaN = 'isnan', IsInf = 'isinf', ThresholdedRelu = 'thresholded_relu', Shrink = 'shrink', Mish = 'mish',
  Gelu = 'gelu', HardSwish = 'hard_swish', LeakyRelu = 'leaky_relu', Elu = 'onnx_elu', Selu = 'onnx_selu',
  HardSigmoid = 'onnx_hard_sigmoid', Celu = 'celu',
}

-- The activation name and parameters of a unary ONNX node (also used by ops_math to
-- lower the same nodes on computed data).
function M.unary_act(ctx, node)
  local op = node.op_type
  local a = function(name, d) return ctx:attr(node, name, d) end
  if op == 'ThresholdedRelu' then return 'thresholded_relu', { alpha = a('alpha', 1.0) } end
  if op == 'Shrink' then return 'shrink', { alpha = a('lambd', 0.5), beta = a('bias', 0.0) } end
  if op == 'IsInf' then return 'isinf', { alpha = a('detect_negative', 1), beta = a('detect_positive', 1) } end
  if op == 'LeakyRelu' then return 'leaky_relu', { alpha = a('alpha', 0.01) } end
  if op == 'Elu' then return 'onnx_elu', { alpha = a('alpha', 1.0) } end
  if op == 'Celu' then return 'celu', { alpha = a('alpha', 1.0) } end
  if op == 'Selu' then
    return 'onnx_selu', { alpha = a('alpha', 1.67326319217681884765625), gamma = a('gamma', 1.05070102214813232421875) }
  end
  if op == 'HardSigmoid' then return 'onnx_hard_sigmoid', { alpha = a('alpha', 0.2), beta = a('beta', 0.5) } end
  if op == 'Gelu' then
    local approx = a('approximate', 'none')
    if approx ~= 'none' and approx ~= 'tanh' then ctx:fail(node, "approximate '%s' is not one of none, tanh", approx) end
    return approx == 'tanh' and 'gelu_tanh' or 'gelu', {}
  end
  return M.UNARY[op], {}
end

for op in pairs(M.UNARY) do
  E[op] = function(ctx, node)
    local name, p = M.unary_act(ctx, node)
    local f = acts.ops[name].ref
    local out = ({ Not = 9, IsNaN = 9, IsInf = 9 })[op] or dtype(ctx, node, 1)
    return { value(const.map(input(ctx, node, 1), function(v) return f(v, p) end), out) }
  end
end

local function trunc(v) return v < 0 and math.ceil(v) or math.floor(v) end

-- Binary operators: f(a, b, integer?) and the output type (nil: the first input's).
local BINARY = {
  Add = { function(a, b) return a + b end }, Sub = { function(a, b) return a - b end },
  Mul = { function(a, b) return a * b end },
  Div = { function(a, b, int) return int and trunc(a / b) or a / b end },
  Pow = { function(a, b) return a ^ b end },
  Equal = { function(a, b) return a == b and 1 or 0 end, 9 },
  Less = { function(a, b) return a < b and 1 or 0 end, 9 },
  Greater = { function(a, b) return a > b and 1 or 0 end, 9 },
  LessOrEqual = { function(a, b) return a <= b and 1 or 0 end, 9 },
  GreaterOrEqual = { function(a, b) return a >= b and 1 or 0 end, 9 },
  And = { function(a, b) return (a ~= 0 and b ~= 0) and 1 or 0 end, 9 },
  Or = { function(a, b) return (a ~= 0 or b ~= 0) and 1 or 0 end, 9 },
  Xor = { function(a, b) return ((a ~= 0) ~= (b ~= 0)) and 1 or 0 end, 9 },
  PRelu = { function(x, s) return x < 0 and s * x or x end },
}

local function broadcast_pair(ctx, node, a, b)
  local r = const.binary(a, b, function() return 0 end)
  if not r then ctx:fail(node, 'shapes %s and %s do not broadcast', util.shape_str(a.shape), util.shape_str(b.shape)) end
end

for op, spec in pairs(BINARY) do
  E[op] = function(ctx, node)
    local a, b = input(ctx, node, 1), input(ctx, node, 2)
    broadcast_pair(ctx, node, a, b)
    local int = is_int(dtype(ctx, node, 1))
    return { value(const.binary(a, b, function(x, y) return spec[1](x, y, int) end), spec[2] or dtype(ctx, node, 1)) }
  end
end

function E.Mod(ctx, node)
  local a, b = input(ctx, node, 1), input(ctx, node, 2)
  broadcast_pair(ctx, node, a, b)
  local c_style = ctx:attr(node, 'fmod', 0) == 1
  return { value(const.binary(a, b, function(x, y)
    if c_style then return math.fmod(x, y) end
    if y == 0 then return 0 / 0 end
    return x - math.floor(x / y) * y
  end), dtype(ctx, node, 1)) }
end

-- Min, Max, Sum and Mean of any number of inputs, broadcast.
local VARIADIC = {
  Min = require('cnnc.ieee').min, Max = require('cnnc.ieee').max, Sum = function(a, b) return a + b end,
  Mean = function(a, b) return a + b end,
}
for op, f in pairs(VARIADIC) do
  E[op] = function(ctx, node)
    local acc = input(ctx, node, 1)
    for k = 2, #node.inputs do
      local t = opt(ctx, node, k)
      if t then
        broadcast_pair(ctx, node, acc, t)
        acc = const.binary(acc, t, f)
      end
    end
    if op == 'Mean' then
      local n = #node.inputs
      acc = const.map(acc, function(v) return v / n end)
    end
    return { value(acc, dtype(ctx, node, 1)) }
  end
end

function E.Clip(ctx, node)
  local lo, hi
  if ctx.opset < 11 then lo, hi = ctx:attr(node, 'min'), ctx:attr(node, 'max')
  else
    local a, b = opt(ctx, node, 2), opt(ctx, node, 3)
    lo, hi = a and tonumber(a.data[0]), b and tonumber(b.data[0])
  end
  return { value(const.map(input(ctx, node, 1), function(v)
    return require('cnnc.ieee').clamp(v, lo, hi)
  end), dtype(ctx, node, 1)) }
end

-- ------------------------------------------------------------------ reductions

-- Reduce*: {init, step(acc, v), finish(acc, count)} in double.
M.REDUCE = {
  ReduceSum = { 0, function(a, v) return a + v end },
  ReduceMean = { 0, function(a, v) return a + v end, function(a, n) return a / n end },
  ReduceMax = { -math.huge, require('cnnc.ieee').max },
  ReduceMin = { math.huge, require('cnnc.ieee').min },
  ReduceProd = { 1, function(a, v) return a * v end },
  ReduceL1 = { 0, function(a, v) return a + math.abs(v) end },
  ReduceL2 = { 0, function(a, v) return a + v * v end, function(a) return math.sqrt(a) end },
  ReduceSumSquare = { 0, function(a, v) return a + v * v end },
  ReduceLogSum = { 0, function(a, v) return a + v end, function(a) return math.log(a) end },
  ReduceLogSumExp = { 0, function(a, v) return a + math.exp(v) end, function(a) return math.log(a) end },
}

-- Reduces x (double tensor) over the 1-based axes (set {axis -> true}) with spec; the
-- result keeps every axis (size 1 where reduced).
function M.reduce(x, axes, spec)
  local shape = {}
  for i, d in ipairs(x.shape) do shape[i] = axes[i] and 1 or d end
  local y = tensor.new(shape, 'double')
  local count = x.n / math.max(y.n, 1)
  for i = 0, y.n - 1 do y.data[i] = spec[1] end
  local ost = nd.strides(shape)
  local k = 0
  nd.each(x.shape, function(idx)
    local o = 0
    for i = 1, #idx do if not axes[i] then o = o + idx[i] * ost[i] end end
    y.data[o] = spec[2](y.data[o], x.data[k])
    k = k + 1
  end)
  if spec[3] then
    for i = 0, y.n - 1 do y.data[i] = spec[3](y.data[i], count) end
  end
  return y
end

for op, spec in pairs(M.REDUCE) do
  E[op] = function(ctx, node)
    local x = input(ctx, node, 1)
    local axes, keep = opargs.reduce_axes(ctx, node, #x.shape)
    local set = {}
    for _, a in ipairs(axes) do set[a] = true end
    local y = M.reduce(x, set, spec)
    if not keep then
      local s = {}
      for i, d in ipairs(x.shape) do if not set[i] then s[#s + 1] = d end end
      y = const.reshape(y, s)
    end
    return { value(y, dtype(ctx, node, 1)) }
  end
end

local function arg_reduce(ctx, node, better)
  local x = input(ctx, node, 1)
  local a = opargs.axis(ctx, node, #x.shape, 'axis', 0)
  local keep = ctx:attr(node, 'keepdims', 1) ~= 0
  local last = ctx:attr(node, 'select_last_index', 0) ~= 0
  local shape = util.copy(x.shape)
  shape[a] = 1
  local y = tensor.new(shape, 'double')
  local st = nd.strides(x.shape)
  local k = 0
  nd.each(shape, function(idx)
    local base = nd.offset(idx, st)
    local best, at = nil, 0
    for j = 0, x.shape[a] - 1 do
      local v = tonumber(x.data[base + j * st[a]])
      if best == nil or better(v, best) or (last and v == best) then best, at = v, j end
    end
    y.data[k] = at
    k = k + 1
  end)
  if not keep then table.remove(shape, a); y = const.reshape(y, shape) end
  return { value(y, 7) }
end

function E.ArgMax(ctx, node) return arg_reduce(ctx, node, function(v, b) return v > b end) end
function E.ArgMin(ctx, node) return arg_reduce(ctx, node, function(v, b) return v < b end) end

function E.CumSum(ctx, node)
  local x, ax = input(ctx, node, 1), input(ctx, node, 2)
  local a = opargs.normalize_axes(ctx, node, { tonumber(ax.data[0]) }, #x.shape)[1]
  local excl, rev = ctx:attr(node, 'exclusive', 0) ~= 0, ctx:attr(node, 'reverse', 0) ~= 0
  local y = tensor.new(x.shape, 'double')
  local st = nd.strides(x.shape)
  local n = x.shape[a]
  local lead = util.copy(x.shape)
  lead[a] = 1
  nd.each(lead, function(idx)
    local base = nd.offset(idx, st)
    local s = 0
    for j = 0, n - 1 do
      local jj = rev and (n - 1 - j) or j
      local o = base + jj * st[a]
      if excl then y.data[o] = s; s = s + x.data[o]
      else s = s + x.data[o]; y.data[o] = s end
    end
  end)
  return { value(y, dtype(ctx, node, 1)) }
end

-- ------------------------------------------------------------------ products and softmax

-- a (.., M, K) times b (.., K, N) with broadcast batch axes (1-D operands promoted).
local function matmul(ctx, node, a, b)
  local as, bs = util.copy(a.shape), util.copy(b.shape)
  if #as == 1 then table.insert(as, 1, 1) end
  if #bs == 1 then bs[2] = 1 end
  local m, kk, n = as[#as - 1], as[#as], bs[#bs]
  if bs[#bs - 1] ~= kk then ctx:fail(node, 'cannot multiply %s by %s', util.shape_str(a.shape), util.shape_str(b.shape)) end
  local batch = nd.broadcast({ unpack(as, 1, #as - 2) }, { unpack(bs, 1, #bs - 2) })
  if not batch then ctx:fail(node, 'batch axes of %s and %s do not broadcast', util.shape_str(a.shape), util.shape_str(b.shape)) end
  local ab = const.broadcast_to(const.reshape(a, as), (function() local s = util.copy(batch); s[#s + 1] = m; s[#s + 1] = kk; return s end)())
  local bb = const.broadcast_to(const.reshape(b, bs), (function() local s = util.copy(batch); s[#s + 1] = kk; s[#s + 1] = n; return s end)())
  local out = util.copy(batch)
  out[#out + 1], out[#out + 2] = m, n
  local y = tensor.new(out, 'double')
  for p = 0, util.prod(batch) - 1 do
    for i = 0, m - 1 do
      for j = 0, n - 1 do
        local s = 0
        for q = 0, kk - 1 do s = s + ab.data[(p * m + i) * kk + q] * bb.data[(p * kk + q) * n + j] end
        y.data[(p * m + i) * n + j] = s
      end
    end
  end
  local shape = util.copy(batch)
  if #a.shape > 1 then shape[#shape + 1] = m end
  if #b.shape > 1 then shape[#shape + 1] = n end
  return const.reshape(y, shape)
end

function E.MatMul(ctx, node)
  return { value(matmul(ctx, node, input(ctx, node, 1), input(ctx, node, 2)), dtype(ctx, node, 1)) }
end

function E.Gemm(ctx, node)
  local a, b, c = input(ctx, node, 1), input(ctx, node, 2), opt(ctx, node, 3)
  if ctx:attr(node, 'transA', 0) ~= 0 then a = const.transpose(a, { 2, 1 }) end
  if ctx:attr(node, 'transB', 0) ~= 0 then b = const.transpose(b, { 2, 1 }) end
  local alpha, beta = ctx:attr(node, 'alpha', 1.0), ctx:attr(node, 'beta', 1.0)
  local y = const.map(matmul(ctx, node, a, b), function(v) return alpha * v end)
  if c then
    broadcast_pair(ctx, node, y, c)
    y = const.binary(y, c, function(u, v) return u + beta * v end)
  end
  return { value(y, dtype(ctx, node, 1)) }
end

local function softmax(ctx, node, log)
  local x = input(ctx, node, 1)
  local r = #x.shape
  local a = opargs.axis(ctx, node, r, 'axis', ctx.opset < 13 and 1 or -1)
  -- Before opset 13 the axes from `axis` on are one axis.
  local inner = ctx.opset < 13 and util.prod(x.shape, a, r) or x.shape[a]
  local stride = ctx.opset < 13 and 1 or util.prod(x.shape, a + 1, r)
  local y = tensor.new(x.shape, 'double')
  for base = 0, x.n - 1 do
    if math.floor(base / stride) % inner == 0 then
      local m = -math.huge
      for j = 0, inner - 1 do m = math.max(m, x.data[base + j * stride]) end
      local s = 0
      for j = 0, inner - 1 do s = s + math.exp(x.data[base + j * stride] - m) end
      for j = 0, inner - 1 do
        local v = x.data[base + j * stride] - m
        y.data[base + j * stride] = log and (v - math.log(s)) or math.exp(v) / s
      end
    end
  end
  return { value(y, dtype(ctx, node, 1)) }
end

function E.Softmax(ctx, node) return softmax(ctx, node, false) end
function E.LogSoftmax(ctx, node) return softmax(ctx, node, true) end

return M
