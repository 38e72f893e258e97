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
-- are identical for any thread count. `choose` (called by the plan pass) decides per layer
-- between this and the direct kernel (cnnc.simd.conv) with a small cost model.

local epilogue = require 'cnnc.epilogue'
local ir = require 'cnnc.ir'
local template = require 'cnnc.template'
local util = require 'cnnc.util'

local M = {}

local wmath = require 'cnnc.simd.winograd_math'
M.F = wmath.F   -- the transform matrices (tests read them here)

-- Can this node run as Winograd at all?
function M.eligible(node, t)
  if not t or t.width <= 1 or node.op ~= 'Conv2D' or (node.p.groups or 1) > 1 then return false end
  local g = node.g
  return g.kh == 3 and g.kw == 3 and g.sh == 1 and g.sw == 1 and g.dh == 1 and g.dw == 1
end

local function ceil_div(a, b) return math.floor((a + b - 1) / b) end

-- Cost-model constants (per core, in cycles), set from per-layer CPU-time measurements of
-- direct, F(2x2) and F(4x4) on R2/R3's layers and small odd ones (avx512 machine of
-- bench/results.md). The environment knobs are for such experiments; CNNC_WINO_NV (at
-- most that many vectors per GEMM tile) is read by gemm_tile.
M.DIRECT_EFF = 0.80      -- fraction of FMA peak the direct kernel reaches on 3x3 layers
M.GEMM_EFF = 0.80        -- fraction of FMA peak of the per-point GEMM
M.MEM_BYTES = 8          -- bytes per cycle for weights streamed from memory / L3
M.L2_BYTES = 32          -- bytes per cycle for the transformed tiles V and M (L2)
M.TRANSFORM_OPS = 1.0    -- cycles per vector operation of the transforms (loads, stores, FMAs)
M.BLOCK_BYTES = tonumber(os.getenv('CNNC_WINO_BLOCK')) or 768 * 1024   -- V + M of a block (L2)
M.FORCE_M = tonumber(os.getenv('CNNC_WINO_M'))   -- 2 or 4: the tile size for every Winograd layer (experiments)
M.FORCE_T = tonumber(os.getenv('CNNC_WINO_T'))   -- tiles per block (experiments)
M.MIN_SPEEDUP = 1.1      -- `auto` takes Winograd only when the model says at least this much

-- The register tile of the GEMM: TG tiles x NV vectors (cost model as in cnnc.simd.conv).
local function gemm_tile(t, N, kvec)
  local budget = t.regs >= 32 and 24 or 12
  local function step(tg, nv)
    if tg == 0 or nv == 0 then return 0 end
    -- 5, not the FMA latency of 4: tiles of 8 accumulators measured slower than 24-wide ones
    return math.max(tg * nv / 2, (tg + nv) / 2, 5)
  end
  local best, best_cost
  local maxnv = tonumber(os.getenv('CNNC_WINO_NV')) or (t.regs >= 32 and 6 or 3)
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
local function nnz(A)
  local n = 0
  for _, row in ipairs(A) do for _, v in ipairs(row) do if v ~= 0 then n = n + 1 end end end
  return n
end

