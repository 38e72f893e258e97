-- cnnc.layers.resize_taps: the taps of one resized axis for cnnc.layers.resize: for each
-- output position, which input positions it reads and with what weights, by ONNX's
-- Resize definition (the reference implementation's formulas, in double). Not a layer.
--
-- Coordinates (x: output position, s: scale, n: input length, L: scale * n, the output
-- length before rounding):
--   half_pixel            (x + 0.5) / s - 0.5
--   half_pixel_symmetric  half_pixel shifted by n/2 * (1 - out / L) (opset 19)
--   pytorch_half_pixel    as half_pixel, but -0.5 when L is 1
--   align_corners         x * (n - 1) / (L - 1), 0 when L is 1
--   asymmetric            x / s
--   tf_half_pixel_for_nn  (x + 0.5) / s (opsets 11 and 12)
--   tf_crop_and_resize    start * (n - 1) + x * (stop - start) * (n - 1) / (L - 1), outside
--                         [0, n - 1]: the extrapolation value
-- Then with i = floor(c), t = c - i: nearest takes i or i + 1 by nearest_mode
-- (round_prefer_floor: i + 1 when t > 0.5; round_prefer_ceil: when t >= 0.5; floor; ceil);
-- linear reads i, i + 1 with 1 - t, t; cubic i - 1 .. i + 2 with Keys' coefficients of
-- parameter a (cubic_coeff_a). With antialias (opset 18) and s < 1, linear and cubic
-- kernels are stretched by 1 / s and normalised. Positions past the edges read the edge
-- (or, with exclude_outside, get weight 0 and the others are normalised).

local util = require 'cnnc.util'

local M = {}

-- Source coordinate of output position x.
function M.coordinate(spec, x, n)
  local s, L = spec.scale, spec.scale * n
  local tr = spec.transform or 'half_pixel'
  if tr == 'half_pixel' then return (x + 0.5) / s - 0.5 end
  if tr == 'half_pixel_symmetric' then
    local adjustment = spec.out / L
    return n / 2 * (1 - adjustment) + (x + 0.5) / s - 0.5
  end
  if tr == 'pytorch_half_pixel' then return L == 1 and -0.5 or (x + 0.5) / s - 0.5 end
  if tr == 'align_corners' then return L == 1 and 0 or x * (n - 1) / (L - 1) end
  if tr == 'asymmetric' then return x / s end
  if tr == 'tf_half_pixel_for_nn' then return (x + 0.5) / s end
  if tr == 'tf_crop_and_resize' then
    local a, b = spec.roi[1], spec.roi[2]
    if L == 1 then return (b - a) * (n - 1) / 2 + a * (n - 1) end
    return x * (b - a) * (n - 1) / (L - 1) + a * (n - 1)
  end
  error('cnnc: unknown coordinate transformation ' .. tostring(tr))
end

local function cubic(x, a)
  x = math.abs(x)
  if x <= 1 then return ((a + 2) * x - (a + 3)) * x * x + 1 end
  if x < 2 then return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a end
  return 0
end

-- Offsets (from floor(c)) and weights of the taps for fraction t.
local function kernel(spec, t)
  local mode = spec.mode
  if mode == 'nearest' then
    local nm = spec.nearest or 'round_prefer_floor'
    local up
    if t == 0 then up = false
    elseif nm == 'round_prefer_floor' then up = t > 0.5
    elseif nm == 'round_prefer_ceil' then up = t >= 0.5
    elseif nm == 'floor' then up = false
    else up = true end
    return { up and 1 or 0 }, { 1 }
  end
  local s = spec.antialias and math.min(spec.scale, 1) or 1
  local offs, ws = {}, {}
  if mode == 'linear' then
    local first = math.floor(-1 / s) + 1
    for o = first, 1 - first do
      offs[#offs + 1] = o
      ws[#ws + 1] = math.max(0, math.min(1, 1 - math.abs((o - t) * s)))
    end
  else
    local a = spec.cubic_a or -0.75
    local first = math.floor(-2 / s) + 1
    for o = first, 2 - first - 1 do
      offs[#offs + 1] = o
      ws[#ws + 1] = cubic((o - t) * s, a)
    end
  end
  if spec.antialias then
    local sum = 0
    for _, w in ipairs(ws) do sum = sum + w end
    for i = 1, #ws do ws[i] = ws[i] / sum end
  end
  return offs, ws
end

-- The table of an axis of input length n: {taps, idx[o * taps + q] (0-based input
-- position, -1 where outside), w[...], outside[o], any_outside, mode, transform}.
function M.table(node, spec, n)
  local mode = spec.mode
  if mode ~= 'nearest' and mode ~= 'linear' and mode ~= 'cubic' then
    util.fail(node, "mode '%s' is not one of nearest, linear, cubic", tostring(mode))
  end
  if not spec.out or spec.out < 1 or not spec.scale or spec.scale <= 0 then
    util.fail(node, 'a resized axis needs an output length >= 1 and a scale > 0')
  end
  local rows = {}
  local width = 1
  for x = 0, spec.out - 1 do
    local c = M.coordinate(spec, x, n)
    local row = { outside = false }
    if spec.transform == 'tf_crop_and_resize' and (c < 0 or c > n - 1) then
      row.outside = true
      row.offs, row.ws, row.i = { 0 }, { 0 }, -1
    else
      local i = math.floor(c)
      row.i = i
      row.offs, row.ws = kernel(spec, c - i)
      if spec.exclude then
        local sum = 0
        for q, o in ipairs(row.offs) do
          if i + o < 0 or i + o >= n then row.ws[q] = 0 end
          sum = sum + row.ws[q]
        end
        if sum ~= 0 then for q = 1, #row.ws do row.ws[q] = row.ws[q] / sum end end
      end
    end
    width = math.max(width, #row.offs)
    rows[x] = row
  end
  local t = { taps = width, idx = {}, w = {}, outside = {}, any_outside = false, mode = mode,
    transform = spec.transform }
  for x = 0, spec.out - 1 do
    local row = rows[x]
    t.outside[x] = row.outside
    if row.outside then t.any_outside = true end
    for q = 1, width do
      local e = x * width + q - 1
      if row.outside then
        t.idx[e], t.w[e] = -1, 0
      elseif row.offs[q] then
        t.idx[e] = math.max(0, math.min(n - 1, row.i + row.offs[q]))
        t.w[e] = row.ws[q]
      else
        t.idx[e], t.w[e] = 0, 0
      end
    end
  end
  return t
end

return M
