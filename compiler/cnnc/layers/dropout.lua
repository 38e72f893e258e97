-- cnnc.layers.dropout: the layers that are the identity at inference: Dropout,
-- SpatialDropout1D/2D, AlphaDropout, GaussianDropout, GaussianNoise (noise only while
-- training) and ActivityRegularization (a loss term only while training). Each is a view
-- of its input; the fuse pass removes it from the graph. Their arguments are checked as
-- Keras checks them, though inference never uses them.

local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

local function rate_args(extra)
  local t = { { 'rate', 'number', required = true } }
  for _, a in ipairs(extra or {}) do t[#t + 1] = a end
  return { rank = 0, args = t }
end

M.kinds = {
  Dropout = rate_args({ { 'noise_shape', 'shape' }, { 'seed', 'int' } }),
  SpatialDropout1D = rate_args({ { 'seed', 'int' } }),
  SpatialDropout2D = rate_args({ { 'data_format', 'enum', values = { channels_last = 1 } }, { 'seed', 'int' } }),
  AlphaDropout = rate_args({ { 'noise_shape', 'shape' }, { 'seed', 'int' } }),
  GaussianDropout = rate_args({ { 'seed', 'int' } }),
  GaussianNoise = { rank = 0, args = { { 'stddev', 'number', required = true }, { 'seed', 'int' } } },
  ActivityRegularization = { rank = 0, args = { { 'l1', 'number', default = 0 }, { 'l2', 'number', default = 0 } } },
}
M.alias = true
M.inference_identity = true

local SPATIAL_RANK = { SpatialDropout1D = 2, SpatialDropout2D = 3 }

function M.shape(node, in_shape)
  local p = node.p
  if p.rate and (p.rate < 0 or p.rate >= 1) then
    util.fail(node, '%s rate must be in [0, 1), got %g', node.op, p.rate)
  end
  if p.stddev and p.stddev < 0 then util.fail(node, 'GaussianNoise stddev must be >= 0, got %g', p.stddev) end
  if (p.l1 and p.l1 < 0) or (p.l2 and p.l2 < 0) then
    util.fail(node, 'ActivityRegularization l1 and l2 must be >= 0, got %g and %g', p.l1, p.l2)
  end
  local r = SPATIAL_RANK[node.op]
  if r and #in_shape ~= r then
    util.fail(node, '%s needs a rank-%d input, got shape %s', node.op, r, util.shape_str(in_shape))
  end
  return util.copy(in_shape)
end

function M.describe(node)
  local p = node.p
  if p.rate then return string.format('rate %g, identity at inference', p.rate) end
  if p.stddev then return string.format('stddev %g, identity at inference', p.stddev) end
  return string.format('l1 %g, l2 %g, identity at inference', p.l1, p.l2)
end

-- Backward: the same values viewed with the input's shape.
function M.backward(node, _, _, _, dy)
  return setmetatable({ shape = node.in_shape, n = dy.n, data = dy.data, ctype = dy.ctype }, tensor.Tensor)
end

return M
