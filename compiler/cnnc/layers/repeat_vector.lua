-- cnnc.layers.repeat_vector: RepeatVector, a vector (features,) repeated n times into
-- (n, features) (Keras semantics; the input must be rank 1). In C, n copies.

local tensor = require 'cnnc.tensor'
local template = require 'cnnc.template'
local util = require 'cnnc.util'

local M = {}

M.kinds = { RepeatVector = { rank = 0, args = { { 'n', 'int', min = 1, required = true } } } }

function M.shape(node, in_shape)
  if #in_shape ~= 1 then
    util.fail(node, 'RepeatVector needs a flat input (features,), got shape %s', util.shape_str(in_shape))
  end
  return { node.p.n, in_shape[1] }
end

function M.describe(node) return string.format('%d copies', node.p.n) end

function M.reference(node, x)
  local y = tensor.new(node.shape, 'double')
  local f = x.n
  for r = 0, node.p.n - 1 do
    for i = 0, f - 1 do y.data[r * f + i] = x.data[i] end
  end
  return y
end

-- Backward: each feature's gradient is the sum of its copies' gradients.
function M.backward(node, _, _, _, dy)
  local f = node.in_shape[1]
  local dx = tensor.new(node.in_shape, 'double')
  for r = 0, node.p.n - 1 do
    for i = 0, f - 1 do dx.data[i] = dx.data[i] + dy.data[r * f + i] end
  end
  return dx
end

function M.backward_reads() return {} end

function M.emit_backward(node, E)
  local fn = E:backward_fn(node, 'input')
  return template.section('backward', 'repeat', { fn = fn, N = node.p.n, F = node.in_shape[1],
    comment = util.c_comment(node.name .. ': the input gradient, the sum of its copies\' gradients') }),
    { { fn = fn, args = { 'dx', 'dy' }, input = true } }
end

function M.emit(node, E)
  return template.section('nd', 'repeat', { fn = E:fn(node), comment = E:comment(node), N = node.p.n,
    F = node.in_shape[1] })
end

return M
