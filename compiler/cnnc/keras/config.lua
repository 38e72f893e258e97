-- cnnc.keras.config: a Keras model configuration (the JSON of model.to_json(), of an .h5
-- file's model_config attribute or of a .keras file's config.json) as one plain form.
--
-- Keras writes models several ways: Sequential as a list of layers (Keras 2.1) or a table
-- with `layers`, its input given by an InputLayer (tf.keras 2.x, Keras 3) or by
-- batch_input_shape on the first layer (older Keras, TensorFlow.js); Functional ("Model",
-- "Functional") as layers with `inbound_nodes` in Keras 2's form (lists of [layer,
-- node, tensor, kwargs]) or Keras 3's (call arguments holding serialized tensors with a
-- keras_history). `parse` returns
--   {name, sequential, layers = {{class, name, config, calls = {{refs}...}}...},
--    all = every layer entry, InputLayers too, in the configuration's order (the order
--    Keras numbers a .keras file's weights in), inputs = {{name, shape}...}, input_refs,
--    outputs = {refs}}
-- where a ref is {layer, node, tensor} (0-based node and tensor, as Keras counts) and an
-- input layer's single call is its own output. Models nested in a model are refused here
-- with their name.

local json = require 'cnnc.keras.json'
local util = require 'cnnc.util'

local M = {}

local is_array = json.is_array

