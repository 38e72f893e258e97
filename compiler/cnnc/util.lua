-- cnnc.util: errors that name where they happened, shape formatting, small table helpers.
--
-- Every user-facing failure in the compiler is raised with `util.fail`, which throws a
-- structured error (a table with a message and, when known, the model file, line, layer
-- name and index). The driver catches these and turns them into `nil, err`; the CLI prints
-- them. A plain Lua string error that escapes is a bug in cnnc, never the user's fault.

local M = {}

local Error = {}
Error.__index = Error
Error.__tostring = function(e) return M.format_error(e) end
M.Error = Error

-- where: optional table {file=, line=, layer=, index=, kind=}; a node works too.
function M.fail(where, fmt, ...)
  local msg = select('#', ...) > 0 and string.format(fmt, ...) or fmt
  local e = setmetatable({ message = msg }, Error)
  if where then
    local loc = where.where or where
    e.file, e.line = loc.file, loc.line
    e.layer, e.index, e.kind = where.name, where.index, where.op
  end
  error(e, 0)
end

function M.is_error(e) return getmetatable(e) == Error end

-- The first stack frame outside cnnc's own files: where the user (a model file or a
-- script) wrote the call that is failing. Returns {file=, line=} or {}.
function M.caller_location()
  for level = 3, 12 do
    local info = debug.getinfo(level, 'Sl')
    if not info then break end
    local src = info.short_src or '?'
    if not src:match('compiler/cnnc[/.]') and not src:match('^%[C%]') then
      return { file = src, line = info.currentline }
    end
  end
  return {}
end

