-- The runtime's objects are compiled once per compiler, flags and runtime source, kept in
-- the cache directory, and reused by later builds (cnnc.cli.runtime_objects).

package.path = 'compiler/?.lua;' .. package.path
local T = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'testutil.lua')
local cli = require 'cnnc.cli'

local function ls(dir)
  local p = io.popen('ls ' .. dir .. ' 2>/dev/null')
  local t = {}
  for l in p:lines() do t[#t + 1] = l end
  p:close()
  return t
end

describe('runtime objects', function()
  it('are compiled into the cache once and reused, never left in the build directory', function()
    local dir = T.tmpdir()
    local ffi_build = require 'cnnc.ffi.build'
    local saved = ffi_build.cache_dir
    ffi_build.cache_dir = function() return dir .. '/cache' end
    local ok, err = pcall(function()
      local a = assert(cli.runtime_objects(dir .. '/out1', 'cc', '-O0'))
      assert.equal(#cli.RUNTIME_SOURCES - 1, #a)
      for _, o in ipairs(a) do assert.truthy(o:find(dir .. '/cache/runtime/', 1, true)) end
      assert.same({}, ls(dir .. '/out1'))
      local p = io.popen('stat -c %Y ' .. a[1])
      local t1 = p:read('*l')
      p:close()
      local b = assert(cli.runtime_objects(dir .. '/out2', 'cc', '-O0'))
      assert.same(a, b)
      p = io.popen('stat -c %Y ' .. b[1])
      assert.equal(t1, p:read('*l'))
      p:close()
      -- other flags: other objects
      local c = assert(cli.runtime_objects(dir .. '/out3', 'cc', '-O1'))
      assert.are_not.equal(a[1], c[1])
      -- no temporary files left in the cache
      for _, sub in ipairs(ls(dir .. '/cache/runtime')) do
        for _, f in ipairs(ls(dir .. '/cache/runtime/' .. sub)) do assert.truthy(f:match('%.o$'), f) end
      end
    end)
    ffi_build.cache_dir = saved
    T.rmdir(dir)
    assert(ok, err)
  end)
end)
