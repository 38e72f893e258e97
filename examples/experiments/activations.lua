-- Feature maps: what every convolution layer of a network computes for one image, drawn
-- as a grid with one tile per channel (each tile stretched to its own range, white gaps).
--
--   luajit examples/experiments/activations.lua [--image PATH | --index I] [--out DIR]
--
-- By default the Keras MNIST network with the weights trained on Fashion-MNIST
-- (examples/fashion_mnist) looks at examples/data/fashion0.pgm; --index I takes test
-- image I (1-based) of Fashion-MNIST instead. Writes DIR/input.png and one
-- DIR/<n>_<layer>.png per convolution layer, and prints every layer's output range.

local E = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'common.lua')
local cnnc = require 'cnnc'

local USAGE = [[
usage: luajit examples/experiments/activations.lua [options]
  --image PATH     input image (PGM, PPM or PNG; default examples/data/fashion0.pgm)
  --index I        use Fashion-MNIST test image I (1-based) instead
  --model FILE     model file (default examples/keras_mnist.lua)
  --weights DIR    its weights (default examples/fashion_mnist/weights; 'none': seeded)
  --target T       native (default), generic, sse4, avx2, avx512
  --out DIR        where the PNGs go (default build/experiments/activations)
]]

local o = E.options({ image = E.root .. 'examples/data/fashion0.pgm', index = 0, model = E.root .. 'examples/keras_mnist.lua',
  weights = E.root .. 'examples/fashion_mnist/weights', target = 'native', out = 'build/experiments/activations' }, USAGE)
E.whole(o, 'index', 0, 10000)

E.main('activations', function()
  local model = cnnc.load(o.model, { weights = o.weights ~= 'none' and o.weights or nil })
  local net = model:compile { target = o.target }
  local x, what
  if o.index > 0 then
    local data = cnnc.datasets.fashion_mnist { train = 1, test = o.index }
    x = data.test_x:item(o.index)
    what = string.format('Fashion-MNIST test image %d (%s)', o.index, data.classes[data.test_y.data[o.index - 1] + 1])
  else
    x = cnnc.read_image(o.image)
    what = o.image
  end
  E.mkdir(o.out)
  cnnc.write_png(o.out .. '/input.png', cnnc.tile(x, { scale = 4, normalize = 'none' }))
  print(string.format('%s on %s', net.name, what))
  local acts = net:activations(x)
  local written = { o.out .. '/input.png' }
  for i, a in ipairs(acts) do
    local lo, hi = a.data:range()
    local file = ''
    if a.op:match('^Conv') and #a.shape == 3 then
      -- Small maps are scaled up so a tile is at least about 64 pixels across.
      local scale = math.max(1, math.floor(64 / a.shape[1]))
      file = string.format('%s/%d_%s.png', o.out, i, a.name)
      cnnc.write_png(file, cnnc.tile(a.data, { scale = scale, gap = 2 }))
      written[#written + 1] = file
    end
    print(string.format('  %-18s %-14s %-14s range %9.4f .. %9.4f  %s', a.name, a.op,
      table.concat(a.shape, 'x'), lo, hi, file))
  end
  local y = net:predict(x)
  if net.output_size == 10 and #net.output_shape == 1 then
    local best = 0
    for k = 1, 9 do if y.data[k] > y.data[best] then best = k end end
    print(string.format('prediction: class %d (%s), p = %.3f', best, cnnc.datasets.FASHION_MNIST_CLASSES[best + 1],
      y.data[best]))
  end
  print(string.format('wrote %d images into %s', #written, o.out))
end)
