-- cnnc.layers.binary: elementwise Add, Subtract, Multiply, Divide and PReLU of two
-- operands with NumPy broadcasting.
--
-- The second operand is either a second input (a residual addition, a squeeze-and-excite
-- product) or a constant weight: `operand` (shape `operand_shape`) for the arithmetic
-- kinds, `alpha` for PReLU (Keras's PReLU weight; its shape defaults to the input's).
-- With `operand_first` the constant is the left operand (c - x, c / x). PReLU is
-- x < 0 ? alpha * x : x. The output shape is the broadcast of both; the C loop nest runs
-- over the output, each operand read with stride 0 along the axes it is stretched on, the
-- last axis innermost so that fused epilogue steps see their channel.

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
M.epilogue = true

-- grad(a, b): the partial derivatives of the result by the left and the right operand.
local OPS = {
  Add = { ref = function(a, b) return a + b end, c = '%s + %s', grad = function() return 1, 1 end },
  Subtract = { ref = function(a, b) return a - b end, c = '%s - %s', grad = function() return 1, -1 end },
  Multiply = { ref = function(a, b) return a * b end, c = '%s * %s', grad = function(a, b) return b, a end },
  Divide = { ref = function(a, b) return a / b end, c = '%s / %s', grad = function(a, b) return 1 / b, -a / (b * b) end },
  -- at x = 0 the slope alpha, as torch's prelu and leaky_relu
  PReLU = { ref = function(x, s) return x < 0 and s * x or x end, c = '(%s < 0.0f ? %s * %s : %s)',
    grad = function(x, s) if x > 0 then return 1, 0 end return s, x end },
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

-- The constant operand is trainable (PReLU's alpha is Keras's weight; `operand` is the
-- learnable tensor of the arithmetic kinds).
M.trainable = { 'operand', 'alpha' }

-- Backward (reference, double): each operand's gradient is dy times its partial
-- derivative, summed over the axes it was stretched along by broadcasting. Returns the
-- input gradients ({dx1, dx2} with two inputs) and the constant operand's.
function M.backward(node, x, _, W, dy, ins)
  local other = ins[2] or W[wname(node)]
  local sa, sb = operands(node)
  local grad = OPS[node.op].grad
  local first = node.p.operand_first
  local da = tensor.new(node.in_shape, 'double')
  local db = tensor.new(other.shape, 'double')
  local k = 0
  nd.each(node.shape, function(idx)
    local ia, ib = nd.offset(idx, sa), nd.offset(idx, sb)
    local u, v = x.data[ia], other.data[ib]
    if first then u, v = v, u end
    local gu, gv = grad(u, v)
    if first then gu, gv = gv, gu end
    da.data[ia] = da.data[ia] + dy.data[k] * gu
    db.data[ib] = db.data[ib] + dy.data[k] * gv
    k = k + 1
  end)
  if ins[2] then return { da, db } end
  return da, { [wname(node)] = db }
end

-- Backward code (a constant operand): the forward's loop nest over the output; each value
-- adds dy times the partial derivatives into dx (cleared first: an input stretched by
-- broadcasting sums its gradient) and into the operand's gradient. C expressions of the
-- partial derivatives by the left and right operand (u, v), as OPS[op].grad.
local C_GRAD = {
  Add = { '1.0f', '1.0f' }, Subtract = { '1.0f', '-1.0f' }, Multiply = { '%2$s', '%1$s' },
  Divide = { '1.0f / %2$s', '-%1$s / (%2$s * %2$s)' },
}

function M.backward_refusal(node)
  if #node.inputs >= 2 then return 'layers with two inputs have no backward code' end
end

function M.backward_reads() return { x = true } end

function M.emit_backward(node, E)
  local out = node.shape
  local sa, sb = operands(node)
  local so = nd.strides(out)
  local r = #out
  local outer, lists = {}, { {}, {}, {} }
  for i = 1, r - 1 do outer[i], lists[1][i], lists[2][i], lists[3][i] = out[i], so[i], sa[i], sb[i] end
  local d, ls = nd.merge(outer, lists)
  local open, close = nd.c_loops(d)
  local function at(p, stride) return stride == 0 and p .. '[0]' or (stride == 1 and p .. '[c]' or string.format('%s[c * %d]', p, stride)) end
  local xa, da, wb, db = at('a', sa[r]), at('da', sa[r]), at('b', sb[r]), at('db', sb[r])
  local bx, bw
  if node.op == 'PReLU' then
    -- x > 0: slope 1, alpha's gradient 0; else (0 included, as torch): slope alpha, x
    bx = string.format('%s += %s > 0.0f ? g[c] : g[c] * %s;', da, xa, wb)
    bw = string.format('if (!(%s > 0.0f)) %s += g[c] * %s;', xa, db, xa)
  else
    local u, v = xa, wb
    if node.p.operand_first then u, v = v, u end
    local function expr(k) return (C_GRAD[node.op][k]:gsub('%%(%d)%$s', { ['1'] = u, ['2'] = v })) end
    local gx, gw = expr(1), expr(2)
    if node.p.operand_first then gx, gw = gw, gx end
    bx, bw = string.format('%s += g[c] * (%s);', da, gx), string.format('%s += g[c] * (%s);', db, gw)
  end
  local w = wname(node)
  local h = { open = open, close = close, out_index = nd.c_index(ls[1]), a_index = nd.c_index(ls[2]),
    b = E:weight(node, w), b_index = nd.c_index(ls[3]), C = out[r] }
  local fx, fw = E:backward_fn(node, 'input'), E:backward_fn(node, 'weights')
  h.fn, h.body = fx, bx
  h.params = 'float *restrict dx, const float *restrict x, const float *restrict dy'
  h.clear = string.format('memset(dx, 0, sizeof(float) * %d);', util.prod(node.in_shape))
  h.pointer = string.format('float *da = &dx[%s];', h.a_index)
  h.comment = util.c_comment(node.name .. ': the input gradient, dy times the partial derivative (summed where '
    .. 'broadcasting stretched the input)')
  local tx = template.section('backward', 'binary', h)
  h.fn, h.body = fw, bw
  h.params = 'float *restrict dop, const float *restrict x, const float *restrict dy'
  h.clear = ''
  h.pointer = string.format('float *db = &dop[%s];', h.b_index)
  h.comment = util.c_comment(string.format('%s: the gradient of %s, added to: dy times the partial derivative, '
    .. 'summed where broadcasting stretched it', node.name, w))
  local tw = template.section('backward', 'binary', h)
  return tx .. '\n\n' .. tw, { { fn = fx, args = { 'dx', 'x', 'dy' }, input = true },
    { fn = fw, args = { 'dw:' .. w, 'x', 'dy' } } }
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
  local expr
  if node.op == 'PReLU' then expr = string.format(OPS.PReLU.c, u, v, u, u)
  else expr = string.format(OPS[node.op].c, u, v) end
  return template.section('nd', 'binary', {
    fn = E:fn(node), comment = E:comment(node), params = table.concat(params, ', '),
    open = open, close = close, out_index = nd.c_index(ls[1]), a = 'x', a_index = nd.c_index(ls[2]),
    b = other, b_index = nd.c_index(ls[3]), C = c,
    store = E:store(node, 'y[c]', expr, 'c'), post = E:post(node, 'y', c),
  })
end

return M
