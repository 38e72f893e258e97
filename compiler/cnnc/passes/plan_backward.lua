-- cnnc.passes.plan_backward: the memory of a backward pass (part of the plan pass, for
-- graphs cnnc.passes.grad prepared).
--
-- NAME_backward runs the forward pass and then the layers' backward code in reverse order.
-- One schedule covers both: forward steps (each layer's output written, its inputs read)
-- and backward steps, each reading gradients and what node.grad says the backward code
-- reads of the forward pass (a layer's input, its output), and writing gradients. Every
-- value and gradient gets an arena block from its first write to its last read, first
-- fit, as the forward plan does, so what the backward pass reads stays alive exactly as
-- long as needed and gradients reuse the memory of values already consumed. Gradients:
--   d:<value>  the gradient of a value (of its memory's root: a Flatten's is its input's);
--              the output's is the caller's grad_output, the input's grad_input
--   z:<node>   the gradient of a node's value before its epilogue (written over d:<node>
--              when that is an arena block read by nobody else)
--   f:<node>   a node with folded batch norms: the gradients of the kernel and bias it
--              computes with, which an unfold step turns into those of the model's
--              weights (cnnc.emit.backward)
-- The model's output is kept in the arena (NAME_train_forward copies it out at the end of
-- the forward steps). The result, g.bplan = {storage (key -> {kind = 'input' | 'arena' |
-- 'grad_output' | 'grad_input', offset}), steps (the backward steps in order, see below),
-- canonical (key -> the key whose memory it is), arena_floats, activation_floats,
-- scratch_floats}, is read by cnnc.emit.backward. The scratch region after the blocks
-- serves the forward kernels and the backward kernels (node.sel.bscratch) in turn.

local ir = require 'cnnc.ir'
local util = require 'cnnc.util'

local M = {}

-- The backward steps, last node first: {kind = 'epilogue' | 'layer' | 'identity' |
-- 'unfold' | 'add' | 'copy', node, reads = {keys}, writes = {keys}, inplace = key, d (the
-- gradient read), z (an epilogue step's result), dx (the gradient of each input: dx[k]),
-- x (each input, when read: x[k]), y (the layer's output, when read), fold (f:<node>),
-- model_input = true when the step's result ends in the model input's gradient}.
--
-- A value read by several layers (a residual connection, a U-Net's skip) gets the sum of
-- what they send back. Its consumers are met last first; the first one met writes the
-- value's gradient d:<value> itself, each other one writes a gradient of its own,
-- a:<node>:<k>, which an 'add' step then adds into d:<value>. A layer writing several
-- inputs' gradients in one call writes the model input's into a:<node>:<k> too, which a
-- 'copy' or 'add' step moves into grad_input (skipped when the caller passes NULL).
local function backward_steps(g, root, size_of, canonical, model_in)
  local steps = {}
  local met = {}
  -- where node n's gradient of input k goes: the key it writes and the step after it
  local function target(n, k, own_call)
    local r = root[n.inputs[k]]
    local d = 'd:' .. r
    local first = not met[r]
    met[r] = true
    if first and not (own_call and r == model_in) then return d end
    local a = 'a:' .. n.name .. ':' .. k
    size_of[a] = size_of[r]
    return a, { kind = first and 'copy' or 'add', node = n, src = a, dst = d, reads = { a, not first and d or nil },
      writes = { first and d or nil }, model_input = r == model_in, size = size_of[r] }
  end
  for i = #g.nodes, 1, -1 do
    local n = g.nodes[i]
    if not n.layer.alias then
      local gr = n.grad
      local d = 'd:' .. n.name
      local y = gr.reads.output and n.name or nil
      if n.layer.identity then
        local in_root = root[n.inputs[1]]
        local x = gr.reads.input and in_root or nil
        if gr.epilogue == 'none' and not met[in_root] and in_root ~= model_in then
          -- the input's gradient is this layer's output gradient: one memory
          met[in_root] = true
          canonical['d:' .. in_root] = canonical[d] or d
        elseif gr.epilogue == 'none' then
          -- d itself is what this layer sends back: copied into the model input's gradient
          -- (which the caller may not want), or added to what other layers sent
          local first = not met[in_root]
          met[in_root] = true
          local dst = 'd:' .. in_root
          steps[#steps + 1] = { kind = first and 'copy' or 'add', node = n, src = d, dst = dst,
            reads = { d, not first and dst or nil }, writes = { first and dst or nil }, model_input = in_root == model_in,
            size = size_of[in_root] }
        else
          local dx, post = target(n, 1)
          steps[#steps + 1] = { kind = 'identity', node = n, d = d, dx = { dx }, x = { x }, y = y,
            reads = { d, x, y }, writes = { dx }, inplace = d, model_input = in_root == model_in }
          steps[#steps + 1] = post
        end
      else
        local cur = d
        if gr.epilogue ~= 'none' then
          local z = 'z:' .. n.name
          size_of[z] = util.prod(n.shape)
          steps[#steps + 1] = { kind = 'epilogue', node = n, d = d, z = z, y = y, reads = { d, y }, writes = { z },
            inplace = d }
          cur = z
        end
        local f = n.folded and ('f:' .. n.name) or nil
        if f then
          local k, b = ir.weight(n, 'kernel'), ir.weight(n, 'bias')
          size_of[f] = k.n + (b and b.n or 0)
        end
        local several = #n.inputs > 1
        local dx, x, posts = {}, {}, {}
        local reads, writes = { cur }, { f }
        for k = 1, #n.inputs do
          dx[k], posts[#posts + 1] = target(n, k, several)
          writes[#writes + 1] = dx[k]
          if gr.reads.input then
            x[k] = root[n.inputs[k]]
            reads[#reads + 1] = x[k]
          end
        end
        steps[#steps + 1] = { kind = 'layer', node = n, d = cur, dx = dx, x = x, fold = f, reads = reads,
          writes = writes, model_input = not several and root[n.inputs[1]] == model_in }
        if f then steps[#steps + 1] = { kind = 'unfold', node = n, fold = f, reads = { f }, writes = {} } end
        for _, p in ipairs(posts) do steps[#steps + 1] = p end
      end
    end
  end
  return steps
end

function M.run(g)
  local plan = g.plan
  local root = plan.root
  local input = ir.inputs(g)[1]
  local out_root = root[g.output]
  local size_of, canonical = {}, {}
  local function key(k) return k and (canonical[k] or k) end
  size_of[input.name] = util.prod(input.shape)
  for _, n in ipairs(g.nodes) do
    if not n.layer.alias then
      size_of[n.name] = util.prod(n.shape)
      size_of['d:' .. n.name] = size_of[n.name]
    end
  end
  size_of['d:' .. input.name] = size_of[input.name]
  local bsteps = backward_steps(g, root, size_of, canonical, input.name)
  -- A model whose output is its input (views only): the output gradient is copied.
  local out_grad = 'd:' .. out_root
  if out_root == input.name then
    out_grad = 'o:' .. out_root
    bsteps[#bsteps + 1] = { kind = 'copy', src = out_grad, dst = 'd:' .. input.name,
      reads = { out_grad }, writes = { 'd:' .. input.name }, model_input = true, size = size_of[input.name] }
  end

  -- The schedule: forward steps, the end of the forward pass (the output is copied out),
  -- then the backward steps.
  local sched = {}
  for _, n in ipairs(g.nodes) do
    if not n.layer.alias then
      local reads = {}
      for _, v in ipairs(n.inputs) do reads[#reads + 1] = root[v] end
      sched[#sched + 1] = { reads = reads, writes = { n.name }, inplace = n.layer.inplace and root[n.inputs[1]] or nil }
    end
  end
  sched[#sched + 1] = { reads = { out_root }, writes = {} }
  for _, st in ipairs(bsteps) do sched[#sched + 1] = st end

  local storage = {
    [input.name] = { kind = 'input', offset = 0 },
    [key('d:' .. input.name)] = { kind = 'grad_input', offset = 0 },
    [key(out_grad)] = { kind = 'grad_output', offset = 0 },
  }
  local last_use = {}
  for i, st in ipairs(sched) do
    for _, k in pairs(st.reads) do last_use[key(k)] = i end
  end
  local plan_mod = require 'cnnc.passes.plan'
  local live, blocks, peak = {}, {}, 0
  for i, st in ipairs(sched) do
    for _, w in pairs(st.writes) do
      w = key(w)
      if not storage[w] then
        local src = st.inplace and key(st.inplace)
        if src and blocks[src] and last_use[src] == i and size_of[src] >= size_of[w] then
          blocks[w], blocks[src] = blocks[src], nil
        else
          blocks[w] = plan_mod.allocate(live, plan_mod.round_up(size_of[w]))
        end
        storage[w] = { kind = 'arena', block = blocks[w] }
        peak = math.max(peak, blocks[w].offset + blocks[w].size)
      end
    end
    for _, r in pairs(st.reads) do
      r = key(r)
      if last_use[r] == i and blocks[r] then plan_mod.release(live, blocks[r]); blocks[r] = nil end
    end
  end
  for _, s in pairs(storage) do
    if s.kind == 'arena' then s.offset = s.block.offset; s.block = nil end
  end
  local scratch = plan.scratch_floats
  for _, n in ipairs(g.nodes) do
    local b = n.sel and n.sel.bscratch or 0
    if b > 0 then scratch = math.max(scratch, plan_mod.round_up(b)) end
  end
  g.bplan = { storage = storage, steps = bsteps, canonical = canonical, key = key, activation_floats = peak,
    scratch_floats = scratch, scratch_offset = peak, arena_floats = peak + scratch }
end

return M
