-- cnnc.report: the layer table shown by `cnnc summary` and in generated file banners.
--
-- Rows come from a typed (or fused) graph: name, Keras class, output shape, parameter
-- count, details and what was fused in, and, for a graph that is not a chain (a Functional
-- or ONNX model), what each layer is connected to (Keras's "Connected to"). A second call of
-- a shared layer counts no parameters: they are the first call's. Formatting is plain
-- text columns.

local util = require 'cnnc.util'
local epilogue = require 'cnnc.epilogue'

local M = {}

function M.params(node)
  if node.shares then return 0 end
  local n = 0
  for _, w in ipairs(node.weights or {}) do n = n + w.tensor.n end
  return n
end

function M.macs(node)
  return node.layer.macs and node.layer.macs(node) or 0
end

local function fused_text(node)
  local t = {}
  local e = epilogue.describe(node.epilogue or {})
  if e ~= '' then t[#t + 1] = e end
  for _, f in ipairs(node.fused or {}) do t[#t + 1] = f end
  if node.sel and node.sel.text then t[#t + 1] = node.sel.text end -- the kernel cnnc.passes.select chose
  return table.concat(t, '; ')
end

-- Is every node's one input the value before it (the first node's the model's input)?
local function is_chain(g)
  local ins = require('cnnc.ir').inputs(g)
  if #ins ~= 1 then return false end
  local prev = ins[1].name
  for _, n in ipairs(g.nodes) do
    if #n.inputs ~= 1 or n.inputs[1] ~= prev then return false end
    prev = n.name
  end
  return true
end

function M.rows(g)
  local rows = {}
  local connected = not is_chain(g)
  rows[1] = { '#', 'layer', 'type', 'output', 'params', 'details', 'epilogue / fused', connected and 'connected to' or nil }
  for _, v in ipairs(require('cnnc.ir').inputs(g)) do
    rows[#rows + 1] = { '0', v.name, 'Input', util.shape_str(v.shape), '0', '', '', connected and '' or nil }
  end
  for i, n in ipairs(g.nodes) do
    local details = n.layer.describe and n.layer.describe(n) or (n.layer.alias and 'no code (view of its input)' or '')
    if n.shares then details = details .. (details ~= '' and '; ' or '') .. 'weights of ' .. n.shares end
    rows[#rows + 1] = {
      tostring(n.index or i), n.name, n.op, util.shape_str(n.shape), tostring(M.params(n)), details, fused_text(n),
      connected and table.concat(n.inputs, ', ') or nil,
    }
  end
  return rows
end

function M.table(rows, indent, right)
  indent = indent or ''
  right = right or { [1] = true, [5] = true }
  local widths = {}
  for _, r in ipairs(rows) do
    for j, c in ipairs(r) do widths[j] = math.max(widths[j] or 0, #c) end
  end
  local lines = {}
  for i, r in ipairs(rows) do
    local cells = {}
    for j, c in ipairs(r) do
      local r = right[j] and i > 1
      cells[j] = r and string.rep(' ', widths[j] - #c) .. c or c .. string.rep(' ', widths[j] - #c)
    end
    lines[#lines + 1] = (indent .. table.concat(cells, '  ')):gsub('%s+$', '')
  end
  return table.concat(lines, '\n')
end

function M.totals(g)
  local params, macs = 0, 0
  for _, n in ipairs(g.nodes) do
    params = params + M.params(n)
    macs = macs + M.macs(n)
  end
  return params, macs
end

-- The figures the summary and the generated banner both give, for a planned graph g:
-- {params, macs (as compiled, after fusion trimmed the rows no pool reads), macs_written
-- (the layers as written: g.macs_written, set by the fuse pass), arena, activations, scratch
-- (bytes), scratch_layer, unplanned (bytes of all activations)}.
function M.figures(g)
  local params, macs = M.totals(g)
  local written = g.macs_written or macs
  local p = g.plan
  return { params = params, macs = macs, macs_written = written, arena = 4 * p.arena_floats,
    activations = 4 * p.activation_floats, scratch = 4 * p.scratch_floats, scratch_layer = p.scratch_layer,
    unplanned = 4 * p.total_floats }
end

-- "2407168 (2794240 in the layers as written: rows no pool reads are not computed)".
function M.macs_text(f)
  if f.macs == f.macs_written then return tostring(f.macs) end
  return string.format('%d (%d in the layers as written: fusion left out rows no pool reads)', f.macs, f.macs_written)
end

-- "181696 bytes = activations 27904 + kernel scratch 153792 (conv2d_1)".
function M.arena_text(f)
  if f.scratch == 0 then return string.format('%d bytes of activations', f.arena) end
  return string.format('%d bytes = activations %d + kernel scratch %d (%s)', f.arena, f.activations, f.scratch,
    f.scratch_layer)
end

local function human(n)
  if n >= 1e9 then return string.format('%.2f G', n / 1e9) end
  if n >= 1e6 then return string.format('%.2f M', n / 1e6) end
  if n >= 1e3 then return string.format('%.1f k', n / 1e3) end
  return tostring(n)
end
M.human = human

return M
