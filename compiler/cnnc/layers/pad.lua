-- cnnc.layers.pad: Pad, padding along any axes of an item (ONNX Pad): `pads` lists
-- {before, after} per axis (negative amounts crop), `mode` is constant (cells outside the
-- input are `value`), edge (the nearest input cell), reflect (mirrored without repeating
-- the border cell, as NumPy's 'reflect') or wrap (the input repeated periodically, as
-- NumPy's 'wrap'; ONNX opset 19). ZeroPadding1D/2D remain the layers for zero
-- padding of images: those the fuse pass can fold into a convolution.

local nd = require 'cnnc.layers.nd'
local template = require 'cnnc.template'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

M.kinds = { Pad = { rank = 0, args = {
  { 'pads', 'values', required = true },
  { 'mode', 'enum', default = 'constant', values = { constant = 1, edge = 1, reflect = 1, wrap = 1 } },
  { 'value', 'number', default = 0 },
} } }

local function amount(node, i)
  local p = node.p.pads[i]
  return p[1], p[2]
end

function M.shape(node, in_shape)
  local pads = node.p.pads
  if #pads ~= #in_shape then
    util.fail(node, 'pads gives %d axes but the input %s has %d', #pads, util.shape_str(in_shape), #in_shape)
  end
  local out = {}
  for i = 1, #in_shape do
    local p = pads[i]
    if type(p) ~= 'table' or type(p[1]) ~= 'number' or type(p[2]) ~= 'number' or p[1] ~= math.floor(p[1])
      or p[2] ~= math.floor(p[2]) then
      util.fail(node, 'pads[%d] must be {before, after} (integers)', i)
    end
    out[i] = in_shape[i] + p[1] + p[2]
    if out[i] < 1 then util.fail(node, 'padding axis %d of %s by %d, %d leaves nothing', i, util.shape_str(in_shape), p[1], p[2]) end
  end
  return out
end

function M.describe(node)
  local t = {}
  for i = 1, #node.p.pads do t[i] = string.format('%d,%d', amount(node, i)) end
  local v = node.p.mode == 'constant' and string.format(' %g', node.p.value) or ''
  return string.format('%s%s, pads %s', node.p.mode, v, table.concat(t, ' '))
end

-- Source index along one axis of length n, or nil outside the input (constant mode).
local function source(mode, i, n)
  if mode == 'edge' then return math.max(0, math.min(n - 1, i)) end
  if mode == 'wrap' then return i % n end
  if mode == 'reflect' then
    if n == 1 then return 0 end
    local period = 2 * (n - 1)
    local m = i % period
    return m < n and m or period - m
  end
  if i < 0 or i >= n then return nil end
  return i
end

-- Calls f(k, off) for every output value k with the offset of its input value (nil where
-- constant mode puts the padding value).
local function each_source(node, f)
  local ins, mode = node.in_shape, node.p.mode
  local st = nd.strides(ins)
  local k = 0
  nd.each(node.shape, function(idx)
    local off = 0
    for i = 1, #idx do
      local s = source(mode, idx[i] - node.p.pads[i][1], ins[i])
      if not s then off = nil; break end
      off = off + s * st[i]
    end
    f(k, off)
    k = k + 1
  end)
end

function M.reference(node, x)
  local y = tensor.new(node.shape, 'double')
  each_source(node, function(k, off) y.data[k] = off and x.data[off] or node.p.value end)
  return y
end

-- Backward: each output value's gradient goes to the input value it copies (edge and
-- reflect copy some several times: their gradients add up); padding values take none.
function M.backward(node, _, _, _, dy)
  local dx = tensor.new(node.in_shape, 'double')
  each_source(node, function(k, off)
    if off then dx.data[off] = dx.data[off] + dy.data[k] end
  end)
  return dx
end

function M.emit(node, E)
  local ins, mode = node.in_shape, node.p.mode
  local st = nd.strides(ins)
  local open, close = nd.c_loops(node.shape)
  local lines, checks, terms = {}, {}, {}
  for i = 1, #ins do
    local v, n, before, after = 's' .. (i - 1), ins[i], node.p.pads[i][1], node.p.pads[i][2]
    local e = 'i' .. (i - 1)
    if before > 0 then e = e .. ' - ' .. before elseif before < 0 then e = e .. ' + ' .. (-before) end
    if mode == 'constant' or n > 1 then
      if mode == 'edge' and (before > 0 or after > 0) then
        lines[#lines + 1] = string.format('const int %s = %s < 0 ? 0 : (%s > %d ? %d : %s);', v, e, e, n - 1, n - 1, e)
      elseif mode == 'wrap' and (before > 0 or after > 0) then
        lines[#lines + 1] = string.format('int %s = (%s) %% %d;', v, e, n)
        lines[#lines + 1] = string.format('if (%s < 0) %s += %d;', v, v, n)
      elseif mode == 'reflect' and (before > 0 or after > 0) then
        local period = 2 * (n - 1)
        lines[#lines + 1] = string.format('int %s = (%s) %% %d;', v, e, period)
        lines[#lines + 1] = string.format('if (%s < 0) %s += %d;', v, v, period)
        lines[#lines + 1] = string.format('if (%s >= %d) %s = %d - %s;', v, n, v, period, v)
      else
        lines[#lines + 1] = string.format('const int %s = %s;', v, e)
        if mode == 'constant' and (before > 0 or after > 0) then
          checks[#checks + 1] = string.format('%s >= 0 && %s < %d', v, v, n)
        end
      end
      terms[#terms + 1] = st[i] == 1 and v or (v .. ' * ' .. st[i])
    end
  end
  local idx = #terms > 0 and table.concat(terms, ' + ') or '0'
  local value = string.format('in[%s]', idx)
  if #checks > 0 then value = string.format('(%s) ? in[%s] : %s', table.concat(checks, ' && '), idx, util.c_float(node.p.value)) end
  return template.section('nd', 'pad', {
    fn = E:fn(node), comment = E:comment(node), open = open, close = close, sources = table.concat(lines, '\n'),
    out_index = nd.c_index(nd.strides(node.shape)), value = value,
  })
end

return M
