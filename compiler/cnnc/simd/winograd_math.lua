-- cnnc.simd.winograd_math: the numbers and formulas of Winograd F(m x m, 3 x 3) convolution
-- (used by cnnc.simd.winograd): the transform matrices B^T, G, A^T for m = 2 and 4, F(4, 3)'s
-- 1-D transforms with their common subexpressions, U = G g G^T of a layer's kernel (in
-- double, packed as the GEMM reads it), and the straight-line vector C of a 1-D transform.
-- Nothing here knows about activation layouts, blocking or threads.

local ir = require 'cnnc.ir'
local util = require 'cnnc.util'

local M = {}

-- Transform matrices for F(m, 3): points 0, 1, -1 (m = 2, plus infinity) and 0, 1, -1, 2,
-- -2, infinity (m = 4). BT: n x n, G: n x 3, AT: m x n, with n = m + 2.
M.F = {
  [2] = {
    BT = { { 1, 0, -1, 0 }, { 0, 1, 1, 0 }, { 0, -1, 1, 0 }, { 0, 1, 0, -1 } },
    G = { { 1, 0, 0 }, { 0.5, 0.5, 0.5 }, { 0.5, -0.5, 0.5 }, { 0, 0, 1 } },
    AT = { { 1, 1, 1, 0 }, { 0, 1, -1, -1 } },
  },
  [4] = {
    BT = {
      { 4, 0, -5, 0, 1, 0 },
      { 0, -4, -4, 1, 1, 0 },
      { 0, 4, -4, -1, 1, 0 },
      { 0, -2, -1, 2, 1, 0 },
      { 0, 2, -1, -2, 1, 0 },
      { 0, 4, 0, -5, 0, 1 },
    },
    G = {
      { 1 / 4, 0, 0 },
      { -1 / 6, -1 / 6, -1 / 6 },
      { -1 / 6, 1 / 6, -1 / 6 },
      { 1 / 24, 1 / 12, 1 / 6 },
      { 1 / 24, -1 / 12, 1 / 6 },
      { 0, 0, 1 },
    },
    AT = {
      { 1, 1, 1, 1, 1, 0 },
      { 0, 1, -1, 2, -2, 0 },
      { 0, 1, 1, 4, 4, 0 },
      { 0, 1, -1, 8, -8, 1 },
    },
  },
}

