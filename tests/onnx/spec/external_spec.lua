-- Tensor data kept in external files (cnnc.onnx.external): read at its offset and length,
-- the same values as raw_data, through a whole import; and every way it can be wrong
-- (no location, a file missing, short or of the wrong length, a path leaving the model's
-- directory by '..', an absolute path or a symbolic link) is a cnnc error naming the
-- tensor and the file. tests/golden/onnx/external_data is a PyTorch model saved this way.

local here = debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './'
package.path = here .. '../../../compiler/?.lua;' .. here .. '?.lua;' .. package.path

local driver = require 'cnnc.driver'
local onnx = require 'cnnc.onnx.model'
local runner = require 'cnnc.runner'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'
local W = require 'onnx_writer'
local ffi = require 'ffi'

local dir = io.popen('mktemp -d /tmp/cnnc_external.XXXXXX'):read('*l')
local outside = io.popen('mktemp -d /tmp/cnnc_external_out.XXXXXX'):read('*l')
local model_path = dir .. '/m.onnx'

local W4 = { 'w', { 4, 1, 1, 1 }, values = { 1.5, -2, 0.25, 3 } }
local B4 = { 'b', { 4 }, values = { 0.5, 0, -1, 2 } }

-- Writes the data file(s) {name = bytes} and a model whose initializers are `inits` (tensor
-- tables as W.tensor takes them); returns its first initializer as cnnc reads it, or the
-- formatted error.
local function first_value(files, inits)
  for name, bytes in pairs(files) do W.write(dir .. '/' .. name, bytes) end
  local m = onnx.read(W.write(model_path, W.model({ inputs = { { 'x', { 1 } } }, outputs = { { 'y', { 1 } } },
    initializers = inits })))
  local ok, t = pcall(onnx.values, m.graph.initializers[1], model_path)
  if not ok then
    assert.is_true(util.is_error(t), tostring(t))
    return nil, util.format_error(t)
  end
  return t
end

local function values(t)
  local out = {}
  for k = 0, t.n - 1 do out[k + 1] = t.data[k] end
  return out
end

local function ext(t, e)
  local c = util.copy(t)
  c.external = e
  return c
end

-- The error of reading W4 with external_data entries e (after writing `files`).
local function fails(files, e)
  local t, err = first_value(files, { ext(W4, e) })
  assert.is_nil(t)
  assert.matches("tensor 'w'", err, 1, true)
  return err
end

