-- cnnc.keras.importer: Keras model files become models of the Lua model language.
--
-- Reads the three ways Keras saves a model: a Keras 2 HDF5 file (model.save('m.h5'):
-- the configuration in the root attribute model_config, the weights under
-- model_weights/<layer>/ listed by the layer_names and weight_names attributes), a Keras 3
-- .keras file (a zip of config.json, metadata.json and model.weights.h5, each layer's
-- weights under layers/<class>/vars/0, 1, ...), and a configuration alone
-- (model.to_json()) whose weights come from a separate file (Keras 2 save_weights .h5,
-- Keras 3 .weights.h5, or a whole .h5 or .keras model). HDF5 goes through libhdf5
-- (cnnc.keras.hdf5), zips through cnnc's inflater (cnnc.keras.zip).
--
-- The configuration (cnnc.keras.config) is replayed as Functional API calls: every Keras
-- layer becomes the layer object of the same kind the Lua language makes
-- (cnnc.keras.layers says how its options map), called on its inputs, so the imported
-- model is an nn.Model and follows the Lua model's path through the compiler: no second
-- pipeline. Its weights come from a provider keyed by layer and weight name. Layers cnnc
-- cannot import (Lambda, custom classes, unsupported options) are refused all at once,
-- each with its name, class and reason; missing weights likewise.

local config = require 'cnnc.keras.config'
local functional = require 'cnnc.functional'
local json = require 'cnnc.keras.json'
local klayers = require 'cnnc.keras.layers'
local registry = require 'cnnc.registry'
local args = require 'cnnc.args'
local util = require 'cnnc.util'

local M = {}

M.HDF5_MAGIC = '\137HDF\r\n\26\n'

-- What a file holds, from its first bytes: 'hdf5', 'zip', 'json' or nil.
function M.sniff(bytes)
  if not bytes then return nil end
  for _, off in ipairs({ 0, 512, 1024, 2048 }) do
    if bytes:sub(off + 1, off + 8) == M.HDF5_MAGIC then return 'hdf5' end
  end
  if bytes:sub(1, 4) == 'PK\3\4' or bytes:sub(1, 4) == 'PK\5\6' then return 'zip' end
  if bytes:match('^%s*{') then return 'json' end
end

local function read_all(path)
  local s, err = util.read_file(path)
  if not s then util.fail({ file = path }, 'cannot read it: %s', tostring(err)) end
  return s
end

local function decode(path, what, text)
  local v, err = json.decode(text)
  if v == nil then util.fail({ file = path }, '%s is not valid JSON (%s)', what, err) end
  return v
end

