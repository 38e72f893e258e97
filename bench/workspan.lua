-- bench/workspan.lua: how far threads could take a network, on paper, from measured times.
--
--   luajit bench/workspan.lua MODEL.lua [--target T] [--runs N] [--threads 2,4,8,16,64]
--
-- Builds MODEL with per-step timing (cnnc build --profile), runs it N times on one thread
-- (the executable's --profile) and takes each step's median time t. Then, for each thread
-- count P, asks the select pass how a --threads P build cuts each layer (its parts k, or
-- none when the layer stays on one thread) and gives
--   the work-span bound  T1 / TP, where TP = sum over steps of t * ceil(k / P) / k for a
--                        step cut into k equal parts, t for one that is not: what P threads
--                        reach if sharing cost nothing and parts were equal;
--   the span            sum of t / k (t for unshared steps): the time with unlimited threads;
--   the serial share    the steps no build shares, as a share of T1.
-- One line per P; with --md, lines `workspan P BOUND SPAN_US UNSHARED T1_US` for bench/run.sh.

package.path = 'compiler/?.lua;' .. package.path
local driver = require 'cnnc.driver'
local npy = require 'cnnc.npy'
local tensor = require 'cnnc.tensor'

local model_path, target, runs, md = nil, 'native', 200, false
local counts = { 2, 4, 8, 16, 64 }
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == '--target' then target = arg[i + 1]; i = i + 1
  elseif a == '--runs' then runs = tonumber(arg[i + 1]); i = i + 1
  elseif a == '--threads' then
    counts = {}
    for n in arg[i + 1]:gmatch('%d+') do counts[#counts + 1] = tonumber(n) end
    i = i + 1
  elseif a == '--md' then md = true
  else model_path = a end
  i = i + 1
end
if not model_path then
  io.stderr:write('usage: luajit bench/workspan.lua MODEL.lua [--target T] [--runs N] [--threads 2,4,...] [--md]\n')
  os.exit(2)
end

local function sh(cmd)
  local p = io.popen(cmd .. ' 2>&1')
  local out = p:read('*a')
  p:close()
  return out
end

-- 1. Per-step medians on one thread.
local name = model_path:match('([^/]+)%.lua$') or 'model'
local dir = 'build/bench/workspan-' .. name
os.execute('mkdir -p ' .. dir)
local build = sh(string.format('bin/cnnc build %s --target %s --profile --name %s -o %s --cflags "-O3 -march=native"',
  model_path, target, name, dir))
if not build:find('built ', 1, true) then io.stderr:write(build); os.exit(1) end
local m = assert(driver.load(model_path))
local typed = assert(driver.compile(m, { stop = 'shape' })).typed
local x = tensor.new(typed.input.shape)
for k = 0, x.n - 1 do x.data[k] = (k * 7919 % 1000) / 1000 end
assert(npy.write(dir .. '/input.npy', x))
local out = sh(string.format('%s/%s %s/input.npy -o %s/out.npy --profile %d', dir, name, dir, dir, runs))
local steps = {}
for label, med in out:gmatch('\n  (.-)%s+([%d%.]+)%s+[%d%.]+%s+[%d%.]+%%') do
  steps[#steps + 1] = { label = label, t = tonumber(med) }
end
if #steps == 0 then io.stderr:write(out); os.exit(1) end
local T1 = 0
for _, s in ipairs(steps) do T1 = T1 + s.t end

-- 2. The parts of each step in a build for P threads.
local function parts_for(P)
  local r = assert(driver.compile(m, { target = target, threads = P, stop = 'select' }))
  local parts = {}
  if r.selected.threads > 1 then
    for _, n in ipairs(r.selected.nodes) do
      if n.sel.parts then parts[n.name] = n.sel.parts end
      if n.sel.pre_parts then parts[n.name .. ' (input copy)'] = n.sel.pre_parts end
    end
  end
  return parts
end

local rows = {}
for _, P in ipairs(counts) do
  local parts = parts_for(P)
  local TP, span, serial = 0, 0, 0
  for _, s in ipairs(steps) do
    local k = parts[s.label]
    if k then
      TP = TP + s.t * math.ceil(k / P) / k
      span = span + s.t / k
    else
      TP, span, serial = TP + s.t, span + s.t, serial + s.t
    end
  end
  rows[#rows + 1] = { P = P, bound = T1 / TP, span = span, serial = serial / T1 }
end

if md then
  -- one line per P for bench/run.sh: P, the bound, the span (us), the unshared share, T1 (us)
  for _, r in ipairs(rows) do
    print(string.format('workspan %d %.3f %.1f %.4f %.1f', r.P, r.bound, r.span, r.serial, T1))
  end
else
  print(string.format('%s on %s: T1 = %.1f us over %d steps', name, target, T1, #steps))
  for _, r in ipairs(rows) do
    print(string.format('  %3d threads: work-span bound %.2fx, span %.1f us, unshared %.1f%% of T1', r.P, r.bound,
      r.span, 100 * r.serial))
  end
end
