-- cnnc.sandbox: runs a Lua model file as data, not as a program.
--
-- A model file sees only the model language (`require 'cnnc'`, nothing else) and pure
-- helpers: the math, string and table libraries (without string.dump), assert, error,
-- ipairs, pairs, next, select, tonumber, tostring, type, unpack, pcall, rawequal, rawget,
-- rawset, setmetatable and print. No io, os, debug, ffi, jit, package, load,
-- loadstring, dofile, loadfile or getmetatable; binary (bytecode) chunks are refused. It
-- runs under a budget of interpreted instructions and of memory, so an endless loop or a
-- runaway allocation ends with an error naming the file. The model language's own
-- functions run outside the budget's accounting only in the sense that LuaJIT may compile
-- them; the file's own code is kept in the interpreter so the budget always sees it.

local util = require 'cnnc.util'

local M = {}

M.INSTRUCTION_BUDGET = 200e6   -- about a second of interpreted Lua
M.MEMORY_BUDGET_KB = 512 * 1024

local function copy_lib(lib, drop)
  local t = {}
  for k, v in pairs(lib) do
    if not (drop and drop[k]) then t[k] = v end
  end
  return t
end

-- Names a model file might reach for that are withheld on purpose.
local WITHHELD = {
  io = true, os = true, debug = true, ffi = true, jit = true, package = true, load = true,
  loadstring = true, loadfile = true, dofile = true, getmetatable = true, collectgarbage = true,
  module = true, getfenv = true, setfenv = true, newproxy = true, xpcall = true, bit = true,
}

-- What a model file sees of `require 'cnnc'`: the layer constructors, Sequential, Input, Model and the
-- kernel library, read-only; not the scripting API (loading, compiling, file formats).
local function model_language(path)
  local nn = require 'cnnc'
  local allowed = { Sequential = true, Input = true, Model = true, kernels = true, is_model = true, _VERSION = true }
  for _, kind in ipairs(require('cnnc.registry').names) do allowed[kind] = true end
  return setmetatable({}, {
    __index = function(_, k)
      if allowed[k] then return nn[k] end
      local v = rawget(nn, k)
      if v ~= nil then
        util.fail({ file = path }, "nn.%s is not available in a model file (it is for scripts that load, compile "
          .. "and run models)", tostring(k))
      end
      return nn[k] -- unknown names: the model language's own error with suggestions
    end,
    __newindex = function(_, k)
      util.fail({ file = path }, 'a model file cannot change the model language (assigning nn.%s)', tostring(k))
    end,
  })
end

local function environment(path, state)
  local nn = model_language(path)
  -- pcall that cannot swallow an exhausted budget.
  local function guarded_pcall(f, ...)
    local r = { pcall(f, ...) }
    if state.exceeded then error(state.exceeded, 0) end
    return unpack(r)
  end
  local env = {
    assert = assert, error = error, ipairs = ipairs, pairs = pairs, next = next, select = select,
    tonumber = tonumber, tostring = tostring, type = type, unpack = unpack, pcall = guarded_pcall,
    rawequal = rawequal, rawget = rawget, rawset = rawset, setmetatable = setmetatable, print = print,
    math = copy_lib(math), string = copy_lib(string, { dump = true }), table = copy_lib(table),
  }
  env.require = function(name)
    if name == 'cnnc' then return nn end
    util.fail({ file = path }, "a model file may only require 'cnnc', not '%s'", tostring(name))
  end
  env._G = env
  setmetatable(env, { __index = function(_, k)
    if WITHHELD[k] then
      error(string.format("'%s' is not available in a model file (a model file describes a network; "
        .. "see README: what a model file may do)", tostring(k)), 2)
    end
  end })
  return env
end

-- Loads and runs the model file at path; returns what it returns. Fails (util.fail) with a
-- message naming the file on syntax errors, runtime errors, forbidden operations and
-- exhausted budgets.
function M.run(path)
  local src, rerr = util.read_file(path)
  if not src then util.fail({ file = path }, 'cannot read model file: %s', tostring(rerr)) end
  if src:sub(1, 1) == '\27' then
    util.fail({ file = path }, 'is a precompiled (bytecode) chunk; model files must be Lua source')
  end
  local chunk, err = loadstring(src, '@' .. path)
  if not chunk then util.fail({ file = path }, 'cannot load model file: %s', err) end
  local state = {}
  setfenv(chunk, environment(path, state))
  jit.off(chunk, true)
  local used = 0
  local step = 10000
  debug.sethook(function()
    used = used + step
    if used > M.INSTRUCTION_BUDGET then
      state.exceeded = string.format('ran more than %d million instructions (an endless loop?)', M.INSTRUCTION_BUDGET / 1e6)
    elseif collectgarbage('count') > M.MEMORY_BUDGET_KB then
      collectgarbage()
      if collectgarbage('count') > M.MEMORY_BUDGET_KB then
        state.exceeded = string.format('uses more than %d MB of memory', M.MEMORY_BUDGET_KB / 1024)
      end
    end
    -- Raised again at every count once exceeded; the file's pcall re-raises it too.
    if state.exceeded then error(state.exceeded, 0) end
  end, '', step)
  local ok, res = pcall(chunk)
  debug.sethook()
  if state.exceeded then util.fail({ file = path }, 'the model file %s', state.exceeded) end
  if not ok then
    if util.is_error(res) then error(res, 0) end
    local msg = tostring(res)
    if msg:match('not enough memory') then msg = 'ran out of memory' end
    util.fail({ file = path }, 'the model file raised an error: %s', msg)
  end
  return res
end

return M
