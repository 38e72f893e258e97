-- The ONNX importer's constant folder (cnnc.onnx.fold): each evaluator on small constants
-- against values worked out here from ONNX's definitions (opset forms included), and whole
-- graphs whose shape arithmetic must vanish before code generation: PyTorch's
-- x.view(x.size(0), -1) with a dynamic batch, and the ConstantOfShape/Concat/Reshape/
-- Slice/Cast chain it writes for F.pad.

local here = debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './'
package.path = here .. '../../../compiler/?.lua;' .. here .. '?.lua;' .. package.path

local context = require 'cnnc.onnx.context'
local driver = require 'cnnc.driver'
local fold = require 'cnnc.onnx.fold'
local ir = require 'cnnc.ir'
local runner = require 'cnnc.runner'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'
local W = require 'onnx_writer'

-- A constant tensor of ONNX type dtype (default float32).
local function T(shape, values, dtype)
  local t = tensor.new(shape, dtype and dtype ~= 1 and 'double' or 'float')
  for i, v in ipairs(values) do t.data[i - 1] = v end
  return { const = t, dtype = dtype or 1, shape = shape }
end

-- Folds one node: inputs are T(...) values (or false for an absent one); returns the
-- output values.
local function eval(op, inputs, attrs, opset, outputs)
  local ctx = context.new(ir.new('t', 'input', nil), { path = 'spec', opset = opset or 17, batch = false })
  local names = {}
  for k, v in ipairs(inputs) do
    names[k] = v and ('in' .. k) or ''
    if v then ctx.vals[names[k]] = v end
  end
  local A = {}
  for k, v in pairs(attrs or {}) do
    local t = type(v) == 'number' and (v == math.floor(v) and 'INT' or 'FLOAT') or type(v) == 'string' and 'STRING'
      or (v.tensor and 'TENSOR' or 'INTS')
    A[k] = { type = t, i = t == 'INT' and v or nil, f = t == 'FLOAT' and v or nil, s = t == 'STRING' and v or nil,
      ints = t == 'INTS' and v or nil, t = type(v) == 'table' and v.tensor or nil }
  end
  -- Tensor attributes are given as cnnc tensors here (the importer decodes TensorProtos).
  ctx.attr_tensor = function(_, n, name) return n.attrs[name] and n.attrs[name].t end
  local node = { op_type = op, domain = '', name = op, index = 1, inputs = names, outputs = outputs or { 'y' }, attrs = A }
  assert.is_true(fold.ready(ctx, node))
  return fold.EVAL[op](ctx, node)
end

local function list(v)
  local l = {}
  for i = 0, v.const.n - 1 do l[i + 1] = tonumber(v.const.data[i]) end
  return l
end

local function same(v, shape, values, dtype)
  assert.same(shape, v.const.shape)
  assert.same(values, list(v))
  if dtype then assert.equals(dtype, v.dtype) end
end

