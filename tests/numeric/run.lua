-- The numeric suite: NaN, infinities and huge values through every layer kind, on the
-- generic target, the narrowest and the widest SIMD target this machine runs (sse4 and
-- avx512 on such an x86), fused and unfused, built as shared libraries through the experiments API (model:compile).
--
--   rules      each elementwise function at NaN, +-inf, +-1e30, 0, 1, -2 against PyTorch's
--              values (tests/numeric/rules_expected.lua), reference interpreter and C;
--   softmax    rows such as {1e30, -1e30, 0} through every softmax and log-softmax form,
--              against exact expected rows;
--   propagate  one model per layer kind on inputs with NaN, +inf and -inf at chosen places:
--              the C agrees with the reference interpreter (testlib.compare_special), and
--              the reference must itself show a NaN for a NaN input;
--   threads    NAME_predict_ws from 4 threads at once, each with its own workspace,
--              under ThreadSanitizer (tests/numeric/threads.sh);
--   determinism  two builds in two processes write identical files; two runs of one input
--              give identical outputs (tests/numeric/determinism.sh);
--   denormals  flushed to zero during a prediction on x86, the caller's control register
--              restored (tests/numeric/denormals.sh), and the reference's rule (below).
-- Cases are split over --jobs worker processes (default 2). Ends with
-- "numeric: P passed, F failed".
--
-- usage: luajit tests/numeric/run.lua [--jobs J] [--only PATTERN] [--verbose]

local here = (arg and arg[0] or ''):match('^(.*)/[^/]*$') or '.'
local function shell(cmd)
  local p = io.popen(cmd)
  local out = p:read('*a')
  p:close()
  return (out:gsub('%s+$', ''))
end
local root = shell('cd "' .. here .. '/../.." && pwd')
package.path = root .. '/compiler/?.lua;' .. root .. '/tests/?.lua;' .. package.path

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local opt = { jobs = 2 }
do
  local i = 1
  while i <= #arg do
    local a = arg[i]
    if a == '--jobs' then opt.jobs = tonumber(arg[i + 1]) or 2; i = i + 1
    elseif a == '--worker' then opt.worker = tonumber(arg[i + 1]); i = i + 1
    elseif a == '--only' then opt.only = arg[i + 1]; i = i + 1
    elseif a == '--verbose' then opt.verbose = true
    else
      io.stderr:write('usage: luajit tests/numeric/run.lua [--jobs J] [--only PATTERN] [--verbose]\n')
      os.exit(2)
    end
    i = i + 1
  end
end

