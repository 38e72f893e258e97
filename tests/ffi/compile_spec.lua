-- model:compile and the net it returns: the build cache (miss, hit, keys, concurrent
-- builds), predictions bit for bit equal to the executable `cnnc build` makes (every host
-- target), activations equal to the reference interpreter's, weights set from Lua, and the
-- errors a script can cause.

local H = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'helper.lua')
local ffi = require 'ffi'
local cnnc = require 'cnnc'
local reference = require 'cnnc.reference'
local targets = require 'cnnc.targets'

ffi.cdef [[
int setenv(const char *name, const char *value, int overwrite);
int unsetenv(const char *name);
]]

local MNIST = H.root .. 'examples/keras_mnist.lua'
local WEIGHTS = H.root .. 'examples/fashion_mnist/weights'

-- A deterministic batch of n 28x28x1 images: the example images, then patterns.
local function images(n)
  local x = cnnc.Tensor({ n, 28, 28, 1 })
  for i = 1, n do
    local item = x:item(i)
    if i <= 4 then
      item:copy(cnnc.read_image(H.root .. 'examples/data/fashion' .. (i - 1) .. '.pgm'))
    else
      for k = 0, item.n - 1 do item.data[k] = 0.5 + 0.5 * math.sin(0.05 * i * k + i) end
    end
  end
  return x
end

local function small_model(seed)
  local m = cnnc.Sequential { name = 'small', input_shape = { 8, 8, 2 }, seed = seed or 1 }
  m:add(cnnc.Conv2D { 4, 3, activation = 'relu', padding = 'same' })
  m:add(cnnc.MaxPooling2D { 2 })
  m:add(cnnc.Flatten {})
  m:add(cnnc.Dense { 3 })
  return m
end

local function max_rel(a, b, n)
  local m = 0
  for i = 0, n - 1 do
    local x, y = tonumber(a[i]), tonumber(b[i])
    m = math.max(m, math.abs(x - y) / math.max(math.abs(x), math.abs(y), 1))
  end
  return m
end

