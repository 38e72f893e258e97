-- cnnc.util's file writing: whole-file replacement that never destroys what a path names.

package.path = 'compiler/?.lua;' .. package.path
local util = require 'cnnc.util'

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute('mkdir -p ' .. p) == 0)
  return p
end

local function kind(path)
  local p = io.popen('stat -c %F ' .. path .. ' 2>/dev/null')
  local k = p:read('*l')
  p:close()
  return k
end

describe('util.write_file_atomic', function()
  it('replaces a regular file and leaves no temporary file', function()
    local d = tmpdir()
    assert.is_true(util.write_file_atomic(d .. '/f', 'one'))
    assert.is_true(util.write_file_atomic(d .. '/f', 'two'))
    assert.equal('two', util.read_file(d .. '/f'))
    local p = io.popen('ls ' .. d)
    assert.equal('f', p:read('*a'):gsub('%s+$', ''))
    p:close()
    os.execute('rm -rf ' .. d)
  end)

  it('follows a symbolic link instead of replacing it', function()
    local d = tmpdir()
    assert.is_true(util.write_file_atomic(d .. '/target', 'old'))
    os.execute(string.format('ln -s %s/target %s/link', d, d))
    assert.is_true(util.write_file_atomic(d .. '/link', 'new'))
    assert.equal('symbolic link', kind(d .. '/link'))
    assert.equal('new', util.read_file(d .. '/target'))
    os.execute('rm -rf ' .. d)
  end)

  it('writes a device in place and refuses a directory', function()
    if kind('/dev/null') == 'character special file' then
      assert.is_true(util.write_file_atomic('/dev/null', 'discarded'))
      assert.equal('character special file', kind('/dev/null'))
    end
    local d = tmpdir()
    local ok, err = util.write_file_atomic(d, 'x')
    assert.is_nil(ok)
    assert.truthy(err:find('Is a directory', 1, true))
    os.execute('rm -rf ' .. d)
  end)
end)
