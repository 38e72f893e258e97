-- cnnc.layers.dropout: Dropout, the identity at inference. A view of its input; the fuse
-- pass removes it from the graph.

local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

M.kinds = { Dropout = { rank = 0, args = {
  { 'rate', 'number', required = true },
  { 'noise_shape', 'shape' },
  { 'seed', 'int' },
} } }
M.alias = true

function M.shape(node, in_shape)
  if node.p.rate < 0 or node.p.rate >= 1 then
    util.fail(node, 'Dropout rate must be in [0, 1), got %g', node.p.rate)
  end
  return util.copy(in_shape)
end

function M.describe(node) return string.format('rate %g, identity at inference', node.p.rate) end

-- Backward: the same values viewed with the input's shape.
function M.backward(node, _, _, _, dy)
  return setmetatable({ shape = node.in_shape, n = dy.n, data = dy.data, ctype = dy.ctype }, tensor.Tensor)
end

return M
