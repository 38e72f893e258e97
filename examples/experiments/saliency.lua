-- Saliency maps: which pixels of an image the network's decision is most sensitive to, as
-- the gradient of the decision with respect to the input (Simonyan, Vedaldi and
-- Zisserman, 2013), computed by the backward code in the generated C.
--
--   luajit examples/experiments/saliency.lua [--subset N] [--show K] [--objective unit|loss]
--
-- The Keras MNIST network with the weights trained on Fashion-MNIST (examples/fashion_mnist)
-- classifies the first N test images; for each, net:gradient(x, {unit = k}) gives the
-- gradient of the probability of its predicted class k (--objective loss: of the
-- cross-entropy against the true label, {loss = 'categorical_crossentropy', y = label}),
-- and the map is its absolute value. DIR/saliency.png shows the first K images, each
-- followed by its map (every tile stretched to its own range: brighter, more sensitive).
-- A check that the maps point at what matters: the F most salient pixels of each image
-- are set to grey and the predicted class's probability is measured again, against F
-- pixels chosen at random (seeded). Needs the Debian package dataset-fashion-mnist.

local E = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'common.lua')
local cnnc = require 'cnnc'

local USAGE = [[
usage: luajit examples/experiments/saliency.lua [options]
  --subset N       the first N test images (default 1000)
  --show K         the first K of them drawn with their maps (default 16)
  --objective O    unit: the predicted class's probability (default); loss: the
                   cross-entropy against the true label
  --smooth S       SmoothGrad (Smilkov et al. 2017): average the gradient over S copies of
                   the image with Gaussian noise added (default 0: the plain gradient)
  --noise SIGMA    the noise's standard deviation (default 0.15)
  --fraction F     share of the pixels set to grey in the check (default 0.05)
  --seed S         seed of the check's random pixels (default 1)
  --weights DIR    the network's weights (default examples/fashion_mnist/weights; none:
                   the seeded initial ones)
  --target T       native (default), generic, sse4, avx2, avx512
  --out DIR        where saliency.png and saliency.tsv go (default build/experiments/saliency)
  --quiet          no progress display
]]

local o = E.options({ subset = 1000, show = 16, objective = 'unit', smooth = 0, noise = 0.15, fraction = 0.05, seed = 1,
  weights = E.root .. 'examples/fashion_mnist/weights', target = 'native', out = 'build/experiments/saliency',
  quiet = false }, USAGE)
E.whole(o, 'subset', 1, 10000)
E.whole(o, 'show', 0, 10000)
E.whole(o, 'smooth', 0, 1000)
E.range(o, 'noise', 0, 10)
E.range(o, 'fraction', 0, 1)
E.whole(o, 'seed', 0)
if o.objective ~= 'unit' and o.objective ~= 'loss' then
  E.bad_option("--objective must be unit or loss, got '%s'", o.objective)
end

local GREY = 0.5

local function argmax(p, base, k)
  local best = 0
  for j = 1, k - 1 do if p[base + j] > p[base + best] then best = j end end
  return best
end

-- x (N, ...) with, in item i, the pixels listed in picks[i] set to grey.
local function occlude(x, picks)
  local y = x:clone()
  local size = x.n / x.shape[1]
  for i, list in ipairs(picks) do
    for _, p in ipairs(list) do y.data[(i - 1) * size + p] = GREY end
  end
  return y
end

