-- cnnc.ir: the graph every pass reads and writes.
--
-- A graph is {name, seed, source, input = {name, shape}, nodes = {...}, output = name}.
-- `nodes` is in topological order. Values are named by the node producing them; the graph
-- input is a value too. It is a DAG: Sequential models are the common case, not the only one.
--
-- What each pass adds (a pass copies the graph it is given: cnnc.ir.clone):
--   frontend (or an importer)  node = {name, op (Keras class name, e.g. 'Conv2D'), layer (its
--              module in cnnc.layers), rank, p (checked arguments), inputs = {value
--              names}, where = {file, line}, index, epilogue = {}, fused = {}}
--   shape      node.in_shapes, in_shape (the first), shape; weights = {{name, tensor},
--              ...} bound from the model file, --weights or initialisers; epilogue's first
--              step from `activation=`; what the layer module derives (g: the window
--              geometry of cnnc.window, axis, pads, ...)
--   lower      a node whose layer module has lower(node, make) replaced by the nodes it
--              makes (a Dense on the last axis as a 1x1 convolution, a separable
--              convolution as its depthwise and pointwise parts, a Normalization as its affine
--              form; cnnc.passes.lower)
--   fuse       epilogue steps moved in from Activation/BatchNormalization layers; weights
--              rewritten by folded batch norms, each fold recorded in node.folded =
--              {{origin = the batch norm's name, step = its affine epilogue step, kernel =,
--              bias = the node's weights before that fold (bias nil if it had none)}, ...}
--              in folding order (for gradients, cnnc.backward); g trimmed to the rows a pool
--              reads; fused notes; nodes bypassed (cnnc.ir.bypass). Graph: macs_written (the
--              layers' multiply-adds as written)
--   grad       (builds with backward code only, after fuse) every node: node.grad =
--              {epilogue = 'none'|'output'|'input' (where its epilogue's derivative comes
--              from), reads = {input = bool, output = bool} (what its backward code reads of
--              the forward pass)}; an epilogue whose derivative needs the value before it
--              moved to a new Activation node `<layer>_epilogue`. Graph: backward = true
--              (and train = true, which the driver sets, for a training build)
--   select     node.sel = {kernel (name), K (the kernel module, nil for the layer's own C),
--              plan (the kernel's loop plan), pool (a following pool in its registers; the
--              node's shape becomes the pool's), scratch (floats), units, pre_units, parts,
--              pre_parts (thread sharing), text (for the summary); with backward code also
--              bK (the backward kernel module, nil for the layer module's emit_backward),
--              bplan (its plan), bscratch (the floats of scratch it needs)}. Graph: target,
--              threads (1 when sharing does not pay), tune (cnnc.tune's knobs)
--   plan       graph.plan = {root (value -> the value whose memory it is), storage (value ->
--              {kind = input|output|arena, offset}), scratch (node -> offset),
--              arena_floats = activation_floats + scratch_floats, scratch_layer,
--              total_floats, copies (outputs copied at the end), keep_all}; with backward
--              code also graph.bplan, the backward pass's memory (cnnc.passes.plan_backward)
-- The emitter (cnnc.emit) reads all of it and adds nothing.
--
-- Several inputs and outputs (ONNX models): `inputs = {{name, shape, layout, label,
-- dtype}, ...}` (any count, also none) and `outputs = {{name, layout, label, dtype} |
-- {empty = shape, ...}, ...}`; then `input` is the first input (nil when there is none)
-- and `output` the first output's value. The compiled model takes the inputs one after
-- another in one buffer and writes the outputs one after another into another (see
-- M.io). An `empty` output has a 0 in its shape: no values, no node. Graphs without
-- these lists have exactly one input and one output.

local util = require 'cnnc.util'

local M = {}

function M.new(name, input_name, input_shape)
  return { name = name, input = { name = input_name, shape = input_shape }, nodes = {}, output = input_name }
end

-- Copies graph and nodes (not tensors), so a pass can change a graph without touching its
-- argument.
function M.clone(g)
  local c = util.copy(g)
  c.input = g.input and util.copy(g.input)
  if g.inputs then
    c.inputs = {}
    for i, v in ipairs(g.inputs) do c.inputs[i] = util.copy(v) end
    c.input = c.inputs[1]
  end
  if g.outputs then
    c.outputs = {}
    for i, v in ipairs(g.outputs) do c.outputs[i] = util.copy(v) end
  end
  c.nodes = {}
  for i, n in ipairs(g.nodes) do
    local m = util.copy(n)
    m.inputs = util.copy(n.inputs)
    m.epilogue = util.copy(n.epilogue or {})
    m.fused = util.copy(n.fused or {})
    m.weights = n.weights and util.copy(n.weights)
    m.folded = n.folded and util.copy(n.folded)
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
  for _, o in ipairs(M.outputs(g)) do
    if o.name then
      t[o.name] = t[o.name] or {}
      table.insert(t[o.name], { name = '@output' })
    end
  end
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
  for _, o in ipairs(g.outputs or {}) do
    if o.name == n.name then o.name = replacement end
  end
  for i, m in ipairs(g.nodes) do
    if m == n then table.remove(g.nodes, i); break end
  end
end

-- Shape of a value by name.
function M.shape_of(g, name)
  for _, v in ipairs(M.inputs(g)) do
    if name == v.name then return v.shape end
  end
  for _, n in ipairs(g.nodes) do
    if n.name == name then return n.shape end
  end
end

-- The graph's inputs: a list of {name, shape, layout, ...}.
function M.inputs(g)
  return g.inputs or { g.input }
end

-- The graph's outputs: a list of {name (a value) | empty (a shape with a 0), layout, ...}.
function M.outputs(g)
  return g.outputs or { { name = g.output, layout = g.output_layout } }
end

-- More or fewer than one input or output?
function M.is_multi(g)
  return (g.inputs ~= nil and #g.inputs ~= 1) or (g.outputs ~= nil and #g.outputs ~= 1)
end

-- The compiled model's interface: {inputs = {{name, label, shape, size, offset}, ...},
-- outputs = {...}, input_size, output_size} with offsets and sizes in floats into the
-- one input and the one output buffer.
function M.io(g)
  local function list(src, shape_of)
    local t, off = {}, 0
    for i, v in ipairs(src) do
      local shape = shape_of(v)
      local n = util.prod(shape)
      t[i] = { name = v.name, label = v.label or v.name, shape = shape, size = n, offset = off, layout = v.layout,
        dtype = v.dtype }
      off = off + n
    end
    return t, off
  end
  local r = {}
  r.inputs, r.input_size = list(M.inputs(g), function(v) return v.shape end)
  r.outputs, r.output_size = list(M.outputs(g), function(o) return o.empty or M.shape_of(g, o.name) end)
  return r
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
