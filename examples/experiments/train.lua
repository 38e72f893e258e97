-- Training a network on Fashion-MNIST in the generated C (net:fit), then deploying it:
-- the trained weights become a stand-alone model.c and executable, checked to classify
-- the test set exactly as the net did.
--
--   luajit examples/experiments/train.lua [--model FILE] [--epochs E] [--lr R] [--decay F]
--                                         [--batch-size B] [--threads N] [--subset N] [--seed S]
--
-- 1. The network (by default examples/keras_mnist.lua, Chollet's MNIST convnet) starts
--    from the weights its seeded initializers give; model:compile{train = true} builds it
--    with backward code and writable weights.
-- 2. net:fit trains it on the Fashion-MNIST training set (all 60,000 images by default)
--    with Adam and categorical cross-entropy, the learning rate multiplied by --decay
--    after every epoch; each epoch's line gives the training loss and accuracy and the
--    test set's.
-- 3. net:save_weights writes DIR/weights (`cnnc build --weights` reads that layout);
--    `bin/cnnc build MODEL --weights DIR/weights -o DIR/build` turns them into NAME.c, NAME.h
--    and the executable DIR/build/NAME, which classifies the test images
--    (DIR/test_images.npy) in a process of its own. Its accuracy must equal the net's:
--    the script exits with status 1 if they differ, or if the test accuracy is below
--    --goal (90% on the full data: what the PyTorch-trained weights in
--    examples/fashion_mnist reach).
-- Writes DIR/history.tsv (one row per epoch). Needs the Debian package
-- dataset-fashion-mnist.

local E = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'common.lua')
local cnnc = require 'cnnc'

local USAGE = [[
usage: luajit examples/experiments/train.lua [options]
  --model FILE     the network: a Lua model file with 28x28x1 inputs and 10 outputs
                   (default examples/keras_mnist.lua; examples/experiments/vgg_mnist.lua
                   is the larger one filters.lua shows)
  --epochs E       passes over the training set (default 10)
  --lr R           Adam's learning rate in the first epoch (default 0.001)
  --decay F        the learning rate is multiplied by F after every epoch (default 0.8)
  --batch-size B   images per step (default 32)
  --threads N      threads sharing each batch (default 2)
  --subset N       train on the first N training images and test on the first N/2 test
                   images (default 0: all 60,000 and 10,000)
  --seed S         seed of the initial weights and of the shuffling (default 1, the seed
                   the model files give)
  --goal P         exit with status 1 if the test accuracy is below P percent (default 90
                   on the full data, 0 with --subset)
  --target T       native (default), generic, sse4, avx2, avx512
  --out DIR        where weights/, build/, test_images.npy and history.tsv go
                   (default build/experiments/train/<model name>)
]]

local o = E.options({ model = E.root .. 'examples/keras_mnist.lua', epochs = 10, lr = 0.001, decay = 0.8,
  batch_size = 32, threads = 2, subset = 0, seed = 1, goal = -1, target = 'native', out = '' }, USAGE)
E.whole(o, 'epochs', 1)
E.range(o, 'lr', 1e-9, 10)
E.range(o, 'decay', 1e-6, 1)
E.whole(o, 'batch_size', 1)
E.whole(o, 'threads', 1, 64)
E.whole(o, 'subset', 0)
E.whole(o, 'seed', 0)
if o.goal == -1 then o.goal = o.subset == 0 and 90 or 0 end
E.range(o, 'goal', 0, 100)

local function pct(a) return string.format('%.2f%%', 100 * a) end

-- The class of each row of probabilities (n, k), 0-based.
local function classes_of(p)
  local n, k = p.shape[1], p.shape[2]
  local c = {}
  for i = 0, n - 1 do
    local best = 0
    for j = 1, k - 1 do if p.data[i * k + j] > p.data[i * k + best] then best = j end end
    c[i + 1] = best
  end
  return c
end

local function accuracy(classes, labels)
  local right = 0
  for i, c in ipairs(classes) do if c == labels.data[i - 1] then right = right + 1 end end
  return right / #classes
end