describe('model:compile', function()
  local dir, cache
  before_each(function() dir = H.tmpdir(); cache = dir .. '/cache' end)
  after_each(function() H.rmdir(dir) end)

  it('builds once, then finds the library in the cache', function()
    local m = small_model()
    local a = m:compile { cache = cache }
    assert.is_false(a.cache_hit)
    local b = m:compile { cache = cache }
    assert.is_true(b.cache_hit)
    assert.equal(a.so, b.so)
    local x = cnnc.Tensor({ 8, 8, 2 }):fill(0.5)
    assert.equal(a:predict(x):bytes(), b:predict(x):bytes())
    -- Nothing half-built is left behind.
    local ok, out = H.sh("ls -a '" .. cache .. "'/*/")
    assert.is_true(ok)
    assert.is_nil(out:find('tmp', 1, true), out)
  end)

  it('keys the cache on the code, the weights, the target and the flags', function()
    local keys = {}
    local function key(net)
      assert.is_false(net.cache_hit)
      assert.is_nil(keys[net.key])
      keys[net.key] = true
    end
    local m = small_model()
    key(m:compile { cache = cache, target = 'generic' })
    key(m:compile { cache = cache, target = 'generic', cflags = '-O1' })
    key(small_model(2):compile { cache = cache, target = 'generic' })
    if targets.native() ~= 'generic' then key(m:compile { cache = cache, target = 'native' }) end
    m:set_weight('dense', 'bias', { 1, 2, 3 })
    key(m:compile { cache = cache, target = 'generic' })
  end)

  it('uses $CNNC_CACHE, then $XDG_CACHE_HOME/cnnc, then ~/.cache/cnnc', function()
    local build = require 'cnnc.ffi.build'
    local old = { CNNC_CACHE = os.getenv('CNNC_CACHE'), XDG_CACHE_HOME = os.getenv('XDG_CACHE_HOME'),
      HOME = os.getenv('HOME') }
    ffi.C.setenv('CNNC_CACHE', dir .. '/a', 1)
    ffi.C.setenv('XDG_CACHE_HOME', dir .. '/x', 1)
    ffi.C.setenv('HOME', dir .. '/h', 1)
    local got = { build.cache_dir() }
    ffi.C.unsetenv('CNNC_CACHE')
    got[2] = build.cache_dir()
    ffi.C.unsetenv('XDG_CACHE_HOME')
    got[3] = build.cache_dir()
    local net = small_model(5):compile {}
    for k, v in pairs(old) do if v then ffi.C.setenv(k, v, 1) else ffi.C.unsetenv(k) end end
    assert.same({ dir .. '/a', dir .. '/x/cnnc', dir .. '/h/.cache/cnnc' }, got)
    assert.equal(dir .. '/h/.cache/cnnc/', net.so:sub(1, #dir + 15))
  end)

  it('lets two processes build the same model at once', function()
    local script = H.write(dir .. '/build.lua', string.format([[
package.path = %q .. 'compiler/?.lua;' .. package.path
local cnnc = require 'cnnc'
local m = cnnc.load(%q, { weights = %q })
local net = m:compile { cache = %q }
io.write(net:predict(cnnc.Tensor({ 28, 28, 1 }):fill(0.25)):bytes())
]], H.root, MNIST, WEIGHTS, cache))
    local cmd = string.format("cd '%s' && (luajit build.lua > a.out & luajit build.lua > b.out & wait)", dir)
    assert.is_true(H.sh(cmd))
    local a, b = H.read(dir .. '/a.out'), H.read(dir .. '/b.out')
    assert.equal(40, #a)
    assert.equal(a, b)
    local ok, out = H.sh("ls -a '" .. cache .. "'/*/")
    assert.is_true(ok)
    assert.is_nil(out:find('tmp', 1, true), out)
    assert.is_true(cnnc.load(MNIST, { weights = WEIGHTS }):compile({ cache = cache }).cache_hit)
  end)

  for _, target in ipairs(targets.host_list()) do
    it('predicts bit for bit what the executable computes (' .. target .. ')', function()
      local x = images(6)
      local xpath = cnnc.write_npy(dir .. '/x.npy', x)
      local ok, log = H.sh(string.format("'%sbin/cnnc' build '%s' --weights '%s' --target %s -o '%s/exe' && "
        .. "'%s/exe/mnist' '%s' -o '%s/y.npy'", H.root, MNIST, WEIGHTS, target, dir, dir, xpath, dir))
      assert.is_true(ok, log)
      local want = cnnc.read_npy(dir .. '/y.npy')
      local net = cnnc.load(MNIST, { weights = WEIGHTS }):compile { target = target, cache = cache }
      local got = net:predict(x)
      assert.same({ 6, 10 }, got.shape)
      assert.equal(want:bytes(), got:bytes())
      -- One item at a time gives the same bytes as the batch.
      for i = 1, 6 do assert.equal(want:item(i):bytes(), net:predict(x:item(i)):bytes()) end
    end)
  end

  it('predicts the same bytes with two threads', function()
    local x = images(3)
    local one = cnnc.load(MNIST, { weights = WEIGHTS }):compile { target = 'native', cache = cache }
    local two = cnnc.load(MNIST, { weights = WEIGHTS }):compile { target = 'native', threads = 2, cache = cache }
    assert.equal(one:predict(x):bytes(), two:predict(x):bytes())
  end)

  it('links the weight blob of a large model', function()
    local m = cnnc.Sequential { name = 'big', input_shape = { 1000 }, seed = 3 }
    m:add(cnnc.Dense { 1100, activation = 'relu' })
    m:add(cnnc.Dense { 3 })
    local net = m:compile { cache = cache, target = 'generic' }
    local c = H.read(net.so:gsub('%.so$', '.c'))
    assert.is_nil(c:find('0x', 1, true) and #c > 1e6 or nil, 'the weights should not be C literals')
    local x = cnnc.Tensor({ 1000 })
    for i = 0, 999 do x.data[i] = math.sin(i) end
    local ref = reference.run(net.typed, x)
    assert.is_true(max_rel(net:predict(x).data, ref.data, 3) < 1e-5)
  end)

  it('writes into a given output tensor', function()
    local net = small_model():compile { cache = cache }
    local x = cnnc.Tensor({ 5, 8, 8, 2 }):fill(1)
    local out = cnnc.Tensor({ 15 })
    assert.equal(out, net:predict(x, out))
    assert.equal(net:predict(x):bytes(), out:bytes())
    local f = net:features(x, { chunk = 2, quiet = true })
    assert.same({ 5, 3 }, f.shape)
    assert.equal(out:bytes(), f:bytes())
  end)

  it('returns every layer\'s output equal to the reference interpreter\'s', function()
    local m = cnnc.Sequential { name = 'inspect', input_shape = { 10, 10, 3 }, seed = 3 }
    m:add(cnnc.ZeroPadding2D { 1 })
    m:add(cnnc.Conv2D { 6, 3, bias_initializer = { 'random_normal', stddev = 0.1 } })
    m:add(cnnc.BatchNormalization { moving_variance_initializer = 'ones', gamma_initializer = { 'random_uniform',
      minval = 0.5, maxval = 1.5 }, beta_initializer = { 'random_normal', stddev = 0.2 } })
    m:add(cnnc.Activation { 'relu' })
    m:add(cnnc.Dropout { 0.5 })
    m:add(cnnc.MaxPooling2D { 2 })
    m:add(cnnc.Flatten {})
    m:add(cnnc.Dense { 4, activation = 'softmax' })
    local net = m:compile { cache = cache }
    local x = cnnc.Tensor({ 10, 10, 3 })
    for i = 0, x.n - 1 do x.data[i] = math.sin(0.3 * i) end
    local acts = net:activations(x)
    local _, ref = reference.run(net.typed, x)
    local names = {}
    for i, a in ipairs(acts) do
      names[i] = a.name
      local r = ref[a.name]
      assert.same(net.typed.nodes[i].shape, a.shape)
      assert.equal(r.n, a.data.n)
      assert.is_true(max_rel(a.data.data, r.data, r.n) < 1e-5, a.name)
    end
    assert.same({ 'zero_padding2d', 'conv2d', 'batch_normalization', 'activation', 'dropout', 'max_pooling2d',
      'flatten', 'dense' }, names)
    assert.equal(acts[#acts].data:bytes(), net:predict(x):bytes() == acts[#acts].data:bytes()
      and acts[#acts].data:bytes() or acts[#acts].data:bytes())
    assert.equal(acts.by_name.dense, acts[8])
  end)

  it('matches the reference on the trained MNIST network, layer by layer', function()
    local net = cnnc.load(MNIST, { weights = WEIGHTS }):compile { cache = cache }
    local x = images(1):item(1)
    local _, ref = reference.run(net.typed, x)
    for _, a in ipairs(net:activations(x)) do
      assert.is_true(max_rel(a.data.data, ref[a.name].data, a.data.n) < 1e-4, a.name)
    end
  end)

  it('compiles weights set from Lua, which change the outputs', function()
    local m = small_model()
    local x = cnnc.Tensor({ 8, 8, 2 })
    for i = 0, x.n - 1 do x.data[i] = (i % 7) / 7 end
    local before = m:compile { cache = cache }
    local y0 = before:predict(x)
    local k = m:weight('conv2d', 'kernel')
    assert.same({ 3, 3, 2, 4 }, k.shape)
    for i = 0, k.n - 1 do k.data[i] = k.data[i] * -1 + 0.01 * i end
    m:set_weight('conv2d', 'kernel', k)
    m:set_weight('dense', 'bias', cnnc.from_table({ 0.5, -0.5, 2 }))
    local after = m:compile { cache = cache }
    local y1 = after:predict(x)
    assert.are_not.equal(y0:bytes(), y1:bytes())
    assert.equal(k:bytes(), after:weight('conv2d', 'kernel'):bytes())
    assert.are_not.equal(k:bytes(), before:weight('conv2d', 'kernel'):bytes())
    assert.same({ 0.5, -0.5, 2 }, m:weight('dense', 'bias'):totable())
    local ref = reference.run(after.typed, x)
    assert.is_true(max_rel(y1.data, ref.data, 3) < 1e-5)
    local list = m:weights()
    assert.same({ 'conv2d', 'kernel' }, { list[1].layer, list[1].name })
    assert.equal(4, #list)
  end)

  it('overrides kernels written in the model file and batch-norm statistics', function()
    local m = cnnc.load(H.root .. 'examples/edges.lua')
    local k = cnnc.Tensor({ 3, 3, 1, 16 }):fill(1)
    m:set_weight('filters', 'kernel', k)
    local net = m:compile { cache = cache, target = 'generic' }
    local x = cnnc.Tensor({ 128, 128, 1 }):fill(0.5)
    assert.near(4.5, net:predict(x):get(64, 64, 7), 1e-5)
    local bn = cnnc.Sequential { name = 'bn', input_shape = { 3 } }
    bn:add(cnnc.BatchNormalization {})
    bn:set_weight('batch_normalization', 'moving_mean', { 1, 2, 3 })
    local y = bn:compile({ cache = cache }):predict(cnnc.from_table({ 1, 2, 3 }))
    for i = 1, 3 do assert.near(0, y:get(i), 1e-6) end
    bn:set_weight('batch_normalization', 'moving_mean', { 0, 0, 0 })
    y = bn:compile({ cache = cache }):predict(cnnc.from_table({ 1, 2, 3 }))
    assert.near(3 / math.sqrt(1.001), y:get(3), 1e-6)
  end)

  it('reports mistakes clearly, naming the script', function()
    local m = small_model()
    local net = m:compile { cache = cache }
    H.fails({ 'net:predict', 'input has shape (8, 8)', "model 'small' expects (8, 8, 2) or a batch (N, 8, 8, 2)" },
      function() return net:predict(cnnc.Tensor({ 8, 8 })) end)
    H.fails({ 'expected a float32 tensor, got uint8', "astype('float32')" },
      function() return net:predict(cnnc.Tensor({ 8, 8, 2 }, 'uint8')) end)
    H.fails({ 'out has shape (4,)', 'outputs need (3,)' },
      function() return net:predict(cnnc.Tensor({ 8, 8, 2 }), cnnc.Tensor({ 4 })) end)
    H.fails({ 'give one input (8, 8, 2), not a batch of 2' },
      function() return net:activations(cnnc.Tensor({ 2, 8, 8, 2 })) end)
    H.fails({ "model:compile: unknown option 'treads'", 'threads' }, function() return m:compile { treads = 1 } end)
    H.fails({ 'threads must be a whole number from 1 to 256, got 0' }, function() return m:compile { threads = 0 } end)
    H.fails({ "unknown target 'avx9'" }, function() return m:compile { target = 'avx9' } end)
    H.fails({ 'call it with a colon' }, function() return m.compile({ target = 'generic' }) end)
    H.fails({ "no layer 'conv'", 'conv2d, dense' }, function() return m:set_weight('conv', 'kernel', {}) end)
    H.fails({ "layer 'conv2d' (Conv2D) has no weight 'kernal'", 'kernel, bias' },
      function() return m:set_weight('conv2d', 'kernal', {}) end)
    H.fails({ 'needs shape (3, 3, 2, 4)', 'the value has (3, 3, 1, 4)' },
      function() return m:set_weight('conv2d', 'kernel', cnnc.Tensor({ 3, 3, 1, 4 })) end)
    H.fails({ 'non-finite' }, function() return m:set_weight('dense', 'bias', { 0, 0 / 0, 1 }) end)
  end)

  it('loads Lua model files and refuses what it cannot load', function()
    H.fails({ 'cannot open model file', dir .. '/none.lua' }, function() return cnnc.load(dir .. '/none.lua') end)
    H.fails({ 'cannot open model file', dir .. '/m.h5' }, function() return cnnc.load(dir .. '/m.h5') end)
    -- What other frameworks save is recognised by its content (cnnc.formats, tests/lua/formats_spec.lua).
    H.write(dir .. '/m.h5', '\137HDF\r\n\26\n' .. string.rep('\0', 56) .. 'keras_version')
    H.fails({ "unknown option 'weights'", 'none here' }, function() return cnnc.load(dir .. '/m.h5', { weights = dir }) end)
    H.fails({ dir .. '/m.h5' }, function() return cnnc.load(dir .. '/m.h5') end)
    H.write(dir .. '/m.pt', '\128\2\138\10\108\252\156\70\249\32\106\168\80\25.')
    H.fails({ dir .. '/m.pt', 'a PyTorch file', 'torch.onnx.export(model, example_input' },
      function() return cnnc.load(dir .. '/m.pt') end)
    H.write(dir .. '/bad.lua', "local nn = require 'cnnc'\nreturn nn.Sequential{input_shape = {4}}:add(nn.Dense{0})\n")
    H.fails({ 'bad.lua:2', "Dense argument 'units'" }, function() return cnnc.load(dir .. '/bad.lua') end)
    H.fails({ 'missing weight file', dir .. '/conv2d.kernel.npy' },
      function() return cnnc.load(MNIST, { weights = dir }) end)
    H.fails({ "cnnc.load: unknown option 'weight'" }, function() return cnnc.load(MNIST, { weight = dir }) end)
    H.fails({ 'cannot open model file', dir .. '/m.onnx' }, function() return cnnc.load(dir .. '/m.onnx') end)
    H.fails({ "cnnc.load: unknown option 'weights'" }, function() return cnnc.load(dir .. '/m.onnx', { weights = dir }) end)
  end)

  it('loads the ONNX export of the trained network and predicts what the Lua model does', function()
    if not package.searchpath('cnnc.onnx.importer', package.path) then
      pending('this cnnc has no ONNX importer')
      return
    end
    local x = images(4)
    local lua_net = cnnc.load(MNIST, { weights = WEIGHTS }):compile { cache = cache }
    local onnx_net = cnnc.load(H.root .. 'examples/fashion_mnist/fashion_mnist.onnx'):compile { cache = cache }
    assert.same(lua_net.output_shape, onnx_net.output_shape)
    -- The export is channels-first, (1, 28, 28): with one channel, the same bytes.
    local a, b = lua_net:predict(x), onnx_net:predict(x:reshape({ 4, 1, 28, 28 }))
    assert.is_true(max_rel(a.data, b.data, a.n) < 1e-4)
  end)

  it('keeps files out of reach of model files', function()
    H.write(dir .. '/evil.lua', string.format([[
local nn = require 'cnnc'
nn.write_npy(%q, nn.Tensor({ 1 }))
return nn.Sequential { input_shape = { 2 } }:add(nn.Dense { 1 })
]], dir .. '/written.npy'))
    H.fails({ 'write_npy is not available in a model file' }, function() return cnnc.load(dir .. '/evil.lua') end)
    assert.is_nil(io.open(dir .. '/written.npy', 'rb'))
    H.write(dir .. '/evil2.lua', [[
local nn = require 'cnnc'
local m = nn.Sequential { input_shape = { 2 } }:add(nn.Dense { 1 })
m:compile { cc = 'touch /tmp/cnnc-evil; cc' }
return m
]])
    H.fails({ 'model:compile is not available in a model file' }, function() return cnnc.load(dir .. '/evil2.lua') end)
  end)
end)
