-- cnnc.simd.winograd: 3x3 stride-1 convolutions as Winograd F(m x m, 3 x 3) on a SIMD target.
--
-- Lavin & Gray's minimal filtering: a (m+2) x (m+2) input tile d gives an m x m output tile
-- Y = A^T [ (G g G^T) .* (B^T d B) ] A, so each output costs (m+2)^2 / m^2 multiplies
-- per input channel instead of 9 (F(2x2): 4, F(4x4): 2.25). With many channels the
-- elementwise products become one matrix product per transform point p:
-- M[p] (tiles x K) = V[p] (tiles x C) x U[p] (C x K).
--   * U = G g G^T is computed in double (cnnc.simd.winograd_math) for every (input, output)
--     channel pair and packed per point as the GEMM reads it: (point, block of NV output
--     vectors, c, lanes).
--   * When the input channels are a whole number of vectors, the input transform B^T d B
--     reads the input in place (border tiles read zeros outside it); the layer's scratch
--     then starts with the input's address, since a parallel layer function receives only
--     (out, in). Otherwise the input goes first into a zero-bordered copy of whole tiles
--     and whole vectors of channels at the start of the scratch. After it come the
--     per-thread buffers V [P][T][Cp] and M [P][T][Kp] of one block of T tiles.
--   * Per block of T tiles: input transform (vectorised across channels), per point a
--     register-tiled GEMM (TG tiles x NV vectors in accumulators, V values broadcast),
--     output transform A^T m A + bias + the epilogue steps with a vector form, written to
--     the channels-last output (ragged right/bottom tiles store only their valid pixels).
-- Threads take whole blocks; a tile's arithmetic does not depend on its block, so results
-- are identical for any thread count. When the threads would stream too much of U
-- (threads x U over cnnc.tune's wino_ksplit, 24 MB), every thread instead takes all blocks of one
-- thread's plan but only its share of the blocks of output vectors: each transforms every
-- block's input (a small cost next to the GEMM of such layers) and reads only its share of
-- U, where sharing the tiles has each thread stream all of U for its own blocks. As a kernel (cnnc.passes.select): `plan` picks the
-- tile size m by a small cost model, `cost` is compared with the direct kernel's
-- (cnnc.simd.conv), and an output tile of whole pool windows holds a following pool.

local common = require 'cnnc.simd.common'
local epilogue = require 'cnnc.epilogue'
local template = require 'cnnc.template'

local M = {}

local wmath = require 'cnnc.simd.winograd_math'
M.F = wmath.F   -- the transform matrices (tests read them here)

M.name = 'winograd'
M.holds_pool = true
M.margin = 1.1           -- `auto` takes Winograd only when the model says it is this much faster

-- Can this node run as Winograd at all? 2-D, 3x3, stride 1, no dilation, no groups.
function M.eligible(node, t)
  local g = node.g
  if not (t and t.width > 1 and g and g.rank == 2) or (node.p.groups or 1) > 1 then return false end
  return g.kh == 3 and g.kw == 3 and g.sh == 1 and g.sw == 1 and g.dh == 1 and g.dw == 1
end

local function ceil_div(a, b) return math.floor((a + b - 1) / b) end

-- Cost-model constants (per core, in cycles), set from per-layer CPU-time measurements of
-- direct, F(2x2) and F(4x4) on R2/R3's layers and small odd ones (avx512 machine of
-- bench/results.md). cnnc.tune's wino_* knobs are for such experiments: wino_block (bytes
-- of V and M of a block, L2), wino_m (the tile size of every Winograd layer), wino_t
-- (tiles per block), wino_nv (at most that many vectors per GEMM tile).
M.GEMM_EFF = 0.80        -- fraction of FMA peak of the per-point GEMM
M.MEM_BYTES = 8          -- bytes per cycle for weights streamed from memory / L3
M.L2_BYTES = 32          -- bytes per cycle for the transformed tiles V and M (L2)
M.TRANSFORM_OPS = 1.0    -- cycles per vector operation of the transforms (loads, stores, FMAs)

