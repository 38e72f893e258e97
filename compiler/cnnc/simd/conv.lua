-- cnnc.simd.conv: Conv1D/Conv2D as explicit SIMD code for a vector target.
--
-- Output channels lie across vector registers (channels-last activations, so a pixel's
-- channels are contiguous); a register tile of PH x PW output pixels x V channel vectors
-- stays in accumulators while a chunk of input channels of the whole window is summed,
-- each input value broadcast once per tile. A padded layer first copies its input into a
-- zero-bordered scratch buffer, so every tile runs without bounds checks; that copy (also
-- made without padding when there are several chunks) lays the chunks of input channels
-- out one after another (M.plan). Loops: channel
-- blocks of V vectors, then bands of output rows, then chunks of input channels (so the
-- chunk's weights stay in L1 while the band's partial sums stay in cache), then tiles.
-- Weights are packed at compile time in exactly that order, padded with zeros to whole
-- vectors. Epilogue steps with a vector form run on the registers after the last chunk;
-- others run in one scalar pass over the finished output.
--
-- As a kernel (cnnc.passes.select): `plan` gives the loop plan, `emit` writes it; a pool
-- whose windows tile the output may be combined in the register tiles (holds_pool).

local common = require 'cnnc.simd.common'
local epilogue = require 'cnnc.epilogue'
local ir = require 'cnnc.ir'
local template = require 'cnnc.template'
local util = require 'cnnc.util'
local window = require 'cnnc.window'

local M = {}

M.name = 'direct'
M.holds_pool = true
M.padded_affine = common.padded_affine

-- Parameters of the loops for a layer: register tile (V vectors x PH x PW pixels) by a small
-- cost model (cnnc.simd.common.step: FMA cycles against load-port cycles, weight vectors
-- per tile, one broadcast per pixel and tap), then the input-channel chunk so the chunk's
-- weights fit in L1 (chunks of equal size), then the band height so the band's output stays
-- in L2. With `mult` = {kh, kw} (a pool window computed in the tile), PH and PW are
-- multiples of kh and kw; nil when no such tile fits the registers. tune: cnnc.tune's
-- knobs (tile, min_step, l1_weights, l2_band).
function M.tile_plan(t, g, nvec, mult, tune)
  local budget = common.budget(t)
  local mh, mw = mult and mult.kh or 1, mult and mult.kw or 1
  local taps = g.kh * g.kw * g.ic
  local function step(ph, pw, v)
    if ph == 0 or pw == 0 then return 0 end
    return common.step(ph * pw, v, tune.min_step)
  end
  local best, best_cost
  for V = math.min(nvec, t.regs >= 32 and 4 or 3), 1, -1 do
    for PW = math.min(g.ow, 8, math.floor(budget / V)), 1, -1 do
      local PH = math.max(1, math.min(g.oh, 4, math.floor(budget / (V * PW))))
      if mult then PH = math.min(g.oh, math.max(4, mh), math.floor(budget / (V * PW))) end
      PH = PH - PH % mh
      if PW % mw == 0 and PH > 0 then
        local nh, nw = math.floor(g.oh / PH), math.floor(g.ow / PW)
        local rh, rw = g.oh % PH, g.ow % PW
        local per_block = nh * nw * step(PH, PW, V) + nh * step(PH, rw, V) + nw * step(rh, PW, V) + step(rh, rw, V)
        -- Every block of V vectors reads the whole input once more: from L2 when it fits
        -- there, else from L3 or memory.
        local in_bytes = g.ih * g.iw * g.ic * 4
        local stream = in_bytes / (in_bytes <= M.L2_INPUT and 32 or 8)
        local cost = (per_block * taps + stream) * math.ceil(nvec / V)
        if not best_cost or cost < best_cost * 0.98 then best, best_cost = { V, PH, PW }, cost end
      end
    end
  end
  if not best then return nil end
  -- The tile knob (experiments, bench/README.md) forces a tile on every layer without a
  -- pool in its tiles.
  if tune.tile and not mult then
    local f = tune.tile
    best = { math.min(f[1], nvec), math.min(f[2], g.oh), math.min(f[3], g.ow) }
  end
  local V, PH, PW = best[1], best[2], best[3]
  local W = t.width
  local per_ic = g.kh * g.kw * V * W * 4
  local icb = math.max(1, math.min(g.ic, math.floor(tune.l1_weights / per_ic)))
  local nicb = math.ceil(g.ic / icb)
  icb = math.ceil(g.ic / nicb)
  local row_bytes = g.ow * V * W * 4
  local R = math.max(PH, math.floor(tune.l2_band / row_bytes / PH) * PH)
  return { V = V, PH = PH, PW = PW, ICB = icb, R = math.min(R, g.oh) }
