-- cnnc.window: the sliding-window geometry shared by convolution, locally connected and
-- pooling layers, and the loop skeleton they share in reference code and in C.
--
-- Everything is 2-D inside: a 1-D layer is a 2-D one with height 1 (steps become width),
-- so one skeleton serves both. A geometry `g` holds input (ih, iw, ic), window (kh, kw),
-- strides (sh, sw), dilations (dh, dw), explicit pads (pt, pb, pl, pr) and output (oh, ow).
-- Keras rules: 'valid' pads nothing; 'same' gives out = ceil(in/stride) and puts the smaller
-- half of the padding first; 'causal' (1-D) puts all (k-1)*dilation padding first.

local util = require 'cnnc.util'

local M = {}

-- Pads for one axis: returns before, after.
function M.pads(n, k, s, d, mode)
  if mode == 'valid' then return 0, 0 end
  if mode == 'causal' then return (k - 1) * d, 0 end
  local out = math.ceil(n / s)
  local total = math.max((out - 1) * s + (k - 1) * d + 1 - n, 0)
  local before = math.floor(total / 2)
  return before, total - before
end

-- Output length of one axis with explicit pads (nil when the window does not fit).
function M.out_len(n, k, s, d, before, after)
  local span = (k - 1) * d + 1
  local padded = n + before + after
  if span > padded then return nil end
  return math.floor((padded - span) / s) + 1
end

-- Builds the geometry for a node. shape: the Keras input shape ({steps, C} or {H, W, C});
-- k, s, d: per-axis lists of the node's rank; mode: 'valid'|'same'|'causal' or explicit
-- {{before, after}, ...} pads. Fails (naming the node) when the window does not fit.
function M.geometry(node, shape, k, s, d, mode)
  local rank = #k
  local g = { rank = rank }
  if rank == 1 then
    g.ih, g.iw, g.ic = 1, shape[1], shape[2]
    g.kh, g.kw, g.sh, g.sw, g.dh, g.dw = 1, k[1], 1, s[1], 1, d[1]
  else
    g.ih, g.iw, g.ic = shape[1], shape[2], shape[3]
    g.kh, g.kw, g.sh, g.sw, g.dh, g.dw = k[1], k[2], s[1], s[2], d[1], d[2]
  end
  if type(mode) == 'table' then
    if rank == 1 then g.pt, g.pb, g.pl, g.pr = 0, 0, mode[1][1], mode[1][2]
    else g.pt, g.pb, g.pl, g.pr = mode[1][1], mode[1][2], mode[2][1], mode[2][2] end
  else
    g.pt, g.pb = 0, 0
    if rank == 2 then g.pt, g.pb = M.pads(g.ih, g.kh, g.sh, g.dh, mode) end
    g.pl, g.pr = M.pads(g.iw, g.kw, g.sw, g.dw, mode)
  end
  g.oh = M.out_len(g.ih, g.kh, g.sh, g.dh, g.pt, g.pb)
  g.ow = M.out_len(g.iw, g.kw, g.sw, g.dw, g.pl, g.pr)
  if not g.oh or not g.ow then
    local span = rank == 1 and tostring((g.kw - 1) * g.dw + 1)
      or string.format('%dx%d', (g.kh - 1) * g.dh + 1, (g.kw - 1) * g.dw + 1)
    local padded = rank == 1 and tostring(g.iw + g.pl + g.pr)
      or string.format('%dx%d', g.ih + g.pt + g.pb, g.iw + g.pl + g.pr)
    util.fail(node, 'window %s (kernel %s, dilation %s) is larger than the padded input %s (input shape %s)',
      span, util.shape_x(k), util.shape_x(d), padded, util.shape_str(shape))
  end
  return g
end

-- The Keras output shape for a geometry with `c` output channels.
function M.out_shape(g, c)
  if g.rank == 1 then return { g.ow, c } end
  return { g.oh, g.ow, c }
end

function M.padded(g) return g.pt + g.pb + g.pl + g.pr > 0 end

-- Does some window tap fall outside the input along an axis? (Only then does C need checks.)
local function axis_leaves(n, k, s, d, before, o)
  return before > 0 or (o - 1) * s + (k - 1) * d - before >= n
end

function M.needs_ycheck(g) return axis_leaves(g.ih, g.kh, g.sh, g.dh, g.pt, g.oh) end
function M.needs_xcheck(g) return axis_leaves(g.iw, g.kw, g.sw, g.dw, g.pl, g.ow) end

-- Reference skeleton: calls tap(iy, ix, ky, kx) for every window cell of output (oy, ox)
-- that lies inside the input (0-based indices).
function M.each_tap(g, oy, ox, tap)
  for ky = 0, g.kh - 1 do
    local iy = oy * g.sh + ky * g.dh - g.pt
    if iy >= 0 and iy < g.ih then
      for kx = 0, g.kw - 1 do
        local ix = ox * g.sw + kx * g.dw - g.pl
        if ix >= 0 and ix < g.iw then tap(iy, ix, ky, kx) end
      end
    end
  end
