-- cnnc.layers.cropping: Cropping1D and Cropping2D.
--
-- Drops rows and columns at the borders (Keras semantics): Cropping2D's cropping is an int,
-- {rows, cols} (symmetric) or {{top, bottom}, {left, right}}; Cropping1D's an int or
-- {start, end}. U-Nets crop an encoder's feature map to the size of the upsampled one
-- before concatenating them. Channels-last, each kept row is one contiguous run of
-- width x channels values: the C is one memcpy per row.

local template = require 'cnnc.template'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

M.kinds = {
  Cropping1D = { rank = 1, args = { { 'cropping', 'padding_amounts', default = 1 } } },
  Cropping2D = { rank = 2, args = { { 'cropping', 'padding_amounts', default = 0 },
    { 'data_format', 'enum', values = { channels_last = 1 } } } },
}

function M.shape(node, in_shape)
  if #in_shape ~= node.rank + 1 then
    util.fail(node, '%s needs a rank-%d input %s, got shape %s', node.op, node.rank + 1,
      node.rank == 1 and '(steps, channels)' or '(height, width, channels)', util.shape_str(in_shape))
  end
  local out = util.copy(in_shape)
  for i, c in ipairs(node.p.cropping) do
    out[i] = in_shape[i] - c[1] - c[2]
    if out[i] < 1 then
      util.fail(node, 'cropping %d and %d from an axis of %d leaves nothing (input shape %s)', c[1], c[2], in_shape[i],
        util.shape_str(in_shape))
    end
  end
  return out
end

function M.describe(node)
  local t = {}
  for i, c in ipairs(node.p.cropping) do t[i] = string.format('%d,%d', c[1], c[2]) end
  return 'crop ' .. table.concat(t, ' ')
end

-- (rows out, row length out, input row length, first input row, first input column, channels)
local function dims(node)
  local ins, out = node.in_shape, node.shape
  local top = node.rank == 2 and node.p.cropping[1][1] or 0
  local left = node.p.cropping[node.rank][1]
  return node.rank == 2 and out[1] or 1, out[node.rank], ins[node.rank], top, left, ins[#ins]
end

function M.reference(node, x)
  local y = tensor.new(node.shape, 'double')
  local oh, ow, iw, top, left, c = dims(node)
  for oy = 0, oh - 1 do
    for ox = 0, ow - 1 do
      for ch = 0, c - 1 do
        y.data[(oy * ow + ox) * c + ch] = x.data[((oy + top) * iw + ox + left) * c + ch]
      end
    end
  end
  return y
end

-- Backward: the output gradient in place of the kept values, zero where the cropping
-- dropped them.
function M.backward(node, _, _, _, dy)
  local oh, ow, iw, top, left, c = dims(node)
  return require('cnnc.layers.zero_padding').embed(dy, node.in_shape, oh, ow, c, iw, top, left)
end

function M.backward_reads() return {} end

function M.emit_backward(node, E)
  local oh, ow, iw, top, left, c = dims(node)
  local fn = E:backward_fn(node, 'input')
  return template.section('backward', 'cropping', { fn = fn, IN_SIZE = util.prod(node.in_shape), OH = oh, ROW = ow * c,
    IN_ROW = iw * c, OFFSET = (top * iw + left) * c,
    comment = util.c_comment(node.name .. ': the input gradient, the output gradient with zeros where cropped') }),
    { { fn = fn, args = { 'dx', 'dy' }, input = true } }
end

function M.emit(node, E)
  local oh, ow, iw, top, left, c = dims(node)
  return template.section('nd', 'crop', { fn = E:fn(node), comment = E:comment(node), OH = oh, ROW = ow * c,
    IN_ROW = iw * c, OFFSET = (top * iw + left) * c })
end

return M
