-- cnnc.ffi.common: how the experiments API reports a user's mistake.
--
-- Every function a script calls checks its arguments and raises a cnnc error (cnnc.util)
-- that names the script's own file and line (the first stack frame outside cnnc), the
-- function and the problem, e.g.
--   train.lua:12: net:predict: input has shape (28, 28) but model 'mnist' expects ...
-- so a mistake never surfaces as a traceback into cnnc's files. `check_opts` rejects
-- unknown option names with the list of valid ones.

local util = require 'cnnc.util'

local M = {}

-- The first stack frame outside cnnc's own files: where the script made the call.
function M.caller()
  for level = 3, 20 do
    local info = debug.getinfo(level, 'Sl')
    if not info then break end
    local src = info.short_src or '?'
    if not src:match('compiler/cnnc[/.]') and not src:match('^%[C%]') and info.what ~= 'C' then
      return { file = src, line = info.currentline }
    end
  end
  return {}
end

function M.fail(fmt, ...)
  util.fail(M.caller(), fmt, ...)
end

-- Raises the error of a `nil, err` pair (a cnnc error or a message) at the caller.
function M.raise(err)
  if util.is_error(err) then
    if not err.file then
      local where = M.caller()
      err.file, err.line = where.file, where.line
    end
    error(err, 0)
  end
  M.fail('%s', tostring(err))
end

-- Model files run in cnnc's sandbox (cnnc.sandbox: no io, os, ffi) yet see the same `cnnc`
-- table as scripts. The API's entry points that touch files, run the C compiler or load
-- libraries call this first, so a model file cannot reach them: code whose environment
-- cannot reach `io` is refused.
function M.refuse_in_model_file(what)
  for level = 3, 30 do
    local info = debug.getinfo(level, 'Sf')
    if not info then return end
    if info.what ~= 'C' and not (info.short_src or ''):match('compiler/cnnc[/.]') then
      local env = getfenv(info.func)
      local ok, io_lib = pcall(function() return env.io end)
      if not ok or io_lib == nil then
        M.fail('%s is not available in a model file (a model file describes a network; scripts load, '
          .. 'compile and run it)', what)
      end
      return
    end
  end
end

-- opts must be nil or a table whose keys are all in `valid` (a set); `what` names the call.
-- The bytes of file `path`; `what` names the call in the error.
function M.read_bytes(path, what)
  if type(path) ~= 'string' then M.fail('%s: expected a file name, got %s', what, type(path)) end
  local s, err = util.read_file(path)
  if not s then M.fail('%s: cannot read %s: %s', what, path, tostring(err)) end
  return s
end

-- Writes bytes to `path` atomically (temporary file, then rename); returns path.
function M.write_bytes(path, bytes, what)
  if type(path) ~= 'string' then M.fail('%s: expected a file name, got %s', what, type(path)) end
  local ok, err = util.write_file_atomic(path, bytes)
  if not ok then M.fail('%s: cannot write %s: %s', what, path, tostring(err)) end
  return path
end

function M.check_opts(opts, valid, what)
  if opts == nil then return {} end
  if type(opts) ~= 'table' then M.fail('%s: options must be a table, got %s', what, type(opts)) end
  for k in pairs(opts) do
    if not valid[k] then
      M.fail("%s: unknown option '%s' (valid: %s)", what, tostring(k),
        next(valid) and table.concat(util.sorted_keys(valid), ', ') or 'none here')
    end
  end
  return opts
end

return M
