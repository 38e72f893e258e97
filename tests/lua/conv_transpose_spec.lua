-- Conv1DTranspose and Conv2DTranspose (cnnc.layers.conv_transpose): output shapes against
-- Keras's conv_utils.deconv_output_length written out here, the reference against a
-- scatter written here, argument errors, parameter counts and the batch norm fold.

local T = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'testutil.lua')
local nn = T.nn
local runner = require 'cnnc.runner'

-- Keras's output length (output_padding nil: inferred).
local function keras_len(n, k, s, d, padding, op)
  local keff = k + (k - 1) * (d - 1)
  if op == nil then
    if padding == 'valid' then return n * s + math.max(keff - s, 0) end
    return n * s
  end
  local pad = padding == 'same' and math.floor(keff / 2) or 0
  return (n - 1) * s + keff - 2 * pad + op
end

local function typed(input_shape, layers)
  return T.compile(nn.Sequential{ input_shape = input_shape, layers = layers, seed = 3 }, { stop = 'shape' }).typed
end

local function err_text(input_shape, layers)
  local _, text = T.compile_error(nn.Sequential{ input_shape = input_shape, layers = layers }, { stop = 'shape' })
  return text
end

describe('Conv1DTranspose shape rule', function()
  for _, n in ipairs({ 1, 3, 6 }) do
    for k = 1, 4 do
      for s = 1, 3 do
        for _, padding in ipairs({ 'valid', 'same' }) do
          for _, op in ipairs({ false, 0, 1 }) do
            if not op or op < s then
              it(string.format('n %d k %d s %d %s output_padding %s', n, k, s, padding, tostring(op)), function()
                local L = keras_len(n, k, s, 1, padding, op or nil)
                local layers = { nn.Conv1DTranspose{ 2, k, strides = s, padding = padding, output_padding = op or nil } }
                if padding == 'same' and math.ceil(L / s) ~= n then
                  assert.matches('TensorFlow rejects this too', err_text({ n, 3 }, layers), 1, true)
                else
                  local g = typed({ n, 3 }, layers)
                  assert.same({ L, 2 }, g.nodes[1].shape)
                end
              end)
            end
          end
        end
      end
    end
  end
end)

describe('Conv2DTranspose', function()
  it('has Keras weights: kernel (kh, kw, filters, in_channels) and bias (filters)', function()
    local g = typed({ 4, 5, 3 }, { nn.Conv2DTranspose{ 7, { 2, 3 } } })
    local n = g.nodes[1]
    assert.same({ 2, 3, 7, 3 }, n.weights[1].tensor.shape)
    assert.same({ 7 }, n.weights[2].tensor.shape)
    assert.same({ 5, 7, 7 }, n.shape)
  end)

  it('computes the scatter of every input pixel over the output', function()
    local k = {}
    for ky = 1, 2 do
      k[ky] = {}
      for kx = 1, 2 do k[ky][kx] = { { ky * 10 + kx } } end -- filters 1, in_channels 1
    end
    local m = nn.Sequential{ input_shape = { 2, 2, 1 }, layers = {
      nn.Conv2DTranspose{ 1, 2, strides = 2, kernel = k, bias = { 0.5 } } } }
    local r = T.compile(m, { stop = 'plan' })
    local x = T.tensor.new({ 2, 2, 1 }, 'float')
    for i = 0, 3 do x.data[i] = i + 1 end
    local y = assert(runner.run_batch(r.typed, x))
    -- y[2i + ky][2j + kx] = x[i][j] * k[ky][kx] + 0.5
    for oy = 0, 3 do
      for ox = 0, 3 do
        local iy, ix, ky, kx = math.floor(oy / 2), math.floor(ox / 2), oy % 2, ox % 2
        local want = (iy * 2 + ix + 1) * ((ky + 1) * 10 + kx + 1) + 0.5
        assert.equals(want, y.data[oy * 4 + ox])
      end
    end
  end)

  it('rejects output_padding not below the strides, and strides with dilation', function()
    assert.matches('output_padding 2x1 must be smaller than the strides 2x2',
      err_text({ 4, 4, 1 }, { nn.Conv2DTranspose{ 1, 3, strides = 2, output_padding = { 2, 1 } } }), 1, true)
    assert.matches('Keras does not allow both above 1',
      err_text({ 4, 4, 1 }, { nn.Conv2DTranspose{ 1, 3, strides = 2, dilation_rate = 2 } }), 1, true)
    assert.matches("Conv2DTranspose argument 'padding' must be one of same, valid",
      select(2, T.catch(function() return nn.Conv2DTranspose{ 1, 3, padding = 'causal' } end)), 1, true)
  end)

  it('folds a following batch norm into its kernel and bias', function()
    local m = nn.Sequential{ input_shape = { 3, 3, 2 }, seed = 5, layers = {
      nn.Conv2DTranspose{ 4, 3, strides = 2, padding = 'same' },
      nn.BatchNormalization{ gamma = { 1, 2, 3, 4 }, beta = { 0.1, 0.2, 0.3, 0.4 }, moving_mean = { 0.5, 0, -0.5, 1 },
        moving_variance = { 1, 2, 3, 4 } } } }
    local fused = T.compile(m, { stop = 'plan' })
    local plain = T.compile(m, { stop = 'plan', fuse = false })
    assert.equals(1, #fused.planned.nodes)
    local x = T.tensor.new({ 3, 3, 2 }, 'float')
    for i = 0, x.n - 1 do x.data[i] = (i % 5) * 0.3 - 0.6 end
    local a = assert(runner.run_batch(fused.typed, x))
    local b = assert(runner.run_batch(plain.typed, x))
    for i = 0, a.n - 1 do assert.is_true(math.abs(a.data[i] - b.data[i]) < 1e-5) end
  end)
end)
