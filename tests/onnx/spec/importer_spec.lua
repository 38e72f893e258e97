-- The ONNX importer (cnnc.onnx.importer) on hand-made models: operators it lacks are
-- listed all at once, inputs can be bound to constants, layouts (an NCHW input reordered
-- once, a Flatten folded into the next Gemm, Transposes that only relabel), the batch
-- axis, and ONNX semantics checked against plain loops written here.

local here = debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './'
package.path = here .. '../../../compiler/?.lua;' .. here .. '?.lua;' .. package.path

local driver = require 'cnnc.driver'
local runner = require 'cnnc.runner'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'
local W = require 'onnx_writer'

local tmp = os.tmpname() .. '.onnx'

local function load(m, opts)
  return driver.load(W.write(tmp, W.model(m)), opts)
end

local function load_ok(m, opts)
  local model, err = load(m, opts)
  assert(model, err and util.format_error(err))
  return model
end

local function load_error(m, opts)
  local model, err = load(m, opts)
  assert.is_nil(model)
  assert.is_true(util.is_error(err))
  return util.format_error(err)
end

local function typed(model)
  local r, err = driver.compile(model, { stop = 'plan' })
  assert(r, err and util.format_error(err))
  return r
end

-- Runs the reference interpreter on x (a flat Lua list) and returns a flat list.
local function run(model, x, shape)
  local r = typed(model)
  local t = tensor.new(shape, 'float')
  for i, v in ipairs(x) do t.data[i - 1] = v end
  local y = assert(runner.run_batch(r.typed, t))
  local out = {}
  for i = 0, y.n - 1 do out[i + 1] = y.data[i] end
  return out, r
end

