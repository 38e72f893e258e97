-- cnnc.epilogue: what happens to a layer's values on their way out.
--
-- A node's `epilogue` is a list of steps applied, in order, to every output value:
--   {op = 'act', name = 'relu', p = {alpha = ...}}      an activation (cnnc.activations)
--   {op = 'affine', origin = 'bn1', gamma =, beta =, mean =, var =, eps =, label =}
--                                                        batch normalisation, per channel
--                                                        (label: what else it is, Rescaling;
--                                                        fixed = true: its constants are no
--                                                        trainable weights)
-- The channel of a value is its index on the last axis. A softmax may only be the last
-- step: it needs the whole channel vector, so it runs after the vector is stored. Layers
-- start with their own `activation=`; the fuse pass moves the steps of Activation,
-- LeakyReLU and BatchNormalization layers into their producer's epilogue.

local acts = require 'cnnc.activations'
local ieee = require 'cnnc.ieee'
local util = require 'cnnc.util'

local M = {}

function M.act(name, p)
  return { op = 'act', name = name, p = p or acts.params_for(name) }
end

function M.ends_in_softmax(steps)
  local last = steps[#steps]
  return last ~= nil and last.op == 'act' and last.name == 'softmax'
end

-- Per-channel scale and shift of an affine step, in double.
local function affine_coeffs(step, c)
  local g = step.gamma and step.gamma.data[c] or 1
  local b = step.beta and step.beta.data[c] or 0
  local scale = g / math.sqrt(step.var.data[c] + step.eps)
  return scale, b - step.mean.data[c] * scale
end
M.affine_coeffs = affine_coeffs

local function softmax_ref(t, channels)
  for base = 0, t.n - 1, channels do
    local m = -math.huge
    for c = 0, channels - 1 do m = ieee.max(m, t.data[base + c]) end
    local s = 0
    for c = 0, channels - 1 do
      local e = math.exp(t.data[base + c] - m)
      t.data[base + c] = e
      s = s + e
    end
    for c = 0, channels - 1 do t.data[base + c] = t.data[base + c] / s end
  end
end

-- Applies the steps to a double tensor in place (the reference semantics).
function M.apply_ref(steps, t)
  local channels = t.shape[#t.shape]
  for _, st in ipairs(steps) do
    if st.op == 'act' and st.name == 'softmax' then
      softmax_ref(t, channels)
    elseif st.op == 'act' then
      local f, p = acts.ops[st.name].ref, st.p
      for i = 0, t.n - 1 do t.data[i] = f(t.data[i], p) end
    elseif st.op == 'affine' then
      local data = t.data
      for c = 0, channels - 1 do
        local scale = (st.gamma and st.gamma.data[c] or 1) / math.sqrt(st.var.data[c] + st.eps)
        local beta, mean = st.beta and st.beta.data[c] or 0, st.mean.data[c]
        for i = c, t.n - 1, channels do data[i] = (data[i] - mean) * scale + beta end
      end
    else
      error('cnnc: unknown epilogue step ' .. tostring(st.op))
    end
  end
  return t
end

-- The values a traced forward keeps of an epilogue: vals[1] is the layer's own output,
-- vals[i + 1] the value after step i (copies, double).
function M.trace_ref(steps, t)
  local vals = { t:clone() }
  for _, st in ipairs(steps) do
    M.apply_ref({ st }, t)
    vals[#vals + 1] = t:clone()
  end
  return vals
end

-- The vector-Jacobian product of the steps (reference, double). vals: as trace_ref gives;
-- d: the gradient with respect to the last value (consumed: it is overwritten). Returns
-- the gradient with respect to vals[1]. add_grad(key, c, v) receives the gradients of the
-- batch-norm weights of affine steps: key '<origin>.gamma' or '<origin>.beta', channel c.
function M.backward_ref(steps, vals, d, add_grad)
  local channels = d.shape[#d.shape]
  for i = #steps, 1, -1 do
    local st, x, y = steps[i], vals[i].data, vals[i + 1].data
    local g = d.data
    if st.op == 'act' and st.name == 'softmax' then
      -- dx = y * (d - sum(d * y)) over each channel vector
      for base = 0, d.n - 1, channels do
        local dot = 0
        for c = 0, channels - 1 do dot = dot + g[base + c] * y[base + c] end
        for c = 0, channels - 1 do g[base + c] = y[base + c] * (g[base + c] - dot) end
      end
    elseif st.op == 'act' then
      local f, p = acts.ops[st.name].grad, st.p
      for k = 0, d.n - 1 do g[k] = g[k] * f(x[k], y[k], p) end
    elseif st.op == 'affine' then
      for c = 0, channels - 1 do
        local s = math.sqrt(st.var.data[c] + st.eps)
        local scale = (st.gamma and st.gamma.data[c] or 1) / s
        local mean, dgamma, dbeta = st.mean.data[c], 0, 0
        for k = c, d.n - 1, channels do
          dgamma = dgamma + g[k] * (x[k] - mean) / s
          dbeta = dbeta + g[k]
          g[k] = g[k] * scale
        end
        if st.gamma and not st.fixed then add_grad(st.origin .. '.gamma', c, dgamma) end
        if st.beta and not st.fixed then add_grad(st.origin .. '.beta', c, dbeta) end
      end
    else
      error('cnnc: unknown epilogue step ' .. tostring(st.op))
    end
  end
  return d
end

-- C names of an affine step's scale and shift arrays.
function M.affine_names(st)
  local base = util.c_ident(st.origin)
  return base .. '_scale', base .. '_shift'
end

-- The float32 constant arrays an epilogue needs in C: list of {name, values, comment}; with
-- `only` (a set of steps), those of the steps in it.
function M.c_constants(steps, channels, only)
  local out = {}
  for _, st in ipairs(steps) do
    if st.op == 'affine' and (not only or only[st]) then
      local scale, shift = {}, {}
      for c = 0, channels - 1 do scale[c + 1], shift[c + 1] = affine_coeffs(st, c) end
      local sname, hname = M.affine_names(st)
      local what = (st.label or 'batch norm') .. ' ' .. st.origin
      out[#out + 1] = { name = sname, values = scale, comment = what .. ': gamma / sqrt(var + eps)' }
      out[#out + 1] = { name = hname, values = shift, comment = what .. ': beta - mean * scale' }
    end
  end
  return out
end

-- An operand that is safe to substitute into any C expression.
local function paren(e)
  if e:match('^[%w_]+$') or e:match('^[%w_]+%[[%w_ *+]+%]$') then return e end
  return '(' .. e .. ')'
end

-- C statements storing value `src` (a float expression) of channel `ch` to lvalue `dst`.
function M.c_store(steps, dst, src, ch)
  local lines, expr, var = {}, paren(src), false
  for _, st in ipairs(steps) do
    if st.op == 'act' and st.name ~= 'softmax' then
      local op = acts.ops[st.name]
      if op.needs_var and not var and not expr:match('^[%w_]+$') then
        lines[#lines + 1] = 'float v = ' .. expr .. ';'
        expr, var = 'v', true
      end
      local e = op.c(expr, st.p)
      if e ~= expr then
        if var then lines[#lines + 1] = 'v = ' .. e .. ';'
        else expr = paren(e) end
      end
    elseif st.op == 'affine' then
      local sname, hname = M.affine_names(st)
      expr = string.format('%s * %s[%s] + %s[%s]', expr, sname, ch, hname, ch)
      if var then lines[#lines + 1] = 'v = ' .. expr .. ';'; expr = 'v'
      else expr = paren(expr) end
    end
  end
  lines[#lines + 1] = dst .. ' = ' .. expr .. ';'
  return table.concat(lines, '\n')
end

-- The statement run after a channel vector at `ptr` is stored ('' unless softmax).
function M.c_post(steps, ptr, channels)
  if M.ends_in_softmax(steps) then
    return string.format('cnnc_softmax(%s, %d);', ptr, channels)
  end
  return ''
end

-- How many leading steps have a vector form (cnnc.simd): linear, relu, leaky_relu with
-- 0 < alpha <= 1 (max(x, alpha*x)), batch-norm affine steps, and every other elementwise
-- activation (cnnc.simd.vmath); softmax is left to a scalar pass. Leaky alpha 0 stays
-- scalar: 0 * inf is NaN, so no operand order of max(x, 0*x) gives both leaky(inf) = inf
-- and leaky(-inf) = NaN as the formula x > 0 ? x : alpha*x does.
function M.vector_prefix(steps)
  local vmath = require 'cnnc.simd.vmath'
  local k = 0
  for _, st in ipairs(steps) do
    local ok = st.op == 'affine' or vmath.has(st) or (st.op == 'act' and (st.name == 'linear' or st.name == 'relu'
      or (st.name == 'leaky_relu' and st.p.alpha > 0 and st.p.alpha <= 1)))
    if not ok then break end
    k = k + 1
  end
  return k
end

-- Vector statements applying steps[1..k] to vf variable `a` whose first channel is `oc`.
-- padded(st) gives the names of an affine step's scale/shift arrays padded to whole vectors.
-- vf_max(a, b) keeps a NaN of its second operand only (templates/simd.c), so the operand
-- that can be NaN goes second: relu = max(0, a); leaky = max(a, alpha*a), where alpha*a is
-- NaN exactly when a is (alpha > 0).
function M.c_vector(steps, k, a, oc, padded)
  local lines = {}
  for i = 1, k do
    local st = steps[i]
    if st.op == 'affine' then
      local sname, hname = padded(st)
      lines[#lines + 1] = string.format('%s = vf_fma(%s, vf_load(%s + %s), vf_load(%s + %s));', a, a, sname, oc, hname, oc)
    elseif st.name == 'relu' then
      lines[#lines + 1] = string.format('%s = vf_max(vf_zero(), %s);', a, a)
    elseif st.name == 'leaky_relu' then
      lines[#lines + 1] = string.format('%s = vf_max(%s, vf_mul(%s, vf_set1(%s)));', a, a, a, util.c_float(st.p.alpha))
    elseif require('cnnc.simd.vmath').has(st) then
      lines[#lines + 1] = require('cnnc.simd.vmath').c_apply(st, a)
    end
  end
  return table.concat(lines, '\n')
end

-- The helpers of templates/helpers.c the C of steps[1..k] calls: their scalar forms
-- (c_store, c_post) or, with `vector`, their vector forms (c_vector). Constant arrays are
-- not helpers: see M.c_constants.
function M.helpers(steps, k, vector)
  local list = {}
  for i = 1, k or #steps do
    local st = steps[i]
    if st.op == 'act' then
      local more = vector and require('cnnc.simd.vmath').helpers(st) or acts.helpers(st.name, st.p or {})
      for _, h in ipairs(more) do list[#list + 1] = h end
    end
  end
  return list
end

function M.describe(steps)
  local t = {}
  for _, st in ipairs(steps) do
    if st.op == 'act' then
      local params = {}
      for _, k in ipairs(util.sorted_keys(st.p or {})) do
        params[#params + 1] = k == 'alpha' and string.format('%g', st.p[k]) or string.format('%s %g', k, st.p[k])
      end
      t[#t + 1] = st.name .. (#params > 0 and '(' .. table.concat(params, ', ') .. ')' or '')
    else
      t[#t + 1] = (st.label or 'batchnorm') .. ' ' .. st.origin
    end
  end
  return table.concat(t, ' + ')
end

return M
