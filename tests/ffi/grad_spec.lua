-- Gradients in the generated C, from Lua (model:compile{backward = true} / {train = true}):
-- net:backward against PyTorch autograd on every case of tests/golden/grad (the cases take
-- turns between every target this machine runs: the portable C and each SIMD target, whose
-- forward kernels the backward pass reads); PReLU, arithmetic with a constant, Softmax, LogSoftmax, Permute,
-- Cropping, UpSampling and ELU (its alpha: ONNX's Elu form) layers against the reference
-- interpreter (also without the input gradient);
-- net:gradient's objectives against net:backward; a training build: an SGD step is
-- w - lr g and refresh makes the layers read the new weights (a folded batch norm too),
-- fit lowers the loss on a learnable task, save_weights writes what training made; and the
-- mistakes' messages.

local H = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'helper.lua')
local cnnc = require 'cnnc'

local ROOT = H.root .. 'tests/golden/grad/'

local function list(dir)
  local t = {}
  local p = io.popen("ls '" .. dir .. "' 2>/dev/null")
  for f in p:lines() do t[#t + 1] = f end
  p:close()
  table.sort(t)
  return t
end

-- max |got - want| <= tol * max(1, max |want|), same counts
local function close(got, want, tol, what)
  assert.equal(want.n, got.n, what .. ': sizes differ')
  local m, d = 1, 0
  for i = 0, want.n - 1 do
    m = math.max(m, math.abs(want.data[i]))
    local e = math.abs(got.data[i] - want.data[i])
    if not (e <= d) then d = e end
  end
  assert.is_true(d <= tol * m, string.format('%s: max error %g (largest value %g)', what, d, m))
end

local cache
setup(function() cache = H.tmpdir() end)
teardown(function() H.rmdir(cache) end)

describe('net:backward against PyTorch autograd (tests/golden/grad)', function()
  local cases = {}
  for _, f in ipairs(list(ROOT .. 'models')) do cases[#cases + 1] = f:gsub('%.lua$', '') end
  it('has the cases', function() assert.is_true(#cases >= 40) end)
  local host = require('cnnc.targets').host_list()
  for i, case in ipairs(cases) do
    local target = host[(i - 1) % #host + 1]
    it(case .. ' (' .. target .. ')', function()
      local data = ROOT .. 'data/' .. case
      local net = cnnc.load(ROOT .. 'models/' .. case .. '.lua', { weights = data }):compile {
        backward = true, target = target, cache = cache }
      local x = cnnc.read_npy(data .. '/input.npy')
      local dy = cnnc.read_npy(data .. '/grad_output.npy'):astype('float32')
      local dx, dw = net:backward(x, dy)
      close(dx, cnnc.read_npy(data .. '/expected_grad_input.npy'), 2e-6, 'input gradient')
      local keys, files = {}, {}
      for k in pairs(dw) do keys[#keys + 1] = k end
      for _, f in ipairs(list(data .. '/grads')) do files[#files + 1] = f:gsub('%.npy$', '') end
      table.sort(keys)
      assert.same(files, keys)
      for k, g in pairs(dw) do close(g, cnnc.read_npy(data .. '/grads/' .. k .. '.npy'), 2e-6, k) end
    end)
  end
end)

-- net:backward on a batch (x of shape xs, dy of shape dys) against the interpreter's
-- gradients of typed graph typed, and the weights' gradients once more without the input's
-- (as fit runs them); returns how many weight gradients there are.
local function against_reference(net, typed, xs, dys)
  local runner = require 'cnnc.runner'
  local x, dy = cnnc.Tensor(xs), cnnc.Tensor(dys)
  for i = 0, x.n - 1 do x.data[i] = math.sin(i * 0.37) end
  for i = 0, dy.n - 1 do dy.data[i] = math.cos(i) end
  local dx, dw = net:backward(x, dy)
  local want_dx, want = runner.backward_batch(typed, x, dy)
  close(dx, want_dx, 1e-5, 'input gradient')
  local count = 0
  for k, g in pairs(dw) do close(g, want[k], 1e-5, k); count = count + 1 end
  local grad = require 'cnnc.ffi.grad'
  local _, none, gw = grad.run(net, x, xs[1], { dy = dy, no_dx = true })
  assert.is_nil(none)
  for k, g in pairs(grad.by_key(net, gw)) do close(g, dw[k], 0, k .. ' without dx') end
  return count
end

describe('net:backward of layers the golden cases lack', function()
  local driver = require 'cnnc.driver'
  local u = { 'random_uniform', minval = 0.5, maxval = 1.5 }
  local models = {
    prelu = function(m) m:add(cnnc.Conv2D { 6, 3 }); m:add(cnnc.PReLU { alpha_initializer = u }) end,
    prelu_shared_first = function(m) m:add(cnnc.PReLU { alpha_shape = { 6, 1 }, alpha_initializer = u }) end,
    add = function(m) m:add(cnnc.Conv2D { 6, 3 }); m:add(cnnc.Add { operand_shape = { 6 }, operand_initializer = u }) end,
    subtract_first = function(m)
      m:add(cnnc.Conv2D { 6, 3 })
      m:add(cnnc.Subtract { operand_shape = { 5, 1, 1 }, operand_first = true, operand_initializer = u })
    end,
    multiply_stretching_x = function(m)
      m:add(cnnc.Conv2D { 1, 3 })
      m:add(cnnc.Multiply { operand_shape = { 5, 4, 3 }, operand_initializer = u })
      m:add(cnnc.Activation { 'tanh' })
    end,
    divide = function(m) m:add(cnnc.Conv2D { 6, 3 }); m:add(cnnc.Divide { operand_shape = { 6 }, operand_initializer = u }) end,
    divide_first = function(m)
      m:add(cnnc.Conv2D { 6, 3, activation = 'sigmoid' })
      m:add(cnnc.Divide { operand_shape = { 6 }, operand_first = true, operand_initializer = u })
    end,
    softmax = function(m) m:add(cnnc.Conv2D { 6, 3 }); m:add(cnnc.Softmax {}) end,
    cropping = function(m) m:add(cnnc.Conv2D { 6, 3 }); m:add(cnnc.Cropping2D { { { 1, 0 }, { 0, 2 } } }) end,
    cropping1d = function(m)
      m:add(cnnc.Reshape { { 42, 4 } })
      m:add(cnnc.Conv1D { 5, 3 })
      m:add(cnnc.Cropping1D { { 2, 3 } })
    end,
    upsampling = function(m) m:add(cnnc.Conv2D { 6, 3 }); m:add(cnnc.UpSampling2D { { 2, 3 } }) end,
    upsampling_bilinear = function(m)
      m:add(cnnc.Conv2D { 6, 3 })
      m:add(cnnc.UpSampling2D { 2, interpolation = 'bilinear' })
      m:add(cnnc.Conv2D { 2, 3, strides = 2 })
    end,
    upsampling1d = function(m)
      m:add(cnnc.Reshape { { 42, 4 } })
      m:add(cnnc.UpSampling1D { 3 })
      m:add(cnnc.Conv1D { 5, 3, strides = 4 })
    end,
    elu_alpha = function(m) m:add(cnnc.Conv2D { 6, 3 }); m:add(cnnc.ELU { alpha = 0.5 }) end,
    elu_alpha_after_dense = function(m)
      m:add(cnnc.Flatten {})
      m:add(cnnc.Dense { 10 })
      m:add(cnnc.ELU { alpha = 1.7 })
    end,
    softmax_axis1 = function(m) m:add(cnnc.Conv2D { 6, 3 }); m:add(cnnc.Softmax { axis = 1 }) end,
    log_softmax_axis2 = function(m) m:add(cnnc.Conv2D { 6, 3 }); m:add(cnnc.LogSoftmax { axis = 2 }) end,
    permute = function(m)
      m:add(cnnc.Permute { { 2, 3, 1 } })
      m:add(cnnc.Conv2D { 6, 3, activation = 'tanh' })
      m:add(cnnc.Permute { { 3, 1, 2 } })
    end,
  }
  local names = {}
  for name in pairs(models) do names[#names + 1] = name end
  table.sort(names)
  for i, name in ipairs(names) do
    local add = models[name]
    do
      local target = i % 2 == 1 and 'generic' or 'native'
      it(name .. ' (' .. target .. ')', function()
        local m = cnnc.Sequential { name = name, input_shape = { 7, 6, 4 }, seed = 3 }
        add(m)
        m:add(cnnc.Flatten {})
        m:add(cnnc.Dense { 3 })
        local typed = assert(driver.compile(m, { stop = 'shape' })).typed
        local net = m:compile { backward = true, target = target, cache = cache }
        against_reference(net, typed, { 2, 7, 6, 4 }, { 2, 3 })
      end)
    end
  end
end)

describe('net:backward of a batch larger than its groups', function()
  -- 20 items in 8 groups: the first item of a group writes the weight gradients of the SIMD
  -- convolutions and of Dense (the others' are zeroed first), the group's other items add
  -- to them; a folded batch norm's convolution adds into its own buffer.
  local driver = require 'cnnc.driver'
  for _, target in ipairs({ 'generic', 'native' }) do
    it('sums the items\' weight gradients (' .. target .. ')', function()
      local m = cnnc.Sequential { name = 'groups', input_shape = { 8, 8, 3 }, seed = 5 }
      m:add(cnnc.Conv2D { 16, 3, padding = 'same', activation = 'relu' })
      m:add(cnnc.Conv2D { 16, 3, use_bias = false })
      m:add(cnnc.BatchNormalization { moving_variance_initializer = 'ones' })
      m:add(cnnc.Activation { 'tanh' })
      m:add(cnnc.MaxPooling2D { 2 })
      m:add(cnnc.Flatten {})
      m:add(cnnc.Dense { 5, activation = 'softmax' })
      local typed = assert(driver.compile(m, { stop = 'shape' })).typed
      local net = m:compile { backward = true, target = target, cache = cache }
      assert.equal(7, against_reference(net, typed, { 20, 8, 8, 3 }, { 20, 5 }))
    end)
  end
end)

describe('net:backward of Functional models (values read by several layers, merges)', function()
  local driver = require 'cnnc.driver'
  local B = { 'random_uniform', minval = -0.5, maxval = 0.5 }
  -- a residual block, a U-Net-like skip, every merge, the input read three times, an
  -- identity layer on the input, Flatten and Dropout (views) read twice
  local function model()
    local image = cnnc.Input { shape = { 8, 6, 3 }, name = 'image' }
    local lin = cnnc.Activation { 'linear' }(image)
    local a = cnnc.Conv2D { 4, 3, padding = 'same', activation = 'relu', bias_initializer = B }(lin)
    local b = cnnc.Conv2D { 4, 3, padding = 'same', bias_initializer = B }(a)
    local res = cnnc.ReLU {}(cnnc.Add {} { a, b })
    local down = cnnc.MaxPooling2D { 2 }(res)
    local up = cnnc.UpSampling2D { 2 }(cnnc.Conv2D { 4, 1, activation = 'tanh' }(down))
    local skip = cnnc.Concatenate {} { up, res, image }
    local c = cnnc.Conv2D { 4, 3, padding = 'same', activation = 'sigmoid', bias_initializer = B }(skip)
    local mixed = cnnc.Average {} { cnnc.Maximum {} { c, a }, cnnc.Minimum {} { c, b, a }, cnnc.Subtract {} { c, a } }
    local prod = cnnc.Multiply {} { mixed, cnnc.GlobalAveragePooling2D { keepdims = true }(mixed), c }
    local flat = cnnc.Flatten {}(prod)
    local kept = cnnc.Dropout { 0.3 }(flat)
    local d1 = cnnc.Dense { 5, activation = 'tanh', bias_initializer = B }(kept)
    local d2 = cnnc.Dense { 5, bias_initializer = B }(flat)
    local d3 = cnnc.Dense { 5 }(cnnc.Flatten {}(image))
    return cnnc.Model { inputs = image, outputs = cnnc.Add {} { d1, d2, d3 }, name = 'dag' }
  end
  for _, case in ipairs({ { 'generic' }, { 'native' }, { 'native', 2 }, { 'generic', 1, true } }) do
    local target, threads, nofuse = case[1], case[2] or 1, case[3]
    it(string.format('%s, %d thread%s%s', target, threads, threads > 1 and 's' or '', nofuse and ', unfused' or ''),
      function()
        local m = model()
        local typed = assert(driver.compile(m, { stop = 'shape' })).typed
        local net = m:compile { backward = true, target = target, threads = threads, fuse = not nofuse, cache = cache }
        assert.equal(14, against_reference(net, typed, { 2, 8, 6, 3 }, { 2, 5 }))
      end)
  end
end)

-- A small classifier with a batch norm the fuse pass folds into the convolution.
local function classifier(seed)
  local m = cnnc.Sequential { name = 'bars', input_shape = { 8, 8, 1 }, seed = seed or 1 }
  m:add(cnnc.Conv2D { 4, 3, padding = 'same' })
  m:add(cnnc.BatchNormalization {})
  m:add(cnnc.Activation { 'relu' })
  m:add(cnnc.MaxPooling2D { 2 })
  m:add(cnnc.Flatten {})
  m:add(cnnc.Dense { 2, activation = 'softmax' })
  return m
end

-- Images of a horizontal (class 0) or vertical (class 1) bar at a random place, with noise.
local function bars(n, seed)
  local rng = cnnc.learn.rng(seed, 'bars')
  local x, y = cnnc.Tensor({ n, 8, 8, 1 }), cnnc.Tensor({ n }, 'int32')
  for i = 0, n - 1 do
    local cls, at = i % 2, rng:int(8) - 1
    y.data[i] = cls
    for r = 0, 7 do
      for c = 0, 7 do
        local on = (cls == 0 and r == at) or (cls == 1 and c == at)
        x.data[i * 64 + r * 8 + c] = (on and 1 or 0) + 0.2 * rng:uniform()
      end
    end
  end
  return x, y
end

describe('net:gradient', function()
  it('gives the gradients of an output unit, a loss and a layer\'s channel mean', function()
    local net = classifier():compile { backward = true, cache = cache }
    local x = bars(3, 2)
    -- unit k: dy = one-hot k
    local dy = cnnc.Tensor({ 3, 2 })
    for i = 0, 2 do dy.data[i * 2 + 1] = 1 end
    local want = net:backward(x, dy)
    local dx, v = net:gradient(x, { unit = 1 })
    close(dx, want, 1e-6, 'unit')
    local y = net:predict(x)
    for i = 0, 2 do assert.near(y.data[i * 2 + 1], v.data[i], 1e-6) end
    -- cross-entropy: dy = -t / p on the probabilities
    local _, loss = net:gradient(x:item(1), { loss = 'categorical_crossentropy', y = 1 })
    assert.near(-math.log(y.data[1]), loss, 1e-5)
    -- a channel's mean of the first layers: the gradient ascent of filter visualisation
    -- raises it
    local img = x:item(1):clone()
    local _, first = net:gradient(img, { layer = 'conv2d', channel = 2 })
    local last
    for _ = 1, 10 do
      local g
      g, last = net:gradient(img, { layer = 'conv2d', channel = 2 })
      for i = 0, img.n - 1 do img.data[i] = img.data[i] + g.data[i] end
    end
    assert.is_true(last > first + 0.01, first .. ' -> ' .. last)
  end)

  it('says what is wrong', function()
    local plain = classifier():compile { cache = cache }
    H.fails({ 'net:backward', 'no backward code', 'backward = true' }, function() plain:backward(bars(1, 1), {}) end)
    local net = classifier():compile { backward = true, cache = cache }
    local x = bars(2, 1)
    H.fails({ 'dy has shape (3,)', 'needs (2, 2)' }, function() net:backward(x, cnnc.Tensor({ 3 })) end)
    H.fails("channel 4: layer 'conv2d' has channels 0 .. 3", function()
      net:gradient(x, { layer = 'conv2d', channel = 4 })
    end)
    H.fails('the losses are categorical_crossentropy and mse', function() net:gradient(x, { loss = 'hinge', y = 0 }) end)
    H.fails('net:fit', function() net:fit { x = x, y = { 0, 1 } } end)
  end)
end)

describe('training (train = true)', function()
  it('an SGD step is w - lr g, and refresh makes the layers (the folded batch norm too) read it', function()
    local net = classifier():compile { train = true, cache = cache }
    local x, y = bars(4, 3)
    local keys = { 'conv2d.kernel', 'conv2d.bias', 'batch_normalization.gamma', 'batch_normalization.beta',
      'batch_normalization.moving_mean', 'dense.kernel', 'dense.bias' }
    local function weight(key)
      local layer, wname = key:match('^(.*)%.([^.]+)$')
      return net:weight(layer, wname):clone()
    end
    local before = {}
    for _, k in ipairs(keys) do before[k] = weight(k) end
    -- the gradient of the mean cross-entropy (the loss fit steps on), through the softmax
    local p, dy = net:predict(x), cnnc.Tensor({ 4, 2 })
    for i = 0, 3 do dy.data[i * 2 + y.data[i]] = -1 / (4 * p.data[i * 2 + y.data[i]]) end
    local _, dw = net:backward(x, dy)
    assert.is_nil(dw['batch_normalization.moving_mean'])
    net:fit { x = x, y = y, loss = 'categorical_crossentropy', optimizer = cnnc.optim.sgd { lr = 0.5 }, epochs = 1,
      batch_size = 4, quiet = true, shuffle = false }
    for key, g in pairs(dw) do
      local want = cnnc.Tensor(g.shape)
      for i = 0, g.n - 1 do want.data[i] = before[key].data[i] - 0.5 * g.data[i] end
      close(weight(key), want, 1e-5, key)
    end
    -- the running statistics are no trainable weights
    close(weight('batch_normalization.moving_mean'), before['batch_normalization.moving_mean'], 0, 'moving mean')
    -- the trained net predicts as a net compiled from the saved weights does
    local dir = H.tmpdir()
    net:save_weights(dir)
    local m2 = classifier()
    local files = list(dir)
    assert.equal(8, #files) -- every weight, moving statistics too
    for _, f in ipairs(files) do
      local layer, wname = f:match('^(.*)%.([^.]+)%.npy$')
      m2:set_weight(layer, wname, cnnc.read_npy(dir .. '/' .. f))
    end
    close(m2:compile { cache = cache }:predict(x), net:predict(x), 1e-5, 'predictions after training')
    H.rmdir(dir)
  end)

  it('trains depthwise, separable, grouped and transposed convolutions (their Keras weights), batch and layer norms, not the preprocessing constants', function()
    local function mobile()
      local m = cnnc.Sequential { name = 'mobile', input_shape = { 8, 8, 1 }, seed = 4 }
      m:add(cnnc.Rescaling { 2, offset = -0.5 })
      m:add(cnnc.Normalization { mean = 0.3, variance = 0.8 })
      m:add(cnnc.Conv2D { 4, 3, padding = 'same' })
      m:add(cnnc.DepthwiseConv2D { 3, depth_multiplier = 2, padding = 'same' })
      m:add(cnnc.BatchNormalization {})
      m:add(cnnc.ReLU { max_value = 6 })
      m:add(cnnc.SeparableConv2D { 8, 3, strides = 2, activation = 'relu' })
      m:add(cnnc.Conv2D { 8, 1, groups = 2 })
      m:add(cnnc.Conv2DTranspose { 4, 3, strides = 2, padding = 'same' })
      m:add(cnnc.BatchNormalization {})
      m:add(cnnc.LayerNormalization { axis = { 1, 2 } })
      m:add(cnnc.GlobalAveragePooling2D {})
      m:add(cnnc.Dense { 2, activation = 'softmax' })
      return m
    end
    local net = mobile():compile { train = true, target = 'native', cache = cache }
    local x, y = bars(4, 5)
    local p, dy = net:predict(x), cnnc.Tensor({ 4, 2 })
    for i = 0, 3 do dy.data[i * 2 + y.data[i]] = -1 / (4 * p.data[i * 2 + y.data[i]]) end
    local _, dw = net:backward(x, dy)
    local want_keys = { 'conv2d.kernel', 'conv2d.bias', 'depthwise_conv2d.depthwise_kernel', 'depthwise_conv2d.bias',
      'batch_normalization.gamma', 'batch_normalization.beta', 'separable_conv2d.depthwise_kernel',
      'separable_conv2d.pointwise_kernel', 'separable_conv2d.bias', 'conv2d_1.kernel', 'conv2d_1.bias',
      'conv2d_transpose.kernel', 'conv2d_transpose.bias', 'batch_normalization_1.gamma', 'batch_normalization_1.beta',
      'layer_normalization.gamma', 'layer_normalization.beta', 'dense.kernel', 'dense.bias' }
    local count = 0
    for _ in pairs(dw) do count = count + 1 end
    assert.equal(#want_keys, count) -- Rescaling's and Normalization's constants are no weights
    local before = {}
    for _, k in ipairs(want_keys) do
      assert.is_not_nil(dw[k], k)
      local layer, wname = k:match('^(.*)%.([^.]+)$')
      before[k] = net:weight(layer, wname):clone()
      assert.same(before[k].shape, dw[k].shape)
    end
    net:fit { x = x, y = y, loss = 'categorical_crossentropy', optimizer = cnnc.optim.sgd { lr = 0.5 }, epochs = 1,
      batch_size = 4, quiet = true, shuffle = false }
    for _, key in ipairs(want_keys) do
      local g, want = dw[key], cnnc.Tensor(dw[key].shape)
      for i = 0, g.n - 1 do want.data[i] = before[key].data[i] - 0.5 * g.data[i] end
      local layer, wname = key:match('^(.*)%.([^.]+)$')
      close(net:weight(layer, wname), want, 1e-5, key)
    end
    local dir = H.tmpdir()
    net:save_weights(dir)
    local m2 = mobile()
    for _, f in ipairs(list(dir)) do
      local layer, wname = f:match('^(.*)%.([^.]+)%.npy$')
      m2:set_weight(layer, wname, cnnc.read_npy(dir .. '/' .. f))
    end
    close(m2:compile { cache = cache }:predict(x), net:predict(x), 1e-5, 'predictions after training')
    H.rmdir(dir)
  end)

  it('trains the constant operands of PReLU and arithmetic layers (SIMD target)', function()
    local function build(init)
      local m = cnnc.Sequential { name = 'operands', input_shape = { 6, 6, 2 }, seed = 1 }
      m:add(cnnc.Conv2D { 16, 3 })
      m:add(cnnc.PReLU { alpha_shape = { 1, 1, 16 }, alpha_initializer = init and { 'constant', value = 0.25 } or nil })
      m:add(cnnc.Multiply { operand_shape = { 16 }, operand_initializer = init and 'ones' or nil })
      m:add(cnnc.Flatten {})
      m:add(cnnc.Dense { 2, activation = 'softmax' })
      return m
    end
    local net = build(true):compile { train = true, target = 'native', cache = cache }
    local x, y = cnnc.Tensor({ 4, 6, 6, 2 }), cnnc.Tensor({ 4 }, 'int32')
    for i = 0, x.n - 1 do x.data[i] = math.sin(i) end
    for i = 0, 3 do y.data[i] = i % 2 end
    local p, dy = net:predict(x), cnnc.Tensor({ 4, 2 })
    for i = 0, 3 do dy.data[i * 2 + y.data[i]] = -1 / (4 * p.data[i * 2 + y.data[i]]) end
    local _, dw = net:backward(x, dy)
    local before = { alpha = net:weight('p_re_lu', 'alpha'):clone(), operand = net:weight('multiply', 'operand'):clone() }
    net:fit { x = x, y = y, optimizer = cnnc.optim.sgd { lr = 0.5 }, epochs = 1, batch_size = 4, quiet = true,
      shuffle = false }
    for layer, w in pairs({ p_re_lu = 'alpha', multiply = 'operand' }) do
      local g, want = dw[layer .. '.' .. w], cnnc.Tensor({ 16 })
      for i = 0, 15 do want.data[i] = before[w].data[i] - 0.5 * g.data[i] end
      close(net:weight(layer, w), want, 1e-6, layer .. '.' .. w)
    end
    local dir = H.tmpdir()
    net:save_weights(dir)
    local m2 = build(false)
    for _, f in ipairs(list(dir)) do
      local layer, wname = f:match('^(.*)%.([^.]+)%.npy$')
      m2:set_weight(layer, wname, cnnc.read_npy(dir .. '/' .. f))
    end
    close(m2:compile { target = 'native', cache = cache }:predict(x), net:predict(x), 0, 'predictions after training')
    H.rmdir(dir)
  end)

  it('fit lowers the loss and learns the task; evaluate agrees with the history', function()
    local net = classifier(2):compile { train = true, threads = 2, cache = cache }
    local x, y = bars(200, 4)
    local tx, ty = bars(100, 5)
    local loss0 = net:evaluate(tx, ty)
    local h = net:fit { x = x, y = y, loss = 'categorical_crossentropy', optimizer = cnnc.optim.adam { lr = 0.01 },
      epochs = 4, batch_size = 16, validation = { tx, ty }, quiet = true }
    assert.equal(4, #h)
    assert.is_true(h[4].loss < h[1].loss, h[1].loss .. ' -> ' .. h[4].loss)
    local loss, acc = net:evaluate(tx, ty)
    assert.is_true(loss < loss0 / 2, loss0 .. ' -> ' .. loss)
    assert.is_true(acc > 0.9, 'accuracy ' .. acc)
    assert.near(h[4].val_loss, loss, 1e-6)
  end)
end)
