-- Gradients: what a convolution filter responds to, and training a small network, both in
-- the generated C (model:compile{backward = true} / {train = true}).
--
--   luajit examples/experiments/gradients.lua [--layer L] [--channels N] [--steps S]
--                                             [--subset N] [--epochs E] [--out DIR]
--
-- 1. Filter visualisation by gradient ascent (Erhan et al. 2009; Zeiler and Fergus 2014):
--    starting from a grey image with a little noise, follow the gradient of the mean of one
--    channel of a convolution layer's output with respect to the input (net:gradient with
--    {layer =, channel =}), each step normalised to a fixed size, pixels kept in [0, 1].
--    The network is the Keras MNIST model with the weights trained on Fashion-MNIST
--    (examples/fashion_mnist). Writes DIR/filters.png (one tile per channel) and prints
--    each channel's mean before and after.
-- 2. Training (net:fit): a small convolutional network from its seeded initial weights on
--    the first N Fashion-MNIST training images with Adam, then its loss and accuracy on
--    N/2 test images; the trained weights go to DIR/weights (`cnnc build --weights`).
--    Needs the Debian package dataset-fashion-mnist; skipped with a message without it.

local E = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'common.lua')
local cnnc = require 'cnnc'

local USAGE = [[
usage: luajit examples/experiments/gradients.lua [options]
  --layer L      convolution layer whose channels are visualised (default conv2d_1)
  --channels N   its first N channels (default 16)
  --steps S      gradient-ascent steps (default 40)
  --subset N     train on the first N training images, test on N/2 (default 3000; 0: no training)
  --epochs E     training epochs (default 3)
  --seed S       seed of the initial weights, the noise and the shuffling (default 1)
  --target T     native (default), generic, sse4, avx2, avx512
  --out DIR      where filters.png and weights/ go (default build/experiments/gradients)
]]

local o = E.options({ layer = 'conv2d_1', channels = 16, steps = 40, subset = 3000, epochs = 3, seed = 1,
  target = 'native', out = 'build/experiments/gradients' }, USAGE)

-- Gradient ascent on the mean of channel c of layer o.layer; returns the best image and
-- the channel's mean at the start and for that image. Starting from noise (not a flat
-- grey) leaves fewer channels at a ReLU's flat zero, where the gradient is 0 too.
local function visualise(net, c, rng)
  local x = cnnc.Tensor(net.input_shape)
  for i = 0, x.n - 1 do x.data[i] = rng:uniform() end
  local first, best, best_x
  for _ = 1, o.steps do
    local dx, v = net:gradient(x, { layer = o.layer, channel = c })
    first = first or v
    if not best or v > best then best, best_x = v, x:clone() end
    local ss = 0
    for i = 0, dx.n - 1 do ss = ss + dx.data[i] * dx.data[i] end
    local rms = math.sqrt(ss / dx.n)
    if rms == 0 then break end -- a dead channel: nothing to follow
    for i = 0, x.n - 1 do
      x.data[i] = math.min(1, math.max(0, x.data[i] + 0.01 * dx.data[i] / rms))
    end
  end
  local _, last = net:gradient(x, { layer = o.layer, channel = c })
  if last > best then best, best_x = last, x end
  return best_x, first, best
end

E.main('gradients', function()
  E.mkdir(o.out)
  -- 1. filters
  local model = cnnc.load(E.root .. 'examples/keras_mnist.lua', { weights = E.root .. 'examples/fashion_mnist/weights' })
  local net = model:compile { backward = true, target = o.target }
  local rng = cnnc.learn.rng(o.seed, 'gradients')
  local h, w = net.input_shape[1], net.input_shape[2]
  local maps = cnnc.Tensor({ h, w, o.channels })
  print(string.format('filter visualisation: %s of %s, %d steps of gradient ascent', o.layer, net.name, o.steps))
  for c = 0, o.channels - 1 do
    local x, before, after = visualise(net, c, rng)
    for p = 0, h * w - 1 do maps.data[p * o.channels + c] = x.data[p] end
    print(string.format('  channel %2d: mean %9.4f -> %9.4f%s', c, before, after,
      after == 0 and '  (silent on this start: its ReLU gives no gradient)' or ''))
  end
  cnnc.write_png(o.out .. '/filters.png', cnnc.tile(maps, { scale = 3, gap = 2 }))
  print('wrote ' .. o.out .. '/filters.png')
  if o.subset == 0 then return end

  -- 2. training
  local ok, data = pcall(cnnc.datasets.fashion_mnist, { train = o.subset, test = math.max(1, math.floor(o.subset / 2)) })
  if not ok then
    print('training skipped: ' .. (type(data) == 'table' and data.msg or tostring(data)))
    return
  end
  local m = cnnc.Sequential { name = 'small', input_shape = { 28, 28, 1 }, seed = o.seed }
  m:add(cnnc.Conv2D { 8, 3, activation = 'relu' })
  m:add(cnnc.MaxPooling2D { 2 })
  m:add(cnnc.Conv2D { 16, 3, activation = 'relu' })
  m:add(cnnc.MaxPooling2D { 2 })
  m:add(cnnc.Flatten {})
  m:add(cnnc.Dense { 10, activation = 'softmax' })
  local tnet = m:compile { train = true, target = o.target }
  local loss0, acc0 = tnet:evaluate(data.test_x, data.test_y)
  print(string.format('training %s on %d images: test loss %.4f, accuracy %.2f%% before', tnet.name, o.subset,
    loss0, 100 * acc0))
  local history = tnet:fit { x = data.train_x, y = data.train_y, loss = 'categorical_crossentropy',
    optimizer = cnnc.optim.adam { lr = 0.003 }, epochs = o.epochs, batch_size = 32, seed = o.seed, quiet = true }
  for i, e in ipairs(history) do
    print(string.format('  epoch %d: loss %.4f, accuracy %.2f%% (%.2f s)', i, e.loss, 100 * e.accuracy, e.seconds))
  end
  local loss1, acc1 = tnet:evaluate(data.test_x, data.test_y)
  print(string.format('test loss %.4f, accuracy %.2f%% after', loss1, 100 * acc1))
  tnet:save_weights(o.out .. '/weights')
  print('wrote ' .. o.out .. '/weights')
end)
