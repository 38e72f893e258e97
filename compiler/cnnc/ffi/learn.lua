-- cnnc.ffi.learn: the small learners experiments put on top of compiled features.
--
-- Softmax regression trained by mini-batch SGD with momentum (the "last layer" of a
-- network whose convolutions stay fixed), k-means (kernels learned without labels),
-- feature standardisation, and a seeded random generator (cnnc.initializers' splitmix64,
-- so results are the same on every machine). Everything runs in Lua over FFI arrays,
-- which LuaJIT compiles to tight machine code; nothing here allocates per sample.
-- Data is a float32 tensor (N, D...) (rows = samples) and labels a tensor of N
-- integers 0..K-1 (any dtype), as cnnc.read_idx returns them.

local ffi = require 'ffi'
local common = require 'cnnc.ffi.common'
local progress = require 'cnnc.ffi.progress'
local tensor = require 'cnnc.ffi.tensor'

local M = {}

-- A seeded generator: rng:uniform() in [0, 1), rng:normal(), rng:int(n) in 1..n.
function M.rng(seed, ...)
  local r = require('cnnc.initializers').rng(seed or 0, ...)
  function r.int(self, n) return math.floor(self:uniform() * n) + 1 end
  return r
end

-- A random permutation of 0..n-1 (int32_t array), Fisher-Yates.
function M.permutation(n, rng)
  local p = ffi.new('int32_t[?]', math.max(n, 1))
  for i = 0, n - 1 do p[i] = i end
  for i = n - 1, 1, -1 do
    local j = math.floor(rng:uniform() * (i + 1))
    p[i], p[j] = p[j], p[i]
  end
  return p
end

local function rows(X, what)
  tensor.check(X, what, 'float32')
  local n = X.shape[1]
  if #X.shape < 2 or n == 0 then common.fail('%s: expected samples as rows (N, D), got shape %s', what,
    require('cnnc.util').shape_str(X.shape)) end
  return n, X.n / n
end

local function check_labels(y, n, what)
  tensor.check(y, what)
  if y.n ~= n then common.fail('%s: %d labels for %d samples', what, y.n, n) end
  local k = 0
  for i = 0, n - 1 do
    local v = tonumber(y.data[i])
    if v < 0 or v ~= math.floor(v) then common.fail('%s: label %d is %s, labels must be 0, 1, 2, ...', what, i + 1, v) end
    if v + 1 > k then k = v + 1 end
  end
  return k
end

-- Per-feature mean and standard deviation (float64 tensors (D)) of X's rows.
function M.moments(X)
  local n, d = rows(X, 'learn.moments')
  local mean, sd = tensor.new({ d }, 'float64'), tensor.new({ d }, 'float64')
  local x, m, s = X.data, mean.data, sd.data
  for i = 0, n - 1 do
    local o = i * d
    for j = 0, d - 1 do m[j] = m[j] + x[o + j] end
  end
  for j = 0, d - 1 do m[j] = m[j] / n end
  for i = 0, n - 1 do
    local o = i * d
    for j = 0, d - 1 do local v = x[o + j] - m[j]; s[j] = s[j] + v * v end
  end
  for j = 0, d - 1 do s[j] = math.sqrt(s[j] / n) end
  return mean, sd
end

-- X = (X - mean) / (sd + eps), in place; returns X.
function M.standardize(X, mean, sd, eps)
  local n, d = rows(X, 'learn.standardize')
  if mean.n ~= d then common.fail('learn.standardize: %d means for %d features', mean.n, d) end
  eps = eps or 1e-3
  local x, m, s = X.data, mean.data, sd.data
  local inv = ffi.new('double[?]', d)
  for j = 0, d - 1 do inv[j] = 1 / (s[j] + eps) end
  for i = 0, n - 1 do
    local o = i * d
    for j = 0, d - 1 do x[o + j] = (x[o + j] - m[j]) * inv[j] end
  end
  return X
end

local Softmax = {}
Softmax.__index = Softmax

