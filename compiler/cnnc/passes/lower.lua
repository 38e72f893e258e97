-- cnnc.passes.lower: layers that are compositions of other layers become those layers.
--
-- A layer module with a `lower(node, make)` hook (SeparableConv2D: a depthwise then a
-- pointwise convolution; DepthwiseConv2D: a grouped convolution; Normalization: a Subtract
-- and a Divide; a Dense on the last axis of a tensor: a 1x1 convolution; a hook that makes
-- no part keeps the node) keeps its own shape rule, weights and reference semantics, so the typed
-- graph, `cnnc summary` and the reference interpreter see the layer as written; this pass,
-- run on every compile between the shape and fuse passes, replaces it with nodes of the
-- layers it is made of, which then get their fusions and their SIMD kernels. `make`
-- builds one such node: its shape comes from its own module (which must agree with what
-- the composite promised), its weights are the composite's tensors, viewed in the
-- shapes the part needs (same values, same memory order). The last part takes the
-- composite's name, so its readers and the model's outputs need no rewiring, and its
-- epilogue (the composite's activation).

local ir = require 'cnnc.ir'
local registry = require 'cnnc.registry'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

-- t's values under another shape of as many elements.
function M.view(t, shape)
  assert(util.prod(shape) == t.n, 'cnnc: a lowered weight view changes the element count')
  if util.shape_eq(shape, t.shape) then return t end
  return setmetatable({ shape = util.copy(shape), n = t.n, data = t.data, ctype = t.ctype, base = t }, tensor.Tensor)
end

-- Builds the part `spec` of composite node `parent`: spec = {kind, p (normalised
-- arguments, as cnnc.args gives), inputs (value names), name, weights = {name -> tensor},
-- fields = {extra node fields}}. shapes: value name -> shape so far.
local function make_node(parent, spec, shapes, taken)
  local entry = assert(registry.kinds[spec.kind], spec.kind)
  local name = spec.name
  if name ~= parent.name then
    -- a free name, also as a C identifier (the part's C function is named after it)
    local base, k = name, 0
    while taken[name] or taken[util.c_ident(name)] do
      k = k + 1
      name = base .. '_' .. k
    end
    taken[name], taken[util.c_ident(name)] = true, true
  end
  local n = { name = name, op = spec.kind, layer = entry.module, rank = entry.spec.rank, p = spec.p,
    inputs = spec.inputs, where = parent.where, index = parent.index, epilogue = {}, fused = {},
    lowered_from = parent.name }
  for k, v in pairs(spec.fields or {}) do n[k] = v end
  n.in_shapes = {}
  for i, v in ipairs(n.inputs) do n.in_shapes[i] = assert(shapes[v], v) end
  n.in_shape = n.in_shapes[1]
  n.shape = entry.module.shape(n, n.in_shape)
  n.weights = {}
  -- weight_keys: a part weight -> the composite's weight it views ({key = 'layer.weight',
  -- shape}), the name and shape its gradient has (cnnc.backward.weight_key)
  n.weight_keys = {}
  if entry.module.weights then
    for _, w in ipairs(entry.module.weights(n, n.in_shape)) do
      local t = assert(spec.weights and spec.weights[w.name], 'cnnc: lowered part lacks weight ' .. w.name)
      n.weights[#n.weights + 1] = { name = w.name, tensor = M.view(t, w.shape) }
      for _, pw in ipairs(parent.weights or {}) do
        if pw.tensor == t then n.weight_keys[w.name] = { key = parent.name .. '.' .. pw.name, shape = pw.tensor.shape } end
      end
    end
  end
  if entry.module.bind then entry.module.bind(n) end
  shapes[n.name] = n.shape
  return n
end

-- Returns g itself when no layer is lowered (so --no-fuse leaves the typed graph as it is).
function M.run(g)
  if not (function()
    for _, n in ipairs(g.nodes) do if n.layer.lower then return true end end
  end)() then return g end
  local original = g
  local changed = false
  g = ir.clone(g)
  local shapes, taken = {}, {}
  for _, v in ipairs(ir.inputs(g)) do
    shapes[v.name] = v.shape
    taken[v.name], taken[util.c_ident(v.name)] = true, true
  end
  for _, n in ipairs(g.nodes) do taken[n.name], taken[util.c_ident(n.name)] = true, true end
  local nodes = {}
  for _, n in ipairs(g.nodes) do
    local parts = {}
    if n.layer.lower then
      n.layer.lower(n, function(spec)
        local m = make_node(n, spec, shapes, taken)
        parts[#parts + 1] = m
        return m.name
      end)
    end
    if #parts > 0 then
      changed = true
      local last = parts[#parts]
      assert(last.name == n.name, 'cnnc: the last part of a lowered layer must take its name')
      assert(util.shape_eq(last.shape, n.shape), 'cnnc: lowering changed a shape')
      -- the epilogue on the last part that computes (a view after it changes no value)
      local at = #parts
      while at > 1 and parts[at].layer.alias do at = at - 1 end
      assert(not parts[at].layer.alias or #n.epilogue == 0, 'cnnc: no part of a lowered layer takes its epilogue')
      for _, st in ipairs(n.epilogue) do parts[at].epilogue[#parts[at].epilogue + 1] = st end
      for _, f in ipairs(n.fused) do last.fused[#last.fused + 1] = f end
      for _, m in ipairs(parts) do nodes[#nodes + 1] = m end
    else
      nodes[#nodes + 1] = n
      shapes[n.name] = n.shape
    end
  end
  if not changed then return original end
  g.nodes = nodes
  return g
end

return M
