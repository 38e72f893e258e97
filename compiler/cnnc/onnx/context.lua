-- cnnc.onnx.context: what an ONNX operator handler works with while the importer
-- (cnnc.onnx.importer) lowers a graph: the node's attributes and inputs, a way to add cnnc
-- nodes, and the layout of every value.
--
-- A computed value is {name = its cnnc value, shape = its ONNX shape, perm = the ONNX axes
-- in the order its memory holds them}; axes of size 1 may be left out of perm, since
-- they do not change the memory order. A constant is {const = tensor, shape}. `mem`
-- gives a value in the memory order a layer needs: the same memory (through a free
-- Reshape view) when only axes of size 1 move, else a Permute, made once per value and
-- order. In batch mode the first ONNX axis is the batch: it is in no perm and the cnnc
-- shapes leave it out; a handler whose node mixes items calls `mixes_batch`, and the
-- importer starts again with the batch as a plain axis.

local args = require 'cnnc.args'
local const = require 'cnnc.onnx.const'
local onnx = require 'cnnc.onnx.model'
local registry = require 'cnnc.registry'
local util = require 'cnnc.util'

local M = {}

local Ctx = {}
Ctx.__index = Ctx
M.Ctx = Ctx

-- Raised (and caught by cnnc.onnx.importer) when a node mixes the items of the batch.
local NoBatch = {}
M.NoBatch = NoBatch

-- A context for lowering into graph g. opts: path, opset, batch (bool), nobatch_reason,
-- input_shape_given (errors then say the sizes came from --input-shape).
function M.new(g, opts)
  return setmetatable({ g = g, path = opts.path, opset = opts.opset, batch = opts.batch,
    input_shape_given = opts.input_shape_given,
    nobatch_reason = opts.nobatch_reason, vals = {}, taken = { input = true }, cache = {}, cshapes = {},
    weights = {}, view_of = {}, handlers = opts.handlers or {}, temps = 0 }, Ctx)
end

-- Lowers ONNX operator `op` on values (computed or {const = tensor}) as part of `node`:
-- how a handler builds its node from simpler ones (BatchNormalization in training mode
-- is Sub, Mul and Add of its batch statistics). Returns the output values.
function Ctx:apply(node, op, values, attrs)
  local names = {}
  for i, v in ipairs(values) do
    self.temps = self.temps + 1
    names[i] = '\0tmp' .. self.temps
    self.vals[names[i]] = v
  end
  local base = node.name ~= '' and node.name or util.snake(node.op_type)
  local sub = { name = base .. '_' .. util.snake(op), op_type = op, domain = '', index = node.index, inputs = names,
    outputs = { '\0tmp_out' }, attrs = attrs or {} }
  local outs = self.handlers[op](self, sub)
  for _, v in ipairs(outs) do
    if v.const then v.shape = v.const.shape end
    v.dtype = v.dtype or values[1].dtype
  end
  return outs
end

function Ctx:where(node)
  return { file = self.path, name = node and node.name ~= '' and node.name or nil,
    index = node and node.index, op = node and node.op_type }
end

function Ctx:fail(node, fmt, ...)
  local msg = select('#', ...) > 0 and string.format(fmt, ...) or fmt
  if self.input_shape_given then
    msg = msg .. ' (the model is being compiled for another input size, given with --input-shape: a layer made for one size, such as a Gemm after a Flatten, cannot take another)'
  end
  util.fail(self:where(node), '%s', msg)
end

-- Called by handlers when `node` mixes items of the batch (only matters in batch mode).
function Ctx:mixes_batch(node, why)
  if self.batch then
    error(setmetatable({ reason = string.format("node '%s' (%s) %s", node.name, node.op_type, why) }, NoBatch), 0)
  end
end

-- ---------------------------------------------------------------- attributes and inputs

local ATTR_FIELD = { INT = 'i', FLOAT = 'f', STRING = 's', INTS = 'ints', FLOATS = 'floats', TENSOR = 't' }

local KIND_NAME = { number = 'a number (INT or FLOAT)', table = 'a list (INTS or FLOATS)', string = 'a STRING' }

