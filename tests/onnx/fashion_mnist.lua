-- Fashion-MNIST through both front doors: the trained network as the Lua model
-- (examples/keras_mnist.lua with examples/fashion_mnist/weights) and as the ONNX file
-- PyTorch exported (examples/fashion_mnist/fashion_mnist.onnx), each built for the generic
-- target and the host's best one, evaluated on all 10,000 test images of Debian's
-- dataset-fashion-mnist. Checks that every build's predictions equal PyTorch's
-- (examples/fashion_mnist/test_predictions.npy) on at least 99.9% of the images and that
-- its accuracy is PyTorch's (examples/fashion_mnist/accuracy.txt) within what those
-- differing predictions allow. Prints the accuracies; ends with
-- `fashion-mnist: N passed, M failed`.
-- usage: luajit tests/onnx/fashion_mnist.lua [--data DIR]

package.path = 'compiler/?.lua;' .. package.path
local ffi = require 'ffi'
local npy = require 'cnnc.npy'
local targets = require 'cnnc.targets'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local data = '/usr/share/datasets/fashion-mnist'
if arg[1] == '--data' then data = arg[2] end
local work = 'build/tests/fashion-mnist'
os.execute('rm -rf ' .. work .. ' && mkdir -p ' .. work)
local passed, failed = 0, 0

local function check(name, ok, msg)
  if ok then passed = passed + 1; print('PASS ' .. name)
  else failed = failed + 1; print('FAIL ' .. name .. ': ' .. tostring(msg)) end
end

local function sh(cmd, log)
  local r = os.execute('(' .. cmd .. ') > ' .. log .. ' 2>&1')
  return r == 0 or r == true, util.read_file(log) or ''
end

-- An IDX file (big-endian header: magic, then one count per axis), gunzipped by the shell.
local function read_idx(name)
  local path = work .. '/' .. name
  local ok, log = sh(string.format('gzip -dc %s/%s.gz > %s', data, name, path), path .. '.log')
  if not ok then return nil, log end
  local s = util.read_file(path)
  local function u32(at) return ((s:byte(at) * 256 + s:byte(at + 1)) * 256 + s:byte(at + 2)) * 256 + s:byte(at + 3) end
  local rank = s:byte(4)
  local dims, n = {}, 1
  for k = 1, rank do
    dims[k] = u32(5 + 4 * (k - 1))
    n = n * dims[k]
  end
  local start = 5 + 4 * rank
  if #s ~= start - 1 + n or s:byte(3) ~= 8 then return nil, path .. ': not an IDX file of bytes' end
  return { dims = dims, bytes = ffi.cast('const uint8_t *', s) + start - 1, keep = s, n = n }
end

local images, ierr = read_idx('t10k-images-idx3-ubyte')
local labels, lerr = read_idx('t10k-labels-idx1-ubyte')
if not images or not labels then
  check('read the Fashion-MNIST test set from ' .. data, false, (ierr or lerr) .. ' (install dataset-fashion-mnist)')
  print(string.format('fashion-mnist: %d passed, %d failed', passed, failed))
  os.exit(1)
end
local count = images.dims[1]

-- Pixels / 255, once as (N, 1, 28, 28) for the ONNX model and once as (N, 28, 28, 1) for the
-- Lua model: the same floats, since there is one channel.
local x = tensor.new({ count, 1, 28, 28 }, 'float')
for k = 0, images.n - 1 do x.data[k] = images.bytes[k] / 255 end
assert(npy.write(work .. '/test_nchw.npy', x))
x.shape = { count, 28, 28, 1 }
assert(npy.write(work .. '/test_nhwc.npy', x))

local want = assert(npy.read('examples/fashion_mnist/test_predictions.npy'))
local torch_acc = tonumber(util.read_file('examples/fashion_mnist/accuracy.txt'):match('([%d.]+)'))
local torch_correct = 0
for k = 0, count - 1 do
  if want.data[k] == labels.bytes[k] then torch_correct = torch_correct + 1 end
end
print(string.format('PyTorch: accuracy %.4f (%d of %d; accuracy.txt says %.4f)', torch_correct / count, torch_correct,
  count, torch_acc))

local builds = {
  { 'lua', 'examples/keras_mnist.lua --weights examples/fashion_mnist/weights', 'mnist', 'test_nhwc.npy' },
  { 'onnx', 'examples/fashion_mnist/fashion_mnist.onnx', 'fashion_mnist', 'test_nchw.npy' },
}
local list = { 'generic' }
if targets.native() ~= 'generic' then list[2] = targets.native() end
for _, b in ipairs(builds) do
  for _, t in ipairs(list) do
    local label = b[1] .. ' ' .. t
    local dir = work .. '/' .. b[1] .. '-' .. t
    local ok, log = sh(string.format('bin/cnnc build %s -o %s --target %s --cflags -O2', b[2], dir, t), dir .. '.log')
    check(label .. ' builds', ok, log)
    if ok then
      local rok, rlog = sh(string.format('%s/%s %s/%s -o %s/probs.npy', dir, b[3], work, b[4], dir), dir .. '.run.log')
      local probs = rok and npy.read(dir .. '/probs.npy')
      check(label .. ' runs on the test set', probs and probs.n == count * 10, rlog)
      if probs and probs.n == count * 10 then
        local correct, same = 0, 0
        for k = 0, count - 1 do
          local best, arg = -math.huge, 0
          for c = 0, 9 do
            local v = probs.data[k * 10 + c]
            if v > best then best, arg = v, c end
          end
          if arg == labels.bytes[k] then correct = correct + 1 end
          if arg == want.data[k] then same = same + 1 end
        end
        local acc = correct / count
        print(string.format('%s: accuracy %.4f (%d of %d), predictions equal to PyTorch\'s on %d images (%.2f%%)',
          label, acc, correct, count, same, 100 * same / count))
        check(label .. ' predicts as PyTorch on >= 99.9% of the images', same >= 0.999 * count,
          string.format('%d of %d', same, count))
        check(label .. ' has PyTorch\'s accuracy', math.abs(correct - torch_correct) <= count - same,
          string.format('%d correct, PyTorch %d', correct, torch_correct))
      end
    end
  end
end

print(string.format('fashion-mnist: %d passed, %d failed', passed, failed))
os.exit(failed == 0 and 0 or 1)
