-- Winograd convolution (cnnc.simd.winograd): the transform matrices compute a 3-tap
-- correlation exactly (in double), their factored forms equal the matrix products, and the
-- select pass picks the layers it may run as Winograd.

local T = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'testutil.lua')
local nn = T.nn
local wg = require 'cnnc.simd.winograd'

local function matvec(A, x)
  local y = {}
  for i, row in ipairs(A) do
    local s = 0
    for j, a in ipairs(row) do s = s + a * x[j] end
    y[i] = s
  end
  return y
end

-- Evaluates a factored transform (F.bt, F.at), whose expressions are C text over vf_add and
-- vf_fma(vf_set1(c), a, b), on numbers.
local function run_factored(fn, x)
  local env = {}
  local function name(i) return 'x' .. i end
  for i, v in ipairs(x) do env[name(i - 1)] = v end
  local count = 0
  local function eval(e)
    e = e:gsub('vf_set1%(([^)]*)f%)', '%1'):gsub('vf_add', 'add'):gsub('vf_fma', 'fma')
    local f = assert(loadstring('return ' .. e))
    setfenv(f, setmetatable({ add = function(a, b) return a + b end,
      fma = function(a, b, c) return a * b + c end }, { __index = env }))
    return f()
  end
  local out = fn(name, function(e)
    count = count + 1
    env['s' .. count] = eval(e)
    return 's' .. count
  end)
  local y = {}
  for i, e in ipairs(out) do y[i] = eval(e) end
  return y
end

describe('winograd transforms', function()
  for _, m in ipairs({ 2, 4 }) do
    it(string.format('F(%d,3) computes a 3-tap correlation', m), function()
      local F = wg.F[m]
      for trial = 1, 20 do
        local d, g = {}, {}
        for i = 1, m + 2 do d[i] = math.sin(trial * 7 + i * 1.3) end
        for i = 1, 3 do g[i] = math.cos(trial * 3 + i * 0.7) end
        local u, v = matvec(F.G, g), matvec(F.BT, d)
        local prod = {}
        for i = 1, m + 2 do prod[i] = u[i] * v[i] end
        local y = matvec(F.AT, prod)
        for i = 1, m do
          local want = d[i] * g[1] + d[i + 1] * g[2] + d[i + 2] * g[3]
          assert.is_true(math.abs(y[i] - want) < 1e-12, string.format('output %d: %g vs %g', i, y[i], want))
        end
      end
    end)
    if wg.F[m].bt then
      it(string.format('F(%d,3) factored transforms equal B^T x and A^T x', m), function()
        local F = wg.F[m]
        for trial = 1, 10 do
          local x = {}
          for i = 1, m + 2 do x[i] = math.sin(trial * 5 + i * 2.1) end
          for _, pair in ipairs({ { F.bt, F.BT }, { F.at, F.AT } }) do
            local got, want = run_factored(pair[1], x), matvec(pair[2], x)
            assert.equal(#want, #got)
            for i = 1, #want do assert.is_true(math.abs(got[i] - want[i]) < 1e-12) end
          end
        end
      end)
    end
  end
end)

describe('winograd choice', function()
  local function planned(layers, opts)
    local m = nn.Sequential{ name = 'wino_case', input_shape = { 32, 32, 64 }, layers = layers }
    opts.stop = 'plan'
    return T.compile(m, opts).planned
  end
  local layers = function()
    return {
      nn.Conv2D{ 64, 3, padding = 'same' },              -- eligible, and faster
      nn.Conv2D{ 64, 3, strides = 2, padding = 'same' },  -- strided: never
      nn.Conv2D{ 64, { 3, 1 } },                          -- not 3x3: never
      nn.Conv2D{ 64, 3, dilation_rate = 2 },              -- dilated: never
    }
  end
  it('auto takes the 3x3 stride-1 layer on a SIMD target', function()
    local g = planned(layers(), { target = 'avx2' })
    assert.equal('winograd', g.nodes[1].sel.kernel)
    for i = 2, 4 do assert.equal('direct', g.nodes[i].sel.kernel) end
    assert.is_true(g.plan.scratch[g.nodes[1].name] ~= nil)
  end)
  it('off and the generic target never do', function()
    for _, opts in ipairs({ { target = 'avx2', winograd = 'off' }, { target = 'generic', winograd = 'on' } }) do
      local g = planned(layers(), opts)
      for i = 1, 4 do assert.is_true(g.nodes[i].sel.kernel ~= 'winograd') end
    end
  end)
  it('chooses the same kernel for any thread count', function()
    local a = planned(layers(), { target = 'avx512' }).nodes[1].sel.plan
    local b = planned(layers(), { target = 'avx512', threads = 3 }).nodes[1].sel.plan
    assert.equal(a.m, b.m)
    assert.equal(a.TG, b.TG)
    assert.equal(a.NV, b.NV)
  end)
  it('rejects an unknown mode', function()
    local m = nn.Sequential{ name = 'wino_case', input_shape = { 8, 8, 4 }, layers = { nn.Conv2D{ 4, 3 } } }
    local r, err = require('cnnc.driver').compile(m, { target = 'avx2', winograd = 'maybe', stop = 'plan' })
    assert.is_nil(r)
    assert.truthy(require('cnnc.util').format_error(err):find('auto, on or off', 1, true))
  end)
end)
