-- cnnc.emit.backward: the backward code of a graph prepared by cnnc.passes.grad.
--
-- The layers' backward functions (each layer module's emit_backward, or the backward kernel
-- cnnc.passes.select chose: node.sel.bK), the epilogues' (cnnc.epilogue_backward), the
-- unfold steps of batch norms folded into weights, then the entry points:
--   NAME_train_forward    the forward steps on the backward plan (cnnc.passes.plan_backward),
--                         which keeps in the workspace what the backward pass reads
--   NAME_train_backward   the backward steps, last layer first: the input gradient into
--                         grad_input (skipped when NULL), weight gradients added into
--                         grad_weights
--   NAME_backward_ws      runs both, the backward steps with add 0: a layer call marked
--                         `store` (its function takes a last `int add`) writes its weight
--                         gradients instead of adding to them when it alone writes them, and
--                         the other weight gradients are zeroed first (a batch's first item
--                         does the same); NAME_backward with a static arena
-- The weight gradients lie in grad_weights in the order of cnnc.backward.trainable (graph
-- order, Keras names and shapes), one after another (M.weights gives the offsets, which
-- NAME.h lists).

local backward = require 'cnnc.backward'
local epilogue_backward = require 'cnnc.epilogue_backward'
local forward = require 'cnnc.emit.forward'
local ir = require 'cnnc.ir'
local sharing = require 'cnnc.threads'
local template = require 'cnnc.template'
local tidy = require 'cnnc.emit.tidy'
local util = require 'cnnc.util'

local M = {}

-- Groups of a batch's items whose weight gradients are summed apart (at least the build's
-- threads): a team shares the groups, and the sums do not depend on who computed them.
M.GROUPS = 8

