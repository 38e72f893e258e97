-- Builds zip archives and DEFLATE streams in Lua for the Keras specs: stored or
-- fixed-Huffman members, any declared sizes (for zip bombs and damaged archives).
package.path = 'compiler/?.lua;' .. package.path
local inflate = require 'cnnc.ffi.inflate'
local M = {}

local function le16(v) return string.char(v % 256, math.floor(v / 256) % 256) end
local function le32(v) return le16(v % 65536) .. le16(math.floor(v / 65536) % 65536) end

-- A DEFLATE stream (one fixed-Huffman block) of one zero byte followed by `runs` copies of
-- 258 bytes at distance 1: 1 + 258 * runs zero bytes from 13 bits per run.
function M.zeros_stream(runs)
  local out, acc, n = {}, 0, 0
  local function put(v, bits) -- LSB first
    for i = 0, bits - 1 do
      acc = acc + (math.floor(v / 2 ^ i) % 2) * 2 ^ n
      n = n + 1
      if n == 8 then out[#out + 1] = string.char(acc); acc, n = 0, 0 end
    end
  end
  local function code(v, bits) -- Huffman codes go most significant bit first
    for i = bits - 1, 0, -1 do put(math.floor(v / 2 ^ i) % 2, 1) end
  end
  put(1, 1); put(1, 2)              -- final block, fixed codes
  code(0x30, 8)                     -- literal 0
  for _ = 1, runs do
    code(0xC5, 8)                   -- length 258 (symbol 285)
    code(0, 5)                      -- distance 1
  end
  code(0, 7)                        -- end of block
  if n > 0 then out[#out + 1] = string.char(acc) end
  return table.concat(out)
end

-- A zip of members {name, data (bytes as stored), method (0 or 8), size (declared
-- uncompressed size), crc (default: of `plain` or data)}.
function M.zip(members)
  local locals, central, offset = {}, {}, 0
  for _, m in ipairs(members) do
    local method = m.method or 0
    local plain = m.plain or m.data
    local crc = m.crc or inflate.crc32(plain, #plain)
    local size = m.size or #plain
    local head = 'PK\3\4' .. le16(20) .. le16(0) .. le16(method) .. le16(0) .. le16(0x21) .. le32(crc)
      .. le32(#m.data) .. le32(size) .. le16(#m.name) .. le16(0) .. m.name
    locals[#locals + 1] = head .. m.data
    central[#central + 1] = 'PK\1\2' .. le16(20) .. le16(20) .. le16(0) .. le16(method) .. le16(0) .. le16(0x21)
      .. le32(crc) .. le32(#m.data) .. le32(size) .. le16(#m.name) .. le16(0) .. le16(0) .. le16(0) .. le16(0)
      .. le32(0) .. le32(offset) .. m.name
    offset = offset + #locals[#locals]
  end
  local cd = table.concat(central)
  return table.concat(locals) .. cd .. 'PK\5\6' .. le16(0) .. le16(0) .. le16(#members) .. le16(#members)
    .. le32(#cd) .. le32(offset) .. le16(0)
end

return M
