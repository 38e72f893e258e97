-- File formats (cnnc.npy): .npy write/read round trips, files as NumPy writes them, every
-- rejection naming the file, binary PGM/PPM reading, and raw float32 input.

local T = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'testutil.lua')
local npy = require 'cnnc.npy'
local tensor = require 'cnnc.tensor'
local ffi = require 'ffi'

local function unhex(s) return (s:gsub('%x%x', function(h) return string.char(tonumber(h, 16)) end)) end

-- np.save(f, np.array([[0, 1.5, -2], [3.25, 1e-3, -0.0]], dtype='<f4')), NumPy 1.24.
local NUMPY_F4 = unhex('934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73'
  .. '652c20277368617065273a2028322c2033292c207d202020202020202020202020202020202020202020202020202020'
  .. '202020202020202020202020202020202020202020202020202020202020200a000000000000c03f000000c000005040'
  .. '6f12833a00000080')
-- np.lib.format.write_array(f, np.array([1, 2, 3], dtype='<f4'), version=(2, 0))
local NUMPY_V2 = unhex('934e554d50590200740000007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a204661'
  .. '6c73652c20277368617065273a2028332c292c207d202020202020202020202020202020202020202020202020202020'
  .. '202020202020202020202020202020202020202020202020202020202020200a0000803f0000004000004040')

