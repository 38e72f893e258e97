-- cnnc.emit: a planned graph becomes NAME.c and NAME.h.
--
-- The C file reads top-down: banner with the layer table, the target's vector macros,
-- weights (exact C99 hex-float literals), helpers, one static function per layer, then the
-- forward function, a straight list of calls on named buffers. The parts:
--   layer functions   each rendered by its layer module, or by the kernel
--                     cnnc.passes.select chose for it (cnnc.simd.*), given the context of
--                     cnnc.emit.context, which records what the code needs
--   forward steps     cnnc.emit.forward (serial, or the team function of a --threads build)
--   constants         cnnc.emit.constants (literals, or a blob beside the code)
--   helpers           the sections of templates/helpers.c the code asked for (E:need)
--   header            cnnc.emit.header
-- Output is a pure function of the graph: emitting twice gives identical bytes.

local constants = require 'cnnc.emit.constants'
local context = require 'cnnc.emit.context'
local forward = require 'cnnc.emit.forward'
local header = require 'cnnc.emit.header'
local ir = require 'cnnc.ir'
local sharing = require 'cnnc.threads'
local template = require 'cnnc.template'
local tidy = require 'cnnc.emit.tidy'
local util = require 'cnnc.util'

local M = {}

M.VERSION = 'cnnc 0.1'
M.float_literal = constants.float_literal
M.weight_floats = constants.weight_floats

-- The bytes of a blob emit.run returned (little-endian float32), as a Lua string.
function M.blob_bytes(blob) return require('ffi').string(blob.buf, 4 * blob.n) end

-- The target's vector macros and CPU check (templates/simd.c).
local function target_prelude(t, name)
  if t.name == 'generic' then return template.section('simd', 'generic', { name = name }) end
  local parts = { template.section('simd', t.section, {}) .. '\n' .. template.section('simd', t.section .. '_ops', {})
    .. '\n' .. template.section('simd', t.section .. '_math', {}) }
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

-- A layer whose kernel was planned for the build's narrower target (plan.target: AVX2
-- vectors in an AVX-512 build, cnnc.targets `narrow`, with plan.why saying why) is emitted
-- with E.target that target, its functions bracketed by a switch of the vector macros
-- (templates/simd.c, narrow_begin and narrow_end).
local function narrow_functions(n, K, E, kt)
  local t = E.target
  E.target = kt
  local text = tidy.run(K.emit(n, E))
  E.target = t
  local function ops(x) return template.section('simd', x.section .. '_ops', {}) .. '\n'
    .. template.section('simd', x.section .. '_math', {}) end
  local undefs = template.section('simd', 'vf_undef', {})
  return table.concat({ template.section('simd', 'narrow_begin', { layer = n.name, narrow = kt.name, undefs = undefs,
    why = n.sel.plan.why, gcc_target = kt.gcc_target, vtype = kt.vtype }), ops(kt), text,
    template.section('simd', 'narrow_end', { target = t.name, undefs = undefs }), ops(t) }, '\n')
end

