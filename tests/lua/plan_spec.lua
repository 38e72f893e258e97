-- The memory plan (cnnc.passes.plan): arena offsets checked against a liveness computation
-- written here, views sharing their input's memory, the output written in place, and the
-- arena staying small for deep chains.

local T = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'testutil.lua')
local nn = T.nn
local shape_pass = require 'cnnc.passes.shape'
local fuse_pass = require 'cnnc.passes.fuse'
local plan_pass = require 'cnnc.passes.plan'

local function prod(s)
  local p = 1
  for i = 1, #s do p = p * s[i] end
  return p
end

local function planned(input_shape, layers, opts)
  local m = nn.Sequential{ name = 'plan_case', input_shape = input_shape, layers = layers }
  opts = opts or {}
  opts.stop = 'plan'
  return T.compile(m, opts).planned
end

-- Checks the plan of g against an independent liveness analysis:
-- * every value has a root: itself, or (for views) its input's root;
-- * every non-view value is stored as 'input', 'output' or 'arena', inside the arena;
-- * two arena values whose lifetimes overlap occupy disjoint floats, except a layer that
--   works in place on the input it is the last reader of.
local function check_plan(g)
  local plan = g.plan
  local by_name = {}
  for _, n in ipairs(g.nodes) do by_name[n.name] = n end
  -- Roots, computed here.
  local root = { [g.input.name] = g.input.name }
  for _, n in ipairs(g.nodes) do
    if n.layer.alias then root[n.name] = root[n.inputs[1]] else root[n.name] = n.name end
    assert.same(root[n.name], plan.root[n.name], 'root of ' .. n.name)
  end
  assert.same(g.input.name, plan.root[g.input.name])
  -- Lifetimes (by schedule position) of every root: defined at its node, alive until its
  -- last reader, through any view.
  local def, last = { [g.input.name] = 0 }, {}
  for i, n in ipairs(g.nodes) do
    if not n.layer.alias then def[n.name] = i end
    for _, v in ipairs(n.inputs) do last[root[v]] = math.max(last[root[v]] or 0, i) end
  end
  local out_root = root[g.output]
  local arena = {}
  for name, d in pairs(def) do
    local s = plan.storage[name]
    assert.is_not_nil(s, 'no storage for ' .. name)
    if name == g.input.name then
      assert.same('input', s.kind)
    elseif name == out_root then
      assert.same('output', s.kind, 'the model output must be written into the output buffer')
    else
      assert.same('arena', s.kind, name .. ' should live in the arena')
      local size = prod(by_name[name].shape)
      assert.is_true(s.offset >= 0 and s.offset % 16 == 0, 'offset of ' .. name .. ' is not 64-byte aligned')
      assert.is_true(s.offset + size <= plan.arena_floats,
        string.format('%s [%d, %d) lies outside the arena of %d floats', name, s.offset, s.offset + size, plan.arena_floats))
      arena[#arena + 1] = { name = name, lo = s.offset, hi = s.offset + size, def = d, last = last[name] or d }
    end
  end
  for _, n in ipairs(g.nodes) do
    if n.layer.alias then assert.is_nil(plan.storage[n.name], 'a view has no storage of its own: ' .. n.name) end
  end
  for i = 1, #arena do
    for j = 1, #arena do
      local a, b = arena[i], arena[j]
      -- b is written while a is still to be read (or being read).
      if i ~= j and a.def < b.def and b.def <= a.last then
        local overlap = a.lo < b.hi and b.lo < a.hi
        local node_b = by_name[b.name]
        local in_place = node_b.layer.inplace and root[node_b.inputs[1]] == a.name and a.last == b.def
          and a.lo == b.lo
        assert.is_true(not overlap or in_place, string.format(
          '%s [%d, %d) (alive %d..%d) overlaps %s [%d, %d) written at %d',
          a.name, a.lo, a.hi, a.def, a.last, b.name, b.lo, b.hi, b.def))
      end
    end
  end
  -- The sum of every non-view activation (what a plan without reuse would need).
  local total = 0
  for _, n in ipairs(g.nodes) do
    if not n.layer.alias then total = total + prod(n.shape) end
  end
  assert.same(total, plan.total_floats)
  return arena
end

describe('memory plan', function()
  it('keeps values alive at the same time apart (MNIST-like net)', function()
    local g = planned({ 28, 28, 1 }, {
      nn.Conv2D{ 8, 3, activation = 'relu' }, nn.MaxPooling2D{}, nn.Conv2D{ 16, 3, activation = 'relu' },
      nn.MaxPooling2D{}, nn.Flatten{}, nn.Dense{ 16, activation = 'relu' }, nn.Dense{ 10, activation = 'softmax' },
    })
    check_plan(g)
    assert.same('output', g.plan.storage.dense_1.kind)
  end)

  it('uses a smaller arena than the sum of activations for a deep chain', function()
    local layers = {}
    for i = 1, 12 do layers[i] = nn.Conv2D{ 4, 3, padding = 'same' } end
    local g = planned({ 16, 16, 4 }, layers)
    check_plan(g)
    local one = 16 * 16 * 4
    assert.same(12 * one, g.plan.total_floats)
    -- Two buffers ping-pong; the last conv writes into the output.
    assert.same(2 * one, g.plan.arena_floats)
    assert.is_true(g.plan.arena_floats < g.plan.total_floats)
  end)

  it('checks an unfused plan with in-place layers and views', function()
    local g = planned({ 10, 10, 3 }, {
      nn.ZeroPadding2D{ 1 }, nn.Conv2D{ 5, 3 }, nn.BatchNormalization{}, nn.Activation{ 'relu' }, nn.Dropout{ 0.5 },
      nn.MaxPooling2D{}, nn.LeakyReLU{}, nn.Flatten{}, nn.Dropout{ 0.2 }, nn.Dense{ 7 }, nn.Activation{ 'tanh' },
    }, { fuse = false })
    check_plan(g)
    -- Views share their input's root.
    assert.same('leaky_re_lu', g.plan.root.flatten)
    assert.same('leaky_re_lu', g.plan.root.dropout_1)
    assert.same('activation', g.plan.root.dropout)
    -- In place: an activation that is the last reader of its input reuses its block.
    assert.same(g.plan.storage.conv2d.offset, g.plan.storage.batch_normalization.offset)
    assert.same(g.plan.storage.conv2d.offset, g.plan.storage.activation.offset)
    assert.same('output', g.plan.storage.activation_1.kind)
  end)

  it('lets a Flatten share its input root and a Dense read it', function()
    local g = planned({ 4, 4, 2 }, { nn.Conv2D{ 3, 3 }, nn.Flatten{}, nn.Dense{ 2 } })
    check_plan(g)
    assert.same('conv2d', g.plan.root.flatten)
    assert.same('arena', g.plan.storage.conv2d.kind)
    assert.same('output', g.plan.storage.dense.kind)
  end)

  it('writes the output straight into the output buffer, through a final view', function()
    local g = planned({ 6, 6, 2 }, { nn.Conv2D{ 3, 3 }, nn.MaxPooling2D{}, nn.Flatten{} })
    check_plan(g)
    assert.same('max_pooling2d', g.plan.root.flatten)
    assert.same('output', g.plan.storage.max_pooling2d.kind)
    assert.is_false(g.plan.copy_input_to_output)
    -- A single layer model needs no arena at all.
    local one = planned({ 5 }, { nn.Dense{ 3 } })
    check_plan(one)
    assert.same('output', one.plan.storage.dense.kind)
    assert.same(0, one.plan.arena_floats)
  end)

  it('copies input to output for a model that is only a Flatten', function()
    local g = planned({ 3, 4, 2 }, { nn.Flatten{} })
    assert.is_true(g.plan.copy_input_to_output)
    assert.same('input', g.plan.root.flatten)
    assert.same('input', g.plan.storage.input.kind)
    assert.same(0, g.plan.arena_floats)
    -- Dropout removed by fusion leaves the same situation.
    local d = planned({ 3 }, { nn.Dropout{ 0.5 } })
    assert.same(0, #d.nodes)
    assert.is_true(d.plan.copy_input_to_output)
    local c = T.compile(nn.Sequential{ name = 'only_flatten', input_shape = { 3, 4, 2 }, layers = { nn.Flatten{} } })
    assert.matches('memcpy(output, input, 24 * sizeof(float));', c.c, 1, true)
  end)

  it('keeps a value alive until its last reader in a DAG', function()
    -- conv2d is read by conv2d_1 and, much later, by a second branch.
    local g = T.compile(nn.Sequential{ name = 'dag', input_shape = { 8, 8, 2 }, layers = {
      nn.Conv2D{ 4, 3, padding = 'same' }, nn.Conv2D{ 4, 3, padding = 'same' }, nn.Conv2D{ 4, 3, padding = 'same' },
      nn.Conv2D{ 4, 3, padding = 'same' }, nn.Activation{ 'relu' },
    } }, { stop = 'frontend' }).graph
    table.insert(g.nodes, 5, T.extra_node(nn.Activation{ 'tanh' }, 'branch', { 'conv2d' }, 6))
    local p = plan_pass.run(fuse_pass.run(shape_pass.run(g)))
    local arena = check_plan(p)
    assert.is_true(#arena >= 4)
    -- conv2d stays alive across conv2d_1..3, so none of them may reuse its block.
    local c = p.plan.storage.conv2d.offset
    for _, name in ipairs({ 'conv2d_1', 'conv2d_2' }) do
      assert.are_not.equal(c, p.plan.storage[name].offset, name .. ' reuses the block of conv2d')
    end
    assert.same('arena', p.plan.storage.branch.kind)
  end)

  it('gives a dead branch a block of its own that nothing overwrites', function()
    local g = T.compile(nn.Sequential{ name = 'dead', input_shape = { 6, 6, 1 }, layers = {
      nn.Conv2D{ 2, 3, padding = 'same' }, nn.Conv2D{ 2, 3, padding = 'same' }, nn.Conv2D{ 2, 3, padding = 'same' },
    } }, { stop = 'frontend' }).graph
    table.insert(g.nodes, 2, T.extra_node(nn.Conv2D{ 3, 1 }, 'dead_end', { 'conv2d' }, 4))
    local p = plan_pass.run(fuse_pass.run(shape_pass.run(g)))
    check_plan(p)
    local dead = p.plan.storage.dead_end
    assert.same('arena', dead.kind)
    -- Nothing written after it may overlap it (its value is never released).
    for _, name in ipairs({ 'conv2d_1' }) do
      local s = p.plan.storage[name]
      assert.is_true(s.offset >= dead.offset + 6 * 6 * 3 or s.offset + 6 * 6 * 2 <= dead.offset)
    end
  end)

  it('has a checker that catches overlapping blocks (self-test of this spec)', function()
    local g = planned({ 8, 8, 1 }, { nn.Conv2D{ 2, 3 }, nn.Conv2D{ 2, 3 }, nn.Conv2D{ 2, 3 } })
    check_plan(g)
    g.plan.storage.conv2d_1.offset = g.plan.storage.conv2d.offset
    assert.has_error(function() check_plan(g) end)
  end)

  it('matches the workspace size in the header', function()
    local r = T.compile(nn.Sequential{ name = 'ws', input_shape = { 10, 10, 1 }, layers = {
      nn.Conv2D{ 4, 3 }, nn.Conv2D{ 4, 3 }, nn.Conv2D{ 4, 3 } } })
    assert.matches('#define WS_WORKSPACE_SIZE ' .. 4 * r.planned.plan.arena_floats .. '\n', r.h, 1, true)
  end)
end)
