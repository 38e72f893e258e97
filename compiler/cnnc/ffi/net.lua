-- cnnc.ffi.net: a compiled model loaded into the process (what model:compile returns).
--
-- Holds the library handle, a 64-byte aligned workspace and the graphs it came from.
-- predict runs one input or a batch in a single FFI call (the batch loop is C, in
-- cnnc_so.c), so calling from Lua costs what calling from C costs. A net compiled with
-- threads > 1 runs on a team of threads kept for its lifetime: a batch of at least as many
-- items as threads is shared item by item, a smaller one layer by layer. activations compiles,
-- on first use, a second library of the same model without fusion and with every value
-- kept in its own block of the workspace (plan option keep_all), runs it once and copies
-- each layer's output out of the workspace; layers that are views of their input
-- (Flatten, Dropout) are reported with their own shape over the same values.
--
-- A model with several inputs or outputs (or none; ONNX models) lists them in net.inputs
-- and net.outputs ({name, shape, type, offset, size}); predict then takes one tensor per
-- input, in order, and returns one tensor per output (several return values), each with
-- a batch axis when the inputs had one. Integer and boolean ONNX tensors are float32
-- values (exact).

local common = require 'cnnc.ffi.common'
local tensor = require 'cnnc.ffi.tensor'
local util = require 'cnnc.util'

local M = {}

local Net = {}
Net.__index = Net
M.Net = Net

-- fields: name, model, target, input_shape, output_shape, lib, so, key, cache_hit,
-- typed (weights as written, Keras layouts), planned, workspace, compile_variant
-- (function(opts) -> built library record, for the activations variant), has_backward and
-- training (a build with backward code, a training build), compile_prefix (function(layer)
-- -> the net of the first layers up to that one, with backward code: cnnc.ffi.grad).
function M.new(f)
  local net = setmetatable(f, Net)
  net.input_size = util.prod(f.input_shape)
  net.output_size = util.prod(f.output_shape)
  if f.io then
    net.inputs, net.outputs = {}, {}
    for _, what in ipairs({ 'inputs', 'outputs' }) do
      for k, v in ipairs(f.io[what]) do
        net[what][k] = { name = v.label, shape = util.copy(v.shape), type = v.dtype or 'float32', offset = v.offset,
          size = v.size }
      end
    end
  end
  -- A --threads build keeps a team of threads for the net's lifetime (stopped when the net
  -- is collected), with one workspace per thread for batches shared item by item.
  local threads = tonumber(f.lib.cnnc_so_max_threads())
  if threads > 1 then
    local ffi = require 'ffi'
    local team = f.lib.cnnc_so_team_start(threads)
    if team ~= nil then
      local lib = f.lib
      net.team = ffi.gc(team, function(t) lib.cnnc_so_team_stop(t) end)
      net.team_threads = tonumber(lib.cnnc_so_team_threads(team))
    end
  end
  net.workspace = tensor.new({ math.max(f.workspace_bytes, 1) * (net.team_threads or 1) }, 'uint8')
  -- A build with backward code: its trainable weights, where their gradients lie
  -- (cnnc.emit.backward.weights: {key, shape, size, offset}), and their total size.
  if f.has_backward then
    net.weight_list, net.grad_size = require('cnnc.emit.backward').weights(f.planned)
    if tonumber(f.lib.cnnc_so_grad_weights_size()) ~= net.grad_size then
      common.fail('model:compile: the library of %s has other weight gradients than the model compiled', net.name)
    end
  end
  return net
end

-- Runs n items (inputs and outputs one after another) on the net's team, or its one thread.
local function run_batch(net, input, output, n)
  if net.team then
    net.lib.cnnc_so_predict_batch_team(net.team, input, output, net.workspace.data, n)
  else
    net.lib.cnnc_so_predict_batch(input, output, net.workspace.data, n)
  end
end

