-- cnnc.layers.constant: Constant, a value known at compile time that a model outputs (an
-- ONNX graph output that is a constant, such as the mask of an inference Dropout, or the
-- whole of a graph without inputs). It reads no input: its output is its weight `value`
-- (shape `value_shape`), copied out on every prediction.

local template = require 'cnnc.template'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

M.kinds = { Constant = { rank = 0, args = {
  { 'value_shape', 'shape', required = true },
  { 'value', 'values' },
} } }

function M.shape(node)
  if #node.inputs > 0 then util.fail(node, 'Constant takes no input, got %d', #node.inputs) end
  return util.copy(node.p.value_shape)
end

function M.weights(node)
  return { { name = 'value', shape = util.copy(node.p.value_shape), init = 'zeros' } }
end

function M.describe(node) return 'a compile-time value ' .. util.shape_str(node.p.value_shape) end

function M.reference(node, _, W)
  local y = tensor.new(node.shape, 'double')
  for i = 0, y.n - 1 do y.data[i] = W.value.data[i] end
  return y
end

function M.emit(node, E)
  return template.section('constant', 'constant', { fn = E:fn(node), comment = E:comment(node),
    value = E:weight(node, 'value'), N = util.prod(node.shape) })
end

return M
