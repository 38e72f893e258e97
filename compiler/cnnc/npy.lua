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
  ['<f4'] = { ctype = 'float', size = 4 },
  ['<f8'] = { ctype = 'double', size = 8 },
  ['|u1'] = { ctype = 'uint8_t', size = 1 },
  ['<u1'] = { ctype = 'uint8_t', size = 1 },
}

local function parse_header(h, path)
  local descr = h:match("'descr'%s*:%s*'([^']*)'")
  local fortran = h:match("'fortran_order'%s*:%s*(%a+)")
  local shape_s = h:match("'shape'%s*:%s*(%b())")
  if not (descr and fortran and shape_s) then
    return nil, string.format("%s: malformed .npy header (need 'descr', 'fortran_order' and 'shape'): %s",
      path, h:sub(1, 120))
  end
  if fortran ~= 'False' then
    return nil, path .. ': Fortran-ordered arrays are not supported; save np.ascontiguousarray(x) instead'
  end
  local dt = DTYPES[descr]
  if not dt then
    if descr:sub(1, 1) == '>' then
      return nil, string.format("%s: big-endian dtype '%s' is not supported; save x.astype('<f4')", path, descr)
    end
    return nil, string.format("%s: unsupported dtype '%s' (expected float32, float64 or uint8)", path, descr)
  end
  local shape = {}
  local inner = shape_s:sub(2, -2)
  for item in inner:gmatch('[^,]+') do
    item = item:match('^%s*(.-)%s*$')
    if item ~= '' then
      local v = tonumber(item)
      if not v or v < 0 or v ~= math.floor(v) or v > 2^40 then
        return nil, string.format('%s: bad dimension %q in shape %s', path, item, shape_s)
      end
      shape[#shape + 1] = v
    end
  end
  if #shape > 8 then return nil, string.format('%s: rank %d is too large (at most 8)', path, #shape) end
  return { dtype = dt, descr = descr, shape = shape }
end

-- Returns tensor (float32) or nil, message.
function M.read(path)
  local s, err = util.read_file(path)
  if not s then return nil, string.format('%s: cannot read: %s', path, err) end
  if #s < 10 or s:sub(1, 6) ~= MAGIC then return nil, path .. ': not a .npy file (bad magic)' end
  local major = s:byte(7)
  local hlen, hstart
  if major == 1 then
    hlen, hstart = s:byte(9) + 256 * s:byte(10), 11
  elseif major == 2 or major == 3 then
    if #s < 12 then return nil, path .. ': truncated .npy header' end
    hlen = s:byte(9) + 256 * s:byte(10) + 65536 * s:byte(11) + 16777216 * s:byte(12)
    hstart = 13
  else
    return nil, string.format('%s: unsupported .npy version %d', path, major)
  end
  if hstart + hlen - 1 > #s then return nil, path .. ': truncated .npy header' end
  local info, herr = parse_header(s:sub(hstart, hstart + hlen - 1), path)
  if not info then return nil, herr end
  local n = util.prod(info.shape)
  local need = n * info.dtype.size
  local have = #s - (hstart + hlen - 1)
  if have < need then
    return nil, string.format('%s: truncated: header says %d %s values (%d bytes) but only %d bytes follow',
      path, n, info.descr, need, have)
  end
  if have > need then
    return nil, string.format('%s: %d unexpected bytes after the data', path, have - need)
  end
  local t = tensor.new(info.shape, 'float')
  if n > 0 then
    -- A NaN with a payload must not reach a Lua number as is (LuaJIT tags values inside
    -- NaNs): copy the bytes and make every NaN the canonical one first.
    local raw = ffi.new('uint8_t[?]', need)
    ffi.copy(raw, ffi.cast('const char *', s) + hstart + hlen - 1, need)
    if info.dtype.ctype ~= 'uint8_t' then
      require('cnnc.onnx.protobuf').canonicalize(raw, n, info.dtype.ctype == 'double')
    end
    local src = ffi.cast(info.dtype.ctype .. '*', raw)
    for i = 0, n - 1 do t.data[i] = src[i] end
  end
  return t
end

-- float32 .npy v1.0 bytes of a tensor.
function M.encode(t)
  local dims = {}
  for i = 1, #t.shape do dims[i] = tostring(t.shape[i]) end
  local shape = '(' .. table.concat(dims, ', ') .. (#dims == 1 and ',)' or ')')
  local header = string.format("{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", shape)
  local total = 10 + #header + 1
  header = header .. string.rep(' ', (64 - total % 64) % 64) .. '\n'
  local buf = ffi.new('float[?]', math.max(t.n, 1))
  for i = 0, t.n - 1 do buf[i] = t.data[i] end
  return MAGIC .. '\1\0' .. string.char(#header % 256, math.floor(#header / 256)) .. header
    .. ffi.string(buf, 4 * t.n)
end

function M.write(path, t)
  local ok, err = util.write_file_atomic(path, M.encode(t))
  if not ok then return nil, string.format('%s: cannot write: %s', path, err) end
  return true
end

-- Binary PGM/PPM. Header tokens are separated by whitespace; '#' starts a comment.
function M.read_pnm(path)
  local s, err = util.read_file(path)
  if not s then return nil, string.format('%s: cannot read: %s', path, err) end
  local magic = s:sub(1, 2)
  local channels = ({ P5 = 1, P6 = 3 })[magic]
  if not channels then
    if magic == 'P2' or magic == 'P3' then
      return nil, path .. ': ASCII PGM/PPM (' .. magic .. ') is not supported; use binary P5/P6'
    end
    return nil, path .. ': not a binary PGM/PPM file (bad magic)'
  end
  local pos, vals = 3, {}
  while #vals < 3 do
    local c = s:sub(pos, pos)
    if c == '' then return nil, path .. ': truncated header' end
    if c == '#' then
      pos = (s:find('\n', pos, true) or #s) + 1
    elseif c:match('%s') then
      pos = pos + 1
    else
      local tok = s:match('^%d+', pos)
      if not tok then return nil, string.format('%s: bad header token at byte %d', path, pos) end
      vals[#vals + 1] = tonumber(tok)
      pos = pos + #tok
    end
  end
  pos = pos + 1 -- the single whitespace byte after maxval
  local w, h, maxval = vals[1], vals[2], vals[3]
  if w < 1 or h < 1 or w * h > 2^30 then return nil, string.format('%s: bad size %dx%d', path, w, h) end
  if maxval < 1 or maxval > 65535 then return nil, string.format('%s: bad maxval %d', path, maxval) end
  local bps = maxval > 255 and 2 or 1
  local n = w * h * channels
  local need = n * bps
  if #s - pos + 1 < need then
    return nil, string.format('%s: truncated: %dx%d image needs %d bytes of pixels, %d present',
      path, w, h, need, #s - pos + 1)
  end
  local t = tensor.new({ h, w, channels }, 'float')
  for i = 0, n - 1 do
    local v
    if bps == 1 then v = s:byte(pos + i)
    else v = s:byte(pos + 2 * i) * 256 + s:byte(pos + 2 * i + 1) end
    t.data[i] = v / maxval
  end
  return t
end

-- Reads an input file by extension: .npy, .pgm/.ppm, or raw float32 (anything else).
function M.read_input(path)
  local ext = path:match('%.(%w+)$')
  ext = ext and ext:lower()
  if ext == 'npy' then return M.read(path) end
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
