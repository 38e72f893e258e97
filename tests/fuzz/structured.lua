-- The structured fuzzer of cnnc's compiler: mutated model files fed to the compiler.
--
--   lua_model  Lua model files (examples/*.lua, tests/golden/models/*.lua) mutated by
--              tests/fuzz/lua_mutate.lua (numbers, strings, types, arguments, names, lines)
--   onnx       ONNX files (tests/golden/onnx, examples/fashion_mnist, and a few of
--              libonnx-testdata's node tests when installed) mutated field by field and
--              byte by byte by tests/fuzz/onnx_mutate.lua
--
-- Each case must either compile (all passes, to C text) or fail with a clean cnnc error:
-- an error value of cnnc.util, whose message shows no traceback, no "internal error" and
-- no position inside cnnc's own sources (a Lua error of cnnc's code wrapped in a nice
-- message is still a bug); it must not hang (FUZZ_CASE_SECONDS of CPU, default 20, on top
-- of the sandbox's own budget) and must leave no file behind. Most cases run in process
-- through cnnc.driver; every 8th runs `bin/cnnc summary` or `bin/cnnc build --no-exe` as a
-- user would, and then the exit status, stderr and the output directory are checked too.
-- A compiled case is compiled twice now and then, and the C must be byte-identical; every
-- 4th compiled case's C goes through `cc -std=c99 -Wall -Wextra -Werror -pedantic`.
--
-- Case k of seed s is the same on every run (own RNG, seeded by s and k), so
-- `--seed s --case k` reproduces it alone. Findings are printed as FAIL lines; with
-- --save each is written to tests/fuzz/regressions/<kind>/ (the mutated file, and a
-- .txt with the seed, mutations and failure) where the suite replays it (--replay DIR).
--
-- usage: luajit tests/fuzz/structured.lua --kind lua_model|onnx
--          [--seed S] [--cases N | --seconds T | --case K] [--save] [--replay DIR]
-- Ends with "harness KIND: T s, N cases, F finding(s), seed S" and
-- "structured-KIND: P passed, F failed".

package.path = 'compiler/?.lua;tests/fuzz/?.lua;' .. package.path
local driver = require 'cnnc.driver'
local util = require 'cnnc.util'

local opts = { seed = 1, cases = nil, seconds = nil, case = nil, save = false }
do
  local i = 1
  while i <= #arg do
    local a, v = arg[i], arg[i + 1]
    if a == '--kind' then opts.kind = v; i = i + 1
    elseif a == '--seed' then opts.seed = assert(tonumber(v), '--seed takes a number'); i = i + 1
    elseif a == '--cases' then opts.cases = assert(tonumber(v)); i = i + 1
    elseif a == '--seconds' then opts.seconds = assert(tonumber(v)); i = i + 1
    elseif a == '--case' then opts.case = assert(tonumber(v)); i = i + 1
    elseif a == '--replay' then opts.replay = v; i = i + 1
    elseif a == '--save' then opts.save = true
    else error('unknown argument ' .. a) end
    i = i + 1
  end
end
assert(opts.kind == 'lua_model' or opts.kind == 'onnx', '--kind lua_model|onnx')
local EXT = opts.kind == 'onnx' and '.onnx' or '.lua'
local CASE_SECONDS = tonumber(os.getenv('FUZZ_CASE_SECONDS')) or 20
local ROOT = io.popen('pwd'):read('*l')
local out = io.stdout
print = function() end -- model files may print; keep the report readable

---------------------------------------------------------------- helpers
local function readf(p)
  local f = io.open(p, 'rb'); if not f then return nil end
  local s = f:read('*a'); f:close(); return s
end
local function writef(p, s) local f = assert(io.open(p, 'wb')); f:write(s); f:close() end
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function lines(cmd)
  local t = {}
  for l in io.popen(cmd):lines() do t[#t + 1] = l end
  return t
end

-- A small LCG (Numerical Recipes constants) on exact doubles: reproducible anywhere and
-- independent of math.random, which the compiler might use.
local Rng = {}
Rng.__index = Rng
local function rng_new(seed) return setmetatable({ s = seed % 4294967296 }, Rng) end
function Rng:next()
  self.s = (1664525 * self.s + 1013904223) % 4294967296
  return self.s
end
function Rng:int(lo, hi)
  if hi <= lo then return lo end
  return lo + math.floor(self:next() / 4294967296 * (hi - lo + 1))
end

---------------------------------------------------------------- sources
local CONFORMANCE = '/usr/share/libonnx-testdata/data/node/'
local CONFORMANCE_CASES = { 'conv_with_strides_padding', 'conv_with_autopad_same',
  'conv_with_strides_and_asymmetric_padding', 'averagepool_2d_pads_count_include_pad', 'averagepool_2d_ceil',
  'averagepool_3d_default', 'maxpool_2d_dilations', 'maxpool_2d_same_lower', 'maxpool_1d_default',
  'maxpool_3d_default', 'gemm_all_attributes', 'gemm_transposeA', 'matmul_3d', 'prelu_broadcast',
  'clip_splitbounds', 'softmax_axis_0', 'logsoftmax_axis_2', 'flatten_negative_axis3',
  'reshape_negative_extended_dims', 'reshape_allowzero_reordered', 'squeeze_negative_axes',
  'unsqueeze_unsorted_axes', 'transpose_all_permutations_3', 'concat_3d_axis_negative_2', 'batchnorm_epsilon',
  'batchnorm_example_training_mode', 'constant_pad', 'add_bcast', 'div_example', 'dropout_default_mask',
  'hardswish', 'celu', 'selu_example', 'leakyrelu', 'globalmaxpool_precomputed', 'convtranspose_pads',
  'resize_upsample_scales_linear', 'resize_tf_crop_and_resize', 'layer_normalization_4d_axis1',
  'reduce_mean_keepdims_example', 'slice_neg_steps', 'gather_1', 'split_equal_parts_1d', 'depthtospace_crd_mode',
  'where_example', 'expand_dim_changed', 'tile', 'instancenorm_example', 'shape_start_1', 'argmax_default_axis_example',
  'upsample_nearest' }

-- {name, bytes, binds = {graph input name -> tensor} or nil}
local function sources()
  local list = {}
  if opts.kind == 'lua_model' then
    for _, p in ipairs(lines('ls examples/*.lua tests/golden/models/*.lua')) do
      list[#list + 1] = { name = p, bytes = readf(p) }
    end
    return list
  end
  for _, p in ipairs(lines('ls tests/golden/onnx/*/model.onnx examples/fashion_mnist/*.onnx')) do
    local s = readf(p)
    if #s <= 1024 * 1024 then list[#list + 1] = { name = p, bytes = s } end
  end
  -- Node tests take their weights as extra graph inputs: bind them, as --bind does.
  local onnx = require 'cnnc.onnx.model'
  for _, c in ipairs(CONFORMANCE_CASES) do
    local dir = CONFORMANCE .. 'test_' .. c
    local s = readf(dir .. '/model.onnx')
    local ok, m = pcall(onnx.read, dir .. '/model.onnx')
    if s and ok and m.graph then
      local binds = {}
      for k = 2, #m.graph.inputs do
        local tok, t = pcall(onnx.read_tensor, string.format('%s/test_data_set_0/input_%d.pb', dir, k - 1))
        if tok then binds[m.graph.inputs[k].name] = t end
      end
      list[#list + 1] = { name = dir .. '/model.onnx', bytes = s, binds = binds }
    end
  end
  return list
end

---------------------------------------------------------------- one case
local TMP = lines('mktemp -d /tmp/cnnc_fuzz_structured.XXXXXX')[1]
local CASE_FILE = TMP .. '/case' .. EXT

-- A cnnc error message is clean when it shows nothing of cnnc's insides.
local function unclean(msg)
  if msg:find('stack traceback', 1, true) then return 'a traceback' end
  if msg:lower():find('internal error', 1, true) then return '"internal error"' end
  local src = msg:match('(cnnc/[%w_/]+%.lua:%d+)') or msg:match('(compiler/[%w_/]+%.lua:%d+)')
  if src then return 'a position in cnnc\'s sources (' .. src .. ')' end
  if msg:find('tests/fuzz/', 1, true) then return 'a position in the fuzzer' end
  return nil
end

local deadline, last_outcome, last_error, last_c
local function hook()
  if os.clock() > deadline then error('cnnc-fuzz: case timeout', 0) end
end

-- Runs the compiler in process; returns nil when the outcome is acceptable, else why not.
local function in_process(path, binds, check_determinism)
  deadline = os.clock() + CASE_SECONDS
  debug.sethook(hook, '', 1000)
  local ok, res = pcall(function()
    local model, err = driver.load(path, { binds = binds })
    debug.sethook(hook, '', 1000) -- the sandbox replaces the hook and clears it
    if not model then return { err = err } end
    local r, cerr = driver.compile(model, { stop = 'emit' })
    if not r then return { err = cerr } end
    if type(r.c) ~= 'string' or #r.c == 0 or type(r.h) ~= 'string' then return { bad = 'compiled to no C' } end
    if check_determinism then
      local r2 = driver.compile(model, { stop = 'emit' })
      if not r2 or r2.c ~= r.c or r2.h ~= r.h then return { bad = 'compiling twice gave different C' } end
    end
    return { ok = true, c = r.c, h = r.h, name = r.planned.name }
  end)
  last_outcome = ok and res.ok and 'compiled' or 'rejected'
  last_c = ok and res.ok and res or nil
  if ok and res.err and util.is_error(res.err) then last_error = res.err.message end
  debug.sethook()
  if not ok then
    local msg = tostring(res)
    if msg:find('cnnc-fuzz: case timeout', 1, true) then return 'hang: more than ' .. CASE_SECONDS .. ' s of CPU' end
    return 'Lua error escaped: ' .. msg
  end
  if res.bad then return res.bad end
  if res.err then
    if not util.is_error(res.err) then return 'error is not a cnnc error: ' .. tostring(res.err) end
    local why = unclean(util.format_error(res.err))
    if why then return 'unclean error (' .. why .. '): ' .. util.format_error(res.err) end
  end
  return nil
end

-- Runs bin/cnnc as a user would; checks exit status, stderr and the output directory.
local function through_cli(path, binds, k)
  if binds and next(binds) then return nil end -- --bind needs files; in process covers these
  local build = k % 16 == 0
  local outdir = TMP .. '/out'
  local cmd = build and string.format('timeout 120 %s/bin/cnnc build %s -o %s --no-exe', ROOT, q(path), q(outdir))
    or string.format('timeout 120 %s/bin/cnnc summary %s', ROOT, q(path))
  local p = io.popen(cmd .. ' 2>&1 >/dev/null; echo "fuzz-status:$?"')
  local text = p:read('*a')
  p:close()
  local status = tonumber(text:match('fuzz%-status:(%d+)%s*$'))
  local stderr = text:gsub('fuzz%-status:%d+%s*$', '')
  local why
  if status == 124 then why = 'hang: `cnnc` ran more than 120 s'
  elseif status ~= 0 and status ~= 1 then why = 'exit status ' .. tostring(status)
  elseif status == 1 and not stderr:match('^cnnc: ') then why = 'stderr does not start with "cnnc: "'
  elseif status == 1 then why = unclean(stderr) and ('unclean error (' .. unclean(stderr) .. ')')
  end
  if build then
    local files = lines('ls -A ' .. q(outdir) .. ' 2>/dev/null')
    if status ~= 0 and #files > 0 then why = why or ('failed build left ' .. table.concat(files, ' ')) end
    os.execute('rm -rf ' .. q(outdir))
  end
  return why and (why .. ': ' .. stderr:sub(1, 2000)) or nil
end

local function leftovers()
  local extra = {}
  for _, f in ipairs(lines('ls -A ' .. q(TMP))) do
    if f ~= 'case' .. EXT then extra[#extra + 1] = f end
  end
  os.execute('rm -rf ' .. q(TMP) .. '/*')
  return #extra > 0 and ('files left behind: ' .. table.concat(extra, ' ')) or nil
end

local outcomes = { compiled = 0, rejected = 0 }
local messages = {} -- error message (numbers blanked) -> count, for FUZZ_VERBOSE

-- The generated C of a compiled case must pass the C compiler with the warnings the
-- contract promises (DESIGN.md: -Wall -Wextra -Werror -pedantic, C99).
local function c_compiles(r)
  if #r.name > 200 then return nil end -- NAME.c would be too long a file name for the system
  local dir = TMP .. '/cc'
  os.execute('mkdir -p ' .. q(dir))
  writef(dir .. '/' .. r.name .. '.c', r.c)
  writef(dir .. '/' .. r.name .. '.h', r.h)
  local p = io.popen(string.format('cd %s && timeout 120 cc -std=c99 -Wall -Wextra -Werror -pedantic -fsyntax-only %s 2>&1; '
    .. 'echo "fuzz-status:$?"', q(dir), q(r.name .. '.c')))
  local text = p:read('*a')
  p:close()
  os.execute('rm -rf ' .. q(dir))
  if text:match('fuzz%-status:0%s*$') then return nil end
  return 'the generated C does not compile cleanly: ' .. text:sub(1, 1500)
end

local function run_case(bytes, binds, k, determinism)
  writef(CASE_FILE, bytes)
  last_error = nil
  local why = in_process(CASE_FILE, binds, determinism)
  outcomes[last_outcome] = outcomes[last_outcome] + 1
  if last_error then
    local key = last_error:gsub('%d+', 'N'):sub(1, 90)
    messages[key] = (messages[key] or 0) + 1
  end
  if not why and last_c and k % 4 == 0 then why = c_compiles(last_c) end
  last_c = nil
  if not why and k % 8 == 0 then why = through_cli(CASE_FILE, binds, k) end
  return why or leftovers()
end

---------------------------------------------------------------- main
-- The per-case time limit is a count hook, which JIT-compiled traces do not call; it
-- still sees every return to the interpreter, and the caller's `timeout` is the backstop.
local wall_start = os.time()
local passed, failed, ran = 0, 0, 0

local function finding(label, bytes, why, info)
  failed = failed + 1
  out:write(string.format('FAIL %s: %s\n', label, why:sub(1, 3000)))
  out:flush()
  if opts.save then
    local dir = 'tests/fuzz/regressions/' .. opts.kind
    os.execute('mkdir -p ' .. dir)
    local base = string.format('%s/seed%d-case%d', dir, opts.seed, info.k)
    writef(base .. EXT, bytes)
    writef(base .. '.txt', string.format('source: %s\nseed %d case %d\nmutations:\n  %s\nfailure: %s\n',
      info.source, opts.seed, info.k, table.concat(info.done, '\n  '), why))
    out:write('  saved as ' .. base .. EXT .. '\n')
  end
end

if opts.replay then
  for _, f in ipairs(lines('ls ' .. q(opts.replay) .. ' 2>/dev/null')) do
    if f:sub(-#EXT) == EXT then
      ran = ran + 1
      local bytes = readf(opts.replay .. '/' .. f)
      local why = run_case(bytes, nil, ran, true)
      if why then failed = failed + 1; out:write(string.format('FAIL replay %s/%s: %s\n', opts.replay, f, why))
      else passed = passed + 1 end
    end
  end
else
  local srcs = sources()
  assert(#srcs > 0, 'no source models found (run from the repository root)')
  local mutate = require(opts.kind == 'onnx' and 'onnx_mutate' or 'lua_mutate')
  local pool
  if opts.kind == 'onnx' then
    local all = {}
    for _, s in ipairs(srcs) do all[#all + 1] = s.bytes end
    pool = mutate.pool(all)
  end
  out:write(string.format('structured %s: %d source models, seed %d\n', opts.kind, #srcs, opts.seed))
  local k = (opts.case or 1) - 1
  while true do
    k = k + 1
    if opts.case and k > opts.case then break end
    if opts.cases and k > opts.cases then break end
    if opts.seconds and os.time() - wall_start >= opts.seconds then break end
    if not (opts.case or opts.cases or opts.seconds) and k > 100 then break end
    local rng = rng_new(opts.seed * 1000003 + k * 7919)
    local src = srcs[rng:int(1, #srcs)]
    local bytes, done = mutate.mutate(src.bytes, rng, ({ 1, 1, 1, 2, 2, 3, 4 })[rng:int(1, 7)], pool)
    ran = ran + 1
    local why = run_case(bytes, src.binds, k, k % 10 == 0)
    if why then
      finding(string.format('%s seed %d case %d (%s; %s)', opts.kind, opts.seed, k, src.name,
        table.concat(done, '; '):sub(1, 400)), bytes, why, { k = k, source = src.name, done = done })
    else
      passed = passed + 1
    end
  end
end

os.execute('rm -rf ' .. q(TMP))
if os.getenv('FUZZ_VERBOSE') then
  local keys = util.sorted_keys(messages)
  table.sort(keys, function(a, b) return messages[a] > messages[b] end)
  for _, key in ipairs(keys) do out:write(string.format('%6d  %s\n', messages[key], key)) end
end
out:write(string.format('harness %s: %d s, %d cases (%d compiled, %d rejected cleanly), %d finding(s), seed %d\n',
  opts.kind, os.time() - wall_start, ran, outcomes.compiled, outcomes.rejected, failed, opts.seed))
out:write(string.format('structured-%s: %d passed, %d failed\n', opts.kind, passed, failed))
io.stdout:flush()
os.exit(failed == 0 and 0 or 1)
