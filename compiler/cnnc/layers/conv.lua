-- cnnc.layers.conv: Conv1D and Conv2D (shared weights over a sliding window).
--
-- Keras semantics: cross-correlation, kernel (kh, kw, cin, filters) or (k, cin, filters),
-- padding valid/same (and causal for 1-D), strides and dilation. A 1-D convolution runs as
-- a 2-D one of height 1 (cnnc.window). Explicit pads (from a fused ZeroPadding, or set by
-- the ONNX importer) replace the padding mode after fusion.
--
-- groups (Keras's argument, also set by the ONNX importer and by DepthwiseConv lowered
-- here): output channel oc reads only the input channels of its group oc // (filters /
-- groups); the kernel is (kh, kw, cin / groups, filters); groups = cin = filters is a
-- depthwise convolution. ONNX option (node.onnx): strides combined with dilation above 1,
-- which Keras forbids.

local args = require 'cnnc.args'
local ir = require 'cnnc.ir'
local tensor = require 'cnnc.tensor'
local template = require 'cnnc.template'
local util = require 'cnnc.util'
local window = require 'cnnc.window'

local M = {}

local function spec(rank)
  local t = {
    { 'filters', 'int', min = 1, required = true },
    { 'kernel_size', 'size', required = true },
    { 'strides', 'size', default = 1 },
    { 'padding', 'enum', default = 'valid', values = rank == 1 and { valid = 1, same = 1, causal = 1 } or { valid = 1, same = 1 } },
    { 'data_format', 'enum', values = { channels_last = 1 } },
    { 'dilation_rate', 'size', default = 1 },
    { 'groups', 'int', min = 1, default = 1 },
    { 'activation', 'activation' },
    { 'use_bias', 'bool', default = true },
    { 'kernel_initializer', 'initializer', default = 'glorot_uniform' },
    { 'bias_initializer', 'initializer', default = 'zeros' },
  }
  for _, a in ipairs(args.training_only({ 'kernel', 'bias' })) do t[#t + 1] = a end
  t[#t + 1] = { 'kernel', 'values' }
  t[#t + 1] = { 'bias', 'values' }
  return t
end

M.kinds = {
  Conv1D = { rank = 1, args = spec(1) },
  Conv2D = { rank = 2, args = spec(2) },
}
M.epilogue = true
-- The SIMD kernels that can run a convolution (cnnc.passes.select): direct register tiles
-- by default (1-D layers their own), Winograd for 3x3 stride-1 layers (and 1-D ones of 3 to
-- 9 taps) where faster, depthwise for groups = channels, grouped for other groups.
M.kernels = { 'conv1d', 'conv', 'winograd', 'winograd1d', 'depthwise', 'grouped' }
-- ... and its backward code (cnnc.passes.select, for builds with backward code).
M.backward_kernels = { 'conv_backward' }

local function check_rank(node, in_shape)
  if #in_shape ~= node.rank + 1 then
    util.fail(node, '%s needs a rank-%d input %s, got shape %s', node.op, node.rank + 1,
      node.rank == 1 and '(steps, channels)' or '(height, width, channels)', util.shape_str(in_shape))
  end
end

function M.shape(node, in_shape)
  check_rank(node, in_shape)
  local p = node.p
  local s, d = p.strides, p.dilation_rate
  for i = 1, node.rank do
    if s[i] > 1 and d[i] > 1 and not node.onnx then
      util.fail(node, 'strides %s and dilation_rate %s: Keras does not allow both above 1',
        util.shape_x(s), util.shape_x(d))
    end
  end
  local groups, cin = p.groups or 1, in_shape[#in_shape]
  if cin % groups ~= 0 or p.filters % groups ~= 0 then
    util.fail(node, 'groups = %d must divide both the input channels (%d) and the filters (%d)', groups, cin, p.filters)
  end
  node.g = window.geometry(node, in_shape, p.kernel_size, s, d, node.pads or p.padding)
  return window.out_shape(node.g, p.filters)
end

local function groups(node) return node.p.groups or 1 end

function M.weights(node, in_shape)
  local p, cin = node.p, in_shape[#in_shape] / groups(node)
  local kshape = util.copy(p.kernel_size)
  kshape[#kshape + 1] = cin
  kshape[#kshape + 1] = p.filters
  local cname = groups(node) > 1 and 'cin/groups' or 'cin'
  local w = { { name = 'kernel', shape = kshape, init = p.kernel_initializer, layout = 'kernel: ' .. (node.rank == 1 and '(k, ' .. cname .. ', filters)' or '(kh, kw, ' .. cname .. ', filters)') } }
  if p.use_bias then w[2] = { name = 'bias', shape = { p.filters }, init = p.bias_initializer } end
  return w
end

function M.macs(node)
  local g = node.g
  return g.oh * g.ow * g.kh * g.kw * g.ic / groups(node) * node.p.filters
end

function M.describe(node)
  local gr = groups(node)
  local extra = gr == 1 and '' or (gr == node.g.ic and ', depthwise' or string.format(', groups %d', gr))
  return window.describe(node.g) .. extra
end

function M.reference(node, x, W)
  local g, oc_n = node.g, node.p.filters
  local y = tensor.new(node.shape, 'double')
  local k, b = W.kernel.data, W.bias and W.bias.data
  local ic_n = g.ic
  local gr = groups(node)
  if gr > 1 then return M.reference_grouped(node, x, k, b, y, gr) end
  for oy = 0, g.oh - 1 do
    for ox = 0, g.ow - 1 do
      local base = (oy * g.ow + ox) * oc_n
      for oc = 0, oc_n - 1 do y.data[base + oc] = b and b[oc] or 0 end
      window.each_tap(g, oy, ox, function(iy, ix, ky, kx)
        local xb = (iy * g.iw + ix) * ic_n
        local kb = (ky * g.kw + kx) * ic_n * oc_n
        for ic = 0, ic_n - 1 do
          local xv = x.data[xb + ic]
          for oc = 0, oc_n - 1 do
            y.data[base + oc] = y.data[base + oc] + xv * k[kb + ic * oc_n + oc]
          end
        end
      end)
    end
  end
  return y
end

-- Grouped convolution: output channel oc reads input channels [gi * icg, (gi + 1) * icg)
-- of its group gi = oc // ocg; kernel (..., icg, filters).
function M.reference_grouped(node, x, k, b, y, gr)
  local g, oc_n = node.g, node.p.filters
  local icg, ocg = g.ic / gr, oc_n / gr
  for oy = 0, g.oh - 1 do
    for ox = 0, g.ow - 1 do
      local base = (oy * g.ow + ox) * oc_n
      for oc = 0, oc_n - 1 do y.data[base + oc] = b and b[oc] or 0 end
      window.each_tap(g, oy, ox, function(iy, ix, ky, kx)
        local xb = (iy * g.iw + ix) * g.ic
        local kb = (ky * g.kw + kx) * icg * oc_n
        for oc = 0, oc_n - 1 do
          local first = math.floor(oc / ocg) * icg
          local s = 0
          for i = 0, icg - 1 do s = s + x.data[xb + first + i] * k[kb + i * oc_n + oc] end
          y.data[base + oc] = y.data[base + oc] + s
        end
      end)
    end
  end
  return y
end

-- The trainable weights (cnnc.backward): those of `weights` with these names.
M.trainable = { 'kernel', 'bias' }

-- Backward (reference, double): dy is the gradient of the output before the epilogue. Each
-- tap that added x * k to an output adds dy * k to dx and x * dy to the kernel's gradient;
-- the bias gathers dy. Groups (ONNX) as in reference_grouped; y is not needed.
function M.backward(node, x, _, W, dy)
  local g, oc_n, gr = node.g, node.p.filters, groups(node)
  local icg, ocg = g.ic / gr, oc_n / gr
  local dx = tensor.new(node.in_shape, 'double')
  local k, dk = W.kernel.data, tensor.new(W.kernel.shape, 'double')
  local db = W.bias and tensor.new(W.bias.shape, 'double')
  local xd, dxd, dkd, d = x.data, dx.data, dk.data, dy.data
  for oy = 0, g.oh - 1 do
    for ox = 0, g.ow - 1 do
      local base = (oy * g.ow + ox) * oc_n
      if db then
        for oc = 0, oc_n - 1 do db.data[oc] = db.data[oc] + d[base + oc] end
      end
      window.each_tap(g, oy, ox, function(iy, ix, ky, kx)
        local xb = (iy * g.iw + ix) * g.ic
        local kb = (ky * g.kw + kx) * icg * oc_n
        for oc = 0, oc_n - 1 do
          local dv, first = d[base + oc], math.floor(oc / ocg) * icg
          for i = 0, icg - 1 do
            local ki = kb + i * oc_n + oc
            dxd[xb + first + i] = dxd[xb + first + i] + dv * k[ki]
            dkd[ki] = dkd[ki] + dv * xd[xb + first + i]
          end
        end
      end)
    end
  end
  return dx, { kernel = dk, bias = db }
end

-- Backward code (portable C; cnnc.passes.grad, cnnc.emit.backward): the input gradient
-- as the forward window skeleton run backwards (each window's dy times the kernel
-- transposed, added into dx), the weight gradients as the sum over windows of x^T dy.
-- The kernel's gradient needs the input.
function M.backward_reads() return { x = true } end

-- The input gradient's function and call (tap: the C index of a window cell's weight
-- matrix; Conv and LocallyConnected differ only there and in the bias's pixel index).
-- A window cell's part of the backward code (templates/backward.c: conv_input_tap,
-- conv_weights_tap, or their _grouped forms: each group's input channels meet only its
-- own output channels, the kernel being (kh, kw, cin / groups, filters)).
local function backward_tap(node, what, h)
  local gr = node.op:match('^Conv') and groups(node) or 1
  local ic, oc = node.g.ic, node.p.filters
  h.in_pixel, h.IC, h.OC = window.c_in_pixel(node.g), ic, oc
  if gr == 1 then
    h.ICOC = ic * oc
    return template.section('backward', what, h)
  end
  h.G, h.ICG, h.OCG, h.ICOC = gr, ic / gr, oc / gr, ic / gr * oc
  return template.section('backward', what .. '_grouped', h)
end

function M.window_backward_input(node, E, tap)
  local g, oc = node.g, node.p.filters
  local fn = E:backward_fn(node, 'input')
  local text = template.section('backward', 'window_input', { fn = fn, params = ', const float *restrict dy',
    comment = util.c_comment(node.name .. ': the input gradient, each window\'s dy times the kernel transposed'),
    IN_SIZE = util.prod(node.in_shape),
    loops = window.c_pixels(g, template.section('backward', 'conv_input_pixel', { out_pixel = window.c_out_pixel(g),
      OC = oc, taps = window.c_taps(g, backward_tap(node, 'conv_input_tap', { kernel = E:weight(node, 'kernel'),
        tap = tap })) })) })
  return text, { fn = fn, args = { 'dx', 'dy' }, input = true }
end

function M.window_backward(node, E, tap, bias_index)
  local g, oc = node.g, node.p.filters
  local dx, input_call = M.window_backward_input(node, E, tap)
  local weights_fn = E:backward_fn(node, 'weights')
  local bias = node.p.use_bias
  local params = 'float *restrict dkernel' .. (bias and ', float *restrict dbias' or '')
    .. ', const float *restrict x, const float *restrict dy'
  local dw = template.section('backward', 'window_weights', { fn = weights_fn, params = params,
    comment = util.c_comment(node.name .. ': the weight gradients, added to: the kernel\'s the sum over the windows'
      .. ' of x^T dy' .. (bias and ', the bias\'s of dy' or '')),
    loops = window.c_pixels(g, template.section('backward', 'conv_weights_pixel', { out_pixel = window.c_out_pixel(g),
      OC = oc, bias = bias and string.format('for (int oc = 0; oc < %d; ++oc) dbias[%s] += g[oc];', oc,
        bias_index and string.format('%s * %d + oc', bias_index, oc) or 'oc') or '',
      taps = window.c_taps(g, backward_tap(node, 'conv_weights_tap', { tap = tap })) })) })
  local wargs = { 'dw:kernel' }
  if bias then wargs[#wargs + 1] = 'dw:bias' end
  wargs[#wargs + 1] = 'x'
  wargs[#wargs + 1] = 'dy'
  return dx .. '\n\n' .. dw, { input_call, { fn = weights_fn, args = wargs } }
end

function M.emit_backward(node, E)
  return M.window_backward(node, E, window.c_tap(node.g))
end

-- The portable C sums a window of more than BLOCK products in blocks of at most BLOCK input
-- channels (each window cell's own), if a cell has at least BLOCK_MIN of them: each block
-- costs OC additions more, a small share of its BLOCK_MIN * OC multiply-adds or more.
M.BLOCK, M.BLOCK_MIN = 128, 32

-- The block of a window cell's ic input channels (of a window of `taps` cells) when its
-- sum is blocked, else nil: the cell's channels in as few blocks of at most BLOCK as can
-- be, of equal size but the last (cnnc.simd.grouped's tiles too).
function M.cell_block(ic, taps)
  if ic < M.BLOCK_MIN or taps * ic <= M.BLOCK then return nil end
  return math.ceil(ic / math.ceil(ic / M.BLOCK))
end

-- C body holes shared with LocallyConnected and Conv3D (templates/conv.c). pixels:
-- optional {input =, output =} C expressions of the pixel indices (default: 1-D or 2-D).
function M.c_body(node, E, kernel_tap, bias_expr, pixels)
  local g, oc = node.g, node.p.filters
  local in_pixel = pixels and pixels.input or window.c_in_pixel(g)
  local out_pixel = pixels and pixels.output or window.c_out_pixel(g)
  local h = { OC = oc, IC = g.ic, ICOC = g.ic * oc }
  local gr = node.op:match('^Conv') and groups(node) or 1
  local accumulate
  local taps = (g.kd or 1) * (g.kh or 1) * g.kw
  local icg = g.ic / gr
  local icb = M.cell_block(icg, taps)
  if gr > 1 and icb then
    -- As below, a group's channels of each window cell: RegNetY-128GF's windows of 3x3 x 264
    -- channels in one chain each made its grouped layers 3-4x further from the
    -- double-precision reference than ONNX Runtime's.
    accumulate = template.section('conv', 'accumulate_grouped_blocked', {
      IC = g.ic, OC = oc, G = gr, ICG = icg, OCG = oc / gr, ICGOC = icg * oc, NB = math.ceil(icg / icb), ICB = icb,
      in_pixel = in_pixel, kernel = E:weight(node, 'kernel'), tap = kernel_tap })
  elseif gr > 1 then
    accumulate = template.section('conv', 'accumulate_grouped', {
      IC = g.ic, OC = oc, G = gr, ICG = icg, OCG = oc / gr, ICGOC = icg * oc,
      in_pixel = in_pixel, kernel = E:weight(node, 'kernel'), tap = kernel_tap })
  elseif icb then
    -- A long sum in blocks (of each window cell's input channels), each from zero, added to
    -- the accumulators once: the rounding error grows with a block's length plus the
    -- number of blocks, not with the whole window's length (docs/numerics.md).
    accumulate = template.section('conv', 'accumulate_blocked', {
      IC = g.ic, OC = oc, ICOC = h.ICOC, in_pixel = in_pixel, NB = math.ceil(g.ic / icb), ICB = icb,
      kernel = E:weight(node, 'kernel'), tap = kernel_tap })
  else
    accumulate = template.section('conv', 'accumulate', {
      IC = g.ic, OC = oc, ICOC = h.ICOC, in_pixel = in_pixel,
      kernel = E:weight(node, 'kernel'), tap = kernel_tap })
  end
  return {
    init = template.section('conv', 'init', { OC = oc, bias = bias_expr }),
    accumulate = accumulate,
    finalize = template.section('conv', 'finalize', {
      OC = oc, out_pixel = out_pixel,
      store = E:store(node, 'y[oc]', 'acc[oc]', 'oc'), post = E:post(node, 'y', oc) }),
  }
end

-- The portable C (and what SIMD targets run for grouped convolutions): the shared
-- sliding-window skeleton, its rows shared among threads.
function M.units(node) return window.units(node.g) end

function M.emit(node, E)
  local bias = node.p.use_bias and (E:weight(node, 'bias') .. '[oc]') or '0.0f'
  local body = M.c_body(node, E, window.c_tap(node.g), bias)
  return window.c_render(node.g, E:fn(node), E:comment(node), body, E, node)
end

-- Padding from a ZeroPadding layer before this one becomes explicit pads.
function M.absorb_padding(node, pads)
  local g = node.g
  local cur = node.rank == 1 and { { g.pl, g.pr } } or { { g.pt, g.pb }, { g.pl, g.pr } }
  for i = 1, #cur do
    cur[i][1] = cur[i][1] + pads[i][1]
    cur[i][2] = cur[i][2] + pads[i][2]
  end
  node.pads = cur
end

-- y = scale * (f(x) + b) + shift folds into a kernel and bias whose last axis is the output
-- channel (Conv, Dense and LocallyConnected all store them so). bias_shape: the bias
-- shape to create when the layer had none.
function M.fold_channels_last(node, scale, shift, bias_shape)
  local k = ir.weight(node, 'kernel')
  local oc_n = k.shape[#k.shape]
  local nk = tensor.new(k.shape)
  for i = 0, k.n - 1 do nk.data[i] = k.data[i] * scale[i % oc_n] end
  local b = ir.weight(node, 'bias')
  local nb = tensor.new(b and b.shape or bias_shape)
  for i = 0, nb.n - 1 do
    local c = i % oc_n
    nb.data[i] = (b and b.data[i] or 0) * scale[c] + shift[c]
  end
  ir.set_weight(node, 'kernel', nk)
  ir.set_weight(node, 'bias', nb)
  node.p = util.copy(node.p)
  node.p.use_bias = true
end

function M.fold_affine(node, scale, shift)
  M.fold_channels_last(node, scale, shift, { node.p.filters })
end

-- The gradients of a node batch norms were folded into (node.folded, cnnc.ir), from dW,
-- those of its folded kernel and bias (last axis the channel c, or channel_of(j) the
-- channel of kernel value j, for kernels laid out otherwise). Undoes the folds last
-- first: with K' = K * scale and b' = b * scale + shift, scale = gamma / s, shift = beta -
-- mean * scale, s = sqrt(var + eps): dK = dK' * scale, db = db' * scale, dbeta = sum of
-- db', and dgamma = sum (dK' K + db' (b - mean)) / s, which is sum dy (z - mean) / s for
-- the unfolded output z = conv(x, K) + b, without recomputing z. Calls add_grad(key, c,
-- v) for gamma and beta; returns the gradients of the kernel and bias the model has.
function M.unfold_channels_last_grads(node, dW, add_grad, channel_of)
  local dk, db = dW.kernel, dW.bias
  for i = #node.folded, 1, -1 do
    local f = node.folded[i]
    local st, oc_n = f.step, db.shape[#db.shape]
    local function kc(j) return channel_of and channel_of(j) or j % oc_n end
    local K, B = f.kernel.data, f.bias and f.bias.data
    local dgamma, dbeta, scale = {}, {}, {}
    for c = 0, oc_n - 1 do dgamma[c], dbeta[c] = 0, 0 end
    for j = 0, dk.n - 1 do
      local c = kc(j)
      dgamma[c] = dgamma[c] + dk.data[j] * K[j]
    end
    for j = 0, db.n - 1 do
      local c = j % oc_n
      dbeta[c] = dbeta[c] + db.data[j]
      dgamma[c] = dgamma[c] + db.data[j] * ((B and B[j] or 0) - st.mean.data[c])
    end
    for c = 0, oc_n - 1 do
      local s = math.sqrt(st.var.data[c] + st.eps)
      scale[c] = (st.gamma and st.gamma.data[c] or 1) / s
      if st.gamma then add_grad(f.origin .. '.gamma', c, dgamma[c] / s) end
      if st.beta then add_grad(f.origin .. '.beta', c, dbeta[c]) end
    end
    local nk = tensor.new(dk.shape, 'double')
    for j = 0, dk.n - 1 do nk.data[j] = dk.data[j] * scale[kc(j)] end
    local nb = f.bias and tensor.new(db.shape, 'double')
    if nb then
      for j = 0, db.n - 1 do nb.data[j] = db.data[j] * scale[j % oc_n] end
    end
    dk, db = nk, nb
  end
  return { kernel = dk, bias = db }
end
M.unfold_grads = M.unfold_channels_last_grads
M.unfold_c = true -- channels-last kernel: backward code unfolds in C (cnnc.emit.backward)

return M
