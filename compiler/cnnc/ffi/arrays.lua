-- cnnc.ffi.arrays: NumPy .npy and IDX (the MNIST format) files as cnnc tensors.
--
-- .npy: versions 1.0-3.0, C order, little-endian float32, float64, uint8 and int32 (the
-- tensor keeps the file's dtype); written as version 1.0 in the tensor's dtype.
-- IDX (LeCun's format for MNIST and Fashion-MNIST): the magic 0 0 TYPE RANK, RANK
-- big-endian uint32 dimensions, then big-endian data of type uint8 (0x08), int8 (0x09),
-- int16 (0x0B), int32 (0x0C), float32 (0x0D) or float64 (0x0E); gzip-compressed files
-- (as Debian ships them) are recognised by their magic and inflated (cnnc.ffi.inflate).
-- Integer types other than uint8 become int32 tensors. Readers take options
-- {dtype =, scale =} to convert on the way in (e.g. uint8 pixels to float32 in [0, 1]).
-- Every rejection raises an error naming the file and the problem; writes are atomic.

local bit = require 'bit'
local ffi = require 'ffi'
local common = require 'cnnc.ffi.common'
local inflate = require 'cnnc.ffi.inflate'
local tensor = require 'cnnc.ffi.tensor'
local util = require 'cnnc.util'

local M = {}

local read_bytes, write_bytes = common.read_bytes, common.write_bytes


local READ_OPTS = { dtype = true, scale = true }

local function convert(t, opts)
  if opts.dtype or opts.scale then return t:astype(opts.dtype or 'float32', opts.scale) end
  return t
end

-- ---------------------------------------------------------------- .npy

-- descr -> dtype; the header itself is checked by cnnc.npy.parse, which reads headers as
-- the C runtime does.
local NPY_DTYPES = {
  ['<f4'] = { name = 'float32', size = 4 }, ['<f8'] = { name = 'float64', size = 8 },
  ['|u1'] = { name = 'uint8', size = 1 }, ['<u1'] = { name = 'uint8', size = 1 }, ['<i4'] = { name = 'int32', size = 4 },
}
local NPY_DESCR = { float32 = '<f4', float64 = '<f8', uint8 = '|u1', int32 = '<i4' }

function M.read_npy(path, opts)
  opts = common.check_opts(opts, READ_OPTS, 'cnnc.read_npy')
  local s = read_bytes(path, 'cnnc.read_npy')
  -- Every check before the allocation: a 100-byte file must not ask for gigabytes.
  local info, err = require('cnnc.npy').parse(s, path, NPY_DTYPES, 'float32, float64, uint8 or int32, little-endian')
  if not info then common.fail('cnnc.read_npy: %s', err) end
  local t = tensor.new(info.shape, info.dtype.name)
  ffi.copy(t.data, ffi.cast('const uint8_t *', s) + info.data_at - 1, info.n * info.dtype.size)
  return convert(t, opts)
end

function M.write_npy(path, t)
  tensor.check(t, 'cnnc.write_npy')
  local dims = {}
  for i = 1, #t.shape do dims[i] = tostring(t.shape[i]) end
  local shape = '(' .. table.concat(dims, ', ') .. (#dims == 1 and ',)' or ')')
  local header = string.format("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", NPY_DESCR[t.dtype], shape)
  header = header .. string.rep(' ', (64 - (10 + #header + 1) % 64) % 64) .. '\n'
  return write_bytes(path, '\147NUMPY\1\0' .. string.char(#header % 256, math.floor(#header / 256)) .. header
    .. t:bytes(), 'cnnc.write_npy')
end

-- ---------------------------------------------------------------- IDX

local IDX_TYPES = {
  [0x08] = { dtype = 'uint8', size = 1 }, [0x09] = { dtype = 'int32', size = 1, signed = true },
  [0x0B] = { dtype = 'int32', size = 2, signed = true }, [0x0C] = { dtype = 'int32', size = 4 },
  [0x0D] = { dtype = 'float32', size = 4 }, [0x0E] = { dtype = 'float64', size = 8 },
}
local IDX_CODE = { uint8 = 0x08, int32 = 0x0C, float32 = 0x0D, float64 = 0x0E }

-- Big-endian data at p (count values of IDX type ty) into the tensor t.
local function idx_decode(t, p, ty, count)
  local d = t.data
  if ty.size == 1 then
    if ty.signed then
      local sp = ffi.cast('const int8_t *', p)
      for i = 0, count - 1 do d[i] = sp[i] end
    else
      ffi.copy(d, p, count)
    end
  elseif ty.size == 2 then
    for i = 0, count - 1 do
      local v = p[2 * i] * 256 + p[2 * i + 1]
      d[i] = v >= 32768 and v - 65536 or v
    end
  elseif ty.size == 4 then
    local u = ffi.cast('int32_t *', d)
    for i = 0, count - 1 do
      u[i] = bit.bor(bit.lshift(p[4 * i], 24), bit.lshift(p[4 * i + 1], 16), bit.lshift(p[4 * i + 2], 8), p[4 * i + 3])
    end
  else
    local u = ffi.cast('uint8_t *', d)
    for i = 0, count - 1 do
      for k = 0, 7 do u[8 * i + k] = p[8 * i + 7 - k] end
    end
  end
end

function M.read_idx(path, opts)
  opts = common.check_opts(opts, READ_OPTS, 'cnnc.read_idx')
  local s = read_bytes(path, 'cnnc.read_idx')
  local function bad(fmt, ...) common.fail('cnnc.read_idx: %s: ' .. fmt, path, ...) end
  local p, len, anchor = ffi.cast('const uint8_t *', s), #s, s
  if inflate.is_gzip(s) then
    local out, n = inflate.gunzip(s)
    if not out then bad('gzip: %s', n) end
    p, len, anchor = out, n, out
  end
  if len < 4 or p[0] ~= 0 or p[1] ~= 0 then bad('not an IDX file (it must start with two zero bytes)') end
  local ty = IDX_TYPES[p[2]]
  if not ty then bad('unknown IDX data type 0x%02x (0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E)', p[2]) end
  local rank = p[3]
  if rank < 1 or rank > 8 then bad('IDX rank %d is outside 1..8', rank) end
  if len < 4 + 4 * rank then bad('truncated header (%d dimensions announced, %d bytes in the file)', rank, len) end
  local shape = {}
  for i = 1, rank do
    shape[i] = inflate.u32be(p, 4 * i)
    if shape[i] > 2 ^ 31 then bad('dimension %d is %d, too large', i, shape[i]) end
  end
  local count, start = util.prod(shape), 4 + 4 * rank
  local need = count * ty.size
  if len - start < need then
    bad('truncated: the header says %s (%d bytes of data), %d bytes follow', util.shape_str(shape), need, len - start)
  end
  if len - start > need then bad('%d unexpected bytes after the data %s', len - start - need, util.shape_str(shape)) end
  local t = tensor.new(shape, ty.dtype)
  idx_decode(t, p + start, ty, count)
  local _ = anchor
  return convert(t, opts)
end

-- Writes an IDX file; gzip-compressed (stored blocks) when the name ends in .gz.
function M.write_idx(path, t)
  tensor.check(t, 'cnnc.write_idx')
  if #t.shape < 1 or #t.shape > 8 then common.fail('cnnc.write_idx: IDX needs rank 1..8, the tensor has %d', #t.shape) end
  local head = { string.char(0, 0, IDX_CODE[t.dtype], #t.shape) }
  for i = 1, #t.shape do head[#head + 1] = inflate.be32(t.shape[i]) end
  local size = tensor.SIZE[t.dtype]
  local body = ffi.new('uint8_t[?]', math.max(t.n * size, 1))
  local src = ffi.cast('const uint8_t *', t.data)
  if size == 1 then
    ffi.copy(body, src, t.n)
  else
    for i = 0, t.n - 1 do
      for k = 0, size - 1 do body[size * i + k] = src[size * i + size - 1 - k] end
    end
  end
  local bytes = table.concat(head) .. ffi.string(body, t.n * size)
  if path:match('%.gz$') then bytes = inflate.gzip_stored(bytes) end
  return write_bytes(path, bytes, 'cnnc.write_idx')
end

return M
