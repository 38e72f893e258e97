-- cnnc.layers.conv_transpose: Conv1DTranspose and Conv2DTranspose, the transposed
-- convolution ("deconvolution") that U-Nets and decoders upsample with; also ONNX's
-- ConvTranspose (1-D and 2-D, groups, strides, dilations, pads, output_padding).
--
-- Every input pixel scatters its channels, times the kernel, over a window of the output:
--   y[o] = bias + sum over input positions j and taps t with o = j*s + t*d - pad_before
--          of x[j] . kernel[t]                                          (per axis)
-- so the output has length L = (n - 1)*s + (k - 1)*d + 1 - pad_before - pad_after
-- + output_padding. Keras's rules give L and pad_before from `padding`
-- (conv_utils.deconv_output_length and TensorFlow's conv2d_transpose):
--   valid  pad_before 0; L = n*s + max(k_eff - s, 0), or with output_padding
--          (n - 1)*s + k_eff + output_padding
--   same   L = n*s, or with output_padding (n - 1)*s + k_eff - 2*(k_eff // 2)
--          + output_padding; pad_before = the smaller half of the padding a 'same'
--          convolution of an L-long input needs (max((n - 1)*s + k_eff - L, 0))
-- (k_eff = (k - 1)*d + 1). Keras's kernel is (kh, kw, filters, in_channels) ((k, filters,
-- in_channels) in 1-D), the layout this layer stores. ONNX options, set by the importer:
-- node.pads {{before, after}, ...} replacing `padding`, and p.groups (input channel c of
-- group g = c // (cin / groups) feeds output channels g * filters/groups ...; the kernel
-- is then (kh, kw, filters / groups, cin)).
--
-- C (templates/conv_transpose.c) gathers instead of scattering, so each output is written
-- once with its epilogue: output (oy, ox) reads input row iy = (oy + pad - ky*d) / s for
-- the taps where that division is exact, and the kernel is packed (ky, kx, cin, out) so
-- the innermost loop runs over output channels. SIMD targets: cnnc.simd.conv_transpose.

local ir = require 'cnnc.ir'
local template = require 'cnnc.template'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

local function spec(rank)
  return {
    { 'filters', 'int', min = 1, required = true },
    { 'kernel_size', 'size', required = true },
    { 'strides', 'size', default = 1 },
    { 'padding', 'enum', default = 'valid', values = { valid = 1, same = 1 } },
    { 'output_padding', 'size', min = 0 },
    { 'data_format', 'enum', values = { channels_last = 1 } },
    { 'dilation_rate', 'size', default = 1 },
    { 'activation', 'activation' },
    { 'use_bias', 'bool', default = true },
    { 'kernel_initializer', 'initializer', default = 'glorot_uniform' },
    { 'bias_initializer', 'initializer', default = 'zeros' },
    { 'kernel', 'values' },
    { 'bias', 'values' },
  }
end

M.kinds = {
  Conv1DTranspose = { rank = 1, args = spec(1) },
  Conv2DTranspose = { rank = 2, args = spec(2) },
}
M.epilogue = true
M.kernels = { 'conv_transpose' }

-- The parts a --threads build may cut it into: its output rows (1-D: positions).
function M.units(node) return node.g.rank == 1 and node.g.ow or node.g.oh end

local function groups(node) return node.p.groups or 1 end

-- Output length and pad_before of one axis: n input positions, kernel k, stride s,
-- dilation d, output padding op (nil: Keras infers it), explicit pads (or nil: `mode`).
function M.axis(node, n, k, s, d, op, pads, mode)
  local keff = (k - 1) * d + 1
  if pads then
    return (n - 1) * s + keff - pads[1] - pads[2] + (op or 0), pads[1]
  end
  if mode == 'valid' then
    if op then return (n - 1) * s + keff + op, 0 end
    return n * s + math.max(keff - s, 0), 0
  end
  local L = op and ((n - 1) * s + keff - 2 * math.floor(keff / 2) + op) or n * s
  if math.ceil(L / s) ~= n then
    util.fail(node, "padding='same' with kernel %d, stride %d and output_padding %d gives an output of %d, which a 'same' convolution maps back to %d positions, not %d (TensorFlow rejects this too)",
      keff, s, op or 0, L, math.ceil(L / s), n)
  end
  return L, math.floor(math.max((n - 1) * s + keff - L, 0) / 2)
end

