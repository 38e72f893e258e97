-- cnnc.tensor: dense row-major arrays backed by FFI memory, for weights and activations.
--
-- A tensor is {shape = {...}, n = count, data = cdata}. Weights are float32 (`float[?]`),
-- exactly the values the generated C will hold; the reference interpreter computes in
-- double (`double[?]`). Indexing is 0-based, as in the C it mirrors. This module does no
-- file I/O (see cnnc.npy).

local ffi = require 'ffi'
local util = require 'cnnc.util'

local M = {}
local Tensor = {}
Tensor.__index = Tensor
M.Tensor = Tensor

function M.new(shape, ctype)
  ctype = ctype or 'float'
  local n = util.prod(shape)
  local t = setmetatable({ shape = util.copy(shape), n = n, ctype = ctype }, Tensor)
  t.data = ffi.new(ctype .. '[?]', math.max(n, 1))
  return t
end

function M.is_tensor(x) return getmetatable(x) == Tensor end

function Tensor:clone(ctype)
  local t = M.new(self.shape, ctype or self.ctype)
  for i = 0, self.n - 1 do t.data[i] = self.data[i] end
  return t
end

function Tensor:fill(v)
  for i = 0, self.n - 1 do self.data[i] = v end
  return self
end

-- Infers the shape of a nested Lua table ({{1, 2}, {3, 4}} -> {2, 2}), checking it is
-- rectangular. Returns nil, message on ragged or non-numeric content.
local function nested_shape(t, path)
  if type(t) == 'number' then return {} end
  if type(t) ~= 'table' then
    return nil, string.format('%s is a %s, expected a number', path, type(t))
  end
  if #t == 0 then return nil, path .. ' is an empty table' end
  local first, err = nested_shape(t[1], path .. '[1]')
  if not first then return nil, err end
  for i = 2, #t do
    local s, e = nested_shape(t[i], path .. '[' .. i .. ']')
    if not s then return nil, e end
    if not util.shape_eq(s, first) then
      return nil, string.format('%s has shape %s but %s has %s (ragged nesting)',
        path .. '[' .. i .. ']', util.shape_str(s), path .. '[1]', util.shape_str(first))
    end
  end
  local shape = { #t }
  for i = 1, #first do shape[i + 1] = first[i] end
  return shape
end
M.nested_shape = nested_shape

-- From a nested table; `shape` (optional) is the expected shape. Values are checked to be
-- finite numbers. Returns tensor or nil, message.
function M.from_table(t, shape, what)
  what = what or 'value'
  local got, err = nested_shape(t, what)
  if not got then return nil, err end
  if shape and not util.shape_eq(got, shape) then
    -- A flat list of the right length is accepted too.
    if not (#got == 1 and got[1] == util.prod(shape)) then
      return nil, string.format('%s has shape %s, expected %s', what,
        util.shape_str(got), util.shape_str(shape))
    end
  end
  local out = M.new(shape or got)
  local k = 0
  local function walk(x)
    if type(x) == 'number' then
      if x ~= x or x == math.huge or x == -math.huge then
        return string.format('%s holds a non-finite number (%s) at flat index %d', what, tostring(x), k)
      end
      out.data[k] = x
      k = k + 1
      return nil
    end
    for i = 1, #x do
      local e = walk(x[i])
      if e then return e end
    end
  end
  local e = walk(t)
  if e then return nil, e end
  return out
end

function Tensor:to_table()
  local function build(dim, offset)
    local r = {}
    local stride = util.prod(self.shape, dim + 1)
    for i = 1, self.shape[dim] do
      if dim == #self.shape then r[i] = tonumber(self.data[offset + i - 1])
      else r[i] = build(dim + 1, offset + (i - 1) * stride) end
    end
    return r
  end
  if #self.shape == 0 then return tonumber(self.data[0]) end
  return build(1, 0)
end

-- Index of the first non-finite value, or nil.
function Tensor:find_nonfinite()
  for i = 0, self.n - 1 do
    local v = self.data[i]
    if v ~= v or v == math.huge or v == -math.huge then return i end
  end
end

function Tensor:max_abs()
  local m = 0
  for i = 0, self.n - 1 do
    local a = math.abs(self.data[i])
    if a > m then m = a end
  end
  return m
end

return M
