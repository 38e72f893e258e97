-- cnnc.ffi.inflate: DEFLATE decoding (RFC 1951) with gzip (RFC 1952) and zlib (RFC 1950)
-- framing, their checksums, and stored-block (uncompressed) encoders.
--
-- Debian ships the MNIST-style IDX files gzip-compressed and PNG keeps its pixels in a zlib
-- stream, so the experiments need an inflater without external libraries. Decoding runs
-- over FFI byte buffers: a Huffman code is decoded with one lookup in a 2^10-entry table
-- of (symbol, length), codes longer than 10 bits (rare by construction) by walking the
-- canonical code bit by bit as zlib's puff.c does. The whole output is one growing
-- buffer, so back-references need no separate window. gzip's CRC-32 and zlib's Adler-32
-- are verified. The encoders write stored blocks only (valid DEFLATE that compresses
-- nothing), which is all the PNG and .gz writers need.
--
-- Decoders return buffer, length or nil, message (the message says what is wrong and at
-- which byte of the compressed data); they never raise on bad data.

local bit = require 'bit'
local ffi = require 'ffi'

local band, bor, bxor, lshift, rshift = bit.band, bit.bor, bit.bxor, bit.lshift, bit.rshift

local M = {}

local FAST = 10
local FASTSIZE = 2 ^ FAST
local FASTMASK = FASTSIZE - 1
local MAXBITS = 15

-- Base lengths and extra bits of length symbols 257..285, base distances and extra bits
-- of distance symbols 0..29 (RFC 1951 3.2.5).
local LBASE = ffi.new('int32_t[29]', { 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59,
  67, 83, 99, 115, 131, 163, 195, 227, 258 })
local LEXT = ffi.new('int32_t[29]', { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5,
  5, 5, 0 })
local DBASE = ffi.new('int32_t[30]', { 1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513,
  769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577 })
local DEXT = ffi.new('int32_t[30]', { 0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11,
  11, 12, 12, 13, 13 })
local CLORDER = { 16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15 }

-- A Huffman decoding table: fast[i] = symbol * 16 + length for codes of at most FAST bits
-- (indexed by the next FAST input bits, least significant first), 0 otherwise; count and
-- symbol are the canonical code (puff.c) for the slow path.
local function new_table(nsym)
  return { fast = ffi.new('uint16_t[?]', FASTSIZE), count = ffi.new('int32_t[16]'),
    symbol = ffi.new('int32_t[?]', nsym), long = false }
end

local function bad(fmt, ...) error({ inflate = string.format(fmt, ...) }, 0) end

-- Fills table h from lengths[0..n-1]. Over-subscribed sets are invalid; incomplete ones
-- are allowed (a code no one sends decodes to "invalid code").
local function build(h, lengths, n, what)
  local count, symbol, fast = h.count, h.symbol, h.fast
  ffi.fill(count, 16 * 4)
  ffi.fill(fast, FASTSIZE * 2)
  for s = 0, n - 1 do count[lengths[s]] = count[lengths[s]] + 1 end
  local left = 1
  for len = 1, MAXBITS do
    left = left * 2 - count[len]
    if left < 0 then bad('over-subscribed %s code', what) end
  end
  local offs = ffi.new('int32_t[16]')
  for len = 1, MAXBITS - 1 do offs[len + 1] = offs[len] + count[len] end
  for s = 0, n - 1 do
    local len = lengths[s]
    if len ~= 0 then symbol[offs[len]] = s; offs[len] = offs[len] + 1 end
  end
  -- Canonical codes in symbol order, reversed into the LSB-first lookup table.
  local code, nextcode = 0, {}
  for len = 1, MAXBITS do
    code = (code + (len > 1 and count[len - 1] or 0)) * 2
    nextcode[len] = code
  end
  h.long = false
  for s = 0, n - 1 do
    local len = lengths[s]
    if len ~= 0 then
      local c = nextcode[len]
      nextcode[len] = c + 1
      if len <= FAST then
        local r = 0
        for _ = 1, len do r = bor(lshift(r, 1), band(c, 1)); c = rshift(c, 1) end
        local step = lshift(1, len)
        for i = r, FASTSIZE - 1, step do fast[i] = s * 16 + len end
      else
        h.long = true
      end
    end
  end
end

local FIXED_LIT, FIXED_DIST
local function fixed_tables()
  if not FIXED_LIT then
    local l = ffi.new('int32_t[288]')
    for s = 0, 287 do l[s] = s < 144 and 8 or s < 256 and 9 or s < 280 and 7 or 8 end
    FIXED_LIT = new_table(288)
    build(FIXED_LIT, l, 288, 'fixed literal/length')
    local d = ffi.new('int32_t[30]')
    for s = 0, 29 do d[s] = 5 end
    FIXED_DIST = new_table(30)
    build(FIXED_DIST, d, 30, 'fixed distance')
  end
  return FIXED_LIT, FIXED_DIST
