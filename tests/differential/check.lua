-- differential.check: one network through cnnc and back, compared with the reference.
--
-- For a generated network (differential.gen) in its own directory:
--   1. writes model.lua and loads it as bin/cnnc would (cnnc.driver.load);
--   2. runs the shape pass and checks every layer's shape against the Keras shape the
--      generator computed on its own;
--   3. runs the reference interpreter (double precision) on the typed graph over a random
--      batch of 2-3 inputs;
--   4. compiles the model fused and with fuse = false for the portable (generic) target, and
--      once more for one of this machine's SIMD targets (sse4, avx2, avx512 in turn); checks
--      the fuse pass left the typed graph alone and that the fused graph means the same
--      under the reference interpreter;
--   5. compiles each model .c with -std=c99 -Wall -Wextra -Werror -pedantic (and with a
--      second compiler, clang, for every tenth network), links it with the runtime and
--      runs the executable on the batch;
--   6. passes iff every build's output is within 1e-4 * (1 + max |reference|) of the reference;
--   7. when every layer has backward code (cnnc.passes.grad), the SIMD builds, the cross
--      one (neon, under emulation) included, and the unfused portable one of every other
--      network also get it (--backward): its
--      executable's input and weight gradients (--grad-output, --weight-grads) for a random
--      output gradient are compared with the reference interpreter's (cnnc.backward) alike.
-- A network of the cross share (M.cross_target: one in ctx.cross_every, by index and seed)
-- has one more build, for a target of another architecture (neon): compiled with its cross
-- compiler (strict warnings; clang --target=<triple> -fsyntax-only too when ctx says clang
-- can), run under its emulator (qemu-aarch64), and judged as a test of its own.
-- Returns nil when the network passes, else the list of what went wrong; then the cross
-- build's name and its nil or list.

local driver = require 'cnnc.driver'
local npy = require 'cnnc.npy'
local runner = require 'cnnc.runner'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'
local gen = require 'differential.gen'
local pch = require 'lib.pch'
local rng_mod = require 'differential.rng'
local testlib = dofile('tests/lib/testlib.lua')

local M = {}

M.RTOL = 1e-4
M.STRICT = '-std=c99 -Wall -Wextra -Werror -pedantic'

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
M.q = q

-- Runs a shell command; returns ok, combined output, exit status.
local function sh(cmd)
  local p = io.popen('(' .. cmd .. ') 2>&1; echo "@rc=$?"')
  local out = p:read('*a')
  p:close()
  local rc = tonumber(out:match('@rc=(%d+)%s*$'))
  return rc == 0, (out:gsub('@rc=%d+%s*$', '')), rc
end
M.sh = sh

-- The first diagnostic line of a compiler's output (file:line: error/warning: ...).
local function first_diag(out)
  for line in out:gmatch('[^\n]+') do
    if line:match('error') or line:match('warning') then
      return (line:gsub('^.*/', ''))
    end
  end
  return (out:match('[^\n]+') or '(no output)')
end

local function write(path, text)
  local f = assert(io.open(path, 'wb'))
  f:write(text)
  f:close()
end

local function shape_str(s) return '(' .. table.concat(s, ', ') .. ')' end

-- Flat index -> "[b, i, j, c]" over shape.
local function index_str(shape, k)
  local idx = {}
  for d = #shape, 1, -1 do
    idx[d] = k % shape[d]
    k = math.floor(k / shape[d])
  end
  return '[' .. table.concat(idx, ', ') .. ']'
end

local function finite(v) return v == v and v ~= math.huge and v ~= -math.huge end

-- Compares got with want: nil when within tolerance, else a description.
function M.compare(got, want)
  if got.n ~= want.n or not util.shape_eq(got.shape, want.shape) then
    return string.format('output shape %s, reference %s', shape_str(got.shape), shape_str(want.shape))
  end
  local err, at, big = 0, 0, 0
  for k = 0, want.n - 1 do
    local w, g = want.data[k], got.data[k]
    if not finite(w) then
      return string.format('reference holds %s at %s (generator should avoid this)', tostring(w),
        index_str(want.shape, k))
    end
    big = math.max(big, math.abs(w))
    local d = math.abs(g - w)
    if d ~= d then d = math.huge end
    if d > err then err, at = d, k end
  end
  local tol = M.RTOL * (1 + big)
  if err <= tol then return nil end
  return string.format('max error %.3g > %.3g at %s (got %.7g, reference %.7g)', err, tol,
    index_str(want.shape, at), got.data[at], want.data[at])
