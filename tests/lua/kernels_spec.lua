-- Hand-designed kernels (cnnc.kernels, nn.kernels): exact values, normalisation,
-- symmetries, the Kirsch compass rotation, and `stack` as a Conv2D kernel.

local T = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'testutil.lua')
local nn = T.nn
local K = nn.kernels
local reference = require 'cnnc.reference'

local function sum(k)
  local s = 0
  for i = 1, #k do for j = 1, #k[i] do s = s + k[i][j] end end
  return s
end

local function abs_k(k)
  local r = {}
  for i = 1, #k do
    r[i] = {}
    for j = 1, #k[i] do r[i][j] = math.abs(k[i][j]) end
  end
  return r
end

-- Cross-correlation response of a 3x3 kernel at the centre of a 3x3 patch f(row, col).
local function response(k, f)
  local s = 0
  for r = 1, 3 do for c = 1, 3 do s = s + k[r][c] * f(r, c) end end
  return s
end

-- The border of a 3x3 kernel, clockwise from the top-left corner.
local RING = { { 1, 1 }, { 1, 2 }, { 1, 3 }, { 2, 3 }, { 3, 3 }, { 3, 2 }, { 3, 1 }, { 2, 1 } }

-- k rotated 45 degrees counter-clockwise: every border value moves one step backwards
-- along the clockwise ring (the centre stays).
local function rotate_ccw(k)
  local r = { { 0, 0, 0 }, { 0, k[2][2], 0 }, { 0, 0, 0 } }
  for p = 1, 8 do
    local from = RING[p]
    local to = RING[(p - 2) % 8 + 1]
    r[to[1]][to[2]] = k[from[1]][from[2]]
  end
  return r
end

