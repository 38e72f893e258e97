-- Real networks exported from PyTorch to ONNX (tests/golden/onnx, made by
-- tests/golden/make_onnx_golden.py): each is built through the command line for the
-- generic target (fused and --no-fuse) and the host's best SIMD target, run on its
-- input.npy (a batch of 2, NCHW) and compared with PyTorch's float64 outputs:
-- max |got - expected| <= 1e-4 * (1 + max |expected|). The reference interpreter is
-- checked too on the models small enough for it (fewer than 60 M multiply-adds); those are
-- also built for each target of another architecture this machine can emulate (neon,
-- cross-compiled by cnnc build and run under qemu-aarch64).
-- Ends with `onnx-models: N passed, M failed`.
-- usage: luajit tests/onnx/models.lua [--jobs N] [model ...]

package.path = 'compiler/?.lua;' .. package.path
local cli = require 'cnnc.cli'
local driver = require 'cnnc.driver'
local npy = require 'cnnc.npy'
local report = require 'cnnc.report'
local runner = require 'cnnc.runner'
local targets = require 'cnnc.targets'
local toolchain = require 'cnnc.toolchain'
local util = require 'cnnc.util'
local testlib = dofile('tests/lib/testlib.lua')

local jobs, only = 2, {}
local i = 1
while i <= #arg do
  if arg[i] == '--jobs' then jobs = tonumber(arg[i + 1]); i = i + 1 else only[arg[i]] = true end
  i = i + 1
end

local root = 'tests/golden/onnx'
local work = 'build/tests/onnx-models'
os.execute('rm -rf ' .. work .. ' && mkdir -p ' .. work)
local passed, failed = 0, 0

local function check(name, ok, msg)
  if ok then passed = passed + 1; print('PASS ' .. name)
  else failed = failed + 1; print('FAIL ' .. name .. ': ' .. tostring(msg)) end
end

local max_err = testlib.max_err

local models = {}
for l in io.popen('ls ' .. root):lines() do
  if l ~= 'manifest.json' and (next(only) == nil or only[l]) then models[#models + 1] = l end
end

local best = targets.native()
local variants = { { 'generic', '' }, { 'generic', '--no-fuse' } }
if best ~= 'generic' then variants[#variants + 1] = { best, '' } end
for _, t in ipairs(testlib.cross_targets('onnx-models')) do variants[#variants + 1] = { t, '', small_only = true } end

-- Multiply-adds of each model (nil if it does not import; that is reported below).
local macs_of = {}
for _, m in ipairs(models) do
  local model = driver.load(root .. '/' .. m .. '/model.onnx')
  local r = model and driver.compile(model, { stop = 'shape' })
  if r then macs_of[m] = select(2, report.totals(r.typed)) end
end
local function small(m) return macs_of[m] and macs_of[m] < 60e6 end

-- Build every variant through `cnnc build` (C files first, executables two at a time).
local builds, mk, all = {}, {}, {}
for _, m in ipairs(models) do
  local src = root .. '/' .. m .. '/model.onnx'
  for _, v in ipairs(variants) do if small(m) or not v.small_only then
    local label = m .. ' ' .. v[1] .. (v[2] ~= '' and ' unfused' or '')
    local dir = string.format('%s/%s/%s%s', work, m, v[1], v[2] ~= '' and '-unfused' or '')
    local cmd = string.format('bin/cnnc build %s -o %s --name %s --target %s %s --cflags "-O2 -Wall -Wextra -Werror -pedantic"',
      src, dir, m, v[1], v[2])
    builds[#builds + 1] = { model = m, label = label, dir = dir, run = toolchain.run_prefix(targets.get(v[1])) }
    all[#all + 1] = dir .. '/.built'
    mk[#mk + 1] = string.format('%s/.built:\n\t@mkdir -p %s && (%s > %s.log 2>&1 && touch $@) || true', dir, dir, cmd, dir)
  end end
end
table.insert(mk, 1, 'all: ' .. table.concat(all, ' '))
local f = assert(io.open(work .. '/build.mk', 'w'))
f:write(table.concat(mk, '\n'), '\n')
f:close()
os.execute(string.format('make -s -j%d -f %s all', jobs, work .. '/build.mk'))

for _, b in ipairs(builds) do
  local want = assert(npy.read(root .. '/' .. b.model .. '/expected.npy'))
  local exe = b.dir .. '/' .. b.model
  if not io.open(b.dir .. '/.built', 'r') then
    check(b.label .. ' builds', false, util.read_file(b.dir .. '.log'))
  else
    local out = b.dir .. '/out.npy'
    local rc = os.execute(string.format('%s%s %s/%s/input.npy -o %s > %s/run.log 2>&1', b.run, exe, root, b.model, out,
      b.dir))
    local got = (rc == 0 or rc == true) and npy.read(out)
    if not got then check(b.label, false, util.read_file(b.dir .. '/run.log'))
    elseif not util.shape_eq(got.shape, want.shape) then
      check(b.label, false, string.format('output shape %s, expected %s', util.shape_str(got.shape), util.shape_str(want.shape)))
    else
      local e, m = max_err(got, want)
      check(string.format('%s (max error %.2g, max |expected| %.3g)', b.label, e, m), e <= 1e-4 * (1 + m),
        string.format('max abs error %g > %g', e, 1e-4 * (1 + m)))
    end
  end
end

-- The reference interpreter, where it takes seconds, not minutes.
for _, m in ipairs(models) do
  local model, err = driver.load(root .. '/' .. m .. '/model.onnx')
  local r = model and driver.compile(model, { stop = 'shape' })
  if not r then check(m .. ' imports', false, util.format_error(err))
  else
    local _, macs = report.totals(r.typed)
    if macs < 60e6 then
      local x = assert(npy.read(root .. '/' .. m .. '/input.npy'))
      local want = assert(npy.read(root .. '/' .. m .. '/expected.npy'))
      local y, rerr = runner.run_batch(r.typed, x)
      if not y then check(m .. ' reference interpreter', false, util.format_error(rerr))
      else
        local e, mx = max_err(y, want)
        check(string.format('%s reference interpreter (max error %.2g)', m, e), e <= 1e-5 * (1 + mx), 'max error ' .. e)
      end
    end
  end
end

print(string.format('onnx-models: %d passed, %d failed', passed, failed))
os.exit(failed == 0 and 0 or 1)
