-- ONNX models with several inputs and outputs (or none), and the ONNX features that need
-- them: the interface of the compiled model (inputs one after another in `input`, outputs
-- one after another in `output`, per-tensor macros in NAME.h), the executable's command
-- line, BatchNormalization in training mode, Dropout masks, MaxPool Indices, 8-bit
-- integer arithmetic, constant and empty outputs, and what stays rejected. Expected values
-- come from plain loops written here.

local here = debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './'
package.path = here .. '../../../compiler/?.lua;' .. here .. '?.lua;' .. package.path

local driver = require 'cnnc.driver'
local ir = require 'cnnc.ir'
local npy = require 'cnnc.npy'
local runner = require 'cnnc.runner'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'
local W = require 'onnx_writer'

local tmp = os.tmpname()
local root = here .. '../../../'

local function load(m, opts)
  return driver.load(W.write(tmp .. '.onnx', W.model(m)), opts)
end

local function load_ok(m, opts)
  local model, err = load(m, opts)
  assert(model, err and util.format_error(err))
  return model
end

local function load_error(m)
  local model, err = load(m)
  assert.is_nil(model)
  return util.format_error(err)
end

local function t(shape, values)
  local x = tensor.new(shape, 'float')
  for i, v in ipairs(values) do x.data[i - 1] = v end
  return x
end

local function list(x)
  local l = {}
  for i = 0, x.n - 1 do l[i + 1] = tonumber(x.data[i]) end
  return l
end

-- Runs the reference interpreter on one tensor per input; returns one list per output.
local function run(model, xs)
  local r = assert(driver.compile(model, { stop = 'plan' }))
  local ys = assert(runner.run_tensors(r.typed, xs))
  local out = {}
  for k, y in ipairs(ys) do out[k] = list(y) end
  return out, r
end

