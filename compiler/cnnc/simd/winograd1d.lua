-- cnnc.simd.winograd1d: stride-1 Conv1D layers of 3 to 9 taps as Winograd convolutions on a
-- SIMD target.
--
-- 3 taps: F(m, 3) along time, m = 2, 4 or 6 outputs per tile from m + 2 inputs, so
-- (m + 2) / 3m multiplies per output and input channel instead of 1. 4 to 9 taps: the taps
-- padded with zeros to 3A (A = 2 or 3) and the layer nested into a 2-D one: with q = t mod 3,
-- y[3u + q] = sum over a < A, b < 3 of w[3a + b] x[3(u + a) + q + b], a 2-D correlation of
-- the rows Z[v][c] = x[3v + c] with the A x 3 filter w[3a + b], run as F(m, A) x F(3, 3):
-- 3m consecutive outputs per tile from (m + A - 1) x 5 transform points (9 taps, m = 4: 30
-- multiplies where the direct kernel makes 108, 0.28 of them). Nesting two small transforms
-- keeps the rounding error of F(4x4, 3x3) (a one-piece F(12, 9) would need 20 points and
-- lose most of float32's digits).
-- The transforms are Cook-Toom's (cnnc.simd.winograd_math.cook_toom); the rest is
-- cnnc.simd.winograd's scheme: per block of T tiles an input transform (vectors across input
-- channels), per transform point p a register-tiled GEMM M[p] = V[p] x U[p] (U = Gr g Gc^T
-- computed in double at compile time), an output transform with the bias and epilogue
-- steps, stored channels-last. Tiles whose input lies inside the layer's input read it in
-- place; the few at the ends (padding, or a partial vector of channels at the very last
-- input step) first copy their stretch of input, zero-padded, into a small buffer. Threads
-- take whole blocks of tiles (bands of time steps), so every thread count computes the same
-- bits. A pool whose windows tile the output is combined in the output transform when a
-- tile holds whole windows (holds_pool). cnnc.passes.select takes it over cnnc.simd.conv1d
-- where the cost model says it is faster.

local common = require 'cnnc.simd.common'
local epilogue = require 'cnnc.epilogue'
local template = require 'cnnc.template'
local wg = require 'cnnc.simd.winograd'
local wmath = require 'cnnc.simd.winograd_math'

local M = {}

M.name = 'winograd'     -- --winograd on/off applies (cnnc.passes.select)
M.holds_pool = true
M.margin = wg.margin

-- U up to this size is read from L2. The cost model, against the direct kernel's
-- (cnnc.simd.conv1d), was set by per-layer measurements (bench/README.md, "Conv1D"):
-- it stays on the safe side, modelling Winograd 1.2-2x slower than measured on small layers.
M.L2_U = 1024 * 1024

local function ceil_div(a, b) return math.floor((a + b - 1) / b) end

function M.eligible(node, t)
  local g = node.g
  if not (t and t.width > 1 and g and common.is_1d(g)) or (node.p.groups or 1) > 1 then return false end
  return g.sw == 1 and g.dw == 1 and g.kw >= 3 and g.kw <= 9
end

-- The tile shapes a layer of k taps may use: {mr, A, mc} for F(mr, A) x F(mc, 3).
local function shapes(k)
  if k == 3 then return { { 1, 1, 2 }, { 1, 1, 4 }, { 1, 1, 6 } } end
  local A = math.ceil(k / 3)
  local list = { { 2, A, 3 }, { 4, A, 3 } }
  list[3] = { 6, A, 3 }
  return list
end

