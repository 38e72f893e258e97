-- cnnc.simd.conv_backward: the backward code of Conv1D/Conv2D on a SIMD target.
--
-- The input gradient of a stride-1 convolution is itself a convolution: of dy with the
-- kernel flipped in (ky, kx) and its channels swapped, dilated alike, padded (k - 1) d -
-- pad before and what makes the output the input's size after. It runs as a forward
-- convolution: a synthetic Conv node with that geometry and kernel, planned and emitted by
-- cnnc.simd.conv (register tiles, packed weights, its padded copy of dy), so it is as fast
-- as the forward kernel; a 3x3 one runs as Winograd (cnnc.simd.winograd) when the forward
-- pass would take it for that shape. (Strided convolutions, and pads larger than the window, keep the
-- portable input gradient of cnnc.layers.conv.)
-- The kernel's gradient dK[ky, kx, ic, oc] = sum over output pixels of x(tap) dy is a
-- correlation of the input with dy: register tiles of IT input channels (each x value
-- broadcast) by V vectors of output channels, summed over every output pixel for one
-- window cell, then added into dK; the input is read from a zero-padded copy (in the
-- layer's scratch) when the layer pads, so the tiles need no bounds checks. A 3x3 stride-1
-- layer whose output is whole Winograd tiles takes the kernel's gradient as Winograd
-- F(3x3, m x m) instead (cnnc.simd.winograd_dw) when that counts fewer operations. The
-- bias's gradient is the sum of dy over the pixels, on vectors.
-- Chosen by cnnc.passes.select (step 4, builds with backward code) through the layer
-- module's `backward_kernels`: eligible, plan (with its describe text and scratch floats)
-- and emit_backward (as a layer module's: the C text and the calls of cnnc.emit.backward).

local common = require 'cnnc.simd.common'
local ir = require 'cnnc.ir'
local simd_conv = require 'cnnc.simd.conv'
local template = require 'cnnc.template'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'
local window = require 'cnnc.window'
local winograd = require 'cnnc.simd.winograd'
local winograd_dw = require 'cnnc.simd.winograd_dw'

local M = {}

M.name = 'direct backward'

-- Whether the input gradient runs as a forward convolution (stride 1, pads inside the
-- window's reach).
local function transposed_ok(g)
  return g.sh == 1 and g.sw == 1 and g.pt <= (g.kh - 1) * g.dh and g.pl <= (g.kw - 1) * g.dw
    and g.ih - g.oh + g.pt >= 0 and g.iw - g.ow + g.pl >= 0
end

function M.eligible(node, t)
  return node.g ~= nil and (node.p.groups or 1) == 1 and t.width > 1 and node.p.filters % t.width == 0
end

-- The synthetic convolution computing dx: input dy (oh, ow, filters), output (ih, iw, ic).
local function transposed_node(node)
  local g, oc = node.g, node.p.filters
  local k = ir.weight(node, 'kernel')
  local flipped = tensor.new({ g.kh, g.kw, oc, g.ic }, k.ctype)
  for ky = 0, g.kh - 1 do
    for kx = 0, g.kw - 1 do
      local src = ((g.kh - 1 - ky) * g.kw + (g.kw - 1 - kx)) * g.ic * oc
      local dst = (ky * g.kw + kx) * oc * g.ic
      for ic = 0, g.ic - 1 do
        for o = 0, oc - 1 do flipped.data[dst + o * g.ic + ic] = k.data[src + ic * oc + o] end
      end
    end
  end
  local pt, pl = (g.kh - 1) * g.dh - g.pt, (g.kw - 1) * g.dw - g.pl
  local pb, pr = g.ih - g.oh + (g.kh - 1) * g.dh - pt, g.iw - g.ow + (g.kw - 1) * g.dw - pl
  local in_shape = window.out_shape(g, oc)
  local syn = { name = node.name .. '_grad_input', fn_name = util.c_ident(node.name) .. '_backward_input',
    op = node.op, layer = node.layer, rank = node.rank, epilogue = {}, fused = {},
    p = { filters = g.ic, use_bias = false, kernel_size = node.p.kernel_size, strides = node.p.strides,
      dilation_rate = node.p.dilation_rate },
    in_shape = in_shape, shape = util.copy(node.in_shape),
    weights = { { name = 'kernel', tensor = flipped } } }
  local pads = g.rank == 1 and { { pl, pr } } or { { pt, pb }, { pl, pr } }
  local kk = g.rank == 1 and { g.kw } or { g.kh, g.kw }
  local dd = g.rank == 1 and { g.dw } or { g.dh, g.dw }
  local ones = g.rank == 1 and { 1 } or { 1, 1 }
  syn.g = window.geometry(syn, in_shape, kk, ones, dd, pads)
  assert(syn.g.oh == g.ih and syn.g.ow == g.iw, 'cnnc: the transposed convolution has the wrong size')
  return syn
end

-- The weight-gradient tile: IT input channels x V vectors (accumulators a<i>_<v>).
local function dw_tile(t, nvec)
  local budget = common.budget(t)
  local V = math.min(nvec, t.regs >= 32 and 4 or 2)
  return V, math.max(1, math.floor(budget / V))
end

-- Plan: the synthetic convolution's (when the input gradient is one), the tile, the
-- scratch: the larger of the synthetic convolution's and the padded input copy.
function M.plan(node, t, ctx)
  local g = node.g
  local P = { nvec = node.p.filters / t.width }
  P.V, P.IT = dw_tile(t, P.nvec)
  P.IT = math.min(P.IT, g.ic)
  P.padded = window.padded(g)
  local pad_floats = P.padded and (g.ih + g.pt + g.pb) * (g.iw + g.pl + g.pr) * g.ic or 0
  local syn_floats = 0
  local how = 'in portable C (strided)'
  if transposed_ok(g) then
    local syn = transposed_node(node)
    local sctx = { threads = 1, tune = ctx.tune }
    P.syn, P.synK = simd_conv.plan(syn, t, sctx), simd_conv
    -- Winograd as the forward pass takes it (its transformed kernel cannot follow training's
    -- updates: training builds have winograd 'off').
    if ctx.winograd ~= 'off' and winograd.eligible(syn, t) then
      local wp = winograd.plan(syn, t, sctx)
      if wp and (ctx.winograd == 'on' or winograd.cost(syn, wp, t) * winograd.margin < simd_conv.cost(syn, P.syn, t)) then
        P.syn, P.synK = wp, winograd
      end
    end
    syn_floats = P.syn.scratch or 0
    how = P.synK == winograd and 'as a forward ' .. winograd.describe(syn, P.syn) or 'as a forward convolution'
  end
  local wfloats = pad_floats
  if ctx.winograd_weights ~= 'off' then
    P.wdw = winograd_dw.plan(node, t, P.IT, P.V, ctx.tune, ctx.winograd_weights == 'on')
    if P.wdw then
      P.wdw.pad = math.ceil(pad_floats / 16) * 16
      wfloats = P.wdw.pad + P.wdw.floats
    end
  end
  P.scratch = math.max(wfloats, syn_floats)
  P.describe = string.format('input gradient %s, weight gradient %s in tiles of %d input channels x %d vectors%s',
    how, P.wdw and P.wdw.describe or 'direct', P.IT, P.V, P.padded and ', from a padded copy' or '')
  return P
end

local function tile_fn(E, node, P, it, v, g, pw)
  local W = E.target.width
  local oc = node.p.filters
  local init, loads, fmas, stores = common.outer_tile(it, v, W, function(i, k, acc)
    local at = i * oc + k * W
    return string.format('vf_store(dk + %d, add ? vf_add(vf_load(dk + %d), %s) : %s);', at, at, acc, acc)
  end)
  local name = string.format('%s_tile%dx%d', E:backward_fn(node, 'weights'), it, v)
  return name, template.section('simd_backward', 'dw_tile', { fn = name, IT = it, V = v, OH = g.oh, OW = g.ow,
    XROW = g.sh * pw * g.ic, XCOL = g.sw * g.ic, OC = oc, init = init, loads = loads, fmas = fmas, stores = stores })
end

function M.emit_backward(node, E)
  local g, oc = node.g, node.p.filters
  local P = node.sel.bplan
  local W = E.target.width
  local texts, calls = {}, {}
  -- the input gradient
  if P.syn then
    local syn = transposed_node(node)
    syn.sel = { K = P.synK, plan = P.syn, kernel = P.synK.name }
    texts[#texts + 1] = P.synK.emit(syn, E)
    local pre = E.pre[syn]
    local args = { 'dx', pre and 'work' or 'dy' }
    if pre then calls[#calls + 1] = { fn = pre.fn, args = { 'work', 'dy' }, input = true } end
    -- a kernel with block buffers (Winograd) has them after the padded copy
    if P.syn.work then args[#args + 1] = (P.syn.copy_floats or 0) > 0 and ('work+' .. P.syn.copy_floats) or 'work' end
    calls[#calls + 1] = { fn = E:fn(syn), args = args, input = true }
  else
    local text, call = node.layer.window_backward_input(node, E, window.c_tap(g))
    texts[#texts + 1] = text
    calls[#calls + 1] = call
  end
  -- the weight gradients
  local pw = g.iw + g.pl + g.pr
  local bias = node.p.use_bias
  local fn = E:backward_fn(node, 'weights')
  local bias_text = bias and template.section('simd_backward', 'dw_bias', { P = g.oh * g.ow, OC = oc, NV = P.nvec, W = W }) or ''
  local params = 'float *restrict dkernel' .. (bias and ', float *restrict dbias' or '')
    .. ', const float *restrict x, const float *restrict dy' .. ((P.padded or P.wdw) and ', float *restrict work' or '')
    .. ', int add'
  local copy = ''
  if P.padded then
    copy = template.section('simd_backward', 'dw_pad', { IH = g.ih, IC = g.ic, PT = g.pt, PL = g.pl,
      PH = g.ih + g.pt + g.pb, PW = pw, ROW = g.iw * g.ic })
  end
  local args = { 'dw:kernel' }
  if bias then args[#args + 1] = 'dw:bias' end
  args[#args + 1] = 'x'
  args[#args + 1] = 'dy'
  if P.padded or P.wdw then args[#args + 1] = 'work' end
  if P.wdw then
    texts[#texts + 1] = winograd_dw.emit(node, E, P.wdw, fn, params, copy, P.padded and 'work' or 'x', bias_text)
  else
    local tiles, made = {}, {}
    local function tile(it, v)
      local key = it .. 'x' .. v
      if not made[key] then
        local name, text = tile_fn(E, node, P, it, v, g, pw)
        made[key], tiles[#tiles + 1] = name, text
      end
      return made[key]
    end
    local blocks = {}
    local nblocks = math.ceil(P.nvec / P.V)
    for b = 0, nblocks - 1 do
      local v = math.min(P.V, P.nvec - b * P.V)
      local full, rest = math.floor(g.ic / P.IT), g.ic % P.IT
      blocks[#blocks + 1] = template.section('simd_backward', 'dw_block', { OC0 = b * P.V * W, OC1 = b * P.V * W + v * W - 1,
        KH = g.kh, KW = g.kw, KSTEP = g.dh * pw * g.ic, XSTEP = g.dw * g.ic, ICOC = g.ic * oc,
        full = full > 0 and string.format('for (int ic = 0; ic < %d; ic += %d) %s(dk + ic * %d, xp + ic, gp, add);',
          full * P.IT, P.IT, tile(P.IT, v), oc) or '', rest = rest > 0 and string.format('%s(dk + %d, xp + %d, gp, add);',
          tile(rest, v), full * P.IT * oc, full * P.IT) or '' })
    end
    texts[#texts + 1] = table.concat(tiles, '\n\n')
    texts[#texts + 1] = template.section('simd_backward', 'dw_layer', { fn = fn, params = params,
      comment = util.c_comment(string.format('%s: the weight gradients, added to (add 0: written): the kernel\'s the sum '
        .. 'over the windows of x^T dy in tiles of input channels x %d-lane vectors of output channels%s [%s]', node.name,
        W, bias and ', the bias\'s of dy' or '', E.target.name)),
      copy = copy, x = P.padded and 'work' or 'x', blocks = table.concat(blocks, '\n'), bias = bias_text })
  end
  calls[#calls + 1] = { fn = fn, args = args, store = true }
  return table.concat(texts, '\n\n'), calls
end

return M
