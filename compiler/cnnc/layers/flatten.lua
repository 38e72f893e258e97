-- cnnc.layers.flatten: Flatten, a view: (H, W, C) -> (H*W*C,) in the producer's memory
-- order (HWC for the Lua model language). Costs nothing: no code, no copy.

local util = require 'cnnc.util'

local M = {}

M.kinds = { Flatten = { rank = 0, args = { { 'data_format', 'enum', values = { channels_last = 1 } } } } }
M.alias = true

function M.shape(_, in_shape) return { util.prod(in_shape) } end

function M.describe() return 'view, no code' end

return M
