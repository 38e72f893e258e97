-- cnnc.layers.pooling3d: MaxPooling3D and AveragePooling3D on (depth, height, width,
-- channels) data, Keras semantics (padding valid/same, strides default to the pool
-- size; padded cells never count).
--
-- ONNX options, set by the importer (not in the Keras signature): p.pads (explicit
-- {{front, back}, {top, bottom}, {left, right}}), p.dilation_rate, p.ceil_mode and
-- p.count_include_pad, with the meanings of cnnc.layers.pooling. Plain loops in C
-- (cnnc.layers.window3d) with the 2-D pooling bodies.

local ieee = require 'cnnc.ieee'
local template = require 'cnnc.template'
local tensor = require 'cnnc.tensor'
local w3 = require 'cnnc.layers.window3d'
local window = require 'cnnc.window'

local M = {}

local ARGS = { rank = 3, args = {
  { 'pool_size', 'size', default = 2 },
  { 'strides', 'size' },
  { 'padding', 'enum', default = 'valid', values = { valid = 1, same = 1 } },
  { 'data_format', 'enum', values = { channels_last = 1 } },
} }
M.kinds = { MaxPooling3D = ARGS, AveragePooling3D = ARGS }
M.epilogue = true

local function is_max(node) return node.op == 'MaxPooling3D' end

function M.shape(node, in_shape)
  w3.check_rank(node, in_shape)
  local p = node.p
  node.axes = w3.geometry(node, in_shape, p.pool_size, p.strides or p.pool_size, p.dilation_rate or { 1, 1, 1 })
  node.ic = in_shape[4]
  return { node.axes[1].o, node.axes[2].o, node.axes[3].o, node.ic }
end

function M.describe(node)
  local extra = node.p.ceil_mode and ', ceil mode' or ''
  if node.p.count_include_pad then extra = extra .. ', padding counted' end
  return w3.describe(node) .. extra
end

function M.reference(node, x)
  local y = tensor.new(node.shape, 'double')
  local a, c_n = node.axes, node.ic
  local o = {}
  for od = 0, a[1].o - 1 do
    for oy = 0, a[2].o - 1 do
      for ox = 0, a[3].o - 1 do
        o[1], o[2], o[3] = od, oy, ox
        local base = ((od * a[2].o + oy) * a[3].o + ox) * c_n
        local acc, count = {}, 0
        for c = 0, c_n - 1 do acc[c] = is_max(node) and -math.huge or 0 end
        local padded = w3.each_tap(node, o, function(pix)
          count = count + 1
          for c = 0, c_n - 1 do
            local v = x.data[pix * c_n + c]
            if is_max(node) then acc[c] = ieee.max(acc[c], v) else acc[c] = acc[c] + v end
          end
        end)
        for c = 0, c_n - 1 do
          local v = acc[c]
          if not is_max(node) then v = v / (node.p.count_include_pad and padded or count) end
          y.data[base + c] = v
        end
      end
    end
  end
  return y
end

function M.emit(node, E)
  local a, ic = node.axes, node.ic
  local in_pixel, out_pixel = w3.c_pixels(node)
  local padded = w3.leaves(node, 1) or w3.leaves(node, 2) or w3.leaves(node, 3)
  local h = { start = is_max(node) and '-INFINITY' or '0.0f', count_init = '', count_step = '' }
  if is_max(node) then
    h.combine, h.result = ieee.c_max_into('acc[c]', 'x[c]'), 'acc[c]'
  else
    h.combine = 'acc[c] += x[c];'
    if node.p.count_include_pad and padded then
      local t = {}
      for i, o in ipairs({ 'od', 'oy', 'ox' }) do
        local start = window.c_index(o, a[i].s, '0', 1, a[i].before)
        t[i] = string.format('(%s + %d <= %d ? %d : %d - (%s))', start, a[i].k, a[i].limit, a[i].k, a[i].limit, start)
      end
      h.count_init, h.result = 'const float n = (float)(' .. table.concat(t, ' * ') .. ');', 'acc[c] / n'
    elseif padded then
      h.count_init, h.count_step, h.result = 'int n = 0;', '++n;', 'acc[c] / (float)n'
    else
      h.result = string.format('acc[c] / %d.0f', a[1].k * a[2].k * a[3].k)
    end
  end
  return w3.c_render(node, E, {
    init = template.section('pooling', 'init', { C = ic, start = h.start, count_init = h.count_init }),
    accumulate = template.section('pooling', 'accumulate', { C = ic, in_pixel = in_pixel,
      count_step = h.count_step, combine = h.combine }),
    finalize = template.section('pooling', 'finalize', { C = ic, out_pixel = out_pixel,
      store = E:store(node, 'y[c]', h.result, 'c'), post = E:post(node, 'y', ic) }),
  })
end

return M
