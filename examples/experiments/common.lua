-- What the experiment scripts share: finding cnnc, their command-line options, clean
-- error reports, and "standardise the features, train the last layer, measure it".
--
-- A script starts with
--   local E = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'common.lua')
-- Run from a checkout, the repository's compiler/ goes first on package.path; otherwise
-- `require 'cnnc'` finds an installed cnnc (`make install`) or one on LUA_PATH.

local here = debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './'
-- The checkout's root, with "dir/.." pairs taken out so that messages show short paths.
local function tidy(path)
  local parts = {}
  for p in path:gmatch('[^/]+') do
    if p == '..' and #parts > 0 and parts[#parts] ~= '..' then parts[#parts] = nil
    elseif p ~= '.' then parts[#parts + 1] = p end
  end
  local s = (path:sub(1, 1) == '/' and '/' or '') .. table.concat(parts, '/')
  return (s == '' or s == '/') and s or s .. '/'
end
local E = { here = here, root = tidy(here .. '../../') }

local f = io.open(E.root .. 'compiler/cnnc.lua', 'rb')
if f then
  f:close()
  package.path = E.root .. 'compiler/?.lua;' .. package.path
end

local cnnc = require 'cnnc'
local util = require 'cnnc.util'

-- Parses `--name value` options (and `--flag` switches) against defaults; numbers stay
-- numbers. usage: the text --help prints (and a mistake prints after its message).
function E.options(defaults, usage)
  E.usage = usage
  local o = {}
  for k, v in pairs(defaults) do o[k] = v end
  local i = 1
  while i <= #arg do
    local a = arg[i]
    if a == '--help' or a == '-h' then io.write(usage); os.exit(0) end
    local k = a:match('^%-%-([%w-]+)$')
    k = k and k:gsub('-', '_')
    if not k or defaults[k] == nil then
      io.stderr:write(string.format("unknown argument '%s'\n%s", a, usage))
      os.exit(2)
    end
    if type(defaults[k]) == 'boolean' then
      o[k] = true
    else
      local v = arg[i + 1]
      if v == nil then io.stderr:write(string.format('--%s needs a value\n%s', k, usage)); os.exit(2) end
      if type(defaults[k]) == 'number' then
        v = tonumber(v)
        if not v then io.stderr:write(string.format('--%s needs a number\n%s', k, usage)); os.exit(2) end
      end
      o[k] = v
      i = i + 1
    end
    i = i + 1
  end
  return o
end

-- A bad option value: the message and the usage on stderr, exit status 2 (as an unknown
-- option).
function E.bad_option(fmt, ...)
  io.stderr:write(string.format(fmt, ...), '\n', E.usage or '')
  os.exit(2)
end

-- Checks that o[k] is a whole number of at least lo (and at most hi); returns it.
function E.whole(o, k, lo, hi)
  local v = o[k]
  if v ~= math.floor(v) or v < lo or v == math.huge or (hi and v > hi) then
    E.bad_option('--%s must be a whole number %s, got %s', k:gsub('_', '-'),
      hi and string.format('from %d to %d', lo, hi) or string.format('from %d', lo), tostring(v))
  end
  return v
end

-- Checks that o[k] is a number in [lo, hi]; returns it.
function E.range(o, k, lo, hi)
  local v = o[k]
  if v ~= v or v < lo or v > hi then
    E.bad_option('--%s must be a number from %g to %g, got %s', k:gsub('_', '-'), lo, hi, tostring(v))
  end
  return v
end

-- Runs a shell command (its words already quoted), returning whether it succeeded and
-- its standard output and error together.
-- (LuaJIT's pipes do not give the exit status, so the shell prints it last.)
function E.run(cmd)
  local p = io.popen('(' .. cmd .. ') 2>&1; echo "@status $?"', 'r')
  local out = p:read('*a')
  p:close()
  local status = out:match('@status (%d+)%s*$')
  return status == '0', (out:gsub('@status %d+%s*$', ''))
end

E.quote = require('cnnc.cli').shell_quote

-- Stops the script with a message (reported by E.main as one line, exit status 1).
function E.fail(fmt, ...) util.fail({}, fmt, ...) end

-- Runs main(); a cnnc error (a mistake in the input, a missing data set) is one line on
-- stderr and exit status 1; anything else is a bug and keeps its traceback.
function E.main(name, main)
  local ok, err = xpcall(main, function(e)
    if util.is_error(e) then return e end
    return debug.traceback(tostring(e), 2)
  end)
  if not ok then
    io.stderr:write(name, ': ', util.is_error(err) and util.format_error(err) or tostring(err), '\n')
    os.exit(1)
  end
end

function E.mkdir(dir)
  local r = os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "'")
  if r ~= 0 and r ~= true then util.fail({}, 'cannot create directory %s', dir) end
  return dir
end

function E.exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() end
  return f ~= nil
end

-- Standardises the feature matrices by the moments of the first (in place), trains
-- softmax regression on it, and returns the classifier and the accuracy on each of the
-- further (features, labels) pairs.
function E.last_layer(train_f, train_y, opts, ...)
  local mean, sd = cnnc.learn.moments(train_f)
  cnnc.learn.standardize(train_f, mean, sd)
  local clf = cnnc.learn.softmax_regression(train_f, train_y, opts)
  local accs = {}
  local pairs_ = { ... }
  for i = 1, #pairs_, 2 do
    cnnc.learn.standardize(pairs_[i], mean, sd)
    accs[#accs + 1] = clf:accuracy(pairs_[i], pairs_[i + 1])
  end
  return clf, unpack(accs)
end

-- Writes rows (lists) as tab-separated lines under a header.
function E.write_tsv(path, header, rows)
  local lines = { table.concat(header, '\t') }
  for _, r in ipairs(rows) do
    local cells = {}
    for i, v in ipairs(r) do cells[i] = type(v) == 'number' and string.format('%.6g', v) or tostring(v) end
    lines[#lines + 1] = table.concat(cells, '\t')
  end
  local ok, err = util.write_file_atomic(path, table.concat(lines, '\n') .. '\n')
  if not ok then util.fail({}, 'cannot write %s: %s', path, tostring(err)) end
  return path
end

return E
