-- The Functional API of the model language (cnnc.functional, cnnc.frontend): graphs,
-- names, shared layers, several inputs and outputs, and errors at the right line.
package.path = 'compiler/?.lua;' .. package.path
local nn = require 'cnnc'
local driver = require 'cnnc.driver'
local util = require 'cnnc.util'
local ir = require 'cnnc.ir'

local function err_of(f)
  local ok, e = pcall(f)
  assert.is_false(ok, 'expected an error')
  assert.is_true(util.is_error(e), tostring(e))
  return util.format_error(e)
end

local function typed(model)
  local r, err = driver.compile(model, { stop = 'shape' })
  if not r then error(err, 0) end
  return r.typed
end

local THIS = 'functional_spec.lua'

describe('Functional API', function()
  it('builds a DAG in call order with Keras names', function()
    local x = nn.Input{shape = {6, 6, 2}}
    local a = nn.Conv2D{3, 3, padding = 'same'}(x)
    local b = nn.Conv2D{3, 1}(x)
    local y = nn.Add{}{a, b}
    local g = typed(nn.Model{inputs = x, outputs = y, name = 'res'})
    assert.equal('res', g.name)
    assert.equal('input', g.input.name)
    local names = {}
    for i, n in ipairs(g.nodes) do names[i] = n.name .. '<' .. table.concat(n.inputs, ',') end
    assert.same({ 'conv2d<input', 'conv2d_1<input', 'add<conv2d,conv2d_1' }, names)
    assert.same({ 6, 6, 3 }, g.nodes[3].shape)
  end)

  it('keeps several inputs and outputs in the given order', function()
    local p = nn.Input{shape = {4}, name = 'p'}
    local q = nn.Input{shape = {3}, name = 'q'}
    local cat = nn.Concatenate{}{q, p}
    local y1 = nn.Dense{2, name = 'head'}(cat)
    local g = typed(nn.Model{inputs = {p, q}, outputs = {cat, y1}})
    local io = ir.io(g)
    assert.same({ 'p', 'q' }, { io.inputs[1].name, io.inputs[2].name })
    assert.same({ 'concatenate', 'head' }, { io.outputs[1].name, io.outputs[2].name })
    assert.same({ 7 }, io.outputs[1].shape)
  end)

  it('computes a shared layer once per call with one set of weights', function()
    local x1 = nn.Input{shape = {5}, name = 'x1'}
    local x2 = nn.Input{shape = {5}, name = 'x2'}
    local d = nn.Dense{4, name = 'shared'}
    local g = typed(nn.Model{inputs = {x1, x2}, outputs = nn.Add{}{d(x1), d(x2)}})
    local a, b = g.nodes[1], g.nodes[2]
    assert.equal('shared', a.name)
    assert.equal('shared_call2', b.name)
    assert.equal('shared', b.shares)
    assert.equal(ir.weight(a, 'kernel'), ir.weight(b, 'kernel'))
    assert.equal(0, require('cnnc.report').params(b))
  end)

  it('reports shape errors at the line of the call, naming the layer', function()
    local x = nn.Input{shape = {4, 4, 1}}
    local y = nn.Conv2D{2, 5}(x) -- this line
    local line = debug.getinfo(1, 'l').currentline - 1
    local e = err_of(function() typed(nn.Model{inputs = x, outputs = y}) end)
    assert.matches(THIS .. ':' .. line .. ": layer 'conv2d' %(#1, Conv2D%): window 5x5", e)
  end)

  it('refuses a shared layer called on inputs its weights do not fit', function()
    local x1 = nn.Input{shape = {5}, name = 'x1'}
    local x2 = nn.Input{shape = {6}, name = 'x2'}
    local d = nn.Dense{4, name = 'shared'}
    local e = err_of(function() typed(nn.Model{inputs = {x1, x2}, outputs = nn.Add{}{d(x1), d(x2)}}) end)
    assert.matches("calls the shared layer 'shared' on input %(6,%)", e)
  end)

  it('refuses graphs whose inputs and outputs do not fit together', function()
    local x = nn.Input{shape = {3}}
    local z = nn.Input{shape = {3}}
    local y = nn.Dense{2}(x)
    assert.matches('not in its inputs', err_of(function() typed(nn.Model{inputs = z, outputs = nn.Add{}{y, nn.Dense{2}(z), nn.Dense{2}(x)}}) end))
    assert.matches('no output depends on it', err_of(function() typed(nn.Model{inputs = {x, z}, outputs = y}) end))
    assert.matches('inputs must come from nn.Input', err_of(function() return nn.Model{inputs = y, outputs = y} end))
    assert.matches('Dense must be called on a model tensor', err_of(function() return nn.Dense{2}(42) end))
    assert.matches('input 2 of the Add call', err_of(function() return nn.Add{}{x, 'y'} end))
    assert.matches("Input has no option 'shap'", err_of(function() return nn.Input{shap = {3}} end))
    assert.matches('Add needs two or more inputs', err_of(function() typed(nn.Model{inputs = x, outputs = nn.Add{}(x)}) end))
    assert.matches("the name 'dup' is used by another layer",
      err_of(function() typed(nn.Model{inputs = x, outputs = nn.Dense{2, name = 'dup'}(nn.Dense{3, name = 'dup'}(x))}) end))
  end)

  it('shows the connections in cnnc summary', function()
    local x = nn.Input{shape = {6}}
    local y = nn.Add{}{nn.Dense{6}(x), x}
    local r = assert(driver.compile(nn.Model{inputs = x, outputs = y}, { stop = 'plan' }))
    local text = require('cnnc.summary').text(r)
    assert.matches('connected to', text)
    assert.matches('add%s+Add%s+%(6,%).-dense, input', text)
  end)
end)
