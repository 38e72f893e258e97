-- cnnc.onnx.model: the subset of onnx.proto that models use, decoded into Lua tables.
--
--   model = {ir_version, opsets = {[domain] = version}, producer, graph}
--   graph = {name, nodes, initializers, inputs, outputs}        (value_info is skipped)
--   node  = {name, op_type, domain, inputs = {names}, outputs = {names}, attrs = {name -> attr}}
--   attr  = {name, type, f | i | s | t | floats | ints | strings}   (subgraphs: has_graph)
--   value = {name, elem_type, dims = {n | string (symbolic) | false (unknown)}, kind}
--   tensor proto = {name, dims, data_type, ...where its data lies in the file}
-- `M.values(tp)` turns a tensor proto into a cnnc tensor ('float' for float types, 'double'
-- for integers and booleans), checking that its data matches its dims; data kept in an
-- external file is read through cnnc.onnx.external. Strings and complex numbers are
-- rejected with a message saying so. Nothing here knows what an operator means;
-- cnnc.onnx.importer does.

local ffi = require 'ffi'
local external = require 'cnnc.onnx.external'
local pb = require 'cnnc.onnx.protobuf'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

-- TensorProto.DataType: name, bytes per element in raw_data, ctype of raw_data.
M.TYPES = {
  [1] = { 'float32', 4, 'float' }, [2] = { 'uint8', 1, 'uint8_t' }, [3] = { 'int8', 1, 'int8_t' },
  [4] = { 'uint16', 2, 'uint16_t' }, [5] = { 'int16', 2, 'int16_t' }, [6] = { 'int32', 4, 'int32_t' },
  [7] = { 'int64', 8, 'int64_t' }, [8] = { 'string' }, [9] = { 'bool', 1, 'uint8_t' },
  [10] = { 'float16', 2, 'uint16_t' }, [11] = { 'float64', 8, 'double' }, [12] = { 'uint32', 4, 'uint32_t' },
  [13] = { 'uint64', 8, 'uint64_t' }, [14] = { 'complex64' }, [15] = { 'complex128' }, [16] = { 'bfloat16', 2, 'uint16_t' },
}

function M.type_name(t)
  local e = M.TYPES[t]
  return e and e[1] or ('type ' .. tostring(t))
end

