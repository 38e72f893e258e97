-- What a convolution filter responds to: the input image that maximises its mean activation,
-- found by gradient ascent on the input (Erhan et al. 2009; Simonyan et al. 2013; the
-- lecture's last experiment).
--
--   luajit examples/experiments/filters.lua [--layers L1,L2] [--steps S] [--step R]
--                                           [--jitter J] [--blur SIGMA] [--decay D]
--
-- For each channel c of a chosen convolution layer: start from a grey image with a little
-- noise; net:gradient(x, {layer = L, channel = c}) gives the gradient of the channel's mean
-- (over all positions) with respect to the image; move the image a fixed distance along it
-- (the gradient divided by its root mean square, times --step), keep pixels in [0, 1], and
-- repeat; the image with the highest mean is the result. A channel whose ReLU passes
-- nothing on the start image (no gradient) gets other starts (--tries) before it is
-- reported silent. Optional regularisers make the pictures less noisy: --jitter shifts
-- the image by a random few pixels before each gradient (undone after), --blur smooths it
-- with a Gaussian every --blur-every steps, --decay pulls it towards grey (L2 decay).
-- The networks: the Keras MNIST network with the weights trained on Fashion-MNIST
-- (examples/fashion_mnist), and the larger examples/experiments/vgg_mnist.lua with the
-- weights train.lua wrote (`luajit examples/experiments/train.lua --model
-- examples/experiments/vgg_mnist.lua`; skipped with a message while they are missing).
-- Writes DIR/<network>_<layer>.png (one tile per channel, each stretched to its own range)
-- and DIR/activations.tsv, and prints each channel's mean activation before and after.

local E = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'common.lua')
local cnnc = require 'cnnc'

local USAGE = [[
usage: luajit examples/experiments/filters.lua [options]
  --layers LIST    convolution layers to show, comma-separated (default: every one of
                   each network)
  --subset N       the first N channels of each layer (default 0: all)
  --steps S        gradient-ascent steps (default 100)
  --step R         distance of a step: the root mean square of a pixel's change
                   (default 0.02; pixels are in [0, 1])
  --noise A        the start: grey 0.5 plus uniform noise in [-A, A] (default 0.1)
  --tries K        a channel silent on the start (its ReLU 0 everywhere, so no gradient)
                   gets up to K other starts, each with twice the noise and a random
                   grey level (default 8; 0: the grey start only)
  --jitter J       shift the image by up to J pixels each step (default 0: off)
  --blur SIGMA     Gaussian blur of this sigma (pixels) every --blur-every steps (default 0: off)
  --blur-every K   (default 4)
  --decay D        L2 decay: after each step x = 0.5 + (1 - D) (x - 0.5) (default 0: off)
  --vgg DIR        weights of examples/experiments/vgg_mnist.lua trained by train.lua
                   (default build/experiments/train/vgg_mnist/weights; none: skip it)
  --seed S         seed of the start images and the jitter (default 1)
  --target T       native (default), generic, sse4, avx2, avx512
  --out DIR        where the PNGs and activations.tsv go (default build/experiments/filters)
  --quiet          no progress display
]]

local o = E.options({ layers = '', subset = 0, steps = 100, step = 0.02, noise = 0.1, tries = 8, jitter = 0, blur = 0,
  blur_every = 4, decay = 0, vgg = 'build/experiments/train/vgg_mnist/weights', seed = 1, target = 'native',
  out = 'build/experiments/filters', quiet = false }, USAGE)
E.whole(o, 'subset', 0)
E.whole(o, 'steps', 1)
E.range(o, 'step', 0, 1)
E.range(o, 'noise', 0, 0.5)
E.whole(o, 'tries', 0, 100)
E.whole(o, 'jitter', 0, 13)
E.range(o, 'blur', 0, 10)
E.whole(o, 'blur_every', 1)
E.range(o, 'decay', 0, 1)
E.whole(o, 'seed', 0)

-- The image rolled by (dy, dx) pixels, wrapping around (jitter; rolling back by (-dy, -dx)
-- undoes it).
local function roll(x, dy, dx)
  if dy == 0 and dx == 0 then return x end
  local h, w, c = x.shape[1], x.shape[2], x.shape[3]
  local r = cnnc.Tensor(x.shape)
  for y = 0, h - 1 do
    local ty = (y + dy) % h
    for xx = 0, w - 1 do
      local base, tbase = (y * w + xx) * c, (ty * w + (xx + dx) % w) * c
      for k = 0, c - 1 do r.data[tbase + k] = x.data[base + k] end
    end
  end
  return r
end

