-- cnnc.ffi.train: training a compiled net from Lua (model:compile{train = true}).
--
--   local net = model:compile{train = true, threads = 2}
--   local history = net:fit{x = X, y = Y, loss = 'categorical_crossentropy',
--     optimizer = cnnc.optim.adam{lr = 0.001}, epochs = 5, batch_size = 32,
--     validation = {Xv, Yv}, trainable = {'dense', 'dense_1'}, seed = 1}
--   net:save_weights('trained/')      -- then: cnnc build model.lua --weights trained/
-- fit runs mini-batches of the shuffled data (a seeded permutation per epoch) through the
-- generated C: forward, the loss's gradient (the batch's mean loss) and backward in one
-- call (NAME_backward_batch, the items shared among the net's team of threads with sums
-- that do not depend on their number), then the optimiser's step on the trainable weights
-- (cnnc.ffi.optim) and NAME_refresh. Labels are class indices (N) or target rows (N,
-- outputs). It prints one line per epoch (loss, accuracy, time, and the validation loss
-- and accuracy; quiet = true or $CNNC_QUIET silences it) and returns the history, a list of
-- {loss, accuracy, val_loss, val_accuracy, seconds} per epoch. evaluate gives the loss and
-- accuracy of a data set; save_weights writes every weight in the `--weights DIR` layout.

local ffi = require 'ffi'
local common = require 'cnnc.ffi.common'
local grad = require 'cnnc.ffi.grad'
local progress = require 'cnnc.ffi.progress'
local tensor = require 'cnnc.ffi.tensor'
local util = require 'cnnc.util'

local M = {}

local FIT_OPTS = { x = true, y = true, loss = true, optimizer = true, epochs = true, batch_size = true,
  validation = true, trainable = true, seed = true, shuffle = true, quiet = true, label = true, on_epoch = true }

local function need_training(net, what)
  if not net.training then
    common.fail("%s: net '%s' cannot change its weights: compile it with train = true", what, net.name)
  end
end

local function count(opts, k, default, what)
  local v = opts[k]
  if v == nil then return default end
  if type(v) ~= 'number' or v < 1 or v ~= math.floor(v) then
    common.fail('%s: %s must be a whole number from 1, got %s', what, k, tostring(v))
  end
  return v
end

