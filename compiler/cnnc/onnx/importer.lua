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
-- Inputs and outputs: every graph input the outputs depend on that is neither an
-- initializer nor bound is a model input (unless only its shape is read), and every graph output a model output, in the
-- graph's order (cnnc.ir describes how several are laid out); an input with a 0 in its
-- shape holds no values and is a constant, a constant output is written by a Constant
-- node. Sequence, optional and map values are rejected with the reason.
--
-- Element types: every value is float32 in the compiled model. Each value carries its
-- ONNX type; a node whose computed inputs hold integers or booleans must be exact in
-- float32 (data movement, or 8-bit Add/Sub/Mul/Div, which the handlers wrap as integer
-- arithmetic does), else it is rejected naming the node.
--
-- It knows nothing of what a layer computes, and writes no C.

local advice = require 'cnnc.onnx.advice'
local const = require 'cnnc.onnx.const'
local context = require 'cnnc.onnx.context'
local fold = require 'cnnc.onnx.fold'
local ir = require 'cnnc.ir'
local onnx = require 'cnnc.onnx.model'
local util = require 'cnnc.util'

local M = {}

-- The operator handlers: the capitalised fields of the ops modules (the others are helpers
-- the modules share).
local HANDLERS = {}
for _, file in ipairs({ 'cnnc.onnx.ops_nn', 'cnnc.onnx.ops_math', 'cnnc.onnx.ops_shape', 'cnnc.onnx.ops_resample',
  'cnnc.onnx.ops_norm', 'cnnc.onnx.ops_elementwise', 'cnnc.onnx.ops_reduce', 'cnnc.onnx.ops_select',
  'cnnc.onnx.ops_einsum' }) do
  for op, h in pairs(require(file)) do
    if op:match('^%u') then
      assert(not HANDLERS[op], 'cnnc: ONNX operator ' .. op .. ' handled twice')
      HANDLERS[op] = h
    end
  end
