-- The reference backward pass (cnnc.backward): finite differences on random networks of
-- every Lua layer kind and activation (tests/differential/gen.lua), hand-made graphs for
-- the layers the generator does not make (two-input arithmetic, Concatenate, Permute,
-- Reshape, Pad, Softmax layers, the ONNX elementwise functions), fused graphs against
-- typed ones (batch norms moved into epilogues or folded into weights), the choices at
-- kinks, batches, and the refusal of layers without a backward.

local T = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'testutil.lua')
package.path = T.root .. 'tests/?.lua;' .. T.here .. '?.lua;' .. package.path
local nn = T.nn
local G = require 'gradcheck'
local backward = require 'cnnc.backward'
local ir = require 'cnnc.ir'
local runner = require 'cnnc.runner'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'
local gen = require 'differential.gen'

local BIAS = { 'random_uniform', minval = -0.5, maxval = 0.5 }
local function bn(extra)
  local a = {
    gamma_initializer = { 'random_uniform', minval = 0.5, maxval = 1.5 },
    beta_initializer = BIAS, moving_mean_initializer = BIAS,
    moving_variance_initializer = { 'random_uniform', minval = 0.3, maxval = 2 },
  }
  for k, v in pairs(extra or {}) do a[k] = v end
  return nn.BatchNormalization(a)
end

local function model(shape, layers)
  return nn.Sequential{ name = 'grad_case', input_shape = shape, layers = layers, seed = 11 }
end

-- Largest difference between two tensors relative to the larger one's largest value.
local function rel_diff(a, b)
  assert.same(a.n, b.n)
  local m, d = 0, 0
  for i = 0, a.n - 1 do
    m = math.max(m, math.abs(a.data[i]), math.abs(b.data[i]))
    d = math.max(d, math.abs(a.data[i] - b.data[i]))
  end
  return d / math.max(m, 1e-30), m
end

-- Finite differences on typed graph g (its weights made double); fails on any mismatch.
local function fd_check(g, seed)
  local rand = G.rng(seed or 1)
  G.doubles(g)
  local io = ir.io(g)
  local x = G.random_tensor({ io.input_size }, rand)
  if not ir.is_multi(g) then x.shape = util.copy(g.input.shape) end
  local dy = G.random_tensor({ io.output_size }, rand)
  local fails, kinked, checks = G.check(g, x, dy, rand)
  assert.same({}, fails)
  assert.is_true(kinked == 0, kinked .. ' of ' .. checks .. ' checks met only kinks')
  return checks
end

-- The typed graph's and the fused graph's gradients agree (the fused weights are rounded
-- to float32 when a batch norm is folded: 1e-5 relative).
local function same_grads(typed, fused, x, dy, tol)
  local dx1, w1, _, o1 = backward.run(typed, x, dy)
  local dx2, w2, _, o2 = backward.run(fused, x, dy)
  assert.same(o1, o2)
  local d = rel_diff(dx1, dx2)
  assert.is_true(d <= (tol or 1e-5), 'input gradients differ by ' .. d)
  for _, w in ipairs(o1) do
    d = rel_diff(w1[w.key], w2[w.key])
    assert.is_true(d <= (tol or 1e-5), w.key .. ' gradients differ by ' .. d)
  end
end

