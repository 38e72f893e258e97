-- cnnc.onnx.advice: what to tell the user about an operator the importer cannot compile:
-- why, and where there is one, the way around it (export without dynamic axes, at
-- another opset, with another PyTorch call). Used by cnnc.onnx.importer's operator check.
-- Nothing here decides what is supported; it only words the refusal.

local M = {}

local DATA_DEPENDENT = 'its output size depends on the values, and a compiled cnnc model has fixed sizes'

-- Operators cnnc does not lower on computed data, with the reason and the way around.
local WHY = {
  Loop = 'control flow decided at run time; export with torch.jit.trace (loops unrolled), not torch.jit.script',
  If = 'control flow decided at run time; export with torch.jit.trace, or make the condition a constant',
  Scan = 'control flow decided at run time; export with the scan unrolled',
  NonMaxSuppression = DATA_DEPENDENT .. '; run it after the model (cnnc compiles the network up to the boxes and scores)',
  TopK = 'k values chosen at run time are supported only as a constant k; ' .. DATA_DEPENDENT,
  NonZero = DATA_DEPENDENT,
  Unique = DATA_DEPENDENT,
  Compress = DATA_DEPENDENT,
  LSTM = 'recurrent layers are not supported: cnnc compiles convolutional networks',
  GRU = 'recurrent layers are not supported: cnnc compiles convolutional networks',
  RNN = 'recurrent layers are not supported: cnnc compiles convolutional networks',
  QuantizeLinear = 'quantised models are not supported: export the float32 model',
  DequantizeLinear = 'quantised models are not supported: export the float32 model',
  DynamicQuantizeLinear = 'quantised models are not supported: export the float32 model',
  QLinearConv = 'quantised models are not supported: export the float32 model',
  QLinearMatMul = 'quantised models are not supported: export the float32 model',
  ConvInteger = 'quantised models are not supported: export the float32 model',
  MatMulInteger = 'quantised models are not supported: export the float32 model',
  RandomNormal = 'draws random numbers, which ONNX does not define; cnnc compiles deterministic inference',
  RandomUniform = 'draws random numbers, which ONNX does not define; cnnc compiles deterministic inference',
  RandomNormalLike = 'draws random numbers, which ONNX does not define; cnnc compiles deterministic inference',
  RandomUniformLike = 'draws random numbers, which ONNX does not define; cnnc compiles deterministic inference',
  Bernoulli = 'draws random numbers, which ONNX does not define; cnnc compiles deterministic inference',
  Multinomial = 'draws random numbers, which ONNX does not define; cnnc compiles deterministic inference',
  NegativeLogLikelihoodLoss = 'a training loss: export the model without its loss',
  SoftmaxCrossEntropyLoss = 'a training loss: export the model without its loss',
}

for _, op in ipairs({ 'SequenceAt', 'SequenceConstruct', 'SequenceEmpty', 'SequenceErase', 'SequenceInsert',
  'SequenceLength', 'SequenceMap', 'SplitToSequence', 'ConcatFromSequence', 'OptionalHasElement',
  'OptionalGetElement', 'Optional' }) do
  WHY[op] = 'sequence and optional values have run-time lengths or presence; export with plain tensors (torch.split or chunk instead of lists of tensors)'
end

-- The advice for op_type (qualified by its domain when not ONNX's own). `folds`: cnnc folds
-- this operator when its inputs are constants, so it failed only because one is computed.
-- `input`: the name of such a computed input, when known.
function M.text(op, folds, input)
  if op:find('%.') then
    if op:match('^com%.microsoft%.') then
      return "an ONNX Runtime contrib operator (written by ONNX Runtime's optimiser): give cnnc the model as exported, before ONNX Runtime optimised it"
    end
    return 'an operator of a custom domain, which only the runtime that defined it knows'
  end
  if WHY[op] then return WHY[op] end
  if folds then
    return string.format("cnnc evaluates %s only on constants, and %s is computed from the model's input: if it "
      .. 'computes a shape, export without dynamic axes (no dynamic_axes in torch.onnx.export) so that shapes are '
      .. 'constants; else compute it outside the model', op, input and ("'" .. input .. "'") or 'an input')
  end
  return 'not supported; an export at another opset (torch.onnx.export(..., opset_version=N)) may write it as operators cnnc has'
end

return M