describe('external data', function()
  teardown(function() os.execute(string.format("rm -rf '%s' '%s'", dir, outside)) end)

  it('reads each tensor at its offset and length, or from 0 to the end of the file', function()
    local pad = string.rep('\0', 4096 - 16)
    local file = W.raw(W4) .. pad .. W.raw(B4)
    local t = first_value({ ['w.bin'] = file }, { ext(W4, { location = 'w.bin', offset = 0, length = 16 }) })
    assert.same({ 1.5, -2, 0.25, 3 }, values(t))
    t = first_value({}, { ext(B4, { location = 'w.bin', offset = 4096, length = 16 }) })
    assert.same({ 0.5, 0, -1, 2 }, values(t))
    t = first_value({}, { ext(B4, { location = 'w.bin', offset = 4096 }) })
    assert.same({ 0.5, 0, -1, 2 }, values(t))
    t = first_value({ ['only.bin'] = W.raw(W4) }, { ext(W4, { location = 'only.bin', checksum = 'ignored' }) })
    assert.same({ 1.5, -2, 0.25, 3 }, values(t))
  end)

  it('reads integers, files in subdirectories, and ignores raw_data beside external data', function()
    os.execute('mkdir -p ' .. dir .. '/sub/deeper')
    local shape = { 'shape', { 2 }, type = 7, values = { 2, -1 } }
    local t = first_value({ ['sub/deeper/s.bin'] = 'xyz' .. W.raw(shape) },
      { ext(shape, { location = 'sub/./deeper/s.bin', offset = 3, length = 16 }) })
    assert.same({ 2, -1 }, values(t))
    assert.equals('double', t.ctype)
    local W4m = util.copy(W4)
    W4m.data_location = 1
    local both = W.model({ inputs = { { 'x', { 1 } } }, outputs = { { 'y', { 1 } } }, initializers = { W4m } })
    -- the external_data entries are spliced in by hand: W.tensor writes one or the other
    local m = onnx.read(W.write(model_path, both))
    m.graph.initializers[1].external_data = { { 'location', 'only.bin' } }
    assert.same({ 1.5, -2, 0.25, 3 }, values(onnx.values(m.graph.initializers[1], model_path)))
  end)

  it('imports a model whose weights are external, with the same result as inline weights', function()
    local function model(inits)
      return { opset = 13, inputs = { { 'x', { 1, 1, 2, 2 } } }, outputs = { { 'y', { 1, 16 } } },
        nodes = { { 'Conv', { 'x', 'w', 'b' }, { 'c' }, name = 'conv' }, { 'Reshape', { 'c', 'shape' }, { 'y' }, name = 'flat' } },
        initializers = inits }
    end
    local shape = { 'shape', { 2 }, type = 7, values = { 1, -1 } }
    W.write(dir .. '/all.bin', W.raw(W4) .. W.raw(B4) .. W.raw(shape))
    local results = {}
    for k, inits in ipairs({ { W4, B4, shape }, { ext(W4, { location = 'all.bin', offset = 0, length = 16 }),
      ext(B4, { location = 'all.bin', offset = 16, length = 16 }), ext(shape, { location = 'all.bin', offset = 32, length = 16 }) } }) do
      local m, err = driver.load(W.write(model_path, W.model(model(inits))))
      assert(m, err and util.format_error(err))
      local r, cerr = driver.compile(m, { stop = 'shape' })
      assert(r, cerr and util.format_error(cerr))
      local x = tensor.new({ 1, 1, 2, 2 }, 'float')
      for i = 0, 3 do x.data[i] = i + 1 end
      results[k] = values(assert(runner.run_batch(r.typed, x)))
    end
    assert.same(results[1], results[2])
    assert.same({ 2, 3.5, 5, 6.5, -2, -4, -6, -8, -0.75, -0.5, -0.25, 0, 5, 8, 11, 14 }, results[1])
  end)

  it('names the tensor and the file when the data is missing or of the wrong size', function()
    local err = fails({}, { location = 'nowhere.bin' })
    assert.matches(dir .. '/nowhere.bin: No such file or directory', err, 1, true)
    assert.matches(model_path, err, 1, true)
    err = fails({ ['short.bin'] = W.raw(W4):sub(1, 10) }, { location = 'short.bin', offset = 0, length = 16 })
    assert.matches('bytes 0 to 16 of ' .. dir .. '/short.bin, which has only 10 bytes', err, 1, true)
    err = fails({}, { location = 'short.bin', offset = 11 })
    assert.matches('starts at byte 11 of ' .. dir .. '/short.bin, which has only 10 bytes', err, 1, true)
    err = fails({ ['w.bin'] = string.rep('\0', 64) }, { location = 'w.bin', offset = 8, length = 12 })
    assert.matches('its external data (w.bin, offset 8) has 12 bytes, but 4 float32 elements need 16', err, 1, true)
    err = fails({}, { location = 'w.bin', offset = 8 })
    assert.matches('has 56 bytes (no length given: to the end of the file), but 4 float32 elements need 16', err, 1, true)
    err = fails({}, { location = 'w.bin', offset = '-4' })
    assert.matches("external_data 'offset' is '-4', not a byte count", err, 1, true)
    err = fails({}, { length = 16 })
    assert.matches("names no 'location'", err, 1, true)
    os.execute('mkdir -p ' .. dir .. '/adir')
    err = fails({}, { location = 'adir' })
    assert.matches(dir .. '/adir is not a regular file', err, 1, true)
  end)

  it('refuses a location outside the model\'s directory', function()
    W.write(outside .. '/secret.bin', W.raw(W4))
    local err = fails({}, { location = outside .. '/secret.bin' })
    assert.matches("location '" .. outside .. "/secret.bin' is an absolute path", err, 1, true)
    err = fails({}, { location = '../' .. outside:match('[^/]+$') .. '/secret.bin' })
    assert.matches("a '..' component", err, 1, true)
    err = fails({}, { location = 'sub/../../secret.bin' })
    assert.matches("a '..' component", err, 1, true)
    os.execute(string.format("ln -sf '%s/secret.bin' '%s/link.bin'", outside, dir))
    err = fails({}, { location = 'link.bin' })
    assert.matches('link.bin resolves to ' .. outside .. "/secret.bin, outside the model's directory", err, 1, true)
  end)

  -- A lean build (docs/generated-code.md): the weights go from the data file to the blob
  -- without a Lua table of numbers or a third copy, so `cnnc build` of a Gemm of 8192 x 8192
  -- (256 MiB) runs within 2x the weight bytes plus 300 MB of address space (it peaks at
  -- about 2.05x; holding the weights once more would need 2.9x).
  it('builds 256 MiB of external weights within twice their bytes plus 300 MB of memory', function()
    local n = 8192
    local f = assert(io.open(dir .. '/big.data', 'wb'))
    local row = ffi.new('float[?]', n)
    for i = 0, n - 1 do
      for j = 0, n - 1 do row[j] = ((i * 31 + j) % 7) * 0.125 - 0.375 end
      f:write(ffi.string(row, 4 * n))
    end
    f:close()
    W.write(dir .. '/big.onnx', W.model({ opset = 13, inputs = { { 'x', { 1, n } } }, outputs = { { 'y', { 1, n } } },
      nodes = { { 'Gemm', { 'x', 'w' }, { 'y' } } },
      initializers = { { 'w', { n, n }, external = { location = 'big.data' } } } }))
    local bytes = 4 * n * n
    local limit_kb = math.floor((2 * bytes + 300e6) / 1024)
    local cnnc = here .. '../../../bin/cnnc'
    local p = io.popen(string.format("sh -c 'ulimit -v %d && exec %s build %s/big.onnx -o %s/big --no-exe' 2>&1; echo rc=$?",
      limit_kb, cnnc, dir, dir))
    local out = p:read('*a')
    p:close()
    os.remove(dir .. '/big.data')
    assert.matches('rc=0', out, 1, true)
    local blob = assert(io.open(dir .. '/big/big.weights.bin', 'rb'))
    local size = blob:seek('end')
    blob:close()
    assert.is_true(size >= bytes, string.format('blob of %d bytes, the weights are %d', size, bytes))
    os.execute(string.format("rm -rf '%s/big'", dir))
  end)

  it('says what is wrong with the data location itself', function()
    local odd = ext(W4, { location = 'w.bin' })
    odd.data_location = 2
    local t, err = first_value({}, { odd })
    assert.is_nil(t)
    assert.matches("tensor 'w' has data_location 2, which is neither DEFAULT (0) nor EXTERNAL (1)", err, 1, true)
    odd.data_location = 0
    t, err = first_value({}, { odd })
    assert.matches("0 values stored, but its dims (4, 1, 1, 1) need 4 (it has external_data entries, but its data_location is not EXTERNAL)",
      err, 1, true)
    -- a tensor read from no file has no directory to find its data in
    local m = onnx.read(W.write(model_path, W.model({ inputs = { { 'x', { 1 } } }, outputs = { { 'y', { 1 } } },
      initializers = { ext(W4, { location = 'w.bin' }) } })))
    local ok, e = pcall(onnx.values, m.graph.initializers[1])
    assert.is_false(ok)
    assert.matches("tensor 'w' keeps its data in the external file 'w.bin', which is found relative to the model file",
      util.format_error(e), 1, true)
  end)
end)
