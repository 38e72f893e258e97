-- cnnc.keras.zip: members of .keras archives, and the guards against hostile ones.
package.path = 'compiler/?.lua;' .. package.path
local zip = require 'cnnc.keras.zip'
local Z = dofile('tests/keras/spec/ziputil.lua')
local util = require 'cnnc.util'

local function fails(pattern, f)
  local ok, e = pcall(f)
  assert.is_false(ok)
  assert.is_true(util.is_error(e), tostring(e))
  assert.matches(pattern, util.format_error(e))
end

describe('zip reader', function()
  it('reads stored and deflated members', function()
    local stream = Z.zeros_stream(10)
    local a = zip.open('a.keras', Z.zip({ { name = 'config.json', data = '{"x": 1}' },
      { name = 'z.bin', data = stream, method = 8, plain = string.rep('\0', 2581) } }))
    assert.same({ 'config.json', 'z.bin' }, a:names())
    assert.equal('{"x": 1}', a:read('config.json'))
    assert.equal(string.rep('\0', 2581), a:read('z.bin'))
    assert.is_true(a:has('z.bin'))
    assert.is_false(a:has('nope'))
  end)

  it('reads the zip Python writes for a .keras file', function()
    local bytes = assert(util.read_file('tests/keras/data/unet/unet.keras'))
    local a = zip.open('unet.keras', bytes)
    assert.same({ 'metadata.json', 'config.json', 'model.weights.h5' }, a:names())
    assert.matches('"class_name": "Functional"', a:read('config.json'))
  end)

  it('stops a member that inflates to more than it declares (a zip bomb)', function()
    local stream = Z.zeros_stream(40000) -- 10 MB of zeros from 65 kB
    local a = zip.open('bomb.keras', Z.zip({ { name = 'config.json', data = stream, method = 8, size = 100,
      plain = 'x' } }))
    fails("bomb%.keras: member 'config%.json': the data inflates to more than 100 bytes %(it declares 100 bytes: a zip bomb",
      function() return a:read('config.json') end)
  end)

  it('refuses a member that declares more than the cap before inflating it', function()
    local a = zip.open('big.keras', Z.zip({ { name = 'model.weights.h5', data = 'abc', method = 8, size = 4e9,
      plain = 'abc' } }))
    fails('declares 4000000000 bytes, more than the %d+ cnnc accepts', function() return a:read('model.weights.h5') end)
    fails('declares %d+ bytes, more than the 10 cnnc accepts', function()
      return zip.open('c.keras', Z.zip({ { name = 'c', data = string.rep('x', 11) } })):read('c', 10)
    end)
  end)

  it('refuses damaged archives', function()
    local good = Z.zip({ { name = 'config.json', data = '{}' } })
    fails('truncated or not a %.keras file', function() return zip.open('t.keras', good:sub(1, 30)) end)
    fails('CRC%-32 mismatch', function()
      return zip.open('c.keras', Z.zip({ { name = 'a', data = 'hello', crc = 1 } })):read('a')
    end)
    fails('inflates to 2581 bytes but declares 3000', function()
      return zip.open('s.keras', Z.zip({ { name = 'a', data = Z.zeros_stream(10), method = 8, size = 3000,
        plain = string.rep('\0', 2581) } })):read('a')
    end)
    fails('compression method 12', function()
      return zip.open('m.keras', Z.zip({ { name = 'a', data = 'BZh', method = 12 } })):read('a')
    end)
    fails("has no member 'model%.weights%.h5'", function() return zip.open('e.keras', good):read('model.weights.h5') end)
  end)
end)
