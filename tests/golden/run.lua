-- Golden-output suite: every case in tests/golden/models, with the weights, input and
-- PyTorch-computed output in tests/golden/data/<case>/, is checked three ways:
--   1. the reference interpreter on the typed graph matches expected.npy (1e-5 relative);
--   2. the compiled model (fused) matches it;          } max abs error <= 1e-4 * (1 + max |expected|),
--   3. the compiled model with --no-fuse matches it.   } built with -Wall -Wextra -Werror -pedantic
-- and every build's C holds none of the generator's leftovers (tests/lib/leftovers.lua).
-- 2 runs for every target given (default: generic and the best SIMD target this CPU has);
-- 3 for generic only. Each target of another architecture this machine can emulate (neon, built
-- with aarch64-linux-gnu-gcc and run under qemu-aarch64; cnnc.toolchain) runs 2 as a test
-- of its own, `<case> [neon]`, alternately with its weights in a blob and on two threads.
-- usage: luajit tests/golden/run.lua [--jobs N] [--cc CC] [--targets a,b] [--cross a,b] [case ...]
-- (--cross '' runs no cross target.) Prints one line per failure and ends with
-- `golden: N passed, M failed`.

package.path = 'compiler/?.lua;' .. package.path
local cli = require 'cnnc.cli'
local driver = require 'cnnc.driver'
local npy = require 'cnnc.npy'
local runner = require 'cnnc.runner'
local util = require 'cnnc.util'

local targets = require 'cnnc.targets'
local toolchain = require 'cnnc.toolchain'
local testlib = dofile('tests/lib/testlib.lua')
local leftovers = dofile('tests/lib/leftovers.lua')
local pch = dofile('tests/lib/pch.lua')

-- Two processes share the cases (testlib.shards): one generates C in Lua while the other
-- compiles. Shard K takes every n-th case.
local shard, nshards = testlib.shards('tests/golden/run.lua', arg, 'golden')

