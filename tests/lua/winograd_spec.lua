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
  it('gives part k of every shared Winograd layer its buffers at the same place', function()
    -- layers of different buffer sizes (64 -> 128 -> 32 channels, 32x32 then 16x16 tiles)
    local g = planned({ nn.Conv2D{ 128, 3, padding = 'same' }, nn.MaxPooling2D{ 2 },
      nn.Conv2D{ 32, 3, padding = 'same' }, nn.Conv2D{ 128, 3, padding = 'same' } },
      { target = 'avx512', threads = 2, tune = { share_min_ns = 0, team_min_ns = 0 } })
    local stride, n, own = nil, 0, {}
    for _, node in ipairs(g.nodes) do
      local p = node.sel.kernel == 'winograd' and node.sel.parts and node.sel.plan
      if p then
        n = n + 1
        stride = stride or p.wsp
        assert.equal(stride, p.wsp)
        assert.is_true(node.sel.scratch >= (p.padded or 0) + 2 * p.wsp)
        assert.is_true(p.wsp >= p.vsize + p.T * p.P * p.Kp, node.name .. ': buffers overlap the next part\'s')
        own[#own + 1] = p.vsize + p.T * p.P * p.Kp
      end
    end
    assert.equal(3, n)
    table.sort(own)
    assert.is_true(own[1] < own[#own], 'the layers\' own buffers should differ in size')
  end)
  it('takes the kernel gradient as Winograd in backward and training builds, not with off', function()
    -- a training build's forward pass has no Winograd (its weights change), its weight
    -- gradients still do: they transform no weights
    for _, opts in ipairs({ { target = 'avx512', backward = true }, { target = 'avx512', train = true } }) do
      local g = planned(layers(), opts)
      assert.truthy(g.nodes[1].sel.bplan.wdw, opts.train and 'train' or 'backward')
      assert.equal(opts.train and 'direct' or 'winograd', g.nodes[1].sel.kernel)
      for i = 2, 4 do assert.is_nil(g.nodes[i].sel.bplan.wdw) end
    end
    local g = planned(layers(), { target = 'avx512', train = true, winograd = 'off' })
    assert.is_nil(g.nodes[1].sel.bplan.wdw)
  end)
  it('rejects an unknown mode', function()
    local m = nn.Sequential{ name = 'wino_case', input_shape = { 8, 8, 4 }, layers = { nn.Conv2D{ 4, 3 } } }
    local r, err = require('cnnc.driver').compile(m, { target = 'avx2', winograd = 'maybe', stop = 'plan' })
    assert.is_nil(r)
    assert.truthy(require('cnnc.util').format_error(err):find('auto, on or off', 1, true))
  end)
end)

describe('1-D winograd (cnnc.simd.winograd1d)', function()
  local wmath = require 'cnnc.simd.winograd_math'
  it('Cook-Toom F(m, r) computes an r-tap correlation for every tile it uses', function()
    for _, mr in ipairs({ { 1, 1 }, { 2, 2 }, { 4, 2 }, { 6, 2 }, { 2, 3 }, { 3, 3 }, { 4, 3 }, { 6, 3 } }) do
      local m, r = mr[1], mr[2]
      local F = wmath.cook_toom(m, r)
      assert.equal(m + r - 1, F.n)
      for trial = 1, 5 do
        local d, g = {}, {}
        for i = 1, F.n do d[i] = math.sin(trial * 5 + i * 1.7) end
        for i = 1, r do g[i] = math.cos(trial * 2 + i * 0.9) end
        local u, v = matvec(F.G, g), matvec(F.BT, d)
        local prod = {}
        for i = 1, F.n do prod[i] = u[i] * v[i] end
        local y = matvec(F.AT, prod)
        for i = 1, m do
          local want = 0
          for k = 1, r do want = want + g[k] * d[i + k - 1] end
          assert.is_true(math.abs(y[i] - want) < 1e-12, string.format('F(%d,%d) output %d: %g vs %g', m, r, i, y[i], want))
        end
      end
    end
  end)
  it('Cook-Toom F(4, 3) is the factored F(4x4, 3x3) of the 2-D kernel', function()
    local F = wmath.cook_toom(4, 3)
    for _, key in ipairs({ 'BT', 'G', 'AT' }) do
      for i, row in ipairs(F[key]) do
        for j, v in ipairs(row) do assert.is_true(math.abs(v - wg.F[4][key][i][j]) < 1e-15) end
      end
    end
  end)

  local function planned(layers, opts)
    local m = nn.Sequential{ name = 'w1d_case', input_shape = { 256, 32 }, layers = layers }
    opts.stop = 'plan'
    return T.compile(m, opts).planned
  end
  local layers = function()
    return {
      nn.Conv1D{ 64, 9, padding = 'same' },             -- 9 taps, many channels: Winograd over 3 phases
      nn.Conv1D{ 64, 3, padding = 'same' },             -- 3 taps: F(m, 3)
      nn.Conv1D{ 64, 3, strides = 2, padding = 'same' },  -- strided: never
      nn.Conv1D{ 64, 3, dilation_rate = 2 },            -- dilated: never
      nn.Conv1D{ 64, 11 },                              -- more than 9 taps: never
    }
  end
  it('auto takes the stride-1 layers of 3 to 9 taps where the model says so, the direct 1-D kernel the rest', function()
    local g = planned(layers(), { target = 'avx512' })
    assert.equal('winograd', g.nodes[1].sel.kernel)
    assert.truthy(g.nodes[1].sel.text:find('F(', 1, true) and g.nodes[1].sel.text:find('3 phases', 1, true))
    assert.equal('winograd', g.nodes[2].sel.kernel)
    assert.equal('winograd F(6,3)', g.nodes[2].sel.text)
    for i = 3, 5 do assert.equal('direct 1-D', g.nodes[i].sel.kernel) end
  end)
  it('off keeps the direct 1-D kernel, and one input channel never pays', function()
    local g = planned(layers(), { target = 'avx512', winograd = 'off' })
    for i = 1, 5 do assert.equal('direct 1-D', g.nodes[i].sel.kernel) end
    local m = nn.Sequential{ name = 'w1d_one', input_shape = { 4096, 1 }, layers = { nn.Conv1D{ 16, 9, padding = 'same' } } }
    assert.equal('direct 1-D', T.compile(m, { target = 'avx512', stop = 'plan' }).planned.nodes[1].sel.kernel)
  end)
  it('chooses the same tiles for any thread count, and holds a pool only in tiles of whole windows', function()
    local a = planned(layers(), { target = 'avx512' }).nodes[1].sel.plan
    local b = planned(layers(), { target = 'avx512', threads = 3 }).nodes[1].sel.plan
    assert.equal(a.TL, b.TL)
    assert.equal(a.TG, b.TG)
    local w1d = require 'cnnc.simd.winograd1d'
    local node = planned(layers(), { target = 'avx512' }).nodes[2]
    local tune = require('cnnc.tune').resolve()
    local t = require('cnnc.targets').get('avx512')
    assert.equal(0, w1d.plan(node, t, { tune = tune, pool = { kh = 1, kw = 3 } }).TL % 3)
    assert.equal(0, w1d.plan(node, t, { tune = tune, pool = { kh = 1, kw = 4 } }).TL % 4)
    assert.is_nil(w1d.plan(node, t, { tune = tune, pool = { kh = 1, kw = 5 } }))
  end)
end)

describe('grouped convolution (cnnc.simd.grouped)', function()
  it('runs groups > 1 that are not depthwise; a block reads only its groups\' input channels', function()
    local m = nn.Sequential{ name = 'grp_case', input_shape = { 8, 8, 64 }, layers = {
      nn.Conv2D{ 64, 3, padding = 'same', groups = 4 },   -- 16 -> 16: whole vectors
      nn.Conv2D{ 64, 3, padding = 'same', groups = 64 },  -- depthwise
      nn.Conv2D{ 32, 1, groups = 8 },                     -- 8 -> 4
    } }
    local g = T.compile(m, { target = 'avx512', stop = 'plan' }).planned
    assert.equal('grouped', g.nodes[1].sel.kernel)
    for _, b in ipairs(g.nodes[1].sel.plan.blocks) do assert.equal(16, b.nic) end
    assert.equal('depthwise', g.nodes[2].sel.kernel)
    -- groups of 4 output channels: a 16-lane vector would span 4 groups and carry a NaN or
    -- infinity of one group's inputs into the others' outputs (0 * inf), so the layer's own C
    assert.equal('generic', g.nodes[3].sel.kernel)
    local g2 = T.compile(m, { target = 'sse4', stop = 'plan' }).planned
    assert.equal('grouped', g2.nodes[3].sel.kernel)   -- 4 channels: whole SSE vectors
    assert.equal(1, g2.nodes[3].sel.plan.waste)
    local generic = T.compile(m, { target = 'generic', stop = 'plan' }).planned
    assert.equal('generic', generic.nodes[1].sel.kernel)
  end)
  it('runs groups of whole AVX2 vectors (not AVX-512 ones) on 8-lane vectors in an AVX-512 build', function()
    local m = nn.Sequential{ name = 'grp_narrow', input_shape = { 8, 8, 48 }, layers = {
      nn.Conv2D{ 48, 3, padding = 'same', groups = 2, activation = 'swish' },  -- 24 -> 24
      nn.MaxPooling2D{ 2 },
    } }
    local g = T.compile(m, { target = 'avx512', stop = 'plan' }).planned
    local sel = g.nodes[1].sel
    assert.equal('grouped', sel.kernel)
    assert.equal('avx2', sel.plan.target.name)
    assert.truthy(sel.text:find('on 8-lane avx2 vectors', 1, true))
    assert.equal(0, sel.plan.kvec)            -- swish calls cnnc_vf_exp: the scalar pass
    assert.is_nil(sel.pool)                   -- the pool keeps its own code
    local g2 = T.compile(m, { target = 'avx2', stop = 'plan' }).planned
    assert.equal('avx2', g2.nodes[1].sel.plan.target.name)
    assert.is_nil(g2.nodes[1].sel.text:find('lane', 1, true))
    assert.equal(1, g2.nodes[1].sel.plan.kvec)
    assert.truthy(g2.nodes[1].sel.pool)
  end)
  it('takes Keras\'s groups argument and checks it divides the channels', function()
    local m = nn.Sequential{ name = 'grp_bad', input_shape = { 8, 8, 6 }, layers = { nn.Conv2D{ 8, 3, groups = 4 } } }
    local r, err = require('cnnc.driver').compile(m, { stop = 'shape' })
    assert.is_nil(r)
    assert.truthy(require('cnnc.util').format_error(err):find('groups = 4 must divide', 1, true))
  end)
end)
