-- cnnc.onnx.ops_resample: ONNX's operators that change the spatial size of an image:
-- ConvTranspose (cnnc.layers.conv_transpose), Resize and Upsample (cnnc.layers.resize),
-- DepthToSpace and SpaceToDepth (a reshape and a permutation).
--
-- ConvTranspose's weight (C, M / group, k...) becomes the layer's (k..., M / group, C);
-- its padding follows ONNX's equations: explicit pads, or from output_shape (total
-- padding s*(n - 1) + output_padding + k_eff - output_shape, the odd cell after the
-- output for SAME_UPPER and before it otherwise; a longer output_shape ends in cells the
-- taps do not reach, which hold the bias), or from auto_pad SAME_UPPER/LOWER (output_shape
-- = n*s).

local const = require 'cnnc.onnx.const'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

function M.ConvTranspose(ctx, node)
  local x = ctx:runtime(node, 1)
  local W = ctx:constant(node, 2, 'the weight W')
  local B = ctx:optional_constant(node, 3, 'the bias B')
  local r = #x.shape - 2
  if r < 1 or r > 2 then
    ctx:fail(node, 'a transposed convolution over %d spatial axes (input %s): cnnc has them in 1-D and 2-D', r,
      util.shape_str(x.shape))
  end
  if #W.shape ~= r + 2 then ctx:fail(node, 'weight %s does not fit a %d-D transposed convolution', util.shape_str(W.shape), r) end
  local cin, fg = W.shape[1], W.shape[2]
  local groups = ctx:attr(node, 'group', 1)
  if groups < 1 or x.shape[2] ~= cin or cin % groups ~= 0 then
    ctx:fail(node, 'weight %s and group %d do not fit %d input channels', util.shape_str(W.shape), groups, x.shape[2])
  end
  local F = fg * groups
  if B and B.n ~= F then ctx:fail(node, 'bias of %d values for %d output channels', B.n, F) end
  local kernel = {}
  for i = 1, r do kernel[i] = W.shape[i + 2] end
  local ks = ctx:attr(node, 'kernel_shape', kernel)
  for i = 1, r do
    if ks[i] ~= kernel[i] then ctx:fail(node, 'kernel_shape %s differs from the weight %s', util.shape_str(ks), util.shape_str(W.shape)) end
  end
  local function list(name, default)
    local l = ctx:attr(node, name)
    if not l then
      l = {}
      for i = 1, r do l[i] = default end
    end
    if #l ~= r then ctx:fail(node, '%s has %d values for %d spatial axes', name, #l, r) end
    return l
  end
  local strides, dil, op = list('strides', 1), list('dilations', 1), list('output_padding', 0)
  local auto = ctx:attr(node, 'auto_pad', 'NOTSET')
  local pads_attr = ctx:attr(node, 'pads')
  local out_shape = ctx:attr(node, 'output_shape')
  if out_shape and #out_shape == r + 2 then out_shape = { unpack(out_shape, 3) } end
  if out_shape and #out_shape ~= r then ctx:fail(node, 'output_shape has %d values for %d spatial axes', #out_shape, r) end
  if auto ~= 'NOTSET' and auto ~= 'VALID' and auto ~= 'SAME_UPPER' and auto ~= 'SAME_LOWER' then
    ctx:fail(node, "auto_pad '%s' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER", auto)
  end
  if pads_attr and #pads_attr ~= 2 * r then ctx:fail(node, 'pads has %d values for %d spatial axes', #pads_attr, r) end
  local pads, out = {}, { x.shape[1], F }
  for i = 1, r do
    local n, s, d, k = x.shape[i + 2], strides[i], dil[i], kernel[i]
    if s < 1 or d < 1 or op[i] < 0 then ctx:fail(node, 'strides and dilations must be >= 1, output_padding >= 0') end
    local full = s * (n - 1) + op[i] + (k - 1) * d + 1
    local target = out_shape and out_shape[i] or ((auto == 'SAME_UPPER' or auto == 'SAME_LOWER') and n * s)
    local before, after
    if target then
      local total = full - target
      if total < 0 then
        -- An output longer than the taps reach ends in cells of bias only (as ONNX Runtime).
        before = 0
      elseif auto == 'SAME_UPPER' then before = math.floor(total / 2)
      else before = total - math.floor(total / 2) end
      after = total - before
    elseif auto == 'VALID' or not pads_attr then
      before, after = 0, 0
    else
      before, after = pads_attr[i], pads_attr[i + r]
    end
    if before < 0 or (after < 0 and not target) then
      ctx:fail(node, 'pads must be >= 0, got %d and %d along axis %d', before, after, i + 1)
    end
    pads[i] = { before, after }
    out[i + 2] = full - before - after
    if out[i + 2] < 1 then ctx:fail(node, 'the output would have %d positions along axis %d', out[i + 2], i + 1) end
  end
  -- (C, F / groups, k...) -> (k..., F / groups, C)
  local taps = util.prod(kernel)
  local kshape = util.copy(kernel)
  kshape[#kshape + 1], kshape[#kshape + 2] = fg, cin
  local k = tensor.new(kshape, 'float')
  for c = 0, cin - 1 do
    for m = 0, fg - 1 do
      for t = 0, taps - 1 do k.data[(t * fg + m) * cin + c] = W.data[(c * fg + m) * taps + t] end
    end
  end
  local name_in, perm = ctx:spatial(x, node)
  local given = { filters = F, kernel_size = kernel, strides = strides, dilation_rate = dil, output_padding = op,
    use_bias = B ~= nil }
  local name = ctx:layer(node, 'Conv' .. r .. 'DTranspose', given, {
    inputs = { name_in }, weights = { kernel = k, bias = B and const.float(const.reshape(B, { F })) },
    extra = { groups = groups }, fields = { pads = pads }, shape = ctx:cshape(out, perm) })
  return { ctx:value(name, out, perm) }
end

return M
