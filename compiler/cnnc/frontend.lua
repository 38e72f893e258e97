-- cnnc.frontend: a model built with the Lua model language becomes a graph (cnnc.ir).
--
-- Gives every layer its Keras-style name (conv2d, conv2d_1, ...) unless named, checks
-- names are unique, and wires a Sequential model into a chain, or a Functional model
-- (cnnc.functional) into the graph of its layer calls: walking back from the outputs,
-- every call reached is a node, in the order the calls were made, and its inputs are the
-- nodes (or model inputs) it was called on. A layer called again becomes another node that
-- shares the first call's weights (node.shares). Shapes are not looked at here
-- (cnnc.passes.shape does that).

local ir = require 'cnnc.ir'
local registry = require 'cnnc.registry'
local util = require 'cnnc.util'

local M = {}

M.INPUT = 'input'

-- Names layers and checks them: `name_of(layer, kind, node_info)` gives each layer its
-- given name or the next free Keras-style one; names must be unique and distinct as C
-- identifiers.
local function namer()
  local counts, taken, c_names = {}, { [M.INPUT] = true }, {}
  local function claim(lname, info)
    if taken[lname] then
      local what = lname == M.INPUT and "is reserved for the model's input" or 'is used by another layer'
      util.fail(info, "the name '%s' %s", lname, what)
    end
    taken[lname] = true
    local cid = util.c_ident(lname)
    if c_names[cid] and c_names[cid] ~= lname then
      util.fail(info, "the names '%s' and '%s' both become the C identifier '%s'; rename one", c_names[cid], lname, cid)
    end
    c_names[cid] = lname
    return lname
  end
  local function auto(base)
    local lname
    repeat
      local c = counts[base] or 0
      counts[base] = c + 1
      lname = c == 0 and base or (base .. '_' .. c)
    until not taken[lname]
    return lname
  end
  return claim, auto, taken
end

local function check_name(model, name)
  if not name:match('^[%a_][%w_]*$') then
    util.fail(model.where, "model name '%s' must be a C identifier (letters, digits, underscores)", name)
  end
end

-- A Functional model (cnnc.functional) as a graph.
local function from_functional(model, name_override)
  local name = name_override or model.name or 'model'
  check_name(model, name)
  -- Every tensor the outputs depend on.
  local reached, stack = {}, {}
  for i, t in ipairs(model.outputs) do stack[i] = t end
  while #stack > 0 do
    local t = table.remove(stack)
    if not reached[t] then
      reached[t] = true
      for _, x in ipairs(t.inputs or {}) do stack[#stack + 1] = x end
    end
  end
  local listed = {}
  for _, t in ipairs(model.inputs) do
    if listed[t] then util.fail(model.where, 'Model inputs list the same nn.Input twice') end
    listed[t] = true
    if not reached[t] then
      util.fail(t.where, "this nn.Input is one of the Model's inputs, but no output depends on it")
    end
  end
  local calls = {}
  for t in pairs(reached) do
    if t.input and not listed[t] then
      util.fail(t.where, "the Model's outputs depend on this nn.Input, which is not in its inputs")
    end
    if not t.input then calls[#calls + 1] = t end
  end
  table.sort(calls, function(a, b) return a.id < b.id end)
  local claim, auto = namer()
  local inputs, value = {}, {}
  for i, t in ipairs(model.inputs) do
    local iname = t.input.name or (#model.inputs == 1 and M.INPUT or auto('input'))
    if t.input.name and not (iname == M.INPUT and #model.inputs == 1) then claim(iname, { where = t.where }) end
    inputs[i] = { name = iname, shape = util.copy(t.input.shape), label = iname }
    value[t] = iname
  end
  local g = ir.new(name, inputs[1].name, inputs[1].shape)
  g.seed = model.seed
  g.source = model.where and model.where.file
  g.functional = true
  -- Layers take their names in the order of their first calls.
  local lname_of, first_node = {}, {}
  for i, t in ipairs(calls) do
    local l = t.layer
    local info = { where = t.where, index = i, op = l.kind }
    if not lname_of[l] then
      lname_of[l] = l.p.name or auto(util.snake(l.kind))
      info.name = lname_of[l]
      claim(lname_of[l], info)
      if l.p.input_shape then
        util.fail(info, 'input_shape is for Sequential models; a Functional model gets its shapes from nn.Input')
      end
    end
    local nname = lname_of[l]
    if first_node[l] then
      nname = lname_of[l] .. '_call' .. t.call
      info.name = nname
      claim(nname, info)
    end
    local ins = {}
    for k, x in ipairs(t.inputs) do ins[k] = value[x] end
    local entry = registry.kinds[l.kind]
    g.nodes[i] = {
      name = nname, op = l.kind, layer = entry.module, rank = entry.spec.rank, p = l.p, inputs = ins,
      where = t.where, index = i, epilogue = {}, fused = {}, shares = first_node[l],
    }
    first_node[l] = first_node[l] or nname
    value[t] = nname
  end
  local outputs = {}
  for k, t in ipairs(model.outputs) do
    if t.input then util.fail(model.where, 'Model outputs[%d] is an nn.Input: an output must be computed by a layer', k) end
    outputs[k] = { name = value[t] }
  end
  g.output = outputs[1].name
  if #inputs ~= 1 or #outputs ~= 1 then
    g.inputs, g.outputs = inputs, outputs
  end
  return g
end

function M.from_model(model, name_override)
  local nn = require 'cnnc'
  if not nn.is_model(model) then
    util.fail(nil, 'the model file must return a model (nn.Sequential{...} or nn.Model{...}), got %s', type(model))
  end
  if model.functional then return from_functional(model, name_override) end
  local layers = model.layers
  if #layers == 0 then util.fail(model.where, 'the model has no layers') end
  local input_shape = model.input_shape or layers[1].p.input_shape
  if not input_shape then
    util.fail(model.where, 'the model has no input shape: give Sequential{input_shape = {H, W, C}} or input_shape= on the first layer')
  end
  local name = name_override or model.name or 'model'
  check_name(model, name)
  local g = ir.new(name, M.INPUT, util.copy(input_shape))
  g.seed = model.seed
  g.source = model.where and model.where.file
  local claim, auto = namer()
  for i, l in ipairs(layers) do
    local entry = registry.kinds[l.kind]
    local lname = l.p.name or auto(util.snake(l.kind))
    local info = { where = l.where, name = lname, index = i, op = l.kind }
    claim(lname, info)
    if i > 1 and l.p.input_shape then
      util.fail(info, 'input_shape is only allowed on the first layer')
    end
    g.nodes[i] = {
      name = lname, op = l.kind, layer = entry.module, rank = entry.spec.rank, p = l.p,
      inputs = { i == 1 and M.INPUT or g.nodes[i - 1].name }, where = l.where, index = i,
      epilogue = {}, fused = {},
    }
  end
  g.output = g.nodes[#g.nodes].name
  return g
end

return M
