-- The tensor type of the experiments API (cnnc.Tensor): 64-byte alignment whatever the
-- size and dtype, 1-based checked element access, views that share memory, conversions
-- to and from Lua tables and between dtypes, and errors that name the caller.

local H = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'helper.lua')
local ffi = require 'ffi'
local cnnc = require 'cnnc'

describe('cnnc.Tensor', function()
  it('is 64-byte aligned and zero-filled for every size and dtype', function()
    local keep = {}
    for _, dtype in ipairs({ 'float32', 'float64', 'uint8', 'int32' }) do
      for n = 0, 70 do
        local t = cnnc.Tensor({ n }, dtype)
        keep[#keep + 1] = t
        assert.is_true(t:is_aligned(64), dtype .. ' ' .. n)
        assert.equal(0, tonumber(ffi.cast('uintptr_t', t.data) % 64))
        for i = 0, n - 1 do assert.equal(0, tonumber(t.data[i])) end
      end
      -- Small LuaJIT allocations in between must not disturb it.
      for _ = 1, 50 do keep[#keep + 1] = ffi.new('char[?]', 3) end
      assert.is_true(cnnc.Tensor({ 5, 3 }, dtype):is_aligned())
    end
  end)

  it('reads and writes elements by 1-based indices, row-major', function()
    local t = cnnc.Tensor({ 2, 3, 4 })
    t:set(2, 3, 4, 7.5)
    t:set(1, 2, 1, -1)
    assert.equal(7.5, t:get(2, 3, 4))
    assert.equal(7.5, t.data[23])
    assert.equal(-1, t.data[4])
    assert.equal(3, t:size(2))
    assert.equal(3, t:dim())
  end)

  it('checks indices and names the caller', function()
    local t = cnnc.Tensor({ 2, 3 })
    H.fails({ 'index 4 on axis 2', '1..3', '(2, 3)' }, function() return t:get(1, 4) end)
    H.fails({ '1 indices given', 'rank 2' }, function() return t:get(1) end)
    H.fails({ 'shape entry 2', 'non-negative integer' }, function() return cnnc.Tensor({ 2, -1 }) end)
    H.fails({ "unknown dtype 'int8'" }, function() return cnnc.Tensor({ 2 }, 'int8') end)
  end)

  it('slices a batch into views that share memory', function()
    local t = cnnc.Tensor({ 5, 2, 2 })
    for i = 0, t.n - 1 do t.data[i] = i end
    local s = t:slice(2, 4)
    assert.same({ 3, 2, 2 }, s.shape)
    assert.equal(4, s:get(1, 1, 1))
    s:set(1, 1, 1, 100)
    assert.equal(100, t:get(2, 1, 1))
    local item = t:item(5)
    assert.same({ 2, 2 }, item.shape)
    assert.equal(19, item:get(2, 2))
    H.fails({ 'rows 4..6 are outside 1..5' }, function() return t:slice(4, 6) end)
    assert.same({ 0, 2, 2 }, t:slice(3, 2).shape) -- an empty slice
  end)

  it('reshapes as a view, inferring one axis', function()
    local t = cnnc.Tensor({ 4, 6 })
    local r = t:reshape({ 2, -1, 3 })
    assert.same({ 2, 4, 3 }, r.shape)
    r.data[5] = 9
    assert.equal(9, t.data[5])
    H.fails({ 'holds 25 values', 'has 24' }, function() return t:reshape({ 5, 5 }) end)
  end)

  it('converts to and from Lua tables', function()
    local t = cnnc.from_table({ { 1, 2, 3 }, { 4, 5, 6 } })
    assert.same({ 2, 3 }, t.shape)
    assert.equal('float32', t.dtype)
    assert.same({ { 1, 2, 3 }, { 4, 5, 6 } }, t:totable())
    assert.same({ 1, 2 }, cnnc.from_table({ 1, 2 }, 'int32'):totable())
    H.fails({ 'ragged' }, function() return cnnc.from_table({ { 1, 2 }, { 3 } }) end)
  end)

  it('converts between dtypes and copies values', function()
    local u = cnnc.from_table({ 0, 51, 255 }, 'uint8')
    local f = u:astype('float32', 1 / 255)
    assert.near(0.2, f.data[1], 1e-7)
    assert.equal(1, f.data[2])
    local d = cnnc.Tensor({ 3 }, 'float64'):copy(f)
    assert.near(0.2, d.data[1], 1e-7)
    H.fails({ 'source has 3 values', 'this tensor 2' }, function() return cnnc.Tensor({ 2 }):copy(f) end)
    local c = f:clone()
    c.data[0] = 5
    assert.equal(0, f.data[0])
    assert.equal(0, f:range())
  end)

  it('prints its dtype and shape', function()
    assert.equal('cnnc.Tensor float32 (28, 28, 1)', tostring(cnnc.Tensor({ 28, 28, 1 })))
  end)
end)