describe('the constant folder', function()
  it('gives shapes of computed values, with opset 15 start and end', function()
    local x = { name = 'x', shape = { 1, 3, 8, 5 }, perm = { 2, 3, 4 } }
    same(eval('Shape', { x })[1], { 4 }, { 1, 3, 8, 5 }, 7)
    same(eval('Shape', { x }, { start = 1, ['end'] = -1 }, 15)[1], { 2 }, { 3, 8 })
    same(eval('Shape', { x }, { start = -9 }, 15)[1], { 4 }, { 1, 3, 8, 5 })
    same(eval('Size', { x })[1], {}, { 120 }, 7)
  end)

  it('gathers, slices (negative steps, clamping) and concatenates', function()
    local s = T({ 4 }, { 1, 3, 8, 5 }, 7)
    same(eval('Gather', { s, T({}, { -1 }, 7) })[1], {}, { 5 }, 7)
    same(eval('Gather', { s, T({ 2 }, { 0, 2 }, 7) })[1], { 2 }, { 1, 8 })
    local m = T({ 2, 3 }, { 1, 2, 3, 4, 5, 6 })
    same(eval('Gather', { m, T({ 2 }, { 2, 0 }, 7) }, { axis = 1 })[1], { 2, 2 }, { 3, 1, 6, 4 })
    same(eval('Slice', { s, T({ 1 }, { -1 }, 7), T({ 1 }, { -2 ^ 62 }, 7), T({ 1 }, { 0 }, 7), T({ 1 }, { -1 }, 7) })[1],
      { 4 }, { 5, 8, 3, 1 })
    same(eval('Slice', { s, T({ 1 }, { 1 }, 7), T({ 1 }, { 2 ^ 62 }, 7), false, T({ 1 }, { 2 }, 7) })[1], { 2 }, { 3, 5 })
    same(eval('Slice', { m }, { starts = { 1 }, ends = { 3 }, axes = { 1 } }, 9)[1], { 2, 2 }, { 2, 3, 5, 6 })
    same(eval('Concat', { T({ 1 }, { 2 }, 7), T({ 1 }, { -1 }, 7) }, { axis = 0 })[1], { 2 }, { 2, -1 })
  end)

  it('splits by sizes (input from opset 13) and into num_outputs parts, the last smaller (opset 18)', function()
    local x = T({ 7 }, { 1, 2, 3, 4, 5, 6, 7 })
    local a = eval('Split', { x }, { split = { 3, 4 } }, 11, { 'a', 'b' })
    same(a[1], { 3 }, { 1, 2, 3 }); same(a[2], { 4 }, { 4, 5, 6, 7 })
    local b = eval('Split', { x, T({ 2 }, { 5, 2 }, 7) }, {}, 13, { 'a', 'b' })
    same(b[1], { 5 }, { 1, 2, 3, 4, 5 })
    local c = eval('Split', { x }, { num_outputs = 3 }, 18, { 'a', 'b', 'c' })
    same(c[1], { 3 }, { 1, 2, 3 }); same(c[3], { 1 }, { 7 })
  end)

  it('does integer arithmetic as integers: division truncates, casts truncate toward zero', function()
    same(eval('Div', { T({ 2 }, { 7, -7 }, 7), T({}, { 2 }, 7) })[1], { 2 }, { 3, -3 }, 7)
    same(eval('Cast', { T({ 3 }, { 2.7, -2.7, 0.5 }) }, { to = 7 })[1], { 3 }, { 2, -2, 0 }, 7)
    same(eval('Cast', { T({ 2 }, { 3, 0 }, 7) }, { to = 9 })[1], { 2 }, { 1, 0 }, 9)
    same(eval('Mul', { T({ 1 }, { 3 }, 7), T({ 1 }, { 1.5 }) })[1], { 1 }, { 4 }, 7)
    same(eval('Mod', { T({ 2 }, { -7, 7 }, 7), T({}, { 3 }, 7) })[1], { 2 }, { 2, 1 })
    same(eval('Mod', { T({ 2 }, { -7, 7 }, 7), T({}, { 3 }, 7) }, { fmod = 1 })[1], { 2 }, { -1, 1 })
    -- float32 results are rounded to float32
    assert.equals(tonumber(require('ffi').new('float', 0.1)), list(eval('Div', { T({}, { 1 }), T({}, { 10 }) })[1])[1])
  end)

  it('makes tensors: ConstantOfShape, Range, Expand, Tile, Where, comparisons', function()
    local two = T({ 1 }, { 2 }, 7).const
    two.onnx_type = 7
    same(eval('ConstantOfShape', { T({ 2 }, { 2, 3 }, 7) }, { value = { tensor = two } })[1],
      { 2, 3 }, { 2, 2, 2, 2, 2, 2 }, 7)
    same(eval('ConstantOfShape', { T({ 1 }, { 0 }, 7) })[1], { 0 }, {}, 1)
    same(eval('Range', { T({}, { 10 }, 7), T({}, { 1 }, 7), T({}, { -3 }, 7) })[1], { 3 }, { 10, 7, 4 }, 7)
    same(eval('Expand', { T({ 2, 1 }, { 1, 2 }), T({ 2 }, { 1, 3 }, 7) })[1], { 2, 3 }, { 1, 1, 1, 2, 2, 2 })
    same(eval('Tile', { T({ 2 }, { 1, 2 }), T({ 1 }, { 2 }, 7) })[1], { 4 }, { 1, 2, 1, 2 })
    local eq = eval('Equal', { T({ 3 }, { 1, -1, 3 }, 7), T({}, { -1 }, 7) })[1]
    same(eq, { 3 }, { 0, 1, 0 }, 9)
    same(eval('Where', { eq, T({}, { 5 }, 7), T({ 3 }, { 1, -1, 3 }, 7) })[1], { 3 }, { 1, 5, 3 }, 7)
  end)

  it('reduces over attribute or input axes, keeping or dropping them, noop_with_empty_axes', function()
    local x = T({ 2, 3 }, { 1, 2, 3, 4, 5, 6 })
    same(eval('ReduceSum', { x, T({ 1 }, { 1 }, 7) }, { keepdims = 0 }, 13)[1], { 2 }, { 6, 15 })
    same(eval('ReduceMean', { x }, { axes = { 0 } }, 13)[1], { 1, 3 }, { 2.5, 3.5, 4.5 })
    same(eval('ReduceMax', { x, T({ 1 }, { -1 }, 7) }, {}, 18)[1], { 2, 1 }, { 3, 6 })
    same(eval('ReduceProd', { x }, { keepdims = 0 }, 18)[1], {}, { 720 })
    same(eval('ReduceL2', { x, T({ 0 }, {}, 7) }, { noop_with_empty_axes = 1 }, 18)[1], { 2, 3 }, { 1, 2, 3, 4, 5, 6 })
    same(eval('ArgMax', { T({ 2, 2 }, { 1, 5, 5, 1 }) }, { axis = 1, keepdims = 0 })[1], { 2 }, { 1, 0 }, 7)
  end)
end)

