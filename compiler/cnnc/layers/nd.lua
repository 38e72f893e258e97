-- cnnc.layers.nd: shapes, strides and loop nests over tensors of any rank, for the layers
-- that are not sliding windows (Permute, Concatenate, the elementwise binary operators,
-- Pad, Softmax, MatMul). Not a layer itself.
--
-- Shapes are row-major (the last axis is contiguous). Broadcasting follows NumPy: shapes
-- are aligned on their last axis, and an axis of size 1 stretches to the other's size.
-- In C, a loop nest runs over the output's axes with one index variable per axis
-- (i0, i1, ...); `merge` first collapses neighbouring axes that every operand walks
-- contiguously, so an elementwise operation on equal shapes is one flat loop.

local template = require 'cnnc.template'
local util = require 'cnnc.util'

local M = {}

function M.strides(shape)
  local s, acc = {}, 1
  for i = #shape, 1, -1 do
    s[i] = acc
    acc = acc * shape[i]
  end
  return s
end

-- The broadcast of two shapes, or nil when they do not broadcast.
function M.broadcast(a, b)
  local n = math.max(#a, #b)
  local out = {}
  for i = 1, n do
    local x = a[#a - n + i] or 1
    local y = b[#b - n + i] or 1
    if x ~= y and x ~= 1 and y ~= 1 then return nil end
    out[i] = x == 1 and y or x
  end
  return out
end

-- Strides of an operand of shape `shape` read along `out` (its broadcast): 0 on the axes
-- it is stretched along.
function M.broadcast_strides(shape, out)
  local s = M.strides(shape)
  local r = {}
  local off = #out - #shape
  for i = 1, #out do
    local j = i - off
    r[i] = (j >= 1 and shape[j] ~= 1) and s[j] or 0
  end
  return r
end

-- Collapses axes i, i + 1 of `dims` wherever each stride list walks them as one axis.
-- Returns the merged dims and stride lists.
function M.merge(dims, lists)
  local d, ls = {}, {}
  for k = 1, #lists do ls[k] = {} end
  for i = 1, #dims do
    local n = #d
    local ok = n > 0
    if ok then
      for k = 1, #lists do
        if ls[k][n] ~= lists[k][i] * dims[i] then ok = false; break end
      end
    end
    if ok then
      d[n] = d[n] * dims[i]
      for k = 1, #lists do ls[k][n] = lists[k][i] end
    else
      d[n + 1] = dims[i]
      for k = 1, #lists do ls[k][n + 1] = lists[k][i] end
    end
  end
  return d, ls
end

-- Calls f(flat index list) for every index of `dims` in row-major order; f gets a table
-- of 0-based indices (reused between calls).
function M.each(dims, f)
  local n = util.prod(dims)
  local idx = {}
  for i = 1, #dims do idx[i] = 0 end
  for _ = 1, n do
    f(idx)
    for i = #dims, 1, -1 do
      idx[i] = idx[i] + 1
      if idx[i] < dims[i] then break end
      idx[i] = 0
    end
  end
end

function M.offset(idx, strides)
  local o = 0
  for i = 1, #idx do o = o + idx[i] * strides[i] end
  return o
end

-- C: the opening lines of a loop nest over `dims` (variables `prefix`0, 1, ...) and the
-- matching closing braces.
function M.c_loops(dims, prefix)
  local open = {}
  for i = 1, #dims do
    open[i] = template.section('nd', 'loop', { i = (prefix or 'i') .. (i - 1), N = dims[i] })
  end
  return table.concat(open, '\n'), string.rep('}', #dims, '\n')
end

-- C: the index expression sum(i_k * stride_k) without zero terms ('0' when empty).
function M.c_index(strides, prefix)
  local t = {}
  for i = 1, #strides do
    local s = strides[i]
    if s ~= 0 then
      local v = (prefix or 'i') .. (i - 1)
      t[#t + 1] = s == 1 and v or (v .. ' * ' .. s)
    end
  end
  return #t > 0 and table.concat(t, ' + ') or '0'
end

-- Item axis from a Keras-style axis: positive axes count the batch axis as 0, negative
-- ones count from the end. Returns a 1-based axis of a rank-`rank` item, or nil.
function M.item_axis(axis, rank)
  local a = axis < 0 and rank + 1 + axis or axis
  if a < 1 or a > rank then return nil end
  return a
end

return M
