-- cnnc.layers.activation: the Activation, LeakyReLU, ReLU, ELU and ThresholdedReLU layers.
--
-- Their work is one epilogue step on every value, so the fuse pass usually moves it into
-- the producer; standing alone they run the shared elementwise loop (in place when the
-- plan allows). Keras's ReLU(max_value, negative_slope, threshold) is
-- x > threshold ? min(x, max_value) : negative_slope * (x - threshold) (NaN stays NaN); its
-- common forms are the steps with vector code: relu, clip to [0, max_value] (ReLU(6)),
-- leaky_relu. ThresholdedReLU(theta) is x > theta ? x : 0; ELU(alpha) is
-- x > 0 ? x : alpha * (exp(x) - 1). Keras 3 names LeakyReLU's alpha negative_slope.

local epilogue = require 'cnnc.epilogue'
local template = require 'cnnc.template'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

M.kinds = {
  Activation = { rank = 0, args = { { 'activation', 'activation', required = true } } },
  LeakyReLU = { rank = 0, args = { { 'alpha', 'number', default = 0.3 }, { 'negative_slope', 'number' } } },
  ReLU = { rank = 0, args = { { 'max_value', 'number' }, { 'negative_slope', 'number', default = 0 },
    { 'threshold', 'number', default = 0 } } },
  ELU = { rank = 0, args = { { 'alpha', 'number', default = 1 } } },
  ThresholdedReLU = { rank = 0, args = { { 'theta', 'number', default = 1 } } },
}
M.identity = true
M.epilogue = true
M.inplace = true

local function nonneg(node, name, v)
  if v and v < 0 then util.fail(node, '%s of a %s layer must be >= 0, got %g', name, node.op, v) end
end

-- The step of a ReLU(max_value, negative_slope, threshold).
local function relu_step(m, a, t)
  if t == 0 and a == 0 then return m and epilogue.act('clip', { min = 0, max = m }) or epilogue.act('relu') end
  if t == 0 and not m then return epilogue.act('leaky_relu', { alpha = a }) end
  return epilogue.act('keras_relu', { max = m, negative_slope = a, threshold = t })
end

-- The layer's one step (nil: Activation, whose `activation` the shape pass makes the step).
local function step(node)
  local p, op = node.p, node.op
  if op == 'LeakyReLU' then
    if p.negative_slope and p.alpha ~= 0.3 and p.alpha ~= p.negative_slope then
      util.fail(node, 'LeakyReLU takes alpha (Keras 2) or negative_slope (Keras 3), not both')
    end
    return epilogue.act('leaky_relu', { alpha = p.negative_slope or p.alpha })
  elseif op == 'ReLU' then
    nonneg(node, 'max_value', p.max_value)
    nonneg(node, 'negative_slope', p.negative_slope)
    nonneg(node, 'threshold', p.threshold)
    return relu_step(p.max_value, p.negative_slope, p.threshold)
  elseif op == 'ThresholdedReLU' then
    nonneg(node, 'theta', p.theta)
    return relu_step(nil, 0, p.theta)
  elseif op == 'ELU' then
    return p.alpha == 1 and epilogue.act('elu') or epilogue.act('onnx_elu', { alpha = p.alpha })
  end
end

function M.shape(node, in_shape)
  node.epilogue = { step(node) }
  return util.copy(in_shape)
end

function M.describe(node)
  if node.op == 'Activation' then return node.p.activation end
  return epilogue.describe({ step(node) })
end

-- Identity before the epilogue.
function M.reference(node, x)
  local y = tensor.new(node.shape, 'double')
  for i = 0, x.n - 1 do y.data[i] = x.data[i] end
  return y
end

-- Backward: identity before the epilogue (the epilogue's steps have their own, in
-- cnnc.epilogue.backward_ref).
function M.backward(_, _, _, _, dy) return dy end

-- Backward code: none of its own; the epilogue's backward (cnnc.epilogue_backward)
-- writes the input gradient, recomputing the steps from the input when it must.
function M.backward_reads() return {} end
function M.emit_backward() return '', {} end

-- The elementwise loop shared by every identity layer. On a SIMD target, steps that all
-- have vector forms run on vectors: over the tensor as one flat run when no step depends
-- on the channel (no batch-norm affine step), else per pixel over whole channel vectors
-- when the channels fill whole vectors.
function M.emit(node, E)
  local c = node.shape[#node.shape]
  local steps = node.epilogue
  local vector = E.simd and #steps > 0 and epilogue.vector_prefix(steps) == #steps
  local flat = vector
  for _, st in ipairs(steps) do if st.op ~= 'act' then flat = false end end
  if vector and not flat and c % E.target.width == 0 then
    return template.section('elementwise', 'elementwise_simd_channels', {
      fn = E:fn(node), comment = E:comment(node), target = E.target.name, PIXELS = util.prod(node.shape) / c, C = c,
      vector = E:vector(steps, #steps, 'a', 'c', function(st)
        local sname, hname = E:affine_arrays(st)
        return '&' .. sname .. '[0]', '&' .. hname .. '[0]'
      end),
    })
  end
  if flat then
    local n = util.prod(node.shape)
    return template.section('elementwise', 'elementwise_simd', {
      fn = E:fn(node), comment = E:comment(node), target = E.target.name, N = n, TAIL = n % E.target.width,
      vector = E:vector(steps, #steps, 'a', '0', function() error('no affine step here') end),
      store = E:store(node, 'out[i]', 'in[i]', 'i'),
    })
  end
  return template.section('elementwise', 'elementwise', {
    fn = E:fn(node), comment = E:comment(node), PIXELS = util.prod(node.shape) / c, C = c,
    store = E:store(node, 'y[c]', 'x[c]', 'c'), post = E:post(node, 'y', c),
  })
end

return M
