-- cnnc.layers.global_pooling: GlobalMaxPooling1D/2D and GlobalAveragePooling1D/2D.
-- The maximum or mean of each channel over all positions; output (C,).

local ieee = require 'cnnc.ieee'
local tensor = require 'cnnc.tensor'
local template = require 'cnnc.template'
local util = require 'cnnc.util'

local M = {}

local ARGS = { { 'data_format', 'enum', values = { channels_last = 1 } }, { 'keepdims', 'bool', default = false } }
M.kinds = {
  GlobalMaxPooling1D = { rank = 1, args = ARGS }, GlobalMaxPooling2D = { rank = 2, args = ARGS },
  GlobalAveragePooling1D = { rank = 1, args = ARGS }, GlobalAveragePooling2D = { rank = 2, args = ARGS },
}
M.epilogue = true

local function is_max(node) return node.op:match('^GlobalMax') ~= nil end

function M.shape(node, in_shape)
  if #in_shape ~= node.rank + 1 then
    util.fail(node, '%s needs a rank-%d input, got shape %s', node.op, node.rank + 1, util.shape_str(in_shape))
  end
  local c = in_shape[#in_shape]
  if node.p.keepdims then return node.rank == 1 and { 1, c } or { 1, 1, c } end
  return { c }
end


function M.describe(node) return is_max(node) and 'max over positions' or 'mean over positions' end

function M.reference(node, x)
  local c = node.in_shape[#node.in_shape]
  local pixels = x.n / c
  local y = tensor.new(node.shape, 'double')
  for ch = 0, c - 1 do
    local acc = is_max(node) and -math.huge or 0
    for p = 0, pixels - 1 do
      local v = x.data[p * c + ch]
      if is_max(node) then acc = ieee.max(acc, v) else acc = acc + v end
    end
    y.data[ch] = is_max(node) and acc or acc / pixels
  end
  return y
end

-- Backward (reference, double): the mean spreads dy evenly over the positions; the
-- maximum splits dy evenly among the positions holding it (ties share, as the gradient of
-- Keras's reduce_max and torch.amax; a NaN maximum goes to the NaN positions).
function M.backward(node, x, y, _, dy)
  local c = node.in_shape[#node.in_shape]
  local pixels = x.n / c
  local dx = tensor.new(node.in_shape, 'double')
  for ch = 0, c - 1 do
    local d, m = dy.data[ch], y.data[ch]
    if is_max(node) then
      local function hit(v) return v == m or (v ~= v and m ~= m) end
      local ties = 0
      for p = 0, pixels - 1 do
        if hit(x.data[p * c + ch]) then ties = ties + 1 end
      end
      for p = 0, pixels - 1 do
        if hit(x.data[p * c + ch]) then dx.data[p * c + ch] = d / ties end
      end
    else
      for p = 0, pixels - 1 do dx.data[p * c + ch] = d / pixels end
    end
  end
  return dx
end

-- Backward code: the mean's dy spread evenly; the maximum's shared evenly among the
-- positions holding it, the maximum recomputed from the input as the forward computes it.
function M.backward_reads(node) return { x = is_max(node) } end

function M.emit_backward(node, E)
  local c = node.in_shape[#node.in_shape]
  local pixels = util.prod(node.in_shape) / c
  local fn = E:backward_fn(node, 'input')
  if is_max(node) then
    return template.section('backward', 'global_max', { fn = fn, C = c, PIXELS = pixels,
      comment = util.c_comment(node.name .. ': the input gradient, dy shared among the positions holding the maximum'),
      max = ieee.c_max_into('m[c]', string.format('x[p * %d + c]', c)) }), { { fn = fn, args = { 'dx', 'x', 'dy' },
      input = true } }
  end
  return template.section('backward', 'global_average', { fn = fn, C = c, PIXELS = pixels,
    comment = util.c_comment(node.name .. ': the input gradient, dy spread evenly over the positions') }),
    { { fn = fn, args = { 'dx', 'dy' }, input = true } }
end

-- The mean sums MIN_BLOCKED positions or more in about sqrt(positions) blocks of about
-- sqrt(positions) each, each block from zero, then added to the channel's sum: the rounding
-- error grows with a block's length plus the number of blocks (the least there is at
-- sqrt), rather than with the positions' count (docs/numerics.md). It sets a
-- squeeze-excitation block's gates: RegNetY-128GF's over 56x56 positions in one chain each
-- were 5x further from the double-precision reference than ONNX Runtime's, over 14x14 or
-- 7x7 nearly 2x.
M.MIN_BLOCKED = 16

function M.emit(node, E)
  local c = node.in_shape[#node.in_shape]
  local pixels = util.prod(node.in_shape) / c
  local max = is_max(node)
  if not max and pixels >= M.MIN_BLOCKED then
    local pb = math.ceil(pixels / math.ceil(math.sqrt(pixels)))
    return template.section('pooling', 'global_blocked', {
      fn = E:fn(node), comment = E:comment(node), C = c, PIXELS = pixels, NB = math.ceil(pixels / pb), PB = pb,
      store = E:store(node, 'out[c]', string.format('acc[c] / %d.0f', pixels), 'c'),
      post = E:post(node, 'out', c),
    })
  end
  return template.section('pooling', 'global', {
    fn = E:fn(node), comment = E:comment(node), C = c, PIXELS = pixels,
    start = max and '-INFINITY' or '0.0f',
    combine = max and ieee.c_max_into('acc[c]', 'x[c]') or 'acc[c] += x[c];',
    store = E:store(node, 'out[c]', max and 'acc[c]' or string.format('acc[c] / %d.0f', pixels), 'c'),
    post = E:post(node, 'out', c),
  })
end

return M
