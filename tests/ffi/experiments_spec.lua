-- The experiments of examples/experiments, run as a user runs them but on small
-- subsets of Fashion-MNIST: each finishes, writes valid files, learns far above chance
-- (10% for ten classes), and gives the same results again with the same seed.

local H = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'helper.lua')
local cnnc = require 'cnnc'

local DATA = '/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz'
local have_data = io.open(DATA, 'rb') ~= nil

-- Runs an experiment script; returns its standard output (fails the test if it fails).
local function run(dir, script, args)
  local ok, out = H.sh(string.format("cd '%s' && CNNC_CACHE='%s/cache' luajit '%sexamples/experiments/%s' %s",
    dir, dir, H.root, script, args))
  assert(ok, script .. ' failed:\n' .. out)
  return out
end

local function tsv(path)
  local rows, header = {}, nil
  for line in H.read(path):gmatch('[^\n]+') do
    local cells = {}
    for c in line:gmatch('[^\t]+') do cells[#cells + 1] = tonumber(c) or c end
    if not header then header = cells else rows[#rows + 1] = cells end
  end
  return rows, header
end

describe('experiments (reduced)', function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.rmdir(dir) end)

  it('activations.lua draws the feature maps of every convolution layer', function()
    local out = run(dir, 'activations.lua', '--out maps --target generic')
    assert.matches('prediction: class 9 %(Ankle boot%)', out)
    local want = { ['input.png'] = { 112, 112 }, ['1_conv2d.png'] = { 6 * 52 + 5 * 2, 6 * 52 + 5 * 2 },
      ['3_conv2d_1.png'] = { 8 * 55 + 7 * 2, 8 * 55 + 7 * 2 }, ['5_conv2d_2.png'] = { 8 * 63 + 7 * 2, 8 * 63 + 7 * 2 } }
    for file, hw in pairs(want) do
      local im = cnnc.read_png(dir .. '/maps/' .. file)
      assert.same({ hw[1], hw[2], 1 }, im.shape, file)
      local lo, hi = im:range()
      assert.is_true(lo == 0 and hi == 1, file)
    end
    local ok, err = H.sh(string.format("cd '%s' && luajit '%sexamples/experiments/activations.lua' --image nothing.pgm",
      dir, H.root))
    assert.is_false(ok)
    assert.matches('^activations: [^\n]*nothing%.pgm', err)
    assert.is_nil(err:find('traceback', 1, true))
  end)

  it('random_features.lua ranks architectures and picks one far above chance, deterministically', function()
    if not have_data then pending('dataset-fashion-mnist is not installed'); return end
    local out = run(dir, 'random_features.lua', '--subset 1500 --epochs 3 --quiet --out a')
    assert.matches('best by validation: ', out)
    local rows = tsv(dir .. '/a/results.tsv')
    assert.equal(9, #rows)
    for i = 1, 8 do assert.is_true(rows[i][4] > 0.6, rows[i][1]) end
    local best = rows[9]
    assert.matches('^best:', best[1])
    assert.is_true(best[4] > 0.7, 'best test accuracy ' .. best[4])
    run(dir, 'random_features.lua', '--subset 1500 --epochs 3 --quiet --out b')
    local again = tsv(dir .. '/b/results.tsv')
    for i = 1, 9 do assert.same({ rows[i][1], rows[i][3], rows[i][4] }, { again[i][1], again[i][3], again[i][4] }) end
  end)

  it('kernels_compared.lua trains on random, hand-designed and k-means kernels and draws them', function()
    if not have_data then pending('dataset-fashion-mnist is not installed'); return end
    run(dir, 'kernels_compared.lua', '--subset 1500 --epochs 3 --patches 5000 --quiet --out k')
    local rows = tsv(dir .. '/k/results.tsv')
    assert.same({ 'random', 'hand', 'k-means' }, { rows[1][1], rows[2][1], rows[3][1] })
    for _, r in ipairs(rows) do assert.is_true(r[2] > 0.7, r[1] .. ' ' .. r[2]) end
    local im = cnnc.read_png(dir .. '/k/kernels.png')
    assert.same({ 3 * 36 + 2 * 6, 16 * 36 + 15 * 3, 1 }, im.shape)
  end)

  it('filters.lua raises the channels\' means by gradient ascent and draws a grid per layer', function()
    local out = run(dir, 'filters.lua',
      '--layers conv2d,conv2d_2 --subset 4 --steps 15 --target generic --quiet --out f')
    -- Every channel rises by half at least, unless no start image makes its ReLU pass
    -- anything (three of conv2d_2's first four; one of them from a later start).
    local rose, silent = 0, 0
    for layer, before, after, note in out:gmatch('(conv2d[_%d]*) channel +%d+: mean +(%S+) %-> +(%S+)([^\n]*)') do
      assert.is_true(layer == 'conv2d' or layer == 'conv2d_2', layer)
      if note:find('silent', 1, true) then silent = silent + 1
      else
        assert.is_true(tonumber(after) > 1.5 * tonumber(before), out)
        rose = rose + 1
      end
    end
    assert.equal(8, #tsv(dir .. '/f/activations.tsv'))
    assert.is_true(rose >= 4 and rose + silent == 8, out)
    assert.matches('conv2d_2 channel +%d+: mean +%S+ %-> +%S+  %(from start image %d+%)', out)
    for _, layer in ipairs({ 'conv2d', 'conv2d_2' }) do
      assert.same({ 2 * 84 + 2, 2 * 84 + 2, 1 }, cnnc.read_png(dir .. '/f/mnist_' .. layer .. '.png').shape)
    end
    -- The larger network's part needs train.lua's weights; without them it says so.
    assert.matches('vgg_mnist: skipped: no trained weights in build/experiments/train/vgg_mnist/weights', out)
    local ok, err = H.sh(string.format("cd '%s' && luajit '%sexamples/experiments/filters.lua' --layers dense", dir,
      H.root))
    assert.is_false(ok)
    assert.matches("filters: %-%-layers: no convolution layer 'dense' %(mnist has conv2d, conv2d_1, conv2d_2%)", err)
  end)

  it('saliency.lua draws input-gradient maps whose most salient pixels matter more than random ones', function()
    if not have_data then pending('dataset-fashion-mnist is not installed'); return end
    local out = run(dir, 'saliency.lua', '--subset 300 --show 4 --target generic --quiet --out s')
    local rows = tsv(dir .. '/s/saliency.tsv')
    assert.same({ 'none', 'most salient', 'random' }, { rows[1][1], rows[2][1], rows[3][1] })
    assert.equal(39, rows[2][2])
    assert.is_true(rows[1][3] > 0.8, out)
    -- grey over the most salient pixels costs the predicted class far more than over random ones
    assert.is_true(rows[1][3] - rows[2][3] > 2 * (rows[1][3] - rows[3][3]), out)
    assert.is_true(rows[2][4] > 2 * rows[3][4], out)
    assert.same({ 84, 8 * 84 + 7 * 2, 1 }, cnnc.read_png(dir .. '/s/saliency.png').shape)
    assert.matches('test image  1: Ankle boot +predicted Ankle boot', out)
    local ok, err = H.sh(string.format("cd '%s' && luajit '%sexamples/experiments/saliency.lua' --objective logit", dir,
      H.root))
    assert.is_false(ok)
    assert.matches("^%-%-objective must be unit or loss, got 'logit'\nusage:", err)
  end)

  it('train.lua trains with net:fit, saves the weights and builds an executable that agrees', function()
    if not have_data then pending('dataset-fashion-mnist is not installed'); return end
    local out = run(dir, 'train.lua', '--subset 1000 --epochs 2 --lr 0.002 --target generic --out t')
    local l1, l2 = out:match('epoch  1/2: lr %S+, loss (%S+),.-epoch  2/2: lr %S+, loss (%S+),')
    assert.is_true(tonumber(l2) < tonumber(l1), out)
    local before = tonumber(out:match('before training: test loss %S+, accuracy (%S+)%%'))
    local net, exe = out:match('test accuracy: net (%S+)%%, executable (%S+)%%')
    assert.is_true(before < 30 and tonumber(net) > 60, out)
    assert.equal(net, exe)
    assert.equal(2, #tsv(dir .. '/t/history.tsv'))
    for _, f in ipairs({ 'weights/dense.kernel.npy', 'weights/conv2d_2.bias.npy', 'build/mnist.c', 'build/mnist' }) do
      assert.truthy(io.open(dir .. '/t/' .. f, 'rb'), f)
    end
    local ok, err = H.sh(string.format("cd '%s' && luajit '%sexamples/experiments/train.lua' --epochs 0", dir, H.root))
    assert.is_false(ok)
    assert.matches('^%-%-epochs must be a whole number from 1, got 0\nusage:', err)
  end)
end)
