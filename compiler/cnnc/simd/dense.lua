-- cnnc.simd.dense: Dense as explicit SIMD code for a vector target.
--
-- Outputs lie across vector registers in blocks of up to 8 vectors; the sum over the inputs
-- runs in several independent chains (partial sums over every C-th input) that are added at
-- the end, so FMA latency does not serialise the loop. Weights are packed at compile time
-- per block, row by row, padded with zeros to whole vectors.

local epilogue = require 'cnnc.epilogue'
local ir = require 'cnnc.ir'
local template = require 'cnnc.template'
local common = require 'cnnc.simd.common'

local M = {}

M.name = 'dense'

function M.eligible(node, t) return t.width > 1 end

-- Blocks of up to 8 output vectors; a threaded build shares the blocks.
function M.plan(node, t, ctx)
  local nvec = math.ceil(node.p.units / t.width)
  local nblocks = math.ceil(nvec / math.min(nvec, 8))
  return { scratch = 0, nblocks = nblocks, units = (ctx.threads or 1) > 1 and nblocks > 1 and nblocks or nil,
    post = epilogue.vector_prefix(node.epilogue) < #node.epilogue }
end

function M.describe() return nil end

function M.emit(node, E)
  local t = E.target
  local W = t.width
  local K, N = node.in_shape[1], node.p.units
  local nvec = math.ceil(N / W)
  local VB = math.min(nvec, 8)
  local b = ir.weight(node, 'bias')
  local blocks = {}
  local kvec = epilogue.vector_prefix(node.epilogue)
  local padded = common.padded_affine(node, E, nvec, W, N)
  local bname = b and common.padded_bias(node, E, nvec, W, 'bias_padded')
  local nblocks = math.ceil(nvec / VB)
  -- With threads, the blocks are the parts (their sizes, and so the sums, do not change).
  local threaded = node.sel.plan.units ~= nil
  -- The kernel packed per block of VB output vectors, row by row (written straight into a
  -- large model's blob).
  local kname = E:constant(node, 'kernel_packed', { count = K * nvec * W, fill = function(dst)
    local k = ir.weight(node, 'kernel').data
    local n = 0
    for blk = 0, nblocks - 1 do
      local V = math.min(VB, nvec - blk * VB)
      for i = 0, K - 1 do
        for lane = 0, V * W - 1 do
          local o = blk * VB * W + lane
          dst[n] = o < N and k[i * N + o] or 0
          n = n + 1
        end
      end
    end
  end }, string.format('%s.kernel packed in blocks of %d output vectors, row by row', node.name, VB))
  local offset = 0
  for blk = 0, nblocks - 1 do
    local V = math.min(VB, nvec - blk * VB)
    local C = math.max(1, math.min(4, math.floor((t.regs - V - 2) / V)))
    local init, fmas, tail, reduce, stores = {}, {}, {}, {}, {}
    for c = 0, C - 1 do
      local row = {}
      for v = 0, V - 1 do
        local o = blk * VB * W + v * W
        local start
        if c > 0 then start = 'vf_zero()'
        elseif b then start = string.format('vf_load(%s + %d)', bname, o)
        else start = 'vf_zero()' end
        row[#row + 1] = string.format('a%d_%d = %s', c, v, start)
      end
      init[#init + 1] = 'vf ' .. table.concat(row, ', ') .. ';'
      local line = { string.format('xb = vf_set1(in[i + %d]);', c) }
      for v = 0, V - 1 do
        line[#line + 1] = string.format('a%d_%d = vf_fma(xb, vf_load(w + %d), a%d_%d);', c, v, c * V * W + v * W, c, v)
      end
      fmas[#fmas + 1] = table.concat(line, ' ')
    end
    for v = 0, V - 1 do
      tail[#tail + 1] = string.format('a0_%d = vf_fma(xb, vf_load(w + %d), a0_%d);', v, v * W, v)
      local sum = {}
      for c = 1, C - 1 do sum[#sum + 1] = string.format('a0_%d = vf_add(a0_%d, a%d_%d);', v, v, c, v) end
      if #sum > 0 then reduce[#reduce + 1] = table.concat(sum, ' ') end
      local o = blk * VB * W + v * W
      local ep = E:vector(node.epilogue, kvec, 'a0_' .. v, tostring(o), padded)
      if ep ~= '' then stores[#stores + 1] = ep end
      stores[#stores + 1] = common.store_vec('out', o, 'a0_' .. v, o + W <= N and 0 or N - o)
    end
    blocks[#blocks + 1] = template.section('simd_dense', 'block', {
      kernel = kname, OFFSET = offset,
      if_part = threaded and string.format('if (%d >= part * %d / parts && %d < (part + 1) * %d / parts) ',
        blk, nblocks, blk, nblocks) or '',
      first = blk * VB * W, last = math.min(N, (blk * VB + V) * W) - 1, C = C, K = K,
      CSTEP = C * V * W, STEP = V * W,
      acc_init = table.concat(init, '\n'), chain_fmas = table.concat(fmas, '\n'), tail_fmas = table.concat(tail, '\n'),
      reduce = table.concat(reduce, '\n'), stores = table.concat(stores, '\n'),
    })
    offset = offset + K * V * W
  end
  if threaded then E:parallel(node) end
  local post = common.scalar_pass(node, E, kvec, 1, N)
  if post ~= '' then post = post .. '\n\n' end
  return post .. template.section('simd_dense', 'layer', {
    fn = E:fn(node), comment = E:comment(node) .. string.format(' [%s]', t.name),
    part_params = threaded and E:part_params(true, false) or '', prologue = threaded and '(void)work;' or '',
    blocks = table.concat(blocks, '\n'),
  })
end

return M
