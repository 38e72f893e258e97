-- cnnc.layers.resize: resampling an image to another size: Keras's UpSampling1D and
-- UpSampling2D, and Resize, which carries ONNX's Resize and Upsample (set by the importer;
-- not a Keras layer, so the model language does not offer it).
--
-- Resampling is separable: every resized axis maps each output position to a few input
-- positions (taps) with weights, computed here at compile time in double (cnnc.layers.
-- resize_taps follows ONNX's Resize definition), and an output value is the sum over the
-- taps of all resized axes of the product of their weights times the input value there.
-- Keras's layers are such axes too: UpSampling repeats each value `size` times (nearest,
-- 'asymmetric' coordinates, floor), UpSampling2D's 'bilinear' is tf.image.resize's
-- bilinear (half-pixel centres, no antialiasing): ONNX's linear with 'half_pixel'.
--
-- Resize's `axes` holds one entry per item axis: false (kept) or {out, scale, mode =
-- 'nearest'|'linear'|'cubic', transform (coordinate_transformation_mode), nearest
-- (nearest_mode), cubic_a, exclude (exclude_outside), antialias, roi = {start, stop}};
-- `extrapolation` is tf_crop_and_resize's value outside the image.
--
-- C (templates/resize.c): per output position of the axes up to the last resized one,
-- the tap loops, then the run of trailing kept axes (channels, channels-last) as one
-- contiguous vector: a copy for nearest, weighted sums otherwise (in vector registers on
-- SIMD targets). Index and weight tables are constants of the layer.

local ffi = require 'ffi'
local nd = require 'cnnc.layers.nd'
local taps = require 'cnnc.layers.resize_taps'
local template = require 'cnnc.template'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

M.kinds = {
  UpSampling1D = { rank = 1, args = { { 'size', 'int', min = 1, default = 2 } } },
  UpSampling2D = { rank = 2, args = {
    { 'size', 'size', default = 2 },
    { 'data_format', 'enum', values = { channels_last = 1 } },
    { 'interpolation', 'enum', default = 'nearest', values = { nearest = 1, bilinear = 1 } },
  } },
  Resize = { rank = 0, internal = true, args = {
    { 'axes', 'values', required = true },
    { 'extrapolation', 'number', default = 0 },
  } },
}

-- The axis specs of a Keras layer.
local function keras_axes(node, in_shape)
  local p, r = node.p, node.rank
  if #in_shape ~= r + 1 then
    util.fail(node, '%s needs a rank-%d input %s, got shape %s', node.op, r + 1,
      r == 1 and '(steps, channels)' or '(height, width, channels)', util.shape_str(in_shape))
  end
  local sizes = r == 1 and { p.size } or p.size
  local axes = {}
  for i = 1, r do
    local s = sizes[i]
    if p.interpolation == 'bilinear' then
      axes[i] = { out = in_shape[i] * s, scale = s, mode = 'linear', transform = 'half_pixel' }
    else
      axes[i] = { out = in_shape[i] * s, scale = s, mode = 'nearest', transform = 'asymmetric', nearest = 'floor' }
    end
  end
  axes[r + 1] = false
  return axes
end