end

-- Short description for comments and the summary: "3x3 s2 d1 same(0,1,0,1)".
function M.describe(g)
  local k = g.rank == 1 and tostring(g.kw) or (g.kh .. 'x' .. g.kw)
  local s = g.rank == 1 and tostring(g.sw) or (g.sh .. 'x' .. g.sw)
  local parts = { k, 'stride ' .. s }
  if g.dh ~= 1 or g.dw ~= 1 then
    parts[#parts + 1] = 'dilation ' .. (g.rank == 1 and tostring(g.dw) or (g.dh .. 'x' .. g.dw))
  end
  if M.padded(g) then
    parts[#parts + 1] = g.rank == 1 and string.format('pad %d,%d', g.pl, g.pr)
      or string.format('pad t%d b%d l%d r%d', g.pt, g.pb, g.pl, g.pr)
  end
  return table.concat(parts, ', ')
end

-- The holes of templates/window.c for geometry g. `body` holds the layer's init,
-- accumulate and finalize text; the skeleton supplies loops and bounds checks.
function M.c_holes(g, fn, comment, body)
  local h = {
    fn = fn, comment = comment,
    OH = g.oh, OW = g.ow, KH = g.kh, KW = g.kw,
    iy = M.c_index('oy', g.sh, 'ky', g.dh, g.pt), ix = M.c_index('ox', g.sw, 'kx', g.dw, g.pl),
    ycheck = M.needs_ycheck(g) and string.format('if (iy < 0 || iy >= %d) continue;', g.ih) or '',
    xcheck = M.needs_xcheck(g) and string.format('if (ix < 0 || ix >= %d) continue;', g.iw) or '',
    init = body.init, accumulate = body.accumulate, finalize = body.finalize,
  }
  if g.rank == 1 then
    h.OH, h.KH, h.iy, h.ycheck = nil, nil, nil, nil
  end
  return h
end

-- "oy * 2 + ky - 1", without the factors of one and terms of zero.
function M.c_index(o, s, k, d, pad)
  local e = (s == 1 and o or (o .. ' * ' .. s)) .. ' + ' .. (d == 1 and k or (k .. ' * ' .. d))
  if pad > 0 then e = e .. ' - ' .. pad end
  return e
end

-- C index of input pixel (iy, ix) and output pixel (oy, ox), in elements of one pixel.
function M.c_in_pixel(g) return g.rank == 1 and 'ix' or string.format('(iy * %d + ix)', g.iw) end
function M.c_out_pixel(g) return g.rank == 1 and 'ox' or string.format('(oy * %d + ox)', g.ow) end
function M.c_tap(g) return g.rank == 1 and 'kx' or string.format('(ky * %d + kx)', g.kw) end

-- The skeleton's loops as pieces, for code that needs them apart (backward code: a window
-- visited twice, or the output pixels without a window): `body` run for every output pixel
-- (oy, ox), and for every window cell inside the input (ky, kx at iy, ix).
function M.c_pixels(g, body)
  local template = require 'cnnc.template'
  return template.section('window', g.rank == 1 and 'pixels_1d' or 'pixels_2d', { OH = g.rank == 2 and g.oh or nil,
    OW = g.ow, body = body })
end

function M.c_taps(g, body)
  local template = require 'cnnc.template'
  local h = M.c_holes(g, '', '', { init = '', accumulate = '', finalize = '' })
  return template.section('window', g.rank == 1 and 'taps_1d' or 'taps_2d', { KH = h.KH, KW = h.KW, iy = h.iy,
    ix = h.ix, ycheck = h.ycheck, xcheck = h.xcheck, body = body })
end

-- The parts a layer on this skeleton can be cut into for threads: its output rows (1-D:
-- positions).
function M.units(g) return g.rank == 1 and g.ow or g.oh end

-- Renders the shared skeleton (templates/window.c) for g. With E and node given and more
-- than one thread, the function takes (part, parts): part p of N computes output rows (1-D:
-- positions) p * OH / N up to the next part's, and E learns it may be shared.
function M.c_render(g, fn, comment, body, E, node)
  local template = require 'cnnc.template'
  local h = M.c_holes(g, fn, comment, body)
  local n = g.rank == 1 and g.ow or g.oh
  if E and node and (E.threads or 1) > 1 then
    E:parallel(node)
    h.part_params, h.prologue = E:part_params(true, false)
    h.first, h.last = util.c_share('part', n, 'parts'), util.c_share('(part + 1)', n, 'parts')
  else
    h.part_params, h.prologue, h.first, h.last = '', '', '0', tostring(n)
  end
  -- The outer loop's bound is $last now.
  if g.rank == 1 then h.OW = nil else h.OH = nil end
  return template.section('window', g.rank == 1 and 'window_1d' or 'window_2d', h)
end

return M
