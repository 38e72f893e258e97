-- Readers and writers of the experiments API: .npy, IDX (plain and gzip), PGM/PPM and PNG.
-- Each writer round-trips through its reader; PNGs that PIL wrote in every colour type and
-- bit depth decode to the values PIL decodes (tests/ffi/data, make_fixtures.py); every
-- filter type is exercised; malformed files are rejected with the file and the reason.

local H = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'helper.lua')
local cnnc = require 'cnnc'
local inflate = require 'cnnc.ffi.inflate'

local function ramp(shape, dtype, f)
  local t = cnnc.Tensor(shape, dtype)
  for i = 0, t.n - 1 do t.data[i] = f(i) end
  return t
end

local function same(a, b)
  assert.same(a.shape, b.shape)
  assert.equal(a.dtype, b.dtype)
  assert.equal(a:bytes(), b:bytes())
end

describe('formats', function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.rmdir(dir) end)

  describe('.npy', function()
    it('round-trips every dtype', function()
      for _, dt in ipairs({ 'float32', 'float64', 'uint8', 'int32' }) do
        local t = ramp({ 3, 4, 5 }, dt, function(i) return dt:match('float') and (i * 0.37 - 7) or (i * 3) % 200 end)
        same(t, cnnc.read_npy(cnnc.write_npy(dir .. '/a.npy', t)))
      end
      same(cnnc.Tensor({ 7 }), cnnc.read_npy(cnnc.write_npy(dir .. '/b.npy', cnnc.Tensor({ 7 }))))
    end)

    it('reads what the compiler writes and converts on request', function()
      local f = cnnc.read_npy(H.root .. 'examples/fashion_mnist/weights/conv2d.kernel.npy')
      assert.same({ 3, 3, 1, 32 }, f.shape)
      local u = cnnc.write_npy(dir .. '/u.npy', ramp({ 4 }, 'uint8', function(i) return i * 85 end))
      assert.same({ 0, 1 / 3, 2 / 3, 1 }, cnnc.read_npy(u, { dtype = 'float64', scale = 1 / 255 }):totable())
    end)

    it('rejects malformed files naming them', function()
      local good = H.read(cnnc.write_npy(dir .. '/g.npy', cnnc.Tensor({ 2, 2 })))
      H.fails({ dir .. '/x.npy', 'bad magic' }, cnnc.read_npy, H.write(dir .. '/x.npy', 'hello world!'))
      H.fails({ 'truncated', '(2, 2) float32 (16 bytes), 12 bytes follow' }, cnnc.read_npy,
        H.write(dir .. '/t.npy', good:sub(1, -5)))
      H.fails({ '4 unexpected bytes' }, cnnc.read_npy, H.write(dir .. '/l.npy', good .. 'abcd'))
      H.fails({ "unsupported dtype '<i2'" }, cnnc.read_npy, H.write(dir .. '/d.npy', (good:gsub('<f4', '<i2'))))
      H.fails({ 'Fortran' }, cnnc.read_npy, H.write(dir .. '/o.npy', (good:gsub('False', 'True '))))
      H.fails({ 'cannot read', dir .. '/missing.npy' }, cnnc.read_npy, dir .. '/missing.npy')
      H.fails({ "unknown option 'scal'" }, cnnc.read_npy, dir .. '/g.npy', { scal = 2 })
    end)

    -- Found by tests/fuzz/readers.lua: a huge shape reached ffi.new (a Lua error, not a
    -- cnnc one), and a 100-byte file could allocate gigabytes before its truncation showed.
    it('checks the header and the data length before allocating', function()
      local function header(shape)
        local dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " .. shape .. ', }'
        dict = dict .. string.rep(' ', (64 - (10 + #dict + 1) % 64) % 64) .. '\n'
        return '\147NUMPY\1\0' .. string.char(#dict % 256, math.floor(#dict / 256)) .. dict
      end
      H.fails({ 'more than 2^40' }, cnnc.read_npy, H.write(dir .. '/h.npy', header('(1099511627777, 2)')))
      H.fails({ 'truncated', '(1099511627776, 1099511627776) float32' }, cnnc.read_npy,
        H.write(dir .. '/hh.npy', header('(1099511627776, 1099511627776)')))
      H.fails({ 'truncated', '(400000000,) float32 (1600000000 bytes), 0 bytes follow' }, cnnc.read_npy,
        H.write(dir .. '/t4.npy', header('(400000000,)')))
    end)
  end)

  describe('IDX', function()
    it('round-trips each dtype, plain and gzip-compressed', function()
      for _, dt in ipairs({ 'uint8', 'int32', 'float32', 'float64' }) do
        local t = ramp({ 3, 5, 2 }, dt, function(i) return dt == 'int32' and (i * 7919 - 100000) or
          dt == 'uint8' and i * 4 or i / 3 - 2 end)
        same(t, cnnc.read_idx(cnnc.write_idx(dir .. '/a.idx', t)))
        same(t, cnnc.read_idx(cnnc.write_idx(dir .. '/a.idx.gz', t)))
      end
    end)

    it('reads the big-endian layout byte for byte', function()
      local bytes = string.char(0, 0, 0x0B, 1, 0, 0, 0, 3, 0x01, 0x02, 0xFF, 0xFE, 0x80, 0x00)
      assert.same({ 258, -2, -32768 }, cnnc.read_idx(H.write(dir .. '/s.idx', bytes)):totable())
      local i8 = string.char(0, 0, 0x09, 1, 0, 0, 0, 2, 0x7F, 0x80)
      assert.same({ 127, -128 }, cnnc.read_idx(H.write(dir .. '/b.idx', i8)):totable())
    end)

    it('reads the Fashion-MNIST files Debian ships', function()
      local path = '/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz'
      if not io.open(path, 'rb') then pending('dataset-fashion-mnist is not installed'); return end
      local y = cnnc.read_idx(path)
      assert.same({ 10000 }, y.shape)
      assert.equal('uint8', y.dtype)
      assert.same({ 9, 2, 1, 1, 6 }, { y.data[0], y.data[1], y.data[2], y.data[3], y.data[4] })
      local d = cnnc.datasets.fashion_mnist { train = 5, test = 3 }
      assert.same({ 5, 28, 28, 1 }, d.train_x.shape)
      assert.same({ 3 }, d.test_y.shape)
      local lo, hi = d.train_x:range()
      assert.is_true(lo == 0 and hi <= 1 and hi > 0.9)
    end)

    it('rejects malformed files naming them', function()
      local good = H.read(cnnc.write_idx(dir .. '/g.idx', ramp({ 2, 3 }, 'uint8', function(i) return i end)))
      H.fails({ dir .. '/m.idx', 'not an IDX file' }, cnnc.read_idx, H.write(dir .. '/m.idx', 'P5 hello'))
      H.fails({ 'unknown IDX data type 0x07' }, cnnc.read_idx, H.write(dir .. '/t.idx', '\0\0\7\1\0\0\0\1x'))
      H.fails({ 'truncated', '(2, 3)', '6 bytes of data), 4 bytes follow' }, cnnc.read_idx,
        H.write(dir .. '/s.idx', good:sub(1, -3)))
      H.fails({ 'truncated header' }, cnnc.read_idx, H.write(dir .. '/h.idx', '\0\0\8\3\0\0\0\2'))
      H.fails({ '1 unexpected bytes' }, cnnc.read_idx, H.write(dir .. '/x.idx', good .. '!'))
      local gz = inflate.gzip_stored(good)
      H.fails({ dir .. '/c.idx.gz', 'gzip', 'CRC-32 mismatch' }, cnnc.read_idx,
        H.write(dir .. '/c.idx.gz', gz:sub(1, 20) .. 'X' .. gz:sub(22)))
      H.fails({ 'gzip', 'truncated' }, cnnc.read_idx, H.write(dir .. '/d.idx.gz', gz:sub(1, 15)))
    end)
  end)

  describe('PGM/PPM', function()
    it('round-trips 8-bit grey and colour images', function()
      for _, c in ipairs({ 1, 3 }) do
        local t = ramp({ 5, 7, c }, 'float32', function(i) return (i * 37 % 256) / 255 end)
        local back = cnnc.read_pnm(cnnc.write_pnm(dir .. '/a.p' .. (c == 1 and 'gm' or 'pm'), t))
        assert.same(t.shape, back.shape)
        for i = 0, t.n - 1 do assert.near(t.data[i], back.data[i], 1e-6) end
      end
    end)

    it('maps lo..hi to 0..255 and clamps; auto uses the range', function()
      local t = cnnc.from_table({ { -1, 0, 1, 3 } })
      local function bytes(opts) return H.read(cnnc.write_pnm(dir .. '/r.pgm', t, opts)):sub(-4) end
      assert.equal(string.char(0, 0, 255, 255), bytes())
      assert.equal(string.char(0, 64, 128, 255), bytes({ auto = true }))
      assert.equal(string.char(0, 128, 255, 255), bytes({ lo = -1, hi = 1 }))
    end)

    it('reads 16-bit samples and header comments', function()
      local p = H.write(dir .. '/w.pgm', 'P5\n# a comment\n2 1\n65535\n' .. string.char(0xFF, 0xFF, 0x80, 0x00))
      local t = cnnc.read_image(p)
      assert.same({ 1, 2, 1 }, t.shape)
      assert.equal(1, t.data[0])
      assert.near(32768 / 65535, t.data[1], 1e-7)
    end)

    it('rejects malformed files naming them', function()
      H.fails({ dir .. '/a.pgm', 'ASCII' }, cnnc.read_pnm, H.write(dir .. '/a.pgm', 'P2\n1 1\n255\n0\n'))
      H.fails({ 'truncated', '3x2 image needs 6 bytes' }, cnnc.read_pnm, H.write(dir .. '/t.pgm', 'P5\n3 2\n255\nabc'))
      H.fails({ 'bad maxval 70000' }, cnnc.read_pnm, H.write(dir .. '/m.pgm', 'P5 1 1 70000 ab'))
      -- As the C runtime reads them (found by tests/fuzz/readers.lua).
      H.fails({ '1 bytes after the image data' }, cnnc.read_pnm, H.write(dir .. '/tr.pgm', 'P5 1 1 255\n\0\0'))
      H.fails({ 'sample value 11 exceeds maxval 10' }, cnnc.read_pnm, H.write(dir .. '/mx.pgm', 'P5 2 1 10\n\5\11'))
      local cm = cnnc.read_pnm(H.write(dir .. '/cm.pgm', 'P5 2 1 255# note\n\51\255')):totable()
      assert.near(0.2, cm[1][1][1], 1e-7)
      assert.same(1, cm[1][2][1])
      H.fails({ 'expected an image tensor', '(2, 2, 2)' }, cnnc.write_pnm, dir .. '/x.pgm', cnnc.Tensor({ 2, 2, 2 }))
      H.fails({ 'not a PNG, PGM or PPM' }, cnnc.read_image, H.write(dir .. '/x.bmp', 'BM123456789'))
    end)
  end)

  describe('PNG', function()
    for _, name in ipairs({ 'grey8', 'grey16', 'bilevel', 'grey_alpha8', 'rgb8', 'rgba8', 'palette' }) do
      it('decodes ' .. name .. '.png as PIL does', function()
        local got = cnnc.read_png(H.data .. name .. '.png')
        local want = cnnc.read_npy(H.data .. name .. '.npy')
        assert.same(want.shape, got.shape)
        for i = 0, want.n - 1 do assert.near(want.data[i], got.data[i], 1e-6) end
      end)
    end

    it('round-trips 1 to 4 channels through the writer', function()
      for c = 1, 4 do
        local t = ramp({ 6, 5, c }, 'float32', function(i) return ((i * 53) % 256) / 255 end)
        local back = cnnc.read_png(cnnc.write_png(dir .. '/r.png', t))
        assert.same(t.shape, back.shape)
        for i = 0, t.n - 1 do assert.near(t.data[i], back.data[i], 1e-6) end
      end
      local g = cnnc.read_image(cnnc.write_png(dir .. '/g.png', cnnc.from_table({ { 0, 1 } })))
      assert.same({ 1, 2, 1 }, g.shape)
    end)

    -- A PNG whose rows use each filter type (0-4 twice), filtered here independently.
    it('undoes every filter type', function()
      local w, h, bpp = 4, 10, 3
      local px = {}
      for i = 1, w * h * bpp do px[i] = (i * 71 + (i % 5) * 13) % 256 end
      local function at(y, i) if y < 0 or i < 0 then return 0 end return px[y * w * bpp + i + 1] end
      local rows = {}
      for y = 0, h - 1 do
        local ft, out = y % 5, { string.char(y % 5) }
        for i = 0, w * bpp - 1 do
          local x, a, b, c = at(y, i), at(y, i - bpp), at(y - 1, i), at(y - 1, i - bpp)
          local pred = 0
          if ft == 1 then pred = a elseif ft == 2 then pred = b elseif ft == 3 then pred = math.floor((a + b) / 2)
          elseif ft == 4 then
            local p = a + b - c
            local pa, pb, pc = math.abs(p - a), math.abs(p - b), math.abs(p - c)
            pred = (pa <= pb and pa <= pc) and a or (pb <= pc and b or c)
          end
          out[#out + 1] = string.char((x - pred) % 256)
        end
        rows[#rows + 1] = table.concat(out)
      end
      local function chunk(typ, data)
        return inflate.be32(#data) .. typ .. data .. inflate.be32(inflate.crc32(typ .. data, 4 + #data))
      end
      local png = '\137PNG\r\n\26\n' .. chunk('IHDR', inflate.be32(w) .. inflate.be32(h) .. string.char(8, 2, 0, 0, 0))
        .. chunk('IDAT', inflate.zlib_stored(table.concat(rows))) .. chunk('IEND', '')
      local t = cnnc.read_png(H.write(dir .. '/f.png', png))
      for i = 0, t.n - 1 do assert.near(px[i + 1] / 255, t.data[i], 1e-7) end
    end)

    it('rejects malformed files naming them', function()
      local good = H.read(H.data .. 'rgb8.png')
      H.fails({ dir .. '/s.png', 'bad signature' }, cnnc.read_png, H.write(dir .. '/s.png', 'GIF89a....'))
      H.fails({ 'CRC mismatch in the IHDR chunk' }, cnnc.read_png,
        H.write(dir .. '/c.png', good:sub(1, 20) .. 'X' .. good:sub(22)))
      H.fails({ 'truncated' }, cnnc.read_png, H.write(dir .. '/t.png', good:sub(1, 60)))
      local ihdr = 'IHDR' .. inflate.be32(4) .. inflate.be32(4) .. string.char(8, 0, 0, 0, 1)
      local interlaced = '\137PNG\r\n\26\n' .. inflate.be32(13) .. ihdr .. inflate.be32(inflate.crc32(ihdr, #ihdr))
        .. good:sub(34)
      H.fails({ 'interlaced' }, cnnc.read_png, H.write(dir .. '/i.png', interlaced))
      H.fails({ "unknown option 'scale'" }, cnnc.write_png, dir .. '/o.png', cnnc.Tensor({ 2, 2 }), { scale = 2 })
    end)
  end)

  describe('tile', function()
    it('lays channels out as tiles, each stretched to its range', function()
      local maps = cnnc.Tensor({ 2, 2, 3 })
      for i = 0, 3 do maps.data[i * 3] = i; maps.data[i * 3 + 1] = -i; maps.data[i * 3 + 2] = 5 end
      local g = cnnc.tile(maps, { cols = 3, gap = 1 })
      assert.same({ 2, 8 }, g.shape)
      local want = { { 0, 1 / 3, 1, 1, 2 / 3, 1, 0.5, 0.5 }, { 2 / 3, 1, 1, 1 / 3, 0, 1, 0.5, 0.5 } }
      for y = 1, 2 do for x = 1, 8 do assert.near(want[y][x], g:get(y, x), 1e-6) end end
      assert.same({ 5, 5 }, cnnc.tile(cnnc.Tensor({ 2, 2, 4 }), { scale = 1 }).shape)
      assert.same({ 8, 8 }, cnnc.tile(cnnc.Tensor({ 2, 2, 1 }), { scale = 4, gap = 0 }).shape)
    end)
  end)
end)
