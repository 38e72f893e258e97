-- cnnc.ffi.datasets: data sets Debian ships, as tensors ready for a compiled model.
--
-- Fashion-MNIST (Debian package dataset-fashion-mnist, Zalando's 28x28 grey images of 10
-- kinds of clothing: 60,000 for training, 10,000 for testing) read from its gzip-compressed
-- IDX files. Images become float32 (N, 28, 28, 1) in [0, 1] (the model's channels-last
-- input), labels uint8 (N) in 0..9. `train` / `test` take the first n of each set (both
-- sets come shuffled, so the first n are a fair sample).

local common = require 'cnnc.ffi.common'
local arrays = require 'cnnc.ffi.arrays'

local M = {}

M.FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist'
M.FASHION_MNIST_CLASSES = { 'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker',
  'Bag', 'Ankle boot' }

local function part(dir, prefix, n, what)
  local ipath, lpath = dir .. '/' .. prefix .. '-images-idx3-ubyte.gz', dir .. '/' .. prefix .. '-labels-idx1-ubyte.gz'
  local f = io.open(ipath, 'rb')
  if not f then
    common.fail('%s: %s not found: install the Debian package dataset-fashion-mnist '
      .. '(apt-get install dataset-fashion-mnist) or pass dir =', what, ipath)
  end
  f:close()
  local images, labels = arrays.read_idx(ipath), arrays.read_idx(lpath)
  if #images.shape ~= 3 or #labels.shape ~= 1 or images.shape[1] ~= labels.shape[1] then
    common.fail('%s: %s and %s do not match (shapes %s and %s)', what, ipath, lpath,
      table.concat(images.shape, 'x'), table.concat(labels.shape, 'x'))
  end
  local count = images.shape[1]
  if n then
    if type(n) ~= 'number' or n < 1 or n ~= math.floor(n) then
      common.fail('%s: %s = %s: expected a positive integer', what, prefix, tostring(n))
    end
    count = math.min(n, count)
  end
  local x = images:slice(1, count):astype('float32', 1 / 255)
  return x:reshape({ count, images.shape[2], images.shape[3], 1 }), labels:slice(1, count):clone()
end

-- opts: {train = n, test = n, dir = directory}. Returns {train_x, train_y, test_x, test_y, classes}.
function M.fashion_mnist(opts)
  common.refuse_in_model_file('cnnc.datasets.fashion_mnist')
  opts = common.check_opts(opts, { train = true, test = true, dir = true }, 'datasets.fashion_mnist')
  local dir = opts.dir or M.FASHION_MNIST_DIR
  local d = { classes = M.FASHION_MNIST_CLASSES }
  d.train_x, d.train_y = part(dir, 'train', opts.train, 'datasets.fashion_mnist')
  d.test_x, d.test_y = part(dir, 't10k', opts.test, 'datasets.fashion_mnist')
  return d
end

return M
