-- cnnc.template: C text with named holes, and the re-indenter that tidies the result.
--
-- Templates live in templates/*.c, cut into named sections by lines `//@ section_name`.
-- `render(text, vars)` replaces `$name` (or `${name}`) with vars[name]; a hole with no
-- value, or a value no hole uses, is an error in cnnc (never silently empty C). Holes
-- hold finished text; the templates carry no logic. `reindent` re-indents a whole C file
-- by brace depth, so neither templates nor emitters count spaces.

local M = {}

local function dir_of_this_file()
  local src = debug.getinfo(1, 'S').source:sub(2)
  return src:match('^(.*)/[^/]*$') or '.'
end

M.root = dir_of_this_file() .. '/../../templates'

local cache = {}

-- Sections of templates/<file> (.c unless another extension is given): name -> text.
function M.load(file)
  if cache[file] then return cache[file] end
  local path = M.root .. '/' .. (file:match('%.%a+$') and file or (file .. '.c'))
  local f = assert(io.open(path, 'rb'), 'cnnc: missing template file ' .. path)
  local text = f:read('*a')
  f:close()
  local sections, name, buf = {}, nil, {}
  local function flush()
    if name then
      -- Drop the blank lines that separate sections.
      while #buf > 0 and buf[#buf]:match('^%s*$') do buf[#buf] = nil end
      sections[name] = table.concat(buf, '\n')
    end
  end
  for line in (text .. '\n'):gmatch('(.-)\n') do
    local sec = line:match('^//@%s*([%w_]+)%s*$')
    if sec then
      flush()
      name, buf = sec, {}
    elseif name then
      buf[#buf + 1] = line
    end
  end
  flush()
  cache[file] = sections
  return sections
end

function M.render(text, vars, what)
  local used = {}
  local function fill(name)
    local v = vars[name]
    if v == nil then error(string.format('cnnc: template %s: no value for hole $%s', what or '?', name)) end
    used[name] = true
    return tostring(v)
  end
  -- A line holding only a hole that is empty disappears with it.
  local lines = {}
  for line in (text .. '\n'):gmatch('(.-)\n') do
    local only = line:match('^%s*%$([%a_][%w_]*)%s*$') or line:match('^%s*%${([%a_][%w_]*)}%s*$')
    if only and vars[only] == '' then
      used[only] = true
    else
      lines[#lines + 1] = line
    end
  end
  -- One pass, so text a hole inserts is never scanned for holes again.
  local out = table.concat(lines, '\n'):gsub('%$({?)([%a_][%w_]*)(}?)', function(open, name, close)
    if open == '{' then
      if close ~= '}' then error(string.format('cnnc: template %s: unclosed ${%s', what or '?', name)) end
      return fill(name)
    end
    return fill(name) .. close
  end)
  for k in pairs(vars) do
    if not used[k] then error(string.format('cnnc: template %s: value $%s is not used', what or '?', k)) end
  end
  return out
end

-- Renders section `section` of templates/<file>.c.
function M.section(file, section, vars)
  local t = M.load(file)[section]
  if not t then error(string.format('cnnc: template %s.c has no section %s', file, section)) end
  return M.render(t, vars, file .. '.c:' .. section)
end

-- Re-indents C by brace depth (4 spaces a level). Preprocessor lines stay at column 0;
-- block-comment continuation lines are aligned one space in; blank runs collapse to one.
function M.reindent(src)
  local out, depth, in_comment, blank = {}, 0, false, false
  for line in (src .. '\n'):gmatch('(.-)\n') do
    local s = line:match('^%s*(.-)%s*$')
    if s == '' then
      if not blank and #out > 0 then out[#out + 1] = '' end
      blank = true
    else
      blank = false
      if in_comment then
        out[#out + 1] = string.rep('    ', depth) .. (s:sub(1, 1) == '*' and ' ' or '   ') .. s
        if s:find('*/', 1, true) then in_comment = false end
      elseif s:sub(1, 1) == '#' then
        out[#out + 1] = s
      else
        -- Braces in strings, chars and comments do not count.
        local code = s:gsub('"[^"]*"', ''):gsub("'[^']*'", ''):gsub('/%*.-%*/', ''):gsub('//.*$', '')
        local starts_comment = code:find('/*', 1, true)
        if starts_comment then code = code:sub(1, starts_comment - 1) end
        -- extern "C" { wraps declarations without indenting them.
        if s:match('^extern "C" {') then code = '' end
        local opens = select(2, code:gsub('{', ''))
        local closes = select(2, code:gsub('}', ''))
        local lead = code:match('^}+')
        local d = depth - (lead and #lead or 0)
        if s:match('^case ') or s:match('^default:') then d = d - 1 end
        out[#out + 1] = string.rep('    ', math.max(d, 0)) .. s
        depth = math.max(depth + opens - closes, 0)
        if starts_comment and not s:find('*/', starts_comment, true) then in_comment = true end
      end
    end
  end
  while #out > 0 and out[#out] == '' do out[#out] = nil end
  return table.concat(out, '\n') .. '\n'
end

return M
