-- differential.gen: random networks for the differential test, as real model files.
--
-- `network(seed, index)` builds network number `index` of a seed: an input of rank 1 or 2,
-- then 1..6 layers drawn from every layer kind the rank allows, with Keras's validity
-- rules respected by construction (every window fits its padded input, strides > 1 never
-- meet dilations > 1, Dense only on flat tensors). Every layer records the output shape
-- Keras gives it, computed here independently of cnnc, and a short description.
-- `source(net)` writes the network as a model file for bin/cnnc. Weights are seeded
-- random_uniform (not the default initializers) and biases, BN statistics are non-zero,
-- so a wrong index or a dropped term shows in the output.
--
-- This file knows nothing of the compiler; it does not load cnnc.

local rng_mod = require 'differential.rng'

local M = {}

M.ACTIVATIONS = { 'linear', 'relu', 'sigmoid', 'tanh', 'softmax', 'elu', 'selu', 'softplus', 'softsign',
  'hard_sigmoid', 'swish', 'leaky_relu' }

-- Limits that keep each generated C file small and quick to compile.
local MAX_WEIGHTS = 12000   -- floats in one layer's weights
local MAX_FLAT = 1500       -- values a Flatten may produce

local function prod(t)
  local p = 1
  for _, v in ipairs(t) do p = p * v end
  return p
end

local function ceil_div(a, b) return math.floor((a + b - 1) / b) end

local function x_join(t) return table.concat(t, 'x') end

---------------------------------------------------------------------------------------
-- Argument lists: {{key, value}, ...}; key nil means positional (written first, in order).

