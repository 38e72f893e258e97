-- cnnc.formats: every model file is recognised by its content (else its extension);
-- Lua and ONNX models load, Keras files go to the Keras importer (whose errors on the
-- damaged or synthetic files here name the file; tests/keras tests it), anything else fails naming the file, saying what it is and
-- what to do; the command line exits 1 and writes nothing.
local T = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'testutil.lua')
local F = dofile(T.root .. 'tests/lib/foreign_files.lua')
local formats = require 'cnnc.formats'
local util = require 'cnnc.util'

local FIXTURES = T.root .. 'tests/lua/formats/'
local ONNX = T.root .. 'examples/fashion_mnist/fashion_mnist.onnx'
local LUA_MODEL = "local nn = require 'cnnc'\nreturn nn.Sequential{name = 'tiny', input_shape = {4}}:add(nn.Dense{2})\n"

local dir = io.popen('mktemp -d /tmp/cnnc_formats_spec.XXXXXX'):read('*l')
local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local function write(name, bytes)
  local path = dir .. '/' .. name
  os.execute('mkdir -p ' .. q(path:match('^(.*)/')))
  local f = assert(io.open(path, 'wb'))
  f:write(bytes)
  f:close()
  return path
end

-- driver.load must fail with a cnnc error naming path and holding each needle.
local function refused(path, needles)
  local model, err = T.driver.load(path)
  assert.is_nil(model, path .. ' loaded')
  assert.is_true(util.is_error(err), 'not a cnnc error: ' .. tostring(err))
  local msg = util.format_error(err)
  assert.truthy(msg:find(path .. ': ', 1, true), 'the message does not name ' .. path .. ': ' .. msg)
  for _, s in ipairs(needles) do
    assert.truthy(msg:find(s, 1, true), string.format('%q is not in: %s', s, msg))
  end
  return msg
end

-- path is detected as `format` and refused with the needles.
local function recognised(path, format, needles)
  assert.equal(format, formats.detect(path), path)
  return refused(path, needles)
end

