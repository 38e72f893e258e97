-- cnnc.onnx.fold: constant folding in the ONNX importer, before any operator is lowered
-- onto layers.
--
-- A node is folded (evaluated in Lua, here, at import time) when every input it has is a
-- constant, and its operator is one the evaluators of cnnc.onnx.fold_tensor and
-- cnnc.onnx.fold_math know. Shape and Size are constants whatever their input, since
-- every shape is known when cnnc compiles; a symbolic batch axis counts as 1 (the
-- compiled model runs one item at a time). So the shape arithmetic exporters write
-- (Shape, Gather, Unsqueeze, Concat, Cast, ConstantOfShape, Range, Where, Expand, Mul on
-- int64, ...) disappears before code generation, and only operators on computed data
-- need a layer.
--
-- `plan` decides, without evaluating anything, which nodes will be folded and which will
-- be lowered: the importer's operator check uses it to name every operator left on
-- computed data that cnnc cannot lower. `ready` says, during lowering, that a node folds.
--
-- Values: constants are cnnc tensors in ONNX's row-major order with ONNX shapes, carried
-- with their ONNX element type (dtype). Results are computed in double; float32 results
-- are rounded to float32 (as ONNX Runtime would hold them), integer results follow
-- integer semantics (division truncates, casts truncate toward zero, 8- to 32-bit values
-- wrap), booleans are 0 and 1.

local const = require 'cnnc.onnx.const'
local tensor = require 'cnnc.tensor'

local M = {}

M.EVAL = {}
for _, file in ipairs({ 'cnnc.onnx.fold_tensor', 'cnnc.onnx.fold_math' }) do
  for op, f in pairs(require(file).EVAL) do
    assert(not M.EVAL[op], 'cnnc: fold evaluator for ' .. op .. ' defined twice')
    M.EVAL[op] = f
  end
end

-- Operators whose result depends only on the shape of their input.
local SHAPE_ONLY = { Shape = true, Size = true }
M.SHAPE_ONLY = SHAPE_ONLY

local INT_RANGE = { [2] = { 0, 256 }, [3] = { -128, 256 }, [4] = { 0, 65536 }, [5] = { -32768, 65536 },
  [6] = { -2 ^ 31, 2 ^ 32 }, [12] = { 0, 2 ^ 32 } }

-- A folded value of ONNX type `dtype` as the importer stores it: float types as float32
-- tensors, float64 as double, integers truncated toward zero and wrapped into their
-- type's range (int64 and uint64 are exact up to 2^53), booleans 0 or 1.
function M.value(t, dtype)
  if dtype == 1 or dtype == 10 or dtype == 16 then
    local r = const.float(t)
    r.onnx_type = dtype
    return { const = r, dtype = dtype }
  end
  if dtype ~= 11 then
    local range = INT_RANGE[dtype]
    local r = tensor.new(t.shape, 'double')
    for i = 0, t.n - 1 do
      local v = tonumber(t.data[i])
      if dtype == 9 then v = v ~= 0 and 1 or 0
      elseif v == v and v ~= math.huge and v ~= -math.huge then
        v = v < 0 and math.ceil(v) or math.floor(v)
        if range then v = (v - range[1]) % range[2] + range[1] end
      end
      r.data[i] = v
    end
    t = r
  end
  t.onnx_type = dtype
  return { const = t, dtype = dtype }
end

-- Does node n fold, given `known(name)`: whether a value is a constant?
function M.folds(n, known)
  local op = n.op_type
  if n.domain ~= '' and n.domain ~= 'ai.onnx' then return false end
  if op == 'Constant' then return true end
  if not M.EVAL[op] then return false end
  if SHAPE_ONLY[op] then return true end
  for _, i in ipairs(n.inputs) do
    if i ~= '' and not known(i) then return false end
  end
  return true
end

-- Which nodes fold: a set {node -> true}, given the names of the constants before any
-- node (initializers, bound inputs, empty inputs).
function M.plan(nodes, constants)
  local is_const, folded = {}, {}
  for name in pairs(constants) do is_const[name] = true end
  local function known(name) return is_const[name] end
  for _, n in ipairs(nodes) do
    if M.folds(n, known) then
      folded[n] = true
      for _, o in ipairs(n.outputs) do if o ~= '' then is_const[o] = true end end
    end
  end
  return folded
end

-- Does node fold now, during lowering (every input it has a constant)? The importer then
-- calls M.EVAL[op](ctx, node) instead of the operator's handler. Constant nodes keep
-- their handler, which reads the attribute.
function M.ready(ctx, node)
  if node.op_type == 'Constant' then return false end
  return M.folds(node, function(name)
    local v = ctx.vals[name]
    return v ~= nil and v.const ~= nil
  end)
end

return M
