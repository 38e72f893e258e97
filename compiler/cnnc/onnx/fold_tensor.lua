-- cnnc.onnx.fold_tensor: the constant folder's evaluators for operators that make, move
-- or select values (cnnc.onnx.fold says when they run): Shape, Size, ConstantOfShape,
-- Range, Cast, CastLike, Identity, Dropout, Reshape, Flatten, Squeeze, Unsqueeze,
-- Transpose, Concat, Gather, GatherElements, Slice, Split, Expand, Tile, Where, NonZero,
-- Pad, Trilu, EyeLike, OneHot, ScatterND and ScatterElements.
--
-- Each evaluator(ctx, node) reads its constant inputs with ctx:get and its attributes with
-- ctx:attr, and returns the node's output values ({const = tensor, dtype}) made by
-- fold.value. Opset-dependent operands come from cnnc.onnx.opargs.

local const = require 'cnnc.onnx.const'
local nd = require 'cnnc.layers.nd'
local opargs = require 'cnnc.onnx.opargs'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = { EVAL = {} }
local E = M.EVAL

local fio = require 'cnnc.onnx.fold_io'
local value, input, opt, dtype = fio.value, fio.input, fio.opt, fio.dtype

-- A tensor of `shape` whose element at index list idx (0-based) is src.data[at(idx)].
local function gather(src, shape, at)
  local r = tensor.new(shape, 'double')
  local k = 0
  nd.each(shape, function(idx)
    r.data[k] = src.data[at(idx)]
    k = k + 1
  end)
  return r
end

-- ------------------------------------------------------------------ shapes and makers

