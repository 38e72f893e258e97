-- cnnc.keras.layers: how each Keras layer class becomes a layer of the model language.
--
-- A Keras layer maps onto the cnnc layer kind of the same name (cnnc's layers take Keras's
-- arguments and defaults), so most of a configuration passes through by name. This file
-- holds what differs: options that only matter for training (initializers, regularizers,
-- constraints, dtype, trainable) are dropped; a few are renamed or reshaped (Keras 2 and 3
-- disagree on some names); activations without a cnnc activation string become a layer
-- after the mapped one; and each class states the order in which Keras saves its weights
-- (kernel, then bias; BatchNormalization's gamma, beta, moving statistics), which is how
-- the importer assigns the saved arrays. An option cnnc cannot honour with a value that
-- changes the result is refused with the layer's name; Lambda layers and classes cnnc does
-- not know are refused by the importer, all at once.

local json = require 'cnnc.keras.json'
local registry = require 'cnnc.registry'
local util = require 'cnnc.util'

local M = {}

-- JSON values as Lua values: arrays as plain lists (nested), null as nil.
local function lua(v)
  if json.is_null(v) then return nil end
  if type(v) ~= 'table' then return v end
  local t = {}
  if json.is_array(v) then
    for i = 1, v.n do t[i] = lua(v[i]) end
  else
    for k, x in pairs(v) do t[k] = lua(x) end
  end
  return t
end
M.lua = lua

-- Options of no meaning at inference, dropped wherever they appear.
local DROPPED = {
  name = true, trainable = true, dtype = true, batch_input_shape = true, batch_shape = true, batch_size = true,
  input_shape = true, input_dim = true, input_length = true, sparse = true, ragged = true, autocast = true,
  seed = true, fused = true, virtual_batch_size = true, adjustment = true, synchronized = true, momentum = true,
  noise_shape = true, renorm_clipping = true, renorm_momentum = true, build_config = true, supports_masking = true,
}

local function dropped(key)
  return DROPPED[key] or key:match('_initializer$') or key:match('_regularizer$') or key:match('_constraint$')
end

-- Activation strings: a cnnc activation, or a layer to put after the mapped layer.
-- keras3: whether the file comes from Keras 3, whose hard_sigmoid is clip(x / 6 + 1/2, 0, 1)
-- (Keras 2's: clip(0.2 x + 1/2, 0, 1)).
local SAME = { relu = 1, sigmoid = 1, tanh = 1, softmax = 1, elu = 1, selu = 1, softplus = 1, softsign = 1,
  swish = 1, leaky_relu = 1, relu6 = 1, hard_sigmoid = 1 }
function M.activation(v, keras3)
  if type(v) == 'table' and not json.is_array(v) and type(v.config) == 'string' then v = v.config end -- Keras 3 function
  if v == nil or json.is_null(v) or v == 'linear' then return nil end
  if type(v) ~= 'string' then return nil, nil, 'an activation that is not a name (a custom function)' end
  if v == 'hard_sigmoid' and keras3 then
    return nil, { kind = 'ParamActivation', given = { 'onnx_hard_sigmoid', alpha = 1 / 6, offset = 0.5 } }
  end
  if SAME[v] then return v end
  if v == 'silu' then return 'swish' end
  if v == 'hard_silu' or v == 'hard_swish' then return nil, { kind = 'ParamActivation', given = { 'hard_swish' } } end
  if v == 'log_softmax' then return nil, { kind = 'LogSoftmax', given = { axis = -1 } } end
  return nil, nil, string.format("the activation '%s', which cnnc does not have", v)
end

-- The weights Keras saves for a layer, in its order (nil entries: saved, not used here).
local function kernel_bias(c) return c.use_bias == false and { 'kernel' } or { 'kernel', 'bias' } end

local function bn_weights(c)
  local t = {}
  if c.scale ~= false then t[#t + 1] = 'gamma' end
  if c.center ~= false then t[#t + 1] = 'beta' end
  t[#t + 1] = 'moving_mean'
  t[#t + 1] = 'moving_variance'
  return t
end

-- Per class: kind (default: the class name), rename = {keras key -> cnnc key}, weights(c),
-- fix(c, keras3) -> problem text (adjusts the converted config in place).
local CLASSES = {
  Conv1D = { weights = kernel_bias }, Conv2D = { weights = kernel_bias }, Conv3D = { weights = kernel_bias },
  Dense = { weights = kernel_bias, extra = { last_axis = true } }, -- Keras applies it to the last axis
  LocallyConnected1D = { weights = kernel_bias, fix = function(c)
    if c.implementation and c.implementation ~= 1 then
      return string.format('implementation=%d keeps the kernel in another layout; cnnc reads implementation=1', c.implementation)
    end
  end },
  DepthwiseConv1D = { weights = function(c) return c.use_bias == false and { 'depthwise_kernel' } or { 'depthwise_kernel', 'bias' } end },
  SeparableConv1D = { weights = function(c)
    return c.use_bias == false and { 'depthwise_kernel', 'pointwise_kernel' } or { 'depthwise_kernel', 'pointwise_kernel', 'bias' }
  end },
  Conv1DTranspose = { weights = kernel_bias }, Conv2DTranspose = { weights = kernel_bias },
  MaxPooling1D = {}, MaxPooling2D = {}, MaxPooling3D = {}, AveragePooling1D = {}, AveragePooling2D = {},
  AveragePooling3D = {},
  GlobalMaxPooling1D = {}, GlobalMaxPooling2D = {}, GlobalAveragePooling1D = {}, GlobalAveragePooling2D = {},
  Flatten = {}, Reshape = {}, Permute = {}, RepeatVector = {},
  Dropout = {}, SpatialDropout1D = {}, SpatialDropout2D = {}, AlphaDropout = {}, GaussianDropout = {},
  GaussianNoise = {}, ActivityRegularization = {},
  Activation = {},
  ReLU = {}, ELU = {}, ThresholdedReLU = {}, Softmax = {},
  LeakyReLU = {},
  PReLU = { weights = function() return { 'alpha' } end },
  BatchNormalization = { weights = bn_weights, fix = function(c)
    if c.renorm then return 'renorm=True adds weights cnnc does not read; save the model without batch renormalization' end
    if type(c.axis) == 'table' then
      if #c.axis ~= 1 then return 'normalizing over several axes is not supported' end
      c.axis = c.axis[1]
    end
    c.renorm = nil
  end },
  LayerNormalization = { weights = function(c)
    local t = {}
    if c.scale ~= false then t[#t + 1] = 'gamma' end
    if c.center ~= false then t[#t + 1] = 'beta' end
    return t
  end },
  ZeroPadding1D = {}, ZeroPadding2D = {}, Cropping1D = {}, Cropping2D = {},
  UpSampling1D = {}, UpSampling2D = {},
  Add = {}, Subtract = {}, Multiply = {}, Average = {}, Maximum = {}, Minimum = {}, Concatenate = {},
  Rescaling = {},
  Normalization = { weights = function(c)
    if c.mean ~= nil then return {} end
    return { 'mean', 'variance', false } -- Keras also saves `count`
  end, fix = function(c)
    if c.axis == nil then c.axis = {} end
  end },
}
CLASSES.LocallyConnected2D = CLASSES.LocallyConnected1D
CLASSES.DepthwiseConv2D = CLASSES.DepthwiseConv1D
CLASSES.SeparableConv2D = CLASSES.SeparableConv1D

-- Layer classes of the Keras (and TensorFlow.js) families with a known reason to refuse.
local REFUSED = {
  Lambda = 'a Lambda layer runs Python code, which is saved as Python bytecode or source and cannot be compiled',
  TFOpLambda = 'it runs a TensorFlow operation recorded as Python, which cnnc cannot compile',
  SlicingOpLambda = 'it runs a TensorFlow slicing operation recorded as Python, which cnnc cannot compile',
}

-- Values of options cnnc does not know that still change nothing: absent, off or empty.
local function benign(v) return v == nil or v == false or (type(v) == 'table' and next(v) == nil) end

-- cnnc arguments that carry weight values: never taken from a configuration.
local WEIGHT_VALUES = { kernel = 1, bias = 1, depthwise_kernel = 1, pointwise_kernel = 1, alpha = 1, gamma = 1,
  beta = 1, moving_mean = 1, moving_variance = 1, operand = 1 }

-- Maps Keras layer `class` with JSON config `cfg` (Keras 3 files: keras3). Returns a table
-- {kind, given, weights = {names in Keras's order}, after = {kind, given} | nil} or nil,
-- reason (the reason it cannot be imported).
function M.map(class, cfg, keras3)
  if REFUSED[class] then return nil, REFUSED[class] end
  local spec = CLASSES[class]
  if not spec then return nil, 'cnnc does not know this layer class (a custom layer, or one it does not support)' end
  local kind = spec.kind or class
  local entry = registry.kinds[kind]
  if not entry then return nil, 'this cnnc has no ' .. kind .. ' layer' end
  if type(cfg) ~= 'table' or json.is_array(cfg) then return nil, 'its config is not a JSON object' end
  local c = lua(cfg) or {}
  for key in pairs(c) do
    if type(key) ~= 'string' then return nil, 'its config is not a JSON object' end
  end
  if spec.fix then
    local problem = spec.fix(c, keras3)
    if problem then return nil, problem end
  end
  local known = {}
  for _, a in ipairs(entry.spec.args) do known[a[1]] = a[2] end
  local given, after = {}, nil
  for key, v in pairs(c) do
    local to = spec.rename and spec.rename[key] or key
    if key == 'data_format' then
      if v ~= 'channels_last' then
        return nil, string.format("data_format='%s': cnnc computes channels_last, as Keras does by default", tostring(v))
      end
    elseif key == 'activation' and known.activation then
      local act, layer, problem = M.activation(cfg.activation, keras3)
      if problem then return nil, problem end
      given.activation, after = act, layer
    elseif key == 'name' then
      given.name = v
    elseif dropped(key) then -- training-only
    elseif known[to] and not (known[to] == 'values' and WEIGHT_VALUES[to]) then
      given[to] = v
    elseif not benign(v) then
      return nil, string.format('option %s=%s, which cnnc does not support', key, require('cnnc.args').describe(v))
    end
  end
  local weights = spec.weights and spec.weights(c) or {}
  if class == 'Activation' then
    -- an Activation layer of a function cnnc has as a layer of its own is that layer
    if after then return { kind = after.kind, given = util.copy(after.given), weights = {} } end
    given.activation = given.activation or 'linear'
  end
  for k, v in pairs(spec.extra or {}) do given[k] = v end
  return { kind = kind, given = given, weights = weights, after = after }
end

M.CLASSES = CLASSES

return M
