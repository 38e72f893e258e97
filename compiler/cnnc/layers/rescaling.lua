-- cnnc.layers.rescaling: Rescaling, x * scale + offset (Keras's preprocessing layer, e.g.
-- scale = 1/255 for 8-bit pixels). scale and offset are numbers, or lists of one value per
-- channel (the last axis). Its work is an affine epilogue step, like BatchNormalization's,
-- so the fuse pass moves it into the producing layer when there is one.

local activation = require 'cnnc.layers.activation'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

M.kinds = { Rescaling = { rank = 0, args = {
  { 'scale', 'number_or_values', required = true },
  { 'offset', 'number_or_values', default = 0 },
} } }
M.identity = true
M.epilogue = true
M.inplace = true

-- A number or a list of `c` numbers as a tensor of c values.
local function per_channel(node, what, v, c)
  local t = tensor.new({ c })
  if type(v) == 'number' then
    t:fill(v)
  elseif type(v) == 'table' and #v == c then
    for i = 1, c do
      if type(v[i]) ~= 'number' then util.fail(node, '%s[%d] must be a number', what, i) end
      t.data[i - 1] = v[i]
    end
  else
    util.fail(node, '%s must be a number or a list of %d numbers (one per channel), got %s', what, c,
      require('cnnc.args').describe(v))
  end
  local bad = t:find_nonfinite()
  if bad then util.fail(node, '%s holds a non-finite value', what) end
  return t
end

function M.shape(node, in_shape)
  local c = in_shape[#in_shape]
  local zero, one = tensor.new({ c }), tensor.new({ c }):fill(1)
  node.epilogue = { { op = 'affine', origin = node.name, label = 'rescaling', mean = zero, var = one, eps = 0, fixed = true,
    gamma = per_channel(node, 'scale', node.p.scale, c), beta = per_channel(node, 'offset', node.p.offset, c) } }
  return util.copy(in_shape)
end

function M.describe(node)
  local function text(v) return type(v) == 'number' and string.format('%g', v) or 'per channel' end
  return string.format('x * %s + %s', text(node.p.scale), text(node.p.offset))
end

M.reference = activation.reference
M.emit = activation.emit
-- Backward: its affine step's (cnnc.epilogue); scale and offset are arguments, not weights
-- (fixed: no gradients of their own).
M.backward = activation.backward
M.backward_reads = activation.backward_reads
M.emit_backward = activation.emit_backward

return M
