-- SIMD kernels on shapes the golden and random suites do not reach: many input channels
-- split into several chunks (with a remainder), output channels that are not whole vectors,
-- strides, dilation, 'same'/'causal' padding, a batch-norm epilogue kept in registers and
-- activations that need the scalar pass; transposed convolutions (transpose.lua,
-- transpose1d.lua); Winograd layers (tests/simd/winograd.lua, built
-- with winograd 'on', and with 'auto', and 'on' with 2 threads sharing the layers' output
-- channels rather than their tiles; 1-D ones in winograd1d.lua); Conv1D's direct kernel
-- (wide1d.lua); grouped convolutions (grouped.lua, its layers counted on the grouped
-- kernel; an infinity in one group's input in grouped_nan.lua, compared NaN- and
-- infinity-aware; a 1-D one in wide1d.lua); pools
-- computed in the convolution's registers (tests/simd/pooled.lua with each Winograd mode,
-- pooled1d.lua, winograd1d.lua, grouped.lua), counted. Every host target, and every cross target this
-- machine can emulate (neon under qemu-aarch64), compared with the reference interpreter,
-- and builds on several threads with their 1-thread build (bit for bit). The L1 budget is
-- shrunk (tuning knob l1_weights) so chunking happens at these sizes. Then the vector forms of the
-- activations on a sweep of inputs (tests/simd/vmath.lua), and a network of every layer
-- kind checked for scalar-only layers (tests/simd/vectorised.lua), and the backward code of
-- convolutions on every target (tests/simd/backward.lua), and the rounding error of 1x1
-- convolutions over thousands of channels (tests/simd/long_sums.lua).
-- Ends with `simd: N passed, M failed`.
package.path = 'compiler/?.lua;' .. package.path
local cli = require 'cnnc.cli'
local driver = require 'cnnc.driver'
local npy = require 'cnnc.npy'
local runner = require 'cnnc.runner'
local tensor = require 'cnnc.tensor'
local initializers = require 'cnnc.initializers'
local targets = require 'cnnc.targets'
local toolchain = require 'cnnc.toolchain'
local testlib = dofile('tests/lib/testlib.lua')
local pch = dofile('tests/lib/pch.lua')
local util = require 'cnnc.util'


-- Two processes share the builds (testlib.shards): shard K takes every n-th.
local shard, nshards = testlib.shards('tests/simd/run.lua', arg, 'simd')
local work = nshards > 1 and ('build/tests/simd/shard-' .. shard) or 'build/tests/simd'
os.execute('rm -rf ' .. work .. ' && mkdir -p ' .. work)
local job = 0
local function mine()
  job = job + 1
  return (job - 1) % nshards == shard - 1
end
local passed, failed = 0, 0
local cross = testlib.cross_targets('simd')

