-- --input-shape (cnnc.driver.load's input_shape, cnnc.load's option): a fully convolutional
-- Lua model and an ONNX U-Net compiled for other input sizes; the model's own size stays
-- when none is given.

local T = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'testutil.lua')
local nn = T.nn

local function input_shape(model)
  return T.compile(model, { stop = 'shape' }).typed.input.shape
end

describe('--input-shape', function()
  it('compiles a Lua model for another image size', function()
    local m = nn.load(T.root .. 'examples/edges.lua', { input_shape = { 40, 30, 1 } })
    assert.same({ 40, 30, 1 }, input_shape(m))
    local g = T.compile(m, { stop = 'shape' }).typed
    assert.same({ 40, 30 }, { g.nodes[#g.nodes].shape[1], g.nodes[#g.nodes].shape[2] })
    assert.are_not.same({ 40, 30, 1 }, input_shape(nn.load(T.root .. 'examples/edges.lua')))
  end)

  it('compiles an ONNX U-Net for a larger image, the batch axis given or not', function()
    local path = T.root .. 'tests/onnx/zoo/unet_transpose/model.onnx'
    assert.same({ 3, 64, 48 }, input_shape(nn.load(path, { input_shape = { 3, 64, 48 } })))
    assert.same({ 3, 64, 48 }, input_shape(nn.load(path, { input_shape = { input = { 1, 3, 64, 48 } } })))
  end)

  it('refuses a name for a Lua model and a value that is not a table', function()
    local _, text = T.catch(nn.load, T.root .. 'examples/edges.lua', { input_shape = { x = { 4, 4, 1 } } })
    assert.matches('a Lua model has one input', text, 1, true)
    _, text = T.catch(nn.load, T.root .. 'examples/edges.lua', { input_shape = '4,4,1' })
    assert.matches('option input_shape must be a list of sizes', text, 1, true)
  end)
end)