-- Attribute `name`'s value, or `default` when absent. A value of another kind than the
-- default's (or than `kind`: 'number', 'table', 'string') is an error naming the node.
function Ctx:attr(node, name, default, kind)
  local a = node.attrs[name]
  if not a then return default end
  local field = ATTR_FIELD[a.type]
  if not field or a[field] == nil then
    self:fail(node, "attribute '%s' has type %s, which cnnc does not read here", name, a.type)
  end
  local v = a[field]
  kind = kind or (default ~= nil and type(default)) or nil
  if kind and type(v) ~= kind then
    self:fail(node, "attribute '%s' must be %s, got type %s", name, KIND_NAME[kind] or kind, a.type)
  end
  return v
end

function Ctx:attr_tensor(node, name)
  local t = self:attr(node, name)
  return t and onnx.values(t, self.path)
end

-- The value of input k, or nil when the input is absent (optional inputs may be '').
function Ctx:get(node, k)
  local name = node.inputs[k]
  if not name or name == '' then return nil end
  local v = self.vals[name]
  if not v then self:fail(node, "input '%s' is produced by no node, initializer or graph input before this one", name) end
  return v
end

-- A constant input (a tensor); fails when it is computed or absent.
function Ctx:constant(node, k, what)
  local t = self:optional_constant(node, k, what)
  if not t then self:fail(node, '%s (input %d) is missing', what, k) end
  return t
end

-- A constant input (a tensor), nil when absent; fails when the input is computed.
function Ctx:optional_constant(node, k, what)
  local v = self:get(node, k)
  if not v then return nil end
  if not v.const then
    self:fail(node, "%s (input %d, '%s') must be a constant: an initializer, a Constant node, or a graph input bound with --bind NAME=FILE",
      what, k, node.inputs[k])
  end
  return v.const
end

-- A computed input; fails when it is absent.
function Ctx:runtime(node, k)
  local v = self:get(node, k)
  if not v then self:fail(node, 'input %d is missing', k) end
  return v
end

-- ---------------------------------------------------------------- cnnc nodes

-- A name made of letters, digits and single underscores.
function M.sanitize(s)
  s = s:gsub('[^%w_]+', '_'):gsub('^_+', ''):gsub('_+$', ''):gsub('__+', '_')
  return s
end
local sanitize = M.sanitize

function Ctx:unique(base)
  base = sanitize(base)
  if base == '' then base = 'node' end
  if base:match('^%d') then base = 'n' .. base end
  local name, k = base, 0
  while self.taken[name] do
    k = k + 1
    name = base .. '_' .. k
  end
  self.taken[name] = true
  return name
end

-- The base of cnnc names made for an ONNX node: its name, or its operator's.
local function base_name(node)
  if node.name ~= '' then return node.name end
  return util.snake(node.op_type)
end

