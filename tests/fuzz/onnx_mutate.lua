-- Field-level and byte-level mutations of ONNX files, for tests/fuzz/structured.lua.
--
-- Its own small protobuf wire-format reader and writer (independent of cnnc's decoder,
-- which is what is under test): a message is a list of fields {num, wt, raw} where raw is
-- the payload's bytes (varint bytes, 4 or 8 fixed bytes, or a length-delimited string);
-- fields whose number onnx.proto declares as a message are decoded recursively (`sub`),
-- so mutations can reach a node's attribute or a tensor's dims. A mutation picks a field
-- anywhere in the tree and sets a varint to 0, -1, 2^31, 2^63, ..., changes a float to
-- NaN or Inf, a string to another op type or to a name used elsewhere (duplicates,
-- cycles), drops, repeats, swaps or moves a field, changes its wire type or field
-- number, writes a wrong length, or splices in a message of the same type from another
-- model; byte-level mutations truncate, flip, insert or delete bytes of the encoding.
-- Nothing here knows cnnc; `mutate(bytes, rng, n, pool)` returns the bytes and a list
-- of what was done.

local bit = require 'bit'
local ffi = require 'ffi'

local M = {}

-- onnx.proto: which fields hold which message (everything else is a leaf).
local SCHEMA = {
  model = { [7] = 'graph', [8] = 'opset' },
  graph = { [1] = 'node', [5] = 'tensor', [11] = 'value_info', [12] = 'value_info', [13] = 'value_info' },
  node = { [5] = 'attribute' },
  attribute = { [5] = 'tensor', [6] = 'graph', [10] = 'tensor', [11] = 'graph' },
  value_info = { [2] = 'type' },
  type = { [1] = 'tensor_type' },
  tensor_type = { [2] = 'shape' },
  shape = { [1] = 'dim' },
  dim = {}, tensor = {}, opset = {},
}

