-- Differential test of cnnc: random networks, compiled to C fused and unfused (and once
-- more for a SIMD target of this machine), against the reference interpreter.
--
-- usage: luajit tests/differential/run.lua [--count N] [--seed S] [--jobs J] [--keep DIR]
--                                          [--only I,J,...] [--cflags FLAGS] [--verbose]
--                                          [--cross T,...] [--cross-every K]
--   --count N   networks 1..N of the seed (default 90)
--   --seed S    which networks (default 1); network I of seed S is always the same network
--   --jobs J    worker processes (default 2)
--   --keep DIR  copy each failing network (model.lua, input.npy, reference.npy, the C and
--               executables of both builds, repro.sh) to DIR/n<index>
--   --only L    check only the listed network indices (to reproduce a failure)
--   --cflags F  C flags for the model, runtime and link (default -O1), e.g. to add
--               -fsanitize=address,undefined
--   --verbose   also print one line per passing network and the time taken
--   --cross L   the targets of another architecture to build and run under emulation
--               (default: those cnnc.toolchain finds the cross compiler and emulator for,
--               i.e. neon with aarch64-linux-gnu-gcc and qemu-aarch64; '' for none)
--   --cross-every K  networks whose index + seed is a multiple of K (default 5) get a
--               cross build, counted as a test of its own (`#I [neon]`)
-- Prints one line per failing network or cross build, then `differential: N passed, M failed`; the exit
-- status is non-zero iff a network failed. Honours $CC (default cc); clang, when present,
-- checks every tenth network's C too. Work happens in a temporary build/differential.*
-- directory, removed at the end. See tests/differential/README.md.

local here = (arg and arg[0] or ''):match('^(.*)/[^/]*$') or '.'

local function shell(cmd)
  local p = io.popen(cmd)
  local out = p:read('*a')
  p:close()
  return (out:gsub('%s+$', ''))
end

local root = shell('cd "' .. here .. '/../.." && pwd')
package.path = root .. '/compiler/?.lua;' .. root .. '/tests/?.lua;' .. package.path

local check = require 'differential.check'
local gen = require 'differential.gen'
local q = check.q

local function usage(msg)
  io.stderr:write('differential: ', msg, '\n',
    'usage: luajit tests/differential/run.lua [--count N] [--seed S] [--jobs J] [--keep DIR] [--only I,J]\n'
    .. '                                         [--cflags FLAGS] [--verbose]\n')
  os.exit(2)
end

