-- cnnc.onnx.importer: an ONNX model becomes a graph (cnnc.ir), as the model language's
-- frontend makes one from a Lua model.
--
-- It rejects, all at once, the operators it has no handler for (op type, node names,
-- count), then lowers each node the output depends on, in order, through the handlers of
-- cnnc.onnx.ops_nn, ops_math and ops_shape onto cnnc's layers, with the context of
-- cnnc.onnx.context. Constant subgraphs are folded (cnnc.onnx.const); initializers and
-- graph inputs bound with --bind are constants.
--
-- Layouts: ONNX tensors are NCHW and cnnc computes windows channels-last; a value is only
-- reordered when a layer needs another memory order, so an NCHW input is reordered once
-- before the first convolution, a channels-last output once back to NCHW, Transpose,
-- Squeeze and Unsqueeze cost nothing, and a Flatten of channels-last data before a Gemm
-- costs nothing either (the reorder is folded into the Gemm's weight rows).
--
-- The batch: the first ONNX axis is the batch when no node mixes items (the usual case);
-- it is left out, and the compiled model takes one item (C, H, W), the executable running
-- each item of a batch. When a node mixes items (a Softmax over axis 0, a Transpose
-- moving axis 0, ...), the import starts again with the whole tensor as the item (then
-- windows need the first axis to be 1). Reorders and views no layer reads are dropped.
-- It knows nothing of what a layer computes, and writes no C.

local context = require 'cnnc.onnx.context'
local ir = require 'cnnc.ir'
local onnx = require 'cnnc.onnx.model'
local util = require 'cnnc.util'

local M = {}

-- The operator handlers: the capitalised fields of the ops modules (the others are helpers
-- the modules share).
local HANDLERS = {}
for _, file in ipairs({ 'cnnc.onnx.ops_nn', 'cnnc.onnx.ops_math', 'cnnc.onnx.ops_shape' }) do
  for op, h in pairs(require(file)) do
    if op:match('^%u') then
      assert(not HANDLERS[op], 'cnnc: ONNX operator ' .. op .. ' handled twice')
      HANDLERS[op] = h
    end
  end
end
M.OPERATORS = util.sorted_keys(HANDLERS)

M.MIN_OPSET, M.MAX_OPSET = 1, 18

-- Operators that compute integer tensors exactly in float32 (below 2^24): only these may
-- see integer inputs, which the compiled model then takes as floats.
local EXACT_ON_INTEGERS = { MaxPool = 1, GlobalMaxPool = 1, Pad = 1, Clip = 1, Relu = 1, Identity = 1, Dropout = 1,
  Reshape = 1, Flatten = 1, Squeeze = 1, Unsqueeze = 1, Transpose = 1, Concat = 1, Constant = 1 }

local function describe_list(names, limit)
  local t = {}
  for i = 1, math.min(#names, limit or 4) do t[i] = "'" .. names[i] .. "'" end
  if #names > (limit or 4) then t[#t + 1] = string.format('and %d more', #names - (limit or 4)) end
  return table.concat(t, ', ')
end

-- All operators without a handler, as one error.
local function check_operators(path, nodes)
  local missing, order = {}, {}
  for _, n in ipairs(nodes) do
    local op = n.op_type
    if n.domain ~= '' and n.domain ~= 'ai.onnx' then op = n.domain .. '.' .. op end
    if not (HANDLERS[op] and (n.domain == '' or n.domain == 'ai.onnx')) then
      if not missing[op] then
        missing[op] = {}
        order[#order + 1] = op
      end
      table.insert(missing[op], n.name ~= '' and n.name or ('#' .. n.index))
    end
  end
  if #order == 0 then return end
  local lines = {}
  for _, op in ipairs(order) do
    local l = missing[op]
    lines[#lines + 1] = string.format('  %s: %d node%s (%s)', op, #l, #l == 1 and '' or 's', describe_list(l))
  end
  util.fail({ file = path }, 'the model uses %d operator%s cnnc does not support:\n%s\n(supported: %s)', #order,
    #order == 1 and '' or 's', table.concat(lines, '\n'), table.concat(M.OPERATORS, ', '))
end

local function is_float_type(t) return t == 1 end
local function is_int_type(t) return t == 2 or t == 3 or t == 4 or t == 5 or t == 6 or t == 7 end

-- The nodes the output depends on, in file order.
local function needed_nodes(nodes, output)
  local producer = {}
  for _, n in ipairs(nodes) do
    for _, o in ipairs(n.outputs) do producer[o] = n end
  end
  local need, stack = {}, { output }
  local seen = {}
  while #stack > 0 do
    local v = table.remove(stack)
    local n = producer[v]
    if n and not need[n] then
      need[n] = true
      for _, i in ipairs(n.inputs) do
        if i ~= '' and not seen[i] then seen[i] = true; stack[#stack + 1] = i end
      end
    end
  end
  local list = {}
  for _, n in ipairs(nodes) do if need[n] then list[#list + 1] = n end end
  return list
end

-- One attempt at lowering; batch: whether the first axis is the batch.
local function lower(m, opts, batch, nobatch_reason)
  local path = m.path
  local graph = m.graph
  local g = ir.new(opts.name, 'input', nil)
  g.source = path
  local ctx = context.new(g, { path = path, opset = m.opsets[''], batch = batch, nobatch_reason = nobatch_reason })
  for _, t in ipairs(graph.initializers) do
    ctx.vals[t.name] = { const = onnx.values(t, path) }
  end
  for name, t in pairs(opts.binds or {}) do ctx.vals[name] = { const = t } end
  for _, v in pairs(ctx.vals) do v.shape = v.const.shape end
  local input = opts.input
  local dims = {}
  for i, d in ipairs(input.dims) do
    if type(d) ~= 'number' or d < 0 then
      if i == 1 then d = 1
      else
        util.fail({ file = path }, "input '%s' has a dimension of unknown size (%s) at axis %d; cnnc compiles for fixed sizes",
          input.name, type(d) == 'string' and d or '?', i - 1)
      end
    end
    if d == 0 then util.fail({ file = path }, "input '%s' has an empty dimension (axis %d)", input.name, i - 1) end
    dims[i] = d
  end
  if #dims == 0 then util.fail({ file = path }, "input '%s' is a scalar; cnnc models take a tensor", input.name) end
  if batch and #dims < 2 then return nil end
  local vin = ctx:value('input', dims, nil)
  vin.perm = ctx:plain(vin)
  g.input.shape = ctx:cshape(dims, vin.perm)
  ctx.cshapes.input = g.input.shape
  ctx.vals[input.name] = vin
  ctx.consumers = {}
  for _, n in ipairs(opts.nodes) do
    for _, i in ipairs(n.inputs) do
      ctx.consumers[i] = ctx.consumers[i] or {}
      table.insert(ctx.consumers[i], n)
    end
  end
  ctx.consumers[opts.output] = ctx.consumers[opts.output] or {}
  table.insert(ctx.consumers[opts.output], { op_type = '@output', attrs = {}, inputs = {} })

  for _, node in ipairs(opts.nodes) do
    local ok, outs = xpcall(HANDLERS[node.op_type], function(e)
      if util.is_error(e) or getmetatable(e) == context.NoBatch or os.getenv('CNNC_DEBUG') then return e end
      return { internal = tostring(e), trace = debug.traceback() }
    end, ctx, node)
    if not ok then
      if type(outs) == 'table' and outs.internal then
        ctx:fail(node, 'cannot import this node (a malformed model, or a bug in cnnc): %s', outs.internal)
      end
      error(outs, 0)
    end
    for k, v in ipairs(outs) do
      local name = node.outputs[k]
      if name and name ~= '' then
        if v.const then v.shape = v.const.shape end
        for _, d in ipairs(v.shape) do
          if d < 1 then ctx:fail(node, 'output %s has an empty dimension', util.shape_str(v.shape)) end
        end
        ctx.vals[name] = v
      end
    end
    for k = #outs + 1, #node.outputs do
      local name = node.outputs[k]
      if name ~= '' and ctx.consumers[name] then
        ctx:fail(node, "output %d ('%s') is used, but cnnc computes only this node's first output", k, name)
      end
    end
  end

  local vout = ctx.vals[opts.output]
  if not vout then util.fail({ file = path }, "the output '%s' is produced by no node", opts.output) end
  if vout.const then util.fail({ file = path }, "the output '%s' is a constant: there is nothing to compile", opts.output) end
  local plain = ctx:plain(vout)
  local out_node = { name = 'output', op_type = 'output', index = #opts.nodes + 1, attrs = {} }
  g.output = ctx:mem(vout, plain, out_node)
  -- Layout views and reorders made for readers that took another path are dead: drop them.
  local live = { [g.output] = true }
  for k = #g.nodes, 1, -1 do
    local n = g.nodes[k]
    if live[n.name] then
      for _, i in ipairs(n.inputs) do live[i] = true end
    end
  end
  local kept = {}
  for _, n in ipairs(g.nodes) do
    if live[n.name] then
      kept[#kept + 1] = n
      n.index = #kept
    end
  end
  g.nodes = kept
  local function letters(shape)
    local l = ({ { 'C' }, { 'N', 'C' }, { 'N', 'C', 'W' }, { 'N', 'C', 'H', 'W' }, { 'N', 'C', 'D', 'H', 'W' } })[#shape]
    if not l then return 'ND' end
    local s = table.concat(l, '', ctx:first_axis())
    return s ~= '' and s or 'ND'
  end
  g.input.layout = letters(dims)
  g.output_layout = letters(vout.shape)
  g.onnx = { batch = batch, input = input.name, output = opts.output, opset = ctx.opset, batch_size = dims[1] }
  return g, ctx.weights
end

-- Reads and imports an .onnx file. opts.binds: {name -> tensor} for graph inputs to take
-- as constants; opts.name: the model name (default: the file's base name). Returns a
-- model for cnnc.driver: {onnx = true, graph, provider, where}.
function M.import(path, opts)
  opts = opts or {}
  local m = onnx.read(path)
  local graph = m.graph
  local opset = m.opsets['']
  if not opset then util.fail({ file = path }, 'the model imports no ONNX operator set (opset_import has no default domain)') end
  if opset < M.MIN_OPSET or opset > M.MAX_OPSET then
    util.fail({ file = path }, 'opset %d is not supported (cnnc reads opsets %d to %d)', opset, M.MIN_OPSET, M.MAX_OPSET)
  end
  for i, n in ipairs(graph.nodes) do n.index = i end
  check_operators(path, graph.nodes)
  if graph.has_sparse then util.fail({ file = path }, 'sparse initializers are not supported') end

  local binds = {}
  local declared, inits = {}, {}
  for _, t in ipairs(graph.initializers) do inits[t.name] = true end
  for _, v in ipairs(graph.inputs) do declared[v.name] = v end
  for name, t in pairs(opts.binds or {}) do
    if not declared[name] and not inits[name] then
      local names = {}
      for _, v in ipairs(graph.inputs) do if not inits[v.name] then names[#names + 1] = v.name end end
      util.fail({ file = path }, "--bind %s: the model has no input named '%s' (its inputs: %s)", name, name,
        #names > 0 and table.concat(names, ', ') or 'none')
    end
    binds[name] = t
  end

  if #graph.outputs ~= 1 then
    local names = {}
    for _, v in ipairs(graph.outputs) do names[#names + 1] = v.name end
    util.fail({ file = path }, 'the model has %d outputs (%s); cnnc compiles models with exactly one', #graph.outputs,
      table.concat(names, ', '))
  end
  local out = graph.outputs[1]
  local nodes = needed_nodes(graph.nodes, out.name)
  local used = {}
  for _, n in ipairs(nodes) do for _, i in ipairs(n.inputs) do used[i] = true end end
  used[out.name] = true
  local produced = { [out.name] = false }
  for _, n in ipairs(graph.nodes) do for _, o in ipairs(n.outputs) do produced[o] = true end end
  for _, v in ipairs(graph.inputs) do produced[v.name] = true end
  if not produced[out.name] and not inits[out.name] then
    util.fail({ file = path }, "the graph output '%s' is produced by no node and is no input", out.name)
  end
  local real = {}
  for _, v in ipairs(graph.inputs) do
    if not inits[v.name] and not binds[v.name] and used[v.name] then real[#real + 1] = v end
  end
  if #real == 0 then util.fail({ file = path }, 'the model has no input the output depends on; there is nothing to compile') end
  if #real > 1 then
    local names = {}
    for _, v in ipairs(real) do names[#names + 1] = v.name end
    util.fail({ file = path }, 'the model has %d inputs (%s); cnnc compiles models with one: bind the others to constants with --bind NAME=FILE (.pb TensorProto or .npy)',
      #real, table.concat(names, ', '))
  end
  local input = real[1]
  if input.kind ~= 'tensor' or not input.dims then
    util.fail({ file = path }, "input '%s' is %s; cnnc models take a tensor of known rank", input.name,
      input.kind == 'tensor' and 'a tensor of unknown shape' or ('of ONNX type ' .. input.kind))
  end
  if out.kind ~= 'tensor' then util.fail({ file = path }, "output '%s' is a %s, not a tensor", out.name, out.kind) end
  for _, v in ipairs({ input, out }) do
    local t = v.elem_type
    if t and not is_float_type(t) then
      if not is_int_type(t) then
        util.fail({ file = path }, "%s '%s' holds %s values; cnnc models compute float32", v == input and 'input' or 'output',
          v.name, onnx.type_name(t))
      end
      for _, n in ipairs(nodes) do
        if not EXACT_ON_INTEGERS[n.op_type] then
          util.fail({ file = path }, "%s '%s' holds %s values: cnnc computes in float32, which is exact for %s only with data-movement operators, not %s (node %s)",
            v == input and 'input' or 'output', v.name, onnx.type_name(t), onnx.type_name(t), n.op_type,
            n.name ~= '' and ("'" .. n.name .. "'") or ('#' .. n.index))
        end
      end
    end
  end

  local name = opts.name or path:match('([^/\\]+)$'):gsub('%.[^.]*$', '')
  name = context.sanitize(name)
  if name == '' or name:match('^%d') then name = 'model_' .. name end
  local lopts = { binds = binds, input = input, output = out.name, nodes = nodes, name = name }
  local ok, g, weights = pcall(lower, m, lopts, true)
  local reason
  if not ok then
    if getmetatable(g) ~= context.NoBatch then error(g, 0) end
    reason = g.reason
    g = nil
  end
  if not g then g, weights = lower(m, lopts, false, reason) end
  local provider = function(layer, wname)
    local w = weights[layer] and weights[layer][wname]
    if not w then return nil, string.format('cnnc: no imported value for %s.%s', layer, wname) end
    return w, layer .. '.' .. wname
  end
  return { onnx = true, graph = g, provider = provider, where = { file = path }, producer = m.producer }
end

return M
