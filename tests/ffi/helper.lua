-- Shared by the specs of the experiments API (not a spec itself). Every spec starts with
--   local H = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'helper.lua')
-- which puts the repository's compiler/ first on package.path and returns: the repository
-- root, temporary directories, file helpers, and `fails` (a call must raise a cnnc error
-- whose message contains given text and names the calling file, not one of cnnc's own).

local here = debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './'
-- Absolute, so scripts the specs start from other directories find the repository too.
if here:sub(1, 1) ~= '/' then here = (os.getenv('PWD') or '.') .. '/' .. here end
local root = here .. '../../'
if not package.path:find(root .. 'compiler/?.lua', 1, true) then
  package.path = root .. 'compiler/?.lua;' .. package.path
end

local H = { root = root, here = here, data = here .. 'data/' }
local util = require 'cnnc.util'

function H.tmpdir()
  local base = os.tmpname()
  os.remove(base)
  local dir = base .. '.cnnc_ffi_spec'
  assert(os.execute("mkdir -p '" .. dir .. "'") == 0)
  return dir
end

function H.rmdir(dir)
  assert(dir:match('%.cnnc_ffi_spec$'), 'refusing to remove ' .. dir)
  os.execute("rm -rf '" .. dir .. "'")
end

function H.write(path, bytes)
  local f = assert(io.open(path, 'wb'))
  f:write(bytes)
  f:close()
  return path
end

function H.read(path) return assert(util.read_file(path)) end

-- f(...) must raise a cnnc error mentioning each of the given strings; its location must
-- be the calling file, never a file of cnnc. Returns the message.
function H.fails(needles, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, 'expected an error, the call succeeded')
  assert(util.is_error(err), 'not a cnnc error (a bug?): ' .. tostring(err))
  local msg = util.format_error(err)
  for _, s in ipairs(type(needles) == 'table' and needles or { needles }) do
    assert(msg:find(s, 1, true), string.format('message lacks %q: %s', s, msg))
  end
  assert(err.file and not err.file:match('compiler/cnnc'), 'the error should name the calling file, not cnnc\'s: '
    .. tostring(err.file) .. ': ' .. msg)
  return msg
end

-- Runs a shell command; returns ok, output.
function H.sh(cmd)
  local p = io.popen(cmd .. ' 2>&1; echo "status:$?"')
  local out = p:read('*a')
  p:close()
  local status = tonumber(out:match('status:(%d+)%s*$'))
  return status == 0, (out:gsub('status:%d+%s*$', ''))
end

return H
