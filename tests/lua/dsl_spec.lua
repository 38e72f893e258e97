-- The model language (compiler/cnnc.lua + cnnc.args + cnnc.frontend): Keras-style
-- positional and keyword arguments, defaults, automatic names, and errors that name the
-- argument and the line of the constructor call.

local T = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'testutil.lua')
local nn = T.nn

local SPEC_FILE = 'dsl_spec.lua'

-- The error raised by f, which must be a structured cnnc error.
local function err_of(f)
  local ok, e = pcall(f)
  assert.is_false(ok, 'expected an error')
  assert.is_true(T.util.is_error(e), 'not a structured cnnc error: ' .. tostring(e))
  return e, T.util.format_error(e)
end

local function names_of(model)
  return T.node_names(T.compile(model, { stop = 'frontend' }).graph)
end

describe('layer arguments', function()
  it('takes positional arguments in Keras order', function()
    local c = nn.Conv2D{ 32, { 3, 5 }, 2, 'same' }
    assert.same(32, c.p.filters)
    assert.same({ 3, 5 }, c.p.kernel_size)
    assert.same({ 2, 2 }, c.p.strides)
    assert.same('same', c.p.padding)
    local d = nn.Dense{ 10, 'relu' }
    assert.same(10, d.p.units)
    assert.same('relu', d.p.activation)
  end)

  it('takes keyword arguments', function()
    local c = nn.Conv2D{ filters = 32, kernel_size = 3 }
    assert.same(32, c.p.filters)
    assert.same({ 3, 3 }, c.p.kernel_size)
  end)

  it('mixes positional and keyword arguments', function()
    local c = nn.Conv2D{ 8, 3, padding = 'same', strides = { 1, 2 } }
    assert.same(8, c.p.filters)
    assert.same({ 3, 3 }, c.p.kernel_size)
    assert.same({ 1, 2 }, c.p.strides)
    assert.same('same', c.p.padding)
  end)

  it('expands an int to a tuple of the layer rank', function()
    assert.same({ 4 }, nn.Conv1D{ 2, 4 }.p.kernel_size)
    assert.same({ 4, 4 }, nn.Conv2D{ 2, 4 }.p.kernel_size)
    assert.same({ 3, 3 }, nn.Conv2D{ 2, 1, dilation_rate = 3 }.p.dilation_rate)
    assert.same({ 3 }, nn.MaxPooling1D{ 3 }.p.pool_size)
    assert.same({ 3, 3 }, nn.AveragePooling2D{ 3 }.p.pool_size)
    assert.same({ { 2, 2 }, { 2, 2 } }, nn.ZeroPadding2D{ 2 }.p.padding)
    assert.same({ { 1, 1 }, { 3, 3 } }, nn.ZeroPadding2D{ { 1, 3 } }.p.padding)
    assert.same({ { 1, 2 }, { 3, 4 } }, nn.ZeroPadding2D{ { { 1, 2 }, { 3, 4 } } }.p.padding)
    assert.same({ { 2, 5 } }, nn.ZeroPadding1D{ { 2, 5 } }.p.padding)
  end)

  it('applies the Keras defaults', function()
    local c = nn.Conv2D{ 4, 3 }
    assert.same({ 1, 1 }, c.p.strides)
    assert.same({ 1, 1 }, c.p.dilation_rate)
    assert.same('valid', c.p.padding)
    assert.is_true(c.p.use_bias)
    assert.is_nil(c.p.activation)
    assert.same('glorot_uniform', c.p.kernel_initializer.name)
    assert.same('zeros', c.p.bias_initializer.name)
    assert.is_true(nn.Dense{ 3 }.p.use_bias)
    assert.same(0.3, nn.LeakyReLU{}.p.alpha)
    assert.same(1e-3, nn.BatchNormalization{}.p.epsilon)
    assert.same({ 2, 2 }, nn.MaxPooling2D{}.p.pool_size)
  end)

  it('gives pooling strides equal to the pool size by default', function()
    local T2 = T.compile(nn.Sequential{ input_shape = { 9, 9, 1 }, layers = { nn.MaxPooling2D{ 3 } } },
      { stop = 'shape' }).typed
    local g = T2.nodes[1].g
    assert.same({ 3, 3 }, { g.sh, g.sw })
    assert.same({ 3, 3, 1 }, T2.nodes[1].shape)
    local t1 = T.compile(nn.Sequential{ input_shape = { 10, 2 }, layers = { nn.AveragePooling1D{ 2 } } },
      { stop = 'shape' }).typed
    assert.same(2, t1.nodes[1].g.sw)
    assert.same({ 5, 2 }, t1.nodes[1].shape)
    -- Given strides win.
    local t3 = T.compile(nn.Sequential{ input_shape = { 9, 9, 1 }, layers = { nn.MaxPooling2D{ 3, strides = 1 } } },
      { stop = 'shape' }).typed
    assert.same({ 7, 7, 1 }, t3.nodes[1].shape)
  end)

  it('lower-cases enum and activation strings as Keras accepts them', function()
    local c = nn.Conv2D{ 2, 3, padding = 'SAME', activation = 'ReLU' }
    assert.same('same', c.p.padding)
    assert.same('relu', c.p.activation)
  end)

  it("gives the activation string 'leaky_relu' alpha 0.2 and the LeakyReLU layer 0.3", function()
    local g = T.compile(nn.Sequential{ input_shape = { 3 }, layers = { nn.Dense{ 2, activation = 'leaky_relu' }, nn.LeakyReLU{} } },
      { stop = 'shape' }).typed
    assert.same(0.2, g.nodes[1].epilogue[1].p.alpha)
    assert.same(0.3, g.nodes[2].epilogue[1].p.alpha)
  end)

  it('accepts initializer tables with parameters', function()
    local c = nn.Conv2D{ 2, 3, kernel_initializer = { 'random_normal', stddev = 0.1, seed = 4 } }
    assert.same('random_normal', c.p.kernel_initializer.name)
    assert.same(0.1, c.p.kernel_initializer.params.stddev)
    assert.same(4, c.p.kernel_initializer.seed)
  end)
end)

