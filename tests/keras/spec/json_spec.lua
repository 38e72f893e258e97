-- cnnc.keras.json: the JSON Keras writes (Python's json module, TensorFlow.js).
package.path = 'compiler/?.lua;' .. package.path
local json = require 'cnnc.keras.json'

describe('json', function()
  it('decodes objects, arrays with nulls, numbers, strings and literals', function()
    local v = assert(json.decode(' {"a": [null, 28, 2.5e-3, -1E2], "s": "x\\u00e9\\n\\"", "t": true, "f": false, "n": 3} '))
    assert.is_true(json.is_array(v.a))
    assert.equal(4, v.a.n)
    assert.is_true(json.is_null(v.a[1]))
    assert.same({ 28, 0.0025, -100 }, { v.a[2], v.a[3], v.a[4] })
    assert.equal('x\195\169\n"', v.s)
    assert.is_true(v.t)
    assert.is_false(v.f)
    -- an object with a key "n" is no array (RepeatVector's config)
    assert.equal(3, v.n)
    assert.is_false(json.is_array(v))
  end)

  it("reads Python's NaN and infinities and surrogate pairs", function()
    local v = assert(json.decode('[NaN, Infinity, -Infinity, "\\ud83d\\ude00"]'))
    assert.is_true(v[1] ~= v[1])
    assert.equal(math.huge, v[2])
    assert.equal(-math.huge, v[3])
    assert.equal('\240\159\152\128', v[4])
  end)

  it('names the byte where the text stops being JSON', function()
    local cases = {
      { '{"a": 1,}', 'byte 9: expected a key' }, { '[1, 2', 'byte 6' }, { '{"a" 1}', "byte 6: expected ':'" },
      { '"abc', 'unterminated string' }, { '[1] x', 'text after the JSON value' }, { '', 'unexpected end' },
      { '"\\q"', 'bad escape' },
    }
    for _, c in ipairs(cases) do
      local v, err = json.decode(c[1])
      assert.is_nil(v)
      assert.matches(c[2], err, 1, true)
    end
  end)

  it('limits nesting', function()
    local v, err = json.decode(string.rep('[', 500) .. string.rep(']', 500))
    assert.is_nil(v)
    assert.matches('nested more than', err)
  end)
end)
