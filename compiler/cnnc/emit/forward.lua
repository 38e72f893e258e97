-- cnnc.emit.forward: the forward function, a straight list of calls on named buffers.
--
-- Each layer's call (after its padded input copy, before its scalar pass, as its emit
-- registered them with cnnc.emit.context) in the graph's order, on pointers into the
-- caller's input and output and into the arena (cnnc.passes.plan: one named pointer per
-- buffer, with its shape), then the copies of outputs that alias an input or another
-- output. A --threads build whose team pays (cnnc.passes.select) gets the team function
-- every thread runs instead (cnnc.threads), with the shared layers marked.

local sharing = require 'cnnc.threads'
local template = require 'cnnc.template'
local util = require 'cnnc.util'

local M = {}

-- The forward steps: each {call = C text}, or, for a part function taking (out, in, work,
-- part, parts), {fn, out, inp, work, parts (when shared), what}; and the buffer
-- declarations. A layer's scratch (cnnc.passes.plan) starts with the copy of its input
-- it reads (plan.copy_floats, made by its `before` function) and is followed by the work
-- memory it writes (plan.work). plan: g.plan, or another with its fields (root, storage,
-- scratch, copies: the backward pass's forward steps, cnnc.emit.backward).
function M.steps_of(g, E, plan)
  plan = plan or g.plan
  local steps, buffers = {}, {}
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
      local sel = n.sel or {}
      local args = { ptr(n.name) }
      for _, v in ipairs(n.inputs) do args[#args + 1] = ptr(v) end
      local what = string.format('%s %s', n.op, util.shape_x(n.shape))
      local work
      if plan.scratch and plan.scratch[n.name] then
        local sname = util.c_ident(n.name) .. '_scratch'
        buffers[#buffers + 1] = string.format('float *%s = arena + %d; /* scratch of %s */', sname,
          plan.scratch[n.name], n.name)
        local pre = E.pre[n]
        if pre and pre.units then
          steps[#steps + 1] = { fn = pre.fn, out = sname, inp = args[2], parts = sel.pre_parts,
            what = 'padded input of ' .. n.name, label = n.name .. ' (input copy)' }
          args[2] = sname
        elseif pre then
          steps[#steps + 1] = { call = string.format('%s(%s, %s);', pre.fn, sname, args[2]),
            label = n.name .. ' (input copy)' }
          args[2] = sname
        end
        local p = sel.plan or {}
        if p.work then
          work = (p.copy_floats or 0) > 0 and string.format('%s + %d', sname, p.copy_floats) or sname
        end
      end
      if E.par[n] then
        steps[#steps + 1] = { fn = E:fn(n), out = args[1], inp = args[2], work = work, parts = sel.parts, what = what,
          label = n.name }
      else
        if work then args[#args + 1] = work end
        steps[#steps + 1] = { call = string.format('%s(%s); /* %s */', E:fn(n), table.concat(args, ', '), what),
          label = n.name }
      end
      if E.post_fns[n] then
        steps[#steps + 1] = { call = string.format('%s(%s);', E.post_fns[n], args[1]), label = n.name .. ' (scalar pass)' }
      end
      local s = plan.storage[n.name]
      if s.kind == 'arena' then
        buffers[#buffers + 1] = string.format('float *%s_out = arena + %d; /* %s */',
          util.c_ident(n.name), s.offset, util.shape_x(n.shape))
      end
    end
  end
  for _, c in ipairs(plan.copies or {}) do
    local dst = c.offset == 0 and 'output' or string.format('output + %d', c.offset)
    steps[#steps + 1] = { call = string.format('memcpy(%s, %s, %d * sizeof(float));', dst, ptr(c.from), c.count),
      label = 'output copy' }
  end
  return steps, buffers
end

-- The bytes a team needs (NAME_TEAM_SIZE): struct cnnc_team of templates/model.c, with room
-- for any ABI's mutex and condition variable (a static check in the C holds it to this).
local function team_size(threads, nsteps)
  local n = 320 + 4 * (threads + 1) * math.max(nsteps, 1) + 32 * (threads - 1)
  return math.ceil(n / 64) * 64
end
M.team_size = team_size

-- A profile build's NAME_predict_profile: the layers one after another, mark(ctx, k) after
-- step k, and the steps' names for the header.
local function profile_text(g, steps, buffers, unused)
  local lines, names = {}, {}
  for _, u in ipairs(unused) do lines[#lines + 1] = u end
  for k, st in ipairs(sharing.serial_calls(steps)) do
    lines[#lines + 1] = st
    lines[#lines + 1] = string.format('mark(ctx, %d);', k - 1)
    names[k] = string.format('"%s"', steps[k].label:gsub('[\\"]', '_'))
  end
  return template.section('model', 'profile', { name = g.name,
    arena = #buffers > 0 and 'float *arena = workspace;' or '(void)workspace;',
    buffers = table.concat(buffers, '\n'), calls = table.concat(lines, '\n') }), names
end

-- The forward section's text and what it needs: {text, team = bool, open = bool (the team
-- calls cnnc_open), team_size, profile = step names of a profile build}. io: cnnc.ir.io(g).
function M.render(g, E, io)
  local plan = g.plan
  local steps, buffers = M.steps_of(g, E)
  local r = M.render_steps(g, E, io, steps, buffers)
  if g.profile then
    local unused = {}
    if io.input_size == 0 then unused[#unused + 1] = '(void)input;' end
    if io.output_size == 0 then unused[#unused + 1] = '(void)output;' end
    local text, names = profile_text(g, steps, buffers, unused)
    r.text = r.text .. '\n\n' .. text
    r.profile = names
  end
  return r
end

function M.render_steps(g, E, io, steps, buffers)
  local plan = g.plan
  local team = (g.threads or 1) > 1
  local serial = sharing.serial_calls(steps)
  -- A model without input values (a constant, or only empty tensors) reads no input.
  local unused = {}
  if io.input_size == 0 then unused[#unused + 1] = '(void)input;' end
  if io.output_size == 0 then unused[#unused + 1] = '(void)output;' end
  for i = #unused, 1, -1 do table.insert(serial, 1, unused[i]) end
  local ws = 4 * plan.arena_floats
  local name = g.name
  if not team then
    return { text = template.section('model', 'forward', {
      name = name, WS = ws, ARENA_FLOATS = math.max(plan.arena_floats, 1),
      arena = #buffers > 0 and 'float *arena = workspace;' or '(void)workspace;',
      buffers = table.concat(buffers, '\n'), calls = table.concat(serial, '\n'),
    }) }
  end
  local calls, nshared, groups = sharing.team_calls(steps)
  -- The team function reads its pointers from the team; it declares those it uses.
  local locals = {}
  local uses_input, uses_output = false, false
  for _, st in ipairs(steps) do
    for _, a in ipairs({ st.call or '', st.inp or '', st.out or '' }) do
      if a:find('%f[%w_]input%f[^%w_]') then uses_input = true end
      if a:find('%f[%w_]output%f[^%w_]') then uses_output = true end
    end
  end
  for _, b in ipairs(buffers) do
    if b:find('%f[%w_]input%f[^%w_]') then uses_input = true end
  end
  if uses_input then locals[#locals + 1] = 'const float *input = team->input;' end
  if uses_output then locals[#locals + 1] = 'float *output = team->output;' end
  if #buffers > 0 then locals[#locals + 1] = 'float *arena = team->workspace;' end
  -- Thread 0 alone runs every step not shared (`if (thread == 0)`).
  local alone = false
  for _, st in ipairs(steps) do if not st.parts then alone = true end end
  if not alone then locals[#locals + 1] = '(void)thread;' end
  if #buffers == 0 then table.insert(serial, 1, '(void)arena;') end
  local size = team_size(g.threads, nshared)
  local vars = { name = name, UC = name:upper(), WS = ws, ARENA_FLOATS = math.max(plan.arena_floats, 1),
    locals = table.concat(locals, '\n'), NSTEPS = nshared, N = g.threads, TEAM_SIZE = size,
    buffers = table.concat(buffers, '\n'), calls = table.concat(calls, '\n'),
    serial_locals = '', serial_calls = table.concat(serial, '\n') }
  -- With no layer shared, one prediction runs on the calling thread alone (the team only
  -- shares the items of batches), and _predict_ws starts no threads.
  local function only(...)
    local t = {}
    for _, k in ipairs({ ... }) do t[k] = vars[k] end
    return t
  end
  if nshared > 0 then
    vars.team_forward_fn = template.section('model', 'team_forward_fn', only('name', 'locals', 'buffers', 'calls'))
    vars.predict_team = template.section('model', 'predict_team_shared', only('name', 'NSTEPS'))
    vars.predict_ws = template.section('model', 'predict_ws_shared', only('name', 'TEAM_SIZE', 'N'))
    vars.ws_doc = 'The prediction starts\n * its own team of threads and joins them before it returns.'
  else
    vars.team_forward_fn = ''
    vars.predict_team = template.section('model', 'predict_team_alone', only('name'))
    vars.predict_ws = template.section('model', 'predict_ws_alone', only('name'))
    vars.ws_doc = 'No layer is shared: the\n * prediction runs on the calling thread alone.'
  end
  return { team = true, open = groups > 0, team_size = size, nsteps = nshared,
    text = template.section('model', 'team_forward', only('name', 'UC', 'WS', 'ARENA_FLOATS', 'buffers', 'serial_locals',
      'serial_calls', 'team_forward_fn', 'predict_team', 'predict_ws', 'ws_doc')) }
end

return M
