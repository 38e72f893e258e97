-- The fuse pass (cnnc.passes.fuse): each rule's effect on the graph, the cases where it
-- must not fire, and numerical equivalence of the typed and fused graphs under the
-- reference interpreter.

local T = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'testutil.lua')
local nn = T.nn
local reference = require 'cnnc.reference'
local shape_pass = require 'cnnc.passes.shape'
local fuse_pass = require 'cnnc.passes.fuse'

local TOL = 1e-5

-- Non-trivial batch-norm statistics (the defaults are the identity, which proves nothing).
local function bn(extra)
  local a = {
    gamma_initializer = { 'random_uniform', minval = 0.5, maxval = 1.5 },
    beta_initializer = { 'random_normal', stddev = 0.5 },
    moving_mean_initializer = { 'random_normal', stddev = 0.5 },
    moving_variance_initializer = { 'random_uniform', minval = 0.3, maxval = 2 },
  }
  for k, v in pairs(extra or {}) do a[k] = v end
  return nn.BatchNormalization(a)
end

-- Nonzero biases, so folding and padding bugs cannot hide behind zeros.
local BIAS = { 'random_uniform', minval = -0.5, maxval = 0.5 }

local function model(input_shape, layers)
  return nn.Sequential{ name = 'fuse_case', input_shape = input_shape, layers = layers, seed = 7 }
end

local function stages(m)
  local r = T.compile(m, { stop = 'fuse' })
  return r.typed, r.fused
end

local function ops(g)
  local t = {}
  for i, n in ipairs(g.nodes) do t[i] = n.op end
  return t
end

local function steps(n)
  local t = {}
  for i, st in ipairs(n.epilogue) do t[i] = st.op == 'act' and st.name or ('affine:' .. st.origin) end
  return t
end

-- The reference outputs of both graphs agree within TOL (relative) on two inputs.
local function assert_equivalent(typed, fused)
  for phase = 0, 1 do
    local x = T.input(typed.input.shape, phase)
    local a = reference.run(typed, x)
    local b = reference.run(fused, x)
    assert.same(a.shape, b.shape)
    local d = T.max_rel_diff(a, b)
    assert.is_true(d <= TOL, string.format('typed and fused outputs differ by %g (relative)', d))
  end
end