describe('automatic layer names', function()
  it('follows Keras: snake case of the class name, _1, _2 ... for repeats', function()
    local m = nn.Sequential{ input_shape = { 16, 16, 1 } }
    m:add(nn.Conv2D{ 2, 3 })
    m:add(nn.Conv2D{ 2, 3 })
    m:add(nn.MaxPooling2D{})
    m:add(nn.LeakyReLU{})
    m:add(nn.BatchNormalization{})
    m:add(nn.Activation{ 'relu' })
    m:add(nn.Dropout{ 0.5 })
    m:add(nn.AveragePooling2D{})
    m:add(nn.ZeroPadding2D{})
    m:add(nn.LocallyConnected2D{ 2, 1 })
    m:add(nn.GlobalAveragePooling2D{})
    m:add(nn.Dense{ 4 })
    m:add(nn.Dense{ 4 })
    m:add(nn.Dense{ 4 })
    assert.same({
      'conv2d', 'conv2d_1', 'max_pooling2d', 'leaky_re_lu', 'batch_normalization', 'activation',
      'dropout', 'average_pooling2d', 'zero_padding2d', 'locally_connected2d', 'global_average_pooling2d',
      'dense', 'dense_1', 'dense_2',
    }, names_of(m))
  end)

  it('names 1-D layers and the other pooling kinds', function()
    local m = nn.Sequential{ input_shape = { 16, 2 } }
    m:add(nn.Conv1D{ 2, 3 })
    m:add(nn.MaxPooling1D{})
    m:add(nn.ZeroPadding1D{})
    m:add(nn.GlobalMaxPooling1D{})
    m:add(nn.Flatten{})
    assert.same({ 'conv1d', 'max_pooling1d', 'zero_padding1d', 'global_max_pooling1d', 'flatten' }, names_of(m))
  end)

  it('skips names the user took explicitly', function()
    local m = nn.Sequential{ input_shape = { 16, 16, 1 } }
    m:add(nn.Conv2D{ 2, 1, name = 'conv2d_1' })
    m:add(nn.Conv2D{ 2, 1 })
    m:add(nn.Conv2D{ 2, 1 })
    assert.same({ 'conv2d_1', 'conv2d', 'conv2d_2' }, names_of(m))
  end)

  it('gives fresh names in every compilation of a model', function()
    local m = nn.Sequential{ input_shape = { 8, 8, 1 }, layers = { nn.Conv2D{ 2, 3 }, nn.Conv2D{ 2, 3 } } }
    assert.same({ 'conv2d', 'conv2d_1' }, names_of(m))
    assert.same({ 'conv2d', 'conv2d_1' }, names_of(m))
  end)
end)

