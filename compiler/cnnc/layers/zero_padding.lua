-- cnnc.layers.zero_padding: ZeroPadding1D and ZeroPadding2D.
--
-- Adds zero rows/columns around the input. Before a convolution the fuse pass turns it
-- into the convolution's own padding (no copy); standing alone it copies into a zeroed
-- buffer.

local tensor = require 'cnnc.tensor'
local template = require 'cnnc.template'
local util = require 'cnnc.util'

local M = {}

M.kinds = {
  ZeroPadding1D = { rank = 1, args = { { 'padding', 'padding_amounts', default = 1 } } },
  ZeroPadding2D = { rank = 2, args = { { 'padding', 'padding_amounts', default = 1 },
    { 'data_format', 'enum', values = { channels_last = 1 } } } },
}

-- (top, bottom, left, right) with 1-D as height 1.
local function pads(node)
  local p = node.p.padding
  if node.rank == 1 then return 0, 0, p[1][1], p[1][2] end
  return p[1][1], p[1][2], p[2][1], p[2][2]
end

function M.shape(node, in_shape)
  if #in_shape ~= node.rank + 1 then
    util.fail(node, '%s needs a rank-%d input, got shape %s', node.op, node.rank + 1, util.shape_str(in_shape))
  end
  local pt, pb, pl, pr = pads(node)
  if node.rank == 1 then return { in_shape[1] + pl + pr, in_shape[2] } end
  return { in_shape[1] + pt + pb, in_shape[2] + pl + pr, in_shape[3] }
end

function M.describe(node)
  local pt, pb, pl, pr = pads(node)
  if node.rank == 1 then return string.format('pad %d,%d', pl, pr) end
  return string.format('pad t%d b%d l%d r%d', pt, pb, pl, pr)
end

local function dims(node)
  local s, o = node.in_shape, node.shape
  if node.rank == 1 then return 1, s[1], s[2], 1, o[1] end
  return s[1], s[2], s[3], o[1], o[2]
end

-- A new tensor of `shape` (zeros) with x, ih rows of iw x c values, at row pt, column pl
-- of its rows of ow x c (also the backward pass of a cropping).
function M.embed(x, shape, ih, iw, c, ow, pt, pl)
  local y = tensor.new(shape, 'double')
  for yy = 0, ih - 1 do
    for xx = 0, iw - 1 do
      for ch = 0, c - 1 do
        y.data[((yy + pt) * ow + xx + pl) * c + ch] = x.data[(yy * iw + xx) * c + ch]
      end
    end
  end
  return y
end

function M.reference(node, x)
  local ih, iw, c, _, ow = dims(node)
  local pt, _, pl = pads(node)
  return M.embed(x, node.shape, ih, iw, c, ow, pt, pl)
end

-- Backward: the gradient of the padded output, without the padding.
function M.backward(node, _, _, _, dy)
  local dx = tensor.new(node.in_shape, 'double')
  local ih, iw, c, _, ow = dims(node)
  local pt, _, pl = pads(node)
  for yy = 0, ih - 1 do
    for xx = 0, iw - 1 do
      for ch = 0, c - 1 do
        dx.data[(yy * iw + xx) * c + ch] = dy.data[((yy + pt) * ow + xx + pl) * c + ch]
      end
    end
  end
  return dx
end

-- Backward code: the gradient without the padding, row by row.
function M.backward_reads() return {} end

function M.emit_backward(node, E)
  local ih, iw, c, _, ow = dims(node)
  local pt, _, pl = pads(node)
  local fn = E:backward_fn(node, 'input')
  return template.section('backward', 'zero_padding', { fn = fn, IH = ih, ROW = iw * c, PT = pt, OW = ow, PL = pl, C = c,
    comment = util.c_comment(node.name .. ': the input gradient, the output gradient without the padding') }),
    { { fn = fn, args = { 'dx', 'dy' }, input = true } }
end

function M.emit(node, E)
  local ih, iw, c, _, ow = dims(node)
  local pt, _, pl = pads(node)
  return template.section('pooling', 'zero_padding', {
    fn = E:fn(node), comment = E:comment(node), OUT_SIZE = util.prod(node.shape),
    IH = ih, IW = iw, OW = ow, C = c, PT = pt, PL = pl, ROW = iw * c,
  })
end

return M
