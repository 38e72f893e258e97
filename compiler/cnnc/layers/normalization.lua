-- cnnc.layers.normalization: Normalization, Keras's preprocessing layer:
-- (x - mean) / max(sqrt(variance), 1e-7), or with invert = true mean + x * max(...).
--
-- `axis` lists the axes that keep their own mean and variance (Keras counts the batch axis
-- as 0; -1, the default, is the last axis; {} is Keras's None: one mean and variance for
-- all values). The statistics are either given (`mean`, `variance`: numbers or nested
-- tables broadcast against the kept axes from the right, as Keras does) or the layer's
-- weights, `mean` and `variance`, of the kept axes' shape, as adapt() leaves them (Keras
-- also saves a `count`, which inference does not use). It is lowered onto a Subtract and a
-- Divide by constants (a Multiply and an Add to invert), Keras's own float32 operations.

local nd = require 'cnnc.layers.nd'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

M.kinds = { Normalization = { rank = 0, args = {
  { 'axis', 'axes_or_none', default = -1 },
  { 'mean', 'number_or_values' },
  { 'variance', 'number_or_values' },
  { 'invert', 'bool', default = false },
} } }

M.EPSILON = 1e-7 -- Keras's backend.epsilon()

-- The kept item axes (1-based, sorted) of an input of rank r.
local function kept_axes(node, r)
  local axis = node.p.axis
  if type(axis) == 'number' then axis = { axis } end
  local seen, list = {}, {}
  for _, a in ipairs(axis) do
    local k = type(a) == 'number' and a == math.floor(a) and nd.item_axis(a, r)
    if not k then
      util.fail(node, 'axis %s: every axis must be an integer from 1 to %d or -%d to -1 (axis 0 is the batch)',
        require('cnnc.args').describe(node.p.axis), r, r)
    end
    if not seen[k] then seen[k] = true; list[#list + 1] = k end
  end
  table.sort(list)
  return list
end

-- The statistics' shape (the kept axes' sizes) and the broadcast shape of full rank.
local function shapes(node, in_shape)
  local kept = kept_axes(node, #in_shape)
  local stat, full = {}, {}
  for i = 1, #in_shape do full[i] = 1 end
  for i, a in ipairs(kept) do stat[i] = in_shape[a]; full[a] = in_shape[a] end
  return stat, full, kept
end

-- A given mean or variance (number or nested table) as a tensor of the full broadcast shape.
local function given(node, what, v, in_shape)
  local _, full, kept = shapes(node, in_shape)
  local t = tensor.new(full, 'double')
  if type(v) == 'number' then return t:fill(v) end
  local vshape, err = tensor.nested_shape(v, what)
  if not vshape then util.fail(node, '%s: %s', what, err) end
  if #vshape > #kept then
    util.fail(node, '%s has rank %d, more than the %d kept axes', what, #vshape, #kept)
  end
  -- right-aligned against the kept axes
  local src = {}
  for i = 1, #full do src[i] = 1 end
  for i = 1, #vshape do
    local a = kept[#kept - #vshape + i]
    if vshape[i] ~= full[a] and vshape[i] ~= 1 then
      util.fail(node, '%s of shape %s does not broadcast to the kept axes of input %s', what,
        util.shape_str(vshape), util.shape_str(in_shape))
    end
    src[a] = vshape[i]
  end
  local flat = tensor.from_table(v, vshape, what)
  local st = nd.broadcast_strides(src, full)
  local k = 0
  nd.each(full, function(idx)
    t.data[k] = flat.data[nd.offset(idx, st)]
    k = k + 1
  end)
  return t
end

function M.shape(node, in_shape)
  local p = node.p
  shapes(node, in_shape)
  if (p.mean == nil) ~= (p.variance == nil) then
    util.fail(node, 'Normalization needs both mean and variance, or neither (then they are its weights)')
  end
  return util.copy(in_shape)
end

function M.weights(node, in_shape)
  if node.p.mean ~= nil then return {} end
  local stat = shapes(node, in_shape)
  return {
    { name = 'mean', shape = stat, init = { name = 'zeros', params = {} } },
    { name = 'variance', shape = stat, init = { name = 'ones', params = {} } },
  }
end

-- The float32 mean and standard deviation (max(sqrt(variance), epsilon)) of full rank.
local function stats(node)
  local in_shape = node.in_shape
  local _, full = shapes(node, in_shape)
  local mean, var
  if node.p.mean ~= nil then
    mean, var = given(node, 'mean', node.p.mean, in_shape), given(node, 'variance', node.p.variance, in_shape)
  else
    local W = {}
    for _, w in ipairs(node.weights) do W[w.name] = w.tensor end
    mean, var = W.mean, W.variance
  end
  local m, sd = tensor.new(full), tensor.new(full)
  local eps = tensor.new({ 1 })
  eps.data[0] = M.EPSILON
  for i = 0, m.n - 1 do
    if var.data[i] < 0 then util.fail(node, 'variance[%d] is negative (%g)', i, var.data[i]) end
    m.data[i] = mean.data[i]
    sd.data[i] = math.sqrt(var.data[i])
    if sd.data[i] < eps.data[0] then sd.data[i] = eps.data[0] end
  end
  return m, sd, full
end

function M.bind(node) stats(node) end

function M.describe(node)
  local _, full = shapes(node, node.in_shape)
  local s = node.p.invert and 'mean + x * std' or '(x - mean) / std'
  return string.format('%s, statistics %s', s, util.shape_str(full))
end

function M.reference(node, x)
  local m, sd, full = stats(node)
  local st = nd.broadcast_strides(full, node.shape)
  local y = tensor.new(node.shape, 'double')
  local k = 0
  nd.each(node.shape, function(idx)
    local o = nd.offset(idx, st)
    local v = x.data[k]
    y.data[k] = node.p.invert and m.data[o] + v * sd.data[o] or (v - m.data[o]) / sd.data[o]
    k = k + 1
  end)
  return y
end

-- Backward (reference): dy divided by the standard deviation (times it, inverted); the
-- statistics are not trained, as in Keras.
function M.backward(node, _, _, _, dy)
  local _, sd, full = stats(node)
  local st = nd.broadcast_strides(full, node.shape)
  local dx = tensor.new(node.shape, 'double')
  local k = 0
  nd.each(node.shape, function(idx)
    local s = sd.data[nd.offset(idx, st)]
    dx.data[k] = node.p.invert and dy.data[k] * s or dy.data[k] / s
    k = k + 1
  end)
  return dx
end

function M.lower(node, make)
  local m, sd, full = stats(node)
  local function op(kind, input, t, name)
    -- the statistics are no trainable weights of the parts either (frozen: cnnc.backward)
    return make({ kind = kind, p = { operand_shape = full, operand_first = false }, inputs = { input }, name = name,
      weights = { operand = t }, fields = { frozen = { operand = true } } })
  end
  if node.p.invert then
    op('Add', op('Multiply', node.inputs[1], sd, node.name .. '_scale'), m, node.name)
  else
    op('Divide', op('Subtract', node.inputs[1], m, node.name .. '_center'), sd, node.name)
  end
end

return M
