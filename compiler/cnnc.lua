-- cnnc: the model language (what `require 'cnnc'` gives a model file or a script).
--
-- Every layer class of cnnc.registry becomes a constructor, nn.Conv2D{...}, that checks its
-- arguments at once, so a mistake is reported at the line that made it. nn.Sequential
-- collects layers into a model; nn.Input, calling a layer on tensors and nn.Model are
-- Keras's Functional API (cnnc.functional); nn.kernels holds hand-designed kernels.
-- Nothing here compiles anything: cnnc.driver turns a model into C.

local args = require 'cnnc.args'
local functional = require 'cnnc.functional'
local registry = require 'cnnc.registry'
local util = require 'cnnc.util'

local nn = { _VERSION = 'cnnc 0.1' }

local Layer = {}
Layer.__index = Layer
nn.Layer = Layer

local caller_location = util.caller_location

-- The Functional API: layer(x) or layer{a, b} applies the layer to tensors.
Layer.__call = function(layer, x) return functional.call(layer, x, caller_location()) end

-- Kinds marked internal (ONNX operators without a Keras layer) are the importer's only.
for _, kind in ipairs(registry.public_names) do
  local entry = registry.kinds[kind]
  nn[kind] = function(given)
    local where = caller_location()
    local p = args.parse(kind, entry.spec.args, given, entry.spec.rank, where)
    return setmetatable({ kind = kind, p = p, where = where }, Layer)
  end
end

local Sequential = {}
Sequential.__index = Sequential
nn.SequentialModel = Sequential

local MODEL_ARGS = { name = 'string', input_shape = 'shape', seed = 'int', layers = 'table' }

function nn.Sequential(opts)
  local where = caller_location()
  opts = opts or {}
  if type(opts) ~= 'table' then util.fail(where, 'Sequential expects a table of options, got %s', type(opts)) end
  for k, v in pairs(opts) do
    local want = MODEL_ARGS[k]
    if not want then
      util.fail(where, "Sequential has no option '%s' (valid: input_shape, layers, name, seed)", tostring(k))
    end
    local ok = (want == 'string' and type(v) == 'string')
      or (want == 'int' and type(v) == 'number' and v == math.floor(v) and v >= 0)
      or (want == 'table' and type(v) == 'table')
      or (want == 'shape' and args.CHECK.shape(v) ~= nil)
    if not ok then
      util.fail(where, "Sequential option '%s' must be %s, got %s", k,
        want == 'shape' and 'a list of positive integers' or (want == 'int' and 'a non-negative integer' or 'a ' .. want),
        args.describe(v))
    end
  end
  if opts.name and not opts.name:match('^[%a_][%w_]*$') then
    util.fail(where, "model name '%s' must be a C identifier (letters, digits, underscores)", opts.name)
  end
  local m = setmetatable({ name = opts.name, input_shape = opts.input_shape, seed = opts.seed or 0,
    layers = {}, where = where }, Sequential)
  for _, l in ipairs(opts.layers or {}) do m:add(l) end
  return m
end

function Sequential:add(layer)
  if getmetatable(layer) ~= Layer then
    util.fail(caller_location(), 'Sequential:add expects a layer such as nn.Dense{10}, got %s',
      args.describe(layer))
  end
  self.layers[#self.layers + 1] = layer
  return self
end

function nn.Input(opts) return functional.Input(opts, caller_location()) end
function nn.Model(opts) return functional.new(opts, caller_location()) end
nn.FunctionalModel = functional.Model

function nn.is_model(m) return getmetatable(m) == Sequential or functional.is_model(m) end

nn.kernels = require 'cnnc.kernels'

-- The experiments API (cnnc.load, model:compile, tensors, file formats): cnnc.api.
require('cnnc.api').attach(nn, Sequential, functional.Model)

-- A misspelt layer is the most common mistake in a model file: name it and suggest.
setmetatable(nn, { __index = function(_, key)
  local hint = ''
  for _, kind in ipairs(registry.public_names) do
    if type(key) == 'string' and kind:lower() == key:lower() then hint = ' (did you mean nn.' .. kind .. '?)' end
  end
  util.fail(caller_location(), "cnnc has no layer or function nn.%s%s; layers: %s", tostring(key), hint,
    table.concat(registry.public_names, ', '))
end })

return nn