-- Class scores of row i of x (d features) into p[0..k-1] as probabilities.
local function probabilities(W, b, x, o, d, k, p)
  local zmax = -math.huge
  for c = 0, k - 1 do
    local z, wc = b[c], c * d
    for j = 0, d - 1 do z = z + W[wc + j] * x[o + j] end
    p[c] = z
    if z > zmax then zmax = z end
  end
  local sum = 0
  for c = 0, k - 1 do local e = math.exp(p[c] - zmax); p[c] = e; sum = sum + e end
  for c = 0, k - 1 do p[c] = p[c] / sum end
end

local SGD_OPTS = { epochs = true, lr = true, batch = true, l2 = true, momentum = true, seed = true, classes = true,
  label = true, quiet = true }

-- Trains softmax regression on X (N, D...) float32 and labels y. opts: epochs (10), lr (0.05,
-- decayed linearly to 0), batch (64), l2 (1e-4), momentum (0.9), seed (0), classes,
-- label (progress display), quiet. Returns a classifier: W (K, D), b (K) float64,
-- clf:predict(X) -> int32 labels, clf:accuracy(X, y), clf:loss(X, y).
function M.softmax_regression(X, y, opts)
  opts = common.check_opts(opts, SGD_OPTS, 'learn.softmax_regression')
  local n, d = rows(X, 'learn.softmax_regression')
  local k = opts.classes or check_labels(y, n, 'learn.softmax_regression')
  if opts.classes then check_labels(y, n, 'learn.softmax_regression') end
  local epochs, lr0, bs = opts.epochs or 10, opts.lr or 0.05, opts.batch or 64
  local l2, mom = opts.l2 or 1e-4, opts.momentum or 0.9
  local Wt, bt = tensor.new({ k, d }, 'float64'), tensor.new({ k }, 'float64')
  local W, b = Wt.data, bt.data
  local V, vb = ffi.new('double[?]', k * d), ffi.new('double[?]', k)
  local G, gb = ffi.new('double[?]', k * d), ffi.new('double[?]', k)
  local p = ffi.new('double[?]', k)
  local x, lab = X.data, y.data
  local rng = M.rng(opts.seed or 0, 'softmax_regression')
  local prog = progress.new(epochs * n, opts.label or 'softmax regression', { quiet = opts.quiet })
  local kd = k * d
  for epoch = 0, epochs - 1 do
    local perm = M.permutation(n, rng)
    for start = 0, n - 1, bs do
      local lr = lr0 * (1 - (epoch * n + start) / (epochs * n))
      local stop = math.min(start + bs, n)
      ffi.fill(G, kd * 8)
      ffi.fill(gb, k * 8)
      for s = start, stop - 1 do
        local i = perm[s]
        local o = i * d
        probabilities(W, b, x, o, d, k, p)
        local c0 = lab[i]
        p[c0] = p[c0] - 1
        for c = 0, k - 1 do
          local g, wc = p[c], c * d
          gb[c] = gb[c] + g
          for j = 0, d - 1 do G[wc + j] = G[wc + j] + g * x[o + j] end
        end
      end
      local scale = 1 / (stop - start)
      for j = 0, kd - 1 do
        local v = mom * V[j] - lr * (G[j] * scale + l2 * W[j])
        V[j] = v
        W[j] = W[j] + v
      end
      for c = 0, k - 1 do
        local v = mom * vb[c] - lr * gb[c] * scale
        vb[c] = v
        b[c] = b[c] + v
      end
      prog:update(epoch * n + stop)
    end
  end
  prog:done(string.format('%d epochs x %d samples x %d features', epochs, n, d))
  return setmetatable({ W = Wt, b = bt, classes = k, features = d }, Softmax)
end

function Softmax:predict(X)
  local n, d = rows(X, 'classifier:predict')
  if d ~= self.features then common.fail('classifier:predict: %d features per sample, trained on %d', d, self.features) end
  local out = tensor.new({ n }, 'int32')
  local p = ffi.new('double[?]', self.classes)
  local W, b, x, k = self.W.data, self.b.data, X.data, self.classes
  for i = 0, n - 1 do
    probabilities(W, b, x, i * d, d, k, p)
    local best = 0
    for c = 1, k - 1 do if p[c] > p[best] then best = c end end
    out.data[i] = best
  end
  return out