E.main('train', function()
  local t_start = cnnc.clock()
  local n_train = o.subset > 0 and o.subset or nil
  local data = cnnc.datasets.fashion_mnist { train = n_train, test = n_train and math.max(math.floor(n_train / 2), 1) }
  local n, n_test = data.train_x.shape[1], data.test_x.shape[1]

  local model = cnnc.load(o.model)
  model.seed = o.seed
  local t0 = cnnc.clock()
  local net = model:compile { train = true, threads = o.threads, target = o.target }
  if net.input_size ~= 28 * 28 or net.output_size ~= 10 then
    E.fail('%s takes %s and gives %s; Fashion-MNIST needs 28x28x1 images in and 10 classes out', o.model,
      table.concat(net.input_shape, 'x'), table.concat(net.output_shape, 'x'))
  end
  local out = o.out ~= '' and o.out or 'build/experiments/train/' .. net.name
  E.mkdir(out)
  print(string.format('%s (%s): %d trainable weights, compiled for training (%s, %d thread%s) in %.1f s',
    net.name, o.model, net.grad_size, net.target, o.threads, o.threads == 1 and '' or 's', cnnc.clock() - t0))
  local loss0, acc0 = net:evaluate(data.test_x, data.test_y)
  print(string.format('Fashion-MNIST: %d training images, %d test images; seed %d', n, n_test, o.seed))
  print(string.format('before training: test loss %.4f, accuracy %s', loss0, pct(acc0)))
  print(string.format('training: Adam, lr %g x %g per epoch, batch %d, %d epoch%s', o.lr, o.decay, o.batch_size,
    o.epochs, o.epochs == 1 and '' or 's'))

  local opt = cnnc.optim.adam { lr = o.lr }
  local rows = {}
  local t_train = cnnc.clock()
  net:fit { x = data.train_x, y = data.train_y, loss = 'categorical_crossentropy', optimizer = opt,
    epochs = o.epochs, batch_size = o.batch_size, seed = o.seed, quiet = true,
    on_epoch = function(epoch, h)
      local tl, ta = net:evaluate(data.test_x, data.test_y)
      rows[#rows + 1] = { epoch, opt.lr, h.loss, h.accuracy, tl, ta, h.seconds }
      print(string.format('  epoch %2d/%d: lr %.3g, loss %.4f, accuracy %s; test loss %.4f, accuracy %s (%.1f s)',
        epoch, o.epochs, opt.lr, h.loss, pct(h.accuracy), tl, pct(ta), h.seconds))
      io.stdout:flush()
      opt.lr = opt.lr * o.decay
    end }
  local train_s = cnnc.clock() - t_train
  E.write_tsv(out .. '/history.tsv', { 'epoch', 'lr', 'loss', 'accuracy', 'test_loss', 'test_accuracy', 'seconds' },
    rows)
  local probs = net:predict(data.test_x)
  local net_classes = classes_of(probs)
  local net_acc = accuracy(net_classes, data.test_y)
  print(string.format('trained in %.1f s: test accuracy %s (%d of %d)', train_s, pct(net_acc),
    math.floor(net_acc * n_test + 0.5), n_test))

  -- Deployment: the weights as files, a stand-alone build, the executable on the test set.
  local wdir, bdir = out .. '/weights', out .. '/build'
  local count = net:save_weights(wdir)
  print(string.format('wrote %d weight files into %s', count, wdir))
  local cmd = string.format('%s build %s --weights %s -o %s --target %s', E.quote(E.root .. 'bin/cnnc'),
    E.quote(o.model), E.quote(wdir), E.quote(bdir), E.quote(o.target))
  local ok, log = E.run(cmd)
  if not ok then E.fail('cnnc build failed:\n%s\n%s', cmd, log) end
  local exe = bdir .. '/' .. net.name
  print(string.format('built %s.c and %s with cnnc build', exe, exe))
  local images, outputs = out .. '/test_images.npy', out .. '/test_outputs.npy'
  cnnc.write_npy(images, data.test_x)
  ok, log = E.run(string.format('%s %s -o %s', E.quote(exe), E.quote(images), E.quote(outputs)))
  if not ok then E.fail('%s failed on %s:\n%s', exe, images, log) end
  local exe_classes = classes_of(cnnc.read_npy(outputs))
  local exe_acc = accuracy(exe_classes, data.test_y)
  local differ = 0
  for i = 1, n_test do if exe_classes[i] ~= net_classes[i] then differ = differ + 1 end end
  print(string.format('test accuracy: net %s, executable %s (%d of %d predictions differ)', pct(net_acc), pct(exe_acc),
    differ, n_test))
  print(string.format('total %.1f s', cnnc.clock() - t_start))
  if exe_acc ~= net_acc then
    io.stderr:write('train: the executable\'s accuracy differs from the net\'s\n')
    os.exit(1)
  end
  if 100 * net_acc < o.goal then
    io.stderr:write(string.format('train: test accuracy %s is below the goal of %.1f%%\n', pct(net_acc), o.goal))
    os.exit(1)
  end
  if o.goal > 0 then print(string.format('goal reached: %s >= %.1f%%', pct(net_acc), o.goal)) end
end)
