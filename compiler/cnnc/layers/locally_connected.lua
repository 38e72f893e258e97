-- cnnc.layers.locally_connected: LocallyConnected1D and LocallyConnected2D (unshared
-- convolution, Keras 2 semantics).
--
-- Every output position has its own weights: kernel (oh*ow, kh*kw*cin, filters) with the
-- patch flattened row-major over (kh, kw, cin) and positions numbered row-major over
-- (oh, ow); bias (oh, ow, filters) ((ow, filters) in 1-D). Keras allows only 'valid'
-- padding and no dilation here. The C reuses the convolution bodies (templates/conv.c)
-- with the weight matrix chosen by output position.

local conv = require 'cnnc.layers.conv'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'
local window = require 'cnnc.window'

local M = {}

local function spec()
  return {
    { 'filters', 'int', min = 1, required = true },
    { 'kernel_size', 'size', required = true },
    { 'strides', 'size', default = 1 },
    { 'padding', 'enum', default = 'valid', values = { valid = 1 } },
    { 'data_format', 'enum', values = { channels_last = 1 } },
    { 'activation', 'activation' },
    { 'use_bias', 'bool', default = true },
    { 'kernel_initializer', 'initializer', default = 'glorot_uniform' },
    { 'bias_initializer', 'initializer', default = 'zeros' },
    { 'kernel_regularizer', 'ignored' }, { 'bias_regularizer', 'ignored' },
    { 'kernel_constraint', 'ignored' }, { 'bias_constraint', 'ignored' },
    { 'implementation', 'int', min = 1 },
    { 'kernel', 'values' },
    { 'bias', 'values' },
  }
end

M.kinds = {
  LocallyConnected1D = { rank = 1, args = spec() },
  LocallyConnected2D = { rank = 2, args = spec() },
}
M.epilogue = true

-- Output rows (1-D: positions) are the parts threads share.
function M.units(node) return window.units(node.g) end

function M.shape(node, in_shape)
  if #in_shape ~= node.rank + 1 then
    util.fail(node, '%s needs a rank-%d input, got shape %s', node.op, node.rank + 1, util.shape_str(in_shape))
  end
  local ones = {}
  for i = 1, node.rank do ones[i] = 1 end
  node.g = window.geometry(node, in_shape, node.p.kernel_size, node.p.strides, ones, 'valid')
  return window.out_shape(node.g, node.p.filters)
end

function M.weights(node, in_shape)
  local g, p = node.g, node.p
  local w = { { name = 'kernel', shape = { g.oh * g.ow, g.kh * g.kw * g.ic, p.filters }, init = p.kernel_initializer,
    layout = 'kernel: (positions, patch, filters)' } }
  if p.use_bias then
    w[2] = { name = 'bias', shape = window.out_shape(g, p.filters), init = p.bias_initializer }
  end
  return w
end

function M.macs(node) return conv.macs(node) end

function M.describe(node) return window.describe(node.g) .. ', unshared' end

function M.reference(node, x, W)
  local g, oc_n = node.g, node.p.filters
  local y = tensor.new(node.shape, 'double')
  local k, b = W.kernel.data, W.bias and W.bias.data
  local patch = g.kh * g.kw * g.ic
  for oy = 0, g.oh - 1 do
    for ox = 0, g.ow - 1 do
      local pos = oy * g.ow + ox
      for oc = 0, oc_n - 1 do y.data[pos * oc_n + oc] = b and b[pos * oc_n + oc] or 0 end
      window.each_tap(g, oy, ox, function(iy, ix, ky, kx)
        for ic = 0, g.ic - 1 do
          local xv = x.data[(iy * g.iw + ix) * g.ic + ic]
          local row = (pos * patch + (ky * g.kw + kx) * g.ic + ic) * oc_n
          for oc = 0, oc_n - 1 do
            y.data[pos * oc_n + oc] = y.data[pos * oc_n + oc] + xv * k[row + oc]
          end
        end
      end)
    end
  end
  return y
end

M.trainable = conv.trainable

-- Backward (reference, double): as Conv's, with the weights of each output position.
function M.backward(node, x, _, W, dy)
  local g, oc_n = node.g, node.p.filters
  local dx = tensor.new(node.in_shape, 'double')
  local k, dk = W.kernel.data, tensor.new(W.kernel.shape, 'double')
  local db = W.bias and tensor.new(W.bias.shape, 'double')
  local patch = g.kh * g.kw * g.ic
  for oy = 0, g.oh - 1 do
    for ox = 0, g.ow - 1 do
      local pos = oy * g.ow + ox
      if db then
        for oc = 0, oc_n - 1 do db.data[pos * oc_n + oc] = dy.data[pos * oc_n + oc] end
      end
      window.each_tap(g, oy, ox, function(iy, ix, ky, kx)
        for ic = 0, g.ic - 1 do
          local xi = (iy * g.iw + ix) * g.ic + ic
          local row = (pos * patch + (ky * g.kw + kx) * g.ic + ic) * oc_n
          for oc = 0, oc_n - 1 do
            local dv = dy.data[pos * oc_n + oc]
            dx.data[xi] = dx.data[xi] + dv * k[row + oc]
            dk.data[row + oc] = dk.data[row + oc] + dv * x.data[xi]
          end
        end
      end)
    end
  end
  return dx, { kernel = dk, bias = db }
end

-- Backward code: Conv's, with the kernel of each output position.
M.backward_reads = conv.backward_reads

function M.emit_backward(node, E)
  local g = node.g
  local opix = window.c_out_pixel(g)
  return conv.window_backward(node, E, string.format('(%s * %d + %s)', opix, g.kh * g.kw, window.c_tap(g)), opix)
end

function M.emit(node, E)
  local g, oc = node.g, node.p.filters
  local opix = window.c_out_pixel(g)
  local tap = string.format('(%s * %d + %s)', opix, g.kh * g.kw, window.c_tap(g))
  local bias = node.p.use_bias and string.format('%s[%s * %d + oc]', E:weight(node, 'bias'), opix, oc) or '0.0f'
  local body = conv.c_body(node, E, tap, bias)
  return window.c_render(g, E:fn(node), E:comment(node), body, E, node)
end

function M.fold_affine(node, scale, shift)
  conv.fold_channels_last(node, scale, shift, window.out_shape(node.g, node.p.filters))
end
M.unfold_grads = conv.unfold_channels_last_grads
M.unfold_c = true -- channels-last kernel: backward code unfolds in C (cnnc.emit.backward)

return M
