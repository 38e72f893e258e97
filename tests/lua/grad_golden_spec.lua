-- The reference backward pass against PyTorch autograd: every case of tests/golden/grad
-- (made by tests/golden/make_grad_golden.py: every Lua layer kind and activation, batch
-- norms folded and fused, a batch, values on kinks) through the typed graph (to 1e-9 of
-- the largest value: both are float64 from the same float32 data) and the fused graph
-- (to 1e-5: folding a batch norm rounds the kernel to float32), and `cnnc run
-- --grad-output` end to end on two of them.

local T = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'testutil.lua')
local npy = require 'cnnc.npy'
local runner = require 'cnnc.runner'
local cli = require 'cnnc.cli'

local ROOT = T.root .. 'tests/golden/grad/'

local function list(dir)
  local t = {}
  local p = io.popen('ls ' .. cli.shell_quote(dir) .. ' 2>/dev/null')
  for f in p:lines() do t[#t + 1] = f end
  p:close()
  table.sort(t)
  return t
end

local function read(path, ctype)
  local t, err = npy.read(path, ctype)
  assert(t, err)
  return t
end

-- max |a - b| <= tol * max(1, max |b|), shapes equal
local function close(got, want, tol, what)
  assert.same(want.shape, got.shape, what .. ': shapes differ')
  local m, d = 1, 0
  for i = 0, want.n - 1 do
    m = math.max(m, math.abs(want.data[i]))
    local e = math.abs(got.data[i] - want.data[i])
    if not (e <= d) then d = e end
  end
  assert.is_true(d <= tol * m, string.format('%s: max error %g (largest value %g)', what, d, m))
end

local cases = {}
for _, f in ipairs(list(ROOT .. 'models')) do cases[#cases + 1] = f:gsub('%.lua$', '') end

describe('gradient golden files (PyTorch autograd)', function()
  it('exist', function() assert.is_true(#cases >= 40, #cases .. ' cases') end)

  for _, case in ipairs(cases) do
    it(case, function()
      local data = ROOT .. 'data/' .. case
      local m = assert(T.driver.load(ROOT .. 'models/' .. case .. '.lua'))
      local r = T.compile(m, { stop = 'fuse', weights = data })
      local x = read(data .. '/input.npy')
      local dy = read(data .. '/grad_output.npy', 'double')
      local want_dx = read(data .. '/expected_grad_input.npy', 'double')
      local files = {}
      for _, f in ipairs(list(data .. '/grads')) do files[#files + 1] = f:gsub('%.npy$', '') end
      for _, v in ipairs({ { r.typed, 1e-9, 'typed' }, { r.fused, 1e-5, 'fused' } }) do
        local g, tol, which = v[1], v[2], v[3]
        local y = assert(runner.run_batch(g, x))
        close(y, read(data .. '/output.npy'), 1e-5, which .. ' output')
        local dx, grads, order = runner.backward_batch(g, x, dy)
        assert(dx, grads and T.util.format_error(grads))
        close(dx, want_dx, tol, which .. ' input gradient')
        local keys = {}
        for i, w in ipairs(order) do keys[i] = w.key end
        table.sort(keys)
        assert.same(files, keys)
        for _, w in ipairs(order) do
          close(grads[w.key], read(data .. '/grads/' .. w.key .. '.npy', 'double'), tol, which .. ' ' .. w.key)
        end
      end
    end)
  end
end)

describe('cnnc run --grad-output', function()
  local dir
  setup(function() dir = T.tmpdir() end)
  teardown(function() T.rmdir(dir) end)

  local function run(args)
    local p = io.popen(string.format('%sbin/cnnc run %s 2>&1; echo "rc=$?"', T.root, args))
    local out = p:read('*a')
    p:close()
    return tonumber(out:match('rc=(%d+)%s*$')), out
  end

  for _, v in ipairs({ { 'batch3_conv_dense', 'float64', 1e-9 }, { 'batchnorm_conv_fold', 'float32', 1e-6 } }) do
    local case, dtype, tol = v[1], v[2], v[3]
    it('writes the input gradient and every weight gradient (' .. case .. ', ' .. dtype .. ')', function()
      local data = ROOT .. 'data/' .. case
      local q = cli.shell_quote
      local out = dir .. '/' .. case
      local rc, log = run(string.format('%s %s --weights %s --grad-output %s -o %s --weight-grads %s --dtype %s',
        q(ROOT .. 'models/' .. case .. '.lua'), q(data .. '/input.npy'), q(data), q(data .. '/grad_output.npy'),
        q(out .. '.dx.npy'), q(out), dtype))
      assert.same(0, rc, log)
      local raw = T.util.read_file(out .. '.dx.npy')
      assert.truthy(raw:find(dtype == 'float64' and "'<f8'" or "'<f4'", 1, true))
      close(read(out .. '.dx.npy', 'double'), read(data .. '/expected_grad_input.npy', 'double'), tol, 'dx')
      assert.same(list(data .. '/grads'), list(out))
      for _, f in ipairs(list(out)) do
        close(read(out .. '/' .. f, 'double'), read(data .. '/grads/' .. f, 'double'), tol, f)
      end
    end)
  end

  it('--dtype float64 writes a forward run\'s outputs unrounded too', function()
    local data = ROOT .. 'data/mixed_1d'
    local q = cli.shell_quote
    local rc, log = run(string.format('%s %s --weights %s -o %s --dtype float64', q(ROOT .. 'models/mixed_1d.lua'),
      q(data .. '/input.npy'), q(data), q(dir .. '/y64.npy')))
    assert.same(0, rc, log)
    assert.truthy(T.util.read_file(dir .. '/y64.npy'):find("'<f8'", 1, true))
    local r = T.compile(assert(T.driver.load(ROOT .. 'models/mixed_1d.lua')), { stop = 'shape', weights = data })
    local want = assert(runner.run_batch(r.typed, read(data .. '/input.npy'), nil, 'double'))
    close(read(dir .. '/y64.npy', 'double'), want, 0, 'output')
  end)

  it('writes nothing when the output gradient does not fit', function()
    local data = ROOT .. 'data/batch3_conv_dense'
    local q = cli.shell_quote
    local rc, log = run(string.format('%s %s --weights %s --grad-output %s -o %s --weight-grads %s',
      q(ROOT .. 'models/batch3_conv_dense.lua'), q(data .. '/input.npy'), q(data), q(data .. '/input.npy'),
      q(dir .. '/no.npy'), q(dir .. '/nodir')))
    assert.same(1, rc)
    assert.matches('input%.npy: the output gradient has shape %(3, 6, 5, 2%) but the output is %(3,%) and the '
      .. 'input holds 3 items: expected %(3, 3%)', log)
    assert.is_nil(io.open(dir .. '/no.npy', 'rb'))
    assert.is_nil(T.util.path_kind(dir .. '/nodir'))
  end)
end)
