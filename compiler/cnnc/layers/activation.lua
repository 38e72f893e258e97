-- cnnc.layers.activation: the Activation and LeakyReLU layers.
--
-- Their work is one epilogue step on every value, so the fuse pass usually moves it into
-- the producer; standing alone they run the shared elementwise loop (in place when the
-- plan allows).

local epilogue = require 'cnnc.epilogue'
local template = require 'cnnc.template'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

M.kinds = {
  Activation = { rank = 0, args = { { 'activation', 'activation', required = true } } },
  LeakyReLU = { rank = 0, args = { { 'alpha', 'number', default = 0.3 } } },
}
M.identity = true
M.epilogue = true
M.inplace = true

function M.shape(node, in_shape)
  if node.op == 'LeakyReLU' then
    node.epilogue = { epilogue.act('leaky_relu', { alpha = node.p.alpha }) }
  else
    -- The shape pass turns `activation` into the epilogue's first step.
    node.epilogue = {}
  end
  return util.copy(in_shape)
end

function M.describe(node)
  if node.op == 'LeakyReLU' then return string.format('alpha %g', node.p.alpha) end
  return node.p.activation
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
