-- cnnc.onnx.const: arithmetic on constant tensors at import time.
--
-- ONNX graphs compute some of their own constants (a weight transposed before a MatMul,
-- a shape unsqueezed before a Reshape, Celu's expansion into Div and Mul); the importer
-- folds such nodes here instead of emitting code. Tensors are cnnc tensors in ONNX's
-- row-major order with ONNX shapes (a scalar has shape {}); results are 'double' tensors,
-- but for transpose, which keeps its input's type.

local nd = require 'cnnc.layers.nd'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

function M.scalar(v)
  local t = tensor.new({}, 'double')
  t.data[0] = v
  return t
end

function M.from_list(list, shape)
  local t = tensor.new(shape or { #list }, 'double')
  for i = 1, #list do t.data[i - 1] = list[i] end
  return t
end

function M.to_list(t)
  local l = {}
  for i = 0, t.n - 1 do l[i + 1] = tonumber(t.data[i]) end
  return l
end

function M.reshape(t, shape)
  assert(util.prod(shape) == t.n, 'cnnc: constant reshape changes the element count')
  local r = setmetatable(util.copy(t), tensor.Tensor)
  r.shape = util.copy(shape)
  return r
end

-- Axes permuted: result axis j is t's axis perm[j] (1-based). The result keeps t's element
-- type (a float32 weight stays float32: a transposed Gemm kernel of 100M floats must not
-- double in size); a matrix transposes in plain loops.
function M.transpose(t, perm)
  local shape = {}
  for j, a in ipairs(perm) do shape[j] = t.shape[a] end
  local r = tensor.new(shape, t.ctype)
  local src_data, dst = t.data, r.data
  if #perm == 2 and perm[1] == 2 and perm[2] == 1 then
    local rows, cols = t.shape[1], t.shape[2]
    for i = 0, rows - 1 do
      for j = 0, cols - 1 do dst[j * rows + i] = src_data[i * cols + j] end
    end
    return r
  end
  local st = nd.strides(t.shape)
  local src = {}
  for j, a in ipairs(perm) do src[j] = st[a] end
  local k = 0
  nd.each(shape, function(idx)
    dst[k] = src_data[nd.offset(idx, src)]
    k = k + 1
  end)
  return r
end

-- t broadcast (NumPy rules) to `shape`.
function M.broadcast_to(t, shape)
  local s = nd.broadcast_strides(t.shape, shape)
  local r = tensor.new(shape, 'double')
  local k = 0
  nd.each(shape, function(idx)
    r.data[k] = t.data[nd.offset(idx, s)]
    k = k + 1
  end)
  return r
end

-- Elementwise f(a, b) with broadcasting; nil when the shapes do not broadcast.
function M.binary(a, b, f)
  local shape = nd.broadcast(a.shape, b.shape)
  if not shape then return nil end
  local sa, sb = nd.broadcast_strides(a.shape, shape), nd.broadcast_strides(b.shape, shape)
  local r = tensor.new(shape, 'double')
  local k = 0
  nd.each(shape, function(idx)
    r.data[k] = f(a.data[nd.offset(idx, sa)], b.data[nd.offset(idx, sb)])
    k = k + 1
  end)
  return r
end

function M.map(t, f)
  local r = tensor.new(t.shape, 'double')
  for i = 0, t.n - 1 do r.data[i] = f(t.data[i]) end
  return r
end

-- Concatenation along axis (1-based).
function M.concat(list, axis)
  local shape = util.copy(list[1].shape)
  shape[axis] = 0
  for _, t in ipairs(list) do shape[axis] = shape[axis] + t.shape[axis] end
  local outer = util.prod(shape, 1, axis - 1)
  local r = tensor.new(shape, 'double')
  local k = 0
  for o = 0, outer - 1 do
    for _, t in ipairs(list) do
      local chunk = t.n / outer
      for i = 0, chunk - 1 do
        r.data[k] = t.data[o * chunk + i]
        k = k + 1
      end
    end
  end
  return r
end

-- A float32 tensor (what the generated C holds): t itself when it is one (constants are
-- never written to), else a rounded copy.
function M.float(t)
  if t.ctype == 'float' then return t end
  local r = tensor.new(t.shape, 'float')
  for i = 0, t.n - 1 do r.data[i] = t.data[i] end
  return r
end

return M