describe('fuse rules', function()
  it('removes Dropout', function()
    local typed, fused = stages(model({ 6 }, { nn.Dense{ 4, bias_initializer = BIAS }, nn.Dropout{ 0.5 },
      nn.Dense{ 3 }, nn.Dropout{ 0.1 } }))
    assert.same({ 'Dense', 'Dropout', 'Dense', 'Dropout' }, ops(typed))
    assert.same({ 'Dense', 'Dense' }, ops(fused))
    assert.same({ 'dense' }, fused.nodes[2].inputs)
    assert.same('dense_1', fused.output)
    assert_equivalent(typed, fused)
  end)

  it('removes a Dropout that reads the model input', function()
    local typed, fused = stages(model({ 4, 4, 2 }, { nn.Dropout{ 0.5 }, nn.Conv2D{ 2, 3 } }))
    assert.same({ 'Conv2D' }, ops(fused))
    assert.same({ 'input' }, fused.nodes[1].inputs)
    assert_equivalent(typed, fused)
  end)

  it('merges Activation into the producing convolution', function()
    local typed, fused = stages(model({ 6, 6, 2 }, { nn.Conv2D{ 3, 3, bias_initializer = BIAS }, nn.Activation{ 'tanh' } }))
    assert.same({ 'Conv2D', 'Activation' }, ops(typed))
    assert.same({ 'Conv2D' }, ops(fused))
    assert.same({ 'tanh' }, steps(fused.nodes[1]))
    assert.same('conv2d', fused.output)
    assert.is_true(#fused.nodes[1].fused > 0)
    assert_equivalent(typed, fused)
  end)

  it("appends after the producer's own activation", function()
    local typed, fused = stages(model({ 6, 6, 2 }, { nn.Conv2D{ 3, 3, activation = 'relu', bias_initializer = BIAS },
      nn.Activation{ 'sigmoid' } }))
    assert.same({ 'relu', 'sigmoid' }, steps(fused.nodes[1]))
    assert_equivalent(typed, fused)
  end)

  it('merges LeakyReLU (alpha 0.3 by default) into Dense and into pooling', function()
    local typed, fused = stages(model({ 8, 8, 2 }, { nn.MaxPooling2D{}, nn.LeakyReLU{}, nn.Flatten{},
      nn.Dense{ 5, bias_initializer = BIAS }, nn.LeakyReLU{ alpha = 0.05 } }))
    assert.same({ 'MaxPooling2D', 'Flatten', 'Dense' }, ops(fused))
    assert.same({ 'leaky_relu' }, steps(fused.nodes[1]))
    assert.same(0.3, fused.nodes[1].epilogue[1].p.alpha)
    assert.same(0.05, fused.nodes[3].epilogue[1].p.alpha)
    assert_equivalent(typed, fused)
  end)

  it('merges chains of identity layers into one epilogue', function()
    local typed, fused = stages(model({ 5, 5, 3 }, { nn.Conv2D{ 3, 1, bias_initializer = BIAS }, nn.Activation{ 'relu' },
      nn.LeakyReLU{}, nn.Activation{ 'tanh' } }))
    assert.same({ 'Conv2D' }, ops(fused))
    assert.same({ 'relu', 'leaky_relu', 'tanh' }, steps(fused.nodes[1]))
    assert_equivalent(typed, fused)
  end)

  it('does not fuse into the model input, but merges the layers after it', function()
    local typed, fused = stages(model({ 4, 3 }, { nn.Activation{ 'tanh' }, nn.Activation{ 'relu' } }))
    assert.same({ 'Activation' }, ops(fused))
    assert.same({ 'input' }, fused.nodes[1].inputs)
    assert.same({ 'tanh', 'relu' }, steps(fused.nodes[1]))
    assert_equivalent(typed, fused)
  end)

  it('does not append to an epilogue that ends in softmax', function()
    local typed, fused = stages(model({ 6 }, { nn.Dense{ 4, activation = 'softmax' }, nn.Activation{ 'relu' }, bn() }))
    assert.same({ 'Dense', 'Activation' }, ops(fused))
    assert.same({ 'softmax' }, steps(fused.nodes[1]))
    assert.same({ 'relu', 'affine:batch_normalization' }, steps(fused.nodes[2]))
    assert_equivalent(typed, fused)
  end)

  local FOLD_CASES = {
    { 'Conv2D', { 7, 7, 3 }, function() return nn.Conv2D{ 4, 3, padding = 'same', bias_initializer = BIAS } end },
    { 'Conv2D without bias', { 7, 7, 3 }, function() return nn.Conv2D{ 4, 3, use_bias = false } end },
    { 'Conv1D', { 9, 2 }, function() return nn.Conv1D{ 3, 3, strides = 2, bias_initializer = BIAS } end },
    { 'Dense', { 6 }, function() return nn.Dense{ 5, bias_initializer = BIAS } end },
    { 'Dense without bias', { 6 }, function() return nn.Dense{ 5, use_bias = false } end },
    { 'LocallyConnected2D', { 5, 6, 2 }, function() return nn.LocallyConnected2D{ 3, 2, bias_initializer = BIAS } end },
    { 'LocallyConnected1D', { 7, 2 }, function() return nn.LocallyConnected1D{ 3, 3, use_bias = false } end },
  }
  for _, case in ipairs(FOLD_CASES) do
    it('folds BatchNormalization into a preceding ' .. case[1], function()
      local layer = case[3]()
      local typed, fused = stages(model(case[2], { layer, bn(), nn.Flatten{} }))
      assert.same({ layer.kind, 'BatchNormalization', 'Flatten' }, ops(typed))
      assert.same({ layer.kind, 'Flatten' }, ops(fused))
      local before, after = typed.nodes[1], fused.nodes[1]
      assert.same({}, after.epilogue)
      assert.are_not.same(T.values(T.weight(before, 'kernel')), T.values(T.weight(after, 'kernel')))
      assert.is_not_nil(T.weight(after, 'bias'))
      assert.is_true(after.p.use_bias)
      assert.same(fused.nodes[1].name, fused.nodes[2].inputs[1])
      assert_equivalent(typed, fused)
    end)
  end

  it('folds exactly: kernel scaled per output channel, bias shifted', function()
    local typed, fused = stages(model({ 2 }, {
      nn.Dense{ 2, kernel = { { 1, 2 }, { 3, 4 } }, bias = { 0.5, -1 } },
      nn.BatchNormalization{ gamma = { 2, 3 }, beta = { 1, 0 }, moving_mean = { 0.5, 1 }, moving_variance = { 4 - 1e-3, 9 - 1e-3 } },
    }))
    assert.same(1, #fused.nodes)
    local scale = { 2 / 2, 3 / 3 }
    local k = T.values(T.weight(fused.nodes[1], 'kernel'))
    local b = T.values(T.weight(fused.nodes[1], 'bias'))
    local want_k = { 1 * scale[1], 2 * scale[2], 3 * scale[1], 4 * scale[2] }
    local want_b = { (0.5 - 0.5) * scale[1] + 1, (-1 - 1) * scale[2] + 0 }
    for i = 1, 4 do assert.is_true(math.abs(k[i] - want_k[i]) < 1e-6, 'kernel ' .. i) end
    for i = 1, 2 do assert.is_true(math.abs(b[i] - want_b[i]) < 1e-6, 'bias ' .. i) end
    assert_equivalent(typed, fused)
  end)

  it('does not change the typed graph it was given', function()
    local r = T.compile(model({ 5, 5, 2 }, { nn.Conv2D{ 3, 3, bias_initializer = BIAS }, bn(), nn.ZeroPadding2D{},
      nn.Conv2D{ 2, 3 }, nn.Activation{ 'relu' } }), { stop = 'shape' })
    local typed = r.typed
    local saved = {}
    for i, n in ipairs(typed.nodes) do
      saved[i] = { name = n.name, inputs = T.util.copy(n.inputs), nsteps = #n.epilogue, w = {} }
      for _, w in ipairs(n.weights) do saved[i].w[w.name] = T.bytes(w.tensor) end
    end
    local x = T.input(typed.input.shape)
    local before = reference.run(typed, x)
    fuse_pass.run(typed)
    assert.same(#saved, #typed.nodes)
    for i, n in ipairs(typed.nodes) do
      assert.same(saved[i].name, n.name)
      assert.same(saved[i].inputs, n.inputs)
      assert.same(saved[i].nsteps, #n.epilogue)
      assert.is_nil(n.pads)
      for _, w in ipairs(n.weights) do
        assert.is_true(saved[i].w[w.name] == T.bytes(w.tensor), n.name .. '.' .. w.name .. ' changed')
      end
    end
    assert.same(0, T.max_rel_diff(before, reference.run(typed, x)))
  end)

  it('keeps BatchNormalization as an epilogue step after a conv that already has a relu', function()
    local typed, fused = stages(model({ 6, 6, 2 }, { nn.Conv2D{ 3, 3, activation = 'relu', bias_initializer = BIAS }, bn() }))
    assert.same({ 'Conv2D' }, ops(fused))
    assert.same({ 'relu', 'affine:batch_normalization' }, steps(fused.nodes[1]))
    -- The kernel is untouched: a batch norm after a relu cannot be folded.
    assert.same(T.values(T.weight(typed.nodes[1], 'kernel')), T.values(T.weight(fused.nodes[1], 'kernel')))
    assert_equivalent(typed, fused)
  end)

  it('moves BatchNormalization after pooling into the pooling epilogue', function()
    local typed, fused = stages(model({ 6, 6, 2 }, { nn.AveragePooling2D{ 2 }, bn(), nn.Activation{ 'relu' } }))
    assert.same({ 'AveragePooling2D' }, ops(fused))
    assert.same({ 'affine:batch_normalization', 'relu' }, steps(fused.nodes[1]))
    assert_equivalent(typed, fused)
  end)

  it('absorbs ZeroPadding2D into a following Conv2D', function()
    local typed, fused = stages(model({ 5, 6, 2 }, { nn.ZeroPadding2D{ { { 1, 2 }, { 0, 3 } } },
      nn.Conv2D{ 3, 3, bias_initializer = BIAS } }))
    assert.same({ 'ZeroPadding2D', 'Conv2D' }, ops(typed))
    assert.same({ 'Conv2D' }, ops(fused))
    local c = fused.nodes[1]
    assert.same({ { 1, 2 }, { 0, 3 } }, c.pads)
    assert.same({ 1, 2, 0, 3 }, { c.g.pt, c.g.pb, c.g.pl, c.g.pr })
    assert.same({ 'input' }, c.inputs)
    assert.same({ 5, 6, 2 }, c.in_shape)
    assert.same(typed.nodes[2].shape, c.shape)
    assert_equivalent(typed, fused)
  end)

  it("adds ZeroPadding to a convolution's own 'same' padding", function()
    local typed, fused = stages(model({ 5, 5, 1 }, { nn.Conv2D{ 2, 1, bias_initializer = BIAS }, nn.ZeroPadding2D{ 1 },
      nn.Conv2D{ 2, 4, strides = 2, padding = 'same', bias_initializer = BIAS } }))
    assert.same({ 'Conv2D', 'Conv2D' }, ops(fused))
    local c = fused.nodes[2]
    -- 7x7 padded input, kernel 4, stride 2, same: out 4, total pad 3 -> (1, 2); plus 1 each side.
    assert.same({ 2, 3, 2, 3 }, { c.g.pt, c.g.pb, c.g.pl, c.g.pr })
    assert_equivalent(typed, fused)
  end)

  it('absorbs ZeroPadding1D into Conv1D, and two paddings in a row', function()
    local typed, fused = stages(model({ 6, 2 }, { nn.ZeroPadding1D{ { 2, 0 } }, nn.ZeroPadding1D{ 1 },
      nn.Conv1D{ 2, 3, dilation_rate = 2, bias_initializer = BIAS } }))
    assert.same({ 'Conv1D' }, ops(fused))
    assert.same({ 0, 0, 3, 1 }, { fused.nodes[1].g.pt, fused.nodes[1].g.pb, fused.nodes[1].g.pl, fused.nodes[1].g.pr })
    assert_equivalent(typed, fused)
  end)

  for _, pool in ipairs({ 'MaxPooling2D', 'AveragePooling2D', 'LPPooling2D', 'WeightedAveragePooling2D' }) do
    it('does not absorb ZeroPadding into a following ' .. pool, function()
      local typed, fused = stages(model({ 5, 5, 2 }, { nn.ZeroPadding2D{ 1 }, nn[pool]{ 3, strides = 2 } }))
      assert.same({ 'ZeroPadding2D', pool }, ops(fused))
      assert.is_nil(fused.nodes[2].pads)
      assert_equivalent(typed, fused)
    end)
  end

  it('does not absorb ZeroPadding into a LocallyConnected layer', function()
    local typed, fused = stages(model({ 4, 4, 1 }, { nn.ZeroPadding2D{ 1 }, nn.LocallyConnected2D{ 2, 3 } }))
    assert.same({ 'ZeroPadding2D', 'LocallyConnected2D' }, ops(fused))
    assert_equivalent(typed, fused)
  end)

  it('leaves the graph as typed with fuse = false', function()
    local m = model({ 6, 6, 2 }, { nn.ZeroPadding2D{}, nn.Conv2D{ 3, 3 }, bn(), nn.Activation{ 'relu' }, nn.Dropout{ 0.5 },
      nn.Flatten{}, nn.Dense{ 2 } })
    local r = T.compile(m, { stop = 'fuse', fuse = false })
    assert.are.equal(r.typed, r.fused)
    assert.same({ 'ZeroPadding2D', 'Conv2D', 'BatchNormalization', 'Activation', 'Dropout', 'Flatten', 'Dense' }, ops(r.fused))
    for _, n in ipairs(r.fused.nodes) do
      assert.same({}, n.fused)
      assert.is_nil(n.pads)
    end
    -- And the whole pipeline still runs unfused.
    local full = T.compile(m, { stop = 'plan', fuse = false })
    assert.same(7, #full.planned.nodes)
  end)

  it('trims the rows and columns of a conv output that a floor-mode pool never reads', function()
    local typed, fused = stages(model({ 13, 12, 3 }, {
      nn.Conv2D{ 4, 3, bias_initializer = BIAS, activation = 'relu' }, nn.MaxPooling2D{ 2 }, nn.Flatten{}, nn.Dense{ 3 },
    }))
    assert.same({ 11, 10, 4 }, typed.nodes[1].shape)
    assert.same({ 10, 10, 4 }, fused.nodes[1].shape)
    assert.same({ 10, 10, 4 }, fused.nodes[2].in_shape)
    assert.same({ 5, 5, 4 }, fused.nodes[2].shape)
    assert.is_truthy(table.concat(fused.nodes[1].fused, ';'):find('trimmed', 1, true))
    -- the typed graph keeps its geometry (the fused nodes have their own)
    assert.same({ 11, 10 }, { typed.nodes[1].g.oh, typed.nodes[1].g.ow })
    assert.same({ 11, 10 }, { typed.nodes[2].g.ih, typed.nodes[2].g.iw })
    assert_equivalent(typed, fused)
    -- 1-D, an average pool of 3
    typed, fused = stages(model({ 20, 2 }, { nn.Conv1D{ 3, 4, bias_initializer = BIAS }, nn.AveragePooling1D{ 3 } }))
    assert.same({ 17, 3 }, typed.nodes[1].shape)
    assert.same({ 15, 3 }, fused.nodes[1].shape)
    assert_equivalent(typed, fused)
  end)

  it('does not trim for padded or exactly fitting pools, or with keep_all', function()
    local typed, fused = stages(model({ 13, 13, 1 }, { nn.Conv2D{ 2, 3 }, nn.MaxPooling2D{ 2, padding = 'same' } }))
    assert.same(typed.nodes[1].shape, fused.nodes[1].shape)
    typed, fused = stages(model({ 14, 14, 1 }, { nn.Conv2D{ 2, 3 }, nn.MaxPooling2D{ 2 } }))
    assert.same(typed.nodes[1].shape, fused.nodes[1].shape)
    local r = T.compile(model({ 13, 13, 1 }, { nn.Conv2D{ 2, 3 }, nn.MaxPooling2D{ 2 } }), { stop = 'fuse', keep_all = true })
    assert.same({ 11, 11, 2 }, r.fused.nodes[1].shape)
  end)

  it('compiles a large mixed model to the same reference output', function()
    local typed, fused = stages(model({ 12, 12, 3 }, {
      nn.ZeroPadding2D{ 1 }, nn.Conv2D{ 8, 3, bias_initializer = BIAS }, bn(), nn.LeakyReLU{},
      nn.Dropout{ 0.25 }, nn.MaxPooling2D{}, nn.Conv2D{ 8, 3, padding = 'same', activation = 'relu' }, bn(),
      nn.ZeroPadding2D{ { { 0, 1 }, { 1, 0 } } }, nn.AveragePooling2D{ 2, padding = 'same' },
      nn.LocallyConnected2D{ 4, 2 }, bn(), nn.Activation{ 'tanh' }, nn.Flatten{}, nn.Dropout{ 0.5 },
      nn.Dense{ 6 }, bn(), nn.Activation{ 'softmax' },
    }))
    assert.is_true(#fused.nodes < #typed.nodes)
    assert_equivalent(typed, fused)
  end)
end)

describe('fusion with a second consumer', function()
  -- Sequential models are chains; these graphs get a second reader of one value by
  -- editing the frontend's graph, then run the passes directly.
  local function dag(input_shape, layers, extra_layer, read)
    local g = T.compile(model(input_shape, layers), { stop = 'frontend' }).graph
    local n = T.extra_node(extra_layer, 'extra', { read }, #g.nodes + 1)
    table.insert(g.nodes, n)
    local typed = shape_pass.run(g)
    return typed, fuse_pass.run(typed)
  end

  it('does not merge an Activation into a conv whose output is read twice', function()
    local typed, fused = dag({ 6, 6, 2 }, { nn.Conv2D{ 3, 3, bias_initializer = BIAS }, nn.Activation{ 'relu' } },
      nn.Flatten{}, 'conv2d')
    assert.same({ 'Conv2D', 'Activation', 'Flatten' }, ops(fused))
    assert.same({}, fused.nodes[1].epilogue)
    assert.same('activation', fused.output)
    assert_equivalent(typed, fused)
    -- The second reader sees the value before the activation.
    local x = T.input({ 6, 6, 2 })
    local _, va = reference.run(typed, x)
    local _, vb = reference.run(fused, x)
    assert.same(0, T.max_rel_diff(va.extra, vb.extra))
    local negative = false
    for i = 0, vb.extra.n - 1 do negative = negative or vb.extra.data[i] < 0 end
    assert.is_true(negative, 'the unfused conv output should keep negative values')
  end)

  it('does not fold BatchNormalization into a conv whose output is read twice', function()
    local typed, fused = dag({ 6, 6, 2 }, { nn.Conv2D{ 3, 3 }, bn() }, nn.Activation{ 'tanh' }, 'conv2d')
    assert.same({ 'Conv2D', 'BatchNormalization', 'Activation' }, ops(fused))
    assert.same(T.values(T.weight(typed.nodes[1], 'kernel')), T.values(T.weight(fused.nodes[1], 'kernel')))
    local x = T.input({ 6, 6, 2 })
    local _, va = reference.run(typed, x)
    local _, vb = reference.run(fused, x)
    assert.is_true(T.max_rel_diff(va.extra, vb.extra) <= TOL)
    assert_equivalent(typed, fused)
  end)

  it('does not absorb a ZeroPadding whose output is read twice', function()
    local typed, fused = dag({ 5, 5, 1 }, { nn.ZeroPadding2D{ 1 }, nn.Conv2D{ 2, 3 } }, nn.MaxPooling2D{}, 'zero_padding2d')
    assert.same({ 'ZeroPadding2D', 'Conv2D', 'MaxPooling2D' }, ops(fused))
    assert.is_nil(fused.nodes[2].pads)
    assert_equivalent(typed, fused)
  end)

  it('still removes a Dropout with two readers', function()
    local typed, fused = dag({ 4 }, { nn.Dense{ 3 }, nn.Dropout{ 0.5 }, nn.Dense{ 2 } }, nn.Activation{ 'relu' }, 'dropout')
    assert.same({ 'Dense', 'Dense', 'Activation' }, ops(fused))
    assert.same({ 'dense' }, fused.nodes[3].inputs)
    assert_equivalent(typed, fused)
  end)
end)
