-- cnnc.ffi.sha256: SHA-256 (FIPS 180-4) of a Lua string, as lowercase hex.
--
-- Keys the build cache (cnnc.ffi.build): generated C files run to megabytes, and a
-- collision would load the wrong library, so a real cryptographic hash rather than a
-- quick one. 32-bit arithmetic with LuaJIT's bit library; over 100 MB/s here.

local bit = require 'bit'
local ffi = require 'ffi'

local band, bor, bxor, bnot, rshift, lshift, ror, tobit =
  bit.band, bit.bor, bit.bxor, bit.bnot, bit.rshift, bit.lshift, bit.ror, bit.tobit

-- Constants above 2^31 go through bit.tobit: a plain conversion to int32_t would saturate.
local function words(list)
  local a = ffi.new('int32_t[?]', #list)
  for i, v in ipairs(list) do a[i - 1] = tobit(v) end
  return a
end

local K = words({
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
})
local H0 = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }

return function(msg)
  local len = #msg
  -- Padding: 0x80, zeros, then the bit length as a 64-bit big-endian number.
  local total = math.ceil((len + 9) / 64) * 64
  local buf = ffi.new('uint8_t[?]', total)
  ffi.copy(buf, msg, len)
  buf[len] = 0x80
  local bits = len * 8
  for i = 0, 7 do
    buf[total - 1 - i] = bits % 256
    bits = math.floor(bits / 256)
  end
  local H = words(H0)
  local W = ffi.new('int32_t[64]')
  for block = 0, total - 1, 64 do
    for i = 0, 15 do
      local o = block + 4 * i
      W[i] = bor(lshift(buf[o], 24), lshift(buf[o + 1], 16), lshift(buf[o + 2], 8), buf[o + 3])
    end
    for i = 16, 63 do
      local w15, w2 = W[i - 15], W[i - 2]
      local s0 = bxor(ror(w15, 7), ror(w15, 18), rshift(w15, 3))
      local s1 = bxor(ror(w2, 17), ror(w2, 19), rshift(w2, 10))
      W[i] = tobit(W[i - 16] + s0 + W[i - 7] + s1)
    end
    local a, b, c, d, e, f, g, h = H[0], H[1], H[2], H[3], H[4], H[5], H[6], H[7]
    for i = 0, 63 do
      local S1 = bxor(ror(e, 6), ror(e, 11), ror(e, 25))
      local ch = bxor(band(e, f), band(bnot(e), g))
      local t1 = tobit(h + S1 + ch + K[i] + W[i])
      local S0 = bxor(ror(a, 2), ror(a, 13), ror(a, 22))
      local maj = bxor(band(a, b), band(a, c), band(b, c))
      local t2 = tobit(S0 + maj)
      h, g, f, e = g, f, e, tobit(d + t1)
      d, c, b, a = c, b, a, tobit(t1 + t2)
    end
    H[0], H[1], H[2], H[3] = tobit(H[0] + a), tobit(H[1] + b), tobit(H[2] + c), tobit(H[3] + d)
    H[4], H[5], H[6], H[7] = tobit(H[4] + e), tobit(H[5] + f), tobit(H[6] + g), tobit(H[7] + h)
  end
  local out = {}
  for i = 0, 7 do out[i + 1] = bit.tohex(H[i]) end
  return table.concat(out)
end
