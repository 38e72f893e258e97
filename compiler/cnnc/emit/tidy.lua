-- cnnc.emit.tidy: folds constants and drops dead statements in generated C text.
--
-- Templates and kernels are written for any size, so a particular layer leaves leftovers:
-- loops of one iteration, `* 1`, `+ 0`, `2 * 16`, memsets of zero bytes, `y[c] = y[c];`,
-- `last ? 1 : 1`. This pass rewrites the text of the layer functions and the forward
-- function (not the weights) as a C programmer would have written it for these sizes,
-- without changing what it computes:
--   expressions  integer literals combined (`2 * 16` -> `32`, `4 == 4` -> `1`) where C's
--                precedence and left-to-right grouping allow it; `x * 1`, `x / 1`, `1 * x`,
--                `x + 0`, `x - 0`, `0 + x` reduced to x; `(5)` to 5; a conditional whose
--                condition is a literal, or whose branches are the same token, to its value
--   statements   `for (int v = a; v < a + 1; ++v) { ... }` becomes a block with v
--                replaced by a, and `for (...) statement;` that statement (unless the body
--                has a break or continue of this loop or changes v); a loop that never
--                runs goes (where no statement must stay: not as the body of an `if`);
--                `const int x = 5;` is propagated through the rest of its block;
--                memset/memcpy of zero floats, self-assignments, empty loops and empty
--                blocks go
-- It works on tokens (comments, strings and preprocessor lines are left alone) and only
-- on integer literals, so no floating-point result can change: `x + 0` is reduced only
-- where x is an index or pointer expression, as the emitters write float arithmetic with
-- float literals (`0.0f`).

local M = {}

-- Tokens ------------------------------------------------------------------------------

local OPS = { '<<=', '>>=', '...', '->', '++', '--', '<<', '>>', '<=', '>=', '==', '!=', '&&', '||', '+=', '-=',
  '*=', '/=', '%=', '&=', '|=', '^=' }