-- The item shape of a Keras batch shape [null, d1, d2, ...]; fails on unknown sizes.
local function item_shape(where, what, batch_shape)
  if not is_array(batch_shape) or batch_shape.n < 2 then
    util.fail(where, '%s has no usable input shape (got %s)', what, tostring(batch_shape))
  end
  local s = {}
  for i = 2, batch_shape.n do
    local d = batch_shape[i]
    if type(d) ~= 'number' or d < 1 or d ~= math.floor(d) then
      util.fail(where, '%s has a dimension of unknown size (axis %d); cnnc compiles for fixed sizes: save the model with a '
        .. 'full input shape', what, i - 1)
    end
    s[#s + 1] = d
  end
  return s
end

local function input_shape_of(where, what, cfg)
  local bs = cfg.batch_input_shape or cfg.batch_shape
  if bs and not json.is_null(bs) then return item_shape(where, what, bs) end
  local s = cfg.input_shape
  if is_array(s) then
    local t = setmetatable({ n = s.n + 1, json.null }, json.Array)
    for i = 1, s.n do t[i + 1] = s[i] end
    return item_shape(where, what, t)
  end
end

local MODEL_CLASSES = { Sequential = true, Functional = true, Model = true }

local function layer_entry(where, l, k)
  if type(l) ~= 'table' or type(l.class_name) ~= 'string' or type(l.config) ~= 'table' then
    util.fail(where, 'layer %d of the model configuration has no class_name and config', k)
  end
  local name = l.config.name or l.name
  if type(name) ~= 'string' then util.fail(where, 'layer %d (%s) has no name', k, l.class_name) end
  if MODEL_CLASSES[l.class_name] then
    util.fail(where, "layer '%s' is a whole model (%s) nested in this one; cnnc imports models whose layers are "
      .. 'all plain layers (rebuild it without the nesting, or convert the inner model alone)', name, l.class_name)
  end
  return { class = l.class_name, name = name, config = l.config, module = l.module,
    registered_name = l.registered_name, build_config = l.build_config, calls = {} }
end

local function sequential(where, cfg)
  local list = is_array(cfg) and cfg or cfg.layers
  if not is_array(list) or list.n == 0 then util.fail(where, 'the Sequential model has no layers') end
  local r = { name = type(cfg.name) == 'string' and cfg.name or 'sequential', sequential = true, layers = {},
    inputs = {}, all = {} }
  local first = 1
  local e1 = layer_entry(where, list[1], 1)
  r.all[1] = e1
  local shape, iname
  if e1.class == 'InputLayer' then
    shape = input_shape_of(where, "the InputLayer '" .. e1.name .. "'", e1.config)
    iname, first = e1.name, 2
  else
    shape = input_shape_of(where, "the first layer '" .. e1.name .. "'", e1.config)
    if not shape and is_array(cfg.build_input_shape) then shape = item_shape(where, 'the model', cfg.build_input_shape) end
    if not shape and type(e1.build_config) == 'table' and is_array(e1.build_config.input_shape) then
      shape = item_shape(where, 'the first layer', e1.build_config.input_shape)
    end
    iname = e1.name .. '_input'
  end
  if not shape then util.fail(where, 'the Sequential model states no input shape (no InputLayer, no batch_input_shape)') end
  r.inputs[1] = { name = iname, shape = shape }
  local prev = { layer = iname, node = 0, tensor = 0 }
  for k = first, list.n do
    local e = k == 1 and e1 or layer_entry(where, list[k], k)
    r.all[k] = e
    if e.class == 'InputLayer' then util.fail(where, "InputLayer '%s' in the middle of a Sequential model", e.name) end
    e.calls[1] = { prev }
    r.layers[#r.layers + 1] = e
    prev = { layer = e.name, node = 0, tensor = 0 }
  end
  r.outputs = { prev }
  return r
end

local function ref_of(where, v, what)
  if not (is_array(v) and v.n >= 3 and type(v[1]) == 'string' and type(v[2]) == 'number' and type(v[3]) == 'number') then
    util.fail(where, '%s is not a [layer, node, tensor] reference', what)
  end
  return { layer = v[1], node = v[2], tensor = v[3] }
end

-- Keras 3 call arguments: the serialized tensors in them, in order.
local function tensors_in(where, v, out, what)
  if type(v) ~= 'table' or json.is_null(v) then return out end
  if v.class_name == '__keras_tensor__' and type(v.config) == 'table' then
    out[#out + 1] = ref_of(where, v.config.keras_history, what)
    return out
  end
  if is_array(v) then
    for i = 1, v.n do tensors_in(where, v[i], out, what) end
  else
    for _, k in ipairs(util.sorted_keys(v)) do tensors_in(where, v[k], out, what) end
  end
  return out
end

-- A list of refs from input_layers / output_layers (one ref, a list, or a table of them).
local function ref_list(where, v, what)
  if is_array(v) and type(v[1]) == 'string' then return { ref_of(where, v, what) } end
  local t = {}
  if is_array(v) then
    for i = 1, v.n do t[i] = ref_of(where, v[i], what) end
  elseif type(v) == 'table' then
    for _, k in ipairs(util.sorted_keys(v)) do t[#t + 1] = ref_of(where, v[k], what) end
  end
  if #t == 0 then util.fail(where, 'the model configuration lists no %s', what) end
  return t
end

local function functional(where, cfg)
  if not is_array(cfg.layers) then util.fail(where, 'the Functional model configuration has no layers') end
  local r = { name = type(cfg.name) == 'string' and cfg.name or 'model', layers = {}, inputs = {}, all = {} }
  local is_input = {}
  for k = 1, cfg.layers.n do
    local l = cfg.layers[k]
    local e = layer_entry(where, l, k)
    r.all[k] = e
    if e.class == 'InputLayer' then
      is_input[e.name] = input_shape_of(where, "the InputLayer '" .. e.name .. "'", e.config)
        or util.fail(where, "the InputLayer '%s' has no shape", e.name)
    else
      local nodes = l.inbound_nodes
      if not is_array(nodes) then util.fail(where, "layer '%s' has no inbound_nodes", e.name) end
      for i = 1, nodes.n do
        local node = nodes[i]
        local refs = {}
        if is_array(node) then -- Keras 2: [[layer, node, tensor, kwargs], ...]
          for j = 1, node.n do refs[j] = ref_of(where, node[j], string.format("an input of layer '%s'", e.name)) end
        elseif type(node) == 'table' then -- Keras 3: {args = [...], kwargs = {...}}
          tensors_in(where, node.args, refs, string.format("an input of layer '%s'", e.name))
          if #tensors_in(where, node.kwargs, {}, 'a keyword argument') > 0 then
            util.fail(where, "layer '%s' is called with tensors as keyword arguments, which cnnc does not support", e.name)
          end
        end
        if #refs == 0 then util.fail(where, "a call of layer '%s' has no input tensors", e.name) end
        e.calls[i] = refs
      end
      r.layers[#r.layers + 1] = e
    end
  end
  r.input_refs = ref_list(where, cfg.input_layers, 'input layers')
  for _, ref in ipairs(r.input_refs) do
    local shape = is_input[ref.layer]
    if not shape then util.fail(where, "the model's input '%s' is not an InputLayer", ref.layer) end
    r.inputs[#r.inputs + 1] = { name = ref.layer, shape = shape }
  end
  r.outputs = ref_list(where, cfg.output_layers, 'output layers')
  return r
end

-- The plain form of a decoded model configuration {class_name, config}.
function M.parse(where, model)
  if type(model) ~= 'table' or type(model.class_name) ~= 'string' then
    util.fail(where, 'the model configuration is not a Keras model (no class_name)')
  end
  local cfg = model.config
  if type(cfg) ~= 'table' then util.fail(where, 'the model configuration has no config') end
  if model.class_name == 'Sequential' then return sequential(where, cfg) end
  if model.class_name == 'Functional' or model.class_name == 'Model' then return functional(where, cfg) end
  util.fail(where, "the model is a '%s', not a Sequential or Functional model: a subclassed model's structure is "
    .. 'Python code, which cnnc cannot read', model.class_name)
end

return M