-- The plan of one tile shape for `threads` threads: sizes, GEMM tile, blocks, scratch, and the
-- modelled cycles (est), with cnnc.simd.winograd's cost constants.
local function plan_shape(node, t, sh, threads, tune)
  local g, W = node.g, t.width
  local Fr, Fc = wmath.cook_toom(sh[1], sh[2]), wmath.cook_toom(sh[3], 3)
  local nr, nc, mr, mc = Fr.n, Fc.n, Fr.m, Fc.m
  local P, TL = nr * nc, mr * mc
  local span = mc * (nr - 1) + nc
  local C, K = g.ic, node.p.filters
  local Cp, Kp = ceil_div(C, W) * W, ceil_div(K, W) * W
  local N = ceil_div(g.ow, TL)
  local TG, NV = wg.gemm_tile(t, N, Kp / W, tune)
  local Ntg = ceil_div(N, TG)
  local per_tile = P * (Cp + Kp) * 4
  local macs_cycle = common.macs_per_cycle(t)
  local ubytes = P * C * Kp * 4
  local best
  local cands = tune.wino_t and { math.ceil(tune.wino_t / TG) }
    or { math.max(1, math.floor(tune.wino_block / per_tile / TG)), Ntg }
  for _, gpb in ipairs(cands) do
    gpb = math.max(1, math.min(gpb, Ntg))
    local nb = ceil_div(Ntg, gpb)
    nb = math.min(Ntg, ceil_div(nb, threads) * threads)
    gpb = ceil_div(Ntg, nb)
    local T = gpb * TG
    local nblk = ceil_div(N, T)
    local gemm = nblk * T * P * C * Kp / (macs_cycle * wg.GEMM_EFF)
    -- vector operations per tile: loads, transforms along both axes, stores
    local ops_in = (Cp / W) * (span + nr * wg.nnz(Fc.BT) + (nr > 1 and nc * wg.nnz(Fr.BT) or 0) + P)
    local ops_out = (Kp / W) * (P + nr * wg.nnz(Fc.AT) + (nr > 1 and mc * wg.nnz(Fr.AT) or 0) + 2 * TL)
    local trans = nblk * T * (ops_in + ops_out) * wg.TRANSFORM_OPS / 2
    -- U read once per block: from L2 when it fits there (M.L2_U), else from memory. The
    -- transforms' loads and stores of V and M are counted among their operations.
    local umem = ubytes <= M.L2_U and ubytes / wg.L2_BYTES or nblk * ubytes / wg.MEM_BYTES
    local est = (gemm + trans + umem) / threads
    if not best or est < best.est then best = { T = T, nblk = nblk, est = est } end
  end
  -- Tiles [i0, i1) read their input in place: all of it inside the input, and not the last
  -- input step when a vector load there would read past the end (channels not whole vectors).
  local last = g.iw - (C == Cp and 0 or 1)
  local i0 = math.min(N, ceil_div(g.pl, TL))
  local i1 = math.max(i0, math.min(N, math.floor((last - span + g.pl) / TL) + 1))
  local border = i0 > 0 or i1 < N
  local r16 = function(x) return ceil_div(x, 16) * 16 end
  local vsize, msize = r16(P * best.T * Cp), r16(P * best.T * Kp)
  local bsize = border and r16(span * C + Cp - C) or 0
  return {
    shape = sh, Fr = Fr, Fc = Fc, nr = nr, nc = nc, mr = mr, mc = mc, A = sh[2], P = P, TL = TL, span = span,
    C = C, K = K, Cp = Cp, Kp = Kp, N = N, TG = TG, NV = NV, T = best.T, nblk = best.nblk, est = best.est,
    i0 = i0, i1 = i1, border = border, vsize = vsize, msize = msize, wsp = vsize + msize + bsize,
    scratch = threads * (vsize + msize + bsize), units = threads > 1 and threads or nil, work = true,
    post = epilogue.vector_prefix(node.epilogue) < #node.epilogue,
    describe = string.format('%d tiles of %d steps in blocks of %d, GEMM tiles of %d tiles x %d vectors', N, TL, best.T,
      TG, NV),
  }
end

