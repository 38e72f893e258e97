-- Differential runs of the ONNX importer against ONNX Runtime on generated graphs: each
-- graph is a random chain of 3 to 6 operators (convolutions, transposed convolutions,
-- pooling, Resize, normalisations, reductions, slicing, padding, elementwise math,
-- broadcasting with constants, DepthToSpace, Softmax, ...) with random attributes on a
-- random NCHW input, written with tests/onnx/spec/onnx_writer.lua at a random opset. The
-- reference interpreter's output must match ONNX Runtime's (run without its graph
-- optimisations): max |cnnc - ORT| <= 1e-4 * (1 + max |ORT|). Seeded: graph k of seed s is the same on every run (--seed S --graph K
-- reruns it alone and keeps its files). Skipped with a message without ONNX Runtime.
-- Ends with `onnx-ort-diff: N passed, M failed`.
-- usage: luajit tests/onnx/ort_diff.lua [--seed S] [--graphs N] [--graph K [--cut J]]
--   (--cut J keeps only the first J operators of graph K: to find the one that differs)

package.path = 'compiler/?.lua;tests/onnx/spec/?.lua;' .. package.path
local driver = require 'cnnc.driver'
local initializers = require 'cnnc.initializers'
local npy = require 'cnnc.npy'
local runner = require 'cnnc.runner'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'
local W = require 'onnx_writer'
local ort = dofile('tests/lib/ort.lua')

local seed, graphs, only, cut = 1, 40, nil, nil
local i = 1
while i <= #arg do
  if arg[i] == '--seed' then seed = tonumber(arg[i + 1]); i = i + 1
  elseif arg[i] == '--graphs' then graphs = tonumber(arg[i + 1]); i = i + 1
  elseif arg[i] == '--graph' then only = tonumber(arg[i + 1]); i = i + 1
  elseif arg[i] == '--cut' then cut = tonumber(arg[i + 1]); i = i + 1 end
  i = i + 1
end

local ok, why = ort.available()
if not ok then
  print('onnx-ort-diff: skipping ONNX Runtime checks: ' .. why)
  print('onnx-ort-diff: 0 passed, 0 failed')
  os.exit(0)
end

local work = 'build/tests/onnx-ort-diff'
os.execute('rm -rf ' .. work .. ' && mkdir -p ' .. work)

