-- cnnc.emit: a planned graph becomes NAME.c and NAME.h.
--
-- The C file reads top-down: banner with the layer table, weights (exact C99 hex-float
-- literals), helpers, one static function per layer (each rendered by its layer module
-- from templates), then the forward function, a straight list of calls on named buffers.
-- Output is a pure function of the graph: emitting twice gives identical bytes.

local epilogue = require 'cnnc.epilogue'
local ir = require 'cnnc.ir'
local report = require 'cnnc.report'
local template = require 'cnnc.template'
local util = require 'cnnc.util'

local M = {}

M.VERSION = 'cnnc 0.1'

-- The context a layer's emit(node, E) receives.
local Context = {}
Context.__index = Context

function Context:fn(node) return util.c_ident(node.name) .. '_forward' end

function Context:weight(node, wname)
  local name = util.c_ident(node.name) .. '_' .. wname
  self.used_weights[name] = true
  return name
end

function Context:comment(node)
  local parts = { node.name .. ': ' .. node.op }
  if node.layer.describe then parts[#parts + 1] = node.layer.describe(node) end
  local s = table.concat(parts, ' ') .. string.format(', %s -> %s', util.shape_x(node.in_shape), util.shape_x(node.shape))
  local e = epilogue.describe(node.epilogue)
  if e ~= '' then s = s .. ', then ' .. e end
  return util.c_comment(s)
end

function Context:store(node, dst, src, ch)
  return epilogue.c_store(node.epilogue, dst, src, ch)
end

function Context:post(node, ptr, channels)
  local s = epilogue.c_post(node.epilogue, ptr, channels)
  if s ~= '' then self.helpers.softmax = true end
  return s
end

function Context:need(helper) self.helpers[helper] = true end

-- A layer whose input first goes through fn(scratch, input) (a padded copy): the forward
-- function calls that, then the layer on the scratch buffer.
function Context:before(node, fn) self.pre[node] = fn end
-- A layer followed by fn(out) on its finished output (epilogue steps without vector form).
function Context:after(node, fn) self.post_fns[node] = fn end
-- A layer whose function takes (out, in, part, parts) and runs on every thread.
function Context:parallel(node) self.par[node] = true end

-- A constant array derived at emit time (packed weights, window tables); returns its C name.
function Context:constant(node, cname_suffix, values, comment)
  local name = util.c_ident(node.name) .. '_' .. cname_suffix
  self.constants[#self.constants + 1] = { name = name, values = values, comment = comment }
  return name
end

local function float_literal(v)
  if v == 0 then return (1 / v < 0) and '-0x0p+0f' or '0x0p+0f' end
  return string.format('%a', v) .. 'f'
end
M.float_literal = float_literal

-- A constant float array: C99 hex-float literals in the file, or, when the weights go to a
-- blob (blob = {floats = list, name = symbol}), a macro naming its place in the blob.
local function array_text(cname, values, count, comment, blob)
  if blob then
    local offset = #blob.floats
    for i = 1, count do blob.floats[offset + i] = values(i) end
    -- Keep every array 64-byte aligned inside the blob.
    while #blob.floats % 16 ~= 0 do blob.floats[#blob.floats + 1] = 0 end
    return string.format('#define %s (cnnc_blob + %d) /* %s, %d floats */', cname, offset,
      util.c_comment(comment), count)
  end
  local lines, row = {}, {}
  for i = 1, count do
    row[#row + 1] = float_literal(values(i))
    if #row == 8 then lines[#lines + 1] = table.concat(row, ', ') .. ','; row = {} end
  end
  if #row > 0 then lines[#lines + 1] = table.concat(row, ', ') .. ',' end
  return template.section('model', 'weights', {
    comment = util.c_comment(comment), cname = cname, count = count, values = table.concat(lines, '\n') })
end

-- The target's vector macros and CPU check (templates/simd.c).
local function target_prelude(t, name)
  if t.name == 'generic' then return template.section('simd', 'generic', { name = name }) end
  local parts = { template.section('simd', t.section, {}) }
  if t.cpu then
    local check = string.format('__builtin_cpu_supports("%s")', t.cpu)
    if t.cpu2 then check = check .. string.format(' && __builtin_cpu_supports("%s")', t.cpu2) end
    parts[#parts + 1] = template.section('simd', 'x86_common', { gcc_target = t.gcc_target,
      target = t.name, name = name, cpu_check = check })
  else
    parts[#parts + 1] = ''
  end
  return table.concat(parts, '\n\n')
end

local function layout(shape)
  if #shape == 3 then return 'HWC' end
  if #shape == 2 then return 'WC' end
  if #shape == 1 then return 'C' end
  return 'ND'
end

local function summary_text(g)
  local params, macs = report.totals(g)
  local lines = {
    'Layers (shapes without the batch dimension, channels last):',
    report.table(report.rows(g), ' *   '),
    ' *',
    string.format(' * Parameters: %d. Multiply-adds: %d. Arena: %d bytes (all activations: %d bytes).',
      params, macs, 4 * g.plan.arena_floats, 4 * g.plan.total_floats),
  }
  return table.concat(lines, '\n')
end

-- Returns c_text, h_text and, with opts.blob, the weights as little-endian float32 bytes
-- (NAME.weights.bin, linked in as an object: see cnnc.cli). opts: {source = model file
-- name, target = cnnc.targets entry, blob = bool}.
function M.run(g, opts)
  opts = opts or {}
  local name = g.name
  local t = opts.target or require('cnnc.targets').list.generic
  local threads = opts.threads or 1
  local E = setmetatable({ used_weights = {}, helpers = {}, target = t, simd = t.width > 1,
    constants = {}, threads = threads, pre = {}, post_fns = {}, par = {} }, Context)
  local plan = g.plan
  local source = util.c_comment(opts.source or g.source or 'a model')
  local summary = util.c_comment(summary_text(g))

  -- Layer functions first: rendering them tells which helpers and weights are used.
  local funcs, calls, buffers = {}, {}, {}
  local function ptr(value)
    local r = plan.root[value]
    local s = plan.storage[r]
    if s.kind == 'input' then return 'input' end
    if s.kind == 'output' then return 'output' end
    return util.c_ident(r) .. '_out'
  end
  for _, n in ipairs(g.nodes) do
    if not n.layer.alias then
      funcs[#funcs + 1] = n.layer.emit(n, E)
      local args = { ptr(n.name) }
      for _, v in ipairs(n.inputs) do args[#args + 1] = ptr(v) end
      local what = string.format(' /* %s %s */', n.op, util.shape_x(n.shape))
      if plan.scratch and plan.scratch[n.name] then
        local sname = util.c_ident(n.name) .. '_scratch'
        buffers[#buffers + 1] = string.format('float *%s = arena + %d; /* padded input of %s */', sname,
          plan.scratch[n.name], n.name)
        if E.pre[n] then
          calls[#calls + 1] = string.format('%s(%s, %s);', E.pre[n], sname, args[2])
          args[2] = sname
        else
          args[#args + 1] = sname
        end
      end
      if E.par[n] then
        calls[#calls + 1] = string.format('cnnc_parallel(%s, %s);%s', E:fn(n), table.concat(args, ', '), what)
      else
        calls[#calls + 1] = string.format('%s(%s);%s', E:fn(n), table.concat(args, ', '), what)
      end
      if E.post_fns[n] then calls[#calls + 1] = string.format('%s(%s);', E.post_fns[n], args[1]) end
      local s = plan.storage[n.name]
      if s.kind == 'arena' then
        buffers[#buffers + 1] = string.format('float *%s_out = arena + %d; /* %s */',
          util.c_ident(n.name), s.offset, util.shape_x(n.shape))
      end
    end
  end
  if plan.copy_input_to_output then
    calls[#calls + 1] = string.format('memcpy(output, input, %d * sizeof(float));', util.prod(g.input.shape))
  end

  local funcs_text = table.concat(funcs, '\n')
  local weights = {}
  local blob = opts.blob and { floats = {}, symbol = '_binary_' .. name .. '_weights_bin_start' } or nil
  for _, n in ipairs(g.nodes) do
    for _, w in ipairs(n.weights or {}) do
      local cname = util.c_ident(n.name) .. '_' .. w.name
      if E.used_weights[cname] then
        local t = w.tensor
        weights[#weights + 1] = array_text(cname, function(i) return t.data[i - 1] end, t.n,
          string.format('%s.%s %s', n.name, w.name, util.shape_str(t.shape)), blob)
      end
    end
    -- A SIMD layer reads its own padded copies of these; emit them only where used.
    for _, c in ipairs(epilogue.c_constants(n.epilogue, n.shape[#n.shape])) do
      if funcs_text:find(c.name .. '[', 1, true) then
        weights[#weights + 1] = array_text(c.name, function(i) return c.values[i] end, #c.values, c.comment, blob)
      end
    end
  end

  local helpers = {}
  for _, h in ipairs(util.sorted_keys(E.helpers)) do
    helpers[#helpers + 1] = template.section('helpers', h, {})
  end

  local ws = 4 * plan.arena_floats
  local parts = {
    template.section('model', 'banner', { file = name .. '.c', version = M.VERSION, source = source,
      summary = summary, header = name .. '.h', TARGET = t.name, target_prelude = target_prelude(t, name),
      feature_macros = threads > 1 and '#define _POSIX_C_SOURCE 200809L\n#include <pthread.h>\n' or '' }),
  }
  local function section(title, body)
    if #body == 0 then return end
    parts[#parts + 1] = template.section('model', 'section', { title = title })
    parts[#parts + 1] = table.concat(body, '\n\n')
  end
  for _, c in ipairs(E.constants) do
    weights[#weights + 1] = array_text(c.name, function(i) return c.values[i] end, #c.values, c.comment, blob)
  end
  if blob then
    table.insert(weights, 1, template.section('model', 'blob', { name = name, symbol = blob.symbol,
      floats = #blob.floats }))
  end
  section('weights', weights)
  -- An empty region would draw clang's "unused attribute" warning (a model of views only).
  if E.simd and (#funcs > 0 or #helpers > 0) then
    table.insert(helpers, 1, 'CNNC_ISA_BEGIN')
    funcs[#funcs + 1] = 'CNNC_ISA_END'
  end
  if next(E.par) then table.insert(helpers, 1, template.section('model', 'threads', { N = threads })) end
  section('helpers', helpers)
  section('layers', funcs)
  section('forward', { template.section('model', 'forward', {
    name = name, WS = ws, ARENA_FLOATS = math.max(plan.arena_floats, 1),
    arena = #buffers > 0 and 'float *arena = workspace;' or '(void)workspace;',
    buffers = table.concat(buffers, '\n'), calls = table.concat(calls, '\n'),
  }) })
  local c_text = template.reindent(table.concat(parts, '\n\n'))

  local out_shape = ir.shape_of(g, g.output)
  local out_node = ir.by_name(g)[plan.root[g.output]]
  local softmax = out_node and epilogue.ends_in_softmax(out_node.epilogue) and 1 or 0
  local function dims(s)
    local t = {}
    for i = 1, #s do t[i] = tostring(s[i]) end
    return table.concat(t, ', ')
  end
  local uc = name:upper()
  local h_text = template.reindent(template.section('model.h', 'header', {
    file = name .. '.h', version = M.VERSION, source = source, summary = summary,
    GUARD = uc .. '_H', UC = uc, name = name,
    INPUT_SIZE = util.prod(g.input.shape), INPUT_RANK = #g.input.shape, INPUT_SHAPE = dims(g.input.shape),
    INPUT_LAYOUT = g.input.layout or layout(g.input.shape),
    OUTPUT_SIZE = util.prod(out_shape), OUTPUT_RANK = #out_shape, OUTPUT_SHAPE = dims(out_shape),
    OUTPUT_LAYOUT = g.output_layout or layout(out_shape), SOFTMAX = softmax, WS = ws, TARGET = t.name,
  }))
  local blob_bytes
  if blob then
    local ffi = require 'ffi'
    local buf = ffi.new('float[?]', math.max(#blob.floats, 1))
    for i, v in ipairs(blob.floats) do buf[i - 1] = v end
    blob_bytes = ffi.string(buf, 4 * #blob.floats)
  end
  return c_text, h_text, blob_bytes
end

-- Number of floats of constant data a planned graph would emit (weights in use are not
-- known before emitting, so this counts all weights and Winograd kernels: an upper bound).
function M.weight_floats(g)
  local n = 0
  for _, node in ipairs(g.nodes) do
    for _, w in ipairs(node.weights or {}) do n = n + w.tensor.n end
    -- A Winograd layer's transformed kernel is (m+2)^2/9 times bigger.
    if node.winograd then n = n + node.winograd.P * node.winograd.C * node.winograd.Kp end
  end
  return n
end

return M
