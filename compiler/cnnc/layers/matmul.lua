-- cnnc.layers.matmul: MatMul, the matrix product of NumPy's matmul (ONNX MatMul) of the
-- input and either a second input or a constant weight `operand` (shape `operand_shape`).
-- Rank-1 operands are a row (left) or column (right) vector; leading axes are batches of
-- matrices and broadcast. Dense is the layer for the common case (a vector times a
-- constant matrix, with its SIMD kernel); the ONNX importer uses MatMul for the rest.

local nd = require 'cnnc.layers.nd'
local template = require 'cnnc.template'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

M.kinds = { MatMul = { rank = 0, args = {
  { 'operand_shape', 'shape' },
  { 'operand_initializer', 'initializer', default = 'glorot_uniform' },
  { 'operand', 'values' },
} } }
M.epilogue = true

local function b_shape(node)
  if #node.in_shapes >= 2 then return node.in_shapes[2] end
  if not node.p.operand_shape then util.fail(node, 'MatMul with one input needs operand_shape') end
  return node.p.operand_shape
end

-- M, K, N, the batch shape, and the batch shapes of each operand (as matrices).
local function dims(node, a, b)
  local a2 = #a == 1 and { 1, a[1] } or a
  local b2 = #b == 1 and { b[1], 1 } or b
  local ab, bb = {}, {}
  for i = 1, #a2 - 2 do ab[i] = a2[i] end
  for i = 1, #b2 - 2 do bb[i] = b2[i] end
  local batch = nd.broadcast(ab, bb)
  return a2[#a2 - 1], a2[#a2], b2[#b2 - 1], b2[#b2], batch, ab, bb
end

function M.shape(node, in_shape)
  local b = b_shape(node)
  local m, k, k2, n, batch = dims(node, in_shape, b)
  if k ~= k2 or not batch then
    util.fail(node, 'cannot multiply %s by %s', util.shape_str(in_shape), util.shape_str(b))
  end
  local out = util.copy(batch)
  if #in_shape > 1 then out[#out + 1] = m end
  if #b > 1 then out[#out + 1] = n end
  if #out == 0 then out = { 1 } end
  return out
end

function M.weights(node)
  if #node.in_shapes >= 2 then return {} end
  return { { name = 'operand', shape = b_shape(node), init = node.p.operand_initializer } }
end

function M.macs(node)
  local m, k, _, n, batch = dims(node, node.in_shape, b_shape(node))
  return util.prod(batch) * m * k * n
end

function M.describe(node)
  return (#node.inputs >= 2 and 'by input ' or 'by constant ') .. util.shape_str(b_shape(node))
end

-- Batch dims and per-batch offsets (in matrices) of out, a and b.
local function batches(node)
  local m, k, _, n, batch, ab, bb = dims(node, node.in_shape, b_shape(node))
  local sa, sb = nd.broadcast_strides(ab, batch), nd.broadcast_strides(bb, batch)
  for i = 1, #batch do sa[i], sb[i] = sa[i] * m * k, sb[i] * k * n end
  local so = nd.strides(batch)
  for i = 1, #batch do so[i] = so[i] * m * n end
  return m, k, n, batch, so, sa, sb
end

function M.reference(node, x, W, ins)
  local y = tensor.new(node.shape, 'double')
  local other = ins[2] or W.operand
  local m, k, n, batch, so, sa, sb = batches(node)
  nd.each(batch, function(idx)
    local oo, ao, bo = nd.offset(idx, so), nd.offset(idx, sa), nd.offset(idx, sb)
    for i = 0, m - 1 do
      for j = 0, n - 1 do
        local s = 0
        for t = 0, k - 1 do s = s + x.data[ao + i * k + t] * other.data[bo + t * n + j] end
        y.data[oo + i * n + j] = s
      end
    end
  end)
  return y
end

function M.emit(node, E)
  local m, k, n, batch, so, sa, sb = batches(node)
  local d, ls = nd.merge(batch, { so, sa, sb })
  local open, close = nd.c_loops(d)
  local params = { 'const float *restrict x' }
  local other
  if #node.inputs >= 2 then
    params[2] = 'const float *restrict x2'
    other = 'x2'
  else
    other = E:weight(node, 'operand')
  end
  return template.section('nd', 'matmul', {
    fn = E:fn(node), comment = E:comment(node), params = table.concat(params, ', '), open = open, close = close,
    a = 'x', a_index = nd.c_index(ls[2]), b = other, b_index = nd.c_index(ls[3]), out_index = nd.c_index(ls[1]),
    M = m, K = k, N = n, store = E:store(node, 'y[n]', 'y[n]', 'n'), post = E:post(node, 'y', n),
  })
end

return M