-- A graph of nodes {name, layer, inputs} (a DAG; the last node is the output), typed.
local function dag(shape, list)
  local g = ir.new('dag', 'input', shape)
  g.seed = 5
  for i, s in ipairs(list) do g.nodes[i] = T.extra_node(s[2], s[1], s[3], i) end
  g.output = list[#list][1]
  return require('cnnc.passes.shape').run(g)
end

describe('reference backward: finite differences on random networks', function()
  -- 160 networks of the differential suite's generator: every Lua layer kind, every
  -- activation, fusable patterns (padding before convolutions, batch norms and
  -- activations after producers).
  local COUNT, SEED = 160, 2
  local dir
  setup(function() dir = T.tmpdir() end)
  teardown(function() T.rmdir(dir) end)

  -- (the kinds whose layer module has a backward)
  local registry = require 'cnnc.registry'
  local function has_backward(kind) return registry.kinds[kind].module.backward ~= nil end
  local function load(i)
    local net = gen.network(SEED, i, has_backward)
    local path = string.format('%s/n%d.lua', dir, i)
    T.write(path, gen.source(net))
    local m = assert(T.driver.load(path))
    return net, T.compile(m, { stop = 'fuse' })
  end

  it('matches central differences for the input and every weight, and fusion changes nothing', function()
    local kinds, activations, checks, kinked, folded, fused_bn = {}, {}, 0, 0, 0, 0
    local failures = {}
    for i = 1, COUNT do
      local net, r = load(i)
      for _, l in ipairs(net.layers) do
        kinds[l.kind] = true
        for _, a in ipairs(l.args) do
          if a[1] == 'activation' or (l.kind == 'Activation' and a[1] == nil) then activations[a[2]] = true end
        end
      end
      for _, n in ipairs(r.fused.nodes) do
        if n.folded then folded = folded + 1 end
        for _, st in ipairs(n.epilogue) do
          if st.op == 'affine' and st.origin ~= n.name then fused_bn = fused_bn + 1 end
        end
      end
      local rand = G.rng(1000 + i)
      local x = G.random_tensor(net.input_shape, rand, 'float')
      local dy = G.random_tensor(net.output_shape, rand)
      same_grads(r.typed, r.fused, x, dy)
      local g = G.doubles(r.typed)
      local f, k, c = G.check(g, x, dy, rand)
      checks, kinked = checks + c, kinked + k
      for _, msg in ipairs(f) do failures[#failures + 1] = string.format('#%d %s: %s', i, gen.describe(net), msg) end
    end
    assert.same({}, failures)
    -- a kink within 1e-5 of a random point is rare; many would mean a broken check
    assert.is_true(kinked <= checks / 50, string.format('%d of %d checks met only kinks', kinked, checks))
    assert.is_true(folded >= 5 and fused_bn >= 5, string.format('only %d folds and %d fused batch norms', folded, fused_bn))
    for kind in pairs(gen.make) do
      if has_backward(kind) then assert.is_true(kinds[kind], kind .. ' never generated') end
    end
    for _, a in ipairs(gen.ACTIVATIONS) do assert.is_true(activations[a], a .. ' never generated') end
  end)
end)

describe('reference backward: graphs the generator does not make', function()
  it('two-input arithmetic, Concatenate and a value read by several layers', function()
    local conv = function(f) return nn.Conv2D{ f, 3, padding = 'same', bias_initializer = BIAS } end
    local g = dag({ 5, 4, 2 }, {
      { 'a', conv(3), { 'input' } },
      { 'b', nn.Conv2D{ 3, 3, padding = 'same', activation = 'sigmoid', bias_initializer = BIAS }, { 'input' } },
      { 'sum', nn.Add{}, { 'a', 'b' } },
      { 'diff', nn.Subtract{}, { 'sum', 'a' } },
      { 'prod', nn.Multiply{}, { 'diff', 'b' } },
      { 'quot', nn.Divide{}, { 'prod', 'b' } },
      { 'twice', nn.Add{}, { 'quot', 'quot' } },
      { 'cat', nn.Concatenate{}, { 'twice', 'a', 'input' } },
      { 'flat', nn.Flatten{}, { 'cat' } },
      { 'out', nn.Dense{ 3, activation = 'tanh', bias_initializer = BIAS }, { 'flat' } },
    })
    fd_check(g, 2)
  end)

  it('merges of several inputs: Add, Multiply, Average, Maximum, Minimum, with broadcasting', function()
    local conv = function(f, act) return nn.Conv2D{ f, 3, padding = 'same', activation = act, bias_initializer = BIAS } end
    local g = dag({ 5, 4, 2 }, {
      { 'a', conv(3), { 'input' } },
      { 'b', conv(3, 'tanh'), { 'input' } },
      { 'c', conv(3, 'sigmoid'), { 'a' } },
      { 'sum3', nn.Add{}, { 'a', 'b', 'c' } },
      { 'prod3', nn.Multiply{}, { 'sum3', 'b', 'c' } },
      { 'mean3', nn.Average{}, { 'prod3', 'a', 'c' } },
      { 'hi', nn.Maximum{}, { 'mean3', 'b', 'a' } },
      { 'lo', nn.Minimum{}, { 'hi', 'c' } },
      { 'pooled', nn.GlobalAveragePooling2D{ keepdims = true }, { 'lo' } },
      { 'stretched', nn.Add{}, { 'lo', 'pooled' } },
      { 'scaled', nn.Multiply{}, { 'pooled', 'stretched' } },
      { 'flat', nn.Flatten{}, { 'scaled' } },
      { 'out', nn.Dense{ 3, activation = 'tanh', bias_initializer = BIAS }, { 'flat' } },
    })
    fd_check(g, 4)
  end)

  it('Maximum and Minimum send a tie to the left operand', function()
    local g = dag({ 4 }, {
      { 'hi', nn.Maximum{}, { 'input', 'input' } },
      { 'lo', nn.Minimum{}, { 'input', 'hi' } },
    })
    local x = tensor.new({ 4 }, 'double')
    for i = 0, 3 do x.data[i] = i - 1.5 end
    local dy = tensor.new({ 4 }, 'double')
    for i = 0, 3 do dy.data[i] = 1 end
    local dx = backward.run(g, x, dy)
    -- lo keeps its left operand (input), hi passes nothing further: all of dy lands once
    for i = 0, 3 do assert.equal(1, dx.data[i]) end
  end)

  it('arithmetic with a broadcast constant operand (first or second) and PReLU', function()
    local rnd = { 'random_uniform', minval = 0.5, maxval = 1.5 }
    local g = T.compile(model({ 3, 4, 2 }, {
      nn.Add{ operand_shape = { 2 }, operand_initializer = BIAS },
      nn.Multiply{ operand_shape = { 4, 1 }, operand_initializer = rnd },
      nn.Subtract{ operand_shape = { 1, 2 }, operand_first = true, operand_initializer = BIAS },
      nn.Divide{ operand_shape = { 3, 1, 1 }, operand_initializer = rnd },
      nn.Divide{ operand_shape = { 2 }, operand_first = true, operand_initializer = rnd },
      nn.PReLU{ alpha_initializer = BIAS },
    }), { stop = 'shape' }).typed
    local keys = {}
    for _, w in ipairs(backward.trainable(g)) do keys[#keys + 1] = w.key end
    assert.same({ 'add.operand', 'multiply.operand', 'subtract.operand', 'divide.operand', 'divide_1.operand',
      'p_re_lu.alpha' }, keys)
    fd_check(g, 3)
  end)

  it('Permute, Reshape, Pad in every mode, Softmax and LogSoftmax layers', function()
    local g = T.compile(model({ 3, 4, 2 }, {
      nn.Conv2D{ 3, 2, padding = 'same', bias_initializer = BIAS },
      nn.Permute{ { 3, 1, 2 } },
      nn.Pad{ { { 0, 1 }, { 2, 1 }, { 1, 2 } }, value = 0.5 },
      nn.Pad{ { { 1, 0 }, { 1, 2 }, { 0, 1 } }, mode = 'edge' },
      nn.Pad{ { { 0, 0 }, { 2, 1 }, { 1, 1 } }, mode = 'reflect' },
      nn.Softmax{ axis = 2 },
      nn.Reshape{ { -1, 6 } },
      nn.LogSoftmax{},
      nn.Flatten{},
      nn.Dense{ 3, bias_initializer = BIAS },
    }), { stop = 'shape' }).typed
    fd_check(g, 4)
  end)

  it('the ONNX elementwise functions, softmax and every activation as layers', function()
    local layers = { nn.Conv2D{ 4, 2, bias_initializer = { 'random_uniform', minval = -2, maxval = 2 },
      kernel_initializer = { 'random_uniform', minval = -2, maxval = 2 } } }
    local fns = {
      { 'onnx_elu', alpha = 0.7 }, { 'onnx_selu', alpha = 1.5, scale = 1.2 },
      { 'onnx_hard_sigmoid', alpha = 0.3, offset = 0.4 }, { 'hard_swish' }, { 'celu', alpha = 1.7 },
      { 'clip', min = -0.6, max = 0.8 }, { 'clip', min = -0.2 },
    }
    for _, f in ipairs(fns) do
      local a = { ['function'] = f[1] }
      for k, v in pairs(f) do if k ~= 1 then a[k] = v end end
      layers[#layers + 1] = nn.ParamActivation(a)
      layers[#layers + 1] = nn.Conv2D{ 4, 1, bias_initializer = BIAS }
    end
    layers[#layers + 1] = nn.Flatten{}
    for _, a in ipairs(gen.ACTIVATIONS) do
      layers[#layers + 1] = nn.Dense{ 4, bias_initializer = BIAS }
      layers[#layers + 1] = nn.Activation{ a }
    end
    local r = T.compile(model({ 4, 5, 3 }, layers), { stop = 'fuse' })
    fd_check(r.typed, 5)
  end)
end)

describe('reference backward: fused graphs', function()
  local function both(m, seed)
    local r = T.compile(m, { stop = 'fuse' })
    local rand = G.rng(seed)
    local x = G.random_tensor(r.typed.input.shape, rand, 'float')
    local dy = G.random_tensor(ir.shape_of(r.typed, r.typed.output), rand)
    same_grads(r.typed, r.fused, x, dy)
    fd_check(r.typed, seed)
    return r
  end

  it('keeps the gradients of batch norms folded into weights, also two in a row', function()
    local r = both(model({ 6, 5, 2 }, { nn.Conv2D{ 3, 3, bias_initializer = BIAS }, bn(), bn({ epsilon = 0.1 }),
      nn.Activation{ 'tanh' }, nn.Conv2D{ 2, 2, use_bias = false }, bn({ center = false }),
      nn.LocallyConnected2D{ 2, 2, bias_initializer = BIAS }, bn({ scale = false }), nn.Flatten{},
      nn.Dense{ 4, use_bias = false }, bn(), nn.Dense{ 3, activation = 'softmax', bias_initializer = BIAS } }), 6)
    local conv = T.node(r.fused, 'conv2d')
    assert.same(2, #conv.folded)
    assert.same({ 'batch_normalization', 'batch_normalization_1' }, { conv.folded[1].origin, conv.folded[2].origin })
    assert.is_not_nil(T.weight(T.node(r.fused, 'conv2d_1'), 'bias')) -- the fold made one
    local keys = {}
    for _, w in ipairs(backward.trainable(r.fused)) do keys[w.key] = table.concat(w.shape, 'x') end
    assert.same({
      ['conv2d.kernel'] = '3x3x2x3', ['conv2d.bias'] = '3',
      ['batch_normalization.gamma'] = '3', ['batch_normalization.beta'] = '3',
      ['batch_normalization_1.gamma'] = '3', ['batch_normalization_1.beta'] = '3',
      ['conv2d_1.kernel'] = '2x2x3x2', ['batch_normalization_2.gamma'] = '2',
      ['locally_connected2d.kernel'] = '2x8x2', ['locally_connected2d.bias'] = '2x1x2',
      ['batch_normalization_3.beta'] = '2',
      ['dense.kernel'] = '4x4', ['batch_normalization_4.gamma'] = '4', ['batch_normalization_4.beta'] = '4',
      ['dense_1.kernel'] = '4x3', ['dense_1.bias'] = '3',
    }, keys)
  end)

  it('keeps the gradients of batch norms in epilogues, after activations and pooling', function()
    local r = both(model({ 7, 6, 2 }, { nn.ZeroPadding2D{ 1 }, nn.Conv2D{ 3, 3, activation = 'relu', bias_initializer = BIAS },
      bn(), nn.LeakyReLU{}, nn.Dropout{ 0.3 }, nn.AveragePooling2D{ 2, padding = 'same' }, bn(),
      nn.GlobalMaxPooling2D{}, bn(), nn.Activation{ 'softmax' } }), 7)
    assert.same({ 'Conv2D', 'AveragePooling2D', 'GlobalMaxPooling2D' }, (function()
      local t = {}
      for i, n in ipairs(r.fused.nodes) do t[i] = n.op end
      return t
    end)())
  end)

  it('croppings: the gradient of what they keep, zero where they crop', function()
    both(model({ 7, 6, 2 }, { nn.Conv2D{ 3, 3, bias_initializer = BIAS }, nn.Cropping2D{ { { 1, 2 }, { 0, 1 } } },
      nn.Activation{ 'tanh' }, nn.Flatten{}, nn.Dense{ 3, bias_initializer = BIAS } }), 5)
    both(model({ 9, 2 }, { nn.Conv1D{ 3, 2, bias_initializer = BIAS }, nn.Cropping1D{ { 2, 1 } }, nn.Flatten{},
      nn.Dense{ 2 } }), 8)
  end)

  it('upsampling: each output gradient back to its taps, times their weights', function()
    both(model({ 5, 4, 2 }, { nn.Conv2D{ 3, 2, bias_initializer = BIAS }, nn.UpSampling2D{ { 2, 3 } }, nn.Flatten{},
      nn.Dense{ 3, bias_initializer = BIAS } }), 4)
    both(model({ 5, 4, 2 }, { nn.Conv2D{ 3, 2, bias_initializer = BIAS }, nn.UpSampling2D{ 2, interpolation = 'bilinear' },
      nn.Activation{ 'tanh' }, nn.Flatten{}, nn.Dense{ 2 } }), 6)
    both(model({ 6, 2 }, { nn.UpSampling1D{ 2 }, nn.Conv1D{ 3, 2 }, nn.Flatten{}, nn.Dense{ 2 } }), 3)
  end)

  it('a convolution trimmed to the rows a pool reads', function()
    local r = both(model({ 9, 8, 2 }, { nn.Conv2D{ 3, 3, activation = 'relu', bias_initializer = BIAS },
      nn.MaxPooling2D{ 2 }, nn.Flatten{}, nn.Dense{ 2, bias_initializer = BIAS } }), 9)
    assert.same({ 6, 6, 3 }, T.node(r.fused, 'conv2d').shape)
  end)

  it('the batch norm standing alone on the input', function()
    both(model({ 5, 3 }, { bn(), nn.Conv1D{ 2, 2, padding = 'causal', bias_initializer = BIAS }, nn.MaxPooling1D{ 2 } }), 8)
  end)
end)

-- dx of a model on the given input values, for an output gradient of ones.
local function derivative(layers, values)
  local g = T.compile(model({ #values }, layers), { stop = 'shape' }).typed
  local x = tensor.new({ #values }, 'double')
  for i, v in ipairs(values) do x.data[i - 1] = v end
  local dy = tensor.new(ir.shape_of(g, g.output), 'double'):fill(1)
  return T.values((backward.run(g, x, dy)))
end

describe('reference backward: kinks', function()
  it('follow PyTorch in the activations', function()
    assert.same({ 0, 0, 1 }, derivative({ nn.Activation{ 'relu' } }, { 0, -0.0, 1 }))
    assert.same({ 0.3, 0.3, 1 }, derivative({ nn.LeakyReLU{} }, { 0, -1, 1 }))
    assert.same({ 0.2, 0.2, 0, 0.2, 0 }, derivative({ nn.Activation{ 'hard_sigmoid' } }, { -2.5, 2.5, 2.6, 0, -3 }))
    assert.same({ 1 }, derivative({ nn.Activation{ 'elu' } }, { 0 }))
    local selu = derivative({ nn.Activation{ 'selu' } }, { 0 })
    assert.is_true(math.abs(selu[1] - 1.0507009873554805 * 1.6732632423543772) < 1e-15)
    assert.same({ 1 }, derivative({ nn.Activation{ 'softsign' } }, { 0 }))
    assert.same({ -0.5, 1.5, 0, 1 }, derivative({ nn.ParamActivation{ ['function'] = 'hard_swish' } }, { -3, 3, -3.5, 4 }))
    assert.same({ 1, 1, 0, 0 }, derivative({ nn.ParamActivation{ ['function'] = 'clip', min = 0, max = 6 } }, { 0, 6, 6.5, -1 }))
    assert.same({ 0.25, 0.25, 1 }, derivative({ nn.PReLU{ alpha = { 0.25, 0.25, 0.25 } } }, { 0, -2, 2 }))
  end)

  it('max pooling sends a window to its first maximum in row-major order; a global max shares ties', function()
    -- one 2x3 window: the maxima 3 are at (0, 1), (0, 2) and (1, 0)
    local mp = derivative({ nn.Reshape{ { 2, 3, 1 } }, nn.MaxPooling2D{ { 2, 3 } }, nn.Flatten{} }, { 1, 3, 3, 3, 2, 3 })
    assert.same({ 0, 1, 0, 0, 0, 0 }, mp)
    -- 'same' padding: a window of padded cells and -1s takes the first -1 (padding never wins)
    local same = derivative({ nn.Reshape{ { 3, 1 } }, nn.MaxPooling1D{ 2, padding = 'same' }, nn.Flatten{} }, { -2, -1, -1 })
    assert.same({ 0, 1, 1 }, same)
    local gm = derivative({ nn.Reshape{ { 4, 1 } }, nn.GlobalMaxPooling1D{}, nn.Dense{ 1, kernel = { { 1 } }, use_bias = false } },
      { 1, 3, 3, 2 })
    assert.same({ 0, 0.5, 0.5, 0 }, gm)
  end)

  it('LP pooling passes nothing to a zero cell or through a window of zeros', function()
    local lp = derivative({ nn.Reshape{ { 4, 1 } }, nn.LPPooling1D{ 2, p = 3 }, nn.Flatten{} }, { 0, 2, 0, 0 })
    assert.same({ 0, 1, 0, 0 }, lp)
    local l1 = derivative({ nn.Reshape{ { 2, 1 } }, nn.LPPooling1D{ 2, p = 1 }, nn.Flatten{} }, { 0, -2 })
    assert.same({ 0, -1 }, l1)
  end)
end)

describe('reference backward: batches and contracts', function()
  it('sums weight gradients over a batch and keeps the batch axis of dx', function()
    local g = T.compile(model({ 4, 3 }, { nn.Conv1D{ 2, 2, activation = 'tanh', bias_initializer = BIAS }, nn.Flatten{},
      nn.Dense{ 2, bias_initializer = BIAS } }), { stop = 'shape' }).typed
    local rand = G.rng(9)
    local x = G.random_tensor({ 3, 4, 3 }, rand, 'float')
    local dy = G.random_tensor({ 3, 2 }, rand)
    local dx, w, order = assert(runner.backward_batch(g, x, dy))
    assert.same({ 3, 4, 3 }, dx.shape)
    local sums = {}
    for i = 0, 2 do
      local xi, dyi = tensor.new({ 4, 3 }, 'float'), tensor.new({ 2 }, 'double')
      for k = 0, 11 do xi.data[k] = x.data[i * 12 + k] end
      for k = 0, 1 do dyi.data[k] = dy.data[i * 2 + k] end
      local d1, w1 = backward.run(g, xi, dyi)
      for k = 0, 11 do assert.same(d1.data[k], dx.data[i * 12 + k]) end
      for key, t in pairs(w1) do
        sums[key] = sums[key] or tensor.new(t.shape, 'double')
        for k = 0, t.n - 1 do sums[key].data[k] = sums[key].data[k] + t.data[k] end
      end
    end
    assert.same(4, #order)
    for key, t in pairs(sums) do assert.is_true(rel_diff(t, w[key]) < 1e-15, key) end
    -- a gradient whose shape does not fit the output and the batch is refused
    local _, err = runner.backward_batch(g, x, G.random_tensor({ 2, 2 }, rand), 'x.npy', 'dy.npy')
    assert.matches('dy.npy.*%(2, 2%).*3 items.*expected %(3, 2%)', util.format_error(err))
  end)

  it('lists the trainable weights: no moving statistics, no absent bias', function()
    local g = T.compile(model({ 6 }, { nn.Dense{ 4, use_bias = false }, bn({ center = false }), nn.Dense{ 2 } }),
      { stop = 'shape' }).typed
    local keys = {}
    for _, w in ipairs(backward.trainable(g)) do keys[#keys + 1] = w.key .. ' ' .. table.concat(w.shape, 'x') end
    assert.same({ 'dense.kernel 6x4', 'batch_normalization.gamma 4', 'dense_1.kernel 4x2', 'dense_1.bias 2' }, keys)
  end)

  it('refuses a layer without a backward, naming it and its kind', function()
    local g = T.compile(model({ 4 }, { nn.Dense{ 3 }, nn.Dense{ 2 }, nn.Dense{ 2 } }), { stop = 'shape' }).typed
    local bare = {}
    for k, v in pairs(g.nodes[2].layer) do if k ~= 'backward' then bare[k] = v end end
    g.nodes[2].layer, g.nodes[3].layer = bare, bare
    local _, msg = T.catch(backward.run, g, tensor.new({ 4 }, 'double'), tensor.new({ 2 }, 'double'))
    assert.matches("layer 'dense_1' %(#2, Dense%): gradients are not implemented for Dense layers %(no backward%); "
      .. "1 more layer without one: 'dense_2' %(Dense%)", msg)
    -- and a real kind without one (ONNX's MatMul)
    local m = T.compile(model({ 4 }, { nn.MatMul{ operand_shape = { 4, 2 } } }), { stop = 'shape' }).typed
    _, msg = T.catch(backward.check, m)
    assert.matches("layer 'mat_mul' %(#1, MatMul%): gradients are not implemented for MatMul", msg)
  end)
end)