end

-- Fraction of rows whose predicted class is the label.
function Softmax:accuracy(X, y)
  local pred = self:predict(X)
  if y.n ~= pred.n then common.fail('classifier:accuracy: %d labels for %d samples', y.n, pred.n) end
  local right = 0
  for i = 0, pred.n - 1 do if pred.data[i] == y.data[i] then right = right + 1 end end
  return right / pred.n
end

-- Mean cross-entropy of the labels.
function Softmax:loss(X, y)
  local n, d = rows(X, 'classifier:loss')
  local p = ffi.new('double[?]', self.classes)
  local sum = 0
  for i = 0, n - 1 do
    probabilities(self.W.data, self.b.data, X.data, i * d, d, self.classes, p)
    sum = sum - math.log(math.max(p[y.data[i]], 1e-300))
  end
  return sum / n
end

local KMEANS_OPTS = { iterations = true, seed = true }

-- k-means (Lloyd's algorithm, k-means++ seeding) on the rows of X. Returns the centroids
-- (k, D) float32 and the assignment of each row (int32 (N), 0-based).
function M.kmeans(X, k, opts)
  opts = common.check_opts(opts, KMEANS_OPTS, 'learn.kmeans')
  local n, d = rows(X, 'learn.kmeans')
  if type(k) ~= 'number' or k < 1 or k > n or k ~= math.floor(k) then
    common.fail('learn.kmeans: k must be an integer in 1..%d (the number of rows), got %s', n, tostring(k))
  end
  local rng = M.rng(opts.seed or 0, 'kmeans')
  local x = X.data
  local C = tensor.new({ k, d })
  local c = C.data
  local dist = ffi.new('double[?]', n)
  local function d2(i, cj)
    local s, o, co = 0, i * d, cj * d
    for j = 0, d - 1 do local v = x[o + j] - c[co + j]; s = s + v * v end
    return s
  end
  -- k-means++: each next centre drawn with probability proportional to the squared
  -- distance to the nearest centre so far.
  local first = rng:int(n) - 1
  for j = 0, d - 1 do c[j] = x[first * d + j] end
  for i = 0, n - 1 do dist[i] = d2(i, 0) end
  for cj = 1, k - 1 do
    local total = 0
    for i = 0, n - 1 do total = total + dist[i] end
    local r, pick = rng:uniform() * total, n - 1
    for i = 0, n - 1 do
      r = r - dist[i]
      if r <= 0 then pick = i; break end
    end
    for j = 0, d - 1 do c[cj * d + j] = x[pick * d + j] end
    for i = 0, n - 1 do local v = d2(i, cj); if v < dist[i] then dist[i] = v end end
  end
  local assign = tensor.new({ n }, 'int32')
  local a = assign.data
  local sums, counts = ffi.new('double[?]', k * d), ffi.new('int32_t[?]', k)
  for _ = 1, opts.iterations or 20 do
    local changed = 0
    for i = 0, n - 1 do
      local best, bd = 0, math.huge
      for cj = 0, k - 1 do
        local v = d2(i, cj)
        if v < bd then best, bd = cj, v end
      end
      if a[i] ~= best then changed = changed + 1; a[i] = best end
      dist[i] = bd
    end
    ffi.fill(sums, k * d * 8)
    ffi.fill(counts, k * 4)
    for i = 0, n - 1 do
      local cj, o = a[i], i * d
      counts[cj] = counts[cj] + 1
      for j = 0, d - 1 do sums[cj * d + j] = sums[cj * d + j] + x[o + j] end
    end
    for cj = 0, k - 1 do
      if counts[cj] == 0 then
        -- An empty cluster restarts at the row farthest from its centre.
        local far = 0
        for i = 1, n - 1 do if dist[i] > dist[far] then far = i end end
        for j = 0, d - 1 do c[cj * d + j] = x[far * d + j] end
        dist[far] = 0
      else
        for j = 0, d - 1 do c[cj * d + j] = sums[cj * d + j] / counts[cj] end
      end
    end
    if changed == 0 then break end
  end
  return C, assign
end

return M
