-- cnnc.reference: the interpreter every test trusts.
--
-- Runs a typed graph on one input in double precision with each layer's plain reference
-- loops, then its epilogue. No layout tricks, no fusion, no planning: obviously correct
-- over fast. Works on fused graphs too (which is how fusion itself gets tested).

local epilogue = require 'cnnc.epilogue'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

-- x: a tensor holding the input (any ctype, element count = input size).
-- Returns the output tensor (double) and a table name -> tensor of every value.
function M.run(g, x)
  local n_in = util.prod(g.input.shape)
  if x.n ~= n_in then
    util.fail(nil, 'input has %d values, the model expects %s = %d', x.n, util.shape_str(g.input.shape), n_in)
  end
  local input = tensor.new(g.input.shape, 'double')
  for i = 0, n_in - 1 do input.data[i] = x.data[i] end
  local values = { [g.input.name] = input }
  for _, n in ipairs(g.nodes) do
    local ins = {}
    for i, v in ipairs(n.inputs) do ins[i] = values[v] end
    local y
    if n.layer.alias then
      y = setmetatable({ shape = n.shape, n = ins[1].n, data = ins[1].data, ctype = 'double' }, tensor.Tensor)
    else
      local W = {}
      for _, w in ipairs(n.weights or {}) do W[w.name] = w.tensor end
      y = n.layer.reference(n, ins[1], W, ins)
      epilogue.apply_ref(n.epilogue, y)
    end
    values[n.name] = y
  end
  return values[g.output], values
end

return M
