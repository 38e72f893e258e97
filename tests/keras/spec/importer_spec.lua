-- cnnc.keras.importer and cnnc.keras.config: Keras's configuration forms, and files that
-- must be refused with a message naming what and where.
package.path = 'compiler/?.lua;' .. package.path
local driver = require 'cnnc.driver'
local util = require 'cnnc.util'

local TMP = os.tmpname()
os.remove(TMP)
os.execute('mkdir -p ' .. TMP)
teardown(function() os.execute('rm -rf ' .. TMP) end)

local function write(name, text)
  local p = TMP .. '/' .. name
  local f = assert(io.open(p, 'wb'))
  f:write(text)
  f:close()
  return p
end

local function load(path)
  local m, err = driver.load(path)
  if not m then error(err, 0) end
  return m
end

local function typed(path, weights)
  local r, err = driver.compile(load(path), { stop = 'shape', weights = weights })
  if not r then error(err, 0) end
  return r.typed
end

local function err_of(f)
  local ok, e = pcall(f)
  assert.is_false(ok, 'expected an error')
  assert.is_true(util.is_error(e), tostring(e))
  return util.format_error(e)
end

local function kinds(g)
  local t = {}
  for i, n in ipairs(g.nodes) do t[i] = n.name .. ':' .. n.op end
  return table.concat(t, ' ')
end

local DENSE = '"class_name": "Dense", "config": {"name": "%s", "units": %d, "activation": "%s", "use_bias": true%s}'