local function tensor_proto(s, i, j)
  local t = { dims = {}, data_type = 0, name = '', float_data = {}, int_data = {}, double_data = {} }
  for f, w, a, b in pb.fields(s, i, j) do
    if f == 1 then pb.repeated(t.dims, s, w, a, b, 'varint')
    elseif f == 2 and w == 0 then t.data_type = a
    elseif f == 4 then t.float_data[#t.float_data + 1] = { w, a, b }
    elseif f == 5 or f == 7 or f == 11 then t.int_data[#t.int_data + 1] = { w, a, b }
    elseif f == 10 then t.double_data[#t.double_data + 1] = { w, a, b }
    elseif f == 6 and w == 2 then t.has_strings = true
    elseif f == 8 and w == 2 then t.name = pb.string(s, a, b)
    elseif f == 9 and w == 2 then t.raw = { a, b }
    elseif f == 13 and w == 2 then
      local kv = { '', '' }
      for f2, w2, a2, b2 in pb.fields(s, a, b) do
        if f2 == 1 and w2 == 2 then kv[1] = pb.string(s, a2, b2)
        elseif f2 == 2 and w2 == 2 then kv[2] = pb.string(s, a2, b2) end
      end
      t.external_data = t.external_data or {}
      t.external_data[#t.external_data + 1] = kv
    elseif f == 14 and w == 0 then t.data_location = a
    elseif f == 3 and w == 2 then t.segment = true
    end
  end
  t.s = s
  return t
end

-- TypeProto: only tensor types carry what cnnc needs; others are named by kind.
local function type_proto(s, i, j, v)
  for f, w, a, b in pb.fields(s, i, j) do
    if f == 1 and w == 2 then
      v.kind = 'tensor'
      for f2, w2, a2, b2 in pb.fields(s, a, b) do
        if f2 == 1 and w2 == 0 then v.elem_type = a2
        elseif f2 == 2 and w2 == 2 then
          v.dims = {}
          for f3, w3, a3, b3 in pb.fields(s, a2, b2) do
            if f3 == 1 and w3 == 2 then
              local d = false
              for f4, w4, a4, b4 in pb.fields(s, a3, b3) do
                if f4 == 1 and w4 == 0 then d = a4
                elseif f4 == 2 and w4 == 2 then d = pb.string(s, a4, b4) end
              end
              v.dims[#v.dims + 1] = d
            end
          end
        end
      end
    elseif f == 4 and w == 2 then v.kind = 'sequence'
    elseif f == 5 and w == 2 then v.kind = 'map'
    elseif f == 8 and w == 2 then v.kind = 'sparse tensor'
    elseif f == 9 and w == 2 then v.kind = 'optional'
    end
  end
end

local function value_info(s, i, j)
  local v = { name = '', kind = 'unknown' }
  for f, w, a, b in pb.fields(s, i, j) do
    if f == 1 and w == 2 then v.name = pb.string(s, a, b)
    elseif f == 2 and w == 2 then type_proto(s, a, b, v) end
  end
  return v
end

local ATTR_TYPES = { 'FLOAT', 'INT', 'STRING', 'TENSOR', 'GRAPH', 'FLOATS', 'INTS', 'STRINGS', 'TENSORS', 'GRAPHS',
  'SPARSE_TENSOR', 'SPARSE_TENSORS', 'TYPE_PROTO', 'TYPE_PROTOS' }

local function attribute(s, i, j)
  local at = { name = '' }
  local kind
  for f, w, a, b in pb.fields(s, i, j) do
    if f == 1 and w == 2 then at.name = pb.string(s, a, b)
    elseif f == 20 and w == 0 then kind = ATTR_TYPES[a]
    elseif f == 2 and w == 5 then at.f = pb.float32(s, a)
    elseif f == 3 and w == 0 then at.i = a
    elseif f == 4 and w == 2 then at.s = pb.string(s, a, b)
    elseif f == 5 and w == 2 then
      -- its own copy of the bytes: a tensor proto keeps the text it points into alive, and
      -- the whole file's must be freed once the initializers are read
      local sub = s:sub(a, b)
      at.t = tensor_proto(sub, 1, #sub)
    elseif f == 6 or f == 11 then at.has_graph = true
    elseif f == 7 then at.floats = pb.repeated(at.floats or {}, s, w, a, b, 'float')
    elseif f == 8 then at.ints = pb.repeated(at.ints or {}, s, w, a, b, 'varint')
    elseif f == 9 and w == 2 then at.strings = at.strings or {}; at.strings[#at.strings + 1] = pb.string(s, a, b)
    elseif f == 10 and w == 2 then at.tensors = true
    elseif f == 21 and w == 2 then at.ref_attr_name = pb.string(s, a, b)
    end
  end
  -- Old writers leave `type` out: the field present says it.
  if not kind then
    kind = (at.f and 'FLOAT') or (at.i and 'INT') or (at.s and 'STRING') or (at.t and 'TENSOR')
      or (at.floats and 'FLOATS') or (at.ints and 'INTS') or (at.strings and 'STRINGS')
      or (at.has_graph and 'GRAPH') or 'UNDEFINED'
  end
  at.type = kind
  at.floats = at.floats or (kind == 'FLOATS' and {} or nil)
  at.ints = at.ints or (kind == 'INTS' and {} or nil)
  return at
end

local function node_proto(s, i, j)
  local n = { inputs = {}, outputs = {}, name = '', op_type = '', domain = '', attrs = {} }
  for f, w, a, b in pb.fields(s, i, j) do
    if w == 2 then
      if f == 1 then n.inputs[#n.inputs + 1] = pb.string(s, a, b)
      elseif f == 2 then n.outputs[#n.outputs + 1] = pb.string(s, a, b)
      elseif f == 3 then n.name = pb.string(s, a, b)
      elseif f == 4 then n.op_type = pb.string(s, a, b)
      elseif f == 7 then n.domain = pb.string(s, a, b)
      elseif f == 5 then
        local at = attribute(s, a, b)
        n.attrs[at.name] = at
      end
    end
  end
  return n
end

local function graph_proto(s, i, j)
  local g = { name = '', nodes = {}, initializers = {}, inputs = {}, outputs = {} }
  for f, w, a, b in pb.fields(s, i, j) do
    if w == 2 then
      if f == 1 then g.nodes[#g.nodes + 1] = node_proto(s, a, b)
      elseif f == 2 then g.name = pb.string(s, a, b)
      elseif f == 5 then g.initializers[#g.initializers + 1] = tensor_proto(s, a, b)
      elseif f == 15 then g.has_sparse = true
      elseif f == 11 then g.inputs[#g.inputs + 1] = value_info(s, a, b)
      elseif f == 12 then g.outputs[#g.outputs + 1] = value_info(s, a, b)
      end
    end
  end
  return g
end

local function model_proto(s)
  local m = { opsets = {}, ir_version = 0, producer = '' }
  local graphs = 0
  for f, w, a, b in pb.fields(s, 1, #s) do
    if f == 1 and w == 0 then m.ir_version = a
    elseif f == 2 and w == 2 then m.producer = pb.string(s, a, b)
    elseif f == 3 and w == 2 then m.producer_version = pb.string(s, a, b)
    elseif f == 7 and w == 2 then
      m.graph = graph_proto(s, a, b)
      graphs = graphs + 1
    elseif f == 8 and w == 2 then
      local domain, version = '', 0
      for f2, w2, a2, b2 in pb.fields(s, a, b) do
        if f2 == 1 and w2 == 2 then domain = pb.string(s, a2, b2)
        elseif f2 == 2 and w2 == 0 then version = a2 end
      end
      if domain == 'ai.onnx' then domain = '' end
      m.opsets[domain] = version
    end
  end
  if graphs ~= 1 then pb.fail(1, graphs == 0 and 'no graph in the file (is it an ONNX model?)' or 'more than one graph') end
  return m
end

-- Runs a decoder, turning wire-format errors into a cnnc error naming the file.
local function decode(path, what, f, ...)
  local args = { ... }
  local ok, res = pcall(function() return f(unpack(args)) end)
  if ok then return res end
  if pb.is_malformed(res) then
    util.fail({ file = path }, 'not a valid %s (truncated or corrupt file?): %s at byte %d', what, res.message, res.pos)
  end
  error(res, 0)
end

local function read_all(path)
  local s, err = util.read_file(path)
  if not s then util.fail({ file = path }, 'cannot read: %s', tostring(err)) end
  return s
end

-- Reads an .onnx file. Raises a cnnc error on anything but a well-formed model.
function M.read(path)
  local s = read_all(path)
  if #s == 0 then util.fail({ file = path }, 'empty file, not an ONNX model') end
  local m = decode(path, 'ONNX model', model_proto, s)
  m.path = path
  return m
end

-- Reads a serialised TensorProto (.pb, as in ONNX's test data) into a cnnc tensor.
function M.read_tensor(path)
  local s = read_all(path)
  local tp = decode(path, 'TensorProto file', tensor_proto, s, 1, #s)
  return M.values(tp, path), tp
end

-- IEEE half and bfloat16 bit patterns to numbers.
local function half(h)
  local sign = h >= 32768 and -1 or 1
  h = h % 32768
  local e, m = math.floor(h / 1024), h % 1024
  if e == 0 then return sign * m * 2 ^ -24 end
  if e == 31 then return m == 0 and sign * math.huge or 0 / 0 end
  return sign * (1 + m / 1024) * 2 ^ (e - 15)
end

local bf = ffi.new('union { uint32_t u; float f; }')
local function bfloat16(h)
  bf.u = h * 65536
  return tonumber(bf.f)
end

local MAX_ELEMENTS = 2 ^ 31

-- The tensor a TensorProto holds: float32/float16/bfloat16 as 'float' tensors, float64 and
-- integer types as 'double' ones (int64 values exact up to 2^53). `where` names the file or
-- the tensor in errors.
function M.values(tp, where)
  local loc = { file = type(where) == 'string' and where or nil }
  local name = tp.name ~= '' and ("tensor '" .. tp.name .. "'") or 'a tensor'
  local entry = M.TYPES[tp.data_type]
  if tp.data_location and tp.data_location ~= 0 and tp.data_location ~= 1 then
    util.fail(loc, '%s has data_location %d, which is neither DEFAULT (0) nor EXTERNAL (1)', name, tp.data_location)
  end
  if tp.segment then util.fail(loc, '%s is segmented, which cnnc does not support', name) end
  if not entry or not entry[2] or tp.has_strings then
    util.fail(loc, '%s has element type %s, which cnnc cannot use as numbers', name, M.type_name(tp.data_type))
  end
  local n = 1
  for _, d in ipairs(tp.dims) do
    if d < 0 then util.fail(loc, '%s has a negative dimension %d', name, d) end
    n = n * d
  end
  if n > MAX_ELEMENTS then util.fail(loc, '%s has %.0f elements, too many', name, n) end
  local is_float = tp.data_type == 1 or tp.data_type == 10 or tp.data_type == 16
  local s = tp.s
  local dt, size, ctype = tp.data_type, entry[2], entry[3]
  local t
  -- The data is checked against the dims before anything that big is allocated. Raw and
  -- external data are the same bytes: `fill` copies them to a pointer.
  local bytes, fill
  if tp.data_location == 1 then
    -- (raw_data beside external data is ignored, as onnx's own loader ignores it)
    local ref = external.locate(tp, loc.file, name)
    if ref.length ~= n * size then
      util.fail(loc, '%s: its external data (%s, offset %d) has %d bytes%s, but %d %s elements need %d', name, ref.location,
        ref.offset, ref.length, ref.length_given and '' or ' (no length given: to the end of the file)', n, entry[1], n * size)
    end
    bytes, fill = ref.length, function(dst) external.read(ref, dst, name, loc.file) end
  elseif tp.raw then
    local a, b = tp.raw[1], tp.raw[2]
    if b - a + 1 ~= n * size then
      util.fail(loc, '%s: raw_data has %d bytes, but %d %s elements need %d', name, b - a + 1, n, entry[1], n * size)
    end
    bytes, fill = b - a + 1, function(dst) ffi.copy(dst, ffi.cast('const char *', s) + a - 1, b - a + 1) end
  end
  if bytes then
    t = tensor.new(tp.dims, is_float and 'float' or 'double')
    t.onnx_type = tp.data_type
    if not ffi.abi('le') then util.fail(loc, 'reading raw_data needs a little-endian host') end
    if dt == 1 then
      fill(t.data)
      pb.canonicalize(t.data, n)
    else
      local buf = ffi.new(ctype .. '[?]', math.max(n, 1))
      fill(buf)
      if dt == 11 then pb.canonicalize(buf, n, true) end
      local conv = (dt == 10 and half) or (dt == 16 and bfloat16) or nil
      for k = 0, n - 1 do
        local v = tonumber(buf[k])
        t.data[k] = conv and conv(v) or v
      end
    end
    return t
  end
  local vals = {}
  if dt == 1 then
    for _, r in ipairs(tp.float_data) do pb.repeated(vals, s, r[1], r[2], r[3], 'float') end
  elseif dt == 11 then
    for _, r in ipairs(tp.double_data) do pb.repeated(vals, s, r[1], r[2], r[3], 'double') end
  else
    for _, r in ipairs(tp.int_data) do pb.repeated(vals, s, r[1], r[2], r[3], 'varint') end
  end
  if #vals ~= n then
    util.fail(loc, '%s: %d values stored, but its dims %s need %d%s', name, #vals, util.shape_str(tp.dims), n,
      tp.external_data and ' (it has external_data entries, but its data_location is not EXTERNAL)' or '')
  end
  t = tensor.new(tp.dims, is_float and 'float' or 'double')
  t.onnx_type = tp.data_type
  for k = 1, n do
    local v = vals[k]
    if dt == 10 then v = half(v % 65536) elseif dt == 16 then v = bfloat16(v % 65536)
    elseif dt == 2 or dt == 4 or dt == 9 then v = v % ({ [2] = 256, [4] = 65536, [9] = 256 })[dt]
    elseif dt == 3 then v = (v + 128) % 256 - 128
    elseif dt == 5 then v = (v + 32768) % 65536 - 32768
    elseif dt == 6 then v = (v + 2 ^ 31) % 2 ^ 32 - 2 ^ 31
    end
    t.data[k - 1] = v
  end
  return t
end

return M
