-- cnnc.emit.header: NAME.h, and the layer table both generated files open with.
--
-- The header gives the sizes, shapes and layouts of the model's input and output as
-- upper-case macros (per tensor too, for a model with several), the workspace size, and
-- declares the entry points; the banner shared with NAME.c is the layer table of
-- cnnc.report with the totals.

local epilogue = require 'cnnc.epilogue'
local ir = require 'cnnc.ir'
local report = require 'cnnc.report'
local template = require 'cnnc.template'

local M = {}

local function layout(shape)
  if #shape == 3 then return 'HWC' end
  if #shape == 2 then return 'WC' end
  if #shape == 1 then return 'C' end
  return 'ND'
end

-- The banner's table of layers and totals (the same figures as `cnnc summary`).
function M.summary_text(g)
  local f = report.figures(g)
  local lines = {
    'Layers (shapes without the batch dimension, channels last):',
    report.table(report.rows(g), ' *   '),
    ' *',
    string.format(' * Parameters: %d. Multiply-adds: %s.', f.params, report.macs_text(f)),
    string.format(' * Workspace (arena): %s; every activation in its own buffer: %d bytes.', report.arena_text(f),
      f.unplanned),
  }
  local tuned = g.tune and require('cnnc.tune').describe(g.tune) or ''
  if tuned ~= '' then
    lines[#lines + 1] = ' * Experiment knobs (cnnc build --tune): ' .. tuned .. '.'
  end
  return table.concat(lines, '\n')
end

local function dims(s)
  local t = {}
  for i = 1, #s do t[i] = tostring(s[i]) end
  return table.concat(t, ', ')
end

-- A C string literal of a tensor's name (ONNX names may hold any character).
local function c_string(s)
  return '"' .. s:gsub('[^%w_ %.:/%-]', function(c) return string.format('\\%03o', c:byte()) end) .. '"'
end

-- The header's holes for the model's inputs and outputs: INPUT_*/OUTPUT_* describe the one
-- input and output, or, with several, the whole buffer (rank 1); then `io` lists each
-- tensor (cnnc.ir.io), and is empty for a model with one input and one output.
local function header_vars(g, vars)
  local io = ir.io(g)
  local plan = g.plan
  local function whole(list, size, what)
    if #list == 1 then
      local v = list[1]
      local layout_name = what == 'INPUT' and (g.input.layout or layout(v.shape))
        or (g.output_layout or layout(v.shape))
      return v.size, #v.shape, dims(v.shape), layout_name
    end
    return size, 1, tostring(size), #list == 0 and 'none' or 'several'
  end
  vars.INPUT_SIZE, vars.INPUT_RANK, vars.INPUT_SHAPE, vars.INPUT_LAYOUT = whole(io.inputs, io.input_size, 'INPUT')
  vars.OUTPUT_SIZE, vars.OUTPUT_RANK, vars.OUTPUT_SHAPE, vars.OUTPUT_LAYOUT = whole(io.outputs, io.output_size, 'OUTPUT')
  local softmax = 0
  if #io.outputs == 1 and io.outputs[1].name then
    local out_node = ir.by_name(g)[plan.root[io.outputs[1].name]]
    softmax = out_node and epilogue.ends_in_softmax(out_node.epilogue) and 1 or 0
  end
  vars.SOFTMAX = softmax
  if not ir.is_multi(g) then
    vars.io = ''
    return vars
  end
  local parts = {}
  for _, what in ipairs({ 'INPUT', 'OUTPUT' }) do
    local list = what == 'INPUT' and io.inputs or io.outputs
    local entries = {}
    for k, v in ipairs(list) do
      local shape = #v.shape > 0 and dims(v.shape) or '1'
      parts[#parts + 1] = template.section('model.h', 'tensor', { UC = vars.UC, WHAT = what, K = k - 1,
        NAME = c_string(v.label), OFFSET = v.offset, SIZE = v.size, RANK = math.max(#v.shape, 1), SHAPE = shape,
        LAYOUT = c_string(v.layout or layout(v.shape)), DTYPE = c_string(v.dtype or 'float32') })
      entries[#entries + 1] = string.format('{%s, %d, %d, %d, {%s}, %s}', c_string(v.label), v.offset, v.size,
        math.max(#v.shape, 1), shape, c_string(v.dtype or 'float32'))
    end
    parts[#parts + 1] = string.format('#define %s_%s_LIST {%s}', vars.UC, what, #entries > 0 and table.concat(entries, ', ')
      or '{"", 0, 0, 1, {0}, ""}')
  end
  vars.io = template.section('model.h', 'io', { UC = vars.UC, name = vars.name, NUM_INPUTS = #io.inputs,
    NUM_OUTPUTS = #io.outputs, tensors = table.concat(parts, '\n') })
  return vars
end

-- NAME.h. info: {version, source (a C comment), summary (a C comment), target, team =
-- {size} for a build whose predictions run on a team of threads}.
function M.text(g, info)
  local name, uc = g.name, g.name:upper()
  local team, profile = '', ''
  if info.team then
    team = template.section('model.h', 'team', { name = name, UC = uc, N = g.threads, TEAM_SIZE = info.team.size })
  end
  if info.profile then
    profile = template.section('model.h', 'profile', { name = name, UC = uc, STEPS = #info.profile,
      NAMES = table.concat(info.profile, ', ') })
  end
  return template.reindent(template.section('model.h', 'header', header_vars(g, {
    file = name .. '.h', version = info.version, source = info.source, summary = info.summary,
    GUARD = uc .. '_H', UC = uc, name = name, WS = 4 * g.plan.arena_floats, TARGET = info.target.name, team = team,
    profile = profile,
  })))
end

return M
