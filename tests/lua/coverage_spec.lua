-- Every registered layer kind (cnnc.registry) is tested two ways: against an independent
-- implementation (a golden file made by PyTorch: a model in tests/golden/models or an
-- ONNX model in tests/golden/onnx; the ONNX model zoo of tests/onnx/zoo, checked against
-- PyTorch and ONNX Runtime; the Keras files of tests/keras/data, checked against
-- TensorFlow.js or PyTorch) and in random networks against the reference
-- interpreter (a kind the differential generator, tests/differential/gen.lua, can make).
-- A kind that only an importer produces, and that no Lua model or random network can
-- hold, is listed below with the suite that tests it instead. So a new kind cannot arrive
-- untested: add it to a golden model and to the generator, or say here where it is tested.

package.path = 'compiler/?.lua;' .. package.path
local driver = require 'cnnc.driver'
local registry = require 'cnnc.registry'

-- Kinds without a golden model: tested by ONNX's own conformance data (make conformance,
-- tests/onnx/conformance.lua), whose expected outputs come from ONNX's reference
-- implementation.
local GOLDEN_ELSEWHERE = {
  AveragePooling3D = 'onnx conformance: test_averagepool_3d_*',
  MaxPooling3D = 'onnx conformance: test_maxpool_3d_*',
  Conv3D = 'onnx conformance: test_conv_3d*',
  Constant = 'onnx conformance: test_constant*, and constant outputs in tests/onnx/spec',
  IntegerWrap = 'onnx conformance: test_add_uint8, test_mul_uint8, test_div_uint8, test_sub_uint8',
  LogSoftmax = 'onnx conformance: test_logsoftmax_*',
  MaxPoolingIndices = 'onnx conformance: test_maxpool_with_argmax_*',
  Moments = 'onnx conformance: test_batchnorm_*_training_mode',
  And = 'onnx conformance: test_and*', Or = 'onnx conformance: test_or*', Xor = 'onnx conformance: test_xor*',
  Equal = 'onnx conformance: test_equal*', Greater = 'onnx conformance: test_greater*',
  GreaterOrEqual = 'onnx conformance: test_greater_equal*', Less = 'onnx conformance: test_less*',
  LessOrEqual = 'onnx conformance: test_less_equal*', Max = 'onnx conformance: test_max_*',
  Min = 'onnx conformance: test_min_*', Mod = 'onnx conformance: test_mod_*', Pow = 'onnx conformance: test_pow*',
  Where = 'onnx conformance: test_where_*', ArgReduce = 'onnx conformance: test_argmax_*, test_argmin_*',
  AlphaDropout = 'the identity at inference, as in Keras (nothing to compare with another implementation); '
    .. 'random networks of tests/differential check its C',
}

