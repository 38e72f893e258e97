-- Golden-output suite: every case in tests/golden/models, with the weights, input and
-- PyTorch-computed output in tests/golden/data/<case>/, is checked three ways:
--   1. the reference interpreter on the typed graph matches expected.npy (1e-5 relative);
--   2. the compiled model (fused) matches it;          } max abs error <= 1e-4 * (1 + max |expected|),
--   3. the compiled model with --no-fuse matches it.   } built with -Wall -Wextra -Werror -pedantic
-- 2 runs for every target given (default: generic and every SIMD target this CPU has); 3 for
-- generic only.
-- usage: luajit tests/golden/run.lua [--jobs N] [--cc CC] [--targets a,b] [case ...]
-- Prints one line per failure and ends with `golden: N passed, M failed`.

package.path = 'compiler/?.lua;' .. package.path
local cli = require 'cnnc.cli'
local driver = require 'cnnc.driver'
local npy = require 'cnnc.npy'
local runner = require 'cnnc.runner'
local util = require 'cnnc.util'

local targets = require 'cnnc.targets'

local jobs, cc, only = 2, os.getenv('CC') or 'cc', {}
local target_list = targets.host_list()
local i = 1
while i <= #arg do
  if arg[i] == '--jobs' then jobs = tonumber(arg[i + 1]); i = i + 1
  elseif arg[i] == '--cc' then cc = arg[i + 1]; i = i + 1
  elseif arg[i] == '--targets' then
    target_list = {}
    for t in arg[i + 1]:gmatch('[^,]+') do target_list[#target_list + 1] = t end
    i = i + 1
  else only[#only + 1] = arg[i] end
  i = i + 1
end

local work = 'build/tests/golden'
os.execute('rm -rf ' .. work .. ' && mkdir -p ' .. work)

local testlib = dofile('tests/lib/testlib.lua')
local max_err = testlib.max_err

local cases = {}
if #only > 0 then cases = only else
  for f in io.popen('ls tests/golden/models'):lines() do cases[#cases + 1] = (f:gsub('%.lua$', '')) end
end

-- Stage 1: compile every case twice and check the reference interpreter.
local failures, builds = {}, {}
local function fail(case, msg) failures[case] = failures[case] or msg end
for _, case in ipairs(cases) do
  local data = 'tests/golden/data/' .. case
  local model, err = driver.load('tests/golden/models/' .. case .. '.lua')
  if not model then fail(case, util.format_error(err)) else
    local x = assert(npy.read(data .. '/input.npy'))
    local want = assert(npy.read(data .. '/expected.npy'))
    local variants = { { 'generic', false } }
    for _, t in ipairs(target_list) do variants[#variants + 1] = { t, true } end
    for k, v in ipairs(variants) do
      local variant = v[1] .. (v[2] and '-fused' or '-unfused')
      -- The last target keeps its weights in a linked blob, the others in C literals, and
      -- splits its layers across two threads (all it can, however small).
      local last = k == #variants
      local function compile()
        return driver.compile(model, { weights = data, fuse = v[2], target = v[1], blob = last,
          threads = last and 2 or 1 })
      end
      local r, cerr
      if last then r, cerr = testlib.share_all(compile) else r, cerr = compile() end
      if not r then fail(case, util.format_error(cerr)) break end
      if k == 1 then
        local y = runner.run_batch(r.typed, x)
        local e, m = max_err(y, want)
        if not (e <= 1e-5 * (1 + m)) then fail(case, string.format('reference interpreter: max error %g', e)) end
      end
      local dir = work .. '/' .. case .. '/' .. variant
      os.execute('mkdir -p ' .. dir)
      assert(driver.write_c(r, dir))
      builds[#builds + 1] = { case = case, dir = dir, name = r.planned.name, want = want }
    end
  end
end

-- Stage 2: build all executables in parallel with strict warnings.
local cflags = '-O1 -Wall -Wextra -Werror -pedantic'
local objs = assert(cli.runtime_objects(work, cc, cflags))
local mk = {}
local targets = {}
for k, b in ipairs(builds) do
  local exe = b.dir .. '/' .. b.name
  assert(cli.blob_object(b.dir, b.name, cc) ~= nil)
  targets[k] = exe
  mk[#mk + 1] = exe .. ':\n\t@' .. cli.cc_command(b.dir, b.name, cc, cflags, exe, objs)
    .. ' > ' .. b.dir .. '/cc.log 2>&1 || true'
end
table.insert(mk, 1, 'all: ' .. table.concat(targets, ' '))
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
    fail(b.case, 'C build failed (' .. b.dir .. '):\n' .. log)
  elseif log:match('%S') then
    fail(b.case, 'compiler warnings (' .. b.dir .. '):\n' .. log)
  else
    local ok = os.execute(string.format('%s tests/golden/data/%s/input.npy -o %s > %s/run.log 2>&1',
      exe, b.case, out, b.dir))
    local got = (ok == 0 or ok == true) and npy.read(out)
    if not got then
      fail(b.case, 'executable failed: ' .. (util.read_file(b.dir .. '/run.log') or ''))
    else
      local e, m = max_err(got, b.want)
      if not (e <= 1e-4 * (1 + m)) then
        fail(b.case, string.format('%s: max abs error %g (max |expected| %g)', b.dir, e, m))
      end
    end
  end
end

local passed, failed = 0, 0
for _, case in ipairs(cases) do
  if failures[case] then
    failed = failed + 1
    print('FAIL ' .. case .. ': ' .. failures[case])
  else
    passed = passed + 1
  end
end
print(string.format('golden: %d passed, %d failed', passed, failed))
os.exit(failed == 0 and 0 or 1)
