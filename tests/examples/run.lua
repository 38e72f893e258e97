-- Every example builds, runs and matches a known output:
--   keras_mnist  the executable on a Fashion-MNIST image vs the reference interpreter and
--                vs the committed output (which pins the seeded initializers' values)
--   edges        one PGM per hand-designed filter vs numpy's (tests/examples/make_expected.py)
--   smooth1d     the smoothed signal vs numpy's causal weighted average
-- Ends with `examples: N passed, M failed`.

package.path = 'compiler/?.lua;' .. package.path
local cli = require 'cnnc.cli'
local driver = require 'cnnc.driver'
local npy = require 'cnnc.npy'
local runner = require 'cnnc.runner'
local util = require 'cnnc.util'

local work = 'build/tests/examples'
os.execute('rm -rf ' .. work .. ' && mkdir -p ' .. work)
local passed, failed = 0, 0

local function check(name, ok, msg)
  if ok then passed = passed + 1 else failed = failed + 1; print('FAIL ' .. name .. ': ' .. tostring(msg)) end
end

local function sh(cmd)
  local r = os.execute(cmd .. ' > ' .. work .. '/last.log 2>&1')
  return r == 0 or r == true, util.read_file(work .. '/last.log')
end

local max_err = dofile('tests/lib/testlib.lua').max_err

-- Builds an example through the real command line; returns the executable path.
local function build(example)
  local dir = work .. '/' .. example
  local ok, log = sh(string.format('bin/cnnc build examples/%s.lua -o %s --cflags "-O2 -Wall -Wextra -Werror -pedantic"', example, dir))
  check(example .. ' builds', ok, log)
  local sok, slog = sh('bin/cnnc summary examples/' .. example .. '.lua')
  check(example .. ' summary', sok and slog:match('Total params'), slog)
  return dir, ok
end

do -- keras_mnist
  local dir, ok = build('keras_mnist')
  if ok then
    local rok, log = sh(dir .. '/mnist examples/data/fashion0.pgm -o ' .. dir .. '/out.npy')
    local got = rok and npy.read(dir .. '/out.npy')
    check('keras_mnist runs', got, log)
    if got then
      local model = assert(driver.load('examples/keras_mnist.lua'))
      local r = assert(driver.compile(model, { stop = 'shape' }))
      local ref = assert(runner.run_batch(r.typed, assert(npy.read_input('examples/data/fashion0.pgm'))))
      local e, m = max_err(got, ref)
      check('keras_mnist vs reference interpreter', e <= 1e-4 * (1 + m), 'max error ' .. e)
      local pinned = assert(npy.read('tests/examples/expected/mnist_fashion0.npy'))
      local e2, m2 = max_err(got, pinned)
      check('keras_mnist vs committed output', e2 <= 1e-4 * (1 + m2), 'max error ' .. e2)
      local pok, plog = sh(dir .. '/mnist examples/data/fashion0.pgm')
      check('keras_mnist prints top classes', pok and plog:match('top: %d'), plog)
    end
  end
end

do -- keras_mnist with the Fashion-MNIST weights trained in PyTorch, every host target
  local fm = 'examples/fashion_mnist'
  local want = assert(npy.read(fm .. '/sample_outputs.npy'))
  for _, target in ipairs(require('cnnc.targets').host_list()) do
    local dir = work .. '/fashion_' .. target
    local ok, log = sh(string.format('bin/cnnc build examples/keras_mnist.lua --weights %s/weights --target %s -o %s',
      fm, target, dir))
    check('fashion-mnist ' .. target .. ' builds', ok, log)
    if ok then
      local rok, rlog = sh(string.format('%s/mnist %s/sample_inputs.npy -o %s/out.npy', dir, fm, dir))
      local got = rok and npy.read(dir .. '/out.npy')
      check('fashion-mnist ' .. target .. ' runs', got, rlog)
      if got then
        local e, m = max_err(got, want)
        local same = 0
        for i = 0, 15 do
          local function argmax(t)
            local best = 0
            for c = 1, 9 do if t.data[i * 10 + c] > t.data[i * 10 + best] then best = c end end
            return best
          end
          if argmax(got) == argmax(want) then same = same + 1 end
        end
        check('fashion-mnist ' .. target .. ' matches PyTorch', e <= 1e-4 * (1 + m) and same == 16,
          string.format('max error %g, %d/16 same predictions', e, same))
      end
    end
  end
end

do -- edges
  local dir, ok = build('edges')
  if ok then
    os.execute('mkdir -p ' .. dir .. '/out')
    local rok, log = sh(dir .. '/edges examples/data/camera.pgm -o ' .. dir .. '/out/edges.pgm')
    check('edges runs', rok, log)
    for c = 0, 15 do
      local got = npy.read_pnm(string.format('%s/out/edges_%d.pgm', dir, c))
      local want = npy.read_pnm(string.format('tests/examples/expected/edges_%d.pgm', c))
      local ok2, msg = got and want and got.n == want.n, 'missing or wrong size'
      if ok2 then
        -- Rounding at a level boundary may differ by one step of 1/255.
        local far, worst = 0, 0
        for i = 0, want.n - 1 do
          local d = math.abs(got.data[i] - want.data[i]) * 255
          worst = math.max(worst, d)
          if d > 0.5 then far = far + 1 end
        end
        ok2 = worst <= 1.01 and far <= want.n / 100
        msg = string.format('worst %.2f levels, %d pixels off', worst, far)
      end
      check('edges filter ' .. c, ok2, msg)
    end
  end
end

do -- smooth1d
  local dir, ok = build('smooth1d')
  if ok then
    local rok, log = sh(dir .. '/smooth1d examples/data/noisy_signal.npy -o ' .. dir .. '/out.npy')
    local got = rok and npy.read(dir .. '/out.npy')
    check('smooth1d runs', got, log)
    if got then
      local e, m = max_err(got, assert(npy.read('tests/examples/expected/smooth1d.npy')))
      check('smooth1d vs numpy', e <= 1e-5 * (1 + m), 'max error ' .. e)
    end
  end
end

print(string.format('examples: %d passed, %d failed', passed, failed))
os.exit(failed == 0 and 0 or 1)
