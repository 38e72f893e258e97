-- cnnc.reference: the interpreter every test trusts.
--
-- Runs a typed graph on one input in double precision with each layer's plain reference
-- loops, then its epilogue. No layout tricks, no fusion, no planning: obviously correct
-- over fast. Works on fused graphs too (which is how fusion itself gets tested).
--
-- Numbers: NaN and the infinities follow cnnc.ieee. Denormals: a value smaller in
-- magnitude than float32's smallest normal (2^-126) is zero in the input and in every
-- layer's output, as the generated code on x86 flushes them (FTZ/DAZ, templates/model.c).

local epilogue = require 'cnnc.epilogue'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

M.FLT_MIN = 2 ^ -126

local function flush_denormals(t)
  local d, lo = t.data, M.FLT_MIN
  for i = 0, t.n - 1 do
    local v = d[i]
    if v ~= 0 and v < lo and v > -lo then d[i] = 0 end
  end
end

-- x: a tensor holding the input (any ctype, element count = input size).
-- Returns the output tensor (double) and a table name -> tensor of every value.
function M.run(g, x)
  local n_in = util.prod(g.input.shape)
  if x.n ~= n_in then
    util.fail(nil, 'input has %d values, the model expects %s = %d', x.n, util.shape_str(g.input.shape), n_in)
  end
  local input = tensor.new(g.input.shape, 'double')
  for i = 0, n_in - 1 do input.data[i] = x.data[i] end
  flush_denormals(input)
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
      flush_denormals(y)
    end
    values[n.name] = y
  end
  return values[g.output], values
end

return M
