-- The generator's leftovers (tests/lib/leftovers.lua): each pattern finds its leftover in a
-- sample and nothing in clean code; and the generated C holds none of them, on every target
-- (generic, sse4, avx2, avx512, neon), fused and unfused, on one thread and two. The C is
-- generated in this process and never compiled, so the cost is cnnc's own (about 15 s):
--   every target      the reference networks (bench/models) and the examples, each target
--                     with another (fusion, threads); but R3, whose 15 M weights cost 2-4 s
--                     a build, on generic, avx512 and neon only (sse4 and avx2 are avx512's
--                     emitters with other widths and register counts)
--   targets in turn   the golden models and the ONNX golden models: model k gets the k-th
--                     (target, fusion, threads) of the 20, so each combination is met
-- (tests/golden/run.lua checks its own builds too.)

local T = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'testutil.lua')
local L = dofile(T.root .. 'tests/lib/leftovers.lua')
local util = T.util

local function program(body) return 'void f(float *y, const float *x, int k, int last)\n{\n' .. body .. '\n}\n' end

-- Per pattern of L.PATTERNS, in order: code it must find (each line alone) and code it must not.
local SAMPLES = {
  { { 'for (int i = 0; i < 1; ++i) { y[i] = 2.0f; }', 'for (int k = 0; k < 1; ++k) memset(y + k * 8, 0, sizeof(float) * 8);',
      'for (int i = 3; i < 3; ++i) y[i] = 0.0f;' },
    'for (int i = 0; i < 2; ++i) { y[i] = 2.0f; }\nfor (int i = 4; i < 6; ++i) y[i] = 0.0f;' },
  { { 'y[k * 1] = 0.0f;', 'k = (k + 2) * 1;' }, 'y[k * 16] = x[0] * 1.0f;\ny[k * 10] = 0.0f;' },
  { { 'k = k / 1;' }, 'k = k / 16;\ny[0] = x[0] / 1.0f;' },
  { { 'k = k + 0;', 'y[k - 0] = 1.0f;' }, 'y[0] = x[0] + 0.5f;\nk = k + 10;' },
  { { 'f(y, x, 0 + k, last);', 'y[0 + k] = 1.0f;' }, 'f(y, x, 10 + k, last);\ny[0] = 0.0f + x[0];' },
  { { 'k = 1 * k;' }, 'k = 10 * k;\ny[0] = 1.0f * x[0];' },
  { { 'memset(y, 0, sizeof(float) * 0);' }, 'memset(y, 0, sizeof(float) * 16);' },
  { { 'y[k] = y[k];', 'k = last; k = k;' }, 'y[k] = y[k + 1];\nk = last;' },
  { { 'k = last ? 4 : 4;' }, 'k = last ? 4 : 5;' },
  { { 'float *p = (float *)x;' }, 'const float *p = x;\nconst float *q = (const float *)p;\n(void)q;' },
  { { 'y[2 * 16] = 0.0f;', 'f(y, x, 3 + 4, last);' }, 'y[k * 16] = 0.0f;\nf(y, x, k + 4, last);' },
}

describe('leftovers patterns', function()
  it('has a sample for every pattern', function()
    assert.equal(#L.PATTERNS, #SAMPLES)
  end)
  for i, s in ipairs(SAMPLES) do
    local p = L.PATTERNS[i]
    it('finds ' .. p[2] .. ' (pattern ' .. i .. ') and nothing in clean code', function()
      for _, dirty in ipairs(s[1]) do
        local found = L.find(program(dirty), 10, { p })
        assert(#found == 1, 'pattern ' .. i .. ' found ' .. #found .. ' leftovers in: ' .. dirty)
        assert.equal(p[2], found[1]:match('^(.-):'))
      end
      assert.same({}, L.find(program(s[2])))
    end)
  end
  it('looks at the code only: not comments, strings, preprocessor lines or weight arrays', function()
    assert.same({}, L.find(program('/* for (int i = 0; i < 1; ++i) y[i * 1] = 0; */\nconst char *s = "k + 0";\n(void)s;\n'
      .. '#define N (2 * 3)\n') .. 'static const float w[2] CNNC_ALIGNED = { 0x1p+0f, 1 * 2 };\n'))
  end)
  it('reports at most limit findings', function()
    local many = program(string.rep('k = k + 0;\n', 20))
    assert.equal(10, #L.find(many))
    assert.equal(3, #L.find(many, 3))
  end)
end)

local TARGETS = { 'generic', 'sse4', 'avx2', 'avx512', 'neon' }
local VARIANTS = { { fuse = true, threads = 1 }, { fuse = false, threads = 2 }, { fuse = true, threads = 2 },
  { fuse = false, threads = 1 } }

local function ls(cmd)
  local t = {}
  for f in io.popen(cmd):lines() do t[#t + 1] = f end
  return t
end

-- {name, path, weights dir or nil, list of {target, variant}}
local builds = {}
local every = ls('ls ' .. T.root .. 'bench/models/r*.lua ' .. T.root .. 'examples/*.lua')
local ONLY = { ['models/r3.lua'] = { generic = true, avx512 = true, neon = true } }
for k, path in ipairs(every) do
  local list = {}
  local only = ONLY[path:match('([^/]+/[^/]+)$')]
  for _, t in ipairs(TARGETS) do
    if not only or only[t] then list[#list + 1] = { t, VARIANTS[(#list + 1 + k) % #VARIANTS + 1] } end
  end
  builds[#builds + 1] = { path:match('([^/]+/[^/]+)$'), path, nil, list }
end
local in_turn = {}
for _, f in ipairs(ls('ls ' .. T.root .. 'tests/golden/models')) do
  local case = f:gsub('%.lua$', '')
  in_turn[#in_turn + 1] = { 'golden ' .. case, T.root .. 'tests/golden/models/' .. f, T.root .. 'tests/golden/data/' .. case }
end
for _, d in ipairs(ls('ls -d ' .. T.root .. 'tests/golden/onnx/*/')) do
  in_turn[#in_turn + 1] = { 'onnx ' .. d:match('([^/]+)/$'), d .. 'model.onnx' }
end
for k, b in ipairs(in_turn) do
  local pair = (k - 1) % (#TARGETS * #VARIANTS)
  b[4] = { { TARGETS[pair % #TARGETS + 1], VARIANTS[math.floor(pair / #TARGETS) + 1] } }
  builds[#builds + 1] = b
end

describe('generated C without leftovers', function()
  for _, b in ipairs(builds) do
    local what = {}
    for i, tv in ipairs(b[4]) do
      what[i] = string.format('%s %s %d', tv[1], tv[2].fuse and 'fused' or 'unfused', tv[2].threads)
    end
    it(b[1] .. ' (' .. table.concat(what, ', ') .. ')', function()
      local model, err = T.driver.load(b[2])
      assert(model, err and util.format_error(err))
      local found = {}
      for i, tv in ipairs(b[4]) do
        local r = T.compile(model, { weights = b[3], target = tv[1], fuse = tv[2].fuse, threads = tv[2].threads,
          blob = true })
        for _, f in ipairs(L.find(r.c, 3)) do found[#found + 1] = what[i] .. ': ' .. f end
        r = nil
        collectgarbage() -- the weights are FFI memory the collector does not see growing
      end
      assert(#found == 0, 'leftovers in the generated C:\n  ' .. table.concat(found, '\n  '))
    end)
  end
end)
