-- cnnc.layers.window3d: the sliding window in three dimensions, shared by Conv3D
-- (cnnc.layers.conv3d) and MaxPooling3D/AveragePooling3D (cnnc.layers.pooling3d) on
-- (depth, height, width, channels) data: geometry, the reference loop over window cells,
-- and the C loop nest (templates/window3d.c), whose bodies are those of the 2-D layers.
-- Not a layer itself.

local template = require 'cnnc.template'
local util = require 'cnnc.util'
local window = require 'cnnc.window'

local M = {}

-- Per axis: n, k, s, d, before, after (padding), limit (count_include_pad), o.
-- k, s, d: per-axis kernel, strides and dilations.
function M.geometry(node, in_shape, k, s, d)
  local p = node.p
  local axes = {}
  for i = 1, 3 do
    local n = in_shape[i]
    local before, after
    if node.pads or p.pads then
      local pads = node.pads or p.pads
      before, after = pads[i][1], pads[i][2]
    else
      before, after = window.pads(n, k[i], s[i], d[i], p.padding)
    end
    local a = { n = n, k = k[i], s = s[i], d = d[i], before = before, after = after, limit = n + after }
    a.o = window.out_len(n, k[i], s[i], d[i], before, after)
    if p.ceil_mode and a.o then
      local span = (k[i] - 1) * d[i] + 1
      local o = math.ceil((n + before + after - span) / s[i]) + 1
      if (o - 1) * s[i] >= n + before then o = o - 1 end
      a.o = math.max(a.o, o)
    end
    if not a.o then
      util.fail(node, 'window %s does not fit the padded input %s', util.shape_x(k), util.shape_str(in_shape))
    end
    axes[i] = a
  end
  return axes
end

-- Calls tap(in_pixel, tap_index) for every window cell of output (od, oy, ox) inside the
-- input; returns the count of cells inside the padded input (count_include_pad).
function M.each_tap(node, o, tap)
  local a = node.axes
  local padded = 1
  for i = 1, 3 do
    local start = o[i] * a[i].s - a[i].before
    padded = padded * (math.min(start + a[i].k, a[i].limit) - start)
  end
  for kd = 0, a[1].k - 1 do
    local id = o[1] * a[1].s + kd * a[1].d - a[1].before
    if id >= 0 and id < a[1].n then
      for ky = 0, a[2].k - 1 do
        local iy = o[2] * a[2].s + ky * a[2].d - a[2].before
        if iy >= 0 and iy < a[2].n then
          for kx = 0, a[3].k - 1 do
            local ix = o[3] * a[3].s + kx * a[3].d - a[3].before
            if ix >= 0 and ix < a[3].n then
              tap((id * a[2].n + iy) * a[3].n + ix, (kd * a[2].k + ky) * a[3].k + kx)
            end
          end
        end
      end
    end
  end
  return padded
end

function M.describe(node)
  local a = node.axes
  local t = { string.format('%dx%dx%d, stride %dx%dx%d', a[1].k, a[2].k, a[3].k, a[1].s, a[2].s, a[3].s) }
  if a[1].d * a[2].d * a[3].d > 1 then t[#t + 1] = string.format('dilation %dx%dx%d', a[1].d, a[2].d, a[3].d) end
  local pads = {}
  for i = 1, 3 do pads[i] = a[i].before .. ',' .. a[i].after end
  t[#t + 1] = 'pad ' .. table.concat(pads, ' ')
  return table.concat(t, ', ')
end

function M.check_rank(node, in_shape)
  if #in_shape ~= 4 then
    util.fail(node, '%s needs a rank-4 input (depth, height, width, channels), got shape %s', node.op,
      util.shape_str(in_shape))
  end
end

-- Does a window cell along axis i fall outside the input (so C needs a check)?
function M.leaves(node, i)
  local x = node.axes[i]
  return x.before > 0 or (x.o - 1) * x.s + (x.k - 1) * x.d - x.before >= x.n
end

-- C index expressions of the input pixel, output pixel and window cell.
function M.c_pixels(node)
  local a = node.axes
  return string.format('((id * %d + iy) * %d + ix)', a[2].n, a[3].n),
    string.format('((od * %d + oy) * %d + ox)', a[2].o, a[3].o),
    string.format('((kd * %d + ky) * %d + kx)', a[2].k, a[3].k)
end

-- Renders the loop nest with a layer's body {init, accumulate, finalize}.
function M.c_render(node, E, body)
  local a = node.axes
  local function check(i, v)
    return M.leaves(node, i) and string.format('if (%s < 0 || %s >= %d) continue;', v, v, a[i].n) or ''
  end
  return template.section('window3d', 'window_3d', {
    fn = E:fn(node), comment = E:comment(node), OD = a[1].o, OH = a[2].o, OW = a[3].o,
    KD = a[1].k, KH = a[2].k, KW = a[3].k,
    id = window.c_index('od', a[1].s, 'kd', a[1].d, a[1].before),
    iy = window.c_index('oy', a[2].s, 'ky', a[2].d, a[2].before),
    ix = window.c_index('ox', a[3].s, 'kx', a[3].d, a[3].before),
    dcheck = check(1, 'id'), ycheck = check(2, 'iy'), xcheck = check(3, 'ix'),
    init = body.init, accumulate = body.accumulate, finalize = body.finalize,
  })
end

return M
