-- cnnc.onnx.protobuf: the protocol-buffer wire format, read from a Lua string.
--
-- Knows the four wire types models use (varint 0, 64-bit 1, length-delimited 2, 32-bit 5),
-- not any schema: cnnc.onnx.model maps field numbers to onnx.proto's messages. A message
-- is a byte range [i, j] (1-based, inclusive) of one string, so nothing is copied while
-- walking nested messages. Every length is checked against the end of its enclosing
-- message before it is used, and every step moves forward by at least one byte, so a
-- truncated or corrupt file ends in an error (raised through `fail`), never in a read past
-- the end or a loop that does not end. Varints are decoded as signed 64-bit values
-- (int32/int64 fields encode negative numbers in ten bytes), exact up to 2^53.

local bit = require 'bit'
local ffi = require 'ffi'

local M = {}

local byte = string.byte

M.VARINT, M.FIXED64, M.BYTES, M.FIXED32 = 0, 1, 2, 5

-- A decoding error; cnnc.onnx.model turns it into a cnnc error naming the file.
local Malformed = {}
Malformed.__index = Malformed
M.Malformed = Malformed

local function fail(pos, fmt, ...)
  error(setmetatable({ pos = pos, message = string.format(fmt, ...) }, Malformed), 0)
end
M.fail = fail

function M.is_malformed(e) return getmetatable(e) == Malformed end

-- The ten-byte form of a negative number: rebuilt in 64-bit integer arithmetic.
local function varint_long(s, start, stop)
  local v = 0ULL
  local pos = start
  for k = 0, 9 do
    if pos > stop then fail(start, 'truncated varint') end
    local b = byte(s, pos)
    pos = pos + 1
    v = v + bit.lshift(ffi.cast('uint64_t', b % 128), 7 * k)
    if b < 128 then
      return tonumber(ffi.cast('int64_t', v)), pos
    end
  end
  fail(start, 'varint longer than 10 bytes')
end

-- Returns value, next position. Values below 2^49 (all but negative ones and huge ones)
-- take the fast path in doubles.
local function varint(s, pos, stop)
  local result, mul = 0, 1
  local start = pos
  for _ = 1, 7 do
    if pos > stop then fail(start, 'truncated varint') end
    local b = byte(s, pos)
    pos = pos + 1
    if b < 128 then return result + b * mul, pos end
    result = result + (b - 128) * mul
    mul = mul * 128
  end
  return varint_long(s, start, stop)
end
M.varint = varint

-- Floats are read through their bits: a NaN from a file may carry a payload, and a
-- double NaN with the wrong payload is a tagged value (a table, a function...) to
-- LuaJIT, which then crashes. Every NaN becomes the one NaN arithmetic makes.
local f32 = ffi.new('union { float f; uint32_t u; }')
local f64 = ffi.new('union { double d; uint32_t u[2]; }')
local NAN = 0 / 0

local function nan32(u) return u % 0x80000000 > 0x7f800000 end
M.nan32 = nan32

function M.float32(s, pos)
  ffi.copy(f32, ffi.cast('const char *', s) + pos - 1, 4)
  if nan32(f32.u) then return NAN end
  return tonumber(f32.f)
end

function M.float64(s, pos)
  ffi.copy(f64, ffi.cast('const char *', s) + pos - 1, 8)
  local hi = f64.u[ffi.abi('le') and 1 or 0] % 0x80000000
  if hi >= 0x7ff00000 and (hi > 0x7ff00000 or f64.u[ffi.abi('le') and 0 or 1] ~= 0) then return NAN end
  return tonumber(f64.d)
end

-- Replaces every NaN among n floats at p (a float * or double *) by a quiet NaN of the same
-- sign without payload, in place, looking only at their bits.
function M.canonicalize(p, n, double)
  if double then
    local u = ffi.cast('uint32_t *', p)
    local lo, hi = ffi.abi('le') and 0 or 1, ffi.abi('le') and 1 or 0
    for k = 0, n - 1 do
      local h = u[2 * k + hi] % 0x80000000
      if h >= 0x7ff00000 and (h > 0x7ff00000 or u[2 * k + lo] ~= 0) then
        u[2 * k + hi], u[2 * k + lo] = (u[2 * k + hi] >= 0x80000000 and 0xfff80000 or 0x7ff80000), 0
      end
    end
  else
    local u = ffi.cast('uint32_t *', p)
    for k = 0, n - 1 do
      if nan32(u[k]) then u[k] = u[k] >= 0x80000000 and 0xffc00000 or 0x7fc00000 end
    end
  end
end

-- Iterates over the fields of message [i, j]: for field, wire, a, b in M.fields(s, i, j).
-- varint: a = value; 64-bit and 32-bit: a = position of the bytes; length-delimited:
-- a, b = the byte range of the payload (b = a - 1 when empty).
function M.fields(s, i, j)
  local pos = i
  return function()
    if pos > j then return nil end
    local at = pos
    local key
    key, pos = varint(s, pos, j)
    if key < 0 or key >= 2 ^ 32 then fail(at, 'bad field key %s', tostring(key)) end
    local wire = key % 8
    local field = (key - wire) / 8
    if field == 0 then fail(at, 'field number 0') end
    if wire == 0 then
      local v
      v, pos = varint(s, pos, j)
      return field, wire, v
    elseif wire == 2 then
      local len
      len, pos = varint(s, pos, j)
      if len < 0 or len > j - pos + 1 then
        fail(at, 'field %d claims %s bytes but only %d remain in its message', field, tostring(len), j - pos + 1)
      end
      local a = pos
      pos = pos + len
      return field, wire, a, pos - 1
    elseif wire == 5 or wire == 1 then
      local size = wire == 5 and 4 or 8
      if pos + size - 1 > j then fail(at, 'truncated %d-bit field %d', size * 8, field) end
      local a = pos
      pos = pos + size
      return field, wire, a
    end
    fail(at, 'unsupported wire type %d (field %d)', wire, field)
  end
end

-- The string of a length-delimited field.
function M.string(s, a, b) return s:sub(a, b) end

-- Appends the values of a repeated scalar field to list `out`, whether it came packed
-- (wire type 2) or as one element. kind: 'varint' | 'float' | 'double'.
function M.repeated(out, s, wire, a, b, kind)
  if kind == 'varint' then
    if wire == 0 then out[#out + 1] = a; return out end
    if wire ~= 2 then fail(a, 'bad wire type %d for a repeated integer field', wire) end
    local pos = a
    while pos <= b do
      local v
      v, pos = varint(s, pos, b)
      out[#out + 1] = v
    end
    return out
  end
  local size = kind == 'float' and 4 or 8
  local read = kind == 'float' and M.float32 or M.float64
  if (kind == 'float' and wire == 5) or (kind == 'double' and wire == 1) then
    out[#out + 1] = read(s, a)
    return out
  end
  if wire ~= 2 then fail(a, 'bad wire type %d for a repeated %s field', wire, kind) end
  if (b - a + 1) % size ~= 0 then fail(a, 'packed %s field of %d bytes is not a multiple of %d', kind, b - a + 1, size) end
  for pos = a, b, size do out[#out + 1] = read(s, pos) end
  return out
end

return M
