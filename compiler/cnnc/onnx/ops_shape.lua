-- cnnc.onnx.ops_shape: ONNX's operators that move values without computing on them:
-- Flatten, Reshape, Squeeze, Unsqueeze, Transpose, Concat, Pad, Identity, Dropout (the
-- identity at inference) and Constant.
--
-- Transpose, Squeeze and Unsqueeze only relabel the axes of a value (its memory stays
-- as it is); Flatten and Reshape need ONNX's row-major order and get a Permute only when
-- the memory holds another order, unless every reader is a Gemm/MatMul that becomes a
-- Dense layer: then the reorder is folded into its weight rows. Shapes given as inputs
-- (Reshape's shape, Squeeze's axes, Pad's pads) must be constants.

local const = require 'cnnc.onnx.const'
local nd = require 'cnnc.layers.nd'
local opargs = require 'cnnc.onnx.opargs'
local ops_nn = require 'cnnc.onnx.ops_nn'
local util = require 'cnnc.util'

local M = {}

local function ints(ctx, node, k, what)
  local t = ctx:optional_constant(node, k, what)
  if not t then return nil end
  local l = const.to_list(t)
  for _, v in ipairs(l) do
    if v ~= math.floor(v) then ctx:fail(node, '%s must hold integers', what) end
  end
  return l
end

-- Memory order of v over its item axes, as logical (row-major, ONNX order) flat indices.
local function memory_rows(ctx, v)
  local first = ctx:first_axis()
  local strides, acc = {}, 1
  for a = #v.shape, first, -1 do
    strides[a] = acc
    acc = acc * v.shape[a]
  end
  local dims, st = {}, {}
  for i, a in ipairs(v.perm) do dims[i], st[i] = v.shape[a], strides[a] end
  local rows = {}
  nd.each(dims, function(idx) rows[#rows + 1] = nd.offset(idx, st) end)
  return rows
end

-- May the reorder of a flattened value be folded into its readers' weights?
local function folds_into_dense(ctx, node)
  local readers = ctx.consumers[node.outputs[1]] or {}
  if #readers == 0 then return false end
  for _, c in ipairs(readers) do
    if c.op_type ~= 'Gemm' and c.op_type ~= 'MatMul' then return false end
    if c.inputs[1] ~= node.outputs[1] then return false end
    for k = 2, #c.inputs do if c.inputs[k] == node.outputs[1] then return false end end
    if not ops_nn.dense_capable(ctx, c) then return false end
  end
  return true
end

-- x in row-major order under ONNX shape `out`.
function M.reshape_to(ctx, node, x, out)
  if x.const then return { const = const.reshape(x.const, out) } end
  if ctx.batch and out[1] ~= x.shape[1] then
    ctx:mixes_batch(node, string.format('reshapes %s to %s, across the batch axis', util.shape_str(x.shape), util.shape_str(out)))
  end
  local oshape = util.copy(out)
  local operm = {}
  for a = ctx:first_axis(), #out do operm[#operm + 1] = a end
  local cs = ctx:cshape(oshape, operm)
  local plain = ctx:plain(x)
  local function nt(p)
    local t = {}
    for _, a in ipairs(p) do if x.shape[a] ~= 1 then t[#t + 1] = a end end
    return table.concat(t, ',')
  end
  if ctx.batch and #out == 2 and not x.rows and nt(x.perm) ~= nt(plain) and folds_into_dense(ctx, node) then
    local rows = memory_rows(ctx, x)
    return ctx:value(ctx:view(x.name, cs, node), oshape, operm, { rows = rows })
  end
  if x.rows then ctx:fail(node, 'cnnc: a folded Flatten reached a non-Dense reader') end
  local name = ctx:mem(x, plain, node)
  return ctx:value(ctx:view(name, cs, node), oshape, operm)
end

function M.Flatten(ctx, node)
  local x = ctx:runtime(node, 1)
  local r = #x.shape
  local axis = ctx:attr(node, 'axis', 1)
  if axis < 0 then axis = axis + r end
  if axis < 0 or axis > r then ctx:fail(node, 'axis %d does not exist in %s', axis, util.shape_str(x.shape)) end
  local out = { util.prod(x.shape, 1, axis), util.prod(x.shape, axis + 1, r) }
  if ctx.batch and axis == 0 then ctx:mixes_batch(node, 'flattens the batch axis into the item (axis 0)') end
  return { M.reshape_to(ctx, node, x, out) }
end

function M.Reshape(ctx, node)
  local x = ctx:runtime(node, 1)
  local target
  if ctx.opset < 5 then target = ctx:attr(node, 'shape')
  else target = ints(ctx, node, 2, 'the shape') end
  return { M.reshape_to(ctx, node, x, opargs.reshape_shape(ctx, node, x.shape, target, x.const ~= nil)) }
end

local function axes_of(ctx, node, rank)
  local axes
  if ctx.opset < 13 then axes = ctx:attr(node, 'axes')
  else axes = ints(ctx, node, 2, 'the axes') end
  if not axes then return nil end
  local t, seen = {}, {}
  for i, a in ipairs(axes) do
    if a < 0 then a = a + rank end
    if a < 0 or a >= rank or seen[a] then ctx:fail(node, 'axes %s do not fit rank %d', util.shape_str(axes), rank) end
    seen[a] = true
    t[i] = a + 1
  end
  return t
end

function M.Squeeze(ctx, node)
  local x = ctx:runtime(node, 1)
  local r = #x.shape
  local axes = axes_of(ctx, node, r)
  local drop = {}
  if axes then
    for _, a in ipairs(axes) do
      if x.shape[a] ~= 1 then ctx:fail(node, 'axis %d of %s is not 1', a - 1, util.shape_str(x.shape)) end
      drop[a] = true
    end
  else
    for a = 1, r do if x.shape[a] == 1 then drop[a] = true end end
  end
  return { M.squeezed(ctx, node, x, drop) }
end

-- x without the axes of size 1 in the set `drop` (a view: its memory is unchanged).
function M.squeezed(ctx, node, x, drop)
  if drop[1] and not x.const then ctx:mixes_batch(node, 'removes the batch axis') end
  local shape, new = {}, {}
  for a = 1, #x.shape do
    if not drop[a] then
      shape[#shape + 1] = x.shape[a]
      new[a] = #shape
    end
  end
  if x.const then return { const = const.reshape(x.const, shape) } end
  local perm = {}
  for _, a in ipairs(x.perm) do if new[a] then perm[#perm + 1] = new[a] end end
  return ctx:value(ctx:view(x.name, ctx:cshape(shape, perm), node), shape, perm, { dtype = x.dtype })
end

function M.Unsqueeze(ctx, node)
  local x = ctx:runtime(node, 1)
  local r = #x.shape
  local nax = ctx.opset < 13 and ctx:attr(node, 'axes') or ctx:constant(node, 2, 'the axes')
  local count = nax and (nax.n or #nax) or 0
  local axes = axes_of(ctx, node, r + count)
  if not axes then ctx:fail(node, 'the axes are missing') end
  local added = {}
  for _, a in ipairs(axes) do added[a] = true end
  local shape, new = {}, {}
  local k = 1
  for a = 1, r + #axes do
    if added[a] then shape[a] = 1
    else
      shape[a] = x.shape[k]
      new[k] = a
      k = k + 1
    end
  end
  if x.const then return { { const = const.reshape(x.const, shape) } } end
  if added[1] then ctx:mixes_batch(node, 'adds an axis before the batch axis') end
  local perm = {}
  for i, a in ipairs(x.perm) do perm[i] = new[a] end
  return { ctx:value(ctx:view(x.name, ctx:cshape(shape, perm), node), shape, perm) }
end

function M.Transpose(ctx, node)
  local x = ctx:runtime(node, 1)
  local r = #x.shape
  local p = ctx:attr(node, 'perm')
  if not p then
    p = {}
    for i = 1, r do p[i] = r - i end
  end
  if #p ~= r then ctx:fail(node, 'perm %s does not fit rank %d', util.shape_str(p), r) end
  local perm1, inv = {}, {}
  for j = 1, r do
    local a = p[j] + 1
    if a < 1 or a > r or inv[a] then ctx:fail(node, 'perm %s is not a permutation', util.shape_str(p)) end
    perm1[j], inv[a] = a, j
  end
  return { M.transposed(ctx, node, x, perm1) }
end

-- x with its axes permuted (result axis j is x's axis perm1[j], 1-based): a relabelling.
function M.transposed(ctx, node, x, perm1)
  if x.const then return { const = const.transpose(x.const, perm1) } end
  if perm1[1] ~= 1 then ctx:mixes_batch(node, 'moves the batch axis') end
  if x.rows then ctx:fail(node, 'cnnc: a folded Flatten reached a Transpose') end
  local inv, shape = {}, {}
  for j, a in ipairs(perm1) do inv[a], shape[j] = j, x.shape[a] end
  local perm = {}
  for i, a in ipairs(x.perm) do perm[i] = inv[a] end
  return ctx:value(x.name, shape, perm, { dtype = x.dtype })
end

function M.Concat(ctx, node)
  local vals = {}
  for k = 1, #node.inputs do
    local v = ctx:get(node, k)
    if v then vals[#vals + 1] = v end
  end
  if #vals == 0 then ctx:fail(node, 'no inputs') end
  local r = #vals[1].shape
  local axis = ctx:attr(node, 'axis')
  if not axis then ctx:fail(node, 'axis is missing') end
  if axis < 0 then axis = axis + r end
  if axis < 0 or axis >= r then ctx:fail(node, 'axis %d does not exist in %s', axis, util.shape_str(vals[1].shape)) end
  local a = axis + 1
  local out = util.copy(vals[1].shape)
  out[a] = 0
  local all_const = true
  for _, v in ipairs(vals) do
    if #v.shape ~= r then ctx:fail(node, 'inputs of different ranks') end
    for i = 1, r do
      if i ~= a and v.shape[i] ~= out[i] then
        ctx:fail(node, 'input %s does not match %s except along axis %d', util.shape_str(v.shape), util.shape_str(vals[1].shape), axis)
      end
    end
    out[a] = out[a] + v.shape[a]
    if not v.const then all_const = false end
  end
  if all_const then
    local list = {}
    for i, v in ipairs(vals) do list[i] = v.const end
    return { { const = const.concat(list, a) } }
  end
  if #vals == 1 then return { vals[1] } end
  if a == 1 then ctx:mixes_batch(node, 'joins along the batch axis') end
  local lead
  for _, v in ipairs(vals) do
    if not v.const then lead = lead or v end
  end
  -- A constant part has the batch axis too: it must be 1, and is dropped.
  if ctx.batch then
    for _, v in ipairs(vals) do
      if v.const and v.shape[1] ~= 1 then ctx:mixes_batch(node, 'joins a constant that differs per item') end
    end
  end
  -- The first computed input's order, with the output's other axes of size > 1 added.
  local perm = util.copy(lead.perm)
  local has = {}
  for _, x in ipairs(perm) do has[x] = true end
  for x = ctx:first_axis(), r do
    if not has[x] and (out[x] ~= 1 or x == a) then
      local at = #perm + 1
      for i, y in ipairs(perm) do if y > x then at = i; break end end
      table.insert(perm, at, x)
    end
  end
  local names, consts, weights = {}, nil, nil
  for i, v in ipairs(vals) do
    if v.const then
      -- Laid out like the computed parts: its axes in the order `perm`, then the rest (all 1).
      local order, used = {}, {}
      for _, x in ipairs(perm) do order[#order + 1] = x; used[x] = true end
      for x = 1, r do if not used[x] then order[#order + 1] = x end end
      local cs = ctx:cshape(v.shape, perm)
      consts, weights = consts or {}, weights or {}
      consts[i] = cs
      weights['part' .. i] = const.reshape(const.transpose(v.const, order), cs)
    else
      names[#names + 1] = ctx:mem(v, perm, node)
    end
  end
  local pos
  for i, x in ipairs(perm) do if x == a then pos = i end end
  local name = ctx:layer(node, 'Concatenate', { axis = pos, constants = consts },
    { inputs = names, weights = weights, shape = ctx:cshape(out, perm) })
  return { ctx:value(name, out, perm) }
end

function M.Pad(ctx, node)
  local x = ctx:runtime(node, 1)
  local r = #x.shape
  local pa = opargs.pad(ctx, node, r)
  local pads, mode, value = pa.pads, pa.mode, pa.value
  if x.const then ctx:fail(node, 'padding a constant is not folded') end
  if pads[1] ~= 0 or pads[1 + r] ~= 0 then ctx:mixes_batch(node, 'pads the batch axis') end
  local out = {}
  for i = 1, r do out[i] = x.shape[i] + pads[i] + pads[i + r] end
  local zero_spatial = mode == 'constant' and value == 0 and (r == 3 or r == 4) and pads[2] == 0 and pads[2 + r] == 0
    and (ctx.batch or x.shape[1] == 1)
  for i = 3, r do
    if pads[i] < 0 or pads[i + r] < 0 then zero_spatial = false end
  end
  if zero_spatial then
    local name_in, perm = ctx:spatial(x, node)
    local padding = {}
    for i = 3, r do padding[#padding + 1] = { pads[i], pads[i + r] } end
    if r == 3 then padding = padding[1] end
    local name = ctx:layer(node, r == 3 and 'ZeroPadding1D' or 'ZeroPadding2D', { padding = padding },
      { inputs = { name_in }, shape = ctx:cshape(out, perm) })
    return { ctx:value(name, out, perm) }
  end
  local perm = util.copy(x.perm)
  local has = {}
  for _, a in ipairs(perm) do has[a] = true end
  for a = ctx:first_axis(), r do
    if not has[a] and (pads[a] ~= 0 or pads[a + r] ~= 0) then perm[#perm + 1] = a end
  end
  local name_in = ctx:mem(x, perm, node)
  local list = {}
  for i, a in ipairs(perm) do list[i] = { pads[a], pads[a + r] } end
  if #list == 0 then list[1] = { 0, 0 } end
  local name = ctx:layer(node, 'Pad', { pads = list, mode = mode, value = value },
    { inputs = { name_in }, shape = ctx:cshape(out, perm) })
  return { ctx:value(name, out, perm) }
end

function M.Identity(ctx, node) return { ctx:runtime(node, 1) } end

-- The identity at inference. From opset 12 a training_mode input that is true with a
-- ratio above 0 drops random values: ONNX does not say how they are drawn, and cnnc
-- compiles inference, so such a node is rejected. (Before opset 7 nodes carry is_test,
-- which ONNX's own test data leaves at 0 for inference too.) The optional second output,
-- the mask, is then all true: a constant of ones (1.0f, booleans being 0 or 1).
function M.Dropout(ctx, node)
  local x = ctx:runtime(node, 1)
  if ctx.opset >= 12 then
    local ratio = ctx:optional_constant(node, 2, 'the ratio')
    local training = ctx:optional_constant(node, 3, 'training_mode')
    if training and training.data[0] ~= 0 and (not ratio or ratio.data[0] ~= 0) then
      ctx:fail(node, 'Dropout in training mode draws random numbers; cnnc compiles inference (training_mode = true with a ratio above 0)')
    end
  end
  local mask = node.outputs[2]
  if not (mask and mask ~= '' and ctx.consumers[mask]) then return { x } end
  if x.const then return { x, { const = const.map(x.const, function() return 1 end), dtype = 9 } } end
  local perm = ctx:plain(x)
  local shape = ctx:cshape(x.shape, perm)
  local ones = require('cnnc.tensor').new(shape, 'float')
  for i = 0, ones.n - 1 do ones.data[i] = 1 end
  local name = ctx:layer(node, 'Constant', { value_shape = shape }, { inputs = {}, weights = { value = ones },
    shape = shape, suffix = '_mask' })
  return { x, ctx:value(name, x.shape, perm, { dtype = 9 }) }
end

function M.Constant(ctx, node)
  local t = ctx:attr_tensor(node, 'value')
  if not t then
    local a = node.attrs
    if a.value_float then t = const.scalar(a.value_float.f)
    elseif a.value_int then t = const.scalar(a.value_int.i)
    elseif a.value_floats then t = const.from_list(a.value_floats.floats)
    elseif a.value_ints then t = const.from_list(a.value_ints.ints)
    else ctx:fail(node, 'only tensor, float and int values are supported (not sparse or string ones)') end
  end
  return { { const = t } }
end

return M
