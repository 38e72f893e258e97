-- The ONNX model zoo (tests/onnx/zoo, made by tests/onnx/zoo/make_zoo.py): torchvision's
-- network families, segmentation networks, U-Nets, ESPCN, ConvNeXt, R4 and the export
-- patterns, at reduced sizes and several opsets, with and without a dynamic batch and
-- constant folding. Each model is built by `cnnc build` for the generic target, run on
-- its input.npy, and compared with the expected.npy committed beside it (PyTorch, float64)
-- and with ONNX Runtime run on the same input (tests/lib/ort.lua; skipped with a message
-- when it is not installed): max |got - want| <= 1e-4 * max |want|, per check. A model
-- that cnnc compiles with its whole (1, ...) tensor as the item gets the batch as (N, 1, ...).
-- Ends with `onnx-zoo: N passed, M failed`.
-- usage: luajit tests/onnx/zoo.lua [--jobs N] [--target T] [model ...]

package.path = 'compiler/?.lua;' .. package.path
local npy = require 'cnnc.npy'
local util = require 'cnnc.util'
local ort = dofile('tests/lib/ort.lua')

local jobs, target, only = 2, 'generic', {}
local i = 1
while i <= #arg do
  if arg[i] == '--jobs' then jobs = tonumber(arg[i + 1]); i = i + 1
  elseif arg[i] == '--target' then target = arg[i + 1]; i = i + 1
  else only[arg[i]] = true end
  i = i + 1
end

local root = 'tests/onnx/zoo'
local work = 'build/tests/onnx-zoo'
os.execute('rm -rf ' .. work .. ' && mkdir -p ' .. work)
local started = os.time()
local passed, failed = 0, 0

local function check(name, ok, msg)
  if ok then passed = passed + 1; print('PASS ' .. name)
  else failed = failed + 1; print('FAIL ' .. name .. ': ' .. tostring(msg)) end
end

-- The models, in the manifest's order.
local models = {}
for line in io.lines(root .. '/manifest.json') do
  local name = line:match('"model": "([^"]+)"')
  if name and (next(only) == nil or only[name]) then models[#models + 1] = name end
end

-- Build every model through `cnnc build`, two at a time.
local mk, all = {}, {}
for _, m in ipairs(models) do
  local dir = work .. '/' .. m
  local cmd = string.format('bin/cnnc build %s/%s/model.onnx -o %s --name %s --target %s --cflags "-O1 -Wall -Wextra -Werror -pedantic"',
    root, m, dir, m, target)
  all[#all + 1] = dir .. '/.built'
  mk[#mk + 1] = string.format('%s/.built:\n\t@mkdir -p %s && (%s > %s.log 2>&1 && touch $@) || true', dir, dir, cmd, dir)
end
table.insert(mk, 1, 'all: ' .. table.concat(all, ' '))
local f = assert(io.open(work .. '/build.mk', 'w'))
f:write(table.concat(mk, '\n'), '\n')
f:close()
os.execute(string.format('make -s -j%d -f %s all', jobs, work .. '/build.mk'))

-- max |got - want| and max |want|.
local function err(got, want)
  local e, m = 0, 0
  for k = 0, want.n - 1 do
    local d = math.abs(got.data[k] - want.data[k])
    if d ~= d then d = math.huge end
    e, m = math.max(e, d), math.max(m, math.abs(want.data[k]))
  end
  return e, m
end

-- Shapes equal but for axes of size 1?
local function same_but_ones(a, b)
  local function strip(s)
    local t = {}
    for _, d in ipairs(s) do if d ~= 1 then t[#t + 1] = d end end
    return t
  end
  return util.shape_eq(strip(a), strip(b))
end

local function compare(label, got, want)
  if not util.shape_eq(got.shape, want.shape) and not same_but_ones(got.shape, want.shape) then
    return check(label, false, string.format('output shape %s, expected %s', util.shape_str(got.shape), util.shape_str(want.shape)))
  end
  local e, m = err(got, want)
  check(string.format('%s (max error %.2g, max |expected| %.3g)', label, e, m), e <= 1e-4 * m,
    string.format('max abs error %g > 1e-4 * %g', e, m))
end

local ort_ok, ort_why = ort.available()
if not ort_ok then print('onnx-zoo: skipping ONNX Runtime checks: ' .. ort_why) end
for _, m in ipairs(models) do
  local dir, src = work .. '/' .. m, root .. '/' .. m
  if not io.open(dir .. '/.built', 'r') then
    check(m .. ' builds', false, (util.read_file(dir .. '.log') or ''):sub(1, 2000))
  else
    -- A model compiled with its whole (1, ...) tensor as the item (a node mixes the items,
    -- or so cnnc cannot tell otherwise) takes the batch as (N, 1, ...).
    local input = src .. '/input.npy'
    local header = util.read_file(string.format('%s/%s.h', dir, m)) or ''
    local item = header:match('_INPUT_SHAPE {([%d, ]+)}')
    local x = assert(npy.read(input))
    if item then
      local dims = {}
      for d in item:gmatch('%d+') do dims[#dims + 1] = tonumber(d) end
      if #dims == #x.shape and dims[1] == 1 and x.shape[1] ~= 1 then
        local shape = util.copy(x.shape)
        table.insert(shape, 2, 1)
        x.shape = shape
        input = dir .. '/input_items.npy'
        assert(npy.write(input, x))
      end
    end
    local rc = os.execute(string.format('%s/%s %s -o %s/out.npy > %s/run.log 2>&1', dir, m, input, dir, dir))
    local got = (rc == 0 or rc == true) and npy.read(dir .. '/out.npy')
    if not got then
      check(m, false, 'run failed: ' .. (util.read_file(dir .. '/run.log') or ''))
    else
      compare(m .. ' vs expected.npy', got, assert(npy.read(src .. '/expected.npy')))
      if ort_ok then
        local ok, e = ort.run(src .. '/model.onnx', { src .. '/input.npy' }, { dir .. '/ort.npy' })
        local want = ok and npy.read(dir .. '/ort.npy')
        if want then compare(m .. ' vs ONNX Runtime', got, want)
        else check(m .. ' vs ONNX Runtime', false, e or 'no output') end
      end
    end
  end
end

print(string.format('onnx-zoo: %d models in %d s', #models, os.time() - started))
print(string.format('onnx-zoo: %d passed, %d failed', passed, failed))
os.exit(failed == 0 and 0 or 1)
