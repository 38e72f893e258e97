-- cnnc.simd.depthwise: depthwise Conv1D/Conv2D (groups = input channels = filters) as
-- explicit SIMD code for a vector target.
--
-- Channels-last activations put a pixel's channels side by side, and in a depthwise
-- convolution channel c only ever meets channel c: so vectors run across channels, and
-- every FMA is a load of inputs times a load of weights, with no broadcast. The interior
-- of the output runs PW pixels of a row per call, each weight vector loaded once for all
-- of them; the border runs one pixel at a time with bounds checks. Channels beyond the
-- last whole vector run in scalar code (a vector load there would read the next pixel, or
-- past the end of the input). Epilogue steps with a vector form run on the registers, the
-- others in one scalar pass over the finished output.

local common = require 'cnnc.simd.common'
local epilogue = require 'cnnc.epilogue'
local ir = require 'cnnc.ir'
local template = require 'cnnc.template'
local window = require 'cnnc.window'

local M = {}

-- Interior range [lo, hi) of outputs whose every tap is inside [0, n).
local function interior(n, k, s, d, before, o)
  local lo = math.ceil(before / s)
  local hi = math.floor((n - 1 - (k - 1) * d + before) / s) + 1
  lo, hi = math.max(0, math.min(lo, o)), math.max(0, math.min(hi, o))
  if hi < lo then hi = lo end
  return lo, hi
end

M.name = 'depthwise'

function M.eligible(node, t)
  local gr = node.p.groups or 1
  return t.width > 1 and node.g ~= nil and node.g.rank ~= nil and gr > 1 and gr == node.g.ic and node.p.filters == gr
end

function M.plan(node)
  return { scratch = 0, post = epilogue.vector_prefix(node.epilogue) < #node.epilogue }
end

-- The layer's own description already says depthwise.
function M.describe() return nil end

function M.emit(node, E)
  local g, C = node.g, node.p.filters
  local t = E.target
  local W = t.width
  local nvec = math.ceil(C / W)
  local CP, CV = nvec * W, math.floor(C / W) * W
  local taps = g.kh * g.kw
  local kname = E:constant(node, 'kernel_packed', { count = taps * CP, fill = function(dst)
    local k = ir.weight(node, 'kernel').data
    for tap = 0, taps - 1 do
      for c = 0, CP - 1 do dst[tap * CP + c] = c < C and k[tap * C + c] or 0 end
    end
  end },
    string.format('%s.kernel, (ky, kx, channel) with the channels padded to %d', node.name, CP))
  local bname = common.padded_bias(node, E, nvec, W)

  local kvec = epilogue.vector_prefix(node.epilogue)
  local padded = common.padded_affine(node, E, nvec, W, C)
  local prefix = {}
  for i = 1, kvec do prefix[i] = node.epilogue[i] end
  local fn = E:fn(node)
  local iy = window.c_index('oy', g.sh, 'ky', g.dh, g.pt)
  local ix = window.c_index('ox', g.sw, 'kx', g.dw, g.pl)
  local parts, tail = {}, ''
  if CV < C then
    parts[#parts + 1] = template.section('simd_depthwise', 'tail', { fn = fn .. '_tail', OW = g.ow, CV = CV, C = C,
      bias = bname, KH = g.kh, KW = g.kw, iy = iy, ix = ix, IH = g.ih, IW = g.iw, kernel = kname, CP = CP,
      store = E:store({ epilogue = prefix }, 'y[c]', 'acc', 'c') })
    tail = fn .. '_tail(out, in, oy, ox);'
  end
  local vectors = ''
  if CV > 0 then
    vectors = template.section('simd_depthwise', 'pixel_vectors', {
      OW = g.ow, C = C, CV = CV, bias = bname, KH = g.kh, KW = g.kw, iy = iy, ix = ix, IH = g.ih, IW = g.iw,
      kernel = kname, CP = CP, vector_epilogue = E:vector(node.epilogue, kvec, 'a', 'c', padded) })
  end
  parts[#parts + 1] = template.section('simd_depthwise', 'pixel', { fn = fn .. '_pixel', vectors = vectors, tail = tail })

  -- Interior tiles only when there is a whole vector of channels and an interior.
  local oy0, oy1 = interior(g.ih, g.kh, g.sh, g.dh, g.pt, g.oh)
  local ox0, ox1 = interior(g.iw, g.kw, g.sw, g.dw, g.pl, g.ow)
  local PW = math.max(1, math.min(t.regs >= 32 and 8 or 4, ox1 - ox0))
  local tiles = ''
  if CV > 0 and ox1 > ox0 and oy1 > oy0 then
    local init, fmas, stores = {}, {}, {}
    for p = 0, PW - 1 do
      init[#init + 1] = string.format('vf a%d = vf_load(%s + c);', p, bname)
      fmas[#fmas + 1] = string.format('a%d = vf_fma(vf_load(x + %d), wv, a%d);', p, p * g.sw * C, p)
      local ep = E:vector(node.epilogue, kvec, 'a' .. p, 'c', padded)
      if ep ~= '' then stores[#stores + 1] = ep end
      stores[#stores + 1] = string.format('vf_store(&y[%d + c], a%d);', p * C, p)
    end
    local tile_tail = {}
    if CV < C then
      for p = 0, PW - 1 do tile_tail[#tile_tail + 1] = string.format('%s_tail(out, in, oy, ox + %d);', fn, p) end
    end
    parts[#parts + 1] = template.section('simd_depthwise', 'tile', {
      fn = fn .. '_tile', PW = PW, OW = g.ow, C = C,
      iy0 = window.c_index('oy', g.sh, '0', 1, g.pt):gsub(' %+ 0', ''),
      ix0 = window.c_index('ox', g.sw, '0', 1, g.pl):gsub(' %+ 0', ''),
      IW = g.iw, CV = CV, acc_init = table.concat(init, '\n'), KH = g.kh, KW = g.kw, ROW_STEP = g.dh * g.iw * C,
      kernel = kname, CP = CP, fmas = table.concat(fmas, '\n'), COL_STEP = g.dw * C,
      stores = table.concat(stores, '\n'), tail = table.concat(tile_tail, '\n'),
    })
    tiles = template.section('simd_depthwise', 'tiles', { fn = fn, PW = PW, OX1 = ox1 })
  end
  local post = common.scalar_pass(node, E, kvec, g.oh * g.ow, C)
  if post ~= '' then parts[#parts + 1] = post end
  parts[#parts + 1] = template.section('simd_depthwise', 'layer', {
    fn = fn, comment = E:comment(node) .. string.format(' [%s: depthwise, %d pixels per interior call]', t.name, PW),
    OH = g.oh, OW = g.ow, OY0 = oy0, OY1 = oy1, OX0 = ox0, tiles = tiles,
  })
  return table.concat(parts, '\n\n')
end

return M
