-- cnnc.layers.binary: elementwise Add, Subtract, Multiply, Divide, Maximum, Minimum,
-- Average and PReLU with NumPy broadcasting: Keras's merge layers and ONNX's arithmetic;
-- and for the ONNX importer Pow, Min, Max, Mod, the comparisons and the logical operators.
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
-- ONNX's other elementwise binary operators (importer only: no Keras layer means them).
for _, k in ipairs({ 'Pow', 'Min', 'Max', 'Mod', 'Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual',
  'And', 'Or', 'Xor' }) do
  M.kinds[k] = arith()
  M.kinds[k].internal = true
end
M.epilogue = true

local function bool(f) return function(a, b) return f(a, b) and 1 or 0 end end

-- ref(a, b) in double; c: the C expression over the operands $1 and $2 (each may appear
-- more than once: they are array reads or a variable). Maximum/Minimum (and ONNX's
-- Max/Min) keep NaN (cnnc.ieee); Mod is C's fmod (ONNX's Mod with fmod = 1, the only form
-- for floats); comparisons and logic give 1 or 0, a nonzero operand being true. Average
-- sums here and divides at the end. grad(a, b): the partial derivatives of the result by
-- the left and the right operand (the kinds with a backward).
local MAX = { ref = ieee.max, c = '(($1 > $2 || $1 != $1) ? $1 : $2)' }
local MIN = { ref = ieee.min, c = '(($1 < $2 || $1 != $1) ? $1 : $2)' }
local OPS = {
  Add = { ref = function(a, b) return a + b end, c = '$1 + $2', grad = function() return 1, 1 end },
  Subtract = { ref = function(a, b) return a - b end, c = '$1 - $2', grad = function() return 1, -1 end },
  Multiply = { ref = function(a, b) return a * b end, c = '$1 * $2', grad = function(a, b) return b, a end },
  Divide = { ref = function(a, b) return a / b end, c = '$1 / $2', grad = function(a, b) return 1 / b, -a / (b * b) end },
  Average = { ref = function(a, b) return a + b end, c = '$1 + $2' },
  Maximum = MAX, Minimum = MIN, Max = MAX, Min = MIN,
  -- at x = 0 the slope alpha, as torch's prelu and leaky_relu
  PReLU = { ref = function(x, s) return x < 0 and s * x or x end, c = '($1 < 0.0f ? $2 * $1 : $1)',
    grad = function(x, s) if x > 0 then return 1, 0 end return s, x end },
  Pow = { ref = function(a, b) return a ^ b end, c = 'powf($1, $2)' },
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

-- The C expression of op on operands u and v.
local function c_expr(op, u, v)
  return (op.c:gsub('%$([12])', function(k) return k == '1' and u or v end))
end

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
  if not ({ Add = 1, Multiply = 1, Maximum = 1, Minimum = 1, Average = 1 })[node.op] and n > 2 then
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

-- The constant operand is trainable (PReLU's alpha is Keras's weight; `operand` is the
-- learnable tensor of the arithmetic kinds).
M.trainable = { 'operand', 'alpha' }

-- Partial derivatives of a merge of n operands by each operand, at values v[1..n]: written
-- into p[1..n]. Add and Average pass the gradient to every operand (Average divided by n),
-- Multiply by the product of the others; Maximum and Minimum, combined left to right as
-- the forward does, give all of it to the operand whose value is kept, the left one at
-- a tie or when it is NaN (TensorFlow's rule, under Keras's merge layers).
local function keeper(better)
  return function(v, n, p)
    local w, m = 1, v[1]
    for k = 2, n do
      if not (better(m, v[k]) or m ~= m) then w, m = k, v[k] end
    end
    for k = 1, n do p[k] = k == w and 1 or 0 end
  end
end
local NARY = {
  Add = function(_, n, p) for k = 1, n do p[k] = 1 end end,
  Average = function(_, n, p) for k = 1, n do p[k] = 1 / n end end,
  Multiply = function(v, n, p)
    for k = 1, n do
      local q = 1
      for j = 1, n do if j ~= k then q = q * v[j] end end
      p[k] = q
    end
  end,
  Maximum = keeper(function(a, b) return a >= b end),
  Minimum = keeper(function(a, b) return a <= b end),
}

-- The partial-derivative function of node's operands, or nil (no backward).
local function partials(node, n)
  if NARY[node.op] and #node.inputs >= 2 then return NARY[node.op] end
  local grad = OPS[node.op].grad
  if not grad or n ~= 2 then return nil end
  return function(v, _, p) p[1], p[2] = grad(v[1], v[2]) end
end

-- Backward (reference, double): each operand's gradient is dy times its partial
-- derivative, summed over the axes it was stretched along by broadcasting. Returns the
-- input gradients ({dx1, dx2, ...} with several inputs) and the constant operand's.
function M.backward(node, _, _, W, dy, ins)
  local vals, st = operand_values(node, W, ins), strides(node)
  local n = #vals
  local partial = partials(node, n)
  if not partial then
    util.fail(node, 'gradients are not implemented for %s of %d operands', node.op, n)
  end
  local ds = {}
  for k = 1, n do ds[k] = tensor.new(vals[k].shape, 'double') end
  local at, v, p = {}, {}, {}
  local i = 0
  nd.each(node.shape, function(idx)
    for k = 1, n do
      at[k] = nd.offset(idx, st[k])
      v[k] = vals[k].data[at[k]]
    end
    partial(v, n, p)
    local g = dy.data[i]
    for k = 1, n do ds[k].data[at[k]] = ds[k].data[at[k]] + g * p[k] end
    i = i + 1
  end)
  if #node.inputs >= 2 then return ds end
  if node.p.operand_first then return ds[2], { [wname(node)] = ds[1] } end
  return ds[1], { [wname(node)] = ds[2] }
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
  local n = #node.inputs >= 2 and #node.inputs or 2
  if not partials(node, n) then
    return string.format('%s of %d operands has no backward code', node.op, n)
  end
end

-- The merges whose partial derivatives do not depend on the operands' values.
local VALUE_FREE = { Add = true, Subtract = true, Average = true }

function M.backward_reads(node)
  return { x = not (#node.inputs >= 2 and VALUE_FREE[node.op]) }
end

-- C statements that set up a merge's partial derivatives (Maximum, Minimum: the index w
-- of the operand kept) and the C expression of g times the partial derivative by each
-- of the n operands, given their reads r[1..n] (when the partials need them).
local function merge_terms(node, n, r)
  local op = node.op
  local pre, t = '', {}
  if op == 'Add' then
    for k = 1, n do t[k] = 'g' end
  elseif op == 'Average' then
    for k = 1, n do t[k] = string.format('g / %d.0f', n) end
  elseif op == 'Subtract' then
    t[1], t[2] = 'g', '-g'
  elseif op == 'Divide' then
    t[1], t[2] = string.format('g / %s', r[2]), string.format('-g * %s / (%s * %s)', r[1], r[2], r[2])
  elseif op == 'Multiply' then
    for k = 1, n do
      local f = { 'g' }
      for j = 1, n do if j ~= k then f[#f + 1] = r[j] end end
      t[k] = table.concat(f, ' * ')
    end
  else -- Maximum, Minimum: the left operand is kept at a tie or when it is NaN
    local cmp = op == 'Maximum' and '>=' or '<='
    local lines = { string.format('float m = %s;', r[1]), 'int w = 0;' }
    for k = 2, n do
      lines[#lines + 1] = string.format('if (!(m %s %s || m != m)) { m = %s; w = %d; }', cmp, r[k], r[k], k - 1)
    end
    lines[#lines + 1] = '(void)m;'
    pre = table.concat(lines, '\n')
    for k = 1, n do t[k] = string.format('w == %d ? g : 0.0f', k - 1) end
  end
  return pre, t
end

-- Backward code of a merge of several inputs: one function writing every input's
-- gradient (dx1, dx2, ...). Without broadcasting, one pass over the output assigns them;
-- an input stretched by broadcasting has its gradient cleared, then summed into.
local function emit_merge_backward(node, E)
  local out, n = node.shape, #node.inputs
  local values = M.backward_reads(node).x
  local flat = true
  for _, s in ipairs(node.in_shapes) do
    if not util.shape_eq(s, out) then flat = false end
  end
  local params, args = {}, {}
  for k = 1, n do params[#params + 1] = 'float *restrict dx' .. k; args[#args + 1] = 'dx' .. k end
  if values then
    for k = 1, n do params[#params + 1] = 'const float *restrict x' .. k; args[#args + 1] = 'x' .. k end
  end
  params[#params + 1] = 'const float *restrict dy'
  args[#args + 1] = 'dy'
  local h = { fn = E:backward_fn(node, 'inputs'), params = table.concat(params, ', '),
    comment = util.c_comment(string.format('%s: the gradients of its %d inputs', node.name, n)) }
  local reads, writes = {}, {}
  if flat then
    h.clear, h.open, h.close, h.pointers, h.C, h.g = '', '', '', '', util.prod(out), 'dy[c]'
    for k = 1, n do reads[k], writes[k] = 'x' .. k .. '[c]', 'dx' .. k .. '[c] =' end
  else
    local r = #out
    local so = nd.strides(out)
    local st = strides(node)
    local outer, lists = {}, { {} }
    for k = 1, n do lists[k + 1] = {} end
    for i = 1, r - 1 do
      outer[i], lists[1][i] = out[i], so[i]
      for k = 1, n do lists[k + 1][i] = st[k][i] end
    end
    local d, ls = nd.merge(outer, lists)
    h.open, h.close = nd.c_loops(d)
    h.C, h.g = out[r], string.format('dy[%s]', nd.c_index(ls[1]) == '0' and 'c' or (nd.c_index(ls[1]) .. ' + c'))
    local clear, pointers = {}, {}
    for k = 1, n do
      clear[k] = string.format('memset(dx%d, 0, sizeof(float) * %d);', k, util.prod(node.in_shapes[k]))
      local at = nd.c_index(ls[k + 1])
      local s = st[k][r]
      local c = s == 0 and '0' or (s == 1 and 'c' or ('c * ' .. s))
      pointers[#pointers + 1] = string.format('float *d%d = &dx%d[%s];', k, k, at)
      writes[k] = string.format('d%d[%s] +=', k, c)
      if values then
        pointers[#pointers + 1] = string.format('const float *a%d = &x%d[%s];', k, k, at)
        reads[k] = string.format('a%d[%s]', k, c)
      end
    end
    h.clear, h.pointers = table.concat(clear, '\n'), table.concat(pointers, '\n')
  end
  local pre, terms = merge_terms(node, n, reads)
  local body = { pre ~= '' and pre or nil }
  for k = 1, n do body[#body + 1] = string.format('%s %s;', writes[k], terms[k]) end
  h.body = table.concat(body, '\n')
  return template.section('backward', 'merge', h), { { fn = h.fn, args = args } }
end

-- Strides along the output of the input and of the constant operand (in that order,
-- whichever comes first in the expression).
local function operands(node)
  local out = node.shape
  return nd.broadcast_strides(node.in_shape, out), nd.broadcast_strides(constant_shape(node, node.in_shape), out)
end

function M.emit_backward(node, E)
  if #node.inputs >= 2 then return emit_merge_backward(node, E) end
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
  local a_index, b_index = nd.c_index(ls[2]), nd.c_index(ls[3])
  -- the operand rows a function's body reads (x unread: (void)x, an Add's input gradient)
  local function operands(body, out_ptr)
    local t = {}
    local uses = function(v) return body:find('%f[%w_]' .. v .. '%[') ~= nil end
    if uses('a') then t[#t + 1] = string.format('const float *a = &x[%s];', a_index) end
    if uses('b') then t[#t + 1] = string.format('const float *b = &%s[%s];', E:weight(node, w), b_index) end
    t[#t + 1] = out_ptr
    return table.concat(t, '\n'), uses('a') and '' or '(void)x;'
  end
  local h = { open = open, close = close, out_index = nd.c_index(ls[1]), C = out[r] }
  local fx, fw = E:backward_fn(node, 'input'), E:backward_fn(node, 'weights')
  local unused
  h.fn, h.body = fx, bx
  h.params = 'float *restrict dx, const float *restrict x, const float *restrict dy'
  h.operands, unused = operands(bx, string.format('float *da = &dx[%s];', a_index))
  h.clear = unused .. string.format('memset(dx, 0, sizeof(float) * %d);', util.prod(node.in_shape))
  h.comment = util.c_comment(node.name .. ': the input gradient, dy times the partial derivative (summed where '
    .. 'broadcasting stretched the input)')
  local tx = template.section('backward', 'binary', h)
  h.fn, h.body = fw, bw
  h.params = 'float *restrict dop, const float *restrict x, const float *restrict dy'
  h.operands, unused = operands(bw, string.format('float *db = &dop[%s];', b_index))
  h.clear = unused
  h.comment = util.c_comment(string.format('%s: the gradient of %s, added to: dy times the partial derivative, '
    .. 'summed where broadcasting stretched it', node.name, w))
  -- a frozen operand (a lowered Normalization's statistics) has no gradient to compute
  if node.frozen and node.frozen[w] then return tx, { { fn = fx, args = { 'dx', 'x', 'dy' }, input = true } } end
  local tw = template.section('backward', 'binary', h)
  return tx .. '\n\n' .. tw, { { fn = fx, args = { 'dx', 'x', 'dy' }, input = true },
    { fn = fw, args = { 'dw:' .. w, 'x', 'dy' } } }
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
    local e = c_expr(op, reads[1], reads[2])
    if node.op == 'Average' then e = '(' .. e .. ') / 2.0f' end
    store = E:store(node, 'y[c]', e, 'c')
  else
    -- several operands: a running value, combined left to right
    local lines = { 'float acc = ' .. reads[1] .. ';' }
    for k = 2, #reads do lines[#lines + 1] = 'acc = ' .. c_expr(op, 'acc', reads[k]) .. ';' end
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
