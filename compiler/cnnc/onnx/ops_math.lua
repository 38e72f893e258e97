-- cnnc.onnx.ops_math: ONNX's elementwise operators and softmaxes as cnnc layers.
--
-- Activations become Activation/LeakyReLU layers when a Keras activation string means the
-- same function, else ParamActivation (cnnc.layers.unary); both are epilogue steps the
-- fuse pass moves into the producing layer. Add/Sub/Mul/Div/PRelu become the binary
-- layers, with a constant operand stored in the other operand's memory order; on uint8 or
-- int8 tensors an IntegerWrap layer follows, so the result is integer arithmetic's. Softmax and
-- LogSoftmax follow ONNX's axis rules: before opset 13 the axes from `axis` on are one
-- flattened axis; from 13 `axis` is one axis (default -1).

local acts = require 'cnnc.activations'
local const = require 'cnnc.onnx.const'
local nd = require 'cnnc.layers.nd'
local util = require 'cnnc.util'

local M = {}

-- ---------------------------------------------------------------- unary

-- act: {kind = 'Activation'|'LeakyReLU'|'ParamActivation', given = {...}, ref = f(x)}
local function unary(ctx, node, act)
  local x = ctx:runtime(node, 1)
  if x.const then return { { const = const.map(x.const, act.ref) } } end
  local name = ctx:layer(node, act.kind, act.given, { inputs = { x.name }, shape = ctx:cshape(x.shape, x.perm) })
  return { ctx:value(name, x.shape, x.perm) }
end

local function keras(name)
  return function(ctx, node)
    local f = acts.ops[name].ref
    return unary(ctx, node, { kind = 'Activation', given = { activation = name }, ref = function(v) return f(v, {}) end })
  end
end

local function param(name, p)
  local f = acts.ops[name].ref
  return { kind = 'ParamActivation', given = { ['function'] = name, alpha = p.alpha, offset = p.beta, scale = p.gamma,
    min = p.min, max = p.max }, ref = function(v) return f(v, p) end }
end

M.Relu = keras('relu')
M.Sigmoid = keras('sigmoid')
M.Tanh = keras('tanh')
M.Softplus = keras('softplus')
M.Softsign = keras('softsign')

function M.LeakyRelu(ctx, node)
  local alpha = ctx:attr(node, 'alpha', 0.01)
  return unary(ctx, node, { kind = 'LeakyReLU', given = { alpha = alpha },
    ref = function(v) return v > 0 and v or alpha * v end })
end

function M.Elu(ctx, node)
  local alpha = ctx:attr(node, 'alpha', 1.0)
  if alpha == 1 then return keras('elu')(ctx, node) end
  return unary(ctx, node, param('onnx_elu', { alpha = alpha }))
end

function M.Selu(ctx, node)
  return unary(ctx, node, param('onnx_selu', { alpha = ctx:attr(node, 'alpha', 1.67326319217681884765625),
    gamma = ctx:attr(node, 'gamma', 1.05070102214813232421875) }))
end

function M.HardSigmoid(ctx, node)
  local alpha, beta = ctx:attr(node, 'alpha', 0.2), ctx:attr(node, 'beta', 0.5)
  return unary(ctx, node, param('onnx_hard_sigmoid', { alpha = alpha, beta = beta }))
end

function M.HardSwish(ctx, node) return unary(ctx, node, param('hard_swish', {})) end

function M.Celu(ctx, node) return unary(ctx, node, param('celu', { alpha = ctx:attr(node, 'alpha', 1.0) })) end

function M.Clip(ctx, node)
  local lo, hi
  if ctx.opset < 11 then
    lo, hi = ctx:attr(node, 'min'), ctx:attr(node, 'max')
  else
    local a, b = ctx:optional_constant(node, 2, 'min'), ctx:optional_constant(node, 3, 'max')
    if (a and a.n ~= 1) or (b and b.n ~= 1) then ctx:fail(node, 'min and max must be scalars') end
    lo, hi = a and tonumber(a.data[0]), b and tonumber(b.data[0])
  end
  if lo == 0 and not hi then return keras('relu')(ctx, node) end
  return unary(ctx, node, param('clip', { min = lo, max = hi }))
end

-- ---------------------------------------------------------------- binary

local KIND = { Add = 'Add', Sub = 'Subtract', Mul = 'Multiply', Div = 'Divide', PRelu = 'PReLU' }
local FOLD = {
  Add = function(a, b) return a + b end, Subtract = function(a, b) return a - b end,
  Multiply = function(a, b) return a * b end, Divide = function(a, b) return a / b end,
  PReLU = function(x, s) return x < 0 and s * x or x end,
}

