-- bench/train_bench.lua: one training epoch of a network with cnnc's net:fit, timed; the
-- other side of bench/torch_train.py.
--
--   luajit bench/train_bench.lua [MODEL.lua] [--images N] [--threads T] [--target T]
--                                [--cflags FLAGS] [--batch B] [--lr LR] [--seed S]
--
-- MODEL (default examples/keras_mnist.lua) from its seeded initial weights, compiled for
-- training (`model:compile{train = true, threads = T, target = T, cflags = FLAGS}`; the
-- library lands in cnnc's build cache, so the rounds after the first compile nothing),
-- then one epoch of `net:fit` on the first N (default all 60,000) images of
-- Fashion-MNIST's training set (cnnc.datasets.fashion_mnist: Debian's
-- dataset-fashion-mnist), batch B (32), Adam (lr 0.001), categorical crossentropy, shuffled
-- with seed S. The time is fit's own figure for the epoch (wall clock: the permutation,
-- gathering each batch, forward, loss, backward, Adam's step and the refresh of the
-- packed weights), loading the data and compiling excluded.
--
-- Prints `train: cnnc threads T images N batch B seconds S loss L accuracy A` (loss and
-- accuracy: the epoch's mean as the batches saw them), or `cnnc-train: skipped (REASON)`
-- when the data set is missing (exit 0).

package.path = 'compiler/?.lua;' .. package.path
local cnnc = require 'cnnc'

local o = { model = 'examples/keras_mnist.lua', images = 60000, threads = 1, target = 'native', cflags = nil,
  batch = 32, lr = 0.001, seed = 1 }
local i = 1
while i <= #arg do
  local a, v = arg[i], arg[i + 1]
  local key = a:match('^%-%-(.+)$')
  if key and o[key] ~= nil or key == 'cflags' then
    if v == nil then io.stderr:write('train_bench: ', a, ' needs a value\n'); os.exit(2) end
    o[key] = type(o[key]) == 'number' and assert(tonumber(v), a .. ' needs a number') or v
    i = i + 2
  elseif not key then
    o.model = a
    i = i + 1
  else
    io.stderr:write('train_bench: unknown option ', a, '\n')
    os.exit(2)
  end
end

local ok, data = pcall(cnnc.datasets.fashion_mnist, { train = o.images, test = 1 })
if not ok then
  print('cnnc-train: skipped (' .. (type(data) == 'table' and data.msg or tostring(data)) .. ')')
  os.exit(0)
end
local model = cnnc.load(o.model)
local net = model:compile { train = true, threads = o.threads, target = o.target, cflags = o.cflags }
print(string.format('cnnc-train: %s, threads %d, %s', tostring(net), o.threads, net.cache_hit and 'cached build'
  or 'compiled'))
local h = net:fit { x = data.train_x, y = data.train_y, loss = 'categorical_crossentropy',
  optimizer = cnnc.optim.adam { lr = o.lr }, epochs = 1, batch_size = o.batch, seed = o.seed, quiet = true }
print(string.format('train: cnnc threads %d images %d batch %d seconds %.3f loss %.4f accuracy %.4f', o.threads,
  data.train_x.shape[1], o.batch, h[1].seconds, h[1].loss, h[1].accuracy))