-- The kernel's plan (cnnc.passes.select): the tile shape the cost model prefers, chosen as for
-- one thread so every thread count computes the same bits (the blocking follows
-- ctx.threads); cnnc.tune's wino_m sets the tile's m. With ctx.pool, the best of the shapes
-- whose tiles hold whole pool windows (nil if none does).
function M.plan(node, t, ctx)
  local tune, pool = ctx.tune, ctx.pool
  if pool and pool.kh ~= 1 then return nil end
  local best
  for _, sh in ipairs(shapes(node.g.kw)) do
    local m = sh[2] == 1 and sh[3] or sh[1]
    local holds = not pool or (sh[1] * sh[3]) % pool.kw == 0
    if holds and (not tune.wino_m or tune.wino_m == m) then
      local p = plan_shape(node, t, sh, 1, tune)
      if not best or p.est < best.est then best = p end
    end
  end
  return best and plan_shape(node, t, best.shape, ctx.threads or 1, tune)
end

function M.cost(node, p) return p.est end

function M.describe(node, p)
  if p.nr == 1 then return string.format('winograd F(%d,3)', p.mc) end
  return string.format('winograd F(%d,%d) x F(3,3) over 3 phases (%d taps)', p.mr, p.A, node.g.kw)
end

-- F's 1-D transform (which: 'BT' or 'AT') of values x(i), with F(4, 3)'s factored forms.
local function transform(F, which, x, def)
  local f = (F.m == 4 and F.r == 3) and wmath.F[4][which:lower()] or nil
  return wmath.transform(F[which], f, x, def)
end