end
M.OPERATORS = util.sorted_keys(HANDLERS)
-- Operators only folded on constants (no handler for computed data).
M.FOLDED = {}
for _, op in ipairs(util.sorted_keys(fold.EVAL)) do
  if not HANDLERS[op] then M.FOLDED[#M.FOLDED + 1] = op end
end

M.MIN_OPSET, M.MAX_OPSET = 1, 21

-- Operators that compute integer tensors exactly in float32 (below 2^24): these may see
-- integer inputs, which the compiled model then takes as floats.
local EXACT_ON_INTEGERS = { MaxPool = 1, GlobalMaxPool = 1, Pad = 1, Clip = 1, Relu = 1, Identity = 1, Dropout = 1,
  Reshape = 1, Flatten = 1, Squeeze = 1, Unsqueeze = 1, Transpose = 1, Concat = 1, Constant = 1, Slice = 1, Gather = 1,
  Split = 1, Expand = 1, Tile = 1, DepthToSpace = 1, SpaceToDepth = 1, Where = 1, Cast = 1, CastLike = 1, Not = 1,
  And = 1, Or = 1, Xor = 1, Equal = 1, Less = 1, LessOrEqual = 1, Greater = 1, GreaterOrEqual = 1, Abs = 1, Neg = 1,
  Sign = 1, Min = 1, Max = 1, ReduceMax = 1, ReduceMin = 1, ArgMax = 1, ArgMin = 1 }

local function describe_list(names, limit)
  local t = {}
  for i = 1, math.min(#names, limit or 4) do t[i] = "'" .. names[i] .. "'" end
  if #names > (limit or 4) then t[#t + 1] = string.format('and %d more', #names - (limit or 4)) end
  return table.concat(t, ', ')
end

local function qualified(n)
  if n.domain ~= '' and n.domain ~= 'ai.onnx' then return n.domain .. '.' .. n.op_type end
  return n.op_type
end

-- Every operator left on computed data without a handler, as one error: the nodes that
-- fold (cnnc.onnx.fold) need none. constants: names of the values known before any node.
local function check_operators(path, nodes, constants)
  local folded = fold.plan(nodes, constants)
  local is_const = {}
  for name in pairs(constants) do is_const[name] = true end
  local missing, order = {}, {}
  for _, n in ipairs(nodes) do
    if folded[n] then
      for _, o in ipairs(n.outputs) do is_const[o] = true end
    else
      local op = qualified(n)
      if not (HANDLERS[op] and (n.domain == '' or n.domain == 'ai.onnx')) then
        if not missing[op] then
          local computed
          for _, i in ipairs(n.inputs) do if i ~= '' and not is_const[i] then computed = computed or i end end
          missing[op] = { nodes = {}, advice = advice.text(op, fold.EVAL[op] ~= nil and op == n.op_type, computed) }
          order[#order + 1] = op
        end
        table.insert(missing[op].nodes, n.name ~= '' and n.name or ('#' .. n.index))
      end
    end
  end
  if #order == 0 then return end
  local lines = {}
  for _, op in ipairs(order) do
    local l = missing[op].nodes
    lines[#lines + 1] = string.format('  %s: %d node%s (%s): %s', op, #l, #l == 1 and '' or 's', describe_list(l),
      missing[op].advice)
  end
  local ok, err = pcall(util.fail, { file = path }, 'the model uses %d operator%s cnnc cannot compile here:\n%s\n'
    .. '(cnnc compiles on computed data: %s; docs/onnx.md lists what it evaluates on constants)', #order,
    #order == 1 and '' or 's', table.concat(lines, '\n'), table.concat(M.OPERATORS, ', '))
  assert(not ok)
  err.unsupported = order
  error(err, 0)
end

local function is_float_type(t) return t == 1 end
local function is_int_type(t) return t == 2 or t == 3 or t == 4 or t == 5 or t == 6 or t == 7 or t == 9 end

-- Why a value of a non-tensor ONNX type cannot be a model input or output.
local KIND_REASON = {
  sequence = 'the number of tensors in a sequence is not part of its ONNX type, and cnnc compiles fixed sizes',
  optional = 'whether an optional value is present is decided at run time, and a compiled model has a fixed set of tensors',
  map = 'a map holds a run-time number of entries',
  ['sparse tensor'] = 'sparse tensors are not supported',
}

local function kind_text(kind) return kind and ('of ONNX type ' .. kind) or 'of an unknown ONNX type' end

-- Integer types whose Add/Sub/Mul/Div cnnc computes exactly (in float32 every product of
-- two 8-bit values is exact): ONNX type -> {bits, signed}.
local INT_ARITH_TYPES = { [2] = { 8, false }, [3] = { 8, true } }
local INT_ARITH_OPS = { Add = 1, Sub = 1, Mul = 1, Div = 1 }
M.INT_ARITH_TYPES = INT_ARITH_TYPES

-- A node whose computed inputs hold integers or booleans must be one whose float32
-- result is exact: data movement, or 8-bit integer arithmetic (wrapped by the handler).
local function check_types(ctx, node)
  for k = 1, #node.inputs do
    local v = ctx:get(node, k)
    local t = v and not v.const and v.dtype
    if t and t ~= 1 and not EXACT_ON_INTEGERS[node.op_type] and not (INT_ARITH_OPS[node.op_type] and INT_ARITH_TYPES[t]) then
      ctx:fail(node, "input %d ('%s') holds %s values: cnnc computes in float32, which is exact for %s only with data-movement operators and 8-bit Add, Sub, Mul and Div, not %s",
        k, node.inputs[k], onnx.type_name(t), onnx.type_name(t), node.op_type)
    end
  end
end

-- The nodes the outputs depend on, in file order.
local function needed_nodes(nodes, outputs)
  local producer = {}
  for _, n in ipairs(nodes) do
    for _, o in ipairs(n.outputs) do producer[o] = n end
  end
  local need, stack = {}, {}
  for i, o in ipairs(outputs) do stack[i] = o end
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
  local ctx = context.new(g, { path = path, opset = m.opsets[''], batch = batch, nobatch_reason = nobatch_reason,
    handlers = HANDLERS, input_shape_given = opts.input_shape_given })
  -- Initializers are read once (a second attempt without the batch axis reuses them: the
  -- importer never writes to a constant), and then the file's text is let go: tensors
  -- and their protos no longer point into it, so the model's bytes are held once.
  for _, t in ipairs(graph.initializers) do
    if not t.value then t.value, t.s, t.raw = onnx.values(t, path), nil, nil end
    ctx.vals[t.name] = { const = t.value, dtype = t.data_type }
  end
  collectgarbage()
  for name, t in pairs(opts.binds or {}) do ctx.vals[name] = { const = t, dtype = t.onnx_type } end
  for _, v in pairs(ctx.vals) do v.shape = v.const.shape end
  -- The model's inputs, one after another in its input buffer. In batch mode every input's
  -- first axis is the batch, of one size.
  local inputs = {}
  for k, input in ipairs(opts.inputs) do
    local dims = {}
    for i, d in ipairs(input.dims) do
      if type(d) ~= 'number' or d < 0 then
        if i == 1 then d = 1
        else
          util.fail({ file = path }, "input '%s' has a dimension of unknown size (%s) at axis %d; cnnc compiles for fixed sizes: give them with --input-shape (e.g. --input-shape %s)",
            input.name, type(d) == 'string' and d or '?', i - 1, (function()
              local t = {}
              for k = 2, #input.dims do t[#t + 1] = type(input.dims[k]) == 'number' and input.dims[k] >= 0 and tostring(input.dims[k]) or 'N' end
              return table.concat(t, ',')
            end)())
        end
      end
      dims[i] = d
    end
    if #dims == 0 then util.fail({ file = path }, "input '%s' is a scalar; cnnc models take a tensor", input.name) end
    if batch and (#dims < 2 or (inputs[1] and dims[1] ~= inputs[1].dims[1])) then return nil end
    local name = #opts.inputs == 1 and 'input' or ctx:unique('input_' .. input.name)
    local vin = ctx:value(name, dims, nil, { dtype = input.elem_type or 1 })
    vin.perm = ctx:plain(vin)
    local shape = ctx:cshape(dims, vin.perm)
    ctx.cshapes[name] = shape
    ctx.vals[input.name] = vin
    inputs[k] = { name = name, shape = shape, label = input.name, dims = dims,
      dtype = onnx.type_name(input.elem_type or 1) }
  end
  if batch and #inputs == 0 then return nil end
  -- A tensor with no values (a 0 in its shape) is known from its type alone: a constant.
  for _, input in ipairs(opts.empty) do
    local t = require('cnnc.tensor').new(input.dims, 'double')
    ctx.vals[input.name] = { const = t, shape = t.shape, dtype = input.elem_type }
  end
  -- An input read only for its shape: a value with a shape and nothing else (a symbolic
  -- first axis is 1, as for model inputs).
  for _, input in ipairs(opts.shapes) do
    local dims = {}
    for i, d in ipairs(input.dims) do
      if type(d) ~= 'number' or d < 0 then
        if i ~= 1 then
          util.fail({ file = path }, "input '%s' has a dimension of unknown size at axis %d; cnnc compiles for fixed sizes",
            input.name, i - 1)
        end
        d = 1
      end
      dims[i] = d
    end
    ctx.vals[input.name] = { shape = dims, dtype = input.elem_type }
  end
  g.input = inputs[1]
  if g.input then g.input.shape = inputs[1].shape end
  ctx.consumers = {}
  for _, n in ipairs(opts.nodes) do
    for _, i in ipairs(n.inputs) do
      ctx.consumers[i] = ctx.consumers[i] or {}
      table.insert(ctx.consumers[i], n)
    end
  end
  for _, o in ipairs(opts.outputs) do
    ctx.consumers[o.name] = ctx.consumers[o.name] or {}
    table.insert(ctx.consumers[o.name], { op_type = '@output', attrs = {}, inputs = {} })
  end

  for _, node in ipairs(opts.nodes) do
    local handler = HANDLERS[node.op_type]
    if fold.ready(ctx, node) then handler = fold.EVAL[node.op_type]
    else check_types(ctx, node) end
    local ok, outs = xpcall(handler, function(e)
      if util.is_error(e) or getmetatable(e) == context.NoBatch or os.getenv('CNNC_DEBUG') then return e end
      return { internal = tostring(e), trace = debug.traceback() }
    end, ctx, node)
    if not ok then
      if type(outs) == 'table' and outs.internal then
        ctx:fail(node, 'cannot import this node (a malformed model, or a bug in cnnc): %s', outs.internal)
      end
      error(outs, 0)
    end
    local first = ctx:get(node, 1)
    for k, v in ipairs(outs) do
      local name = node.outputs[k]
      if name and name ~= '' then
        if v.const then v.shape = v.const.shape end
        if not v.const then
          for _, d in ipairs(v.shape) do
            if d < 1 then ctx:fail(node, 'output %s has an empty dimension', util.shape_str(v.shape)) end
          end
        end
        v.dtype = v.dtype or (v.const and v.const.onnx_type) or (first and first.dtype) or 1
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

  local function letters(shape)
    local l = ({ { 'C' }, { 'N', 'C' }, { 'N', 'C', 'W' }, { 'N', 'C', 'H', 'W' }, { 'N', 'C', 'D', 'H', 'W' } })[#shape]
    if not l then return 'ND' end
    local s = table.concat(l, '', ctx:first_axis())
    return s ~= '' and s or 'ND'
  end
  local outputs = {}
  for k, o in ipairs(opts.outputs) do
    local vout = ctx.vals[o.name]
    if not vout then util.fail({ file = path }, "the output '%s' is produced by no node", o.name) end
    local out_node = { name = 'output', op_type = 'output', index = #opts.nodes + k, attrs = {} }
    local entry = { label = o.name, layout = letters(vout.shape), dtype = onnx.type_name(vout.dtype or 1) }
    if vout.const and vout.const.n == 0 then
      entry.empty = util.copy(vout.shape)
    elseif vout.const then
      -- A constant output is written by a Constant node; in batch mode it would have to
      -- hold the batch axis, so the import runs again with the whole tensor as the item.
      ctx:mixes_batch(out_node, 'is a constant output (the same for the whole batch)')
      local t = const.float(vout.const)
      local shape = ctx:cshape(vout.shape, ctx:plain(vout))
      entry.name = ctx:layer(out_node, 'Constant', { value_shape = shape },
        { inputs = {}, weights = { value = const.reshape(t, shape) }, shape = shape, base = 'const_' .. o.name })
    else
      entry.name = ctx:mem(vout, ctx:plain(vout), out_node)
    end
    outputs[k] = entry
  end
  if #outputs == 1 and outputs[1].empty and #inputs == 1 then
    util.fail({ file = path }, "the model's only output, '%s', is empty (shape %s): there is nothing to compute from its input",
      outputs[1].label, util.shape_str(outputs[1].empty))
  end
  -- Layout views and reorders made for readers that took another path are dead: drop them.
  local live = {}
  for _, o in ipairs(outputs) do if o.name then live[o.name] = true end end
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
  for _, v in ipairs(inputs) do v.layout = letters(v.dims); v.dims = nil end
  g.output = outputs[1].name
  g.output_layout = outputs[1].layout
  if #inputs ~= 1 or #outputs ~= 1 then
    g.inputs, g.outputs = inputs, outputs
  else
    g.input = { name = inputs[1].name, shape = inputs[1].shape, layout = inputs[1].layout }
  end
  g.onnx = { batch = batch, opset = ctx.opset }
  return g, ctx.weights
end

-- The model inputs with the sizes --input-shape gives (cnnc.driver.load): `shape` is a
-- list of sizes for the only input, or {[name] = sizes}; sizes cover every axis, or every
-- axis but the first (the batch, kept as the file has it).
local function with_input_shapes(path, inputs, shape)
  if not shape then return inputs end
  local names = {}
  for _, v in ipairs(inputs) do names[#names + 1] = v.name end
  local by_name = shape
  if type(shape[1]) == 'number' then
    if #inputs ~= 1 then
      util.fail({ file = path }, '--input-shape: the model has %d inputs (%s): give NAME=sizes for each to change',
        #inputs, table.concat(names, ', '))
    end
    by_name = { [inputs[1].name] = shape }
  end
  local out, found = {}, {}
  for i, v in ipairs(inputs) do
    local sizes = by_name[v.name]
    if sizes then
      found[v.name] = true
      local dims = util.copy(v.dims)
      if #sizes == #dims then dims = util.copy(sizes)
      elseif #sizes == #dims - 1 then
        for k = 1, #sizes do dims[k + 1] = sizes[k] end
      else
        util.fail({ file = path }, "--input-shape: input '%s' has rank %d %s: give %d sizes, or %d without the batch axis",
          v.name, #dims, util.shape_str(v.dims), #dims, #dims - 1)
      end
      local c = util.copy(v)
      c.dims = dims
      out[i] = c
    else
      out[i] = v
    end
  end
  for name in pairs(by_name) do
    if not found[name] then
      util.fail({ file = path }, "--input-shape: the model has no input named '%s' (its inputs: %s)", tostring(name),
        #names > 0 and table.concat(names, ', ') or 'none')
    end
  end
  return out
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

  if #graph.outputs == 0 then util.fail({ file = path }, 'the model has no output') end
  local outs, onames = {}, {}
  for _, v in ipairs(graph.outputs) do
    if v.kind ~= 'tensor' then
      util.fail({ file = path }, "output '%s' is %s, not a tensor: %s", v.name, kind_text(v.kind), KIND_REASON[v.kind] or '')
    end
    outs[#outs + 1] = v
    onames[#onames + 1] = v.name
  end
  local nodes = needed_nodes(graph.nodes, onames)
  local used = {}
  for _, n in ipairs(nodes) do for _, i in ipairs(n.inputs) do used[i] = true end end
  for _, o in ipairs(onames) do used[o] = true end
  local produced = {}
  for _, n in ipairs(graph.nodes) do for _, o in ipairs(n.outputs) do produced[o] = true end end
  for _, v in ipairs(graph.inputs) do produced[v.name] = true end
  for _, o in ipairs(onames) do
    if not produced[o] and not inits[o] then
      util.fail({ file = path }, "the graph output '%s' is produced by no node and is no input", o)
    end
  end
  -- The model's inputs: graph inputs the outputs depend on that are neither initializers
  -- nor bound; those with a 0 in their shape hold no values and become constants.
  -- Inputs whose values no node reads (only their shapes, through Shape and Size) are no
  -- model inputs: their shapes are constants like any other.
  local shape_only = {}
  for _, v in ipairs(graph.inputs) do shape_only[v.name] = true end
  for _, n in ipairs(nodes) do
    if not fold.SHAPE_ONLY[n.op_type] then
      for _, i in ipairs(n.inputs) do shape_only[i] = nil end
    end
  end
  for _, o in ipairs(onames) do shape_only[o] = nil end
  local real, empty, shapes = {}, {}, {}
  for _, v in ipairs(graph.inputs) do
    if not inits[v.name] and not binds[v.name] and used[v.name] then
      if v.kind ~= 'tensor' or not v.dims then
        util.fail({ file = path }, "input '%s' is %s; cnnc models take tensors of known rank: %s", v.name,
          v.kind == 'tensor' and 'a tensor of unknown shape' or kind_text(v.kind),
          v.kind == 'tensor' and 'give the model a shape' or (KIND_REASON[v.kind] or ''))
      end
      local is_empty = false
      for _, d in ipairs(v.dims) do if d == 0 then is_empty = true end end
      if is_empty then empty[#empty + 1] = v
      elseif shape_only[v.name] then shapes[#shapes + 1] = v
      else real[#real + 1] = v end
    end
  end
  real = with_input_shapes(path, real, opts.input_shape)
  for _, v in ipairs(real) do
    local t = v.elem_type
    if t and not is_float_type(t) and not is_int_type(t) then
      util.fail({ file = path }, "input '%s' holds %s values; cnnc models compute float32", v.name, onnx.type_name(t))
    end
  end
  for _, v in ipairs(outs) do
    local t = v.elem_type
    if t and not is_float_type(t) and not is_int_type(t) then
      util.fail({ file = path }, "output '%s' holds %s values; cnnc models compute float32", v.name, onnx.type_name(t))
    end
  end

  local known = {}
  for name in pairs(inits) do known[name] = true end
  for name in pairs(binds) do known[name] = true end
  for _, v in ipairs(empty) do known[v.name] = true end
  check_operators(path, nodes, known)

  local name = opts.name or path:match('([^/\\]+)$'):gsub('%.[^.]*$', '')
  name = context.sanitize(name)
  if name == '' or name:match('^%d') then name = 'model_' .. name end
  local lopts = { binds = binds, inputs = real, empty = empty, shapes = shapes, outputs = outs, nodes = nodes, name = name,
    input_shape_given = opts.input_shape ~= nil }
  local ok, g, weights = pcall(lower, m, lopts, true)
  local reason
  if not ok then
    if getmetatable(g) ~= context.NoBatch then error(g, 0) end
    reason = g.reason
    g = nil
  end
  if not g then g, weights = lower(m, lopts, false, reason) end
  -- The constants the layers took copies of (a Gemm's transposed kernel) are garbage now:
  -- collected before code generation allocates the weight blob.
  for _, t in ipairs(graph.initializers) do t.value = nil end
  collectgarbage()
  local provider = function(layer, wname)
    local w = weights[layer] and weights[layer][wname]
    if not w then return nil, string.format('cnnc: no imported value for %s.%s', layer, wname) end
    return w, layer .. '.' .. wname
  end
  return { onnx = true, graph = g, provider = provider, where = { file = path }, producer = m.producer }
end

return M
