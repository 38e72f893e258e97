-- cnnc.layers.integer: IntegerWrap, the step that makes float32 arithmetic on integer
-- tensors give what integer arithmetic gives (the ONNX importer puts it after Add, Sub,
-- Mul and Div of 8-bit integer tensors).
--
-- Values arrive as the exact float32 result of the operation (every sum, difference and
-- product of two 8-bit integers is below 2^24, so exact). With `truncate` (division) the
-- quotient is first rounded toward zero, as C's integer division does; for operands below
-- 2^12 a float32 quotient is never close enough to an integer to round across it. Then the
-- value wraps modulo 2^bits into the type's range: [0, 2^bits) unsigned, [-2^(bits-1),
-- 2^(bits-1)) signed. A non-finite value (a division by zero) becomes 0, as NumPy's
-- integer division gives.

local template = require 'cnnc.template'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

M.kinds = { IntegerWrap = { rank = 0, args = {
  { 'bits', 'int', default = 8 },
  { 'signed', 'bool', default = false },
  { 'truncate', 'bool', default = false },
} } }
M.inplace = true

function M.shape(node, in_shape)
  if node.p.bits < 1 or node.p.bits > 16 then util.fail(node, 'bits must be 1 to 16, got %d', node.p.bits) end
  return util.copy(in_shape)
end

function M.describe(node)
  return string.format('%s%d%s', node.p.signed and 'int' or 'uint', node.p.bits, node.p.truncate and ', truncated' or '')
end

-- v wrapped as p = {bits, signed, truncate} says (also what the importer folds constants with).
local function wrap(v, p)
  if v ~= v or v == math.huge or v == -math.huge then return 0 end
  if p.truncate then v = v < 0 and math.ceil(v) or math.floor(v) end
  local m = 2 ^ p.bits
  local shift = p.signed and m / 2 or 0
  return (v + shift) - m * math.floor((v + shift) / m) - shift
end

M.wrap = wrap

function M.reference(node, x)
  local y = tensor.new(node.shape, 'double')
  for i = 0, y.n - 1 do y.data[i] = wrap(x.data[i], node.p) end
  return y
end

function M.emit(node, E)
  local m = 2 ^ node.p.bits
  return template.section('integer', 'wrap', { fn = E:fn(node), comment = E:comment(node), N = util.prod(node.shape),
    truncate = node.p.truncate and 'v = truncf(v);' or '',
    SHIFT = util.c_float(node.p.signed and m / 2 or 0), MOD = util.c_float(m), INV = util.c_float(1 / m) })
end

return M