local jobs, cc, only = 2, os.getenv('CC') or 'cc', {}
-- generic and the best SIMD target of this CPU (the simd suite runs every target on every
-- kernel, the differential suite each target in turn)
local target_list = { 'generic' }
if targets.native() ~= 'generic' then target_list[2] = targets.native() end
local cross_list
local i = 1
while i <= #arg do
  if arg[i] == '--jobs' then jobs = tonumber(arg[i + 1]); i = i + 1
  elseif arg[i] == '--cc' then cc = arg[i + 1]; i = i + 1
  elseif arg[i] == '--targets' then
    target_list = {}
    for t in arg[i + 1]:gmatch('[^,]+') do target_list[#target_list + 1] = t end
    i = i + 1
  elseif arg[i] == '--cross' then
    cross_list = {}
    for t in (arg[i + 1] or ''):gmatch('[^,]+') do cross_list[#cross_list + 1] = t end
    i = i + 1
  else only[#only + 1] = arg[i] end
  i = i + 1
end

local work = nshards > 1 and ('build/tests/golden/shard-' .. shard) or 'build/tests/golden'
os.execute('rm -rf ' .. work .. ' && mkdir -p ' .. work)

cross_list = cross_list or testlib.cross_targets('golden')
local max_err = testlib.max_err

local cases = {}
do
  local all = only
  if #all == 0 then
    all = {}
    for f in io.popen('ls tests/golden/models'):lines() do all[#all + 1] = (f:gsub('%.lua$', '')) end
  end
  for k, case in ipairs(all) do
    if (k - 1) % nshards == shard - 1 then cases[#cases + 1] = case end
  end
end

-- The tests: every case, and every case once more per cross target.
local tests = {}
for _, case in ipairs(cases) do tests[#tests + 1] = case end
for _, t in ipairs(cross_list) do
  for _, case in ipairs(cases) do tests[#tests + 1] = case .. ' [' .. t .. ']' end
end

-- Stage 1: compile every case twice and check the reference interpreter.
local failures, builds = {}, {}
local function fail(test, msg) failures[test] = failures[test] or msg end
for ci, case in ipairs(cases) do
  local data = 'tests/golden/data/' .. case
  local model, err = driver.load('tests/golden/models/' .. case .. '.lua')
  if not model then
    fail(case, util.format_error(err))
    for _, t in ipairs(cross_list) do fail(case .. ' [' .. t .. ']', util.format_error(err)) end
  else
    local x = assert(npy.read(data .. '/input.npy'))
    local want = assert(npy.read(data .. '/expected.npy'))
    local variants = { { 'generic', false } }
    for _, t in ipairs(target_list) do variants[#variants + 1] = { t, true } end
    local n_host = #variants
    for _, t in ipairs(cross_list) do variants[#variants + 1] = { t, true, test = case .. ' [' .. t .. ']' } end
    for k, v in ipairs(variants) do
      local variant = v[1] .. (v[2] and '-fused' or '-unfused')
      -- The last host target keeps its weights in a linked blob, the others in C literals,
      -- and splits its layers across two threads (all it can, however small); a cross
      -- target does one or the other.
      local last = k == n_host
      local blob, threads = last, last and 2 or 1
      if k > n_host then blob, threads = ci % 2 == 0, ci % 2 == 1 and 2 or 1 end
      local r, cerr = driver.compile(model, { weights = data, fuse = v[2], target = v[1], blob = blob, threads = threads,
        tune = threads > 1 and testlib.SHARE_ALL or nil })
      if not r then fail(v.test or case, util.format_error(cerr)) end
      if r then
        local lo = leftovers.find(r.c, 3)
        if #lo > 0 then fail(v.test or case, v[1] .. ': leftovers in the generated C:\n  ' .. table.concat(lo, '\n  ')) end
      end
      if r and k == 1 then
        local y = runner.run_batch(r.typed, x)
        local e, m = max_err(y, want)
        if not (e <= 1e-5 * (1 + m)) then fail(case, string.format('reference interpreter: max error %g', e)) end
      end
      if r then
        local dir = work .. '/' .. case .. '/' .. variant
        os.execute('mkdir -p ' .. dir)
        assert(driver.write_c(r, dir))
        builds[#builds + 1] = { case = case, test = v.test or case, dir = dir, name = r.planned.name, want = want,
          target = r.target }
      end
    end
  end
end

-- Stage 2: build all executables in parallel with strict warnings (a cross target with its
-- own compiler and runtime objects).
local cflags = '-O1 -Wall -Wextra -Werror -pedantic'
local objs_of = {}
local function objs_for(bcc)
  if not objs_of[bcc] then
    local odir = work .. '/runtime-' .. (#objs_of + 1)
    objs_of[#objs_of + 1] = odir
    os.execute('mkdir -p ' .. odir)
    objs_of[bcc] = assert(cli.runtime_objects(odir, bcc, cflags))
  end
  return objs_of[bcc]
end
local mk = {}
local exes = {}
for k, b in ipairs(builds) do
  local exe = b.dir .. '/' .. b.name
  b.cc = toolchain.is_cross(b.target) and toolchain.cc(b.target) or cc
  assert(cli.blob_object(b.dir, b.name, b.cc) ~= nil)
  exes[k] = exe
  local flags = cflags .. pch.flags(b.cc, '-std=c99 ' .. cflags, b.target)
  mk[#mk + 1] = exe .. ':\n\t@' .. cli.cc_command(b.dir, b.name, b.cc, flags, exe, objs_for(b.cc))
    .. ' > ' .. b.dir .. '/cc.log 2>&1 || true'
end
table.insert(mk, 1, 'all: ' .. table.concat(exes, ' '))
local f = assert(io.open(work .. '/build.mk', 'w'))
f:write(table.concat(mk, '\n'), '\n')
f:close()
os.execute(string.format('make -s -j%d -f %s all', jobs, work .. '/build.mk'))

-- Stage 3: run and compare.
for _, b in ipairs(builds) do
  local exe = b.dir .. '/' .. b.name
  local out = b.dir .. '/out.npy'
  local log = util.read_file(b.dir .. '/cc.log') or ''
  if not io.open(exe, 'rb') then
    fail(b.test, 'C build failed (' .. b.dir .. '):\n' .. log)
  elseif log:match('%S') then
    fail(b.test, 'compiler warnings (' .. b.dir .. '):\n' .. log)
  else
    local ok = os.execute(string.format('%s%s tests/golden/data/%s/input.npy -o %s > %s/run.log 2>&1',
      toolchain.run_prefix(b.target), exe, b.case, out, b.dir))
    local got = (ok == 0 or ok == true) and npy.read(out)
    if not got then
      fail(b.test, 'executable failed: ' .. (util.read_file(b.dir .. '/run.log') or ''))
    else
      local e, m = max_err(got, b.want)
      if not (e <= 1e-4 * (1 + m)) then
        fail(b.test, string.format('%s: max abs error %g (max |expected| %g)', b.dir, e, m))
      end
    end
  end
end

local passed, failed = 0, 0
for _, test in ipairs(tests) do
  if failures[test] then
    failed = failed + 1
    print('FAIL ' .. test .. ': ' .. failures[test])
  else
    passed = passed + 1
  end
end
print(string.format('golden: %d passed, %d failed', passed, failed))
os.exit(failed == 0 and 0 or 1)