-- The plan of a layer for output tile m, or nil: sizes, GEMM tile, block size, scratch,
-- and the modelled cycles (est) next to the direct kernel's (direct).
function M.plan(node, t, m, threads)
  local g, W = node.g, t.width
  local n = m + 2
  local P = n * n
  local C, K = g.ic, node.p.filters
  local Cp, Kp = ceil_div(C, W) * W, ceil_div(K, W) * W
  local kvec = Kp / W
  local TH, TW = ceil_div(g.oh, m), ceil_div(g.ow, m)
  local N = TH * TW
  local TG, NV = gemm_tile(t, N, kvec)
  local Ntg = ceil_div(N, TG)                 -- tile groups in the layer
  local per_tile = P * (Cp + Kp) * 4
  local ublock = math.max(1, math.floor(M.BLOCK_BYTES / per_tile / TG))   -- tile groups per block
  local ubytes = P * C * Kp * 4
  local macs_cycle = 2 * W * (t.name == 'sse4' and 0.5 or 1)
  local best
  -- Blocks of g tile groups: fewer blocks read U fewer times, bigger ones spill V and M.
  local cands = M.FORCE_T and { math.ceil(M.FORCE_T / TG) } or { ublock, Ntg }
  for _, gpb in ipairs(cands) do
    gpb = math.max(1, math.min(gpb, Ntg))
    -- Blocks of equal size (no block mostly empty), a multiple of the thread count of them.
    local nb = ceil_div(Ntg, gpb)
    nb = math.min(Ntg, ceil_div(nb, threads) * threads)
    gpb = ceil_div(Ntg, nb)
    local T = gpb * TG
    local nblk = ceil_div(N, T)
    local gemm = nblk * T * P * C * Kp / (macs_cycle * M.GEMM_EFF)
    local spill = per_tile * T > M.BLOCK_BYTES and 2 * nblk * per_tile * T / M.MEM_BYTES or 0   -- V, M to L3 and back
    local trans = nblk * T * ((Cp / W) * (2 * n * nnz(M.F[m].BT) + 2 * P) + (Kp / W) * ((n + m) * nnz(M.F[m].AT) + P + 2 * m * m)) * M.TRANSFORM_OPS / 2
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
  local padded = direct_input and 16 or r16(PH * PW * Cp)
  local vsize, msize = r16(P * T * Cp), r16(P * T * Kp)
  local direct = g.oh * g.ow * 9 * C * Kp / (macs_cycle * M.DIRECT_EFF) / threads
  return {
    m = m, n = n, P = P, C = C, K = K, Cp = Cp, Kp = Kp, TH = TH, TW = TW, N = N, TG = TG, NV = NV,
    T = T, nblk = nblk, PH = PH, PW = PW, padded = padded, direct_input = direct_input, vsize = vsize, wsp = vsize + msize,
    parts = threads, scratch = padded + threads * (vsize + msize), est = best.est, direct = direct,
  }
end

function M.describe(p)
  return string.format('winograd F(%dx%d,3x3)', p.m, p.m)
end