end

-- The defaults of cnnc.tune's direct-kernel knobs were measured so: min_step 8 (an
-- accumulator chain waits one FMA latency (4 cycles) per step, and tiles of 8-16
-- accumulators measured slower than that: R2's 8x8 layers on avx512, 1x6 tiles with 1x2
-- tails 122 GFLOP/s, 3x4 x 2 vectors 167); l1_weights 32 KB (what stays in L1, of 32-48 KB,
-- beside the input and partial sums the tiles read: R2's 8x8x256 layer 122 GFLOP/s with
-- 64 KB chunks, 145 with 32 KB); l2_band 256 KB.
-- An input up to this size stays in L2 while the blocks of output channels read it again.
-- The cost model charges each block's pass over the input at 32 bytes a cycle from L2,
-- 8 from beyond: narrow tiles (many blocks) suit small maps, wide ones large maps (R3's
-- 56x56x256 layer: 1 vector x 3x8 pixels 135 GFLOP/s, 4 vectors x 1x6 pixels 143; R2's
-- 8x8x256 layer: 158 against 121).
M.L2_INPUT = 1024 * 1024

-- Fraction of the FMA peak the direct kernel reaches on 3x3 layers (per-layer CPU-time
-- measurements of R2/R3 on the avx512 machine of bench/results.md): its modelled cost.
M.EFFICIENCY = 0.80

