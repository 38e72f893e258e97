-- cnnc.convert: `cnnc convert`, a model of the language (an imported Keras file) written as a Lua
-- model file, and its weights as .npy files.
--
-- `cnnc convert m.h5 -o m.lua --weights-out DIR` makes a Keras model something to edit and
-- experiment on: a Sequential model becomes nn.Sequential with m:add lines, any other an
-- nn.Input / layer(x) / nn.Model program, one line per layer call, every layer keeping its
-- Keras name, so `cnnc build m.lua --weights DIR` finds DIR/<layer>.<weight>.npy (Keras
-- layouts) and computes what the Keras file does. Arguments equal to their defaults are
-- left out; a kind's required arguments are written by position, the rest by name.

local args = require 'cnnc.args'
local registry = require 'cnnc.registry'
local util = require 'cnnc.util'

local M = {}

local KEYWORDS = {}
for w in ([[and break do else elseif end false for function if in local nil not or repeat return then true
  until while nn m]]):gmatch('%S+') do KEYWORDS[w] = true end

-- A Lua literal of an argument value (numbers exact: %.17g round-trips a double).
local function literal(v)
  if type(v) == 'number' then
    if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format('%d', v) end
    local s = string.format('%.9g', v)
    if tonumber(s) ~= v then s = string.format('%.17g', v) end
    return s
  end
  if type(v) == 'string' then
    return "'" .. v:gsub('[%c\\\']', function(c)
      return ({ ['\\'] = '\\\\', ["'"] = "\\'", ['\n'] = '\\n', ['\t'] = '\\t' })[c] or string.format('\\%03d', c:byte())
    end) .. "'"
  end
  if type(v) == 'boolean' then return tostring(v) end
  if type(v) == 'table' then
    local t = {}
    for i = 1, #v do t[i] = literal(v[i]) end
    -- a tuple of equal sizes as Keras writes it: one int
    return '{' .. table.concat(t, ', ') .. '}'
  end
  error('cnnc: cannot write a ' .. type(v) .. ' argument')
end

local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= 'table' then return a == b end
  if #a ~= #b then return false end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