-- Pools computed in the convolution's registers (cnnc.passes.select) on a SIMD target, per
-- case and Winograd mode: a build that fuses fewer has lost the optimisation.
local POOLS_FUSED = { pooled = { on = 1, off = 3 }, pooled1d = { auto = 3 }, winograd1d = { on = 2 }, grouped = { auto = 1 } }
-- Layers run by the grouped kernel on every SIMD target (on AVX-512 those whose groups are
-- whole AVX2 vectors only: 8-lane vectors), not by their own C.
local GROUPED_SIMD = { grouped = 5, grouped_nan = 3 }
-- Cases whose input holds an infinity (in this channel of its first pixel row's middle).
local NONFINITE = { grouped_nan = 5 }

for _, cv in ipairs({ { 'wide2d' }, { 'wide1d' }, { 'transpose' }, { 'transpose1d' }, { 'winograd', 'on' },
    { 'winograd', 'auto' }, { 'pooled' }, { 'pooled', 'on' }, { 'pooled', 'off' }, { 'pooled1d' }, { 'winograd1d', 'on' },
    { 'grouped' }, { 'grouped_nan' } }) do
  local case, wmode = cv[1], cv[2]
  local model = assert(driver.load('tests/simd/' .. case .. '.lua'))
  local xpath, ref
  local function reference()
    if ref then return end
    local typed = assert(driver.compile(model, { stop = 'shape' })).typed
    local shape = util.copy(typed.input.shape)
    table.insert(shape, 1, 3)
    local x = tensor.new(shape)
    local r = initializers.rng(11, case)
    for i = 0, x.n - 1 do x.data[i] = r:uniform() * 2 - 1 end
    if NONFINITE[case] then x.data[math.floor(shape[3] / 2) * shape[4] + NONFINITE[case]] = math.huge end
    xpath = work .. '/' .. case .. (wmode or '') .. '.npy'
    assert(npy.write(xpath, x))
    ref = assert(runner.run_batch(typed, x))
  end
  local variants = {}
  for _, t in ipairs(targets.host_list()) do variants[#variants + 1] = { t, 1 } end
  variants[#variants + 1] = { variants[#variants][1], 3 }
  for _, t in ipairs(cross) do
    variants[#variants + 1] = { t, 1 }
    variants[#variants + 1] = { t, 3 }
  end
  if wmode then -- every SIMD target on 2 threads too
    for _, t in ipairs(targets.host_list()) do
      if t ~= 'generic' then variants[#variants + 1] = { t, 2 } end
    end
  end
  if case == 'winograd' and wmode == 'on' then
    -- Winograd layers sharing their output channels between threads rather than their tiles
    -- (tuning knob wino_ksplit: from any size of U here); on 4-lane targets some layers have
    -- enough blocks of output vectors to do so
    for _, t in ipairs(targets.host_list()) do
      if t ~= 'generic' then variants[#variants + 1] = { t, 2, true } end
    end
    for _, t in ipairs(cross) do variants[#variants + 1] = { t, 2, true } end
  end
  -- A shard runs a case's builds of several thread counts for a target (whose bits must
  -- agree) together.
  local single = {} -- target -> its 1-thread output: other thread counts must give the same bits
  local owner = {}
  for _, tv in ipairs(variants) do
    if owner[tv[1]] == nil then owner[tv[1]] = mine() end
  end
  for _, tv in ipairs(variants) do if owner[tv[1]] then
    reference()
    local t, threads, ksplit = tv[1], tv[2], tv[3]
    local dir = string.format('%s/%s%s_%s_%d%s', work, case, wmode or '', t, threads, ksplit and 'k' or '')
    os.execute('mkdir -p ' .. dir)
    local tune = { 'l1_weights=4000' }
    if threads > 1 then tune = { 'l1_weights=4000', unpack(testlib.SHARE_ALL) } end
    if ksplit then tune[#tune + 1] = 'wino_ksplit=1' end
    local res, err = driver.compile(model, { target = t, threads = threads, winograd = wmode, tune = tune })
    local ok, msg = res ~= nil, err and util.format_error(err)
    if ok and ksplit and targets.get(t).width == 4 then
      local n = 0
      for _, node in ipairs(res.planned.nodes) do if node.sel and node.sel.plan and node.sel.plan.ksplit then n = n + 1 end end
      ok, msg = n > 0, 'no layer shares its output channels between threads'
    end
    local want = POOLS_FUSED[case] and POOLS_FUSED[case][wmode or 'auto']
    if ok and want and t ~= 'generic' then
      local n = 0
      for _, node in ipairs(res.planned.nodes) do if node.sel and node.sel.pool then n = n + 1 end end
      ok, msg = n == want, string.format('%d pools computed in convolution registers, expected %d', n, want)
    end
    if ok and GROUPED_SIMD[case] and t ~= 'generic' then
      local n = 0
      for _, node in ipairs(res.planned.nodes) do if node.sel and node.sel.kernel == 'grouped' then n = n + 1 end end
      ok, msg = n == GROUPED_SIMD[case], string.format('runs SIMD code on %s: %d layers on the grouped kernel, expected %d',
        t, n, GROUPED_SIMD[case])
    end
    if ok then
      assert(driver.write_c(res, dir))
      -- -O0 on this machine: compiling is most of this suite's time and the kernels give the
      -- same bits at any level (C99: no contraction of multiply-adds; golden and differential
      -- build with -O1); -O1 for an emulated target, where running is slow
      local level = toolchain.run_prefix(res.target) == '' and '-O0' or '-O1'
      local flags = level .. ' -Wall -Wextra -Werror -pedantic'
      local exe, cerr = cli.cc_executable(dir, res.planned.name, toolchain.cc(res.target),
        flags .. pch.flags(toolchain.cc(res.target), '-std=c99 ' .. flags, res.target))
      ok, msg = exe ~= nil, cerr
      if ok then
        local st = os.execute(string.format('%s%s %s -o %s/out.npy > %s/run.log 2>&1', toolchain.run_prefix(res.target),
          exe, xpath, dir, dir))
        local got = (st == 0 or st == true) and npy.read(dir .. '/out.npy')
        ok, msg = got ~= nil, 'run failed'
        if got and NONFINITE[case] then
          msg = testlib.compare_special(got, ref, 1e-4)
          ok = msg == nil
          if threads == 1 then single[t] = got
          elseif ok and single[t] then
            msg = testlib.compare_special(got, single[t], 0)
            ok, msg = msg == nil, 'differs from the 1-thread build: ' .. tostring(msg)
          end
        elseif got then
          local e, m = dofile('tests/lib/testlib.lua').max_err(got, ref)
          ok, msg = e <= 1e-4 * (1 + m), string.format('max error %g (max |ref| %g)', e, m)
          if threads == 1 then single[t] = got
          elseif ok and single[t] then
            local d = dofile('tests/lib/testlib.lua').max_err(got, single[t])
            ok, msg = d == 0, string.format('differs from the 1-thread build by up to %g', d)
          end
        end
      end
    end
    if ok then passed = passed + 1 else failed = failed + 1; print(string.format('FAIL %s%s %s threads %d%s: %s', case, wmode and (' winograd ' .. wmode) or '', t, threads, ksplit and ' (output channels shared)' or '', msg)) end
  end end
end
if mine() then
  local p, f = dofile('tests/simd/vmath.lua')(work, os.getenv('CC') or 'cc', cross)
  passed, failed = passed + p, failed + f
  p, f = dofile('tests/simd/vectorised.lua')(work)
  passed, failed = passed + p, failed + f
end
if mine() then
  local p, f = dofile('tests/simd/long_sums.lua')(work)
  passed, failed = passed + p, failed + f
end
if mine() then
  local p, f = dofile('tests/simd/backward.lua')(work, cross)
  passed, failed = passed + p, failed + f
end
print(string.format('simd: %d passed, %d failed', passed, failed))
os.exit(failed == 0 and 0 or 1)