local function near(got, want, tol)
  assert.equals(#want, #got)
  for i = 1, #want do
    assert(math.abs(got[i] - want[i]) <= (tol or 1e-5) * (1 + math.abs(want[i])),
      string.format('element %d: got %.9g, expected %.9g', i, got[i], want[i]))
  end
end

local function seq(n, scale, offset)
  local l = {}
  for i = 1, n do l[i] = ((i * 37) % 23) * (scale or 0.25) - (offset or 2.5) end
  return l
end

describe('ONNX models with several inputs and outputs', function()
  it('take the inputs one after another and write the outputs one after another', function()
    local model = load_ok({
      inputs = { { 'a', { 1, 2, 3 } }, { 'b', { 1, 3 } } },
      outputs = { { 'sum', { 1, 2, 3 } }, { 'prod', { 1, 2, 3 } }, { 'a_again', { 1, 2, 3 } } },
      nodes = { { 'Add', { 'a', 'b' }, { 'sum' } }, { 'Mul', { 'sum', 'a' }, { 'prod' } },
        { 'Identity', { 'a' }, { 'a_again' } } },
    })
    local a, b = seq(6), { 0.5, -1, 2 }
    local ys, r = run(model, { t({ 1, 2, 3 }, a), t({ 1, 3 }, b) })
    local sum, prod = {}, {}
    for i = 1, 6 do
      sum[i] = a[i] + b[(i - 1) % 3 + 1]
      prod[i] = sum[i] * a[i]
    end
    near(ys[1], sum)
    near(ys[2], prod)
    near(ys[3], a)
    local io = ir.io(r.planned)
    assert.same({ 0, 6 }, { io.inputs[1].offset, io.inputs[2].offset })
    assert.same({ 0, 6, 12 }, { io.outputs[1].offset, io.outputs[2].offset, io.outputs[3].offset })
    -- The output that is an input is copied; the others are computed in place.
    local c = assert(driver.compile(model, { name = 'pair' }))
    assert.matches('memcpy(output + 12, input, 6 * sizeof(float));', c.c, 1, true)
    for _, macro in ipairs({ '#define PAIR_NUM_INPUTS 2', '#define PAIR_NUM_OUTPUTS 3', '#define PAIR_INPUT_SIZE 9',
      '#define PAIR_INPUT_1_NAME "b"', '#define PAIR_INPUT_1_OFFSET 6', '#define PAIR_INPUT_1_SHAPE {1, 3}',
      '#define PAIR_OUTPUT_2_OFFSET 12', '#define PAIR_OUTPUT_SIZE 18', '#define PAIR_OUTPUT_1_TYPE "float32"' }) do
      assert.matches(macro, c.h, 1, true)
    end
  end)

  it('keep the header of a one-input, one-output model free of the per-tensor macros', function()
    local model = load_ok({
      inputs = { { 'x', { 1, 4 } } }, outputs = { { 'y', { 1, 4 } } }, nodes = { { 'Relu', { 'x' }, { 'y' } } },
    })
    local c = assert(driver.compile(model, { name = 'one' }))
    assert.is_nil(c.h:find('NUM_INPUTS', 1, true))
    assert.is_nil(c.planned.inputs)
  end)

  it('compile a graph without inputs (a constant) and outputs with no values', function()
    local model = load_ok({
      inputs = {}, outputs = { { 'c', { 2, 2 } } },
      nodes = { { 'Constant', {}, { 'c' }, attrs = { value = { tensor = { 'v', { 2, 2 }, values = { 1, 2, 3, 4 } } } } } },
    })
    local ys, r = run(model, {})
    near(ys[1], { 1, 2, 3, 4 })
    assert.equals(0, ir.io(r.planned).input_size)
    -- An empty input is known from its type: a constant, not a model input.
    local empty = load_ok({
      opset = 14, inputs = { { 'd', { 0, 3 } }, { 'x', { 1, 2 } } }, outputs = { { 'r', { 3, 0 } }, { 'y', { 1, 2 } } },
      nodes = { { 'Reshape', { 'd', 's' }, { 'r' }, attrs = { allowzero = 1 } }, { 'Relu', { 'x' }, { 'y' } } },
      initializers = { { 's', { 2 }, values = { 3, 0 }, type = 7 } },
    })
    local ys2, r2 = run(empty, { t({ 1, 2 }, { -1, 2 }) })
    assert.same({}, ys2[1])
    near(ys2[2], { 0, 2 })
    local io = ir.io(r2.planned)
    assert.equals(1, #io.inputs)
    assert.same({ 3, 0 }, io.outputs[1].shape)
  end)

  it('normalise with the batch statistics in BatchNormalization training mode', function()
    local n, c, hw = 2, 3, 4
    local x = seq(n * c * hw, 0.3, 3)
    local scale, bias, mean0, var0 = { 1.5, 0.5, -1 }, { 0.1, -0.2, 0.3 }, { 0.2, -0.1, 0.4 }, { 1.2, 0.8, 2 }
    local model = load_ok({
      opset = 15,
      inputs = { { 'x', { n, c, 2, 2 } } },
      outputs = { { 'y', { n, c, 2, 2 } }, { 'rm', { c } }, { 'rv', { c } } },
      nodes = { { 'BatchNormalization', { 'x', 's', 'b', 'm', 'v' }, { 'y', 'rm', 'rv' },
        attrs = { training_mode = 1, epsilon = 0.01, momentum = 0.7 } } },
      initializers = { { 's', { c }, values = scale }, { 'b', { c }, values = bias }, { 'm', { c }, values = mean0 },
        { 'v', { c }, values = var0 } },
    })
    local ys = run(model, { t({ n, c, 2, 2 }, x) })
    local y, rm, rv = {}, {}, {}
    for ch = 0, c - 1 do
      local s, q = 0, 0
      for i = 0, n - 1 do for p = 0, hw - 1 do s = s + x[(i * c + ch) * hw + p + 1] end end
      local mean = s / (n * hw)
      for i = 0, n - 1 do for p = 0, hw - 1 do q = q + (x[(i * c + ch) * hw + p + 1] - mean) ^ 2 end end
      local var = q / (n * hw)
      for i = 0, n - 1 do
        for p = 0, hw - 1 do
          local k = (i * c + ch) * hw + p + 1
          y[k] = (x[k] - mean) / math.sqrt(var + 0.01) * scale[ch + 1] + bias[ch + 1]
        end
      end
      rm[ch + 1] = mean0[ch + 1] * 0.7 + mean * 0.3
      rv[ch + 1] = var0[ch + 1] * 0.7 + var * 0.3
    end
    near(ys[1], y)
    near(ys[2], rm)
    near(ys[3], rv)
  end)

  it('give an all-true Dropout mask at inference, and reject random dropping', function()
    local model = load_ok({
      inputs = { { 'x', { 1, 2, 3 } } }, outputs = { { 'y', { 1, 2, 3 } }, { 'mask', { 1, 2, 3 }, type = 9 } },
      nodes = { { 'Dropout', { 'x' }, { 'y', 'mask' } } },
    })
    local ys, r = run(model, { t({ 2, 3 }, seq(6)) })
    near(ys[1], seq(6))
    near(ys[2], { 1, 1, 1, 1, 1, 1 })
    assert.equals('bool', ir.io(r.planned).outputs[2].dtype)
    local text = load_error({
      inputs = { { 'x', { 1, 4 } } }, outputs = { { 'y', { 1, 4 } } },
      nodes = { { 'Dropout', { 'x', 'r', 'on' }, { 'y' }, name = 'drop' } },
      initializers = { { 'r', {}, values = { 0.5 } }, { 'on', {}, values = { 1 }, type = 9 } },
    })
    assert.matches("'drop'", text, 1, true)
    assert.matches('Dropout in training mode draws random numbers; cnnc compiles inference', text, 1, true)
  end)

  for _, order in ipairs({ 0, 1 }) do
    it('number MaxPool Indices as ONNX does (storage_order ' .. order .. ', padding not counted)', function()
      local C, H, Wd = 2, 4, 5
      local x = seq(C * H * Wd, 0.5, 5)
      local model = load_ok({
        inputs = { { 'x', { 1, C, H, Wd } } },
        outputs = { { 'y', { 1, C, 2, 3 } }, { 'i', { 1, C, 2, 3 }, type = 7 } },
        nodes = { { 'MaxPool', { 'x' }, { 'y', 'i' },
          attrs = { kernel_shape = { 2, 3 }, strides = { 2, 2 }, pads = { 1, 1, 0, 1 }, storage_order = order } } },
      })
      local ys = run(model, { t({ 1, C, H, Wd }, x) })
      local want_y, want_i = {}, {}
      for ch = 0, C - 1 do
        for oy = 0, 1 do
          for ox = 0, 2 do
            local best, at
            for ky = 0, 1 do
              for kx = 0, 2 do
                local iy, ix = oy * 2 - 1 + ky, ox * 2 - 1 + kx
                if iy >= 0 and iy < H and ix >= 0 and ix < Wd then
                  local v = x[(ch * H + iy) * Wd + ix + 1]
                  if not best or v > best then
                    best = v
                    at = order == 0 and (ch * H + iy) * Wd + ix or ch * H * Wd + ix * H + iy
                  end
                end
              end
            end
            want_y[#want_y + 1], want_i[#want_i + 1] = best, at
          end
        end
      end
      near(ys[1], want_y)
      assert.same(want_i, ys[2])
    end)
  end

  it('compute 8-bit integer arithmetic exactly: wrapped, division truncated, x / 0 = 0', function()
    local a = { 200, 3, 255, 17, 0, 128 }
    local b = { 100, 250, 2, 5, 0, 0 }
    for _, case in ipairs({
      { 'Add', function(x, y) return (x + y) % 256 end },
      { 'Sub', function(x, y) return (x - y) % 256 end },
      { 'Mul', function(x, y) return (x * y) % 256 end },
      { 'Div', function(x, y) return y == 0 and 0 or math.floor(x / y) end },
    }) do
      local model = load_ok({
        inputs = { { 'a', { 1, 6 }, type = 2 }, { 'b', { 1, 6 }, type = 2 } },
        outputs = { { 'c', { 1, 6 }, type = 2 } },
        nodes = { { case[1], { 'a', 'b' }, { 'c' } } },
      })
      local want = {}
      for i = 1, 6 do want[i] = case[2](a[i], b[i]) end
      assert.same(want, run(model, { t({ 1, 6 }, a), t({ 1, 6 }, b) })[1])
    end
    -- int8: the range is [-128, 128); division truncates toward zero.
    local sa, sb = { 100, -100, -7, 127, -128 }, { 100, -100, 2, 1, -1 }
    for _, case in ipairs({
      { 'Add', { -56, 56, -5, -128, 127 } },
      { 'Div', { 1, 1, -3, 127, -128 } },
    }) do
      local model = load_ok({
        inputs = { { 'a', { 1, 5 }, type = 3 } }, outputs = { { 'c', { 1, 5 }, type = 3 } },
        nodes = { { case[1], { 'a', 'b' }, { 'c' } } },
        initializers = { { 'b', { 1, 5 }, values = sb, type = 3 } },
      })
      assert.same(case[2], run(model, { t({ 1, 5 }, sa) })[1])
    end
  end)

  it('reject sequence inputs with the reason', function()
    local text = load_error({
      inputs = { { 'x', {}, kind = 'sequence' } }, outputs = { { 'y', { 1 } } },
      nodes = { { 'Identity', { 'x' }, { 'y' } } },
    })
    assert.matches("input 'x' is of ONNX type sequence", text, 1, true)
    assert.matches('the number of tensors in a sequence is not part of its ONNX type', text, 1, true)
  end)
end)

describe('the executable of a model with several inputs and outputs', function()
  local dir = tmp .. '_multi_cli'
  local exe = dir .. '/pair'

  local function sh(cmd)
    local p = io.popen(cmd .. ' 2>&1; echo "rc=$?"')
    local out = p:read('*a')
    p:close()
    local rc = tonumber(out:match('rc=(%d+)%s*$'))
    return out:gsub('rc=%d+%s*$', ''), rc
  end

  setup(function()
    os.execute('mkdir -p ' .. dir)
    W.write(dir .. '/pair.onnx', W.model({
      inputs = { { 'a', { 'N', 2, 3 } }, { 'b', { 'N', 3 } } },
      outputs = { { 'sum', { 'N', 2, 3 } }, { 'neg', { 'N', 3 } } },
      nodes = { { 'Add', { 'a', 'b2' }, { 'sum' } }, { 'Neg', { 'b' }, { 'neg' } },
        { 'Unsqueeze', { 'b' }, { 'b2' }, attrs = { axes = { 1 } } } },
      opset = 11,
    }))
  end)
  teardown(function() os.execute("rm -rf '" .. dir .. "'") end)

  it('takes one file per input and -o once per output', function()
    -- Neg is not supported: the model uses Sub from a zero constant instead.
    W.write(dir .. '/pair.onnx', W.model({
      inputs = { { 'a', { 'N', 2, 3 } }, { 'b', { 'N', 3 } } },
      outputs = { { 'sum', { 'N', 2, 3 } }, { 'neg', { 'N', 3 } } },
      nodes = { { 'Unsqueeze', { 'b' }, { 'b2' }, attrs = { axes = { 1 } } }, { 'Add', { 'a', 'b2' }, { 'sum' } },
        { 'Sub', { 'zero', 'b' }, { 'neg' } } },
      initializers = { { 'zero', { 1 }, values = { 0 } } },
      opset = 11,
    }))
    local out, rc = sh(string.format('%sbin/cnnc build %s/pair.onnx -o %s', root, dir, dir))
    assert.equals(0, rc, out)
    local a = tensor.new({ 2, 2, 3 }, 'float')
    for i = 0, 11 do a.data[i] = i end
    local b = tensor.new({ 2, 3 }, 'float')
    for i = 0, 5 do b.data[i] = 10 * (i + 1) end
    assert(npy.write(dir .. '/a.npy', a))
    assert(npy.write(dir .. '/b.npy', b))
    out, rc = sh(string.format('%s %s/a.npy %s/b.npy -o %s/sum.npy -o %s/neg.raw', exe, dir, dir, dir, dir))
    assert.equals(0, rc, out)
    local sum = assert(npy.read(dir .. '/sum.npy'))
    assert.same({ 2, 2, 3 }, sum.shape)
    assert.equals(0 + 10, sum.data[0])
    assert.equals(11 + 60, sum.data[11])
    local neg = assert(npy.read_input(dir .. '/neg.raw'))
    assert.same({ -10, -20, -30, -40, -50, -60 }, list(neg))
    -- Printed: every output of every item, by name.
    out, rc = sh(string.format('%s %s/a.npy %s/b.npy', exe, dir, dir))
    assert.equals(0, rc, out)
    assert.matches('output[1] sum shape (2, 3):', out, 1, true)
    assert.matches('output[1] neg shape (3):', out, 1, true)
    -- --help lists the tensors.
    out, rc = sh(exe .. ' --help')
    assert.equals(0, rc)
    assert.matches('input 1 b', out, 1, true)
    assert.matches('output 1 neg', out, 1, true)
    -- Wrong counts are usage errors (exit 2); inputs of different batch sizes, data errors.
    out, rc = sh(string.format('%s %s/a.npy', exe, dir))
    assert.equals(2, rc)
    assert.matches('the model takes 2 input files (one per input), got 1', out, 1, true)
    out, rc = sh(string.format('%s %s/a.npy %s/b.npy -o %s/x.npy', exe, dir, dir, dir))
    assert.equals(2, rc)
    assert.matches('give -o once per output (2), or not at all; got 1', out, 1, true)
    local b1 = tensor.new({ 3 }, 'float')
    assert(npy.write(dir .. '/b1.npy', b1))
    out, rc = sh(string.format('%s %s/a.npy %s/b1.npy', exe, dir, dir))
    assert.equals(1, rc)
    assert.matches('holds 1 items, but ' .. dir .. '/a.npy holds 2', out, 1, true)
  end)

  it('runs a model without inputs with no arguments', function()
    W.write(dir .. '/const.onnx', W.model({
      inputs = {}, outputs = { { 'c', { 3 } } },
      nodes = { { 'Constant', {}, { 'c' }, attrs = { value = { tensor = { 'v', { 3 }, values = { 1.5, 2, -3 } } } } } },
    }))
    local out, rc = sh(string.format('%sbin/cnnc build %s/const.onnx -o %s', root, dir, dir))
    assert.equals(0, rc, out)
    out, rc = sh(dir .. '/const -o ' .. dir .. '/c.npy')
    assert.equals(0, rc, out)
    assert.same({ 1.5, 2, -3 }, list(assert(npy.read(dir .. '/c.npy'))))
  end)
end)
