-- cnnc.onnx.ops_elementwise: ONNX's elementwise operators on computed data beyond the
-- activations of cnnc.onnx.ops_math: the math functions (Neg, Abs, Sqrt, Exp, Log, Erf,
-- Gelu, ..., as ParamActivation layers of cnnc.mathfn), Pow, Mod, Min, Max, Sum and Mean
-- (any number of inputs, broadcast), the comparisons and logic (booleans as 0 and 1),
-- Where, and Cast.
--
-- Pow by a constant scalar is an activation (x * x for the square); by anything else the
-- binary layer. Casts to a float type are the identity on float32 values; to an integer
-- type they truncate toward zero, to bool they test for nonzero. Casts to float16 and
-- bfloat16 would round, which cnnc's float32 model does not do: they are rejected.

local const = require 'cnnc.onnx.const'
local fold_math = require 'cnnc.onnx.fold_math'
local nd = require 'cnnc.layers.nd'
local ops_math = require 'cnnc.onnx.ops_math'
local util = require 'cnnc.util'

local M = {}

-- An activation layer on x; dtype of the result (default x's).
local function activation(ctx, node, x, name, p, dtype)
  local given = { ['function'] = name, alpha = p.alpha, offset = p.beta, scale = p.gamma }
  local out = ctx:layer(node, 'ParamActivation', given, { inputs = { x.name }, shape = ctx:cshape(x.shape, x.perm) })
  return ctx:value(out, x.shape, x.perm, { dtype = dtype or x.dtype })
end

local BOOL_OUT = { Not = true, IsNaN = true, IsInf = true }
for op in pairs(fold_math.UNARY) do
  if not ops_math[op] then
    M[op] = function(ctx, node)
      local x = ctx:runtime(node, 1)
      local name, p = fold_math.unary_act(ctx, node)
      return { activation(ctx, node, x, name, p, BOOL_OUT[op] and 9 or nil) }
    end
  end
end

function M.Pow(ctx, node)
  local x, e = ctx:runtime(node, 1), ctx:runtime(node, 2)
  if not x.const and e.const and e.const.n == 1 and nd.broadcast(x.shape, e.const.shape)
    and util.shape_eq(nd.broadcast(x.shape, e.const.shape), x.shape) then
    return { activation(ctx, node, x, 'pow', { alpha = tonumber(e.const.data[0]) }) }
  end
  return ops_math.binary(ctx, node, 'Pow')
end

function M.Mod(ctx, node)
  if ctx:attr(node, 'fmod', 0) ~= 1 then
    ctx:fail(node, 'Mod with fmod = 0 is defined for integers only; on float32 values ONNX requires fmod = 1')
  end
  return ops_math.binary(ctx, node, 'Mod')
end

local LOGIC = { Equal = 'Equal', Less = 'Less', LessOrEqual = 'LessOrEqual', Greater = 'Greater',
  GreaterOrEqual = 'GreaterOrEqual', And = 'And', Or = 'Or', Xor = 'Xor' }
for op, kind in pairs(LOGIC) do
  M[op] = function(ctx, node)
    local y = ops_math.binary(ctx, node, kind)[1]
    y.dtype = 9
    return { y }
  end
end

-- Min, Max, Sum, Mean of one or more inputs: a chain of binary layers (Mean: the sum times
-- 1 / n).
local VARIADIC = { Min = 'Min', Max = 'Max', Sum = 'Add', Mean = 'Add' }
for op, kind in pairs(VARIADIC) do
  M[op] = function(ctx, node)
    local vals = {}
    for k = 1, #node.inputs do
      local v = ctx:get(node, k)
      if v then vals[#vals + 1] = v end
    end
    if #vals == 0 then ctx:fail(node, 'no inputs') end
    if #vals == 2 and not (vals[1].const and vals[2].const) and node.inputs[3] == nil and op ~= 'Mean' then
      return ops_math.binary(ctx, node, kind)
    end
    local acc = vals[1]
    for k = 2, #vals do
      acc = ctx:apply(node, kind == 'Add' and 'Add' or op, { acc, vals[k] })[1]
    end
    if op == 'Mean' and #vals > 1 then
      acc = ctx:apply(node, 'Mul', { acc, { const = const.scalar(1 / #vals), shape = {}, dtype = 1 } })[1]
    end
    return { acc }
  end
end

function M.Where(ctx, node)
  local vals = { ctx:runtime(node, 1), ctx:runtime(node, 2), ctx:runtime(node, 3) }
  local out = nd.broadcast(vals[1].shape, vals[2].shape)
  out = out and nd.broadcast(out, vals[3].shape)
  if not out then ctx:fail(node, 'the shapes of the inputs do not broadcast') end
  local r = #out
  -- The layout of a computed operand of the output's shape, else ONNX order.
  local lead
  for k = 1, 3 do
    local v = vals[k]
    if not v.const and not lead and util.shape_eq(v.shape, out) then lead = v end
  end
  local ext = {}
  for k = 1, 3 do
    if not vals[k].const then ext[k] = ops_math.extend(ctx, vals[k], r) end
  end
  local perm = lead and lead.perm or ctx:plain({ shape = out })
  if ctx.batch then
    for k = 1, 3 do
      local v = vals[k]
      if #v.shape ~= r or (v.const and v.shape[1] ~= 1) or (not v.const and v.shape[1] ~= out[1]) then
        ctx:mixes_batch(node, 'broadcasts an operand over the batch axis')
      end
    end
  end
  local names = {}
  for k = 1, 3 do
    local v = vals[k]
    if v.const then
      -- A constant operand is a Constant layer in the same layout (its missing axes 1).
      local s = {}
      for i = 1, r - #v.shape do s[i] = 1 end
      for _, d in ipairs(v.shape) do s[#s + 1] = d end
      local ce = const.reshape(v.const, s)
      local order, used = {}, {}
      for _, a in ipairs(perm) do order[#order + 1] = a; used[a] = true end
      for a = 1, r do if not used[a] then order[#order + 1] = a end end
      local cs = ctx:cshape(s, perm)
      names[k] = ctx:layer(node, 'Constant', { value_shape = cs }, { inputs = {},
        weights = { value = const.reshape(const.transpose(ce, order), cs) }, shape = cs,
        suffix = ({ '_condition', '_x', '_y' })[k] })
    else
      names[k] = ctx:mem(ext[k], perm, node)
    end
  end
  local name = ctx:layer(node, 'Where', {}, { inputs = names, shape = ctx:cshape(out, perm) })
  return { ctx:value(name, out, perm, { dtype = vals[2].dtype }) }
end

local FLOAT_TYPES = { [1] = true, [11] = true }
local HALF_TYPES = { [10] = true, [16] = true }

local function cast(ctx, node, x, to)
  if HALF_TYPES[to] then
    ctx:fail(node, 'a cast to %s rounds to fewer bits, which cnnc does not do: it computes float32 throughout',
      require('cnnc.onnx.model').type_name(to))
  end
  if FLOAT_TYPES[to] or (x.dtype ~= 1 and x.dtype ~= 11 and to ~= 9) then
    return ctx:value(x.name, x.shape, x.perm, { dtype = to, rows = x.rows })
  end
  if to == 9 then return activation(ctx, node, x, 'nonzero', {}, 9) end
  if not require('cnnc.onnx.model').TYPES[to] or to == 8 or to == 14 or to == 15 then
    ctx:fail(node, 'cannot cast to %s', require('cnnc.onnx.model').type_name(to))
  end
  return activation(ctx, node, x, 'trunc', {}, to)
end

function M.Cast(ctx, node)
  local to = ctx:attr(node, 'to', nil, 'number')
  if not to then ctx:fail(node, "attribute 'to' is missing") end
  return { cast(ctx, node, ctx:runtime(node, 1), to) }
end

function M.CastLike(ctx, node)
  return { cast(ctx, node, ctx:runtime(node, 1), ctx:runtime(node, 2).dtype or 1) }
end

return M
