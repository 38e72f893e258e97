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
local ir = require 'cnnc.ir'
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

-- x: a tensor holding the input (any ctype, element count = input size; a model with
-- several inputs takes them one after another).
-- Returns the output tensor (double; several outputs one after another, as the compiled
-- model writes them) and a table name -> tensor of every value.
-- trace (optional, for the backward pass cnnc.backward): a table that receives, per node
-- name, {inputs = {tensors}, steps = cnnc.epilogue.trace_ref's values} (no steps for
-- alias nodes).
function M.run(g, x, trace)
  local io = ir.io(g)
  local n_in = io.input_size
  if x.n ~= n_in then
    util.fail(nil, 'input has %d values, the model expects %s = %d', x.n,
      g.input and #io.inputs == 1 and util.shape_str(g.input.shape) or 'its inputs', n_in)
  end
  local values = {}
  for _, v in ipairs(io.inputs) do
    local input = tensor.new(v.shape, 'double')
    for i = 0, v.size - 1 do input.data[i] = x.data[v.offset + i] end
    flush_denormals(input)
    values[v.name] = input
  end
  for _, n in ipairs(g.nodes) do
    local ins = {}
    for i, v in ipairs(n.inputs) do ins[i] = values[v] end
    local y
    if n.layer.alias then
      y = setmetatable({ shape = n.shape, n = ins[1].n, data = ins[1].data, ctype = 'double' }, tensor.Tensor)
      if trace then trace[n.name] = { inputs = ins } end
    else
      local W = {}
      for _, w in ipairs(n.weights or {}) do W[w.name] = w.tensor end
      y = n.layer.reference(n, ins[1], W, ins)
      if trace then trace[n.name] = { inputs = ins, steps = epilogue.trace_ref(n.epilogue, y) }
      else epilogue.apply_ref(n.epilogue, y) end
      flush_denormals(y)
    end
    values[n.name] = y
  end
  if not ir.is_multi(g) then return values[g.output], values end
  local y = tensor.new({ io.output_size }, 'double')
  for _, o in ipairs(io.outputs) do
    local v = o.name and values[o.name]
    for i = 0, o.size - 1 do y.data[o.offset + i] = v.data[i] end
  end
  return y, values
end

return M
