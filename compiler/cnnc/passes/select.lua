-- cnnc.passes.select: which kernel runs each layer, decided once, before the memory plan.
--
-- A layer module lists the kernels that can run its kinds (`kernels`, in order of
-- preference: the first eligible one is the default) besides its own portable C; a kernel
-- (cnnc.simd.conv, winograd, depthwise, dense, or one a layer module defines inline)
-- declares what it can do:
--   name                       shown by `cnnc summary` and `--dump select`
--   eligible(node, t)          can it run this node on target t?
--   plan(node, t, ctx)         its loop plan (ctx: {threads, tune, pool = {kh, kw}}), with
--                              scratch (floats of scratch memory), units (the most parts a
--                              --threads build may cut it into, or nil), pre_units (its
--                              input copy's), or nil when it cannot (e.g. no register tile
--                              holds whole pool windows)
--   cost(node, plan, t)        modelled cycles on one thread, to compare kernels
--   margin                     how much faster than the default it must be modelled (1.1:
--                              10%) to be taken by `auto`
--   holds_pool = true          it can combine a following pool's windows in its registers
--   describe(node, plan)       a few words for the summary ('winograd F(4x4,3x3)')
--   emit(node, E)              its C
-- A pooling module says which of its layers are such pools (`register_pool(node)`).
--
-- The decisions, all recorded on the node as node.sel = {kernel, plan, pool, scratch,
-- units, pre_units, text}:
--   1. the kernel: the default unless another (Winograd) is modelled faster by its margin
--      (opts.winograd = 'on' takes Winograd wherever eligible, 'off' never); chosen as for
--      one thread, so every thread count computes the same bits;
--   2. pools in registers: a max or average pool whose windows tile its sole producer's
--      output, after a kernel that holds pools and whose register tile can hold whole
--      windows (both epilogues with vector forms), is computed in that kernel's registers:
--      the pool node goes, the producer stores the pooled values (its shape becomes the
--      pool's). Not with opts.fuse == false (--no-fuse keeps every layer separate),
--      opts.keep_all (every layer's output must be whole) nor opts.backward (backward
--      code reads the convolution's output);
--   3. the threads: with opts.threads > 1, which layers are shared and into how many parts
--      (cnnc.threads), and whether sharing layers pays at all; when it does not, the
--      plans are made again for one thread and no layer is shared, but g.threads stays:
--      the build's team shares the items of batches (each thread runs whole items), and
--      one prediction runs on the calling thread alone, as in the single-thread build.
-- The memory plan reads sel.scratch; the emitter reads everything else. Generic targets
-- (no vectors) run every layer's own C (sel.kernel 'generic').

local ir = require 'cnnc.ir'
local epilogue = require 'cnnc.epilogue'
local util = require 'cnnc.util'

local M = {}

local loaded = {}
-- A layer's kernel entry: a module name under cnnc.simd, or an inline kernel table.
local function kernel(entry)
  if type(entry) == 'table' then return entry end
  if not loaded[entry] then loaded[entry] = require('cnnc.simd.' .. entry) end
  return loaded[entry]
end
M.kernel = kernel

-- The kernel module running node (nil: the layer module's own C).
function M.kernel_of(node)
  return node.sel and node.sel.K
end

local function candidates(node, t, opts)
  local list = {}
  if not t or t.width <= 1 then return list end
  for _, entry in ipairs(node.layer.kernels or {}) do
    local K = kernel(entry)
    if K.eligible(node, t) and not (opts.winograd == 'off' and K.name == 'winograd') then list[#list + 1] = K end
  end
  return list
end

-- The kernel's plan, or nil when it cannot run node so (a kernel without plans has one).
local function plan_for(K, node, t, ctx)
  if K.plan then return K.plan(node, t, ctx) end
  return {}
end

-- Step 1: the kernel, chosen as for one thread.
local function choose(node, t, opts)
  local list = candidates(node, t, opts)
  if #list == 0 then return nil end
  local ctx = { threads = 1, tune = opts.tune }
  local best, best_plan = list[1], plan_for(list[1], node, t, ctx)
  if not best_plan then return nil end
  local base_cost = best.cost and best.cost(node, best_plan, t)
  for i = 2, #list do
    local K = list[i]
    local p = plan_for(K, node, t, ctx)
    if p then
      local forced = opts.winograd == 'on' and K.name == 'winograd'
      local c = K.cost and K.cost(node, p, t)
      if forced or (c and base_cost and c * (K.margin or 1) < base_cost) then
        best, best_plan, base_cost = K, p, c
        if forced then break end
      end
    end
  end
  return best
end

-- Plans node's kernel for `threads` threads (with its pool, if it holds one).
local function replan(node, t, opts, threads)
  local sel = node.sel
  if not sel.K then return end
  local pool = sel.pool and { kh = sel.pool.kh, kw = sel.pool.kw }
  sel.plan = assert(plan_for(sel.K, node, t, { threads = threads, tune = opts.tune, pool = pool }),
    'cnnc: a kernel plan vanished on replanning')
  sel.scratch = sel.plan.scratch or 0
  sel.units = sel.plan.units
  sel.pre_units = sel.plan.pre_units
  if sel.K.describe then sel.text = sel.K.describe(node, sel.plan) else sel.text = sel.K.name end
end

local function all_vector(steps)
  return epilogue.vector_prefix(steps) == #steps and not epilogue.ends_in_softmax(steps)
end

-- Step 2: pools computed in their producer's registers.
local function pools_in_registers(g, t, opts)
  local sole_producer = require('cnnc.passes.fuse').sole_producer
  local changed = true
  while changed do
    changed = false
    for _, pool in ipairs(g.nodes) do
      local q = pool.layer.register_pool and pool.layer.register_pool(pool)
      local conv = q and sole_producer(g, pool)
      local K = conv and conv.sel and conv.sel.K
      if K and K.holds_pool and not conv.sel.pool and conv.g and q.ih == conv.g.oh and q.iw == conv.g.ow
          and q.oh * q.kh == conv.g.oh and q.ow * q.kw == conv.g.ow
          and all_vector(conv.epilogue) and all_vector(pool.epilogue)
          and plan_for(K, conv, t, { threads = opts.threads, tune = opts.tune, pool = { kh = q.kh, kw = q.kw } }) then
        conv.sel.pool = { mode = q.mode, kh = q.kh, kw = q.kw, oh = q.oh, ow = q.ow, epilogue = pool.epilogue,
          name = pool.name }
        conv.shape = pool.shape
        replan(conv, t, opts, 1)
        local after = #pool.epilogue > 0 and (', then ' .. epilogue.describe(pool.epilogue)) or ''
        conv.fused[#conv.fused + 1] = string.format('%s (%dx%d %s%s) in the register tile', pool.name, q.kh, q.kw,
          q.mode, after)
        ir.bypass(g, pool, conv.name)
        changed = true
        break
      end
    end
  end
end

-- Step 3: the steps a threaded build may share, as cnnc.threads.share sees them.
local function thread_steps(g, t)
  local sharing = require 'cnnc.threads'
  local steps = {}
  for _, n in ipairs(g.nodes) do
    if not n.layer.alias then
      local sel, p = n.sel, n.sel.plan or {}
      -- A copy of the input before the layer (parallel or not), the layer, a scalar pass
      -- after it: the forward function's steps, whose order decides what is shared.
      if p.pre then
        steps[#steps + 1] = { node = n, pre = true, units = sel.pre_units or 0, fn = sel.pre_units ~= nil or nil,
          cost = 2 * sel.scratch / sharing.FLOATS_PER_NS }
      end
      local units = sel.units
      if units == nil and not sel.K and n.layer.units then units = n.layer.units(n) end
      steps[#steps + 1] = { node = n, units = units or 0, fn = units ~= nil or nil, cost = sharing.cost_ns(n, t) }
      if p.post then steps[#steps + 1] = { node = n, units = 0 } end
    end
  end
  return steps
end

-- Step 3b: the shared Winograd layers (plans whose scratch, in the one scratch region of
-- cnnc.passes.plan, ends in one buffer of `wsp` floats per part) all give part k its
-- buffers at the same place, k times the largest wsp. The thread that took
-- part k of one layer takes part k of the next, so it writes into cache lines it wrote
-- itself; with each layer's own stride, part 1 of a layer with smaller buffers wrote into
-- part 0's of the layer before, lines the other core held: R2's conv2d_2 and conv2d_4
-- ran 20-30% longer on their second part than on their first.
local function same_part_buffers(g, threads)
  local stride = 0
  for _, n in ipairs(g.nodes) do
    local p = n.sel and n.sel.parts and n.sel.plan
    if p and p.wsp then stride = math.max(stride, p.wsp) end
  end
  for _, n in ipairs(g.nodes) do
    local p = n.sel and n.sel.parts and n.sel.plan
    if p and p.wsp then
      p.scratch = p.scratch + threads * (stride - p.wsp)
      p.wsp = stride
      n.sel.scratch = p.scratch
    end
  end
end

-- Step 4 (builds with backward code): the kernel of each layer's backward code, the first
-- of the layer module's `backward_kernels` that is eligible (node.sel.bK, its plan bplan
-- and the scratch it needs, bscratch); nil: the layer module's own emit_backward.
local function choose_backward(n, t, opts)
  for _, entry in ipairs(n.layer.backward_kernels or {}) do
    local K = kernel(entry)
    if K.eligible(n, t) then
      local p = K.plan(n, t, { threads = 1, tune = opts.tune, winograd = opts.winograd,
        winograd_weights = opts.winograd_weights })
      if p then
        n.sel.bK, n.sel.bplan, n.sel.bscratch = K, p, p.scratch or 0
        return
      end
    end
  end
end

-- opts: {target (cnnc.targets entry), winograd = 'auto'|'on'|'off', threads = N, fuse = bool,
-- keep_all = bool, backward = bool, tune = cnnc.tune table, winograd_weights = the
-- winograd mode of the weight gradients (default: winograd's; a training build turns
-- winograd off for its forward pass only, whose transformed kernels could not follow the
-- weights, while a weight gradient's Winograd form transforms no weights)}.
function M.run(g, opts)
  opts = opts or {}
  local t = opts.target or require('cnnc.targets').list.generic
  local tune = opts.tune or require('cnnc.tune').resolve()
  local mode = opts.winograd or 'auto'
  for _, m in ipairs({ mode, opts.winograd_weights or mode }) do
    if m ~= 'auto' and m ~= 'on' and m ~= 'off' then
      util.fail(nil, "winograd must be auto, on or off, got '%s'", tostring(m))
    end
  end
  opts = { winograd = mode, threads = opts.threads or 1, fuse = opts.fuse ~= false, keep_all = opts.keep_all,
    backward = opts.backward, tune = tune, winograd_weights = opts.winograd_weights or mode }
  g = ir.clone(g)
  for _, n in ipairs(g.nodes) do
    n.sel = { K = choose(n, t, opts) }
    n.sel.kernel = n.sel.K and n.sel.K.name or 'generic'
    if n.sel.K then replan(n, t, opts, 1) else n.sel.scratch = 0 end
  end
  if opts.fuse and not opts.keep_all and not opts.backward and t.width > 1 then pools_in_registers(g, t, opts) end
  local threads = opts.threads
  if threads > 1 then
    for _, n in ipairs(g.nodes) do replan(n, t, opts, threads) end
    local steps = thread_steps(g, t)
    if require('cnnc.threads').share(steps, threads, tune) then
      for _, st in ipairs(steps) do
        if st.parts then
          if st.pre then st.node.sel.pre_parts = st.parts else st.node.sel.parts = st.parts end
        end
      end
      same_part_buffers(g, threads)
    else
      -- No layer is shared; the team still shares the items of batches.
      for _, n in ipairs(g.nodes) do replan(n, t, opts, 1) end
    end
  end
  if opts.backward and t.width > 1 then
    for _, n in ipairs(g.nodes) do choose_backward(n, t, opts) end
  end
  g.threads = threads
  g.tune = tune
  g.target = t
  return g
end

-- The decisions, one line per layer (`cnnc build --dump select`).
function M.describe(g)
  local lines = { string.format('select: target %s, %d thread%s%s', g.target.name, g.threads,
    g.threads == 1 and '' or 's', (function()
      local d = require('cnnc.tune').describe(g.tune)
      return d ~= '' and ('; tuned: ' .. d) or ''
    end)()) }
  for _, n in ipairs(g.nodes) do
    local sel = n.sel
    local what = n.layer.alias and 'no code (a view of its input)' or (sel.text or sel.kernel)
    local parts = { string.format('%-20s %-18s %s', n.name, n.op, what) }
    local p = sel.plan
    if p and p.describe then parts[#parts + 1] = p.describe end
    if sel.pool then
      parts[#parts + 1] = string.format('pool %s %dx%d %s in registers', sel.pool.name, sel.pool.kh, sel.pool.kw,
        sel.pool.mode)
    end
    if sel.scratch > 0 then parts[#parts + 1] = string.format('scratch %d floats', sel.scratch) end
    if sel.parts then parts[#parts + 1] = string.format('shared in %d parts', sel.parts) end
    if sel.pre_parts then parts[#parts + 1] = string.format('input copy shared in %d parts', sel.pre_parts) end
    if sel.bK then parts[#parts + 1] = 'backward: ' .. (sel.bplan.describe or sel.bK.name) end
    lines[#lines + 1] = table.concat(parts, '; ')
  end
  return table.concat(lines, '\n')
end

return M
