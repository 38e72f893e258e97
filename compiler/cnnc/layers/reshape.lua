-- cnnc.layers.reshape: Reshape, a view: the same values in the same memory order under
-- another shape (Keras semantics, the batch axis excluded; one dimension may be -1, taken
-- from the others). No code, no copy.

local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

M.kinds = { Reshape = { rank = 0, args = { { 'target_shape', 'values', required = true } } } }
M.alias = true

function M.shape(node, in_shape)
  local t, n = node.p.target_shape, util.prod(in_shape)
  local out, known, free = {}, 1, nil
  for i, v in ipairs(t) do
    if v == -1 and not free then free = i
    elseif type(v) ~= 'number' or v < 1 or v ~= math.floor(v) then
      util.fail(node, 'target_shape %s must hold positive integers and at most one -1', require('cnnc.args').describe(t))
    else known = known * v end
    out[i] = v
  end
  if free then out[free] = n / known end
  if #out == 0 or util.prod(out) ~= n or (free and out[free] ~= math.floor(out[free])) then
    util.fail(node, 'cannot view input %s (%d values) as %s', util.shape_str(in_shape), n, util.shape_str(t))
  end
  return out
end

function M.describe() return 'view, no code' end

-- Backward: the same values viewed with the input's shape.
function M.backward(node, _, _, _, dy)
  return setmetatable({ shape = node.in_shape, n = dy.n, data = dy.data, ctype = dy.ctype }, tensor.Tensor)
end

return M