-- A list of {t = kind, s = text}; kinds: ws, comment, pp (a preprocessor line), id, int (a
-- decimal integer literal without suffix), num (any other number), str, op.
local function lex(src)
  local toks, i, n = {}, 1, #src
  local line_start = true
  while i <= n do
    local c = src:sub(i, i)
    local j, kind
    if c:match('%s') then
      j = src:find('[^%s]', i) or n + 1
      kind = 'ws'
      if src:sub(i, j - 1):find('\n') then line_start = true end
      toks[#toks + 1] = { t = kind, s = src:sub(i, j - 1) }
      i = j
    else
      if c == '#' and line_start then
        j = i
        repeat
          local e = src:find('\n', j) or n + 1
          local continued = src:sub(e - 1, e - 1) == '\\'
          j = e + 1
        until not continued or j > n
        j = math.min(j - 1, n + 1)
        kind = 'pp'
      elseif src:sub(i, i + 1) == '/*' then
        local e = src:find('*/', i + 2, true)
        j, kind = (e and e + 2 or n + 1), 'comment'
      elseif src:sub(i, i + 1) == '//' then
        j, kind = (src:find('\n', i) or n + 1), 'comment'
      elseif c == '"' or c == "'" then
        j = i + 1
        while j <= n and src:sub(j, j) ~= c do
          if src:sub(j, j) == '\\' then j = j + 1 end
          j = j + 1
        end
        j, kind = j + 1, 'str'
      elseif c:match('[%a_]') then
        j, kind = (src:find('[^%w_]', i) or n + 1), 'id'
      elseif c:match('%d') or (c == '.' and src:sub(i + 1, i + 1):match('%d')) then
        if src:match('^0[xX]', i) then
          j = src:find('[^%x%.]', i + 2) or n + 1
          if src:sub(j, j):match('[pP]') then
            j = j + 1
            if src:sub(j, j):match('[+-]') then j = j + 1 end
            j = src:find('[^%d]', j) or n + 1
          end
        else
          j = src:find('[^%d%.]', i) or n + 1
          if src:sub(j, j):match('[eE]') then
            j = j + 1
            if src:sub(j, j):match('[+-]') then j = j + 1 end
            j = src:find('[^%d]', j) or n + 1
          end
        end
        j = src:find('[^fFlLuU]', j) or n + 1
        local s = src:sub(i, j - 1)
        kind = (s == '0' or s:match('^[1-9]%d*$')) and 'int' or 'num'
      else
        kind, j = 'op', i + 1
        for _, op in ipairs(OPS) do
          if src:sub(i, i + #op - 1) == op then j = i + #op; break end
        end
      end
      toks[#toks + 1] = { t = kind, s = src:sub(i, j - 1) }
      line_start = false
      i = j
    end
  end
  return toks
end

local function render(toks)
  local out = {}
  for i, tk in ipairs(toks) do out[i] = tk.s end
  return table.concat(out)
end

-- Navigation over the significant tokens (not whitespace, comments, preprocessor lines).
local SKIP = { ws = true, comment = true, pp = true, gone = true }
local function next_sig(toks, i)
  i = i + 1
  while toks[i] and SKIP[toks[i].t] do i = i + 1 end
  return toks[i] and i or nil
end
local function prev_sig(toks, i)
  i = i - 1
  while i >= 1 and SKIP[toks[i].t] do i = i - 1 end
  return i >= 1 and i or nil
end
local function sig(toks, i) return i and toks[i] and toks[i].s or '' end

-- Removes tokens a..b (significant ones and what lies between them), and the whitespace
-- before a (so `x * 1` loses ` * 1`).
local function drop(toks, a, b, keep_space)
  for k = a, b do
    if toks[k].t ~= 'comment' and toks[k].t ~= 'pp' then toks[k] = { t = 'gone', s = '' } end
  end
  if not keep_space and toks[a - 1] and toks[a - 1].t == 'ws' and not toks[a - 1].s:find('\n') then
    toks[a - 1] = { t = 'gone', s = '' }
  end
end

-- Removes a whole statement a..b; its line goes if nothing else is left on it.
local function drop_statement(toks, a, b)
  for k = a, b do
    if toks[k].t ~= 'pp' then toks[k] = { t = 'gone', s = '' } end
  end
  toks[a] = { t = 'gone', s = '\1' }
end

local function set(toks, i, s, t) toks[i] = { t = t or 'int', s = s } end

-- The index of the token closing the bracket opened at i.
local function closing(toks, i)
  local open = toks[i].s
  local close = ({ ['('] = ')', ['['] = ']', ['{'] = '}' })[open]
  local depth = 0
  for k = i, #toks do
    local tk = toks[k]
    if tk.t == 'op' then
      if tk.s == open then depth = depth + 1 elseif tk.s == close then
        depth = depth - 1
        if depth == 0 then return k end
      end
    end
  end
end

-- Expressions ---------------------------------------------------------------------------

local TYPES = { int = true, float = true, long = true, unsigned = true, double = true, char = true, vf = true }

local function is_operand(tk)
  return tk and (tk.t == 'id' or tk.t == 'int' or tk.t == 'num' or tk.t == 'str' or tk.s == ')' or tk.s == ']')
end
local KEYWORDS = { ['return'] = true, ['case'] = true, ['sizeof'] = true, ['if'] = true, ['for'] = true,
  ['while'] = true, ['switch'] = true, ['else'] = true, ['do'] = true }
-- Tokens after which an expression starts at the lowest precedence.
local OPENERS = { ['('] = true, ['['] = true, [','] = true, ['='] = true, ['?'] = true, [':'] = true,
  [';'] = true, ['{'] = true, ['}'] = true, ['&&'] = true, ['||'] = true, ['return'] = true,
  ['+='] = true, ['-='] = true, ['*='] = true, ['/='] = true, ['%='] = true }
local COMPARE = { ['<'] = true, ['>'] = true, ['<='] = true, ['>='] = true, ['=='] = true, ['!='] = true }
-- Tokens before which an additive expression ends.
local ADD_END = { [')'] = true, [']'] = true, [','] = true, [';'] = true, ['?'] = true, [':'] = true,
  ['+'] = true, ['-'] = true, ['&&'] = true, ['||'] = true, ['<<'] = true, ['>>'] = true, ['&'] = true,
  ['|'] = true, ['^'] = true, ['}'] = true }
for k in pairs(COMPARE) do ADD_END[k] = true end
local MUL = { ['*'] = true, ['/'] = true, ['%'] = true }

local function opens(tk)
  return tk == nil or (tk.t == 'op' and OPENERS[tk.s]) or (tk.t == 'id' and tk.s == 'return')
    or (tk.t == 'op' and COMPARE[tk.s])
end

local function fits(v) return v == math.floor(v) and v > -2 ^ 31 and v < 2 ^ 31 end

-- One expression rewrite at significant token i; true if something changed.
local function expr_at(toks, i)
  local tk = toks[i]
  local p = prev_sig(toks, i)
  local ptk = p and toks[p]
  if tk.t == 'int' then
    local o = next_sig(toks, i)
    local b = o and next_sig(toks, o)
    local otk, btk = o and toks[o], b and toks[b]
    local after = b and next_sig(toks, b)
    local atk = after and toks[after]
    -- A op B
    if otk and btk and btk.t == 'int' and otk.t == 'op' then
      local A, B, op = tonumber(tk.s), tonumber(btk.s), otk.s
      local unary_before = ptk and ptk.t == 'op' and (ptk.s == '-' or ptk.s == '+')
        and not is_operand(toks[prev_sig(toks, p) or 0])
      local r
      if MUL[op] and not (ptk and ptk.t == 'op' and MUL[ptk.s]) and not unary_before
          and not (atk and (atk.s == '[' or atk.s == '(')) then
        if op == '*' then r = A * B
        elseif B ~= 0 and A >= 0 and B > 0 then r = op == '/' and math.floor(A / B) or A % B end
      elseif (op == '+' or op == '-') and opens(ptk) and not (atk and (MUL[atk.s] or atk.s == '[' or atk.s == '(')) then
        r = op == '+' and A + B or A - B
      elseif COMPARE[op] and opens(ptk) and not COMPARE[ptk and ptk.s or ''] and (not atk or ADD_END[atk.s])
          and not (atk and (atk.s == '+' or atk.s == '-' or MUL[atk.s])) then
        local t = { ['<'] = A < B, ['>'] = A > B, ['<='] = A <= B, ['>='] = A >= B, ['=='] = A == B, ['!='] = A ~= B }
        r = t[op] and 1 or 0
      end
      if r and fits(r) then
        if r < 0 then return false end
        set(toks, i, tostring(r))
        drop(toks, i + 1, b, true)
        return true
      end
    end
    -- (N)
    if ptk and ptk.s == '(' and otk and otk.s == ')' then
      local pp = prev_sig(toks, p)
      local pptk = pp and toks[pp]
      if not (pptk and (pptk.t == 'id' or pptk.s == ')' or pptk.s == ']')) then
        drop(toks, p, p, true)
        drop(toks, o, o, true)
        return true
      end
    end
    -- N ? X : Y with a literal condition
    if otk and otk.s == '?' and opens(ptk) and not COMPARE[ptk and ptk.s or ''] then
      local x = next_sig(toks, o)
      local colon = x and next_sig(toks, x)
      local y = colon and next_sig(toks, colon)
      local e = y and next_sig(toks, y)
      if x and sig(toks, colon) == ':' and y and is_operand(toks[x]) and toks[x].t ~= 'op' and toks[y].t ~= 'op'
          and (not e or ADD_END[toks[e].s] or toks[e].s == ';') and toks[e].s ~= '?' then
        local keep = tonumber(tk.s) ~= 0 and x or y
        toks[i] = toks[keep]
        drop(toks, i + 1, y, true)
        return true
      end
    end
    -- 1 * X
    if tk.s == '1' and otk and otk.s == '*' and not is_operand(ptk) and not (ptk and (ptk.s == '/' or ptk.s == '%')) then
      drop(toks, i, o, true)
      local n = next_sig(toks, o)
      if toks[n - 1] and toks[n - 1].t == 'ws' then toks[n - 1] = { t = 'gone', s = '' } end
      return true
    end
    -- 0 + X
    if tk.s == '0' and otk and otk.s == '+' and opens(ptk) and not COMPARE[ptk and ptk.s or ''] then
      drop(toks, i, o, true)
      local n = next_sig(toks, o)
      if toks[n - 1] and toks[n - 1].t == 'ws' then toks[n - 1] = { t = 'gone', s = '' } end
      return true
    end
  end
  -- (x): parentheses around one identifier or number that are not a call or a cast
  if tk.t == 'op' and tk.s == '(' and not (ptk and (ptk.t == 'id' or ptk.s == ')' or ptk.s == ']')) then
    local x = next_sig(toks, i)
    local c = x and next_sig(toks, x)
    local after = c and next_sig(toks, c)
    if c and toks[c].s == ')' and (toks[x].t == 'id' or toks[x].t == 'num') and not TYPES[toks[x].s]
        and not (toks[after] and (toks[after].t == 'id' or toks[after].t == 'int' or toks[after].t == 'num'
          or toks[after].s == '(')) then
      drop(toks, i, i, true)
      drop(toks, c, c, true)
      return true
    end
  end
  -- [(e)]: parentheses around a whole index
  if tk.t == 'op' and tk.s == '(' and ptk and ptk.s == '[' then
    local c = closing(toks, i)
    if c and sig(toks, next_sig(toks, c)) == ']' then
      drop(toks, i, i, true)
      drop(toks, c, c, true)
      return true
    end
  end
  -- X * 1, X / 1, X + 0, X - 0 (binary operators: an operand before them)
  if tk.t == 'op' and is_operand(ptk) then
    local b = next_sig(toks, i)
    local btk = b and toks[b]
    local after = b and next_sig(toks, b)
    local atk = after and toks[after]
    if btk and btk.t == 'int' and not (atk and (atk.s == '[' or atk.s == '(')) then
      if (tk.s == '*' or tk.s == '/') and btk.s == '1' then
        drop(toks, i, b)
        return true
      end
      if (tk.s == '+' or tk.s == '-') and btk.s == '0' and (not atk or ADD_END[atk.s]) then
        drop(toks, i, b)
        return true
      end
    end
    -- C ? X : X with a single-token condition and equal single-token branches
    if tk.s == '?' and ptk.t == 'id' and opens(toks[prev_sig(toks, p) or 0]) then
      local x = next_sig(toks, i)
      local colon = x and next_sig(toks, x)
      local y = colon and next_sig(toks, colon)
      if y and sig(toks, colon) == ':' and toks[x].t ~= 'op' and toks[x].s == toks[y].s then
        local e = next_sig(toks, y)
        if not e or ADD_END[toks[e].s] or toks[e].s == ';' then
          toks[p] = toks[x]
          drop(toks, i, y)
          return true
        end
      end
    end
  end
  return false
end

-- Statements ----------------------------------------------------------------------------

-- Does the range hold the identifier v assigned, incremented or declared?
local ASSIGN = { ['='] = true, ['+='] = true, ['-='] = true, ['*='] = true, ['/='] = true, ['%='] = true,
  ['++'] = true, ['--'] = true }
local function touched(toks, a, b, v)
  for k = a, b do
    if toks[k].t == 'id' and toks[k].s == v then
      local n, p = next_sig(toks, k), prev_sig(toks, k)
      if (n and ASSIGN[toks[n].s]) or (p and (toks[p].s == '++' or toks[p].s == '--' or TYPES[toks[p].s]
          or toks[p].s == '&')) then
        return true
      end
      if p and toks[p].s == ',' then
        -- a later declarator of a declaration: `int a = 0, v = 1;`
        local q = p
        while q and toks[q].s ~= ';' and toks[q].s ~= '{' and toks[q].s ~= '}' and toks[q].s ~= '(' do
          if TYPES[toks[q].s] then return true end
          q = prev_sig(toks, q)
        end
      end
    end
  end
  return false
end

local function substitute(toks, a, b, v, value)
  for k = a, b do
    if toks[k].t == 'id' and toks[k].s == v then
      local p = prev_sig(toks, k)
      if not (p and (toks[p].s == '.' or toks[p].s == '->')) then set(toks, k, value) end
    end
  end
end

-- `for ( int v = A ; v < B ; ++ v )` (or `v += S`) at i: returns v, A, B, S, the index of
-- the token after `)`.
local function simple_for(toks, i)
  local seq, k = {}, i
  for n = 1, 14 do
    k = n == 1 and i or next_sig(toks, k)
    if not k then return nil end
    seq[n] = toks[k]
    seq[n].i = k
    if seq[n].s == ')' then break end
  end
  local s = function(n) return seq[n] and seq[n].s end
  if not (s(1) == 'for' and s(2) == '(' and s(3) == 'int' and seq[4] and seq[4].t == 'id' and s(5) == '='
      and seq[6] and seq[6].t == 'int' and s(7) == ';' and s(8) == s(4) and s(9) == '<' and seq[10]
      and seq[10].t == 'int' and s(11) == ';') then
    return nil
  end
  local v, A, B = s(4), tonumber(s(6)), tonumber(s(10))
  local step, close
  if s(12) == '++' and s(13) == v and s(14) == ')' then step, close = 1, seq[14].i
  elseif s(12) == v and s(13) == '++' and s(14) == ')' then step, close = 1, seq[14].i
  else
    -- v += S )
    local k2 = seq[11].i
    local a1 = next_sig(toks, k2)
    local a2 = a1 and next_sig(toks, a1)
    local a3 = a2 and next_sig(toks, a2)
    local a4 = a3 and next_sig(toks, a3)
    if sig(toks, a1) == v and sig(toks, a2) == '+=' and a3 and toks[a3].t == 'int' and sig(toks, a4) == ')' then
      step, close = tonumber(toks[a3].s), a4
    else
      return nil
    end
  end
  return v, A, B, step, close
end

-- The index of the last token of the statement starting at significant token i (a block,
-- a control statement with its sub-statements, or an expression statement up to its `;`),
-- or nil where it cannot tell.
local function statement_end(toks, i)
  local s = toks[i].s
  if s == '{' then return closing(toks, i) end
  if toks[i].t == 'id' and (s == 'if' or s == 'for' or s == 'while' or s == 'switch') then
    local open = next_sig(toks, i)
    local close = open and toks[open].s == '(' and closing(toks, open)
    local sub = close and next_sig(toks, close)
    local e = sub and statement_end(toks, sub)
    if e and s == 'if' then
      local el = next_sig(toks, e)
      if el and toks[el].s == 'else' then
        local sub2 = next_sig(toks, el)
        return sub2 and statement_end(toks, sub2)
      end
    end
    return e
  end
  if toks[i].t == 'id' and (s == 'do' or s == 'else' or s == 'case' or s == 'default') then return nil end
  local k, depth = i, 0
  while k do
    local c = toks[k].s
    if c == '{' or c == '}' then return nil end
    if c == '(' or c == '[' then depth = depth + 1 elseif c == ')' or c == ']' then depth = depth - 1 end
    if c == ';' and depth == 0 then return k end
    k = next_sig(toks, k)
  end
end

-- Can the statement starting at i go without a trace? Not the body of an `if`, `for`,
-- `while` or `else` (a statement must stay there).
local function alone(toks, i)
  local p = prev_sig(toks, i)
  return not p or toks[p].s == ';' or toks[p].s == '{' or toks[p].s == '}'
end

-- Does the range hold a jump out of the statement it is the body of (break, continue; not
-- those of a loop inside it)? A switch or a do loop inside counts as one.
local function jumps(toks, a, b)
  local k = a
  while k and k <= b do
    local s = toks[k].s
    if toks[k].t == 'id' then
      if s == 'break' or s == 'continue' or s == 'switch' or s == 'do' then return true end
      if s == 'for' or s == 'while' then
        k = statement_end(toks, k)
        if not k then return true end
      end
    end
    k = next_sig(toks, k)
  end
  return false
end

-- The index of the `{` of the block around token i (nil at the top level).
local function opening(toks, i)
  local depth = 0
  for k = i - 1, 1, -1 do
    local tk = toks[k]
    if tk.t == 'op' then
      if tk.s == '}' then depth = depth + 1 elseif tk.s == '{' then
        if depth == 0 then return k end
        depth = depth - 1
      end
    end
  end
end

-- Where the names a block opened at i can see begin: i for a block among statements (a
-- compound statement, or the body of an if, else, for, while or switch), the parameter
-- list for a function's body (its parameters share its scope); nil for anything else (an
-- initializer).
local function scope_start(toks, i)
  local p = prev_sig(toks, i)
  if not p then return nil end
  local s = toks[p].s
  if s == ';' or s == '}' or s == 'else' then return i end
  if s == '{' then return scope_start(toks, p) and i end
  if s ~= ')' then return nil end
  local depth = 0
  for k = p, 1, -1 do
    local c = toks[k]
    if c.t == 'op' and c.s == ')' then depth = depth + 1 elseif c.t == 'op' and c.s == '(' then
      depth = depth - 1
      if depth == 0 then
        local kw = prev_sig(toks, k)
        if not (kw and toks[kw].t == 'id') then return nil end
        local control = ({ ['for'] = true, ['if'] = true, ['while'] = true, ['switch'] = true })[toks[kw].s]
        return control and i or k
      end
    end
  end
end

-- The names the block a..b may declare in its own scope (more than it does: every
-- identifier outside inner blocks and parentheses that could be a declarator, `type name`,
-- `type *name` or `, name`, followed by =, ;, comma or [).
local DECLARATOR_END = { ['='] = true, [';'] = true, [','] = true, ['['] = true }
local function declared(toks, a, b)
  local names = {}
  local depth = 0
  for k = a + 1, b - 1 do
    local tk = toks[k]
    if tk.t == 'op' and (tk.s == '{' or tk.s == '(') then depth = depth + 1
    elseif tk.t == 'op' and (tk.s == '}' or tk.s == ')') then depth = depth - 1
    elseif tk.t == 'id' and depth == 0 then
      local p, n = prev_sig(toks, k), next_sig(toks, k)
      if n and DECLARATOR_END[toks[n].s] and p and (toks[p].t == 'id' or toks[p].s == '*' or toks[p].s == ',') then
        names[tk.s] = true
      end
    end
  end
  return names
end

-- In the block body..body_end of a loop of one iteration, `if (C) continue;` skips the
-- rest of the block: when every jump out of the block is such a statement at its top
-- level, each becomes `if (!(C)) {` with a `}` before the block's end (after which the
-- loop can go). True if it rewrote something.
local function skips_to_if(toks, body, body_end)
  if toks[body].s ~= '{' then return false end
  local skips = {}
  local k = next_sig(toks, body)
  while k and k < body_end do
    local e = statement_end(toks, k)
    if not e then return false end
    local open = next_sig(toks, k)
    local close = toks[k].s == 'if' and toks[open].s == '(' and closing(toks, open)
    local c = close and next_sig(toks, close)
    if c and toks[c].s == 'continue' and next_sig(toks, c) == e then
      if jumps(toks, open, close) then return false end
      skips[#skips + 1] = { open, close, c, e }
    elseif jumps(toks, k, e) then
      return false
    end
    k = next_sig(toks, e)
  end
  if #skips == 0 then return false end
  for _ = 1, #skips do
    table.insert(toks, body_end, { t = 'op', s = '}' })
    table.insert(toks, body_end + 1, { t = 'ws', s = '\n' })
  end
  for n = #skips, 1, -1 do
    local open, close, c, e = skips[n][1], skips[n][2], skips[n][3], skips[n][4]
    toks[e] = { t = 'op', s = '{' }
    toks[c] = { t = 'gone', s = '' }
    table.insert(toks, close + 1, { t = 'op', s = ')' })
    table.insert(toks, open + 1, { t = 'op', s = '(' })
    table.insert(toks, open + 1, { t = 'op', s = '!' })
  end
  return true
end

local function stmt_at(toks, i)
  local tk = toks[i]
  if tk.t ~= 'id' and not (tk.t == 'op' and tk.s == '{') then return false end
  -- for loops of one iteration or none, with a block or a single statement as their body
  if tk.s == 'for' then
    local v, A, B, step, close = simple_for(toks, i)
    if not v then return false end
    local body = next_sig(toks, close)
    local body_end = body and statement_end(toks, body)
    if not body_end then return false end
    local empty = toks[body].s == ';' or (toks[body].s == '{' and next_sig(toks, body) == body_end)
    if B <= A or empty then
      if not alone(toks, i) then return false end
      drop_statement(toks, i, body_end)
      return true
    end
    if B <= A + step and not touched(toks, body, body_end, v) and skips_to_if(toks, body, body_end) then
      return true
    end
    if B <= A + step and not jumps(toks, body, body_end) and not touched(toks, body, body_end, v) then
      substitute(toks, body, body_end, v, tostring(A))
      drop_statement(toks, i, close)
      if toks[close + 1] and toks[close + 1].t == 'ws' and not toks[close + 1].s:find('\n') then
        toks[close + 1] = { t = 'gone', s = '' }
      end
      return true
    end
    return false
  end
  -- const int x = N; (each declarator a literal) propagated through the rest of the block
  if tk.s == 'const' and sig(toks, next_sig(toks, i)) == 'int' then
    local k = next_sig(toks, next_sig(toks, i))
    local decls = {}
    while k do
      local name, eq, val, sep = k, next_sig(toks, k), nil, nil
      val = eq and next_sig(toks, eq)
      sep = val and next_sig(toks, val)
      if not (toks[name].t == 'id' and sig(toks, eq) == '=' and val and toks[val].t == 'int'
          and (sig(toks, sep) == ',' or sig(toks, sep) == ';')) then
        return false
      end
      decls[#decls + 1] = { toks[name].s, toks[val].s }
      if toks[sep].s == ';' then k = sep; break end
      k = next_sig(toks, sep)
    end
    local semi = k
    -- the rest of the enclosing block
    local depth, e = 0, semi
    while true do
      local n = next_sig(toks, e)
      if not n then break end
      if toks[n].s == '{' then depth = depth + 1 elseif toks[n].s == '}' then
        if depth == 0 then break end
        depth = depth - 1
      end
      e = n
    end
    for _, d in ipairs(decls) do
      if touched(toks, semi, e, d[1]) then return false end
    end
    for _, d in ipairs(decls) do substitute(toks, semi, e, d[1], d[2]) end
    drop_statement(toks, i, semi)
    return true
  end
  -- memset/memcpy of zero floats, alone or as a braceless loop's body
  if (tk.s == 'memset' or tk.s == 'memcpy') and sig(toks, next_sig(toks, i)) == '(' then
    local open = next_sig(toks, i)
    local close = closing(toks, open)
    local semi = close and next_sig(toks, close)
    if not (semi and toks[semi].s == ';') then return false end
    local last = prev_sig(toks, close)
    local zero = false
    if toks[last].s == '0' then
      local q = prev_sig(toks, last)
      zero = toks[q].s == ',' or (toks[q].s == '*' and sig(toks, prev_sig(toks, q)) == ')'
        and sig(toks, prev_sig(toks, prev_sig(toks, q))) == 'float')
    end
    if not zero then return false end
    local start = i
    local p = prev_sig(toks, i)
    if p and toks[p].s == ')' then
      -- the body of `for (...)` or `if (...)` without braces
      local depth, q = 0, p
      while q do
        if toks[q].s == ')' then depth = depth + 1 elseif toks[q].s == '(' then
          depth = depth - 1
          if depth == 0 then break end
        end
        q = prev_sig(toks, q)
      end
      local kw = q and prev_sig(toks, q)
      if kw and (toks[kw].s == 'for' or toks[kw].s == 'if') then start = kw end
    end
    drop_statement(toks, start, semi)
    return true
  end
  -- X = X;
  if tk.t == 'id' then
    local p = prev_sig(toks, i)
    if p and not (toks[p].s == ';' or toks[p].s == '{' or toks[p].s == '}') then return false end
    local eq, k = nil, i
    while k and toks[k].s ~= '=' and toks[k].s ~= ';' do
      if toks[k].s == '(' or ASSIGN[toks[k].s] then return false end
      k = next_sig(toks, k)
    end
    if not (k and toks[k].s == '=') then return false end
    eq = k
    local lhs, rhs = {}, {}
    k = i
    while k ~= eq do lhs[#lhs + 1] = toks[k].s; k = next_sig(toks, k) end
    k = next_sig(toks, eq)
    while k and toks[k].s ~= ';' do
      if toks[k].s == '(' or ASSIGN[toks[k].s] then return false end
      rhs[#rhs + 1] = toks[k].s
      k = next_sig(toks, k)
    end
    if k and table.concat(lhs, ' ') == table.concat(rhs, ' ') then
      drop_statement(toks, i, k)
      return true
    end
    return false
  end
  if tk.s == '{' then
    local n = next_sig(toks, i)
    local p = prev_sig(toks, i)
    if not (p and (toks[p].s == ';' or toks[p].s == '{' or toks[p].s == '}')) then return false end
    -- { } with nothing inside, as a statement
    if n and toks[n].s == '}' then
      drop_statement(toks, i, n)
      return true
    end
    -- a block among statements (what a loop of one iteration leaves) loses its braces when
    -- it declares nothing, or when it is the last statement of a block (or function) that
    -- does not see, before it, a name it declares
    local close = closing(toks, i)
    local open = close and opening(toks, i)
    if not open then return false end
    local from = scope_start(toks, open)
    if not from then return false end
    local names = declared(toks, i, close)
    if next(names) then
      if sig(toks, next_sig(toks, close)) ~= '}' then return false end
      for k = from, i do
        if toks[k].t == 'id' and names[toks[k].s] then return false end
      end
    end
    drop_statement(toks, i, i)
    drop_statement(toks, close, close)
    return true
  end
  return false
end

-- The tidied text.
function M.run(src)
  local toks = lex(src)
  for _ = 1, 50 do
    local changed = false
    for i = 1, #toks do
      local tk = toks[i]
      if not SKIP[tk.t] and (expr_at(toks, i) or stmt_at(toks, i)) then changed = true end
    end
    if not changed then break end
  end
  -- Lines that held only dropped statements go.
  local lines = {}
  for line in (render(toks) .. '\n'):gmatch('(.-)\n') do
    if not line:match('^[ \t\1]*\1[ \t\1]*$') then lines[#lines + 1] = (line:gsub('\1', '')) end
  end
  return table.concat(lines, '\n')
end

M.lex = lex

return M
