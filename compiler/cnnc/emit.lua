-- cnnc.emit: a planned graph becomes NAME.c and NAME.h.
--
-- The C file reads top-down: banner with the layer table, weights (exact C99 hex-float
-- literals), helpers, one static function per layer (each rendered by its layer module
-- from templates), then the forward function, a straight list of calls on named buffers.
-- Output is a pure function of the graph: emitting twice gives identical bytes.

local ffi = require 'ffi'
local epilogue = require 'cnnc.epilogue'
local ir = require 'cnnc.ir'
local report = require 'cnnc.report'
local template = require 'cnnc.template'
local sharing = require 'cnnc.threads'
local util = require 'cnnc.util'

local M = {}

M.VERSION = 'cnnc 0.1'

-- The context a layer's emit(node, E) receives.
local Context = {}
Context.__index = Context

function Context:fn(node) return util.c_ident(node.name) .. '_forward' end

-- A shared layer's later calls hold the first call's very tensors: one C array serves all.
function Context:weight(node, wname)
  local name = util.c_ident(node.name) .. '_' .. wname
  local t = ir.weight(node, wname)
  if t then
    name = self.weight_names[t] or name
    self.weight_names[t] = name
  end
  self.used_weights[name] = true
  return name
end

function Context:comment(node)
  local parts = { node.name .. ': ' .. node.op }
  if node.layer.describe then parts[#parts + 1] = node.layer.describe(node) end
  local s = table.concat(parts, ' ') .. string.format(', %s -> %s', util.shape_x(node.in_shape or {}), util.shape_x(node.shape))
  local e = epilogue.describe(node.epilogue)
  if e ~= '' then s = s .. ', then ' .. e end
  return util.c_comment(s)
end

function Context:store(node, dst, src, ch)
  return epilogue.c_store(node.epilogue, dst, src, ch)
end

function Context:post(node, ptr, channels)
  local s = epilogue.c_post(node.epilogue, ptr, channels)
  if s ~= '' then self:need('softmax') end
  return s
end

-- A helper of templates/helpers.c; SIMD targets get the vector softmax (and vector exp).
function Context:need(helper)
  if helper == 'softmax' and self.simd then
    self.helpers.vsoftmax, self.helpers.vexp = true, true
  else
    self.helpers[helper] = true
  end
end

-- A layer whose input first goes through fn(scratch, input) (a padded copy): the forward
-- function calls that, then the layer on the scratch buffer. With `units`, fn takes
-- (scratch, input, part, parts) like a parallel layer (below) and may be shared too.
function Context:before(node, fn, units) self.pre[node] = { fn = fn, units = units } end
-- A layer followed by fn(out) on its finished output (epilogue steps without vector form).
function Context:after(node, fn) self.post_fns[node] = fn end
-- A layer whose function takes (out, in, part, parts): called for every part from 0 to
-- parts - 1 (in any order, on any threads), the parts together do the layer's work exactly
-- once, each writing outputs no other part writes. `units` is the largest useful parts (the
-- function must accept any parts from 1 to units; default: the thread count). The forward
-- function decides whether the layer is worth sharing and into how many parts.
function Context:parallel(node, units) self.par[node] = units or self.threads end

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

-- The weights of a blob model, gathered in a growing float32 array: a Lua table of them
-- would stop at LuaJIT's limit of 2^27 elements ("table overflow").
local function blob_new(symbol)
  return { buf = ffi.new('float[?]', 1024), cap = 1024, n = 0, symbol = symbol }
end

local function blob_append(blob, values, count)
  local need = blob.n + count + 16
  if need > blob.cap then
    local cap = math.max(need, 2 * blob.cap)
    local buf = ffi.new('float[?]', cap)
    ffi.copy(buf, blob.buf, 4 * blob.n)
    blob.buf, blob.cap = buf, cap
  end
  local offset = blob.n
  for i = 1, count do blob.buf[offset + i - 1] = values(i) end
  -- Keep every array 64-byte aligned inside the blob (the new buffer is zero-filled).
  blob.n = offset + count + (16 - count % 16) % 16
  return offset
end

-- A constant float array: C99 hex-float literals in the file, or, when the weights go to a
-- blob (blob_new), a macro naming its place in the blob.
local function array_text(cname, values, count, comment, blob)
  if blob then
    local offset = blob_append(blob, values, count)
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
  local parts = { template.section('simd', t.section, {}) .. '\n'
    .. template.section('simd', t.section .. '_math', {}) }
  if t.cpu then
    local check = string.format('__builtin_cpu_supports("%s")', t.cpu)
    if t.cpu2 then check = check .. string.format(' && __builtin_cpu_supports("%s")', t.cpu2) end
    parts[#parts + 1] = template.section('simd', 'x86_common', { gcc_target = t.gcc_target,
      target = t.name, name = name, cpu_check = check })
  else
    parts[#parts + 1] = template.section('simd', t.common, { name = name })
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

-- Returns c_text, h_text and, with opts.blob, the weights as little-endian float32 bytes
-- (NAME.weights.bin, linked in as an object: see cnnc.cli). opts: {source = model file
-- name, target = cnnc.targets entry, blob = bool}.
function M.run(g, opts)
  opts = opts or {}
  local name = g.name
  local t = opts.target or require('cnnc.targets').list.generic
  local threads = opts.threads or 1
  local E = setmetatable({ used_weights = {}, weight_names = {}, helpers = {}, target = t, simd = t.width > 1,
    constants = {}, threads = threads, pre = {}, post_fns = {}, par = {} }, Context)
  local plan = g.plan
  local source = util.c_comment(opts.source or g.source or 'a model')
  local summary = util.c_comment(summary_text(g))

  -- Layer functions first: rendering them tells which helpers and weights are used.
  -- steps: the forward function's calls in order, each {call = C text} or, for a function
  -- taking (out, in, part, parts), {fn, out, inp, units, cost, what}.
  local funcs, steps, buffers = {}, {}, {}
  local function ptr(value)
    local r = plan.root[value]
    local s = plan.storage[r]
    if s.kind == 'input' or s.kind == 'output' then
      return (s.offset or 0) == 0 and s.kind or string.format('%s + %d', s.kind, s.offset)
    end
    return util.c_ident(r) .. '_out'
  end
  for _, n in ipairs(g.nodes) do
    if not n.layer.alias then
      funcs[#funcs + 1] = n.layer.emit(n, E)
      local args = { ptr(n.name) }
      for _, v in ipairs(n.inputs) do args[#args + 1] = ptr(v) end
      local what = string.format('%s %s', n.op, util.shape_x(n.shape))
      if plan.scratch and plan.scratch[n.name] then
        local sname = util.c_ident(n.name) .. '_scratch'
        local floats = require('cnnc.simd').scratch(n, t)
        buffers[#buffers + 1] = string.format('float *%s = arena + %d; /* scratch of %s */', sname,
          plan.scratch[n.name], n.name)
        local pre = E.pre[n]
        if pre and pre.units then
          steps[#steps + 1] = { fn = pre.fn, out = sname, inp = args[2], units = pre.units,
            cost = 2 * floats / sharing.FLOATS_PER_NS, what = 'padded input of ' .. n.name }
          args[2] = sname
        elseif pre then
          steps[#steps + 1] = { call = string.format('%s(%s, %s);', pre.fn, sname, args[2]) }
          args[2] = sname
        else
          args[#args + 1] = sname
        end
      end
      if E.par[n] then
        steps[#steps + 1] = { fn = E:fn(n), out = args[1], inp = args[2], units = E.par[n],
          cost = sharing.cost_ns(n, t), what = what }
      else
        steps[#steps + 1] = { call = string.format('%s(%s); /* %s */', E:fn(n), table.concat(args, ', '), what) }
      end
      if E.post_fns[n] then steps[#steps + 1] = { call = string.format('%s(%s);', E.post_fns[n], args[1]) } end
      local s = plan.storage[n.name]
      if s.kind == 'arena' then
        buffers[#buffers + 1] = string.format('float *%s_out = arena + %d; /* %s */',
          util.c_ident(n.name), s.offset, util.shape_x(n.shape))
      end
    end
  end
  for _, c in ipairs(plan.copies or {}) do
    local dst = c.offset == 0 and 'output' or string.format('output + %d', c.offset)
    steps[#steps + 1] = { call = string.format('memcpy(%s, %s, %d * sizeof(float));', dst, ptr(c.from), c.count) }
  end
  local team = sharing.share(steps, threads)
  -- Nothing worth sharing: the code a single-thread build gets, exactly.
  if not team and threads > 1 then
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    o.threads = 1
    return M.run(g, o)
  end
  local calls, nshared
  if team then calls, nshared = sharing.team_calls(steps) else calls = sharing.serial_calls(steps) end
  local io = ir.io(g)
  -- A model without input values (a constant, or only empty tensors) reads no input.
  if io.input_size == 0 then table.insert(calls, 1, '(void)input;') end
  if io.output_size == 0 then table.insert(calls, 1, '(void)output;') end

  local funcs_text = table.concat(funcs, '\n')
  if funcs_text:find(require('cnnc.ieee').C_CLAMP .. '(', 1, true) then E.helpers.clampf = true end
  local weights = {}
  local blob = opts.blob and blob_new('_binary_' .. name .. '_weights_bin_start') or nil
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

  -- The vector math functions the code calls (cnnc.simd.vmath; each only where used: clang
  -- warns of unused static functions), tanh needing exp.
  if E.simd then
    if funcs_text:find('cnnc_vf_exp(', 1, true) then E.helpers.vexp = true end
    if funcs_text:find('cnnc_vf_tanh(', 1, true) then E.helpers.vtanh, E.helpers.vexp = true, true end
    if funcs_text:find('cnnc_vf_log1p_pos(', 1, true) then E.helpers.vlog1p = true end
  end
  local helpers = {}
  for _, h in ipairs(util.sorted_keys(E.helpers)) do
    helpers[#helpers + 1] = template.section('helpers', h, {})
  end

  local ws = 4 * plan.arena_floats
  local parts = {
    template.section('model', 'banner', { file = name .. '.c', version = M.VERSION, source = source,
      summary = summary, header = name .. '.h', TARGET = t.name, target_prelude = target_prelude(t, name),
      feature_macros = team and '#define _POSIX_C_SOURCE 200809L\n#include <pthread.h>\n' or '' }),
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
      floats = blob.n }))
  end
  section('weights', weights)
  -- An empty region would draw clang's "unused attribute" warning (a model of views only).
  if E.simd and (#funcs > 0 or #helpers > 0) then
    table.insert(helpers, 1, 'CNNC_ISA_BEGIN')
    funcs[#funcs + 1] = 'CNNC_ISA_END'
  end
  if team then
    local text = template.section('model', 'threads', { N = threads, SPINS = sharing.SPINS,
      SPIN_US = string.format('%g', sharing.SPINS * sharing.PAUSE_NS / 1000) })
    if table.concat(calls, '\n'):find('cnnc_open(', 1, true) then
      text = text .. '\n\n' .. template.section('model', 'threads_open', {})
    end
    table.insert(helpers, 1, text)
  end
  section('helpers', helpers)
  section('layers', funcs)
  if team then
    -- The team function reads its pointers from the team; it declares those it uses.
    local locals, body = {}, table.concat(calls, '\n') .. table.concat(buffers, '\n')
    local function uses(word) return body:find('%f[%w_]' .. word .. '%f[^%w_]') ~= nil end
    if uses('input') then locals[#locals + 1] = 'const float *input = team->input;' end
    if uses('output') then locals[#locals + 1] = 'float *output = team->output;' end
    if #buffers > 0 then locals[#locals + 1] = 'float *arena = team->workspace;' end
    if not uses('thread') then locals[#locals + 1] = '(void)thread;' end
    section('forward', { template.section('model', 'team_forward', {
      name = name, WS = ws, ARENA_FLOATS = math.max(plan.arena_floats, 1), locals = table.concat(locals, '\n'),
      NSTEPS = nshared,
      buffers = table.concat(buffers, '\n'), calls = table.concat(calls, '\n'),
    }) })
  else
    section('forward', { template.section('model', 'forward', {
      name = name, WS = ws, ARENA_FLOATS = math.max(plan.arena_floats, 1),
      arena = #buffers > 0 and 'float *arena = workspace;' or '(void)workspace;',
      buffers = table.concat(buffers, '\n'), calls = table.concat(calls, '\n'),
    }) })
  end
  local c_text = template.reindent(table.concat(parts, '\n\n'))

  local uc = name:upper()
  local h_text = template.reindent(template.section('model.h', 'header', header_vars(g, {
    file = name .. '.h', version = M.VERSION, source = source, summary = summary,
    GUARD = uc .. '_H', UC = uc, name = name, WS = ws, TARGET = t.name,
  })))
  local blob_bytes
  if blob then blob_bytes = ffi.string(blob.buf, 4 * blob.n) end
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
