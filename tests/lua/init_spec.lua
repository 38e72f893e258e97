-- Weight initializers (cnnc.initializers): deterministic float32 values, the Keras
-- variance formulas, and weight streams that do not depend on later layers.

local T = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'testutil.lua')
local nn = T.nn
local init = require 'cnnc.initializers'
local tensor = require 'cnnc.tensor'

local function filled(name, shape, params, seed, layer, wname)
  local t = tensor.new(shape)
  init.fill(t, { name = name, params = params or {} }, seed or 0, layer or 1, wname or 'kernel')
  return t
end

local function stats(t)
  local s, s2, lo, hi = 0, 0, math.huge, -math.huge
  for i = 0, t.n - 1 do
    local v = t.data[i]
    s, s2 = s + v, s2 + v * v
    lo, hi = math.min(lo, v), math.max(hi, v)
  end
  local mean = s / t.n
  return { mean = mean, std = math.sqrt(s2 / t.n - mean * mean), min = lo, max = hi }
end

local function close(a, b, rel) return math.abs(a - b) <= rel * math.abs(b) end

-- Weight bytes of every layer of a compiled model: name.weight -> bytes.
local function model_weights(m)
  local g = T.compile(m, { stop = 'shape' }).typed
  local t = {}
  for _, n in ipairs(g.nodes) do
    for _, w in ipairs(n.weights) do t[n.name .. '.' .. w.name] = T.bytes(w.tensor) end
  end
  return t
end

