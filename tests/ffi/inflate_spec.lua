-- DEFLATE, gzip and zlib decoding (cnnc.ffi.inflate) against streams zlib made (every block
-- type), the checksums against known values, the stored-block encoders by round trip, and
-- damaged input rejected with a message saying what is wrong.

local H = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'helper.lua')
local ffi = require 'ffi'
local inflate = require 'cnnc.ffi.inflate'
local sha256 = require 'cnnc.ffi.sha256'

local function str(buf, n) return buf and ffi.string(buf, n) end

describe('cnnc.ffi.inflate', function()
  local plain = H.read(H.data .. 'deflate.bin')

  for _, kind in ipairs({ 'stored', 'fixed', 'dynamic' }) do
    it('decodes ' .. kind .. ' blocks as zlib wrote them', function()
      local out, n = inflate.inflate(H.read(H.data .. 'deflate_' .. kind .. '.raw'))
      assert.is_not_nil(out, n)
      assert.equal(plain, str(out, n))
    end)
  end

  it('decodes zlib and gzip framing and checks their checksums', function()
    assert.equal(plain, str(inflate.zlib_decompress(H.read(H.data .. 'deflate.zlib'))))
    assert.equal(plain, str(inflate.gunzip(H.read(H.data .. 'deflate.gz'))))
  end)

  it('joins concatenated gzip members', function()
    assert.equal('hello world\n', str(inflate.gunzip(H.read(H.data .. 'two_members.gz'))))
  end)

  it('computes CRC-32 and Adler-32 as the standards define them', function()
    assert.equal(0xCBF43926, inflate.crc32('123456789', 9))
    assert.equal(0x091E01DE, inflate.adler32('123456789', 9))
    assert.equal(0, inflate.crc32('', 0))
    assert.equal(1, inflate.adler32('', 0))
  end)

  it('round-trips the stored-block encoders, including empty and multi-block data', function()
    for _, s in ipairs({ '', 'x', string.rep('0123456789abcdef', 9000) }) do
      assert.equal(s, str(inflate.inflate(inflate.deflate_stored(s))))
      assert.equal(s, str(inflate.zlib_decompress(inflate.zlib_stored(s))))
      assert.equal(s, str(inflate.gunzip(inflate.gzip_stored(s))))
    end
  end)

  it('rejects damaged data with a reason', function()
    local gz = H.read(H.data .. 'deflate.gz')
    local function rejects(data, what, f)
      local out, err = (f or inflate.gunzip)(data)
      assert.is_nil(out)
      assert.matches(what, err, 1, true)
    end
    rejects(gz:sub(1, -9) .. string.char(0, 0, 0, 0) .. gz:sub(-4), 'CRC-32 mismatch')
    rejects(gz:sub(1, 200), 'truncated')
    rejects(gz:sub(1, #gz - 4), 'truncated gzip trailer')
    rejects('not gzip at all, but long enough', 'bad magic')
    rejects('\31\139\9' .. string.rep('\0', 20), 'compression method 9')
    rejects('\7\0\0\0\0', 'invalid block type 3', inflate.inflate)
    rejects('\1\5\0\0\0', 'stored block length check', inflate.inflate)
    local z = H.read(H.data .. 'deflate.zlib')
    rejects(z:sub(1, -2) .. string.char((z:byte(-1) + 1) % 256), 'Adler-32 mismatch', inflate.zlib_decompress)
    rejects('\120\2' .. z:sub(3), 'header check', inflate.zlib_decompress)
  end)

  it('survives random corruption without raising', function()
    local gz = H.read(H.data .. 'deflate.gz')
    for k = 1, 200 do
      local pos = 11 + (k * 7919) % (#gz - 20)
      local bad = gz:sub(1, pos - 1) .. string.char((gz:byte(pos) + 1 + k) % 256) .. gz:sub(pos + 1)
      local out, err = inflate.gunzip(bad)
      assert.is_true(out == nil and type(err) == 'string' or out ~= nil)
    end
  end)

  it('decodes the Fashion-MNIST training images (47 MB) in a few seconds', function()
    local path = '/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz'
    local f = io.open(path, 'rb')
    if not f then pending('dataset-fashion-mnist is not installed'); return end
    local s = f:read('*a')
    f:close()
    local t0 = os.clock()
    local out, n = inflate.gunzip(s)
    local secs = os.clock() - t0
    assert.is_not_nil(out, n)
    assert.equal(60000 * 28 * 28 + 16, n)
    assert.is_true(secs < 5, 'took ' .. secs .. ' s')
  end)
end)

describe('cnnc.ffi.sha256', function()
  it('matches the FIPS 180-4 examples', function()
    assert.equal('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', sha256(''))
    assert.equal('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', sha256('abc'))
    assert.equal('248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
      sha256('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))
    assert.equal('cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0', sha256(string.rep('a', 1000000)))
  end)
end)
