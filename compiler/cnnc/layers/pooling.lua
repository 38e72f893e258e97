-- cnnc.layers.pooling: Max, Average, LP and WeightedAverage pooling, 1-D and 2-D.
--
-- All four use the sliding-window skeleton (cnnc.window) with one accumulator per channel;
-- they differ only in how a cell is combined and how the result is finished:
--   max       the largest cell (NaN if a cell is NaN, cnnc.ieee); padded cells are ignored
--   average   the mean of the cells inside the input (padded cells are not counted)
--   lp        (sum |x|^p)^(1/p) (ONNX LpPool); padded cells add nothing
--   weighted  sum w*x with Gaussian weights w = exp(-d^2 / (2 sigma^2)) by distance d from
--             the window centre, normalised to sum 1 over the cells inside the input
-- Strides default to the pool size, as in Keras.
--
-- ONNX options, set by the importer (not part of the Keras signature): p.pads (explicit
-- {{top, bottom}, {left, right}}, or {{left, right}} in 1-D, replacing `padding`),
-- p.dilation_rate, p.ceil_mode (output size rounded up; a last window may hang past the
-- padded input, and its cells there count for nothing) and p.count_include_pad (average
-- pooling divides by the cells inside the padded input, not only those inside the input).

local ieee = require 'cnnc.ieee'
local tensor = require 'cnnc.tensor'
local template = require 'cnnc.template'
local util = require 'cnnc.util'
local window = require 'cnnc.window'

local M = {}

