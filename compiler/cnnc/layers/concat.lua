-- cnnc.layers.concat: Concatenate, several inputs joined along one axis (Keras semantics:
-- `axis` counts the batch axis as 0, -1 is the last axis). Every other axis must agree.
-- ONNX option (set by the importer): `constants` = {[k] = shape} makes part k of the
-- result a constant weight `part<k>` instead of an input (the inputs fill the other parts
-- in order). In C, each part's block of each outer index is one memcpy.

local nd = require 'cnnc.layers.nd'
local template = require 'cnnc.template'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

M.kinds = { Concatenate = { rank = 0, args = { { 'axis', 'int', default = -1 }, { 'constants', 'values' } } } }

-- The parts in order: {shape, input = index} or {shape, weight = name}.
local function parts(node)
  local list, next_input = {}, 1
  local consts = node.p.constants or {}
  local n = #node.in_shapes
  for _ in pairs(consts) do n = n + 1 end
  for k = 1, n do
    if consts[k] then
      list[k] = { shape = consts[k], weight = 'part' .. k }
    else
      list[k] = { shape = node.in_shapes[next_input], input = next_input }
      next_input = next_input + 1
    end
    if not list[k].shape then util.fail(node, 'Concatenate: part %d has neither an input nor a constant', k) end
  end
  return list
end

function M.shape(node)
  local ps = parts(node)
  if #ps < 2 then util.fail(node, 'Concatenate needs at least two inputs, got %d', #ps) end
  local first = ps[1].shape
  local r = #first
  local a = nd.item_axis(node.p.axis, r)
  if not a then util.fail(node, 'axis %d does not exist in inputs of rank %d', node.p.axis, r) end
  local out = util.copy(first)
  for i = 2, #ps do
    local s = ps[i].shape
    local ok = #s == r
    for k = 1, r do
      if k ~= a and s[k] ~= out[k] then ok = false end
    end
    if not ok then
      util.fail(node, 'input %d has shape %s, which does not match %s except along axis %d', i,
        util.shape_str(s), util.shape_str(first), node.p.axis)
    end
    out[a] = out[a] + s[a]
  end
  node.axis = a
  return out
end

function M.weights(node)
  local w = {}
  for _, p in ipairs(parts(node)) do
    if p.weight then w[#w + 1] = { name = p.weight, shape = p.shape, init = 'zeros' } end
  end
  return w
end

function M.describe(node) return string.format('%d parts, axis %d', #parts(node), node.p.axis) end

-- Outer count, the output row length, and per part its chunk length and offset in a row.
local function blocks(node)
  local a, out = node.axis, node.shape
  local outer = util.prod(out, 1, a - 1)
  local inner = util.prod(out, a + 1)
  local list, off = parts(node), 0
  for _, p in ipairs(list) do
    p.chunk, p.offset = p.shape[a] * inner, off
    off = off + p.chunk
  end
  return outer, off, list
end

function M.reference(node, _, W, ins)
  local y = tensor.new(node.shape, 'double')
  local outer, row, list = blocks(node)
  for o = 0, outer - 1 do
    for _, b in ipairs(list) do
      local src = b.input and ins[b.input] or W[b.weight]
      for k = 0, b.chunk - 1 do y.data[o * row + b.offset + k] = src.data[o * b.chunk + k] end
    end
  end
  return y
end

-- Backward: each input's gradient is its part of dy (constant parts are not trained).
function M.backward(node, _, _, _, dy)
  local outer, row, list = blocks(node)
  local dxs = {}
  for _, b in ipairs(list) do
    if b.input then
      local dx = tensor.new(b.shape, 'double')
      for o = 0, outer - 1 do
        for k = 0, b.chunk - 1 do dx.data[o * b.chunk + k] = dy.data[o * row + b.offset + k] end
      end
      dxs[b.input] = dx
    end
  end
  return dxs
end

function M.backward_reads() return {} end

-- Backward code: each input's part of every row of dy, copied out (one memcpy a part and
-- row, as the forward's).
function M.emit_backward(node, E)
  local outer, row, list = blocks(node)
  local params, args, copies = {}, {}, {}
  for _, b in ipairs(list) do
    if b.input then
      local dx = 'dx' .. b.input
      params[#params + 1] = 'float *restrict ' .. dx
      args[#args + 1] = dx
      copies[#copies + 1] = template.section('backward', 'concat_part', { ROW = row, OFFSET = b.offset, dst = dx,
        CHUNK = b.chunk })
    end
  end
  params[#params + 1] = 'const float *restrict dy'
  args[#args + 1] = 'dy'
  local fn = E:backward_fn(node, 'inputs')
  return template.section('backward', 'concat', { fn = fn, params = table.concat(params, ', '), OUTER = outer,
    copies = table.concat(copies, '\n'),
    comment = util.c_comment(node.name .. ': the gradient of each input, its part of the output\'s') }),
    { { fn = fn, args = args } }
end

function M.emit(node, E)
  local outer, row, list = blocks(node)
  local params, copies = {}, {}
  for _, b in ipairs(list) do
    local src
    if b.input then
      src = 'in' .. (b.input - 1)
      params[#params + 1] = 'const float *restrict ' .. src
    else
      src = E:weight(node, b.weight)
    end
    copies[#copies + 1] = template.section('nd', 'concat_copy', { ROW = row, OFFSET = b.offset, src = src,
      CHUNK = b.chunk })
  end
  return template.section('nd', 'concat', {
    fn = E:fn(node), comment = E:comment(node), params = table.concat(params, ', '), OUTER = outer,
    copies = table.concat(copies, '\n'),
  })
end

return M
