-- cnnc.passes.grad: makes a fused graph ready for backward code (cnnc build --backward).
--
-- Runs after fuse, before select, only for builds with backward code. It
--   1. refuses, naming the layer, its kind and why, any layer without backward code (a
--      layer module's `emit_backward`; views such as Flatten need none), any epilogue step
--      without a C derivative, and ONNX models (their weights have no Keras names and
--      layouts for the gradients; the message lists their operators lacking a backward);
--   2. keeps apart an epilogue whose derivative needs the value before it (swish,
--      hard_sigmoid, batch-norm steps, several steps: cnnc.epilogue_backward) when it sits
--      in a layer that is not an identity layer: the steps move to a new Activation node
--      `<layer>_epilogue` after it, so the forward pass stores the layer's own output for
--      the backward pass to recompute the steps from (an identity layer's input is stored
--      anyway);
--   3. records on every node what its backward code reads of the forward pass:
--      node.grad = {epilogue = 'none'|'output'|'input' (cnnc.epilogue_backward.source),
--      reads = {input = bool, output = bool}}.
-- A value read by several layers (Functional models: residual connections, skips) gets
-- the sum of their gradients (cnnc.passes.plan_backward).

local backward = require 'cnnc.backward'
local epilogue_backward = require 'cnnc.epilogue_backward'
local ir = require 'cnnc.ir'
local util = require 'cnnc.util'

local M = {}

-- The reason node has no backward code, or nil.
function M.refusal(n)
  if n.layer.alias then return nil end
  -- (a layer lowered onto others, cnnc.passes.lower, has theirs)
  if not n.layer.emit_backward and not n.layer.lower then return string.format('%s layers have no backward code', n.op) end
  local why = n.layer.backward_refusal and n.layer.backward_refusal(n)
  if why then return why end
  for _, st in ipairs(n.epilogue or {}) do
    if not epilogue_backward.supported(st) then
      return string.format('its activation %s has no backward code', st.name)
    end
  end
end

local function refuse_onnx(g)
  local count, order = {}, {}
  for _, n in ipairs(g.nodes) do
    if M.refusal(n) or not n.layer.backward then
      local op = n.onnx and n.onnx.op_type or n.op
      if not count[op] then order[#order + 1] = op; count[op] = 0 end
      count[op] = count[op] + 1
    end
  end
  local list = {}
  for _, op in ipairs(order) do
    list[#list + 1] = string.format('%s (%d node%s)', op, count[op], count[op] == 1 and '' or 's')
  end
  util.fail(nil, 'backward code is for Lua models only: gradients of ONNX models are not implemented (their weights '
    .. 'have no Keras names and layouts)%s', #list > 0 and ('; operators of this model without one: '
    .. table.concat(list, ', ')) or '')
end

local function check(g)
  if g.onnx then refuse_onnx(g) end
  if ir.is_multi(g) then util.fail(nil, 'backward code needs a model with one input and one output') end
  local bad = {}
  for _, n in ipairs(g.nodes) do
    local why = M.refusal(n)
    if why then bad[#bad + 1] = { n, why } end
  end
  if #bad > 0 then
    local more = ''
    if #bad > 1 then
      local names = {}
      for i = 2, math.min(#bad, 6) do names[#names + 1] = string.format("'%s' (%s)", bad[i][1].name, bad[i][1].op) end
      more = string.format('; %d more layer%s without one: %s%s', #bad - 1, #bad > 2 and 's' or '',
        table.concat(names, ', '), #bad > 6 and ', ...' or '')
    end
    util.fail(bad[1][1], 'no backward code for this layer: %s%s', bad[1][2], more)
  end
end

-- A node name no node has yet.
local function fresh(g, base)
  local names = ir.by_name(g)
  local name, k = base, 1
  while names[name] do k = k + 1; name = base .. '_' .. k end
  return name
end

-- Moves n's epilogue into a new Activation node right after it.
local function split(g, n, at)
  local name = fresh(g, n.name .. '_epilogue')
  local s = { name = name, op = 'Activation', layer = require('cnnc.layers.activation'), rank = 0,
    p = { activation = 'the epilogue of ' .. n.name }, inputs = { n.name }, where = n.where, index = n.index,
    epilogue = n.epilogue, fused = {}, in_shape = n.shape, in_shapes = { n.shape }, shape = util.copy(n.shape) }
  for _, m in ipairs(g.nodes) do
    for i, v in ipairs(m.inputs) do
      if v == n.name then m.inputs[i] = name end
    end
  end
  if g.output == n.name then g.output = name end
  n.fused[#n.fused + 1] = string.format('epilogue (%s) kept apart in %s for the backward pass',
    require('cnnc.epilogue').describe(n.epilogue), name)
  n.epilogue = {}
  table.insert(g.nodes, at + 1, s)
end

function M.run(g)
  check(g)
  backward.trainable(g) -- fails on two trainable weights with one name
  g = ir.clone(g)
  local i = 1
  while i <= #g.nodes do
    local n = g.nodes[i]
    if not n.layer.identity and not n.layer.alias and epilogue_backward.source(n.epilogue) == 'input' then
      split(g, n, i)
    end
    i = i + 1
  end
  for _, n in ipairs(g.nodes) do
    local src = epilogue_backward.source(n.epilogue or {})
    local reads = { input = false, output = src == 'output' or (src == 'input' and require('cnnc.epilogue')
      .ends_in_softmax(n.epilogue)) }
    if n.layer.identity then
      reads.input = src == 'input'
    elseif not n.layer.alias then
      reads.input = n.layer.backward_reads(n).x or false
    end
    n.grad = { epilogue = src, reads = reads }
  end
  g.backward = true
  return g
end

return M