end

local function input_batch(net)
  local r = rng_mod.new(net.input_seed, 0)
  local shape = { net.batch }
  for i, v in ipairs(net.input_shape) do shape[i + 1] = v end
  local x = tensor.new(shape, 'float')
  for i = 0, x.n - 1 do x.data[i] = 2 * r:uniform() - 1 end
  return x
end

-- Same layers, shapes and weight values in both typed graphs?
local function same_typed(a, b)
  if #a.nodes ~= #b.nodes then return false, 'node count' end
  for i, n in ipairs(a.nodes) do
    local m = b.nodes[i]
    if n.name ~= m.name or not util.shape_eq(n.shape, m.shape) or #n.weights ~= #m.weights then
      return false, n.name
    end
    for j, w in ipairs(n.weights) do
      local v = m.weights[j]
      if w.name ~= v.name or w.tensor.n ~= v.tensor.n then return false, n.name .. '.' .. w.name end
      for k = 0, w.tensor.n - 1 do
        if w.tensor.data[k] ~= v.tensor.data[k] then return false, n.name .. '.' .. w.name end
      end
    end
    if #n.epilogue ~= #m.epilogue then return false, n.name .. ' epilogue' end
  end
  return true
end

local function fmt_err(e) return type(e) == 'table' and util.format_error(e) or tostring(e) end

-- driver.compile, with a crash inside the compiler (a Lua error, not a cnnc error
-- report) returned as an error too.
local function compile(model, opts)
  local ok, r, err = xpcall(driver.compile, debug.traceback, model, opts)
  if not ok then return nil, 'the compiler crashed: ' .. tostring(r) end
  return r, err
end

