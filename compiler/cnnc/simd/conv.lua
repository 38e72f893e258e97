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

-- Register tile: V vectors of channels x P pixels, within the target's registers
-- (P*V accumulators + V weights + 1 broadcast).
function M.tile_shape(t, nvec)
  local V = math.min(nvec, t.regs >= 32 and 4 or 2)
  local P = math.floor((t.regs - V - 1) / V)
  return V, math.min(P, t.regs >= 32 and 6 or 6)
end

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
local function padded_affine(node, E, nvec, W)
  local cache = {}
  return function(st)
    if cache[st] then return cache[st][1], cache[st][2] end
    local scale, shift = {}, {}
    for c = 0, nvec * W - 1 do
      local s, h = 0, 0
      if c < node.p.filters then s, h = epilogue.affine_coeffs(st, c) end
      scale[c + 1], shift[c + 1] = s, h
    end
    local base = util.c_ident(st.origin)
    local sn = E:constant(node, base .. '_scale_v', scale, 'batch norm ' .. st.origin .. ' scale, padded to whole vectors')
    local hn = E:constant(node, base .. '_shift_v', shift, 'batch norm ' .. st.origin .. ' shift, padded to whole vectors')
    cache[st] = { sn, hn }
    return sn, hn
  end
end

local function tile_fn(E, node, g, P, V, last_partial, ctx)
  local W, oc = E.target.width, node.p.filters
  local init, loads, fmas, stores = {}, {}, {}, {}
  for p = 0, P - 1 do
    local row = {}
    for v = 0, V - 1 do row[#row + 1] = string.format('a%d_%d = vf_load(bias + %d)', p, v, v * W) end
    init[#init + 1] = 'vf ' .. table.concat(row, ', ') .. ';'
  end
  for v = 0, V - 1 do loads[#loads + 1] = string.format('const vf w%d = vf_load(w + %d);', v, v * W) end
  for p = 0, P - 1 do
    local line = { string.format('xb = vf_set1(x[%d + ic]);', p * g.sw * g.ic) }
    for v = 0, V - 1 do line[#line + 1] = string.format('a%d_%d = vf_fma(xb, w%d, a%d_%d);', p, v, v, p, v) end
    fmas[#fmas + 1] = table.concat(line, ' ')
  end
  for p = 0, P - 1 do
    for v = 0, V - 1 do
      local a = string.format('a%d_%d', p, v)
      local ep = epilogue.c_vector(node.epilogue, ctx.kvec, a, string.format('oc0 + %d', v * W), ctx.padded)
      if ep ~= '' then stores[#stores + 1] = ep end
      local dst = string.format('out + %d', p * oc + v * W)
      if last_partial and v == V - 1 then
        stores[#stores + 1] = string.format('{ float tail[VF_W]; vf_store(tail, %s); for (int i = 0; i < %d; ++i) out[%d + i] = tail[i]; }',
          a, oc % W, p * oc + v * W)
      else
        stores[#stores + 1] = string.format('vf_store(%s, %s);', dst, a)
      end
    end
  end
  local name = string.format('%s_tile%dx%d%s', E:fn(node), P, V, last_partial and 't' or '')
  local text = template.section('simd_conv', 'tile', {
    fn = name, P = P, V = V, KH = g.kh, KW = g.kw, IC = g.ic,
    ROW_STEP = g.dh * g.iw * g.ic, COL_STEP = g.dw * g.ic, WSTEP = V * W,
    acc_init = table.concat(init, '\n'), w_load = table.concat(loads, '\n'), fmas = table.concat(fmas, '\n'),
    stores = (ctx.has_affine and '' or '(void)oc0;\n') .. table.concat(stores, '\n'),
  })
  return name, text
end

function M.emit(node, E)
  local g, oc = node.g, node.p.filters
  local t = E.target
  local W = t.width
  local nvec = math.ceil(oc / W)
  local V, Pmax = M.tile_shape(t, nvec)
  local kvals, bvals, nblocks = pack(node, W, V, nvec)
  local vlast = nvec - (nblocks - 1) * V
  local kname = E:constant(node, 'kernel_packed', kvals,
    string.format('%s.kernel packed in blocks of %d vectors: (block, ky, kx, ic, %d channels)', node.name, V, V * W))
  local bname = E:constant(node, 'bias_packed', bvals, node.name .. '.bias padded to whole vectors')
  local has_affine = false
  for _, st in ipairs(node.epilogue) do if st.op == 'affine' then has_affine = true end end
  local ctx = { kvec = epilogue.vector_prefix(node.epilogue), padded = padded_affine(node, E, nvec, W),
    has_affine = has_affine and epilogue.vector_prefix(node.epilogue) > 0 }
  local oy0, oy1 = interior(g.ih, g.kh, g.sh, g.dh, g.pt, g.oh)
  local ox0, ox1 = interior(g.iw, g.kw, g.sw, g.dw, g.pl, g.ow)
  local span = ox1 - ox0
  local P = math.max(1, math.min(Pmax, span))
  local prem = span % P

  local fns, calls, rest = {}, {}, {}
  local made = {}
  local function tile(p, v, partial)
    local key = p .. 'x' .. v .. tostring(partial)
    if not made[key] then
      local name, text = tile_fn(E, node, g, p, v, partial, ctx)
      made[key] = name
      fns[#fns + 1] = text
    end
    return made[key]
  end
  local block_floats = g.kh * g.kw * g.ic * V * W
  local function block_calls(p, list)
    for b = 0, nblocks - 1 do
      local v = b < nblocks - 1 and V or vlast
      local partial = b == nblocks - 1 and oc % W ~= 0
      list[#list + 1] = string.format('%s(&out[(oy * %d + ox) * %d + %d], x, %s + %d, %s + %d, %d);',
        tile(p, v, partial), g.ow, oc, b * V * W, kname, b * block_floats, bname, b * V * W, b * V * W)
    end
  end
  local iy0 = g.pt > 0 and string.format('(oy * %d - %d)', g.sh, g.pt) or (g.sh == 1 and 'oy' or ('oy * ' .. g.sh))
  local ix0 = g.pl > 0 and string.format('(ox * %d - %d)', g.sw, g.pl) or (g.sw == 1 and 'ox' or ('ox * ' .. g.sw))
  local x_at = string.format('const float *x = &in[(%s * %d + %s) * %d];', iy0, g.iw, ix0, g.ic)
  if span > 0 then
    block_calls(P, calls)
    if prem > 0 then
      rest[1] = string.format('if (ox + %d <= %d) {', prem, ox1)
      rest[2] = x_at
      block_calls(prem, rest)
      rest[#rest + 1] = string.format('ox += %d;', prem)
      rest[#rest + 1] = '}'
    end
  end

  local vec_ep = epilogue.c_vector(node.epilogue, ctx.kvec, 'a', 'oc', ctx.padded)
  fns[#fns + 1] = template.section('simd_conv', 'pixel', {
    fn = E:fn(node) .. '_pixel', NBLOCKS = nblocks, V = V, VLAST = vlast, kernel = kname, bias = bname,
    BLOCK_FLOATS = block_floats, KH = g.kh, KW = g.kw, IC = g.ic, IH = g.ih, IW = g.iw, OW = g.ow, OC = oc,
    iy = window.c_index('oy', g.sh, 'ky', g.dh, g.pt), ix = window.c_index('ox', g.sw, 'kx', g.dw, g.pl),
    vector_epilogue = vec_ep,
  })

  local suffix = {}
  for i = ctx.kvec + 1, #node.epilogue do suffix[#suffix + 1] = node.epilogue[i] end
  local scalar = ''
  if #suffix > 0 then
    scalar = template.section('simd_conv', 'scalar_pass', {
      PIXELS = g.oh * g.ow, OC = oc, store = epilogue.c_store(suffix, 'y[c]', 'y[c]', 'c'),
      post = E:post({ epilogue = suffix }, 'y', oc) })
  end
  fns[#fns + 1] = template.section('simd_conv', 'layer', {
    fn = E:fn(node), comment = E:comment(node) .. string.format(' [%s: %dx%d register tiles]', t.name, P, V),
    OH = g.oh, OW = g.ow, OY0 = oy0, OY1 = oy1, OX0 = ox0, OX1 = ox1, P = P,
    x_at = x_at, full_tiles = table.concat(calls, '\n'), rest_tiles = table.concat(rest, '\n'),
    scalar_pass = scalar,
  })
  return table.concat(fns, '\n\n')
end

return M