describe('shape arithmetic in whole graphs', function()
  local tmp = os.tmpname() .. '.onnx'

  it("folds x.view(x.size(0), -1) with a dynamic batch into a view before the Gemm", function()
    local model, err = driver.load(W.write(tmp, W.model({
      opset = 13,
      inputs = { { 'x', { 'N', 2, 3, 3 } } }, outputs = { { 'y', { 'N', 4 } } },
      nodes = {
        { 'Conv', { 'x', 'w' }, { 'c' } },
        { 'Shape', { 'c' }, { 's' } },
        { 'Gather', { 's', 'zero' }, { 'n' }, attrs = { axis = 0 } },
        { 'Unsqueeze', { 'n', 'ax0' }, { 'n1' } },
        { 'Concat', { 'n1', 'minus1' }, { 'shape' }, attrs = { axis = 0 } },
        { 'Reshape', { 'c', 'shape' }, { 'f' } },
        { 'Gemm', { 'f', 'fc' }, { 'y' }, attrs = { transB = 1 } },
      },
      initializers = { { 'w', { 3, 2, 2, 2 } }, { 'fc', { 4, 12 } }, { 'zero', {}, values = { 0 }, type = 7 },
        { 'ax0', { 1 }, values = { 0 }, type = 7 }, { 'minus1', { 1 }, values = { -1 }, type = 7 } },
    })))
    assert(model, err and util.format_error(err))
    local r = assert(driver.compile(model, { stop = 'shape' }))
    local kinds = {}
    for _, n in ipairs(r.typed.nodes) do kinds[#kinds + 1] = n.op end
    -- The batch stays the executable's: one item in, the layers of the network only.
    assert.same({ 2, 3, 3 }, r.typed.input.shape)
    assert.same({ 'Permute', 'Conv2D', 'Reshape', 'Dense' }, kinds)
  end)

  it('folds the ConstantOfShape/Concat/Reshape/Slice/Cast chain PyTorch writes for F.pad', function()
    -- pads (1, 2) on the last axis, (0, 1) on the one before, as torch writes them at opset 11+
    local model, err = driver.load(W.write(tmp, W.model({
      opset = 11,
      inputs = { { 'x', { 1, 1, 2, 2 } } }, outputs = { { 'y', { 1, 1, 3, 5 } } },
      nodes = {
        { 'ConstantOfShape', { 'four' }, { 'zeros' }, attrs = { value = { tensor = { dims = { 1 }, values = { 0 }, type = 7 } } } },
        { 'Concat', { 'torch_pads', 'zeros' }, { 'p8' }, attrs = { axis = 0 } },
        { 'Reshape', { 'p8', 'shape42' }, { 'p42' } },
        { 'Slice', { 'p42', 'start', 'end_', 'ax0', 'step' }, { 'rev' } },
        { 'Transpose', { 'rev' }, { 'tr' }, attrs = { perm = { 1, 0 } } },
        { 'Reshape', { 'tr', 'minus1' }, { 'flat' } },
        { 'Cast', { 'flat' }, { 'pads' }, attrs = { to = 7 } },
        { 'Pad', { 'x', 'pads' }, { 'y' }, attrs = { mode = 'reflect' } },
      },
      initializers = {
        { 'four', { 1 }, values = { 4 }, type = 7 }, { 'torch_pads', { 4 }, values = { 1, 2, 0, 1 }, type = 7 },
        { 'shape42', { 2 }, values = { -1, 2 }, type = 7 }, { 'start', { 1 }, values = { -1 }, type = 7 },
        { 'end_', { 1 }, values = { -2 ^ 62 }, type = 7 }, { 'ax0', { 1 }, values = { 0 }, type = 7 },
        { 'step', { 1 }, values = { -1 }, type = 7 }, { 'minus1', { 1 }, values = { -1 }, type = 7 },
      },
    })))
    assert(model, err and util.format_error(err))
    local r = assert(driver.compile(model, { stop = 'plan' }))
    local x = tensor.new({ 1, 2, 2 }, 'float')
    for i = 0, 3 do x.data[i] = i + 1 end -- rows {1, 2}, {3, 4}
    local y = assert(runner.run_batch(r.typed, x))
    -- reflect: rows 0, 1, then row 0 again; columns 1 | 0 1 | 0 1
    local want = { 2, 1, 2, 1, 2, 4, 3, 4, 3, 4, 2, 1, 2, 1, 2 }
    for i = 1, #want do assert.equals(want[i], y.data[i - 1]) end
  end)
end)
