-- The rounding error of long sums: 1x1 convolutions over thousands of input channels, as an
-- EfficientNet's squeeze-excitation block (4096 channels on a 1x1 map: Conv2D's 1-D kernel,
-- cnnc.simd.conv1d) and its projection convolutions (2048 channels on a 4x4 map: the 2-D
-- kernel, cnnc.simd.conv); RegNetY-128GF's grouped 3x3 convolutions over groups of 264
-- channels (groups of 16 output channels: cnnc.simd.grouped's tiles on every vector target;
-- of 8: those on AVX2 and SSE, and on AVX-512 with AVX2's vectors) and its squeeze-excitation
-- blocks' global average over 56x56 positions; a Conv3D over 3x3x3 x 64 (the portable C
-- on every target: blocks of a cell's channels); with positive inputs and weights, where one
-- chain of FMAs (or additions) drifts most. The kernels sum a chunk of input channels (the
-- grouped ones: of each window cell) from zero and add it to the earlier chunks' sum (the
-- generic C: blocks of cnnc.layers.conv's BLOCK channels; the average: blocks of about
-- sqrt(positions) positions), so the error stays within a few units of float32's 2^-24
-- whatever the length; one chain of 4096 FMAs was over 35 units here, of 2376 (3x3 x 264)
-- 35 to 51, of 3136 additions 29 (efficientnet_b5 and regnet_y_128gf of
-- tests/onnx/zoo/full_torchvision.lua were then further from the double-precision
-- reference than ONNX Runtime). Every host target, default tuning. Called by
-- tests/simd/run.lua; returns passed, failed.
local cli = require 'cnnc.cli'
local driver = require 'cnnc.driver'
local initializers = require 'cnnc.initializers'
local npy = require 'cnnc.npy'
local runner = require 'cnnc.runner'
local targets = require 'cnnc.targets'
local tensor = require 'cnnc.tensor'
local toolchain = require 'cnnc.toolchain'
local nn = require 'cnnc'

-- Largest relative error allowed, in units of 2^-24 (measured: 1.8 to 9 with the chunked
-- sums on generic, sse4, avx2 and avx512; 29 to 51 with one chain).
local BOUND = 16

local function models()
  local positive = { 'random_uniform', minval = 0.5, maxval = 1 }
  return {
    nn.Sequential{ name = 'long_sum_1d', input_shape = { 1, 1, 4096 }, seed = 5, layers = {
      nn.Conv2D{ 40, 1, kernel_initializer = positive } } },
    nn.Sequential{ name = 'long_sum_2d', input_shape = { 4, 4, 2048 }, seed = 6, layers = {
      nn.Conv2D{ 40, 1, kernel_initializer = positive } } },
    nn.Sequential{ name = 'long_sum_grouped', input_shape = { 6, 6, 528 }, seed = 7, layers = {
      nn.Conv2D{ 32, 3, padding = 'same', groups = 2, kernel_initializer = positive } } },
    nn.Sequential{ name = 'long_sum_grouped8', input_shape = { 6, 6, 528 }, seed = 8, layers = {
      nn.Conv2D{ 16, 3, padding = 'same', groups = 2, kernel_initializer = positive } } },
    nn.Sequential{ name = 'long_sum_3d', input_shape = { 3, 3, 3, 64 }, seed = 10, layers = {
      nn.Conv3D{ 8, 3, kernel_initializer = positive } } },
    nn.Sequential{ name = 'long_sum_average', input_shape = { 56, 56, 40 }, seed = 9, layers = {
      nn.GlobalAveragePooling2D{} } },
  }
end

return function(work)
  local passed, failed = 0, 0
  for _, model in ipairs(models()) do
    local typed = assert(driver.compile(model, { stop = 'shape' })).typed
    local x = tensor.new(typed.input.shape)
    local r = initializers.rng(17, model.name)
    for i = 0, x.n - 1 do x.data[i] = 0.5 + 0.5 * r:uniform() end
    local xpath = string.format('%s/%s.npy', work, model.name)
    assert(npy.write(xpath, x))
    local ref = assert(runner.run_batch(typed, x))
    for _, t in ipairs(targets.host_list()) do
      local dir = string.format('%s/%s_%s', work, model.name, t)
      os.execute('mkdir -p ' .. dir)
      local res = assert(driver.compile(model, { target = t }))
      assert(driver.write_c(res, dir))
      local exe, cerr = cli.cc_executable(dir, res.planned.name, toolchain.cc(res.target), '-O0 -Wall -Wextra -Werror -pedantic')
      local ok, msg = exe ~= nil, cerr
      if exe then
        local st = os.execute(string.format('%s %s -o %s/out.npy > %s/run.log 2>&1', exe, xpath, dir, dir))
        local got = (st == 0 or st == true) and npy.read(dir .. '/out.npy')
        ok, msg = got ~= nil, 'run failed'
        if got then
          local e = 0
          for k = 0, ref.n - 1 do e = math.max(e, math.abs(got.data[k] - ref.data[k]) / math.abs(ref.data[k])) end
          e = e * 2 ^ 24
          ok, msg = e <= BOUND, string.format('largest relative error %.1f units of 2^-24, more than %d', e, BOUND)
        end
      end
      if ok then passed = passed + 1 else
        failed = failed + 1
        print(string.format('FAIL long sums %s %s: %s', model.name, t, msg))
      end
    end
  end
  return passed, failed
end
