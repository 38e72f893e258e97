-- cnnc.npy: NumPy .npy files and binary PGM/PPM images, read into and written from tensors.
--
-- Reads .npy versions 1.0-3.0 with dtypes float32, float64 and uint8 (little-endian, C
-- order) into float32 tensors; writes float32 .npy v1.0. Reads binary PGM (P5) and PPM (P6)
-- with 8- or 16-bit samples as (H, W, C) tensors scaled to [0, 1]. Every rejection names
-- the file and what is wrong with it. Writes are atomic (temporary file, then rename).

local ffi = require 'ffi'
local util = require 'cnnc.util'
local tensor = require 'cnnc.tensor'

local M = {}

local MAGIC = '\147NUMPY'

local DTYPES = {
  ['<f4'] = { ctype = 'float', size = 4, name = 'float32' },
  ['<f8'] = { ctype = 'double', size = 8, name = 'float64' },
  ['|u1'] = { ctype = 'uint8_t', size = 1, name = 'uint8' },
  ['<u1'] = { ctype = 'uint8_t', size = 1, name = 'uint8' },
}

-- The header dict, scanned as the C runtime's reader (runtime/cnnc_npy.c) scans it, so a
-- file is accepted by both or by neither: {'descr': ..., 'fortran_order': False,
-- 'shape': (...)} with the keys in any order, each once; strings in single or double
-- quotes without escapes or NUL bytes; dimensions of digits (an 'L' after them is
-- allowed, as Python 2 wrote), at most 2^40 each, at most 8 of them; spaces, tabs and
-- newlines between tokens; nothing after the closing brace but such spaces.
local MAX_DIM = 2 ^ 40
local KEYS = { descr = true, fortran_order = true, shape = true }