-- The input transform of one channel vector at c: V[(i, j)] = (BTr d BTc^T)[i][j] with
-- d[i][j] = input step mc * i + j of the tile (d: its first step, C floats a step).
local function input_body(p)
  local lines, def = wmath.code()
  for s = 0, p.span - 1 do lines[#lines + 1] = string.format('const vf x%d = vf_load(d + c + %d);', s, s * p.C) end
  local rows = {}
  for i = 0, p.nr - 1 do
    local col = transform(p.Fc, 'BT', function(j) return 'x' .. (p.mc * i + j) end, def)
    rows[i] = {}
    for j = 0, p.nc - 1 do rows[i][j] = p.nr > 1 and def(col[j + 1], string.format('bt%d_%d', i, j)) or col[j + 1] end
  end
  for j = 0, p.nc - 1 do
    local vals = p.nr > 1 and transform(p.Fr, 'BT', function(i) return rows[i][j] end, def) or { rows[0][j] }
    for i = 0, p.nr - 1 do
      lines[#lines + 1] = string.format('vf_store(vt + c + %d, %s);', (i * p.nc + j) * p.T * p.Cp, vals[i + 1])
    end
  end
  return table.concat(lines, '\n')
end

-- The output transform of one output vector at k: Y = ATr m ATc^T + bias, the epilogue, the
-- pool, the stores in time order (output step mc * a + q of the tile is Y[a][q]).
local function output_body(p, node, ctx)
  local lines, def = wmath.code()
  lines[1] = 'const vf bv = vf_load(bias + k);'
  for i = 0, p.nr - 1 do
    for j = 0, p.nc - 1 do
      lines[#lines + 1] = string.format('const vf m%d_%d = vf_load(mt + k + %d);', i, j, (i * p.nc + j) * p.T * p.Kp)
    end
  end
  local rows = {}
  for i = 0, p.nr - 1 do
    local col = transform(p.Fc, 'AT', function(j) return string.format('m%d_%d', i, j) end, def)
    rows[i] = {}
    for q = 0, p.mc - 1 do rows[i][q] = p.nr > 1 and def(col[q + 1], string.format('at%d_%d', i, q)) or col[q + 1] end
  end
  local y = {}
  for q = 0, p.mc - 1 do
    local vals = p.nr > 1 and transform(p.Fr, 'AT', function(i) return rows[i][q] end, def) or { rows[0][q] }
    for a = 0, p.mr - 1 do
      local s = a * p.mc + q
      y[s] = 'y' .. s
      lines[#lines + 1] = string.format('vf %s = vf_add(%s, bv);', y[s], vals[a + 1])
      local ep = ctx.E:vector(node.epilogue, ctx.kvec, y[s], 'k', ctx.padded)
      if ep ~= '' then lines[#lines + 1] = ep end
    end
  end
  local function store(off, val, step)
    local text = string.format('vf_store(o + k + %d, %s);', off, val)
    if p.K % ctx.W ~= 0 then
      text = string.format('if (nk == VF_W) %s else { float t_[VF_W]; vf_store(t_, %s); for (int q = 0; q < nk; ++q) (o + k + %d)[q] = t_[q]; }',
        text, val, off)
    end
    if ctx.ragged and step > 0 then text = string.format('if (%d < len) { %s }', step, text) end
    lines[#lines + 1] = text
  end
  local pool = ctx.pool
  if pool then
    for w = 0, p.TL / pool.kw - 1 do
      local vals = {}
      for s = w * pool.kw, (w + 1) * pool.kw - 1 do vals[#vals + 1] = y[s] end
      local v = 'q' .. w
      lines[#lines + 1] = common.combine_pool(pool, vals, v)
      local ep = ctx.E:vector(pool.epilogue, #pool.epilogue, v, 'k', ctx.padded)
      if ep ~= '' then lines[#lines + 1] = ep end
      store(w * p.K, v, w * pool.kw)
    end
  else
    for s = 0, p.TL - 1 do store(s * p.K, y[s], s) end
  end
  return table.concat(lines, '\n')
end

-- U = Gr g Gc^T for every (c, k), g[a][b] = kernel tap 3a + b (zero past the last tap),
-- packed as the GEMM reads it; a constant E:constant fills (straight into a large model's blob).
local function pack_u(node, p, W)
  local function fill(dst)
    local k = require('cnnc.ir').weight(node, 'kernel').data
    local C, K, taps = p.C, p.K, node.g.kw
    local U = require('ffi').new('double[?]', p.P * C * K)
    local tmp = {}
    for c = 0, C - 1 do
      for o = 0, K - 1 do
        for a = 0, p.A - 1 do   -- tmp[a][j] = sum_b Gc[j][b] g[a][b]
          for j = 1, p.nc do
            local s, Gj = 0, p.Fc.G[j]
            for b = 0, 2 do
              local tap = 3 * a + b
              if tap < taps then s = s + Gj[b + 1] * k[(tap * C + c) * K + o] end
            end
            tmp[a * p.nc + j] = s
          end
        end
        for i = 1, p.nr do
          local Gi = p.Fr.G[i]
          for j = 1, p.nc do
            local s = 0
            for a = 0, p.A - 1 do s = s + Gi[a + 1] * tmp[a * p.nc + j] end
            U[(((i - 1) * p.nc + j - 1) * C + c) * K + o] = s
          end
        end
      end
    end
    wmath.pack_points_into(dst, U, p, W)
  end
  return { count = p.P * p.C * p.Kp, fill = fill }
end

-- Returns the C text; tells E how the forward function calls it (E:after, E:parallel).
function M.emit(node, E)
  local p, g, t = node.sel.plan, node.g, E.target
  local W = t.width
  local base = E:fn(node)
  local uname = E:constant(node, 'winograd_u', pack_u(node, p, W), string.format(
    '%s.kernel as Winograd %s U: (point %d, block of %d vectors, input channel %d, channels)',
    node.name, M.describe(node, p), p.P, p.NV, p.C))
  local bname = common.padded_bias(node, E, p.Kp / W, W)
  local kvec = epilogue.vector_prefix(node.epilogue)
  local pool = node.sel.pool
  local ragged = p.N * p.TL ~= g.ow
  local ctx = { E = E, W = W, kvec = kvec, padded = common.padded_affine(node, E, p.Kp / W, W, p.K), pool = pool,
    ragged = ragged }
  local fns = {}
  local in_fn, gemm_fn, out_fn = base .. '_wi', base .. '_wgemm', base .. '_wo'

  local where = string.format('d = x + (n * %d - %d) * %d;', p.TL, g.pl, p.C)
  if p.border then
    where = template.section('simd_winograd1d', 'border', { I0 = p.i0, I1 = p.i1, inside = where, TL = p.TL,
      PL = g.pl, SPAN = p.span, IW = g.iw, C = p.C })
  end
  fns[#fns + 1] = template.section('simd_winograd1d', 'input', { fn = in_fn, T = p.T, N = p.N, P = p.P,
    PSTRIDE = p.T * p.Cp, CP = p.Cp, SPAN = p.span, buf = p.border and ', float *restrict buf' or '',
    where = where, body = input_body(p) })

  local calls, made = {}, {}
  local kfull, krest = math.floor(p.Kp / W / p.NV), p.Kp / W % p.NV
  for blk = 0, kfull + (krest > 0 and 1 or 0) - 1 do
    local nv = blk < kfull and p.NV or krest
    local k0 = blk * p.NV * W
    local name = string.format('%s_wtile%dx%d', base, p.TG, nv)
    if not made[nv] then made[nv] = true; fns[#fns + 1] = wg.gemm_tile_fn(name, p, nv, W) end
    calls[#calls + 1] = template.section('simd_winograd', 'gemm_block', { T = p.T, TG = p.TG, k0 = k0,
      k1 = k0 + nv * W - 1, call = string.format('%s(m + t * %d + %d, v + t * %d, u + %d);', name, p.Kp, k0, p.Cp,
        p.C * k0) })
  end
  fns[#fns + 1] = template.section('simd_winograd', 'gemm', { fn = gemm_fn, T = p.T, C = p.C, K = p.Kp, kparams = '', range = '',
    blocks = table.concat(calls, '\n') })

  fns[#fns + 1] = template.section('simd_winograd1d', 'output', { fn = out_fn, T = p.T, N = p.N, TL = p.TL,
    L = g.ow, K = p.K, KP = p.Kp,
    first = pool and string.format('n * %d', p.TL / pool.kw) or string.format('n * %d', p.TL),
    pooled = pool and string.format(', each %d-step window pooled (%s) into out (%dx%d)', pool.kw, pool.mode,
      pool.ow, p.K) or '',
    len = ragged and string.format('const int len = %d - n * %d;', g.ow, p.TL) or '',
    nk = p.K % W ~= 0 and string.format('const int nk = %d - k < VF_W ? %d - k : VF_W;', p.K, p.K) or '',
    body = output_body(p, node, ctx) })

  local post = common.scalar_pass(node, E, kvec, g.ow, p.K)
  if post ~= '' then fns[#fns + 1] = post end
  local threaded = p.units ~= nil
  if threaded then E:parallel(node) end
  fns[#fns + 1] = template.section('simd_winograd1d', 'layer', {
    fn = base, comment = E:comment(node) .. string.format(' [%s: %s, %d tiles of %d steps in blocks of %d, GEMM tiles of %d tiles x %d vectors]',
      t.name, M.describe(node, p), p.N, p.TL, p.T, p.TG, p.NV),
    part_params = (E:part_params(threaded, true)),
    part_locals = threaded and '' or 'const int part = 0, parts = 1;',
    WSP = p.wsp, VSIZE = p.vsize, NBLK = p.nblk, T = p.T, P = p.P,
    buffers = p.border and 'a zero-padded copy of a border tile\'s input' or 'nothing more',
    buf = p.border and string.format('float *buf = m + %d;', p.msize) or '',
    tail = (p.border and p.Cp > p.C) and string.format('memset(buf + %d, 0, sizeof(float) * %d);', p.span * p.C,
      p.Cp - p.C) or '',
    bufarg = p.border and ', buf' or '',
    MSTRIDE = p.T * p.Kp, VSTRIDE = p.T * p.Cp, USIZE = p.C * p.Kp,
    in_fn = in_fn, gemm_fn = gemm_fn, out_fn = out_fn, U = uname, bias = bname,
  })
  return table.concat(fns, '\n\n')
end

return M
