-- Backward code on SIMD targets (cnnc.simd.conv_backward: a convolution's input gradient as
-- a forward convolution of the output gradient, its weight gradient in register tiles):
-- tests/simd/convgrad.lua, convgrad1d.lua and convgradw.lua built with --backward for every host target and
-- every cross target this machine can emulate, the executable's --grad-output run on a
-- batch compared with the reference interpreter's backward pass (input gradient and every
-- weight gradient), and a 2-thread build with its 1-thread build (the same bits). The L1
-- budget is shrunk (l1_weights) so the input-gradient convolution works in chunks, and the
-- Winograd weight gradients' budget (wdw_block) so they work in chunks of tile rows;
-- tests/simd/convgradw.lua is built with winograd 'on', so every layer's kernel gradient is
-- Winograd (whatever the cost model would pick for so small a network).
-- Called by tests/simd/run.lua: returns passed, failed.

local cli = require 'cnnc.cli'
local driver = require 'cnnc.driver'
local initializers = require 'cnnc.initializers'
local npy = require 'cnnc.npy'
local runner = require 'cnnc.runner'
local targets = require 'cnnc.targets'
local tensor = require 'cnnc.tensor'
local toolchain = require 'cnnc.toolchain'
local util = require 'cnnc.util'
local testlib = dofile('tests/lib/testlib.lua')

return function(work, cross)
  local passed, failed = 0, 0
  local function check(name, ok, msg)
    if ok then passed = passed + 1 else failed = failed + 1; print('FAIL backward ' .. name .. ': ' .. tostring(msg)) end
  end
  for _, case in ipairs({ 'convgrad', 'convgrad1d', 'convgradw' }) do
    local model = assert(driver.load('tests/simd/' .. case .. '.lua'))
    local typed = assert(driver.compile(model, { stop = 'shape' })).typed
    local r = initializers.rng(12, case)
    local function random(shape)
      local t = tensor.new(shape)
      for i = 0, t.n - 1 do t.data[i] = r:uniform() * 2 - 1 end
      return t
    end
    local xs, ys = util.copy(typed.input.shape), util.copy(typed.nodes[#typed.nodes].shape)
    table.insert(xs, 1, 3)
    table.insert(ys, 1, 3)
    local x, dy = random(xs), random(ys)
    local xpath, dypath = work .. '/' .. case .. '_x.npy', work .. '/' .. case .. '_dy.npy'
    assert(npy.write(xpath, x))
    assert(npy.write(dypath, dy))
    local want_dx, want, order = runner.backward_batch(typed, x, dy)
    assert(want_dx, want and util.format_error(want))
    local variants = {}
    for _, t in ipairs(targets.host_list()) do variants[#variants + 1] = { t, 1 } end
    variants[#variants + 1] = { variants[#variants][1], 2 }
    for _, t in ipairs(cross) do variants[#variants + 1] = { t, 1 } end
    local single = {}
    for _, v in ipairs(variants) do
      local t, threads = v[1], v[2]
      local name = string.format('%s %s threads %d', case, t, threads)
      local dir = string.format('%s/%s_backward_%s_%d', work, case, t, threads)
      os.execute('mkdir -p ' .. dir)
      local res, err = driver.compile(model, { target = t, threads = threads, backward = true,
        tune = { 'l1_weights=4000', 'wdw_block=20000' }, winograd = case == 'convgradw' and 'on' or nil })
      local ok, msg = res ~= nil, err and util.format_error(err)
      if ok and t ~= 'generic' then
        -- every convolution's weight gradient (and the input gradient of every stride-1 one)
        -- in SIMD tiles
        for _, n in ipairs(res.planned.nodes) do
          if n.op:match('^Conv') and not (n.sel and n.sel.bK) then ok, msg = false, n.name .. ' has no SIMD backward' end
          -- convgradw: every kernel gradient as Winograd, in several chunks
          if ok and case == 'convgradw' and n.op:match('^Conv') and not (n.sel.bplan.wdw and n.sel.bplan.wdw.chunks > 1) then
            ok, msg = false, n.name .. ' has no Winograd kernel gradient in chunks'
          end
        end
      end
      if ok then
        assert(driver.write_c(res, dir))
        local exe, cerr = cli.cc_executable(dir, res.planned.name, toolchain.cc(res.target),
          (toolchain.run_prefix(res.target) == '' and '-O0' or '-O1') .. ' -Wall -Wextra -Werror -pedantic'
          .. (threads > 1 and ' -pthread' or ''))
        ok, msg = exe ~= nil, cerr
        if ok then
          local st = os.execute(string.format('%s%s %s --grad-output %s -o %s/dx.npy --weight-grads %s/g > %s/run.log 2>&1',
            toolchain.run_prefix(res.target), exe, xpath, dypath, dir, dir, dir))
          ok, msg = st == 0 or st == true, 'run failed: ' .. tostring(util.read_file(dir .. '/run.log'))
        end
      end
      if ok then
        local got = { dx = npy.read(dir .. '/dx.npy') }
        local e, m = testlib.max_err(got.dx, want_dx)
        ok, msg = e <= 1e-4 * (1 + m), string.format('input gradient: max error %g (max %g)', e, m)
        for _, w in ipairs(order) do
          got[w.key] = npy.read(dir .. '/g/' .. w.key .. '.npy')
          if ok and not got[w.key] then ok, msg = false, 'no ' .. w.key end
          if ok then
            e, m = testlib.max_err(got[w.key], want[w.key])
            ok, msg = e <= 1e-4 * (1 + m), string.format('%s: max error %g (max %g)', w.key, e, m)
          end
        end
        if ok and threads == 1 then single[t] = got end
        if ok and threads > 1 and single[t] then
          for k, g in pairs(got) do
            local d = testlib.max_err(g, single[t][k])
            if d ~= 0 then ok, msg = false, string.format('%s differs from the 1-thread build by up to %g', k, d) end
          end
        end
      end
      check(name, ok, msg)
    end
  end
  return passed, failed
end