function M.shape(node, in_shape)
  local axes = node.op == 'Resize' and node.p.axes or keras_axes(node, in_shape)
  if type(axes) ~= 'table' or #axes ~= #in_shape then
    util.fail(node, 'axes must have one entry per input axis (%d), got %s', #in_shape, tostring(axes and #axes))
  end
  local out, tables = {}, {}
  for i, n in ipairs(in_shape) do
    local a = axes[i]
    if a then
      tables[i] = taps.table(node, a, n)
      out[i] = a.out
    else
      out[i] = n
    end
  end
  node.resize = { axes = axes, tables = tables }
  return out
end

function M.describe(node)
  local p = node.p
  if node.op == 'UpSampling1D' then return string.format('size %d', p.size) end
  if node.op == 'UpSampling2D' then return string.format('size %s, %s', util.shape_x(p.size), p.interpolation) end
  local t = {}
  for i, a in ipairs(node.resize.axes) do
    if a then
      t[#t + 1] = string.format('axis %d %d->%d %s', i, node.in_shape[i], a.out,
        a.mode == 'nearest' and ('nearest ' .. (a.nearest or 'round_prefer_floor')) or a.mode)
    end
  end
  local first = node.resize.tables[next(node.resize.tables)]
  return table.concat(t, ', ') .. (first and first.transform and (', ' .. first.transform) or '')
end

function M.macs(node)
  local n = util.prod(node.shape)
  for _, t in pairs(node.resize.tables) do n = n * t.taps end
  return n
end

-- Visits every output position in order: outside(k) where a coordinate falls outside the
-- image (tf_crop_and_resize), else tap(k, off, w) for each combination of the resized
-- axes' taps, off the input offset and w the product of their weights (taps of weight 0
-- left out, so a NaN there does not reach the output, in C too).
local function each_tap(node, outside, tap)
  local ins = node.in_shape
  local st = nd.strides(ins)
  local tables = node.resize.tables
  local axes = {}
  for i = 1, #ins do if tables[i] then axes[#axes + 1] = i end end
  local k = 0
  nd.each(node.shape, function(idx)
    local out = false
    local base = 0
    for i = 1, #ins do
      local t = tables[i]
      if t then
        if t.outside[idx[i]] then out = true end
      else
        base = base + idx[i] * st[i]
      end
    end
    if out then
      outside(k)
    else
      local function walk(j, off, w)
        if j > #axes then tap(k, off, w); return end
        local a = axes[j]
        local t = tables[a]
        for q = 0, t.taps - 1 do
          local e = idx[a] * t.taps + q
          local wq = t.w[e]
          if wq ~= 0 then walk(j + 1, off + t.idx[e] * st[a], w * wq) end
        end
      end
      walk(1, base, 1)
    end
    k = k + 1
  end)
end

-- Every output value: the sum over its taps, or the extrapolation value outside the image.
function M.reference(node, x)
  local y = tensor.new(node.shape, 'double')
  local extrapolation = node.p.extrapolation or 0
  each_tap(node, function(k) y.data[k] = extrapolation end,
    function(k, off, w) y.data[k] = y.data[k] + w * x.data[off] end)
  return y
end

