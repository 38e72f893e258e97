-- cnnc.onnx.batch_stats: BatchNormalization in training mode (opset 14 on), built from
-- the batch's own statistics (cnnc.layers.moments) and the binary layers, by ONNX's
-- definition. The node mixes the items of the batch, so the whole tensor is the model's
-- input. Used by cnnc.onnx.ops_nn's BatchNormalization handler.

local const = require 'cnnc.onnx.const'

local M = {}

-- Training mode (opset 14 on): Y is normalised with the batch's own statistics, and the
-- running statistics are updated with them (ONNX's definition):
--   current_mean, current_var = mean and population variance over all axes but 1
--   Y = (X - current_mean) / sqrt(current_var + epsilon) * scale + B
--   running_mean = input_mean * momentum + current_mean * (1 - momentum)   (var alike)
function M.training(ctx, node, x)
  ctx:mixes_batch(node, 'computes statistics over the batch (training_mode = 1)')
  local c = x.shape[2]
  local eps, momentum = ctx:attr(node, 'epsilon', 1e-5), ctx:attr(node, 'momentum', 0.9)
  local name_in = ctx:per_channel(x, node)
  local function moment(which, suffix)
    return ctx:layer(node, 'Moments', { moment = which, epsilon = which == 'inv_std' and eps or nil },
      { inputs = { name_in }, shape = { c }, suffix = suffix })
  end
  -- Per-channel values broadcast against X: shape (C, 1, ...) in ONNX terms.
  local bshape = { c }
  for _ = 3, #x.shape do bshape[#bshape + 1] = 1 end
  local function per_channel(t) return { const = const.reshape(t, bshape), shape = bshape } end
  local mean_name = moment('mean', '_mean')
  local mean = ctx:value(mean_name, bshape, { 1 }, { dtype = 1 })
  local inv_std = ctx:value(moment('inv_std', '_inv_std'), bshape, { 1 }, { dtype = 1 })
  local scale = ctx:constant(node, 2, 'scale')
  local bias = ctx:constant(node, 3, 'B')
  for k, t in ipairs({ scale, bias }) do
    if t.n ~= c then ctx:fail(node, 'input %d must hold %d values (one per channel)', k + 1, c) end
  end
  local y = ctx:apply(node, 'Sub', { x, mean })[1]
  y = ctx:apply(node, 'Mul', { y, inv_std })[1]
  y = ctx:apply(node, 'Mul', { y, per_channel(scale) })[1]
  y = ctx:apply(node, 'Add', { y, per_channel(bias) })[1]
  local outs = { y }
  local input_index = { 4, 5 } -- input_mean, input_var
  for k = 2, 3 do
    if node.outputs[k] and node.outputs[k] ~= '' then
      local stat = k == 2 and mean_name or moment('variance', '_var')
      local cur = ctx:value(stat, { c }, { 1 }, { dtype = 1 })
      local input = ctx:runtime(node, input_index[k - 1])
      if input.const and input.const.n ~= c then
        ctx:fail(node, 'input %d must hold %d values (one per channel)', input_index[k - 1], c)
      end
      local a = ctx:apply(node, 'Mul', { input, { const = const.scalar(momentum), shape = {} } })[1]
      local b = ctx:apply(node, 'Mul', { cur, { const = const.scalar(1 - momentum), shape = {} } })[1]
      outs[k] = ctx:apply(node, 'Add', { b, a })[1]
    end
  end
  return outs
end

return M
