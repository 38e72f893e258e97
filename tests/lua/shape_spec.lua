-- The shape pass (cnnc.passes.shape and every layer's shape rule): output shapes and
-- 'same' pad placement against formulas written here from Keras's rules, shape errors,
-- weight binding errors, and Keras's parameter counts.

local T = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'testutil.lua')
local nn = T.nn

-- Keras's output length of one axis (nil when the window does not fit).
local function keras_len(n, k, s, d, padding)
  if padding == 'valid' then
    local span = (k - 1) * d + 1
    if n < span then return nil end
    return math.floor((n - (k - 1) * d - 1) / s) + 1
  end
  -- 'same' and 'causal' both give ceil(n / s)
  return math.ceil(n / s)
end

-- Pads (before, after) of one axis: 'same' puts the smaller half first, 'causal' all first.
local function keras_pads(n, k, s, d, padding)
  if padding == 'valid' then return 0, 0 end
  if padding == 'causal' then return (k - 1) * d, 0 end
  local out = math.ceil(n / s)
  local total = math.max((out - 1) * s + (k - 1) * d + 1 - n, 0)
  local before = math.floor(total / 2)
  return before, total - before
end

local function typed(input_shape, layers, opts)
  opts = opts or {}
  opts.stop = opts.stop or 'shape'
  return T.compile(nn.Sequential{ input_shape = input_shape, layers = layers }, opts).typed
end

local function shape_error(input_shape, layers)
  local _, text = T.compile_error(nn.Sequential{ input_shape = input_shape, layers = layers }, { stop = 'shape' })
  return text
end

local function case_name(...)
  local t = {}
  for i = 1, select('#', ...) do t[i] = tostring(select(i, ...)) end
  return table.concat(t, ' ')
end

describe('Conv1D shape rule', function()
  for _, n in ipairs({ 1, 2, 3, 4, 7, 8 }) do
    for k = 1, 5 do
      for s = 1, 3 do
        for d = 1, 3 do
          for _, padding in ipairs({ 'valid', 'same', 'causal' }) do
            it(case_name('n', n, 'k', k, 's', s, 'd', d, padding), function()
              local layers = { nn.Conv1D{ 3, k, strides = s, dilation_rate = d, padding = padding } }
              local out = keras_len(n, k, s, d, padding)
              if s > 1 and d > 1 then
                assert.matches('Keras does not allow both', shape_error({ n, 2 }, layers), 1, true)
              elseif not out then
                local text = shape_error({ n, 2 }, layers)
                assert.matches('larger than the padded input ' .. n, text, 1, true)
                assert.matches('input shape (' .. n .. ', 2)', text, 1, true)
              else
                local node = typed({ n, 2 }, layers).nodes[1]
                assert.same({ out, 3 }, node.shape)
                local before, after = keras_pads(n, k, s, d, padding)
                assert.same({ 0, 0, before, after }, { node.g.pt, node.g.pb, node.g.pl, node.g.pr })
                assert.same({ k, 2, 3 }, T.weight(node, 'kernel').shape)
              end
            end)
          end
        end
      end
    end
  end
end)