-- The kernel packed in the order the tiles read it, as a constant E:constant fills (straight
-- into a large model's blob): per block of V vectors of output channels, per chunk of ICB
-- input channels, (ky, kx, ic, channel), padded with zeros to whole vectors. Returns it and
-- the number of blocks (cnnc.simd.conv1d packs its kernel with this too).
function M.pack(node, W, P, nvec, g)
  local oc = node.p.filters
  local V, icb = P.V, P.ICB
  local nblocks = math.ceil(nvec / V)
  local count = 0
  for blk = 0, nblocks - 1 do count = count + g.kh * g.kw * g.ic * math.min(V, nvec - blk * V) * W end
  local function fill(dst)
    local k = ir.weight(node, 'kernel').data
    local n = 0
    for blk = 0, nblocks - 1 do
      local nv = math.min(V, nvec - blk * V)
      for c0 = 0, g.ic - 1, icb do
        for ky = 0, g.kh - 1 do
          for kx = 0, g.kw - 1 do
            for ic = c0, math.min(c0 + icb, g.ic) - 1 do
              local t = (ky * g.kw + kx) * g.ic + ic
              for lane = 0, nv * W - 1 do
                local c = blk * V * W + lane
                dst[n] = c < oc and k[t * oc + c] or 0
                n = n + 1
              end
            end
          end
        end
      end
    end
  end
  return { count = count, fill = fill }, nblocks
end

-- One register tile function. ctx.single: the layer has one chunk of input channels (the
-- accumulators start from the bias and finish in the same call; g.ic of them); ctx.pool:
-- the pool computed in the tiles (node.sel.pool), its windows combined in registers and
-- stored to pout (partial sums of earlier chunks go to out, the convolution-sized
-- scratch); ctx.suffix: added to the function's name; ctx.cell_block (with ctx.single):
-- each window cell's g.ic input channels are summed in blocks of this many
-- (cnnc.layers.conv.cell_block), each from zero, then added to the bias and the earlier
-- blocks' sums, which the tile keeps in an array of vectors (L1) while the accumulators
-- start the next block. (cnnc.simd.conv1d's tiles are these with PH = 1;
-- cnnc.simd.grouped's with g.ic its block's input channels.)
function M.tile_fn(E, node, g, PH, PW, V, partial, ctx)
  local W, oc = E.target.width, node.p.filters
  local pool, single = ctx.pool, ctx.single
  local icb = single and ctx.cell_block or nil
  local part_init, flush, take = {}, {}, {}
  local store_vec = common.store_vec
  local init, carry, loads, fmas, eps, stores, pooled = {}, {}, {}, {}, {}, {}, {}
  local pixels = {}
  for r = 0, PH - 1 do
    for c = 0, PW - 1 do
      pixels[#pixels + 1] = { id = r * PW + c, xoff = (r * g.sh * g.iw + c * g.sw) * ctx.stride, ooff = (r * g.ow + c) * oc }
    end
  end
  local tail = partial and oc % W or 0
  for _, px in ipairs(pixels) do
    for v = 0, V - 1 do
      local a, off = string.format('a%d_%d', px.id, v), px.ooff + v * W
      local vtail = v == V - 1 and tail or 0
      if icb then
        local k = #part_init
        init[#init + 1] = string.format('vf %s = vf_zero();', a)
        part_init[#part_init + 1] = string.format('part[%d] = vf_load(bias + %d);', k, v * W)
        flush[#flush + 1] = string.format('part[%d] = vf_add(part[%d], %s); %s = vf_zero();', k, k, a, a)
        take[#take + 1] = string.format('%s = part[%d];', a, k)
      elseif single then
        init[#init + 1] = string.format('vf %s = vf_load(bias + %d);', a, v * W)
      else
        -- The chunk's sum starts from zero and is added to the earlier chunks' (or the
        -- bias) once: a blocked sum, whose rounding error grows with the chunk's length
        -- plus the number of chunks, not with the whole reduction's length (one chain of
        -- thousands of FMAs made an SE block's 3072-channel squeeze visibly worse than
        -- ONNX Runtime's, docs/numerics.md).
        init[#init + 1] = string.format('vf %s = vf_zero();', a)
        if vtail > 0 then
          carry[#carry + 1] = string.format('{ float t[VF_W] = {0}; if (first) { for (int i = 0; i < VF_W; ++i) t[i] = bias[%d + i]; } '
            .. 'else { for (int i = 0; i < %d; ++i) t[i] = out[%d + i]; } %s = vf_add(vf_load(t), %s); }', v * W, vtail, off, a, a)
        else
          carry[#carry + 1] = string.format('%s = vf_add(first ? vf_load(bias + %d) : vf_load(out + %d), %s);', a, v * W, off, a)
        end
      end
      local ep = E:vector(node.epilogue, ctx.kvec, a, string.format('oc0 + %d', v * W), ctx.padded)
      if ep ~= '' then eps[#eps + 1] = ep end
      stores[#stores + 1] = store_vec('out', off, a, vtail)
    end
  end
  local bcast = {}
  for i, px in ipairs(pixels) do bcast[i] = string.format('x[%d + ic]', px.xoff) end
  loads, fmas = common.tile_step(bcast, V, W, 'w')
  local uses_oc0 = ctx.uses_oc0
  if pool then
    local pkvec = #pool.epilogue
    for pr = 0, PH / pool.kh - 1 do
      for pc = 0, PW / pool.kw - 1 do
        for v = 0, V - 1 do
          local vals = {}
          for i = 0, pool.kh - 1 do
            for j = 0, pool.kw - 1 do
              vals[#vals + 1] = string.format('a%d_%d', (pr * pool.kh + i) * PW + pc * pool.kw + j, v)
            end
          end
          local m = string.format('p%d_%d_%d', pr, pc, v)
          pooled[#pooled + 1] = common.combine_pool(pool, vals, m)
          local ep = E:vector(pool.epilogue, pkvec, m, string.format('oc0 + %d', v * W), ctx.padded)
          if ep ~= '' then pooled[#pooled + 1] = ep end
          pooled[#pooled + 1] = store_vec('pout', (pr * pool.ow + pc) * oc + v * W, m,
            v == V - 1 and tail or 0)
        end
      end
    end
  end
  local finish
  local ep_text = table.concat(eps, '\n')
  if pool then
    local done = ep_text .. '\n' .. table.concat(pooled, '\n')
    finish = single and done or ('if (last) {\n' .. done .. '\n} else {\n' .. table.concat(stores, '\n') .. '\n}')
  else
    local st = table.concat(stores, '\n')
    finish = single and (ep_text .. '\n' .. st) or ('if (last) {\n' .. ep_text .. '\n}\n' .. st)
  end
  if not single then finish = table.concat(carry, '\n') .. '\n' .. finish end
  -- Parameters: what the tile writes, reads, and (only when used) its block's first
  -- channel and its chunk of input channels.
  local params, doc = {}, {}
  if not (pool and single) then
    params[#params + 1] = 'float *restrict out'
    doc[#doc + 1] = pool and 'out: the tile\'s first partial sum;' or 'out: the tile\'s first output value (or partial sum);'
  end
  if pool then params[#params + 1] = 'float *restrict pout' end
  params[#params + 1] = 'const float *restrict in, const float *restrict w, const float *restrict bias'
  doc[#doc + 1] = 'in: the first window\'s top-left input value at this chunk\'s first channel; w, bias: the block\'s'
    .. ' packed weights for this chunk and its bias;'
  if uses_oc0 then
    params[#params + 1] = 'int oc0'
    doc[#doc + 1] = 'oc0: the block\'s first channel;'
  end
  if not single then
    params[#params + 1] = 'int nic, int first, int last'
    doc[#doc + 1] = 'nic: input channels in this chunk; first/last: the chunk is the first/last of the sum.'
  end
  local name = string.format('%s_tile%dx%dx%d%s%s', E:fn(node), PH, PW, V, partial and 't' or '', ctx.suffix or '')
  local vars = {
    fn = name, PH = PH, PW = PW, V = V, KH = g.kh, KW = g.kw,
    params = table.concat(params, ', '), doc = table.concat(doc, ' '):gsub(';$', '.'),
    what = pool and string.format('; the %dx%d %s pool of each window stored to pout', pool.kh, pool.kw, pool.mode) or '',
    ROW_STEP = g.dh * g.iw * ctx.stride, COL_STEP = g.dw * ctx.stride, WSTEP = V * W, NIC = single and g.ic or 'nic',
    acc_init = table.concat(init, '\n'), w_load = loads, fmas = fmas,
    finish = finish,
  }
  if icb then
    vars.ICB, vars.NACC, vars.part_init = icb, #part_init, table.concat(part_init, '\n')
    vars.flush, vars.take = table.concat(flush, '\n'), table.concat(take, '\n')
  end
  return name, template.section('simd_conv', icb and 'tile_blocked' or 'tile', vars)
end

-- The geometry of the zero-padded copy of the input: same windows, no padding.
function M.padded_geometry(g)
  local p = {}
  for k, v in pairs(g) do p[k] = v end
  p.ih, p.iw = g.ih + g.pt + g.pb, g.iw + g.pl + g.pr
  p.pt, p.pb, p.pl, p.pr = 0, 0, 0, 0
  return p
end

-- Units (bands x channel blocks) a threaded layer aims at per thread, so a thread the system
-- delays leaves little for the others to wait for.
M.UNITS_PER_THREAD = 8

-- A threaded band keeps at least this many register tiles, so each chunk of weights loaded
-- into L1 still serves several tiles (R2 at 2 threads: 1.34-1.35 ms with 16, 1.38-1.41 ms
-- with 8, best of 300 runs).
M.MIN_BAND_TILES = 16

-- Bands for `groups` row groups of `tiles` register tiles each: at least `min` (what fits
-- the cache), at most as many as keep MIN_BAND_TILES tiles each, from half of `want` up:
-- the count whose largest band is closest to the average (equal bands share evenly), the
-- nearest to `want` among equals.
function M.bands(groups, min, want, tiles)
  min = math.max(min, 1)
  local most = math.min(groups, math.max(min, math.floor(groups / math.ceil(M.MIN_BAND_TILES / tiles))))
  local best, best_ratio
  for nb = math.min(most, math.max(min, math.ceil(want / 2))), most do
    local ratio = math.ceil(groups / nb) * nb / groups
    if not best_ratio or ratio < best_ratio - 1e-9
        or (ratio < best_ratio + 1e-9 and math.abs(nb - want) < math.abs(best - want)) then
      best, best_ratio = nb, ratio
    end
  end
  return best
end

-- The copy of node's input the tiles read (L: the plan; g0: the layer's geometry), in
-- chunks of input channels and with its zero padding, registered with E to run before the
-- layer; on a threaded build it is cut into bands of rows like a layer.
function M.pad_copy(node, E, g0, L)
  local g, P = L.g, L.P
  local rows = g.ih
  local threaded = L.pre_units ~= nil
  local fn = E:fn(node) .. '_pad'
  E:before(node, fn)
  local nicb = L.nicb
  local iclast = g.ic - (nicb - 1) * P.ICB
  return template.section('simd_conv', 'pad_copy', { fn = fn, name = node.name,
    chunks = string.format('%s of %d input channels%s', util.count(nicb, 'chunk'), P.ICB,
      iclast ~= P.ICB and string.format(' (the last %d)', iclast) or ''),
    PT = g0.pt, PB = g0.pb, PL = g0.pl, PR = g0.pr, IH = g0.ih, IW = g0.iw, IC = g.ic,
    ICB = P.ICB, NICB = nicb, ICLAST = iclast, BLOCK = L.block, PROW = g.iw * P.ICB,
    LAST_BLOCK = (nicb - 1) * L.block, LAST_SRC = (nicb - 1) * P.ICB,
    LEFT = g0.pl * P.ICB, RIGHT = g0.pr * P.ICB, RIGHT0 = (g0.pl + g0.iw) * P.ICB,
    part_params = threaded and E:part_params(true, false) or '', prologue = threaded and '(void)work;' or '',
    rows = threaded and string.format('const int y0 = %s, y1 = %s;', util.c_share('part', rows, 'parts'),
      util.c_share('(part + 1)', rows, 'parts'))
      or string.format('const int y0 = 0, y1 = %d;', rows),
    rows_comment = threaded and string.format('Part p of N fills rows p * %d / N up to the next part\'s.', rows) or '',
  })
end

local function r16(n) return math.ceil(n / 16) * 16 end

-- Not a 1-D layer: cnnc.simd.conv1d runs those.
function M.eligible(node, t)
  return node.g ~= nil and (node.p.groups or 1) == 1 and t.width > 1 and not common.is_1d(node.g)
end

-- How node runs on target t (the kernel's plan, cnnc.passes.select): the geometry the tiles
-- read (g: the padded copy's when the layer has padding), the loop plan P, and the layer's
-- scratch memory. A layer with padding, or with several chunks of input channels and a
-- window wider than one pixel, first copies its input into the scratch (so does one keeping
-- partial sums there, below), chunk by chunk: block k holds channels k * ICB .. of every
-- (zero-padded) pixel, ICB floats apart (the last chunk's block uses its first channels
-- only), so a tile's windows read consecutive cache lines, not one line per pixel a whole
-- pixel of channels apart (at 512 channels the 2 KB stride put every input line of a tile
-- into two L1 sets). With a pool computed in the tiles (ctx.pool = {kh, kw}) and several
-- chunks, the convolution-sized buffer of partial sums follows. nil when no register tile
-- holds whole pool windows. With ctx.threads > 1, the output is cut into bands (units: bands
-- x channel blocks) that threads share; the copy into bands of rows (pre_units).
function M.plan(node, t, ctx)
  local g0, oc = node.g, node.p.filters
  local padded = g0.pt + g0.pb + g0.pl + g0.pr > 0
  local g = padded and M.padded_geometry(g0) or g0
  local nvec = math.ceil(oc / t.width)
  local mult = ctx.pool
  local P = M.tile_plan(t, g, nvec, mult, ctx.tune)
  if not P then return nil end
  local nicb = math.ceil(g.ic / P.ICB)
  local partials = mult ~= nil and nicb > 1
  local copy = padded or (nicb > 1 and (g.kh * g.kw > 1 or partials))
  -- stride: floats between two pixels of a chunk in what the tiles read; block: between chunks
  local stride, block = copy and P.ICB or g.ic, copy and g.ih * g.iw * P.ICB or P.ICB
  local head = copy and r16(nicb * g.ih * g.iw * P.ICB) or 0
  local L = { g = g, padded = padded, copy = copy, stride = stride, block = block, nvec = nvec, P = P, nicb = nicb,
    partials = partials, head = head, scratch = head + (partials and g0.oh * g0.ow * oc or 0),
    copy_floats = head, work = partials,
    nblocks = math.ceil(nvec / P.V), nbands = math.ceil(g.oh / P.R),
    pre = copy, post = epilogue.vector_prefix(node.epilogue) < #node.epilogue }
  local threads = ctx.threads or 1
  if threads > 1 then
    -- Bands are the units threads share: equal ones (whole register tiles of PH rows, within
    -- one tile), and enough of them for several per thread. A single output row (Conv1D)
    -- is cut into bands of columns (whole tiles of PW pixels) instead.
    local want = math.ceil(M.UNITS_PER_THREAD * threads / L.nblocks)
    if g.oh == 1 then
      L.groups = math.ceil(g.ow / P.PW)
      L.nbands = M.bands(L.groups, 1, want, 1)
    else
      L.groups = math.ceil(g.oh / P.PH)
      L.nbands = M.bands(L.groups, L.nbands, want, math.ceil(g.ow / P.PW))
    end
    L.units = L.nblocks * L.nbands
    if copy and g.ih > 1 then L.pre_units = g.ih end
  end
  L.describe = string.format('tiles of %dx%d pixels x %d vectors, input channels in chunks of %d, bands of %d rows%s',
    P.PH, P.PW, P.V, P.ICB, P.R, L.units and string.format(', %d parts', L.units) or '')
  return L
end

-- Modelled cycles on one thread: the layer's multiply-adds at the kernel's efficiency.
function M.cost(node, L, t)
  local g = node.g
  return g.oh * g.ow * g.kh * g.kw * g.ic * L.nvec * t.width / (common.macs_per_cycle(t) * M.EFFICIENCY)
end

-- Returns the C text; tells E (E:before, E:parallel) how the forward function calls it.
function M.emit(node, E)
  local g0, oc = node.g, node.p.filters
  local t = E.target
  local W = t.width
  local L = node.sel.plan
  local g, nvec, P = L.g, L.nvec, L.P
  local pool = node.sel.pool
  local V, PH, PW = P.V, P.PH, P.PW
  local kvals, nblocks = M.pack(node, W, P, nvec, g)
  local kname = E:constant(node, 'kernel_packed', kvals, string.format(
    '%s.kernel packed: (block of %d vectors, chunk of %d input channels, ky, kx, ic, %d channels)', node.name, V, P.ICB, V * W))
  local bname = common.padded_bias(node, E, nvec, W)
  local kvec = epilogue.vector_prefix(node.epilogue)
  local ctx = { kvec = kvec, padded = common.padded_affine(node, E, nvec, W, oc), pool = pool,
    single = L.nicb == 1, stride = L.stride, uses_oc0 = common.uses_channel(node.epilogue, kvec, pool) }

  local fns, made = {}, {}
  local function tile(ph, pw, v, partial)
    local key = table.concat({ ph, pw, v, tostring(partial) }, ',')
    if not made[key] then
      local name, text = M.tile_fn(E, node, g, ph, pw, v, partial, ctx)
      made[key] = name
      fns[#fns + 1] = text
    end
    return made[key]
  end
  local threaded = L.units ~= nil
  local nbands, y0, y1, bands_of = L.nbands, 'band * ' .. P.R, nil, util.count(P.R, 'row')
  y1 = string.format('y0 + %d < %d ? y0 + %d : %d', P.R, g.oh, P.R, g.oh)
  local columns, x0, x1 = '', '0', tostring(g.ow)
  if threaded then
    if g.oh == 1 then
      local groups = L.groups
      columns = string.format('const int x0 = %s * %d, x1 = band == %d ? %d : %s * %d;',
        util.c_share('band', groups, nbands), PW, nbands - 1, g.ow, util.c_share('(band + 1)', groups, nbands), PW)
      x0, x1 = 'x0', 'x1'
      y0, y1, bands_of = '0', '1', util.count(groups, 'group') .. ' of ' .. util.count(PW, 'column')
    else
      local groups = L.groups
      y0 = string.format('%s * %d', util.c_share('band', groups, nbands), PH)
      y1 = string.format('band == %d ? %d : %s * %d', nbands - 1, g.oh, util.c_share('(band + 1)', groups, nbands), PH)
      bands_of = util.count(groups, 'group') .. ' of ' .. util.count(PH, 'row')
    end
  end
  local nicb = math.ceil(g.ic / P.ICB)
  local iclast = g.ic - (nicb - 1) * P.ICB
  local blocks = {}
  local block_off = 0
  for b = 0, nblocks - 1 do
    local v = math.min(V, nvec - b * V)
    local partial = b == nblocks - 1 and oc % W ~= 0
    local c0 = b * V * W
    local function call(ph, pw)
      local args = {}
      if not (pool and ctx.single) then
        args[1] = string.format('&%s[(oy * %d + ox) * %d + %d]', pool and 'work' or 'out', g.ow, oc, c0)
      end
      if pool then
        args[#args + 1] = string.format('&out[((oy / %d) * %d + ox / %d) * %d + %d]', pool.kh, pool.ow, pool.kw, oc, c0)
      end
      args[#args + 1] = string.format('&x[(oy * %d + ox * %d) * %d + icb * %d], w, %s + %d', g.sh * g.iw, g.sw,
        L.stride, L.block, bname, c0)
      if ctx.uses_oc0 then args[#args + 1] = tostring(c0) end
      if not ctx.single then args[#args + 1] = 'nic, first, last' end
      return string.format('%s(%s);', tile(ph, pw, v, partial), table.concat(args, ', '))
    end
    local function row(ph)
      local pwr = g.ow % PW
      local rest = pwr > 0 and (call(ph, pwr) .. '\nox += ' .. pwr .. ';') or ''
      -- In a band of columns only the last has the narrower tile.
      if rest ~= '' and x1 == 'x1' then rest = 'if (ox < x1) {\n' .. rest .. '\n}' end
      return template.section('simd_conv', 'row', { PH = ph, PW = PW, x0 = x0, x1 = x1, full = call(ph, PW),
        rest = rest })
    end
    local phr = g.oh % PH
    blocks[#blocks + 1] = template.section('simd_conv', 'block', {
      NBANDS = nbands, skip = threaded and string.format('if (%d + band < %s || %d + band >= %s) continue;',
        b * nbands, util.c_share('part', nblocks * nbands, 'parts'), b * nbands,
        util.c_share('(part + 1)', nblocks * nbands, 'parts')) or '',
      c0 = c0, c1 = math.min(oc, c0 + v * W) - 1, y0 = y0, y1 = y1, columns = columns, NICB = nicb,
      bands = util.count(nbands, 'band') .. ' of ' .. bands_of,
      inputs = string.format('input channels in %s of %d', util.count(nicb, 'chunk'), P.ICB),
      chunk = ctx.single and '' or template.section('simd_conv', 'chunk', { NICB = nicb, ICLAST = iclast, ICB = P.ICB }),
      kernel = kname, BLOCKOFF = block_off, CHUNK = g.kh * g.kw * P.ICB * v * W, PH = PH,
      row_full = row(PH), row_rest = phr > 0 and ('if (oy < y1) ' .. row(phr)) or '',
    })
    block_off = block_off + g.kh * g.kw * g.ic * v * W
  end

  local post = common.scalar_pass(node, E, kvec, g.oh * g.ow, oc)
  if post ~= '' then fns[#fns + 1] = post end
  -- The tiles read the input's copy (in) and keep the partial sums of a pooled layer in
  -- work (the scratch after the copy, cnnc.emit.forward).
  if L.copy then fns[#fns + 1] = M.pad_copy(node, E, g0, L) end
  if threaded then E:parallel(node) end
  local pooled = pool and string.format(', %dx%d %s pool in the tiles', pool.kh, pool.kw, pool.mode) or ''
  local params, prologue = E:part_params(threaded, L.partials)
  if L.partials then
    prologue = (prologue ~= '' and prologue .. '\n' or '') .. string.format('/* work: partial sums %s */',
      util.shape_str({ g0.oh, g0.ow, oc }))
  end
  fns[#fns + 1] = template.section('simd_conv', 'layer', {
    fn = E:fn(node), comment = E:comment(node) .. string.format(
      ' [%s: tiles of %dx%d pixels x %d vectors, input channels in chunks of %d, bands of %d rows%s]',
      t.name, PH, PW, V, P.ICB, P.R, pooled),
    part_params = params, prologue = prologue, blocks = table.concat(blocks, '\n'),
  })
  return table.concat(fns, '\n\n')
end

return M
