-- cnnc.onnx.ops_einsum: ONNX's Einsum for the matrix-product patterns attention blocks and
-- bilinear layers export ('bij,bjk->bik', 'bhqd,bhkd->bhqk', 'nchw,kc->nkhw', ...), and
-- for one operand its transpositions and sums ('ij->ji', 'bij->bi').
--
-- Letters are classified: batch (both operands and the output), contracted (both
-- operands, not the output), free (one operand and the output), summed (one operand
-- only: reduced first). Each operand is transposed to (batch, free, contracted) or
-- (batch, contracted, free), its free and contracted letters merged by a reshape (the
-- batch letters stay separate axes, so the batch of the model is never merged), the two
-- multiplied by a MatMul, and the product reshaped and transposed into the output's order.
-- Not supported: a letter repeated within an operand (diagonals), more than two operands.

local const = require 'cnnc.onnx.const'
local util = require 'cnnc.util'

local M = {}

local function ints_attr(list) return { type = 'INTS', ints = list } end

-- Letters of one term. '...' stands for `extra` broadcast axes, named '0' .. 'E-1' when
-- right-aligned among the E broadcast axes of the whole equation.
local function letters(ctx, node, term, extra, E)
  local l = {}
  local i = 1
  while i <= #term do
    if term:sub(i, i + 2) == '...' then
      for k = 1, extra do l[#l + 1] = tostring(E - extra + k - 1) end
      i = i + 3
    else
      local ch = term:sub(i, i)
      if not ch:match('%a') then ctx:fail(node, "equation term '%s' has the character '%s'", term, ch) end
      l[#l + 1] = ch
      i = i + 1
    end
  end
  return l
end

-- Letters of a term without its '...'.
local function explicit(term) return #(term:gsub('%.%.%.', '')) end

local function transpose(ctx, node, v, order)
  local perm, same = {}, true
  for i, a in ipairs(order) do perm[i] = a - 1; if a ~= i then same = false end end
  if same then return v end
  return ctx:apply(node, 'Transpose', { v }, { perm = ints_attr(perm) })[1]
end

local function reshape(ctx, node, v, shape)
  if util.shape_eq(v.shape, shape) then return v end
  return ctx:apply(node, 'Reshape', { v, { const = const.from_list(shape), shape = { #shape }, dtype = 7 } },
    { shape = ints_attr(shape) })[1]
end

-- Sums operand v (letters l) over the letters `drop`; returns the value and its letters.
local function sum_over(ctx, node, v, l, drop)
  local axes, keep = {}, {}
  for i, ch in ipairs(l) do
    if drop[ch] then axes[#axes + 1] = i - 1 else keep[#keep + 1] = ch end
  end
  if #axes == 0 then return v, l end
  local y = ctx:apply(node, 'ReduceSum', { v, { const = const.from_list(axes), shape = { #axes }, dtype = 7 } },
    { axes = ints_attr(axes), keepdims = { type = 'INT', i = 0 } })[1]
  return y, keep
end

function M.Einsum(ctx, node)
  local eq = (ctx:attr(node, 'equation', nil, 'string') or ''):gsub('%s', '')
  local lhs, rhs = eq:match('^(.-)%->(.*)$')
  lhs = lhs or eq
  local terms = {}
  for t in (lhs .. ','):gmatch('([^,]*),') do terms[#terms + 1] = t end
  local vals = {}
  for k = 1, #node.inputs do vals[#vals + 1] = ctx:runtime(node, k) end
  if #terms ~= #vals then ctx:fail(node, "equation '%s' has %d terms for %d inputs", eq, #terms, #vals) end
  if #vals > 2 then ctx:fail(node, 'Einsum of %d operands is not supported (one or two)', #vals) end
  local ls, count, dims = {}, {}, {}
  local E = 0
  for k, t in ipairs(terms) do
    local extra = #vals[k].shape - explicit(t)
    if extra < 0 or (extra > 0 and not t:find('...', 1, true)) then
      ctx:fail(node, "term '%s' does not fit an operand of rank %d", t, #vals[k].shape)
    end
    E = math.max(E, extra)
  end
  for k, t in ipairs(terms) do
    local shape = vals[k].shape
    ls[k] = letters(ctx, node, t, #shape - explicit(t), E)
    local seen = {}
    for i, ch in ipairs(ls[k]) do
      if seen[ch] then ctx:fail(node, "letter '%s' repeats in term '%s' (a diagonal), which is not supported", ch, t) end
      seen[ch] = true
      count[ch] = (count[ch] or 0) + 1
      if dims[ch] and dims[ch] ~= shape[i] and dims[ch] ~= 1 and shape[i] ~= 1 then
        ctx:fail(node, "letter '%s' has sizes %d and %d", ch, dims[ch], shape[i])
      end
      dims[ch] = math.max(dims[ch] or 1, shape[i])
    end
  end
  local out
  if rhs then
    out = letters(ctx, node, rhs, E, E)
  else
    -- Implicit output: the broadcast axes, then the letters met once, alphabetically.
    out = {}
    for k = 1, E do out[k] = tostring(k - 1) end
    local once = {}
    for ch in pairs(count) do if count[ch] == 1 and ch:match('%a') then once[#once + 1] = ch end end
    table.sort(once)
    for _, ch in ipairs(once) do out[#out + 1] = ch end
  end
  local in_out = {}
  for _, ch in ipairs(out) do
    if not dims[ch] then ctx:fail(node, "output letter '%s' is in no input term", ch) end
    in_out[ch] = true
  end
  -- Letters of one operand that are not in the output are summed first.
  for k = 1, #vals do
    local drop = {}
    for _, ch in ipairs(ls[k]) do
      if not in_out[ch] and (#vals == 1 or count[ch] == 1) then drop[ch] = true end
    end
    vals[k], ls[k] = sum_over(ctx, node, vals[k], ls[k], drop)
  end
  local function index_of(l)
    local t = {}
    for i, ch in ipairs(l) do t[ch] = i end
    return t
  end
  if #vals == 1 then
    local at = index_of(ls[1])
    local order = {}
    for i, ch in ipairs(out) do order[i] = at[ch] end
    return { transpose(ctx, node, vals[1], order) }
  end
  -- Two operands: batch, free and contracted letters.
  local a, b = vals[1], vals[2]
  local ia, ib = index_of(ls[1]), index_of(ls[2])
  local batch, fa, fb, con = {}, {}, {}, {}
  for _, ch in ipairs(out) do
    if ia[ch] and ib[ch] then batch[#batch + 1] = ch
    elseif ia[ch] then fa[#fa + 1] = ch
    else fb[#fb + 1] = ch end
  end
  for _, ch in ipairs(ls[1]) do if ib[ch] and not in_out[ch] then con[#con + 1] = ch end end
  local swap = a.const and not b.const
  if swap then a, b, ia, ib, fa, fb = b, a, ib, ia, fb, fa end
  -- The computed operand's first letter, when it leads the output too (the model's batch),
  -- stays the first axis: a batch letter of the product, the other operand having size 1
  -- there; so no transposition moves the batch axis.
  local lead = (swap and ls[2] or ls[1])[1]
  if lead and lead == out[1] and not ib[lead] and #fa > 0 then
    for k, ch in ipairs(fa) do if ch == lead then table.remove(fa, k) break end end
    table.insert(batch, 1, lead)
  end
  local function size(list)
    local n = 1
    for _, ch in ipairs(list) do n = n * dims[ch] end
    return n
  end
  -- v transposed to the letters of `groups` and reshaped to (batch letters..., one axis
  -- per further group); a batch letter v lacks gets size 1.
  local function arrange(v, at, groups)
    local order, shape = {}, {}
    for gi, group in ipairs(groups) do
      for _, ch in ipairs(group) do if at[ch] then order[#order + 1] = at[ch] end end
      if gi == 1 then for _, ch in ipairs(group) do shape[#shape + 1] = at[ch] and v.shape[at[ch]] or 1 end
      else shape[#shape + 1] = size(group) end
    end
    return reshape(ctx, node, transpose(ctx, node, v, order), shape)
  end
  local am = arrange(a, ia, { batch, fa, con })
  local bm = arrange(b, ib, { batch, con, fb })
  local prod = ctx:apply(node, 'MatMul', { am, bm })[1]
  local full = {}
  for _, ch in ipairs(batch) do full[#full + 1] = ch end
  for _, ch in ipairs(fa) do full[#full + 1] = ch end
  for _, ch in ipairs(fb) do full[#full + 1] = ch end
  local shape = {}
  for i, ch in ipairs(full) do shape[i] = dims[ch] end
  local y = reshape(ctx, node, prod, shape)
  local at = index_of(full)
  local order = {}
  for i, ch in ipairs(out) do order[i] = at[ch] end
  return { transpose(ctx, node, y, order) }
end

return M