local function parse_header(h, path, dtypes, expected)
  local pos = 1
  local function fail(what)
    return nil, string.format('%s: malformed .npy header: %s at byte %d of the header dict', path, what, pos - 1)
  end
  local function space() pos = h:match('^[ \t\n\r]*()', pos) end
  local function char(c)
    space()
    if h:sub(pos, pos) == c then pos = pos + 1; return true end
    return false
  end
  local function str()
    space()
    local q = h:sub(pos, pos)
    if q ~= "'" and q ~= '"' then return nil, 'expected a quoted string' end
    local close = h:find(q, pos + 1, true)
    if not close then return nil, 'unterminated string' end
    local v = h:sub(pos + 1, close - 1)
    if v:find('[\\%z]') or #v > 30 then return nil, 'unexpected string contents' end
    pos = close + 1
    return v
  end
  local info, seen = { shape = {} }, {}
  if not char('{') then return fail("expected '{'") end
  while not char('}') do
    local key, kerr = str()
    if not key then return fail(kerr) end
    if not KEYS[key] or seen[key] then
      return nil, string.format("%s: malformed .npy header: %s key '%s'", path, KEYS[key] and 'repeated' or 'unexpected', key)
    end
    seen[key] = true
    if not char(':') then return fail("expected ':' after a key") end
    if key == 'descr' then
      space()
      if h:sub(pos, pos) == '[' then
        return nil, path .. ': structured dtype is not supported (expected float32, float64 or uint8)'
      end
      local d, derr = str()
      if not d then return fail(derr) end
      info.descr, info.dtype = d, dtypes[d]
      if not info.dtype then
        if d == '>f4' or d == '>f8' then
          return nil, string.format("%s: big-endian dtype '%s' is not supported; save x.astype('<f4')", path, d)
        end
        return nil, string.format("%s: unsupported dtype '%s' (expected %s)", path, d, expected)
      end
    elseif key == 'fortran_order' then
      space()
      if h:sub(pos, pos + 3) == 'True' then
        return nil, path .. ': Fortran-ordered arrays are not supported; save np.ascontiguousarray(x) instead'
      end
      if h:sub(pos, pos + 4) ~= 'False' then return fail('expected True or False for fortran_order') end
      pos = pos + 5
    else
      if not char('(') then return fail('expected a shape tuple') end
      while not char(')') do
        if #info.shape == 8 then return nil, path .. ': rank is more than 8, not supported' end
        space()
        local digits = h:match('^%d+', pos)
        if not digits then
          if h:sub(pos, pos) == '-' then
            return nil, string.format('%s: bad dimension %s in shape (negative)', path, h:match('^%-%d*', pos))
          end
          return fail('expected a dimension')
        end
        local v = 0
        for k = 1, #digits do
          v = v * 10 + digits:byte(k) - 48
          if v > MAX_DIM then return nil, string.format('%s: bad dimension %s in shape (more than 2^40)', path, digits) end
        end
        pos = pos + #digits
        if h:sub(pos, pos) == 'L' then pos = pos + 1 end
        info.shape[#info.shape + 1] = v
        if not char(',') then
          if not char(')') then return fail("expected ',' or ')' in shape") end
          break
        end
      end
    end
    if not char(',') then
      if not char('}') then return fail("expected ',' or '}'") end
      break
    end
  end
  space()
  if pos <= #h then return fail('unexpected text after the dict') end
  for _, k in ipairs({ 'descr', 'fortran_order', 'shape' }) do
    if not seen[k] then return nil, string.format("%s: malformed .npy header: missing key '%s'", path, k) end
  end
  return info
end

-- Checks the .npy bytes s and returns {descr =, dtype = dtypes[descr], shape =, n =,
-- data_at = 1-based offset of the data}, or nil, message: the header as the C runtime
-- reads it, and exactly n values after it. dtypes maps descr strings to tables with a
-- `size` in bytes and a `name` (default: float32, float64 and uint8); expected names them
-- for the message. cnnc.ffi.arrays reads .npy files through this too.
function M.parse(s, path, dtypes, expected)
  dtypes, expected = dtypes or DTYPES, expected or 'float32, float64 or uint8'
  if #s < 10 or s:sub(1, 6) ~= MAGIC then return nil, path .. ': not a .npy file (bad magic)' end
  local major = s:byte(7)
  local hlen, hstart
  if s:byte(8) ~= 0 or major < 1 or major > 3 then
    return nil, string.format('%s: unsupported .npy version %d.%d (expected 1.0, 2.0 or 3.0)', path, major, s:byte(8))
  elseif major == 1 then
    hlen, hstart = s:byte(9) + 256 * s:byte(10), 11
  else
    if #s < 12 then return nil, path .. ': truncated .npy header' end
    hlen = s:byte(9) + 256 * s:byte(10) + 65536 * s:byte(11) + 16777216 * s:byte(12)
    hstart = 13
  end
  if hstart + hlen - 1 > #s then
    return nil, string.format('%s: truncated .npy header (%d bytes announced, %d present)', path, hlen, #s - hstart + 1)
  end
  local info, herr = parse_header(s:sub(hstart, hstart + hlen - 1), path, dtypes, expected)
  if not info then return nil, herr end
  local n = util.prod(info.shape)
  local need = n * info.dtype.size
  local have = #s - (hstart + hlen - 1)
  if have < need then
    return nil, string.format('%s: truncated: the header says %s %s (%.0f bytes), %d bytes follow',
      path, util.shape_str(info.shape), info.dtype.name, need, have)
  end
  if have > need then
    return nil, string.format('%s: %d unexpected bytes after the data', path, have - need)
  end
  info.n, info.data_at = n, hstart + hlen
  return info
end

-- Returns tensor (float32; ctype 'double' keeps float64 values whole) or nil, message.
function M.read(path, ctype)
  local s, err = util.read_file(path)
  if not s then return nil, string.format('%s: cannot read: %s', path, err) end
  local info, perr = M.parse(s, path)
  if not info then return nil, perr end
  local n, need = info.n, info.n * info.dtype.size
  local t = tensor.new(info.shape, ctype or 'float')
  if n > 0 then
    -- A NaN with a payload must not reach a Lua number as is (LuaJIT tags values inside
    -- NaNs): copy the bytes and make every NaN the canonical one first.
    local raw = ffi.new('uint8_t[?]', need)
    ffi.copy(raw, ffi.cast('const char *', s) + info.data_at - 1, need)
    if info.dtype.ctype ~= 'uint8_t' then
      require('cnnc.onnx.protobuf').canonicalize(raw, n, info.dtype.ctype == 'double')
    end
    local src = ffi.cast(info.dtype.ctype .. '*', raw)
    for i = 0, n - 1 do t.data[i] = src[i] end
  end
  return t
end

-- .npy v1.0 bytes of a tensor: float32 ('<f4'), or float64 ('<f8') when dtype is
-- 'float64'.
function M.encode(t, dtype)
  local wide = dtype == 'float64'
  local dims = {}
  for i = 1, #t.shape do dims[i] = tostring(t.shape[i]) end
  local shape = '(' .. table.concat(dims, ', ') .. (#dims == 1 and ',)' or ')')
  local header = string.format("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", wide and '<f8' or '<f4', shape)
  local total = 10 + #header + 1
  header = header .. string.rep(' ', (64 - total % 64) % 64) .. '\n'
  local buf = ffi.new(wide and 'double[?]' or 'float[?]', math.max(t.n, 1))
  for i = 0, t.n - 1 do buf[i] = t.data[i] end
  return MAGIC .. '\1\0' .. string.char(#header % 256, math.floor(#header / 256)) .. header
    .. ffi.string(buf, (wide and 8 or 4) * t.n)
end

function M.write(path, t, dtype)
  local ok, err = util.write_file_atomic(path, M.encode(t, dtype))
  if not ok then return nil, string.format('%s: cannot write: %s', path, err) end
  return true
end

-- Binary PGM/PPM, read as the C runtime reads them (runtime/cnnc_pnm.c), so a file is
-- accepted by both or by neither: magic P5 or P6; width, height and maxval as decimal
-- numbers (at most 0x3fffffff) separated by whitespace and '#' comments; a comment may
-- follow maxval, then exactly one whitespace byte; exactly width x height pixels of 1 or 2
-- bytes (maxval > 255, most significant first), none above maxval, and nothing after them.
local PNM_NUMBER_MAX = 0x3fffffff
local PNM_KINDS = { P1 = 'ASCII PBM bitmaps (P1) are', P2 = 'ASCII PGM (P2) is', P3 = 'ASCII PPM (P3) is',
  P4 = 'binary PBM bitmaps (P4) are', P7 = 'PAM (P7) is' }
local PNM_SPACE = '[ \t\n\r\v\f]'

function M.read_pnm(path)
  local s, err = util.read_file(path)
  if not s then return nil, string.format('%s: cannot read: %s', path, err) end
  return M.parse_pnm(s, path)
end

-- The bytes s of a PGM/PPM file (named path in messages) as a tensor, or nil, message.
function M.parse_pnm(s, path)
  if #s == 0 then return nil, path .. ': empty file' end
  local magic = s:sub(1, 2)
  local channels = ({ P5 = 1, P6 = 3 })[magic]
  if not channels then
    if PNM_KINDS[magic] then
      return nil, string.format('%s: %s not supported, only binary PGM (P5) and PPM (P6); convert it, e.g. with '
        .. "netpbm's pnmtopnm or ImageMagick's convert", path, PNM_KINDS[magic])
    end
    return nil, path .. ': not a binary PGM/PPM file (bad magic)'
  end
  local pos, vals = 3, {}
  local names = { 'width', 'height', 'maxval' }
  for k = 1, 3 do
    while true do -- whitespace and comments, which run to the end of the line
      if s:sub(pos, pos) == '#' then pos = s:match('^[^\n\r]*()', pos)
      elseif s:sub(pos, pos):match(PNM_SPACE) then pos = pos + 1
      else break end
    end
    local digits = s:match('^%d+', pos)
    local v = 0
    for i = 1, digits and #digits or 0 do
      v = v * 10 + digits:byte(i) - 48
      if v > PNM_NUMBER_MAX then digits = nil; break end
    end
    if not digits then
      if pos > #s then return nil, string.format('%s: truncated header (no %s)', path, names[k]) end
      return nil, string.format('%s: bad header token at byte %d (the %s)', path, pos, names[k])
    end
    vals[k] = v
    pos = pos + #digits
  end
  if s:sub(pos, pos) == '#' then pos = s:match('^[^\n\r]*()', pos) end
  if not s:sub(pos, pos):match(PNM_SPACE) then
    return nil, path .. ': no whitespace after maxval in the header'
  end
  pos = pos + 1
  local w, h, maxval = vals[1], vals[2], vals[3]
  if w < 1 or h < 1 or w * h > 2^30 then return nil, string.format('%s: bad size %dx%d', path, w, h) end
  if maxval < 1 or maxval > 65535 then return nil, string.format('%s: bad maxval %d (1..65535)', path, maxval) end
  local bps = maxval > 255 and 2 or 1
  local n = w * h * channels
  local need, have = n * bps, #s - pos + 1
  if have < need then
    return nil, string.format('%s: truncated: %dx%d image needs %d bytes of pixels, %d present', path, w, h, need, have)
  end
  if have > need then
    return nil, string.format('%s: %d bytes after the image data (files holding several images are not supported)',
      path, have - need)
  end
  local t = tensor.new({ h, w, channels }, 'float')
  for i = 0, n - 1 do
    local v
    if bps == 1 then v = s:byte(pos + i)
    else v = s:byte(pos + 2 * i) * 256 + s:byte(pos + 2 * i + 1) end
    if v > maxval then
      return nil, string.format('%s: sample value %d exceeds maxval %d (row %d, column %d)', path, v, maxval,
        math.floor(i / channels / w), math.floor(i / channels) % w)
    end
    t.data[i] = v / maxval
  end
  return t
end

-- Reads an input file by extension: .npy, .pgm/.ppm, or raw float32 (anything else).
-- ctype 'double': a float64 .npy keeps its values whole (else float32).
function M.read_input(path, ctype)
  local ext = path:match('%.(%w+)$')
  ext = ext and ext:lower()
  if ext == 'npy' then return M.read(path, ctype) end
  if ext == 'pgm' or ext == 'ppm' then return M.read_pnm(path) end
  local s, err = util.read_file(path)
  if not s then return nil, string.format('%s: cannot read: %s', path, err) end
  if #s == 0 or #s % 4 ~= 0 then
    return nil, string.format('%s: raw float32 input must be a non-zero multiple of 4 bytes (got %d)', path, #s)
  end
  local t = tensor.new({ #s / 4 }, 'float')
  ffi.copy(t.data, s, #s)
  return t
end

return M