local function net(seed, extra)
  local layers = { nn.Conv2D{ 4, 3 }, nn.Conv2D{ 4, 3, kernel_initializer = 'he_normal' }, nn.Flatten{},
    nn.Dense{ 5, bias_initializer = { 'random_normal', stddev = 1 } } }
  for _, l in ipairs(extra or {}) do layers[#layers + 1] = l end
  return nn.Sequential{ input_shape = { 8, 8, 2 }, seed = seed, layers = layers }
end

describe('the random generator', function()
  it('is splitmix64: known outputs from state 0', function()
    -- Reference values of splitmix64 (Vigna) starting from state 0.
    local r = init.rng(0)
    r.state = 0ULL
    local want = { 0xE220A8397B1DCDAFULL, 0x6E789E6AA1B965F4ULL, 0x06C45D188009454FULL }
    for i = 1, 3 do
      local expect = tonumber(want[i] / 2048ULL) * 2 ^ -53
      assert.same(expect, r:uniform())
    end
  end)

  it('gives uniforms in [0, 1)', function()
    local r = init.rng(42, 3, 'kernel')
    for _ = 1, 10000 do
      local u = r:uniform()
      assert.is_true(u >= 0 and u < 1)
    end
  end)
end)

describe('initializers are deterministic', function()
  it('same seed, layer and weight: identical bytes', function()
    for _, name in ipairs(init.names) do
      local a = filled(name, { 30, 20 }, {}, 5, 2, 'kernel')
      local b = filled(name, { 30, 20 }, {}, 5, 2, 'kernel')
      assert.is_true(T.bytes(a) == T.bytes(b), name)
    end
  end)

  it('a different seed, layer or weight name changes the values', function()
    local base = T.bytes(filled('glorot_uniform', { 30, 20 }, {}, 5, 2, 'kernel'))
    assert.is_false(base == T.bytes(filled('glorot_uniform', { 30, 20 }, {}, 6, 2, 'kernel')))
    assert.is_false(base == T.bytes(filled('glorot_uniform', { 30, 20 }, {}, 5, 3, 'kernel')))
    assert.is_false(base == T.bytes(filled('glorot_uniform', { 30, 20 }, {}, 5, 2, 'bias')))
  end)

  it('compiling a model twice gives byte-identical weights', function()
    assert.same(model_weights(net(3)), model_weights(net(3)))
  end)

  it('a different model seed changes every random weight', function()
    local a, b = model_weights(net(3)), model_weights(net(4))
    assert.is_false(a['conv2d.kernel'] == b['conv2d.kernel'])
    assert.is_false(a['conv2d_1.kernel'] == b['conv2d_1.kernel'])
    assert.is_false(a['dense.kernel'] == b['dense.kernel'])
    assert.is_false(a['dense.bias'] == b['dense.bias'])
    -- zeros stay zeros
    assert.is_true(a['conv2d.bias'] == b['conv2d.bias'])
  end)

  it('layers of the same shape and initializer get different weights', function()
    local w = model_weights(nn.Sequential{ input_shape = { 6, 6, 4 }, layers = {
      nn.Conv2D{ 4, 3, padding = 'same' }, nn.Conv2D{ 4, 3, padding = 'same' } } })
    assert.is_false(w['conv2d.kernel'] == w['conv2d_1.kernel'])
  end)

  it('adding a layer at the end does not change the earlier weights', function()
    local a = model_weights(net(9))
    local b = model_weights(net(9, { nn.Dense{ 3 }, nn.BatchNormalization{ gamma_initializer = 'he_uniform' } }))
    for k, v in pairs(a) do assert.is_true(v == b[k], k .. ' changed') end
    assert.is_not_nil(b['dense_1.kernel'])
  end)

  it('renaming a layer does not change its weights', function()
    local a = model_weights(nn.Sequential{ input_shape = { 4 }, layers = { nn.Dense{ 3 } } })
    local b = model_weights(nn.Sequential{ input_shape = { 4 }, layers = { nn.Dense{ 3, name = 'fc' } } })
    assert.is_true(a['dense.kernel'] == b['fc.kernel'])
  end)

  it('an initializer with its own seed ignores the model seed', function()
    local function w(seed)
      return model_weights(nn.Sequential{ input_shape = { 4 }, seed = seed, layers = {
        nn.Dense{ 3, kernel_initializer = { 'random_uniform', seed = 11 } } } })['dense.kernel']
    end
    assert.is_true(w(1) == w(2))
  end)
end)

describe('initializer statistics', function()
  -- Kernel (400, 300): fan_in 400, fan_out 300; 120000 values.
  local SHAPE, FI, FO = { 400, 300 }, 400, 300

  it('zeros, ones and constant are exact', function()
    for _, v in ipairs(T.values(filled('zeros', { 7, 3 }))) do assert.same(0, v) end
    for _, v in ipairs(T.values(filled('ones', { 7, 3 }))) do assert.same(1, v) end
    local c = T.values(filled('constant', { 7, 3 }, { value = 0.25 }))
    for _, v in ipairs(c) do assert.same(0.25, v) end
    -- float32 rounding of an inexact constant, exactly as C would store it
    local ffi = require 'ffi'
    local f = ffi.new('float[1]', 0.1)[0]
    for _, v in ipairs(T.values(filled('constant', { 3 }, { value = 0.1 }))) do assert.same(f, v) end
  end)

  it('glorot_uniform: within sqrt(6 / (fan_in + fan_out)), uniform variance', function()
    local lim = math.sqrt(6 / (FI + FO))
    local s = stats(filled('glorot_uniform', SHAPE))
    assert.is_true(s.max <= lim and s.min >= -lim)
    assert.is_true(s.max > 0.99 * lim and s.min < -0.99 * lim)
    assert.is_true(math.abs(s.mean) < 0.01 * lim)
    assert.is_true(close(s.std, lim / math.sqrt(3), 0.02))
  end)

  it('he_uniform and lecun_uniform: within sqrt(6 / fan_in) and sqrt(3 / fan_in)', function()
    for name, lim in pairs({ he_uniform = math.sqrt(6 / FI), lecun_uniform = math.sqrt(3 / FI) }) do
      local s = stats(filled(name, SHAPE))
      assert.is_true(s.max <= lim and s.min >= -lim, name)
      assert.is_true(s.max > 0.99 * lim, name)
      assert.is_true(close(s.std, lim / math.sqrt(3), 0.02), name)
    end
  end)

  it('he_normal, glorot_normal, lecun_normal: the Keras standard deviations, truncated at 2 sd', function()
    local sds = { he_normal = math.sqrt(2 / FI), glorot_normal = math.sqrt(2 / (FI + FO)), lecun_normal = math.sqrt(1 / FI) }
    for name, sd in pairs(sds) do
      local s = stats(filled(name, SHAPE))
      assert.is_true(close(s.std, sd, 0.02), string.format('%s: std %g, expected %g', name, s.std, sd))
      assert.is_true(math.abs(s.mean) < 0.02 * sd, name)
      local bound = 2 * sd / 0.87962566103423978
      assert.is_true(s.max <= bound * (1 + 1e-6) and s.min >= -bound * (1 + 1e-6), name .. ' not truncated at 2 sd')
      assert.is_true(s.max > 0.95 * bound, name)
    end
  end)

  it('random_uniform, random_normal and truncated_normal take their parameters', function()
    local u = stats(filled('random_uniform', SHAPE, { minval = 1, maxval = 3 }))
    assert.is_true(u.min >= 1 and u.max < 3 and close(u.mean, 2, 0.01))
    local d = stats(filled('random_uniform', SHAPE))
    assert.is_true(d.min >= -0.05 and d.max <= 0.05)
    local n = stats(filled('random_normal', SHAPE, { mean = 5, stddev = 2 }))
    assert.is_true(close(n.mean, 5, 0.01) and close(n.std, 2, 0.02))
    local t = stats(filled('truncated_normal', SHAPE, { mean = -1, stddev = 0.5 }))
    assert.is_true(t.min >= -2 and t.max <= 0)
    assert.is_true(close(t.std, 0.5 * 0.87962566103423978, 0.02))
  end)

  it('computes Keras fans for convolution kernels', function()
    assert.same({ 3 * 3 * 16, 3 * 3 * 32 }, { init.fans({ 3, 3, 16, 32 }) })
    assert.same({ 5 * 2, 5 * 7 }, { init.fans({ 5, 2, 7 }) })
    assert.same({ 10, 4 }, { init.fans({ 10, 4 }) })
    assert.same({ 6, 6 }, { init.fans({ 6 }) })
  end)

  it('uses the fans of the conv kernel shape in a model', function()
    local g = T.compile(nn.Sequential{ input_shape = { 40, 40, 16 }, layers = {
      nn.Conv2D{ 64, 5, kernel_initializer = 'he_normal' } } }, { stop = 'shape' }).typed
    local s = stats(T.weight(g.nodes[1], 'kernel'))
    assert.is_true(close(s.std, math.sqrt(2 / (5 * 5 * 16)), 0.03))
  end)
end)
