-- Keras files through the experiments API: cnnc.load on a Keras 2 .h5, a Keras 3 .keras
-- and a JSON configuration with its weights file, then model:compile and net:predict
-- (the C built as a shared library and called through the FFI), against the expected
-- outputs of tests/keras/data within 1e-4 of their largest magnitude, as models.lua
-- compares the reference interpreter and the executables.
package.path = 'compiler/?.lua;' .. package.path
local cnnc = require 'cnnc'

local DATA = 'tests/keras/data/'
local CACHE = os.tmpname()
os.remove(CACHE)
teardown(function() os.execute("rm -rf '" .. CACHE .. "'") end)

local function compile(model)
  return model:compile { cache = CACHE, cflags = '-O1' }
end

-- got (a cnnc.Tensor) against data/<case>/<file>: same shape, within 1e-4 of the largest |expected|.
local function check(got, case, file)
  local want = cnnc.read_npy(DATA .. case .. '/' .. file)
  assert.same(want.shape, got.shape)
  local e, m = 0, 0
  for i = 0, want.n - 1 do
    local d = math.abs(got.data[i] - want.data[i])
    if d ~= d then d = math.huge end
    e, m = math.max(e, d), math.max(m, math.abs(want.data[i]))
  end
  assert(e <= 1e-4 * m, string.format('%s/%s: max error %g, max |expected| %g', case, file, e, m))
end

local function input(case, k) return cnnc.read_npy(string.format('%s%s/input_%d.npy', DATA, case, k)) end

describe('cnnc.load on Keras files', function()
  it("compiles and predicts a Keras 2 .h5 (standalone Keras 2's Sequential form)", function()
    local model = cnnc.load(DATA .. 'small/small_old.h5')
    local net = compile(model)
    assert.same({ 12, 3 }, net.input_shape)
    check(net:predict(input('small', 0)), 'small', 'expected_0.npy')
    -- the experiments API reads the weights the file holds
    local k = model:weight('dense', 'kernel')
    assert.same({ 24, 5 }, k.shape)
  end)

  it('compiles and predicts a Keras 3 .keras (Functional, deflated)', function()
    check(compile(cnnc.load(DATA .. 'unet/unet.keras')):predict(input('unet', 0)), 'unet', 'expected_0.npy')
  end)

  it('compiles and predicts JSON configurations with their weights files (Keras 2 and 3)', function()
    local x = input('small', 0)
    check(compile(cnnc.load(DATA .. 'small/small.json', { weights = DATA .. 'small/small_weights.h5' })):predict(x),
      'small', 'expected_0.npy')
    check(compile(cnnc.load(DATA .. 'small/small_k3.json', { weights = DATA .. 'small/small.weights.h5' })):predict(x),
      'small', 'expected_0.npy')
  end)

  it('gives a model of several inputs and outputs one tensor per input and per output', function()
    local net = compile(cnnc.load(DATA .. 'zoo/zoo.h5'))
    assert.same({ 'img', 'vec', 'seq' }, { net.inputs[1].name, net.inputs[2].name, net.inputs[3].name })
    local probs, value = net:predict(input('zoo', 0), input('zoo', 1), input('zoo', 2))
    check(probs, 'zoo', 'expected_0.npy')
    check(value, 'zoo', 'expected_1.npy')
  end)
end)