-- One random graph: returns the model table, the input shape and a description.
local function generate(r)
  local function int(lo, hi) return lo + math.floor(r:uniform() * (hi - lo + 1)) end
  local function pick(list) return list[int(1, #list)] end
  local function values(n, scale)
    local t = {}
    for k = 1, n do t[k] = (r:uniform() * 2 - 1) * (scale or 1) end
    return t
  end
  local opset = pick({ 11, 13, 17, 18, 19, 21 })
  local shape = { 2, int(1, 6), int(5, 10), int(5, 10) }
  local input = { 'N', shape[2], shape[3], shape[4] }
  local nodes, inits, desc = {}, {}, {}
  local cur, count = 'x', 0
  local function fresh() count = count + 1; return 'v' .. count end
  local function init(dims, vals, type)
    local name = 'c' .. (#inits + 1)
    inits[#inits + 1] = { name, dims, values = vals, type = type }
    return name
  end
  local function emit(op, ins, attrs, out_shape, note)
    local out = fresh()
    nodes[#nodes + 1] = { op, ins, { out }, name = op:lower() .. count, attrs = attrs }
    cur, shape = out, out_shape
    desc[#desc + 1] = op .. (note and ('(' .. note .. ')') or '')
  end
  local OPS = {
    function() -- Conv
      local c, h, w = shape[2], shape[3], shape[4]
      local k, s, d, p = int(1, 3), int(1, 2), int(1, 2), int(0, 1)
      if (k - 1) * d + 1 > math.min(h, w) + 2 * p then return false end
      local g = (c % 2 == 0 and r:uniform() < 0.3) and 2 or 1
      local f = g * int(1, 4)
      local wn = init({ f, c / g, k, k }, values(f * c / g * k * k, 0.5))
      local bn = init({ f }, values(f, 0.1))
      local oh = math.floor((h + 2 * p - (k - 1) * d - 1) / s) + 1
      local ow = math.floor((w + 2 * p - (k - 1) * d - 1) / s) + 1
      emit('Conv', { cur, wn, bn }, { strides = { s, s }, dilations = { d, d }, pads = { p, p, p, p }, group = g },
        { shape[1], f, oh, ow }, string.format('k%d s%d d%d p%d g%d', k, s, d, p, g))
    end,
    function() -- ConvTranspose
      local c, h, w = shape[2], shape[3], shape[4]
      if h > 8 or w > 8 then return false end
      local k, s, p, op = int(1, 3), int(1, 2), int(0, 1), 0
      if s == 2 then op = int(0, 1) end
      if p > k - 1 then p = 0 end
      local f = int(1, 4)
      local wn = init({ c, f, k, k }, values(c * f * k * k, 0.5))
      local oh, ow = s * (h - 1) + op + k - 2 * p, s * (w - 1) + op + k - 2 * p
      if oh < 1 or ow < 1 then return false end
      emit('ConvTranspose', { cur, wn }, { strides = { s, s }, pads = { p, p, p, p }, output_padding = { op, op } },
        { shape[1], f, oh, ow }, string.format('k%d s%d p%d op%d', k, s, p, op))
    end,
    function() -- pooling
      local k = int(2, 3)
      if math.min(shape[3], shape[4]) < k then return false end
      local op = pick({ 'MaxPool', 'AveragePool' })
      local oh, ow = math.floor((shape[3] - k) / k) + 1, math.floor((shape[4] - k) / k) + 1
      emit(op, { cur }, { kernel_shape = { k, k }, strides = { k, k } }, { shape[1], shape[2], oh, ow }, 'k' .. k)
    end,
    function() -- Resize by scales
      if shape[3] > 8 or opset < 11 then return false end
      local mode = pick({ 'nearest', 'linear', 'cubic' })
      local ctm = pick({ 'half_pixel', 'align_corners', 'asymmetric', 'pytorch_half_pixel' })
      local sh, sw = pick({ 2, 1.5, 0.5, 3 }), pick({ 2, 1.25, 0.75 })
      local oh, ow = math.floor(shape[3] * sh), math.floor(shape[4] * sw)
      -- ONNX Runtime copies the input when the output's shape is the input's (whatever the
      -- scales), and takes 0 for pytorch_half_pixel's coordinate of an output of length 1
      -- where ONNX's reference takes -0.5 (which cubic weights can tell apart): cnnc
      -- follows ONNX (docs/onnx.md), these are left out.
      if oh < 1 or ow < 1 or (oh == shape[3] and ow == shape[4]) then return false end
      if mode == 'cubic' and ctm == 'pytorch_half_pixel' and (oh == 1 or ow == 1) then return false end
      local attrs = { mode = mode, coordinate_transformation_mode = ctm }
      if mode == 'nearest' then attrs.nearest_mode = pick({ 'round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil' }) end
      -- roi is optional from opset 13 only
      local roi = opset < 13 and init({ 8 }, { 0, 0, 0, 0, 1, 1, 1, 1 }) or ''
      -- With align_corners and pytorch_half_pixel, ONNX's test data takes the unrounded
      -- output length scale * n and ONNX Runtime the rounded one: whole scales, or sizes
      -- (of the spatial axes, opset 18), where the two agree (docs/onnx.md).
      if ctm == 'align_corners' or ctm == 'pytorch_half_pixel' then
        sh, sw = pick({ 2, 3 }), pick({ 1, 2 })
        oh, ow = shape[3] * sh, shape[4] * sw
      end
      if opset >= 18 and r:uniform() < 0.4 then
        attrs.axes = { 2, 3 }
        emit('Resize', { cur, '', '', init({ 2 }, { oh, ow }, 7) }, attrs, { shape[1], shape[2], oh, ow },
          mode .. ' ' .. ctm .. ' sizes')
      else
        emit('Resize', { cur, roi, init({ 4 }, { 1, 1, sh, sw }) }, attrs, { shape[1], shape[2], oh, ow }, mode .. ' ' .. ctm)
      end
    end,
    function() -- unary math (HardSwish from opset 14)
      local op = pick({ 'Relu', 'Sigmoid', 'Tanh', 'Erf', 'Abs', 'Neg', 'Softsign', 'HardSwish', 'Floor', 'Sin' })
      if op == 'HardSwish' and opset < 14 then op = 'Relu' end
      emit(op, { cur }, nil, shape)
    end,
    function() -- binary with a broadcast constant
      local op = pick({ 'Add', 'Mul', 'Sub', 'Max', 'Min' })
      local cn = init({ 1, shape[2], 1, 1 }, values(shape[2]))
      emit(op, { cur, cn }, nil, shape)
    end,
    function() -- reduction over random axes, kept
      local op = pick({ 'ReduceMean', 'ReduceMax', 'ReduceSum', 'ReduceL2', 'ReduceSumSquare' })
      local axes = pick({ { 1 }, { 2, 3 }, { 3 }, { 1, 3 } })
      local out = { shape[1], shape[2], shape[3], shape[4] }
      for _, a in ipairs(axes) do out[a + 1] = 1 end
      local input_axes = opset >= 18 or (op == 'ReduceSum' and opset >= 13)
      if input_axes then emit(op, { cur, init({ #axes }, axes, 7) }, { keepdims = 1 }, out, table.concat(axes, ','))
      else emit(op, { cur }, { axes = axes, keepdims = 1 }, out, table.concat(axes, ',')) end
    end,
    function() -- Slice
      if opset < 10 or shape[3] < 3 then return false end
      local st, en, step = int(0, 1), shape[3] - int(0, 1), pick({ 1, 2 })
      local out = { shape[1], shape[2], math.ceil((en - st) / step), shape[4] }
      emit('Slice', { cur, init({ 1 }, { st }, 7), init({ 1 }, { en }, 7), init({ 1 }, { 2 }, 7), init({ 1 }, { step }, 7) },
        nil, out, string.format('%d:%d:%d', st, en, step))
    end,
    function() -- Pad
      if opset < 11 then return false end
      local mode = pick({ 'constant', 'reflect', 'edge' })
      local p = { 0, 0, int(0, 2), int(0, 1), 0, 0, int(0, 1), int(0, 2) }
      if mode == 'reflect' and (p[3] >= shape[3] or p[7] >= shape[3] or p[4] >= shape[4] or p[8] >= shape[4]) then return false end
      emit('Pad', { cur, init({ 8 }, p, 7) }, { mode = mode },
        { shape[1], shape[2], shape[3] + p[3] + p[7], shape[4] + p[4] + p[8] }, mode)
    end,
    function() -- normalisations
      local c = shape[2]
      if r:uniform() < 0.5 or opset < 17 then
        emit('InstanceNormalization', { cur, init({ c }, values(c)), init({ c }, values(c, 0.2)) }, nil, shape)
      else
        local axis = int(1, 3)
        local ns = {}
        for a = axis + 1, 4 do ns[#ns + 1] = shape[a] end
        emit('LayerNormalization', { cur, init(ns, values(util.prod(ns))) }, { axis = axis }, shape, 'axis ' .. axis)
      end
    end,
    function() -- DepthToSpace
      if shape[2] % 4 ~= 0 then return false end
      local mode = pick({ 'DCR', 'CRD' })
      emit('DepthToSpace', { cur }, { blocksize = 2, mode = mode }, { shape[1], shape[2] / 4, shape[3] * 2, shape[4] * 2 }, mode)
    end,
    function() -- Softmax over the channels
      emit('Softmax', { cur }, { axis = 1 }, shape)
    end,
  }
  local n = int(3, 6)
  local tries = 0
  while #nodes < n and tries < 50 do
    tries = tries + 1
    pick(OPS)()
  end
  if cut then
    for j = #nodes, cut + 1, -1 do nodes[j] = nil; desc[j] = nil end
  end
  nodes[#nodes][3] = { 'y' }
  local m = { opset = opset, inputs = { { 'x', input } }, outputs = { { 'y', { 'N', unpack(shape, 2) } } },
    nodes = nodes, initializers = inits }
  return m, desc, opset
end

local passed, failed = 0, 0
local first, last = 1, graphs
if only then first, last = only, only end
for k = first, last do
  local m, desc, opset = generate(initializers.rng(seed, 'ort-diff-graph', k))
  local label = string.format('graph %d (opset %d): %s', k, opset, table.concat(desc, ' -> '))
  local dir = string.format('%s/%d', work, k)
  os.execute('mkdir -p ' .. dir)
  local path = W.write(dir .. '/model.onnx', W.model(m))
  local model, err = driver.load(path)
  local msg
  if not model then msg = 'import: ' .. util.format_error(err)
  else
    local res, cerr = driver.compile(model, { stop = 'shape' })
    if not res then msg = 'compile: ' .. util.format_error(cerr)
    else
      -- Two items, or (a graph compiled with its whole tensor as the item) the tensor.
      local shape = util.copy(res.typed.input.shape)
      if res.typed.onnx.batch then table.insert(shape, 1, 2) end
      local x = tensor.new(shape, 'float')
      local xr = initializers.rng(seed, 'ort-diff-input', k)
      for j = 0, x.n - 1 do x.data[j] = xr:uniform() * 2 - 1 end
      assert(npy.write(dir .. '/x.npy', x))
      local y, rerr = runner.run_batch(res.typed, x)
      -- ONNX Runtime without its graph optimisations: they fuse a Pad of zeros into a
      -- following MaxPool, whose padding the maximum ignores (so negative inputs come out
      -- wrong); its plain kernels are the oracle.
      local good, oerr = ort.run(path, { dir .. '/x.npy' }, { dir .. '/ort.npy' }, { no_opt = true })
      local want = good and npy.read(dir .. '/ort.npy')
      if not y then msg = 'reference interpreter: ' .. util.format_error(rerr)
      elseif not want then msg = 'ONNX Runtime: ' .. tostring(oerr)
      elseif y.n ~= want.n then msg = string.format('%d values, ONNX Runtime gives %d', y.n, want.n)
      else
        local e, mx = 0, 0
        for j = 0, want.n - 1 do
          local d = math.abs(y.data[j] - want.data[j])
          if d ~= d then d = math.huge end
          e, mx = math.max(e, d), math.max(mx, math.abs(want.data[j]))
        end
        if e > 1e-4 * (1 + mx) then msg = string.format('max error %.3g (max |ORT| %.3g)', e, mx) end
      end
    end
  end
  if msg then
    failed = failed + 1
    print('FAIL ' .. label .. ': ' .. msg)
  else
    passed = passed + 1
    print('PASS ' .. label)
    if not only then os.execute('rm -rf ' .. dir) end
  end
end
print(string.format('onnx-ort-diff: %d passed, %d failed', passed, failed))
os.exit(failed == 0 and 0 or 1)
