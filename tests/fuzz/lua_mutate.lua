-- Structural mutations of Lua model files, for tests/fuzz/structured.lua.
--
-- A model file is cut into tokens (names, numbers, strings, punctuation; spaces and
-- comments kept as they are) and mutated the way a careless or hostile author would:
-- numbers become 0, -1, huge, 1e309, 0/0 or fractions; strings other activation,
-- padding or initializer names (or junk); a value gets the wrong type; an argument of a
-- `{...}` list is removed, swapped with another or repeated; a layer or keyword name is
-- replaced by another; lines are deleted, repeated or swapped; a random layer is added.
-- `mutate(src, rng, n)` applies n such mutations and returns the new text and a list of
-- what it did (for the report of a finding). It knows nothing about cnnc beyond names.

local M = {}

local NUMBERS = { '0', '-1', '1', '2', '3', '4', '5', '8', '16', '7', '64', '65536', '1e9', '2147483648', '4294967297', '-2147483649',
  '1e15', '(2^53)', '1e309', '-1e309', '(0/0)', '0.5', '2.5', '-0.0', '1e-320', '-7', '1e300' }
local STRINGS = { "'relu'", "'softmax'", "'linear'", "'sigmoid'", "'tanh'", "'elu'", "'selu'", "'swish'",
  "'leaky_relu'", "'hard_sigmoid'", "'same'", "'valid'", "'causal'", "'full'", "'SAME'", "'RELU'", "''",
  "'nope'", "'he_normal'", "'glorot_uniform'", "'zeros'", "'ones'", "'random_normal'", "'conv2d'",
  "'dense'", "'m'", "'\\0'", "'%s%n%d'", "'../../etc/passwd'", "'" .. string.rep('x', 300) .. "'",
  "'channels_first'", "'a b'", "'1'" }
local VALUES = { '{}', '{1}', '{0, 0}', '{-1, -1}', '{1, 2, 3}', '{{1, 2}, {3}}', '{1.5, 2}', 'true', 'false',
  'nil', 'function() end', "'3'", 'nn', 'm', '{name = 1}', '{1e309}', '{(0/0)}', 'nn.kernels', 'math.huge',
  '-math.huge', '{x = {}}' }
local LAYERS = { 'Conv1D', 'Conv2D', 'Dense', 'Flatten', 'MaxPooling1D', 'MaxPooling2D', 'AveragePooling1D',
  'AveragePooling2D', 'LPPooling2D', 'WeightedAveragePooling2D', 'GlobalMaxPooling2D', 'GlobalAveragePooling1D',
  'LocallyConnected1D', 'LocallyConnected2D', 'BatchNormalization', 'ZeroPadding1D', 'ZeroPadding2D',
  'Activation', 'Dropout', 'LeakyReLU', 'Sequential', 'Nope', 'kernels', 'load', 'build', 'compile' }
local KEYWORDS_ARGS = { 'filters', 'kernel_size', 'strides', 'padding', 'activation', 'dilation_rate',
  'use_bias', 'input_shape', 'units', 'pool_size', 'name', 'kernel', 'bias', 'alpha', 'rate', 'p', 'sigma',
  'seed', 'kernel_initializer', 'bias_initializer', 'gamma', 'beta', 'moving_mean', 'moving_variance',
  'epsilon', 'data_format', 'size', 'cropping', 'nope' }
-- Random layers appended after an existing m:add line: plausible and implausible ones.
local NEW_LAYERS = { 'nn.Conv2D{%d, {%d, %d}}', 'nn.Conv2D{%d, %d, strides = %d}', 'nn.Dense{%d}',
  'nn.MaxPooling2D{{%d, %d}}', 'nn.Conv1D{%d, %d}', 'nn.Flatten{}', 'nn.ZeroPadding2D{%d}',
  'nn.LocallyConnected2D{%d, {%d, %d}}', 'nn.AveragePooling1D{%d}', 'nn.GlobalMaxPooling2D{}',
  'nn.Dense{%d, activation = "softmax"}', 'nn.BatchNormalization{}', 'nn.Dropout{%d}',
  'nn.WeightedAveragePooling2D{%d, sigma = %d}', 'nn.LPPooling1D{%d, p = %d}' }
local LUA_KEYWORDS = {}
for w in ('and break do else elseif end false for function if in local nil not or repeat return then true until while')
  :gmatch('%a+') do LUA_KEYWORDS[w] = true end

