-- cnnc.onnx.ops_select: ONNX's operators that pick or repeat positions of computed data:
-- Slice, Gather (constant indices), Split, Expand and Tile as Select layers
-- (cnnc.layers.select) on the value in its memory order; DepthToSpace and SpaceToDepth as
-- a reshape, a transposition and a reshape (one reorder).
--
-- Each picks, per axis, the input positions of the output positions; an axis it leaves
-- alone costs nothing and the trailing untouched axes are copied in blocks. Axes of size
-- 1 that an Expand or Tile stretches join the memory order: before the channels when the
-- value is channels-last, else in ONNX order.

local const = require 'cnnc.onnx.const'
local opargs = require 'cnnc.onnx.opargs'
local ops_shape = require 'cnnc.onnx.ops_shape'
local util = require 'cnnc.util'

local M = {}

-- The memory order of x extended with the ONNX axes in `need` that it leaves out, each
-- placed before the first axis that follows it in ONNX order (the channels of a
-- channels-last value counting as the last axis).
local function order_with(x, need)
  local perm = util.copy(x.perm)
  local has = {}
  for _, a in ipairs(perm) do has[a] = true end
  local channels_last = perm[#perm] == 2
  local function rank_of(a) return (channels_last and a == 2) and math.huge or a end
  for _, a in ipairs(need) do
    if not has[a] then
      local at = #perm + 1
      for i, b in ipairs(perm) do
        if rank_of(b) > rank_of(a) then at = i; break end
      end
      table.insert(perm, at, a)
      has[a] = true
    end
  end
  return perm
end

-- A Select of x: maps[a] (ONNX axis a) lists the input positions of output axis a (nil:
-- unchanged). Returns the value.
local function select(ctx, node, x, maps, suffix)
  local out, mapped, empty = util.copy(x.shape), {}, false
  for a = 1, #x.shape do
    if maps[a] then
      out[a] = #maps[a]
      mapped[#mapped + 1] = a
      if out[a] == 0 then empty = true end
    end
  end
  if #mapped == 0 then return x end
  -- No positions on some axis: an empty tensor, known without the input's values.
  if empty then return { const = require('cnnc.tensor').new(out, 'double'), shape = out, dtype = x.dtype } end
  for _, a in ipairs(mapped) do
    if a == 1 then ctx:mixes_batch(node, 'picks positions along the batch axis') end
  end
  local perm = order_with(x, mapped)
  local name_in = ctx:mem(x, perm, node)
  local item = {}
  for i, a in ipairs(perm) do item[i] = maps[a] or false end
  local name = ctx:layer(node, 'Select', { maps = item }, { inputs = { name_in }, shape = ctx:cshape(out, perm),
    suffix = suffix })
  return ctx:value(name, out, perm, { dtype = x.dtype })
end

function M.Slice(ctx, node)
  local x = ctx:runtime(node, 1)
  local list = opargs.slice(ctx, node, x.shape)
  local maps = {}
  for a, sl in ipairs(list) do
    local start, step, count = sl[1], sl[2], sl[3]
    if not (start == 0 and step == 1 and count == x.shape[a]) then
      local m = {}
      for i = 0, count - 1 do m[i + 1] = start + i * step end
      maps[a] = m
    end
  end
  return { select(ctx, node, x, maps) }
end

function M.Gather(ctx, node)
  local x = ctx:runtime(node, 1)
  local ind = ctx:constant(node, 2, 'the indices')
  local a = opargs.axis(ctx, node, #x.shape, 'axis', 0)
  local n = x.shape[a]
  local m = {}
  for i = 0, ind.n - 1 do
    local v = tonumber(ind.data[i])
    if v ~= math.floor(v) or v < -n or v >= n then ctx:fail(node, 'index %g is outside [%d, %d)', v, -n, n) end
    m[i + 1] = v < 0 and v + n or v
  end
  local y = select(ctx, node, x, { [a] = m })
  if y.const then
    local shape = {}
    for i = 1, a - 1 do shape[#shape + 1] = x.shape[i] end
    for _, d in ipairs(ind.shape) do shape[#shape + 1] = d end
    for i = a + 1, #x.shape do shape[#shape + 1] = x.shape[i] end
    return { { const = require('cnnc.tensor').new(shape, 'double'), shape = shape, dtype = x.dtype } }
  end
  -- The gathered axis becomes the indices' axes (none for a scalar index).
  local shape = {}
  for i = 1, a - 1 do shape[#shape + 1] = x.shape[i] end
  for _, d in ipairs(ind.shape) do shape[#shape + 1] = d end
  for i = a + 1, #x.shape do shape[#shape + 1] = x.shape[i] end
  if #ind.shape == 1 then return { y } end
  if #ind.shape == 0 then return { ops_shape.squeezed(ctx, node, y, { [a] = true }) } end
  local q = #ind.shape
  local perm = {}
  for _, p in ipairs(y.perm) do
    if p == a then for j = 0, q - 1 do perm[#perm + 1] = a + j end
    else perm[#perm + 1] = p < a and p or p + q - 1 end
  end
  return { ctx:value(ctx:view(y.name, ctx:cshape(shape, perm), node), shape, perm, { dtype = y.dtype }) }
end

function M.Split(ctx, node)
  local x = ctx:runtime(node, 1)
  local a, sizes = opargs.split_sizes(ctx, node, x.shape, #node.outputs)
  local outs, first = {}, 0
  for k, n in ipairs(sizes) do
    local m = {}
    for i = 0, n - 1 do m[i + 1] = first + i end
    outs[k] = select(ctx, node, x, { [a] = m }, '_' .. (k - 1))
    first = first + n
  end
  return outs
end

function M.Expand(ctx, node)
  local x = ctx:runtime(node, 1)
  local shape = opargs.required_ints(ctx, node, 2, 'the shape')
  local out = require('cnnc.layers.nd').broadcast(x.shape, shape)
  if not out then ctx:fail(node, 'shape %s does not broadcast with the input %s', util.shape_str(shape), util.shape_str(x.shape)) end
  if #out > #x.shape then
    if ctx.batch then ctx:mixes_batch(node, 'adds axes before the batch axis') end
    x = require('cnnc.onnx.ops_math').extend(ctx, x, #out)
  end
  local maps = {}
  for a = 1, #out do
    if out[a] ~= x.shape[a] then
      local m = {}
      for i = 1, out[a] do m[i] = 0 end
      maps[a] = m
    end
  end
  return { select(ctx, node, x, maps) }
end

function M.Tile(ctx, node)
  local x = ctx:runtime(node, 1)
  local rep = opargs.required_ints(ctx, node, 2, 'the repeats')
  if #rep ~= #x.shape then ctx:fail(node, '%d repeats for an input of rank %d', #rep, #x.shape) end
  local maps = {}
  for a, k in ipairs(rep) do
    if k < 0 then ctx:fail(node, 'repeats must be >= 0') end
    if k ~= 1 then
      local m = {}
      for i = 0, k * x.shape[a] - 1 do m[i + 1] = i % x.shape[a] end
      maps[a] = m
    end
  end
  return { select(ctx, node, x, maps) }
end

-- DepthToSpace (blocksize b; DCR: depth split (b, b, C'), CRD: (C', b, b)) and
-- SpaceToDepth, by ONNX's reshape-transpose-reshape definitions.
function M.DepthToSpace(ctx, node)
  local x = ctx:runtime(node, 1)
  if #x.shape ~= 4 then ctx:fail(node, 'needs an (N, C, H, W) input, got %s', util.shape_str(x.shape)) end
  local b = ctx:attr(node, 'blocksize', nil, 'number')
  local n, c, h, w = unpack(x.shape)
  if not b or b < 1 or c % (b * b) ~= 0 then ctx:fail(node, 'blocksize %s does not divide %d channels into squares', tostring(b), c) end
  local mode = ctx:attr(node, 'mode', 'DCR')
  local t
  if mode == 'DCR' then
    t = ops_shape.reshape_to(ctx, node, x, { n, b, b, c / (b * b), h, w })
    t = ops_shape.transposed(ctx, node, t, { 1, 4, 5, 2, 6, 3 })
  elseif mode == 'CRD' then
    t = ops_shape.reshape_to(ctx, node, x, { n, c / (b * b), b, b, h, w })
    t = ops_shape.transposed(ctx, node, t, { 1, 2, 5, 3, 6, 4 })
  else
    ctx:fail(node, "mode '%s' is not DCR or CRD", mode)
  end
  return { ops_shape.reshape_to(ctx, node, t, { n, c / (b * b), h * b, w * b }) }
end

function M.SpaceToDepth(ctx, node)
  local x = ctx:runtime(node, 1)
  if #x.shape ~= 4 then ctx:fail(node, 'needs an (N, C, H, W) input, got %s', util.shape_str(x.shape)) end
  local b = ctx:attr(node, 'blocksize', nil, 'number')
  local n, c, h, w = unpack(x.shape)
  if not b or b < 1 or h % b ~= 0 or w % b ~= 0 then
    ctx:fail(node, 'blocksize %s does not divide the image %dx%d', tostring(b), h, w)
  end
  local t = ops_shape.reshape_to(ctx, node, x, { n, c, h / b, b, w / b, b })
  t = ops_shape.transposed(ctx, node, t, { 1, 4, 6, 2, 3, 5 })
  return { ops_shape.reshape_to(ctx, node, t, { n, c * b * b, h / b, w / b }) }
end

return M
