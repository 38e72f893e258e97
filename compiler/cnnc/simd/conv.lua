-- cnnc.simd.conv: Conv1D/Conv2D as explicit SIMD code for a vector target.
--
-- Output channels lie across vector registers (channels-last activations, so a pixel's
-- channels are contiguous); a register tile of P output pixels x V channel vectors stays in
-- accumulators over the whole window, each input value broadcast once per tile row. The
-- interior of the output (where every window tap is inside the input) runs in such tiles
-- with no bounds checks; the border runs a one-pixel routine that checks. Weights are
-- packed at compile time per block of V vectors in (ky, kx, ic, channel) order, padded
-- with zeros to whole vectors. Epilogue steps with a vector form run on the registers;
-- others run in one scalar pass over the finished output.

local epilogue = require 'cnnc.epilogue'
local ir = require 'cnnc.ir'
local template = require 'cnnc.template'
local util = require 'cnnc.util'
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

local function pack(node, W, V, nvec)
  local g, oc = node.g, node.p.filters
  local k = ir.weight(node, 'kernel').data
  local b = ir.weight(node, 'bias')
  local taps = g.kh * g.kw * g.ic
  local vals, nblocks = {}, math.ceil(nvec / V)
  for blk = 0, nblocks - 1 do
    local nv = math.min(V, nvec - blk * V)
    for t = 0, taps - 1 do
      for lane = 0, nv * W - 1 do
        local c = blk * V * W + lane
        vals[#vals + 1] = c < oc and k[t * oc + c] or 0
      end
    end
  end
  local bias = {}
  for c = 0, nvec * W - 1 do bias[c + 1] = (b and c < oc) and b.data[c] or 0 end
  return vals, bias, nblocks
end

-- Names of an affine step's scale/shift arrays padded to whole vectors.
function M.padded_affine(node, E, nvec, W, channels)
  local cache = {}
  return function(st)
    if cache[st] then return cache[st][1], cache[st][2] end
    local scale, shift = {}, {}
    for c = 0, nvec * W - 1 do
      local s, h = 0, 0
      if c < channels then s, h = epilogue.affine_coeffs(st, c) end
      scale[c + 1], shift[c + 1] = s, h
    end
    local base = util.c_ident(st.origin)
    local sn = E:constant(node, base .. '_scale_v', scale, 'batch norm ' .. st.origin .. ' scale, padded to whole vectors')
    local hn = E:constant(node, base .. '_shift_v', shift, 'batch norm ' .. st.origin .. ' shift, padded to whole vectors')
    cache[st] = { sn, hn }
    return sn, hn
  end
end

-- Chooses the register tile (V channel vectors x PH x PW pixels) for a layer by a small
-- cost model: FMA cycles, load-port cycles (weight vectors per tile, one broadcast per pixel
-- and tap) and, when a block's weights overflow L1, the L2 traffic of re-reading them for
-- every tile. Returns V, PH, PW.
function M.choose_tile(t, g, nvec, span_y, span_x)
  local budget = t.regs >= 32 and 24 or 12
  local taps = g.kh * g.kw * g.ic
  local W = t.width
  local best, best_cost
  for V = math.min(nvec, t.regs >= 32 and 4 or 3), 1, -1 do
    for PW = math.min(span_x, 8, math.floor(budget / V)), 1, -1 do
      local PH = math.max(1, math.min(span_y, 4, math.floor(budget / (V * PW))))
      local tiles = math.ceil(span_y / PH) * math.ceil(span_x / PW)
      local nblocks = math.ceil(nvec / V)
      local pixels = span_y * span_x
      local fma = pixels * taps * nvec / 2
      local loads = (tiles * taps * nvec + nblocks * pixels * taps) / 2
      local wbytes = taps * V * W * 4
      local l2 = wbytes > 32768 and tiles * nblocks * wbytes / 32 or 0
      local cost = math.max(fma, loads, l2)
      if not best_cost or cost < best_cost * 0.98 then best, best_cost = { V, PH, PW }, cost end
    end
  end
  return best[1], best[2], best[3]
end

local function tile_fn(E, node, g, PH, PW, V, last_partial, ctx)
  local W, oc = E.target.width, node.p.filters
  local init, loads, fmas, stores = {}, {}, {}, {}
  local pixels = {}
  for r = 0, PH - 1 do
    for c = 0, PW - 1 do
      pixels[#pixels + 1] = { id = r * PW + c, xoff = r * g.sh * g.iw * g.ic + c * g.sw * g.ic, ooff = (r * g.ow + c) * oc }
    end
  end
  for _, px in ipairs(pixels) do
    local row = {}
    for v = 0, V - 1 do row[#row + 1] = string.format('a%d_%d = vf_load(bias + %d)', px.id, v, v * W) end
    init[#init + 1] = 'vf ' .. table.concat(row, ', ') .. ';'
  end
  for v = 0, V - 1 do loads[#loads + 1] = string.format('const vf w%d = vf_load(w + %d);', v, v * W) end
  for _, px in ipairs(pixels) do
    local line = { string.format('xb = vf_set1(x[%d + ic]);', px.xoff) }
    for v = 0, V - 1 do line[#line + 1] = string.format('a%d_%d = vf_fma(xb, w%d, a%d_%d);', px.id, v, v, px.id, v) end
    fmas[#fmas + 1] = table.concat(line, ' ')
  end
  for _, px in ipairs(pixels) do
    for v = 0, V - 1 do
      local a = string.format('a%d_%d', px.id, v)
      local ep = epilogue.c_vector(node.epilogue, ctx.kvec, a, string.format('oc0 + %d', v * W), ctx.padded)
      if ep ~= '' then stores[#stores + 1] = ep end
      if last_partial and v == V - 1 then
        stores[#stores + 1] = string.format('{ float tail[VF_W]; vf_store(tail, %s); for (int i = 0; i < %d; ++i) out[%d + i] = tail[i]; }',
          a, oc % W, px.ooff + v * W)
      else
        stores[#stores + 1] = string.format('vf_store(out + %d, %s);', px.ooff + v * W, a)
      end
    end
  end
  local name = string.format('%s_tile%dx%dx%d%s', E:fn(node), PH, PW, V, last_partial and 't' or '')
  local text = template.section('simd_conv', 'tile', {
    fn = name, PH = PH, PW = PW, V = V, KH = g.kh, KW = g.kw, IC = g.ic,
    ROW_STEP = g.dh * g.iw * g.ic, COL_STEP = g.dw * g.ic, WSTEP = V * W,
    acc_init = table.concat(init, '\n'), w_load = table.concat(loads, '\n'), fmas = table.concat(fmas, '\n'),
    stores = (ctx.has_affine and '' or '(void)oc0;\n') .. table.concat(stores, '\n'),
  })
  return name, text
end

-- The geometry of the zero-padded copy of the input: same windows, no padding.
local function padded_geometry(g)
  local p = {}
  for k, v in pairs(g) do p[k] = v end
  p.ih, p.iw = g.ih + g.pt + g.pb, g.iw + g.pl + g.pr
  p.pt, p.pb, p.pl, p.pr = 0, 0, 0, 0
  return p
end

function M.emit(node, E)
  local g0, oc = node.g, node.p.filters
  local g = g0
  local padded = g0.pt + g0.pb + g0.pl + g0.pr > 0
  if padded then g = padded_geometry(g0) end
  local t = E.target
  local W = t.width
  local nvec = math.ceil(oc / W)
  local oy0, oy1 = interior(g.ih, g.kh, g.sh, g.dh, g.pt, g.oh)
  local ox0, ox1 = interior(g.iw, g.kw, g.sw, g.dw, g.pl, g.ow)
  local span_y, span_x = oy1 - oy0, ox1 - ox0
  local V, PH, PW = M.choose_tile(t, g, nvec, math.max(span_y, 1), math.max(span_x, 1))
  local kvals, bvals, nblocks = pack(node, W, V, nvec)
  local vlast = nvec - (nblocks - 1) * V
  local kname = E:constant(node, 'kernel_packed', kvals,
    string.format('%s.kernel packed in blocks of %d vectors: (block, ky, kx, ic, %d channels)', node.name, V, V * W))
  local bname = E:constant(node, 'bias_packed', bvals, node.name .. '.bias padded to whole vectors')
  local has_affine = false
  for _, st in ipairs(node.epilogue) do if st.op == 'affine' then has_affine = true end end
  local ctx = { kvec = epilogue.vector_prefix(node.epilogue), padded = M.padded_affine(node, E, nvec, W, oc),
    has_affine = has_affine and epilogue.vector_prefix(node.epilogue) > 0 }

  local fns, made = {}, {}
  local function tile(ph, pw, v, partial)
    local key = table.concat({ ph, pw, v, tostring(partial) }, ',')
    if not made[key] then
      local name, text = tile_fn(E, node, g, ph, pw, v, partial, ctx)
      made[key] = name
      fns[#fns + 1] = text
    end
    return made[key]
  end
  local block_floats = g.kh * g.kw * g.ic * V * W
  local function block_calls(ph, pw, list)
    for b = 0, nblocks - 1 do
      local v = b < nblocks - 1 and V or vlast
      local partial = b == nblocks - 1 and oc % W ~= 0
      list[#list + 1] = string.format('%s(&out[(oy * %d + ox) * %d + %d], x, %s + %d, %s + %d, %d);',
        tile(ph, pw, v, partial), g.ow, oc, b * V * W, kname, b * block_floats, bname, b * V * W, b * V * W)
    end
  end
  local iy0 = g.pt > 0 and string.format('(oy * %d - %d)', g.sh, g.pt) or (g.sh == 1 and 'oy' or ('oy * ' .. g.sh))
  local ix0 = g.pl > 0 and string.format('(ox * %d - %d)', g.sw, g.pl) or (g.sw == 1 and 'ox' or ('ox * ' .. g.sw))
  local x_at = string.format('const float *x = &in[(%s * %d + %s) * %d];', iy0, g.iw, ix0, g.ic)
  local fn = E:fn(node)
  local need_pixel = oy0 > 0 or oy1 < g.oh or ox0 > 0 or ox1 < g.ow
  local function band(ph)
    local calls, rest = {}, {}
    block_calls(ph, PW, calls)
    local pwr = span_x % PW
    if pwr > 0 then
      rest[1] = '{'
      rest[2] = x_at
      block_calls(ph, pwr, rest)
      rest[#rest + 1] = '}'
    end
    local border = ''
    if ox0 > 0 or ox1 < g.ow then
      border = template.section('simd_conv', 'border_cols', { fn = fn, PH = ph, OX0 = ox0, OX1 = ox1, OW = g.ow })
    end
    return template.section('simd_conv', 'band', {
      PH = ph, PW = PW, OX0 = ox0, OX1 = ox1, x_at = x_at, border_cols = border,
      full_tiles = table.concat(calls, '\n'), rest_tiles = table.concat(rest, '\n'),
    })
  end
  local main_band, rest_band = '', ''
  if span_y > 0 and span_x > 0 then
    main_band = band(PH)
    if span_y % PH > 0 then rest_band = '{\n' .. band(span_y % PH) .. '\n}' end
  end

  local vec_ep = epilogue.c_vector(node.epilogue, ctx.kvec, 'a', 'oc', ctx.padded)
  if need_pixel then table.insert(fns, 1, template.section('simd_conv', 'pixel', {
    fn = fn .. '_pixel', NBLOCKS = nblocks, V = V, VLAST = vlast, kernel = kname, bias = bname,
    BLOCK_FLOATS = block_floats, KH = g.kh, KW = g.kw, IC = g.ic, IH = g.ih, IW = g.iw, OW = g.ow, OC = oc,
    iy = window.c_index('oy', g.sh, 'ky', g.dh, g.pt), ix = window.c_index('ox', g.sw, 'kx', g.dw, g.pl),
    vector_epilogue = vec_ep,
  })) end

  local suffix = {}
  for i = ctx.kvec + 1, #node.epilogue do suffix[#suffix + 1] = node.epilogue[i] end
  local scalar = ''
  if #suffix > 0 then
    scalar = template.section('simd_conv', 'scalar_pass', {
      PIXELS = g.oh * g.ow, OC = oc, store = epilogue.c_store(suffix, 'y[c]', 'y[c]', 'c'),
      post = E:post({ epilogue = suffix }, 'y', oc) })
  end
  local pad_copy = ''
  if padded then
    local row = g0.iw * g0.ic
    pad_copy = template.section('simd_conv', 'pad_copy', {
      PT = g0.pt, PB = g0.pb, PL = g0.pl, PR = g0.pr, IH = g0.ih, PROW = g.iw * g.ic, ROW = row,
      TOP = g0.pt * g.iw * g.ic, BOTTOM = g0.pb * g.iw * g.ic, LEFT = g0.pl * g.ic, RIGHT = g0.pr * g.ic,
    })
  end
  local function rows(to)
    return template.section('simd_conv', 'border_rows', { fn = fn, END = to, OW = g.ow })
  end
  fns[#fns + 1] = template.section('simd_conv', 'layer', {
    fn = fn, comment = E:comment(node) .. string.format(' [%s: %dx%d pixels x %d vectors per register tile]', t.name, PH, PW, V),
    params = padded and 'const float *restrict input, float *restrict scratch' or 'const float *restrict in',
    pad_copy = pad_copy, PH = PH, OY1 = oy1,
    top_rows = oy0 > 0 and rows(oy0) or '', bottom_rows = oy1 < g.oh and rows(g.oh) or '',
    band = main_band, rest_band = rest_band, scalar_pass = scalar,
  })
  return table.concat(fns, '\n\n')
end

return M
