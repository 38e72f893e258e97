-- cnnc.runner: the reference interpreter over a batch, as `cnnc run` and tests use it.
--
-- Accepts an input whose shape is the model's, or the model's with a leading batch
-- dimension, or a flat array whose length is a multiple of the input size (raw files);
-- returns the outputs as one float32 tensor (batch dimension kept iff the input had one).

local reference = require 'cnnc.reference'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'
local ir = require 'cnnc.ir'

local M = {}

-- Number of items in x for graph g, and whether x carried a batch dimension.
function M.batch_of(g, x, path)
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

function M.run_batch(g, x, path)
  return util.try(function()
    local b, batched = M.batch_of(g, x, path)
    local n_in = util.prod(g.input.shape)
    local oshape = ir.shape_of(g, g.output)
    local n_out = util.prod(oshape)
    local out_shape = util.copy(oshape)
    if batched then table.insert(out_shape, 1, b) end
    local out = tensor.new(out_shape, 'float')
    local item = tensor.new(g.input.shape, 'float')
    for i = 0, b - 1 do
      for k = 0, n_in - 1 do item.data[k] = x.data[i * n_in + k] end
      local y = reference.run(g, item)
      for k = 0, n_out - 1 do out.data[i * n_out + k] = y.data[k] end
    end
    return out
  end)
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