-- Every layer's function(s), in the graph's order, by its kernel or its own module.
local function layer_functions(g, E)
  local funcs = {}
  for _, n in ipairs(g.nodes) do
    if not n.layer.alias then
      local K = n.sel and n.sel.K
      local kt = K and n.sel.plan and n.sel.plan.target
      if kt and kt ~= E.target then
        funcs[#funcs + 1] = narrow_functions(n, K, E, kt)
      else
        funcs[#funcs + 1] = tidy.run((K or n.layer).emit(n, E))
      end
    end
  end
  return funcs
end

-- The helpers section: the threads' team code, then each helper asked for.
local function helpers_section(E, fwd, threads)
  local out = {}
  if fwd.team then
    local text = template.section('model', 'threads', { N = threads, WORKERS = threads - 1, name = E.g.name,
      SPINS = sharing.SPINS, SPIN_US = string.format('%g', sharing.SPINS * sharing.PAUSE_NS / 1000),
      NSTEPS_MAX = math.max(fwd.nsteps, 1), TEAM_SIZE = fwd.team_size })
    -- (a backward build keeps its team for batches even when no layer is shared)
    if fwd.nsteps > 0 then text = text .. '\n\n' .. template.section('model', 'threads_share', {}) end
    if fwd.open then text = text .. '\n\n' .. template.section('model', 'threads_open', {}) end
    out[#out + 1] = text
  end
  for _, h in ipairs(util.sorted_keys(E.helpers)) do out[#out + 1] = template.section('helpers', h, {}) end
  return out
end

-- Returns c_text, h_text and, with opts.blob, the weights as a float32 array {buf, n}
-- (NAME.weights.bin, little-endian, linked in as an object: see cnnc.cli; M.blob_bytes
-- gives its bytes as a string). g: a graph after the select and plan passes; opts:
-- {source = model file name, blob = bool}.
function M.run(g, opts)
  opts = opts or {}
  local name = g.name
  local t = g.target or require('cnnc.targets').list.generic
  local E = context.new(g, t)
  local info = { version = M.VERSION, target = t, source = util.c_comment(opts.source or g.source or 'a model'),
    summary = util.c_comment(header.summary_text(g)) }

  local backward = g.backward and require('cnnc.emit.backward')
  local T
  if g.train then
    T = require('cnnc.emit.train').new(g, backward.weights(g))
    E.train = T
  end
  local funcs = layer_functions(g, E)
  local fwd = forward.render(g, E, ir.io(g))
  local bwd = backward and backward.render(g, E)
  local weights, refresh, blob
  if T then
    -- a training build: its weights writable, and what derives from them refreshed
    local function emit_all(g2, E2)
      return table.concat(layer_functions(g2, E2), '\n') .. table.concat(backward.render(g2, E2).functions, '\n')
    end
    T:classify(g, E, t, emit_all, table.concat(funcs, '\n') .. table.concat(bwd.functions, '\n'))
    weights, refresh = T:section(g, E)
  else
    weights, blob = constants.section(g, E, opts.blob and ('_binary_' .. name .. '_weights_bin_start') or nil)
  end
  local helpers = helpers_section(E, fwd, g.threads)

  local parts = {
    template.section('model', 'banner', { file = name .. '.c', version = info.version, source = info.source,
      summary = info.summary, header = name .. '.h', TARGET = t.name, target_prelude = target_prelude(t, name),
      feature_macros = fwd.team and '#define _POSIX_C_SOURCE 200809L\n#include <pthread.h>\n' or '' }),
  }
  local function section(title, body)
    if #body == 0 then return end
    parts[#parts + 1] = template.section('model', 'section', { title = title })
    parts[#parts + 1] = table.concat(body, '\n\n')
  end
  section('weights', weights)
  -- The target's instructions are enabled for the helpers and layers only (an empty region
  -- would draw clang's "unused attribute" warning: a model of views only).
  local bfuncs = bwd and bwd.functions or {}
  if E.simd and (#funcs > 0 or #helpers > 0 or #bfuncs > 0) then
    table.insert(helpers, fwd.team and 2 or 1, 'CNNC_ISA_BEGIN')
    if #bfuncs > 0 then bfuncs[#bfuncs + 1] = 'CNNC_ISA_END' else funcs[#funcs + 1] = 'CNNC_ISA_END' end
  end
  section('helpers', helpers)
  section('layers', funcs)
  section('backward', bfuncs)
  section('forward', { tidy.run(fwd.text) })
  if bwd then section('gradients', { bwd.api, refresh and tidy.run(refresh) or nil }) end
  local c_text = template.reindent(table.concat(parts, '\n\n'))
  info.team = fwd.team and { size = fwd.team_size } or nil
  info.backward = bwd
  if bwd then bwd.train = T ~= nil end
  info.profile = fwd.profile
  local h_text = header.text(g, info)
  return c_text, h_text, blob
end

return M
