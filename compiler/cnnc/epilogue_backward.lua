-- cnnc.epilogue_backward: the C of an epilogue's vector-Jacobian product (backward code).
--
-- A node's epilogue steps (cnnc.epilogue) run on its values on their way out; backward
-- code turns the gradient of the node's output into the gradient of the value before the
-- steps. What that reads decides what the forward pass must keep (cnnc.passes.grad):
--   'none'    no steps, or only `linear`: the gradient passes unchanged
--   'output'  one activation whose derivative its own output gives (relu, sigmoid, tanh,
--             elu, selu, softplus, softsign, leaky_relu with alpha > 0: grad_c_from 'y'
--             in cnnc.activations), or a softmax (y (d - sum(d y)) on each channel
--             vector): the node's output is read
--   'input'   anything else (swish, hard_sigmoid, batch-norm affine steps, several steps):
--             the steps are recomputed from the value before them, which must be stored
--             (an identity layer's input; other layers are split by cnnc.passes.grad), and
--             a final softmax also reads the output
-- An affine step adds its gamma and beta gradients (sum over positions of g (x - mean) /
-- sqrt(var + eps) and of g) into the weight gradients, as cnnc.epilogue.backward_ref does.
-- The derivatives are those of the reference (cnnc.activations' grad, here grad_c),
-- PyTorch's at kinks (docs/gradients.md).

local acts = require 'cnnc.activations'
local epilogue = require 'cnnc.epilogue'
local template = require 'cnnc.template'
local util = require 'cnnc.util'

local M = {}

local function is_linear(st) return st.op == 'act' and st.name == 'linear' end

-- Where an activation step's C derivative reads from: 'y' or 'x'.
local function act_from(st)
  local op = acts.ops[st.name]
  if op.grad_c_from then return op.grad_c_from(st.p) end
  return op.grad_from == 'x' and 'x' or 'y'
end

-- Can backward code compute this step's derivative? (Every Keras activation and batch
-- norm; every activation but ONNX's elementwise math functions.)
function M.supported(st)
  if st.op == 'affine' then return true end
  return st.op == 'act' and (st.name == 'softmax' or acts.ops[st.name].grad_c ~= nil)
end

-- The steps that do something (linear steps dropped).
local function active(steps)
  local t = {}
  for _, st in ipairs(steps) do
    if not is_linear(st) then t[#t + 1] = st end
  end
  return t
end

-- 'none', 'output' or 'input' (see above).
function M.source(steps)
  local s = active(steps)
  if #s == 0 then return 'none' end
  if #s == 1 and s[1].op == 'act' and (s[1].name == 'softmax' or act_from(s[1]) == 'y') then return 'output' end
  return 'input'
end

-- The constants an affine step's backward reads, besides the forward's scale and shift:
-- mean and 1 / sqrt(var + eps) per channel (neither is trainable).
local function affine_stats(node, E, st, channels)
  local mean, inv = {}, {}
  for c = 0, channels - 1 do
    mean[c + 1] = st.mean.data[c]
    inv[c + 1] = 1 / math.sqrt(st.var.data[c] + st.eps)
  end
  local base = st.origin == node.name and '' or (util.c_ident(st.origin) .. '_')
  return E:constant(node, base .. 'mean', mean, 'batch norm ' .. st.origin .. ': moving_mean'),
    E:constant(node, base .. 'inv_std', inv, 'batch norm ' .. st.origin .. ': 1 / sqrt(moving_variance + epsilon)')
end

-- The C of the steps' backward for `node` (channels: the last axis of its output, count:
-- its values), as one function `fn`. Returns its text and its parameter roles in order:
-- 'dz' (the gradient before the steps, written), 'd' (the gradient of the output; no
-- parameter when `inplace`: then dz holds it on entry), 'z' (the value before the steps),
-- 'y' (the output) and, per affine step with gamma or beta, 'dw:<origin>.gamma' /
-- 'dw:<origin>.beta' (accumulated). Every pointer is restrict, so the loops vectorise.
function M.emit(node, E, fn, what, inplace)
  local steps = active(node.epilogue)
  local shape = node.shape
  local channels = shape[#shape]
  local count = util.prod(shape)
  local src = M.source(node.epilogue)
  local comment = util.c_comment(string.format('%s: the gradient of %s through %s%s', node.name, what or 'its output',
    epilogue.describe(steps), src == 'output' and ', from the output' or ''))
  local params, roles = { 'float *restrict dz' }, { 'dz' }
  if not inplace then params[2], roles[2] = 'const float *restrict d', 'd' end
  local alias = inplace and 'const float *d = dz;' or ''
  if src == 'output' and steps[1].name ~= 'softmax' then
    params[#params + 1], roles[#roles + 1] = 'const float *restrict y', 'y'
    return template.section('backward', 'epilogue_output', { fn = fn, comment = comment, N = count,
      params = table.concat(params, ', '), alias = alias,
      grad = acts.ops[steps[1].name].grad_c(nil, 'y[i]', steps[1].p) }), roles
  end
  local softmax = epilogue.ends_in_softmax(steps)
  if softmax then steps[#steps] = nil end
  if #steps > 0 then params[#params + 1] = 'const float *restrict z'; roles[#roles + 1] = 'z' end
  if softmax then params[#params + 1] = 'const float *restrict y'; roles[#roles + 1] = 'y' end
  -- forward: v0 = z, v_k = step_k(v_{k-1}); backward: g through the steps last first
  local fwd, bwd = {}, {}
  for k, st in ipairs(steps) do
    local x, y = 'v' .. (k - 1), 'v' .. k
    if st.op == 'affine' then
      local scale, shift = E:affine_arrays(st)
      fwd[#fwd + 1] = string.format('const float %s = %s * %s[c] + %s[c];', y, x, scale, shift)
      local mean, inv
      if st.gamma and not st.fixed then mean, inv = affine_stats(node, E, st, channels) end
      local lines = {}
      for _, w in ipairs({ 'gamma', 'beta' }) do
        if st[w] and not st.fixed then
          local pname = 'd' .. w .. '_' .. util.c_ident(st.origin)
          params[#params + 1] = 'float *restrict ' .. pname
          roles[#roles + 1] = 'dw:' .. st.origin .. '.' .. w
          lines[#lines + 1] = w == 'gamma' and string.format('%s[c] += g * (%s - %s[c]) * %s[c];', pname, x, mean, inv)
            or string.format('%s[c] += g;', pname)
        end
      end
      lines[#lines + 1] = string.format('g *= %s[c];', scale)
      table.insert(bwd, 1, table.concat(lines, '\n'))
    else
      local op = acts.ops[st.name]
      for _, h in ipairs(acts.helpers(st.name, st.p or {})) do E:need(h) end
      fwd[#fwd + 1] = string.format('const float %s = %s;', y, op.c(x, st.p))
      table.insert(bwd, 1, string.format('g *= %s;', op.grad_c(x, y, st.p)))
    end
  end
  -- values no derivative reads are not recomputed (the last is the output itself; a batch
  -- norm without gamma needs nothing), and z is not read when no value is
  local back = table.concat(bwd, '\n')
  local function used(k, from)
    local text = back
    for j = from, #fwd do if fwd[j] then text = text .. fwd[j] end end
    return text:find('%f[%w_]v' .. k .. '%f[^%w_]') ~= nil
  end
  for k = #fwd, 1, -1 do
    if not used(k, k + 1) then fwd[k] = nil end
  end
  local zread = #steps > 0 and used(0, 1)
  if #steps > 0 and not zread then
    for i, r in ipairs(roles) do
      if r == 'z' then table.remove(roles, i); table.remove(params, i); break end
    end
  end
  local flist = {}
  for k = 1, #steps do if fwd[k] then flist[#flist + 1] = fwd[k] end end
  local body = table.concat(flist, '\n') .. '\n' .. back
  return template.section('backward', softmax and 'epilogue_input_softmax' or 'epilogue_input', {
    fn = fn, comment = comment, params = table.concat(params, ', '), alias = alias, PIXELS = count / channels, C = channels,
    z = zread and 'const float v0 = z[i];' or '', body = body,
  }), roles
end

return M
