-- cnnc.onnx.fold_io: how the constant folder's evaluators (cnnc.onnx.fold_math,
-- cnnc.onnx.fold_tensor) read a node's constant inputs and make its output values.

local M = {}

-- An output value ({const = tensor, dtype}) made by cnnc.onnx.fold (required late: fold
-- requires the evaluator modules).
function M.value(t, dtype) return require('cnnc.onnx.fold').value(t, dtype) end
-- Input k as a constant tensor: required (a clean error when absent), or optional (nil).
function M.input(ctx, node, k) return ctx:constant(node, k, 'input ' .. k) end
function M.opt(ctx, node, k) local v = ctx:get(node, k); return v and v.const end
-- Input k's ONNX element type (float when absent).
function M.dtype(ctx, node, k) local v = ctx:get(node, k); return v and v.dtype or 1 end

return M