-- The finite interpolation points of the 1-D transforms cnnc.simd.winograd1d generates, in
-- the order they are taken (n - 1 of them for n points, infinity the last): small integers
-- and halves keep B^T and A^T exact in float32 and the rounding error of the transforms low
-- (0, 1, -1, 2, -2 give F(4, 3) above; with 1/2, -1/2 Lavin's F(6, 3)).
M.POINTS = { 0, 1, -1, 2, -2, 1 / 2, -1 / 2, 3, -3 }

-- The Cook-Toom transforms of F(m, r), correlation form: for an input d of n = m + r - 1
-- values and a filter g of r, y = A^T [(G g) .* (B^T d)] gives y[i] = sum_k g[k] d[i + k].
-- With the finite points a_0 .. a_{n-2} and infinity: A^T[i][j] = a_j^i (the last column
-- picks infinity's term in the last row), G[j][k] = a_j^k / prod_{l ~= j} (a_j - a_l) (the
-- last row g[r - 1]), row j < n - 1 of B^T the coefficients of prod_{l ~= j} (x - a_l) and
-- its last row those of prod_l (x - a_l). Returns {m, r, n, BT, G, AT} (tables of rows).
function M.cook_toom(m, r)
  local n = m + r - 1
  assert(n - 1 <= #M.POINTS, 'cnnc: no Winograd points for so large a tile')
  local a = {}
  for j = 1, n - 1 do a[j] = M.POINTS[j] end
  -- coefficients (x^0 first) of prod over l in `set` of (x - a_l)
  local function poly(skip)
    local c = { 1 }
    for l = 1, n - 1 do
      if l ~= skip then
        local nc = {}
        for i = 1, #c + 1 do nc[i] = (c[i - 1] or 0) - a[l] * (c[i] or 0) end
        c = nc
      end
    end
    return c
  end
  local BT, G, AT = {}, {}, {}
  for j = 1, n - 1 do
    local c, row = poly(j), {}
    for i = 1, n do row[i] = c[i] or 0 end
    BT[j] = row
    local f = 1
    for l = 1, n - 1 do if l ~= j then f = f * (a[j] - a[l]) end end
    G[j] = {}
    for k = 1, r do G[j][k] = a[j] ^ (k - 1) / f end
  end
  local c, row = poly(nil), {}
  for i = 1, n do row[i] = c[i] or 0 end
  BT[n] = row
  G[n] = {}
  for k = 1, r do G[n][k] = k == r and 1 or 0 end
  for i = 1, m do
    AT[i] = {}
    for j = 1, n - 1 do AT[i][j] = a[j] ^ (i - 1) end
    AT[i][n] = i == m and 1 or 0
  end
  return { m = m, r = r, n = n, BT = BT, G = G, AT = AT }
end

-- F(4, 3)'s 1-D transforms with their common subexpressions (14 and 10 vector operations
-- instead of 22 and 17 for the plain matrix products). x(i): the C name of input i;
-- def(expr, hint): declares a temporary named after hint and returns its name. Returns the
-- output expressions.
local function vsub(a, b) return string.format('vf_fma(vf_set1(-1.0f), %s, %s)', b, a) end
local function vfma(c, a, b) return string.format('vf_fma(vf_set1(%s), %s, %s)', c, a, b) end
M.F[4].bt = function(x, def)
  local d42, d31 = def(vsub(x(4), x(2)), 'd42'), def(vsub(x(3), x(1)), 'd31')
  return {
    vfma('-5.0f', x(2), vfma('4.0f', x(0), x(4))),
    vfma('-4.0f', def(string.format('vf_add(%s, %s)', x(1), x(2)), 's12'), def(string.format('vf_add(%s, %s)', x(3), x(4)), 's34')),
    vfma('4.0f', def(vsub(x(1), x(2)), 'd12'), def(vsub(x(4), x(3)), 'd43')),
    vfma('2.0f', d31, d42),
    vfma('-2.0f', d31, d42),
    vfma('-5.0f', x(3), vfma('4.0f', x(1), x(5))),
  }
end
M.F[4].at = function(x, def)
  local a, b = def(string.format('vf_add(%s, %s)', x(1), x(2)), 's12'), def(vsub(x(1), x(2)), 'd12')
  local c, d = def(string.format('vf_add(%s, %s)', x(3), x(4)), 's34'), def(vsub(x(3), x(4)), 'd34')
  return {
    string.format('vf_add(vf_add(%s, %s), %s)', x(0), a, c),
    vfma('2.0f', d, b),
    vfma('4.0f', c, a),
    string.format('vf_add(%s, %s)', vfma('8.0f', d, b), x(5)),
  }
end

-- U = G g G^T for every (c, k), packed (point, block of NV vectors, c, lanes), zeros past K.
function M.pack(node, p, W)
  local count = p.P * p.C * p.Kp
  return { count = count, fill = function(dst) M.pack_into(dst, node, p, W) end }
end

-- Writes the packed U (M.pack) into the float array dst.
function M.pack_into(dst, node, p, W)
  local G, n, C, K, Kp = M.F[p.m].G, p.n, p.C, p.K, p.Kp
  local k = ir.weight(node, 'kernel').data
  local U = require('ffi').new('double[?]', p.P * C * K)   -- (point, c, k), in double
  local tmp = {}
  for c = 0, C - 1 do
    for o = 0, K - 1 do
      -- g[a][b] = kernel[a][b][c][o]; tmp = G g (n x 3); U = tmp G^T (n x n)
      for i = 1, n do
        local Gi = G[i]
        for b = 0, 2 do
          local s = 0
          for a = 0, 2 do s = s + Gi[a + 1] * k[((a * 3 + b) * C + c) * K + o] end
          tmp[(i - 1) * 3 + b] = s
        end
      end
      for i = 1, n do
        local b0 = (i - 1) * 3
        for j = 1, n do
          local Gj = G[j]
          U[(((i - 1) * n + j - 1) * C + c) * K + o] = tmp[b0] * Gj[1] + tmp[b0 + 1] * Gj[2] + tmp[b0 + 2] * Gj[3]
        end
      end
    end
  end
  M.pack_points_into(dst, U, p, W)
end

-- Writes U (double[P * C * K], indexed (point, c, k)) into the float array dst per point as
-- the GEMM reads it: (point, block of NV output vectors, c, lanes), zeros past K.
-- (cnnc.simd.winograd1d packs its U with this too.)
function M.pack_points_into(dst, U, p, W)
  local C, K, Kp = p.C, p.K, p.Kp
  local z = 0
  for q = 0, p.P - 1 do
    for k0 = 0, Kp - 1, p.NV * W do
      local k1 = math.min(k0 + p.NV * W, Kp) - 1
      for c = 0, C - 1 do
        local base = (q * C + c) * K
        for o = k0, k1 do
          dst[z] = o < K and U[base + o] or 0
          z = z + 1
        end
      end
    end
  end
end

-- C expression sum_j A[i][j] * x(j) with vector operations (A small integers).
local function lin(row, x)
  local e
  for j, a in ipairs(row) do
    if a ~= 0 then
      local xv = x(j - 1)
      if not e then
        e = a == 1 and xv or string.format('vf_mul(vf_set1(%s), %s)', util.c_float(a), xv)
      elseif a == 1 then
        e = string.format('vf_add(%s, %s)', e, xv)
      else
        e = string.format('vf_fma(vf_set1(%s), %s, %s)', util.c_float(a), xv, e)
      end
    end
  end
  return e or 'vf_zero()'
end

-- A 1-D transform (rows of A, or F's factored form `fn`) of inputs x(i): list of expressions.
function M.transform(A, fn, x, def)
  if fn then return fn(x, def) end
  local out = {}
  for i, row in ipairs(A) do out[i] = lin(row, x) end
  return out
end

-- Straight-line code: lines, and def(expr, hint) declaring a temporary: named hint when
-- that is free, else hint_2, hint_3, ... (sums sIJ and differences dIJ of inputs I, J).
function M.code()
  local lines, used = {}, {}
  return lines, function(expr, hint)
    local name = hint
    if used[hint] then
      used[hint] = used[hint] + 1
      name = hint .. '_' .. used[hint]
    else
      used[hint] = 1
    end
    lines[#lines + 1] = string.format('const vf %s = %s;', name, expr)
    return name
  end
end

return M
