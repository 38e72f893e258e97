-- cnnc.initializers: seeded weight initializers that give the same float32 values everywhere.
--
-- The generator is splitmix64 on LuaJIT's 64-bit integer cdata, so the bit stream does not
-- depend on the platform's C library. Each weight gets its own stream, derived from the
-- model seed, the layer's position and the weight's name, so adding a layer at the end
-- does not change the weights of the layers before it. Keras's formulas for the variances
-- (fan-in/fan-out, truncated normals) are followed; Keras's own random streams are not.

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

-- Hash of a string to a 64-bit value (FNV-1a), for mixing names into seeds.
local function hash_string(s)
  local h = 0xcbf29ce484222325ULL
  for i = 1, #s do
    h = bit.bxor(h, ffi.cast('uint64_t', s:byte(i))) * 0x100000001b3ULL
  end
  return h
end

function M.rng(seed, ...)
  local state = mix(ffi.cast('uint64_t', seed) + GOLDEN)
  for i = 1, select('#', ...) do
    local v = select(i, ...)
    local h = type(v) == 'string' and hash_string(v) or ffi.cast('uint64_t', v)
    state = mix(bit.bxor(state, h) + GOLDEN)
  end
  return setmetatable({ state = state }, Rng)
end

-- Uniform in [0, 1) with 53 random bits.
function Rng:uniform()
  self.state = self.state + GOLDEN
  return tonumber(bit.rshift(mix(self.state), 11)) * 2 ^ -53
end

-- Standard normal by Box-Muller (one value per call; the pair's twin is dropped so the
-- stream position stays a simple function of the count).
function Rng:normal()
  local u1 = 1 - self:uniform() -- (0, 1]
  local u2 = self:uniform()
  return math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)
end

function Rng:truncated_normal()
  while true do
    local v = self:normal()
    if v >= -2 and v <= 2 then return v end
  end
end

-- Keras's fan computation: the last two dims are (in, out), the rest is the receptive field.
function M.fans(shape)
  if #shape == 1 then return shape[1], shape[1] end
  if #shape == 2 then return shape[1], shape[2] end
  local rf = 1
  for i = 1, #shape - 2 do rf = rf * shape[i] end
  return shape[#shape - 1] * rf, shape[#shape] * rf
end

-- Each initializer: function(rng, params, fan_in, fan_out) -> function() giving one value.
local INITS = {
  zeros = function() return function() return 0 end end,
  ones = function() return function() return 1 end end,
  constant = function(_, p) local v = p.value or 0; return function() return v end end,
  random_uniform = function(r, p)
    local lo, hi = p.minval or -0.05, p.maxval or 0.05
    return function() return lo + (hi - lo) * r:uniform() end
  end,
  random_normal = function(r, p)
    local mean, sd = p.mean or 0, p.stddev or 0.05
    return function() return mean + sd * r:normal() end
  end,
  truncated_normal = function(r, p)
    local mean, sd = p.mean or 0, p.stddev or 0.05
    return function() return mean + sd * r:truncated_normal() end
  end,
  glorot_uniform = function(r, _, fi, fo)
    local lim = math.sqrt(6 / (fi + fo))
    return function() return (2 * r:uniform() - 1) * lim end
  end,
  glorot_normal = function(r, _, fi, fo)
    local sd = math.sqrt(2 / (fi + fo)) / 0.87962566103423978
    return function() return sd * r:truncated_normal() end
  end,
  he_uniform = function(r, _, fi)
    local lim = math.sqrt(6 / fi)
    return function() return (2 * r:uniform() - 1) * lim end
  end,
  he_normal = function(r, _, fi)
    local sd = math.sqrt(2 / fi) / 0.87962566103423978
    return function() return sd * r:truncated_normal() end
  end,
  lecun_uniform = function(r, _, fi)
    local lim = math.sqrt(3 / fi)
    return function() return (2 * r:uniform() - 1) * lim end
  end,
  lecun_normal = function(r, _, fi)
    local sd = math.sqrt(1 / fi) / 0.87962566103423978
    return function() return sd * r:truncated_normal() end
  end,
}
M.names = {}
for k in pairs(INITS) do M.names[#M.names + 1] = k end
table.sort(M.names)

-- The parameter names each initializer accepts (besides `seed`).
M.params = {
  constant = { value = true }, random_uniform = { minval = true, maxval = true },
  random_normal = { mean = true, stddev = true }, truncated_normal = { mean = true, stddev = true },
}

-- spec: {name = 'he_normal', params = {...}, seed = n or nil}. Fills tensor t in place.
function M.fill(t, spec, model_seed, layer_index, weight_name, fans_shape)
  local fi, fo = M.fans(fans_shape or t.shape)
  local r = M.rng(spec.seed or model_seed, spec.seed and 0 or layer_index, weight_name)
  local gen = INITS[spec.name](r, spec.params or {}, fi, fo)
  for i = 0, t.n - 1 do t.data[i] = gen() end
  return t
end

function M.exists(name) return INITS[name] ~= nil end

return M