describe('model errors', function()
  it('rejects duplicate layer names, naming the layer and the line', function()
    local m = nn.Sequential{ input_shape = { 8, 8, 1 } }
    m:add(nn.Conv2D{ 2, 3, name = 'c' })
    local line = T.line(); m:add(nn.Conv2D{ 2, 3, name = 'c' })
    local e, text = T.compile_error(m, { stop = 'frontend' })
    assert.matches("the name 'c' is used by another layer", text, 1, true)
    assert.same('c', e.layer)
    assert.same(2, e.index)
    assert.same(line, e.line)
    assert.matches(SPEC_FILE .. ':' .. line .. ':', text, 1, true)
  end)

  it('rejects an explicit name equal to an automatic one given earlier', function()
    local m = nn.Sequential{ input_shape = { 8, 8, 1 } }
    m:add(nn.Conv2D{ 2, 3 })
    m:add(nn.Conv2D{ 2, 3, name = 'conv2d' })
    local _, text = T.compile_error(m, { stop = 'frontend' })
    assert.matches("'conv2d' is used by another layer", text, 1, true)
  end)

  it("reserves the name 'input'", function()
    local m = nn.Sequential{ input_shape = { 8, 8, 1 }, layers = { nn.Conv2D{ 2, 3, name = 'input' } } }
    local _, text = T.compile_error(m, { stop = 'frontend' })
    assert.matches('reserved', text, 1, true)
  end)

  it('needs an input shape and at least one layer', function()
    local _, text = T.compile_error(nn.Sequential{ layers = { nn.Dense{ 2 } } }, { stop = 'frontend' })
    assert.matches('no input shape', text, 1, true)
    _, text = T.compile_error(nn.Sequential{ input_shape = { 2 } }, { stop = 'frontend' })
    assert.matches('no layers', text, 1, true)
  end)

  it('takes the input shape from the first layer', function()
    local m = nn.Sequential{ layers = { nn.Dense{ 2, input_shape = { 5 } } } }
    local r = T.compile(m, { stop = 'shape' })
    assert.same({ 5 }, r.typed.input.shape)
  end)

  it('allows input_shape only on the first layer', function()
    local m = nn.Sequential{ input_shape = { 4 }, layers = { nn.Dense{ 2 }, nn.Dense{ 2, input_shape = { 2 } } } }
    local _, text = T.compile_error(m, { stop = 'frontend' })
    assert.matches('only allowed on the first layer', text, 1, true)
  end)

  it('checks Sequential options', function()
    local _, text = err_of(function() nn.Sequential{ name = 'not an identifier' } end)
    assert.matches('C identifier', text, 1, true)
    _, text = err_of(function() nn.Sequential{ inputshape = { 1 } } end)
    assert.matches("no option 'inputshape'", text, 1, true)
    assert.matches('valid: input_shape, layers, name, seed', text, 1, true)
    _, text = err_of(function() nn.Sequential{ seed = -1 } end)
    assert.matches("'seed'", text, 1, true)
    _, text = err_of(function() nn.Sequential{ input_shape = { 0, 3 } } end)
    assert.matches("'input_shape'", text, 1, true)
    _, text = err_of(function() nn.Sequential{}:add(nn.Conv2D) end)
    assert.matches('expects a layer', text, 1, true)
  end)
end)

