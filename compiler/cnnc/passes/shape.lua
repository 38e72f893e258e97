-- cnnc.passes.shape: infers every value's shape and binds every weight.
--
-- Walks the graph in order, asks each layer module for its output shape and its weight
-- list, and gives every weight its values: a value set from a script (model:set_weight)
-- first, then explicit values in the model file, then the weight provider (files from
-- `--weights DIR`, or an imported file's weights, supplied by the driver), then the
-- layer's seeded initializer. A node calling a shared layer again (node.shares, the
-- Functional API) takes the very tensors of the layer's first call. Shape and weight
-- errors name the layer and the shapes. The layer's `activation=` becomes the first step
-- of its epilogue.

local epilogue = require 'cnnc.epilogue'
local initializers = require 'cnnc.initializers'
local ir = require 'cnnc.ir'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

-- The largest tensor, activation or weight, cnnc compiles: 2^28 float32 values (1 GiB).
-- Larger ones are a slip (a misplaced zero in a size), not a network (VGG16 has 138 M
-- weights, 103 M in its largest); the compiler would otherwise try to allocate and initialise
-- them, and the generated C indexes tensors with int.
M.MAX_ELEMENTS = 2 ^ 28
-- The most weights in one model: 2^30 float32 values (4 GiB). The largest networks have
-- over 2^29 (torchvision's regnet_y_128gf 645 M, vit_h_14 633 M); a weight blob of up to
-- 2^30 floats keeps every array's offset in it an int.
M.MAX_WEIGHTS = 2 ^ 30

local function check_size(node, what, shape)
  local n = util.prod(shape)
  if n > M.MAX_ELEMENTS then
    util.fail(node, '%s %s has %.0f values, more than cnnc supports (2^28 = %d)', what, util.shape_str(shape), n,
      M.MAX_ELEMENTS)
  end
end

-- Arguments that carry explicit weight values.
local WEIGHT_ARGS = { 'kernel', 'bias', 'gamma', 'beta', 'moving_mean', 'moving_variance' }

local function bind_weight(g, node, spec, provider, overrides)
  local t, err
  local literal = node.p[spec.name]
  local set = overrides and overrides[node.name .. '\0' .. spec.name]
  if set then
    if not util.shape_eq(set.shape, spec.shape) then
      util.fail(node, 'the value set for %s has shape %s but this layer needs %s (%s, Keras layout)', spec.name,
        util.shape_str(set.shape), util.shape_str(spec.shape), spec.layout or spec.name)
    end
    t = set
  elseif literal ~= nil then
    t, err = tensor.from_table(literal, spec.shape, spec.name)
    if not t then util.fail(node, 'explicit %s: %s', spec.name, err) end
  elseif provider then
    t, err = provider(node.name, spec.name)
    if not t then util.fail(node, '%s', err) end
    if not util.shape_eq(t.shape, spec.shape) then
      util.fail(node, '%s has shape %s but this layer needs %s (%s, Keras layout)',
        err or (node.name .. '.' .. spec.name), util.shape_str(t.shape), util.shape_str(spec.shape),
        spec.layout or spec.name)
    end
  else
    t = tensor.new(spec.shape)
    initializers.fill(t, spec.init, g.seed or 0, node.index or 0, spec.name, spec.fans)
  end
  local bad = t:find_nonfinite()
  if bad then
    util.fail(node, '%s holds a non-finite value (%s) at flat index %d', spec.name, tostring(t.data[bad]), bad)
  end
  return t
end

-- The weights of a second call of a shared layer: the first call's tensors, which must
-- have the shapes this call's input needs.
local function shared_weights(node, owner, specs)
  local list = {}
  for _, spec in ipairs(specs) do
    local t = ir.weight(owner, spec.name)
    if not t or not util.shape_eq(t.shape, spec.shape) then
      util.fail(node, "calls the shared layer '%s' on input %s, which needs %s of shape %s, but its first call (input %s) made %s",
        owner.name, util.shape_str(node.in_shape), spec.name, util.shape_str(spec.shape), util.shape_str(owner.in_shape),
        t and util.shape_str(t.shape) or 'none')
    end
    list[#list + 1] = { name = spec.name, tensor = t }
  end
  return list
end

-- provider: optional function(layer_name, weight_name) -> tensor | nil, message.
-- overrides: optional {['layer\0weight'] = tensor}, values set from a script.
function M.run(g, provider, overrides)
  g = ir.clone(g)
  local by_name = {}
  local shapes = {}
  local total_weights = 0
  for _, v in ipairs(ir.inputs(g)) do
    check_size(g.source and { file = g.source } or nil, 'the input shape', v.shape)
    shapes[v.name] = v.shape
  end
  for _, node in ipairs(g.nodes) do
    node.in_shapes = {}
    for i, v in ipairs(node.inputs) do
      node.in_shapes[i] = shapes[v] or util.fail(node, "input '%s' is not defined before this layer", v)
    end
    node.in_shape = node.in_shapes[1]
    local out = node.layer.shape(node, node.in_shape)
    for i = 1, #out do
      if out[i] < 1 then
        util.fail(node, 'output shape %s has an empty dimension (input %s)', util.shape_str(out),
          util.shape_str(node.in_shape))
      end
    end
    check_size(node, 'output shape', out)
    node.shape = out
    shapes[node.name] = out
    by_name[node.name] = node
    node.weights = {}
    local wanted = {}
    if node.shares and node.layer.weights then
      node.weights = shared_weights(node, by_name[node.shares], node.layer.weights(node, node.in_shape))
      for _, w in ipairs(node.weights) do wanted[w.name] = true end
    elseif node.layer.weights then
      for _, spec in ipairs(node.layer.weights(node, node.in_shape)) do
        check_size(node, spec.name .. ' of shape', spec.shape)
        total_weights = total_weights + util.prod(spec.shape)
        if total_weights > M.MAX_WEIGHTS then
          util.fail(node, 'the model holds %.0f weight values up to this layer, more than cnnc supports (2^30 = %d)',
            total_weights, M.MAX_WEIGHTS)
        end
        wanted[spec.name] = true
        node.weights[#node.weights + 1] = { name = spec.name, tensor = bind_weight(g, node, spec, provider, overrides) }
      end
    end
    for _, wname in ipairs(WEIGHT_ARGS) do
      if node.p[wname] ~= nil and not wanted[wname] then
        util.fail(node, "explicit %s given, but this layer has no %s (check use_bias/center/scale)", wname, wname)
      end
    end
    if node.layer.bind then node.layer.bind(node) end
    local act = node.p.activation
    if act and act ~= 'linear' then
      table.insert(node.epilogue, 1, epilogue.act(act))
    end
  end
  return g
end

return M
