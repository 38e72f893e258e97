-- cnnc.layers.layer_norm: LayerNormalization, Keras's layer and ONNX's operator (opset
-- 17), and through two importer options ONNX's InstanceNormalization and
-- GroupNormalization too.
--
-- Every value is normalised with the mean and the population variance (sum of squared
-- deviations over the count) of its instance, the values that share its coordinates on
-- all axes but the normalised ones, then scaled and shifted:
--   y = (x - mean) / sqrt(variance + epsilon) * gamma + beta
-- Keras: `axis` (an int or a list, the batch counting as axis 0, default -1), epsilon
-- 1e-3, center (beta), scale (gamma); gamma and beta have the shape of the normalised axes
-- in the order `axis` lists them, and their values are laid over those axes in increasing
-- axis order (Keras reshapes them to the broadcast shape).
-- ONNX options, set by the importer (not Keras arguments): p.affine_axes, the item axes
-- gamma and beta lie along when they are not the normalised ones (InstanceNormalization
-- normalises the spatial axes and scales per channel; GroupNormalization normalises each
-- group of channels over the spatial axes, with the channels viewed as (group, channel)).
--
-- ONNX's LayerNormalization also outputs the statistics: p.statistic = 'mean' or
-- 'inv_std' (1 / sqrt(variance + epsilon)) makes the layer output that per instance
-- instead, the normalised axes kept with size 1 (importer option, no weights).
--
-- Two passes (the mean, then the squared deviations from it), so the variance loses no
-- precision to cancellation; the third writes the result through the epilogue.

local nd = require 'cnnc.layers.nd'
local template = require 'cnnc.template'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

M.kinds = { LayerNormalization = { rank = 0, args = {
  { 'axis', 'axes', default = -1 },
  { 'epsilon', 'number', default = 1e-3 },
  { 'center', 'bool', default = true },
  { 'scale', 'bool', default = true },
  { 'beta_initializer', 'initializer', default = 'zeros' },
  { 'gamma_initializer', 'initializer', default = 'ones' },
  { 'gamma', 'values' }, { 'beta', 'values' },
} } }
M.epilogue = true

-- Item axes (1-based) from Keras axes, in the given order.
local function item_axes(node, list, rank, what)
  local r, seen = {}, {}
  for i, a in ipairs(list) do
    local b = nd.item_axis(a, rank)
    if a == 0 then util.fail(node, '%s: axis 0 is the batch axis, which LayerNormalization cannot normalise over', what) end
    if not b then util.fail(node, '%s: axis %d does not exist in an input of rank %d (batch axis not counted)', what, a, rank) end
    if seen[b] then util.fail(node, '%s: axis %d is given twice', what, a) end
    seen[b], r[i] = true, b
  end
  return r
end

