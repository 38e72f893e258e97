-- cnnc.layers.separable_conv: DepthwiseConv1D/2D and SeparableConv1D/2D.
--
-- DepthwiseConv2D convolves each input channel with its own depth_multiplier filters:
-- depthwise_kernel (kh, kw, cin, depth_multiplier), output channel c * depth_multiplier + m
-- from input channel c, bias (cin * depth_multiplier). Its memory order is the grouped
-- convolution's kernel (kh, kw, 1, cin * depth_multiplier) with groups = cin, so it is
-- lowered (cnnc.passes.lower) onto a Conv2D of that kernel. SeparableConv2D is that
-- depthwise convolution (no bias) followed by a 1x1 convolution: pointwise_kernel
-- (1, 1, cin * depth_multiplier, filters), bias (filters), then the activation; it is
-- lowered onto the two convolutions, so each gets the convolution's kernels and fusions.
-- The 1-D layers are the same with (k, ...) kernels. Keras's arguments and defaults;
-- causal padding only for SeparableConv1D, as in Keras.

local args = require 'cnnc.args'
local conv = require 'cnnc.layers.conv'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'
local window = require 'cnnc.window'

local M = {}

local function spec(rank, separable)
  local t = {}
  local function add(a) t[#t + 1] = a end
  if separable then add({ 'filters', 'int', min = 1, required = true }) end
  add({ 'kernel_size', 'size', required = true })
  add({ 'strides', 'size', default = 1 })
  add({ 'padding', 'enum', default = 'valid',
    values = (rank == 1 and separable) and { valid = 1, same = 1, causal = 1 } or { valid = 1, same = 1 } })
  if not separable then add({ 'depth_multiplier', 'int', min = 1, default = 1 }) end
  add({ 'data_format', 'enum', values = { channels_last = 1 } })
  add({ 'dilation_rate', 'size', default = 1 })
  if separable then add({ 'depth_multiplier', 'int', min = 1, default = 1 }) end
  add({ 'activation', 'activation' })
  add({ 'use_bias', 'bool', default = true })
  add({ 'depthwise_initializer', 'initializer', default = 'glorot_uniform' })
  if separable then add({ 'pointwise_initializer', 'initializer', default = 'glorot_uniform' }) end
  add({ 'bias_initializer', 'initializer', default = 'zeros' })
  local ws = separable and { 'depthwise', 'pointwise', 'bias' } or { 'depthwise', 'bias' }
  for _, a in ipairs(args.training_only(ws)) do add(a) end
  add({ 'depthwise_kernel', 'values' })
  if separable then add({ 'pointwise_kernel', 'values' }) end
  add({ 'bias', 'values' })
  return t
end

M.kinds = {
  DepthwiseConv1D = { rank = 1, args = spec(1, false) },
  DepthwiseConv2D = { rank = 2, args = spec(2, false) },
  SeparableConv1D = { rank = 1, args = spec(1, true) },
  SeparableConv2D = { rank = 2, args = spec(2, true) },
}
M.epilogue = true

local function separable(node) return node.op:match('^Separable') ~= nil end

function M.shape(node, in_shape)
  if #in_shape ~= node.rank + 1 then
    util.fail(node, '%s needs a rank-%d input %s, got shape %s', node.op, node.rank + 1,
      node.rank == 1 and '(steps, channels)' or '(height, width, channels)', util.shape_str(in_shape))
  end
  local p = node.p
  for i = 1, node.rank do
    if p.strides[i] > 1 and p.dilation_rate[i] > 1 then
      util.fail(node, 'strides %s and dilation_rate %s: Keras does not allow both above 1',
        util.shape_x(p.strides), util.shape_x(p.dilation_rate))
    end
  end
  node.g = window.geometry(node, in_shape, p.kernel_size, p.strides, p.dilation_rate, p.padding)
  node.depth = in_shape[#in_shape] * p.depth_multiplier
  return window.out_shape(node.g, separable(node) and p.filters or node.depth)
end

function M.weights(node, in_shape)
  local p, cin = node.p, in_shape[#in_shape]
  local k = util.copy(p.kernel_size)
  k[#k + 1] = cin
  k[#k + 1] = p.depth_multiplier
  local lead = node.rank == 1 and '(k, cin, depth_multiplier)' or '(kh, kw, cin, depth_multiplier)'
  local w = { { name = 'depthwise_kernel', shape = k, init = p.depthwise_initializer, layout = 'depthwise_kernel: ' .. lead } }
  if separable(node) then
    local pk = node.rank == 1 and { 1, node.depth, p.filters } or { 1, 1, node.depth, p.filters }
    w[#w + 1] = { name = 'pointwise_kernel', shape = pk, init = p.pointwise_initializer,
      layout = 'pointwise_kernel: ' .. (node.rank == 1 and '(1, cin * depth_multiplier, filters)'
        or '(1, 1, cin * depth_multiplier, filters)') }
  end
  if p.use_bias then w[#w + 1] = { name = 'bias', shape = { separable(node) and p.filters or node.depth },
    init = p.bias_initializer } end
  return w
end

function M.macs(node)
  local g = node.g
  local n = g.oh * g.ow * g.kh * g.kw * node.depth
  if separable(node) then n = n + g.oh * g.ow * node.depth * node.p.filters end
  return n
end

function M.describe(node)
  local s = window.describe(node.g) .. string.format(', depth multiplier %d', node.p.depth_multiplier)
  if separable(node) then s = s .. string.format(', then 1x1 to %d', node.p.filters) end
  return s
end

-- The parts: the depthwise convolution as a grouped Conv, and for SeparableConv the 1x1
-- Conv after it. conv_args: the Conv arguments of the depthwise part.
local function parts(node)
  local p, kind = node.p, node.rank == 1 and 'Conv1D' or 'Conv2D'
  local cin = node.in_shape[#node.in_shape]
  local dw = { filters = node.depth, kernel_size = p.kernel_size, strides = p.strides, padding = p.padding,
    dilation_rate = p.dilation_rate, groups = cin, use_bias = not separable(node) and p.use_bias }
  local pw = separable(node) and { filters = p.filters, kernel_size = node.rank == 1 and { 1 } or { 1, 1 },
    strides = node.rank == 1 and { 1 } or { 1, 1 }, padding = 'valid', dilation_rate = node.rank == 1 and { 1 } or { 1, 1 },
    groups = 1, use_bias = p.use_bias }
  return kind, dw, pw
end

function M.lower(node, make)
  local kind, dw, pw = parts(node)
  local W = {}
  for _, w in ipairs(node.weights) do W[w.name] = w.tensor end
  if not pw then
    make({ kind = kind, p = dw, inputs = node.inputs, name = node.name,
      weights = { kernel = W.depthwise_kernel, bias = W.bias } })
    return
  end
  local mid = make({ kind = kind, p = dw, inputs = node.inputs, name = node.name .. '_depthwise',
    weights = { kernel = W.depthwise_kernel } })
  make({ kind = kind, p = pw, inputs = { mid }, name = node.name,
    weights = { kernel = W.pointwise_kernel, bias = W.bias } })
end

-- The reference runs the parts' reference code on nodes built as the lowering builds them.
-- A part as the lowering builds it, and a kernel seen as the part's (its memory order).
local function part_node(node, kind, p, in_shape)
  local part = { op = kind, rank = node.rank, p = p, where = node.where, name = node.name, in_shape = in_shape }
  part.shape = conv.shape(part, in_shape)
  return part
end
local function flat(t) return setmetatable({ shape = { t.n }, n = t.n, data = t.data, ctype = t.ctype }, tensor.Tensor) end
local function shaped(t, shape) t.shape = util.copy(shape); return t end

function M.reference(node, x, W)
  local kind, dw, pw = parts(node)
  local d = part_node(node, kind, dw, node.in_shape)
  local y = conv.reference(d, x, { kernel = flat(W.depthwise_kernel), bias = not pw and W.bias or nil })
  if pw then y = conv.reference(part_node(node, kind, pw, d.shape), y, { kernel = flat(W.pointwise_kernel), bias = W.bias }) end
  return y
end

-- The trainable weights, in Keras's names and shapes (the lowered convolutions' gradients
-- are these, in the same memory order: cnnc.passes.lower records which is which).
M.trainable = { 'depthwise_kernel', 'pointwise_kernel', 'bias' }

-- Backward (reference): through the parts, last first (the depthwise output recomputed).
function M.backward(node, x, _, W, dy)
  local kind, dw, pw = parts(node)
  local d = part_node(node, kind, dw, node.in_shape)
  local grads = {}
  local dmid = dy
  if pw then
    local mid = conv.reference(d, x, { kernel = flat(W.depthwise_kernel) })
    local g
    dmid, g = conv.backward(part_node(node, kind, pw, d.shape), mid, nil,
      { kernel = flat(W.pointwise_kernel), bias = W.bias }, dy)
    grads.pointwise_kernel, grads.bias = shaped(g.kernel, W.pointwise_kernel.shape), g.bias
  end
  local dx, g = conv.backward(d, x, nil, { kernel = flat(W.depthwise_kernel), bias = not pw and W.bias or nil }, dmid)
  grads.depthwise_kernel = shaped(g.kernel, W.depthwise_kernel.shape)
  if not pw then grads.bias = g.bias end
  return dx, grads
end

return M
