-- The sandbox model files run in: every escape route ends in a cnnc error naming the file.
local sandbox = require 'cnnc.sandbox'
local util = require 'cnnc.util'

local function model_file(src)
  local path = os.tmpname()
  local f = assert(io.open(path, 'wb'))
  f:write(src)
  f:close()
  return path
end

local function run(src)
  local path = model_file(src)
  local ok, err = pcall(sandbox.run, path)
  os.remove(path)
  return ok, err, path
end

local function fails_with(src, pattern)
  local ok, err, path = run(src)
  assert.is_false(ok, 'the model file ran: ' .. src)
  assert.is_true(util.is_error(err), 'not a cnnc error: ' .. tostring(err))
  local msg = util.format_error(err)
  assert.truthy(msg:find(path, 1, true), 'message does not name the file: ' .. msg)
  assert.truthy(msg:match(pattern), 'message ' .. msg .. ' does not match ' .. pattern)
end

describe('model file sandbox', function()
  it('runs an ordinary model file', function()
    local ok, m = run([[local nn = require 'cnnc'
      local m = nn.Sequential{input_shape = {4, 4, 1}}
      for i = 1, 2 do m:add(nn.Conv2D{2, 1}) end
      return m]])
    assert.is_true(ok)
    assert.is_true(require('cnnc').is_model(m))
  end)
  it('closes reading a file', function() fails_with("return io.open('/etc/passwd'):read('*a')", "'io' is not available") end)
  it('closes running a command', function() fails_with("os.execute('true')", "'os' is not available") end)
  it('closes requiring other modules', function() fails_with("require 'ffi'", "may only require 'cnnc'") end)
  it('closes loading code from strings', function() fails_with("loadstring('return 1')()", "'loadstring' is not available") end)
  it('closes load and dofile', function()
    fails_with("load(function() return nil end)", "'load' is not available")
    fails_with("dofile('/etc/hostname')", "'dofile' is not available")
  end)
  it('closes the debug library and string.dump', function()
    fails_with("debug.getinfo(1)", "'debug' is not available")
    fails_with("string.dump(print)", "attempt to call field 'dump'")
  end)
  it('refuses bytecode files', function()
    fails_with(string.dump(function() return 1 end), 'bytecode')
  end)
  it('stops endless loops', function() fails_with('while true do end', 'instructions') end)
  it('stops endless loops that hide behind pcall', function()
    fails_with('while true do pcall(function() while true do end end) end', 'instructions')
  end)
  it('stops unbounded allocation', function()
    fails_with('local t = {} for i = 1, 1e9 do t[i] = {i} end', 'memory')
  end)
  it('hides the scripting API from model files', function()
    fails_with("local nn = require 'cnnc'; nn.write_npy('/tmp/x.npy', nil)", 'not available in a model file')
    fails_with("local nn = require 'cnnc'; nn.Conv2D = nil", 'cannot change the model language')
  end)
  it('reports runtime errors with the file', function() fails_with('local x = nil + 1', 'raised an error') end)
end)