-- A .npy v1.0 file with the given header dict text and data bytes, padded as NumPy does.
local function npy_bytes(dict, data, version)
  local header = dict .. string.rep(' ', (64 - (10 + #dict + 1) % 64) % 64) .. '\n'
  local len = #header
  return '\147NUMPY' .. string.char(version or 1, 0) .. string.char(len % 256, math.floor(len / 256)) .. header .. data
end

local function floats(list)
  local b = ffi.new('float[?]', #list)
  for i, v in ipairs(list) do b[i - 1] = v end
  return ffi.string(b, 4 * #list)
end

local function doubles(list)
  local b = ffi.new('double[?]', #list)
  for i, v in ipairs(list) do b[i - 1] = v end
  return ffi.string(b, 8 * #list)
end

local function f32(v) return ffi.new('float[1]', v)[0] end

describe('cnnc.npy', function()
  local dir
  before_each(function() dir = T.tmpdir() end)
  after_each(function() T.rmdir(dir) end)

  local function file(name, bytes)
    local path = dir .. '/' .. name
    T.write(path, bytes)
    return path
  end

  -- The read must fail with a message that starts with the path and contains `what`.
  local function rejects(path, what)
    local t, err = npy.read(path)
    assert.is_nil(t)
    assert.is_string(err)
    assert.same(path, err:sub(1, #path), 'the message does not start with the file name: ' .. err)
    assert.matches(what, err, 1, true)
    return err
  end

  describe('.npy', function()
    it('round-trips shapes and float32 values bit for bit', function()
      local shapes = { { 3 }, { 2, 3, 4 }, { 1 }, { 1, 1, 1, 5 }, { 4, 1 } }
      for k, shape in ipairs(shapes) do
        local t = tensor.new(shape)
        for i = 0, t.n - 1 do t.data[i] = (i - 7) * 0.37 + k end
        local path = dir .. '/rt' .. k .. '.npy'
        assert.is_true(npy.write(path, t))
        local back = assert(npy.read(path))
        assert.same(shape, back.shape)
        assert.is_true(T.bytes(t) == T.bytes(back))
      end
    end)

    it('round-trips special values: -0, subnormals, infinities, NaN, extremes', function()
      local t = tensor.new({ 7 })
      local vals = { -(0 * 1), 1e-45, -1.17549435e-38, math.huge, -math.huge, 0 / 0, 3.4028234e38 }
      for i, v in ipairs(vals) do t.data[i - 1] = v end
      local path = dir .. '/special.npy'
      assert.is_true(npy.write(path, t))
      local back = assert(npy.read(path))
      assert.is_true(T.bytes(t) == T.bytes(back))
    end)

    it('round-trips a scalar and empty arrays', function()
      local s = tensor.new({})
      s.data[0] = 2.5
      assert.is_true(npy.write(dir .. '/s.npy', s))
      local back = assert(npy.read(dir .. '/s.npy'))
      assert.same({}, back.shape)
      assert.same(2.5, back.data[0])
      local e = tensor.new({ 2, 0, 3 })
      assert.is_true(npy.write(dir .. '/e.npy', e))
      back = assert(npy.read(dir .. '/e.npy'))
      assert.same({ 2, 0, 3 }, back.shape)
      assert.same(0, back.n)
    end)

    it('writes exactly the bytes NumPy writes', function()
      local t = tensor.new({ 2, 3 })
      for i, v in ipairs({ 0, 1.5, -2, 3.25, 1e-3 }) do t.data[i - 1] = v end
      t.data[5] = -(0 * 1)
      assert.is_true(npy.encode(t) == NUMPY_F4)
      -- header padded to a multiple of 64 bytes, ending in a newline
      local enc = npy.encode(tensor.new({ 123, 4567, 1 }))
      local hlen = enc:byte(9) + 256 * enc:byte(10)
      assert.same(0, (10 + hlen) % 64)
      assert.same('\n', enc:sub(10 + hlen, 10 + hlen))
    end)

    it('reads files as NumPy writes them: float32, float64, uint8, version 2.0', function()
      local t = assert(npy.read(file('np.npy', NUMPY_F4)))
      assert.same({ 2, 3 }, t.shape)
      assert.same({ 0, 1.5, -2, 3.25, f32(1e-3), 0 }, T.values(t))
      assert.same(-math.huge, 1 / t.data[5])
      t = assert(npy.read(file('f8.npy', npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }",
        doubles({ 0.1, -2, 1e-50, 1e300 })))))
      assert.same({ 2, 2 }, t.shape)
      assert.same({ f32(0.1), -2, 0, math.huge }, T.values(t))
      t = assert(npy.read(file('u1.npy', npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }",
        '\0\1\127\255'))))
      assert.same({ 0, 1, 127, 255 }, T.values(t))
      t = assert(npy.read(file('v2.npy', NUMPY_V2)))
      assert.same({ 3 }, t.shape)
      assert.same({ 1, 2, 3 }, T.values(t))
    end)

    it('accepts a header with its keys in another order and without spaces', function()
      local t = assert(npy.read(file('order.npy', npy_bytes("{'shape':(2,),'fortran_order':False,'descr':'<f4'}",
        floats({ 4, 5 })))))
      assert.same({ 4, 5 }, T.values(t))
    end)

    it('rejects a file that is not .npy (bad magic)', function()
      rejects(file('magic.npy', 'PK\3\4' .. string.rep('\0', 100)), 'bad magic')
      rejects(file('short.npy', '\147NUM'), 'bad magic')
      rejects(file('empty.npy', ''), 'bad magic')
    end)

    it('rejects Fortran order', function()
      rejects(file('f.npy', npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", floats({ 1, 2, 3, 4, 5, 6 }))),
        'Fortran')
    end)

    it('rejects big-endian data', function()
      local err = rejects(file('be.npy', npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }",
        string.rep('\0', 12))), 'big-endian')
      assert.matches('>f4', err, 1, true)
    end)

    it('rejects unsupported dtypes, naming them', function()
      for _, descr in ipairs({ '<i4', '<f2', '|b1', '<c8', '|i1' }) do
        local err = rejects(file('dt.npy', npy_bytes("{'descr': '" .. descr .. "', 'fortran_order': False, 'shape': (2,), }",
          string.rep('\0', 64))), 'unsupported dtype')
        assert.matches(descr, err, 1, true)
      end
    end)

    it('rejects truncated data, saying how much is missing', function()
      local err = rejects(file('trunc.npy', npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
        floats({ 1, 2, 3, 4, 5 }))), 'truncated')
      assert.matches('24 bytes', err, 1, true)
      assert.matches('20 bytes', err, 1, true)
    end)

    it('rejects a truncated header', function()
      rejects(file('th.npy', NUMPY_F4:sub(1, 60)), 'truncated')
    end)

    it('rejects trailing bytes after the data', function()
      rejects(file('trail.npy', NUMPY_F4 .. '\0\0\0\0'), 'unexpected bytes')
    end)

    it('rejects malformed headers and versions it does not know', function()
      rejects(file('noshape.npy', npy_bytes("{'descr': '<f4', 'fortran_order': False, }", '')), 'malformed')
      rejects(file('baddim.npy', npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", '')),
        'bad dimension')
      local v9 = NUMPY_F4:sub(1, 6) .. '\9' .. NUMPY_F4:sub(8)
      rejects(file('v9.npy', v9), 'version 9')
    end)

    -- Found by the differential fuzzer (tests/fuzz/readers.lua): the Lua reader accepted
    -- headers the C runtime rejects and rejected some it accepts.
    it('reads and rejects the same headers as the C runtime', function()
      local t = assert(npy.read(file('dq.npy', npy_bytes('{"descr": "<f4", "fortran_order": False, "shape": (2,)}',
        floats({ 1, 2 })))))
      assert.same({ 1, 2 }, T.values(t))
      t = assert(npy.read(file('long.npy', npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1L, 2L), }",
        floats({ 1, 2 })))))
      assert.same({ 1, 2 }, t.shape)
      rejects(file('extra.npy', npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", floats({ 1, 2 }))),
        "unexpected key 'x'")
      rejects(file('twice.npy', npy_bytes("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
        floats({ 1, 2 }))), "repeated key 'descr'")
      rejects(file('after.npy', npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x", floats({ 1, 2 }))),
        'unexpected text after the dict')
      rejects(file('nul.npy', npy_bytes("{'descr\0': '<f4', 'fortran_order': False, 'shape': (2,)}", floats({ 1, 2 }))),
        'unexpected string contents')
      rejects(file('minor.npy', NUMPY_F4:sub(1, 7) .. '\1' .. NUMPY_F4:sub(9)), 'version 1.1')
      rejects(file('big.npy', npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 1099511627777)}", '')),
        'more than 2^40')
    end)

    it('reports a missing file with its name', function()
      rejects(dir .. '/does_not_exist.npy', 'cannot read')
    end)

    it('reports a write into a missing directory with the path', function()
      local path = dir .. '/no/such/dir/x.npy'
      local ok, err = npy.write(path, tensor.new({ 1 }))
      assert.is_nil(ok)
      assert.matches(path, err, 1, true)
    end)
  end)

  describe('PGM/PPM', function()
    it('reads an 8-bit PGM as (H, W, 1) scaled to [0, 1]', function()
      local t = assert(npy.read_pnm(file('a.pgm', 'P5\n3 2\n255\n' .. string.char(0, 51, 255, 102, 204, 1))))
      assert.same({ 2, 3, 1 }, t.shape)
      assert.same({ 0, f32(0.2), 1, f32(0.4), f32(0.8), f32(1 / 255) }, T.values(t))
    end)

    it('reads an 8-bit PPM as (H, W, 3), channels last', function()
      local px = string.char(255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30)
      local t = assert(npy.read_pnm(file('a.ppm', 'P6 2 2 255\n' .. px)))
      assert.same({ 2, 2, 3 }, t.shape)
      assert.same({ 1, 0, 0, 0, 1, 0, 0, 0, 1, f32(10 / 255), f32(20 / 255), f32(30 / 255) }, T.values(t))
    end)

    it('reads 16-bit samples, most significant byte first, with their maxval', function()
      local t = assert(npy.read_pnm(file('b.pgm', 'P5\n2 1\n65535\n' .. string.char(0x12, 0x34, 0xff, 0xff))))
      assert.same({ 1, 2, 1 }, t.shape)
      assert.same({ f32(0x1234 / 65535), 1 }, T.values(t))
      t = assert(npy.read_pnm(file('c.pgm', 'P5\n1 1\n1000\n' .. string.char(0x01, 0xf4))))
      assert.same({ f32(0.5) }, T.values(t))
      t = assert(npy.read_pnm(file('c.ppm', 'P6\n1 1\n4095\n' .. string.char(0x0f, 0xff, 0, 0, 0x08, 0x00))))
      assert.same({ 1, 0, f32(2048 / 4095) }, T.values(t))
    end)

    it('skips comments in the header', function()
      local t = assert(npy.read_pnm(file('d.pgm',
        'P5\n# a comment\n#another\n2 # width\n# between\n1\n# before maxval\n15\n' .. string.char(0, 15))))
      assert.same({ 1, 2, 1 }, t.shape)
      assert.same({ 0, 1 }, T.values(t))
      t = assert(npy.read_pnm(file('e.pgm', 'P5# right after the magic\n1 1 255\n' .. string.char(255))))
      assert.same({ 1 }, T.values(t))
    end)

    -- Found by the differential fuzzer: a comment after maxval shifted every pixel by a
    -- byte, and trailing bytes or samples above maxval were accepted (the C runtime
    -- rejects them).
    it('reads a comment after maxval as the C runtime does', function()
      local t = assert(npy.read_pnm(file('cm.pgm', 'P5 2 1 255# note\n' .. string.char(51, 255))))
      assert.same({ f32(0.2), 1 }, T.values(t))
    end)

    it('keeps pixel bytes that look like whitespace or #', function()
      local t = assert(npy.read_pnm(file('f.pgm', 'P5\n3 1\n255\n' .. string.char(35, 10, 32))))
      assert.same({ f32(35 / 255), f32(10 / 255), f32(32 / 255) }, T.values(t))
    end)

    local function rejects_pnm(path, what)
      local t, err = npy.read_pnm(path)
      assert.is_nil(t)
      assert.same(path, err:sub(1, #path))
      assert.matches(what, err, 1, true)
    end

    it('rejects ASCII and unknown formats, bad sizes and truncation, naming the file', function()
      rejects_pnm(file('g.pgm', 'P2\n1 1\n255\n0\n'), 'ASCII')
      rejects_pnm(file('h.pgm', 'P3\n1 1\n255\n0 0 0\n'), 'ASCII')
      rejects_pnm(file('i.pgm', 'GIF89a'), 'bad magic')
      rejects_pnm(file('j.pgm', 'P5\n2 2\n255\n\0\0\0'), 'truncated')
      rejects_pnm(file('k.pgm', 'P5\n2 2\n'), 'truncated header')
      rejects_pnm(file('l.pgm', 'P5\n0 2\n255\n'), 'bad size')
      rejects_pnm(file('m.pgm', 'P5\n1 1\n0\n\0'), 'bad maxval')
      rejects_pnm(file('n.pgm', 'P5\n1 1\n70000\n\0\0'), 'bad maxval')
      rejects_pnm(file('o.pgm', 'P5\n1 x\n255\n\0'), 'bad header token')
      rejects_pnm(dir .. '/missing.pgm', 'cannot read')
    end)

    it('rejects trailing bytes, samples above maxval and a header without its final whitespace', function()
      rejects_pnm(file('tr.pgm', 'P5 1 1 255\n\0\0'), '1 bytes after the image data')
      rejects_pnm(file('mx.pgm', 'P5 2 1 10\n\5\11'), 'sample value 11 exceeds maxval 10 (row 0, column 1)')
      rejects_pnm(file('ws.pgm', 'P5 1 1 255x\1'), 'no whitespace after maxval')
    end)
  end)

  describe('read_input', function()
    it('chooses the reader by extension, raw float32 otherwise', function()
      local t = tensor.new({ 2 })
      t.data[0], t.data[1] = 1, -2
      assert.is_true(npy.write(dir .. '/in.NPY', t))
      assert.same({ 1, -2 }, T.values(assert(npy.read_input(dir .. '/in.NPY'))))
      assert.same({ 1, 1, 1 }, assert(npy.read_input(file('in.pgm', 'P5 1 1 255\n\255'))).shape)
      local raw = assert(npy.read_input(file('in.raw', floats({ 0.5, -4, 8 }))))
      assert.same({ 3 }, raw.shape)
      assert.same({ 0.5, -4, 8 }, T.values(raw))
    end)

    it('rejects raw input that is not a whole number of floats', function()
      local path = file('bad.bin', 'abcdef')
      local t, err = npy.read_input(path)
      assert.is_nil(t)
      assert.matches(path, err, 1, true)
      assert.matches('multiple of 4', err, 1, true)
      t, err = npy.read_input(file('empty.bin', ''))
      assert.is_nil(t)
      assert.matches('multiple of 4', err, 1, true)
    end)
  end)

  describe('weights from a directory', function()
    local nn = T.nn
    it('binds DIR/<layer>.<weight>.npy and checks its shape', function()
      local k = tensor.new({ 3, 2 })
      for i = 0, 5 do k.data[i] = i + 1 end
      local b = tensor.new({ 2 })
      b.data[0], b.data[1] = 0.5, -0.5
      assert.is_true(npy.write(dir .. '/fc.kernel.npy', k))
      assert.is_true(npy.write(dir .. '/fc.bias.npy', b))
      local m = nn.Sequential{ input_shape = { 3 }, layers = { nn.Dense{ 2, name = 'fc' } } }
      local g = T.compile(m, { stop = 'shape', weights = dir }).typed
      assert.same({ 1, 2, 3, 4, 5, 6 }, T.values(T.weight(g.nodes[1], 'kernel')))
      assert.same({ 0.5, -0.5 }, T.values(T.weight(g.nodes[1], 'bias')))
      -- wrong shape: named, with the Keras layout
      assert.is_true(npy.write(dir .. '/fc.kernel.npy', tensor.new({ 2, 3 })))
      local _, text = T.compile_error(m, { stop = 'shape', weights = dir })
      assert.matches('fc.kernel.npy has shape (2, 3) but this layer needs (3, 2)', text, 1, true)
      -- missing file
      os.remove(dir .. '/fc.bias.npy')
      assert.is_true(npy.write(dir .. '/fc.kernel.npy', k))
      _, text = T.compile_error(m, { stop = 'shape', weights = dir })
      assert.matches('missing weight file', text, 1, true)
      assert.matches('fc.bias.npy', text, 1, true)
      -- a corrupt file: the npy message, naming the file
      T.write(dir .. '/fc.bias.npy', 'junk')
      _, text = T.compile_error(m, { stop = 'shape', weights = dir })
      assert.matches('fc.bias.npy: not a .npy file', text, 1, true)
    end)
  end)
end)