function M.shape(node, in_shape)
  local r = node.rank
  if #in_shape ~= r + 1 then
    util.fail(node, '%s needs a rank-%d input %s, got shape %s', node.op, r + 1,
      r == 1 and '(steps, channels)' or '(height, width, channels)', util.shape_str(in_shape))
  end
  local p = node.p
  local cin, gr = in_shape[r + 1], groups(node)
  if cin % gr ~= 0 or p.filters % gr ~= 0 then
    util.fail(node, 'groups = %d must divide both the input channels (%d) and the filters (%d)', gr, cin, p.filters)
  end
  local g = { rank = r, ic = cin, ih = 1, kh = 1, sh = 1, dh = 1, pt = 0, oh = 1 }
  local out = {}
  for i = 1, r do
    local s, d, op = p.strides[i], p.dilation_rate[i], p.output_padding and p.output_padding[i]
    if s > 1 and d > 1 and not node.onnx then
      util.fail(node, 'strides %s and dilation_rate %s: Keras does not allow both above 1', util.shape_x(p.strides),
        util.shape_x(p.dilation_rate))
    end
    if op and not node.onnx and op >= s then
      util.fail(node, 'output_padding %s must be smaller than the strides %s on every axis',
        util.shape_x(p.output_padding), util.shape_x(p.strides))
    end
    local L, before = M.axis(node, in_shape[i], p.kernel_size[i], s, d, op, node.pads and node.pads[i], p.padding)
    if L < 1 then util.fail(node, 'the output would have %d positions along axis %d', L, i) end
    out[i] = L
    local ax = (r == 2 and i == 1) and 'h' or 'w'
    local pad = ax == 'h' and 'pt' or 'pl'
    g['i' .. ax], g['k' .. ax], g['s' .. ax], g['d' .. ax], g[pad], g['o' .. ax] =
      in_shape[i], p.kernel_size[i], s, d, before, L
  end
  node.g = g
  out[r + 1] = p.filters
  return out
end

