-- differential.rng: the test generator's own random numbers (splitmix64).
--
-- Independent of cnnc's initializers on purpose: the networks a seed gives must not change
-- when the compiler does. One stream per network, derived from (seed, index), so network
-- 17 is the same network whatever --count and --jobs are.

local bit = require 'bit'
local ffi = require 'ffi'

local M = {}
local Rng = {}
Rng.__index = Rng

local GOLDEN = 0x9E3779B97F4A7C15ULL

local function mix(z)
  z = bit.bxor(z, bit.rshift(z, 30)) * 0xBF58476D1CE4E5B9ULL
  z = bit.bxor(z, bit.rshift(z, 27)) * 0x94D049BB133111EBULL
  return bit.bxor(z, bit.rshift(z, 31))
end

function M.new(seed, index)
  local s = mix(ffi.cast('uint64_t', seed) + GOLDEN)
  s = mix(bit.bxor(s, ffi.cast('uint64_t', index or 0)) + GOLDEN)
  return setmetatable({ state = s }, Rng)
end

-- Uniform in [0, 1) with 53 random bits.
function Rng:uniform()
  self.state = self.state + GOLDEN
  return tonumber(bit.rshift(mix(self.state), 11)) * 2 ^ -53
end

-- Integer in [lo, hi].
function Rng:int(lo, hi)
  if hi < lo then error(string.format('rng:int(%d, %d): empty range', lo, hi), 2) end
  return lo + math.floor(self:uniform() * (hi - lo + 1))
end

function Rng:chance(p) return self:uniform() < p end

function Rng:pick(list) return list[self:int(1, #list)] end

-- Number in [lo, hi] rounded to `step`, 1/step an integer (readable model files).
function Rng:real(lo, hi, step)
  local v = lo + (hi - lo) * self:uniform()
  local per_unit = math.floor(1 / (step or 0.01) + 0.5) -- dividing keeps 0.35 exact-as-written
  return math.floor(v * per_unit + 0.5) / per_unit
end

-- One key of `weights` ({key = weight, ...}) with probability proportional to its weight;
-- keys are visited in sorted order so the choice is deterministic.
function Rng:weighted(weights)
  local keys, total = {}, 0
  for k, w in pairs(weights) do
    if w > 0 then keys[#keys + 1] = k; total = total + w end
  end
  table.sort(keys)
  local r = self:uniform() * total
  for _, k in ipairs(keys) do
    r = r - weights[k]
    if r < 0 then return k end
  end
  return keys[#keys]
end

return M