describe('nn.kernels', function()
  it('box: n x n, every value 1/n^2, sum 1', function()
    for _, n in ipairs({ 1, 3, 5 }) do
      local k = K.box(n)
      assert.same(n, #k)
      for i = 1, n do
        assert.same(n, #k[i])
        for j = 1, n do assert.same(1 / (n * n), k[i][j]) end
      end
      assert.is_true(math.abs(sum(k) - 1) < 1e-12)
    end
    assert.same(3, #K.box())
  end)

  it('gaussian: sum 1, symmetric, peaked at the centre, the sampled Gaussian ratio', function()
    for _, case in ipairs({ { 5, nil }, { 3, 1 }, { 7, 1.5 }, { 4, 0.8 } }) do
      local n, sigma = case[1], case[2]
      local k = K.gaussian(n, sigma)
      sigma = sigma or n / 6
      assert.same(n, #k)
      assert.is_true(math.abs(sum(k) - 1) < 1e-12)
      for i = 1, n do
        for j = 1, n do
          assert.is_true(math.abs(k[i][j] - k[j][i]) < 1e-15, 'transpose symmetry')
          assert.is_true(math.abs(k[i][j] - k[n + 1 - i][j]) < 1e-15, 'vertical mirror')
          assert.is_true(math.abs(k[i][j] - k[i][n + 1 - j]) < 1e-15, 'horizontal mirror')
          assert.is_true(k[i][j] > 0)
        end
      end
      if n % 2 == 1 then
        local c = (n + 1) / 2
        for i = 1, n do for j = 1, n do assert.is_true(k[i][j] <= k[c][c]) end end
        assert.is_true(math.abs(k[c][c + 1] / k[c][c] - math.exp(-1 / (2 * sigma * sigma))) < 1e-12)
        assert.is_true(math.abs(k[c + 1][c + 1] / k[c][c] - math.exp(-2 / (2 * sigma * sigma))) < 1e-12)
      end
    end
    assert.same(5, #K.gaussian())
  end)

  it('prewitt and edge_x: exact values', function()
    assert.same({ { -1, 0, 1 }, { -1, 0, 1 }, { -1, 0, 1 } }, K.prewitt_x())
    assert.same({ { -1, -1, -1 }, { 0, 0, 0 }, { 1, 1, 1 } }, K.prewitt_y())
    assert.same({ { -1, 0, 1 }, { -1, 0, 1 }, { -1, 0, 1 } }, K.edge_x())
  end)

  it('sobel: the Sobel magnitudes, antisymmetric, sum 0; edge_y: the vertical difference', function()
    assert.same({ { 1, 0, 1 }, { 2, 0, 2 }, { 1, 0, 1 } }, abs_k(K.sobel_x()))
    assert.same({ { 1, 2, 1 }, { 0, 0, 0 }, { 1, 2, 1 } }, abs_k(K.sobel_y()))
    assert.same({ { 1, 1, 1 }, { 0, 0, 0 }, { 1, 1, 1 } }, abs_k(K.edge_y()))
    for _, f in ipairs({ K.sobel_x, K.sobel_y, K.prewitt_x, K.prewitt_y, K.edge_x, K.edge_y }) do
      assert.same(0, sum(f()))
    end
    -- x kernels are odd along x, y kernels odd along y
    for _, k in ipairs({ K.sobel_x(), K.prewitt_x(), K.edge_x() }) do
      for r = 1, 3 do assert.same(-k[r][1], k[r][3]); assert.same(0, k[r][2]) end
    end
    for _, k in ipairs({ K.sobel_y(), K.prewitt_y(), K.edge_y() }) do
      for c = 1, 3 do assert.same(-k[1][c], k[3][c]); assert.same(0, k[2][c]) end
    end
  end)

  -- The values are the matrices as the literature prints them (the lecture this project
  -- grew from); cnnc applies them as cross-correlation, like Keras, so sobel_x and prewitt_x
  -- answer a ramp with opposite signs, exactly as the printed matrices do.
  it('derivative kernels hold the printed values', function()
    assert.same({ { 1, 0, -1 }, { 2, 0, -2 }, { 1, 0, -1 } }, K.sobel_x())
    assert.same({ { 1, 2, 1 }, { 0, 0, 0 }, { -1, -2, -1 } }, K.sobel_y())
    assert.same({ { -1, 0, 1 }, { -1, 0, 1 }, { -1, 0, 1 } }, K.prewitt_x())
    assert.same({ { -1, -1, -1 }, { 0, 0, 0 }, { 1, 1, 1 } }, K.prewitt_y())
    assert.same({ { -1, 0, 1 }, { -1, 0, 1 }, { -1, 0, 1 } }, K.edge_x())
    assert.same({ { 1, 1, 1 }, { 0, 0, 0 }, { -1, -1, -1 } }, K.edge_y())
    local right = function(_, c) return c end -- brighter to the right
    assert.is_true(response(K.prewitt_x(), right) > 0)
    assert.is_true(response(K.sobel_x(), right) < 0)
  end)

  it('kirsch: the first has 5, 5, 5 on top, 0 in the middle, -3 elsewhere', function()
    assert.same({ { 5, 5, 5 }, { -3, 0, -3 }, { -3, -3, -3 } }, K.kirsch(1))
    assert.same(K.kirsch(1), K.kirsch())
  end)

  it('kirsch: each is the previous one rotated by 45 degrees, in the order of kirsch_directions', function()
    for i = 1, 7 do assert.same(rotate_ccw(K.kirsch(i)), K.kirsch(i + 1), 'kirsch ' .. (i + 1)) end
    assert.same(rotate_ccw(K.kirsch(8)), K.kirsch(1))
    assert.same({ 'n', 'nw', 'w', 'sw', 's', 'se', 'e', 'ne' }, K.kirsch_directions)
    -- the named compass points
    assert.same({ { 5, 5, -3 }, { 5, 0, -3 }, { -3, -3, -3 } }, K.kirsch(2))
    assert.same({ { 5, -3, -3 }, { 5, 0, -3 }, { 5, -3, -3 } }, K.kirsch(3))
    assert.same({ { -3, -3, -3 }, { -3, 0, -3 }, { 5, 5, 5 } }, K.kirsch(5))
    assert.same({ { -3, -3, 5 }, { -3, 0, 5 }, { -3, -3, 5 } }, K.kirsch(7))
    for i = 1, 8 do
      assert.same(0, sum(K.kirsch(i)))
      assert.same(0, K.kirsch(i)[2][2])
    end
    assert.has_error(function() K.kirsch(9) end)
    assert.has_error(function() K.kirsch(0) end)
  end)

  it('sharpen(amount) = identity + amount * [[0,-1,0],[-1,4,-1],[0,-1,0]]', function()
    local lap = { { 0, -1, 0 }, { -1, 4, -1 }, { 0, -1, 0 } }
    local id = { { 0, 0, 0 }, { 0, 1, 0 }, { 0, 0, 0 } }
    for _, a in ipairs({ 0, 0.5, 1, 2, 3.25 }) do
      local k = K.sharpen(a)
      for r = 1, 3 do
        for c = 1, 3 do assert.same(id[r][c] + a * lap[r][c], k[r][c]) end
      end
      assert.same(1, sum(k))
    end
    assert.same(K.sharpen(1), K.sharpen())
  end)

  it('identity(n) has a single 1 in the centre', function()
    assert.same({ { 0, 0, 0 }, { 0, 1, 0 }, { 0, 0, 0 } }, K.identity())
    local k = K.identity(5)
    assert.same(1, k[3][3])
    assert.same(1, sum(k))
  end)

  it('stack: Keras shape (kh, kw, 1, n), kernel n at [y][x][1][n]', function()
    local list = { K.box(3), K.sobel_x(), K.kirsch(4) }
    local s = K.stack(list)
    assert.same({ 3, 3, 1, 3 }, T.tensor.nested_shape(s, 'kernel'))
    for y = 1, 3 do
      for x = 1, 3 do
        for n = 1, 3 do assert.same(list[n][y][x], s[y][x][1][n]) end
      end
    end
    assert.same({ 5, 5, 1, 1 }, T.tensor.nested_shape(K.stack({ K.gaussian(5) }), 'kernel'))
    assert.has_error(function() K.stack({}) end)
    assert.has_error(function() K.stack({ K.box(3), K.box(5) }) end)
  end)

  it('stack: a Conv2D with the stacked kernel cross-correlates each kernel with the image', function()
    local list = { K.sobel_x(), K.kirsch(2), K.sharpen(2), K.gaussian(3, 0.7) }
    local m = nn.Sequential{ input_shape = { 6, 7, 1 }, layers = {
      nn.Conv2D{ #list, 3, use_bias = false, kernel = K.stack(list) } } }
    local g = T.compile(m, { stop = 'shape' }).typed
    local x = T.input({ 6, 7, 1 })
    local y = reference.run(g, x)
    assert.same({ 4, 5, 4 }, y.shape)
    local ffi = require 'ffi'
    for oy = 0, 3 do
      for ox = 0, 4 do
        for n = 1, #list do
          local want = 0
          for r = 1, 3 do
            for c = 1, 3 do
              -- the kernel is stored as float32, as the C will hold it
              local w = ffi.new('float[1]', list[n][r][c])[0]
              want = want + w * x.data[(oy + r - 1) * 7 + (ox + c - 1)]
            end
          end
          assert.is_true(math.abs(y.data[(oy * 5 + ox) * 4 + n - 1] - want) < 1e-9)
        end
      end
    end
  end)
end)
