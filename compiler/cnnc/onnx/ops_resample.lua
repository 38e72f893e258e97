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
--
-- Resize (opsets 10 to 19) and Upsample (7 to 9) become a Resize layer: per axis the
-- output length and scale from scales (output floor(n * scale)) or sizes (scale = size /
-- n; with keep_aspect_ratio_policy one scale for all the given axes, output rounded half
-- up), and the mode, coordinate transformation, nearest mode, cubic coefficient,
-- exclude_outside, antialias and roi of the node. Upsample and Resize-10 are the
-- 'asymmetric' transformation, nearest rounding down (Upsample's repetition). Only
-- resized axes get taps; when they are spatial, the layer runs channels-last.

local const = require 'cnnc.onnx.const'
local opargs = require 'cnnc.onnx.opargs'
local taps = require 'cnnc.layers.resize_taps'
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

-- The tensor of constant input k, nil when absent or empty (an empty scales means "use
-- sizes" from opset 11).
local function given(ctx, node, k, what)
  local t = ctx:optional_constant(node, k, what)
  if t and t.n > 0 then return const.to_list(t) end
  return nil
end

local function resize(ctx, node, upsample)
  local x = ctx:runtime(node, 1)
  if x.const then ctx:fail(node, 'resizing a constant is not supported') end
  local r = #x.shape
  local mode = ctx:attr(node, 'mode', 'nearest')
  local old = upsample or ctx.opset < 11
  local spec = { mode = mode }
  local scales, sizes, roi
  if upsample and ctx.opset < 9 then scales = ctx:attr(node, 'scales')
  elseif old then scales = given(ctx, node, 2, 'the scales')
  else
    roi = given(ctx, node, 2, 'the roi')
    scales, sizes = given(ctx, node, 3, 'the scales'), given(ctx, node, 4, 'the sizes')
  end
  if old then
    if mode ~= 'nearest' and mode ~= 'linear' and mode ~= 'bilinear' then
      ctx:fail(node, "mode '%s' is not one of nearest, linear", mode)
    end
    spec.mode = mode == 'nearest' and 'nearest' or 'linear'
    spec.transform, spec.nearest = 'asymmetric', 'floor'
  else
    spec.transform = ctx:attr(node, 'coordinate_transformation_mode', 'half_pixel')
    spec.nearest = ctx:attr(node, 'nearest_mode', 'round_prefer_floor')
    spec.cubic_a = ctx:attr(node, 'cubic_coeff_a', -0.75)
    spec.exclude = ctx:attr(node, 'exclude_outside', 0) ~= 0 or nil
    spec.antialias = (ctx.opset >= 18 and ctx:attr(node, 'antialias', 0) ~= 0 and mode ~= 'nearest') or nil
    local known = { half_pixel = 1, half_pixel_symmetric = ctx.opset >= 19, pytorch_half_pixel = 1, align_corners = 1,
      asymmetric = 1, tf_crop_and_resize = 1, tf_half_pixel_for_nn = ctx.opset < 13 }
    if not known[spec.transform] then
      ctx:fail(node, "coordinate_transformation_mode '%s' is not one of opset %d's", spec.transform, ctx.opset)
    end
    local nmodes = { round_prefer_floor = 1, round_prefer_ceil = 1, floor = 1, ceil = 1 }
    if not nmodes[spec.nearest] then ctx:fail(node, "nearest_mode '%s' is not one of round_prefer_floor, round_prefer_ceil, floor, ceil", spec.nearest) end
  end
  if (scales and sizes) or not (scales or sizes) then
    ctx:fail(node, 'exactly one of scales and sizes must be given')
  end
  -- Axes the scales, sizes and roi are for (all, before opset 18).
  local axes = {}
  local list = ctx.opset >= 18 and ctx:attr(node, 'axes')
  if list then axes = opargs.normalize_axes(ctx, node, list, r)
  else for a = 1, r do axes[a] = a end end
  local given_n = scales and #scales or #sizes
  if given_n ~= #axes then ctx:fail(node, '%d %s for %d axes', given_n, scales and 'scales' or 'sizes', #axes) end
  if roi and #roi ~= 2 * #axes then ctx:fail(node, 'roi holds %d values for %d axes', #roi, #axes) end
  local out, scale = util.copy(x.shape), {}
  for a = 1, r do scale[a] = 1 end
  local policy = ctx.opset >= 18 and ctx:attr(node, 'keep_aspect_ratio_policy', 'stretch') or 'stretch'
  if sizes and policy ~= 'stretch' then
    if policy ~= 'not_larger' and policy ~= 'not_smaller' then
      ctx:fail(node, "keep_aspect_ratio_policy '%s' is not one of stretch, not_larger, not_smaller", policy)
    end
    local s
    for i, a in ipairs(axes) do
      local q = sizes[i] / x.shape[a]
      if not s or (policy == 'not_larger' and q < s) or (policy == 'not_smaller' and q > s) then s = q end
    end
    for _, a in ipairs(axes) do scale[a], out[a] = s, math.floor(s * x.shape[a] + 0.5) end
  else
    for i, a in ipairs(axes) do
      if scales then
        if scales[i] <= 0 then ctx:fail(node, 'scale %g is not positive', scales[i]) end
        scale[a], out[a] = scales[i], math.floor(scales[i] * x.shape[a])
      else
        scale[a], out[a] = sizes[i] / x.shape[a], sizes[i]
      end
    end
  end
  local specs, any = {}, false
  for a = 1, r do
    if out[a] < 1 then ctx:fail(node, 'the output would have %d positions along axis %d', out[a], a - 1) end
    local sp = util.copy(spec)
    sp.out, sp.scale = out[a], scale[a]
    if roi then
      for i, b in ipairs(axes) do if b == a then sp.roi = { roi[i], roi[i + #axes] } end end
    end
    sp.roi = sp.roi or { 0, 1 }
    -- An axis of unchanged length with scale 1 (or of length 1) is not resized: every
    -- coordinate transformation then maps each position onto itself (tf_crop_and_resize
    -- only with the whole roi).
    local crop = sp.transform == 'tf_crop_and_resize' and (sp.roi[1] ~= 0 or sp.roi[2] ~= 1)
    local identity = out[a] == x.shape[a] and (scale[a] == 1 or x.shape[a] == 1) and not crop
    if not identity then taps.table(ctx:where(node), sp, x.shape[a]) end -- checks the mode
    specs[a] = not identity and sp or false
    if specs[a] then any = true end
  end
  if not any then return { x } end
  if specs[1] then ctx:mixes_batch(node, 'resizes the batch axis') end
  local spatial = r >= 3 and not specs[2] and (ctx.batch or x.shape[1] == 1)
  local name_in, perm
  if spatial then name_in, perm = ctx:spatial(x, node)
  else
    perm = ctx:plain(x)
    name_in = ctx:mem(x, perm, node)
  end
  local item = {}
  for i, a in ipairs(perm) do item[i] = specs[a] end
  local name = ctx:layer(node, 'Resize', { axes = item, extrapolation = ctx:attr(node, 'extrapolation_value', 0) },
    { inputs = { name_in }, shape = ctx:cshape(out, perm) })
  return { ctx:value(name, out, perm) }
end

function M.Resize(ctx, node) return resize(ctx, node, false) end
function M.Upsample(ctx, node) return resize(ctx, node, true) end

return M