-- Adds a cnnc node of `kind` made from ONNX node `onode`. opts: inputs (cnnc value names),
-- weights {name -> tensor}, extra (p fields outside the Keras signature), fields (node
-- fields), suffix (for the name), shape (the output shape the importer expects).
function Ctx:layer(onode, kind, given, opts)
  local entry = assert(registry.kinds[kind], kind)
  local where = self:where(onode)
  local p = args.parse(kind, entry.spec.args, given, entry.spec.rank, where)
  for k, v in pairs(opts.extra or {}) do p[k] = v end
  local name = self:unique(opts.base or (base_name(onode) .. (opts.suffix or '')))
  local n = { name = name, op = kind, layer = entry.module, rank = entry.spec.rank, p = p, inputs = opts.inputs,
    where = { file = self.path }, index = #self.g.nodes + 1, epilogue = {}, fused = {},
    onnx = { op_type = onode.op_type, name = onode.name } }
  for k, v in pairs(opts.fields or {}) do n[k] = v end
  if opts.weights then
    local w = {}
    for k, t in pairs(opts.weights) do w[k] = t.ctype == 'float' and t or const.float(t) end
    self.weights[name] = w
  end
  self.cshapes[name] = opts.shape
  self.g.nodes[#self.g.nodes + 1] = n
  return name
end

-- ---------------------------------------------------------------- layouts

-- A computed value: {name = cnnc value, shape = ONNX shape, perm = ONNX axes in memory
-- order}; a constant: {const = tensor, shape}.
function Ctx:value(name, shape, perm, extra)
  local v = { name = name, shape = shape, perm = perm }
  for k, x in pairs(extra or {}) do v[k] = x end
  return v
end

-- The cnnc shape of ONNX `shape` stored in the order `perm`.
function Ctx.cshape(_, shape, perm)
  local s = {}
  for i, a in ipairs(perm) do s[i] = shape[a] end
  if #s == 0 then s[1] = 1 end
  return s
end

local function nontrivial(shape, perm)
  local t = {}
  for _, a in ipairs(perm) do
    if shape[a] ~= 1 then t[#t + 1] = a end
  end
  return t
end

-- First axis that is an item axis (2 in batch mode).
function Ctx:first_axis() return self.batch and 2 or 1 end

-- Item axes in ONNX order.
function Ctx:plain(v)
  local p = {}
  for a = self:first_axis(), #v.shape do p[#p + 1] = a end
  return p
end

-- Channels-last order of an (N, C, spatial...) value: spatial axes, then C.
function Ctx.channels_last(_, v)
  local p = {}
  for a = 3, #v.shape do p[#p + 1] = a end
  p[#p + 1] = 2
  return p
end

local LETTERS = { [3] = { 'n', 'c', 'w' }, [4] = { 'n', 'c', 'h', 'w' }, [5] = { 'n', 'c', 'd', 'h', 'w' } }

local function layout_code(shape, perm)
  local l = LETTERS[#shape]
  local t = {}
  for i, a in ipairs(perm) do t[i] = l and l[a] or tostring(a - 1) end
  return l and table.concat(t) or ('p' .. table.concat(t))
end

-- `name` viewed with cnnc shape `cshape` (a Reshape view when the shapes differ).
function Ctx:view(name, cshape, onode)
  if util.shape_eq(self.cshapes[name], cshape) then return name end
  -- A view of a view is a view of the original.
  name = self.view_of[name] or name
  if util.shape_eq(self.cshapes[name], cshape) then return name end
  local key = name .. '@' .. table.concat(cshape, 'x')
  if not self.cache[key] then
    local v = self:layer(onode, 'Reshape', { target_shape = util.copy(cshape) },
      { inputs = { name }, base = name .. '_view', shape = cshape })
    self.view_of[v] = name
    self.cache[key] = v
  end
  return self.cache[key]
end

-- The cnnc value holding v in memory order `perm` with the cnnc shape of that order: the
-- value itself (maybe viewed) when the order of the axes that are not 1 is the same,
-- else a Permute (made once per value and order).
function Ctx:mem(v, perm, onode)
  assert(v.name and not v.rows, 'cnnc: mem() of a constant or of a value with folded rows')
  local target = self:cshape(v.shape, perm)
  local a, b = nontrivial(v.shape, v.perm), nontrivial(v.shape, perm)
  assert(#a == #b, 'cnnc: layout change loses an axis')
  local same = true
  for i = 1, #a do if a[i] ~= b[i] then same = false end end
  if same then return self:view(v.name, target, onode) end
  local key = v.name .. '@' .. table.concat(b, ',')
  if not self.cache[key] then
    local src = self:view(v.name, self:cshape(v.shape, a), onode)
    local pos = {}
    for i, ax in ipairs(a) do pos[ax] = i end
    local dims = {}
    for j, ax in ipairs(b) do dims[j] = pos[ax] end
    self.cache[key] = self:layer(onode, 'Permute', { dims = dims },
      { inputs = { src }, base = v.name .. '_' .. layout_code(v.shape, b), shape = self:cshape(v.shape, b) })
  end
  return self:view(self.cache[key], target, onode)
end

-- The cnnc value of v channels-last, for layers that slide windows or work per channel.
-- Without a batch axis the first axis must be 1 (then it is left out).
function Ctx:spatial(v, onode)
  if not self.batch and v.shape[1] ~= 1 then
    self:fail(onode, '%s works on one item at a time, but this input holds %d items: cnnc compiles the whole batch as one tensor because %s',
      onode.op_type, v.shape[1], self.nobatch_reason or 'a node mixes the items')
  end
  local p = self:channels_last(v)
  return self:mem(v, p, onode), p
end

-- Layout for a per-channel operation (axis 2): like spatial, but a batch axis that is a
-- real axis stays in front.
function Ctx:per_channel(v, onode)
  local p = self:channels_last(v)
  if not self.batch and v.shape[1] ~= 1 then table.insert(p, 1, 1) end
  return self:mem(v, p, onode), p
end

return M
