-- cnnc.simd.grouped: grouped convolution (groups > 1, not depthwise: RegNet, ResNeXt) as
-- explicit SIMD code for a vector target, 1-D or 2-D.
--
-- Output channel o reads only the icg input channels of its group o // ocg (icg = C /
-- groups, ocg = K / groups). The output channels lie across vector registers as in the
-- direct kernel (cnnc.simd.conv), in blocks of V vectors; a block reads only the input
-- channels of the groups its channels belong to, each input value broadcast once per
-- register tile of PH x PW pixels x V vectors. When a group's channels are a whole number of
-- vectors (RegNet's 16 on AVX-512, AVX2, SSE and NEON), blocks stay within one group and no
-- multiply is wasted; only such layers are taken (M.eligible): a block spanning several
-- groups would multiply their inputs by zero weights, and 0 * inf or 0 * NaN would carry a
-- non-finite input into another group's outputs. A layer whose groups are whole vectors of
-- the target's `narrow` one only (RegNetY's 8, 24, 56, 232, 264 channels on AVX-512) is
-- planned and emitted for that target (8-lane AVX2 vectors, plan.target; cnnc.emit switches
-- the vector macros around its functions), holding no pool and applying in the registers
-- only epilogue steps that call no vector helper (those take the build's vectors); the
-- rest go to the scalar pass. The tiles are the direct kernel's (its tile functions, its
-- zero-bordered copy of a padded input, its bands of rows for threads); only the blocks'
-- input channels differ. Pools whose windows tile the output are computed in the
-- registers (holds_pool). A long window (3x3 x 264 channels in RegNetY-128GF) sums each
-- cell's channels in blocks, each from zero (cnnc.layers.conv.cell_block, docs/numerics.md).

local common = require 'cnnc.simd.common'
local conv = require 'cnnc.simd.conv'
local epilogue = require 'cnnc.epilogue'
local ir = require 'cnnc.ir'
local layer_conv = require 'cnnc.layers.conv'
local template = require 'cnnc.template'
local util = require 'cnnc.util'

local M = {}

M.name = 'grouped'
M.holds_pool = true

-- Fraction of the FMA peak the kernel reaches on RegNet's grouped layers (bench/README.md,
-- "Grouped convolution"): its modelled cost.
M.EFFICIENCY = 0.7

-- The target whose vectors run node: t, or t's narrow target, or nil. A group's output
-- channels must be whole vectors: a block spanning several groups would multiply other
-- groups' inputs by zero weights, and a NaN or infinity there (0 * inf is NaN) would reach
-- outputs that never read it. Other groupings run the layer's own C.
local function vector_target(node, t)
  local gr = node.p.groups or 1
  if t.width <= 1 or node.g == nil or gr <= 1 or (gr == node.g.ic and node.p.filters == gr) then return nil end
  local ocg = node.p.filters / gr
  if ocg % t.width == 0 then return t end
  local n = t.narrow and require('cnnc.targets').list[t.narrow]
  if n and ocg % n.width == 0 then return n end
  return nil
end

function M.eligible(node, t) return vector_target(node, t) ~= nil end

