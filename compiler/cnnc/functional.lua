-- cnnc.functional: Keras's Functional API in the model language.
--
--   local x = nn.Input{shape = {32, 32, 3}}
--   local y = nn.Conv2D{16, 3, activation = 'relu'}(x)
--   local z = nn.Add{}{x2, y}                       -- a layer of several inputs takes a list
--   return nn.Model{inputs = x, outputs = z, name = 'net'}
--
-- nn.Input gives a symbolic tensor; calling a layer object on tensors gives another, which
-- remembers the layer, its inputs and the line of the call. nn.Model keeps the inputs and
-- outputs; cnnc.frontend walks back from the outputs to build the graph. A layer object
-- called twice is one layer with shared weights, computed once per call. Nothing here knows
-- shapes: a shape error is reported by the shape pass at the line of the call.

local args = require 'cnnc.args'
local util = require 'cnnc.util'

local M = {}

-- A symbolic tensor: {id, where, layer, inputs, call} for a layer's output, {id, where,
-- input = {shape, name}} for a model input. ids grow with every tensor made, so sorting
-- by id puts every tensor after the tensors it is computed from.
local Tensor = {}
Tensor.__index = Tensor
M.Tensor = Tensor
Tensor.__tostring = function(t)
  if t.input then return string.format('<cnnc input %s>', t.input.name or util.shape_str(t.input.shape)) end
  return string.format('<cnnc tensor: output of %s>', t.layer.p.name or t.layer.kind)
end

local next_id = 0
local function new_tensor(fields)
  next_id = next_id + 1
  fields.id = next_id
  return setmetatable(fields, Tensor)
end

function M.is_tensor(t) return getmetatable(t) == Tensor end

local function expect_tensor(v, where, what)
  if not M.is_tensor(v) then
    util.fail(where, '%s must be a model tensor (from nn.Input{...} or a layer call such as nn.Dense{10}(x)), got %s',
      what, args.describe(v))
  end
  return v
end

local INPUT_ARGS = { shape = 'shape', name = 'string', batch_size = 'int', dtype = 'string' }

-- nn.Input{shape = {H, W, C}, name = 'image'}: a model input (no batch dimension, as in
-- Keras; batch_size is accepted and ignored: cnnc compiles one item and runs batches item
-- by item).
function M.Input(opts, where)
  where = where or util.caller_location()
  if type(opts) ~= 'table' then util.fail(where, 'Input expects a table of options, e.g. nn.Input{shape = {28, 28, 1}}, got %s', type(opts)) end
  local shape = opts.shape or opts[1]
  for k, v in pairs(opts) do
    local want = INPUT_ARGS[k]
    if not want and k ~= 1 then
      util.fail(where, "Input has no option '%s' (valid: shape, name, batch_size, dtype)", tostring(k))
    end
    if want == 'string' and type(v) ~= 'string' then util.fail(where, "Input option '%s' must be a string, got %s", k, args.describe(v)) end
    if want == 'int' and not (type(v) == 'number' and v >= 1 and v == math.floor(v)) then
      util.fail(where, "Input option '%s' must be a positive integer, got %s", k, args.describe(v))
    end
  end
  if shape == nil then util.fail(where, 'Input needs shape = {...} (the shape of one item, without the batch dimension)') end
  local s = args.CHECK.shape(shape)
  if not s then util.fail(where, "Input option 'shape' must be a list of positive integers, got %s", args.describe(shape)) end
  if opts.dtype and opts.dtype ~= 'float32' then
    util.fail(where, "Input dtype '%s' is not supported: cnnc models compute float32", opts.dtype)
  end
  if opts.name and not opts.name:match('^[%a_][%w_]*$') then
    util.fail(where, "Input name '%s' must be a C identifier (letters, digits, underscores)", opts.name)
  end
  return new_tensor({ where = where, input = { shape = s, name = opts.name } })
end

-- layer(x) or layer{a, b}: the layer applied to tensors; returns its output tensor.
function M.call(layer, x, where)
  where = where or util.caller_location()
  local inputs
  if M.is_tensor(x) then
    inputs = { x }
  elseif type(x) == 'table' and getmetatable(x) == nil and #x > 0 then
    inputs = {}
    for i = 1, #x do inputs[i] = expect_tensor(x[i], where, string.format('input %d of the %s call', i, layer.kind)) end
    for k in pairs(x) do
      if type(k) ~= 'number' then util.fail(where, '%s called with a table holding a field %s: give a list of tensors', layer.kind, tostring(k)) end
    end
  else
    util.fail(where, '%s must be called on a model tensor or a list of them, e.g. nn.%s{...}(x), got %s', layer.kind,
      layer.kind, args.describe(x))
  end
  layer.calls = (layer.calls or 0) + 1
  return new_tensor({ where = where, layer = layer, inputs = inputs, call = layer.calls })
end

local Model = {}
Model.__index = Model
M.Model = Model

local MODEL_ARGS = { inputs = true, outputs = true, name = true, seed = true }

-- A tensor or a list of them, as a list.
local function tensor_list(v, where, what)
  if M.is_tensor(v) then return { v } end
  if type(v) ~= 'table' or #v == 0 then
    util.fail(where, 'Model %s must be a tensor or a list of tensors, got %s', what, args.describe(v))
  end
  local t = {}
  for i = 1, #v do t[i] = expect_tensor(v[i], where, string.format('Model %s[%d]', what, i)) end
  return t
end

-- nn.Model{inputs = x, outputs = y, name = 'net', seed = 1} (also nn.Model{x, y, ...}).
function M.new(opts, where)
  where = where or util.caller_location()
  if type(opts) ~= 'table' then util.fail(where, 'Model expects a table {inputs = ..., outputs = ...}, got %s', type(opts)) end
  for k in pairs(opts) do
    if not MODEL_ARGS[k] and k ~= 1 and k ~= 2 then
      util.fail(where, "Model has no option '%s' (valid: inputs, outputs, name, seed)", tostring(k))
    end
  end
  local ins, outs = opts.inputs or opts[1], opts.outputs or opts[2]
  if ins == nil then util.fail(where, 'Model needs inputs = (an nn.Input tensor or a list of them)') end
  if outs == nil then util.fail(where, 'Model needs outputs = (a tensor or a list of them)') end
  local inputs, outputs = tensor_list(ins, where, 'inputs'), tensor_list(outs, where, 'outputs')
  for i, t in ipairs(inputs) do
    if not t.input then
      util.fail(where, 'Model inputs[%d] is the output of a layer (called at line %s); inputs must come from nn.Input{...}', i,
        tostring(t.where.line))
    end
  end
  if opts.name ~= nil and (type(opts.name) ~= 'string' or not opts.name:match('^[%a_][%w_]*$')) then
    util.fail(where, "model name %s must be a C identifier (letters, digits, underscores)", args.describe(opts.name))
  end
  local seed = opts.seed or 0
  if type(seed) ~= 'number' or seed < 0 or seed ~= math.floor(seed) then
    util.fail(where, "Model option 'seed' must be a non-negative integer, got %s", args.describe(opts.seed))
  end
  return setmetatable({ inputs = inputs, outputs = outputs, name = opts.name, seed = seed, where = where,
    functional = true }, Model)
end

function M.is_model(m) return getmetatable(m) == Model end

return M
