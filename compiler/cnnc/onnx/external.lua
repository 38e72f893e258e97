-- cnnc.onnx.external: tensor data kept outside the .onnx file.
--
-- A TensorProto whose data_location is EXTERNAL holds no values; its external_data
-- key/value entries say where they are (onnx/docs/ExternalData.md): "location", a file path
-- relative to the directory of the model file (required); "offset", the first byte (a
-- decimal string, default 0); "length", the byte count (default: to the end of the file).
-- "checksum" and any other key are ignored. The bytes are laid out as raw_data's are
-- (little-endian). Models over 2 GB must be saved this way, since a protobuf message cannot
-- be larger: torch.onnx.export does it by itself, onnx.save with save_as_external_data=True.
--
-- A location that is absolute, contains a `..` component or resolves (through symbolic
-- links) outside the model's directory is refused, as ONNX's own checker refuses it. Only
-- the tensor's own bytes are read, with C stdio straight into the memory that will hold its
-- values: a weight file of gigabytes never passes through Lua strings. This module checks
-- where the data is and how long; cnnc.onnx.model checks that length against the dims.

local ffi = require 'ffi'
local util = require 'cnnc.util'

local M = {}

-- (pcall: another module may have declared the same functions.)
for _, decl in ipairs({
  'void *fopen(const char *path, const char *mode);',
  'int fclose(void *f);',
  'size_t fread(void *ptr, size_t size, size_t n, void *f);',
  'int fseeko(void *f, int64_t offset, int whence);',
  'int64_t ftello(void *f);',
  'char *strerror(int errnum);',
}) do pcall(ffi.cdef, decl) end

local SEEK_SET, SEEK_END = 0, 2

-- A chunk of fread: bounded so that a failing read is noticed without a multi-GB call.
local CHUNK = 64 * 1024 * 1024

-- tp.external_data as a table key -> value (a later duplicate key wins, as in onnx's loader).
local function entries(tp)
  local t = {}
  for _, kv in ipairs(tp.external_data or {}) do t[kv[1]] = kv[2] end
  return t
end

-- The directory part of a path ('' for a file in the current directory).
local function dirname(path)
  return path:match('^(.*/)[^/]*$') or ''
end

-- A non-negative integer from a decimal string entry, or a cnnc error naming it.
local function count(loc, name, key, s)
  if s == nil then return nil end
  local v = s:match('^%s*(%d+)%s*$')
  if not v or #v > 15 then
    util.fail(loc, "%s: external_data '%s' is '%s', not a byte count", name, key, s)
  end
  return tonumber(v)
end

-- Where tensor proto tp's data is: {path = the data file, location = as written, offset =,
-- length =}. model_path: the file tp was read from (nil when it came from no file).
-- Checks that the file exists inside the model's directory and holds [offset, offset+length).
function M.locate(tp, model_path, name)
  local loc = { file = model_path }
  local e = entries(tp)
  local location = e.location
  if not location or location == '' then
    util.fail(loc, "%s keeps its data in an external file (data_location EXTERNAL), but its external_data names no 'location'", name)
  end
  if not model_path then
    util.fail(nil, "%s keeps its data in the external file '%s', which is found relative to the model file; this tensor came from no file",
      name, location)
  end
  if location:match('^/') or location:match('^\\') or location:match('^%a:[/\\]') then
    util.fail(loc, "%s: its external data location '%s' is an absolute path; ONNX allows only a path relative to the model's directory",
      name, location)
  end
  for part in location:gmatch('[^/\\]+') do
    if part == '..' then
      util.fail(loc, "%s: its external data location '%s' leaves the model's directory (a '..' component); ONNX allows only files inside it",
        name, location)
    end
  end
  local dir = dirname(model_path)
  local path = dir .. location
  local kind, real = util.path_kind(path)
  if kind == 'directory' or kind == 'special' then
    util.fail(loc, "%s: its external data file %s is not a regular file", name, path)
  end
  if kind == 'file' then
    -- a symbolic link inside the directory may still point out of it
    local _, real_dir = util.path_kind(dir == '' and '.' or dir)
    real_dir = real_dir:gsub('/$', '')
    if real:sub(1, #real_dir + 1) ~= real_dir .. '/' then
      util.fail(loc, "%s: its external data file %s resolves to %s, outside the model's directory %s", name, path, real, real_dir)
    end
  end
  local f = ffi.C.fopen(path, 'rb')
  if f == nil then
    util.fail(loc, "%s: cannot open its external data file %s: %s", name, path, ffi.string(ffi.C.strerror(ffi.errno())))
  end
  local size = (ffi.C.fseeko(f, 0, SEEK_END) == 0) and tonumber(ffi.C.ftello(f)) or -1
  ffi.C.fclose(f)
  if size < 0 then util.fail(loc, "%s: cannot find the size of its external data file %s", name, path) end
  local offset = count(loc, name, 'offset', e.offset) or 0
  local length = count(loc, name, 'length', e.length)
  if offset > size then
    util.fail(loc, "%s: its external data starts at byte %d of %s, which has only %d bytes", name, offset, path, size)
  end
  if length and offset + length > size then
    util.fail(loc, "%s: its external data is bytes %d to %d of %s, which has only %d bytes (a truncated file?)", name, offset,
      offset + length, path, size)
  end
  return { path = path, location = location, offset = offset, length = length or (size - offset), length_given = length ~= nil }
end

-- Reads ref.length bytes of the file M.locate found into dst (a pointer to as many bytes).
function M.read(ref, dst, name, model_path)
  local loc = { file = model_path }
  local f = ffi.C.fopen(ref.path, 'rb')
  if f == nil then
    util.fail(loc, "%s: cannot open its external data file %s: %s", name, ref.path, ffi.string(ffi.C.strerror(ffi.errno())))
  end
  local p = ffi.cast('char *', dst)
  local done = 0
  if ffi.C.fseeko(f, ref.offset, SEEK_SET) == 0 then
    while done < ref.length do
      local got = tonumber(ffi.C.fread(p + done, 1, math.min(CHUNK, ref.length - done), f))
      if got == 0 then break end
      done = done + got
    end
  end
  ffi.C.fclose(f)
  if done < ref.length then
    util.fail(loc, "%s: read only %d of the %d bytes at offset %d of its external data file %s (did it change?)", name, done,
      ref.length, ref.offset, ref.path)
  end
end

return M
