-- cnnc.ffi.tensor: the tensors scripts hand to compiled models (cnnc.Tensor).
--
-- A tensor is a dense, row-major array in FFI memory whose first element is 64-byte
-- aligned (LuaJIT's own allocations are only 8-byte aligned, and the generated SIMD code
-- and the C runtime expect 64): {shape = {...}, n = count, dtype = 'float32' | 'float64' |
-- 'uint8' | 'int32', data = pointer}. `data` is the raw pointer, 0-based and unchecked,
-- for loops that must run at C speed; get/set take 1-based indices per axis (as torch7's
-- tensors did) and check them. Views (slice, item, reshape) share the memory of the tensor
-- they come from and keep it alive; only a fresh tensor's first element is aligned.
-- No file I/O here (cnnc.ffi.arrays, cnnc.ffi.images).

local ffi = require 'ffi'
local common = require 'cnnc.ffi.common'
local util = require 'cnnc.util'

local M = {}

local Tensor = {}
Tensor.__index = Tensor
M.Tensor = Tensor

M.ALIGN = 64

-- dtype name -> C element type, and back (the compiler's tensors use C names).
M.CTYPES = { float32 = 'float', float64 = 'double', uint8 = 'uint8_t', int32 = 'int32_t' }
local DTYPE_OF = { float = 'float32', double = 'float64', uint8_t = 'uint8', int32_t = 'int32' }
local PTR = {}
for d, c in pairs(M.CTYPES) do PTR[d] = ffi.typeof(c .. ' *') end
local SIZE = { float32 = 4, float64 = 8, uint8 = 1, int32 = 4 }
M.SIZE = SIZE

local function dtype_of(d, what)
  if d == nil then return 'float32' end
  if M.CTYPES[d] then return d end
  if DTYPE_OF[d] then return DTYPE_OF[d] end
  common.fail("%s: unknown dtype '%s' (dtypes: float32, float64, uint8, int32)", what, tostring(d))
end
M.dtype_of = dtype_of

local function check_shape(shape, what)
  if type(shape) ~= 'table' then common.fail('%s: shape must be a list of sizes, got %s', what, type(shape)) end
  for i = 1, #shape do
    local v = shape[i]
    if type(v) ~= 'number' or v < 0 or v ~= math.floor(v) or v > 2 ^ 40 then
      common.fail('%s: shape entry %d must be a non-negative integer, got %s', what, i, tostring(v))
    end
  end
  return util.copy(shape)
end

local function wrap(shape, dtype, data, anchor)
  return setmetatable({ shape = shape, n = util.prod(shape), dtype = dtype, ctype = M.CTYPES[dtype],
    data = data, anchor = anchor }, Tensor)
end

-- A zero-filled tensor. The block is over-allocated by ALIGN bytes and the pointer rounded
-- up; `anchor` keeps the block alive as long as the tensor or any view of it.
function M.new(shape, dtype)
  shape = check_shape(shape, 'cnnc.Tensor')
  dtype = dtype_of(dtype, 'cnnc.Tensor')
  local bytes = util.prod(shape) * SIZE[dtype]
  local block = ffi.new('uint8_t[?]', bytes + M.ALIGN)
  local addr = ffi.cast('uintptr_t', block)
  local pad = tonumber((M.ALIGN - addr % M.ALIGN) % M.ALIGN)
  return wrap(shape, dtype, ffi.cast(PTR[dtype], block + pad), block)
end

function M.is_tensor(x) return getmetatable(x) == Tensor end

-- From a nested Lua table ({{1, 2}, {3, 4}} is a (2, 2) tensor).
function M.from_table(t, dtype)
  local shape, err = require('cnnc.tensor').nested_shape(t, 'table')
  if not shape then common.fail('cnnc.from_table: %s', err) end
  local out = M.new(shape, dtype)
  local k = 0
  local function walk(x)
    if type(x) == 'number' then out.data[k] = x; k = k + 1; return end
    for i = 1, #x do walk(x[i]) end
  end
  walk(t)
  return out
end

-- A copy of any tensor-like value {shape, n, data} (e.g. the compiler's cnnc.tensor).
function M.from_tensor(src, dtype)
  local t = M.new(src.shape, dtype or DTYPE_OF[src.ctype] or src.dtype)
  for i = 0, src.n - 1 do t.data[i] = src.data[i] end
  return t
end

function Tensor:__tostring()
  return string.format('cnnc.Tensor %s %s', self.dtype, util.shape_str(self.shape))
end

function Tensor:dim() return #self.shape end

function Tensor:size(d)
  if d == nil then return util.copy(self.shape) end
  return self.shape[d]
end

function Tensor:is_aligned(bytes)
  return tonumber(ffi.cast('uintptr_t', self.data) % (bytes or M.ALIGN)) == 0
end

-- Flat 0-based offset of 1-based indices; checks rank and bounds.
local function offset(t, what, ...)
  local nidx = select('#', ...)
  if nidx ~= #t.shape then
    common.fail('tensor:%s: %d indices given, the tensor has rank %d (shape %s)', what, nidx, #t.shape,
      util.shape_str(t.shape))
  end
  local off = 0
  for d = 1, nidx do
    local i = select(d, ...)
    if type(i) ~= 'number' or i < 1 or i > t.shape[d] or i ~= math.floor(i) then
      common.fail('tensor:%s: index %s on axis %d is outside 1..%d (shape %s)', what, tostring(i), d,
        t.shape[d], util.shape_str(t.shape))
    end
    off = off * t.shape[d] + (i - 1)
  end
  return off
end

function Tensor:get(...)
  return tonumber(self.data[offset(self, 'get', ...)])
end

-- t:set(i, j, ..., value)
function Tensor:set(...)
  local n = select('#', ...)
  local v = select(n, ...)
  if type(v) ~= 'number' then common.fail('tensor:set: the last argument must be the value, got %s', type(v)) end
  self.data[offset(self, 'set', unpack({ ... }, 1, n - 1))] = v
  return self
end

function Tensor:fill(v)
  if v == 0 then ffi.fill(self.data, self.n * SIZE[self.dtype]) return self end
  for i = 0, self.n - 1 do self.data[i] = v end
  return self
end

function Tensor:clone()
  local t = M.new(self.shape, self.dtype)
  ffi.copy(t.data, self.data, self.n * SIZE[self.dtype])
  return t
end

-- Copies the values of src (same element count, any dtype) into this tensor.
function Tensor:copy(src)
  if not (M.is_tensor(src) or (type(src) == 'table' and src.data and src.n)) then
    common.fail('tensor:copy: expected a tensor, got %s', type(src))
  end
  if src.n ~= self.n then
    common.fail('tensor:copy: source has %d values %s, this tensor %d %s', src.n, util.shape_str(src.shape),
      self.n, util.shape_str(self.shape))
  end
  if src.dtype == self.dtype then
    ffi.copy(self.data, src.data, self.n * SIZE[self.dtype])
  else
    local d, s = self.data, src.data
    for i = 0, self.n - 1 do d[i] = s[i] end
  end
  return self
end

-- A converted copy: t:astype('float32', 1/255) scales uint8 pixels to [0, 1].
function Tensor:astype(dtype, scale)
  dtype = dtype_of(dtype, 'tensor:astype')
  local t = M.new(self.shape, dtype)
  local d, s, k = t.data, self.data, scale or 1
  if k == 1 then
    for i = 0, self.n - 1 do d[i] = s[i] end
  else
    for i = 0, self.n - 1 do d[i] = s[i] * k end
  end
  return t
end

-- A view with another shape of the same count; one entry may be -1 (inferred).
function Tensor:reshape(shape)
  if type(shape) ~= 'table' then common.fail('tensor:reshape: expected a shape table, got %s', type(shape)) end
  local s, infer, known = {}, nil, 1
  for i = 1, #shape do
    if shape[i] == -1 and not infer then infer = i; s[i] = 1
    else s[i] = shape[i]; known = known * shape[i] end
  end
  check_shape(s, 'tensor:reshape')
  if infer then
    if known == 0 or self.n % known ~= 0 then
      common.fail('tensor:reshape: cannot infer axis %d: %d values do not divide into %s', infer, self.n,
        util.shape_str(shape))
    end
    s[infer] = self.n / known
  end
  if util.prod(s) ~= self.n then
    common.fail('tensor:reshape: shape %s holds %d values, the tensor has %d %s', util.shape_str(s), util.prod(s),
      self.n, util.shape_str(self.shape))
  end
  return wrap(s, self.dtype, self.data, self.anchor)
end

-- Items first..last (1-based, inclusive) along the first axis, as a view.
function Tensor:slice(first, last)
  last = last or first
  local rows = self.shape[1]
  if #self.shape == 0 then common.fail('tensor:slice: a scalar has no first axis') end
  if type(first) ~= 'number' or type(last) ~= 'number' or first < 1 or last > rows or first > last + 1
    or first ~= math.floor(first) or last ~= math.floor(last) then
    common.fail('tensor:slice: rows %s..%s are outside 1..%d (shape %s)', tostring(first), tostring(last), rows,
      util.shape_str(self.shape))
  end
  local s = util.copy(self.shape)
  s[1] = last - first + 1
  local per = util.prod(self.shape, 2)
  return wrap(s, self.dtype, self.data + (first - 1) * per, self.anchor)
end

-- Item i of a batch (the first axis dropped), as a view.
function Tensor:item(i)
  local v = self:slice(i, i)
  table.remove(v.shape, 1)
  return v
end

function Tensor:totable()
  local shape, data = self.shape, self.data
  if #shape == 0 then return tonumber(data[0]) end
  local function build(dim, off)
    local r, stride = {}, util.prod(shape, dim + 1)
    for i = 1, shape[dim] do
      if dim == #shape then r[i] = tonumber(data[off + i - 1])
      else r[i] = build(dim + 1, off + (i - 1) * stride) end
    end
    return r
  end
  return build(1, 0)
end

-- The raw bytes (native endianness).
function Tensor:bytes()
  return ffi.string(self.data, self.n * SIZE[self.dtype])
end

-- Smallest and largest value.
function Tensor:range()
  local lo, hi = math.huge, -math.huge
  local d = self.data
  for i = 0, self.n - 1 do
    local v = tonumber(d[i])
    if v < lo then lo = v end
    if v > hi then hi = v end
  end
  return lo, hi
end

-- Checks that x is a tensor (raising an error that names the call otherwise).
function M.check(x, what, dtype)
  if not M.is_tensor(x) then
    common.fail('%s: expected a cnnc.Tensor, got %s', what, type(x) == 'table' and 'a table (cnnc.from_table makes one)'
      or type(x))
  end
  if dtype and x.dtype ~= dtype then
    common.fail('%s: expected a %s tensor, got %s %s (convert with t:astype(\'%s\'))', what, dtype, x.dtype,
      util.shape_str(x.shape), dtype)
  end
  return x
end

return M