-- The parent: start the workers and the shell parts, print what they report, count.
local SCRIPTS = { 'threads', 'determinism', 'denormals' }
if not opt.worker then
  os.execute('mkdir -p ' .. q(root .. '/build'))
  local work = shell('mktemp -d ' .. q(root .. '/build/numeric.XXXXXX'))
  local cmds = {}
  for j = 1, opt.jobs do
    cmds[#cmds + 1] = string.format('luajit %s --worker %d --jobs %d %s %s > %s 2>&1 &', q(root .. '/tests/numeric/run.lua'),
      j, opt.jobs, opt.only and ('--only ' .. q(opt.only)) or '', opt.verbose and '--verbose' or '',
      q(work .. '/worker' .. j .. '.log'))
  end
  -- The shell parts run beside the workers, one after the other.
  local scripts = {}
  for _, s in ipairs(SCRIPTS) do
    if not opt.only or s:find(opt.only, 1, true) then
      scripts[#scripts + 1] = string.format('sh %s > %s 2>&1;', q(root .. '/tests/numeric/' .. s .. '.sh'), q(work .. '/' .. s .. '.log'))
    end
  end
  if #scripts > 0 then cmds[#cmds + 1] = '{ ' .. table.concat(scripts, ' ') .. ' } &' end
  local t0 = os.time()
  os.execute(table.concat(cmds, ' ') .. ' wait')
  local pass, fail = 0, 0
  local logs = {}
  for j = 1, opt.jobs do logs[#logs + 1] = work .. '/worker' .. j .. '.log' end
  for _, s in ipairs(SCRIPTS) do
    if not opt.only or s:find(opt.only, 1, true) then logs[#logs + 1] = work .. '/' .. s .. '.log' end
  end
  for _, path in ipairs(logs) do
    local f = io.open(path, 'rb')
    local text = f and f:read('*a') or ''
    if f then f:close() end
    local done = false
    for line in text:gmatch('[^\n]+') do
      if line:match('^ok ') then
        pass = pass + 1
        if opt.verbose then io.write(line, '\n') end
      elseif line:match('^FAIL') then
        fail = fail + 1
        io.write(line, '\n')
      elseif line:match('^done$') then
        done = true
      elseif not line:match('^%-%-') then
        io.write(line, '\n')
      end
    end
    if not done and f then
      fail = fail + 1
      io.write('FAIL ', path:match('[^/]+$'), ' ended early:\n', text:sub(-2000), '\n')
    end
  end
  os.execute('rm -rf ' .. q(work))
  io.write(string.format('numeric: %d cases in %d s\n', pass + fail, os.time() - t0))
  io.write(string.format('numeric: %d passed, %d failed\n', pass, fail))
  os.exit(fail > 0 and 1 or 0)
end

-- A worker: every opt.jobs-th job, one "ok ..." or "FAIL ..." line per check.
local ffi = require 'ffi'
local cnnc = require 'cnnc'
local driver = require 'cnnc.driver'
local runner = require 'cnnc.runner'
local targets = require 'cnnc.targets'
local util = require 'cnnc.util'
local testlib = require 'lib.testlib'
local pch = require 'lib.pch'
local cases = require 'numeric.cases'

local CACHE = root .. '/build/cnnc-cache-numeric'
-- generic, the narrowest SIMD target and the widest (x86: sse4 and avx512). The x86
-- targets share their NaN and infinity rules (the same macros at another width); what
-- differs between widths, the remainder loops, sits between the two tested here (the simd
-- and golden suites run every target on every kernel).
local TARGETS = targets.host_list()
if #TARGETS > 3 then TARGETS = { TARGETS[1], TARGETS[2], TARGETS[#TARGETS] } end
local RULE_TARGETS = { TARGETS[1], TARGETS[#TARGETS] }
local NAN, INF = cases.NAN, cases.INF

local function report(ok, name, msg)
  if ok then io.write('ok   ', name, '\n')
  else io.write('FAIL ', name, ': ', msg, '\n') end
  io.stdout:flush()
end

-- The reference interpreter's output for batch x (float32 tensor).
local function reference(model, x)
  local r, err = driver.compile(model, { stop = 'shape' })
  if not r then error('compile failed: ' .. util.format_error(err)) end
  local y, rerr = runner.run_batch(r.typed, x)
  if not y then error('reference failed: ' .. util.format_error(rerr)) end
  return y
end

-- Every build of model (each target of TARGETS, fused; unfused on the first and last):
-- {name, net} or {name, err}.
-- Direct convolution only: a Winograd layer mixes the inputs of a whole tile in its
-- transforms, so a NaN or infinity there reaches every output of the tile, also those whose
-- window does not hold it (README, "NaN, infinities and denormals").
local function builds(model, target_list)
  local list = {}
  for _, t in ipairs(target_list or TARGETS) do
    -- unfused: generic and the widest target (the narrow one's vector code is the same)
    for _, fuse in ipairs((t == TARGETS[1] or t == TARGETS[#TARGETS]) and { true, false } or { true }) do
      local name = t .. (fuse and '/fused' or '/unfused')
      local cc = os.getenv('CC') or 'cc'
      -- -O1: optimised code (IEEE semantics hold at every level without -ffast-math), cheaper
      -- to compile than -O2, which is most of this suite's time
      local ok, net = pcall(model.compile, model, { target = t, fuse = fuse, cache = CACHE, winograd = 'off',
        cflags = '-O1' .. pch.flags(cc, '-std=c99 -O1 -fPIC', t) })
      list[#list + 1] = { name = name, net = ok and net or nil, err = not ok and tostring(net) or nil }
    end
  end
  return list
end

-- item i (1-based) of a batched tensor as a flat view {n, data}.
local function item(t, i, per)
  return { n = per, data = ffi.cast('float *', t.data) + (i - 1) * per }
end

local function ditem(t, i, per)
  return { n = per, data = ffi.cast(t.ctype == 'double' and 'double *' or 'float *', t.data) + (i - 1) * per }
end

-- Checks every build against want (a tensor of the whole batch) with cmp(got, want).
local function check_builds(case_name, model, x, want, cmp, target_list)
  for _, b in ipairs(builds(model, target_list)) do
    local name = case_name .. ' ' .. b.name
    if not b.net then report(false, name, 'build failed: ' .. b.err)
    else
      local ok, got = pcall(b.net.predict, b.net, x)
      if not ok then report(false, name, 'predict failed: ' .. tostring(got))
      else
        local msg = cmp(got, want)
        report(msg == nil, name, msg)
      end
    end
  end
end

local jobs = {}

-- rules: x is RULE_X down the 8 positions of a (8, 1) input; every rule of a tag in one
-- model (cases.rules_models), each rule's 8 outputs checked on their own.
for _, m in ipairs(cases.rules_models()) do
  jobs[#jobs + 1] = { name = 'rules ' .. m.tag, run = function()
    local n = #cases.RULE_X
    local x = cnnc.Tensor({ n, 1 })
    local want = cnnc.Tensor({ n * #m.rules, 1 })
    for i = 1, n do x.data[i - 1] = cases.RULE_X[i] end
    for k, rule in ipairs(m.rules) do
      for i = 1, n do want.data[(k - 1) * n + i - 1] = rule.y[i] end
    end
    -- One line per rule: its block of the output against its expected values.
    local function each_rule(prefix, got)
      for k, rule in ipairs(m.rules) do
        local msg
        if got.n ~= want.n then msg = string.format('%d values, expected %d', got.n, want.n)
        else msg = testlib.compare_each(ditem(got, k, n), ditem(want, k, n), 1e-5) end
        report(msg == nil, string.format('rules %s %s %s', rule.name, m.tag, prefix), msg)
      end
    end
    each_rule('reference', reference(m.model, x))
    -- A standalone layer's code is the same vector code on every SIMD target but for the
    -- macros, which the conv-epilogue models (and tests/simd/vmath.lua) cover on each:
    -- generic and the best host target suffice for it.
    for _, b in ipairs(builds(m.model, m.tag ~= 'conv-epilogue' and RULE_TARGETS or nil)) do
      if not b.net then report(false, 'rules ' .. m.tag .. ' ' .. b.name, 'build failed: ' .. b.err)
      else
        local ok, got = pcall(b.net.predict, b.net, x)
        if not ok then report(false, 'rules ' .. m.tag .. ' ' .. b.name, 'predict failed: ' .. tostring(got))
        else each_rule(b.name, got) end
      end
    end
  end }
end

-- softmax: a batch of all SOFTMAX_ROWS.
for _, form in ipairs(cases.softmax_models()) do
  jobs[#jobs + 1] = { name = 'softmax ' .. form.tag, run = function(name)
    local rows = {}
    for _, row in ipairs(cases.SOFTMAX_ROWS) do
      local finite = true
      for _, v in ipairs(row[1]) do if v ~= v or v == INF or v == -INF then finite = false end end
      if finite or not form.finite_only then rows[#rows + 1] = row end
    end
    local ishape = form.model.input_shape
    local shape = { #rows }
    for i, v in ipairs(ishape) do shape[i + 1] = v end
    local x, want = cnnc.Tensor(shape), cnnc.Tensor(shape)
    local per = util.prod(ishape)
    for r, row in ipairs(rows) do
      local expect = form.log and row[3] or row[2]
      for k = 1, 3 do
        if form.layout == 'first' then
          for j = 0, 1 do
            x.data[(r - 1) * per + (k - 1) * 2 + j] = row[1][k]
            want.data[(r - 1) * per + (k - 1) * 2 + j] = expect[k]
          end
        else
          x.data[(r - 1) * per + k - 1] = row[1][k]
          want.data[(r - 1) * per + k - 1] = expect[k]
        end
      end
    end
    local function cmp(got, w) return testlib.compare_each(got, w, 1e-6) end
    local ref = reference(form.model, x)
    local msg = cmp(ref, want)
    report(msg == nil, name .. ' reference', msg)
    check_builds(name, form.model, x, want, cmp)
  end }
end

-- propagate: six inputs per model, finite values in about [-1, 1] plus
--   1 NaN at the first value (a corner: padding borders)   2 +inf at the last value
--   3 -inf in the middle    4 NaN in the middle, +inf first, -inf last
--   5 +inf and -inf in neighbouring positions of one channel (inf - inf in a window)
--   6 nothing special
local function special_inputs(ishape)
  local n, c = util.prod(ishape), ishape[#ishape]
  local mid = math.floor(n / 2) + 1
  local items = { { [0] = NAN }, { [n - 1] = INF }, { [mid] = -INF }, { [mid] = NAN, [0] = INF, [n - 1] = -INF },
    { [mid] = INF, [(mid + c) % n] = -INF }, {} }
  local shape = { #items }
  for i, v in ipairs(ishape) do shape[i + 1] = v end
  local x = cnnc.Tensor(shape)
  for i, sp in ipairs(items) do
    for k = 0, n - 1 do
      local v = sp[k] or (math.sin(0.7 * k + 0.3 * i) * 0.9 + 0.05 * math.cos(1.3 * k))
      x.data[(i - 1) * n + k] = v
    end
  end
  return x, #items, n
end

local function has_nan(t)
  for k = 0, t.n - 1 do if t.data[k] ~= t.data[k] then return true end end
  return false
end

local function all_finite(t)
  for k = 0, t.n - 1 do
    local v = t.data[k]
    if v ~= v or v == INF or v == -INF then return false end
  end
  return true
end

for _, m in ipairs(cases.propagate_models()) do
  jobs[#jobs + 1] = { name = 'propagate ' .. m.tag, run = function(name)
    local x, count, n = special_inputs(m.shape or m.model.input_shape)
    local ref = reference(m.model, x)
    local per = ref.n / count
    -- The reference must show the NaN of items 1 and 4 and stay finite on item 6: a
    -- reference that dropped NaN would make every comparison below pass.
    local ok = has_nan(ditem(ref, 1, per)) and has_nan(ditem(ref, 4, per))
      and (m.nonfinite or all_finite(ditem(ref, 6, per)))
    report(ok, name .. ' reference', 'the reference lost a NaN or made one from finite input')
    check_builds(name, m.model, x, ref, function(got)
      for i = 1, count do
        local msg = testlib.compare_special(item(got, i, per), ditem(ref, i, per), 1e-4)
        if msg then return string.format('input %d (of %d values): %s', i, n, msg) end
      end
    end)
  end }
end

-- denormals: the reference's rule (values below 2^-126 are zero at layer boundaries) and
-- the C on each target of TARGETS. A Dense whose products are 1e-40 must give 0, and the tiny
-- network must give on a denormal input exactly what it gives on zeros.
jobs[#jobs + 1] = { name = 'denormals products', run = function(name)
  local model = cnnc.Sequential { name = 'den', input_shape = { 2 }, layers = {
    cnnc.Dense { 2, kernel = { { 1e-20, 1 }, { 1e-20, 0 } }, bias = { 0, 0 } } } }
  local x = cnnc.Tensor({ 2 })
  x.data[0], x.data[1] = 1e-20, 1e-20
  local want = cnnc.Tensor({ 2 })
  want.data[0], want.data[1] = 0, 1e-20
  local function cmp(got, w)
    for k = 0, 1 do
      if got.data[k] ~= w.data[k] then return string.format('[%d]: got %.9g, expected %.9g', k, got.data[k], w.data[k]) end
    end
  end
  local ref = reference(model, x)
  report(cmp(ref, want) == nil, name .. ' reference', cmp(ref, want))
  check_builds(name, model, x, want, cmp)
end }
jobs[#jobs + 1] = { name = 'denormals reference', run = function(name)
  local model = assert(driver.load(root .. '/tests/numeric/tiny.lua'))
  local n = util.prod(model.input_shape)
  local zero, tiny = cnnc.Tensor(model.input_shape), cnnc.Tensor(model.input_shape)
  for k = 0, n - 1 do tiny.data[k] = ((k % 7) + 1) * 1e-40 end
  local a, b = reference(model, zero), reference(model, tiny)
  local same = true
  for k = 0, a.n - 1 do if a.data[k] ~= b.data[k] then same = false end end
  report(same, name .. ' tiny.lua: denormal input as zeros', 'the reference does not treat denormal input as zero')
end }

for j, job in ipairs(jobs) do
  if (j - 1) % opt.jobs + 1 == opt.worker and (not opt.only or job.name:find(opt.only, 1, true)) then
    local ok, err = xpcall(job.run, debug.traceback, job.name)
    if not ok then report(false, job.name, 'error: ' .. tostring(err)) end
  end
end
io.write('done\n')