describe('Conv2D shape rule', function()
  -- Height and width differ in parity and kernel size, so both axes are checked apart.
  for _, hw in ipairs({ { 7, 8 }, { 8, 7 }, { 3, 2 } }) do
    for k = 1, 5 do
      local kw = 6 - k
      for s = 1, 3 do
        for d = 1, 3 do
          for _, padding in ipairs({ 'valid', 'same' }) do
            it(case_name('in', hw[1] .. 'x' .. hw[2], 'k', k .. 'x' .. kw, 's', s, 'd', d, padding), function()
              local layers = { nn.Conv2D{ 2, { k, kw }, strides = s, dilation_rate = d, padding = padding } }
              local oh = keras_len(hw[1], k, s, d, padding)
              local ow = keras_len(hw[2], kw, s, d, padding)
              if s > 1 and d > 1 then
                assert.matches('Keras does not allow both', shape_error({ hw[1], hw[2], 3 }, layers), 1, true)
              elseif not (oh and ow) then
                local text = shape_error({ hw[1], hw[2], 3 }, layers)
                assert.matches(string.format('window %dx%d', (k - 1) * d + 1, (kw - 1) * d + 1), text, 1, true)
                assert.matches(string.format('larger than the padded input %dx%d', hw[1], hw[2]), text, 1, true)
                assert.matches(string.format('(input shape (%d, %d, 3))', hw[1], hw[2]), text, 1, true)
              else
                local node = typed({ hw[1], hw[2], 3 }, layers).nodes[1]
                assert.same({ oh, ow, 2 }, node.shape)
                local pt, pb = keras_pads(hw[1], k, s, d, padding)
                local pl, pr = keras_pads(hw[2], kw, s, d, padding)
                assert.same({ pt, pb, pl, pr }, { node.g.pt, node.g.pb, node.g.pl, node.g.pr })
                assert.same({ k, kw, 3, 2 }, T.weight(node, 'kernel').shape)
                assert.same({ 2 }, T.weight(node, 'bias').shape)
              end
            end)
          end
        end
      end
    end
  end

  it("puts the odd 'same' pad after (bottom/right)", function()
    -- 6 wide, kernel 4, stride 1: 3 pads, 1 before, 2 after; 5 high, kernel 2, stride 2: out 3, 1 pad after.
    local g = typed({ 5, 6, 1 }, { nn.Conv2D{ 1, { 2, 4 }, strides = { 2, 1 }, padding = 'same' } }).nodes[1].g
    assert.same({ 0, 1, 1, 2 }, { g.pt, g.pb, g.pl, g.pr })
    -- An even total splits evenly.
    g = typed({ 5, 5, 1 }, { nn.Conv2D{ 1, 5, padding = 'same' } }).nodes[1].g
    assert.same({ 2, 2, 2, 2 }, { g.pt, g.pb, g.pl, g.pr })
    -- Stride 2 on an even size with kernel 1 needs no padding at all.
    g = typed({ 8, 8, 1 }, { nn.Conv2D{ 1, 1, strides = 2, padding = 'same' } }).nodes[1].g
    assert.same({ 0, 0, 0, 0 }, { g.pt, g.pb, g.pl, g.pr })
  end)

  it('allows different strides and dilations per axis', function()
    local node = typed({ 9, 10, 1 }, { nn.Conv2D{ 1, 3, strides = { 1, 2 }, dilation_rate = { 2, 1 } } }).nodes[1]
    assert.same({ keras_len(9, 3, 1, 2, 'valid'), keras_len(10, 3, 2, 1, 'valid'), 1 }, node.shape)
  end)
end)

describe('pooling shape rules', function()
  local KINDS = {
    { 'MaxPooling1D', 1 }, { 'AveragePooling1D', 1 }, { 'LPPooling1D', 1 },
    { 'MaxPooling2D', 2 }, { 'AveragePooling2D', 2 }, { 'LPPooling2D', 2 }, { 'WeightedAveragePooling2D', 2 },
  }
  for _, kind in ipairs(KINDS) do
    local name, rank = kind[1], kind[2]
    for _, n in ipairs({ 2, 7, 8 }) do
      for k = 1, 5 do
        for s = 1, 3 do
          for _, padding in ipairs({ 'valid', 'same' }) do
            it(case_name(name, 'n', n, 'pool', k, 's', s, padding), function()
              local layers = { nn[name]{ k, strides = s, padding = padding } }
              local m = n + 1 -- the second axis: the other parity
              local in_shape = rank == 1 and { n, 3 } or { n, m, 3 }
              local o1 = keras_len(n, k, s, 1, padding)
              local o2 = rank == 2 and keras_len(m, k, s, 1, padding) or 1
              if not (o1 and o2) then
                assert.matches('larger than the padded input', shape_error(in_shape, layers), 1, true)
              else
                local node = typed(in_shape, layers).nodes[1]
                assert.same(rank == 1 and { o1, 3 } or { o1, o2, 3 }, node.shape)
                local b1, a1 = keras_pads(n, k, s, 1, padding)
                if rank == 1 then
                  assert.same({ 0, 0, b1, a1 }, { node.g.pt, node.g.pb, node.g.pl, node.g.pr })
                else
                  local b2, a2 = keras_pads(m, k, s, 1, padding)
                  assert.same({ b1, a1, b2, a2 }, { node.g.pt, node.g.pb, node.g.pl, node.g.pr })
                end
                assert.same({}, node.weights)
              end
            end)
          end
        end
      end
    end
  end

  it('uses the pool size as default strides', function()
    assert.same({ 3, 2, 4 }, typed({ 7, 5, 4 }, { nn.MaxPooling2D{ 2 } }).nodes[1].shape)
    assert.same({ 2, 4 }, typed({ 7, 4 }, { nn.MaxPooling1D{ 3 } }).nodes[1].shape)
    assert.same({ 4, 3, 4 }, typed({ 7, 5, 4 }, { nn.AveragePooling2D{ 2, padding = 'same' } }).nodes[1].shape)
  end)

  it('rejects p <= 0 and sigma <= 0', function()
    assert.matches('p must be > 0', shape_error({ 4, 1 }, { nn.LPPooling1D{ 2, p = 0 } }), 1, true)
    assert.matches('sigma must be > 0', shape_error({ 4, 4, 1 }, { nn.WeightedAveragePooling2D{ 2, sigma = -1 } }), 1, true)
  end)
end)

