-- cnnc.ffi.images: PGM/PPM and PNG images as (H, W, C) tensors, and tiled grids of
-- feature maps.
--
-- Readers give float32 tensors scaled to [0, 1]: binary PGM (P5) and PPM (P6) with 8- or
-- 16-bit samples; PNG (non-interlaced) in every standard colour type and bit depth:
-- grey 1/2/4/8/16 bits (C = 1), grey+alpha (2), RGB (3), palette (expanded to RGB) and
-- RGBA (4), with chunk CRCs and the zlib checksum verified. Writers take float tensors
-- (H, W) or (H, W, C), mapping lo..hi (default 0..1, or each image's own range with
-- auto = true) linearly to 0..255 and clamping, or uint8 tensors as they are; PNGs are
-- 8-bit with stored (uncompressed) zlib blocks, so no compression library is needed.
-- `tile` lays the channels of a (H, W, C) tensor out as one grey image, one tile per
-- channel, the way feature maps and kernels are usually shown.

local ffi = require 'ffi'
local common = require 'cnnc.ffi.common'
local inflate = require 'cnnc.ffi.inflate'
local tensor = require 'cnnc.ffi.tensor'
local util = require 'cnnc.util'

local M = {}

local read_bytes, write_bytes = common.read_bytes, common.write_bytes

-- ---------------------------------------------------------------- PGM / PPM

-- The format is parsed by cnnc.npy, as strictly as the C runtime parses it.
function M.read_pnm(path)
  local img, err = require('cnnc.npy').parse_pnm(read_bytes(path, 'cnnc.read_pnm'), path)
  if not img then common.fail('cnnc.read_pnm: %s', err) end
  local t = tensor.new(img.shape)
  ffi.copy(t.data, img.data, 4 * img.n)
  return t
end

local WRITE_OPTS = { lo = true, hi = true, auto = true }

-- 8-bit samples of an image tensor: returns bytes (uint8_t buffer), h, w, c.
local function samples(t, opts, what, allowed_c)
  tensor.check(t, what)
  local h, w, c = t.shape[1], t.shape[2], t.shape[3] or 1
  if #t.shape < 2 or #t.shape > 3 or not allowed_c[c] then
    common.fail('%s: expected an image tensor (H, W) or (H, W, C) with C in {%s}, got shape %s', what,
      table.concat(util.sorted_keys(allowed_c), ', '), util.shape_str(t.shape))
  end
  if h < 1 or w < 1 then common.fail('%s: the image %s is empty', what, util.shape_str(t.shape)) end
  local out = ffi.new('uint8_t[?]', t.n)
  local d = t.data
  if t.dtype == 'uint8' then
    ffi.copy(out, d, t.n)
  else
    local lo, hi = opts.lo or 0, opts.hi or 1
    if opts.auto then lo, hi = t:range() end
    local k = hi ~= lo and 255 / (hi - lo) or 0
    for i = 0, t.n - 1 do
      local v = (d[i] - lo) * k + 0.5
      out[i] = v ~= v and 0 or v < 0 and 0 or v > 255 and 255 or v
    end
  end
  return out, h, w, c
end

function M.write_pnm(path, t, opts)
  opts = common.check_opts(opts, WRITE_OPTS, 'cnnc.write_pnm')
  if type(path) ~= 'string' then common.fail('cnnc.write_pnm: expected a file name, got %s', type(path)) end
  local px, h, w, c = samples(t, opts, 'cnnc.write_pnm', { [1] = true, [3] = true })
  local bytes = string.format('%s\n%d %d\n255\n', c == 1 and 'P5' or 'P6', w, h) .. ffi.string(px, h * w * c)
  local ok, err = util.write_file_atomic(path, bytes)
  if not ok then common.fail('cnnc.write_pnm: cannot write %s: %s', path, tostring(err)) end
  return path
end

-- ---------------------------------------------------------------- PNG

local PNG_SIG = '\137PNG\r\n\26\n'
local PNG_CHANNELS = { [0] = 1, [2] = 3, [3] = 1, [4] = 2, [6] = 4 }
local PNG_DEPTHS = { [0] = { 1, 2, 4, 8, 16 }, [2] = { 8, 16 }, [3] = { 1, 2, 4, 8 }, [4] = { 8, 16 }, [6] = { 8, 16 } }

local function paeth(a, b, c)
  local p = a + b - c
  local pa, pb, pc = math.abs(p - a), math.abs(p - b), math.abs(p - c)
  if pa <= pb and pa <= pc then return a end
  if pb <= pc then return b end
  return c
end

