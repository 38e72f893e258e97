-- cnnc.layers.reduce: reductions over chosen axes (importer only): Reduce, for ONNX's
-- ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
-- ReduceSumSquare, ReduceLogSum and ReduceLogSumExp; and ArgReduce, for ArgMax and ArgMin.
--
-- Reduce's `axes` are item axes (1-based); the output keeps every axis, the reduced ones
-- with size 1 (the importer views it without them when keepdims is 0). A reduction over
-- the spatial axes of an image is the importer's global pooling instead. ArgReduce gives
-- the position (as a number) of the first largest or smallest value along `axis`, or of
-- the last with select_last_index; NaN counts as the largest and the smallest (as
-- ONNX Runtime's comparisons leave it where it is first met).
--
-- C (templates/reduce.c): the output starts at the operation's identity, one pass over
-- the input in memory order folds each value into its output (so the innermost loop runs
-- over contiguous memory whichever axes are reduced), a last pass finishes (mean, square
-- root, logarithm). ReduceLogSumExp and ArgReduce run per output, over the reduced values.

local ieee = require 'cnnc.ieee'
local nd = require 'cnnc.layers.nd'
local template = require 'cnnc.template'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

local OPS = { sum = 1, mean = 1, max = 1, min = 1, prod = 1, l1 = 1, l2 = 1, sum_square = 1, log_sum = 1,
  log_sum_exp = 1 }

M.kinds = {
  Reduce = { rank = 0, internal = true, args = {
    { 'op', 'enum', values = OPS, required = true },
    { 'axes', 'values', required = true },
  } },
  ArgReduce = { rank = 0, internal = true, args = {
    { 'op', 'enum', values = { max = 1, min = 1 }, required = true },
    { 'axis', 'int', min = 1, required = true },
    { 'select_last_index', 'bool', default = false },
  } },
}

-- init, fold(acc, v), finish(acc, count) in double; C: init, fold statement over acc and
-- x, finish expression of acc (count N).
local DEF = {
  sum = { 0, function(a, v) return a + v end, nil, '0.0f', '%s += %s;' },
  mean = { 0, function(a, v) return a + v end, function(a, n) return a / n end, '0.0f', '%s += %s;', '%s / $N' },
  max = { -math.huge, ieee.max, nil, '-INFINITY', 'max' },
  min = { math.huge, ieee.min, nil, 'INFINITY', 'min' },
  prod = { 1, function(a, v) return a * v end, nil, '1.0f', '%s *= %s;' },
  l1 = { 0, function(a, v) return a + math.abs(v) end, nil, '0.0f', '%s += fabsf(%s);' },
  l2 = { 0, function(a, v) return a + v * v end, function(a) return math.sqrt(a) end, '0.0f', '%s += %s * %s;', 'sqrtf(%s)' },
  sum_square = { 0, function(a, v) return a + v * v end, nil, '0.0f', '%s += %s * %s;' },
  log_sum = { 0, function(a, v) return a + v end, function(a) return math.log(a) end, '0.0f', '%s += %s;', 'logf(%s)' },
}

function M.shape(node, in_shape)
  local out = util.copy(in_shape)
  if node.op == 'ArgReduce' then
    if node.p.axis > #in_shape then util.fail(node, 'axis %d does not exist in %s', node.p.axis, util.shape_str(in_shape)) end
    out[node.p.axis] = 1
    return out
  end
  local seen = {}
  for _, a in ipairs(node.p.axes) do
    if type(a) ~= 'number' or a < 1 or a > #in_shape or seen[a] then
      util.fail(node, 'axes must be distinct axes of %s', util.shape_str(in_shape))
    end
    seen[a] = true
    out[a] = 1
  end
  node.reduced = seen
  return out
end

function M.describe(node)
  if node.op == 'ArgReduce' then return string.format('arg%s over axis %d', node.p.op, node.p.axis) end
  local t = {}
  for _, a in ipairs(node.p.axes) do t[#t + 1] = tostring(a) end
  return string.format('%s over axes %s', node.p.op, table.concat(t, ','))
end

function M.macs(node) return util.prod(node.in_shape) end

-- Calls f(out_offset, list of input offsets) for every output value.
local function each_output(node, f)
  local ins = node.in_shape
  local st = nd.strides(ins)
  local red = node.op == 'ArgReduce' and { [node.p.axis] = true } or node.reduced
  local kdims, rdims, kax, rax = {}, {}, {}, {}
  for a = 1, #ins do
    if red[a] then rdims[#rdims + 1], rax[#rax + 1] = ins[a], a
    else kdims[#kdims + 1], kax[#kax + 1] = ins[a], a end
  end
  local idx, k = {}, 0
  nd.each(kdims, function(ki)
    for i, a in ipairs(kax) do idx[a] = ki[i] end
    local offs = {}
    nd.each(rdims, function(ri)
      for i, a in ipairs(rax) do idx[a] = ri[i] end
      offs[#offs + 1] = nd.offset(idx, st)
    end)
    f(k, offs)
    k = k + 1
  end)
end

function M.reference(node, x)
  local y = tensor.new(node.shape, 'double')
  local op = node.p.op
  each_output(node, function(o, offs)
    if node.op == 'ArgReduce' then
      local best, at = nil, 0
      for j, off in ipairs(offs) do
        local v = x.data[off]
        local better = best == nil or (best == best and (v ~= v or (op == 'max' and v > best) or (op == 'min' and v < best)))
          or (node.p.select_last_index and (v == best or (v ~= v and best ~= best)))
        if better then best, at = v, j - 1 end
      end
      y.data[o] = at
    elseif op == 'log_sum_exp' then
      local m = -math.huge
      for _, off in ipairs(offs) do m = ieee.max(m, x.data[off]) end
      local s = 0
      for _, off in ipairs(offs) do s = s + math.exp(x.data[off] - m) end
      y.data[o] = (m == math.huge or m == -math.huge) and m or math.log(s) + m
    else
      local d = DEF[op]
      local acc = d[1]
      for _, off in ipairs(offs) do acc = d[2](acc, x.data[off]) end
      y.data[o] = d[3] and d[3](acc, #offs) or acc
    end
  end)
  return y
end

-- Loops and offset expressions over the kept (prefix k) and reduced (prefix r) axes.
local function loops(node)
  local ins = node.in_shape
  local st = nd.strides(ins)
  local red = node.op == 'ArgReduce' and { [node.p.axis] = true } or node.reduced
  local kd, ks, rd, rs, ko = {}, {}, {}, {}, {}
  local ost = nd.strides(node.shape)
  for a = 1, #ins do
    if red[a] then rd[#rd + 1], rs[#rs + 1] = ins[a], st[a]
    else kd[#kd + 1], ks[#ks + 1], ko[#ko + 1] = ins[a], st[a], ost[a] end
  end
  local kopen, kclose = nd.c_loops(kd, 'k')
  local ropen, rclose = nd.c_loops(rd, 'r')
  return { kopen = kopen, kclose = kclose, ropen = ropen, rclose = rclose, base = nd.c_index(ks, 'k'),
    off = nd.c_index(rs, 'r'), out = nd.c_index(ko, 'k'), N = util.prod(rd) }
end

function M.emit(node, E)
  local op, L = node.p.op, loops(node)
  local h = { fn = E:fn(node), comment = E:comment(node), kopen = L.kopen, kclose = L.kclose, ropen = L.ropen,
    rclose = L.rclose, base = L.base, off = L.off, out = L.out }
  if node.op == 'ArgReduce' then
    local cmp = op == 'max' and '>' or '<'
    -- Replace on a better value, on NaN first met; with select_last_index on ties too.
    h.better = string.format('j == 0 || (best == best && (v != v || v %s best))', cmp)
    if node.p.select_last_index then h.better = h.better .. ' || v == best || (v != v && best != best)' end
    return template.section('reduce', 'arg', h)
  end
  if op == 'log_sum_exp' then return template.section('reduce', 'log_sum_exp', h) end
  local d = DEF[op]
  local all = {}
  for a = 1, #node.in_shape do all[a] = node.in_shape[a] end
  local open, close = nd.c_loops(all, 'i')
  local st, ost = nd.strides(node.in_shape), nd.strides(node.shape)
  local oidx = {}
  for a = 1, #all do oidx[a] = node.reduced[a] and 0 or ost[a] end
  local fold
  if d[5] == 'max' then fold = ieee.c_max_into('out[o]', 'x')
  elseif d[5] == 'min' then fold = string.format('if (x < out[o] || x != x) out[o] = x;')
  else fold = string.format(d[5], 'out[o]', 'x', 'x') end
  local finish = ''
  if d[6] then
    finish = template.section('reduce', 'finish', { OUT = util.prod(node.shape),
      value = string.format(d[6], 'out[o]'):gsub('%$N', util.c_float(L.N)) })
  end
  return template.section('reduce', 'fold', { fn = h.fn, comment = h.comment, OUT = util.prod(node.shape), init = d[4],
    open = open, close = close, out = nd.c_index(oidx, 'i'), index = nd.c_index(st, 'i'), fold = fold, finish = finish })
end

return M