-- The shell command building executable dir/name from the compiled dir/name.o (tc: the
-- build's toolchain, see toolchain_of).
local function link_cmd(ctx, tc, dir, name)
  local srcs = {}
  for _, f in ipairs(ctx.rt_model_sources) do srcs[#srcs + 1] = q(f) end
  return string.format('%s -std=c99 %s -I %s -I %s -DCNNC_MODEL_HEADER=%s -DCNNC_MODEL=%s -DCNNC_MODEL_UC=%s '
    .. '%s %s %s -lm -o %s', tc.cc, ctx.cflags, q(dir), q(ctx.rt_dir), q('"' .. name .. '.h"'), name, name:upper(),
    table.concat(srcs, ' '), q(dir .. '/' .. name .. '.o'), tc.rt_objects, q(dir .. '/' .. name))
end

-- The cross target network net builds for, or nil: networks whose index + seed is a
-- multiple of ctx.cross_every, the cross targets taking turns over them.
function M.cross_target(index, seed, ctx)
  local list = ctx.cross or {}
  local every = ctx.cross_every or 5
  if #list == 0 or every < 1 or (index + seed) % every ~= 0 then return nil end
  return list[math.floor((index + seed) / every) % #list + 1].target
end

-- How build b is compiled, linked and run: {cc, rt_objects, alt_cc, run (a command prefix),
-- timeout}; a cross target's from ctx.cross.
local function toolchain_of(ctx, b)
  for _, c in ipairs(b.cross and ctx.cross or {}) do
    if c.target == b.target then
      return { cc = c.cc, rt_objects = c.rt_objects, alt_cc = c.alt_cc, run = c.run, timeout = c.timeout or 60,
        every_alt = 1 }
    end
  end
  return { cc = ctx.cc, rt_objects = ctx.rt_objects, alt_cc = ctx.alt_cc, run = '', timeout = ctx.timeout or 5,
    every_alt = 10 }
end

-- The builds of a network: fused and unfused for the portable target, and one more for
-- a SIMD target of this machine (if any), the targets taking turns over the networks and
-- one time in four without fusion. One network in four has its unfused build, another its
-- SIMD build, keep the weights in a linked binary blob instead of C literals. Half the
-- SIMD builds run their convolutions on 2 threads; every other one is compiled with small
-- cache budgets (M.SMALL_CACHE), the others with every 3x3 stride-1 convolution as
-- Winograd (winograd = 'on', cnnc.simd.winograd).
function M.variants(net, ctx)
  local list = {
    { variant = 'fused', fuse = true, target = 'generic' },
    { variant = 'unfused', fuse = false, target = 'generic', blob = net.index % 4 == 2 },
  }
  local simd = ctx.simd_targets or {}
  if #simd > 0 then
    local k = net.index - 1
    local t = simd[k % #simd + 1]
    local fuse = math.floor(k / #simd) % 4 ~= 3
    list[3] = { variant = (fuse and 'fused-' or 'unfused-') .. t, fuse = fuse, target = t, blob = net.index % 4 == 0,
      threads = math.floor(k / #simd) % 2 == 1 and 2 or nil, small_cache = net.index % 2 == 1,
      winograd = net.index % 2 == 0 and 'on' or nil }
  end
  -- The cross build varies like the SIMD one, by its own turn count.
  local ct = M.cross_target(net.index, net.seed, ctx)
  if ct then
    local k = math.floor((net.index + net.seed) / (ctx.cross_every or 5))
    local fuse = k % 4 ~= 3
    list[#list + 1] = { variant = (fuse and 'fused-' or 'unfused-') .. ct, fuse = fuse, target = ct, cross = true,
      blob = k % 3 == 1, threads = k % 2 == 1 and 2 or nil, small_cache = math.floor(k / 2) % 2 == 1 }
  end
  for _, b in ipairs(list) do
    if b.blob then b.variant = b.variant .. '-blob' end
    if b.winograd then b.variant = b.variant .. '-winograd' end
    if b.threads then b.variant = b.variant .. '-t' .. b.threads end
    if b.small_cache then b.variant = b.variant .. '-smallcache' end
  end
  return list
end

-- The SIMD convolution's cache budgets (cnnc.tune's knobs) shrunk so that input-channel
-- chunks and row bands occur in small networks too.
M.SMALL_CACHE = { 'l1_weights=2048', 'l2_band=4096' }

-- The tuning knobs of build b.
local function knobs(b)
  local t = {}
  if b.small_cache then for _, kv in ipairs(M.SMALL_CACHE) do t[#t + 1] = kv end end
  if b.threads then for _, kv in ipairs(testlib.SHARE_ALL) do t[#t + 1] = kv end end
  return t
end

-- Instructions kept beside a failing network (run from the repository root).
local function repro_text(net, variants, ctx)
  local lines = {
    '#!/bin/sh',
    string.format('# Differential network %d of seed %d:', net.index, net.seed),
    '#   ' .. gen.describe(net),
    '# Rebuilds every variant with bin/cnnc, runs it on input.npy (repro_<variant>.npy) and',
    '# writes the reference interpreter\'s output (repro_reference.npy).',
    'set -x',
    'd=$(dirname "$0")',
    'bin/cnnc run $d/model.lua $d/input.npy -o $d/repro_reference.npy',
  }
  for _, b in ipairs(variants) do
    local opts = (b.fuse and '' or ' --no-fuse') .. (b.blob and ' --blob' or '') .. (b.backward and ' --backward' or '')
      .. (b.threads and (' --threads ' .. b.threads) or '') .. (b.winograd and (' --winograd ' .. b.winograd) or '')
    local out = '$d/repro_' .. b.variant
    local tc = toolchain_of(ctx, b)
    for _, kv in ipairs(knobs(b)) do opts = opts .. ' --tune ' .. kv end
    lines[#lines + 1] = string.format('bin/cnnc build $d/model.lua -o %s --target %s%s --cflags -O1 && '
      .. '%s -c %s%s %s/%s.c -o /dev/null && %s%s/%s $d/input.npy -o %s.npy', out, b.target, opts,
      b.cross and tc.cc or 'cc', M.STRICT, b.threads and ' -pthread' or '', out, net.name, tc.run, out, net.name, out)
    if b.backward then
      lines[#lines + 1] = string.format('bin/cnnc run $d/model.lua $d/input.npy --grad-output $d/dy.npy '
        .. '-o $d/repro_reference_dx.npy --weight-grads $d/repro_reference_weight_grads')
      lines[#lines + 1] = string.format('%s/%s $d/input.npy --grad-output $d/dy.npy -o %s_dx.npy --weight-grads '
        .. '%s_weight_grads', out, net.name, out, out)
    end
  end
  return table.concat(lines, '\n') .. '\n'
end

-- Compiles build b (strict warnings; clang too for every tenth network), links it with the
-- runtime, runs it on the network's input and compares with the reference; failures go
-- to fail(fmt, ...).
local function build_and_run(ctx, net, dir, b, ref, fail)
  local tc = toolchain_of(ctx, b)
  local c, o = q(b.dir .. '/' .. b.name .. '.c'), q(b.dir .. '/' .. b.name .. '.o')
  local ok, out = sh(string.format('%s %s %s%s%s -c %s -o %s', tc.cc, M.STRICT, ctx.cflags,
    pch.flags(tc.cc, M.STRICT .. ' ' .. ctx.cflags, b.target), b.flags, c, o))
  if not ok then
    fail('%s: %s %s: %s', b.variant, tc.cc, M.STRICT, first_diag(out))
    ok, out = sh(string.format('%s -std=c99 %s%s -w -c %s -o %s', tc.cc, ctx.cflags, b.flags, c, o))
    if not ok then fail('%s: the C does not compile: %s', b.variant, first_diag(out)) end
  end
  if tc.alt_cc and net.index % tc.every_alt == 0 then
    local aok, aout = sh(string.format('%s %s%s -fsyntax-only %s', tc.alt_cc, M.STRICT, b.flags, c))
    if not aok then fail('%s: %s %s: %s', b.variant, tc.alt_cc, M.STRICT, first_diag(aout)) end
  end
  local blob_obj = ''
  local blob_file = io.open(b.dir .. '/' .. b.name .. '.weights.bin', 'rb')
  if blob_file then blob_file:close() end
  if ok and blob_file then
    local made, berr = require('cnnc.cli').blob_object(b.dir, b.name, tc.cc)
    if not made then
      ok = false
      fail('%s: cannot make the weight blob object: %s', b.variant, (tostring(berr):gsub('\n', ' | ')))
    else blob_obj = q(made) end
  end
  if ok then
    ok, out = sh(link_cmd(ctx, tc, b.dir, b.name) .. ' ' .. blob_obj .. b.flags)
    if not ok then fail('%s: linking with the runtime failed: %s', b.variant, first_diag(out)) end
  end
  if ok then
    local out_path = b.dir .. '/out.npy'
    local rc
    ok, out, rc = sh(string.format('timeout %d %s%s %s -o %s', tc.timeout, tc.run, q(b.dir .. '/' .. b.name),
      q(dir .. '/input.npy'), q(out_path)))
    if rc == 124 then
      fail('%s: the executable did not finish in %d s (it hangs)', b.variant, tc.timeout)
    elseif not ok then
      fail('%s: the executable failed (exit status %s): %s', b.variant, tostring(rc),
        (out:gsub('%s+$', ''):gsub('\n', ' | ')))
    else
      local y, rerr = npy.read(out_path)
      if not y then fail('%s: cannot read its output: %s', b.variant, rerr)
      else
        local d = M.compare(y, ref)
        if d then fail('%s: %s', b.variant, d) end
      end
    end
  end
  if ok and b.backward then
    local dx_path, wdir = b.dir .. '/dx.npy', b.dir .. '/weight_grads'
    local rc
    ok, out, rc = sh(string.format('timeout %d %s%s %s --grad-output %s -o %s --weight-grads %s', tc.timeout, tc.run,
      q(b.dir .. '/' .. b.name), q(dir .. '/input.npy'), q(dir .. '/dy.npy'), q(dx_path), q(wdir)))
    if not ok then
      fail('%s: the gradient run failed (exit status %s): %s', b.variant, tostring(rc),
        (out:gsub('%s+$', ''):gsub('\n', ' | ')))
      return
    end
    local function check(path, want, what)
      local got, rerr = npy.read(path)
      if not got then return fail('%s: cannot read %s: %s', b.variant, what, rerr) end
      local d = M.compare(got, want)
      if d then fail('%s: %s: %s', b.variant, what, d) end
    end
    check(dx_path, b.backward.dx, 'input gradient')
    for key, want in pairs(b.backward.weights) do check(wdir .. '/' .. key .. '.npy', want, key .. ' gradient') end
  end
end

-- Whether every layer of typed graph g has backward code.
local function backward_ready(g)
  local grad = require 'cnnc.passes.grad'
  if require('cnnc.ir').is_multi(g) then return false end
  for _, n in ipairs(g.nodes) do
    if grad.refusal(n) or not n.layer.backward then return false end
  end
  return true
end

-- ctx: {cc, cflags, alt_cc (or nil), simd_targets, rt_dir, rt_objects (shell words), rt_model_sources,
-- timeout (seconds an executable may run), cross_every, cross (a list of {target, cc, rt_objects,
-- alt_cc (or nil), run (command prefix), timeout})}.
-- dir: an empty directory for this network. Returns nil (pass) or a list of failures.
function M.run(net, dir, ctx)
  local fails, cross_fails = {}, {}
  local function fail(fmt, ...) fails[#fails + 1] = string.format(fmt, ...) end
  local function cross_fail(fmt, ...) cross_fails[#cross_fails + 1] = string.format(fmt, ...) end
  local cross = M.cross_target(net.index, net.seed, ctx)
  -- Before the builds, a failure fails the cross test too (it has nothing to compare with).
  local function verdicts()
    if cross and #fails > 0 and #cross_fails == 0 then cross_fails[1] = 'the network failed before its ' .. cross .. ' build' end
    return #fails > 0 and fails or nil, cross, #cross_fails > 0 and cross_fails or nil
  end
  local model_path = dir .. '/model.lua'
  write(model_path, gen.source(net))
  write(dir .. '/repro.sh', repro_text(net, M.variants(net, ctx), ctx))

  local model, err = driver.load(model_path)
  if not model then
    fail('the model file was rejected: %s', fmt_err(err))
    return verdicts()
  end
  local t
  t, err = compile(model, { stop = 'shape' })
  if not t then
    fail('the shape pass rejected a valid network: %s', fmt_err(err))
    return verdicts()
  end
  for i, l in ipairs(net.layers) do
    local n = t.typed.nodes[i]
    if not n or not util.shape_eq(n.shape, l.shape) then
      fail('layer %d (%s) has shape %s, Keras gives %s', i, l.kind, n and shape_str(n.shape) or '?', shape_str(l.shape))
    end
  end

  local x = input_batch(net)
  assert(npy.write(dir .. '/input.npy', x))
  local ref
  ref, err = runner.run_batch(t.typed, x)
  if not ref then
    fail('the reference interpreter failed: %s', fmt_err(err))
    return verdicts()
  end
  assert(npy.write(dir .. '/reference.npy', ref))

  -- The gradients of a random output gradient, when the network has backward code.
  local grads
  if backward_ready(t.typed) then
    local r = rng_mod.new(net.input_seed, 1)
    local dy = tensor.new(ref.shape, 'float')
    for i = 0, dy.n - 1 do dy.data[i] = 2 * r:uniform() - 1 end
    assert(npy.write(dir .. '/dy.npy', dy))
    local dx, w = runner.backward_batch(t.typed, x, dy)
    if not dx then fail('the reference backward pass failed: %s', fmt_err(w))
    else grads = { dx = dx, weights = w } end
  end

  local variants = M.variants(net, ctx)
  if grads then
    for _, b in ipairs(variants) do
      if b.target ~= 'generic' or (b.variant:match('^unfused') and net.index % 2 == 0) then
        b.backward = grads
      end
    end
    write(dir .. '/repro.sh', repro_text(net, variants, ctx))
  end
  local builds = {}
  for _, b in ipairs(variants) do
    local fail = b.cross and cross_fail or fail
    local variant = b.variant
    local m2 = assert(driver.load(model_path))
    -- A threaded build shares every layer it can, so the team code runs on small nets too.
    local r, cerr = compile(m2, { fuse = b.fuse, target = b.target, blob = b.blob or false, threads = b.threads,
      winograd = b.winograd, source = 'model.lua', tune = knobs(b), backward = b.backward and true })
    if not r then
      fail('%s: compilation failed: %s', variant, fmt_err(cerr))
    else
      if variant == 'fused' then
        local same, where = same_typed(t.typed, r.typed)
        if not same then fail('fused: the fuse pass changed its input graph (%s)', where) end
        local fref, ferr = runner.run_batch(r.fused, x)
        if not fref then
          fail('fused: the reference interpreter fails on the fused graph: %s', fmt_err(ferr))
        else
          local d = M.compare(fref, ref)
          if d then fail('fused graph under the reference interpreter: %s', d) end
        end
      end
      local vdir = dir .. '/' .. variant
      os.execute('mkdir -p ' .. q(vdir))
      local ok, werr = driver.write_c(r, vdir)
      if not ok then fail('%s: write_c: %s', variant, fmt_err(werr))
      else
        -- A model using POSIX threads is compiled and linked with -pthread (as cnnc build does).
        local pthread = r.c:find('#include <pthread.h>', 1, true) and ' -pthread' or ''
        builds[#builds + 1] = { variant = variant, dir = vdir, name = r.planned.name, flags = pthread,
          target = b.target, cross = b.cross, backward = b.backward }
      end
    end
  end

  for _, b in ipairs(builds) do build_and_run(ctx, net, dir, b, ref, b.cross and cross_fail or fail) end
  return #fails > 0 and fails or nil, cross, #cross_fails > 0 and cross_fails or nil
end

return M
