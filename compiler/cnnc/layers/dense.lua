-- cnnc.layers.dense: Dense (fully connected) on a rank-1 input.
--
-- Keras kernel (in, out), bias (out). A Dense after an unflattened tensor is an error here
-- (in a CNN that is nearly always a missing Flatten, so cnnc asks for one) unless
-- last_axis = true (what the Keras importer sets): then, as in Keras, it applies to the
-- last axis of every position, which is a 1x1 convolution, and cnnc.passes.lower makes it
-- one (Conv1D or Conv2D; higher ranks through a view of shape (positions, in)).

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
    { 'last_axis', 'bool', default = false },
    { 'kernel', 'values' },
    { 'bias', 'values' },
  } },
}
M.epilogue = true
M.kernels = { 'dense' }

function M.shape(node, in_shape)
  if #in_shape ~= 1 and not node.p.last_axis then
    util.fail(node, 'Dense needs a flat input but gets shape %s: add nn.Flatten{} (or a global pooling) before it, or '
      .. 'give last_axis = true to apply it to the last axis, as Keras does', util.shape_str(in_shape))
  end
  local out = util.copy(in_shape)
  out[#out] = node.p.units
  return out
end

local function fan_in(node) return node.in_shape[#node.in_shape] end

function M.weights(node, in_shape)
  local p = node.p
  local w = { { name = 'kernel', shape = { in_shape[#in_shape], p.units }, init = p.kernel_initializer,
    layout = 'kernel: (in, units)' } }
  if p.use_bias then w[2] = { name = 'bias', shape = { p.units }, init = p.bias_initializer } end
  return w
end

function M.macs(node) return util.prod(node.in_shape) * node.p.units end

function M.describe(node)
  local rows = util.prod(node.in_shape) / fan_in(node)
  return string.format('%d -> %d', fan_in(node), node.p.units) .. (#node.in_shape > 1 and string.format(' at %d positions', rows) or '')
end

function M.reference(node, x, W)
  local k_n, n = fan_in(node), node.p.units
  local y = tensor.new(node.shape, 'double')
  local k, b = W.kernel.data, W.bias and W.bias.data
  for r = 0, x.n / k_n - 1 do
    for o = 0, n - 1 do
      local s = b and b[o] or 0
      for i = 0, k_n - 1 do s = s + x.data[r * k_n + i] * k[i * n + o] end
      y.data[r * n + o] = s
    end
  end
  return y
end

M.trainable = conv.trainable

-- Backward (reference, double): dx = kernel dy, dkernel = x dy^T (an outer product),
-- dbias = dy.
function M.backward(node, x, _, W, dy)
  if #node.in_shape ~= 1 then util.fail(node, 'gradients are not implemented for a Dense on the last axis') end
  local k_n, n = node.in_shape[1], node.p.units
  local dx = tensor.new(node.in_shape, 'double')
  local k, dk = W.kernel.data, tensor.new(W.kernel.shape, 'double')
  for i = 0, k_n - 1 do
    local s, xv = 0, x.data[i]
    for o = 0, n - 1 do
      s = s + k[i * n + o] * dy.data[o]
      dk.data[i * n + o] = xv * dy.data[o]
    end
    dx.data[i] = s
  end
  local db = W.bias and dy:clone('double')
  return dx, { kernel = dk, bias = db }
end

-- Backward code: dx = kernel dy (a dot product per input), dkernel += x dy^T (a rank-1
-- update, row by row), dbias += dy.
function M.backward_reads() return { x = true } end

function M.emit_backward(node, E)
  local K, N = node.in_shape[1], node.p.units
  local bias = node.p.use_bias
  local input_fn, weights_fn = E:backward_fn(node, 'input'), E:backward_fn(node, 'weights')
  -- each dot product in 16 partial sums when long enough (a serial sum of floats does not
  -- vectorise: its order is fixed)
  local L = 16
  local dot = N >= 2 * L and template.section('backward', 'dense_dot_lanes', { L = L, N = N, NL = N - N % L })
    or template.section('backward', 'dense_dot', { N = N })
  local text = template.section('backward', 'dense_input', { fn = input_fn, K = K, N = N, dot = dot,
    comment = util.c_comment(node.name .. ': the input gradient, kernel dy'), kernel = E:weight(node, 'kernel') })
    .. '\n\n' .. template.section('backward', 'dense_weights', { fn = weights_fn, K = K, N = N,
    comment = util.c_comment(node.name .. ': the weight gradients, added to (add 0: written): the kernel\'s x dy^T'
      .. (bias and ', the bias\'s dy' or '')),
    bias_param = bias and ', float *restrict dbias' or '',
    bias = bias and string.format('for (int o = 0; o < %d; ++o) dbias[o] = add ? dbias[o] + dy[o] : dy[o];', N) or '' })
  local wargs = { 'dw:kernel' }
  if bias then wargs[#wargs + 1] = 'dw:bias' end
  wargs[#wargs + 1] = 'x'
  wargs[#wargs + 1] = 'dy'
  return text, { { fn = input_fn, args = { 'dx', 'dy' }, input = true }, { fn = weights_fn, args = wargs, store = true } }
end

-- On the last axis of a rank-2 or rank-3 input: a 1x1 convolution; higher ranks through
-- views. A flat input keeps the Dense kernels (returns false: nothing lowered).
function M.lower(node, make)
  local ins = node.in_shape
  local r = #ins
  if r == 1 then return false end
  local c, units = ins[r], node.p.units
  local W = {}
  for _, w in ipairs(node.weights) do W[w.name] = w.tensor end
  local kind, src, rows = r == 3 and 'Conv2D' or 'Conv1D', node.inputs[1], util.prod(ins) / c
  local one = r == 3 and { 1, 1 } or { 1 }
  local function conv(input, name)
    return make({ kind = kind, inputs = { input }, name = name, weights = { kernel = W.kernel, bias = W.bias },
      p = { filters = units, kernel_size = one, strides = one, padding = 'valid', dilation_rate = one, groups = 1,
        use_bias = node.p.use_bias } })
  end
  if r <= 3 then conv(src, node.name); return end
  local flat = make({ kind = 'Reshape', p = { target_shape = { rows, c } }, inputs = { src }, name = node.name .. '_rows' })
  local y = conv(flat, node.name .. '_conv')
  make({ kind = 'Reshape', p = { target_shape = util.copy(node.shape) }, inputs = { y }, name = node.name })
end

function M.emit(node, E)
  assert(#node.in_shape == 1, 'cnnc: a Dense on the last axis is lowered before emission')
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
M.unfold_grads = conv.unfold_channels_last_grads
M.unfold_c = true -- channels-last kernel: backward code unfolds in C (cnnc.emit.backward)

return M