describe('LocallyConnected shape rules', function()
  for _, n in ipairs({ 4, 7, 8 }) do
    for k = 1, 5 do
      for s = 1, 3 do
        it(case_name('LocallyConnected1D n', n, 'k', k, 's', s), function()
          local o = keras_len(n, k, s, 1, 'valid')
          local layers = { nn.LocallyConnected1D{ 3, k, strides = s } }
          if not o then
            assert.matches('larger than the padded input', shape_error({ n, 2 }, layers), 1, true)
            return
          end
          local node = typed({ n, 2 }, layers).nodes[1]
          assert.same({ o, 3 }, node.shape)
          assert.same({ o, k * 2, 3 }, T.weight(node, 'kernel').shape)
          assert.same({ o, 3 }, T.weight(node, 'bias').shape)
        end)
        it(case_name('LocallyConnected2D n', n, 'k', k, 's', s), function()
          local kw = 6 - k
          local oh, ow = keras_len(n, k, s, 1, 'valid'), keras_len(n + 1, kw, s, 1, 'valid')
          local layers = { nn.LocallyConnected2D{ 3, { k, kw }, strides = s } }
          if not (oh and ow) then
            assert.matches('larger than the padded input', shape_error({ n, n + 1, 2 }, layers), 1, true)
            return
          end
          local node = typed({ n, n + 1, 2 }, layers).nodes[1]
          assert.same({ oh, ow, 3 }, node.shape)
          assert.same({ oh * ow, k * kw * 2, 3 }, T.weight(node, 'kernel').shape)
          assert.same({ oh, ow, 3 }, T.weight(node, 'bias').shape)
        end)
      end
    end
  end
end)

