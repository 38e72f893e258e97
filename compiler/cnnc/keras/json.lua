-- cnnc.keras.json: a JSON decoder for Keras model configurations.
--
-- Objects become Lua tables, arrays Lua lists with their length in `n` and the metatable
-- M.Array, which tells them from an object with a key "n" (a JSON null is `M.null`, so
-- [null, 28, 28, 1] keeps its four entries), numbers Lua numbers, strings
-- Lua strings (UTF-8, \u escapes and surrogate pairs decoded). Python's json module writes
-- NaN, Infinity and -Infinity for non-finite floats; they are read too. Errors name the
-- byte where the text stops being JSON. Nesting is limited, so a hostile file cannot
-- exhaust the C stack.

local M = {}

M.null = setmetatable({}, { __tostring = function() return 'null' end })
M.MAX_DEPTH = 200

local function is_null(v) return v == M.null end
M.is_null = is_null

M.Array = {}
function M.is_array(v) return getmetatable(v) == M.Array end

local ESCAPES = { ['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f', n = '\n', r = '\r', t = '\t' }

local function utf8(cp)
  if cp < 0x80 then return string.char(cp) end
  if cp < 0x800 then return string.char(0xC0 + math.floor(cp / 64), 0x80 + cp % 64) end
  if cp < 0x10000 then
    return string.char(0xE0 + math.floor(cp / 4096), 0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
  end
  return string.char(0xF0 + math.floor(cp / 262144), 0x80 + math.floor(cp / 4096) % 64,
    0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
end

-- Decodes `text`; returns the value or nil, message.
function M.decode(text)
  local pos = 1
  local function fail(fmt, ...)
    error({ json = string.format('byte %d: ' .. fmt, pos, ...) }, 0)
  end
  local function skip()
    pos = text:find('[^ \t\r\n]', pos) or #text + 1
  end
  local value
  local function str()
    pos = pos + 1
    local parts = {}
    while true do
      local s, e = text:find('["\\%z\1-\31]', pos)
      if not s then fail('unterminated string') end
      parts[#parts + 1] = text:sub(pos, s - 1)
      local c = text:sub(s, s)
      pos = s + 1
      if c == '"' then break end
      if c ~= '\\' then pos = s; fail('control character in a string') end
      local esc = text:sub(pos, pos)
      if ESCAPES[esc] then
        parts[#parts + 1] = ESCAPES[esc]
        pos = pos + 1
      elseif esc == 'u' then
        local hex = text:match('^%x%x%x%x', pos + 1)
        if not hex then fail('bad \\u escape') end
        local cp = tonumber(hex, 16)
        pos = pos + 5
        if cp >= 0xD800 and cp <= 0xDBFF then
          local low = text:match('^\\u(%x%x%x%x)', pos)
          local lo = low and tonumber(low, 16)
          if lo and lo >= 0xDC00 and lo <= 0xDFFF then
            cp = 0x10000 + (cp - 0xD800) * 1024 + (lo - 0xDC00)
            pos = pos + 6
          end
        end
        parts[#parts + 1] = utf8(cp)
      else
        fail('bad escape \\%s', esc)
      end
    end
    return table.concat(parts)
  end
  local function number()
    local s = text:match('^-?%d+%.?%d*[eE]?[-+]?%d*', pos)
    if not s or s == '' or s == '-' then fail('bad number') end
    local v = tonumber(s)
    if not v then fail('bad number %s', s) end
    pos = pos + #s
    return v
  end
  local WORDS = { ['true'] = true, ['false'] = false, null = M.null, NaN = 0 / 0, Infinity = math.huge,
    ['-Infinity'] = -math.huge }
  function value(depth)
    if depth > M.MAX_DEPTH then fail('nested more than %d levels deep', M.MAX_DEPTH) end
    skip()
    local c = text:sub(pos, pos)
    if c == '{' then
      pos = pos + 1
      local t = {}
      skip()
      if text:sub(pos, pos) == '}' then pos = pos + 1; return t end
      while true do
        skip()
        if text:sub(pos, pos) ~= '"' then fail('expected a key (a string)') end
        local k = str()
        skip()
        if text:sub(pos, pos) ~= ':' then fail("expected ':'") end
        pos = pos + 1
        t[k] = value(depth + 1)
        skip()
        local d = text:sub(pos, pos)
        pos = pos + 1
        if d == '}' then return t end
        if d ~= ',' then pos = pos - 1; fail("expected ',' or '}'") end
      end
    elseif c == '[' then
      pos = pos + 1
      local t = setmetatable({ n = 0 }, M.Array)
      skip()
      if text:sub(pos, pos) == ']' then pos = pos + 1; return t end
      while true do
        t.n = t.n + 1
        t[t.n] = value(depth + 1)
        skip()
        local d = text:sub(pos, pos)
        pos = pos + 1
        if d == ']' then return t end
        if d ~= ',' then pos = pos - 1; fail("expected ',' or ']'") end
      end
    elseif c == '"' then
      return str()
    elseif c == '-' or c:match('%d') then
      if text:sub(pos, pos + 8) == '-Infinity' then pos = pos + 9; return -math.huge end
      return number()
    elseif c == '' then
      fail('unexpected end of the text')
    end
    for w, v in pairs(WORDS) do
      if text:sub(pos, pos + #w - 1) == w then pos = pos + #w; return v end
    end
    fail('unexpected character %q', c)
  end
  local ok, res = pcall(function()
    local v = value(0)
    skip()
    if pos <= #text then fail('text after the JSON value') end
    return v
  end)
  if ok then return res end
  if type(res) == 'table' and res.json then return nil, res.json end
  error(res, 0)
end

return M
