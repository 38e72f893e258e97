-- Conv1D with the pool in its registers (cnnc.simd.pool_fuse): max and average windows of
-- 2 and 3, a causal and a strided convolution, a length the pool does not divide (the
-- trim), channels that are not whole vectors and several chunks of input channels.
local nn = require 'cnnc'
local m = nn.Sequential{name = 'pooled1d', input_shape = {101, 70}, seed = 9}
m:add(nn.Conv1D{21, 5, padding = 'causal', activation = 'relu'})
m:add(nn.MaxPooling1D{2})
m:add(nn.Conv1D{40, 3, strides = 2, activation = 'elu'})
m:add(nn.AveragePooling1D{3})
m:add(nn.Conv1D{9, 3, padding = 'same'})
m:add(nn.MaxPooling1D{3})
return m
