-- cnnc.simd.conv1d: Conv1D (and a 2-D layer on a single row) as explicit SIMD code for a
-- vector target.
--
-- A 1-D layer's input is one row, so the windows of PT consecutive output steps read one
-- contiguous stretch of it: the tiles read the input in place, with none of the padded,
-- chunk-by-chunk copy the 2-D kernel (cnnc.simd.conv) makes so that rows far apart in memory
-- read consecutive cache lines. A register tile holds PT output steps x V vectors of output
-- channels, up to the whole register budget (24 steps of one vector on AVX-512, where the
-- 2-D kernel stops at 8 pixels of a row); the whole window (taps x input channels) is
-- summed in one pass, each input value broadcast once per tile, each weight vector loaded
-- once per step of the tile. The few output steps whose windows reach into the padding run
-- through an edge function whose taps check the input's bounds. Loops: blocks of V vectors,
-- then bands of tiles (the parts threads share), then tiles. Weights are packed as the
-- 2-D kernel packs them (cnnc.simd.conv.pack: per block, taps, input channels, lanes) and
-- the tiles are its tile functions with one row. A pool whose windows tile the output is
-- combined in the registers (holds_pool): tiles and edges then cover whole pool windows.

local common = require 'cnnc.simd.common'
local conv = require 'cnnc.simd.conv'
local epilogue = require 'cnnc.epilogue'
local template = require 'cnnc.template'
local util = require 'cnnc.util'

local M = {}

M.name = 'direct 1-D'
M.holds_pool = true

-- Fraction of the FMA peak the kernel reaches (R4's layers on the 2-core AVX-512 machine of
-- bench/README.md: 93-98% at 16-64 channels; the model's cost, compared with Winograd's).
M.EFFICIENCY = 0.85

-- Bytes a cycle the weights stream from L2 when a block's do not fit in L1 (cnnc.tune's
-- l1_weights): a tile of few steps then waits for them, one of many does not.
M.L2_BYTES = 32

function M.eligible(node, t)
  return t.width > 1 and node.g ~= nil and (node.p.groups or 1) == 1 and common.is_1d(node.g)
end

-- Output steps [lo, hi) whose every tap lies inside the input.
local function interior(g)
  local lo = math.ceil(g.pl / g.sw)
  local hi = math.floor((g.iw - 1 - (g.kw - 1) * g.dw + g.pl) / g.sw) + 1
  lo, hi = math.max(0, math.min(lo, g.ow)), math.max(0, math.min(hi, g.ow))
  return lo, math.max(lo, hi)
end

-- The register tile (V vectors x PT steps, PT a multiple of the pool window u) by
-- cnnc.simd.common's step model over the interior's n steps, with the weights' stream from
-- L2 when a block's weights exceed L1. tune.tile (V,PH,PW) forces V and PT = PW.
local function tile_plan(t, g, nvec, u, n, tune)
  local budget = common.budget(t)
  local taps = g.kw * g.ic
  local W = t.width
  local best, best_cost
  for V = math.min(nvec, t.regs >= 32 and 4 or 3), 1, -1 do
    local wbytes = taps * V * W * 4
    for PT = math.max(u, math.min(n, math.floor(budget / V))), 1, -1 do
      if PT % u == 0 and PT * V <= math.max(budget, u * V) then
        local full, rest = math.floor(n / PT), n % PT
        local function tile(pt)
          if pt == 0 then return 0 end
          local fma = common.step(pt, V, tune.min_step) * taps
          local stream = wbytes > tune.l1_weights and wbytes / M.L2_BYTES or 0
          return math.max(fma, stream) + pt * V   -- and its epilogue and stores
        end
        local cost = (full * tile(PT) + tile(rest)) * math.ceil(nvec / V)
        if not best_cost or cost < best_cost * 0.98 then best, best_cost = { V = V, PT = PT }, cost end
      end
    end
  end
  if tune.tile and u == 1 then
    best = { V = math.min(tune.tile[1], nvec), PT = math.max(1, math.min(tune.tile[3], n)) }
  end
  return best
end