local function args(rank, extra)
  local a = {
    { 'pool_size', 'size', default = 2 },
    { 'strides', 'size' },
    { 'padding', 'enum', default = 'valid', values = { valid = 1, same = 1 } },
    { 'data_format', 'enum', values = { channels_last = 1 } },
  }
  if extra then a[#a + 1] = extra end
  return { rank = rank, args = a }
end

M.kinds = {
  MaxPooling1D = args(1), MaxPooling2D = args(2),
  AveragePooling1D = args(1), AveragePooling2D = args(2),
  LPPooling1D = args(1, { 'p', 'number', default = 2 }), LPPooling2D = args(2, { 'p', 'number', default = 2 }),
  WeightedAveragePooling2D = args(2, { 'sigma', 'number', default = 1.0 }),
}
M.epilogue = true

-- Output rows (1-D: positions) are the parts threads share.
function M.units(node) return window.units(node.g) end

local function mode(node)
  local op = node.op
  if op:match('^Max') then return 'max' end
  if op:match('^Average') then return 'average' end
  if op:match('^LP') then return 'lp' end
  return 'weighted'
end

-- A max or average pool whose windows tile its input exactly (pool size = strides, no
-- padding, no dilation): what a convolution kernel may compute in its registers
-- (cnnc.passes.select). Returns {mode, kh, kw, ih, iw, oh, ow} or nil.
function M.register_pool(node)
  local m, q = mode(node), node.g
  if (m ~= 'max' and m ~= 'average') or not q then return nil end
  if q.pt + q.pb + q.pl + q.pr ~= 0 or q.dh ~= 1 or q.dw ~= 1 or q.sh ~= q.kh or q.sw ~= q.kw then return nil end
  return { mode = m, kh = q.kh, kw = q.kw, ih = q.ih, iw = q.iw, oh = q.oh, ow = q.ow }
end

function M.shape(node, in_shape)
  if #in_shape ~= node.rank + 1 then
    util.fail(node, '%s needs a rank-%d input %s, got shape %s', node.op, node.rank + 1,
      node.rank == 1 and '(steps, channels)' or '(height, width, channels)', util.shape_str(in_shape))
  end
  local p = node.p
  if p.p and p.p <= 0 then util.fail(node, 'p must be > 0, got %g', p.p) end
  if p.sigma and p.sigma <= 0 then util.fail(node, 'sigma must be > 0, got %g', p.sigma) end
  local ones = {}
  for i = 1, node.rank do ones[i] = 1 end
  local g = window.geometry(node, in_shape, p.pool_size, p.strides or p.pool_size, p.dilation_rate or ones,
    p.pads or p.padding)
  -- The divisor of count_include_pad counts cells before these limits (the real padding).
  g.ylim, g.xlim = g.ih + g.pb, g.iw + g.pr
  if p.ceil_mode then
    local function ceil_extra(n, k, s, d, before, after)
      local span = (k - 1) * d + 1
      local out = math.ceil((n + before + after - span) / s) + 1
      if (out - 1) * s >= n + before then out = out - 1 end
      return math.max(0, (out - 1) * s + span - (n + before + after))
    end
    local ey = g.rank == 2 and ceil_extra(g.ih, g.kh, g.sh, g.dh, g.pt, g.pb) or 0
    local ex = ceil_extra(g.iw, g.kw, g.sw, g.dw, g.pl, g.pr)
    if ey + ex > 0 then
      local pads = g.rank == 1 and { { g.pl, g.pr + ex } } or { { g.pt, g.pb + ey }, { g.pl, g.pr + ex } }
      local ylim, xlim = g.ylim, g.xlim
      g = window.geometry(node, in_shape, p.pool_size, p.strides or p.pool_size, p.dilation_rate or ones, pads)
      g.ylim, g.xlim = ylim, xlim
    end
  end
  node.g = g
  return window.out_shape(node.g, node.g.ic)
end

-- count_include_pad: cells of the window inside the padded input, along one axis.
local function padded_cells(o, s, k, before, limit)
  local start = o * s - before
  return math.min(start + k, limit) - start
end

-- Gaussian window weights (kh*kw, row-major), normalised to sum 1.
local function gaussian(g, sigma)
  local w, s = {}, 0
  local cy, cx = (g.kh - 1) / 2, (g.kw - 1) / 2
  for ky = 0, g.kh - 1 do
    for kx = 0, g.kw - 1 do
      local v = math.exp(-((ky - cy) ^ 2 + (kx - cx) ^ 2) / (2 * sigma * sigma))
      w[ky * g.kw + kx] = v
      s = s + v
    end
  end
  for i = 0, g.kh * g.kw - 1 do w[i] = w[i] / s end
  return w
end


function M.describe(node)
  local extra = node.p.p and string.format(', p %g', node.p.p) or (node.p.sigma and string.format(', sigma %g', node.p.sigma) or '')
  if node.p.ceil_mode then extra = extra .. ', ceil mode' end
  if node.p.count_include_pad then extra = extra .. ', padding counted' end
  return window.describe(node.g) .. extra
end

function M.reference(node, x)
  local g, m, c_n = node.g, mode(node), node.g.ic
  local p = node.p.p
  local wts = m == 'weighted' and gaussian(g, node.p.sigma)
  local y = tensor.new(node.shape, 'double')
  for oy = 0, g.oh - 1 do
    for ox = 0, g.ow - 1 do
      local base = (oy * g.ow + ox) * c_n
      for c = 0, c_n - 1 do
        local acc, count = m == 'max' and -math.huge or 0, 0
        window.each_tap(g, oy, ox, function(iy, ix, ky, kx)
          local v = x.data[(iy * g.iw + ix) * c_n + c]
          if m == 'max' then acc = ieee.max(acc, v); count = count + 1
          elseif m == 'average' then acc = acc + v; count = count + 1
          elseif m == 'lp' then acc = acc + math.abs(v) ^ p
          else
            local w = wts[ky * g.kw + kx]
            acc, count = acc + w * v, count + w
          end
        end)
        if m == 'average' and node.p.count_include_pad then
          count = padded_cells(oy, g.sh, g.kh, g.pt, g.ylim) * padded_cells(ox, g.sw, g.kw, g.pl, g.xlim)
        end
        if m == 'average' or m == 'weighted' then acc = acc / count
        elseif m == 'lp' then acc = acc ^ (1 / p) end
        y.data[base + c] = acc
      end
    end
  end
  return y
end

-- Backward (reference, double): dy is the gradient of the output before the epilogue.
--   max       all of a window's dy goes to its first maximal cell in row-major window
--             order (PyTorch, TensorFlow); a NaN cell counts as maximal, as in the forward
--   average   dy / count to every counted cell
--   lp        dy * sign(v) * (|v| / y)^(p - 1) to cell v; 0 to a cell v = 0 (the
--             derivative of |v| there is taken as 0, torch.abs's) and to every cell of a
--             window whose result y is 0 (torch.linalg.vector_norm's choice at 0)
--   weighted  dy * w / (sum of w) to every cell
function M.backward(node, x, y, _, dy)
  local g, m, c_n = node.g, mode(node), node.g.ic
  local p = node.p.p
  local wts = m == 'weighted' and gaussian(g, node.p.sigma)
  local dx = tensor.new(node.in_shape, 'double')
  local xd, dxd = x.data, dx.data
  for oy = 0, g.oh - 1 do
    for ox = 0, g.ow - 1 do
      local base = (oy * g.ow + ox) * c_n
      for c = 0, c_n - 1 do
        local d = dy.data[base + c]
        if m == 'max' then
          local best, at = -math.huge, nil
          window.each_tap(g, oy, ox, function(iy, ix)
            local i = (iy * g.iw + ix) * c_n + c
            local v = xd[i]
            if not at or v > best or (v ~= v and best == best) then best, at = v, i end
          end)
          if at then dxd[at] = dxd[at] + d end -- (an ONNX ceil-mode window may hold no cell)
        else
          local count = 0
          if m == 'average' and node.p.count_include_pad then
            count = padded_cells(oy, g.sh, g.kh, g.pt, g.ylim) * padded_cells(ox, g.sw, g.kw, g.pl, g.xlim)
          elseif m ~= 'lp' then
            window.each_tap(g, oy, ox, function(_, _, ky, kx) count = count + (wts and wts[ky * g.kw + kx] or 1) end)
          end
          local yv = y.data[base + c]
          window.each_tap(g, oy, ox, function(iy, ix, ky, kx)
            local i = (iy * g.iw + ix) * c_n + c
            local share
            if m == 'average' then share = 1 / count
            elseif m == 'weighted' then share = wts[ky * g.kw + kx] / count
            else
              local v = xd[i]
              if v == 0 or yv == 0 then share = 0
              else share = (v > 0 and 1 or -1) * (math.abs(v) / yv) ^ (p - 1) end
            end
            dxd[i] = dxd[i] + d * share
          end)
        end
      end
    end
  end
  return dx
end

local function lp_terms(p)
  if p == 2 then return 'x[c] * x[c]', 'sqrtf(acc[c])' end
  if p == 1 then return 'fabsf(x[c])', 'acc[c]' end
  return string.format('powf(fabsf(x[c]), %s)', util.c_float(p)), string.format('powf(acc[c], %s)', util.c_float(1 / p))
end

-- Backward code: the output gradient routed back through each window, added into dx
-- (zeroed first): max to the window's first maximal cell (recomputed from the input),
-- average and weighted average by each cell's share (a table of shares per output
-- pixel when padding makes them differ), LP by sign(v) (|v| / y)^(p - 1) with y
-- recomputed as the forward computes it. Max and LP read the input.
function M.backward_reads(node)
  local m = mode(node)
  return { x = m == 'max' or m == 'lp' }
end

function M.backward_refusal(node)
  local g, p = node.g, node.p
  if p.ceil_mode or p.count_include_pad or g.dh ~= 1 or g.dw ~= 1 then
    return 'pooling with ONNX options (ceil mode, padding counted, dilation) has no backward code'
  end
end

-- Share of each window cell inside the input, per output pixel, in the reference's terms:
-- a table [output pixel][window cell] (average: 1 / cells inside; weighted: w / sum of w
-- inside).
local function shares(node)
  local g, m = node.g, mode(node)
  local wts = m == 'weighted' and gaussian(g, node.p.sigma)
  local vals = {}
  for oy = 0, g.oh - 1 do
    for ox = 0, g.ow - 1 do
      local count = 0
      window.each_tap(g, oy, ox, function(_, _, ky, kx) count = count + (wts and wts[ky * g.kw + kx] or 1) end)
      for t = 0, g.kh * g.kw - 1 do vals[#vals + 1] = (wts and wts[t] or 1) / count end
    end
  end
  return vals
end

function M.emit_backward(node, E)
  local g, m, C = node.g, mode(node), node.g.ic
  local ip, op = window.c_in_pixel(g), window.c_out_pixel(g)
  local pixel
  if m == 'max' then
    pixel = template.section('backward', 'pool_max_pixel', { out_pixel = op, C = C,
      taps = window.c_taps(g, template.section('backward', 'pool_max_tap', { in_pixel = ip, C = C })) })
  elseif m == 'lp' then
    local p = node.p.p
    local term, result = lp_terms(p)
    local share = p == 2 and 'v / y[c]' or p == 1 and '(v > 0.0f ? 1.0f : -1.0f)'
      or string.format('(v > 0.0f ? 1.0f : -1.0f) * powf(fabsf(v) / y[c], %s)', util.c_float(p - 1))
    pixel = template.section('backward', 'pool_lp_pixel', { out_pixel = op, C = C, result = result:gsub('acc%[c%]', 'y[c]'),
      sum_taps = window.c_taps(g, template.section('backward', 'pool_lp_sum', { in_pixel = ip, C = C,
        term = term:gsub('x%[c%]', 'xv[c]') })),
      share_taps = window.c_taps(g, template.section('backward', 'pool_lp_share', { in_pixel = ip, C = C, share = share })) })
  else
    local padded = window.needs_ycheck(g) or window.needs_xcheck(g)
    local share, weight
    if m == 'average' and not padded then
      share, weight = '', string.format('const float s = %s;', util.c_float(1 / (g.kh * g.kw)))
    else
      local tname = E:constant(node, 'cell_share', shares(node), string.format('%s: each window cell\'s share of '
        .. 'its window\'s gradient, per output pixel (%s)', node.name, m == 'average' and '1 / cells inside the input'
        or 'Gaussian weight / sum of the weights inside the input'))
      share = string.format('const float *sh = &%s[%s * %d];', tname, op, g.kh * g.kw)
      weight = string.format('const float s = sh[%s];', window.c_tap(g))
    end
    pixel = template.section('backward', 'pool_share_pixel', { out_pixel = op, C = C, share = share,
      taps = window.c_taps(g, template.section('backward', 'pool_share_tap', { in_pixel = ip, C = C, weight = weight })) })
  end
  local reads_x = M.backward_reads(node).x
  local fn = E:backward_fn(node, 'input')
  local text = template.section('backward', 'window_input', { fn = fn,
    params = (reads_x and ', const float *restrict x' or '') .. ', const float *restrict dy',
    comment = util.c_comment(string.format('%s: the input gradient, each window\'s dy %s', node.name,
      m == 'max' and 'to its first maximal cell' or m == 'lp' and 'by sign(x) (|x| / y)^(p - 1)'
      or 'shared among its cells')),
    IN_SIZE = util.prod(node.in_shape), loops = window.c_pixels(g, pixel) })
  return text, { { fn = fn, args = reads_x and { 'dx', 'x', 'dy' } or { 'dx', 'dy' }, input = true } }
end

function M.emit(node, E)
  local g, m = node.g, mode(node)
  local padded = window.needs_ycheck(g) or window.needs_xcheck(g)
  local cells = g.kh * g.kw
  local h = { start = '0.0f', count_init = '', count_step = '' }
  if m == 'max' then
    h.start, h.combine, h.result = '-INFINITY', ieee.c_max_into('acc[c]', 'x[c]'), 'acc[c]'
  elseif m == 'average' then
    h.combine = 'acc[c] += x[c];'
    if node.p.count_include_pad and padded then
      local function inside(o, s, k, before, limit)
        local start = window.c_index(o, s, '0', 1, before)
        return string.format('(%s + %d <= %d ? %d : %d - (%s))', start, k, limit, k, limit, start)
      end
      local n = inside('ox', g.sw, g.kw, g.pl, g.xlim)
      if g.rank == 2 then n = inside('oy', g.sh, g.kh, g.pt, g.ylim) .. ' * ' .. n end
      h.count_init, h.result = 'const float n = (float)(' .. n .. ');', 'acc[c] / n'
    elseif padded then
      h.count_init, h.count_step, h.result = 'int n = 0;', '++n;', 'acc[c] / (float)n'
    else
      h.result = string.format('acc[c] / %d.0f', cells)
    end
  elseif m == 'lp' then
    local term, result = lp_terms(node.p.p)
    h.combine, h.result = 'acc[c] += ' .. term .. ';', result
  else
    local w, vals = gaussian(g, node.p.sigma), {}
    for i = 0, g.kh * g.kw - 1 do vals[i + 1] = w[i] end
    local wname = E:constant(node, 'window', vals,
      string.format('%s: Gaussian window weights, sigma %g, normalised to sum 1', node.name, node.p.sigma))
    h.combine = 'acc[c] += wt * x[c];'
    h.count_step = string.format('const float wt = %s[%s];', wname, window.c_tap(g))
    if padded then
      h.count_init = 'float wsum = 0.0f;'
      h.count_step = h.count_step .. '\nwsum += wt;'
      h.result = 'acc[c] / wsum'
    else
      h.result = 'acc[c]'
    end
  end
  local c = g.ic
  local body = {
    init = template.section('pooling', 'init', { C = c, start = h.start, count_init = h.count_init }),
    accumulate = template.section('pooling', 'accumulate', { C = c, in_pixel = window.c_in_pixel(g),
      count_step = h.count_step, combine = h.combine }),
    finalize = template.section('pooling', 'finalize', { C = c, out_pixel = window.c_out_pixel(g),
      store = E:store(node, 'y[c]', h.result, 'c'), post = E:post(node, 'y', c) }),
  }
  return window.c_render(g, E:fn(node), E:comment(node), body, E, node)
end

return M