-- A Gaussian blur of sigma pixels, in place: rows then columns, edges repeated.
local function blur(x, sigma)
  local h, w, c = x.shape[1], x.shape[2], x.shape[3]
  local rad = math.ceil(3 * sigma)
  local k, sum = {}, 0
  for i = -rad, rad do k[i] = math.exp(-i * i / (2 * sigma * sigma)); sum = sum + k[i] end
  for i = -rad, rad do k[i] = k[i] / sum end
  local t = x:clone()
  local function pass(src, dst, along_rows)
    for y = 0, h - 1 do
      for xx = 0, w - 1 do
        for ch = 0, c - 1 do
          local s = 0
          for i = -rad, rad do
            local yy, xi = y, xx
            if along_rows then xi = math.min(w - 1, math.max(0, xx + i))
            else yy = math.min(h - 1, math.max(0, y + i)) end
            s = s + k[i] * src.data[(yy * w + xi) * c + ch]
          end
          dst.data[(y * w + xx) * c + ch] = s
        end
      end
    end
  end
  pass(x, t, true)
  pass(t, x, false)
end

-- Gradient ascent on the mean of channel ch of layer: returns the image, the channel's
-- mean on the start image and on the result, whether the channel was silent (no gradient
-- on any start: its ReLU is 0 at every position) and how many starts were given up.
local function ascend(net, name, layer, ch)
  -- Each channel's own generator: its result does not depend on which others are shown.
  local rng = cnnc.learn.rng(o.seed, 'filters', name, layer, ch)
  local objective = { layer = layer, channel = ch }
  -- The start: grey with noise. A channel silent there (no position passes its ReLU)
  -- gets other starts, each with twice the noise and a random grey level.
  local x, before, tries = cnnc.Tensor(net.input_shape), nil, 0
  while true do
    local base, amp = 0.5, math.min(0.5, o.noise * 2 ^ tries)
    if tries > 0 then base = 0.2 + 0.6 * rng:uniform() end
    for i = 0, x.n - 1 do x.data[i] = math.min(1, math.max(0, base + amp * (2 * rng:uniform() - 1))) end
    local g0
    g0, before = net:gradient(x, objective)
    local alive = false
    for i = 0, g0.n - 1 do if g0.data[i] ~= 0 then alive = true; break end end
    if alive then break end
    if tries == o.tries then return x, before, before, true, tries end
    tries = tries + 1
  end
  -- best: the image whose (shifted) copy gave the highest mean so far; regularisers and
  -- steps that overshoot can leave the last image below it.
  local step, last, best, best_v = o.step, x:clone(), nil, -math.huge
  for s = 1, o.steps do
    local dy, dx = 0, 0
    if o.jitter > 0 then
      local span = 2 * o.jitter + 1
      dy, dx = math.floor(rng:uniform() * span) - o.jitter, math.floor(rng:uniform() * span) - o.jitter
    end
    local g, v = net:gradient(roll(x, dy, dx), objective)
    g = roll(g, -dy, -dx)
    if v > best_v then best, best_v = x:clone(), v end
    local ss = 0
    for i = 0, g.n - 1 do ss = ss + g.data[i] * g.data[i] end
    if ss == 0 then
      -- The last step (or the shift) switched the channel off everywhere: take it back,
      -- shorter.
      x, step = last, step / 2
    else
      last = x:clone()
      local scale = step / math.sqrt(ss / g.n)
      for i = 0, x.n - 1 do
        local p = x.data[i] + scale * g.data[i]
        if o.decay > 0 then p = 0.5 + (1 - o.decay) * (p - 0.5) end
        x.data[i] = p
      end
      if o.blur > 0 and s % o.blur_every == 0 then blur(x, o.blur) end
      for i = 0, x.n - 1 do x.data[i] = math.min(1, math.max(0, x.data[i])) end
    end
  end
  local _, after = net:gradient(x, objective)
  local _, b = net:gradient(best, objective)
  if b > after then x, after = best, b end
  return x, before, after, false, tries
end

-- The model's Conv2D layers, in order (those with a 4-D kernel).
local function conv_layers(model)
  local list = {}
  for _, w in ipairs(model:weights()) do
    if w.name == 'kernel' and #w.shape == 4 then list[#list + 1] = w.layer end
  end
  return list
end

