-- net:predict on ONNX models with several inputs and outputs (tests/golden/onnx's
-- two_inputs and two_heads, exported from PyTorch): one tensor per input in, one per
-- output back, batched or not, equal to PyTorch's outputs and to the executable's bytes;
-- net.inputs and net.outputs; a model without inputs; and the errors a script can cause.

local H = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'helper.lua')
local cnnc = require 'cnnc'

local GOLDEN = H.root .. 'tests/golden/onnx/'

local function max_err(a, b)
  assert.equals(b.n, a.n)
  local e, m = 0, 0
  for i = 0, a.n - 1 do
    e = math.max(e, math.abs(a.data[i] - b.data[i]))
    m = math.max(m, math.abs(b.data[i]))
  end
  return e, m
end

describe('net:predict with several inputs and outputs', function()
  local dir, cache
  setup(function() dir = H.tmpdir(); cache = dir .. '/cache' end)
  teardown(function() H.rmdir(dir) end)

  it('takes one tensor per input and returns one per output', function()
    local net = cnnc.load(GOLDEN .. 'two_inputs/model.onnx'):compile { cache = cache }
    assert.equals(3, #net.inputs)
    assert.same({ 'image', 'mask', 'vec' }, { net.inputs[1].name, net.inputs[2].name, net.inputs[3].name })
    assert.same({ 1, 16, 16 }, net.inputs[2].shape)
    assert.same({ 'scores', 'features' }, { net.outputs[1].name, net.outputs[2].name })
    local xs = {}
    for k = 1, 3 do xs[k] = cnnc.read_npy(GOLDEN .. 'two_inputs/input_' .. (k - 1) .. '.npy') end
    local scores, features = net:predict(xs[1], xs[2], xs[3])
    assert.same({ 2, 4 }, scores.shape)
    assert.same({ 2, 16 }, features.shape)
    for k, got in ipairs({ scores, features }) do
      local e, m = max_err(got, cnnc.read_npy(GOLDEN .. 'two_inputs/expected_' .. (k - 1) .. '.npy'))
      assert(e <= 1e-4 * (1 + m), 'max error ' .. e)
    end
    -- One item: no batch axis, the same values as the batch's first item.
    local s1, f1 = net:predict(xs[1]:item(1), xs[2]:item(1), xs[3]:item(1))
    assert.same({ 4 }, s1.shape)
    assert.same({ 16 }, f1.shape)
    for i = 0, 3 do assert.equals(scores.data[i], s1.data[i]) end
    assert.matches('image %(3, 16, 16%)', tostring(net))
  end)

  it('gives the executable\'s bytes', function()
    local model = GOLDEN .. 'two_heads/model.onnx'
    local out = dir .. '/two_heads'
    assert.equals(0, os.execute(string.format('%sbin/cnnc build %s -o %s --target generic > /dev/null', H.root, model, out)))
    assert.equals(0, os.execute(string.format('%s/model %stwo_heads/input_0.npy -o %s/a.npy -o %s/b.npy', out, GOLDEN,
      out, out)))
    local net = cnnc.load(model):compile { cache = cache, target = 'generic', cflags = '-O2' }
    local classes, seg = net:predict(cnnc.read_npy(GOLDEN .. 'two_heads/input_0.npy'))
    for k, got in ipairs({ classes, seg }) do
      local want = cnnc.read_npy(out .. (k == 1 and '/a.npy' or '/b.npy'))
      assert.same(want.shape, got.shape)
      for i = 0, want.n - 1 do assert.equals(want.data[i], got.data[i]) end
    end
  end)

  it('runs a model without inputs', function()
    local net = cnnc.load('/usr/share/libonnx-testdata/data/node/test_constant/model.onnx'):compile { cache = cache }
    assert.equals(0, #net.inputs)
    local v = net:predict()
    assert.same({ 5, 5 }, v.shape)
    assert.is_true(math.abs(v.data[0] - 1.7640523910522) < 1e-6)
  end)

  it('names what is wrong with the inputs', function()
    local net = cnnc.load(GOLDEN .. 'two_inputs/model.onnx'):compile { cache = cache }
    local image = cnnc.Tensor({ 2, 3, 16, 16 })
    H.fails("takes 3 inputs (image (3, 16, 16), mask (1, 16, 16), vec (8,)), got 1", function() net:predict(image) end)
    H.fails('input 3 (vec) holds 3 items, input 1 holds 2',
      function() net:predict(image, cnnc.Tensor({ 2, 1, 16, 16 }), cnnc.Tensor({ 3, 8 })) end)
    H.fails('input 2, mask', function() net:predict(image, cnnc.Tensor({ 2, 2, 16, 16 }), cnnc.Tensor({ 2, 8 })) end)
    H.fails('several inputs or outputs; use net:predict', function() net:features(image) end)
  end)
end)
