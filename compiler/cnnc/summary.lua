-- cnnc.summary: the text of `cnnc summary`.
--
-- The Keras-like table of the typed graph (every layer as written), the totals, the
-- memory plan's arena next to the sum of all activations, and the fused graph: which
-- layers' work now happens inside which.

local report = require 'cnnc.report'
local util = require 'cnnc.util'

local M = {}

function M.text(r)
  local g, f, p = r.typed, r.fused, r.planned
  local out = {}
  local ir = require 'cnnc.ir'
  if ir.is_multi(g) then
    local function names(list)
      local t = {}
      for _, v in ipairs(list) do
        t[#t + 1] = string.format('%s %s', v.label, util.shape_str(v.shape))
      end
      return #t > 0 and table.concat(t, ', ') or 'none'
    end
    local io = ir.io(g)
    out[#out + 1] = string.format('Model: %s (inputs: %s; outputs: %s)', g.name, names(io.inputs), names(io.outputs))
  else
    out[#out + 1] = string.format('Model: %s (input %s)', g.name, util.shape_str(g.input.shape))
  end
  out[#out + 1] = report.table(report.rows(g))
  local f = report.figures(p)
  out[#out + 1] = ''
  out[#out + 1] = string.format('Total params: %d (%s weights as float32: %d bytes)', f.params,
    report.human(f.params), 4 * f.params)
  out[#out + 1] = string.format('Multiply-adds per prediction (%s): %s, %s', r.target.name, report.human(f.macs),
    report.macs_text(f))
  out[#out + 1] = string.format('Workspace (arena): %s; every activation in its own buffer: %d bytes',
    report.arena_text(f), f.unplanned)
  out[#out + 1] = ''
  if r.fuse_off then
    out[#out + 1] = 'Fusion: off (--no-fuse)'
  else
    out[#out + 1] = string.format('After fusion: %d layers run (of %d written)', #(p or f).nodes, #g.nodes)
    local frows = { { 'layer', 'type', 'output', 'epilogue / fused' } }
    for _, n in ipairs(report.rows(p or f)) do
      if n[1] ~= '#' and n[3] ~= 'Input' then frows[#frows + 1] = { n[2], n[3], n[4], n[7] } end
    end
    out[#out + 1] = report.table(frows, '  ', {})
  end
  return table.concat(out, '\n')
end

return M