describe('other shape rules', function()
  it('ZeroPadding1D adds its pads to the steps', function()
    assert.same({ 9, 2 }, typed({ 7, 2 }, { nn.ZeroPadding1D{} }).nodes[1].shape)
    assert.same({ 12, 2 }, typed({ 7, 2 }, { nn.ZeroPadding1D{ { 0, 5 } } }).nodes[1].shape)
    assert.same({ 13, 2 }, typed({ 7, 2 }, { nn.ZeroPadding1D{ 3 } }).nodes[1].shape)
  end)

  it('ZeroPadding2D adds its pads to height and width', function()
    assert.same({ 9, 10, 3 }, typed({ 7, 8, 3 }, { nn.ZeroPadding2D{} }).nodes[1].shape)
    assert.same({ 9, 14, 3 }, typed({ 7, 8, 3 }, { nn.ZeroPadding2D{ { 1, 3 } } }).nodes[1].shape)
    assert.same({ 10, 15, 3 }, typed({ 7, 8, 3 }, { nn.ZeroPadding2D{ { { 1, 2 }, { 3, 4 } } } }).nodes[1].shape)
    assert.same({ 7, 8, 3 }, typed({ 7, 8, 3 }, { nn.ZeroPadding2D{ 0 } }).nodes[1].shape)
  end)

  it('global pooling gives (C,), or keeps the axes with keepdims', function()
    assert.same({ 5 }, typed({ 7, 8, 5 }, { nn.GlobalAveragePooling2D{} }).nodes[1].shape)
    assert.same({ 5 }, typed({ 7, 8, 5 }, { nn.GlobalMaxPooling2D{} }).nodes[1].shape)
    assert.same({ 5 }, typed({ 7, 5 }, { nn.GlobalAveragePooling1D{} }).nodes[1].shape)
    assert.same({ 5 }, typed({ 7, 5 }, { nn.GlobalMaxPooling1D{} }).nodes[1].shape)
    assert.same({ 1, 1, 5 }, typed({ 7, 8, 5 }, { nn.GlobalMaxPooling2D{ keepdims = true } }).nodes[1].shape)
    assert.same({ 1, 5 }, typed({ 7, 5 }, { nn.GlobalAveragePooling1D{ keepdims = true } }).nodes[1].shape)
  end)

  it('Flatten multiplies out every axis', function()
    assert.same({ 168 }, typed({ 7, 8, 3 }, { nn.Flatten{} }).nodes[1].shape)
    assert.same({ 14 }, typed({ 7, 2 }, { nn.Flatten{} }).nodes[1].shape)
    assert.same({ 6 }, typed({ 6 }, { nn.Flatten{} }).nodes[1].shape)
  end)

  it('Dense gives (units,)', function()
    local node = typed({ 12 }, { nn.Dense{ 5 } }).nodes[1]
    assert.same({ 5 }, node.shape)
    assert.same({ 12, 5 }, T.weight(node, 'kernel').shape)
  end)

  it('identity layers keep the shape', function()
    local g = typed({ 4, 5, 3 }, { nn.Activation{ 'tanh' }, nn.LeakyReLU{}, nn.BatchNormalization{}, nn.Dropout{ 0.2 } })
    for _, n in ipairs(g.nodes) do assert.same({ 4, 5, 3 }, n.shape) end
  end)

  it('chains shapes through a network', function()
    local g = typed({ 28, 28, 1 }, {
      nn.ZeroPadding2D{ 2 }, nn.Conv2D{ 6, 5, activation = 'tanh' }, nn.AveragePooling2D{},
      nn.Conv2D{ 16, 5, activation = 'tanh' }, nn.AveragePooling2D{}, nn.Flatten{}, nn.Dense{ 120 }, nn.Dense{ 10 },
    })
    local shapes = {}
    for i, n in ipairs(g.nodes) do shapes[i] = T.util.shape_str(n.shape) end
    assert.same({ '(32, 32, 1)', '(28, 28, 6)', '(14, 14, 6)', '(10, 10, 16)', '(5, 5, 16)', '(400,)', '(120,)', '(10,)' },
      shapes)
  end)
end)

