-- cnnc.simd: what the SIMD emitters (cnnc.simd.*) need from the rest of the pipeline.
--
-- A SIMD convolution with padding first copies its input into a zero-bordered scratch
-- buffer, so every output pixel runs in register tiles with no bounds checks; one that
-- pools in its tiles (cnnc.simd.pool_fuse) over several chunks of input channels keeps its
-- partial sums there too (cnnc.simd.conv.layout). The memory plan reserves that buffer for
-- the duration of the layer. A Winograd layer's scratch holds its input's address or
-- padded copy and the transformed tiles (cnnc.simd.winograd).

local M = {}

-- Floats of scratch memory node needs when compiled for target t (0: none).
function M.scratch(node, t)
  if not t or t.width <= 1 then return 0 end
  if node.op ~= 'Conv1D' and node.op ~= 'Conv2D' then return 0 end
  if (node.p.groups or 1) > 1 then return 0 end
  if node.winograd then return node.winograd.scratch end
  return require('cnnc.simd.conv').layout(node, t).scratch
end

return M