describe('argument errors', function()
  -- Each case: constructor call that must fail, the argument its message must name and
  -- a fragment of the reason.
  local CASES = {
    { 'string for filters', function() return nn.Conv2D{ '32', 3 } end, 'filters', 'integer' },
    { 'fractional units', function() return nn.Dense{ 10.5 } end, 'units', 'integer' },
    { 'zero filters', function() return nn.Conv2D{ 0, 3 } end, 'filters', '>= 1' },
    { 'negative filters', function() return nn.Conv1D{ -4, 3 } end, 'filters', '>= 1' },
    { 'zero kernel size', function() return nn.Conv2D{ 2, 0 } end, 'kernel_size', '>= 1' },
    { 'negative kernel size', function() return nn.Conv2D{ 2, { 3, -1 } } end, 'kernel_size', '>= 1' },
    { 'kernel tuple of the wrong rank', function() return nn.Conv2D{ 2, { 3, 3, 3 } } end, 'kernel_size', 'list of 2' },
    { 'zero strides', function() return nn.Conv2D{ 2, 3, strides = 0 } end, 'strides', '>= 1' },
    { 'zero pool strides', function() return nn.MaxPooling2D{ 2, strides = { 1, 0 } } end, 'strides', '>= 1' },
    { 'zero dilation', function() return nn.Conv2D{ 2, 3, dilation_rate = 0 } end, 'dilation_rate', '>= 1' },
    { 'zero pool size', function() return nn.AveragePooling1D{ 0 } end, 'pool_size', '>= 1' },
    { 'bad padding string', function() return nn.Conv2D{ 2, 3, padding = 'full' } end, 'padding', 'one of same, valid' },
    { 'causal on a 2-D conv', function() return nn.Conv2D{ 2, 3, padding = 'causal' } end, 'padding', 'one of same, valid' },
    { 'same on a locally connected layer', function() return nn.LocallyConnected2D{ 2, 3, padding = 'same' } end,
      'padding', 'one of valid' },
    { 'unknown activation', function() return nn.Conv2D{ 2, 3, activation = 'relu7' } end, 'activation',
      'activation name' },
    { 'non-string activation', function() return nn.Dense{ 2, activation = 1 } end, 'activation', 'activation name' },
    { 'unknown Activation layer function', function() return nn.Activation{ 'gelu' } end, 'activation',
      'activation name' },
    { 'unknown initializer', function() return nn.Conv2D{ 2, 3, kernel_initializer = 'xavier' } end,
      'kernel_initializer', 'initializer name' },
    { 'initializer parameter it does not have', function()
      return nn.Dense{ 2, kernel_initializer = { 'he_normal', stddev = 1 } } end, 'kernel_initializer', "no parameter 'stddev'" },
    { 'initializer parameter of the wrong type', function()
      return nn.Dense{ 2, bias_initializer = { 'constant', value = 'x' } } end, 'bias_initializer', 'initializer' },
    { 'fractional initializer seed', function()
      return nn.Dense{ 2, kernel_initializer = { 'random_uniform', seed = 0.5 } } end, 'kernel_initializer', 'initializer' },
    { 'string for use_bias', function() return nn.Dense{ 2, use_bias = 'yes' } end, 'use_bias', 'true or false' },
    { 'NaN alpha', function() return nn.LeakyReLU{ alpha = 0 / 0 } end, 'alpha', 'finite number' },
    { 'infinite epsilon', function() return nn.BatchNormalization{ epsilon = math.huge } end, 'epsilon', 'finite number' },
    { 'non-string name', function() return nn.Dense{ 2, name = 7 } end, 'name', 'a string' },
    { 'bad input_shape', function() return nn.Dense{ 2, input_shape = { 3, 0 } } end, 'input_shape', 'positive integers' },
    { 'negative zero padding', function() return nn.ZeroPadding2D{ -1 } end, 'padding', 'integer >= 0' },
    { 'zero padding of the wrong form', function() return nn.ZeroPadding1D{ { 1, 2, 3 } } end, 'padding', '{left, right}' },
    { 'data_format channels_first', function() return nn.Conv2D{ 2, 3, data_format = 'channels_first' } end,
      'data_format', 'channels_last' },
  }
  for _, case in ipairs(CASES) do
    it('rejects ' .. case[1] .. ', naming the argument', function()
      local _, text = err_of(case[2])
      assert.matches("argument '" .. case[3] .. "'", text, 1, true)
      assert.matches(case[4], text, 1, true)
    end)
  end

  it('rejects an unknown argument with the list of valid ones', function()
    local _, text = err_of(function() return nn.Conv2D{ 2, 3, stride = 2 } end)
    assert.matches("Conv2D has no argument 'stride'", text, 1, true)
    assert.matches('valid: filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation, '
      .. 'use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer, kernel_constraint, '
      .. 'bias_constraint, kernel, bias, name, input_shape, trainable, activity_regularizer', text, 1, true)
    _, text = err_of(function() return nn.Dense{ 2, units_ = 3 } end)
    assert.matches("Dense has no argument 'units_'", text, 1, true)
    assert.matches('valid: units, activation', text, 1, true)
  end)

  it('rejects too many positional arguments', function()
    local _, text = err_of(function() return nn.Dropout{ 0.5, nil, 1, 4 } end)
    assert.matches('at most 3 positional arguments (rate, noise_shape, seed)', text, 1, true)
  end)

  it('rejects an argument given both by position and by name', function()
    local _, text = err_of(function() return nn.Conv2D{ 2, 3, filters = 4 } end)
    assert.matches("'filters' given both by position (#1) and by name", text, 1, true)
  end)

  it('rejects a missing required argument', function()
    local _, text = err_of(function() return nn.Conv2D{ kernel_size = 3 } end)
    assert.matches("Conv2D needs argument 'filters'", text, 1, true)
    _, text = err_of(function() return nn.Dropout{} end)
    assert.matches("Dropout needs argument 'rate'", text, 1, true)
  end)

  it('rejects a non-table argument list', function()
    local _, text = err_of(function() return nn.Dense(10) end)
    assert.matches('nn.Dense{...}', text, 1, true)
  end)

  -- (The closures below avoid `return nn.X{...}`: a tail call leaves no frame for the
  -- constructor to find its caller in, so the error would point one frame further out.)
  it('carries the file and line of the constructor call', function()
    local line = T.line(); local e, text = err_of(function() nn.Conv2D{ 'x', 3 } end) -- no tail call
    assert.same(line, e.line)
    assert.matches(SPEC_FILE .. '$', e.file)
    assert.matches(SPEC_FILE .. ':' .. line .. ': Conv2D argument', text, 1, true)
  end)

  it('points at the user line also when the constructor is called through pcall', function()
    local line = T.line(); local ok, e = pcall(nn.Dense, { 'x' })
    assert.is_false(ok)
    assert.same(line, e.line)
    assert.matches(SPEC_FILE .. '$', e.file)
  end)

  it('locates errors found later (shape pass) at the constructor call too', function()
    local m = nn.Sequential{ input_shape = { 4, 4, 1 } }
    local line = T.line(); m:add(nn.Conv2D{ 2, 7 })
    local e, text = T.compile_error(m, { stop = 'shape' })
    assert.same(line, e.line)
    assert.matches(SPEC_FILE .. ':' .. line .. ": layer 'conv2d' (#1, Conv2D):", text, 1, true)
  end)

  it('names a misspelt layer class and suggests the right one', function()
    local line = T.line(); local e, text = err_of(function() local _ = nn.Conv2d end)
    assert.matches('no layer or function nn.Conv2d', text, 1, true)
    assert.matches('did you mean nn.Conv2D?', text, 1, true)
    assert.same(line, e.line)
  end)

  it('rejects an infinite integer argument', function()
    local _, text = err_of(function() return nn.Conv2D{ math.huge, 3 } end)
    assert.matches("argument 'filters'", text, 1, true)
  end)
end)
