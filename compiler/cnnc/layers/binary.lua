-- cnnc.layers.binary: elementwise Add, Subtract, Multiply, Divide and PReLU of two
-- operands with NumPy broadcasting; and for the ONNX importer Pow, Min, Max, Mod, the
-- comparisons and the logical operators.
--
-- The second operand is either a second input (a residual addition, a squeeze-and-excite
-- product) or a constant weight: `operand` (shape `operand_shape`) for the arithmetic
-- kinds, `alpha` for PReLU (Keras's PReLU weight; its shape defaults to the input's).
-- With `operand_first` the constant is the left operand (c - x, c / x). PReLU is
-- x < 0 ? alpha * x : x. The output shape is the broadcast of both; the C loop nest runs
-- over the output, each operand read with stride 0 along the axes it is stretched on, the
-- last axis innermost so that fused epilogue steps see their channel.

local ieee = require 'cnnc.ieee'
local nd = require 'cnnc.layers.nd'
local template = require 'cnnc.template'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

local function args(weight)
  return { rank = 0, args = {
    { weight .. '_shape', 'shape' },
    { 'operand_first', 'bool', default = false },
    { weight .. '_initializer', 'initializer', default = 'zeros' },
    { weight, 'values' },
  } }
end

M.kinds = {
  Add = args('operand'), Subtract = args('operand'), Multiply = args('operand'), Divide = args('operand'),
  PReLU = args('alpha'),
}
-- ONNX's other elementwise binary operators (importer only: no Keras layer means them).
for _, k in ipairs({ 'Pow', 'Min', 'Max', 'Mod', 'Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual',
  'And', 'Or', 'Xor' }) do
  M.kinds[k] = args('operand')
  M.kinds[k].internal = true
end
M.epilogue = true

local function bool(f) return function(a, b) return f(a, b) and 1 or 0 end end

-- ref(a, b) in double; c: the C expression over the operands u and v ($1, $2; each may
-- appear more than once: they are array reads). Min and Max keep NaN (cnnc.ieee); Mod is
-- C's fmod (ONNX's Mod with fmod = 1, the only form for floats); comparisons and logic
-- give 1 or 0, a nonzero operand being true.
local OPS = {
  Add = { ref = function(a, b) return a + b end, c = '$1 + $2' },
  Subtract = { ref = function(a, b) return a - b end, c = '$1 - $2' },
  Multiply = { ref = function(a, b) return a * b end, c = '$1 * $2' },
  Divide = { ref = function(a, b) return a / b end, c = '$1 / $2' },
  PReLU = { ref = function(x, s) return x < 0 and s * x or x end, c = '($1 < 0.0f ? $2 * $1 : $1)' },
  Pow = { ref = function(a, b) return a ^ b end, c = 'powf($1, $2)' },
  Min = { ref = ieee.min, c = '(($1 < $2 || $1 != $1) ? $1 : $2)' },
  Max = { ref = ieee.max, c = '(($1 > $2 || $1 != $1) ? $1 : $2)' },
  Mod = { ref = function(a, b) return math.fmod(a, b) end, c = 'fmodf($1, $2)' },
  Equal = { ref = bool(function(a, b) return a == b end), c = '($1 == $2 ? 1.0f : 0.0f)' },
  Less = { ref = bool(function(a, b) return a < b end), c = '($1 < $2 ? 1.0f : 0.0f)' },
  LessOrEqual = { ref = bool(function(a, b) return a <= b end), c = '($1 <= $2 ? 1.0f : 0.0f)' },
  Greater = { ref = bool(function(a, b) return a > b end), c = '($1 > $2 ? 1.0f : 0.0f)' },
  GreaterOrEqual = { ref = bool(function(a, b) return a >= b end), c = '($1 >= $2 ? 1.0f : 0.0f)' },
  And = { ref = bool(function(a, b) return a ~= 0 and b ~= 0 end), c = '($1 != 0.0f && $2 != 0.0f ? 1.0f : 0.0f)' },
  Or = { ref = bool(function(a, b) return a ~= 0 or b ~= 0 end), c = '($1 != 0.0f || $2 != 0.0f ? 1.0f : 0.0f)' },
  Xor = { ref = bool(function(a, b) return (a ~= 0) ~= (b ~= 0) end), c = '(($1 != 0.0f) != ($2 != 0.0f) ? 1.0f : 0.0f)' },
}

