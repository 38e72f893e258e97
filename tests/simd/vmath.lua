-- The vector forms of the activations (cnnc.simd.vmath, templates/helpers.c section vmath)
-- on a sweep of inputs: a one-filter 1x1 Conv1D with weight 1 and bias 0 puts each input
-- value through the activation in the convolution's register epilogue (one such conv per
-- activation, side by side in one network). Each SIMD target
-- is compared with the reference interpreter (double precision) where the reference is
-- finite: |got - ref| <= 4e-7 |ref| + 1.2e-7 (a few float32 units in the last place near
-- and above 1, absolute near 0 where e^x - 1 cancels); and with the generic target's libm
-- results where the input or the result is NaN or infinite: the same class of value.
-- Cross targets (neon under qemu-aarch64) too, when given.
-- Called by tests/simd/run.lua; returns passed, failed.
local driver = require 'cnnc.driver'
local cli = require 'cnnc.cli'
local npy = require 'cnnc.npy'
local runner = require 'cnnc.runner'
local tensor = require 'cnnc.tensor'
local targets = require 'cnnc.targets'
local toolchain = require 'cnnc.toolchain'
local util = require 'cnnc.util'
local nn = require 'cnnc'

local ACTS = {
  { 'sigmoid' }, { 'tanh' }, { 'elu' }, { 'selu' }, { 'softplus' }, { 'softsign' }, { 'hard_sigmoid' }, { 'swish' },
  { 'onnx_elu', { alpha = 0.7 } }, { 'onnx_selu', { alpha = 1.3, gamma = 0.9 } },
  { 'onnx_hard_sigmoid', { alpha = 0.3, beta = 0.4 } }, { 'hard_swish' }, { 'celu', { alpha = 1.7 } },
  { 'clip', { min = -0.5, max = 2 } }, { 'clip', { min = 0 } },
}

-- Inputs: a dense sweep of [-120, 120], small and tiny values, the edges of the code's
-- ranges (|x| = 0.5 for tanh, the clamps at -104 and 89, overflow near 88.72).
local function inputs()
  local v = {}
  for i = 0, 2400 do v[#v + 1] = -120 + i * 0.1 + 0.0137 end
  for e = -45, 2 do v[#v + 1] = 10 ^ e; v[#v + 1] = -(10 ^ e) end
  for _, x in ipairs({ 0, 0.5, -0.5, 0.49999997, -0.49999997, 0.50000006, 88.72, 88.73, 89, 89.5, -87.3, -103.9,
    -104, -104.5, 1e30, -1e30, 3e38, -3e38 }) do v[#v + 1] = x end
  return v
end
local SPECIAL = { math.huge, -math.huge, 0 / 0 }

local function class(x)
  if x ~= x then return 'nan' end
  if x == math.huge then return '+inf' end
  if x == -math.huge then return '-inf' end
  return 'finite'
end

return function(work, cc, cross)
  local passed, failed = 0, 0
  local vals = inputs()
  local n = #vals + #SPECIAL
  local x = tensor.new({ n, 1 })
  for i, v in ipairs(vals) do x.data[i - 1] = v end
  for i, v in ipairs(SPECIAL) do x.data[#vals + i - 1] = v end
  local xpath = work .. '/vmath_input.npy'
  assert(npy.write(xpath, x))
  -- One network for all activations (one build per target): a one-filter 1x1 Conv1D per
  -- activation, all reading the input, joined by a Concatenate into column k = activation k.
  local model = nn.Sequential{ name = 'vmath', input_shape = { n, 1 }, seed = 1,
    layers = { nn.Conv1D{ 1, 1, kernel_initializer = 'ones', bias_initializer = 'zeros' } } }
  local graph = assert(driver.compile(model, { stop = 'frontend' })).graph
  local conv = graph.nodes[1]
  local names = {}
  for k = 1, #ACTS do
    local node = conv
    if k > 1 then
      node = util.copy(conv)
      node.name, node.index, node.p = 'conv_' .. k, k, util.copy(conv.p)
      node.inputs, node.epilogue, node.fused = util.copy(conv.inputs), {}, {}
      graph.nodes[k] = node
    end
    names[k] = node.name
  end
  local cat = nn.Concatenate{ axis = -1 }
  local registry = require 'cnnc.registry'
  graph.nodes[#ACTS + 1] = { name = 'concat', op = 'Concatenate', layer = registry.kinds.Concatenate.module,
    rank = 0, p = cat.p, inputs = names, where = conv.where, index = #ACTS + 1, epilogue = {}, fused = {} }
  graph.output = 'concat'
  local g = require('cnnc.passes.shape').run(graph)
  for k, act in ipairs(ACTS) do g.nodes[k].epilogue = { { op = 'act', name = act[1], p = act[2] or {} } } end
  local ref = assert(runner.run_batch(g, x))

  local function build(t, dir)
    local r, err = util.try(function()
      local target = assert(targets.get(t))
      local selected = require('cnnc.passes.select').run(g, { target = target })
      local planned = require('cnnc.passes.plan').run(selected)
      local c, h = require('cnnc.emit').run(planned)
      return { c = c, h = h }
    end)
    if not r then return nil, util.format_error(err) end
    os.execute('mkdir -p ' .. dir)
    assert(util.write_file_atomic(dir .. '/vmath.c', r.c))
    assert(util.write_file_atomic(dir .. '/vmath.h', r.h))
    local target = targets.get(t)
    local exe, cerr = cli.cc_executable(dir, 'vmath', toolchain.is_cross(target) and toolchain.cc(target) or cc,
      '-O1 -Wall -Wextra -Werror -pedantic')
    if not exe then return nil, cerr end
    local st = os.execute(string.format('%s%s %s -o %s/out.npy > %s/run.log 2>&1', toolchain.run_prefix(target), exe,
      xpath, dir, dir))
    if not (st == 0 or st == true) then return nil, 'run failed' end
    return npy.read(dir .. '/out.npy')
  end

  local m = #ACTS
  local generic, gerr = build('generic', work .. '/vmath_generic')
  if not generic then
    print('FAIL vmath generic: ' .. tostring(gerr))
    return 0, 1
  end
  local simd = {}
  for _, t in ipairs(targets.host_list()) do if t ~= 'generic' then simd[#simd + 1] = t end end
  for _, t in ipairs(cross or {}) do simd[#simd + 1] = t end
  for _, t in ipairs(simd) do
    local got, err = build(t, work .. '/vmath_' .. t)
    for k, act in ipairs(ACTS) do
      local label = act[1] .. (act[2] and (' ' .. util.shape_str({ act[2].min or act[2].alpha or 0 })) or '')
      local bad = not got and err
      if got then
        for i = 0, n - 1 do
          local j = i * m + k - 1
          local a, r, gen = got.data[j], ref.data[j], generic.data[j]
          if class(x.data[i]) ~= 'finite' or class(r) ~= 'finite' or class(gen) ~= 'finite' then
            if class(a) ~= class(gen) then
              bad = string.format('x = %.9g: got %.9g, libm (generic) %.9g', x.data[i], a, gen); break
            end
          elseif not (math.abs(a - r) <= 4e-7 * math.abs(r) + 1.2e-7) then
            bad = string.format('x = %.9g: got %.9g, reference %.9g (error %.3g)', x.data[i], a, r, math.abs(a - r)); break
          end
        end
      end
      if bad then
        failed = failed + 1
        print(string.format('FAIL vmath %s %s: %s', label, t, bad))
      else
        passed = passed + 1
      end
    end
  end
  return passed, failed
end
