-- cnnc.runner: the reference interpreter over a batch, as `cnnc run` and tests use it.
--
-- Accepts an input whose shape is the model's, or the model's with a leading batch
-- dimension, or a flat array whose length is a multiple of the input size (raw files);
-- returns the outputs as one float32 tensor (batch dimension kept iff the input had one).
-- A model with several inputs or outputs (or none) takes the items of its whole input
-- buffer (a flat array) and gives those of its output buffer, or, through `run_tensors`,
-- one tensor per input and per output.

local reference = require 'cnnc.reference'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'
local ir = require 'cnnc.ir'

local M = {}

-- Number of items in x for graph g, and whether x carried a batch dimension.
function M.batch_of(g, x, path)
  if ir.is_multi(g) then
    local n_in = ir.io(g).input_size
    if n_in == 0 then return 1, false end
    if x.n % n_in == 0 and x.n > 0 then return x.n / n_in, x.n ~= n_in end
    util.fail({ file = path }, 'input has %d values, not a multiple of the %d values of the model\'s inputs', x.n, n_in)
  end
  local ishape, n_in = g.input.shape, util.prod(g.input.shape)
  if util.shape_eq(x.shape, ishape) then return 1, false end
  if #x.shape == #ishape + 1 then
    local rest = { unpack(x.shape, 2) }
    if util.shape_eq(rest, ishape) then return x.shape[1], true end
  end
  if #x.shape == 1 and x.n % n_in == 0 and x.n > 0 then
    return x.n / n_in, x.n ~= n_in
  end
  util.fail({ file = path }, 'input has shape %s but the model expects %s (or a batch of them)',
    util.shape_str(x.shape), util.shape_str(ishape))
end

-- ctype: of the returned tensor, 'float' (default) or 'double' (the interpreter's values
-- unrounded).
function M.run_batch(g, x, path, ctype)
  return util.try(function()
    local b, batched = M.batch_of(g, x, path)
    local io = ir.io(g)
    local n_in = io.input_size
    local oshape = ir.is_multi(g) and { io.output_size } or ir.shape_of(g, g.output)
    local n_out = util.prod(oshape)
    local out_shape = util.copy(oshape)
    if batched then table.insert(out_shape, 1, b) end
    local out = tensor.new(out_shape, ctype or 'float')
    local item = tensor.new(ir.is_multi(g) and { n_in } or g.input.shape, 'float')
    for i = 0, b - 1 do
      for k = 0, n_in - 1 do item.data[k] = x.data[i * n_in + k] end
      local y = reference.run(g, item)
      for k = 0, n_out - 1 do out.data[i * n_out + k] = y.data[k] end
    end
    return out
  end)
end

-- xs: one tensor per model input (each one item or a batch, all of as many items).
-- Returns one float32 (or ctype) tensor per output (with a batch axis iff an input had one).
function M.run_tensors(g, xs, paths, ctype)
  return util.try(function()
    local io = ir.io(g)
    if #xs ~= #io.inputs then util.fail(nil, 'the model takes %d inputs, got %d', #io.inputs, #xs) end
    local items, batched = 1, false
    for k, v in ipairs(io.inputs) do
      local x = xs[k]
      local n, b
      if util.shape_eq(x.shape, v.shape) then n, b = 1, false
      elseif #x.shape == #v.shape + 1 and util.shape_eq({ unpack(x.shape, 2) }, v.shape) then n, b = x.shape[1], true
      elseif #x.shape == 1 and x.n % v.size == 0 and x.n > 0 then n, b = x.n / v.size, x.n ~= v.size
      else
        util.fail({ file = paths and paths[k] }, "input '%s' has shape %s but the model expects %s (or a batch of them)",
          v.label, util.shape_str(x.shape), util.shape_str(v.shape))
      end
      if k > 1 and n ~= items then
        util.fail({ file = paths and paths[k] }, "input '%s' holds %d items, the first input %d", v.label, n, items)
      end
      items, batched = n, batched or b
    end
    local flat = tensor.new({ items * io.input_size }, 'float')
    for i = 0, items - 1 do
      for k, v in ipairs(io.inputs) do
        for j = 0, v.size - 1 do flat.data[i * io.input_size + v.offset + j] = xs[k].data[i * v.size + j] end
      end
    end
    local outs = {}
    for k, o in ipairs(io.outputs) do
      local shape = util.copy(o.shape)
      if batched then table.insert(shape, 1, items) end
      outs[k] = tensor.new(shape, ctype or 'float')
    end
    for i = 0, items - 1 do
      local item = tensor.new({ io.input_size }, 'float')
      for j = 0, io.input_size - 1 do item.data[j] = flat.data[i * io.input_size + j] end
      local y = reference.run(g, item)
      for k, o in ipairs(io.outputs) do
        for j = 0, o.size - 1 do outs[k].data[i * o.size + j] = y.data[o.offset + j] end
      end
    end
    return outs
  end)
