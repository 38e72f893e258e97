-- Real networks exported from PyTorch to ONNX (tests/golden/onnx, made by
-- tests/golden/make_onnx_golden.py): each is built through the command line for the
-- generic target (fused and --no-fuse) and the host's best SIMD target, run on its
-- input.npy (a batch of 2, NCHW) and compared with PyTorch's float64 outputs:
-- max |got - expected| <= 1e-4 * (1 + max |expected|). The reference interpreter is
-- checked too on the models small enough for it (fewer than 60 M multiply-adds); those are
-- also built for each target of another architecture this machine can emulate (neon,
-- cross-compiled by cnnc build and run under qemu-aarch64). ONNX Runtime (tests/lib/ort.lua)
-- runs every model too, and the generic build must match it alike (skipped with a message
-- when it is not installed). A model with several inputs
-- and outputs (input_<k>.npy, expected_<k>.npy) runs with one input file per input and -o
-- once per output, each output compared on its own.
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
local pch = dofile('tests/lib/pch.lua')

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
    local flags = '-O2 -Wall -Wextra -Werror -pedantic'
    flags = flags .. pch.flags(os.getenv('CC') or 'cc', '-std=c99 ' .. flags, v[1])
    local cmd = string.format('bin/cnnc build %s -o %s --name %s --target %s %s --cflags "%s"',
      src, dir, m, v[1], v[2], flags)
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

-- A model's files: {inputs = {paths}, expected = {paths}} (one of each for most models).
local function files(m)
  local dir = root .. '/' .. m
  if io.open(dir .. '/input.npy', 'rb') then return { inputs = { dir .. '/input.npy' }, expected = { dir .. '/expected.npy' } } end
  -- (Counted in a variable of its own: Debian 12's LuaJIT, once this loop is compiled,
  -- has been seen to read a stale #list after the store, finding an expected_2.npy.)
  local t = { inputs = {}, expected = {} }
  for _, kind in ipairs({ 'input', 'expected' }) do
    local list, k = t[kind == 'input' and 'inputs' or 'expected'], 0
    while true do
      local path = string.format('%s/%s_%d.npy', dir, kind, k)
      local h = io.open(path, 'rb')
      if not h then break end
      h:close()
      k = k + 1
      list[k] = path
    end
  end
  t.multi = true
  return t
end

local function compare(label, got, want)
  if not util.shape_eq(got.shape, want.shape) then
    check(label, false, string.format('output shape %s, expected %s', util.shape_str(got.shape), util.shape_str(want.shape)))
  else
    local e, m = max_err(got, want)
    check(string.format('%s (max error %.2g, max |expected| %.3g)', label, e, m), e <= 1e-4 * (1 + m),
      string.format('max abs error %g > %g', e, 1e-4 * (1 + m)))
  end
end

for _, b in ipairs(builds) do
  local f = files(b.model)
  local exe = b.dir .. '/' .. b.model
  if not io.open(b.dir .. '/.built', 'r') then
    check(b.label .. ' builds', false, util.read_file(b.dir .. '.log'))
  else
    local outs = {}
    for k = 1, #f.expected do outs[k] = string.format('-o %s/out_%d.npy', b.dir, k - 1) end
    local rc = os.execute(string.format('%s%s %s %s > %s/run.log 2>&1', b.run or '', exe, table.concat(f.inputs, ' '),
      table.concat(outs, ' '), b.dir))
    for k, path in ipairs(f.expected) do
      local want = assert(npy.read(path))
      local got = (rc == 0 or rc == true) and npy.read(string.format('%s/out_%d.npy', b.dir, k - 1))
      local label = b.label .. (f.multi and string.format(' output %d', k - 1) or '')
      if not got then check(label, false, util.read_file(b.dir .. '/run.log'))
      else compare(label, got, want) end
    end
  end
end

-- ONNX Runtime, the second oracle: it runs each model on the same input, and the
-- generic build's outputs must match it as they match PyTorch's.
local ort = dofile('tests/lib/ort.lua')
local ort_ok, ort_why = ort.available()
if not ort_ok then print('onnx-models: skipping ONNX Runtime checks: ' .. ort_why) end
for _, b in ipairs(builds) do
  if ort_ok and b.label == b.model .. ' generic' and io.open(b.dir .. '/.built', 'r') then
    local f = files(b.model)
    local outs = {}
    for k = 1, #f.expected do outs[k] = string.format('%s/ort_%d.npy', b.dir, k - 1) end
    local ok, err = ort.run(root .. '/' .. b.model .. '/model.onnx', f.inputs, outs)
    for k = 1, #f.expected do
      local label = b.model .. ' generic vs ONNX Runtime' .. (f.multi and string.format(' output %d', k - 1) or '')
      local want = ok and npy.read(outs[k])
      local got = npy.read(string.format('%s/out_%d.npy', b.dir, k - 1))
      if not want then check(label, false, err or 'no output')
      elseif not got then check(label, false, 'the cnnc build did not run')
      else compare(label, got, want) end
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
      local f = files(m)
      local xs, wants = {}, {}
      for k, path in ipairs(f.inputs) do xs[k] = assert(npy.read(path)) end
      for k, path in ipairs(f.expected) do wants[k] = assert(npy.read(path)) end
      local ys, rerr
      if f.multi then ys, rerr = runner.run_tensors(r.typed, xs)
      else
        local y
        y, rerr = runner.run_batch(r.typed, xs[1])
        ys = y and { y }
      end
      if not ys then check(m .. ' reference interpreter', false, util.format_error(rerr))
      else
        for k, want in ipairs(wants) do
          local e, mx = max_err(ys[k], want)
          check(string.format('%s reference interpreter%s (max error %.2g)', m, f.multi and (' output ' .. (k - 1)) or '', e),
            e <= 1e-5 * (1 + mx), 'max error ' .. e)
        end
      end
    end
  end
end

print(string.format('onnx-models: %d passed, %d failed', passed, failed))
os.exit(failed == 0 and 0 or 1)
