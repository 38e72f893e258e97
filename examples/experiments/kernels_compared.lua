-- Three ways to choose first-layer kernels, one network, one trained last layer each.
--
--   luajit examples/experiments/kernels_compared.lua [--subset N] [--seed S] [--epochs E]
--
-- The network: 16 3x3 convolution kernels (no bias), relu, max pool 3, flatten; softmax
-- regression on top (cnnc.learn). Its kernels are
--   random   seeded he_normal values (never trained);
--   hand     the image-processing classics of cnnc.kernels: box blur, sharpen, edge x/y,
--            Sobel x/y, Prewitt x/y and the eight Kirsch compass kernels;
--   k-means  learned without labels (Coates and Ng, 2011): k-means with 16 centroids on
--            50,000 random 3x3 patches of the training images, each patch with its mean
--            removed and divided by its standard deviation; the centroids are the kernels.
-- Each set goes into the model with model:set_weight and the model is compiled again.
-- Prints the test accuracy of each, writes DIR/results.tsv and DIR/kernels.png (one row
-- of 16 kernels per method, each kernel stretched to its own range).

local E = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'common.lua')
local cnnc = require 'cnnc'
local K = cnnc.kernels

local USAGE = [[
usage: luajit examples/experiments/kernels_compared.lua [options]
  --subset N    use the first N training and N/2 test images (default 0: all 60,000 / 10,000)
  --seed S      seed of the random kernels, patch sampling, k-means and training (default 1)
  --epochs E    SGD epochs of the last layer (default 4)
  --patches P   patches for k-means (default 50000)
  --target T    native (default), generic, sse4, avx2, avx512
  --out DIR     where results.tsv and kernels.png go (default build/experiments/kernels_compared)
  --quiet       no progress display
]]

local o = E.options({ subset = 0, seed = 1, epochs = 4, patches = 50000, target = 'native',
  out = 'build/experiments/kernels_compared', quiet = false }, USAGE)
E.whole(o, 'subset', 0)
E.whole(o, 'seed', 0)
E.whole(o, 'epochs', 1)
E.whole(o, 'patches', 1)

local FILTERS = 16

local function model(seed)
  local m = cnnc.Sequential { name = 'kernels_compared', input_shape = { 28, 28, 1 }, seed = seed }
  m:add(cnnc.Conv2D { FILTERS, 3, activation = 'relu', use_bias = false, kernel_initializer = 'he_normal', name = 'conv' })
  m:add(cnnc.MaxPooling2D { 3 })
  m:add(cnnc.Flatten {})
  return m
end

local function hand_designed()
  local bank = { K.box(3), K.sharpen(1), K.edge_x(), K.edge_y(), K.sobel_x(), K.sobel_y(), K.prewitt_x(), K.prewitt_y() }
  for i = 1, 8 do bank[#bank + 1] = K.kirsch(i) end
  return K.stack(bank)
end

-- Centroids of normalised random 3x3 patches, as a Conv2D kernel (3, 3, 1, 16).
local function kmeans_kernels(images, n_patches, seed)
  local rng = cnnc.learn.rng(seed, 'patches')
  local P = cnnc.Tensor({ n_patches, 9 })
  local x, p = images.data, P.data
  local n, h, w = images.shape[1], images.shape[2], images.shape[3]
  for k = 0, n_patches - 1 do
    local base = (rng:int(n) - 1) * h * w + (rng:int(h - 2) - 1) * w + rng:int(w - 2) - 1
    local s, s2 = 0, 0
    for dy = 0, 2 do
      for dx = 0, 2 do
        local v = x[base + dy * w + dx]
        p[k * 9 + dy * 3 + dx] = v
        s, s2 = s + v, s2 + v * v
      end
    end
    -- Brightness and contrast normalisation; the 0.01 keeps flat patches from blowing up.
    local mean = s / 9
    local sd = math.sqrt(math.max(s2 / 9 - mean * mean, 0) + 0.01)
    for j = 0, 8 do p[k * 9 + j] = (p[k * 9 + j] - mean) / sd end
  end
  local C = cnnc.learn.kmeans(P, FILTERS, { seed = seed, iterations = 30 })
  local kernel = cnnc.Tensor({ 3, 3, 1, FILTERS })
  for c = 0, FILTERS - 1 do
    for j = 0, 8 do kernel.data[j * FILTERS + c] = C.data[c * 9 + j] end
  end
  return kernel
end

-- Stacks grey images (2-D tensors of one width) vertically with white gaps.
local function stack_rows(images, gap)
  local w, h = images[1].shape[2], 0
  for _, im in ipairs(images) do h = h + im.shape[1] end
  local out = cnnc.Tensor({ h + gap * (#images - 1), w }):fill(1)
  local y = 0
  for _, im in ipairs(images) do
    require('ffi').copy(out.data + y * w, im.data, 4 * im.n)
    y = y + im.shape[1] + gap
  end
  return out
end

E.main('kernels_compared', function()
  local t_start = cnnc.clock()
  local n_train = o.subset > 0 and o.subset or nil
  local data = cnnc.datasets.fashion_mnist { train = n_train, test = n_train and math.max(math.floor(n_train / 2), 1) }
  print(string.format('Fashion-MNIST: %d training images, %d test; seed %d', data.train_x.shape[1],
    data.test_x.shape[1], o.seed))
  local m = model(o.seed)
  local methods = {
    { 'random', 'seeded he_normal, never trained', function() return m:weight('conv', 'kernel') end },
    { 'hand', 'box, sharpen, edge, Sobel, Prewitt, 8 Kirsch', hand_designed },
    { 'k-means', 'centroids of normalised 3x3 patches', function()
      return kmeans_kernels(data.train_x, o.patches, o.seed)
    end },
  }
  local rows, tiles = {}, {}
  print(string.format('%-8s %9s %8s  %s', 'kernels', 'test acc', 'seconds', 'how they were chosen'))
  for _, meth in ipairs(methods) do
    local t0 = cnnc.clock()
    local kernel = meth[3]()
    m:set_weight('conv', 'kernel', kernel)
    local net = m:compile { target = o.target }
    local tr = net:features(data.train_x, { quiet = o.quiet, label = meth[1] .. ' features (train)' })
    local te = net:features(data.test_x, { quiet = o.quiet, label = meth[1] .. ' features (test)' })
    local _, acc = E.last_layer(tr, data.train_y, { epochs = o.epochs, lr = 0.01, seed = o.seed, quiet = o.quiet,
      label = meth[1] .. ' last layer' }, te, data.test_y)
    rows[#rows + 1] = { meth[1], acc, cnnc.clock() - t0 }
    print(string.format('%-8s %8.2f%% %8.1f  %s', meth[1], 100 * acc, cnnc.clock() - t0, meth[2]))
    -- The kernels as the net holds them, (3, 3, 1, 16) -> one row of 16 tiles.
    local k = net:weight('conv', 'kernel')
    tiles[#tiles + 1] = cnnc.tile(k:reshape({ 3, 3, FILTERS }), { cols = FILTERS, scale = 12, gap = 3 })
    collectgarbage() -- this method's feature matrices are garbage now
  end
  E.mkdir(o.out)
  cnnc.write_png(o.out .. '/kernels.png', stack_rows(tiles, 6))
  E.write_tsv(o.out .. '/results.tsv', { 'kernels', 'test_acc', 'seconds' }, rows)
  print(string.format('wrote %s/kernels.png (rows: %s) and %s/results.tsv; total %.1f s', o.out,
    'random, hand, k-means', o.out, cnnc.clock() - t_start))
end)