function M.weights(node, in_shape)
  local p = node.p
  local kshape = util.copy(p.kernel_size)
  kshape[#kshape + 1] = p.filters / groups(node)
  kshape[#kshape + 1] = in_shape[#in_shape]
  local layout = (node.rank == 1 and '(k, ' or '(kh, kw, ') .. (groups(node) > 1 and 'filters/groups' or 'filters')
    .. ', in_channels)'
  local w = { { name = 'kernel', shape = kshape, init = p.kernel_initializer, layout = 'kernel: ' .. layout } }
  if p.use_bias then w[2] = { name = 'bias', shape = { p.filters }, init = p.bias_initializer } end
  return w
end

function M.macs(node)
  local g = node.g
  return g.ih * g.iw * g.kh * g.kw * g.ic * node.p.filters / groups(node)
end

function M.describe(node)
  local g = node.g
  local k = g.rank == 1 and tostring(g.kw) or (g.kh .. 'x' .. g.kw)
  local s = g.rank == 1 and tostring(g.sw) or (g.sh .. 'x' .. g.sw)
  local parts = { 'transposed ' .. k, 'stride ' .. s }
  if g.dh ~= 1 or g.dw ~= 1 then parts[#parts + 1] = 'dilation ' .. (g.rank == 1 and g.dw or (g.dh .. 'x' .. g.dw)) end
  if g.pt ~= 0 or g.pl ~= 0 then parts[#parts + 1] = 'crop ' .. (g.rank == 1 and g.pl or (g.pt .. ',' .. g.pl)) end
  if groups(node) > 1 then parts[#parts + 1] = 'groups ' .. groups(node) end
  return table.concat(parts, ', ')
end

-- The scatter of the definition above, in double.
-- Calls f(xb, yb, kb) for every input position and tap whose output exists: the offsets of
-- the input pixel, of the output pixel it reaches, and of the tap's kernel matrix.
local function each_tap(g, F, fg, f)
  for iy = 0, g.ih - 1 do
    for ix = 0, g.iw - 1 do
      local xb = (iy * g.iw + ix) * g.ic
      for ky = 0, g.kh - 1 do
        local oy = iy * g.sh + ky * g.dh - g.pt
        if oy >= 0 and oy < g.oh then
          for kx = 0, g.kw - 1 do
            local ox = ix * g.sw + kx * g.dw - g.pl
            if ox >= 0 and ox < g.ow then f(xb, (oy * g.ow + ox) * F, (ky * g.kw + kx) * fg * g.ic) end
          end
        end
      end
    end
  end
end

function M.reference(node, x, W)
  local g, F = node.g, node.p.filters
  local gr = groups(node)
  local fg, cg = F / gr, g.ic / gr
  local y = tensor.new(node.shape, 'double')
  local k, b = W.kernel.data, W.bias and W.bias.data
  for i = 0, y.n - 1 do y.data[i] = b and b[i % F] or 0 end
  each_tap(g, F, fg, function(xb, yb, kb)
    for c = 0, g.ic - 1 do
      local xv, first = x.data[xb + c], math.floor(c / cg) * fg
      for m = 0, fg - 1 do
        y.data[yb + first + m] = y.data[yb + first + m] + xv * k[kb + m * g.ic + c]
      end
    end
  end)
  return y
end

-- The kernel packed for the C loops: (ky, kx, cin, filters/groups).
-- Backward (reference): the forward's scatter run backwards; each (input position, tap)
-- pair sends dy of the output it reached back to the input (times the kernel) and to the
-- kernel (times the input); the bias gets the sum of dy per channel.
M.trainable = { 'kernel', 'bias' }

function M.backward(node, x, _, W, dy)
  local g, F = node.g, node.p.filters
  local gr = groups(node)
  local fg, cg = F / gr, g.ic / gr
  local dx = tensor.new(node.in_shape, 'double')
  local k, dk = W.kernel.data, tensor.new(W.kernel.shape, 'double')
  local db = W.bias and tensor.new(W.bias.shape, 'double')
  if db then
    for i = 0, dy.n - 1 do db.data[i % F] = db.data[i % F] + dy.data[i] end
  end
  each_tap(g, F, fg, function(xb, yb, kb)
    for c = 0, g.ic - 1 do
      local xv, first, s = x.data[xb + c], math.floor(c / cg) * fg, 0
      for m = 0, fg - 1 do
        local d = dy.data[yb + first + m]
        s = s + d * k[kb + m * g.ic + c]
        dk.data[kb + m * g.ic + c] = dk.data[kb + m * g.ic + c] + xv * d
      end
      dx.data[xb + c] = dx.data[xb + c] + s
    end
  end)
  return dx, { kernel = dk, bias = db }
end

-- The gradients through batch norms folded into the weights (cnnc.layers.conv's rule; the
-- kernel's output channel is its second last axis, within the input channel's group).
function M.unfold_grads(node, dW, add_grad)
  local F, cin, gr = node.p.filters, node.g.ic, groups(node)
  local fg, cg = F / gr, cin / gr
  return require('cnnc.layers.conv').unfold_channels_last_grads(node, dW, add_grad, function(j)
    local c, m = j % cin, math.floor(j / cin) % fg
    return math.floor(c / cg) * fg + m
  end)
end

-- Backward code (portable C): per input position, the taps whose output exists; the input
-- gradient gathers dy over them (times the kernel), the kernel's gradient adds x times
-- dy; the bias's is dy summed per channel. The kernel's gradient needs the input.
function M.backward_reads() return { x = true } end

function M.emit_backward(node, E)
  local g, F = node.g, node.p.filters
  local gr = groups(node)
  local h = { IH = g.ih, IW = g.iw, KH = g.kh, KW = g.kw, SH = g.sh, SW = g.sw, DH = g.dh, DW = g.dw, PT = g.pt,
    PL = g.pl, OH = g.oh, OW = g.ow, IC = g.ic, F = F, FG = F / gr, CG = g.ic / gr, FGIC = F / gr * g.ic }
  local fx, fw = E:backward_fn(node, 'input'), E:backward_fn(node, 'weights')
  h.fn, h.kernel = fx, E:weight(node, 'kernel')
  h.comment = util.c_comment(node.name .. ': the input gradient, dy gathered over the taps each input reached, '
    .. 'times the kernel')
  local tx = template.section('backward', 'conv_transpose_input', h)
  local bias = node.p.use_bias
  h.fn, h.kernel = fw, nil
  h.params = 'float *restrict dkernel' .. (bias and ', float *restrict dbias' or '')
    .. ', const float *restrict x, const float *restrict dy'
  h.bias = bias and template.section('backward', 'conv_transpose_bias', { OUT = g.oh * g.ow, F = F }) or ''
  h.comment = util.c_comment(node.name .. ': the weight gradients, added to: the kernel\'s x times dy over every '
    .. 'input position and tap' .. (bias and ', the bias\'s dy summed per channel' or ''))
  local tw = template.section('backward', 'conv_transpose_weights', h)
  local wargs = { 'dw:kernel' }
  if bias then wargs[#wargs + 1] = 'dw:bias' end
  wargs[#wargs + 1] = 'x'
  wargs[#wargs + 1] = 'dy'
  return tx .. '\n\n' .. tw, { { fn = fx, args = { 'dx', 'dy' }, input = true }, { fn = fw, args = wargs } }
end

function M.packed(node)
  local g, fg = node.g, node.p.filters / groups(node)
  local k = ir.weight(node, 'kernel').data
  local v = {}
  for t = 0, g.kh * g.kw - 1 do
    for c = 0, g.ic - 1 do
      for m = 0, fg - 1 do v[#v + 1] = k[(t * fg + m) * g.ic + c] end
    end
  end
  return v
end

-- C: the input index along one axis (variable v) for output o and tap t, and the
-- condition under which the tap misses the input: its position is no whole multiple of
-- the stride, or lies outside [0, n). C's division truncates, so a negative position
-- that is a multiple gives a negative index, and one that is not fails the first test.
function M.c_axis(v, o, t, s, d, pad, n)
  local num = o .. (pad > 0 and (' + ' .. pad) or '') .. ' - ' .. (d == 1 and t or (t .. ' * ' .. d))
  local idx, miss = num, {}
  if s > 1 then
    idx = string.format('(%s) / %d', num, s)
    miss[1] = string.format('(%s) %% %d != 0', num, s)
  end
  miss[#miss + 1] = string.format('%s < 0 || %s >= %d', v, v, n)
  return idx, table.concat(miss, ' || ')
end

function M.emit(node, E)
  local g, F, gr = node.g, node.p.filters, groups(node)
  local kname = E:constant(node, 'kernel_packed', M.packed(node),
    string.format('%s.kernel packed (ky, kx, in_channel, %s)', node.name, gr > 1 and 'filters/groups' or 'filter'))
  local accumulate = gr > 1 and template.section('conv_transpose', 'accumulate_grouped', { IC = g.ic, FG = F / gr, CG = g.ic / gr })
    or template.section('conv_transpose', 'accumulate', { IC = g.ic, OC = F })
  local h = { fn = E:fn(node), comment = E:comment(node), KW = g.kw, IC = g.ic, OC = F, FG = F / gr,
    kernel = kname, bias = node.p.use_bias and (E:weight(node, 'bias') .. '[oc]') or '0.0f', accumulate = accumulate,
    store = E:store(node, 'y[oc]', 'acc[oc]', 'oc'), post = E:post(node, 'y', F) }
  h.ix, h.xcheck = M.c_axis('ix', 'ox', 'kx', g.sw, g.dw, g.pl, g.iw)
  if g.rank == 2 then
    h.iy, h.ycheck = M.c_axis('iy', 'oy', 'ky', g.sh, g.dh, g.pt, g.ih)
    h.OW, h.KH, h.IW = g.ow, g.kh, g.iw
  end
  local rows = g.rank == 1 and g.ow or g.oh
  if (E.threads or 1) > 1 then
    E:parallel(node)
    h.part_params, h.prologue = E:part_params(true, false)
    h.first, h.last = util.c_share('part', rows, 'parts'), util.c_share('(part + 1)', rows, 'parts')
  else
    h.part_params, h.prologue, h.first, h.last = '', '', '0', tostring(rows)
  end
  return template.section('conv_transpose', g.rank == 1 and 'layer_1d' or 'layer_2d', h)
end

-- y = scale * (f(x) + b) + shift per output channel folds into the kernel and bias (a
-- batch norm after the layer); the kernel's channel axis is the second to last.
function M.fold_affine(node, scale, shift)
  local k = ir.weight(node, 'kernel')
  local F, cin = node.p.filters, node.g.ic
  local gr = groups(node)
  local fg, cg = F / gr, cin / gr
  local nk = tensor.new(k.shape)
  for i = 0, k.n - 1 do
    local c, m = i % cin, math.floor(i / cin) % fg
    nk.data[i] = k.data[i] * scale[math.floor(c / cg) * fg + m]
  end
  local b = ir.weight(node, 'bias')
  local nb = tensor.new({ F })
  for oc = 0, F - 1 do nb.data[oc] = (b and b.data[oc] or 0) * scale[oc] + shift[oc] end
  ir.set_weight(node, 'kernel', nk)
  ir.set_weight(node, 'bias', nb)
  node.p = util.copy(node.p)
  node.p.use_bias = true
end

return M
