-- cnnc.ffi.optim: the optimisers net:fit steps with (cnnc.optim.sgd{...}, cnnc.optim.adam{...}).
--
-- PyTorch's update rules (torch.optim.SGD without dampening, nesterov or weight decay;
-- torch.optim.Adam without amsgrad or weight decay), run in C over the trainable weights
-- (cnnc_so.c), on the float32 weights and state arrays:
--   sgd{lr = 0.01, momentum = 0}           v = momentum v + g (v = g at the first step);
--                                          w -= lr v (without momentum, w -= lr g)
--   adam{lr = 0.001, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8}
--                                          m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2,
--                                          w -= lr / (1 - b1^t) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
-- An optimiser keeps its state (momenta, the step count t) for the net it first stepped,
-- so fit can be called again to go on training; another net needs its own optimiser.

local common = require 'cnnc.ffi.common'
local tensor = require 'cnnc.ffi.tensor'

local M = {}

local Opt = {}
Opt.__index = Opt

local function number(opts, k, default, lo, hi, what)
  local v = opts[k]
  if v == nil then return default end
  if type(v) ~= 'number' or v ~= v or v < lo or v > hi then
    common.fail('%s: %s must be a number from %g to %g, got %s', what, k, lo, hi, tostring(v))
  end
  return v
end

function M.sgd(opts)
  opts = common.check_opts(opts, { lr = true, momentum = true }, 'cnnc.optim.sgd')
  return setmetatable({ kind = 'sgd', lr = number(opts, 'lr', 0.01, 0, math.huge, 'cnnc.optim.sgd'),
    momentum = number(opts, 'momentum', 0, 0, 1, 'cnnc.optim.sgd'), t = 0 }, Opt)
end

function M.adam(opts)
  opts = common.check_opts(opts, { lr = true, beta1 = true, beta2 = true, epsilon = true }, 'cnnc.optim.adam')
  local what = 'cnnc.optim.adam'
  return setmetatable({ kind = 'adam', lr = number(opts, 'lr', 0.001, 0, math.huge, what),
    beta1 = number(opts, 'beta1', 0.9, 0, 1 - 1e-12, what), beta2 = number(opts, 'beta2', 0.999, 0, 1 - 1e-12, what),
    epsilon = number(opts, 'epsilon', 1e-8, 0, math.huge, what), t = 0 }, Opt)
end

function M.is_optimizer(x) return getmetatable(x) == Opt end

function Opt:__tostring()
  if self.kind == 'sgd' then return string.format('sgd{lr = %g, momentum = %g}', self.lr, self.momentum) end
  return string.format('adam{lr = %g, beta1 = %g, beta2 = %g, epsilon = %g}', self.lr, self.beta1, self.beta2,
    self.epsilon)
end

-- One step on the weights of `net` (lib: its library) given the gradients gw (a float32
-- tensor of the gradients' layout), over `ranges` ({offset, size} lists: the weights being
-- trained). The caller refreshes the net afterwards.
function Opt:step(net, w, gw, ranges)
  if self.net and self.net ~= net then
    common.fail('net:fit: this optimiser already trains another net; give each net its own')
  end
  if not self.net then
    self.net = net
    self.m = tensor.new({ math.max(net.grad_size, 1) })
    if self.kind == 'adam' then self.v = tensor.new({ math.max(net.grad_size, 1) }) end
  end
  self.t = self.t + 1
  local lib = net.lib
  for _, r in ipairs(ranges) do
    local off, n = r[1], r[2]
    if self.kind == 'sgd' then
      lib.cnnc_so_sgd(n, w + off, gw.data + off, self.m.data + off, self.lr, self.momentum, self.t == 1 and 1 or 0)
    else
      lib.cnnc_so_adam(n, w + off, gw.data + off, self.m.data + off, self.v.data + off, self.lr, self.beta1,
        self.beta2, self.epsilon, self.t)
    end
  end
end

return M
