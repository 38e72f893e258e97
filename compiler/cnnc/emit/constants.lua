-- cnnc.emit.constants: the weights section of a generated file.
--
-- Every constant array the layer functions read, in a fixed order: per node, the weights
-- the code asked for (cnnc.emit.context: E:weight) and the batch-norm scale/shift arrays of
-- its epilogue that the code reads; then the arrays the layers derived while emitting
-- (packed kernels, padded bias, window tables) in the order they were made. Each is C99
-- hex-float literals (bit-exact), or, for a blob model, a macro naming its place in the
-- float32 blob linked in beside the code.

local ffi = require 'ffi'
local epilogue = require 'cnnc.epilogue'
local template = require 'cnnc.template'
local util = require 'cnnc.util'

local M = {}

function M.float_literal(v)
  if v == 0 then return (1 / v < 0) and '-0x0p+0f' or '0x0p+0f' end
  return string.format('%a', v) .. 'f'
end

-- (pcall: another module may have declared them.)
pcall(ffi.cdef, 'void *calloc(size_t n, size_t size);')
pcall(ffi.cdef, 'void free(void *p);')

-- The weights of a blob model: one float32 array of `cap` floats (the exact total, counted
-- before anything is written, so it never grows: a Lua table of them would also stop at
-- LuaJIT's limit of 2^27 elements). From calloc, not ffi.new, which stops short of 2 GB
-- (vit_h_14's weights are 2.5 GB); freed when the blob is collected.
function M.blob_new(symbol, cap)
  local p = ffi.C.calloc(math.max(cap, 16), 4)
  if p == nil then util.fail(nil, 'out of memory for the weight blob (%.0f floats)', cap) end
  return { buf = ffi.gc(ffi.cast('float *', p), ffi.C.free), cap = cap, n = 0, symbol = symbol }
end

-- Floats an array of count takes in the blob: every array starts 64-byte aligned.
local function blob_floats(count) return count + (16 - count % 16) % 16 end

-- Reserves count floats of the blob (zero-filled); returns the offset.
local function blob_reserve(blob, count)
  local offset = blob.n
  blob.n = offset + blob_floats(count)
  assert(blob.n <= blob.cap, 'cnnc: the weight blob overflows its count')
  return offset
end

local function blob_define(cname, offset, count, comment)
  return string.format('#define %s (cnnc_blob + %d) /* %s, %d floats */', cname, offset, util.c_comment(comment), count)
end

-- A constant float array as C99 hex-float literals; values(i) gives the i-th value (1-based).
local function literal_text(cname, values, count, comment)
  local lines, row = {}, {}
  for i = 1, count do
    row[#row + 1] = M.float_literal(values(i))
    if #row == 8 then lines[#lines + 1] = table.concat(row, ', ') .. ','; row = {} end
  end
  if #row > 0 then lines[#lines + 1] = table.concat(row, ', ') .. ',' end
  return template.section('model', 'weights', {
    comment = util.c_comment(comment), cname = cname, count = count, values = table.concat(lines, '\n') })
end

-- An array given by a function value(i) (1-based).
local function array_text(cname, values, count, comment, blob)
  if blob then
    local offset = blob_reserve(blob, count)
    for i = 1, count do blob.buf[offset + i - 1] = values(i) end
    return blob_define(cname, offset, count, comment)
  end
  return literal_text(cname, values, count, comment)
end

M.array_text = array_text

-- An array given as a float buffer (cdata) of count values.
local function buffer_text(cname, buf, count, comment, blob)
  if blob then
    local offset = blob_reserve(blob, count)
    ffi.copy(blob.buf + offset, buf, 4 * count)
    return blob_define(cname, offset, count, comment)
  end
  return literal_text(cname, function(i) return buf[i - 1] end, count, comment)
end

-- A constant of E:constant: a list, or a fill function writing straight into the blob.
local function constant_text(c, blob)
  if c.values then return array_text(c.name, function(i) return c.values[i] end, #c.values, c.comment, blob) end
  if blob then
    local offset = blob_reserve(blob, c.count)
    c.fill(blob.buf + offset)
    return blob_define(c.name, offset, c.count, c.comment)
  end
  local buf = ffi.new('float[?]', math.max(c.count, 1))
  c.fill(buf)
  return literal_text(c.name, function(i) return buf[i - 1] end, c.count, c.comment)
end

-- The arrays of the weights section, in order: {kind, name, ...} records, so the blob's
-- size is known before anything is written.
local function arrays(g, E)
  local list = {}
  for _, n in ipairs(g.nodes) do
    for _, w in ipairs(n.weights or {}) do
      local cname = util.c_ident(n.name) .. '_' .. w.name
      if E.used_weights[cname] then
        list[#list + 1] = { tensor = w.tensor, name = cname, count = w.tensor.n,
          comment = string.format('%s.%s %s', n.name, w.name, util.shape_str(w.tensor.shape)) }
      end
    end
    for _, c in ipairs(epilogue.c_constants(n.epilogue, n.shape[#n.shape], E.affine)) do
      list[#list + 1] = { constant = { name = c.name, values = c.values, comment = c.comment }, count = #c.values }
    end
  end
  for _, c in ipairs(E.constants) do list[#list + 1] = { constant = c, count = c.count or #c.values } end
  return list
end

-- The texts of the weights section (a blob's declaration first), given the graph and the
-- emit context after every layer was emitted. With `symbol` (the blob's linker symbol) the
-- values go to a blob, returned second: {buf = float array, n = floats}.
function M.section(g, E, symbol)
  local list = arrays(g, E)
  local blob
  if symbol then
    local total = 0
    for _, a in ipairs(list) do total = total + blob_floats(a.count) end
    blob = M.blob_new(symbol, total)
  end
  local out = {}
  for _, a in ipairs(list) do
    if a.tensor then
      local t = a.tensor
      if t.ctype == 'float' then
        out[#out + 1] = buffer_text(a.name, t.data, t.n, a.comment, blob)
      else
        out[#out + 1] = array_text(a.name, function(i) return t.data[i - 1] end, t.n, a.comment, blob)
      end
    else
      out[#out + 1] = constant_text(a.constant, blob)
    end
  end
  if blob then
    table.insert(out, 1, template.section('model', 'blob', { name = g.name, symbol = blob.symbol, floats = blob.n }))
  end
  return out, blob
end

-- Number of floats of constant data a planned graph would emit (weights in use are not
-- known before emitting, so this counts all weights and Winograd kernels: an upper bound).
function M.weight_floats(g)
  local n = 0
  for _, node in ipairs(g.nodes) do
    for _, w in ipairs(node.weights or {}) do n = n + w.tensor.n end
    -- A Winograd layer's transformed kernel is (m+2)^2/9 times bigger.
    local sel = node.sel
    if sel and sel.kernel == 'winograd' then n = n + sel.plan.P * sel.plan.C * sel.plan.Kp end
  end
  return n
end

return M