-- The ranges {offset, size} of the weights to train: all, or those of the named layers.
local function ranges_of(net, names, what)
  local want
  if names ~= nil then
    if type(names) ~= 'table' then common.fail('%s: trainable must be a list of layer names', what) end
    want = {}
    local known = {}
    for _, w in ipairs(net.weight_list) do known[w.key:match('^(.*)%.[^.]+$')] = true end
    for _, n in ipairs(names) do
      if not known[n] then
        local list = {}
        for k in pairs(known) do list[#list + 1] = k end
        table.sort(list)
        common.fail("%s: trainable: no layer '%s' with trainable weights (those with some: %s)", what, tostring(n),
          table.concat(list, ', '))
      end
      want[n] = true
    end
  end
  local ranges = {}
  for _, w in ipairs(net.weight_list) do
    if not want or want[w.key:match('^(.*)%.[^.]+$')] then
      local last = ranges[#ranges]
      if last and last[1] + last[2] == w.offset then last[2] = last[2] + w.size
      else ranges[#ranges + 1] = { w.offset, w.size } end
    end
  end
  return ranges
end

-- x checked as a batch (N, input shape) and targets (N, outputs) from y; returns x, N,
-- targets, and whether the targets are classes (accuracy makes sense).
local function data_of(net, x, y, what)
  if type(x) == 'table' and not tensor.is_tensor(x) then x = tensor.from_table(x) end
  tensor.check(x, what .. ' (x)', 'float32')
  local n, batched = net:batch_of(x, what .. ' (x)')
  if not batched then common.fail('%s: x must be a batch (N, %s)', what, util.shape_str(net.input_shape):sub(2, -2)) end
  if y == nil then common.fail('%s: y (labels or targets) is missing', what) end
  local t = grad.targets(net, y, n, what .. ' (y)')
  -- class targets: every row one-hot
  local classes = net.output_size > 1
  for i = 0, n - 1 do
    local ones, zeros = 0, 0
    for c = 0, net.output_size - 1 do
      local v = t.data[i * net.output_size + c]
      if v == 1 then ones = ones + 1 elseif v == 0 then zeros = zeros + 1 end
    end
    if ones ~= 1 or zeros ~= net.output_size - 1 then classes = false; break end
  end
  return x, n, t, classes
end

local function argmax(p, base, k)
  local best, at = -math.huge, 0
  for c = 0, k - 1 do
    local v = p[base + c]
    if v > best then best, at = v, c end
  end
  return at
end

-- Loss and accuracy of outputs (n, k) against targets (float32 pointers).
local function score(loss, out, t, n, k, classes)
  local sum, right = 0, 0
  for i = 0, n - 1 do
    local base = i * k
    for c = 0, k - 1 do
      local y, tc = out[base + c], t[base + c]
      if loss == 'mse' then sum = sum + (y - tc) ^ 2 / k
      elseif tc ~= 0 then sum = sum - tc * math.log(math.min(math.max(y, 1e-7), 1 - 1e-7)) end
    end
    if classes and argmax(out, base, k) == argmax(t, base, k) then right = right + 1 end
  end
  return sum / math.max(n, 1), classes and right / math.max(n, 1) or nil
end

local function loss_name(opts, what)
  local loss = opts.loss or 'categorical_crossentropy'
  if not grad.LOSSES[loss] then
    common.fail("%s: loss '%s': the losses are categorical_crossentropy and mse", what, tostring(loss))
  end
  return loss
end

local EVAL_OPTS = { loss = true, batch_size = true }

-- The mean loss and the accuracy (nil unless y holds classes) of the net on x, y.
function M.evaluate(net, x, y, opts)
  local what = 'net:evaluate'
  opts = common.check_opts(opts, EVAL_OPTS, what)
  local loss = loss_name(opts, what)
  local n, t, classes
  x, n, t, classes = data_of(net, x, y, what)
  local bs = count(opts, 'batch_size', 256, what)
  local out = tensor.new({ bs, net.output_size })
  local total, right = 0, 0
  for first = 1, n, bs do
    local last = math.min(first + bs - 1, n)
    local m = last - first + 1
    local o = out:slice(1, m)
    net:predict(x:slice(first, last), o)
    local l, a = score(loss, o.data, t.data + (first - 1) * net.output_size, m, net.output_size, classes)
    total, right = total + l * m, right + (a or 0) * m
  end
  return total / math.max(n, 1), classes and right / math.max(n, 1) or nil
end

local function pct(a) return a and string.format('%.2f%%', 100 * a) or '-' end

function M.fit(net, opts)
  local what = 'net:fit'
  need_training(net, what)
  opts = common.check_opts(opts, FIT_OPTS, what)
  local loss = loss_name(opts, what)
  local x, n, t, classes = data_of(net, opts.x, opts.y, what)
  local epochs = count(opts, 'epochs', 1, what)
  local bs = math.min(count(opts, 'batch_size', 32, what), n)
  local optim = require 'cnnc.ffi.optim'
  local opt = opts.optimizer or optim.adam {}
  if not optim.is_optimizer(opt) then common.fail('%s: optimizer must be cnnc.optim.sgd{...} or cnnc.optim.adam{...}', what) end
  local val
  if opts.validation ~= nil then
    if type(opts.validation) ~= 'table' or opts.validation[1] == nil or opts.validation[2] == nil then
      common.fail('%s: validation must be {x, y}', what)
    end
    val = { data_of(net, opts.validation[1], opts.validation[2], what .. ' (validation)') }
  end
  local ranges = ranges_of(net, opts.trainable, what)
  local rng = require('cnnc.ffi.learn').rng(opts.seed or 1, 'fit')
  local k, isize = net.output_size, net.input_size
  local xb, tb = tensor.new({ bs, isize }), tensor.new({ bs, k })
  local ob, lb = tensor.new({ bs, k }), tensor.new({ bs })
  local gw = tensor.new({ math.max(net.grad_size, 1) })
  local w = net.lib.cnnc_so_weights()
  local quiet = opts.quiet or (os.getenv('CNNC_QUIET') or '') ~= ''
  local label = opts.label or ('fit ' .. net.name)
  local history = {}
  local nb = math.ceil(n / bs)
  for epoch = 1, epochs do
    local order = opts.shuffle == false and nil or require('cnnc.ffi.learn').permutation(n, rng)
    local prog = progress.new(nb, string.format('%s epoch %d/%d', label, epoch, epochs), { quiet = true })
    local sum, right = 0, 0
    for b = 0, nb - 1 do
      local first, m = b * bs, math.min(bs, n - b * bs)
      for i = 0, m - 1 do
        local j = order and order[first + i] or (first + i)
        ffi.copy(xb.data + i * isize, x.data + j * isize, 4 * isize)
        ffi.copy(tb.data + i * k, t.data + j * k, 4 * k)
      end
      local out, _, _, losses = grad.run(net, xb, m, { loss = grad.LOSSES[loss], targets = tb, scale = 1 / m, gw = gw,
        no_dx = true, out = ob, losses = lb })
      for i = 0, m - 1 do
        sum = sum + losses.data[i]
        if classes and argmax(out.data, i * k, k) == argmax(tb.data, i * k, k) then right = right + 1 end
      end
      opt:step(net, w, gw, ranges)
      net.lib.cnnc_so_refresh()
      prog:update(b + 1)
    end
    local h = { loss = sum / n, accuracy = classes and right / n or nil, seconds = progress.clock() - prog.start }
    if val then h.val_loss, h.val_accuracy = M.evaluate(net, val[1], opts.validation[2], { loss = loss }) end
    history[epoch] = h
    if not quiet then
      io.stderr:write(string.format('%s epoch %d/%d: loss %.4f, accuracy %s%s, %.2f s\n', label, epoch, epochs, h.loss,
        pct(h.accuracy), val and string.format(', val_loss %.4f, val_accuracy %s', h.val_loss, pct(h.val_accuracy))
        or '', h.seconds))
    end
    if opts.on_epoch then opts.on_epoch(epoch, h) end
  end
  return history
end

-- The current value of every weight: {layer, name, tensor (float32, Keras shape)} in
-- graph order; trainable ones from a training net's weights, the others as compiled.
function M.weights(net)
  local live = {}
  if net.training then
    local w = net.lib.cnnc_so_weights()
    for _, e in ipairs(net.weight_list) do live[e.key] = { e.offset, e.size } end
    net.live = w
  end
  local list = {}
  for _, n in ipairs(net.typed.nodes) do
    for _, wt in ipairs(n.weights or {}) do
      local t = tensor.from_tensor(wt.tensor, 'float32')
      local r = live[n.name .. '.' .. wt.name]
      if r then ffi.copy(t.data, net.live + r[1], 4 * r[2]) end
      list[#list + 1] = { layer = n.name, name = wt.name, tensor = t }
    end
  end
  return list
end

-- Writes DIR/<layer>.<weight>.npy for every weight (the directory made if needed); on a
-- failure, what was written is removed.
function M.save_weights(net, dir)
  if type(dir) ~= 'string' then common.fail('net:save_weights: expected a directory name, got %s', type(dir)) end
  common.refuse_in_model_file('net:save_weights')
  local kind = util.path_kind(dir)
  if kind and kind ~= 'directory' then common.fail('net:save_weights: %s exists and is not a directory', dir) end
  if not kind then
    local ok = os.execute('mkdir -p ' .. require('cnnc.cli').shell_quote(dir) .. ' 2>/dev/null')
    if ok ~= 0 and ok ~= true then common.fail('net:save_weights: cannot create the directory %s', dir) end
  end
  local arrays = require 'cnnc.ffi.arrays'
  local written = {}
  for _, e in ipairs(M.weights(net)) do
    local path = string.format('%s/%s.%s.npy', dir, e.layer, e.name)
    local ok, err = pcall(arrays.write_npy, path, e.tensor)
    if not ok then
      for _, p in ipairs(written) do os.remove(p) end
      if not kind then os.remove(dir) end
      common.fail('net:save_weights: %s', tostring(err))
    end
    written[#written + 1] = path
  end
  return #written
end

return M
