-- Finite-difference checks of the reference backward pass (cnnc.backward), shared by the
-- gradient specs (not a spec itself: busted runs only *_spec.lua).
--
-- The check is directional: for a random direction v of the input (or of one weight
-- tensor) and the scalar f = <dy, model(x)>, the analytic <grad, v> must match the central
-- difference (f(+h v) - f(-h v)) / 2h. Weights are first made double tensors (the model's
-- float32 values, exactly), so a step of 1e-5 is not lost to rounding. Away from kinks
-- the difference at h = 1e-5 matches to about 1e-9; a kink that a step crosses (a ReLU
-- input, a max-pool tie, a clip bound within h) shows as a difference that changes with
-- h: the check then tries h = 1e-6 and other directions, and reports such a direction as
-- `kinked` only when the two steps disagree with each other. Both steps agreeing with each
-- other and not with the analytic value is a failure.

local backward = require 'cnnc.backward'
local ir = require 'cnnc.ir'
local reference = require 'cnnc.reference'
local tensor = require 'cnnc.tensor'

local G = {}

-- A deterministic stream of numbers in [-1, 1) (an LCG: the specs must not depend on
-- math.random's state).
function G.rng(seed)
  local s = seed % 2147483647
  if s <= 0 then s = s + 2147483646 end
  return function()
    s = (s * 48271) % 2147483647
    return 2 * s / 2147483647 - 1
  end
end

function G.random_tensor(shape, rand, ctype)
  local t = tensor.new(shape, ctype or 'double')
  for i = 0, t.n - 1 do t.data[i] = rand() end
  return t
end

-- Replaces every weight of graph g (in place) by a double copy, also in the epilogue
-- steps that share it, so that perturbing a weight moves every use of it.
function G.doubles(g)
  local map = {}
  local function d(t)
    if not t then return nil end
    if not map[t] then map[t] = t:clone('double') end
    return map[t]
  end
  for _, n in ipairs(g.nodes) do
    for i, w in ipairs(n.weights or {}) do n.weights[i] = { name = w.name, tensor = d(w.tensor) } end
    for i, st in ipairs(n.epilogue or {}) do
      if st.op == 'affine' then
        local c = {}
        for k, v in pairs(st) do c[k] = v end
        c.gamma, c.beta, c.mean, c.var = d(st.gamma), d(st.beta), d(st.mean), d(st.var)
        n.epilogue[i] = c
      end
    end
  end
  return g
end

-- The double tensor of the typed graph's weight 'layer.weight'.
function G.weight_of(g, key)
  local layer, wname = key:match('^(.*)%.([^.]+)$')
  local n = ir.by_name(g)[layer]
  return n and ir.weight(n, wname)
end

local function objective(g, x, dy)
  local y = reference.run(g, x)
  local s = 0
  for i = 0, y.n - 1 do s = s + y.data[i] * dy.data[i] end
  return s
end

-- Compares <grad, v> with central differences of f along v, moving `target` (a double
-- tensor: the input or a weight) in place. Returns nil when they agree, 'kinked' when
-- every direction tried crossed a kink, or a message.
local function check_one(g, x, dy, target, grad, rand, what)
  local tries = 3
  local last
  for _ = 1, tries do
    local v = G.random_tensor(target.shape, rand)
    local a, scale = 0, 0
    for i = 0, v.n - 1 do
      a = a + grad.data[i] * v.data[i]
      scale = scale + math.abs(grad.data[i] * v.data[i])
    end
    local f0 = math.abs(objective(g, x, dy))
    local saved = target:clone('double')
    local function diff(h)
      for i = 0, target.n - 1 do target.data[i] = saved.data[i] + h * v.data[i] end
      local fp = objective(g, x, dy)
      for i = 0, target.n - 1 do target.data[i] = saved.data[i] - h * v.data[i] end
      local fm = objective(g, x, dy)
      for i = 0, target.n - 1 do target.data[i] = saved.data[i] end
      return (fp - fm) / (2 * h)
    end
    -- truncation (h^2) and rounding (1e-16 |f| / h) errors, with room to spare
    local function tol(h) return 1e-6 * scale + 1e-15 * (1 + f0) / h + 1e-12 end
    local e1 = diff(1e-5)
    if math.abs(a - e1) <= tol(1e-5) then return nil end
    local e2 = diff(1e-6)
    if math.abs(a - e2) <= tol(1e-6) then return nil end
    if math.abs(e1 - e2) <= tol(1e-6) then
      return string.format('%s: analytic %.12g, finite differences %.12g (h 1e-5) and %.12g (h 1e-6)', what, a, e1, e2)
    end
    last = 'kinked'
  end
  return last
end

-- Checks dx and every weight gradient of typed graph g (weights made double by
-- G.doubles) at input x for output gradient dy. Returns the list of failure messages and
-- the number of checks that found only kinked directions.
function G.check(g, x, dy, rand)
  local dx, wgrads, _, order = backward.run(g, x, dy)
  local fails, kinked = {}, 0
  local function record(r)
    if r == 'kinked' then kinked = kinked + 1 elseif r then fails[#fails + 1] = r end
  end
  local xd = x:clone('double')
  record(check_one(g, xd, dy, xd, dx, rand, 'input'))
  for _, w in ipairs(order) do
    local t = G.weight_of(g, w.key)
    assert(t and t.ctype == 'double', 'no double weight for ' .. w.key)
    record(check_one(g, xd, dy, t, wgrads[w.key], rand, w.key))
  end
  return fails, kinked, #order + 1
end

return G