end

-- The reference backward pass (cnnc.backward) over a batch, for a model with one input
-- and one output. x: as run_batch takes it; dy: the output gradient, shaped as the
-- output run_batch gives for x (or flat with as many values). Returns dx (double, x's
-- shape) and the weight gradients summed over the items (the gradient of the summed
-- objective; {key -> double tensor}) and the trainable list (cnnc.backward.trainable).
function M.backward_batch(g, x, dy, xpath, dypath)
  local backward = require 'cnnc.backward'
  return util.try(function()
    backward.check(g)
    local b, batched = M.batch_of(g, x, xpath)
    local want = util.copy(ir.shape_of(g, g.output))
    if batched then table.insert(want, 1, b) end
    if not util.shape_eq(dy.shape, want) and not (#dy.shape == 1 and dy.n == util.prod(want)) then
      util.fail({ file = dypath }, 'the output gradient has shape %s but the output is %s%s: expected %s',
        util.shape_str(dy.shape), util.shape_str(ir.shape_of(g, g.output)),
        batched and string.format(' and the input holds %d items', b) or ' (the input has no batch axis)',
        util.shape_str(want))
    end
    return M.backward_items(g, x, dy, b, x.shape)
  end)
end

-- The items of the flat buffers x and dy through cnnc.backward; dx gets dx_shape.
function M.backward_items(g, x, dy, items, dx_shape)
  local backward = require 'cnnc.backward'
  local io = ir.io(g)
  local n_in, n_out = io.input_size, io.output_size
  local dx = tensor.new(dx_shape, 'double')
  local item = tensor.new({ n_in }, 'float')
  local dyi = tensor.new({ n_out }, 'double')
  local sums, order
  for i = 0, items - 1 do
    for k = 0, n_in - 1 do item.data[k] = x.data[i * n_in + k] end
    for k = 0, n_out - 1 do dyi.data[k] = dy.data[i * n_out + k] end
    local d, w, _, o = backward.run(g, item, dyi)
    order = o
    for k = 0, n_in - 1 do dx.data[i * n_in + k] = d.data[k] end
    if not sums then sums = w
    else
      for key, t in pairs(w) do
        local s = sums[key]
        for k = 0, t.n - 1 do s.data[k] = s.data[k] + t.data[k] end
      end
    end
  end
  if not sums then -- no items: zero gradients
    sums, order = {}, backward.trainable(g)
    for _, wt in ipairs(order) do sums[wt.key] = tensor.new(wt.shape, 'double') end
  end
  return dx, sums, order
end

-- The outputs of run_tensors as text, item by item, each output named.
function M.format_tensors(outs, g)
  local io = ir.io(g)
  local lines = {}
  local items = io.outputs[1] and (#outs[1].shape > #io.outputs[1].shape and outs[1].shape[1] or 1) or 0
  for i = 0, items - 1 do
    for k, o in ipairs(io.outputs) do
      local vals = {}
      for j = 0, math.min(o.size, 64) - 1 do vals[#vals + 1] = string.format('%.6g', outs[k].data[i * o.size + j]) end
      if o.size > 64 then vals[#vals + 1] = string.format('... (%d more)', o.size - 64) end
      lines[#lines + 1] = string.format('output[%d] %s shape %s: %s', i, o.label, util.shape_str(o.shape),
        table.concat(vals, ' '))
    end
  end
  return table.concat(lines, '\n')
end

function M.format(out, g)
  local lines = {}
  local n_out = util.prod(ir.shape_of(g, g.output))
  for i = 0, out.n / n_out - 1 do
    local vals = {}
    for k = 0, math.min(n_out, 64) - 1 do vals[#vals + 1] = string.format('%.6g', out.data[i * n_out + k]) end
    if n_out > 64 then vals[#vals + 1] = string.format('... (%d more)', n_out - 64) end
    lines[#lines + 1] = string.format('output[%d] shape %s: %s', i, util.shape_str(ir.shape_of(g, g.output)),
      table.concat(vals, ' '))
  end
  return table.concat(lines, '\n')
end

return M