-- Kinds the Sequential generator cannot place (they take several inputs, or only an
-- importer makes them): their random coverage is the ONNX suites' generated graphs and
-- conformance data.
local RANDOM_ELSEWHERE = {
  Add = 'two-input node: ONNX golden models (resnet_small, two_inputs) and conformance',
  Subtract = 'two-input node: onnx conformance', Divide = 'two-input node: onnx conformance',
  Multiply = 'two-input node: ONNX golden models and conformance',
  Concatenate = 'several inputs: ONNX golden models (googlenet-like two_heads) and conformance',
  MatMul = 'two-input node: onnx conformance', PReLU = 'two-input node: onnx conformance',
  Constant = 'no input: tests/onnx/spec', IntegerWrap = 'integer tensors: onnx conformance',
  MaxPoolingIndices = 'ONNX MaxPool indices: onnx conformance', Moments = 'training-mode batch norm: onnx conformance',
  ParamActivation = 'ONNX activations with parameters: onnx conformance and tests/simd/vmath.lua',
  Permute = 'ONNX Transpose: ONNX golden models and conformance', Reshape = 'ONNX Reshape: ONNX golden models and conformance',
  Pad = 'ONNX Pad: onnx conformance', Softmax = 'ONNX Softmax on any axis: onnx conformance',
  LogSoftmax = 'onnx conformance', Conv3D = 'onnx conformance', MaxPooling3D = 'onnx conformance',
  AveragePooling3D = 'onnx conformance',
  Average = 'several inputs: Keras fixtures (tests/keras/data/zoo*) against TensorFlow.js',
  Maximum = 'several inputs: Keras fixtures (tests/keras/data/zoo*) against TensorFlow.js',
  Minimum = 'several inputs: Keras fixtures (tests/keras/data/zoo*) against TensorFlow.js',
  Resize = 'ONNX Resize/Upsample: random graphs of tests/onnx/ort_diff.lua (against ONNX Runtime), the ONNX zoo '
    .. 'and conformance',
  Reduce = 'ONNX Reduce*: random graphs of tests/onnx/ort_diff.lua, the ONNX zoo and conformance',
  Select = 'ONNX Slice/Gather/Split: random graphs of tests/onnx/ort_diff.lua, the ONNX zoo and conformance',
  Max = 'ONNX Max with constants: random graphs of tests/onnx/ort_diff.lua and conformance',
  Min = 'ONNX Min with constants: random graphs of tests/onnx/ort_diff.lua and conformance',
  ArgReduce = 'onnx conformance', Where = 'three-input node: onnx conformance', Pow = 'onnx conformance',
  Mod = 'onnx conformance', And = 'onnx conformance', Or = 'onnx conformance', Xor = 'onnx conformance',
  Equal = 'onnx conformance', Greater = 'onnx conformance', GreaterOrEqual = 'onnx conformance',
  Less = 'onnx conformance', LessOrEqual = 'onnx conformance',
}

local function golden_kinds()
  local kinds = {}
  local p = io.popen('ls tests/golden/models/*.lua tests/golden/onnx/*/model.onnx tests/onnx/zoo/*/model.onnx '
    .. 'tests/keras/data/*/*.keras tests/keras/data/zoo*/*.h5 2>/dev/null')
  for f in p:lines() do
    local m = assert(driver.load(f))
    local r = assert(driver.compile(m, { stop = 'shape' }))
    for _, n in ipairs(r.typed.nodes) do kinds[n.op] = f end
  end
  p:close()
  return kinds
end

describe('layer kind coverage', function()
  local golden = golden_kinds()
  package.path = 'tests/?.lua;' .. package.path
  local random = require('differential.gen').make

  it('every kind has a golden test, or names the suite that checks it against another implementation', function()
    for _, kind in ipairs(registry.names) do
      assert.is_true(golden[kind] ~= nil or GOLDEN_ELSEWHERE[kind] ~= nil, string.format(
        'layer kind %s has no golden test: add a model using it to tests/golden/models (or tests/golden/onnx) '
        .. 'with PyTorch-made expected outputs, or say in tests/lua/coverage_spec.lua where it is tested', kind))
    end
  end)

  it('every kind appears in random networks, or names the suite that checks it instead', function()
    for _, kind in ipairs(registry.names) do
      assert.is_true(random[kind] ~= nil or RANDOM_ELSEWHERE[kind] ~= nil, string.format(
        'layer kind %s is not in the differential generator (tests/differential/gen.lua `make`): '
        .. 'add it there, or say in tests/lua/coverage_spec.lua where random graphs test it', kind))
    end
  end)

  it('lists no kind that is not registered or that has gained the coverage', function()
    for kind in pairs(GOLDEN_ELSEWHERE) do
      assert.is_true(registry.kinds[kind] ~= nil, kind .. ' is not a registered kind')
      assert.is_nil(golden[kind], kind .. ' has a golden model now (' .. tostring(golden[kind]) .. '): drop it from GOLDEN_ELSEWHERE')
    end
    for kind in pairs(RANDOM_ELSEWHERE) do
      assert.is_true(registry.kinds[kind] ~= nil, kind .. ' is not a registered kind')
      assert.is_nil(random[kind], kind .. ' is generated now: drop it from RANDOM_ELSEWHERE')
    end
  end)
end)
