-- cnnc.layers.binary: elementwise Add, Subtract, Multiply, Divide, Maximum, Minimum,
-- Average and PReLU with NumPy broadcasting: Keras's merge layers and ONNX's arithmetic.
--
-- The operands are the layer's inputs (a residual addition, a squeeze-and-excite product;
-- Keras's merge layers take two or more, Subtract exactly two), or one input and a
-- constant weight: `operand` (shape `operand_shape`) for the arithmetic kinds, `alpha` for
-- PReLU (Keras's PReLU weight: the input's shape with 1 along `shared_axes`, or
-- `alpha_shape`). With `operand_first` the constant is the left operand (c - x, c / x).
-- Several operands combine left to right, as Keras does: ((a + b) + c); Average is that sum
-- divided by the count; Maximum and Minimum propagate NaN (cnnc.ieee). PReLU is
-- x < 0 ? alpha * x : x. The output shape is the broadcast of all; the C loop nest runs
-- over the output, each operand read with stride 0 along the axes it is stretched on, the
-- last axis innermost so that fused epilogue steps see their channel.

local args = require 'cnnc.args'
local ieee = require 'cnnc.ieee'
local nd = require 'cnnc.layers.nd'
local template = require 'cnnc.template'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

local function arith()
  return { rank = 0, args = {
    { 'operand_shape', 'shape' },
    { 'operand_first', 'bool', default = false },
    { 'operand_initializer', 'initializer', default = 'zeros' },
    { 'operand', 'values' },
  } }
end

local function merge() return { rank = 0, args = {} } end

M.kinds = {
  Add = arith(), Subtract = arith(), Multiply = arith(), Divide = arith(),
  Maximum = merge(), Minimum = merge(), Average = merge(),
  PReLU = { rank = 0, args = {
    { 'alpha_initializer', 'initializer', default = 'zeros' },
    { 'alpha_regularizer', 'ignored' }, { 'alpha_constraint', 'ignored' },
    { 'shared_axes', 'axes' },
    { 'alpha_shape', 'shape' },
    { 'alpha', 'values' },
  } },
}
M.epilogue = true

-- ref: the reference in double; c: the C expression of two operands (C text).
local OPS = {
  Add = { ref = function(a, b) return a + b end, c = function(a, b) return a .. ' + ' .. b end },
  Subtract = { ref = function(a, b) return a - b end, c = function(a, b) return a .. ' - ' .. b end },
  Multiply = { ref = function(a, b) return a * b end, c = function(a, b) return a .. ' * ' .. b end },
  Divide = { ref = function(a, b) return a / b end, c = function(a, b) return a .. ' / ' .. b end },
  Average = { ref = function(a, b) return a + b end, c = function(a, b) return a .. ' + ' .. b end },
  Maximum = { ref = ieee.max, c = function(a, b) return string.format('(%s > %s || %s != %s) ? %s : %s', a, b, a, a, a, b) end },
  Minimum = { ref = ieee.min, c = function(a, b) return string.format('(%s < %s || %s != %s) ? %s : %s', a, b, a, a, a, b) end },
  PReLU = { ref = function(x, s) return x < 0 and s * x or x end,
    c = function(x, s) return string.format('(%s < 0.0f ? %s * %s : %s)', x, s, x, x) end },
}

local function wname(node) return node.op == 'PReLU' and 'alpha' or 'operand' end

