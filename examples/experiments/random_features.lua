-- Random features: how good are convolution kernels that are never trained?
--
--   luajit examples/experiments/random_features.lua [--subset N] [--seed S] [--epochs E]
--
-- Jarrett et al. (2009) and Saxe et al. (2011) found that a convolution + pooling
-- architecture with random kernels, topped by a trained linear classifier, already ranks
-- architectures about as their fully trained versions do, which makes a cheap
-- architecture search. Here: every architecture below keeps the seeded random kernels
-- cnnc's initializers give it (he_normal); the compiled model extracts features of
-- Fashion-MNIST; softmax regression (cnnc.learn, plain Lua) is trained on 50,000 training
-- images; the best architecture is picked by accuracy on the 10,000 held-out training
-- images, its last layer retrained on all 60,000, and its test accuracy reported.
-- Prints a table and writes DIR/results.tsv.

local E = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'common.lua')
local cnnc = require 'cnnc'

local USAGE = [[
usage: luajit examples/experiments/random_features.lua [options]
  --subset N    use the first N training and N/2 test images (default 0: all 60,000 / 10,000)
  --seed S      seed of the random kernels and of training (default 1)
  --epochs E    SGD epochs of the last layer (default 4)
  --target T    native (default), generic, sse4, avx2, avx512
  --out DIR     where results.tsv goes (default build/experiments/random_features)
  --quiet       no progress display
]]

local o = E.options({ subset = 0, seed = 1, epochs = 4, target = 'native', out = 'build/experiments/random_features',
  quiet = false }, USAGE)
E.whole(o, 'subset', 0)
E.whole(o, 'seed', 0)
E.whole(o, 'epochs', 1)

-- name, description, layers (after the input). All Conv2D kernels are random.
local function conv(filters, k, act)
  return cnnc.Conv2D { filters, k, activation = act, kernel_initializer = 'he_normal' }
end
local ARCHS = {
  { 'pixels', 'no convolution: softmax regression on the 784 pixels (the baseline)', function() return {} end },
  { 'c8k5-max4', '8 random 5x5 kernels, relu, max pool 4', function() return { conv(8, 5, 'relu'), cnnc.MaxPooling2D { 4 } } end },
  { 'c16k5-max4', '16 random 5x5, relu, max pool 4', function() return { conv(16, 5, 'relu'), cnnc.MaxPooling2D { 4 } } end },
  { 'c16k5-avg4', '16 random 5x5, relu, average pool 4', function() return { conv(16, 5, 'relu'), cnnc.AveragePooling2D { 4 } } end },
  { 'c16k5-l2pool4', '16 random 5x5, linear, L2 pool 4 (Saxe et al.)', function() return { conv(16, 5), cnnc.LPPooling2D { 4, p = 2 } } end },
  { 'c16k9-max4', '16 random 9x9, relu, max pool 4', function() return { conv(16, 9, 'relu'), cnnc.MaxPooling2D { 4 } } end },
  { 'c32k3-max4', '32 random 3x3, relu, max pool 4', function() return { conv(32, 3, 'relu'), cnnc.MaxPooling2D { 4 } } end },
  { 'c16k3-c32k3', '16 random 3x3, relu, max pool 2, then 32 random 3x3, relu, max pool 2',
    function() return { conv(16, 3, 'relu'), cnnc.MaxPooling2D { 2 }, conv(32, 3, 'relu'), cnnc.MaxPooling2D { 2 } } end },
}

E.main('random_features', function()
  local t_start = cnnc.clock()
  local n_train = o.subset > 0 and o.subset or nil
  local data = cnnc.datasets.fashion_mnist { train = n_train, test = n_train and math.max(math.floor(n_train / 2), 1) }
  local n = data.train_x.shape[1]
  local n_val = math.floor(n / 6)
  local fit_x, fit_y = data.train_x:slice(1, n - n_val), data.train_y:slice(1, n - n_val)
  local val_x, val_y = data.train_x:slice(n - n_val + 1, n), data.train_y:slice(n - n_val + 1, n)
  print(string.format('Fashion-MNIST: %d training images (%d fit, %d validation), %d test; seed %d', n, n - n_val,
    n_val, data.test_x.shape[1], o.seed))
  local sgd = { epochs = o.epochs, lr = 0.01, seed = o.seed, quiet = o.quiet }
  local rows, best = {}, nil
  print(string.format('%-14s %8s %9s %9s %8s  %s', 'architecture', 'features', 'val acc', 'test acc', 'seconds',
    'description'))
  for _, a in ipairs(ARCHS) do
    local t0 = cnnc.clock()
    local model = cnnc.Sequential { name = 'rf_' .. a[1]:gsub('%W', '_'), input_shape = { 28, 28, 1 }, seed = o.seed }
    for _, layer in ipairs(a[3]()) do model:add(layer) end
    model:add(cnnc.Flatten {})
    local net = model:compile { target = o.target }
    local f = { quiet = o.quiet }
    f.label = a[1] .. ' features (fit)'
    local fit_f = net:features(fit_x, f)
    f.label = a[1] .. ' features (validation)'
    local val_f = net:features(val_x, f)
    f.label = a[1] .. ' features (test)'
    local test_f = net:features(data.test_x, f)
    sgd.label = a[1] .. ' last layer'
    local _, val_acc, test_acc = E.last_layer(fit_f, fit_y, sgd, val_f, val_y, test_f, data.test_y)
    local row = { a[1], net.output_size, val_acc, test_acc, cnnc.clock() - t0, a[2], net = net }
    rows[#rows + 1] = row
    if not best or val_acc > best[3] then best = row end
    print(string.format('%-14s %8d %8.2f%% %8.2f%% %8.1f  %s', row[1], row[2], 100 * val_acc, 100 * test_acc, row[5], row[6]))
    collectgarbage() -- the feature matrices of this architecture are garbage now
  end
  -- The chosen architecture's last layer, trained again on every training image.
  local t0 = cnnc.clock()
  sgd.label = best[1] .. ' last layer (all training images)'
  local all_f = best.net:features(data.train_x, { quiet = o.quiet, label = best[1] .. ' features (all)' })
  local test_f = best.net:features(data.test_x, { quiet = o.quiet, label = best[1] .. ' features (test)' })
  local _, final = E.last_layer(all_f, data.train_y, sgd, test_f, data.test_y)
  print(string.format('best by validation: %s (%s): test accuracy %.2f%% with its last layer trained on all %d '
    .. 'training images (%.1f s); total %.1f s', best[1], best[6], 100 * final, n, cnnc.clock() - t0,
    cnnc.clock() - t_start))
  E.mkdir(o.out)
  local out = {}
  for _, r in ipairs(rows) do out[#out + 1] = { r[1], r[2], r[3], r[4], r[5] } end
  out[#out + 1] = { 'best:' .. best[1], best[2], best[3], final, cnnc.clock() - t_start }
  E.write_tsv(o.out .. '/results.tsv', { 'architecture', 'features', 'val_acc', 'test_acc', 'seconds' }, out)
  print('wrote ' .. o.out .. '/results.tsv')
end)
