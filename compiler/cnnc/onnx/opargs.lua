-- cnnc.onnx.opargs: the operands of ONNX operators whose form changed between opsets,
-- read once here for the constant folder (cnnc.onnx.fold) and the handlers that lower
-- the same operators on computed data.
--
--   axes of Squeeze/Unsqueeze   attribute before opset 13, input 2 from 13
--   axes of ReduceSum           attribute before 13, input 2 from 13; the other Reduce*
--                               operators: attribute before 18, input 2 from 18; from those
--                               opsets noop_with_empty_axes says what no axes mean
--   Split's sizes               attribute `split` before 13, input 2 from 13; from 18 the
--                               attribute num_outputs (equal parts of ceil(n / k), the
--                               last one smaller) when the input is absent
--   Slice's operands            attributes starts/ends/axes before 10, inputs from 10
--                               (with steps); indices clamped as ONNX defines
-- Every reader returns 0-based ONNX values turned into 1-based Lua axes where it says so,
-- and fails naming the node on values that do not fit the input.

local const = require 'cnnc.onnx.const'
local util = require 'cnnc.util'

local M = {}

-- An integer list from constant input k (nil when absent).
function M.ints(ctx, node, k, what)
  local t = ctx:optional_constant(node, k, what)
  if not t then return nil end
  local l = const.to_list(t)
  for _, v in ipairs(l) do
    if v ~= math.floor(v) then ctx:fail(node, '%s must hold integers', what) end
  end
  return l
end

-- A required integer list from constant input k.
function M.required_ints(ctx, node, k, what)
  local l = M.ints(ctx, node, k, what)
  if not l then ctx:fail(node, '%s (input %d) is missing', what, k) end
  return l
end

-- ONNX axes (negative from the end) as sorted-by-position 1-based Lua axes of a rank-r
-- tensor; fails on an axis out of range or repeated.
function M.normalize_axes(ctx, node, axes, r)
  local t, seen = {}, {}
  for i, a in ipairs(axes) do
    local b = a < 0 and a + r or a
    if b < 0 or b >= r or seen[b] then
      ctx:fail(node, 'axes %s do not fit rank %d', util.shape_str(axes), r)
    end
    seen[b] = true
    t[i] = b + 1
  end
  return t
end

-- One axis (attribute `name`, default `default`) of a rank-r tensor, 1-based.
function M.axis(ctx, node, r, name, default)
  local a = ctx:attr(node, name or 'axis', default or 0)
  local b = a < 0 and a + r or a
  if b < 0 or b >= r then ctx:fail(node, '%s %d does not exist in a tensor of rank %d', name or 'axis', a, r) end
  return b + 1
end

-- Squeeze/Unsqueeze axes (raw ONNX values, nil when not given).
function M.squeeze_axes(ctx, node)
  if ctx.opset < 13 then return ctx:attr(node, 'axes') end
  return M.ints(ctx, node, 2, 'the axes')
end

