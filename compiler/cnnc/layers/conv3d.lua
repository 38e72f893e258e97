-- cnnc.layers.conv3d: Conv3D on (depth, height, width, channels) data, Keras semantics:
-- kernel (kd, kh, kw, cin, filters), padding valid/same, strides, dilation.
--
-- ONNX options, set by the importer (not in the Keras signature): explicit pads
-- (node.pads = {{front, back}, {top, bottom}, {left, right}}) and p.groups, as in
-- cnnc.layers.conv. Plain loops in C (cnnc.layers.window3d); no SIMD kernel.

local conv = require 'cnnc.layers.conv'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'
local w3 = require 'cnnc.layers.window3d'

local M = {}

M.kinds = { Conv3D = { rank = 3, args = {
  { 'filters', 'int', min = 1, required = true },
  { 'kernel_size', 'size', required = true },
  { 'strides', 'size', default = 1 },
  { 'padding', 'enum', default = 'valid', values = { valid = 1, same = 1 } },
  { 'data_format', 'enum', values = { channels_last = 1 } },
  { 'dilation_rate', 'size', default = 1 },
  { 'activation', 'activation' },
  { 'use_bias', 'bool', default = true },
  { 'kernel_initializer', 'initializer', default = 'glorot_uniform' },
  { 'bias_initializer', 'initializer', default = 'zeros' },
  { 'kernel', 'values' },
  { 'bias', 'values' },
} } }
M.epilogue = true

local function groups(node) return node.p.groups or 1 end

function M.shape(node, in_shape)
  w3.check_rank(node, in_shape)
  local p = node.p
  node.axes = w3.geometry(node, in_shape, p.kernel_size, p.strides, p.dilation_rate)
  node.ic = in_shape[4]
  if node.ic % groups(node) ~= 0 or p.filters % groups(node) ~= 0 then
    util.fail(node, 'groups = %d must divide both the input channels (%d) and the filters (%d)', groups(node),
      node.ic, p.filters)
  end
  return { node.axes[1].o, node.axes[2].o, node.axes[3].o, p.filters }
end

function M.weights(node, in_shape)
  local p = node.p
  local k = util.copy(p.kernel_size)
  k[4] = in_shape[4] / groups(node)
  k[5] = p.filters
  local w = { { name = 'kernel', shape = k, init = p.kernel_initializer, layout = 'kernel: (kd, kh, kw, cin, filters)' } }
  if p.use_bias then w[2] = { name = 'bias', shape = { p.filters }, init = p.bias_initializer } end
  return w
end

function M.macs(node)
  local a = node.axes
  return a[1].o * a[2].o * a[3].o * a[1].k * a[2].k * a[3].k * node.ic / groups(node) * node.p.filters
end

function M.describe(node)
  return w3.describe(node) .. (groups(node) > 1 and (', groups ' .. groups(node)) or '')
end

function M.reference(node, x, W)
  local y = tensor.new(node.shape, 'double')
  local a, ic, oc_n = node.axes, node.ic, node.p.filters
  local icg, ocg = ic / groups(node), oc_n / groups(node)
  local k, b = W.kernel.data, W.bias and W.bias.data
  local o = {}
  for od = 0, a[1].o - 1 do
    for oy = 0, a[2].o - 1 do
      for ox = 0, a[3].o - 1 do
        o[1], o[2], o[3] = od, oy, ox
        local base = ((od * a[2].o + oy) * a[3].o + ox) * oc_n
        for c = 0, oc_n - 1 do y.data[base + c] = b and b[c] or 0 end
        w3.each_tap(node, o, function(pix, tap)
          for c = 0, oc_n - 1 do
            local first = math.floor(c / ocg) * icg
            local s = 0
            for i = 0, icg - 1 do s = s + x.data[pix * ic + first + i] * k[(tap * icg + i) * oc_n + c] end
            y.data[base + c] = y.data[base + c] + s
          end
        end)
      end
    end
  end
  return y
end

function M.emit(node, E)
  local in_pixel, out_pixel, tap = w3.c_pixels(node)
  local bias = node.p.use_bias and (E:weight(node, 'bias') .. '[oc]') or '0.0f'
  local a = node.axes
  local shim = setmetatable({ g = { ic = node.ic, kd = a[1].k, kh = a[2].k, kw = a[3].k } }, { __index = node })
  local body = conv.c_body(shim, E, tap, bias, { input = in_pixel, output = out_pixel })
  return w3.c_render(node, E, body)
end

function M.fold_affine(node, scale, shift)
  conv.fold_channels_last(node, scale, shift, { node.p.filters })
end

return M
