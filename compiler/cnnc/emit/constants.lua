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

-- The weights of a blob model, gathered in a growing float32 array: a Lua table of them
-- would stop at LuaJIT's limit of 2^27 elements ("table overflow").
function M.blob_new(symbol)
  return { buf = ffi.new('float[?]', 1024), cap = 1024, n = 0, symbol = symbol }
end

local function blob_append(blob, values, count)
  local need = blob.n + count + 16
  if need > blob.cap then
    local cap = math.max(need, 2 * blob.cap)
    local buf = ffi.new('float[?]', cap)
    ffi.copy(buf, blob.buf, 4 * blob.n)
    blob.buf, blob.cap = buf, cap
  end
  local offset = blob.n
  for i = 1, count do blob.buf[offset + i - 1] = values(i) end
  -- Keep every array 64-byte aligned inside the blob (the new buffer is zero-filled).
  blob.n = offset + count + (16 - count % 16) % 16
  return offset
end

-- A constant float array: C99 hex-float literals in the file, or, when the weights go to a
-- blob, a macro naming its place in the blob. values(i) gives the i-th value (1-based).
local function array_text(cname, values, count, comment, blob)
  if blob then
    local offset = blob_append(blob, values, count)
    return string.format('#define %s (cnnc_blob + %d) /* %s, %d floats */', cname, offset,
      util.c_comment(comment), count)
  end
  local lines, row = {}, {}
  for i = 1, count do
    row[#row + 1] = M.float_literal(values(i))
    if #row == 8 then lines[#lines + 1] = table.concat(row, ', ') .. ','; row = {} end
  end
  if #row > 0 then lines[#lines + 1] = table.concat(row, ', ') .. ',' end
  return template.section('model', 'weights', {
    comment = util.c_comment(comment), cname = cname, count = count, values = table.concat(lines, '\n') })
end

M.array_text = array_text

-- The texts of the weights section (a blob's declaration first), given the graph, the
-- emit context after every layer was emitted, and the blob (or nil).
function M.section(g, E, blob)
  local out = {}
  for _, n in ipairs(g.nodes) do
    for _, w in ipairs(n.weights or {}) do
      local cname = util.c_ident(n.name) .. '_' .. w.name
      if E.used_weights[cname] then
        local t = w.tensor
        out[#out + 1] = array_text(cname, function(i) return t.data[i - 1] end, t.n,
          string.format('%s.%s %s', n.name, w.name, util.shape_str(t.shape)), blob)
      end
    end
    for _, c in ipairs(epilogue.c_constants(n.epilogue, n.shape[#n.shape], E.affine)) do
      out[#out + 1] = array_text(c.name, function(i) return c.values[i] end, #c.values, c.comment, blob)
    end
  end
  for _, c in ipairs(E.constants) do
    out[#out + 1] = array_text(c.name, function(i) return c.values[i] end, #c.values, c.comment, blob)
  end
  if blob then
    table.insert(out, 1, template.section('model', 'blob', { name = g.name, symbol = blob.symbol, floats = blob.n }))
  end
  return out
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