-- v seen with `rank` axes (leading axes of size 1 added; only without a batch axis).
function M.extend(ctx, v, rank)
  local d = rank - #v.shape
  if d == 0 then return v end
  local shape, perm = {}, {}
  for i = 1, d do shape[i] = 1 end
  for i, s in ipairs(v.shape) do shape[d + i] = s end
  for i, a in ipairs(v.perm) do perm[i] = a + d end
  return ctx:value(v.name, shape, perm)
end

-- The item axes of shape `out` in the order of `perm`, followed by all others: the order
-- in which to lay out a constant broadcast against a value stored in order `perm`.
local function full_order(perm, rank)
  local q, used = {}, {}
  for _, a in ipairs(perm) do q[#q + 1] = a; used[a] = true end
  for a = 1, rank do if not used[a] then q[#q + 1] = a end end
  return q
end

-- x (computed) op c (constant tensor), c on the left when `first`. Returns the value.
function M.add_constant(ctx, node, kind, x, c, first)
  local out = nd.broadcast(x.shape, c.shape)
  if not out then ctx:fail(node, 'shapes %s and %s do not broadcast', util.shape_str(x.shape), util.shape_str(c.shape)) end
  if kind == 'PReLU' and not util.shape_eq(out, x.shape) then
    ctx:fail(node, 'slope %s does not broadcast to the input %s', util.shape_str(c.shape), util.shape_str(x.shape))
  end
  local r = #out
  local ce = const.reshape(c, (function()
    local s = {}
    for i = 1, r - #c.shape do s[i] = 1 end
    for _, d in ipairs(c.shape) do s[#s + 1] = d end
    return s
  end)())
  if ctx.batch and (#x.shape ~= r or ce.shape[1] ~= 1) then
    ctx:mixes_batch(node, 'combines each item with a different constant (broadcast over the batch axis)')
  end
  local xe = M.extend(ctx, x, r)
  local perm = util.shape_eq(xe.shape, out) and xe.perm or ctx:plain(xe)
  local name_x = ctx:mem(xe, perm, node)
  local cshape = ctx:cshape(ce.shape, perm)
  local ct = const.reshape(const.transpose(ce, full_order(perm, r)), cshape)
  if ct.n == 1 then cshape = { 1 }; ct = const.reshape(ct, cshape) end
  local wname = kind == 'PReLU' and 'alpha' or 'operand'
  local given = { [wname .. '_shape'] = cshape, operand_first = first or nil }
  if kind == 'PReLU' then given.operand_first = nil end
  local name = ctx:layer(node, kind, given, { inputs = { name_x }, weights = { [wname] = ct },
    shape = ctx:cshape(out, perm), suffix = kind == 'Add' and node.op_type == 'Gemm' and '_bias' or nil })
  return ctx:value(name, out, perm)
end

-- The binary layer `kind` (cnnc.layers.binary; default: the node's operator's) of the
-- node's two inputs, computed or constant.
function M.binary(ctx, node, kind)
  kind = kind or KIND[node.op_type]
  local a, b = ctx:runtime(node, 1), ctx:runtime(node, 2)
  if kind == 'PReLU' and b.const and ctx.opset < 7 and #b.const.shape == 1 and b.const.n > 1 and #a.shape >= 2 then
    -- Before opset 7 a slope of C values is per channel (axis 1).
    local s = { b.const.n }
    for i = 3, #a.shape do s[#s + 1] = 1 end
    b = { const = const.reshape(b.const, s), shape = s }
  end
  if a.const and b.const then
    local r = const.binary(a.const, b.const, FOLD[kind])
    if not r then ctx:fail(node, 'shapes %s and %s do not broadcast', util.shape_str(a.const.shape), util.shape_str(b.const.shape)) end
    return { { const = r } }
  end
  if b.const then return { M.add_constant(ctx, node, kind, a, b.const, false) } end
  if a.const then
    if kind == 'PReLU' then ctx:fail(node, 'PRelu of a constant by a computed slope is not supported') end
    return { M.add_constant(ctx, node, kind, b, a.const, true) }
  end
  local out = nd.broadcast(a.shape, b.shape)
  if not out then ctx:fail(node, 'shapes %s and %s do not broadcast', util.shape_str(a.shape), util.shape_str(b.shape)) end
  if kind == 'PReLU' and not util.shape_eq(out, a.shape) then
    ctx:fail(node, 'slope %s does not broadcast to the input %s', util.shape_str(b.shape), util.shape_str(a.shape))
  end
  local r = #out
  if ctx.batch and (#a.shape ~= r or #b.shape ~= r or a.shape[1] ~= b.shape[1]) then
    ctx:mixes_batch(node, 'broadcasts one operand over the batch axis')
  end
  local ae, be = M.extend(ctx, a, r), M.extend(ctx, b, r)
  local perm
  if util.shape_eq(ae.shape, out) then perm = ae.perm
  elseif util.shape_eq(be.shape, out) then perm = be.perm
  else perm = ctx:plain(ae) end
  local na, nb = ctx:mem(ae, perm, node), ctx:mem(be, perm, node)
  local name = ctx:layer(node, kind, {}, { inputs = { na, nb }, shape = ctx:cshape(out, perm) })
  return { ctx:value(name, out, perm) }
end

-- 8-bit integer types: ONNX type -> {bits, signed} (the types cnnc.onnx.importer lets
-- reach integer arithmetic).
local INT8 = { [2] = { 8, false }, [3] = { 8, true } }

-- Add/Sub/Mul/Div of integer tensors: the float32 result, then wrapped (and, for Div,
-- truncated) as integer arithmetic does (cnnc.layers.integer).
local function arithmetic(ctx, node)
  local a = ctx:get(node, 1)
  local t = a and a.dtype
  local int = INT8[t]
  local outs = M.binary(ctx, node)
  if not int then return outs end
  local y = outs[1]
  local p = { bits = int[1], signed = int[2], truncate = node.op_type == 'Div' }
  if y.const then
    local wrap = require('cnnc.layers.integer').wrap
    y.const = const.map(y.const, function(v) return wrap(v, p) end)
  else
    local name = ctx:layer(node, 'IntegerWrap', p, { inputs = { y.name }, shape = ctx:cshape(y.shape, y.perm),
      suffix = '_' .. require('cnnc.onnx.model').type_name(t) })
    y = ctx:value(name, y.shape, y.perm)
  end
  y.dtype = t
  return { y }
end

M.Add, M.Sub, M.Mul, M.Div = arithmetic, arithmetic, arithmetic, arithmetic
function M.PRelu(ctx, node) return M.binary(ctx, node) end

-- ---------------------------------------------------------------- softmax

local function softmax(ctx, node)
  local x = ctx:runtime(node, 1)
  if x.const then ctx:fail(node, 'softmax of a constant is not folded') end
  local log = node.op_type == 'LogSoftmax'
  local r = #x.shape
  local axis = ctx:attr(node, 'axis', ctx.opset < 13 and 1 or -1)
  if axis < 0 then axis = axis + r end
  if axis < 0 or axis >= r then ctx:fail(node, 'axis %d does not exist in %s', axis, util.shape_str(x.shape)) end
  local a = axis + 1
  if a == 1 then ctx:mixes_batch(node, 'normalises over the batch axis') end
  local perm, pos, n
  if ctx.opset < 13 and a < r then
    -- Axes a..r form one axis: they must be the innermost in memory.
    local inner = {}
    for i = a, r do if x.shape[i] ~= 1 then inner[i] = true end end
    local nt = {}
    for _, ax in ipairs(x.perm) do if x.shape[ax] ~= 1 then nt[#nt + 1] = ax end end
    local k = 0
    for _ in pairs(inner) do k = k + 1 end
    local ok = true
    for i = #nt - k + 1, #nt do if not inner[nt[i]] then ok = false end end
    perm = ok and x.perm or ctx:plain(x)
    n = util.prod(x.shape, a, r)
  else
    perm = util.copy(x.perm)
    local found
    for i, ax in ipairs(perm) do if ax == a then found = i end end
    if not found then
      perm[#perm + 1] = a
      found = #perm
    end
    pos = found
    n = x.shape[a]
  end
  local name = ctx:mem(x, perm, node)
  local cs = ctx:cshape(x.shape, perm)
  local y
  if pos and pos < #perm then
    y = ctx:layer(node, log and 'LogSoftmax' or 'Softmax', { axis = pos }, { inputs = { name }, shape = cs })
  else
    local total = util.prod(cs)
    local flat = ctx:view(name, total == n and { n } or { total / n, n }, node)
    local shape = util.copy(ctx.cshapes[flat])
    if log then
      y = ctx:layer(node, 'LogSoftmax', { axis = -1 }, { inputs = { flat }, shape = shape })
    else
      y = ctx:layer(node, 'Activation', { activation = 'softmax' }, { inputs = { flat }, shape = shape })
    end
    y = ctx:view(y, cs, node)
  end
  return { ctx:value(y, x.shape, perm) }
end

M.Softmax, M.LogSoftmax = softmax, softmax

return M
