-- cnnc.layers.pool_indices: MaxPoolingIndices, where each max-pooling window found its
-- maximum: ONNX MaxPool's second output (Indices). The input is channels-last (H, W, C)
-- (1-D: (W, C)); the window is given as ONNX gives it (pool_size, strides, dilation_rate,
-- explicit pads {{top, bottom}, {left, right}}) with the output size `out_size` the
-- importer computed (ceil_mode included). Padded cells never win. Ties keep the first
-- cell in row-major window order.
--
-- An index is the element's position in the flattened NCHW input, padding not counted:
-- c * H * W + h * W + w (storage_order 0, row major) or c * H * W + w * H + h
-- (storage_order 1, column major within each channel, as onnxruntime numbers them). It is
-- written as a float32, exact below 2^24 (the importer checks the input size).

local template = require 'cnnc.template'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

M.kinds = { MaxPoolingIndices = { rank = 0, args = {
  { 'pool_size', 'shape', required = true },
  { 'strides', 'shape', required = true },
  { 'dilation_rate', 'shape', required = true },
  { 'pads', 'values', required = true },
  { 'out_size', 'shape', required = true },
  { 'storage_order', 'int', default = 0 },
} } }

-- The window as 2-D: {H, W, C}, {kh, kw}, {sh, sw}, {dh, dw}, {top, left}, {oh, ow}.
local function geometry(node, in_shape)
  local p = node.p
  if #in_shape == 2 then
    return { 1, in_shape[1], in_shape[2] }, { 1, p.pool_size[1] }, { 1, p.strides[1] }, { 1, p.dilation_rate[1] },
      { 0, p.pads[1][1] }, { 1, p.out_size[1] }
  end
  return in_shape, p.pool_size, p.strides, p.dilation_rate, { p.pads[1][1], p.pads[2][1] }, p.out_size
end

function M.shape(node, in_shape)
  local r = #in_shape - 1
  if r < 1 or r > 2 or #node.p.pool_size ~= r or #node.p.out_size ~= r then
    util.fail(node, 'MaxPoolingIndices works on (H, W, C) or (W, C) inputs with a matching window, got %s',
      util.shape_str(in_shape))
  end
  if util.prod(in_shape) > 2 ^ 24 then
    util.fail(node, 'the input %s has more than 2^24 values: indices would not be exact in float32', util.shape_str(in_shape))
  end
  local out = util.copy(node.p.out_size)
  out[#out + 1] = in_shape[#in_shape]
  return out
end

function M.describe(node)
  return string.format('argmax of %s windows, storage_order %d', util.shape_x(node.p.pool_size), node.p.storage_order)
end

local function index(node, s, c, h, w)
  if node.p.storage_order == 1 then return c * s[1] * s[2] + w * s[1] + h end
  return c * s[1] * s[2] + h * s[2] + w
end

function M.reference(node, x)
  local s, k, st, d, pad, o = geometry(node, node.in_shape)
  local C = s[3]
  local y = tensor.new(node.shape, 'double')
  for oy = 0, o[1] - 1 do
    for ox = 0, o[2] - 1 do
      for c = 0, C - 1 do
        local best, at
        for ky = 0, k[1] - 1 do
          for kx = 0, k[2] - 1 do
            local iy, ix = oy * st[1] - pad[1] + ky * d[1], ox * st[2] - pad[2] + kx * d[2]
            if iy >= 0 and iy < s[1] and ix >= 0 and ix < s[2] then
              local v = x.data[(iy * s[2] + ix) * C + c]
              if not best or v > best then best, at = v, index(node, s, c, iy, ix) end
            end
          end
        end
        y.data[(oy * o[2] + ox) * C + c] = at or 0
      end
    end
  end
  return y
end

function M.emit(node, E)
  local s, k, st, d, pad, o = geometry(node, node.in_shape)
  local idx = node.p.storage_order == 1 and string.format('c * %d + ix * %d + iy', s[1] * s[2], s[1])
    or string.format('c * %d + iy * %d + ix', s[1] * s[2], s[2])
  return template.section('pool_indices', 'argmax', { fn = E:fn(node), comment = E:comment(node),
    H = s[1], W = s[2], C = s[3], OH = o[1], OW = o[2], KH = k[1], KW = k[2], SH = st[1], SW = st[2],
    DH = d[1], DW = d[2], TOP = pad[1], LEFT = pad[2], index = idx })
end

return M
