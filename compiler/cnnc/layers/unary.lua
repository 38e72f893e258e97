-- cnnc.layers.unary: ParamActivation, an elementwise function with parameters that no
-- Keras activation string carries: ONNX's Elu (alpha), Selu (alpha, gamma), HardSigmoid
-- (alpha, beta), Celu (alpha), Clip (min, max: absent bounds are infinite) and HardSwish
-- (cnnc.activations: onnx_elu, onnx_selu, onnx_hard_sigmoid, celu, clip, hard_swish).
-- Like Activation, its work is one epilogue step, which the fuse pass moves into the
-- producing layer when it can. Arguments: alpha, offset (ONNX's beta), scale (ONNX's
-- gamma), min, max (beta and gamma name batch-norm weights in cnnc).

local activation = require 'cnnc.layers.activation'
local acts = require 'cnnc.activations'
local epilogue = require 'cnnc.epilogue'
local util = require 'cnnc.util'

local M = {}

M.kinds = { ParamActivation = { rank = 0, args = {
  { 'function', 'string', required = true },
  { 'alpha', 'number' }, { 'offset', 'number' }, { 'scale', 'number' }, { 'min', 'number' }, { 'max', 'number' },
} } }
M.identity = true
M.epilogue = true
M.inplace = true

-- Layer argument -> activation parameter (cnnc.activations).
local PARAMS = { { 'alpha', 'alpha' }, { 'offset', 'beta' }, { 'scale', 'gamma' }, { 'min', 'min' }, { 'max', 'max' } }

function M.shape(node, in_shape)
  local name = node.p['function']
  if not acts.ops[name] or name == 'softmax' then
    util.fail(node, "unknown elementwise function '%s'", tostring(name))
  end
  local p = {}
  for _, k in ipairs(PARAMS) do p[k[2]] = node.p[k[1]] end
  node.epilogue = { epilogue.act(name, p) }
  return util.copy(in_shape)
end

function M.describe(node)
  local t = {}
  for _, k in ipairs(PARAMS) do
    if node.p[k[1]] then t[#t + 1] = string.format('%s %g', k[2], node.p[k[1]]) end
  end
  return node.p['function'] .. (#t > 0 and (' (' .. table.concat(t, ', ') .. ')') or '')
end

M.reference = activation.reference
M.emit = activation.emit
M.backward = activation.backward

return M
