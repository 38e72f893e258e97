-- cnnc.passes.plan: where every activation lives.
--
-- Values that are views (Flatten, unfused Dropout) share their input's memory. Every
-- other value gets an offset in one arena, assigned first-fit in schedule order and
-- released after its last reader, so the arena holds only what is alive at once. The
-- values that are the model's outputs are written straight into the caller's output buffer;
-- a layer that may work in place reuses its input's block when it is that block's last
-- reader. Offsets and sizes are in floats, blocks aligned to 16 floats (64 bytes).
--
-- The arena is the activations' region followed by one scratch region, as large as the
-- largest scratch a layer's kernel needs (a padded input copy, partial sums, Winograd
-- tiles: node.sel.scratch), which every layer uses in turn: arena_floats =
-- activation_floats + scratch_floats, and the summary can say which is which.

local ir = require 'cnnc.ir'
local util = require 'cnnc.util'

local M = {}

local ALIGN = 16

local function round_up(n) return math.ceil(n / ALIGN) * ALIGN end

-- First-fit allocator over a sorted list of live blocks.
local function allocate(live, size)
  local offset = 0
  for _, b in ipairs(live) do
    if b.offset - offset >= size then break end
    offset = math.max(offset, b.offset + b.size)
  end
  local block = { offset = offset, size = size }
  live[#live + 1] = block
  table.sort(live, function(a, b) return a.offset < b.offset end)
  return block
end

local function release(live, block)
  for i, b in ipairs(live) do
    if b == block then table.remove(live, i); return end
  end
end

-- The allocator, for the backward pass's plan (cnnc.passes.plan_backward).
M.allocate, M.release, M.round_up = allocate, release, round_up

-- opts.keep_all: every value keeps its own block until the end (no reuse, no in-place), so
-- after a prediction the workspace holds every layer's output (for inspecting activations).
-- A layer's kernel may need scratch memory (node.sel.scratch floats, cnnc.passes.select):
-- g.plan.scratch[name] = its offset (the start of the scratch region), g.plan.scratch_floats
-- the region's size and scratch_layer the layer needing the most.
function M.run(g, opts)
  local keep_all = opts and opts.keep_all
  g = ir.clone(g)
  local io = ir.io(g)
  local root, storage = {}, {}
  for _, v in ipairs(io.inputs) do
    root[v.name] = v.name
    storage[v.name] = { kind = 'input', offset = v.offset }
  end
  for _, n in ipairs(g.nodes) do
    root[n.name] = n.layer.alias and root[n.inputs[1]] or n.name
  end
  local last_use = {}
  for i, n in ipairs(g.nodes) do
    for _, v in ipairs(n.inputs) do last_use[root[v]] = i end
  end
  -- Each output's value is computed straight into its place in the output buffer; an
  -- output whose memory is an input or another output is copied there at the end.
  local copies = {}
  for _, o in ipairs(io.outputs) do
    local r = o.name and root[o.name]
    if r and storage[r] then
      if o.size > 0 then copies[#copies + 1] = { from = r, offset = o.offset, count = o.size } end
    elseif r then
      storage[r] = { kind = 'output', offset = o.offset }
    end
  end
  local live, blocks, peak, total = {}, {}, 0, 0
  local scratch, scratch_floats, scratch_layer = {}, 0, nil
  for i, n in ipairs(g.nodes) do
    local sfloats = n.sel and n.sel.scratch or 0
    if sfloats > 0 then
      scratch[n.name] = true
      if round_up(sfloats) > scratch_floats then scratch_floats, scratch_layer = round_up(sfloats), n.name end
    end
    if not n.layer.alias then
      local size = util.prod(n.shape)
      total = total + size
      if not storage[n.name] then
        local src = root[n.inputs[1]]
        if n.layer.inplace and not keep_all and blocks[src] and last_use[src] == i then
          blocks[n.name], blocks[src] = blocks[src], nil
        else
          blocks[n.name] = allocate(live, round_up(size))
        end
        storage[n.name] = { kind = 'arena', block = blocks[n.name] }
        peak = math.max(peak, blocks[n.name].offset + blocks[n.name].size)
      end
    end
    for _, v in ipairs(n.inputs) do
      local r = root[v]
      if last_use[r] == i and blocks[r] and not keep_all then release(live, blocks[r]); blocks[r] = nil end
    end
  end
  -- Values never read (dead branches of a DAG) still need a place; they keep their block.
  for _, s in pairs(storage) do
    if s.kind == 'arena' then s.offset = s.block.offset; s.block = nil end
  end
  for name in pairs(scratch) do scratch[name] = peak end
  g.plan = {
    root = root, storage = storage, arena_floats = peak + scratch_floats, total_floats = total, scratch = scratch,
    activation_floats = peak, scratch_floats = scratch_floats, scratch_layer = scratch_layer,
    copies = copies, copy_input_to_output = not ir.is_multi(g) and #copies > 0, keep_all = keep_all or false,
  }
  if g.backward then require('cnnc.passes.plan_backward').run(g) end
  return g
end

return M
