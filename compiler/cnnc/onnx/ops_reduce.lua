-- cnnc.onnx.ops_reduce: ONNX's reductions on computed data: ReduceSum, ReduceMean,
-- ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceSumSquare, ReduceLogSum,
-- ReduceLogSumExp (axes as attribute or input by opset, cnnc.onnx.opargs; keepdims), and
-- ArgMax, ArgMin.
--
-- A ReduceMean or ReduceMax over exactly the spatial axes of an image (PyTorch's
-- x.mean([2, 3])) is a global average or max pooling, channels-last; other reductions
-- are a Reduce layer (cnnc.layers.reduce) on the value in its own memory order. Without
-- keepdims the reduced axes are then dropped from the view.

local opargs = require 'cnnc.onnx.opargs'
local ops_nn = require 'cnnc.onnx.ops_nn'
local ops_shape = require 'cnnc.onnx.ops_shape'

local M = {}

local OPS = {
  ReduceSum = 'sum', ReduceMean = 'mean', ReduceMax = 'max', ReduceMin = 'min', ReduceProd = 'prod', ReduceL1 = 'l1',
  ReduceL2 = 'l2', ReduceSumSquare = 'sum_square', ReduceLogSum = 'log_sum', ReduceLogSumExp = 'log_sum_exp',
}

-- Positions (1-based) of ONNX axes in memory order perm, nil if one is missing from it.
local function positions(perm, axes)
  local pos, r = {}, {}
  for i, a in ipairs(perm) do pos[a] = i end
  for _, a in ipairs(axes) do
    if not pos[a] then return nil end
    r[#r + 1] = pos[a]
  end
  return r
end

local function drop(ctx, node, y, axes, keep)
  if keep then return y end
  local set = {}
  for _, a in ipairs(axes) do set[a] = true end
  return ops_shape.squeezed(ctx, node, y, set)
end

local function reduce(ctx, node)
  local x = ctx:runtime(node, 1)
  local r = #x.shape
  local axes, keep = opargs.reduce_axes(ctx, node, r)
  local op = OPS[node.op_type]
  -- No axes (noop_with_empty_axes): each value alone, which only some reductions change.
  if #axes == 0 and (op == 'sum' or op == 'mean' or op == 'max' or op == 'min' or op == 'prod') then return { x } end
  for _, a in ipairs(axes) do
    if a == 1 then ctx:mixes_batch(node, 'reduces over the batch axis') end
  end
  -- Exactly the spatial axes of an (N, C, ...) value: a global pooling.
  local spatial = r >= 3 and #axes == r - 2 and (op == 'mean' or op == 'max') and (ctx.batch or x.shape[1] == 1)
  for i, a in ipairs(axes) do if a ~= i + 2 then spatial = false end end
  if spatial then
    local y = ops_nn.global_pool(ctx, node, op == 'mean' and 'GlobalAveragePooling' or 'GlobalMaxPooling')[1]
    if keep then return { y } end
    return { ctx:value(y.name, { x.shape[1], x.shape[2] }, { 2 }, { dtype = x.dtype }) }
  end
  local perm = x.perm
  local pos = positions(perm, axes)
  if not pos then
    perm = ctx:plain(x)
    pos = positions(perm, axes)
  end
  local name_in = ctx:mem(x, perm, node)
  local out = {}
  for i, d in ipairs(x.shape) do out[i] = d end
  for _, a in ipairs(axes) do out[a] = 1 end
  local name = ctx:layer(node, 'Reduce', { op = op, axes = pos }, { inputs = { name_in }, shape = ctx:cshape(out, perm) })
  return { drop(ctx, node, ctx:value(name, out, perm, { dtype = x.dtype }), axes, keep) }
end

for op in pairs(OPS) do M[op] = reduce end

local function arg_reduce(ctx, node)
  local x = ctx:runtime(node, 1)
  local r = #x.shape
  local a = opargs.axis(ctx, node, r, 'axis', 0)
  if a == 1 then ctx:mixes_batch(node, 'reduces over the batch axis') end
  local keep = ctx:attr(node, 'keepdims', 1) ~= 0
  local perm = x.perm
  local pos = positions(perm, { a })
  if not pos then
    perm = ctx:plain(x)
    pos = positions(perm, { a })
  end
  local name_in = ctx:mem(x, perm, node)
  local out = {}
  for i, d in ipairs(x.shape) do out[i] = d end
  out[a] = 1
  local name = ctx:layer(node, 'ArgReduce', { op = node.op_type == 'ArgMax' and 'max' or 'min', axis = pos[1],
    select_last_index = ctx:attr(node, 'select_last_index', 0) ~= 0 }, { inputs = { name_in }, shape = ctx:cshape(out, perm) })
  return { drop(ctx, node, ctx:value(name, out, perm, { dtype = 7 }), { a }, keep) }
end

M.ArgMax, M.ArgMin = arg_reduce, arg_reduce

return M
