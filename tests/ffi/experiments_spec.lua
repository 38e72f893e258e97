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

  it('gradients.lua visualises filters by gradient ascent and trains a small network', function()
    local args = '--channels 4 --steps 15 --epochs 2 --out g' .. (have_data and ' --subset 1000' or ' --subset 0')
    local out = run(dir, 'gradients.lua', args)
    local rose = 0
    for before, after in out:gmatch('channel +%d+: mean +(%S+) %-> +(%S+)') do
      assert.is_true(tonumber(after) >= tonumber(before), out)
      if tonumber(after) > 1.5 * tonumber(before) + 0.1 then rose = rose + 1 end
    end
    assert.is_true(rose >= 2, out)
    local im = cnnc.read_png(dir .. '/g/filters.png')
    assert.same({ 2 * 84 + 2, 2 * 84 + 2, 1 }, im.shape)
    if not have_data then return end
    local l1, l2 = out:match('epoch 1: loss (%S+),.-epoch 2: loss (%S+),')
    assert.is_true(tonumber(l2) < tonumber(l1), out)
    local before = tonumber(out:match('test loss (%S+), accuracy %S+ before'))
    local after, acc = out:match('test loss (%S+), accuracy (%S+)%% after')
    assert.is_true(tonumber(after) < before, out)
    assert.is_true(tonumber(acc) > 50, out)
    assert.truthy(io.open(dir .. '/g/weights/dense.kernel.npy', 'rb'), 'weights written')
  end)
end)
