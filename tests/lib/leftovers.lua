-- The generator's leftovers a generated C file must not hold (issue: generated SIMD C that
-- reads like hand-written C). Looks at the code only: comments, strings, preprocessor lines
-- and the weight arrays are not code a reader follows. Returns a list of findings, each
-- "what: the text", empty when the file is clean.

package.path = 'compiler/?.lua;' .. package.path
local tidy = require 'cnnc.emit.tidy'

local M = {}

-- pattern over the code (comments and strings blanked), description, optional check of the
-- captures (true: a finding).
M.PATTERNS = {
  { 'for %(int ([%w_]+) = (%d+); ([%w_]+) < (%d+); %+%+([%w_]+)%)', 'a loop of one iteration or none',
    function(v, a, v2, b, v3) return v == v2 and v == v3 and tonumber(b) <= tonumber(a) + 1 end },
  { '[%w_%)%]] %* 1%f[^%w%.]', 'a product with 1' },
  { '[%w_%)%]] / 1%f[^%w%.]', 'a quotient by 1' },
  { '[%w_%)%]] [%+%-] 0%f[^%w%.]', 'a sum with 0' },
  { '[%(%[,=]%s*0 %+ ', 'a sum with 0' },
  { '[%(%[,=]%s*1 %* ', 'a product with 1' },
  { 'sizeof%(float%) %* 0%f[^%w%.]', 'a copy or fill of zero floats' },
  { '[;{}]%s*([%w_%[%]%.%->]+) = ([%w_%[%]%.%->]+);', 'a self-assignment', function(a, b) return a == b end },
  { '%? ([%w_]+) : ([%w_]+)%f[^%w_]', 'a conditional with equal branches', function(a, b) return a == b end },
  { '%(float %*%) *[%w_]', 'a cast (that may drop const)' },
  { '[%[%(=,]%s*(%d+) [%*%+%-] (%d+) *[%]%);,]', 'arithmetic on literals left to the C compiler' },
}

-- The code of a C file: comments and strings blanked, preprocessor lines and weight arrays
-- (`static const float name[...] CNNC_ALIGNED = {...};`) left out.
function M.code(text)
  local parts = {}
  for _, tk in ipairs(tidy.lex(text)) do
    if tk.t == 'comment' or tk.t == 'pp' then parts[#parts + 1] = ' '
    elseif tk.t == 'str' then parts[#parts + 1] = '""'
    else parts[#parts + 1] = tk.s end
  end
  local code = table.concat(parts)
  code = code:gsub('static const float [%w_]+%[%d+%][^=]*= {[^}]*};', '')
  return code
end

-- Findings in C text (at most `limit`, default 10; of `patterns`, default M.PATTERNS).
function M.find(text, limit, patterns)
  local code = M.code(text)
  local out = {}
  for _, p in ipairs(patterns or M.PATTERNS) do
    -- one match: its start and end, then every capture (however many the pattern has);
    -- returns where to look next (matches may overlap: `a = a; b = b;` shares a `;`)
    local function match(start, _, ...)
      if not start then return nil end
      if not p[3] or p[3](...) then
        local line = code:sub(math.max(1, start - 40), start + 60):gsub('%s+', ' ')
        out[#out + 1] = p[2] .. ': ' .. line
      end
      return start + 1
    end
    local at = 1
    while at and #out < (limit or 10) do at = match(code:find(p[1], at)) end
    if #out >= (limit or 10) then return out end
  end
  return out
end

return M