describe('shape errors', function()
  it('names the shapes when the kernel is larger than the padded input', function()
    local text = shape_error({ 3, 4, 1 }, { nn.Conv2D{ 1, 5 } })
    assert.matches('window 5x5 (kernel 5x5, dilation 1x1) is larger than the padded input 3x4 (input shape (3, 4, 1))',
      text, 1, true)
    text = shape_error({ 6, 2 }, { nn.Conv1D{ 1, 3, dilation_rate = 3 } })
    assert.matches('window 7 (kernel 3, dilation 3) is larger than the padded input 6 (input shape (6, 2))', text, 1, true)
    text = shape_error({ 2, 2, 1 }, { nn.MaxPooling2D{ 3 } })
    assert.matches('larger than the padded input 2x2', text, 1, true)
  end)

  it('suggests Flatten for a Dense after an unflattened tensor', function()
    local text = shape_error({ 4, 4, 2 }, { nn.Conv2D{ 2, 3 }, nn.Dense{ 10 } })
    assert.matches("layer 'dense' (#2, Dense)", text, 1, true)
    assert.matches('(2, 2, 2)', text, 1, true)
    assert.matches('nn.Flatten{}', text, 1, true)
  end)

  it('rejects inputs of the wrong rank, naming the shape', function()
    local text = shape_error({ 8, 8 }, { nn.Conv2D{ 2, 3 } })
    assert.matches('Conv2D needs a rank-3 input', text, 1, true)
    assert.matches('(8, 8)', text, 1, true)
    text = shape_error({ 8, 8, 1 }, { nn.Conv1D{ 2, 3 } })
    assert.matches('Conv1D needs a rank-2 input', text, 1, true)
    text = shape_error({ 8 }, { nn.MaxPooling1D{} })
    assert.matches('MaxPooling1D needs a rank-2 input', text, 1, true)
    text = shape_error({ 8, 8 }, { nn.GlobalAveragePooling2D{} })
    assert.matches('GlobalAveragePooling2D needs a rank-3 input', text, 1, true)
    text = shape_error({ 8, 8 }, { nn.ZeroPadding2D{} })
    assert.matches('ZeroPadding2D needs a rank-3 input', text, 1, true)
    text = shape_error({ 8 }, { nn.LocallyConnected1D{ 2, 2 } })
    assert.matches('LocallyConnected1D needs a rank-2 input', text, 1, true)
  end)

  it('limits each tensor to 2^28 values and the model to 2^30 weights, each on its own', function()
    local shape = require 'cnnc.passes.shape'
    assert.equals(2 ^ 28, shape.MAX_ELEMENTS)
    assert.equals(2 ^ 30, shape.MAX_WEIGHTS)
    -- (scaled down: the limits are module fields the pass reads when it runs)
    local elements, weights = shape.MAX_ELEMENTS, shape.MAX_WEIGHTS
    shape.MAX_ELEMENTS, shape.MAX_WEIGHTS = 100, 150
    local ok, text = pcall(shape_error, { 9 }, { nn.Dense{ 9 }, nn.Dense{ 9 } })
    local ok2, text2 = pcall(shape_error, { 9 }, { nn.Dense{ 12 } })
    local ok3, r = pcall(typed, { 9 }, { nn.Dense{ 9 }, nn.Dense{ 5 } })
    shape.MAX_ELEMENTS, shape.MAX_WEIGHTS = elements, weights
    assert.is_true(ok, text)
    assert.matches("layer 'dense_1' (#2, Dense): the model holds 171 weight values up to this layer, more than cnnc supports",
      text, 1, true)
    assert.is_true(ok2, text2)
    assert.matches('kernel of shape (9, 12) has 108 values, more than cnnc supports', text2, 1, true)
    assert.is_true(ok3, tostring(r))
  end)

  it('rejects strides and dilation both above 1', function()
    local text = shape_error({ 9, 9, 1 }, { nn.Conv2D{ 1, 3, strides = 2, dilation_rate = 2 } })
    assert.matches('strides 2x2 and dilation_rate 2x2', text, 1, true)
  end)

  it('rejects Dropout rates outside [0, 1) and BatchNormalization on another axis', function()
    assert.matches('Dropout rate must be in [0, 1)', shape_error({ 3 }, { nn.Dropout{ 1 } }), 1, true)
    assert.matches('Dropout rate must be in [0, 1)', shape_error({ 3 }, { nn.Dropout{ -0.1 } }), 1, true)
    assert.matches('axis=1 is not supported', shape_error({ 3, 3, 2 }, { nn.BatchNormalization{ axis = 1 } }), 1, true)
    assert.matches('epsilon must be > 0', shape_error({ 3 }, { nn.BatchNormalization{ epsilon = 0 } }), 1, true)
  end)

  it('rejects weight literals of the wrong shape, naming both shapes', function()
    local text = shape_error({ 5, 5, 1 }, { nn.Conv2D{ 2, 2, kernel = { { 1, 2 }, { 3, 4 } } } })
    assert.matches("layer 'conv2d' (#1, Conv2D)", text, 1, true)
    assert.matches('explicit kernel: kernel has shape (2, 2), expected (2, 2, 1, 2)', text, 1, true)
    text = shape_error({ 4 }, { nn.Dense{ 2, bias = { 1, 2, 3 } } })
    assert.matches('bias has shape (3,), expected (2,)', text, 1, true)
    text = shape_error({ 4 }, { nn.BatchNormalization{ gamma = { 1, 2 } } })
    assert.matches('gamma has shape (2,), expected (4,)', text, 1, true)
  end)

  it('rejects ragged and non-numeric weight literals', function()
    local text = shape_error({ 2 }, { nn.Dense{ 2, kernel = { { 1, 2 }, { 3 } } } })
    assert.matches('ragged', text, 1, true)
    text = shape_error({ 2 }, { nn.Dense{ 1, kernel = { { 1 }, { 'x' } } } })
    assert.matches('expected a number', text, 1, true)
  end)

  it('accepts a flat weight literal of the right length in Keras order', function()
    local node = typed({ 3 }, { nn.Dense{ 2, kernel = { 1, 2, 3, 4, 5, 6 } } }).nodes[1]
    assert.same({ 3, 2 }, T.weight(node, 'kernel').shape)
    assert.same({ 1, 2, 3, 4, 5, 6 }, T.values(T.weight(node, 'kernel')))
    node = typed({ 3 }, { nn.Dense{ 2, kernel = { { 1, 2 }, { 3, 4 }, { 5, 6 } } } }).nodes[1]
    assert.same({ 1, 2, 3, 4, 5, 6 }, T.values(T.weight(node, 'kernel')))
  end)

  it('rejects NaN and infinity in a kernel literal, naming the position', function()
    local nan = 0 / 0
    local text = shape_error({ 3, 3, 1 }, { nn.Conv2D{ 1, 2, kernel = { { { { 1 } }, { { 2 } } }, { { { nan } }, { { 4 } } } } } })
    assert.matches('explicit kernel: kernel holds a non-finite number', text, 1, true)
    assert.matches('flat index 2', text, 1, true)
    text = shape_error({ 2 }, { nn.Dense{ 1, kernel = { 1, -math.huge } } })
    assert.matches('non-finite', text, 1, true)
  end)

  it('rejects a negative moving variance', function()
    local text = shape_error({ 2 }, { nn.BatchNormalization{ moving_variance = { 1, -1 } } })
    assert.matches('moving_variance[1] is negative', text, 1, true)
  end)

  it('reports an explicit bias that the layer does not use', function()
    local text = shape_error({ 4, 4, 1 }, { nn.Conv2D{ 1, 2, use_bias = false, bias = { 5 } } })
    assert.matches('bias', text, 1, true)
  end)
end)