local TORCH = "torch.onnx.export(model, example_input, 'model.onnx')"
-- (the Keras importer's message about these synthetic files: the file is named)
local KERAS = {}

describe('cnnc.formats', function()
  teardown(function() os.execute('rm -rf ' .. q(dir)) end)

  it('recognises files written by h5py and PyTorch and says what to do with each', function()
    local cases = {
      { 'keras_model.h5', 'keras_h5', KERAS },
      { 'keras_weights.h5', 'keras_h5', KERAS },
      { 'model.keras', 'keras', KERAS },
      { 'plain.h5', 'hdf5', { 'an HDF5 file with no Keras model in it' } },
      { 'state_dict.pt', 'pytorch', { 'a PyTorch file (saved by torch.save)', TORCH, 'load_state_dict' } },
      { 'module.pth', 'pytorch', { 'a PyTorch file', TORCH } },
      { 'legacy.pt', 'pytorch', { 'a PyTorch file', TORCH } },
      { 'torchscript.pt', 'torchscript', { 'a TorchScript archive', "torch.jit.load('" .. FIXTURES .. "torchscript.pt')" } },
      { 'arrays.npz', 'npz', { 'a NumPy archive', '--weights DIR' } },
    }
    for _, c in ipairs(cases) do recognised(FIXTURES .. c[1], c[2], c[3]) end
  end)

  it('recognises content whatever the extension says', function()
    -- each: file name, bytes, format, words of the message
    local cases = {
      { 'm.tflite', F.tflite(), 'tflite', { 'a TensorFlow Lite model', 'tf2onnx', '--tflite ' .. dir .. '/m.tflite' } },
      { 'model.bin', F.tflite(), 'tflite', { 'TensorFlow Lite' } },
      { 'frozen.pb', F.graphdef(), 'graphdef', { 'a TensorFlow graph (a GraphDef', '--graphdef ' .. dir .. '/frozen.pb' } },
      { 'frozen', F.graphdef(), 'graphdef', { 'GraphDef' } },
      { 'input_0.pb', F.onnx_tensor(), 'onnx_tensor', { 'an ONNX tensor (a TensorProto)', '--bind' } },
      { 'weights.pkl', F.PICKLE, 'pickle', { 'a Python pickle', TORCH } },
      { 'old.bin', F.TORCH_LEGACY, 'pytorch', { 'a PyTorch file' } },
      { 'x.npy', F.npy(), 'npy', { 'a NumPy array (.npy)', 'cnnc run MODEL INPUT' } },
      { 'model.onnx', F.torch_zip(), 'pytorch', { 'a PyTorch file' } },
      { 'big.pt', F.torch_zip({ zip64 = true }), 'pytorch', { 'a PyTorch file' } },
      { 'cut', F.torch_zip({ cut = true }), 'pytorch', { 'a PyTorch file' } },
      { 'ts.zip', F.torchscript(), 'torchscript', { 'TorchScript' } },
      { 'm.zip', F.keras(), 'keras', KERAS },
      { 'w.zip', F.npz(), 'npz', { 'NumPy archive' } },
      { 'other.zip', F.zip({ { 'readme.txt', 'hello' } }), 'zip', { 'a zip archive that is neither a PyTorch nor a Keras file' } },
      { 'k.lua', F.keras_h5(), 'keras_h5', KERAS },
      { 'userblock.h5', F.keras_h5(512), 'keras_h5', KERAS },
      { 'data.hdf5', F.hdf5(), 'hdf5', { 'HDF5 file with no Keras model' } },
      { 'junk', '\1\2\3\255\0\0\7', 'binary', { 'a binary file of no format cnnc knows' } },
    }
    for _, c in ipairs(cases) do recognised(write(c[1], c[2]), c[3], c[4]) end
  end)

  it('falls back on the extension where the content says nothing', function()
    local cases = {
      { 'empty.h5', '', 'keras_h5' }, { 'page.h5', '<!DOCTYPE html><html></html>\n', 'keras_h5' },
      { 'empty.pt', '', 'pytorch' }, { 'half.pth', 'PK\3\4', 'pytorch' }, { 'empty.keras', '', 'keras' },
      { 'empty.tflite', '', 'tflite' }, { 'empty.pkl', '', 'pickle' }, { 'empty.npz', '', 'npz' },
    }
    for _, c in ipairs(cases) do
      local f = formats.FORMATS[c[3]]
      recognised(write(c[1], c[2]), c[3], f.advice and { f.what } or KERAS)
    end
  end)

  it('knows a SavedModel by its directory or its saved_model.pb', function()
    local sm = dir .. '/exported'
    write('exported/saved_model.pb', F.saved_model())
    write('exported/variables/variables.index', '')
    for _, path in ipairs({ sm, sm .. '/saved_model.pb' }) do
      recognised(path, 'savedmodel', { 'a TensorFlow SavedModel', 'python -m tf2onnx.convert --saved-model ' .. sm
        .. ' --output model.onnx' })
    end
    write('pbtxt/saved_model.pbtxt', 'saved_model_schema_version: 1\n')
    assert.equal('savedmodel', formats.detect(dir .. '/pbtxt'))
    -- A directory without one is still read as the extension says, and fails as before.
    os.execute('mkdir -p ' .. q(dir .. '/d.lua'))
    refused(dir .. '/d.lua', { 'cannot read model file' })
  end)

  it('loads Lua and ONNX models by content under any name', function()
    for _, name in ipairs({ 'tiny', 'tiny.txt', 'tiny.model' }) do
      local m, err = T.driver.load(write(name, LUA_MODEL))
      assert.is_truthy(m, name .. ': ' .. util.format_error(err))
      assert.is_true(T.nn.is_model(m))
    end
    for _, name in ipairs({ 'fm.pb', 'fm', 'fm.bin' }) do
      local path = write(name, assert(util.read_file(ONNX)))
      assert.equal('onnx', formats.detect(path), name)
      local m, err = T.driver.load(path)
      assert.is_truthy(m, name .. ': ' .. util.format_error(err))
      assert.is_true(m.onnx)
    end
  end)

  it('leaves the extensions .lua and .onnx to their own readers', function()
    -- (content that is no other framework's: their own messages say what is wrong)
    refused(write('t.onnx', F.onnx_tensor()), { 'not a valid ONNX model' })
    refused(write('bin.lua', F.graphdef()), { 'cannot load model file' })
    refused(write('empty.onnx', ''), { 'empty file, not an ONNX model' })
    refused(write('bytecode', '\27LJ\2\0'), { 'precompiled (bytecode) chunk' })
    refused(dir .. '/missing.h5', { 'cannot open model file' })
  end)

  it('makes every command exit 1 with the message and write nothing', function()
    local path = write('cli/net.h5', F.keras_h5())
    for _, cmd in ipairs({ 'summary %s', 'build %s -o %s/out', 'run %s %s/x.npy -o %s/y.npy', 'test %s -o %s/out' }) do
      local line = string.format(cmd, q(path), q(dir .. '/cli'), q(dir .. '/cli'))
      local p = io.popen(string.format('%sbin/cnnc %s 2>&1; echo "status:$?"', T.root, line))
      local out = p:read('*a')
      p:close()
      assert.truthy(out:match('status:1%s*$'), line .. ': ' .. out)
      assert.truthy(out:find(path .. ': the HDF5 library cannot open it', 1, true), out)
    end
    local ls = io.popen('ls ' .. q(dir .. '/cli')):read('*a')
    assert.equal('net.h5\n', ls)
  end)
end)
