-- cnnc.layers.batch_norm: BatchNormalization in its inference form, on the last axis:
-- gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta (Keras epsilon 1e-3).
--
-- Its work is an affine epilogue step; the fuse pass folds it into a preceding Conv/Dense
-- kernel, or moves the step into the producer's epilogue, or leaves it standing alone.

local activation = require 'cnnc.layers.activation'
local util = require 'cnnc.util'

local M = {}

M.kinds = { BatchNormalization = { rank = 0, args = {
  { 'axis', 'int', default = -1 },
  { 'momentum', 'number', default = 0.99 },
  { 'epsilon', 'number', default = 1e-3 },
  { 'center', 'bool', default = true },
  { 'scale', 'bool', default = true },
  { 'beta_initializer', 'initializer', default = 'zeros' },
  { 'gamma_initializer', 'initializer', default = 'ones' },
  { 'moving_mean_initializer', 'initializer', default = 'zeros' },
  { 'moving_variance_initializer', 'initializer', default = 'ones' },
  { 'beta_regularizer', 'ignored' }, { 'gamma_regularizer', 'ignored' },
  { 'beta_constraint', 'ignored' }, { 'gamma_constraint', 'ignored' },
  { 'gamma', 'values' }, { 'beta', 'values' }, { 'moving_mean', 'values' }, { 'moving_variance', 'values' },
} } }
M.identity = true
M.epilogue = true
M.inplace = true

function M.shape(node, in_shape)
  local axis = node.p.axis
  if axis ~= -1 and axis ~= #in_shape then
    util.fail(node, 'BatchNormalization normalises the last (channel) axis only; axis=%d is not supported', axis)
  end
  if node.p.epsilon <= 0 then util.fail(node, 'epsilon must be > 0, got %g', node.p.epsilon) end
  return util.copy(in_shape)
end

function M.weights(node, in_shape)
  local c, p = in_shape[#in_shape], node.p
  local w = {}
  if p.scale then w[#w + 1] = { name = 'gamma', shape = { c }, init = p.gamma_initializer } end
  if p.center then w[#w + 1] = { name = 'beta', shape = { c }, init = p.beta_initializer } end
  w[#w + 1] = { name = 'moving_mean', shape = { c }, init = p.moving_mean_initializer }
  w[#w + 1] = { name = 'moving_variance', shape = { c }, init = p.moving_variance_initializer }
  return w
end

-- Called by the shape pass through `weights`; the affine step is built once weights exist.
function M.bind(node)
  local W = {}
  for _, w in ipairs(node.weights) do W[w.name] = w.tensor end
  for i = 0, W.moving_variance.n - 1 do
    if W.moving_variance.data[i] < 0 then
      util.fail(node, 'moving_variance[%d] is negative (%g)', i, W.moving_variance.data[i])
    end
  end
  node.epilogue = { { op = 'affine', origin = node.name, gamma = W.gamma, beta = W.beta,
    mean = W.moving_mean, var = W.moving_variance, eps = node.p.epsilon } }
end

function M.describe(node) return string.format('epsilon %g', node.p.epsilon) end

M.reference = activation.reference
M.emit = activation.emit
-- gamma and beta are trained through the affine epilogue step (cnnc.epilogue.backward_ref),
-- wherever the fuse pass moves it, or through the fold record of the layer it was folded
-- into (conv.unfold_channels_last_grads); the moving statistics are not trainable.
M.backward = activation.backward
M.backward_reads, M.emit_backward = activation.backward_reads, activation.emit_backward
M.trainable = {}

return M
