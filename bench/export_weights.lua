-- bench/export_weights.lua: a model's weights, a network description and one input, for
-- the oneDNN and PyTorch harnesses.
--
--   luajit bench/export_weights.lua MODEL.lua OUTDIR      (run from the repository root)
--
-- Loads the model with cnnc's own driver (up to the shape pass: seeded initializers
-- resolved, no fusion), so the other harnesses run on exactly the weights cnnc compiles.
-- Writes into OUTDIR:
--   <layer>.<weight>.npy   every weight, float32, in its Keras layout (the same names
--                          `cnnc build --weights OUTDIR` reads)
--   net.txt                one line per layer, see FORMAT below
--   input.npy              a deterministic input in [0, 1) of the model's input shape
--   grad_output.npy        a deterministic gradient of the output in [-0.5, 0.5), of the
--                          output's shape (the backward runs' dy)
-- It does not run the model, and it knows only the layers and activations the harnesses
-- implement (the reference networks R1-R4 need); anything else is an error naming it.

package.path = 'compiler/?.lua;' .. package.path
local driver = require 'cnnc.driver'
local npy = require 'cnnc.npy'
local tensor = require 'cnnc.tensor'

local FORMAT = [[
# cnnc bench network description (written by bench/export_weights.lua)
# net NAME RANK IH IW IC OUTPUT_SIZE      Keras input shape as H W C (1-D: H = 1)
# OP NAME ACT IH IW IC OH OW OC KH KW SH SW DH DW PT PB PL PR KERNEL BIAS MACS
#   OP: conv maxpool avgpool gavgpool gmaxpool flatten dense; ACT: none relu softmax
#   1-D layers have IH = OH = KH = 1; dense: IH IW IC is its input before any flatten
#   (the kernel rows are in that HWC order), OH = OW = 1; KERNEL/BIAS: .npy file or -]]

local OPS = {
  Conv1D = 'conv', Conv2D = 'conv', MaxPooling1D = 'maxpool', MaxPooling2D = 'maxpool',
  AveragePooling1D = 'avgpool', AveragePooling2D = 'avgpool',
  GlobalAveragePooling1D = 'gavgpool', GlobalAveragePooling2D = 'gavgpool',
  GlobalMaxPooling1D = 'gmaxpool', GlobalMaxPooling2D = 'gmaxpool',
  Flatten = 'flatten', Dense = 'dense', Dropout = 'skip',
}

local function die(fmt, ...)
  io.stderr:write('export_weights: ', string.format(fmt, ...), '\n')
  os.exit(1)
end

-- A shape as H W C (rank-1 shapes (C,) as 1 1 C, 1-D (W, C) as 1 W C).
local function hwc(shape)
  if #shape == 3 then return shape[1], shape[2], shape[3] end
  if #shape == 2 then return 1, shape[1], shape[2] end
  return 1, 1, shape[1]
end

local function activation(node)
  local steps = node.epilogue or {}
  if #steps == 0 then return 'none' end
  if #steps > 1 or steps[1].op ~= 'act' then
    die("layer '%s': epilogue %s is not supported by the bench harnesses", node.name,
      steps[1].op .. (#steps > 1 and ' (+more)' or ''))
  end
  local name = steps[1].name
  if name == 'linear' then return 'none' end
  if name ~= 'relu' and name ~= 'softmax' then
    die("layer '%s': activation '%s' is not supported by the bench harnesses", node.name, name)
  end
  return name
end

local function weight_file(node, wname, outdir)
  for _, w in ipairs(node.weights or {}) do
    if w.name == wname then
      local file = node.name .. '.' .. wname .. '.npy'
      local ok, err = npy.write(outdir .. '/' .. file, w.tensor)
      if not ok then die('%s', err) end
      return file
    end
  end
  return '-'
end

-- Park-Miller minimal standard generator: exact in doubles, the same on every platform.
-- Values in [lo, lo + 1).
local function write_input(shape, path, seed, lo)
  local t = tensor.new(shape, 'float')
  local x = seed
  for i = 0, t.n - 1 do
    x = (x * 16807) % 2147483647
    t.data[i] = lo + x / 2147483647
  end
  local ok, err = npy.write(path, t)
  if not ok then die('%s', err) end
end

local function main(model_path, outdir)
  if not (model_path and outdir) then die('usage: luajit bench/export_weights.lua MODEL.lua OUTDIR') end
  local model, err = driver.load(model_path)
  if not model then die('%s', err.message or tostring(err)) end
  local r
  r, err = driver.compile(model, { stop = 'shape' })
  if not r then die('%s', err.message or tostring(err)) end
  local g = r.typed
  local lines = { FORMAT }
  local input_shape = g.input.shape
  local ih, iw, ic = hwc(input_shape)
  local last = g.nodes[#g.nodes]
  local out_n = 1
  for _, d in ipairs(last.shape) do out_n = out_n * d end
  lines[#lines + 1] = string.format('net %s %d %d %d %d %d', g.name, #input_shape == 3 and 2 or 1, ih, iw, ic, out_n)
  local spatial = { hwc(input_shape) } -- the last tensor shape before a flatten
  local prev = nil
  for _, n in ipairs(g.nodes) do
    local op = OPS[n.op]
    if not op then die("layer '%s': %s is not supported by the bench harnesses", n.name, n.op) end
    if #n.inputs ~= 1 or (prev and n.inputs[1] ~= prev) then
      die("layer '%s': only sequential networks are supported", n.name)
    end
    prev = n.name
    if op ~= 'skip' then
      local macs = n.layer.macs and n.layer.macs(n) or 0
      local a, b, c = hwc(n.in_shape)
      local oh, ow, oc = hwc(n.shape)
      local geo = n.g or { kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pb = 0, pl = 0, pr = 0 }
      if op == 'dense' then
        a, b, c = spatial[1], spatial[2], spatial[3]
        if a * b * c ~= n.in_shape[1] then die("layer '%s': cannot tell the dense input shape", n.name) end
      elseif op == 'gavgpool' or op == 'gmaxpool' then
        oh, ow = 1, 1
        geo = { kh = a, kw = b, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pb = 0, pl = 0, pr = 0 }
      end
      if op ~= 'flatten' then spatial = { hwc(n.shape) } end
      local kernel = (op == 'conv' or op == 'dense') and weight_file(n, 'kernel', outdir) or '-'
      local bias = (op == 'conv' or op == 'dense') and weight_file(n, 'bias', outdir) or '-'
      lines[#lines + 1] = string.format('%s %s %s %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %s %s %.0f',
        op, n.name, activation(n), a, b, c, oh, ow, oc, geo.kh, geo.kw, geo.sh, geo.sw, geo.dh, geo.dw,
        geo.pt, geo.pb, geo.pl, geo.pr, kernel, bias, macs)
    end
  end
  local f = assert(io.open(outdir .. '/net.txt', 'w'))
  f:write(table.concat(lines, '\n'), '\n')
  f:close()
  write_input(input_shape, outdir .. '/input.npy', 12345, 0)
  write_input(last.shape, outdir .. '/grad_output.npy', 54321, -0.5)
end

main(arg[1], arg[2])
