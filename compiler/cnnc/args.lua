-- cnnc.args: Keras-style layer arguments, checked where the model file states them.
--
-- A layer declares its arguments as a list of {name, type, default=..., required=...} in
-- Keras's signature order; the user may give them positionally in that order or by name.
-- `parse` checks every value's type and range and returns a table of normalised values
-- (tuples expanded to the layer's rank, strings lower-cased). It knows nothing of shapes.

local util = require 'cnnc.util'
local initializers = require 'cnnc.initializers'

local M = {}

local function is_int(v) return type(v) == 'number' and v == math.floor(v) and math.abs(v) < 2 ^ 31 end

-- depth: nested tables below the third level (or a table holding itself) print as {...}.
local function describe(v, depth)
  depth = depth or 0
  if type(v) == 'string' then return string.format('%q', v) end
  if type(v) == 'table' then
    if depth >= 3 then return '{...}' end
    local parts = {}
    for i = 1, math.min(#v, 6) do parts[i] = describe(v[i], depth + 1) end
    return '{' .. table.concat(parts, ', ') .. (#v > 6 and ', ...' or '') .. '}'
  end
  return tostring(v)
end
M.describe = describe

-- Each checker: function(value, spec, rank) -> normalised value, or nil, reason.
local CHECK = {}

function CHECK.int(v, s)
  if not is_int(v) then return nil, 'an integer' end
  if s.min and v < s.min then return nil, 'an integer >= ' .. s.min end
  return v
end

function CHECK.number(v)
  if type(v) ~= 'number' or v ~= v or v == math.huge or v == -math.huge then return nil, 'a finite number' end
  return v
end

function CHECK.bool(v)
  if type(v) ~= 'boolean' then return nil, 'true or false' end
  return v
end

function CHECK.string(v)
  if type(v) ~= 'string' then return nil, 'a string' end
  return v
end

function CHECK.enum(v, s)
  if type(v) ~= 'string' or not s.values[v:lower()] then
    local names = util.sorted_keys(s.values)
    return nil, 'one of ' .. table.concat(names, ', ')
  end
  return v:lower()
end

-- An int or a tuple of `rank` ints, each >= min (default 1).
function CHECK.size(v, s, rank)
  local min = s.min or 1
  local what = string.format('an integer >= %d or a list of %d such integers', min, rank)
  if is_int(v) then
    if v < min then return nil, what end
    local r = {}
    for i = 1, rank do r[i] = v end
    return r
  end
  if type(v) ~= 'table' or #v ~= rank then return nil, what end
  local r = {}
  for i = 1, rank do
    if not is_int(v[i]) or v[i] < min then return nil, what end
    r[i] = v[i]
  end
  return r
end

-- ZeroPadding: int, {a, b} (symmetric per axis), or {{before, after}, ...}; for rank 1
-- an int or {left, right}. Returns {{before, after}, ...} per axis.
function CHECK.padding_amounts(v, _, rank)
  local what = rank == 1 and 'an integer >= 0 or {left, right}'
    or 'an integer >= 0, {rows, cols} or {{top, bottom}, {left, right}}'
  local function nonneg(x) return is_int(x) and x >= 0 end
  local r = {}
  if nonneg(v) then
    for i = 1, rank do r[i] = { v, v } end
    return r
  end
  if type(v) ~= 'table' then return nil, what end
  if rank == 1 then
    if #v == 2 and nonneg(v[1]) and nonneg(v[2]) then return { { v[1], v[2] } } end
    return nil, what
  end
  if #v ~= rank then return nil, what end
  for i = 1, rank do
    if nonneg(v[i]) then r[i] = { v[i], v[i] }
    elseif type(v[i]) == 'table' and #v[i] == 2 and nonneg(v[i][1]) and nonneg(v[i][2]) then
      r[i] = { v[i][1], v[i][2] }
    else return nil, what end
  end
  return r
end

function CHECK.shape(v)
  local what = 'a list of positive integers'
  if type(v) ~= 'table' or #v == 0 then return nil, what end
  local r = {}
  for i = 1, #v do
    if not is_int(v[i]) or v[i] < 1 then return nil, what end
    r[i] = v[i]
  end
  return r
end

-- An axis or a list of distinct axes (Keras counts the batch as axis 0; negative axes
-- count from the end). Returns a list.
function CHECK.axes(v)
  local what = 'an integer axis or a list of distinct integer axes'
  if is_int(v) then return { v } end
  if type(v) ~= 'table' or #v == 0 then return nil, what end
  local r, seen = {}, {}
  for i = 1, #v do
    if not is_int(v[i]) or seen[v[i]] then return nil, what end
    seen[v[i]] = true
    r[i] = v[i]
  end
  return r
end

function CHECK.activation(v)
  local acts = require 'cnnc.activations'
  if v == nil then return nil end
  if type(v) ~= 'string' or not acts.ops[v:lower()] or acts.ops[v:lower()].internal then
    return nil, 'an activation name (' .. table.concat(acts.names, ', ') .. ')'
  end
  return v:lower()
end

-- 'he_normal' or {'random_normal', stddev = 0.1, seed = 3}.
function CHECK.initializer(v)
  local what = 'an initializer name (' .. table.concat(initializers.names, ', ')
    .. ') or a table {name, param = value, seed = n}'
  local name, params, seed
  if type(v) == 'string' then name = v
  elseif type(v) == 'table' and type(v[1]) == 'string' then
    name, params, seed = v[1], {}, v.seed
    for k, x in pairs(v) do
      if k ~= 1 and k ~= 'seed' then
        local allowed = initializers.params[name:lower()] or {}
        if not allowed[k] then return nil, string.format("%s (initializer '%s' has no parameter '%s')", what, name, tostring(k)) end
        if type(x) ~= 'number' then return nil, what end
        params[k] = x
      end
    end
    if seed ~= nil and not is_int(seed) then return nil, what end
  else return nil, what end
  name = name:lower()
  if not initializers.exists(name) then return nil, what end
  return { name = name, params = params, seed = seed }
end

-- Explicit weight values: a nested table of numbers (checked against the shape later).
function CHECK.values(v)
  if type(v) ~= 'table' then return nil, 'a (nested) table of numbers' end
  return v
end

-- Regularizers and constraints shape training, not inference: any value is accepted and
-- ignored, as Keras ignores them at prediction.
function CHECK.ignored(v) return v end

-- A number or a (nested) table of numbers (Rescaling's scale, Normalization's mean).
function CHECK.number_or_values(v)
  if type(v) == 'number' then return CHECK.number(v) end
  if type(v) ~= 'table' then return nil, 'a number or a (nested) table of numbers' end
  return v
end

-- Like axes, but an empty list is allowed (Normalization's axis = None: no axis kept).
function CHECK.axes_or_none(v)
  if type(v) == 'table' and next(v) == nil then return {} end
  local r, why = CHECK.axes(v)
  if not r then return nil, why .. ', or {} for none' end
  return r
end

M.CHECK = CHECK

-- The regularizer and constraint arguments of the given weights, in Keras's order
-- (kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint).
function M.training_only(weights)
  local t = {}
  for _, w in ipairs(weights) do t[#t + 1] = { w .. '_regularizer', 'ignored' } end
  for _, w in ipairs(weights) do t[#t + 1] = { w .. '_constraint', 'ignored' } end
  return t
end

-- Arguments every layer accepts.
M.common = {
  { 'name', 'string' },
  { 'input_shape', 'shape' },
  { 'trainable', 'bool' },
  { 'activity_regularizer', 'ignored' },
}

-- Parses `given` (the table passed to the constructor) against `specs`. Returns the
-- normalised parameter table. `where` is used for error messages.
function M.parse(kind, specs, given, rank, where)
  local p, known = {}, {}
  local all = {}
  for _, s in ipairs(specs) do all[#all + 1] = s end
  for _, s in ipairs(M.common) do all[#all + 1] = s end
  for _, s in ipairs(all) do known[s[1]] = s end
  if type(given) ~= 'table' then
    util.fail(where, '%s expects a table of arguments, e.g. nn.%s{...}, got %s', kind, kind, type(given))
  end
  local npos = 0
  for k in pairs(given) do
    if type(k) == 'number' then
      if not is_int(k) or k < 1 or k > #specs then
        util.fail(where, '%s takes at most %d positional arguments (%s), got one at position %s',
          kind, #specs, table.concat((function()
            local t = {}
            for i, s in ipairs(specs) do t[i] = s[1] end
            return t
          end)(), ', '), tostring(k))
      end
      npos = math.max(npos, k)
    elseif type(k) ~= 'string' or not known[k] then
      local names = {}
      for _, s in ipairs(all) do names[#names + 1] = s[1] end
      util.fail(where, "%s has no argument '%s' (valid: %s)", kind, tostring(k), table.concat(names, ', '))
    end
  end
  for i = 1, npos do
    local s = specs[i]
    if given[s[1]] ~= nil then
      util.fail(where, "%s: argument '%s' given both by position (#%d) and by name", kind, s[1], i)
    end
  end
  for i, s in ipairs(all) do
    local v = given[s[1]]
    if v == nil and i <= #specs then v = given[i] end
    if v == nil then
      if s.required then util.fail(where, "%s needs argument '%s'", kind, s[1]) end
      v = s.default
      if type(v) == 'table' then v = util.copy(v) end
      if v ~= nil then v = CHECK[s[2]](v, s, rank) end
      p[s[1]] = v
    else
      local checked, why = CHECK[s[2]](v, s, rank)
      if checked == nil and why then
        util.fail(where, "%s argument '%s' must be %s, got %s", kind, s[1], why, describe(v))
      end
      p[s[1]] = checked
    end
  end
  return p
end

return M
