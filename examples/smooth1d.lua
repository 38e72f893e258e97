-- Smoothing a noisy sensor trace with a 1-D convolution: each output is a weighted
-- average of the last five samples, the newest weighted most (weights 1..5, sum 1).
-- 'causal' padding means an output never looks at samples after its own time step.
-- Input: examples/data/noisy_signal.npy (256 steps x 1 channel).
local nn = require 'cnnc'

local taps = {1, 2, 3, 4, 5}        -- oldest .. newest
local kernel = {}
for i, w in ipairs(taps) do kernel[i] = {{w / 15}} end   -- Keras shape (k, cin, filters)

local m = nn.Sequential{name = 'smooth1d', input_shape = {256, 1}}
m:add(nn.Conv1D{1, 5, padding = 'causal', use_bias = false, kernel = kernel, name = 'smooth'})
return m
