-- cnnc.keras.zip: reading members of a zip archive (a Keras 3 .keras file).
--
-- Finds the central directory from the end-of-central-directory record (ZIP64 records and
-- size fields too), checks each member's local header against it, and extracts stored or
-- deflated members with cnnc's own inflater (cnnc.ffi.inflate), verifying the CRC-32.
-- A hostile archive cannot make cnnc allocate more than it admits to: every member's
-- declared size must be under a cap (M.MAX_MEMBER), inflating stops as soon as the output
-- passes the declared size (a "zip bomb" declares little and inflates to a lot), and an
-- output shorter than declared is an error too. Encrypted members and other compression
-- methods are refused with the reason. Errors are cnnc errors naming the archive and
-- the member.

local ffi = require 'ffi'
local util = require 'cnnc.util'

local M = {}

-- The largest member cnnc extracts: 1 GiB of weights (cnnc's limit of 2^28 float32
-- values) and room for the HDF5 structure around them.
M.MAX_MEMBER = 2 ^ 30 + 2 ^ 26

local function u16(s, i) return s:byte(i) + s:byte(i + 1) * 256 end
local function u32(s, i) return u16(s, i) + u16(s, i + 2) * 65536 end
local function u64(s, i) return u32(s, i) + u32(s, i + 4) * 4294967296 end

local Archive = {}
Archive.__index = Archive

local function fail(path, fmt, ...) util.fail({ file = path }, fmt, ...) end

-- Reads the archive's directory. bytes: the whole file. Returns an Archive.
function M.open(path, bytes)
  local n = #bytes
  -- the end-of-central-directory record: 22 bytes plus a comment of up to 65535
  local eocd
  for i = n - 21, math.max(1, n - 21 - 65535), -1 do
    if bytes:sub(i, i + 3) == 'PK\5\6' then eocd = i; break end
  end
  if not eocd then fail(path, 'is not a zip archive (no end-of-central-directory record): truncated or not a .keras file') end
  local count, size, offset = u16(bytes, eocd + 10), u32(bytes, eocd + 12), u32(bytes, eocd + 16)
  if count == 0xFFFF or size == 0xFFFFFFFF or offset == 0xFFFFFFFF then
    local loc = eocd - 20
    if loc < 1 or bytes:sub(loc, loc + 3) ~= 'PK\6\7' then fail(path, 'ZIP64 archive without its locator record') end
    local z = u64(bytes, loc + 8) + 1
    if z < 1 or z + 56 > n or bytes:sub(z, z + 3) ~= 'PK\6\6' then fail(path, 'damaged ZIP64 end-of-central-directory record') end
    count, size, offset = u64(bytes, z + 32), u64(bytes, z + 40), u64(bytes, z + 48)
  end
  if offset + size > n then fail(path, 'the zip directory lies past the end of the file (truncated?)') end
  local members, pos = {}, offset + 1
  for k = 1, count do
    if pos + 46 > n + 1 or bytes:sub(pos, pos + 3) ~= 'PK\1\2' then
      fail(path, 'zip directory entry %d of %d is damaged', k, count)
    end
    local m = {
      flags = u16(bytes, pos + 8), method = u16(bytes, pos + 10), crc = u32(bytes, pos + 16),
      csize = u32(bytes, pos + 20), size = u32(bytes, pos + 24), local_offset = u32(bytes, pos + 42),
    }
    local nlen, xlen, clen = u16(bytes, pos + 28), u16(bytes, pos + 30), u16(bytes, pos + 32)
    m.name = bytes:sub(pos + 46, pos + 45 + nlen)
    -- ZIP64 extra field: the 64-bit values of the fields that are 0xFFFFFFFF, in order
    local x, xend = pos + 46 + nlen, pos + 46 + nlen + xlen
    while x + 4 <= xend do
      local id, len = u16(bytes, x), u16(bytes, x + 2)
      if id == 1 then
        local q = x + 4
        for _, f in ipairs({ 'size', 'csize', 'local_offset' }) do
          if m[f] == 0xFFFFFFFF and q + 8 <= x + 4 + len then m[f] = u64(bytes, q); q = q + 8 end
        end
      end
      x = x + 4 + len
    end
    members[m.name] = members[m.name] or m
    members[#members + 1] = m
    pos = xend + clen
  end
  return setmetatable({ path = path, bytes = bytes, members = members }, Archive)
end

function Archive:has(name) return self.members[name] ~= nil end

function Archive:names()
  local t = {}
  for _, m in ipairs(self.members) do t[#t + 1] = m.name end
  return t
end

-- The bytes of member `name`; cap: the largest size accepted (default M.MAX_MEMBER).
function Archive:read(name, cap)
  cap = cap or M.MAX_MEMBER
  local m = self.members[name]
  local what = string.format("member '%s'", name)
  if not m then fail(self.path, 'has no %s', what) end
  local bytes, n = self.bytes, #self.bytes
  if m.flags % 2 == 1 then fail(self.path, '%s is encrypted', what) end
  if m.size > cap then
    fail(self.path, '%s declares %.0f bytes, more than the %.0f cnnc accepts (a zip bomb, or not a Keras file)', what,
      m.size, cap)
  end
  local h = m.local_offset + 1
  if h + 30 > n + 1 or bytes:sub(h, h + 3) ~= 'PK\3\4' then fail(self.path, '%s: damaged local header', what) end
  local nlen, xlen = u16(bytes, h + 26), u16(bytes, h + 28)
  if bytes:sub(h + 30, h + 29 + nlen) ~= name then
    fail(self.path, '%s: the local header names another file', what)
  end
  local start = h + 30 + nlen + xlen
  if start + m.csize - 1 > n then fail(self.path, '%s: the compressed data runs past the end of the file (truncated?)', what) end
  local data = bytes:sub(start, start + m.csize - 1)
  local out
  if m.method == 0 then
    if m.csize ~= m.size then fail(self.path, '%s is stored, but its sizes disagree (%.0f and %.0f)', what, m.csize, m.size) end
    out = data
  elseif m.method == 8 then
    local inflate = require 'cnnc.ffi.inflate'
    local buf, len = inflate.inflate(data, m.size)
    if not buf then
      fail(self.path, '%s: %s (it declares %.0f bytes: a zip bomb, or damaged data)', what, len, m.size)
    end
    if len ~= m.size then
      fail(self.path, '%s inflates to %.0f bytes but declares %.0f (damaged)', what, len, m.size)
    end
    out = ffi.string(buf, len)
  else
    fail(self.path, '%s uses zip compression method %d; cnnc reads stored and deflated members', what, m.method)
  end
  local crc = require('cnnc.ffi.inflate').crc32(out, #out)
  if crc ~= m.crc then fail(self.path, '%s: CRC-32 mismatch (damaged)', what) end
  return out
end

return M
