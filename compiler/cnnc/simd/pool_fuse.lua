-- cnnc.simd.pool_fuse: a pooling layer computed in its convolution's registers.
--
-- On a SIMD target, a Conv1D/Conv2D followed by a max or average pooling whose windows
-- tile the convolution's output exactly (pool size = strides, no padding, no dilation;
-- the fuse pass's trim has already cut what a floor-mode pool never reads) need not store
-- its full output: the register tile of the direct kernel (cnnc.simd.conv) is a whole
-- number of pool windows, and so is the output tile of a Winograd layer
-- (cnnc.simd.winograd) when m is a multiple of the pool size. After the last input
-- channel, bias and the convolution's epilogue, each window's values are combined in
-- registers, the pool's own epilogue applied, and only the pooled values stored.
--
-- `run` (called by the plan pass once the Winograd choice is made) rewrites the graph:
-- the pooling node goes, and the convolution gets node.pool = {mode, kh, kw, oh, ow
-- (pooled size), epilogue (the pool's steps), name} and the pooled shape. node.g stays
-- the convolution's geometry. Results are those of the two layers: the same values are
-- compared, or summed in the pool's order and divided by the window size.
--
-- Not fused: anything the registers cannot hold (a pool window larger than the register
-- tile allows), epilogue steps without a vector form (they run in a pass over the whole
-- output), a convolution output something else reads, and builds that keep every
-- layer's output (opts.keep_all).

local epilogue = require 'cnnc.epilogue'
local ir = require 'cnnc.ir'

local M = {}

local MODES = { MaxPooling1D = 'max', MaxPooling2D = 'max', AveragePooling1D = 'average', AveragePooling2D = 'average' }

-- The pool's window geometry when its windows tile conv's output exactly, else nil.
local function tiles_exactly(pool, conv)
  local q, g = pool.g, conv.g
  if not (MODES[pool.op] and q and g) then return nil end
  if q.pt + q.pb + q.pl + q.pr ~= 0 or q.dh ~= 1 or q.dw ~= 1 then return nil end
  if q.sh ~= q.kh or q.sw ~= q.kw then return nil end
  if q.ih ~= g.oh or q.iw ~= g.ow or q.oh * q.kh ~= g.oh or q.ow * q.kw ~= g.ow then return nil end
  return q
end

local function all_vector(steps)
  return epilogue.vector_prefix(steps) == #steps and not epilogue.ends_in_softmax(steps)
end

-- Would conv, with the pool window kh x kw, get a register tile of whole windows?
local function fits(conv, t, kh, kw)
  if conv.winograd then
    local m = conv.winograd.m
    return m % kh == 0 and m % kw == 0
  end
  return require('cnnc.simd.conv').layout(conv, t, { kh = kh, kw = kw }) ~= nil
end

function M.run(g, t)
  if not t or t.width <= 1 then return g end
  local sole_producer = require('cnnc.passes.fuse').sole_producer
  local changed = true
  while changed do
    changed = false
    for _, pool in ipairs(g.nodes) do
      local conv = sole_producer(g, pool)
      if conv and (conv.op == 'Conv1D' or conv.op == 'Conv2D') and (conv.p.groups or 1) == 1 and not conv.pool
          and all_vector(conv.epilogue) and all_vector(pool.epilogue) then
        local q = tiles_exactly(pool, conv)
        if q and fits(conv, t, q.kh, q.kw) then
          conv.pool = { mode = MODES[pool.op], kh = q.kh, kw = q.kw, oh = q.oh, ow = q.ow,
            epilogue = pool.epilogue, name = pool.name }
          conv.shape = pool.shape
          local after = #pool.epilogue > 0 and (', then ' .. epilogue.describe(pool.epilogue)) or ''
          conv.fused[#conv.fused + 1] = string.format('%s (%dx%d %s%s) in the register tile', pool.name, q.kh, q.kw,
            MODES[pool.op], after)
          ir.bypass(g, pool, conv.name)
          changed = true
          break
        end
      end
    end
  end
  return g
end

-- C statements combining the window values of one pooled vector: values is the list of
-- the window's vf variables in the pool's order (row by row); the result goes to `dst`
-- (a new vf variable). max keeps a NaN of any value (cnnc.ieee): vf_max(x, m) keeps m's
-- NaN, and a NaN x is selected explicitly.
function M.c_combine(pool, values, dst)
  local lines = { string.format('vf %s = %s;', dst, values[1]) }
  for i = 2, #values do
    local x = values[i]
    if pool.mode == 'max' then
      lines[#lines + 1] = string.format('%s = vf_sel_nan(%s, %s, vf_max(%s, %s));', dst, x, x, x, dst)
    else
      lines[#lines + 1] = string.format('%s = vf_add(%s, %s);', dst, dst, x)
    end
  end
  if pool.mode == 'average' then
    lines[#lines + 1] = string.format('%s = vf_div(%s, vf_set1(%d.0f));', dst, dst, #values)
  end
  return table.concat(lines, '\n')
end

return M
