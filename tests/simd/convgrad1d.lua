-- Backward kernels of Conv1D layers (tests/simd/backward.lua): causal and 'same' padding,
-- dilation, a 1x1 layer; a layer normalisation without scale (beta's gradient alone, whose
-- function once kept statistics it did not read: an unused variable under -Werror).
local nn = require 'cnnc'
local m = nn.Sequential{name = 'convgrad1d', input_shape = {23, 7}, seed = 6}
m:add(nn.Conv1D{16, 5, padding = 'causal', dilation_rate = 2, activation = 'relu'})
m:add(nn.Conv1D{32, 3, padding = 'same', activation = 'sigmoid'})
m:add(nn.Conv1D{16, 1})
m:add(nn.LayerNormalization{scale = false})
m:add(nn.Flatten{})
m:add(nn.Dense{5})
return m