-- Tokens: {kind = 'space'|'name'|'number'|'string'|'op', text = ...}.
function M.tokens(src)
  local t, i, n = {}, 1, #src
  local function add(kind, j) t[#t + 1] = { kind = kind, text = src:sub(i, j) }; i = j + 1 end
  while i <= n do
    local c = src:sub(i, i)
    local long = src:match('^%-%-%[(=*)%[', i)
    if long then
      local _, e = src:find(']' .. long .. ']', i, true)
      add('space', e or n)
    elseif src:sub(i, i + 1) == '--' then
      local e = src:find('\n', i, true)
      add('space', e or n)
    elseif c:match('%s') then
      add('space', select(2, src:find('^%s+', i)))
    elseif c:match('[%a_]') then
      local _, e = src:find('^[%w_]+', i)
      local w = src:sub(i, e)
      add(LUA_KEYWORDS[w] and (w == 'true' or w == 'false' or w == 'nil') and 'value' or 'name', e)
      if LUA_KEYWORDS[w] and w ~= 'true' and w ~= 'false' and w ~= 'nil' then t[#t].kind = 'keyword' end
    elseif c:match('%d') or (c == '.' and src:sub(i + 1, i + 1):match('%d')) then
      local _, e = src:find('^0[xX]%x+', i)
      if not e then _, e = src:find('^%d*%.?%d*[eE][%+%-]?%d+', i) end
      if not e then _, e = src:find('^%d*%.?%d*', i) end
      add('number', e)
    elseif c == '"' or c == "'" then
      local j = i + 1
      while j <= n and src:sub(j, j) ~= c do j = j + (src:sub(j, j) == '\\' and 2 or 1) end
      add('string', math.min(j, n))
    elseif src:match('^%[=*%[', i) then
      local eq = src:match('^%[(=*)%[', i)
      local _, e = src:find(']' .. eq .. ']', i, true)
      add('string', e or n)
    else
      local op = src:match('^%.%.%.', i) or src:match('^[=~<>]=', i) or src:match('^%.%.', i) or c
      add('op', i + #op - 1)
    end
  end
  return t
end

local function join(t)
  local out = {}
  for k, tok in ipairs(t) do out[k] = tok.text end
  return table.concat(out)
end

local function pick(rng, list) return list[rng:int(1, #list)] end

local function indices(t, pred)
  local r = {}
  for k, tok in ipairs(t) do if pred(tok, k) then r[#r + 1] = k end end
  return r
end

-- The previous and next non-space tokens around k.
local function neighbours(t, k)
  local p, q = k - 1, k + 1
  while p >= 1 and t[p].kind == 'space' do p = p - 1 end
  while q <= #t and t[q].kind == 'space' do q = q + 1 end
  return t[p], t[q]
end

-- Top-level elements of the table constructor opening at t[open]: list of {from, to}
-- token ranges (separators excluded), and the index of the closing brace.
local function elements(t, open)
  local depth, from, list = 0, open + 1, {}
  for k = open, #t do
    local x = t[k].kind == 'op' and t[k].text or nil
    if x == '{' or x == '(' or x == '[' then depth = depth + 1
    elseif x == '}' or x == ')' or x == ']' then
      depth = depth - 1
      if depth == 0 then
        if k > from then list[#list + 1] = { from, k - 1 } end
        return list, k
      end
    elseif depth == 1 and (x == ',' or x == ';') then
      list[#list + 1] = { from, k - 1 }
      from = k + 1
    end
  end
  return list, nil
end

local function text_of(t, r)
  local s = {}
  for k = r[1], r[2] do s[#s + 1] = t[k].text end
  return table.concat(s)
end

-- Each returns the new token list (or source text) and a description, or nil if it
-- found nothing to mutate.
local mutations = {}

function mutations.number(t, rng)
  local ks = indices(t, function(tok) return tok.kind == 'number' end)
  if #ks == 0 then return nil end
  local k = pick(rng, ks)
  local new = pick(rng, NUMBERS)
  local old = t[k].text
  t[k] = { kind = 'number', text = new }
  return t, string.format('number %s -> %s', old, new)
end

function mutations.string(t, rng)
  local ks = indices(t, function(tok) return tok.kind == 'string' end)
  if #ks == 0 then return nil end
  local k = pick(rng, ks)
  local new = pick(rng, STRINGS)
  local old = t[k].text
  t[k] = { kind = 'string', text = new }
  return t, string.format('string %s -> %s', old:sub(1, 40), new:sub(1, 40))
end

function mutations.wrong_type(t, rng)
  local ks = indices(t, function(tok) return tok.kind == 'number' or tok.kind == 'string' or tok.kind == 'value' end)
  if #ks == 0 then return nil end
  local k = pick(rng, ks)
  local new = pick(rng, VALUES)
  local old = t[k].text
  t[k] = { kind = 'op', text = new }
  return t, string.format('value %s -> %s', old:sub(1, 40), new)
end

-- Remove, swap or repeat an element of a `{...}` argument list.
function mutations.arguments(t, rng)
  local opens = indices(t, function(tok) return tok.kind == 'op' and tok.text == '{' end)
  if #opens == 0 then return nil end
  local open = pick(rng, opens)
  local list = elements(t, open)
  if #list == 0 then return nil end
  local texts = {}
  for k, r in ipairs(list) do texts[k] = text_of(t, r) end
  local what = rng:int(1, 3)
  local desc
  if what == 1 or #list == 1 then
    local k = rng:int(1, #list)
    desc = 'removed argument ' .. texts[k]:gsub('%s+', ' '):sub(1, 40)
    table.remove(texts, k)
  elseif what == 2 then
    local a, b = rng:int(1, #list), rng:int(1, #list)
    texts[a], texts[b] = texts[b], texts[a]
    desc = string.format('swapped arguments %d and %d', a, b)
  else
    local k = rng:int(1, #list)
    table.insert(texts, rng:int(1, #texts + 1), texts[k])
    desc = 'repeated argument ' .. texts[k]:gsub('%s+', ' '):sub(1, 40)
  end
  local first, last = list[1][1], list[#list][2]
  local new = {}
  for k = 1, first - 1 do new[#new + 1] = t[k] end
  new[#new + 1] = { kind = 'op', text = table.concat(texts, ',') }
  for k = last + 1, #t do new[#new + 1] = t[k] end
  return new, desc
end

function mutations.name(t, rng)
  local ks = indices(t, function(tok) return tok.kind == 'name' end)
  if #ks == 0 then return nil end
  local k = pick(rng, ks)
  local before, after = neighbours(t, k)
  local list
  if before and before.text == '.' then list = LAYERS
  elseif after and after.text == '=' then list = KEYWORDS_ARGS
  else list = rng:int(1, 2) == 1 and LAYERS or KEYWORDS_ARGS end
  local old, new = t[k].text, pick(rng, list)
  t[k] = { kind = 'name', text = new }
  return t, string.format('name %s -> %s', old, new)
end

local function lines_of(src)
  local lines = {}
  for l in (src .. (src:sub(-1) == '\n' and '' or '\n')):gmatch('([^\n]*)\n') do lines[#lines + 1] = l end
  return lines
end

function mutations.lines(t, rng)
  local lines = lines_of(join(t))
  if #lines < 2 then return nil end
  local a, b = rng:int(1, #lines), rng:int(1, #lines)
  local what, desc = rng:int(1, 3), nil
  if what == 1 then desc = 'deleted line ' .. a; table.remove(lines, a)
  elseif what == 2 then desc = 'repeated line ' .. a; table.insert(lines, a, lines[a])
  else desc = string.format('swapped lines %d and %d', a, b); lines[a], lines[b] = lines[b], lines[a] end
  return M.tokens(table.concat(lines, '\n') .. '\n'), desc
end

function mutations.add_layer(t, rng)
  local lines = lines_of(join(t))
  local adds = {}
  for k, l in ipairs(lines) do if l:match(':add%(') then adds[#adds + 1] = k end end
  if #adds == 0 then return nil end
  local at = pick(rng, adds)
  local var = lines[at]:match('([%w_]+):add%(') or 'm'
  local nums = {}
  for k = 1, 4 do nums[k] = pick(rng, { 1, 2, 3, 5, 0, -1, 1e9, 2.5 }) end
  local layer = string.format(pick(rng, NEW_LAYERS), nums[1], nums[2], nums[3], nums[4])
  table.insert(lines, at + rng:int(0, 1), string.format('%s:add(%s)', var, layer))
  return M.tokens(table.concat(lines, '\n') .. '\n'), 'added ' .. layer
end

-- Rarely: a stray token, mostly a syntax error (the parser's message must be clean too).
function mutations.stray(t, rng)
  local k = rng:int(1, #t + 1)
  local tok = pick(rng, { 'end', ')', '{', '}', ',', '=', 'local', '..', '#', 'nn', '"', '[[', 'return' })
  table.insert(t, k, { kind = 'op', text = ' ' .. tok .. ' ' })
  return t, 'inserted ' .. tok
end

local WEIGHTED = { 'number', 'number', 'number', 'string', 'string', 'wrong_type', 'wrong_type', 'arguments',
  'arguments', 'arguments', 'name', 'name', 'lines', 'lines', 'add_layer', 'add_layer', 'stray' }

function M.mutate(src, rng, n)
  local t, done = M.tokens(src), {}
  local tries = 0
  while #done < n and tries < 20 * n do
    tries = tries + 1
    local kind = pick(rng, WEIGHTED)
    local new, desc = mutations[kind](t, rng)
    if new then t = new; done[#done + 1] = desc end
  end
  return join(t), done
end

return M