local opt = { count = 90, seed = 1, jobs = 2, cflags = '-O1' }
do
  local i = 1
  local function int_value(name)
    local v = tonumber(arg[i + 1])
    if not v or v ~= math.floor(v) or v < 0 then usage(name .. ' needs a non-negative integer') end
    i = i + 1
    return v
  end
  while i <= #arg do
    local a = arg[i]
    if a == '--count' then opt.count = int_value(a)
    elseif a == '--seed' then opt.seed = int_value(a)
    elseif a == '--jobs' then opt.jobs = math.max(1, int_value(a))
    elseif a == '--keep' then
      opt.keep = arg[i + 1] or usage('--keep needs a directory')
      i = i + 1
    elseif a == '--only' then
      opt.only = {}
      for s in (arg[i + 1] or ''):gmatch('[^,]+') do
        local v = tonumber(s)
        if not v or v < 1 or v ~= math.floor(v) then usage('--only takes indices such as 3,17') end
        opt.only[#opt.only + 1] = v
      end
      if #opt.only == 0 then usage('--only takes indices such as 3,17') end
      i = i + 1
    elseif a == '--cflags' then
      opt.cflags = arg[i + 1] or usage('--cflags needs a value')
      i = i + 1
    elseif a == '--verbose' then opt.verbose = true
    elseif a == '--cross' then
      opt.cross = {}
      for t in (arg[i + 1] or ''):gmatch('[^,]+') do opt.cross[#opt.cross + 1] = t end
      i = i + 1
    elseif a == '--cross-every' then opt.cross_every = math.max(1, int_value(a))
    elseif a == '--help' or a == '-h' then
      local f = io.open(here .. '/run.lua', 'rb')
      local head = f:read('*a'):match('^(.-)\n\n')
      f:close()
      io.write((head:gsub('^%-%- ?', ''):gsub('\n%-%- ?', '\n')), '\n')
      os.exit(0)
    else usage("unknown argument '" .. a .. "'") end
    i = i + 1
  end
end

local indices = opt.only or {}
if not opt.only then for k = 1, opt.count do indices[k] = k end end

local started = os.time()
local clock0 = shell('date +%s.%N')

-- The work directory, removed on every way out below.
os.execute('mkdir -p ' .. q(root .. '/build'))
local work = shell('mktemp -d ' .. q(root .. '/build/differential.XXXXXX'))
if work == '' then usage('cannot create a work directory under build/') end
local function cleanup() os.execute('rm -rf ' .. q(work)) end

local cc = os.getenv('CC')
if not cc or cc == '' then cc = 'cc' end
-- A second compiler for the warning check: clang, unless $CC is clang (then gcc).
local alt_cc
if cc:match('clang') then
  if shell('command -v gcc') ~= '' then alt_cc = 'gcc' end
elseif shell('command -v clang') ~= '' then
  alt_cc = 'clang'
end

-- The runtime: sources that do not depend on the model are compiled once here; those
-- that do (the CLI main, built with the model's names) with each executable.
local cli = require 'cnnc.cli'
local rt_dir = root .. '/runtime'
local rt_objects, rt_model_sources, rt_errors = {}, {}, {}
os.execute('mkdir -p ' .. q(work .. '/rt') .. ' ' .. q(work .. '/claims') .. ' ' .. q(work .. '/results'))
do
  local cmds = {}
  for _, f in ipairs(cli.RUNTIME_SOURCES) do
    local path = rt_dir .. '/' .. f
    local src = io.open(path, 'rb')
    local text = src and src:read('*a') or ''
    if src then src:close() end
    if text:find('CNNC_MODEL', 1, true) then
      rt_model_sources[#rt_model_sources + 1] = path
    else
      local o = work .. '/rt/' .. f:gsub('%.c$', '.o')
      rt_objects[#rt_objects + 1] = q(o)
      cmds[#cmds + 1] = string.format('{ %s -std=c99 %s -c %s -o %s > %s 2>&1 || echo %s; } &', cc, opt.cflags, q(path), q(o),
        q(o .. '.log'), q(f))
    end
  end
  local failed = shell('cd ' .. q(work) .. ' && ' .. table.concat(cmds, ' ') .. ' wait')
  for f in failed:gmatch('%S+') do
    local log = io.open(work .. '/rt/' .. f:gsub('%.c$', '.o') .. '.log'):read('*a')
    rt_errors[#rt_errors + 1] = f .. ': ' .. (log:match('[^\n]*error[^\n]*') or log:match('[^\n]+') or '?')
  end
end
if #rt_errors > 0 then
  io.write('differential: the runtime does not compile with ', cc, ': ', table.concat(rt_errors, '; '), '\n')
  io.write(string.format('differential: 0 passed, %d failed\n', #indices))
  cleanup()
  os.exit(1)
end

-- The SIMD targets this machine can run (cnnc.targets.host_list minus generic).
local simd_targets = {}
do
  local ok, targets = pcall(require, 'cnnc.targets')
  if ok and targets.host_list then
    for _, t in ipairs(targets.host_list()) do
      if t ~= 'generic' then simd_targets[#simd_targets + 1] = t end
    end
  end
end

-- Targets of another architecture (neon on x86-64): their compiler, runtime objects, the
-- clang check if clang can compile for them, and the emulator that runs them.
local toolchain = require 'cnnc.toolchain'
local targets_mod = require 'cnnc.targets'
local cross = {}
do
  local names = opt.cross
  if not names then
    local skipped
    names, skipped = toolchain.cross_list()
    for _, why in ipairs(skipped) do io.write('differential: skipping ', why, '\n') end
  end
  for _, name in ipairs(names) do
    local t, terr = targets_mod.get(name)
    if not t then cleanup(); usage(terr) end
    local c = { target = name, cc = toolchain.cc(t), run = toolchain.run_prefix(t), timeout = 60 }
    local odir = work .. '/rt-' .. name
    os.execute('mkdir -p ' .. q(odir))
    local objs, err = cli.runtime_objects(odir, c.cc, opt.cflags)
    if not objs then
      io.write('differential: the runtime does not compile with ', c.cc, ': ', (err:match('[^\n]+') or '?'), '\n')
      io.write(string.format('differential: 0 passed, %d failed\n', #indices))
      cleanup()
      os.exit(1)
    end
    for k, o in ipairs(objs) do objs[k] = q(o) end
    c.rt_objects = table.concat(objs, ' ')
    -- clang checks the cross C too when it has the target's headers (the cross sysroot).
    local triple = t.cross and t.cross.triple
    if alt_cc == 'clang' or cc:match('clang') then
      local probe = odir .. '/probe.c'
      local f = assert(io.open(probe, 'wb'))
      f:write('#include <stdio.h>\n#include <math.h>\n#include <arm_neon.h>\nint main(void) { return 0; }\n')
      f:close()
      local clang = 'clang --target=' .. (triple or '?')
      if triple and shell(clang .. ' -fsyntax-only ' .. q(probe) .. ' >/dev/null 2>&1 && echo ok') == 'ok' then
        c.alt_cc = clang
      else
        io.write('differential: skipping ', clang, ' for ', name, ': it cannot compile for that target here\n')
      end
    end
    cross[#cross + 1] = c
  end
end

local function lua_list(t)
  local parts = {}
  for k, v in ipairs(t) do parts[k] = string.format('%q', v) end
  return '{' .. table.concat(parts, ', ') .. '}'
end

do
  local f = assert(io.open(work .. '/config.lua', 'wb'))
  local cross_text = {}
  for k, c in ipairs(cross) do
    cross_text[k] = string.format('{ target = %q, cc = %q, run = %q, rt_objects = %q, timeout = %d, alt_cc = %s }',
      c.target, c.cc, c.run, c.rt_objects, c.timeout, c.alt_cc and string.format('%q', c.alt_cc) or 'nil')
  end
  f:write(string.format('return { seed = %d, cc = %q, cflags = %q, alt_cc = %s, rt_dir = %q, rt_objects = %q,\n'
    .. '  rt_model_sources = %s, simd_targets = %s, timeout = 5,\n  cross_every = %d, cross = {%s},\n'
    .. '  indices = {%s} }\n',
    opt.seed, cc, opt.cflags, alt_cc and string.format('%q', alt_cc) or 'nil', rt_dir, table.concat(rt_objects, ' '),
    lua_list(rt_model_sources), lua_list(simd_targets), opt.cross_every or 5, table.concat(cross_text, ', '),
    table.concat(indices, ', ')))
  f:close()
end

-- The workers, all at once; the shell waits for every one of them.
do
  local cmds = {}
  for j = 1, opt.jobs do
    cmds[#cmds + 1] = string.format('luajit %s %s > %s 2>&1 &', q(root .. '/tests/differential/worker.lua'),
      q(work), q(work .. '/worker' .. j .. '.log'))
  end
  os.execute(table.concat(cmds, ' ') .. ' wait')
end

local function read_file(path)
  local f = io.open(path, 'rb')
  if not f then return nil end
  local s = f:read('*a')
  f:close()
  return s
end

local ctx = dofile(work .. '/config.lua')
local passed, failed = 0, 0
local failures = {}
local cross_runs = 0
for _, index in ipairs(indices) do
  local ct = check.cross_target(index, opt.seed, ctx)
  if ct then
    cross_runs = cross_runs + 1
    local line = read_file(string.format('%s/results/%d.%s', work, index, ct))
    line = line and line:gsub('%s+$', '') or string.format('FAIL #%d [%s]: no verdict (a worker died)', index, ct)
    if line == 'ok' then
      passed = passed + 1
      if opt.verbose then io.write(string.format('ok   #%d [%s]\n', index, ct)) end
    else
      failed = failed + 1
      failures[#failures + 1] = index
      io.write(line, '\n')
    end
  end
  local line = read_file(string.format('%s/results/%d', work, index))
  line = line and line:gsub('%s+$', '')
  if not line then
    local logs = {}
    for j = 1, opt.jobs do
      local l = read_file(work .. '/worker' .. j .. '.log') or ''
      if l ~= '' then logs[#logs + 1] = (l:gsub('%s+', ' '):sub(1, 300)) end
    end
    local ok, net = pcall(gen.network, opt.seed, index)
    line = string.format('FAIL #%d %s: no verdict (a worker died: %s)', index,
      ok and gen.describe(net) or '?', #logs > 0 and table.concat(logs, ' / ') or 'no log')
  end
  if line == 'ok' then
    passed = passed + 1
    if opt.verbose then io.write(string.format('ok   #%d %s\n', index, gen.describe(gen.network(opt.seed, index)))) end
  else
    failed = failed + 1
    if failures[#failures] ~= index then failures[#failures + 1] = index end
    io.write(line, '\n')
  end
end

if opt.keep and #failures > 0 then
  os.execute('mkdir -p ' .. q(opt.keep))
  for _, index in ipairs(failures) do
    local src = string.format('%s/n%04d', work, index)
    local dst = string.format('%s/n%04d', opt.keep, index)
    os.execute(string.format('[ -d %s ] && rm -rf %s && cp -r %s %s && chmod +x %s/repro.sh', q(src), q(dst),
      q(src), q(dst), q(dst)))
  end
end
cleanup()

if opt.verbose then
  local t = tonumber(shell('date +%s.%N')) - tonumber(clock0)
  io.write(string.format('differential: %d networks of seed %d in %.1f s with %d jobs (%s%s%s)\n', #indices, opt.seed,
    t or (os.time() - started), opt.jobs, cc, alt_cc and (', ' .. alt_cc .. ' on every tenth') or '',
    #simd_targets > 0 and ('; targets generic, ' .. table.concat(simd_targets, ', ')) or ''))
  if #cross > 0 then
    io.write(string.format('differential: %d of them also built for %s under emulation\n', cross_runs,
      table.concat(opt.cross or toolchain.cross_list(), ', ')))
  end
end
io.write(string.format('differential: %d passed, %d failed\n', passed, failed))
os.exit(failed > 0 and 1 or 0)