-- The layers of each network to show: all its convolution layers, or those of --layers it
-- has (a name must belong to at least one of the networks).
local function choose_layers(nets)
  local names = {}
  for l in o.layers:gmatch('[^,%s]+') do names[#names + 1] = l end
  if o.layers ~= '' and #names == 0 then E.bad_option('--layers: no layer names in %q', o.layers) end
  local found = {}
  for _, n in ipairs(nets) do
    local all = conv_layers(n.model)
    if #names == 0 then n.layers = all
    else
      local have = {}
      for _, l in ipairs(all) do have[l] = true end
      n.layers = {}
      for _, l in ipairs(names) do
        if have[l] then n.layers[#n.layers + 1] = l; found[l] = true end
      end
    end
    n.all = all
  end
  for _, l in ipairs(names) do
    if not found[l] then
      local has = {}
      for _, n in ipairs(nets) do has[#has + 1] = n.name .. ' has ' .. table.concat(n.all, ', ') end
      E.fail("--layers: no convolution layer '%s' (%s)", l, table.concat(has, '; '))
    end
  end
end

local rows = {}

local function visualise(name, model, layers)
  local t0 = cnnc.clock()
  local net = model:compile { backward = true, target = o.target }
  print(string.format('%s: %s (compiled in %.1f s); %d steps of %g from grey + noise %g%s', name,
    table.concat(layers, ', '), cnnc.clock() - t0, o.steps, o.step, o.noise,
    (o.jitter > 0 and string.format(', jitter %d', o.jitter) or '') ..
    (o.blur > 0 and string.format(', blur %g every %d', o.blur, o.blur_every) or '') ..
    (o.decay > 0 and string.format(', decay %g', o.decay) or '')))
  local h, w = net.input_shape[1], net.input_shape[2]
  for _, layer in ipairs(layers) do
    local channels = model:weight(layer, 'kernel').shape[4]
    if o.subset > 0 then channels = math.min(channels, o.subset) end
    local maps = cnnc.Tensor({ h, w, channels })
    local prog = cnnc.progress(channels, name .. ' ' .. layer, { quiet = o.quiet })
    local rose, silent, restarted, ratios = 0, 0, 0, {}
    local t1 = cnnc.clock()
    for c = 0, channels - 1 do
      local x, before, after, dead, tries = ascend(net, name, layer, c)
      -- A silent channel's tile is left flat (mid grey): its start image says nothing.
      if not dead then for p = 0, h * w - 1 do maps.data[p * channels + c] = x.data[p] end end
      local note = dead and string.format('silent on %d start%s', tries + 1, tries == 0 and '' or 's')
        or tries > 0 and string.format('start %d', tries + 1) or ''
      rows[#rows + 1] = { name, layer, c, before, after, note }
      if dead then silent = silent + 1 elseif after > before then rose = rose + 1 end
      if tries > 0 and not dead then restarted = restarted + 1 end
      if not dead then ratios[#ratios + 1] = after / math.max(before, 1e-6) end
      print(string.format('  %s channel %3d: mean %9.4f -> %9.4f%s', layer, c, before, after,
        dead and string.format('  (silent on %d start images: its ReLU passes no gradient)', tries + 1)
        or tries > 0 and string.format('  (from start image %d)', tries + 1) or ''))
      prog:update(c + 1)
    end
    prog:done()
    local file = string.format('%s/%s_%s.png', o.out, name, layer)
    cnnc.write_png(file, cnnc.tile(maps, { scale = 3, gap = 2 }))
    table.sort(ratios)
    print(string.format('%s %s: %d of %d channels rose%s%s%s (%.1f s); wrote %s', name, layer, rose, channels,
      #ratios > 0 and string.format(' (median factor %.1f)', ratios[math.floor((#ratios + 1) / 2)]) or '',
      restarted > 0 and string.format(', %d from a later start', restarted) or '',
      silent > 0 and string.format(', %d silent', silent) or '', cnnc.clock() - t1, file))
  end
end

E.main('filters', function()
  local nets = { { name = 'mnist', model = cnnc.load(E.root .. 'examples/keras_mnist.lua',
    { weights = E.root .. 'examples/fashion_mnist/weights' }) } }
  if o.vgg == 'none' then
    print('vgg_mnist: skipped (--vgg none)')
  elseif not E.exists(o.vgg .. '/dense_1.kernel.npy') then
    print(string.format('vgg_mnist: skipped: no trained weights in %s; train them with\n'
      .. '  luajit examples/experiments/train.lua --model examples/experiments/vgg_mnist.lua', o.vgg))
  else
    nets[2] = { name = 'vgg_mnist',
      model = cnnc.load(E.root .. 'examples/experiments/vgg_mnist.lua', { weights = o.vgg }) }
  end
  choose_layers(nets)
  E.mkdir(o.out)
  for _, n in ipairs(nets) do
    if #n.layers > 0 then visualise(n.name, n.model, n.layers)
    else print(string.format('%s: none of the layers asked for', n.name)) end
  end
  local tsv = E.write_tsv(o.out .. '/activations.tsv', { 'network', 'layer', 'channel', 'before', 'after', 'note' },
    rows)
  print('wrote ' .. tsv)
end)
