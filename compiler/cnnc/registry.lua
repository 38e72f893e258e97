-- cnnc.registry: the one list of layer modules, checked when cnnc loads.
--
-- Each module in cnnc.layers declares the Keras classes it implements (`kinds`, with their
-- argument specs and rank) and provides the hooks the pipeline calls:
--   shape(node, in_shape) -> out_shape       (required; fails with util.fail on bad input)
--   weights(node, in_shape) -> {{name, shape, init, fans}, ...}    (layers with weights)
--   bind(node)                              (optional) after weights are bound
--   reference(node, x, W) -> y               (required unless alias; before the epilogue)
--   emit(node, E) -> C text of the layer function   (required unless alias)
--   macs(node) -> multiply-adds               (optional)
--   lower(node, make)  (instead of emit) the layer is made of others: cnnc.passes.lower
--                      replaces it with them before fusion (SeparableConv2D, Normalization)
--   alias = true       output is the input's memory (Flatten, Dropout): no code
--   epilogue = true    can apply fused activation/batch-norm steps while storing
--   identity = true    the layer's own work is its epilogue (Activation, BatchNormalization)
--   fold_affine(node, scale, shift)            can absorb a following batch norm exactly
--     and unfold_grads(node, dW, add_grad)     (required with a backward) the gradients of the weights
--                                              before the folds (cnnc.backward)
--   absorb_padding(node, pads)                 can absorb a preceding ZeroPadding
--   backward(node, x, y, W, dy, ins) -> dx, dW (optional) the vector-Jacobian product in
--                                              double (cnnc.backward; docs/gradients.md);
--                                              graphs with a layer without it have no gradients
--   trainable = {weight names}                 the weights that get gradients (kernel, bias, ...)
--   emit_backward(node, E) -> C text, calls    (optional) backward code in float32 (cnnc.emit.backward):
--     and backward_reads(node) -> {x = bool}   its functions, how to call them, and whether they read
--                                              the layer's input; backward_refusal(node) -> why a
--                                              node cannot have it (optional)

local M = {}

M.modules = {
  'conv', 'locally_connected', 'pooling', 'global_pooling', 'dense', 'flatten',
  'activation', 'zero_padding', 'dropout', 'batch_norm',
  'permute', 'reshape', 'concat', 'binary', 'pad', 'softmax', 'matmul', 'unary', 'conv3d', 'pooling3d',
  'constant', 'integer', 'moments', 'pool_indices', 'conv_transpose', 'resize', 'layer_norm', 'select', 'reduce', 'where',
  'separable_conv', 'cropping', 'repeat_vector', 'rescaling', 'normalization',
}

M.kinds = {} -- Keras class name -> {module =, spec =}

for _, file in ipairs(M.modules) do
  local mod = require('cnnc.layers.' .. file)
  local function need(field)
    assert(mod[field] ~= nil, string.format('cnnc: layer module %s lacks %s', file, field))
  end
  need('kinds'); need('shape')
  if not mod.alias then need('reference') end
  if not mod.alias and not mod.lower then need('emit') end
  if mod.fold_affine and mod.backward then need('unfold_grads') end
  if mod.emit_backward then need('backward_reads'); need('backward') end
  for kind, spec in pairs(mod.kinds) do
    assert(not M.kinds[kind], 'cnnc: layer kind ' .. kind .. ' registered twice')
    assert(spec.args and spec.rank, 'cnnc: layer kind ' .. kind .. ' needs args and rank')
    M.kinds[kind] = { module = mod, spec = spec, file = file }
  end
end

M.names = {}
for k in pairs(M.kinds) do M.names[#M.names + 1] = k end
table.sort(M.names)

-- The kinds the model language offers: all but those marked `internal` (ONNX operators
-- without a Keras layer, made only by the importer).
M.public_names = {}
for _, k in ipairs(M.names) do
  if not M.kinds[k].spec.internal then M.public_names[#M.public_names + 1] = k end
end

return M
