-- Helpers the Lua test runners share (run from the repository root).
local M = {}

-- Largest |got - want| over want's elements (NaN counts as infinitely far) and the largest
-- |want|, for tolerances of the form max error <= rel * (1 + max |want|).
function M.max_err(got, want)
  local e, m = 0, 0
  for k = 0, want.n - 1 do
    local d = math.abs(got.data[k] - want.data[k])
    if d ~= d then d = math.huge end
    e = math.max(e, d)
    m = math.max(m, math.abs(want.data[k]))
  end
  return e, m
end

-- Compares got with want, NaN- and infinity-aware: NaN exactly where want is NaN, the same
-- infinity where want is infinite, and finite values within rtol * (1 + max finite |want|).
-- Returns nil, or a description of the first element that breaks a rule (or the largest
-- finite error). Indices are flat (0-based).
function M.compare_special(got, want, rtol)
  if got.n ~= want.n then return string.format('%d values, expected %d', got.n, want.n) end
  local big, err, at = 0, 0, nil
  for k = 0, want.n - 1 do
    local w = want.data[k]
    if w == w and w ~= math.huge and w ~= -math.huge then big = math.max(big, math.abs(w)) end
  end
  for k = 0, want.n - 1 do
    local w, g = tonumber(want.data[k]), tonumber(got.data[k])
    if w ~= w then
      if g == g then return string.format('[%d]: got %.9g, expected NaN', k, g) end
    elseif w == math.huge or w == -math.huge then
      if g ~= w then return string.format('[%d]: got %.9g, expected %s', k, g, tostring(w)) end
    elseif g ~= g or g == math.huge or g == -math.huge then
      return string.format('[%d]: got %s, expected %.9g', k, tostring(g), w)
    elseif math.abs(g - w) > err then
      err, at = math.abs(g - w), k
    end
  end
  local tol = rtol * (1 + big)
  if err > tol then
    return string.format('[%d]: got %.9g, expected %.9g (error %.3g > %.3g)', at, tonumber(got.data[at]),
      tonumber(want.data[at]), err, tol)
  end
  return nil
end

-- Like compare_special, but each finite value within rtol * max(1, |want|) of its own
-- expected value (for tables of exact expectations spanning 1e-1 to 1e30).
function M.compare_each(got, want, rtol)
  if got.n ~= want.n then return string.format('%d values, expected %d', got.n, want.n) end
  for k = 0, want.n - 1 do
    local w, g = tonumber(want.data[k]), tonumber(got.data[k])
    local bad
    if w ~= w then bad = g == g
    elseif w == math.huge or w == -math.huge then bad = g ~= w
    else bad = g ~= g or math.abs(g - w) > rtol * math.max(1, math.abs(w)) end
    if bad then return string.format('[%d]: got %.9g, expected %.9g', k, g, w) end
  end
  return nil
end

-- The tuning knobs (cnnc.tune) with which a --threads build shares every layer that can be
-- shared, however small (it otherwise keeps small layers, and small nets, on one thread),
-- so test networks exercise the team code: shared layers, thread 0's own runs and the
-- hand-offs. As driver.compile's `tune` (M.SHARE_ALL) or `cnnc build` flags (M.SHARE_ALL_FLAGS).
M.SHARE_ALL = { 'share_min_ns=0', 'team_min_ns=0' }
M.SHARE_ALL_FLAGS = ' --tune share_min_ns=0 --tune team_min_ns=0'

-- opts (driver.compile's options) with the knobs in list added to its tune list.
function M.with_tune(opts, list)
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  local t = {}
  for _, kv in ipairs(opts.tune or {}) do t[#t + 1] = kv end
  for _, kv in ipairs(list or {}) do t[#t + 1] = kv end
  o.tune = t
  return o
end

-- The targets of another architecture this machine can build and run under emulation
-- (cnnc.toolchain.cross_list: neon via aarch64-linux-gnu-gcc and qemu-aarch64 on x86-64).
-- For each one it cannot, prints "<suite>: skipping <why>" so a log shows what did not run.
function M.cross_targets(suite)
  local list, skipped = require('cnnc.toolchain').cross_list()
  for _, why in ipairs(skipped) do print(string.format('%s: skipping %s', suite, why)) end
  return list
end

-- Runs a suite script as `n` processes at once, each with `--shard K/n` added to its
-- arguments, when it was given no --shard itself (suites whose C generation runs in Lua,
-- one core's work, share it so both cores of a small machine work). Each shard's output
-- is printed in turn, its last "<suite>: N passed, M failed" line left out and added to
-- the total line printed at the end; a shard that prints no such line, or exits non-zero
-- without a failure, counts one failure. Then exits. Returns K and n in a shard.
-- args: the script's arguments (arg); script: its path; suite: its name; n: default 2
-- (CNNC_TEST_SHARDS overrides; 1 runs the suite whole, in this process).
function M.shards(script, args, suite, n)
  for i, a in ipairs(args) do
    if a == '--shard' then
      local k, m = (args[i + 1] or ''):match('^(%d+)/(%d+)$')
      assert(k, '--shard needs K/N')
      table.remove(args, i); table.remove(args, i)
      return tonumber(k), tonumber(m)
    end
  end
  n = tonumber(os.getenv('CNNC_TEST_SHARDS')) or n or 2
  if n <= 1 then return 1, 1 end
  local util = require 'cnnc.util'
  local dir = 'build/tests/shards-' .. suite
  os.execute('rm -rf ' .. dir .. ' && mkdir -p ' .. dir)
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = require('cnnc.cli').shell_quote(a) end
  local cmds = {}
  for k = 1, n do
    cmds[k] = string.format('(luajit %s --shard %d/%d %s > %s/%d.log 2>&1; echo $? > %s/%d.rc) &', script, k, n,
      table.concat(quoted, ' '), dir, k, dir, k)
  end
  os.execute(table.concat(cmds, ' ') .. ' wait')
  local passed, failed = 0, 0
  for k = 1, n do
    local text = util.read_file(string.format('%s/%d.log', dir, k)) or ''
    local rc = tonumber(util.read_file(string.format('%s/%d.rc', dir, k)) or '') or -1
    local p, f
    local lines = {}
    for line in text:gmatch('[^\n]*') do lines[#lines + 1] = line end
    while #lines > 0 and lines[#lines] == '' do lines[#lines] = nil end
    if #lines > 0 then
      p, f = lines[#lines]:match('^' .. suite .. ': (%d+) passed, (%d+) failed$')
      if p then lines[#lines] = nil end
    end
    if #lines > 0 then io.write(table.concat(lines, '\n'), '\n') end
    if not p then
      print(string.format('FAIL %s shard %d/%d printed no counts (exit %d)', suite, k, n, rc))
      failed = failed + 1
    else
      passed, failed = passed + tonumber(p), failed + tonumber(f)
      if rc ~= 0 and tonumber(f) == 0 then
        print(string.format('FAIL %s shard %d/%d exited with status %d', suite, k, n, rc))
        failed = failed + 1
      end
    end
  end
  print(string.format('%s: %d passed, %d failed', suite, passed, failed))
  os.exit(failed == 0 and 0 or 1)
end

return M
