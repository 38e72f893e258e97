-- A minimal ONNX writer for the specs: builds the bytes of a ModelProto from a Lua table,
-- so that a spec can make exactly the (valid or broken) model it needs without PyTorch.
--
--   W.model{opset = 13, inputs = {{'x', {1, 3, 8, 8}}}, outputs = {{'y', {1, 4}}},
--           nodes = {{'Conv', {'x', 'w'}, {'y'}, name = 'c', attrs = {pads = {1, 1, 1, 1}}}},
--           initializers = {{'w', {4, 3, 3, 3}, values = {...} or fill = 0.5}}}
-- Attribute values: an integer -> INT, a non-integer number -> FLOAT, a string -> STRING,
-- a list of integers -> INTS, {floats = {...}} -> FLOATS, {tensor = {dims, values}} ->
-- TENSOR. Not a spec itself (busted runs *_spec.lua only).

local bit = require 'bit'
local ffi = require 'ffi'

local W = {}

-- Varint of any int64 (negative numbers take ten bytes, as protobuf writes them).
function W.varint(n)
  local v = ffi.cast('uint64_t', ffi.cast('int64_t', n))
  local t = {}
  repeat
    local b = tonumber(bit.band(v, 127ULL))
    v = bit.rshift(v, 7)
    t[#t + 1] = string.char(v ~= 0ULL and b + 128 or b)
  until v == 0ULL
  return table.concat(t)
end

local function key(field, wire) return W.varint(field * 8 + wire) end

function W.bytes(field, s) return key(field, 2) .. W.varint(#s) .. s end
function W.int(field, n) return key(field, 0) .. W.varint(n) end
function W.float(field, x)
  local f = ffi.new('float[1]', x)
  return key(field, 5) .. ffi.string(f, 4)
end

local function floats_raw(values)
  local buf = ffi.new('float[?]', math.max(#values, 1))
  for i, v in ipairs(values) do buf[i - 1] = v end
  return ffi.string(buf, 4 * #values)
end

local function int64s_raw(values)
  local buf = ffi.new('int64_t[?]', math.max(#values, 1))
  for i, v in ipairs(values) do buf[i - 1] = v end
  return ffi.string(buf, 8 * #values)
end

local function bytes_raw(values)
  local t = {}
  for i, v in ipairs(values) do t[i] = string.char(v % 256) end
  return table.concat(t)
end

-- TensorProto: t = {name, dims, values = {...} | fill = x, type = 1 (float) | 7 (int64) |
-- 2 (uint8), 3 (int8), 9 (bool)}. With external = {location = ..., offset = ..., ...} (its
-- external_data entries, written in the order location, offset, length, then the others
-- sorted) it holds no values and its data_location is EXTERNAL (t.data_location overrides);
-- W.raw(t) gives the bytes such a file holds.
function W.tensor(t)
  local parts = {}
  for _, d in ipairs(t[2] or t.dims) do parts[#parts + 1] = W.int(1, d) end
  local dtype = t.type or 1
  parts[#parts + 1] = W.int(2, dtype)
  if t[1] or t.name then parts[#parts + 1] = W.bytes(8, t[1] or t.name) end
  if t.external then
    local keys = {}
    for k in pairs(t.external) do
      if k ~= 'location' and k ~= 'offset' and k ~= 'length' then keys[#keys + 1] = k end
    end
    table.sort(keys)
    for _, k in ipairs({ 'location', 'offset', 'length', unpack(keys) }) do
      if t.external[k] ~= nil then
        parts[#parts + 1] = W.bytes(13, W.bytes(1, k) .. W.bytes(2, tostring(t.external[k])))
      end
    end
    parts[#parts + 1] = W.int(14, t.data_location or 1)
    return table.concat(parts)
  end
  parts[#parts + 1] = W.bytes(9, W.raw(t))
  if t.data_location then parts[#parts + 1] = W.int(14, t.data_location) end
  return table.concat(parts)
end

-- The raw_data bytes of tensor t (as W.tensor takes it).
function W.raw(t)
  local values, dtype = t.values, t.type or 1
  if not values then
    local n = 1
    for _, d in ipairs(t[2] or t.dims) do n = n * d end
    values = {}
    for i = 1, n do values[i] = t.fill or (i % 7) * 0.125 - 0.375 end
  end
  return dtype == 7 and int64s_raw(values) or (dtype == 2 or dtype == 3 or dtype == 9) and bytes_raw(values)
    or floats_raw(values)
end

local function value_info(v)
  if v.kind == 'sequence' then
    -- seq(tensor(float)) without a shape
    return W.bytes(1, v[1]) .. W.bytes(2, W.bytes(4, W.bytes(1, W.bytes(1, W.int(1, 1)))))
  end
  local dims = {}
  for _, d in ipairs(v[2]) do
    dims[#dims + 1] = W.bytes(1, type(d) == 'string' and W.bytes(2, d) or W.int(1, d))
  end
  local tensor_type = W.int(1, v.type or 1) .. W.bytes(2, table.concat(dims))
  return W.bytes(1, v[1]) .. W.bytes(2, W.bytes(1, tensor_type))
end

local function attribute(name, v)
  local parts = { W.bytes(1, name) }
  if type(v) == 'number' and v == math.floor(v) then
    parts[#parts + 1] = W.int(20, 2) .. W.int(3, v)
  elseif type(v) == 'number' then
    parts[#parts + 1] = W.int(20, 1) .. W.float(2, v)
  elseif type(v) == 'string' then
    parts[#parts + 1] = W.int(20, 3) .. W.bytes(4, v)
  elseif v.floats then
    parts[#parts + 1] = W.int(20, 6)
    for _, x in ipairs(v.floats) do parts[#parts + 1] = W.float(7, x) end
  elseif v.tensor then
    parts[#parts + 1] = W.int(20, 4) .. W.bytes(5, W.tensor(v.tensor))
  else
    parts[#parts + 1] = W.int(20, 7)
    for _, x in ipairs(v) do parts[#parts + 1] = W.int(8, x) end
  end
  return table.concat(parts)
end

-- NodeProto: {op_type, {inputs}, {outputs}, name = ..., attrs = {...}, domain = ...}.
function W.node(n)
  local parts = {}
  for _, i in ipairs(n[2]) do parts[#parts + 1] = W.bytes(1, i) end
  for _, o in ipairs(n[3]) do parts[#parts + 1] = W.bytes(2, o) end
  if n.name then parts[#parts + 1] = W.bytes(3, n.name) end
  parts[#parts + 1] = W.bytes(4, n[1])
  if n.domain then parts[#parts + 1] = W.bytes(7, n.domain) end
  local names = {}
  for k in pairs(n.attrs or {}) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do parts[#parts + 1] = W.bytes(5, attribute(k, n.attrs[k])) end
  return table.concat(parts)
end

function W.model(m)
  local g = {}
  for _, n in ipairs(m.nodes or {}) do g[#g + 1] = W.bytes(1, W.node(n)) end
  g[#g + 1] = W.bytes(2, m.name or 'test')
  for _, t in ipairs(m.initializers or {}) do g[#g + 1] = W.bytes(5, W.tensor(t)) end
  for _, v in ipairs(m.inputs or {}) do g[#g + 1] = W.bytes(11, value_info(v)) end
  for _, v in ipairs(m.outputs or {}) do g[#g + 1] = W.bytes(12, value_info(v)) end
  local opset = W.bytes(1, '') .. W.int(2, m.opset or 13)
  return W.int(1, 7) .. W.bytes(2, 'cnnc specs') .. W.bytes(8, opset) .. W.bytes(7, table.concat(g))
end

function W.write(path, bytes)
  local f = assert(io.open(path, 'wb'))
  f:write(bytes)
  f:close()
  return path
end

return W
