-- LayerNormalization (cnnc.layers.layer_norm): Keras's arguments and weights, the values
-- against mean and variance worked out here, and argument errors.

local T = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'testutil.lua')
local nn = T.nn
local runner = require 'cnnc.runner'

local function compile(input_shape, layers)
  return T.compile(nn.Sequential{ input_shape = input_shape, layers = layers }, { stop = 'plan' })
end

describe('LayerNormalization', function()
  it("has Keras's defaults: the last axis, epsilon 1e-3, gamma and beta of its size", function()
    local r = compile({ 3, 4, 5 }, { nn.LayerNormalization{} })
    local n = r.typed.nodes[1]
    assert.equals(1e-3, n.p.epsilon)
    assert.same({ 5 }, n.weights[1].tensor.shape)
    assert.same({ 'gamma', 'beta' }, { n.weights[1].name, n.weights[2].name })
  end)

  it('gives gamma the shape of the listed axes, in their order', function()
    local r = compile({ 3, 4, 5 }, { nn.LayerNormalization{ axis = { 3, 1 } } })
    assert.same({ 5, 3 }, r.typed.nodes[1].weights[1].tensor.shape)
  end)

  it('normalises each row with its mean and population variance', function()
    local m = nn.Sequential{ input_shape = { 2, 3 }, layers = { nn.LayerNormalization{ epsilon = 0, gamma = { 1, 2, 3 },
      beta = { 0, 0, 1 } } } }
    local r = T.compile(m, { stop = 'plan' })
    local x = T.tensor.new({ 2, 3 }, 'float')
    local v = { 1, 2, 3, -2, 0, 2 }
    for i = 1, 6 do x.data[i - 1] = v[i] end
    local y = assert(runner.run_batch(r.typed, x))
    -- row 1: mean 2, variance 2/3; row 2: mean 0, variance 8/3
    local s1, s2 = math.sqrt(2 / 3), math.sqrt(8 / 3)
    local want = { -1 / s1, 0, 3 / s1 + 1, -2 * 1 / s2, 0, 3 * 2 / s2 + 1 }
    for i = 1, 6 do assert.is_true(math.abs(y.data[i - 1] - want[i]) < 1e-6, 'element ' .. i) end
  end)

  it('rejects the batch axis, axes out of range and repeated ones', function()
    local function err(layer)
      local _, text = T.compile_error(nn.Sequential{ input_shape = { 3, 4 }, layers = { layer } }, { stop = 'shape' })
      return text
    end
    assert.matches('axis 0 is the batch axis', err(nn.LayerNormalization{ axis = 0 }), 1, true)
    assert.matches('axis 3 does not exist in an input of rank 2', err(nn.LayerNormalization{ axis = 3 }), 1, true)
    assert.matches('axis -1 is given twice', err(nn.LayerNormalization{ axis = { 2, -1 } }), 1, true)
    local _, text = T.catch(function() return nn.LayerNormalization{ axis = 'last' } end)
    assert.matches("argument 'axis' must be an integer axis or a list of distinct integer axes", text, 1, true)
  end)
end)
