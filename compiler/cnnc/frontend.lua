-- cnnc.frontend: a model built with the Lua model language becomes a graph (cnnc.ir).
--
-- Gives every layer its Keras-style name (conv2d, conv2d_1, ...) unless named, checks
-- names are unique, and wires a Sequential model into a chain. Shapes are not looked at
-- here (cnnc.passes.shape does that).

local ir = require 'cnnc.ir'
local registry = require 'cnnc.registry'
local util = require 'cnnc.util'

local M = {}

M.INPUT = 'input'

function M.from_model(model, name_override)
  local nn = require 'cnnc'
  if not nn.is_model(model) then
    util.fail(nil, 'the model file must return a model (nn.Sequential{...}), got %s', type(model))
  end
  local layers = model.layers
  if #layers == 0 then util.fail(model.where, 'the model has no layers') end
  local input_shape = model.input_shape or layers[1].p.input_shape
  if not input_shape then
    util.fail(model.where, 'the model has no input shape: give Sequential{input_shape = {H, W, C}} or input_shape= on the first layer')
  end
  local name = name_override or model.name or 'model'
  if not name:match('^[%a_][%w_]*$') then
    util.fail(model.where, "model name '%s' must be a C identifier (letters, digits, underscores)", name)
  end
  local g = ir.new(name, M.INPUT, util.copy(input_shape))
  g.seed = model.seed
  g.source = model.where and model.where.file
  local counts, taken, c_names = {}, { [M.INPUT] = true }, {}
  for i, l in ipairs(layers) do
    local entry = registry.kinds[l.kind]
    local lname = l.p.name
    if not lname then
      local base = util.snake(l.kind)
      repeat
        local c = counts[base] or 0
        counts[base] = c + 1
        lname = c == 0 and base or (base .. '_' .. c)
      until not taken[lname]
    end
    if taken[lname] then
      local what = lname == M.INPUT and "is reserved for the model's input" or 'is used by another layer'
      util.fail({ where = l.where, name = lname, index = i, op = l.kind }, "the name '%s' %s", lname, what)
    end
    taken[lname] = true
    local cid = util.c_ident(lname)
    if c_names[cid] and c_names[cid] ~= lname then
      util.fail({ where = l.where, name = lname, index = i, op = l.kind },
        "the names '%s' and '%s' both become the C identifier '%s'; rename one", c_names[cid], lname, cid)
    end
    c_names[cid] = lname
    if i > 1 and l.p.input_shape then
      util.fail({ where = l.where, name = lname, index = i, op = l.kind },
        'input_shape is only allowed on the first layer')
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