-- An attribute Keras may have split into name0, name1, ... (HDF5's 64 KB header limit).
local function chunked_attr(f, obj, name)
  local v = f:attr(obj, name)
  if v then return type(v) == 'table' and v or { v } end
  local t, k = {}, 0
  while true do
    local part = f:attr(obj, name .. k)
    if not part then break end
    for _, s in ipairs(type(part) == 'table' and part or { part }) do t[#t + 1] = s end
    k = k + 1
  end
  return k > 0 and t or nil
end

-- Weight readers: function(layer entry) -> list of {tensor, label} or nil (no group).
local function legacy_reader(f, root)
  return function(layer)
    local g = (root == '/' and '' or root) .. '/' .. layer.name
    if f:kind(g) ~= 'group' then return nil end
    local names = chunked_attr(f, g, 'weight_names') or {}
    local list = {}
    for i, n in ipairs(names) do
      local p = g .. '/' .. n
      list[i] = { tensor = f:tensor(p), label = string.format('%s:%s', f.path, p) }
    end
    return list
  end
end

-- Keras 3: layers/<snake_case class>[_k]/vars/<i>, numbered per class in layer order.
local function v3_reader(f, desc)
  local path_of, counts = {}, {}
  local legacy = f:kind('/layers') ~= 'group' and f:kind('/_layer_checkpoint_dependencies') == 'group'
  for _, l in ipairs(desc.all) do
    local base = util.snake(l.class)
    local c = counts[base]
    counts[base] = (c or -1) + 1
    path_of[l] = legacy and ('/_layer_checkpoint_dependencies/' .. l.name) or ('/layers/' .. base .. (c and ('_' .. (c + 1)) or ''))
  end
  return function(layer)
    local g = path_of[layer] .. '/vars'
    if f:kind(g) ~= 'group' then return nil end
    local names = f:members(g)
    table.sort(names, function(a, b) return (tonumber(a) or 1e9) < (tonumber(b) or 1e9) end)
    local list = {}
    for i, n in ipairs(names) do
      list[i] = { tensor = f:tensor(g .. '/' .. n), label = string.format('%s:%s/%s', f.path, g, n) }
    end
    return list
  end
end

-- The weight reader of an opened HDF5 weights file of any of Keras's layouts.
local function reader_for(f, desc, what)
  if f:kind('/model_weights') == 'group' then return legacy_reader(f, '/model_weights') end
  if f:kind('/layers') == 'group' or f:kind('/_layer_checkpoint_dependencies') == 'group' or f:kind('/vars') == 'group' then
    return v3_reader(f, desc)
  end
  if chunked_attr(f, '/', 'layer_names') then return legacy_reader(f, '/') end
  util.fail({ file = f.path }, '%s holds no Keras weights (no model_weights, layers or layer_names)', what)
end

local function open_hdf5(path, bytes)
  return require('cnnc.keras.hdf5').open(path, bytes and { bytes = bytes } or nil)
end

-- A weights file for a configuration: .h5 of any Keras layout, or a .keras archive.
local function weights_reader(path, desc)
  local bytes = read_all(path)
  local kind = M.sniff(bytes)
  if kind == 'zip' then
    local archive = require('cnnc.keras.zip').open(path, bytes)
    local f = open_hdf5(path .. ':model.weights.h5', archive:read('model.weights.h5'))
    return reader_for(f, desc, 'model.weights.h5'), f
  end
  if kind ~= 'hdf5' then
    util.fail({ file = path }, 'is not a Keras weights file (expected HDF5, as model.save_weights writes, or a .keras file)')
  end
  bytes = nil
  local f = open_hdf5(path)
  return reader_for(f, desc, 'the file'), f
end

-- The model's configuration and weights: {config = decoded, keras3 = bool, reader, file}.
local function read_source(path)
  local bytes = read_all(path)
  local kind = M.sniff(bytes)
  if kind == 'hdf5' then
    bytes = nil
    local f = open_hdf5(path)
    local text = f:attr('/', 'model_config')
    if not text then
      f:close()
      util.fail({ file = path }, "holds Keras weights only (no model_config): give the model's JSON configuration "
        .. '(model.to_json()) as the model and this file with --weights')
    end
    local version = f:attr('/', 'keras_version') or ''
    return { config = decode(path, 'model_config', text), keras3 = version:match('^3') ~= nil,
      open_reader = function(desc) return reader_for(f, desc, 'the file'), f end, format = 'Keras HDF5 (.h5)',
      keras_version = version }
  elseif kind == 'zip' then
    local archive = require('cnnc.keras.zip').open(path, bytes)
    bytes = nil
    for _, n in ipairs({ 'config.json', 'model.weights.h5' }) do
      if not archive:has(n) then util.fail({ file = path }, 'is a zip without %s: not a Keras 3 .keras file', n) end
    end
    local meta = archive:has('metadata.json') and decode(path, 'metadata.json', archive:read('metadata.json', 2 ^ 20)) or {}
    local cfg = decode(path, 'config.json', archive:read('config.json', 2 ^ 26))
    return { config = cfg, keras3 = true, format = 'Keras 3 (.keras)',
      keras_version = type(meta) == 'table' and type(meta.keras_version) == 'string' and meta.keras_version or '3',
      open_reader = function(desc)
        local f = open_hdf5(path .. ':model.weights.h5', archive:read('model.weights.h5'))
        return reader_for(f, desc, 'model.weights.h5'), f
      end }
  elseif kind == 'json' then
    local cfg = decode(path, 'the file', bytes)
    local version = type(cfg) == 'table' and type(cfg.keras_version) == 'string' and cfg.keras_version or ''
    return { config = cfg, keras3 = version:match('^3') ~= nil or (type(cfg) == 'table' and cfg.module ~= nil),
      format = 'Keras JSON configuration', keras_version = version }
  end
  util.fail({ file = path }, 'is not a Keras model file (not HDF5, a .keras zip or JSON)')
end

-- Every layer mapped; all refusals in one error.
local function map_layers(path, desc, keras3)
  local problems = {}
  for k, l in ipairs(desc.layers) do
    local custom = l.registered_name and not json.is_null(l.registered_name) and type(l.module) == 'string'
      and not l.module:match('^keras[%.%a_]*$')
    local m, why
    if custom then why = string.format("a custom class registered as '%s' (its code is Python)", l.registered_name)
    else m, why = klayers.map(l.class, l.config, keras3) end
    if m then l.map = m
    else problems[#problems + 1] = string.format("  layer '%s' (%s): %s", l.name, l.class, why) end
    l.index = k
  end
  if #problems > 0 then
    util.fail({ file = path }, 'the model has %d layer%s cnnc cannot import:\n%s', #problems, #problems == 1 and '' or 's',
      table.concat(problems, '\n'))
  end
end

-- The saved arrays of every layer: weights[layer name][cnnc weight name] = {tensor, label}.
local function collect_weights(path, desc, reader)
  local weights, problems = {}, {}
  for _, l in ipairs(desc.layers) do
    local want = l.map.weights
    local names = {}
    for _, w in ipairs(want) do names[#names + 1] = w or 'a count' end
    local got = reader(l)
    if #want > 0 and not got then
      problems[#problems + 1] = string.format("  layer '%s' (%s): no weights saved (it needs %s)", l.name, l.class,
        table.concat(names, ', '))
    elseif got and #got ~= #want then
      local saved = {}
      for i, g in ipairs(got) do saved[i] = g.label:match('([^/]+/[^/]+)$') or g.label end
      problems[#problems + 1] = string.format("  layer '%s' (%s): %d weight%s saved%s, it needs %d%s", l.name, l.class,
        #got, #got == 1 and '' or 's', #saved > 0 and (' (' .. table.concat(saved, ', ') .. ')') or '', #want,
        #names > 0 and (' (' .. table.concat(names, ', ') .. ')') or '')
    elseif got then
      weights[l.name] = {}
      for i, w in ipairs(want) do
        if w then weights[l.name][w] = got[i] end
      end
    end
  end
  if #problems > 0 then
    util.fail({ file = path }, 'the weights do not match the model:\n%s', table.concat(problems, '\n'))
  end
  return weights
end

-- Input names must be C identifiers in the language; Keras's are nearly always.
local function sanitize_input(name)
  local s = name:gsub('[^%w_]', '_')
  if not s:match('^[%a_]') then s = 'input_' .. s end
  return s
end

-- Replays the configuration as Functional API calls; returns the nn.Model.
local function build(path, desc, name)
  local nn = require 'cnnc'
  local file = { file = path }
  local outputs_of = {} -- layer name -> list (0-based node) of output tensors
  for _, v in ipairs(desc.inputs) do
    local t = functional.Input({ shape = v.shape, name = sanitize_input(v.name) }, file)
    outputs_of[v.name] = { [0] = t }
  end
  local function resolve(ref)
    local list = outputs_of[ref.layer]
    return list and ref.tensor == 0 and list[ref.node] or nil
  end
  local layer_obj, extra = {}, {}
  for _, l in ipairs(desc.layers) do
    local where = { file = path, name = l.name, op = l.class, index = l.index }
    local entry = registry.kinds[l.map.kind]
    local given = util.copy(l.map.given)
    given.name = l.name
    local ok, p = pcall(args.parse, l.map.kind, entry.spec.args, given, entry.spec.rank, where)
    if not ok then
      if util.is_error(p) then
        util.fail(where, 'cannot import its configuration: %s', p.message)
      end
      error(p, 0)
    end
    layer_obj[l] = setmetatable({ kind = l.map.kind, p = p, where = where }, nn.Layer)
    if l.map.after then
      local a = l.map.after
      local ae = registry.kinds[a.kind]
      local ag = util.copy(a.given)
      ag.name = l.name .. '_activation'
      extra[l] = setmetatable({ kind = a.kind, p = args.parse(a.kind, ae.spec.args, ag, ae.spec.rank, where), where = where },
        nn.Layer)
    end
  end
  -- Calls in the order Keras makes them: a call waits until its inputs exist.
  local pending = {}
  for _, l in ipairs(desc.layers) do pending[l] = 1; outputs_of[l.name] = outputs_of[l.name] or {} end
  local progress = true
  while progress do
    progress = false
    for _, l in ipairs(desc.layers) do
      while l.calls[pending[l]] do
        local ins = {}
        for i, ref in ipairs(l.calls[pending[l]]) do
          ins[i] = resolve(ref)
          if not ins[i] then ins = nil; break end
        end
        if not ins then break end
        local where = { file = path, name = l.name, op = l.class, index = l.index }
        local y = functional.call(layer_obj[l], #ins == 1 and ins[1] or ins, where)
        if extra[l] then y = functional.call(extra[l], y, where) end
        local list = outputs_of[l.name]
        list[pending[l] - 1] = y
        pending[l] = pending[l] + 1
        progress = true
      end
    end
  end
  for _, l in ipairs(desc.layers) do
    if l.calls[pending[l]] then
      local r = l.calls[pending[l]][1]
      util.fail({ file = path, name = l.name, op = l.class }, "its input '%s' (call %d, output %d) is never computed",
        r.layer, r.node, r.tensor)
    end
  end
  local ins, outs = {}, {}
  for i, v in ipairs(desc.inputs) do ins[i] = outputs_of[v.name][0] end
  for i, ref in ipairs(desc.outputs) do
    outs[i] = resolve(ref) or util.fail(file, "the model's output '%s' (call %d, output %d) is never computed", ref.layer,
      ref.node, ref.tensor)
  end
  return functional.new({ inputs = ins, outputs = outs, name = name }, file)
end

-- A C identifier from a file name.
local function model_name(path)
  local base = path:match('([^/\\]+)$'):gsub('%.[^.]*$', ''):gsub('%.weights$', '')
  local s = base:gsub('[^%w_]', '_')
  if s == '' or s:match('^%d') then s = 'model_' .. s end
  return s
end

local function provider_of(weights)
  return function(layer, wname)
    local w = weights[layer] and weights[layer][wname]
    if not w then return nil, string.format('the file has no %s for layer %s', wname, layer) end
    return w.tensor, w.label
  end
end

-- Imports the Keras model at path. Returns an nn.Model with fields `provider` (its weights;
-- nil for a configuration alone) and `keras` = {format, version, desc, load_weights(file)}.
function M.import(path)
  local src = read_source(path)
  local desc = config.parse({ file = path }, src.config)
  map_layers(path, desc, src.keras3)
  local model = build(path, desc, model_name(path))
  local function attach(reader, f)
    local ok, w = pcall(collect_weights, path, desc, reader)
    if f then f:close() end
    if not ok then error(w, 0) end
    return provider_of(w)
  end
  if src.open_reader then
    model.provider = attach(src.open_reader(desc))
  end
  model.keras = { format = src.format, version = src.keras_version, desc = desc,
    load_weights = function(wpath) return attach(weights_reader(wpath, desc)) end }
  return model
end

return M