-- The register tile of the GEMM: TG tiles x NV vectors (cnnc.simd.common's step model; a
-- floor of 5 cycles, not the FMA latency of 4: tiles of 8 accumulators measured slower than
-- 24-wide ones).
-- (cnnc.simd.winograd1d's GEMM is this one too.)
function M.gemm_tile(t, N, kvec, tune)
  local budget = common.budget(t)
  local function step(tg, nv) return common.step(tg, nv, 5) end
  local best, best_cost
  local maxnv = tune.wino_nv or (t.regs >= 32 and 6 or 3)
  for NV = math.min(kvec, maxnv), 1, -1 do
    for TG = math.min(8, math.floor(budget / NV)), 1, -1 do
      local tiles = ceil_div(N, TG) * TG
      local full, rest = math.floor(kvec / NV), kvec % NV
      local cost = tiles / TG * (full * step(TG, NV) + step(TG, rest))
      if not best_cost or cost < best_cost * 0.98 then best, best_cost = { TG, NV }, cost end
    end
  end
  return best[1], best[2]
end

-- Nonzeros of a matrix (vector operations of one 1-D transform).
function M.nnz(A)
  local n = 0
  for _, row in ipairs(A) do for _, v in ipairs(row) do if v ~= 0 then n = n + 1 end end end
  return n
end

-- The plan of a layer for output tile m: sizes, GEMM tile, block size, scratch, and the
-- modelled cycles (est).
local function plan_m(node, t, m, threads, tune)
  local g, W = node.g, t.width
  local n = m + 2
  local P = n * n
  local C, K = g.ic, node.p.filters
  local Cp, Kp = ceil_div(C, W) * W, ceil_div(K, W) * W
  local kvec = Kp / W
  local TH, TW = ceil_div(g.oh, m), ceil_div(g.ow, m)
  local N = TH * TW
  local TG, NV = M.gemm_tile(t, N, kvec, tune)
  local Ntg = ceil_div(N, TG)                 -- tile groups in the layer
  local per_tile = P * (Cp + Kp) * 4
  local ublock = math.max(1, math.floor(tune.wino_block / per_tile / TG))   -- tile groups per block
  local ubytes = P * C * Kp * 4
  local macs_cycle = common.macs_per_cycle(t)
  local best
  -- Blocks of g tile groups: fewer blocks read U fewer times, bigger ones spill V and M.
  local cands = tune.wino_t and { math.ceil(tune.wino_t / TG) } or { ublock, Ntg }
  for _, gpb in ipairs(cands) do
    gpb = math.max(1, math.min(gpb, Ntg))
    -- Blocks of equal size (no block mostly empty), a multiple of the thread count of them.
    local nb = ceil_div(Ntg, gpb)
    nb = math.min(Ntg, ceil_div(nb, threads) * threads)
    gpb = ceil_div(Ntg, nb)
    local T = gpb * TG
    local nblk = ceil_div(N, T)
    local gemm = nblk * T * P * C * Kp / (macs_cycle * M.GEMM_EFF)
    local spill = per_tile * T > tune.wino_block and 2 * nblk * per_tile * T / M.MEM_BYTES or 0   -- V, M to L3 and back
    local trans = nblk * T * ((Cp / W) * (2 * n * M.nnz(M.F[m].BT) + 2 * P) + (Kp / W) * ((n + m) * M.nnz(M.F[m].AT) + P + 2 * m * m)) * M.TRANSFORM_OPS / 2
    local umem = ubytes > 2 * 1024 * 1024 and nblk * ubytes / M.MEM_BYTES or ubytes / M.MEM_BYTES
    local vm = nblk * T * per_tile * 2 / M.L2_BYTES   -- V and M written, then read
    local est = (gemm + spill + trans + umem + vm) / threads
    if not best or est < best.est then best = { T = T, nblk = nblk, est = est } end
  end
  local T, nblk = best.T, best.nblk
  local PH, PW = TH * m + 2, TW * m + 2
  local function r16(x) return ceil_div(x, 16) * 16 end
  -- Channels a whole number of vectors: the input transform reads the input itself (bounds
  -- checked in border tiles) and the scratch starts with just the input's address; else it
  -- starts with a zero-bordered copy of whole tiles and whole vectors.
  local direct_input = C == Cp
  local padded = direct_input and 0 or r16(PH * PW * Cp)
  local vsize, msize = r16(P * T * Cp), r16(P * T * Kp)
  return {
    m = m, n = n, P = P, C = C, K = K, Cp = Cp, Kp = Kp, TH = TH, TW = TW, N = N, TG = TG, NV = NV,
    T = T, nblk = nblk, PH = PH, PW = PW, padded = padded, direct_input = direct_input, vsize = vsize, wsp = vsize + msize,
    parts = threads, scratch = padded + threads * (vsize + msize), est = best.est,
    units = threads > 1 and threads or nil, pre = not direct_input, copy_floats = direct_input and 0 or padded, work = true, post = epilogue.vector_prefix(node.epilogue) < #node.epilogue,
    describe = string.format('%d tiles in blocks of %d, GEMM tiles of %d tiles x %d vectors', N, T, TG, NV),
  }
end

-- The kernel's plan (cnnc.passes.select): the tile size m (2 or 4) the cost model prefers,
-- chosen as for one thread so every thread count computes the same bits (the blocking
-- follows ctx.threads). With ctx.pool, nil unless m is a multiple of the pool window.
function M.plan(node, t, ctx)
  local tune = ctx.tune
  local m = tune.wino_m and math.min(tune.wino_m, 4)   -- no F(6x6, 3x3): 6 means 4 here
  if not m then
    local p2, p4 = plan_m(node, t, 2, 1, tune), plan_m(node, t, 4, 1, tune)
    m = p4.est <= p2.est and 4 or 2
  end
  if ctx.pool and (m % ctx.pool.kh ~= 0 or m % ctx.pool.kw ~= 0) then return nil end
  local threads = ctx.threads or 1
  if threads > 1 then
    -- Output channels shared between the threads: sharing the tiles has every thread
    -- stream all of U for its blocks (threads times one thread's traffic), while sharing the
    -- vectors of output channels keeps one thread's blocks and has each read only its part
    -- of U, at the price of every thread transforming every block's input. A layer whose
    -- single-thread plan is one block reads U once on one thread but once per thread when
    -- the tiles are shared. On the 2-core machine (2026-12-06, 5 rounds beside ONNX Runtime)
    -- sharing output channels took R3 from 1.65-1.78x to 1.87-2.02x its one-thread speed:
    -- its 512-channel layers (U of 17-38 MB) went from 1.4-1.55x to 1.6-1.8x. Below
    -- threads x U of 24 MB (cnnc.tune's wino_ksplit: R2's layers, U up to 2.4 MB) the
    -- threads' U stays in cache and sharing the tiles won (R2: 370 us against 393).
    local p1 = plan_m(node, t, m, 1, tune)
    local kvec = p1.Kp / t.width
    local nkb = math.ceil(kvec / p1.NV)
    -- blocks of output vectors that the threads can share evenly: fewer vectors per GEMM tile
    -- if need be (the same bits: a tile's sums do not depend on the vectors beside it)
    if nkb < 2 * threads and nkb % threads ~= 0 then
      for nv = p1.NV - 1, 2, -1 do
        if math.ceil(kvec / nv) % threads == 0 then
          local t2 = setmetatable({ wino_nv = nv }, { __index = tune })
          p1 = plan_m(node, t, m, 1, t2)
          nkb = math.ceil(kvec / p1.NV)
          break
        end
      end
    end
    -- per thread, sharing tiles moves U + 2 (V + M) / threads floats and sharing output
    -- channels U / threads + 2 V + 2 M / threads: the latter wins when U > 2 V
    local ubytes, vbytes = p1.P * p1.C * p1.Kp * 4, p1.P * p1.T * p1.Cp * 4
    if threads * ubytes >= tune.wino_ksplit and ubytes > 2 * vbytes and (nkb >= 2 * threads or nkb % threads == 0) then
      p1.ksplit, p1.nkb = true, nkb
      p1.parts, p1.units = threads, threads
      p1.scratch = p1.padded + threads * p1.wsp
      p1.est = p1.est / threads
      p1.describe = p1.describe .. ', output channels shared between threads'
      return p1
    end
  end
  return plan_m(node, t, m, threads, tune)
end

function M.cost(node, p) return p.est end

function M.describe(node, p)
  return string.format('winograd F(%dx%d,3x3)', p.m, p.m)
end

-- Body of the input transform for one channel vector at c: V[(i, j)] = (B^T d B)[i][j].
-- load(r, j): the C expression of input row r, column j of the tile at channel c.
local function input_body(p, load)
  local F, n = M.F[p.m], p.n
  local lines, def = wmath.code()
  local t = {}
  for j = 0, n - 1 do
    for r = 0, n - 1 do
      lines[#lines + 1] = string.format('const vf x%d_%d = %s;', r, j, load(r, j))
    end
    local col = wmath.transform(F.BT, F.bt, function(r) return string.format('x%d_%d', r, j) end, def)
    for i = 0, n - 1 do t[i * n + j] = def(col[i + 1], string.format('bt%d_%d', i, j)) end -- (B^T d)[i][j]
  end
  for i = 0, n - 1 do
    local row = wmath.transform(F.BT, F.bt, function(s) return t[i * n + s] end, def)
    for j = 0, n - 1 do
      lines[#lines + 1] = string.format('vf_store(vt + c + %d, %s);', (i * n + j) * p.T * p.Cp, row[j + 1])
    end
  end
  return table.concat(lines, '\n')
end

-- Body of the output transform for one output vector at k: Y = A^T m A + bias, epilogue, stores.
local function output_body(p, node, ctx)
  local F, n, m = M.F[p.m], p.n, p.m
  local lines, def = wmath.code()
  lines[1] = 'const vf bv = vf_load(bias + k);'
  local t = {}
  for j = 0, n - 1 do
    for s = 0, n - 1 do
      lines[#lines + 1] = string.format('const vf m%d_%d = vf_load(mt + k + %d);', s, j, (s * n + j) * p.T * p.Kp)
    end
    local col = wmath.transform(F.AT, F.at, function(s) return string.format('m%d_%d', s, j) end, def)
    for a = 0, m - 1 do t[a * n + j] = def(col[a + 1], string.format('at%d_%d', a, j)) end -- (A^T m)[a][j]
  end
  local ragged = p.TH * m ~= node.g.oh or p.TW * m ~= node.g.ow
  local tail = p.K % (ctx.W) ~= 0
  local pool = ctx.pool
  local function store(dst, y, a, b)
    local text = string.format('vf_store(%s, %s);', dst, y)
    if tail then
      text = string.format('if (nk == VF_W) %s else { float t_[VF_W]; vf_store(t_, %s); for (int q = 0; q < nk; ++q) (%s)[q] = t_[q]; }',
        text, y, dst)
    end
    if ragged and (a > 0 or b > 0) then
      text = string.format('if (%d < rows && %d < cols) { %s }', a, b, text)
    end
    lines[#lines + 1] = text
  end
  for a = 0, m - 1 do
    local row = wmath.transform(F.AT, F.at, function(s) return t[a * n + s] end, def)
    for b = 0, m - 1 do
      local y = string.format('y%d_%d', a, b)
      lines[#lines + 1] = string.format('vf %s = vf_add(%s, bv);', y, row[b + 1])
      local ep = ctx.E:vector(node.epilogue, ctx.kvec, y, 'k', ctx.padded)
      if ep ~= '' then lines[#lines + 1] = ep end
      if not pool then store(string.format('o + k + %d', (a * node.g.ow + b) * p.K), y, a, b) end
    end
  end
  if pool then
    -- Each pool window of the tile (ragged tiles hold whole windows: the pool tiles the output).
    for pa = 0, m / pool.kh - 1 do
      for pb = 0, m / pool.kw - 1 do
        local vals = {}
        for i = 0, pool.kh - 1 do
          for j = 0, pool.kw - 1 do vals[#vals + 1] = string.format('y%d_%d', pa * pool.kh + i, pb * pool.kw + j) end
        end
        local v = string.format('q%d_%d', pa, pb)
        lines[#lines + 1] = common.combine_pool(pool, vals, v)
        local ep = ctx.E:vector(pool.epilogue, #pool.epilogue, v, 'k', ctx.padded)
        if ep ~= '' then lines[#lines + 1] = ep end
        store(string.format('o + k + %d', (pa * pool.ow + pb) * p.K), v, pa * pool.kh, pb * pool.kw)
      end
    end
  end
  return table.concat(lines, '\n')
end

-- The GEMM register tile: TG tiles x nv vectors of one point.
function M.gemm_tile_fn(fname, p, nv, W)
  local init, stores, bcast = {}, {}, {}
  for i = 0, p.TG - 1 do
    for j = 0, nv - 1 do init[#init + 1] = string.format('vf %s = vf_zero();', common.acc(i, j)) end
    bcast[i + 1] = string.format('v[%d + c]', i * p.Cp)
  end
  local loads, fmas = common.tile_step(bcast, nv, W, 'u')
  for i = 0, p.TG - 1 do
    for j = 0, nv - 1 do stores[#stores + 1] = string.format('vf_store(m + %d, %s);', i * p.Kp + j * W, common.acc(i, j)) end
  end
  return template.section('simd_winograd', 'gemm_tile', {
    fn = fname, TG = p.TG, NV = nv, C = p.C, USTEP = nv * W,
    acc_init = table.concat(init, '\n'), w_load = loads, fmas = fmas, stores = table.concat(stores, '\n'),
  })
end

-- Returns the C text; tells E how the forward function calls it (E:before, E:after, E:parallel).
function M.emit(node, E)
  local p, g, t = node.sel.plan, node.g, E.target
  local W = t.width
  local base = E:fn(node)
  local K = p.K
  local uvals = wmath.pack(node, p, W)
  local uname = E:constant(node, 'winograd_u', uvals, string.format(
    '%s.kernel as Winograd F(%dx%d,3x3) U = G g G^T: (point %d, block of %d vectors, input channel %d, channels)',
    node.name, p.m, p.m, p.P, p.NV, p.C))
  local bname = common.padded_bias(node, E, p.Kp / W, W)
  local kvec = epilogue.vector_prefix(node.epilogue)
  local pool = node.sel.pool
  local ctx = { E = E, W = W, kvec = kvec, padded = common.padded_affine(node, E, p.Kp / W, W, K), pool = pool }
  local fns = {}

  local in_fn, gemm_fn, out_fn = base .. '_wi', base .. '_wgemm', base .. '_wo'
  local pad_fn = base .. '_pad'
  if p.direct_input then
    local row, ic = g.iw * p.C, p.C
    fns[#fns + 1] = template.section('simd_winograd', 'input_direct', { fn = in_fn, T = p.T, N = p.N, P = p.P,
      PSTRIDE = p.T * p.Cp, CP = p.Cp, TW = p.TW, M = p.m, PT = g.pt, PL = g.pl, n = p.n,
      IH = g.ih, IW = g.iw, C = p.C,
      rows = table.concat((function()
        local t = {}
        for r = 0, p.n - 1 do t[#t + 1] = string.format('const int r%d = iy0 + %d >= 0 && iy0 + %d < %d;', r, r, r, g.ih) end
        for j = 0, p.n - 1 do t[#t + 1] = string.format('const int c%d = ix0 + %d >= 0 && ix0 + %d < %d;', j, j, j, g.iw) end
        return t
      end)(), '\n'),
      body = input_body(p, function(r, j) return string.format('vf_load(d + c + %d)', r * row + j * ic) end),
      body_border = input_body(p, function(r, j)
        return string.format('r%d && c%d ? vf_load(x + base + %d + c) : vf_zero()', r, j, r * row + j * ic)
      end) })
  else
    E:before(node, pad_fn)
    local copy_row = template.section('simd_winograd', 'copy_pixels', { IW = g.iw, LEFT = g.pl * p.Cp, CP = p.Cp, C = p.C })
    fns[#fns + 1] = template.section('simd_winograd', 'pad_copy', { fn = pad_fn, name = node.name,
      PH = p.PH, PW = p.PW, PT = g.pt, IH = g.ih, PROW = p.PW * p.Cp, LEFT = g.pl * p.Cp,
      RIGHT = (p.PW - g.pl - g.iw) * p.Cp, RIGHT0 = (g.pl + g.iw) * p.Cp, CP = p.Cp, copy_row = copy_row })
    fns[#fns + 1] = template.section('simd_winograd', 'input', { fn = in_fn, T = p.T, N = p.N, P = p.P,
      PSTRIDE = p.T * p.Cp, CP = p.Cp, TW = p.TW, ROWSTEP = p.m * p.PW * p.Cp, COLSTEP = p.m * p.Cp,
      body = input_body(p, function(r, j) return string.format('vf_load(d + c + %d)', (r * p.PW + j) * p.Cp) end), n = p.n })
  end

  local calls = {}
  local kfull = math.floor(p.Kp / W / p.NV)
  local krest = p.Kp / W % p.NV
  local made = {}
  local function tile_fn(nv)
    local name = string.format('%s_wtile%dx%d', base, p.TG, nv)
    if not made[nv] then made[nv] = true; fns[#fns + 1] = M.gemm_tile_fn(name, p, nv, W) end
    return name
  end
  for blk = 0, kfull + (krest > 0 and 1 or 0) - 1 do
    local nv = blk < kfull and p.NV or krest
    local k0 = blk * p.NV * W
    local text = template.section('simd_winograd', 'gemm_block', { T = p.T, TG = p.TG, k0 = k0,
      k1 = k0 + nv * W - 1, call = string.format('%s(m + t * %d + %d, v + t * %d, u + %d);', tile_fn(nv), p.Kp, k0, p.Cp, p.C * k0) })
    calls[#calls + 1] = p.ksplit and string.format('if (kb0 <= %d && %d < kb1) {\n%s\n}', blk, blk, text) or text
  end
  local kparams = p.ksplit and ', int kb0, int kb1' or ''
  fns[#fns + 1] = template.section('simd_winograd', 'gemm', { fn = gemm_fn, T = p.T, C = p.C, K = p.Kp,
    blocks = table.concat(calls, '\n'), kparams = kparams,
    range = p.ksplit and string.format(', for the blocks of %d output vectors kb0 .. kb1 - 1', p.NV) or '' })

  local ragged = p.TH * p.m ~= g.oh or p.TW * p.m ~= g.ow
  fns[#fns + 1] = template.section('simd_winograd', 'output', { fn = out_fn, T = p.T, N = p.N, TW = p.TW,
    m = p.m, OH = g.oh, OW = g.ow, OC = K, KP = p.Kp,
    kparams = p.ksplit and ', int k0, int k1' or '', K0 = p.ksplit and 'k0' or '0', K1 = p.ksplit and 'k1' or p.Kp,
    range = p.ksplit and ', output channels k0 .. k1 - 1' or '',
    opixel = pool and string.format('(oy / %d) * %d + ox / %d', pool.kh, pool.ow, pool.kw)
      or string.format('oy * %d + ox', g.ow),
    pooled = pool and string.format(', each %dx%d window pooled (%s) into out (%dx%dx%d)', pool.kh,
      pool.kw, pool.mode, pool.oh, pool.ow, K) or '',
    bounds = ragged and string.format('const int rows = %d - oy < %d ? %d - oy : %d, cols = %d - ox < %d ? %d - ox : %d;',
      g.oh, p.m, g.oh, p.m, g.ow, p.m, g.ow, p.m) or '',
    nk = K % W ~= 0 and string.format('const int nk = %d - k < VF_W ? %d - k : VF_W;', K, K) or '',
    body = output_body(p, node, ctx) })

  local post = common.scalar_pass(node, E, kvec, g.oh * g.ow, K)
  if post ~= '' then fns[#fns + 1] = post end
  local threaded = p.units ~= nil
  if threaded then E:parallel(node) end
  local lvars = {
    fn = base, comment = E:comment(node) .. string.format(
      ' [%s: %s, %d tiles in blocks of %d, GEMM tiles of %d tiles x %d vectors%s]',
      t.name, M.describe(node, p), p.N, p.T, p.TG, p.NV, p.ksplit and ', output channels shared' or ''),
    part_params = (E:part_params(threaded, true)),
    WSP = p.wsp, VSIZE = p.vsize, NBLK = p.nblk, T = p.T, P = p.P,
    source = p.direct_input and 'the layer\'s input' or 'the zero-bordered copy of the input',
    MSTRIDE = p.T * p.Kp, VSTRIDE = p.T * p.Cp, USIZE = p.C * p.Kp,
    in_fn = in_fn, gemm_fn = gemm_fn, out_fn = out_fn, U = uname, bias = bname,
  }
  if p.ksplit then
    lvars.NKB, lvars.KB, lvars.KP = p.nkb, p.NV * W, p.Kp
    fns[#fns + 1] = template.section('simd_winograd', 'layer_ksplit', lvars)
  else
    lvars.part_locals = threaded and '' or 'const int part = 0, parts = 1;'
    fns[#fns + 1] = template.section('simd_winograd', 'layer', lvars)
  end
  return table.concat(fns, '\n\n')
end

return M
