-- cnnc.backward: the reference backward pass, the oracle of every gradient cnnc computes.
--
-- The gradient is that of the inference function cnnc compiles (BatchNormalization with
-- its moving statistics, Dropout the identity), in double precision: given an input x and
-- a gradient dy of the model's output, it gives dx and the gradient of every trainable
-- weight, keyed 'layer.weight' (Keras names and shapes: conv2d.kernel, batch_normalization
-- .gamma). It runs the reference interpreter forward keeping each node's inputs and the
-- values between its epilogue steps (cnnc.reference's trace), then walks the nodes in
-- reverse topological order: a node's output gradient (the sum of what its consumers send
-- back, plus dy for a model output) goes back through its epilogue steps
-- (cnnc.epilogue.backward_ref) and its layer's `backward` hook (cnnc.layers.*), which
-- gives the gradient of each input and of the layer's weights. Typed and fused graphs give
-- the same gradients: a batch norm moved into its producer's epilogue keeps its name in
-- its affine step, one folded into a producer's weights leaves a record
-- (`folded`, cnnc.ir) from which the producer's module recovers the gradients of its own
-- kernel and bias and of gamma and beta (conv.unfold_channels_last_grads). The forward's
-- flushing of denormals is taken as the identity. What happens at kinks (ReLU at 0, ties
-- in max pooling, ...) is each layer's and activation's choice: docs/gradients.md.
--
-- This module reads no files. Phase 2 (the C backward) will take its trainable-weight
-- list, M.trainable, as the contract of the generated header.

local epilogue = require 'cnnc.epilogue'
local ir = require 'cnnc.ir'
local reference = require 'cnnc.reference'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

