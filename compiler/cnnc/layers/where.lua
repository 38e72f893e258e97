-- cnnc.layers.where: Where (importer only), ONNX's elementwise choice: the output is the
-- second input where the first (the condition) is nonzero, else the third; the three
-- broadcast as NumPy does. A constant operand is a Constant layer feeding it.
--
-- C: a loop nest over the output (neighbouring axes that every operand walks contiguously
-- merged), each operand read with stride 0 along the axes it is stretched on.

local nd = require 'cnnc.layers.nd'
local template = require 'cnnc.template'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

M.kinds = { Where = { rank = 0, internal = true, args = {} } }

function M.shape(node)
  local s = node.in_shapes
  if #s ~= 3 then util.fail(node, 'Where takes three inputs (condition, x, y), got %d', #s) end
  local out = nd.broadcast(s[1], s[2])
  out = out and nd.broadcast(out, s[3])
  if not out then
    util.fail(node, 'shapes %s, %s and %s do not broadcast', util.shape_str(s[1]), util.shape_str(s[2]), util.shape_str(s[3]))
  end
  return out
end

function M.reference(node, c, _, ins)
  local y = tensor.new(node.shape, 'double')
  local st = {}
  for k = 1, 3 do st[k] = nd.broadcast_strides(node.in_shapes[k], node.shape) end
  local k = 0
  nd.each(node.shape, function(idx)
    local pick = c.data[nd.offset(idx, st[1])] ~= 0 and 2 or 3
    y.data[k] = ins[pick].data[nd.offset(idx, st[pick])]
    k = k + 1
  end)
  return y
end

function M.emit(node, E)
  local lists = { nd.strides(node.shape) }
  for k = 1, 3 do lists[k + 1] = nd.broadcast_strides(node.in_shapes[k], node.shape) end
  local d, ls = nd.merge(node.shape, lists)
  local open, close = nd.c_loops(d)
  return template.section('nd', 'where', {
    fn = E:fn(node), comment = E:comment(node), open = open, close = close, out_index = nd.c_index(ls[1]),
    c_index = nd.c_index(ls[2]), x_index = nd.c_index(ls[3]), y_index = nd.c_index(ls[4]),
  })
end

return M
