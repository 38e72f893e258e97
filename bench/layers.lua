-- bench/layers.lua: one model file per layer of a network, for cnnc's per-layer timing.
--
--   luajit bench/layers.lua MODEL.lua OUTDIR      (run from the repository root)
--
-- Loads MODEL with cnnc's own driver (up to the shape pass) and, for every layer that does
-- arithmetic (convolutions, pooling, Dense), writes OUTDIR/<layer>.lua: a Sequential holding
-- that layer alone, with the layer's own arguments and its input shape in the network, and
-- OUTDIR/<layer>.input.npy, an input in [0, 1). Then prints one line per layer:
-- `layer NAME OP MACS MODEL INPUT`, in network order (OP as in
-- bench/export_weights.lua's net.txt, so the report can set these beside oneDNN's
-- per-primitive times). A Dense after a Flatten gets the flattened vector as its input.
--
-- The generated code of a one-layer model is the same kernel the layer gets inside the
-- network, except that nothing is fused across the layer boundary (the reference networks
-- fuse only activations, which stay with their layer here). Weights come from the same
-- seeded initializers but not the same stream position: timings do not depend on them.

package.path = 'compiler/?.lua;' .. package.path
local driver = require 'cnnc.driver'
local npy = require 'cnnc.npy'
local tensor = require 'cnnc.tensor'

local OPS = {
  Conv1D = 'conv', Conv2D = 'conv', MaxPooling1D = 'maxpool', MaxPooling2D = 'maxpool',
  AveragePooling1D = 'avgpool', AveragePooling2D = 'avgpool',
  GlobalAveragePooling1D = 'gavgpool', GlobalAveragePooling2D = 'gavgpool',
  GlobalMaxPooling1D = 'gmaxpool', GlobalMaxPooling2D = 'gmaxpool', Dense = 'dense',
}

local function die(fmt, ...)
  io.stderr:write('bench/layers.lua: ', string.format(fmt, ...), '\n')
  os.exit(1)
end

-- A checked argument as Lua source the model language reads back.
local function lua_value(v)
  local t = type(v)
  if t == 'string' then return string.format('%q', v) end
  if t == 'number' then
    if v ~= v or v == math.huge or v == -math.huge then die('cannot write the number %s', tostring(v)) end
    return string.format('%.17g', v)
  end
  if t == 'boolean' then return tostring(v) end
  if t ~= 'table' then die('cannot write a %s argument', t) end
  -- an initializer without parameters reads back as its name
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  if #keys == 1 and keys[1] == 'name' then return lua_value(v.name) end
  local parts = {}
  for i = 1, #v do parts[#parts + 1] = lua_value(v[i]) end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    if type(k) ~= 'number' then parts[#parts + 1] = string.format('%s = %s', k, lua_value(v[k])) end
  end
  return '{' .. table.concat(parts, ', ') .. '}'
end

local function main(model_path, outdir)
  if not (model_path and outdir) then die('usage: luajit bench/layers.lua MODEL.lua OUTDIR') end
  local model, err = driver.load(model_path)
  if not model then die('%s', err.message or tostring(err)) end
  local r
  r, err = driver.compile(model, { stop = 'shape' })
  if not r then die('%s', err.message or tostring(err)) end
  for _, n in ipairs(r.typed.nodes) do
    local op = OPS[n.op]
    if op then
      local args = {}
      local keys = {}
      for k in pairs(n.p) do keys[#keys + 1] = k end
      table.sort(keys)
      for _, k in ipairs(keys) do args[#args + 1] = string.format('%s = %s', k, lua_value(n.p[k])) end
      local file = outdir .. '/' .. n.name .. '.lua'
      local src = table.concat({
        string.format('-- layer %s of %s alone (written by bench/layers.lua)', n.name, model_path),
        "local nn = require 'cnnc'",
        string.format("local m = nn.Sequential{name = %q, input_shape = %s, seed = 1}", n.name, lua_value(n.in_shape)),
        string.format('m:add(nn.%s{%s})', n.op, table.concat(args, ', ')),
        'return m', '' }, '\n')
      local f = io.open(file, 'w')
      if not f then die('cannot write %s', file) end
      f:write(src)
      f:close()
      local input = outdir .. '/' .. n.name .. '.input.npy'
      local t = tensor.new(n.in_shape, 'float')
      local x = 12345 -- Park-Miller, as bench/export_weights.lua
      for i = 0, t.n - 1 do
        x = (x * 16807) % 2147483647
        t.data[i] = x / 2147483647
      end
      local ok, werr = npy.write(input, t)
      if not ok then die('%s', werr) end
      local macs = n.layer.macs and n.layer.macs(n) or 0
      print(string.format('layer %s %s %.0f %s %s', n.name, op, macs, file, input))
    end
  end
end

main(arg[1], arg[2])