describe('weight counts equal Keras parameter counts', function()
  local function params(node)
    local n = 0
    for _, w in ipairs(node.weights) do n = n + w.tensor.n end
    return n
  end

  it('for the Keras MNIST convnet', function()
    local g = typed({ 28, 28, 1 }, {
      nn.Conv2D{ 32, 3, activation = 'relu' }, nn.MaxPooling2D{ 2 },
      nn.Conv2D{ 64, 3, activation = 'relu' }, nn.MaxPooling2D{ 2 },
      nn.Conv2D{ 64, 3, activation = 'relu' }, nn.Conv2D{ 64, 3, activation = 'relu' },
      nn.Flatten{}, nn.Dense{ 10, activation = 'softmax' },
    })
    local counts = {}
    for _, n in ipairs(g.nodes) do
      if #n.weights > 0 then counts[#counts + 1] = params(n) end
    end
    assert.same({ 320, 18496, 36928, 36928, 650 }, counts)
    assert.same({ 1, 1, 64 }, g.nodes[6].shape)
  end)

  it('for every layer with weights', function()
    local g = typed({ 10, 10, 3 }, {
      nn.Conv2D{ 4, { 3, 2 }, use_bias = false },               -- 3*2*3*4 = 72
      nn.LocallyConnected2D{ 2, 3 },                            -- out 6x7: 42*(3*3*4)*2 + 42*2 = 3108
      nn.BatchNormalization{},                                  -- 4 * 2 = 8
      nn.BatchNormalization{ center = false, scale = false },   -- 2 * 2 = 4
      nn.Flatten{},
      nn.Dense{ 7 },                                            -- 84*7 + 7 = 595
      nn.Dense{ 3, use_bias = false },                          -- 21
    })
    local counts = {}
    for i, n in ipairs(g.nodes) do counts[i] = params(n) end
    assert.same({ 72, 3108, 8, 4, 0, 595, 21 }, counts)
    local g1 = typed({ 12, 3 }, { nn.Conv1D{ 5, 4 }, nn.LocallyConnected1D{ 2, 3, strides = 2, use_bias = false } })
    -- Conv1D: 4*3*5 + 5 = 65; LC1D: 9 steps -> 4 outputs: 4*(3*5)*2 = 120
    assert.same({ 65, 120 }, { params(g1.nodes[1]), params(g1.nodes[2]) })
  end)
end)
