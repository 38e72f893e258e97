-- cnnc.layers.moments: Moments, per-channel statistics of a channels-last tensor over
-- every axis but the last: the mean, the population variance (sum of squared deviations
-- over the count, as ONNX's ReduceVar), or 1 / sqrt(variance + epsilon). The ONNX importer
-- builds BatchNormalization in training mode from them. Two passes (mean, then squared
-- deviations from it), so the variance does not lose precision to cancellation.

local template = require 'cnnc.template'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

M.kinds = { Moments = { rank = 0, args = {
  { 'moment', 'enum', values = { mean = true, variance = true, inv_std = true }, required = true },
  { 'epsilon', 'number', default = 0 },
} } }

function M.shape(node, in_shape)
  if node.p.moment == 'inv_std' and node.p.epsilon < 0 then util.fail(node, 'epsilon must be >= 0') end
  return { in_shape[#in_shape] }
end

function M.describe(node)
  if node.p.moment == 'inv_std' then return string.format('1/sqrt(variance + %g) per channel', node.p.epsilon) end
  return node.p.moment .. ' per channel'
end

function M.reference(node, x)
  local c = node.shape[1]
  local rows = x.n / c
  local y = tensor.new(node.shape, 'double')
  for ch = 0, c - 1 do
    local s = 0
    for r = 0, rows - 1 do s = s + x.data[r * c + ch] end
    local mean = s / rows
    local q = 0
    for r = 0, rows - 1 do q = q + (x.data[r * c + ch] - mean) ^ 2 end
    local var = q / rows
    local v = ({ mean = mean, variance = var, inv_std = 1 / math.sqrt(var + node.p.epsilon) })[node.p.moment]
    y.data[ch] = v
  end
  return y
end

function M.macs(node) return 2 * util.prod(node.in_shape) end

function M.emit(node, E)
  local c = node.shape[1]
  local result = ({ mean = 'mean', variance = 'var',
    inv_std = string.format('1.0f / sqrtf(var + %s)', util.c_float(node.p.epsilon)) })[node.p.moment]
  return template.section('moments', 'moments', { fn = E:fn(node), comment = E:comment(node), C = c,
    ROWS = util.prod(node.in_shape) / c, ROWS_F = util.c_float(util.prod(node.in_shape) / c), result = result })
end

return M
