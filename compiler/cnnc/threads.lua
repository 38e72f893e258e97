-- cnnc.threads: how a --threads build splits a prediction among its threads.
--
-- The emitter hands over the forward function's steps in order: plain calls, and calls of
-- functions taking (out, in, part, parts) with how many parts they can be cut into and an
-- estimated single-thread time. This module decides which of them to share and into how
-- many parts, and writes the body of the team function every thread runs (the C helpers
-- it calls are in templates/model.c, section `threads`). It emits no layer code.

local report = require 'cnnc.report'
local util = require 'cnnc.util'

local M = {}

-- Which layers a --threads build shares among its threads. Sharing a layer costs its
-- threads a wait at its end for the last part (STEP_NS with the part counters), and a
-- prediction that shares any layer starts and joins its threads (10-25 us measured, more
-- on a busy machine), so only layers that take long enough alone are shared, and only if
-- the whole prediction saves more than TEAM_MIN_NS; a model with nothing worth sharing gets the single-thread
-- forward function (and no pthreads). Times are rough single-thread estimates:
-- multiply-adds at MACS_PER_NS_LANE per vector lane of the target, plus the floats a layer
-- reads (weights too) and writes at FLOATS_PER_NS (R2's and R4's layers measured on the
-- 2-core AVX-512 machine: within a factor of 2). cnnc.tune's share_min_ns and team_min_ns
-- are the thresholds (0: share whatever can be shared; the test suites do, through
-- tests/lib/testlib.lua). team_min_ns is 250 us: a new thread may wait long for a CPU on a
-- busy machine (R4, 350 us alone, about 170 us to gain: 2 threads took 230-300 us at best
-- but a median of 380-690 us against 355-370 on the loaded development machine), so a
-- prediction must gain clearly more than that.
M.MACS_PER_NS_LANE = 4.5
M.FLOATS_PER_NS = 8
M.STEP_NS = 5000
-- Parts of a shared layer: enough that a delayed thread costs little (about PART_NS each),
-- as many as the layer offers at most.
M.PART_NS = 20000
-- A waiting thread spins SPINS times (a pause instruction, about PAUSE_NS) before it
-- sleeps on a condition variable: about 80 us, long enough to span the gap between two
-- layers and between predictions in a loop, since waking a sleeping thread costs tens of
-- microseconds on a virtual machine. On the quiet 2-core machine R2's team went from 1.22x
-- (50 spins) to 1.6x over one thread (medians; 1.78x on minimums), as ONNX Runtime's and
-- OpenMP's spinning thread pools do. The price is paid on a loaded machine, where a spinning
-- thread keeps a CPU from the thread it waits for (a two-thread barrier took a median
-- 6-7 us with 0-30 spins, 73-87 us with 2000).
M.SPINS = 2000
M.PAUSE_NS = 40

function M.cost_ns(node, t)
  local lanes = t and t.width or 1
  local floats = util.prod(node.shape) + (node.in_shape and util.prod(node.in_shape) or 0) + report.params(node)
  return report.macs(node) / (M.MACS_PER_NS_LANE * lanes) + floats / M.FLOATS_PER_NS
end

-- Marks each step worth sharing (step.parts = the parts to cut it into); true if any is.
-- steps: the forward function's steps in order, each {fn = true when it takes (part,
-- parts), units (the most parts), cost (ns on one thread)}; tune: cnnc.tune's knobs
-- (share_min_ns, team_min_ns).
function M.share(steps, threads, tune)
  if threads < 2 then return false end
  local share_min, team_min = tune.share_min_ns, tune.team_min_ns
  local saved, any = 0, false
  for _, st in ipairs(steps) do
    if st.fn and st.units >= 2 and st.cost >= share_min then
      st.parts = math.max(2, math.min(st.units, math.max(threads, math.floor(st.cost / M.PART_NS))))
      saved = saved + st.cost * (1 - 1 / math.min(threads, st.parts)) - M.STEP_NS
      any = true
    end
  end
  if not any or saved < team_min then
    for _, st in ipairs(steps) do st.parts = nil end
    return false
  end
  -- A step alone between two shared ones: run by thread 0, it keeps the others waiting;
  -- shared, it costs one more wait for a last part. Share it unless it is tiny (a padded
  -- copy between two convolutions, say).
  for i = 2, #steps - 1 do
    local st = steps[i]
    if st.fn and not st.parts and st.units >= 2 and st.cost >= share_min / 10
        and steps[i - 1].parts and steps[i + 1].parts then
      st.parts = math.min(st.units, threads)
    end
  end
  return true
end

local function serial_call(st)
  if st.call then return st.call end
  return string.format('%s(%s, %s, %s, 0, 1); /* %s */', st.fn, st.out, st.inp, st.work or 'NULL', st.what)
end

function M.serial_calls(steps)
  local calls = {}
  for i, st in ipairs(steps) do calls[i] = serial_call(st) end
  return calls
end

-- The team function's body: shared steps run by all threads (each numbered, for its
-- counters), runs of the others by thread 0 alone, after which it lets the others on.
-- Returns the lines, the number of shared steps and of thread 0's groups followed by a
-- hand-off (cnnc_open).
function M.team_calls(steps)
  local calls, alone, shared, groups = {}, false, 0, 0
  local function close()
    if not alone then return end
    groups = groups + 1
    calls[#calls + 1] = '}'
    calls[#calls + 1] = string.format('cnnc_open(team, thread, %d);', groups)
    alone = false
  end
  for _, st in ipairs(steps) do
    if st.parts then
      close()
      calls[#calls + 1] = string.format('cnnc_share(team, %d, thread, %s, %s, %s, %s, %d); /* %s, %d parts */',
        shared, st.fn, st.out, st.inp, st.work or 'NULL', st.parts, st.what, st.parts)
      shared = shared + 1
    else
      if not alone then calls[#calls + 1] = 'if (thread == 0) {'; alone = true end
      calls[#calls + 1] = serial_call(st)
    end
  end
  -- Nothing follows the last group: the others need not wait for it.
  if alone then calls[#calls + 1] = '}' end
  return calls, shared, groups
end

return M