E.main('saliency', function()
  local data = cnnc.datasets.fashion_mnist { train = 1, test = o.subset }
  local n = data.test_x.shape[1]
  local show = math.min(o.show, n)
  local model = cnnc.load(E.root .. 'examples/keras_mnist.lua', { weights = o.weights ~= 'none' and o.weights or nil })
  local t0 = cnnc.clock()
  local net = model:compile { backward = true, target = o.target }
  local k, size = net.output_size, net.input_size
  print(string.format('%s with %s (compiled in %.1f s); %d test images; objective: %s', net.name, o.weights,
    cnnc.clock() - t0, n, o.objective == 'unit' and 'the probability of the predicted class'
    or 'the cross-entropy against the true label'))

  local probs = net:predict(data.test_x)
  local pred, right = {}, 0
  for i = 0, n - 1 do
    pred[i] = argmax(probs.data, i * k, k)
    if pred[i] == data.test_y.data[i] then right = right + 1 end
  end
  print(string.format('accuracy on them: %.2f%%', 100 * right / n))

  -- The maps: |d objective / d x| per item.
  -- With SmoothGrad, the noisy copies of an image go through the C as one batch.
  local sal = cnnc.Tensor(data.test_x.shape)
  local noise = cnnc.learn.rng(o.seed, 'saliency noise')
  local copies = o.smooth > 0 and cnnc.Tensor({ o.smooth, unpack(net.input_shape) }) or nil
  local prog = cnnc.progress(n, 'saliency', { quiet = o.quiet })
  t0 = cnnc.clock()
  for i = 1, n do
    local x = data.test_x:item(i)
    local objective = o.objective == 'unit' and { unit = pred[i - 1] }
      or { loss = 'categorical_crossentropy', y = data.test_y.data[i - 1] }
    local out = sal.data + (i - 1) * size
    if copies then
      for c = 0, o.smooth - 1 do
        for p = 0, size - 1 do copies.data[c * size + p] = x.data[p] + o.noise * noise:normal() end
      end
      if objective.y then objective.y = cnnc.Tensor({ o.smooth }):fill(objective.y) end
      local dx = net:gradient(copies, objective)
      for p = 0, size - 1 do
        local sum = 0
        for c = 0, o.smooth - 1 do sum = sum + dx.data[c * size + p] end
        out[p] = math.abs(sum / o.smooth)
      end
    else
      local dx = net:gradient(x, objective)
      for p = 0, size - 1 do out[p] = math.abs(dx.data[p]) end
    end
    prog:update(i)
  end
  prog:done()
  print(string.format('input gradients of %d images in %.2f s', n, cnnc.clock() - t0))

  -- The picture: image, map, image, map, ...
  if show > 0 then
    local h, w = net.input_shape[1], net.input_shape[2]
    local tiles = cnnc.Tensor({ h, w, 2 * show })
    for i = 0, show - 1 do
      for p = 0, h * w - 1 do
        tiles.data[p * 2 * show + 2 * i] = data.test_x.data[i * size + p]
        tiles.data[p * 2 * show + 2 * i + 1] = sal.data[i * size + p]
      end
      local y = data.test_y.data[i]
      print(string.format('  test image %2d: %-11s predicted %-11s p = %.3f', i + 1, data.classes[y + 1],
        data.classes[pred[i] + 1], probs.data[i * k + pred[i]]))
    end
    local file = o.out .. '/saliency.png'
    E.mkdir(o.out)
    cnnc.write_png(file, cnnc.tile(tiles, { cols = 8, scale = 3, gap = 2 }))
    print('wrote ' .. file)
  end

  -- The check: the m most salient pixels of each image, or m random ones, set to grey.
  local m = math.floor(o.fraction * size + 0.5)
  local rng = cnnc.learn.rng(o.seed, 'saliency check')
  local top, random = {}, {}
  for i = 1, n do
    local order = {}
    for p = 0, size - 1 do order[p + 1] = p end
    local s = sal.data + (i - 1) * size
    table.sort(order, function(a, b) if s[a] ~= s[b] then return s[a] > s[b] end return a < b end)
    top[i] = { unpack(order, 1, m) }
    local perm = cnnc.learn.permutation(size, rng)
    random[i] = {}
    for j = 0, m - 1 do random[i][j + 1] = perm[j] end
  end
  local rows = { { 'none', 0, 0, 0 } }
  local p0 = 0
  for i = 0, n - 1 do p0 = p0 + probs.data[i * k + pred[i]] end
  rows[1][3] = p0 / n
  print(string.format('%d pixels (%.1f%%) of each image set to grey:', m, 100 * m / size))
  print(string.format('  %-14s  %-28s  %s', 'pixels', 'p of the predicted class', 'predictions changed'))
  print(string.format('  %-14s  %-28s  %s', 'none', string.format('%.4f', p0 / n), '-'))
  for _, case in ipairs({ { 'most salient', top }, { 'random', random } }) do
    local q = net:predict(occlude(data.test_x, case[2]))
    local sum, changed = 0, 0
    for i = 0, n - 1 do
      sum = sum + q.data[i * k + pred[i]]
      if argmax(q.data, i * k, k) ~= pred[i] then changed = changed + 1 end
    end
    rows[#rows + 1] = { case[1], m, sum / n, changed / n }
    print(string.format('  %-14s  %-28s  %.2f%%', case[1], string.format('%.4f', sum / n), 100 * changed / n))
  end
  E.mkdir(o.out)
  print('wrote ' .. E.write_tsv(o.out .. '/saliency.tsv', { 'pixels', 'count', 'p_predicted', 'changed' }, rows))
end)