end

-- Decodes the raw DEFLATE stream at src[pos..srclen-1]. Returns out (uint8_t buffer),
-- outlen and the position after the stream's last byte. hint: expected output size.
-- limit: the most bytes the output may have (a zip entry's declared size), beyond which
-- decoding stops with an error instead of filling memory (a "zip bomb").
local function inflate_raw(src, srclen, pos, hint, limit)
  local cap = math.max(hint or 0, srclen * 4, 1024)
  if limit then cap = math.min(cap, math.max(limit, 1)) end
  local out = ffi.new('uint8_t[?]', cap)
  local op = 0
  local bitbuf, bitcnt = 0, 0
  local lit, dist = new_table(288), new_table(32)
  local cl = new_table(19)
  local lengths = ffi.new('int32_t[320]')

  local function grow(need)
    if limit and need > limit then bad('the data inflates to more than %d bytes', limit) end
    while cap < need do cap = cap * 2 end
    if limit then cap = math.min(cap, limit) end
    local n = ffi.new('uint8_t[?]', cap)
    ffi.copy(n, out, op)
    out = n
  end

  -- Bits for the slow paths (the block headers); the hot loop inlines its own reads.
  local function bits(n)
    while bitcnt < n do
      if pos >= srclen then bad('truncated: the compressed data ends inside a block (byte %d)', pos) end
      bitbuf = bor(bitbuf, lshift(src[pos], bitcnt))
      pos = pos + 1
      bitcnt = bitcnt + 8
    end
    local v = band(bitbuf, lshift(1, n) - 1)
    bitbuf = rshift(bitbuf, n)
    bitcnt = bitcnt - n
    return v
  end

  -- A symbol by the canonical code, one bit at a time (codes longer than FAST bits).
  local function slow_decode(h)
    local code, first, index = 0, 0, 0
    local count, symbol = h.count, h.symbol
    for len = 1, MAXBITS do
      code = bor(code, bits(1))
      local c = count[len]
      if code - c < first then return symbol[index + (code - first)] end
      index = index + c
      first = (first + c) * 2
      code = code * 2
    end
    bad('invalid Huffman code at byte %d', pos)
  end

  local final = 0
  repeat
    final = bits(1)
    local btype = bits(2)
    if btype == 0 then
      -- Stored: drop to a byte boundary, give back whole bytes still in the bit buffer.
      bitbuf, pos, bitcnt = 0, pos - rshift(bitcnt, 3), 0
      if pos + 4 > srclen then bad('truncated stored block header at byte %d', pos) end
      local len = src[pos] + src[pos + 1] * 256
      local nlen = src[pos + 2] + src[pos + 3] * 256
      if len ~= 65535 - nlen then bad('stored block length check failed at byte %d', pos) end
      pos = pos + 4
      if pos + len > srclen then bad('truncated stored block at byte %d (%d bytes announced)', pos, len) end
      if op + len > cap then grow(op + len) end
      ffi.copy(out + op, src + pos, len)
      op, pos = op + len, pos + len
    elseif btype == 3 then
      bad('invalid block type 3 at byte %d', pos)
    else
      local L, D
      if btype == 1 then
        L, D = fixed_tables()
      else
        local nlen, ndist, ncode = bits(5) + 257, bits(5) + 1, bits(4) + 4
        if nlen > 286 or ndist > 30 then bad('bad code counts (%d, %d) at byte %d', nlen, ndist, pos) end
        ffi.fill(lengths, 19 * 4)
        for i = 1, ncode do lengths[CLORDER[i]] = bits(3) end
        build(cl, lengths, 19, 'code length')
        local i = 0
        while i < nlen + ndist do
          local s = slow_decode(cl)
          if s < 16 then
            lengths[i] = s; i = i + 1
          else
            local rep, v = 0, 0
            if s == 16 then
              if i == 0 then bad('repeat of no previous length at byte %d', pos) end
              v, rep = lengths[i - 1], 3 + bits(2)
            elseif s == 17 then rep = 3 + bits(3)
            else rep = 11 + bits(7) end
            if i + rep > nlen + ndist then bad('code lengths overflow at byte %d', pos) end
            for _ = 1, rep do lengths[i] = v; i = i + 1 end
          end
        end
        if lengths[256] == 0 then bad('no end-of-block code at byte %d', pos) end
        build(lit, lengths, nlen, 'literal/length')
        local dl = ffi.new('int32_t[30]')
        for k = 0, ndist - 1 do dl[k] = lengths[nlen + k] end
        build(dist, dl, 30, 'distance')
        L, D = lit, dist
      end
      local lfast, dfast = L.fast, D.fast
      while true do
        while bitcnt <= 24 and pos < srclen do
          bitbuf = bor(bitbuf, lshift(src[pos], bitcnt)); pos = pos + 1; bitcnt = bitcnt + 8
        end
        local e = lfast[band(bitbuf, FASTMASK)]
        local sym
        if e ~= 0 then
          local len = band(e, 15)
          if len > bitcnt then bad('truncated: the compressed data ends inside a block (byte %d)', pos) end
          sym = rshift(e, 4)
          bitbuf = rshift(bitbuf, len); bitcnt = bitcnt - len
        else
          sym = slow_decode(L)
        end
        if sym < 256 then
          if op >= cap then grow(op + 1) end
          out[op] = sym
          op = op + 1
        elseif sym == 256 then
          break
        else
          sym = sym - 257
          if sym >= 29 then bad('invalid length symbol %d at byte %d', sym + 257, pos) end
          local len = LBASE[sym]
          local x = LEXT[sym]
          if x > 0 then len = len + bits(x) end
          while bitcnt <= 24 and pos < srclen do
            bitbuf = bor(bitbuf, lshift(src[pos], bitcnt)); pos = pos + 1; bitcnt = bitcnt + 8
          end
          local de = dfast[band(bitbuf, FASTMASK)]
          local ds
          if de ~= 0 then
            local dlen = band(de, 15)
            if dlen > bitcnt then bad('truncated: the compressed data ends inside a block (byte %d)', pos) end
            ds = rshift(de, 4)
            bitbuf = rshift(bitbuf, dlen); bitcnt = bitcnt - dlen
          else
            ds = slow_decode(D)
          end
          if ds >= 30 then bad('invalid distance symbol %d at byte %d', ds, pos) end
          local d = DBASE[ds]
          x = DEXT[ds]
          if x > 0 then d = d + bits(x) end
          if d > op then bad('distance %d reaches before the start of the output at byte %d', d, pos) end
          if op + len > cap then grow(op + len) end
          if d >= len then
            ffi.copy(out + op, out + op - d, len)
          else
            for k = op, op + len - 1 do out[k] = out[k - d] end
          end
          op = op + len
        end
      end
    end
  until final == 1
  -- Whole bytes left in the bit buffer belong to what follows the stream.
  pos = pos - rshift(bitcnt, 3)
  return out, op, pos
end

local function protected(f, ...)
  local ok, a, b, c = pcall(f, ...)
  if ok then return a, b, c end
  if type(a) == 'table' and a.inflate then return nil, a.inflate end
  error(a, 0)
end

local CRC_TABLE = ffi.new('uint32_t[256]')
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do
    if band(c, 1) ~= 0 then c = bxor(0xEDB88320, rshift(c, 1)) else c = rshift(c, 1) end
  end
  CRC_TABLE[i] = c
end

-- CRC-32 (ISO-HDLC, as gzip and PNG use) of len bytes at p, continuing from crc.
function M.crc32(p, len, crc)
  p = type(p) == 'string' and ffi.cast('const uint8_t *', p) or p
  local c = bit.bnot(crc or 0)
  for i = 0, len - 1 do
    c = bxor(CRC_TABLE[band(bxor(c, p[i]), 255)], rshift(c, 8))
  end
  return tonumber(ffi.cast('uint32_t', bit.bnot(c)))
end

function M.adler32(p, len)
  p = type(p) == 'string' and ffi.cast('const uint8_t *', p) or p
  local a, b, i = 1, 0, 0
  while i < len do
    local stop = math.min(i + 5552, len)
    for k = i, stop - 1 do a = a + p[k]; b = b + a end
    a, b, i = a % 65521, b % 65521, stop
  end
  return b * 65536 + a
end

local function u32le(p, i) return p[i] + p[i + 1] * 256 + p[i + 2] * 65536 + p[i + 3] * 16777216 end
local function u32be(p, i) return p[i] * 16777216 + p[i + 1] * 65536 + p[i + 2] * 256 + p[i + 3] end

function M.is_gzip(s) return #s >= 2 and s:byte(1) == 0x1f and s:byte(2) == 0x8b end

-- Raw DEFLATE data (a Lua string) -> buffer, length or nil, message. limit (optional):
-- the most output bytes allowed (more is an error, found before they are allocated).
function M.inflate(s, limit)
  return protected(function()
    local out, n = inflate_raw(ffi.cast('const uint8_t *', s), #s, 0, limit, limit)
    return out, n
  end)
end

-- A gzip file's bytes (one member or several concatenated) -> buffer, length or nil, message.
function M.gunzip(s)
  return protected(function()
    local p, len = ffi.cast('const uint8_t *', s), #s
    local pos, parts, total = 0, {}, 0
    repeat
      if len - pos < 18 then bad('truncated gzip header or trailer at byte %d', pos) end
      if p[pos] ~= 0x1f or p[pos + 1] ~= 0x8b then bad('not gzip data (bad magic at byte %d)', pos) end
      if p[pos + 2] ~= 8 then bad('unknown gzip compression method %d (only 8, deflate)', p[pos + 2]) end
      local flg = p[pos + 3]
      if band(flg, 0xe0) ~= 0 then bad('reserved gzip flag bits set (0x%02x)', flg) end
      local q = pos + 10
      if band(flg, 4) ~= 0 then q = q + 2 + p[q] + p[q + 1] * 256 end
      for _, f in ipairs({ 8, 16 }) do -- FNAME, FCOMMENT: zero-terminated
        if band(flg, f) ~= 0 then
          while q < len and p[q] ~= 0 do q = q + 1 end
          q = q + 1
        end
      end
      if band(flg, 2) ~= 0 then q = q + 2 end
      if q >= len then bad('truncated gzip header') end
      -- ISIZE (the size mod 2^32) of a single member sizes the buffer in one go.
      -- (DEFLATE expands at most 1032:1, which bounds a hint read from a damaged file.)
      local hint = pos == 0 and math.min(u32le(p, len - 4), 1032 * len) or nil
      local out, n, after = inflate_raw(p, len, q, hint)
      if after + 8 > len then bad('truncated gzip trailer (CRC-32 and size missing)') end
      local want_crc, want_size = u32le(p, after), u32le(p, after + 4)
      local crc = M.crc32(out, n)
      if crc ~= want_crc then
        bad('CRC-32 mismatch: the data decodes to %08x, the trailer says %08x (corrupt file)', crc, want_crc)
      end
      if n % 4294967296 ~= want_size then bad('size mismatch: decoded %d bytes, the trailer says %d', n, want_size) end
      parts[#parts + 1] = { out, n }
      total = total + n
      pos = after + 8
      -- Some tools pad with zeros after the last member.
      while pos < len and p[pos] == 0 do pos = pos + 1 end
    until pos >= len
    if #parts == 1 then return parts[1][1], parts[1][2] end
    local all = ffi.new('uint8_t[?]', math.max(total, 1))
    local o = 0
    for _, part in ipairs(parts) do ffi.copy(all + o, part[1], part[2]); o = o + part[2] end
    return all, total
  end)
end

-- A zlib stream (a Lua string) -> buffer, length or nil, message.
function M.zlib_decompress(s)
  return protected(function()
    local p, len = ffi.cast('const uint8_t *', s), #s
    if len < 6 then bad('truncated zlib stream (%d bytes)', len) end
    local cmf, flg = p[0], p[1]
    if band(cmf, 15) ~= 8 then bad('unknown zlib compression method %d (only 8, deflate)', band(cmf, 15)) end
    if (cmf * 256 + flg) % 31 ~= 0 then bad('zlib header check failed') end
    if band(flg, 32) ~= 0 then bad('zlib preset dictionaries are not supported') end
    local out, n, after = inflate_raw(p, len, 2)
    if after + 4 > len then bad('truncated zlib stream (Adler-32 missing)') end
    local want, got = u32be(p, after), M.adler32(out, n)
    if got ~= want then bad('Adler-32 mismatch: the data gives %08x, the stream says %08x (corrupt data)', got, want) end
    return out, n
  end)
end

local function le32(v) return string.char(v % 256, math.floor(v / 256) % 256, math.floor(v / 65536) % 256,
  math.floor(v / 16777216) % 256) end
local function be32(v) return le32(v):reverse() end

-- DEFLATE stored blocks holding len bytes at p (a Lua string or a byte pointer).
function M.deflate_stored(p, len)
  if type(p) == 'string' then len = len or #p; p = ffi.cast('const uint8_t *', p) end
  local parts, off = {}, 0
  repeat
    local n = math.min(65535, len - off)
    local final = off + n >= len and 1 or 0
    parts[#parts + 1] = string.char(final, n % 256, math.floor(n / 256), (65535 - n) % 256, math.floor((65535 - n) / 256))
    parts[#parts + 1] = ffi.string(p + off, n)
    off = off + n
  until off >= len
  return table.concat(parts)
end

function M.zlib_stored(p, len)
  if type(p) == 'string' then len = len or #p; p = ffi.cast('const uint8_t *', p) end
  return '\120\1' .. M.deflate_stored(p, len) .. be32(M.adler32(p, len))
end

function M.gzip_stored(p, len)
  if type(p) == 'string' then len = len or #p; p = ffi.cast('const uint8_t *', p) end
  return '\31\139\8\0\0\0\0\0\0\255' .. M.deflate_stored(p, len) .. le32(M.crc32(p, len)) .. le32(len % 4294967296)
end

M.be32, M.le32, M.u32be = be32, le32, u32be

return M
