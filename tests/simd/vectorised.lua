-- No layer kind on a scalar path on the SIMD targets: a network holding every Keras layer
-- kind (1-D and 2-D, channels in whole vectors) is built for each x86 SIMD target the host
-- has, compiled with gcc -O2 -fopt-info-vec-optimized, and every layer function must either
-- use the explicit vector macros (vf_*), copy with memcpy/memset, or hold a loop gcc
-- reports as vectorised. Called by tests/simd/run.lua; returns passed, failed.
local driver = require 'cnnc.driver'
local targets = require 'cnnc.targets'
local nn = require 'cnnc'

local function models()
  local a = nn.Sequential{ name = 'every2d', input_shape = { 24, 24, 16 }, seed = 1, layers = {
    nn.Activation{ 'tanh' }, nn.BatchNormalization{}, nn.LayerNormalization{},
    nn.Conv2D{ 32, 3, strides = 2, padding = 'same', activation = 'sigmoid' },
    nn.Conv2D{ 32, 3, dilation_rate = 2, padding = 'same' }, nn.LeakyReLU{ 0.1 }, nn.Conv2DTranspose{ 32, 2 },
    nn.Conv2D{ 32, 3, padding = 'same', groups = 2 },
    nn.LocallyConnected2D{ 32, 3 },
    nn.MaxPooling2D{ 2, strides = 1 }, nn.AveragePooling2D{ 2, strides = 1 },
    nn.LPPooling2D{ 2, strides = 1 }, nn.WeightedAveragePooling2D{ 2, strides = 1 },
    nn.UpSampling2D{ 2, interpolation = 'bilinear' }, nn.UpSampling2D{ { 1, 2 } },
    nn.ZeroPadding2D{ 1 }, nn.GlobalMaxPooling2D{ keepdims = true }, nn.GlobalAveragePooling2D{},
    nn.Dense{ 32, activation = 'elu' }, nn.Dropout{ 0.5 }, nn.Softmax{},
  } }
  local b = nn.Sequential{ name = 'every1d', input_shape = { 40, 16 }, seed = 1, layers = {
    nn.Conv1D{ 32, 5, padding = 'causal', activation = 'swish' }, nn.Conv1DTranspose{ 32, 3, strides = 2, padding = 'same' },
    nn.Conv1D{ 32, 3, strides = 2, dilation_rate = 1 }, nn.Conv1D{ 32, 3, padding = 'same', groups = 2 },
    nn.LocallyConnected1D{ 32, 3 }, nn.MaxPooling1D{ 2 }, nn.UpSampling1D{ 2 }, nn.AveragePooling1D{ 2 }, nn.LPPooling1D{ 2, strides = 1 },
    nn.ZeroPadding1D{ 1 }, nn.GlobalMaxPooling1D{ keepdims = true }, nn.Flatten{}, nn.Dense{ 16, activation = 'softmax' },
  } }
  -- the Keras layers of the Functional API and the importer
  -- (a depthwise convolution of depth_multiplier above 1 runs the generic grouped loop)
  local x = nn.Input{ shape = { 12, 12, 16 } }
  local c = nn.DepthwiseConv2D{ 3, padding = 'same' }(nn.Rescaling{ 0.5, offset = 0.1 }(x))
  local d = nn.SeparableConv2D{ 16, 3, padding = 'same', activation = 'relu6' }(c)
  local r = nn.Maximum{}{ nn.ReLU{ 0.9, negative_slope = 0.1, threshold = 0.2 }(d), c }
  local e = nn.Average{}{ nn.Minimum{}{ r, x }, nn.Subtract{}{ d, x }, r }
  local n = nn.Normalization{ mean = 0.5, variance = 2, axis = {} }(nn.Cropping2D{ 1 }(e))
  local f = nn.ThresholdedReLU{ 0.1 }(nn.ELU{ 0.5 }(nn.Dense{ 16, last_axis = true }(n)))
  local v = nn.RepeatVector{ 4 }(nn.GlobalAveragePooling2D{}(f))
  local k = nn.Model{ inputs = x, outputs = v, name = 'keras_layers' }
  return { a, b, k }
end

-- line -> true for every line gcc says it vectorised
local function vectorised_lines(c_path, cc)
  local p = io.popen(string.format('%s -std=c99 -O2 -c %s -o /tmp/cnnc_vec_%d.o -iquote runtime -fopt-info-vec-optimized 2>&1',
    cc, c_path, os.time()))
  local out = p:read('*a')
  p:close()
  local lines = {}
  for l in out:gmatch('[^\n]+') do
    local n = l:match('^[^:]+:(%d+):%d+: optimized: ')
    if n then lines[tonumber(n)] = true end
  end
  return lines
end

return function(work)
  local passed, failed = 0, 0
  for _, t in ipairs(targets.host_list()) do
    if t ~= 'generic' and t ~= 'native' then
      for _, m in ipairs(models()) do
        local r, err = driver.compile(m, { target = t })
        local bad
        if not r then bad = err.message or tostring(err) else
          local dir = string.format('%s/vec_%s_%s', work, m.name, t)
          os.execute('mkdir -p ' .. dir)
          local c_path = assert(driver.write_c(r, dir))
          local vec = vectorised_lines(c_path, 'gcc')
          -- the layer functions and their line ranges
          local src, fns, cur = {}, {}, nil
          local i = 0
          for l in io.lines(c_path) do
            i = i + 1
            src[i] = l
            local name = l:match('^static void ([%w_]+_forward[%w_]*)%(')
            if name then cur = { name = name, first = i }; fns[#fns + 1] = cur end
            if cur and l == '}' and not cur.last then cur.last = i end
          end
          -- a layer (X_forward and its X_forward_* parts) passes when any of its functions does
          local layers, order = {}, {}
          for _, f in ipairs(fns) do
            local layer = f.name:match('^(.-_forward)')
            if layers[layer] == nil then layers[layer] = false; order[#order + 1] = layer end
            for k = f.first, f.last or f.first do
              if vec[k] or src[k]:find('vf_', 1, true) or src[k]:find('memcpy(', 1, true)
                or src[k]:find('memset(', 1, true) or src[k]:find('cnnc_softmax(', 1, true) then layers[layer] = true; break end
            end
          end
          local scalar = {}
          for _, l in ipairs(order) do if not layers[l] then scalar[#scalar + 1] = l end end
          if #order < 6 then bad = 'found only ' .. #order .. ' layers' end
          if #scalar > 0 then bad = 'scalar layer functions: ' .. table.concat(scalar, ', ') end
        end
        if bad then
          failed = failed + 1
          print(string.format('FAIL vectorised %s %s: %s', m.name, t, bad))
        else
          passed = passed + 1
        end
      end
    end
  end
  return passed, failed
end