-- The key ('layer.weight') and shape of the gradient of node n's weight wname: the
-- composite layer's weight it is a view of when n is a part of a lowered layer
-- (cnnc.passes.lower: a DepthwiseConv2D's kernel is its depthwise_kernel), else its own.
function M.weight_key(n, wname, shape)
  local wk = n.weight_keys and n.weight_keys[wname]
  if wk then return wk.key, wk.shape end
  return n.name .. '.' .. wname, shape
end

-- The trainable weights of a graph, in graph order: a list of {key = 'layer.weight',
-- shape}. A layer module's `trainable` names its own; a batch norm's gamma and beta are
-- found where its affine step is (an epilogue, or a fold record). The same list for a
-- graph before and after fusion.
function M.trainable(g)
  local list, seen = {}, {}
  local function add(key, shape)
    if seen[key] then util.fail(nil, "two trainable weights are named '%s'", key) end
    seen[key] = true
    list[#list + 1] = { key = key, shape = util.copy(shape) }
  end
  local function affine(origin, st)
    if st.fixed then return end -- a preprocessing step's constants (Rescaling)
    if st.gamma then add(origin .. '.gamma', st.gamma.shape) end
    if st.beta then add(origin .. '.beta', st.beta.shape) end
  end
  for _, n in ipairs(g.nodes) do
    local first = n.folded and n.folded[1]
    for _, wname in ipairs(n.layer.trainable or {}) do
      local t = not (n.frozen and n.frozen[wname]) and ir.weight(n, wname)
      -- a folded layer's own weights are those it had before the first fold
      if first and (wname == 'kernel' or wname == 'bias') then t = first[wname] end
      if t then add(M.weight_key(n, wname, t.shape)) end
    end
    for _, f in ipairs(n.folded or {}) do affine(f.origin, f.step) end
    for _, st in ipairs(n.epilogue or {}) do
      if st.op == 'affine' then affine(st.origin, st) end
    end
  end
  return list
end

-- The nodes whose layer module has no backward.
function M.missing(g)
  local t = {}
  for _, n in ipairs(g.nodes) do
    if not n.layer.backward then t[#t + 1] = n end
  end
  return t
end

-- Fails, naming the first layer without a backward (and counting the others), unless
-- every layer of g has one.
function M.check(g)
  local miss = M.missing(g)
  if #miss == 0 then return end
  local others = ''
  if #miss > 1 then
    local names = {}
    for i = 2, math.min(#miss, 6) do names[#names + 1] = string.format("'%s' (%s)", miss[i].name, miss[i].op) end
    others = string.format('; %d more layer%s without one: %s%s', #miss - 1, #miss > 2 and 's' or '',
      table.concat(names, ', '), #miss > 6 and ', ...' or '')
  end
  util.fail(miss[1], 'gradients are not implemented for %s layers (no backward)%s', miss[1].op, others)
end

local function add_into(dst, src)
  for i = 0, src.n - 1 do dst.data[i] = dst.data[i] + src.data[i] end
end

-- x: the input (any ctype; io.input_size values, several inputs one after another), dy:
-- the gradient of the output (io.output_size values, likewise). Returns dx (double; the
-- input's shape, or one flat buffer for a graph with several inputs), the weight
-- gradients {key -> double tensor in the weight's shape}, the output (as
-- cnnc.reference.run gives it) and the trainable list (M.trainable).
function M.run(g, x, dy)
  M.check(g)
  local io = ir.io(g)
  if dy.n ~= io.output_size then
    util.fail(nil, "the output gradient has %d values, the model's output %d", dy.n, io.output_size)
  end
  local trace = {}
  local y = reference.run(g, x, trace)

  -- value name -> gradient; the first contribution is copied, since a layer may hand
  -- back a view of its own output gradient
  local grads = {}
  local function send(name, t)
    if grads[name] then add_into(grads[name], t) else grads[name] = t:clone('double') end
  end
  for _, o in ipairs(io.outputs) do
    if o.name then
      local t = tensor.new(o.shape, 'double')
      for i = 0, o.size - 1 do t.data[i] = dy.data[o.offset + i] end
      send(o.name, t)
    end
  end

  local order = M.trainable(g)
  local wgrads = {}
  for _, w in ipairs(order) do wgrads[w.key] = tensor.new(w.shape, 'double') end
  local function add_grad(key, c, v) wgrads[key].data[c] = wgrads[key].data[c] + v end

  for i = #g.nodes, 1, -1 do
    local n = g.nodes[i]
    local d = grads[n.name]
    grads[n.name] = nil
    -- a value no output depends on sends nothing back (its weights' gradients stay 0)
    if d then
      local tr = trace[n.name]
      local W = {}
      for _, w in ipairs(n.weights or {}) do W[w.name] = w.tensor end
      if tr.steps then d = epilogue.backward_ref(n.epilogue, tr.steps, d, add_grad) end
      local dx, dW = n.layer.backward(n, tr.inputs[1], tr.steps and tr.steps[1], W, d, tr.inputs)
      if dW and n.folded then dW = n.layer.unfold_grads(n, dW, add_grad) end
      for wname, t in pairs(dW or {}) do
        if not (n.frozen and n.frozen[wname]) then -- (a lowered part's constants)
          local key = M.weight_key(n, wname)
          if not wgrads[key] then error('cnnc.backward: ' .. key .. ' is not a trainable weight') end
          add_into(wgrads[key], t)
        end
      end
      if tensor.is_tensor(dx) then dx = { dx } end
      for k, v in ipairs(n.inputs) do
        if dx[k] then send(v, dx[k]) end
      end
    end
  end

  local dx
  if ir.is_multi(g) then
    dx = tensor.new({ io.input_size }, 'double')
    for _, v in ipairs(io.inputs) do
      local t = grads[v.name]
      for i = 0, t and v.size - 1 or -1 do dx.data[v.offset + i] = t.data[i] end
    end
  else
    dx = grads[g.input.name] or tensor.new(g.input.shape, 'double')
    dx.shape = util.copy(g.input.shape)
  end
  return dx, wgrads, y, order
end

return M
