-- cnnc.passes.fuse: rewrites that remove work without changing results.
--
-- Rules, applied until none matches; each leaves a note on the node it changed, which
-- `cnnc summary` and the C banner show:
--   dropout     Dropout (and SpatialDropout, GaussianNoise, ...: the layers that are the
--               identity at inference) removed.
--   padding     ZeroPadding followed by a layer with absorb_padding (convolution): the
--               zeros become that layer's explicit padding.
--   fold        BatchNormalization after a layer with fold_affine (Conv, Dense,
--               LocallyConnected) and nothing in its epilogue: folded into its weights.
--               The node keeps the batch norm's step and its own weights from before the
--               fold in `folded` (cnnc.ir), for the gradients (cnnc.backward).
--   epilogue    an identity layer (Activation, LeakyReLU, BatchNormalization) after a layer
--               that takes epilogues: its steps run in the producer's store loop.
--   trim        an unpadded pooling layer whose windows never reach the last rows/columns
--               of a convolution's output (a floor-mode 2x2 pool after an odd size): the
--               convolution does not compute them. Not with opts.keep_all (every layer's
--               output must then be whole).
-- A rule fires only when the producer's output has no other reader and is not the model's
-- input (nothing else may see the unfused value).

local epilogue = require 'cnnc.epilogue'
local ir = require 'cnnc.ir'
local util = require 'cnnc.util'
local window = require 'cnnc.window'

local M = {}

-- The node producing n's single input when n is its only reader and it is not a graph
-- input (what every fusion of a producer into its consumer needs); else nil.
function M.sole_producer(g, n)
  if #n.inputs ~= 1 then return nil end
  local v = n.inputs[1]
  for _, i in ipairs(ir.inputs(g)) do
    if v == i.name then return nil end
  end
  local users = ir.consumers(g)[v]
  if #users ~= 1 then return nil end
  return ir.by_name(g)[v]
end

local function note(n, text) n.fused[#n.fused + 1] = text end

local RULES = {
  function(g, n)
    if not n.layer.inference_identity then return false end
    local p = ir.by_name(g)[n.inputs[1]]
    if p then note(p, util.snake(n.op):gsub('_', ' ') .. ' ' .. n.name .. ' removed') end
    ir.bypass(g, n, n.inputs[1])
    return true
  end,
  function(g, n)
    local p = M.sole_producer(g, n)
    if not (p and p.op:match('^ZeroPadding') and n.layer.absorb_padding) then return false end
    n.layer.absorb_padding(n, p.p.padding)
    n.inputs[1] = p.inputs[1]
    n.in_shape, n.in_shapes = p.in_shape, { p.in_shape }
    local shape = n.layer.shape(n, n.in_shape)
    assert(util.shape_eq(shape, n.shape), 'cnnc: padding fusion changed a shape')
    ir.bypass(g, p, p.inputs[1])
    note(n, 'padding of ' .. p.name)
    return true
  end,
  function(g, n)
    if n.op ~= 'BatchNormalization' or #n.epilogue ~= 1 then return false end
    local p = M.sole_producer(g, n)
    if not (p and p.layer.fold_affine and #p.epilogue == 0) then return false end
    -- backward code recovers a folded batch norm's gradients where the kernel is channels
    -- last (cnnc.emit.backward's unfold step): other layers keep it as an epilogue step
    if g.fuse_for_backward and not p.layer.unfold_c then return false end
    local st = n.epilogue[1]
    local scale, shift = {}, {}
    local c = n.shape[#n.shape]
    for i = 0, c - 1 do scale[i], shift[i] = epilogue.affine_coeffs(st, i) end
    -- What the gradients of the unfolded weights and of gamma/beta need (cnnc.backward):
    -- the batch norm's step and the weights before this fold.
    local record = { origin = n.name, step = st, kernel = ir.weight(p, 'kernel'), bias = ir.weight(p, 'bias') }
    p.layer.fold_affine(p, scale, shift)
    p.folded = util.copy(p.folded or {})
    p.folded[#p.folded + 1] = record
    ir.bypass(g, n, p.name)
    note(p, 'batch norm ' .. n.name .. ' folded into weights')
    return true
  end,
  function(g, n)
    if not n.layer.identity then return false end
    local p = M.sole_producer(g, n)
    if not (p and p.layer.epilogue and not epilogue.ends_in_softmax(p.epilogue)) then return false end
    for _, st in ipairs(n.epilogue) do p.epilogue[#p.epilogue + 1] = st end
    ir.bypass(g, n, p.name)
    note(p, n.name .. ' fused')
    return true
  end,
}

-- Rows and columns of a pooling layer's input that its windows read (nil unless it is an
-- unpadded window pooling).
local POOLS = { MaxPooling1D = true, MaxPooling2D = true, AveragePooling1D = true, AveragePooling2D = true,
  LPPooling1D = true, LPPooling2D = true, WeightedAveragePooling1D = true, WeightedAveragePooling2D = true }
local function pool_reads(n)
  local q = n.g
  if not (POOLS[n.op] and q) or q.pt + q.pb + q.pl + q.pr ~= 0 then return nil end
  return (q.oh - 1) * q.sh + (q.kh - 1) * q.dh + 1, (q.ow - 1) * q.sw + (q.kw - 1) * q.dw + 1
end

local function trim(g, n)
  local rh, rw = pool_reads(n)
  if not rh then return false end
  local p = M.sole_producer(g, n)
  if not (p and (p.op == 'Conv1D' or p.op == 'Conv2D') and p.g) then return false end
  if rh >= p.g.oh and rw >= p.g.ow then return false end
  local before = util.shape_str(p.shape)
  p.g, n.g = util.copy(p.g), util.copy(n.g) -- ir.clone shares them with the graph given
  p.g.oh, p.g.ow = math.min(rh, p.g.oh), math.min(rw, p.g.ow)
  p.shape = window.out_shape(p.g, p.shape[#p.shape])
  n.in_shape, n.in_shapes = p.shape, { p.shape }
  n.g.ih, n.g.iw = p.g.oh, p.g.ow
  note(p, string.format('output %s trimmed to %s: %s never reads the rest', before, util.shape_str(p.shape), n.name))
  return true
end

function M.run(g, opts)
  g = ir.clone(g)
  -- The multiply-adds of the layers as written, next to those compiled (cnnc.report.figures).
  g.macs_written = select(2, require('cnnc.report').totals(g))
  opts = opts or {}
  g.fuse_for_backward = opts.backward or nil
  local rules = RULES
  if not opts.keep_all then
    rules = {}
    for i, r in ipairs(RULES) do rules[i] = r end
    rules[#rules + 1] = trim
  end
  local changed = true
  while changed do
    changed = false
    for _, n in ipairs(g.nodes) do
      for _, rule in ipairs(rules) do
        if rule(g, n) then changed = true; break end
      end
      if changed then break end
    end
  end
  g.fuse_for_backward = nil
  return g
end

return M
