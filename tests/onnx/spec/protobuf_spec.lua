-- The protobuf wire-format decoder (cnnc.onnx.protobuf) and the onnx.proto reader
-- (cnnc.onnx.model): values, every wire type, packed and unpacked repeated fields, and
-- that truncated or corrupt bytes end in a cnnc error, never a Lua error or a hang.

local here = debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './'
package.path = here .. '../../../compiler/?.lua;' .. here .. '?.lua;' .. package.path

local pb = require 'cnnc.onnx.protobuf'
local onnx = require 'cnnc.onnx.model'
local util = require 'cnnc.util'
local W = require 'onnx_writer'

local tmp = os.tmpname()

local function fields(s)
  local t = {}
  for f, w, a, b in pb.fields(s, 1, #s) do t[#t + 1] = { f, w, a, b } end
  return t
end

local function malformed(f)
  local ok, e = pcall(f)
  assert.is_false(ok)
  assert.is_true(pb.is_malformed(e), 'expected a wire-format error, got ' .. tostring(e))
  return e
end

describe('varints', function()
  it('decodes small, large and negative values', function()
    for _, v in ipairs({ 0, 1, 127, 128, 300, 2 ^ 31, 2 ^ 40 + 5, 2 ^ 52, -1, -2, -128, -123456789, -(2 ^ 40) }) do
      local s = W.varint(v)
      local got, pos = pb.varint(s, 1, #s)
      assert.equals(v, got)
      assert.equals(#s + 1, pos)
    end
    assert.equals(10, #W.varint(-1))
  end)

  it('rejects a truncated varint and one longer than ten bytes', function()
    malformed(function() pb.varint('\255\255', 1, 2) end)
    malformed(function() pb.varint(string.rep('\255', 11), 1, 11) end)
  end)
end)

describe('fields', function()
  it('reads every wire type', function()
    local s = W.int(1, 150) .. W.bytes(2, 'abc') .. W.float(3, 1.5) .. '\33' .. string.rep('\0', 8)
    local t = fields(s)
    assert.same({ 1, 0, 150 }, t[1])
    assert.equals(2, t[2][1]); assert.equals(2, t[2][2])
    assert.equals('abc', pb.string(s, t[2][3], t[2][4]))
    assert.equals(1.5, pb.float32(s, t[3][3]))
    assert.equals(4, t[4][1]); assert.equals(1, t[4][2])
  end)

  it('rejects lengths past the end of the message, groups and field 0', function()
    malformed(function() fields(W.varint(2 * 8 + 2) .. W.varint(10) .. 'abc') end)
    malformed(function() fields('\11\0') end)              -- wire type 3 (group start)
    malformed(function() fields('\0\0') end)               -- field number 0
    malformed(function() fields(W.varint(3 * 8 + 5) .. 'ab') end)
  end)

  it('reads repeated fields packed and unpacked', function()
    local packed = W.varint(1) .. W.varint(-2) .. W.varint(300)
    local out = pb.repeated({}, packed, 2, 1, #packed, 'varint')
    assert.same({ 1, -2, 300 }, out)
    assert.same({ 7 }, pb.repeated({}, '', 0, 7, nil, 'varint'))
    local f = W.float(1, 0.25):sub(2) .. W.float(1, -2):sub(2)
    assert.same({ 0.25, -2 }, pb.repeated({}, f, 2, 1, #f, 'float'))
    malformed(function() pb.repeated({}, 'abc', 2, 1, 3, 'float') end)
  end)

  it('turns NaNs with any payload into a plain NaN', function()
    for _, bits in ipairs({ '\255\255\255\255', '\1\0\128\127', '\0\0\192\255' }) do
      local v = pb.float32(bits, 1)
      assert.equals('number', type(v))
      assert.is_true(v ~= v)
    end
    assert.equals(math.huge, pb.float32('\0\0\128\127', 1))
  end)
end)

describe('the ONNX reader', function()
  local model = W.model({
    inputs = { { 'x', { 1, 2, 4, 4 } } }, outputs = { { 'y', { 1, 2, 4, 4 } } },
    nodes = { { 'Relu', { 'x' }, { 'y' }, name = 'r' } },
    initializers = { { 'w', { 2, 3 }, values = { 1, 2, 3, 4, 5, 6 } }, { 's', { 2 }, values = { -1, 7 }, type = 7 } },
  })

  it('reads graph, nodes, initializers and value infos', function()
    local m = onnx.read(W.write(tmp, model))
    assert.equals(13, m.opsets[''])
    assert.equals('Relu', m.graph.nodes[1].op_type)
    assert.same({ 1, 2, 4, 4 }, m.graph.inputs[1].dims)
    local t = onnx.values(m.graph.initializers[1])
    assert.same({ 2, 3 }, t.shape)
    assert.equals(6, t.data[5])
    local s = onnx.values(m.graph.initializers[2])
    assert.equals(-1, s.data[0])
  end)

  it('fails cleanly on every truncation of a model', function()
    for n = 0, #model - 1 do
      local ok, e = pcall(onnx.read, W.write(tmp, model:sub(1, n)))
      if not ok then
        assert.is_true(util.is_error(e), 'truncated at ' .. n .. ': ' .. tostring(e))
        assert.truthy(util.format_error(e):find(tmp, 1, true))
      end
    end
  end)

  it('rejects data that does not match the dims, and external data that names no file', function()
    local bad = W.model({ inputs = { { 'x', { 1 } } }, outputs = { { 'y', { 1 } } },
      initializers = { { 'w', { 2, 3 }, values = { 1, 2, 3 } } } })
    local m = onnx.read(W.write(tmp, bad))
    local ok, e = pcall(onnx.values, m.graph.initializers[1], tmp)
    assert.is_false(ok)
    assert.matches('raw_data has 12 bytes, but 6 float32 elements need 24', util.format_error(e), 1, true)
    local ext = W.bytes(1, W.tensor({ 'big', { 2 }, values = { 1, 2 } }) .. W.int(14, 1))
    local tp = nil
    for f, _, a, b in pb.fields(ext, 1, #ext) do if f == 1 then tp = ext:sub(a, b) end end
    W.write(tmp, tp)
    local ok2, e2 = pcall(onnx.read_tensor, tmp)
    assert.is_false(ok2)
    assert.matches("external file (data_location EXTERNAL), but its external_data names no 'location'", util.format_error(e2), 1, true)
  end)

  it('says when a file is not a model at all', function()
    local ok, e = pcall(onnx.read, W.write(tmp, 'not a model, just text\n'))
    assert.is_false(ok)
    assert.matches('not a valid ONNX model', util.format_error(e), 1, true)
  end)
end)

os.remove(tmp)