-- The plan (cnnc.passes.select): the tile, the edges [0, lo) and [hi, ow) (whole pool
-- windows), the interior's tiles (full ones and a narrower last), and with ctx.threads > 1
-- the bands of tiles (units: bands x blocks of channels). nil for a pool window of more than
-- one row (not a 1-D pool).
function M.plan(node, t, ctx)
  local g, K = node.g, node.p.filters
  local u = 1
  if ctx.pool then
    if ctx.pool.kh ~= 1 then return nil end
    u = ctx.pool.kw
  end
  local nvec = math.ceil(K / t.width)
  local lo, hi = interior(g)
  lo = math.min(g.ow, math.ceil(lo / u) * u)
  hi = math.max(lo, math.floor(hi / u) * u)
  local n = hi - lo
  local P = tile_plan(t, g, nvec, u, n, ctx.tune)
  local full, rest = math.floor(n / P.PT), n % P.PT
  local ntiles = full + (rest > 0 and 1 or 0)
  local L = { nvec = nvec, V = P.V, PT = P.PT, u = u, lo = lo, hi = hi, full = full, rest = rest, ntiles = ntiles,
    nblocks = math.ceil(nvec / P.V), nbands = 1, scratch = 0, ICB = g.ic, nicb = 1,
    post = epilogue.vector_prefix(node.epilogue) < #node.epilogue }
  -- A one-tap kernel without a pool sums its input channels in chunks, as the 2-D kernel
  -- does (a chunk's weights in L1): each chunk's sum starts from zero and is added to the
  -- earlier chunks' in the output (cnnc.simd.conv.tile_fn), so the rounding error of a long
  -- reduction (a squeeze-excitation block's 1x1 convolution of 3072 channels on a 1x1 map)
  -- grows with the chunk's length, not the layer's. The packed weights of one tap are in
  -- the same order whatever the chunk.
  if not ctx.pool and g.kw == 1 then
    local icb = math.max(1, math.min(g.ic, math.floor(ctx.tune.l1_weights / (P.V * t.width * 4))))
    L.nicb = math.ceil(g.ic / icb)
    L.ICB = math.ceil(g.ic / L.nicb)
  end
  if (ctx.threads or 1) > 1 and ntiles > 1 then
    local want = math.ceil(conv.UNITS_PER_THREAD * ctx.threads / L.nblocks)
    L.nbands = conv.bands(ntiles, 1, want, 1)
    L.units = L.nblocks * L.nbands
  end
  L.describe = string.format('tiles of %d steps x %d vectors, edges %d + %d steps%s%s', L.PT, L.V, lo, g.ow - hi,
    L.nicb > 1 and string.format(', input channels in chunks of %d', L.ICB) or '',
    L.units and string.format(', %d bands of tiles, %d parts', L.nbands, L.units) or '')
  return L
end

-- Modelled cycles on one thread: the layer's multiply-adds at the kernel's efficiency.
function M.cost(node, L, t)
  local g = node.g
  return g.ow * g.kw * g.ic * L.nvec * t.width / (common.macs_per_cycle(t) * M.EFFICIENCY)
end

function M.describe(node, L)
  return 'direct 1-D'
end

-- The edge function: u output steps from ox x V vectors, each tap checked against the input's
-- bounds; with a pool, the u steps are one pool window, stored pooled.
local function edge_fn(E, node, V, partial, ctx)
  local g, K, W = node.g, node.p.filters, E.target.width
  local u, pool = ctx.u, ctx.pool
  local tail = partial and K % W or 0
  local init, steps, eps, stores = {}, {}, {}, {}
  for r = 0, u - 1 do
    local fmas = {}
    for v = 0, V - 1 do
      local a = common.acc(r, v)
      init[#init + 1] = string.format('vf %s = vf_load(bias + %d);', a, v * W)
      fmas[#fmas + 1] = string.format('%s = vf_fma(xb, w%d, %s);', a, v, a)
      local ep = E:vector(node.epilogue, ctx.kvec, a, string.format('oc0 + %d', v * W), ctx.padded)
      if ep ~= '' then eps[#eps + 1] = ep end
      if not pool then stores[#stores + 1] = common.store_vec('out', r * K + v * W, a, v == V - 1 and tail or 0) end
    end
    local loads = {}
    for v = 0, V - 1 do loads[#loads + 1] = string.format('const vf w%d = vf_load(wk + %d);', v, v * W) end
    steps[#steps + 1] = template.section('simd_conv1d', 'edge_step', { R = r, S = r * g.sw, IW = g.iw, IC = g.ic,
      loads = table.concat(loads, ' '), fmas = table.concat(fmas, ' '), VW = V * W })
  end
  if pool then
    for v = 0, V - 1 do
      local vals = {}
      for r = 0, u - 1 do vals[#vals + 1] = common.acc(r, v) end
      local m = string.format('p%d', v)
      stores[#stores + 1] = common.combine_pool(pool, vals, m)
      local ep = E:vector(pool.epilogue, #pool.epilogue, m, string.format('oc0 + %d', v * W), ctx.padded)
      if ep ~= '' then stores[#stores + 1] = ep end
      stores[#stores + 1] = common.store_vec('out', v * W, m, v == V - 1 and tail or 0)
    end
  end
  local name = string.format('%s_edge%dx%d%s', E:fn(node), u, V, partial and 't' or '')
  return name, template.section('simd_conv1d', 'edge', {
    fn = name, U = u, V = V, what = pool and string.format(' (one %s pool window, stored pooled)', pool.mode) or '',
    oc0 = ctx.uses_oc0 and ', int oc0' or '', acc_init = table.concat(init, '\n'),
    STRIDE = g.sw, PL = g.pl, KW = g.kw, DIL = g.dw, CHUNK = g.ic * V * W,
    steps = table.concat(steps, '\n'), finish = table.concat(eps, '\n') .. '\n' .. table.concat(stores, '\n'),
  })
end

-- Returns the C text; tells E (E:parallel) how the forward function calls it.
function M.emit(node, E)
  local g, K = node.g, node.p.filters
  local t = E.target
  local W = t.width
  local L = node.sel.plan
  local pool = node.sel.pool
  local V, PT, u = L.V, L.PT, L.u
  local kvals, nblocks = conv.pack(node, W, { V = V, ICB = g.ic }, L.nvec, g)
  local kname = E:constant(node, 'kernel_packed', kvals, string.format(
    '%s.kernel packed: (block of %d vectors, k, ic, %d channels)', node.name, V, V * W))
  local bname = common.padded_bias(node, E, L.nvec, W)
  local kvec = epilogue.vector_prefix(node.epilogue)
  local ctx = { kvec = kvec, padded = common.padded_affine(node, E, L.nvec, W, K), pool = pool, u = u,
    single = L.nicb == 1, stride = g.ic, uses_oc0 = common.uses_channel(node.epilogue, kvec, pool) }

  local fns, made = {}, {}
  local function once(key, make)
    if not made[key] then
      local name, text = make()
      made[key] = name
      fns[#fns + 1] = text
    end
    return made[key]
  end
  local threaded = L.units ~= nil
  -- The output of step ox (pooled: of its pool window) at channel c0.
  local function out_at(ox, c0)
    if pool then return string.format('&out[(%s) / %d * %d + %d]', ox, u, K, c0) end
    return string.format('&out[(%s) * %d + %d]', ox, K, c0)
  end
  local blocks = {}
  local block_off = 0
  for b = 0, nblocks - 1 do
    local v = math.min(V, L.nvec - b * V)
    local partial = b == nblocks - 1 and K % W ~= 0
    local c0 = b * V * W
    local w = string.format('%s + %d', kname, block_off)
    local oc0 = ctx.uses_oc0 and (', ' .. c0) or ''
    -- The tile of pt steps from output step ox0 + j * PT (j: a C expression).
    local function tile_call(pt, ox0, j)
      local fn = once(table.concat({ 'tile', pt, v, tostring(partial) }, ','), function()
        return conv.tile_fn(E, node, g, 1, pt, v, partial, ctx)
      end)
      local o = pool and string.format('&out[%d + %s * %d]', ox0 / u * K + c0, j, PT / u * K)
        or string.format('&out[%d + %s * %d]', ox0 * K + c0, j, PT * K)
      if ctx.single then
        return string.format('%s(%s, &in[%d + %s * %d], %s, %s + %d%s);', fn, o, (ox0 * g.sw - g.pl) * g.ic, j,
          PT * g.sw * g.ic, w, bname, c0, oc0)
      end
      return string.format('%s(%s, &in[%d + %s * %d + icb * %d], %s + icb * %d, %s + %d%s, nic, first, last);', fn, o,
        (ox0 * g.sw - g.pl) * g.ic, j, PT * g.sw * g.ic, L.ICB, w, L.ICB * v * W, bname, c0, oc0)
    end
    local function edges(from, to)
      if to <= from then return '' end
      local fn = once(table.concat({ 'edge', v, tostring(partial) }, ','), function()
        return edge_fn(E, node, v, partial, ctx)
      end)
      return template.section('simd_conv1d', 'edges', { X0 = from, X1 = to, U = u, call = string.format(
        '%s(%s, in, %s, %s + %d, ox%s);', fn, out_at('ox', c0), w, bname, c0, oc0) })
    end
    local nb = L.nbands
    local last = nb - 1
    local tiles = {}
    if L.full > 0 then
      tiles[#tiles + 1] = template.section('simd_conv1d', 'tiles', {
        J0 = threaded and 'j0' or '0', J1 = threaded and (L.rest > 0 and string.format('(j1 < %d ? j1 : %d)', L.full, L.full) or 'j1') or L.full,
        call = tile_call(L.PT, L.lo, 'j') })
    end
    if L.rest > 0 then
      local call = tile_call(L.rest, L.lo + L.full * PT, '0')
      tiles[#tiles + 1] = threaded and string.format('if (j1 == %d) %s', L.ntiles, call) or call
    end
    if not ctx.single and #tiles > 0 then
      tiles = { template.section('simd_conv1d', 'chunks', { NICB = L.nicb, ICB = L.ICB,
        chunk = template.section('simd_conv', 'chunk', { NICB = L.nicb, ICLAST = g.ic - (L.nicb - 1) * L.ICB, ICB = L.ICB }),
        tiles = table.concat(tiles, '\n') }) }
    end
    local left, right = edges(0, L.lo), edges(L.hi, g.ow)
    blocks[#blocks + 1] = template.section('simd_conv1d', 'block', {
      c0 = c0, c1 = math.min(K, c0 + v * W) - 1, NBANDS = nb, bands = util.count(nb, 'band'),
      skip = threaded and string.format('if (%d + band < %s || %d + band >= %s) continue;', b * nb,
        util.c_share('part', nblocks * nb, 'parts'), b * nb, util.c_share('(part + 1)', nblocks * nb, 'parts')) or '',
      range = threaded and string.format('const int j0 = %s, j1 = %s;', util.c_share('band', L.ntiles, nb),
        util.c_share('(band + 1)', L.ntiles, nb)) or '',
      left = (threaded and left ~= '') and ('if (band == 0) ' .. left) or left,
      tiles = table.concat(tiles, '\n'),
      right = (threaded and right ~= '') and (string.format('if (band == %d) ', last) .. right) or right,
    })
    block_off = block_off + g.kw * g.ic * v * W
  end
  local post = common.scalar_pass(node, E, kvec, g.ow, K)
  if post ~= '' then fns[#fns + 1] = post end
  if threaded then E:parallel(node) end
  local params, prologue = E:part_params(threaded, false)
  local pooled = pool and string.format(', %d-step %s pool in the tiles', u, pool.mode) or ''
  fns[#fns + 1] = template.section('simd_conv1d', 'layer', {
    fn = E:fn(node), comment = E:comment(node) .. string.format(' [%s: tiles of %d steps x %d vectors%s]', t.name,
      PT, V, pooled),
    part_params = params, prologue = prologue, blocks = table.concat(blocks, '\n'),
  })
  return table.concat(fns, '\n\n')
end

return M
