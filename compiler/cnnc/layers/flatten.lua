-- cnnc.layers.flatten: Flatten, a view: (H, W, C) -> (H*W*C,) in the producer's memory
-- order (HWC for the Lua model language). Costs nothing: no code, no copy.

local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

M.kinds = { Flatten = { rank = 0, args = { { 'data_format', 'enum', values = { channels_last = 1 } } } } }
M.alias = true

function M.shape(_, in_shape) return { util.prod(in_shape) } end

function M.describe() return 'view, no code' end

-- Backward: the same values viewed with the input's shape.
function M.backward(node, _, _, _, dy)
  return setmetatable({ shape = node.in_shape, n = dy.n, data = dy.data, ctype = dy.ctype }, tensor.Tensor)
end

return M
