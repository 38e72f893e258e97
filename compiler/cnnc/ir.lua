-- cnnc.ir: the graph every pass reads and writes.
--
-- A graph is {name, seed, source, input = {name, shape}, nodes = {...}, output = name}.
-- `nodes` is in topological order; a node is
--   {name, op (Keras class name, e.g. 'Conv2D'), layer (its module in cnnc.layers),
--    p (checked arguments), inputs = {value names}, where = {file, line}, index,
--    epilogue = {steps}, fused = {notes}}
-- plus what the shape pass adds: in_shapes, shape, weights = {{name, tensor}, ...}.
-- Values are named by the node producing them; the graph input is a value too. It is a
-- DAG: Sequential models are the common case, not the only one.

local util = require 'cnnc.util'

local M = {}

function M.new(name, input_name, input_shape)
  return { name = name, input = { name = input_name, shape = input_shape }, nodes = {}, output = input_name }
end

-- Copies graph and nodes (not tensors), so a pass can change a graph without touching its
-- argument.
function M.clone(g)
  local c = util.copy(g)
  c.input = util.copy(g.input)
  c.nodes = {}
  for i, n in ipairs(g.nodes) do
    local m = util.copy(n)
    m.inputs = util.copy(n.inputs)
    m.epilogue = util.copy(n.epilogue or {})
    m.fused = util.copy(n.fused or {})
    m.weights = n.weights and util.copy(n.weights)
    m.p = util.copy(n.p)
    c.nodes[i] = m
  end
  return c
end

function M.by_name(g)
  local t = {}
  for _, n in ipairs(g.nodes) do t[n.name] = n end
  return t
end

-- name -> list of consuming nodes (the graph output counts as a consumer named '@output').
function M.consumers(g)
  local t = {}
  for _, n in ipairs(g.nodes) do
    for _, v in ipairs(n.inputs) do
      t[v] = t[v] or {}
      table.insert(t[v], n)
    end
  end
  t[g.output] = t[g.output] or {}
  table.insert(t[g.output], { name = '@output' })
  return t
end

-- Removes node `n`, sending its consumers (and the graph output) to `replacement`.
function M.bypass(g, n, replacement)
  for _, m in ipairs(g.nodes) do
    for i, v in ipairs(m.inputs) do
      if v == n.name then m.inputs[i] = replacement end
    end
  end
  if g.output == n.name then g.output = replacement end
  for i, m in ipairs(g.nodes) do
    if m == n then table.remove(g.nodes, i); break end
  end
end

-- Shape of a value by name.
function M.shape_of(g, name)
  if name == g.input.name then return g.input.shape end
  for _, n in ipairs(g.nodes) do
    if n.name == name then return n.shape end
  end
end

function M.weight(n, name)
  for _, w in ipairs(n.weights or {}) do
    if w.name == name then return w.tensor end
  end
end

-- Replaces the entry (not the table inside it): graphs cloned from this one keep theirs.
function M.set_weight(n, name, t)
  for i, w in ipairs(n.weights) do
    if w.name == name then n.weights[i] = { name = name, tensor = t }; return end
  end
  table.insert(n.weights, { name = name, tensor = t })
end

return M