-- The epilogue steps applied in the registers: on a narrow target, up to the first that
-- calls a vector helper of templates/helpers.c (written for the build's vectors).
local function vector_steps(node, narrow)
  local k = epilogue.vector_prefix(node.epilogue)
  if narrow then
    local vmath = require 'cnnc.simd.vmath'
    for i = 1, k do
      local st = node.epilogue[i]
      if st.op == 'act' and #vmath.helpers(st) > 0 then return i - 1 end
    end
  end
  return k
end

-- The blocks of V vectors: first channel c0, vectors v, the first input channel r0 of the
-- groups they span and how many input channels (nic) that is.
local function blocks_of(node, W, V)
  local K, gr, C = node.p.filters, node.p.groups, node.g.ic
  local icg, ocg = C / gr, K / gr
  local nvec = math.ceil(K / W)
  local list = {}
  for b = 0, math.ceil(nvec / V) - 1 do
    local c0 = b * V * W
    local v = math.min(V, nvec - b * V)
    local g0, g1 = math.floor(c0 / ocg), math.floor((math.min(K, c0 + v * W) - 1) / ocg)
    list[#list + 1] = { c0 = c0, v = v, r0 = g0 * icg, nic = (g1 - g0 + 1) * icg }
  end
  return list
end

-- The register tile: V vectors x PH x PW pixels (multiples of the pool window with `mult`)
-- by cnnc.simd.common's step model, each block's steps counted over its own input channels
-- (a block spanning several groups pays for their zeros). nil when no tile holds whole pool
-- windows. tune.tile (V,PH,PW) forces the tile of a layer without a pool.
local function tile_plan(node, t, g, mult, tune)
  local budget = common.budget(t)
  local nvec = math.ceil(node.p.filters / t.width)
  local mh, mw = mult and mult.kh or 1, mult and mult.kw or 1
  local function step(ph, pw, v)
    if ph == 0 or pw == 0 then return 0 end
    return common.step(ph * pw, v, tune.min_step)
  end
  local best, best_cost
  for V = math.min(nvec, t.regs >= 32 and 4 or 3), 1, -1 do
    local blocks, whole = blocks_of(node, t.width, V), true
    for _, b in ipairs(blocks) do whole = whole and b.nic * node.p.groups == node.g.ic end
    -- (only blocks within one group: see M.eligible; a single row, 1-D, takes as many pixels as the registers hold)
    for PW = math.min(g.ow, g.oh == 1 and budget or 8, math.floor(budget / V)), 1, -1 do
      local PH = math.min(g.oh, math.max(4, mh), math.floor(budget / (V * PW)))
      PH = PH - PH % mh
      if whole and PW % mw == 0 and PH > 0 then
        local nh, nw = math.floor(g.oh / PH), math.floor(g.ow / PW)
        local rh, rw = g.oh % PH, g.ow % PW
        local cost = 0
        for _, b in ipairs(blocks) do
          local per_block = nh * nw * step(PH, PW, b.v) + nh * step(PH, rw, b.v) + nw * step(rh, PW, b.v)
            + step(rh, rw, b.v)
          cost = cost + per_block * g.kh * g.kw * b.nic
        end
        if not best_cost or cost < best_cost * 0.98 then best, best_cost = { V = V, PH = PH, PW = PW }, cost end
      end
    end
  end
  if not best then return nil end
  if tune.tile and not mult then
    local f = tune.tile
    local forced = { V = math.min(f[1], nvec), PH = math.min(f[2], g.oh), PW = math.min(f[3], g.ow) }
    local whole = true
    for _, b in ipairs(blocks_of(node, t.width, forced.V)) do whole = whole and b.nic * node.p.groups == node.g.ic end
    if whole then best = forced end
  end
  local row_bytes = g.ow * best.V * t.width * 4
  best.R = math.min(g.oh, math.max(best.PH, math.floor(tune.l2_band / row_bytes / best.PH) * best.PH))
  best.ICB = g.ic
  return best
end

-- The plan (cnnc.passes.select): the tile, the blocks and their input channels, the
-- zero-bordered copy of a padded input (all channels, so conv.pad_copy makes it), and with
-- ctx.threads > 1 the bands of rows (of tiles of columns in 1-D) that threads share.
function M.plan(node, t, ctx)
  local kt = vector_target(node, t)
  local narrow = kt ~= t
  -- (a pool's epilogue may call vector helpers: a narrow layer leaves pools to their own code)
  if narrow and ctx.pool then return nil end
  local W0 = t.width
  t = kt
  local g0 = node.g
  local padded = g0.pt + g0.pb + g0.pl + g0.pr > 0
  local g = padded and conv.padded_geometry(g0) or g0
  local P = tile_plan(node, t, g, ctx.pool, ctx.tune)
  if not P then return nil end
  local blocks = blocks_of(node, t.width, P.V)
  local head = padded and math.ceil(g.ih * g.iw * g.ic / 16) * 16 or 0
  local waste = 0
  for _, b in ipairs(blocks) do waste = math.max(waste, b.nic * node.p.groups / g.ic) end
  local L = { g = g, padded = padded, copy = padded, P = P, blocks = blocks, nvec = math.ceil(node.p.filters / t.width),
    nicb = 1, block = g.ih * g.iw * g.ic, scratch = head, copy_floats = head, pre = padded,
    nblocks = #blocks, nbands = math.ceil(g.oh / P.R), waste = waste, target = kt, kvec = vector_steps(node, narrow),
    why = narrow and string.format('groups of %d channels are not whole %d-lane vectors', node.p.filters / node.p.groups,
      W0) or nil }
  L.post = L.kvec < #node.epilogue
  local threads = ctx.threads or 1
  if threads > 1 then
    local want = math.ceil(conv.UNITS_PER_THREAD * threads / L.nblocks)
    if g.oh == 1 then
      L.groups = math.ceil(g.ow / P.PW)
      L.nbands = conv.bands(L.groups, 1, want, 1)
    else
      L.groups = math.ceil(g.oh / P.PH)
      L.nbands = conv.bands(L.groups, L.nbands, want, math.ceil(g.ow / P.PW))
    end
    L.units = L.nblocks * L.nbands
    if padded and g.ih > 1 then L.pre_units = g.ih end
  end
  L.describe = string.format('tiles of %dx%d pixels x %d vectors, blocks reading %s input channels%s', P.PH, P.PW,
    P.V, waste > 1 and string.format('up to %d groups\' (%dx the multiplies)', waste, waste) or 'their group\'s',
    L.units and string.format(', %d parts', L.units) or '')
  return L
end

-- Modelled cycles on one thread: the multiply-adds of every block over its input channels
-- (on the plan's vectors).
function M.cost(node, L)
  local g, n, t = node.g, 0, L.target
  for _, b in ipairs(L.blocks) do n = n + b.v * b.nic end
  return g.oh * g.ow * g.kh * g.kw * n * t.width / (common.macs_per_cycle(t) * M.EFFICIENCY)
end

function M.describe(node, L)
  return string.format('grouped (%d groups of %d -> %d channels)%s', node.p.groups, node.g.ic / node.p.groups,
    node.p.filters / node.p.groups, L.why and string.format(' on %d-lane %s vectors', L.target.width, L.target.name)
    or '')
end

-- Per block, the kernel over its input channels (ky, kx, ic from r0, V * W lanes): zero where
-- the lane's channel is of another group or past the last. A constant E:constant fills
-- (straight into a large model's blob).
local function pack(node, W, L)
  local g, K, gr = node.g, node.p.filters, node.p.groups
  local icg, ocg = g.ic / gr, K / gr
  local count = 0
  for _, b in ipairs(L.blocks) do count = count + g.kh * g.kw * b.nic * b.v * W end
  local function fill(dst)
    local k = ir.weight(node, 'kernel').data
    local n = 0
    for _, b in ipairs(L.blocks) do
      for ky = 0, g.kh - 1 do
        for kx = 0, g.kw - 1 do
          for ic = b.r0, b.r0 + b.nic - 1 do
            for lane = 0, b.v * W - 1 do
              local o = b.c0 + lane
              dst[n] = 0
              if o < K and math.floor(o / ocg) == math.floor(ic / icg) then
                dst[n] = k[((ky * g.kw + kx) * icg + ic % icg) * K + o]
              end
              n = n + 1
            end
          end
        end
      end
    end
  end
  return { count = count, fill = fill }
end

-- Returns the C text; tells E (E:before, E:parallel) how the forward function calls it.
-- E.target is the plan's target (cnnc.emit sets it for a narrow one).
function M.emit(node, E)
  local g0, K = node.g, node.p.filters
  local t = E.target
  local W = t.width
  local L = node.sel.plan
  local g, P = L.g, L.P
  local pool = node.sel.pool
  local PH, PW = P.PH, P.PW
  local kname = E:constant(node, 'kernel_packed', pack(node, W, L), string.format(
    '%s.kernel packed: (block of %d vectors, ky, kx, the block\'s input channels, %d channels)', node.name, P.V, P.V * W))
  local bname = common.padded_bias(node, E, L.nvec, W)
  local kvec = L.kvec
  local ctx = { kvec = kvec, padded = common.padded_affine(node, E, L.nvec, W, K), pool = pool, single = true,
    stride = g.ic, uses_oc0 = common.uses_channel(node.epilogue, kvec, pool) }
  local fns, made = {}, {}
  local threaded = L.units ~= nil
  local nbands = L.nbands
  local y0, y1 = 'band * ' .. P.R, string.format('y0 + %d < %d ? y0 + %d : %d', P.R, g.oh, P.R, g.oh)
  local columns, x0, x1, bands_of = '', '0', tostring(g.ow), util.count(P.R, 'row')
  if threaded then
    local groups = L.groups
    if g.oh == 1 then
      columns = string.format('const int x0 = %s * %d, x1 = band == %d ? %d : %s * %d;',
        util.c_share('band', groups, nbands), PW, nbands - 1, g.ow, util.c_share('(band + 1)', groups, nbands), PW)
      x0, x1 = 'x0', 'x1'
      y0, y1, bands_of = '0', '1', util.count(groups, 'group') .. ' of ' .. util.count(PW, 'column')
    else
      y0 = string.format('%s * %d', util.c_share('band', groups, nbands), PH)
      y1 = string.format('band == %d ? %d : %s * %d', nbands - 1, g.oh, util.c_share('(band + 1)', groups, nbands), PH)
      bands_of = util.count(groups, 'group') .. ' of ' .. util.count(PH, 'row')
    end
  end
  local blocks, off = {}, 0
  for bi, b in ipairs(L.blocks) do
    local partial = bi == #L.blocks and K % W ~= 0
    local gb = util.copy(g)
    gb.ic = b.nic
    local function tile(ph, pw)
      local key = table.concat({ ph, pw, b.v, tostring(partial), b.nic }, ',')
      if not made[key] then
        ctx.suffix = b.nic ~= g.ic / node.p.groups and ('_' .. b.nic) or nil
        ctx.cell_block = layer_conv.cell_block(b.nic, g.kh * g.kw)
        local name, text = conv.tile_fn(E, node, gb, ph, pw, b.v, partial, ctx)
        made[key] = name
        fns[#fns + 1] = text
      end
      return made[key]
    end
    local function call(ph, pw)
      local o = pool and string.format('&out[((oy / %d) * %d + ox / %d) * %d + %d]', pool.kh, pool.ow, pool.kw, K, b.c0)
        or string.format('&out[(oy * %d + ox) * %d + %d]', g.ow, K, b.c0)
      return string.format('%s(%s, &x[(oy * %d + ox * %d) * %d + %d], w, %s + %d%s);', tile(ph, pw), o, g.sh * g.iw,
        g.sw, g.ic, b.r0, bname, b.c0, ctx.uses_oc0 and (', ' .. b.c0) or '')
    end
    local function row(ph)
      local pwr = g.ow % PW
      local rest = pwr > 0 and (call(ph, pwr) .. '\nox += ' .. pwr .. ';') or ''
      if rest ~= '' and x1 == 'x1' then rest = 'if (ox < x1) {\n' .. rest .. '\n}' end
      return template.section('simd_conv', 'row', { PH = ph, PW = PW, x0 = x0, x1 = x1, full = call(ph, PW), rest = rest })
    end
    local phr = g.oh % PH
    local k = bi - 1
    blocks[#blocks + 1] = template.section('simd_conv', 'block', {
      NBANDS = nbands, skip = threaded and string.format('if (%d + band < %s || %d + band >= %s) continue;',
        k * nbands, util.c_share('part', L.nblocks * nbands, 'parts'), k * nbands,
        util.c_share('(part + 1)', L.nblocks * nbands, 'parts')) or '',
      c0 = b.c0, c1 = math.min(K, b.c0 + b.v * W) - 1, y0 = y0, y1 = y1, columns = columns,
      bands = util.count(nbands, 'band') .. ' of ' .. bands_of,
      NICB = 1, inputs = string.format('input channels %d .. %d', b.r0, b.r0 + b.nic - 1), chunk = '', kernel = kname, BLOCKOFF = off, CHUNK = 0, PH = PH,
      row_full = row(PH), row_rest = phr > 0 and ('if (oy < y1) ' .. row(phr)) or '',
    })
    off = off + g.kh * g.kw * b.nic * b.v * W
  end
  local post = common.scalar_pass(node, E, kvec, g.oh * g.ow, K)
  if post ~= '' then fns[#fns + 1] = post end
  if L.copy then fns[#fns + 1] = conv.pad_copy(node, E, g0, L) end
  if threaded then E:parallel(node) end
  local params, prologue = E:part_params(threaded, false)
  fns[#fns + 1] = template.section('simd_conv', 'layer', {
    fn = E:fn(node), comment = E:comment(node) .. string.format(' [%s: grouped, tiles of %dx%d pixels x %d vectors%s]',
      t.name, PH, PW, P.V, pool and string.format(', %dx%d %s pool in the tiles', pool.kh, pool.kw, pool.mode) or ''),
    part_params = params, prologue = prologue, blocks = table.concat(blocks, '\n'),
  })
  return table.concat(fns, '\n\n')
end

return M
