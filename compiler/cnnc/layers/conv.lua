-- cnnc.layers.conv: Conv1D and Conv2D (shared weights over a sliding window).
--
-- Keras semantics: cross-correlation, kernel (kh, kw, cin, filters) or (k, cin, filters),
-- padding valid/same (and causal for 1-D), strides and dilation. A 1-D convolution runs as
-- a 2-D one of height 1 (cnnc.window). Explicit pads (from a fused ZeroPadding) replace
-- the padding mode after fusion.

local ir = require 'cnnc.ir'
local tensor = require 'cnnc.tensor'
local template = require 'cnnc.template'
local util = require 'cnnc.util'
local window = require 'cnnc.window'

local M = {}

local function spec(rank)
  return {
    { 'filters', 'int', min = 1, required = true },
    { 'kernel_size', 'size', required = true },
    { 'strides', 'size', default = 1 },
    { 'padding', 'enum', default = 'valid', values = rank == 1 and { valid = 1, same = 1, causal = 1 } or { valid = 1, same = 1 } },
    { 'data_format', 'enum', values = { channels_last = 1 } },
    { 'dilation_rate', 'size', default = 1 },
    { 'activation', 'activation' },
    { 'use_bias', 'bool', default = true },
    { 'kernel_initializer', 'initializer', default = 'glorot_uniform' },
    { 'bias_initializer', 'initializer', default = 'zeros' },
    { 'kernel', 'values' },
    { 'bias', 'values' },
  }
end

M.kinds = {
  Conv1D = { rank = 1, args = spec(1) },
  Conv2D = { rank = 2, args = spec(2) },
}
M.epilogue = true

local function check_rank(node, in_shape)
  if #in_shape ~= node.rank + 1 then
    util.fail(node, '%s needs a rank-%d input %s, got shape %s', node.op, node.rank + 1,
      node.rank == 1 and '(steps, channels)' or '(height, width, channels)', util.shape_str(in_shape))
  end
end

function M.shape(node, in_shape)
  check_rank(node, in_shape)
  local p = node.p
  local s, d = p.strides, p.dilation_rate
  for i = 1, node.rank do
    if s[i] > 1 and d[i] > 1 then
      util.fail(node, 'strides %s and dilation_rate %s: Keras does not allow both above 1',
        util.shape_x(s), util.shape_x(d))
    end
  end
  node.g = window.geometry(node, in_shape, p.kernel_size, s, d, node.pads or p.padding)
  return window.out_shape(node.g, p.filters)
end

function M.weights(node, in_shape)
  local p, cin = node.p, in_shape[#in_shape]
  local kshape = util.copy(p.kernel_size)
  kshape[#kshape + 1] = cin
  kshape[#kshape + 1] = p.filters
  local w = { { name = 'kernel', shape = kshape, init = p.kernel_initializer, layout = 'kernel: ' .. (node.rank == 1 and '(k, cin, filters)' or '(kh, kw, cin, filters)') } }
  if p.use_bias then w[2] = { name = 'bias', shape = { p.filters }, init = p.bias_initializer } end
  return w
end

function M.macs(node)
  local g = node.g
  return g.oh * g.ow * g.kh * g.kw * g.ic * node.p.filters
end

function M.describe(node) return window.describe(node.g) end

function M.reference(node, x, W)
  local g, oc_n = node.g, node.p.filters
  local y = tensor.new(node.shape, 'double')
  local k, b = W.kernel.data, W.bias and W.bias.data
  local ic_n = g.ic
  for oy = 0, g.oh - 1 do
    for ox = 0, g.ow - 1 do
      local base = (oy * g.ow + ox) * oc_n
      for oc = 0, oc_n - 1 do y.data[base + oc] = b and b[oc] or 0 end
      window.each_tap(g, oy, ox, function(iy, ix, ky, kx)
        local xb = (iy * g.iw + ix) * ic_n
        local kb = (ky * g.kw + kx) * ic_n * oc_n
        for ic = 0, ic_n - 1 do
          local xv = x.data[xb + ic]
          for oc = 0, oc_n - 1 do
            y.data[base + oc] = y.data[base + oc] + xv * k[kb + ic * oc_n + oc]
          end
        end
      end)
    end
  end
  return y
end

-- C body holes shared with LocallyConnected (templates/conv.c).
function M.c_body(node, E, kernel_tap, bias_expr)
  local g, oc = node.g, node.p.filters
  local h = { OC = oc, IC = g.ic, ICOC = g.ic * oc }
  return {
    init = template.section('conv', 'init', { OC = oc, bias = bias_expr }),
    accumulate = template.section('conv', 'accumulate', {
      IC = g.ic, OC = oc, ICOC = h.ICOC, in_pixel = window.c_in_pixel(g),
      kernel = E:weight(node, 'kernel'), tap = kernel_tap }),
    finalize = template.section('conv', 'finalize', {
      OC = oc, out_pixel = window.c_out_pixel(g),
      store = E:store(node, 'y[oc]', 'acc[oc]', 'oc'), post = E:post(node, 'y', oc) }),
  }
end

function M.emit(node, E)
  if E.simd then return require('cnnc.simd.conv').emit(node, E) end
  local bias = node.p.use_bias and (E:weight(node, 'bias') .. '[oc]') or '0.0f'
  local body = M.c_body(node, E, window.c_tap(node.g), bias)
  return window.c_render(node.g, E:fn(node), E:comment(node), body)
end

-- Padding from a ZeroPadding layer before this one becomes explicit pads.
function M.absorb_padding(node, pads)
  local g = node.g
  local cur = node.rank == 1 and { { g.pl, g.pr } } or { { g.pt, g.pb }, { g.pl, g.pr } }
  for i = 1, #cur do
    cur[i][1] = cur[i][1] + pads[i][1]
    cur[i][2] = cur[i][2] + pads[i][2]
  end
  node.pads = cur
end

-- y = scale * (f(x) + b) + shift folds into a kernel and bias whose last axis is the output
-- channel (Conv, Dense and LocallyConnected all store them so). bias_shape: the bias
-- shape to create when the layer had none.
function M.fold_channels_last(node, scale, shift, bias_shape)
  local k = ir.weight(node, 'kernel')
  local oc_n = k.shape[#k.shape]
  local nk = tensor.new(k.shape)
  for i = 0, k.n - 1 do nk.data[i] = k.data[i] * scale[i % oc_n] end
  local b = ir.weight(node, 'bias')
  local nb = tensor.new(b and b.shape or bias_shape)
  for i = 0, nb.n - 1 do
    local c = i % oc_n
    nb.data[i] = (b and b.data[i] or 0) * scale[c] + shift[c]
  end
  ir.set_weight(node, 'kernel', nk)
  ir.set_weight(node, 'bias', nb)
  node.p = util.copy(node.p)
  node.p.use_bias = true
end

function M.fold_affine(node, scale, shift)
  M.fold_channels_last(node, scale, shift, { node.p.filters })
end

return M
