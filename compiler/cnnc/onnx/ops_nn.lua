-- cnnc.onnx.ops_nn: ONNX's network operators as cnnc layers: Conv, MaxPool, AveragePool,
-- LpPool, GlobalAveragePool, GlobalMaxPool, BatchNormalization, Gemm and MatMul (a
-- constant matrix applied at every position is a 1x1 convolution).
--
-- Each handler(ctx, node) returns the node's output values (cnnc.onnx.importer describes
-- values and the ctx helpers). Weights are converted to Keras layouts here: Conv
-- (cout, cin/groups, kh, kw) -> (kh, kw, cin/groups, cout), Gemm's B (K, N) or (N, K)
-- -> Dense (K, N) times alpha. Window layers run channels-last and in 1-D or 2-D.
-- MaxPool's optional Indices output is a MaxPoolingIndices layer; BatchNormalization in
-- training mode is built from Moments layers (the batch's mean and variance) and the
-- binary layers, following ONNX's definition.

local const = require 'cnnc.onnx.const'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

local function ones(n)
  local t = {}
  for i = 1, n do t[i] = 1 end
  return t
end

-- Window attributes of a Conv or pooling node over spatial input dims `sp`: kernel,
-- strides, dilations and explicit pads per axis ({before, after}).
local function window_attrs(ctx, node, sp, kernel)
  local r = #sp
  local strides = ctx:attr(node, 'strides', ones(r))
  local dil = ctx:attr(node, 'dilations', ones(r))
  local pads = ctx:attr(node, 'pads', nil)
  local auto = ctx:attr(node, 'auto_pad', 'NOTSET')
  if #strides ~= r or #dil ~= r or (pads and #pads ~= 2 * r) or #kernel ~= r then
    ctx:fail(node, 'kernel_shape, strides, dilations and pads do not match %d spatial axes', r)
  end
  for i = 1, r do
    if strides[i] < 1 or dil[i] < 1 or kernel[i] < 1 then ctx:fail(node, 'kernel, strides and dilations must be >= 1') end
  end
  local p = {}
  for i = 1, r do
    local before, after = 0, 0
    if auto == 'SAME_UPPER' or auto == 'SAME_LOWER' then
      local out = math.ceil(sp[i] / strides[i])
      local total = math.max((out - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - sp[i], 0)
      before = auto == 'SAME_UPPER' and math.floor(total / 2) or math.ceil(total / 2)
      after = total - before
    elseif auto == 'NOTSET' then
      if pads then before, after = pads[i], pads[i + r] end
    elseif auto ~= 'VALID' then
      ctx:fail(node, "auto_pad '%s' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER", auto)
    end
    if before < 0 or after < 0 then ctx:fail(node, 'negative pads are not supported') end
    p[i] = { before, after }
  end
  return strides, dil, p
end

local function spatial_dims(ctx, node, x, what)
  local r = #x.shape - 2
  if r < 1 or r > 3 then
    ctx:fail(node, '%s over %d spatial axes (input %s): cnnc convolves and pools in 1-D, 2-D and 3-D', what, r,
      util.shape_str(x.shape))
  end
  local sp = {}
  for i = 1, r do sp[i] = x.shape[i + 2] end
  return sp, r
end

local function out_len(n, k, s, d, before, after)
  return math.floor((n + before + after - ((k - 1) * d + 1)) / s) + 1
end

function M.Conv(ctx, node)
  local x = ctx:runtime(node, 1)
  if x.const then ctx:fail(node, 'a convolution of a constant is not supported') end
  local W = ctx:constant(node, 2, 'the weight W')
  local B = ctx:optional_constant(node, 3, 'the bias B')
  local sp, r = spatial_dims(ctx, node, x, 'a convolution')
  if #W.shape ~= r + 2 then ctx:fail(node, 'weight %s does not fit a %d-D convolution', util.shape_str(W.shape), r) end
  local cout, cing = W.shape[1], W.shape[2]
  local kernel = {}
  for i = 1, r do kernel[i] = W.shape[i + 2] end
  local ks = ctx:attr(node, 'kernel_shape', kernel)
  for i = 1, r do
    if ks[i] ~= kernel[i] then ctx:fail(node, 'kernel_shape %s differs from the weight %s', util.shape_str(ks), util.shape_str(W.shape)) end
  end
  local groups = ctx:attr(node, 'group', 1)
  local cin = x.shape[2]
  if groups < 1 or cin ~= cing * groups or cout % groups ~= 0 then
    ctx:fail(node, 'weight %s and group %d do not fit %d input channels', util.shape_str(W.shape), groups, cin)
  end
  if B and B.n ~= cout then ctx:fail(node, 'bias of %d values for %d output channels', B.n, cout) end
  local strides, dil, pads = window_attrs(ctx, node, sp, kernel)
  local out = { x.shape[1], cout }
  for i = 1, r do
    out[i + 2] = out_len(sp[i], kernel[i], strides[i], dil[i], pads[i][1], pads[i][2])
    if out[i + 2] < 1 then ctx:fail(node, 'the window does not fit the padded input %s', util.shape_str(x.shape)) end
  end
  -- (cout, cing, kh, kw) -> (kh, kw, cing, cout)
  local taps = util.prod(kernel)
  local k = tensor.new((function()
    local s = util.copy(kernel)
    s[#s + 1] = cing
    s[#s + 1] = cout
    return s
  end)(), 'float')
  for oc = 0, cout - 1 do
    for ic = 0, cing - 1 do
      for t = 0, taps - 1 do
        k.data[(t * cing + ic) * cout + oc] = W.data[(oc * cing + ic) * taps + t]
      end
    end
  end
  local name_in, perm = ctx:spatial(x, node)
  local given = { filters = cout, kernel_size = kernel, strides = strides, dilation_rate = dil, padding = 'valid',
    use_bias = B ~= nil }
  local weights = { kernel = k, bias = B and const.float(const.reshape(B, { cout })) }
  local name = ctx:layer(node, 'Conv' .. r .. 'D', given, {
    inputs = { name_in }, weights = weights, extra = { groups = groups }, fields = { pads = pads },
    shape = ctx:cshape(out, perm) })
  return { ctx:value(name, out, perm) }
end

local function pool(ctx, node, kind)
  local x = ctx:runtime(node, 1)
  if x.const then ctx:fail(node, 'pooling a constant is not supported') end
  local sp, r = spatial_dims(ctx, node, x, 'pooling')
  local kernel = ctx:attr(node, 'kernel_shape')
  if not kernel then ctx:fail(node, 'kernel_shape is missing') end
  local strides, dil, pads = window_attrs(ctx, node, sp, kernel)
  local ceil = ctx:attr(node, 'ceil_mode', 0) == 1
  local count_pad = ctx:attr(node, 'count_include_pad', 0) == 1
  local name_in, perm = ctx:spatial(x, node)
  local given = { pool_size = kernel, strides = strides, padding = 'valid' }
  local extra = { pads = pads, dilation_rate = dil, ceil_mode = ceil or nil,
    count_include_pad = (count_pad and node.op_type == 'AveragePool') or nil }
  if node.op_type == 'LpPool' then given.p = ctx:attr(node, 'p', 2) end
  local out = { x.shape[1], x.shape[2] }
  for i = 1, r do
    local n = out_len(sp[i], kernel[i], strides[i], dil[i], pads[i][1], pads[i][2])
    if ceil then
      local span = (kernel[i] - 1) * dil[i] + 1
      n = math.ceil((sp[i] + pads[i][1] + pads[i][2] - span) / strides[i]) + 1
      if (n - 1) * strides[i] >= sp[i] + pads[i][1] then n = n - 1 end
    end
    if n < 1 then ctx:fail(node, 'the window does not fit the padded input %s', util.shape_str(x.shape)) end
    out[i + 2] = n
  end
  if r == 3 and kind == 'LPPooling' then ctx:fail(node, 'LpPool over 3 spatial axes is not supported') end
  local name = ctx:layer(node, kind .. r .. 'D', given, {
    inputs = { name_in }, extra = extra, shape = ctx:cshape(out, perm) })
  return { ctx:value(name, out, perm) }
end

-- A second output (Indices) is used?
local function wants(ctx, node, k)
  local name = node.outputs[k]
  return name and name ~= '' and ctx.consumers[name] ~= nil
end

function M.MaxPool(ctx, node)
  local order = ctx:attr(node, 'storage_order', 0)
  if order ~= 0 and order ~= 1 then ctx:fail(node, 'storage_order must be 0 or 1, got %d', order) end
  local outs = pool(ctx, node, 'MaxPooling')
  if not wants(ctx, node, 2) then return outs end
  -- Indices number elements of the whole input tensor, the batch axis included.
  ctx:mixes_batch(node, 'numbers the elements of the whole batch in its Indices output')
  local x = ctx:runtime(node, 1)
  local sp, r = spatial_dims(ctx, node, x, 'pooling')
  if r > 2 then ctx:fail(node, 'the Indices output of a 3-D MaxPool is not supported') end
  local kernel = ctx:attr(node, 'kernel_shape')
  local strides, dil, pads = window_attrs(ctx, node, sp, kernel)
  local y = outs[1]
  local out_size = {}
  for i = 1, r do out_size[i] = y.shape[i + 2] end
  local name_in, perm = ctx:spatial(x, node)
  local name = ctx:layer(node, 'MaxPoolingIndices', { pool_size = kernel, strides = strides, dilation_rate = dil,
    pads = pads, out_size = out_size, storage_order = order },
    { inputs = { name_in }, shape = ctx:cshape(y.shape, perm), suffix = '_indices' })
  return { y, ctx:value(name, y.shape, perm, { dtype = 7 }) }
end
function M.AveragePool(ctx, node) return pool(ctx, node, 'AveragePooling') end
function M.LpPool(ctx, node) return pool(ctx, node, 'LPPooling') end

function M.global_pool(ctx, node, kind)
  local x = ctx:runtime(node, 1)
  local r = #x.shape - 2
  if r < 1 then ctx:fail(node, 'needs an input with spatial axes, got %s', util.shape_str(x.shape)) end
  local name_in = ctx:spatial(x, node)
  -- Channels-last, the spatial axes are one run of pixels: viewed as 2-D when there are 3.
  if r > 2 then
    local rows = 1
    for i = 3, #x.shape - 1 do rows = rows * x.shape[i] end
    name_in = ctx:view(name_in, { rows, x.shape[#x.shape], x.shape[2] }, node)
  end
  local out = { x.shape[1], x.shape[2] }
  for i = 1, r do out[i + 2] = 1 end
  local name = ctx:layer(node, kind .. (r == 1 and '1D' or '2D'), { keepdims = false }, {
    inputs = { name_in }, shape = { x.shape[2] } })
  return { ctx:value(name, out, { 2 }) }
end

function M.GlobalAveragePool(ctx, node) return M.global_pool(ctx, node, 'GlobalAveragePooling') end
function M.GlobalMaxPool(ctx, node) return M.global_pool(ctx, node, 'GlobalMaxPooling') end

function M.BatchNormalization(ctx, node)
  local x = ctx:runtime(node, 1)
  if ctx.opset < 7 and ctx:attr(node, 'is_test', 1) == 0 then
    ctx:fail(node, 'is_test = 0 (training) is not supported: cnnc compiles inference')
  end
  if ctx:attr(node, 'spatial', 1) ~= 1 then ctx:fail(node, 'spatial = 0 is not supported') end
  if #x.shape < 2 then ctx:fail(node, 'needs an input (N, C, ...), got %s', util.shape_str(x.shape)) end
  if ctx:attr(node, 'training_mode', 0) ~= 0 then return require('cnnc.onnx.batch_stats').training(ctx, node, x) end
  local c = x.shape[2]
  local w = {}
  for k, key in ipairs({ 'gamma', 'beta', 'moving_mean', 'moving_variance' }) do
    local t = ctx:constant(node, k + 1, ({ 'scale', 'B', 'mean', 'var' })[k])
    if not t or t.n ~= c then ctx:fail(node, 'input %d must hold %d values (one per channel)', k + 1, c) end
    w[key] = const.float(const.reshape(t, { c }))
  end
  local name_in, perm = ctx:per_channel(x, node)
  local name = ctx:layer(node, 'BatchNormalization', { epsilon = ctx:attr(node, 'epsilon', 1e-5) }, {
    inputs = { name_in }, weights = w, shape = ctx:cshape(x.shape, perm) })
  return { ctx:value(name, x.shape, perm) }
end

-- Can this Gemm/MatMul become a Dense layer (x (N, K) in batch mode times a constant)?
-- Used by Flatten/Reshape to decide whether a reorder can be folded into the weights.
function M.dense_capable(ctx, node)
  if node.op_type == 'Gemm' then
    if ctx:attr(node, 'transA', 0) ~= 0 then return false end
    local b = ctx.vals[node.inputs[2]]
    local c = node.inputs[3] and node.inputs[3] ~= '' and ctx.vals[node.inputs[3]]
    if not (b and b.const) or (c and not c.const) then return false end
    if c and c.const.n > 1 and #c.const.shape == 2 and c.const.shape[1] ~= 1 then return false end
    return ctx.batch
  elseif node.op_type == 'MatMul' then
    local b = ctx.vals[node.inputs[2]]
    return ctx.batch and b and b.const and #b.const.shape == 2
  end
  return false
end

-- x (N, K) as a Dense layer: kernel (K, N), or (N, K) with `transposed` (Gemm's transB),
-- and optional bias (N,). x may carry `rows`, the memory order of a folded Flatten: kernel
-- rows follow it. A transposed kernel is transposed and its rows reordered in one pass, in
-- blocks of 64 x 64 (a classifier's kernel may hold 100M floats: one copy, not three).
local function dense(ctx, node, x, kernel, bias, transposed)
  local kn, n = kernel.shape[1], kernel.shape[2]
  if transposed then kn, n = n, kn end
  if kn ~= x.shape[2] then
    ctx:fail(node, 'cannot multiply %s by %s', util.shape_str(x.shape), util.shape_str(kernel.shape))
  end
  if transposed then
    local k, src, rows = tensor.new({ kn, n }, 'float'), kernel.data, x.rows
    for m0 = 0, kn - 1, 64 do
      for j0 = 0, n - 1, 64 do
        for m = m0, math.min(m0 + 63, kn - 1) do
          local from = rows and rows[m + 1] or m
          for j = j0, math.min(j0 + 63, n - 1) do k.data[m * n + j] = src[j * kn + from] end
        end
      end
    end
    kernel = k
  elseif x.rows then
    local k = tensor.new({ kn, n }, 'float')
    for m = 0, kn - 1 do
      local src = x.rows[m + 1]
      for j = 0, n - 1 do k.data[m * n + j] = kernel.data[src * n + j] end
    end
    kernel = k
  end
  local name_in = x.rows and x.name or ctx:mem(x, { 2 }, node)
  local name = ctx:layer(node, 'Dense', { units = n, use_bias = bias ~= nil }, {
    inputs = { name_in }, weights = { kernel = kernel, bias = bias }, shape = { n } })
  return ctx:value(name, { x.shape[1], n }, { 2 })
end

-- A (.., M, K) times a constant or computed B as a MatMul layer (inputs in ONNX order).
local function matmul(ctx, node, a, b, suffix)
  local ashape = a.shape
  local bshape = b.const and b.const.shape or b.shape
  if #ashape < 1 or #bshape < 1 then ctx:fail(node, 'MatMul of a scalar') end
  local a2 = #ashape == 1 and { 1, ashape[1] } or ashape
  local b2 = #bshape == 1 and { bshape[1], 1 } or bshape
  if a2[#a2] ~= b2[#b2 - 1] then ctx:fail(node, 'cannot multiply %s by %s', util.shape_str(ashape), util.shape_str(bshape)) end
  local batch = require('cnnc.layers.nd').broadcast({ unpack(a2, 1, #a2 - 2) }, { unpack(b2, 1, #b2 - 2) })
  if not batch then ctx:fail(node, 'batch axes of %s and %s do not broadcast', util.shape_str(ashape), util.shape_str(bshape)) end
  local out = util.copy(batch)
  if #ashape > 1 then out[#out + 1] = a2[#a2 - 1] end
  if #bshape > 1 then out[#out + 1] = b2[#b2] end
  if ctx.batch then
    -- Items stay apart when A's first axis is a row or batch axis of the product and B
    -- does not vary along it: a constant B has size 1 there (or no axis there), a
    -- computed B has that batch axis too.
    local ok = #ashape == #out and #ashape >= 2
    if #out >= 3 then
      local bb = { unpack(b2, 1, #b2 - 2) }
      local at = #bb - #batch + 1
      if b.const then
        if at >= 1 and bb[at] ~= 1 then ok = false end
      elseif #bshape ~= #out then ok = false end
    elseif not b.const then
      ok = false
    end
    if not ok then ctx:mixes_batch(node, 'multiplies across the batch axis') end
  end
  -- Operands as cnnc values in ONNX order (without the batch axis).
  local name_a = ctx:mem(a, ctx:plain(a), node)
  local inputs, weights, extra = { name_a }, nil, {}
  local given = {}
  if b.const then
    local bt = b.const
    if ctx.batch and #out >= 3 and #bt.shape == #out then
      local s = { unpack(bt.shape, 2) }
      bt = const.reshape(bt, s)
    end
    weights = { operand = const.float(bt) }
    given.operand_shape = util.copy(bt.shape)
  else
    inputs[2] = ctx:mem(b, ctx:plain(b), node)
  end
  local perm = {}
  for i = ctx:first_axis(), #out do perm[#perm + 1] = i end
  local name = ctx:layer(node, 'MatMul', given, { inputs = inputs, weights = weights, extra = extra, suffix = suffix,
    shape = ctx:cshape(out, perm) })
  return ctx:value(name, out, perm)
end

-- a (..., K) times a constant (K, N), a of rank 3 or more: the same matrix applied at
-- every position (a transformer's or ConvNeXt's pointwise MLP), so a 1x1 Conv1D over the
-- positions, which runs on the convolution kernels.
local function pointwise(ctx, node, a, w)
  local K, N = w.shape[1], w.shape[2]
  local perm = ctx:plain(a)
  local cs = ctx:cshape(a.shape, perm)
  local positions = util.prod(cs) / K
  local view = ctx:view(ctx:mem(a, perm, node), { positions, K }, node)
  local name = ctx:layer(node, 'Conv1D', { filters = N, kernel_size = { 1 }, use_bias = false }, {
    inputs = { view }, weights = { kernel = const.float(const.reshape(w, { 1, K, N })) }, shape = { positions, N } })
  local out = util.copy(a.shape)
  out[#out] = N
  return ctx:value(ctx:view(name, ctx:cshape(out, perm), node), out, perm)
end

function M.MatMul(ctx, node)
  local a, b = ctx:runtime(node, 1), ctx:runtime(node, 2)
  if a.const and b.const then
    ctx:fail(node, 'MatMul of two constants is not folded')
  end
  if a.const then ctx:fail(node, 'MatMul with a constant left operand is not supported') end
  if M.dense_capable(ctx, node) and #a.shape == 2 then
    return { dense(ctx, node, a, b.const) }
  end
  if b.const and #b.const.shape == 2 and #a.shape >= 3 and a.shape[#a.shape] == b.const.shape[1] then
    return { pointwise(ctx, node, a, b.const) }
  end
  return { matmul(ctx, node, a, b) }
end

function M.Gemm(ctx, node)
  local a = ctx:runtime(node, 1)
  local b = ctx:runtime(node, 2)
  local c = ctx:get(node, 3)
  local alpha, beta = ctx:attr(node, 'alpha', 1.0), ctx:attr(node, 'beta', 1.0)
  local ta, tb = ctx:attr(node, 'transA', 0), ctx:attr(node, 'transB', 0)
  if a.const then ctx:fail(node, 'Gemm with a constant A is not supported') end
  if #a.shape ~= 2 or #(b.const and b.const.shape or b.shape) ~= 2 then
    ctx:fail(node, 'A and B must be matrices, got %s and %s', util.shape_str(a.shape),
      util.shape_str(b.const and b.const.shape or b.shape))
  end
  local mdim = ta == 0 and a.shape[1] or a.shape[2]
  local kdim = ta == 0 and a.shape[2] or a.shape[1]
  local bk = b.const and b.const or nil
  local ndim
  -- (a transposed B stays so for a Dense layer, which transposes it as it copies it)
  local as_dense = ta == 0 and bk and M.dense_capable(ctx, node)
  local bt = as_dense and tb ~= 0 and alpha == 1
  if bk then
    if tb ~= 0 and not bt then bk = const.transpose(bk, { 2, 1 }) end
    if bk.shape[bt and 2 or 1] ~= kdim then ctx:fail(node, 'A %s and B %s do not multiply', util.shape_str(a.shape), util.shape_str(b.const.shape)) end
    ndim = bk.shape[bt and 1 or 2]
    if alpha ~= 1 then bk = const.map(bk, function(v) return v * alpha end) end
  else
    ndim = tb == 0 and b.shape[2] or b.shape[1]
  end
  local ct = c and c.const
  if c and not ct then ctx:fail(node, 'a computed C is not supported (C must be a constant)') end
  if ct then
    local full = require('cnnc.layers.nd').broadcast(ct.shape, { mdim, ndim })
    if not full or full[1] ~= mdim or full[2] ~= ndim then
      ctx:fail(node, 'C %s does not broadcast to (%d, %d)', util.shape_str(ct.shape), mdim, ndim)
    end
    if beta ~= 1 then ct = const.map(ct, function(v) return v * beta end) end
    if beta == 0 then ct = nil end
  end
  if as_dense then
    local bias
    if ct then bias = const.float(const.reshape(const.broadcast_to(ct, { 1, ndim }), { ndim })) end
    return { dense(ctx, node, a, const.float(bk), bias, bt) }
  end
  -- The general case: a MatMul, then C added.
  if ta ~= 0 then
    ctx:mixes_batch(node, 'transposes A (transA = 1)')
    a = ctx:value(a.name, { a.shape[2], a.shape[1] }, { a.perm[1] and (3 - a.perm[1]), a.perm[2] and (3 - a.perm[2]) })
  end
  local bv = b
  if bk then bv = { const = bk }
  else
    if tb ~= 0 then bv = ctx:value(b.name, { b.shape[2], b.shape[1] }, (function()
      local p = {}
      for i, ax in ipairs(b.perm) do p[i] = 3 - ax end
      return p
    end)()) end
    if alpha ~= 1 then ctx:fail(node, 'alpha != 1 with a computed B is not supported') end
  end
  local y = matmul(ctx, node, a, bv, ct and '_matmul' or nil)
  if not ct then return { y } end
  if ctx.batch and ct.shape[#ct.shape - 1] and #ct.shape == 2 and ct.shape[1] ~= 1 then
    ctx:mixes_batch(node, 'adds a C that differs between rows (items)')
  end
  return { require('cnnc.onnx.ops_math').add_constant(ctx, node, 'Add', y, ct, false) }
end

return M
