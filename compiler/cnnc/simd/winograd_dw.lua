-- cnnc.simd.winograd_dw: the kernel gradient of a 3x3 stride-1 convolution as Winograd
-- F(3x3, m x m) (used by cnnc.simd.conv_backward).
--
-- dK[ky][kx][c][k] = sum over output pixels (y, x) of dy[y][x][k] * x[y + ky][x + kx][c] (the
-- input zero-padded) is a correlation of the input with dy whose "filter" is dy and whose
-- output is 3 x 3. Cut the output pixels into m x m tiles: each tile's share is F(3x3, m x m)
-- of its m x m piece of dy and the (m+2) x (m+2) piece of the input under it,
--   dK_tile = A^T [ (G dy G^T) .* (B^T x B) ] A
-- with the Cook-Toom matrices of F(3, m) (cnnc.simd.winograd_math.cook_toom: A^T 3 x n,
-- G n x m, B^T n x n, n = m + 2). The sum over tiles moves inside the transform (it is
-- linear), so per transform point p and channel pair the work is one multiply-add per tile:
--   Mp[c][k] = sum over tiles t of X~[p][t][c] * D~[p][t][k],   dK = A^T M A,
-- (m+2)^2 / (9 m^2) of the direct form's multiply-adds (F(3x3, 4x4): 0.25, 2x2: 0.44).
--   * The tiles go in chunks of whole tile rows, so that a chunk's transformed input X~ and
--     dy D~ (n^2 x tiles x channels each) stay in L2 (cnnc.tune's wdw_block): per chunk
--     both transforms (vectorised across channels), then per block of IT input channels
--     x V vectors of output channels and per point p a register tile summing over the
--     chunk's tiles into a small buffer, then that block's output transform added into dK
--     (written by the first chunk when the call stores: `add` 0).
--   * The output pixels must be whole tiles (oh and ow multiples of m) and the channels whole
--     vectors; the layer's zero-padded input copy (as the direct kernel's) is read when it pads.
-- `plan` picks m (2 or 4) by counting vector operations and says whether it beats the
-- direct register tiles (9 multiply-adds per output pixel and channel pair).

local common = require 'cnnc.simd.common'
local template = require 'cnnc.template'
local util = require 'cnnc.util'
local wmath = require 'cnnc.simd.winograd_math'

local M = {}

M.F = { [2] = wmath.cook_toom(3, 2), [4] = wmath.cook_toom(3, 4) }
M.margin = 0.8   -- taken when its operation count is below this fraction of the direct form's

-- 3x3, stride 1, no dilation, no groups, channels whole vectors.
function M.eligible(node, t)
  local g = node.g
  return t.width > 1 and g.rank == 2 and g.kh == 3 and g.kw == 3 and g.sh == 1 and g.sw == 1 and g.dh == 1
    and g.dw == 1 and (node.p.groups or 1) == 1 and g.ic % t.width == 0 and node.p.filters % t.width == 0
end

local function nnz(A)
  local n = 0
  for _, row in ipairs(A) do for _, v in ipairs(row) do if v ~= 0 then n = n + 1 end end end
  return n
end

local function r16(x) return math.ceil(x / 16) * 16 end

-- The plan for output tile m, or nil when the output is not whole tiles: chunks of TR tile
-- rows, and the modelled vector operations per (input channel, output vector) against the
-- direct form's (`ops`, `direct`).
local function plan_m(node, t, m, IT, V, tune)
  local g, W = node.g, t.width
  if g.oh % m ~= 0 or g.ow % m ~= 0 then return nil end
  local F = M.F[m]
  local n = m + 2
  local P = n * n
  local C, K = g.ic, node.p.filters
  local TH, TW = g.oh / m, g.ow / m
  local per_row = P * TW * (C + K) * 4                 -- bytes of X~ and D~ per tile row
  local TR = math.max(1, math.min(TH, math.floor(tune.wdw_block / per_row)))
  local chunks = math.ceil(TH / TR)
  local tiles = TH * TW
  -- per (input channel, output vector): the GEMM (a multiply-add per tile and point, plus a
  -- store and reload of each point's accumulator per chunk), the output transform per chunk
  -- (3 n + 9 row operations, n^2 loads, 9 stores), and each tile's two transforms (columns
  -- then rows, with their loads and stores) shared by the K / W output vectors or the C
  -- input channels
  local gemm = P * (tiles + 3 * chunks)
  local out = chunks * ((n + 3) * nnz(F.AT) + P + 9)
  local xt = tiles * (2 * n * nnz(F.BT) + 2 * P) / (K / W) / W
  local dt = tiles * (2 * n * nnz(F.G) + m * m + P) / C
  return {
    m = m, n = n, P = P, TH = TH, TW = TW, TR = TR, chunks = chunks, IT = IT, V = V,
    xt = r16(P * TR * TW * C), dt = r16(P * TR * TW * K), buf = r16(P * IT * V * W),
    ops = gemm + out + xt + dt, direct = 9 * g.oh * g.ow,
  }