-- nn.Kind{...} for a layer object: required arguments by position, others by name, then
-- the name; defaults, initializers and training-only options left out.
local function constructor(layer, needs_last_axis)
  local entry = registry.kinds[layer.kind]
  local parts, positional = {}, true
  for _, s in ipairs(entry.spec.args) do
    local name, kind = s[1], s[2]
    local v = layer.p[name]
    local default = s.default
    if default ~= nil then
      if type(default) == 'table' then default = util.copy(default) end
      default = args.CHECK[kind](default, s, entry.spec.rank)
    end
    if kind == 'padding_amounts' and entry.spec.rank == 1 and type(v) == 'table' then v = v[1] end
    if name == 'last_axis' and not (needs_last_axis and needs_last_axis[layer.p.name]) then v = nil end
    local skip = v == nil or kind == 'initializer' or kind == 'ignored' or (kind == 'values' and
      ({ kernel = 1, bias = 1, depthwise_kernel = 1, pointwise_kernel = 1, alpha = 1, gamma = 1, beta = 1,
        moving_mean = 1, moving_variance = 1, operand = 1 })[name]) or same(v, default)
    if s.required and positional and not skip then
      -- a size tuple of equal values is written as one int, as Keras allows
      if kind == 'size' and type(v) == 'table' then
        local eq = true
        for i = 2, #v do if v[i] ~= v[1] then eq = false end end
        if eq then v = v[1] end
      end
      parts[#parts + 1] = literal(v)
    elseif not skip then
      positional = false
      if kind == 'size' and type(v) == 'table' then
        local eq = true
        for i = 2, #v do if v[i] ~= v[1] then eq = false end end
        if eq then v = v[1] end
      end
      parts[#parts + 1] = name .. ' = ' .. literal(v)
    else
      positional = positional and not s.required
    end
  end
  if layer.p.name then parts[#parts + 1] = 'name = ' .. literal(layer.p.name) end
  return string.format('nn.%s{%s}', layer.kind, table.concat(parts, ', '))
end

-- Lua variable names made from layer names, unique.
local function namer()
  local used = {}
  return function(base)
    local s = base:gsub('[^%w_]', '_')
    if s == '' or s:match('^%d') then s = 'x_' .. s end
    if KEYWORDS[s] then s = s .. '_' end
    local name, k = s, 1
    while used[name] do k = k + 1; name = s .. '_' .. k end
    used[name] = true
    return name
  end
end

-- The calls a Functional model's outputs depend on, in the order they were made (as
-- cnnc.frontend orders them), and how often each layer is called.
local function calls_of(model)
  local reached, stack = {}, {}
  for i, t in ipairs(model.outputs) do stack[i] = t end
  while #stack > 0 do
    local t = table.remove(stack)
    if not reached[t] then
      reached[t] = true
      for _, x in ipairs(t.inputs or {}) do stack[#stack + 1] = x end
    end
  end
  local calls, n_calls = {}, {}
  for t in pairs(reached) do
    if not t.input then
      calls[#calls + 1] = t
      n_calls[t.layer] = (n_calls[t.layer] or 0) + 1
    end
  end
  table.sort(calls, function(a, b) return a.id < b.id end)
  return calls, n_calls
end

-- The layers of a Functional model that is a chain from its one input to its one output
-- (each call on the one before, no layer called twice), or nil.
local function chain(model)
  if #model.inputs ~= 1 or #model.outputs ~= 1 then return nil end
  local calls, n_calls = calls_of(model)
  local prev, layers = model.inputs[1], {}
  for i, t in ipairs(calls) do
    if #t.inputs ~= 1 or t.inputs[1] ~= prev or n_calls[t.layer] > 1 then return nil end
    prev, layers[i] = t, t.layer
  end
  return prev == model.outputs[1] and layers or nil
end

-- The Lua text of model (an nn.Model or nn.Sequential). opts: {source = the converted
-- file, weights = the weights directory, note = a line about the source, sequential =
-- write a chain as nn.Sequential, last_axis = {layer name -> true}: the Dense layers on an
-- unflattened input, which need last_axis = true}.
function M.lua_text(model, opts)
  opts = opts or {}
  if model.functional and opts.sequential then
    local layers = chain(model)
    if layers then
      model = { name = model.name, input_shape = model.inputs[1].input.shape, layers = layers }
    end
  end
  local lines = {
    string.format('-- %s: converted from %s by cnnc convert.', model.name or 'model', opts.source or 'a Keras file'),
  }
  if opts.note then lines[#lines + 1] = '-- ' .. opts.note end
  lines[#lines + 1] = string.format('-- Weights: cnnc build this file --weights %s (<layer>.<weight>.npy, Keras layouts).',
    opts.weights or 'DIR')
  lines[#lines + 1] = "local nn = require 'cnnc'"
  local name = model.name and string.format('name = %s, ', literal(model.name)) or ''
  if not model.functional then
    lines[#lines + 1] = string.format('local m = nn.Sequential{%sinput_shape = %s}', name, literal(model.input_shape))
    for _, l in ipairs(model.layers) do lines[#lines + 1] = string.format('m:add(%s)', constructor(l, opts.last_axis)) end
    lines[#lines + 1] = 'return m'
    return table.concat(lines, '\n') .. '\n'
  end
  local calls, n_calls = calls_of(model)
  local var, value = namer(), {}
  for _, t in ipairs(model.inputs) do
    value[t] = var(t.input.name or 'input')
    local nm = t.input.name and (', name = ' .. literal(t.input.name)) or ''
    lines[#lines + 1] = string.format('local %s = nn.Input{shape = %s%s}', value[t], literal(t.input.shape), nm)
  end
  local layer_var = {}
  for _, t in ipairs(calls) do
    local l = t.layer
    local ins = {}
    for i, x in ipairs(t.inputs) do ins[i] = value[x] end
    local arg = #ins == 1 and ('(' .. ins[1] .. ')') or ('{' .. table.concat(ins, ', ') .. '}')
    local out = var(l.p.name or util.snake(l.kind))
    value[t] = out
    if n_calls[l] > 1 then
      if not layer_var[l] then
        layer_var[l] = var((l.p.name or util.snake(l.kind)) .. '_layer')
        lines[#lines + 1] = string.format('local %s = %s -- called %d times, one set of weights', layer_var[l],
          constructor(l, opts.last_axis), n_calls[l])
      end
      lines[#lines + 1] = string.format('local %s = %s%s', out, layer_var[l], arg)
    else
      lines[#lines + 1] = string.format('local %s = %s%s', out, constructor(l), arg)
    end
  end
  local function list(ts)
    local t = {}
    for i, x in ipairs(ts) do t[i] = value[x] end
    return #t == 1 and t[1] or ('{' .. table.concat(t, ', ') .. '}')
  end
  lines[#lines + 1] = string.format('return nn.Model{inputs = %s, outputs = %s%s}', list(model.inputs),
    list(model.outputs), model.name and (', name = ' .. literal(model.name)) or '')
  return table.concat(lines, '\n') .. '\n'
end

-- The Dense layers of a typed graph applied to the last axis of an unflattened input.
function M.last_axis_layers(typed)
  local t = {}
  for _, n in ipairs(typed.nodes) do
    if n.op == 'Dense' and #n.in_shape > 1 then t[n.name] = true end
  end
  return t
end

-- The weights of a typed graph as {file name -> tensor}: <layer>.<weight>.npy, each
-- shared layer's once.
function M.weight_files(typed)
  local files = {}
  for _, n in ipairs(typed.nodes) do
    if not n.shares then
      for _, w in ipairs(n.weights or {}) do files[#files + 1] = { name = n.name .. '.' .. w.name .. '.npy', tensor = w.tensor } end
    end
  end
  return files
end

-- `cnnc convert MODEL -o OUT.lua [--weights-out DIR] [--weights FILE] [--name NAME]`.
function M.main(argv)
  local cli = require 'cnnc.cli'
  local driver = require 'cnnc.driver'
  local parse, die, fail_with, load_model, shell_quote = cli.parse, cli.die, cli.fail_with, cli.load_model, cli.shell_quote
  local pos, opt = parse(argv, { ['-o'] = 'value', ['--weights-out'] = 'value', ['--weights'] = 'value',
    ['--name'] = 'value' }, 'convert')
  if #pos ~= 1 then die('convert: expected one MODEL argument (see cnnc convert --help)', 2) end
  local out = opt['-o'] or die('convert: -o OUT.lua is required (see cnnc convert --help)', 2)
  if opt['--name'] and not opt['--name']:match('^[%a_][%w_]*$') then
    die("convert: --name must be a C identifier, got '" .. opt['--name'] .. "'", 2)
  end
  local dir = opt['--weights-out'] or (out:gsub('%.lua$', '') .. '_weights')
  local model = load_model(pos[1])
  if not model.keras then
    die(string.format('convert: %s is not a Keras model file (.h5, .keras or a JSON configuration)', pos[1]), 2)
  end
  -- everything checked before anything is written: the whole pipeline up to the plan
  local r, err = driver.compile(model, { stop = 'plan', weights = opt['--weights'] })
  if not r then fail_with(err) end
  local convert = M
  if opt['--name'] then model.name = opt['--name'] end
  local text = convert.lua_text(model, { source = pos[1], weights = dir, sequential = model.keras.desc.sequential,
    last_axis = convert.last_axis_layers(r.typed),
    note = string.format('%s, Keras %s.', model.keras.format, model.keras.version ~= '' and model.keras.version or '?') })
  local files = convert.weight_files(r.typed)
  -- the weights into a fresh directory beside DIR, then moved in: a failure leaves no half
  local mk = os.execute('mkdir -p ' .. shell_quote(dir))
  if mk ~= 0 and mk ~= true then die('convert: cannot create directory ' .. dir) end
  local tmp = dir .. '/.cnnc-convert-' .. tostring(os.time()) .. tostring(math.random(1e9))
  local function cleanup() os.execute('rm -rf ' .. shell_quote(tmp)) end
  if os.execute('mkdir ' .. shell_quote(tmp) .. ' 2>/dev/null') ~= 0 and not io.open(tmp) then
    die('convert: cannot write into ' .. dir)
  end
  local npy = require 'cnnc.npy'
  for _, f in ipairs(files) do
    local ok, werr = npy.write(tmp .. '/' .. f.name, f.tensor)
    if not ok then cleanup(); die('convert: ' .. werr) end
  end
  for _, f in ipairs(files) do
    local ok, rerr = os.rename(tmp .. '/' .. f.name, dir .. '/' .. f.name)
    if not ok then cleanup(); die('convert: cannot move ' .. f.name .. ' into ' .. dir .. ': ' .. tostring(rerr)) end
  end
  cleanup()
  local ok, werr = util.write_file_atomic(out, text)
  if not ok then die('convert: cannot write ' .. out .. ': ' .. tostring(werr)) end
  io.write(string.format('wrote %s and %d weight file%s in %s\n', out, #files, #files == 1 and '' or 's', dir))
end

return M
