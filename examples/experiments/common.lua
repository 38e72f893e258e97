-- What the experiment scripts share: finding cnnc, their command-line options, clean
-- error reports, and "standardise the features, train the last layer, measure it".
--
-- A script starts with
--   local E = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'common.lua')
-- Run from a checkout, the repository's compiler/ goes first on package.path; otherwise
-- `require 'cnnc'` finds an installed cnnc (`make install`) or one on LUA_PATH.

local here = debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './'
local E = { here = here, root = here .. '../../' }

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
