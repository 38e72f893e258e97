-- cnnc.layers.select: Select, a copy of chosen positions of the input (importer only):
-- ONNX's Slice, Gather with constant indices, Split, Expand and Tile on computed data.
--
-- `maps` holds one entry per item axis: false (the axis is copied as it is) or the list of
-- input positions (0-based) that the output positions of that axis take, in order. So a
-- Slice maps to start, start + step, ...; Gather to its indices; Expand of an axis of
-- size 1 to zeros; Tile to i mod n. The output has #map positions on a mapped axis.
--
-- C (templates/select.c): loops over the output axes up to the last one that needs a
-- table, then one memcpy of the rest: the trailing axes copied as they are, led by at
-- most one axis whose positions are consecutive (a slice with step 1).

local nd = require 'cnnc.layers.nd'
local template = require 'cnnc.template'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

M.kinds = { Select = { rank = 0, internal = true, args = { { 'maps', 'values', required = true } } } }

function M.shape(node, in_shape)
  local maps = node.p.maps
  if type(maps) ~= 'table' or #maps ~= #in_shape then
    util.fail(node, 'maps must have one entry per input axis (%d)', #in_shape)
  end
  local out = {}
  for a, n in ipairs(in_shape) do
    local m = maps[a]
    if m then
      if #m == 0 then util.fail(node, 'axis %d would have no positions', a) end
      for _, i in ipairs(m) do
        if i ~= math.floor(i) or i < 0 or i >= n then
          util.fail(node, 'position %s is outside axis %d of %s', tostring(i), a, util.shape_str(in_shape))
        end
      end
      out[a] = #m
    else
      out[a] = n
    end
  end
  return out
end

-- Is map m (nil: identity) the consecutive positions first .. first + #m - 1?
local function consecutive(m)
  for i = 2, #m do if m[i] ~= m[1] + i - 1 then return false end end
  return true
end

function M.describe(node)
  local t = {}
  for a, m in ipairs(node.p.maps) do
    if m then
      t[#t + 1] = consecutive(m) and string.format('axis %d [%d, %d)', a, m[1], m[1] + #m)
        or string.format('axis %d: %d positions', a, #m)
    end
  end
  return table.concat(t, ', ')
end

function M.reference(node, x)
  local y = tensor.new(node.shape, 'double')
  local st = nd.strides(node.in_shape)
  local maps = node.p.maps
  local k = 0
  nd.each(node.shape, function(idx)
    local off = 0
    for a = 1, #idx do off = off + (maps[a] and maps[a][idx[a] + 1] or idx[a]) * st[a] end
    y.data[k] = x.data[off]
    k = k + 1
  end)
  return y
end

function M.emit(node, E)
  local ins, outs, maps = node.in_shape, node.shape, node.p.maps
  local r = #ins
  local st, ost = nd.strides(ins), nd.strides(outs)
  -- The copied block: trailing identity axes, led by at most one consecutive axis.
  local b = r
  while b >= 1 and not maps[b] do b = b - 1 end
  local lead = 0
  if b >= 1 and consecutive(maps[b]) then
    lead = maps[b][1] * st[b]
    b = b - 1
  end
  local block = util.prod(outs, b + 1, r)
  local open, close, src, dst, tables = {}, {}, {}, {}, {}
  for a = 1, b do
    local o = 'o' .. (a - 1)
    open[#open + 1] = template.section('select', 'loop', { v = o, N = outs[a] })
    close[#close + 1] = '}'
    dst[#dst + 1] = ost[a] == block and o or string.format('%s * %d', o, ost[a] / block)
    local m = maps[a]
    if not m then
      src[#src + 1] = string.format('%s * %d', o, st[a])
    elseif consecutive(m) then
      src[#src + 1] = string.format('(%s + %d) * %d', o, m[1], st[a])
    else
      local t = {}
      for i, v in ipairs(m) do t[i] = tostring(v * st[a]) end
      tables[#tables + 1] = string.format('static const int at%d[%d] = {%s}; /* input offsets along axis %d */', a - 1,
        #m, table.concat(t, ', '), a - 1)
      src[#src + 1] = string.format('at%d[%s]', a - 1, o)
    end
  end
  if lead ~= 0 then src[#src + 1] = tostring(lead) end
  return template.section('select', 'layer', {
    fn = E:fn(node), comment = E:comment(node), tables = table.concat(tables, '\n'), open = table.concat(open, '\n'),
    close = table.concat(close, '\n'), dst = #dst > 0 and table.concat(dst, ' + ') or '0',
    src = #src > 0 and table.concat(src, ' + ') or '0', BLOCK = block,
  })
end

return M