function M.format_error(e)
  if not M.is_error(e) then return tostring(e) end
  local parts = {}
  if e.file then parts[#parts + 1] = e.file .. (e.line and (':' .. e.line) or '') .. ':' end
  if e.layer then
    parts[#parts + 1] = string.format("layer '%s'%s%s:", e.layer,
      e.index and (' (#' .. e.index) or '', e.index and ((e.kind and (', ' .. e.kind) or '') .. ')') or '')
  end
  parts[#parts + 1] = e.message
  return table.concat(parts, ' ')
end

-- Runs f(...) and converts cnnc errors into nil, err. Other errors (bugs) propagate with
-- their traceback so they get reported, not disguised.
function M.try(f, ...)
  local args, n = { ... }, select('#', ...)
  local res
  local ok, err = xpcall(function() res = { f(unpack(args, 1, n)) } end, function(e)
    if M.is_error(e) or e == 'not enough memory' then return e end -- no traceback: it allocates
    return debug.traceback(tostring(e), 2)
  end)
  if ok then return unpack(res) end
  if M.is_error(err) then return nil, err end
  -- Running out of memory is the machine's limit, not a bug: say so, without a traceback.
  if err == 'not enough memory' then
    res, args = nil, nil
    collectgarbage()
    return nil, setmetatable({ message = 'ran out of memory (the model needs more than this process may use)' }, Error)
  end
  error(err, 0)
end

-- (28, 28, 1) as Keras prints shapes (without the batch dimension).
function M.shape_str(shape)
  local t = {}
  for i = 1, #shape do t[i] = tostring(shape[i]) end
  return '(' .. table.concat(t, ', ') .. (#shape == 1 and ',)' or ')')
end

-- 28x28x1, the compact form used in comments.
function M.shape_x(shape)
  local t = {}
  for i = 1, #shape do t[i] = tostring(shape[i]) end
  return table.concat(t, 'x')
end

-- A decimal C float literal that is always a float constant ("3.0f", not "3f").
function M.c_float(x)
  local s = string.format('%.9g', x)
  if not s:find('[.eEn]') then s = s .. '.0' end
  return s .. 'f'
end

function M.prod(t, from, to)
  local p = 1
  for i = from or 1, to or #t do p = p * t[i] end
  return p
end

-- C text of `a * n / d` (integer division) for a runtime a < d <= n, in long long when
-- a * n could overflow an int (a share of n items: part * n / parts).
function M.c_share(a, n, d)
  if n * n < 2 ^ 31 then return string.format('%s * %d / %s', a, n, d) end
  return string.format('(int)((long long)%s * %d / %s)', a, n, d)
end

-- `n noun` with the noun's plural (a trailing s) unless n is 1: count(1, 'band') is '1 band'.
function M.count(n, noun)
  return string.format('%d %s%s', n, noun, n == 1 and '' or 's')
end

function M.copy(t)
  if type(t) ~= 'table' then return t end
  local r = {}
  for k, v in pairs(t) do r[k] = v end
  return setmetatable(r, getmetatable(t))
end

function M.shape_eq(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

-- Keras's class-name to layer-name rule: Conv2D -> conv2d, MaxPooling2D -> max_pooling2d,
-- LeakyReLU -> leaky_re_lu.
function M.snake(name)
  local s = name:gsub('(.)(%u%l+)', '%1_%2')
  s = s:gsub('(%l)(%u)', '%1_%2')
  return s:lower()
end

-- Text safe inside a C block comment.
function M.c_comment(s)
  return (tostring(s):gsub('%*/', '* /'))
end

-- A C identifier made from a layer name: keeps letters, digits and underscores.
function M.c_ident(name)
  local s = name:gsub('[^%w_]', '_')
  if s:match('^%d') or s == '' then s = 'l_' .. s end
  return s
end

function M.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

function M.read_file(path)
  local f, err = io.open(path, 'rb')
  if not f then return nil, err end
  -- A regular file is read in one piece of its size (reading '*a' grows a buffer by
  -- doubling: twice the memory and copies, for a model file of hundreds of MB).
  -- (a directory opens, and seeks to a nonsense end: it goes the general way and fails)
  local size = f:seek('end')
  local s, rerr
  if size and size > 0 and size < 2 ^ 40 and f:seek('set', 0) then
    s, rerr = f:read(size)
    local more = s and f:read('*a')
    if more and more ~= '' then s = s .. more end
  else
    f:seek('set', 0)
    s, rerr = f:read('*a')
  end
  f:close()
  -- Reading a directory opens fine and then fails.
  if not s then return nil, rerr or 'cannot read it (is it a directory?)' end
  return s
end

-- Writes through a temporary file and a rename, so a failure never leaves half a file.
-- What a path names, following symbolic links: 'file', 'directory', 'special' (a device,
-- FIFO or socket) or nil (nothing, or not known); and the path with links resolved.
-- statx's record has the same layout on every Linux architecture.
local have_statx
local function path_kind(path)
  local ok, ffi = pcall(require, 'ffi')
  if not ok then return nil, path end
  if have_statx == nil then
    have_statx = pcall(ffi.cdef, [[
      int statx(int dirfd, const char *pathname, int flags, unsigned int mask, void *buf);
      char *realpath(const char *path, char *resolved);
      void free(void *p);
    ]]) and pcall(function() return ffi.C.statx end)
  end
  if not have_statx then return nil, path end
  local real = ffi.C.realpath(path, nil)
  if real ~= nil then
    path = ffi.string(real)
    ffi.C.free(real)
  end
  local buf = ffi.new('uint8_t[256]')
  if ffi.C.statx(-100, path, 0, 2, buf) ~= 0 then return nil, path end -- AT_FDCWD, STATX_MODE
  local fmt = require('bit').band(ffi.cast('uint16_t *', buf + 28)[0], 0xF000)
  if fmt == 0x8000 then return 'file', path end
  if fmt == 0x4000 then return 'directory', path end
  return 'special', path
end

-- What path is: 'file', 'directory', 'special' (a device, FIFO, ...) or nil (absent or
-- unknown), and the path with symbolic links resolved.
M.path_kind = path_kind

-- Replaces a regular file whole (a temporary file renamed over it, so a failed write
-- leaves the old one), following a symbolic link rather than replacing it; a device or
-- FIFO (/dev/null, /dev/stdout) is written in place, since a rename would replace it.
-- Content to write: a string, or {ptr = a cdata pointer, size = bytes} written in chunks (a
-- weight blob of hundreds of MB is never copied into one Lua string).
local CHUNK = 16 * 1024 * 1024
local function write_content(f, content)
  if type(content) == 'string' then return f:write(content) end
  local ffi = require 'ffi'
  local p = ffi.cast('const char *', content.ptr)
  for off = 0, content.size - 1, CHUNK do
    local ok, err = f:write(ffi.string(p + off, math.min(CHUNK, content.size - off)))
    if not ok then return nil, err end
    -- each chunk's string is garbage once written; collected now, since LuaJIT would let
    -- garbage grow to the size of everything live (a blob) before its next cycle
    if content.size > CHUNK then collectgarbage() end
  end
  return true
end

-- Does the file at path hold exactly content (as write_content takes it)?
local function same_content(path, content)
  if type(content) == 'string' then return M.read_file(path) == content end
  local f = io.open(path, 'rb')
  if not f then return false end
  local size = f:seek('end')
  if size ~= content.size then f:close(); return false end
  f:seek('set', 0)
  local ffi = require 'ffi'
  local p = ffi.cast('const char *', content.ptr)
  for off = 0, content.size - 1, CHUNK do
    local n = math.min(CHUNK, content.size - off)
    if f:read(n) ~= ffi.string(p + off, n) then f:close(); return false end
    if content.size > CHUNK then collectgarbage() end
  end
  f:close()
  return true
end

function M.write_file_atomic(path, content)
  local kind
  kind, path = path_kind(path)
  if kind == 'directory' then return nil, path .. ': Is a directory' end
  if kind == 'special' then
    local f, err = io.open(path, 'wb')
    if not f then return nil, err end
    local ok, werr = write_content(f, content)
    local cok = f:close()
    if not ok or not cok then return nil, werr or ('cannot write ' .. path) end
    return true
  end
  local tmp = path .. '.tmp' .. tostring(os.time()) .. tostring(math.random(1e9))
  local f, err = io.open(tmp, 'wb')
  if not f then return nil, err end
  local ok, werr = write_content(f, content)
  local cok = f:close()
  if not ok or not cok then
    os.remove(tmp)
    return nil, (werr or ('cannot write ' .. tmp))
  end
  local rok, rerr = os.rename(tmp, path)
  if not rok then os.remove(tmp); return nil, rerr end
  return true
end

-- Writes only when the content changed, so build timestamps stay stable.
function M.write_if_changed(path, content)
  if same_content(path, content) then return true end
  return M.write_file_atomic(path, content)
end

return M