function Net:__tostring()
  if self.inputs then
    local function list(l)
      local t = {}
      for _, v in ipairs(l) do t[#t + 1] = v.name .. ' ' .. util.shape_str(v.shape) end
      return '[' .. table.concat(t, ', ') .. ']'
    end
    return string.format('cnnc net %s %s -> %s, target %s (%s)', self.name, list(self.inputs), list(self.outputs),
      self.target, self.so)
  end
  return string.format('cnnc net %s %s -> %s, target %s (%s)', self.name, util.shape_str(self.input_shape),
    util.shape_str(self.output_shape), self.target, self.so)
end

-- The batch size of x for this net, or a clear error.
local function batch_of(net, x, what)
  local ishape, xs = net.input_shape, x.shape
  local r, extra = #ishape, #xs - #ishape
  if extra == 0 or extra == 1 then
    local same = true
    for d = 1, r do if xs[d + extra] ~= ishape[d] then same = false end end
    if same then return extra == 1 and xs[1] or 1, extra == 1 end
  end
  common.fail('%s: input has shape %s but model \'%s\' expects %s or a batch (N, %s)', what,
    util.shape_str(x.shape), net.name, util.shape_str(ishape), util.shape_str(ishape):sub(2, -2):gsub(',$', ''))
end

local function as_input(x, what)
  if type(x) == 'table' and not tensor.is_tensor(x) then x = tensor.from_table(x) end
  tensor.check(x, what, 'float32')
  return x
end

-- x: (input shape) or (N, input shape) float32. out (optional): a float32 tensor of the
-- right count to write into. Returns the outputs, (output shape) or (N, output shape).
-- Several inputs: one flat (N, input size) tensor of the items' inputs one after another.
local function flat_inputs(net, xs, what)
  if #xs ~= #net.inputs then
    common.fail("%s: model '%s' takes %d inputs (%s), got %d", what, net.name, #net.inputs, (function()
      local t = {}
      for _, v in ipairs(net.inputs) do t[#t + 1] = v.name .. ' ' .. util.shape_str(v.shape) end
      return #t > 0 and table.concat(t, ', ') or 'none'
    end)(), #xs)
  end
  local b, batched = 1, false
  for k, v in ipairs(net.inputs) do
    local x = as_input(xs[k], what)
    xs[k] = x
    local n, bk = batch_of({ input_shape = v.shape, name = net.name }, x, string.format('%s (input %d, %s)', what, k, v.name))
    if k > 1 and n ~= b then
      common.fail('%s: input %d (%s) holds %d items, input 1 holds %d', what, k, v.name, n, b)
    end
    b, batched = n, batched or bk
  end
  local flat = tensor.new({ b, math.max(net.input_size, 1) })
  local ffi = require 'ffi'
  for i = 0, b - 1 do
    for k, v in ipairs(net.inputs) do
      ffi.copy(flat.data + i * net.input_size + v.offset, xs[k].data + i * v.size, 4 * v.size)
    end
  end
  return flat, b, batched
end

local function predict_multi(net, xs)
  local flat, b, batched = flat_inputs(net, xs, 'net:predict')
  local all = tensor.new({ b, math.max(net.output_size, 1) })
  run_batch(net, flat.data, all.data, b)
  local ffi = require 'ffi'
  local outs = {}
  for k, o in ipairs(net.outputs) do
    local shape = util.copy(o.shape)
    if batched then table.insert(shape, 1, b) end
    outs[k] = tensor.new(shape)
    for i = 0, b - 1 do ffi.copy(outs[k].data + i * o.size, all.data + i * net.output_size + o.offset, 4 * o.size) end
  end
  return unpack(outs, 1, #net.outputs)
end

function Net:batch_of(x, what) return batch_of(self, x, what) end

-- Gradients (cnnc.ffi.grad) and training (cnnc.ffi.train).
function Net:backward(x, dy) return require('cnnc.ffi.grad').backward(self, x, dy) end
function Net:gradient(x, objective) return require('cnnc.ffi.grad').gradient(self, x, objective) end
function Net:fit(opts) return require('cnnc.ffi.train').fit(self, opts) end
function Net:evaluate(x, y, opts) return require('cnnc.ffi.train').evaluate(self, x, y, opts) end
function Net:save_weights(dir) return require('cnnc.ffi.train').save_weights(self, dir) end

function Net:predict(x, out, ...)
  if self.inputs then return predict_multi(self, { x, out, ... }) end
  x = as_input(x, 'net:predict')
  local b, batched = batch_of(self, x, 'net:predict')
  if out == nil or out.n ~= b * self.output_size or not tensor.is_tensor(out) or out.dtype ~= 'float32' then
    local oshape = util.copy(self.output_shape)
    if batched then table.insert(oshape, 1, b) end
    if out == nil then
      out = tensor.new(oshape)
    else
      tensor.check(out, 'net:predict (out)', 'float32')
      common.fail('net:predict: out has shape %s (%d values), the outputs need %s', util.shape_str(out.shape), out.n,
        util.shape_str(oshape))
    end
  end
  if b > 0 then run_batch(self, x.data, out.data, b) end
  return out
end

local FEATURE_OPTS = { chunk = true, label = true, quiet = true, out = true }

-- Outputs of a whole data set as rows (N, output size), computed in chunks (default 1000
-- items) with a progress display (label, quiet); out: a tensor of that count to fill.
function Net:features(x, opts)
  opts = common.check_opts(opts, FEATURE_OPTS, 'net:features')
  if self.inputs then common.fail("net:features: model '%s' has several inputs or outputs; use net:predict", self.name) end
  x = as_input(x, 'net:features')
  local n, batched = batch_of(self, x, 'net:features')
  if not batched then x = x:reshape({ 1, unpack(x.shape) }) end
  local out = opts.out or tensor.new({ n, self.output_size })
  tensor.check(out, 'net:features (out)', 'float32')
  if out.n ~= n * self.output_size then
    common.fail('net:features: out has %d values, %d items x %d outputs need %d', out.n, n, self.output_size,
      n * self.output_size)
  end
  out = out:reshape({ n, self.output_size })
  local chunk = opts.chunk or 1000
  local prog = require('cnnc.ffi.progress').new(n, opts.label or ('features of ' .. self.name), { quiet = opts.quiet })
  for first = 1, n, chunk do
    local last = math.min(first + chunk - 1, n)
    self:predict(x:slice(first, last), out:slice(first, last))
    prog:update(last)
  end
  prog:done(string.format('%d features each', self.output_size))
  return out
end

-- Every layer's output for one input: a list in model order of {name, op, shape, data}
-- (data a float32 tensor of that shape), also reachable by name (acts.by_name.conv2d).
function Net:activations(x, ...)
  if self.inputs then
    local b
    x, b = flat_inputs(self, { x, ... }, 'net:activations')
    if b ~= 1 then common.fail('net:activations: give one item per input, not a batch of %d', b) end
  end
  x = as_input(x, 'net:activations')
  local b = self.inputs and 1 or batch_of(self, x, 'net:activations')
  if b ~= 1 then common.fail('net:activations: give one input %s, not a batch of %d', util.shape_str(self.input_shape), b) end
  if not self.inspect then self.inspect = self.compile_variant() end
  local v = self.inspect
  local out = tensor.new({ math.max(self.output_size, 1) })
  v.lib.cnnc_so_predict_batch(x.data, out.data, v.workspace.data, 1)
  local plan = v.planned.plan
  local ws = require('ffi').cast('float *', v.workspace.data)
  local acts = { by_name = {} }
  for _, n in ipairs(v.planned.nodes) do
    local s = plan.storage[plan.root[n.name]]
    local src = (s.kind == 'input' and x.data or s.kind == 'output' and out.data or ws) + (s.offset or 0)
    local t = tensor.new(n.shape)
    require('ffi').copy(t.data, src, 4 * t.n)
    local a = { name = n.name, op = n.op, shape = util.copy(n.shape), data = t }
    acts[#acts + 1] = a
    acts.by_name[n.name] = a
  end
  return acts
end

-- The values of a weight (Keras layout, before any fusion): as compiled, or as training
-- left them in a training net.
function Net:weight(layer, wname)
  local t = require('cnnc.api').graph_weight(self.typed, layer, wname, 'net:weight')
  if self.training then
    for _, e in ipairs(require('cnnc.ffi.train').weights(self)) do
      if e.layer == layer and e.name == wname then return e.tensor end
    end
  end
  return t
end

return M