-- The plan pass's hook: marks node.winograd on the nodes that run as Winograd, and says in
-- node.kernel which kernel each eligible node runs (shown by cnnc.report).
-- mode: 'auto' (default: where the cost model says it is faster), 'on' (every eligible
-- layer), 'off'.
function M.choose(g, t, mode, threads)
  mode = mode or 'auto'
  if mode ~= 'auto' and mode ~= 'on' and mode ~= 'off' then
    util.fail(nil, "winograd must be auto, on or off, got '%s'", tostring(mode))
  end
  for _, node in ipairs(g.nodes) do
    node.winograd, node.kernel = nil, nil
    if M.eligible(node, t) then node.kernel = 'direct' end
    if mode ~= 'off' and M.eligible(node, t) then
      -- The kernel is chosen as for one thread, so every thread count computes the same bits;
      -- only the blocking follows the thread count.
      local p2, p4 = M.plan(node, t, 2, 1), M.plan(node, t, 4, 1)
      local best = p4.est <= p2.est and p4 or p2
      if M.FORCE_M then best = M.FORCE_M == 2 and p2 or p4 end
      if mode == 'on' or best.est * M.MIN_SPEEDUP < best.direct then
        node.winograd = M.plan(node, t, best.m, threads or 1)
        node.kernel = M.describe(node.winograd)
      end
    end
  end
  return g
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
  local pool = node.pool
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
      local ep = epilogue.c_vector(node.epilogue, ctx.kvec, y, 'k', ctx.padded)
      if ep ~= '' then lines[#lines + 1] = ep end
      if not pool then store(string.format('o + k + %d', (a * node.g.ow + b) * p.K), y, a, b) end
    end
  end
  if pool then
    -- Each pool window of the tile (ragged tiles hold whole windows: the pool tiles the output).
    local pf = require 'cnnc.simd.pool_fuse'
    for pa = 0, m / pool.kh - 1 do
      for pb = 0, m / pool.kw - 1 do
        local vals = {}
        for i = 0, pool.kh - 1 do
          for j = 0, pool.kw - 1 do vals[#vals + 1] = string.format('y%d_%d', pa * pool.kh + i, pb * pool.kw + j) end
        end
        local v = string.format('q%d_%d', pa, pb)
        lines[#lines + 1] = pf.c_combine(pool, vals, v)
        local ep = epilogue.c_vector(pool.epilogue, #pool.epilogue, v, 'k', ctx.padded)
        if ep ~= '' then lines[#lines + 1] = ep end
        store(string.format('o + k + %d', (pa * pool.ow + pb) * p.K), v, pa * pool.kh, pb * pool.kw)
      end
    end
  end
  return table.concat(lines, '\n')
end

-- The GEMM register tile: TG tiles x nv vectors of one point.
local function gemm_tile_fn(fname, p, nv, W)
  local init, loads, fmas, stores = {}, {}, {}, {}
  for i = 0, p.TG - 1 do
    for j = 0, nv - 1 do init[#init + 1] = string.format('vf a%d_%d = vf_zero();', i, j) end
  end
  for j = 0, nv - 1 do loads[#loads + 1] = string.format('vf w%d = vf_load(u + %d); vf_keep(w%d);', j, j * W, j) end
  for i = 0, p.TG - 1 do
    local line = { string.format('xb = vf_set1(v[%d + c]);', i * p.Cp) }
    for j = 0, nv - 1 do line[#line + 1] = string.format('a%d_%d = vf_fma(xb, w%d, a%d_%d);', i, j, j, i, j) end
    fmas[#fmas + 1] = table.concat(line, ' ')
  end
  for i = 0, p.TG - 1 do
    for j = 0, nv - 1 do stores[#stores + 1] = string.format('vf_store(m + %d, a%d_%d);', i * p.Kp + j * W, i, j) end
  end
  return template.section('simd_winograd', 'gemm_tile', {
    fn = fname, TG = p.TG, NV = nv, C = p.C, USTEP = nv * W,
    acc_init = table.concat(init, '\n'), w_load = table.concat(loads, '\n'),
    fmas = table.concat(fmas, '\n'), stores = table.concat(stores, '\n'),
  })
end

-- Returns the C text; tells E how the forward function calls it (E:before, E:after, E:parallel).
function M.emit(node, E)
  local p, g, t = node.winograd, node.g, E.target
  local W = t.width
  local base = E:fn(node)
  local K = p.K
  local uvals = wmath.pack(node, p, W)
  local uname = E:constant(node, 'winograd_u', uvals, string.format(
    '%s.kernel as Winograd F(%dx%d,3x3) U = G g G^T: (point %d, block of %d vectors, input channel %d, channels)',
    node.name, p.m, p.m, p.P, p.NV, p.C))
  local b = ir.weight(node, 'bias')
  local bias = {}
  for c = 0, p.Kp - 1 do bias[c + 1] = (b and c < K) and b.data[c] or 0 end
  local bname = E:constant(node, 'bias_packed', bias, node.name .. '.bias padded to whole vectors')
  local kvec = epilogue.vector_prefix(node.epilogue)
  local ctx = { W = W, kvec = kvec, padded = require('cnnc.simd.conv').padded_affine(node, E, p.Kp / W, W, K) }
  local fns = {}

  local in_fn, gemm_fn, out_fn = base .. '_wi', base .. '_wgemm', base .. '_wo'
  local pad_fn = base .. '_pad'
  E:before(node, pad_fn)
  if p.direct_input then
    -- The input's address goes to the scratch (a parallel layer gets only out and in).
    fns[#fns + 1] = template.section('simd_winograd', 'keep_input', { fn = pad_fn, name = node.name })
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
    if not made[nv] then made[nv] = true; fns[#fns + 1] = gemm_tile_fn(name, p, nv, W) end
    return name
  end
  for blk = 0, kfull + (krest > 0 and 1 or 0) - 1 do
    local nv = blk < kfull and p.NV or krest
    local k0 = blk * p.NV * W
    calls[#calls + 1] = template.section('simd_winograd', 'gemm_block', { T = p.T, TG = p.TG, k0 = k0,
      k1 = k0 + nv * W - 1, call = string.format('%s(m + t * %d + %d, v + t * %d, u + %d);', tile_fn(nv), p.Kp, k0, p.Cp, p.C * k0) })
  end
  fns[#fns + 1] = template.section('simd_winograd', 'gemm', { fn = gemm_fn, T = p.T, C = p.C, K = p.Kp,
    blocks = table.concat(calls, '\n') })

  local ragged = p.TH * p.m ~= g.oh or p.TW * p.m ~= g.ow
  fns[#fns + 1] = template.section('simd_winograd', 'output', { fn = out_fn, T = p.T, N = p.N, TW = p.TW,
    m = p.m, OH = g.oh, OW = g.ow, OC = K, KP = p.Kp,
    opixel = node.pool and string.format('(oy / %d) * %d + ox / %d', node.pool.kh, node.pool.ow, node.pool.kw)
      or string.format('oy * %d + ox', g.ow),
    pooled = node.pool and string.format(', each %dx%d window pooled (%s) into out (%dx%dx%d)', node.pool.kh,
      node.pool.kw, node.pool.mode, node.pool.oh, node.pool.ow, K) or '',
    bounds = ragged and string.format('const int rows = %d - oy < %d ? %d - oy : %d, cols = %d - ox < %d ? %d - ox : %d;',
      g.oh, p.m, g.oh, p.m, g.ow, p.m, g.ow, p.m) or '',
    nk = K % W ~= 0 and string.format('const int nk = %d - k < VF_W ? %d - k : VF_W;', K, K) or '',
    body = output_body(p, node, ctx) })

  local suffix = {}
  for i = kvec + 1, #node.epilogue do suffix[#suffix + 1] = node.epilogue[i] end
  if #suffix > 0 then
    local post_fn = base .. '_post'
    E:after(node, post_fn)
    fns[#fns + 1] = template.section('simd_conv', 'scalar_pass', { fn = post_fn, name = node.name,
      PIXELS = g.oh * g.ow, OC = K, store = epilogue.c_store(suffix, 'y[c]', 'y[c]', 'c'),
      post = E:post({ epilogue = suffix }, 'y', K) })
  end
  local threaded = (E.threads or 1) > 1
  if threaded then E:parallel(node) end
  fns[#fns + 1] = template.section('simd_winograd', 'layer', {
    fn = base, comment = E:comment(node) .. string.format(
      ' [%s: %s, %d tiles in blocks of %d, GEMM tiles of %d tiles x %d vectors]',
      t.name, M.describe(p), p.N, p.T, p.TG, p.NV),
    part_params = threaded and ', int part, int parts' or '',
    part_locals = threaded and '' or 'const int part = 0, parts = 1;',
    PADDED = p.padded, WSP = p.wsp, VSIZE = p.vsize, NBLK = p.nblk, T = p.T, P = p.P,
    source = p.direct_input and 'the address of the input' or 'the zero-bordered copy of the input',
    input = p.direct_input and 'const float *x;\nmemcpy(&x, in, sizeof x);' or 'const float *x = in;',
    MSTRIDE = p.T * p.Kp, VSTRIDE = p.T * p.Cp, USIZE = p.C * p.Kp,
    in_fn = in_fn, gemm_fn = gemm_fn, out_fn = out_fn, U = uname, bias = bname,
  })
  return table.concat(fns, '\n\n')
end

return M
