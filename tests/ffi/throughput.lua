-- Throughput of a compiled model called from Lua (net:predict over a batch, one FFI call)
-- against the same generated C compiled as a standalone program (as `cnnc build` compiles
-- it: same compiler, flags and target) running the same batch loop (batch_bench.c), for
-- `make bench`. The executable's own `--bench N` figure (one input, N times) is printed too.
--
--   luajit tests/ffi/throughput.lua [--batch N] [--reps R] [--target T]
--
-- Models: the Keras MNIST network with the trained Fashion-MNIST weights, and the random
-- feature extractor of examples/experiments/random_features.lua (Conv 16 5x5 relu, max
-- pool 4, flatten). Inputs: the first N Fashion-MNIST test images (synthetic images when
-- the data set is not installed). Lua and C runs alternate, and the ratio is the median
-- over rounds of (C time / Lua time), because the machine is shared and loads change
-- within seconds. Prints one line per model with items/s and the ratio, then
-- "ffi-throughput: P passed, F failed" (a model passes at a ratio >= 0.90).

local here = debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './'
local root = here .. '../../'
package.path = root .. 'compiler/?.lua;' .. package.path
local cnnc = require 'cnnc'

local opts = { batch = 5000, reps = 11, target = 'native' }
local i = 1
while i <= #arg do
  local k = arg[i]:match('^%-%-(%w+)$')
  if not k or opts[k] == nil or not arg[i + 1] then
    io.stderr:write('usage: luajit tests/ffi/throughput.lua [--batch N] [--reps R] [--target T]\n')
    os.exit(2)
  end
  opts[k] = tonumber(arg[i + 1]) or arg[i + 1]
  i = i + 2
end

local work = root .. 'build/bench/ffi'
os.execute("mkdir -p '" .. work .. "'")

local function inputs(n)
  local ok, data = pcall(cnnc.datasets.fashion_mnist, { train = 1, test = n })
  if ok then return data.test_x end
  local x = cnnc.Tensor({ n, 28, 28, 1 })
  for k = 0, x.n - 1 do x.data[k] = 0.5 + 0.5 * math.sin(0.37 * k) end
  return x
end

local function median(t)
  table.sort(t)
  local n = #t
  return n % 2 == 1 and t[(n + 1) / 2] or (t[n / 2] + t[n / 2 + 1]) / 2
end

local function sh(cmd)
  local p = io.popen(cmd .. ' 2>&1')
  local out = p:read('*a')
  p:close()
  return out
end

local MODELS = {
  { name = 'keras_mnist', file = root .. 'examples/keras_mnist.lua', weights = root .. 'examples/fashion_mnist/weights' },
  { name = 'random_features', file = work .. '/random_features.lua', text = [[
local nn = require 'cnnc'
local m = nn.Sequential{name = 'random_features', input_shape = {28, 28, 1}, seed = 1}
m:add(nn.Conv2D{16, 5, activation = 'relu', kernel_initializer = 'he_normal'})
m:add(nn.MaxPooling2D{4})
m:add(nn.Flatten{})
return m
]] },
}

local x = inputs(opts.batch)
local n = x.shape[1]
local passed, failed = 0, 0
for _, M in ipairs(MODELS) do
  if M.text then
    local f = assert(io.open(M.file, 'wb'))
    f:write(M.text)
    f:close()
  end
  local model = cnnc.load(M.file, { weights = M.weights })
  local net = model:compile { target = opts.target }
  local out = cnnc.Tensor({ n, net.output_size })
  net:predict(x, out)
  -- The executable (`cnnc build`, same target and flags) for its --bench figure, and the
  -- C batch loop over the same generated file (batch_bench.c).
  local dir = work .. '/' .. M.name
  local log = sh(string.format("'%sbin/cnnc' build '%s' %s --target %s -o '%s'", root, M.file,
    M.weights and ("--weights '" .. M.weights .. "'") or '', opts.target, dir))
  local name = net.name
  log = log .. sh(string.format("%s -std=c99 -O2 -iquote '%s' -DCNNC_MODEL_HEADER='\"%s.h\"' -DCNNC_MODEL=%s "
    .. "-DCNNC_MODEL_UC=%s '%stests/ffi/batch_bench.c' '%s/%s.c' -lm -o '%s/batch_bench'", os.getenv('CC') or 'cc',
    dir, name, name, name:upper(), root, dir, name, dir))
  local f = assert(io.open(dir .. '/batch.raw', 'wb'))
  f:write(x:bytes())
  f:close()
  cnnc.write_npy(dir .. '/one.npy', x:item(1))
  -- Interleaved, so both see the same load on this shared machine: a Lua batch, then a C
  -- batch, R times; the executable's own --bench once at the end.
  local lua_t, c_t = {}, {}
  for _ = 1, opts.reps do
    local t0 = cnnc.clock()
    net:predict(x, out)
    lua_t[#lua_t + 1] = (cnnc.clock() - t0) / n
    local r = sh(string.format("'%s/batch_bench' '%s/batch.raw' 1", dir, dir))
    local secs = tonumber(r:match('items: ([%d.]+) s'))
    if not secs then
      print(M.name .. ': the C batch loop did not run:\n' .. log .. r)
      os.exit(1)
    end
    c_t[#c_t + 1] = secs / n
  end
  local r = sh(string.format("'%s/%s' '%s/one.npy' --bench %d", dir, name, dir, n))
  local exe_med = tonumber(r:match('median ([%d.]+) us') or 0) * 1e-6
  -- The verdict: the median over rounds of C time / Lua time, each round's two runs
  -- having seen nearly the same machine.
  local ratios = {}
  for k = 1, #lua_t do ratios[k] = c_t[k] / lua_t[k] end
  local ratio = median(ratios)
  local lm, lb, cm, cb = median(lua_t), math.min(unpack(lua_t)), median(c_t), math.min(unpack(c_t))
  print(string.format('%-16s %s, batch %d: Lua %.0f items/s (best %.0f), C loop %.0f items/s (best %.0f), '
    .. 'executable --bench %.0f/s; Lua/C %.3f (median of per-round ratios; best/best %.3f)', M.name, net.target, n, 1 / lm, 1 / lb, 1 / cm, 1 / cb,
    exe_med > 0 and 1 / exe_med or 0, ratio, cb / lb))
  if ratio >= 0.90 then passed = passed + 1 else failed = failed + 1 end
end
print(string.format('ffi-throughput: %d passed, %d failed', passed, failed))
os.exit(failed == 0 and 0 or 1)
