-- cnnc.emit.context: what a layer's emit(node, E) (or a kernel's) is given.
--
-- E names things (a layer's function, its weight arrays), renders a layer's epilogue steps
-- in its store loop or on vectors, registers the constant arrays a layer derives at emit
-- time (packed weights, padded bias, window tables), and records what the code it returns
-- needs from the rest of the file: the helpers of templates/helpers.c it calls (E:need),
-- the weight and batch-norm arrays it reads, and how the forward function calls it (a
-- padded copy before it, a pass after it, parts for threads). The emitter assembles the
-- file from these records afterwards: which helpers, constants and weights go into the file
-- is never found by searching the generated text. The text of the entry points' calls and
-- buffers is searched, for one thing only: which parameters and locals they use
-- (cnnc.emit.forward looks for `input` and `output` to declare a team function's locals,
-- cnnc.emit.backward for `arena`, `input` and the `grad_*` parameters to declare or
-- `(void)` them).

local epilogue = require 'cnnc.epilogue'
local ir = require 'cnnc.ir'
local util = require 'cnnc.util'

local M = {}

local Context = {}
Context.__index = Context

-- g: the planned graph; t: its target.
function M.new(g, t)
  return setmetatable({ g = g, target = t, simd = t.width > 1, threads = g.threads or 1,
    used_weights = {}, weight_names = {}, helpers = {}, affine = {}, constants = {}, pre = {}, post_fns = {},
    par = {} }, Context)
end

function Context:fn(node) return node.fn_name or (util.c_ident(node.name) .. '_forward') end

-- The C name of one of node's backward functions (what: 'input', 'weights', 'epilogue').
function Context:backward_fn(node, what) return util.c_ident(node.name) .. '_backward_' .. what end

-- The C name of one of node's weight arrays (emitted only if some layer asks for it). A
-- shared layer's later calls hold the first call's very tensors: one C array serves all.
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

-- "conv2d_1: Conv2D 3x3, stride 1x1, 13x13x32 -> 11x11x64, then relu" (the shapes only when
-- the layer's own description does not already say them: "dense: Dense 576 -> 64").
function Context:comment(node)
  local s = node.name .. ': ' .. node.op
  local d = node.layer.describe and node.layer.describe(node) or ''
  if d ~= '' then s = s .. ' ' .. d end
  local shapes = string.format('%s -> %s', util.shape_x(node.in_shape or {}), util.shape_x(node.shape))
  if not d:find(shapes, 1, true) then s = s .. ', ' .. shapes end
  local e = epilogue.describe(node.epilogue)
  if e ~= '' then s = s .. ', then ' .. e end
  return util.c_comment(s)
end

-- A helper of templates/helpers.c; SIMD targets get the vector softmax (and vector exp).
function Context:need(helper)
  if helper == 'softmax' and self.simd then
    self.helpers.vsoftmax, self.helpers.vexp = true, true
  else
    self.helpers[helper] = true
  end
end

local function need_all(E, list)
  for _, h in ipairs(list) do E:need(h) end
end

-- The batch-norm step st's scale and shift arrays (one value per channel), emitted with the
-- weights of the node whose epilogue holds st.
function Context:affine_arrays(st)
  self.affine[st] = true
  return epilogue.affine_names(st)
end

-- C statements storing value src (a float expression) of channel ch to lvalue dst through
-- node's epilogue steps.
function Context:store(node, dst, src, ch)
  need_all(self, epilogue.helpers(node.epilogue))
  for _, st in ipairs(node.epilogue) do
    if st.op == 'affine' then self:affine_arrays(st) end
  end
  return epilogue.c_store(node.epilogue, dst, src, ch)
end

-- The statement run after a channel vector is stored ('' unless the steps end in softmax).
function Context:post(node, ptr, channels)
  local s = epilogue.c_post(node.epilogue, ptr, channels)
  if s ~= '' then self:need('softmax') end
  return s
end

-- Vector statements applying steps[1..k] to vf variable a (cnnc.epilogue.c_vector).
function Context:vector(steps, k, a, oc, padded)
  need_all(self, epilogue.helpers(steps, k, true))
  return epilogue.c_vector(steps, k, a, oc, padded)
end

-- A layer whose input first goes through fn(scratch, input) (a padded copy): the forward
-- function calls that, then the layer on the scratch buffer. node.sel.pre_units: fn takes
-- (scratch, input, part, parts) like a parallel layer and may be shared too.
function Context:before(node, fn) self.pre[node] = { fn = fn, units = node.sel and node.sel.pre_units } end
-- A layer followed by fn(out) on its finished output (epilogue steps without vector form).
function Context:after(node, fn) self.post_fns[node] = fn end
-- A layer whose function takes (out, in, part, parts): called for every part from 0 to
-- parts - 1 (in any order, on any threads), the parts together do the layer's work exactly
-- once, each writing outputs no other part writes. The function must accept any parts
-- from 1 to its units (node.sel.units; for a layer running its own C, layer.units(node)).
-- cnnc.passes.select decided whether it is shared and into how many parts.
function Context:parallel(node)
  local units = node.sel and node.sel.units
  if units == nil and node.layer.units then units = node.layer.units(node) end
  self.par[node] = units or self.threads
end

-- The parameters after (out, in) of a layer function, and the statement its body opens
-- with. A part function of a --threads build (E:parallel) takes (work, part, parts), as
-- every part function does (cnnc_part_fn in templates/model.c); another takes work only if
-- it uses it. work: the layer's scratch memory it writes (partial sums, transformed
-- tiles), never a cast of its input.
function Context:part_params(threaded, uses_work)
  if threaded then return ', float *restrict work, int part, int parts', uses_work and '' or '(void)work;' end
  return uses_work and ', float *restrict work' or '', ''
end

-- A constant array derived at emit time (packed weights, window tables); returns its C name.
-- values: a Lua list of numbers (small tables), or {count = n, fill = function(dst)} that
-- writes the n values into the float array dst when the weights section is made: packed
-- kernels go straight into the blob of a large model, never through a Lua table.
-- affine (optional): {step, part = 'scale' | 'shift'} for an array of a batch norm's scale
-- or shift padded with zeros, which a training build computes again from gamma and beta
-- (cnnc.emit.train; other arrays it tells apart by their values).
function Context:constant(node, cname_suffix, values, comment, affine)
  local name = util.c_ident(node.name) .. '_' .. cname_suffix
  local c = { name = name, comment = comment, affine = affine }
  if values.fill then c.count, c.fill = values.count, values.fill else c.values = values end
  self.constants[#self.constants + 1] = c
  return name
end

return M
