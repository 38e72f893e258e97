-- cnnc.simd.vmath: vector forms of the elementwise activations, for the SIMD targets.
--
-- Each form maps a vf expression (a variable name) and the activation's parameters to a vf
-- expression built from the vector macros of templates/simd.c and the vector math
-- functions of templates/helpers.c (sections vexp, vtanh, vlog1p: cnnc_vf_exp, cnnc_vf_tanh,
-- cnnc_vf_log1p_pos), which the emitter includes when generated code calls them. The forms
-- follow the scalar definitions in cnnc.activations; exp-based ones agree with libm's
-- float32 results to a few units in the last place. Forms built on min/max end in a NaN
-- select, so a NaN input gives NaN whatever the ISA's min/max do with NaN.

local util = require 'cnnc.util'

local M = {}

local f = util.c_float
local function k(x) return string.format('vf_set1(%s)', f(x)) end
local function nan_kept(a, e) return string.format('vf_sel_nan(%s, %s, %s)', a, a, e) end
local function exp(e) return string.format('cnnc_vf_exp(%s)', e) end
local function expm1(e) return string.format('vf_sub(%s, vf_set1(1.0f))', exp(e)) end
-- x > 0 ? x : e
local function positive_or(a, e) return string.format('vf_sel_lt(vf_zero(), %s, %s, %s)', a, a, e) end
local function clamp01(e) return string.format('vf_min(vf_max(%s, vf_zero()), vf_set1(1.0f))', e) end

local SELU_ALPHA = 1.6732632423543772848170429916717
local SELU_SCALE = 1.0507009873554804934193349852946

M.forms = {
  sigmoid = function(a)
    return string.format('vf_div(vf_set1(1.0f), vf_add(vf_set1(1.0f), %s))', exp('vf_sub(vf_zero(), ' .. a .. ')'))
  end,
  tanh = function(a) return string.format('cnnc_vf_tanh(%s)', a) end,
  elu = function(a) return positive_or(a, expm1(a)) end,
  selu = function(a)
    return string.format('vf_mul(%s, %s)', k(SELU_SCALE), positive_or(a, string.format('vf_mul(%s, %s)', k(SELU_ALPHA), expm1(a))))
  end,
  softplus = function(a)
    return nan_kept(a, string.format('vf_add(vf_max(%s, vf_zero()), cnnc_vf_log1p_pos(%s))', a,
      exp(string.format('vf_sub(vf_zero(), vf_abs(%s))', a))))
  end,
  softsign = function(a) return string.format('vf_div(%s, vf_add(vf_set1(1.0f), vf_abs(%s)))', a, a) end,
  hard_sigmoid = function(a) return nan_kept(a, clamp01(string.format('vf_fma(vf_set1(0.2f), %s, vf_set1(0.5f))', a))) end,
  swish = function(a)
    return string.format('vf_div(%s, vf_add(vf_set1(1.0f), %s))', a, exp('vf_sub(vf_zero(), ' .. a .. ')'))
  end,
  onnx_elu = function(a, p) return positive_or(a, string.format('vf_mul(%s, %s)', k(p.alpha), expm1(a))) end,
  onnx_selu = function(a, p)
    return string.format('vf_mul(%s, %s)', k(p.gamma), positive_or(a, string.format('vf_mul(%s, %s)', k(p.alpha), expm1(a))))
  end,
  onnx_hard_sigmoid = function(a, p)
    return nan_kept(a, clamp01(string.format('vf_fma(%s, %s, %s)', k(p.alpha), a, k(p.beta))))
  end,
  hard_swish = function(a)
    return string.format('vf_mul(%s, %s)', a, nan_kept(a, clamp01(string.format('vf_fma(%s, vf_set1(1.0f / 6.0f), vf_set1(0.5f))', a))))
  end,
  celu = function(a, p)
    return nan_kept(a, string.format('vf_add(vf_max(%s, vf_zero()), vf_min(vf_mul(%s, %s), vf_zero()))', a, k(p.alpha),
      expm1(string.format('vf_div(%s, %s)', a, k(p.alpha)))))
  end,
  relu6 = function(a) return M.forms.clip(a, { min = 0, max = 6 }) end,
  -- Keras's ReLU layer: threshold < x ? min(x, max) : slope * (x - threshold)
  keras_relu = function(a, p)
    local upper = p.max and string.format('vf_min(%s, %s)', a, k(p.max)) or a
    local lower = p.negative_slope ~= 0 and string.format('vf_mul(%s, vf_sub(%s, %s))', k(p.negative_slope), a, k(p.threshold))
      or 'vf_zero()'
    return nan_kept(a, string.format('vf_sel_lt(%s, %s, %s, %s)', k(p.threshold), a, upper, lower))
  end,
  clip = function(a, p)
    local e = a
    if p.min then e = string.format('vf_max(%s, %s)', e, k(p.min)) end
    if p.max then e = string.format('vf_min(%s, %s)', e, k(p.max)) end
    if e == a then return a end
    return nan_kept(a, e)
  end,
}

-- The vector math helpers of templates/helpers.c each form calls (cnnc_vf_tanh calls
-- cnnc_vf_exp too).
local NEEDS = { sigmoid = { 'vexp' }, tanh = { 'vtanh', 'vexp' }, elu = { 'vexp' }, selu = { 'vexp' },
  softplus = { 'vexp', 'vlog1p' }, swish = { 'vexp' }, onnx_elu = { 'vexp' }, onnx_selu = { 'vexp' }, celu = { 'vexp' } }
function M.helpers(st) return NEEDS[st.name] or {} end

-- Does the activation step have a vector form here?
function M.has(st) return st.op == 'act' and M.forms[st.name] ~= nil end

-- The statement applying activation step st to vf variable a.
function M.c_apply(st, a) return string.format('%s = %s;', a, M.forms[st.name](a, st.p or {})) end

return M