local function ops(g)
  local t = {}
  for _, n in ipairs(g.nodes) do t[#t + 1] = n.op end
  return table.concat(t, ' ')
end

local function seq(n, scale)
  local t = {}
  for i = 1, n do t[i] = ((i * 7) % 11 - 5) * (scale or 0.25) end
  return t
end

local function near(a, b, tol)
  assert.equals(#b, #a)
  for i = 1, #a do
    assert(math.abs(a[i] - b[i]) <= (tol or 1e-5) * (1 + math.abs(b[i])),
      string.format('element %d: got %.9g, expected %.9g', i, a[i], b[i]))
  end
end

describe('the ONNX importer', function()
  it('lists every operator it cannot compile, with node names, counts and what to do, at once', function()
    local text = load_error({
      inputs = { { 'x', { 1, 4 } } }, outputs = { { 'z', { 4 } } },
      nodes = {
        { 'Unique', { 'x' }, { 'a' }, name = 'u1' }, { 'Relu', { 'a' }, { 'b' } },
        { 'Unique', { 'b' }, { 'c' }, name = 'u2' },
        { 'Frob', { 'c' }, { 'd' }, name = 'custom', domain = 'com.example' },
        { 'NonZero', { 'd' }, { 'm' }, name = 'nz' },
        { 'Range', { 'm', 'm', 'm' }, { 'z' }, name = 'r' },
      },
    })
    assert.matches('the model uses 4 operators cnnc cannot compile here', text, 1, true)
    assert.matches("NonZero: 1 node ('nz'): its output size depends on the values", text, 1, true)
    assert.matches("Unique: 2 nodes ('u1', 'u2'): its output size depends on the values", text, 1, true)
    assert.matches("com.example.Frob: 1 node ('custom'): an operator of a custom domain", text, 1, true)
    assert.matches("Range: 1 node ('r'): cnnc evaluates Range only on constants, and 'm' is computed", text, 1, true)
    assert.matches('export without dynamic axes', text, 1, true)
  end)

  it('asks for --bind when weights come as graph inputs, and takes them bound', function()
    local m = {
      inputs = { { 'x', { 1, 1, 3, 3 } }, { 'w', { 1, 1, 2, 2 } } }, outputs = { { 'y', { 1, 1, 2, 2 } } },
      nodes = { { 'Conv', { 'x', 'w' }, { 'y' } } },
    }
    assert.matches("the weight W (input 2, 'w') must be a constant: an initializer, a Constant node, or a graph input bound with --bind NAME=FILE",
      load_error(m), 1, true)
    local w = tensor.new({ 1, 1, 2, 2 }, 'float')
    for i = 0, 3 do w.data[i] = i + 1 end
    local model = load_ok(m, { binds = { w = w } })
    local x = { 1, 2, 3, 4, 5, 6, 7, 8, 9 }
    -- y[i][j] = sum w[a][b] x[i+a][j+b]
    local y = run(model, x, { 1, 3, 3 })
    near(y, { 1 * 1 + 2 * 2 + 3 * 4 + 4 * 5, 1 * 2 + 2 * 3 + 3 * 5 + 4 * 6, 1 * 4 + 2 * 5 + 3 * 7 + 4 * 8,
      1 * 5 + 2 * 6 + 3 * 8 + 4 * 9 })
    assert.matches("no input named 'v'", load_error(m, { binds = { w = w, v = w } }), 1, true)
  end)

  it('drops the batch axis, reorders an NCHW input once and documents CHW', function()
    local model = load_ok({
      inputs = { { 'x', { 'N', 3, 5, 6 } } }, outputs = { { 'y', { 'N', 4, 5, 6 } } },
      nodes = { { 'Conv', { 'x', 'w', 'b' }, { 'c' }, attrs = { pads = { 1, 1, 1, 1 } } }, { 'Relu', { 'c' }, { 'y' } } },
      initializers = { { 'w', { 4, 3, 3, 3 } }, { 'b', { 4 }, fill = 0.1 } },
    })
    local r = assert(driver.compile(model, {}))
    assert.same({ 3, 5, 6 }, r.graph.input.shape)
    assert.equals('Permute Conv2D Activation Permute', ops(r.typed))
    assert.equals('Permute Conv2D Permute', ops(r.fused))
    assert.matches('#define TEST_INPUT_LAYOUT "CHW"', r.h:gsub('[%w_]+_INPUT_LAYOUT', 'TEST_INPUT_LAYOUT'), 1, true)
  end)

  it('folds the reorder of a Flatten after a convolution into the Gemm weights', function()
    -- x (1, 2, 2, 2) -> Conv 1x1 (2 -> 2, identity) -> Flatten (CHW order) -> Gemm picks
    -- element k of the flattened vector as output k.
    local eye = {}
    for i = 1, 64 do eye[i] = 0 end
    for k = 0, 7 do eye[k * 8 + k + 1] = k + 1 end -- B (8, 8): output k = (k + 1) * v[k]
    local model = load_ok({
      inputs = { { 'x', { 1, 2, 2, 2 } } }, outputs = { { 'y', { 1, 8 } } },
      nodes = {
        { 'Conv', { 'x', 'w' }, { 'c' } }, { 'Flatten', { 'c' }, { 'f' } }, { 'Gemm', { 'f', 'B' }, { 'y' } },
      },
      initializers = { { 'w', { 2, 2, 1, 1 }, values = { 1, 0, 0, 1 } }, { 'B', { 8, 8 }, values = eye } },
    })
    local x = { 1, 2, 3, 4, 5, 6, 7, 8 }
    local y, r = run(model, x, { 2, 2, 2 })
    near(y, { 1, 4, 9, 16, 25, 36, 49, 64 })
    assert.equals('Permute Conv2D Reshape Dense', ops(r.typed))
  end)

  it('lets Transpose relabel axes: an NHWC flatten of convolution output costs no copy', function()
    local model = load_ok({
      inputs = { { 'x', { 1, 2, 2, 3 } } }, outputs = { { 'y', { 1, 12 } } },
      nodes = {
        { 'Conv', { 'x', 'w' }, { 'a' } }, { 'Transpose', { 'a' }, { 't' }, attrs = { perm = { 0, 2, 3, 1 } } },
        { 'Reshape', { 't', 's' }, { 'y' } },
      },
      initializers = { { 'w', { 2, 2, 1, 1 }, values = { 1, 0, 0, 1 } }, { 's', { 2 }, values = { 1, -1 }, type = 7 } },
    })
    local x = seq(12)
    local y, r = run(model, x, { 2, 2, 3 })
    local want = {}
    for h = 0, 1 do
      for w = 0, 2 do
        for c = 0, 1 do want[#want + 1] = x[c * 6 + h * 3 + w + 1] end
      end
    end
    near(y, want)
    assert.equals('Permute Conv2D Reshape', ops(r.typed))
  end)

  it('compiles the whole tensor as the item when a node mixes the batch', function()
    local model = load_ok({
      inputs = { { 'x', { 3, 2 } } }, outputs = { { 'y', { 3, 2 } } },
      nodes = { { 'Softmax', { 'x' }, { 'y' }, attrs = { axis = 0 } } },
    })
    local x = { 1, 2, 3, 4, 5, 7 }
    local y, r = run(model, x, { 3, 2 })
    assert.same({ 3, 2 }, r.graph.input.shape)
    local function sm(a, b, c) local s = math.exp(a) + math.exp(b) + math.exp(c); return math.exp(a) / s end
    near(y, { sm(1, 3, 5), sm(2, 4, 7), sm(3, 1, 5), sm(4, 2, 7), sm(5, 1, 3), sm(7, 2, 4) })
  end)

  it('runs windows on a batch of 1 when the graph flattens the batch away', function()
    local m = {
      inputs = { { 'x', { 1, 2, 3, 3 } } }, outputs = { { 'y', { 8 } } },
      nodes = {
        { 'Conv', { 'x', 'w' }, { 'c' } }, { 'Reshape', { 'c', 's' }, { 'y' } },
      },
      initializers = { { 'w', { 2, 2, 2, 2 } }, { 's', { 1 }, values = { -1 }, type = 7 } },
    }
    local x = seq(18)
    local y, r = run(load_ok(m), x, { 1, 2, 3, 3 })
    assert.same({ 1, 2, 3, 3 }, r.graph.input.shape)
    local wv = {}
    for i = 1, 16 do wv[i] = (i % 7) * 0.125 - 0.375 end
    local want = {}
    for oc = 0, 1 do
      for oy = 0, 1 do
        for ox = 0, 1 do
          local acc = 0
          for ic = 0, 1 do
            for ky = 0, 1 do
              for kx = 0, 1 do
                acc = acc + x[(ic * 3 + oy + ky) * 3 + ox + kx + 1] * wv[((oc * 2 + ic) * 2 + ky) * 2 + kx + 1]
              end
            end
          end
          want[#want + 1] = acc
        end
      end
    end
    near(y, want)
  end)

  it('follows the opset 1-12 Softmax: the axes from axis on are one', function()
    local m = {
      opset = 11, inputs = { { 'x', { 1, 2, 3 } } }, outputs = { { 'y', { 1, 2, 3 } } },
      nodes = { { 'Softmax', { 'x' }, { 'y' } } },
    }
    local x = seq(6)
    local y = run(load_ok(m), x, { 2, 3 })
    local s = 0
    for i = 1, 6 do s = s + math.exp(x[i]) end
    local want = {}
    for i = 1, 6 do want[i] = math.exp(x[i]) / s end
    near(y, want)
    m.opset = 13
    y = run(load_ok(m), x, { 2, 3 })
    for r = 0, 1 do
      local t = math.exp(x[r * 3 + 1]) + math.exp(x[r * 3 + 2]) + math.exp(x[r * 3 + 3])
      for c = 1, 3 do want[r * 3 + c] = math.exp(x[r * 3 + c]) / t end
    end
    near(y, want)
  end)

  it('adds two tensors with broadcasting, and constants in the memory order', function()
    local model = load_ok({
      inputs = { { 'x', { 1, 2, 3, 3 } } }, outputs = { { 'y', { 1, 2, 3, 3 } } },
      nodes = {
        { 'MaxPool', { 'x' }, { 'p' }, attrs = { kernel_shape = { 1, 1 } } },
        { 'GlobalAveragePool', { 'p' }, { 'g' } },
        { 'Mul', { 'p', 'g' }, { 'm' } },
        { 'Sub', { 'c', 'm' }, { 'y' } },
      },
      initializers = { { 'c', { 2, 1, 1 }, values = { 10, 20 } } },
    })
    local x = seq(18)
    local y, r = run(model, x, { 2, 3, 3 })
    local want = {}
    for c = 0, 1 do
      local mean = 0
      for k = 1, 9 do mean = mean + x[c * 9 + k] / 9 end
      for k = 1, 9 do want[c * 9 + k] = (c == 0 and 10 or 20) - x[c * 9 + k] * mean end
    end
    near(y, want)
    assert.truthy(ops(r.typed):match('Multiply') and ops(r.typed):match('Subtract'))
  end)

  it('pads with edge and reflect modes on any axis', function()
    local m = {
      inputs = { { 'x', { 1, 2, 3 } } }, outputs = { { 'y', { 1, 3, 6 } } },
      nodes = { { 'Pad', { 'x', 'p' }, { 'y' }, attrs = { mode = 'reflect' } } },
      initializers = { { 'p', { 6 }, values = { 0, 1, 2, 0, 0, 1 }, type = 7 } },
    }
    local x = { 1, 2, 3, 4, 5, 6 }
    near(run(load_ok(m), x, { 2, 3 }), { 6, 5, 4, 5, 6, 5, 3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5 })
    m.nodes[1].attrs.mode = 'edge'
    near(run(load_ok(m), x, { 2, 3 }), { 1, 1, 1, 2, 3, 3, 1, 1, 1, 2, 3, 3, 4, 4, 4, 5, 6, 6 })
  end)

  it('names the node and the problem when a model is inconsistent', function()
    local text = load_error({
      inputs = { { 'x', { 1, 3, 5, 5 } } }, outputs = { { 'y', { 1, 4, 3, 3 } } },
      nodes = { { 'Conv', { 'x', 'w' }, { 'y' }, name = 'conv7', attrs = { kernel_shape = { 2, 2 } } } },
      initializers = { { 'w', { 4, 3, 3, 3 } } },
    })
    assert.matches("layer 'conv7'", text, 1, true)
    assert.matches('kernel_shape (2, 2) differs from the weight (4, 3, 3, 3)', text, 1, true)
    -- int32 products are not exact in float32 (8-bit ones are: see the integer spec).
    assert.matches("input 1 ('x') holds int32 values: cnnc computes in float32", load_error({
      inputs = { { 'x', { 1, 4 }, type = 6 } }, outputs = { { 'y', { 1, 4 }, type = 6 } },
      nodes = { { 'Add', { 'x', 'x' }, { 'y' } } },
    }), 1, true)
    assert.matches('opset 30 is not supported', load_error({
      opset = 30, inputs = { { 'x', { 1, 4 } } }, outputs = { { 'y', { 1, 4 } } },
      nodes = { { 'Relu', { 'x' }, { 'y' } } },
    }), 1, true)
  end)

  it('supports grouped and depthwise convolution like per-group convolutions', function()
    local model = load_ok({
      inputs = { { 'x', { 1, 4, 3, 3 } } }, outputs = { { 'y', { 1, 4, 2, 2 } } },
      nodes = { { 'Conv', { 'x', 'w' }, { 'y' }, attrs = { group = 2 } } },
      initializers = { { 'w', { 4, 2, 2, 2 } } },
    })
    local x = seq(36, 0.5)
    local wv = {}
    for i = 1, 32 do wv[i] = (i % 7) * 0.125 - 0.375 end
    local y = run(model, x, { 4, 3, 3 })
    local want = {}
    for oc = 0, 3 do
      local g = math.floor(oc / 2)
      for oy = 0, 1 do
        for ox = 0, 1 do
          local s = 0
          for ic = 0, 1 do
            for ky = 0, 1 do
              for kx = 0, 1 do
                s = s + x[((g * 2 + ic) * 3 + oy + ky) * 3 + ox + kx + 1] * wv[((oc * 2 + ic) * 2 + ky) * 2 + kx + 1]
              end
            end
          end
          want[#want + 1] = s
        end
      end
    end
    near(y, want)
  end)

  it('multiplies batches of matrices, by constants and by computed values', function()
    -- (N, 2, 3) x (3, 2) per item; then by its own transpose (N, 2, 2) x (N, 2, 2).
    local model = load_ok({
      inputs = { { 'x', { 'N', 2, 3 } } }, outputs = { { 'y', { 'N', 2, 2 } } },
      nodes = {
        { 'MatMul', { 'x', 'B' }, { 'm' } },
        { 'Transpose', { 'm' }, { 't' }, attrs = { perm = { 0, 2, 1 } } },
        { 'MatMul', { 'm', 't' }, { 'y' } },
      },
      initializers = { { 'B', { 3, 2 }, values = { 1, 2, 3, 4, 5, 6 } } },
    })
    local x = { 1, -1, 2, 0, 3, 1 }
    local y, r = run(model, x, { 2, 3 })
    assert.same({ 2, 3 }, r.graph.input.shape)
    local m = { { 1 - 3 + 10, 2 - 4 + 12 }, { 9 + 5, 12 + 6 } }
    local want = {}
    for i = 1, 2 do
      for j = 1, 2 do want[#want + 1] = m[i][1] * m[j][1] + m[i][2] * m[j][2] end
    end
    near(y, want)
  end)

  it('pools with ceil_mode, count_include_pad and Lp norms as ONNX defines them', function()
    local m = {
      inputs = { { 'x', { 1, 1, 4, 4 } } }, outputs = { { 'y', { 1, 1, 2, 2 } } },
      nodes = { { 'AveragePool', { 'x' }, { 'y' }, attrs = { kernel_shape = { 3, 3 }, strides = { 2, 2 },
        pads = { 1, 1, 0, 0 }, ceil_mode = 1, count_include_pad = 1 } } },
    }
    local x = {}
    for i = 1, 16 do x[i] = i end
    -- Windows start at -1 and 1 on both axes; the padded input spans [-1, 4): the window
    -- at 1 covers 1..3, 3 cells, of which row/column 3 is real; the one at -1, 3 cells.
    local function cell(r, c) return (r >= 0 and r < 4 and c >= 0 and c < 4) and x[r * 4 + c + 1] or 0 end
    local want = {}
    for _, oy in ipairs({ -1, 1 }) do
      for _, ox in ipairs({ -1, 1 }) do
        local s, n = 0, 0
        for ky = 0, 2 do
          for kx = 0, 2 do
            local r, c = oy + ky, ox + kx
            if r < 4 and c < 4 then n = n + 1 end
            s = s + cell(r, c)
          end
        end
        want[#want + 1] = s / n
      end
    end
    near(run(load_ok(m), x, { 1, 4, 4 }), want)
    m.nodes[1] = { 'LpPool', { 'x' }, { 'y' }, attrs = { kernel_shape = { 2, 2 }, strides = { 2, 2 }, p = 3 } }
    want = {}
    for _, oy in ipairs({ 0, 2 }) do
      for _, ox in ipairs({ 0, 2 }) do
        local s = 0
        for ky = 0, 1 do
          for kx = 0, 1 do s = s + math.abs(cell(oy + ky, ox + kx)) ^ 3 end
        end
        want[#want + 1] = s ^ (1 / 3)
      end
    end
    near(run(load_ok(m), x, { 1, 4, 4 }), want)
  end)

  it('concatenates computed values with constants, and clips', function()
    local model = load_ok({
      inputs = { { 'x', { 1, 3 } } }, outputs = { { 'y', { 1, 5 } } },
      nodes = {
        { 'Clip', { 'x', 'lo', 'hi' }, { 'c' } },
        { 'Concat', { 'k', 'c' }, { 'y' }, attrs = { axis = 1 } },
      },
      initializers = { { 'lo', {}, values = { -1 } }, { 'hi', {}, values = { 2 } }, { 'k', { 1, 2 }, values = { 7, 8 } } },
    })
    near(run(model, { -3, 0.5, 9 }, { 3 }), { 7, 8, -1, 0.5, 2 })
  end)

  it('answers corrupt files with a cnnc error, never a Lua error', function()
    local good = W.model({
      inputs = { { 'x', { 1, 2, 6, 6 } } }, outputs = { { 'y', { 1, 3 } } },
      nodes = {
        { 'Conv', { 'x', 'w', 'b' }, { 'c' }, attrs = { pads = { 1, 1, 1, 1 }, strides = { 2, 2 } } },
        { 'Relu', { 'c' }, { 'r' } }, { 'MaxPool', { 'r' }, { 'p' }, attrs = { kernel_shape = { 2, 2 }, strides = { 2, 2 } } },
        { 'Flatten', { 'p' }, { 'f' } }, { 'Gemm', { 'f', 'B' }, { 'g' }, attrs = { transB = 1 } },
        { 'Softmax', { 'g' }, { 'y' }, attrs = { axis = 1 } },
      },
      initializers = { { 'w', { 4, 2, 3, 3 } }, { 'b', { 4 } }, { 'B', { 3, 16 } } },
    })
    math.randomseed(7)
    for k = 1, 400 do
      local s = good
      if k % 4 == 0 then
        s = s:sub(1, math.random(0, #s - 1))
      else
        for _ = 1, math.random(1, 3) do
          local at = math.random(1, #s)
          s = s:sub(1, at - 1) .. string.char(math.random(0, 255)) .. s:sub(at + 1)
        end
      end
      local ok, err = pcall(function()
        local model, e = driver.load(W.write(tmp, s))
        if model then model, e = driver.compile(model, { stop = 'plan' }) end
        assert(model or util.is_error(e), tostring(e))
      end)
      assert(ok, 'mutation ' .. k .. ': ' .. tostring(err))
    end
  end)
end)

os.remove(tmp)