describe('Keras configurations', function()
  it("reads Keras 2.1's Sequential (a list of layers, batch_input_shape on the first)", function()
    local p = write('old.json', '{"class_name": "Sequential", "keras_version": "2.1.6", "config": [{'
      .. string.format(DENSE, 'd1', 3, 'relu', ', "batch_input_shape": [null, 4]') .. '}, {'
      .. string.format(DENSE, 'd2', 2, 'softmax', '') .. '}]}')
    local g = typed(p)
    assert.equal('d1:Dense d2:Dense', kinds(g))
    assert.same({ 4 }, g.input.shape)
  end)

  it("reads Keras 3's Functional configuration (serialized tensors, one output triple)", function()
    local function t(name) return '{"class_name": "__keras_tensor__", "config": {"shape": [null, 3], "dtype": "float32", "keras_history": ["'
      .. name .. '", 0, 0]}}' end
    local p = write('k3.json', [==[{"module": "keras", "class_name": "Functional", "config": {"name": "f", "layers": [
      {"module": "keras.layers", "class_name": "InputLayer", "name": "a", "config": {"batch_shape": [null, 3], "name": "a"}, "inbound_nodes": []},
      {"module": "keras.layers", "class_name": "InputLayer", "name": "b", "config": {"batch_shape": [null, 3], "name": "b"}, "inbound_nodes": []},
      {"module": "keras.layers", "class_name": "Maximum", "name": "mx", "config": {"name": "mx", "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}}},
       "inbound_nodes": [{"args": [[]==] .. t('a') .. ', ' .. t('b') .. [==[]], "kwargs": {}}]},
      {"module": "keras.layers", "class_name": "Activation", "name": "act", "config": {"name": "act", "activation": "hard_silu"},
       "inbound_nodes": [{"args": []==] .. t('mx') .. [==[], "kwargs": {"training": false}}]}],
      "input_layers": [["a", 0, 0], ["b", 0, 0]], "output_layers": ["act", 0, 0]}}]==])
    local g = typed(p)
    assert.equal('mx:Maximum act:ParamActivation', kinds(g))
    assert.same({ 'a', 'b' }, g.nodes[1].inputs)
  end)

  it('refuses every layer it cannot import at once, each with its name, class and reason', function()
    local p = write('bad.json', [==[{"class_name": "Functional", "config": {"name": "f", "layers": [
      {"class_name": "InputLayer", "name": "in", "config": {"batch_input_shape": [null, 8, 8, 3], "name": "in"}, "inbound_nodes": []},
      {"class_name": "Lambda", "name": "lam", "config": {"name": "lam", "function": ["4wEA", null, null]}, "inbound_nodes": [[["in", 0, 0, {}]]]},
      {"module": "my_package.layers", "registered_name": "Custom>Gate", "class_name": "Gate", "name": "gate", "config": {"name": "gate"}, "inbound_nodes": [[["lam", 0, 0, {}]]]},
      {"class_name": "Conv2D", "name": "cf", "config": {"name": "cf", "filters": 2, "kernel_size": [3, 3], "data_format": "channels_first"}, "inbound_nodes": [[["gate", 0, 0, {}]]]},
      {"class_name": "Dense", "name": "g", "config": {"name": "g", "units": 2, "activation": "gelu"}, "inbound_nodes": [[["cf", 0, 0, {}]]]},
      {"class_name": "Dense", "name": "q", "config": {"name": "q", "units": 2, "lora_rank": 4}, "inbound_nodes": [[["g", 0, 0, {}]]]},
      {"class_name": "LSTM", "name": "rnn", "config": {"name": "rnn", "units": 2}, "inbound_nodes": [[["q", 0, 0, {}]]]}],
      "input_layers": [["in", 0, 0]], "output_layers": [["rnn", 0, 0]]}}]==])
    local e = err_of(function() return load(p) end)
    assert.matches('bad%.json: the model has 6 layers cnnc cannot import:', e)
    assert.matches("layer 'lam' %(Lambda%): a Lambda layer runs Python code", e)
    assert.matches("layer 'gate' %(Gate%): a custom class registered as 'Custom>Gate'", e)
    assert.matches("layer 'cf' %(Conv2D%): data_format='channels_first'", e)
    assert.matches("layer 'g' %(Dense%): the activation 'gelu'", e)
    assert.matches("layer 'q' %(Dense%): option lora_rank=4", e)
    assert.matches("layer 'rnn' %(LSTM%): cnnc does not know this layer class", e)
  end)

  it('refuses nested models, subclassed models and unknown sizes', function()
    assert.matches("layer 'inner' is a whole model %(Sequential%)", err_of(function()
      return load(write('nested.json', '{"class_name": "Sequential", "config": {"layers": [{"class_name": "Sequential", '
        .. '"config": {"name": "inner", "layers": []}}]}}'))
    end))
    assert.matches("is a 'MyModel'.*subclassed", err_of(function()
      return load(write('sub.json', '{"class_name": "MyModel", "config": {}}'))
    end))
    assert.matches("the first layer 'd1' has a dimension of unknown size %(axis 2%)", err_of(function()
      return load(write('none.json', '{"class_name": "Sequential", "config": {"layers": [{'
        .. string.format(DENSE, 'd1', 3, 'relu', ', "batch_input_shape": [null, 4, null]') .. '}]}}'))
    end))
    assert.matches('not valid JSON %(byte', err_of(function() return load(write('broken.json', '{"class_name": "Seq')) end))
  end)

  it('maps an activation Keras 3 defines differently onto its Keras 3 formula', function()
    local cfg = '{"class_name": "Sequential", "keras_version": "%s", "config": {"layers": [{'
      .. string.format(DENSE, 'd', 2, 'hard_sigmoid', ', "batch_input_shape": [null, 2]') .. '}]}}'
    local k2 = typed(write('k2hs.json', cfg:format('2.13.1')))
    local k3 = typed(write('k3hs.json', cfg:format('3.3.3')))
    assert.equal('d:Dense', kinds(k2))
    assert.equal('hard_sigmoid', k2.nodes[1].p.activation)
    assert.equal('d:Dense d_activation:ParamActivation', kinds(k3))
    assert.equal(1 / 6, k3.nodes[2].p.alpha)
  end)
end)

describe('Keras files', function()
  local DATA = 'tests/keras/data/'
  it('reads weights of a configuration from a separate file, and only then', function()
    local g = typed(DATA .. 'small/small.json', DATA .. 'small/small_weights.h5')
    assert.equal(3, #g.nodes[1].weights[1].tensor.shape)
    assert.matches('%-%-weights does not apply to this Keras HDF5', err_of(function()
      return typed(DATA .. 'small/small_tf2.h5', DATA .. 'small/small_weights.h5')
    end))
    assert.matches("holds Keras weights only %(no model_config%)", err_of(function() return load(DATA .. 'small/small_weights.h5') end))
  end)

  -- The model_config attribute of a Keras 2 .h5 file, as text.
  local function h5_config(path)
    local f = require('cnnc.keras.hdf5').open(path)
    local text = f:attr('/', 'model_config')
    f:close()
    return text
  end

  it("reads standalone Keras 2's Functional model, class 'Model' (tf.keras 2.x: 'Functional')", function()
    assert.matches('^{"class_name": "Model"', h5_config(DATA .. 'unet/unet_old.h5'))
    assert.matches('^{"class_name": "Functional"', h5_config(DATA .. 'unet/unet.h5'))
    local old, tf2 = typed(DATA .. 'unet/unet_old.h5'), typed(DATA .. 'unet/unet.h5')
    assert.equal(kinds(tf2), kinds(old))
    assert.equal('enc1:Conv2D', kinds(old):match('^%S+'))
    assert.equal('image', old.nodes[1].inputs[1])
  end)

  it('accepts regularizers and constraints and ignores them: the same layers as without', function()
    local text = h5_config(DATA .. 'small/small_reg.h5')
    for _, s in ipairs({ '"kernel_regularizer": {"class_name": "L1L2"', '"bias_constraint": {"class_name": "MaxNorm"',
      '"activity_regularizer": {"class_name": "L2"', '"gamma_regularizer": {', '"beta_constraint": {',
      '"kernel_constraint": {"class_name": "UnitNorm"', '"bias_regularizer": {"class_name": "L1"' }) do
      assert.is_truthy(text:find(s, 1, true), s)
    end
    local keras = DATA .. 'small/small_reg.keras'
    local text3 = require('cnnc.keras.zip').open(keras, assert(util.read_file(keras))):read('config.json')
    for _, s in ipairs({ '"kernel_regularizer": {"module": "keras.regularizers", "class_name": "L1L2"',
      '"bias_constraint": {"module": "keras.constraints", "class_name": "MaxNorm"',
      '"activity_regularizer": {"module": "keras.regularizers", "class_name": "L2"' }) do
      assert.is_truthy(text3:find(s, 1, true), s)
    end
    local plain = typed(DATA .. 'small/small_tf2.h5')
    for _, file in ipairs({ 'small_reg.h5', 'small_reg.keras' }) do
      local g = typed(DATA .. 'small/' .. file)
      assert.equal(kinds(plain), kinds(g))
      for i, n in ipairs(g.nodes) do
        assert.same(plain.nodes[i].p, n.p)
        assert.same(plain.nodes[i].shape, n.shape)
        assert.equal(#plain.nodes[i].weights, #n.weights)
      end
    end
  end)

  it('refuses truncated and damaged files', function()
    local good = assert(util.read_file(DATA .. 'small/small_tf2.h5'))
    assert.matches('truncated or damaged', err_of(function() return typed(write('half.h5', good:sub(1, math.floor(#good / 2)))) end))
    assert.matches('truncated or damaged', err_of(function() return typed(write('head.h5', good:sub(1, 100))) end))
    local keras = assert(util.read_file(DATA .. 'small/small.keras'))
    assert.matches('truncated', err_of(function() return typed(write('t.keras', keras:sub(1, #keras - 100))) end))
  end)

  it('reports missing weights and weights of the wrong shape, naming the layer and the array', function()
    assert.matches("layer 'dense' %(Dense%): 1 weight saved", err_of(function() return typed(DATA .. 'bad/missing_weight.h5') end))
    assert.matches("layer 'dense' %(#5, Dense%):.*model_weights/dense/dense/kernel:0 has shape %(5, 24%) but this layer needs %(24, 5%)",
      err_of(function() return typed(DATA .. 'bad/wrong_shape.h5') end))
  end)

  it('names the Debian package when the HDF5 library is missing', function()
    package.loaded['cnnc.keras.hdf5'] = nil
    local hdf5 = require 'cnnc.keras.hdf5'
    hdf5.LIBRARIES = { 'libcnnc-no-such-hdf5.so' }
    local e = err_of(function() return hdf5.open(DATA .. 'small/small_tf2.h5') end)
    package.loaded['cnnc.keras.hdf5'] = nil
    assert.matches('needs the HDF5 library.*apt%-get install libhdf5%-103%-1', e)
  end)
end)
