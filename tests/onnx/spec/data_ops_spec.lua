-- ONNX operators on computed data (cnnc.onnx.ops_select, ops_reduce, ops_elementwise,
-- ops_einsum, ops_norm), each on a hand-made model against values worked out here from
-- ONNX's definitions; and --input-shape (cnnc.driver.load's input_shape) on ONNX models.

local here = debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './'
package.path = here .. '../../../compiler/?.lua;' .. here .. '?.lua;' .. package.path

local driver = require 'cnnc.driver'
local runner = require 'cnnc.runner'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'
local W = require 'onnx_writer'

local tmp = os.tmpname() .. '.onnx'

local function load(m, opts)
  local model, err = driver.load(W.write(tmp, W.model(m)), opts)
  assert(model, err and util.format_error(err))
  return model
end

-- Runs the reference interpreter on x (flat list, item shape `shape`); returns a flat list.
local function run(model, x, shape)
  local r = assert(driver.compile(model, { stop = 'plan' }))
  local t = tensor.new(shape, 'float')
  for i, v in ipairs(x) do t.data[i - 1] = v end
  local y = assert(runner.run_batch(r.typed, t))
  local out = {}
  for i = 0, y.n - 1 do out[i + 1] = y.data[i] end
  return out, r
end

local function near(got, want)
  assert.equals(#want, #got)
  for i = 1, #want do
    assert(math.abs(got[i] - want[i]) <= 1e-5 * (1 + math.abs(want[i])),
      string.format('element %d: got %.9g, expected %.9g', i, got[i], want[i]))
  end
end

local function iota(n)
  local t = {}
  for i = 1, n do t[i] = i - 1 end
  return t
end

local int = function(name, values) return { name, { #values }, values = values, type = 7 } end

describe('ONNX operators on computed data', function()
  it('slices with steps, gathers with constant indices and expands size-1 axes', function()
    local m = load({ inputs = { { 'x', { 'N', 3, 4 } } }, outputs = { { 'y', { 'N', 2, 2 } } }, nodes = {
      { 'Slice', { 'x', 'st', 'en', 'ax', 'sp' }, { 's' } },    -- rows 2, 0; columns 1, 3
      { 'Gather', { 's', 'ix' }, { 'y' }, attrs = { axis = 2 } }, -- columns swapped
    }, initializers = { int('st', { 2, 1 }), int('en', { -4, 4 }), int('ax', { 1, 2 }), int('sp', { -2, 2 }),
      int('ix', { 1, 0 }) } })
    -- x row r, column c = 4r + c
    near(run(m, iota(12), { 3, 4 }), { 11, 9, 3, 1 })
    local e = load({ inputs = { { 'x', { 'N', 3, 1 } } }, outputs = { { 'y', { 'N', 3, 2 } } }, nodes = {
      { 'Expand', { 'x', 'shape' }, { 'y' } } }, initializers = { int('shape', { 1, 1, 2 }) } })
    near(run(e, { 5, 6, 7 }, { 3, 1 }), { 5, 5, 6, 6, 7, 7 })
  end)

  it('reduces over chosen axes, keeping them or not, and takes arg maxima', function()
    local m = load({ opset = 18, inputs = { { 'x', { 'N', 2, 3 } } }, outputs = { { 'y', { 'N', 3 } } }, nodes = {
      { 'ReduceL2', { 'x', 'ax' }, { 'y' }, attrs = { keepdims = 0 } } }, initializers = { int('ax', { 1 }) } })
    near(run(m, { 3, 0, 1, 4, 1, 1 }, { 2, 3 }), { 5, 1, math.sqrt(2) })
    local a = load({ inputs = { { 'x', { 'N', 2, 3 } } }, outputs = { { 'y', { 'N', 2 } } }, nodes = {
      { 'ArgMax', { 'x' }, { 'y' }, attrs = { axis = 2, keepdims = 0 } } } })
    near(run(a, { 1, 5, 5, 9, 2, 3 }, { 2, 3 }), { 1, 0 })
  end)

  it('turns x.mean([2, 3]) into a global average pooling', function()
    local m = load({ inputs = { { 'x', { 'N', 2, 2, 2 } } }, outputs = { { 'y', { 'N', 2 } } }, nodes = {
      { 'ReduceMean', { 'x' }, { 'y' }, attrs = { axes = { 2, 3 }, keepdims = 0 } } } })
    local y, r = run(m, { 1, 2, 3, 4, 10, 20, 30, 40 }, { 2, 2, 2 })
    near(y, { 2.5, 25 })
    assert.equals('GlobalAveragePooling2D', r.typed.nodes[#r.typed.nodes].op)
  end)

  it('computes Where, Pow by a constant, comparisons and Sum of several inputs', function()
    local m = load({ inputs = { { 'x', { 'N', 4 } } }, outputs = { { 'y', { 'N', 4 } } }, nodes = {
      { 'Greater', { 'x', 'zero' }, { 'pos' } },
      { 'Pow', { 'x', 'two' }, { 'sq' } },
      { 'Where', { 'pos', 'sq', 'x' }, { 'w' } },
      { 'Sum', { 'w', 'x', 'one' }, { 'y' } },
    }, initializers = { { 'zero', {}, values = { 0 } }, { 'two', {}, values = { 2 } }, { 'one', { 1 }, values = { 1 } } } })
    -- x > 0: x^2 + x + 1; else 2x + 1
    near(run(m, { -2, 0, 1, 3 }, { 4 }), { -3, 1, 3, 13 })
  end)

  it('multiplies by Einsum, the batch letters kept as axes', function()
    local m = load({ opset = 13, inputs = { { 'x', { 'N', 2, 3 } } }, outputs = { { 'y', { 'N', 3, 2 } } }, nodes = {
      { 'Einsum', { 'x', 'w' }, { 'y' }, attrs = { equation = 'bij,kj->bjk' } } },
      initializers = { { 'w', { 2, 3 }, values = { 1, 0, 2, 0, 1, 1 } } } })
    -- 'bij,kj->bjk' sums over i: y[j][k] = (x[0][j] + x[1][j]) * w[k][j]
    local x = { 1, 2, 3, 4, 5, 6 }
    local want = {}
    for j = 1, 3 do
      local s = x[j] + x[3 + j]
      want[#want + 1] = s * ({ 1, 0, 2 })[j]
      want[#want + 1] = s * ({ 0, 1, 1 })[j]
    end
    local y, r = run(m, x, { 2, 3 })
    near(y, want)
    assert.same({ 2, 3 }, r.typed.input.shape) -- the batch stayed the executable's
  end)

  it('normalises instances and groups of channels', function()
    local m = load({ inputs = { { 'x', { 'N', 2, 2 } } }, outputs = { { 'y', { 'N', 2, 2 } } }, nodes = {
      { 'InstanceNormalization', { 'x', 's', 'b' }, { 'y' }, attrs = { epsilon = 0.0 } } },
      initializers = { { 's', { 2 }, values = { 1, 2 } }, { 'b', { 2 }, values = { 0, 1 } } } })
    near(run(m, { 1, 3, 5, 7 }, { 2, 2 }), { -1, 1, -1, 3 })
  end)
end)

describe('--input-shape', function()
  local conv = { inputs = { { 'x', { 'N', 1, 'H', 'W' } } }, outputs = { { 'y', { 'N', 2, 'H', 'W' } } },
    nodes = { { 'Conv', { 'x', 'w' }, { 'y' }, attrs = { pads = { 1, 1, 1, 1 } } } },
    initializers = { { 'w', { 2, 1, 3, 3 } } } }

  it('gives symbolic spatial sizes, with or without the batch axis', function()
    local _, err = driver.load(W.write(tmp, W.model(conv)))
    assert.matches('give them with --input-shape', util.format_error(err), 1, true)
    for _, shape in ipairs({ { 1, 7, 5 }, { 1, 1, 7, 5 } }) do
      local r = assert(driver.compile(load(conv, { input_shape = shape }), { stop = 'shape' }))
      assert.same({ 1, 7, 5 }, r.typed.input.shape)
    end
  end)

  it('names inputs that do not exist and ranks that do not fit', function()
    local _, err = driver.load(W.write(tmp, W.model(conv)), { input_shape = { z = { 1, 4, 4 } } })
    assert.matches("no input named 'z' (its inputs: x)", util.format_error(err), 1, true)
    _, err = driver.load(W.write(tmp, W.model(conv)), { input_shape = { 4, 4 } })
    assert.matches('give 4 sizes, or 3 without the batch axis', util.format_error(err), 1, true)
  end)

  it('reads NAME=sizes and D1xD2 forms', function()
    assert.same({ x = { 1, 8, 8 } }, driver.read_input_shape('x=1,8,8'))
    assert.same({ 64, 64, 3 }, driver.read_input_shape('64x64x3'))
    assert.is_nil(driver.read_input_shape('3,0,4'))
  end)
end)
