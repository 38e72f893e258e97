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
  local s, rerr = f:read('*a')
  f:close()
  -- Reading a directory opens fine and then fails.
  if not s then return nil, rerr or 'cannot read it (is it a directory?)' end
  return s
end

-- Writes through a temporary file and a rename, so a failure never leaves half a file.
function M.write_file_atomic(path, content)
  local tmp = path .. '.tmp' .. tostring(os.time()) .. tostring(math.random(1e9))
  local f, err = io.open(tmp, 'wb')
  if not f then return nil, err end
  local ok, werr = f:write(content)
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
  local old = M.read_file(path)
  if old == content then return true end
  return M.write_file_atomic(path, content)
end

return M