function M.shape(node, in_shape)
  local p = node.p
  if p.epsilon < 0 then util.fail(node, 'epsilon must be >= 0, got %g', p.epsilon) end
  local norm = item_axes(node, p.axis, #in_shape, 'axis')
  local affine = p.affine_axes and item_axes(node, p.affine_axes, #in_shape, 'affine axes') or norm
  local is_norm = {}
  for _, a in ipairs(norm) do is_norm[a] = true end
  local sorted_affine = util.copy(affine)
  table.sort(sorted_affine)
  node.ln = { norm = is_norm, affine = affine, sorted_affine = sorted_affine }
  local out = util.copy(in_shape)
  if p.statistic then
    for a in pairs(is_norm) do out[a] = 1 end
  end
  return out
end

function M.weights(node, in_shape)
  local p = node.p
  if p.statistic then return {} end
  local shape = {}
  for i, a in ipairs(node.ln.affine) do shape[i] = in_shape[a] end
  local w = {}
  if p.scale then w[#w + 1] = { name = 'gamma', shape = shape, init = p.gamma_initializer } end
  if p.center then w[#w + 1] = { name = 'beta', shape = shape, init = p.beta_initializer } end
  return w
end

function M.describe(node)
  local t = {}
  for a = 1, #node.in_shape do if node.ln.norm[a] then t[#t + 1] = tostring(a) end end
  return string.format('%sover axes %s, epsilon %g', node.p.statistic and (node.p.statistic .. ' ') or '',
    table.concat(t, ','), node.p.epsilon)
end

function M.macs(node) return 4 * util.prod(node.in_shape) end

-- The offset into gamma/beta of an element at index list idx (0-based, item axes).
local function affine_offset(node, idx)
  local off, ins = 0, node.in_shape
  for _, a in ipairs(node.ln.sorted_affine) do off = off * ins[a] + idx[a] end
  return off
end

-- Calls f(offs, mean, inv) for every instance of input x, in the order of the kept axes:
-- offs = {{offset into x, offset into gamma/beta}, ...} of its values, mean and inv =
-- 1 / sqrt(variance + epsilon) its statistics (two passes, as the C).
local function each_instance(node, x, f)
  local ins = node.in_shape
  local st = nd.strides(ins)
  local kept, normd = {}, {}
  for a = 1, #ins do
    if node.ln.norm[a] then normd[#normd + 1] = a else kept[#kept + 1] = a end
  end
  local kdims, ndims = {}, {}
  for i, a in ipairs(kept) do kdims[i] = ins[a] end
  for i, a in ipairs(normd) do ndims[i] = ins[a] end
  local count = util.prod(ndims)
  local idx = {}
  nd.each(kdims, function(kidx)
    for i, a in ipairs(kept) do idx[a] = kidx[i] end
    local offs = {}
    nd.each(ndims, function(nidx)
      for i, a in ipairs(normd) do idx[a] = nidx[i] end
      offs[#offs + 1] = { nd.offset(idx, st), affine_offset(node, idx) }
    end)
    local s = 0
    for _, o in ipairs(offs) do s = s + x.data[o[1]] end
    local mean = s / count
    local q = 0
    for _, o in ipairs(offs) do q = q + (x.data[o[1]] - mean) ^ 2 end
    f(offs, mean, 1 / math.sqrt(q / count + node.p.epsilon))
  end)
end

function M.reference(node, x, W)
  local y = tensor.new(node.shape, 'double')
  local g, b = W.gamma and W.gamma.data, W.beta and W.beta.data
  local k = 0
  each_instance(node, x, function(offs, mean, inv)
    if node.p.statistic then
      y.data[k] = node.p.statistic == 'mean' and mean or inv
      k = k + 1
      return
    end
    for _, o in ipairs(offs) do
      local v = (x.data[o[1]] - mean) * inv
      if g then v = v * g[o[2]] end
      if b then v = v + b[o[2]] end
      y.data[o[1]] = v
    end
  end)
  return y
end

-- Backward (reference). Per instance, with xh = (x - mean) * inv the normalised values and
-- g = dy * gamma: dgamma += dy * xh, dbeta += dy, and
--   dx = inv * (g - mean(g) - xh * mean(g * xh))
-- (the mean and the variance depend on every value of the instance).
M.trainable = { 'gamma', 'beta' }

function M.backward_refusal(node)
  if node.p.statistic then return 'the statistics output of a layer normalisation has no backward code' end
end

function M.backward(node, x, _, W, dy)
  local why = M.backward_refusal(node)
  if why then util.fail(node, '%s', why) end
  local dx = tensor.new(node.in_shape, 'double')
  local gm = W.gamma and W.gamma.data
  local dgamma = W.gamma and tensor.new(W.gamma.shape, 'double')
  local dbeta = W.beta and tensor.new(W.beta.shape, 'double')
  each_instance(node, x, function(offs, mean, inv)
    local sg, sgx = 0, 0
    for _, o in ipairs(offs) do
      local xh, d = (x.data[o[1]] - mean) * inv, dy.data[o[1]]
      if dgamma then dgamma.data[o[2]] = dgamma.data[o[2]] + d * xh end
      if dbeta then dbeta.data[o[2]] = dbeta.data[o[2]] + d end
      local g = gm and d * gm[o[2]] or d
      sg, sgx = sg + g, sgx + g * xh
    end
    local mg, mgx = sg / #offs, sgx / #offs
    for _, o in ipairs(offs) do
      local xh, d = (x.data[o[1]] - mean) * inv, dy.data[o[1]]
      local g = gm and d * gm[o[2]] or d
      dx.data[o[1]] = inv * (g - mg - xh * mgx)
    end
  end)
  return dx, { gamma = dgamma, beta = dbeta }
end

function M.backward_reads() return { x = true } end

-- The loop holes shared by the forward and the backward code: the kept axes' loops (k*),
-- the normalised axes' loops (n*), the offsets, and the index into gamma and beta.
local function loops(node)
  local ins = node.in_shape
  local r = #ins
  local st = nd.strides(ins)
  local kdims, kst, ndims, nst = {}, {}, {}, {}
  local var = {}
  for a = 1, r do
    if node.ln.norm[a] then
      ndims[#ndims + 1], nst[#nst + 1] = ins[a], st[a]
      var[a] = 'n' .. (#ndims - 1)
    else
      kdims[#kdims + 1], kst[#kst + 1] = ins[a], st[a]
      var[a] = 'k' .. (#kdims - 1)
    end
  end
  local gidx
  for _, a in ipairs(node.ln.sorted_affine) do
    gidx = gidx and string.format('(%s) * %d + %s', gidx, ins[a], var[a]) or var[a]
  end
  local kopen, kclose = nd.c_loops(kdims, 'k')
  local nopen, nclose = nd.c_loops(ndims, 'n')
  return { kopen = kopen, kclose = kclose, nopen = nopen, nclose = nclose, base = nd.c_index(kst, 'k'),
    off = nd.c_index(nst, 'n'), N = util.c_float(util.prod(ndims)), eps = util.c_float(node.p.epsilon),
    gidx = gidx, var = var, kdims = kdims }
end

function M.emit_backward(node, E)
  local L = loops(node)
  local h = { kopen = L.kopen, kclose = L.kclose, base = L.base, off = L.off, N = L.N,
    stats = template.section('layer_norm', 'stats', { open = L.nopen, close = L.nclose, off = L.off, N = L.N,
      eps = L.eps }) }
  for k = 3, 4 do h['open' .. k], h['close' .. k] = L.nopen, L.nclose end
  h.gscale = node.p.scale and string.format(' * %s[%s]', E:weight(node, 'gamma'), L.gidx) or ''
  local fx, fw = E:backward_fn(node, 'input'), E:backward_fn(node, 'weights')
  h.fn = fx
  h.comment = util.c_comment(node.name .. ': the input gradient, inv * (g - mean(g) - xh * mean(g * xh)) per instance '
    .. '(g = dy * gamma, xh the normalised input)')
  local text = template.section('backward', 'layer_norm_input', h)
  local calls = { { fn = fx, args = { 'dx', 'x', 'dy' }, input = true } }
  if node.p.scale or node.p.center then
    local params, args, lines = {}, {}, {}
    if node.p.scale then
      params[#params + 1], args[#args + 1] = 'float *restrict dgamma', 'dw:gamma'
      lines[#lines + 1] = string.format('dgamma[%s] += dy[off] * (x[off] - mean) * inv;', L.gidx)
    end
    if node.p.center then
      params[#params + 1], args[#args + 1] = 'float *restrict dbeta', 'dw:beta'
      lines[#lines + 1] = string.format('dbeta[%s] += dy[off];', L.gidx)
    end
    args[#args + 1], args[#args + 2] = 'x', 'dy'
    h.fn, h.params, h.lines = fw, table.concat(params, ', '), table.concat(lines, '\n')
    -- beta's gradient alone reads neither the input nor its statistics
    h.xview = node.p.scale and string.format('const float *x = &xs[%s];', L.base) or '(void)xs;'
    if not node.p.scale then h.stats = '' end
    h.open4, h.close4, h.gscale, h.N = nil, nil, nil, nil
    h.comment = util.c_comment(node.name .. ': the gradients of gamma and beta, added to: dy times the normalised '
      .. 'input, and dy')
    text = text .. '\n\n' .. template.section('backward', 'layer_norm_weights', h)
    calls[2] = { fn = fw, args = args }
  end
  return text, calls
end

function M.emit(node, E)
  local L = loops(node)
  local stats = template.section('layer_norm', 'stats', { open = L.nopen, close = L.nclose, off = L.off, N = L.N,
    eps = L.eps })
  if node.p.statistic then
    return template.section('layer_norm', 'statistic', {
      fn = E:fn(node), comment = E:comment(node), kopen = L.kopen, kclose = L.kclose, base = L.base, stats = stats,
      out_index = nd.c_index(nd.strides(L.kdims), 'k'), value = node.p.statistic == 'mean' and 'mean' or 'inv',
    })
  end
  local ins = node.in_shape
  local value = '(x[off] - mean) * inv'
  if node.p.scale then value = string.format('%s * %s[%s]', value, E:weight(node, 'gamma'), L.gidx) end
  if node.p.center then value = string.format('%s + %s[%s]', value, E:weight(node, 'beta'), L.gidx) end
  -- A softmax step runs over each finished channel vector.
  local post = E:post(node, 'y', ins[#ins])
  if post ~= '' then
    post = template.section('layer_norm', 'post', { PIXELS = util.prod(ins) / ins[#ins], C = ins[#ins], post = post })
  end
  return template.section('layer_norm', 'layer', {
    fn = E:fn(node), comment = E:comment(node), kopen = L.kopen, kclose = L.kclose, base = L.base, stats = stats,
    open3 = L.nopen, close3 = L.nclose, off = L.off,
    store = E:store(node, 'y[off]', value, L.var[#ins]),
    post = post,
  })
end

return M
