-- cnnc.layers.dense: Dense (fully connected) on a rank-1 input.
--
-- Keras kernel (in, out), bias (out). A Dense after an unflattened tensor is an error here
-- (Keras would apply it to the last axis; in a CNN that is nearly always a missing
-- Flatten, so cnnc asks for one).

local conv = require 'cnnc.layers.conv'
local tensor = require 'cnnc.tensor'
local template = require 'cnnc.template'
local util = require 'cnnc.util'

local M = {}

M.kinds = {
  Dense = { rank = 0, args = {
    { 'units', 'int', min = 1, required = true },
    { 'activation', 'activation' },
    { 'use_bias', 'bool', default = true },
    { 'kernel_initializer', 'initializer', default = 'glorot_uniform' },
    { 'bias_initializer', 'initializer', default = 'zeros' },
    { 'kernel_regularizer', 'ignored' }, { 'bias_regularizer', 'ignored' },
    { 'kernel_constraint', 'ignored' }, { 'bias_constraint', 'ignored' },
    { 'kernel', 'values' },
    { 'bias', 'values' },
  } },
}
M.epilogue = true

function M.shape(node, in_shape)
  if #in_shape ~= 1 then
    util.fail(node, 'Dense needs a flat input but gets shape %s: add nn.Flatten{} (or a global pooling) before it',
      util.shape_str(in_shape))
  end
  return { node.p.units }
end

function M.weights(node, in_shape)
  local p = node.p
  local w = { { name = 'kernel', shape = { in_shape[1], p.units }, init = p.kernel_initializer, layout = 'kernel: (in, units)' } }
  if p.use_bias then w[2] = { name = 'bias', shape = { p.units }, init = p.bias_initializer } end
  return w
end

function M.macs(node) return node.in_shape[1] * node.p.units end

function M.describe(node) return string.format('%d -> %d', node.in_shape[1], node.p.units) end

function M.reference(node, x, W)
  local k_n, n = node.in_shape[1], node.p.units
  local y = tensor.new(node.shape, 'double')
  local k, b = W.kernel.data, W.bias and W.bias.data
  for o = 0, n - 1 do
    local s = b and b[o] or 0
    for i = 0, k_n - 1 do s = s + x.data[i] * k[i * n + o] end
    y.data[o] = s
  end
  return y
end

function M.emit(node, E)
  if E.simd then return require('cnnc.simd.dense').emit(node, E) end
  local n = node.p.units
  return template.section('dense', 'dense', {
    fn = E:fn(node), comment = E:comment(node), N = n, K = node.in_shape[1],
    bias = node.p.use_bias and (E:weight(node, 'bias') .. '[o]') or '0.0f',
    kernel = E:weight(node, 'kernel'),
    store = E:store(node, 'out[o]', 'out[o]', 'o'), post = E:post(node, 'out', n),
  })
end

function M.fold_affine(node, scale, shift)
  conv.fold_channels_last(node, scale, shift, { node.p.units })
end

return M