-- C text of a table of numbers.
local function c_list(values, n, f)
  local t = {}
  for i = 0, n - 1 do t[#t + 1] = f(values[i]) end
  return table.concat(t, ', ')
end

-- The loops of a layer's C, forward and backward: {tables (declarations), open, close
-- (the output position loops), out_index, tap_open, tap_close, source (the input offset of
-- a tap), w (its weight; nil for nearest), nearest, C (the run of trailing kept values),
-- skip (the test of an output position outside the image, or nil)}.
local function loops(node)
  local ins, outs = node.in_shape, node.shape
  local tables = node.resize.tables
  local r = #ins
  local last = 0
  for i = 1, r do if tables[i] then last = i end end
  local C = util.prod(ins, last + 1, r)
  local st = nd.strides(ins)
  local ost = nd.strides(outs)
  local nearest = true
  for _, t in pairs(tables) do
    if t.taps > 1 or t.mode ~= 'nearest' then nearest = false end
  end
  local float = require('cnnc.emit').float_literal
  local decls, open, close, terms, oterms = {}, {}, {}, {}, {}
  local skip = {}
  for i = 1, last do
    local o = 'o' .. (i - 1)
    open[#open + 1] = template.section('resize', 'loop', { v = o, N = outs[i] })
    close[#close + 1] = '}'
    oterms[#oterms + 1] = ost[i] / C == 1 and o or string.format('%s * %d', o, ost[i] / C)
    local t = tables[i]
    if not t then
      terms[#terms + 1] = string.format('%s * %d', o, st[i])
    else
      local name = 'a' .. (i - 1)
      decls[#decls + 1] = string.format('/* axis %d: input offset%s of the %d tap%s of each output position %s */', i - 1,
        nearest and '' or 's and weights', t.taps, t.taps == 1 and '' or 's', o)
      decls[#decls + 1] = string.format('static const int %s_idx[%d] = {%s};', name, outs[i] * t.taps,
        c_list(t.idx, outs[i] * t.taps, function(v) return tostring(v * st[i]) end))
      if not nearest then
        decls[#decls + 1] = string.format('static const float %s_w[%d] = {%s};', name, outs[i] * t.taps,
          c_list(t.w, outs[i] * t.taps, function(v) return float(tonumber(ffi.new('float', v))) end))
      end
      if t.any_outside then
        skip[#skip + 1] = string.format('%s_idx[%s * %d] < 0', name, o, t.taps)
      end
    end
  end
  -- The tap loops, innermost last, each adding its axis's offset and weight.
  local tap_open, tap_close, src, w = {}, {}, { table.concat(terms, ' + ') }, nil
  for i = 1, last do
    local t = tables[i]
    if t then
      local name, q = 'a' .. (i - 1), 't' .. (i - 1)
      local e = string.format('o%d * %d + %s', i - 1, t.taps, q)
      if t.taps == 1 then e = 'o' .. (i - 1) end
      if t.taps > 1 then
        tap_open[#tap_open + 1] = template.section('resize', 'loop', { v = q, N = t.taps })
        tap_close[#tap_close + 1] = '}'
      end
      src[#src + 1] = string.format('%s_idx[%s]', name, e)
      if not nearest then
        local wi = string.format('%s_w[%s]', name, e)
        w = w and (w .. ' * ' .. wi) or wi
      end
    end
  end
  local l = {}
  for _, x in ipairs(src) do if x ~= '' then l[#l + 1] = x end end
  return { tables = table.concat(decls, '\n'), open = table.concat(open, '\n'), close = table.concat(close, '\n'),
    out_index = #oterms > 0 and table.concat(oterms, ' + ') or '0', tap_open = table.concat(tap_open, '\n'),
    tap_close = table.concat(tap_close, '\n'), source = table.concat(l, ' + '), w = w, nearest = nearest, C = C,
    skip = #skip > 0 and table.concat(skip, ' || ') or nil }
end

function M.emit(node, E)
  local L = loops(node)
  local C = L.C
  local h = { fn = E:fn(node), comment = E:comment(node), tables = L.tables, open = L.open, close = L.close, C = C,
    out_index = L.out_index,
    skip = L.skip and template.section('resize', 'outside', { test = L.skip, C = C,
      value = util.c_float(node.p.extrapolation or 0) }) or '' }
  local body
  if L.nearest then
    body = template.section('resize', 'copy', { source = L.source, C = C })
  elseif E.simd and C >= E.target.width then
    body = template.section('resize', 'weighted_simd', { C = C, CV = C - C % E.target.width,
      tap_open = L.tap_open, tap_close = L.tap_close, source = L.source, w = L.w })
  else
    body = template.section('resize', 'weighted', { C = C, tap_open = L.tap_open, tap_close = L.tap_close,
      source = L.source, w = L.w })
  end
  h.body = body
  return template.section('resize', 'layer', h)
end

-- Backward: each output value's gradient goes back to the input values it was made of,
-- times their weights (nothing from a position outside the image, whose value is the
-- constant extrapolation, nor through a tap of weight 0, which the forward pass skips).
function M.backward(node, _, _, _, dy)
  local dx = tensor.new(node.in_shape, 'double')
  each_tap(node, function() end, function(k, off, w) dx.data[off] = dx.data[off] + w * dy.data[k] end)
  return dx
end

function M.backward_reads() return {} end

-- Backward code: the forward loops, each output run's gradient added into the input
-- gradient at its taps.
function M.emit_backward(node, E)
  local L = loops(node)
  local fn = E:backward_fn(node, 'input')
  local text = template.section('resize', 'backward', { fn = fn, tables = L.tables, open = L.open, close = L.close,
    C = L.C, IN_SIZE = util.prod(node.in_shape), out_index = L.out_index,
    skip = L.skip and ('if (' .. L.skip .. ') continue;') or '', tap_open = L.tap_open, tap_close = L.tap_close,
    source = L.source, w = L.w or '1.0f',
    comment = util.c_comment(node.name .. ': the input gradient, the output gradient spread back over the taps') })
  return text, { { fn = fn, args = { 'dx', 'dy' }, input = true } }
end

return M
