-- cnnc.ffi.grad: gradients of a compiled net (model:compile{backward = true}) from Lua.
--
--   local dx, dw = net:backward(x, dy)      -- dw['conv2d.kernel'], dw['dense.bias'], ...
--   local dx, v = net:gradient(x, {layer = 'conv2d_1', channel = 5})   -- filter visualisation
--   local dx, v = net:gradient(x, {unit = 3})                           -- saliency
--   local dx, v = net:gradient(x, {loss = 'categorical_crossentropy', y = label})
-- backward takes the gradient dy of the output and gives that of the input and of every
-- trainable weight (Keras names and shapes, summed over a batch); gradient builds dy from
-- a common objective and gives the input's gradient and the objective's value:
--   layer, channel   the mean of one channel (0-based, as Keras numbers filters) of a
--                    layer's output; the net's first layers up to that one are compiled
--                    once (with backward code) for it
--   unit             one value of the output (0-based flat index)
--   loss, y          a loss against y: 'categorical_crossentropy' (on probabilities, as
--                    Keras's; y a class index, a tensor of them, or a tensor of target
--                    rows) or 'mse' (y the targets)
-- With a batch x (N, ...) each item's objective gives its own slice of dx, and the value
-- is a float64 tensor (N) of each item's; for one item, a number. Everything runs in the
-- generated C (its batch entry point, on the net's team of threads when it has one).

local common = require 'cnnc.ffi.common'
local tensor = require 'cnnc.ffi.tensor'
local util = require 'cnnc.util'

local M = {}

M.LOSSES = { categorical_crossentropy = 1, mse = 2 }

local function need_backward(net, what)
  if not net.weight_list then
    common.fail("%s: net '%s' has no backward code: compile it with backward = true (or train = true)", what, net.name)
  end
end

-- Workspace of the net's backward batches (made on first use).
local function workspace(net)
  if not net.bworkspace then
    local n = tonumber(net.lib.cnnc_so_backward_workspace_size(net.team_threads or 1))
    net.bworkspace = tensor.new({ math.max(n, 1) }, 'uint8')
  end
  return net.bworkspace.data
end

-- The batch size of x, whether it has a batch axis; x as a float32 tensor.
local function input_of(net, x, what)
  if type(x) == 'table' and not tensor.is_tensor(x) then x = tensor.from_table(x) end
  tensor.check(x, what, 'float32')
  local b, batched = net:batch_of(x, what)
  return x, b, batched
end

-- Runs the batch entry point: returns outputs (b, out), dx (x's shape), weight gradients
-- (grad size) and, with a loss, the items' losses.
-- opts: {dy (the output gradients), or loss (M.LOSSES), targets and scale; no_dx = true:
-- skip the input gradient; out, gw, losses: tensors to reuse}.
function M.run(net, x, b, opts)
  local out = opts.out or tensor.new({ b, math.max(net.output_size, 1) })
  local dx = not opts.no_dx and tensor.new(x.shape) or nil
  local gw = opts.gw or tensor.new({ math.max(net.grad_size, 1) })
  local losses = opts.loss and (opts.losses or tensor.new({ math.max(b, 1) })) or nil
  if b > 0 then
    net.lib.cnnc_so_backward_batch(net.team, b, x.data, out.data, opts.dy and opts.dy.data or nil,
      dx and dx.data or nil, gw.data, opts.loss or 0, opts.targets and opts.targets.data or nil,
      opts.scale or 1, losses and losses.data or nil, workspace(net))
  end
  return out, dx, gw, losses
end

-- The weight gradients by key, each a tensor in its Keras shape.
function M.by_key(net, gw)
  local dw = {}
  for _, w in ipairs(net.weight_list) do
    local t = tensor.new(w.shape)
    require('ffi').copy(t.data, gw.data + w.offset, 4 * w.size)
    dw[w.key] = t
  end
  return dw
end

function M.backward(net, x, dy)
  need_backward(net, 'net:backward')
  if net.inputs then common.fail('net:backward: models with several inputs or outputs have no backward code') end
  local b, batched
  x, b, batched = input_of(net, x, 'net:backward')
  if type(dy) == 'table' and not tensor.is_tensor(dy) then dy = tensor.from_table(dy) end
  tensor.check(dy, 'net:backward (dy)', 'float32')
  local want = util.copy(net.output_shape)
  if batched then table.insert(want, 1, b) end
  if not util.shape_eq(dy.shape, want) then
    common.fail('net:backward: dy has shape %s, the gradient of the output%s needs %s', util.shape_str(dy.shape),
      batched and string.format(' of %d items', b) or '', util.shape_str(want))
  end
  local _, dx, gw = M.run(net, x, b, { dy = dy })
  return dx, M.by_key(net, gw)
end

-- Targets (b, output size) from y: class indices (a number, a table or a tensor of b
-- integers) or target rows (a tensor of b * output size values).
function M.targets(net, y, b, what)
  local t = tensor.new({ b, net.output_size })
  if type(y) == 'number' then y = { y } end
  if type(y) == 'table' and not tensor.is_tensor(y) then y = tensor.from_table(y, 'float64') end
  tensor.check(y, what)
  if y.n == b * net.output_size then
    for i = 0, y.n - 1 do t.data[i] = tonumber(y.data[i]) end
  elseif y.n == b then
    for i = 0, b - 1 do
      local k = tonumber(y.data[i])
      if k ~= math.floor(k) or k < 0 or k >= net.output_size then
        common.fail('%s: label %d is %s; class labels are 0 .. %d', what, i + 1, tostring(k), net.output_size - 1)
      end
      t.data[i * net.output_size + k] = 1
    end
  else
    common.fail('%s: y has %d values: give %d class labels or %d target values (%d items x %d outputs)', what, y.n,
      b, b * net.output_size, b, net.output_size)
  end
  return t
end

local GRADIENT_OPTS = { layer = true, channel = true, unit = true, loss = true, y = true }

function M.gradient(net, x, objective)
  need_backward(net, 'net:gradient')
  local what = 'net:gradient'
  objective = common.check_opts(objective, GRADIENT_OPTS, what)
  local b, batched
  x, b, batched = input_of(net, x, what)
  local values = tensor.new({ math.max(b, 1) }, 'float64')
  local dx
  if objective.layer ~= nil then
    if objective.channel == nil then common.fail('%s: {layer = ...} needs channel = (0-based)', what) end
    if objective.unit or objective.loss then common.fail('%s: give one objective: layer, unit or loss', what) end
    net.prefixes = net.prefixes or {}
    local sub = net.prefixes[objective.layer]
    if not sub then
      sub = net.compile_prefix(objective.layer, what)
      net.prefixes[objective.layer] = sub
    end
    local shape = sub.output_shape
    local c, channels = objective.channel, shape[#shape]
    if type(c) ~= 'number' or c ~= math.floor(c) or c < 0 or c >= channels then
      common.fail("%s: channel %s: layer '%s' has channels 0 .. %d", what, tostring(c), objective.layer, channels - 1)
    end
    local positions = sub.output_size / channels
    local dy = tensor.new({ math.max(b, 1), sub.output_size })
    for i = 0, b - 1 do
      for p = 0, positions - 1 do dy.data[i * sub.output_size + p * channels + c] = 1 / positions end
    end
    local out
    out, dx = M.run(sub, x, b, { dy = dy })
    for i = 0, b - 1 do
      local s = 0
      for p = 0, positions - 1 do s = s + out.data[i * sub.output_size + p * channels + c] end
      values.data[i] = s / positions
    end
  elseif objective.unit ~= nil then
    if objective.loss then common.fail('%s: give one objective: layer, unit or loss', what) end
    local k = objective.unit
    if type(k) ~= 'number' or k ~= math.floor(k) or k < 0 or k >= net.output_size then
      common.fail('%s: unit %s: the output has units 0 .. %d', what, tostring(k), net.output_size - 1)
    end
    local dy = tensor.new({ math.max(b, 1), net.output_size })
    for i = 0, b - 1 do dy.data[i * net.output_size + k] = 1 end
    local out
    out, dx = M.run(net, x, b, { dy = dy })
    for i = 0, b - 1 do values.data[i] = out.data[i * net.output_size + k] end
  elseif objective.loss ~= nil then
    local code = M.LOSSES[objective.loss]
    if not code then
      common.fail("%s: loss '%s': the losses are categorical_crossentropy and mse", what, tostring(objective.loss))
    end
    if objective.y == nil then common.fail('%s: {loss = ...} needs y = (labels or targets)', what) end
    local t = M.targets(net, objective.y, b, what .. ' (y)')
    local _, losses
    _, dx, _, losses = M.run(net, x, b, { loss = code, targets = t, scale = 1 })
    for i = 0, b - 1 do values.data[i] = losses.data[i] end
  else
    common.fail('%s: give an objective: {layer =, channel =}, {unit =} or {loss =, y =}', what)
  end
  if not batched then return dx, values.data[0] end
  return dx, values
end

return M
