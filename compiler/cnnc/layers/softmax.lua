-- cnnc.layers.softmax: Softmax and LogSoftmax along one axis of an item (Keras semantics:
-- `axis` counts the batch axis as 0, -1 is the last). exp(x - max) / sum and
-- x - max - log(sum): the maximum keeps exp finite. A softmax over the last axis after a
-- layer that takes epilogues is better written as an activation (the fuse pass then runs
-- it in that layer's store loop); the ONNX importer does so.

local ieee = require 'cnnc.ieee'
local nd = require 'cnnc.layers.nd'
local template = require 'cnnc.template'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

local ARGS = { rank = 0, args = { { 'axis', 'int', default = -1 } } }
M.kinds = { Softmax = ARGS, LogSoftmax = ARGS }

function M.shape(node, in_shape)
  local a = nd.item_axis(node.p.axis, #in_shape)
  if not a then util.fail(node, 'axis %d does not exist in input %s', node.p.axis, util.shape_str(in_shape)) end
  node.axis = a
  return util.copy(in_shape)
end

function M.describe(node) return string.format('axis %d', node.p.axis) end

local function dims(node)
  local s, a = node.shape, node.axis
  return util.prod(s, 1, a - 1), s[a], util.prod(s, a + 1)
end

function M.reference(node, x)
  local y = tensor.new(node.shape, 'double')
  local outer, n, inner = dims(node)
  local log = node.op == 'LogSoftmax'
  for o = 0, outer - 1 do
    for i = 0, inner - 1 do
      local base = o * n * inner + i
      local m = -math.huge
      for k = 0, n - 1 do m = ieee.max(m, x.data[base + k * inner]) end
      local s = 0
      for k = 0, n - 1 do s = s + math.exp(x.data[base + k * inner] - m) end
      for k = 0, n - 1 do
        local v = x.data[base + k * inner] - m
        y.data[base + k * inner] = log and v - math.log(s) or math.exp(v) / s
      end
    end
  end
  return y
end

-- Backward along the axis: softmax dx = y (dy - sum(dy y)); log-softmax dx = dy -
-- exp(y) sum(dy).
function M.backward(node, _, y, _, dy)
  local dx = tensor.new(node.in_shape, 'double')
  local outer, n, inner = dims(node)
  local log = node.op == 'LogSoftmax'
  for o = 0, outer - 1 do
    for i = 0, inner - 1 do
      local base = o * n * inner + i
      local s = 0
      for k = 0, n - 1 do
        local j = base + k * inner
        s = s + (log and dy.data[j] or dy.data[j] * y.data[j])
      end
      for k = 0, n - 1 do
        local j = base + k * inner
        dx.data[j] = log and dy.data[j] - math.exp(y.data[j]) * s or y.data[j] * (dy.data[j] - s)
      end
    end
  end
  return dx
end

-- Backward code: the softmax recomputed from the input along the axis (as the scalar
-- forward computes it), then the formulas above with y = exp(x - max) / sum.
function M.backward_reads() return { x = true } end

function M.emit_backward(node, E)
  local outer, n, inner = dims(node)
  local fn = E:backward_fn(node, 'input')
  local y = string.format('(expf(xr[k * %d] - m) / s)', inner)
  local g = string.format('g[k * %d]', inner)
  local log = node.op == 'LogSoftmax'
  return template.section('backward', 'softmax', { fn = fn, OUTER = outer, INNER = inner, ROW = n * inner, N = n,
    comment = util.c_comment(node.name .. (log and ': the input gradient, dy - softmax(x) sum(dy)'
      or ': the input gradient, y (dy - sum(dy y)) with y recomputed from x')),
    term = log and g or (g .. ' * ' .. y), grad = log and (g .. ' - ' .. y .. ' * dot') or (y .. ' * (' .. g .. ' - dot)') }),
    { { fn = fn, args = { 'dx', 'x', 'dy' }, input = true } }
end

function M.emit(node, E)
  local outer, n, inner = dims(node)
  if E.simd and inner == 1 and node.op ~= 'LogSoftmax' then
    -- rows are contiguous: the vector softmax of templates/helpers.c, in place on a copy
    E:need('softmax')
    return template.section('nd', 'softmax_rows', {
      fn = E:fn(node), comment = E:comment(node), OUTER = outer, N = n })
  end
  local finish
  if node.op == 'LogSoftmax' then
    finish = string.format('const float ls = logf(s);\nfor (int k = 0; k < %d; ++k) y[k * %d] = x[k * %d] - m - ls;', n, inner, inner)
  else
    finish = string.format('for (int k = 0; k < %d; ++k) y[k * %d] = expf(x[k * %d] - m) / s;', n, inner, inner)
  end
  return template.section('nd', 'softmax', {
    fn = E:fn(node), comment = E:comment(node), OUTER = outer, INNER = inner, ROW = n * inner, N = n,
    finish = finish,
  })
end

return M
