-- cnnc.layers.permute: Permute, a reordering of the axes of one item (Keras semantics:
-- `dims` is a permutation of 1..rank, the batch axis excluded; output axis j is input axis
-- dims[j]). The ONNX importer uses it for the layout changes it cannot avoid (NCHW input
-- to channels-last, channels-last back to an NCHW output, a Flatten that must see CHW
-- order) and for Transposes that change the memory order.

local nd = require 'cnnc.layers.nd'
local template = require 'cnnc.template'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

M.kinds = { Permute = { rank = 0, args = { { 'dims', 'shape', required = true } } } }

function M.shape(node, in_shape)
  local d = node.p.dims
  local seen = {}
  for _, a in ipairs(d) do
    if a > #in_shape or seen[a] then
      util.fail(node, 'dims %s is not a permutation of the %d axes of input %s', util.shape_str(d), #in_shape,
        util.shape_str(in_shape))
    end
    seen[a] = true
  end
  if #d ~= #in_shape then
    util.fail(node, 'dims %s must list each of the %d axes of input %s once', util.shape_str(d), #in_shape,
      util.shape_str(in_shape))
  end
  local out = {}
  for j, a in ipairs(d) do out[j] = in_shape[a] end
  return out
end

function M.describe(node) return 'dims ' .. util.shape_str(node.p.dims) end

-- Output dims and, for each output axis, the input stride it walks.
local function walk(node)
  local s = nd.strides(node.in_shape)
  local src = {}
  for j, a in ipairs(node.p.dims) do src[j] = s[a] end
  return node.shape, src
end

function M.reference(node, x)
  local y = tensor.new(node.shape, 'double')
  local dims, src = walk(node)
  local k = 0
  nd.each(dims, function(idx)
    y.data[k] = x.data[nd.offset(idx, src)]
    k = k + 1
  end)
  return y
end

-- Backward: every value goes back where it came from.
function M.backward(node, _, _, _, dy)
  local dx = tensor.new(node.in_shape, 'double')
  local dims, src = walk(node)
  local k = 0
  nd.each(dims, function(idx)
    dx.data[nd.offset(idx, src)] = dy.data[k]
    k = k + 1
  end)
  return dx
end

-- Backward code: the output's loops, each value of dy written back to its input place.
function M.backward_reads() return {} end

function M.emit_backward(node, E)
  local dims, src = walk(node)
  local d, ls = nd.merge(dims, { nd.strides(dims), src })
  local open, close = nd.c_loops(d)
  local fn = E:backward_fn(node, 'input')
  return template.section('backward', 'permute', { fn = fn, open = open, close = close,
    comment = util.c_comment(node.name .. ': the input gradient, dy permuted back'),
    out_index = nd.c_index(ls[1]), in_index = nd.c_index(ls[2]) }), { { fn = fn, args = { 'dx', 'dy' }, input = true } }
end

function M.emit(node, E)
  local dims, src = walk(node)
  local d, ls = nd.merge(dims, { nd.strides(dims), src })
  local open, close = nd.c_loops(d)
  return template.section('nd', 'permute', {
    fn = E:fn(node), comment = E:comment(node), open = open, close = close,
    out_index = nd.c_index(ls[1]), in_index = nd.c_index(ls[2]),
  })
end

return M
