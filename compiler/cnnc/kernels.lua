-- cnnc.kernels: hand-designed convolution kernels from the image-processing literature.
--
-- Each function returns a 2-D table (rows of numbers) holding the matrix as the literature
-- prints it. A Conv2D applies it as Keras does, by cross-correlation (no flip): the value at
-- (row, column) multiplies the input at that offset of the window. So the printed Sobel x
-- matrix (+1 left, -1 right) answers a left-to-right brightening with a negative value while
-- the printed Prewitt x matrix (-1 left, +1 right) answers it with a positive one; for edge
-- magnitudes the sign makes no difference. `stack` turns a
-- list of them into a Conv2D kernel of Keras shape (kh, kw, 1, n) for a one-channel image.
-- Model files call these, so a bad argument is a cnnc error at the model file's line.

local util = require 'cnnc.util'

local M = {}

M.MAX_SIZE = 1024

local function describe(v) return require('cnnc.args').describe(v) end

local function check(ok, fmt, ...)
  if not ok then util.fail(util.caller_location(), 'nn.kernels.' .. fmt, ...) end
end

local function size_arg(fn, n, default)
  if n == nil then return default end
  check(type(n) == 'number' and n == math.floor(n) and n >= 1 and n <= M.MAX_SIZE,
    '%s: the size must be a whole number from 1 to %d, got %s', fn, M.MAX_SIZE, describe(n))
  return n
end

local function finite_arg(fn, what, v)
  check(type(v) == 'number' and v == v and v ~= math.huge and v ~= -math.huge,
    '%s: %s must be a finite number, got %s', fn, what, describe(v))
  return v
end

local function fill(n, v)
  local k = {}
  for i = 1, n do
    k[i] = {}
    for j = 1, n do k[i][j] = v end
  end
  return k
end

-- Box blur, normalised to sum 1.
function M.box(n)
  n = size_arg('box', n, 3)
  return fill(n, 1 / (n * n))
end

-- Sampled Gaussian, normalised to sum 1.
function M.gaussian(n, sigma)
  n = size_arg('gaussian', n, 5)
  sigma = finite_arg('gaussian', 'sigma', sigma or n / 6)
  check(sigma > 0, 'gaussian: sigma must be positive, got %s', describe(sigma))
  local k, s, c = {}, 0, (n - 1) / 2
  for i = 1, n do
    k[i] = {}
    for j = 1, n do
      local d2 = (i - 1 - c) ^ 2 + (j - 1 - c) ^ 2
      k[i][j] = math.exp(-d2 / (2 * sigma * sigma))
      s = s + k[i][j]
    end
  end
  for i = 1, n do for j = 1, n do k[i][j] = k[i][j] / s end end
  return k
end

-- The simplest edge detectors: horizontal difference and vertical difference.
function M.edge_x() return { { -1, 0, 1 }, { -1, 0, 1 }, { -1, 0, 1 } } end
function M.edge_y() return { { 1, 1, 1 }, { 0, 0, 0 }, { -1, -1, -1 } } end

function M.sobel_x() return { { 1, 0, -1 }, { 2, 0, -2 }, { 1, 0, -1 } } end
function M.sobel_y() return { { 1, 2, 1 }, { 0, 0, 0 }, { -1, -2, -1 } } end

function M.prewitt_x() return { { -1, 0, 1 }, { -1, 0, 1 }, { -1, 0, 1 } } end
function M.prewitt_y() return { { -1, -1, -1 }, { 0, 0, 0 }, { 1, 1, 1 } } end

-- The eight Kirsch compass kernels: the 5,5,5 run rotated around the border in 45 degree
-- steps, starting with north (top row) and turning counter-clockwise (north, north-west,
-- west, ...).
local RING = { { 1, 1 }, { 1, 2 }, { 1, 3 }, { 2, 3 }, { 3, 3 }, { 3, 2 }, { 3, 1 }, { 2, 1 } }
M.kirsch_directions = { 'n', 'nw', 'w', 'sw', 's', 'se', 'e', 'ne' }

function M.kirsch(i)
  i = i or 1
  check(type(i) == 'number' and i == math.floor(i) and i >= 1 and i <= 8,
    'kirsch: the direction must be a whole number from 1 to 8, got %s', describe(i))
  local k = fill(3, -3)
  k[2][2] = 0
  -- North has 5s at ring positions 1..3 (the top row); each step shifts the run one
  -- position counter-clockwise (backwards along the clockwise ring).
  for j = 0, 2 do
    local pos = ((0 + j - (i - 1)) % 8) + 1
    local rc = RING[pos]
    k[rc[1]][rc[2]] = 5
  end
  return k
end

-- Identity plus `amount` times the Laplacian-style detail kernel.
function M.sharpen(amount)
  amount = finite_arg('sharpen', 'the amount', amount or 1)
  return {
    { 0, -amount, 0 },
    { -amount, 1 + 4 * amount, -amount },
    { 0, -amount, 0 },
  }
end

function M.identity(n)
  n = size_arg('identity', n, 3)
  local k = fill(n, 0)
  local c = math.floor(n / 2) + 1
  k[c][c] = 1
  return k
end

-- Stacks 2-D kernels of one size into a Conv2D kernel (kh, kw, 1, #list).
function M.stack(list)
  check(type(list) == 'table' and #list > 0, 'stack: expects a non-empty list of 2-D kernels, got %s', describe(list))
  local kh, kw
  for n, k in ipairs(list) do
    check(type(k) == 'table' and #k >= 1 and type(k[1]) == 'table' and #k[1] >= 1,
      'stack: kernel %d is not a 2-D table of numbers: %s', n, describe(k))
    kh, kw = kh or #k, kw or #k[1]
    check(#k == kh, 'stack: kernel %d has %d rows, kernel 1 has %d', n, #k, kh)
    for y = 1, kh do
      check(type(k[y]) == 'table' and #k[y] == kw, 'stack: row %d of kernel %d is not a list of %d numbers', y, n, kw)
      for x = 1, kw do
        check(type(k[y][x]) == 'number', 'stack: kernel %d at row %d, column %d is %s, not a number', n, y, x,
          describe(k[y][x]))
      end
    end
  end
  local out = {}
  for y = 1, kh do
    out[y] = {}
    for x = 1, kw do
      local ch = {}
      for n, k in ipairs(list) do
        ch[n] = k[y][x]
      end
      out[y][x] = { ch }
    end
  end
  return out
end

return M