end

-- The plan (cnnc.simd.conv_backward): the cheaper of F(3x3, 2x2) and F(3x3, 4x4) when it
-- beats the direct form by M.margin (whenever the output is whole tiles: force), else nil. IT, V: the register tile (input channels x
-- vectors of output channels). P.floats: the scratch it needs after the padded copy.
function M.plan(node, t, IT, V, tune, force)
  if not M.eligible(node, t) then return nil end
  local best
  for _, m in ipairs({ 2, 4 }) do
    local p = plan_m(node, t, m, IT, V, tune)
    if p and (force or p.ops < p.direct * M.margin) and (not best or p.ops < best.ops * 0.95) then best = p end
  end
  if not best then return nil end
  best.floats = best.xt + best.dt + best.buf
  best.describe = string.format('as Winograd F(3x3, %dx%d) in %d chunk%s of %d tile rows', best.m, best.m,
    best.chunks, best.chunks == 1 and '' or 's', best.TR)
  return best
end

-- Straight-line vector code of a 2-D transform R = A X A^T of an r x r grid of loads into
-- an s x s grid (A: s x r rows): lines, and the C expression of R[i][j].
local function transform2d(A, load)
  local lines, def = wmath.code()
  local r = #A[1]
  local loaded = {}
  for a = 0, r - 1 do
    for b = 0, r - 1 do loaded[a * r + b] = def(load(a, b), string.format('l%d_%d', a, b)) end
  end
  -- columns first: T[i][b] = sum_a A[i][a] X[a][b]
  local T = {}
  for b = 0, r - 1 do
    local col = wmath.transform(A, nil, function(a) return loaded[a * r + b] end, def)
    for i, e in ipairs(col) do T[(i - 1) * r + b] = def(e, string.format('c%d_%d', i - 1, b)) end
  end
  local R = {}
  for i = 0, #A - 1 do
    local row = wmath.transform(A, nil, function(b) return T[i * r + b] end, def)
    for j, e in ipairs(row) do R[i * #A + j - 1] = e end
  end
  return lines, R
end

-- The C text of the layer's weight-gradient function `fn` (params and the padded copy as
-- cnnc.simd.conv_backward makes them), and the register-tile functions it calls.
function M.emit(node, E, P, fn, params, copy, x, bias)
  local g, W = node.g, E.target.width
  local C, K = g.ic, node.p.filters
  local F, m, n, NP = M.F[P.m], P.m, P.n, P.P
  local pw = g.iw + g.pl + g.pr
  local texts = {}
  local base = E:backward_fn(node, 'weights')
  -- input transform: V = B^T x B of each tile of the chunk, per vector of input channels
  local xl, xr = transform2d(F.BT, function(a, b) return string.format('vf_load(s + %d)', (a * pw + b) * C) end)
  local xs = {}
  for p = 0, NP - 1 do xs[#xs + 1] = string.format('vf_store(d + %d, %s);', p * P.TR * P.TW * C, xr[p]) end
  -- dy transform: G dy G^T of each tile, per vector of output channels
  local dl, dr = transform2d(F.G, function(a, b) return string.format('vf_load(s + %d)', (a * g.ow + b) * K) end)
  local ds = {}
  for p = 0, NP - 1 do ds[#ds + 1] = string.format('vf_store(d + %d, %s);', p * P.TR * P.TW * K, dr[p]) end
  -- output transform: A^T M A of one (input channel, output vector), added into dK
  local PS = P.IT * P.V * W
  local ol, orr = transform2d(F.AT, function(a, b) return string.format('vf_load(s + %d)', (a * n + b) * PS) end)
  local os_ = {}
  for c = 0, 8 do
    os_[#os_ + 1] = string.format('vf_store(d + %d, add ? vf_add(vf_load(d + %d), %s) : %s);', c * C * K, c * C * K,
      orr[c], orr[c])
  end
  local function tile_transform(suffix, dst, src, row, ch, lines, stores, comment)
    texts[#texts + 1] = template.section('simd_backward', 'wdw_transform', { fn = base .. suffix, dst = dst, src = src,
      TW = P.TW, M = m, ROW = row, CH = ch, W = W, lines = table.concat(lines, '\n'), stores = table.concat(stores, '\n'),
      comment = util.c_comment(comment) })
  end
  tile_transform('_wxt', 'xt', 'in', pw, C, xl, xs, string.format('Winograd F(3x3, %dx%d) of the kernel gradient '
    .. '(cnnc.simd.winograd_dw). The input transform B^T x B of the tiles of tile rows ty0 .. ty0 + nty - 1, per vector '
    .. 'of input channels: point p of the chunk\'s tile t at xt + p * %d + t * %d.', m, m, P.TR * P.TW * C, C))
  tile_transform('_wdt', 'dt', 'dy', g.ow, K, dl, ds, string.format('The dy transform G dy G^T of the same tiles, per '
    .. 'vector of output channels: point p of the chunk\'s tile t at dt + p * %d + t * %d.', P.TR * P.TW * K, K))
  texts[#texts + 1] = template.section('simd_backward', 'wdw_out', { fn = base, K = K, W = W, PS = PS, VW = P.V * W,
    CK = C * K, olines = table.concat(ol, '\n'), ostores = table.concat(os_, '\n') })
  -- register tiles: it input channels x v vectors at one point, summed over the chunk's tiles
  local made = {}
  local function tile(it, v)
    local name = string.format('%s_wtile%dx%d', base, it, v)
    if made[name] then return name end
    made[name] = true
    local init, loads, fmas, stores = common.outer_tile(it, v, W, function(i, k, acc)
      return string.format('vf_store(mp + %d, %s);', i * P.V * W + k * W, acc)
    end)
    texts[#texts + 1] = template.section('simd_backward', 'wdw_tile', { fn = name, IT = it, V = v, C = C, K = K,
      init = init, loads = loads, fmas = fmas, stores = stores })
    return name
  end
  local blocks = {}
  local nvec = K / W
  for b = 0, math.ceil(nvec / P.V) - 1 do
    local v = math.min(P.V, nvec - b * P.V)
    local full, rest = math.floor(C / P.IT) * P.IT, C % P.IT
    local function run(it, ci)
      return template.section('simd_backward', 'wdw_run', { tile = tile(it, v), P = NP, PS = PS, CT = P.TR * P.TW * C,
        KT = P.TR * P.TW * K, K0 = b * P.V * W, K = K, ci = ci, IT = it, NV = v, base = base })
    end
    blocks[#blocks + 1] = string.format('/* output channels %d .. %d */', b * P.V * W, (b * P.V + v) * W - 1)
    if full > 0 then blocks[#blocks + 1] = string.format('for (int ci = 0; ci < %d; ci += %d) {\n%s\n}', full, P.IT, run(P.IT, 'ci')) end
    if rest > 0 then blocks[#blocks + 1] = string.format('{\nconst int ci = %d;\n%s\n}', full, run(rest, 'ci')) end
  end
  texts[#texts + 1] = template.section('simd_backward', 'wdw_layer', { fn = fn, base = base, params = params,
    comment = util.c_comment(string.format('%s: the weight gradients, added to (add 0: written): the kernel\'s as Winograd '
      .. 'F(3x3, %dx%d) over %dx%d tiles of the output in chunks of %d tile rows%s [%s]', node.name, m, m, m, m, P.TR,
      node.p.use_bias and ', the bias\'s the sum of dy' or '', E.target.name)),
    copy = copy, x = x, TH = P.TH, TR = P.TR, TW = P.TW,
    XT = P.pad, DT = P.pad + P.xt, BUF = P.pad + P.xt + P.dt, blocks = table.concat(blocks, '\n'), bias = bias })
  return table.concat(texts, '\n\n')
end

return M