-- PReLU's alpha shape: the input's with 1 along the shared axes (Keras counts the batch
-- axis as 0, so axis k is item axis k).
local function alpha_shape(node, in_shape)
  if node.p.alpha_shape then return node.p.alpha_shape end
  local s = util.copy(in_shape)
  local shared = node.p.shared_axes
  if shared == nil then return s end
  if type(shared) == 'number' then shared = { shared } end
  for _, a in ipairs(shared) do
    if type(a) ~= 'number' or a ~= math.floor(a) or a < 1 or a > #in_shape then
      util.fail(node, 'shared_axes %s must list axes from 1 to %d of the input %s (axis 0 is the batch)',
        args.describe(node.p.shared_axes), #in_shape, util.shape_str(in_shape))
    end
    s[a] = 1
  end
  return s
end

-- The constant operand's shape (a layer of one input).
local function constant_shape(node, in_shape)
  if node.op == 'PReLU' then return alpha_shape(node, in_shape) end
  local s = node.p.operand_shape
  if not s then
    util.fail(node, '%s needs two or more inputs: call it on a list of tensors, nn.%s{}{a, b}%s', node.op, node.op,
      M.kinds[node.op].args[1] and ' (or give operand_shape for a constant operand)' or '')
  end
  return s
end

-- Shapes of all operands in order (inputs, or the input and the constant).
local function operand_shapes(node)
  if #node.in_shapes >= 2 then return node.in_shapes end
  local s = { node.in_shapes[1], constant_shape(node, node.in_shapes[1]) }
  if node.p.operand_first then s[1], s[2] = s[2], s[1] end
  return s
end

function M.shape(node, in_shape)
  local n = #node.in_shapes
  if (node.op == 'Subtract' or node.op == 'Divide' or node.op == 'PReLU') and n > 2 then
    util.fail(node, '%s takes one or two inputs, got %d', node.op, n)
  end
  local shapes = operand_shapes(node)
  local out = shapes[1]
  for i = 2, #shapes do
    local b = nd.broadcast(out, shapes[i])
    if not b then
      local t = {}
      for k, s in ipairs(shapes) do t[k] = util.shape_str(s) end
      util.fail(node, 'shapes %s do not broadcast', table.concat(t, ' and '))
    end
    out = b
  end
  if node.op == 'PReLU' and not util.shape_eq(out, in_shape) then
    util.fail(node, 'alpha of shape %s must broadcast to the input %s', util.shape_str(shapes[2]), util.shape_str(in_shape))
  end
  return out
end

function M.weights(node, in_shape)
  if #node.in_shapes >= 2 then return {} end
  local w = wname(node)
  return { { name = w, shape = constant_shape(node, in_shape), init = node.p[w .. '_initializer'] } }
end

function M.describe(node)
  if #node.inputs >= 2 then return #node.inputs == 2 and 'of two inputs' or string.format('of %d inputs', #node.inputs) end
  local s = util.shape_str(constant_shape(node, node.in_shape))
  if node.op == 'PReLU' then return 'alpha ' .. s end
  return (node.p.operand_first and 'constant first, ' or 'with constant ') .. s
end

-- Strides of each operand along the output, in operand order.
local function strides(node)
  local t = {}
  for k, s in ipairs(operand_shapes(node)) do t[k] = nd.broadcast_strides(s, node.shape) end
  return t
end

-- The operand tensors in order (inputs, or the input and the constant weight).
local function operand_values(node, W, ins)
  if #node.inputs >= 2 then return ins end
  local t = { ins[1], W[wname(node)] }
  if node.p.operand_first then t[1], t[2] = t[2], t[1] end
  return t
end

function M.reference(node, _, W, ins)
  local y = tensor.new(node.shape, 'double')
  local vals, st = operand_values(node, W, ins), strides(node)
  local f = OPS[node.op].ref
  local k = 0
  nd.each(node.shape, function(idx)
    local v = vals[1].data[nd.offset(idx, st[1])]
    for i = 2, #vals do v = f(v, vals[i].data[nd.offset(idx, st[i])]) end
    if node.op == 'Average' then v = v / #vals end
    y.data[k] = v
    k = k + 1
  end)
  return y
end

function M.emit(node, E)
  local out = node.shape
  local st = strides(node)
  local so = nd.strides(out)
  local r = #out
  local outer = {}
  for i = 1, r - 1 do outer[i] = out[i] end
  local lists = { {} }
  for i = 1, r - 1 do lists[1][i] = so[i] end
  for k, s in ipairs(st) do
    lists[k + 1] = {}
    for i = 1, r - 1 do lists[k + 1][i] = s[i] end
  end
  local d, ls = nd.merge(outer, lists)
  local open, close = nd.c_loops(d)
  -- Each operand: its parameter or weight array, and a pointer to its row.
  local params, pointers, reads = {}, {}, {}
  local sources = {}
  if #node.inputs >= 2 then
    for k = 1, #node.inputs do
      sources[k] = k == 1 and 'x' or ('x' .. k)
      params[k] = 'const float *restrict ' .. sources[k]
    end
  else
    params[1] = 'const float *restrict x'
    sources = { 'x', E:weight(node, wname(node)) }
    if node.p.operand_first then sources[1], sources[2] = sources[2], sources[1] end
  end
  for k, src in ipairs(sources) do
    local p = k == 1 and 'a' or (k == 2 and 'b' or ('a' .. k))
    pointers[k] = string.format('const float *%s = &%s[%s];', p, src, nd.c_index(ls[k + 1]))
    local stride = st[k][r]
    reads[k] = stride == 0 and p .. '[0]' or (stride == 1 and p .. '[c]' or string.format('%s[c * %d]', p, stride))
  end
  local op = OPS[node.op]
  local store
  if #reads == 2 then
    local e = op.c(reads[1], reads[2])
    if node.op == 'Average' then e = '(' .. e .. ') / 2.0f' end
    store = E:store(node, 'y[c]', e, 'c')
  else
    -- several operands: a running value, combined left to right
    local lines = { 'float acc = ' .. reads[1] .. ';' }
    for k = 2, #reads do lines[#lines + 1] = 'acc = ' .. op.c('acc', reads[k]) .. ';' end
    local e = node.op == 'Average' and string.format('acc / %d.0f', #reads) or 'acc'
    lines[#lines + 1] = E:store(node, 'y[c]', e, 'c')
    store = table.concat(lines, '\n')
  end
  return template.section('nd', 'binary', {
    fn = E:fn(node), comment = E:comment(node), params = table.concat(params, ', '),
    open = open, close = close, out_index = nd.c_index(ls[1]), operands = table.concat(pointers, '\n'), C = out[r],
    store = store, post = E:post(node, 'y', out[r]),
  })
end

return M