function E.Shape(ctx, node)
  local shape = ctx:runtime(node, 1).shape
  local r = #shape
  local s, e = 0, r
  if ctx.opset >= 15 then
    s, e = ctx:attr(node, 'start', 0), ctx:attr(node, 'end', r)
    if s < 0 then s = s + r end
    if e < 0 then e = e + r end
    s, e = math.max(0, math.min(r, s)), math.max(0, math.min(r, e))
  end
  local l = {}
  for a = s + 1, e do l[#l + 1] = shape[a] end
  return { value(const.from_list(l, { #l }), 7) }
end

function E.Size(ctx, node)
  return { value(const.scalar(util.prod(ctx:runtime(node, 1).shape)), 7) }
end

function E.ConstantOfShape(ctx, node)
  local shape = opargs.ints(ctx, node, 1, 'the shape') or {}
  for _, d in ipairs(shape) do
    if d < 0 then ctx:fail(node, 'shape %s has a negative dimension', util.shape_str(shape)) end
  end
  local v = ctx:attr_tensor(node, 'value')
  local t = tensor.new(shape, 'double')
  t:fill(v and v.n > 0 and tonumber(v.data[0]) or 0)
  return { value(t, v and v.onnx_type or 1) }
end

function E.Range(ctx, node)
  local s, l, d = input(ctx, node, 1), input(ctx, node, 2), input(ctx, node, 3)
  if s.n ~= 1 or l.n ~= 1 or d.n ~= 1 then ctx:fail(node, 'start, limit and delta must be scalars') end
  local start, limit, delta = tonumber(s.data[0]), tonumber(l.data[0]), tonumber(d.data[0])
  if delta == 0 then ctx:fail(node, 'delta is 0') end
  local n = math.max(math.ceil((limit - start) / delta), 0)
  local t = tensor.new({ n }, 'double')
  for i = 0, n - 1 do t.data[i] = start + i * delta end
  return { value(t, dtype(ctx, node, 1)) }
end

-- x converted to ONNX type `to`: to an integer type truncated toward zero, to bool
-- nonzero, to float32 rounded (fold.value does the rounding and the wrapping).
local function cast(ctx, node, x, to)
  local name = require('cnnc.onnx.model').type_name(to)
  if to == 8 or to == 14 or to == 15 or not require('cnnc.onnx.model').TYPES[to] then
    ctx:fail(node, 'cannot cast to %s', name)
  end
  local float = to == 1 or to == 10 or to == 11 or to == 16
  local r = const.map(x, function(v)
    if to == 9 then return v ~= 0 and 1 or 0 end
    if float or v ~= v then return v end
    return v < 0 and math.ceil(v) or math.floor(v)
  end)
  return value(r, to)
end

function E.Cast(ctx, node)
  local to = ctx:attr(node, 'to', nil, 'number')
  if not to then ctx:fail(node, "attribute 'to' is missing") end
  return { cast(ctx, node, input(ctx, node, 1), to) }
end

function E.CastLike(ctx, node) return { cast(ctx, node, input(ctx, node, 1), dtype(ctx, node, 2)) } end

function E.EyeLike(ctx, node)
  local x = input(ctx, node, 1)
  if #x.shape ~= 2 then ctx:fail(node, 'needs a 2-D input, got %s', util.shape_str(x.shape)) end
  local k = ctx:attr(node, 'k', 0)
  local t = tensor.new(x.shape, 'double')
  for i = 0, x.shape[1] - 1 do
    for j = 0, x.shape[2] - 1 do t.data[i * x.shape[2] + j] = (j - i == k) and 1 or 0 end
  end
  return { value(t, ctx:attr(node, 'dtype', dtype(ctx, node, 1))) }
end

-- ------------------------------------------------------------------ views

function E.Identity(ctx, node) return { ctx:get(node, 1) } end

function E.Dropout(ctx, node)
  local x = ctx:get(node, 1)
  return { x, value(const.map(x.const, function() return 1 end), 9) }
end

local function reshaped(ctx, node, shape)
  local x = ctx:get(node, 1)
  return { value(const.reshape(x.const, shape), x.dtype) }
end

function E.Reshape(ctx, node)
  local x = input(ctx, node, 1)
  local target = ctx.opset < 5 and ctx:attr(node, 'shape') or opargs.ints(ctx, node, 2, 'the shape')
  return reshaped(ctx, node, opargs.reshape_shape(ctx, node, x.shape, target, true))
end

function E.Flatten(ctx, node)
  local x = input(ctx, node, 1)
  local a = ctx:attr(node, 'axis', 1)
  if a < 0 then a = a + #x.shape end
  if a < 0 or a > #x.shape then ctx:fail(node, 'axis %d does not exist in %s', a, util.shape_str(x.shape)) end
  return reshaped(ctx, node, { util.prod(x.shape, 1, a), util.prod(x.shape, a + 1, #x.shape) })
end

function E.Squeeze(ctx, node)
  local x = input(ctx, node, 1)
  local axes = opargs.squeeze_axes(ctx, node)
  local drop = {}
  if axes then
    for _, a in ipairs(opargs.normalize_axes(ctx, node, axes, #x.shape)) do
      if x.shape[a] ~= 1 then ctx:fail(node, 'axis %d of %s is not 1', a - 1, util.shape_str(x.shape)) end
      drop[a] = true
    end
  else
    for a, d in ipairs(x.shape) do drop[a] = d == 1 end
  end
  local shape = {}
  for a, d in ipairs(x.shape) do if not drop[a] then shape[#shape + 1] = d end end
  return reshaped(ctx, node, shape)
end

function E.Unsqueeze(ctx, node)
  local x = input(ctx, node, 1)
  local axes = opargs.squeeze_axes(ctx, node)
  if not axes then ctx:fail(node, 'the axes are missing') end
  local r = #x.shape + #axes
  local added = {}
  for _, a in ipairs(opargs.normalize_axes(ctx, node, axes, r)) do added[a] = true end
  local shape, k = {}, 1
  for a = 1, r do
    if added[a] then shape[a] = 1 else shape[a] = x.shape[k]; k = k + 1 end
  end
  return reshaped(ctx, node, shape)
end

function E.Transpose(ctx, node)
  local x = input(ctx, node, 1)
  local r = #x.shape
  local p = ctx:attr(node, 'perm')
  local perm, seen = {}, {}
  for j = 1, r do
    local a = (p and p[j] or (r - j)) + 1
    if a < 1 or a > r or seen[a] or (p and #p ~= r) then ctx:fail(node, 'perm does not fit rank %d', r) end
    seen[a], perm[j] = true, a
  end
  return { value(const.transpose(x, perm), dtype(ctx, node, 1)) }
end

-- ------------------------------------------------------------------ selection

function E.Concat(ctx, node)
  local list = {}
  for k = 1, #node.inputs do
    local t = opt(ctx, node, k)
    if t then list[#list + 1] = t end
  end
  if #list == 0 then ctx:fail(node, 'no inputs') end
  local r = #list[1].shape
  local a = opargs.axis(ctx, node, r, 'axis', ctx:attr(node, 'axis') or ctx:fail(node, 'axis is missing'))
  for _, t in ipairs(list) do
    if #t.shape ~= r then ctx:fail(node, 'inputs of different ranks') end
    for i = 1, r do
      if i ~= a and t.shape[i] ~= list[1].shape[i] then
        ctx:fail(node, 'input %s does not match %s except along axis %d', util.shape_str(t.shape),
          util.shape_str(list[1].shape), a - 1)
      end
    end
  end
  return { value(const.concat(list, a), dtype(ctx, node, 1)) }
end

-- Index values checked against n and made non-negative.
local function indices(ctx, node, t, n)
  local l = {}
  for i = 0, t.n - 1 do
    local v = tonumber(t.data[i])
    if v < -n or v >= n or v ~= math.floor(v) then ctx:fail(node, 'index %g is out of range [%d, %d)', v, -n, n) end
    l[i] = v < 0 and v + n or v
  end
  return l
end

function E.Gather(ctx, node)
  local x, ind = input(ctx, node, 1), input(ctx, node, 2)
  local a = opargs.axis(ctx, node, #x.shape, 'axis', 0)
  local l = indices(ctx, node, ind, x.shape[a])
  local shape = {}
  for i = 1, a - 1 do shape[#shape + 1] = x.shape[i] end
  for _, d in ipairs(ind.shape) do shape[#shape + 1] = d end
  for i = a + 1, #x.shape do shape[#shape + 1] = x.shape[i] end
  local st, ist, q = nd.strides(x.shape), nd.strides(ind.shape), #ind.shape
  return { value(gather(x, shape, function(idx)
    local off, j = 0, 0
    for i = 1, a - 1 do off = off + idx[i] * st[i] end
    for i = 1, q do j = j + idx[a - 1 + i] * ist[i] end
    off = off + l[j] * st[a]
    for i = a + 1, #x.shape do off = off + idx[i - 1 + q] * st[i] end
    return off
  end), dtype(ctx, node, 1)) }
end

function E.GatherElements(ctx, node)
  local x, ind = input(ctx, node, 1), input(ctx, node, 2)
  local a = opargs.axis(ctx, node, #x.shape, 'axis', 0)
  if #ind.shape ~= #x.shape then ctx:fail(node, 'indices %s and data %s differ in rank', util.shape_str(ind.shape), util.shape_str(x.shape)) end
  local l = indices(ctx, node, ind, x.shape[a])
  local st = nd.strides(x.shape)
  local k = -1
  return { value(gather(x, ind.shape, function(idx)
    k = k + 1
    local off = 0
    for i = 1, #idx do off = off + (i == a and l[k] or idx[i]) * st[i] end
    return off
  end), dtype(ctx, node, 1)) }
end

function E.Slice(ctx, node)
  local x = input(ctx, node, 1)
  local list = opargs.slice(ctx, node, x.shape)
  local shape = {}
  for a, s in ipairs(list) do shape[a] = s[3] end
  local st = nd.strides(x.shape)
  return { value(gather(x, shape, function(idx)
    local off = 0
    for i = 1, #idx do off = off + (list[i][1] + idx[i] * list[i][2]) * st[i] end
    return off
  end), dtype(ctx, node, 1)) }
end

function E.Split(ctx, node)
  local x = input(ctx, node, 1)
  local a, sizes = opargs.split_sizes(ctx, node, x.shape, #node.outputs)
  local outs, first = {}, 0
  local st = nd.strides(x.shape)
  for k, n in ipairs(sizes) do
    local shape = util.copy(x.shape)
    shape[a] = n
    local from = first
    outs[k] = value(gather(x, shape, function(idx)
      local off = 0
      for i = 1, #idx do off = off + (i == a and idx[i] + from or idx[i]) * st[i] end
      return off
    end), dtype(ctx, node, 1))
    first = first + n
  end
  return outs
end

function E.Expand(ctx, node)
  local x = input(ctx, node, 1)
  local shape = opargs.required_ints(ctx, node, 2, 'the shape')
  local out = nd.broadcast(x.shape, shape)
  if not out then ctx:fail(node, 'shape %s does not broadcast with the input %s', util.shape_str(shape), util.shape_str(x.shape)) end
  return { value(const.broadcast_to(x, out), dtype(ctx, node, 1)) }
end

function E.Tile(ctx, node)
  local x = input(ctx, node, 1)
  local rep = opargs.required_ints(ctx, node, 2, 'the repeats')
  if #rep ~= #x.shape then ctx:fail(node, '%d repeats for rank %d', #rep, #x.shape) end
  local shape = {}
  for i, d in ipairs(x.shape) do
    if rep[i] < 0 then ctx:fail(node, 'negative repeats') end
    shape[i] = d * rep[i]
  end
  local st = nd.strides(x.shape)
  return { value(gather(x, shape, function(idx)
    local off = 0
    for i = 1, #idx do off = off + (idx[i] % x.shape[i]) * st[i] end
    return off
  end), dtype(ctx, node, 1)) }
end

function E.Where(ctx, node)
  local c, a, b = input(ctx, node, 1), input(ctx, node, 2), input(ctx, node, 3)
  local out = nd.broadcast(nd.broadcast(c.shape, a.shape) or {}, b.shape)
  if not out or not nd.broadcast(c.shape, a.shape) then ctx:fail(node, 'the shapes do not broadcast') end
  local ct, at, bt = const.broadcast_to(c, out), const.broadcast_to(a, out), const.broadcast_to(b, out)
  local r = tensor.new(out, 'double')
  for i = 0, r.n - 1 do r.data[i] = ct.data[i] ~= 0 and at.data[i] or bt.data[i] end
  return { value(r, dtype(ctx, node, 2)) }
end

function E.NonZero(ctx, node)
  local x = input(ctx, node, 1)
  local hits = {}
  local k = 0
  nd.each(x.shape, function(idx)
    if x.data[k] ~= 0 then hits[#hits + 1] = util.copy(idx) end
    k = k + 1
  end)
  local r = math.max(#x.shape, 1)
  local t = tensor.new({ r, #hits }, 'double')
  for j, idx in ipairs(hits) do
    for i = 1, r do t.data[(i - 1) * #hits + j - 1] = idx[i] or 0 end
  end
  return { value(t, 7) }
end

function E.Pad(ctx, node)
  local x = input(ctx, node, 1)
  local p = opargs.pad(ctx, node, #x.shape)
  local pad = require 'cnnc.layers.pad'
  local shape, lists = {}, {}
  for i, d in ipairs(x.shape) do
    shape[i] = d + p.pads[i] + p.pads[i + #x.shape]
    lists[i] = { p.pads[i], p.pads[i + #x.shape] }
    if shape[i] < 0 then ctx:fail(node, 'pads remove more than axis %d holds', i - 1) end
  end
  local y = pad.reference({ shape = shape, in_shape = x.shape, p = { pads = lists, mode = p.mode, value = p.value } }, x)
  return { value(y, dtype(ctx, node, 1)) }
end

function E.Trilu(ctx, node)
  local x = input(ctx, node, 1)
  local r = #x.shape
  if r < 2 then ctx:fail(node, 'needs a rank of at least 2') end
  local kt = opt(ctx, node, 2)
  local k = kt and tonumber(kt.data[0]) or 0
  local upper = ctx:attr(node, 'upper', 1) ~= 0
  local y = tensor.new(x.shape, 'double')
  local i = 0
  nd.each(x.shape, function(idx)
    local d = idx[r] - idx[r - 1]
    local keep = upper and d >= k or (not upper and d <= k)
    y.data[i] = keep and x.data[i] or 0
    i = i + 1
  end)
  return { value(y, dtype(ctx, node, 1)) }
end

function E.OneHot(ctx, node)
  local ind, depth, vals = input(ctx, node, 1), input(ctx, node, 2), input(ctx, node, 3)
  local n = math.floor(tonumber(depth.data[0]))
  if n < 1 then ctx:fail(node, 'depth must be positive') end
  local r = #ind.shape + 1
  local a = opargs.axis(ctx, node, r, 'axis', -1)
  local shape = util.copy(ind.shape)
  table.insert(shape, a, n)
  local y = tensor.new(shape, 'double')
  local ist = nd.strides(ind.shape)
  local k = 0
  nd.each(shape, function(idx)
    local off, j = 0, 0
    for i = 1, r do
      if i ~= a then j = j + 1; off = off + idx[i] * ist[j] end
    end
    local v = tonumber(ind.data[off])
    if v < 0 then v = v + n end
    y.data[k] = vals.data[idx[a] == v and 1 or 0]
    k = k + 1
  end)
  return { value(y, dtype(ctx, node, 3)) }
end

-- ScatterND and ScatterElements: a copy of the data with the updates written (or, with
-- `reduction`, combined: add, mul, max, min) at the indexed positions, in order.
local COMBINE = {
  none = function(_, u) return u end, add = function(a, u) return a + u end, mul = function(a, u) return a * u end,
  max = function(a, u) return math.max(a, u) end, min = function(a, u) return math.min(a, u) end,
}

local function combiner(ctx, node)
  local red = ctx:attr(node, 'reduction', 'none')
  if not COMBINE[red] then ctx:fail(node, "reduction '%s' is not one of none, add, mul, max, min", red) end
  return COMBINE[red]
end

function E.ScatterND(ctx, node)
  local x, ind, upd = input(ctx, node, 1), input(ctx, node, 2), input(ctx, node, 3)
  local f = combiner(ctx, node)
  local q = ind.shape[#ind.shape]
  if not q or q > #x.shape then ctx:fail(node, 'indices %s do not fit data %s', util.shape_str(ind.shape), util.shape_str(x.shape)) end
  local st = nd.strides(x.shape)
  local slice = util.prod(x.shape, q + 1, #x.shape)
  local y = x:clone('double')
  for i = 0, ind.n / q - 1 do
    local off = 0
    for j = 1, q do
      local v = tonumber(ind.data[i * q + j - 1])
      if v < 0 then v = v + x.shape[j] end
      if v < 0 or v >= x.shape[j] then ctx:fail(node, 'index %d is out of range for axis %d', v, j - 1) end
      off = off + v * st[j]
    end
    for k = 0, slice - 1 do y.data[off + k] = f(y.data[off + k], upd.data[i * slice + k]) end
  end
  return { value(y, dtype(ctx, node, 1)) }
end

function E.ScatterElements(ctx, node)
  local x, ind, upd = input(ctx, node, 1), input(ctx, node, 2), input(ctx, node, 3)
  local f = combiner(ctx, node)
  local a = opargs.axis(ctx, node, #x.shape, 'axis', 0)
  local l = indices(ctx, node, ind, x.shape[a])
  local st = nd.strides(x.shape)
  local y = x:clone('double')
  local k = 0
  nd.each(ind.shape, function(idx)
    local off = 0
    for i = 1, #idx do off = off + (i == a and l[k] or idx[i]) * st[i] end
    y.data[off] = f(y.data[off], upd.data[k])
    k = k + 1
  end)
  return { value(y, dtype(ctx, node, 1)) }
end

return M