local function arg(args, key, value)
  if value ~= nil then args[#args + 1] = { key, value } end
end

-- A per-axis list, or one integer when all entries agree and the coin says so.
local function size_arg(rng, list)
  local same = true
  for i = 2, #list do same = same and list[i] == list[1] end
  if same and rng:chance(0.6) then return list[1] end
  local t = {}
  for i, v in ipairs(list) do t[i] = v end
  return t
end

local function all_one(list)
  for _, v in ipairs(list) do if v ~= 1 then return false end end
  return true
end

local function uniform_init(a) return { 'random_uniform', minval = -a, maxval = a } end

-- Kernel scale keeping activations of order one: uniform(-a, a) has variance a^2/3.
local function kernel_scale(fan_in)
  local a = math.sqrt(3 / fan_in)
  a = math.max(0.05, math.min(0.7, a))
  return math.floor(a * 100 + 0.5) / 100
end

-- Mostly a few channels; sometimes more than a SIMD vector holds (4, 8, 16 floats), now
-- and then several vectors' worth (register tiles of up to 4 vectors), so vector bodies,
-- channel blocks and their remainders all run.
local function channel_count(rng, small)
  local r = rng:uniform()
  if r < 0.04 then return rng:int(21, 64) end
  if r < 0.18 then return rng:int(7, 20) end
  return rng:int(1, small)
end

local function maybe_activation(rng, args, p)
  if rng:chance(p or 0.5) then
    local a = rng:pick(M.ACTIVATIONS)
    arg(args, 'activation', a)
    return a
  end
end

---------------------------------------------------------------------------------------
-- Window geometry, Keras rules.

local function out_len(n, k, s, d, mode)
  if mode == 'valid' then return math.floor((n - ((k - 1) * d + 1)) / s) + 1 end
  return ceil_div(n, s) -- same, causal
end

-- Picks kernel, stride, dilation for one axis of length n so the window fits.
local function axis(rng, n, mode, style, kmax)
  local d = style == 'dilated' and rng:int(1, 3) or 1
  local s = style == 'strided' and rng:int(1, 3) or 1
  local hi = kmax
  if mode == 'valid' then hi = math.min(hi, math.floor((n - 1) / d) + 1) end
  local k = rng:int(1, hi)
  return k, s, d, out_len(n, k, s, d, mode)
end

local function spatial(shape) -- all axes but the channel axis
  local t = {}
  for i = 1, #shape - 1 do t[i] = shape[i] end
  return t
end

local function with_channels(sp, c)
  local t = {}
  for i, v in ipairs(sp) do t[i] = v end
  t[#t + 1] = c
  return t
end

---------------------------------------------------------------------------------------
-- Layer makers: function(rng, shape) -> layer {kind, args, shape, desc} or nil when the
-- kind cannot be made valid for this shape.

local make = {}

local function conv(rank)
  return function(rng, shape)
    local sp, cin = spatial(shape), shape[#shape]
    local style = rng:weighted({ plain = 4, strided = 3, dilated = 3 })
    local mode = rng:pick(rank == 1 and { 'valid', 'same', 'causal' } or { 'valid', 'same' })
    local ks, ss, ds, out = {}, {}, {}, {}
    for i = 1, rank do ks[i], ss[i], ds[i], out[i] = axis(rng, sp[i], mode, style, 5) end
    -- One plain 2-D convolution in three is 3x3 (when it fits): the Winograd kernel's case.
    if rank == 2 and style == 'plain' and rng:chance(0.35) and (mode == 'same' or (sp[1] >= 3 and sp[2] >= 3)) then
      for i = 1, 2 do ks[i], out[i] = 3, out_len(sp[i], 3, 1, 1, mode) end
    end
    local filters = math.min(channel_count(rng, 6), math.floor(MAX_WEIGHTS / (prod(ks) * cin)))
    if filters < 1 then return nil end
    local args = {}
    if rng:chance(0.5) then
      arg(args, nil, filters); arg(args, nil, size_arg(rng, ks))
    else
      arg(args, 'filters', filters); arg(args, 'kernel_size', size_arg(rng, ks))
    end
    if not all_one(ss) or rng:chance(0.2) then arg(args, 'strides', size_arg(rng, ss)) end
    if mode ~= 'valid' or rng:chance(0.3) then arg(args, 'padding', mode) end
    if not all_one(ds) or rng:chance(0.1) then arg(args, 'dilation_rate', size_arg(rng, ds)) end
    local act = maybe_activation(rng, args, 0.4)
    local bias = rng:chance(0.75)
    if not bias then arg(args, 'use_bias', false) elseif rng:chance(0.2) then arg(args, 'use_bias', true) end
    -- Keras's groups: a divisor of both channel counts (grouped and depthwise kernels)
    local groups, common = 1, 1
    for d = 2, math.min(cin, filters) do if cin % d == 0 and filters % d == 0 then common = d end end
    if common > 1 and rng:chance(0.3) then
      local divisors = {}
      for d = 2, common do if common % d == 0 then divisors[#divisors + 1] = d end end
      groups = rng:pick(divisors)
      arg(args, 'groups', groups)
    end
    arg(args, 'kernel_initializer', uniform_init(kernel_scale(prod(ks) * cin / groups)))
    if bias then arg(args, 'bias_initializer', uniform_init(0.5)) end
    local desc = string.format('%s(%d, %s, s%s, d%s, %s%s%s%s)', rank == 1 and 'Conv1D' or 'Conv2D', filters,
      x_join(ks), x_join(ss), x_join(ds), mode, groups > 1 and (', g' .. groups) or '', bias and '' or ', nobias',
      act and (', ' .. act) or '')
    return { kind = rank == 1 and 'Conv1D' or 'Conv2D', args = args, shape = with_channels(out, filters), desc = desc }
  end
end
make.Conv1D, make.Conv2D = conv(1), conv(2)

local function locally_connected(rank)
  return function(rng, shape)
    local sp, cin = spatial(shape), shape[#shape]
    for _ = 1, 6 do
      local style = rng:chance(0.4) and 'strided' or 'plain'
      local ks, ss, out = {}, {}, {}
      for i = 1, rank do ks[i], ss[i], _, out[i] = axis(rng, sp[i], 'valid', style, 4) end
      local filters = channel_count(rng, 5)
      if prod(out) * prod(ks) * cin * filters <= MAX_WEIGHTS then
        local args = {}
        arg(args, 'filters', filters); arg(args, 'kernel_size', size_arg(rng, ks))
        if not all_one(ss) then arg(args, 'strides', size_arg(rng, ss)) end
        if rng:chance(0.2) then arg(args, 'padding', 'valid') end
        local act = maybe_activation(rng, args, 0.4)
        local bias = rng:chance(0.75)
        if not bias then arg(args, 'use_bias', false) end
        arg(args, 'kernel_initializer', uniform_init(kernel_scale(prod(ks) * cin)))
        if bias then arg(args, 'bias_initializer', uniform_init(0.5)) end
        local kind = rank == 1 and 'LocallyConnected1D' or 'LocallyConnected2D'
        local desc = string.format('%s(%d, %s, s%s%s%s)', kind, filters, x_join(ks), x_join(ss),
          bias and '' or ', nobias', act and (', ' .. act) or '')
        return { kind = kind, args = args, shape = with_channels(out, filters), desc = desc }
      end
    end
  end
end
make.LocallyConnected1D, make.LocallyConnected2D = locally_connected(1), locally_connected(2)

local function pooling(kind, rank)
  return function(rng, shape)
    local sp, c = spatial(shape), shape[#shape]
    local mode = rng:pick({ 'valid', 'same' })
    local ks, ss, out = {}, {}, {}
    local explicit_strides = rng:chance(0.5)
    for i = 1, rank do
      local hi = 4
      if mode == 'valid' then hi = math.min(hi, sp[i]) end
      ks[i] = rng:int(1, hi)
      ss[i] = explicit_strides and rng:int(1, 3) or ks[i]
      out[i] = out_len(sp[i], ks[i], ss[i], 1, mode)
    end
    local args = {}
    if rng:chance(0.5) then arg(args, nil, size_arg(rng, ks)) else arg(args, 'pool_size', size_arg(rng, ks)) end
    if explicit_strides then arg(args, 'strides', size_arg(rng, ss)) end
    if mode ~= 'valid' or rng:chance(0.3) then arg(args, 'padding', mode) end
    local extra = ''
    if kind:match('^LP') then
      local p = rng:pick({ 1, 2, 3, 1.5 })
      if p ~= 2 or rng:chance(0.5) then arg(args, 'p', p) end
      extra = ', p' .. p
    elseif kind:match('^Weighted') then
      local sigma = rng:real(0.5, 2, 0.25)
      arg(args, 'sigma', sigma)
      extra = ', sigma' .. sigma
    end
    local desc = string.format('%s(%s, s%s, %s%s)', kind, x_join(ks), x_join(ss), mode, extra)
    return { kind = kind, args = args, shape = with_channels(out, c), desc = desc }
  end
end
for _, k in ipairs({ 'MaxPooling', 'AveragePooling', 'LPPooling' }) do
  make[k .. '1D'] = pooling(k .. '1D', 1)
  make[k .. '2D'] = pooling(k .. '2D', 2)
end
make.WeightedAveragePooling2D = pooling('WeightedAveragePooling2D', 2)

local function global_pooling(kind, rank)
  return function(rng, shape)
    local c = shape[#shape]
    local args = {}
    local keep = rng:chance(0.2)
    if keep then arg(args, 'keepdims', true) end
    local out = { c }
    if keep then out = rank == 1 and { 1, c } or { 1, 1, c } end
    return { kind = kind, args = args, shape = out, desc = kind .. (keep and '(keepdims)' or '') }
  end
end
for _, k in ipairs({ 'GlobalMaxPooling', 'GlobalAveragePooling' }) do
  make[k .. '1D'] = global_pooling(k .. '1D', 1)
  make[k .. '2D'] = global_pooling(k .. '2D', 2)
end

function make.ZeroPadding1D(rng, shape)
  local l, r, v = rng:int(0, 2), rng:int(0, 2), nil
  if rng:chance(0.3) then r = l; v = l else v = { l, r } end
  local args = {}
  if rng:chance(0.5) then arg(args, nil, v) else arg(args, 'padding', v) end
  return { kind = 'ZeroPadding1D', args = args, shape = { shape[1] + l + r, shape[2] },
    desc = string.format('ZeroPadding1D(%d,%d)', l, r) }
end

function make.ZeroPadding2D(rng, shape)
  local t, b, l, r = rng:int(0, 2), rng:int(0, 2), rng:int(0, 2), rng:int(0, 2)
  local form, v = rng:int(1, 3), nil
  if form == 1 then b, l, r = t, t, t; v = t
  elseif form == 2 then b, r = t, l; v = { t, l }
  else v = { { t, b }, { l, r } } end
  local args = {}
  if rng:chance(0.5) then arg(args, nil, v) else arg(args, 'padding', v) end
  return { kind = 'ZeroPadding2D', args = args, shape = { shape[1] + t + b, shape[2] + l + r, shape[3] },
    desc = string.format('ZeroPadding2D(t%d b%d l%d r%d)', t, b, l, r) }
end

function make.Flatten(_, shape)
  local n = prod(shape)
  if n > MAX_FLAT then return nil end
  return { kind = 'Flatten', args = {}, shape = { n }, desc = 'Flatten' }
end

function make.Dense(rng, shape)
  local n = shape[1]
  local units = math.max(1, math.min(channel_count(rng, 12), math.floor(MAX_WEIGHTS / n)))
  local args = {}
  if rng:chance(0.5) then arg(args, nil, units) else arg(args, 'units', units) end
  local act = maybe_activation(rng, args, 0.5)
  local bias = rng:chance(0.75)
  if not bias then arg(args, 'use_bias', false) end
  arg(args, 'kernel_initializer', uniform_init(kernel_scale(n)))
  if bias then arg(args, 'bias_initializer', uniform_init(0.5)) end
  return { kind = 'Dense', args = args, shape = { units },
    desc = string.format('Dense(%d%s%s)', units, bias and '' or ', nobias', act and (', ' .. act) or '') }
end

function make.Activation(rng, shape)
  local a = rng:pick(M.ACTIVATIONS)
  local args = {}
  if rng:chance(0.5) then arg(args, nil, a) else arg(args, 'activation', a) end
  return { kind = 'Activation', args = args, shape = shape, desc = 'Activation(' .. a .. ')' }
end

function make.LeakyReLU(rng, shape)
  local args, alpha = {}, 0.3
  if rng:chance(0.6) then
    alpha = rng:real(0.01, 0.5, 0.01)
    arg(args, 'alpha', alpha)
  end
  return { kind = 'LeakyReLU', args = args, shape = shape, desc = 'LeakyReLU(' .. alpha .. ')' }
end

function make.BatchNormalization(rng, shape)
  local args = {}
  local center, scale = not rng:chance(0.15), not rng:chance(0.15)
  local eps = rng:pick({ 0.001, 0.001, 0.01, 0.1 })
  if eps ~= 0.001 then arg(args, 'epsilon', eps) end
  if not center then arg(args, 'center', false) end
  if not scale then arg(args, 'scale', false) end
  if scale then arg(args, 'gamma_initializer', { 'random_uniform', minval = 0.5, maxval = 1.5 }) end
  if center then arg(args, 'beta_initializer', uniform_init(0.5)) end
  arg(args, 'moving_mean_initializer', uniform_init(0.5))
  arg(args, 'moving_variance_initializer', { 'random_uniform', minval = 0.25, maxval = 2 })
  local desc = string.format('BatchNormalization(eps %g%s%s)', eps, center and '' or ', nocenter',
    scale and '' or ', noscale')
  return { kind = 'BatchNormalization', args = args, shape = shape, desc = desc }
end

function make.Dropout(rng, shape)
  local rate = rng:real(0.05, 0.6, 0.05)
  local args = {}
  if rng:chance(0.5) then arg(args, nil, rate) else arg(args, 'rate', rate) end
  return { kind = 'Dropout', args = args, shape = shape, desc = 'Dropout(' .. rate .. ')' }
end

-- The Keras layers that are the identity at inference: Dropout and its variants.
local IDENTITY_KINDS = { 'Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'AlphaDropout', 'GaussianDropout',
  'GaussianNoise', 'ActivityRegularization' }

local function identity_layer(kind)
  return function(rng, shape)
    if (kind == 'SpatialDropout1D' and #shape ~= 2) or (kind == 'SpatialDropout2D' and #shape ~= 3) then return nil end
    local args = {}
    local v
    if kind == 'GaussianNoise' then v = rng:real(0.05, 1, 0.05); arg(args, 'stddev', v)
    elseif kind == 'ActivityRegularization' then v = rng:real(0, 0.1, 0.01); arg(args, 'l1', v)
    else v = rng:real(0.05, 0.6, 0.05); arg(args, 'rate', v) end
    return { kind = kind, args = args, shape = shape, desc = string.format('%s(%g)', kind, v) }
  end
end
for _, k in ipairs(IDENTITY_KINDS) do if k ~= 'Dropout' then make[k] = identity_layer(k) end end

-- Keras's parametrised activation layers.
function make.ReLU(rng, shape)
  local args, parts = {}, {}
  if rng:chance(0.5) then local v = rng:real(0.5, 6, 0.5); arg(args, 'max_value', v); parts[#parts + 1] = 'max ' .. v end
  if rng:chance(0.4) then local v = rng:real(0.05, 0.5, 0.05); arg(args, 'negative_slope', v); parts[#parts + 1] = 'slope ' .. v end
  if rng:chance(0.3) then local v = rng:real(0.1, 0.5, 0.1); arg(args, 'threshold', v); parts[#parts + 1] = 'threshold ' .. v end
  return { kind = 'ReLU', args = args, shape = shape, desc = 'ReLU(' .. table.concat(parts, ', ') .. ')' }
end

function make.ELU(rng, shape)
  local a = rng:real(0.1, 2, 0.1)
  return { kind = 'ELU', args = { { 'alpha', a } }, shape = shape, desc = 'ELU(' .. a .. ')' }
end

function make.ThresholdedReLU(rng, shape)
  local t = rng:real(0, 1, 0.1)
  return { kind = 'ThresholdedReLU', args = { { 'theta', t } }, shape = shape, desc = 'ThresholdedReLU(' .. t .. ')' }
end

function make.Rescaling(rng, shape)
  local sc, off = rng:real(-2, 2, 0.25), rng:chance(0.5) and rng:real(-1, 1, 0.25) or 0
  local args = { { 'scale', sc } }
  if off ~= 0 then arg(args, 'offset', off) end
  return { kind = 'Rescaling', args = args, shape = shape, desc = string.format('Rescaling(%g, %g)', sc, off) }
end

function make.LayerNormalization(rng, shape)
  local args = {}
  local eps = rng:pick({ 0.001, 0.001, 0.01 })
  if eps ~= 0.001 then arg(args, 'epsilon', eps) end
  local center, scale = not rng:chance(0.2), not rng:chance(0.2)
  if not center then arg(args, 'center', false) else arg(args, 'beta_initializer', uniform_init(0.5)) end
  if not scale then arg(args, 'scale', false) else arg(args, 'gamma_initializer', { 'random_uniform', minval = 0.5, maxval = 1.5 }) end
  return { kind = 'LayerNormalization', args = args, shape = shape,
    desc = string.format('LayerNormalization(eps %g%s%s)', eps, center and '' or ', nocenter', scale and '' or ', noscale') }
end

-- Keras's Normalization with its statistics given per channel (the last axis).
function make.Normalization(rng, shape)
  local c = shape[#shape]
  if c > 64 then return nil end
  local mean, var = {}, {}
  for i = 1, c do mean[i], var[i] = rng:real(-1, 1, 0.125), rng:real(0.25, 4, 0.25) end
  local args = { { 'mean', mean }, { 'variance', var } }
  local invert = rng:chance(0.2)
  if invert then arg(args, 'invert', true) end
  return { kind = 'Normalization', args = args, shape = shape, desc = 'Normalization(' .. c .. (invert and ', invert)' or ')') }
end

function make.RepeatVector(rng, shape)
  if shape[1] > 40 then return nil end
  local n = rng:int(2, 5)
  return { kind = 'RepeatVector', args = { { nil, n } }, shape = { n, shape[1] }, desc = 'RepeatVector(' .. n .. ')' }
end

local function cropping(rank)
  return function(rng, shape)
    local sp, crops, out = spatial(shape), {}, {}
    for i = 1, rank do
      if sp[i] < 3 then return nil end
      local a = rng:int(0, math.min(2, sp[i] - 2))
      local b = rng:int(0, math.min(2, sp[i] - 1 - a))
      crops[i], out[i] = { a, b }, sp[i] - a - b
    end
    local v = rank == 1 and crops[1] or crops
    local kind = 'Cropping' .. rank .. 'D'
    local desc = {}
    for i, c in ipairs(crops) do desc[i] = c[1] .. ',' .. c[2] end
    return { kind = kind, args = { { nil, v } }, shape = with_channels(out, shape[#shape]),
      desc = kind .. '(' .. table.concat(desc, '; ') .. ')' }
  end
end
make.Cropping1D, make.Cropping2D = cropping(1), cropping(2)

local function upsampling(rank)
  return function(rng, shape)
    local sp, sizes, out = spatial(shape), {}, {}
    for i = 1, rank do
      sizes[i] = rng:int(1, 3)
      out[i] = sp[i] * sizes[i]
      if out[i] > 48 then return nil end
    end
    local kind = 'UpSampling' .. rank .. 'D'
    local args = { { nil, rank == 1 and sizes[1] or size_arg(rng, sizes) } }
    local interp = rank == 2 and rng:chance(0.5) and 'bilinear' or 'nearest'
    if rank == 2 and (interp == 'bilinear' or rng:chance(0.3)) then arg(args, 'interpolation', interp) end
    return { kind = kind, args = args, shape = with_channels(out, shape[#shape]),
      desc = string.format('%s(%s, %s)', kind, x_join(sizes), interp) }
  end
end
make.UpSampling1D, make.UpSampling2D = upsampling(1), upsampling(2)

-- Transposed convolutions: Keras's output length without output_padding.
local function conv_transpose(rank)
  return function(rng, shape)
    local sp, cin = spatial(shape), shape[#shape]
    local mode = rng:pick({ 'valid', 'same' })
    local ks, ss, out = {}, {}, {}
    for i = 1, rank do
      ks[i], ss[i] = rng:int(1, 4), rng:int(1, 2)
      out[i] = mode == 'same' and sp[i] * ss[i] or sp[i] * ss[i] + math.max(ks[i] - ss[i], 0)
      if out[i] > 48 then return nil end
    end
    local filters = math.min(channel_count(rng, 6), math.floor(MAX_WEIGHTS / (prod(ks) * cin)))
    if filters < 1 then return nil end
    local kind = rank == 1 and 'Conv1DTranspose' or 'Conv2DTranspose'
    local args = {}
    arg(args, nil, filters); arg(args, nil, size_arg(rng, ks))
    if not all_one(ss) or rng:chance(0.2) then arg(args, 'strides', size_arg(rng, ss)) end
    if mode ~= 'valid' or rng:chance(0.3) then arg(args, 'padding', mode) end
    local act = maybe_activation(rng, args, 0.4)
    local bias = rng:chance(0.75)
    if not bias then arg(args, 'use_bias', false) end
    arg(args, 'kernel_initializer', uniform_init(kernel_scale(prod(ks) * cin)))
    if bias then arg(args, 'bias_initializer', uniform_init(0.5)) end
    return { kind = kind, args = args, shape = with_channels(out, filters), desc = string.format('%s(%d, %s, s%s, %s%s%s)',
      kind, filters, x_join(ks), x_join(ss), mode, bias and '' or ', nobias', act and (', ' .. act) or '') }
  end
end
make.Conv1DTranspose, make.Conv2DTranspose = conv_transpose(1), conv_transpose(2)

-- Depthwise and separable convolutions (stride or dilation, not both, as Keras requires).
local function separable(rank, sep)
  return function(rng, shape)
    local sp, cin = spatial(shape), shape[#shape]
    local style = rng:weighted({ plain = 4, strided = 3, dilated = 2 })
    local mode = rng:pick({ 'valid', 'same' })
    local ks, ss, ds, out = {}, {}, {}, {}
    for i = 1, rank do ks[i], ss[i], ds[i], out[i] = axis(rng, sp[i], mode, style, 5) end
    if prod(out) < 1 then return nil end
    local dm = rng:int(1, 2)
    if prod(ks) * cin * dm > MAX_WEIGHTS then return nil end
    local kind = (sep and 'SeparableConv' or 'DepthwiseConv') .. rank .. 'D'
    local args, filters = {}, cin * dm
    if sep then
      filters = math.min(channel_count(rng, 6), math.floor(MAX_WEIGHTS / (cin * dm)))
      if filters < 1 then return nil end
      arg(args, nil, filters)
    end
    arg(args, nil, size_arg(rng, ks))
    if not all_one(ss) then arg(args, 'strides', size_arg(rng, ss)) end
    if mode ~= 'valid' then arg(args, 'padding', mode) end
    if not all_one(ds) then arg(args, 'dilation_rate', size_arg(rng, ds)) end
    if dm > 1 then arg(args, 'depth_multiplier', dm) end
    local act = maybe_activation(rng, args, 0.4)
    local bias = rng:chance(0.75)
    if not bias then arg(args, 'use_bias', false) end
    arg(args, 'depthwise_initializer', uniform_init(kernel_scale(prod(ks))))
    if sep then arg(args, 'pointwise_initializer', uniform_init(kernel_scale(cin * dm))) end
    if bias then arg(args, 'bias_initializer', uniform_init(0.5)) end
    return { kind = kind, args = args, shape = with_channels(out, filters), desc = string.format('%s(%s%s, s%s, d%s, %s, x%d%s)',
      kind, sep and (filters .. ', ') or '', x_join(ks), x_join(ss), x_join(ds), mode, dm, act and (', ' .. act) or '') }
  end
end
make.DepthwiseConv1D, make.DepthwiseConv2D = separable(1, false), separable(2, false)
make.SeparableConv1D, make.SeparableConv2D = separable(1, true), separable(2, true)

M.make = make

---------------------------------------------------------------------------------------
-- Choosing the sequence.

-- Kinds possible at a tensor of rank r (spatial rank; 0 = flat) with their weights.
local function candidates(rank)
  local t = { Activation = 0.7, LeakyReLU = 0.5, BatchNormalization = 0.8, Dropout = 0.5, ReLU = 0.3, ELU = 0.2,
    ThresholdedReLU = 0.15, Rescaling = 0.2, LayerNormalization = 0.4, Normalization = 0.2, AlphaDropout = 0.12, GaussianDropout = 0.12,
    GaussianNoise = 0.12, ActivityRegularization = 0.08 }
  if rank == 0 then
    t.Dense, t.Flatten, t.RepeatVector = 5, 0.15, 0.3
  else
    local d = rank .. 'D'
    t['Conv' .. d], t['LocallyConnected' .. d] = 5, 1.5
    t['MaxPooling' .. d], t['AveragePooling' .. d], t['LPPooling' .. d] = 1.3, 1.3, 1
    if rank == 2 then t.WeightedAveragePooling2D = 1 end
    t['GlobalMaxPooling' .. d], t['GlobalAveragePooling' .. d] = 0.7, 0.7
    t['ZeroPadding' .. d] = 2
    t.Flatten = 1
    t['Conv' .. d .. 'Transpose'], t['DepthwiseConv' .. d], t['SeparableConv' .. d] = 1, 1, 1
    t['Cropping' .. d], t['UpSampling' .. d], t['SpatialDropout' .. d] = 0.7, 0.7, 0.25
  end
  return t
end

local function spatial_rank(shape) return #shape - 1 end

-- The kinds whose results an epilogue step (BN, activation) may follow.
local PRODUCERS = { Conv = true, LocallyConnected = true, Dense = true, MaxPooling = true, AveragePooling = true,
  LPPooling = true, WeightedAveragePooling = true, GlobalMaxPooling = true, GlobalAveragePooling = true }

local function is_producer(kind) return PRODUCERS[(kind:gsub('[12]D$', ''))] or false end
M.is_producer = is_producer

-- Adds one layer of a kind drawn from `weights` (falling back to other kinds when one
-- cannot be made); returns the layer.
local function add_from(rng, net, shape, weights)
  weights = (function(w)
    local c = {}
    for k, v in pairs(w) do
      if not net.allow or net.allow(k) then c[k] = v end
    end
    return c
  end)(weights)
  while next(weights) do
    local kind = rng:weighted(weights)
    local l = make[kind](rng, shape)
    if l then
      net.layers[#net.layers + 1] = l
      return l
    end
    weights[kind] = nil
  end
  error('differential.gen: no layer kind fits shape ' .. x_join(shape))
end

-- allow(kind) (optional): the kinds the network may hold (e.g. those with a backward).
function M.network(seed, index, allow)
  local rng = rng_mod.new(seed, index)
  local net = { seed = seed, index = index, name = string.format('diff%d', index), layers = {}, allow = allow }
  local shape
  if rng:chance(0.5) then
    shape = { rng:int(5, 40), rng:int(1, 5) }
  else
    shape = { rng:int(3, 14), rng:int(3, 14), rng:int(1, 5) }
  end
  net.input_shape = shape
  net.model_seed = rng:int(0, 999999)
  local target = rng:int(1, 6)
  while #net.layers < target do
    local r = spatial_rank(shape)
    local l = add_from(rng, net, shape, candidates(r))
    shape = l.shape
    local room = target - #net.layers
    if l.kind:match('^ZeroPadding') and room > 0 and rng:chance(0.85) then
      -- Padding then a window: a convolution absorbs it, a pooling layer reads the zeros.
      -- Now and then more padding or a Dropout comes between (fused away first).
      local d = r .. 'D'
      if room > 1 and rng:chance(0.15) then
        shape = add_from(rng, net, shape, { ['ZeroPadding' .. d] = 1, Dropout = 1 }).shape
      end
      local w = { ['Conv' .. d] = 6, ['MaxPooling' .. d] = 1, ['AveragePooling' .. d] = 1,
        ['LPPooling' .. d] = 0.5, ['LocallyConnected' .. d] = 0.7 }
      if r == 2 then w.WeightedAveragePooling2D = 0.5 end
      shape = add_from(rng, net, shape, w).shape
      l = net.layers[#net.layers]
      room = target - #net.layers
    end
    if is_producer(l.kind) and room > 0 and rng:chance(0.55) then
      -- An epilogue candidate: BN (folded or fused), an activation, or both.
      local f = rng:weighted({ BatchNormalization = 4, Activation = 3, LeakyReLU = 2, Dropout = 1 })
      shape = add_from(rng, net, shape, { [f] = 1 }).shape
      if f == 'BatchNormalization' and target - #net.layers > 0 and rng:chance(0.5) then
        shape = add_from(rng, net, shape, { Activation = 2, LeakyReLU = 1 }).shape
      end
    end
  end
  net.output_shape = shape
  net.batch = rng:int(2, 3)
  net.input_seed = rng:int(0, 2 ^ 31 - 1)
  return net
end

---------------------------------------------------------------------------------------
-- Writing the model file.

local KEY_ORDER = { minval = 1, maxval = 2 }

local function lua_value(v)
  local t = type(v)
  if t == 'number' then
    if v == math.floor(v) and math.abs(v) < 2 ^ 31 then return string.format('%d', v) end
    local s = string.format('%.14g', v)
    if tonumber(s) ~= v then s = string.format('%.17g', v) end
    return s
  elseif t == 'string' then
    return "'" .. v:gsub('[\\\']', '\\%0') .. "'"
  elseif t == 'boolean' then
    return tostring(v)
  elseif t == 'table' then
    local parts = {}
    for i = 1, #v do parts[#parts + 1] = lua_value(v[i]) end
    local keys = {}
    for k in pairs(v) do
      if type(k) ~= 'number' or k < 1 or k > #v or k ~= math.floor(k) then keys[#keys + 1] = k end
    end
    table.sort(keys, function(a, b)
      local ra, rb = KEY_ORDER[a] or 99, KEY_ORDER[b] or 99
      if ra ~= rb then return ra < rb end
      return tostring(a) < tostring(b)
    end)
    for _, k in ipairs(keys) do parts[#parts + 1] = k .. ' = ' .. lua_value(v[k]) end
    return '{' .. table.concat(parts, ', ') .. '}'
  end
  error('differential.gen: cannot write a ' .. t)
end
M.lua_value = lua_value

local function layer_call(l)
  local parts = {}
  for _, a in ipairs(l.args) do
    parts[#parts + 1] = a[1] and (a[1] .. ' = ' .. lua_value(a[2])) or lua_value(a[2])
  end
  return string.format('m:add(nn.%s{%s})', l.kind, table.concat(parts, ', '))
end

function M.describe(net)
  local t = { 'in(' .. table.concat(net.input_shape, ',') .. ')' }
  for _, l in ipairs(net.layers) do t[#t + 1] = l.desc end
  return table.concat(t, ' > ')
end

function M.source(net)
  local lines = {
    string.format('-- cnnc differential test: network %d of seed %d (tests/differential/gen.lua).',
      net.index, net.seed),
    string.format('-- Regenerate and check it: luajit tests/differential/run.lua --seed %d --only %d',
      net.seed, net.index),
    '-- ' .. M.describe(net),
    "local nn = require 'cnnc'",
    string.format('local m = nn.Sequential{name = %s, input_shape = %s, seed = %d}', lua_value(net.name),
      lua_value(net.input_shape), net.model_seed),
  }
  for _, l in ipairs(net.layers) do
    local shape = lua_value(l.shape):gsub('^{', '('):gsub('}$', ')')
    lines[#lines + 1] = layer_call(l) .. ' -- ' .. shape
  end
  lines[#lines + 1] = 'return m'
  return table.concat(lines, '\n') .. '\n'
end

return M
