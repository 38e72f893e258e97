-- Every classification network of Debian's torchvision 0.14 at full size, through cnnc and
-- ONNX Runtime (not part of make test: it takes hours and gigabytes). For each network
-- (tests/onnx/zoo/export_full.py --list): export it (random seeded weights, opset 17, one
-- 224x224 image, 299x299 for inception_v3), `cnnc build` it, run it, run ONNX Runtime on
-- the same input, compare: max |cnnc - ORT| <= 1e-4 * max |ORT|, or else cnnc no further
-- from the double-precision reference interpreter (cnnc run) than ORT. Prints one line per
-- network (PASS with the error and the build time, FAIL with the reason) and ends with the
-- count that compile and match. The README states the last count.
--
-- usage: luajit tests/onnx/zoo/full_torchvision.lua [--target T] [--opset N] [--keep] [name ...]
--   (--keep keeps each network's files in build/zoo-full; by default they are deleted)

package.path = 'compiler/?.lua;' .. package.path
local npy = require 'cnnc.npy'
local util = require 'cnnc.util'
local ort = dofile('tests/lib/ort.lua')

local target, opset, keep, only = 'native', 17, false, {}
local i = 1
while i <= #arg do
  if arg[i] == '--target' then target = arg[i + 1]; i = i + 1
  elseif arg[i] == '--opset' then opset = tonumber(arg[i + 1]); i = i + 1
  elseif arg[i] == '--keep' then keep = true
  else only[#only + 1] = arg[i] end
  i = i + 1
end

local ok, why = ort.available()
if not ok then
  print('full_torchvision: ONNX Runtime is needed: ' .. why)
  os.exit(1)
end

local function sh(cmd)
  local rc = os.execute(cmd)
  return rc == 0 or rc == true
end

local names = only
if #names == 0 then
  local p = io.popen('/usr/bin/python3 tests/onnx/zoo/export_full.py --list')
  for l in p:lines() do names[#names + 1] = l end
  p:close()
end

-- max |a - b| (NaN counts as infinite) and max |b|.
local function max_error(a, b)
  local e, m = 0, 0
  for k = 0, math.min(a.n, b.n) - 1 do
    local d = math.abs(a.data[k] - b.data[k])
    if d ~= d then d = math.huge end
    e, m = math.max(e, d), math.max(m, math.abs(b.data[k]))
  end
  return e, m
end

local work = 'build/zoo-full'
local passed, failed = {}, {}
for _, name in ipairs(names) do
  local dir = work .. '/' .. name
  os.execute('rm -rf ' .. dir .. ' && mkdir -p ' .. dir)
  local t0 = os.time()
  local reason
  if not sh(string.format('/usr/bin/python3 tests/onnx/zoo/export_full.py %s %s %d > %s/export.log 2>&1', name, dir, opset, dir)) then
    reason = 'PyTorch cannot export it: ' .. ((util.read_file(dir .. '/export.log') or ''):match('([^\n]*Error[^\n]*)') or 'see export.log')
  elseif not sh(string.format('bin/cnnc build %s/model.onnx -o %s/c --name %s --target %s > %s/build.log 2>&1', dir, dir, name,
      target, dir)) then
    reason = 'cnnc: ' .. (util.read_file(dir .. '/build.log') or ''):gsub('\n', ' '):sub(1, 400)
  else
    local built = os.time() - t0
    if not sh(string.format('%s/c/%s %s/input.npy -o %s/cnnc.npy > %s/run.log 2>&1', dir, name, dir, dir, dir)) then
      reason = 'run: ' .. (util.read_file(dir .. '/run.log') or ''):sub(1, 300)
    else
      local good, err = ort.run(dir .. '/model.onnx', { dir .. '/input.npy' }, { dir .. '/ort.npy' })
      if not good then reason = 'ONNX Runtime: ' .. tostring(err):sub(1, 300)
      else
        local got, want = npy.read(dir .. '/cnnc.npy'), npy.read(dir .. '/ort.npy')
        local e, m = max_error(got, want)
        if got.n ~= want.n then reason = 'output size differs'
        elseif e <= 1e-4 * m then
          passed[#passed + 1] = name
          print(string.format('PASS %-22s max error %.2g of max |output| %.3g; exported and built in %d s', name, e, m, built))
        else
          -- Random weights can make a network ill-conditioned enough that two float32
          -- implementations differ by more: then the reference interpreter (double
          -- precision) judges, and cnnc must be at least as close to it as ONNX Runtime.
          local ref_ok = sh(string.format('bin/cnnc run %s/model.onnx %s/input.npy -o %s/ref.npy > %s/ref.log 2>&1', dir,
            dir, dir, dir))
          local ref = ref_ok and npy.read(dir .. '/ref.npy', 'double')
          local ec, er = ref and max_error(got, ref), ref and max_error(want, ref)
          if ref and ec <= er then
            passed[#passed + 1] = name
            print(string.format('PASS %-22s max error %.2g of max |output| %.3g against ONNX Runtime, but against the '
              .. 'double-precision reference %.2g, ONNX Runtime\'s %.2g; exported and built in %d s', name, e, m, ec, er, built))
          else
            reason = string.format('max error %.3g > 1e-4 * %.3g%s', e, m, ref
              and string.format(' (against the double-precision reference: cnnc %.3g, ONNX Runtime %.3g)', ec, er) or '')
          end
        end
      end
    end
  end
  if reason then
    failed[#failed + 1] = name
    print(string.format('FAIL %-22s %s', name, reason))
  end
  io.stdout:flush()
  if not keep then os.execute('rm -rf ' .. dir) end
end
print(string.format('full_torchvision: %d of %d torchvision classification networks compile and match ONNX Runtime (opset %d, %s)',
  #passed, #names, opset, target))
if #failed > 0 then print('full_torchvision: not: ' .. table.concat(failed, ', ')) end