-- The axes a Reduce* node reduces (1-based, in increasing order) of a rank-r input, and
-- keepdims. With noop_with_empty_axes and no axes the list is empty: each value is
-- reduced alone (ReduceSumSquare squares it, ReduceL1 takes its magnitude, ...).
function M.reduce_axes(ctx, node, r)
  local as_input = ctx.opset >= 18 or (node.op_type == 'ReduceSum' and ctx.opset >= 13)
  local axes
  if as_input then axes = M.ints(ctx, node, 2, 'the axes')
  else axes = ctx:attr(node, 'axes') end
  local keep = ctx:attr(node, 'keepdims', 1) ~= 0
  if not axes or #axes == 0 then
    if as_input and ctx:attr(node, 'noop_with_empty_axes', 0) ~= 0 then return {}, keep end
    axes = {}
    for a = 0, r - 1 do axes[#axes + 1] = a end
  end
  local t = M.normalize_axes(ctx, node, axes, r)
  table.sort(t)
  return t, keep
end

-- Split: 1-based axis and the size of every part along it, for an input of `shape` and
-- `count` outputs.
function M.split_sizes(ctx, node, shape, count)
  local a = M.axis(ctx, node, #shape, 'axis', 0)
  local n = shape[a]
  local sizes
  if ctx.opset < 13 then sizes = ctx:attr(node, 'split')
  else sizes = M.ints(ctx, node, 2, 'the split sizes') end
  if not sizes then
    local parts = count
    if ctx.opset >= 18 then
      parts = ctx:attr(node, 'num_outputs')
      if not parts then ctx:fail(node, 'neither the split sizes (input 2) nor num_outputs is given') end
      if parts ~= count then ctx:fail(node, 'num_outputs = %d but the node has %d outputs', parts, count) end
    end
    if parts < 1 or parts > n then ctx:fail(node, 'cannot split %d values into %d parts', n, parts) end
    sizes = {}
    if ctx.opset >= 18 then
      local chunk = math.ceil(n / parts)
      for i = 1, parts do sizes[i] = math.max(0, math.min(chunk, n - (i - 1) * chunk)) end
    else
      if n % parts ~= 0 then ctx:fail(node, 'cannot split %d values into %d equal parts', n, parts) end
      for i = 1, parts do sizes[i] = n / parts end
    end
  end
  local sum = 0
  for _, s in ipairs(sizes) do
    if s < 0 then ctx:fail(node, 'split sizes %s hold a negative size', util.shape_str(sizes)) end
    sum = sum + s
  end
  if sum ~= n then ctx:fail(node, 'split sizes %s do not add up to %d (axis %d of %s)', util.shape_str(sizes), n, a - 1,
    util.shape_str(shape)) end
  if #sizes ~= count then ctx:fail(node, '%d split sizes for %d outputs', #sizes, count) end
  return a, sizes
end

-- Slice: for each axis of `shape` (1-based) {start, step, count} with ONNX's clamping:
-- negative starts and ends count from the end; a positive step clamps to [0, n], a
-- negative one to [0, n - 1] (start) and [-1, n - 1] (end).
function M.slice(ctx, node, shape)
  local r = #shape
  local starts, ends, axes, steps
  if ctx.opset < 10 then
    starts, ends, axes = ctx:attr(node, 'starts'), ctx:attr(node, 'ends'), ctx:attr(node, 'axes')
  else
    starts, ends = M.ints(ctx, node, 2, 'the starts'), M.ints(ctx, node, 3, 'the ends')
    axes, steps = M.ints(ctx, node, 4, 'the axes'), M.ints(ctx, node, 5, 'the steps')
  end
  if not starts or not ends then ctx:fail(node, 'starts and ends are required') end
  if #starts ~= #ends or (axes and #axes ~= #starts) or (steps and #steps ~= #starts) then
    ctx:fail(node, 'starts, ends, axes and steps differ in length')
  end
  if not axes then
    axes = {}
    for i = 1, #starts do axes[i] = i - 1 end
  end
  local list = {}
  for a = 1, r do list[a] = { 0, 1, shape[a] } end
  local lax = M.normalize_axes(ctx, node, axes, r)
  for i, a in ipairs(lax) do
    local n, step = shape[a], steps and steps[i] or 1
    if step == 0 then ctx:fail(node, 'a step of 0') end
    local s, e = starts[i], ends[i]
    if s < 0 then s = s + n end
    if e < 0 then e = e + n end
    if step > 0 then
      s, e = math.max(0, math.min(n, s)), math.max(0, math.min(n, e))
    else
      s, e = math.max(0, math.min(n - 1, s)), math.max(-1, math.min(n - 1, e))
    end
    local count = math.max(0, math.ceil((e - s) / step))
    list[a] = { s, step, count }
  end
  return list
end

-- Reshape's output shape for an input of `shape` and target `target` (0 copies the
-- input's axis unless allowzero, -1 takes what is left). `empty_ok`: a 0 may make an
-- empty tensor (constants only).
function M.reshape_shape(ctx, node, shape, target, empty_ok)
  if not target then ctx:fail(node, 'the target shape is missing') end
  local allowzero = ctx:attr(node, 'allowzero', 0) == 1
  local n = util.prod(shape)
  local out, known, free = {}, 1, nil
  for i, d in ipairs(target) do
    if d == 0 and not allowzero then
      d = shape[i]
      if not d then
        ctx:fail(node, 'shape %s copies axis %d, which the input %s lacks', util.shape_str(target), i - 1, util.shape_str(shape))
      end
    end
    if d == -1 then
      if free then ctx:fail(node, 'shape %s has more than one -1', util.shape_str(target)) end
      free = i
    elseif d < 0 or (d == 0 and not empty_ok) then
      ctx:fail(node, 'shape %s would make an empty tensor', util.shape_str(target))
    else
      known = known * d
    end
    out[i] = d
  end
  if free then out[free] = known > 0 and n / known or 0 end
  if util.prod(out) ~= n or (free and out[free] ~= math.floor(out[free])) then
    ctx:fail(node, 'cannot reshape %s (%d values) to %s', util.shape_str(shape), n, util.shape_str(target))
  end
  return out
end

-- Pad: {pads = {before..., after...} for every axis of a rank-r input, mode, value}.
-- Before opset 11 pads (or paddings) and value are attributes; from 11 inputs 2 and 3;
-- from 18 an optional input 4 names the axes the pads are for.
function M.pad(ctx, node, r)
  local mode = ctx:attr(node, 'mode', 'constant')
  local pads, value
  if ctx.opset < 11 then
    pads = ctx:attr(node, 'pads') or ctx:attr(node, 'paddings')
    value = ctx:attr(node, 'value', 0)
  else
    pads = M.ints(ctx, node, 2, 'the pads')
    local v = ctx:optional_constant(node, 3, 'the constant value')
    value = v and v.n > 0 and tonumber(v.data[0]) or 0
    local axes = M.ints(ctx, node, 4, 'the axes')
    if axes and pads then
      if #pads ~= 2 * #axes then ctx:fail(node, 'pads must hold %d values for %d axes', 2 * #axes, #axes) end
      local full = {}
      for i = 1, 2 * r do full[i] = 0 end
      for i, a in ipairs(M.normalize_axes(ctx, node, axes, r)) do
        full[a], full[a + r] = pads[i], pads[i + #axes]
      end
      pads = full
    end
  end
  if not pads or #pads ~= 2 * r then ctx:fail(node, 'pads must hold %d values for rank %d', 2 * r, r) end
  if mode ~= 'constant' and mode ~= 'edge' and mode ~= 'reflect' and mode ~= 'wrap' then
    ctx:fail(node, "mode '%s' is not one of constant, edge, reflect, wrap", mode)
  end
  return { pads = pads, mode = mode, value = value }
end

return M