-- Undoes the per-row filters in place; raw holds h rows of 1 + stride bytes.
local function unfilter(raw, h, stride, bpp, bad)
  local prev = ffi.new('uint8_t[?]', stride) -- the row above the first is zeros
  for y = 0, h - 1 do
    local row = raw + y * (stride + 1)
    local ft, cur = row[0], row + 1
    if ft == 1 then
      for i = bpp, stride - 1 do cur[i] = (cur[i] + cur[i - bpp]) % 256 end
    elseif ft == 2 then
      for i = 0, stride - 1 do cur[i] = (cur[i] + prev[i]) % 256 end
    elseif ft == 3 then
      for i = 0, stride - 1 do
        local left = i >= bpp and cur[i - bpp] or 0
        cur[i] = (cur[i] + math.floor((left + prev[i]) / 2)) % 256
      end
    elseif ft == 4 then
      for i = 0, stride - 1 do
        local a, c = 0, 0
        if i >= bpp then a, c = cur[i - bpp], prev[i - bpp] end
        cur[i] = (cur[i] + paeth(a, prev[i], c)) % 256
      end
    elseif ft ~= 0 then
      bad('unknown filter type %d on row %d', ft, y)
    end
    prev = cur
  end
end

function M.read_png(path)
  local s = read_bytes(path, 'cnnc.read_png')
  local function bad(fmt, ...) common.fail('cnnc.read_png: %s: ' .. fmt, path, ...) end
  if s:sub(1, 8) ~= PNG_SIG then bad('not a PNG file (bad signature)') end
  local p = ffi.cast('const uint8_t *', s)
  local pos, hdr, idat, palette = 8, nil, {}, nil
  while true do
    if pos + 12 > #s then bad('truncated: the file ends before the IEND chunk') end
    local len, typ = inflate.u32be(p, pos), s:sub(pos + 5, pos + 8)
    if pos + 12 + len > #s then bad('truncated %s chunk (%d bytes announced)', typ, len) end
    local crc = inflate.u32be(p, pos + 8 + len)
    if inflate.crc32(p + pos + 4, len + 4) ~= crc then bad('CRC mismatch in the %s chunk (corrupt file)', typ) end
    local data = s:sub(pos + 9, pos + 8 + len)
    if typ == 'IHDR' then
      if len ~= 13 then bad('IHDR chunk has %d bytes, not 13', len) end
      local q = p + pos + 8
      hdr = { w = inflate.u32be(q, 0), h = inflate.u32be(q, 4), depth = q[8], ctype = q[9], interlace = q[12],
        method = q[10], filter = q[11] }
    elseif typ == 'PLTE' then
      palette = data
    elseif typ == 'IDAT' then
      idat[#idat + 1] = data
    elseif typ == 'IEND' then
      break
    elseif typ:byte(1) < 97 then -- an unknown critical chunk (upper-case first letter)
      bad('unknown critical chunk %s', typ)
    end
    pos = pos + 12 + len
  end
  if not hdr then bad('no IHDR chunk') end
  local w, h, depth, ct = hdr.w, hdr.h, hdr.depth, hdr.ctype
  local channels = PNG_CHANNELS[ct]
  if not channels then bad('unknown colour type %d', ct) end
  local depth_ok = false
  for _, d in ipairs(PNG_DEPTHS[ct]) do depth_ok = depth_ok or d == depth end
  if not depth_ok then bad('bit depth %d is not allowed for colour type %d', depth, ct) end
  if hdr.method ~= 0 or hdr.filter ~= 0 then bad('unknown compression or filter method') end
  if hdr.interlace ~= 0 then bad('interlaced (Adam7) PNGs are not supported; save without interlacing') end
  if w < 1 or h < 1 or w * h > 2 ^ 30 then bad('bad size %dx%d', w, h) end
  if ct == 3 and not palette then bad('palette image without a PLTE chunk') end
  if #idat == 0 then bad('no IDAT chunk') end
  local raw, n = inflate.zlib_decompress(table.concat(idat))
  if not raw then bad('pixel data: %s', n) end
  local stride = math.ceil(w * channels * depth / 8)
  if n ~= h * (stride + 1) then
    bad('pixel data has %d bytes, a %dx%d image needs %d', n, w, h, h * (stride + 1))
  end
  unfilter(raw, h, stride, math.max(1, channels * depth / 8), bad)
  local outc = ct == 3 and 3 or channels
  local t = tensor.new({ h, w, outc })
  local d = t.data
  local maxv = 2 ^ depth - 1
  local pal = palette and ffi.cast('const uint8_t *', palette)
  for y = 0, h - 1 do
    local row = raw + y * (stride + 1) + 1
    for x = 0, w - 1 do
      for c = 0, channels - 1 do
        local k = x * channels + c
        local v
        if depth == 8 then v = row[k]
        elseif depth == 16 then v = row[2 * k] * 256 + row[2 * k + 1]
        else
          local bitpos = k * depth
          local byte = row[math.floor(bitpos / 8)]
          v = math.floor(byte / 2 ^ (8 - depth - bitpos % 8)) % 2 ^ depth
        end
        local o = (y * w + x) * outc
        if ct == 3 then
          if 3 * v + 2 >= #palette then bad('palette index %d outside the %d-entry palette', v, #palette / 3) end
          d[o], d[o + 1], d[o + 2] = pal[3 * v] / 255, pal[3 * v + 1] / 255, pal[3 * v + 2] / 255
        else
          d[o + c] = v / maxv
        end
      end
    end
  end
  local _ = s
  return t
end

local function chunk(typ, data)
  local body = typ .. data
  return inflate.be32(#data) .. body .. inflate.be32(inflate.crc32(body, #body))
end

function M.write_png(path, t, opts)
  opts = common.check_opts(opts, WRITE_OPTS, 'cnnc.write_png')
  if type(path) ~= 'string' then common.fail('cnnc.write_png: expected a file name, got %s', type(path)) end
  local px, h, w, c = samples(t, opts, 'cnnc.write_png', { [1] = true, [2] = true, [3] = true, [4] = true })
  local stride = w * c
  local raw = ffi.new('uint8_t[?]', h * (stride + 1)) -- filter byte 0 (None) on every row
  for y = 0, h - 1 do ffi.copy(raw + y * (stride + 1) + 1, px + y * stride, stride) end
  local ctype = ({ 0, 4, 2, 6 })[c]
  local ihdr = inflate.be32(w) .. inflate.be32(h) .. string.char(8, ctype, 0, 0, 0)
  local bytes = PNG_SIG .. chunk('IHDR', ihdr) .. chunk('IDAT', inflate.zlib_stored(raw, h * (stride + 1)))
    .. chunk('IEND', '')
  local ok, err = util.write_file_atomic(path, bytes)
  if not ok then common.fail('cnnc.write_png: cannot write %s: %s', path, tostring(err)) end
  return path
end

-- Any supported image by its first bytes.
function M.read_image(path)
  local f = type(path) == 'string' and io.open(path, 'rb')
  if not f then read_bytes(path, 'cnnc.read_image') end
  local head = f:read(8) or ''
  f:close()
  if head == PNG_SIG then return M.read_png(path) end
  if head:match('^P[56]') then return M.read_pnm(path) end
  common.fail('cnnc.read_image: %s: not a PNG, PGM or PPM file', path)
end

-- ---------------------------------------------------------------- grids of tiles

local TILE_OPTS = { cols = true, gap = true, scale = true, normalize = true, background = true }

-- maps: (H, W, C) (or (H, W)). Returns a float32 (rows * (H*scale + gap) - gap,
-- cols * (W*scale + gap) - gap) image, tile k showing channel k. normalize: 'each'
-- (default: every tile stretched to its own min..max; a constant one is mid grey), 'all'
-- (one range for all tiles) or 'none' (values as they are). Gaps take the value
-- `background` (default 1: white).
function M.tile(maps, opts)
  opts = common.check_opts(opts, TILE_OPTS, 'cnnc.tile')
  tensor.check(maps, 'cnnc.tile')
  if #maps.shape < 2 or #maps.shape > 3 then
    common.fail('cnnc.tile: expected feature maps (H, W, C), got shape %s', util.shape_str(maps.shape))
  end
  local h, w, c = maps.shape[1], maps.shape[2], maps.shape[3] or 1
  local cols = opts.cols or math.ceil(math.sqrt(c))
  local rows = math.ceil(c / cols)
  local gap, sc = opts.gap or 1, opts.scale or 1
  local th, tw = h * sc, w * sc
  local out = tensor.new({ rows * (th + gap) - gap, cols * (tw + gap) - gap })
  out:fill(opts.background or 1)
  local norm = opts.normalize or 'each'
  if norm ~= 'each' and norm ~= 'all' and norm ~= 'none' then
    common.fail("cnnc.tile: normalize must be 'each', 'all' or 'none', got %s", tostring(norm))
  end
  local d, o, ow = maps.data, out.data, out.shape[2]
  local glo, ghi = maps:range()
  for k = 0, c - 1 do
    local lo, hi = 0, 1
    if norm == 'all' then lo, hi = glo, ghi
    elseif norm == 'each' then
      lo, hi = math.huge, -math.huge
      for i = 0, h * w - 1 do
        local v = d[i * c + k]
        if v < lo then lo = v end
        if v > hi then hi = v end
      end
    end
    -- A constant tile (a box blur kernel, a dead channel) shows as mid grey.
    local scale, shift = 1, 0
    if norm ~= 'none' then
      if hi > lo then scale, shift = 1 / (hi - lo), -lo / (hi - lo) else scale, shift = 0, 0.5 end
    end
    local oy, ox = math.floor(k / cols) * (th + gap), (k % cols) * (tw + gap)
    for y = 0, th - 1 do
      for x = 0, tw - 1 do
        o[(oy + y) * ow + ox + x] = d[(math.floor(y / sc) * w + math.floor(x / sc)) * c + k] * scale + shift
      end
    end
  end
  return out
end

return M