local function varint_at(s, pos)
  local v, mul = 0, 1
  for k = pos, math.min(#s, pos + 9) do
    local b = s:byte(k)
    v = v + (b % 128) * mul
    mul = mul * 128
    if b < 128 then return v, k + 1 end
  end
  return nil
end

-- Decodes s as a message of type ty; nil if it is not a well-formed message.
local function decode(s, ty)
  local fields, pos = {}, 1
  while pos <= #s do
    local key, p = varint_at(s, pos)
    if not key then return nil end
    local num, wt = math.floor(key / 8), key % 8
    local raw
    if wt == 0 then
      local _, q = varint_at(s, p)
      if not q then return nil end
      raw = s:sub(p, q - 1); pos = q
    elseif wt == 1 or wt == 5 then
      local len = wt == 1 and 8 or 4
      if p + len - 1 > #s then return nil end
      raw = s:sub(p, p + len - 1); pos = p + len
    elseif wt == 2 then
      local len, q = varint_at(s, p)
      if not len or q + len - 1 > #s then return nil end
      raw = s:sub(q, q + len - 1); pos = q + len
    else
      return nil
    end
    local f = { num = num, wt = wt, raw = raw }
    local subty = SCHEMA[ty] and SCHEMA[ty][num]
    if subty and wt == 2 then f.sub = decode(raw, subty); f.ty = subty end
    fields[#fields + 1] = f
  end
  return fields
end

-- Varint bytes of v: a Lua number or an int64/uint64 cdata (negative: ten bytes).
local function varint(v)
  local x = type(v) == 'cdata' and ffi.cast('uint64_t', v) or
    (v < 0 and ffi.cast('uint64_t', ffi.cast('int64_t', v)) or ffi.cast('uint64_t', v))
  local out = {}
  repeat
    local b = tonumber(x % 128)
    x = x / 128
    out[#out + 1] = string.char(x ~= 0 and b + 128 or b)
  until x == 0
  return table.concat(out)
end
M.varint = varint

local encode
local function payload(f)
  if f.sub then return encode(f.sub) end
  return f.raw
end

-- f.len_delta: a wrong length written on purpose.
function encode(fields)
  local out = {}
  for _, f in ipairs(fields) do
    out[#out + 1] = varint(f.num * 8 + f.wt)
    local p = payload(f)
    if f.wt == 2 then out[#out + 1] = varint(math.max(0, #p + (f.len_delta or 0))) end
    out[#out + 1] = p
  end
  return table.concat(out)
end

function M.decode(bytes) return decode(bytes, 'model') end
M.encode = encode

-- Every field of the tree: {field, parent list, index in it, message type of parent}.
local function walk(fields, ty, acc)
  for k, f in ipairs(fields) do
    acc[#acc + 1] = { f = f, list = fields, k = k, ty = ty }
    if f.sub then walk(f.sub, f.ty, acc) end
  end
  return acc
end

local function pick(rng, list) return list[rng:int(1, #list)] end

local SPECIAL = { 0, 1, -1, 2, 3, 7, 255, 256, 65536, 2 ^ 31 - 1, 2 ^ 31, -2 ^ 31, 2 ^ 32, 2 ^ 32 + 1, 1e9,
  2 ^ 40, 2 ^ 53, ffi.new('uint64_t', 2 ^ 53) + 1, ffi.new('int64_t', 2 ^ 62), ffi.new('uint64_t', 2 ^ 63),
  ffi.new('int64_t', 2 ^ 62) * 2 - 1, -2, -1000 }
local FLOATS = { 0 / 0, 1 / 0, -1 / 0, 0, -0.0, 1e38, 3.5e38, -1e30, 1e-45, 1, 0.5, -1 }
local OPS = { 'Conv', 'Relu', 'Gemm', 'MaxPool', 'AveragePool', 'Add', 'Mul', 'Concat', 'Reshape', 'Flatten',
  'Transpose', 'Softmax', 'BatchNormalization', 'Pad', 'Squeeze', 'Unsqueeze', 'Identity', 'Constant', 'Clip',
  'MatMul', 'Loop', 'If', 'Scan', 'NotAnOp', '', 'conv', 'GlobalAveragePool', 'LpPool', 'Dropout', 'Div' }
local STRINGS = { '', 'x', 'NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID', 'constant', 'reflect', 'edge', 'wrap',
  string.rep('a', 1000), '\0', 'ai.onnx', 'com.microsoft', '../../etc/passwd', '%s%n' }

local function f32(x) local b = ffi.new('float[1]', x); return ffi.string(b, 4) end
local function f64(x) local b = ffi.new('double[1]', x); return ffi.string(b, 8) end

-- Strings that look like names in the tree (node inputs/outputs, tensor names).
local function names(all)
  local t = {}
  for _, e in ipairs(all) do
    if e.f.wt == 2 and not e.f.sub and #e.f.raw > 0 and #e.f.raw < 64 and e.f.raw:match('^[%w_%.:/%-]+$') then
      t[#t + 1] = e.f.raw
    end
  end
  return t
end

local mutations = {}

function mutations.varint(all, rng)
  local c = {}
  for _, e in ipairs(all) do if e.f.wt == 0 then c[#c + 1] = e end end
  if #c == 0 then return nil end
  local e = pick(rng, c)
  local old = varint_at(e.f.raw, 1) or 0
  local new = rng:int(1, 4) == 1 and (old + pick(rng, { 1, -1, old, 1000 * old })) or pick(rng, SPECIAL)
  e.f.raw = varint(new)
  return string.format('%s field %d varint %s -> %s', e.ty, e.f.num, tostring(old), tostring(new))
end

function mutations.fixed(all, rng)
  local c = {}
  for _, e in ipairs(all) do if e.f.wt == 1 or e.f.wt == 5 then c[#c + 1] = e end end
  if #c == 0 then return nil end
  local e = pick(rng, c)
  local x = pick(rng, FLOATS)
  e.f.raw = e.f.wt == 5 and f32(x) or f64(x)
  return string.format('%s field %d float -> %s', e.ty, e.f.num, tostring(x))
end

function mutations.bytes(all, rng)
  local c = {}
  for _, e in ipairs(all) do if e.f.wt == 2 and not e.f.sub then c[#c + 1] = e end end
  if #c == 0 then return nil end
  local e = pick(rng, c)
  local what = rng:int(1, 6)
  local old = e.f.raw
  if what == 1 then e.f.raw = pick(rng, OPS)
  elseif what == 2 then e.f.raw = pick(rng, STRINGS)
  elseif what == 3 then e.f.raw = pick(rng, names(all)) or ''
  elseif what == 4 then e.f.raw = old:sub(1, rng:int(0, #old))
  elseif what == 5 then e.f.raw = old .. old:sub(1, rng:int(0, math.min(#old, 4096)))
  else -- a packed list of special varints (dims, ints attributes)
    local t = {}
    for k = 1, rng:int(0, 6) do t[k] = varint(pick(rng, SPECIAL)) end
    e.f.raw = table.concat(t)
  end
  return string.format('%s field %d bytes (%d) -> %q', e.ty, e.f.num, #old, e.f.raw:sub(1, 30))
end

function mutations.drop(all, rng)
  local e = pick(rng, all)
  table.remove(e.list, e.k)
  return string.format('dropped %s field %d', e.ty, e.f.num)
end

local function deep_copy(f)
  local g = { num = f.num, wt = f.wt, raw = f.raw, ty = f.ty }
  if f.sub then
    g.sub = {}
    for k, x in ipairs(f.sub) do g.sub[k] = deep_copy(x) end
  end
  return g
end

function mutations.repeat_field(all, rng)
  local e = pick(rng, all)
  table.insert(e.list, rng:int(1, #e.list + 1), deep_copy(e.f))
  return string.format('repeated %s field %d', e.ty, e.f.num)
end

function mutations.swap(all, rng)
  local e = pick(rng, all)
  local j = rng:int(1, #e.list)
  e.list[e.k], e.list[j] = e.list[j], e.list[e.k]
  return string.format('swapped %s fields %d and %d', e.ty, e.k, j)
end

-- A field moved into another message (often of another type).
function mutations.move(all, rng)
  local e = pick(rng, all)
  local msgs = {}
  for _, x in ipairs(all) do if x.f.sub and x.f ~= e.f then msgs[#msgs + 1] = x.f end end
  if #msgs == 0 then return nil end
  local to = pick(rng, msgs)
  table.remove(e.list, e.k)
  table.insert(to.sub, rng:int(1, #to.sub + 1), e.f)
  return string.format('moved %s field %d into a %s', e.ty, e.f.num, to.ty)
end

function mutations.wire_type(all, rng)
  local e = pick(rng, all)
  local old = e.f.wt
  local wt = pick(rng, { 0, 1, 2, 3, 4, 5, 6, 7 })
  if e.f.sub then e.f.raw = encode(e.f.sub); e.f.sub = nil end
  e.f.wt = wt
  return string.format('%s field %d wire type %d -> %d', e.ty, e.f.num, old, wt)
end

function mutations.field_number(all, rng)
  local e = pick(rng, all)
  local old = e.f.num
  e.f.num = pick(rng, { 0, 1, 2, 3, 4, 5, 7, 8, 9, 11, 12, 13, 14, 20, 536870911 })
  return string.format('%s field %d renumbered %d', e.ty, old, e.f.num)
end

function mutations.length(all, rng)
  local c = {}
  for _, e in ipairs(all) do if e.f.wt == 2 then c[#c + 1] = e end end
  if #c == 0 then return nil end
  local e = pick(rng, c)
  e.f.len_delta = pick(rng, { -1, 1, 2, -5, 100, 2 ^ 31, 2 ^ 33 })
  return string.format('%s field %d length off by %d', e.ty, e.f.num, e.f.len_delta)
end

function mutations.splice(all, rng, pool)
  local c = {}
  for _, e in ipairs(all) do if e.f.sub and pool[e.f.ty] and #pool[e.f.ty] > 0 then c[#c + 1] = e end end
  if #c == 0 then return nil end
  local e = pick(rng, c)
  local donor = pick(rng, pool[e.f.ty])
  e.f.sub = decode(donor, e.f.ty)
  if not e.f.sub then e.f.raw = donor end
  return string.format('spliced a %s from another model', e.f.ty)
end

-- A node's input renamed to an output of itself or a later node: a cycle.
function mutations.cycle(all, rng)
  local nodes = {}
  for _, e in ipairs(all) do if e.f.ty == 'node' and e.f.sub then nodes[#nodes + 1] = e.f end end
  if #nodes == 0 then return nil end
  local a = rng:int(1, #nodes)
  local b = rng:int(a, #nodes)
  local out
  for _, f in ipairs(nodes[b].sub) do if f.num == 2 then out = f.raw end end
  if not out then return nil end
  for _, f in ipairs(nodes[a].sub) do
    if f.num == 1 then f.raw = out; return string.format('node %d reads the output %q of node %d', a, out, b) end
  end
  return nil
end

local function bytes_mutation(s, rng)
  local what = rng:int(1, 5)
  local at = rng:int(1, math.max(1, #s))
  if what == 1 then return s:sub(1, at - 1), 'truncated at ' .. (at - 1) end
  if what == 2 then
    local b = s:byte(at) or 0
    return s:sub(1, at - 1) .. string.char(bit.bxor(b, bit.lshift(1, rng:int(0, 7)))) .. s:sub(at + 1), 'flipped a bit at ' .. at
  end
  if what == 3 then
    local ins = pick(rng, { '\255', '\0', '\128\128\128', '\255\255\255\255\255\255\255\255\255\255\1', '\8', '\18\255\255\255\255\15' })
    return s:sub(1, at - 1) .. ins .. s:sub(at), 'inserted bytes at ' .. at
  end
  if what == 4 then
    local n = rng:int(1, 16)
    return s:sub(1, at - 1) .. s:sub(at + n), string.format('deleted %d bytes at %d', n, at)
  end
  return s:sub(1, at - 1) .. string.char(rng:int(0, 255)) .. s:sub(at + 1), 'random byte at ' .. at
end

local WEIGHTED = { 'varint', 'varint', 'varint', 'varint', 'fixed', 'bytes', 'bytes', 'bytes', 'drop', 'drop',
  'repeat_field', 'swap', 'move', 'wire_type', 'field_number', 'length', 'splice', 'splice', 'cycle', 'cycle' }

-- pool: {type -> list of encoded messages} from every source model, for splicing.
function M.pool(models)
  local pool = {}
  for _, bytes in ipairs(models) do
    local tree = M.decode(bytes)
    for _, e in ipairs(tree and walk(tree, 'model', {}) or {}) do
      if e.f.sub and #e.f.raw < 4096 then
        pool[e.f.ty] = pool[e.f.ty] or {}
        table.insert(pool[e.f.ty], e.f.raw)
      end
    end
  end
  return pool
end

function M.mutate(bytes, rng, n, pool)
  local done = {}
  local tree = M.decode(bytes)
  if tree then
    local tries = 0
    while #done < n and tries < 20 * n do
      tries = tries + 1
      local all = walk(tree, 'model', {})
      if #all == 0 then break end
      local desc = mutations[pick(rng, WEIGHTED)](all, rng, pool)
      if desc then done[#done + 1] = desc end
    end
    bytes = encode(tree)
  end
  -- One in four cases also (or only, for an undecodable file) gets byte-level damage.
  if not tree or rng:int(1, 4) == 1 then
    local desc
    bytes, desc = bytes_mutation(bytes, rng)
    done[#done + 1] = desc
  end
  return bytes, done
end

return M
