-- cnnc.onnx.ops_norm: ONNX's normalisations over parts of an item, onto the
-- LayerNormalization layer (cnnc.layers.layer_norm): LayerNormalization (opset 17: the
-- axes from `axis` on, Scale and B broadcast over them), InstanceNormalization (each
-- channel over the spatial axes, scale and B per channel) and GroupNormalization (opsets
-- 18 and 21: each group of channels over the spatial axes; scale and bias per group at
-- opset 18, per channel from 21).
--
-- The layer normalises any set of axes of its input, so the value keeps its layout: the
-- axes are mapped to positions in the value's memory order, and the scale and bias are
-- laid out in that order too. GroupNormalization views the channels as (group, channel in
-- group), channels-last.

local const = require 'cnnc.onnx.const'
local util = require 'cnnc.util'

local M = {}

-- Positions (1-based) of ONNX axes `axes` in the memory order perm, or nil when one is
-- missing (an axis of size 1 left out of perm).
local function positions(perm, axes)
  local pos = {}
  for i, a in ipairs(perm) do pos[a] = i end
  local r = {}
  for _, a in ipairs(axes) do
    if not pos[a] then return nil end
    r[#r + 1] = pos[a]
  end
  table.sort(r)
  return r
end

-- Constant t broadcast to `shape` (the sizes of ONNX axes `axes`), its axes reordered as
-- they lie in perm (increasing memory position): the layer's gamma or beta.
local function laid_out(t, shape, axes, perm)
  local b = const.broadcast_to(t, shape)
  local pos = {}
  for i, a in ipairs(perm) do pos[a] = i end
  local order = {}
  for i = 1, #axes do order[i] = i end
  table.sort(order, function(i, j) return pos[axes[i]] < pos[axes[j]] end)
  return const.float(const.transpose(b, order))
end

function M.LayerNormalization(ctx, node)
  local x = ctx:runtime(node, 1)
  local r = #x.shape
  local axis = ctx:attr(node, 'axis', -1)
  if axis < 0 then axis = axis + r end
  if axis < 0 or axis >= r then ctx:fail(node, 'axis %d does not exist in %s', axis, util.shape_str(x.shape)) end
  if axis == 0 then ctx:mixes_batch(node, 'normalises over the batch axis') end
  local axes, nshape = {}, {}
  for a = axis + 1, r do axes[#axes + 1] = a; nshape[#nshape + 1] = x.shape[a] end
  local scale = ctx:constant(node, 2, 'Scale')
  local bias = ctx:optional_constant(node, 3, 'B')
  for k, t in ipairs({ scale, bias }) do
    local b = require('cnnc.layers.nd').broadcast(t.shape, nshape)
    if not b or not util.shape_eq(b, nshape) then
      ctx:fail(node, '%s %s does not broadcast to the normalised shape %s', k == 1 and 'Scale' or 'B', util.shape_str(t.shape),
        util.shape_str(nshape))
    end
  end
  local perm = x.perm
  local pos = positions(perm, axes)
  if not pos then
    perm = ctx:plain(x)
    pos = positions(perm, axes)
  end
  local name_in = ctx:mem(x, perm, node)
  local weights = { gamma = laid_out(scale, nshape, axes, perm) }
  if bias then weights.beta = laid_out(bias, nshape, axes, perm) end
  local eps = ctx:attr(node, 'epsilon', 1e-5)
  local name = ctx:layer(node, 'LayerNormalization', { axis = pos, epsilon = eps, center = bias ~= nil },
    { inputs = { name_in }, weights = weights, shape = ctx:cshape(x.shape, perm) })
  local outs = { ctx:value(name, x.shape, perm) }
  -- Mean and InvStdDev: shape X.shape[:axis] with the normalised axes kept as 1.
  local sshape = util.copy(x.shape)
  for _, a in ipairs(axes) do sshape[a] = 1 end
  for k, stat in ipairs({ 'mean', 'inv_std' }) do
    local o = node.outputs[k + 1]
    if o and o ~= '' and ctx.consumers[o] then
      local sname = ctx:layer(node, 'LayerNormalization', { axis = pos, epsilon = eps, center = false, scale = false },
        { inputs = { name_in }, extra = { statistic = stat }, shape = ctx:cshape(sshape, perm), suffix = '_' .. stat })
      outs[k + 1] = ctx:value(sname, sshape, perm)
    end
  end
  return outs
end

function M.InstanceNormalization(ctx, node)
  local x = ctx:runtime(node, 1)
  local r = #x.shape
  if r < 3 then ctx:fail(node, 'needs an input (N, C, spatial...), got %s', util.shape_str(x.shape)) end
  local c = x.shape[2]
  local scale, bias = ctx:constant(node, 2, 'scale'), ctx:constant(node, 3, 'B')
  for k, t in ipairs({ scale, bias }) do
    if t.n ~= c then ctx:fail(node, 'input %d must hold %d values (one per channel)', k + 1, c) end
  end
  local name_in, perm = ctx:per_channel(x, node)
  local spatial = {}
  for a = 3, r do spatial[#spatial + 1] = a end
  local pos = positions(perm, spatial)
  local cpos = positions(perm, { 2 })
  if not pos or not cpos then
    perm = ctx:plain(x)
    name_in = ctx:mem(x, perm, node)
    pos, cpos = positions(perm, spatial), positions(perm, { 2 })
  end
  local name = ctx:layer(node, 'LayerNormalization', { axis = pos, epsilon = ctx:attr(node, 'epsilon', 1e-5) }, {
    inputs = { name_in }, extra = { affine_axes = cpos },
    weights = { gamma = const.float(const.reshape(scale, { c })), beta = const.float(const.reshape(bias, { c })) },
    shape = ctx:cshape(x.shape, perm) })
  return { ctx:value(name, x.shape, perm) }
end

-- Channels (C) viewed as (G, C / G), channels-last: each group normalised over the spatial
-- axes and its channels, then scaled per channel (scale and bias per group at opset 18,
-- repeated over the group's channels; per channel from opset 21).
function M.GroupNormalization(ctx, node)
  local x = ctx:runtime(node, 1)
  local r = #x.shape
  if r < 3 then ctx:fail(node, 'needs an input (N, C, spatial...), got %s', util.shape_str(x.shape)) end
  local c, g = x.shape[2], ctx:attr(node, 'num_groups', nil, 'number')
  if not g or g < 1 or c % g ~= 0 then ctx:fail(node, 'num_groups %s does not divide %d channels', tostring(g), c) end
  local per = ctx.opset >= 21 and c or g
  local scale, bias = ctx:constant(node, 2, 'scale'), ctx:constant(node, 3, 'bias')
  for k, t in ipairs({ scale, bias }) do
    if t.n ~= per then
      ctx:fail(node, 'input %d must hold %d values (one per %s at opset %d)', k + 1, per, per == c and 'channel' or 'group', ctx.opset)
    end
  end
  local function per_channel(t)
    local v = require('cnnc.tensor').new({ g, c / g }, 'float')
    for i = 0, c - 1 do v.data[i] = t.data[per == c and i or math.floor(i / (c / g))] end
    return v
  end
  local name_in, perm = ctx:per_channel(x, node)
  local cs = ctx:cshape(x.shape, perm)
  local grouped = util.copy(cs)
  grouped[#grouped], grouped[#grouped + 1] = g, c / g
  local axes = {}
  for i, a in ipairs(perm) do if a >= 3 then axes[#axes + 1] = i end end
  axes[#axes + 1] = #grouped
  local view = ctx:view(name_in, grouped, node)
  local name = ctx:layer(node, 'LayerNormalization', { axis = axes, epsilon = ctx:attr(node, 'epsilon', 1e-5) }, {
    inputs = { view }, extra = { affine_axes = { #grouped - 1, #grouped } },
    weights = { gamma = per_channel(scale), beta = per_channel(bias) }, shape = grouped })
  return { ctx:value(ctx:view(name, cs, node), x.shape, perm) }
end

return M