local function wname(node) return node.op == 'PReLU' and 'alpha' or 'operand' end

-- Shape of the second operand.
local function other_shape(node, in_shape)
  if #node.in_shapes >= 2 then return node.in_shapes[2] end
  local s = node.p[wname(node) .. '_shape']
  if not s and node.op == 'PReLU' then return in_shape end
  if not s then util.fail(node, '%s with one input needs %s_shape (the constant operand)', node.op, wname(node)) end
  return s
end

function M.shape(node, in_shape)
  if #node.in_shapes > 2 then util.fail(node, '%s takes one or two inputs, got %d', node.op, #node.in_shapes) end
  local b = other_shape(node, in_shape)
  local out = nd.broadcast(in_shape, b)
  if not out then
    util.fail(node, 'shapes %s and %s do not broadcast', util.shape_str(in_shape), util.shape_str(b))
  end
  if node.op == 'PReLU' and not util.shape_eq(out, in_shape) then
    util.fail(node, 'alpha of shape %s must broadcast to the input %s', util.shape_str(b), util.shape_str(in_shape))
  end
  return out
end

function M.weights(node, in_shape)
  if #node.in_shapes >= 2 then return {} end
  local w = wname(node)
  return { { name = w, shape = other_shape(node, in_shape), init = node.p[w .. '_initializer'] } }
end

function M.describe(node)
  if #node.inputs >= 2 then return 'of two inputs' end
  local s = util.shape_str(other_shape(node, node.in_shape))
  if node.op == 'PReLU' then return 'alpha ' .. s end
  return (node.p.operand_first and 'constant first, ' or 'with constant ') .. s
end

-- Left and right operand shapes and strides along the output.
local function operands(node)
  local out = node.shape
  local a, b = node.in_shape, other_shape(node, node.in_shape)
  local sa, sb = nd.broadcast_strides(a, out), nd.broadcast_strides(b, out)
  return sa, sb
end

function M.reference(node, x, W, ins)
  local y = tensor.new(node.shape, 'double')
  local other = ins[2] or W[wname(node)]
  local sa, sb = operands(node)
  local f = OPS[node.op].ref
  local first = node.p.operand_first
  local k = 0
  nd.each(node.shape, function(idx)
    local u, v = x.data[nd.offset(idx, sa)], other.data[nd.offset(idx, sb)]
    if first then u, v = v, u end
    y.data[k] = f(u, v)
    k = k + 1
  end)
  return y
end

function M.emit(node, E)
  local out = node.shape
  local sa, sb = operands(node)
  local so = nd.strides(out)
  local r = #out
  local c, ca, cb = out[r], sa[r], sb[r]
  local outer = {}
  for i = 1, r - 1 do outer[i] = out[i] end
  local lists = { {}, {}, {} }
  for i = 1, r - 1 do lists[1][i], lists[2][i], lists[3][i] = so[i], sa[i], sb[i] end
  local d, ls = nd.merge(outer, lists)
  local open, close = nd.c_loops(d)
  local params = { 'const float *restrict x' }
  local other
  if #node.inputs >= 2 then
    params[2] = 'const float *restrict x2'
    other = 'x2'
  else
    other = E:weight(node, wname(node))
  end
  local function at(p, stride) return stride == 0 and p .. '[0]' or (stride == 1 and p .. '[c]' or string.format('%s[c * %d]', p, stride)) end
  local u, v = at('a', ca), at('b', cb)
  if node.p.operand_first then u, v = v, u end
  local expr = OPS[node.op].c:gsub('%$1', u):gsub('%$2', v)
  return template.section('nd', 'binary', {
    fn = E:fn(node), comment = E:comment(node), params = table.concat(params, ', '),
    open = open, close = close, out_index = nd.c_index(ls[1]), a = 'x', a_index = nd.c_index(ls[2]),
    b = other, b_index = nd.c_index(ls[3]), C = c,
    store = E:store(node, 'y[c]', expr, 'c'), post = E:post(node, 'y', c),
  })
end

return M
