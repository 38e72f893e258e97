-- Resampling (cnnc.layers.resize and its tap tables, cnnc.layers.resize_taps): UpSampling
-- against Keras's repetition and tf.image.resize's bilinear worked out here, the taps of
-- ONNX's coordinate transformations and modes, and argument errors.

local T = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'testutil.lua')
local nn = T.nn
local runner = require 'cnnc.runner'
local taps = require 'cnnc.layers.resize_taps'

local function run(input_shape, layers, values)
  local r = T.compile(nn.Sequential{ input_shape = input_shape, layers = layers }, { stop = 'plan' })
  local x = T.tensor.new(input_shape, 'float')
  for i, v in ipairs(values) do x.data[i - 1] = v end
  local y = assert(runner.run_batch(r.typed, x))
  local t = {}
  for i = 0, y.n - 1 do t[i + 1] = y.data[i] end
  return t, y.shape
end

-- (index, weight) pairs of output position o, zero weights left out.
local function row(t, o)
  local l = {}
  for q = 0, t.taps - 1 do
    local w = t.w[o * t.taps + q]
    if w ~= 0 then l[#l + 1] = { t.idx[o * t.taps + q], w } end
  end
  return l
end

describe('UpSampling', function()
  it('repeats every step size times (1-D)', function()
    local y, shape = run({ 3, 2 }, { nn.UpSampling1D{ 2 } }, { 1, 2, 3, 4, 5, 6 })
    assert.same({ 6, 2 }, shape)
    assert.same({ 1, 2, 1, 2, 3, 4, 3, 4, 5, 6, 5, 6 }, y)
  end)

  it('repeats rows and columns by their factors (2-D nearest)', function()
    local y, shape = run({ 2, 2, 1 }, { nn.UpSampling2D{ { 1, 2 } } }, { 1, 2, 3, 4 })
    assert.same({ 2, 4, 1 }, shape)
    assert.same({ 1, 1, 2, 2, 3, 3, 4, 4 }, y)
  end)

  it("interpolates with half-pixel centres and edge clamping (tf.image.resize's bilinear)", function()
    -- one row 0, 4 resized to 4 columns: sources -0.25, 0.25, 0.75, 1.25 -> 0, 1, 3, 4
    local y = run({ 1, 2, 1 }, { nn.UpSampling2D{ { 1, 2 }, interpolation = 'bilinear' } }, { 0, 4 })
    assert.same({ 0, 1, 3, 4 }, y)
  end)

  it('rejects interpolations Keras 2 does not have here', function()
    local _, text = T.catch(function() return nn.UpSampling2D{ 2, interpolation = 'bicubic' } end)
    assert.matches("UpSampling2D argument 'interpolation' must be one of bilinear, nearest", text, 1, true)
  end)
end)

describe('Resize taps', function()
  local function tab(spec, n) return taps.table({}, spec, n) end

  it('follow each nearest_mode on half_pixel coordinates', function()
    -- 4 -> 6 (scale 1.5): sources (x + 0.5) / 1.5 - 0.5 = -1/6, 1/2, 7/6, 11/6, 5/2, 19/6
    local want = {
      round_prefer_floor = { 0, 0, 1, 2, 2, 3 }, round_prefer_ceil = { 0, 1, 1, 2, 3, 3 },
      floor = { 0, 0, 1, 1, 2, 3 }, ceil = { 0, 1, 2, 2, 3, 3 },
    }
    for mode, idx in pairs(want) do
      local t = tab({ out = 6, scale = 1.5, mode = 'nearest', transform = 'half_pixel', nearest = mode }, 4)
      for o = 0, 5 do assert.equals(idx[o + 1], t.idx[o], mode .. ' at ' .. o) end
    end
  end)

  it('give align_corners and asymmetric linear weights', function()
    local t = tab({ out = 5, scale = 5 / 3, mode = 'linear', transform = 'align_corners' }, 3)
    assert.same({ { 0, 0.5 }, { 1, 0.5 } }, row(t, 1)) -- 1 * 2 / 4 = 0.5
    assert.same({ { 2, 1 } }, row(t, 4))
    t = tab({ out = 4, scale = 2, mode = 'linear', transform = 'asymmetric' }, 2)
    assert.same({ { 0, 0.5 }, { 1, 0.5 } }, row(t, 1))
    assert.same({ { 1, 0.5 }, { 1, 0.5 } }, row(t, 3)) -- past the edge: the edge twice
  end)

  it("give Keys' cubic weights summing to one, and exclude_outside renormalises", function()
    local t = tab({ out = 8, scale = 2, mode = 'cubic', transform = 'half_pixel', cubic_a = -0.75 }, 4)
    for o = 0, 7 do
      local s = 0
      for _, p in ipairs(row(t, o)) do s = s + p[2] end
      assert.is_true(math.abs(s - 1) < 1e-12)
    end
    t = tab({ out = 8, scale = 2, mode = 'cubic', transform = 'half_pixel', cubic_a = -0.5, exclude = true }, 4)
    for _, p in ipairs(row(t, 0)) do assert.is_true(p[1] >= 0) end
  end)

  it('mark tf_crop_and_resize positions outside the image', function()
    local t = tab({ out = 3, scale = 1, mode = 'linear', transform = 'tf_crop_and_resize', roi = { -0.5, 0.5 } }, 5)
    assert.is_true(t.outside[0])
    assert.is_false(t.outside[2])
  end)

  it('stretch linear kernels by 1 / scale with antialias', function()
    local t = tab({ out = 2, scale = 0.5, mode = 'linear', transform = 'half_pixel', antialias = true }, 4)
    -- output 0: source 0.5, kernel 1 - |d| / 2 over -1..2 -> 0.25, 0.75, 0.75, 0.25 / 2
    local r = row(t, 0)
    assert.equals(4, #r)
    assert.is_true(math.abs(r[2][2] - 0.375) < 1e-12)
  end)
end)
