-- Shared helpers for the Lua specs (not a spec itself: busted runs only *_spec.lua).
--
-- Every spec starts with
--   local T = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'testutil.lua')
-- which puts compiler/ on package.path (so the specs also run without --lpath) and returns
-- this table: compile helpers that fail loudly, error capture, deterministic inputs and
-- numeric comparisons.

local here = debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './'
local root = here .. '../../'
if not package.path:find(root .. 'compiler/?.lua', 1, true) then
  package.path = root .. 'compiler/?.lua;' .. package.path
end

local T = { root = root, here = here }

local nn = require 'cnnc'
local driver = require 'cnnc.driver'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

T.nn, T.driver, T.tensor, T.util = nn, driver, tensor, util

-- Compiles and fails the test (with the formatted cnnc error) when compilation fails.
function T.compile(model, opts)
  local r, err = driver.compile(model, opts)
  if not r then error('compile failed: ' .. util.format_error(err), 2) end
  return r
end

-- Compiles expecting a cnnc error; returns the error and its formatted text.
function T.compile_error(model, opts)
  local r, err = driver.compile(model, opts)
  if r then error('expected a compile error, but compilation succeeded', 2) end
  assert(util.is_error(err), 'error is not a structured cnnc error: ' .. tostring(err))
  return err, util.format_error(err)
end

-- Runs f expecting it to raise; returns the error value and its text.
function T.catch(f, ...)
  local ok, err = pcall(f, ...)
  if ok then error('expected an error, but the call succeeded', 2) end
  return err, util.is_error(err) and util.format_error(err) or tostring(err)
end

-- A deterministic tensor of the given shape: values in about [-1, 1], none exactly zero.
function T.input(shape, phase)
  local t = tensor.new(shape, 'float')
  phase = phase or 0
  for i = 0, t.n - 1 do
    t.data[i] = math.sin(0.7 * i + 0.3 + phase) * 0.9 + 0.05 * math.cos(1.3 * i)
  end
  return t
end

-- Largest relative difference between two tensors (relative to max(|a|, |b|, 1)).
function T.max_rel_diff(a, b)
  assert(a.n == b.n, string.format('sizes differ: %d vs %d', a.n, b.n))
  local m = 0
  for i = 0, a.n - 1 do
    local x, y = tonumber(a.data[i]), tonumber(b.data[i])
    local d = math.abs(x - y) / math.max(math.abs(x), math.abs(y), 1)
    if d > m then m = d end
  end
  return m
end

function T.node(g, name)
  for _, n in ipairs(g.nodes) do
    if n.name == name then return n end
  end
end

function T.node_names(g)
  local t = {}
  for i, n in ipairs(g.nodes) do t[i] = n.name end
  return t
end

function T.weight(n, name)
  for _, w in ipairs(n.weights or {}) do
    if w.name == name then return w.tensor end
  end
end

-- Copies a tensor's values into a Lua list (1-based), for comparisons after a pass.
function T.values(t)
  local v = {}
  for i = 0, t.n - 1 do v[i + 1] = tonumber(t.data[i]) end
  return v
end

-- The raw bytes of a float32 tensor.
function T.bytes(t)
  local ffi = require 'ffi'
  assert(t.ctype == 'float')
  return ffi.string(t.data, 4 * t.n)
end

-- The line this function is called from (for location checks).
function T.line() return debug.getinfo(2, 'l').currentline end

function T.count(haystack, needle)
  local n, pos = 0, 1
  while true do
    local s, e = haystack:find(needle, pos, true)
    if not s then return n end
    n, pos = n + 1, e + 1
  end
end

-- A node for a graph made by the frontend, built from a layer object of the model
-- language, for tests that need a DAG (Sequential only makes chains).
function T.extra_node(layer, name, inputs, index)
  local registry = require 'cnnc.registry'
  local entry = registry.kinds[layer.kind]
  return {
    name = name, op = layer.kind, layer = entry.module, rank = entry.spec.rank, p = layer.p,
    inputs = inputs, where = layer.where, index = index, epilogue = {}, fused = {},
  }
end

-- A fresh temporary directory (removed by T.rmdir).
function T.tmpdir()
  local base = os.tmpname()
  os.remove(base)
  local dir = base .. '.cnnc_spec'
  os.execute("mkdir -p '" .. dir .. "'")
  local f = io.open(dir .. '/.probe', 'wb')
  assert(f, 'cannot create temp dir ' .. dir)
  f:close()
  os.remove(dir .. '/.probe')
  return dir
end

function T.rmdir(dir)
  assert(dir:match('%.cnnc_spec$'), 'refusing to remove ' .. dir)
  os.execute("rm -rf '" .. dir .. "'")
end

function T.write(path, bytes)
  local f = assert(io.open(path, 'wb'))
  f:write(bytes)
  f:close()
end

return T