-- The trainable weights in grad_weights: a list of {key, shape, size, offset} and the total
-- size in floats.
function M.weights(g)
  local list, off = {}, 0
  for _, w in ipairs(backward.trainable(g)) do
    local n = util.prod(w.shape)
    list[#list + 1] = { key = w.key, shape = w.shape, size = n, offset = off }
    off = off + n
  end
  return list, off
end

-- C names of the memory behind a key of the backward plan.
local function var_name(key)
  local kind, name = key:match('^(%a):(.*)$')
  if not kind then return util.c_ident(key) .. '_out' end
  if kind == 'd' then return util.c_ident(name) .. '_grad' end
  if kind == 'z' then return util.c_ident(name) .. '_pre_grad' end
  if kind == 'a' then
    local node, k = name:match('^(.*):(%d+)$')
    return string.format('%s_grad_of_input%s', util.c_ident(node), k)
  end
  return util.c_ident(name) .. '_folded_grad'
end

-- The unfold function of a node with folded batch norms: the gradients of the kernel and
-- bias it computes with (in f) become those of the batch norms' gamma and beta and of
-- its own weights (cnnc.layers.conv.unfold_channels_last_grads, in float32).
local function unfold_fn(n, E, offsets)
  local k = ir.weight(n, 'kernel')
  local oc = k.shape[#k.shape]
  local kn = k.n
  local bn = ir.weight(n, 'bias').n
  local params, roles, body = {}, {}, {}
  local function param(decl, role) params[#params + 1] = decl; roles[#roles + 1] = role end
  local first = n.folded[1]
  param('float *restrict dkernel', 'dw:kernel')
  if first.bias then param('float *restrict dbias', 'dw:bias') end
  param('float *restrict f', 'fold')
  for i = #n.folded, 1, -1 do
    local fold = n.folded[i]
    local st, origin = fold.step, util.c_ident(fold.origin)
    local mean, inv, scale = {}, {}, {}
    for c = 0, oc - 1 do
      local s = math.sqrt(st.var.data[c] + st.eps)
      mean[c + 1], inv[c + 1] = st.mean.data[c], 1 / s
      scale[c + 1] = (st.gamma and st.gamma.data[c] or 1) / s
    end
    -- a training build reads the arrays it refreshes (cnnc.emit.train), others constants
    local kb, bb, sname
    if E.train then kb, bb, sname = E.train:fold_names(n, i) end
    sname = sname or E:constant(n, origin .. '_fold_scale', scale, 'batch norm ' .. fold.origin
      .. ' folded: gamma / sqrt(var + eps)')
    local gline, bline = '', ''
    if st.gamma then
      local iname = E:constant(n, origin .. '_fold_inv_std', inv, 'batch norm ' .. fold.origin .. ': 1 / sqrt(var + eps)')
      local mname = E:constant(n, origin .. '_fold_mean', mean, 'batch norm ' .. fold.origin .. ': moving_mean')
      if not E.train then
        kb = E:constant(n, 'kernel_before_' .. origin, (function()
          local t = {}
          for j = 0, kn - 1 do t[j + 1] = fold.kernel.data[j] end
          return t
        end)(), string.format('%s.kernel before batch norm %s was folded in', n.name, fold.origin))
        bb = fold.bias and E:constant(n, 'bias_before_' .. origin, (function()
          local t = {}
          for j = 0, bn - 1 do t[j + 1] = fold.bias.data[j] end
          return t
        end)(), string.format('%s.bias before batch norm %s was folded in', n.name, fold.origin))
      end
      param('float *restrict dgamma_' .. origin, 'dw:' .. fold.origin .. '.gamma')
      gline = string.format('dgamma_%s[c] += g * %s[j * %d + c] * %s[c];', origin, kb, oc, iname)
      bline = string.format('dgamma_%s[c] += g * (%s - %s[c]) * %s[c];', origin,
        bb and string.format('%s[j * %d + c]', bb, oc) or '0.0f', mname, iname)
    end
    if st.beta then
      param('float *restrict dbeta_' .. origin, 'dw:' .. fold.origin .. '.beta')
      bline = bline .. string.format('\ndbeta_%s[c] += g;', origin)
    end
    body[#body + 1] = template.section('backward', 'unfold_one', { origin = fold.origin, ROWS = kn / oc, OC = oc,
      KN = kn, BROWS = bn / oc, scale = sname, kernel_line = gline, bias_line = bline,
      rest = i > 1 and 'their gradients before it' or 'the gradients of the weights as the model has them' })
  end
  body[#body + 1] = string.format('for (int j = 0; j < %d; ++j) dkernel[j] += f[j];', kn)
  if first.bias then body[#body + 1] = string.format('for (int j = 0; j < %d; ++j) dbias[j] += f[%d + j];', bn, kn) end
  local fn = E:backward_fn(n, 'unfold')
  return template.section('backward', 'unfold', { fn = fn, params = table.concat(params, ', '),
    comment = util.c_comment(n.name .. ': the gradients through the batch norms folded into its weights'),
    body = table.concat(body, '\n') }), { fn = fn, args = roles }
end

-- Whether node n's epilogue step writes the gradient before the steps over the gradient
-- of the output (the memory plan reuses a block in place, or else gives disjoint ones).
local function epilogue_inplace(g, n)
  local bp = g.bplan
  for _, st in ipairs(bp.steps) do
    if st.node and st.node.name == n.name and (st.kind == 'epilogue' or st.kind == 'identity') then
      local a, b = bp.storage[bp.key(st.z or st.dx[1])], bp.storage[bp.key(st.d)]
      return a.kind == b.kind and a.offset == b.offset
    end
  end
  return false
end

-- The backward functions of every node, and for each node its calls: {layer = {calls},
-- epilogue = {fn, args}, unfold = {fn, args}}.
local function functions(g, E)
  local texts, calls = {}, {}
  for _, n in ipairs(g.nodes) do
    if not n.layer.alias then
      local c = {}
      local K = n.sel and n.sel.bK
      local text, list = (K or n.layer).emit_backward(n, E)
      if text ~= '' then texts[#texts + 1] = tidy.run(text) end
      c.layer = list
      if n.grad.epilogue ~= 'none' then
        local fn = E:backward_fn(n, 'epilogue')
        local etext, roles = epilogue_backward.emit(n, E, fn, n.layer.identity and 'its output' or nil,
          epilogue_inplace(g, n))
        texts[#texts + 1] = tidy.run(etext)
        c.epilogue = { fn = fn, args = roles }
      end
      if n.folded then
        local utext, call = unfold_fn(n, E)
        texts[#texts + 1] = tidy.run(utext)
        c.unfold = call
      end
      calls[n.name] = c
    end
  end
  return texts, calls
end

-- The backward steps as C statements, and the pointers they use.
local function steps_text(g, calls, offsets)
  local bp = g.bplan
  local key = bp.key
  local used, decls, lines, stores = {}, {}, {}, {}
  local function ptr(k)
    k = key(k)
    local s = bp.storage[k]
    if s.kind ~= 'arena' then return s.kind end
    local name = var_name(k)
    if not used[name] then
      used[name] = true
      decls[#decls + 1] = string.format('float *%s = arena + %d;', name, s.offset)
    end
    return name
  end
  local writers = {}   -- weight key -> how many calls add into its gradient
  -- The C of a weight gradient's memory, and its key (nil: the folded weights' buffer).
  local function weight(n, st, role)
    local w = role:match('^dw:(.*)$')
    if st.kind == 'layer' and st.fold and (w == 'kernel' or w == 'bias') then
      local f = ptr(st.fold)
      return w == 'kernel' and f or string.format('%s + %d', f, ir.weight(n, 'kernel').n)
    end
    local full = w:find('.', 1, true) and w or backward.weight_key(n, w)
    local o = assert(offsets[full], 'cnnc: no trainable weight ' .. full)
    writers[full] = (writers[full] or 0) + 1
    return o == 0 and 'grad_weights' or string.format('grad_weights + %d', o), full
  end
  -- keys (optional): collects the call's weight keys (false for a folded buffer)
  local function args_of(n, st, roles, map, keys)
    local a = {}
    for i, r in ipairs(roles) do
      if r:match('^dw:') then
        local key
        a[i], key = weight(n, st, r)
        if keys then keys[#keys + 1] = key or false end
      elseif r == 'fold' then a[i] = ptr(st.fold)
      elseif r:match('^work') then
        if not used.scratch then
          used.scratch = true
          decls[#decls + 1] = string.format('float *scratch = arena + %d; /* the backward kernels\' scratch */',
            bp.scratch_offset)
        end
        local off = r:match('^work%+(%d+)$')
        a[i] = off and ('scratch + ' .. off) or 'scratch'
      else a[i] = ptr(assert(map[r], 'cnnc: backward step has no ' .. r)) end
    end
    return table.concat(a, ', ')
  end
  local function emit_call(fn, text, guard)
    local s = string.format('%s(%s);', fn, text)
    lines[#lines + 1] = guard and ('if (grad_input != NULL) ' .. s) or s
  end
  for i, st in ipairs(bp.steps) do
    local n = st.node or { name = 'the model', op = 'views of its input' }
    local c = calls[n.name]
    local what = string.format('/* %s (%s) */', n.name, n.op)
    if st.kind == 'epilogue' then
      lines[#lines + 1] = what
      emit_call(c.epilogue.fn, args_of(n, st, c.epilogue.args, { dz = st.z, d = st.d, y = st.y }))
    elseif st.kind == 'identity' then
      lines[#lines + 1] = what
      emit_call(c.epilogue.fn, args_of(n, st, c.epilogue.args, { dz = st.dx[1], d = st.d, z = st.x[1], y = st.y }),
        st.model_input)
    elseif st.kind == 'layer' then
      if st.node ~= (bp.steps[i - 1] or {}).node then lines[#lines + 1] = what end
      if st.fold then
        lines[#lines + 1] = string.format('memset(%s, 0, sizeof(float) * %d);', ptr(st.fold),
          ir.weight(n, 'kernel').n + ir.weight(n, 'bias').n)
      end
      local map = { dx = st.dx[1], dy = st.d, x = st.x[1] }
      for k = 1, #n.inputs do map['dx' .. k], map['x' .. k] = st.dx[k], st.x[k] end
      for _, call in ipairs(c.layer) do
        if call.store then
          -- it stores its weight gradients when add is 0, if it alone writes them (below)
          local keys = {}
          emit_call(call.fn, args_of(n, st, call.args, map, keys) .. ', @ADD@', call.input and st.model_input)
          stores[#stores + 1] = { keys = keys, line = #lines }
        else
          emit_call(call.fn, args_of(n, st, call.args, map), call.input and st.model_input)
        end
      end
    elseif st.kind == 'add' or st.kind == 'copy' then
      -- a value read by several layers: the sum of their gradients
      local dst, src = ptr(st.dst), ptr(st.src)
      local s = st.kind == 'copy' and string.format('memcpy(%s, %s, sizeof(float) * %d);', dst, src, st.size)
        or string.format('for (int i = 0; i < %d; ++i) %s[i] += %s[i];', st.size, dst, src)
      lines[#lines + 1] = string.format('/* the gradient of %s %s what %s sends back */', st.dst:sub(3),
        st.kind == 'copy' and 'starts with' or 'adds', n.name)
      lines[#lines + 1] = st.model_input and ('if (grad_input != NULL) ' .. s) or s
    else
      emit_call(c.unfold.fn, args_of(n, st, c.unfold.args, {}))
    end
  end
  -- A storing call gets add (0 for the first item: it stores) when no other call writes its
  -- weights' gradients, else 1 (it adds, into memory zeroed before).
  local stored = {}
  for _, sc in ipairs(stores) do
    local alone = true
    for _, k in ipairs(sc.keys) do
      if not k or writers[k] ~= 1 then alone = false end
    end
    if alone then
      for _, k in ipairs(sc.keys) do stored[k] = true end
    end
    lines[sc.line] = lines[sc.line]:gsub('@ADD@', alone and 'add' or '1')
  end
  return lines, decls, used, stored
end

-- Returns {functions = list of C texts (the backward section), api = C text (the entry
-- points), weights = M.weights list, size = grad_weights floats, ws = workspace bytes}.
function M.render(g, E)
  local bp = g.bplan
  local wlist, wsize = M.weights(g)
  local offsets = {}
  for _, w in ipairs(wlist) do offsets[w.key] = w.offset end
  local texts, calls = functions(g, E)
  local lines, decls, _, stored = steps_text(g, calls, offsets)
  -- Zeroed before the first item: the weight gradients no call stores, in runs.
  local zero, run = {}, nil
  for _, w in ipairs(wlist) do
    if stored[w.key] or w.size == 0 then run = nil
    elseif run then run.size = run.size + w.size
    else run = { offset = w.offset, size = w.size }; zero[#zero + 1] = run end
  end
  for i, r in ipairs(zero) do
    zero[i] = string.format('memset(%s, 0, sizeof(float) * %d);',
      r.offset == 0 and 'grad_weights' or ('grad_weights + ' .. r.offset), r.size)
  end
  -- The forward steps on the backward plan.
  local scratch = {}
  for name in pairs(g.plan.scratch or {}) do scratch[name] = bp.scratch_offset end
  local fplan = { root = g.plan.root, storage = bp.storage, scratch = scratch, copies = {} }
  local fsteps, fbuffers = forward.steps_of(g, E, fplan)
  local out_root = g.plan.root[g.output]
  local out_size = util.prod(ir.shape_of(g, g.output))
  local name, uc = g.name, g.name:upper()
  local bcalls = table.concat(lines, '\n')
  local fcalls = table.concat(sharing.serial_calls(fsteps), '\n')
  local farena = (table.concat(fbuffers, '\n') .. fcalls):find('%f[%w_]arena%f[^%w_]') and 'float *arena = workspace;'
    or '(void)workspace;'
  local code = bcalls:gsub('/%*.-%*/', '')
  local uses = function(word) return code:find('%f[%w_]' .. word .. '%f[^%w_]') ~= nil end
  local unused = {}
  for _, p in ipairs({ 'input', 'grad_output', 'grad_input', 'grad_weights' }) do
    if not uses(p) then unused[#unused + 1] = '(void)' .. p .. ';' end
  end
  local api = template.section('backward', 'entry_points', {
    name = name, UC = uc, WS = 4 * bp.arena_floats, ARENA_FLOATS = math.max(bp.arena_floats, 1),
    fbuffers = table.concat(fbuffers, '\n'), fcalls = fcalls, farena = farena,
    OUT = bp.storage[out_root].kind == 'input' and 'input' or var_name(out_root), OUT_SIZE = out_size, bdecls = table.concat(decls, '\n'),
    bunused = table.concat(unused, '\n'), bcalls = bcalls,
    barena = #decls > 0 and 'float *arena = workspace;' or '(void)workspace;',
    zero = #zero > 0 and ('if (!add) {\n' .. table.concat(zero, '\n') .. '\n}')
      or (next(stored) and '' or '(void)add;'),
  })
  -- Batches: GRAD_GROUPS fixed groups of items (any team size gives the same sums).
  local groups = math.max(M.GROUPS, g.threads or 1)
  local thread_bytes = math.ceil((4 * bp.arena_floats + 8 * util.prod(ir.shape_of(g, g.output))) / 64) * 64
  local batch = template.section('backward', 'batch', { name = name, UC = uc, ARENA_FLOATS = bp.arena_floats,
    zero_all = wsize > 0 and string.format('if (b.groups == 0) memset(grad_weights, 0, sizeof(float) * %d);', wsize) or '' })
  local team = g.threads > 1
  if team then
    batch = batch .. '\n\n' .. template.section('backward', 'batch_team', { name = name, UC = uc,
      zero_all = wsize > 0 and string.format('if (b.groups == 0) memset(grad_weights, 0, sizeof(float) * %d);', wsize)
        or '' })
  end
  return { functions = texts, api = tidy.run(api) .. '\n\n' .. tidy.run(batch), weights = wlist, size = wsize,
    ws = 4 * bp.arena_floats, groups = groups, thread_bytes = thread_bytes, sums_bytes = 4 * (groups - 1) * wsize,
    team = team }
end

return M
